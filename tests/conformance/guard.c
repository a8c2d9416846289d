/*
 * Guarded receive rights: mach_port_guard / unguard / guard_with_flags / swap_guard, the
 * context of a guarded port, and destroying a guarded receive right.
 *
 * XNU (osfmk/ipc/mach_port.c): the guard is the port context plus a guarded bit.
 * mach_port_guard_locked refuses a port whose context is non-zero (KERN_INVALID_ARGUMENT,
 * non-fatal kGUARD_EXC_INVALID_ARGUMENT); unguard/swap_guard violations (UNGUARDED,
 * INCORRECT_GUARD, SET_CONTEXT) and destroying a guarded receive right (DESTROY) raise fatal
 * guard exceptions: they are run in a forked child (a new task that inherits no rights, so
 * each child builds its own port) and must kill it.
 */
#include "notify_util.h"

static uint32_t flags_of(mach_port_name_t name)
{
    return nu_status(name).mps_flags;
}

#define G_GUARDED MACH_PORT_STATUS_FLAG_GUARDED
#define G_STRICT MACH_PORT_STATUS_FLAG_STRICT_GUARD
#define G_IMMOVABLE MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE

/* ---- fatal cases, each run in a child ------------------------------------------------------ */

static mach_port_name_t child_port(uint64_t guard, uint64_t flags)
{
    mach_port_name_t p = nu_port();
    if (p && guard)
        (void)mach_port_guard_with_flags(TASK, p, guard, flags);
    return p;
}

static void unguard_unguarded(void)
{
    (void)mach_port_unguard(TASK, child_port(0, 0), 0);
}

static void unguard_wrong(void)
{
    (void)mach_port_unguard(TASK, child_port(0x11, 0), 0x12);
}

static void swap_unguarded(void)
{
    (void)mach_port_swap_guard(TASK, child_port(0, 0), 0, 1);
}

static void swap_strict(void)
{
    (void)mach_port_swap_guard(TASK, child_port(0x11, MPG_STRICT), 0x11, 0x12);
}

static void swap_wrong_old(void)
{
    (void)mach_port_swap_guard(TASK, child_port(0x11, 0), 0x10, 0x12);
}

static void set_context_strict(void)
{
    (void)mach_port_set_context(TASK, child_port(0x11, MPG_STRICT), 0x12);
}

static void mod_refs_guarded(void)
{
    (void)mach_port_mod_refs(TASK, child_port(0x11, 0), MACH_PORT_RIGHT_RECEIVE, -1);
}

static void destroy_guarded(void)
{
    (void)mach_port_destroy(TASK, child_port(0x11, 0));
}

static void move_sticky_immovable(void)
{
    mach_port_name_t p = child_port(0x11, MPG_IMMOVABLE_RECEIVE), out;
    mach_msg_type_name_t t;
    (void)mach_port_unguard(TASK, p, 0x11);
    (void)mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MOVE_RECEIVE, &out, &t);
}

/* ---- tests ----------------------------------------------------------------------------------- */

MT_TEST(guard_sets_the_context_and_unguard_with_it_clears_both)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_guard(TASK, p, 0xABCD0123ull, FALSE), KERN_SUCCESS);
    MT_EQ(flags_of(p), G_GUARDED);
    MT_EQ(nu_context(p), 0xABCD0123ull);
    MT_KR(mach_port_unguard(TASK, p, 0xABCD0123ull), KERN_SUCCESS);
    MT_EQ(flags_of(p), 0);
    MT_EQ(nu_context(p), 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(strict_guard_hides_the_context_and_still_unguards_with_the_value)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_guard(TASK, p, 0x5151, TRUE), KERN_SUCCESS);
    MT_EQ(flags_of(p), G_GUARDED | G_STRICT);
    MT_EQ(nu_context(p), 0);
    MT_KR(mach_port_unguard(TASK, p, 0x5151), KERN_SUCCESS);
    MT_EQ(flags_of(p), 0);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(guarding_a_port_whose_context_is_set_is_invalid_argument_and_changes_nothing)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), q = nu_port();
    MT_REQUIRE(p && q);
    MT_KR(mach_port_guard(TASK, p, 0x10, FALSE), KERN_SUCCESS);
    MT_KR(mach_port_guard(TASK, p, 0x20, FALSE), KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_guard(TASK, p, 0x10, TRUE), KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_guard_with_flags(TASK, p, 0x30, MPG_STRICT), KERN_INVALID_ARGUMENT);
    MT_EQ(flags_of(p), G_GUARDED);
    MT_EQ(nu_context(p), 0x10);
    /* an unguarded port with a context cannot be guarded either */
    MT_KR(mach_port_set_context(TASK, q, 0x99), KERN_SUCCESS);
    MT_KR(mach_port_guard(TASK, q, 0x40, FALSE), KERN_INVALID_ARGUMENT);
    MT_EQ(flags_of(q), 0);
    MT_EQ(nu_context(q), 0x99);
    MT_KR(mach_port_unguard(TASK, p, 0x10), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_zero_guard_leaves_the_context_zero_so_guarding_again_succeeds)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_guard(TASK, p, 0, FALSE), KERN_SUCCESS);
    MT_EQ(flags_of(p), G_GUARDED);
    MT_KR(mach_port_guard(TASK, p, 0x77, TRUE), KERN_SUCCESS);
    MT_EQ(flags_of(p), G_GUARDED | G_STRICT);
    MT_KR(mach_port_unguard(TASK, p, 0x77), KERN_SUCCESS);
    /* mach_port_destroy checks the guard against 0: a zero guard lets it through */
    MT_KR(mach_port_guard(TASK, p, 0, FALSE), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, p), KERN_SUCCESS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    NU_END();
}

