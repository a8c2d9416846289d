/*
 * um_msg.c — message transfer as the core does it: a send and a receive that never block.
 *
 * Each returns a result, or MACH_SEND_IN_PROGRESS / MACH_RCV_IN_PROGRESS with the caller's
 * waiter queued on the port (or set). The front end then sleeps as it likes; once the waiter
 * is woken (or it wants to look again) it calls the same function with the same state, and
 * on a timeout, an interrupt or the death of the task it cancels (um_msg_send_cancel,
 * um_msg_receive_cancel). Nothing here touches the task's memory: a receive leaves the bytes
 * for the task's buffer in a um_msg_out, which the front end writes after releasing the
 * world lock, so a bad buffer never faults with the lock held.
 *
 * Who owns the message: the sender's call until um_msg_send queues it; a blocked sender's
 * um_msg_send state while it waits for room; the port's queue once delivered; the receive's
 * um_msg_out once copied out (rights named, regions given), until the front end has written
 * it and released it.
 */
#include "um_hint.h"
#include "um_kmsg.h"
#include "um_kobject.h"

#include <mach/mach.h>

#include <stddef.h>
#include <string.h>

/* ---- send --------------------------------------------------------------------------------- */

/*
 * Can a sender complete the receive of `w` in its own call? Only when the message it would
 * take carries no descriptors: copying out rights and the header needs only the receiving
 * space, while out-of-line memory and port arrays are given through the receiving task's
 * memory operations, which a front end may serve only within that task's own call (umachd
 * does). Such a receive is woken and copies out itself.
 */
static bool handoff_possible(const um_waiter *w)
{
    const um_object *o = w->owner;
    const um_port *src =
        o->otype == UM_OT_PORT ? (const um_port *)o : um_pset_ready_member((um_pset *)w->owner);
    return src && src->msg_head && src->msg_head->ndesc == 0;
}

UM_HOT_STATIC mach_msg_return_t receive_from(um_task *task, um_msg_rcv_state *r, um_port *port,
                                             um_pset *set);

_Thread_local um_hints um_thread_hints;

/*
 * After a handoff: what the receiving thread writes before this thread's next call, which
 * in a round trip touches the same again (um_hint.h): the receive's state (its inputs and
 * waiter; its `out` up to the small buffer), the ports of the message, the receiving space and
 * the name-table entries of the receive and of the next name to be given. Kept as ranges
 * (um_hints.note), after those of an earlier handoff not yet taken, or instead of them when
 * there is no room. The ledgers and the reply port's send-once reserves are left out: a round
 * trip ran as fast without them (docs/umach-internals.md, tenth round), and each range costs
 * the handoff stores before its post and the woken thread a prefetch.
 */
static void handoff_hints(const um_msg_rcv_state *r, const um_port *dest, const um_port *reply)
{
    um_hints *h = &um_thread_hints;
    uint32_t n = h->nnotes <= UM_NOTES_MAX - 6 ? h->nnotes : 0;
#define HANDOFF_NOTE(ptr, size) (h->note[n].p = (ptr), h->note[n].len = (size), n++)
    HANDOFF_NOTE(r, offsetof(um_msg_rcv_state, out.small));
    HANDOFF_NOTE(dest, sizeof *dest);
    if (UM_PORT_VALID(reply))
        HANDOFF_NOTE(reply, sizeof *reply);
    const um_space *space = r->task->space;
    HANDOFF_NOTE(space, sizeof *space);
    uint32_t index = MACH_PORT_INDEX(r->rcv_name);
    if (index < space->count)
        HANDOFF_NOTE(&space->table[index], sizeof(um_entry));
    if (space->free_head)
        HANDOFF_NOTE(&space->table[space->free_head], sizeof(um_entry));
#undef HANDOFF_NOTE
    _Static_assert(UM_NOTES_MAX >= 6, "room for every range a handoff notes (6 at most)");
    h->nnotes = n;
}

/*
 * Queue a message and, when a receive waits for it, complete that receive now (see
 * um_msg_rcv_state.handed) before waking its thread: the woken thread only writes the
 * result to its buffer, instead of taking the world lock again to dequeue and copy out while
 * the sender's CPU still holds the queue, the message and the space in its cache.
 * Only receivers wait in a port's or set's receiver queue, so the waiter is a receive's.
 */
