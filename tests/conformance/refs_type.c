/* mach_port_get_refs and mach_port_type for every kind and combination of rights. */
#include "notify_util.h"

#define SENTINEL 0xABCD1234u

/* The refs of all six right kinds (SEND .. LABELH) of `name`, each with KERN_SUCCESS. */
#define CHECK_REFS(name, s, r, so, ps, dn)                                                     \
    do {                                                                                       \
        const mach_port_urefs_t want_[MACH_PORT_RIGHT_NUMBER] = {s, r, so, ps, dn, 0};         \
        for (mach_port_right_t k_ = 0; k_ < MACH_PORT_RIGHT_NUMBER; k_++) {                    \
            mach_port_urefs_t got_ = SENTINEL;                                                 \
            MT_KR(mach_port_get_refs(TASK, (name), k_, &got_), KERN_SUCCESS);                  \
            MT_EQ(got_, want_[k_]);                                                            \
        }                                                                                      \
    } while (0)

MT_TEST(get_refs_and_type_of_a_receive_right)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    CHECK_REFS(p, 0, 1, 0, 0, 0);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    /* send-once rights made from it live under other names and change nothing here */
    mach_port_name_t so = nu_send_once(p);
    MT_REQUIRE(so);
    CHECK_REFS(p, 0, 1, 0, 0, 0);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(get_refs_and_type_of_a_send_receive_name_count_urefs_for_send_only)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    CHECK_REFS(p, 1, 1, 0, 0, 0);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 40), KERN_SUCCESS);
    CHECK_REFS(p, 42, 1, 0, 0, 0);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(get_refs_and_type_of_a_send_only_name)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port();
    MT_REQUIRE(p && carrier);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
    MT_KR(nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    CHECK_REFS(p, 3, 0, 0, 0, 0);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, carrier), KERN_SUCCESS);
    NU_END();
}

MT_TEST(get_refs_and_type_of_a_send_once_right)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_t so = nu_send_once(p);
    MT_REQUIRE(so);
    CHECK_REFS(so, 0, 0, 1, 0, 0);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(get_refs_and_type_of_a_port_set_with_and_without_members)
{
    NU_BEGIN();
    mach_port_name_t set, p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    CHECK_REFS(set, 0, 0, 0, 1, 0);
    MT_EQ(nu_type(set), MACH_PORT_TYPE_PORT_SET);
    MT_KR(mach_port_move_member(TASK, p, set), KERN_SUCCESS);
    CHECK_REFS(set, 0, 0, 0, 1, 0);
    MT_EQ(nu_type(set), MACH_PORT_TYPE_PORT_SET);
    /* membership does not show in the member's type */
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_destroy(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(get_refs_and_type_of_dead_names)
{
    NU_BEGIN();
    mach_port_name_t d, p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    CHECK_REFS(d, 0, 0, 0, 0, 1);
    MT_EQ(nu_type(d), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_DEAD_NAME, 6), KERN_SUCCESS);
    CHECK_REFS(d, 0, 0, 0, 0, 7);
    /* the dead name a dropped receive right leaves behind looks the same */
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 4), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    CHECK_REFS(p, 0, 0, 0, 0, 5);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_destroy(TASK, d), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(type_adds_dnrequest_while_a_dead_name_request_is_registered)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), notify = nu_port(), prev, prev2;
    MT_REQUIRE(p && notify);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE | MACH_PORT_TYPE_DNREQUEST);
    /* the request bit is not a right: refs are unchanged */
    CHECK_REFS(p, 1, 1, 0, 0, 0);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_DEAD_NAME, 0, MACH_PORT_NULL,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev2),
          KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_KR(mach_port_deallocate(TASK, prev2), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, notify), KERN_SUCCESS);
    NU_END();
}

MT_TEST(get_refs_of_the_task_self_name_is_a_send_right)
{
    NU_BEGIN();
    mach_port_urefs_t r = 0;
    MT_KR(mach_port_get_refs(TASK, TASK, MACH_PORT_RIGHT_SEND, &r), KERN_SUCCESS);
    MT_CHECK(r >= 1);
    MT_KR(mach_port_get_refs(TASK, TASK, MACH_PORT_RIGHT_RECEIVE, &r), KERN_SUCCESS);
    MT_EQ(r, 0);
    MT_EQ(nu_type(TASK), MACH_PORT_TYPE_SEND);
    NU_END();
}

