/*
 * vm_region_recurse.c — mach_vm_region_recurse and vm_region_recurse_64 on the task's own
 * memory, as XNU's vm_map_region_recurse_64: the region holding an address (or the first above
 * it) with the full flavour (vm_region_submap_info_64, V0/V1/V2 by the count) or the short one
 * (a count below VM_REGION_SUBMAP_INFO_V0_COUNT_64), its protection, inheritance and behaviour,
 * its pages resident and written, and the count set to the flavour's. A count below
 * VM_REGION_SUBMAP_SHORT_INFO_COUNT_64 is KERN_INVALID_ARGUMENT, an address above every region
 * KERN_INVALID_ADDRESS; the routine sent by hand (4815) answers as the call.
 */
#include "vm_mig_util.h"

#include <mach/mach_vm.h>

#include <stddef.h>
#include <stdint.h>

#define PG ((mach_vm_size_t)vm_page_size)
#define B(a) ((volatile uint8_t *)(uintptr_t)(a))

MT_TEST(the_submap_flavours_have_darwins_layout)
{
    MT_EQ(VM_REGION_SUBMAP_INFO_COUNT_64, 19);
    MT_EQ(VM_REGION_SUBMAP_INFO_V1_COUNT_64, 17);
    MT_EQ(VM_REGION_SUBMAP_INFO_V0_COUNT_64, 16);
    MT_EQ(VM_REGION_SUBMAP_SHORT_INFO_COUNT_64, 12);
    MT_EQ(offsetof(vm_region_submap_info_data_64_t, offset), 12);
    MT_EQ(offsetof(vm_region_submap_info_data_64_t, object_id_full), 68);
}

MT_TEST(a_written_allocation_is_a_private_region_with_its_pages_resident)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 4 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(a)[0] = 1;
    B(a + PG)[0] = 1;
    mach_vm_address_t addr = a;
    mach_vm_size_t size = 0;
    natural_t depth = 0;
    vm_region_submap_info_data_64_t info;
    memset(&info, 0x5a, sizeof info);
    mach_msg_type_number_t count = VM_REGION_SUBMAP_INFO_COUNT_64;
    MT_KR(mach_vm_region_recurse(TASK, &addr, &size, &depth, (vm_region_recurse_info_t)&info,
                                 &count),
          KERN_SUCCESS);
    MT_EQ(count, VM_REGION_SUBMAP_INFO_COUNT_64);
    MT_CHECK(addr <= a);
    MT_CHECK(addr + size >= a + 2 * PG);
    MT_EQ(depth, 0);
    MT_EQ(info.protection, VM_PROT_READ | VM_PROT_WRITE);
    MT_EQ(info.max_protection & (VM_PROT_READ | VM_PROT_WRITE), VM_PROT_READ | VM_PROT_WRITE);
    MT_EQ(info.inheritance, VM_INHERIT_COPY);
    MT_EQ(info.is_submap, 0);
    MT_EQ(info.behavior, VM_BEHAVIOR_DEFAULT);
    MT_CHECK(info.pages_resident >= 2);
    MT_CHECK(info.pages_dirtied >= 2);
    MT_EQ(info.share_mode, SM_PRIVATE);
    MT_CHECK(info.ref_count >= 1);
    MT_CHECK(info.object_id_full != 0);

    /* The short flavour, and vm_region_recurse_64 with it. */
    vm_address_t vaddr = (vm_address_t)a;
    vm_size_t vsize = 0;
    depth = 0;
    vm_region_submap_short_info_data_64_t short_info;
    count = VM_REGION_SUBMAP_SHORT_INFO_COUNT_64;
    MT_KR(vm_region_recurse_64(TASK, &vaddr, &vsize, &depth, (vm_region_recurse_info_t)&short_info,
                               &count),
          KERN_SUCCESS);
    MT_EQ(count, VM_REGION_SUBMAP_SHORT_INFO_COUNT_64);
    MT_EQ(vaddr, addr);
    MT_EQ(vsize, size);
    MT_EQ(short_info.protection, VM_PROT_READ | VM_PROT_WRITE);
    MT_EQ(short_info.share_mode, SM_PRIVATE);
    MT_EQ(short_info.is_submap, 0);

    /* A count between the flavours gets the largest it holds. */
    count = VM_REGION_SUBMAP_INFO_V1_COUNT_64 + 1;
    addr = a;
    depth = 0;
    MT_KR(mach_vm_region_recurse(TASK, &addr, &size, &depth, (vm_region_recurse_info_t)&info,
                                 &count),
          KERN_SUCCESS);
    MT_EQ(count, VM_REGION_SUBMAP_INFO_V1_COUNT_64);
    count = VM_REGION_SUBMAP_INFO_V0_COUNT_64 - 1;
    addr = a;
    MT_KR(mach_vm_region_recurse(TASK, &addr, &size, &depth, (vm_region_recurse_info_t)&info,
                                 &count),
          KERN_SUCCESS);
    MT_EQ(count, VM_REGION_SUBMAP_SHORT_INFO_COUNT_64);
    MT_KR(mach_vm_deallocate(TASK, a, 4 * PG), KERN_SUCCESS);
}

