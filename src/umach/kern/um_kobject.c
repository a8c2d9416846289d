/*
 * um_kobject.c — the kernel-object server (XNU: ipc_kobject_server) and port watches.
 *
 * A request to a kernel object is served in the sender's call: the routine of the port's
 * kotype reads the copied-in request, takes the rights it keeps, and answers with a return
 * code and at most one right. The answer travels MIG's way: a complex reply carrying the
 * right on success, a mig_reply_error_t otherwise, id = request id + 100, through the
 * request's reply right; no reply right, no reply.
 */
#include "um_kobject.h"
#include "um_bootstrap.h"

#include <mach/mig_errors.h>
#include <mach/ndr.h>

#include <string.h>

/* ---- port watches ---------------------------------------------------------------------------- */

bool um_port_watch_add(um_port *port, um_port_watch *watch)
{
    um_port_rare *r = um_port_rare_get(port);
    if (!r)
        return false;
    watch->next = r->watchers;
    if (watch->next)
        watch->next->pprev = &watch->next;
    watch->pprev = &r->watchers;
    r->watchers = watch;
    return true;
}

void um_port_watch_remove(um_port *port, um_port_watch *watch)
{
    (void)port;
    if (!watch->pprev)
        return;
    *watch->pprev = watch->next;
    if (watch->next)
        watch->next->pprev = watch->pprev;
    watch->next = NULL;
    watch->pprev = NULL;
}

/*
 * Dead ports whose watches are still to fire, oldest first, each holding a reference (linked
 * through their rare part). Per thread, like the destroy list of um_kmsg.c: the call that
 * found it empty drains it, so a callback that destroys a watched port only queues it here.
 * Always empty when the outermost call returns, hence between calls.
 */
static _Thread_local um_port *um_watch_head, *um_watch_tail;

void um_port_watch_fire(um_port *port)
{
    if (!port->rare || !port->rare->watchers)
        return;
    um_port_ref(port);
    port->rare->watch_next = NULL;
    if (um_watch_tail) {
        um_watch_tail->rare->watch_next = port;
        um_watch_tail = port;
        return; /* an outer call is draining: it will come to this port */
    }
    um_watch_head = um_watch_tail = port;
    um_port *p;
    while ((p = um_watch_head) != NULL) {
        /*
         * One at a time from the port's own list: a callback may remove (and free) other
         * watches of the same port, which must then not be called.
         */
        um_port_watch *w;
        while ((w = p->rare->watchers) != NULL) {
            um_port_watch_remove(p, w);
            w->dead(w, p);
        }
        um_watch_head = p->rare->watch_next;
        if (!um_watch_head)
            um_watch_tail = NULL;
        um_port_release(p);
    }
}

/* ---- replies --------------------------------------------------------------------------------- */

/* A reply's allocation (um_kmsg_kernel's), which a test may make fail (um_kernel). */
static um_kmsg *reply_kmsg(um_kernel *kernel, um_port *dest, mach_msg_type_name_t dest_type,
                           mach_msg_id_t id, mach_msg_size_t body_size, uint32_t ndesc)
{
    if (kernel && kernel->test_reply_alloc_failures) {
        kernel->test_reply_alloc_failures--;
        return NULL;
    }
    return um_kmsg_kernel(dest, dest_type, id, body_size, ndesc);
}

um_kmsg *um_kobject_reply_alloc(um_kernel *kernel, mach_msg_size_t body_size, uint32_t ndesc)
{
    um_kmsg *k = reply_kmsg(kernel, NULL, 0, 0, body_size, ndesc);
    if (k)
        k->kernel = kernel;
    return k;
}

/*
 * The reserved error reply. XNU allocates a routine's reply before the routine runs, and that
 * allocation cannot fail (ipc_kobject_server_internal, IPC_KMSG_ALLOC_NOFAIL), so a routine
 * that ran always answers. umach's routines allocate their replies after they ran; so the
 * server takes a mig_reply_error_t of the kernel's before the routine runs, and sends it
 * (the routine's error, or KERN_RESOURCE_SHORTAGE) when the reply cannot be allocated.
 * Conditions: world locked. Returns the reserve, or NULL when not even it can be made.
 */
static um_kmsg *reserve_take(um_kernel *kernel)
{
    um_kmsg *k = kernel->reply_reserve;
    kernel->reply_reserve = NULL;
    if (!k)
        k = um_kmsg_kernel(NULL, 0, 0, sizeof(NDR_record_t) + sizeof(kern_return_t), 0);
    return k;
}

/* Give the reserve back unused, or (used: NULL) make the next one now if memory allows. */
static void reserve_put(um_kernel *kernel, um_kmsg *k)
{
    if (!k)
        k = um_kmsg_kernel(NULL, 0, 0, sizeof(NDR_record_t) + sizeof(kern_return_t), 0);
    if (kernel->reply_reserve)
        um_kmsg_destroy(k);
    else
        kernel->reply_reserve = k;
}

