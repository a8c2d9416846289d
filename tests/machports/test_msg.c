/*
 * test_msg.c — sending and receiving: the crate's message tests, OOL memory, reply
 * ports, timeouts, full queues, too-large messages, dead destinations, RPC, the server.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include "mpt.h"

#include <pthread.h>
#include <time.h>

#if defined(__linux__)
#include <dlfcn.h>

/*
 * On Linux this program's mach_msg stands in front of umach's (libmachports.so calls it
 * through the dynamic linker) and passes every call on, except while grow_race_armed: then a
 * growing receive sees a message bigger than its buffer each time, as when other threads keep
 * taking the queued message and a bigger one takes its place.
 */
static int grow_race_armed, grow_race_receives;

mach_msg_return_t mach_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                           mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                           mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                           mach_port_name_t notify)
{
    if (grow_race_armed && (option & MACH_RCV_MSG) && (option & MACH_RCV_LARGE) &&
        !(option & MACH_SEND_MSG)) {
        grow_race_receives++;
        msg->msgh_size = rcv_size + 64;
        return MACH_RCV_TOO_LARGE;
    }
    typedef mach_msg_return_t (*mach_msg_fn)(mach_msg_header_t *, mach_msg_option_t,
                                             mach_msg_size_t, mach_msg_size_t, mach_port_name_t,
                                             mach_msg_timeout_t, mach_port_name_t);
    static mach_msg_fn real;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "mach_msg");
    if (!real)
        return MACH_RCV_INVALID_DATA;
    return real(msg, option, send_size, rcv_size, rcv_name, timeout, notify);
}
#endif

static const mp_recv_options poll_opts = {.flags = MP_RECV_TIMEOUT, .timeout_ms = 0};

typedef struct fixture {
    mp_recv_right recv;
    mp_send_right send;
    mp_msg_buffer buf;
    mp_msg_builder b;
} fixture;

static void fx_init(fixture *f)
{
    MT_KR(mp_recv_right_alloc(&f->recv), KERN_SUCCESS);
    MT_KR(mp_send_right_make(f->recv, &f->send), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&f->buf, 4096), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&f->b, &f->buf), KERN_SUCCESS);
}

static void fx_done(fixture *f)
{
    mp_msg_builder_drop(&f->b);
    mp_msg_buffer_drop(&f->buf);
    (void)mp_send_right_drop(&f->send);
    (void)mp_recv_right_drop(&f->recv);
}

static mp_desc_kind next_kind(mp_msg_parser *p)
{
    mp_msg_desc d;
    if (mp_msg_parser_next(p, &d) != MACH_MSG_SUCCESS)
        return (mp_desc_kind)-1;
    mp_desc_kind k = d.kind;
    mp_msg_desc_drop(&d);
    return k;
}

/* The crate's test_send_recv. */
MPT_TEST(send_and_receive_with_copied_and_made_rights)
{
    fixture f;
    fx_init(&f);
    MT_KR(mp_msg_builder_append_inline(&f.b, "test", 4), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_copied_send(&f.b, f.send), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_made_send_once(&f.b, f.recv), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_EQ(mpt_queued(f.recv), 1);

    mp_msg_parser p;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    mp_msg_header h;
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.local_port, f.recv.name);
    MT_CHECK(mp_any_send_right_is_null(h.reply));
    MT_EQ(next_kind(&p), MP_DESC_SEND);
    MT_EQ(next_kind(&p), MP_DESC_SEND_ONCE);
    MT_EQ(next_kind(&p), MP_DESC_NONE);
    const void *body;
    size_t len;
    MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_MSG_SUCCESS);
    MT_EQ(len, 4);
    MT_EQ(memcmp(body, "test", 4), 0);
    mp_msg_parser_drop(&p);
    fx_done(&f);
}