MT_TEST(get_refs_with_a_right_value_of_six_or_more_is_invalid_value_before_any_name_check)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    const mach_port_right_t bad[] = {MACH_PORT_RIGHT_NUMBER, 7, 0x100, 0xFFFFFFFF};
    const mach_port_name_t names[] = {p, MACH_PORT_NULL, MACH_PORT_DEAD, 0x7FFFF03};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            mach_port_urefs_t r = SENTINEL;
            MT_KR(mach_port_get_refs(TASK, names[j], bad[i], &r), KERN_INVALID_VALUE);
            MT_EQ(r, SENTINEL);
        }
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(get_refs_and_type_of_an_unknown_or_stale_name_are_invalid_name)
{
    NU_BEGIN();
    mach_port_name_t stale = nu_port();
    MT_REQUIRE(stale);
    MT_KR(mach_port_destroy(TASK, stale), KERN_SUCCESS);
    const mach_port_name_t unknown[] = {stale, stale ^ 0x04, 0x7FFFF03, 0x7B};
    for (int i = 0; i < 4; i++) {
        for (mach_port_right_t k = 0; k < MACH_PORT_RIGHT_NUMBER; k++) {
            mach_port_urefs_t r = SENTINEL;
            MT_KR(mach_port_get_refs(TASK, unknown[i], k, &r), KERN_INVALID_NAME);
            MT_EQ(r, SENTINEL);
        }
        mach_port_type_t t = SENTINEL;
        MT_KR(mach_port_type(TASK, unknown[i], &t), KERN_INVALID_NAME);
        MT_EQ(t, SENTINEL);
    }
    NU_END();
}

MT_TEST(get_refs_of_null_or_dead_is_one_for_send_kinds_and_invalid_name_otherwise)
{
    NU_BEGIN();
    const mach_port_name_t names[] = {MACH_PORT_NULL, MACH_PORT_DEAD};
    for (int i = 0; i < 2; i++) {
        mach_port_urefs_t r = SENTINEL;
        MT_KR(mach_port_get_refs(TASK, names[i], MACH_PORT_RIGHT_SEND, &r), KERN_SUCCESS);
        MT_EQ(r, 1);
        r = SENTINEL;
        MT_KR(mach_port_get_refs(TASK, names[i], MACH_PORT_RIGHT_SEND_ONCE, &r), KERN_SUCCESS);
        MT_EQ(r, 1);
        const mach_port_right_t others[] = {MACH_PORT_RIGHT_RECEIVE, MACH_PORT_RIGHT_PORT_SET,
                                            MACH_PORT_RIGHT_DEAD_NAME, MACH_PORT_RIGHT_LABELH};
        for (int k = 0; k < 4; k++) {
            r = SENTINEL;
            MT_KR(mach_port_get_refs(TASK, names[i], others[k], &r), KERN_INVALID_NAME);
            MT_EQ(r, SENTINEL);
        }
    }
    NU_END();
}

MT_TEST(type_of_null_is_invalid_name_and_of_dead_is_a_dead_name)
{
    NU_BEGIN();
    mach_port_type_t t = SENTINEL;
    MT_KR(mach_port_type(TASK, MACH_PORT_NULL, &t), KERN_INVALID_NAME);
    MT_EQ(t, SENTINEL);
    MT_KR(mach_port_type(TASK, MACH_PORT_DEAD, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_PORT_TYPE_DEAD_NAME);
    NU_END();
}

MT_TEST(get_refs_and_type_in_a_null_task_fail_with_invalid_dest)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_urefs_t r = SENTINEL;
    mach_port_type_t t = SENTINEL;
    MT_KR(mach_port_get_refs(MACH_PORT_NULL, p, MACH_PORT_RIGHT_RECEIVE, &r),
          MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_type(MACH_PORT_NULL, p, &t), MACH_SEND_INVALID_DEST);
    MT_EQ(r, SENTINEL);
    MT_EQ(t, SENTINEL);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(type_bit_values_and_combinations_match_the_abi)
{
    NU_BEGIN();
    MT_EQ(MACH_PORT_TYPE_SEND, 0x10000);
    MT_EQ(MACH_PORT_TYPE_RECEIVE, 0x20000);
    MT_EQ(MACH_PORT_TYPE_SEND_ONCE, 0x40000);
    MT_EQ(MACH_PORT_TYPE_PORT_SET, 0x80000);
    MT_EQ(MACH_PORT_TYPE_DEAD_NAME, 0x100000);
    MT_EQ(MACH_PORT_TYPE_SEND_RECEIVE, 0x30000);
    MT_EQ(MACH_PORT_TYPE_SEND_RIGHTS, 0x50000);
    MT_EQ(MACH_PORT_TYPE_PORT_RIGHTS, 0x70000);
    MT_EQ(MACH_PORT_TYPE_PORT_OR_DEAD, 0x170000);
    MT_EQ(MACH_PORT_TYPE_ALL_RIGHTS, 0x1F0000);
    MT_EQ(MACH_PORT_TYPE_DNREQUEST, 0x80000000u);
    for (mach_port_right_t r = 0; r < MACH_PORT_RIGHT_NUMBER; r++)
        MT_EQ(MACH_PORT_TYPE(r), 1u << (r + 16));
    NU_END();
}

MT_MAIN()
