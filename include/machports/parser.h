/*
 * machports/parser.h — read a received Mach message and take what it carries.
 *
 * A received message owns rights (its reply port, voucher, port descriptors, OOL-ports
 * arrays) and memory (OOL regions). A parser hands them out one by one as owned values;
 * mp_msg_parser_drop() releases everything not taken. The parser zeroes in the buffer
 * every name and address it hands out, so nothing is ever released twice.
 *
 * Order of use: the header (any time), the descriptors in order with
 * mp_msg_parser_next(), the inline body, the trailer. The parser checks every size, count
 * and descriptor type against the bytes it was given before reading them; a malformed
 * message gives an error (MACH_RCV_HEADER_ERROR, MACH_RCV_BODY_ERROR or
 * MACH_RCV_INVALID_TYPE) — never an out-of-bounds read or an abort — and mp_msg_parser_drop still
 * releases what it could identify (the reply and voucher when their bits are valid, and
 * every well-formed descriptor before the first bad one).
 */
#ifndef MACHPORTS_PARSER_H
#define MACHPORTS_PARSER_H

#include <machports/buffer.h>
#include <machports/defs.h>
#include <machports/ool.h>
#include <machports/rights.h>

#include <mach/mach.h>
#include <mach/notify.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_msg_parser {
    uint8_t *msg;             /* the message bytes (private) */
    mach_msg_size_t avail;    /* bytes valid at msg */
    mach_msg_size_t size;     /* msgh_size once validated */
    mach_msg_size_t offset;   /* next descriptor */
    mach_msg_size_t left;     /* descriptors not yet handed out */
    mach_msg_size_t good;     /* of those, how many are well-formed */
    mach_msg_size_t body_off; /* inline data start (valid when error == 0) */
    mach_msg_return_t error;  /* first malformation found */
    uint32_t flags;
    const mp_msg_buffer *buf; /* the buffer parsed (mp_msg_parser_init), or NULL */
    uint32_t generation;      /* buf->generation when parsed */
} mp_msg_parser;

/* Flags of mp_msg_parser_init_bytes. */
#define MP_PARSE_RELEASE                                                                           \
    0x1u /* the bytes are a message this task received and owns: hand out its rights and        \
            memory, and release on drop what was not taken */

/*
 * Parse `len` bytes at `msg` (a received message followed by its trailer). The parser
 * keeps a pointer to the bytes: keep them alive and unchanged until the drop. Returns
 * MACH_MSG_SUCCESS or the malformation found; in both cases call mp_msg_parser_drop once
 * done.
 * Without MP_PARSE_RELEASE (bytes from a copy, a log, a file, a fuzzer) the parser only
 * reads: it hands out no right and no memory (every right and region it returns is NULL;
 * kinds, ids, sizes, the body and the trailer are still read), never writes the bytes, and
 * its drop releases nothing. With MP_PARSE_RELEASE the names and addresses in the bytes
 * are this task's: they are handed out as owned values, and the drop releases the rest.
 */
MP_NONNULL(1)
mach_msg_return_t mp_msg_parser_init_bytes(mp_msg_parser *p, void *msg, size_t len, uint32_t flags);

/* Parse the message received in *buf, which owns what it carries (mp_recv does this for
 * you). The parser checks on every call that the buffer still holds that message: once
 * the buffer is reused (a receive, a builder, a grow, a drop) the parser gives
 * MACH_RCV_INVALID_DATA and its drop touches nothing. */
MP_NONNULL(1, 2) mach_msg_return_t mp_msg_parser_init(mp_msg_parser *p, mp_msg_buffer *buf);

/* Release everything not taken; the parser is empty afterwards (a second call is a no-op). */
MP_NONNULL(1) void mp_msg_parser_drop(mp_msg_parser *p);

/* ---- header -------------------------------------------------------------------------------- */

