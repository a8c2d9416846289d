/* Notifications that cause notifications: destruction cascades through queued rights. */
#include "notify_util.h"

MT_TEST(a_destroyed_queue_releases_a_send_right_whose_port_then_reports_no_senders)
{
    NU_BEGIN();
    mach_port_name_t a = nu_port_with_send(), b = nu_port(), notify = nu_port(), prev;
    MT_REQUIRE(a && b && notify);
    MT_KR(mach_port_request_notification(TASK, b, MACH_NOTIFY_NO_SENDERS, 1, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    /* queue on `a` a message that carries the only send right to `b` */
    nu_carry_msg msg;
    nu_carry_fill(&msg, a, MACH_MSG_TYPE_COPY_SEND, b, MACH_MSG_TYPE_MAKE_SEND);
    MT_KR(mach_msg(&msg.h, MACH_SEND_MSG, sizeof msg, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_status(b).mps_srights, 1);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    /* destroying `a` destroys the message, the send right to `b`, and so fires no-senders */
    MT_KR(mach_port_destruct(TASK, a, -1, 0), KERN_SUCCESS);
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
    MT_EQ(m.no_senders.not_count, 1);
    MT_KR(mach_port_mod_refs(TASK, b, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_dying_port_whose_queue_holds_another_receive_right_destroys_that_port_too)
{
    NU_BEGIN();
    mach_port_name_t a = nu_port_with_send(), b = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(a && b && notify);
    /* watch `b` from here: its send right stays with us while its receive right travels */
    MT_KR(mach_port_request_notification(TASK, b, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    nu_carry_msg msg;
    nu_carry_fill(&msg, a, MACH_MSG_TYPE_COPY_SEND, b, MACH_MSG_TYPE_MOVE_RECEIVE);
    MT_KR(mach_msg(&msg.h, MACH_SEND_MSG, sizeof msg, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_type(b), MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_DNREQUEST);
    MT_KR(mach_port_destruct(TASK, a, -1, 0), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_DEAD_NAME);
    MT_EQ(m.dead_name.not_port, b);
    MT_EQ(nu_type(b), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(b, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, b, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_send_once_notification_to_a_dying_port_with_its_own_no_senders_request_cascades)
{
    NU_BEGIN();
    mach_port_name_t a = nu_port_with_send(), b = nu_port(), notify = nu_port(), prev;
    MT_REQUIRE(a && b && notify);
    /* `b` reports no-senders to `notify`; `a`'s queue holds a send-once right to `b` */
    MT_KR(mach_port_request_notification(TASK, b, MACH_NOTIFY_NO_SENDERS, 1, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    mach_msg_header_t h = {0};
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    h.msgh_remote_port = a;
    h.msgh_local_port = b;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    /* destroy `a`: the send-once right to `b` is destroyed and notifies `b` */
    MT_KR(mach_port_destruct(TASK, a, -1, 0), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(b, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* then destroy `b`: its registered no-senders right is destroyed and notifies `notify` */
    MT_KR(mach_port_mod_refs(TASK, b, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
