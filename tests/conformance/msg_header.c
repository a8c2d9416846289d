/* Simple messages: header dispositions, the received header reversal and send-time errors. */
#include "notify_util.h"

typedef struct {
    mach_msg_header_t h;
    uint32_t body[4];
} hm_msg;

typedef union {
    mach_msg_header_t h;
    uint8_t bytes[256];
} hm_rbuf;

#define HM_UNKNOWN_NAME ((mach_port_name_t)0x12345603)

static mach_msg_return_t hm_send(mach_msg_bits_t bits, mach_port_name_t remote,
                                 mach_port_name_t local, mach_port_name_t voucher,
                                 mach_msg_size_t size)
{
    hm_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = bits;
    m.h.msgh_size = 0xDEAD; /* ignored: the send size is authoritative */
    m.h.msgh_remote_port = remote;
    m.h.msgh_local_port = local;
    m.h.msgh_voucher_port = voucher;
    m.h.msgh_id = 0x4D5A;
    for (int i = 0; i < 4; i++)
        m.body[i] = 0x11111111u * (uint32_t)(i + 1);
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

static mach_msg_return_t hm_recv(mach_port_name_t port, hm_rbuf *r)
{
    return nu_recv_buf(port, r, sizeof *r, 0);
}

static int hm_empty(mach_port_name_t port)
{
    hm_rbuf r;
    return hm_recv(port, &r) == MACH_RCV_TIMED_OUT;
}

/* Drop every send uref and the receive right under `name`. */
static int hm_is_so(mach_msg_type_name_t d)
{
    return d == MACH_MSG_TYPE_MAKE_SEND_ONCE || d == MACH_MSG_TYPE_MOVE_SEND_ONCE;
}

MT_TEST(every_remote_and_local_disposition_pair_arrives_reversed_with_rights_accounted)
{
    NU_BEGIN();
    static const mach_msg_type_name_t remotes[] = {
        MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MOVE_SEND,
        MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_TYPE_MOVE_SEND_ONCE};
    static const mach_msg_type_name_t locals[] = {0,
                                                  MACH_MSG_TYPE_COPY_SEND,
                                                  MACH_MSG_TYPE_MAKE_SEND,
                                                  MACH_MSG_TYPE_MOVE_SEND,
                                                  MACH_MSG_TYPE_MAKE_SEND_ONCE,
                                                  MACH_MSG_TYPE_MOVE_SEND_ONCE};
    for (unsigned ri = 0; ri < 5; ri++) {
        for (unsigned li = 0; li < 6; li++) {
            mach_msg_type_name_t rd = remotes[ri], ld = locals[li];
            mach_port_name_t d = nu_port_with_send(), r = nu_port_with_send();
            MT_REQUIRE(d && r);
            mach_port_name_t dname = rd == MACH_MSG_TYPE_MOVE_SEND_ONCE ? nu_send_once(d) : d;
            mach_port_name_t rname = ld == MACH_MSG_TYPE_MOVE_SEND_ONCE ? nu_send_once(r)
                                     : ld                               ? r
                                                                        : MACH_PORT_NULL;
            MT_KR(hm_send(MACH_MSGH_BITS(rd, ld), dname, rname, 0, sizeof(hm_msg)),
                  MACH_MSG_SUCCESS);
            hm_rbuf m;
            MT_KR(hm_recv(d, &m), MACH_MSG_SUCCESS);
            mach_msg_type_name_t want_local =
                hm_is_so(rd) ? MACH_MSG_TYPE_PORT_SEND_ONCE : MACH_MSG_TYPE_PORT_SEND;
            mach_msg_type_name_t want_remote = ld == 0        ? 0
                                               : hm_is_so(ld) ? MACH_MSG_TYPE_PORT_SEND_ONCE
                                                              : MACH_MSG_TYPE_PORT_SEND;
            MT_EQ(m.h.msgh_bits, MACH_MSGH_BITS(want_remote, want_local));
            MT_EQ(m.h.msgh_local_port, d);
            MT_EQ(m.h.msgh_size, sizeof(hm_msg));
            MT_EQ(m.h.msgh_id, 0x4D5A);
            if (ld == 0) {
                MT_EQ(m.h.msgh_remote_port, MACH_PORT_NULL);
            } else if (hm_is_so(ld)) {
                MT_NE(m.h.msgh_remote_port, r);
                MT_EQ(nu_type(m.h.msgh_remote_port), MACH_PORT_TYPE_SEND_ONCE);
            } else {
                MT_EQ(m.h.msgh_remote_port, r); /* coalesced with the receive right */
            }
            /* dest: MOVE_SEND took the only uref; the received dest right was consumed */
            if (rd == MACH_MSG_TYPE_MOVE_SEND) {
                MT_EQ(nu_type(d), MACH_PORT_TYPE_RECEIVE);
            } else {
                MT_EQ(nu_type(d), MACH_PORT_TYPE_SEND_RECEIVE);
                MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
            }
            MT_EQ(nu_status(d).mps_mscount, rd == MACH_MSG_TYPE_MAKE_SEND ? 2 : 1);
            MT_EQ(nu_status(d).mps_sorights, 0);
            /* reply: a send kind adds a uref at `r`, MOVE_SEND took one away first */
            mach_port_urefs_t want_r = 1;
            if (ld == MACH_MSG_TYPE_COPY_SEND || ld == MACH_MSG_TYPE_MAKE_SEND)
                want_r = 2;
            MT_EQ(nu_refs(r, MACH_PORT_RIGHT_SEND), want_r);
            MT_EQ(nu_status(r).mps_mscount, ld == MACH_MSG_TYPE_MAKE_SEND ? 2 : 1);
            MT_EQ(nu_status(r).mps_sorights, hm_is_so(ld) ? 1 : 0);
            if (hm_is_so(ld))
                MT_KR(mach_port_deallocate(TASK, m.h.msgh_remote_port), KERN_SUCCESS);
            nu_kill(d);
            nu_kill(r);
        }
    }
    NU_END();
}

MT_TEST(id_body_size_and_unused_voucher_field_round_trip_with_a_null_trailer)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), p, 0, 0x1234, sizeof(hm_msg)),
          MACH_MSG_SUCCESS);
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), p, 0, 0, 28), MACH_MSG_SUCCESS);
    hm_rbuf m;
    MT_KR(hm_recv(p, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_size, sizeof(hm_msg));
    MT_EQ(m.h.msgh_voucher_port, 0x1234); /* no voucher bits: the field is left as sent */
    MT_EQ(m.h.msgh_id, 0x4D5A);
    hm_msg *body = (hm_msg *)(void *)m.bytes;
    for (int i = 0; i < 4; i++)
        MT_EQ(body->body[i], 0x11111111u * (uint32_t)(i + 1));
    const mach_msg_trailer_t *t = (const mach_msg_trailer_t *)(const void *)(m.bytes + 40);
    MT_EQ(t->msgh_trailer_type, MACH_MSG_TRAILER_FORMAT_0);
    MT_EQ(t->msgh_trailer_size, 8);
    MT_EQ(m.bytes[48], 0xA5);
    MT_KR(hm_recv(p, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_size, 28);
    MT_EQ(m.h.msgh_voucher_port, 0);
    MT_EQ(m.bytes[24], 0x11); /* one body word made it, then the trailer */
    MT_EQ(m.bytes[28], 0);
    MT_EQ(m.bytes[32], 8);
    nu_kill(p);
    NU_END();
}

MT_TEST(dest_and_reply_on_one_name_combine_copy_move_and_make)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    hm_rbuf m;
    /* COPY_SEND dest + MAKE_SEND_ONCE reply */
    MT_KR(
        hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE), p, p, 0, 24),
        MACH_MSG_SUCCESS);
    MT_KR(hm_recv(p, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, 0x1112);
    MT_EQ(m.h.msgh_local_port, p);
    MT_NE(m.h.msgh_remote_port, p);
    MT_EQ(nu_type(m.h.msgh_remote_port), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, m.h.msgh_remote_port), KERN_SUCCESS);
    MT_KR(hm_recv(p, &m), MACH_MSG_SUCCESS); /* the send-once notification */
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    /* MOVE_SEND twice needs two urefs; with one nothing is consumed */
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_SEND), p, p, 0, 24),
          MACH_SEND_INVALID_DEST);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_CHECK(hm_empty(p));
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_SEND), p, p, 0, 24),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(hm_recv(p, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, 0x1111);
    MT_EQ(m.h.msgh_remote_port, p);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    /* MOVE_SEND dest + COPY_SEND reply on one uref: dest moves it, reply copies it */
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_COPY_SEND), p, p, 0, 24),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(hm_recv(p, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, 0x1111);
    MT_EQ(m.h.msgh_remote_port, p);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    /* MAKE_SEND dest + MAKE_SEND reply */
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND), p, p, 0, 24),
          MACH_MSG_SUCCESS);
    MT_KR(hm_recv(p, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, 0x1111);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    MT_EQ(nu_status(p).mps_mscount, 3);
    /* a MOVE_SEND_ONCE on either side of a shared name is refused */
    mach_port_name_t so = nu_send_once(p);
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_MSG_TYPE_COPY_SEND), so, so, 0,
                  24),
          MACH_SEND_INVALID_DEST);
    MT_KR(
        hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE), p, p, 0, 24),
        MACH_SEND_INVALID_DEST);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    MT_CHECK(hm_empty(p));
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_kill(p);
    NU_END();
}

