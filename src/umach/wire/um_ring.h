/*
 * um_ring.h — the shared-memory fast path of a thread connection (docs/world.md, "Transport
 * and speed"). Shared by the client front end (src/umach/client/) and umachd.
 *
 * A thread connection has at most one request outstanding, so its "ring" is a mailbox: one
 * page of control words, a request area and a reply area, in a memfd the daemon creates at
 * UM_WIRE_JOIN (sealed so that its size can never change: a client can scribble on the pages
 * but never make the daemon fault) and passes with SCM_RIGHTS together with an eventfd. A
 * packet in an area has exactly the wire format of um_wire.h (header, arguments, blob).
 *
 *   client: writes the request into the request area, sets the state word to the ring's
 *           "outstanding" code (the control page's owner word), advances the posted count
 *           and writes the eventfd (the daemon's epoll watches it, edge-triggered);
 *   daemon: takes the request when the posted count moved, copies it out of the ring into
 *           its own buffer and checks it there (shared memory is never read twice), serves
 *           it, writes the reply into the reply area and sets UM_RING_REP; or, when the reply
 *           does not fit (or carries a descriptor), sends it on the socket and sets
 *           UM_RING_SOCK;
 *   client: waits for REP or SOCK on the state word (a futex; the daemon wakes it only when
 *           the client said it sleeps, UM_RING_WAITING), copies the reply out.
 *
 * The daemon's death. While a ring is watched, its outstanding code is the daemon's thread
 * id, and the state word and the alive word are on the daemon's robust futex list: when the
 * daemon dies, the kernel sets UM_RING_DIED in both and wakes the client asleep on them, so
 * a client sleeps without a timeout and still never hangs. On an unwatched ring (the list is
 * full, or the connection ended) the client sleeps with a timeout and looks at its socket
 * every UM_RING_HUP_CHECK_MS.
 *
 * The socket stays for everything else: the hello and joins, descriptors, requests and
 * replies that do not fit, MACH_*_INTERRUPT calls (they wait in poll() for EINTR and cancel
 * on the socket), and hang-up: a connection the daemon ends gets UM_RING_SOCK and a wake
 * (the client then finds its socket closed).
 */
#ifndef UM_RING_H
#define UM_RING_H

#include "um_wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The mailbox (control page and two areas), then the post ring (um_ring_post_*, below), then
   the receive window (um_ring_win_*). */
#define UM_RING_MBOX_SIZE (64u * 1024)
#define UM_RING_POST_SIZE (64u * 1024)
#define UM_RING_WIN_SIZE (64u * 1024)
#define UM_RING_SIZE (UM_RING_MBOX_SIZE + UM_RING_POST_SIZE + UM_RING_WIN_SIZE)
#define UM_RING_CTL 4096u /* the control page */
#define UM_RING_AREA ((UM_RING_MBOX_SIZE - UM_RING_CTL) / 2)
#define UM_RING_HUP_CHECK_MS 100

/*
 * The state word: a code in its low 30 bits, the flag the waiting client adds (bit 31) and
 * the kernel's mark of the daemon's death (bit 30): the robust futex word's layout (TID,
 * FUTEX_WAITERS, FUTEX_OWNER_DIED). While a request is outstanding the code is the ring's
 * owner word: the daemon's thread id on a watched ring (the kernel marks a word only when its
 * code is the dying thread's id), else UM_RING_REQ. Every other code is above any thread id.
 */
enum {
    UM_RING_IDLE = 0,
    UM_RING_REQ = 0x3fff0001,  /* outstanding, on a ring the daemon does not watch */
    UM_RING_REP = 0x3fff0003,  /* the reply is in the reply area */
    UM_RING_SOCK = 0x3fff0004, /* the reply went on the socket */
};
#define UM_RING_STATE_MASK 0x3fffffffu
#define UM_RING_WAITING 0x80000000u /* the client sleeps (or is about to) on the state word */
#define UM_RING_DIED 0x40000000u    /* the daemon died (set by the kernel) */