/* The crate's test_send_consumed_recv: moving the receive right to its own port. */
MPT_TEST(moving_a_receive_right_into_its_own_queue_destroys_it_cleanly)
{
    fixture f;
    fx_init(&f);
    mp_recv_right r = f.recv;
    f.recv = MP_RECV_RIGHT_NULL;
    MT_KR(mp_msg_builder_append_moved_recv(&f.b, &r), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    /* The port is alive only inside its own queue; our send right keeps its name. */
    fx_done(&f);
}

MPT_TEST(moved_receive_right_arrives_and_works)
{
    fixture f;
    fx_init(&f);
    mp_recv_right other;
    MT_KR(mp_recv_right_alloc(&other), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_recv(&f.b, &other), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    mp_msg_desc d;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_RECV);
    mp_recv_right got = d.recv;
    mp_msg_parser_drop(&p);
    mp_send_right gs;
    MT_KR(mp_send_right_make(got, &gs), KERN_SUCCESS);
    (void)mp_send_right_drop(&gs);
    (void)mp_recv_right_drop(&got);
    fx_done(&f);
}

/* The crate's test_reply_port_send / test_reply_port_send_once. */
MPT_TEST(reply_port_made_as_send_arrives_as_a_send_right)
{
    fixture f;
    fx_init(&f);
    mp_recv_right reply;
    MT_KR(mp_recv_right_alloc(&reply), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_made_reply(&f.b, reply), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    mp_msg_header h;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.reply.kind, MP_ANY_SEND_SEND);
    MT_EQ(h.reply.name, reply.name);
    mp_msg_parser_drop(&p);
    (void)mp_any_send_right_drop(&h.reply);
    (void)mp_recv_right_drop(&reply);
    fx_done(&f);
}

MPT_TEST(reply_port_made_as_send_once_arrives_as_a_send_once_right)
{
    fixture f;
    fx_init(&f);
    mp_recv_right reply;
    MT_KR(mp_recv_right_alloc(&reply), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_made_reply_once(&f.b, reply), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    mp_msg_header h;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.reply.kind, MP_ANY_SEND_ONCE);
    mp_msg_parser_drop(&p);
    /* Answer through it: the reply arrives on `reply`. */
    MT_KR(mp_msg_builder_append_inline(&f.b, "pong", 4), KERN_SUCCESS);
    MT_KR(mp_send_any(&h.reply, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_CHECK(mp_any_send_right_is_null(h.reply));
    MT_EQ(mpt_queued(reply), 1);
    (void)mp_recv_right_drop(&reply);
    fx_done(&f);
}

MPT_TEST(reply_port_moved_and_copied)
{
    fixture f;
    fx_init(&f);
    mp_recv_right reply;
    mp_send_right rs, rs2;
    MT_KR(mp_recv_right_alloc(&reply), KERN_SUCCESS);
    MT_KR(mp_send_right_make(reply, &rs), KERN_SUCCESS);
    MT_KR(mp_send_right_make(reply, &rs2), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_moved_reply(&f.b, &rs), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_builder_set_copied_reply(&f.b, rs2), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_EQ(mpt_refs(reply.name, MACH_PORT_RIGHT_SEND), 1);
    for (int i = 0; i < 2; i++) {
        mp_msg_parser p;
        mp_msg_header h;
        MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
        MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
        MT_EQ(h.reply.kind, MP_ANY_SEND_SEND);
        mp_msg_parser_drop(&p);
        (void)mp_any_send_right_drop(&h.reply);
    }
    MT_EQ(mpt_refs(reply.name, MACH_PORT_RIGHT_SEND), 1);
    (void)mp_send_right_drop(&rs2);
    (void)mp_recv_right_drop(&reply);
    fx_done(&f);
}

/* The crate's test_ool_data_ref and test_ool_data_owned: data across page boundaries. */
static void fill_reference(uint8_t *ref, size_t n, size_t lo, size_t hi)
{
    memset(ref, 0xAA, n);
    memset(ref + lo, 0x55, hi - lo);
}

MPT_TEST(borrowed_ool_data_crossing_pages_arrives_as_a_snapshot)
{
    size_t ps = (size_t)vm_page_size;
    size_t n = 3 * ps;
    uint8_t *ref = malloc(n), *expect = malloc(n);
    MT_REQUIRE(ref != NULL && expect != NULL);
    fill_reference(ref, n, 315, 1337 + 2 * ps);
    memcpy(expect, ref, n);
    size_t lo = 315, slen = 1337 + 2 * ps - 315;

    fixture f;
    fx_init(&f);
    MT_KR(mp_msg_builder_append_ool(&f.b, ref + lo, slen, MP_COPY_VIRTUAL), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    memset(ref, 0x11, n); /* the sender's later writes must not show through */
    mp_msg_parser p;
    mp_msg_desc d;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_OOL);
    MT_EQ(d.ool.size, slen);
    MT_CHECK(d.ool.size == slen && memcmp(d.ool.data, expect + lo, slen) == 0);
    MT_EQ(mp_msg_parser_descriptors_left(&p), 0);
    mp_msg_desc_drop(&d);
    mp_msg_parser_drop(&p);
    fx_done(&f);
    free(ref);
    free(expect);
}

MPT_TEST(owned_ool_data_crossing_pages_moves_to_the_receiver)
{
    size_t ps = (size_t)vm_page_size;
    size_t n = 3 * ps;
    uint8_t *ref = malloc(n);
    MT_REQUIRE(ref != NULL);
    fill_reference(ref, n, 315, 1337 + 2 * ps);
    mp_ool_vec v;
    MT_KR(mp_ool_vec_from_bytes(ref, n, 0, &v), KERN_SUCCESS);
    mp_ool_buf ob = mp_ool_vec_into_buf(&v);

    fixture f;
    fx_init(&f);
    MT_KR(mp_msg_builder_append_ool_buf(&f.b, &ob, MP_COPY_VIRTUAL), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    mp_msg_desc d;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_OOL);
    MT_CHECK(d.ool.size == n && memcmp(d.ool.data, ref, n) == 0);
    mp_msg_desc_drop(&d);
    mp_msg_parser_drop(&p);
    fx_done(&f);
    free(ref);
}

MPT_TEST(physical_copy_ool_and_empty_ool_arrive)
{
    fixture f;
    fx_init(&f);
    MT_KR(mp_msg_builder_append_ool(&f.b, "physical", 8, MP_COPY_PHYSICAL), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool(&f.b, NULL, 0, MP_COPY_VIRTUAL), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    mp_msg_desc d;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_CHECK(d.kind == MP_DESC_OOL && d.ool.size == 8 && memcmp(d.ool.data, "physical", 8) == 0);
    mp_msg_desc_drop(&d);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_CHECK(d.kind == MP_DESC_OOL && d.ool.size == 0);
    mp_msg_parser_drop(&p);
    fx_done(&f);
}

MPT_TEST(ool_ports_arrive_as_an_owned_array)
{
    fixture f;
    fx_init(&f);
    mp_recv_right a, b;
    MT_KR(mp_recv_right_alloc(&a), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&b), KERN_SUCCESS);
    mp_send_right sends[2];
    MT_KR(mp_send_right_make(a, &sends[0]), KERN_SUCCESS);
    MT_KR(mp_send_right_make(b, &sends[1]), KERN_SUCCESS);
    mp_recv_right recvs[1];
    MT_KR(mp_recv_right_alloc(&recvs[0]), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_copied_sends(&f.b, sends, 2), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_moved_recvs(&f.b, recvs, 1), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_EQ(mpt_refs(a.name, MACH_PORT_RIGHT_SEND), 1);
    mp_msg_parser p;
    mp_msg_desc d;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_OOL_PORTS);
    MT_EQ(d.ports.count, 2);
    MT_EQ(d.ports.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_CHECK(d.ports.count == 2 && d.ports.names[0] == a.name && d.ports.names[1] == b.name);
    MT_EQ(mpt_refs(a.name, MACH_PORT_RIGHT_SEND), 2);
    mp_msg_desc_drop(&d);
    MT_EQ(mpt_refs(a.name, MACH_PORT_RIGHT_SEND), 1);
    /* The receive-right array is released by discard. */
    mp_msg_parser_drop(&p);
    (void)mp_send_right_drop(&sends[0]);
    (void)mp_send_right_drop(&sends[1]);
    (void)mp_recv_right_drop(&a);
    (void)mp_recv_right_drop(&b);
    fx_done(&f);
}

MPT_TEST(guarded_receive_right_arrives_guarded_by_the_receive_buffer)
{
    fixture f;
    fx_init(&f);
    mp_construct_options o = {.flags = MP_CONSTRUCT_GUARD, .context = 0x600d};
    mp_recv_right g;
    MT_KR(mp_recv_right_construct(&o, &g, NULL), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_guarded_recv(&f.b, &g, false), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    mp_msg_desc d;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_GUARDED_RECV);
    MT_EQ(d.recv.guard, (uint64_t)(uintptr_t)f.buf.msg);
    mp_port_status st;
    MT_KR(mp_recv_right_status(d.recv, &st), KERN_SUCCESS);
    MT_CHECK(st.flags & MACH_PORT_STATUS_FLAG_GUARDED);
    mp_msg_desc_drop(&d);
    mp_msg_parser_drop(&p);
    fx_done(&f);
}

MPT_TEST(unread_descriptors_are_released_by_discard)
{
    fixture f;
    fx_init(&f);
    mp_recv_right other;
    mp_send_once_right so;
    MT_KR(mp_recv_right_alloc(&other), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(f.recv, &so), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_recv(&f.b, &other), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_send_once(&f.b, &so), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_copied_send(&f.b, f.send), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool(&f.b, "abc", 3, MP_COPY_VIRTUAL), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    mp_msg_parser_drop(&p);
    /* The released send-once right came back as a send-once notification. */
    MT_KR(mp_recv(f.recv, &f.buf, &poll_opts, &p), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_id(&p), MACH_NOTIFY_SEND_ONCE);
    mp_msg_parser_drop(&p);
    mp_port_status st;
    MT_KR(mp_recv_right_status(f.recv, &st), KERN_SUCCESS);
    MT_EQ(st.sorights, 0);
    fx_done(&f);
}

MPT_TEST(send_any_with_a_send_right_consumes_it)
{
    fixture f;
    fx_init(&f);
    mp_send_right extra;
    MT_KR(mp_send_right_copy(f.send, &extra), KERN_SUCCESS);
    mp_any_send_right any = mp_any_send_right_from_send(&extra);
    MT_EQ(mpt_refs(f.recv.name, MACH_PORT_RIGHT_SEND), 2);
    MT_KR(mp_send_any(&any, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_CHECK(mp_any_send_right_is_null(any));
    MT_EQ(mpt_refs(f.recv.name, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(mpt_queued(f.recv), 1);
    fx_done(&f);
}

MPT_TEST(send_any_to_a_dead_port_releases_the_destination)
{
    fixture f;
    fx_init(&f);
    mp_send_right extra;
    MT_KR(mp_send_right_copy(f.send, &extra), KERN_SUCCESS);
    (void)mp_recv_right_drop(&f.recv);
    mp_any_send_right any = mp_any_send_right_from_send(&extra);
    MT_KR(mp_send_any(&any, &f.b, MP_TIMEOUT_NONE), MACH_SEND_INVALID_DEST);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_DEAD_NAME), 1);
    fx_done(&f);
}

MPT_TEST(moved_reply_any_arrives_with_its_kind)
{
    fixture f;
    fx_init(&f);
    mp_recv_right reply;
    mp_send_once_right so;
    MT_KR(mp_recv_right_alloc(&reply), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(reply, &so), KERN_SUCCESS);
    mp_any_send_right any = mp_any_send_right_from_send_once(&so);
    MT_KR(mp_msg_builder_set_moved_reply_any(&f.b, &any), KERN_SUCCESS);
    MT_CHECK(mp_any_send_right_is_null(any));
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    mp_msg_header h;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.reply.kind, MP_ANY_SEND_ONCE);
    mp_msg_parser_drop(&p);
    (void)mp_any_send_right_drop(&h.reply);
    (void)mp_recv_right_drop(&reply);
    fx_done(&f);
}

MPT_TEST(a_plain_port_as_voucher_is_refused_and_released)
{
    fixture f;
    fx_init(&f);
    mp_recv_right other;
    mp_send_right v;
    MT_KR(mp_recv_right_alloc(&other), KERN_SUCCESS);
    MT_KR(mp_send_right_make(other, &v), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_moved_voucher(&f.b, &v), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_SEND_INVALID_VOUCHER);
    MT_EQ(mpt_refs(other.name, MACH_PORT_RIGHT_SEND), 0);
    (void)mp_recv_right_drop(&other);
    fx_done(&f);
}

/* ---- error paths ------------------------------------------------------------------------- */

MPT_TEST(send_to_a_dead_port_fails_and_releases_the_moved_rights)
{
    fixture f;
    fx_init(&f);
    mp_recv_right other;
    mp_send_right os;
    MT_KR(mp_recv_right_alloc(&other), KERN_SUCCESS);
    MT_KR(mp_send_right_make(other, &os), KERN_SUCCESS);
    (void)mp_recv_right_drop(&f.recv);
    MT_KR(mp_msg_builder_append_moved_send(&f.b, &os), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_SEND_INVALID_DEST);
    MT_EQ(mpt_refs(other.name, MACH_PORT_RIGHT_SEND), 0);
    MT_EQ(mpt_type(other.name), MACH_PORT_TYPE_RECEIVE);
    (void)mp_recv_right_drop(&other);
    fx_done(&f); /* drops the dead name */
}

MPT_TEST(send_once_to_a_dead_port_consumes_the_send_once_right)
{
    fixture f;
    fx_init(&f);
    mp_send_once_right so;
    MT_KR(mp_send_once_right_make(f.recv, &so), KERN_SUCCESS);
    (void)mp_recv_right_drop(&f.recv);
    mach_msg_return_t mr = mp_send_once(&so, &f.b, MP_TIMEOUT_NONE);
    MT_CHECK(mr == MACH_MSG_SUCCESS || mr == MACH_SEND_INVALID_DEST);
    MT_CHECK(mp_send_once_right_is_null(so));
    fx_done(&f);
}

MPT_TEST(full_queue_with_timeout_hands_rights_back_and_they_are_released)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_QLIMIT, .qlimit = 1};
    fixture f;
    fx_init(&f);
    (void)mp_send_right_drop(&f.send);
    (void)mp_recv_right_drop(&f.recv);
    MT_KR(mp_recv_right_construct(&o, &f.recv, NULL), KERN_SUCCESS);
    MT_KR(mp_send_right_make(f.recv, &f.send), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, 0), MACH_MSG_SUCCESS);

    mp_recv_right other, reply;
    mp_send_right os;
    MT_KR(mp_recv_right_alloc(&other), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&reply), KERN_SUCCESS);
    MT_KR(mp_send_right_make(other, &os), KERN_SUCCESS);
    mp_ool_vec v;
    MT_KR(mp_ool_vec_from_bytes("page", 4, 0, &v), KERN_SUCCESS);
    mp_ool_buf ob = mp_ool_vec_into_buf(&v);
    mp_recv_right moved;
    MT_KR(mp_recv_right_alloc(&moved), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_made_reply_once(&f.b, reply), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_send(&f.b, &os), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_recv(&f.b, &moved), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_buf(&f.b, &ob, MP_COPY_VIRTUAL), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool(&f.b, "borrowed", 8, MP_COPY_PHYSICAL), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, 10), MACH_SEND_TIMED_OUT);
    MT_EQ(mpt_refs(other.name, MACH_PORT_RIGHT_SEND), 0);
    /* The reply right handed back was released: a send-once notification on `reply`. */
    MT_EQ(mpt_queued(reply), 1);
    MT_EQ(mpt_queued(f.recv), 1);
    (void)mp_recv_right_drop(&other);
    (void)mp_recv_right_drop(&reply);
    fx_done(&f);
}

MPT_TEST(receive_with_a_zero_timeout_on_an_empty_queue_times_out)
{
    fixture f;
    fx_init(&f);
    mp_msg_parser p;
    MT_KR(mp_recv(f.recv, &f.buf, &poll_opts, &p), MACH_RCV_TIMED_OUT);
    mp_msg_parser_drop(&p);
    mp_recv_options o = {.flags = MP_RECV_TIMEOUT, .timeout_ms = 20};
    MT_KR(mp_recv(f.recv, &f.buf, &o, &p), MACH_RCV_TIMED_OUT);
    fx_done(&f);
}

MPT_TEST(receive_on_a_null_or_send_only_name_is_invalid_name)
{
    fixture f;
    fx_init(&f);
    mp_msg_parser p;
    MT_KR(mp_recv(MP_RECV_RIGHT_NULL, &f.buf, &poll_opts, &p), MACH_RCV_INVALID_NAME);
    mp_send_once_right so;
    MT_KR(mp_send_once_right_make(f.recv, &so), KERN_SUCCESS);
    MT_KR(mp_recv(mp_recv_right_from_name(so.name), &f.buf, &poll_opts, &p), MACH_RCV_INVALID_NAME);
    (void)mp_send_once_right_drop(&so);
    fx_done(&f);
}

MPT_TEST(too_large_message_without_grow_is_destroyed_and_reported)
{
    fixture f;
    fx_init(&f);
    static uint8_t big[8192];
    mp_recv_right other;
    MT_KR(mp_recv_right_alloc(&other), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_recv(&f.b, &other), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_inline(&f.b, big, sizeof big), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_buffer small;
    MT_KR(mp_msg_buffer_init(&small, 256), KERN_SUCCESS);
    mp_msg_parser p;
    MT_KR(mp_recv(f.recv, &small, &poll_opts, &p), MACH_RCV_TOO_LARGE);
    MT_EQ(mpt_queued(f.recv), 0);
    mp_msg_buffer_drop(&small);
    fx_done(&f);
}

MPT_TEST(too_large_message_with_grow_is_received_in_a_bigger_buffer)
{
    fixture f;
    fx_init(&f);
    static uint8_t big[20000];
    memset(big, 7, sizeof big);
    MT_KR(mp_msg_builder_append_inline(&f.b, big, sizeof big), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_buffer small;
    MT_KR(mp_msg_buffer_init(&small, 64), KERN_SUCCESS);
    mp_msg_parser p;
    mp_recv_options o = {.flags = MP_RECV_GROW | MP_RECV_TIMEOUT, .timeout_ms = 0};
    MT_KR(mp_recv(f.recv, &small, &o, &p), MACH_MSG_SUCCESS);
    MT_CHECK(mp_msg_buffer_capacity(&small) >= 24 + sizeof big);
    const void *body;
    size_t len;
    MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_MSG_SUCCESS);
    MT_EQ(len, sizeof big);
    mp_msg_parser_drop(&p);
    mp_msg_buffer_drop(&small);
    fx_done(&f);
}

#if defined(__linux__)
MPT_TEST(a_growing_receive_gives_up_after_sixteen_sizes_when_the_message_keeps_growing)
{
    fixture f;
    fx_init(&f);
    mp_msg_parser p;
    mp_recv_options o = {.flags = MP_RECV_GROW | MP_RECV_TIMEOUT, .timeout_ms = 0};
    grow_race_receives = 0;
    grow_race_armed = 1;
    mach_msg_return_t mr = mp_recv(f.recv, &f.buf, &o, &p);
    grow_race_armed = 0;
    MT_KR(mr, MACH_RCV_TOO_LARGE);
    MT_EQ(grow_race_receives, 16);
    MT_CHECK(mp_msg_buffer_capacity(&f.buf) > 4096); /* it did grow, fifteen times */
    fx_done(&f);
}
#endif

MPT_TEST(inline_data_is_padded_to_four_bytes_when_sent)
{
    fixture f;
    fx_init(&f);
    MT_KR(mp_msg_builder_append_inline(&f.b, "abcde", 5), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    const void *body;
    size_t len;
    MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_MSG_SUCCESS);
    MT_EQ(len, 8);
    mp_msg_parser_drop(&p);
    fx_done(&f);
}

MPT_TEST(builder_error_is_reported_by_send_without_sending)
{
    fixture f;
    fx_init(&f);
    mp_recv_right other;
    MT_KR(mp_recv_right_alloc(&other), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_recv(&f.b, &other), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool(&f.b, "x", 1, (mp_copy_kind)9), KERN_INVALID_ARGUMENT);
    /* Issue 12 item 7: the send reports it in its own domain, named and classified. */
    mach_msg_return_t mr = mp_send(f.send, &f.b, MP_TIMEOUT_NONE);
    MT_EQ(mr, MACH_SEND_INVALID_DATA);
    MT_EQ(mp_send_error_kind_of(mr), MP_SEND_INVALID_DATA);
    MT_EQ(mpt_queued(f.recv), 0);
    MT_EQ(mp_msg_builder_error(&f.b), KERN_SUCCESS); /* reset for the next message */
    fx_done(&f);
}

MPT_TEST(trailer_carries_seqno_audit_and_context)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_CONTEXT, .context = 0xabcdef};
    fixture f;
    fx_init(&f);
    (void)mp_send_right_drop(&f.send);
    (void)mp_recv_right_drop(&f.recv);
    MT_KR(mp_recv_right_construct(&o, &f.recv, NULL), KERN_SUCCESS);
    MT_KR(mp_send_right_make(f.recv, &f.send), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    mp_msg_trailer tr;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    mp_msg_parser_drop(&p);
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_trailer(&p, &tr), MACH_MSG_SUCCESS);
    MT_CHECK(tr.has_context && tr.has_audit && tr.has_seqno);
    MT_EQ(tr.seqno, 1);
    MT_EQ(tr.context, 0xabcdef);
    MT_EQ(mp_audit_token_pid(&tr.audit), (uint32_t)getpid());
    MT_EQ(mp_audit_token_euid(&tr.audit), (uint32_t)geteuid());
    mp_msg_parser_drop(&p);
    mp_recv_options ro = {.flags = MP_RECV_TRAILER, .trailer = MACH_RCV_TRAILER_NULL};
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_KR(mp_recv(f.recv, &f.buf, &ro, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_trailer(&p, &tr), MACH_MSG_SUCCESS);
    MT_EQ(tr.size, 8);
    MT_CHECK(!tr.has_seqno);
    mp_msg_parser_drop(&p);
    fx_done(&f);
}

/* ---- port sets ------------------------------------------------------------------------------- */

MPT_TEST(receive_from_a_port_set_names_the_member)
{
    fixture f;
    fx_init(&f);
    mp_port_set set;
    MT_KR(mp_port_set_alloc(&set), KERN_SUCCESS);
    MT_KR(mp_port_set_insert(set, f.recv), KERN_SUCCESS);
    mp_msg_parser p;
    MT_KR(mp_recv_set(set, &f.buf, &poll_opts, &p), MACH_RCV_TIMED_OUT);
    mp_msg_builder_set_id(&f.b, 77);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_KR(mp_recv_set(set, &f.buf, &poll_opts, &p), MACH_MSG_SUCCESS);
    mp_msg_header h;
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.local_port, f.recv.name);
    MT_EQ(h.id, 77);
    mp_msg_parser_drop(&p);
    (void)mp_port_set_drop(&set);
    fx_done(&f);
}

/* ---- RPC and server ----------------------------------------------------------------------------
 */

typedef struct server_state {
    mp_recv_right port;
    int requests;
} server_state;

static mp_server_action echo(void *ctx, mp_msg_parser *req, mp_msg_header *h, mp_msg_builder *reply)
{
    server_state *s = ctx;
    const void *body;
    size_t len;
    s->requests++;
    if (h->id == 999)
        return MP_SERVER_STOP;
    if (mp_msg_parser_body(req, &body, &len) == MACH_MSG_SUCCESS)
        (void)mp_msg_builder_append_inline(reply, body, len);
    return h->id == 998 ? MP_SERVER_REPLY_AND_STOP : MP_SERVER_REPLY;
}

static void *server_main(void *arg)
{
    server_state *s = arg;
    mach_msg_return_t mr = mp_server_run(s->port, echo, s, NULL);
    return (void *)(intptr_t)mr;
}

MPT_TEST(rpc_to_a_server_thread_gets_the_echoed_reply)
{
    server_state st = {MP_RECV_RIGHT_NULL, 0};
    MT_KR(mp_recv_right_alloc(&st.port), KERN_SUCCESS);
    mp_send_right to;
    MT_KR(mp_send_right_make(st.port, &to), KERN_SUCCESS);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, server_main, &st) == 0);

    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_msg_parser p;
    MT_KR(mp_msg_buffer_init(&buf, 256), KERN_SUCCESS);
    for (int i = 0; i < 3; i++) {
        MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
        mp_msg_builder_set_id(&b, 500 + i);
        MT_KR(mp_msg_builder_append_inline(&b, "ping", 4), KERN_SUCCESS);
        MT_KR(mp_rpc(to, &b, MP_RECV_RIGHT_NULL, NULL, &p), MACH_MSG_SUCCESS);
        mp_msg_header h;
        const void *body;
        size_t len;
        MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
        MT_EQ(h.id, 600 + i);
        MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_MSG_SUCCESS);
        MT_CHECK(len == 4 && memcmp(body, "ping", 4) == 0);
        mp_msg_parser_drop(&p);
    }
    /* With a caller-owned reply port. */
    mp_recv_right reply;
    MT_KR(mp_recv_right_alloc(&reply), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    mp_msg_builder_set_id(&b, 998);
    MT_KR(mp_rpc(to, &b, reply, NULL, &p), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_id(&p), 1098);
    mp_msg_parser_drop(&p);
    void *ret;
    pthread_join(t, &ret);
    MT_EQ((intptr_t)ret, MACH_MSG_SUCCESS);
    MT_EQ(st.requests, 4);
    (void)mp_recv_right_drop(&reply);
    mp_msg_buffer_drop(&buf);
    (void)mp_send_right_drop(&to);
    (void)mp_recv_right_drop(&st.port);
}

