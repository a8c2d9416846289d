/*
 * mach_port_get_attributes / set_attributes, set_mscount, get_context / set_context.
 *
 * XNU (osfmk/ipc/mach_port.c): get_attributes checks the count per flavor first (short ->
 * KERN_FAILURE), then the name: LIMITS_INFO / DNREQUESTS_SIZE on NULL/DEAD succeed with
 * nothing to report, RECEIVE_STATUS / INFO_EXT on NULL/DEAD are KERN_INVALID_RIGHT; then
 * ipc_port_translate_receive (unknown -> INVALID_NAME, no receive right -> INVALID_RIGHT).
 * Unknown flavors (GUARD_INFO included: it has no case) are KERN_INVALID_ARGUMENT.
 */
#include "notify_util.h"

static kern_return_t get_attr(mach_port_name_t name, mach_port_flavor_t flavor, void *info,
                              mach_msg_type_number_t *count)
{
    return mach_port_get_attributes(TASK, name, flavor, (mach_port_info_t)info, count);
}

static kern_return_t set_qlimit(mach_port_name_t name, uint32_t qlimit)
{
    mach_port_limits_t l = {.mpl_qlimit = qlimit};
    return mach_port_set_attributes(TASK, name, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                    MACH_PORT_LIMITS_INFO_COUNT);
}

