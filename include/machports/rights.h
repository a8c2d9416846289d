/*
 * machports/rights.h — owned Mach port rights.
 *
 * Each right kind has its own struct type, so the compiler rejects a send right where a
 * receive right belongs. A value holds exactly one user reference on its right (or is
 * NULL). The rules, the same in every function of the library:
 *   - a right passed BY VALUE is borrowed: the callee neither keeps nor releases it;
 *   - a right passed BY POINTER to a consuming function (`_move`, `_into_name`, `_drop`,
 *     `_consume`) is taken, on success AND on failure, and the caller's value is reset to
 *     NULL, so a second drop is a harmless no-op;
 *   - a pointer named `out` receives a new right the caller then owns; on failure it is
 *     set to NULL.
 * A right whose port died is a dead name; every drop still releases exactly its one
 * reference and never fails loudly.
 */
#ifndef MACHPORTS_RIGHTS_H
#define MACHPORTS_RIGHTS_H

#include <machports/defs.h>

#include <mach/mach.h>
#include <mach/notify.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One user reference on a send right (or, once the port died, on a dead name). */
typedef struct mp_send_right {
    mach_port_name_t name;
} mp_send_right;

/* A send-once right: sending through it or dropping it consumes it. */
typedef struct mp_send_once_right {
    mach_port_name_t name;
} mp_send_once_right;

/*
 * A receive right. `guarded` and `guard` record the port's guard so the right can be
 * destroyed (which a guarded port only allows with the guard); `immovable` marks a right
 * the kernel refuses to move. Treat the fields as read-only.
 */
typedef struct mp_recv_right {
    mach_port_name_t name;
    uint16_t guarded; /* 0: not guarded, 1: guarded, 2: strictly guarded */
    uint16_t immovable;
    mach_port_context_t guard;
} mp_recv_right;

/* A port set: receive from any of its member ports. */
typedef struct mp_port_set {
    mach_port_name_t name;
} mp_port_set;

#define MP_SEND_RIGHT_NULL ((mp_send_right){0})
#define MP_SEND_ONCE_RIGHT_NULL ((mp_send_once_right){0})
#define MP_RECV_RIGHT_NULL ((mp_recv_right){0})
#define MP_PORT_SET_NULL ((mp_port_set){0})

/* The kind held by an mp_any_send_right. */
typedef enum mp_any_send_kind {
    MP_ANY_SEND_NONE = 0,
    MP_ANY_SEND_SEND = 1,
    MP_ANY_SEND_ONCE = 2
} mp_any_send_kind;

/* A send right or a send-once right (a reply port), tagged with its kind. */
typedef struct mp_any_send_right {
    mp_any_send_kind kind;
    mach_port_name_t name;
} mp_any_send_right;

#define MP_ANY_SEND_RIGHT_NULL ((mp_any_send_right){MP_ANY_SEND_NONE, 0})

/* ---- raw names ---------------------------------------------------------------------- */

/* Wrap a raw name; ownership of one reference moves into the returned value. */
static inline mp_send_right mp_send_right_from_name(mach_port_name_t name)
{
    return (mp_send_right){name};
}
static inline mp_send_once_right mp_send_once_right_from_name(mach_port_name_t name)
{
    return (mp_send_once_right){name};
}
/* Wrap a raw receive right that is not guarded. */
static inline mp_recv_right mp_recv_right_from_name(mach_port_name_t name)
{
    return (mp_recv_right){name, 0, 0, 0};
}
/* Wrap a raw receive right guarded with `guard` (strictly guarded: then set .guarded = 2). */
static inline mp_recv_right mp_recv_right_from_guarded_name(mach_port_name_t name,
                                                            mach_port_context_t guard)
{
    return (mp_recv_right){name, 1, 0, guard};
}
static inline mp_port_set mp_port_set_from_name(mach_port_name_t name)
{
    return (mp_port_set){name};
}

/* Borrow the raw name: ownership stays with the value. */
static inline mach_port_name_t mp_send_right_name(mp_send_right r)
{
    return r.name;
}
static inline mach_port_name_t mp_send_once_right_name(mp_send_once_right r)
{
    return r.name;
}
static inline mach_port_name_t mp_recv_right_name(mp_recv_right r)
{
    return r.name;
}
static inline mach_port_name_t mp_port_set_name(mp_port_set s)
{
    return s.name;
}

