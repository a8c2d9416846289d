/*
 * um_mqueue.c — per-port FIFO message queues, queue limits, and the waiters blocked on them.
 *
 * A receiver blocked on a port waits in port->receivers, one blocked on a set in
 * set->receivers; a sender blocked on a full queue waits in port->senders. Waking a waiter
 * only tells it to look again (another thread may have taken the message meanwhile), so the
 * front end always re-checks the queue after a wake-up or a timeout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "um_kmsg.h"
#include "um_kobject.h"

#include <stdlib.h>

void um_waiter_wake(um_waiter *w)
{
    w->owner = NULL;
    w->woken = true;
    w->result = MACH_MSG_SUCCESS;
    if (w->wake)
        w->wake(w);
}

static void wake_one(um_waitq *q)
{
    um_waiter *w = um_waitq_pop(q);
    if (w)
        um_waiter_wake(w);
}

void um_mqueue_wake_set_receiver(um_pset *set)
{
    wake_one(&set->receivers);
}

/* The receiver a message queued on `port` wakes: the port's own first, then a set's. */
UM_HOT_STATIC um_waiter *take_receiver(um_port *port)
{
    if (port->receivers.head)
        return um_waitq_pop(&port->receivers);
    const um_port_rare *r = port->rare;
    if (!r)
        return NULL;
    for (uint32_t i = 0, n = r->nsets; i < n; i++)
        if (r->sets[i]->receivers.head)
            return um_waitq_pop(&r->sets[i]->receivers);
    return NULL;
}

UM_HOT um_waiter *um_mqueue_deliver_take(um_kmsg *kmsg)
{
    um_port *port = kmsg->dest;
    kmsg->next = NULL;
    if (port->msg_tail)
        port->msg_tail->next = kmsg;
    else
        port->msg_head = kmsg;
    port->msg_tail = kmsg;
    port->msgcount++;
    return take_receiver(port);
}

void um_mqueue_wake_next(um_port *port)
{
    um_waiter *w = take_receiver(port);
    if (w)
        um_waiter_wake(w);
}

void um_mqueue_deliver(um_kmsg *kmsg)
{
    um_waiter *w = um_mqueue_deliver_take(kmsg);
    if (w)
        um_waiter_wake(w);
}

void um_kmsg_send_nowait(um_kmsg *kmsg)
{
    if (!kmsg->dest->active || kmsg->circular)
        um_kmsg_destroy(kmsg);
    else if (kmsg->dest->kotype != UM_KOT_NONE && kmsg->dest->kotype != UM_KOT_TIMER)
        (void)um_kobject_server(kmsg, NULL, NULL); /* served at once; no server: dropped */
    else
        um_mqueue_deliver(kmsg);
}

void um_kmsg_drop_kernel_reply(um_kmsg *kmsg)
{
    um_port *dest = kmsg->dest;
    mach_msg_type_name_t type = MACH_MSGH_BITS_REMOTE(kmsg->bits);
    kmsg->dest = NULL;
    um_kmsg_destroy(kmsg);
    um_kmsg_release_dest(dest, type);
}

UM_HOT um_kmsg *um_mqueue_dequeue(um_port *port, mach_port_seqno_t *seqnop)
{
    um_kmsg *k = port->msg_head;
    if (!k)
        return NULL;
    port->msg_head = k->next;
    if (!port->msg_head)
        port->msg_tail = NULL;
    k->next = NULL;
    um_kmsg_uncharge(k);
    port->msgcount--;
    *seqnop = port->seqno++;
    /* Seldom anyone to tell that there is room: blocked senders, send-possible requests. */
    if ((port->senders.head || (port->rare && port->rare->caprequests)) &&
        (uint64_t)port->msgcount + port->reserved < port->qlimit) {
        if (port->senders.head)
            wake_one(&port->senders);
        if (port->rare && port->rare->caprequests)
            um_port_fire_send_possible(port);
    }
    return k;
}

um_port *um_pset_ready_member(um_pset *set)
{
    for (uint32_t i = 0; i < set->nmembers; i++)
        if (set->members[i]->msgcount > 0)
            return set->members[i];
    return NULL;
}

bool um_mqueue_destroy_all(um_port *port)
{
    um_kmsg *head = port->msg_head, *tail = port->msg_tail;
    port->msg_head = port->msg_tail = NULL;
    port->msgcount = 0;
    return um_kmsg_delayed_destroy_queue(head, tail);
}

void um_mqueue_set_qlimit(um_port *port, mach_port_msgcount_t qlimit)
{
    um_port_changing(port, port->receiver, UM_PORT_CHANGE_QLIMIT);
    mach_port_msgcount_t old = port->qlimit;
    port->qlimit = qlimit;
    if (qlimit > old) {
        /* every sender that may now fit looks again */
        for (mach_port_msgcount_t n = old; n < qlimit && port->senders.head; n++)
            wake_one(&port->senders);
    }
}
