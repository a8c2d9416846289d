/*
 * test_rights.c — owned rights: allocate, make, clone, drop, raw names, attributes,
 * guards, port sets.
 */
#include "mpt.h"

MPT_TEST(alloc_gives_a_receive_right_that_drop_destroys)
{
    mp_recv_right r;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_CHECK(!mp_recv_right_is_null(r));
    MT_EQ(mpt_type(r.name), MACH_PORT_TYPE_RECEIVE);
    mach_port_name_t n = r.name;
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
    MT_CHECK(mp_recv_right_is_null(r));
    MT_EQ(mpt_type(n), 0);
}

MPT_TEST(second_drop_is_a_harmless_no_op)
{
    mp_recv_right r;
    mp_send_right s;
    mp_send_once_right so;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(r, &so), KERN_SUCCESS);
    MT_KR(mp_send_once_right_drop(&so), KERN_SUCCESS);
    MT_KR(mp_send_once_right_drop(&so), KERN_SUCCESS);
    MT_KR(mp_send_right_drop(&s), KERN_SUCCESS);
    MT_KR(mp_send_right_drop(&s), KERN_SUCCESS);
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
}

/* The crate's test_drop: both orders of dropping a send right and its receive right. */
MPT_TEST(send_then_receive_drop_order_releases_both)
{
    mp_recv_right r;
    mp_send_right s;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    MT_EQ(s.name, r.name);
    MT_EQ(mpt_refs(s.name, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mp_send_right_drop(&s), KERN_SUCCESS);
    MT_EQ(mpt_type(r.name), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
}

MPT_TEST(receive_then_send_drop_order_releases_the_dead_name)
{
    mp_recv_right r;
    mp_send_right s;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    mach_port_name_t n = r.name;
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
    MT_EQ(mpt_type(n), MACH_PORT_TYPE_DEAD_NAME);
    MT_CHECK(mp_send_right_is_dead(s));
    MT_KR(mp_send_right_drop(&s), KERN_SUCCESS);
    MT_EQ(mpt_type(n), 0);
}

MPT_TEST(send_once_right_of_a_dead_port_drops_as_a_dead_name)
{
    mp_recv_right r;
    mp_send_once_right so;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(r, &so), KERN_SUCCESS);
    MT_NE(so.name, r.name);
    MT_EQ(mpt_type(so.name), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
    MT_CHECK(mp_send_once_right_is_dead(so));
    MT_KR(mp_send_once_right_drop(&so), KERN_SUCCESS);
}

MPT_TEST(every_send_once_right_gets_its_own_name)
{
    mp_recv_right r;
    mp_send_once_right a, b;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(r, &a), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(r, &b), KERN_SUCCESS);
    MT_NE(a.name, b.name);
    mp_port_status st;
    MT_KR(mp_recv_right_status(r, &st), KERN_SUCCESS);
    MT_EQ(st.sorights, 2);
    (void)mp_send_once_right_drop(&a);
    (void)mp_send_once_right_drop(&b);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(copy_adds_one_user_reference_and_each_drop_removes_one)
{
    mp_recv_right r;
    mp_send_right s, c;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    MT_KR(mp_send_right_copy(s, &c), KERN_SUCCESS);
    MT_EQ(c.name, s.name);
    MT_EQ(mpt_refs(s.name, MACH_PORT_RIGHT_SEND), 2);
    MT_KR(mp_send_right_drop(&c), KERN_SUCCESS);
    MT_EQ(mpt_refs(s.name, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mp_send_right_drop(&s), KERN_SUCCESS);
    (void)mp_recv_right_drop(&r);
}

/* Issue 12 item 15: copying a dead name is an error (Swift's copySendRight throws deadName). */
MPT_TEST(copy_of_a_dead_send_right_fails_and_leaves_the_dead_name_alone)
{
    mp_recv_right r;
    mp_send_right s, c;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    (void)mp_recv_right_drop(&r);
    MT_KR(mp_send_right_copy(s, &c), KERN_INVALID_RIGHT);
    MT_CHECK(mp_send_right_is_null(c));
    MT_EQ(mpt_refs(s.name, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mp_send_right_copy(mp_send_right_from_name(MACH_PORT_DEAD), &c), KERN_INVALID_RIGHT);
    MT_CHECK(mp_send_right_is_null(c));
    MT_KR(mp_send_right_drop(&s), KERN_SUCCESS);
}

MPT_TEST(copy_of_a_null_send_right_fails_with_invalid_name)
{
    mp_send_right c;
    MT_KR(mp_send_right_copy(MP_SEND_RIGHT_NULL, &c), KERN_INVALID_NAME);
    MT_CHECK(mp_send_right_is_null(c));
}

MPT_TEST(make_from_a_null_receive_right_fails_and_leaves_out_null)
{
    mp_send_right s = {123};
    mp_send_once_right so = {456};
    MT_KR(mp_send_right_make(MP_RECV_RIGHT_NULL, &s), KERN_INVALID_NAME);
    MT_KR(mp_send_once_right_make(MP_RECV_RIGHT_NULL, &so), KERN_INVALID_NAME);
    MT_CHECK(mp_send_right_is_null(s));
    MT_CHECK(mp_send_once_right_is_null(so));
}

MPT_TEST(make_send_from_a_name_without_a_receive_right_fails)
{
    mp_recv_right r;
    mp_send_right s, t;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    (void)mp_recv_right_drop(&r);
    /* The name is a dead name now, not a receive right. */
    MT_NE(mp_send_right_make(mp_recv_right_from_name(s.name), &t), KERN_SUCCESS);
    MT_CHECK(mp_send_right_is_null(t));
    (void)mp_send_right_drop(&s);
}

MPT_TEST(into_name_gives_up_ownership_and_from_name_takes_it_back)
{
    mp_recv_right r;
    mp_send_right s;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    mach_port_name_t raw = mp_send_right_into_name(&s);
    MT_CHECK(mp_send_right_is_null(s));
    MT_KR(mp_send_right_drop(&s), KERN_SUCCESS); /* NULL: nothing released */
    MT_EQ(mpt_refs(raw, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(mp_send_right_name(mp_send_right_from_name(raw)), raw);
    s = mp_send_right_from_name(raw);
    (void)mp_send_right_drop(&s);
    mach_port_name_t rn = mp_recv_right_into_name(&r);
    MT_CHECK(mp_recv_right_is_null(r));
    r = mp_recv_right_from_name(rn);
    MT_EQ(mp_recv_right_name(r), rn);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(any_send_right_tags_and_returns_its_right)
{
    mp_recv_right r;
    mp_send_right s, s2 = MP_SEND_RIGHT_NULL;
    mp_send_once_right so, so2 = MP_SEND_ONCE_RIGHT_NULL;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(r, &so), KERN_SUCCESS);

    mp_any_send_right a = mp_any_send_right_from_send(&s);
    mp_any_send_right b = mp_any_send_right_from_send_once(&so);
    MT_CHECK(mp_send_right_is_null(s));
    MT_CHECK(mp_send_once_right_is_null(so));
    MT_EQ(a.kind, MP_ANY_SEND_SEND);
    MT_EQ(b.kind, MP_ANY_SEND_ONCE);
    MT_CHECK(!mp_any_send_right_take_send_once(&a, &so2));
    MT_CHECK(mp_send_once_right_is_null(so2));
    MT_CHECK(mp_any_send_right_take_send(&a, &s2));
    MT_CHECK(mp_any_send_right_is_null(a));
    MT_EQ(s2.name, r.name);
    MT_KR(mp_any_send_right_drop(&b), KERN_SUCCESS);
    MT_KR(mp_any_send_right_drop(&b), KERN_SUCCESS);
    (void)mp_send_right_drop(&s2);
    mp_send_right none = MP_SEND_RIGHT_NULL;
    MT_CHECK(mp_any_send_right_is_null(mp_any_send_right_from_send(&none)));
    (void)mp_recv_right_drop(&r);
}

/* ---- construct ------------------------------------------------------------------------ */

MPT_TEST(construct_with_qlimit_sets_the_queue_limit)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_QLIMIT, .qlimit = 1};
    mp_recv_right r;
    mach_port_msgcount_t q = 0;
    MT_KR(mp_recv_right_construct(&o, &r, NULL), KERN_SUCCESS);
    MT_KR(mp_recv_right_qlimit(r, &q), KERN_SUCCESS);
    MT_EQ(q, 1);
    MT_KR(mp_recv_right_set_qlimit(r, 16), KERN_SUCCESS);
    MT_KR(mp_recv_right_qlimit(r, &q), KERN_SUCCESS);
    MT_EQ(q, 16);
    MT_KR(mp_recv_right_set_qlimit(r, MACH_PORT_QLIMIT_MAX + 1), KERN_INVALID_VALUE);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(construct_with_context_sets_the_context_without_a_guard)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_CONTEXT, .context = 0x1234};
    mp_recv_right r;
    mach_port_context_t c = 0;
    MT_KR(mp_recv_right_construct(&o, &r, NULL), KERN_SUCCESS);
    MT_EQ(r.guarded, 0);
    MT_KR(mp_recv_right_context(r, &c), KERN_SUCCESS);
    MT_EQ(c, 0x1234);
    MT_KR(mp_recv_right_set_context(&r, 0x99), KERN_SUCCESS);
    MT_KR(mp_recv_right_context(r, &c), KERN_SUCCESS);
    MT_EQ(c, 0x99);
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
}

MPT_TEST(construct_with_guard_records_it_and_drop_destroys_with_it)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_GUARD, .context = 0xfeed};
    mp_recv_right r;
    mp_port_status st;
    MT_KR(mp_recv_right_construct(&o, &r, NULL), KERN_SUCCESS);
    MT_EQ(r.guarded, 1);
    MT_EQ(r.guard, 0xfeed);
    MT_KR(mp_recv_right_status(r, &st), KERN_SUCCESS);
    MT_CHECK(st.flags & MACH_PORT_STATUS_FLAG_GUARDED);
    mach_port_name_t n = r.name;
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
    MT_EQ(mpt_type(n), 0);
}

MPT_TEST(set_context_on_a_guarded_right_moves_the_guard)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_GUARD, .context = 7};
    mp_recv_right r;
    MT_KR(mp_recv_right_construct(&o, &r, NULL), KERN_SUCCESS);
    MT_KR(mp_recv_right_set_context(&r, 8), KERN_SUCCESS);
    MT_EQ(r.guard, 8);
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS); /* destruct with the new guard */
}

