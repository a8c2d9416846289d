/*
 * builder.c — building a message in an mp_msg_buffer.
 *
 * Layout while building: header | [descriptor count | descriptors] | inline data.
 * The count and the COMPLEX bit appear with the first descriptor; a descriptor is
 * inserted before the inline data, which moves up. The message itself records what the
 * builder owns (MOVE_* dispositions, OOL regions with deallocate set), so dropping it is a
 * walk over the message (mp__msg_release_unsent in parser.c).
 */
#include "mp_internal.h"
#include "mp_msg_internal.h"

#include <stdlib.h>

static uint8_t *bytes(const mp_msg_builder *b)
{
    return (uint8_t *)b->buf->msg;
}

kern_return_t mp_msg_builder_init(mp_msg_builder *b, mp_msg_buffer *buf)
{
    mp__buffer_reuse(buf);
    b->buf = buf;
    b->inline_off = MP__HEADER_SIZE;
    b->ndesc = 0;
    b->error = KERN_SUCCESS;
    kern_return_t kr = mp_msg_buffer_reserve(buf, MP_MSG_BUFFER_MIN);
    if (kr != KERN_SUCCESS) {
        b->error = kr;
        buf->len = 0;
        return kr;
    }
    memset(buf->msg, 0, sizeof(mach_msg_header_t));
    buf->len = MP__HEADER_SIZE;
    buf->msg->msgh_size = MP__HEADER_SIZE;
    return KERN_SUCCESS;
}

void mp_msg_builder_drop(mp_msg_builder *b)
{
    if (b->buf && b->buf->msg && b->buf->len >= MP__HEADER_SIZE) {
        b->buf->msg->msgh_remote_port = MACH_PORT_NULL;
        b->buf->msg->msgh_bits &= ~(mach_msg_bits_t)MACH_MSGH_BITS_REMOTE_MASK;
        mp__msg_release(bytes(b), b->buf->len, MP__OWN_LOCAL | MP__SEND_FORM);
    }
    if (b->buf)
        (void)mp_msg_builder_init(b, b->buf);
}

void mp_msg_builder_set_id(mp_msg_builder *b, mach_msg_id_t id)
{
    if (b->buf && b->buf->msg)
        b->buf->msg->msgh_id = id;
}

const void *mp_msg_builder_bytes(const mp_msg_builder *b, size_t *size)
{
    if (size)
        *size = b->buf ? b->buf->len : 0;
    return b->buf ? b->buf->msg : NULL;
}

size_t mp_msg_builder_inline_size(const mp_msg_builder *b)
{
    if (!b->buf || b->buf->len < b->inline_off)
        return 0;
    return b->buf->len - b->inline_off;
}

/* Make room for n more bytes; records the error. */
static kern_return_t grow(mp_msg_builder *b, size_t n)
{
    size_t need = (size_t)b->buf->len + n;
    if (n > UINT32_MAX || need > (size_t)UINT32_MAX - MAX_TRAILER_SIZE - 8)
        return b->error = KERN_INVALID_VALUE;
    if (need <= b->buf->capacity)
        return KERN_SUCCESS;
    size_t cap = (size_t)b->buf->capacity + b->buf->capacity / 2;
    if (cap < need)
        cap = need;
    if (cap > (size_t)UINT32_MAX - 16)
        cap = need;
    kern_return_t kr = mp_msg_buffer_reserve(b->buf, cap);
    if (kr != KERN_SUCCESS)
        b->error = kr;
    return kr;
}

/* Insert n bytes at offset `at` of the message. */
static kern_return_t insert_at(mp_msg_builder *b, mach_msg_size_t at, const void *data, size_t n)
{
    kern_return_t kr = grow(b, n);
    if (kr != KERN_SUCCESS)
        return kr;
    uint8_t *m = bytes(b);
    memmove(m + at + n, m + at, b->buf->len - at);
    if (n)
        memcpy(m + at, data, n);
    b->buf->len += (mach_msg_size_t)n;
    b->buf->msg->msgh_size = b->buf->len;
    return KERN_SUCCESS;
}