/* True when the value holds no right. */
static inline bool mp_send_right_is_null(mp_send_right r)
{
    return r.name == MACH_PORT_NULL;
}
static inline bool mp_send_once_right_is_null(mp_send_once_right r)
{
    return r.name == MACH_PORT_NULL;
}
static inline bool mp_recv_right_is_null(mp_recv_right r)
{
    return r.name == MACH_PORT_NULL;
}
static inline bool mp_port_set_is_null(mp_port_set s)
{
    return s.name == MACH_PORT_NULL;
}

/*
 * Give up ownership: returns the raw name (the caller now owns its reference) and resets
 * *r to NULL. For a guarded receive right the caller also becomes responsible for the
 * guard (read r->guard first).
 */
MP_WUR MP_NONNULL(1) mach_port_name_t mp_send_right_into_name(mp_send_right *r);
MP_WUR MP_NONNULL(1) mach_port_name_t mp_send_once_right_into_name(mp_send_once_right *r);
MP_WUR MP_NONNULL(1) mach_port_name_t mp_recv_right_into_name(mp_recv_right *r);
MP_WUR MP_NONNULL(1) mach_port_name_t mp_port_set_into_name(mp_port_set *s);

/* ---- drop ----------------------------------------------------------------------------- */

/*
 * Release the one reference *r holds and reset *r to NULL. NULL values are a no-op.
 * A send or send-once right whose port died is released as the dead name it became.
 * A receive right is destroyed (with its guard when guarded): its queued messages are
 * destroyed and its send rights elsewhere become dead names.
 * Returns the kernel's result, for information only: drop never fails loudly and the
 * value is NULL afterwards whatever happened.
 */
MP_NONNULL(1) kern_return_t mp_send_right_drop(mp_send_right *r);
MP_NONNULL(1) kern_return_t mp_send_once_right_drop(mp_send_once_right *r);
MP_NONNULL(1) kern_return_t mp_recv_right_drop(mp_recv_right *r);
MP_NONNULL(1) kern_return_t mp_port_set_drop(mp_port_set *s);
MP_NONNULL(1) kern_return_t mp_any_send_right_drop(mp_any_send_right *r);

/* ---- receive rights: allocate and construct -------------------------------------------- */

/* Allocate a new port; *out receives its receive right (qlimit 5, no send rights). */
MP_WUR MP_NONNULL(1) kern_return_t mp_recv_right_alloc(mp_recv_right *out);

/*
 * Allocate a new port and make one send right to it, in one call (as Swift's
 * allocatePortRightPair): *recv and *send receive them (the same name). On failure both
 * are NULL and nothing is left behind.
 */
MP_WUR MP_NONNULL(1, 2) kern_return_t mp_recv_right_make_pair(mp_recv_right *recv,
                                                              mp_send_right *send);

/*
 * Destroy a port and release one send right to it, in one call (mach_port_destruct with
 * a send delta of -1): both values are reset to NULL whatever happens. When `send` names
 * another port (or is NULL) the two are dropped one by one. Returns the kernel's result,
 * for information only.
 */
MP_NONNULL(1, 2) kern_return_t mp_recv_right_drop_pair(mp_recv_right *recv, mp_send_right *send);

/* Options of mp_recv_right_construct; zero-initialise and set what you need. */
typedef struct mp_construct_options {
    uint32_t flags;              /* MP_CONSTRUCT_* */
    mach_port_msgcount_t qlimit; /* with MP_CONSTRUCT_QLIMIT: 0 .. MACH_PORT_QLIMIT_MAX */
    mach_port_context_t context; /* with MP_CONSTRUCT_CONTEXT or MP_CONSTRUCT_GUARD */
} mp_construct_options;

#define MP_CONSTRUCT_QLIMIT 0x01u      /* set the queue limit to `qlimit` */
#define MP_CONSTRUCT_CONTEXT 0x02u     /* set the port context to `context` */
#define MP_CONSTRUCT_GUARD 0x04u       /* guard the receive right with `context` */
#define MP_CONSTRUCT_STRICT 0x08u      /* with GUARD: strict guard (context cannot be changed) */
#define MP_CONSTRUCT_IMMOVABLE 0x10u   /* with GUARD: the receive right can never be moved */
#define MP_CONSTRUCT_INSERT_SEND 0x20u /* also create a send right; needs send_out */

