/*
 * Port sets: allocation, insert_member / extract_member / move_member, get_set_status, and
 * what destroying a set or a member does.
 *
 * XNU (osfmk/ipc/mach_port.c): insert/extract reject NULL/DEAD names with
 * KERN_INVALID_RIGHT, look both names up (either unknown -> KERN_INVALID_NAME), then need a
 * receive right and a port set (else KERN_INVALID_RIGHT). A port may be in several sets;
 * inserting it twice into one is KERN_ALREADY_IN_SET, extracting a non-member
 * KERN_NOT_IN_SET. move_member(after = set) links the port to `set` and unlinks it from all
 * others; after = NULL unlinks it from all (KERN_NOT_IN_SET if it was in none). Members are
 * reported sorted by name, in out-of-line memory the caller deallocates.
 */
#include "notify_util.h"

/* Members of `set` (sorted by the kernel) copied into `out`; returns the count or -1. */
static int members(mach_port_name_t set, mach_port_name_t *out, int max)
{
    mach_port_name_array_t m = NULL;
    mach_msg_type_number_t n = 0;
    if (mach_port_get_set_status(TASK, set, &m, &n) != KERN_SUCCESS)
        return -1;
    for (mach_msg_type_number_t i = 0; i < n && (int)i < max; i++)
        out[i] = m[i];
    (void)vm_deallocate(TASK, (vm_address_t)m, n * sizeof *m);
    return (int)n;
}

static mach_port_name_t new_set(void)
{
    mach_port_name_t s = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &s) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return s;
}

static void drop(mach_port_name_t port)
{
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(a_new_port_set_is_empty_and_holds_one_reference)
{
    NU_BEGIN();
    mach_port_name_t s = new_set(), buf[4];
    MT_REQUIRE(s);
    MT_EQ(nu_type(s), MACH_PORT_TYPE_PORT_SET);
    MT_EQ(nu_refs(s, MACH_PORT_RIGHT_PORT_SET), 1);
    MT_EQ(nu_refs(s, MACH_PORT_RIGHT_RECEIVE), 0);
    MT_EQ(members(s, buf, 4), 0);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, 1), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, -2), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    MT_EQ(nu_type(s), (mach_port_type_t)-1);
    NU_END();
}

MT_TEST(inserted_members_are_listed_sorted_and_report_pset_in_their_status)
{
    NU_BEGIN();
    mach_port_name_t s = new_set(), p[3] = {nu_port(), nu_port(), nu_port()}, buf[8];
    MT_REQUIRE(s && p[0] && p[1] && p[2]);
    MT_KR(mach_port_insert_member(TASK, p[2], s), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, p[0], s), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, p[1], s), KERN_SUCCESS);
    MT_REQUIRE(members(s, buf, 8) == 3);
    for (int i = 0; i < 3; i++)
        MT_EQ(nu_status(p[i]).mps_pset, 1);
    /* p[] were allocated in increasing order of name */
    MT_CHECK(buf[0] < buf[1] && buf[1] < buf[2]);
    MT_CHECK(buf[0] == p[0] || buf[0] == p[1] || buf[0] == p[2]);
    mach_port_name_t sorted[3] = {p[0], p[1], p[2]};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (sorted[j] < sorted[i]) {
                mach_port_name_t t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
    for (int i = 0; i < 3; i++)
        MT_EQ(buf[i], sorted[i]);
    MT_EQ(nu_type(p[0]), MACH_PORT_TYPE_RECEIVE); /* membership is not a type bit */
    for (int i = 0; i < 3; i++)
        drop(p[i]);
    MT_EQ(members(s, buf, 8), 0);
    MT_KR(mach_port_deallocate(TASK, s), KERN_SUCCESS);
    NU_END();
}

