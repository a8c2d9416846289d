/* Message queues: FIFO order, sequence numbers, queue limits and blocked senders. */
#if !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* nanosleep under -std=c11 */
#endif
#include "notify_util.h"

#include <pthread.h>
#include <time.h>

/* A simple message: header and one word of payload. */
typedef struct {
    mach_msg_header_t h;
    uint32_t word;
} q_msg;

static mach_msg_return_t q_send(mach_port_name_t dest, mach_msg_type_name_t disp, mach_msg_id_t id,
                                mach_msg_option_t extra, mach_msg_timeout_t ms, q_msg *out)
{
    q_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(disp, 0);
    m.h.msgh_remote_port = dest;
    m.h.msgh_id = id;
    m.word = 0xC0DE0000u + (uint32_t)id;
    mach_msg_return_t mr = mach_msg(&m.h, MACH_SEND_MSG | extra, sizeof m, 0, MACH_PORT_NULL, ms,
                                    MACH_PORT_NULL);
    if (out)
        *out = m;
    return mr;
}

static void q_set_qlimit(mach_port_name_t port, mach_port_msgcount_t limit)
{
    mach_port_limits_t l = {.mpl_qlimit = limit};
    MT_KR(mach_port_set_attributes(TASK, port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
}

static void q_sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Receive everything queued; returns the number of messages. */
static int q_drain(mach_port_name_t port)
{
    nu_msg m;
    int n = 0;
    while (nu_recv(port, &m, 0) == MACH_MSG_SUCCESS)
        n++;
    return n;
}

/*
 * Queue MACH_PORT_QLIMIT_KERNEL header-only messages on `port` (whose receive right we hold),
 * each to a send-once right made for it, which the queue limit does not stop. Returns the
 * first failure, or MACH_MSG_SUCCESS.
 */
static mach_msg_return_t q_fill_to_the_kernel_limit(mach_port_name_t port)
{
    mach_msg_header_t h;
    for (unsigned i = 0; i < MACH_PORT_QLIMIT_KERNEL; i++) {
        memset(&h, 0, sizeof h);
        h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0);
        h.msgh_size = sizeof h;
        h.msgh_remote_port = port;
        h.msgh_id = (mach_msg_id_t)i;
        mach_msg_return_t mr = mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0,
                                        MACH_PORT_NULL, 0, MACH_PORT_NULL);
        if (mr != MACH_MSG_SUCCESS)
            return mr;
    }
    return MACH_MSG_SUCCESS;
}

/*
 * The timeout of a send to a queue at MACH_PORT_QLIMIT_KERNEL: not zero, since XNU answers a
 * zero timeout with MACH_SEND_TIMED_OUT before it looks at the kernel limit
 * (ipc_mqueue_send_locked); a sender that would wait is refused at once with NO_BUFFER.
 */
#define Q_NOT_ZERO_MS 10000