static __attribute__((noinline)) void handoff(um_kmsg *k, um_waiter *w)
{
    if (!handoff_possible(w)) {
        um_waiter_wake(w);
        return;
    }
    um_msg_rcv_state *r = (um_msg_rcv_state *)((char *)w - offsetof(um_msg_rcv_state, waiter));
    /* Read now: the receive consumes the message's rights (a dead reply port may go). */
    const um_port *dest = k->dest, *reply = k->reply;
    /*
     * Taken off its queue just now, it was not woken: um_msg_receive would find it so and look
     * its name up again, which names the port or set it waited on (receive_from).
     */
    um_object *o = w->owner;
    um_port *port = o->otype == UM_OT_PORT ? (um_port *)o : NULL;
    mach_msg_return_t mr = receive_from(r->task, r, port, port ? NULL : (um_pset *)o);
    if (mr == MACH_RCV_IN_PROGRESS)
        return; /* nothing for it after all: it waits on, queued again */
    handoff_hints(r, dest, reply);
    r->handed_mr = mr;
    w->final = true;
    um_waiter_wake(w);
    /* Last: once it reads true, the receiver may return and its state (its stack) is gone. */
    __atomic_store_n(&r->handed, true, __ATOMIC_RELEASE);
}

/* Kept apart from the handoff so that a send nobody waits for stays as short as it was. */
UM_HOT_STATIC void deliver_handoff(um_kmsg *k)
{
    um_waiter *w = um_mqueue_deliver_take(k);
    if (w)
        handoff(k, w);
}

UM_HOT mach_msg_return_t um_msg_send(um_task *task, um_msg_send_state *s)
{
    um_space *space = task->space;
    um_kmsg *k = s->kmsg;
    if (!s->copied_in) {
        /* The waiter is the caller's; a send that does not wait never links it. */
        s->waiter.queue = NULL;
        s->copied_in = true;
        /* The sender's tokens now, not when the message was copied (credentials change). */
        k->sec = task->sec;
        k->audit = task->audit;
        mach_msg_return_t mr = um_kmsg_copyin_prepared(space, k, s->option);
        if (mr != MACH_MSG_SUCCESS) {
            s->kmsg = NULL; /* consumed */
            return mr;
        }
        um_port *dest = k->dest;
        /* A shaped kmsg's destination was found active just now, and it carries no right. */
        if (!k->shape && (!dest->active || k->circular)) {
            /* A dead destination, or a message that would hold its own receiver forever:
             * XNU reports success and destroys the message. */
            s->kmsg = NULL;
            um_kmsg_destroy(k);
            return MACH_MSG_SUCCESS;
        }
        if (dest->kotype != UM_KOT_NONE && dest->kotype != UM_KOT_TIMER) {
            /* Served in this call, as XNU's kernel objects are. A timer's receive right is
             * the task's: its queue is an ordinary one (XNU serves only kernel-held
             * kernel-object ports). */
            s->kmsg = NULL;
            space->ledger->sent++; /* as XNU's ipc_kmsg_send, before the kernel serves it */
            um_kmsg *held = NULL;
            mach_msg_return_t mr = um_kobject_server(k, task, &held);
            if (!held)
                return mr;
            /*
             * Its reply found no room: this send goes on with it, under the request's options
             * and timeout, as XNU's ipc_kmsg_send does; whatever stops it destroys it, and the
             * send succeeds (kernel_reply).
             */
            s->kmsg = k = held;
            s->kernel_reply = true;
        } else if (s->kernel_reply && dest->receiver != space) {
            /* The mark is the sender's word (a world's client sets it): it holds only for a
             * port whose receive right is the sender's own, as the reply port of a request it
             * served on its own task port is, never for another task's port. */
            s->kernel_reply = false;
        }
    } else {
        um_waiter_cancel(&s->waiter); /* looked at again before it was woken */
        if (!k->dest->active) {
            /* The port died while we waited: the message counts as delivered and destroyed. */
            s->kmsg = NULL;
            um_kmsg_destroy(k);
            return MACH_MSG_SUCCESS;
        }
    }
    um_port *dest = k->dest;
    if (!um_mqueue_full(dest, k)) {
        s->kmsg = NULL;
        /* Counted when it is posted (XNU's ipc_mqueue_post); a kernel reply that waited for
         * room was counted as the request it answers. */
        space->ledger->sent += !s->kernel_reply;
        deliver_handoff(k);
        return MACH_MSG_SUCCESS;
    }
    /* XNU's order (ipc_mqueue_send_locked): a send that may not wait times out before the
     * kernel's limit is looked at; a queue at that limit is MACH_SEND_NO_BUFFER at once, for
     * any kind of destination right; only below it does the sender wait for room. */
    if (!s->may_block)
        return um_msg_send_cancel(task, s, MACH_SEND_TIMED_OUT);
    if (um_mqueue_full_kernel(dest))
        return um_msg_send_cancel(task, s, MACH_SEND_NO_BUFFER);
    s->waiter.woken = false;
    s->waiter.result = MACH_MSG_SUCCESS;
    s->waiter.owner = dest;
    um_waitq_append(&dest->senders, &s->waiter);
    return MACH_SEND_IN_PROGRESS;
}

