/*
 * world_roles.h — worlds of several processes for tests: start umachd, run this test program
 * again in a *role* (`PROGRAM --role NAME ARGS`, with UMACH_WORLD set: a process that joins
 * the world as a task), read the lines a role prints, end or kill it. The test program itself
 * stays in embedded mode. Common roles: `serve NAME` and `call NAME [WAIT_MS]`
 * (b_common_role); a test file's main sets b_self and runs its own roles.
 */
#ifndef WORLD_ROLES_H
#define WORLD_ROLES_H

#include "mt.h"

#include <mach/mach.h>
#include <servers/bootstrap.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char b_path[108];

/* Run umachd with `args` (NULL-terminated, after argv[0]); stdout+stderr into out. */
static inline pid_t b_spawn(const char *const *args, char *out, size_t outlen, int *outfd)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        /* A test that dies (its watchdog, a sanitizer) leaves no world behind. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(p[1], 1);
        dup2(p[1], 2);
        const char *argv[16] = {"umachd"};
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(UMACHD_PATH, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    if (out) {
        size_t len = 0;
        ssize_t n;
        while (len < outlen - 1 && (n = read(p[0], out + len, outlen - 1 - len)) > 0)
            len += (size_t)n;
        out[len] = 0;
        close(p[0]);
    } else {
        *outfd = p[0];
    }
    return pid;
}

static inline int b_status(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Connect to the world's socket (bounded retries while it starts); -1 if it never listened. */
static inline int b_join(void)
{
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", b_path);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* ---- a world and its processes -------------------------------------------------------------- */

static const char *b_self; /* this program, run again for each role */
static pid_t b_daemon;

/* bootstrap_register is deprecated on Darwin, still part of the API under test. */
static inline kern_return_t b_register(mach_port_t bp, const char *name, mach_port_t sp)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    return bootstrap_register(bp, (char *)name, sp);
#pragma GCC diagnostic pop
}