MT_TEST(inserting_a_member_twice_is_already_in_set_but_several_sets_are_fine)
{
    NU_BEGIN();
    mach_port_name_t s1 = new_set(), s2 = new_set(), p = nu_port(), buf[4];
    MT_REQUIRE(s1 && s2 && p);
    MT_KR(mach_port_insert_member(TASK, p, s1), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, p, s1), KERN_ALREADY_IN_SET);
    MT_KR(mach_port_insert_member(TASK, p, s2), KERN_SUCCESS);
    MT_EQ(members(s1, buf, 4), 1);
    MT_EQ(buf[0], p);
    MT_EQ(members(s2, buf, 4), 1);
    MT_EQ(buf[0], p);
    MT_KR(mach_port_extract_member(TASK, p, s1), KERN_SUCCESS);
    MT_EQ(members(s1, buf, 4), 0);
    MT_EQ(members(s2, buf, 4), 1);
    MT_EQ(nu_status(p).mps_pset, 1);
    MT_KR(mach_port_extract_member(TASK, p, s1), KERN_NOT_IN_SET);
    MT_KR(mach_port_extract_member(TASK, p, s2), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_pset, 0);
    MT_KR(mach_port_extract_member(TASK, p, s2), KERN_NOT_IN_SET);
    drop(p);
    MT_KR(mach_port_deallocate(TASK, s1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, s2), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_member_leaves_only_the_target_set_and_null_removes_from_all)
{
    NU_BEGIN();
    mach_port_name_t s1 = new_set(), s2 = new_set(), s3 = new_set(), p = nu_port(), buf[4];
    MT_REQUIRE(s1 && s2 && s3 && p);
    MT_KR(mach_port_insert_member(TASK, p, s1), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, p, s2), KERN_SUCCESS);
    MT_KR(mach_port_move_member(TASK, p, s3), KERN_SUCCESS);
    MT_EQ(members(s1, buf, 4), 0);
    MT_EQ(members(s2, buf, 4), 0);
    MT_EQ(members(s3, buf, 4), 1);
    /* moving into the set it is already in keeps it there */
    MT_KR(mach_port_move_member(TASK, p, s3), KERN_SUCCESS);
    MT_EQ(members(s3, buf, 4), 1);
    MT_KR(mach_port_move_member(TASK, p, MACH_PORT_NULL), KERN_SUCCESS);
    MT_EQ(members(s3, buf, 4), 0);
    MT_EQ(nu_status(p).mps_pset, 0);
    MT_KR(mach_port_move_member(TASK, p, MACH_PORT_NULL), KERN_NOT_IN_SET);
    MT_KR(mach_port_move_member(TASK, p, MACH_PORT_DEAD), KERN_INVALID_RIGHT);
    drop(p);
    MT_KR(mach_port_deallocate(TASK, s1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, s2), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, s3), KERN_SUCCESS);
    NU_END();
}

MT_TEST(member_calls_on_bad_names_fail_and_change_nothing)
{
    NU_BEGIN();
    mach_port_name_t s = new_set(), s2 = new_set(), p = nu_port(), dead, so, buf[4];
    MT_REQUIRE(s && s2 && p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    so = nu_send_once(p);
    MT_REQUIRE(so);
    /* NULL / DEAD on either side */
    MT_KR(mach_port_insert_member(TASK, MACH_PORT_NULL, s), KERN_INVALID_RIGHT);
    MT_KR(mach_port_insert_member(TASK, p, MACH_PORT_NULL), KERN_INVALID_RIGHT);
    MT_KR(mach_port_insert_member(TASK, MACH_PORT_DEAD, s), KERN_INVALID_RIGHT);
    MT_KR(mach_port_insert_member(TASK, p, MACH_PORT_DEAD), KERN_INVALID_RIGHT);
    MT_KR(mach_port_extract_member(TASK, MACH_PORT_NULL, s), KERN_INVALID_RIGHT);
    MT_KR(mach_port_extract_member(TASK, p, MACH_PORT_DEAD), KERN_INVALID_RIGHT);
    MT_KR(mach_port_move_member(TASK, MACH_PORT_NULL, s), KERN_INVALID_RIGHT);
    /* unknown names, whichever side */
    MT_KR(mach_port_insert_member(TASK, 0x654303, s), KERN_INVALID_NAME);
    MT_KR(mach_port_insert_member(TASK, p, 0x654303), KERN_INVALID_NAME);
    MT_KR(mach_port_insert_member(TASK, so, 0x654303), KERN_INVALID_NAME);
    MT_KR(mach_port_extract_member(TASK, 0x654303, s), KERN_INVALID_NAME);
    MT_KR(mach_port_move_member(TASK, 0x654303, s), KERN_INVALID_NAME);
    MT_KR(mach_port_move_member(TASK, 0x654303, MACH_PORT_NULL), KERN_INVALID_NAME);
    MT_KR(mach_port_move_member(TASK, p, 0x654303), KERN_INVALID_NAME);
    /* wrong kinds: the member needs a receive right, the set must be a port set */
    const mach_port_name_t not_receive[] = {so, dead, s2};
    for (size_t i = 0; i < 3; i++) {
        MT_KR(mach_port_insert_member(TASK, not_receive[i], s), KERN_INVALID_RIGHT);
        MT_KR(mach_port_extract_member(TASK, not_receive[i], s), KERN_INVALID_RIGHT);
        MT_KR(mach_port_move_member(TASK, not_receive[i], s), KERN_INVALID_RIGHT);
        MT_KR(mach_port_move_member(TASK, not_receive[i], MACH_PORT_NULL), KERN_INVALID_RIGHT);
    }
    const mach_port_name_t not_set[] = {so, dead, p};
    for (size_t i = 0; i < 3; i++) {
        MT_KR(mach_port_insert_member(TASK, p, not_set[i]), KERN_INVALID_RIGHT);
        MT_KR(mach_port_extract_member(TASK, p, not_set[i]), KERN_INVALID_RIGHT);
        MT_KR(mach_port_move_member(TASK, p, not_set[i]), KERN_INVALID_RIGHT);
    }
    MT_EQ(members(s, buf, 4), 0);
    MT_EQ(members(s2, buf, 4), 0);
    MT_EQ(nu_status(p).mps_pset, 0);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    drop(p);
    MT_KR(mach_port_deallocate(TASK, s), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, s2), KERN_SUCCESS);
    NU_END();
}

