/*
 * world_util.h — speaking umachd's wire protocol (src/umach/wire/um_wire.h) by hand, for
 * tests that look at the daemon from outside libumach: a hello that makes a task, and the
 * daemon's stats; a child forked with a given bootstrap port, waited for; and a service
 * named after this process, for the tasks it forks to look up.
 */
#ifndef WORLD_UTIL_H
#define WORLD_UTIL_H

#include "wire/um_wire.h"

#include <mach/mach.h>
#include <servers/bootstrap.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * In a forked child that becomes a daemon: a test that dies (its watchdog, a sanitizer, a
 * harness's timeout) leaves no world behind.
 */
static inline void w_die_with_parent(void)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
}

#ifdef UMACHD_PATH
/*
 * Start umachd serving `sock`, with the flags in `extra` (NULL-terminated, or NULL), and wait
 * until it listens (--ready-fd): its pid, or -1. It dies with the test (w_die_with_parent).
 */
static inline pid_t w_daemon_start(const char *sock, const char *const *extra)
{
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        w_die_with_parent();
        char fd[16];
        snprintf(fd, sizeof fd, "%d", ready[1]);
        fcntl(ready[1], F_SETFD, 0);
        const char *argv[16] = {"umachd", "--socket", sock, "--ready-fd", fd};
        for (int i = 0; extra && extra[i] && i < 10; i++)
            argv[5 + i] = extra[i];
        execv(UMACHD_PATH, (char *const *)argv);
        _exit(127);
    }
    close(ready[1]);
    char c = 0;
    ssize_t n = pid > 0 ? read(ready[0], &c, 1) : -1;
    close(ready[0]);
    if (n == 1)
        return pid;
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return -1;
}

