/* Receive trailers: sizes per element count, the bytes written, seqno, tokens and context. */
#include "notify_util.h"

#include <unistd.h>

typedef union {
    mach_msg_header_t h;
    uint8_t bytes[256];
} tr_rbuf;

#define TR_BODY 12 /* a 36-byte message: the trailer starts at offset 36 */

static mach_msg_return_t tr_send(mach_port_name_t dest, mach_msg_size_t size)
{
    struct {
        mach_msg_header_t h;
        uint32_t body[8];
    } m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    m.h.msgh_remote_port = dest;
    m.h.msgh_id = 0x5452;
    for (int i = 0; i < 8; i++)
        m.body[i] = 0x01010101u * (uint32_t)(i + 1);
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

static mach_msg_return_t tr_recv(mach_port_name_t port, tr_rbuf *r, mach_msg_option_t trailer,
                                 mach_msg_size_t size)
{
    memset(r, 0xA5, sizeof *r);
    return mach_msg(&r->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT | trailer, 0, size, port, 0,
                    MACH_PORT_NULL);
}

static mach_msg_option_t tr_elems(unsigned n)
{
    return MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) | MACH_RCV_TRAILER_ELEMENTS(n);
}

/* 1 if every byte of r from `from` to its end still holds the fill pattern. */
static int tr_untouched(const tr_rbuf *r, size_t from)
{
    for (size_t i = from; i < sizeof r->bytes; i++)
        if (r->bytes[i] != 0xA5)
            return 0;
    return 1;
}

