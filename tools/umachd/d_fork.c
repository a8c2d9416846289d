/*
 * d_fork.c — what fork and exec pass on (docs/world.md, "fork and exec"; MACH_FACTS §2.16).
 *
 * On Darwin a new task inherits its parent's task-level slots, never a right of its space:
 * here, the special-port slots (TASK_BOOTSTRAP_PORT and the others um_task keeps) and the
 * task's exception ports (XNU's ipc_task_init copies them at fork, and exec keeps them), each
 * as a send right of its own. An *heir* record holds them between the old task and the new one:
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
 *  - spawn: a token asked for posix_spawn (UM_WIRE_FORK_SPAWN) stays in the environment of
 *    whatever the child runs, so a program between the two that is not a task (a shell) hands
 *    it to the commands it forks. On Darwin each of those is a task that inherits through the
 *    shell; here the heir's slots go (each as a send right of its own, the heir kept) to any
 *    process whose way up to the parent passes only through processes that are no task of
 *    the world, the first of them (the spawn's child, the shell) the same process each time:
 *    the first such claim binds the heir to its pidfd, and the heir ends when that process
 *    exits. A process that has a task on its way up was started by that task (or stole the
 *    token): that task's own token is what it inherits through, never an older one. The
 *    spawn's child itself (the shell's `exec prog`) takes the heir as a forked child does,
 *    once, and its later children go through its own tokens.
 *  - exec: the control connection is close-on-exec, so exec hangs it up and the task ends.
 *    If the process is still alive then (its pidfd, opened at hello, is not readable), the
 *    ending task's slots move into an heir for its pid before the task is terminated; the new
 *    image's hello from the same live process takes them, with the audit token's pid version
 *    (kept across exec, as on Darwin). An heir whose process exits first is dropped. If the
 *    new image is no task (a shell), it is still the task on Darwin, and the commands it
 *    forks inherit from it: a process that says hello with no token gets copies of the slots
 *    of the first exec heir on its way up, when only processes that are no task of the world
 *    stand between (the same walk as a spawn's descendants, with no binding: every
 *    descendant of that process is its heir).
 *
 * Heirs are few: a parent keeps at most D_FORK_HEIRS_MAX unclaimed fork heirs (its oldest
 * goes first) and they end with the parent's task; exec heirs end with their process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "umachd.h"
#include "vm/um_usage.h"

#include <mach/task_special_ports.h>

#include <errno.h>
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
    bool spawn;             /* fork: UM_WIRE_FORK_SPAWN (descendants through non-tasks too) */
    pid_t top;              /* spawn: the child its descendants' claims went through, or 0 */
    int pidfd;              /* exec: the process; spawn: `top`; or -1 (the heir ends when it
                               exits) */
    uint32_t pid_version;   /* exec: the audit token's pid version, kept */
    um_port *slots[D_NSLOTS]; /* naked send rights, UM_PORT_DEAD or NULL */
    um_exc_action exc[UM_EXC_TYPES]; /* the task's exception ports, kept as the slots are */
};

