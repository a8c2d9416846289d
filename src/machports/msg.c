/*
 * msg.c — send, receive, RPC and the server loop.
 *
 * What the kernel takes when a send fails (XNU's ipc_kmsg copyin order):
 *   - errors found before the header rights are copied in (sizes, types, header bits,
 *     destination, reply, voucher): nothing is taken; the library releases it all;
 *   - MACH_SEND_TIMED_OUT / _INTERRUPTED / _NO_BUFFER: everything was taken and handed
 *     back into the buffer ("pseudo-receive", dispositions rewritten to what is now held,
 *     OOL memory at new addresses); the library releases all of it;
 *   - MACH_SEND_NO_GRANT_DEST / _MSG_FILTERED: the header rights were taken (and
 *     destroyed), the body was not; the library releases the body;
 *   - errors in the body (MACH_SEND_INVALID_RIGHT, _INVALID_MEMORY, resource shortage):
 *     the kernel destroyed the header rights and the descriptors it had copied in. Which
 *     later descriptors it left untouched cannot be told from the result, so the library
 *     releases nothing more rather than risk releasing a right twice. With rights the
 *     library's types vouch for, these errors need memory the caller made unreadable or
 *     a right changed behind the library's back.
 */
#if !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif
#include "mp_internal.h"
#include "mp_msg_internal.h"

#include <time.h>

/* ---- deadlines ------------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct deadline {
    bool none;
    uint64_t at;
} deadline;

static deadline deadline_in(bool has, uint32_t ms)
{
    deadline d = {!has || ms == MP_TIMEOUT_NONE, 0};
    if (!d.none)
        d.at = now_ms() + ms;
    return d;
}

static mach_msg_timeout_t remaining(deadline d)
{
    if (d.none)
        return MACH_MSG_TIMEOUT_NONE;
    uint64_t n = now_ms();
    if (n >= d.at)
        return 0;
    uint64_t left = d.at - n;
    return left > UINT32_MAX - 1 ? UINT32_MAX - 1 : (mach_msg_timeout_t)left;
}

/* ---- send ------------------------------------------------------------------------------ */

static bool taken_nothing(mach_msg_return_t mr)
{
    switch (mp_msg_error_code(mr)) {
    case MACH_SEND_INVALID_DATA:
    case MACH_SEND_INVALID_DEST:
    case MACH_SEND_INVALID_VOUCHER:
    case MACH_SEND_MSG_TOO_SMALL:
    case MACH_SEND_INVALID_REPLY:
    case MACH_SEND_TOO_LARGE:
    case MACH_SEND_INVALID_TYPE:
    case MACH_SEND_INVALID_HEADER:
    case MACH_SEND_INVALID_TRAILER:
    case 0x10000012: /* MACH_SEND_INVALID_CONTEXT */
        return true;
    default:
        return false;
    }
}

/* Errors raised after the header rights were copied in (and destroyed) but before any
 * descriptor was: the body is still the sender's. */
static bool taken_header_only(mach_msg_return_t mr)
{
    switch (mp_msg_error_code(mr)) {
    case 0x10000016: /* MACH_SEND_NO_GRANT_DEST */
    case 0x10000017: /* MACH_SEND_MSG_FILTERED */
        return true;
    default:
        return false;
    }
}

static bool handed_back(mach_msg_return_t mr)
{
    switch (mp_msg_error_code(mr)) {
    case MACH_SEND_TIMED_OUT:
    case MACH_SEND_INTERRUPTED:
    case MACH_SEND_NO_BUFFER:
        return true;
    default:
        return false;
    }
}

/*
 * The mach_msg_return_t a send reports for a builder that failed before sending: the
 * builder's kern_return_t, translated into the send domain so that it names and
 * classifies as a send error.
 */
static mach_msg_return_t builder_send_error(kern_return_t kr)
{
    switch (kr) {
    case KERN_INVALID_VALUE: /* a size over the 32-bit limit */
        return MACH_SEND_TOO_LARGE;
    case KERN_INVALID_RIGHT: /* a right the kernel would refuse (an immovable receive right) */
        return MACH_SEND_INVALID_RIGHT;
    case KERN_INVALID_ARGUMENT: /* null data, a bad copy kind, no buffer */
        return MACH_SEND_INVALID_DATA;
    default: /* memory for the message or an OOL-ports array */
        return MACH_SEND_NO_BUFFER | MACH_MSG_VM_SPACE;
    }
}