MT_TEST(messages_are_received_in_fifo_order_with_increasing_seqnos)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    for (int i = 0; i < 4; i++)
        MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, 100 + i, 0, 0, NULL), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(port).mps_msgcount, 4);
    MT_EQ(nu_status(port).mps_seqno, 0);
    for (int i = 0; i < 4; i++) {
        nu_msg m;
        MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, 100 + i);
        MT_EQ(m.h.msgh_size, sizeof(q_msg));
        MT_EQ(m.h.msgh_bits, MACH_MSGH_BITS(0, MACH_MSG_TYPE_PORT_SEND));
        MT_EQ(m.h.msgh_local_port, port);
        MT_EQ(m.h.msgh_remote_port, MACH_PORT_NULL);
        uint32_t w;
        memcpy(&w, m.bytes + sizeof(mach_msg_header_t), sizeof w);
        MT_EQ(w, 0xC0DE0000u + 100 + (uint32_t)i);
        MT_EQ(nu_trailer(&m)->msgh_seqno, i);
        MT_EQ(nu_status(port).mps_seqno, i + 1);
        MT_EQ(nu_status(port).mps_msgcount, 3 - i);
    }
    /* the dest right of each message was consumed on receipt: urefs are unchanged */
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(set_seqno_changes_the_seqno_of_the_next_dequeued_message)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    MT_KR(mach_port_set_seqno(TASK, port, 1000), KERN_SUCCESS);
    MT_EQ(nu_status(port).mps_seqno, 1000);
    MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, 1, 0, 0, NULL), MACH_MSG_SUCCESS);
    MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, 2, 0, 0, NULL), MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_trailer(&m)->msgh_seqno, 1000);
    MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_trailer(&m)->msgh_seqno, 1001);
    MT_EQ(nu_status(port).mps_seqno, 1002);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(new_port_has_default_qlimit_five_and_limits_can_be_read_and_set)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port();
    MT_REQUIRE(port);
    mach_port_status_t st = nu_status(port);
    MT_EQ(st.mps_qlimit, MACH_PORT_QLIMIT_DEFAULT);
    MT_EQ(st.mps_qlimit, 5);
    MT_EQ(st.mps_msgcount, 0);
    MT_EQ(st.mps_seqno, 0);
    mach_port_limits_t l = {.mpl_qlimit = 77};
    mach_msg_type_number_t n = MACH_PORT_LIMITS_INFO_COUNT;
    MT_KR(mach_port_get_attributes(TASK, port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l, &n),
          KERN_SUCCESS);
    MT_EQ(l.mpl_qlimit, 5);
    MT_EQ(n, MACH_PORT_LIMITS_INFO_COUNT);
    /* above MACH_PORT_QLIMIT_MAX is refused and changes nothing */
    l.mpl_qlimit = MACH_PORT_QLIMIT_MAX + 1;
    MT_KR(mach_port_set_attributes(TASK, port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_INVALID_VALUE);
    MT_EQ(nu_status(port).mps_qlimit, 5);
    q_set_qlimit(port, MACH_PORT_QLIMIT_MAX);
    MT_EQ(nu_status(port).mps_qlimit, 1024);
    q_set_qlimit(port, 0);
    MT_EQ(nu_status(port).mps_qlimit, 0);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(send_with_zero_timeout_to_a_full_queue_times_out_and_queues_nothing)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    for (int i = 0; i < 5; i++)
        MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, i, MACH_SEND_TIMEOUT, 0, NULL),
              MACH_MSG_SUCCESS);
    MT_EQ(nu_status(port).mps_msgcount, 5);
    q_msg back;
    MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, 5, MACH_SEND_TIMEOUT, 0, &back),
          MACH_SEND_TIMED_OUT);
    MT_EQ(nu_status(port).mps_msgcount, 5);
    /* pseudo-received: the copied send right came back as a real send right */
    MT_EQ(back.h.msgh_bits, MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND, 0));
    MT_EQ(back.h.msgh_remote_port, port);
    MT_EQ(back.h.msgh_size, sizeof(q_msg));
    MT_EQ(back.h.msgh_id, 5);
    MT_EQ(back.word, 0xC0DE0005u);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 2);
    for (int i = 0; i < 5; i++) {
        nu_msg m;
        MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, i);
    }
    nu_msg m;
    MT_KR(nu_recv(port, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(send_once_destinations_are_exempt_from_the_queue_limit)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    for (int i = 0; i < 5; i++)
        MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, i, 0, 0, NULL), MACH_MSG_SUCCESS);
    MT_KR(q_send(port, MACH_MSG_TYPE_MAKE_SEND_ONCE, 5, MACH_SEND_TIMEOUT, 0, NULL),
          MACH_MSG_SUCCESS);
    mach_port_name_t so = nu_send_once(port);
    MT_REQUIRE(so);
    MT_KR(q_send(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, 6, MACH_SEND_TIMEOUT, 0, NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_type(so), (mach_port_type_t)-1);
    MT_EQ(nu_status(port).mps_msgcount, 7);
    MT_EQ(nu_status(port).mps_sorights, 2); /* both still in flight in the queue */
    /* a plain send still finds the queue full */
    MT_KR(q_send(port, MACH_MSG_TYPE_MAKE_SEND, 7, MACH_SEND_TIMEOUT, 0, NULL),
          MACH_SEND_TIMED_OUT);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 2); /* the made send right came back */
    for (int i = 0; i < 7; i++) {
        nu_msg m;
        MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, i);
        MT_EQ(m.h.msgh_bits, MACH_MSGH_BITS(0, i < 5 ? MACH_MSG_TYPE_PORT_SEND
                                                    : MACH_MSG_TYPE_PORT_SEND_ONCE));
    }
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(qlimit_zero_fails_every_timed_send_except_to_a_send_once_right)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    q_set_qlimit(port, MACH_PORT_QLIMIT_ZERO);
    MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, 1, MACH_SEND_TIMEOUT, 0, NULL),
          MACH_SEND_TIMED_OUT);
    MT_KR(q_send(port, MACH_MSG_TYPE_MOVE_SEND, 2, MACH_SEND_TIMEOUT, 0, NULL),
          MACH_SEND_TIMED_OUT);
    MT_EQ(nu_status(port).mps_msgcount, 0);
    /* COPY_SEND came back as one more uref, MOVE_SEND came back as the one it took */
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 2);
    MT_KR(q_send(port, MACH_MSG_TYPE_MAKE_SEND_ONCE, 3, MACH_SEND_TIMEOUT, 0, NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_status(port).mps_msgcount, 1);
    nu_msg m;
    MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 3);
    MT_EQ(m.h.msgh_bits, MACH_MSGH_BITS(0, MACH_MSG_TYPE_PORT_SEND_ONCE));
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(user_send_always_bit_does_not_bypass_the_queue_limit)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    q_set_qlimit(port, 1);
    MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, 1, 0, 0, NULL), MACH_MSG_SUCCESS);
    /* 0x10000 is MACH_SEND_FILTER_NONFATAL for user space, never MACH_SEND_ALWAYS */
    MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, 2, MACH_SEND_TIMEOUT | 0x00010000, 0, NULL),
          MACH_SEND_TIMED_OUT);
    MT_EQ(nu_status(port).mps_msgcount, 1);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 2);
    MT_EQ(q_drain(port), 1);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(receive_with_zero_timeout_on_an_empty_queue_times_out_and_writes_nothing)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port();
    MT_REQUIRE(port);
    nu_msg m;
    MT_KR(nu_recv(port, &m, 0), MACH_RCV_TIMED_OUT);
    for (size_t i = 0; i < sizeof m.bytes; i++)
        if (m.bytes[i] != 0xA5) {
            MT_EQ(i, sizeof m.bytes); /* report the first byte written */
            break;
        }
    MT_EQ(nu_status(port).mps_seqno, 0);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

