/*
 * d_loop.c — umachd's epoll loop: connections, hello and join, task birth and death, the
 * ready list of woken waiters, deadlines and replies. Nothing here blocks on a client: every
 * socket is non-blocking, a client whose socket cannot take its reply loses its task, and a
 * request that does not decode ends the task of the client that sent it and nothing else.
 *
 * Connections are freed only after the loop's round (a later event of the same round may
 * name one that an earlier event ended), so an ended connection is only marked dead, closed
 * and taken out of epoll at once.
 */
#define _GNU_SOURCE
#include "umachd.h"

#include "kern/um_bootstrap.h"
#include "vm/um_usage.h"

#include <mach/exception_types.h>
#include <mach/task_special_ports.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- deadlines: a binary heap of waiting calls, soonest first --------------------------- */

static void heap_swap(d_daemon *d, size_t a, size_t b)
{
    d_msg_call *t = d->heap[a];
    d->heap[a] = d->heap[b];
    d->heap[b] = t;
    d->heap[a]->heap_index = a;
    d->heap[b]->heap_index = b;
}

static void heap_up(d_daemon *d, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (d->heap[parent]->deadline_ns <= d->heap[i]->deadline_ns)
            break;
        heap_swap(d, i, parent);
        i = parent;
    }
}

static void heap_down(d_daemon *d, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->heap_len && d->heap[l]->deadline_ns < d->heap[m]->deadline_ns)
            m = l;
        if (r < d->heap_len && d->heap[r]->deadline_ns < d->heap[m]->deadline_ns)
            m = r;
        if (m == i)
            break;
        heap_swap(d, i, m);
        i = m;
    }
}

bool d_heap_add(d_daemon *d, d_msg_call *m)
{
    if (d->heap_len == d->heap_cap) {
        size_t cap = d->heap_cap ? d->heap_cap * 2 : 16;
        d_msg_call **h = realloc(d->heap, cap * sizeof *h);
        if (!h)
            return false;
        d->heap = h;
        d->heap_cap = cap;
    }
    m->heap_index = d->heap_len;
    d->heap[d->heap_len++] = m;
    heap_up(d, m->heap_index);
    return true;
}

void d_heap_remove(d_daemon *d, d_msg_call *m)
{
    size_t i = m->heap_index;
    if (i >= d->heap_len || d->heap[i] != m)
        return;
    d->heap_len--;
    if (i != d->heap_len) {
        d->heap[i] = d->heap[d->heap_len];
        d->heap[i]->heap_index = i;
        heap_up(d, i);
        heap_down(d, d->heap[i]->heap_index);
    }
    m->heap_index = (size_t)-1;
}

/* ---- the ready list ------------------------------------------------------------------------ */

void d_ready(d_daemon *d, d_conn *c)
{
    if (c->ready)
        return;
    c->ready = true;
    c->ready_next = NULL;
    if (d->ready_tail)
        d->ready_tail->ready_next = c;
    else
        d->ready_head = c;
    d->ready_tail = c;
}

static d_conn *ready_pop(d_daemon *d)
{
    d_conn *c = d->ready_head;
    if (c) {
        d->ready_head = c->ready_next;
        if (!d->ready_head)
            d->ready_tail = NULL;
        c->ready = false;
    }
    return c;
}

/* ---- looking at rings again before sleeping -----------------------------------------------
 *
 * The client of a ring just replied to is the likeliest to post next (a server's reply and
 * next receive, a client's next call). The daemon promises, in the ring, to look at its
 * posted count before it sleeps, so a client that posts meanwhile writes no eventfd and is
 * served without an epoll wake-up. Before it looks, the daemon lets the clients post: when a
 * ring's client runs on another CPU it polls those rings for up to UMACH_SPIN_US (never when
 * it shares the client's CPU: there it would only hold the client up); when the client runs
 * on its CPU it yields to it once. A poll or a yield that finds nothing makes it skip the
 * next 1, 3, 7 ... 255, as a client's spin does.
 */

static void look_add(d_daemon *d, d_conn *c)
{
    um_ring_look(&c->ring);
    if (c->looking)
        return;
    c->looking = true;
    c->look_next = d->look_head;
    d->look_head = c;
}

static void look_remove(d_daemon *d, d_conn *c)
{
    if (!c->looking)
        return;
    c->looking = false;
    for (d_conn **pp = &d->look_head; *pp; pp = &(*pp)->look_next) {
        if (*pp == c) {
            *pp = c->look_next;
            return;
        }
    }
}

/* Whether one of the rings looked at has a post. */
static bool look_any_posted(const d_daemon *d)
{
    for (const d_conn *c = d->look_head; c; c = c->look_next)
        if (um_ring_posted(&c->ring))
            return true;
    return false;
}