MT_TEST(send_size_below_a_header_or_not_a_multiple_of_4_is_too_small_and_consumes_nothing)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), r = nu_port();
    MT_REQUIRE(p && r);
    static const mach_msg_size_t sizes[] = {0, 4, 20, 26, 30, 33};
    mach_msg_bits_t bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    for (unsigned i = 0; i < 6; i++)
        MT_KR(hm_send(bits, p, r, 0, sizes[i]), MACH_SEND_MSG_TOO_SMALL);
    /* complex without room for the body, or for its descriptors */
    MT_KR(hm_send(bits | MACH_MSGH_BITS_COMPLEX, p, r, 0, 24), MACH_SEND_MSG_TOO_SMALL);
    hm_msg c;
    memset(&c, 0, sizeof c);
    c.h.msgh_bits = bits | MACH_MSGH_BITS_COMPLEX;
    c.h.msgh_remote_port = p;
    c.h.msgh_local_port = r;
    c.body[0] = 1; /* one descriptor claimed, none present */
    MT_KR(mach_msg(&c.h, MACH_SEND_MSG, 28, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_SEND_MSG_TOO_SMALL);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(r).mps_sorights, 0);
    MT_CHECK(hm_empty(p));
    MT_CHECK(hm_empty(r));
    nu_kill(p);
    nu_kill(r);
    NU_END();
}

