/*
 * um_post.c — promised queue room and the messages delivered on it (um_post.h).
 */
#include "um_post.h"
#include "um_kobject.h"

#include <string.h>

bool um_post_reserve(um_port *port, uint32_t n)
{
    if (n == 0 || !port->active || port->kotype != UM_KOT_NONE || port->senders.head)
        return false;
    uint64_t used = (uint64_t)port->msgcount + port->reserved;
    if (used + n > port->qlimit || (uint64_t)port->reserved + n > UINT16_MAX)
        return false;
    port->reserved = (uint16_t)(port->reserved + n);
    return true;
}

void um_post_unreserve(um_port *port, uint32_t n)
{
    if (n > port->reserved)
        n = port->reserved; /* never: the front end's books say how many it holds */
    port->reserved = (uint16_t)(port->reserved - n);
    /* Every sender that may now fit looks again (as a raised queue limit wakes them). */
    for (uint32_t i = 0; i < n && port->senders.head; i++)
        um_waiter_wake(um_waitq_pop(&port->senders));
}

void um_post_deliver(um_task *task, um_port *port, const uint8_t *bytes, uint32_t len)
{
    if (port->reserved)
        port->reserved--;
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
    um_ledger *ledger = task->space ? task->space->ledger : NULL;
    if (ledger) {
        /* Charged like any queued message; the promise already let it in. */
        k->charge = len;
        ledger->queued += len;
        if (ledger->total)
            ledger->total->queued += len; /* uncharged from both */
        ledger->refs++;
        k->ledger = ledger;
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
