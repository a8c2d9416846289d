/*
 * machports/msg.h — send, receive, RPC and a small server loop.
 *
 * Sending consumes the builder: on return (success or failure) every right and region it
 * owned has been given to the kernel or released, and the builder holds a new empty
 * message in the same buffer. Receiving fills a buffer and hands back a parser over it.
 * Timeouts are in milliseconds; MP_TIMEOUT_NONE waits forever, wherever a timeout is
 * taken (also with MP_RECV_TIMEOUT). A timeout is a deadline: retries after a too-large
 * receive keep the original one.
 *
 * Every function here returns a mach_msg_return_t: MACH_MSG_SUCCESS, a MACH_SEND_* or
 * MACH_RCV_* code (possibly with resource-shortage flags), or, from mp_rpc only,
 * MIG_SERVER_DIED / MIG_REPLY_MISMATCH. Errors of the library itself are translated into
 * that domain: a builder error is MACH_SEND_TOO_LARGE (a size over the 32-bit limit),
 * MACH_SEND_INVALID_RIGHT (a right the kernel would refuse), MACH_SEND_INVALID_DATA (a bad
 * argument) or MACH_SEND_NO_BUFFER|MACH_MSG_VM_SPACE (memory); a receive buffer that cannot
 * grow is MACH_RCV_TOO_LARGE|MACH_MSG_VM_SPACE.
 */
#ifndef MACHPORTS_MSG_H
#define MACHPORTS_MSG_H

#include <machports/buffer.h>
#include <machports/builder.h>
#include <machports/defs.h>
#include <machports/parser.h>
#include <machports/rights.h>

#include <mach/mach.h>
#include <mach/mig_errors.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MP_TIMEOUT_NONE UINT32_MAX

/*
 * Send the message on a borrowed send right (COPY_SEND: the caller keeps `dest`).
 * Returns MACH_MSG_SUCCESS, the builder's first append error, or the mach_msg error.
 */
MP_NONNULL(2) mach_msg_return_t mp_send(mp_send_right dest, mp_msg_builder *b, uint32_t timeout_ms);

/* Send through a send-once right, which is consumed (*dest reset) whatever happens. */
MP_NONNULL(1, 2) mach_msg_return_t mp_send_once(mp_send_once_right *dest, mp_msg_builder *b, uint32_t timeout_ms);

/* Send to a tagged reply right, consumed (*dest reset) whatever happens. */
MP_NONNULL(1, 2) mach_msg_return_t mp_send_any(mp_any_send_right *dest, mp_msg_builder *b, uint32_t timeout_ms);

/* Receive options. Zero-initialised = block, fail too-large messages, context trailer. */
typedef struct mp_recv_options {
    uint32_t flags;          /* MP_RECV_* below */
    uint32_t timeout_ms;     /* with MP_RECV_TIMEOUT (MP_TIMEOUT_NONE: no timeout after all) */
    uint32_t trailer;        /* with MP_RECV_TRAILER: MACH_RCV_TRAILER_NULL .. _AV */
    mach_msg_id_t reply_id;  /* with MP_RECV_REPLY_ID (mp_rpc): the id the reply must have */
} mp_recv_options;

#define MP_RECV_TIMEOUT 0x1u  /* give up after timeout_ms (0: poll) */
#define MP_RECV_GROW 0x2u     /* grow the buffer and retry on a too-large message */
#define MP_RECV_TRAILER 0x4u  /* request `trailer` elements instead of the context trailer */
#define MP_RECV_VOUCHER 0x8u  /* accept the sender's voucher */
#define MP_RECV_REPLY_ID 0x10u /* mp_rpc: expect `reply_id` instead of the request id + 100 */

/*
 * Receive one message on a borrowed receive right (or port set) into *buf; on success *p
 * is a parser over it (call mp_msg_parser_drop when done). Without MP_RECV_GROW a
 * message larger than the buffer is destroyed by the kernel and MACH_RCV_TOO_LARGE is
 * returned. With it, the buffer grows and the receive is retried, at most 16 times for
 * one message (its size can change between attempts); past that, or when the buffer
 * cannot grow, MACH_RCV_TOO_LARGE (| MACH_MSG_VM_SPACE) and the message stays queued.
 * Guarded-port descriptors are always accepted. On failure *p is empty.
 */
