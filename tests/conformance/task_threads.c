/*
 * task_threads.c — task_threads on the task's own port gives a send right to the port of every
 * thread of the task, threads that never made a Mach call included, in memory the caller frees
 * with vm_deallocate: one port per thread, the name mach_thread_self gives in that thread, one
 * more uref per call; thread_info answers on each; once a thread has ended its port gives a
 * terminated thread's answer. A port that is not a task's gets XNU's codes, and a request sent
 * by hand to the task port is answered as MIG's kernel server answers it.
 */
#ifndef __APPLE__
#define _GNU_SOURCE /* syscall(SYS_gettid) */
#endif
#include "notify_util.h"

#include <mach/mig_errors.h>
#include <mach/thread_info.h>
#include <mach/thread_switch.h>

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>
#ifndef __APPLE__
#include <sys/syscall.h>
#endif

/* The id THREAD_IDENTIFIER_INFO reports for the calling thread, read without Mach: XNU's
 * thread id (pthread_threadid_np), umach's the Linux thread id. */
static uint64_t tt_my_id(void)
{
#ifdef __APPLE__
    uint64_t id = 0;
    (void)pthread_threadid_np(NULL, &id);
    return id;
#else
    return (uint64_t)syscall(SYS_gettid);
#endif
}

/* Threads that make no Mach call: each says its id, then waits until it is let go. */
#define TT_WORKERS 3

typedef struct tt_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned started;
    bool go;
    uint64_t ids[TT_WORKERS];
    pthread_t threads[TT_WORKERS];
    /* A worker asked to name its own port before it ends (-1: none). */
    int self_of;
    mach_port_t self_name;
} tt_pool;

typedef struct tt_arg {
    tt_pool *pool;
    int index;
} tt_arg;

static tt_arg tt_args[TT_WORKERS];

static void *tt_worker(void *arg)
{
    tt_arg *a = arg;
    tt_pool *p = a->pool;
    pthread_mutex_lock(&p->lock);
    p->ids[a->index] = tt_my_id();
    p->started++;
    pthread_cond_broadcast(&p->cond);
    while (!p->go)
        pthread_cond_wait(&p->cond, &p->lock);
    bool name_self = p->self_of == a->index;
    pthread_mutex_unlock(&p->lock);
    if (name_self)
        p->self_name = mach_thread_self();
    return NULL;
}

static void tt_start(tt_pool *p, int self_of)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->self_of = self_of;
    for (int i = 0; i < TT_WORKERS; i++) {
        tt_args[i] = (tt_arg){p, i};
        MT_REQUIRE(pthread_create(&p->threads[i], NULL, tt_worker, &tt_args[i]) == 0);
    }
    pthread_mutex_lock(&p->lock);
    while (p->started < TT_WORKERS)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

static void tt_finish(tt_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->go = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < TT_WORKERS; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
}

/* The thread's id (THREAD_IDENTIFIER_INFO), or 0 when thread_info fails. */
static uint64_t tt_id_of(mach_port_t thread)
{
    thread_identifier_info_data_t info;
    mach_msg_type_number_t n = THREAD_IDENTIFIER_INFO_COUNT;
    if (thread_info(thread, THREAD_IDENTIFIER_INFO, (thread_info_t)&info, &n) != KERN_SUCCESS)
        return 0;
    return info.thread_id;
}

/* The element of `list` whose thread has id `id`, or MACH_PORT_NULL. */
static mach_port_t tt_find(const thread_act_t *list, mach_msg_type_number_t n, uint64_t id)
{
    for (mach_msg_type_number_t i = 0; i < n; i++)
        if (tt_id_of(list[i]) == id)
            return list[i];
    return MACH_PORT_NULL;
}

/* Give back every right of the list and the list's memory. */
static void tt_release(thread_act_array_t list, mach_msg_type_number_t n)
{
    for (mach_msg_type_number_t i = 0; i < n; i++)
        MT_KR(mach_port_deallocate(TASK, list[i]), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, (vm_address_t)list, n * sizeof list[0]), KERN_SUCCESS);
}

/*
 * What a terminated thread's port answers on XNU, depending on how far the thread's teardown
 * went: KERN_TERMINATED (the thread is inactive), KERN_INVALID_ARGUMENT (its port no longer
 * converts to a thread), MACH_SEND_INVALID_DEST (the port is destroyed: a dead name). umach
 * destroys the port of a thread that ended, so it is the last of these.
 */
static void tt_check_ended(mach_port_t thread)
{
    thread_basic_info_data_t b;
    mach_msg_type_number_t n = THREAD_BASIC_INFO_COUNT;
    kern_return_t kr = thread_info(thread, THREAD_BASIC_INFO, (thread_info_t)&b, &n);
    MT_CHECK(kr == MACH_SEND_INVALID_DEST || kr == KERN_INVALID_ARGUMENT || kr == KERN_TERMINATED);
#ifndef __APPLE__
    MT_KR(kr, MACH_SEND_INVALID_DEST);
    MT_EQ(nu_type(thread), MACH_PORT_TYPE_DEAD_NAME);
#endif
}