/* Pad the inline data to 4 bytes (the kernel requires it) and finish the header. */
static kern_return_t finish(mp_msg_builder *b, mach_port_name_t dest, mach_msg_type_name_t disp)
{
    static const uint8_t zeros[4];
    size_t pad = (4u - (b->buf->len & 3u)) & 3u;
    if (pad && b->error == KERN_SUCCESS)
        (void)mp_msg_builder_append_inline(b, zeros, pad);
    if (b->error)
        return b->error;
    mach_msg_header_t *h = b->buf->msg;
    h->msgh_remote_port = dest;
    h->msgh_bits = (h->msgh_bits & ~(mach_msg_bits_t)MACH_MSGH_BITS_REMOTE_MASK) | (disp & 0x1f);
    h->msgh_size = b->buf->len;
    return KERN_SUCCESS;
}

/* A message that never reached the kernel: release all of it (and an owned destination),
 * leave an empty builder. */
static void never_sent(mp_msg_builder *b, mach_port_name_t dest, mach_msg_type_name_t dest_disp,
                       bool dest_owned)
{
    mp_msg_builder_drop(b);
    if (dest_owned)
        mp__release_name(dest, dest_disp);
}

/*
 * After mach_msg returned `mr` for a send: release what the kernel did not take and reset
 * the builder. `dest_owned` tells whether the destination right was the caller's to
 * consume (a send-once destination).
 */
static void after_send(mp_msg_builder *b, mach_msg_return_t mr, mach_port_name_t dest,
                       mach_msg_type_name_t dest_disp, bool dest_owned)
{
    if (mr == MACH_MSG_SUCCESS || mp_msg_error_is_recv(mr)) {
        /* Sent: the kernel took everything. */
    } else if (handed_back(mr)) {
        mp__msg_release(b->buf->msg, b->buf->len, MP__OWN_LOCAL);
    } else if (taken_header_only(mr)) {
        mach_msg_header_t *h = b->buf->msg;
        h->msgh_remote_port = h->msgh_local_port = h->msgh_voucher_port = MACH_PORT_NULL;
        mp_msg_builder_drop(b);
    } else if (taken_nothing(mr) || !mp_msg_error_is_send(mr)) {
        never_sent(b, dest, dest_disp, dest_owned);
    }
    (void)mp_msg_builder_init(b, b->buf);
}

static mach_msg_return_t send_to(mach_port_name_t dest, mach_msg_type_name_t disp, bool dest_owned,
                                 mp_msg_builder *b, uint32_t timeout_ms)
{
    if (!b->buf || !b->buf->msg) {
        if (dest_owned)
            mp__release_name(dest, disp);
        return builder_send_error(b->error ? b->error : KERN_INVALID_ARGUMENT);
    }
    kern_return_t kr = finish(b, dest, disp);
    if (kr != KERN_SUCCESS) {
        never_sent(b, dest, disp, dest_owned);
        return builder_send_error(kr);
    }
    deadline dl = deadline_in(timeout_ms != MP_TIMEOUT_NONE, timeout_ms);
    mach_msg_option_t opt = MACH_SEND_MSG | (dl.none ? 0 : MACH_SEND_TIMEOUT);
    mach_msg_return_t mr =
        mach_msg(b->buf->msg, opt, b->buf->len, 0, MACH_PORT_NULL, remaining(dl), MACH_PORT_NULL);
    after_send(b, mr, dest, disp, dest_owned);
    return mr;
}

mach_msg_return_t mp_send(mp_send_right dest, mp_msg_builder *b, uint32_t timeout_ms)
{
    return send_to(dest.name, MACH_MSG_TYPE_COPY_SEND, false, b, timeout_ms);
}

mach_msg_return_t mp_send_once(mp_send_once_right *dest, mp_msg_builder *b, uint32_t timeout_ms)
{
    mach_port_name_t n = mp_send_once_right_into_name(dest);
    return send_to(n, MACH_MSG_TYPE_MOVE_SEND_ONCE, true, b, timeout_ms);
}

