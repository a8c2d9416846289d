/* mach_port_destroy (deprecated but live): removes every right under a name. */
#include "notify_util.h"


MT_TEST(destroy_of_a_send_receive_name_frees_the_name_and_kills_the_port)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 4), KERN_SUCCESS);
    mach_port_name_t so = nu_send_once(p);
    MT_REQUIRE(so);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    /* no dead name is left behind under the destroyed name itself */
    MT_EQ(nu_type(p), NU_NO_NAME);
    /* the send-once right under its own name now denotes a dead port */
    MT_EQ(nu_type(so), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(so, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_refs(so, MACH_PORT_RIGHT_SEND_ONCE), 0);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_EQ(nu_type(so), NU_NO_NAME);
    NU_END();
}

MT_TEST(destroy_of_a_receive_only_name_frees_the_name_and_kills_the_port)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_t so1 = nu_send_once(p), so2 = nu_send_once(p);
    MT_REQUIRE(so1 && so2);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    MT_EQ(nu_type(so1), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_type(so2), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_destroy(TASK, so1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, so2, MACH_PORT_RIGHT_DEAD_NAME, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destroy_of_a_send_only_name_drops_every_uref_at_once)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port();
    MT_REQUIRE(p && carrier);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 6), KERN_SUCCESS);
    MT_KR(nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 7);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    mach_port_name_t back = nu_uncarry(carrier);
    MT_REQUIRE(back);
    MT_EQ(nu_type(back), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(back).mps_srights, 0);
    MT_KR(mach_port_destroy(TASK, back), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, carrier), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destroy_of_a_pegged_send_only_name_removes_it)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port();
    MT_REQUIRE(p && carrier);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, NU_UREFS_MAX), KERN_SUCCESS);
    MT_KR(nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    /* destroying the carrier destroys the queued receive right with it */
    MT_KR(mach_port_destroy(TASK, carrier), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destroy_of_a_send_once_name_frees_it_and_notifies_the_port)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_t so = nu_send_once(p);
    MT_REQUIRE(so);
    MT_KR(mach_port_destroy(TASK, so), KERN_SUCCESS);
    MT_EQ(nu_type(so), NU_NO_NAME);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(p).mps_sorights, 0);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destroy_of_a_dead_name_drops_every_uref_at_once)
{
    NU_BEGIN();
    mach_port_name_t d, pegged;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, 9), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, d), KERN_SUCCESS);
    MT_EQ(nu_type(d), NU_NO_NAME);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &pegged), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, pegged, MACH_PORT_RIGHT_DEAD_NAME, NU_UREFS_MAX), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, pegged), KERN_SUCCESS);
    MT_EQ(nu_type(pegged), NU_NO_NAME);
    NU_END();
}

MT_TEST(destroy_of_the_dead_name_left_by_a_dropped_receive_right_frees_it)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 3);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    NU_END();
}

MT_TEST(destroy_of_a_port_set_destroys_the_set_and_releases_its_members)
{
    NU_BEGIN();
    mach_port_name_t set, a = nu_port(), b = nu_port_with_send();
    MT_REQUIRE(a && b);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_move_member(TASK, a, set), KERN_SUCCESS);
    MT_KR(mach_port_move_member(TASK, b, set), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, set), KERN_SUCCESS);
    MT_EQ(nu_type(set), NU_NO_NAME);
    MT_EQ(nu_status(a).mps_pset, 0);
    MT_EQ(nu_status(b).mps_pset, 0);
    MT_EQ(nu_type(a), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_type(b), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_KR(mach_port_destroy(TASK, a), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, b), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destroying_a_port_destroys_its_queued_messages_and_the_rights_they_carry)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), q = nu_port(), r = nu_port();
    MT_REQUIRE(p && q && r);
    MT_KR(nu_carry(p, q, MACH_MSG_TYPE_MAKE_SEND), MACH_MSG_SUCCESS);
    MT_KR(nu_carry(p, r, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(q).mps_srights, 1);
    MT_EQ(nu_type(r), NU_NO_NAME);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_status(q).mps_srights, 0);
    MT_EQ(nu_type(q), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_destroy(TASK, q), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destroy_of_an_unknown_or_stale_name_is_invalid_name)
{
    NU_BEGIN();
    mach_port_name_t stale = nu_port();
    MT_REQUIRE(stale);
    MT_KR(mach_port_destroy(TASK, stale), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, stale), KERN_INVALID_NAME);
    MT_KR(mach_port_destroy(TASK, stale ^ 0x04), KERN_INVALID_NAME);
    MT_KR(mach_port_destroy(TASK, 0x7FFFF03), KERN_INVALID_NAME);
    MT_KR(mach_port_destroy(TASK, 0x7B), KERN_INVALID_NAME);
    NU_END();
}

MT_TEST(destroy_of_null_or_dead_succeeds_and_does_nothing)
{
    NU_BEGIN();
    MT_KR(mach_port_destroy(TASK, MACH_PORT_NULL), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, MACH_PORT_DEAD), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destroy_in_a_null_task_fails_with_invalid_dest_and_keeps_the_right)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_destroy(MACH_PORT_NULL, p), MACH_SEND_INVALID_DEST);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

static mach_port_name_t construct_guarded(void)
{
    mach_port_options_t opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = MPO_CONTEXT_AS_GUARD;
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_construct(TASK, &opts, 0x5EED, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

/* Runs in a forked child, which (a new task) inherits no port rights: build the port there. */
static void destroy_guarded(void)
{
    mach_port_name_t p = construct_guarded();
    if (p != MACH_PORT_NULL)
        (void)mach_port_destroy(TASK, p);
}

MT_TEST(destroy_of_a_guarded_receive_right_is_a_fatal_guard_violation)
{
    NU_BEGIN();
    mach_port_name_t p = construct_guarded();
    MT_REQUIRE(p);
    NU_DIES_OF_GUARD(destroy_guarded(), kGUARD_EXC_DESTROY);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    /* with the guard, destruct is allowed */
    MT_KR(mach_port_destruct(TASK, p, 0, 0x5EED), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
