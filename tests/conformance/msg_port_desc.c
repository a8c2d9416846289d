/* Complex messages carrying port descriptors: dispositions, coalescing and failure accounting. */
#include "notify_util.h"

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_port_descriptor_t d[4];
} pd_msg;

typedef union {
    mach_msg_header_t h;
    pd_msg m;
    uint8_t bytes[512];
} pd_rbuf;

#define PD_UNKNOWN_NAME ((mach_port_name_t)0x12345603)

static void pd_set(mach_msg_port_descriptor_t *d, mach_port_name_t name, mach_msg_type_name_t disp)
{
    memset(d, 0, sizeof *d);
    d->name = name;
    d->disposition = disp;
    d->type = MACH_MSG_PORT_DESCRIPTOR;
}

/* Send `n` descriptors already set in m->d to `dest` (MOVE_SEND unless told otherwise). */
static mach_msg_return_t pd_send(pd_msg *m, unsigned n, mach_port_name_t dest,
                                 mach_msg_type_name_t ddisp, mach_port_name_t reply,
                                 mach_msg_type_name_t rdisp)
{
    return nu_send_complex(&m->h, n, 12, dest, ddisp, reply,
                           rdisp, 0x5044);
}

static mach_msg_return_t pd_recv(mach_port_name_t port, pd_rbuf *r)
{
    return nu_recv_buf(port, r, sizeof *r, 0);
}

/* The received descriptor i, with its layout checked. */
static const mach_msg_port_descriptor_t *pd_got(const pd_rbuf *r, unsigned n, unsigned i)
{
    MT_EQ(r->h.msgh_bits & MACH_MSGH_BITS_COMPLEX, MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r->h.msgh_size, sizeof(mach_msg_base_t) + n * 12);
    MT_EQ(r->m.b.msgh_descriptor_count, n);
    MT_EQ(r->m.d[i].type, MACH_MSG_PORT_DESCRIPTOR);
    MT_EQ(r->m.d[i].pad1, 0);
    MT_EQ(r->m.d[i].pad2, 0);
    return &r->m.d[i];
}

