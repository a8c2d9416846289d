/*
 * d_post.c — posted sends: one-way messages that return once they are in the sender's ring
 * (docs/world.md, "Posted sends"; the ring's layout in src/umach/wire/um_ring.h).
 *
 * A send may return before umachd has seen it only if it cannot fail or block, so the daemon
 * says ahead of time which sends cannot: after a simple COPY_SEND of a thread succeeded, it
 * grants that thread's ring credits for the same name, each one room promised in the port's
 * queue and a posted message's largest size in the task's and the world's queued bytes
 * (um_post_reserve: counted as queued, so no other send takes it, and the caps hold exactly
 * with every credit spent; a synchronous send that would not fit takes unspent ones back
 * first: d_post_make_room). A post's send right
 * is a copy of the client's when the post is taken (the client's right is there: any call
 * that could take it away revokes first); credits spent whose posts have not come when a
 * grant is revoked get their copies then. The client spends a credit and writes the message into its post ring; the daemon takes the
 * posts before it serves anything else — every request of every connection, every hang-up,
 * every deadline — so a posted send takes effect where it was made: before whatever its
 * sender did next, and before whatever anyone did after hearing of it.
 *
 * The books are the daemon's: d_grant.outstanding counts credits given and not yet seen as
 * posts; revoking one exchanges the client's word with 0 and gives back the room of
 * only what that word held, at most what is outstanding; what remains outstanding is in
 * flight, and its posts are still taken (to the port, even if it died meanwhile: then the
 * message is destroyed as a dying port's queue is). A post without an outstanding credit, or
 * one that does not check, is a lie: the task ends, as for a malformed request.
 *
 * Grants and windows are taken back exactly when what they stand on is about to change: a
 * port that holds a grant or a window is observed (um_port_observe), and the core calls
 * port_changing before it changes the granted sender's send right, the window's receive
 * right, the port's life, queue limit, sequence number, context or set membership, whatever
 * request or message does it. Besides: before any reply, grants of a queue that kernel-made
 * messages took past its limit; when a sender would find a queue full only because of
 * promised room (and no grant is given or topped up while a sender waits for room); windows
 * before any receive on their port; all of a ring's when its connection ends.
 */
#define _GNU_SOURCE
#include "umachd.h"

#include "kern/um_post.h"

#include <string.h>

/* ---- the books ----------------------------------------------------------------------------- */

/* The ring's client lied: nothing more is taken from it, and its task ends after this round. */
static void post_lie(d_conn *c)
{
    c->post_broken = true;
    if (c->task)
        c->task->lied = true;
}


static um_ring_post_ctl *post_ctl(d_conn *c)
{
    return um_ring_post_ctl_of(&c->ring);
}

/*
 * Whether the daemon still serves `c`'s ring: takes its posts and claims, tops up its grants,
 * fills its window. Not once the ring lied (post_broken), nor for a connection that ended or
 * has no ring or task (never one on the posters list: d_post_conn_end takes it off first).
 */
static bool ring_serves(const d_conn *c)
{
    return !c->dead && c->ring.base && c->task && !c->post_broken;
}

/* Whether a new promise (a grant, a window) may be made on `c`'s ring: it is served and its
 * task is not about to end (a fatal guard doomed it, or it lied). */
static bool ring_may_promise(const d_conn *c)
{
    return ring_serves(c) && !c->task->lied && !c->task->doomed;
}

static void port_forget(d_daemon *d, um_port *port);

/* The slot's outstanding credits are all accounted for: it is free again. */
static void grant_settle(d_grant *g)
{
    if (g->outstanding == 0 && !g->active && g->port) {
        um_port_release(g->port);
        if (g->ledger)
            um_ledger_release(g->ledger);
        g->ledger = NULL;
        g->port = NULL;
        g->name = 0;
        g->target = 0;
    }
}

/* Take back the credits of `g` (slot `i` of `c`) the client has not spent. */
static void grant_revoke(d_daemon *d, d_conn *c, uint32_t i)
{
    d_grant *g = &c->grants[i];
    if (!g->active)
        return;
    g->active = false;
    d->active_grants--;
    uint32_t left = 0;
    if (c->ring.base)
        left = __atomic_exchange_n(&post_ctl(c)->grants[i].credits, 0, __ATOMIC_ACQ_REL);
    if (left > g->outstanding)
        left = g->outstanding; /* the client's word is the client's: only ours counts */
    g->outstanding -= left;
    um_post_unreserve(g->port, g->ledger, left, UM_RING_POST_MSG_MAX);
    /* Spent credits whose posts are still to come were sends made while the client's name
     * held its send right, which a request may now take away: each gets its own copy. */
    for (; g->rights < g->outstanding; g->rights++)
        um_port_copy_send(g->port);
    port_forget(d, g->port);
    grant_settle(g);
}

