/*
 * exc_server.c — <mach/exc.h> and the exc subsystem as libSystem carries it: the user stubs
 * exception_raise, exception_raise_state and exception_raise_state_identity send MIG's
 * requests (2401-2403) and return the handler's answer; exc_server checks a request as MIG's
 * server does and calls the program's catch_exception_raise* with its arguments; a real
 * exception (a Mach-port guard) served by mach_msg_server(exc_server) reaches
 * catch_exception_raise.
 */
#include "notify_util.h"

#include <mach/exc.h>
#include <mach/exception_types.h>
#include <mach/task_info.h>
#include <mach/thread_act.h>

#include <stdbool.h>

/* Exported by libSystem (and libumach); no SDK header declares it. */
extern boolean_t exc_server(mach_msg_header_t *InHeadP, mach_msg_header_t *OutHeadP);

/* What the catch_* functions saw, and what they answer. */
static struct {
    int calls;
    mach_msg_id_t routine;
    mach_port_t port, thread, task;
    exception_type_t exception;
    mach_msg_type_number_t code_cnt, old_cnt;
    integer_t code[2];
    int flavor;
    natural_t old_state[8];
    kern_return_t answer;
    int new_flavor;
    mach_msg_type_number_t new_cnt;
} es;

static void es_reset(kern_return_t answer)
{
    memset(&es, 0, sizeof es);
    es.answer = answer;
}

static void es_take_ports(mach_port_t thread, mach_port_t task)
{
    es.thread = thread;
    es.task = task;
    /* The handler owns the request's rights when it answers KERN_SUCCESS. */
    if (es.answer == KERN_SUCCESS) {
        (void)mach_port_deallocate(TASK, thread);
        (void)mach_port_deallocate(TASK, task);
    }
}

static void es_take_codes(exception_type_t exception, const integer_t *code,
                          mach_msg_type_number_t cnt)
{
    es.calls++;
    es.exception = exception;
    es.code_cnt = cnt;
    for (mach_msg_type_number_t i = 0; i < cnt && i < 2; i++)
        es.code[i] = code[i];
}

/* The state handlers: keep the old state, answer new_cnt words of old word + 100. */
static void es_state(int *flavor, const natural_t *old_state, mach_msg_type_number_t old_cnt,
                     natural_t *new_state, mach_msg_type_number_t *new_cnt)
{
    es.flavor = *flavor;
    es.old_cnt = old_cnt;
    for (mach_msg_type_number_t i = 0; i < old_cnt && i < 8; i++)
        es.old_state[i] = old_state[i];
    if (es.answer != KERN_SUCCESS)
        return;
    *flavor = es.new_flavor;
    for (mach_msg_type_number_t i = 0; i < es.new_cnt; i++)
        new_state[i] = 100 + i;
    *new_cnt = es.new_cnt;
}

kern_return_t catch_exception_raise(mach_port_t exception_port, mach_port_t thread,
                                    mach_port_t task, exception_type_t exception,
                                    exception_data_t code, mach_msg_type_number_t codeCnt);
kern_return_t catch_exception_raise(mach_port_t exception_port, mach_port_t thread,
                                    mach_port_t task, exception_type_t exception,
                                    exception_data_t code, mach_msg_type_number_t codeCnt)
{
    es.routine = 2401;
    es.port = exception_port;
    es_take_codes(exception, code, codeCnt);
    es_take_ports(thread, task);
    return es.answer;
}

kern_return_t catch_exception_raise_state(mach_port_t exception_port, exception_type_t exception,
                                          const exception_data_t code,
                                          mach_msg_type_number_t codeCnt, int *flavor,
                                          const thread_state_t old_state,
                                          mach_msg_type_number_t old_stateCnt,
                                          thread_state_t new_state,
                                          mach_msg_type_number_t *new_stateCnt);