MT_TEST(task_threads_gives_every_thread_once_with_the_name_mach_thread_self_gives)
{
    NU_BEGIN();
    tt_pool pool;
    tt_start(&pool, -1);
    mach_port_t self = mach_thread_self();
    MT_REQUIRE(MACH_PORT_VALID(self));

    thread_act_array_t list = NULL;
    mach_msg_type_number_t n = 0;
    MT_KR(task_threads(TASK, &list, &n), KERN_SUCCESS);
    MT_REQUIRE(list != NULL);
    MT_CHECK(n >= TT_WORKERS + 1);
    /* Each element a send right to a thread of its own: no two report the same id. */
    uint64_t *ids = calloc(n, sizeof *ids);
    MT_REQUIRE(ids != NULL);
    mach_msg_type_number_t answered = 0;
    for (mach_msg_type_number_t i = 0; i < n; i++) {
        MT_CHECK(MACH_PORT_VALID(list[i]));
        MT_EQ(nu_type(list[i]), MACH_PORT_TYPE_SEND);
        ids[i] = tt_id_of(list[i]);
        answered += ids[i] != 0;
        for (mach_msg_type_number_t j = 0; j < i; j++)
            MT_CHECK(ids[i] == 0 || ids[i] != ids[j]);
    }
    MT_CHECK(answered >= TT_WORKERS + 1);
    free(ids);

    /* The caller's own port is there, under the name mach_thread_self gave. */
    bool found_self = false;
    for (mach_msg_type_number_t i = 0; i < n; i++)
        found_self |= list[i] == self;
    MT_CHECK(found_self);
    MT_EQ(tt_find(list, n, tt_my_id()), self);

    /* Each worker, which never made a Mach call, is there too. */
    mach_port_t workers[TT_WORKERS];
    for (int i = 0; i < TT_WORKERS; i++) {
        workers[i] = tt_find(list, n, pool.ids[i]);
        MT_CHECK(MACH_PORT_VALID(workers[i]));
        MT_NE(workers[i], self);
    }

    /* A second call: the same names, one more uref each. */
    mach_port_urefs_t refs[TT_WORKERS + 1];
    for (int i = 0; i < TT_WORKERS; i++)
        refs[i] = nu_refs(workers[i], MACH_PORT_RIGHT_SEND);
    refs[TT_WORKERS] = nu_refs(self, MACH_PORT_RIGHT_SEND);
    thread_act_array_t again = NULL;
    mach_msg_type_number_t m = 0;
    MT_KR(task_threads(TASK, &again, &m), KERN_SUCCESS);
    for (int i = 0; i < TT_WORKERS; i++) {
        MT_EQ(tt_find(again, m, pool.ids[i]), workers[i]);
        MT_EQ(nu_refs(workers[i], MACH_PORT_RIGHT_SEND), refs[i] + 1);
    }
    MT_EQ(tt_find(again, m, tt_my_id()), self);
    MT_EQ(nu_refs(self, MACH_PORT_RIGHT_SEND), refs[TT_WORKERS] + 1);
    tt_release(again, m);

    /* Keep one right to each worker's port past its end. */
    for (int i = 0; i < TT_WORKERS; i++)
        MT_KR(mach_port_mod_refs(TASK, workers[i], MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    tt_release(list, n);
    tt_finish(&pool);
    for (int i = 0; i < TT_WORKERS; i++) {
        tt_check_ended(workers[i]);
        MT_KR(mach_port_deallocate(TASK, workers[i]), KERN_SUCCESS);
    }
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_thread_that_asks_for_its_port_after_task_threads_gets_the_same_name)
{
    NU_BEGIN();
    tt_pool pool;
    tt_start(&pool, 1);
    thread_act_array_t list = NULL;
    mach_msg_type_number_t n = 0;
    MT_KR(task_threads(TASK, &list, &n), KERN_SUCCESS);
    mach_port_t listed = tt_find(list, n, pool.ids[1]);
    MT_CHECK(MACH_PORT_VALID(listed));
    MT_KR(mach_port_mod_refs(TASK, listed, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    tt_release(list, n);
    /* Worker 1 names its own port, then ends. */
    tt_finish(&pool);
    MT_EQ(pool.self_name, listed);
    MT_KR(mach_port_deallocate(TASK, pool.self_name), KERN_SUCCESS);
    tt_check_ended(listed);
    MT_KR(mach_port_deallocate(TASK, listed), KERN_SUCCESS);
    NU_END();
}

MT_TEST(thread_info_answers_every_flavour_on_a_thread_that_never_made_a_mach_call)
{
    NU_BEGIN();
    tt_pool pool;
    tt_start(&pool, -1);
    thread_act_array_t list = NULL;
    mach_msg_type_number_t n = 0;
    MT_KR(task_threads(TASK, &list, &n), KERN_SUCCESS);
    mach_port_t worker = tt_find(list, n, pool.ids[0]);
    MT_REQUIRE(MACH_PORT_VALID(worker));
    /* It waits in pthread_cond_wait, soon after it said its id. */
    thread_basic_info_data_t b;
    mach_msg_type_number_t count;
    for (int tries = 0; tries < 10000; tries++) {
        count = THREAD_BASIC_INFO_COUNT;
        MT_KR(thread_info(worker, THREAD_BASIC_INFO, (thread_info_t)&b, &count), KERN_SUCCESS);
        if (b.run_state == TH_STATE_WAITING)
            break;
        (void)thread_switch(MACH_PORT_NULL, SWITCH_OPTION_WAIT, 1);
    }
    MT_EQ(count, THREAD_BASIC_INFO_COUNT);
    MT_EQ(b.run_state, TH_STATE_WAITING);
    MT_EQ(b.policy, POLICY_TIMESHARE);
    thread_extended_info_data_t e;
    count = THREAD_EXTENDED_INFO_COUNT;
    MT_KR(thread_info(worker, THREAD_EXTENDED_INFO, (thread_info_t)&e, &count), KERN_SUCCESS);
    MT_EQ(count, THREAD_EXTENDED_INFO_COUNT);
    MT_EQ(e.pth_run_state, TH_STATE_WAITING);
    MT_CHECK(e.pth_priority > 0 && e.pth_priority <= e.pth_maxpriority);
    tt_release(list, n);
    tt_finish(&pool);
    NU_END();
}

MT_TEST(a_port_that_is_not_a_task_port_gets_xnus_codes)
{
    NU_BEGIN();
    thread_act_array_t list = NULL;
    mach_msg_type_number_t n = 0;
    /* No right to send to: the MIG request has nowhere to go. */
    MT_KR(task_threads(MACH_PORT_NULL, &list, &n), MACH_SEND_INVALID_DEST);
    mach_port_name_t recv = nu_port();
    MT_KR(task_threads(recv, &list, &n), MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_mod_refs(TASK, recv, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    mach_port_name_t dead = nu_port_with_send();
    MT_KR(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(dead), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(task_threads(dead, &list, &n), MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    /* A kernel port of another kind converts to no task. */
    mach_port_t thread = mach_thread_self();
    MT_KR(task_threads(thread, &list, &n), KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    mach_port_t host = mach_host_self();
    MT_KR(task_threads(host, &list, &n), KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
    MT_CHECK(list == NULL && n == 0);
    NU_END();
}

/* The reply a MIG server of task.defs sends for task_threads: one send right in the array. */
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_ool_ports_descriptor_t act_list;
    NDR_record_t ndr;
    mach_msg_type_number_t count;
} tt_reply;

typedef struct {
    mach_port_name_t service, given;
    mach_msg_return_t rcv, snd;
    mach_msg_id_t id;
    mach_msg_size_t size;
} tt_server;

/* Receives one request on `service` and answers it with a right to `given` in the array. */
static void *tt_serve(void *arg)
{
    tt_server *s = arg;
    union {
        mach_msg_header_t h;
        uint8_t bytes[512];
    } req;
    s->rcv = mach_msg(&req.h, MACH_RCV_MSG, 0, sizeof req, s->service, MACH_MSG_TIMEOUT_NONE,
                      MACH_PORT_NULL);
    if (s->rcv != MACH_MSG_SUCCESS)
        return NULL;
    s->id = req.h.msgh_id;
    s->size = req.h.msgh_size;
    tt_reply r;
    memset(&r, 0, sizeof r);
    r.head.msgh_bits =
        MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(req.h.msgh_bits), 0) | MACH_MSGH_BITS_COMPLEX;
    r.head.msgh_size = sizeof r;
    r.head.msgh_remote_port = req.h.msgh_remote_port;
    r.head.msgh_id = req.h.msgh_id + 100;
    r.body.msgh_descriptor_count = 1;
    r.act_list.address = &s->given;
    r.act_list.count = 1;
    r.act_list.deallocate = FALSE;
    r.act_list.copy = MACH_MSG_PHYSICAL_COPY;
    r.act_list.disposition = MACH_MSG_TYPE_MAKE_SEND;
    r.act_list.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    r.ndr = NDR_record;
    r.count = 1;
    s->snd = mach_msg(&r.head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                      MACH_PORT_NULL);
    return NULL;
}

MT_TEST(task_threads_on_an_ordinary_port_is_a_mig_request_to_its_receiver)
{
    (void)mig_get_reply_port(); /* the reply port a MIG call uses stays in the space */
    NU_BEGIN();
    tt_server s = {.service = nu_port_with_send(), .given = nu_port()};
    MT_REQUIRE(s.service != MACH_PORT_NULL && s.given != MACH_PORT_NULL);
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, tt_serve, &s) == 0);
    thread_act_array_t list = NULL;
    mach_msg_type_number_t n = 0;
    MT_KR(task_threads(s.service, &list, &n), KERN_SUCCESS);
    pthread_join(th, NULL);
    MT_KR(s.rcv, MACH_MSG_SUCCESS);
    MT_KR(s.snd, MACH_MSG_SUCCESS);
    MT_EQ(s.id, 3402); /* task.defs: task_threads is the task subsystem's routine 2 */
    MT_EQ(s.size, (mach_msg_size_t)sizeof(mach_msg_header_t)); /* no argument */
    MT_EQ(n, 1);
    MT_REQUIRE(list != NULL);
    MT_EQ(list[0], s.given); /* a send right under the receive right's name */
    MT_EQ(nu_type(s.given), MACH_PORT_TYPE_SEND_RECEIVE);
    tt_release(list, n);
    MT_KR(mach_port_mod_refs(TASK, s.given, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, s.service, -1, 0), KERN_SUCCESS);
    NU_END();
}

/* A task_threads reply as received: the array, then NDR and the count; room for a trailer. */
typedef union {
    tt_reply r;
    mig_reply_error_t err;
    uint8_t bytes[sizeof(tt_reply) + MAX_TRAILER_SIZE];
} tt_rbuf;

/* Sends the request (`extra` bytes of in-line arguments after the header, which task_threads
 * has none of) to `task` and receives its reply. */
static mach_msg_return_t tt_rpc(mach_port_t task, mach_msg_size_t extra, tt_rbuf *reply)
{
    mach_port_name_t rp = nu_port();
    if (rp == MACH_PORT_NULL)
        return KERN_RESOURCE_SHORTAGE;
    /* The request is written in the reply's buffer, which the receive then fills. */
    memset(reply, 0, sizeof *reply);
    mach_msg_header_t *h = &reply->r.head;
    h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    h->msgh_size = (mach_msg_size_t)sizeof *h + extra;
    h->msgh_remote_port = task;
    h->msgh_local_port = rp;
    h->msgh_id = 3402;
    mach_msg_return_t mr = mach_msg(h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT,
                                    h->msgh_size, sizeof *reply, rp, 10000, MACH_PORT_NULL);
    (void)mach_port_mod_refs(TASK, rp, MACH_PORT_RIGHT_RECEIVE, -1);
    return mr;
}

MT_TEST(a_task_threads_request_sent_by_hand_to_the_task_port_gets_migs_reply)
{
    NU_BEGIN();
    tt_pool pool;
    tt_start(&pool, -1);
    mach_port_t self = mach_thread_self();
    tt_rbuf rb;
    MT_KR(tt_rpc(TASK, 0, &rb), MACH_MSG_SUCCESS);
    MT_EQ(rb.r.head.msgh_id, 3502);
    MT_CHECK(rb.r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(rb.r.head.msgh_size, (mach_msg_size_t)sizeof(tt_reply));
    MT_EQ(rb.r.body.msgh_descriptor_count, 1);
    MT_EQ(rb.r.act_list.type, MACH_MSG_OOL_PORTS_DESCRIPTOR);
    MT_EQ(rb.r.act_list.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(rb.r.act_list.count, rb.r.count);
    MT_CHECK(rb.r.count >= TT_WORKERS + 1);
    thread_act_t *list = rb.r.act_list.address;
    MT_REQUIRE(list != NULL);
    /* The same ports the direct call gives: the caller's own name among them, and the
     * workers', which thread_info answers on. */
    MT_EQ(tt_find(list, rb.r.count, tt_my_id()), self);
    for (int i = 0; i < TT_WORKERS; i++)
        MT_CHECK(MACH_PORT_VALID(tt_find(list, rb.r.count, pool.ids[i])));
    tt_release(list, rb.r.count);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    tt_finish(&pool);

    /* A request with an argument task_threads does not take. */
    MT_KR(tt_rpc(TASK, 8, &rb), MACH_MSG_SUCCESS);
    MT_EQ(rb.err.Head.msgh_id, 3502);
    MT_EQ(rb.err.Head.msgh_size, (mach_msg_size_t)sizeof(mig_reply_error_t));
    MT_KR(rb.err.RetCode, MIG_BAD_ARGUMENTS);
    NU_END();
}

MT_MAIN()
