/*
 * um_kmsg.h — messages in flight (kmsg), message queues and kernel-made messages.
 *
 * A kmsg holds a copied-in message: the header's rights as naked rights, the body bytes in
 * the sender's (= receiver's, both LP64) layout, and one kernel record per descriptor that
 * owns what the descriptor carries (naked rights, a kernel-owned memory region, an array of
 * naked rights). Destroying a kmsg releases everything it owns.
 *
 * Conditions: every function runs with the world lock held.
 */
#ifndef UM_KMSG_H
#define UM_KMSG_H

#include "um_kern.h"

/* Darwin's limits (osfmk/ipc/ipc_policy.h, ipc_init.c). */
#define UM_MSG_MAX_BODY_SPACE ((64u * 1024 * 1024 * 3) / 4 - MAX_TRAILER_SIZE)
#define UM_MSG_MAX_PORT_COUNT 16383u
#define UM_MSG_MAX_VM_SPACE ((8u * 1024 * 1024 * 7) / 8)
#define UM_MSG_QUEUE_KERNEL_LIMIT MACH_PORT_QLIMIT_KERNEL

typedef struct um_kdesc {
    uint8_t type;             /* MACH_MSG_*_DESCRIPTOR */
    uint32_t uoffset;         /* offset of the user descriptor from the start of the message */
    union {
        struct {
            um_port *port;    /* naked right, NULL or UM_PORT_DEAD */
            mach_msg_type_name_t disp; /* PORT_* */
        } port;
        struct {
            um_vm_copy *vmc;  /* the front end's copy of the memory, NULL for size 0 */
            mach_msg_size_t size;
            uint8_t copy;
            bool dealloc;
        } ool;
        struct {
            um_port **ports;  /* naked rights, entries may be NULL or UM_PORT_DEAD */
            uint32_t count;
            mach_msg_type_name_t disp;
            uint8_t copy;
            bool dealloc;
        } oolp;
        struct {
            um_port *port;
            mach_msg_type_name_t disp;
            uint16_t flags;
            uint64_t context;
        } guarded;
    } u;
} um_kdesc;

/*
 * A header's shape (um_kmsg.c, header_shape): SIMPLE says the header is one of the commonest
 * (0: any other), SO_DEST that its destination is MOVE_SEND_ONCE, SO_REPLY that it makes a
 * send-once reply right. Once copied in, a kmsg keeps its shape only when its rights were
 * taken as that shape says (header_rights_simple): no descriptor, no voucher, a send or
 * send-once destination, and no reply right or a send-once one.
 */
enum {
    UM_KMSG_SHAPE_SIMPLE = 1u,
    UM_KMSG_SHAPE_SO_DEST = 2u,
    UM_KMSG_SHAPE_SO_REPLY = 4u,
};

struct um_kmsg {
    um_kmsg *next;
    mach_msg_bits_t bits;     /* after copyin: PORT_* dispositions, COMPLEX */
    mach_msg_size_t size;     /* user size (header + body) */
    um_port *dest;            /* naked right of type MACH_MSGH_BITS_REMOTE(bits) */
    um_port *reply;           /* naked right, NULL, or UM_PORT_DEAD */
    mach_port_name_t voucher_raw; /* msgh_voucher_port when no voucher right travels */
    mach_msg_id_t id;
    uint32_t ndesc;
    um_kdesc *desc;
    uint8_t *body;            /* size - sizeof(header) bytes */
    security_token_t sec;
    audit_token_t audit;
    bool sp_notify;           /* MACH_SEND_NOTIFY: arm send-possible if it must wait */
    bool circular;            /* carries the receive right of its own destination chain */
    uint8_t shape;            /* UM_KMSG_SHAPE_* (um_kmsg.c): set by prepare; after copyin
                                 nonzero only if header_rights_simple took the rights */
    uint32_t *offsets;        /* between prepare and copyin: each descriptor's offset */
    bool small;               /* a recycled small kmsg (see kmsg_alloc) */
    um_kernel *kernel;        /* frees the memory regions it carries; NULL: carries none */
    uint64_t charge;          /* inline + out-of-line bytes, charged while queued */
    um_ledger *ledger;        /* the sender's ledger while charged (a reference), else NULL */
};

/*
 * Every kmsg's storage after the struct: room for the header before the body (a receiver's
 * image is built in place: header, body, trailer) and for the largest trailer after it.
 */
