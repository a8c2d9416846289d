/*
 * d_kobjects.c — kernel objects in a world (kern/um_kobject_ports.h), as umachd serves them:
 *
 * - A thread's port belongs to its thread connection: made the first time the thread asks
 *   (mach_thread_self), destroyed when the connection ends (the thread exits: the client says
 *   UM_WIRE_BYE before it closes, so that the port is dead before pthread_join returns), so
 *   send rights to it become dead names.
 * - The host port is the world's, one for every task, made on first use.
 * - A semaphore wait that must block is a deferred reply (d_msg.c, d_sema_wait): a signal
 *   resumes it, its deadline ends it with KERN_OPERATION_TIMED_OUT, a cancel (a signal
 *   handler ran in the client) with KERN_ABORTED.
 * - Armed timers are a list (each holding a port reference); the loop sleeps no longer than
 *   the earliest deadline and then asks the core to fire what is due (um_timer_expire queues
 *   the timer's message). Deadlines are mach_absolute_time units, CLOCK_MONOTONIC
 *   nanoseconds, the same clock in every process.
 */
#define _GNU_SOURCE
#include "umachd.h"

#include "api/um_api.h"
#include "kern/um_kobject.h"
#include "kern/um_kobject_ports.h"
#include "vm/um_usage.h"

#include <stdlib.h>
#include <string.h>

typedef struct d_timer {
    struct d_timer *next;
    um_port *port;     /* a reference */
    uint64_t deadline; /* when to look at it next */
} d_timer;

bool d_kobject_is_call(uint16_t call)
{
    return (call >= UM_WIRE_THREAD_SELF && call <= UM_WIRE_TIMER_CANCEL) ||
           call == UM_WIRE_THREAD_PORTS || call == UM_WIRE_THREAD_GONE ||
           call == UM_WIRE_THREAD_WHO;
}

/* A thread port's thread has ended: the port dies, names for it become dead names. Consumes
 * the kernel's receive-right reference. */
static void thread_port_end(um_port *port)
{
    um_thread_exc_terminate(port);
    um_port_destroy(port);
}

void d_kobject_thread_end(d_conn *c)
{
    if (c->thread_port) {
        um_port *port = c->thread_port;
        c->thread_port = NULL;
        thread_port_end(port);
    }
}

/* Drop the made port `*pp` (its thread has ended): the port dies. */
static void made_drop(d_task *t, d_made_thread **pp)
{
    d_made_thread *m = *pp;
    *pp = m->next;
    thread_port_end(m->port);
    free(m);
    t->nmade--;
}

void d_kobject_task_end(d_task *t)
{
    while (t->made)
        made_drop(t, &t->made);
}

/*
 * The port task_threads made for the thread of connection `c` (which lives: it is asking),
 * taken for the connection to own, or NULL. Made ports of earlier threads with its id go.
 */
static um_port *made_take(d_task *t, d_conn *c)
{
    d_made_thread *m = t->made;
    while (m && m->tid != c->tid)
        m = m->next;
    if (!m || !c->tid)
        return NULL;
    uint64_t start = 0;
    bool alive = um_proc_thread_read(t->pid, (pid_t)c->tid, &start);
    um_port *port = NULL;
    for (d_made_thread **pp = &t->made; *pp;) {
        m = *pp;
        if (m->tid != c->tid) {
            pp = &m->next;
        } else if (alive && m->start == start && !port) {
            port = m->port;
            *pp = m->next;
            free(m);
            t->nmade--;
        } else {
            made_drop(t, pp);
        }
    }
    return port;
}

/* Most threads one THREAD_PORTS may list (16 bytes each, within a wire blob). */
#define D_THREAD_PORTS_MAX (1u << 20)

/* More threads than the task can have ports for (thread connections and made ports, each at
 * most --task-threads-max): refused before any work, whose cost grows with both. */
static bool too_many_threads(const d_task *t, size_t n)
{
    return n > 2 * (size_t)t->d->task_threads_max;
}

/* The made ports of threads that are not among `ids` (thread id and start time pairs) die. */
static void made_sweep(d_task *t, const uint64_t *ids, size_t n)
{
    for (d_made_thread **pp = &t->made; *pp;) {
        size_t i = 0;
        while (i < n && !(ids[2 * i] == (*pp)->tid && ids[2 * i + 1] == (*pp)->start))
            i++;
        if (i == n)
            made_drop(t, pp);
        else
            pp = &(*pp)->next;
    }
}

