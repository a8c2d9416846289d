/*
 * mach_port_extract_right on the caller's own space: the six dispositions, the type and name
 * the right comes back under, the references left behind, and the errors.
 *
 * XNU: mach_port_extract_right checks the disposition (KERN_INVALID_VALUE), then NULL/DEAD
 * (KERN_INVALID_RIGHT), then copies the right in (ipc_object_copyin -> ipc_right_copyin); the
 * MIG reply carries it back and copies it out into the same space (ipc_right_copyout), so a
 * send right coalesces with the name that still denotes the port and a send-once right or a
 * right whose name was freed comes back under a newly claimed name.
 */
#include "notify_util.h"

static kern_return_t extract(mach_port_name_t name, mach_msg_type_name_t disp,
                             mach_port_name_t *out, mach_msg_type_name_t *type)
{
    *out = 0x5A5A5A5A;
    *type = 0x5A5A5A5A;
    return mach_port_extract_right(TASK, name, disp, out, type);
}

static void drain_send_once_notification(mach_port_name_t port)
{
    nu_msg m;
    MT_KR(nu_recv(port, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
}

MT_TEST(make_send_returns_a_send_right_coalesced_under_the_receive_name)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), out;
    mach_msg_type_name_t t;
    MT_REQUIRE(p);
    MT_KR(extract(p, MACH_MSG_TYPE_MAKE_SEND, &out, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(out, p);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(extract(p, MACH_MSG_TYPE_MAKE_SEND, &out, &t), KERN_SUCCESS);
    MT_EQ(out, p);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_mscount, 2);
    MT_EQ(st.mps_srights, 1);
    MT_KR(mach_port_destruct(TASK, p, -2, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(copy_send_and_move_send_come_back_under_the_same_name)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), out;
    mach_msg_type_name_t t;
    MT_REQUIRE(p);
    MT_KR(extract(p, MACH_MSG_TYPE_COPY_SEND, &out, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(out, p);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    /* moving one uref out and back in leaves the count as it was */
    MT_KR(extract(p, MACH_MSG_TYPE_MOVE_SEND, &out, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(out, p);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    /* the last uref of a send+receive name: the send right comes back to the receive name */
    MT_KR(extract(p, MACH_MSG_TYPE_MOVE_SEND, &out, &t), KERN_SUCCESS);
    MT_EQ(out, p);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_mscount, 1);
    MT_EQ(st.mps_srights, 1);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_send_of_the_last_uref_of_a_send_only_name_comes_back_under_a_new_name)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port(), out;
    mach_msg_type_name_t t;
    MT_REQUIRE(p && carrier);
    MT_KR(nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_KR(extract(p, MACH_MSG_TYPE_MOVE_SEND, &out, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND);
    MT_NE(out, p); /* the old name was freed, a new one was claimed */
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    MT_EQ(nu_type(out), MACH_PORT_TYPE_SEND);
    MT_EQ(nu_refs(out, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_uncarry(carrier), out);
    MT_EQ(nu_type(out), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_KR(mach_port_destruct(TASK, out, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, carrier, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(make_send_once_returns_a_new_send_once_name_each_time)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), so1, so2;
    mach_msg_type_name_t t;
    MT_REQUIRE(p);
    MT_KR(extract(p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so1, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_KR(extract(p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so2, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_NE(so1, p);
    MT_NE(so2, p);
    MT_NE(so1, so2);
    MT_EQ(nu_type(so1), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_refs(so1, MACH_PORT_RIGHT_SEND_ONCE), 1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_sorights, 2);
    MT_EQ(st.mps_mscount, 0);
    MT_EQ(st.mps_srights, 0);
    MT_KR(mach_port_deallocate(TASK, so1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, so2), KERN_SUCCESS);
    drain_send_once_notification(p);
    drain_send_once_notification(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_send_once_frees_the_old_name_and_returns_the_right_under_a_new_one)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), so, out;
    mach_msg_type_name_t t;
    MT_REQUIRE(p);
    so = nu_send_once(p);
    MT_REQUIRE(so);
    MT_KR(extract(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, &out, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_NE(out, so);
    MT_EQ(nu_type(so), (mach_port_type_t)-1);
    MT_EQ(nu_type(out), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_status(p).mps_sorights, 1);
    MT_KR(mach_port_deallocate(TASK, out), KERN_SUCCESS);
    drain_send_once_notification(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_receive_of_a_receive_only_name_returns_it_under_a_new_name_with_state_reset)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), out;
    mach_msg_type_name_t t;
    MT_REQUIRE(p);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_KR(mach_port_set_context(TASK, p, 0x1234), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_mscount, 1);
    MT_KR(extract(p, MACH_MSG_TYPE_MOVE_RECEIVE, &out, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_RECEIVE);
    MT_NE(out, p);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    MT_EQ(nu_type(out), MACH_PORT_TYPE_RECEIVE);
    mach_port_status_t st = nu_status(out);
    MT_EQ(st.mps_mscount, 0);
    MT_EQ(st.mps_seqno, 0);
    mach_port_context_t ctx = 99;
    MT_KR(mach_port_get_context(TASK, out, &ctx), KERN_SUCCESS);
    MT_EQ(ctx, 0);
    MT_KR(mach_port_mod_refs(TASK, out, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_receive_of_a_send_receive_name_returns_it_under_the_same_name)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), out;
    mach_msg_type_name_t t;
    MT_REQUIRE(p);
    MT_KR(extract(p, MACH_MSG_TYPE_MOVE_RECEIVE, &out, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_RECEIVE);
    MT_EQ(out, p);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_mscount, 0); /* reset by the move */
    MT_EQ(st.mps_srights, 1);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_receive_of_a_guarded_movable_port_succeeds_and_drops_the_guard)
{
    NU_BEGIN();
    mach_port_options_t opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = MPO_CONTEXT_AS_GUARD;
    mach_port_name_t p = MACH_PORT_NULL, out;
    mach_msg_type_name_t t;
    MT_KR(mach_port_construct(TASK, &opts, 0xFEED, &p), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_flags & MACH_PORT_STATUS_FLAG_GUARDED,
          MACH_PORT_STATUS_FLAG_GUARDED);
    MT_KR(extract(p, MACH_MSG_TYPE_MOVE_RECEIVE, &out, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_RECEIVE);
    MT_EQ(nu_type(out), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(out).mps_flags, 0);
    /* no longer guarded: destroying it is not a guard violation */
    MT_KR(mach_port_mod_refs(TASK, out, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

static mach_port_name_t construct_immovable(void)
{
    mach_port_options_t opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = MPO_CONTEXT_AS_GUARD | MPO_IMMOVABLE_RECEIVE;
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_construct(TASK, &opts, 0xFEED, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

/* Runs in a forked child, which (a new task) inherits no port rights: build the port there. */
static void move_immovable_receive(void)
{
    mach_port_name_t p = construct_immovable(), out;
    mach_msg_type_name_t t;
    if (p != MACH_PORT_NULL)
        (void)mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MOVE_RECEIVE, &out, &t);
}

MT_TEST(move_receive_of_an_immovable_receive_right_is_a_fatal_guard_violation)
{
    NU_BEGIN();
    mach_port_name_t p = construct_immovable(), out;
    mach_msg_type_name_t t;
    MT_REQUIRE(p);
    MT_EQ(nu_status(p).mps_flags & MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE,
          MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE);
    NU_DIES_OF_GUARD(move_immovable_receive(), kGUARD_EXC_IMMOVABLE);
    /* making send and send-once rights from it is fine */
    MT_KR(extract(p, MACH_MSG_TYPE_MAKE_SEND, &out, &t), KERN_SUCCESS);
    MT_EQ(out, p);
    MT_KR(mach_port_destruct(TASK, p, -1, 0xFEED), KERN_SUCCESS);
    NU_END();
}

MT_TEST(dead_names_extract_as_mach_port_dead_for_send_dispositions)
{
    NU_BEGIN();
    mach_port_name_t dead, out;
    mach_msg_type_name_t t;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_DEAD_NAME, 2), KERN_SUCCESS);
    MT_KR(extract(dead, MACH_MSG_TYPE_COPY_SEND, &out, &t), KERN_SUCCESS);
    MT_EQ(out, MACH_PORT_DEAD);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 3);
    MT_KR(extract(dead, MACH_MSG_TYPE_MOVE_SEND, &out, &t), KERN_SUCCESS);
    MT_EQ(out, MACH_PORT_DEAD);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(extract(dead, MACH_MSG_TYPE_MOVE_SEND_ONCE, &out, &t), KERN_SUCCESS);
    MT_EQ(out, MACH_PORT_DEAD);
    MT_EQ(t, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(extract(dead, MACH_MSG_TYPE_MAKE_SEND, &out, &t), KERN_INVALID_RIGHT);
    MT_KR(extract(dead, MACH_MSG_TYPE_MAKE_SEND_ONCE, &out, &t), KERN_INVALID_RIGHT);
    MT_KR(extract(dead, MACH_MSG_TYPE_MOVE_RECEIVE, &out, &t), KERN_INVALID_RIGHT);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    /* the last uref moved out frees the name */
    MT_KR(extract(dead, MACH_MSG_TYPE_MOVE_SEND, &out, &t), KERN_SUCCESS);
    MT_EQ(out, MACH_PORT_DEAD);
    MT_EQ(nu_type(dead), (mach_port_type_t)-1);
    NU_END();
}

MT_TEST(wrong_right_kinds_are_invalid_right_and_change_nothing)
{
    NU_BEGIN();
    mach_port_name_t r = nu_port(), sr = nu_port_with_send(), set, so, out;
    mach_msg_type_name_t t;
    MT_REQUIRE(r && sr);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    so = nu_send_once(r);
    MT_REQUIRE(so);
    MT_KR(extract(r, MACH_MSG_TYPE_COPY_SEND, &out, &t), KERN_INVALID_RIGHT);
    MT_KR(extract(r, MACH_MSG_TYPE_MOVE_SEND, &out, &t), KERN_INVALID_RIGHT);
    MT_KR(extract(r, MACH_MSG_TYPE_MOVE_SEND_ONCE, &out, &t), KERN_INVALID_RIGHT);
    MT_KR(extract(sr, MACH_MSG_TYPE_MOVE_SEND_ONCE, &out, &t), KERN_INVALID_RIGHT);
    MT_KR(extract(so, MACH_MSG_TYPE_COPY_SEND, &out, &t), KERN_INVALID_RIGHT);
    MT_KR(extract(so, MACH_MSG_TYPE_MOVE_SEND, &out, &t), KERN_INVALID_RIGHT);
    MT_KR(extract(so, MACH_MSG_TYPE_MAKE_SEND, &out, &t), KERN_INVALID_RIGHT);
    MT_KR(extract(so, MACH_MSG_TYPE_MAKE_SEND_ONCE, &out, &t), KERN_INVALID_RIGHT);
    MT_KR(extract(so, MACH_MSG_TYPE_MOVE_RECEIVE, &out, &t), KERN_INVALID_RIGHT);
    const mach_msg_type_name_t all[] = {
        MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_TYPE_MOVE_SEND,   MACH_MSG_TYPE_MOVE_SEND_ONCE,
        MACH_MSG_TYPE_COPY_SEND,    MACH_MSG_TYPE_MAKE_SEND,   MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        MT_KR(extract(set, all[i], &out, &t), KERN_INVALID_RIGHT);
    MT_EQ(nu_type(r), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_type(sr), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(sr, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_type(set), MACH_PORT_TYPE_PORT_SET);
    mach_port_status_t st = nu_status(r);
    MT_EQ(st.mps_mscount, 0);
    MT_EQ(st.mps_sorights, 1);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    drain_send_once_notification(r);
    MT_KR(mach_port_deallocate(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, sr, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(bad_dispositions_are_invalid_value_before_the_name_is_looked_at)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), out;
    mach_msg_type_name_t t;
    MT_REQUIRE(p);
    const mach_msg_type_name_t bad[] = {0, MACH_MSG_TYPE_PORT_NAME, 22, 24, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MT_KR(extract(p, bad[i], &out, &t), KERN_INVALID_VALUE);
        MT_KR(extract(MACH_PORT_NULL, bad[i], &out, &t), KERN_INVALID_VALUE);
        MT_KR(extract(0x654303, bad[i], &out, &t), KERN_INVALID_VALUE);
    }
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(p).mps_mscount, 1);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(null_and_dead_names_are_invalid_right_and_unknown_names_invalid_name)
{
    NU_BEGIN();
    mach_port_name_t out;
    mach_msg_type_name_t t;
    const mach_msg_type_name_t all[] = {
        MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_TYPE_MOVE_SEND,   MACH_MSG_TYPE_MOVE_SEND_ONCE,
        MACH_MSG_TYPE_COPY_SEND,    MACH_MSG_TYPE_MAKE_SEND,   MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        MT_KR(extract(MACH_PORT_NULL, all[i], &out, &t), KERN_INVALID_RIGHT);
        MT_KR(extract(MACH_PORT_DEAD, all[i], &out, &t), KERN_INVALID_RIGHT);
        MT_KR(extract(0x654303, all[i], &out, &t), KERN_INVALID_NAME);
    }
    NU_END();
}

MT_MAIN()