MPT_TEST(strict_guard_refuses_set_context_without_asking_the_kernel)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_GUARD | MP_CONSTRUCT_STRICT, .context = 5};
    mp_recv_right r;
    MT_KR(mp_recv_right_construct(&o, &r, NULL), KERN_SUCCESS);
    MT_EQ(r.guarded, 2);
    MT_KR(mp_recv_right_set_context(&r, 6), KERN_INVALID_ARGUMENT);
    MT_EQ(r.guard, 5);
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
}

MPT_TEST(construct_with_insert_send_gives_a_send_right_under_the_same_name)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_INSERT_SEND};
    mp_recv_right r;
    mp_send_right s;
    MT_KR(mp_recv_right_construct(&o, &r, &s), KERN_SUCCESS);
    MT_EQ(s.name, r.name);
    MT_EQ(mpt_type(r.name), MACH_PORT_TYPE_SEND_RECEIVE);
    (void)mp_send_right_drop(&s);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(construct_rejects_inconsistent_options_before_the_kernel)
{
    mp_recv_right r;
    mp_construct_options o1 = {.flags = MP_CONSTRUCT_INSERT_SEND};
    MT_KR(mp_recv_right_construct(&o1, &r, NULL), KERN_INVALID_ARGUMENT);
    mp_construct_options o2 = {.flags = MP_CONSTRUCT_CONTEXT | MP_CONSTRUCT_GUARD};
    MT_KR(mp_recv_right_construct(&o2, &r, NULL), KERN_INVALID_ARGUMENT);
    mp_construct_options o3 = {.flags = MP_CONSTRUCT_STRICT};
    MT_KR(mp_recv_right_construct(&o3, &r, NULL), KERN_INVALID_ARGUMENT);
    mp_construct_options o4 = {.flags = 0x8000};
    MT_KR(mp_recv_right_construct(&o4, &r, NULL), KERN_INVALID_ARGUMENT);
    mp_construct_options o5 = {.flags = MP_CONSTRUCT_QLIMIT, .qlimit = MACH_PORT_QLIMIT_MAX + 1};
    MT_KR(mp_recv_right_construct(&o5, &r, NULL), KERN_INVALID_VALUE);
    MT_CHECK(mp_recv_right_is_null(r));
}