kern_return_t catch_exception_raise_state(mach_port_t exception_port, exception_type_t exception,
                                          const exception_data_t code,
                                          mach_msg_type_number_t codeCnt, int *flavor,
                                          const thread_state_t old_state,
                                          mach_msg_type_number_t old_stateCnt,
                                          thread_state_t new_state,
                                          mach_msg_type_number_t *new_stateCnt)
{
    es.routine = 2402;
    es.port = exception_port;
    es_take_codes(exception, code, codeCnt);
    es_state(flavor, old_state, old_stateCnt, new_state, new_stateCnt);
    return es.answer;
}

kern_return_t catch_exception_raise_state_identity(
    mach_port_t exception_port, mach_port_t thread, mach_port_t task, exception_type_t exception,
    exception_data_t code, mach_msg_type_number_t codeCnt, int *flavor, thread_state_t old_state,
    mach_msg_type_number_t old_stateCnt, thread_state_t new_state,
    mach_msg_type_number_t *new_stateCnt);
kern_return_t catch_exception_raise_state_identity(
    mach_port_t exception_port, mach_port_t thread, mach_port_t task, exception_type_t exception,
    exception_data_t code, mach_msg_type_number_t codeCnt, int *flavor, thread_state_t old_state,
    mach_msg_type_number_t old_stateCnt, thread_state_t new_state,
    mach_msg_type_number_t *new_stateCnt)
{
    es.routine = 2403;
    es.port = exception_port;
    es_take_codes(exception, code, codeCnt);
    es_take_ports(thread, task);
    es_state(flavor, old_state, old_stateCnt, new_state, new_stateCnt);
    return es.answer;
}

/* A thread serving `port` with exc_server, one request at a time, `n` of them. */
typedef struct {
    mach_port_t port;
    int n;
    pthread_t thread;
} es_server;

static void *es_serve(void *arg)
{
    es_server *s = arg;
    for (int i = 0; i < s->n; i++)
        (void)mach_msg_server_once(exc_server, sizeof(union __RequestUnion__exc_subsystem) + 64,
                                   s->port, 0);
    return NULL;
}

static void es_start(es_server *s, mach_port_t port, int n)
{
    s->port = port;
    s->n = n;
    MT_REQUIRE(pthread_create(&s->thread, NULL, es_serve, s) == 0);
}

static mach_port_urefs_t es_send_refs(mach_port_t name)
{
    mach_port_urefs_t refs = 0;
    (void)mach_port_get_refs(TASK, name, MACH_PORT_RIGHT_SEND, &refs);
    return refs;
}

