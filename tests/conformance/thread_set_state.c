/*
 * thread_set_state.c — thread_set_state on threads of this task, as XNU answers it. The new
 * registers take effect where the thread returns to its own code: a suspended thread runs them
 * once resumed, a running one at once (it is stopped for the write and let go), one waiting in
 * mach_msg only when its message comes (the wait goes on, and the call never returns to its
 * caller), the calling thread on return from the call. thread_get_state reads the new state
 * before it is in place. A wrong flavour or count, an address outside user space and a name
 * that is no thread get XNU's codes.
 *
 * Each test sends a thread to a landing function: its program counter, and a stack pointer at
 * the top of an area the thread's start function keeps in its own frame (addressable for
 * valgrind and AddressSanitizer, unlike the stack below where a thread stopped); the landing
 * function notes that it ran and jumps back into the thread's start with siglongjmp.
 */
#ifndef __APPLE__
#define _GNU_SOURCE
#endif
#include "notify_util.h"

#include <mach/thread_act.h>
#include <mach/thread_status.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* ThreadSanitizer hands a signal's handler a copy of the interrupted context, so a state put
 * there is lost: the tests that need the jump do not run under it. */
#if defined(__SANITIZE_THREAD__)
#define SS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SS_TSAN 1
#endif
#endif

enum { SS_SPIN, SS_RECEIVE, SS_CHURN };

typedef struct ss_target {
    sigjmp_buf env;
    int mode;
    mach_port_t port;   /* SS_RECEIVE: the port it receives on */
    mach_port_t thread; /* its thread port (the thread's own name for it) */
    int ready;          /* it is about to spin or to receive */
    int stop;           /* SS_SPIN: stop spinning */
    int landed;         /* times the landing function ran */
    int rounds;         /* SS_CHURN: send-and-receive rounds done */
    int send_failures;  /* SS_CHURN: sends that did not succeed */
    int returned;       /* SS_RECEIVE: mach_msg returned to its caller */
    uintptr_t landing_top; /* the end of the landing function's stack area */
    pthread_t pthread;
} ss_target;

static ss_target *ss_current; /* the landing function's (one test at a time) */

static void ss_sleep_ms(long ms)
{
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) != 0)
        ;
}

#ifndef SS_TSAN
static void ss_landing(void)
{
    ss_target *t = __atomic_load_n(&ss_current, __ATOMIC_ACQUIRE);
    __atomic_add_fetch(&t->landed, 1, __ATOMIC_RELEASE);
    siglongjmp(t->env, 1);
}
#endif

enum { SS_AREA = 32 * 1024 };

static void *ss_run(void *arg)
{
    ss_target *first = arg;
    char area[SS_AREA];
    first->landing_top = (uintptr_t)(area + sizeof area);
    __atomic_store_n(&first->thread, mach_thread_self(), __ATOMIC_RELEASE);
    /*
     * Back from the landing function, this frame's locals below the area read as undefined to
     * valgrind (the landing's stack pointer was above them): the target is read again from
     * ss_current, never from a local.
     */
    if (sigsetjmp(first->env, 1) != 0 &&
        __atomic_load_n(&ss_current, __ATOMIC_ACQUIRE)->mode != SS_CHURN)
        return NULL;
    ss_target *t = __atomic_load_n(&ss_current, __ATOMIC_ACQUIRE);
    __atomic_store_n(&t->ready, 1, __ATOMIC_RELEASE);
    if (t->mode == SS_SPIN) {
        while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE))
            ;
        return NULL;
    }
    if (t->mode == SS_CHURN) {
        /* Sends to its own port and receives, never waiting; a landing comes back above and
         * goes on (a message it left queued is taken by a later receive). */
        while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
            struct {
                mach_msg_header_t h;
                mach_msg_max_trailer_t trailer;
            } c;
            memset(&c, 0, sizeof c);
            c.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
            c.h.msgh_size = sizeof c.h;
            c.h.msgh_remote_port = t->port;
            /* Landings between a send and its receive leave messages queued: the queue's
             * limit (ss_start) is above the landings, so no send finds it full. */
            if (mach_msg(&c.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof c.h, 0, MACH_PORT_NULL,
                         0, MACH_PORT_NULL) != MACH_MSG_SUCCESS)
                __atomic_add_fetch(&t->send_failures, 1, __ATOMIC_RELAXED);
            (void)mach_msg(&c.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof c, t->port, 0,
                           MACH_PORT_NULL);
            __atomic_add_fetch(&t->rounds, 1, __ATOMIC_RELAXED);
        }
        return NULL;
    }
    struct {
        mach_msg_header_t h;
        mach_msg_max_trailer_t trailer;
    } m;
    (void)mach_msg(&m.h, MACH_RCV_MSG, 0, sizeof m, t->port, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL);
    __atomic_store_n(&t->returned, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void ss_start(ss_target *t, int mode)
{
    memset(t, 0, sizeof *t);
    t->mode = mode;
    if (mode != SS_SPIN) {
        MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &t->port), KERN_SUCCESS);
        MT_KR(mach_port_insert_right(TASK, t->port, t->port, MACH_MSG_TYPE_MAKE_SEND),
              KERN_SUCCESS);
        mach_port_limits_t lim = {.mpl_qlimit = MACH_PORT_QLIMIT_LARGE};
        MT_KR(mach_port_set_attributes(TASK, t->port, MACH_PORT_LIMITS_INFO,
                                       (mach_port_info_t)&lim, MACH_PORT_LIMITS_INFO_COUNT),
              KERN_SUCCESS);
    }
    __atomic_store_n(&ss_current, t, __ATOMIC_RELEASE);
    MT_REQUIRE(pthread_create(&t->pthread, NULL, ss_run, t) == 0);
    while (!__atomic_load_n(&t->ready, __ATOMIC_ACQUIRE))
        ss_sleep_ms(1);
}

