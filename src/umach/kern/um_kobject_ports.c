/*
 * um_kobject_ports.c — kernel objects behind ports (see um_kobject_ports.h): the ports themselves,
 * the clocks' ports, semaphores with XNU's sync_sema.c results, and mk_timer state with
 * mk_timer.c's rules.
 */
#include "um_kobject_ports.h"
#include "um_kmsg.h"

#include <stdlib.h>
#include <string.h>

/* ---- kernel-object ports ----------------------------------------------------------------- */

um_port *um_kobject_port_alloc(uint8_t kotype, void *kobject)
{
    um_port *port = um_port_alloc();
    if (!port)
        return NULL;
    if (kobject) {
        um_port_rare *rare = um_port_rare_get(port); /* the kernel object lives there */
        if (!rare) {
            um_port_destroy(port); /* no right to it exists yet */
            return NULL;
        }
        rare->kobject = kobject;
    }
    port->kotype = kotype;
    return port;
}

um_port *um_host_port(um_kernel *kernel)
{
    if (!kernel->host_port)
        kernel->host_port = um_kobject_port_alloc(UM_KOT_HOST, kernel); /* its MIG server's */
    return kernel->host_port;
}

um_port *um_clock_port(um_kernel *kernel, int clock_id)
{
    um_clock *clock = &kernel->clocks[clock_id];
    if (!clock->port) {
        clock->kernel = kernel;
        clock->id = clock_id;
        clock->port = um_kobject_port_alloc(UM_KOT_CLOCK, clock); /* its MIG server's */
    }
    return clock->port;
}

kern_return_t um_kobject_copyout_send(um_space *space, um_port *port, mach_port_name_t *namep)
{
    um_port_make_send(port);
    /* um_right_copyout consumes the naked right on failure too. */
    return um_right_copyout(space, port, MACH_MSG_TYPE_PORT_SEND, namep);
}

kern_return_t um_kobject_translate_send(um_space *space, mach_port_name_t name, uint8_t kotype,
                                        um_port **portp)
{
    if (!MACH_PORT_VALID(name))
        return KERN_INVALID_NAME;
    um_entry *e = um_entry_lookup(space, name);
    if (!e)
        return KERN_INVALID_NAME;
    um_right_check(space, name, e);
    if (!(e->type & MACH_PORT_TYPE_SEND))
        return KERN_INVALID_RIGHT;
    um_port *port = (um_port *)e->object;
    if (port->kotype != kotype || !port->active)
        return KERN_INVALID_CAPABILITY;
    *portp = port;
    return KERN_SUCCESS;
}

void um_kobject_ports_free(um_port *port)
{
    /* Semaphores and timers are plain allocations; no waiter can remain (each holds a ref). */
    if ((port->kotype == UM_KOT_SEMAPHORE || port->kotype == UM_KOT_TIMER) && port->rare) {
        free(port->rare->kobject);
        port->rare->kobject = NULL;
    }
    /* A thread's exception slots: released when the thread ended (um_thread_exc_terminate);
     * a port freed without that (its front end's thread never ended) releases them here. */
    if (port->kotype == UM_KOT_THREAD && port->rare && port->rare->kobject) {
        um_exc_release_all(port->rare->kobject);
        free(port->rare->kobject);
        port->rare->kobject = NULL;
    }
    if (port->kotype == UM_KOT_MEMORY_ENTRY && port->rare && port->rare->kobject) {
        um_mem_entry *e = port->rare->kobject;
        port->rare->kobject = NULL;
        e->release(e);
    }
}

/* ---- memory entries ------------------------------------------------------------------------ */

kern_return_t um_mem_entry_create(um_space *space, um_mem_entry *entry, mach_port_name_t *namep)
{
    *namep = MACH_PORT_NULL;
    um_port *port = um_kobject_port_alloc(UM_KOT_MEMORY_ENTRY, entry);
    if (!port) {
        entry->release(entry);
        return KERN_RESOURCE_SHORTAGE;
    }
    /* As a semaphore: the entry lives while send rights to its port do. */
    kern_return_t kr = um_kobject_copyout_send(space, port, namep);
    um_port_release(port);
    return kr;
}

kern_return_t um_mem_entry_lookup(um_space *space, mach_port_name_t name, um_mem_entry **entryp,
                                  bool *deadp)
{
    *deadp = false;
    if (MACH_PORT_VALID(name)) {
        um_entry *e = um_entry_lookup(space, name);
        if (e) {
            um_right_check(space, name, e);
            *deadp = (e->type & MACH_PORT_TYPE_DEAD_NAME) != 0;
        }
    }
    um_port *port;
    kern_return_t kr = um_kobject_translate_send(space, name, UM_KOT_MEMORY_ENTRY, &port);
    if (kr == KERN_SUCCESS)
        *entryp = um_rare(port)->kobject;
    return kr;
}