MPT_TEST(rpc_times_out_when_nobody_answers_and_leaks_nothing)
{
    fixture f;
    fx_init(&f);
    mp_msg_parser p;
    mp_recv_options o = {.flags = MP_RECV_TIMEOUT, .timeout_ms = 20};
    MT_KR(mp_rpc(f.send, &f.b, MP_RECV_RIGHT_NULL, &o, &p), MACH_RCV_TIMED_OUT);
    MT_EQ(mpt_queued(f.recv), 1);
    /* The queued request holds a send-once right to the dead temporary reply port. */
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    mp_msg_parser_drop(&p);
    fx_done(&f);
}

MPT_TEST(rpc_to_a_dead_port_is_a_send_error)
{
    fixture f;
    fx_init(&f);
    (void)mp_recv_right_drop(&f.recv);
    mp_msg_parser p;
    MT_KR(mp_rpc(f.send, &f.b, MP_RECV_RIGHT_NULL, NULL, &p), MACH_SEND_INVALID_DEST);
    fx_done(&f);
}

MPT_TEST(server_stops_on_request_and_drops_unanswered_reply_rights)
{
    server_state st = {MP_RECV_RIGHT_NULL, 0};
    MT_KR(mp_recv_right_alloc(&st.port), KERN_SUCCESS);
    mp_send_right to;
    MT_KR(mp_send_right_make(st.port, &to), KERN_SUCCESS);
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_recv_right reply;
    MT_KR(mp_recv_right_alloc(&reply), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    mp_msg_builder_set_id(&b, 999);
    MT_KR(mp_msg_builder_set_made_reply_once(&b, reply), KERN_SUCCESS);
    MT_KR(mp_send(to, &b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_KR(mp_server_run(st.port, echo, &st, NULL), MACH_MSG_SUCCESS);
    MT_EQ(st.requests, 1);
    /* The dropped send-once right produced a send-once notification on `reply`. */
    mp_msg_parser p;
    MT_KR(mp_recv(reply, &buf, &poll_opts, &p), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_id(&p), MACH_NOTIFY_SEND_ONCE);
    mp_msg_parser_drop(&p);
    mp_server_options so = {.recv = {.flags = MP_RECV_TIMEOUT, .timeout_ms = 0}};
    MT_KR(mp_server_run(st.port, echo, &st, &so), MACH_RCV_TIMED_OUT);
    mp_msg_buffer_drop(&buf);
    (void)mp_recv_right_drop(&reply);
    (void)mp_send_right_drop(&to);
    (void)mp_recv_right_drop(&st.port);
}

static mp_server_action big_reply(void *ctx, mp_msg_parser *req, mp_msg_header *h,
                                  mp_msg_builder *reply)
{
    static uint8_t big[10000];
    (void)ctx;
    (void)req;
    memset(big, 0x42, sizeof big);
    (void)mp_msg_builder_append_inline(reply, big, sizeof big);
    return h->id == 1 ? MP_SERVER_REPLY_AND_STOP : MP_SERVER_REPLY;
}

static void *big_server_main(void *arg)
{
    mp_port_set *set = arg;
    return (void *)(intptr_t)mp_server_run_set(*set, big_reply, NULL, NULL);
}

MPT_TEST(rpc_grows_the_buffer_for_a_large_reply_from_a_port_set_server)
{
    mp_port_set set;
    mp_recv_right a, b;
    mp_send_right to_a, to_b;
    MT_KR(mp_port_set_alloc(&set), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&a), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&b), KERN_SUCCESS);
    MT_KR(mp_port_set_insert(set, a), KERN_SUCCESS);
    MT_KR(mp_port_set_insert(set, b), KERN_SUCCESS);
    MT_KR(mp_send_right_make(a, &to_a), KERN_SUCCESS);
    MT_KR(mp_send_right_make(b, &to_b), KERN_SUCCESS);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, big_server_main, &set) == 0);

    mp_msg_buffer buf;
    mp_msg_builder bl;
    mp_msg_parser p;
    const void *body;
    size_t len;
    mp_recv_options grow = {.flags = MP_RECV_GROW};
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    (void)mp_msg_builder_init(&bl, &buf);
    mp_msg_builder_set_id(&bl, 0);
    MT_KR(mp_rpc(to_a, &bl, MP_RECV_RIGHT_NULL, &grow, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_MSG_SUCCESS);
    MT_EQ(len, 10000);
    mp_msg_parser_drop(&p);
    (void)mp_msg_builder_init(&bl, &buf);
    mp_msg_builder_set_id(&bl, 1);
    MT_KR(mp_rpc(to_b, &bl, MP_RECV_RIGHT_NULL, &grow, &p), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_id(&p), 101);
    mp_msg_parser_drop(&p);
    void *ret;
    pthread_join(t, &ret);
    MT_EQ((intptr_t)ret, MACH_MSG_SUCCESS);
    mp_msg_buffer_drop(&buf);
    (void)mp_send_right_drop(&to_a);
    (void)mp_send_right_drop(&to_b);
    (void)mp_recv_right_drop(&a);
    (void)mp_recv_right_drop(&b);
    (void)mp_port_set_drop(&set);
}

