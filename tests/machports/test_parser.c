/*
 * test_parser.c — the parser over hand-made buffers: well-formed messages, every
 * malformation it must reject without reading out of bounds, and what it releases.
 * No message is sent: the buffers are written by hand and carry rights the test made.
 */
#include "mpt.h"

typedef struct raw {
    _Alignas(8) uint8_t b[1024];
    size_t n;
} raw;

static void put32(raw *r, size_t off, uint32_t v)
{
    memcpy(r->b + off, &v, 4);
}
static void put64(raw *r, size_t off, uint64_t v)
{
    memcpy(r->b + off, &v, 8);
}

/* Start a message: header at 0; the caller appends the rest and then calls finish. */
static void raw_header(raw *r, mach_msg_bits_t bits, mach_port_name_t remote,
                       mach_port_name_t local, mach_msg_id_t id)
{
    memset(r, 0, sizeof *r);
    put32(r, 0, bits);
    put32(r, 8, remote);
    put32(r, 12, local);
    put32(r, 20, (uint32_t)id);
    r->n = 24;
}

static void raw_u32(raw *r, uint32_t v)
{
    put32(r, r->n, v);
    r->n += 4;
}

static void raw_port(raw *r, mach_port_name_t name, uint8_t disp)
{
    put32(r, r->n, name);
    put32(r, r->n + 4, 0);
    r->b[r->n + 8] = 0;
    r->b[r->n + 9] = 0;
    r->b[r->n + 10] = disp;
    r->b[r->n + 11] = MACH_MSG_PORT_DESCRIPTOR;
    r->n += 12;
}

static void raw_ool(raw *r, uint8_t type, uint64_t addr, uint32_t size_or_count, uint8_t disp)
{
    put64(r, r->n, addr);
    r->b[r->n + 8] = 1;
    r->b[r->n + 9] = MACH_MSG_VIRTUAL_COPY;
    r->b[r->n + 10] = disp;
    r->b[r->n + 11] = type;
    put32(r, r->n + 12, size_or_count);
    r->n += 16;
}

static void raw_guarded(raw *r, mach_port_name_t name, uint64_t ctx, uint16_t flags)
{
    put64(r, r->n, ctx);
    memcpy(r->b + r->n + 8, &flags, 2);
    r->b[r->n + 10] = MACH_MSG_TYPE_MOVE_RECEIVE;
    r->b[r->n + 11] = MACH_MSG_GUARDED_PORT_DESCRIPTOR;
    put32(r, r->n + 12, name);
    r->n += 16;
}

/* Set msgh_size to the bytes so far and append a context trailer (60 bytes). */
static void raw_finish(raw *r, uint32_t seqno, uint32_t uid, uint32_t gid, uint32_t pid,
                       uint64_t ctx)
{
    put32(r, 4, (uint32_t)r->n);
    size_t t = r->n;
    memset(r->b + t, 0, 60);
    put32(r, t, MACH_MSG_TRAILER_FORMAT_0);
    put32(r, t + 4, 60);
    put32(r, t + 8, seqno);
    put32(r, t + 12, uid);
    put32(r, t + 16, gid);
    put32(r, t + 20 + 4, uid);  /* audit euid */
    put32(r, t + 20 + 8, gid);  /* audit egid */
    put32(r, t + 20 + 20, pid); /* audit pid */
    put64(r, t + 52, ctx);
    r->n += 60;
}

static mp_send_right new_send(mp_recv_right r)
{
    mp_send_right s = MP_SEND_RIGHT_NULL;
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    return s;
}

/* ---- well-formed messages ---------------------------------------------------------------- */

