/*
 * world_util.h — speaking umachd's wire protocol (src/umach/wire/um_wire.h) by hand, for
 * tests that look at the daemon from outside libumach: a hello that makes a task, and the
 * daemon's stats.
 */
#ifndef WORLD_UTIL_H
#define WORLD_UTIL_H

#include "wire/um_wire.h"

#include <string.h>
#include <sys/socket.h>

typedef struct w_hello_reply {
    uint32_t version, task_name, pid;
    uint64_t secret[2];
} w_hello_reply;

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
    } req, rep;
    memset(&req, 0, sizeof req);
    req.h.magic = UM_WIRE_MAGIC;
    req.h.call = call;
    req.h.id = 1;
    req.h.nargs = nargs;
    if (nargs)
        memcpy(req.a, args, nargs * sizeof *args);
    size_t len = sizeof req.h + nargs * sizeof *args;
    if (send(fd, &req, len, MSG_NOSIGNAL) != (ssize_t)len)
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

#endif