#define UM_KMSG_STORAGE(body_size) (sizeof(mach_msg_header_t) + (body_size) + MAX_TRAILER_SIZE)
static inline uint8_t *um_kmsg_body_start(um_kmsg *k)
{
    return (uint8_t *)(k + 1) + sizeof(mach_msg_header_t);
}

/* ---- copyin / copyout (um_kmsg.c) ------------------------------------------------------ */

/*
 * Copy a user message in, in two steps. um_kmsg_prepare needs no lock: it copies the
 * message once from `task`'s memory at `msg_addr` (everything later reads that copy; an
 * unreadable buffer is MACH_SEND_INVALID_DATA), and finds
 * the errors XNU finds before any right is touched (sizes, descriptor types and counts, header dispositions); on failure
 * nothing was taken. um_kmsg_copyin_prepared then takes the rights and memory from `space`
 * (conditions: world locked); it consumes the kmsg. On success the kmsg owns every right and
 * region the message carried; on failure the rights are consumed exactly as XNU does for that
 * error (MACH_FACTS §2.5): header rights and earlier descriptors for body errors, nothing for
 * header and destination errors. A message that would take the sender's queued bytes over
 * its ledger's cap is MACH_SEND_NO_BUFFER before anything is taken (XNU's ipc_kmsg_alloc
 * failure).
 */
mach_msg_return_t um_kmsg_prepare(um_task *task, uint64_t msg_addr, mach_msg_size_t send_size,
                                  um_kmsg **kmsgp);
mach_msg_return_t um_kmsg_copyin_prepared(um_space *space, um_kmsg *kmsg,
                                          mach_msg_option_t option);
/*
 * The right named `name` in `space`, taken as a port descriptor of disposition `disp` takes it
 * from a message being sent, with the message's codes: NULL and DEAD travel as such
 * (*portp NULL or UM_PORT_DEAD), a right that cannot be taken is MACH_SEND_INVALID_RIGHT (a
 * missing one also raises kGUARD_EXC_SEND_INVALID_RIGHT) or MACH_SEND_NO_BUFFER. For a MIG
 * request the kernel serves without a message (a call on another task's port). On success
 * *portp is a naked right of type um_copyin_type(disp), the caller's. Conditions: world locked.
 */
mach_msg_return_t um_kmsg_copyin_port(um_space *space, mach_port_name_t name,
                                      mach_msg_type_name_t disp, um_port **portp);
/*
 * Whether `charge` more bytes fit under `ledger`'s cap, the sender's queued bytes, and its
 * total's, the kernel's: the test every send makes (um_kmsg_copyin_prepared: not fitting is
 * MACH_SEND_NO_BUFFER), and umachd's before it takes back credits to make room.
 */
UM_HOT_STATIC bool um_kmsg_ledger_fits(const um_ledger *ledger, uint64_t charge)
{
    const um_ledger *total = ledger->total;
    return charge <= ledger->max && ledger->queued <= ledger->max - charge &&
           (!total || (charge <= total->max && total->queued <= total->max - charge));
}
/*
 * The message's bytes (kmsg->charge) count against `ledger`, the sender's queued bytes, and
 * the kernel's total over it, until um_kmsg_uncharge; the kmsg holds a reference to `ledger`.
 */
UM_HOT_STATIC void um_kmsg_charge(um_ledger *ledger, um_kmsg *kmsg)
{
    ledger->queued += kmsg->charge;
    if (ledger->total)
        ledger->total->queued += kmsg->charge;
    ledger->refs++;
    kmsg->ledger = ledger;
}
/*
 * um_kmsg_ledger_fits and um_kmsg_charge in one: charges `kmsg` to `ledger` (and its total)
 * and returns true when it fits, else changes nothing and returns false. queued + charge
 * either wraps (then it is below charge) or is the sum um_kmsg_ledger_fits compares.
 */
UM_HOT_STATIC bool um_kmsg_charge_fits(um_ledger *ledger, um_kmsg *kmsg)
{
    uint64_t charge = kmsg->charge;
    uint64_t queued = ledger->queued + charge;
    if (queued < charge || queued > ledger->max)
        return false;
    um_ledger *total = ledger->total;
    if (total) {
        uint64_t tq = total->queued + charge;
        if (tq < charge || tq > total->max)
            return false;
        total->queued = tq;
    }
    ledger->queued = queued;
    ledger->refs++;
    kmsg->ledger = ledger;
    return true;
}
/*
 * The message left its queue (or is being destroyed): it no longer counts against its
 * sender's queued bytes. Idempotent.
 */
