/*
 * task_call_on_port.c — a task call whose task argument is a send right to an ordinary port
 * is a MIG request queued on that port, as on Darwin: the MIG routines (task_info,
 * task_get_special_port, mach_port_extract_right, semaphore_create, ...) send it, and so do
 * the calls that try a trap first (mach_port_allocate, deallocate, type, mod_refs,
 * get_attributes, request_notification, insert_member: libsystem sends the MIG request when
 * the trap says MACH_SEND_INVALID_DEST, libsyscall/mach/mach_port.c). The caller waits for the reply;
 * the port's receiver decides the result: an error reply's RetCode, a full reply's results,
 * MIG_SERVER_DIED when the request is destroyed unanswered, MIG_REPLY_MISMATCH for a reply of
 * another id. A name that is not a send right (receive right alone, port set, dead name,
 * null) is MACH_SEND_INVALID_DEST at once and queues nothing. A kernel object of another kind
 * (a thread or the host port) gets the kernel's answer for a null task: KERN_INVALID_TASK from
 * the mach_port_* routines, KERN_INVALID_ARGUMENT from task_info and the special-port calls,
 * and nothing is left on the caller's MIG reply port.
 */
#include "notify_util.h"

#include <mach/mig.h>
#include <mach/mig_errors.h>
#include <mach/semaphore.h>
#include <mach/sync_policy.h>
#include <mach/task_info.h>
#include <mach/task_special_ports.h>

#include <pthread.h>

/* MIG message ids of the routines (mach_port.defs: 3200 + n, task.defs: 3400 + n). */
enum {
    TC_MACH_PORT_ALLOCATE = 3204,
    TC_MACH_PORT_DEALLOCATE = 3206,
    TC_TASK_INFO = 3405,
    TC_TASK_GET_SPECIAL_PORT = 3409,
};

/* A task call made on another thread (it waits for the reply), with what it returned. */
typedef struct tc_call {
    mach_port_t task;
    int which;
    kern_return_t kr;
    mach_port_name_t name;
    mach_msg_type_number_t count;
    integer_t info[TASK_INFO_MAX];
    pthread_t thread;
} tc_call;

enum {
    TC_ALLOCATE,
    TC_DEALLOCATE,
    TC_TASK_INFO_CALL,
    TC_GET_SPECIAL_PORT,
    /* the rest: each with its routine's id in tc_more (the id queued on the port) */
    TC_TYPE,
    TC_MOD_REFS,
    TC_GET_ATTRIBUTES,
    TC_SET_ATTRIBUTES,
    TC_EXTRACT_RIGHT,
    TC_REQUEST_NOTIFICATION,
    TC_INSERT_MEMBER,
    TC_SET_SPECIAL_PORT,
    TC_SEMAPHORE_CREATE,
    TC_END
};

static void *tc_run(void *arg)
{
    tc_call *c = arg;
    switch (c->which) {
    case TC_ALLOCATE:
        c->kr = mach_port_allocate(c->task, MACH_PORT_RIGHT_RECEIVE, &c->name);
        break;
    case TC_DEALLOCATE:
        c->kr = mach_port_deallocate(c->task, 0x1234);
        break;
    case TC_TASK_INFO_CALL:
        c->kr = task_info(c->task, TASK_AUDIT_TOKEN, c->info, &c->count);
        break;
    case TC_GET_SPECIAL_PORT:
        c->kr = task_get_special_port(c->task, TASK_BOOTSTRAP_PORT, &c->name);
        break;
    case TC_TYPE: {
        mach_port_type_t type;
        c->kr = mach_port_type(c->task, 0x1234, &type);
        break;
    }
    case TC_MOD_REFS:
        c->kr = mach_port_mod_refs(c->task, 0x1234, MACH_PORT_RIGHT_SEND, 1);
        break;
    case TC_GET_ATTRIBUTES:
        c->count = MACH_PORT_LIMITS_INFO_COUNT;
        c->kr = mach_port_get_attributes(c->task, 0x1234, MACH_PORT_LIMITS_INFO,
                                         (mach_port_info_t)c->info, &c->count);
        break;
    case TC_SET_ATTRIBUTES:
        c->kr = mach_port_set_attributes(c->task, 0x1234, MACH_PORT_LIMITS_INFO,
                                         (mach_port_info_t)c->info, MACH_PORT_LIMITS_INFO_COUNT);
        break;
    case TC_EXTRACT_RIGHT: {
        mach_msg_type_name_t disp;
        c->kr = mach_port_extract_right(c->task, 0x1234, MACH_MSG_TYPE_COPY_SEND, &c->name, &disp);
        break;
    }
    case TC_REQUEST_NOTIFICATION: {
        mach_port_t previous;
        c->kr = mach_port_request_notification(c->task, 0x1234, MACH_NOTIFY_DEAD_NAME, 0,
                                               MACH_PORT_NULL, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                                               &previous);
        break;
    }
    case TC_INSERT_MEMBER:
        c->kr = mach_port_insert_member(c->task, 0x1234, 0x5678);
        break;
    case TC_SET_SPECIAL_PORT:
        c->kr = task_set_special_port(c->task, TASK_BOOTSTRAP_PORT, MACH_PORT_NULL);
        break;
    default: {
        semaphore_t sem;
        c->kr = semaphore_create(c->task, &sem, SYNC_POLICY_FIFO, 0);
        break;
    }
    }
    return NULL;
}

