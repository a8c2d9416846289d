/* mach_port_mod_refs: deltas per kind of right, saturation, and the error matrix. */
#include "notify_util.h"


MT_TEST(mod_refs_send_adds_and_removes_urefs_and_zero_leaves_the_receive_right)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 5), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 6);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -3), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 3);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 0), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 3);
    MT_EQ(nu_status(p).mps_srights, 1);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -3), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 0);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_RECEIVE), 1);
    MT_EQ(nu_status(p).mps_srights, 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mod_refs_send_to_zero_on_a_send_only_name_removes_the_name)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port();
    MT_REQUIRE(p && carrier);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -1), KERN_INVALID_NAME);
    mach_port_name_t back = nu_uncarry(carrier);
    MT_REQUIRE(back);
    MT_EQ(nu_type(back), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, back, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, carrier, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mod_refs_send_below_zero_or_beyond_the_max_delta_is_invalid_value_and_changes_nothing)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -3), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, NU_UREFS_MAX + 1), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -(NU_UREFS_MAX + 1)), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, INT32_MIN), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, INT32_MAX), KERN_INVALID_VALUE);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(send_urefs_saturate_at_0xffff_and_then_only_minus_0xffff_changes_them)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    /* 1 + 0xFFFD = 0xFFFE stays below the maximum */
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, NU_UREFS_MAX - 2), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX - 1);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX - 2);
    /* reaching or passing the maximum pegs the count at 0xFFFF, with success */
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 10), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX);
    /* once pegged, other deltas are ignored */
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -(NU_UREFS_MAX - 1)), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX);
    /* but a delta beyond the maximum is still refused */
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -(NU_UREFS_MAX + 1)), KERN_INVALID_VALUE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX);
    /* exactly -0xFFFF removes the send right */
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -NU_UREFS_MAX), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(p).mps_srights, 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mod_refs_plus_0xffff_on_one_send_uref_pegs_the_count)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, NU_UREFS_MAX), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), NU_UREFS_MAX);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -NU_UREFS_MAX), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mod_refs_receive_takes_only_zero_or_minus_one)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, 1), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -2), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, NU_UREFS_MAX), KERN_INVALID_VALUE);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_RECEIVE), 1);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_INVALID_NAME);
    NU_END();
}

MT_TEST(dropping_the_receive_right_of_a_send_receive_name_leaves_a_dead_name_with_the_send_urefs)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 3);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 0);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_RECEIVE), 0);
    /* the former receive right is gone for good */
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_INVALID_RIGHT);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -1), KERN_INVALID_RIGHT);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, -3), KERN_SUCCESS);
    MT_EQ(nu_type(p), NU_NO_NAME);
    NU_END();
}

MT_TEST(mod_refs_send_once_takes_only_zero_or_minus_one_which_destroys_it)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_t so = nu_send_once(p);
    MT_REQUIRE(so);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_SEND_ONCE, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_SEND_ONCE, 1), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_SEND_ONCE, -2), KERN_INVALID_VALUE);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_refs(so, MACH_PORT_RIGHT_SEND_ONCE), 1);
    MT_EQ(nu_status(p).mps_sorights, 1);
    MT_KR(mach_port_mod_refs(TASK, so, MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(so), NU_NO_NAME);
    /* the send-once notification travels on the destroyed right itself */
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(p).mps_sorights, 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mod_refs_port_set_takes_only_zero_or_minus_one_which_destroys_it)
{
    NU_BEGIN();
    mach_port_name_t s;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, 1), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, -2), KERN_INVALID_VALUE);
    MT_EQ(nu_type(s), MACH_PORT_TYPE_PORT_SET);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    MT_EQ(nu_type(s), NU_NO_NAME);
    NU_END();
}

MT_TEST(mod_refs_dead_name_adds_removes_and_refuses_going_below_zero)
{
    NU_BEGIN();
    mach_port_name_t d;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, 3), KERN_SUCCESS);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 4);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, -3), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, NU_UREFS_MAX + 1), KERN_INVALID_VALUE);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    MT_EQ(nu_type(d), NU_NO_NAME);
    NU_END();
}

MT_TEST(dead_name_urefs_saturate_at_0xffff_like_send_urefs)
{
    NU_BEGIN();
    mach_port_name_t d;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, NU_UREFS_MAX - 2), KERN_SUCCESS);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), NU_UREFS_MAX - 1);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, 1), KERN_SUCCESS);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), NU_UREFS_MAX);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, 100), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, -100), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), NU_UREFS_MAX);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, -NU_UREFS_MAX), KERN_SUCCESS);
    MT_EQ(nu_type(d), NU_NO_NAME);
    NU_END();
}

/* Every right kind other than the ones held: INVALID_RIGHT, and nothing changes. */
static void expect_invalid_rights(mach_port_name_t name, const mach_port_right_t *rights, int n)
{
    mach_port_type_t before = nu_type(name);
    for (int i = 0; i < n; i++) {
        MT_KR(mach_port_mod_refs(TASK, name, rights[i], -1), KERN_INVALID_RIGHT);
        MT_KR(mach_port_mod_refs(TASK, name, rights[i], 0), KERN_INVALID_RIGHT);
        MT_KR(mach_port_mod_refs(TASK, name, rights[i], 1), KERN_INVALID_RIGHT);
        /* the kind of right is checked before the delta */
        MT_KR(mach_port_mod_refs(TASK, name, rights[i], -100000), KERN_INVALID_RIGHT);
    }
    MT_EQ(nu_type(name), before);
}

