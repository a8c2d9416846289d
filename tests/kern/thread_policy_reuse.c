/*
 * thread_policy_reuse.c — thread_policy_set's settings are kept by thread id and start time
 * (embedded/um_thread_policy.c). A thread whose port task_threads made has no exit hook, so its
 * settings stay after it ends until something notices; Linux reuses thread ids, and a later
 * thread given the id must start from the defaults, not take the ended thread's settings over.
 * Forcing a reuse would take a lap of pid_max, so an ended thread and its successor are made
 * up here: one id with two start times (the live thread's own id and start time, and an earlier
 * start), through the calls thread_policy_set and thread_policy_get make once the port is
 * looked up.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "embedded/um_embedded.h"

#include <mach/mach.h>
#include <mach/thread_policy.h>

#include <sys/syscall.h>
#include <unistd.h>

/* The calling thread, as /proc tells it: its id and start time. */
static um_thread_id self_id(void)
{
    um_thread_id id = {(pid_t)syscall(SYS_gettid), 0};
    MT_CHECK(um_proc_thread_read(0, id.tid, &id.start));
    return id;
}

static integer_t precedence_of(um_thread_id id)
{
    integer_t w[THREAD_PRECEDENCE_POLICY_COUNT] = {-1};
    mach_msg_type_number_t n = THREAD_PRECEDENCE_POLICY_COUNT;
    boolean_t dflt = FALSE;
    MT_EQ(um_thread_policy_get_id(id, THREAD_PRECEDENCE_POLICY, w, &n, &dflt), KERN_SUCCESS);
    MT_EQ(n, THREAD_PRECEDENCE_POLICY_COUNT);
    return w[0];
}

static void set_precedence(um_thread_id id, integer_t importance)
{
    integer_t w[THREAD_PRECEDENCE_POLICY_COUNT] = {importance};
    MT_EQ(um_thread_policy_set_id(id, THREAD_PRECEDENCE_POLICY, w, THREAD_PRECEDENCE_POLICY_COUNT),
          KERN_SUCCESS);
}

MT_TEST(a_later_thread_given_an_ended_threads_id_has_the_default_settings)
{
    um_thread_id now = self_id();
    um_thread_id ended = {now.tid, now.start - 1};
    set_precedence(ended, 7);
    MT_EQ(precedence_of(ended), 7);
    MT_EQ(precedence_of(now), 0);
    /* Found gone when its id was looked up for the later thread: nothing is left of it. */
    MT_EQ(precedence_of(ended), 0);
    um_thread_policy_forget_tid(now.tid);
}

MT_TEST(a_later_thread_given_an_ended_threads_id_keeps_its_own_settings)
{
    um_thread_id now = self_id();
    um_thread_id ended = {now.tid, now.start - 1};
    set_precedence(ended, 7);
    set_precedence(now, 3);
    MT_EQ(precedence_of(now), 3);
    /* The ended thread found gone (um_threads.c): the later thread's settings stay. */
    um_thread_policy_forget(ended);
    MT_EQ(precedence_of(now), 3);
    um_thread_policy_forget(now);
    MT_EQ(precedence_of(now), 0);
}

MT_TEST(a_threads_exit_forgets_every_setting_kept_under_its_id)
{
    um_thread_id now = self_id();
    um_thread_id ended = {now.tid, now.start - 1};
    set_precedence(ended, 7);
    set_precedence(now, 3);
    um_thread_policy_forget_tid(now.tid);
    MT_EQ(precedence_of(now), 0);
    MT_EQ(precedence_of(ended), 0);
}

MT_TEST(thread_policy_set_on_the_calling_thread_is_kept_under_its_id_and_start)
{
    mach_port_t self = mach_thread_self();
    integer_t w[THREAD_PRECEDENCE_POLICY_COUNT] = {5};
    MT_EQ(thread_policy_set(self, THREAD_PRECEDENCE_POLICY, w, THREAD_PRECEDENCE_POLICY_COUNT),
          KERN_SUCCESS);
    um_thread_id now = self_id();
    MT_EQ(precedence_of(now), 5);
    MT_EQ(precedence_of((um_thread_id){now.tid, now.start - 1}), 0);
    /* Looking up the made-up earlier thread dropped nothing of the live one's. */
    MT_EQ(precedence_of(now), 5);
    um_thread_policy_forget(now);
    MT_EQ(mach_port_deallocate(mach_task_self(), self), KERN_SUCCESS);
}

MT_MAIN()