/* SIGTERM a daemon w_daemon_start started and wait: its exit status (128 + N for signal N). */
static inline int w_daemon_stop(pid_t pid)
{
    int st = 0;
    kill(pid, SIGTERM);
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
#endif

typedef struct w_hello_reply {
    uint32_t version, task_name, pid;
    uint64_t secret[2];
} w_hello_reply;

/* Send one request (no payload, id 1) without waiting for its reply; 0, or -1. */
static inline int w_send(int fd, uint16_t call, const uint64_t *args, uint32_t nargs)
{
    struct {
        um_wire_hdr h;
        uint64_t a[UM_WIRE_MAX_ARGS];
    } req;
    memset(&req, 0, sizeof req);
    req.h.magic = UM_WIRE_MAGIC;
    req.h.call = call;
    req.h.id = 1;
    req.h.nargs = nargs;
    if (nargs)
        memcpy(req.a, args, nargs * sizeof *args);
    size_t len = sizeof req.h + nargs * sizeof *args;
    return send(fd, &req, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/*
 * One request (no payload) and its reply's result and arguments; 0, or -1 (hang-up, bad
 * reply). *kr gets the result.
 */
static inline int w_call(int fd, uint16_t call, const uint64_t *args, uint32_t nargs,
                         int32_t *kr, uint64_t *out, uint32_t nout)
{
    struct {
        um_wire_hdr h;
        uint64_t a[UM_WIRE_MAX_ARGS];
    } rep;
    if (w_send(fd, call, args, nargs) != 0)
        return -1;
    ssize_t n = recv(fd, &rep, sizeof rep, 0);
    if (n < (ssize_t)sizeof rep.h || rep.h.magic != UM_WIRE_MAGIC || rep.h.call != call ||
        rep.h.nargs < nout || (size_t)n != sizeof rep.h + rep.h.nargs * sizeof(uint64_t))
        return -1;
    *kr = rep.h.kr;
    if (nout)
        memcpy(out, rep.a, nout * sizeof *out);
    return 0;
}

/* A request that must succeed; 0, or -1 (hang-up, bad reply, an error). */
static inline int w_request(int fd, uint16_t call, const uint64_t *args, uint32_t nargs,
                            uint64_t *out, uint32_t nout)
{
    int32_t kr = -1;
    return w_call(fd, call, args, nargs, &kr, out, nout) == 0 && kr == 0 ? 0 : -1;
}

/* Join the task whose hello gave `secret` on a fresh connection `fd`; 0 or -1 (refused). */
static inline int w_join_task(int fd, const uint64_t secret[2])
{
    return w_request(fd, UM_WIRE_JOIN, secret, 2, NULL, 0);
}

/* Say hello on a fresh connection: it is a task's now. */
static inline int w_hello(int fd, w_hello_reply *r)
{
    uint64_t args[3] = {0, 0, 0}, out[5];
    if (w_request(fd, UM_WIRE_HELLO, args, 3, out, 5) != 0)
        return -1;
    r->version = (uint32_t)out[0];
    r->task_name = (uint32_t)out[1];
    r->pid = (uint32_t)out[2];
    r->secret[0] = out[3];
    r->secret[1] = out[4];
    return 0;
}

/* Tasks alive in the world, and names in the asking task's space. */
static inline int w_stats2(int fd, uint32_t *tasks, uint32_t *names)
{
    uint64_t out[2];
    if (w_request(fd, UM_WIRE_STATS, NULL, 0, out, 2) != 0)
        return -1;
    *tasks = (uint32_t)out[0];
    *names = (uint32_t)out[1];
    return 0;
}

/* Everything UM_WIRE_STATS says: tasks alive, names in the asking task's space, calls
 * waiting in the world (blocked sends and receives), open connections. */
typedef struct w_stats_all {
    uint32_t tasks, names, waiting, conns;
} w_stats_all;

static inline int w_stats4(int fd, w_stats_all *st)
{
    uint64_t out[4];
    if (w_request(fd, UM_WIRE_STATS, NULL, 0, out, 4) != 0)
        return -1;
    st->tasks = (uint32_t)out[0];
    st->names = (uint32_t)out[1];
    st->waiting = (uint32_t)out[2];
    st->conns = (uint32_t)out[3];
    return 0;
}

/* A connection to the world named by UMACH_WORLD (or `path`); -1 if there is none. */
static inline int w_connect_path(const char *path)
{
    if (!path)
        path = getenv("UMACH_WORLD");
    if (!path || !*path)
        return -1;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A hand-made task of the world (a connection that said hello): the daemon's observer. */
static inline int w_observer(const char *path)
{
    int fd = w_connect_path(path);
    w_hello_reply h;
    if (fd >= 0 && w_hello(fd, &h) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/*
 * UM_WIRE_STATS value `i`, asked by a hand-made observer task (UINT64_MAX when it cannot be
 * asked): 4 posted sends taken, 5 messages received through windows, 6 window receives that
 * differed from the window (never), 7 grants or windows found on a dead or moved port before
 * a reply (never), 8 calls of the core's hook on observed ports.
 */
enum { W_STAT_COUNT = 9, W_STAT_POSTS_TAKEN = 4 };
static inline uint64_t w_stat(unsigned i)
{
    int fd = w_observer(NULL);
    if (fd < 0 || i >= W_STAT_COUNT) {
        if (fd >= 0)
            close(fd);
        return UINT64_MAX;
    }
    uint64_t out[W_STAT_COUNT] = {0};
    int32_t kr = -1;
    int rc = w_call(fd, UM_WIRE_STATS, NULL, 0, &kr, out, W_STAT_COUNT);
    close(fd);
    return rc == 0 && kr == 0 ? out[i] : UINT64_MAX;
}

/*
 * fork() with `port` as the child's bootstrap port (the slot fork passes on): this task's own
 * slot is set to `port` for the fork and given its old right back after it.
 */
static inline pid_t w_fork_with(mach_port_t port)
{
    mach_port_t old = MACH_PORT_NULL;
    (void)task_get_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, &old);
    (void)task_set_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, port);
    pid_t kid = fork();
    if (kid != 0) {
        (void)task_set_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, old);
        if (MACH_PORT_VALID(old))
            (void)mach_port_deallocate(mach_task_self(), old);
    }
    return kid;
}

/*
 * A service of this process: a receive right with one send right, registered with the world's
 * bootstrap server as "org.machports.test.world.<test>.<pid>" (".<what>" added when `what` is
 * not NULL), so no other run of the test takes the name; forked tasks look `name` up.
 */
typedef struct w_service {
    char name[128];
    mach_port_t port; /* the receive right and one send right */
} w_service;

/* Release `s`'s receive right, then its send right's reference (a dead name by then; the
 * bootstrap server's entry goes with the port): KERN_SUCCESS, or the first failure. */
static inline kern_return_t w_service_close(w_service *s)
{
    kern_return_t kr = mach_port_mod_refs(mach_task_self(), s->port, MACH_PORT_RIGHT_RECEIVE, -1);
    kern_return_t kr2 = mach_port_deallocate(mach_task_self(), s->port);
    s->port = MACH_PORT_NULL;
    return kr != KERN_SUCCESS ? kr : kr2;
}

/* Make and register `s`: KERN_SUCCESS, or the failing step's error (the port, if made, is
 * released and `s->port` is MACH_PORT_NULL). */
static inline kern_return_t w_service_open(w_service *s, const char *test, const char *what)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "org.machports.test.world.%s.%d%s%s", test, (int)getpid(),
             what ? "." : "", what ? what : "");
    kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &s->port);
    if (kr != KERN_SUCCESS)
        return kr;
    kr = mach_port_insert_right(mach_task_self(), s->port, s->port, MACH_MSG_TYPE_MAKE_SEND);
    if (kr != KERN_SUCCESS) {
        (void)mach_port_mod_refs(mach_task_self(), s->port, MACH_PORT_RIGHT_RECEIVE, -1);
        s->port = MACH_PORT_NULL;
        return kr;
    }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    kr = bootstrap_register(bootstrap_port, s->name, s->port);
#pragma GCC diagnostic pop
    if (kr != KERN_SUCCESS)
        (void)w_service_close(s);
    return kr;
}

