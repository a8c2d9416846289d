/*
 * machports/error.h — errors as values.
 *
 * Every machports function returns a kern_return_t (rights, OOL memory, building) or a
 * mach_msg_return_t (sending, receiving, parsing), and only codes of that domain: every
 * code a function can return is named by mp_kern_return_name / mp_msg_error_format and,
 * for messages, classified by mp_send_error_kind_of / mp_recv_error_kind_of. A mach_msg_return_t is an error code plus up to four
 * resource-shortage flag bits (MACH_MSG_IPC_SPACE, MACH_MSG_VM_SPACE, MACH_MSG_IPC_KERNEL,
 * MACH_MSG_VM_KERNEL). The helpers below split such a value into its kind and its flags
 * and print it; nothing here allocates, and every function accepts any 32-bit value.
 */
#ifndef MACHPORTS_ERROR_H
#define MACHPORTS_ERROR_H

#include <mach/mach.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kind of a send error: one per MACH_SEND_* code; MP_SEND_OTHER for anything else. */
typedef enum mp_send_error_kind {
    MP_SEND_OK = 0,
    MP_SEND_IN_PROGRESS,
    MP_SEND_INVALID_DATA,
    MP_SEND_INVALID_DEST,
    MP_SEND_TIMED_OUT,
    MP_SEND_INVALID_VOUCHER,
    MP_SEND_INTERRUPTED,
    MP_SEND_MSG_TOO_SMALL,
    MP_SEND_INVALID_REPLY,
    MP_SEND_INVALID_RIGHT,
    MP_SEND_INVALID_NOTIFY,
    MP_SEND_INVALID_MEMORY,
    MP_SEND_NO_BUFFER,
    MP_SEND_TOO_LARGE,
    MP_SEND_INVALID_TYPE,
    MP_SEND_INVALID_HEADER,
    MP_SEND_INVALID_TRAILER,
    MP_SEND_INVALID_CONTEXT,
    MP_SEND_INVALID_OPTIONS,
    MP_SEND_INVALID_RT_OOL_SIZE,
    MP_SEND_NO_GRANT_DEST,
    MP_SEND_MSG_FILTERED,
    MP_SEND_OTHER
} mp_send_error_kind;

/* The kind of a receive error: one per MACH_RCV_* code and per MIG code mp_rpc returns;
 * MP_RCV_OTHER for anything else. */
typedef enum mp_recv_error_kind {
    MP_RCV_OK = 0,
    MP_RCV_IN_PROGRESS,
    MP_RCV_INVALID_NAME,
    MP_RCV_TIMED_OUT,
    MP_RCV_TOO_LARGE,
    MP_RCV_INTERRUPTED,
    MP_RCV_PORT_CHANGED,
    MP_RCV_INVALID_NOTIFY,
    MP_RCV_INVALID_DATA,
    MP_RCV_PORT_DIED,
    MP_RCV_IN_SET,
    MP_RCV_HEADER_ERROR,
    MP_RCV_BODY_ERROR,
    MP_RCV_INVALID_TYPE,
    MP_RCV_SCATTER_SMALL,
    MP_RCV_INVALID_TRAILER,
    MP_RCV_IN_PROGRESS_TIMED,
    MP_RCV_INVALID_REPLY,
    MP_RCV_INVALID_ARGUMENTS,
    MP_RCV_SERVER_DIED,    /* MIG_SERVER_DIED (mp_rpc): a send-once notification came back */
    MP_RCV_REPLY_MISMATCH, /* MIG_REPLY_MISMATCH (mp_rpc): not the reply to this request */
    MP_RCV_OTHER
} mp_recv_error_kind;

/* The code of `mr` without its resource-shortage flag bits. */
static inline mach_msg_return_t mp_msg_error_code(mach_msg_return_t mr)
{
    return mr & ~(mach_msg_return_t)MACH_MSG_MASK;
}

/* The four resource-shortage flags of a mach_msg_return_t. */
static inline bool mp_msg_error_ipc_space(mach_msg_return_t mr)
{
    return (mr & MACH_MSG_IPC_SPACE) != 0;
}
static inline bool mp_msg_error_vm_space(mach_msg_return_t mr)
{
    return (mr & MACH_MSG_VM_SPACE) != 0;
}
static inline bool mp_msg_error_ipc_kernel(mach_msg_return_t mr)
{
    return (mr & MACH_MSG_IPC_KERNEL) != 0;
}
static inline bool mp_msg_error_vm_kernel(mach_msg_return_t mr)
{
    return (mr & MACH_MSG_VM_KERNEL) != 0;
}

/* True when `mr` (flags ignored) is a MACH_SEND_* code / a MACH_RCV_* code. */
bool mp_msg_error_is_send(mach_msg_return_t mr);
bool mp_msg_error_is_recv(mach_msg_return_t mr);

/* Classify a send / receive error; the flag bits are ignored. Success gives MP_*_OK. */
mp_send_error_kind mp_send_error_kind_of(mach_msg_return_t mr);
mp_recv_error_kind mp_recv_error_kind_of(mach_msg_return_t mr);

/* The constant's name of a kind ("MACH_SEND_INVALID_DEST"), never NULL. */
const char *mp_send_error_kind_name(mp_send_error_kind kind);
const char *mp_recv_error_kind_name(mp_recv_error_kind kind);

/* The name of a kern_return_t ("KERN_INVALID_RIGHT", or a MIG code's: "MIG_SERVER_DIED"),
 * or "KERN_?" when unknown; never NULL. */
const char *mp_kern_return_name(kern_return_t kr);

/*
 * Write the name of `mr` into buf (at most len bytes, always terminated when len > 0):
 * "MACH_SEND_TIMED_OUT", "MACH_RCV_TOO_LARGE|MACH_MSG_VM_SPACE", "KERN_INVALID_RIGHT",
 * "MIG_REPLY_MISMATCH", "MACH_MSG_SUCCESS", or "0x%08x" for an unknown code. Returns the length it needed
 * (as snprintf does).
 */
int mp_msg_error_format(mach_msg_return_t mr, char *buf, size_t len);

/* Print mp_msg_error_format(mr) to `out`, preceded by `prefix` and ": " when prefix is set. */
void mp_msg_error_print(FILE *out, const char *prefix, mach_msg_return_t mr);

#ifdef __cplusplus
}
#endif
#endif