MPT_TEST(rpc_without_grow_reports_a_too_large_reply)
{
    mp_port_set set;
    mp_recv_right a;
    mp_send_right to_a;
    MT_KR(mp_port_set_alloc(&set), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&a), KERN_SUCCESS);
    MT_KR(mp_port_set_insert(set, a), KERN_SUCCESS);
    MT_KR(mp_send_right_make(a, &to_a), KERN_SUCCESS);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, big_server_main, &set) == 0);
    mp_msg_buffer buf;
    mp_msg_builder bl;
    mp_msg_parser p;
    MT_KR(mp_msg_buffer_init(&buf, 256), KERN_SUCCESS);
    (void)mp_msg_builder_init(&bl, &buf);
    mp_msg_builder_set_id(&bl, 1);
    MT_KR(mp_rpc(to_a, &bl, MP_RECV_RIGHT_NULL, NULL, &p), MACH_RCV_TOO_LARGE);
    MT_EQ(mp_msg_buffer_capacity(&buf), 256);
    pthread_join(t, NULL);
    mp_msg_buffer_drop(&buf);
    (void)mp_send_right_drop(&to_a);
    (void)mp_recv_right_drop(&a);
    (void)mp_port_set_drop(&set);
}

MPT_TEST(timed_out_send_releases_handed_back_port_arrays_and_guarded_rights)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_QLIMIT, .qlimit = 1};
    mp_construct_options go = {.flags = MP_CONSTRUCT_GUARD, .context = 0x6a6a};
    fixture f;
    fx_init(&f);
    (void)mp_send_right_drop(&f.send);
    (void)mp_recv_right_drop(&f.recv);
    MT_KR(mp_recv_right_construct(&o, &f.recv, NULL), KERN_SUCCESS);
    MT_KR(mp_send_right_make(f.recv, &f.send), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, 0), MACH_MSG_SUCCESS);

    mp_recv_right other, guarded, recvs[2];
    mp_send_right sends[2];
    mp_send_once_right onces[2];
    MT_KR(mp_recv_right_alloc(&other), KERN_SUCCESS);
    MT_KR(mp_recv_right_construct(&go, &guarded, NULL), KERN_SUCCESS);
    for (int i = 0; i < 2; i++) {
        MT_KR(mp_send_right_make(other, &sends[i]), KERN_SUCCESS);
        MT_KR(mp_send_once_right_make(other, &onces[i]), KERN_SUCCESS);
        MT_KR(mp_recv_right_alloc(&recvs[i]), KERN_SUCCESS);
    }
    MT_KR(mp_msg_builder_append_ool_copied_sends(&f.b, sends, 2), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_moved_send_onces(&f.b, onces, 2), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_moved_recvs(&f.b, recvs, 2), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_guarded_recv(&f.b, &guarded, false), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, 0), MACH_SEND_TIMED_OUT);
    MT_EQ(mpt_refs(other.name, MACH_PORT_RIGHT_SEND), 2); /* the copies were released */
    (void)mp_send_right_drop(&sends[0]);
    (void)mp_send_right_drop(&sends[1]);
    (void)mp_recv_right_drop(&other);
    fx_done(&f);
}

