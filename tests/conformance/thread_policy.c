/*
 * thread_policy.c — thread_policy_set and thread_policy_get as XNU (macOS) answers them: each
 * flavour set and read back on the calling thread and on another one, the defaults a new
 * thread reports and get_default, real time's bounds and its rounding of computation, what a
 * real-time thread's timeshare setting says, short counts, unknown flavours, the background
 * flavour macOS refuses, and a name that is no thread (the task port, MACH_PORT_NULL, a dead
 * name, an ordinary port whose receiver gets the MIG request). Each test leaves the space
 * with the names it found.
 */
#include "notify_util.h"

#include <mach/mach_time.h>
#include <mach/thread_policy.h>

#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

/* `ns` nanoseconds in absolute time units, the unit of the real-time flavour. */
static uint32_t tp_abs(uint64_t ns)
{
    mach_timebase_info_data_t tb;
    MT_KR(mach_timebase_info(&tb), KERN_SUCCESS);
    return (uint32_t)(ns * tb.denom / tb.numer);
}

#define TP_US 1000ull
#define TP_MS 1000000ull

/* Affinity tags are kept where Darwin knows the caches (Intel Macs); arm64 has none. An
 * x86_64 program translated on an arm64 Mac sees the arm64 kernel: there KERN_NOT_SUPPORTED
 * skips the affinity checks (TP_NO_AFFINITY). */
#if defined(__x86_64__) || defined(__i386__)
#define TP_AFFINITY_KR KERN_SUCCESS
#ifdef __APPLE__
#define TP_NO_AFFINITY(kr) ((kr) == KERN_NOT_SUPPORTED)
#endif
#else
#define TP_AFFINITY_KR KERN_NOT_SUPPORTED
#endif
#ifndef TP_NO_AFFINITY
#define TP_NO_AFFINITY(kr) 0
#endif

/* A thread that gives out its port and waits in mach_msg until told to end. */
typedef struct tp_worker {
    pthread_t pthread;
    mach_port_t thread;
    mach_port_t wake;
} tp_worker;

