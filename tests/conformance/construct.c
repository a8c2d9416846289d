/*
 * mach_port_construct options and mach_port_destruct.
 *
 * XNU: mach_port_construct checks the mutually exclusive flag groups (KERN_INVALID_ARGUMENT),
 * then the MPO_QLIMIT value (KERN_INVALID_VALUE), allocates the port and applies the flags;
 * unknown flag bits are ignored. The guard flags (MPO_STRICT, MPO_IMMOVABLE_RECEIVE) only
 * take effect with MPO_CONTEXT_AS_GUARD; otherwise `context` is the plain port context.
 * mach_port_destruct -> ipc_right_destruct: receive right needed, srdelta <= 0 and only with
 * a send right, guard must match a guarded port (else fatal kGUARD_EXC_DESTROY).
 */
#include "notify_util.h"

/* Option bits newer than some SDKs (values from XNU's osfmk/mach/port.h). */
#ifndef MPO_SERVICE_PORT
#define MPO_SERVICE_PORT 0x400
#endif
#ifndef MPO_CONNECTION_PORT
#define MPO_CONNECTION_PORT 0x800
#endif
#ifndef MPO_REPLY_PORT
#define MPO_REPLY_PORT 0x1000
#endif
#ifndef MPO_ENFORCE_REPLY_PORT_SEMANTICS
#define MPO_ENFORCE_REPLY_PORT_SEMANTICS 0x2000
#endif
#ifndef MPO_PROVISIONAL_REPLY_PORT
#define MPO_PROVISIONAL_REPLY_PORT 0x4000
#endif
#ifndef MPO_EXCEPTION_PORT
#define MPO_EXCEPTION_PORT 0x8000
#endif

static kern_return_t construct(uint32_t flags, uint32_t qlimit, mach_port_context_t ctx,
                               mach_port_name_t *name)
{
    mach_port_options_t opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = flags;
    opts.mpl.mpl_qlimit = qlimit;
    *name = MACH_PORT_NULL;
    return mach_port_construct(TASK, &opts, ctx, name);
}

static uint32_t qlimit_of(mach_port_name_t name)
{
    mach_port_limits_t l = {.mpl_qlimit = 0xDEAD};
    mach_msg_type_number_t n = MACH_PORT_LIMITS_INFO_COUNT;
    if (mach_port_get_attributes(TASK, name, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l, &n) !=
            KERN_SUCCESS ||
        n != MACH_PORT_LIMITS_INFO_COUNT)
        return 0xFFFFFFFF;
    return l.mpl_qlimit;
}

MT_TEST(construct_without_flags_makes_a_plain_receive_right_with_the_context_argument)
{
    NU_BEGIN();
    mach_port_name_t p;
    MT_KR(construct(0, 77, 0xABCDEF, &p), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_RECEIVE), 1);
    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_flags, 0);
    MT_EQ(st.mps_qlimit, MACH_PORT_QLIMIT_DEFAULT); /* mpl ignored without MPO_QLIMIT */
    MT_EQ(st.mps_mscount, 0);
    MT_EQ(st.mps_srights, 0);
    MT_EQ(st.mps_seqno, 0);
    MT_EQ(nu_context(p), 0xABCDEF);
    /* not guarded: any guard value destroys it */
    MT_KR(mach_port_destruct(TASK, p, 0, 0x999), KERN_SUCCESS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    NU_END();
}

