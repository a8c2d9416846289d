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
 * Out-of-line memory and port arrays (docs/world.md, "Out-of-line memory between processes")
 * travel beside the message as a memory part (src/umach/vm/um_xmem.h): captured from the
 * message's descriptors before the request goes (a snapshot: bytes, or sealed memfds), and,
 * in the reply, mapped here, their addresses written into the received image before it is
 * written to the buffer, with the ranges the call took from this task (moves) removed.
 *
 * With MACH_SEND_INTERRUPT / MACH_RCV_INTERRUPT a signal handler that runs while the thread
 * waits makes it cancel the request; the reply says whether the call was interrupted or had
 * already ended. If the world is gone: MACH_SEND_INVALID_DEST when the request could not be
 * sent (or was a send only), MACH_RCV_PORT_DIED when a receive was waiting. A thread the
 * world has no room for (umachd --task-threads-max) sends and receives nothing:
 * MACH_SEND_NO_BUFFER, or MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_KERNEL for a receive alone.
 */
#include "../embedded/um_embedded.h"
#include "../embedded/um_vm_mig.h"
#include "../kern/um_kmsg.h"
#include "../vm/um_xmem.h"
#include "um_client.h"
#include "um_client_conn.h"
#include "../wire/um_ring.h"

#include <stdlib.h>
#include <string.h>

/*
 * Write the reply's segments (the first `blob_len` bytes of its blob) at `base`; false: the
 * buffer is not writable (or bad reply).
 */
static bool cl_write_out(const um_wire_pkt *rep, uint32_t blob_len, uint64_t base)
{
    uint64_t nseg = rep->args[1];
    if (nseg > 2)
        return false;
    uint64_t at = 0;
    for (uint64_t i = 0; i < nseg; i++) {
        uint64_t off = rep->args[2 + 2 * i], len = rep->args[3 + 2 * i];
        if (len > blob_len - at || off > UINT32_MAX)
            return false;
        if (len && !um_embedded_memops.msg_write(NULL, base + off, rep->blob + at, (size_t)len))
            return false;
        at += len;
    }
    return true;
}

/*
 * The reply's memory part: map what it carries into this task, write the addresses into the
 * received image (the first segment, when it starts the buffer), remove what the call took.
 * Returns the bits for the call's result (MACH_MSG_VM_SPACE: a piece found no room).
 */
static mach_msg_return_t cl_deliver(um_wire_pkt *rep, uint32_t seg_bytes)
{
    uint32_t xlen = rep->h.blob_len - seg_bytes;
    uint8_t *image = NULL;
    size_t ilen = 0;
    if (rep->args[1] >= 1 && rep->args[2] == 0 && rep->args[3] <= seg_bytes) {
        image = rep->blob;
        ilen = (size_t)rep->args[3];
    }
    mach_msg_return_t bits = MACH_MSG_SUCCESS;
    uint32_t nfds = rep->nfds;
    rep->nfds = 0; /* um_xmem_deliver takes them */
    if (um_xmem_deliver(image, ilen, rep->blob + seg_bytes, xlen, rep->fds, nfds, &bits) != 0)
        bits = MACH_MSG_VM_SPACE; /* a part that does not decode: nothing mapped */
    return bits;
}

/*
 * A one-way simple send that cannot fail or block returns once it is in the thread's post
 * ring (docs/world.md, "Posted sends"): only with MACH_SEND_MSG alone (a timeout or interrupt
 * option changes nothing for a send that never waits), a COPY_SEND destination, no reply
 * port, no voucher, no descriptors, a readable buffer of at most UM_RING_POST_MSG_MAX bytes,
 * and a credit the daemon granted for that name. true: sent.
 */
static bool cl_try_post(const mach_msg_header_t *msg, mach_msg_option_t option,
                        mach_msg_size_t send_size)
{
    if ((option & ~(MACH_SEND_TIMEOUT | MACH_SEND_INTERRUPT)) != MACH_SEND_MSG || !msg ||
        send_size < sizeof(mach_msg_header_t) || send_size > UM_RING_POST_MSG_MAX ||
        (send_size & 3))
        return false;
    uint8_t bytes[UM_RING_POST_MSG_MAX];
    if (!um_embedded_memops.msg_read(NULL, bytes, (uint64_t)(uintptr_t)msg, send_size))
        return false;
    mach_msg_header_t h;
    memcpy(&h, bytes, sizeof h);
    if (h.msgh_bits != MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) ||
        !MACH_PORT_VALID(h.msgh_remote_port) || h.msgh_local_port != MACH_PORT_NULL ||
        h.msgh_voucher_port != MACH_PORT_NULL)
        return false;
    return um_client_post(h.msgh_remote_port, bytes, send_size);
}