static void *tp_work(void *arg)
{
    tp_worker *w = arg;
    __atomic_store_n(&w->thread, mach_thread_self(), __ATOMIC_RELEASE);
    nu_msg m;
    (void)mach_msg(&m.h, MACH_RCV_MSG, 0, sizeof m, w->wake, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    return NULL;
}

static void tp_start(tp_worker *w)
{
    memset(w, 0, sizeof *w);
    w->wake = nu_port_with_send();
    MT_REQUIRE(pthread_create(&w->pthread, NULL, tp_work, w) == 0);
    while (__atomic_load_n(&w->thread, __ATOMIC_ACQUIRE) == MACH_PORT_NULL)
        (void)sched_yield();
}

/* Ends the worker; its port's name is then a dead name, deallocated unless `keep`. */
static void tp_stop(tp_worker *w, int keep)
{
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = w->wake;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    pthread_join(w->pthread, NULL);
    MT_KR(mach_port_destruct(TASK, w->wake, -1, 0), KERN_SUCCESS);
    if (!keep)
        (void)mach_port_deallocate(TASK, w->thread);
}

/* thread_policy_get with `count` words of room and get_default `dflt`; the words, count and
 * get_default come back in `out`. */
typedef struct tp_got {
    kern_return_t kr;
    integer_t w[20];
    mach_msg_type_number_t count;
    boolean_t dflt;
} tp_got;

static tp_got tp_get(mach_port_t thread, thread_policy_flavor_t flavor,
                     mach_msg_type_number_t count, boolean_t dflt)
{
    tp_got g;
    memset(&g, 0x5A, sizeof g);
    g.count = count;
    g.dflt = dflt;
    g.kr = thread_policy_get(thread, flavor, g.w, &g.count, &g.dflt);
    return g;
}

static kern_return_t tp_set1(mach_port_t thread, thread_policy_flavor_t flavor, integer_t v)
{
    return thread_policy_set(thread, flavor, &v, 1);
}

static kern_return_t tp_set_rt(mach_port_t thread, uint32_t period, uint32_t computation,
                               uint32_t constraint, boolean_t preemptible)
{
    thread_time_constraint_policy_data_t rt = {period, computation, constraint, preemptible};
    return thread_policy_set(thread, THREAD_TIME_CONSTRAINT_POLICY, (thread_policy_t)&rt,
                             THREAD_TIME_CONSTRAINT_POLICY_COUNT);
}

/* The real-time words a get reports, checked against the four values. */
#define TP_EXPECT_RT(g, p, c, k, pre)                                                              \
    do {                                                                                           \
        MT_KR((g).kr, KERN_SUCCESS);                                                               \
        MT_EQ((g).count, THREAD_TIME_CONSTRAINT_POLICY_COUNT);                                     \
        MT_EQ((uint32_t)(g).w[0], (uint32_t)(p));                                                  \
        MT_EQ((uint32_t)(g).w[1], (uint32_t)(c));                                                  \
        MT_EQ((uint32_t)(g).w[2], (uint32_t)(k));                                                  \
        MT_EQ((g).w[3], (integer_t)(pre));                                                         \
    } while (0)

/* What a thread that was told nothing reports, flavour by flavour. */
static void tp_expect_defaults(mach_port_t t)
{
    tp_got g = tp_get(t, THREAD_EXTENDED_POLICY, THREAD_EXTENDED_POLICY_COUNT, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.w[0], TRUE);
    MT_EQ(g.dflt, FALSE);
    MT_EQ(g.count, THREAD_EXTENDED_POLICY_COUNT);
    /* Not real time: the defaults, and get_default says so. */
    g = tp_get(t, THREAD_TIME_CONSTRAINT_POLICY, THREAD_TIME_CONSTRAINT_POLICY_COUNT, FALSE);
    TP_EXPECT_RT(g, 0, tp_abs(5 * TP_MS), tp_abs(10 * TP_MS), TRUE);
    MT_EQ(g.dflt, TRUE);
    g = tp_get(t, THREAD_PRECEDENCE_POLICY, THREAD_PRECEDENCE_POLICY_COUNT, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.w[0], 0);
    MT_EQ(g.dflt, FALSE);
    g = tp_get(t, THREAD_LATENCY_QOS_POLICY, THREAD_LATENCY_QOS_POLICY_COUNT, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.w[0], LATENCY_QOS_TIER_UNSPECIFIED);
    MT_EQ(g.dflt, FALSE);
    g = tp_get(t, THREAD_THROUGHPUT_QOS_POLICY, THREAD_THROUGHPUT_QOS_POLICY_COUNT, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.w[0], THROUGHPUT_QOS_TIER_UNSPECIFIED);
    g = tp_get(t, THREAD_AFFINITY_POLICY, THREAD_AFFINITY_POLICY_COUNT, FALSE);
    if (!TP_NO_AFFINITY(g.kr)) {
        MT_KR(g.kr, TP_AFFINITY_KR);
        if (g.kr == KERN_SUCCESS)
            MT_EQ(g.w[0], THREAD_AFFINITY_TAG_NULL);
    }
}

MT_TEST(a_new_thread_reports_the_defaults_of_every_flavour)
{
    NU_BEGIN();
    tp_worker w;
    tp_start(&w);
    tp_expect_defaults(w.thread);
    tp_stop(&w, 0);
    NU_END();
}

MT_TEST(the_extended_flavour_switches_between_timeshare_and_a_fixed_priority)
{
    NU_BEGIN();
    mach_port_t self = mach_thread_self();
    MT_KR(tp_set1(self, THREAD_EXTENDED_POLICY, FALSE), KERN_SUCCESS);
    tp_got g = tp_get(self, THREAD_EXTENDED_POLICY, THREAD_EXTENDED_POLICY_COUNT, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.w[0], FALSE);
    MT_EQ(g.dflt, FALSE);
    /* Asked for the default: TRUE, and get_default stays TRUE. */
    g = tp_get(self, THREAD_EXTENDED_POLICY, THREAD_EXTENDED_POLICY_COUNT, TRUE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.w[0], TRUE);
    MT_EQ(g.dflt, TRUE);
    /* The standard flavour is the same number with no word: timeshare again. */
    MT_EQ(THREAD_STANDARD_POLICY, THREAD_EXTENDED_POLICY);
    thread_standard_policy_data_t std = {0};
    MT_KR(thread_policy_set(self, THREAD_STANDARD_POLICY, (thread_policy_t)&std,
                            THREAD_STANDARD_POLICY_COUNT),
          KERN_SUCCESS);
    g = tp_get(self, THREAD_EXTENDED_POLICY, THREAD_EXTENDED_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], TRUE);
    MT_EQ(g.dflt, FALSE);
    /* Only TRUE itself is timeshare. */
    MT_KR(tp_set1(self, THREAD_EXTENDED_POLICY, 2), KERN_SUCCESS);
    g = tp_get(self, THREAD_EXTENDED_POLICY, THREAD_EXTENDED_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], FALSE);
    MT_KR(tp_set1(self, THREAD_EXTENDED_POLICY, TRUE), KERN_SUCCESS);
    g = tp_get(self, THREAD_EXTENDED_POLICY, THREAD_EXTENDED_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], TRUE);
    /* A count of 0 asks for nothing: success, nothing written, the count still 0. */
    g = tp_get(self, THREAD_EXTENDED_POLICY, 0, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.count, 0);
    MT_EQ(g.w[0], 0x5A5A5A5A);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_time_constraint_is_kept_with_its_computation_raised_to_half_the_constraint)
{
    NU_BEGIN();
    tp_worker w;
    tp_start(&w);
    mach_port_t t = w.thread;
    MT_KR(tp_set_rt(t, tp_abs(20 * TP_MS), tp_abs(2 * TP_MS), tp_abs(3 * TP_MS), FALSE),
          KERN_SUCCESS);
    tp_got g = tp_get(t, THREAD_TIME_CONSTRAINT_POLICY, THREAD_TIME_CONSTRAINT_POLICY_COUNT, FALSE);
    TP_EXPECT_RT(g, tp_abs(20 * TP_MS), tp_abs(2 * TP_MS), tp_abs(3 * TP_MS), FALSE);
    MT_EQ(g.dflt, FALSE);
    /* A real-time thread has no timeshare setting: TRUE, with get_default TRUE. */
    g = tp_get(t, THREAD_EXTENDED_POLICY, THREAD_EXTENDED_POLICY_COUNT, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.w[0], TRUE);
    MT_EQ(g.dflt, TRUE);
    /* get_default TRUE: the defaults whatever was set. */
    g = tp_get(t, THREAD_TIME_CONSTRAINT_POLICY, THREAD_TIME_CONSTRAINT_POLICY_COUNT, TRUE);
    TP_EXPECT_RT(g, 0, tp_abs(5 * TP_MS), tp_abs(10 * TP_MS), TRUE);
    MT_EQ(g.dflt, TRUE);

    /* Below half the constraint, computation becomes half of it; above 50 ms, 50 ms. */
    MT_KR(tp_set_rt(t, 0, tp_abs(1 * TP_MS), tp_abs(10 * TP_MS), TRUE), KERN_SUCCESS);
    g = tp_get(t, THREAD_TIME_CONSTRAINT_POLICY, THREAD_TIME_CONSTRAINT_POLICY_COUNT, FALSE);
    TP_EXPECT_RT(g, 0, tp_abs(5 * TP_MS), tp_abs(10 * TP_MS), TRUE);
    MT_KR(tp_set_rt(t, 0, tp_abs(1 * TP_MS), tp_abs(200 * TP_MS), TRUE), KERN_SUCCESS);
    g = tp_get(t, THREAD_TIME_CONSTRAINT_POLICY, THREAD_TIME_CONSTRAINT_POLICY_COUNT, FALSE);
    TP_EXPECT_RT(g, 0, tp_abs(50 * TP_MS), tp_abs(200 * TP_MS), TRUE);
    /* The bounds themselves are allowed. */
    MT_KR(tp_set_rt(t, 0, tp_abs(50 * TP_US), tp_abs(50 * TP_US), TRUE), KERN_SUCCESS);
    g = tp_get(t, THREAD_TIME_CONSTRAINT_POLICY, THREAD_TIME_CONSTRAINT_POLICY_COUNT, FALSE);
    TP_EXPECT_RT(g, 0, tp_abs(50 * TP_US), tp_abs(50 * TP_US), TRUE);
    MT_KR(tp_set_rt(t, 0, tp_abs(50 * TP_MS), tp_abs(60 * TP_MS), TRUE), KERN_SUCCESS);

    /* Timeshare again: the real-time flavour reports the defaults. */
    MT_KR(tp_set1(t, THREAD_EXTENDED_POLICY, TRUE), KERN_SUCCESS);
    g = tp_get(t, THREAD_TIME_CONSTRAINT_POLICY, THREAD_TIME_CONSTRAINT_POLICY_COUNT, FALSE);
    TP_EXPECT_RT(g, 0, tp_abs(5 * TP_MS), tp_abs(10 * TP_MS), TRUE);
    MT_EQ(g.dflt, TRUE);
    g = tp_get(t, THREAD_EXTENDED_POLICY, THREAD_EXTENDED_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], TRUE);
    MT_EQ(g.dflt, FALSE);
    tp_stop(&w, 0);
    NU_END();
}