mach_msg_return_t um_msg_send_cancel(um_task *task, um_msg_send_state *s, mach_msg_return_t why)
{
    um_waiter_cancel(&s->waiter);
    um_kmsg *k = s->kmsg;
    s->kmsg = NULL;
    if (!k)
        return why;
    if (s->kernel_reply) {
        /* A kernel reply is never handed back: destroyed, and the send succeeds (XNU's
         * ipc_kmsg_send), its destination right used up (a send-once right tells no one). */
        um_kmsg_drop_kernel_reply(k);
        return MACH_MSG_SUCCESS;
    }
    /* The message goes back to the sender's buffer with its rights and memory. */
    return why | um_kmsg_copyout_pseudo(task->space, k, s->msg_addr, &s->out);
}

/* ---- receive ------------------------------------------------------------------------------ */

static void out_small(um_msg_out *out, uint32_t offset, uint32_t len, uint32_t from)
{
    out->seg[out->nseg].offset = offset;
    out->seg[out->nseg].len = len;
    out->seg[out->nseg].bytes = out->small + from;
    out->nseg++;
}

/* A message too large for the buffer, without MACH_RCV_LARGE: destroyed, its header reported. */
static void too_large_header(um_space *space, um_kmsg *k, um_msg_rcv_state *r,
                             mach_port_seqno_t seqno)
{
    /* The message is destroyed; the receiver learns who it was for and its id. */
    mach_msg_type_name_t dest_type = MACH_MSGH_BITS_REMOTE(k->bits);
    mach_msg_type_name_t reply_type = MACH_MSGH_BITS_LOCAL(k->bits);
    mach_msg_type_name_t voucher_type = MACH_MSGH_BITS_VOUCHER(k->bits);
    um_port *dest = k->dest;
    k->dest = NULL;
    mach_port_name_t local = um_kmsg_copyout_dest(space, dest, dest_type);
    mach_msg_header_t h;
    h.msgh_bits = MACH_MSGH_BITS_SET(reply_type, dest_type, voucher_type, k->bits);
    h.msgh_size = sizeof(mach_msg_header_t);
    h.msgh_remote_port = MACH_PORT_NULL;
    h.msgh_local_port = local;
    h.msgh_voucher_port = MACH_PORT_NULL;
    h.msgh_id = k->id;
    um_kmsg_destroy(k);
    if (r->rcv_size >= sizeof h) {
        memcpy(r->out.small, &h, sizeof h);
        uint32_t len = sizeof h;
        mach_msg_size_t tsize = um_trailer_size(r->option);
        if (r->rcv_size >= sizeof h + tsize) {
            security_token_t sec = {{0, 1}};
            audit_token_t audit;
            memset(&audit, 0, sizeof audit);
            um_trailer_write(r->out.small + sizeof h, r->option, seqno, &sec, &audit, 0);
            len += tsize;
        }
        out_small(&r->out, 0, len, 0);
    }
}