/* Poll the rings looked at for up to UMACH_SPIN_US (their clients run on other CPUs). */
static void look_spin(d_daemon *d)
{
    if (um_backoff_skips(&d->spin_backoff))
        return;
    uint64_t until = um_now_ns() + d->spin_ns;
    for (unsigned k = 1;; k++) {
        um_cpu_pause();
        if (look_any_posted(d)) {
            um_backoff_found(&d->spin_backoff, true);
            return;
        }
        if ((k & 31) == 0 && um_now_ns() >= until)
            break;
    }
    um_backoff_found(&d->spin_backoff, false);
}

/*
 * Let the clients of the rings looked at, woken by the replies on this CPU, run before the
 * promises end: one that posts at once (a server's reply, a client's next call) then needs
 * neither an eventfd write nor an epoll wake-up, and is not preempted by the daemon it would
 * wake. A yield after which nothing was posted makes the daemon skip the next 1, 3, 7 ... 255.
 */
static void look_yield(d_daemon *d)
{
    if (um_backoff_skips(&d->yield_backoff))
        return;
    sched_yield();
    um_backoff_found(&d->yield_backoff, look_any_posted(d));
}

/* Before the promises end: poll the rings whose clients run elsewhere, or yield to those here. */
static void look_wait(d_daemon *d)
{
    /* Where the daemon runs now: rounds served from the rings go without an epoll wake-up,
     * which is where the loop learns it otherwise (and the replies tell the clients). */
    int cpu = sched_getcpu();
    d->cpu = cpu < 0 ? UINT32_MAX : (uint32_t)cpu;
    if (d->cpu == UINT32_MAX || look_any_posted(d))
        return;
    bool elsewhere = false, here = false;
    for (const d_conn *c = d->look_head; c; c = c->look_next) {
        uint32_t cpu = um_ring_client_cpu(&c->ring);
        if (cpu != UINT32_MAX) {
            elsewhere |= cpu != d->cpu;
            here |= cpu == d->cpu;
        }
    }
    if (elsewhere && d->spin_ns)
        look_spin(d);
    else if (here)
        look_yield(d);
}

static int d_ring_request(d_daemon *d, d_conn *c);
static void drain_ready(d_daemon *d);
static void end_doomed(d_daemon *d);
static void conn_end(d_daemon *d, d_conn *c);

/* Keep the promises: serve what was posted in the rings looked at, and what that replies to. */
static void look_settle(d_daemon *d)
{
    while (d->look_head) {
        look_wait(d);
        d_conn *list = d->look_head;
        d->look_head = NULL;
        while (list) {
            d_conn *c = list;
            list = c->look_next;
            if (!c->looking)
                continue; /* ended meanwhile (conn_end took it off) */
            c->looking = false;
            if (c->dead || !c->ring.base || !um_ring_unlook(&c->ring))
                continue;
            if (d_ring_request(d, c) < 0)
                conn_end(d, c);
            drain_ready(d);
            end_doomed(d);
        }
    }
}

/* ---- connections and tasks -------------------------------------------------------------- */

static void task_end(d_daemon *d, d_task *t);

/* Close a connection now; it is freed after the round. A control connection ends its task. */
static void conn_end(d_daemon *d, d_conn *c)
{
    if (c->dead)
        return;
    /* Its posted sends were made before it ended: taken first, then its grants closed. */
    d_post_conn_end(d, c);
    c->dead = true;
    look_remove(d, c);
    epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (c->ring.base) {
        /* The client holds the same eventfd: without this its writes would still be events. */
        epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, c->ring.evfd, NULL);
        /* A client asleep on its ring wakes and finds its socket closed. */
        um_ring_abandon(&c->ring);
        um_ring_unmap(&c->ring);
    }
    d_msg_drop(c);
    d_kobject_thread_end(c);
    d_task *t = c->task;
    if (c->kind == D_CONN_THREAD && t) {
        for (d_conn **pp = &t->threads; *pp; pp = &(*pp)->tnext) {
            if (*pp == c) {
                *pp = c->tnext;
                t->nthreads--;
                break;
            }
        }
        c->task = NULL;
    } else if (c->kind == D_CONN_CONTROL && t) {
        task_end(d, t);
    }
}

/*
 * Task death: the control connection is gone (or a fatal guard). Its threads' waits are
 * cancelled and their connections closed first, then the core ends the task.
 */