static void conn_revoke(d_daemon *d, d_conn *c)
{
    for (uint32_t i = 0; i < UM_RING_GRANTS; i++)
        grant_revoke(d, c, i);
}

/* Whether slot `i` of `c` holds an active grant on `port`. */
static bool grant_on(const d_conn *c, uint32_t i, const um_port *port)
{
    return c->grants[i].active && c->grants[i].port == port;
}

/* Take back `c`'s grants on `port`. */
static void conn_revoke_port(d_daemon *d, d_conn *c, const um_port *port)
{
    for (uint32_t i = 0; i < UM_RING_GRANTS; i++)
        if (grant_on(c, i, port))
            grant_revoke(d, c, i);
}

static void win_revoke(d_daemon *d, d_conn *c);
static void win_check(d_daemon *d);

/* Put `c` on the list of rings served before every request; false: the list is full. */
static bool poster_add(d_daemon *d, d_conn *c)
{
    if (c->poster)
        return true;
    if (d->nposters == D_POSTERS_MAX)
        return false;
    d->posters[d->nposters++] = c;
    c->poster = true;
    return true;
}


/* ---- observing the ports promises stand on ------------------------------------------------ */

static void port_changing(void *arg, um_port *port, um_space *space, int what);

/* Whether an active grant or an open window stands on `port`. */
static bool port_promised(const d_daemon *d, const um_port *port)
{
    for (unsigned k = 0; k < d->nposters; k++) {
        const d_conn *c = d->posters[k];
        if (c->win.port == port)
            return true;
        for (uint32_t i = 0; i < UM_RING_GRANTS; i++)
            if (grant_on(c, i, port))
                return true;
    }
    return false;
}

/* Before a grant or a window is made on `port`: the core must tell of its changes. false: no
 * memory to observe it (nothing may be promised on it then). */
static bool port_observe(d_daemon *d, um_port *port)
{
    return port->observed || um_port_observe(port, port_changing, d);
}

/* After a grant or a window on `port` was taken back: unobserved if nothing else stands on it. */
static void port_forget(d_daemon *d, um_port *port)
{
    if (port->observed && !port_promised(d, port))
        um_port_unobserve(port);
}

void d_post_revoke_port(d_daemon *d, um_port *port)
{
    if (!d->active_grants)
        return;
    for (unsigned k = 0; k < d->nposters; k++)
        conn_revoke_port(d, d->posters[k], port);
}

void d_post_check(d_daemon *d)
{
    if (!d->nposters)
        return;
    win_check(d);
    if (!d->active_grants)
        return;
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        for (uint32_t i = 0; i < UM_RING_GRANTS; i++) {
            d_grant *g = &c->grants[i];
            if (!g->active)
                continue;
            if (!g->port->active) {
                d->revoked_late++; /* the core told of its death first: never */
                grant_revoke(d, c, i);
            } else if ((uint64_t)g->port->msgcount + g->port->reserved > g->port->qlimit) {
                grant_revoke(d, c, i); /* kernel-made messages ignore the queue limit */
            }
        }
    }
}

/*
 * Give `g` (slot `i` of `c`) up to `n` more credits, as many as the room behind them allows:
 * each one a message's room in the port's queue and UM_RING_POST_MSG_MAX bytes in the task's
 * queued bytes and the world's (um_post_reserve charges them at once), so a posted message,
 * which cannot fail, was checked against both caps when its credit was given.
 */
static void grant_add(d_conn *c, uint32_t i, uint32_t n)
{
    d_grant *g = &c->grants[i];
    uint32_t got = um_post_reserve(g->port, g->ledger, n, UM_RING_POST_MSG_MAX);
    if (!got)
        return;
    g->outstanding += got;
    __atomic_fetch_add(&post_ctl(c)->grants[i].credits, got, __ATOMIC_RELEASE);
}