MT_TEST(mod_refs_of_a_right_the_name_does_not_hold_is_invalid_right)
{
    NU_BEGIN();
    mach_port_name_t rcv = nu_port(), sr = nu_port_with_send(), set, dead;
    MT_REQUIRE(rcv && sr);
    mach_port_name_t so = nu_send_once(rcv);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    const mach_port_right_t not_rcv[] = {MACH_PORT_RIGHT_SEND, MACH_PORT_RIGHT_SEND_ONCE,
                                         MACH_PORT_RIGHT_PORT_SET, MACH_PORT_RIGHT_DEAD_NAME,
                                         MACH_PORT_RIGHT_LABELH};
    expect_invalid_rights(rcv, not_rcv, 5);
    const mach_port_right_t not_sr[] = {MACH_PORT_RIGHT_SEND_ONCE, MACH_PORT_RIGHT_PORT_SET,
                                        MACH_PORT_RIGHT_DEAD_NAME, MACH_PORT_RIGHT_LABELH};
    expect_invalid_rights(sr, not_sr, 4);
    const mach_port_right_t not_so[] = {MACH_PORT_RIGHT_SEND, MACH_PORT_RIGHT_RECEIVE,
                                        MACH_PORT_RIGHT_PORT_SET, MACH_PORT_RIGHT_DEAD_NAME,
                                        MACH_PORT_RIGHT_LABELH};
    expect_invalid_rights(so, not_so, 5);
    const mach_port_right_t not_set[] = {MACH_PORT_RIGHT_SEND, MACH_PORT_RIGHT_RECEIVE,
                                         MACH_PORT_RIGHT_SEND_ONCE, MACH_PORT_RIGHT_DEAD_NAME,
                                         MACH_PORT_RIGHT_LABELH};
    expect_invalid_rights(set, not_set, 5);
    const mach_port_right_t not_dead[] = {MACH_PORT_RIGHT_SEND, MACH_PORT_RIGHT_RECEIVE,
                                          MACH_PORT_RIGHT_SEND_ONCE, MACH_PORT_RIGHT_PORT_SET,
                                          MACH_PORT_RIGHT_LABELH};
    expect_invalid_rights(dead, not_dead, 5);
    const mach_port_right_t not_self[] = {MACH_PORT_RIGHT_RECEIVE, MACH_PORT_RIGHT_SEND_ONCE,
                                          MACH_PORT_RIGHT_PORT_SET, MACH_PORT_RIGHT_DEAD_NAME};
    expect_invalid_rights(TASK, not_self, 4);
    MT_EQ(nu_refs(sr, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_status(rcv).mps_sorights, 1);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, rcv), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, sr), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mod_refs_on_an_unknown_or_stale_name_is_invalid_name)
{
    NU_BEGIN();
    mach_port_name_t stale = nu_port();
    MT_REQUIRE(stale);
    MT_KR(mach_port_mod_refs(TASK, stale, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    const mach_port_name_t unknown[] = {stale, 0x7FFFF03, stale ^ 0x04, 0x7B};
    for (int i = 0; i < 4; i++)
        for (mach_port_right_t r = 0; r < MACH_PORT_RIGHT_NUMBER; r++) {
            MT_KR(mach_port_mod_refs(TASK, unknown[i], r, -1), KERN_INVALID_NAME);
            MT_KR(mach_port_mod_refs(TASK, unknown[i], r, 0), KERN_INVALID_NAME);
            MT_KR(mach_port_mod_refs(TASK, unknown[i], r, 1), KERN_INVALID_NAME);
        }
    NU_END();
}

MT_TEST(mod_refs_on_null_or_dead_succeeds_for_send_kinds_and_is_invalid_name_otherwise)
{
    NU_BEGIN();
    const mach_port_name_t names[] = {MACH_PORT_NULL, MACH_PORT_DEAD};
    for (int i = 0; i < 2; i++) {
        MT_KR(mach_port_mod_refs(TASK, names[i], MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, names[i], MACH_PORT_RIGHT_SEND, 5), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, names[i], MACH_PORT_RIGHT_SEND, INT32_MIN), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, names[i], MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, names[i], MACH_PORT_RIGHT_SEND_ONCE, 7), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, names[i], MACH_PORT_RIGHT_RECEIVE, -1), KERN_INVALID_NAME);
        MT_KR(mach_port_mod_refs(TASK, names[i], MACH_PORT_RIGHT_PORT_SET, -1), KERN_INVALID_NAME);
        MT_KR(mach_port_mod_refs(TASK, names[i], MACH_PORT_RIGHT_DEAD_NAME, -1),
              KERN_INVALID_NAME);
        MT_KR(mach_port_mod_refs(TASK, names[i], MACH_PORT_RIGHT_LABELH, -1), KERN_INVALID_NAME);
    }
    NU_END();
}

MT_TEST(mod_refs_with_a_right_value_of_six_or_more_is_invalid_value_before_any_name_check)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    const mach_port_right_t bad[] = {MACH_PORT_RIGHT_NUMBER, MACH_PORT_RIGHT_NUMBER + 1, 100,
                                     0xFFFFFFFF};
    const mach_port_name_t names[] = {p, MACH_PORT_NULL, MACH_PORT_DEAD, 0x7FFFF03, TASK};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 5; j++) {
            MT_KR(mach_port_mod_refs(TASK, names[j], bad[i], -1), KERN_INVALID_VALUE);
            MT_KR(mach_port_mod_refs(TASK, names[j], bad[i], 0), KERN_INVALID_VALUE);
        }
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mod_refs_in_a_null_task_fails_with_invalid_dest)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(MACH_PORT_NULL, p, MACH_PORT_RIGHT_SEND, -1), MACH_SEND_INVALID_DEST);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
