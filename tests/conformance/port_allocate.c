/* mach_port_allocate and mach_port_allocate_name: kinds of right, name encoding, errors. */
#include "notify_util.h"

/* A name whose index no entry of the space uses (so any generation of it is free). */
static mach_port_name_t free_name_at(uint32_t from, unsigned gen_byte)
{
    static nu_space s;
    nu_snapshot(&s);
    for (uint32_t idx = from;; idx++) {
        int used = 0;
        for (mach_msg_type_number_t i = 0; i < s.n; i++)
            if (MACH_PORT_INDEX(s.names[i]) == idx)
                used = 1;
        if (!used)
            return (idx << 8) | gen_byte;
    }
}

/* How many names of the space differ from `before` (added ones only), and the last one. */
static unsigned added_names(const nu_space *before, mach_port_name_t *last)
{
    static nu_space now;
    unsigned n = 0;
    nu_snapshot(&now);
    for (mach_msg_type_number_t i = 0; i < now.n; i++) {
        int found = 0;
        for (mach_msg_type_number_t j = 0; j < before->n; j++)
            if (before->names[j] == now.names[i])
                found = 1;
        if (!found) {
            n++;
            *last = now.names[i];
        }
    }
    return n;
}

MT_TEST(allocate_receive_gives_a_fresh_port_with_only_the_receive_right)
{
    NU_BEGIN();
    mach_port_name_t p = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_REQUIRE(MACH_PORT_VALID(p));
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_RECEIVE), 1);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 0);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND_ONCE), 0);
    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_pset, 0);
    MT_EQ(st.mps_seqno, 0);
    MT_EQ(st.mps_mscount, 0);
    MT_EQ(st.mps_qlimit, MACH_PORT_QLIMIT_DEFAULT);
    MT_EQ(st.mps_msgcount, 0);
    MT_EQ(st.mps_sorights, 0);
    MT_EQ(st.mps_srights, 0);
    MT_EQ(st.mps_pdrequest, 0);
    MT_EQ(st.mps_nsrequest, 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(allocate_port_set_gives_an_empty_set_with_one_ref)
{
    NU_BEGIN();
    mach_port_name_t s = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &s), KERN_SUCCESS);
    MT_REQUIRE(MACH_PORT_VALID(s));
    MT_EQ(nu_type(s), MACH_PORT_TYPE_PORT_SET);
    MT_EQ(nu_refs(s, MACH_PORT_RIGHT_PORT_SET), 1);
    MT_EQ(nu_refs(s, MACH_PORT_RIGHT_RECEIVE), 0);
    mach_port_name_array_t members = NULL;
    mach_msg_type_number_t n = 99;
    MT_KR(mach_port_get_set_status(TASK, s, &members, &n), KERN_SUCCESS);
    MT_EQ(n, 0);
    if (members && n)
        (void)vm_deallocate(TASK, (vm_address_t)members, n * sizeof *members);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(allocate_dead_name_gives_a_dead_name_with_one_uref)
{
    NU_BEGIN();
    mach_port_name_t d = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_REQUIRE(MACH_PORT_VALID(d));
    MT_EQ(nu_type(d), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 0);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    MT_EQ(nu_type(d), (mach_port_type_t)-1);
    NU_END();
}

MT_TEST(allocate_of_send_send_once_or_unknown_rights_is_invalid_value_and_adds_no_name)
{
    NU_BEGIN();
    static const mach_port_right_t bad[] = {MACH_PORT_RIGHT_SEND, MACH_PORT_RIGHT_SEND_ONCE,
                                            MACH_PORT_RIGHT_LABELH, MACH_PORT_RIGHT_NUMBER,
                                            MACH_PORT_RIGHT_NUMBER + 1, 0x7FFFFFFF, 0xFFFFFFFF};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mach_port_name_t n = 0x1234;
        MT_KR(mach_port_allocate(TASK, bad[i], &n), KERN_INVALID_VALUE);
        MT_EQ(n, 0x1234); /* not written on failure */
    }
    NU_END();
}

MT_TEST(allocate_in_a_null_or_dead_task_fails_with_invalid_dest)
{
    NU_BEGIN();
    mach_port_name_t n = 0x1234, d;
    MT_KR(mach_port_allocate(MACH_PORT_NULL, MACH_PORT_RIGHT_RECEIVE, &n), MACH_SEND_INVALID_DEST);
    MT_EQ(n, 0x1234);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    MT_KR(mach_port_allocate(d, MACH_PORT_RIGHT_RECEIVE, &n), MACH_SEND_INVALID_DEST);
    MT_EQ(n, 0x1234);
    MT_KR(mach_port_allocate_name(MACH_PORT_NULL, MACH_PORT_RIGHT_RECEIVE, free_name_at(0x40, 3)),
          MACH_SEND_INVALID_DEST);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    NU_END();
}

