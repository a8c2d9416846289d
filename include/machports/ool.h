/*
 * machports/ool.h — out-of-line memory backed by VM pages.
 *
 * mp_ool_buf is an owned VM region (from vm_allocate, or received in a message): dropping
 * it vm_deallocates its pages. mp_ool_vec is a byte vector with a fixed capacity in an
 * owned VM region: fill it, then turn it into an mp_ool_buf and hand that to a message
 * builder, which moves the pages to the receiver without copying them.
 * mp_ool_ports is an owned array of rights received in an OOL-ports descriptor.
 */
#ifndef MACHPORTS_OOL_H
#define MACHPORTS_OOL_H

#include <machports/defs.h>
#include <machports/rights.h>

#include <mach/mach.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The error an mp_ool_vec operation returns when its capacity is too small. */
#define MP_NOT_ENOUGH_CAPACITY KERN_NO_SPACE

/* With MP_NOT_ENOUGH_CAPACITY: the length the write needed and the capacity there was
 * (as the Rust crate's NotEnoughCapacity carries both). */
typedef struct mp_capacity_error {
    size_t needed;
    size_t capacity;
} mp_capacity_error;

/* An owned VM region of `size` bytes at `data` (NULL when size is 0). */
typedef struct mp_ool_buf {
    void *data;
    size_t size;
} mp_ool_buf;

#define MP_OOL_BUF_NULL ((mp_ool_buf){NULL, 0})

/*
 * Take ownership of a region allocated with vm_allocate (or received out of line).
 * The caller promises [data, data + size) is such a region it owns.
 */
static inline mp_ool_buf mp_ool_buf_from_raw_parts(void *data, size_t size)
{
    return (mp_ool_buf){size ? data : NULL, data ? size : 0};
}

/* Give up ownership: *data / *size receive the region, *b is reset. */
MP_NONNULL(1, 2, 3) void mp_ool_buf_into_raw_parts(mp_ool_buf *b, void **data, size_t *size);

/* vm_deallocate the region (page-rounded) and reset *b. NULL/empty: no-op. */
MP_NONNULL(1) void mp_ool_buf_drop(mp_ool_buf *b);

/* A vector of bytes: len used bytes out of cap, in an owned VM region. */
typedef struct mp_ool_vec {
    uint8_t *data;
    size_t len;
    size_t cap;
} mp_ool_vec;

#define MP_OOL_VEC_NULL ((mp_ool_vec){NULL, 0, 0})

/* Allocate a vector with `cap` bytes of capacity (whole pages are mapped; cap 0: none). */
MP_WUR MP_NONNULL(2) kern_return_t mp_ool_vec_with_capacity(size_t cap, mp_ool_vec *out);

/*
 * Build a vector of capacity max(cap, n) holding a copy of src[0 .. n). With a cap
 * smaller than n it fails with MP_NOT_ENOUGH_CAPACITY unless cap is 0 (0 = exactly n).
 */
MP_WUR MP_NONNULL(4) kern_return_t
    mp_ool_vec_from_bytes(const void *src, size_t n, size_t cap, mp_ool_vec *out);

/*
 * MP_OOL_VEC(&v, 1, 2, 3)           — v holds {1, 2, 3}, capacity 3
 * MP_OOL_VEC_CAP(&v, 1024, 1, 2, 3) — v holds {1, 2, 3}, capacity 1024
 * Both evaluate to the kern_return_t of mp_ool_vec_from_bytes.
 */
#define MP_OOL_VEC(out, ...)                                                                       \
    mp_ool_vec_from_bytes((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}),  \
                          0, (out))
#define MP_OOL_VEC_CAP(out, cap, ...)                                                              \
    mp_ool_vec_from_bytes((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}),  \
                          (cap), (out))

/*
 * Take ownership of a VM region of `cap` bytes whose first `len` bytes are initialised.
 * len > cap gives KERN_INVALID_ARGUMENT and *out stays NULL (the region is not taken).
 */
