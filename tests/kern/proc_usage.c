/*
 * proc_usage.c — what task_info reports of a world's task is read from /proc by its process's
 * pid (vm/um_usage.c), and a pid names a process only while it lives: umachd's tasks are
 * pinned by a pidfd, and a read whose process had ended by its end is the answer for a task
 * that ended, not another process's figures. A process that ended and was reaped stands for
 * the task here, and this process stands for the one its pid could have gone to. The dearer
 * figures (TASK_VM_INFO's parts of memory, TASK_EVENTS_INFO's faults and context switches) are
 * read only when asked, and another process's too (a child stands for a world's task).
 */
#define _GNU_SOURCE
#include "mt.h"

#include "vm/um_usage.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A pidfd of a child that has exited and been reaped, or -1 with *err pidfd_open's errno. */
static int reaped_child_pidfd(int *err)
{
    *err = 0;
    int go[2];
    if (pipe(go) != 0)
        return -1;
    pid_t child = fork();
    if (child == 0) {
        char c;
        close(go[1]);
        _exit(read(go[0], &c, 1) == 1 ? 0 : 1); /* alive until told, so the pidfd is its own */
    }
    close(go[0]);
    int pidfd = child > 0 ? (int)syscall(SYS_pidfd_open, child, 0) : -1;
    *err = pidfd < 0 ? errno : 0;
    if (write(go[1], "x", 1) != 1 && pidfd >= 0) {
        close(pidfd);
        pidfd = -1;
    }
    close(go[1]);
    if (child > 0)
        (void)waitpid(child, NULL, 0);
    return pidfd;
}

MT_TEST(a_live_processs_usage_is_read_through_its_pid_with_or_without_its_pidfd)
{
    um_task_usage u;
    MT_CHECK(um_proc_usage_pinned(getpid(), -1, 0, &u));
    MT_CHECK(u.virtual_size > 0);
    int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (self < 0) {
        MT_EQ(errno, ENOSYS); /* no pidfds (an old kernel, valgrind): the pid alone */
        return;
    }
    MT_CHECK(!um_pidfd_exited(self));
    MT_CHECK(um_proc_usage_pinned(getpid(), self, 0, &u));
    MT_CHECK(u.virtual_size > 0 && u.resident_size > 0);
    close(self);
}

MT_TEST(a_process_that_ended_is_not_described_by_whoever_holds_its_pid_now)
{
    int err;
    int pidfd = reaped_child_pidfd(&err);
    if (pidfd < 0) {
        MT_EQ(err, ENOSYS);
        return;
    }
    MT_CHECK(um_pidfd_exited(pidfd));
    /* Its pid, had it been reused, would read as a live process: this one. */
    um_task_usage u;
    memset(&u, 0xa5, sizeof u);
    MT_CHECK(!um_proc_usage_pinned(getpid(), pidfd, UM_USAGE_VM | UM_USAGE_EVENTS, &u));
    MT_EQ(u.virtual_size, 0u);
    MT_EQ(u.resident_size, 0u);
    close(pidfd);
}

MT_TEST(another_processs_memory_parts_faults_and_context_switches_are_read_when_asked)
{
    int go[2], ready[2];
    MT_REQUIRE(pipe(go) == 0 && pipe(ready) == 0);
    pid_t child = fork();
    if (child == 0) {
        char c;
        close(go[1]);
        close(ready[0]);
        /* A page of its own, touched: a minor fault it has surely taken before it says so
         * (the copy-on-write of the fork's pages may have been taken by the parent). */
        volatile char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED)
            _exit(2);
        page[0] = 1;
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        _exit(read(go[0], &c, 1) == 1 ? 0 : 1); /* blocked in read: a context switch */
    }
    close(go[0]);
    close(ready[1]);
    MT_REQUIRE(child > 0);
    char r;
    MT_REQUIRE(read(ready[0], &r, 1) == 1);
    close(ready[0]);
    um_task_usage u;
    /* Until the child sleeps, its switches may not have happened yet. */
    for (int i = 0; i < 2000; i++) {
        MT_REQUIRE(um_proc_usage(child, UM_USAGE_VM | UM_USAGE_EVENTS, &u));
        if (u.context_switches > 0)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    MT_CHECK(u.context_switches > 0);
    MT_CHECK(u.minor_faults > 0);
    MT_CHECK(u.anon_resident > 0 && u.file_resident > 0);
    MT_EQ(u.anon_resident + u.file_resident, u.resident_size); /* the parts of one reading */
    MT_CHECK(u.regions > 0);
    MT_CHECK(u.min_address < u.max_address);
    /* Without asking: none of them. */
    MT_REQUIRE(um_proc_usage(child, 0, &u));
    MT_EQ(u.context_switches + u.minor_faults + u.anon_resident + u.regions + u.max_address, 0u);
    MT_CHECK(u.resident_size > 0);
    MT_CHECK(write(go[1], "x", 1) == 1);
    close(go[1]);
    MT_CHECK(waitpid(child, NULL, 0) == child);
}

MT_MAIN()
