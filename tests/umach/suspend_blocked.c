/*
 * suspend_blocked.c — thread_suspend on a thread that blocks umach's suspend signal (Linux
 * only: docs/umach-internals.md, known differences): the call gives up with KERN_FAILURE
 * rather than wait forever, and the thread runs on unsuspended. umach reads the thread's
 * blocked signals from /proc/self/task/TID/status, whose lines before SigBlk have no bound
 * (Groups: one number per supplementary group): with hundreds of groups the answer is the
 * same (run as root only: setgroups).
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/mach.h>
#include <mach/thread_act.h>
#include <mach/thread_info.h>

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define TASK mach_task_self()

typedef struct {
    mach_port_t thread;
    unsigned long counter;
    int stop;
} sb_spinner;

/* Blocks every signal it can, then counts until told to stop. */
static void *sb_spin(void *arg)
{
    sb_spinner *s = arg;
    sigset_t all;
    sigfillset(&all);
    (void)pthread_sigmask(SIG_BLOCK, &all, NULL);
    __atomic_store_n(&s->thread, mach_thread_self(), __ATOMIC_RELEASE);
    while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&s->counter, 1, __ATOMIC_RELAXED);
        struct timespec d = {0, 100000};
        (void)nanosleep(&d, NULL);
    }
    return NULL;
}

static void sb_check_refused(void)
{
    sb_spinner s = {0, 0, 0};
    pthread_t p;
    MT_REQUIRE(pthread_create(&p, NULL, sb_spin, &s) == 0);
    mach_port_t t;
    while ((t = __atomic_load_n(&s.thread, __ATOMIC_ACQUIRE)) == MACH_PORT_NULL) {
        struct timespec d = {0, 1000000};
        (void)nanosleep(&d, NULL);
    }
    (void)alarm(60); /* a hang ends the program (SIGALRM) */
    MT_KR(thread_suspend(t), KERN_FAILURE);
    (void)alarm(0);
    thread_basic_info_data_t b;
    memset(&b, 0, sizeof b);
    mach_msg_type_number_t n = THREAD_BASIC_INFO_COUNT;
    MT_KR(thread_info(t, THREAD_BASIC_INFO, (thread_info_t)&b, &n), KERN_SUCCESS);
    MT_EQ(b.suspend_count, 0);
    MT_KR(thread_resume(t), KERN_FAILURE);
    unsigned long a = __atomic_load_n(&s.counter, __ATOMIC_RELAXED);
    for (int i = 0; i < 5000 && __atomic_load_n(&s.counter, __ATOMIC_RELAXED) == a; i++) {
        struct timespec d = {0, 1000000};
        (void)nanosleep(&d, NULL);
    }
    MT_CHECK(__atomic_load_n(&s.counter, __ATOMIC_RELAXED) != a);
    __atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
    pthread_join(p, NULL);
    (void)mach_port_deallocate(TASK, t);
}

MT_TEST(a_thread_that_blocks_the_signal_is_refused_not_waited_for)
{
    sb_check_refused();
}

MT_TEST(with_hundreds_of_supplementary_groups_too)
{
    enum { NGROUPS = 600 };
    static gid_t groups[NGROUPS];
    for (int i = 0; i < NGROUPS; i++)
        groups[i] = (gid_t)(1000000 + i);
    gid_t saved[64];
    int nsaved = getgroups(64, saved);
    if (nsaved < 0 || setgroups(NGROUPS, groups) != 0)
        return; /* not root (or no room for the old list): nothing to look at */
    sb_check_refused();
    MT_EQ(setgroups((size_t)nsaved, saved), 0);
}

MT_MAIN()