static void task_end(d_daemon *d, d_task *t)
{
    while (t->threads)
        conn_end(d, t->threads);
    if (t->control) {
        d_conn *c = t->control;
        t->control = NULL;
        c->task = NULL;
        conn_end(d, c);
    }
    for (d_task **pp = &d->tasks; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    d_heir_task_end(d, t);
    d_kobject_task_end(t);
    um_task_terminate(t->task);
    um_xmem_owner_release(t->xm_owner); /* its queued copies keep it while they live */
    d->ntasks--;
    free(t);
}

bool d_reply(d_conn *c, uint16_t call, uint64_t id, int32_t kr, const uint64_t *args,
             uint32_t nargs, const void *blob, uint32_t blob_len)
{
    return d_reply_xmem(c, call, id, kr, args, nargs, blob, blob_len, 0, NULL, 0);
}

bool d_reply_xmem(d_conn *c, uint16_t call, uint64_t id, int32_t kr, const uint64_t *args,
                  uint32_t nargs, const void *blob, uint32_t blob_len, uint32_t xmem_len,
                  const int *fds, uint32_t nfds)
{
    if (c->dead)
        return true;
    bool ring = c->ring_reply;
    c->ring_reply = false;
    um_wire_hdr h;
    memset(&h, 0, sizeof h);
    h.call = call;
    h.id = id;
    h.kr = kr;
    h.nargs = nargs;
    h.blob_len = blob_len;
    d_task *t = c->task;
    /* Nothing is seen before a stale grant is revoked (a queue kernel-made messages took
     * past its limit; a dead or moved port, which the core's hook took back first): a send
     * after this reply cannot be posted on it. */
    if (t)
        d_post_check(t->d);
    if (c->raise && !(t && t->doomed)) {
        c->raise = false;
        h.flags |= UM_WIRE_F_RAISE_GUARD | (c->raise_fatal ? UM_WIRE_F_RAISE_FATAL : 0);
        h.guard_flavor = c->raise_flavor;
        h.guard_name = c->raise_name;
        h.guard_payload = c->raise_payload;
    }
    if (t && t->doomed) {
        h.flags |= UM_WIRE_F_FATAL_GUARD;
        h.guard_flavor = t->guard_flavor;
        h.guard_name = t->guard_name;
        h.guard_payload = t->guard_payload;
    }
    if (xmem_len) {
        h.flags |= UM_WIRE_F_XMEM; /* also for the ring (um_wire_send_xmem sets it too) */
        h.xmem_len = xmem_len;
    }
    if (ring && c->ring.base) {
        um_ring_ctl_of(&c->ring)->daemon_cpu = t ? t->d->cpu : UINT32_MAX;
        if (t)
            look_add(t->d, c); /* its client is the likeliest to post next */
        if (!nfds && um_ring_fits(nargs, blob_len)) {
            um_ring_put(um_ring_rep_area(&c->ring), &h, args, blob);
            um_ring_done(&c->ring, UM_RING_REP);
            return true;
        }
        /* Too big for the ring, or with memfds: on the socket, and the ring says so. */
        bool sent = um_wire_send_xmem(c->fd, &h, args, blob, xmem_len, fds, nfds) == 0;
        um_ring_done(&c->ring, UM_RING_SOCK);
        return sent;
    }
    return um_wire_send_xmem(c->fd, &h, args, blob, xmem_len, fds, nfds) == 0;
}

/* ---- policy hooks ------------------------------------------------------------------------ */

/*
 * A fatal guard exception ends the task once its call is over (the reply tells the client,
 * which aborts as embedded mode does), unless the task asked for non-fatal guards. When the
 * calling thread or the task has an EXC_GUARD port, the reply tells the client to raise the
 * exception to it instead (and then to abort, for a fatal one).
 */
static void d_guard(um_task *task, mach_port_name_t name, uint64_t payload, uint32_t flavor,
                    bool fatal)
{
    d_task *t = task->fe;
    bool dies = fatal && !(t->flags & UM_WIRE_HELLO_GUARD_NONFATAL);
    d_conn *c = t->serving;
    if (c && !t->doomed && um_exc_port_set(task, c->thread_port, EXC_GUARD)) {
        if (!c->raise) {
            c->raise = true;
            c->raise_fatal = dies;
            c->raise_flavor = flavor;
            c->raise_name = name;
            c->raise_payload = payload;
        }
        dies = false;
    }
    if (dies) {
        if (!t->doomed) {
            t->doomed = true;
            t->guard_flavor = flavor;
            t->guard_name = name;
            t->guard_payload = payload;
        }
        return;
    }
    if (t->flags & UM_WIRE_HELLO_GUARD_LOG)
        fprintf(stderr, "umachd: task of pid %d: Mach port guard exception on port 0x%x: %s\n",
                (int)t->pid, name, um_guard_flavor_name(flavor));
}

/*
 * task_info on a task: what its process uses. Its process may have ended and been reaped, and
 * its pid given to another, before the loop sees the hang-up: the task's pidfd (d_task_pin)
 * tells, and a process that ended is a task that ended.
 */
static bool d_usage(um_task *task, unsigned more, um_task_usage *out)
{
    d_task *t = task->fe;
    return um_proc_usage_pinned(t->pid, t->pidfd, more, out);
}

/* A task's guard policy: its hello's UMACH_GUARD_NONFATAL, then task_set_exc_guard_behavior. */
static bool d_guard_fatal(um_task *task, int set)
{
    d_task *t = task->fe;
    if (set == 1)
        t->flags &= ~UM_WIRE_HELLO_GUARD_NONFATAL;
    else if (set == 0)
        t->flags |= UM_WIRE_HELLO_GUARD_NONFATAL;
    return !(t->flags & UM_WIRE_HELLO_GUARD_NONFATAL);
}

/*
 * task_suspend's first hold on a task stops its process (SIGSTOP, through its pidfd when
 * pinned: never another process given the pid), and the call returns once every thread has
 * stopped (XNU's task_wait) or after 200 ms; the last hold released continues it (SIGCONT).
 */
static void d_hold(um_task *task, bool held)
{
    d_task *t = task->fe;
    int sig = held ? SIGSTOP : SIGCONT;
    if (t->pidfd >= 0)
        (void)syscall(SYS_pidfd_send_signal, t->pidfd, sig, NULL, 0);
    else
        (void)kill(t->pid, sig);
    for (int i = 0; held && i < 2000 && !um_proc_stopped(t->pid); i++) {
        struct timespec pause = {0, 100 * 1000};
        (void)nanosleep(&pause, NULL);
    }
}

static const um_task_hooks d_hooks = {.guard = d_guard,
                                      .usage = d_usage,
                                      .guard_fatal = d_guard_fatal,
                                      .threads = d_kobject_threads,
                                      .hold = d_hold};

static bool uid_allowed(const d_daemon *d, uid_t uid)
{
    if (uid == getuid())
        return true;
    for (unsigned i = 0; i < d->nallowed; i++)
        if (d->allowed[i] == uid)
            return true;
    return false;
}

/* Connections of one process that have not said hello or join yet, at most. */
enum { D_NEW_CONNS_PER_PID = 64 };

static unsigned new_conns_of(const d_daemon *d, pid_t pid)
{
    unsigned n = 0;
    for (const d_conn *c = d->conns; c; c = c->all_next)
        n += !c->dead && c->kind == D_CONN_NEW && c->pid == pid;
    return n;
}

/*
 * Out of descriptors (EMFILE, ENFILE): the listening socket stays readable, so the loop would
 * spin on it. It leaves epoll until a connection is freed (reap), and the connections that
 * wait meanwhile stay in the backlog, to be accepted then.
 */
static void accept_pause(d_daemon *d, bool pause)
{
    if (d->accept_paused == pause)
        return;
    struct epoll_event ev = {.events = pause ? 0 : EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(d->epoll_fd, EPOLL_CTL_MOD, d->listen_fd, &ev) == 0)
        d->accept_paused = pause;
}

/* Accept a connection: it is new until its first request says what it is. */
static void d_accept(d_daemon *d)
{
    int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            accept_pause(d, true);
        return;
    }
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || !uid_allowed(d, cred.uid) ||
        new_conns_of(d, cred.pid) >= D_NEW_CONNS_PER_PID) {
        close(fd);
        return;
    }
    d_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->kind = D_CONN_NEW;
    c->fd = fd;
    c->pid = cred.pid;
    c->uid = cred.uid;
    c->gid = cred.gid;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        free(c);
        return;
    }
    c->all_next = d->conns;
    d->conns = c;
}

