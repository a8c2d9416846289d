/*
 * vm_page_info.c — mach_vm_page_info (VM_PAGE_INFO_BASIC) and mach_vm_page_query on the
 * task's own memory, as XNU's vm_map_page_info: a page written is present and dirty, a page of
 * the program's code a file's (external), a page never touched and an address with nothing
 * mapped read all zeros (no error); another flavour,
 * or a count other than VM_PAGE_INFO_BASIC_COUNT or one less, is KERN_INVALID_ARGUMENT, an
 * address whose page wraps KERN_INVALID_ADDRESS (vm_sanitize's rewrite for page info), and
 * page_query then reports zeros. The routines sent by hand (4814, 4819) answer as the calls.
 */
#include "vm_mig_util.h"

#include <mach/mach_vm.h>

#include <stdint.h>

#define PG ((mach_vm_size_t)vm_page_size)
#define B(a) ((volatile uint8_t *)(uintptr_t)(a))

static kern_return_t basic_at(mach_vm_address_t at, vm_page_info_basic_data_t *info)
{
    mach_msg_type_number_t count = VM_PAGE_INFO_BASIC_COUNT;
    memset(info, 0x5a, sizeof *info);
    kern_return_t kr =
        mach_vm_page_info(TASK, at, VM_PAGE_INFO_BASIC, (vm_page_info_t)info, &count);
    if (kr == KERN_SUCCESS && count != VM_PAGE_INFO_BASIC_COUNT)
        return KERN_FAILURE;
    return kr;
}

MT_TEST(a_written_page_is_present_and_dirty_and_an_untouched_one_reads_zeros)
{
    MT_EQ(VM_PAGE_INFO_BASIC_COUNT, 8);
    MT_EQ(sizeof(vm_page_info_basic_data_t), 32);
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(a)[3] = 1;
    vm_page_info_basic_data_t info;
    MT_KR(basic_at(a + 3, &info), KERN_SUCCESS);
    MT_CHECK(info.disposition & VM_PAGE_QUERY_PAGE_PRESENT);
    MT_CHECK(info.disposition & VM_PAGE_QUERY_PAGE_DIRTY);
    MT_CHECK(!(info.disposition & VM_PAGE_QUERY_PAGE_PAGED_OUT));
    MT_CHECK(info.ref_count >= 1);
    MT_EQ(info.depth, 0);
    MT_KR(basic_at(a + PG, &info), KERN_SUCCESS);
    MT_EQ(info.disposition, 0);
    MT_EQ(info.ref_count, 0);
    MT_EQ(info.object_id, 0);
    integer_t disposition = -1, ref_count = -1;
    MT_KR(mach_vm_page_query(TASK, a, &disposition, &ref_count), KERN_SUCCESS);
    MT_CHECK(disposition & VM_PAGE_QUERY_PAGE_PRESENT);
    MT_CHECK(ref_count >= 1);
    MT_KR(vm_map_page_query(TASK, (vm_offset_t)(a + PG), &disposition, &ref_count),
          KERN_SUCCESS);
    MT_EQ(disposition, 0);
    MT_EQ(ref_count, 0);
    /* Nothing mapped: zeros, no error. */
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
    MT_KR(basic_at(0x7fff000000000000ull, &info), KERN_SUCCESS);
    MT_EQ(info.disposition, 0);
    MT_EQ(info.ref_count, 0);
    MT_EQ(info.offset, 0);
}

/* This program's own code: a file's pages, in memory since they run. */
MT_TEST(a_page_of_the_programs_code_is_a_files_and_present)
{
    vm_page_info_basic_data_t info;
    MT_KR(basic_at((mach_vm_address_t)(uintptr_t)&basic_at, &info), KERN_SUCCESS);
    MT_CHECK(info.disposition & VM_PAGE_QUERY_PAGE_EXTERNAL);
    MT_CHECK(info.disposition & VM_PAGE_QUERY_PAGE_PRESENT);
    MT_CHECK(info.ref_count >= 1);
}