/*
 * Bring `g` (slot `i` of `c`) back to its target, as far as the queue and the caps have room.
 * Conditions: the ring is served (ring_serves).
 */
static void grant_top_up(d_conn *c, uint32_t i)
{
    d_grant *g = &c->grants[i];
    /* The port's life, senders waiting and room: um_post_reserve's to check. */
    if (!g->active || g->outstanding >= g->target)
        return;
    grant_add(c, i, g->target - g->outstanding);
}

void d_post_make_room(d_daemon *d, const um_ledger *ledger, uint64_t charge)
{
    if (!d->active_grants || !ledger || um_kmsg_ledger_fits(ledger, charge))
        return;
    /* Credits not spent go back, with their bytes (those spent are messages already sent). */
    for (unsigned k = 0; k < d->nposters && d->active_grants; k++)
        conn_revoke(d, d->posters[k]);
}

bool d_post_eligible_header(const mach_msg_header_t *h, uint32_t size)
{
    return size >= sizeof *h && size <= UM_RING_POST_MSG_MAX && (size & 3) == 0 &&
           h->msgh_bits == MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) &&
           MACH_PORT_VALID(h->msgh_remote_port) && h->msgh_local_port == MACH_PORT_NULL &&
           h->msgh_voucher_port == MACH_PORT_NULL;
}

void d_post_grant(d_daemon *d, d_conn *c, mach_port_name_t name, um_port *port)
{
    if (!ring_may_promise(c) || !port->active || port->kotype != UM_KOT_NONE ||
        port->senders.head)
        return;
    uint64_t used = (uint64_t)port->msgcount + port->reserved;
    if (used >= port->qlimit)
        return;
    uint32_t want = port->qlimit < D_GRANT_MAX ? port->qlimit : D_GRANT_MAX;
    /* The slot for this name, else a free one. */
    uint32_t slot = UM_RING_GRANTS, free_slot = UM_RING_GRANTS;
    for (uint32_t i = 0; i < UM_RING_GRANTS; i++) {
        d_grant *g = &c->grants[i];
        if (g->active && g->name == name && g->port == port)
            slot = i;
        else if (!g->port && free_slot == UM_RING_GRANTS)
            free_slot = i;
    }
    if (slot == UM_RING_GRANTS) {
        if (free_slot == UM_RING_GRANTS)
            return;
        if (!poster_add(d, c) || !port_observe(d, port))
            return;
        slot = free_slot;
        d_grant *g = &c->grants[slot];
        um_port_ref(port);
        g->port = port;
        g->name = name;
        g->outstanding = 0;
        g->rights = 0;
        g->target = want;
        g->ledger = c->task->task->space ? c->task->task->space->ledger : NULL;
        if (g->ledger)
            g->ledger->refs++;
        g->active = true;
        d->active_grants++;
        um_ring_grant *cg = &post_ctl(c)->grants[slot];
        __atomic_store_n(&cg->credits, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&cg->name, name, __ATOMIC_RELEASE);
    }
    d_grant *g = &c->grants[slot];
    g->target = want;
    grant_top_up(c, slot);
    if (g->outstanding == 0)
        grant_revoke(d, c, slot); /* no room after all: nothing to spend */
}

/* ---- receive windows ---------------------------------------------------------------------- */

static um_ring_win_ctl *win_ctl(d_conn *c)
{
    return um_ring_win_ctl_of(&c->ring);
}

/* Whether `c`'s window is served: open on a live port, of a ring still served. */
static bool win_serves(const d_conn *c)
{
    return ring_serves(c) && c->win.port && c->win.port->active;
}

/* FNV-1a of an image: what the window showed, kept to check the receive that takes it. */
static uint64_t win_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/*
 * Render `k` (queued on the window's port after the messages shown and not yet applied) into
 * the next slot: the core's own preview of the receive that will take it (um_msg_render,
 * the bytes um_msg_receive writes for such a message). false: that receive would do more
 * than write bytes, or the image does not fit the receive or a slot; the window stops there.
 */
