/* No-senders notifications: when they fire, what they carry, how requests are replaced. */
#include "notify_util.h"

static void check_no_senders(const nu_msg *m, mach_port_name_t notify, mach_port_mscount_t ms)
{
    NU_CHECK_KERNEL_MSG(*m, notify, MACH_NOTIFY_NO_SENDERS, 36, 0x00001200);
    MT_CHECK(nu_ndr_ok(&m->no_senders.NDR));
    MT_EQ(m->no_senders.not_count, ms);
}

MT_TEST(no_senders_fires_when_the_last_send_right_is_deallocated)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev = 1;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_EQ(prev, MACH_PORT_NULL);
    MT_EQ(nu_status(port).mps_nsrequest, 1);
    MT_EQ(nu_status(notify).mps_sorights, 1);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    check_no_senders(&m, notify, 1);
    MT_EQ(nu_status(port).mps_nsrequest, 0);
    MT_EQ(nu_status(notify).mps_sorights, 0);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(no_senders_fires_at_once_when_there_are_no_senders_and_sync_is_reached)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    /* mscount is 0 and there are no send rights: sync 0 fires immediately */
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    check_no_senders(&m, notify, 0);
    MT_EQ(nu_status(port).mps_nsrequest, 0);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(no_senders_with_sync_above_mscount_waits_for_the_next_last_sender)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 1, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_insert_right(TASK, port, port, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, port, port, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_EQ(nu_status(port).mps_mscount, 2);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    check_no_senders(&m, notify, 2);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(send_once_rights_do_not_count_as_senders)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    mach_port_name_t so = nu_send_once(port);
    MT_REQUIRE(so);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    /* the send-once right's own notification arrives on the port itself */
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(replacing_a_no_senders_request_returns_the_previous_send_once_right)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), n1 = nu_port(), n2 = nu_port(), prev;
    MT_REQUIRE(port && n1 && n2);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, n1,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, n2,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_NE(prev, MACH_PORT_NULL);
    MT_EQ(nu_type(prev), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_status(n1).mps_sorights, 1);
    /* cancel with a NULL notify port: the registered right comes back */
    mach_port_name_t prev2;
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, MACH_PORT_NULL,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev2),
          KERN_SUCCESS);
    MT_EQ(nu_type(prev2), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_status(port).mps_nsrequest, 0);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(n2, &m, 0), MACH_RCV_TIMED_OUT);
    /* both returned rights are ours to release: each sends a send-once notification */
    MT_KR(mach_port_deallocate(TASK, prev), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, prev2), KERN_SUCCESS);
    MT_KR(nu_recv(n1, &m, 1000), MACH_MSG_SUCCESS);
    NU_CHECK_KERNEL_MSG(m, n1, MACH_NOTIFY_SEND_ONCE, 24, 0x00001200);
    MT_KR(nu_recv(n2, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, n1, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, n2, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(no_senders_request_errors_leave_nothing_registered)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), set, prev = 7;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    /* a send right is not a receive right */
    mach_port_name_t so = nu_send_once(port);
    MT_KR(mach_port_request_notification(TASK, so, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_RIGHT);
    MT_KR(mach_port_request_notification(TASK, set, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_RIGHT);
    MT_KR(mach_port_request_notification(TASK, MACH_PORT_NULL, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_RIGHT);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, MACH_PORT_DEAD,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_CAPABILITY);
    MT_KR(mach_port_request_notification(TASK, port, 12345, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_VALUE);
    MT_EQ(nu_status(port).mps_nsrequest, 0);
    /* the send-once rights made for the failed requests were destroyed */
    nu_msg m;
    int n = 0;
    while (nu_recv(notify, &m, 0) == MACH_MSG_SUCCESS) {
        MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
        n++;
    }
    MT_EQ(n, 4);
    MT_EQ(nu_status(notify).mps_sorights, 0);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    MT_KR(mach_port_destroy(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, notify), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, set), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destroying_a_send_receive_name_sends_no_senders_not_send_once_through_the_request)
{
    /* XNU's ipc_right_destroy drops the name's send right, and with it the last sender, before
     * the receive right dies: the request becomes a no-senders notification (id 70), not the
     * send-once notification a dying port sends through an unfired request. */
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev = 1;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, port), KERN_SUCCESS);
    MT_EQ(nu_type(port), NU_NO_NAME);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    check_no_senders(&m, notify, 1);
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_EQ(nu_status(notify).mps_sorights, 0);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
