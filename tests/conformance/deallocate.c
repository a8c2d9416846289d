/* mach_port_deallocate: "-1 on the one right the name denotes", and its errors. */
#include "notify_util.h"


MT_TEST(deallocate_on_a_send_receive_name_drops_one_send_uref_and_never_the_receive_right)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    /* the last send uref went; the receive right stays under the same name */
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 0);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_RECEIVE), 1);
    MT_EQ(nu_status(p).mps_srights, 0);
    /* one more: now a pure receive name */
    MT_KR(mach_port_deallocate(TASK, p), KERN_INVALID_RIGHT);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(deallocate_of_the_last_send_uref_of_a_send_only_name_frees_the_name)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port();
    MT_REQUIRE(p && carrier);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    MT_KR(mach_port_deallocate(TASK, p), KERN_INVALID_NAME);
    mach_port_name_t back = nu_uncarry(carrier);
    MT_REQUIRE(back);
    MT_EQ(nu_type(back), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(back).mps_srights, 0);
    MT_KR(mach_port_mod_refs(TASK, back, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, carrier, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(deallocate_of_a_send_once_right_destroys_it_frees_the_name_and_notifies_the_port)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_t so = nu_send_once(p);
    MT_REQUIRE(so);
    MT_EQ(nu_status(p).mps_sorights, 1);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_EQ(nu_type(so), NU_NO_NAME);
    MT_KR(mach_port_deallocate(TASK, so), KERN_INVALID_NAME);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(p).mps_sorights, 0);
    MT_KR(nu_recv(p, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(deallocate_of_a_dead_name_drops_one_uref_and_the_last_frees_the_name)
{
    NU_BEGIN();
    mach_port_name_t d;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, 2), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_type(d), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    MT_EQ(nu_type(d), NU_NO_NAME);
    MT_KR(mach_port_deallocate(TASK, d), KERN_INVALID_NAME);
    NU_END();
}

MT_TEST(deallocate_of_a_receive_only_name_is_invalid_right_and_keeps_the_port)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_t so = nu_send_once(p);
    MT_REQUIRE(so);
    MT_KR(mach_port_deallocate(TASK, p), KERN_INVALID_RIGHT);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_RECEIVE), 1);
    MT_EQ(nu_status(p).mps_sorights, 1);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

/* ipc_right_dealloc treats a port-set name like mod_refs(PORT_SET, -1). */
MT_TEST(deallocate_of_a_port_set_destroys_the_set_and_releases_its_members)
{
    NU_BEGIN();
    mach_port_name_t set, p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_move_member(TASK, p, set), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_pset, 1);
    MT_KR(mach_port_deallocate(TASK, set), KERN_SUCCESS);
    MT_EQ(nu_type(set), NU_NO_NAME);
    MT_EQ(nu_status(p).mps_pset, 0);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_deallocate(TASK, set), KERN_INVALID_NAME);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(deallocate_of_an_unknown_or_stale_name_is_invalid_name)
{
    NU_BEGIN();
    mach_port_name_t stale;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &stale), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, stale), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, stale), KERN_INVALID_NAME);
    MT_KR(mach_port_deallocate(TASK, stale ^ 0x04), KERN_INVALID_NAME);
    MT_KR(mach_port_deallocate(TASK, 0x7FFFF03), KERN_INVALID_NAME);
    MT_KR(mach_port_deallocate(TASK, 0x7B), KERN_INVALID_NAME);
    MT_KR(mach_port_deallocate(TASK, 0x1), KERN_INVALID_NAME);
    NU_END();
}

MT_TEST(deallocate_of_null_or_dead_succeeds_and_does_nothing)
{
    NU_BEGIN();
    MT_KR(mach_port_deallocate(TASK, MACH_PORT_NULL), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, MACH_PORT_DEAD), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, MACH_PORT_DEAD), KERN_SUCCESS);
    NU_END();
}

MT_TEST(deallocate_on_pegged_send_or_dead_name_urefs_changes_nothing)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), d;
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, NU_UREFS_MAX), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, NU_UREFS_MAX), KERN_SUCCESS);
    for (int i = 0; i < 3; i++) {
        MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
        MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    }
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), NU_UREFS_MAX);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, -NU_UREFS_MAX), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(deallocate_of_the_last_send_uref_fires_a_requested_no_senders_notification)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), prev;
    MT_REQUIRE(p);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_NO_SENDERS, 0, p,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
    MT_EQ(m.no_senders.not_count, 1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(deallocate_in_a_null_task_fails_with_invalid_dest_and_keeps_the_right)
{
    NU_BEGIN();
    mach_port_name_t d;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(MACH_PORT_NULL, d), MACH_SEND_INVALID_DEST);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
