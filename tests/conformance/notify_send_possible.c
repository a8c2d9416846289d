/* Send-possible notifications: immediate, armed by a send that found the queue full. */
#include "notify_util.h"

static mach_port_name_t full_port(void)
{
    mach_port_options_t o;
    memset(&o, 0, sizeof o);
    o.flags = MPO_QLIMIT | MPO_INSERT_SEND_RIGHT;
    o.mpl.mpl_qlimit = 1;
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_construct(TASK, &o, 0, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    mach_msg_header_t h = {0};
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_remote_port = p;
    h.msgh_id = 1;
    if (mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL))
        return MACH_PORT_NULL;
    return p;
}

MT_TEST(send_possible_with_sync_fires_at_once_when_the_queue_has_room)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_SEND_POSSIBLE, 1, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    NU_CHECK_KERNEL_MSG(m, notify, MACH_NOTIFY_SEND_POSSIBLE, 36, 0x00001200);
    MT_CHECK(nu_ndr_ok(&m.send_possible.NDR));
    MT_EQ(m.send_possible.not_port, port);
    MT_KR(mach_port_destruct(TASK, port, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_delayed_send_possible_is_armed_by_send_notify_and_fires_when_room_frees)
{
    NU_BEGIN();
    mach_port_name_t port = full_port(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_SEND_POSSIBLE, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    nu_msg m;
    /* not armed yet: draining the queue fires nothing */
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    mach_msg_header_t h = {0};
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_remote_port = port;
    h.msgh_id = 2;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    /* the queue is full: a MACH_SEND_NOTIFY send arms the request and times out */
    MT_KR(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT | MACH_SEND_NOTIFY, sizeof h, 0,
                   MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_SEND_TIMED_OUT);
    MT_KR(mach_port_deallocate(TASK, h.msgh_remote_port), KERN_SUCCESS); /* pseudo-received */
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_POSSIBLE);
    MT_EQ(m.send_possible.not_port, port);
    MT_KR(mach_port_destruct(TASK, port, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(send_possible_on_a_dead_name_sends_a_dead_name_notification_and_a_uref)
{
    NU_BEGIN();
    mach_port_name_t dead, notify = nu_port(), prev;
    MT_REQUIRE(notify);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, dead, MACH_NOTIFY_SEND_POSSIBLE, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_DEAD_NAME);
    MT_EQ(m.dead_name.not_port, dead);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_send_possible_request_reports_the_death_of_its_port)
{
    NU_BEGIN();
    mach_port_name_t port = full_port(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    mach_port_name_t so = nu_send_once(port);
    MT_KR(mach_port_request_notification(TASK, so, MACH_NOTIFY_SEND_POSSIBLE, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, port, -1, 0), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_DEAD_NAME);
    MT_EQ(m.dead_name.not_port, so);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(so, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
