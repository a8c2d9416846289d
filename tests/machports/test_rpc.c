/*
 * test_rpc.c — mp_rpc checks that the reply is the answer to its request (as MIG does),
 * never hands back a late reply to an earlier request, and waits forever when told to;
 * receive sizes at the exact fit and one step over it (issue 12 items 1, 13, 14).
 *
 * Every server here runs on a thread whose receives have a generous timeout, and the
 * harness's per-test watchdog (tests/common/mt.h) ends a test that hangs.
 */
#include "mpt.h"

#include <pthread.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const mp_recv_options patient = {.flags = MP_RECV_TIMEOUT, .timeout_ms = 15000};

/* ---- a server that misbehaves on purpose ----------------------------------------------- */

enum {
    ID_DROP_REPLY = 1,    /* drop the reply right: the client gets a send-once notification */
    ID_WRONG_ID = 2,      /* answer with id 4242, carrying a send right and OOL memory */
    ID_SLOW_ECHO = 3,     /* echo after 100 ms */
    ID_SIZED = 4,         /* answer with as many inline bytes as the request's first u32 */
    ID_STOP = 999
};

typedef struct server {
    mp_recv_right port;
    mp_recv_right carried; /* ID_WRONG_ID sends a send right to this port */
} server;

static mp_server_action misbehave(void *ctx, mp_msg_parser *req, mp_msg_header *h,
                                  mp_msg_builder *reply)
{
    server *s = ctx;
    const void *body;
    size_t len;
    switch (h->id) {
    case ID_DROP_REPLY:
        return MP_SERVER_NO_REPLY;
    case ID_WRONG_ID:
        mp_msg_builder_set_id(reply, 4242);
        (void)mp_msg_builder_append_made_send(reply, s->carried);
        (void)mp_msg_builder_append_ool(reply, "ool bytes", 9, MP_COPY_PHYSICAL);
        return MP_SERVER_REPLY;
    case ID_SLOW_ECHO:
        sleep_ms(100);
        if (mp_msg_parser_body(req, &body, &len) == MACH_MSG_SUCCESS)
            (void)mp_msg_builder_append_inline(reply, body, len);
        return MP_SERVER_REPLY;
    case ID_SIZED: {
        uint32_t n = 0;
        if (mp_msg_parser_body(req, &body, &len) == MACH_MSG_SUCCESS && len >= 4)
            memcpy(&n, body, 4);
        uint8_t bytes[4096] = {0};
        if (n <= sizeof bytes)
            (void)mp_msg_builder_append_inline(reply, bytes, n);
        return MP_SERVER_REPLY;
    }
    case ID_STOP:
        return MP_SERVER_STOP;
    default:
        return MP_SERVER_REPLY;
    }
}

static void *server_main(void *arg)
{
    server *s = arg;
    mp_server_options o = {.recv = {.flags = MP_RECV_TIMEOUT, .timeout_ms = 15000}};
    return (void *)(intptr_t)mp_server_run(s->port, misbehave, s, &o);
}

typedef struct client {
    server srv;
    pthread_t thread;
    mp_send_right to;
    mp_msg_buffer buf;
    mp_msg_builder b;
} client;

static void client_start(client *c)
{
    MT_KR(mp_recv_right_make_pair(&c->srv.port, &c->to), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&c->srv.carried), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&c->buf, 512), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&c->b, &c->buf), KERN_SUCCESS);
    MT_REQUIRE(pthread_create(&c->thread, NULL, server_main, &c->srv) == 0);
}