MT_TEST(bad_flavours_counts_and_wrapping_addresses_get_xnus_codes)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(a)[0] = 1;
    vm_page_info_basic_data_t info;
    mach_msg_type_number_t count = VM_PAGE_INFO_BASIC_COUNT;
    MT_KR(mach_vm_page_info(TASK, a, 2, (vm_page_info_t)&info, &count), KERN_INVALID_ARGUMENT);
    count = VM_PAGE_INFO_BASIC_COUNT - 2;
    MT_KR(mach_vm_page_info(TASK, a, VM_PAGE_INFO_BASIC, (vm_page_info_t)&info, &count),
          KERN_INVALID_ARGUMENT);
    count = VM_PAGE_INFO_BASIC_COUNT + 1;
    MT_KR(mach_vm_page_info(TASK, a, VM_PAGE_INFO_BASIC, (vm_page_info_t)&info, &count),
          KERN_INVALID_ARGUMENT);
    /* The count of the structure before its padding word is accepted. */
    count = VM_PAGE_INFO_BASIC_COUNT - 1;
    memset(&info, 0, sizeof info);
    MT_KR(mach_vm_page_info(TASK, a, VM_PAGE_INFO_BASIC, (vm_page_info_t)&info, &count),
          KERN_SUCCESS);
    MT_CHECK(info.disposition & VM_PAGE_QUERY_PAGE_PRESENT);
    count = VM_PAGE_INFO_BASIC_COUNT;
    MT_KR(mach_vm_page_info(TASK, UINT64_MAX, VM_PAGE_INFO_BASIC, (vm_page_info_t)&info, &count),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_page_info(TASK, UINT64_MAX - PG + 2, VM_PAGE_INFO_BASIC,
                            (vm_page_info_t)&info, &count),
          KERN_INVALID_ADDRESS);
    integer_t disposition = -1, ref_count = -1;
    MT_KR(mach_vm_page_query(TASK, UINT64_MAX, &disposition, &ref_count), KERN_INVALID_ADDRESS);
    MT_EQ(disposition, 0);
    MT_EQ(ref_count, 0);
    MT_KR(mach_vm_deallocate(TASK, a, PG), KERN_SUCCESS);
}

MT_TEST(page_query_and_page_info_sent_by_hand_answer_as_the_calls)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(a)[0] = 1;
    vmu_reply r;
    vmu_args args = {.len = 0};
    vmu_64(&args, a);
    MT_KR(vmu_rpc(4814, &args, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4914);
    MT_EQ(vmu_ret(&r), KERN_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 + 8);
    integer_t disposition;
    memcpy(&disposition, r.simple.out, 4);
    MT_CHECK(disposition & VM_PAGE_QUERY_PAGE_PRESENT);

    args.len = 0;
    vmu_64(&args, a);
    vmu_32(&args, VM_PAGE_INFO_BASIC);
    vmu_32(&args, VM_PAGE_INFO_BASIC_COUNT);
    MT_KR(vmu_rpc(4819, &args, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4919);
    MT_EQ(vmu_ret(&r), KERN_SUCCESS);
    mach_msg_type_number_t count;
    memcpy(&count, r.simple.out, 4);
    MT_EQ(count, VM_PAGE_INFO_BASIC_COUNT);
    MT_EQ(r.head.msgh_size,
          sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 + 4 + 4 * VM_PAGE_INFO_BASIC_COUNT);
    memcpy(&disposition, r.simple.out + 4, 4);
    MT_CHECK(disposition & VM_PAGE_QUERY_PAGE_PRESENT);

    args.len = 0;
    vmu_64(&args, a);
    vmu_32(&args, 7);
    vmu_32(&args, VM_PAGE_INFO_BASIC_COUNT);
    MT_KR(vmu_rpc(4819, &args, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, (mach_msg_size_t)sizeof(mig_reply_error_t));
    MT_EQ(vmu_ret(&r), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_deallocate(TASK, a, PG), KERN_SUCCESS);
}

MT_MAIN()