MPT_TEST(guard_and_unguard_track_the_guard)
{
    mp_recv_right r;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_recv_right_unguard(&r), KERN_INVALID_ARGUMENT);
    MT_KR(mp_recv_right_guard(&r, 0xabc, false), KERN_SUCCESS);
    MT_EQ(r.guarded, 1);
    MT_KR(mp_recv_right_guard(&r, 0xabd, false), KERN_INVALID_ARGUMENT);
    MT_KR(mp_recv_right_unguard(&r), KERN_SUCCESS);
    MT_EQ(r.guarded, 0);
    MT_KR(mp_recv_right_guard(&r, 0x77, true), KERN_SUCCESS);
    MT_EQ(r.guarded, 2);
    MT_KR(mp_recv_right_drop(&r), KERN_SUCCESS);
}

MPT_TEST(guard_refuses_a_port_whose_context_is_set)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_CONTEXT, .context = 1};
    mp_recv_right r;
    MT_KR(mp_recv_right_construct(&o, &r, NULL), KERN_SUCCESS);
    MT_KR(mp_recv_right_guard(&r, 2, false), KERN_INVALID_ARGUMENT);
    MT_EQ(r.guarded, 0);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(status_reports_mscount_and_send_rights)
{
    mp_recv_right r;
    mp_send_right s;
    mp_port_status st;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_recv_right_status(r, &st), KERN_SUCCESS);
    MT_EQ(st.mscount, 0);
    MT_EQ(st.qlimit, MACH_PORT_QLIMIT_DEFAULT);
    MT_EQ(st.msgcount, 0);
    MT_CHECK(!st.srights);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    MT_KR(mp_recv_right_status(r, &st), KERN_SUCCESS);
    MT_EQ(st.mscount, 1);
    MT_CHECK(st.srights);
    MT_KR(mp_recv_right_set_mscount(r, 9), KERN_SUCCESS);
    MT_KR(mp_recv_right_status(r, &st), KERN_SUCCESS);
    MT_EQ(st.mscount, 9);
    (void)mp_send_right_drop(&s);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(status_of_a_null_receive_right_is_an_error)
{
    mp_port_status st;
    MT_NE(mp_recv_right_status(MP_RECV_RIGHT_NULL, &st), KERN_SUCCESS);
}

