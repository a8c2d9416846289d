/*
 * proc_usage.c — what task_info reports of a world's task is read from /proc by its process's
 * pid (vm/um_usage.c), and a pid names a process only while it lives: umachd's tasks are
 * pinned by a pidfd, and a read whose process had ended by its end is the answer for a task
 * that ended, not another process's figures. A process that ended and was reaped stands for
 * the task here, and this process stands for the one its pid could have gone to.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "vm/um_usage.h"

#include <errno.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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
    MT_CHECK(um_proc_usage_pinned(getpid(), -1, &u));
    MT_CHECK(u.virtual_size > 0);
    int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (self < 0) {
        MT_EQ(errno, ENOSYS); /* no pidfds (an old kernel, valgrind): the pid alone */
        return;
    }
    MT_CHECK(!um_pidfd_exited(self));
    MT_CHECK(um_proc_usage_pinned(getpid(), self, &u));
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
    MT_CHECK(!um_proc_usage_pinned(getpid(), pidfd, &u));
    MT_EQ(u.virtual_size, 0u);
    MT_EQ(u.resident_size, 0u);
    close(pidfd);
}

MT_MAIN()