void um_kobject_reserve_free(um_kernel *kernel)
{
    um_kmsg *k = kernel->reply_reserve;
    kernel->reply_reserve = NULL;
    if (k)
        um_kmsg_destroy(k);
}

/* The world whose kernel serves `request`: the sender's, else that of the reply port's task. */
static um_kernel *server_kernel(const um_kmsg *request, const um_task *sender)
{
    if (sender)
        return sender->kernel;
    const um_port *reply = request->reply;
    if (UM_PORT_VALID(reply) && reply->receiver && reply->receiver->task)
        return reply->receiver->task->kernel;
    return NULL;
}

/* Does reply `k` go to an ordinary live port's queue (not destroyed, not served at once)? */
static bool reply_queued(const um_kmsg *k)
{
    const um_port *dest = k->dest;
    return dest->active && !k->circular &&
           (dest->kotype == UM_KOT_NONE || dest->kotype == UM_KOT_TIMER);
}

/*
 * Send reply `k` (consumed), or leave it in *heldp (when given) if its queue has no room for
 * it. Without a sender to wait (a message the kernel made) it passes the queue limit, and at
 * the kernel's limit it is destroyed (XNU: MACH_SEND_NO_BUFFER, the reply destroyed by
 * ipc_kmsg_send). Conditions: k's destination is set.
 */
static void reply_send(um_kmsg *k, um_kmsg **heldp)
{
    if (reply_queued(k)) {
        if (heldp && um_mqueue_full(k->dest, k)) {
            *heldp = k;
            return;
        }
        if (um_mqueue_full_kernel(k->dest)) {
            um_kmsg_drop_kernel_reply(k);
            return;
        }
    }
    um_kmsg_send_nowait(k);
}

/*
 * Build and send the reply to `request` (whose reply right is taken). Consumes reply->kmsg
 * and, when it travels, reply->port; when the reply cannot be allocated, *reserve (set to
 * NULL: used) goes instead with the routine's error or KERN_RESOURCE_SHORTAGE. With
 * `heldp`, a reply with no room is left there (reply_send). Conditions: the request's reply
 * right is valid.
 */
static void send_reply(um_kernel *kernel, um_kmsg *request, um_kobject_reply *reply,
                       um_kmsg **reserve, um_kmsg **heldp)
{
    um_port *dest = request->reply;
    mach_msg_type_name_t dest_type = MACH_MSGH_BITS_LOCAL(request->bits);
    mach_msg_id_t id = request->id + 100;
    um_kmsg *k;
    if (reply->ret == KERN_SUCCESS && reply->kmsg) {
        k = reply->kmsg;
        reply->kmsg = NULL;
        k->dest = dest;
        k->bits |= MACH_MSGH_BITS_SET(dest_type, 0, 0, 0);
        k->id = id;
        /* A reply carrying a receive right is checked for loops, as below. */
        for (uint32_t i = 0; i < k->ndesc; i++) {
            um_kdesc *d = &k->desc[i];
            if (d->type == MACH_MSG_PORT_DESCRIPTOR &&
                d->u.port.disp == MACH_MSG_TYPE_PORT_RECEIVE && UM_PORT_VALID(d->u.port.port) &&
                UM_PORT_VALID(dest) && um_port_check_circularity(d->u.port.port, dest))
                k->circular = true;
        }
    } else if (reply->ret == KERN_SUCCESS && reply->port) {
        k = reply_kmsg(kernel, dest, dest_type, id,
                       sizeof(mach_msg_body_t) + sizeof(mach_msg_port_descriptor_t), 1);
        if (k) {
            uint32_t one = 1;
            memcpy(k->body, &one, sizeof one);
            um_kdesc *d = &k->desc[0];
            d->type = MACH_MSG_PORT_DESCRIPTOR;
            d->uoffset = sizeof(mach_msg_base_t);
            d->u.port.port = reply->port;
            d->u.port.disp = reply->disp;
            k->ndesc = 1;
            /*
             * A reply carrying a receive right is checked for loops like any message (XNU's
             * ipc_kmsg_copyin_from_kernel): sent to a port that travels inside that right's
             * own queue, it would leave both unreachable; it is destroyed instead.
             */
            if (reply->disp == MACH_MSG_TYPE_PORT_RECEIVE && UM_PORT_VALID(reply->port) &&
                UM_PORT_VALID(dest))
                k->circular = um_port_check_circularity(reply->port, dest);
            reply->port = NULL;
        }
    } else {
        k = reply_kmsg(kernel, dest, dest_type, id, sizeof(NDR_record_t) + sizeof(kern_return_t),
                       0);
        if (k) {
            memcpy(k->body, &NDR_record, sizeof(NDR_record_t));
            memcpy(k->body + sizeof(NDR_record_t), &reply->ret, sizeof reply->ret);
        }
    }
    if (!k && *reserve) {
        /* Out of memory: the reserved error reply answers (what a successful routine made
         * and did not send, its right, is released by the caller). */
        k = *reserve;
        *reserve = NULL;
        kern_return_t ret = reply->ret != KERN_SUCCESS ? reply->ret : KERN_RESOURCE_SHORTAGE;
        k->dest = dest;
        k->bits |= MACH_MSGH_BITS_SET(dest_type, 0, 0, 0);
        k->id = id;
        memcpy(k->body, &NDR_record, sizeof(NDR_record_t));
        memcpy(k->body + sizeof(NDR_record_t), &ret, sizeof ret);
    }
    if (!k)
        return; /* no reserve either (no kernel): the reply right is destroyed with the request */
    request->reply = NULL;
    request->bits &= ~(mach_msg_bits_t)MACH_MSGH_BITS_LOCAL_MASK;
    reply_send(k, heldp);
}

