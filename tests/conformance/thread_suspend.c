/*
 * thread_suspend.c — thread_suspend, thread_resume and thread_get_state on threads of this
 * task, as XNU answers them: a suspended thread stops (its counter stops moving) and its
 * registers lie in its own stack; the suspend count nests; resuming a thread that is not
 * suspended is KERN_FAILURE; a thread suspending itself stops until another thread resumes
 * it; a suspension does not end a wait in mach_msg, even with MACH_RCV_INTERRUPT; many
 * suspensions of a thread calling mach_msg while others call it too never hang, nor do the
 * suspender's own vm calls while the thread it stopped was in the middle of its own.
 */
#ifndef __APPLE__
#define _GNU_SOURCE /* pthread_getattr_np */
#endif
#include "notify_util.h"

#include <mach/thread_act.h>
#include <mach/thread_info.h>
#include <mach/thread_status.h>

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#ifdef __APPLE__
#include <pthread.h>
#endif

static void ts_sleep_ms(long ms)
{
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0 && errno == EINTR)
        ;
}

static void ts_start(pthread_t *p, void *(*fn)(void *), void *arg)
{
    MT_REQUIRE(pthread_create(p, NULL, fn, arg) == 0);
}

static double ts_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The calling thread's stack: [*lo, *hi). */
static void ts_stack(uintptr_t *lo, uintptr_t *hi)
{
#ifdef __APPLE__
    uintptr_t top = (uintptr_t)pthread_get_stackaddr_np(pthread_self());
    size_t size = pthread_get_stacksize_np(pthread_self());
    *lo = top - size;
    *hi = top;
#else
    pthread_attr_t a;
    void *addr = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        (void)pthread_attr_getstack(&a, &addr, &size);
        pthread_attr_destroy(&a);
    }
    *lo = (uintptr_t)addr;
    *hi = (uintptr_t)addr + size;
#endif
}

/* macOS's accessors (pointer authentication); umach's layout has the plain fields. */
#if !defined(__x86_64__) && !defined(__APPLE__)
#ifndef arm_thread_state64_get_sp
#define arm_thread_state64_get_sp(st) ((st).__sp)
#define arm_thread_state64_get_pc(st) ((st).__pc)
#endif
#endif

/* The stack pointer and instruction pointer of `thread`, by its general flavour. */
static kern_return_t ts_regs(mach_port_t thread, uint64_t *sp, uint64_t *ip)
{
#if defined(__x86_64__)
    x86_thread_state64_t st;
    mach_msg_type_number_t n = x86_THREAD_STATE64_COUNT;
    kern_return_t kr = thread_get_state(thread, x86_THREAD_STATE64, (thread_state_t)&st, &n);
    if (kr == KERN_SUCCESS) {
        MT_EQ(n, x86_THREAD_STATE64_COUNT);
        *sp = st.__rsp;
        *ip = st.__rip;
    }
#else
    arm_thread_state64_t st;
    mach_msg_type_number_t n = ARM_THREAD_STATE64_COUNT;
    kern_return_t kr = thread_get_state(thread, ARM_THREAD_STATE64, (thread_state_t)&st, &n);
    if (kr == KERN_SUCCESS) {
        MT_EQ(n, ARM_THREAD_STATE64_COUNT);
        *sp = arm_thread_state64_get_sp(st);
        *ip = arm_thread_state64_get_pc(st);
    }
#endif
    return kr;
}

static integer_t ts_suspend_count(mach_port_t thread)
{
    thread_basic_info_data_t b;
    memset(&b, 0, sizeof b);
    mach_msg_type_number_t n = THREAD_BASIC_INFO_COUNT;
    MT_KR(thread_info(thread, THREAD_BASIC_INFO, (thread_info_t)&b, &n), KERN_SUCCESS);
    return b.suspend_count;
}

/* ---- a thread counting in a loop --------------------------------------------------------- */