MT_TEST(unusable_destinations_are_invalid_dest_and_consume_nothing)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), r = nu_port(), dead, set;
    MT_REQUIRE(p && r);
    mach_port_name_t so = nu_send_once(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    const struct {
        mach_port_name_t name;
        mach_msg_type_name_t disp;
    } cases[] = {
        {MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND},
        {MACH_PORT_DEAD, MACH_MSG_TYPE_COPY_SEND},
        {HM_UNKNOWN_NAME, MACH_MSG_TYPE_COPY_SEND},
        {dead, MACH_MSG_TYPE_COPY_SEND},
        {dead, MACH_MSG_TYPE_MOVE_SEND},
        {dead, MACH_MSG_TYPE_MOVE_SEND_ONCE},
        {set, MACH_MSG_TYPE_MAKE_SEND},
        {r, MACH_MSG_TYPE_COPY_SEND},
        {r, MACH_MSG_TYPE_MOVE_SEND},
        {r, MACH_MSG_TYPE_MOVE_SEND_ONCE},
        {so, MACH_MSG_TYPE_COPY_SEND},
        {so, MACH_MSG_TYPE_MOVE_SEND},
        {so, MACH_MSG_TYPE_MAKE_SEND_ONCE},
        {p, MACH_MSG_TYPE_MOVE_SEND_ONCE},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        MT_KR(hm_send(MACH_MSGH_BITS(cases[i].disp, MACH_MSG_TYPE_MAKE_SEND_ONCE), cases[i].name, r,
                      0, 24),
              MACH_SEND_INVALID_DEST);
        MT_KR(hm_send(MACH_MSGH_BITS(cases[i].disp, MACH_MSG_TYPE_MAKE_SEND), cases[i].name, r, 0,
                      24),
              MACH_SEND_INVALID_DEST);
    }
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(r), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(r).mps_sorights, 0);
    MT_EQ(nu_status(r).mps_mscount, 0);
    MT_CHECK(hm_empty(r));
    MT_CHECK(hm_empty(p));
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, set, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    nu_kill(p);
    nu_kill(r);
    NU_END();
}