/*
 * Read the process's current credentials into the task's tokens (/proc/PID/status: the
 * kernel's, never the client's word). Falls back to what SO_PEERCRED said.
 */
static void task_tokens(d_task *t, uid_t uid, gid_t gid)
{
    unsigned ruid = uid, euid = uid, rgid = gid, egid = gid;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)t->pid);
    FILE *f = fopen(path, "re");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "Uid:", 4) == 0)
                (void)sscanf(line + 4, "%u %u", &ruid, &euid);
            else if (strncmp(line, "Gid:", 4) == 0)
                (void)sscanf(line + 4, "%u %u", &rgid, &egid);
        }
        fclose(f);
    }
    um_task *k = t->task;
    k->sec.val[0] = euid;
    k->sec.val[1] = egid;
    /* Darwin's layout: auid, euid, egid, ruid, rgid, pid, asid, pid version. */
    k->audit.val[0] = ruid;
    k->audit.val[1] = euid;
    k->audit.val[2] = egid;
    k->audit.val[3] = ruid;
    k->audit.val[4] = rgid;
}

void d_task_recheck_creds(d_task *t, uint32_t gen)
{
    if (gen == t->cred_gen)
        return;
    t->cred_gen = gen;
    task_tokens(t, t->task->sec.val[0], t->task->sec.val[1]);
}

