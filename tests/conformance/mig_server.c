/*
 * mig_server.c — mach_msg_server_once and mach_msg_server serve hand-written MIG-shaped
 * stubs (mig_demo.h) with Darwin's reply handling: a routine's reply goes to the reply port
 * with id + 100; an error code becomes a mig_reply_error_t and the request (its rights) is
 * destroyed but not its reply right; MIG_NO_REPLY sends nothing and leaves the reply right
 * to the routine; a reply that cannot be delivered (dead reply port, full queue behind a
 * send right) is destroyed and serving goes on; a request larger than max_size is
 * MACH_RCV_TOO_LARGE (destroyed) unless MACH_RCV_LARGE makes the buffer grow.
 *
 * Most tests queue requests first and serve them with MACH_RCV_TIMEOUT (timeout 0), so the
 * server returns MACH_RCV_TIMED_OUT once the queue is empty and nothing can block.
 */
#include "mig_demo.h"
#include "notify_util.h"

#include <pthread.h>
#include <stddef.h>

/* ---- the server routines ------------------------------------------------------------------ */

static int note_value;
static kern_return_t give_result;
static mach_port_t deferred_reply;
static mach_msg_type_name_t deferred_poly;
static int hello_tail_zero;

kern_return_t demo_server_add(mach_port_t server, int a, int b, int *sum)
{
    (void)server;
    if (a < 0)
        return KERN_INVALID_ARGUMENT;
    *sum = a + b;
    return KERN_SUCCESS;
}

kern_return_t demo_server_note(mach_port_t server, int value)
{
    (void)server;
    note_value = value;
    return KERN_SUCCESS;
}

/* On success the routine owns the right it was given (MIG's rule), so it releases it. */
kern_return_t demo_server_give(mach_port_t server, mach_port_t p)
{
    (void)server;
    if (give_result == KERN_SUCCESS)
        (void)mach_port_deallocate(TASK, p);
    return give_result;
}

kern_return_t demo_server_defer(mach_port_t server, mach_port_t reply,
                                mach_msg_type_name_t replyPoly)
{
    (void)server;
    deferred_reply = reply;
    deferred_poly = replyPoly;
    return MIG_NO_REPLY;
}

kern_return_t demo_server_hello(mach_port_t server, const char *greeting, int *n)
{
    (void)server;
    const __Request__demo_hello_t *req =
        (const __Request__demo_hello_t *)(const void *)(greeting -
                                                        offsetof(__Request__demo_hello_t, greeting));
    size_t len = strlen(greeting);
    hello_tail_zero = 1;
    for (size_t i = len; i < DEMO_GREETING_MAX; i++)
        if (req->greeting[i] != '\0')
            hello_tail_zero = 0;
    *n = (int)len;
    return KERN_SUCCESS;
}

/* ---- client helpers ------------------------------------------------------------------------ */

typedef union reply_buf {
    mach_msg_header_t h;
    mig_reply_error_t err;
    __Reply__demo_add_t add;
    __Reply__demo_hello_t hello;
    uint8_t bytes[512];
} reply_buf;

static mach_msg_return_t send_add(mach_port_t server, mach_port_t reply,
                                  mach_msg_type_name_t reply_type, int a, int b)
{
    __Request__demo_add_t req;
    memset(&req, 0, sizeof req);
    req.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, reply ? reply_type : 0);
    req.Head.msgh_size = sizeof req;
    req.Head.msgh_remote_port = server;
    req.Head.msgh_local_port = reply;
    req.Head.msgh_id = DEMO_BASE;
    req.NDR = NDR_record;
    req.a = a;
    req.b = b;
    return mach_msg(&req.Head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof req, 0, MACH_PORT_NULL,
                    0, MACH_PORT_NULL);
}

/* A complex request with id `id` carrying a copy of the send right `carried`. */
static mach_msg_return_t send_give(mach_port_t server, mach_port_t reply, mach_msg_id_t id,
                                   mach_port_t carried)
{
    __Request__demo_give_t req;
    memset(&req, 0, sizeof req);
    req.Head.msgh_bits = MACH_MSGH_BITS_COMPLEX |
                         MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    req.Head.msgh_size = sizeof req;
    req.Head.msgh_remote_port = server;
    req.Head.msgh_local_port = reply;
    req.Head.msgh_id = id;
    req.msgh_body.msgh_descriptor_count = 1;
    req.p.name = carried;
    req.p.disposition = MACH_MSG_TYPE_COPY_SEND;
    req.p.type = MACH_MSG_PORT_DESCRIPTOR;
    return mach_msg(&req.Head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof req, 0, MACH_PORT_NULL,
                    0, MACH_PORT_NULL);
}

