/*
 * d_fork.c — what fork and exec pass on (docs/world.md, "fork and exec"; MACH_FACTS §2.16).
 *
 * On Darwin a new task inherits its parent's task-level slots, never a right of its space:
 * here, the special-port slots (TASK_BOOTSTRAP_PORT and the others um_task keeps), each as a
 * send right of its own. An *heir* record holds them between the old task and the new one:
 *
 *  - fork: just before fork(), the parent's client asks UM_WIRE_FORK on one of its thread
 *    connections; the daemon copies the parent's slots into an heir with a random 128-bit
 *    token and answers the token. The child (its atfork handler) says hello with that token
 *    (UM_WIRE_HELLO_FORKED), and the daemon gives the new task the heir's slots only when
 *    the kernel says the child is the parent's: its pid (SO_PEERCRED) has the parent's pid as
 *    its parent (/proc/PID/stat). A wrong token or another process gets a task of its own
 *    with the world's defaults; the client's word is never enough. The snapshot is taken
 *    before fork() returns, so a parent that puts its own bootstrap port back right after
 *    fork (the usual pattern with a subset) cannot race its child. posix_spawn and vfork
 *    get the same (src/umach/client/um_client_spawn.c): the token travels in the child's
 *    environment, and the same parenthood check applies.
 *  - exec: the control connection is close-on-exec, so exec hangs it up and the task ends.
 *    If the process is still alive then (its pidfd, opened at hello, is not readable), the
 *    ending task's slots move into an heir for its pid before the task is terminated; the new
 *    image's hello from the same live process takes them, with the audit token's pid version
 *    (kept across exec, as on Darwin). An heir whose process exits first is dropped.
 *
 * Heirs are few: a parent keeps at most D_FORK_HEIRS_MAX unclaimed fork heirs (its oldest
 * goes first) and they end with the parent's task; exec heirs end with their process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "umachd.h"

#include <mach/task_special_ports.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#define D_FORK_HEIRS_MAX 16
#define D_NSLOTS (sizeof(((um_task *)0)->special_ports) / sizeof(um_port *))

enum { D_HEIR_FORK = 1, D_HEIR_EXEC };

struct d_heir {
    d_heir *next;
    int kind;
    uint64_t token[2];      /* fork: what the child presents */
    pid_t pid;              /* fork: the parent's pid; exec: the process's */
    const d_task *parent;   /* fork: the task it came from (identity only, never followed) */
    int pidfd;              /* exec: the process, or -1 */
    uint32_t pid_version;   /* exec: the audit token's pid version, kept */
    um_port *slots[D_NSLOTS]; /* naked send rights, UM_PORT_DEAD or NULL */
};

static void heir_free(d_heir *h)
{
    for (size_t i = 0; i < D_NSLOTS; i++)
        if (UM_PORT_VALID(h->slots[i]))
            um_port_release_send(h->slots[i]);
    if (h->pidfd >= 0)
        close(h->pidfd);
    free(h);
}

static void heir_unlink(d_daemon *d, d_heir *h)
{
    for (d_heir **pp = &d->heirs; *pp; pp = &(*pp)->next) {
        if (*pp == h) {
            *pp = h->next;
            return;
        }
    }
}

/* Has the process behind `pidfd` exited (or can we no longer tell)? */
static bool pidfd_exited(int pidfd)
{
    if (pidfd < 0)
        return true;
    struct pollfd p = {pidfd, POLLIN, 0};
    return poll(&p, 1, 0) != 0;
}

/* The parent pid of `pid` as the kernel says (/proc/PID/stat), or -1. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* "pid (comm) state ppid ...": comm may hold anything, so read after its last ')'. */
    const char *p = strrchr(buf, ')');
    char state;
    int ppid;
    if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

void d_task_pin(d_task *t)
{
    t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
}

/* Drop exec heirs whose process has exited. */
void d_heirs_sweep(d_daemon *d)
{
    for (d_heir **pp = &d->heirs; *pp;) {
        d_heir *h = *pp;
        if (h->kind == D_HEIR_EXEC && pidfd_exited(h->pidfd)) {
            *pp = h->next;
            heir_free(h);
        } else {
            pp = &h->next;
        }
    }
}