mach_msg_return_t mp_send_any(mp_any_send_right *dest, mp_msg_builder *b, uint32_t timeout_ms)
{
    mp_any_send_right v = *dest;
    *dest = MP_ANY_SEND_RIGHT_NULL;
    if (v.kind == MP_ANY_SEND_ONCE)
        return send_to(v.name, MACH_MSG_TYPE_MOVE_SEND_ONCE, true, b, timeout_ms);
    /* A moved send right: the kernel takes the reference on success. */
    return send_to(v.name, MACH_MSG_TYPE_MOVE_SEND, v.kind == MP_ANY_SEND_SEND, b, timeout_ms);
}

/* ---- receive ------------------------------------------------------------------------------ */

/* How many times a receive grows its buffer for one message before giving up. The size a
 * too-large message needs can change between attempts (another thread may take it and a
 * bigger one take its place), but never without limit. */
#define MP__GROW_ATTEMPTS 16

/* The receive options; MACH_RCV_TIMEOUT only when the deadline is a real one. */
static mach_msg_option_t recv_options(const mp_recv_options *o, deadline dl)
{
    uint32_t elements = MACH_RCV_TRAILER_CTX;
    mach_msg_option_t opt = MACH_RCV_MSG | MACH_RCV_GUARDED_DESC;
    if (o && (o->flags & MP_RECV_TRAILER))
        elements = o->trailer;
    opt |= (mach_msg_option_t)MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
           (mach_msg_option_t)MACH_RCV_TRAILER_ELEMENTS(elements);
    if (o && (o->flags & MP_RECV_GROW))
        opt |= MACH_RCV_LARGE;
    if (o && (o->flags & MP_RECV_VOUCHER))
        opt |= MACH_RCV_VOUCHER;
    if (!dl.none)
        opt |= MACH_RCV_TIMEOUT;
    return opt;
}

/* The deadline of a receive: MP_RECV_TIMEOUT with a timeout other than MP_TIMEOUT_NONE. */
static deadline recv_deadline(const mp_recv_options *o)
{
    bool timed = o && (o->flags & MP_RECV_TIMEOUT);
    return deadline_in(timed, timed ? o->timeout_ms : 0);
}

/* Parse a received message; a malformed one is released and reported. */
static mach_msg_return_t parse_received(mp_msg_buffer *buf, mp_msg_parser *p)
{
    mach_msg_return_t mr = mp_msg_parser_init(p, buf);
    if (mr != MACH_MSG_SUCCESS) {
        mp_msg_parser_drop(p);
        memset(p, 0, sizeof *p);
    }
    return mr;
}

/*
 * Receive on `name` into *buf. With `have_first`, `first` is the result of a combined
 * send+receive already made.
 */
static mach_msg_return_t recv_loop(mach_port_name_t name, mp_msg_buffer *buf,
                                   const mp_recv_options *o, deadline dl, mp_msg_parser *p,
                                   bool have_first, mach_msg_return_t first)
{
    mach_msg_option_t opt = recv_options(o, dl);
    mach_msg_return_t mr = first;

    for (int attempt = 0;; attempt++) {
        if (!have_first) {
            mp__buffer_reuse(buf);
            mr = mach_msg(buf->msg, opt, 0, buf->capacity, name, remaining(dl), MACH_PORT_NULL);
        }
        have_first = false;
        if (mr == MACH_RCV_TOO_LARGE && (opt & MACH_RCV_LARGE)) {
            /* The message stays queued; the header tells the size it needs. */
            size_t need = (size_t)buf->msg->msgh_size + MAX_TRAILER_SIZE;
            if (need <= buf->capacity || attempt + 1 >= MP__GROW_ATTEMPTS)
                return MACH_RCV_TOO_LARGE;
            if (mp_msg_buffer_reserve(buf, need) != KERN_SUCCESS)
                return MACH_RCV_TOO_LARGE | MACH_MSG_VM_SPACE;
            continue;
        }
        if (mr != MACH_MSG_SUCCESS)
            return mr;
        return parse_received(buf, p);
    }
}

static mach_msg_return_t recv_on(mach_port_name_t name, mp_msg_buffer *buf,
                                 const mp_recv_options *o, mp_msg_parser *p)
{
    memset(p, 0, sizeof *p);
    if (mp_msg_buffer_reserve(buf, MP_MSG_BUFFER_MIN) != KERN_SUCCESS)
        return MACH_RCV_TOO_LARGE | MACH_MSG_VM_SPACE;
    return recv_loop(name, buf, o, recv_deadline(o), p, false, 0);
}

