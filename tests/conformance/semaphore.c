/*
 * semaphore.c — Mach semaphores: a send right in the task's space; signals are counted until
 * taken; a signal wakes the first waiter, signal_all every waiter; a destroyed semaphore ends
 * its waiters with KERN_TERMINATED; a timed wait ends with KERN_OPERATION_TIMED_OUT; a signal
 * handler ends a wait with KERN_ABORTED; bad names get the trap's error codes. Every wait
 * that could hang is bounded (WATCHDOG), so a broken semaphore fails instead of hanging.
 */
#if !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* sigaction, pthread_kill under -std=c11 */
#endif
#include "notify_util.h"

#include <mach/mach_time.h>
#include <mach/semaphore.h>

#include <pthread.h>
#include <signal.h>

#define WATCHDOG (mach_timespec_t){30, 0}

static semaphore_t new_semaphore(int value)
{
    semaphore_t s = MACH_PORT_NULL;
    if (semaphore_create(TASK, &s, SYNC_POLICY_FIFO, value) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return s;
}

MT_TEST(create_gives_a_send_right_that_destroy_consumes)
{
    NU_BEGIN();
    semaphore_t s = new_semaphore(0);
    MT_CHECK(MACH_PORT_VALID(s));
    MT_EQ(nu_type(s), MACH_PORT_TYPE_SEND);
    MT_EQ(nu_refs(s, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(semaphore_destroy(TASK, s), KERN_SUCCESS);
    mach_port_type_t type;
    MT_KR(mach_port_type(TASK, s, &type), KERN_INVALID_NAME);
    NU_END();
}

MT_TEST(create_rejects_a_negative_value_and_unknown_policies)
{
    semaphore_t s = 123;
    MT_KR(semaphore_create(TASK, &s, SYNC_POLICY_FIFO, -1), KERN_INVALID_ARGUMENT);
    MT_EQ(s, MACH_PORT_NULL);
    MT_KR(semaphore_create(TASK, &s, 0x100, 0), KERN_INVALID_ARGUMENT);
}

MT_TEST(signals_are_counted_until_waits_take_them)
{
    NU_BEGIN();
    semaphore_t s = new_semaphore(1);
    MT_KR(semaphore_signal(s), KERN_SUCCESS);
    MT_KR(semaphore_wait(s), KERN_SUCCESS);
    MT_KR(semaphore_wait(s), KERN_SUCCESS);
    MT_KR(semaphore_timedwait(s, (mach_timespec_t){0, 0}), KERN_OPERATION_TIMED_OUT);
    /* signal_all with nobody waiting does not count a signal */
    MT_KR(semaphore_signal_all(s), KERN_SUCCESS);
    MT_KR(semaphore_timedwait(s, (mach_timespec_t){0, 0}), KERN_OPERATION_TIMED_OUT);
    MT_KR(semaphore_destroy(TASK, s), KERN_SUCCESS);
    NU_END();
}

MT_TEST(timed_wait_times_out_after_its_interval)
{
    semaphore_t s = new_semaphore(0);
    uint64_t start = mach_absolute_time();
    MT_KR(semaphore_timedwait(s, (mach_timespec_t){0, 20000000}), KERN_OPERATION_TIMED_OUT);
    MT_CHECK(mach_absolute_time() - start >= 20000000u / 2); /* ns timebase on Linux; loose */
    MT_KR(semaphore_timedwait(s, (mach_timespec_t){0, 1000000000}), KERN_INVALID_VALUE);
    MT_KR(semaphore_timedwait(s, (mach_timespec_t){0, -1}), KERN_INVALID_VALUE);
    MT_KR(semaphore_destroy(TASK, s), KERN_SUCCESS);
}

MT_TEST(bad_names_get_the_trap_errors)
{
    NU_BEGIN();
    MT_KR(semaphore_signal(MACH_PORT_NULL), KERN_INVALID_NAME);
    MT_KR(semaphore_wait(MACH_PORT_DEAD), KERN_INVALID_NAME);
    mach_port_t recv_only = nu_port();
    MT_KR(semaphore_signal(recv_only), KERN_INVALID_RIGHT);
    mach_port_t plain = nu_port_with_send();
    MT_KR(semaphore_signal(plain), KERN_INVALID_CAPABILITY);
    MT_KR(semaphore_timedwait(plain, (mach_timespec_t){0, 0}), KERN_INVALID_CAPABILITY);
    MT_KR(semaphore_destroy(TASK, plain), KERN_INVALID_ARGUMENT);
    MT_KR(semaphore_destroy(TASK, MACH_PORT_NULL), KERN_INVALID_ARGUMENT);
    /* destroy took the send uref it was given (a move-send) */
    MT_EQ(nu_type(plain), MACH_PORT_TYPE_RECEIVE);
    nu_kill(recv_only);
    nu_kill(plain);
    NU_END();
}

typedef struct waiter_arg {
    semaphore_t s;
    semaphore_t signal; /* for wait_signal, or null */
    kern_return_t kr;
    semaphore_t started;
} waiter_arg;

static void *waiter(void *p)
{
    waiter_arg *a = p;
    if (a->started)
        (void)semaphore_signal(a->started);
    kern_return_t kr;
    if (a->signal)
        kr = semaphore_timedwait_signal(a->s, a->signal, WATCHDOG);
    else
        kr = semaphore_timedwait(a->s, WATCHDOG);
    __atomic_store_n(&a->kr, kr, __ATOMIC_RELEASE);
    return NULL;
}

MT_TEST(signal_wakes_one_waiting_thread)
{
    semaphore_t s = new_semaphore(0), started = new_semaphore(0);
    waiter_arg a = {.s = s, .started = started, .kr = -1};
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, waiter, &a) == 0);
    MT_KR(semaphore_timedwait(started, WATCHDOG), KERN_SUCCESS);
    MT_KR(semaphore_signal(s), KERN_SUCCESS);
    pthread_join(t, NULL);
    MT_EQ(a.kr, KERN_SUCCESS);
    MT_KR(semaphore_destroy(TASK, s), KERN_SUCCESS);
    MT_KR(semaphore_destroy(TASK, started), KERN_SUCCESS);
}

MT_TEST(signal_all_wakes_every_waiting_thread)
{
    enum { N = 4 };
    semaphore_t s = new_semaphore(0), started = new_semaphore(0);
    waiter_arg a[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        a[i] = (waiter_arg){.s = s, .started = started, .kr = -1};
        MT_REQUIRE(pthread_create(&t[i], NULL, waiter, &a[i]) == 0);
    }
    for (int i = 0; i < N; i++)
        MT_KR(semaphore_timedwait(started, WATCHDOG), KERN_SUCCESS);
    /* Each waiter signalled before it waited: give them time to block, then wake them all.
     * A waiter that was not yet asleep takes the signal below instead, so every one wakes. */
    MT_KR(mach_wait_until(mach_absolute_time() + 50000000u), KERN_SUCCESS);
    MT_KR(semaphore_signal_all(s), KERN_SUCCESS);
    for (int i = 0; i < N; i++) {
        (void)semaphore_signal(s);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        MT_EQ(a[i].kr, KERN_SUCCESS);
    }
    MT_KR(semaphore_destroy(TASK, s), KERN_SUCCESS);
    MT_KR(semaphore_destroy(TASK, started), KERN_SUCCESS);
}

MT_TEST(destroy_ends_a_waiting_thread_with_kern_terminated)
{
    semaphore_t s = new_semaphore(0), started = new_semaphore(0);
    /* A second send right, so the waiter's name stays valid after destroy takes one. */
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    waiter_arg a = {.s = s, .started = started, .kr = -1};
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, waiter, &a) == 0);
    MT_KR(semaphore_timedwait(started, WATCHDOG), KERN_SUCCESS);
    MT_KR(mach_wait_until(mach_absolute_time() + 50000000u), KERN_SUCCESS);
    MT_KR(semaphore_destroy(TASK, s), KERN_SUCCESS);
    pthread_join(t, NULL);
    MT_EQ(a.kr, KERN_TERMINATED);
    /* The remaining send right names a dead semaphore. */
    MT_KR(semaphore_signal(s), KERN_TERMINATED);
    MT_KR(semaphore_wait(s), KERN_TERMINATED);
    MT_KR(mach_port_deallocate(TASK, s), KERN_SUCCESS);
    MT_KR(semaphore_destroy(TASK, started), KERN_SUCCESS);
}

