/*
 * exception_ports.c — task_set/get/swap_exception_ports and thread_set/get/swap_exception_ports
 * as XNU's ipc_tt.c answers them: the argument checks, each slot holding its own send right
 * (the caller keeps its own), get and swap returning copies merged by identical port,
 * behaviour and flavour, swap's walk stopping when the caller's arrays are full, a thread's
 * slots released when it exits.
 */
#include "notify_util.h"

#include <mach/exception_types.h>
#include <mach/thread_act.h>

#if defined(__x86_64__)
#define STATE_FLAVOR x86_THREAD_STATE64
#else
#define STATE_FLAVOR ARM_THREAD_STATE64
#endif

/* Older SDKs lack the newest behaviour bits; these are XNU's values. */
#ifndef EXCEPTION_IDENTITY_PROTECTED
#define EXCEPTION_IDENTITY_PROTECTED 4
#endif
#ifndef MACH_EXCEPTION_BACKTRACE_PREFERRED
#define MACH_EXCEPTION_BACKTRACE_PREFERRED 0x20000000
#endif

#define CODES_DEFAULT ((exception_behavior_t)(EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES))

/* What get or swap returned. */
typedef struct ep_list {
    mach_msg_type_number_t n;
    exception_mask_t masks[EXC_TYPES_COUNT];
    mach_port_t ports[EXC_TYPES_COUNT];
    exception_behavior_t behaviors[EXC_TYPES_COUNT];
    thread_state_flavor_t flavors[EXC_TYPES_COUNT];
} ep_list;

static kern_return_t task_get(exception_mask_t mask, ep_list *l)
{
    memset(l, 0, sizeof *l);
    l->n = EXC_TYPES_COUNT;
    return task_get_exception_ports(TASK, mask, l->masks, &l->n, l->ports, l->behaviors,
                                    l->flavors);
}

/* Release the rights a get or swap gave. */
static void ep_release(const ep_list *l)
{
    for (mach_msg_type_number_t i = 0; i < l->n; i++)
        if (MACH_PORT_VALID(l->ports[i]))
            (void)mach_port_deallocate(TASK, l->ports[i]);
}

/* Empty the task's slots again (a test leaves none set). */
static void task_clear(void)
{
    (void)task_set_exception_ports(TASK, EXC_MASK_ALL, MACH_PORT_NULL, EXCEPTION_DEFAULT, 0);
}

MT_TEST(get_merges_the_empty_slots_into_one_entry_without_a_port)
{
    ep_list l;
    MT_KR(task_get(EXC_MASK_ALL, &l), KERN_SUCCESS);
    MT_EQ(l.n, 1);
    MT_EQ(l.masks[0], EXC_MASK_ALL);
    MT_EQ(l.ports[0], MACH_PORT_NULL);
    ep_release(&l);
}

