/*
 * guard_behavior.c — task_get/set_exc_guard_behavior: Mach-port guard exceptions are
 * delivered; a program that clears TASK_EXC_GUARD_MP_FATAL turns a fatal guard violation
 * into the call's error code (umach always allows it; a Darwin release kernel may refuse to
 * downgrade with KERN_DENIED, which the test accepts there), and setting it again makes
 * violations fatal again. Unknown bits are KERN_INVALID_VALUE.
 */
#include "notify_util.h"

#define GUARD 0x600dull

static mach_port_t guarded_port(void)
{
    mach_port_options_t opts = {.flags = MPO_CONTEXT_AS_GUARD};
    mach_port_t name = MACH_PORT_NULL;
    if (mach_port_construct(TASK, &opts, GUARD, &name) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return name;
}

static void unguard_with_the_wrong_value(void)
{
    mach_port_t p = guarded_port();
    (void)mach_port_unguard(TASK, p, GUARD + 1);
}

MT_TEST(mach_port_guards_are_delivered)
{
    task_exc_guard_behavior_t b = 0;
    MT_KR(task_get_exc_guard_behavior(TASK, &b), KERN_SUCCESS);
    MT_CHECK(b & TASK_EXC_GUARD_MP_DELIVER);
    MT_EQ(b & ~(task_exc_guard_behavior_t)TASK_EXC_GUARD_ALL, 0);
}

MT_TEST(unknown_behavior_bits_are_invalid_value)
{
    MT_KR(task_set_exc_guard_behavior(TASK, 0x100), KERN_INVALID_VALUE);
}

MT_TEST(clearing_mp_fatal_makes_a_fatal_violation_return_its_error)
{
    task_exc_guard_behavior_t before = 0;
    MT_KR(task_get_exc_guard_behavior(TASK, &before), KERN_SUCCESS);
    kern_return_t kr = task_set_exc_guard_behavior(TASK, before & ~(task_exc_guard_behavior_t)
                                                                     TASK_EXC_GUARD_MP_FATAL);
#ifdef __APPLE__
    if (kr == KERN_DENIED)
        return; /* release kernels only upgrade */
#endif
    MT_KR(kr, KERN_SUCCESS);
    task_exc_guard_behavior_t now = 0;
    MT_KR(task_get_exc_guard_behavior(TASK, &now), KERN_SUCCESS);
    MT_EQ(now & TASK_EXC_GUARD_MP_FATAL, 0);

    NU_BEGIN();
    mach_port_t p = guarded_port();
    MT_KR(mach_port_unguard(TASK, p, GUARD + 1), KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_destruct(TASK, p, 0, GUARD), KERN_SUCCESS);
    NU_END();

    MT_KR(task_set_exc_guard_behavior(TASK, before | TASK_EXC_GUARD_MP_FATAL), KERN_SUCCESS);
    MT_KR(task_get_exc_guard_behavior(TASK, &now), KERN_SUCCESS);
    MT_CHECK(now & TASK_EXC_GUARD_MP_FATAL);
    NU_DIES_OF_GUARD(unguard_with_the_wrong_value(), kGUARD_EXC_INCORRECT_GUARD);
}

MT_MAIN()