static kern_return_t add_desc(mp_msg_builder *b, const uint8_t *desc, uint32_t size)
{
    if (b->error)
        return b->error;
    if (b->ndesc == 0) {
        uint32_t zero = 0;
        kern_return_t kr = insert_at(b, MP__HEADER_SIZE, &zero, sizeof zero);
        if (kr != KERN_SUCCESS)
            return kr;
        b->inline_off += MP__BODY_SIZE;
        b->buf->msg->msgh_bits |= MACH_MSGH_BITS_COMPLEX;
    }
    kern_return_t kr = insert_at(b, b->inline_off, desc, size);
    if (kr != KERN_SUCCESS) {
        if (b->ndesc == 0) {
            /* Take the empty count back out so the message stays well-formed. */
            uint8_t *m = bytes(b);
            memmove(m + MP__HEADER_SIZE, m + MP__HEADER_SIZE + MP__BODY_SIZE,
                    b->buf->len - MP__HEADER_SIZE - MP__BODY_SIZE);
            b->buf->len -= MP__BODY_SIZE;
            b->buf->msg->msgh_size = b->buf->len;
            b->inline_off -= MP__BODY_SIZE;
            b->buf->msg->msgh_bits &= ~(mach_msg_bits_t)MACH_MSGH_BITS_COMPLEX;
        }
        return kr;
    }
    b->inline_off += size;
    b->ndesc++;
    mp__st32(bytes(b) + MP__HEADER_SIZE, b->ndesc);
    return KERN_SUCCESS;
}

static void port_desc(uint8_t d[12], mach_port_name_t name, mach_msg_type_name_t disp)
{
    memset(d, 0, 12);
    mp__st32(d + MP__D_PORT_NAME, name);
    d[MP__D_PORT_DISP] = (uint8_t)disp;
    d[MP__D_TYPE] = MACH_MSG_PORT_DESCRIPTOR;
}

/* Append a port descriptor that owns `name` per `disp`; released on failure. */
static kern_return_t add_port(mp_msg_builder *b, mach_port_name_t name, mach_msg_type_name_t disp)
{
    uint8_t d[12];
    port_desc(d, name, disp);
    kern_return_t kr = add_desc(b, d, sizeof d);
    if (kr != KERN_SUCCESS)
        mp__release_name(name, disp);
    return kr;
}

/*
 * The five ways a right goes into the message, defined once for the reply field and for a
 * port descriptor so the two cannot disagree: a send or a send-once right made from a
 * borrowed receive right, a send right copied from a borrowed one, a send or a send-once
 * right moved (the caller's value reset to null). `put(b, name, disposition)` owns the name
 * per the disposition from then on, releasing it if it fails.
 */
#define MP__FIVE_WAYS_IN(made, made_once, copied, moved, moved_once, put)                       \
    kern_return_t made(mp_msg_builder *b, mp_recv_right recv)                                   \
    {                                                                                           \
        return put(b, recv.name, MACH_MSG_TYPE_MAKE_SEND);                                      \
    }                                                                                           \
    kern_return_t made_once(mp_msg_builder *b, mp_recv_right recv)                              \
    {                                                                                           \
        return put(b, recv.name, MACH_MSG_TYPE_MAKE_SEND_ONCE);                                 \
    }                                                                                           \
    kern_return_t copied(mp_msg_builder *b, mp_send_right r)                                    \
    {                                                                                           \
        return put(b, r.name, MACH_MSG_TYPE_COPY_SEND);                                         \
    }                                                                                           \
    kern_return_t moved(mp_msg_builder *b, mp_send_right *r)                                    \
    {                                                                                           \
        return put(b, mp_send_right_into_name(r), MACH_MSG_TYPE_MOVE_SEND);                     \
    }                                                                                           \
    kern_return_t moved_once(mp_msg_builder *b, mp_send_once_right *r)                          \
    {                                                                                           \
        return put(b, mp_send_once_right_into_name(r), MACH_MSG_TYPE_MOVE_SEND_ONCE);           \
    }

static bool builder_ok(const mp_msg_builder *b)
{
    return b->buf && b->buf->msg && b->error == KERN_SUCCESS;
}

