/*
 * world_death.c — when umachd dies, its tasks' Mach calls fail and never hang: a thread
 * blocked in a receive gets MACH_RCV_PORT_DIED, later sends and kernel calls get
 * MACH_SEND_INVALID_DEST, and nothing raises SIGPIPE. The test starts its own umachd, runs
 * itself as a task of it (the task's part runs from a constructor when WORLD_DEATH_TASK is
 * set, after libumach has joined the world), and kills the daemon under it.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <mach/mach.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * The task: report its first results on fd 3 ("ready"), block in a receive until the world
 * dies, then try a send and a kernel call. Exit status: 0 when every result is the expected
 * one, else the step that went wrong. SIGPIPE keeps its default action: a SIGPIPE would kill
 * the task, which the test reports.
 */
static int wd_task(void)
{
    mach_port_t p = MACH_PORT_NULL;
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
        return 20;
    if (mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return 21;
    (void)write(3, "r", 1);
    union {
        mach_msg_header_t h;
        uint8_t bytes[256];
    } b;
    memset(&b, 0, sizeof b);
    mach_msg_return_t mr = mach_msg(&b.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof b, p, 30000,
                                    MACH_PORT_NULL);
    if (mr != MACH_RCV_PORT_DIED)
        return 22;
    memset(&b, 0, sizeof b);
    b.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    b.h.msgh_size = sizeof b.h;
    b.h.msgh_remote_port = p;
    if (mach_msg(&b.h, MACH_SEND_MSG, sizeof b.h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL) !=
        MACH_SEND_INVALID_DEST)
        return 23;
    mach_port_t q = MACH_PORT_NULL;
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &q) !=
        MACH_SEND_INVALID_DEST)
        return 24;
    if (mach_msg(&b.h, MACH_RCV_MSG, 0, sizeof b, p, 0, MACH_PORT_NULL) != MACH_RCV_PORT_DIED)
        return 25;
    return 0;
}

__attribute__((constructor)) static void wd_maybe_task(void)
{
    if (getenv("WORLD_DEATH_TASK"))
        _exit(wd_task());
}

static void wd_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

MT_TEST(a_task_blocked_in_receive_gets_port_died_when_umachd_dies_and_later_calls_fail)
{
    char sock[108];
    snprintf(sock, sizeof sock, "/tmp/umachd_death_%d.sock", (int)getpid());
    pid_t world = w_daemon_start(sock, NULL);
    MT_REQUIRE(world > 0);

    int told[2];
    MT_REQUIRE(pipe(told) == 0);
    pid_t task = fork();
    MT_REQUIRE(task >= 0);
    if (task == 0) {
        dup2(told[1], 3);
        setenv("UMACH_WORLD", sock, 1);
        setenv("WORLD_DEATH_TASK", "1", 1);
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            _exit(126);
        self[n] = 0;
        execl(self, self, (char *)NULL);
        _exit(127);
    }
    close(told[1]);
    char c = 0;
    MT_REQUIRE(read(told[0], &c, 1) == 1); /* the task made its port: now it receives */
    close(told[0]);
    wd_sleep_ms(100);
    kill(world, SIGKILL);
    MT_REQUIRE(waitpid(world, NULL, 0) == world);
    int st = -1;
    MT_REQUIRE(waitpid(task, &st, 0) == task);
    MT_CHECK(WIFEXITED(st));
    if (WIFSIGNALED(st))
        fprintf(stderr, "  the task died of signal %d\n", WTERMSIG(st));
    MT_EQ(WEXITSTATUS(st), 0);
    unlink(sock);
}

MT_MAIN()
