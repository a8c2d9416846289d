/*
 * thread_info.c — thread_info (THREAD_BASIC_INFO, THREAD_IDENTIFIER_INFO,
 * THREAD_EXTENDED_INFO) describes a thread of this task as XNU does: its user time grows while
 * it spins, a thread blocked in mach_msg is waiting and the caller is running, each thread has
 * its own id, the name set with pthread_setname_np; XNU's codes for a short count, an unknown
 * flavour and a port that is no thread. thread_switch checks its option and waits as long as
 * asked.
 */
#include "notify_util.h"

#include <mach/mach_traps.h>
#include <mach/thread_info.h>
#include <mach/thread_switch.h>

#include <time.h>

/* Declared by <pthread.h> only outside strict POSIX; macOS names the calling thread only. */
#ifdef __APPLE__
int pthread_setname_np(const char *name);
#else
int pthread_setname_np(pthread_t thread, const char *name);
#endif

static double ti_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double ti_seconds(time_value_t v)
{
    return (double)v.seconds + (double)v.microseconds / 1e6;
}

static thread_basic_info_data_t ti_basic(mach_port_t thread)
{
    thread_basic_info_data_t b;
    memset(&b, 0, sizeof b);
    mach_msg_type_number_t n = THREAD_BASIC_INFO_COUNT;
    MT_KR(thread_info(thread, THREAD_BASIC_INFO, (thread_info_t)&b, &n), KERN_SUCCESS);
    MT_EQ(n, THREAD_BASIC_INFO_COUNT);
    return b;
}

/* What the spinning loops write, so that they are not optimised away. */
static volatile unsigned ti_sink;

MT_TEST(the_user_time_grows_while_the_thread_spins_and_it_is_running)
{
    mach_port_t self = mach_thread_self();
    thread_basic_info_data_t a = ti_basic(self);
    double start = ti_now();
    thread_basic_info_data_t b;
    do {
        for (int i = 0; i < 100000; i++)
            ti_sink += (unsigned)i;
        b = ti_basic(self);
    } while (ti_seconds(b.user_time) - ti_seconds(a.user_time) < 0.2 && ti_now() - start < 10);
    MT_CHECK(ti_seconds(b.user_time) - ti_seconds(a.user_time) >= 0.2);
    MT_EQ(b.run_state, TH_STATE_RUNNING);
    MT_EQ(b.policy, POLICY_TIMESHARE);
    MT_EQ(b.suspend_count, 0);
    MT_CHECK(b.user_time.microseconds >= 0 && b.user_time.microseconds < 1000000);

    thread_extended_info_data_t e;
    mach_msg_type_number_t n = THREAD_EXTENDED_INFO_COUNT;
    MT_KR(thread_info(self, THREAD_EXTENDED_INFO, (thread_info_t)&e, &n), KERN_SUCCESS);
    MT_EQ(n, THREAD_EXTENDED_INFO_COUNT);
    /* The same clock in nanoseconds, read a moment later. */
    MT_CHECK(e.pth_user_time + e.pth_system_time >=
             (uint64_t)((ti_seconds(b.user_time) + ti_seconds(b.system_time)) * 1e9) - 1000);
    MT_EQ(e.pth_run_state, TH_STATE_RUNNING);
    MT_EQ(e.pth_policy, POLICY_TIMESHARE);
    MT_CHECK(e.pth_priority > 0 && e.pth_priority <= e.pth_maxpriority);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
}

/* A thread that names itself, gives out its port and waits in mach_msg for a message. */
typedef struct {
    mach_port_t port, thread;
    pthread_t pthread;
} ti_waiter;

