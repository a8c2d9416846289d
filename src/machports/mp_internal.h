/*
 * mp_internal.h — helpers shared by the machports sources (not installed).
 */
#ifndef MP_INTERNAL_H
#define MP_INTERNAL_H

#include <machports/machports.h>

#include <stdint.h>
#include <string.h>

#define mp__task() mach_task_self()

/* Internal functions stay out of the shared library's exports. */
#if defined(__GNUC__) || defined(__clang__)
#define MP__HIDDEN __attribute__((visibility("hidden")))
#else
#define MP__HIDDEN
#endif

/* The buffer's bytes are about to be reused: parsers over the old message become stale. */
static inline void mp__buffer_reuse(mp_msg_buffer *buf)
{
    buf->generation++;
}

/* The id of the reply to request `id`: MIG's id + 100, wrapping as the 32-bit field does. */
static inline mach_msg_id_t mp__reply_id(mach_msg_id_t id)
{
    return (mach_msg_id_t)((uint32_t)id + 100u);
}

/* Little-endian loads/stores at any alignment (descriptors are 4-byte packed). */
static inline uint32_t mp__ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline uint64_t mp__ld64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void mp__st32(void *p, uint32_t v)
{
    memcpy(p, &v, sizeof v);
}
static inline void mp__st64(void *p, uint64_t v)
{
    memcpy(p, &v, sizeof v);
}

/*
 * Release one right of a received or never-sent message by its disposition:
 * MOVE_SEND / MOVE_SEND_ONCE (and their PORT_* aliases) deallocate, MOVE_RECEIVE
 * destroys the receive right; COPY_SEND / MAKE_* own nothing. NULL and DEAD are no-ops.
 */
MP__HIDDEN void mp__release_name(mach_port_name_t name, mach_msg_type_name_t disposition);

/* Release a receive right destroying it with `guard` when guarded. */
MP__HIDDEN kern_return_t mp__destroy_recv(mach_port_name_t name, int guarded,
                                          mach_port_context_t guard);

/* vm_deallocate a region when size > 0 (address/size as found in a descriptor). */
MP__HIDDEN void mp__vm_release(uint64_t address, uint64_t size);

/* Descriptor sizes in the 64-bit user layout. */
#define MP__PORT_DESC_SIZE 12u
#define MP__WIDE_DESC_SIZE 16u
#define MP__HEADER_SIZE ((mach_msg_size_t)sizeof(mach_msg_header_t))
#define MP__BODY_SIZE ((mach_msg_size_t)sizeof(mach_msg_body_t))

/* Size of a descriptor of `type`, or 0 for a type out of range. */
static inline uint32_t mp__desc_size(uint32_t type)
{
    switch (type) {
    case MACH_MSG_PORT_DESCRIPTOR:
        return MP__PORT_DESC_SIZE;
    case MACH_MSG_OOL_DESCRIPTOR:
    case MACH_MSG_OOL_PORTS_DESCRIPTOR:
    case MACH_MSG_OOL_VOLATILE_DESCRIPTOR:
    case MACH_MSG_GUARDED_PORT_DESCRIPTOR:
        return MP__WIDE_DESC_SIZE;
    default:
        return 0;
    }
}

/* Descriptor field offsets (64-bit user layout, see MACH_FACTS §3.2). */
#define MP__D_TYPE 11u       /* byte: descriptor type (all kinds) */
#define MP__D_PORT_NAME 0u   /* port: u32 name */
#define MP__D_PORT_DISP 10u  /* port: byte disposition */
#define MP__D_OOL_ADDR 0u    /* ool / ool ports: u64 address */
#define MP__D_OOL_DEALLOC 8u /* byte */
#define MP__D_OOL_COPY 9u    /* byte */
#define MP__D_OOLP_DISP 10u  /* ool ports: byte disposition */
#define MP__D_OOL_SIZE 12u   /* ool: u32 size; ool ports: u32 count */
#define MP__D_GP_CONTEXT 0u  /* guarded port: u64 context */
#define MP__D_GP_FLAGS 8u    /* u16 flags */
#define MP__D_GP_DISP 10u    /* byte */
#define MP__D_GP_NAME 12u    /* u32 name */

#endif