UM_HOT_STATIC void um_kmsg_uncharge(um_kmsg *kmsg)
{
    um_ledger *l = kmsg->ledger;
    if (l) {
        l->queued -= kmsg->charge;
        if (l->total)
            l->total->queued -= kmsg->charge;
        kmsg->ledger = NULL;
        um_ledger_release(l);
    }
}

/* Free a prepared kmsg that will not be copied in. */
void um_kmsg_discard_prepared(um_kmsg *kmsg);

/* Size the message needs in the receiver's buffer, without the trailer. */
mach_msg_size_t um_kmsg_user_size(const um_kmsg *kmsg);

/*
 * What a receive (or a pseudo-receive) puts in a task's buffer: up to two byte ranges, written
 * by the front end with the task's memory operations once the world lock is released. A
 * copied-out kmsg holds the bytes of a whole message (its storage, in place); header-only
 * results use `small`. Owned by the caller of the receive; um_msg_out_release frees it and
 * needs no lock.
 */
typedef struct um_msg_out {
    uint32_t nseg;
    struct {
        uint32_t offset;      /* from the start of the task's buffer */
        uint32_t len;
        const uint8_t *bytes;
    } seg[2];
    um_kmsg *image;           /* a copied-out kmsg that owns the bytes, or NULL; its rights
                                 are gone (it is freed, never destroyed) */
    uint8_t small[sizeof(mach_msg_header_t) + MAX_TRAILER_SIZE];
} um_msg_out;

void um_msg_out_free_image(um_msg_out *out);
UM_HOT_STATIC void um_msg_out_release(um_msg_out *out)
{
    if (out->image)
        um_msg_out_free_image(out);
    out->nseg = 0;
}

/*
 * Copy a message out to `space`: rights get names, regions go to the task, and the message's
 * bytes become `out`'s image (kmsg->size bytes, with room for a trailer after them). Consumes
 * the kmsg. `rcv_addr` is the receive buffer's address (guard context of received guarded
 * descriptors). Returns MACH_MSG_SUCCESS or a MACH_RCV_*_ERROR with resource bits.
 */
mach_msg_return_t um_kmsg_copyout(um_space *space, um_kmsg *kmsg, mach_msg_option_t option,
                                  uint64_t rcv_addr, um_msg_out *out);

/*
 * Hand a message that could not be queued back to its sender (pseudo-receive): every right
 * and region returns to `space` and `out` gets the rewritten message for the sender's buffer
 * at `msg_addr`. Consumes the kmsg. Returns 0 or resource bits (MACH_MSG_IPC_SPACE,
 * MACH_MSG_VM_SPACE).
 */
mach_msg_return_t um_kmsg_copyout_pseudo(um_space *space, um_kmsg *kmsg, uint64_t msg_addr,
                                         um_msg_out *out);

/* Consume a received message's destination right; returns the receiver's name for it. */
mach_port_name_t um_kmsg_copyout_dest(um_space *space, um_port *dest, mach_msg_type_name_t type);
/* The same without the name, for a receiver that knows it: consumes the destination right. */
void um_kmsg_release_dest(um_port *dest, mach_msg_type_name_t type);
/* The name a receive in `space` gets for a message's destination `dest` (changes nothing). */
static inline mach_port_name_t um_kmsg_dest_name(const um_space *space, const um_port *dest)
{
    if (!dest->active)
        return MACH_PORT_DEAD;
    return dest->receiver == space ? dest->receiver_name : MACH_PORT_NULL;
}

/*
 * Destroy a message and everything it carries (send-once rights send their notifications).
 * Consumes it. Never recurses: inside another destruction the message is only queued on this
 * thread's destroy list, which the outermost destruction drains before it returns.
 */
void um_kmsg_destroy(um_kmsg *kmsg);
/*
 * Append the linked messages head..tail to this thread's destroy list (consumes them).
 * Returns true when the list was empty: the caller is the outermost destroyer and must call
 * um_kmsg_reap_delayed (after it has finished what it is doing with the world's state).
 */
bool um_kmsg_delayed_destroy_queue(um_kmsg *head, um_kmsg *tail);
/* Destroy every message on this thread's destroy list, and every one that joins it meanwhile. */
void um_kmsg_reap_delayed(void);