static bool win_render(d_conn *c, const um_kmsg *k)
{
    d_rwin *w = &c->win;
    _Alignas(mach_msg_header_t) uint8_t img[UM_RING_WIN_IMAGE_MAX];
    uint32_t len = um_msg_render(c->task->task->space, w->port, k, w->rendered - w->applied,
                                 w->option, w->rcv_size, img, sizeof img);
    if (!len)
        return false;
    /* Rendered in private memory and hashed there: the slot is the client's to scribble on. */
    uint8_t *slot = um_ring_win_slot(&c->ring, w->rendered);
    memcpy(slot, &len, sizeof len);
    memcpy(slot + 8, img, len);
    w->hash[w->rendered % UM_RING_WIN_SLOTS] = win_hash(img, len);
    return true;
}

/*
 * Dequeue what the client claimed (a claimed total of `claimed`), each as the receive it
 * was: the core's own receive runs, and its image must be the one the window showed.
 */
static void win_apply(d_daemon *d, d_conn *c, uint32_t claimed)
{
    d_rwin *w = &c->win;
    if (claimed - w->applied > w->rendered - w->applied) {
        post_lie(c); /* more claims than were rendered */
        return;
    }
    while (w->applied != claimed) {
        um_msg_rcv_state r;
        memset(&r, 0, sizeof r);
        r.option = w->option;
        r.rcv_size = w->rcv_size;
        r.rcv_name = w->name;
        r.may_block = false;
        /* Its own (empty) call context; a revocation may come inside another call of the
         * same task (port_changing), whose context comes back after. */
        d_callctx ctx, *outer = c->task->ctx;
        memset(&ctx, 0, sizeof ctx);
        d_ctx_enter(c->task, &ctx);
        mach_msg_return_t mr = um_msg_receive(c->task->task, &r);
        d_ctx_leave(c->task, &ctx);
        c->task->ctx = outer;
        if (mr != MACH_MSG_SUCCESS || r.out.nseg != 1 ||
            win_hash(r.out.seg[0].bytes, r.out.seg[0].len) !=
                w->hash[w->applied % UM_RING_WIN_SLOTS])
            d->win_mismatch++;
        um_msg_out_release(&r.out);
        w->applied++;
        d->win_received++;
    }
}

/* Whether the window's client must wake us with each claim: a sender waiting for room (or a
 * send-possible request) on `port` needs the room the claim makes. */
static uint32_t win_wake_wanted(const um_port *port)
{
    return port->senders.head || (port->rare && port->rare->caprequests);
}

/* Show the client what is queued after what it was shown, while slots are free. Conditions:
 * the ring is served (ring_serves). */
static void win_fill(d_conn *c)
{
    d_rwin *w = &c->win;
    um_port *port = w->port;
    um_ring_win_ctl *wc = win_ctl(c);
    uint32_t done = __atomic_load_n(&wc->done, __ATOMIC_ACQUIRE);
    uint32_t skip = w->rendered - w->applied;
    um_kmsg *k = port->msg_head;
    for (uint32_t i = 0; k && i < skip; i++)
        k = k->next;
    /* Receivers waiting on the port come first: what is queued is theirs to take. */
    if (port->receivers.head)
        k = NULL;
    /* A slot is free once the client copied it out (done) and the daemon checked the
     * receive it stood for (applied: its hash is kept until then). */
    while (k && w->rendered - done < UM_RING_WIN_SLOTS &&
           w->rendered - w->applied < UM_RING_WIN_SLOTS && win_render(c, k)) {
        w->rendered++;
        __atomic_fetch_add(&wc->avail, 1, __ATOMIC_RELEASE);
        k = k->next;
    }
    __atomic_store_n(&wc->need_wake, win_wake_wanted(port), __ATOMIC_RELAXED);
}

/* Claims so far (what the client's word says it has taken of what was rendered). */
static uint32_t win_claimed(d_conn *c)
{
    return c->win.rendered - __atomic_load_n(&win_ctl(c)->avail, __ATOMIC_ACQUIRE);
}

/* Take the window back: claims are dequeued, what was shown and not claimed stays queued. */
static void win_revoke(d_daemon *d, d_conn *c)
{
    d_rwin *w = &c->win;
    um_port *port = w->port;
    if (!port)
        return;
    w->port = NULL; /* taken back from here: what applying the claims changes finds no window */
    uint32_t left = 0;
    if (c->ring.base) {
        um_ring_win_ctl *wc = win_ctl(c);
        left = __atomic_exchange_n(&wc->avail, 0, __ATOMIC_ACQ_REL);
        __atomic_store_n(&wc->need_wake, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&wc->name, 0, __ATOMIC_RELAXED);
    }
    if (left > w->rendered - w->applied) {
        post_lie(c);
        left = w->rendered - w->applied;
    }
    if (ring_serves(c) && port->active)
        win_apply(d, c, w->rendered - left);
    /* The next window's first slot is the one the client reads next. */
    w->rendered = w->applied;
    w->name = 0;
    port_forget(d, port);
    um_port_release(port);
}