/*
 * Open the service `s` (w_service_open, no `what`) and fork a task that looks it up: it runs
 * `child` with the service's name and exits with its result. The child's pid, or -1 (the
 * service is closed again).
 */
static inline pid_t w_service_fork(w_service *s, const char *test, int (*child)(const char *))
{
    if (w_service_open(s, test, NULL) != KERN_SUCCESS)
        return -1;
    pid_t kid = fork();
    if (kid == 0)
        _exit(child(s->name));
    if (kid < 0)
        (void)w_service_close(s);
    return kid;
}

/* How many names this task's space has (0 when mach_port_names fails). */
static inline mach_msg_type_number_t w_name_count(void)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    if (mach_port_names(mach_task_self(), &names, &nn, &types, &nt) != KERN_SUCCESS)
        return 0;
    (void)vm_deallocate(mach_task_self(), (vm_address_t)names, nn * sizeof *names);
    (void)vm_deallocate(mach_task_self(), (vm_address_t)types, nt * sizeof *types);
    return nn;
}

/* A child's exit status, or 128 + the signal that ended it; -1 if it cannot be waited for. */
static inline int w_wait_status(pid_t kid)
{
    int st = -1;
    if (waitpid(kid, &st, 0) != kid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/*
 * Wait until the world's counters satisfy `pred` (asked every 2 ms, at most `limit_ms` in
 * all: a bound for a loaded machine, never a pacing). 0 once it holds, -1 otherwise.
 */
static inline int w_stats_until(int fd, int (*pred)(const w_stats_all *, const void *),
                                const void *arg, int limit_ms, w_stats_all *last)
{
    w_stats_all st;
    memset(&st, 0, sizeof st);
    for (int waited = 0; waited <= limit_ms; waited += 2) {
        if (w_stats4(fd, &st) != 0)
            return -1;
        if (pred(&st, arg)) {
            if (last)
                *last = st;
            return 0;
        }
        struct timespec ts = {0, 2000000L};
        nanosleep(&ts, NULL);
    }
    if (last)
        *last = st;
    return -1;
}

static inline int w_pred_tasks(const w_stats_all *st, const void *arg)
{
    return st->tasks == *(const uint32_t *)arg;
}

static inline int w_pred_waiting(const w_stats_all *st, const void *arg)
{
    return st->waiting == *(const uint32_t *)arg;
}

/* The number of tasks becomes `n` / the number of waiting calls becomes `n`. */
static inline int w_tasks_are(int fd, uint32_t n)
{
    return w_stats_until(fd, w_pred_tasks, &n, 20000, NULL);
}

static inline int w_waiting_is(int fd, uint32_t n)
{
    return w_stats_until(fd, w_pred_waiting, &n, 20000, NULL);
}

#endif