UM_HOT mach_msg_return_t um_msg_receive(um_task *task, um_msg_rcv_state *r)
{
    um_space *space = task->space;
    if (!r->started) {
        r->waiter.queue = NULL;
        r->started = true;
        r->handed = false;
    } else if (r->handed) {
        return r->handed_mr; /* a sender completed it while we waited */
    } else {
        um_waiter_cancel(&r->waiter);
        /* The port or set went away or moved while we waited. */
        if (r->waiter.woken && r->waiter.result == MACH_RCV_PORT_CHANGED)
            return MACH_RCV_PORT_CHANGED;
    }
    mach_port_name_t rcv_name = r->rcv_name;
    um_entry *e = MACH_PORT_VALID(rcv_name) ? um_entry_lookup(space, rcv_name) : NULL;
    if (!e || !(e->type & (MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_PORT_SET))) {
        um_guard_exception(space, rcv_name, 0, kGUARD_EXC_RCV_INVALID_NAME);
        return MACH_RCV_INVALID_NAME;
    }
    mach_msg_return_t mr = e->type & MACH_PORT_TYPE_RECEIVE
                               ? receive_from(task, r, (um_port *)e->object, NULL)
                               : receive_from(task, r, NULL, (um_pset *)e->object);
    /*
     * XNU counts a message as received when the receiving thread takes it from the queue
     * itself (ipc_mqueue_select_on_thread), not when a sender hands it to a receive that was
     * already waiting (the `handed` return above, ipc_mqueue_post's handoff). Every return of
     * receive_from but these took one (a too-large message without MACH_RCV_LARGE is taken
     * and destroyed; a copy-out error's message is taken).
     */
    if (mr == MACH_MSG_SUCCESS ||
        (mr != MACH_RCV_IN_PROGRESS && mr != MACH_RCV_TIMED_OUT &&
         !(mr == MACH_RCV_TOO_LARGE && (r->option & MACH_RCV_LARGE))))
        space->ledger->received++;
    return mr;
}

/*
 * The rest of a receive on `port` or `set` (one of them), which r->rcv_name names in `task`'s
 * space: um_msg_receive once it has looked the name up, and a handoff, whose waiter was queued
 * on the port or set the name still names (a receive right that leaves the space, dies or
 * leaves a set, and a set that dies, wake their waiters: MACH_RCV_PORT_CHANGED).
 */