static mach_msg_return_t send_simple(mach_port_t server, mach_port_t reply, mach_msg_id_t id)
{
    __Request__demo_defer_t req;
    memset(&req, 0, sizeof req);
    req.Head.msgh_bits =
        MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, reply ? MACH_MSG_TYPE_MAKE_SEND_ONCE : 0);
    req.Head.msgh_size = sizeof req;
    req.Head.msgh_remote_port = server;
    req.Head.msgh_local_port = reply;
    req.Head.msgh_id = id;
    return mach_msg(&req.Head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof req, 0, MACH_PORT_NULL,
                    0, MACH_PORT_NULL);
}

static mach_msg_return_t send_note(mach_port_t server, int value)
{
    __Request__demo_note_t req;
    memset(&req, 0, sizeof req);
    req.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    req.Head.msgh_size = sizeof req;
    req.Head.msgh_remote_port = server;
    req.Head.msgh_id = DEMO_BASE + 1;
    req.NDR = NDR_record;
    req.value = value;
    return mach_msg(&req.Head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof req, 0, MACH_PORT_NULL,
                    0, MACH_PORT_NULL);
}

/* Receive one queued reply (nothing blocks: it is there or MACH_RCV_TIMED_OUT). */
static mach_msg_return_t take_reply(mach_port_t port, reply_buf *r)
{
    memset(r, 0, sizeof *r);
    return mach_msg(&r->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r, port, 0,
                    MACH_PORT_NULL);
}

/* A server port whose queue holds every request a test queues before serving. */
static mach_port_t server_port(void)
{
    mach_port_t p = nu_port_with_send();
    mach_port_limits_t lim = {.mpl_qlimit = 16};
    (void)mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                   MACH_PORT_LIMITS_INFO_COUNT);
    return p;
}

/* Drop a receive right that also holds `sends` send urefs. */
static void drop_port(mach_port_t p)
{
    nu_kill(p);
}

/* ---- mach_msg_server_once ------------------------------------------------------------------ */

MT_TEST(server_once_replies_with_request_id_plus_100_and_the_result)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port();
    MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 2, 40), MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, DEMO_BASE + 100);
    MT_EQ(r.h.msgh_size, sizeof(__Reply__demo_add_t));
    MT_EQ(MACH_MSGH_BITS_LOCAL(r.h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(r.add.RetCode, KERN_SUCCESS);
    MT_EQ(r.add.sum, 42);
    MT_CHECK(nu_ndr_ok(&r.add.NDR));
    MT_KR(take_reply(reply, &r), MACH_RCV_TIMED_OUT);
    drop_port(server);
    drop_port(reply);
    NU_END();
}

MT_TEST(server_once_turns_a_routine_error_into_an_error_reply)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port();
    MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, -1, 1), MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, DEMO_BASE + 100);
    MT_EQ(r.h.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.err.RetCode, KERN_INVALID_ARGUMENT);
    drop_port(server);
    drop_port(reply);
    NU_END();
}

/*
 * Send a give request (a send right in a port descriptor) with `id`, serve it once, and check
 * the reply's id and result and that the carried right is gone from the message (its name keeps
 * only the send right it had before).
 */
static void serve_a_give(mach_msg_id_t id, mach_msg_id_t reply_id, kern_return_t result)
{
    mach_port_t server = server_port(), reply = nu_port(), carried = nu_port_with_send();
    MT_KR(send_give(server, reply, id, carried), MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_refs(carried, MACH_PORT_RIGHT_SEND), 1);
    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, reply_id);
    MT_EQ(r.err.RetCode, result);
    drop_port(carried);
    drop_port(server);
    drop_port(reply);
}