/*
 * The size of the trailer requested by `option` (inline: every receive asks twice), from
 * um_trailer_sizes: MACH_RCV_TRAILER_ELEMENTS 0 (NULL) to 4 (CTX) their own trailers, every
 * other value (AV, LABELS, and those without a name) the largest one.
 */
extern const uint8_t um_trailer_sizes[16];
UM_HOT_STATIC mach_msg_size_t um_trailer_size(mach_msg_option_t option)
{
    return um_trailer_sizes[GET_RCV_ELEMENTS(option)];
}
/* Write the trailer requested by `option` at `at`. */
void um_trailer_write(void *at, mach_msg_option_t option, mach_port_seqno_t seqno,
                      const security_token_t *sec, const audit_token_t *audit,
                      uint64_t context);

/*
 * A simple message: its receive turns it into bytes alone (no descriptor, no reply right, no
 * voucher right; the destination right is released and named). The receive image of such a
 * message is um_kmsg_simple_image's, for the receive itself (um_msg_receive) and for a
 * preview of it (um_msg_render) alike, so the two cannot disagree.
 */
static inline bool um_kmsg_is_simple(const um_kmsg *k)
{
    return k->ndesc == 0 && k->reply == NULL && MACH_MSGH_BITS_VOUCHER(k->bits) == 0;
}
/*
 * A simple request: simple but for a send-once reply right (sent MAKE_SEND_ONCE or
 * MOVE_SEND_ONCE), which its receive in `space` names with a fresh entry. Only when that
 * cannot fail: the reply port is active and the table has a free entry without growing;
 * otherwise um_kmsg_copyout names it (or reports why it cannot).
 */
static inline bool um_kmsg_is_simple_request(const um_kmsg *k, const um_space *space)
{
    return k->ndesc == 0 && MACH_MSGH_BITS_VOUCHER(k->bits) == 0 && UM_PORT_VALID(k->reply) &&
           MACH_MSGH_BITS_LOCAL(k->bits) == MACH_MSG_TYPE_PORT_SEND_ONCE && k->reply->active &&
           space->free_head != 0;
}
/* The part of um_kmsg_is_simple_request that a kmsg shaped SO_REPLY still needs. */
static inline bool um_kmsg_simple_request_fits(const um_kmsg *k, const um_space *space)
{
    return k->reply->active && space->free_head != 0;
}
/*
 * Complete the receive image of the simple message (or simple request) `k` at `h`, whose
 * body is already in place after the header (k's own storage, where um_msg_receive builds it,
 * or a copy of the body a preview made): the header (`remote` the receiver's name for the
 * reply right, MACH_PORT_NULL for a simple message; `local` its name for the destination; the
 * voucher field as sent) and, after the body, the trailer `option` asks for with `seqno` and
 * `context`: k->size + um_trailer_size(option) bytes in all. Reads k, writes only the image.
 */
static inline void um_kmsg_simple_image(mach_msg_header_t *h, const um_kmsg *k,
                                        mach_port_name_t remote, mach_port_name_t local,
                                        mach_msg_option_t option, mach_port_seqno_t seqno,
                                        uint64_t context)
{
    /*
     * MACH_MSGH_BITS_SET(LOCAL(bits), REMOTE(bits), 0, bits) in one instruction: the voucher
     * field is 0 (no voucher right) and a kmsg's bits have nothing but PORT_* types (below
     * 0x20) in the remote and local bytes, so swapping the two low bytes swaps the fields.
     */
    h->msgh_bits = (k->bits & ~0xffffu) | __builtin_bswap16((uint16_t)k->bits);
    h->msgh_size = k->size;
    h->msgh_remote_port = remote;
    h->msgh_local_port = local;
    h->msgh_voucher_port = k->voucher_raw;
    h->msgh_id = k->id;
    um_trailer_write((uint8_t *)h + k->size, option, seqno, &k->sec, &k->audit, context);
}

/* ---- message transfer (um_msg.c) --------------------------------------------------------- */

/*
 * One mach_msg send as the core sees it. The front end fills the inputs and zeroes the rest,
 * then calls um_msg_send until it returns something other than MACH_SEND_IN_PROGRESS, or
 * cancels. Owns the kmsg until it is queued, destroyed or handed back in `out`.
 */