/*
 * The port of the task's live thread `tid` started at `start` (borrowed): its connection's
 * own port (made now if it has none), or a made one. NULL: out of memory, or the task has as
 * many made ports as it may have thread connections.
 */
static um_port *thread_port_of(d_task *t, uint64_t tid, uint64_t start)
{
    d_conn *of = tid ? t->threads : NULL;
    while (of && of->tid != tid)
        of = of->tnext;
    if (of) {
        if (!of->thread_port)
            of->thread_port = made_take(t, of);
        if (!of->thread_port)
            of->thread_port = um_kobject_port_alloc(UM_KOT_THREAD, NULL);
        return of->thread_port;
    }
    d_made_thread *m = t->made;
    while (m && !(m->tid == tid && m->start == start))
        m = m->next;
    if (m)
        return m->port;
    if (t->nmade >= t->d->task_threads_max || (m = calloc(1, sizeof *m)) == NULL)
        return NULL;
    m->port = um_kobject_port_alloc(UM_KOT_THREAD, NULL);
    if (!m->port) {
        free(m);
        return NULL;
    }
    m->tid = tid;
    m->start = start;
    m->next = t->made;
    t->made = m;
    t->nmade++;
    return m->port;
}

/*
 * UM_WIRE_THREAD_PORTS: a send right to the port of each thread the client listed (its live
 * threads). Made ports of threads no longer listed die first. All or nothing: on a failure
 * the rights given so far go back and the reply says KERN_RESOURCE_SHORTAGE.
 */
static bool thread_ports(d_conn *c, const um_wire_pkt *p)
{
    if (p->h.nargs != 0 || p->h.blob_len == 0 || p->h.blob_len % 16 != 0 ||
        p->h.blob_len / 16 > D_THREAD_PORTS_MAX)
        return false;
    d_task *t = c->task;
    um_task *self = t->task;
    uint32_t n = p->h.blob_len / 16;
    if (too_many_threads(t, n))
        return d_reply(c, p->h.call, p->h.id, KERN_RESOURCE_SHORTAGE, NULL, 0, NULL, 0);
    uint64_t *ids = malloc((size_t)n * 16);
    uint32_t *names = malloc((size_t)n * 4);
    if (!ids || !names) {
        free(ids);
        free(names);
        return d_reply(c, p->h.call, p->h.id, KERN_RESOURCE_SHORTAGE, NULL, 0, NULL, 0);
    }
    memcpy(ids, p->blob, (size_t)n * 16);
    made_sweep(t, ids, n);
    kern_return_t kr = KERN_SUCCESS;
    uint32_t i;
    for (i = 0; i < n && kr == KERN_SUCCESS; i++) {
        um_port *port = thread_port_of(t, ids[2 * i], ids[2 * i + 1]);
        names[i] = MACH_PORT_NULL;
        kr = port ? um_kobject_copyout_send(self->space, port, &names[i])
                  : KERN_RESOURCE_SHORTAGE;
    }
    if (kr != KERN_SUCCESS) {
        for (uint32_t j = 0; j + 1 < i; j++)
            (void)um_api_mach_port_deallocate(self, self->task_name, names[j]);
        kr = KERN_RESOURCE_SHORTAGE;
    }
    bool ok = d_reply(c, p->h.call, p->h.id, kr, NULL, 0, names,
                      kr == KERN_SUCCESS ? n * 4 : 0);
    free(ids);
    free(names);
    return ok;
}