/* The control page (at offset 0 of the memfd). */
typedef struct um_ring_ctl {
    uint32_t state;  /* the futex word */
    uint32_t posted; /* client: advanced with each post (the daemon takes a request when it moved) */
    uint32_t owner;  /* daemon: the state code of an outstanding request (see above) */
    uint32_t client_cpu; /* client: a hint, the CPU it posted from (the daemon polls a ring
                            it expects a post in only when that is not its own CPU) */
    uint32_t pad0[12];
    uint32_t daemon_cpu; /* a hint: the CPU the daemon last woke up on (-1: unknown), for a
                            client that would spin only when the daemon runs elsewhere */
    /*
     * daemon: nonzero while it promises to look at this ring's posted count before it sleeps
     * (set with a reply, cleared once it looked): a client that posts meanwhile need not
     * write the eventfd.
     */
    uint32_t looking;
    /*
     * The daemon's liveness: while the daemon lives and watches this ring, its thread id |
     * UM_RING_ALIVE_WATCHED (on its robust list, before the state word: the kernel marks it
     * first); UM_RING_ALIVE_DIED once it died; 0 when not watched (the client then sleeps
     * with a timeout). A client that posted reads it after its post: if the daemon died
     * before the post (the state word then stays unmarked), this word says so.
     */
    uint32_t alive;
    uint32_t pad2[13];
} um_ring_ctl;

/* The alive word's bits (the kernel's robust futex bits: FUTEX_WAITERS, FUTEX_OWNER_DIED). */
#define UM_RING_ALIVE_WATCHED 0x80000000u
#define UM_RING_ALIVE_DIED 0x40000000u

/*
 * Posted sends (docs/world.md, "Posted sends"). A one-way send that cannot fail or block
 * returns once its message is in the thread's post ring, a single-producer byte ring after
 * the mailbox: the client writes records at post_tail, the daemon takes them at post_head.
 * The client knows a send cannot fail from the daemon's grants: per slot, a destination name
 * and a number of credits, each credit a message's room promised in that port's queue. The
 * client takes a credit (an atomic decrement) before it writes the record; the daemon takes
 * credits back by exchanging the word with 0 (and knows, from its own books, how many taken
 * ones are still to come). Everything here is the client's to scribble on: the daemon copies
 * a record out before it checks it and believes only its own counts.
 */
#define UM_RING_POST_CTL 2048u  /* offset of um_ring_post_ctl in the control page */
#define UM_RING_GRANTS 8u       /* grant slots per ring */
#define UM_RING_POST_MSG_MAX 1024u /* the largest message a post carries */
#define UM_RING_POST_WRAP 0xffffffffu /* a record's slot: the rest of the ring is skipped */

/*
 * A record: this header, then the message, padded to 8 bytes. A wrap record is its first
 * eight bytes only. `stamp` (CLOCK_MONOTONIC when the record was made) orders the posts of
 * different rings: a post another thread or task heard of before it posted was made earlier,
 * so the daemon takes what is pending in all rings in stamp order.
 */
typedef struct um_ring_post_rec {
    uint32_t len;  /* the message's bytes */
    uint32_t slot; /* the grant it spent a credit of, or UM_RING_POST_WRAP */
    uint64_t stamp;
} um_ring_post_rec;
/* The space a record of a `len`-byte message takes. */
#define UM_RING_POST_REC_SIZE(len) ((uint32_t)sizeof(um_ring_post_rec) + (((len) + 7u) & ~7u))

typedef struct um_ring_grant {
    uint32_t name;    /* the destination name (the client's send right) the credits are for */
    uint32_t credits; /* left to spend; the daemon adds and exchanges, the client decrements */
} um_ring_grant;

typedef struct um_ring_post_ctl {
    uint32_t tail;     /* client: bytes written, ever (wraps) */
    uint32_t pad0[15];
    uint32_t head;     /* daemon: bytes taken, ever */
    uint32_t pad1[15];
    uint32_t idle;     /* daemon: 1 when it may sleep: the next post must wake it */
    uint32_t pad2[15];
    um_ring_grant grants[UM_RING_GRANTS];
} um_ring_post_ctl;

/*
 * The receive window (docs/world.md, "Receive windows"): messages queued on one port, each
 * rendered by the daemon exactly as a receive with the window's options and size would
 * receive it now, in order. The thread claims one (an atomic decrement of `avail`, the
 * receive's moment), copies it to its buffer and counts it `done`; the daemon dequeues what
 * was claimed before it serves anything else, and takes the window back by exchanging
 * `avail` with 0. Params change only while the thread waits in a request of its own.
 */
#define UM_RING_WIN_CTL 3072u   /* offset of um_ring_win_ctl in the control page */
#define UM_RING_WIN_SLOTS 32u
#define UM_RING_WIN_SLOT (UM_RING_WIN_SIZE / UM_RING_WIN_SLOTS)
#define UM_RING_WIN_IMAGE_MAX (UM_RING_WIN_SLOT - 8u) /* a slot: u32 length, pad, the image */