typedef struct um_msg_send_state {
    um_kmsg *kmsg;            /* prepared (um_kmsg_prepare); consumed by the send */
    mach_msg_option_t option;
    uint64_t msg_addr;        /* the sender's buffer, where a pseudo-receive's bytes go */
    bool may_block;           /* false: a full queue is MACH_SEND_TIMED_OUT at once */
    /*
     * A kernel object's reply, sent with the request's options and timeout like any message
     * (it waits for room, times out, is interrupted) but never handed back: whatever stops it
     * destroys it and the send succeeds, as XNU's ipc_kmsg_send does with a kernel reply that
     * failed. Set by the core when a kernel object's reply finds no room (um_kobject_server),
     * or by a front end for a reply it sends for the kernel (a world's client serving a
     * request to its own task port), which holds only when the destination's receive right
     * is the sender's own; to any other port that is an ordinary send.
     */
    bool kernel_reply;
    bool copied_in;
    um_waiter waiter;
    um_msg_out out;           /* pseudo-received message for the sender's buffer, if any */
} um_msg_send_state;

/*
 * Send: the first call copies the message in (rights and memory taken from `task`), later
 * calls look again after a wake. Returns the send's result, or MACH_SEND_IN_PROGRESS with
 * the waiter queued on the destination's full queue (the front end then sets the waiter's
 * wake hook and data before it releases the world lock). A message handed back to the sender
 * (MACH_SEND_NO_BUFFER, MACH_SEND_TIMED_OUT) leaves its bytes in s->out.
 * Conditions: world locked.
 */
mach_msg_return_t um_msg_send(um_task *task, um_msg_send_state *s);
/*
 * Give up a send that waits (timeout, interrupt: `why` is MACH_SEND_TIMED_OUT or
 * MACH_SEND_INTERRUPTED): the message is handed back to the sender (s->out). Returns `why`
 * with the pseudo-receive's resource bits; for a kernel reply (s->kernel_reply) the message
 * is destroyed instead and the result is MACH_MSG_SUCCESS. Conditions: world locked.
 */
mach_msg_return_t um_msg_send_cancel(um_task *task, um_msg_send_state *s, mach_msg_return_t why);

/*
 * One mach_msg receive as the core sees it (filled and zeroed like um_msg_send_state). The
 * front end sets the inputs and `started` = false; the rest is the core's.
 */
typedef struct um_msg_rcv_state {
    mach_msg_option_t option;
    mach_msg_size_t rcv_size;
    mach_port_name_t rcv_name;
    uint64_t rcv_addr;        /* the receiver's buffer (guard context of guarded descriptors) */
    bool may_block;           /* false: nothing queued is MACH_RCV_TIMED_OUT at once */
    bool started;
    /*
     * Handoff: a send that finds this receive waiting completes it (dequeue and copy-out
     * into `task`'s space, under the same lock hold) before it wakes the waiter, as XNU hands
     * a message straight to a waiting thread, when the message to take has no descriptors
     * (memory and port arrays go through the receiving task's memory operations, which a
     * front end may serve only in that task's own call). `handed` is then true and `handed_mr` the
     * result; the call after the wake returns it. `handed` is stored last, with release
     * order, so a front end may read it with acquire order without the world lock once its
     * waiter was woken: when true, `out` and `handed_mr` are final and the core no longer
     * touches the state.
     */
    bool handed;
    mach_msg_return_t handed_mr;
    um_task *task;            /* the receiving task, while the waiter is queued */
    um_waiter waiter;
    um_msg_out out;           /* what goes into the receiver's buffer */
} um_msg_rcv_state;

/*
 * Receive: dequeue and copy out a message for `task`, or MACH_RCV_IN_PROGRESS with the waiter
 * queued on the port or set. Call again after a wake (a receive a sender completed returns
 * its result then: see `handed`). The result's bytes are in r->out (also for
 * MACH_RCV_TOO_LARGE and header errors). Conditions: world locked.
 */
