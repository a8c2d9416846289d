/*
 * exception_guard.c — a Mach-port guard violation raises EXC_GUARD to the thread's exception
 * port, else the task's, as XNU's mach_port_guard_ast and exception_triage do: the request of
 * the port's behaviour (exception_raise 2401 with 32-bit codes, mach_exception_raise 2405
 * with MACH_EXCEPTION_CODES), code[0] the guard's type, flavour and port name, code[1] its
 * payload; the raising thread waits for the reply. A non-fatal guard's call then returns its
 * error; a fatal one ends the task after the handler answered.
 */
#include "exc_msgs.h"
#include "notify_util.h"

#include <mach/exception_types.h>
#include <mach/task_info.h>
#include <mach/thread_act.h>

#include <stdbool.h>

/* What the handler saw of one exception. */
typedef struct eg_seen {
    mach_msg_id_t id;
    mach_msg_size_t size;
    mach_port_t on; /* the port it arrived on */
    mach_msg_bits_t bits;
    mach_port_t thread, task;
    exception_type_t exception;
    mach_msg_type_number_t code_cnt;
    int64_t code[2];
} eg_seen;

#define EG_STOP_ID 0x4567

/* The fatal test's forked child starts the handler's thread; ThreadSanitizer refuses a thread
 * started after a threaded process forked unless told otherwise (the child only serves one
 * exception and dies). */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EG_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(EG_TSAN)
#define EG_TSAN 1
#endif
#ifdef EG_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

/* The handler: serves the exceptions arriving on `set` (a port set) until a stop message. */
typedef struct eg_handler {
    mach_port_t set;
    mach_port_t fail_on; /* exceptions arriving on this port are answered KERN_FAILURE */
    bool report;         /* say on stderr what arrived, before answering */
    eg_seen seen[4];
    int nseen;
    pthread_t thread;
} eg_handler;

static void *eg_serve(void *arg)
{
    eg_handler *h = arg;
    for (;;) {
        union {
            mach_msg_header_t h;
            exc_wide_req wide;
            exc_small_req small;
            uint8_t bytes[512];
        } m;
        memset(&m, 0, sizeof m);
        if (mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, h->set, 10000,
                     MACH_PORT_NULL) != MACH_MSG_SUCCESS)
            return NULL; /* the test's checks report what is missing */
        if (m.h.msgh_id == EG_STOP_ID)
            return NULL;
        eg_seen *s = h->nseen < 4 ? &h->seen[h->nseen++] : &h->seen[3];
        s->id = m.h.msgh_id;
        s->size = m.h.msgh_size;
        s->on = m.h.msgh_local_port;
        s->bits = m.h.msgh_bits;
        s->thread = m.wide.thread.name;
        s->task = m.wide.task.name;
        if (m.h.msgh_id == 2405) {
            s->exception = m.wide.exception;
            s->code_cnt = m.wide.codeCnt;
            memcpy(s->code, m.wide.code, sizeof s->code);
        } else {
            s->exception = m.small.exception;
            s->code_cnt = m.small.codeCnt;
            s->code[0] = m.small.code[0];
            s->code[1] = m.small.code[1];
        }
        if (h->report) {
            fprintf(stderr, "handler saw exception %d code 0x%llx\n", s->exception,
                    (unsigned long long)s->code[0]);
            fflush(stderr);
        }
        exc_reply r;
        memset(&r, 0, sizeof r);
        r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(m.h.msgh_bits), 0);
        r.Head.msgh_size = sizeof r;
        r.Head.msgh_remote_port = m.h.msgh_remote_port;
        r.Head.msgh_id = m.h.msgh_id + 100;
        r.NDR = NDR_record;
        r.RetCode = m.h.msgh_local_port == h->fail_on ? KERN_FAILURE : KERN_SUCCESS;
        /* The request's thread and task rights are the handler's to release. */
        (void)mach_port_deallocate(TASK, m.wide.thread.name);
        (void)mach_port_deallocate(TASK, m.wide.task.name);
        (void)mach_msg(&r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                       MACH_PORT_NULL);
    }
}