/*
 * Construct a new port with options (mach_port_construct). *out receives the receive
 * right; with MP_CONSTRUCT_INSERT_SEND, *send_out receives a send right under the same
 * name (send_out may be NULL otherwise). CONTEXT and GUARD together, STRICT or IMMOVABLE
 * without GUARD, or INSERT_SEND without send_out give KERN_INVALID_ARGUMENT.
 */
MP_WUR MP_NONNULL(1, 2) kern_return_t
    mp_recv_right_construct(const mp_construct_options *opts, mp_recv_right *out,
                            mp_send_right *send_out);

/* ---- making and copying send rights --------------------------------------------------- */

/* Make a new send right from a borrowed receive right (mscount + 1). */
MP_WUR MP_NONNULL(2) kern_return_t mp_send_right_make(mp_recv_right recv, mp_send_right *out);

/* Make a new send-once right from a borrowed receive right; it gets a fresh name. */
MP_WUR MP_NONNULL(2) kern_return_t
    mp_send_once_right_make(mp_recv_right recv, mp_send_once_right *out);

/*
 * Copy a borrowed send right: +1 user reference, returned in *out. A send right whose port
 * died cannot be copied (as Swift's copySendRight throws deadName): KERN_INVALID_RIGHT,
 * *out NULL; the dead name is still yours to drop.
 */
MP_WUR MP_NONNULL(2) kern_return_t mp_send_right_copy(mp_send_right r, mp_send_right *out);

/* True when the port of a borrowed send / send-once right has died. */
bool mp_send_right_is_dead(mp_send_right r);
bool mp_send_once_right_is_dead(mp_send_once_right r);

/* ---- any send right --------------------------------------------------------------------- */

/* Move a send / send-once right into a tagged value; *r is reset to NULL. */
MP_NONNULL(1) mp_any_send_right mp_any_send_right_from_send(mp_send_right *r);
MP_NONNULL(1) mp_any_send_right mp_any_send_right_from_send_once(mp_send_once_right *r);

/*
 * Take the right out of a tagged value if it has that kind: returns true, fills *out and
 * resets *any; otherwise returns false and changes nothing.
 */
MP_WUR MP_NONNULL(1, 2) bool mp_any_send_right_take_send(mp_any_send_right *any, mp_send_right *out);
MP_WUR MP_NONNULL(1, 2) bool mp_any_send_right_take_send_once(mp_any_send_right *any,
                                                        mp_send_once_right *out);

static inline bool mp_any_send_right_is_null(mp_any_send_right r)
{
    return r.kind == MP_ANY_SEND_NONE || r.name == MACH_PORT_NULL;
}

/* ---- receive-right attributes ------------------------------------------------------------ */

/* What mach_port_get_attributes(MACH_PORT_RECEIVE_STATUS) reports. */
typedef struct mp_port_status {
    mach_port_msgcount_t msgcount; /* messages queued */
    mach_port_msgcount_t qlimit;   /* queue limit */
    mach_port_mscount_t mscount;   /* make-send count */
    mach_port_seqno_t seqno;       /* sequence number of the next message */
    mach_port_rights_t sorights;   /* extant send-once rights */
    bool srights;                  /* send rights exist */
    bool pdrequest;                /* a port-destroyed request is armed */
    bool nsrequest;                /* a no-senders request is armed */
    bool in_set;                   /* member of a port set */
    natural_t flags;               /* MACH_PORT_STATUS_FLAG_* */
} mp_port_status;

MP_WUR MP_NONNULL(2) kern_return_t mp_recv_right_status(mp_recv_right r, mp_port_status *out);

/* Queue limit (0 .. MACH_PORT_QLIMIT_MAX): get / set. */
MP_WUR MP_NONNULL(2) kern_return_t mp_recv_right_qlimit(mp_recv_right r, mach_port_msgcount_t *out);
kern_return_t mp_recv_right_set_qlimit(mp_recv_right r, mach_port_msgcount_t qlimit);

/* Set the make-send count (what a later no-senders notification counts from). */
kern_return_t mp_recv_right_set_mscount(mp_recv_right r, mach_port_mscount_t mscount);

/*
 * Port context: get / set. On a guarded port the context IS the guard: setting it on a
 * (non-strictly) guarded right changes the guard, which *r then records; a strictly
 * guarded right refuses (KERN_INVALID_ARGUMENT on Darwin, with a guard exception).
 */