static void client_stop(client *c)
{
    void *ret = NULL;
    MT_KR(mp_msg_builder_init(&c->b, &c->buf), KERN_SUCCESS);
    mp_msg_builder_set_id(&c->b, ID_STOP);
    MT_KR(mp_send(c->to, &c->b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    pthread_join(c->thread, &ret);
    MT_EQ((intptr_t)ret, MACH_MSG_SUCCESS);
    mp_msg_builder_drop(&c->b);
    mp_msg_buffer_drop(&c->buf);
    (void)mp_recv_right_drop_pair(&c->srv.port, &c->to);
    (void)mp_recv_right_drop(&c->srv.carried);
}

/* ---- item 1: the reply must be the answer ------------------------------------------------ */

MPT_TEST(rpc_whose_server_drops_the_reply_right_is_server_died_and_leaves_nothing)
{
    client c;
    client_start(&c);
    mp_recv_right reply;
    MT_KR(mp_recv_right_alloc(&reply), KERN_SUCCESS);
    mp_msg_parser p;
    mp_msg_builder_set_id(&c.b, ID_DROP_REPLY);
    mach_msg_return_t mr = mp_rpc(c.to, &c.b, MP_RECV_RIGHT_NULL, &patient, &p);
    MT_EQ(mr, MIG_SERVER_DIED);
    MT_EQ(mp_recv_error_kind_of(mr), MP_RCV_SERVER_DIED);
    MT_EQ(mp_msg_parser_id(&p), 0); /* no parser over the notification */
    mp_msg_parser_drop(&p);
    /* With a reply port of the caller's: the notification is not left queued on it. */
    MT_KR(mp_msg_builder_init(&c.b, &c.buf), KERN_SUCCESS);
    mp_msg_builder_set_id(&c.b, ID_DROP_REPLY);
    MT_EQ(mp_rpc(c.to, &c.b, reply, &patient, &p), MIG_SERVER_DIED);
    MT_EQ(mpt_queued(reply), 0);
    (void)mp_recv_right_drop(&reply);
    client_stop(&c);
}

MPT_TEST(rpc_reply_with_another_id_is_a_mismatch_and_is_destroyed_with_what_it_carries)
{
    client c;
    client_start(&c);
    mp_msg_parser p;
    mp_msg_builder_set_id(&c.b, ID_WRONG_ID);
    mach_msg_return_t mr = mp_rpc(c.to, &c.b, MP_RECV_RIGHT_NULL, &patient, &p);
    MT_EQ(mr, MIG_REPLY_MISMATCH);
    MT_EQ(mp_recv_error_kind_of(mr), MP_RCV_REPLY_MISMATCH);
    mp_msg_parser_drop(&p);
    /* The send right the reply carried was released: no send right to `carried` is left. */
    mp_port_status st;
    MT_KR(mp_recv_right_status(c.srv.carried, &st), KERN_SUCCESS);
    MT_CHECK(!st.srights);
    MT_EQ(st.mscount, 1);
    /* The same reply is accepted when the caller says 4242 is the id to expect. */
    mp_recv_options want = patient;
    want.flags |= MP_RECV_REPLY_ID;
    want.reply_id = 4242;
    MT_KR(mp_msg_builder_init(&c.b, &c.buf), KERN_SUCCESS);
    mp_msg_builder_set_id(&c.b, ID_WRONG_ID);
    MT_KR(mp_rpc(c.to, &c.b, MP_RECV_RIGHT_NULL, &want, &p), MACH_MSG_SUCCESS);
    mp_msg_desc d;
    mp_send_right got;
    MT_KR(mp_msg_parser_expect(&p, MP_DESC_SEND, &d), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_desc_take_send(&d, &got), KERN_SUCCESS);
    MT_EQ(mpt_refs(got.name, MACH_PORT_RIGHT_SEND), 1);
    mp_msg_parser_drop(&p);
    (void)mp_send_right_drop(&got);
    client_stop(&c);
}

MPT_TEST(rpc_refuses_a_reply_name_without_a_receive_right_and_reports_builder_errors)
{
    client c;
    client_start(&c);
    mp_msg_parser p;
    mp_recv_right not_a_port = mp_recv_right_from_name(c.to.name + 0x1000);
    MT_KR(mp_msg_builder_append_moved_send(&c.b, &(mp_send_right){MACH_PORT_NULL}), KERN_SUCCESS);
    MT_EQ(mp_rpc(c.to, &c.b, not_a_port, &patient, &p), MACH_SEND_INVALID_REPLY);
    MT_KR(mp_msg_builder_init(&c.b, &c.buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool(&c.b, NULL, 5, MP_COPY_PHYSICAL), KERN_INVALID_ARGUMENT);
    MT_EQ(mp_rpc(c.to, &c.b, MP_RECV_RIGHT_NULL, &patient, &p), MACH_SEND_INVALID_DATA);
    MT_EQ(mp_msg_builder_error(&c.b), KERN_SUCCESS);
    client_stop(&c);
}

MPT_TEST(rpc_reply_id_wraps_as_the_32_bit_field_does)
{
    client c;
    client_start(&c);
    mp_msg_parser p;
    mp_msg_builder_set_id(&c.b, INT32_MAX);
    MT_KR(mp_rpc(c.to, &c.b, MP_RECV_RIGHT_NULL, &patient, &p), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_id(&p), (mach_msg_id_t)((uint32_t)INT32_MAX + 100u));
    mp_msg_parser_drop(&p);
    client_stop(&c);
}

/* A server that answers the first request only after the second one has arrived, so the
 * first (timed-out) request's reply comes back late, on the caller's reply port. */
typedef struct late_server {
    mp_recv_right port;
    mach_msg_return_t result;
} late_server;

static mach_msg_return_t answer(mp_any_send_right *reply, mach_msg_id_t id, const char *text)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    if (mp_msg_buffer_init(&buf, 256) != KERN_SUCCESS)
        return KERN_RESOURCE_SHORTAGE;
    (void)mp_msg_builder_init(&b, &buf);
    mp_msg_builder_set_id(&b, id);
    (void)mp_msg_builder_append_inline(&b, text, strlen(text));
    mach_msg_return_t mr = mp_send_any(reply, &b, MP_TIMEOUT_NONE);
    mp_msg_buffer_drop(&buf);
    return mr;
}

static void *late_main(void *arg)
{
    late_server *s = arg;
    mp_msg_buffer buf = MP_MSG_BUFFER_NULL;
    mp_msg_parser p;
    mp_msg_header h1, h2, h3;
    mach_msg_return_t mr;
    /* request 1, request 2, then reply 1 (late), reply 2, request 3, reply 3 */
    if ((mr = mp_recv(s->port, &buf, &patient, &p)) != MACH_MSG_SUCCESS)
        goto out;
    (void)mp_msg_parser_header(&p, &h1);
    mp_msg_parser_drop(&p);
    if ((mr = mp_recv(s->port, &buf, &patient, &p)) != MACH_MSG_SUCCESS)
        goto out;
    (void)mp_msg_parser_header(&p, &h2);
    mp_msg_parser_drop(&p);
    if ((mr = answer(&h1.reply, h1.id + 100, "one")) != MACH_MSG_SUCCESS ||
        (mr = answer(&h2.reply, h2.id + 100, "two")) != MACH_MSG_SUCCESS)
        goto out;
    if ((mr = mp_recv(s->port, &buf, &patient, &p)) != MACH_MSG_SUCCESS)
        goto out;
    (void)mp_msg_parser_header(&p, &h3);
    mp_msg_parser_drop(&p);
    mr = answer(&h3.reply, h3.id + 100, "three");
out:
    mp_msg_buffer_drop(&buf);
    s->result = mr;
    return NULL;
}

static void expect_body(mp_msg_parser *p, const char *text)
{
    const void *body;
    size_t len;
    MT_KR(mp_msg_parser_body(p, &body, &len), MACH_MSG_SUCCESS);
    /* Inline data arrives padded to 4 bytes with zeros. */
    MT_CHECK(len >= strlen(text) && memcmp(body, text, strlen(text)) == 0);
}

MPT_TEST(rpc_after_a_timeout_on_its_reply_port_never_returns_the_late_reply)
{
    late_server s = {MP_RECV_RIGHT_NULL, -1};
    mp_send_right to;
    mp_recv_right reply;
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_msg_parser p;
    MT_KR(mp_recv_right_make_pair(&s.port, &to), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&reply), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&buf, 256), KERN_SUCCESS);

    /* Request 1 times out: nobody serves yet. */
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    mp_msg_builder_set_id(&b, 10);
    mp_recv_options quick = {.flags = MP_RECV_TIMEOUT, .timeout_ms = 10};
    MT_KR(mp_rpc(to, &b, reply, &quick, &p), MACH_RCV_TIMED_OUT);

    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, late_main, &s) == 0);
    /* Request 2, same id, same reply port: its answer is "two", never the late "one". */
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    mp_msg_builder_set_id(&b, 10);
    MT_KR(mp_rpc(to, &b, reply, &patient, &p), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_id(&p), 110);
    expect_body(&p, "two");
    mp_msg_parser_drop(&p);

    /* Request 3: the late reply queued on the port meanwhile is stale and destroyed. */
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    mp_msg_builder_set_id(&b, 10);
    MT_KR(mp_rpc(to, &b, reply, &patient, &p), MACH_MSG_SUCCESS);
    expect_body(&p, "three");
    mp_msg_parser_drop(&p);
    pthread_join(t, NULL);
    MT_EQ(s.result, MACH_MSG_SUCCESS);
    MT_EQ(mpt_queued(reply), 0);

    mp_msg_buffer_drop(&buf);
    (void)mp_recv_right_drop(&reply);
    (void)mp_recv_right_drop_pair(&s.port, &to);
}