mach_msg_return_t mp_recv(mp_recv_right port, mp_msg_buffer *buf, const mp_recv_options *opts,
                          mp_msg_parser *p)
{
    return recv_on(port.name, buf, opts, p);
}

mach_msg_return_t mp_recv_set(mp_port_set set, mp_msg_buffer *buf, const mp_recv_options *opts,
                              mp_msg_parser *p)
{
    return recv_on(set.name, buf, opts, p);
}

/* ---- RPC ------------------------------------------------------------------------------------- */

/*
 * Can replies to earlier requests still reach `reply`? Messages queued on it are stale
 * replies (to requests whose receive timed out): they are received here and dropped with
 * everything they carry (a too-large one is destroyed by the kernel). Then the port is
 * clean when no send-once right made from it is left (the kernel counts one until the
 * message sent through it is received, so none can be in flight either) and nobody holds
 * a send right. Returns true when no stale reply can arrive; *bad is set when `reply` is
 * not a receive right at all.
 */
static bool reply_port_clean(mp_recv_right reply, bool *bad)
{
    mp_port_status st;
    *bad = false;
    if (mp_recv_right_status(reply, &st) != KERN_SUCCESS) {
        *bad = true;
        return false;
    }
    for (mach_port_msgcount_t i = 0; i < st.msgcount; i++) {
        union {
            mach_msg_header_t h;
            uint8_t bytes[256];
        } stale;
        mach_msg_return_t mr =
            mach_msg(&stale.h,
                     MACH_RCV_MSG | MACH_RCV_TIMEOUT | MACH_RCV_GUARDED_DESC |
                         (mach_msg_option_t)MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0),
                     0, sizeof stale, reply.name, 0, MACH_PORT_NULL);
        if (mr == MACH_MSG_SUCCESS) {
            mp_msg_parser sp;
            (void)mp_msg_parser_init_bytes(&sp, &stale, sizeof stale, MP_PARSE_RELEASE);
            mp_msg_parser_drop(&sp);
        } else if (mr != MACH_RCV_TOO_LARGE) {
            break;
        }
    }
    if (mp_recv_right_status(reply, &st) != KERN_SUCCESS)
        return false;
    return st.msgcount == 0 && st.sorights == 0 && !st.srights;
}

mach_msg_return_t mp_rpc(mp_send_right dest, mp_msg_builder *b, mp_recv_right reply,
                         const mp_recv_options *opts, mp_msg_parser *p)
{
    mp_recv_right temp = MP_RECV_RIGHT_NULL;
    mach_msg_return_t mr;

    memset(p, 0, sizeof *p);
    if (!b->buf || !b->buf->msg || b->error) {
        kern_return_t err = b->error ? b->error : KERN_INVALID_ARGUMENT;
        never_sent(b, MACH_PORT_NULL, 0, false);
        return builder_send_error(err);
    }
    if (reply.name != MACH_PORT_NULL) {
        bool bad_reply;
        if (!reply_port_clean(reply, &bad_reply)) {
            if (bad_reply) {
                never_sent(b, MACH_PORT_NULL, 0, false);
                return MACH_SEND_INVALID_REPLY;
            }
            reply = MP_RECV_RIGHT_NULL; /* a late reply may still come: use a fresh port */
        }
    }
    if (reply.name == MACH_PORT_NULL) {
        kern_return_t kr = mp_recv_right_alloc(&temp);
        if (kr != KERN_SUCCESS) {
            never_sent(b, MACH_PORT_NULL, 0, false);
            return MACH_SEND_INVALID_REPLY | MACH_MSG_IPC_SPACE;
        }
        reply = temp;
    }
    mach_msg_id_t want = mp__reply_id(b->buf->msg->msgh_id);
    if (opts && (opts->flags & MP_RECV_REPLY_ID))
        want = opts->reply_id;
    (void)mp_msg_builder_set_made_reply_once(b, reply);
    kern_return_t kr = finish(b, dest.name, MACH_MSG_TYPE_COPY_SEND);
    if (kr != KERN_SUCCESS) {
        never_sent(b, MACH_PORT_NULL, 0, false);
        (void)mp_msg_builder_init(b, b->buf);
        (void)mp_recv_right_drop(&temp);
        return builder_send_error(kr);
    }

    deadline dl = recv_deadline(opts);
    mach_msg_option_t opt = MACH_SEND_MSG | recv_options(opts, dl);
    if (!dl.none)
        opt |= MACH_SEND_TIMEOUT;
    mp_msg_buffer *buf = b->buf;
    mr =
        mach_msg(buf->msg, opt, buf->len, buf->capacity, reply.name, remaining(dl), MACH_PORT_NULL);

    if (mp_msg_error_is_send(mr)) {
        after_send(b, mr, dest.name, MACH_MSG_TYPE_COPY_SEND, false);
    } else {
        /* The request went out: the buffer now holds the reply (or nothing). */
        mp__buffer_reuse(buf);
        b->inline_off = MP__HEADER_SIZE;
        b->ndesc = 0;
        b->error = KERN_SUCCESS;
        mr = recv_loop(reply.name, buf, opts, dl, p, true, mr);
        if (mr == MACH_MSG_SUCCESS && mp_msg_parser_id(p) != want) {
            /* Not the answer to this request (MIG's check): a send-once notification
             * says the server dropped the reply right; anything else is a mismatch. It
             * is destroyed with everything it carries. */
            mr = mp_msg_parser_id(p) == MACH_NOTIFY_SEND_ONCE ? MIG_SERVER_DIED
                                                             : MIG_REPLY_MISMATCH;
            mp_msg_parser_drop(p);
            memset(p, 0, sizeof *p);
        }
        if (mr != MACH_MSG_SUCCESS)
            (void)mp_msg_builder_init(b, buf);
        else
            buf->len = MP__HEADER_SIZE; /* the builder must be re-initialised before reuse */
    }
    (void)mp_recv_right_drop(&temp);
    return mr;
}