MPT_TEST(parser_hands_out_every_descriptor_kind_as_an_owned_value)
{
    mp_recv_right port, moved;
    mp_construct_options go = {.flags = MP_CONSTRUCT_GUARD, .context = 0x777};
    mp_recv_right guarded;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&moved), KERN_SUCCESS);
    MT_KR(mp_recv_right_construct(&go, &guarded, NULL), KERN_SUCCESS);
    mp_send_right s = new_send(port);
    mp_send_once_right so, reply;
    MT_KR(mp_send_once_right_make(port, &so), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(port, &reply), KERN_SUCCESS);
    mp_ool_vec v;
    MT_KR(MP_OOL_VEC(&v, 9, 8, 7), KERN_SUCCESS);
    vm_address_t arr = 0;
    MT_KR(vm_allocate(mach_task_self(), &arr, 8, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    mp_send_right a0 = new_send(port), a1 = new_send(port);
    ((mach_port_name_t *)arr)[0] = a0.name;
    ((mach_port_name_t *)arr)[1] = a1.name;

    raw m;
    raw_header(&m,
               MACH_MSGH_BITS_COMPLEX |
                   MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND),
               reply.name, port.name, 4242);
    raw_u32(&m, 6);
    raw_port(&m, s.name, MACH_MSG_TYPE_PORT_SEND);
    raw_port(&m, so.name, MACH_MSG_TYPE_PORT_SEND_ONCE);
    raw_port(&m, moved.name, MACH_MSG_TYPE_PORT_RECEIVE);
    raw_ool(&m, MACH_MSG_OOL_DESCRIPTOR, (uint64_t)(uintptr_t)v.data, 3, 0);
    raw_ool(&m, MACH_MSG_OOL_PORTS_DESCRIPTOR, arr, 2, MACH_MSG_TYPE_PORT_SEND);
    raw_guarded(&m, guarded.name, guarded.guard, MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE);
    memcpy(m.b + m.n, "hello!\0\0", 8);
    m.n += 8;
    raw_finish(&m, 3, 501, 20, 77, 0xc0ffee);

    mp_msg_parser p;
    mp_msg_header h;
    mp_msg_desc d;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_id(&p), 4242);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.id, 4242);
    MT_EQ(h.local_port, port.name);
    MT_EQ(h.reply.kind, MP_ANY_SEND_ONCE);
    MT_EQ(h.reply.name, reply.name);
    MT_CHECK(mp_send_right_is_null(h.voucher));
    MT_EQ(mp_msg_parser_descriptors_left(&p), 6);

    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_SEND);
    MT_EQ(d.send.name, s.name);
    mp_msg_desc_drop(&d);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_SEND_ONCE);
    MT_EQ(d.send_once.name, so.name);
    mp_msg_desc_drop(&d);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_RECV);
    MT_EQ(d.recv.name, moved.name);
    mp_msg_desc_drop(&d);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_OOL);
    MT_EQ(d.ool.size, 3);
    MT_EQ(((uint8_t *)d.ool.data)[2], 7);
    MT_EQ(d.copy, MACH_MSG_VIRTUAL_COPY);
    mp_msg_desc_drop(&d);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_OOL_PORTS);
    MT_EQ(d.ports.count, 2);
    mp_send_right t;
    mp_recv_right wrong;
    MT_KR(mp_ool_ports_take_recv(&d.ports, 0, &wrong), KERN_INVALID_RIGHT);
    MT_KR(mp_ool_ports_take_send(&d.ports, 2, &t), KERN_INVALID_ARGUMENT);
    MT_KR(mp_ool_ports_take_send(&d.ports, 1, &t), KERN_SUCCESS);
    MT_EQ(t.name, a1.name);
    /* Issue 12 item 9: a double take is an error, never a NULL right with success. */
    mp_send_right again;
    MT_KR(mp_ool_ports_take_send(&d.ports, 1, &again), KERN_INVALID_NAME);
    MT_CHECK(mp_send_right_is_null(again));
    mp_msg_desc_drop(&d); /* releases entry 0 and the array */
    (void)mp_send_right_drop(&t);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_GUARDED_RECV);
    MT_EQ(d.recv.name, guarded.name);
    MT_EQ(d.recv.guard, 0x777);
    MT_EQ(d.recv.immovable, 1);
    mp_msg_desc_drop(&d); /* destruct with the guard */
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_NONE);

    const void *body;
    size_t len;
    MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_MSG_SUCCESS);
    MT_EQ(len, 8);
    MT_EQ(memcmp(body, "hello!", 6), 0);

    mp_msg_trailer tr;
    MT_KR(mp_msg_parser_trailer(&p, &tr), MACH_MSG_SUCCESS);
    MT_EQ(tr.size, 60);
    MT_CHECK(tr.has_seqno && tr.has_sender && tr.has_audit && tr.has_context);
    MT_EQ(tr.seqno, 3);
    MT_EQ(tr.sender.val[0], 501);
    MT_EQ(mp_audit_token_pid(&tr.audit), 77);
    MT_EQ(mp_audit_token_euid(&tr.audit), 501);
    MT_EQ(mp_audit_token_egid(&tr.audit), 20);
    MT_EQ(tr.context, 0xc0ffee);

    mp_msg_parser_drop(&p);
    mp_msg_parser_drop(&p);
    (void)mp_any_send_right_drop(&h.reply);
    /* v's pages went with the descriptor: forget them without unmapping twice. */
    v = MP_OOL_VEC_NULL;
    (void)mp_recv_right_drop(&port);
}