/* ---- item 13: MP_TIMEOUT_NONE means no timeout, wherever a timeout is taken --------------- */

typedef struct delayed_send {
    mp_send_right to;
    long delay_ms;
} delayed_send;

static void *send_later(void *arg)
{
    delayed_send *d = arg;
    mp_msg_buffer buf;
    mp_msg_builder b;
    sleep_ms(d->delay_ms);
    if (mp_msg_buffer_init(&buf, 64) == KERN_SUCCESS) {
        (void)mp_msg_builder_init(&b, &buf);
        mp_msg_builder_set_id(&b, 5);
        (void)mp_send(d->to, &b, MP_TIMEOUT_NONE);
        mp_msg_buffer_drop(&buf);
    }
    return NULL;
}

MPT_TEST(receive_with_timeout_none_waits_for_the_message)
{
    mp_recv_right port;
    delayed_send d = {MP_SEND_RIGHT_NULL, 100};
    mp_msg_buffer buf;
    mp_msg_parser p;
    MT_KR(mp_recv_right_make_pair(&port, &d.to), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&buf, 64), KERN_SUCCESS);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, send_later, &d) == 0);
    mp_recv_options forever = {.flags = MP_RECV_TIMEOUT, .timeout_ms = MP_TIMEOUT_NONE};
    MT_KR(mp_recv(port, &buf, &forever, &p), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_id(&p), 5);
    mp_msg_parser_drop(&p);
    pthread_join(t, NULL);
    mp_msg_buffer_drop(&buf);
    (void)mp_recv_right_drop_pair(&port, &d.to);
}

