/*
 * d_msg.c — mach_msg as umachd serves it (docs/world.md, "mach_msg in a world").
 *
 * The client sends its options, sizes, names, timeout and the bytes of its send buffer (it
 * reads them itself, with the fault-safe copy of embedded mode). The daemon runs the same
 * non-blocking core as embedded mode (um_kmsg_prepare, um_msg_send, um_msg_receive) with the
 * task's memory operations served from the request (the per-call context: msg_read reads the
 * request's bytes at the client's addresses). The bytes for the client's buffer (um_msg_out:
 * a received message, or a send's pseudo-receive) go back in the reply with where to write
 * them; the client writes them with its fault-safe write.
 *
 * A call that must wait is a deferred reply: the waiter stays queued in the core with this
 * call as its front-end data; its wake hook puts the connection on the ready list and the
 * loop calls the core again (d_msg_resume). A timed wait's deadline is in the daemon's heap;
 * at expiry the call is cancelled (*_TIMED_OUT). UM_WIRE_CANCEL (the client's thread got a
 * signal with MACH_*_INTERRUPT) cancels with *_INTERRUPTED; a connection that hangs up
 * cancels without a reply. A waiter already woken is resumed rather than cancelled, as the
 * embedded front end prefers a wake to a timeout.
 */
#define _GNU_SOURCE
#include "umachd.h"

#include "api/um_mig.h"
#include "kern/um_kobject_ports.h"
#include "kern/um_post.h"

#include <stdlib.h>
#include <string.h>

static void msg_wake(um_waiter *w)
{
    d_msg_call *m = w->fe;
    d_ready(m->conn->task->d, m->conn);
}

/*
 * Send the reply for `m`, with what `out` holds for the buffer `target` and the call's
 * out-of-line memory (its memory part after the bytes), and free `m`.
 */
static bool msg_finish(d_conn *c, d_msg_call *m, mach_msg_return_t mr, int target, um_msg_out *out)
{
    uint64_t args[6] = {target, 0, 0, 0, 0, 0};
    uint8_t small[2 * sizeof out->small];
    uint8_t *blob = NULL;
    uint32_t total = 0;
    uint32_t nseg = out ? out->nseg : 0;
    if (nseg > 2)
        nseg = 2;
    for (uint32_t i = 0; i < nseg; i++) {
        args[2 + 2 * i] = out->seg[i].offset;
        args[3 + 2 * i] = out->seg[i].len;
        total += out->seg[i].len;
    }
    args[1] = nseg;
    size_t xlen = um_xmem_out_size(&m->xm.reply);
    int xfds[UM_WIRE_XMEM_MAX_FDS];
    bool ok;
    if (nseg == 1 && !xlen) {
        ok = d_reply(c, UM_WIRE_MSG, m->id, mr, args, 6, out->seg[0].bytes, total);
    } else {
        if (xlen > UM_WIRE_BLOB_MAX - (size_t)total || m->xm.reply.nfds > UM_WIRE_XMEM_MAX_FDS) {
            /* Never: a message carries less than this. Its memory is dropped. */
            xlen = 0;
            mr = target == UM_WIRE_OUT_RCV_BUF ? um_xmem_fold_rcv(mr, MACH_MSG_VM_SPACE) : mr;
        }
        size_t all = (size_t)total + xlen;
        blob = all == 0 ? NULL : all <= sizeof small ? small : malloc(all);
        if (!blob && all) {
            /* No memory to gather the bytes: the message is lost as if unwritable. */
            args[1] = 0;
            total = 0;
            xlen = 0;
            mr = target == UM_WIRE_OUT_SEND_BUF ? MACH_SEND_NO_BUFFER : MACH_RCV_INVALID_DATA;
        }
        uint32_t at = 0;
        for (uint32_t i = 0; i < nseg && blob; i++) {
            memcpy(blob + at, out->seg[i].bytes, out->seg[i].len);
            at += out->seg[i].len;
        }
        if (xlen)
            um_xmem_out_encode(&m->xm.reply, blob + total, xfds);
        ok = d_reply_xmem(c, UM_WIRE_MSG, m->id, mr, args, 6, blob, total + (uint32_t)xlen,
                          (uint32_t)xlen, xfds, xlen ? m->xm.reply.nfds : 0);
        if (blob != small)
            free(blob);
    }
    if (out)
        um_msg_out_release(out);
    if (c->pending == m)
        c->pending = NULL;
    um_xmem_call_end(&m->xm); /* the reply took what it passes; the rest is closed */
    free(m);
    return ok;
}