MPT_TEST(send_failing_in_the_body_has_consumed_the_header_rights)
{
    fixture f;
    fx_init(&f);
    mp_recv_right reply;
    mp_send_right rs;
    MT_KR(mp_recv_right_alloc(&reply), KERN_SUCCESS);
    MT_KR(mp_send_right_make(reply, &rs), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_moved_reply(&f.b, &rs), KERN_SUCCESS);
    /* A name the caller does not hold: the kernel refuses it after taking the header. */
    mp_send_right bogus = mp_send_right_from_name(reply.name + 0x400);
    MT_KR(mp_msg_builder_append_moved_send(&f.b, &bogus), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_SEND_INVALID_RIGHT);
    MT_EQ(mpt_refs(reply.name, MACH_PORT_RIGHT_SEND), 0);
    MT_EQ(mpt_queued(f.recv), 0);
    (void)mp_recv_right_drop(&reply);
    fx_done(&f);
}

typedef struct client_arg {
    mp_send_right to;
    int id;
    int ok;
} client_arg;

static void *client_main(void *arg)
{
    client_arg *c = arg;
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_msg_parser p;
    if (mp_msg_buffer_init(&buf, 128) != KERN_SUCCESS)
        return NULL;
    for (int i = 0; i < 50; i++) {
        int v = c->id * 1000 + i;
        (void)mp_msg_builder_init(&b, &buf);
        mp_msg_builder_set_id(&b, 7);
        (void)mp_msg_builder_append_inline(&b, &v, sizeof v);
        if (mp_rpc(c->to, &b, MP_RECV_RIGHT_NULL, NULL, &p) != MACH_MSG_SUCCESS)
            break;
        const void *body;
        size_t len;
        int back = -1;
        if (mp_msg_parser_body(&p, &body, &len) == MACH_MSG_SUCCESS && len == sizeof back)
            memcpy(&back, body, sizeof back);
        mp_msg_parser_drop(&p);
        if (back != v)
            break;
        c->ok++;
    }
    mp_msg_buffer_drop(&buf);
    return NULL;
}