/* ---- blocked senders ------------------------------------------------------------------------ */

typedef struct {
    mach_port_name_t dest;
    mach_msg_id_t id;
    mach_msg_return_t mr;
} q_sender;

static void *q_sender_main(void *arg)
{
    q_sender *s = arg;
    s->mr = q_send(s->dest, MACH_MSG_TYPE_COPY_SEND, s->id, 0, 0, NULL);
    return NULL;
}

MT_TEST(blocked_sender_is_released_when_the_receiver_dequeues)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    for (int i = 0; i < 5; i++)
        MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, i, 0, 0, NULL), MACH_MSG_SUCCESS);
    q_sender s = {.dest = port, .id = 5, .mr = -1};
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, q_sender_main, &s) == 0);
    q_sleep_ms(20); /* let it block; the result does not depend on whether it did */
    nu_msg m;
    MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 0);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_KR(s.mr, MACH_MSG_SUCCESS);
    MT_EQ(nu_status(port).mps_msgcount, 5);
    for (int i = 1; i <= 5; i++) {
        MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, i);
    }
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(raising_the_qlimit_lets_a_blocked_sender_in)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    q_set_qlimit(port, 1);
    MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, 1, 0, 0, NULL), MACH_MSG_SUCCESS);
    q_sender s = {.dest = port, .id = 2, .mr = -1};
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, q_sender_main, &s) == 0);
    q_sleep_ms(20);
    q_set_qlimit(port, 2);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_KR(s.mr, MACH_MSG_SUCCESS);
    MT_EQ(nu_status(port).mps_msgcount, 2);
    nu_msg m;
    MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 1);
    MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 2);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(lowering_the_qlimit_below_msgcount_keeps_queued_messages)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    for (int i = 0; i < 4; i++)
        MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, i, 0, 0, NULL), MACH_MSG_SUCCESS);
    q_set_qlimit(port, 2);
    MT_EQ(nu_status(port).mps_msgcount, 4);
    nu_msg m;
    MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
    MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
    /* 2 queued, limit 2: still full */
    MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, 9, MACH_SEND_TIMEOUT, 0, NULL),
          MACH_SEND_TIMED_OUT);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 2);
    MT_KR(nu_recv(port, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 2);
    MT_KR(q_send(port, MACH_MSG_TYPE_COPY_SEND, 10, MACH_SEND_TIMEOUT, 0, NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(q_drain(port), 2);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(send_once_messages_beyond_the_kernel_limit_are_no_buffer_and_handed_back)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    mach_port_name_t other = nu_port_with_send();
    MT_REQUIRE(p && other);
    /* Send-once destinations skip the queue limit, up to MACH_PORT_QLIMIT_KERNEL messages. */
    MT_KR(q_fill_to_the_kernel_limit(p), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(p).mps_msgcount, MACH_PORT_QLIMIT_KERNEL);

    /* One more: refused, and its rights are handed back into the buffer (pseudo-receive). */
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_TYPE_COPY_SEND);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = p;
    h.msgh_local_port = other;
    h.msgh_id = 77;
    MT_KR(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL,
                   Q_NOT_ZERO_MS, MACH_PORT_NULL),
          MACH_SEND_NO_BUFFER);
    MT_EQ(MACH_MSGH_BITS_REMOTE(h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(MACH_MSGH_BITS_LOCAL(h.msgh_bits), MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(nu_type(h.msgh_remote_port), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(h.msgh_local_port, other);
    MT_EQ(nu_refs(other, MACH_PORT_RIGHT_SEND), 2); /* the copied send right came back */
    MT_EQ(nu_status(p).mps_msgcount, MACH_PORT_QLIMIT_KERNEL);

    /* Destroying the port takes the queue with it; the handed-back send-once right dies. */
    mach_port_name_t so = h.msgh_remote_port;
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, other), KERN_SUCCESS);
    nu_kill(other);
    NU_END();
}

/*
 * XNU's order at the kernel limit (ipc_mqueue_send_locked): a send that may not wait is
 * MACH_SEND_TIMED_OUT before the limit is looked at, whatever the destination right; any other
 * send is refused at once with MACH_SEND_NO_BUFFER, a send right's as well (it does not wait
 * for room, though the queue is over its limit too). The rights come back into the buffer.
 */
MT_TEST(at_the_kernel_limit_a_zero_timeout_times_out_and_a_send_right_is_refused_without_waiting)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(q_fill_to_the_kernel_limit(p), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(p).mps_msgcount, MACH_PORT_QLIMIT_KERNEL);

    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = p;
    h.msgh_id = 79;
    MT_KR(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_SEND_TIMED_OUT);
    MT_EQ(MACH_MSGH_BITS_REMOTE(h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    mach_port_name_t so = h.msgh_remote_port;
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);

    MT_KR(q_send(p, MACH_MSG_TYPE_COPY_SEND, 80, MACH_SEND_TIMEOUT, 0, NULL),
          MACH_SEND_TIMED_OUT);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2); /* the copied right came back */
    /* A send right with time to wait: refused at once, its copied right handed back. */
    MT_KR(q_send(p, MACH_MSG_TYPE_COPY_SEND, 81, MACH_SEND_TIMEOUT, Q_NOT_ZERO_MS, NULL),
          MACH_SEND_NO_BUFFER);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 3);
    MT_EQ(nu_status(p).mps_msgcount, MACH_PORT_QLIMIT_KERNEL);

    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -3), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_make_send_once_descriptor_in_a_send_refused_with_no_buffer_comes_back_as_a_send_once_right)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), q = nu_port();
    MT_REQUIRE(p && q);
    MT_KR(q_fill_to_the_kernel_limit(p), MACH_MSG_SUCCESS);

    nu_carry_msg m;
    nu_carry_fill(&m, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, q, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    m.h.msgh_id = 78;
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL,
                   Q_NOT_ZERO_MS, MACH_PORT_NULL),
          MACH_SEND_NO_BUFFER);

    /* The right the descriptor made is the sender's now, under a new send-once name. */
    mach_port_name_t dest_so = m.h.msgh_remote_port, desc_so = m.d.name;
    MT_EQ(m.h.msgh_bits & MACH_MSGH_BITS_COMPLEX, MACH_MSGH_BITS_COMPLEX);
    MT_EQ(MACH_MSGH_BITS_REMOTE(m.h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(m.b.msgh_descriptor_count, 1);
    MT_EQ(m.d.type, MACH_MSG_PORT_DESCRIPTOR);
    MT_EQ(m.d.disposition, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_CHECK(desc_so != q && desc_so != p && desc_so != dest_so);
    MT_EQ(nu_type(desc_so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_refs(desc_so, MACH_PORT_RIGHT_SEND_ONCE), 1);
    MT_EQ(nu_type(dest_so), MACH_PORT_TYPE_SEND_ONCE);
    /* q: its receive right as it was, one send-once right out, no send right made, no message */
    MT_EQ(nu_type(q), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_refs(q, MACH_PORT_RIGHT_RECEIVE), 1);
    MT_EQ(nu_status(q).mps_sorights, 1);
    MT_EQ(nu_status(q).mps_mscount, 0);
    MT_EQ(nu_status(q).mps_msgcount, 0);
    /* p: the queued messages' send-once rights and the handed-back one */
    MT_EQ(nu_status(p).mps_msgcount, MACH_PORT_QLIMIT_KERNEL);
    MT_EQ(nu_status(p).mps_sorights, MACH_PORT_QLIMIT_KERNEL + 1);

    /* Once there is room the buffer is sent again as it is: both rights move with it. */
    nu_msg r;
    MT_KR(nu_recv(p, &r, 0), MACH_MSG_SUCCESS);
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL,
                   Q_NOT_ZERO_MS, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_type(desc_so), NU_NO_NAME);
    MT_EQ(nu_type(dest_so), NU_NO_NAME);
    MT_EQ(nu_status(q).mps_sorights, 1);
    MT_EQ(nu_status(p).mps_msgcount, MACH_PORT_QLIMIT_KERNEL);

    /* p dies with its queue: the send-once right to q in the last message tells q. */
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(nu_recv(q, &r, 0), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(q).mps_sorights, 0);
    MT_KR(nu_recv(q, &r, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