static void heir_free(d_heir *h)
{
    for (size_t i = 0; i < D_NSLOTS; i++)
        if (UM_PORT_VALID(h->slots[i]))
            um_port_release_send(h->slots[i]);
    um_exc_release_all(h->exc);
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

/* Task t takes heir h's slots (the rights move to it) and the heir goes. */
static void heir_take(d_daemon *d, d_heir *h, d_task *t)
{
    heir_unlink(d, h);
    memcpy(t->task->special_ports, h->slots, sizeof h->slots);
    memset(h->slots, 0, sizeof h->slots);
    um_exc_release_all(t->task->exc_actions);
    memcpy(t->task->exc_actions, h->exc, sizeof h->exc);
    memset(h->exc, 0, sizeof h->exc);
    heir_free(h);
}

/*
 * Copy the slots `from` into `to`, each a send right of its own (a port that died since is
 * UM_PORT_DEAD). Conditions: `to` holds nothing.
 */
static void slots_copy(um_port *to[D_NSLOTS], um_port *const from[D_NSLOTS])
{
    for (size_t i = 0; i < D_NSLOTS; i++) {
        um_port *port = from[i];
        if (UM_PORT_VALID(port) && !port->active)
            port = UM_PORT_DEAD;
        else if (UM_PORT_VALID(port))
            um_port_copy_send(port);
        to[i] = port;
    }
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

static int pidfd_of(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

void d_task_pin(d_task *t)
{
    t->pidfd = pidfd_of(t->pid);
}

/* The exec heir of process `pid` (its task exec'd, its new image has not joined), or NULL. */
static d_heir *exec_heir_of(const d_daemon *d, pid_t pid)
{
    for (d_heir *h = d->heirs; h; h = h->next)
        if (h->kind == D_HEIR_EXEC && h->pid == pid)
            return h;
    return NULL;
}

/* Is `pid` a task of the world, or a process whose task exec'd (its new image not joined)? */
static bool pid_is_task(const d_daemon *d, pid_t pid)
{
    for (const d_task *t = d->tasks; t; t = t->next)
        if (t->pid == pid)
            return true;
    return exec_heir_of(d, pid) != NULL;
}

/* Processes between a spawn's child (or an exec'd process) and a descendant that claims its
 * heir, at most. */
#define D_DESCENT_MAX 32u

/*
 * Walk up from task t's process towards *owner (alive while `owner_fd`, its pidfd, is not
 * readable), through at most `depth_max` processes that are no task of the world; *owner 0:
 * towards the first process on the way that has an exec heir (alive while the heir's pidfd is
 * not readable), whose pid is then put in *owner. Returns the process on the way whose parent
 * is the owner (t's own process when t is the owner's child), with in *top_fd a pidfd of it
 * for the caller to close (-1 for t's own: t->pidfd pins it); or -1: another way, too long,
 * or not to be told without a race (no pidfds).
 *
 * Races: a pid read in /proc names whoever had it at the read, and a pidfd opened afterwards
 * may name a newer process. So a read of a process's parent is trusted only if that process's
 * pidfd is still not readable afterwards (it had not exited: its pid was not reused). And the
 * parent's pidfd is opened before the child's parent is read again: a child whose parent
 * exits is reparented at once, to init or a subreaper (both older than it, so neither can
 * have the dead parent's pid), so the same parent pid then says the pidfd names that parent.
 */
static pid_t descent_top(const d_daemon *d, const d_task *t, pid_t *owner, int owner_fd,
                         unsigned depth_max, int *top_fd)
{
    *top_fd = -1;
    pid_t cur = t->pid;
    int cur_fd = t->pidfd;
    for (unsigned depth = 0; cur_fd >= 0; depth++) {
        pid_t up = parent_of(cur);
        if (um_pidfd_exited(cur_fd) || up <= 1)
            break;
        const d_heir *x = *owner ? NULL : exec_heir_of(d, up);
        if (up == *owner || x) {
            if (um_pidfd_exited(x ? x->pidfd : owner_fd))
                break; /* then `up` may be another process */
            *owner = up;
            *top_fd = cur_fd == t->pidfd ? -1 : cur_fd;
            return cur;
        }
        if (depth == depth_max || pid_is_task(d, up))
            break; /* a task on the way inherits through its own tokens */
        int up_fd = pidfd_of(up);
        bool same = up_fd >= 0 && parent_of(cur) == up && !um_pidfd_exited(cur_fd);
        if (cur_fd != t->pidfd)
            close(cur_fd);
        cur_fd = up_fd;
        if (!same)
            break;
        cur = up;
    }
    if (cur_fd >= 0 && cur_fd != t->pidfd)
        close(cur_fd);
    return -1;
}

/* Drop exec heirs whose process has exited, and spawn heirs whose bound child has. */
void d_heirs_sweep(d_daemon *d)
{
    for (d_heir **pp = &d->heirs; *pp;) {
        d_heir *h = *pp;
        if ((h->kind == D_HEIR_EXEC || h->pidfd >= 0) && um_pidfd_exited(h->pidfd)) {
            *pp = h->next;
            heir_free(h);
        } else {
            pp = &h->next;
        }
    }
}

bool d_fork_prepare(d_conn *c, const um_wire_pkt *p)
{
    if (p->h.nargs > 1 || p->h.blob_len != 0 || !c->task ||
        (p->h.nargs == 1 && (p->args[0] & ~(uint64_t)UM_WIRE_FORK_SPAWN)))
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
    h->spawn = p->h.nargs == 1 && (p->args[0] & UM_WIRE_FORK_SPAWN);
    h->pidfd = -1;
    slots_copy(h->slots, t->task->special_ports);
    um_exc_inherit(h->exc, t->task->exc_actions, true); /* XNU's ipc_task_init at fork */
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

/*
 * Task t presents fork heir h's token: the slots are t's if the kernel says t's process is
 * the parent's child, or (a spawn's heir) a descendant through non-tasks by way of the child
 * the heir is bound to (descent_top). The child itself takes the heir; a descendant gets
 * copies and leaves it for the others. The token proves nothing alone.
 */
static bool fork_heir_claim(d_daemon *d, d_heir *h, d_task *t)
{
    int owner_fd = -1;
    for (const d_task *o = d->tasks; o; o = o->next)
        if (o == h->parent)
            owner_fd = o->pidfd;
    int top_fd = -1;
    pid_t owner = h->pid;
    pid_t top = descent_top(d, t, &owner, owner_fd, h->spawn ? D_DESCENT_MAX : 0, &top_fd);
    /* Without pidfds (an old kernel, valgrind) only the parent's child, as read once. */
    if (top < 0 && (t->pidfd < 0 || owner_fd < 0) && parent_of(t->pid) == h->pid)
        top = t->pid;
    if (top < 0 || (h->top && (top != h->top || um_pidfd_exited(h->pidfd)))) {
        if (top_fd >= 0)
            close(top_fd);
        return false; /* another way, or another child than the one its claims came through */
    }
    if (top == t->pid) {
        heir_take(d, h, t);
        return true;
    }
    if (!h->top) {
        /* Bound to this child from now on; the loop sweeps the heir when it exits. */
        h->top = top;
        h->pidfd = top_fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uintptr_t)h | D_EV_HEIR};
        (void)epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, top_fd, &ev);
    } else {
        close(top_fd);
    }
    slots_copy(t->task->special_ports, h->slots);
    um_exc_release_all(t->task->exc_actions);
    um_exc_inherit(t->task->exc_actions, h->exc, true);
    return true;
}

/*
 * Task t said hello with no token, and its process has no exec heir: if a process above it,
 * through processes that are no task of the world only, has one (a task that exec'd a program
 * that is no task, a shell), t gets copies of its slots, as on Darwin, where that program is
 * still the task and its children inherit from it. The heir stays for the others and for the
 * process's own next image.
 */
static bool exec_descendant_claim(d_daemon *d, d_task *t)
{
    bool any = false;
    for (const d_heir *h = d->heirs; h && !any; h = h->next)
        any = h->kind == D_HEIR_EXEC;
    if (!any)
        return false; /* no walk up for a hello in a world with no exec heir */
    pid_t owner = 0;
    int top_fd = -1;
    pid_t top = descent_top(d, t, &owner, -1, D_DESCENT_MAX, &top_fd);
    if (top_fd >= 0)
        close(top_fd);
    d_heir *h = top < 0 ? NULL : exec_heir_of(d, owner);
    if (!h)
        return false;
    slots_copy(t->task->special_ports, h->slots);
    um_exc_release_all(t->task->exc_actions);
    um_exc_inherit(t->task->exc_actions, h->exc, true);
    return true;
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
        return !forked && exec_descendant_claim(d, t);
    if (h->kind == D_HEIR_FORK)
        return fork_heir_claim(d, h, t);
    t->task->audit.val[7] = h->pid_version; /* the process's new image: its pid version kept */
    heir_take(d, h, t);
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
    if (um_pidfd_exited(pidfd) || d->stopping) {
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
    /* Exception ports stay across exec too (XNU resets them only for a privilege change). */
    memcpy(h->exc, t->task->exc_actions, sizeof h->exc);
    memset(t->task->exc_actions, 0, sizeof t->task->exc_actions);
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