static void ss_end(ss_target *t)
{
    __atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
    pthread_join(t->pthread, NULL);
    (void)mach_port_deallocate(TASK, t->thread); /* a dead name once the thread ended */
    if (t->port != MACH_PORT_NULL) {
        MT_KR(mach_port_mod_refs(TASK, t->port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        MT_KR(mach_port_deallocate(TASK, t->port), KERN_SUCCESS);
    }
}

#ifndef SS_TSAN
/* Has the thread landed within 5 s? */
static bool ss_lands(ss_target *t)
{
    for (int i = 0; i < 5000 && !__atomic_load_n(&t->landed, __ATOMIC_ACQUIRE); i++)
        ss_sleep_ms(1);
    return __atomic_load_n(&t->landed, __ATOMIC_ACQUIRE) != 0;
}
#endif

#if defined(__x86_64__)
#define SS_FLAVOR x86_THREAD_STATE64
#define SS_COUNT x86_THREAD_STATE64_COUNT
typedef x86_thread_state64_t ss_state;
#else
#define SS_FLAVOR ARM_THREAD_STATE64
#define SS_COUNT ARM_THREAD_STATE64_COUNT
typedef arm_thread_state64_t ss_state;
#endif

/* The program counter of a state (macOS's accessors where pointer authentication may apply). */
static uint64_t ss_pc(const ss_state *s)
{
#if defined(__x86_64__)
    return s->__rip;
#elif defined(__APPLE__)
    return (uint64_t)arm_thread_state64_get_pc(*s);
#else
    return s->__pc;
#endif
}

#ifndef SS_TSAN
/* `s`, read from the thread, sent to the landing function with its stack at `top`. */
static void ss_aim(ss_state *s, uintptr_t top)
{
    uint64_t sp = ((uint64_t)top - 256) & ~(uint64_t)15;
#if defined(__x86_64__)
    s->__rip = (uint64_t)(uintptr_t)&ss_landing;
    s->__rsp = sp - 8; /* as a call leaves it */
#elif defined(__APPLE__)
    arm_thread_state64_set_sp(*s, sp);
    arm_thread_state64_set_pc_fptr(*s, &ss_landing);
#else
    s->__sp = sp;
    s->__pc = (uint64_t)(uintptr_t)&ss_landing;
#endif
}
#endif

static kern_return_t ss_get(mach_port_t thread, ss_state *s)
{
    mach_msg_type_number_t n = SS_COUNT;
    return thread_get_state(thread, SS_FLAVOR, (thread_state_t)s, &n);
}

#ifndef SS_TSAN
/* Read the thread's state, aim it at the landing function and set it. */
static kern_return_t ss_send_to_landing(const ss_target *t)
{
    ss_state s;
    kern_return_t kr = ss_get(t->thread, &s);
    if (kr != KERN_SUCCESS)
        return kr;
    ss_aim(&s, t->landing_top);
    return thread_set_state(t->thread, SS_FLAVOR, (thread_state_t)&s, SS_COUNT);
}
#endif

#ifndef SS_TSAN
MT_TEST(a_suspended_thread_runs_the_new_state_once_resumed_and_reads_it_before)
{
    ss_target t;
    ss_start(&t, SS_SPIN);
    MT_KR(thread_suspend(t.thread), KERN_SUCCESS);
    MT_KR(ss_send_to_landing(&t), KERN_SUCCESS);
    /* Not before it is resumed; thread_get_state already answers the new state. */
    ss_sleep_ms(20);
    MT_EQ(__atomic_load_n(&t.landed, __ATOMIC_ACQUIRE), 0);
    ss_state s;
    MT_KR(ss_get(t.thread, &s), KERN_SUCCESS);
    MT_EQ(ss_pc(&s), (uint64_t)(uintptr_t)&ss_landing);
    MT_KR(thread_resume(t.thread), KERN_SUCCESS);
    MT_CHECK(ss_lands(&t));
    ss_end(&t);
}

MT_TEST(a_running_thread_is_stopped_for_the_new_state_and_runs_it_at_once)
{
    ss_target t;
    ss_start(&t, SS_SPIN);
    MT_KR(ss_send_to_landing(&t), KERN_SUCCESS);
    MT_CHECK(ss_lands(&t));
    ss_end(&t);
}

MT_TEST(a_thread_waiting_in_mach_msg_runs_the_new_state_when_its_message_comes)
{
    ss_target t;
    ss_start(&t, SS_RECEIVE);
    ss_sleep_ms(50); /* it waits in mach_msg by now */
    MT_KR(ss_send_to_landing(&t), KERN_SUCCESS);
    /* The wait goes on: nothing lands while no message comes. */
    ss_sleep_ms(50);
    MT_EQ(__atomic_load_n(&t.landed, __ATOMIC_ACQUIRE), 0);
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = t.port;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_CHECK(ss_lands(&t));
    pthread_join(t.pthread, NULL);
    /* The message was received (the queue is empty); the call never returned to its caller. */
    MT_EQ(__atomic_load_n(&t.returned, __ATOMIC_ACQUIRE), 0);
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(mach_port_get_attributes(TASK, t.port, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                   &n),
          KERN_SUCCESS);
    MT_EQ(st.mps_msgcount, 0);
    (void)mach_port_deallocate(TASK, t.thread);
    MT_KR(mach_port_mod_refs(TASK, t.port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, t.port), KERN_SUCCESS);
}

/*
 * Landings while the thread runs mach_msg call after call: each new state waits for the call
 * it finds the thread in (or comes at once between calls), and no call is left halfway: the
 * port and the space are sound after hundreds of them.
 */
MT_TEST(a_thread_looping_in_mach_msg_lands_each_time_and_leaves_no_call_halfway)
{
    NU_BEGIN();
    enum { LANDINGS = 200 };
    ss_target t;
    ss_start(&t, SS_CHURN);
    for (int i = 0; i < LANDINGS; i++) {
        MT_KR(ss_send_to_landing(&t), KERN_SUCCESS);
        for (int w = 0; w < 5000 && __atomic_load_n(&t.landed, __ATOMIC_ACQUIRE) <= i; w++)
            ss_sleep_ms(1);
        MT_REQUIRE(__atomic_load_n(&t.landed, __ATOMIC_ACQUIRE) == i + 1);
    }
    int rounds = __atomic_load_n(&t.rounds, __ATOMIC_RELAXED);
    MT_CHECK(rounds > 0);
    /* It goes on: its calls still work after the last landing. */
    while (__atomic_load_n(&t.rounds, __ATOMIC_RELAXED) < rounds + 100)
        ss_sleep_ms(1);
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(mach_port_get_attributes(TASK, t.port, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                   &n),
          KERN_SUCCESS);
    MT_CHECK(st.mps_msgcount <= LANDINGS);
    MT_EQ(__atomic_load_n(&t.send_failures, __ATOMIC_RELAXED), 0);
    ss_end(&t);
    NU_END();
}

static ss_target ss_self_target;

static void *ss_set_own_state(void *arg)
{
    ss_target *volatile t = arg;
    char area[SS_AREA];
    t->landing_top = (uintptr_t)(area + sizeof area);
    __atomic_store_n(&t->thread, mach_thread_self(), __ATOMIC_RELEASE);
    if (sigsetjmp(t->env, 1) != 0)
        return NULL;
    ss_state s;
    if (ss_get(t->thread, &s) == KERN_SUCCESS) {
        ss_aim(&s, t->landing_top);
        (void)thread_set_state(t->thread, SS_FLAVOR, (thread_state_t)&s, SS_COUNT);
    }
    __atomic_store_n(&t->returned, 1, __ATOMIC_RELEASE); /* only if the call returned */
    return NULL;
}

MT_TEST(a_thread_setting_its_own_state_goes_there_instead_of_returning)
{
    ss_target *t = &ss_self_target;
    memset(t, 0, sizeof *t);
    __atomic_store_n(&ss_current, t, __ATOMIC_RELEASE);
    MT_REQUIRE(pthread_create(&t->pthread, NULL, ss_set_own_state, t) == 0);
    pthread_join(t->pthread, NULL);
    MT_EQ(__atomic_load_n(&t->landed, __ATOMIC_ACQUIRE), 1);
    MT_EQ(__atomic_load_n(&t->returned, __ATOMIC_ACQUIRE), 0);
    (void)mach_port_deallocate(TASK, t->thread);
}
#endif

MT_TEST(a_wrong_flavor_count_or_address_and_a_name_that_is_no_thread_get_xnus_codes)
{
    ss_target t;
    ss_start(&t, SS_SPIN);
    MT_KR(thread_suspend(t.thread), KERN_SUCCESS);
    ss_state s, before;
    MT_KR(ss_get(t.thread, &before), KERN_SUCCESS);
    s = before;
    MT_KR(thread_set_state(t.thread, SS_FLAVOR, (thread_state_t)&s, SS_COUNT - 1),
          KERN_INVALID_ARGUMENT);
    MT_KR(thread_set_state(t.thread, 9999, (thread_state_t)&s, SS_COUNT), KERN_INVALID_ARGUMENT);
#if defined(__x86_64__)
    /* A program counter beyond user space. */
    s.__rip = 0xffff800000000000ull;
    MT_KR(thread_set_state(t.thread, SS_FLAVOR, (thread_state_t)&s, SS_COUNT),
          KERN_INVALID_ARGUMENT);
    /* x86_THREAD_STATE's header must name the 64-bit state and its count. */
    x86_thread_state_t whole;
    memset(&whole, 0, sizeof whole);
    whole.tsh.flavor = x86_THREAD_STATE32;
    whole.tsh.count = x86_THREAD_STATE64_COUNT;
    whole.uts.ts64 = before;
    MT_KR(thread_set_state(t.thread, x86_THREAD_STATE, (thread_state_t)&whole,
                           x86_THREAD_STATE_COUNT),
          KERN_INVALID_ARGUMENT);
    /* The whole flavour with its header: the state as it was, so the thread goes on. */
    whole.tsh.flavor = x86_THREAD_STATE64;
    MT_KR(thread_set_state(t.thread, x86_THREAD_STATE, (thread_state_t)&whole,
                           x86_THREAD_STATE_COUNT),
          KERN_SUCCESS);
#endif
    /* Nothing refused was kept: the thread reads as it stopped. */
    ss_state now;
    MT_KR(ss_get(t.thread, &now), KERN_SUCCESS);
    MT_EQ(ss_pc(&now), ss_pc(&before));
    MT_KR(thread_resume(t.thread), KERN_SUCCESS);
    /* A port that is no thread's, a dead name's and a null name. */
    mach_port_t p;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_NE(thread_set_state(p, SS_FLAVOR, (thread_state_t)&before, SS_COUNT), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_NE(thread_set_state(MACH_PORT_NULL, SS_FLAVOR, (thread_state_t)&before, SS_COUNT),
          KERN_SUCCESS);
    ss_end(&t);
    MT_EQ(__atomic_load_n(&t.landed, __ATOMIC_ACQUIRE), 0);
}

MT_MAIN()