MPT_TEST(concurrent_rpc_clients_each_get_their_own_replies)
{
    enum { CLIENTS = 4 };
    server_state st = {MP_RECV_RIGHT_NULL, 0};
    MT_KR(mp_recv_right_alloc(&st.port), KERN_SUCCESS);
    mp_send_right to;
    MT_KR(mp_send_right_make(st.port, &to), KERN_SUCCESS);
    pthread_t server, clients[CLIENTS];
    client_arg args[CLIENTS];
    MT_REQUIRE(pthread_create(&server, NULL, server_main, &st) == 0);
    for (int i = 0; i < CLIENTS; i++) {
        args[i] = (client_arg){to, i, 0};
        MT_REQUIRE(pthread_create(&clients[i], NULL, client_main, &args[i]) == 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(clients[i], NULL);
        MT_EQ(args[i].ok, 50);
    }
    mp_msg_buffer buf;
    mp_msg_builder b;
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    (void)mp_msg_builder_init(&b, &buf);
    mp_msg_builder_set_id(&b, 999);
    MT_KR(mp_send(to, &b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    pthread_join(server, NULL);
    MT_EQ(st.requests, CLIENTS * 50 + 1);
    mp_msg_buffer_drop(&buf);
    (void)mp_send_right_drop(&to);
    (void)mp_recv_right_drop(&st.port);
}

MPT_TEST(receive_timeout_is_a_deadline_even_with_grow)
{
    fixture f;
    fx_init(&f);
    mp_msg_parser p;
    mp_recv_options o = {.flags = MP_RECV_TIMEOUT | MP_RECV_GROW, .timeout_ms = 30};
    struct timespec a, z;
    clock_gettime(CLOCK_MONOTONIC, &a);
    MT_KR(mp_recv(f.recv, &f.buf, &o, &p), MACH_RCV_TIMED_OUT);
    clock_gettime(CLOCK_MONOTONIC, &z);
    long ms = (long)(z.tv_sec - a.tv_sec) * 1000 + (z.tv_nsec - a.tv_nsec) / 1000000;
    MT_CHECK(ms >= 25 && ms < 2000);
    fx_done(&f);
}

/* ---- issue 12 item 4: a buffer reused under a live parser ----------------------------------- */

MPT_TEST(parser_over_a_buffer_grown_by_a_second_receive_is_stale_and_touches_nothing)
{
    fixture f;
    fx_init(&f);
    mp_msg_buffer small;
    MT_KR(mp_msg_buffer_init(&small, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_inline(&f.b, "first", 5), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    static const uint8_t big[2048];
    MT_KR(mp_msg_builder_append_inline(&f.b, big, sizeof big), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);

    mp_msg_parser p1, p2;
    mp_recv_options grow = {.flags = MP_RECV_GROW};
    MT_KR(mp_recv(f.recv, &small, &grow, &p1), MACH_MSG_SUCCESS);
    void *before = mp_msg_buffer_bytes(&small);
    MT_KR(mp_recv(f.recv, &small, &grow, &p2), MACH_MSG_SUCCESS); /* grows: the bytes move */
    MT_CHECK(mp_msg_buffer_bytes(&small) != before || mp_msg_buffer_capacity(&small) >= 2048);

    /* Every use of the stale parser is refused; its drop reads nothing (ASan, valgrind). */
    mp_msg_header h;
    mp_msg_desc d;
    const void *body;
    size_t len;
    mp_msg_trailer tr;
    mp_notification n;
    MT_KR(mp_msg_parser_header(&p1, &h), MACH_RCV_INVALID_DATA);
    MT_KR(mp_msg_parser_next(&p1, &d), MACH_RCV_INVALID_DATA);
    MT_KR(mp_msg_parser_body(&p1, &body, &len), MACH_RCV_INVALID_DATA);
    MT_KR(mp_msg_parser_trailer(&p1, &tr), MACH_RCV_INVALID_DATA);
    MT_KR(mp_msg_parser_notification(&p1, &n), MACH_RCV_INVALID_DATA);
    MT_EQ(mp_msg_parser_id(&p1), 0);
    MT_EQ(mp_msg_parser_descriptors_left(&p1), 0);
    mp_msg_parser_drop(&p1);
    mp_msg_parser_drop(&p1);

    MT_KR(mp_msg_parser_body(&p2, &body, &len), MACH_MSG_SUCCESS); /* the new one is fine */
    MT_EQ(len, sizeof big);
    mp_msg_parser_drop(&p2);
    mp_msg_buffer_drop(&small);
    fx_done(&f);
}

MPT_TEST(parser_over_a_buffer_reused_by_a_builder_or_dropped_is_stale)
{
    fixture f;
    fx_init(&f);
    mp_msg_parser p;
    const void *body;
    size_t len;
    MT_KR(mp_msg_builder_append_inline(&f.b, "abcd", 4), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_builder_init(&f.b, &f.buf), KERN_SUCCESS);
    MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_RCV_INVALID_DATA);
    mp_msg_parser_drop(&p);

    mp_msg_buffer other;
    MT_KR(mp_msg_buffer_init(&other, 64), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_KR(mp_recv(f.recv, &other, NULL, &p), MACH_MSG_SUCCESS);
    mp_msg_buffer_drop(&other); /* freed under the parser */
    MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_RCV_INVALID_DATA);
    mp_msg_parser_drop(&p);
    fx_done(&f);
}

/* ---- issue 12 item 10: take helpers and expect ---------------------------------------------- */

MPT_TEST(expect_takes_a_descriptor_of_the_named_kind_and_drops_any_other)
{
    fixture f;
    fx_init(&f);
    mp_recv_right moved;
    MT_KR(mp_recv_right_alloc(&moved), KERN_SUCCESS);
    mach_port_name_t moved_name = moved.name;
    MT_KR(mp_msg_builder_append_copied_send(&f.b, f.send), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_recv(&f.b, &moved), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool(&f.b, "ool", 3, MP_COPY_PHYSICAL), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);

    mp_msg_parser p;
    mp_msg_desc d;
    mp_send_right s;
    mp_recv_right r;
    mp_ool_buf ool;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_expect(&p, MP_DESC_SEND, &d), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_desc_take_recv(&d, &r), KERN_INVALID_RIGHT); /* wrong kind: nothing moves */
    MT_CHECK(mp_recv_right_is_null(r));
    MT_KR(mp_msg_desc_take_ool(&d, &ool), KERN_INVALID_ARGUMENT);
    MT_KR(mp_msg_desc_take_send(&d, &s), KERN_SUCCESS);
    MT_EQ(s.name, f.send.name);
    MT_EQ(d.kind, MP_DESC_NONE);
    MT_KR(mp_msg_desc_take_send(&d, &s), KERN_INVALID_RIGHT); /* taken already */
    MT_CHECK(mp_send_right_is_null(s));
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 2);
    /* The receive right is not what we expect: it is dropped (the port destroyed). */
    MT_KR(mp_msg_parser_expect(&p, MP_DESC_OOL, &d), MACH_RCV_INVALID_TYPE);
    MT_EQ(d.kind, MP_DESC_NONE);
    MT_EQ(mpt_type(moved_name), 0);
    MT_KR(mp_msg_parser_expect(&p, MP_DESC_OOL, &d), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_desc_take_ool(&d, &ool), KERN_SUCCESS);
    MT_CHECK(ool.size == 3 && memcmp(ool.data, "ool", 3) == 0);
    mp_ool_buf_drop(&ool);
    MT_KR(mp_msg_parser_expect(&p, MP_DESC_SEND, &d), MACH_RCV_INVALID_TYPE); /* the end */
    mp_msg_parser_drop(&p);
    mp_send_right dropped = mp_send_right_from_name(f.send.name);
    (void)mp_send_right_drop(&dropped);
    fx_done(&f);
}

/* ---- issue 11: reference counts after the parser and the builder let go -------------------- */

MPT_TEST(a_right_taken_by_next_keeps_its_reference_after_the_parser_is_dropped)
{
    fixture f;
    fx_init(&f);
    MT_KR(mp_msg_builder_append_copied_send(&f.b, f.send), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_made_send_once(&f.b, f.recv), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 1); /* the kernel holds the other */

    mp_msg_parser p;
    mp_msg_desc d1, d2;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_next(&p, &d1), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_next(&p, &d2), MACH_MSG_SUCCESS);
    mp_msg_parser_drop(&p); /* must not release what next handed out */
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 2);
    MT_EQ(mpt_refs(d2.send_once.name, MACH_PORT_RIGHT_SEND_ONCE), 1);
    mp_msg_desc_drop(&d1);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 1);
    mp_msg_desc_drop(&d2);
    fx_done(&f);
}