/* ThreadSanitizer runs the handler of a signal that arrives in plain code only at the thread's
 * next intercepted call: under it the counting loop makes one now and then. */
#if defined(__SANITIZE_THREAD__)
#define TS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TS_TSAN 1
#endif
#endif

/* Shared between threads through atomics (ThreadSanitizer checks the test too). */
#define TS_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define TS_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

typedef struct {
    unsigned long counter;
    int stop;
    mach_port_t thread;
    uintptr_t stack_lo, stack_hi;
    pthread_t pthread;
} ts_counter;

static void *ts_count(void *arg)
{
    ts_counter *c = arg;
    ts_stack(&c->stack_lo, &c->stack_hi);
    __atomic_store_n(&c->thread, mach_thread_self(), __ATOMIC_RELEASE);
    for (unsigned long n = 1; !TS_LOAD(&c->stop); n++) {
        TS_STORE(&c->counter, n);
#ifdef TS_TSAN
        if ((n & 0xfff) == 0) {
            struct timespec none = {0, 0};
            (void)nanosleep(&none, NULL);
        }
#endif
    }
    return NULL;
}

static mach_port_t ts_counter_start(ts_counter *c)
{
    memset(c, 0, sizeof *c);
    ts_start(&c->pthread, ts_count, c);
    mach_port_t t;
    while ((t = __atomic_load_n(&c->thread, __ATOMIC_ACQUIRE)) == MACH_PORT_NULL)
        ts_sleep_ms(1);
    while (TS_LOAD(&c->counter) == 0)
        ts_sleep_ms(1);
    return t;
}

static void ts_counter_end(ts_counter *c)
{
    TS_STORE(&c->stop, 1);
    pthread_join(c->pthread, NULL);
    (void)mach_port_deallocate(TASK, c->thread); /* a dead name once the thread ended */
}

/* Does the counter stay still for 20 ms? */
static bool ts_still(ts_counter *c)
{
    unsigned long a = TS_LOAD(&c->counter);
    ts_sleep_ms(20);
    unsigned long b = TS_LOAD(&c->counter);
    return a == b;
}

/* Does it move within 5 s? */
static bool ts_moves(ts_counter *c)
{
    unsigned long a = TS_LOAD(&c->counter);
    double start = ts_now();
    while (TS_LOAD(&c->counter) == a && ts_now() - start < 5)
        ts_sleep_ms(1);
    return TS_LOAD(&c->counter) != a;
}

MT_TEST(a_suspended_thread_stops_where_its_stack_is_and_runs_again_when_resumed)
{
    ts_counter c;
    mach_port_t t = ts_counter_start(&c);
    MT_KR(thread_suspend(t), KERN_SUCCESS);
    MT_CHECK(ts_still(&c));
    MT_EQ(ts_suspend_count(t), 1);
    uint64_t sp = 0, ip = 0;
    MT_KR(ts_regs(t, &sp, &ip), KERN_SUCCESS);
    MT_CHECK(sp >= c.stack_lo && sp < c.stack_hi);
    MT_CHECK(ip != 0);
    /* Read again: the thread has not moved. */
    uint64_t sp2 = 0, ip2 = 0;
    MT_KR(ts_regs(t, &sp2, &ip2), KERN_SUCCESS);
    MT_EQ(sp2, sp);
    MT_EQ(ip2, ip);
    MT_KR(thread_resume(t), KERN_SUCCESS);
    MT_CHECK(ts_moves(&c));
    MT_EQ(ts_suspend_count(t), 0);
    ts_counter_end(&c);
}

