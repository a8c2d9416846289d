/*
 * um_notify.c — messages the kernel sends about ports: send-once, no-senders,
 * port-destroyed, dead-name and port-deleted notifications.
 *
 * Every notification is sent through a naked send-once right (the one registered, or the
 * one being destroyed) and carries the kernel's security token {0, 1} and an all-zero
 * audit token, as XNU's do.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "um_kmsg.h"

#include <mach/ndr.h>
#include <mach/notify.h>

#include <stdlib.h>
#include <string.h>

/*
 * The fields of a kernel message `k` (zeroed, its descriptor records attached) to `dest`, a
 * naked right of type `dest_type` that `k` takes over: `body_size` body bytes, complex when
 * `ndesc` descriptors have room, the kernel's security token {0, 1}.
 */
static void kernel_kmsg_fill(um_kmsg *k, um_port *dest, mach_msg_type_name_t dest_type,
                             mach_msg_id_t id, mach_msg_size_t body_size, uint32_t ndesc)
{
    k->body = um_kmsg_body_start(k);
    k->bits = MACH_MSGH_BITS_SET(dest_type, 0, 0, ndesc ? MACH_MSGH_BITS_COMPLEX : 0);
    k->size = (mach_msg_size_t)sizeof(mach_msg_header_t) + body_size;
    k->dest = dest;
    k->id = id;
    k->sec.val[0] = 0;
    k->sec.val[1] = 1;
}

um_kmsg *um_kmsg_kernel(um_port *dest, mach_msg_type_name_t dest_type, mach_msg_id_t id,
                        mach_msg_size_t body_size, uint32_t ndesc)
{
    um_kmsg *k = calloc(1, sizeof *k + UM_KMSG_STORAGE(body_size));
    if (!k)
        return NULL;
    if (ndesc) {
        k->desc = calloc(ndesc, sizeof *k->desc);
        if (!k->desc) {
            free(k);
            return NULL;
        }
    }
    kernel_kmsg_fill(k, dest, dest_type, id, body_size, ndesc);
    return k;
}

/* The largest body a notification has: port-destroyed's descriptor count and descriptor. */
#define UM_NOTIFY_BODY_MAX (sizeof(mach_msg_body_t) + sizeof(mach_msg_port_descriptor_t))
_Static_assert(sizeof(NDR_record_t) + sizeof(uint32_t) <= UM_NOTIFY_BODY_MAX,
               "a name or count notification fits the reserved body");

um_kmsg *um_notify_reserve(void)
{
    um_kmsg *k = calloc(1, sizeof *k + UM_KMSG_STORAGE(UM_NOTIFY_BODY_MAX));
    if (!k)
        return NULL;
    k->desc = calloc(1, sizeof *k->desc);
    if (!k->desc) {
        free(k);
        return NULL;
    }
    return k;
}

void um_notify_reserve_free(um_kmsg *reserve)
{
    if (!reserve)
        return;
    free(reserve->desc);
    free(reserve);
}

/*
 * A kernel message to `dest` (a naked send-once right, consumed by the message) with
 * `body_size` bytes, built in `reserve` (consumed) or, without one, allocated now.
 */
static um_kmsg *kernel_kmsg(um_port *dest, mach_msg_id_t id, mach_msg_size_t body_size,
                            uint32_t ndesc, um_kmsg *reserve)
{
    if (!reserve)
        return um_kmsg_kernel(dest, MACH_MSG_TYPE_PORT_SEND_ONCE, id, body_size, ndesc);
    um_kmsg *k = reserve;
    um_kdesc *desc = k->desc;
    memset(k, 0, sizeof *k + UM_KMSG_STORAGE(UM_NOTIFY_BODY_MAX));
    memset(desc, 0, sizeof *desc);
    k->desc = desc; /* freed with the message, used or not */
    kernel_kmsg_fill(k, dest, MACH_MSG_TYPE_PORT_SEND_ONCE, id, body_size, ndesc);
    return k;
}

/* Body of the notifications that carry one 32-bit value after the NDR record. */
static void put_ndr_value(um_kmsg *k, uint32_t value)
{
    memcpy(k->body, &NDR_record, sizeof(NDR_record_t));
    memcpy(k->body + sizeof(NDR_record_t), &value, sizeof value);
}