MT_TEST(server_once_answers_an_unknown_id_with_mig_bad_id_and_destroys_the_request)
{
    NU_BEGIN();
    serve_a_give(DEMO_BASE + 50, DEMO_BASE + 150, MIG_BAD_ID);
    NU_END();
}

MT_TEST(server_once_destroys_the_rights_of_a_request_whose_routine_failed)
{
    NU_BEGIN();
    give_result = KERN_FAILURE;
    serve_a_give(DEMO_BASE + 2, DEMO_BASE + 102, KERN_FAILURE);
    NU_END();
}

MT_TEST(server_once_leaves_the_rights_of_a_successful_request_to_the_routine)
{
    NU_BEGIN();
    give_result = KERN_SUCCESS;
    /* The routine released the right it was given, once. */
    serve_a_give(DEMO_BASE + 2, DEMO_BASE + 102, KERN_SUCCESS);
    NU_END();
}

MT_TEST(server_once_sends_nothing_for_mig_no_reply_and_the_routine_keeps_the_reply_right)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port();
    deferred_reply = MACH_PORT_NULL;
    MT_KR(send_simple(server, reply, DEMO_BASE + 3), MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_RCV_TIMED_OUT);
    MT_EQ(deferred_poly, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(nu_type(deferred_reply), MACH_PORT_TYPE_SEND_ONCE);
    /* The routine answers later through the right it kept. */
    mig_reply_error_t late;
    memset(&late, 0, sizeof late);
    late.Head.msgh_bits = MACH_MSGH_BITS(deferred_poly, 0);
    late.Head.msgh_size = sizeof late;
    late.Head.msgh_remote_port = deferred_reply;
    late.Head.msgh_id = DEMO_BASE + 103;
    late.NDR = NDR_record;
    MT_KR(mach_msg(&late.Head, MACH_SEND_MSG, sizeof late, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, DEMO_BASE + 103);
    drop_port(server);
    drop_port(reply);
    NU_END();
}

MT_TEST(server_once_runs_a_simpleroutine_and_sends_nothing)
{
    NU_BEGIN();
    mach_port_t server = server_port();
    note_value = 0;
    MT_KR(send_note(server, 77), MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    MT_EQ(note_value, 77);
    drop_port(server);
    NU_END();
}

MT_TEST(server_once_destroys_a_reply_to_a_dead_reply_port_and_succeeds)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port();
    MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1, 2), MACH_MSG_SUCCESS);
    drop_port(reply);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    drop_port(server);
    NU_END();
}

MT_TEST(server_once_destroys_a_reply_to_a_dead_send_right_and_succeeds)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port();
    MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND, 1, 2), MACH_MSG_SUCCESS);
    drop_port(reply);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    drop_port(server);
    NU_END();
}

/* A reply port whose queue is full: a reply through a send right would block. */
static mach_port_t full_reply_port(void)
{
    mach_port_t reply = nu_port_with_send();
    mach_port_limits_t lim = {.mpl_qlimit = 1};
    (void)mach_port_set_attributes(TASK, reply, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                   MACH_PORT_LIMITS_INFO_COUNT);
    (void)send_simple(reply, MACH_PORT_NULL, 999);
    return reply;
}

MT_TEST(server_once_times_out_a_reply_that_would_block_destroys_it_and_succeeds)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = full_reply_port();
    MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND, 1, 2), MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, 999);
    MT_KR(take_reply(reply, &r), MACH_RCV_TIMED_OUT);
    MT_EQ(nu_refs(reply, MACH_PORT_RIGHT_SEND), 1);
    drop_port(server);
    drop_port(reply);
    NU_END();
}

/* A request bigger than one page, carrying a copy of `carried`, with demo_add's id. */
typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t p;
    uint8_t filler[6000];
} big_request;

static mach_msg_return_t send_big(mach_port_t server, mach_port_t reply, mach_port_t carried)
{
    static big_request req;
    memset(&req, 0, sizeof req);
    req.Head.msgh_bits = MACH_MSGH_BITS_COMPLEX |
                         MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    req.Head.msgh_size = sizeof req;
    req.Head.msgh_remote_port = server;
    req.Head.msgh_local_port = reply;
    req.Head.msgh_id = DEMO_BASE;
    req.body.msgh_descriptor_count = 1;
    req.p.name = carried;
    req.p.disposition = MACH_MSG_TYPE_COPY_SEND;
    req.p.type = MACH_MSG_PORT_DESCRIPTOR;
    return mach_msg(&req.Head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof req, 0, MACH_PORT_NULL,
                    0, MACH_PORT_NULL);
}