kern_return_t d_kobject_threads(um_task *task, um_port ***portsp, uint32_t *countp)
{
    d_task *t = task->fe;
    size_t n = 0;
    um_thread_id *list = um_proc_threads(t->pid, 2 * (size_t)t->d->task_threads_max, &n);
    if (!list)
        return KERN_RESOURCE_SHORTAGE;
    if (too_many_threads(t, n)) {
        free(list);
        return KERN_RESOURCE_SHORTAGE;
    }
    uint64_t *ids = n ? malloc(n * 16) : NULL;
    um_port **ports = ids ? malloc(n * sizeof *ports) : NULL;
    if (!ports) {
        free(list);
        free(ids);
        return n ? KERN_RESOURCE_SHORTAGE : KERN_FAILURE;
    }
    for (size_t i = 0; i < n; i++) {
        ids[2 * i] = (uint64_t)list[i].tid;
        ids[2 * i + 1] = list[i].start;
    }
    free(list);
    made_sweep(t, ids, n);
    for (size_t i = 0; i < n; i++) {
        ports[i] = thread_port_of(t, ids[2 * i], ids[2 * i + 1]);
        if (!ports[i]) {
            for (size_t j = 0; j < i; j++)
                um_right_release(ports[j], MACH_MSG_TYPE_PORT_SEND);
            free(ports);
            free(ids);
            return KERN_RESOURCE_SHORTAGE;
        }
        um_port_make_send(ports[i]);
    }
    free(ids);
    *portsp = ports;
    *countp = (uint32_t)n;
    return KERN_SUCCESS;
}

/* UM_WIRE_THREAD_WHO: the thread a thread port of the task's space stands for. */
static bool thread_who(d_conn *c, const um_wire_pkt *p)
{
    if (p->h.nargs != 1 || p->h.blob_len != 0)
        return false;
    d_task *t = c->task;
    um_port *port;
    uint64_t out[3] = {0, 0, 0};
    kern_return_t kr =
        um_kobject_translate_send(t->task->space, (mach_port_name_t)p->args[0], UM_KOT_THREAD, &port);
    if (kr == KERN_SUCCESS) {
        kr = KERN_INVALID_ARGUMENT;
        for (d_conn *of = t->threads; of; of = of->tnext) {
            if (of->thread_port == port && of->tid) {
                out[0] = of->tid;
                kr = KERN_SUCCESS;
            }
        }
        for (d_made_thread *m = t->made; m; m = m->next) {
            if (m->port == port) {
                out[0] = m->tid;
                out[1] = m->start;
                out[2] = 1;
                kr = KERN_SUCCESS;
            }
        }
    } else {
        kr = KERN_INVALID_ARGUMENT;
    }
    return d_reply(c, p->h.call, p->h.id, kr, out, kr == KERN_SUCCESS ? 3 : 0, NULL, 0);
}

static void timer_unlist(d_daemon *d, um_port *port)
{
    for (d_timer **pp = &d->timers; *pp; pp = &(*pp)->next) {
        if ((*pp)->port == port) {
            d_timer *t = *pp;
            *pp = t->next;
            um_port_release(t->port);
            free(t);
            return;
        }
    }
}

uint64_t d_timers_expire(d_daemon *d, uint64_t now)
{
    uint64_t next = 0;
    for (d_timer **pp = &d->timers; *pp;) {
        d_timer *t = *pp;
        if (t->deadline <= now) {
            t->deadline = um_timer_expire(t->port, now);
            if (t->deadline == 0) {
                *pp = t->next;
                um_port_release(t->port);
                free(t);
                continue;
            }
        }
        if (next == 0 || t->deadline < next)
            next = t->deadline;
        pp = &t->next;
    }
    return next;
}

void d_kobjects_shutdown(d_daemon *d)
{
    while (d->timers)
        timer_unlist(d, d->timers->port);
    if (d->kernel.host_port) {
        um_port_destroy(d->kernel.host_port);
        d->kernel.host_port = NULL;
    }
    for (int i = 0; i < UM_CLOCK_COUNT; i++) {
        if (d->kernel.clocks[i].port) {
            um_port_destroy(d->kernel.clocks[i].port);
            d->kernel.clocks[i].port = NULL;
        }
    }
    um_kobject_reserve_free(&d->kernel);
}

#define A(i) (p->args[i])
#define U32(i) ((uint32_t)p->args[i])

static bool reply1(d_conn *c, const um_wire_pkt *p, kern_return_t kr, uint64_t v)
{
    return d_reply(c, p->h.call, p->h.id, kr, &v, 1, NULL, 0);
}

static bool reply0(d_conn *c, const um_wire_pkt *p, kern_return_t kr)
{
    return d_reply(c, p->h.call, p->h.id, kr, NULL, 0, NULL, 0);
}