MT_TEST(each_disposition_arrives_as_its_port_type_with_urefs_moved_copied_or_made)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = nu_port_with_send();
    MT_REQUIRE(d && p);
    pd_msg m;
    pd_rbuf r;
    const mach_msg_type_name_t cp = MACH_MSG_TYPE_COPY_SEND;
    /* COPY_SEND: the sender keeps its uref, the receiver's name gains one */
    pd_set(&m.d[0], p, MACH_MSG_TYPE_COPY_SEND);
    m.d[0].pad1 = 0xDEADBEEF;
    MT_KR(pd_send(&m, 1, d, cp, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 1, 0)->name, p);
    MT_EQ(r.m.d[0].disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    /* MAKE_SEND: mscount grows */
    pd_set(&m.d[0], p, MACH_MSG_TYPE_MAKE_SEND);
    MT_KR(pd_send(&m, 1, d, cp, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(p).mps_mscount, 2);
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 1, 0)->name, p);
    MT_EQ(r.m.d[0].disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 3);
    /* MOVE_SEND: one uref leaves with the message and comes back */
    pd_set(&m.d[0], p, MACH_MSG_TYPE_MOVE_SEND);
    MT_KR(pd_send(&m, 1, d, cp, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 1, 0)->name, p);
    MT_EQ(r.m.d[0].disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 3);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
    /* MAKE_SEND_ONCE and MOVE_SEND_ONCE: a fresh send-once name each time */
    pd_set(&m.d[0], p, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    MT_KR(pd_send(&m, 1, d, cp, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(p).mps_sorights, 1);
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    mach_port_name_t so = pd_got(&r, 1, 0)->name;
    MT_EQ(r.m.d[0].disposition, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_NE(so, p);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    pd_set(&m.d[0], so, MACH_MSG_TYPE_MOVE_SEND_ONCE);
    MT_KR(pd_send(&m, 1, d, cp, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(p).mps_sorights, 1);
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    mach_port_name_t so2 = pd_got(&r, 1, 0)->name;
    MT_EQ(r.m.d[0].disposition, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(nu_type(so2), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, so2), KERN_SUCCESS);
    MT_KR(pd_recv(p, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* MOVE_RECEIVE: the send right stays behind, the receive right lands back on it */
    pd_set(&m.d[0], p, MACH_MSG_TYPE_MOVE_RECEIVE);
    MT_KR(pd_send(&m, 1, d, cp, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 1, 0)->name, p);
    MT_EQ(r.m.d[0].disposition, MACH_MSG_TYPE_PORT_RECEIVE);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    nu_kill(p);
    nu_kill(d);
    NU_END();
}

MT_TEST(received_send_rights_coalesce_on_one_name_but_send_once_rights_never_do)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = nu_port();
    MT_REQUIRE(d && p);
    pd_msg m;
    pd_rbuf r;
    pd_set(&m.d[0], p, MACH_MSG_TYPE_MAKE_SEND);
    pd_set(&m.d[1], p, MACH_MSG_TYPE_MAKE_SEND);
    pd_set(&m.d[2], p, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    pd_set(&m.d[3], p, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    MT_KR(pd_send(&m, 4, d, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(p).mps_mscount, 2);
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 4, 0)->name, p);
    MT_EQ(pd_got(&r, 4, 1)->name, p);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    mach_port_name_t s1 = pd_got(&r, 4, 2)->name, s2 = pd_got(&r, 4, 3)->name;
    MT_NE(s1, p);
    MT_NE(s2, p);
    MT_NE(s1, s2);
    MT_EQ(nu_status(p).mps_sorights, 2);
    MT_KR(mach_port_deallocate(TASK, s1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, s2), KERN_SUCCESS);
    nu_kill(p);
    nu_kill(d);
    NU_END();
}

MT_TEST(a_send_and_a_receive_right_for_one_port_coalesce_in_either_order)
{
    NU_BEGIN();
    static const mach_msg_type_name_t orders[2][2] = {
        {MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_RECEIVE},
        {MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_TYPE_MOVE_SEND},
    };
    for (int o = 0; o < 2; o++) {
        mach_port_name_t d = nu_port_with_send(), p = nu_port_with_send();
        MT_REQUIRE(d && p);
        pd_msg m;
        pd_rbuf r;
        pd_set(&m.d[0], p, orders[o][0]);
        pd_set(&m.d[1], p, orders[o][1]);
        MT_KR(pd_send(&m, 2, d, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
        MT_EQ(nu_type(p), (mach_port_type_t)-1); /* both rights left the space */
        MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
        mach_port_name_t a = pd_got(&r, 2, 0)->name, b = pd_got(&r, 2, 1)->name;
        MT_EQ(a, b);
        MT_EQ(nu_type(a), MACH_PORT_TYPE_SEND_RECEIVE);
        MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND), 1);
        nu_kill(a);
        nu_kill(d);
    }
    NU_END();
}

MT_TEST(send_rights_arriving_while_the_receive_right_is_away_and_after_it_came_back_coalesce)
{
    NU_BEGIN();
    mach_port_name_t d1 = nu_port_with_send(), d2 = nu_port_with_send(), p = nu_port_with_send();
    mach_port_name_t other = nu_port();
    MT_REQUIRE(d1 && d2 && p && other);
    pd_msg m;
    pd_rbuf r;
    /* the receive right leaves; the name keeps its send right */
    pd_set(&m.d[0], p, MACH_MSG_TYPE_MOVE_RECEIVE);
    MT_KR(pd_send(&m, 1, d1, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    /* a send right arriving now joins that name */
    pd_set(&m.d[0], p, MACH_MSG_TYPE_COPY_SEND);
    MT_KR(pd_send(&m, 1, d2, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_KR(pd_recv(d2, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 1, 0)->name, p);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    /* the name is taken for that port: no second name may hold its send right */
    MT_KR(mach_port_insert_right(TASK, other, p, MACH_MSG_TYPE_COPY_SEND), KERN_RIGHT_EXISTS);
    /* the receive right comes back under the same name */
    MT_KR(pd_recv(d1, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 1, 0)->name, p);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    /* and send rights arriving now still land there */
    pd_set(&m.d[0], p, MACH_MSG_TYPE_MAKE_SEND);
    MT_KR(pd_send(&m, 1, d2, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_KR(pd_recv(d2, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 1, 0)->name, p);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 3);
    MT_KR(mach_port_insert_right(TASK, other, p, MACH_MSG_TYPE_MAKE_SEND), KERN_RIGHT_EXISTS);
    /* a receive right that never had a send right gains one under its own name */
    pd_set(&m.d[0], other, MACH_MSG_TYPE_MAKE_SEND);
    MT_KR(pd_send(&m, 1, d2, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_KR(pd_recv(d2, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 1, 0)->name, other);
    MT_EQ(nu_type(other), MACH_PORT_TYPE_SEND_RECEIVE);
    nu_kill(other);
    nu_kill(p);
    nu_kill(d2);
    nu_kill(d1);
    NU_END();
}

MT_TEST(a_moved_receive_right_keeps_its_queue_and_loses_mscount_seqno_and_context)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = nu_port_with_send(), q = nu_port();
    MT_REQUIRE(d && p && q);
    pd_msg m;
    pd_rbuf r;
    MT_KR(pd_send(&m, 0, p, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_KR(pd_recv(p, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.m.b.msgh_descriptor_count, 0);
    MT_EQ(r.h.msgh_size, sizeof(mach_msg_base_t));
    MT_KR(pd_send(&m, 0, p, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_KR(mach_port_set_context(TASK, p, 0x5555), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_seqno, 1);
    MT_EQ(nu_status(p).mps_mscount, 1);
    pd_set(&m.d[0], p, MACH_MSG_TYPE_MOVE_RECEIVE);
    pd_set(&m.d[1], q, MACH_MSG_TYPE_MOVE_RECEIVE);
    MT_KR(pd_send(&m, 2, d, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_EQ(nu_type(q), (mach_port_type_t)-1); /* a receive-only name leaves the space */
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 2, 0)->name, p);
    mach_port_name_t q2 = pd_got(&r, 2, 1)->name;
    MT_EQ(nu_type(q2), MACH_PORT_TYPE_RECEIVE);
    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_mscount, 0);
    MT_EQ(st.mps_seqno, 0);
    MT_EQ(st.mps_msgcount, 1);
    mach_port_context_t ctx = 7;
    MT_KR(mach_port_get_context(TASK, p, &ctx), KERN_SUCCESS);
    MT_EQ(ctx, 0);
    MT_KR(pd_recv(p, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, 0x5044);
    nu_kill(p);
    nu_kill(q2);
    nu_kill(d);
    NU_END();
}

MT_TEST(null_dead_and_dead_name_descriptors_arrive_as_null_or_dead)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), dead;
    MT_REQUIRE(d);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_DEAD_NAME, 2), KERN_SUCCESS);
    static const mach_msg_type_name_t disps[] = {
        MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE,
        MACH_MSG_TYPE_COPY_SEND,    MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE};
    static const mach_msg_type_name_t types[] = {16, 17, 18, 17, 17, 18};
    pd_msg m;
    pd_rbuf r;
    for (unsigned i = 0; i < 6; i++) {
        pd_set(&m.d[0], MACH_PORT_NULL, disps[i]);
        pd_set(&m.d[1], MACH_PORT_DEAD, disps[i]);
        MT_KR(pd_send(&m, 2, d, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
        MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
        MT_EQ(pd_got(&r, 2, 0)->name, MACH_PORT_NULL);
        MT_EQ(r.m.d[0].disposition, types[i]);
        MT_EQ(pd_got(&r, 2, 1)->name, MACH_PORT_DEAD);
        MT_EQ(r.m.d[1].disposition, types[i]);
    }
    /* a dead-name entry: COPY_SEND keeps the uref, MOVE_* take one */
    pd_set(&m.d[0], dead, MACH_MSG_TYPE_COPY_SEND);
    pd_set(&m.d[1], dead, MACH_MSG_TYPE_MOVE_SEND);
    pd_set(&m.d[2], dead, MACH_MSG_TYPE_MOVE_SEND_ONCE);
    MT_KR(pd_send(&m, 3, d, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    for (unsigned i = 0; i < 3; i++)
        MT_EQ(pd_got(&r, 3, i)->name, MACH_PORT_DEAD);
    MT_EQ(r.m.d[2].disposition, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    nu_kill(d);
    NU_END();
}

MT_TEST(an_unknown_descriptor_type_is_invalid_type_and_consumes_nothing)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = nu_port_with_send(), rp = nu_port();
    MT_REQUIRE(d && p && rp);
    pd_msg m;
    static const unsigned bad[] = {5, 9, 0xff};
    for (unsigned i = 0; i < 3; i++) {
        pd_set(&m.d[0], p, MACH_MSG_TYPE_MOVE_SEND);
        pd_set(&m.d[1], p, MACH_MSG_TYPE_MOVE_RECEIVE);
        m.d[1].type = bad[i];
        MT_KR(pd_send(&m, 2, d, MACH_MSG_TYPE_MOVE_SEND, rp, MACH_MSG_TYPE_MAKE_SEND_ONCE),
              MACH_SEND_INVALID_TYPE);
    }
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(rp).mps_sorights, 0);
    pd_rbuf r;
    MT_KR(pd_recv(rp, &r), MACH_RCV_TIMED_OUT);
    MT_KR(pd_recv(d, &r), MACH_RCV_TIMED_OUT);
    nu_kill(d);
    nu_kill(p);
    nu_kill(rp);
    NU_END();
}

MT_TEST(a_bad_right_destroys_the_header_rights_and_earlier_descriptors_only)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), rp = nu_port(), a = nu_port_with_send(),
                     b = nu_port_with_send(), c = nu_port_with_send(), dead;
    MT_REQUIRE(d && rp && a && b && c);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    /* bad names, then rights that cannot be taken with the given disposition */
    const struct {
        mach_port_name_t name;
        mach_msg_type_name_t disp;
    } bad[] = {{PD_UNKNOWN_NAME, MACH_MSG_TYPE_COPY_SEND},
               {rp, MACH_MSG_TYPE_COPY_SEND},
               {a, MACH_MSG_TYPE_MOVE_SEND_ONCE},
               {dead, MACH_MSG_TYPE_MOVE_RECEIVE},
               {c, MACH_MSG_TYPE_COPY_RECEIVE},
               {c, MACH_MSG_TYPE_PORT_NAME},
               {c, 0},
               {c, MACH_MSG_TYPE_DISPOSE_SEND}};
    pd_msg m;
    pd_rbuf r;
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pd_set(&m.d[0], a, MACH_MSG_TYPE_MOVE_SEND);
        pd_set(&m.d[1], b, MACH_MSG_TYPE_MOVE_RECEIVE);
        pd_set(&m.d[2], bad[i].name, bad[i].disp);
        pd_set(&m.d[3], c, MACH_MSG_TYPE_MOVE_SEND);
        MT_KR(pd_send(&m, 4, d, MACH_MSG_TYPE_MOVE_SEND, rp, MACH_MSG_TYPE_MAKE_SEND_ONCE),
              MACH_SEND_INVALID_RIGHT);
        /* the header's rights were taken: the made send-once right died unused */
        MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
        MT_KR(pd_recv(rp, &r), MACH_MSG_SUCCESS);
        MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
        MT_EQ(nu_status(rp).mps_sorights, 0);
        /* earlier descriptors destroyed: a's moved uref, b's receive right */
        MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND), 1);
        MT_EQ(nu_type(b), MACH_PORT_TYPE_DEAD_NAME);
        MT_EQ(nu_refs(b, MACH_PORT_RIGHT_DEAD_NAME), 1);
        /* the later descriptor was not touched */
        MT_EQ(nu_refs(c, MACH_PORT_RIGHT_SEND), 1);
        MT_KR(pd_recv(d, &r), MACH_RCV_TIMED_OUT);
        MT_KR(mach_port_deallocate(TASK, b), KERN_SUCCESS);
        b = nu_port_with_send();
        MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    }
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    nu_kill(d);
    nu_kill(rp);
    nu_kill(a);
    nu_kill(b);
    nu_kill(c);
    NU_END();
}

MT_TEST(a_bad_disposition_on_a_null_name_is_not_checked_and_arrives_as_port_none)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    pd_msg m;
    pd_rbuf r;
    pd_set(&m.d[0], MACH_PORT_NULL, MACH_MSG_TYPE_COPY_RECEIVE);
    pd_set(&m.d[1], MACH_PORT_DEAD, 0);
    MT_KR(pd_send(&m, 2, d, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 2, 0)->name, MACH_PORT_NULL);
    MT_EQ(r.m.d[0].disposition, MACH_MSG_TYPE_PORT_NONE);
    MT_EQ(pd_got(&r, 2, 1)->name, MACH_PORT_DEAD);
    MT_EQ(r.m.d[1].disposition, MACH_MSG_TYPE_PORT_NONE);
    nu_kill(d);
    NU_END();
}

MT_TEST(a_receive_right_sent_into_its_own_chain_is_destroyed_and_the_send_succeeds)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), a = nu_port_with_send(), b = nu_port_with_send();
    MT_REQUIRE(p && a && b);
    pd_msg m;
    /* into its own queue */
    pd_set(&m.d[0], p, MACH_MSG_TYPE_MOVE_RECEIVE);
    MT_KR(pd_send(&m, 1, p, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    /* b travels to a, then a would travel inside b: a loop, so the message is destroyed */
    pd_set(&m.d[0], b, MACH_MSG_TYPE_MOVE_RECEIVE);
    MT_KR(pd_send(&m, 1, a, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(b), MACH_PORT_TYPE_SEND);
    pd_set(&m.d[0], a, MACH_MSG_TYPE_MOVE_RECEIVE);
    MT_KR(pd_send(&m, 1, b, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(a), MACH_PORT_TYPE_DEAD_NAME); /* a died with the destroyed message */
    MT_EQ(nu_type(b), MACH_PORT_TYPE_DEAD_NAME); /* and b with the message queued on a */
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, a), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, b), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_send_right_received_into_a_name_pegged_at_0xffff_urefs_leaves_it_pegged)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = nu_port_with_send();
    MT_REQUIRE(d && p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, NU_UREFS_MAX - 1), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX);
    pd_msg m;
    pd_rbuf r;
    pd_set(&m.d[0], p, MACH_MSG_TYPE_MAKE_SEND);
    pd_set(&m.d[1], p, MACH_MSG_TYPE_COPY_SEND);
    MT_KR(pd_send(&m, 2, d, MACH_MSG_TYPE_COPY_SEND, 0, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX);
    MT_KR(pd_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(pd_got(&r, 2, 0)->name, p);
    MT_EQ(pd_got(&r, 2, 1)->name, p);
    /* both arrivals coalesce into the pegged name: it neither wraps nor moves */
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX);
    /* and the name still counts as one sender: dropping it all leaves no senders */
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -(mach_port_delta_t)NU_UREFS_MAX),
          KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(p).mps_srights, 0);
    nu_kill(p);
    nu_kill(d);
    NU_END();
}

MT_MAIN()