/*
 * A process's hello after exec: its old image's control connection is closed already (exec
 * closed it), but its hang-up may wait in this round's events. End that task first, so that
 * its slots are there to be passed on.
 */
static void settle_exec(d_daemon *d, pid_t pid)
{
again:
    for (d_task *t = d->tasks; t; t = t->next) {
        if (t->pid != pid || !t->control)
            continue;
        struct pollfd pfd = {t->control->fd, POLLRDHUP, 0};
        if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
            conn_end(d, t->control); /* ends t: the list changed */
            goto again;
        }
    }
}

/*
 * UM_WIRE_HELLO: the connection becomes a task's control connection. Its space holds its
 * task port and a send right to the bootstrap port in its slot (bootstrap_port): the one its
 * parent (fork) or its old image (exec) passed on, else the world's.
 */
static bool d_hello(d_daemon *d, d_conn *c, const um_wire_pkt *p)
{
    bool forked = p->h.nargs == 5 && (p->args[0] & UM_WIRE_HELLO_FORKED);
    if ((p->h.nargs != 3 && !forked) || p->h.blob_len != 0)
        return false;
    if (!forked)
        settle_exec(d, c->pid);
    /* One uid may not fill the world with tasks: the hello is refused (and closed). */
    uint32_t mine = 0;
    for (d_task *o = d->tasks; o; o = o->next)
        mine += o->uid == c->uid;
    if (mine >= d->uid_tasks_max) {
        (void)d_reply(c, UM_WIRE_HELLO, p->h.id, KERN_RESOURCE_SHORTAGE, NULL, 0, NULL, 0);
        return false;
    }
    d_task *t = calloc(1, sizeof *t);
    if (!t)
        return false;
    uint64_t table = p->args[1], queued = p->args[2];
    /* UMACH_PORT_TABLE_MAX may only lower the world's limit on a task's names. */
    uint32_t names = d->task_names_max;
    if (table >= 2 && table < names)
        names = (uint32_t)table;
    d->kernel.table_limit = names + 1;
    /* The client's own limits for its task, within the daemon's. */
    d->kernel.queued_limit = queued && queued < d->queued_cap ? queued : d->queued_cap;
    t->task = um_task_create(&d->kernel, &d_memops, &d_hooks, t);
    t->xm_owner = um_xmem_owner_new(D_TASK_MEMFDS_MAX);
    if (!t->task || !t->xm_owner ||
        getrandom(t->secret, sizeof t->secret, 0) != (ssize_t)sizeof t->secret) {
        if (t->task)
            um_task_terminate(t->task);
        um_xmem_owner_release(t->xm_owner);
        free(t);
        return false;
    }
    t->d = d;
    t->pid = c->pid;
    t->uid = c->uid;
    d_task_pin(t);
    t->flags = (uint32_t)p->args[0] & (UM_WIRE_HELLO_GUARD_NONFATAL | UM_WIRE_HELLO_GUARD_LOG);
    t->control = c;
    t->next = d->tasks;
    d->tasks = t;
    d->ntasks++;
    c->kind = D_CONN_CONTROL;
    c->task = t;
    task_tokens(t, c->uid, c->gid);
    t->task->audit.val[5] = (unsigned)c->pid;
    t->task->audit.val[6] = (unsigned)c->pid;
    t->task->audit.val[7] = ++d->pid_version;
    /* Slots passed on by a fork or an exec, else the world's bootstrap port. */
    if (!d_heir_claim(d, t, p) && d->kernel.bootstrap) {
        um_port *bp = um_bootstrap_port(d->kernel.bootstrap);
        um_port_make_send(bp);
        t->task->special_ports[TASK_BOOTSTRAP_PORT] = bp;
    }
    /* bootstrap_port: the task's name for its slot, as libsystem names it at start-up. */
    mach_port_name_t bname = MACH_PORT_NULL;
    um_port *bp = t->task->special_ports[TASK_BOOTSTRAP_PORT];
    if (bp == UM_PORT_DEAD || (bp && !bp->active)) {
        bname = MACH_PORT_DEAD;
    } else if (bp) {
        um_port_copy_send(bp);
        if (um_right_copyout(t->task->space, bp, MACH_MSG_TYPE_PORT_SEND, &bname) != KERN_SUCCESS)
            bname = MACH_PORT_NULL;
    }
    uint64_t out[6] = {UM_WIRE_VERSION, t->task->task_name, (uint64_t)c->pid, t->secret[0],
                       t->secret[1], bname};
    return d_reply(c, UM_WIRE_HELLO, p->h.id, KERN_SUCCESS, out, 6, NULL, 0);
}