void um_notify_send_once(um_port *port)
{
    um_notify_send_once_reserved(port, NULL);
}

/* The send-once notification to `port`, built in the right's own reserve `k` (consumed). */
static um_kmsg *so_notification(um_kmsg *k, um_port *port)
{
    bool small = k->small;
    memset(k, 0, sizeof *k + UM_KMSG_STORAGE(0));
    k->small = small;
    k->body = um_kmsg_body_start(k);
    k->bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_PORT_SEND_ONCE, 0, 0, 0);
    k->size = (mach_msg_size_t)sizeof(mach_msg_header_t);
    k->dest = port;
    k->id = MACH_NOTIFY_SEND_ONCE;
    k->sec.val[0] = 0;
    k->sec.val[1] = 1;
    return k;
}

void um_notify_send_once_reserved(um_port *port, um_kmsg *reserve)
{
    um_kmsg *own = um_port_so_reserve_take(port); /* NULL when the port is dead */
    if (!port->active) {
        um_notify_reserve_free(reserve);
        port->sorights--;
        um_port_release(port);
        return;
    }
    um_kmsg *k;
    if (reserve) {
        um_kmsg_reserve_free(own); /* a request's right: its own reserve is bigger */
        k = kernel_kmsg(port, MACH_NOTIFY_SEND_ONCE, 0, 0, reserve);
    } else if (own) {
        k = so_notification(own, port);
    } else {
        k = kernel_kmsg(port, MACH_NOTIFY_SEND_ONCE, 0, 0, NULL); /* not reached */
    }
    if (!k) {
        /* Out of memory: the right is destroyed without its notification. */
        port->sorights--;
        um_port_release(port);
        return;
    }
    um_kmsg_send_nowait(k);
}

void um_notify_no_senders_check(um_port *port)
{
    if (port->kotype == UM_KOT_TASK_RESUME && port->active && port->srights == 0) {
        um_task_resume_port_unused(port); /* XNU: the kobject's no-senders */
        return;
    }
    if (!port->active || port->srights != 0 || !port->rare || !port->rare->nsrequest)
        return;
    um_port *notify = port->rare->nsrequest;
    um_kmsg *reserve = port->rare->nsreserve;
    port->rare->nsrequest = NULL;
    port->rare->nsreserve = NULL;
    if (!notify->active) {
        um_notify_send_once_reserved(notify, reserve);
        return;
    }
    um_kmsg *k = kernel_kmsg(notify, MACH_NOTIFY_NO_SENDERS,
                             sizeof(NDR_record_t) + sizeof(mach_port_mscount_t), 0, reserve);
    if (!k) {
        um_port_release_send_once(notify);
        return;
    }
    put_ndr_value(k, port->mscount);
    um_kmsg_send_nowait(k);
}

void um_notify_port_destroyed(um_port *notify, um_port *port, um_kmsg *reserve)
{
    if (!notify->active) {
        /* Nobody can take the receive right: destroy the port for real. */
        um_notify_send_once_reserved(notify, reserve);
        um_port_destroy(port);
        return;
    }
    um_kmsg *k = kernel_kmsg(notify, MACH_NOTIFY_PORT_DESTROYED,
                             sizeof(mach_msg_body_t) + sizeof(mach_msg_port_descriptor_t), 1,
                             reserve);
    if (!k) {
        um_port_release_send_once(notify);
        um_port_destroy(port);
        return;
    }
    uint32_t one = 1;
    memcpy(k->body, &one, sizeof one);
    um_kdesc *d = &k->desc[0];
    d->type = MACH_MSG_PORT_DESCRIPTOR;
    d->uoffset = sizeof(mach_msg_base_t);
    d->u.port.port = port;
    d->u.port.disp = MACH_MSG_TYPE_PORT_RECEIVE;
    k->ndesc = 1;
    /*
     * A kernel message carrying a receive right goes through the same loop check as a user
     * message (XNU's ipc_kmsg_copyin_from_kernel): if `notify` travels, directly or through
     * other queued messages, inside `port`'s own queue, delivering would leave both
     * unreachable forever. Such a message is destroyed instead, and `port` with it.
     */
    k->circular = um_port_check_circularity(port, notify);
    um_kmsg_send_nowait(k);
}