/* ---- reply and voucher --------------------------------------------------------------------- */

static void release_reply(mp_msg_builder *b)
{
    mach_msg_header_t *h = b->buf->msg;
    mach_msg_type_name_t lb = MACH_MSGH_BITS_LOCAL(h->msgh_bits);
    mp__release_name(h->msgh_local_port, lb);
    h->msgh_local_port = MACH_PORT_NULL;
    h->msgh_bits &= ~(mach_msg_bits_t)MACH_MSGH_BITS_LOCAL_MASK;
}

static kern_return_t set_reply(mp_msg_builder *b, mach_port_name_t name, mach_msg_type_name_t disp)
{
    if (!builder_ok(b)) {
        mp__release_name(name, disp);
        return b->error ? b->error : KERN_INVALID_ARGUMENT;
    }
    release_reply(b);
    mach_msg_header_t *h = b->buf->msg;
    h->msgh_local_port = name;
    if (name != MACH_PORT_NULL)
        h->msgh_bits |= (mach_msg_bits_t)(disp << 8) & MACH_MSGH_BITS_LOCAL_MASK;
    return KERN_SUCCESS;
}

MP__FIVE_WAYS_IN(mp_msg_builder_set_made_reply, mp_msg_builder_set_made_reply_once,
                 mp_msg_builder_set_copied_reply, mp_msg_builder_set_moved_reply,
                 mp_msg_builder_set_moved_reply_once, set_reply)

kern_return_t mp_msg_builder_set_moved_reply_any(mp_msg_builder *b, mp_any_send_right *r)
{
    mp_any_send_right v = *r;
    *r = MP_ANY_SEND_RIGHT_NULL;
    if (v.kind == MP_ANY_SEND_NONE)
        return set_reply(b, MACH_PORT_NULL, 0);
    return set_reply(b, v.name,
                     v.kind == MP_ANY_SEND_ONCE ? MACH_MSG_TYPE_MOVE_SEND_ONCE
                                                : MACH_MSG_TYPE_MOVE_SEND);
}

static kern_return_t set_voucher(mp_msg_builder *b, mach_port_name_t name,
                                 mach_msg_type_name_t disp)
{
    if (!builder_ok(b)) {
        mp__release_name(name, disp);
        return b->error ? b->error : KERN_INVALID_ARGUMENT;
    }
    mach_msg_header_t *h = b->buf->msg;
    mp__release_name(h->msgh_voucher_port, MACH_MSGH_BITS_VOUCHER(h->msgh_bits));
    h->msgh_voucher_port = name;
    h->msgh_bits &= ~(mach_msg_bits_t)MACH_MSGH_BITS_VOUCHER_MASK;
    if (name != MACH_PORT_NULL)
        h->msgh_bits |= (mach_msg_bits_t)(disp << 16) & MACH_MSGH_BITS_VOUCHER_MASK;
    return KERN_SUCCESS;
}

kern_return_t mp_msg_builder_set_copied_voucher(mp_msg_builder *b, mp_send_right r)
{
    return set_voucher(b, r.name, MACH_MSG_TYPE_COPY_SEND);
}

kern_return_t mp_msg_builder_set_moved_voucher(mp_msg_builder *b, mp_send_right *r)
{
    return set_voucher(b, mp_send_right_into_name(r), MACH_MSG_TYPE_MOVE_SEND);
}

/* ---- inline data -------------------------------------------------------------------------------
 */

kern_return_t mp_msg_builder_append_inline(mp_msg_builder *b, const void *data, size_t n)
{
    if (!builder_ok(b))
        return b->error ? b->error : KERN_INVALID_ARGUMENT;
    if (n && !data)
        return b->error = KERN_INVALID_ARGUMENT;
    return insert_at(b, b->buf->len, data, n);
}