/*
 * Give thread connection `c` its ring: the memfd and the eventfd go to the client with the
 * JOIN reply; the daemon's epoll watches the eventfd (edge-triggered: each post is an edge,
 * nothing is read). false: no ring (the connection stays on the socket alone).
 */
static bool join_ring(d_daemon *d, d_conn *c, int *memfd)
{
    if (um_ring_create(&c->ring, memfd) != 0)
        return false;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = (uintptr_t)c | 1u};
    if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, c->ring.evfd, &ev) != 0) {
        um_ring_unmap(&c->ring);
        close(*memfd);
        *memfd = -1;
        return false;
    }
    return true;
}

/* UM_WIRE_JOIN: a thread connection of the task whose secret it presents, same process. */
static bool d_join(d_daemon *d, d_conn *c, const um_wire_pkt *p)
{
    if (p->h.nargs < 2 || p->h.nargs > 4 || p->h.blob_len != 0)
        return false;
    d_task *t = d->tasks;
    while (t && !(t->secret[0] == p->args[0] && t->secret[1] == p->args[1]))
        t = t->next;
    if (!t || t->pid != c->pid)
        return false; /* a wrong secret, or another process's: refused */
    if (t->nthreads >= d->task_threads_max) {
        /* One task may not take every descriptor of the daemon: this connection is refused
         * (and closed); the task and its other threads go on. */
        (void)d_reply(c, UM_WIRE_JOIN, p->h.id, KERN_RESOURCE_SHORTAGE, NULL, 0, NULL, 0);
        return false;
    }
    c->kind = D_CONN_THREAD;
    c->task = t;
    c->tid = p->h.nargs == 4 ? p->args[3] : 0;
    c->tnext = t->threads;
    t->threads = c;
    t->nthreads++;
    int memfd = -1;
    if (p->h.nargs >= 3 && (p->args[2] & UM_WIRE_JOIN_RING) && join_ring(d, c, &memfd)) {
        um_wire_hdr h;
        memset(&h, 0, sizeof h);
        h.call = UM_WIRE_JOIN;
        h.id = p->h.id;
        h.flags = UM_WIRE_F_RING;
        int fds[2] = {memfd, c->ring.evfd};
        bool ok = um_wire_send_fds(c->fd, &h, NULL, NULL, fds, 2) == 0;
        close(memfd);
        return ok;
    }
    return d_reply(c, UM_WIRE_JOIN, p->h.id, KERN_SUCCESS, NULL, 0, NULL, 0);
}

static bool d_stats(d_daemon *d, d_conn *c, const um_wire_pkt *p)
{
    if (p->h.nargs != 0 || p->h.blob_len != 0 || !c->task)
        return false;
    uint64_t waiting = 0, conns = 0;
    for (d_conn *o = d->conns; o; o = o->all_next) {
        if (o->dead)
            continue;
        conns++;
        if (o->pending)
            waiting++;
    }
    uint64_t out[9] = {d->ntasks,        um_space_inuse(c->task->task->space),
                       waiting,          conns,
                       d->posts_taken,   d->win_received,
                       d->win_mismatch,  d->revoked_late,
                       d->revoke_hooks};
    return d_reply(c, UM_WIRE_STATS, p->h.id, KERN_SUCCESS, out, 9, NULL, 0);
}

/*
 * One request of `c`: 1 served, 0 nothing queued, -1 the connection ends (hang-up, a
 * malformed request, a reply that cannot be sent).
 */
/*
 * A thread connection sent what does not decode (or cannot take its reply): the whole task
 * ends, as a malformed request on its control connection would end it; nothing else does.
 */
static void task_of_thread_fails(d_daemon *d, d_conn *c)
{
    if (c->kind == D_CONN_THREAD && c->task && !c->dead)
        task_end(d, c->task);
}

static int d_request(d_daemon *d, d_conn *c)
{
    um_wire_pkt p;
    int rc = um_wire_recv(c->fd, &d->rbuf, &p, UM_WIRE_BLOB_MAX, MSG_DONTWAIT);
    if (rc == -EAGAIN || rc == -EINTR)
        return 0;
    if (rc == -EPROTO)
        task_of_thread_fails(d, c);
    if (rc <= 0)
        return -1;
    c->ring_reply = false;
    return d_serve(d, c, &p);
}

/*
 * The request `c`'s client posted in its ring, copied out before anything reads it: 1
 * served, 0 none posted, -1 the connection ends.
 */
static int d_ring_request(d_daemon *d, d_conn *c)
{
    if (!c->ring.base || !um_ring_claim(&c->ring))
        return 0;
    um_wire_pkt p;
    if (um_ring_take(um_ring_req_area(&c->ring), &d->rbuf, &p, UM_WIRE_BLOB_MAX) != 1) {
        task_of_thread_fails(d, c);
        return -1;
    }
    c->ring_reply = true;
    return d_serve(d, c, &p);
}