/* ---- dead-name and send-possible requests ----------------------------------------------- */

static um_request *entry_request(um_space *space, mach_port_name_t name, um_entry *e)
{
    if (!e->request || !(e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE |
                                    MACH_PORT_TYPE_RECEIVE)))
        return NULL;
    um_port *port = (um_port *)e->object;
    if (!port || e->request >= um_rare(port)->caprequests)
        return NULL;
    um_request *r = &port->rare->requests[e->request];
    /* The name (with its generation) tells a live request from a reused slot. */
    return r->space == space && r->name == name ? r : NULL;
}

mach_port_type_t um_request_type(um_space *space, mach_port_name_t name, um_entry *e)
{
    um_request *r = entry_request(space, name, e);
    if (!r)
        return 0;
    if (r->dead_name)
        return MACH_PORT_TYPE_DNREQUEST;
    return r->sp_armed ? MACH_PORT_TYPE_SPREQUEST : MACH_PORT_TYPE_SPREQUEST_DELAYED;
}

static void send_name_notification(um_port *notify, mach_msg_id_t id, mach_port_name_t name,
                                   um_kmsg *reserve)
{
    if (!notify->active) {
        um_notify_send_once_reserved(notify, reserve);
        return;
    }
    um_kmsg *k = kernel_kmsg(notify, id, sizeof(NDR_record_t) + sizeof(mach_port_name_t), 0,
                             reserve);
    if (!k) {
        um_port_release_send_once(notify);
        return;
    }
    put_ndr_value(k, name);
    um_kmsg_send_nowait(k);
}

void um_notify_dead_name(um_port *notify, mach_port_name_t name, um_kmsg *reserve)
{
    send_name_notification(notify, MACH_NOTIFY_DEAD_NAME, name, reserve);
}

void um_notify_send_possible(um_port *notify, mach_port_name_t name, um_kmsg *reserve)
{
    send_name_notification(notify, MACH_NOTIFY_SEND_POSSIBLE, name, reserve);
}

void um_request_cancel(um_space *space, mach_port_name_t name, um_entry *e)
{
    um_request *r = entry_request(space, name, e);
    e->request = 0;
    if (!r)
        return;
    um_port *notify = r->notify;
    um_kmsg *reserve = r->reserve;
    memset(r, 0, sizeof *r);
    if (notify)
        send_name_notification(notify, MACH_NOTIFY_PORT_DELETED, name, reserve);
    else
        um_notify_reserve_free(reserve);
}

void um_port_fire_requests(um_port *port)
{
    /* Every request, dead-name or send-possible, learns of the death by a dead-name message. */
    for (uint32_t i = 1; i < um_rare(port)->caprequests; i++) {
        um_request *r = &port->rare->requests[i];
        if (!r->space || !r->notify)
            continue;
        um_port *notify = r->notify;
        um_kmsg *reserve = r->reserve;
        r->notify = NULL;
        r->reserve = NULL;
        send_name_notification(notify, MACH_NOTIFY_DEAD_NAME, r->name, reserve);
    }
}

void um_request_arm_send_possible(um_port *port, um_space *space, mach_port_name_t name,
                                  uint32_t index)
{
    if (!index || index >= um_rare(port)->caprequests)
        return;
    um_request *r = &port->rare->requests[index];
    if (r->space == space && r->name == name && r->send_possible && r->notify)
        r->sp_armed = true;
}

void um_port_fire_send_possible(um_port *port)
{
    for (uint32_t i = 1; i < um_rare(port)->caprequests; i++) {
        um_request *r = &port->rare->requests[i];
        if (!r->space || !r->notify || !r->send_possible || !r->sp_armed)
            continue;
        um_port *notify = r->notify;
        um_kmsg *reserve = r->reserve;
        mach_port_name_t name = r->name;
        memset(r, 0, sizeof *r);
        send_name_notification(notify, MACH_NOTIFY_SEND_POSSIBLE, name, reserve);
    }
}