/* The MIG id each call of TC_TYPE... queues (mach_port.defs 3200 + n, task.defs 3400 + n). */
static const mach_msg_id_t tc_more[TC_END] = {
    [TC_TYPE] = 3201,          [TC_MOD_REFS] = 3208,       [TC_GET_ATTRIBUTES] = 3217,
    [TC_SET_ATTRIBUTES] = 3218, [TC_EXTRACT_RIGHT] = 3215,  [TC_REQUEST_NOTIFICATION] = 3213,
    [TC_INSERT_MEMBER] = 3226, [TC_SET_SPECIAL_PORT] = 3410, [TC_SEMAPHORE_CREATE] = 3418,
};

static void tc_start(tc_call *c, mach_port_t task, int which)
{
    memset(c, 0, sizeof *c);
    c->task = task;
    c->which = which;
    c->kr = -1;
    c->name = 0x5678;
    c->count = TASK_AUDIT_TOKEN_COUNT;
    MT_REQUIRE(pthread_create(&c->thread, NULL, tc_run, c) == 0);
}

/* A request received from `port` within 10 s: its id, or -1 (nothing came). */
static mach_msg_id_t tc_receive(mach_port_t port, nu_msg *m)
{
    memset(m, 0, sizeof *m);
    if (mach_msg(&m->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *m, port, 10000,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return -1;
    return m->h.msgh_id;
}

/* The request came with a send-once right to answer on. */
static void tc_expect_reply_right(const nu_msg *m)
{
    MT_EQ(MACH_MSGH_BITS_REMOTE(m->h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_CHECK(MACH_PORT_VALID(m->h.msgh_remote_port));
}

/* Answers a request with a bare error reply (a mig_reply_error_t) of `id` and `ret`. */
static void tc_answer(const nu_msg *req, mach_msg_id_t id, kern_return_t ret)
{
    mig_reply_error_t r;
    memset(&r, 0, sizeof r);
    r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    r.Head.msgh_size = sizeof r;
    r.Head.msgh_remote_port = req->h.msgh_remote_port;
    r.Head.msgh_id = id;
    r.NDR = NDR_record;
    r.RetCode = ret;
    MT_KR(mach_msg(&r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
}

static kern_return_t tc_join(tc_call *c)
{
    pthread_join(c->thread, NULL);
    return c->kr;
}

/*
 * One call of `which` on `port` served by the test: its request (msgh_id `id`) is received,
 * carries a send-once reply right, and is answered with `ret`, which the call returns.
 */
static void tc_round(tc_call *c, mach_port_t port, int which, mach_msg_id_t id, kern_return_t ret)
{
    nu_msg m;
    tc_start(c, port, which);
    MT_EQ(tc_receive(port, &m), id);
    tc_expect_reply_right(&m);
    tc_answer(&m, id + 100, ret);
    MT_EQ(tc_join(c), ret);
}

MT_TEST(a_mig_routine_on_a_plain_port_queues_its_request_and_returns_the_receivers_answer)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    tc_call c;
    tc_round(&c, p, TC_TASK_INFO_CALL, TC_TASK_INFO, KERN_NOT_SUPPORTED);
    tc_round(&c, p, TC_GET_SPECIAL_PORT, TC_TASK_GET_SPECIAL_PORT, KERN_INVALID_ARGUMENT);
    MT_EQ(c.name, 0x5678u); /* not written */
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(a_trap_routed_call_on_a_plain_port_falls_back_to_its_mig_request)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    nu_msg m;
    tc_call c;
    tc_round(&c, p, TC_ALLOCATE, TC_MACH_PORT_ALLOCATE, KERN_NO_SPACE);
    MT_EQ(c.name, 0x5678u);

    /* A full reply's results are the call's. */
    tc_start(&c, p, TC_ALLOCATE);
    MT_EQ(tc_receive(p, &m), TC_MACH_PORT_ALLOCATE);
    struct {
        mach_msg_header_t Head;
        NDR_record_t NDR;
        kern_return_t RetCode;
        mach_port_name_t name;
    } full;
    memset(&full, 0, sizeof full);
    full.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    full.Head.msgh_size = sizeof full;
    full.Head.msgh_remote_port = m.h.msgh_remote_port;
    full.Head.msgh_id = TC_MACH_PORT_ALLOCATE + 100;
    full.NDR = NDR_record;
    full.RetCode = KERN_SUCCESS;
    full.name = 0x1234;
    MT_KR(mach_msg(&full.Head, MACH_SEND_MSG, sizeof full, 0, MACH_PORT_NULL,
                   MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.name, 0x1234u);

    /* A routine with no results: a successful bare reply is success. */
    tc_start(&c, p, TC_DEALLOCATE);
    MT_EQ(tc_receive(p, &m), TC_MACH_PORT_DEALLOCATE);
    tc_answer(&m, TC_MACH_PORT_DEALLOCATE + 100, KERN_SUCCESS);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(other_task_calls_on_a_plain_port_queue_their_routines_request_too)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    nu_msg m;
    tc_call c;
    for (int which = TC_TYPE; which < TC_END; which++) {
        tc_start(&c, p, which);
        mach_msg_id_t id = tc_receive(p, &m);
        MT_EQ(id, tc_more[which]);
        if (id == -1) {
            MT_EQ(tc_join(&c), MACH_SEND_INVALID_DEST); /* it did not wait: nothing to answer */
            continue;
        }
        tc_expect_reply_right(&m);
        tc_answer(&m, id + 100, KERN_NOT_SUPPORTED);
        MT_EQ(tc_join(&c), KERN_NOT_SUPPORTED);
    }
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);

    /* A full reply carrying a right: mach_port_extract_right's caller gets it. */
    mach_port_t q = nu_port();
    MT_REQUIRE(q != MACH_PORT_NULL);
    tc_start(&c, p, TC_EXTRACT_RIGHT);
    MT_EQ(tc_receive(p, &m), tc_more[TC_EXTRACT_RIGHT]);
    struct {
        mach_msg_header_t Head;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t poly;
    } full;
    memset(&full, 0, sizeof full);
    full.Head.msgh_bits =
        MACH_MSGH_BITS_COMPLEX | MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    full.Head.msgh_size = sizeof full;
    full.Head.msgh_remote_port = m.h.msgh_remote_port;
    full.Head.msgh_id = tc_more[TC_EXTRACT_RIGHT] + 100;
    full.body.msgh_descriptor_count = 1;
    full.poly.name = q;
    full.poly.disposition = MACH_MSG_TYPE_MAKE_SEND;
    full.poly.type = MACH_MSG_PORT_DESCRIPTOR;
    MT_KR(mach_msg(&full.Head, MACH_SEND_MSG, sizeof full, 0, MACH_PORT_NULL,
                   MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.name, q); /* a send right to q, under q's own name */
    MT_EQ(nu_refs(q, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_destruct(TASK, q, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(a_request_destroyed_unanswered_is_mig_server_died_and_a_wrong_reply_is_a_mismatch)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    nu_msg m;
    tc_call c;
    tc_start(&c, p, TC_ALLOCATE);
    MT_EQ(tc_receive(p, &m), TC_MACH_PORT_ALLOCATE);
    mach_msg_destroy(&m.h); /* the reply right dies: a send-once notification comes back */
    MT_EQ(tc_join(&c), MIG_SERVER_DIED);

    tc_start(&c, p, TC_TASK_INFO_CALL);
    MT_EQ(tc_receive(p, &m), TC_TASK_INFO);
    tc_answer(&m, 4242, KERN_SUCCESS);
    MT_EQ(tc_join(&c), MIG_REPLY_MISMATCH);

    /* The receiver's right dying with the request queued is the same as destroying it. */
    tc_start(&c, p, TC_DEALLOCATE);
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    for (int i = 0; i < 1000; i++) {
        n = MACH_PORT_RECEIVE_STATUS_COUNT;
        MT_KR(mach_port_get_attributes(TASK, p, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                       &n),
              KERN_SUCCESS);
        if (st.mps_msgcount > 0)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    MT_EQ(st.mps_msgcount, 1u);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    MT_EQ(tc_join(&c), MIG_SERVER_DIED);
}

MT_TEST(a_task_call_on_a_name_that_is_not_a_send_right_is_invalid_dest_and_queues_nothing)
{
    (void)mig_get_reply_port(); /* the reply port a MIG call uses stays in the space */
    NU_BEGIN();
    mach_port_t r = nu_port(), pset = MACH_PORT_NULL, dead = MACH_PORT_NULL;
    MT_REQUIRE(r != MACH_PORT_NULL);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &pset), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    const mach_port_t names[] = {r, pset, dead, MACH_PORT_NULL};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        mach_port_name_t n = 0x5678;
        MT_KR(mach_port_allocate(names[i], MACH_PORT_RIGHT_RECEIVE, &n), MACH_SEND_INVALID_DEST);
        MT_EQ(n, 0x5678u);
        MT_KR(mach_port_deallocate(names[i], 0x1234), MACH_SEND_INVALID_DEST);
        MT_KR(mach_port_mod_refs(names[i], 0x1234, MACH_PORT_RIGHT_SEND, 1),
              MACH_SEND_INVALID_DEST);
        integer_t info[TASK_AUDIT_TOKEN_COUNT];
        mach_msg_type_number_t count = TASK_AUDIT_TOKEN_COUNT;
        MT_KR(task_info(names[i], TASK_AUDIT_TOKEN, info, &count), MACH_SEND_INVALID_DEST);
        MT_KR(task_get_special_port(names[i], TASK_BOOTSTRAP_PORT, &n), MACH_SEND_INVALID_DEST);
        MT_EQ(n, 0x5678u);
    }
    nu_msg m;
    memset(&m, 0, sizeof m);
    MT_KR(mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, r, 0, MACH_PORT_NULL),
          MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, pset, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_DEAD_NAME, -1), KERN_SUCCESS);
    NU_END();
}

/* Messages waiting on this thread's MIG reply port (none after a call has returned). */
static unsigned tc_reply_port_backlog(void)
{
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    memset(&st, 0, sizeof st);
    if (mach_port_get_attributes(TASK, mig_get_reply_port(), MACH_PORT_RECEIVE_STATUS,
                                 (mach_port_info_t)&st, &n) != KERN_SUCCESS)
        return 999;
    return st.mps_msgcount;
}

MT_TEST(a_task_call_on_a_thread_or_host_port_gets_the_kernels_answer_for_a_null_task)
{
    mach_port_t thread = mach_thread_self(), host = mach_host_self();
    const mach_port_t names[] = {thread, host};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        mach_port_name_t n = 0x5678;
        MT_KR(mach_port_allocate(names[i], MACH_PORT_RIGHT_RECEIVE, &n), KERN_INVALID_TASK);
        MT_EQ(n, 0x5678u);
        MT_KR(mach_port_deallocate(names[i], 0x1234), KERN_INVALID_TASK);
        mach_port_type_t type = 0;
        MT_KR(mach_port_type(names[i], 0x1234, &type), KERN_INVALID_TASK);
        integer_t info[TASK_AUDIT_TOKEN_COUNT];
        mach_msg_type_number_t count = TASK_AUDIT_TOKEN_COUNT;
        MT_KR(task_info(names[i], TASK_AUDIT_TOKEN, info, &count), KERN_INVALID_ARGUMENT);
        MT_KR(task_get_special_port(names[i], TASK_BOOTSTRAP_PORT, &n), KERN_INVALID_ARGUMENT);
        MT_EQ(n, 0x5678u);
        MT_EQ(tc_reply_port_backlog(), 0u);
    }
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_MAIN()
