/*
 * d_post.c — posted sends: one-way messages that return once they are in the sender's ring
 * (docs/world.md, "Posted sends"; the ring's layout in src/umach/wire/um_ring.h).
 *
 * A send may return before umachd has seen it only if it cannot fail or block, so the daemon
 * says ahead of time which sends cannot: after a simple COPY_SEND of a thread succeeded, it
 * grants that thread's ring credits for the same name, each one room promised in the port's
 * queue (um_post_reserve: counted as queued, so no other send takes it). A post's send right
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
 * Grants are revoked when they could go stale: before any request that may change names,
 * rights or limits (every call but mach_msg's simple sends and receives, and mach_msg sends
 * with descriptors, move rights, vouchers or a kernel-object destination), before any reply
 * when a granted port died or its queue limit fell below what is queued and promised, when a
 * sender would find a queue full only because of promised room (and no grant is given or
 * topped up while a sender waits for room), and when the ring's connection ends.
 */
#define _GNU_SOURCE
#include "umachd.h"

#include "kern/um_post.h"

#include <string.h>

/* ---- the books ----------------------------------------------------------------------------- */

static um_ring_post_ctl *post_ctl(d_conn *c)
{
    return um_ring_post_ctl_of(&c->ring);
}

/* The slot's outstanding credits are all accounted for: it is free again. */
static void grant_settle(d_grant *g)
{
    if (g->outstanding == 0 && !g->active && g->port) {
        um_port_release(g->port);
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
    um_post_unreserve(g->port, left);
    /* Spent credits whose posts are still to come were sends made while the client's name
     * held its send right, which a request may now take away: each gets its own copy. */
    for (; g->rights < g->outstanding; g->rights++)
        um_port_copy_send(g->port);
    grant_settle(g);
}

static void conn_revoke(d_daemon *d, d_conn *c)
{
    for (uint32_t i = 0; i < UM_RING_GRANTS; i++)
        grant_revoke(d, c, i);
}

void d_post_revoke_all(d_daemon *d)
{
    if (!d->active_grants)
        return;
    for (unsigned k = 0; k < d->nposters; k++)
        conn_revoke(d, d->posters[k]);
}

void d_post_revoke_port(d_daemon *d, um_port *port)
{
    if (!d->active_grants)
        return;
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        for (uint32_t i = 0; i < UM_RING_GRANTS; i++)
            if (c->grants[i].active && c->grants[i].port == port)
                grant_revoke(d, c, i);
    }
}

void d_post_check(d_daemon *d)
{
    if (!d->active_grants)
        return;
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        for (uint32_t i = 0; i < UM_RING_GRANTS; i++) {
            d_grant *g = &c->grants[i];
            if (g->active && (!g->port->active || (uint64_t)g->port->msgcount +
                                                          g->port->reserved >
                                                      g->port->qlimit))
                grant_revoke(d, c, i);
        }
    }
}

/* Give `g` (slot `i` of `c`) `n` more credits, the room and rights behind them first. */
static bool grant_add(d_daemon *d, d_conn *c, uint32_t i, uint32_t n)
{
    d_grant *g = &c->grants[i];
    if (!um_post_reserve(g->port, n))
        return false;
    g->outstanding += n;
    __atomic_fetch_add(&post_ctl(c)->grants[i].credits, n, __ATOMIC_RELEASE);
    (void)d;
    return true;
}

/*
 * Posted messages are charged to the sender's queued bytes, and to the world's
 * (--world-queued-max), without a check (they cannot fail): credits are given only while
 * both are far from their caps, further than every credit a ring (the task's) or every ring
 * (the world's) may hold. A cap is passed by at most that much.
 */
static bool posts_fit(d_conn *c)
{
    um_ledger *l = c->task->task->space->ledger;
    uint64_t promise = (uint64_t)D_GRANT_MAX * UM_RING_POST_MSG_MAX * UM_RING_GRANTS;
    if (l && (l->max < l->queued || l->max - l->queued < 4 * promise))
        return false;
    um_ledger *w = l ? l->total : NULL;
    return !w || (w->max >= w->queued && w->max - w->queued >= promise * D_POSTERS_MAX);
}

/* Bring `g` (slot `i` of `c`) back to its target, as far as the queue has room. */
static void grant_top_up(d_daemon *d, d_conn *c, uint32_t i)
{
    d_grant *g = &c->grants[i];
    um_port *port = g->port;
    if (!g->active || g->outstanding >= g->target || !port->active || port->senders.head ||
        !c->task || !posts_fit(c))
        return;
    uint64_t used = (uint64_t)port->msgcount + port->reserved;
    if (used >= port->qlimit)
        return;
    uint64_t room = port->qlimit - used;
    uint32_t n = g->target - g->outstanding;
    (void)grant_add(d, c, i, room < n ? (uint32_t)room : n);
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
    if (c->dead || !c->ring.base || c->post_broken || !c->task || c->task->lied ||
        c->task->doomed || !port->active || port->kotype != UM_KOT_NONE || port->senders.head)
        return;
    /* Posted messages are charged to the sender's queued bytes, and to the world's, without a
     * check (they cannot fail): grant only to a task far from both caps. */
    if (!posts_fit(c))
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
        if (!c->poster) {
            if (d->nposters == D_POSTERS_MAX)
                return;
            d->posters[d->nposters++] = c;
            c->poster = true;
        }
        slot = free_slot;
        d_grant *g = &c->grants[slot];
        um_port_ref(port);
        g->port = port;
        g->name = name;
        g->outstanding = 0;
        g->rights = 0;
        g->target = want;
        g->active = true;
        d->active_grants++;
        um_ring_grant *cg = &post_ctl(c)->grants[slot];
        __atomic_store_n(&cg->credits, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&cg->name, name, __ATOMIC_RELEASE);
    }
    d_grant *g = &c->grants[slot];
    g->target = want;
    grant_top_up(d, c, slot);
    if (g->outstanding == 0)
        grant_revoke(d, c, slot); /* no room after all: nothing to spend */
}