MP_WUR MP_NONNULL(2, 4) mach_msg_return_t
    mp_recv(mp_recv_right port, mp_msg_buffer *buf, const mp_recv_options *opts, mp_msg_parser *p);
MP_WUR MP_NONNULL(2, 4) mach_msg_return_t
    mp_recv_set(mp_port_set set, mp_msg_buffer *buf, const mp_recv_options *opts, mp_msg_parser *p);

/*
 * Remote procedure call: send the builder's message to `dest` with a send-once reply right
 * made from `reply` and wait for the reply in the same mach_msg call. With
 * MP_RECV_RIGHT_NULL as `reply` a temporary reply port is made and destroyed. The reply is
 * received into the builder's buffer; *p parses it. A MACH_SEND_* result means nothing
 * was sent (the builder's rights are released); a MACH_RCV_* result means the request was
 * sent but no reply was received.
 *
 * The reply is checked as MIG checks it: its id must be the request id + 100 (or
 * opts->reply_id with MP_RECV_REPLY_ID). A send-once notification instead (the server
 * dropped the reply right, or died) gives MIG_SERVER_DIED; any other id gives
 * MIG_REPLY_MISMATCH. Either message is destroyed with everything it carries and *p is
 * empty. A caller-supplied `reply` port is for mp_rpc only: messages queued on it are
 * stale replies to earlier requests (after a receive timeout) and are destroyed first; while
 * a reply right made for an earlier request is still out (or a send right to the port
 * exists), a temporary reply port is used instead, so a late reply is never taken for the
 * answer to this request.
 */
MP_WUR MP_NONNULL(2, 5) mach_msg_return_t
    mp_rpc(mp_send_right dest, mp_msg_builder *b, mp_recv_right reply, const mp_recv_options *opts,
           mp_msg_parser *p);

/* ---- server loop ------------------------------------------------------------------------------
 */

/* What a handler asks the server to do after it returns. */
typedef enum mp_server_action {
    MP_SERVER_REPLY = 0,      /* send the reply it built (if the request has a reply right) */
    MP_SERVER_NO_REPLY,       /* drop the reply; the request's reply right is dropped */
    MP_SERVER_REPLY_AND_STOP, /* reply, then return from mp_server_run */
    MP_SERVER_STOP            /* no reply, return from mp_server_run */
} mp_server_action;

/*
 * A request handler: `request` parses the request (take what you need, the rest is
 * released after you return); `header` holds the request's reply right and voucher (move
 * header->reply out to answer later yourself: the server then sends nothing); `reply` is
 * a fresh builder, its id preset to the request id + 100, whose message goes back through
 * header->reply.
 */
typedef mp_server_action (*mp_server_handler)(void *ctx, mp_msg_parser *request,
                                              mp_msg_header *header, mp_msg_builder *reply);

typedef struct mp_server_options {
    mp_recv_options recv;         /* receive options (MP_RECV_GROW is always added) */
    uint32_t reply_timeout_ms; /* send timeout of replies (MP_TIMEOUT_NONE: block) */
    size_t buffer_size;        /* initial request and reply buffer size (0: 1024) */
} mp_server_options;

/*
 * Receive requests on `port` (or a port set), call `handler` for each and send its reply,
 * until a handler returns a STOP action (MACH_MSG_SUCCESS) or a receive fails (its error;
 * a receive timeout ends the loop with MACH_RCV_TIMED_OUT). Reply send failures are
 * ignored (the requester may have gone). opts may be NULL.
 */
MP_WUR MP_NONNULL(2) mach_msg_return_t mp_server_run(mp_recv_right port, mp_server_handler handler,
                                                     void *ctx, const mp_server_options *opts);
MP_WUR MP_NONNULL(2) mach_msg_return_t mp_server_run_set(mp_port_set set, mp_server_handler handler,
                                                         void *ctx, const mp_server_options *opts);

#ifdef __cplusplus
}
#endif
#endif