MPT_TEST(header_rights_taken_keep_their_references_after_the_parser_is_dropped)
{
    fixture f;
    fx_init(&f);
    mp_send_right reply;
    MT_KR(mp_send_right_copy(f.send, &reply), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_moved_reply(&f.b, &reply), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 1); /* the moved one is in flight */
    mp_msg_parser p;
    mp_msg_header h;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    mp_msg_parser_drop(&p);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 2);
    (void)mp_any_send_right_drop(&h.reply);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 1);
    fx_done(&f);
}

MPT_TEST(builder_drop_releases_a_moved_reply_and_a_moved_voucher_exactly_once)
{
    fixture f;
    fx_init(&f);
    mp_send_right reply;
    mp_send_once_right once;
    MT_KR(mp_send_right_copy(f.send, &reply), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(f.recv, &once), KERN_SUCCESS);
    mach_port_name_t once_name = once.name;
    MT_KR(mp_msg_builder_set_moved_reply(&f.b, &reply), KERN_SUCCESS);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 2);
    mp_msg_builder_drop(&f.b);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 1);
    mp_msg_builder_drop(&f.b); /* twice: nothing more */
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 1);

    /* Replacing a moved reply releases the one it replaces. */
    MT_KR(mp_send_right_copy(f.send, &reply), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_moved_reply(&f.b, &reply), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_moved_reply_once(&f.b, &once), KERN_SUCCESS);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(mpt_type(once_name), MACH_PORT_TYPE_SEND_ONCE);
    mp_msg_builder_drop(&f.b);
    MT_EQ(mpt_type(once_name), 0);
    /* The send-once right's death produced a send-once notification on f.recv. */
    mp_msg_parser p;
    MT_KR(mp_recv(f.recv, &f.buf, &poll_opts, &p), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_id(&p), MACH_NOTIFY_SEND_ONCE);
    mp_msg_parser_drop(&p);
    MT_KR(mp_msg_builder_init(&f.b, &f.buf), KERN_SUCCESS);

    /* A send that fails before the kernel takes anything releases the moved reply once. */
    mp_recv_right gone;
    mp_send_right to_gone;
    MT_KR(mp_recv_right_make_pair(&gone, &to_gone), KERN_SUCCESS);
    (void)mp_recv_right_drop(&gone); /* to_gone is a dead name now */
    MT_KR(mp_send_right_copy(f.send, &reply), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_moved_reply(&f.b, &reply), KERN_SUCCESS);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 2);
    MT_KR(mp_send(to_gone, &f.b, MP_TIMEOUT_NONE), MACH_SEND_INVALID_DEST);
    MT_EQ(mpt_refs(f.send.name, MACH_PORT_RIGHT_SEND), 1);
    (void)mp_send_right_drop(&to_gone);
    fx_done(&f);
}