/* Resume every call whose waiter was woken, and whatever their resumption wakes. */
static void drain_ready(d_daemon *d);

/*
 * Posted sends took effect when they were made: every one is taken before anything else is
 * served, and the receivers they woke are answered.
 */
static void take_posts(d_daemon *d)
{
    if (!d->nposters)
        return;
    if (d_post_drain_all(d))
        drain_ready(d);
    d_win_fill_all(d);
}

int d_serve(d_daemon *d, d_conn *c, um_wire_pkt *pkt)
{
    um_wire_pkt p = *pkt;
    bool ok;
    take_posts(d);
    if (c->task && c->task->lied) {
        /* Its posts did not check (or its memory did not): the task ends, this call unserved. */
        um_wire_pkt_free(&p);
        task_of_thread_fails(d, c);
        return -1;
    }
    /* No request revokes grants or windows by its kind: the core tells, before it changes
     * a right or a port state one stands on, whatever call or message does it (d_post.c,
     * port_changing). */
    /* The guard exceptions raised while serving the request are its thread's (d_guard). */
    if (c->kind == D_CONN_THREAD && c->task)
        c->task->serving = c;
    if (c->kind == D_CONN_NEW) {
        ok = p.h.call == UM_WIRE_HELLO   ? d_hello(d, c, &p)
             : p.h.call == UM_WIRE_JOIN ? d_join(d, c, &p)
                                        : false;
    } else if (p.h.call == UM_WIRE_STATS) {
        ok = d_stats(d, c, &p);
    } else if (p.h.call == UM_WIRE_LSMP) {
        ok = d_lsmp(d, c, &p);
    } else if (c->kind != D_CONN_THREAD) {
        ok = false; /* calls travel on thread connections only */
    } else if (p.h.call == UM_WIRE_CANCEL) {
        ok = p.h.nargs == 0 && p.h.blob_len == 0 && d_msg_cancel(c, p.h.id);
    } else if (p.h.call == UM_WIRE_BYE) {
        /* The thread exits: what it waited for is dropped, its port dies, then the reply. */
        ok = p.h.nargs == 0 && p.h.blob_len == 0;
        if (ok) {
            d_msg_drop(c);
            d_kobject_thread_end(c);
            ok = d_reply(c, UM_WIRE_BYE, p.h.id, KERN_SUCCESS, NULL, 0, NULL, 0);
        }
    } else if (c->pending) {
        ok = false; /* one outstanding request per thread connection */
    } else if (p.h.call == UM_WIRE_MSG) {
        ok = d_msg(c, &p);
    } else if (p.h.call == UM_WIRE_FORK) {
        ok = d_fork_prepare(c, &p);
    } else if (d_kobject_is_call(p.h.call)) {
        ok = d_kobject_call(c, &p);
    } else if (d_entry_is_call(p.h.call)) {
        ok = d_entry_call(c, &p);
    } else {
        ok = d_call(c, &p);
    }
    um_wire_pkt_free(&p);
    if (c->kind == D_CONN_THREAD && c->task)
        c->task->serving = NULL;
    if (!ok)
        task_of_thread_fails(d, c);
    return ok ? 1 : -1;
}

/* A fatal guard made the task doomed: it ends now that its call has replied. */
static void end_doomed(d_daemon *d)
{
    d_task *t = d->tasks;
    while (t) {
        d_task *next = t->next;
        if (t->doomed || t->lied)
            task_end(d, t);
        t = next;
    }
}

static void drain_ready(d_daemon *d)
{
    d_conn *c;
    while ((c = ready_pop(d)) != NULL) {
        if (c->dead || !c->pending)
            continue;
        if (!d_msg_resume(c))
            conn_end(d, c);
    }
}

static void expire_deadlines(d_daemon *d)
{
    if (!d->heap_len)
        return; /* no clock read on a round without timed waits */
    uint64_t now = um_now_ns();
    while (d->heap_len && d->heap[0]->deadline_ns <= now) {
        d_conn *c = d->heap[0]->conn;
        d_heap_remove(d, d->heap[0]);
        if (!d_msg_expire(c))
            conn_end(d, c);
        drain_ready(d);
    }
}

/* Free the connections that ended during the round. */
static void reap(d_daemon *d)
{
    for (d_conn **pp = &d->conns; *pp;) {
        d_conn *c = *pp;
        if (c->dead && !c->ready) {
            *pp = c->all_next;
            free(c);
            accept_pause(d, false); /* a descriptor was freed: accept again */
        } else {
            pp = &c->all_next;
        }
    }
}

void d_conn_failed(d_daemon *d, d_conn *c)
{
    task_of_thread_fails(d, c);
    conn_end(d, c);
}