typedef struct um_ring_win_ctl {
    uint32_t name;     /* the receive right's name */
    uint32_t option;   /* the receive's options, MACH_RCV_TIMEOUT / INTERRUPT left out */
    uint32_t rcv_size; /* the receive's size */
    uint32_t pad0[13];
    uint32_t avail;    /* rendered and not claimed; the client decrements, the daemon adds and
                          exchanges */
    uint32_t pad1[15];
    uint32_t done;     /* client: claims copied out, ever (slot done % SLOTS is next) */
    uint32_t pad2[15];
    uint32_t need_wake; /* daemon: a claim must wake it (a sender waits for room) */
} um_ring_win_ctl;

/* A mapped ring: its control page and its two areas. */
typedef struct um_ring {
    void *base;     /* UM_RING_SIZE bytes, MAP_SHARED */
    int evfd;       /* the eventfd that wakes the daemon */
    void *robust;   /* daemon: the private page just before base holding this ring's entries
                       in the daemon's robust futex list (um_ring_watch_start), or NULL */
    uint32_t owner; /* daemon: the outstanding code it gave the ring (the client may change
                       the control page's copy) */
    uint32_t taken; /* daemon: the posted count of the last request it took */
} um_ring;

static inline um_ring_ctl *um_ring_ctl_of(const um_ring *r)
{
    return (um_ring_ctl *)r->base;
}
static inline uint8_t *um_ring_req_area(const um_ring *r)
{
    return (uint8_t *)r->base + UM_RING_CTL;
}
static inline uint8_t *um_ring_rep_area(const um_ring *r)
{
    return (uint8_t *)r->base + UM_RING_CTL + UM_RING_AREA;
}

static inline um_ring_win_ctl *um_ring_win_ctl_of(const um_ring *r)
{
    return (um_ring_win_ctl *)((uint8_t *)r->base + UM_RING_WIN_CTL);
}
static inline uint8_t *um_ring_win_slot(const um_ring *r, uint32_t i)
{
    return (uint8_t *)r->base + UM_RING_MBOX_SIZE + UM_RING_POST_SIZE +
           (size_t)(i % UM_RING_WIN_SLOTS) * UM_RING_WIN_SLOT;
}

static inline um_ring_post_ctl *um_ring_post_ctl_of(const um_ring *r)
{
    return (um_ring_post_ctl *)((uint8_t *)r->base + UM_RING_POST_CTL);
}
static inline uint8_t *um_ring_post_area(const um_ring *r)
{
    return (uint8_t *)r->base + UM_RING_MBOX_SIZE;
}

/*
 * Client (and tests speaking the ring raw): the request is in the request area: mark it
 * outstanding and advance the posted count (no wake-up: um_ring_post also writes the
 * eventfd).
 */