static void *ti_wait(void *arg)
{
    ti_waiter *w = arg;
#ifdef __APPLE__
    pthread_setname_np("ti-waiter");
#else
    pthread_setname_np(pthread_self(), "ti-waiter");
#endif
    __atomic_store_n(&w->thread, mach_thread_self(), __ATOMIC_RELEASE);
    nu_msg m;
    (void)mach_msg(&m.h, MACH_RCV_MSG, 0, sizeof m, w->port, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    return NULL;
}

MT_TEST(a_thread_blocked_in_mach_msg_is_waiting_and_has_its_own_id_and_name)
{
    ti_waiter w = {.port = nu_port_with_send()};
    MT_REQUIRE(pthread_create(&w.pthread, NULL, ti_wait, &w) == 0);
    double start = ti_now();
    thread_basic_info_data_t b;
    memset(&b, 0, sizeof b);
    mach_port_t t;
    while ((t = __atomic_load_n(&w.thread, __ATOMIC_ACQUIRE)) == MACH_PORT_NULL)
        (void)thread_switch(MACH_PORT_NULL, SWITCH_OPTION_WAIT, 1);
    /* It reaches its receive soon after giving out its port. */
    do {
        b = ti_basic(t);
        if (b.run_state != TH_STATE_WAITING)
            (void)thread_switch(MACH_PORT_NULL, SWITCH_OPTION_WAIT, 1);
    } while (b.run_state != TH_STATE_WAITING && ti_now() - start < 10);
    MT_EQ(b.run_state, TH_STATE_WAITING);

    thread_extended_info_data_t e;
    mach_msg_type_number_t n = THREAD_EXTENDED_INFO_COUNT;
    MT_KR(thread_info(t, THREAD_EXTENDED_INFO, (thread_info_t)&e, &n), KERN_SUCCESS);
    MT_EQ(strcmp(e.pth_name, "ti-waiter"), 0);
    MT_EQ(e.pth_run_state, TH_STATE_WAITING);

    mach_port_t self = mach_thread_self();
    thread_identifier_info_data_t mine, theirs, again;
    n = THREAD_IDENTIFIER_INFO_COUNT;
    MT_KR(thread_info(self, THREAD_IDENTIFIER_INFO, (thread_info_t)&mine, &n), KERN_SUCCESS);
    MT_KR(thread_info(t, THREAD_IDENTIFIER_INFO, (thread_info_t)&theirs, &n), KERN_SUCCESS);
    MT_KR(thread_info(self, THREAD_IDENTIFIER_INFO, (thread_info_t)&again, &n), KERN_SUCCESS);
    MT_CHECK(mine.thread_id != 0);
    MT_CHECK(mine.thread_id != theirs.thread_id);
    MT_CHECK(mine.thread_handle != theirs.thread_handle);
    MT_EQ(mine.thread_id, again.thread_id);

    mach_msg_header_t m;
    memset(&m, 0, sizeof m);
    m.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    m.msgh_size = sizeof m;
    m.msgh_remote_port = w.port;
    MT_KR(mach_msg(&m, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    pthread_join(w.pthread, NULL);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    (void)mach_port_deallocate(TASK, t); /* a dead name now */
    MT_KR(mach_port_destruct(TASK, w.port, -1, 0), KERN_SUCCESS);
}

MT_TEST(a_short_count_an_unknown_flavor_or_a_port_that_is_no_thread_gets_xnus_codes)
{
    mach_port_t self = mach_thread_self();
    thread_info_data_t data;
    mach_msg_type_number_t n = THREAD_BASIC_INFO_COUNT - 1;
    MT_KR(thread_info(self, THREAD_BASIC_INFO, data, &n), KERN_INVALID_ARGUMENT);
    n = THREAD_IDENTIFIER_INFO_COUNT - 1;
    MT_KR(thread_info(self, THREAD_IDENTIFIER_INFO, data, &n), KERN_INVALID_ARGUMENT);
    n = THREAD_EXTENDED_INFO_COUNT - 1;
    MT_KR(thread_info(self, THREAD_EXTENDED_INFO, data, &n), KERN_INVALID_ARGUMENT);
    n = THREAD_INFO_MAX;
    MT_KR(thread_info(self, 99, data, &n), KERN_INVALID_ARGUMENT);
    /* The task's port converts to no thread. */
    n = THREAD_INFO_MAX;
    MT_KR(thread_info(TASK, THREAD_BASIC_INFO, data, &n), KERN_INVALID_ARGUMENT);
    n = THREAD_INFO_MAX;
    MT_KR(thread_info(MACH_PORT_NULL, THREAD_BASIC_INFO, data, &n), MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
}

MT_TEST(thread_switch_waits_as_long_as_asked_and_refuses_an_unknown_option)
{
    double t0 = ti_now();
    MT_KR(thread_switch(MACH_PORT_NULL, SWITCH_OPTION_WAIT, 50), KERN_SUCCESS);
    double t1 = ti_now();
    MT_CHECK(t1 - t0 >= 0.045);
    MT_CHECK(t1 - t0 < 5);
    /* 3, Darwin's private SWITCH_OPTION_DISPATCH_CONTENTION, counts microseconds. */
    MT_KR(thread_switch(MACH_PORT_NULL, 3, 20000), KERN_SUCCESS);
    double t2 = ti_now();
    MT_CHECK(t2 - t1 >= 0.018);
    MT_CHECK(t2 - t1 < 5);
    MT_KR(thread_switch(MACH_PORT_NULL, SWITCH_OPTION_NONE, 0), KERN_SUCCESS);
    MT_KR(thread_switch(MACH_PORT_NULL, SWITCH_OPTION_DEPRESS, 1), KERN_SUCCESS);
    /* A name that is no thread is no hand-off hint, and no error either. */
    MT_KR(thread_switch(TASK, SWITCH_OPTION_NONE, 0), KERN_SUCCESS);
    MT_KR(thread_switch(MACH_PORT_NULL, 6, 0), KERN_INVALID_ARGUMENT);
    MT_KR(thread_switch(MACH_PORT_NULL, -1, 0), KERN_INVALID_ARGUMENT);
}

MT_MAIN()
