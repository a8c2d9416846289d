/*
 * vm_allocate / vm_deallocate / mach_vm_allocate / mach_vm_deallocate.
 *
 * XNU (osfmk/vm/vm_user.c mach_vm_allocate_external, vm_kern.c mach_vm_allocate_kernel,
 * vm_sanitize.c vm_sanitize_addr_size): flags outside VM_FLAGS_USER_ALLOCATE are
 * KERN_INVALID_ARGUMENT; size 0 succeeds at once and returns address 0; a fixed address is
 * truncated to its page and the end rounded up; vm_map_enter without VM_FLAGS_OVERWRITE
 * refuses an occupied range with KERN_NO_SPACE; new memory is zero-filled; deallocate of
 * size 0 succeeds, and removing an unmapped range is not an error.
 */
#include "notify_util.h"

#include <mach/mach_vm.h>

static vm_size_t page(void)
{
    return vm_page_size;
}

static int all_zero(const void *p, size_t n)
{
    const volatile unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != 0)
            return 0;
    return 1;
}

/* A free range of `pages` pages: allocated anywhere, then released. */
static vm_address_t free_range(size_t pages)
{
    vm_address_t a = 0;
    if (vm_allocate(TASK, &a, pages * page(), VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
        return 0;
    if (vm_deallocate(TASK, a, pages * page()) != KERN_SUCCESS)
        return 0;
    return a;
}

MT_TEST(vm_page_size_is_the_system_page_size_and_a_power_of_two)
{
    long sys = sysconf(_SC_PAGESIZE);
    MT_EQ(vm_page_size, (vm_size_t)sys);
    MT_CHECK(vm_page_size >= 4096);
    MT_EQ(vm_page_size & (vm_page_size - 1), 0);
    MT_EQ(vm_page_mask, vm_page_size - 1);
}

MT_TEST(anywhere_allocation_is_page_aligned_zero_filled_and_rounded_to_pages)
{
    vm_address_t a = 0;
    MT_KR(vm_allocate(TASK, &a, 1, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_REQUIRE(a != 0);
    MT_EQ(a & (page() - 1), 0);
    /* the whole page is mapped, zeroed and writable */
    MT_CHECK(all_zero((void *)a, page()));
    ((volatile unsigned char *)a)[page() - 1] = 0x5A;
    MT_EQ(((volatile unsigned char *)a)[page() - 1], 0x5A);
    /* deallocating 1 byte removes the page: a fixed allocation there now fits */
    MT_KR(vm_deallocate(TASK, a, 1), KERN_SUCCESS);
    vm_address_t b = a;
    MT_KR(vm_allocate(TASK, &b, page(), VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_EQ(b, a);
    MT_CHECK(all_zero((void *)b, page()));
    MT_KR(vm_deallocate(TASK, b, page()), KERN_SUCCESS);
}

MT_TEST(two_anywhere_allocations_do_not_overlap)
{
    vm_address_t a = 0, b = 0;
    MT_KR(vm_allocate(TASK, &a, 3 * page(), VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(vm_allocate(TASK, &b, 3 * page(), VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_CHECK(a + 3 * page() <= b || b + 3 * page() <= a);
    memset((void *)a, 0x11, 3 * page());
    MT_CHECK(all_zero((void *)b, 3 * page()));
    MT_KR(vm_deallocate(TASK, a, 3 * page()), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, b, 3 * page()), KERN_SUCCESS);
}

MT_TEST(fixed_allocation_at_a_just_freed_address_returns_it_zero_filled)
{
    vm_address_t a = 0;
    MT_KR(vm_allocate(TASK, &a, 2 * page(), VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memset((void *)a, 0xEE, 2 * page());
    MT_KR(vm_deallocate(TASK, a, 2 * page()), KERN_SUCCESS);
    vm_address_t b = a;
    MT_KR(vm_allocate(TASK, &b, 2 * page(), VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_EQ(b, a);
    MT_CHECK(all_zero((void *)b, 2 * page()));
    MT_KR(vm_deallocate(TASK, b, 2 * page()), KERN_SUCCESS);
}

MT_TEST(fixed_allocation_over_mapped_memory_is_no_space_and_keeps_the_contents)
{
    vm_address_t a = 0;
    MT_KR(vm_allocate(TASK, &a, 2 * page(), VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memset((void *)a, 0x33, 2 * page());
    vm_address_t b = a;
    MT_KR(vm_allocate(TASK, &b, page(), VM_FLAGS_FIXED), KERN_NO_SPACE);
    b = a + page();
    MT_KR(vm_allocate(TASK, &b, 2 * page(), VM_FLAGS_FIXED), KERN_NO_SPACE);
    mach_vm_address_t mb = a;
    MT_KR(mach_vm_allocate(TASK, &mb, page(), VM_FLAGS_FIXED), KERN_NO_SPACE);
    MT_EQ(((volatile unsigned char *)a)[0], 0x33);
    MT_EQ(((volatile unsigned char *)a)[2 * page() - 1], 0x33);
    /* VM_FLAGS_OVERWRITE replaces the mapping with fresh zero pages */
    b = a + page();
    MT_KR(vm_allocate(TASK, &b, page(), VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE), KERN_SUCCESS);
    MT_EQ(b, a + page());
    MT_CHECK(all_zero((void *)b, page()));
    MT_EQ(((volatile unsigned char *)a)[0], 0x33);
    MT_KR(vm_deallocate(TASK, a, 2 * page()), KERN_SUCCESS);
}

MT_TEST(size_zero_succeeds_and_returns_address_zero)
{
    vm_address_t a = 0x12345000;
    MT_KR(vm_allocate(TASK, &a, 0, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_EQ(a, 0);
    a = 0x12345000;
    MT_KR(vm_allocate(TASK, &a, 0, VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_EQ(a, 0);
    mach_vm_address_t ma = 0x12345000;
    MT_KR(mach_vm_allocate(TASK, &ma, 0, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_EQ(ma, 0);
}

MT_TEST(a_fixed_unaligned_address_is_truncated_and_the_end_rounded_up)
{
    vm_address_t base = free_range(3);
    MT_REQUIRE(base != 0);
    vm_address_t a = base + 100;
    MT_KR(vm_allocate(TASK, &a, page(), VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_EQ(a, base);
    /* [base + 100, base + 100 + page) spans two pages: both are now mapped */
    MT_CHECK(all_zero((void *)base, 2 * page()));
    vm_address_t b = base + page();
    MT_KR(vm_allocate(TASK, &b, page(), VM_FLAGS_FIXED), KERN_NO_SPACE);
    b = base + 2 * page();
    MT_KR(vm_allocate(TASK, &b, page(), VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_EQ(b, base + 2 * page());
    /* an unaligned deallocate covers every page it touches */
    MT_KR(vm_deallocate(TASK, base + 10, 2 * page()), KERN_SUCCESS);
    b = base;
    MT_KR(vm_allocate(TASK, &b, 3 * page(), VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, base, 3 * page()), KERN_SUCCESS);
}

MT_TEST(deallocate_of_size_zero_or_of_an_unmapped_range_succeeds)
{
    vm_address_t a = 0;
    MT_KR(vm_allocate(TASK, &a, page(), VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, 0), KERN_SUCCESS);
    ((volatile unsigned char *)a)[0] = 1; /* still mapped */
    MT_KR(vm_deallocate(TASK, 0, 0), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, 0, 0), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, page()), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, page()), KERN_SUCCESS); /* already gone */
    MT_KR(mach_vm_deallocate(TASK, a, page()), KERN_SUCCESS);
}

MT_TEST(mach_vm_calls_allocate_and_free_page_ranges_like_vm_calls)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 3 * page(), VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_REQUIRE(a != 0);
    MT_EQ(a & (page() - 1), 0);
    MT_CHECK(all_zero((void *)(uintptr_t)a, 3 * page()));
    /* free only the middle page */
    MT_KR(mach_vm_deallocate(TASK, a + page(), page()), KERN_SUCCESS);
    mach_vm_address_t b = a;
    MT_KR(mach_vm_allocate(TASK, &b, page(), VM_FLAGS_FIXED), KERN_NO_SPACE);
    b = a + 2 * page();
    MT_KR(mach_vm_allocate(TASK, &b, page(), VM_FLAGS_FIXED), KERN_NO_SPACE);
    b = a + page();
    MT_KR(mach_vm_allocate(TASK, &b, page(), VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_EQ(b, a + page());
    MT_KR(mach_vm_deallocate(TASK, a, 3 * page()), KERN_SUCCESS);
}

MT_TEST(flags_outside_the_user_allocate_set_are_invalid_argument)
{
    vm_address_t a = 0;
    MT_KR(vm_allocate(TASK, &a, page(), VM_FLAGS_ANYWHERE | VM_FLAGS_RETURN_DATA_ADDR),
          KERN_INVALID_ARGUMENT);
    mach_vm_address_t ma = 0;
    MT_KR(mach_vm_allocate(TASK, &ma, page(), VM_FLAGS_ANYWHERE | VM_FLAGS_RETURN_4K_DATA_ADDR),
          KERN_INVALID_ARGUMENT);
    /* an alias tag in the top byte is a user flag */
    a = 0;
    MT_KR(vm_allocate(TASK, &a, page(), VM_FLAGS_ANYWHERE | VM_MAKE_TAG(100)), KERN_SUCCESS);
    MT_CHECK(a != 0);
    MT_KR(vm_deallocate(TASK, a, page()), KERN_SUCCESS);
}

MT_MAIN()
