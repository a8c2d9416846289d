/* Dead names: what send and send-once rights become when their port dies, and what works on them. */
#include "notify_util.h"


/*
 * A send-only name with `urefs` send urefs whose port is then destroyed outside this name (its
 * receive right is destroyed inside a queued message). Nothing has looked at the name since.
 */
static mach_port_name_t send_right_to_a_dead_port(mach_port_delta_t urefs)
{
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port();
    if (!p || !carrier)
        return MACH_PORT_NULL;
    if (urefs > 1 && mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, urefs - 1) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    if (nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE) != MACH_MSG_SUCCESS)
        return MACH_PORT_NULL;
    if (mach_port_destroy(TASK, carrier) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static mach_msg_return_t send_empty(mach_port_name_t dest, mach_msg_type_name_t disposition)
{
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(disposition, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = dest;
    h.msgh_id = 4242;
    return mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

MT_TEST(a_send_right_whose_port_dies_becomes_a_dead_name_with_the_same_urefs)
{
    NU_BEGIN();
    mach_port_name_t p = send_right_to_a_dead_port(3);
    MT_REQUIRE(p);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 3);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, 2), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 5);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 4);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, -4), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    NU_END();
}

MT_TEST(a_pegged_send_right_whose_port_dies_stays_pegged_as_a_dead_name)
{
    NU_BEGIN();
    mach_port_name_t p = send_right_to_a_dead_port(NU_UREFS_MAX);
    MT_REQUIRE(p);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), NU_UREFS_MAX);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), NU_UREFS_MAX);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, -NU_UREFS_MAX), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    NU_END();
}

MT_TEST(send_once_rights_whose_port_dies_become_separate_dead_names_with_one_uref)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_t a = nu_send_once(p), b = nu_send_once(p);
    MT_REQUIRE(a && b);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_NE(a, b);
    MT_EQ(nu_type(a), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_type(b), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND_ONCE), 0);
    MT_KR(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_DEAD_NAME, 1), KERN_SUCCESS);
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, b), KERN_SUCCESS);
    MT_EQ(nu_type(a), NU_NO_NAME);
    MT_EQ(nu_type(b), NU_NO_NAME);
    NU_END();
}

MT_TEST(mod_refs_dead_name_works_on_a_send_right_whose_port_died_unobserved)
{
    NU_BEGIN();
    mach_port_name_t p = send_right_to_a_dead_port(2);
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, 1), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 3);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, -3), KERN_SUCCESS);
    /* and on a send-once right */
    mach_port_name_t q = nu_port();
    MT_REQUIRE(q);
    mach_port_name_t so = nu_send_once(q);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_DEAD_NAME, -1), KERN_SUCCESS);
    MT_EQ(nu_type(so), NU_NO_NAME);
    NU_END();
}

MT_TEST(mod_refs_send_or_send_once_on_a_right_whose_port_died_is_invalid_right_and_leaves_a_dead_name)
{
    NU_BEGIN();
    mach_port_name_t p = send_right_to_a_dead_port(2);
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -1), KERN_INVALID_RIGHT);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_INVALID_RIGHT);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    mach_port_name_t q = nu_port();
    MT_REQUIRE(q);
    mach_port_name_t so = nu_send_once(q);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_INVALID_RIGHT);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(so, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    NU_END();
}

MT_TEST(deallocate_on_rights_whose_port_died_unobserved_drops_one_dead_name_uref)
{
    NU_BEGIN();
    mach_port_name_t p = send_right_to_a_dead_port(2);
    MT_REQUIRE(p);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    mach_port_name_t q = nu_port();
    MT_REQUIRE(q);
    mach_port_name_t so = nu_send_once(q);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_EQ(nu_type(so), NU_NO_NAME);
    NU_END();
}

MT_TEST(sending_to_a_dead_name_is_invalid_dest_and_consumes_no_uref)
{
    NU_BEGIN();
    mach_port_name_t d;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, 1), KERN_SUCCESS);
    MT_KR(send_empty(d, MACH_MSG_TYPE_COPY_SEND), MACH_SEND_INVALID_DEST);
    MT_KR(send_empty(d, MACH_MSG_TYPE_MOVE_SEND), MACH_SEND_INVALID_DEST);
    MT_KR(send_empty(d, MACH_MSG_TYPE_MOVE_SEND_ONCE), MACH_SEND_INVALID_DEST);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 2);
    /* a send right whose port died unobserved: refused, then seen as a dead name */
    mach_port_name_t p = send_right_to_a_dead_port(2);
    MT_REQUIRE(p);
    MT_KR(send_empty(p, MACH_MSG_TYPE_MOVE_SEND), MACH_SEND_INVALID_DEST);
    MT_KR(send_empty(p, MACH_MSG_TYPE_COPY_SEND), MACH_SEND_INVALID_DEST);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, d), KERN_SUCCESS);
    NU_END();
}