static void eg_start_reporting(eg_handler *h, mach_port_t a, mach_port_t b, bool report)
{
    memset(h, 0, sizeof *h);
    h->report = report;
    (void)mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &h->set);
    (void)mach_port_insert_member(TASK, a, h->set);
    if (b)
        (void)mach_port_insert_member(TASK, b, h->set);
    (void)pthread_create(&h->thread, NULL, eg_serve, h);
}

static void eg_start(eg_handler *h, mach_port_t a, mach_port_t b)
{
    eg_start_reporting(h, a, b, false);
}

/* Stop the handler (through `a`, one of its ports) and wait for it. */
static void eg_stop(eg_handler *h, mach_port_t a)
{
    mach_msg_header_t m;
    memset(&m, 0, sizeof m);
    m.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    m.msgh_size = sizeof m;
    m.msgh_remote_port = a;
    m.msgh_id = EG_STOP_ID;
    (void)mach_msg(&m, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL);
    (void)pthread_join(h->thread, NULL);
    (void)mach_port_mod_refs(TASK, h->set, MACH_PORT_RIGHT_PORT_SET, -1);
}

/* Mach-port guards delivered (a Darwin release kernel may keep them fatal: that is fine here). */
static task_exc_guard_behavior_t eg_deliver(void)
{
    task_exc_guard_behavior_t before = 0;
    (void)task_get_exc_guard_behavior(TASK, &before);
    (void)task_set_exc_guard_behavior(TASK, before | TASK_EXC_GUARD_MP_DELIVER);
    return before;
}

/* A name no right of this task has. */
static mach_port_name_t eg_unused_name(void)
{
    mach_port_name_t p = nu_port();
    (void)mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1);
    return p;
}

static uint64_t eg_code(uint32_t flavor, mach_port_name_t name)
{
    return (1ull << 61) | ((uint64_t)flavor << 32) | name;
}

/* The child: a handler that reports what it got, then a fatal violation. */
static void fatal_with_a_handler(void)
{
    mach_port_t exc = nu_port_with_send();
    (void)task_set_exception_ports(TASK, EXC_MASK_GUARD, exc,
                                   (exception_behavior_t)(EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES),
                                   0);
    static eg_handler h;
    eg_start_reporting(&h, exc, MACH_PORT_NULL, true);
    mach_port_options_t opts = {.flags = MPO_CONTEXT_AS_GUARD};
    mach_port_t p = MACH_PORT_NULL;
    (void)mach_port_construct(TASK, &opts, 0x600d, &p);
    kern_return_t kr = mach_port_unguard(TASK, p, 0x600e);
    /* Only with umach's UMACH_GUARD_NONFATAL would the call come back. */
    fprintf(stderr, "unguard returned 0x%x\n", kr);
}

/* First: the forked child then has no thread port of the parent's to leave behind. */
MT_TEST(a_fatal_guard_ends_the_task_after_the_handler_answered)
{
#ifdef __APPLE__
    /* Darwin raises a fatal guard to a handler only in developer mode; it dies either way. */
    MT_DIES_WITH(fatal_with_a_handler(), SIGKILL, NULL);
#else
    MT_DIES_WITH(fatal_with_a_handler(), SIGABRT, "handler saw exception 12 code 0x20000010",
                 "umach: fatal Mach port guard exception on port", "(flavor 16,");
#endif
}

