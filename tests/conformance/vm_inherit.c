/*
 * vm_inherit.c — mach_vm_inherit and vm_inherit on the task's own memory, as XNU's
 * vm_map_inherit: a forked child gets no memory where the inheritance is VM_INHERIT_NONE,
 * the parent's own pages where it is VM_INHERIT_SHARE and a copy where it is VM_INHERIT_COPY
 * (the default); mach_vm_region reports each part's inheritance. A value above
 * VM_INHERIT_LAST_VALID and a range that wraps are KERN_INVALID_ARGUMENT, a size of zero
 * succeeds whatever the value, holes in the range are no error, and the routine sent by hand
 * to the task port (4803) answers as the call.
 */
#include "vm_mig_util.h"

#include <mach/mach_vm.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG ((mach_vm_size_t)vm_page_size)
#define B(a) ((volatile uint8_t *)(uintptr_t)(a))

static int inheritance_at(mach_vm_address_t at)
{
    vm_region_basic_info_data_64_t info;
    return vmu_region_at(at, &info) ? (int)info.inheritance : -1;
}

/* Can the child read a byte at `at`? A write(2) from it fails with EFAULT where nothing is
 * mapped, where a load would fault. */
static bool child_can_read(mach_vm_address_t at)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    bool ok = write(fds[1], (const void *)(uintptr_t)at, 1) == 1;
    close(fds[0]);
    close(fds[1]);
    return ok;
}

/* Three parts of `pages` pages each: NONE, SHARE, COPY; a child checks and writes. */
static void fork_three_ways(mach_vm_size_t pages)
{
    mach_vm_size_t part = pages * PG;
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 3 * part, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    for (int i = 0; i < 3; i++)
        B(a + (mach_vm_size_t)i * part)[0] = (uint8_t)(1 + i);
    MT_KR(mach_vm_inherit(TASK, a, part, VM_INHERIT_NONE), KERN_SUCCESS);
    MT_KR(mach_vm_inherit(TASK, a + part, part, VM_INHERIT_SHARE), KERN_SUCCESS);
    MT_KR(vm_inherit(TASK, (vm_address_t)(a + 2 * part), (vm_size_t)part, VM_INHERIT_COPY),
          KERN_SUCCESS);
    MT_EQ(inheritance_at(a), VM_INHERIT_NONE);
    MT_EQ(inheritance_at(a + part), VM_INHERIT_SHARE);
    MT_EQ(inheritance_at(a + 2 * part), VM_INHERIT_COPY);
    MT_EQ(B(a + part)[0], 2); /* the bytes stay where they were */
    pid_t pid = fork();
    if (pid == 0) {
        int bad = child_can_read(a) | (B(a + part)[0] != 2) << 1 | (B(a + 2 * part)[0] != 3) << 2 |
                  (!child_can_read(a + part)) << 3;
        B(a + part)[1] = 7;     /* the parent's pages */
        B(a + 2 * part)[1] = 8; /* the child's own copy */
        _exit(bad);
    }
    MT_REQUIRE(pid > 0);
    int status = 0;
    MT_EQ(waitpid(pid, &status, 0), pid);
    MT_CHECK(WIFEXITED(status));
    MT_EQ(WEXITSTATUS(status), 0);
    MT_EQ(B(a)[0], 1);
    MT_EQ(B(a + part)[1], 7);
    MT_EQ(B(a + 2 * part)[1], 0);
    /* The parent's memory still forks as it was told. */
    pid = fork();
    if (pid == 0)
        _exit(child_can_read(a) | (B(a + part)[1] != 7) << 1);
    MT_REQUIRE(pid > 0);
    MT_EQ(waitpid(pid, &status, 0), pid);
    MT_CHECK(WIFEXITED(status));
    MT_EQ(WEXITSTATUS(status), 0);
    MT_KR(mach_vm_deallocate(TASK, a, 3 * part), KERN_SUCCESS);
}

MT_TEST(a_forked_child_gets_none_the_same_pages_or_a_copy_as_the_inheritance_says)
{
    fork_three_ways(1);
}

MT_TEST(large_allocations_fork_as_their_inheritance_says_too)
{
    fork_three_ways(16);
}

MT_TEST(an_unaligned_range_sets_the_pages_it_touches)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 3 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_inherit(TASK, a + PG + 10, 1, VM_INHERIT_NONE), KERN_SUCCESS);
    MT_EQ(inheritance_at(a), VM_INHERIT_COPY);
    MT_EQ(inheritance_at(a + PG), VM_INHERIT_NONE);
    MT_EQ(inheritance_at(a + 2 * PG), VM_INHERIT_COPY);
    MT_KR(mach_vm_inherit(TASK, a, 3 * PG, VM_INHERIT_DEFAULT), KERN_SUCCESS);
    MT_EQ(inheritance_at(a + PG), VM_INHERIT_COPY);
    MT_KR(mach_vm_deallocate(TASK, a, 3 * PG), KERN_SUCCESS);
}

MT_TEST(bad_values_and_wrapping_ranges_are_invalid_argument_and_holes_no_error)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 3 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_inherit(TASK, a, PG, VM_INHERIT_DONATE_COPY), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_inherit(TASK, a, PG, 77), KERN_INVALID_ARGUMENT);
    MT_KR(vm_inherit(TASK, (vm_address_t)a, (vm_size_t)PG, 77), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_inherit(TASK, a, 0, 77), KERN_SUCCESS);
    MT_KR(mach_vm_inherit(TASK, a, UINT64_MAX, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_inherit(TASK, UINT64_MAX - 10, 5, VM_INHERIT_NONE), KERN_INVALID_ARGUMENT);
    MT_EQ(inheritance_at(a), VM_INHERIT_COPY); /* nothing changed */
    MT_KR(mach_vm_deallocate(TASK, a + PG, PG), KERN_SUCCESS);
    MT_KR(mach_vm_inherit(TASK, a, 3 * PG, VM_INHERIT_NONE), KERN_SUCCESS);
    MT_EQ(inheritance_at(a), VM_INHERIT_NONE);
    MT_EQ(inheritance_at(a + 2 * PG), VM_INHERIT_NONE);
    MT_KR(mach_vm_deallocate(TASK, a, 3 * PG), KERN_SUCCESS);
}

MT_TEST(inherit_sent_by_hand_to_the_task_port_answers_as_the_call)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    vmu_reply r;
    MT_KR(vmu_range_rpc(4803, a, PG, VM_INHERIT_NONE, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 4903);
    MT_EQ(vmu_ret(&r), KERN_SUCCESS);
    MT_EQ(inheritance_at(a), VM_INHERIT_NONE);
    MT_EQ(inheritance_at(a + PG), VM_INHERIT_COPY);
    MT_KR(vmu_range_rpc(4803, a, PG, 9, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, (mach_msg_size_t)sizeof(mig_reply_error_t));
    MT_EQ(vmu_ret(&r), KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
}

MT_MAIN()