/* ipc_right_copyin lets a send-once right whose port died (no dead-name request) be moved;
 * the message to the dead port is then dropped as if delivered. */
MT_TEST(sending_through_a_send_once_right_whose_port_died_unobserved_succeeds_and_consumes_it)
{
    NU_BEGIN();
    mach_port_name_t q = nu_port();
    MT_REQUIRE(q);
    mach_port_name_t so = nu_send_once(q), so2 = nu_send_once(q);
    MT_REQUIRE(so && so2);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(send_empty(so, MACH_MSG_TYPE_MOVE_SEND_ONCE), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(so), NU_NO_NAME);
    /* once looked at, it is a dead name and the send is refused */
    MT_EQ(nu_type(so2), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(send_empty(so2, MACH_MSG_TYPE_MOVE_SEND_ONCE), MACH_SEND_INVALID_DEST);
    MT_EQ(nu_refs(so2, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, so2), KERN_SUCCESS);
    NU_END();
}

MT_TEST(insert_right_of_a_dead_name_is_invalid_capability_and_move_send_loses_a_uref)
{
    NU_BEGIN();
    mach_port_name_t d, spare;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, 2), KERN_SUCCESS);
    /* a free name to insert at */
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &spare), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, spare), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, d, d, MACH_MSG_TYPE_MAKE_SEND), KERN_INVALID_CAPABILITY);
    MT_KR(mach_port_insert_right(TASK, d, d, MACH_MSG_TYPE_COPY_SEND), KERN_INVALID_CAPABILITY);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 3);
    MT_KR(mach_port_insert_right(TASK, spare, d, MACH_MSG_TYPE_COPY_SEND),
          KERN_INVALID_CAPABILITY);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 3);
    MT_KR(mach_port_insert_right(TASK, spare, d, MACH_MSG_TYPE_MAKE_SEND), KERN_INVALID_RIGHT);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 3);
    /* MOVE_SEND copies in (takes) one dead uref before the dead port is refused */
    MT_KR(mach_port_insert_right(TASK, spare, d, MACH_MSG_TYPE_MOVE_SEND),
          KERN_INVALID_CAPABILITY);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_EQ(nu_type(spare), NU_NO_NAME);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    NU_END();
}

MT_TEST(insert_right_at_a_dead_name_is_name_exists_and_destroys_the_carried_right)
{
    NU_BEGIN();
    mach_port_name_t d, p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, d, p, MACH_MSG_TYPE_MAKE_SEND_ONCE), KERN_NAME_EXISTS);
    MT_EQ(nu_type(d), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 1);
    /* the made send-once right was destroyed: its notification is on p */
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(p).mps_sorights, 0);
    /* p already has a name here, so a send right for it cannot go under d */
    MT_KR(mach_port_insert_right(TASK, d, p, MACH_MSG_TYPE_MAKE_SEND), KERN_RIGHT_EXISTS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    /* the send right was made (and counted) before the insertion failed */
    MT_EQ(nu_status(p).mps_mscount, 1);
    MT_EQ(nu_status(p).mps_srights, 0);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(get_refs_of_send_on_a_dead_name_is_zero_and_of_dead_name_on_a_live_send_is_zero)
{
    NU_BEGIN();
    mach_port_name_t d, p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    mach_port_urefs_t r = 99;
    MT_KR(mach_port_get_refs(TASK, d, MACH_PORT_RIGHT_SEND, &r), KERN_SUCCESS);
    MT_EQ(r, 0);
    r = 99;
    MT_KR(mach_port_get_refs(TASK, d, MACH_PORT_RIGHT_SEND_ONCE, &r), KERN_SUCCESS);
    MT_EQ(r, 0);
    r = 99;
    MT_KR(mach_port_get_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, &r), KERN_SUCCESS);
    MT_EQ(r, 0);
    mach_port_name_t s = send_right_to_a_dead_port(4);
    MT_REQUIRE(s);
    r = 99;
    MT_KR(mach_port_get_refs(TASK, s, MACH_PORT_RIGHT_SEND, &r), KERN_SUCCESS);
    MT_EQ(r, 0);
    MT_EQ(nu_refs(s, MACH_PORT_RIGHT_DEAD_NAME), 4);
    MT_KR(mach_port_destroy(TASK, s), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
