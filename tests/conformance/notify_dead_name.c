/* Dead-name notifications and the extra user reference they hand out. */
#include "notify_util.h"

static void check_dead_name(const nu_msg *m, mach_port_name_t notify, mach_port_name_t name)
{
    NU_CHECK_KERNEL_MSG(*m, notify, MACH_NOTIFY_DEAD_NAME, 36, 0x00001200);
    MT_CHECK(nu_ndr_ok(&m->dead_name.NDR));
    MT_EQ(m->dead_name.not_port, name);
}

MT_TEST(dead_name_fires_for_a_send_right_when_its_port_dies_and_adds_a_uref)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    /* taking the receive right out and back in lands it under the same name again */
    mach_port_name_t rcv;
    mach_msg_type_name_t t;
    MT_KR(mach_port_extract_right(TASK, port, MACH_MSG_TYPE_MOVE_RECEIVE, &rcv, &t),
          KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_RECEIVE);
    MT_EQ(rcv, port); /* coalesced with the send right under the same name */
    mach_port_name_t so = nu_send_once(port);
    MT_REQUIRE(so);
    MT_KR(mach_port_request_notification(TASK, so, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE | MACH_PORT_TYPE_DNREQUEST);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    check_dead_name(&m, notify, so);
    /* the send-once name is a dead name with the notification's extra reference */
    MT_EQ(nu_type(so), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(so, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    /* the send right under `port` is a dead name too (no request there: same urefs) */
    MT_EQ(nu_type(port), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(dead_name_on_a_send_receive_name_fires_when_the_receive_right_is_destroyed)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_insert_right(TASK, port, port, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_SEND_RECEIVE | MACH_PORT_TYPE_DNREQUEST);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_DEAD_NAME), 3);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    check_dead_name(&m, notify, port);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_DEAD_NAME, -3), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(dead_name_request_on_a_dead_name_is_invalid_argument_and_consumes_nothing)
{
    NU_BEGIN();
    mach_port_name_t dead, notify = nu_port(), prev = 5;
    MT_REQUIRE(notify);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, dead, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_request_notification(TASK, dead, MACH_NOTIFY_DEAD_NAME, 1, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_ARGUMENT);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    /* the two made send-once rights were destroyed by the failed calls */
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(dead_name_request_on_wrong_names_fails)
{
    NU_BEGIN();
    mach_port_name_t set, notify = nu_port(), prev;
    MT_REQUIRE(notify);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, set, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_RIGHT);
    MT_KR(mach_port_request_notification(TASK, MACH_PORT_NULL, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_request_notification(TASK, 0x12345603, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_INVALID_NAME);
    nu_msg m;
    int n = 0;
    while (nu_recv(notify, &m, 0) == MACH_MSG_SUCCESS)
        n++;
    MT_EQ(n, 3);
    MT_KR(mach_port_destroy(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(cancelling_a_dead_name_request_returns_the_registered_right)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev, prev2;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_EQ(prev, MACH_PORT_NULL);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_DEAD_NAME, 0, MACH_PORT_NULL,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev2),
          KERN_SUCCESS);
    MT_EQ(nu_type(prev2), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_DEAD_NAME), 1);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_deallocate(TASK, prev2), KERN_SUCCESS);
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