MT_TEST(context_as_guard_guards_the_port_with_the_context_value)
{
    NU_BEGIN();
    mach_port_name_t p;
    MT_KR(construct(MPO_CONTEXT_AS_GUARD, 0, 0x1122334455667788ull, &p), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(p).mps_flags, MACH_PORT_STATUS_FLAG_GUARDED);
    MT_EQ(nu_context(p), 0x1122334455667788ull);
    MT_KR(mach_port_destruct(TASK, p, 0, 0x1122334455667788ull), KERN_SUCCESS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    NU_END();
}

MT_TEST(strict_guard_reports_the_strict_flag_and_hides_the_context)
{
    NU_BEGIN();
    mach_port_name_t p;
    MT_KR(construct(MPO_CONTEXT_AS_GUARD | MPO_STRICT, 0, 0xC0FFEE, &p), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_flags,
          MACH_PORT_STATUS_FLAG_GUARDED | MACH_PORT_STATUS_FLAG_STRICT_GUARD);
    MT_EQ(nu_context(p), 0);
    MT_KR(mach_port_destruct(TASK, p, 0, 0xC0FFEE), KERN_SUCCESS);
    NU_END();
}

MT_TEST(strict_and_immovable_without_context_as_guard_have_no_effect)
{
    NU_BEGIN();
    mach_port_name_t p, out;
    mach_msg_type_name_t t;
    MT_KR(construct(MPO_STRICT | MPO_IMMOVABLE_RECEIVE, 0, 0x55, &p), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_flags, 0);
    MT_EQ(nu_context(p), 0x55);
    /* the receive right is movable */
    MT_KR(mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MOVE_RECEIVE, &out, &t), KERN_SUCCESS);
    MT_EQ(t, MACH_MSG_TYPE_PORT_RECEIVE);
    MT_EQ(nu_type(out), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, out, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(immovable_receive_with_context_as_guard_is_reported_in_the_flags)
{
    NU_BEGIN();
    mach_port_name_t p;
    MT_KR(construct(MPO_CONTEXT_AS_GUARD | MPO_IMMOVABLE_RECEIVE, 0, 0x77, &p), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_flags,
          MACH_PORT_STATUS_FLAG_GUARDED | MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE);
    MT_KR(mach_port_destruct(TASK, p, 0, 0x77), KERN_SUCCESS);
    MT_KR(construct(MPO_CONTEXT_AS_GUARD | MPO_IMMOVABLE_RECEIVE | MPO_STRICT, 0, 0x78, &p),
          KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_flags, MACH_PORT_STATUS_FLAG_GUARDED |
                                      MACH_PORT_STATUS_FLAG_STRICT_GUARD |
                                      MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE);
    MT_KR(mach_port_destruct(TASK, p, 0, 0x78), KERN_SUCCESS);
    NU_END();
}

MT_TEST(qlimit_option_sets_the_queue_limit_from_zero_to_the_maximum)
{
    NU_BEGIN();
    const uint32_t limits[] = {0, 1, MACH_PORT_QLIMIT_SMALL, MACH_PORT_QLIMIT_MAX};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        mach_port_name_t p;
        MT_KR(construct(MPO_QLIMIT, limits[i], 0, &p), KERN_SUCCESS);
        MT_EQ(qlimit_of(p), limits[i]);
        MT_EQ(nu_status(p).mps_qlimit, limits[i]);
        MT_KR(mach_port_destruct(TASK, p, 0, 0), KERN_SUCCESS);
    }
    NU_END();
}

MT_TEST(qlimit_above_the_maximum_is_invalid_value_and_creates_no_port)
{
    NU_BEGIN();
    mach_port_name_t p;
    MT_KR(construct(MPO_QLIMIT, MACH_PORT_QLIMIT_MAX + 1, 0, &p), KERN_INVALID_VALUE);
    MT_KR(construct(MPO_QLIMIT | MPO_INSERT_SEND_RIGHT, MACH_PORT_QLIMIT_KERNEL, 0, &p),
          KERN_INVALID_VALUE);
    MT_KR(construct(MPO_QLIMIT, 0xFFFFFFFFu, 0, &p), KERN_INVALID_VALUE);
    NU_END();
}

MT_TEST(insert_send_right_makes_a_send_receive_name_with_one_make_send)
{
    NU_BEGIN();
    mach_port_name_t p;
    MT_KR(construct(MPO_INSERT_SEND_RIGHT, 0, 0, &p), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_mscount, 1);
    MT_EQ(st.mps_srights, 1);
    MT_EQ(st.mps_sorights, 0);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    NU_END();
}

MT_TEST(unknown_option_flags_are_ignored)
{
    NU_BEGIN();
    mach_port_name_t p;
    MT_KR(construct(0x00010000u | 0x40000000u, 0, 0x12, &p), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(p).mps_flags, 0);
    MT_EQ(nu_context(p), 0x12);
    MT_KR(mach_port_destruct(TASK, p, 0, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mutually_exclusive_flags_are_invalid_argument)
{
    NU_BEGIN();
    mach_port_name_t p;
    MT_KR(construct(MPO_SERVICE_PORT | MPO_CONNECTION_PORT, 0, 0, &p), KERN_INVALID_ARGUMENT);
    MT_KR(construct(MPO_CONNECTION_PORT | MPO_TG_BLOCK_TRACKING, 0, 0, &p),
          KERN_INVALID_ARGUMENT);
    MT_KR(construct(MPO_REPLY_PORT | MPO_EXCEPTION_PORT, 0, 0, &p), KERN_INVALID_ARGUMENT);
    MT_KR(construct(MPO_ENFORCE_REPLY_PORT_SEMANTICS | MPO_PROVISIONAL_REPLY_PORT, 0, 0, &p),
          KERN_INVALID_ARGUMENT);
    /* checked before the qlimit */
    MT_KR(construct(MPO_REPLY_PORT | MPO_EXCEPTION_PORT | MPO_QLIMIT, 5000, 0, &p),
          KERN_INVALID_ARGUMENT);
    /* a connection port needs a service port name */
    MT_KR(construct(MPO_CONNECTION_PORT, 0, 0, &p), KERN_INVALID_ARGUMENT);
    NU_END();
}

MT_TEST(importance_flags_mark_the_port_as_an_importance_donor)
{
    NU_BEGIN();
    mach_port_name_t p;
    MT_KR(construct(MPO_IMPORTANCE_RECEIVER, 0, 0, &p), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_flags, MACH_PORT_STATUS_FLAG_IMP_DONATION);
    MT_KR(mach_port_destruct(TASK, p, 0, 0), KERN_SUCCESS);
    MT_KR(construct(MPO_TEMPOWNER, 0, 0, &p), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_flags,
          MACH_PORT_STATUS_FLAG_IMP_DONATION | MACH_PORT_STATUS_FLAG_TEMPOWNER);
    MT_KR(mach_port_destruct(TASK, p, 0, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destruct_with_srdelta_drops_send_urefs_and_leaves_the_rest_as_a_dead_name)
{
    NU_BEGIN();
    mach_port_name_t p;
    MT_KR(construct(MPO_INSERT_SEND_RIGHT, 0, 0, &p), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -3, 0), KERN_SUCCESS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);

    MT_KR(construct(MPO_INSERT_SEND_RIGHT | MPO_CONTEXT_AS_GUARD, 0, 0xAB, &p), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0xAB), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);

    /* srdelta 0 keeps every send uref */
    MT_KR(construct(MPO_INSERT_SEND_RIGHT, 0, 0, &p), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, 0, 0), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destruct_rejects_bad_srdelta_and_changes_nothing)
{
    NU_BEGIN();
    mach_port_name_t sr, r;
    MT_KR(construct(MPO_INSERT_SEND_RIGHT, 0, 0, &sr), KERN_SUCCESS);
    MT_KR(construct(0, 0, 0, &r), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, sr, 1, 0), KERN_INVALID_VALUE);
    MT_KR(mach_port_destruct(TASK, sr, -2, 0), KERN_INVALID_VALUE);
    MT_KR(mach_port_destruct(TASK, sr, -0x10000, 0), KERN_INVALID_VALUE);
    /* without a send right any srdelta is checked first: INVALID_RIGHT */
    MT_KR(mach_port_destruct(TASK, r, -1, 0), KERN_INVALID_RIGHT);
    MT_KR(mach_port_destruct(TASK, r, 1, 0), KERN_INVALID_RIGHT);
    MT_EQ(nu_type(sr), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(sr, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(r), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_destruct(TASK, sr, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, r, 0, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(destruct_of_names_without_a_receive_right_fails_and_changes_nothing)
{
    NU_BEGIN();
    mach_port_name_t r = nu_port(), set, dead, so;
    MT_REQUIRE(r);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    so = nu_send_once(r);
    MT_REQUIRE(so);
    MT_KR(mach_port_destruct(TASK, set, 0, 0), KERN_INVALID_RIGHT);
    MT_KR(mach_port_destruct(TASK, dead, 0, 0), KERN_INVALID_RIGHT);
    MT_KR(mach_port_destruct(TASK, so, 0, 0), KERN_INVALID_RIGHT);
    MT_KR(mach_port_destruct(TASK, MACH_PORT_NULL, 0, 0), KERN_INVALID_NAME);
    MT_KR(mach_port_destruct(TASK, MACH_PORT_DEAD, 0, 0), KERN_INVALID_NAME);
    MT_KR(mach_port_destruct(TASK, 0x654303, 0, 0), KERN_INVALID_NAME);
    MT_EQ(nu_type(set), MACH_PORT_TYPE_PORT_SET);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(r, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, r, 0, 0), KERN_SUCCESS);
    NU_END();
}

/* Runs in a forked child (a new task without the parent's rights): builds its own port. */
static void destruct_with_wrong_guard(uint32_t flags, mach_port_context_t wrong)
{
    mach_port_name_t p;
    if (construct(MPO_CONTEXT_AS_GUARD | flags, 0, 0x600D, &p) == KERN_SUCCESS)
        (void)mach_port_destruct(TASK, p, 0, wrong);
}

MT_TEST(destruct_with_the_wrong_guard_is_a_fatal_guard_violation)
{
    NU_BEGIN();
    NU_DIES_OF_GUARD(destruct_with_wrong_guard(0, 0x0BAD), kGUARD_EXC_DESTROY);
    NU_DIES_OF_GUARD(destruct_with_wrong_guard(0, 0), kGUARD_EXC_DESTROY);
    NU_DIES_OF_GUARD(destruct_with_wrong_guard(MPO_STRICT, 0x0BAD), kGUARD_EXC_DESTROY);
    NU_DIES_OF_GUARD(destruct_with_wrong_guard(MPO_INSERT_SEND_RIGHT, 0x600E),
                     kGUARD_EXC_DESTROY);
    NU_END();
}

MT_MAIN()
