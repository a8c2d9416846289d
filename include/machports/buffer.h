/*
 * machports/buffer.h — a reusable, growable buffer for one Mach message.
 *
 * The same buffer is used to build a message (mp_msg_builder), send it, and receive the
 * next one (mp_recv) which is then read with an mp_msg_parser. Its memory is malloc'd
 * and 8-byte aligned; its capacity is the number of bytes the kernel may write on a
 * receive (message plus trailer), always passed to the kernel as it is.
 *
 * One message at a time: a receive, a new builder, a grow or a drop reuses the bytes and
 * changes the buffer's generation. A parser still open over the previous message notices
 * (it gives MACH_RCV_INVALID_DATA and its drop touches nothing): drop the parser before
 * reusing its buffer, or the rights it still held are lost.
 */
#ifndef MACHPORTS_BUFFER_H
#define MACHPORTS_BUFFER_H

#include <machports/defs.h>

#include <mach/mach.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_msg_buffer {
    mach_msg_header_t *msg;   /* the message (private: use the builder / parser) */
    mach_msg_size_t capacity; /* bytes allocated at msg */
    mach_msg_size_t len;      /* bytes of the message being built */
    uint32_t generation;      /* changes whenever the bytes are reused, moved or freed */
} mp_msg_buffer;

#define MP_MSG_BUFFER_NULL ((mp_msg_buffer){NULL, 0, 0, 0})

/* The smallest capacity a buffer gets: a header plus the largest trailer. */
#define MP_MSG_BUFFER_MIN ((mach_msg_size_t)(sizeof(mach_msg_header_t) + MAX_TRAILER_SIZE))

/*
 * Initialise *buf with room for `capacity` bytes (raised to MP_MSG_BUFFER_MIN).
 * Fails with KERN_RESOURCE_SHORTAGE (buf left NULL) when memory is short.
 */
MP_WUR MP_NONNULL(1) kern_return_t mp_msg_buffer_init(mp_msg_buffer *buf, size_t capacity);

/* Grow to at least `capacity` bytes, keeping the contents. KERN_RESOURCE_SHORTAGE on failure
 * (the buffer is unchanged), KERN_INVALID_VALUE beyond 4 GiB. */
MP_WUR MP_NONNULL(1) kern_return_t mp_msg_buffer_reserve(mp_msg_buffer *buf, size_t capacity);

/* Free the memory. The buffer must hold no message still owning rights (drop the
 * builder or parser first). NULL buffers are a no-op. */
MP_NONNULL(1) void mp_msg_buffer_drop(mp_msg_buffer *buf);

/* The raw bytes (for tests and tools): msg and capacity. */
static inline void *mp_msg_buffer_bytes(const mp_msg_buffer *buf)
{
    return buf->msg;
}
static inline size_t mp_msg_buffer_capacity(const mp_msg_buffer *buf)
{
    return buf->capacity;
}

#ifdef __cplusplus
}
#endif
#endif