MT_TEST(a_time_constraint_out_of_bounds_or_short_is_refused_and_changes_nothing)
{
    NU_BEGIN();
    tp_worker w;
    tp_start(&w);
    mach_port_t t = w.thread;
    MT_KR(tp_set_rt(t, 0, tp_abs(2 * TP_MS), tp_abs(3 * TP_MS), TRUE), KERN_SUCCESS);
    /* computation above the constraint, below 50 us, above 50 ms */
    MT_KR(tp_set_rt(t, 0, tp_abs(2 * TP_MS), tp_abs(1 * TP_MS), TRUE), KERN_INVALID_ARGUMENT);
    MT_KR(tp_set_rt(t, 0, tp_abs(50 * TP_US) - 1, tp_abs(1 * TP_MS), TRUE), KERN_INVALID_ARGUMENT);
    MT_KR(tp_set_rt(t, 0, 0, 0, TRUE), KERN_INVALID_ARGUMENT);
    MT_KR(tp_set_rt(t, 0, tp_abs(50 * TP_MS) + 1, tp_abs(60 * TP_MS), TRUE), KERN_INVALID_ARGUMENT);
    /* Three words are not enough, to set or to get. */
    thread_time_constraint_policy_data_t rt = {0, tp_abs(2 * TP_MS), tp_abs(3 * TP_MS), TRUE};
    MT_KR(thread_policy_set(t, THREAD_TIME_CONSTRAINT_POLICY, (thread_policy_t)&rt,
                            THREAD_TIME_CONSTRAINT_POLICY_COUNT - 1),
          KERN_INVALID_ARGUMENT);
    tp_got g =
        tp_get(t, THREAD_TIME_CONSTRAINT_POLICY, THREAD_TIME_CONSTRAINT_POLICY_COUNT - 1, FALSE);
    MT_KR(g.kr, KERN_INVALID_ARGUMENT);
    MT_EQ(g.count, THREAD_TIME_CONSTRAINT_POLICY_COUNT - 1);
    MT_EQ(g.dflt, FALSE);
    MT_EQ(g.w[0], 0x5A5A5A5A);
    g = tp_get(t, THREAD_TIME_CONSTRAINT_POLICY, THREAD_TIME_CONSTRAINT_POLICY_COUNT, FALSE);
    TP_EXPECT_RT(g, 0, tp_abs(2 * TP_MS), tp_abs(3 * TP_MS), TRUE);
    MT_EQ(g.dflt, FALSE);
    tp_stop(&w, 0);
    NU_END();
}

