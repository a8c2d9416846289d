/*
 * um_post.c — promised queue room and the messages delivered on it (um_post.h).
 */
#include "um_post.h"
#include "um_kobject.h"

#include <string.h>

/* Charge `bytes` to the ledger and the kernel's total over it. */
static void post_ledger_charge(um_ledger *ledger, uint64_t bytes)
{
    ledger->queued += bytes;
    if (ledger->total)
        ledger->total->queued += bytes;
}

/* Take back `bytes` charged by post_ledger_charge. */
static void post_ledger_uncharge(um_ledger *ledger, uint64_t bytes)
{
    ledger->queued -= bytes < ledger->queued ? bytes : ledger->queued;
    if (ledger->total)
        ledger->total->queued -= bytes < ledger->total->queued ? bytes : ledger->total->queued;
}

/*
 * The bytes still to be charged before `ledger`'s cap or its total's is reached: the caps of
 * um_kmsg_ledger_fits as a count (a charge fits exactly when it is at most this).
 */
static uint64_t post_ledger_room(const um_ledger *ledger)
{
    uint64_t room = ledger->max > ledger->queued ? ledger->max - ledger->queued : 0;
    const um_ledger *total = ledger->total;
    if (total) {
        uint64_t troom = total->max > total->queued ? total->max - total->queued : 0;
        if (troom < room)
            room = troom;
    }
    return room;
}

uint32_t um_post_reserve(um_port *port, um_ledger *ledger, uint32_t n, uint32_t each)
{
    if (n == 0 || !port->active || port->kotype != UM_KOT_NONE || port->senders.head)
        return 0;
    uint64_t used = (uint64_t)port->msgcount + port->reserved;
    if (used >= port->qlimit)
        return 0;
    if (n > port->qlimit - used)
        n = (uint32_t)(port->qlimit - used);
    if ((uint64_t)port->reserved + n > UINT16_MAX)
        n = UINT16_MAX - port->reserved;
    if (ledger && each) {
        uint64_t fit = post_ledger_room(ledger) / each; /* messages both caps have room for */
        if (fit < n)
            n = (uint32_t)fit;
    }
    if (n == 0)
        return 0;
    port->reserved = (uint16_t)(port->reserved + n);
    if (ledger)
        post_ledger_charge(ledger, (uint64_t)n * each);
    return n;
}

void um_post_unreserve(um_port *port, um_ledger *ledger, uint32_t n, uint32_t each)
{
    if (n > port->reserved)
        n = port->reserved; /* never: the front end's books say how many it holds */
    port->reserved = (uint16_t)(port->reserved - n);
    if (ledger)
        post_ledger_uncharge(ledger, (uint64_t)n * each);
    /* Every sender that may now fit looks again (as a raised queue limit wakes them). */
    for (uint32_t i = 0; i < n && port->senders.head; i++)
        um_waiter_wake(um_waitq_pop(&port->senders));
}

void um_post_deliver(um_task *task, um_port *port, um_ledger *ledger, uint32_t each,
                     const uint8_t *bytes, uint32_t len)
{
    /* Sent when the client's post returned, against a promise made while the port lived: a
     * message of the task's whatever happens to it now (um_msg_send counts at delivery). */
    task->space->ledger->sent++;
    if (port->reserved)
        port->reserved--;
    /* The promise's bytes go; the message's own are charged in their place (below). */
    if (ledger)
        post_ledger_uncharge(ledger, each);
    mach_msg_header_t h;
    memcpy(&h, bytes, sizeof h);
    uint32_t body = len - (uint32_t)sizeof h;
    um_kmsg *k = um_kmsg_kernel(port, MACH_MSG_TYPE_PORT_SEND, h.msgh_id, body, 0);
    if (!k) {
        um_port_release_send(port);
        return;
    }
    memcpy(k->body, bytes + sizeof h, body);
    k->sec = task->sec;
    k->audit = task->audit;
    if (ledger) {
        /* Charged like any queued message; the promise already let it in. */
        k->charge = len;
        um_kmsg_charge(ledger, k);
    }
    if (!port->active) {
        um_kmsg_destroy(k); /* queued, then destroyed with the port */
        return;
    }
    um_mqueue_deliver(k);
}

bool um_port_observe(um_port *port, void (*hook)(void *arg, um_port *port, um_space *space,
                                                 int what),
                     void *arg)
{
    um_port_rare *r = um_port_rare_get(port);
    if (!r)
        return false;
    r->change_hook = hook;
    r->change_arg = arg;
    port->observed = true;
    return true;
}

void um_port_unobserve(um_port *port)
{
    port->observed = false;
    if (port->rare) {
        port->rare->change_hook = NULL;
        port->rare->change_arg = NULL;
    }
}

void um_port_changing_observed(um_port *port, um_space *space, enum um_port_change what)
{
    um_port_rare *r = port->rare;
    if (!r || !r->change_hook)
        return;
    um_port_ref(port); /* the hook may drop the front end's references */
    r->change_hook(r->change_arg, port, space, (int)what);
    um_port_release(port);
}