/* ---- issue 12 item 5: the exact length of what the sender appended --------------------------- */

MPT_TEST(counted_data_arrives_with_its_exact_length_where_plain_inline_data_is_padded)
{
    fixture f;
    fx_init(&f);
    MT_KR(mp_msg_builder_append_data(&f.b, "eleven byte", 11), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_data(&f.b, "", 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_data(&f.b, "four", 4), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    mp_msg_parser p;
    const void *data;
    size_t len, at = 0;
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_read_data(&p, &at, &data, &len), MACH_MSG_SUCCESS);
    MT_CHECK(len == 11 && memcmp(data, "eleven byte", 11) == 0);
    MT_EQ(at, 16);
    MT_KR(mp_msg_parser_read_data(&p, &at, &data, &len), MACH_MSG_SUCCESS);
    MT_EQ(len, 0);
    MT_KR(mp_msg_parser_read_data(&p, &at, &data, &len), MACH_MSG_SUCCESS);
    MT_CHECK(len == 4 && memcmp(data, "four", 4) == 0);
    MT_KR(mp_msg_parser_read_data(&p, &at, &data, &len), MACH_RCV_BODY_ERROR); /* the end */
    mp_msg_parser_drop(&p);

    /* A count that claims more than the message holds is refused. */
    uint32_t lie = 1000;
    MT_KR(mp_msg_builder_append_inline(&f.b, &lie, 4), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_inline(&f.b, "abcd", 4), KERN_SUCCESS);
    MT_KR(mp_send(f.send, &f.b, MP_TIMEOUT_NONE), MACH_MSG_SUCCESS);
    MT_KR(mp_recv(f.recv, &f.buf, NULL, &p), MACH_MSG_SUCCESS);
    at = 0;
    MT_KR(mp_msg_parser_read_data(&p, &at, &data, &len), MACH_RCV_BODY_ERROR);
    MT_EQ(at, 0);
    MT_CHECK(data == NULL && len == 0);
    mp_msg_parser_drop(&p);
    fx_done(&f);
}

MT_MAIN()
