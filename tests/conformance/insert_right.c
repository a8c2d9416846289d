/*
 * mach_port_insert_right: every disposition, the name the right lands under, and the errors.
 *
 * XNU (libsyscall) calls the _kernelrpc_mach_port_insert_right trap: name == poly with
 * MAKE_SEND/COPY_SEND takes the fast path (ipc_object_insert_send_right); everything else
 * copies the right in from the caller's space (ipc_object_copyin), then copies it out under
 * `name` (mach_port_insert_right -> ipc_object_copyout_name) and destroys it on failure.
 */
#include "notify_util.h"

/*
 * A name the space does not use: a free index far above the ones the tests allocate, with
 * the kernel's generation bits. Picked on first use in each test (after the test allocated
 * its ports), because a freed index goes back to the head of the free list and the next
 * allocation may reuse it under another generation.
 */
static mach_port_name_t free_nm;
#define FREE_NAME free_name()

static mach_port_name_t free_name(void)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    uint32_t idx = 0x1234;
    if (free_nm != MACH_PORT_NULL)
        return free_nm;
    if (mach_port_names(TASK, &names, &nn, &types, &nt) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    for (int used = 1; used;) {
        used = 0;
        for (mach_msg_type_number_t i = 0; i < nn; i++)
            used |= (uint32_t)MACH_PORT_INDEX(names[i]) == idx;
        idx += (uint32_t)used;
    }
    (void)vm_deallocate(TASK, (vm_address_t)names, nn * sizeof *names);
    (void)vm_deallocate(TASK, (vm_address_t)types, nt * sizeof *types);
    free_nm = (idx << 8) | 0x03;
    return free_nm;
}

#define BEGIN()                                                                                \
    NU_BEGIN();                                                                                \
    free_nm = MACH_PORT_NULL

static mach_port_mscount_t mscount(mach_port_name_t port)
{
    return nu_status(port).mps_mscount;
}