mach_msg_return_t um_msg_receive(um_task *task, um_msg_rcv_state *r);
/* Give up a receive that waits (timeout, interrupt, task death). Conditions: world locked. */
void um_msg_receive_cancel(um_msg_rcv_state *r);
/*
 * Render, without dequeuing anything, the image a receive by `space` on `port` (an active
 * port whose receive right `space` holds) with `option` and a buffer of `rcv_size` bytes
 * would get for `k`, queued there with `ahead` messages before it, once those were received
 * and nothing else changed: the same bytes um_msg_receive would give (um_kmsg_simple_image),
 * the seqno to be (port->seqno + ahead), the port's context. Written to `buf` (`cap` bytes,
 * aligned as a mach_msg_header_t);
 * returns the length, or 0 when that receive would do more than write bytes (`k` is not
 * simple), could not take it whole (too large for `rcv_size` or `cap`), or `space` does not
 * hold the port's receive right. Changes nothing. Conditions: world locked.
 */
uint32_t um_msg_render(const um_space *space, const um_port *port, const um_kmsg *k,
                       uint32_t ahead, mach_msg_option_t option, mach_msg_size_t rcv_size,
                       void *buf, uint32_t cap);

/* ---- the mach_port_* calls' state changes (um_mach_port.c) ---------------------------------- */

/* Create a receive right / port set / dead name under a fresh name, or `*namep` if `named`. */
kern_return_t um_port_allocate_right(um_space *space, mach_port_right_t right, bool named,
                                     mach_port_name_t *namep);
/* Set up a receive right just made for mach_port_construct (MPO_* `flags`). */
void um_port_construct_setup(um_space *space, mach_port_name_t name, uint32_t flags,
                             mach_port_msgcount_t qlimit, uint64_t context);
/* insert_right of a name's own send right under the same name: one more send uref. */
kern_return_t um_right_insert_same_name(um_space *space, mach_port_name_t name,
                                        mach_msg_type_name_t polyPoly);
/* MACH_PORT_RECEIVE_STATUS of a port. */
void um_port_status(const um_port *port, mach_port_status_t *st);
/* Look up a receive right for a guard call (raises the guard XNU raises on failure). */
kern_return_t um_port_guard_translate(um_space *space, mach_port_name_t name, um_port **portp);
/* Guard / unguard / swap the guard of a receive right, with XNU's checks and guard flavours. */
kern_return_t um_port_guard(um_space *space, mach_port_name_t name, um_port *port, uint64_t guard,
                            uint64_t flags);
kern_return_t um_port_unguard(um_space *space, mach_port_name_t name, um_port *port,
                              uint64_t guard);
kern_return_t um_port_swap_guard(um_space *space, mach_port_name_t name, um_port *port,
                                 uint64_t old_guard, uint64_t new_guard);
kern_return_t um_port_set_context(um_space *space, mach_port_name_t name, um_port *port,
                                  uint64_t context);
void um_port_set_mscount(um_port *port, mach_port_mscount_t mscount);
void um_port_set_seqno(um_port *port, mach_port_seqno_t seqno);
void um_port_set_importance(um_port *port, bool tempowner);
/* Translate a member (receive right) and a set name, with XNU's order and codes. */
kern_return_t um_translate_port_pset(um_space *space, mach_port_name_t pname, um_port **portp,
                                     mach_port_name_t sname, um_pset **setp);
/* mach_port_move_member: into `set` alone, or (set NULL) out of every set. */
kern_return_t um_port_move_member(um_port *port, um_pset *set);
/* The receive-right names of a set's members (set->nmembers of them). */
void um_pset_member_names(const um_pset *set, mach_port_name_t *names);
/*
 * mach_port_request_notification's core: register `notify` (a naked send-once right, NULL or
 * UM_PORT_DEAD) for `id` on `name`. *reservep (the message reserved for the notification) is
 * taken, and set to NULL, when it is used; *previousp gets a replaced request's right.
 */
kern_return_t um_request_notification(um_space *space, mach_port_name_t name, mach_msg_id_t id,
                                      mach_port_mscount_t sync, um_port *notify,
                                      um_kmsg **reservep, um_port **previousp);

/* ---- message queues (um_mqueue.c) -------------------------------------------------------- */

