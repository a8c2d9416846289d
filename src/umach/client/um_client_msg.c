/*
 * um_client_msg.c — mach_msg in a world (docs/world.md, "mach_msg in a world").
 *
 * The client reads nothing but the message buffer: it copies the send buffer once with the
 * fault-safe copy of embedded mode (an unreadable buffer is the daemon's to report, as
 * MACH_SEND_INVALID_DATA, after the checks that come before it), sends it with the options,
 * sizes, names and timeout, and waits for the reply on its thread's connection. The reply
 * says what to write where (the received message into the receive buffer, or a send's
 * pseudo-receive into the send buffer); the client writes it with the fault-safe write, so an
 * unwritable buffer is MACH_RCV_INVALID_DATA exactly as in embedded mode (the message is lost).
 *
 * With MACH_SEND_INTERRUPT / MACH_RCV_INTERRUPT a signal handler that runs while the thread
 * waits makes it cancel the request; the reply says whether the call was interrupted or had
 * already ended. If the world is gone: MACH_SEND_INVALID_DEST when the request could not be
 * sent (or was a send only), MACH_RCV_PORT_DIED when a receive was waiting.
 */
#include "../embedded/um_embedded.h"
#include "../kern/um_kmsg.h"
#include "um_client.h"
#include "um_client_conn.h"

#include <stdlib.h>
#include <string.h>

/* Write the reply's segments at `base`; false: the buffer is not writable (or bad reply). */
static bool cl_write_out(const um_wire_pkt *rep, uint64_t base)
{
    uint64_t nseg = rep->args[1];
    if (nseg > 2)
        return false;
    uint64_t at = 0;
    for (uint64_t i = 0; i < nseg; i++) {
        uint64_t off = rep->args[2 + 2 * i], len = rep->args[3 + 2 * i];
        if (len > rep->h.blob_len - at || off > UINT32_MAX)
            return false;
        if (len && !um_embedded_memops.msg_write(NULL, base + off, rep->blob + at, (size_t)len))
            return false;
        at += len;
    }
    return true;
}

mach_msg_return_t um_client_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                                mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                mach_msg_header_t *rcv_msg)
{
    uint8_t stack[1024];
    uint8_t *bytes = NULL;
    uint32_t nbytes = 0;
    uint64_t flags = (uint64_t)um_embedded_cred_generation() << UM_WIRE_MSG_CRED_GEN_SHIFT;
    if (option & MACH_SEND_MSG) {
        if (!msg)
            return MACH_SEND_INVALID_DATA;
        /* Sizes the daemon refuses before reading need no bytes (and are not read). */
        if (send_size >= sizeof(mach_msg_header_t) && !(send_size & 3) &&
            send_size <= UM_MSG_MAX_BODY_SPACE) {
            bytes = send_size <= sizeof stack ? stack : malloc(send_size);
            if (!bytes)
                return MACH_SEND_NO_BUFFER;
            if (um_embedded_memops.msg_read(NULL, bytes, (uint64_t)(uintptr_t)msg, send_size))
                nbytes = send_size;
            else
                flags |= UM_WIRE_MSG_UNREADABLE;
        }
    }
    mach_msg_header_t *rbuf = (option & MACH_RCV_MSG) ? (rcv_msg ? rcv_msg : msg) : NULL;
    uint64_t args[UM_WIRE_MSG_NARGS] = {
        (uint32_t)option, send_size, rcv_size, rcv_name, timeout, (uint64_t)(uintptr_t)msg,
        (uint64_t)(uintptr_t)rbuf, flags};
    bool interruptible = (option & (MACH_SEND_INTERRUPT | MACH_RCV_INTERRUPT)) != 0;
    um_wire_pkt rep;
    enum cl_rt rt = um_client_roundtrip(UM_WIRE_MSG, args, UM_WIRE_MSG_NARGS, bytes, nbytes,
                                        &rep, interruptible);
    if (bytes != stack)
        free(bytes);
    if (rt != CL_RT_OK) {
        if (rt == CL_RT_REPLY_FAILED && (option & MACH_RCV_MSG))
            return MACH_RCV_PORT_DIED;
        return (option & MACH_SEND_MSG) ? MACH_SEND_INVALID_DEST : MACH_RCV_PORT_DIED;
    }
    mach_msg_return_t mr = rep.h.kr;
    if (rep.h.nargs != 6) {
        mr = (option & MACH_RCV_MSG) ? MACH_RCV_PORT_DIED : MACH_SEND_INVALID_DEST;
    } else if (rep.args[0] == UM_WIRE_OUT_SEND_BUF || rep.args[0] == UM_WIRE_OUT_RCV_BUF) {
        uint64_t base = rep.args[0] == UM_WIRE_OUT_SEND_BUF ? (uint64_t)(uintptr_t)msg
                                                            : (uint64_t)(uintptr_t)rbuf;
        /* As XNU: a buffer the message cannot be written to loses the message. */
        if (rep.args[1] && (!base || !cl_write_out(&rep, base)))
            mr = MACH_RCV_INVALID_DATA;
    }
    um_wire_pkt_free(&rep);
    return mr;
}