/* ---- port sets ------------------------------------------------------------------------------ */

MPT_TEST(port_set_insert_remove_and_members)
{
    mp_port_set set;
    mp_recv_right a, b;
    mach_port_name_t names[4];
    size_t n = 99;
    mp_port_status st;

    MT_KR(mp_port_set_alloc(&set), KERN_SUCCESS);
    MT_EQ(mpt_type(set.name), MACH_PORT_TYPE_PORT_SET);
    MT_KR(mp_recv_right_alloc(&a), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&b), KERN_SUCCESS);
    MT_KR(mp_port_set_members(set, names, 4, &n), KERN_SUCCESS);
    MT_EQ(n, 0);
    MT_KR(mp_port_set_insert(set, a), KERN_SUCCESS);
    MT_KR(mp_port_set_insert(set, a), KERN_ALREADY_IN_SET);
    MT_KR(mp_port_set_insert(set, b), KERN_SUCCESS);
    MT_KR(mp_port_set_members(set, names, 4, &n), KERN_SUCCESS);
    MT_EQ(n, 2);
    MT_CHECK((names[0] == a.name && names[1] == b.name) ||
             (names[0] == b.name && names[1] == a.name));
    MT_KR(mp_port_set_members(set, names, 1, &n), KERN_SUCCESS);
    MT_EQ(n, 2);
    MT_KR(mp_recv_right_status(a, &st), KERN_SUCCESS);
    MT_CHECK(st.in_set);
    MT_KR(mp_port_set_remove(set, a), KERN_SUCCESS);
    MT_KR(mp_port_set_remove(set, a), KERN_NOT_IN_SET);
    MT_KR(mp_port_set_members(set, names, 4, &n), KERN_SUCCESS);
    MT_EQ(n, 1);
    (void)mp_recv_right_drop(&a);
    (void)mp_recv_right_drop(&b);
    MT_KR(mp_port_set_drop(&set), KERN_SUCCESS);
    MT_KR(mp_port_set_drop(&set), KERN_SUCCESS);
}

