/*
 * machports/builder.h — build a Mach message in an mp_msg_buffer.
 *
 * A builder writes header, descriptors and inline data into its buffer. Functions with
 * `moved` or `consumed` in their name take the right or memory passed by pointer (the
 * caller's value is reset, on failure too — except receive rights, below); `made` and
 * `copied` borrow. From then on the builder owns what it took until:
 *   - mp_send*() sends the message: the kernel takes everything (success), or the library
 *     releases what the kernel did not take (failure, including the rights a timed-out
 *     send hands back) — nothing leaks and nothing is released twice; or
 *   - mp_msg_builder_drop() releases it all.
 * A failed append (memory shortage, a size over 4 GiB: KERN_INVALID_VALUE, a right the
 * kernel would refuse: KERN_INVALID_RIGHT, a bad argument: KERN_INVALID_ARGUMENT) is
 * remembered: later appends fail the same way and the send reports the first error,
 * translated into the send domain, without sending (see msg.h). A failed append releases
 * the send rights and memory it was given, but never a receive right: an append of a
 * receive right (moved, guarded or in an OOL-ports array) checks everything before taking
 * it, and on failure the right stays the caller's, guarded as it was — a programming
 * error must not destroy a service port.
 * Every append returns a kern_return_t.
 * A builder borrows its buffer: do not use the buffer for anything else meanwhile.
 */
#ifndef MACHPORTS_BUILDER_H
#define MACHPORTS_BUILDER_H

#include <machports/buffer.h>
#include <machports/defs.h>
#include <machports/ool.h>
#include <machports/rights.h>

#include <mach/mach.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_msg_builder {
    mp_msg_buffer *buf;
    mach_msg_size_t inline_off; /* where inline data starts (after the descriptors) */
    mach_msg_size_t ndesc;
    kern_return_t error; /* first failure, sticky */
} mp_msg_builder;

/* How OOL memory crosses: a virtual (copy-on-write) or a physical copy. */
typedef enum mp_copy_kind {
    MP_COPY_PHYSICAL = MACH_MSG_PHYSICAL_COPY,
    MP_COPY_VIRTUAL = MACH_MSG_VIRTUAL_COPY
} mp_copy_kind;

/*
 * Start an empty message in *buf (any previous contents are overwritten: drop the
 * previous builder or parser first). Fails only with KERN_RESOURCE_SHORTAGE, which is
 * also kept as the builder's error (so checking here is optional: the send reports it).
 */
MP_NONNULL(1, 2) kern_return_t mp_msg_builder_init(mp_msg_builder *b, mp_msg_buffer *buf);

/* Release every right and OOL region the builder owns and leave an empty message. */
MP_NONNULL(1) void mp_msg_builder_drop(mp_msg_builder *b);

/* The first error of an append, or KERN_SUCCESS. */
static inline kern_return_t mp_msg_builder_error(const mp_msg_builder *b)
{
    return b->error;
}

/* Set msgh_id. */
MP_NONNULL(1) void mp_msg_builder_set_id(mp_msg_builder *b, mach_msg_id_t id);

/* The message bytes built so far (header included) and their size. */
MP_NONNULL(1) const void *mp_msg_builder_bytes(const mp_msg_builder *b, size_t *size);

/* ---- reply port (msgh_local_port) — setting one releases the previous ------------------ */

/* A send right / a send-once right made from a borrowed receive right. */
MP_NONNULL(1) kern_return_t mp_msg_builder_set_made_reply(mp_msg_builder *b, mp_recv_right recv);
MP_NONNULL(1)
kern_return_t mp_msg_builder_set_made_reply_once(mp_msg_builder *b, mp_recv_right recv);
/* A send right copied from a borrowed send right. */
MP_NONNULL(1) kern_return_t mp_msg_builder_set_copied_reply(mp_msg_builder *b, mp_send_right r);
/* Move a send / send-once / either right into the message as its reply port. */
MP_NONNULL(1, 2) kern_return_t mp_msg_builder_set_moved_reply(mp_msg_builder *b, mp_send_right *r);
MP_NONNULL(1, 2)
kern_return_t mp_msg_builder_set_moved_reply_once(mp_msg_builder *b, mp_send_once_right *r);
MP_NONNULL(1, 2)
kern_return_t mp_msg_builder_set_moved_reply_any(mp_msg_builder *b, mp_any_send_right *r);

/* Voucher (msgh_voucher_port): copied from a borrowed send right, or moved. */
MP_NONNULL(1) kern_return_t mp_msg_builder_set_copied_voucher(mp_msg_builder *b, mp_send_right r);
MP_NONNULL(1, 2)
kern_return_t mp_msg_builder_set_moved_voucher(mp_msg_builder *b, mp_send_right *r);

/* ---- inline data ------------------------------------------------------------------------ */

/* Append n bytes of inline data (copied). The total is padded to 4 bytes when sent (the
 * Mach wire format counts message sizes in 4-byte units): the receiver sees the padded
 * length. To give it the exact length, send it (mp_msg_builder_append_data below). */
