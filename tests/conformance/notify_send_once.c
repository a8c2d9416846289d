/* Send-once notifications: every way a send-once right can be destroyed unused. */
#include "notify_util.h"

static void expect_send_once(mach_port_name_t port)
{
    nu_msg m;
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    NU_CHECK_KERNEL_MSG(m, port, MACH_NOTIFY_SEND_ONCE, 24, 0x00001200);
    MT_EQ(nu_status(port).mps_sorights, 0);
}

MT_TEST(deallocating_a_send_once_right_sends_a_send_once_notification)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port();
    MT_REQUIRE(port);
    mach_port_name_t so = nu_send_once(port);
    MT_EQ(nu_status(port).mps_sorights, 1);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    /* the notification travels through the right itself, so the count drops at receipt */
    MT_EQ(nu_status(port).mps_msgcount, 1);
    expect_send_once(port);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mod_refs_minus_one_on_a_send_once_right_sends_the_notification)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port();
    MT_REQUIRE(port);
    mach_port_name_t so = nu_send_once(port);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_SEND_ONCE, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_SEND_ONCE, 1), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_SEND_ONCE, -2), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_SUCCESS);
    expect_send_once(port);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_destroyed_message_carrying_a_send_once_right_sends_the_notification)
{
    NU_BEGIN();
    mach_port_name_t target = nu_port(), carrier = nu_port_with_send();
    MT_REQUIRE(target && carrier);
    /* queue a message on `carrier` whose reply port is a send-once right to `target` */
    mach_msg_header_t h = {0};
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    h.msgh_remote_port = carrier;
    h.msgh_local_port = target;
    h.msgh_id = 1;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_status(target).mps_sorights, 1);
    /* destroying the carrier destroys the queued message and the right in it */
    MT_KR(mach_port_destroy(TASK, carrier), KERN_SUCCESS);
    expect_send_once(target);
    MT_KR(mach_port_mod_refs(TASK, target, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_send_that_fails_on_a_body_right_destroys_its_send_once_reply)
{
    NU_BEGIN();
    mach_port_name_t target = nu_port(), dest = nu_port_with_send();
    MT_REQUIRE(target && dest);
    struct {
        mach_msg_header_t h;
        mach_msg_body_t b;
        mach_msg_port_descriptor_t p;
    } msg;
    memset(&msg, 0, sizeof msg);
    msg.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) |
                      MACH_MSGH_BITS_COMPLEX;
    msg.h.msgh_remote_port = dest;
    msg.h.msgh_local_port = target;
    msg.b.msgh_descriptor_count = 1;
    msg.p.name = target; /* a receive right: MOVE_SEND of it is not possible */
    msg.p.disposition = MACH_MSG_TYPE_MOVE_SEND;
    msg.p.type = MACH_MSG_PORT_DESCRIPTOR;
    MT_KR(mach_msg(&msg.h, MACH_SEND_MSG, sizeof msg, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_SEND_INVALID_RIGHT);
    MT_EQ(nu_status(dest).mps_msgcount, 0);
    expect_send_once(target);
    MT_KR(mach_port_destroy(TASK, dest), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, target, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_registered_no_senders_right_is_destroyed_with_its_port)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    expect_send_once(notify);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS); /* the dead name */
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_send_once_right_used_by_a_message_sends_no_notification)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port();
    MT_REQUIRE(port);
    mach_port_name_t so = nu_send_once(port);
    mach_msg_header_t h = {0};
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    h.msgh_remote_port = so;
    h.msgh_id = 42;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 42);
    MT_EQ(m.h.msgh_bits, 0x00001200);
    MT_KR(nu_recv(port, &m, 0), MACH_RCV_TIMED_OUT);
    MT_EQ(nu_status(port).mps_sorights, 0);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_send_once_right_made_after_others_were_used_still_sends_its_notification)
{
    /* as a reply port does: each request's right is used by its reply, then one is not */
    NU_BEGIN();
    mach_port_name_t port = nu_port();
    MT_REQUIRE(port);
    for (int i = 0; i < 3; i++) {
        mach_port_name_t so = nu_send_once(port);
        mach_msg_header_t h = {0};
        h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
        h.msgh_remote_port = so;
        h.msgh_id = 100 + i;
        MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
        nu_msg m;
        MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, 100 + i);
    }
    mach_port_name_t a = nu_send_once(port), b = nu_send_once(port);
    MT_EQ(nu_status(port).mps_sorights, 2);
    MT_KR(mach_port_deallocate(TASK, a), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    NU_CHECK_KERNEL_MSG(m, port, MACH_NOTIFY_SEND_ONCE, 24, 0x00001200);
    MT_KR(mach_port_deallocate(TASK, b), KERN_SUCCESS);
    expect_send_once(port);
    MT_KR(nu_recv(port, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