/* The kernel received the request: its destination right is used up (no send-once notice). */
static void consume_dest(um_kmsg *request)
{
    um_port *dest = request->dest;
    request->dest = NULL;
    if (MACH_MSGH_BITS_REMOTE(request->bits) == MACH_MSG_TYPE_PORT_SEND_ONCE) {
        um_port_so_reserve_used(dest);
        dest->sorights--;
        um_port_release(dest);
    } else {
        um_port_release_send(dest);
    }
}

mach_msg_return_t um_kobject_server(um_kmsg *request, um_task *sender, um_kmsg **heldp)
{
    um_port *port = request->dest;
    um_kobject_reply reply = {.ret = MIG_BAD_ID, .port = NULL, .disp = 0, .kmsg = NULL};
    um_kernel *kernel = NULL;
    um_kmsg *reserve = NULL;
    switch (port->kotype) {
    case UM_KOT_TASK:
    case UM_KOT_HOST:
    case UM_KOT_THREAD:
    case UM_KOT_CLOCK:
    case UM_KOT_SEMAPHORE:
    case UM_KOT_MEMORY_ENTRY:
    case UM_KOT_TASK_RESUME:
    case UM_KOT_BOOTSTRAP:
        kernel = UM_PORT_VALID(request->reply) ? server_kernel(request, sender) : NULL;
        if (kernel && !(reserve = reserve_take(kernel))) {
            /* Not even an error reply can be made: the routine does not run, and the send
             * fails as one the kernel has no memory for. */
            consume_dest(request);
            um_kmsg_destroy(request);
            return MACH_SEND_NO_BUFFER;
        }
        break;
    default:
        break;
    }
    switch (port->kotype) {
    case UM_KOT_TASK:
        if (um_rare(port)->kobject)
            um_task_server(um_rare(port)->kobject, sender, request, &reply);
        else
            reply.ret = MIG_NO_REPLY; /* the task has ended: its port is dying */
        break;
    case UM_KOT_HOST:
        if (um_rare(port)->kobject)
            um_host_server(um_rare(port)->kobject, request, &reply);
        else
            reply.ret = MIG_NO_REPLY; /* a host port with no kernel to answer for */
        break;
    case UM_KOT_THREAD:
        um_thread_server(request, &reply);
        break;
    case UM_KOT_CLOCK:
        um_clock_server(um_rare(port)->kobject, request, &reply);
        break;
    case UM_KOT_SEMAPHORE:
    case UM_KOT_MEMORY_ENTRY:
        um_kobject_other_server(request, &reply);
        break;
    case UM_KOT_TASK_RESUME:
        um_task_resume_server(um_rare(port)->kobject, request, &reply);
        break;
    case UM_KOT_BOOTSTRAP:
        if (um_rare(port)->kobject)
            um_bootstrap_serve(um_rare(port)->kobject, request, &reply);
        else
            reply.ret = MIG_NO_REPLY; /* the registry is being torn down */
        break;
    default:
        um_kmsg_destroy(request);
        return MACH_SEND_INVALID_DEST;
    }
    if (reply.ret != MIG_NO_REPLY && UM_PORT_VALID(request->reply))
        send_reply(kernel, request, &reply, &reserve, heldp);
    if (kernel)
        reserve_put(kernel, reserve);
    if (reply.port)
        um_right_release(reply.port, reply.disp);
    if (reply.kmsg)
        um_kmsg_destroy(reply.kmsg); /* a failed routine's, or no one to answer */
    /* What the routine did not take is destroyed with the request, as a MIG server does. */
    consume_dest(request);
    um_kmsg_destroy(request);
    return MACH_MSG_SUCCESS;
}