MT_TEST(allocated_names_are_distinct_valid_and_carry_generation_bits_0b11)
{
    NU_BEGIN();
    enum { N = 300 };
    static mach_port_name_t names[N];
    static const mach_port_right_t kinds[] = {MACH_PORT_RIGHT_RECEIVE, MACH_PORT_RIGHT_PORT_SET,
                                              MACH_PORT_RIGHT_DEAD_NAME};
    for (int i = 0; i < N; i++) {
        names[i] = MACH_PORT_NULL;
        MT_KR(mach_port_allocate(TASK, kinds[i % 3], &names[i]), KERN_SUCCESS);
        MT_EQ(names[i] & 3, 3);
        MT_NE(names[i], MACH_PORT_NULL);
        MT_NE(names[i], MACH_PORT_DEAD);
        MT_NE(MACH_PORT_INDEX(names[i]), 0);
        MT_NE(names[i], TASK);
    }
    int dups = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            dups += names[i] == names[j];
    MT_EQ(dups, 0);
    for (int i = 0; i < N; i++)
        MT_KR(mach_port_destroy(TASK, names[i]), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_freed_name_is_not_handed_out_again_by_the_next_allocation)
{
    NU_BEGIN();
    static const mach_port_right_t kinds[] = {MACH_PORT_RIGHT_RECEIVE, MACH_PORT_RIGHT_PORT_SET,
                                              MACH_PORT_RIGHT_DEAD_NAME};
    for (int k = 0; k < 3; k++) {
        mach_port_name_t a, b;
        MT_KR(mach_port_allocate(TASK, kinds[k], &a), KERN_SUCCESS);
        MT_KR(mach_port_destroy(TASK, a), KERN_SUCCESS);
        MT_EQ(nu_type(a), (mach_port_type_t)-1);
        MT_KR(mach_port_allocate(TASK, kinds[k], &b), KERN_SUCCESS);
        MT_NE(b, a);
        MT_EQ(b & 3, 3);
        /* the stale name still denotes nothing */
        mach_port_type_t t;
        MT_KR(mach_port_type(TASK, a, &t), KERN_INVALID_NAME);
        MT_KR(mach_port_destroy(TASK, b), KERN_SUCCESS);
    }
    NU_END();
}

MT_TEST(allocate_name_on_a_free_name_gives_exactly_that_name)
{
    NU_BEGIN();
    /* a recently freed name */
    mach_port_name_t a;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &a), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, a), KERN_SUCCESS);
    MT_EQ(nu_type(a), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_RECEIVE), 1);
    mach_port_status_t st = nu_status(a);
    MT_EQ(st.mps_qlimit, MACH_PORT_QLIMIT_DEFAULT);
    MT_EQ(st.mps_mscount, 0);
    MT_EQ(st.mps_srights, 0);
    /* it is a working port: a send right coalesces under it */
    MT_KR(mach_port_insert_right(TASK, a, a, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_EQ(nu_type(a), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_KR(mach_port_destroy(TASK, a), KERN_SUCCESS);
    /* a name at an index never used, with an arbitrary generation */
    mach_port_name_t s = free_name_at(0x300, 0x5F);
    MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_PORT_SET, s), KERN_SUCCESS);
    MT_EQ(nu_type(s), MACH_PORT_TYPE_PORT_SET);
    MT_EQ(nu_refs(s, MACH_PORT_RIGHT_PORT_SET), 1);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    mach_port_name_t r = free_name_at(0x310, 0xF3);
    MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, r), KERN_SUCCESS);
    MT_EQ(nu_type(r), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(allocate_name_on_a_name_in_use_is_name_exists_and_changes_nothing)
{
    NU_BEGIN();
    mach_port_name_t rcv = nu_port(), sr = nu_port_with_send(), set, dead;
    MT_REQUIRE(rcv && sr);
    mach_port_name_t so = nu_send_once(rcv);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    const mach_port_name_t used[] = {rcv, sr, so, set, dead, TASK};
    const mach_port_type_t types[] = {MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_SEND_RECEIVE,
                                      MACH_PORT_TYPE_SEND_ONCE, MACH_PORT_TYPE_PORT_SET,
                                      MACH_PORT_TYPE_DEAD_NAME, MACH_PORT_TYPE_SEND};
    for (int i = 0; i < 6; i++) {
        MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, used[i]), KERN_NAME_EXISTS);
        MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_PORT_SET, used[i]), KERN_NAME_EXISTS);
        MT_EQ(nu_type(used[i]), types[i]);
    }
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