MT_TEST(the_suspend_count_nests_and_resume_at_zero_is_kern_failure)
{
    ts_counter c;
    mach_port_t t = ts_counter_start(&c);
    MT_KR(thread_resume(t), KERN_FAILURE);
    MT_KR(thread_suspend(t), KERN_SUCCESS);
    MT_KR(thread_suspend(t), KERN_SUCCESS);
    MT_EQ(ts_suspend_count(t), 2);
    MT_CHECK(ts_still(&c));
    MT_KR(thread_resume(t), KERN_SUCCESS);
    MT_EQ(ts_suspend_count(t), 1);
    MT_CHECK(ts_still(&c));
    MT_KR(thread_resume(t), KERN_SUCCESS);
    MT_CHECK(ts_moves(&c));
    MT_KR(thread_resume(t), KERN_FAILURE);
    MT_CHECK(ts_moves(&c));
    ts_counter_end(&c);
}

MT_TEST(thread_get_state_of_a_running_thread_is_a_snapshot_inside_its_stack)
{
    ts_counter c;
    mach_port_t t = ts_counter_start(&c);
    for (int i = 0; i < 20; i++) {
        uint64_t sp = 0, ip = 0;
        MT_KR(ts_regs(t, &sp, &ip), KERN_SUCCESS);
        MT_CHECK(sp >= c.stack_lo && sp < c.stack_hi);
        MT_CHECK(ip != 0);
    }
    /* The read let it go again. */
    MT_CHECK(ts_moves(&c));
    MT_EQ(ts_suspend_count(t), 0);
    ts_counter_end(&c);
}

MT_TEST(thread_get_state_checks_the_flavor_and_the_count_and_reads_the_caller_too)
{
    mach_port_t self = mach_thread_self();
    thread_state_data_t data;
    mach_msg_type_number_t n = THREAD_STATE_MAX;
    MT_KR(thread_get_state(self, 9999, data, &n), KERN_INVALID_ARGUMENT);
#if defined(__x86_64__)
    n = x86_THREAD_STATE64_COUNT - 1;
    MT_KR(thread_get_state(self, x86_THREAD_STATE64, data, &n), KERN_INVALID_ARGUMENT);
    /* x86_THREAD_STATE: a header saying the 64-bit state follows. */
    n = x86_THREAD_STATE_COUNT;
    MT_KR(thread_get_state(self, x86_THREAD_STATE, data, &n), KERN_SUCCESS);
    MT_EQ(n, x86_THREAD_STATE_COUNT);
    x86_thread_state_t ts;
    memcpy(&ts, data, sizeof ts);
    MT_EQ(ts.tsh.flavor, (uint32_t)x86_THREAD_STATE64);
    MT_EQ(ts.tsh.count, (uint32_t)x86_THREAD_STATE64_COUNT);
    uintptr_t lo, hi;
    ts_stack(&lo, &hi);
    MT_CHECK(ts.uts.ts64.__rsp >= lo && ts.uts.ts64.__rsp < hi);
    n = x86_THREAD_STATE_COUNT - 1;
    MT_KR(thread_get_state(self, x86_THREAD_STATE, data, &n), KERN_INVALID_ARGUMENT);
#else
    n = ARM_THREAD_STATE64_COUNT - 1;
    MT_KR(thread_get_state(self, ARM_THREAD_STATE64, data, &n), KERN_INVALID_ARGUMENT);
#endif
    uint64_t sp = 0, ip = 0;
    MT_KR(ts_regs(self, &sp, &ip), KERN_SUCCESS);
    uintptr_t slo, shi;
    ts_stack(&slo, &shi);
    MT_CHECK(sp >= slo && sp < shi);
    MT_CHECK(ip != 0);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
}

