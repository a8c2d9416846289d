/*
 * vm_region.c — the task's own map: mach_vm_region reports the region holding an address
 * (or the next one) with its protection, vm_protect changes it, vm_read_overwrite and
 * vm_copy move bytes with the kernel's checks, and a bad count or an address above every
 * region gets XNU's codes. vm_region_64 and mach_vm_read_overwrite answer as their other
 * forms do. The copies are XNU's vm_map_copyin of the source, then vm_map_copy_overwrite of
 * the destination (the source's error first): a small range travels through a kernel buffer
 * (copyin and copyout of its bytes: any fault of either side is KERN_INVALID_ADDRESS), a
 * large one through the map's entries (a hole: KERN_INVALID_ADDRESS; a source without read
 * permission or a read-only destination: KERN_PROTECTION_FAILURE), copied as a snapshot.
 */
#include "notify_util.h"

#include <mach/mach_vm.h>

#include <stdbool.h>
#include <stdint.h>

/* Sizes either side of XNU's kernel-buffer copies (msg_ool_size_small: 16 KiB on x86_64,
 * 32 KiB on arm64; one page is at most 16 KiB): 16 bytes is small, VR_BIG large. */
#define VR_BIG ((vm_size_t)128 * 1024)

static kern_return_t region_at(mach_vm_address_t *addr, mach_vm_size_t *size,
                               vm_region_basic_info_data_64_t *info)
{
    mach_msg_type_number_t count = VM_REGION_BASIC_INFO_COUNT_64;
    mach_port_t object = 1;
    kern_return_t kr = mach_vm_region(TASK, addr, size, VM_REGION_BASIC_INFO_64,
                                      (vm_region_info_t)info, &count, &object);
    if (kr == KERN_SUCCESS && (count != VM_REGION_BASIC_INFO_COUNT_64 || object != MACH_PORT_NULL))
        return KERN_FAILURE;
    return kr;
}