/* Run the core for `m` with its task's memory operations seeing the call's context. */
static void msg_enter(d_conn *c, d_msg_call *m, d_callctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->xm = &m->xm;
    d_ctx_enter(c->task, ctx);
}

/* The call waits: arm its waiter and its deadline. false: cannot wait (no memory). */
static bool msg_wait(d_conn *c, d_msg_call *m, um_waiter *w)
{
    w->fe = m;
    w->wake = msg_wake;
    c->pending = m;
    if (m->timed && m->heap_index == (size_t)-1 && !d_heap_add(c->task->d, m))
        return false;
    return true;
}

static bool rcv_start(d_conn *c, d_msg_call *m);
static void send_waits(d_conn *c, d_msg_call *m);

/* The send phase ended with `mr`. */
static bool send_done(d_conn *c, d_msg_call *m, mach_msg_return_t mr)
{
    if (m->timed)
        d_heap_remove(c->task->d, m);
    /* The message is in (or refused): what the request brought is the copies' now. */
    um_xmem_call_drop_request(&m->xm);
    if (um_xmem_call_lied(&m->xm))
        c->task->lied = true; /* ends once this round is over, like a fatal guard */
    if (mr != MACH_MSG_SUCCESS || !(m->option & MACH_RCV_MSG))
        return msg_finish(c, m, mr, UM_WIRE_OUT_SEND_BUF, &m->s.out);
    return rcv_start(c, m);
}

static bool rcv_done(d_conn *c, d_msg_call *m, mach_msg_return_t mr)
{
    if (m->timed)
        d_heap_remove(c->task->d, m);
    /* A receive alone that got its message: the next ones may come from a window. */
    if (mr == MACH_MSG_SUCCESS && !(m->option & MACH_SEND_MSG) && !m->no_window)
        d_win_open(c->task->d, c, m->r.rcv_name, m->option, m->r.rcv_size);
    return msg_finish(c, m, mr, UM_WIRE_OUT_RCV_BUF, &m->r.out);
}

static void set_deadline(d_msg_call *m, bool timed)
{
    m->timed = timed;
    m->heap_index = (size_t)-1;
    if (timed)
        m->deadline_ns = um_now_ns() + (uint64_t)m->timeout * 1000000u;
}

/*
 * Before `m`'s receive looks at the queue (at its start, and each time it looks again): a
 * window on the port (this thread's or another's) is taken back, what it let be claimed
 * received first.
 */
static void rcv_win_revoke(d_conn *c, const d_msg_call *m)
{
    um_entry *e = um_entry_lookup(c->task->task->space, m->r.rcv_name);
    if (e && (e->type & MACH_PORT_TYPE_RECEIVE) && e->object)
        d_win_revoke_port(c->task->d, (um_port *)e->object);
}

static bool rcv_start(d_conn *c, d_msg_call *m)
{
    um_task *task = c->task->task;
    m->in_send = false;
    if (m->r.rcv_addr == 0)
        return msg_finish(c, m, MACH_RCV_INVALID_DATA, UM_WIRE_OUT_NONE, NULL);
    bool timed = (m->option & MACH_RCV_TIMEOUT) != 0;
    m->r.may_block = !(timed && m->timeout == 0);
    set_deadline(m, timed);
    rcv_win_revoke(c, m);
    d_callctx ctx;
    msg_enter(c, m, &ctx);
    mach_msg_return_t mr = um_msg_receive(task, &m->r);
    d_ctx_leave(c->task, &ctx);
    if (mr == MACH_RCV_IN_PROGRESS) {
        if (msg_wait(c, m, &m->r.waiter))
            return true;
        um_msg_receive_cancel(&m->r);
        mr = MACH_RCV_TIMED_OUT; /* no memory to wait */
    }
    return rcv_done(c, m, mr);
}

/*
 * Before a send: one that would find its queue full only because of room promised to posts
 * takes those promises back first (what it changes of rights, the core tells d_post.c as it
 * changes them). A simple COPY_SEND that may be posted next time (`may_post`: the client
 * posts) gives its port and name (a reference) for the grant it earns if it succeeds.
 */