MT_TEST(precedence_affinity_and_the_qos_tiers_read_back_what_was_set)
{
    NU_BEGIN();
    tp_worker w;
    tp_start(&w);
    mach_port_t t = w.thread;
    MT_KR(tp_set1(t, THREAD_PRECEDENCE_POLICY, 63), KERN_SUCCESS);
    tp_got g = tp_get(t, THREAD_PRECEDENCE_POLICY, THREAD_PRECEDENCE_POLICY_COUNT, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.w[0], 63);
    MT_EQ(g.dflt, FALSE);
    MT_KR(tp_set1(t, THREAD_PRECEDENCE_POLICY, -7), KERN_SUCCESS);
    g = tp_get(t, THREAD_PRECEDENCE_POLICY, THREAD_PRECEDENCE_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], -7);
    g = tp_get(t, THREAD_PRECEDENCE_POLICY, THREAD_PRECEDENCE_POLICY_COUNT, TRUE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.w[0], 0);
    MT_EQ(g.dflt, TRUE);

    kern_return_t kr = tp_set1(t, THREAD_AFFINITY_POLICY, 7);
    if (!TP_NO_AFFINITY(kr)) {
        MT_KR(kr, TP_AFFINITY_KR);
        g = tp_get(t, THREAD_AFFINITY_POLICY, THREAD_AFFINITY_POLICY_COUNT, FALSE);
        MT_KR(g.kr, TP_AFFINITY_KR);
        if (kr == KERN_SUCCESS) {
            MT_EQ(g.w[0], 7);
            g = tp_get(t, THREAD_AFFINITY_POLICY, THREAD_AFFINITY_POLICY_COUNT, TRUE);
            MT_EQ(g.w[0], THREAD_AFFINITY_TAG_NULL);
            MT_EQ(g.dflt, TRUE);
            MT_KR(tp_set1(t, THREAD_AFFINITY_POLICY, THREAD_AFFINITY_TAG_NULL), KERN_SUCCESS);
            g = tp_get(t, THREAD_AFFINITY_POLICY, THREAD_AFFINITY_POLICY_COUNT, FALSE);
            MT_EQ(g.w[0], THREAD_AFFINITY_TAG_NULL);
        }
    }

    MT_KR(tp_set1(t, THREAD_LATENCY_QOS_POLICY, LATENCY_QOS_TIER_1), KERN_SUCCESS);
    MT_KR(tp_set1(t, THREAD_THROUGHPUT_QOS_POLICY, THROUGHPUT_QOS_TIER_5), KERN_SUCCESS);
    g = tp_get(t, THREAD_LATENCY_QOS_POLICY, THREAD_LATENCY_QOS_POLICY_COUNT, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.w[0], LATENCY_QOS_TIER_1);
    g = tp_get(t, THREAD_LATENCY_QOS_POLICY, THREAD_LATENCY_QOS_POLICY_COUNT, TRUE);
    MT_EQ(g.w[0], LATENCY_QOS_TIER_UNSPECIFIED);
    MT_EQ(g.dflt, TRUE);
    g = tp_get(t, THREAD_THROUGHPUT_QOS_POLICY, THREAD_THROUGHPUT_QOS_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], THROUGHPUT_QOS_TIER_5);
    /* A tier of the other kind, a rank out of 1-6, a bare rank: refused, nothing changed. */
    MT_KR(tp_set1(t, THREAD_LATENCY_QOS_POLICY, THROUGHPUT_QOS_TIER_1), KERN_INVALID_ARGUMENT);
    MT_KR(tp_set1(t, THREAD_LATENCY_QOS_POLICY, LATENCY_QOS_TIER_5 + 1), KERN_INVALID_ARGUMENT);
    MT_KR(tp_set1(t, THREAD_LATENCY_QOS_POLICY, 2), KERN_INVALID_ARGUMENT);
    MT_KR(tp_set1(t, THREAD_THROUGHPUT_QOS_POLICY, LATENCY_QOS_TIER_1), KERN_INVALID_ARGUMENT);
    MT_KR(tp_set1(t, THREAD_THROUGHPUT_QOS_POLICY, THROUGHPUT_QOS_TIER_0 - 1),
          KERN_INVALID_ARGUMENT);
    g = tp_get(t, THREAD_LATENCY_QOS_POLICY, THREAD_LATENCY_QOS_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], LATENCY_QOS_TIER_1);
    MT_KR(tp_set1(t, THREAD_LATENCY_QOS_POLICY, LATENCY_QOS_TIER_UNSPECIFIED), KERN_SUCCESS);
    g = tp_get(t, THREAD_LATENCY_QOS_POLICY, THREAD_LATENCY_QOS_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], LATENCY_QOS_TIER_UNSPECIFIED);
    tp_stop(&w, 0);
    NU_END();
}

