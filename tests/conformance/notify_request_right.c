/* mach_port_request_notification on the caller's own task with a notify right that is not a
 * send-once right: the call fails with MIG_TYPE_ERROR and the right it carried is consumed
 * as a message's would be (XNU's trap refuses it, libsyscall sends the MIG request, and the
 * kernel destroys that request when its server says the argument has the wrong type). The
 * request's port descriptor keeps the disposition's low byte, as the MIG stub stores it. */
#include "notify_util.h"

#include <stdbool.h>

static kern_return_t request_with(mach_port_name_t notify, mach_msg_type_name_t poly)
{
    mach_port_name_t watched = nu_port(), prev = MACH_PORT_NULL;
    if (!watched)
        return KERN_RESOURCE_SHORTAGE;
    kern_return_t kr = mach_port_request_notification(TASK, watched, MACH_NOTIFY_NO_SENDERS,
                                                      0, notify, poly, &prev);
    mach_port_mod_refs(TASK, watched, MACH_PORT_RIGHT_RECEIVE, -1);
    return kr == KERN_SUCCESS && prev != MACH_PORT_NULL ? KERN_FAILURE : kr;
}

/* A port (with a send right when `with_send`) whose no-senders notification, once its
 * make-send count reaches `sync`, goes to a new port: *port and *notify. */
static bool watched_port(bool with_send, mach_port_mscount_t sync, mach_port_name_t *port,
                         mach_port_name_t *notify)
{
    mach_port_name_t prev = MACH_PORT_NULL;
    *port = with_send ? nu_port_with_send() : nu_port();
    *notify = nu_port();
    return *port && *notify &&
           mach_port_request_notification(TASK, *port, MACH_NOTIFY_NO_SENDERS, sync, *notify,
                                          MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev) == KERN_SUCCESS;
}

/* The next message on `notify` is a no-senders notification for make-send count 1. */
static void expect_no_senders(mach_port_name_t notify)
{
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
    MT_EQ(m.no_senders.not_count, 1u);
}

MT_TEST(a_moved_send_right_given_as_the_notify_right_is_consumed)
{
    NU_BEGIN();
    mach_port_name_t port, notify;
    MT_REQUIRE(watched_port(true, 0, &port, &notify));
    MT_KR(request_with(port, MACH_MSG_TYPE_MOVE_SEND), MIG_TYPE_ERROR);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 0);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_RECEIVE);
    expect_no_senders(notify);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_copied_send_right_given_as_the_notify_right_leaves_the_callers_reference)
{
    NU_BEGIN();
    mach_port_name_t port, notify;
    MT_REQUIRE(watched_port(true, 0, &port, &notify));
    MT_KR(request_with(port, MACH_MSG_TYPE_COPY_SEND), MIG_TYPE_ERROR);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 1);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT); /* the caller's send right is alive */
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    expect_no_senders(notify);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_made_send_right_given_as_the_notify_right_is_made_and_released)
{
    NU_BEGIN();
    mach_port_name_t port, notify;
    /* No-senders once the make-send count reaches 1: only a send right made and gone. */
    MT_REQUIRE(watched_port(false, 1, &port, &notify));
    MT_KR(request_with(port, MACH_MSG_TYPE_MAKE_SEND), MIG_TYPE_ERROR);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_RECEIVE);
    expect_no_senders(notify);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_moved_receive_right_given_as_the_notify_right_dies_with_its_notifications)
{
    NU_BEGIN();
    mach_port_name_t port, notify;
    MT_REQUIRE(watched_port(false, 1, &port, &notify));
    MT_KR(request_with(port, MACH_MSG_TYPE_MOVE_RECEIVE), MIG_TYPE_ERROR);
    mach_port_type_t type;
    MT_KR(mach_port_type(TASK, port, &type), KERN_INVALID_NAME);
    /* The dead port's no-senders request went with it: its send-once right says so. */
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_notify_disposition_beyond_eight_bits_is_its_low_byte_as_the_mig_request_carries_it)
{
    /* The trap refuses anything but a send-once disposition; the MIG request's port
     * descriptor then holds the caller's value in 8 bits, so 0x100 | MAKE_SEND_ONCE registers
     * the request as MAKE_SEND_ONCE would, and 0x100 | MOVE_SEND moves the send right. */
    NU_BEGIN();
    mach_port_name_t port = nu_port(), notify = nu_port(), prev = 0x5678;
    MT_REQUIRE(port && notify);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 1, notify,
                                         0x100 | MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_EQ(prev, MACH_PORT_NULL);
    MT_KR(mach_port_insert_right(TASK, port, port, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    expect_no_senders(notify);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);

    MT_REQUIRE(watched_port(true, 0, &port, &notify));
    MT_KR(request_with(port, 0x100 | MACH_MSG_TYPE_MOVE_SEND), MIG_TYPE_ERROR);
    MT_EQ(nu_type(port), MACH_PORT_TYPE_RECEIVE);
    expect_no_senders(notify);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
