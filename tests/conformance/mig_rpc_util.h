/*
 * mig_rpc_util.h — a simple MIG request (no descriptors: the header, then the NDR record and
 * up to four 32-bit arguments packed on 4 bytes) sent by hand with a send-once reply right, as
 * a MIG user stub sends it, and its reply received: for the conformance tests that check a
 * kernel port's answers in MIG's layouts (public Mach API only).
 */
#ifndef MIG_RPC_UTIL_H
#define MIG_RPC_UTIL_H

#include "notify_util.h"

#include <mach/mig_errors.h>

#include <stddef.h>
#include <stdint.h>

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    uint32_t args[4];
} mru_req;
/* A reply, simple or carrying one port, with room for the largest a test expects and a
 * trailer. */
typedef union {
    mach_msg_header_t head;
    mig_reply_error_t error;
    struct {
        mach_msg_header_t head;
        NDR_record_t ndr;
        kern_return_t ret;
        uint32_t out[80];
    } simple;
    struct {
        mach_msg_header_t head;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t port;
    } port;
    uint8_t bytes[1024];
} mru_reply;
#pragma pack(pop)

/*
 * Send `to` the simple request `id` with `n` 32-bit arguments (0 to 4: `a`, `b`, then zeros;
 * none means no NDR record either) and a send-once right to `reply`, and receive the answer
 * there in `r` (10 s at most each way): the send's or the receive's code.
 */
static inline mach_msg_return_t mru_rpc(mach_port_t to, mach_port_t reply, mach_msg_id_t id,
                                        unsigned n, uint32_t a, uint32_t b, mru_reply *r)
{
    mru_req req;
    memset(&req, 0, sizeof req);
    mach_msg_size_t size = (mach_msg_size_t)(n ? offsetof(mru_req, args) + 4 * n : sizeof req.head);
    req.head.msgh_bits =
        MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0);
    req.head.msgh_size = size;
    req.head.msgh_remote_port = to;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = id;
    req.ndr = NDR_record;
    req.args[0] = a;
    req.args[1] = b;
    mach_msg_return_t mr = mach_msg(&req.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0,
                                    MACH_PORT_NULL, 10000, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    memset(r, 0xA5, sizeof *r);
    return mach_msg(&r->head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r, reply, 10000,
                    MACH_PORT_NULL);
}

#endif