MT_TEST(allocate_name_with_the_index_of_a_used_name_but_another_generation_is_failure)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_t other_gen = p ^ 0x04; /* same index, gen bits still 0b11 */
    MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, other_gen), KERN_FAILURE);
    MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_PORT_SET, other_gen), KERN_FAILURE);
    MT_EQ(nu_type(other_gen), (mach_port_type_t)-1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(allocate_name_of_null_or_dead_is_invalid_value)
{
    NU_BEGIN();
    static const mach_port_right_t kinds[] = {MACH_PORT_RIGHT_RECEIVE, MACH_PORT_RIGHT_PORT_SET,
                                              MACH_PORT_RIGHT_DEAD_NAME, MACH_PORT_RIGHT_SEND};
    for (int k = 0; k < 4; k++) {
        MT_KR(mach_port_allocate_name(TASK, kinds[k], MACH_PORT_NULL), KERN_INVALID_VALUE);
        MT_KR(mach_port_allocate_name(TASK, kinds[k], MACH_PORT_DEAD), KERN_INVALID_VALUE);
    }
    NU_END();
}

MT_TEST(allocate_name_without_generation_bits_0b11_is_invalid_value)
{
    NU_BEGIN();
    mach_port_name_t base = free_name_at(0x320, 0);
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    for (unsigned low = 0; low < 3; low++) {
        MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, base | low),
              KERN_INVALID_VALUE);
        MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_PORT_SET, base | 0x10 | low),
              KERN_INVALID_VALUE);
        MT_EQ(nu_type(base | low), (mach_port_type_t)-1);
        /* checked before the name is looked up: same answer on a used index */
        MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, (p & ~3u) | low),
              KERN_INVALID_VALUE);
    }
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(allocate_name_with_index_zero_is_failure)
{
    NU_BEGIN();
    static const mach_port_name_t idx0[] = {0x03, 0x07, 0x7B, 0xFF};
    for (int i = 0; i < 4; i++) {
        MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, idx0[i]), KERN_FAILURE);
        MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_PORT_SET, idx0[i]), KERN_FAILURE);
    }
    NU_END();
}

MT_TEST(allocate_name_with_an_index_beyond_the_table_maximum_is_no_space)
{
    NU_BEGIN();
    MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, 0xFFFFFF03), KERN_NO_SPACE);
    MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_PORT_SET, 0xFFFFFE03), KERN_NO_SPACE);
    /* the index bound is checked before the generation bits */
    MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, 0xFFFFFFFE), KERN_NO_SPACE);
    NU_END();
}

MT_TEST(allocate_name_of_send_send_once_or_unknown_rights_is_invalid_value)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_t fresh = free_name_at(0x330, 0x23);
    static const mach_port_right_t bad[] = {MACH_PORT_RIGHT_SEND, MACH_PORT_RIGHT_SEND_ONCE,
                                            MACH_PORT_RIGHT_LABELH, MACH_PORT_RIGHT_NUMBER,
                                            0xFFFFFFFF};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MT_KR(mach_port_allocate_name(TASK, bad[i], fresh), KERN_INVALID_VALUE);
        /* the right is checked before the name is looked up */
        MT_KR(mach_port_allocate_name(TASK, bad[i], p), KERN_INVALID_VALUE);
        MT_KR(mach_port_allocate_name(TASK, bad[i], 0x7B), KERN_INVALID_VALUE);
    }
    MT_EQ(nu_type(fresh), (mach_port_type_t)-1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

/* XNU's mach_port_allocate_full hands the DEAD_NAME case to ipc_object_alloc_dead, which
 * picks its own name: the requested name is ignored and the new name is not reported. */
MT_TEST(allocate_name_of_a_dead_name_succeeds_under_a_kernel_chosen_name)
{
    NU_BEGIN();
    mach_port_name_t want = free_name_at(0x340, 0x43), got = MACH_PORT_NULL;
    MT_KR(mach_port_allocate_name(TASK, MACH_PORT_RIGHT_DEAD_NAME, want), KERN_SUCCESS);
    MT_EQ(added_names(&nu_before_, &got), 1);
    MT_NE(got, want);
    MT_EQ(nu_type(want), (mach_port_type_t)-1);
    MT_EQ(nu_type(got), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(got, MACH_PORT_RIGHT_DEAD_NAME), 1);
    if (MACH_PORT_VALID(got))
        MT_KR(mach_port_deallocate(TASK, got), KERN_SUCCESS);
    if (nu_type(want) != (mach_port_type_t)-1)
        (void)mach_port_destroy(TASK, want);
    NU_END();
}

MT_MAIN()
