/* Port-destroyed notifications: the receive right comes back with its queue. */
#include "notify_util.h"

MT_TEST(port_destroyed_returns_the_receive_right_with_its_queued_messages)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev = 9;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_PORT_DESTROYED, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_EQ(prev, MACH_PORT_NULL);
    MT_EQ(nu_status(port).mps_pdrequest, 1);
    mach_msg_header_t h = {0};
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_remote_port = port;
    h.msgh_id = 77;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    /* destroying the receive right hands it to the notification instead */
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_SEND); /* the send right stays, the port lives */
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    NU_CHECK_KERNEL_MSG(m, notify, MACH_NOTIFY_PORT_DESTROYED, 40, 0x80001200);
    MT_EQ(m.port_destroyed.not_body.msgh_descriptor_count, 1);
    MT_EQ(m.port_destroyed.not_port.type, MACH_MSG_PORT_DESCRIPTOR);
    MT_EQ(m.port_destroyed.not_port.disposition, MACH_MSG_TYPE_PORT_RECEIVE);
    /* the receive right lands under the name that still holds its send right */
    mach_port_name_t back = m.port_destroyed.not_port.name;
    MT_EQ(back, port);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_SEND_RECEIVE);
    mach_port_status_t st = nu_status(port);
    MT_EQ(st.mps_msgcount, 1);
    MT_EQ(st.mps_pdrequest, 0);
    MT_EQ(st.mps_mscount, 0); /* reset by the move */
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 77);
    MT_KR(mach_port_destruct(TASK, port, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_second_port_destroyed_request_is_kern_failure)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_PORT_DESTROYED, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_PORT_DESTROYED, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_FAILURE);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_PORT_DESTROYED, 1, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_VALUE);
    nu_msg m;
    /* the two refused send-once rights were destroyed */
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* destroying the port now sends the receive right to `notify` */
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_PORT_DESTROYED);
    mach_port_name_t back = m.port_destroyed.not_port.name;
    MT_EQ(nu_type(back), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, back, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(port_destroyed_to_a_dead_notify_port_destroys_the_port)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_PORT_DESTROYED, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