MT_TEST(a_non_fatal_guard_is_raised_to_the_task_port_with_64_bit_codes_and_the_call_returns)
{
    task_exc_guard_behavior_t before = eg_deliver();
    NU_BEGIN();
    mach_port_t exc = nu_port_with_send();
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_GUARD, exc,
                                   (exception_behavior_t)(EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES),
                                   0),
          KERN_SUCCESS);
    eg_handler h;
    eg_start(&h, exc, MACH_PORT_NULL);
    mach_port_name_t bogus = eg_unused_name();
    mach_port_t self = mach_thread_self();
    MT_KR(mach_port_deallocate(TASK, bogus), KERN_INVALID_NAME);
    eg_stop(&h, exc);
    MT_EQ(h.nseen, 1);
    MT_EQ(h.seen[0].id, 2405);
    MT_EQ(h.seen[0].size, sizeof(exc_wide_req));
    MT_EQ(h.seen[0].on, exc);
    MT_CHECK(h.seen[0].bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(MACH_MSGH_BITS_REMOTE(h.seen[0].bits), MACH_MSG_TYPE_MOVE_SEND_ONCE);
    MT_EQ(h.seen[0].thread, self);
    MT_EQ(h.seen[0].task, TASK);
    MT_EQ(h.seen[0].exception, EXC_GUARD);
    MT_EQ(h.seen[0].code_cnt, 2);
    MT_EQ((uint64_t)h.seen[0].code[0], eg_code(kGUARD_EXC_INVALID_NAME, bogus));
    MT_EQ(h.seen[0].code[1], 0);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_GUARD, MACH_PORT_NULL, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, exc, -1, 0), KERN_SUCCESS);
    NU_END();
    (void)task_set_exc_guard_behavior(TASK, before);
}

MT_TEST(without_mach_exception_codes_the_codes_are_cut_to_32_bits)
{
    task_exc_guard_behavior_t before = eg_deliver();
    NU_BEGIN();
    mach_port_t exc = nu_port_with_send();
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_GUARD, exc, EXCEPTION_DEFAULT, 0), KERN_SUCCESS);
    eg_handler h;
    eg_start(&h, exc, MACH_PORT_NULL);
    mach_port_name_t bogus = eg_unused_name();
    MT_KR(mach_port_mod_refs(TASK, bogus, MACH_PORT_RIGHT_SEND, 1), KERN_INVALID_NAME);
    eg_stop(&h, exc);
    MT_EQ(h.nseen, 1);
    MT_EQ(h.seen[0].id, 2401);
    MT_EQ(h.seen[0].size, sizeof(exc_small_req));
    MT_EQ(h.seen[0].exception, EXC_GUARD);
    MT_EQ(h.seen[0].code_cnt, 2);
    MT_EQ((uint32_t)h.seen[0].code[0], bogus);
    MT_EQ(h.seen[0].code[1], 0);
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_GUARD, MACH_PORT_NULL, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, exc, -1, 0), KERN_SUCCESS);
    NU_END();
    (void)task_set_exc_guard_behavior(TASK, before);
}

MT_TEST(the_threads_port_comes_first_and_a_failure_goes_on_to_the_tasks)
{
    task_exc_guard_behavior_t before = eg_deliver();
    NU_BEGIN();
    mach_port_t texc = nu_port_with_send(), thexc = nu_port_with_send();
    mach_port_t self = mach_thread_self();
    exception_behavior_t b = (exception_behavior_t)(EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES);
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_GUARD, texc, b, 0), KERN_SUCCESS);
    MT_KR(thread_set_exception_ports(self, EXC_MASK_GUARD, thexc, b, 0), KERN_SUCCESS);
    mach_port_name_t bogus = eg_unused_name();

    /* The thread's handler answers: the task's sees nothing. */
    eg_handler h;
    eg_start(&h, texc, thexc);
    MT_KR(mach_port_deallocate(TASK, bogus), KERN_INVALID_NAME);
    eg_stop(&h, texc);
    MT_EQ(h.nseen, 1);
    MT_EQ(h.seen[0].on, thexc);

    /* It answers KERN_FAILURE: the task's is asked next. */
    eg_start(&h, texc, thexc);
    h.fail_on = thexc;
    MT_KR(mach_port_deallocate(TASK, bogus), KERN_INVALID_NAME);
    eg_stop(&h, texc);
    MT_EQ(h.nseen, 2);
    MT_EQ(h.seen[0].on, thexc);
    MT_EQ(h.seen[1].on, texc);
    MT_EQ((uint64_t)h.seen[1].code[0], eg_code(kGUARD_EXC_INVALID_NAME, bogus));

    MT_KR(thread_set_exception_ports(self, EXC_MASK_GUARD, MACH_PORT_NULL, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_GUARD, MACH_PORT_NULL, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, texc, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, thexc, -1, 0), KERN_SUCCESS);
    NU_END();
    (void)task_set_exc_guard_behavior(TASK, before);
}

MT_MAIN()