MPT_TEST(discarding_a_parser_releases_everything_not_taken)
{
    mp_recv_right port, moved;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&moved), KERN_SUCCESS);
    mp_send_right s = new_send(port), reply = new_send(port), voucher = new_send(port);
    mp_ool_vec v;
    MT_KR(mp_ool_vec_with_capacity(3 * (size_t)vm_page_size, &v), KERN_SUCCESS);
    vm_address_t arr = 0;
    MT_KR(vm_allocate(mach_task_self(), &arr, 4, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    mp_send_once_right so;
    MT_KR(mp_send_once_right_make(port, &so), KERN_SUCCESS);
    ((mach_port_name_t *)arr)[0] = so.name;

    raw m;
    raw_header(&m,
               MACH_MSGH_BITS_SET(MACH_MSG_TYPE_PORT_SEND, MACH_MSG_TYPE_PORT_SEND,
                                  MACH_MSG_TYPE_MOVE_SEND, MACH_MSGH_BITS_COMPLEX),
               reply.name, port.name, 1);
    put32(&m, 16, voucher.name);
    raw_u32(&m, 4);
    raw_port(&m, s.name, MACH_MSG_TYPE_PORT_SEND);
    raw_port(&m, moved.name, MACH_MSG_TYPE_PORT_RECEIVE);
    raw_ool(&m, MACH_MSG_OOL_DESCRIPTOR, (uint64_t)(uintptr_t)v.data, (uint32_t)v.cap, 0);
    raw_ool(&m, MACH_MSG_OOL_PORTS_DESCRIPTOR, arr, 1, MACH_MSG_TYPE_PORT_SEND_ONCE);
    raw_finish(&m, 0, 0, 0, 0, 0);

    MT_EQ(mpt_refs(port.name, MACH_PORT_RIGHT_SEND), 3);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    mp_msg_parser_drop(&p);
    MT_EQ(mpt_refs(port.name, MACH_PORT_RIGHT_SEND), 0);
    MT_EQ(mpt_type(moved.name), 0);
    MT_EQ(mpt_type(so.name), 0);
    /* The names were zeroed: a second parse of the same bytes releases nothing again. */
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    mp_msg_parser_drop(&p);
    (void)mp_recv_right_drop(&port);
}

/* Issue 12 item 6: bytes parsed without MP_PARSE_RELEASE release nothing and hand out no
 * right, even through the calls that take. */
MPT_TEST(parsing_bytes_without_the_release_flag_hands_out_and_releases_nothing)
{
    mp_recv_right port;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    mp_send_right s = new_send(port);
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX | MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND, 0), s.name, 0,
               2);
    raw_u32(&m, 1);
    raw_port(&m, s.name, MACH_MSG_TYPE_PORT_SEND);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    mp_msg_header h;
    mp_msg_desc d;
    uint8_t copy[sizeof m.b];
    memcpy(copy, m.b, sizeof copy);
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, 0), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.id, 2);
    MT_CHECK(mp_any_send_right_is_null(h.reply));
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_SEND);
    MT_CHECK(mp_send_right_is_null(d.send));
    mp_msg_desc_drop(&d);
    mp_msg_parser_drop(&p);
    MT_EQ(mpt_refs(s.name, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(memcmp(copy, m.b, sizeof copy), 0); /* the bytes were never written */
    (void)mp_send_right_drop(&s);
    (void)mp_recv_right_drop(&port);
}

MPT_TEST(simple_message_has_no_descriptors_and_its_body_follows_the_header)
{
    raw m;
    raw_header(&m, 0, 0, 0, 3);
    memcpy(m.b + 24, "abcd", 4);
    m.n = 28;
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    mp_msg_desc d;
    const void *body;
    size_t len;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_EQ(mp_msg_parser_descriptors_left(&p), 0);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.kind, MP_DESC_NONE);
    MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_MSG_SUCCESS);
    MT_EQ(len, 4);
    mp_msg_parser_drop(&p);
}