mach_msg_return_t um_client_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                                mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                mach_msg_header_t *rcv_msg)
{
    if (cl_try_post(msg, option, send_size))
        return MACH_MSG_SUCCESS;
    if ((option & (MACH_SEND_MSG | MACH_RCV_MSG)) == MACH_RCV_MSG) {
        mach_msg_header_t *rb = rcv_msg ? rcv_msg : msg;
        int w = rb ? um_client_win_receive(rcv_name,
                                           option & ~(MACH_RCV_TIMEOUT | MACH_RCV_INTERRUPT),
                                           rcv_size, (uint64_t)(uintptr_t)rb)
                   : 0;
        if (w)
            return w > 0 ? MACH_MSG_SUCCESS : MACH_RCV_INVALID_DATA;
    }
    uint8_t stack[1024];
    uint8_t *bytes = NULL;
    uint32_t nbytes = 0;
    unsigned cred_gen = um_embedded_cred_generation();
    uint64_t flags = (uint64_t)cred_gen << UM_WIRE_MSG_CRED_GEN_SHIFT;
    /* Switched off (docs/world.md): the daemon then makes no promise this process ignores. */
    if (!um_client_posts_on())
        flags |= UM_WIRE_MSG_NO_POST;
    if (!um_client_windows_on())
        flags |= UM_WIRE_MSG_NO_WINDOW;
    if (um_vm_mig_replying)
        flags |= UM_WIRE_MSG_KERNEL_REPLY;
    um_xmem_out xo;
    um_xmem_out_init(&xo);
    uint32_t xlen = 0;
    int xfds[UM_XMEM_FDS_MAX];
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
        /* A mach_vm request to our own task port: served here, on this process's memory. */
        if (nbytes && um_vm_mig_local(bytes, nbytes, option, timeout)) {
            if (bytes != stack)
                free(bytes);
            if (!(option & MACH_RCV_MSG))
                return MACH_MSG_SUCCESS;
            return um_client_msg(msg, option & ~(mach_msg_option_t)MACH_SEND_MSG, 0, rcv_size,
                                 rcv_name, timeout, rcv_msg);
        }
        /* Its out-of-line memory, as it is now: the memory part after the bytes. */
        if (nbytes && um_xmem_capture(bytes, nbytes, &xo) != MACH_MSG_SUCCESS) {
            if (bytes != stack)
                free(bytes);
            return MACH_SEND_NO_BUFFER;
        }
        size_t plen = um_xmem_out_size(&xo);
        if (plen) {
            uint8_t *both = malloc(nbytes + plen);
            if (!both || plen > UM_WIRE_BLOB_MAX - nbytes) {
                free(both);
                if (bytes != stack)
                    free(bytes);
                um_xmem_out_free(&xo);
                um_xmem_call_over();
                return MACH_SEND_NO_BUFFER;
            }
            memcpy(both, bytes, nbytes);
            um_xmem_out_encode(&xo, both + nbytes, xfds);
            if (bytes != stack)
                free(bytes);
            bytes = both;
            xlen = (uint32_t)plen;
        }
    }
    mach_msg_header_t *rbuf = (option & MACH_RCV_MSG) ? (rcv_msg ? rcv_msg : msg) : NULL;
    uint64_t args[UM_WIRE_MSG_NARGS] = {
        (uint32_t)option, send_size, rcv_size, rcv_name, timeout, (uint64_t)(uintptr_t)msg,
        (uint64_t)(uintptr_t)rbuf, flags};
    bool interruptible = (option & (MACH_SEND_INTERRUPT | MACH_RCV_INTERRUPT)) != 0;
    um_wire_pkt rep;
    enum cl_rt rt = um_client_roundtrip_xmem(UM_WIRE_MSG, args, UM_WIRE_MSG_NARGS, bytes,
                                             nbytes + xlen, xlen, xfds, xlen ? xo.nfds : 0,
                                             &rep, interruptible);
    if (bytes != stack)
        free(bytes);
    um_xmem_out_free(&xo); /* what went out is the daemon's now (or nobody's) */
    if (rt != CL_RT_OK) {
        if (xlen)
            um_xmem_call_over(); /* what it would have moved stays */
        if (rt == CL_RT_NO_THREAD) /* nothing sent, nothing received: a resource shortage */
            return (option & MACH_SEND_MSG) ? MACH_SEND_NO_BUFFER
                                            : (MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_KERNEL);
        if (rt == CL_RT_REPLY_FAILED && (option & MACH_RCV_MSG))
            return MACH_RCV_PORT_DIED;
        return (option & MACH_SEND_MSG) ? MACH_SEND_INVALID_DEST : MACH_RCV_PORT_DIED;
    }
    mach_msg_return_t mr = rep.h.kr;
    /* The daemon has seen this generation: posts may follow (if it did not change since). */
    um_client_note_cred_generation(cred_gen);
    uint32_t seg_bytes = rep.h.blob_len;
    if (rep.h.flags & UM_WIRE_F_XMEM)
        seg_bytes -= rep.h.xmem_len;
    if (rep.h.nargs != 6) {
        mr = (option & MACH_RCV_MSG) ? MACH_RCV_PORT_DIED : MACH_SEND_INVALID_DEST;
    } else {
        if (rep.h.flags & UM_WIRE_F_XMEM) {
            mach_msg_return_t bits = cl_deliver(&rep, seg_bytes);
            if (rep.args[0] == UM_WIRE_OUT_RCV_BUF)
                mr = um_xmem_fold_rcv(mr, bits);
            else
                mr |= bits;
        }
        if (rep.args[0] == UM_WIRE_OUT_SEND_BUF || rep.args[0] == UM_WIRE_OUT_RCV_BUF) {
            uint64_t base = rep.args[0] == UM_WIRE_OUT_SEND_BUF ? (uint64_t)(uintptr_t)msg
                                                                : (uint64_t)(uintptr_t)rbuf;
            /* As XNU: a buffer the message cannot be written to loses the message. */
            if (rep.args[1] && (!base || !cl_write_out(&rep, seg_bytes, base)))
                mr = MACH_RCV_INVALID_DATA;
        }
    }
    um_client_reply_free(&rep);
    if (xlen)
        um_xmem_call_over(); /* moves the reply did not take stay */
    return mr;
}