kern_return_t mp_msg_builder_append_data(mp_msg_builder *b, const void *data, size_t n)
{
    static const uint8_t zeros[4];
    if (!builder_ok(b))
        return b->error ? b->error : KERN_INVALID_ARGUMENT;
    if (n && !data)
        return b->error = KERN_INVALID_ARGUMENT;
    if (n > UINT32_MAX - 4)
        return b->error = KERN_INVALID_VALUE;
    /* The count starts on a 4-byte boundary, as the receiver's reader expects. */
    size_t pad_before = (4u - (mp_msg_builder_inline_size(b) & 3u)) & 3u;
    uint32_t count = (uint32_t)n;
    size_t pad_after = (4u - (n & 3u)) & 3u;
    kern_return_t kr = grow(b, pad_before + sizeof count + n + pad_after);
    if (kr != KERN_SUCCESS)
        return kr;
    (void)insert_at(b, b->buf->len, zeros, pad_before);
    (void)insert_at(b, b->buf->len, &count, sizeof count);
    (void)insert_at(b, b->buf->len, data, n);
    return insert_at(b, b->buf->len, zeros, pad_after);
}

kern_return_t mp_msg_builder_insert_inline(mp_msg_builder *b, size_t at, const void *data, size_t n)
{
    if (!builder_ok(b))
        return b->error ? b->error : KERN_INVALID_ARGUMENT;
    if (at > mp_msg_builder_inline_size(b) || (n && !data))
        return b->error = KERN_INVALID_ARGUMENT;
    return insert_at(b, b->inline_off + (mach_msg_size_t)at, data, n);
}

/* ---- port descriptors
 * ---------------------------------------------------------------------------- */

MP__FIVE_WAYS_IN(mp_msg_builder_append_made_send, mp_msg_builder_append_made_send_once,
                 mp_msg_builder_append_copied_send, mp_msg_builder_append_moved_send,
                 mp_msg_builder_append_moved_send_once, add_port)

/*
 * Receive rights are refused before anything is taken: a failed append (a poisoned
 * builder, an immovable right, no memory, a guard that does not match) leaves the right
 * with the caller, guarded as it was, and records the error in the builder. A programming
 * error must not destroy a service port.
 */

/* Make room for one descriptor of `size` bytes (and the count, for the first one), so that
 * the add_desc that follows cannot fail. */
static kern_return_t reserve_desc(mp_msg_builder *b, uint32_t size)
{
    return grow(b, (size_t)size + (b->ndesc == 0 ? MP__BODY_SIZE : 0));
}

/* Check a receive right that is to be moved: not immovable. */
static kern_return_t recv_check(mp_msg_builder *b, const mp_recv_right *r)
{
    if (!builder_ok(b))
        return b->error ? b->error : KERN_INVALID_ARGUMENT;
    if (r->immovable)
        return b->error = KERN_INVALID_RIGHT;
    return KERN_SUCCESS;
}

kern_return_t mp_msg_builder_append_moved_recv(mp_msg_builder *b, mp_recv_right *r)
{
    kern_return_t kr = recv_check(b, r);
    if (kr == KERN_SUCCESS)
        kr = reserve_desc(b, MP__PORT_DESC_SIZE);
    /* A plain descriptor cannot carry the guard: unguard it (a guarded right could not be
     * destroyed without its guard if the message is dropped). */
    if (kr == KERN_SUCCESS && r->guarded && (kr = mp_recv_right_unguard(r)) != KERN_SUCCESS)
        b->error = kr;
    if (kr != KERN_SUCCESS)
        return kr;
    return add_port(b, mp_recv_right_into_name(r), MACH_MSG_TYPE_MOVE_RECEIVE);
}

kern_return_t mp_msg_builder_append_guarded_recv(mp_msg_builder *b, mp_recv_right *r,
                                                 bool immovable)
{
    uint8_t d[16];
    kern_return_t kr = recv_check(b, r);
    if (kr == KERN_SUCCESS)
        kr = reserve_desc(b, sizeof d);
    if (kr != KERN_SUCCESS)
        return kr;

    mp_recv_right v = *r;
    *r = MP_RECV_RIGHT_NULL;
    memset(d, 0, sizeof d);
    uint16_t flags;
    if (v.guarded) {
        mp__st64(d + MP__D_GP_CONTEXT, v.guard);
        flags = MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE;
    } else {
        flags = MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND |
                (immovable ? MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE : 0);
    }
    memcpy(d + MP__D_GP_FLAGS, &flags, sizeof flags);
    d[MP__D_GP_DISP] = MACH_MSG_TYPE_MOVE_RECEIVE;
    d[MP__D_TYPE] = MACH_MSG_GUARDED_PORT_DESCRIPTOR;
    mp__st32(d + MP__D_GP_NAME, v.name);
    return add_desc(b, d, sizeof d);
}

