/*
 * um_port.c — ports and port sets as objects: allocation, references, set membership,
 * naked rights and destruction.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "um_kern.h"
#include "um_kmsg.h"
#include "um_kobject.h"
#include "um_kobject_ports.h"

#include <stdlib.h>
#include <string.h>

um_port *um_port_alloc(void)
{
    um_port *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->obj.otype = UM_OT_PORT;
    p->obj.refs = 1;
    p->active = true;
    p->qlimit = MACH_PORT_QLIMIT_DEFAULT;
    return p;
}

_Static_assert(sizeof(um_port) <= 120, "an idle port fits a 128-byte malloc chunk");

const um_port_rare um_port_rare_none;

um_port_rare *um_port_rare_get(um_port *port)
{
    if (!port->rare)
        port->rare = calloc(1, sizeof *port->rare);
    return port->rare;
}

um_pset *um_pset_alloc(void)
{
    um_pset *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->obj.otype = UM_OT_PSET;
    s->obj.refs = 1;
    s->active = true;
    return s;
}


/* A dead port's send-once rights notify nobody: their reserves go. */
static void so_reserves_free(um_port_rare *r)
{
    um_kmsg *k;
    while ((k = r->soreserves) != NULL) {
        r->soreserves = k->next;
        um_kmsg_reserve_free(k);
    }
    r->nsoreserves = 0;
}

static void um_port_free(um_port *p)
{
    /* A port dies before its last reference goes, and its death uses or frees every reserve. */
    um_kobject_ports_free(p); /* before the rare part that holds the kernel object */
    um_port_rare *r = p->rare;
    if (r) {
        so_reserves_free(r);
        um_notify_reserve_free(r->nsreserve);
        um_notify_reserve_free(r->pdreserve);
        for (uint32_t i = 1; i < r->caprequests; i++)
            um_notify_reserve_free(r->requests[i].reserve);
        free(r->sets);
        free(r->requests);
        free(r);
    }
    free(p);
}

void um_object_free(um_object *o)
{
    if (o->otype == UM_OT_PORT) {
        um_port_free((um_port *)o);
    } else {
        um_pset *s = (um_pset *)o;
        free(s->members);
        free(s);
    }
}

/* ---- wait queues ----------------------------------------------------------------------- */