MT_TEST(unusable_reply_rights_are_invalid_reply_and_consume_nothing)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = nu_port_with_send(), r = nu_port(), set;
    MT_REQUIRE(d && p && r);
    mach_port_name_t so = nu_send_once(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    const struct {
        mach_port_name_t name;
        mach_msg_type_name_t disp;
    } cases[] = {
        {HM_UNKNOWN_NAME, MACH_MSG_TYPE_COPY_SEND},
        {set, MACH_MSG_TYPE_MAKE_SEND},
        {set, MACH_MSG_TYPE_COPY_SEND},
        {r, MACH_MSG_TYPE_COPY_SEND},
        {r, MACH_MSG_TYPE_MOVE_SEND},
        {r, MACH_MSG_TYPE_MOVE_SEND_ONCE},
        {p, MACH_MSG_TYPE_MOVE_SEND_ONCE},
        {so, MACH_MSG_TYPE_COPY_SEND},
        {so, MACH_MSG_TYPE_MOVE_SEND},
        {so, MACH_MSG_TYPE_MAKE_SEND},
        {so, MACH_MSG_TYPE_MAKE_SEND_ONCE},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++)
        MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, cases[i].disp), d, cases[i].name, 0,
                      24),
              MACH_SEND_INVALID_REPLY);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(d).mps_mscount, 1);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_CHECK(hm_empty(d));
    MT_CHECK(hm_empty(p));
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, set, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    nu_kill(d);
    nu_kill(p);
    nu_kill(r);
    NU_END();
}

MT_TEST(dead_and_null_reply_names_pass_through_but_a_dead_name_entry_is_invalid_reply)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), dead;
    MT_REQUIRE(d);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    hm_rbuf m;
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_COPY_SEND), d,
                  MACH_PORT_DEAD, 0, 24),
          MACH_MSG_SUCCESS);
    MT_KR(hm_recv(d, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, 0x1111);
    MT_EQ(m.h.msgh_remote_port, MACH_PORT_DEAD);
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE), d,
                  MACH_PORT_DEAD, 0, 24),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_type(d), MACH_PORT_TYPE_RECEIVE);
    MT_KR(hm_recv(d, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, 0x1112);
    MT_EQ(m.h.msgh_remote_port, MACH_PORT_DEAD);
    MT_KR(mach_port_insert_right(TASK, d, d, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    /* a dead-name entry holds no port right: refused like an unknown name */
    static const mach_msg_type_name_t disps[] = {MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MOVE_SEND,
                                                 MACH_MSG_TYPE_MOVE_SEND_ONCE};
    for (unsigned i = 0; i < 3; i++)
        MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, disps[i]), d, dead, 0, 24),
              MACH_SEND_INVALID_REPLY);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    MT_CHECK(hm_empty(d));
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    /* a NULL reply name with a send-once disposition keeps the type bits */
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE), d,
                  MACH_PORT_NULL, 0, 24),
          MACH_MSG_SUCCESS);
    MT_KR(hm_recv(d, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, 0x1112);
    MT_EQ(m.h.msgh_remote_port, MACH_PORT_NULL);
    nu_kill(d);
    NU_END();
}