MT_TEST(exception_raise_reaches_catch_exception_raise_with_the_port_the_rights_and_the_codes)
{
    (void)mig_get_reply_port(); /* the stubs' reply port, made once per thread, is no leak */
    NU_BEGIN();
    mach_port_t exc = nu_port_with_send();
    mach_port_t self = mach_thread_self();
    mach_port_urefs_t before = es_send_refs(self);
    es_reset(KERN_SUCCESS);
    es_server s;
    es_start(&s, exc, 1);
    integer_t code[2] = {KERN_INVALID_ADDRESS, 0x1234};
    MT_KR(exception_raise(exc, self, TASK, EXC_BAD_ACCESS, code, 2), KERN_SUCCESS);
    pthread_join(s.thread, NULL);
    MT_EQ(es.calls, 1);
    MT_EQ(es.routine, 2401);
    MT_EQ(es.port, exc);
    MT_EQ(es.thread, self);
    MT_EQ(es.task, TASK);
    MT_EQ(es.exception, EXC_BAD_ACCESS);
    MT_EQ(es.code_cnt, 2);
    MT_EQ(es.code[0], KERN_INVALID_ADDRESS);
    MT_EQ(es.code[1], 0x1234);
    MT_EQ(es_send_refs(self), before);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, exc, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_handlers_failure_comes_back_to_the_raiser_and_the_request_rights_are_released)
{
    NU_BEGIN();
    mach_port_t exc = nu_port_with_send();
    mach_port_t self = mach_thread_self();
    mach_port_urefs_t before = es_send_refs(self);
    es_reset(KERN_FAILURE);
    es_server s;
    es_start(&s, exc, 1);
    integer_t code[1] = {7};
    MT_KR(exception_raise(exc, self, TASK, EXC_SOFTWARE, code, 1), KERN_FAILURE);
    pthread_join(s.thread, NULL);
    MT_EQ(es.calls, 1);
    MT_EQ(es.code_cnt, 1);
    MT_EQ(es.code[0], 7);
    /* mach_msg_server destroyed the failed request: the thread right it carried is gone. */
    MT_EQ(es_send_refs(self), before);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, exc, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(exception_raise_state_carries_the_state_both_ways_and_the_flavor_back)
{
    NU_BEGIN();
    mach_port_t exc = nu_port_with_send();
    es_reset(KERN_SUCCESS);
    es.new_flavor = 9;
    es.new_cnt = 5;
    es_server s;
    es_start(&s, exc, 1);
    integer_t code[2] = {1, 2};
    natural_t old_state[3] = {11, 22, 33};
    natural_t new_state[8] = {0};
    mach_msg_type_number_t new_cnt = 8;
    int flavor = 4;
    MT_KR(exception_raise_state(exc, EXC_BREAKPOINT, code, 2, &flavor, old_state, 3, new_state,
                                &new_cnt),
          KERN_SUCCESS);
    pthread_join(s.thread, NULL);
    MT_EQ(es.routine, 2402);
    MT_EQ(es.port, exc);
    MT_EQ(es.exception, EXC_BREAKPOINT);
    MT_EQ(es.code[1], 2);
    MT_EQ(es.flavor, 4);
    MT_EQ(es.old_cnt, 3);
    MT_EQ(es.old_state[0], 11);
    MT_EQ(es.old_state[2], 33);
    MT_EQ(flavor, 9);
    MT_EQ(new_cnt, 5);
    MT_EQ(new_state[0], 100);
    MT_EQ(new_state[4], 104);
    MT_EQ(new_state[5], 0);
    MT_KR(mach_port_destruct(TASK, exc, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_state_larger_than_the_callers_room_is_cut_and_gives_mig_array_too_large)
{
    NU_BEGIN();
    mach_port_t exc = nu_port_with_send();
    es_reset(KERN_SUCCESS);
    es.new_flavor = 4;
    es.new_cnt = 6;
    es_server s;
    es_start(&s, exc, 1);
    integer_t code[1] = {3};
    natural_t new_state[4] = {0};
    mach_msg_type_number_t new_cnt = 2;
    int flavor = 4;
    MT_KR(exception_raise_state(exc, EXC_ARITHMETIC, code, 1, &flavor, new_state, 0, new_state,
                                &new_cnt),
          MIG_ARRAY_TOO_LARGE);
    pthread_join(s.thread, NULL);
    MT_EQ(es.old_cnt, 0);
    MT_EQ(new_cnt, 6);
    MT_EQ(new_state[0], 100);
    MT_EQ(new_state[1], 101);
    MT_EQ(new_state[2], 0);
    MT_KR(mach_port_destruct(TASK, exc, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(exception_raise_state_identity_carries_the_rights_and_a_failure_sends_no_state)
{
    NU_BEGIN();
    mach_port_t exc = nu_port_with_send();
    mach_port_t self = mach_thread_self();
    for (int fail = 0; fail < 2; fail++) {
        es_reset(fail ? KERN_INVALID_ARGUMENT : KERN_SUCCESS);
        es.new_flavor = 7;
        es.new_cnt = 1;
        es_server s;
        es_start(&s, exc, 1);
        integer_t code[2] = {5, 6};
        natural_t old_state[2] = {1, 2};
        natural_t new_state[4] = {0};
        mach_msg_type_number_t new_cnt = 4;
        int flavor = 3;
        MT_KR(exception_raise_state_identity(exc, self, TASK, EXC_BAD_INSTRUCTION, code, 2, &flavor,
                                             old_state, 2, new_state, &new_cnt),
              fail ? KERN_INVALID_ARGUMENT : KERN_SUCCESS);
        pthread_join(s.thread, NULL);
        MT_EQ(es.routine, 2403);
        MT_EQ(es.thread, self);
        MT_EQ(es.task, TASK);
        MT_EQ(es.code[0], 5);
        MT_EQ(es.old_state[1], 2);
        MT_EQ(flavor, fail ? 3 : 7);
        MT_EQ(new_cnt, fail ? 4u : 1u);
        MT_EQ(new_state[0], fail ? 0u : 100u);
    }
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, exc, -1, 0), KERN_SUCCESS);
    NU_END();
}

MT_TEST(more_than_two_codes_or_too_much_state_is_refused_before_anything_is_sent)
{
    NU_BEGIN();
    mach_port_t exc = nu_port_with_send();
    integer_t code[3] = {1, 2, 3};
    MT_KR(exception_raise(exc, TASK, TASK, EXC_SOFTWARE, code, 3), MIG_ARRAY_TOO_LARGE);
    int flavor = 1;
    mach_msg_type_number_t cnt = 1;
    natural_t state[1] = {0};
    MT_KR(exception_raise_state(exc, EXC_SOFTWARE, code, 3, &flavor, state, 1, state, &cnt),
          MIG_ARRAY_TOO_LARGE);
    MT_KR(exception_raise_state(exc, EXC_SOFTWARE, code, 1, &flavor, state, THREAD_STATE_MAX + 1,
                                state, &cnt),
          MIG_ARRAY_TOO_LARGE);
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(mach_port_get_attributes(TASK, exc, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st, &n),
          KERN_SUCCESS);
    MT_EQ(st.mps_msgcount, 0);
    MT_KR(mach_port_destruct(TASK, exc, -1, 0), KERN_SUCCESS);
    NU_END();
}

/* exc_server called directly on a request built by hand. */
typedef union {
    mach_msg_header_t h;
    __Request__exception_raise_t raise;
    __Request__exception_raise_state_t state;
    mig_reply_error_t err;
    uint8_t bytes[sizeof(union __ReplyUnion__exc_subsystem) + 64];
} es_buf;

static void es_raise_request(es_buf *in, mach_port_t exc)
{
    memset(in, 0, sizeof *in);
    in->h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, 0) | MACH_MSGH_BITS_COMPLEX;
    in->h.msgh_size = sizeof in->raise;
    in->h.msgh_local_port = exc;
    in->h.msgh_id = 2401;
    in->raise.msgh_body.msgh_descriptor_count = 2;
    in->raise.thread.type = MACH_MSG_PORT_DESCRIPTOR;
    in->raise.thread.disposition = MACH_MSG_TYPE_PORT_SEND;
    in->raise.task.type = MACH_MSG_PORT_DESCRIPTOR;
    in->raise.task.disposition = MACH_MSG_TYPE_PORT_SEND;
    in->raise.NDR = NDR_record;
    in->raise.exception = EXC_SOFTWARE;
    in->raise.codeCnt = 2;
}

static kern_return_t es_serve_by_hand(es_buf *in, boolean_t *handled)
{
    es_buf out;
    memset(&out, 0, sizeof out);
    *handled = exc_server(&in->h, &out.h);
    MT_EQ(out.h.msgh_id, in->h.msgh_id + 100);
    MT_EQ(MACH_MSGH_BITS_REMOTE(out.h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    return out.err.RetCode;
}

MT_TEST(exc_server_answers_an_id_outside_the_subsystem_with_mig_bad_id_and_false)
{
    es_buf in;
    es_raise_request(&in, MACH_PORT_NULL);
    boolean_t handled = TRUE;
    es_reset(KERN_SUCCESS);
    for (mach_msg_id_t id = 2400; id <= 2404; id += 4) {
        in.h.msgh_id = id;
        MT_EQ(es_serve_by_hand(&in, &handled), MIG_BAD_ID);
        MT_EQ(handled, FALSE);
    }
    MT_EQ(es.calls, 0);
}

MT_TEST(exc_server_refuses_a_malformed_request_without_calling_the_handler)
{
    es_buf in;
    boolean_t handled = FALSE;
    es_reset(KERN_SUCCESS);
    es_raise_request(&in, MACH_PORT_NULL);
    in.h.msgh_bits &= ~MACH_MSGH_BITS_COMPLEX;
    MT_EQ(es_serve_by_hand(&in, &handled), MIG_BAD_ARGUMENTS);
    MT_EQ(handled, TRUE);
    es_raise_request(&in, MACH_PORT_NULL);
    in.raise.codeCnt = 3;
    MT_EQ(es_serve_by_hand(&in, &handled), MIG_BAD_ARGUMENTS);
    es_raise_request(&in, MACH_PORT_NULL);
    in.raise.codeCnt = 1; /* one code in a message sized for two */
    MT_EQ(es_serve_by_hand(&in, &handled), MIG_BAD_ARGUMENTS);
    es_raise_request(&in, MACH_PORT_NULL);
    in.raise.msgh_body.msgh_descriptor_count = 1;
    MT_EQ(es_serve_by_hand(&in, &handled), MIG_BAD_ARGUMENTS);
    es_raise_request(&in, MACH_PORT_NULL);
    in.raise.task.disposition = MACH_MSG_TYPE_PORT_SEND_ONCE;
    MT_EQ(es_serve_by_hand(&in, &handled), MIG_TYPE_ERROR);
    /* exception_raise_state: never complex, and its state count must match its size. */
    memset(&in, 0, sizeof in);
    in.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, 0);
    in.h.msgh_id = 2402;
    in.state.codeCnt = 2;
    in.state.old_stateCnt = 4;
    in.h.msgh_size = (mach_msg_size_t)(sizeof in.state - sizeof in.state.old_state + 3 * 4);
    MT_EQ(es_serve_by_hand(&in, &handled), MIG_BAD_ARGUMENTS);
    in.state.old_stateCnt = THREAD_STATE_MAX + 1;
    in.h.msgh_size = (mach_msg_size_t)sizeof in.state;
    MT_EQ(es_serve_by_hand(&in, &handled), MIG_BAD_ARGUMENTS);
    MT_EQ(es.calls, 0);
}

/* ---- a real exception ------------------------------------------------------------------- */

static void *es_serve_loop(void *arg)
{
    es_server *s = arg;
    (void)mach_msg_server(exc_server, sizeof(union __RequestUnion__exc_subsystem) + 64, s->port, 0);
    return NULL;
}

MT_TEST(a_guard_exception_served_by_mach_msg_server_reaches_catch_exception_raise)
{
    task_exc_guard_behavior_t before = 0;
    (void)task_get_exc_guard_behavior(TASK, &before);
    (void)task_set_exc_guard_behavior(TASK, before | TASK_EXC_GUARD_MP_DELIVER);
    NU_BEGIN();
    mach_port_t exc = nu_port_with_send();
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_GUARD, exc, EXCEPTION_DEFAULT, 0), KERN_SUCCESS);
    es_reset(KERN_SUCCESS);
    es_server s = {.port = exc};
    MT_REQUIRE(pthread_create(&s.thread, NULL, es_serve_loop, &s) == 0);
    mach_port_name_t bogus = nu_port();
    MT_KR(mach_port_mod_refs(TASK, bogus, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    mach_port_t self = mach_thread_self();
    MT_KR(mach_port_deallocate(TASK, bogus), KERN_INVALID_NAME);
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_GUARD, MACH_PORT_NULL, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    /* Destroying the port ends mach_msg_server's receive. */
    MT_KR(mach_port_destruct(TASK, exc, -1, 0), KERN_SUCCESS);
    pthread_join(s.thread, NULL);
    MT_EQ(es.calls, 1);
    MT_EQ(es.routine, 2401);
    MT_EQ(es.port, exc);
    MT_EQ(es.thread, self);
    MT_EQ(es.task, TASK);
    MT_EQ(es.exception, EXC_GUARD);
    MT_EQ(es.code_cnt, 2);
    MT_EQ((uint32_t)es.code[0], bogus); /* the guard's code cut to its low 32 bits */
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    NU_END();
    (void)task_set_exc_guard_behavior(TASK, before);
}

MT_MAIN()