typedef struct mp_msg_header {
    mach_msg_id_t id;
    mach_msg_bits_t bits;
    mach_msg_size_t size;        /* msgh_size: header, descriptors and inline data */
    mach_port_name_t local_port; /* the receive right (or member of a set) it arrived on:
                                    a borrowed name, never released by the parser */
    mp_any_send_right reply;     /* owned: the reply right, or NULL */
    mp_send_right voucher;       /* owned: the voucher, or NULL */
} mp_msg_header;

/*
 * Read the header and take the reply and voucher rights (a second call gives them as
 * NULL). MACH_RCV_HEADER_ERROR when the message is malformed; then the fields that could
 * be read are still filled and the rights whose bits are invalid are left in place.
 */
MP_NONNULL(1, 2) mach_msg_return_t mp_msg_parser_header(mp_msg_parser *p, mp_msg_header *out);

/* The message id, without taking anything. */
MP_NONNULL(1) mach_msg_id_t mp_msg_parser_id(const mp_msg_parser *p);

/* ---- descriptors ---------------------------------------------------------------------------- */

typedef enum mp_desc_kind {
    MP_DESC_NONE = 0,    /* no more descriptors */
    MP_DESC_RECV,        /* recv */
    MP_DESC_SEND,        /* send */
    MP_DESC_SEND_ONCE,   /* send_once */
    MP_DESC_OOL,         /* ool (copy says how it crossed) */
    MP_DESC_OOL_PORTS,   /* ports */
    MP_DESC_GUARDED_RECV /* recv, guarded (guard = recv.guard) */
} mp_desc_kind;

typedef struct mp_msg_desc {
    mp_desc_kind kind;
    mach_msg_copy_options_t copy; /* for MP_DESC_OOL */
    union {
        mp_recv_right recv;
        mp_send_right send;
        mp_send_once_right send_once;
        mp_ool_buf ool;
        mp_ool_ports ports;
    };
} mp_msg_desc;

/* Number of descriptors not yet taken. */
MP_NONNULL(1) size_t mp_msg_parser_descriptors_left(const mp_msg_parser *p);

/*
 * Take the next descriptor into *out (owned; release with mp_msg_desc_drop or by moving
 * its member out). At the end: MACH_MSG_SUCCESS with out->kind == MP_DESC_NONE.
 * A malformed descriptor: its error, out->kind == MP_DESC_NONE.
 */
MP_NONNULL(1, 2) mach_msg_return_t mp_msg_parser_next(mp_msg_parser *p, mp_msg_desc *out);

/*
 * Take the next descriptor only when it has `kind`: MACH_MSG_SUCCESS and *out owns it.
 * A descriptor of another kind is dropped (released) and gives MACH_RCV_INVALID_TYPE; so
 * does the end of the descriptors; a malformed message gives its error. Then
 * out->kind == MP_DESC_NONE.
 */
MP_NONNULL(1, 3)
mach_msg_return_t mp_msg_parser_expect(mp_msg_parser *p, mp_desc_kind kind, mp_msg_desc *out);

/* Release what a descriptor holds and reset it to MP_DESC_NONE. */
MP_NONNULL(1) void mp_msg_desc_drop(mp_msg_desc *d);

/*
 * Move the right or memory out of a descriptor of the matching kind: *out receives it and
 * *d becomes MP_DESC_NONE. A descriptor of another kind (or one already taken) changes
 * nothing, sets *out to NULL and gives KERN_INVALID_RIGHT (the right kinds) or
 * KERN_INVALID_ARGUMENT (the memory kinds). take_recv takes a plain or a guarded receive
 * right (its guard is recorded in *out).
 */
MP_WUR MP_NONNULL(1, 2) kern_return_t mp_msg_desc_take_send(mp_msg_desc *d, mp_send_right *out);
MP_WUR MP_NONNULL(1, 2) kern_return_t
    mp_msg_desc_take_send_once(mp_msg_desc *d, mp_send_once_right *out);