MT_TEST(make_send_under_the_receive_name_adds_a_send_uref_and_counts_a_make_send)
{
    BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_EQ(mscount(p), 0);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_RECEIVE), 1);
    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_mscount, 1);
    MT_EQ(st.mps_srights, 1);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    MT_EQ(mscount(p), 2);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(p).mps_srights, 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(copy_send_under_the_same_name_adds_a_uref_and_leaves_mscount)
{
    BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_COPY_SEND), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_COPY_SEND), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 3);
    MT_EQ(mscount(p), 1);
    MT_KR(mach_port_destruct(TASK, p, -3, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(copy_send_or_make_send_on_names_lacking_the_right_is_invalid_right)
{
    BEGIN();
    mach_port_name_t p = nu_port(), set, so;
    MT_REQUIRE(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    so = nu_send_once(p);
    MT_REQUIRE(so);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_COPY_SEND), KERN_INVALID_RIGHT);
    MT_KR(mach_port_insert_right(TASK, set, set, MACH_MSG_TYPE_MAKE_SEND), KERN_INVALID_RIGHT);
    MT_KR(mach_port_insert_right(TASK, set, set, MACH_MSG_TYPE_COPY_SEND), KERN_INVALID_RIGHT);
    MT_KR(mach_port_insert_right(TASK, so, so, MACH_MSG_TYPE_MAKE_SEND), KERN_INVALID_RIGHT);
    MT_KR(mach_port_insert_right(TASK, so, so, MACH_MSG_TYPE_COPY_SEND), KERN_INVALID_RIGHT);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, set, MACH_MSG_TYPE_MAKE_SEND),
          KERN_INVALID_RIGHT);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_type(set), MACH_PORT_TYPE_PORT_SET);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_type(FREE_NAME), (mach_port_type_t)-1);
    MT_EQ(mscount(p), 0);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(make_send_under_another_name_is_right_exists_but_the_made_right_still_counts)
{
    BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, p, MACH_MSG_TYPE_MAKE_SEND),
          KERN_RIGHT_EXISTS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_type(FREE_NAME), (mach_port_type_t)-1);
    mach_port_status_t st = nu_status(p);
    MT_EQ(st.mps_mscount, 1); /* made, refused, released */
    MT_EQ(st.mps_srights, 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(copy_send_under_another_name_or_at_another_ports_name_is_right_exists)
{
    BEGIN();
    mach_port_name_t p = nu_port_with_send(), q = nu_port_with_send();
    MT_REQUIRE(p && q);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, p, MACH_MSG_TYPE_COPY_SEND),
          KERN_RIGHT_EXISTS);
    MT_KR(mach_port_insert_right(TASK, q, p, MACH_MSG_TYPE_COPY_SEND), KERN_RIGHT_EXISTS);
    MT_KR(mach_port_insert_right(TASK, q, p, MACH_MSG_TYPE_MAKE_SEND), KERN_RIGHT_EXISTS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_refs(q, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(q), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(mscount(p), 2);
    MT_EQ(nu_status(p).mps_srights, 1);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, q, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_send_of_the_only_send_right_lands_under_the_callers_chosen_name)
{
    BEGIN();
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port();
    MT_REQUIRE(p && carrier);
    MT_KR(nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, p, MACH_MSG_TYPE_MOVE_SEND), KERN_SUCCESS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    MT_EQ(nu_type(FREE_NAME), MACH_PORT_TYPE_SEND);
    MT_EQ(nu_refs(FREE_NAME, MACH_PORT_RIGHT_SEND), 1);
    /* the receive right coming back coalesces with the send right under the new name */
    MT_EQ(nu_uncarry(carrier), FREE_NAME);
    MT_EQ(nu_type(FREE_NAME), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(FREE_NAME, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_destruct(TASK, FREE_NAME, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, carrier, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_send_of_one_of_several_urefs_to_another_name_is_right_exists_and_loses_it)
{
    BEGIN();
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port();
    MT_REQUIRE(p && carrier);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, p, MACH_MSG_TYPE_MOVE_SEND),
          KERN_RIGHT_EXISTS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(FREE_NAME), (mach_port_type_t)-1);
    MT_EQ(nu_uncarry(carrier), p);
    MT_EQ(nu_status(p).mps_srights, 1);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, carrier, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_send_of_the_only_send_right_onto_a_used_name_is_name_exists_and_loses_it)
{
    BEGIN();
    mach_port_name_t p = nu_port_with_send(), carrier = nu_port(), q = nu_port();
    MT_REQUIRE(p && carrier && q);
    MT_KR(nu_carry(carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, q, p, MACH_MSG_TYPE_MOVE_SEND), KERN_NAME_EXISTS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    MT_EQ(nu_type(q), MACH_PORT_TYPE_RECEIVE);
    mach_port_name_t back = nu_uncarry(carrier);
    MT_REQUIRE(back != MACH_PORT_NULL);
    MT_EQ(nu_type(back), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(back).mps_srights, 0);
    MT_KR(mach_port_mod_refs(TASK, back, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, carrier, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(make_send_once_lands_under_the_chosen_name_and_is_counted_as_a_send_once_right)
{
    BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, p, MACH_MSG_TYPE_MAKE_SEND_ONCE),
          KERN_SUCCESS);
    MT_EQ(nu_type(FREE_NAME), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_refs(FREE_NAME, MACH_PORT_RIGHT_SEND_ONCE), 1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(p).mps_sorights, 1);
    MT_EQ(mscount(p), 0);
    MT_KR(mach_port_deallocate(TASK, FREE_NAME), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(p).mps_sorights, 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_send_once_renames_the_send_once_right)
{
    BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_port_name_t so = nu_send_once(p);
    MT_REQUIRE(so);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, so, MACH_MSG_TYPE_MOVE_SEND_ONCE),
          KERN_SUCCESS);
    MT_EQ(nu_type(so), (mach_port_type_t)-1);
    MT_EQ(nu_type(FREE_NAME), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_status(p).mps_sorights, 1);
    MT_KR(mach_port_deallocate(TASK, FREE_NAME), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(send_once_onto_a_used_name_is_name_exists_and_the_right_is_destroyed)
{
    BEGIN();
    mach_port_name_t p = nu_port(), q = nu_port();
    MT_REQUIRE(p && q);
    MT_KR(mach_port_insert_right(TASK, q, p, MACH_MSG_TYPE_MAKE_SEND_ONCE), KERN_NAME_EXISTS);
    MT_EQ(nu_type(q), MACH_PORT_TYPE_RECEIVE);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(p).mps_sorights, 0);
    MT_KR(nu_recv(p, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_receive_to_a_chosen_name_renames_the_port_and_resets_mscount)
{
    BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_EQ(mscount(p), 1);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, p, MACH_MSG_TYPE_MOVE_RECEIVE), KERN_SUCCESS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    MT_EQ(nu_type(FREE_NAME), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(mscount(FREE_NAME), 0);
    MT_KR(mach_port_mod_refs(TASK, FREE_NAME, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(move_receive_away_from_its_send_rights_is_right_exists_and_destroys_the_port)
{
    BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, p, MACH_MSG_TYPE_MOVE_RECEIVE),
          KERN_RIGHT_EXISTS);
    MT_EQ(nu_type(FREE_NAME), (mach_port_type_t)-1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(invalid_target_names_fail_after_the_right_was_copied_in)
{
    BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    /* COPY_SEND: the copied-in right is released again, urefs unchanged */
    MT_KR(mach_port_insert_right(TASK, MACH_PORT_NULL, p, MACH_MSG_TYPE_COPY_SEND),
          KERN_INVALID_VALUE);
    MT_KR(mach_port_insert_right(TASK, MACH_PORT_DEAD, p, MACH_MSG_TYPE_COPY_SEND),
          KERN_INVALID_VALUE);
    MT_KR(mach_port_insert_right(TASK, 0x123400, p, MACH_MSG_TYPE_COPY_SEND),
          KERN_INVALID_VALUE); /* generation bits not 0b11 */
    MT_KR(mach_port_insert_right(TASK, 0x7B, p, MACH_MSG_TYPE_COPY_SEND), KERN_FAILURE);
    MT_KR(mach_port_insert_right(TASK, 0xFFFFFF03, p, MACH_MSG_TYPE_COPY_SEND), KERN_NO_SPACE);
    /* same index as a used name but another generation */
    MT_KR(mach_port_insert_right(TASK, p ^ 0x04, p, MACH_MSG_TYPE_COPY_SEND), KERN_FAILURE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(p).mps_srights, 1);
    /* MAKE_SEND: the made right counts even though the insert fails */
    MT_KR(mach_port_insert_right(TASK, MACH_PORT_NULL, p, MACH_MSG_TYPE_MAKE_SEND),
          KERN_INVALID_VALUE);
    MT_KR(mach_port_insert_right(TASK, 0x7B, p, MACH_MSG_TYPE_MAKE_SEND), KERN_FAILURE);
    MT_EQ(mscount(p), 3);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(null_and_dead_target_names_are_invalid_value_and_destroy_a_moved_or_made_right)
{
    BEGIN();
    static const mach_port_name_t bad[] = {MACH_PORT_NULL, MACH_PORT_DEAD};
    for (int i = 0; i < 2; i++) {
        /* MAKE_SEND_ONCE: the made right is destroyed, so the port gets its notification */
        mach_port_name_t p = nu_port();
        MT_REQUIRE(p);
        MT_KR(mach_port_insert_right(TASK, bad[i], p, MACH_MSG_TYPE_MAKE_SEND_ONCE),
              KERN_INVALID_VALUE);
        nu_msg m;
        MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
        MT_EQ(nu_status(p).mps_sorights, 0);
        /* MOVE_SEND_ONCE: the right leaves its name and is destroyed the same way */
        mach_port_name_t so = nu_send_once(p);
        MT_REQUIRE(so);
        MT_KR(mach_port_insert_right(TASK, bad[i], so, MACH_MSG_TYPE_MOVE_SEND_ONCE),
              KERN_INVALID_VALUE);
        MT_EQ(nu_type(so), (mach_port_type_t)-1);
        MT_KR(nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
        /* MAKE_SEND: counted, then released, so the port's only send right is gone again */
        MT_KR(mach_port_insert_right(TASK, bad[i], p, MACH_MSG_TYPE_MAKE_SEND),
              KERN_INVALID_VALUE);
        MT_EQ(mscount(p), 1);
        MT_EQ(nu_status(p).mps_srights, 0);
        MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
        /* MOVE_RECEIVE: the receive right is destroyed with its port, its name freed */
        MT_KR(mach_port_insert_right(TASK, bad[i], p, MACH_MSG_TYPE_MOVE_RECEIVE),
              KERN_INVALID_VALUE);
        MT_EQ(nu_type(p), (mach_port_type_t)-1);
    }
    /* the same NULL or DEAD as name and right takes the send fast path: no such name */
    for (int i = 0; i < 2; i++) {
        MT_KR(mach_port_insert_right(TASK, bad[i], bad[i], MACH_MSG_TYPE_MAKE_SEND),
              KERN_INVALID_NAME);
        MT_KR(mach_port_insert_right(TASK, bad[i], bad[i], MACH_MSG_TYPE_COPY_SEND),
              KERN_INVALID_NAME);
    }
    NU_END();
}

MT_TEST(unknown_null_and_dead_poly_names_fail_as_xnu_does)
{
    BEGIN();
    mach_port_name_t dead;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_DEAD_NAME, 1), KERN_SUCCESS);
    /* unknown, NULL and DEAD names are looked up first: not in the space */
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, FREE_NAME, MACH_MSG_TYPE_MAKE_SEND),
          KERN_INVALID_NAME);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, 0x654303, MACH_MSG_TYPE_COPY_SEND),
          KERN_INVALID_NAME);
    MT_KR(mach_port_insert_right(TASK, MACH_PORT_NULL, MACH_PORT_NULL, MACH_MSG_TYPE_MAKE_SEND),
          KERN_INVALID_NAME);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND),
          KERN_INVALID_NAME);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, MACH_PORT_DEAD, MACH_MSG_TYPE_MOVE_SEND),
          KERN_INVALID_NAME);
    /* a dead name copies in as a dead port, which cannot be inserted */
    MT_KR(mach_port_insert_right(TASK, dead, dead, MACH_MSG_TYPE_COPY_SEND),
          KERN_INVALID_CAPABILITY);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, dead, MACH_MSG_TYPE_COPY_SEND),
          KERN_INVALID_CAPABILITY);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 2);
    MT_KR(mach_port_insert_right(TASK, dead, dead, MACH_MSG_TYPE_MAKE_SEND),
          KERN_INVALID_CAPABILITY);
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, dead, MACH_MSG_TYPE_MAKE_SEND),
          KERN_INVALID_RIGHT);
    /* MOVE_SEND of a dead name consumes one of its urefs before failing */
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, dead, MACH_MSG_TYPE_MOVE_SEND),
          KERN_INVALID_CAPABILITY);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_type(FREE_NAME), (mach_port_type_t)-1);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    NU_END();
}

MT_TEST(dispositions_that_are_not_port_rights_are_invalid_right_and_change_nothing)
{
    BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    const mach_msg_type_name_t bad[] = {0, MACH_MSG_TYPE_PORT_NAME, 22, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MT_KR(mach_port_insert_right(TASK, p, p, bad[i]), KERN_INVALID_RIGHT);
        MT_KR(mach_port_insert_right(TASK, FREE_NAME, p, bad[i]), KERN_INVALID_RIGHT);
    }
    /* the name lookup comes first */
    MT_KR(mach_port_insert_right(TASK, FREE_NAME, FREE_NAME, 22), KERN_INVALID_NAME);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(mscount(p), 1);
    MT_EQ(nu_type(FREE_NAME), (mach_port_type_t)-1);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(send_urefs_saturate_at_0xffff_and_make_send_still_counts)
{
    BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 0xFFFD), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 0xFFFE);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 0xFFFF);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_COPY_SEND), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 0xFFFF);
    MT_EQ(mscount(p), 3);
    /* pegged: a -1 is ignored, only -0xFFFF removes the right */
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 0xFFFF);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -0xFFFF), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(p).mps_srights, 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