/* ---- taking posts ------------------------------------------------------------------------ */

/* The ring's client lied: nothing more is taken from it, and its task ends after this round. */
static void post_lie(d_conn *c)
{
    c->post_broken = true;
    if (c->task)
        c->task->lied = true;
}

void d_post_drain(d_daemon *d, d_conn *c)
{
    if (c->post_broken || !c->ring.base || !c->task)
        return;
    um_ring_post_ctl *pc = post_ctl(c);
    const uint8_t *area = um_ring_post_area(&c->ring);
    uint32_t head = __atomic_load_n(&pc->head, __ATOMIC_RELAXED); /* the daemon's alone */
    uint32_t tail = __atomic_load_n(&pc->tail, __ATOMIC_ACQUIRE);
    if (head == tail)
        return;
    if ((uint32_t)(tail - head) > UM_RING_POST_SIZE) {
        post_lie(c);
        return;
    }
    um_task *task = c->task->task;
    uint8_t msg[UM_RING_POST_MSG_MAX];
    while (head != tail) {
        uint32_t at = head & (UM_RING_POST_SIZE - 1);
        uint32_t avail = tail - head;
        um_ring_post_rec rec;
        if (avail < sizeof rec) {
            post_lie(c);
            break;
        }
        memcpy(&rec, area + at, sizeof rec); /* copied out, then checked */
        if (rec.slot == UM_RING_POST_WRAP) {
            uint32_t skip = UM_RING_POST_SIZE - at;
            if (rec.len != 0 || skip > avail) {
                post_lie(c);
                break;
            }
            head += skip;
            continue;
        }
        uint32_t size = UM_RING_POST_REC_SIZE(rec.len);
        if (rec.len < sizeof(mach_msg_header_t) || rec.len > UM_RING_POST_MSG_MAX ||
            size > avail || at + size > UM_RING_POST_SIZE || rec.slot >= UM_RING_GRANTS) {
            post_lie(c);
            break;
        }
        d_grant *g = &c->grants[rec.slot];
        memcpy(msg, area + at + sizeof rec, rec.len);
        mach_msg_header_t h;
        memcpy(&h, msg, sizeof h);
        if (!g->port || g->outstanding == 0 || !d_post_eligible_header(&h, rec.len) ||
            h.msgh_remote_port != g->name) {
            post_lie(c); /* a post without a credit, or not the message it was granted for */
            break;
        }
        g->outstanding--;
        um_port *port = g->port;
        /* The message's send right: one made at revocation, else a copy of the client's (a
         * grant is revoked before anything may take the client's right away). */
        if (g->rights)
            g->rights--;
        else
            um_port_copy_send(port);
        um_post_deliver(task, port, msg, rec.len);
        d->posts_taken++;
        grant_settle(g);
        head += size;
    }
    __atomic_store_n(&pc->head, head, __ATOMIC_RELEASE);
}

bool d_post_drain_all(d_daemon *d)
{
    uint64_t before = d->posts_taken;
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        if (!c->dead)
            d_post_drain(d, c);
    }
    /* Keep every client's credits topped up while its queue has room (room comes back as
     * receivers take messages): a stream of posts then needs no request at all. */
    for (unsigned k = 0; k < d->nposters && d->active_grants; k++) {
        d_conn *c = d->posters[k];
        if (c->dead || c->post_broken)
            continue;
        for (uint32_t i = 0; i < UM_RING_GRANTS; i++)
            if (c->grants[i].active)
                grant_top_up(d, c, i);
    }
    return d->posts_taken != before;
}

bool d_post_may_sleep(d_daemon *d)
{
    if (!d->nposters)
        return true;
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        if (!c->dead && c->ring.base && !c->post_broken)
            __atomic_store_n(&post_ctl(c)->idle, 1, __ATOMIC_RELAXED);
    }
    /* Against the client's "tail, then look at idle" (um_ring_post_msg). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (unsigned k = 0; k < d->nposters; k++) {
        d_conn *c = d->posters[k];
        if (c->dead || !c->ring.base || c->post_broken)
            continue;
        um_ring_post_ctl *pc = post_ctl(c);
        if (__atomic_load_n(&pc->tail, __ATOMIC_RELAXED) !=
            __atomic_load_n(&pc->head, __ATOMIC_RELAXED))
            return false;
    }
    return true;
}

void d_post_conn_end(d_daemon *d, d_conn *c)
{
    if (!c->poster)
        return;
    if (!c->dead)
        d_post_drain(d, c);
    conn_revoke(d, c);
    /* Credits spent whose posts will never come: the client is gone before its send
     * returned, so they were never sent. Their room and rights go back. */
    for (uint32_t i = 0; i < UM_RING_GRANTS; i++) {
        d_grant *g = &c->grants[i];
        if (g->port) {
            um_post_unreserve(g->port, g->outstanding);
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
