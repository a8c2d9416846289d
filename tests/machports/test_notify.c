/*
 * test_notify.c — notification requests and reading the notifications the kernel sends.
 */
#include "mpt.h"

static const mp_recv_options poll_opts = {.flags = MP_RECV_TIMEOUT, .timeout_ms = 0};

/* Receive one notification on `port` and read it into *n (the parser is discarded). */
static mach_msg_return_t get_notification(mp_recv_right port, mp_notification *n)
{
    mp_msg_buffer buf;
    mp_msg_parser p;
    memset(n, 0, sizeof *n);
    if (mp_msg_buffer_init(&buf, 256) != KERN_SUCCESS)
        return KERN_RESOURCE_SHORTAGE;
    mach_msg_return_t mr = mp_recv(port, &buf, &poll_opts, &p);
    if (mr == MACH_MSG_SUCCESS) {
        mr = mp_msg_parser_notification(&p, n);
        mp_msg_parser_drop(&p);
    }
    mp_msg_buffer_drop(&buf);
    return mr;
}

MPT_TEST(no_senders_fires_when_the_last_send_right_goes)
{
    mp_recv_right port, notify;
    mp_send_right s;
    mp_send_once_right prev;
    mp_notification n;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&notify), KERN_SUCCESS);
    MT_KR(mp_send_right_make(port, &s), KERN_SUCCESS);
    MT_KR(mp_recv_right_request_no_senders_sync(port, 0, notify, &prev), KERN_SUCCESS);
    MT_CHECK(mp_send_once_right_is_null(prev));
    mp_port_status st;
    MT_KR(mp_recv_right_status(port, &st), KERN_SUCCESS);
    MT_CHECK(st.nsrequest);
    MT_KR(get_notification(notify, &n), MACH_RCV_TIMED_OUT);
    (void)mp_send_right_drop(&s);
    MT_KR(get_notification(notify, &n), MACH_MSG_SUCCESS);
    MT_EQ(n.id, MACH_NOTIFY_NO_SENDERS);
    MT_EQ(n.mscount, 1);
    (void)mp_recv_right_drop(&port);
    (void)mp_recv_right_drop(&notify);
}

MPT_TEST(replacing_a_request_returns_the_previous_send_once_right)
{
    mp_recv_right port, notify;
    mp_send_once_right prev;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&notify), KERN_SUCCESS);
    MT_KR(mp_recv_right_request_no_senders_sync(port, 5, notify, NULL), KERN_SUCCESS);
    MT_KR(mp_recv_right_request_no_senders_sync(port, 5, notify, &prev), KERN_SUCCESS);
    MT_CHECK(!mp_send_once_right_is_null(prev));
    MT_KR(mp_send_once_right_drop(&prev), KERN_SUCCESS);
    /* Cancel: the registered right comes back and is dropped. */
    MT_KR(mp_recv_right_request_no_senders_sync(port, 0, MP_RECV_RIGHT_NULL, NULL), KERN_SUCCESS);
    /* Dropped send-once rights sent send-once notifications: drain them. */
    mp_notification n;
    int count = 0;
    while (count < 10 && get_notification(notify, &n) == MACH_MSG_SUCCESS) {
        MT_EQ(n.id, MACH_NOTIFY_SEND_ONCE);
        count++;
    }
    MT_EQ(count, 2);
    mp_port_status st;
    MT_KR(mp_recv_right_status(notify, &st), KERN_SUCCESS);
    MT_EQ(st.sorights, 0);
    (void)mp_recv_right_drop(&port);
    (void)mp_recv_right_drop(&notify);
}

MPT_TEST(dead_name_notification_gives_the_extra_reference_to_release)
{
    mp_recv_right other, notify;
    mp_send_right os;
    mp_notification n;
    MT_KR(mp_recv_right_alloc(&notify), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&other), KERN_SUCCESS);
    MT_KR(mp_send_right_make(other, &os), KERN_SUCCESS);
    MT_KR(mp_send_right_request_dead_name(os, notify, NULL), KERN_SUCCESS);
    (void)mp_recv_right_drop(&other);
    MT_KR(get_notification(notify, &n), MACH_MSG_SUCCESS);
    MT_EQ(n.id, MACH_NOTIFY_DEAD_NAME);
    MT_EQ(n.name, os.name);
    MT_EQ(n.dead_name.name, os.name);
    MT_EQ(mpt_refs(os.name, MACH_PORT_RIGHT_DEAD_NAME), 2);
    (void)mp_send_right_drop(&n.dead_name);
    (void)mp_send_right_drop(&os);
    (void)mp_recv_right_drop(&notify);
}

MPT_TEST(dead_name_request_on_a_dead_name_fails)
{
    mp_recv_right port, notify;
    mp_send_right s;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&notify), KERN_SUCCESS);
    MT_KR(mp_send_right_make(port, &s), KERN_SUCCESS);
    (void)mp_recv_right_drop(&port);
    MT_NE(mp_send_right_request_dead_name(s, notify, NULL), KERN_SUCCESS);
    (void)mp_send_right_drop(&s);
    (void)mp_recv_right_drop(&notify);
}