MT_TEST(bad_header_dispositions_are_invalid_header_or_voucher_and_consume_nothing)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), r = nu_port_with_send();
    MT_REQUIRE(d && r);
    const mach_msg_type_name_t mv = MACH_MSG_TYPE_MOVE_SEND;
    MT_KR(hm_send(MACH_MSGH_BITS(0, 0), d, 0, 0, 24), MACH_SEND_INVALID_HEADER);
    MT_KR(hm_send(MACH_MSGH_BITS(0, 0), MACH_PORT_NULL, 0, 0, 24), MACH_SEND_INVALID_HEADER);
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_RECEIVE, 0), d, 0, 0, 24),
          MACH_SEND_INVALID_HEADER);
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_RECEIVE, 0), d, 0, 0, 24),
          MACH_SEND_INVALID_HEADER);
    MT_KR(hm_send(MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_NAME, 0), d, 0, 0, 24),
          MACH_SEND_INVALID_HEADER);
    MT_KR(hm_send(MACH_MSGH_BITS(31, 0), d, 0, 0, 24), MACH_SEND_INVALID_HEADER);
    MT_KR(hm_send(MACH_MSGH_BITS(mv, 0), d, r, 0, 24), MACH_SEND_INVALID_HEADER);
    MT_KR(hm_send(MACH_MSGH_BITS(mv, MACH_MSG_TYPE_MOVE_RECEIVE), d, r, 0, 24),
          MACH_SEND_INVALID_HEADER);
    MT_KR(hm_send(MACH_MSGH_BITS(mv, MACH_MSG_TYPE_COPY_RECEIVE), d, r, 0, 24),
          MACH_SEND_INVALID_HEADER);
    MT_KR(hm_send(MACH_MSGH_BITS(mv, MACH_MSG_TYPE_PORT_NAME), d, r, 0, 24),
          MACH_SEND_INVALID_HEADER);
    /* vouchers: only MOVE_SEND / COPY_SEND of a real voucher (checked before the dest type) */
    MT_KR(hm_send(MACH_MSGH_BITS_SET(mv, 0, MACH_MSG_TYPE_MAKE_SEND, 0), d, 0, d, 24),
          MACH_SEND_INVALID_VOUCHER);
    MT_KR(hm_send(MACH_MSGH_BITS_SET(0, 0, MACH_MSG_TYPE_MAKE_SEND, 0), d, 0, d, 24),
          MACH_SEND_INVALID_VOUCHER);
    MT_KR(hm_send(MACH_MSGH_BITS_SET(mv, 0, MACH_MSG_TYPE_COPY_SEND, 0), d, 0, MACH_PORT_DEAD, 24),
          MACH_SEND_INVALID_VOUCHER);
    MT_KR(hm_send(MACH_MSGH_BITS_SET(mv, 0, MACH_MSG_TYPE_COPY_SEND, 0), d, 0, r, 24),
          MACH_SEND_INVALID_VOUCHER);
    MT_KR(hm_send(MACH_MSGH_BITS_SET(mv, 0, MACH_MSG_TYPE_MOVE_SEND, 0), d, 0, r, 24),
          MACH_SEND_INVALID_VOUCHER);
    /* a bad reply disposition is reported before a bad voucher */
    MT_KR(hm_send(MACH_MSGH_BITS_SET(mv, MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_TYPE_MAKE_SEND, 0), d,
                  r, d, 24),
          MACH_SEND_INVALID_HEADER);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_refs(r, MACH_PORT_RIGHT_SEND), 1);
    MT_CHECK(hm_empty(d));
    nu_kill(d);
    nu_kill(r);
    NU_END();
}

MT_TEST(header_bits_outside_the_user_mask_are_dropped_not_refused)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    mach_msg_bits_t junk = 0x70e0e0e0u; /* every bit outside MACH_MSGH_BITS_USER */
    MT_KR(hm_send(junk | MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), d, 0, 0, 24),
          MACH_MSG_SUCCESS);
    hm_rbuf m;
    MT_KR(hm_recv(d, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, MACH_MSGH_BITS(0, MACH_MSG_TYPE_PORT_SEND));
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    nu_kill(d);
    NU_END();
}

MT_MAIN()