/* ---- malformed headers ---------------------------------------------------------------------- */

MPT_TEST(buffer_shorter_than_a_header_is_a_header_error)
{
    uint8_t b[23] = {0};
    mp_msg_parser p;
    mp_msg_header h;
    mp_msg_trailer tr;
    const void *body;
    size_t len;
    MT_KR(mp_msg_parser_init_bytes(&p, b, sizeof b, MP_PARSE_RELEASE), MACH_RCV_HEADER_ERROR);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_RCV_HEADER_ERROR);
    MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_RCV_HEADER_ERROR);
    MT_CHECK(body == NULL && len == 0);
    MT_KR(mp_msg_parser_trailer(&p, &tr), MACH_RCV_HEADER_ERROR);
    mp_msg_parser_drop(&p);
    MT_KR(mp_msg_parser_init_bytes(&p, NULL, 100, MP_PARSE_RELEASE), MACH_RCV_HEADER_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(size_larger_than_the_buffer_is_a_header_error_and_the_reply_is_still_released)
{
    mp_recv_right port;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    mp_send_right reply = new_send(port);
    raw m;
    raw_header(&m, MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND, 0), reply.name, 0, 1);
    put32(&m, 4, 4096);
    mp_msg_parser p;
    mp_msg_desc d;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, 64, MP_PARSE_RELEASE), MACH_RCV_HEADER_ERROR);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_RCV_HEADER_ERROR);
    MT_EQ(d.kind, MP_DESC_NONE);
    mp_msg_parser_drop(&p);
    MT_EQ(mpt_refs(port.name, MACH_PORT_RIGHT_SEND), 0);
    (void)mp_send_right_drop(&reply); /* already released: the name holds nothing now */
    (void)mp_recv_right_drop(&port);
}

MPT_TEST(size_smaller_than_a_header_is_a_header_error)
{
    raw m;
    raw_header(&m, 0, 0, 0, 1);
    put32(&m, 4, 20);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, 64, MP_PARSE_RELEASE), MACH_RCV_HEADER_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(invalid_reply_bits_are_a_header_error_and_the_name_is_left_alone)
{
    mp_recv_right port;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    mp_send_right s = new_send(port);
    raw m;
    raw_header(&m, MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0), s.name, 0, 1);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    mp_msg_header h;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_HEADER_ERROR);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_RCV_HEADER_ERROR);
    MT_CHECK(mp_any_send_right_is_null(h.reply));
    mp_msg_parser_drop(&p);
    MT_EQ(mpt_refs(s.name, MACH_PORT_RIGHT_SEND), 1);
    (void)mp_send_right_drop(&s);
    (void)mp_recv_right_drop(&port);
}