MT_TEST(get_set_status_needs_a_port_set_name)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_array_t m = NULL;
    mach_msg_type_number_t n = 0;
    MT_KR(mach_port_get_set_status(TASK, MACH_PORT_NULL, &m, &n), KERN_INVALID_RIGHT);
    MT_KR(mach_port_get_set_status(TASK, MACH_PORT_DEAD, &m, &n), KERN_INVALID_RIGHT);
    MT_KR(mach_port_get_set_status(TASK, 0x654303, &m, &n), KERN_INVALID_NAME);
    MT_KR(mach_port_get_set_status(TASK, p, &m, &n), KERN_INVALID_RIGHT);
    drop(p);
    NU_END();
}

MT_TEST(destroying_a_set_keeps_its_members_and_unlinks_them)
{
    NU_BEGIN();
    mach_port_name_t s = new_set(), p = nu_port(), q = nu_port();
    MT_REQUIRE(s && p && q);
    MT_KR(mach_port_insert_member(TASK, p, s), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, q, s), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, s), KERN_SUCCESS);
    MT_EQ(nu_type(s), (mach_port_type_t)-1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(p).mps_pset, 0);
    MT_EQ(nu_status(q).mps_pset, 0);
    /* the same through mach_port_destroy and mod_refs */
    mach_port_name_t s2 = new_set(), s3 = new_set();
    MT_REQUIRE(s2 && s3);
    MT_KR(mach_port_insert_member(TASK, p, s2), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, q, s3), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, s2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, s3, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_pset, 0);
    MT_EQ(nu_status(q).mps_pset, 0);
    drop(p);
    drop(q);
    NU_END();
}

MT_TEST(destroying_or_moving_a_member_removes_it_from_its_sets)
{
    NU_BEGIN();
    mach_port_name_t s = new_set(), p = nu_port(), q = nu_port(), out, buf[4];
    mach_msg_type_name_t t;
    MT_REQUIRE(s && p && q);
    MT_KR(mach_port_insert_member(TASK, p, s), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, q, s), KERN_SUCCESS);
    drop(p);
    MT_EQ(members(s, buf, 4), 1);
    MT_EQ(buf[0], q);
    /* a receive right that moves leaves every set */
    MT_KR(mach_port_extract_right(TASK, q, MACH_MSG_TYPE_MOVE_RECEIVE, &out, &t), KERN_SUCCESS);
    MT_EQ(members(s, buf, 4), 0);
    MT_EQ(nu_status(out).mps_pset, 0);
    drop(out);
    MT_KR(mach_port_deallocate(TASK, s), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_message_queued_on_a_member_is_received_through_the_set)
{
    NU_BEGIN();
    mach_port_name_t s = new_set(), p = nu_port_with_send();
    MT_REQUIRE(s && p);
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_remote_port = p;
    h.msgh_id = 4242;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(s, &m, 0), MACH_RCV_TIMED_OUT); /* not a member yet */
    MT_KR(mach_port_insert_member(TASK, p, s), KERN_SUCCESS);
    MT_KR(nu_recv(s, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 4242);
    MT_EQ(m.h.msgh_local_port, p);
    MT_EQ(nu_status(p).mps_seqno, 1);
    MT_EQ(nu_status(p).mps_msgcount, 0);
    MT_KR(nu_recv(s, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, s), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
