/*
 * vm_behavior.c — mach_vm_behavior_set and vm_behavior_set on the task's own memory, as XNU's
 * vm_map_behavior_set: RANDOM, SEQUENTIAL and DEFAULT stay with the memory (mach_vm_region
 * reports them), the others act at once (ZERO, where the SDK has it, writes zeros). A value
 * outside DEFAULT .. VM_BEHAVIOR_LAST_VALID is KERN_INVALID_ARGUMENT (checked before a size of zero succeeds),
 * a range that wraps KERN_INVALID_ARGUMENT, one whose rounding wraps or that ends above the
 * map KERN_NO_SPACE, a hole KERN_INVALID_ADDRESS, zeroing read-only memory
 * KERN_PROTECTION_FAILURE; the routine sent by hand (4810) answers as the call.
 */
#include "vm_mig_util.h"

#include <mach/mach_vm.h>

#include <stdint.h>

#define PG ((mach_vm_size_t)vm_page_size)
#define B(a) ((volatile uint8_t *)(uintptr_t)(a))

static int behavior_at(mach_vm_address_t at)
{
    vm_region_basic_info_data_64_t info;
    return vmu_region_at(at, &info) ? info.behavior : -1;
}

MT_TEST(random_and_sequential_stay_with_the_memory_and_region_reports_them)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 3 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_behavior_set(TASK, a + PG, PG, VM_BEHAVIOR_RANDOM), KERN_SUCCESS);
    MT_EQ(behavior_at(a + PG), VM_BEHAVIOR_RANDOM);
    MT_EQ(behavior_at(a), VM_BEHAVIOR_DEFAULT);
    MT_KR(vm_behavior_set(TASK, (vm_address_t)a, (vm_size_t)PG, VM_BEHAVIOR_SEQUENTIAL),
          KERN_SUCCESS);
    MT_EQ(behavior_at(a), VM_BEHAVIOR_SEQUENTIAL);
    MT_KR(mach_vm_behavior_set(TASK, a, 3 * PG, VM_BEHAVIOR_DEFAULT), KERN_SUCCESS);
    MT_EQ(behavior_at(a), VM_BEHAVIOR_DEFAULT);
    MT_EQ(behavior_at(a + PG), VM_BEHAVIOR_DEFAULT);
    MT_KR(mach_vm_deallocate(TASK, a, 3 * PG), KERN_SUCCESS);
}

MT_TEST(an_unaligned_range_sets_the_pages_it_touches)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 3 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_behavior_set(TASK, a + PG + 10, 1, VM_BEHAVIOR_RANDOM), KERN_SUCCESS);
    MT_EQ(behavior_at(a), VM_BEHAVIOR_DEFAULT);
    MT_EQ(behavior_at(a + PG), VM_BEHAVIOR_RANDOM);
    MT_EQ(behavior_at(a + 2 * PG), VM_BEHAVIOR_DEFAULT);
    MT_KR(mach_vm_msync(TASK, a + PG + 10, 1, VM_SYNC_SYNCHRONOUS | VM_SYNC_CONTIGUOUS),
          KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, 3 * PG), KERN_SUCCESS);
}

MT_TEST(one_shot_behaviours_act_on_mapped_memory_and_zero_writes_zeros)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(a)[5] = 9;
    B(a + PG)[5] = 9;
    MT_KR(mach_vm_behavior_set(TASK, a, 2 * PG, VM_BEHAVIOR_WILLNEED), KERN_SUCCESS);
    MT_KR(mach_vm_behavior_set(TASK, a, 2 * PG, VM_BEHAVIOR_DONTNEED), KERN_SUCCESS);
    MT_EQ(B(a)[5], 9);
    MT_KR(mach_vm_behavior_set(TASK, a, 2 * PG, VM_BEHAVIOR_REUSE), KERN_SUCCESS);
    MT_KR(mach_vm_behavior_set(TASK, a, 2 * PG, VM_BEHAVIOR_CAN_REUSE), KERN_SUCCESS);
    MT_KR(mach_vm_behavior_set(TASK, a, 2 * PG, VM_BEHAVIOR_ZERO_WIRED_PAGES), KERN_SUCCESS);