MT_TEST(each_element_count_selects_its_trailer_size_and_writes_only_those_bytes)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    const struct {
        unsigned elems;
        mach_msg_size_t size;
    } cases[] = {{0, 8},  {1, 12}, {2, 20}, {3, 52}, {4, 60},  {7, 68},
                 {8, 68}, {5, 68}, {6, 68}, {9, 68}, {12, 68}, {15, 68}};
    const size_t msg = 24 + TR_BODY;
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tr_rbuf r;
        MT_KR(tr_send(p, (mach_msg_size_t)msg), MACH_MSG_SUCCESS);
        MT_KR(tr_recv(p, &r, tr_elems(cases[i].elems), sizeof r), MACH_MSG_SUCCESS);
        MT_EQ(r.h.msgh_size, msg);
        mach_msg_max_trailer_t t;
        memcpy(&t, r.bytes + msg, sizeof t);
        MT_EQ(t.msgh_trailer_type, MACH_MSG_TRAILER_FORMAT_0);
        MT_EQ(t.msgh_trailer_size, cases[i].size);
        MT_CHECK(tr_untouched(&r, msg + cases[i].size));
        if (cases[i].size == 68) {
            MT_EQ(t.msgh_context, 0);
            MT_EQ(t.msgh_ad, 0);
            MT_EQ(t.msgh_labels.sender, 0);
        }
    }
    MT_EQ(sizeof(mach_msg_trailer_t), 8);
    MT_EQ(sizeof(mach_msg_seqno_trailer_t), 12);
    MT_EQ(sizeof(mach_msg_security_trailer_t), 20);
    MT_EQ(sizeof(mach_msg_audit_trailer_t), 52);
    MT_EQ(sizeof(mach_msg_context_trailer_t), 60);
    MT_EQ(sizeof(mach_msg_mac_trailer_t), 68);
    MT_EQ(MAX_TRAILER_SIZE, 68);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_nonzero_trailer_type_is_ignored_and_format_0_is_delivered)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    tr_rbuf r;
    for (unsigned type = 1; type < 16; type += 7) {
        MT_KR(tr_send(p, 24), MACH_MSG_SUCCESS);
        MT_KR(
            tr_recv(p, &r,
                    MACH_RCV_TRAILER_TYPE(type) | MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SEQNO),
                    sizeof r),
            MACH_MSG_SUCCESS);
        const mach_msg_seqno_trailer_t *t =
            (const mach_msg_seqno_trailer_t *)(const void *)(r.bytes + 24);
        MT_EQ(t->msgh_trailer_type, MACH_MSG_TRAILER_FORMAT_0);
        MT_EQ(t->msgh_trailer_size, 12);
    }
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(seqno_counts_dequeues_from_zero_per_port)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), q = nu_port();
    MT_REQUIRE(p && q);
    tr_rbuf r;
    for (unsigned i = 0; i < 3; i++)
        MT_KR(tr_send(p, 24), MACH_MSG_SUCCESS);
    MT_KR(tr_send(q, 24), MACH_MSG_SUCCESS);
    for (unsigned i = 0; i < 3; i++) {
        MT_KR(tr_recv(p, &r, tr_elems(MACH_RCV_TRAILER_SEQNO), sizeof r), MACH_MSG_SUCCESS);
        MT_EQ(((const mach_msg_seqno_trailer_t *)(const void *)(r.bytes + 24))->msgh_seqno, i);
    }
    MT_KR(tr_recv(q, &r, tr_elems(MACH_RCV_TRAILER_SEQNO), sizeof r), MACH_MSG_SUCCESS);
    MT_EQ(((const mach_msg_seqno_trailer_t *)(const void *)(r.bytes + 24))->msgh_seqno, 0);
    MT_EQ(nu_status(p).mps_seqno, 3);
    MT_EQ(nu_status(q).mps_seqno, 1);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(sender_and_audit_tokens_name_this_process_and_match_task_info)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    tr_rbuf r;
    MT_KR(tr_send(p, 24 + TR_BODY), MACH_MSG_SUCCESS);
    MT_KR(tr_recv(p, &r, tr_elems(MACH_RCV_TRAILER_AUDIT), sizeof r), MACH_MSG_SUCCESS);
    mach_msg_audit_trailer_t t;
    memcpy(&t, r.bytes + 24 + TR_BODY, sizeof t);
    MT_EQ(t.msgh_trailer_size, 52);
    MT_EQ(t.msgh_seqno, 0);
    MT_EQ(t.msgh_sender.val[0], geteuid());
    MT_EQ(t.msgh_sender.val[1], getegid());
    MT_EQ(t.msgh_audit.val[1], geteuid());
    MT_EQ(t.msgh_audit.val[2], getegid());
    MT_EQ(t.msgh_audit.val[3], getuid());
    MT_EQ(t.msgh_audit.val[4], getgid());
    MT_EQ(t.msgh_audit.val[5], getpid());
    audit_token_t at;
    security_token_t st;
    mach_msg_type_number_t n = TASK_AUDIT_TOKEN_COUNT;
    MT_KR(task_info(TASK, TASK_AUDIT_TOKEN, (task_info_t)&at, &n), KERN_SUCCESS);
    MT_EQ(n, 8);
    MT_CHECK(memcmp(&at, &t.msgh_audit, sizeof at) == 0);
    n = TASK_SECURITY_TOKEN_COUNT;
    MT_KR(task_info(TASK, TASK_SECURITY_TOKEN, (task_info_t)&st, &n), KERN_SUCCESS);
    MT_EQ(n, 2);
    MT_CHECK(memcmp(&st, &t.msgh_sender, sizeof st) == 0);
    /* short counts are refused */
    n = TASK_AUDIT_TOKEN_COUNT - 1;
    MT_KR(task_info(TASK, TASK_AUDIT_TOKEN, (task_info_t)&at, &n), KERN_INVALID_ARGUMENT);
    n = TASK_SECURITY_TOKEN_COUNT - 1;
    MT_KR(task_info(TASK, TASK_SECURITY_TOKEN, (task_info_t)&st, &n), KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(the_context_element_is_the_receiving_ports_context_at_receive_time)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    tr_rbuf r;
    const mach_port_context_t ctx = (mach_port_context_t)0x1122334455667788ull;
    MT_KR(tr_send(p, 24), MACH_MSG_SUCCESS);
    MT_KR(tr_send(p, 24), MACH_MSG_SUCCESS);
    MT_KR(mach_port_set_context(TASK, p, ctx), KERN_SUCCESS);
    MT_KR(tr_recv(p, &r, tr_elems(MACH_RCV_TRAILER_CTX), sizeof r), MACH_MSG_SUCCESS);
    mach_msg_context_trailer_t t;
    memcpy(&t, r.bytes + 24, sizeof t);
    MT_EQ(t.msgh_trailer_size, 60);
    MT_EQ(t.msgh_context, ctx);
    MT_EQ(t.msgh_seqno, 0);
    MT_CHECK(tr_untouched(&r, 24 + 60));
    MT_KR(mach_port_set_context(TASK, p, 0), KERN_SUCCESS);
    MT_KR(tr_recv(p, &r, tr_elems(MACH_RCV_TRAILER_AV), sizeof r), MACH_MSG_SUCCESS);
    mach_msg_mac_trailer_t av;
    memcpy(&av, r.bytes + 24, sizeof av);
    MT_EQ(av.msgh_trailer_size, 68);
    MT_EQ(av.msgh_context, 0);
    MT_EQ(av.msgh_seqno, 1);
    MT_EQ(av.msgh_audit.val[5], getpid());
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(the_receive_buffer_must_also_hold_the_requested_trailer)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    tr_rbuf r;
    const mach_msg_size_t msg = 24 + TR_BODY;
    MT_KR(tr_send(p, msg), MACH_MSG_SUCCESS);
    MT_KR(mach_msg(&r.h,
                   MACH_RCV_MSG | MACH_RCV_TIMEOUT | MACH_RCV_LARGE |
                       tr_elems(MACH_RCV_TRAILER_AUDIT),
                   0, msg + 52 - 4, p, 0, MACH_PORT_NULL),
          MACH_RCV_TOO_LARGE);
    MT_EQ(r.h.msgh_size, msg); /* the size needed, without the trailer */
    MT_EQ(nu_status(p).mps_msgcount, 1);
    MT_KR(tr_recv(p, &r, tr_elems(MACH_RCV_TRAILER_AUDIT), msg + 52), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_size, msg);
    MT_CHECK(tr_untouched(&r, msg + 52));
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