bool d_fork_prepare(d_conn *c, const um_wire_pkt *p)
{
    if (p->h.nargs != 0 || p->h.blob_len != 0 || !c->task)
        return false;
    d_daemon *d = c->task->d;
    d_task *t = c->task;
    d_heir *h = calloc(1, sizeof *h);
    if (!h || getrandom(h->token, sizeof h->token, 0) != (ssize_t)sizeof h->token) {
        free(h);
        return d_reply(c, UM_WIRE_FORK, p->h.id, KERN_RESOURCE_SHORTAGE, NULL, 0, NULL, 0);
    }
    h->kind = D_HEIR_FORK;
    h->pid = t->pid;
    h->parent = t;
    h->pidfd = -1;
    for (size_t i = 0; i < D_NSLOTS; i++) {
        um_port *port = t->task->special_ports[i];
        if (UM_PORT_VALID(port) && !port->active)
            port = UM_PORT_DEAD;
        else if (UM_PORT_VALID(port))
            um_port_copy_send(port);
        h->slots[i] = port;
    }
    /* At most D_FORK_HEIRS_MAX unclaimed per parent: the oldest (last in the list) goes. */
    unsigned mine = 0;
    d_heir *oldest = NULL;
    for (d_heir *x = d->heirs; x; x = x->next) {
        if (x->kind == D_HEIR_FORK && x->parent == t) {
            mine++;
            oldest = x;
        }
    }
    if (mine >= D_FORK_HEIRS_MAX) {
        heir_unlink(d, oldest);
        heir_free(oldest);
    }
    h->next = d->heirs;
    d->heirs = h;
    uint64_t out[2] = {h->token[0], h->token[1]};
    return d_reply(c, UM_WIRE_FORK, p->h.id, KERN_SUCCESS, out, 2, NULL, 0);
}

bool d_heir_claim(d_daemon *d, d_task *t, const um_wire_pkt *p)
{
    d_heirs_sweep(d);
    bool forked = (p->args[0] & UM_WIRE_HELLO_FORKED) != 0;
    d_heir *h = NULL;
    for (d_heir *x = d->heirs; x && !h; x = x->next) {
        if (forked && x->kind == D_HEIR_FORK && x->token[0] == p->args[3] &&
            x->token[1] == p->args[4])
            h = x;
        else if (!forked && x->kind == D_HEIR_EXEC && x->pid == t->pid)
            h = x;
    }
    if (!h)
        return false;
    if (h->kind == D_HEIR_FORK && parent_of(t->pid) != h->pid)
        return false; /* not the parent's child: the token proves nothing alone */
    heir_unlink(d, h);
    memcpy(t->task->special_ports, h->slots, sizeof h->slots);
    memset(h->slots, 0, sizeof h->slots);
    if (h->kind == D_HEIR_EXEC)
        t->task->audit.val[7] = h->pid_version;
    heir_free(h);
    return true;
}

void d_heir_task_end(d_daemon *d, d_task *t)
{
    /* Fork heirs it made end with it: a child that has not claimed one gets the defaults. */
    for (d_heir **pp = &d->heirs; *pp;) {
        d_heir *h = *pp;
        if (h->kind == D_HEIR_FORK && h->parent == t) {
            *pp = h->next;
            heir_free(h);
        } else {
            pp = &h->next;
        }
    }
    int pidfd = t->pidfd;
    t->pidfd = -1;
    if (pidfd_exited(pidfd) || d->stopping) {
        if (pidfd >= 0)
            close(pidfd);
        return;
    }
    /* Its process lives on: it exec'd (or hung up and will exit; its pidfd will say). */
    d_heir *h = calloc(1, sizeof *h);
    if (!h) {
        close(pidfd);
        return;
    }
    h->kind = D_HEIR_EXEC;
    h->pid = t->pid;
    h->pidfd = pidfd;
    /* Its pidfd becomes readable when the process exits: the loop sweeps the heir then, so
     * a process that only hung up (killed, and not yet reaped) leaves nothing behind. */
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uintptr_t)h | D_EV_HEIR};
    (void)epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, pidfd, &ev);
    h->pid_version = t->task->audit.val[7];
    memcpy(h->slots, t->task->special_ports, sizeof h->slots);
    memset(t->task->special_ports, 0, sizeof t->task->special_ports);
    h->next = d->heirs;
    d->heirs = h;
}

void d_heirs_free(d_daemon *d)
{
    while (d->heirs) {
        d_heir *h = d->heirs;
        d->heirs = h->next;
        heir_free(h);
    }
}