MT_TEST(one_threads_settings_are_not_anothers)
{
    NU_BEGIN();
    tp_worker a, b;
    tp_start(&a);
    tp_start(&b);
    MT_KR(tp_set1(a.thread, THREAD_PRECEDENCE_POLICY, 12), KERN_SUCCESS);
    MT_KR(tp_set_rt(a.thread, 0, tp_abs(1 * TP_MS), tp_abs(2 * TP_MS), TRUE), KERN_SUCCESS);
    MT_KR(tp_set1(a.thread, THREAD_THROUGHPUT_QOS_POLICY, THROUGHPUT_QOS_TIER_2), KERN_SUCCESS);
    MT_KR(tp_set1(b.thread, THREAD_PRECEDENCE_POLICY, -3), KERN_SUCCESS);
    tp_got g = tp_get(a.thread, THREAD_PRECEDENCE_POLICY, THREAD_PRECEDENCE_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], 12);
    g = tp_get(b.thread, THREAD_PRECEDENCE_POLICY, THREAD_PRECEDENCE_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], -3);
    g = tp_get(b.thread, THREAD_EXTENDED_POLICY, THREAD_EXTENDED_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], TRUE);
    MT_EQ(g.dflt, FALSE);
    g = tp_get(b.thread, THREAD_THROUGHPUT_QOS_POLICY, THREAD_THROUGHPUT_QOS_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], THROUGHPUT_QOS_TIER_UNSPECIFIED);
    /* Each flavour keeps its own setting: the real-time one did not touch the others. */
    g = tp_get(a.thread, THREAD_THROUGHPUT_QOS_POLICY, THREAD_THROUGHPUT_QOS_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], THROUGHPUT_QOS_TIER_2);
    tp_stop(&a, 0);
    tp_stop(&b, 0);
    /* A thread started now is told nothing. */
    tp_worker c;
    tp_start(&c);
    tp_expect_defaults(c.thread);
    tp_stop(&c, 0);
    NU_END();
}