MP_WUR MP_NONNULL(4) kern_return_t
    mp_ool_vec_from_raw_parts(void *data, size_t len, size_t cap, mp_ool_vec *out);

/* Append one byte / n bytes. Short capacity: MP_NOT_ENOUGH_CAPACITY, nothing written;
 * then *err (may be NULL) receives the length needed (len + n) and the capacity. */
MP_WUR MP_NONNULL(1) kern_return_t mp_ool_vec_push(mp_ool_vec *v, uint8_t byte);
MP_WUR MP_NONNULL(1) kern_return_t
    mp_ool_vec_extend(mp_ool_vec *v, const void *src, size_t n, mp_capacity_error *err);

/* Resize to new_len, filling new bytes with `fill`. Beyond cap: MP_NOT_ENOUGH_CAPACITY,
 * nothing changed, and *err (may be NULL) receives new_len and the capacity. */
MP_WUR MP_NONNULL(1) kern_return_t
    mp_ool_vec_resize(mp_ool_vec *v, size_t new_len, uint8_t fill, mp_capacity_error *err);

/* Remove the last byte into *out: false when empty. */
MP_NONNULL(1, 2) bool mp_ool_vec_pop(mp_ool_vec *v, uint8_t *out);

/* Shorten to new_len (no-op when already shorter); the capacity is kept. */
MP_NONNULL(1) void mp_ool_vec_truncate(mp_ool_vec *v, size_t new_len);

/* Return the whole pages past len to the system; cap becomes len. */
MP_NONNULL(1) void mp_ool_vec_shrink_to_fit(mp_ool_vec *v);

/* Shrink to fit and move the region into an mp_ool_buf of len bytes; *v is reset. */
MP_NONNULL(1) mp_ool_buf mp_ool_vec_into_buf(mp_ool_vec *v);

/* Move a buffer into a vector (len = cap = size); *b is reset. */
MP_NONNULL(1) mp_ool_vec mp_ool_buf_into_vec(mp_ool_buf *b);

/* Release the region and reset *v. */
MP_NONNULL(1) void mp_ool_vec_drop(mp_ool_vec *v);

/* ---- OOL ports ------------------------------------------------------------------------ */

/*
 * An owned array of `count` rights received in an OOL-ports descriptor, all of one
 * disposition (MACH_MSG_TYPE_PORT_SEND, _PORT_SEND_ONCE or _PORT_RECEIVE). Entries
 * taken out are set to MACH_PORT_NULL in the array.
 */
typedef struct mp_ool_ports {
    mach_port_name_t *names;
    size_t count;
    mach_msg_type_name_t disposition;
} mp_ool_ports;

#define MP_OOL_PORTS_NULL ((mp_ool_ports){NULL, 0, 0})

/* Take entry i as a right of the array's kind: KERN_SUCCESS, or KERN_INVALID_RIGHT when
 * the array holds another kind, KERN_INVALID_ARGUMENT when i is out of range,
 * KERN_INVALID_NAME when the entry holds no right (taken before, or sent as
 * MACH_PORT_NULL). On failure *out is NULL. */
MP_WUR MP_NONNULL(1, 3) kern_return_t
    mp_ool_ports_take_send(mp_ool_ports *p, size_t i, mp_send_right *out);
MP_WUR MP_NONNULL(1, 3) kern_return_t
    mp_ool_ports_take_send_once(mp_ool_ports *p, size_t i, mp_send_once_right *out);
MP_WUR MP_NONNULL(1, 3) kern_return_t
    mp_ool_ports_take_recv(mp_ool_ports *p, size_t i, mp_recv_right *out);

/* Release every right not taken, then the array itself; *p is reset. */
MP_NONNULL(1) void mp_ool_ports_drop(mp_ool_ports *p);

#ifdef __cplusplus
}
#endif
#endif