MT_TEST(guard_calls_on_bad_names_fail_with_the_lookup_error)
{
    NU_BEGIN();
    mach_port_name_t r = nu_port(), set, dead, so;
    MT_REQUIRE(r);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    so = nu_send_once(r);
    MT_REQUIRE(so);
    const mach_port_name_t noname[] = {MACH_PORT_NULL, MACH_PORT_DEAD, 0x654303};
    for (size_t i = 0; i < 3; i++) {
        MT_KR(mach_port_guard(TASK, noname[i], 1, FALSE), KERN_INVALID_NAME);
        MT_KR(mach_port_unguard(TASK, noname[i], 1), KERN_INVALID_NAME);
        MT_KR(mach_port_guard_with_flags(TASK, noname[i], 1, 0), KERN_INVALID_NAME);
        MT_KR(mach_port_swap_guard(TASK, noname[i], 1, 2), KERN_INVALID_NAME);
    }
    const mach_port_name_t wrong[] = {set, dead, so};
    for (size_t i = 0; i < 3; i++) {
        MT_KR(mach_port_guard(TASK, wrong[i], 1, FALSE), KERN_INVALID_RIGHT);
        MT_KR(mach_port_unguard(TASK, wrong[i], 1), KERN_INVALID_RIGHT);
        MT_KR(mach_port_guard_with_flags(TASK, wrong[i], 1, 0), KERN_INVALID_RIGHT);
        MT_KR(mach_port_swap_guard(TASK, wrong[i], 1, 2), KERN_INVALID_RIGHT);
    }
    MT_EQ(flags_of(r), 0);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(r, &m, 1000), MACH_MSG_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, set), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(unguard_of_an_unguarded_port_or_with_the_wrong_value_is_fatal)
{
    NU_BEGIN();
    NU_DIES_OF_GUARD(unguard_unguarded(), kGUARD_EXC_UNGUARDED);
    NU_DIES_OF_GUARD(unguard_wrong(), kGUARD_EXC_INCORRECT_GUARD);
    NU_END();
}

MT_TEST(guard_with_flags_sets_strict_and_immovable_and_immovable_is_sticky)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_guard_with_flags(TASK, p, 0x42, MPG_STRICT | MPG_IMMOVABLE_RECEIVE),
          KERN_SUCCESS);
    MT_EQ(flags_of(p), G_GUARDED | G_STRICT | G_IMMOVABLE);
    MT_EQ(nu_context(p), 0);
    MT_KR(mach_port_unguard(TASK, p, 0x42), KERN_SUCCESS);
    MT_EQ(flags_of(p), 0); /* the immovable bit is only reported while guarded */
    MT_KR(mach_port_guard_with_flags(TASK, p, 0x43, MPG_FLAGS_NONE), KERN_SUCCESS);
    MT_EQ(flags_of(p), G_GUARDED | G_IMMOVABLE);
    MT_EQ(nu_context(p), 0x43);
    MT_KR(mach_port_unguard(TASK, p, 0x43), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    /* still immovable after unguard: moving the receive right is fatal */
    NU_DIES_OF_GUARD(move_sticky_immovable(), kGUARD_EXC_IMMOVABLE);
    NU_END();
}

MT_TEST(swap_guard_replaces_the_guard_of_a_non_strict_port)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_guard(TASK, p, 0x100, FALSE), KERN_SUCCESS);
    MT_KR(mach_port_swap_guard(TASK, p, 0x100, 0x200), KERN_SUCCESS);
    MT_EQ(nu_context(p), 0x200);
    MT_EQ(flags_of(p), G_GUARDED);
    MT_KR(mach_port_unguard(TASK, p, 0x200), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_DIES_OF_GUARD(swap_unguarded(), kGUARD_EXC_UNGUARDED);
    NU_DIES_OF_GUARD(swap_strict(), kGUARD_EXC_SET_CONTEXT);
    NU_DIES_OF_GUARD(swap_wrong_old(), kGUARD_EXC_INCORRECT_GUARD);
    NU_END();
}

MT_TEST(set_context_on_a_non_strict_guarded_port_changes_the_guard)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_guard(TASK, p, 0x300, FALSE), KERN_SUCCESS);
    MT_KR(mach_port_set_context(TASK, p, 0x301), KERN_SUCCESS);
    MT_EQ(nu_context(p), 0x301);
    MT_EQ(flags_of(p), G_GUARDED);
    MT_KR(mach_port_destruct(TASK, p, 0, 0x301), KERN_SUCCESS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    NU_DIES_OF_GUARD(set_context_strict(), kGUARD_EXC_SET_CONTEXT);
    NU_END();
}

MT_TEST(destroying_a_guarded_receive_right_without_its_guard_is_fatal)
{
    NU_BEGIN();
    NU_DIES_OF_GUARD(mod_refs_guarded(), kGUARD_EXC_DESTROY);
    NU_DIES_OF_GUARD(destroy_guarded(), kGUARD_EXC_DESTROY);
    NU_END();
}

MT_TEST(non_destroying_calls_on_a_guarded_receive_right_are_allowed_or_plain_errors)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    MT_KR(mach_port_guard(TASK, p, 0x400, TRUE), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -2), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, 1), KERN_INVALID_VALUE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS); /* drops the send uref only */
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    /* deallocate on a pure receive right is INVALID_RIGHT (not a destroy) */
    MT_KR(mach_port_deallocate(TASK, p), KERN_INVALID_RIGHT);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(flags_of(p), G_GUARDED | G_STRICT);
    MT_KR(mach_port_destruct(TASK, p, 0, 0x400), KERN_SUCCESS);
    MT_EQ(nu_type(p), (mach_port_type_t)-1);
    NU_END();
}

MT_MAIN()