/* ---- OOL memory
 * ---------------------------------------------------------------------------------- */

static void ool_desc(uint8_t d[16], uint64_t addr, uint32_t size, bool dealloc, mp_copy_kind copy)
{
    memset(d, 0, 16);
    mp__st64(d + MP__D_OOL_ADDR, addr);
    d[MP__D_OOL_DEALLOC] = dealloc ? 1 : 0;
    d[MP__D_OOL_COPY] = (uint8_t)copy;
    d[MP__D_TYPE] = MACH_MSG_OOL_DESCRIPTOR;
    mp__st32(d + MP__D_OOL_SIZE, size);
}

static bool copy_ok(mp_copy_kind copy)
{
    return copy == MP_COPY_PHYSICAL || copy == MP_COPY_VIRTUAL;
}

kern_return_t mp_msg_builder_append_ool(mp_msg_builder *b, const void *data, size_t n,
                                        mp_copy_kind copy)
{
    uint8_t d[16];
    if (!builder_ok(b))
        return b->error ? b->error : KERN_INVALID_ARGUMENT;
    if (!copy_ok(copy) || (n && !data))
        return b->error = KERN_INVALID_ARGUMENT;
    if (n > UINT32_MAX)
        return b->error = KERN_INVALID_VALUE;
    ool_desc(d, n ? (uint64_t)(uintptr_t)data : 0, (uint32_t)n, false, copy);
    return add_desc(b, d, sizeof d);
}

kern_return_t mp_msg_builder_append_ool_buf(mp_msg_builder *b, mp_ool_buf *buf, mp_copy_kind copy)
{
    uint8_t d[16];
    mp_ool_buf v = *buf;
    *buf = MP_OOL_BUF_NULL;
    kern_return_t kr;

    if (!builder_ok(b))
        kr = b->error ? b->error : KERN_INVALID_ARGUMENT;
    else if (!copy_ok(copy))
        kr = b->error = KERN_INVALID_ARGUMENT;
    else if (v.size > UINT32_MAX)
        kr = b->error = KERN_INVALID_VALUE;
    else {
        ool_desc(d, v.size ? (uint64_t)(uintptr_t)v.data : 0, (uint32_t)v.size, v.size != 0, copy);
        kr = add_desc(b, d, sizeof d);
        if (kr == KERN_SUCCESS)
            return kr;
    }
    mp_ool_buf_drop(&v);
    return kr;
}

/* ---- OOL ports
 * ------------------------------------------------------------------------------------ */

/*
 * Append an OOL-ports descriptor carrying names[0 .. count) with one disposition. The
 * array is copied into a fresh VM region the message owns (deallocate = TRUE: the kernel
 * frees it on send). On failure every name is released per `disp`.
 */
