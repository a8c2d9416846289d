/*
 * Several threads of one task working on the same IPC space at once: allocating names,
 * adding and dropping send urefs on a shared port, making and destroying send-once rights on
 * their own ports. Every call is one atomic kernel operation in XNU (the space is locked per
 * call), so the final counts are exact whatever the interleaving.
 *
 * Threads record failed calls in their own counters; the main thread asserts on them.
 */
#include "notify_util.h"

#include <pthread.h>

#define NTHREADS 4
#define ITERS 200
#define NPORTS 64

typedef struct worker {
    pthread_t tid;
    int id;
    mach_port_name_t shared;
    mach_port_name_t own;
    mach_port_name_t names[NPORTS];
    int bad; /* calls that did not return what they should */
} worker;

static worker workers[NTHREADS];

#define W_KR(w, call, want)                                                                    \
    do {                                                                                       \
        if ((call) != (want))                                                                  \
            (w)->bad++;                                                                        \
    } while (0)

static void run_all(void *(*fn)(void *), mach_port_name_t shared)
{
    for (int i = 0; i < NTHREADS; i++) {
        workers[i].id = i;
        workers[i].shared = shared;
        workers[i].bad = 0;
        MT_EQ(pthread_create(&workers[i].tid, NULL, fn, &workers[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        MT_EQ(pthread_join(workers[i].tid, NULL), 0);
        MT_EQ(workers[i].bad, 0);
    }
}

/* Net zero per iteration, then keeps id + 1 extra urefs. */
static void *churn_shared_send_urefs(void *arg)
{
    worker *w = arg;
    mach_port_name_t s = w->shared;
    for (int i = 0; i < ITERS; i++) {
        W_KR(w, mach_port_insert_right(TASK, s, s, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
        W_KR(w, mach_port_insert_right(TASK, s, s, MACH_MSG_TYPE_COPY_SEND), KERN_SUCCESS);
        W_KR(w, mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
        W_KR(w, mach_port_deallocate(TASK, s), KERN_SUCCESS);
        W_KR(w, mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_SEND, -3), KERN_SUCCESS);
    }
    W_KR(w, mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_SEND, w->id + 1), KERN_SUCCESS);
    return NULL;
}

MT_TEST(concurrent_send_uref_changes_on_a_shared_port_leave_exact_counts)
{
    NU_BEGIN();
    mach_port_name_t s = nu_port_with_send();
    MT_REQUIRE(s);
    run_all(churn_shared_send_urefs, s);
    /* 1 + (1 + 2 + 3 + 4) */
    MT_EQ(nu_refs(s, MACH_PORT_RIGHT_SEND), 1 + NTHREADS * (NTHREADS + 1) / 2);
    MT_EQ(nu_type(s), MACH_PORT_TYPE_SEND_RECEIVE);
    mach_port_status_t st = nu_status(s);
    MT_EQ(st.mps_mscount, 1 + NTHREADS * ITERS);
    MT_EQ(st.mps_srights, 1);
    MT_EQ(st.mps_sorights, 0);
    MT_KR(mach_port_destruct(TASK, s, -(1 + NTHREADS * (NTHREADS + 1) / 2), 0), KERN_SUCCESS);
    NU_END();
}

static void *drop_shared_send_urefs(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < ITERS; i++)
        W_KR(w, mach_port_deallocate(TASK, w->shared), KERN_SUCCESS);
    return NULL;
}

MT_TEST(concurrent_deallocation_of_the_last_send_urefs_fires_no_senders_once)
{
    NU_BEGIN();
    mach_port_name_t s = nu_port_with_send(), notify = nu_port(), prev;
    MT_REQUIRE(s && notify);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_SEND, NTHREADS * ITERS - 1),
          KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, s, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    run_all(drop_shared_send_urefs, s);
    MT_EQ(nu_type(s), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(s).mps_srights, 0);
    nu_msg m;
    MT_KR(nu_recv(notify, &m, 1000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
    MT_EQ(m.no_senders.not_count, 1);
    MT_KR(nu_recv(notify, &m, 0), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, s, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

static void *allocate_many(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < NPORTS; i++) {
        w->names[i] = MACH_PORT_NULL;
        W_KR(w, mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &w->names[i]), KERN_SUCCESS);
        W_KR(w, mach_port_insert_right(TASK, w->names[i], w->names[i], MACH_MSG_TYPE_MAKE_SEND),
             KERN_SUCCESS);
    }
    return NULL;
}

static void *destroy_many(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < NPORTS; i++) {
        W_KR(w, mach_port_deallocate(TASK, w->names[i]), KERN_SUCCESS);
        W_KR(w, mach_port_mod_refs(TASK, w->names[i], MACH_PORT_RIGHT_RECEIVE, -1),
             KERN_SUCCESS);
    }
    return NULL;
}

static int cmp_names(const void *a, const void *b)
{
    mach_port_name_t x = *(const mach_port_name_t *)a, y = *(const mach_port_name_t *)b;
    return x < y ? -1 : x > y;
}

MT_TEST(concurrent_allocations_get_distinct_names_and_destroy_cleanly)
{
    NU_BEGIN();
    run_all(allocate_many, MACH_PORT_NULL);
    static mach_port_name_t all[NTHREADS * NPORTS];
    int n = 0;
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 0; i < NPORTS; i++) {
            all[n++] = workers[t].names[i];
            MT_EQ(nu_type(workers[t].names[i]), MACH_PORT_TYPE_SEND_RECEIVE);
            MT_EQ(nu_refs(workers[t].names[i], MACH_PORT_RIGHT_SEND), 1);
        }
    qsort(all, (size_t)n, sizeof all[0], cmp_names);
    int dups = 0;
    for (int i = 1; i < n; i++)
        dups += all[i] == all[i - 1];
    MT_EQ(dups, 0);
    MT_NE(all[0], MACH_PORT_NULL);
    run_all(destroy_many, MACH_PORT_NULL);
    NU_END();
}

/* Each thread mints and drops send-once rights to its own port, then drains the notices. */
static void *send_once_on_own_port(void *arg)
{
    worker *w = arg;
    mach_port_name_t p = MACH_PORT_NULL;
    W_KR(w, mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    W_KR(w, mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO,
                                     (mach_port_info_t)&(mach_port_limits_t){.mpl_qlimit = 1},
                                     MACH_PORT_LIMITS_INFO_COUNT),
         KERN_SUCCESS);
    for (int i = 0; i < ITERS / 4; i++) {
        mach_port_name_t so = MACH_PORT_NULL;
        mach_msg_type_name_t t = 0;
        W_KR(w, mach_port_extract_right(TASK, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t),
             KERN_SUCCESS);
        W_KR(w, t, MACH_MSG_TYPE_PORT_SEND_ONCE);
        W_KR(w, mach_port_deallocate(TASK, so), KERN_SUCCESS);
        nu_msg m;
        W_KR(w, nu_recv(p, &m, 1000), MACH_MSG_SUCCESS);
        W_KR(w, m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    }
    mach_port_status_t st = nu_status(p);
    W_KR(w, st.mps_sorights, 0);
    W_KR(w, st.mps_seqno, ITERS / 4);
    W_KR(w, st.mps_msgcount, 0);
    W_KR(w, mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    return NULL;
}

MT_TEST(concurrent_send_once_rights_on_separate_ports_are_each_accounted_for)
{
    NU_BEGIN();
    run_all(send_once_on_own_port, MACH_PORT_NULL);
    NU_END();
}

/* Threads add and remove dead-name urefs on one shared dead name. */
static void *churn_dead_name(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < ITERS; i++) {
        W_KR(w, mach_port_mod_refs(TASK, w->shared, MACH_PORT_RIGHT_DEAD_NAME, 3), KERN_SUCCESS);
        W_KR(w, mach_port_deallocate(TASK, w->shared), KERN_SUCCESS);
        W_KR(w, mach_port_mod_refs(TASK, w->shared, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    }
    return NULL;
}

MT_TEST(concurrent_dead_name_uref_changes_leave_the_dead_name_as_it_was)
{
    NU_BEGIN();
    mach_port_name_t d;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &d), KERN_SUCCESS);
    run_all(churn_dead_name, d);
    MT_EQ(nu_type(d), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, d), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