MT_TEST(server_once_returns_rcv_too_large_for_a_request_beyond_max_size)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port(), carried = nu_port_with_send();
    MT_KR(send_big(server, reply, carried), MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_RCV_TOO_LARGE);
    /* Without MACH_RCV_LARGE the kernel destroyed the request and its rights; the unused
     * send-once reply right says so. */
    MT_EQ(nu_refs(carried, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(server).mps_msgcount, 0);
    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(take_reply(reply, &r), MACH_RCV_TIMED_OUT);
    drop_port(carried);
    drop_port(server);
    drop_port(reply);
    NU_END();
}

MT_TEST(server_once_with_rcv_large_grows_its_buffer_and_serves_the_request)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port(), carried = nu_port_with_send();
    MT_KR(send_big(server, reply, carried), MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, MACH_RCV_LARGE),
          MACH_MSG_SUCCESS);
    /* demo_add's type check refused it: an error reply, the request destroyed. */
    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, DEMO_BASE + 100);
    MT_EQ(r.err.RetCode, MIG_BAD_ARGUMENTS);
    MT_EQ(nu_refs(carried, MACH_PORT_RIGHT_SEND), 1);
    drop_port(carried);
    drop_port(server);
    drop_port(reply);
    NU_END();
}

MT_TEST(server_once_returns_the_receive_error_for_a_bad_port)
{
    NU_BEGIN();
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, MACH_PORT_NULL, 0),
          MACH_RCV_INVALID_NAME);
    NU_END();
}

MT_TEST(mig_strings_are_zero_filled_and_cut_with_a_nul_in_requests)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port();
    __Request__demo_hello_t req;
    memset(&req, 0xAA, sizeof req);
    demo_hello_request(&req, server, reply, "hi");
    MT_KR(mach_msg(&req.Head, MACH_SEND_MSG, sizeof req, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.hello.RetCode, KERN_SUCCESS);
    MT_EQ(r.hello.n, 2);
    MT_EQ(hello_tail_zero, 1);

    memset(&req, 0xAA, sizeof req);
    demo_hello_request(&req, server, reply, "a greeting far too long for sixteen bytes");
    MT_KR(mach_msg(&req.Head, MACH_SEND_MSG, sizeof req, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.hello.RetCode, KERN_SUCCESS);
    MT_EQ(r.hello.n, DEMO_GREETING_MAX - 1);
    drop_port(server);
    drop_port(reply);
    NU_END();
}

/* ---- mach_msg_server ------------------------------------------------------------------- */

MT_TEST(server_loop_serves_every_queued_request_then_returns_the_receive_error)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port(), carried = nu_port_with_send();
    mach_port_t blocked = full_reply_port();
    give_result = KERN_INVALID_VALUE;
    note_value = 0;
    deferred_reply = MACH_PORT_NULL;
    MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1, 1), MACH_MSG_SUCCESS);
    MT_KR(send_give(server, reply, DEMO_BASE + 2, carried), MACH_MSG_SUCCESS);
    MT_KR(send_note(server, 5), MACH_MSG_SUCCESS);
    MT_KR(send_simple(server, reply, DEMO_BASE + 3), MACH_MSG_SUCCESS);
    MT_KR(send_add(server, blocked, MACH_MSG_TYPE_MAKE_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_KR(send_simple(server, reply, DEMO_BASE - 1), MACH_MSG_SUCCESS);
    MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 20, 22), MACH_MSG_SUCCESS);

    MT_KR(mach_msg_server(demo_server, DEMO_MAX_SIZE, server, MACH_RCV_TIMEOUT),
          MACH_RCV_TIMED_OUT);

    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.add.sum, 2);
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, DEMO_BASE + 102);
    MT_EQ(r.err.RetCode, KERN_INVALID_VALUE);
    MT_EQ(nu_refs(carried, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(note_value, 5);
    MT_EQ(nu_type(deferred_reply), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, DEMO_BASE - 1 + 100);
    MT_EQ(r.err.RetCode, MIG_BAD_ID);
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.add.sum, 42);
    MT_KR(take_reply(reply, &r), MACH_RCV_TIMED_OUT);
    /* The reply that would have blocked was destroyed; only the filler is queued. */
    MT_EQ(nu_status(blocked).mps_msgcount, 1);
    MT_KR(mach_port_deallocate(TASK, deferred_reply), KERN_SUCCESS);
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    drop_port(blocked);
    drop_port(carried);
    drop_port(server);
    drop_port(reply);
    NU_END();
}

