/* Port-deleted notifications: a name with a request loses its right. */
#include "notify_util.h"

static void expect_port_deleted(mach_port_name_t notify, mach_port_name_t name)
{
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    NU_CHECK_KERNEL_MSG(m, notify, MACH_NOTIFY_PORT_DELETED, 36, 0x00001200);
    MT_CHECK(nu_ndr_ok(&m.port_deleted.NDR));
    MT_EQ(m.port_deleted.not_port, name);
}

MT_TEST(deallocating_the_last_send_uref_of_a_watched_name_sends_port_deleted)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    mach_port_name_t so = nu_send_once(port);
    MT_KR(mach_port_request_notification(TASK, so, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    expect_port_deleted(notify, so);
    /* and the destroyed send-once right notified its own port */
    nu_msg m;
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_destruct(TASK, port, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destroying_a_watched_receive_right_sends_port_deleted)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_DNREQUEST);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    expect_port_deleted(notify, port);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(moving_a_watched_send_right_away_in_a_message_sends_port_deleted)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port(), other = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(port && other && notify);
    mach_port_name_t so = nu_send_once(port);
    MT_KR(mach_port_request_notification(TASK, so, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    mach_msg_header_t h = {0};
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE);
    h.msgh_remote_port = other;
    h.msgh_local_port = so;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    expect_port_deleted(notify, so);
    nu_msg m;
    MT_KR(nu_recv(other, &m, 1000), MACH_MSG_SUCCESS);
    mach_port_name_t reply = m.h.msgh_remote_port;
    MT_EQ(MACH_MSGH_BITS_REMOTE(m.h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, reply), KERN_SUCCESS);
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, other, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(moving_a_watched_receive_only_right_away_in_a_message_cancels_the_request_with_port_deleted)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port(), holder = nu_port(), notify = nu_port(), prev;
    MT_REQUIRE(port && holder && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_DNREQUEST);
    MT_KR(nu_carry(holder, port, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    /* the name is gone, and its request with it */
    MT_EQ(nu_type(port), NU_NO_NAME);
    expect_port_deleted(notify, port);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_EQ(nu_status(notify).mps_sorights, 0);
    /* the right comes back without the request: destroying it notifies nobody */
    mach_port_name_t back = nu_uncarry(holder);
    MT_REQUIRE(back != MACH_PORT_NULL);
    MT_EQ(nu_type(back), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, back, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, holder, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