MPT_TEST(port_set_move_changes_sets_and_null_leaves_all)
{
    mp_port_set s1, s2;
    mp_recv_right a;
    size_t n = 0;
    MT_KR(mp_port_set_alloc(&s1), KERN_SUCCESS);
    MT_KR(mp_port_set_alloc(&s2), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&a), KERN_SUCCESS);
    MT_KR(mp_port_set_move(a, s1), KERN_SUCCESS);
    MT_KR(mp_port_set_move(a, s2), KERN_SUCCESS);
    MT_KR(mp_port_set_members(s1, NULL, 0, &n), KERN_SUCCESS);
    MT_EQ(n, 0);
    MT_KR(mp_port_set_members(s2, NULL, 0, &n), KERN_SUCCESS);
    MT_EQ(n, 1);
    MT_KR(mp_port_set_move(a, MP_PORT_SET_NULL), KERN_SUCCESS);
    MT_KR(mp_port_set_move(a, MP_PORT_SET_NULL), KERN_NOT_IN_SET);
    (void)mp_recv_right_drop(&a);
    (void)mp_port_set_drop(&s1);
    (void)mp_port_set_drop(&s2);
}

MPT_TEST(dropping_a_set_with_members_leaves_the_members)
{
    mp_port_set set;
    mp_recv_right a;
    mp_port_status st;
    MT_KR(mp_port_set_alloc(&set), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&a), KERN_SUCCESS);
    MT_KR(mp_port_set_insert(set, a), KERN_SUCCESS);
    MT_KR(mp_port_set_drop(&set), KERN_SUCCESS);
    MT_KR(mp_recv_right_status(a, &st), KERN_SUCCESS);
    MT_CHECK(!st.in_set);
    (void)mp_recv_right_drop(&a);
}

MPT_TEST(port_set_operations_on_null_values_fail_cleanly)
{
    mp_recv_right a;
    size_t n = 5;
    MT_KR(mp_recv_right_alloc(&a), KERN_SUCCESS);
    MT_NE(mp_port_set_insert(MP_PORT_SET_NULL, a), KERN_SUCCESS);
    MT_NE(mp_port_set_members(MP_PORT_SET_NULL, NULL, 0, &n), KERN_SUCCESS);
    MT_EQ(n, 0);
    (void)mp_recv_right_drop(&a);
}