MT_TEST(server_loop_with_rcv_large_serves_a_large_request_then_small_ones)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port(), carried = nu_port_with_send();
    MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1, 2), MACH_MSG_SUCCESS);
    MT_KR(send_big(server, reply, carried), MACH_MSG_SUCCESS);
    for (int i = 0; i < 3; i++)
        MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, i, 10), MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server(demo_server, DEMO_MAX_SIZE, server, MACH_RCV_TIMEOUT | MACH_RCV_LARGE),
          MACH_RCV_TIMED_OUT);
    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.add.sum, 3);
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.err.RetCode, MIG_BAD_ARGUMENTS);
    for (int i = 0; i < 3; i++) {
        MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
        MT_EQ(r.add.RetCode, KERN_SUCCESS);
        MT_EQ(r.add.sum, i + 10);
    }
    MT_EQ(nu_refs(carried, MACH_PORT_RIGHT_SEND), 1);
    drop_port(carried);
    drop_port(server);
    drop_port(reply);
    NU_END();
}

MT_TEST(server_loop_without_rcv_large_stops_at_a_too_large_request)
{
    NU_BEGIN();
    mach_port_t server = server_port(), reply = nu_port(), carried = nu_port_with_send();
    MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1, 2), MACH_MSG_SUCCESS);
    MT_KR(send_big(server, reply, carried), MACH_MSG_SUCCESS);
    MT_KR(send_add(server, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 3, 4), MACH_MSG_SUCCESS);
    MT_KR(mach_msg_server(demo_server, DEMO_MAX_SIZE, server, MACH_RCV_TIMEOUT),
          MACH_RCV_TOO_LARGE);
    reply_buf r;
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.add.sum, 3);
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(take_reply(reply, &r), MACH_RCV_TIMED_OUT);
    MT_EQ(nu_refs(carried, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(server).mps_msgcount, 1);
    MT_KR(mach_msg_server_once(demo_server, DEMO_MAX_SIZE, server, 0), MACH_MSG_SUCCESS);
    MT_KR(take_reply(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.add.sum, 7);
    drop_port(carried);
    drop_port(server);
    drop_port(reply);
    NU_END();
}

static void *serve_thread(void *arg)
{
    mach_port_t server = *(mach_port_t *)arg;
    return (void *)(intptr_t)mach_msg_server(demo_server, DEMO_MAX_SIZE, server, 0);
}

MT_TEST(server_loop_in_a_thread_answers_mig_user_stub_calls)
{
    mach_port_t server = server_port();
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, serve_thread, &server) == 0);
    for (int i = 0; i < 50; i++) {
        int sum = -1;
        MT_KR(demo_add(server, i, 1000, &sum, 30000), KERN_SUCCESS);
        MT_EQ(sum, i + 1000);
    }
    int sum = -1;
    MT_KR(demo_add(server, -5, 1, &sum, 30000), KERN_INVALID_ARGUMENT);
    MT_EQ(sum, -1);
    /*
     * Destroying the receive right ends the loop with the receive error: the port changed
     * under the blocked receive (XNU wakes it with MACH_RCV_PORT_CHANGED), or the name was
     * already gone when the loop went back to receive.
     */
    drop_port(server);
    void *ret;
    pthread_join(t, &ret);
    mach_msg_return_t mr = (mach_msg_return_t)(intptr_t)ret;
    if (mr != MACH_RCV_PORT_CHANGED && mr != MACH_RCV_PORT_DIED && mr != MACH_RCV_INVALID_NAME)
        MT_EQ(mr, MACH_RCV_PORT_CHANGED);
    mig_dealloc_reply_port(mig_get_reply_port());
}

MT_MAIN()