MP_WUR MP_NONNULL(2) kern_return_t mp_recv_right_context(mp_recv_right r, mach_port_context_t *out);
MP_NONNULL(1) kern_return_t mp_recv_right_set_context(mp_recv_right *r, mach_port_context_t context);

/*
 * Guard an unguarded receive right with `guard` (strict: the context can no longer be
 * changed). The guard is recorded in *r. A port whose context is not 0, or already
 * guarded, gives KERN_INVALID_ARGUMENT (the library checks first and never asks the
 * kernel to raise a guard exception).
 */
MP_NONNULL(1) kern_return_t mp_recv_right_guard(mp_recv_right *r, mach_port_context_t guard, bool strict);

/* Remove the guard recorded in *r. An unguarded right gives KERN_INVALID_ARGUMENT. */
MP_NONNULL(1) kern_return_t mp_recv_right_unguard(mp_recv_right *r);

/* ---- notifications --------------------------------------------------------------------- */

/*
 * Each request registers a send-once right made from the borrowed receive right `notify`;
 * the kernel later sends the notification through it. *previous (may be NULL, then it is
 * dropped) receives the send-once right registered before, if any; pass
 * MP_RECV_RIGHT_NULL as `notify` to cancel a request and get the old right back.
 * Notification message ids: MACH_NOTIFY_NO_SENDERS (70), MACH_NOTIFY_DEAD_NAME (72),
 * MACH_NOTIFY_PORT_DESTROYED (69), MACH_NOTIFY_SEND_POSSIBLE (66); see
 * mp_msg_parser_notification() in parser.h to read them.
 */

/*
 * No-senders on `port`: fires when its last send right goes away. The kernel fires at once
 * when no send right exists and its make-send count has reached `sync`, so a request made
 * before the first send right with sync 0 fires right away (a server would read that as
 * "the client died"). This call picks the sync that means "after the send rights that exist
 * now, or the first one made from now on, are all gone": the current make-send count when
 * send rights exist (so it still fires if they all die meanwhile), else that count + 1.
 */
kern_return_t mp_recv_right_request_no_senders(mp_recv_right port, mp_recv_right notify,
                                                      mp_send_once_right *previous);

/* The same with the kernel's `sync` given as is (mach_port_request_notification). */
kern_return_t mp_recv_right_request_no_senders_sync(mp_recv_right port,
                                                           mach_port_mscount_t sync,
                                                           mp_recv_right notify,
                                                           mp_send_once_right *previous);

/*
 * Port-destroyed on `port`: when the receive right would be destroyed, it is sent to
 * `notify` instead, inside the notification (one request per port).
 */
kern_return_t mp_recv_right_request_port_destroyed(mp_recv_right port, mp_recv_right notify,
                                                          mp_send_once_right *previous);

/*
 * Dead-name on a send right: fires when its port dies. Note: when it fires, the dead
 * name gains one extra user reference, which mp_msg_parser_notification() hands back as
 * the `dead_name` right of the notification (drop it as any send right).
 */
kern_return_t mp_send_right_request_dead_name(mp_send_right r, mp_recv_right notify,
                                                     mp_send_once_right *previous);

/* Send-possible on a send right (sync != 0: arm now, fires at once when not full). */
kern_return_t mp_send_right_request_send_possible(mp_send_right r, mach_port_mscount_t sync,
                                                         mp_recv_right notify,
                                                         mp_send_once_right *previous);

/* ---- port sets ------------------------------------------------------------------------- */

/* Allocate an empty port set. */
MP_WUR MP_NONNULL(1) kern_return_t mp_port_set_alloc(mp_port_set *out);

/* Add a port to a set (a port may be in several sets). Already in it: KERN_ALREADY_IN_SET. */
kern_return_t mp_port_set_insert(mp_port_set set, mp_recv_right member);

/* Remove a port from a set. Not in it: KERN_NOT_IN_SET. */
kern_return_t mp_port_set_remove(mp_port_set set, mp_recv_right member);

/* Move a port out of every set it is in and into `set` (MP_PORT_SET_NULL: out of all). */
kern_return_t mp_port_set_move(mp_recv_right member, mp_port_set set);

/*
 * The names of the set's members, copied into names[0 .. cap); *count receives the total
 * number of members (which may exceed cap: then only cap are written).
 */
MP_WUR MP_NONNULL(4) kern_return_t
    mp_port_set_members(mp_port_set set, mach_port_name_t *names, size_t cap, size_t *count);

#ifdef __cplusplus
}
#endif
#endif