void d_win_revoke_port(d_daemon *d, um_port *port)
{
    for (unsigned k = 0; k < d->nposters; k++)
        if (d->posters[k]->win.port == port)
            win_revoke(d, d->posters[k]);
}

/*
 * The core is about to change what promises on `port` stand on (um_port_observe): grants
 * stand on their sender's send right, the port's life and its queue limit; windows on their
 * receiver's receive right, the port's life, sequence number, context and set membership.
 * Those are taken back now, before the change: claims made so far are applied while the
 * receive right is still where they were made, credits spent get the send rights of their
 * posts while the sender still holds its own.
 */
static void port_changing(void *arg, um_port *port, um_space *space, int what)
{
    d_daemon *d = arg;
    bool grants = what == UM_PORT_CHANGE_SEND || what == UM_PORT_CHANGE_DEATH ||
                  what == UM_PORT_CHANGE_QLIMIT;
    bool windows = what != UM_PORT_CHANGE_SEND && what != UM_PORT_CHANGE_QLIMIT;
    d->revoke_hooks++;
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        um_space *own = c->task ? c->task->task->space : NULL;
        bool theirs = own == space; /* for a change of one space's rights */
        if (grants && (what != UM_PORT_CHANGE_SEND || theirs))
            conn_revoke_port(d, c, port);
        if (windows && c->win.port == port && (what != UM_PORT_CHANGE_RECEIVE || theirs))
            win_revoke(d, c);
    }
}

/* Windows whose port died or left the task are taken back (before any reply): a safety net
 * under port_changing, which takes them back before the change (UM_WIRE_STATS counts what it
 * finds; the tests require nothing). */
static void win_check(d_daemon *d)
{
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        if (c->win.port && (!c->win.port->active || !c->task ||
                            c->win.port->receiver != c->task->task->space)) {
            d->revoked_late++; /* the core told of the change first: never */
            win_revoke(d, c);
        }
    }
}

/* Receive options a window can show messages for (the trailer's, and those that matter only
 * for what a window never shows: too large, vouchers). */
#define WIN_OPTIONS                                                                            \
    (MACH_RCV_MSG | MACH_RCV_LARGE | MACH_RCV_LARGE_IDENTITY | MACH_RCV_VOUCHER |             \
     MACH_RCV_TRAILER_MASK)

void d_win_open(d_daemon *d, d_conn *c, mach_port_name_t name, mach_msg_option_t option,
                mach_msg_size_t rcv_size)
{
    option &= ~(MACH_RCV_TIMEOUT | MACH_RCV_INTERRUPT);
    if (!ring_may_promise(c) || (option & ~WIN_OPTIONS) || !(option & MACH_RCV_MSG))
        return;
    um_space *space = c->task->task->space;
    um_entry *e = um_entry_lookup(space, name);
    if (!e || !(e->type & MACH_PORT_TYPE_RECEIVE))
        return;
    um_port *port = (um_port *)e->object;
    if (!port->active || port->kotype != UM_KOT_NONE || port->receiver != space ||
        (port->rare && port->rare->nsets))
        return;
    d_rwin *w = &c->win;
    if (w->port && (w->port != port || w->name != name || w->option != option ||
                    w->rcv_size != rcv_size))
        win_revoke(d, c);
    if (!w->port) {
        d_win_revoke_port(d, port); /* one window per port */
        /* Taking a window back may have found the ring lying. */
        if (!ring_may_promise(c) || !poster_add(d, c) || !port_observe(d, port))
            return;
        um_port_ref(port);
        w->port = port;
        w->name = name;
        w->option = option;
        w->rcv_size = rcv_size;
        w->applied = w->rendered;
        um_ring_win_ctl *wc = win_ctl(c);
        __atomic_store_n(&wc->option, option, __ATOMIC_RELAXED);
        __atomic_store_n(&wc->rcv_size, rcv_size, __ATOMIC_RELAXED);
        __atomic_store_n(&wc->name, name, __ATOMIC_RELEASE);
    }
    win_fill(c);
}