MT_TEST(short_counts_long_counts_unknown_flavours_and_the_background_flavour_get_xnus_codes)
{
    NU_BEGIN();
    tp_worker w;
    tp_start(&w);
    mach_port_t t = w.thread;
    integer_t zero[20];
    memset(zero, 0, sizeof zero);
    MT_KR(thread_policy_set(t, THREAD_PRECEDENCE_POLICY, zero, 0), KERN_INVALID_ARGUMENT);
    kern_return_t kr = thread_policy_set(t, THREAD_AFFINITY_POLICY, zero, 0);
    if (!TP_NO_AFFINITY(kr))
        MT_KR(kr, TP_AFFINITY_KR == KERN_SUCCESS ? KERN_INVALID_ARGUMENT : KERN_NOT_SUPPORTED);
    MT_KR(thread_policy_set(t, THREAD_LATENCY_QOS_POLICY, zero, 0), KERN_INVALID_ARGUMENT);
    MT_KR(thread_policy_set(t, THREAD_THROUGHPUT_QOS_POLICY, zero, 0), KERN_INVALID_ARGUMENT);
    /* More than MIG's 16 words never leave the caller. */
    MT_KR(thread_policy_set(t, THREAD_PRECEDENCE_POLICY, zero, 17), MIG_ARRAY_TOO_LARGE);
    MT_KR(thread_policy_set(MACH_PORT_NULL, THREAD_PRECEDENCE_POLICY, zero, 17),
          MIG_ARRAY_TOO_LARGE);
    /* Extra words are ignored. */
    zero[0] = 5;
    MT_KR(thread_policy_set(t, THREAD_PRECEDENCE_POLICY, zero, 16), KERN_SUCCESS);

    tp_got g = tp_get(t, THREAD_PRECEDENCE_POLICY, 0, FALSE);
    MT_KR(g.kr, KERN_INVALID_ARGUMENT);
    g = tp_get(t, THREAD_LATENCY_QOS_POLICY, 0, FALSE);
    MT_KR(g.kr, KERN_INVALID_ARGUMENT);
    g = tp_get(t, THREAD_THROUGHPUT_QOS_POLICY, 0, FALSE);
    MT_KR(g.kr, KERN_INVALID_ARGUMENT);
    /* Room for more: as many words come back as were asked for (16 at most), the rest 0. */
    g = tp_get(t, THREAD_PRECEDENCE_POLICY, 4, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.count, 4);
    MT_EQ(g.w[0], 5);
    MT_EQ(g.w[1], 0);
    MT_EQ(g.w[3], 0);
    MT_EQ(g.w[4], 0x5A5A5A5A);
    g = tp_get(t, THREAD_PRECEDENCE_POLICY, 20, FALSE);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(g.count, 16);
    MT_EQ(g.w[0], 5);
    MT_EQ(g.w[15], 0);
    MT_EQ(g.w[16], 0x5A5A5A5A);

    /* macOS's kernel takes the background flavour from neither call. */
    thread_background_policy_data_t bg = {THREAD_BACKGROUND_POLICY_DARWIN_BG};
    MT_KR(thread_policy_set(t, THREAD_BACKGROUND_POLICY, (thread_policy_t)&bg,
                            THREAD_BACKGROUND_POLICY_COUNT),
          KERN_INVALID_ARGUMENT);
    g = tp_get(t, THREAD_BACKGROUND_POLICY, THREAD_BACKGROUND_POLICY_COUNT, FALSE);
    MT_KR(g.kr, KERN_INVALID_ARGUMENT);

    MT_KR(tp_set1(t, 0, 0), KERN_INVALID_ARGUMENT);
    MT_KR(tp_set1(t, 99, 0), KERN_INVALID_ARGUMENT);
    g = tp_get(t, 0, 16, FALSE);
    MT_KR(g.kr, KERN_INVALID_ARGUMENT);
    g = tp_get(t, 99, 16, FALSE);
    MT_KR(g.kr, KERN_INVALID_ARGUMENT);
    MT_EQ(g.count, 16);
    MT_EQ(g.w[0], 0x5A5A5A5A);
    tp_stop(&w, 0);
    NU_END();
}