/* Is the queue at the kernel's own limit, which no right may pass (MACH_SEND_NO_BUFFER)? */
static inline bool um_mqueue_full_kernel(const um_port *port)
{
    return (uint64_t)port->msgcount + port->reserved >= UM_MSG_QUEUE_KERNEL_LIMIT;
}
/* Does a send of `kmsg` to its destination find no room (and wait, time out or fail)? */
UM_HOT_STATIC bool um_mqueue_full(const um_port *port, const um_kmsg *kmsg)
{
    /* A send-once right may go past the queue limit, up to the kernel's. */
    if (MACH_MSGH_BITS_REMOTE(kmsg->bits) == MACH_MSG_TYPE_PORT_SEND_ONCE)
        return um_mqueue_full_kernel(port);
    return (uint64_t)port->msgcount + port->reserved >= port->qlimit; /* room promised counts */
}
/* Queue a copied-in message on its (active) destination and wake a receiver. Consumes. */
void um_mqueue_deliver(um_kmsg *kmsg);
/*
 * Queue a copied-in message on its (active) destination like um_mqueue_deliver, but return
 * the receiver it would wake, taken off its wait queue and not yet woken (NULL: none); the
 * caller wakes it with um_waiter_wake. Consumes the kmsg.
 */
um_waiter *um_mqueue_deliver_take(um_kmsg *kmsg);
/*
 * A receive left the message at the head of `port`'s queue (MACH_RCV_TOO_LARGE with
 * MACH_RCV_LARGE): wake the next thread receiving on the port or one of its sets, if any, to
 * look for it, as XNU's ipc_mqueue_post goes on to another thread.
 */
void um_mqueue_wake_next(um_port *port);
/* Wake a waiter taken off its queue: it looks again (woken, MACH_MSG_SUCCESS). */
void um_waiter_wake(um_waiter *w);
/*
 * Send a copied-in message: deliver it, hand it to the kernel-object server when its
 * destination is a kernel object, or destroy it (and succeed) when its destination is dead.
 * Consumes the kmsg. Used for kernel-made messages and for sends that need no wait.
 */
void um_kmsg_send_nowait(um_kmsg *kmsg);
/*
 * Destroy a kernel reply whose send failed (no room and no wait, a timeout, an interrupt, the
 * kernel's limit), as XNU's ipc_kmsg_send does: its rights and memory are released, its
 * destination right as used (a send-once right sends no notification). Consumes the kmsg.
 */
void um_kmsg_drop_kernel_reply(um_kmsg *kmsg);
/* Take the first message of a port, advancing its seqno and waking a blocked sender. */
um_kmsg *um_mqueue_dequeue(um_port *port, mach_port_seqno_t *seqnop);
/* Find a member of `set` with a queued message. */
um_port *um_pset_ready_member(um_pset *set);
/* Wake one thread receiving on `set`. */
void um_mqueue_wake_set_receiver(um_pset *set);
/*
 * Move every queued message of a dying port to this thread's destroy list. Returns true when
 * the caller must call um_kmsg_reap_delayed (see um_kmsg_delayed_destroy_queue).
 */
bool um_mqueue_destroy_all(um_port *port);
/* Change the queue limit and wake senders that now fit. */
void um_mqueue_set_qlimit(um_port *port, mach_port_msgcount_t qlimit);

/* ---- kernel-made messages (um_notify.c) --------------------------------------------------- */

/*
 * A kernel message (the kernel's tokens) to `dest`, a naked right of type `dest_type`
 * (PORT_SEND_ONCE or PORT_SEND) that the kmsg takes over, with `body_size` zeroed body bytes
 * and room for `ndesc` descriptor records (ndesc is left 0: the caller counts what it fills
 * in). NULL when out of memory (then `dest` is still the caller's).
 */
um_kmsg *um_kmsg_kernel(um_port *dest, mach_msg_type_name_t dest_type, mach_msg_id_t id,
                        mach_msg_size_t body_size, uint32_t ndesc);

/*
 * Send a port-destroyed notification carrying `port`'s receive right through `notify`, built
 * in `reserve` (see um_notify_reserve; NULL: allocated now). Consumes both rights and the
 * reserve.
 */
void um_notify_port_destroyed(um_port *notify, um_port *port, um_kmsg *reserve);

/* Send a dead-name / send-possible notification naming `name` through `notify`, built in
 * `reserve` when not NULL. Consumes the right and the reserve. */
void um_notify_dead_name(um_port *notify, mach_port_name_t name, um_kmsg *reserve);
void um_notify_send_possible(um_port *notify, mach_port_name_t name, um_kmsg *reserve);
/* Arm the send-possible request `index` registered for `name` of `space` on `port`. */
void um_request_arm_send_possible(um_port *port, um_space *space, mach_port_name_t name,
                                  uint32_t index);
/* The queue has room again: fire every armed send-possible request. */
void um_port_fire_send_possible(um_port *port);

#endif