MPT_TEST(port_destroyed_hands_the_receive_right_back)
{
    mp_recv_right port, notify;
    mp_notification n;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&notify), KERN_SUCCESS);
    MT_KR(mp_recv_right_request_port_destroyed(port, notify, NULL), KERN_SUCCESS);
    mp_port_status st;
    MT_KR(mp_recv_right_status(port, &st), KERN_SUCCESS);
    MT_CHECK(st.pdrequest);
    MT_KR(mp_recv_right_drop(&port), KERN_SUCCESS);
    MT_KR(get_notification(notify, &n), MACH_MSG_SUCCESS);
    MT_EQ(n.id, MACH_NOTIFY_PORT_DESTROYED);
    MT_CHECK(!mp_recv_right_is_null(n.recv));
    MT_EQ(mpt_type(n.recv.name) & MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_RECEIVE);
    MT_KR(mp_recv_right_drop(&n.recv), KERN_SUCCESS); /* no request armed any more */
    (void)mp_recv_right_drop(&notify);
}

MPT_TEST(second_port_destroyed_request_fails)
{
    mp_recv_right port, notify;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&notify), KERN_SUCCESS);
    MT_KR(mp_recv_right_request_port_destroyed(port, notify, NULL), KERN_SUCCESS);
    MT_NE(mp_recv_right_request_port_destroyed(port, notify, NULL), KERN_SUCCESS);
    (void)mp_recv_right_drop(&port);
    mp_notification n;
    MT_KR(get_notification(notify, &n), MACH_MSG_SUCCESS);
    (void)mp_recv_right_drop(&n.recv);
    for (int i = 0; i < 10 && get_notification(notify, &n) == MACH_MSG_SUCCESS; i++)
        (void)mp_recv_right_drop(&n.recv);
    MT_EQ(mpt_queued(notify), 0);
    (void)mp_recv_right_drop(&notify);
}

MPT_TEST(send_possible_armed_on_a_queue_with_room_fires_at_once)
{
    mp_recv_right port, notify;
    mp_send_right s;
    mp_notification n;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&notify), KERN_SUCCESS);
    MT_KR(mp_send_right_make(port, &s), KERN_SUCCESS);
    MT_KR(mp_send_right_request_send_possible(s, 1, notify, NULL), KERN_SUCCESS);
    MT_KR(get_notification(notify, &n), MACH_MSG_SUCCESS);
    MT_EQ(n.id, MACH_NOTIFY_SEND_POSSIBLE);
    MT_EQ(n.name, s.name);
    (void)mp_send_right_drop(&s);
    (void)mp_recv_right_drop(&port);
    for (int i = 0; i < 10 && get_notification(notify, &n) == MACH_MSG_SUCCESS; i++)
        ;
    MT_EQ(mpt_queued(notify), 0);
    (void)mp_recv_right_drop(&notify);
}

MPT_TEST(requests_on_a_null_port_fail_cleanly)
{
    mp_recv_right notify;
    mp_send_once_right prev = {77};
    MT_KR(mp_recv_right_alloc(&notify), KERN_SUCCESS);
    MT_NE(mp_recv_right_request_no_senders_sync(MP_RECV_RIGHT_NULL, 0, notify, &prev), KERN_SUCCESS);
    MT_CHECK(mp_send_once_right_is_null(prev));
    (void)mp_recv_right_drop(&notify);
}

/* Issue 12 item 3: armed before any send right exists, no-senders must not fire at once. */
MPT_TEST(no_senders_requested_before_the_first_send_right_waits_for_it)
{
    mp_recv_right port, notify;
    mp_send_right s;
    mp_notification n;
    MT_KR(mp_recv_right_alloc(&port), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&notify), KERN_SUCCESS);
    MT_KR(mp_recv_right_request_no_senders(port, notify, NULL), KERN_SUCCESS);
    MT_KR(get_notification(notify, &n), MACH_RCV_TIMED_OUT); /* the client has not come yet */
    MT_KR(mp_send_right_make(port, &s), KERN_SUCCESS);
    MT_KR(get_notification(notify, &n), MACH_RCV_TIMED_OUT);
    (void)mp_send_right_drop(&s); /* the client went away */
    MT_KR(get_notification(notify, &n), MACH_MSG_SUCCESS);
    MT_EQ(n.id, MACH_NOTIFY_NO_SENDERS);
    MT_EQ(n.mscount, 1);
    /* The kernel's raw request with sync 0 fires at once: the trap the call above avoids. */
    MT_KR(mp_recv_right_request_no_senders_sync(port, 0, notify, NULL), KERN_SUCCESS);
    MT_KR(get_notification(notify, &n), MACH_MSG_SUCCESS);
    MT_EQ(n.id, MACH_NOTIFY_NO_SENDERS);
    (void)mp_recv_right_drop(&port);
    (void)mp_recv_right_drop(&notify);
}

MPT_TEST(no_senders_requested_while_send_rights_exist_fires_when_they_are_gone)
{
    mp_recv_right port, notify;
    mp_send_right a, b;
    mp_notification n;
    MT_KR(mp_recv_right_make_pair(&port, &a), KERN_SUCCESS);
    MT_KR(mp_send_right_copy(a, &b), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&notify), KERN_SUCCESS);
    MT_KR(mp_recv_right_request_no_senders(port, notify, NULL), KERN_SUCCESS);
    (void)mp_send_right_drop(&a);
    MT_KR(get_notification(notify, &n), MACH_RCV_TIMED_OUT);
    (void)mp_send_right_drop(&b);
    MT_KR(get_notification(notify, &n), MACH_MSG_SUCCESS);
    MT_EQ(n.id, MACH_NOTIFY_NO_SENDERS);
    (void)mp_recv_right_drop(&port);
    (void)mp_recv_right_drop(&notify);
}

MT_MAIN()