MT_TEST(a_name_that_is_no_thread_gets_xnus_codes)
{
    NU_BEGIN();
    integer_t v = 1;
    /* The task port converts to no thread. */
    MT_KR(thread_policy_set(TASK, THREAD_PRECEDENCE_POLICY, &v, 1), KERN_INVALID_ARGUMENT);
    tp_got g = tp_get(TASK, THREAD_PRECEDENCE_POLICY, 1, FALSE);
    MT_KR(g.kr, KERN_INVALID_ARGUMENT);
    MT_KR(thread_policy_set(MACH_PORT_NULL, THREAD_PRECEDENCE_POLICY, &v, 1),
          MACH_SEND_INVALID_DEST);
    g = tp_get(MACH_PORT_NULL, THREAD_PRECEDENCE_POLICY, 1, FALSE);
    MT_KR(g.kr, MACH_SEND_INVALID_DEST);
    /* A dead name. */
    mach_port_name_t p = nu_port_with_send();
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(thread_policy_set(p, THREAD_PRECEDENCE_POLICY, &v, 1), MACH_SEND_INVALID_DEST);
    g = tp_get(p, THREAD_PRECEDENCE_POLICY, 1, FALSE);
    MT_KR(g.kr, MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    /* A thread that ended: its port is gone (XNU may still find the thread ending). */
    tp_worker w;
    tp_start(&w);
    tp_stop(&w, 1);
    kern_return_t kr = thread_policy_set(w.thread, THREAD_PRECEDENCE_POLICY, &v, 1);
#ifdef __APPLE__
    MT_CHECK(kr == MACH_SEND_INVALID_DEST || kr == KERN_TERMINATED || kr == KERN_INVALID_ARGUMENT);
#else
    MT_KR(kr, MACH_SEND_INVALID_DEST);
#endif
    (void)mach_port_deallocate(TASK, w.thread);
    NU_END();
}

/* What the child reports: a bit per setting it inherited, where a new thread has none. */
static int tp_child_inherited(void)
{
    mach_port_t self = mach_thread_self();
    int bad = 0;
    tp_got g = tp_get(self, THREAD_PRECEDENCE_POLICY, THREAD_PRECEDENCE_POLICY_COUNT, FALSE);
    bad |= (g.kr != KERN_SUCCESS || g.w[0] != 0) << 0;
    g = tp_get(self, THREAD_TIME_CONSTRAINT_POLICY, THREAD_TIME_CONSTRAINT_POLICY_COUNT, FALSE);
    bad |= (g.kr != KERN_SUCCESS || g.dflt != TRUE) << 1;
    g = tp_get(self, THREAD_LATENCY_QOS_POLICY, THREAD_LATENCY_QOS_POLICY_COUNT, FALSE);
    bad |= (g.kr != KERN_SUCCESS || g.w[0] != LATENCY_QOS_TIER_UNSPECIFIED) << 2;
    return bad;
}

MT_TEST(a_forked_childs_thread_is_a_new_one_with_none_of_the_parents_settings)
{
    mach_port_t self = mach_thread_self();
    MT_KR(tp_set1(self, THREAD_PRECEDENCE_POLICY, 9), KERN_SUCCESS);
    MT_KR(tp_set1(self, THREAD_LATENCY_QOS_POLICY, LATENCY_QOS_TIER_2), KERN_SUCCESS);
    MT_KR(tp_set_rt(self, 0, tp_abs(2 * TP_MS), tp_abs(3 * TP_MS), TRUE), KERN_SUCCESS);
    pid_t pid = fork();
    if (pid == 0)
        _exit(tp_child_inherited());
    /* The parent's own settings stay; then back to what a thread starts with. */
    MT_KR(tp_set1(self, THREAD_EXTENDED_POLICY, TRUE), KERN_SUCCESS);
    MT_KR(tp_set1(self, THREAD_PRECEDENCE_POLICY, 0), KERN_SUCCESS);
    tp_got g = tp_get(self, THREAD_LATENCY_QOS_POLICY, THREAD_LATENCY_QOS_POLICY_COUNT, FALSE);
    MT_EQ(g.w[0], LATENCY_QOS_TIER_2);
    MT_KR(tp_set1(self, THREAD_LATENCY_QOS_POLICY, LATENCY_QOS_TIER_UNSPECIFIED), KERN_SUCCESS);
    MT_REQUIRE(pid > 0);
    int status = 0;
    MT_EQ(waitpid(pid, &status, 0), pid);
    MT_CHECK(WIFEXITED(status));
    MT_EQ(WEXITSTATUS(status), 0);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
}

/* ---- an ordinary port gets the MIG request: a server thread answers it ------------------ */

typedef struct tp_server {
    mach_port_t port;
    union {
        mach_msg_header_t h;
        uint8_t bytes[512];
    } req;
    /* The reply: RetCode, then (for get) the count, the words and get_default. */
    kern_return_t ret;
    mach_msg_type_number_t count;
    integer_t words[16];
    boolean_t dflt;
    mach_msg_return_t got;
} tp_server;

static void *tp_serve(void *arg)
{
    tp_server *s = arg;
    s->got = mach_msg(&s->req.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof s->req, s->port, 10000,
                      MACH_PORT_NULL);
    if (s->got != MACH_MSG_SUCCESS)
        return NULL;
    union {
        mach_msg_header_t h;
        uint8_t bytes[256];
    } r;
    memset(&r, 0, sizeof r);
    size_t at = sizeof r.h;
    memcpy(r.bytes + at, &NDR_record, sizeof NDR_record);
    at += sizeof NDR_record;
    memcpy(r.bytes + at, &s->ret, 4);
    at += 4;
    if (s->req.h.msgh_id == 3618 && s->ret == KERN_SUCCESS) {
        memcpy(r.bytes + at, &s->count, 4);
        at += 4;
        memcpy(r.bytes + at, s->words, 4 * (size_t)s->count);
        at += 4 * (size_t)s->count;
        memcpy(r.bytes + at, &s->dflt, 4);
        at += 4;
    }
    r.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    r.h.msgh_size = (mach_msg_size_t)at;
    r.h.msgh_remote_port = s->req.h.msgh_remote_port;
    r.h.msgh_id = s->req.h.msgh_id + 100;
    s->got = mach_msg(&r.h, MACH_SEND_MSG, (mach_msg_size_t)at, 0, MACH_PORT_NULL,
                      MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    return NULL;
}

/* A request word at `i` (after the header and the NDR record). */
static uint32_t tp_word(const tp_server *s, unsigned i)
{
    uint32_t v;
    memcpy(&v, s->req.bytes + sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 * i, 4);
    return v;
}

MT_TEST(an_ordinary_port_gets_the_mig_requests_and_its_receivers_answers)
{
    (void)mig_get_reply_port(); /* the stubs' reply port, made once per thread, is no leak */
    NU_BEGIN();
    static tp_server s;
    memset(&s, 0, sizeof s);
    s.port = nu_port_with_send();
    pthread_t th;
    /* thread_policy_set (3617): the flavour, the count, the words. */
    s.ret = KERN_SUCCESS;
    MT_REQUIRE(pthread_create(&th, NULL, tp_serve, &s) == 0);
    integer_t words[2] = {-4, 77};
    MT_KR(thread_policy_set(s.port, THREAD_PRECEDENCE_POLICY, words, 2), KERN_SUCCESS);
    pthread_join(th, NULL);
    MT_KR(s.got, MACH_MSG_SUCCESS);
    MT_EQ(s.req.h.msgh_id, 3617);
    MT_EQ(s.req.h.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 * 4);
    MT_EQ(tp_word(&s, 0), THREAD_PRECEDENCE_POLICY);
    MT_EQ(tp_word(&s, 1), 2);
    MT_EQ((integer_t)tp_word(&s, 2), -4);
    MT_EQ((integer_t)tp_word(&s, 3), 77);
    /* The receiver's error is the call's. */
    s.ret = KERN_NOT_SUPPORTED;
    MT_REQUIRE(pthread_create(&th, NULL, tp_serve, &s) == 0);
    MT_KR(thread_policy_set(s.port, THREAD_PRECEDENCE_POLICY, words, 1), KERN_NOT_SUPPORTED);
    pthread_join(th, NULL);

    /* thread_policy_get (3618): the flavour, the count, get_default; back the count, the
     * words and get_default after them. */
    s.ret = KERN_SUCCESS;
    s.count = 2;
    s.words[0] = 42;
    s.words[1] = 43;
    s.dflt = TRUE;
    MT_REQUIRE(pthread_create(&th, NULL, tp_serve, &s) == 0);
    tp_got g = tp_get(s.port, THREAD_TIME_CONSTRAINT_POLICY, 4, FALSE);
    pthread_join(th, NULL);
    MT_KR(g.kr, KERN_SUCCESS);
    MT_EQ(s.req.h.msgh_id, 3618);
    MT_EQ(s.req.h.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 3 * 4);
    MT_EQ(tp_word(&s, 0), THREAD_TIME_CONSTRAINT_POLICY);
    MT_EQ(tp_word(&s, 1), 4);
    MT_EQ(tp_word(&s, 2), FALSE);
    MT_EQ(g.count, 2);
    MT_EQ(g.w[0], 42);
    MT_EQ(g.w[1], 43);
    MT_EQ(g.w[2], 0x5A5A5A5A);
    MT_EQ(g.dflt, TRUE);
    /* More words than asked for: the first ones, their number, MIG_ARRAY_TOO_LARGE. */
    s.count = 3;
    s.words[2] = 44;
    MT_REQUIRE(pthread_create(&th, NULL, tp_serve, &s) == 0);
    g = tp_get(s.port, THREAD_PRECEDENCE_POLICY, 1, FALSE);
    pthread_join(th, NULL);
    MT_KR(g.kr, MIG_ARRAY_TOO_LARGE);
    MT_EQ(g.count, 3);
    MT_EQ(g.w[0], 42);
    MT_EQ(g.w[1], 0x5A5A5A5A);
    MT_EQ(g.dflt, FALSE);
    MT_KR(mach_port_destruct(TASK, s.port, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
