/*
 * vm_read.c — mach_vm_read and vm_read on the task's own map: the data is a fresh copy in
 * the caller's address space, *dataCnt the size asked for, freed with vm_deallocate;
 * afterwards the copy and the source change independently. As XNU's vm_map_copyin and the
 * reply's copyout: a small range (XNU's kernel-buffer copies, 16 KiB at most on x86_64,
 * 32 KiB on arm64) is its bytes alone, at the start of a fresh page, and any byte that
 * cannot be read is KERN_INVALID_ADDRESS (copyin's fault); a large one is its whole pages,
 * the data at the source's offset within its page, a hole in it KERN_INVALID_ADDRESS and a
 * mapping without read permission KERN_PROTECTION_FAILURE. Size 0 succeeds with no data, a
 * size beyond the count's 32 bits is KERN_INVALID_ARGUMENT, a range that wraps
 * KERN_INVALID_ADDRESS (vm_sanitize's code for copyin).
 */
#include "notify_util.h"

#include <mach/mach_vm.h>
#include <mach/vm_map.h>

#include <stdbool.h>
#include <stdint.h>

/* A large range: XNU copies it through the map's entries, not a kernel buffer. */
#define VR_BIG ((mach_vm_size_t)128 * 1024)
#define VR_LEN (VR_BIG + 2 * vm_page_size)

static unsigned char vr_byte(size_t i)
{
    return (unsigned char)(i * 7 + 3 + i / 4096);
}

/* VR_LEN bytes of a known pattern at *a. */
static void vr_source(vm_address_t *a)
{
    *a = 0;
    MT_KR(vm_allocate(TASK, a, VR_LEN, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    unsigned char *p = (unsigned char *)*a;
    for (size_t i = 0; i < VR_LEN; i++)
        p[i] = vr_byte(i);
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

MT_TEST(a_large_mach_vm_read_copies_whole_pages_with_the_data_at_the_sources_offset)
{
    vm_address_t a;
    vr_source(&a);
    const mach_vm_size_t off = 100, size = VR_BIG + 50; /* spans 34 pages */
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
    MT_EQ(src[2], vr_byte(off + 2));
    MT_KR(vm_deallocate(TASK, a, VR_LEN), KERN_SUCCESS);
}

MT_TEST(a_small_read_gives_its_bytes_alone_at_the_start_of_a_fresh_page)
{
    vm_address_t a;
    vr_source(&a);
    for (int wide = 0; wide < 2; wide++) {
        vm_offset_t data = 0;
        mach_msg_type_number_t count = 0;
        const vm_address_t at = a + vm_page_size + 9;
        MT_KR(wide ? mach_vm_read(TASK, at, 40, &data, &count) : vm_read(TASK, at, 40, &data, &count),
              KERN_SUCCESS);
        MT_EQ(count, 40u);
        MT_REQUIRE(data != 0);
        MT_EQ(data & vm_page_mask, 0u);
        MT_CHECK(memcmp((void *)data, (void *)at, 40) == 0);
        /* the rest of the page is zero, not the source's */
        MT_EQ(((unsigned char *)data)[40], 0);
        MT_KR(vm_deallocate(TASK, data, count), KERN_SUCCESS);
        MT_CHECK(!vr_mapped(data));
    }
    /* a page and a half, across two pages of the source, lands at the start of two */
    vm_offset_t data = 0;
    mach_msg_type_number_t count = 0;
    MT_KR(mach_vm_read(TASK, a + 100, vm_page_size + vm_page_size / 2, &data, &count),
          KERN_SUCCESS);
    MT_EQ(data & vm_page_mask, 0u);
    MT_CHECK(memcmp((void *)data, (void *)(a + 100), count) == 0);
    MT_KR(vm_deallocate(TASK, data, count), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, VR_LEN), KERN_SUCCESS);
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
    MT_KR(mach_vm_read(TASK, a + 10, VR_BIG, &data, &count), KERN_INVALID_ADDRESS);
    MT_EQ(data, 0x1234u);
    MT_EQ(count, 77u);
    /* no read permission: a fault for a small range, a protection failure for a large one */
    MT_KR(vm_protect(TASK, a + VR_LEN - vm_page_size, vm_page_size, FALSE, VM_PROT_NONE),
          KERN_SUCCESS);
    MT_KR(mach_vm_read(TASK, a + VR_LEN - vm_page_size + 4, 8, &data, &count),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_read(TASK, a + VR_LEN - vm_page_size - 4, 8, &data, &count),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_read(TASK, a + 2 * vm_page_size, VR_BIG, &data, &count),
          KERN_PROTECTION_FAILURE);
    MT_KR(vm_read(TASK, a + 2 * vm_page_size, VR_BIG, &data, &count), KERN_PROTECTION_FAILURE);
    MT_EQ(data, 0x1234u);
    MT_EQ(count, 77u);
    /* the readable part reads */
    MT_KR(mach_vm_read(TASK, a + 2 * vm_page_size, VR_BIG - vm_page_size, &data, &count),
          KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, data, count), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, vm_page_size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a + 2 * vm_page_size, VR_BIG), KERN_SUCCESS);
}

MT_TEST(size_zero_reads_nothing_a_wrapping_range_is_an_invalid_address_a_huge_size_an_invalid_argument)
{
    vm_offset_t data = 0x1234;
    mach_msg_type_number_t count = 77;
    MT_KR(mach_vm_read(TASK, 0x1000, 0, &data, &count), KERN_SUCCESS);
    MT_EQ(data, 0u);
    MT_EQ(count, 0u);
    data = 0x1234;
    count = 77;
    MT_KR(mach_vm_read(TASK, UINT64_MAX - vm_page_size + 1, 2 * vm_page_size, &data, &count),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_read(TASK, UINT64_MAX - 10, 5, &data, &count), KERN_INVALID_ADDRESS);
    MT_KR(vm_read(TASK, UINT64_MAX - 10, 20, &data, &count), KERN_INVALID_ADDRESS);
    char buf[16] = {0};
    MT_KR(mach_vm_read(TASK, (mach_vm_address_t)(uintptr_t)buf, (mach_vm_size_t)1 << 32, &data,
                       &count),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_read(TASK, UINT64_MAX - 10, (mach_vm_size_t)1 << 32, &data, &count),
          KERN_INVALID_ARGUMENT);
    MT_EQ(data, 0x1234u);
    MT_EQ(count, 77u);
}

MT_MAIN()