MPT_TEST(rpc_with_timeout_none_waits_for_a_slow_reply)
{
    client c;
    client_start(&c);
    mp_msg_parser p;
    mp_recv_options forever = {.flags = MP_RECV_TIMEOUT, .timeout_ms = MP_TIMEOUT_NONE};
    mp_msg_builder_set_id(&c.b, ID_SLOW_ECHO);
    MT_KR(mp_msg_builder_append_inline(&c.b, "slow", 4), KERN_SUCCESS);
    MT_KR(mp_rpc(c.to, &c.b, MP_RECV_RIGHT_NULL, &forever, &p), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_id(&p), ID_SLOW_ECHO + 100);
    expect_body(&p, "slow");
    mp_msg_parser_drop(&p);
    client_stop(&c);
}

/* ---- item 14: a message that exactly fills the buffer, and one step more -------------------- */

/* The trailer mp_recv asks for by default. */
#define TRAILER ((mach_msg_size_t)sizeof(mach_msg_context_trailer_t))

static void send_sized(mp_send_right to, mp_msg_buffer *buf, mach_msg_size_t msgh_size)
{
    mp_msg_builder b;
    static const uint8_t zeros[4096];
    MT_KR(mp_msg_builder_init(&b, buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_inline(&b, zeros, msgh_size - sizeof(mach_msg_header_t)),
          KERN_SUCCESS);
    MT_KR(mp_send(to, &b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
}

MPT_TEST(receive_of_a_message_exactly_filling_the_buffer_succeeds_and_one_step_more_does_not)
{
    mp_recv_right port;
    mp_send_right to;
    mp_msg_buffer out, in;
    mp_msg_parser p;
    MT_KR(mp_recv_right_make_pair(&port, &to), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&out, 1024), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&in, 512), KERN_SUCCESS);
    MT_EQ(mp_msg_buffer_capacity(&in), 512);

    send_sized(to, &out, 512 - TRAILER);
    MT_KR(mp_recv(port, &in, NULL, &p), MACH_MSG_SUCCESS);
    mp_msg_header h;
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.size, 512 - TRAILER);
    mp_msg_parser_drop(&p);
    MT_EQ(mp_msg_buffer_capacity(&in), 512); /* it fit: no growing */

    send_sized(to, &out, 512 - TRAILER + 4);
    MT_KR(mp_recv(port, &in, NULL, &p), MACH_RCV_TOO_LARGE);
    MT_EQ(mpt_queued(port), 0); /* destroyed by the kernel */
    MT_EQ(mp_msg_buffer_capacity(&in), 512);

    send_sized(to, &out, 512 - TRAILER + 4);
    mp_recv_options grow = {.flags = MP_RECV_GROW};
    MT_KR(mp_recv(port, &in, &grow, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.size, 512 - TRAILER + 4);
    MT_CHECK(mp_msg_buffer_capacity(&in) > 512);
    mp_msg_parser_drop(&p);

    mp_msg_buffer_drop(&out);
    mp_msg_buffer_drop(&in);
    (void)mp_recv_right_drop_pair(&port, &to);
}

static mach_msg_return_t rpc_sized(client *c, uint32_t inline_bytes, const mp_recv_options *o,
                                   mp_msg_parser *p)
{
    (void)mp_msg_builder_init(&c->b, &c->buf);
    mp_msg_builder_set_id(&c->b, ID_SIZED);
    (void)mp_msg_builder_append_inline(&c->b, &inline_bytes, sizeof inline_bytes);
    return mp_rpc(c->to, &c->b, MP_RECV_RIGHT_NULL, o, p);
}

MPT_TEST(rpc_reply_exactly_filling_the_buffer_succeeds_and_one_step_more_does_not)
{
    client c;
    client_start(&c);
    mp_msg_parser p;
    mach_msg_size_t fit = 512 - TRAILER - (mach_msg_size_t)sizeof(mach_msg_header_t);
    MT_EQ(mp_msg_buffer_capacity(&c.buf), 512);

    MT_KR(rpc_sized(&c, fit, &patient, &p), MACH_MSG_SUCCESS);
    mp_msg_header h;
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.size, 512 - TRAILER);
    mp_msg_parser_drop(&p);
    MT_EQ(mp_msg_buffer_capacity(&c.buf), 512);

    MT_KR(rpc_sized(&c, fit + 4, &patient, &p), MACH_RCV_TOO_LARGE);
    mp_msg_parser_drop(&p);
    MT_EQ(mp_msg_buffer_capacity(&c.buf), 512);

    mp_recv_options grow = patient;
    grow.flags |= MP_RECV_GROW;
    MT_KR(rpc_sized(&c, fit + 4, &grow, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.size, 512 - TRAILER + 4);
    mp_msg_parser_drop(&p);
    MT_CHECK(mp_msg_buffer_capacity(&c.buf) > 512);
    client_stop(&c);
}

MT_MAIN()