static void post_look(d_conn *c, mach_msg_option_t option, const um_wire_pkt *p,
                      uint32_t nbytes, bool may_post, um_port **portp, mach_port_name_t *namep)
{
    d_daemon *d = c->task->d;
    if (!(option & MACH_SEND_MSG))
        return;
    if (nbytes < sizeof(mach_msg_header_t))
        return; /* unreadable: it fails */
    mach_msg_header_t h;
    memcpy(&h, p->blob, sizeof h);
    mach_msg_type_name_t rt = MACH_MSGH_BITS_REMOTE(h.msgh_bits);
    um_entry *e = um_entry_lookup(c->task->task->space, h.msgh_remote_port);
    um_port *port = NULL;
    if (e && (e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND_ONCE)) &&
        e->object && e->object->otype == UM_OT_PORT)
        port = (um_port *)e->object;
    if (!port || port->kotype != UM_KOT_NONE)
        return;
    bool once = rt == MACH_MSG_TYPE_MAKE_SEND_ONCE || rt == MACH_MSG_TYPE_MOVE_SEND_ONCE;
    if (port->reserved && !once && (uint64_t)port->msgcount + port->reserved >= port->qlimit)
        d_post_revoke_port(d, port);
    if (may_post && (option & ~(MACH_SEND_TIMEOUT | MACH_SEND_INTERRUPT)) == MACH_SEND_MSG &&
        (e->type & MACH_PORT_TYPE_SEND) && d_post_eligible_header(&h, nbytes)) {
        um_port_ref(port);
        *portp = port;
        *namep = h.msgh_remote_port;
    }
}

/*
 * Is the message the reply to a mach_vm routine the client served on its own task port
 * (UM_WIRE_MSG_KERNEL_REPLY): a served routine's id + 100, no reply port? Only such a message
 * is sent as a kernel reply (um_msg_send_state.kernel_reply): with the request's options like
 * any send, but destroyed, the send succeeding, when it cannot be queued.
 */
static bool kernel_reply_shaped(const um_wire_pkt *p, uint32_t nbytes)
{
    mach_msg_header_t h;
    if (nbytes < sizeof h)
        return false;
    memcpy(&h, p->blob, sizeof h);
    uint32_t args;
    um_vm_mig_desc desc;
    return MACH_MSGH_BITS_LOCAL(h.msgh_bits) == 0 && h.msgh_local_port == MACH_PORT_NULL &&
           um_vm_mig_request(h.msgh_id - 100, &args, &desc);
}