/* ---- server --------------------------------------------------------------------------------- */

static mach_msg_return_t serve(mach_port_name_t name, mp_server_handler handler, void *ctx,
                               const mp_server_options *opts)
{
    mp_msg_buffer req = MP_MSG_BUFFER_NULL, rep = MP_MSG_BUFFER_NULL;
    size_t size = opts && opts->buffer_size ? opts->buffer_size : 1024;
    mp_recv_options ro = opts ? opts->recv : (mp_recv_options){0};
    uint32_t reply_timeout = opts ? opts->reply_timeout_ms : MP_TIMEOUT_NONE;
    mach_msg_return_t mr;

    ro.flags |= MP_RECV_GROW;
    if (mp_msg_buffer_init(&req, size) != KERN_SUCCESS ||
        mp_msg_buffer_init(&rep, size) != KERN_SUCCESS) {
        mp_msg_buffer_drop(&req);
        return MACH_RCV_TOO_LARGE | MACH_MSG_VM_SPACE;
    }
    for (;;) {
        mp_msg_parser p;
        mp_msg_header h;
        mp_msg_builder rb;

        mr = recv_on(name, &req, &ro, &p);
        if (mr != MACH_MSG_SUCCESS)
            break;
        (void)mp_msg_parser_header(&p, &h);
        (void)mp_msg_builder_init(&rb, &rep);
        mp_msg_builder_set_id(&rb, mp__reply_id(h.id));

        mp_server_action act = handler(ctx, &p, &h, &rb);

        mp_msg_parser_drop(&p);
        (void)mp_send_right_drop(&h.voucher);
        if ((act == MP_SERVER_REPLY || act == MP_SERVER_REPLY_AND_STOP) &&
            !mp_any_send_right_is_null(h.reply)) {
            /* A requester that went away is not the server's problem. */
            mach_msg_return_t ignored = mp_send_any(&h.reply, &rb, reply_timeout);
            (void)ignored;
        } else {
            mp_msg_builder_drop(&rb);
            (void)mp_any_send_right_drop(&h.reply);
        }
        if (act == MP_SERVER_STOP || act == MP_SERVER_REPLY_AND_STOP) {
            mr = MACH_MSG_SUCCESS;
            break;
        }
    }
    mp_msg_buffer_drop(&req);
    mp_msg_buffer_drop(&rep);
    return mr;
}

mach_msg_return_t mp_server_run(mp_recv_right port, mp_server_handler handler, void *ctx,
                                const mp_server_options *opts)
{
    return serve(port.name, handler, ctx, opts);
}

mach_msg_return_t mp_server_run_set(mp_port_set set, mp_server_handler handler, void *ctx,
                                    const mp_server_options *opts)
{
    return serve(set.name, handler, ctx, opts);
}