/* vm_purgable.h's values (the core includes no Mach VM header beyond mach_types.h). */
#define UM_PURGABLE_SET_STATE 0
#define UM_PURGABLE_GET_STATE 1
#define UM_PURGABLE_STATE_MASK 3
#define UM_PURGABLE_ALL_MASKS 0x13773 /* state, order, ordering, behavior, group, debug, aging */
#define UM_PURGABLE_EMPTY 2
#define UM_PURGABLE_DENY 3

kern_return_t um_mem_entry_purgable(um_mem_entry *entry, int control, int *state, bool *purgep)
{
    *purgep = false;
    if (control != UM_PURGABLE_SET_STATE && control != UM_PURGABLE_GET_STATE)
        return KERN_INVALID_ARGUMENT;
    if (control == UM_PURGABLE_SET_STATE && (*state & ~UM_PURGABLE_ALL_MASKS) != 0)
        return KERN_INVALID_ARGUMENT;
    if (entry->is_copy || entry->offset != 0 || entry->purgable == UM_PURGABLE_DENY)
        return KERN_INVALID_ARGUMENT;
    int old = entry->purgable;
    if (control == UM_PURGABLE_SET_STATE) {
        int want = *state & UM_PURGABLE_STATE_MASK;
        if (want == UM_PURGABLE_DENY)
            return KERN_INVALID_ARGUMENT;
        /* Emptied stays empty until made nonvolatile again (its contents are gone). */
        entry->purgable = want;
        *purgep = want == UM_PURGABLE_EMPTY && old != UM_PURGABLE_EMPTY;
    }
    *state = old;
    return KERN_SUCCESS;
}

/* ---- semaphores ---------------------------------------------------------------------------- */

/* SYNC_POLICY_USER_MASK in XNU: the policies a caller may ask for. */
#define UM_SYNC_POLICY_USER_MASK 0x3

kern_return_t um_semaphore_create(um_space *space, int policy, int value, mach_port_name_t *namep)
{
    *namep = MACH_PORT_NULL;
    if (value < 0 || (policy & ~UM_SYNC_POLICY_USER_MASK))
        return KERN_INVALID_ARGUMENT;
    um_semaphore *s = calloc(1, sizeof *s);
    if (!s)
        return KERN_RESOURCE_SHORTAGE;
    s->count = value;
    s->active = true;
    s->policy = policy;
    s->owner = space;
    um_port *port = um_kobject_port_alloc(UM_KOT_SEMAPHORE, s);
    if (!port) {
        free(s);
        return KERN_RESOURCE_SHORTAGE;
    }
    /*
     * As in XNU the semaphore lives while send rights to its port do: the kernel keeps no
     * reference of its own, so the port (and the semaphore) go with the last send right.
     */
    kern_return_t kr = um_kobject_copyout_send(space, port, namep);
    um_port_release(port);
    return kr;
}

/* Deactivate: every waiter ends with KERN_TERMINATED (XNU: THREAD_RESTART). */
static void semaphore_deactivate(um_semaphore *s)
{
    s->active = false;
    s->count = 0;
    um_waitq_wake_all(&s->waiters, KERN_TERMINATED);
}

kern_return_t um_semaphore_destroy(um_space *space, mach_port_name_t name)
{
    if (name == MACH_PORT_NULL)
        return KERN_INVALID_ARGUMENT;
    um_port *port;
    /* The MIG argument is a move-send: copying it in is what the user stub's send does. */
    kern_return_t kr = um_right_copyin(space, name, MACH_MSG_TYPE_MOVE_SEND, 0, &port);
    if (kr != KERN_SUCCESS)
        return MACH_SEND_INVALID_RIGHT;
    if (!UM_PORT_VALID(port))
        return KERN_INVALID_ARGUMENT;
    if (port->kotype != UM_KOT_SEMAPHORE || !port->active) {
        um_port_release_send(port);
        return KERN_INVALID_ARGUMENT;
    }
    um_semaphore *s = um_rare(port)->kobject;
    if (s->active && s->owner == space)
        semaphore_deactivate(s);
    um_port_release_send(port);
    return KERN_SUCCESS;
}

static void waiter_wake(um_waiter *w, int result)
{
    w->owner = NULL;
    w->result = result;
    w->woken = true;
    if (w->wake)
        w->wake(w);
}

kern_return_t um_semaphore_signal(um_port *port, bool all)
{
    um_semaphore *s = um_rare(port)->kobject;
    if (!s->active)
        return KERN_TERMINATED;
    if (all) {
        /* Wakes every waiter; with none the count is left alone (no pre-post). */
        um_waitq_wake_all(&s->waiters, KERN_SUCCESS);
        return KERN_SUCCESS;
    }
    um_waiter *w = um_waitq_pop(&s->waiters);
    if (w)
        waiter_wake(w, KERN_SUCCESS);
    else
        s->count++;
    return KERN_SUCCESS;
}