bool d_msg(d_conn *c, um_wire_pkt *p)
{
    if (p->h.nargs != UM_WIRE_MSG_NARGS)
        return false;
    d_task *t = c->task;
    um_task *task = t->task;
    mach_msg_option_t option = (mach_msg_option_t)p->args[0];
    mach_msg_size_t send_size = (mach_msg_size_t)p->args[1];
    uint64_t flags = p->args[7];
    bool unreadable = (flags & UM_WIRE_MSG_UNREADABLE) != 0;
    if (p->args[1] > UINT32_MAX || p->args[2] > UINT32_MAX || p->args[3] > UINT32_MAX ||
        p->args[4] > UINT32_MAX)
        return false;
    /*
     * The bytes are the send buffer, whole, or none (not read: unreadable or not sent), then
     * the memory part of its out-of-line memory, if it has any.
     */
    uint32_t xlen = (p->h.flags & UM_WIRE_F_XMEM) ? p->h.xmem_len : 0;
    uint32_t nbytes = p->h.blob_len - xlen;
    if (nbytes != 0 && (unreadable || !(option & MACH_SEND_MSG) || nbytes != send_size))
        return false;
    if (xlen && nbytes == 0)
        return false; /* memory without a message */
    d_task_recheck_creds(t, (uint32_t)(flags >> UM_WIRE_MSG_CRED_GEN_SHIFT));
    d_msg_call *m = calloc(1, sizeof *m);
    if (!m)
        return false;
    uint32_t nfds = p->nfds;
    p->nfds = 0; /* the call's now, whatever comes */
    if (!um_xmem_call_init(&m->xm, t->xm_owner, t->d->kernel.page_size,
                           xlen ? p->blob + nbytes : NULL, xlen, p->fds, nfds)) {
        free(m);
        t->lied = true; /* a memory part that does not hold together: the task ends */
        return false;
    }
    m->conn = c;
    m->id = p->h.id;
    m->option = option;
    m->timeout = (mach_msg_timeout_t)p->args[4];
    m->no_window = (flags & UM_WIRE_MSG_NO_WINDOW) != 0;
    m->heap_index = (size_t)-1;
    m->r.option = option;
    m->r.rcv_size = (mach_msg_size_t)p->args[2];
    m->r.rcv_name = (mach_port_name_t)p->args[3];
    m->r.rcv_addr = p->args[6];
    m->r.started = false;
    m->r.out.nseg = 0;
    m->r.out.image = NULL;
    if (!(option & MACH_SEND_MSG)) {
        if (!(option & MACH_RCV_MSG))
            return msg_finish(c, m, MACH_MSG_SUCCESS, UM_WIRE_OUT_NONE, NULL);
        return rcv_start(c, m);
    }
    /* Posted sends (d_post.c): what this send may do to the grants, and may earn. */
    um_port *grant_port = NULL;
    mach_port_name_t grant_name = MACH_PORT_NULL;
    post_look(c, option, p, nbytes, (flags & UM_WIRE_MSG_NO_POST) == 0, &grant_port,
              &grant_name);
    d_callctx ctx;
    msg_enter(c, m, &ctx);
    ctx.ranges[0] = (d_range){p->args[5], send_size, nbytes ? p->blob : NULL, -1};
    ctx.nranges = 1;
    um_kmsg *k = NULL;
    mach_msg_return_t mr = um_kmsg_prepare(task, p->args[5], send_size, &k);
    if (mr != MACH_MSG_SUCCESS) {
        d_ctx_leave(t, &ctx);
        return msg_finish(c, m, mr, UM_WIRE_OUT_NONE, NULL);
    }
    d_post_make_room(t->d, task->space ? task->space->ledger : NULL, k->charge);
    m->in_send = true;
    m->s.copied_in = false;
    m->s.out.nseg = 0;
    m->s.out.image = NULL;
    m->s.kmsg = k;
    m->s.option = option;
    m->s.msg_addr = p->args[5];
    bool timed = (option & MACH_SEND_TIMEOUT) != 0;
    m->s.may_block = !(timed && m->timeout == 0);
    m->s.kernel_reply = (flags & UM_WIRE_MSG_KERNEL_REPLY) && kernel_reply_shaped(p, nbytes);
    set_deadline(m, timed);
    mr = um_msg_send(task, &m->s);
    if (mr == MACH_SEND_IN_PROGRESS && !msg_wait(c, m, &m->s.waiter))
        mr = um_msg_send_cancel(task, &m->s, MACH_SEND_NO_BUFFER);
    d_ctx_leave(t, &ctx);
    if (mr == MACH_SEND_IN_PROGRESS)
        send_waits(c, m);
    if (grant_port) {
        if (mr == MACH_MSG_SUCCESS)
            d_post_grant(t->d, c, grant_name, grant_port); /* the next ones may be posted */
        um_port_release(grant_port);
    }
    if (mr == MACH_SEND_IN_PROGRESS)
        return true;
    return send_done(c, m, mr);
}

/* A semaphore wait ended with `kr`: reply, drop the semaphore's reference, free the call. */
static bool sema_done(d_conn *c, d_msg_call *m, kern_return_t kr)
{
    if (m->timed)
        d_heap_remove(c->task->d, m);
    if (c->pending == m)
        c->pending = NULL;
    um_port_release(m->sema_port);
    bool ok = d_reply(c, UM_WIRE_SEMAPHORE_WAIT, m->id, kr, NULL, 0, NULL, 0);
    free(m);
    return ok;
}

bool d_sema_wait(d_conn *c, uint64_t id, um_port *wport, um_port *sport, uint64_t timeout_ns)
{
    d_msg_call *m = calloc(1, sizeof *m);
    if (!m)
        return d_reply(c, UM_WIRE_SEMAPHORE_WAIT, id, KERN_RESOURCE_SHORTAGE, NULL, 0, NULL, 0);
    m->conn = c;
    m->id = id;
    m->kind = D_WAIT_SEMA;
    m->heap_index = (size_t)-1;
    bool noblock = timeout_ns == 0;
    kern_return_t kr = um_semaphore_wait_begin(wport, &m->sema_w, noblock);
    if (sport) {
        /* XNU signals after queueing the waiter; a destroyed signal semaphore ends the wait. */
        if (um_semaphore_signal(sport, false) == KERN_TERMINATED) {
            if (kr == UM_SEMAPHORE_WAITING)
                um_semaphore_wait_cancel(wport, &m->sema_w);
            kr = KERN_TERMINATED;
        }
    }
    if (kr != UM_SEMAPHORE_WAITING) {
        free(m);
        return d_reply(c, UM_WIRE_SEMAPHORE_WAIT, id, kr, NULL, 0, NULL, 0);
    }
    um_port_ref(wport); /* the semaphore stays while the thread waits on it */
    m->sema_port = wport;
    m->timed = timeout_ns != UINT64_MAX;
    if (m->timed)
        m->deadline_ns = um_now_ns() + timeout_ns;
    if (!msg_wait(c, m, &m->sema_w)) {
        um_semaphore_wait_cancel(wport, &m->sema_w);
        return sema_done(c, m, KERN_RESOURCE_SHORTAGE);
    }
    return true;
}