MT_TEST(protection_inheritance_and_behaviour_split_and_show_in_the_region)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 3 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_protect(TASK, a + PG, PG, FALSE, VM_PROT_READ), KERN_SUCCESS);
    MT_KR(mach_vm_inherit(TASK, a + PG, PG, VM_INHERIT_NONE), KERN_SUCCESS);
    MT_KR(mach_vm_behavior_set(TASK, a + PG, PG, VM_BEHAVIOR_RANDOM), KERN_SUCCESS);
    mach_vm_address_t addr = a + PG;
    mach_vm_size_t size = 0;
    natural_t depth = 0;
    vm_region_submap_info_data_64_t info;
    mach_msg_type_number_t count = VM_REGION_SUBMAP_INFO_COUNT_64;
    MT_KR(mach_vm_region_recurse(TASK, &addr, &size, &depth, (vm_region_recurse_info_t)&info,
                                 &count),
          KERN_SUCCESS);
    MT_EQ(addr, a + PG);
    MT_EQ(size, PG);
    MT_EQ(info.protection, VM_PROT_READ);
    MT_EQ(info.inheritance, VM_INHERIT_NONE);
    MT_EQ(info.behavior, VM_BEHAVIOR_RANDOM);
    /* From a hole: the next region above it. */
    MT_KR(mach_vm_deallocate(TASK, a + PG, PG), KERN_SUCCESS);
    addr = a + PG;
    depth = 0;
    count = VM_REGION_SUBMAP_INFO_COUNT_64;
    MT_KR(mach_vm_region_recurse(TASK, &addr, &size, &depth, (vm_region_recurse_info_t)&info,
                                 &count),
          KERN_SUCCESS);
    MT_CHECK(addr >= a + 2 * PG);
    MT_KR(mach_vm_deallocate(TASK, a, 3 * PG), KERN_SUCCESS);
}

MT_TEST(a_small_count_is_invalid_argument_and_nothing_above_is_invalid_address)
{
    mach_vm_address_t addr = (mach_vm_address_t)(uintptr_t)&addr;
    mach_vm_size_t size = 0;
    natural_t depth = 0;
    vm_region_submap_info_data_64_t info;
    mach_msg_type_number_t count = VM_REGION_SUBMAP_SHORT_INFO_COUNT_64 - 1;
    MT_KR(mach_vm_region_recurse(TASK, &addr, &size, &depth, (vm_region_recurse_info_t)&info,
                                 &count),
          KERN_INVALID_ARGUMENT);
    addr = 0xfffffffffffff000ull;
    count = VM_REGION_SUBMAP_INFO_COUNT_64;
    MT_KR(mach_vm_region_recurse(TASK, &addr, &size, &depth, (vm_region_recurse_info_t)&info,
                                 &count),
          KERN_INVALID_ADDRESS);
}

MT_TEST(region_recurse_sent_by_hand_answers_as_the_call)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_protect(TASK, a, PG, FALSE, VM_PROT_READ), KERN_SUCCESS);
    vmu_reply r;
    vmu_args args = {.len = 0};
    vmu_64(&args, a);
    vmu_32(&args, 0);
    vmu_32(&args, VM_REGION_SUBMAP_INFO_COUNT_64);
    MT_KR(vmu_rpc(4815, &args, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4915);
    MT_EQ(vmu_ret(&r), KERN_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 + 24 +
                                4 * VM_REGION_SUBMAP_INFO_COUNT_64);
    mach_vm_address_t addr;
    mach_vm_size_t size;
    mach_msg_type_number_t count;
    memcpy(&addr, r.simple.out, 8);
    memcpy(&size, r.simple.out + 8, 8);
    memcpy(&count, r.simple.out + 20, 4);
    MT_EQ(addr, a);
    MT_EQ(size, PG);
    MT_EQ(count, VM_REGION_SUBMAP_INFO_COUNT_64);
    vm_region_submap_info_data_64_t info;
    memcpy(&info, r.simple.out + 24, sizeof info);
    MT_EQ(info.protection, VM_PROT_READ);

    args.len = 0;
    vmu_64(&args, a);
    vmu_32(&args, 0);
    vmu_32(&args, 3);
    MT_KR(vmu_rpc(4815, &args, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, (mach_msg_size_t)sizeof(mig_reply_error_t));
    MT_EQ(vmu_ret(&r), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
}

MT_MAIN()