/* Start a world (umachd with `extra` arguments, NULL-terminated, at most 8). 0: it listens. */
static inline int b_world_start(const char *const *extra)
{
    snprintf(b_path, sizeof b_path, "/tmp/umachd_bootstrap_%d.sock", (int)getpid());
    const char *args[12] = {"--socket", b_path};
    int n = 2;
    for (int i = 0; extra && extra[i] && n < 11; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    int errfd = -1;
    b_daemon = b_spawn(args, NULL, 0, &errfd);
    if (b_daemon <= 0)
        return -1;
    close(errfd); /* its messages, if any, are not this test's */
    int fd = b_join();
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static inline int b_world_stop(void)
{
    kill(b_daemon, SIGTERM);
    return b_status(b_daemon);
}

typedef struct b_role {
    pid_t pid;
    int out; /* the role's stdout */
} b_role;

/* Run this program as `role` with up to two arguments, as a task of the world. */
static inline b_role b_role_start(const char *role, const char *a1, const char *a2)
{
    b_role r = {-1, -1};
    int p[2];
    if (pipe(p) != 0)
        return r;
    fflush(NULL);
    r.pid = fork();
    if (r.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        setenv("UMACH_WORLD", b_path, 1);
        const char *argv[] = {b_self, "--role", role, a1, a2, NULL};
        execv(b_self, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    r.out = p[0];
    return r;
}

/* The role's next line (without its newline), within `seconds` (scaled); false at EOF/timeout. */
static inline bool b_line(b_role *r, char *buf, size_t len, int seconds)
{
    size_t n = 0;
    double limit = seconds * (mt_timeout_scale() > 0 ? mt_timeout_scale() : 1);
    double until = mt_now() + limit;
    while (n < len - 1) {
        struct pollfd pfd = {r->out, POLLIN, 0};
        int left = (int)((until - mt_now()) * 1000);
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return false;
        ssize_t got = read(r->out, buf + n, 1);
        if (got <= 0)
            return false;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = 0;
    return true;
}

/* Expect the role's next line to be `want`. */
static inline bool b_expect(b_role *r, const char *want)
{
    char line[512];
    if (!b_line(r, line, sizeof line, 10)) {
        fprintf(stderr, "  (no line from the role; wanted \"%s\")\n", want);
        return false;
    }
    if (strcmp(line, want) != 0) {
        fprintf(stderr, "  (the role said \"%s\"; wanted \"%s\")\n", line, want);
        return false;
    }
    return true;
}

/*
 * Wait for the role to end by itself (within 10 s, scaled; then it is killed and the result
 * is -2); its exit status (128 + N for signal N).
 */
static inline int b_role_end(b_role *r)
{
    if (r->out >= 0)
        close(r->out);
    r->out = -1;
    double scale = mt_timeout_scale() > 0 ? mt_timeout_scale() : 1;
    double until = mt_now() + 10 * scale;
    int st = 0;
    pid_t got;
    while ((got = waitpid(r->pid, &st, WNOHANG)) == 0 && mt_now() < until) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (got == 0) {
        fprintf(stderr, "  (role %d did not end: killed)\n", (int)r->pid);
        kill(r->pid, SIGKILL);
        waitpid(r->pid, &st, 0);
        return -2;
    }
    if (got != r->pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline int b_role_kill(b_role *r)
{
    kill(r->pid, SIGKILL);
    if (r->out >= 0)
        close(r->out);
    r->out = -1;
    return b_status(r->pid);
}

/* Run role `serve NAME` and check that it checked NAME in. */
static inline b_role b_server_start(const char *name)
{
    b_role server = b_role_start("serve", name, NULL);
    MT_CHECK(b_expect(&server, "check_in 0"));
    return server;
}

/* Run role `call NAME` to its end and check that it found NAME and a server answered it. */
static inline void b_call_succeeds(const char *name)
{
    b_role client = b_role_start("call", name, NULL);
    MT_CHECK(b_expect(&client, "look_up 0"));
    MT_CHECK(b_expect(&client, "rpc 0 107"));
    MT_EQ(b_role_end(&client), 0);
}

/* Kill a role that serves until killed, then stop the world; check both went as they should. */
static inline void b_kill_and_stop(b_role *server)
{
    MT_EQ(b_role_kill(server), 128 + SIGKILL);
    MT_EQ(b_world_stop(), 0);
}

/* A name no other test uses. */
static inline const char *b_name(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "org.umach.test.world.bootstrap.%d.%s", (int)getpid(), what);
    return buf;
}

/* ---- roles (each runs in a process of the world) -------------------------------------------- */

typedef union {
    mach_msg_header_t h;
    mig_reply_error_t err;
    uint8_t bytes[1024];
} b_msg;

static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* Answer every request on `port` with id + 100, for good. */
static inline int serve(mach_port_t port)
{
    for (;;) {
        b_msg m;
        memset(&m, 0, sizeof m);
        if (mach_msg(&m.h, MACH_RCV_MSG, 0, sizeof m, port, 0, MACH_PORT_NULL) != MACH_MSG_SUCCESS)
            return 1;
        if (m.h.msgh_remote_port == MACH_PORT_NULL) {
            mach_msg_destroy(&m.h);
            continue;
        }
        mach_msg_header_t r;
        memset(&r, 0, sizeof r);
        r.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(m.h.msgh_bits), 0);
        r.msgh_size = sizeof r;
        r.msgh_remote_port = m.h.msgh_remote_port;
        r.msgh_id = m.h.msgh_id + 100;
        if (mach_msg(&r, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof r, 0, MACH_PORT_NULL, 1000,
                     MACH_PORT_NULL) != MACH_MSG_SUCCESS)
            mach_msg_destroy(&r);
    }
}

/* serve NAME: check NAME in, say "check_in CODE", answer requests until killed. */
static inline int role_serve(const char *name)
{
    mach_port_t port = MACH_PORT_NULL;
    kern_return_t kr = bootstrap_check_in(bootstrap_port, name, &port);
    say("check_in %d", kr);
    return kr == KERN_SUCCESS ? serve(port) : 1;
}

/*
 * call NAME: look NAME up (say "look_up CODE"); on success make an RPC with id 7 and say
 * "rpc CODE REPLY-ID" (waits up to `wait_ms`, from the second argument, default 10000).
 */
static inline int role_call(const char *name, const char *wait)
{
    mach_port_t port = MACH_PORT_NULL, reply = MACH_PORT_NULL;
    kern_return_t kr = bootstrap_look_up(bootstrap_port, name, &port);
    say("look_up %d", kr);
    if (kr != KERN_SUCCESS)
        return 0;
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply) != KERN_SUCCESS)
        return 1;
    b_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    m.h.msgh_size = sizeof m.h;
    m.h.msgh_remote_port = port;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = 7;
    mach_msg_timeout_t ms = wait ? (mach_msg_timeout_t)atoi(wait) : 10000;
    mach_msg_return_t mr = mach_msg(&m.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT,
                                    sizeof m.h, sizeof m, reply, ms, MACH_PORT_NULL);
    say("rpc %d %d", mr, mr == MACH_MSG_SUCCESS ? m.h.msgh_id : 0);
    return 0;
}

/* The common roles; -1 when `role` is none of them. */
static inline int b_common_role(const char *role, const char *a1, const char *a2)
{
    if (strcmp(role, "serve") == 0)
        return role_serve(a1);
    if (strcmp(role, "call") == 0)
        return role_call(a1, a2);
    return -1;
}

#endif