static inline void um_ring_ctl_post(um_ring_ctl *c)
{
    __atomic_store_n(&c->state, __atomic_load_n(&c->owner, __ATOMIC_RELAXED), __ATOMIC_RELEASE);
    __atomic_fetch_add(&c->posted, 1u, __ATOMIC_RELEASE);
    /* The state word is written before the alive word is read (um_ring_wait). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Whether the reply to the posted request is there (in the ring or on the socket). */
static inline bool um_ring_has_reply(const um_ring *r)
{
    uint32_t s = __atomic_load_n(&um_ring_ctl_of(r)->state, __ATOMIC_ACQUIRE) & UM_RING_STATE_MASK;
    return s == UM_RING_REP || s == UM_RING_SOCK;
}

/* The CPU the daemon last woke up on, or UINT32_MAX when unknown (a hint: it may move). */
static inline uint32_t um_ring_daemon_cpu(const um_ring *r)
{
    return __atomic_load_n(&um_ring_ctl_of(r)->daemon_cpu, __ATOMIC_RELAXED);
}

/* Whether a packet of `nargs` arguments and `blob_len` bytes fits in an area. */
static inline bool um_ring_fits(uint32_t nargs, uint32_t blob_len)
{
    return nargs <= UM_WIRE_MAX_ARGS &&
           blob_len <= UM_RING_AREA - sizeof(um_wire_hdr) - (size_t)nargs * 8;
}

/*
 * Daemon, once, on the thread that will create and serve every ring: make this thread's
 * robust futex list the rings' (it replaces the C library's list: the daemon has no robust
 * mutexes), so that rings created from now on are watched (their alive word) as long as the
 * list has room. false: not available (rings stay unwatched; clients sleep with a timeout).
 */
bool um_ring_watch_start(void);
/*
 * Daemon: a new ring (a sealed memfd of UM_RING_SIZE, mapped) and its eventfd. The caller
 * owns *memfd (to pass to the client, then close) and the ring (um_ring_unmap). 0 or -errno.
 */
int um_ring_create(um_ring *r, int *memfd);
/* Client: map the ring the daemon passed; takes ownership of both descriptors (closes the
   memfd, keeps the eventfd). 0 or -errno (both closed). */
int um_ring_attach(um_ring *r, int memfd, int evfd);
/* Unmap and close (either side; the daemon's ring leaves its robust list first and its
   alive word says unwatched); harmless on a ring never made (base NULL, evfd -1). */
void um_ring_unmap(um_ring *r);

/* Write one packet (magic set here) at `area`; the caller checked um_ring_fits. */
void um_ring_put(uint8_t *area, um_wire_hdr *h, const uint64_t *args, const void *blob);
/*
 * Copy the packet at `area` into `buf` (only as many bytes as the header copied first says,
 * bounded by the area) and check the copy as um_wire_recv checks a packet: 1, or -EPROTO.
 * `p` then points into `buf`; nothing more is read from the area.
 */
int um_ring_take(const uint8_t *area, um_wire_buf *buf, um_wire_pkt *p, uint32_t blob_max);

/* Client: the request is in place: post it and wake the daemon. false: the eventfd failed. */
bool um_ring_post(um_ring *r);
/*
 * Client: wait for the reply to the posted request. On a watched ring (alive word set) it
 * sleeps on the state word without a timeout (the kernel marks and wakes it if the daemon
 * dies; asynchronously cancelable meanwhile); otherwise `sockfd` is looked at for a hang-up
 * every UM_RING_HUP_CHECK_MS while asleep. It does not spin (the client decides whether to
 * poll um_ring_has_reply first). UM_RING_REP, UM_RING_SOCK, or -1 (the world hung up).
 */
int um_ring_wait(um_ring *r, int sockfd);

/*
 * How long a client polls its ring before sleeping, and the daemon a ring it expects a post
 * in before it sleeps, in ns: UMACH_SPIN_US as embedded mode reads it (um_backoff.h's
 * um_spin_env_ns, read once). Either polls only when the other side last ran on another CPU.
 */
uint64_t um_ring_spin_ns(void);

/* Daemon: take a posted request (the posted count moved since the last one). false: none. */
/* Daemon: whether a request was posted that it has not taken (a hint while polling). */
static inline bool um_ring_posted(const um_ring *r)
{
    return __atomic_load_n(&um_ring_ctl_of(r)->posted, __ATOMIC_RELAXED) != r->taken;
}
/* Daemon: the CPU the client last posted from (UINT32_MAX: unknown; a hint). */
static inline uint32_t um_ring_client_cpu(const um_ring *r)
{
    return __atomic_load_n(&um_ring_ctl_of(r)->client_cpu, __ATOMIC_RELAXED);
}
/*
 * Daemon: promise to look at the ring's posted count before sleeping (with a reply: its
 * client is the likeliest to post next), so that the client skips the eventfd write.
 */
static inline void um_ring_look(um_ring *r)
{
    __atomic_store_n(&um_ring_ctl_of(r)->looking, 1u, __ATOMIC_RELAXED);
}
/*
 * Daemon: the promise ends; whether a request was posted meanwhile (a client that posted
 * while it held saw it and wrote no eventfd; one that posts from now on writes it).
 */
bool um_ring_unlook(um_ring *r);
bool um_ring_claim(um_ring *r);
/* Daemon: the connection ends: a request posted or being served (state: outstanding) will
   get no reply in the ring: UM_RING_SOCK and a wake (the client finds the socket closed at
   once). A reply not yet read stays. */
void um_ring_abandon(um_ring *r);
/* Daemon: the reply is in the reply area (UM_RING_REP) or on the socket (UM_RING_SOCK): tell
   the client, waking it if it sleeps. */
void um_ring_done(um_ring *r, uint32_t how);

/*
 * Client: post the `len`-byte message `msg` (len <= UM_RING_POST_MSG_MAX) on a credit of the
 * grant for `name`, and wake the daemon if it said it may sleep. false: no credit for that
 * name, or no room in the ring (nothing was taken or written: send the usual way). Only the
 * thread that owns the ring posts.
 */
bool um_ring_post_msg(um_ring *r, uint32_t name, const void *msg, uint32_t len);
/* Client: whether posts are still to be taken by the daemon. */
bool um_ring_post_pending(const um_ring *r);
/*
 * Client: receive from the window if it is for `name` with these options and size and holds a
 * message: copies it out with `write` (fault-safe; false: unwritable) into `buf`. Returns 0:
 * nothing claimed (receive the usual way); 1: received; -1: received, but the buffer could
 * not take it (the message is lost, as XNU loses it).
 */
int um_ring_win_receive(um_ring *r, uint32_t name, uint32_t option, uint32_t rcv_size,
                        bool (*write)(uint64_t addr, const void *bytes, size_t len),
                        uint64_t buf);

#endif