static kern_return_t add_ports(mp_msg_builder *b, const mach_port_name_t *names, size_t count,
                               mach_msg_type_name_t disp)
{
    uint8_t d[16];
    vm_address_t arr = 0;
    kern_return_t kr = KERN_SUCCESS;

    if (!builder_ok(b))
        kr = b->error ? b->error : KERN_INVALID_ARGUMENT;
    else if (count > UINT32_MAX / sizeof(mach_port_name_t) || (count && !names))
        kr = b->error = (count && !names) ? KERN_INVALID_ARGUMENT : KERN_INVALID_VALUE;
    else if (count) {
        kr = vm_allocate(mp__task(), &arr, count * sizeof(mach_port_name_t), VM_FLAGS_ANYWHERE);
        if (kr != KERN_SUCCESS)
            b->error = kr;
    }
    if (kr != KERN_SUCCESS) {
        for (size_t i = 0; names && i < count; i++)
            mp__release_name(names[i], disp);
        return kr;
    }
    if (count)
        memcpy((void *)arr, names, count * sizeof(mach_port_name_t));
    memset(d, 0, sizeof d);
    mp__st64(d + MP__D_OOL_ADDR, (uint64_t)arr);
    d[MP__D_OOL_DEALLOC] = count ? 1 : 0;
    d[MP__D_OOL_COPY] = MACH_MSG_PHYSICAL_COPY;
    d[MP__D_OOLP_DISP] = (uint8_t)disp;
    d[MP__D_TYPE] = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    mp__st32(d + MP__D_OOL_SIZE, (uint32_t)count);
    kr = add_desc(b, d, sizeof d);
    if (kr != KERN_SUCCESS) {
        for (size_t i = 0; i < count; i++)
            mp__release_name(names[i], disp);
        mp__vm_release(arr, count * sizeof(mach_port_name_t));
    }
    return kr;
}

/* Gather up to a small stack array, else the heap. */
#define MP__STACK_NAMES 32

/*
 * Append an OOL-ports descriptor of `count` borrowed names, the first at `first` and each
 * `stride` bytes after the one before (the name field of an array of rights).
 */
static kern_return_t add_borrowed_ports(mp_msg_builder *b, const mach_port_name_t *first,
                                        size_t stride, size_t count, mach_msg_type_name_t disp)
{
    mach_port_name_t stack[MP__STACK_NAMES] = {0};
    mach_port_name_t *names = stack;
    if (count > MP__STACK_NAMES) {
        names = count < SIZE_MAX / sizeof *names ? malloc(count * sizeof *names) : NULL;
        if (!names)
            return b->error ? b->error : (b->error = KERN_RESOURCE_SHORTAGE);
    }
    for (size_t i = 0; first && i < count; i++)
        names[i] = *(const mach_port_name_t *)((const uint8_t *)first + i * stride);
    /* No array but a count: add_ports refuses it. */
    kern_return_t kr = add_ports(b, first ? names : NULL, count, disp);
    if (names != stack)
        free(names);
    return kr;
}

kern_return_t mp_msg_builder_append_ool_copied_sends(mp_msg_builder *b, const mp_send_right *rights,
                                                     size_t count)
{
    return add_borrowed_ports(b, rights ? &rights[0].name : NULL, sizeof *rights, count,
                              MACH_MSG_TYPE_COPY_SEND);
}

kern_return_t mp_msg_builder_append_ool_made_sends(mp_msg_builder *b, const mp_recv_right *rights,
                                                   size_t count)
{
    return add_borrowed_ports(b, rights ? &rights[0].name : NULL, sizeof *rights, count,
                              MACH_MSG_TYPE_MAKE_SEND);
}

/* Take the names of a moved array: each entry of the caller's array is reset. A heap
 * shortage releases them all. */
static mach_port_name_t *take_names(mp_msg_builder *b, mach_port_name_t *stack, size_t count,
                                    const mach_port_name_t *src, size_t stride,
                                    mach_msg_type_name_t disp)
{
    mach_port_name_t *names = stack;
    if (count > MP__STACK_NAMES)
        names = count < SIZE_MAX / sizeof *names ? malloc(count * sizeof *names) : NULL;
    for (size_t i = 0; i < count; i++) {
        mach_port_name_t *slot = (mach_port_name_t *)((uint8_t *)(uintptr_t)src + i * stride);
        mach_port_name_t n = *slot;
        *slot = MACH_PORT_NULL;
        if (names)
            names[i] = n;
        else
            mp__release_name(n, disp);
    }
    if (!names && !b->error)
        b->error = KERN_RESOURCE_SHORTAGE;
    return names;
}