void um_waitq_append(um_waitq *q, um_waiter *w)
{
    w->final = false;
    w->queue = q;
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

void um_waitq_remove(um_waitq *q, um_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (q->head == w)
        q->head = w->next;
    else
        return; /* not queued */
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
    w->queue = NULL;
}

void um_waiter_cancel(um_waiter *w)
{
    if (w->queue)
        um_waitq_remove(w->queue, w);
}

um_waiter *um_waitq_pop(um_waitq *q)
{
    um_waiter *w = q->head;
    if (w)
        um_waitq_remove(q, w);
    return w;
}

void um_waitq_wake_all(um_waitq *q, int result)
{
    um_waiter *w;
    while ((w = um_waitq_pop(q)) != NULL) {
        w->owner = NULL;
        w->result = result;
        w->woken = true;
        if (w->wake)
            w->wake(w);
    }
}

/* ---- set membership -------------------------------------------------------------------- */

bool um_port_in_set(const um_port *port, const um_pset *set)
{
    const um_port_rare *r = um_rare(port);
    for (uint32_t i = 0; i < r->nsets; i++)
        if (r->sets[i] == set)
            return true;
    return false;
}

static bool um_grow_array(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    uint32_t ncap = *cap ? *cap * 2 : 4;
    while (ncap < need)
        ncap *= 2;
    void *n = realloc(*arr, (size_t)ncap * elem);
    if (!n)
        return false;
    *arr = n;
    *cap = ncap;
    return true;
}

kern_return_t um_pset_add(um_pset *set, um_port *port)
{
    if (um_port_in_set(port, set))
        return KERN_ALREADY_IN_SET;
    um_port_changing(port, set->space, UM_PORT_CHANGE_SETS);
    um_port_rare *r = um_port_rare_get(port);
    if (!r || !um_grow_array((void **)&r->sets, &r->capsets, r->nsets + 1, sizeof(um_pset *)) ||
        !um_grow_array((void **)&set->members, &set->capmembers, set->nmembers + 1,
                       sizeof(um_port *)))
        return KERN_RESOURCE_SHORTAGE;
    r->sets[r->nsets++] = set;
    set->members[set->nmembers++] = port;
    /* A message already queued on the port can now satisfy the set's receivers. */
    if (port->msgcount > 0)
        um_mqueue_wake_set_receiver(set);
    return KERN_SUCCESS;
}

kern_return_t um_pset_remove(um_pset *set, um_port *port)
{
    um_port_rare *r = port->rare;
    uint32_t i;
    if (!r)
        return KERN_NOT_IN_SET;
    for (i = 0; i < r->nsets && r->sets[i] != set; i++)
        ;
    if (i == r->nsets)
        return KERN_NOT_IN_SET;
    r->sets[i] = r->sets[--r->nsets];
    for (i = 0; i < set->nmembers && set->members[i] != port; i++)
        ;
    if (i < set->nmembers) {
        /* keep member order: receivers scan members in insertion order */
        memmove(&set->members[i], &set->members[i + 1],
                (set->nmembers - i - 1) * sizeof set->members[0]);
        set->nmembers--;
    }
    return KERN_SUCCESS;
}

void um_port_unlink_all_sets(um_port *port)
{
    um_port_rare *r = port->rare;
    while (r && r->nsets > 0)
        (void)um_pset_remove(r->sets[r->nsets - 1], port);
}

void um_pset_destroy(um_pset *set)
{
    set->active = false;
    while (set->nmembers > 0)
        (void)um_pset_remove(set, set->members[set->nmembers - 1]);
    um_waitq_wake_all(&set->receivers, MACH_RCV_PORT_CHANGED);
    set->space = NULL;
    um_object_release(&set->obj);
}

/* ---- naked rights ----------------------------------------------------------------------- */

void um_port_make_send(um_port *port)
{
    port->mscount++;
    port->srights++;
    um_port_ref(port);
}


/*
 * An active port's reserves (see um_port_rare.soreserves): one per send-once right (but for
 * a right whose notification is on its way: that message was its reserve), and at most one
 * more, the spare a used right left. A reply port makes a right per request and has
 * it used by the reply: with the spare, neither writes the list or its count, so the line
 * they share stays in both CPUs' caches in a cross-CPU round trip instead of moving twice.
 */
UM_HOT bool um_port_make_send_once(um_port *port)
{
    if (port->active) {
        /* A reply port has its rare part from its first request on: no call after that. */
        um_port_rare *r = port->rare ? port->rare : um_port_rare_get(port);
        if (!r)
            return false;
        if (r->nsoreserves <= port->sorights) {
            /*
             * No spare: one more reserve. (Fewer reserves than rights: a right destroyed
             * unused travels in its notification, which is its reserve, until received.)
             */
            um_kmsg *k = um_kmsg_reserve_small();
            if (!k)
                return false;
            k->next = r->soreserves;
            r->soreserves = k;
            r->nsoreserves++;
        }
    }
    port->sorights++;
    um_port_ref(port);
    return true;
}

UM_HOT um_kmsg *um_port_so_reserve_take(um_port *port)
{
    um_kmsg *k = port->rare ? port->rare->soreserves : NULL;
    if (k) {
        port->rare->soreserves = k->next;
        port->rare->nsoreserves--;
    }
    return k;
}

UM_HOT void um_port_so_reserve_used(um_port *port)
{
    /* The right still counts in sorights: more reserves than rights means a spare is kept. */
    if (port->active && port->rare && port->rare->nsoreserves > port->sorights)
        um_kmsg_reserve_free(um_port_so_reserve_take(port));
}

UM_HOT void um_port_release_send(um_port *port)
{
    port->srights--;
    if (port->srights == 0)
        um_notify_no_senders_check(port);
    um_port_release(port);
}

void um_port_release_send_once(um_port *port)
{
    um_notify_send_once(port);
}

void um_port_release_receive(um_port *port)
{
    um_port_destroy(port);
}

UM_HOT void um_right_release(um_port *port, mach_msg_type_name_t type)
{
    if (!UM_PORT_VALID(port))
        return;
    switch (type) {
    case MACH_MSG_TYPE_PORT_SEND:
        um_port_release_send(port);
        break;
    case MACH_MSG_TYPE_PORT_SEND_ONCE:
        um_port_release_send_once(port);
        break;
    case MACH_MSG_TYPE_PORT_RECEIVE:
        um_port_release_receive(port);
        break;
    default:
        break;
    }
}

/* ---- receive right moves and destruction ------------------------------------------------- */

void um_port_clear_receiver(um_port *port)
{
    port->receiver = NULL;
    port->receiver_name = MACH_PORT_NULL;
    um_port_unlink_all_sets(port);
    port->mscount = 0;
    port->seqno = 0;
    port->context = 0;
    port->guarded = false;
    port->strict_guard = false;
    port->immovable_receive = false;
    /* Threads receiving on this port through its old name must start over. */
    um_waitq_wake_all(&port->receivers, MACH_RCV_PORT_CHANGED);
}

bool um_port_check_circularity(um_port *port, um_port *dest)
{
    for (um_port *d = dest; d; d = d->destination) {
        if (d == port)
            return true;
        if (!d->active || d->receiver || d->kotype != UM_KOT_NONE)
            break;
    }
    um_port_clear_destination(port);
    um_port_ref(dest);
    port->destination = dest;
    return false;
}

void um_port_clear_destination(um_port *port)
{
    um_port *d = port->destination;
    port->destination = NULL;
    if (d)
        um_port_release(d);
}

void um_port_destroy(um_port *port)
{
    um_port_changing(port, port->receiver, UM_PORT_CHANGE_DEATH);
    um_port_clear_destination(port);
    um_port_rare *rare = port->rare;
    if (rare && rare->pdrequest) {
        /* A port-destroyed request turns destruction into a transfer of the receive right. */
        um_port *notify = rare->pdrequest;
        um_kmsg *reserve = rare->pdreserve;
        rare->pdrequest = NULL;
        rare->pdreserve = NULL;
        um_port_clear_receiver(port);
        /* consumes the receive right, `notify` and the reserve */
        um_notify_port_destroyed(notify, port, reserve);
        return;
    }
    port->active = false;
    port->receiver = NULL;
    port->receiver_name = MACH_PORT_NULL;
    port->guarded = false;
    port->context = 0;
    um_port_unlink_all_sets(port);
    um_waitq_wake_all(&port->receivers, MACH_RCV_PORT_CHANGED);
    /* Blocked senders complete as if their message had been delivered and destroyed. */
    um_waitq_wake_all(&port->senders, MACH_MSG_SUCCESS);

    /*
     * XNU's order: the queued messages (unless an outer destruction is already draining this
     * thread's destroy list: they join it and go after this), the no-senders request's
     * send-once notification, then the dead-name notifications.
     */
    bool reap = um_mqueue_destroy_all(port);
    um_port *ns = NULL;
    um_kmsg *ns_reserve = NULL;
    if (port->rare) {
        so_reserves_free(port->rare);
        ns = port->rare->nsrequest;
        ns_reserve = port->rare->nsreserve;
        port->rare->nsrequest = NULL;
        port->rare->nsreserve = NULL;
    }
    if (reap)
        um_kmsg_reap_delayed();
    if (ns)
        um_notify_send_once_reserved(ns, ns_reserve);
    um_port_fire_requests(port);
    um_port_watch_fire(port);
    um_port_release(port);
}