/* Issue 12 item 10: a right pair in one call, torn down in one call. */
MPT_TEST(make_pair_gives_a_receive_and_a_send_right_and_drop_pair_releases_both)
{
    mp_recv_right r;
    mp_send_right s;
    MT_KR(mp_recv_right_make_pair(&r, &s), KERN_SUCCESS);
    MT_EQ(r.name, s.name);
    MT_EQ(mpt_type(r.name), MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND);
    MT_EQ(mpt_refs(s.name, MACH_PORT_RIGHT_SEND), 1);
    mach_port_name_t n = r.name;
    MT_KR(mp_recv_right_drop_pair(&r, &s), KERN_SUCCESS);
    MT_CHECK(mp_recv_right_is_null(r) && mp_send_right_is_null(s));
    MT_EQ(mpt_type(n), 0);
    MT_KR(mp_recv_right_drop_pair(&r, &s), KERN_SUCCESS); /* a second drop: a no-op */
}

MPT_TEST(drop_pair_of_a_guarded_port_with_two_send_references_leaves_one)
{
    mp_construct_options o = {.flags = MP_CONSTRUCT_GUARD | MP_CONSTRUCT_INSERT_SEND,
                              .context = 0x77};
    mp_recv_right r;
    mp_send_right s, extra;
    MT_KR(mp_recv_right_construct(&o, &r, &s), KERN_SUCCESS);
    MT_KR(mp_send_right_copy(s, &extra), KERN_SUCCESS);
    MT_KR(mp_recv_right_drop_pair(&r, &s), KERN_SUCCESS);
    /* The port is gone; the other reference is a dead name now. */
    MT_EQ(mpt_type(extra.name), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(mpt_refs(extra.name, MACH_PORT_RIGHT_DEAD_NAME), 1);
    (void)mp_send_right_drop(&extra);
}

MPT_TEST(drop_pair_of_rights_to_two_ports_drops_each)
{
    mp_recv_right r, other;
    mp_send_right s;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_recv_right_make_pair(&other, &s), KERN_SUCCESS);
    mach_port_name_t rn = r.name;
    MT_KR(mp_recv_right_drop_pair(&r, &s), KERN_SUCCESS);
    MT_EQ(mpt_type(rn), 0);
    MT_EQ(mpt_type(other.name), MACH_PORT_TYPE_RECEIVE);
    (void)mp_recv_right_drop(&other);
}

/* Misuse: a right used after a consuming call is NULL, so using it fails cleanly; a stale
 * copy of a dropped right is an error value, never a crash. */
MPT_TEST(a_consumed_right_is_null_and_a_stale_copy_fails_cleanly)
{
    mp_recv_right r;
    mp_send_right s, stale;
    mp_msg_buffer buf;
    mp_msg_builder b;
    MT_KR(mp_recv_right_make_pair(&r, &s), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    mp_send_right keep;
    MT_KR(mp_send_right_copy(s, &keep), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_send(&b, &s), KERN_SUCCESS);
    MT_CHECK(mp_send_right_is_null(s));
    mp_send_right c;
    MT_KR(mp_send_right_copy(s, &c), KERN_INVALID_NAME);   /* used after consume */
    MT_KR(mp_send_right_drop(&s), KERN_SUCCESS);           /* a no-op */
    MT_KR(mp_send(s, &b, MP_TIMEOUT_NONE), MACH_SEND_INVALID_DEST); /* and the moved one is released */
    MT_EQ(mpt_refs(keep.name, MACH_PORT_RIGHT_SEND), 1);

    stale = keep;
    MT_KR(mp_send_right_drop(&keep), KERN_SUCCESS);
    MT_NE(mp_send_right_drop(&stale), KERN_SUCCESS); /* the name holds no send right any more */
    MT_CHECK(mp_send_right_is_null(stale));
    MT_EQ(mpt_type(r.name), MACH_PORT_TYPE_RECEIVE);
    mp_msg_buffer_drop(&buf);
    (void)mp_recv_right_drop(&r);
}

MT_MAIN()