#ifdef VM_BEHAVIOR_ZERO
    MT_KR(mach_vm_behavior_set(TASK, a, PG, VM_BEHAVIOR_ZERO), KERN_SUCCESS);
    MT_EQ(B(a)[5], 0);
#endif
    MT_EQ(B(a + PG)[5], 9);
    MT_KR(mach_vm_behavior_set(TASK, a + PG, PG, VM_BEHAVIOR_REUSABLE), KERN_SUCCESS);
    MT_KR(mach_vm_behavior_set(TASK, a + PG, PG, VM_BEHAVIOR_FREE), KERN_SUCCESS);
    B(a + PG)[5] = 4; /* usable again */
    MT_EQ(B(a + PG)[5], 4);
    MT_KR(mach_vm_protect(TASK, a, PG, FALSE, VM_PROT_READ), KERN_SUCCESS);
#ifdef VM_BEHAVIOR_ZERO
    MT_KR(mach_vm_behavior_set(TASK, a, PG, VM_BEHAVIOR_ZERO), KERN_PROTECTION_FAILURE);
#endif
    MT_KR(mach_vm_behavior_set(TASK, a, PG, VM_BEHAVIOR_REUSABLE), KERN_PROTECTION_FAILURE);
    MT_KR(mach_vm_behavior_set(TASK, a, PG, VM_BEHAVIOR_ZERO_WIRED_PAGES), KERN_PROTECTION_FAILURE);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
}

MT_TEST(bad_behaviours_ranges_and_holes_get_xnus_codes)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 3 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_behavior_set(TASK, a, PG, -1), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_behavior_set(TASK, a, PG, 64), KERN_INVALID_ARGUMENT); /* past every SDK's last */
    MT_KR(mach_vm_behavior_set(TASK, a, 0, 99), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_behavior_set(TASK, a, 0, VM_BEHAVIOR_RANDOM), KERN_SUCCESS);
    MT_KR(mach_vm_behavior_set(TASK, a, UINT64_MAX, VM_BEHAVIOR_RANDOM), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_behavior_set(TASK, UINT64_MAX - 10, 5, VM_BEHAVIOR_RANDOM), KERN_NO_SPACE);
    MT_KR(mach_vm_behavior_set(TASK, 0x7fff000000000000ull, PG, VM_BEHAVIOR_RANDOM), KERN_NO_SPACE);
    MT_KR(mach_vm_deallocate(TASK, a + PG, PG), KERN_SUCCESS);
    MT_KR(mach_vm_behavior_set(TASK, a, 3 * PG, VM_BEHAVIOR_RANDOM), KERN_INVALID_ADDRESS);
    MT_EQ(behavior_at(a), VM_BEHAVIOR_DEFAULT); /* nothing changed */
    MT_KR(mach_vm_behavior_set(TASK, a, 3 * PG, VM_BEHAVIOR_WILLNEED), KERN_INVALID_ADDRESS);
#ifdef VM_BEHAVIOR_ZERO
    MT_KR(mach_vm_behavior_set(TASK, a, 3 * PG, VM_BEHAVIOR_ZERO), KERN_INVALID_ADDRESS);
#endif
    MT_KR(mach_vm_behavior_set(TASK, a, 3 * PG, VM_BEHAVIOR_REUSE), KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_behavior_set(TASK, a, 3 * PG, VM_BEHAVIOR_FREE), KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_behavior_set(TASK, a, 3 * PG, VM_BEHAVIOR_DONTNEED), KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_deallocate(TASK, a, 3 * PG), KERN_SUCCESS);
}

MT_TEST(behavior_set_sent_by_hand_to_the_task_port_answers_as_the_call)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    vmu_reply r;
    MT_KR(vmu_range_rpc(4810, a, PG, VM_BEHAVIOR_RANDOM, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4910);
    MT_EQ(vmu_ret(&r), KERN_SUCCESS);
    MT_EQ(behavior_at(a), VM_BEHAVIOR_RANDOM);
    MT_KR(vmu_range_rpc(4810, a, PG, 40, &r), MACH_MSG_SUCCESS);
    MT_EQ(vmu_ret(&r), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
}

MT_MAIN()