MT_TEST(a_port_that_is_no_live_thread_gets_xnus_codes)
{
    thread_state_data_t data;
    mach_msg_type_number_t n = THREAD_STATE_MAX;
    MT_KR(thread_suspend(TASK), KERN_INVALID_ARGUMENT);
    MT_KR(thread_resume(TASK), KERN_INVALID_ARGUMENT);
    MT_KR(thread_get_state(TASK, 4, data, &n), KERN_INVALID_ARGUMENT);
    MT_KR(thread_suspend(MACH_PORT_NULL), MACH_SEND_INVALID_DEST);
    MT_KR(thread_resume(MACH_PORT_NULL), MACH_SEND_INVALID_DEST);
    n = THREAD_STATE_MAX;
    MT_KR(thread_get_state(MACH_PORT_NULL, 4, data, &n), MACH_SEND_INVALID_DEST);
    /* A thread that has ended: its port is dead. */
    ts_counter c;
    mach_port_t t = ts_counter_start(&c);
    TS_STORE(&c.stop, 1);
    pthread_join(c.pthread, NULL);
    MT_KR(thread_suspend(t), MACH_SEND_INVALID_DEST);
    MT_KR(thread_resume(t), MACH_SEND_INVALID_DEST);
    (void)mach_port_deallocate(TASK, t);
}

/* ---- a thread suspending itself ---------------------------------------------------------- */

typedef struct {
    mach_port_t thread;
    int after;
    kern_return_t kr;
} ts_self;

static void *ts_suspend_self(void *arg)
{
    ts_self *s = arg;
    mach_port_t me = mach_thread_self();
    __atomic_store_n(&s->thread, me, __ATOMIC_RELEASE);
    s->kr = thread_suspend(me);
    TS_STORE(&s->after, 1);
    return NULL;
}

MT_TEST(a_thread_suspending_itself_stops_until_another_thread_resumes_it)
{
    ts_self s;
    memset(&s, 0, sizeof s);
    pthread_t p;
    MT_REQUIRE(pthread_create(&p, NULL, ts_suspend_self, &s) == 0);
    mach_port_t t;
    while ((t = __atomic_load_n(&s.thread, __ATOMIC_ACQUIRE)) == MACH_PORT_NULL)
        ts_sleep_ms(1);
    double start = ts_now();
    while (ts_suspend_count(t) == 0 && ts_now() - start < 5)
        ts_sleep_ms(1);
    MT_EQ(ts_suspend_count(t), 1);
    ts_sleep_ms(50);
    MT_EQ(TS_LOAD(&s.after), 0);
    MT_KR(thread_resume(t), KERN_SUCCESS);
    pthread_join(p, NULL);
    MT_EQ(s.after, 1);
    MT_KR(s.kr, KERN_SUCCESS);
    (void)mach_port_deallocate(TASK, t);
}

/* ---- a suspension does not end a wait ---------------------------------------------------- */

typedef struct {
    mach_port_t port, thread;
    uintptr_t stack_lo, stack_hi;
    mach_msg_timeout_t timeout; /* MACH_MSG_TIMEOUT_NONE: no MACH_RCV_TIMEOUT */
    int done;
    mach_msg_return_t mr;
} ts_waiter;