kern_return_t mp_msg_builder_append_ool_moved_sends(mp_msg_builder *b, mp_send_right *rights,
                                                    size_t count)
{
    mach_port_name_t stack[MP__STACK_NAMES] = {0};
    mach_port_name_t *names = take_names(b, stack, count, rights ? &rights[0].name : NULL,
                                         sizeof *rights, MACH_MSG_TYPE_MOVE_SEND);
    if (!names)
        return b->error;
    kern_return_t kr = add_ports(b, names, count, MACH_MSG_TYPE_MOVE_SEND);
    if (names != stack)
        free(names);
    return kr;
}

kern_return_t mp_msg_builder_append_ool_moved_send_onces(mp_msg_builder *b,
                                                         mp_send_once_right *rights, size_t count)
{
    mach_port_name_t stack[MP__STACK_NAMES] = {0};
    mach_port_name_t *names = take_names(b, stack, count, rights ? &rights[0].name : NULL,
                                         sizeof *rights, MACH_MSG_TYPE_MOVE_SEND_ONCE);
    if (!names)
        return b->error;
    kern_return_t kr = add_ports(b, names, count, MACH_MSG_TYPE_MOVE_SEND_ONCE);
    if (names != stack)
        free(names);
    return kr;
}

kern_return_t mp_msg_builder_append_ool_moved_recvs(mp_msg_builder *b, mp_recv_right *rights,
                                                    size_t count)
{
    uint8_t d[16];
    vm_address_t arr = 0;
    size_t unguarded = 0;
    kern_return_t kr = KERN_SUCCESS;

    /* Everything that can fail happens before any right is taken. */
    if (!builder_ok(b))
        return b->error ? b->error : KERN_INVALID_ARGUMENT;
    if (count && !rights)
        return b->error = KERN_INVALID_ARGUMENT;
    if (count > UINT32_MAX / sizeof(mach_port_name_t))
        return b->error = KERN_INVALID_VALUE;
    for (size_t i = 0; i < count; i++)
        if (rights[i].immovable)
            return b->error = KERN_INVALID_RIGHT;
    if ((kr = reserve_desc(b, sizeof d)) != KERN_SUCCESS)
        return kr;
    if (count) {
        kr = vm_allocate(mp__task(), &arr, count * sizeof(mach_port_name_t), VM_FLAGS_ANYWHERE);
        if (kr != KERN_SUCCESS)
            return b->error = kr;
    }
    /* Unguard every guarded entry (a plain array cannot carry guards); when one fails, the
     * ones already unguarded get their guard back and nothing is taken. */
    mp_recv_right *saved = count ? malloc(count * sizeof *saved) : NULL;
    if (count && !saved) {
        mp__vm_release(arr, count * sizeof(mach_port_name_t));
        return b->error = KERN_RESOURCE_SHORTAGE;
    }
    if (count)
        memcpy(saved, rights, count * sizeof *saved);
    for (; unguarded < count; unguarded++) {
        if (rights[unguarded].guarded &&
            (kr = mp_recv_right_unguard(&rights[unguarded])) != KERN_SUCCESS)
            break;
    }
    if (kr != KERN_SUCCESS) {
        for (size_t i = 0; i < unguarded; i++) {
            if (saved[i].guarded && mach_port_guard(mp__task(), saved[i].name, saved[i].guard,
                                                    saved[i].guarded == 2) == KERN_SUCCESS)
                rights[i] = saved[i];
        }
        free(saved);
        mp__vm_release(arr, count * sizeof(mach_port_name_t));
        return b->error = kr;
    }
    free(saved);

    mach_port_name_t *names = (mach_port_name_t *)arr;
    for (size_t i = 0; i < count; i++)
        names[i] = mp_recv_right_into_name(&rights[i]);
    memset(d, 0, sizeof d);
    mp__st64(d + MP__D_OOL_ADDR, (uint64_t)arr);
    d[MP__D_OOL_DEALLOC] = count ? 1 : 0;
    d[MP__D_OOL_COPY] = MACH_MSG_PHYSICAL_COPY;
    d[MP__D_OOLP_DISP] = MACH_MSG_TYPE_MOVE_RECEIVE;
    d[MP__D_TYPE] = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    mp__st32(d + MP__D_OOL_SIZE, (uint32_t)count);
    return add_desc(b, d, sizeof d);
}
