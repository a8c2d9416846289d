/*
 * task_birth_death.c — umachd makes each connecting process a task and ends the task when
 * the connection hangs up, keeping nothing of it (docs/world.md, first step). Processes that
 * exit, and one killed with SIGKILL, leave no task behind.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <mach/mach.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char w_path[108];
static pid_t w_daemon;

static void w_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Connect to the world; -1 if it is not there (yet). */
static int w_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", w_path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Connect and say hello: the connection is a task now. */
static int w_join(w_hello_reply *hello)
{
    int fd = w_connect();
    if (fd < 0)
        return -1;
    if (w_hello(fd, hello) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

typedef struct {
    uint32_t tasks, names_inuse;
} w_stats_t;

static int w_stats(int fd, w_stats_t *st)
{
    return w_stats2(fd, &st->tasks, &st->names_inuse);
}

/* The number of tasks alive, asked through `fd`, once it equals `want` (bounded wait). */
static uint32_t w_tasks_become(int fd, uint32_t want)
{
    w_stats_t st = {0, 0};
    for (int i = 0; i < 500; i++) {
        if (w_stats(fd, &st) != 0)
            return (uint32_t)-1;
        if (st.tasks == want)
            break;
        w_sleep_ms(10);
    }
    return st.tasks;
}

static int w_start(void)
{
    snprintf(w_path, sizeof w_path, "/tmp/umachd_test_%d.sock", (int)getpid());
    w_daemon = w_daemon_start(w_path, NULL);
    return w_daemon > 0 ? 0 : -1;
}

static int w_stop(void)
{
    return w_daemon_stop(w_daemon);
}

MT_TEST(umachd_help_documents_its_flags)
{
    int p[2];
    MT_REQUIRE(pipe(p) == 0);
    pid_t pid = fork();
    MT_REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        execl(UMACHD_PATH, "umachd", "--help", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char out[8192] = {0};
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read(p[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    close(p[0]);
    int st = 0;
    MT_REQUIRE(waitpid(pid, &st, 0) == pid);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    MT_CHECK(strstr(out, "--socket") != NULL);
    MT_CHECK(strstr(out, "--allow-uid") != NULL);
    MT_CHECK(strstr(out, "--help") != NULL);
}

MT_TEST(each_connection_is_a_task_and_its_hang_up_ends_it)
{
    MT_REQUIRE(w_start() == 0);
    w_hello_reply h[3];
    int fd[3];
    for (int i = 0; i < 3; i++) {
        fd[i] = w_join(&h[i]);
        MT_REQUIRE(fd[i] >= 0);
        MT_EQ(h[i].version, UM_WIRE_VERSION);
        MT_EQ(h[i].pid, (uint32_t)getpid());
        MT_CHECK(h[i].task_name != 0);
    }
    MT_EQ(w_tasks_become(fd[0], 3), 3u);
    /* A new task's space holds its task port and its bootstrap port, nothing else. */
    w_stats_t st;
    MT_REQUIRE(w_stats(fd[1], &st) == 0);
    MT_EQ(st.names_inuse, 2u);
    close(fd[1]);
    close(fd[2]);
    MT_EQ(w_tasks_become(fd[0], 1), 1u);
    close(fd[0]);
    MT_EQ(w_stop(), 0);
    MT_CHECK(access(w_path, F_OK) != 0); /* the socket goes with the world */
}

MT_TEST(processes_that_exit_or_are_killed_leave_no_task)
{
    MT_REQUIRE(w_start() == 0);
    w_hello_reply h;
    int watch = w_join(&h);
    MT_REQUIRE(watch >= 0);
    pid_t kids[8];
    int ready[2];
    MT_REQUIRE(pipe(ready) == 0);
    for (int i = 0; i < 8; i++) {
        kids[i] = fork();
        MT_REQUIRE(kids[i] >= 0);
        if (kids[i] == 0) {
            w_hello_reply kh;
            int kfd = w_join(&kh);
            char ok = kfd >= 0 && kh.pid == (uint32_t)getpid() ? 'y' : 'n';
            (void)write(ready[1], &ok, 1);
            if (i == 7)
                pause(); /* killed below */
            _exit(0);
        }
    }
    close(ready[1]);
    for (int i = 0; i < 8; i++) {
        char ok = 0;
        MT_REQUIRE(read(ready[0], &ok, 1) == 1);
        MT_EQ(ok, 'y');
    }
    close(ready[0]);
    for (int i = 0; i < 7; i++)
        MT_REQUIRE(waitpid(kids[i], NULL, 0) == kids[i]);
    /* Seven exited; the eighth is alive until it is killed. */
    MT_EQ(w_tasks_become(watch, 2), 2u);
    kill(kids[7], SIGKILL);
    MT_REQUIRE(waitpid(kids[7], NULL, 0) == kids[7]);
    MT_EQ(w_tasks_become(watch, 1), 1u);
    close(watch);
    MT_EQ(w_stop(), 0);
}

MT_TEST(a_malformed_request_ends_only_its_own_task)
{
    MT_REQUIRE(w_start() == 0);
    w_hello_reply h;
    int good = w_join(&h);
    int bad = w_join(&h);
    MT_REQUIRE(good >= 0 && bad >= 0);
    MT_EQ(w_tasks_become(good, 2), 2u);
    const char garbage[5] = {1, 2, 3, 4, 5};
    MT_CHECK(send(bad, garbage, sizeof garbage, MSG_NOSIGNAL) == (ssize_t)sizeof garbage);
    char buf[16];
    MT_EQ(recv(bad, buf, sizeof buf, 0), 0); /* the daemon hung up on it */
    /* A connection that is not a task yet and says anything but hello or join is refused. */
    int stranger = w_connect();
    MT_REQUIRE(stranger >= 0);
    uint32_t tasks, names;
    MT_CHECK(w_stats2(stranger, &tasks, &names) != 0);
    close(stranger);
    MT_EQ(w_tasks_become(good, 1), 1u);
    close(bad);
    close(good);
    MT_EQ(w_stop(), 0);
}

MT_TEST(a_thread_connection_joins_only_its_own_process_task_with_the_right_secret)
{
    MT_REQUIRE(w_start() == 0);
    w_hello_reply h;
    int ctl = w_join(&h);
    MT_REQUIRE(ctl >= 0);
    /* The right secret from this process: a thread connection of the task. */
    int thr = w_connect();
    MT_REQUIRE(thr >= 0);
    MT_EQ(w_join_task(thr, h.secret), 0);
    /* A wrong secret is refused. */
    int bad = w_connect();
    MT_REQUIRE(bad >= 0);
    uint64_t wrong[2] = {h.secret[0] ^ 1, h.secret[1]};
    MT_CHECK(w_join_task(bad, wrong) != 0);
    close(bad);
    /* The right secret from another process is refused too (SO_PEERCRED). */
    pid_t kid = fork();
    MT_REQUIRE(kid >= 0);
    if (kid == 0) {
        int fd = w_connect();
        _exit(fd >= 0 && w_join_task(fd, h.secret) != 0 ? 0 : 1);
    }
    int st = -1;
    MT_REQUIRE(waitpid(kid, &st, 0) == kid);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(thr);
    close(ctl);
    MT_EQ(w_stop(), 0);
}

MT_TEST(a_task_cannot_name_or_touch_another_tasks_rights)
{
    MT_REQUIRE(w_start() == 0);
    w_hello_reply ha, hb;
    int ca = w_join(&ha), cb = w_join(&hb);
    MT_REQUIRE(ca >= 0 && cb >= 0);
    int ta = w_connect(), tb = w_connect();
    MT_REQUIRE(ta >= 0 && tb >= 0);
    MT_REQUIRE(w_join_task(ta, ha.secret) == 0 && w_join_task(tb, hb.secret) == 0);
    /* A makes a receive right. */
    uint64_t alloc[2] = {ha.task_name, MACH_PORT_RIGHT_RECEIVE}, name = 0;
    MT_REQUIRE(w_request(ta, UM_WIRE_PORT_ALLOCATE, alloc, 2, &name, 1) == 0);
    /* B names it in its own space, where it means nothing, and cannot destroy it. */
    int32_t kr = 0;
    uint64_t type = 0;
    uint64_t b_args[2] = {hb.task_name, name};
    MT_REQUIRE(w_call(tb, UM_WIRE_PORT_TYPE, b_args, 2, &kr, &type, 1) == 0);
    MT_EQ(kr, KERN_INVALID_NAME);
    MT_REQUIRE(w_call(tb, UM_WIRE_PORT_DESTROY, b_args, 2, &kr, NULL, 0) == 0);
    MT_EQ(kr, KERN_INVALID_NAME);
    /* B's garbage ends B's task, not A's. */
    const char garbage[3] = {9, 9, 9};
    MT_CHECK(send(tb, garbage, sizeof garbage, MSG_NOSIGNAL) == (ssize_t)sizeof garbage);
    char buf[8];
    MT_EQ(recv(tb, buf, sizeof buf, 0), 0);
    MT_EQ(w_tasks_become(ca, 1), 1u);
    uint64_t a_args[2] = {ha.task_name, name};
    MT_REQUIRE(w_call(ta, UM_WIRE_PORT_TYPE, a_args, 2, &kr, &type, 1) == 0);
    MT_EQ(kr, KERN_SUCCESS);
    MT_EQ(type & MACH_PORT_TYPE_RECEIVE, (uint64_t)MACH_PORT_TYPE_RECEIVE);
    close(ta);
    close(tb);
    close(ca);
    close(cb);
    MT_EQ(w_stop(), 0);
}

MT_MAIN()