MP_NONNULL(1)
kern_return_t mp_msg_builder_append_inline(mp_msg_builder *b, const void *data, size_t n);

/*
 * Append a counted byte string: a 4-byte count (n, host order as all Mach fields), the n
 * bytes, then zeros to the next 4-byte boundary — the layout MIG gives a variable-length
 * inline array, so non-machports peers read it as one. The receiver gets the exact n
 * with mp_msg_parser_read_data. n beyond UINT32_MAX: KERN_INVALID_VALUE.
 */
MP_NONNULL(1)
kern_return_t mp_msg_builder_append_data(mp_msg_builder *b, const void *data, size_t n);

/* Insert n bytes at offset `at` of the inline data (at <= inline size, else
 * KERN_INVALID_ARGUMENT). */
MP_NONNULL(1)
kern_return_t mp_msg_builder_insert_inline(mp_msg_builder *b, size_t at, const void *data,
                                           size_t n);

/* Bytes of inline data so far. */
MP_NONNULL(1) size_t mp_msg_builder_inline_size(const mp_msg_builder *b);

/* ---- port descriptors -------------------------------------------------------------------- */

/* The receiver gets a send / a send-once right made from a borrowed receive right. */
MP_NONNULL(1) kern_return_t mp_msg_builder_append_made_send(mp_msg_builder *b, mp_recv_right recv);
MP_NONNULL(1)
kern_return_t mp_msg_builder_append_made_send_once(mp_msg_builder *b, mp_recv_right recv);
/* The receiver gets a send right copied from a borrowed send right. */
MP_NONNULL(1) kern_return_t mp_msg_builder_append_copied_send(mp_msg_builder *b, mp_send_right r);
/* Move a right to the receiver. A guarded receive right is unguarded first (use
 * append_guarded_recv to keep the guard); an immovable one is refused with
 * KERN_INVALID_RIGHT and stays the caller's. */
MP_NONNULL(1, 2)
kern_return_t mp_msg_builder_append_moved_send(mp_msg_builder *b, mp_send_right *r);
MP_NONNULL(1, 2)
kern_return_t mp_msg_builder_append_moved_send_once(mp_msg_builder *b, mp_send_once_right *r);
MP_NONNULL(1, 2)
kern_return_t mp_msg_builder_append_moved_recv(mp_msg_builder *b, mp_recv_right *r);

/*
 * Move a receive right in a guarded-port descriptor: the receiver gets it guarded (by the
 * address of its receive buffer). A guarded right goes with its guard and always arrives
 * immovable; an unguarded one arrives immovable only when `immovable` is set. An
 * immovable right is refused (KERN_INVALID_RIGHT) and stays the caller's.
 */
MP_NONNULL(1, 2)
kern_return_t mp_msg_builder_append_guarded_recv(mp_msg_builder *b, mp_recv_right *r,
                                                 bool immovable);

/* ---- OOL memory --------------------------------------------------------------------------- */

/* Borrowed: the caller keeps [data, data + n) and must keep it readable until the send. */
MP_NONNULL(1)
kern_return_t mp_msg_builder_append_ool(mp_msg_builder *b, const void *data, size_t n,
                                        mp_copy_kind copy);
/* Consumed: the region moves to the receiver (unmapped from the sender by the send, or
 * released by mp_msg_builder_drop). *buf is reset. */
MP_NONNULL(1, 2)
kern_return_t mp_msg_builder_append_ool_buf(mp_msg_builder *b, mp_ool_buf *buf, mp_copy_kind copy);

/* ---- OOL ports arrays ------------------------------------------------------------------------ */

/* Send rights copied from `count` borrowed send rights. */
MP_NONNULL(1)
kern_return_t mp_msg_builder_append_ool_copied_sends(mp_msg_builder *b, const mp_send_right *rights,
                                                     size_t count);
/* Send rights made from `count` borrowed receive rights. */
MP_NONNULL(1)
kern_return_t mp_msg_builder_append_ool_made_sends(mp_msg_builder *b, const mp_recv_right *rights,
                                                   size_t count);
/* Move `count` rights; every entry of the caller's array is reset. Guarded receive rights
 * are unguarded first; an immovable one (or any failure) fails the append of receive
 * rights before any is taken: every entry stays the caller's, guarded as it was. */
MP_NONNULL(1)
kern_return_t mp_msg_builder_append_ool_moved_sends(mp_msg_builder *b, mp_send_right *rights,
                                                    size_t count);
MP_NONNULL(1)
kern_return_t mp_msg_builder_append_ool_moved_send_onces(mp_msg_builder *b,
                                                         mp_send_once_right *rights, size_t count);
MP_NONNULL(1)
kern_return_t mp_msg_builder_append_ool_moved_recvs(mp_msg_builder *b, mp_recv_right *rights,
                                                    size_t count);

#ifdef __cplusplus
}
#endif
#endif