bool d_kobject_call(d_conn *c, const um_wire_pkt *p)
{
    static const uint8_t nargs[] = {
        [UM_WIRE_THREAD_SELF - UM_WIRE_THREAD_SELF] = 0,
        [UM_WIRE_HOST_SELF - UM_WIRE_THREAD_SELF] = 0,
        [UM_WIRE_THREAD_GET_SPECIAL_PORT - UM_WIRE_THREAD_SELF] = 2,
        [UM_WIRE_KOBJECT_CHECK - UM_WIRE_THREAD_SELF] = 2,
        [UM_WIRE_SEMAPHORE_CREATE - UM_WIRE_THREAD_SELF] = 3,
        [UM_WIRE_SEMAPHORE_DESTROY - UM_WIRE_THREAD_SELF] = 2,
        [UM_WIRE_SEMAPHORE_SIGNAL - UM_WIRE_THREAD_SELF] = 2,
        [UM_WIRE_SEMAPHORE_WAIT - UM_WIRE_THREAD_SELF] = 3,
        [UM_WIRE_TIMER_CREATE - UM_WIRE_THREAD_SELF] = 0,
        [UM_WIRE_TIMER_DESTROY - UM_WIRE_THREAD_SELF] = 1,
        [UM_WIRE_TIMER_ARM - UM_WIRE_THREAD_SELF] = 2,
        [UM_WIRE_TIMER_CANCEL - UM_WIRE_THREAD_SELF] = 1,
    };
    if (p->h.call == UM_WIRE_THREAD_PORTS)
        return thread_ports(c, p);
    if (p->h.call == UM_WIRE_THREAD_WHO)
        return thread_who(c, p);
    if (p->h.call == UM_WIRE_THREAD_GONE) {
        if (p->h.nargs != 2 || p->h.blob_len != 0)
            return false;
        for (d_made_thread **pp = &c->task->made; *pp; pp = &(*pp)->next) {
            if ((*pp)->tid == A(0) && (*pp)->start == A(1)) {
                made_drop(c->task, pp);
                break;
            }
        }
        return reply0(c, p, KERN_SUCCESS);
    }
    if (!d_kobject_is_call(p->h.call) || p->h.blob_len != 0)
        return false;
    /* THREAD_SELF may name another thread of the task by its kernel thread id. */
    if (p->h.nargs != nargs[p->h.call - UM_WIRE_THREAD_SELF] &&
        !(p->h.call == UM_WIRE_THREAD_SELF && p->h.nargs == 1))
        return false;
    d_task *t = c->task;
    d_daemon *d = t->d;
    um_task *self = t->task;
    um_space *space = self->space;
    kern_return_t kr;
    switch (p->h.call) {
    case UM_WIRE_THREAD_SELF: {
        /* The caller's thread, or (an exception raised on a faulting thread's behalf) the
         * thread of the task whose own connection said that thread id. */
        d_conn *of = c;
        if (p->h.nargs == 1) {
            of = A(0) ? t->threads : NULL;
            while (of && of->tid != A(0))
                of = of->tnext;
            if (!of)
                return reply1(c, p, KERN_INVALID_ARGUMENT, MACH_PORT_NULL);
        }
        /* A port task_threads made for the thread before it asked is its own now. */
        if (!of->thread_port)
            of->thread_port = made_take(t, of);
        if (!of->thread_port)
            of->thread_port = um_kobject_port_alloc(UM_KOT_THREAD, NULL);
        mach_port_name_t name = MACH_PORT_NULL;
        if (!of->thread_port ||
            um_kobject_copyout_send(space, of->thread_port, &name) != KERN_SUCCESS)
            name = MACH_PORT_NULL;
        return reply1(c, p, KERN_SUCCESS, name);
    }
    case UM_WIRE_HOST_SELF: {
        um_port *host = um_host_port(&d->kernel);
        mach_port_name_t name = MACH_PORT_NULL;
        if (!host || um_kobject_copyout_send(space, host, &name) != KERN_SUCCESS)
            name = MACH_PORT_NULL;
        return reply1(c, p, KERN_SUCCESS, name);
    }
    case UM_WIRE_THREAD_GET_SPECIAL_PORT: {
        um_port *port;
        mach_port_name_t name = MACH_PORT_NULL;
        kr = um_kobject_translate_send(space, U32(0), UM_KOT_THREAD, &port);
        if (kr != KERN_SUCCESS)
            kr = MACH_SEND_INVALID_DEST; /* the MIG stub's send to a name that is no thread */
        else if ((int)U32(1) != THREAD_KERNEL_PORT)
            kr = KERN_INVALID_ARGUMENT; /* no inspect or read ports */
        else
            kr = um_kobject_copyout_send(space, port, &name);
        return reply1(c, p, kr, name);
    }
    case UM_WIRE_KOBJECT_CHECK: {
        um_port *port;
        if (A(1) > UINT8_MAX)
            return false;
        return reply0(c, p, um_kobject_translate_send(space, U32(0), (uint8_t)A(1), &port));
    }
    case UM_WIRE_SEMAPHORE_CREATE: {
        mach_port_name_t name = MACH_PORT_NULL;
        if (!um_task_space(self, U32(0)))
            kr = MACH_SEND_INVALID_DEST;
        else
            kr = um_semaphore_create(space, (int)U32(1), (int)U32(2), &name);
        return reply1(c, p, kr, name);
    }
    case UM_WIRE_SEMAPHORE_DESTROY:
        if (!um_task_space(self, U32(0)))
            kr = MACH_SEND_INVALID_DEST;
        else
            kr = um_semaphore_destroy(space, U32(1));
        return reply0(c, p, kr);
    case UM_WIRE_SEMAPHORE_SIGNAL: {
        um_port *port;
        kr = um_kobject_translate_send(space, U32(0), UM_KOT_SEMAPHORE, &port);
        if (kr == KERN_SUCCESS)
            kr = um_semaphore_signal(port, A(1) != 0);
        return reply0(c, p, kr);
    }
    case UM_WIRE_SEMAPHORE_WAIT: {
        um_port *wport, *sport = NULL;
        kr = um_kobject_translate_send(space, U32(0), UM_KOT_SEMAPHORE, &wport);
        if (kr == KERN_SUCCESS && U32(1) != MACH_PORT_NULL)
            kr = um_kobject_translate_send(space, U32(1), UM_KOT_SEMAPHORE, &sport);
        if (kr != KERN_SUCCESS)
            return reply0(c, p, kr);
        return d_sema_wait(c, p->h.id, wport, sport, A(2));
    }
    case UM_WIRE_TIMER_CREATE: {
        mach_port_name_t name = MACH_PORT_NULL;
        if (um_timer_create(space, &name) != KERN_SUCCESS)
            name = MACH_PORT_NULL;
        return reply1(c, p, KERN_SUCCESS, name);
    }
    case UM_WIRE_TIMER_DESTROY: {
        um_port *port = NULL;
        if (um_translate_receive(space, U32(0), &port) == KERN_SUCCESS &&
            port->kotype == UM_KOT_TIMER)
            timer_unlist(d, port);
        return reply0(c, p, um_timer_destroy(space, U32(0)));
    }
    case UM_WIRE_TIMER_ARM: {
        um_port *port;
        kr = um_timer_arm(space, U32(0), A(1), &port);
        if (kr == KERN_SUCCESS) {
            d_timer *tm = d->timers;
            while (tm && tm->port != port)
                tm = tm->next;
            if (!tm) {
                tm = calloc(1, sizeof *tm);
                if (!tm) {
                    uint64_t ignored;
                    (void)um_timer_cancel(space, U32(0), &ignored);
                    return reply0(c, p, KERN_RESOURCE_SHORTAGE);
                }
                um_port_ref(port);
                tm->port = port;
                tm->next = d->timers;
                d->timers = tm;
            }
            tm->deadline = A(1);
        }
        return reply0(c, p, kr);
    }
    case UM_WIRE_TIMER_CANCEL: {
        uint64_t armed = 0;
        kr = um_timer_cancel(space, U32(0), &armed);
        um_port *port;
        if (kr == KERN_SUCCESS && um_translate_receive(space, U32(0), &port) == KERN_SUCCESS)
            timer_unlist(d, port);
        return reply1(c, p, kr, armed);
    }
    default:
        return false;
    }
}