static mach_msg_return_t send_empty(mach_port_name_t dest)
{
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_remote_port = dest;
    h.msgh_id = 500;
    return mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

MT_TEST(a_new_port_reports_default_status_limits_and_no_requests)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_limits_t l = {.mpl_qlimit = 0xDEAD};
    mach_msg_type_number_t n = MACH_PORT_LIMITS_INFO_COUNT;
    MT_KR(get_attr(p, MACH_PORT_LIMITS_INFO, &l, &n), KERN_SUCCESS);
    MT_EQ(n, 1);
    MT_EQ(l.mpl_qlimit, MACH_PORT_QLIMIT_DEFAULT);
    mach_port_status_t st;
    memset(&st, 0xFF, sizeof st);
    n = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(get_attr(p, MACH_PORT_RECEIVE_STATUS, &st, &n), KERN_SUCCESS);
    MT_EQ(n, 10);
    MT_EQ(st.mps_pset, 0);
    MT_EQ(st.mps_seqno, 0);
    MT_EQ(st.mps_mscount, 0);
    MT_EQ(st.mps_qlimit, 5);
    MT_EQ(st.mps_msgcount, 0);
    MT_EQ(st.mps_sorights, 0);
    MT_EQ(st.mps_srights, 0);
    MT_EQ(st.mps_pdrequest, 0);
    MT_EQ(st.mps_nsrequest, 0);
    MT_EQ(st.mps_flags, 0);
    int dn = -1;
    n = MACH_PORT_DNREQUESTS_SIZE_COUNT;
    MT_KR(get_attr(p, MACH_PORT_DNREQUESTS_SIZE, &dn, &n), KERN_SUCCESS);
    MT_EQ(n, 1);
    MT_EQ(dn, 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(receive_status_reports_every_field_of_a_busy_port)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), notify = nu_port(), set, prev, so1, so2, pd, ns;
    MT_REQUIRE(p && notify);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, p, set), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(set_qlimit(p, 3), KERN_SUCCESS);
    MT_KR(send_empty(p), MACH_MSG_SUCCESS);
    MT_KR(send_empty(p), MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    so1 = nu_send_once(p);
    so2 = nu_send_once(p);
    MT_REQUIRE(so1 && so2);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_PORT_DESTROYED, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_guard(TASK, p, 0x6A6A, FALSE), KERN_SUCCESS);

    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_pset, 1);
    MT_EQ(st.mps_seqno, 1);
    MT_EQ(st.mps_mscount, 2);
    MT_EQ(st.mps_qlimit, 3);
    MT_EQ(st.mps_msgcount, 1);
    MT_EQ(st.mps_sorights, 2);
    MT_EQ(st.mps_srights, 1); /* a boolean, not the count */
    MT_EQ(st.mps_pdrequest, 1);
    MT_EQ(st.mps_nsrequest, 1);
    MT_EQ(st.mps_flags, MACH_PORT_STATUS_FLAG_GUARDED);

    /* INFO_EXT carries the same status plus a zero boost count */
    mach_port_info_ext_t ext;
    memset(&ext, 0xFF, sizeof ext);
    mach_msg_type_number_t n = MACH_PORT_INFO_EXT_COUNT;
    MT_KR(get_attr(p, MACH_PORT_INFO_EXT, &ext, &n), KERN_SUCCESS);
    MT_EQ(n, 17);
    MT_CHECK(memcmp(&ext.mpie_status, &st, sizeof st) == 0);
    MT_EQ(ext.mpie_boost_cnt, 0);

    /* undo it all; a port-destroyed request cannot be cancelled (KERN_FAILURE) */
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_PORT_DESTROYED, 0, MACH_PORT_NULL,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &pd),
          KERN_FAILURE);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_NO_SENDERS, 0, MACH_PORT_NULL,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &ns),
          KERN_SUCCESS);
    st = nu_status(p);
    MT_EQ(st.mps_pdrequest, 1);
    MT_EQ(st.mps_nsrequest, 0);
    const mach_port_name_t sos[] = {so1, so2, ns};
    for (size_t i = 0; i < 3; i++)
        MT_KR(mach_port_deallocate(TASK, sos[i]), KERN_SUCCESS);
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS); /* the queued message */
    MT_EQ(m.h.msgh_id, 500);
    for (int i = 0; i < 2; i++) {
        MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    }
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(p).mps_seqno, 4);
    MT_KR(mach_port_extract_member(TASK, p, set), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_pset, 0);
    /* destroying it hands the receive right to the port-destroyed request */
    MT_KR(mach_port_destruct(TASK, p, -2, 0x6A6A), KERN_SUCCESS);
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_PORT_DESTROYED);
    mach_port_name_t back = m.port_destroyed.not_port.name;
    MT_EQ(nu_type(back), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(back).mps_flags, 0);
    MT_KR(mach_port_mod_refs(TASK, back, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(dnrequests_size_grows_once_a_dead_name_request_is_registered)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(p && notify);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    int dn = 0;
    mach_msg_type_number_t n = MACH_PORT_DNREQUESTS_SIZE_COUNT;
    MT_KR(get_attr(p, MACH_PORT_DNREQUESTS_SIZE, &dn, &n), KERN_SUCCESS);
    MT_EQ(n, 1);
    MT_NE(dn, 0);
    /* setting it is accepted and does nothing */
    MT_KR(mach_port_set_attributes(TASK, p, MACH_PORT_DNREQUESTS_SIZE, (mach_port_info_t)&dn,
                                   MACH_PORT_DNREQUESTS_SIZE_COUNT),
          KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_DEAD_NAME, 0, MACH_PORT_NULL,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, prev), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(short_counts_are_kern_failure_even_before_the_name_is_checked)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    uint32_t buf[17];
    mach_msg_type_number_t n = 0;
    MT_KR(get_attr(p, MACH_PORT_LIMITS_INFO, buf, &n), KERN_FAILURE);
    n = MACH_PORT_RECEIVE_STATUS_COUNT - 1;
    MT_KR(get_attr(p, MACH_PORT_RECEIVE_STATUS, buf, &n), KERN_FAILURE);
    n = 0;
    MT_KR(get_attr(p, MACH_PORT_DNREQUESTS_SIZE, buf, &n), KERN_FAILURE);
    n = MACH_PORT_INFO_EXT_COUNT - 1;
    MT_KR(get_attr(p, MACH_PORT_INFO_EXT, buf, &n), KERN_FAILURE);
    n = MACH_PORT_RECEIVE_STATUS_COUNT - 1;
    MT_KR(get_attr(MACH_PORT_NULL, MACH_PORT_RECEIVE_STATUS, buf, &n), KERN_FAILURE);
    n = 0;
    MT_KR(get_attr(0x654303, MACH_PORT_LIMITS_INFO, buf, &n), KERN_FAILURE);
    mach_port_limits_t l = {.mpl_qlimit = 1};
    MT_KR(mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l, 0),
          KERN_FAILURE);
    MT_EQ(nu_status(p).mps_qlimit, MACH_PORT_QLIMIT_DEFAULT);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(bad_flavors_are_invalid_argument)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    uint32_t buf[17];
    const mach_port_flavor_t bad[] = {0, MACH_PORT_TEMPOWNER, MACH_PORT_IMPORTANCE_RECEIVER,
                                      10, 99, -1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mach_msg_type_number_t n = 17;
        MT_KR(get_attr(p, bad[i], buf, &n), KERN_INVALID_ARGUMENT);
    }
#ifdef MACH_PORT_GUARD_INFO
    /* XNU's get_attributes has no case for GUARD_INFO */
    mach_msg_type_number_t gn = MACH_PORT_GUARD_INFO_COUNT;
    MT_KR(get_attr(p, MACH_PORT_GUARD_INFO, buf, &gn), KERN_INVALID_ARGUMENT);
#endif
#ifdef MACH_PORT_SERVICE_THROTTLED
    /* only service ports have a throttle bit */
    mach_msg_type_number_t tn = MACH_PORT_SERVICE_THROTTLED_COUNT;
    MT_KR(get_attr(p, MACH_PORT_SERVICE_THROTTLED, buf, &tn), KERN_INVALID_CAPABILITY);
#endif
    MT_KR(mach_port_set_attributes(TASK, p, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)buf,
                                   MACH_PORT_RECEIVE_STATUS_COUNT),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_set_attributes(TASK, p, MACH_PORT_INFO_EXT, (mach_port_info_t)buf,
                                   MACH_PORT_INFO_EXT_COUNT),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_set_attributes(TASK, p, 99, (mach_port_info_t)buf, 1),
          KERN_INVALID_ARGUMENT);
    MT_EQ(nu_status(p).mps_flags, 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(null_dead_unknown_and_non_receive_names_fail_per_flavor)
{
    NU_BEGIN();
    mach_port_name_t r = nu_port(), set, dead, so;
    MT_REQUIRE(r);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    so = nu_send_once(r);
    MT_REQUIRE(so);
    uint32_t buf[17];
    mach_msg_type_number_t n;
    const mach_port_name_t invalid[] = {MACH_PORT_NULL, MACH_PORT_DEAD};
    for (size_t i = 0; i < 2; i++) {
        n = MACH_PORT_LIMITS_INFO_COUNT;
        MT_KR(get_attr(invalid[i], MACH_PORT_LIMITS_INFO, buf, &n), KERN_SUCCESS);
        MT_EQ(n, 0);
        buf[0] = 7;
        n = MACH_PORT_DNREQUESTS_SIZE_COUNT;
        MT_KR(get_attr(invalid[i], MACH_PORT_DNREQUESTS_SIZE, buf, &n), KERN_SUCCESS);
        MT_EQ(buf[0], 0);
        n = MACH_PORT_RECEIVE_STATUS_COUNT;
        MT_KR(get_attr(invalid[i], MACH_PORT_RECEIVE_STATUS, buf, &n), KERN_INVALID_RIGHT);
        n = MACH_PORT_INFO_EXT_COUNT;
        MT_KR(get_attr(invalid[i], MACH_PORT_INFO_EXT, buf, &n), KERN_INVALID_RIGHT);
        MT_KR(set_qlimit(invalid[i], 1), KERN_INVALID_RIGHT);
    }
    const mach_port_name_t wrong[] = {set, dead, so};
    for (size_t i = 0; i < 3; i++) {
        n = MACH_PORT_LIMITS_INFO_COUNT;
        MT_KR(get_attr(wrong[i], MACH_PORT_LIMITS_INFO, buf, &n), KERN_INVALID_RIGHT);
        n = MACH_PORT_RECEIVE_STATUS_COUNT;
        MT_KR(get_attr(wrong[i], MACH_PORT_RECEIVE_STATUS, buf, &n), KERN_INVALID_RIGHT);
        n = MACH_PORT_DNREQUESTS_SIZE_COUNT;
        MT_KR(get_attr(wrong[i], MACH_PORT_DNREQUESTS_SIZE, buf, &n), KERN_INVALID_RIGHT);
        MT_KR(set_qlimit(wrong[i], 1), KERN_INVALID_RIGHT);
    }
    n = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(get_attr(0x654303, MACH_PORT_RECEIVE_STATUS, buf, &n), KERN_INVALID_NAME);
    MT_KR(set_qlimit(0x654303, 1), KERN_INVALID_NAME);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(r, &m, 1000), MACH_MSG_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(set_qlimit_accepts_zero_to_the_maximum_and_rejects_more_before_the_name)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    const uint32_t ok[] = {0, 1, MACH_PORT_QLIMIT_LARGE, 7};
    for (size_t i = 0; i < 4; i++) {
        MT_KR(set_qlimit(p, ok[i]), KERN_SUCCESS);
        MT_EQ(nu_status(p).mps_qlimit, ok[i]);
    }
    MT_KR(set_qlimit(p, MACH_PORT_QLIMIT_MAX + 1), KERN_INVALID_VALUE);
    MT_KR(set_qlimit(p, MACH_PORT_QLIMIT_KERNEL), KERN_INVALID_VALUE);
    MT_KR(set_qlimit(MACH_PORT_NULL, MACH_PORT_QLIMIT_MAX + 1), KERN_INVALID_VALUE);
    MT_KR(set_qlimit(0x654303, MACH_PORT_QLIMIT_MAX + 1), KERN_INVALID_VALUE);
    MT_EQ(nu_status(p).mps_qlimit, 7);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(set_tempowner_and_importance_receiver_set_the_donation_flags)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), q = nu_port();
    MT_REQUIRE(p && q);
    int zero = 0;
    MT_KR(mach_port_set_attributes(TASK, p, MACH_PORT_IMPORTANCE_RECEIVER,
                                   (mach_port_info_t)&zero, 0),
          KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_flags, MACH_PORT_STATUS_FLAG_IMP_DONATION);
    MT_KR(mach_port_set_attributes(TASK, q, MACH_PORT_TEMPOWNER, (mach_port_info_t)&zero, 0),
          KERN_SUCCESS);
    MT_EQ(nu_status(q).mps_flags,
          MACH_PORT_STATUS_FLAG_IMP_DONATION | MACH_PORT_STATUS_FLAG_TEMPOWNER);
    MT_KR(mach_port_set_attributes(TASK, MACH_PORT_NULL, MACH_PORT_TEMPOWNER,
                                   (mach_port_info_t)&zero, 0),
          KERN_INVALID_RIGHT);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(set_mscount_replaces_the_make_send_count)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), so;
    MT_REQUIRE(p);
    MT_KR(mach_port_set_mscount(TASK, p, 42), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_mscount, 42);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_mscount, 43);
    MT_KR(mach_port_set_mscount(TASK, p, 0), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_mscount, 0);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    so = nu_send_once(p);
    MT_REQUIRE(so);
    MT_KR(mach_port_set_mscount(TASK, MACH_PORT_NULL, 1), KERN_INVALID_RIGHT);
    MT_KR(mach_port_set_mscount(TASK, MACH_PORT_DEAD, 1), KERN_INVALID_RIGHT);
    MT_KR(mach_port_set_mscount(TASK, so, 1), KERN_INVALID_RIGHT);
    MT_KR(mach_port_set_mscount(TASK, 0x654303, 1), KERN_INVALID_NAME);
    MT_EQ(nu_status(p).mps_mscount, 0);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -2, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(set_context_and_get_context_round_trip_on_receive_rights_only)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), set;
    MT_REQUIRE(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    mach_port_context_t c = 1;
    MT_KR(mach_port_get_context(TASK, p, &c), KERN_SUCCESS);
    MT_EQ(c, 0);
    MT_KR(mach_port_set_context(TASK, p, (mach_port_context_t)0xFEEDFACECAFEBEEFull),
          KERN_SUCCESS);
    MT_KR(mach_port_get_context(TASK, p, &c), KERN_SUCCESS);
    MT_EQ(c, (mach_port_context_t)0xFEEDFACECAFEBEEFull);
    /* an unguarded port's context can be changed freely */
    MT_KR(mach_port_set_context(TASK, p, 0), KERN_SUCCESS);
    MT_KR(mach_port_get_context(TASK, p, &c), KERN_SUCCESS);
    MT_EQ(c, 0);
    MT_KR(mach_port_set_context(TASK, MACH_PORT_NULL, 1), KERN_INVALID_RIGHT);
    MT_KR(mach_port_get_context(TASK, MACH_PORT_NULL, &c), KERN_INVALID_RIGHT);
    MT_KR(mach_port_set_context(TASK, MACH_PORT_DEAD, 1), KERN_INVALID_RIGHT);
    MT_KR(mach_port_get_context(TASK, MACH_PORT_DEAD, &c), KERN_INVALID_RIGHT);
    MT_KR(mach_port_set_context(TASK, set, 1), KERN_INVALID_RIGHT);
    MT_KR(mach_port_get_context(TASK, set, &c), KERN_INVALID_RIGHT);
    MT_KR(mach_port_set_context(TASK, 0x654303, 1), KERN_INVALID_NAME);
    MT_KR(mach_port_get_context(TASK, 0x654303, &c), KERN_INVALID_NAME);
    MT_KR(mach_port_deallocate(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