kern_return_t um_semaphore_wait_begin(um_port *port, um_waiter *w, bool noblock)
{
    um_semaphore *s = um_rare(port)->kobject;
    if (!s->active)
        return KERN_TERMINATED;
    if (s->count > 0) {
        s->count--;
        return KERN_SUCCESS;
    }
    if (noblock)
        return KERN_OPERATION_TIMED_OUT;
    w->woken = false;
    w->result = KERN_SUCCESS;
    w->owner = port;
    um_waitq_append(&s->waiters, w);
    return UM_SEMAPHORE_WAITING;
}

void um_semaphore_wait_cancel(um_port *port, um_waiter *w)
{
    um_semaphore *s = um_rare(port)->kobject;
    if (!w->woken)
        um_waitq_remove(&s->waiters, w);
}

/* ---- timers ------------------------------------------------------------------------------- */

kern_return_t um_timer_create(um_space *space, mach_port_name_t *namep)
{
    *namep = MACH_PORT_NULL;
    um_timer *t = calloc(1, sizeof *t);
    if (!t)
        return KERN_RESOURCE_SHORTAGE;
    um_port *port = um_kobject_port_alloc(UM_KOT_TIMER, t);
    if (!port) {
        free(t);
        return KERN_RESOURCE_SHORTAGE;
    }
    port->immovable_receive = true;
    /* The allocation's reference becomes the receive right the task holds. */
    return um_right_copyout(space, port, MACH_MSG_TYPE_PORT_RECEIVE, namep);
}

static kern_return_t timer_translate(um_space *space, mach_port_name_t name, um_port **portp)
{
    kern_return_t kr = um_translate_receive(space, name, portp);
    if (kr != KERN_SUCCESS)
        return kr;
    if ((*portp)->kotype != UM_KOT_TIMER)
        return KERN_INVALID_ARGUMENT;
    return KERN_SUCCESS;
}

kern_return_t um_timer_arm(um_space *space, mach_port_name_t name, uint64_t deadline,
                           um_port **portp)
{
    um_port *port;
    kern_return_t kr = timer_translate(space, name, &port);
    if (kr != KERN_SUCCESS)
        return kr;
    um_timer *t = um_rare(port)->kobject;
    t->armed = true;
    t->deadline = deadline;
    *portp = port;
    return KERN_SUCCESS;
}

kern_return_t um_timer_cancel(um_space *space, mach_port_name_t name, uint64_t *armed_deadline)
{
    um_port *port;
    kern_return_t kr = timer_translate(space, name, &port);
    if (kr != KERN_SUCCESS)
        return kr;
    um_timer *t = um_rare(port)->kobject;
    *armed_deadline = t->armed ? t->deadline : 0;
    t->armed = false;
    return KERN_SUCCESS;
}

kern_return_t um_timer_destroy(um_space *space, mach_port_name_t name)
{
    um_entry *e = um_entry_lookup(space, name);
    if (!e)
        return KERN_INVALID_NAME;
    if (!(e->type & MACH_PORT_TYPE_RECEIVE))
        return KERN_INVALID_RIGHT;
    if (((um_port *)e->object)->kotype != UM_KOT_TIMER)
        return KERN_INVALID_ARGUMENT;
    /* XNU destroys the receive right (a mach_port_destroy, which is ABI now). */
    return um_right_destroy(space, name, e, true, 0);
}

/* A timer message already waiting on the port: sent by the kernel, id 0, the timer's size. */
static bool timer_msg_queued(const um_port *port)
{
    for (const um_kmsg *k = port->msg_head; k; k = k->next) {
        if (k->id == 0 && k->size == UM_TIMER_MSG_SIZE && k->sec.val[0] == 0 &&
            k->sec.val[1] == 1 && k->ndesc == 0)
            return true;
    }
    return false;
}

uint64_t um_timer_expire(um_port *port, uint64_t now)
{
    um_timer *t = um_rare(port)->kobject;
    if (!port->active || !t || !t->armed)
        return 0;
    if (t->deadline > now)
        return t->deadline;
    t->armed = false;
    if (timer_msg_queued(port))
        return 0;
    mach_msg_size_t body = UM_TIMER_MSG_SIZE - (mach_msg_size_t)sizeof(mach_msg_header_t);
    um_port_copy_send(port);
    um_kmsg *k = um_kmsg_kernel(port, MACH_MSG_TYPE_PORT_SEND, 0, body, 0);
    if (!k) {
        /* Out of memory: this expiry is lost, as a failed kernel send would be. */
        um_port_release_send(port);
        return 0;
    }
    um_kmsg_send_nowait(k);
    return 0;
}