void d_settle(d_daemon *d)
{
    drain_ready(d);
    end_doomed(d);
}

void d_loop_init(d_daemon *d)
{
    /* A task's queued bytes: at most half the machine's memory, at least 2 GiB (embedded
     * mode's default for UMACH_QUEUED_BYTES_MAX). */
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    uint64_t half = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize / 2 : 0;
    if (!d->queued_cap)
        d->queued_cap = half > (2ull << 30) ? half : (2ull << 30);
    if (!d->task_names_max)
        d->task_names_max = UM_TABLE_DEFAULT_MAX - 1; /* embedded mode's default */
    if (!d->task_threads_max)
        d->task_threads_max = D_TASK_THREADS_MAX;
    d->spin_ns = um_ring_spin_ns();
    if (!d->uid_tasks_max)
        d->uid_tasks_max = D_UID_TASKS_MAX;
    /* Every task's queued bytes together: by default as much as one task may hold. */
    if (!d->queued_world.max)
        d->queued_world.max = half > (2ull << 30) ? half : (2ull << 30);
    d->queued_world.refs = 1; /* the daemon's: never released */
    d->kernel.queued_total = &d->queued_world;
    d->kernel.bootstrap = um_bootstrap_create();
    if (!d->kernel.bootstrap)
        fprintf(stderr, "umachd: no memory for the world's bootstrap server\n");
}

void d_loop_run(d_daemon *d, volatile sig_atomic_t *stop, const void *waitmask)
{
    while (!*stop) {
        int timeout = -1;
        take_posts(d);
        /* First what the rings replied to last round may have posted (it may arm a timer). */
        look_settle(d);
        end_doomed(d);
        uint64_t at = d_timers_expire(d, um_now_ns());
        drain_ready(d);
        if (d->look_head)
            continue; /* the timers' messages made replies: look at those rings first */
        if (d->heap_len && (at == 0 || d->heap[0]->deadline_ns < at))
            at = d->heap[0]->deadline_ns;
        if (at) {
            uint64_t now = um_now_ns();
            uint64_t ms = at > now ? (at - now + 999999) / 1000000 : 0;
            timeout = ms > 60000 ? 60000 : (int)ms;
        }
        if (!d_post_may_sleep(d))
            timeout = 0; /* a post came while the rings were told to wake us */
        struct epoll_event evs[32];
        int n = epoll_pwait(d->epoll_fd, evs, 32, timeout, (const sigset_t *)waitmask);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("umachd: epoll_wait");
            break;
        }
        if (n > 0) {
            int cpu = sched_getcpu();
            d->cpu = cpu < 0 ? UINT32_MAX : (uint32_t)cpu;
        }
        take_posts(d); /* before the hang-ups and deadlines this round brings */
        for (int i = 0; i < n; i++) {
            if ((evs[i].data.u64 & 3u) == D_EV_HEIR) { /* an heir's process exited */
                d_heirs_sweep(d);
                continue;
            }
            if (evs[i].data.u64 & 1u) { /* a ring's eventfd: a request was posted */
                d_conn *c = (d_conn *)(uintptr_t)(evs[i].data.u64 & ~(uint64_t)1);
                if (c->dead)
                    continue;
                if (d_ring_request(d, c) < 0)
                    conn_end(d, c);
                drain_ready(d);
                end_doomed(d);
                continue;
            }
            d_conn *c = evs[i].data.ptr;
            if (!c) {
                d_accept(d);
                continue;
            }
            if (c->dead)
                continue;
            bool hup = (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
            int rc = 1;
            if (evs[i].events & EPOLLIN)
                rc = d_request(d, c);
            /* Requests still queued before a hang-up are served first. */
            while (hup && rc == 1 && !c->dead) {
                drain_ready(d);
                rc = d_request(d, c);
            }
            if (!hup && rc >= 0) {
                drain_ready(d);
                end_doomed(d);
                continue;
            }
            if (!c->dead)
                conn_end(d, c);
            drain_ready(d);
            end_doomed(d);
        }
        expire_deadlines(d);
        end_doomed(d);
        reap(d);
    }
}

void d_loop_shutdown(d_daemon *d)
{
    d->stopping = true;
    while (d->tasks)
        task_end(d, d->tasks);
    for (d_conn *c = d->conns; c; c = c->all_next)
        conn_end(d, c);
    d->ready_head = d->ready_tail = NULL;
    for (d_conn *c = d->conns; c; c = c->all_next)
        c->ready = false;
    reap(d);
    free(d->heap);
    d->heap = NULL;
    d_heirs_free(d);
    d_kobjects_shutdown(d);
    if (d->kernel.bootstrap) {
        um_bootstrap_destroy(d->kernel.bootstrap);
        d->kernel.bootstrap = NULL;
    }
}