UM_HOT_STATIC mach_msg_return_t receive_from(um_task *task, um_msg_rcv_state *r, um_port *port,
                                             um_pset *set)
{
    um_space *space = task->space;
    um_port *src = port ? (port->msgcount ? port : NULL) : um_pset_ready_member(set);
    if (!src) {
        if (!r->may_block)
            return MACH_RCV_TIMED_OUT;
        r->waiter.woken = false;
        r->waiter.result = MACH_MSG_SUCCESS;
        r->waiter.owner = port ? (void *)port : (void *)set;
        r->task = task;
        um_waitq_append(port ? &port->receivers : &set->receivers, &r->waiter);
        return MACH_RCV_IN_PROGRESS;
    }

    um_kmsg *k = src->msg_head;
    mach_msg_size_t tsize = um_trailer_size(r->option);
    mach_port_seqno_t seqno;
    if ((uint64_t)r->rcv_size < (uint64_t)k->size + tsize) {
        if (r->option & MACH_RCV_LARGE) {
            /*
             * The message stays queued; report the size it needs (no trailer). As XNU, each
             * header field is written when the buffer reaches it.
             */
            mach_msg_header_t h = {.msgh_size = k->size, .msgh_local_port = src->receiver_name};
            memcpy(r->out.small, &h, sizeof h);
            if (r->rcv_size >= offsetof(mach_msg_header_t, msgh_remote_port))
                out_small(&r->out, offsetof(mach_msg_header_t, msgh_size), sizeof h.msgh_size,
                          offsetof(mach_msg_header_t, msgh_size));
            if ((r->option & MACH_RCV_LARGE_IDENTITY) &&
                r->rcv_size >= offsetof(mach_msg_header_t, msgh_voucher_port))
                out_small(&r->out, offsetof(mach_msg_header_t, msgh_local_port),
                          sizeof h.msgh_local_port, offsetof(mach_msg_header_t, msgh_local_port));
            /* This receive goes without it: another thread waiting may take it (XNU). */
            um_mqueue_wake_next(src);
            return MACH_RCV_TOO_LARGE;
        }
        k = um_mqueue_dequeue(src, &seqno);
        too_large_header(space, k, r, seqno);
        return MACH_RCV_TOO_LARGE;
    }
    uint64_t context = src->context;
    /* A shaped kmsg (its rights taken by the simple copy-in) is one or the other as it is. */
    unsigned shape = k->shape;
    if (shape ? !(shape & UM_KMSG_SHAPE_SO_REPLY) || um_kmsg_simple_request_fits(k, space)
              : um_kmsg_is_simple(k) || um_kmsg_is_simple_request(k, space)) {
        /*
         * A message that carries nothing but its destination right (one-way messages,
         * replies), or that and a send-once reply right (requests): um_kmsg_copyout's work
         * for it, in place, without its detours; the image is um_kmsg_simple_image's, as a
         * preview of a simple message (um_msg_render) is.
         */
        k = um_mqueue_dequeue(src, &seqno);
        /*
         * Its rights leave it here; k->reply and k->dest keep their values, which nobody
         * reads again: the image is freed once written (um_msg_out_release), never destroyed.
         */
        mach_port_name_t remote = MACH_PORT_NULL;
        if (k->reply) /* as um_right_copyout: a fresh name, which the test above made sure of */
            remote = um_entry_claim_send_once(space, k->reply);
        /*
         * Its destination is `src`, whose receive right this space holds (found under
         * rcv_name, or as a member of a set found there): live, and named receiver_name,
         * the name um_kmsg_copyout_dest would give.
         */
        mach_port_name_t local = src->receiver_name;
        um_kmsg_release_dest(k->dest, MACH_MSGH_BITS_REMOTE(k->bits));
        mach_msg_header_t *h = (mach_msg_header_t *)(void *)(k->body - sizeof *h);
        r->out.image = k;
        r->out.nseg = 1;
        r->out.seg[0].offset = 0;
        um_kmsg_simple_image(h, k, remote, local, r->option, seqno, context);
        r->out.seg[0].len = k->size + tsize;
        r->out.seg[0].bytes = (const uint8_t *)h;
        return MACH_MSG_SUCCESS;
    }
    k = um_mqueue_dequeue(src, &seqno);
    mach_msg_size_t size = k->size;
    mach_msg_return_t mr = um_kmsg_copyout(space, k, r->option, r->rcv_addr, &r->out);
    if ((mr & ~MACH_MSG_MASK) != MACH_RCV_HEADER_ERROR) {
        /* The image (the kmsg, kept by `out`) has room for the largest trailer after it. */
        um_trailer_write((uint8_t *)r->out.seg[0].bytes + size, r->option, seqno, &k->sec,
                         &k->audit, context);
        r->out.seg[0].len += tsize;
    }
    return mr;
}

void um_msg_receive_cancel(um_msg_rcv_state *r)
{
    um_waiter_cancel(&r->waiter);
}

uint32_t um_msg_render(const um_space *space, const um_port *port, const um_kmsg *k,
                       uint32_t ahead, mach_msg_option_t option, mach_msg_size_t rcv_size,
                       void *buf, uint32_t cap)
{
    if (!port->active || port->receiver != space || k->dest != port || !um_kmsg_is_simple(k))
        return 0;
    /* The receive's own test (um_msg_receive): smaller is MACH_RCV_TOO_LARGE, not an image. */
    uint64_t len = (uint64_t)k->size + um_trailer_size(option);
    if (len > rcv_size || len > cap)
        return 0;
    mach_msg_header_t *h = buf;
    memcpy(h + 1, k->body, k->size - sizeof *h);
    um_kmsg_simple_image(h, k, MACH_PORT_NULL, um_kmsg_dest_name(space, port), option,
                         port->seqno + ahead, port->context);
    return (uint32_t)len;
}