static void *ts_wait(void *arg)
{
    ts_waiter *w = arg;
    ts_stack(&w->stack_lo, &w->stack_hi);
    __atomic_store_n(&w->thread, mach_thread_self(), __ATOMIC_RELEASE);
    nu_msg m;
    mach_msg_option_t opt = MACH_RCV_MSG | MACH_RCV_INTERRUPT;
    if (w->timeout != MACH_MSG_TIMEOUT_NONE)
        opt |= MACH_RCV_TIMEOUT;
    w->mr = mach_msg(&m.h, opt, 0, sizeof m, w->port, w->timeout, MACH_PORT_NULL);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void ts_send_empty(mach_port_t port)
{
    mach_msg_header_t m;
    memset(&m, 0, sizeof m);
    m.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    m.msgh_size = sizeof m;
    m.msgh_remote_port = port;
    MT_KR(mach_msg(&m, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
}

/* Start a waiter on a new port and let it reach its receive. */
static mach_port_t ts_waiter_start(ts_waiter *w, pthread_t *p, mach_msg_timeout_t timeout)
{
    memset(w, 0, sizeof *w);
    w->port = nu_port();
    w->timeout = timeout;
    ts_start(p, ts_wait, w);
    mach_port_t t;
    while ((t = __atomic_load_n(&w->thread, __ATOMIC_ACQUIRE)) == MACH_PORT_NULL)
        ts_sleep_ms(1);
    double start = ts_now();
    thread_basic_info_data_t b;
    do {
        ts_sleep_ms(5);
        memset(&b, 0, sizeof b);
        mach_msg_type_number_t n = THREAD_BASIC_INFO_COUNT;
        MT_KR(thread_info(t, THREAD_BASIC_INFO, (thread_info_t)&b, &n), KERN_SUCCESS);
    } while (b.run_state != TH_STATE_WAITING && ts_now() - start < 10);
    ts_sleep_ms(20);
    return t;
}

MT_TEST(a_suspension_does_not_interrupt_a_receive_with_mach_rcv_interrupt)
{
    /* Untimed, then with a timeout (a wait with a deadline is interrupted differently). */
    static const mach_msg_timeout_t timeouts[] = {MACH_MSG_TIMEOUT_NONE, 30000};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        ts_waiter w;
        pthread_t p;
        mach_port_t t = ts_waiter_start(&w, &p, timeouts[i]);
        for (int k = 0; k < 5; k++) {
            MT_KR(thread_suspend(t), KERN_SUCCESS);
            uint64_t sp = 0, ip = 0;
            MT_KR(ts_regs(t, &sp, &ip), KERN_SUCCESS);
            MT_CHECK(sp >= w.stack_lo && sp < w.stack_hi);
            MT_KR(thread_resume(t), KERN_SUCCESS);
            ts_sleep_ms(5);
        }
        ts_sleep_ms(20);
        MT_EQ(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), 0);
        /* A message sent while it is suspended is received once it is resumed. */
        MT_KR(thread_suspend(t), KERN_SUCCESS);
        ts_send_empty(w.port);
        ts_sleep_ms(20);
        MT_EQ(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), 0);
        MT_KR(thread_resume(t), KERN_SUCCESS);
        pthread_join(p, NULL);
        MT_KR(w.mr, MACH_MSG_SUCCESS);
        (void)mach_port_deallocate(TASK, t);
        MT_KR(mach_port_destruct(TASK, w.port, 0, 0), KERN_SUCCESS);
    }
}

/* ---- the deadlock rule ------------------------------------------------------------------- */

typedef struct {
    mach_port_t port, thread;
    int stop;
    unsigned long rounds;
    mach_msg_return_t mr;
} ts_pinger;