MPT_TEST(voucher_is_read_from_the_voucher_bits_not_the_local_bits)
{
    mp_recv_right port;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    mp_send_right v = new_send(port);
    raw m;
    /* local bits say MOVE_SEND_ONCE, voucher bits say MOVE_SEND: the voucher is a send right. */
    raw_header(&m, MACH_MSGH_BITS_SET(0, MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_MOVE_SEND, 0),
               0, port.name, 1);
    put32(&m, 16, v.name);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    mp_msg_header h;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_header(&p, &h), MACH_MSG_SUCCESS);
    MT_EQ(h.voucher.name, v.name);
    mp_msg_parser_drop(&p);
    MT_EQ(mpt_refs(v.name, MACH_PORT_RIGHT_SEND), 1);
    (void)mp_send_right_drop(&h.voucher);
    (void)mp_recv_right_drop(&port);
}

/* ---- malformed bodies ---------------------------------------------------------------------- */

MPT_TEST(complex_message_too_short_for_a_descriptor_count_is_a_body_error)
{
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(count_larger_than_the_message_is_a_body_error_and_earlier_descriptors_are_released)
{
    mp_recv_right port;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    mp_send_right s = new_send(port);
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_u32(&m, 3);
    raw_port(&m, s.name, MACH_MSG_TYPE_PORT_SEND);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    mp_msg_desc d;
    const void *body;
    size_t len;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    MT_EQ(mp_msg_parser_descriptors_left(&p), 0);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_RCV_BODY_ERROR);
    MT_KR(mp_msg_parser_body(&p, &body, &len), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
    MT_EQ(mpt_refs(port.name, MACH_PORT_RIGHT_SEND), 0);
    (void)mp_recv_right_drop(&port);
}

MPT_TEST(huge_descriptor_count_stops_at_the_end_of_the_message)
{
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_u32(&m, 0xFFFFFFFFu);
    for (int i = 0; i < 4; i++)
        raw_port(&m, MACH_PORT_NULL, MACH_MSG_TYPE_PORT_SEND);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(truncated_port_descriptor_is_a_body_error)
{
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_u32(&m, 1);
    raw_port(&m, MACH_PORT_NULL, MACH_MSG_TYPE_PORT_SEND);
    m.n -= 4; /* 8 of its 12 bytes are inside the message */
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(truncated_wide_descriptor_is_a_body_error)
{
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_u32(&m, 1);
    raw_ool(&m, MACH_MSG_OOL_DESCRIPTOR, 0, 0, 0);
    m.n -= 4; /* the type byte is inside, the size is not */
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(descriptor_types_out_of_range_are_invalid_type)
{
    static const uint8_t types[] = {5, 6, 0x7f, 0xff};
    for (size_t i = 0; i < sizeof types; i++) {
        raw m;
        raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
        raw_u32(&m, 1);
        raw_ool(&m, types[i], 0, 0, 0);
        raw_finish(&m, 0, 0, 0, 0, 0);
        mp_msg_parser p;
        MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_INVALID_TYPE);
        mp_msg_parser_drop(&p);
    }
}

MPT_TEST(ool_region_that_wraps_the_address_space_is_a_body_error)
{
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_u32(&m, 1);
    raw_ool(&m, MACH_MSG_OOL_DESCRIPTOR, UINT64_MAX - 10, 100, 0);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(ool_region_with_null_address_and_a_size_is_a_body_error)
{
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_u32(&m, 1);
    raw_ool(&m, MACH_MSG_OOL_VOLATILE_DESCRIPTOR, 0, 4096, 0);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(ool_ports_count_that_overflows_the_address_space_is_a_body_error)
{
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_u32(&m, 1);
    raw_ool(&m, MACH_MSG_OOL_PORTS_DESCRIPTOR, UINT64_MAX - 4096, 0xFFFFFFFFu,
            MACH_MSG_TYPE_PORT_SEND);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(ool_ports_with_an_invalid_disposition_is_a_body_error)
{
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_u32(&m, 1);
    raw_ool(&m, MACH_MSG_OOL_PORTS_DESCRIPTOR, 0x10000, 1, MACH_MSG_TYPE_COPY_SEND);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(port_descriptor_with_an_invalid_disposition_is_refused_and_not_released)
{
    mp_recv_right port;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    mp_send_right s = new_send(port), t = new_send(port);
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_u32(&m, 2);
    raw_port(&m, t.name, MACH_MSG_TYPE_PORT_SEND); /* good: released */
    raw_port(&m, s.name, MACH_MSG_TYPE_MAKE_SEND); /* bad: left alone */
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
    MT_EQ(mpt_refs(port.name, MACH_PORT_RIGHT_SEND), 1);
    (void)mp_send_right_drop(&s);
    (void)mp_recv_right_drop(&port);
}

MPT_TEST(guarded_descriptor_with_unknown_flags_is_a_body_error)
{
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX, 0, 0, 1);
    raw_u32(&m, 1);
    raw_guarded(&m, MACH_PORT_NULL, 0, 0x10);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_RCV_BODY_ERROR);
    mp_msg_parser_drop(&p);
}

MPT_TEST(null_and_dead_names_in_descriptors_own_nothing)
{
    raw m;
    raw_header(&m, MACH_MSGH_BITS_COMPLEX | MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND, 0),
               MACH_PORT_DEAD, 0, 1);
    raw_u32(&m, 3);
    raw_port(&m, MACH_PORT_DEAD, MACH_MSG_TYPE_PORT_SEND);
    raw_port(&m, MACH_PORT_NULL, 0);
    raw_guarded(&m, MACH_PORT_NULL, 0, 0);
    raw_finish(&m, 0, 0, 0, 0, 0);
    mp_msg_parser p;
    mp_msg_desc d;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_next(&p, &d), MACH_MSG_SUCCESS);
    MT_EQ(d.send.name, MACH_PORT_DEAD);
    mp_msg_desc_drop(&d);
    mp_msg_parser_drop(&p);
}

/* ---- trailer -------------------------------------------------------------------------------- */

MPT_TEST(trailer_larger_than_the_buffer_is_invalid)
{
    raw m;
    raw_header(&m, 0, 0, 0, 1);
    raw_finish(&m, 0, 0, 0, 0, 0);
    put32(&m, 24 + 4, 200);
    mp_msg_parser p;
    mp_msg_trailer tr;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_trailer(&p, &tr), MACH_RCV_INVALID_TRAILER);
    MT_EQ(tr.size, 0);
    mp_msg_parser_drop(&p);
}

MPT_TEST(missing_trailer_is_invalid_and_short_trailer_fills_only_its_fields)
{
    raw m;
    raw_header(&m, 0, 0, 0, 1);
    put32(&m, 4, 24);
    mp_msg_parser p;
    mp_msg_trailer tr;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, 24, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_trailer(&p, &tr), MACH_RCV_INVALID_TRAILER);
    mp_msg_parser_drop(&p);
    put32(&m, 24, 0);
    put32(&m, 28, 12);
    put32(&m, 32, 5);
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, 36, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_trailer(&p, &tr), MACH_MSG_SUCCESS);
    MT_CHECK(tr.has_seqno && !tr.has_sender && !tr.has_audit && !tr.has_context);
    MT_EQ(tr.seqno, 5);
    mp_msg_parser_drop(&p);
}

