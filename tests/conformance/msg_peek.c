/*
 * mach_port_peek (XNU osfmk/ipc/mach_port.c mach_port_peek, ipc_mqueue_peek_locked): looks at
 * a queued message without dequeuing it. seqno 0 means "the first message" (and reports its
 * seqno); the size is the kernel's size (user size + 8, + 4 per port descriptor); the trailer
 * is the raw kernel trailer (msgh_trailer_size 8) with the seqno filled in.
 */
#include "notify_util.h"

static const mach_msg_trailer_type_t PK_AUDIT =
    MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
    MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT);

static mach_msg_return_t pk_send(mach_port_name_t p, mach_msg_id_t id, mach_port_name_t carried)
{
    struct {
        mach_msg_header_t h;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t d;
    } m;
    memset(&m, 0, sizeof m);
    m.h.msgh_remote_port = p;
    m.h.msgh_id = id;
    mach_msg_size_t size = sizeof(mach_msg_header_t) + 4; /* one word of inline data */
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    if (carried) {
        m.h.msgh_bits |= MACH_MSGH_BITS_COMPLEX;
        m.body.msgh_descriptor_count = 1;
        m.d.name = carried;
        m.d.disposition = MACH_MSG_TYPE_MAKE_SEND;
        m.d.type = MACH_MSG_PORT_DESCRIPTOR;
        size = sizeof m;
    }
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

static kern_return_t pk_peek(mach_port_name_t p, mach_msg_trailer_type_t tt,
                             mach_port_seqno_t *seqno, mach_msg_size_t *size, mach_msg_id_t *id,
                             mach_msg_max_trailer_t *t, mach_msg_type_number_t *tsize)
{
    memset(t, 0xA5, sizeof *t);
    return mach_port_peek(TASK, p, tt, seqno, size, id, (mach_msg_trailer_info_t)(void *)t,
                          tsize);
}

MT_TEST(peek_reports_size_id_seqno_and_trailer_and_leaves_the_message_queued)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), c = nu_port();
    MT_REQUIRE(p && c);
    MT_KR(pk_send(p, 7, MACH_PORT_NULL), MACH_MSG_SUCCESS);
    MT_KR(pk_send(p, 8, c), MACH_MSG_SUCCESS);
    mach_port_seqno_t seqno = 0;
    mach_msg_size_t size = 0;
    mach_msg_id_t id = 0;
    mach_msg_max_trailer_t t;
    mach_msg_type_number_t tsize = sizeof t;
    MT_KR(pk_peek(p, PK_AUDIT, &seqno, &size, &id, &t, &tsize), KERN_SUCCESS);
    MT_EQ(seqno, 0);
    MT_EQ(id, 7);
    MT_EQ(size, 28 + 8);
    MT_EQ(tsize, sizeof(mach_msg_audit_trailer_t));
    MT_EQ(t.msgh_trailer_type, MACH_MSG_TRAILER_FORMAT_0);
    MT_EQ(t.msgh_trailer_size, sizeof(mach_msg_trailer_t));
    MT_EQ(t.msgh_seqno, 0);
    MT_EQ(((const uint8_t *)&t)[sizeof(mach_msg_audit_trailer_t)], 0xA5); /* only 52 bytes */
    mach_msg_max_trailer_t peeked = t;
    /* the second message, by seqno: 28 + 12 user bytes, kernel descriptor 16 */
    seqno = 1;
    MT_KR(pk_peek(p, PK_AUDIT, &seqno, &size, &id, &t, &tsize), KERN_SUCCESS);
    MT_EQ(seqno, 1);
    MT_EQ(id, 8);
    MT_EQ(size, 40 + 8 + 4);
    MT_EQ(t.msgh_seqno, 1);
    MT_EQ(nu_status(p).mps_msgcount, 2);
    /* the tokens are those the receive trailer carries */
    nu_msg m;
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 7);
    MT_EQ(m.h.msgh_size, 28);
    MT_CHECK(memcmp(&nu_trailer(&m)->msgh_sender, &peeked.msgh_sender,
                    sizeof peeked.msgh_sender) == 0);
    MT_CHECK(memcmp(&nu_trailer(&m)->msgh_audit, &peeked.msgh_audit,
                    sizeof peeked.msgh_audit) == 0);
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    mach_msg_destroy(&m.h);
    MT_EQ(nu_type(c), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, c, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(peek_by_seqno_selects_among_queued_messages)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    for (int i = 1; i <= 3; i++)
        MT_KR(pk_send(p, i, MACH_PORT_NULL), MACH_MSG_SUCCESS);
    mach_port_seqno_t seqno;
    mach_msg_size_t size;
    mach_msg_id_t id;
    mach_msg_max_trailer_t t;
    mach_msg_type_number_t tsize = sizeof t;
    const mach_msg_trailer_type_t seq =
        MACH_RCV_TRAILER_TYPE(0) | MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SEQNO);
    for (mach_port_seqno_t s = 0; s < 3; s++) {
        seqno = s;
        MT_KR(pk_peek(p, seq, &seqno, &size, &id, &t, &tsize), KERN_SUCCESS);
        MT_EQ(id, (mach_msg_id_t)s + 1);
        MT_EQ(seqno, s);
        MT_EQ(t.msgh_seqno, s);
        MT_EQ(tsize, sizeof(mach_msg_seqno_trailer_t));
    }
    seqno = 3;
    MT_KR(pk_peek(p, seq, &seqno, &size, &id, &t, &tsize), KERN_FAILURE);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    /* seqno 0 now means the new head, reported under its own seqno */
    seqno = 0;
    MT_KR(pk_peek(p, seq, &seqno, &size, &id, &t, &tsize), KERN_SUCCESS);
    MT_EQ(seqno, 1);
    MT_EQ(id, 2);
    seqno = 2;
    MT_KR(pk_peek(p, seq, &seqno, &size, &id, &t, &tsize), KERN_SUCCESS);
    MT_EQ(id, 3);
    seqno = 3;
    MT_KR(pk_peek(p, seq, &seqno, &size, &id, &t, &tsize), KERN_FAILURE);
    MT_KR(mach_port_set_seqno(TASK, p, 100), KERN_SUCCESS);
    seqno = 1; /* below the port's seqno now */
    MT_KR(pk_peek(p, seq, &seqno, &size, &id, &t, &tsize), KERN_FAILURE);
    seqno = 101;
    MT_KR(pk_peek(p, seq, &seqno, &size, &id, &t, &tsize), KERN_SUCCESS);
    MT_EQ(id, 3);
    MT_EQ(nu_status(p).mps_msgcount, 2);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(peek_on_an_empty_queue_fails)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_seqno_t seqno = 0;
    mach_msg_size_t size = 0;
    mach_msg_id_t id = 0;
    mach_msg_max_trailer_t t;
    mach_msg_type_number_t tsize = sizeof t;
    MT_KR(pk_peek(p, PK_AUDIT, &seqno, &size, &id, &t, &tsize), KERN_FAILURE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(peek_on_names_without_a_receive_right_fails)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), set, dead;
    MT_REQUIRE(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    mach_port_name_t so = nu_send_once(p);
    MT_REQUIRE(so);
    mach_port_seqno_t seqno = 0;
    mach_msg_size_t size;
    mach_msg_id_t id;
    mach_msg_max_trailer_t t;
    mach_msg_type_number_t tsize = sizeof t;
    MT_KR(pk_peek(MACH_PORT_NULL, PK_AUDIT, &seqno, &size, &id, &t, &tsize), KERN_INVALID_RIGHT);
    MT_KR(pk_peek(MACH_PORT_DEAD, PK_AUDIT, &seqno, &size, &id, &t, &tsize), KERN_INVALID_RIGHT);
    MT_KR(pk_peek(0x7777703, PK_AUDIT, &seqno, &size, &id, &t, &tsize), KERN_INVALID_NAME);
    MT_KR(pk_peek(so, PK_AUDIT, &seqno, &size, &id, &t, &tsize), KERN_INVALID_RIGHT);
    MT_KR(pk_peek(set, PK_AUDIT, &seqno, &size, &id, &t, &tsize), KERN_INVALID_RIGHT);
    MT_KR(pk_peek(dead, PK_AUDIT, &seqno, &size, &id, &t, &tsize), KERN_INVALID_RIGHT);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, set, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(peek_refuses_trailers_beyond_audit_or_larger_than_the_buffer)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(pk_send(p, 1, MACH_PORT_NULL), MACH_MSG_SUCCESS);
    mach_port_seqno_t seqno = 0;
    mach_msg_size_t size;
    mach_msg_id_t id;
    mach_msg_max_trailer_t t;
    mach_msg_type_number_t tsize = sizeof t;
    const mach_msg_trailer_type_t ctx =
        MACH_RCV_TRAILER_TYPE(0) | MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_CTX);
    MT_KR(pk_peek(p, ctx, &seqno, &size, &id, &t, &tsize), KERN_INVALID_VALUE);
    tsize = sizeof(mach_msg_audit_trailer_t) - 4;
    MT_KR(pk_peek(p, PK_AUDIT, &seqno, &size, &id, &t, &tsize), KERN_INVALID_VALUE);
    /* the bare trailer needs 8 bytes */
    tsize = sizeof(mach_msg_trailer_t);
    MT_KR(pk_peek(p, 0, &seqno, &size, &id, &t, &tsize), KERN_SUCCESS);
    MT_EQ(tsize, sizeof(mach_msg_trailer_t));
    MT_EQ(t.msgh_trailer_size, sizeof(mach_msg_trailer_t));
    MT_EQ(((const uint8_t *)&t)[sizeof(mach_msg_trailer_t)], 0xA5);
    MT_EQ(nu_status(p).mps_msgcount, 1);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