MT_TEST(region_of_allocated_memory_is_read_write_and_contains_it)
{
    vm_address_t a = 0;
    vm_size_t len = 3 * vm_page_size;
    MT_KR(vm_allocate(TASK, &a, len, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    mach_vm_address_t addr = a + vm_page_size;
    mach_vm_size_t size = 0;
    vm_region_basic_info_data_64_t info;
    MT_KR(region_at(&addr, &size, &info), KERN_SUCCESS);
    MT_CHECK(addr <= a + vm_page_size);
    MT_CHECK(addr + size >= a + vm_page_size + 1);
    MT_EQ(info.protection, VM_PROT_READ | VM_PROT_WRITE);
    MT_EQ(info.max_protection & (VM_PROT_READ | VM_PROT_WRITE), VM_PROT_READ | VM_PROT_WRITE);
    MT_EQ(info.shared, 0);
    MT_EQ(VM_REGION_BASIC_INFO_COUNT_64, 9);
    MT_KR(vm_deallocate(TASK, a, len), KERN_SUCCESS);
}

MT_TEST(vm_protect_changes_what_the_region_reports)
{
    vm_address_t a = 0;
    vm_size_t len = 3 * vm_page_size;
    MT_KR(vm_allocate(TASK, &a, len, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(vm_protect(TASK, a + vm_page_size, vm_page_size, FALSE, VM_PROT_READ), KERN_SUCCESS);
    mach_vm_address_t addr = a + vm_page_size;
    mach_vm_size_t size = 0;
    vm_region_basic_info_data_64_t info;
    MT_KR(region_at(&addr, &size, &info), KERN_SUCCESS);
    MT_EQ(addr, a + vm_page_size);
    MT_EQ(size, vm_page_size);
    MT_EQ(info.protection, VM_PROT_READ);
    MT_KR(mach_vm_protect(TASK, a, len, FALSE, VM_PROT_READ | VM_PROT_WRITE), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, len), KERN_SUCCESS);
}

MT_TEST(vm_region_64_and_mach_vm_read_overwrite_agree_with_their_other_forms)
{
    vm_address_t a = 0;
    vm_size_t len = 3 * vm_page_size;
    MT_KR(vm_allocate(TASK, &a, len, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memset((void *)a, 0x33, len);
    MT_KR(vm_protect(TASK, a + vm_page_size, vm_page_size, FALSE, VM_PROT_READ), KERN_SUCCESS);
    mach_vm_address_t maddr = a + vm_page_size;
    mach_vm_size_t msize = 0;
    vm_region_basic_info_data_64_t minfo, info;
    MT_KR(region_at(&maddr, &msize, &minfo), KERN_SUCCESS);
    vm_address_t addr = a + vm_page_size;
    vm_size_t size = 0;
    mach_msg_type_number_t count = VM_REGION_BASIC_INFO_COUNT_64;
    mach_port_t object = 1;
    MT_KR(vm_region_64(TASK, &addr, &size, VM_REGION_BASIC_INFO_64, (vm_region_info_t)&info,
                       &count, &object),
          KERN_SUCCESS);
    MT_EQ(addr, a + vm_page_size);
    MT_EQ(size, vm_page_size);
    MT_EQ(addr, maddr);
    MT_EQ(size, msize);
    MT_EQ(info.protection, VM_PROT_READ);
    MT_EQ(info.protection, minfo.protection);
    MT_EQ(count, VM_REGION_BASIC_INFO_COUNT_64);
    MT_EQ(object, MACH_PORT_NULL);
    char small[64];
    mach_vm_size_t out = 0;
    MT_KR(mach_vm_read_overwrite(TASK, a + vm_page_size + 8, sizeof small,
                                 (mach_vm_address_t)(uintptr_t)small, &out),
          KERN_SUCCESS);
    MT_EQ(out, sizeof small);
    MT_EQ(small[0], 0x33);
    MT_EQ(small[63], 0x33);
    MT_KR(vm_deallocate(TASK, a, len), KERN_SUCCESS);
}

MT_TEST(region_lookup_errors_are_xnus)
{
    mach_vm_address_t addr = 0xfffffffffffff000ull;
    mach_vm_size_t size = 0;
    vm_region_basic_info_data_64_t info;
    MT_KR(region_at(&addr, &size, &info), KERN_INVALID_ADDRESS);
    addr = (mach_vm_address_t)(uintptr_t)&info;
    mach_msg_type_number_t count = 2;
    mach_port_t object;
    MT_KR(mach_vm_region(TASK, &addr, &size, VM_REGION_BASIC_INFO_64, (vm_region_info_t)&info,
                         &count, &object),
          KERN_INVALID_ARGUMENT);
}

MT_TEST(read_overwrite_and_copy_move_bytes_within_the_task)
{
    vm_address_t a = 0, b = 0;
    MT_KR(vm_allocate(TASK, &a, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(vm_allocate(TASK, &b, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memset((void *)a, 0x5A, vm_page_size);
    char small[100];
    vm_size_t out = 0;
    MT_KR(vm_read_overwrite(TASK, a + 10, sizeof small, (vm_address_t)small, &out), KERN_SUCCESS);
    MT_EQ(out, sizeof small);
    MT_EQ(small[0], 0x5A);
    MT_EQ(small[99], 0x5A);
    MT_KR(vm_copy(TASK, a, vm_page_size, b), KERN_SUCCESS);
    MT_EQ(((unsigned char *)b)[vm_page_size - 1], 0x5A);
    MT_KR(vm_protect(TASK, b, vm_page_size, FALSE, VM_PROT_READ), KERN_SUCCESS);
    /* one page is a small copy: its copyout faults on the read-only page */
    MT_KR(vm_copy(TASK, a, vm_page_size, b), KERN_INVALID_ADDRESS);
    MT_KR(vm_deallocate(TASK, b, vm_page_size), KERN_SUCCESS);
    /*
     * A page just deallocated is a hole another thread of the process (a sanitizer's, the C
     * library's) may map at any moment: the checks run on a hole that the map still shows
     * empty, with a fresh one made when it was taken (a bounded number of times).
     */
    for (int tries = 0;; tries++) {
        mach_vm_address_t at = b;
        mach_vm_size_t size = 0;
        vm_region_basic_info_data_64_t info;
        kern_return_t kr = region_at(&at, &size, &info);
        if (kr == KERN_INVALID_ADDRESS || (kr == KERN_SUCCESS && at > b))
            break; /* nothing maps b */
        MT_KR(kr, KERN_SUCCESS);
        if (kr != KERN_SUCCESS || tries == 50) {
            MT_CHECK(tries < 50);
            return;
        }
        MT_KR(vm_allocate(TASK, &b, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        MT_KR(vm_deallocate(TASK, b, vm_page_size), KERN_SUCCESS);
    }
    MT_KR(vm_read_overwrite(TASK, b, 16, (vm_address_t)small, &out), KERN_INVALID_ADDRESS);
    MT_KR(vm_copy(TASK, a, vm_page_size, b), KERN_INVALID_ADDRESS);
    MT_KR(vm_deallocate(TASK, a, vm_page_size), KERN_SUCCESS);
}

/* VR_BIG + one page at *a of 0x11, and as much at *b of 0x22. */
static void vr_pair(vm_address_t *a, vm_address_t *b)
{
    *a = *b = 0;
    MT_KR(vm_allocate(TASK, a, VR_BIG + vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(vm_allocate(TASK, b, VR_BIG + vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memset((void *)*a, 0x11, VR_BIG + vm_page_size);
    memset((void *)*b, 0x22, VR_BIG + vm_page_size);
}

/* The four copies of `size` bytes from `src` to `dst` all return `want` (the sizes read
 * stay as they were on a failure). */
static void vr_copies(vm_address_t src, vm_size_t size, vm_address_t dst, kern_return_t want)
{
    mach_vm_size_t mout = 77;
    vm_size_t out = 77;
    MT_KR(mach_vm_read_overwrite(TASK, src, size, dst, &mout), want);
    MT_KR(vm_read_overwrite(TASK, src, size, dst, &out), want);
    MT_KR(mach_vm_copy(TASK, src, size, dst), want);
    MT_KR(vm_copy(TASK, src, size, dst), want);
    if (want != KERN_SUCCESS) {
        MT_EQ(mout, 77u);
        MT_EQ(out, 77u);
    }
}

MT_TEST(copying_from_an_unreadable_page_is_a_protection_failure_when_large_an_invalid_address_when_small)
{
    vm_address_t a, b;
    vr_pair(&a, &b);
    MT_KR(vm_protect(TASK, a + VR_BIG, vm_page_size, FALSE, VM_PROT_NONE), KERN_SUCCESS);
    vr_copies(a + vm_page_size, VR_BIG, b, KERN_PROTECTION_FAILURE);
    vr_copies(a + VR_BIG - 8, 16, b, KERN_INVALID_ADDRESS);
    vr_copies(a + VR_BIG, 16, b, KERN_INVALID_ADDRESS);
    /* nothing was written */
    MT_EQ(((unsigned char *)b)[0], 0x22);
    MT_EQ(((unsigned char *)b)[VR_BIG - 1], 0x22);
    /* the readable part copies */
    vr_copies(a, VR_BIG, b, KERN_SUCCESS);
    MT_EQ(((unsigned char *)b)[VR_BIG - 1], 0x11);
    MT_EQ(((unsigned char *)b)[VR_BIG], 0x22);
    MT_KR(vm_deallocate(TASK, a, VR_BIG + vm_page_size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, b, VR_BIG + vm_page_size), KERN_SUCCESS);
}

MT_TEST(copying_to_a_read_only_page_is_a_protection_failure_when_large_an_invalid_address_when_small)
{
    vm_address_t a, b;
    vr_pair(&a, &b);
    MT_KR(vm_protect(TASK, b + VR_BIG, vm_page_size, FALSE, VM_PROT_READ), KERN_SUCCESS);
    vr_copies(a, VR_BIG, b + vm_page_size, KERN_PROTECTION_FAILURE);
    vr_copies(a, 16, b + VR_BIG - 8, KERN_INVALID_ADDRESS);
    MT_EQ(((unsigned char *)b)[vm_page_size], 0x22);
    MT_EQ(((unsigned char *)b)[VR_BIG - 8], 0x22);
    MT_KR(vm_deallocate(TASK, a, VR_BIG + vm_page_size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, b, VR_BIG + vm_page_size), KERN_SUCCESS);
}

MT_TEST(the_sources_error_comes_before_the_destinations)
{
    vm_address_t a, b;
    vr_pair(&a, &b);
    /* a source without read permission and a destination with a hole */
    MT_KR(vm_protect(TASK, a + VR_BIG, vm_page_size, FALSE, VM_PROT_NONE), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, b + VR_BIG, vm_page_size), KERN_SUCCESS);
    vr_copies(a + vm_page_size, VR_BIG, b + vm_page_size, KERN_PROTECTION_FAILURE);
    /* a readable source and a read-only destination: the destination's code */
    MT_KR(vm_protect(TASK, b, vm_page_size, FALSE, VM_PROT_READ), KERN_SUCCESS);
    vr_copies(a, VR_BIG, b, KERN_PROTECTION_FAILURE);
    /* an unreadable source and a read-only destination, small: the copyin's fault */
    vr_copies(a + VR_BIG, 16, b, KERN_INVALID_ADDRESS);
    MT_EQ(((unsigned char *)b)[0], 0x22);
    /* a readable source, a destination read-only first and with a hole after: the first
     * one the walk meets */
    MT_KR(vm_protect(TASK, a + VR_BIG, vm_page_size, FALSE, VM_PROT_READ), KERN_SUCCESS);
    vr_copies(a, VR_BIG + vm_page_size, b, KERN_PROTECTION_FAILURE);
    MT_EQ(((unsigned char *)b)[vm_page_size], 0x22);
    MT_KR(vm_deallocate(TASK, a, VR_BIG + vm_page_size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, b, VR_BIG), KERN_SUCCESS);
}

MT_TEST(a_large_copy_onto_its_own_source_copies_a_snapshot_of_it)
{
    vm_address_t a = 0;
    const vm_size_t len = VR_BIG + vm_page_size;
    MT_KR(vm_allocate(TASK, &a, len, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    unsigned char *p = (unsigned char *)a;
    for (vm_size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i / 4096 + i * 13);
    MT_KR(vm_copy(TASK, a, VR_BIG, a + vm_page_size), KERN_SUCCESS);
    bool same = true;
    for (vm_size_t i = 0; i < VR_BIG && same; i++)
        same = p[vm_page_size + i] == (unsigned char)(i / 4096 + i * 13);
    MT_CHECK(same);
    /* and downwards */
    for (vm_size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i / 4096 + i * 13);
    mach_vm_size_t out = 0;
    MT_KR(mach_vm_read_overwrite(TASK, a + vm_page_size, VR_BIG, a, &out), KERN_SUCCESS);
    MT_EQ(out, VR_BIG);
    for (vm_size_t i = 0; i < VR_BIG && same; i++)
        same = p[i] == (unsigned char)((i + vm_page_size) / 4096 + (i + vm_page_size) * 13);
    MT_CHECK(same);
    MT_KR(vm_deallocate(TASK, a, len), KERN_SUCCESS);
}

MT_TEST(a_copy_of_size_zero_succeeds_and_a_wrapping_range_is_an_invalid_address)
{
    mach_vm_size_t out = 77;
    MT_KR(mach_vm_read_overwrite(TASK, 0x1000, 0, 0x2000, &out), KERN_SUCCESS);
    MT_EQ(out, 0u);
    MT_KR(vm_copy(TASK, 0x1000, 0, 0x2000), KERN_SUCCESS);
    char buf[16] = {0};
    out = 77;
    MT_KR(mach_vm_read_overwrite(TASK, UINT64_MAX - 10, 20, (mach_vm_address_t)(uintptr_t)buf,
                                 &out),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_read_overwrite(TASK, (mach_vm_address_t)(uintptr_t)buf, sizeof buf,
                                 UINT64_MAX - 10, &out),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_copy(TASK, UINT64_MAX - 10, 5, (mach_vm_address_t)(uintptr_t)buf),
          KERN_INVALID_ADDRESS);
    MT_EQ(out, 77u);
}

MT_TEST(calls_on_a_name_that_is_not_the_task_fail_like_a_mig_call)
{
    vm_address_t a = 0;
    MT_KR(vm_protect(MACH_PORT_NULL, a, 0, FALSE, VM_PROT_READ), MACH_SEND_INVALID_DEST);
}

MT_MAIN()