/* ---- notifications ------------------------------------------------------------------------- */

static void raw_notification(raw *m, mach_msg_id_t id, uint32_t value, uint32_t sec0, uint32_t sec1)
{
    raw_header(m, MACH_MSGH_BITS(0, MACH_MSG_TYPE_PORT_SEND_ONCE), 0, 0, id);
    static const uint8_t ndr[8] = {0, 0, 0, 0, 1, 0, 0, 0};
    memcpy(m->b + 24, ndr, 8);
    m->n = 32;
    raw_u32(m, value);
    raw_finish(m, 0, sec0, sec1, 0, 0);
}

MPT_TEST(forged_notification_from_a_user_task_is_refused)
{
    raw m;
    raw_notification(&m, MACH_NOTIFY_DEAD_NAME, 0x1234, 501, 20);
    mp_msg_parser p;
    mp_notification n;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_notification(&p, &n), MACH_RCV_INVALID_TYPE);
    MT_CHECK(mp_send_right_is_null(n.dead_name));
    mp_msg_parser_drop(&p);
}

MPT_TEST(dead_name_notification_hands_back_the_extra_reference_once)
{
    mp_recv_right port;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    mp_send_right s = new_send(port);
    (void)mp_recv_right_drop(&port);
    /* Stands for the kernel's extra reference (a dead name cannot be copied). */
    MT_KR(mach_port_mod_refs(mach_task_self(), s.name, MACH_PORT_RIGHT_DEAD_NAME, 1), KERN_SUCCESS);
    raw m;
    raw_notification(&m, MACH_NOTIFY_DEAD_NAME, s.name, 0, 1);
    mp_msg_parser p;
    mp_notification n;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_notification(&p, &n), MACH_MSG_SUCCESS);
    MT_EQ(n.id, MACH_NOTIFY_DEAD_NAME);
    MT_EQ(n.name, s.name);
    MT_EQ(n.dead_name.name, s.name);
    mp_notification again;
    MT_KR(mp_msg_parser_notification(&p, &again), MACH_MSG_SUCCESS);
    MT_CHECK(mp_send_right_is_null(again.dead_name)); /* taken once only */
    mp_msg_parser_drop(&p);
    raw_notification(&m, MACH_NOTIFY_DEAD_NAME, s.name, 0, 1);
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    mp_notification n2;
    MT_KR(mp_msg_parser_notification(&p, &n2), MACH_MSG_SUCCESS);
    mp_msg_parser_drop(&p);
    n2.dead_name = MP_SEND_RIGHT_NULL; /* a copy of the same bytes: not a second reference */
    MT_EQ(mpt_refs(s.name, MACH_PORT_RIGHT_DEAD_NAME), 2);
    (void)mp_send_right_drop(&n.dead_name);
    MT_EQ(mpt_refs(s.name, MACH_PORT_RIGHT_DEAD_NAME), 1);
    (void)mp_send_right_drop(&s);
}