/* ---- taking posts ------------------------------------------------------------------------ */

/*
 * The next record of `c`'s ring at *headp (before `tail`), wrap records stepped over: 1 with
 * its header in *rec, 0 none, -1 the ring lied (nothing more is taken from it).
 */
static int post_peek(d_conn *c, uint32_t *headp, uint32_t tail, um_ring_post_rec *rec)
{
    const uint8_t *area = um_ring_post_area(&c->ring);
    for (;;) {
        uint32_t head = *headp;
        if (head == tail)
            return 0;
        uint32_t at = head & (UM_RING_POST_SIZE - 1), avail = tail - head;
        uint32_t first[2];
        if (avail > UM_RING_POST_SIZE || avail < sizeof first)
            return -1;
        memcpy(first, area + at, sizeof first); /* copied out, then checked */
        if (first[1] == UM_RING_POST_WRAP) {
            uint32_t skip = UM_RING_POST_SIZE - at;
            if (first[0] != 0 || skip > avail)
                return -1;
            *headp = head + skip;
            continue;
        }
        if (avail < sizeof *rec || at + sizeof *rec > UM_RING_POST_SIZE)
            return -1;
        memcpy(rec, area + at, sizeof *rec);
        uint32_t size = UM_RING_POST_REC_SIZE(rec->len);
        if (rec->len < sizeof(mach_msg_header_t) || rec->len > UM_RING_POST_MSG_MAX ||
            size > avail || at + size > UM_RING_POST_SIZE || rec->slot >= UM_RING_GRANTS)
            return -1;
        return 1;
    }
}

/* Take the record `rec` at *headp (post_peek checked its header): deliver it. false: a lie. */
static bool post_take(d_daemon *d, d_conn *c, uint32_t *headp, const um_ring_post_rec *rec)
{
    const uint8_t *area = um_ring_post_area(&c->ring);
    uint32_t at = *headp & (UM_RING_POST_SIZE - 1);
    uint8_t msg[UM_RING_POST_MSG_MAX];
    d_grant *g = &c->grants[rec->slot];
    memcpy(msg, area + at + sizeof *rec, rec->len);
    mach_msg_header_t h;
    memcpy(&h, msg, sizeof h);
    if (!g->port || g->outstanding == 0 || !d_post_eligible_header(&h, rec->len) ||
        h.msgh_remote_port != g->name)
        return false; /* a post without a credit, or not the message it was granted for */
    g->outstanding--;
    um_port *port = g->port;
    /* The message's send right: one made at revocation, else a copy of the client's (a
     * grant is revoked before anything may take the client's right away). */
    if (g->rights)
        g->rights--;
    else
        um_port_copy_send(port);
    um_post_deliver(c->task->task, port, g->ledger, UM_RING_POST_MSG_MAX, msg, rec->len);
    d->posts_taken++;
    grant_settle(g);
    *headp += UM_RING_POST_REC_SIZE(rec->len);
    return true;
}

/* Take the posts of one ring (a connection that ends; d_post_drain_all merges every ring's). */
static void post_drain(d_daemon *d, d_conn *c)
{
    if (!ring_serves(c))
        return;
    um_ring_post_ctl *pc = post_ctl(c);
    uint32_t head = __atomic_load_n(&pc->head, __ATOMIC_RELAXED); /* the daemon's alone */
    uint32_t tail = __atomic_load_n(&pc->tail, __ATOMIC_ACQUIRE);
    um_ring_post_rec rec;
    int rc;
    while ((rc = post_peek(c, &head, tail, &rec)) == 1)
        if (!post_take(d, c, &head, &rec)) {
            rc = -1;
            break;
        }
    if (rc < 0)
        post_lie(c);
    __atomic_store_n(&pc->head, head, __ATOMIC_RELEASE);
}

/*
 * Every ring's pending posts, in stamp order across the rings (each ring's own order kept):
 * a post made after another thread's or task's post it heard of comes after it.
 */