MT_TEST(set_then_get_returns_a_copy_of_the_send_right_and_the_caller_keeps_its_own)
{
    NU_BEGIN();
    mach_port_t p = nu_port_with_send();
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS | EXC_MASK_GUARD, p, CODES_DEFAULT,
                                   STATE_FLAVOR),
          KERN_SUCCESS);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    ep_list l;
    MT_KR(task_get(EXC_MASK_ALL, &l), KERN_SUCCESS);
    MT_EQ(l.n, 2);
    MT_EQ(l.masks[0], EXC_MASK_BAD_ACCESS | EXC_MASK_GUARD);
    MT_EQ(l.ports[0], p);
    MT_EQ(l.behaviors[0], CODES_DEFAULT);
    MT_EQ(l.flavors[0], STATE_FLAVOR);
    MT_EQ(l.masks[1], EXC_MASK_ALL & ~(EXC_MASK_BAD_ACCESS | EXC_MASK_GUARD));
    MT_EQ(l.ports[1], MACH_PORT_NULL);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 2);
    ep_release(&l);
    task_clear();
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(get_with_room_for_one_entry_returns_one_that_still_gathers_its_mask)
{
    NU_BEGIN();
    mach_port_t p = nu_port_with_send();
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS | EXC_MASK_BREAKPOINT, p,
                                   EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    ep_list l;
    memset(&l, 0, sizeof l);
    l.n = 1;
    MT_KR(task_get_exception_ports(TASK, EXC_MASK_ALL, l.masks, &l.n, l.ports, l.behaviors,
                                   l.flavors),
          KERN_SUCCESS);
    MT_EQ(l.n, 1);
    MT_EQ(l.masks[0], EXC_MASK_BAD_ACCESS | EXC_MASK_BREAKPOINT);
    MT_EQ(l.ports[0], p);
    ep_release(&l);
    task_clear();
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(swap_returns_the_old_actions_and_sets_the_new_port)
{
    NU_BEGIN();
    mach_port_t p1 = nu_port_with_send(), p2 = nu_port_with_send();
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS, p1, EXCEPTION_STATE, STATE_FLAVOR),
          KERN_SUCCESS);
    ep_list old;
    memset(&old, 0, sizeof old);
    old.n = EXC_TYPES_COUNT;
    MT_KR(task_swap_exception_ports(TASK, EXC_MASK_BAD_ACCESS | EXC_MASK_ARITHMETIC, p2,
                                    CODES_DEFAULT, 0, old.masks, &old.n, old.ports,
                                    old.behaviors, old.flavors),
          KERN_SUCCESS);
    MT_EQ(old.n, 2);
    MT_EQ(old.masks[0], EXC_MASK_BAD_ACCESS);
    MT_EQ(old.ports[0], p1);
    MT_EQ(old.behaviors[0], EXCEPTION_STATE);
    MT_EQ(old.flavors[0], STATE_FLAVOR);
    MT_EQ(old.masks[1], EXC_MASK_ARITHMETIC);
    MT_EQ(old.ports[1], MACH_PORT_NULL);
    /* The slot's right went back to nobody: p1's urefs are the caller's and the copy's. */
    MT_EQ(nu_refs(p1, MACH_PORT_RIGHT_SEND), 2);
    ep_release(&old);
    ep_list now;
    MT_KR(task_get(EXC_MASK_BAD_ACCESS | EXC_MASK_ARITHMETIC, &now), KERN_SUCCESS);
    MT_EQ(now.n, 1);
    MT_EQ(now.masks[0], EXC_MASK_BAD_ACCESS | EXC_MASK_ARITHMETIC);
    MT_EQ(now.ports[0], p2);
    MT_EQ(now.behaviors[0], CODES_DEFAULT);
    MT_EQ(now.flavors[0], 0);
    ep_release(&now);
    task_clear();
    MT_KR(mach_port_destruct(TASK, p1, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p2, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(swap_stops_setting_once_the_callers_arrays_are_full)
{
    NU_BEGIN();
    mach_port_t p1 = nu_port_with_send(), p2 = nu_port_with_send();
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS, p1, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    ep_list old;
    memset(&old, 0, sizeof old);
    old.n = 1;
    MT_KR(task_swap_exception_ports(TASK,
                                    EXC_MASK_BAD_ACCESS | EXC_MASK_BAD_INSTRUCTION |
                                        EXC_MASK_ARITHMETIC,
                                    p2, EXCEPTION_DEFAULT, 0, old.masks, &old.n, old.ports,
                                    old.behaviors, old.flavors),
          KERN_SUCCESS);
    MT_EQ(old.n, 1);
    MT_EQ(old.masks[0], EXC_MASK_BAD_ACCESS);
    MT_EQ(old.ports[0], p1);
    ep_release(&old);
    /* Only the first exception was set: the walk ended with the arrays full. */
    ep_list now;
    MT_KR(task_get(EXC_MASK_BAD_ACCESS | EXC_MASK_BAD_INSTRUCTION | EXC_MASK_ARITHMETIC, &now),
          KERN_SUCCESS);
    MT_EQ(now.n, 2);
    MT_EQ(now.masks[0], EXC_MASK_BAD_ACCESS);
    MT_EQ(now.ports[0], p2);
    MT_EQ(now.masks[1], EXC_MASK_BAD_INSTRUCTION | EXC_MASK_ARITHMETIC);
    MT_EQ(now.ports[1], MACH_PORT_NULL);
    ep_release(&now);
    task_clear();
    MT_KR(mach_port_destruct(TASK, p1, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p2, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_slot_keeps_the_port_sent_to_until_it_is_replaced)
{
    NU_BEGIN();
    mach_port_t p = nu_port_with_send(), notify = nu_port();
    mach_port_t prev = MACH_PORT_NULL;
    MT_KR(mach_port_request_notification(TASK, p, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_SOFTWARE | EXC_MASK_CRASH, p, EXCEPTION_DEFAULT,
                                   0),
          KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT); /* the slots still send to it */
    task_clear();
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT); /* EXC_MASK_ALL leaves out CRASH */
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_CRASH, MACH_PORT_NULL, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(nu_recv(notify, &m, 100), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(dead_ports_come_back_as_dead_names)
{
    NU_BEGIN();
    mach_port_t p = nu_port_with_send();
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS, p, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_ARITHMETIC, MACH_PORT_DEAD, EXCEPTION_DEFAULT,
                                   0),
          KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    ep_list l;
    MT_KR(task_get(EXC_MASK_BAD_ACCESS | EXC_MASK_ARITHMETIC, &l), KERN_SUCCESS);
    MT_EQ(l.n, 2);
    MT_EQ(l.ports[0], MACH_PORT_DEAD);
    MT_EQ(l.ports[1], MACH_PORT_DEAD);
    task_clear();
    NU_END();
}

MT_TEST(bad_arguments_are_invalid_argument_and_change_nothing)
{
    NU_BEGIN();
    mach_port_t p = nu_port_with_send();
    struct {
        exception_mask_t mask;
        exception_behavior_t behavior;
        thread_state_flavor_t flavor;
    } bad[] = {
        {1u << 0, EXCEPTION_DEFAULT, 0},             /* exception 0 is illegal */
        {1u << EXC_TYPES_COUNT, EXCEPTION_DEFAULT, 0},
        {EXC_MASK_BAD_ACCESS, 0, 0},                 /* no behaviour */
        {EXC_MASK_BAD_ACCESS, 6, 0},
        {EXC_MASK_BAD_ACCESS, (exception_behavior_t)MACH_EXCEPTION_CODES, 0},
        {EXC_MASK_BAD_ACCESS, EXCEPTION_DEFAULT, 0x7777},
        {EXC_MASK_BAD_ACCESS, EXCEPTION_IDENTITY_PROTECTED, 0}, /* needs MACH_EXCEPTION_CODES */
        {EXC_MASK_BAD_ACCESS, (exception_behavior_t)(EXCEPTION_DEFAULT |
                                                     MACH_EXCEPTION_BACKTRACE_PREFERRED), 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MT_KR(task_set_exception_ports(TASK, bad[i].mask, p, bad[i].behavior, bad[i].flavor),
              KERN_INVALID_ARGUMENT);
        mach_port_t thread = mach_thread_self();
        MT_KR(thread_set_exception_ports(thread, bad[i].mask, p, bad[i].behavior, bad[i].flavor),
              KERN_INVALID_ARGUMENT);
        MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    }
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    ep_list l;
    MT_KR(task_get(EXC_MASK_ALL, &l), KERN_SUCCESS);
    MT_EQ(l.n, 1);
    MT_EQ(l.ports[0], MACH_PORT_NULL);
    MT_KR(task_get(1u << 0, &l), KERN_INVALID_ARGUMENT);
    /* The behaviour is looked at only for a port. */
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS, MACH_PORT_NULL, 0, 0), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(the_behaviours_xnu_accepts_are_accepted)
{
    NU_BEGIN();
    mach_port_t p = nu_port_with_send();
    const exception_behavior_t good[] = {
        EXCEPTION_DEFAULT,
        EXCEPTION_STATE,
        EXCEPTION_STATE_IDENTITY,
        (exception_behavior_t)(EXCEPTION_IDENTITY_PROTECTED | MACH_EXCEPTION_CODES),
        (exception_behavior_t)(EXCEPTION_STATE | MACH_EXCEPTION_CODES),
        (exception_behavior_t)(EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES |
                               MACH_EXCEPTION_BACKTRACE_PREFERRED),
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        MT_KR(task_set_exception_ports(TASK, EXC_MASK_BREAKPOINT, p, good[i], STATE_FLAVOR),
              KERN_SUCCESS);
        ep_list l;
        MT_KR(task_get(EXC_MASK_BREAKPOINT, &l), KERN_SUCCESS);
        MT_EQ(l.n, 1);
        MT_EQ(l.behaviors[0], good[i]);
        ep_release(&l);
    }
    task_clear();
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_name_without_a_send_right_is_refused_by_the_send)
{
    NU_BEGIN();
    mach_port_t r = nu_port(); /* a receive right alone */
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS, r, EXCEPTION_DEFAULT, 0),
          MACH_SEND_INVALID_RIGHT);
    MT_KR(thread_set_exception_ports(MACH_PORT_NULL, EXC_MASK_BAD_ACCESS, MACH_PORT_NULL,
                                     EXCEPTION_DEFAULT, 0),
          MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_threads_slots_are_its_own)
{
    NU_BEGIN();
    mach_port_t p = nu_port_with_send(), thread = mach_thread_self();
    ep_list l;
    memset(&l, 0, sizeof l);
    l.n = EXC_TYPES_COUNT;
    MT_KR(thread_get_exception_ports(thread, EXC_MASK_ALL, l.masks, &l.n, l.ports, l.behaviors,
                                     l.flavors),
          KERN_SUCCESS);
    /* A thread whose slots were never set returns nothing. */
    MT_EQ(l.n, 0);
    MT_KR(thread_set_exception_ports(thread, EXC_MASK_GUARD, p, CODES_DEFAULT, 0), KERN_SUCCESS);
    l.n = EXC_TYPES_COUNT;
    MT_KR(thread_get_exception_ports(thread, EXC_MASK_GUARD | EXC_MASK_BAD_ACCESS, l.masks, &l.n,
                                     l.ports, l.behaviors, l.flavors),
          KERN_SUCCESS);
    MT_EQ(l.n, 2);
    MT_EQ(l.masks[0], EXC_MASK_BAD_ACCESS);
    MT_EQ(l.ports[0], MACH_PORT_NULL);
    MT_EQ(l.masks[1], EXC_MASK_GUARD);
    MT_EQ(l.ports[1], p);
    MT_EQ(l.behaviors[1], CODES_DEFAULT);
    ep_release(&l);
    MT_KR(task_get(EXC_MASK_GUARD, &l), KERN_SUCCESS);
    MT_EQ(l.ports[0], MACH_PORT_NULL);
    ep_list old;
    memset(&old, 0, sizeof old);
    old.n = EXC_TYPES_COUNT;
    MT_KR(thread_swap_exception_ports(thread, EXC_MASK_GUARD, MACH_PORT_NULL, EXCEPTION_DEFAULT, 0,
                                      old.masks, &old.n, old.ports, old.behaviors, old.flavors),
          KERN_SUCCESS);
    MT_EQ(old.n, 1);
    MT_EQ(old.ports[0], p);
    ep_release(&old);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

/*
 * A thread port given to the task calls, or a task or host port to the thread calls, reaches
 * XNU's kernel server, whose routine gets a null task or thread: KERN_INVALID_ARGUMENT, the
 * request (and the send right it copied) destroyed, no slot changed.
 */
MT_TEST(a_port_of_the_other_kind_is_a_null_target_and_invalid_argument)
{
    NU_BEGIN();
    mach_port_t p = nu_port_with_send();
    mach_port_t thread = mach_thread_self();
    mach_port_t host = mach_host_self();
    ep_list l;
    memset(&l, 0, sizeof l);
    l.n = EXC_TYPES_COUNT;
    MT_KR(task_set_exception_ports(thread, EXC_MASK_BAD_ACCESS, p, EXCEPTION_DEFAULT, 0),
          KERN_INVALID_ARGUMENT);
    MT_KR(task_swap_exception_ports(thread, EXC_MASK_BAD_ACCESS, p, EXCEPTION_DEFAULT, 0, l.masks,
                                    &l.n, l.ports, l.behaviors, l.flavors),
          KERN_INVALID_ARGUMENT);
    MT_EQ(l.n, EXC_TYPES_COUNT);
    MT_KR(task_get_exception_ports(host, EXC_MASK_ALL, l.masks, &l.n, l.ports, l.behaviors,
                                   l.flavors),
          KERN_INVALID_ARGUMENT);
    MT_KR(thread_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS, p, EXCEPTION_DEFAULT, 0),
          KERN_INVALID_ARGUMENT);
    MT_KR(thread_get_exception_ports(host, EXC_MASK_ALL, l.masks, &l.n, l.ports, l.behaviors,
                                     l.flavors),
          KERN_INVALID_ARGUMENT);
    MT_EQ(l.n, EXC_TYPES_COUNT);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    /* Nothing was set on the task or the thread. */
    MT_KR(task_get(EXC_MASK_ALL, &l), KERN_SUCCESS);
    MT_EQ(l.n, 1);
    MT_EQ(l.ports[0], MACH_PORT_NULL);
    ep_release(&l);
    memset(&l, 0, sizeof l);
    l.n = EXC_TYPES_COUNT;
    MT_KR(thread_get_exception_ports(thread, EXC_MASK_ALL, l.masks, &l.n, l.ports, l.behaviors,
                                     l.flavors),
          KERN_SUCCESS);
    for (mach_msg_type_number_t i = 0; i < l.n; i++)
        MT_EQ(l.ports[i], MACH_PORT_NULL);
    ep_release(&l);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    NU_END();
}

static mach_port_t et_port;

static void *set_and_exit(void *arg)
{
    (void)arg;
    mach_port_t self = mach_thread_self();
    kern_return_t kr =
        thread_set_exception_ports(self, EXC_MASK_BAD_ACCESS, et_port, EXCEPTION_DEFAULT, 0);
    (void)mach_port_deallocate(TASK, self);
    return (void *)(intptr_t)kr;
}

MT_TEST(a_threads_slots_are_released_when_it_exits)
{
    NU_BEGIN();
    mach_port_t notify = nu_port(), prev = MACH_PORT_NULL;
    et_port = nu_port_with_send();
    MT_KR(mach_port_request_notification(TASK, et_port, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    pthread_t t;
    MT_EQ(pthread_create(&t, NULL, set_and_exit, NULL), 0);
    void *res = NULL;
    MT_EQ(pthread_join(t, &res), 0);
    MT_EQ((kern_return_t)(intptr_t)res, KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, et_port), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 5000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
    MT_KR(mach_port_mod_refs(TASK, et_port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