MPT_TEST(no_senders_notification_reports_the_mscount)
{
    raw m;
    raw_notification(&m, MACH_NOTIFY_NO_SENDERS, 7, 0, 1);
    mp_msg_parser p;
    mp_notification n;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_notification(&p, &n), MACH_MSG_SUCCESS);
    MT_EQ(n.id, MACH_NOTIFY_NO_SENDERS);
    MT_EQ(n.mscount, 7);
    mp_msg_parser_drop(&p);
}

MPT_TEST(message_outside_the_notification_ids_is_not_a_notification)
{
    raw m;
    raw_notification(&m, 1000, 7, 0, 1);
    mp_msg_parser p;
    mp_notification n;
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_notification(&p, &n), MACH_RCV_INVALID_TYPE);
    mp_msg_parser_drop(&p);
    raw_notification(&m, MACH_NOTIFY_NO_SENDERS, 7, 0, 1);
    put32(&m, 4, 32); /* body too short for the mscount */
    MT_KR(mp_msg_parser_init_bytes(&p, m.b, m.n, MP_PARSE_RELEASE), MACH_MSG_SUCCESS);
    MT_KR(mp_msg_parser_notification(&p, &n), MACH_RCV_INVALID_TRAILER);
    mp_msg_parser_drop(&p);
}

MT_MAIN()