static void post_merge(d_daemon *d)
{
    uint32_t head[D_POSTERS_MAX], tail[D_POSTERS_MAX];
    um_ring_post_rec next[D_POSTERS_MAX];
    bool ready[D_POSTERS_MAX];
    unsigned n = d->nposters, live = 0;
    for (unsigned k = 0; k < n; k++) {
        d_conn *c = d->posters[k];
        ready[k] = false;
        if (!ring_serves(c))
            continue;
        um_ring_post_ctl *pc = post_ctl(c);
        head[k] = __atomic_load_n(&pc->head, __ATOMIC_RELAXED);
        tail[k] = __atomic_load_n(&pc->tail, __ATOMIC_ACQUIRE);
        int rc = post_peek(c, &head[k], tail[k], &next[k]);
        if (rc < 0)
            post_lie(c);
        ready[k] = rc == 1;
        live += ready[k];
    }
    while (live) {
        unsigned best = n;
        for (unsigned k = 0; k < n; k++)
            if (ready[k] && (best == n || next[k].stamp < next[best].stamp))
                best = k;
        d_conn *c = d->posters[best];
        int rc = post_take(d, c, &head[best], &next[best])
                     ? post_peek(c, &head[best], tail[best], &next[best])
                     : -1;
        if (rc < 0)
            post_lie(c);
        if (rc != 1) {
            ready[best] = false;
            live--;
        }
    }
    for (unsigned k = 0; k < n; k++) {
        d_conn *c = d->posters[k];
        if (ring_serves(c))
            __atomic_store_n(&post_ctl(c)->head, head[k], __ATOMIC_RELEASE);
    }
}

bool d_post_drain_all(d_daemon *d)
{
    uint64_t before = d->posts_taken + d->win_received;
    /* Receives claimed from windows, then posted sends (both happened before now); the
     * windows are shown what is queued once the receivers these woke took theirs
     * (d_win_fill_all). */
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        if (win_serves(c))
            win_apply(d, c, win_claimed(c));
    }
    post_merge(d);
    /* Keep every client's credits topped up while its queue has room (room comes back as
     * receivers take messages): a stream of posts then needs no request at all. */
    for (unsigned k = 0; k < d->nposters && d->active_grants; k++) {
        d_conn *c = d->posters[k];
        if (!ring_serves(c))
            continue;
        for (uint32_t i = 0; i < UM_RING_GRANTS; i++)
            if (c->grants[i].active)
                grant_top_up(c, i);
    }
    return d->posts_taken + d->win_received != before;
}

void d_win_fill_all(d_daemon *d)
{
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        if (win_serves(c))
            win_fill(c);
    }
}

bool d_post_may_sleep(d_daemon *d)
{
    if (!d->nposters)
        return true;
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        if (!ring_serves(c))
            continue;
        __atomic_store_n(&post_ctl(c)->idle, 1, __ATOMIC_RELAXED);
        /* A claim from a window whose port has a sender waiting for room (or a send-possible
         * request) must wake us: the room is that sender's. */
        if (c->win.port)
            __atomic_store_n(&win_ctl(c)->need_wake, win_wake_wanted(c->win.port),
                             __ATOMIC_RELAXED);
    }
    /* Against the client's "tail, then look at idle" (um_ring_post_msg). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        if (!ring_serves(c))
            continue;
        um_ring_post_ctl *pc = post_ctl(c);
        if (__atomic_load_n(&pc->tail, __ATOMIC_RELAXED) !=
            __atomic_load_n(&pc->head, __ATOMIC_RELAXED))
            return false;
        if (c->win.port && __atomic_load_n(&win_ctl(c)->need_wake, __ATOMIC_RELAXED) &&
            win_claimed(c) != c->win.applied)
            return false; /* claims came that a waiting sender needs applied */
    }
    return true;
}

void d_post_conn_end(d_daemon *d, d_conn *c)
{
    if (!c->poster)
        return;
    post_drain(d, c);
    conn_revoke(d, c);
    win_revoke(d, c);
    /* Credits spent whose posts will never come: the client is gone before its send
     * returned, so they were never sent. Their room and rights go back. */
    for (uint32_t i = 0; i < UM_RING_GRANTS; i++) {
        d_grant *g = &c->grants[i];
        if (g->port) {
            um_post_unreserve(g->port, g->ledger, g->outstanding, UM_RING_POST_MSG_MAX);
            g->outstanding = 0;
            for (; g->rights; g->rights--)
                um_port_release_send(g->port);
            grant_settle(g);
        }
    }
    for (unsigned k = 0; k < d->nposters; k++) {
        if (d->posters[k] == c) {
            d->posters[k] = d->posters[--d->nposters];
            break;
        }
    }
    c->poster = false;
}

