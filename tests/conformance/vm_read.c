/*
 * vm_read.c — mach_vm_read and vm_read on the task's own map: the data is a fresh copy of
 * the pages holding the range, in the caller's address space at the source's offset within
 * its page, *dataCnt the size asked for, freed with vm_deallocate; afterwards the copy and
 * the source change independently. A hole in the range is KERN_INVALID_ADDRESS, a mapping
 * without read permission KERN_PROTECTION_FAILURE, size 0 succeeds with no data, a range
 * that wraps or a size beyond the count's 32 bits is KERN_INVALID_ARGUMENT (XNU's
 * vm_map_copyin and mach_vm_read).
 */
#include "notify_util.h"

#include <mach/mach_vm.h>
#include <mach/vm_map.h>

#include <stdbool.h>
#include <stdint.h>

/* Three pages of a known pattern at *a. */
static void vr_source(vm_address_t *a)
{
    *a = 0;
    MT_KR(vm_allocate(TASK, a, 3 * vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    unsigned char *p = (unsigned char *)*a;
    for (size_t i = 0; i < 3 * vm_page_size; i++)
        p[i] = (unsigned char)(i * 7 + 3);
}

/* Is anything still mapped at `addr`? */
static bool vr_mapped(mach_vm_address_t addr)
{
    mach_vm_address_t at = addr;
    mach_vm_size_t size = 0;
    vm_region_basic_info_data_64_t info;
    mach_msg_type_number_t count = VM_REGION_BASIC_INFO_COUNT_64;
    mach_port_t object;
    if (mach_vm_region(TASK, &at, &size, VM_REGION_BASIC_INFO_64, (vm_region_info_t)&info,
                       &count, &object) != KERN_SUCCESS)
        return false;
    return at <= addr;
}

MT_TEST(mach_vm_read_gives_a_fresh_copy_at_the_sources_offset_within_its_page)
{
    vm_address_t a;
    vr_source(&a);
    const mach_vm_size_t off = 100, size = vm_page_size + 50; /* spans two pages */
    unsigned char *src = (unsigned char *)a + off;
    vm_offset_t data = 0;
    mach_msg_type_number_t count = 0;
    MT_KR(mach_vm_read(TASK, a + off, size, &data, &count), KERN_SUCCESS);
    MT_EQ(count, size);
    MT_REQUIRE(data != 0);
    MT_CHECK(data != a + off);
    MT_EQ(data & vm_page_mask, off);
    unsigned char *copy = (unsigned char *)data;
    MT_CHECK(memcmp(copy, src, size) == 0);
    /* whole pages were copied: the bytes before the offset are the source page's too */
    MT_EQ(copy[-1], src[-1]);

    /* the copy and the source are independent */
    src[0] ^= 0xff;
    MT_EQ(copy[0], (unsigned char)(src[0] ^ 0xff));
    copy[1] ^= 0xff;
    MT_EQ(src[1], (unsigned char)(copy[1] ^ 0xff));

    MT_KR(mach_vm_deallocate(TASK, data, count), KERN_SUCCESS);
    MT_CHECK(!vr_mapped(data));
    MT_CHECK(!vr_mapped(data + size - 1));
    MT_EQ(src[2], (unsigned char)((off + 2) * 7 + 3));
    MT_KR(vm_deallocate(TASK, a, 3 * vm_page_size), KERN_SUCCESS);
}

MT_TEST(vm_read_copies_as_mach_vm_read_does)
{
    vm_address_t a;
    vr_source(&a);
    vm_offset_t data = 0;
    mach_msg_type_number_t count = 0;
    MT_KR(vm_read(TASK, a + vm_page_size + 9, 40, &data, &count), KERN_SUCCESS);
    MT_EQ(count, 40u);
    MT_EQ(data & vm_page_mask, 9u);
    MT_CHECK(memcmp((void *)data, (void *)(a + vm_page_size + 9), 40) == 0);
    MT_KR(vm_deallocate(TASK, data, count), KERN_SUCCESS);
    MT_CHECK(!vr_mapped(data));
    MT_KR(vm_deallocate(TASK, a, 3 * vm_page_size), KERN_SUCCESS);
}

MT_TEST(a_hole_or_an_unreadable_page_in_the_range_gets_xnus_error_and_no_data)
{
    vm_address_t a;
    vr_source(&a);
    MT_KR(vm_deallocate(TASK, a + vm_page_size, vm_page_size), KERN_SUCCESS);
    vm_offset_t data = 0x1234;
    mach_msg_type_number_t count = 77;
    MT_KR(mach_vm_read(TASK, a + 10, 2 * vm_page_size, &data, &count), KERN_INVALID_ADDRESS);
    MT_KR(vm_read(TASK, a + vm_page_size, 8, &data, &count), KERN_INVALID_ADDRESS);
    MT_EQ(data, 0x1234u);
    MT_EQ(count, 77u);
    MT_KR(vm_protect(TASK, a + 2 * vm_page_size, vm_page_size, FALSE, VM_PROT_NONE),
          KERN_SUCCESS);
    MT_KR(mach_vm_read(TASK, a + 2 * vm_page_size + 4, 8, &data, &count),
          KERN_PROTECTION_FAILURE);
    MT_EQ(data, 0x1234u);
    MT_KR(vm_deallocate(TASK, a, 3 * vm_page_size), KERN_SUCCESS);
}

MT_TEST(size_zero_reads_nothing_and_a_wrapping_or_oversized_range_is_an_invalid_argument)
{
    vm_offset_t data = 0x1234;
    mach_msg_type_number_t count = 77;
    MT_KR(mach_vm_read(TASK, 0x1000, 0, &data, &count), KERN_SUCCESS);
    MT_EQ(data, 0u);
    MT_EQ(count, 0u);
    data = 0x1234;
    count = 77;
    MT_KR(mach_vm_read(TASK, UINT64_MAX - vm_page_size + 1, 2 * vm_page_size, &data, &count),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_read(TASK, UINT64_MAX - 10, 5, &data, &count), KERN_INVALID_ARGUMENT);
    MT_KR(vm_read(TASK, UINT64_MAX - 10, 20, &data, &count), KERN_INVALID_ARGUMENT);
    char buf[16] = {0};
    MT_KR(mach_vm_read(TASK, (mach_vm_address_t)(uintptr_t)buf, (mach_vm_size_t)1 << 32, &data,
                       &count),
          KERN_INVALID_ARGUMENT);
    MT_EQ(data, 0x1234u);
    MT_EQ(count, 77u);
}

MT_MAIN()