MT_TEST(wait_signal_signals_one_and_waits_on_the_other)
{
    semaphore_t ping = new_semaphore(0), pong = new_semaphore(0);
    waiter_arg a = {.s = ping, .signal = pong, .kr = -1};
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, waiter, &a) == 0);
    /* The thread signals pong and waits on ping: wake it through ping while waiting on pong,
     * which nobody signals again, so this side times out. */
    MT_KR(semaphore_timedwait(pong, WATCHDOG), KERN_SUCCESS);
    MT_KR(semaphore_timedwait_signal(pong, ping, (mach_timespec_t){0, 20000000}),
          KERN_OPERATION_TIMED_OUT);
    pthread_join(t, NULL);
    MT_EQ(a.kr, KERN_SUCCESS);
    MT_KR(semaphore_destroy(TASK, ping), KERN_SUCCESS);
    MT_KR(semaphore_destroy(TASK, pong), KERN_SUCCESS);
}

static void on_usr1(int sig)
{
    (void)sig;
}

MT_TEST(a_signal_handler_ends_a_wait_with_kern_aborted)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: the wait is interrupted */
    sigemptyset(&sa.sa_mask);
    MT_REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
    semaphore_t s = new_semaphore(0), started = new_semaphore(0);
    waiter_arg a = {.s = s, .started = started, .kr = -1};
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, waiter, &a) == 0);
    MT_KR(semaphore_timedwait(started, WATCHDOG), KERN_SUCCESS);
    /* Until the waiter has returned (a signal that lands before it sleeps is lost). */
    for (int i = 0; i < 1500 && __atomic_load_n(&a.kr, __ATOMIC_ACQUIRE) == -1; i++) {
        pthread_kill(t, SIGUSR1);
        (void)mach_wait_until(mach_absolute_time() + 20000000u);
    }
    pthread_join(t, NULL);
    MT_EQ(a.kr, KERN_ABORTED);
    sigaction(SIGUSR1, &old, NULL);
    MT_KR(semaphore_destroy(TASK, s), KERN_SUCCESS);
    MT_KR(semaphore_destroy(TASK, started), KERN_SUCCESS);
}

MT_MAIN()
