/*
 * buffer.c — the reusable message buffer.
 */
#include "mp_internal.h"

#include <stdlib.h>

kern_return_t mp_msg_buffer_init(mp_msg_buffer *buf, size_t capacity)
{
    *buf = MP_MSG_BUFFER_NULL;
    return mp_msg_buffer_reserve(buf, capacity);
}

kern_return_t mp_msg_buffer_reserve(mp_msg_buffer *buf, size_t capacity)
{
    if (capacity < MP_MSG_BUFFER_MIN)
        capacity = MP_MSG_BUFFER_MIN;
    /* Keep 4-byte multiples and stay far from the 32-bit size limit. */
    if (capacity > (size_t)UINT32_MAX - 8)
        return KERN_INVALID_VALUE;
    capacity = (capacity + 7u) & ~(size_t)7u;
    if (buf->msg && capacity <= buf->capacity)
        return KERN_SUCCESS;

    void *p = realloc(buf->msg, capacity);
    if (!p)
        return KERN_RESOURCE_SHORTAGE;
    buf->generation++;
    /* The kernel and the builder read only what was written, but a clean tail keeps tools
     * such as valgrind quiet when a whole buffer is inspected. */
    memset((uint8_t *)p + buf->capacity, 0, capacity - buf->capacity);
    if (!buf->msg)
        memset(p, 0, sizeof(mach_msg_header_t));
    buf->msg = p;
    buf->capacity = (mach_msg_size_t)capacity;
    return KERN_SUCCESS;
}

void mp_msg_buffer_drop(mp_msg_buffer *buf)
{
    uint32_t gen = buf->generation;
    free(buf->msg);
    *buf = MP_MSG_BUFFER_NULL;
    buf->generation = gen + 1;
}