/* Send a message to its own port and receive it, over and over. */
static void *ts_ping(void *arg)
{
    ts_pinger *g = arg;
    __atomic_store_n(&g->thread, mach_thread_self(), __ATOMIC_RELEASE);
    g->mr = MACH_MSG_SUCCESS;
    while (!TS_LOAD(&g->stop) && g->mr == MACH_MSG_SUCCESS) {
        nu_msg m;
        memset(&m, 0, sizeof m);
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
        m.h.msgh_size = sizeof m.h;
        m.h.msgh_remote_port = g->port;
        g->mr = mach_msg(&m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof m.h, sizeof m, g->port,
                         MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
        if (g->mr == MACH_MSG_SUCCESS)
            mach_msg_destroy(&m.h); /* the send right it carried */
        g->rounds++;
    }
    return NULL;
}

MT_TEST_TIMEOUT(suspending_a_thread_in_a_mach_msg_loop_many_times_never_hangs, 120)
{
    ts_pinger g;
    memset(&g, 0, sizeof g);
    g.port = nu_port();
    pthread_t p;
    MT_REQUIRE(pthread_create(&p, NULL, ts_ping, &g) == 0);
    mach_port_t t;
    while ((t = __atomic_load_n(&g.thread, __ATOMIC_ACQUIRE)) == MACH_PORT_NULL)
        ts_sleep_ms(1);
    mach_port_t mine = nu_port();
    (void)alarm(100); /* a hang ends the program (SIGALRM) */
    /* A run slowed down on purpose (valgrind: MT_TIMEOUT_SCALE) makes fewer cycles. */
    int cycles = 2000;
    const char *scale = getenv("MT_TIMEOUT_SCALE");
    if (scale && atoi(scale) > 1)
        cycles /= atoi(scale);
    for (int i = 0; i < cycles; i++) {
        MT_KR(thread_suspend(t), KERN_SUCCESS);
        uint64_t sp = 0, ip = 0;
        MT_KR(ts_regs(t, &sp, &ip), KERN_SUCCESS);
        /* Mach calls of this thread while the other is stopped, wherever it stopped. */
        ts_send_empty(mine);
        nu_msg m;
        MT_KR(mach_msg(&m.h, MACH_RCV_MSG, 0, sizeof m, mine, MACH_MSG_TIMEOUT_NONE,
                       MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
        mach_msg_destroy(&m.h);
        MT_KR(thread_resume(t), KERN_SUCCESS);
    }
    (void)alarm(0);
    TS_STORE(&g.stop, 1);
    pthread_join(p, NULL);
    MT_KR(g.mr, MACH_MSG_SUCCESS);
    MT_CHECK(g.rounds > 0);
    (void)mach_port_deallocate(TASK, t);
    MT_KR(mach_port_destruct(TASK, g.port, 0, 0), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, mine, 0, 0), KERN_SUCCESS);
}

/* A thread allocating and freeing memory with Mach's vm calls until told to stop. */
typedef struct ts_vm_loop {
    mach_port_t thread;
    int stop;
    kern_return_t kr;
    unsigned long rounds;
} ts_vm_loop;

static void *ts_vm_churn(void *arg)
{
    ts_vm_loop *v = arg;
    __atomic_store_n(&v->thread, mach_thread_self(), __ATOMIC_RELEASE);
    v->kr = KERN_SUCCESS;
    while (!TS_LOAD(&v->stop) && v->kr == KERN_SUCCESS) {
        vm_address_t a = 0;
        vm_size_t size = 4 * vm_page_size;
        v->kr = vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE);
        if (v->kr != KERN_SUCCESS)
            break;
        ((volatile char *)a)[0] = 1;
        v->kr = vm_deallocate(TASK, a, size);
        v->rounds++;
    }
    return NULL;
}

/* Wherever in its vm calls a thread is stopped, the suspender's own vm calls go on (a
 * garbage collector allocates while the world is stopped). */
MT_TEST_TIMEOUT(a_thread_suspended_in_its_vm_calls_never_holds_up_the_suspenders, 120)
{
    ts_vm_loop v;
    memset(&v, 0, sizeof v);
    pthread_t p;
    MT_REQUIRE(pthread_create(&p, NULL, ts_vm_churn, &v) == 0);
    mach_port_t t;
    while ((t = __atomic_load_n(&v.thread, __ATOMIC_ACQUIRE)) == MACH_PORT_NULL)
        ts_sleep_ms(1);
    (void)alarm(100); /* a hang ends the program (SIGALRM) */
    int cycles = 1000;
    const char *scale = getenv("MT_TIMEOUT_SCALE");
    if (scale && atoi(scale) > 1)
        cycles /= atoi(scale);
    for (int i = 0; i < cycles; i++) {
        MT_KR(thread_suspend(t), KERN_SUCCESS);
        vm_address_t a = 0;
        MT_KR(vm_allocate(TASK, &a, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        MT_KR(vm_deallocate(TASK, a, vm_page_size), KERN_SUCCESS);
        MT_KR(thread_resume(t), KERN_SUCCESS);
    }
    (void)alarm(0);
    TS_STORE(&v.stop, 1);
    pthread_join(p, NULL);
    MT_KR(v.kr, KERN_SUCCESS);
    MT_CHECK(v.rounds > 0);
    (void)mach_port_deallocate(TASK, t);
}

MT_MAIN()