/*
 * A send waits for room: room promised to posts (granted before it came, or topped up while
 * it was being woken) goes back first, waking it again if that is room enough.
 */
static void send_waits(d_conn *c, d_msg_call *m)
{
    um_port *dest = m->s.kmsg ? m->s.kmsg->dest : NULL;
    if (dest && UM_PORT_VALID(dest) && dest->reserved)
        d_post_revoke_port(c->task->d, dest);
}

bool d_msg_resume(d_conn *c)
{
    d_msg_call *m = c->pending;
    if (m->kind == D_WAIT_SEMA)
        return m->sema_w.woken ? sema_done(c, m, m->sema_w.result) : true;
    um_task *task = c->task->task;
    if (!m->in_send && !m->r.handed)
        rcv_win_revoke(c, m); /* as at its start */
    d_callctx ctx;
    msg_enter(c, m, &ctx);
    mach_msg_return_t mr =
        m->in_send ? um_msg_send(task, &m->s) : um_msg_receive(task, &m->r);
    d_ctx_leave(c->task, &ctx);
    if (mr == (m->in_send ? MACH_SEND_IN_PROGRESS : MACH_RCV_IN_PROGRESS)) {
        if (!msg_wait(c, m, m->in_send ? &m->s.waiter : &m->r.waiter))
            return d_msg_expire(c); /* cannot wait again: ends as timed out */
        if (m->in_send)
            send_waits(c, m);
        return true;
    }
    c->pending = NULL;
    return m->in_send ? send_done(c, m, mr) : rcv_done(c, m, mr);
}

/* End the waiting call with `why` (a timeout or an interrupt). */
static bool msg_cancel(d_conn *c, bool interrupted)
{
    d_msg_call *m = c->pending;
    if (!m)
        return true;
    if (m->kind == D_WAIT_SEMA) {
        if (m->sema_w.woken)
            return d_msg_resume(c);
        um_semaphore_wait_cancel(m->sema_port, &m->sema_w);
        return sema_done(c, m, interrupted ? KERN_ABORTED : KERN_OPERATION_TIMED_OUT);
    }
    um_waiter *w = m->in_send ? &m->s.waiter : &m->r.waiter;
    if (w->woken)
        return d_msg_resume(c); /* the wake came first */
    c->pending = NULL;
    if (m->in_send) {
        /* The message comes back to the sender, its memory in the reply (pseudo-receive). */
        d_callctx ctx;
        msg_enter(c, m, &ctx);
        mach_msg_return_t mr = um_msg_send_cancel(
            c->task->task, &m->s, interrupted ? MACH_SEND_INTERRUPTED : MACH_SEND_TIMED_OUT);
        d_ctx_leave(c->task, &ctx);
        return send_done(c, m, mr);
    }
    um_msg_receive_cancel(&m->r);
    return rcv_done(c, m, interrupted ? MACH_RCV_INTERRUPTED : MACH_RCV_TIMED_OUT);
}

bool d_msg_expire(d_conn *c)
{
    return msg_cancel(c, false);
}

bool d_msg_cancel(d_conn *c, uint64_t id)
{
    if (!c->pending || c->pending->id != id)
        return true; /* already answered: the reply is on its way */
    return msg_cancel(c, true);
}

void d_msg_drop(d_conn *c)
{
    d_msg_call *m = c->pending;
    if (!m)
        return;
    c->pending = NULL;
    if (c->task)
        d_heap_remove(c->task->d, m);
    if (m->kind == D_WAIT_SEMA) {
        um_semaphore_wait_cancel(m->sema_port, &m->sema_w);
        um_port_release(m->sema_port);
    } else if (m->in_send) {
        (void)um_msg_send_cancel(c->task->task, &m->s, MACH_SEND_INTERRUPTED);
        um_msg_out_release(&m->s.out);
    } else {
        um_msg_receive_cancel(&m->r);
        um_msg_out_release(&m->r.out);
    }
    um_xmem_call_end(&m->xm);
    free(m);
}