MP_WUR MP_NONNULL(1, 2) kern_return_t mp_msg_desc_take_recv(mp_msg_desc *d, mp_recv_right *out);
MP_WUR MP_NONNULL(1, 2) kern_return_t mp_msg_desc_take_ool(mp_msg_desc *d, mp_ool_buf *out);
MP_WUR MP_NONNULL(1, 2) kern_return_t
    mp_msg_desc_take_ool_ports(mp_msg_desc *d, mp_ool_ports *out);

/* ---- body and trailer ------------------------------------------------------------------------ */

/*
 * The inline data after the descriptors: *data and *len (a view into the buffer, valid
 * until the buffer is reused). Descriptors not yet taken stay owned by the parser.
 */
MP_NONNULL(1, 2, 3)
mach_msg_return_t mp_msg_parser_body(const mp_msg_parser *p, const void **data, size_t *len);

/*
 * Read a counted byte string (mp_msg_builder_append_data) from the inline data, starting
 * at the 4-byte aligned inline offset *offset (0 for the first one): *data and *len get its
 * exact bytes (a view into the buffer) and *offset moves past it and its padding. A count
 * that runs past the inline data gives MACH_RCV_BODY_ERROR and changes nothing.
 */
MP_NONNULL(1, 2, 3, 4)
mach_msg_return_t mp_msg_parser_read_data(const mp_msg_parser *p, size_t *offset,
                                          const void **data, size_t *len);

typedef struct mp_msg_trailer {
    mach_msg_trailer_size_t size; /* bytes of trailer received (0: none) */
    bool has_seqno, has_sender, has_audit, has_context;
    mach_port_seqno_t seqno;
    security_token_t sender;
    audit_token_t audit;
    mach_port_context_t context;
} mp_msg_trailer;

/* Read the trailer; fields beyond its size are zero and their has_* false. */
MP_NONNULL(1, 2)
mach_msg_return_t mp_msg_parser_trailer(const mp_msg_parser *p, mp_msg_trailer *out);

/* Audit-token accessors (Darwin's layout: auid, euid, egid, ruid, rgid, pid, asid, pidversion). */
static inline uint32_t mp_audit_token_pid(const audit_token_t *t)
{
    return t->val[5];
}
static inline uint32_t mp_audit_token_euid(const audit_token_t *t)
{
    return t->val[1];
}
static inline uint32_t mp_audit_token_egid(const audit_token_t *t)
{
    return t->val[2];
}
static inline uint32_t mp_audit_token_ruid(const audit_token_t *t)
{
    return t->val[3];
}
static inline uint32_t mp_audit_token_rgid(const audit_token_t *t)
{
    return t->val[4];
}
static inline uint32_t mp_audit_token_pidversion(const audit_token_t *t)
{
    return t->val[7];
}

/* ---- notifications -----------------------------------------------------------------------------
 */

typedef struct mp_notification {
    mach_msg_id_t id;            /* MACH_NOTIFY_* */
    mach_port_name_t name;       /* port-deleted, dead-name, send-possible: the name */
    mach_port_mscount_t mscount; /* no-senders */
    mp_send_right dead_name;     /* dead-name: owned, the extra reference the dead name got */
    mp_recv_right recv;          /* port-destroyed: owned, the receive right */
} mp_notification;

/*
 * Read a kernel notification (ids MACH_NOTIFY_FIRST .. LAST) and take what it carries.
 * Only the kernel may send one: the trailer must carry the sender's security token (any
 * trailer of MACH_RCV_TRAILER_SENDER or more, as mp_recv requests by default), else
 * MACH_RCV_INVALID_TRAILER. A message that is not a well-formed kernel notification gives
 * MACH_RCV_INVALID_TYPE. In both cases nothing is taken. Drop out->dead_name and out->recv
 * when done.
 */
MP_NONNULL(1, 2)
mach_msg_return_t mp_msg_parser_notification(mp_msg_parser *p, mp_notification *out);

#ifdef __cplusplus
}
#endif
#endif
