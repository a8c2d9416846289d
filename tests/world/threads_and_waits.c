/*
 * threads_and_waits.c — runs inside a world (ctest: umach-run -- world_threads_and_waits):
 * a process with many threads is one task, and a thread blocked in mach_msg holds up nobody:
 * other threads make calls and exchange messages meanwhile, then wake it. Timeouts are the
 * daemon's (a receive and a send to a full queue time out; a blocked send goes on when room
 * is made), and a thread cancelled while it waits leaves nothing behind: the message that
 * comes later is the next receiver's.
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/mach.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define TASK mach_task_self()

typedef union {
    struct {
        mach_msg_header_t h;
        uint32_t value;
    } m;
    uint8_t bytes[256];
} tw_buf;

static mach_port_t tw_port(void)
{
    mach_port_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static void tw_drop(mach_port_t p)
{
    (void)mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1);
    (void)mach_port_deallocate(TASK, p);
}

static mach_msg_return_t tw_send(mach_port_t to, uint32_t value, mach_msg_option_t extra,
                                 mach_msg_timeout_t ms)
{
    tw_buf b;
    memset(&b, 0, sizeof b);
    b.m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    b.m.h.msgh_size = sizeof b.m;
    b.m.h.msgh_remote_port = to;
    b.m.h.msgh_id = 7;
    b.m.value = value;
    return mach_msg(&b.m.h, MACH_SEND_MSG | extra, sizeof b.m, 0, MACH_PORT_NULL, ms,
                    MACH_PORT_NULL);
}

static mach_msg_return_t tw_recv(mach_port_t from, tw_buf *b, mach_msg_option_t extra,
                                 mach_msg_timeout_t ms)
{
    memset(b, 0xA5, sizeof *b);
    return mach_msg(&b->m.h, MACH_RCV_MSG | extra, 0, sizeof *b, from, ms, MACH_PORT_NULL);
}

static double tw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    mach_port_t port;
    atomic_int ready; /* its thread connection is open (tw_connected_receiver) */
    atomic_int done;
    mach_msg_return_t mr;
    uint32_t value;
} tw_waiter;

static void *tw_receiver(void *arg)
{
    tw_waiter *w = arg;
    tw_buf b;
    w->mr = tw_recv(w->port, &b, 0, 0); /* no timeout: only a message ends it */
    w->value = b.m.value;
    atomic_store(&w->done, 1);
    return NULL;
}

static void tw_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

MT_TEST(threads_blocked_in_receive_hold_up_no_other_thread_of_the_task)
{
    enum { N = 3 };
    tw_waiter w[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].port = tw_port();
        MT_REQUIRE(w[i].port != MACH_PORT_NULL);
        MT_REQUIRE(pthread_create(&th[i], NULL, tw_receiver, &w[i]) == 0);
    }
    tw_sleep_ms(50); /* let them block (they are woken by messages whenever they do) */
    /* Meanwhile this thread makes calls and talks to itself. */
    mach_port_t mine = tw_port();
    MT_REQUIRE(mine != MACH_PORT_NULL);
    for (uint32_t k = 0; k < 50; k++) {
        mach_port_t p = MACH_PORT_NULL;
        MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        MT_KR(tw_send(mine, k, 0, 0), MACH_MSG_SUCCESS);
        tw_buf b;
        MT_KR(tw_recv(mine, &b, MACH_RCV_TIMEOUT, 5000), MACH_MSG_SUCCESS);
        MT_EQ(b.m.value, k);
    }
    for (int i = 0; i < N; i++)
        MT_EQ(atomic_load(&w[i].done), 0); /* still waiting: nobody sent them anything */
    /* Wake them in reverse order, each with its own message. */
    for (int i = N - 1; i >= 0; i--)
        MT_KR(tw_send(w[i].port, 1000u + (uint32_t)i, 0, 0), MACH_MSG_SUCCESS);
    for (int i = 0; i < N; i++) {
        MT_REQUIRE(pthread_join(th[i], NULL) == 0);
        MT_KR(w[i].mr, MACH_MSG_SUCCESS);
        MT_EQ(w[i].value, 1000u + (uint32_t)i);
        tw_drop(w[i].port);
    }
    tw_drop(mine);
}

MT_TEST(a_receive_times_out_after_its_timeout_and_not_before)
{
    mach_port_t p = tw_port();
    MT_REQUIRE(p != MACH_PORT_NULL);
    tw_buf b;
    double t0 = tw_now();
    MT_KR(tw_recv(p, &b, MACH_RCV_TIMEOUT, 200), MACH_RCV_TIMED_OUT);
    double waited = tw_now() - t0;
    MT_CHECK(waited >= 0.19);
    MT_CHECK(waited < 10.0); /* generous: the machine is loaded */
    MT_KR(tw_recv(p, &b, MACH_RCV_TIMEOUT, 0), MACH_RCV_TIMED_OUT);
    tw_drop(p);
}

typedef struct {
    mach_port_t port;
    mach_msg_return_t mr;
} tw_sender;

static void *tw_blocked_sender(void *arg)
{
    tw_sender *s = arg;
    s->mr = tw_send(s->port, 2, MACH_SEND_TIMEOUT, 20000);
    return NULL;
}

MT_TEST(a_send_to_a_full_queue_times_out_or_goes_on_when_room_is_made)
{
    mach_port_t p = tw_port();
    MT_REQUIRE(p != MACH_PORT_NULL);
    mach_port_limits_t lim = {.mpl_qlimit = 1};
    MT_KR(mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
    MT_KR(tw_send(p, 1, 0, 0), MACH_MSG_SUCCESS);
    double t0 = tw_now();
    MT_KR(tw_send(p, 9, MACH_SEND_TIMEOUT, 150), MACH_SEND_TIMED_OUT);
    MT_CHECK(tw_now() - t0 >= 0.14);
    /* A sender blocked on the full queue goes on once a receive makes room. */
    tw_sender s = {p, 0};
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, tw_blocked_sender, &s) == 0);
    tw_sleep_ms(50);
    tw_buf b;
    MT_KR(tw_recv(p, &b, MACH_RCV_TIMEOUT, 5000), MACH_MSG_SUCCESS);
    MT_EQ(b.m.value, 1u);
    MT_REQUIRE(pthread_join(th, NULL) == 0);
    MT_KR(s.mr, MACH_MSG_SUCCESS);
    MT_KR(tw_recv(p, &b, MACH_RCV_TIMEOUT, 5000), MACH_MSG_SUCCESS);
    MT_EQ(b.m.value, 2u);
    tw_drop(p);
}

/*
 * A receiver whose thread connection is open before it waits: its first call opens it, and
 * only then does it say it is ready and receive.
 */
static void *tw_connected_receiver(void *arg)
{
    tw_waiter *w = arg;
    mach_port_type_t type = 0;
    if (mach_port_type(TASK, w->port, &type) == KERN_SUCCESS)
        atomic_store(&w->ready, 1);
    return tw_receiver(w);
}

/*
 * The cancel comes after the thread's first call has opened its connection: the test is about
 * a thread that waits, and a sleep alone is no promise, on a loaded machine, that a new thread
 * got that far (a cancel during that first call is the next test's).
 */
MT_TEST(a_thread_cancelled_while_it_waits_leaves_the_next_message_to_the_next_receiver)
{
    tw_waiter w;
    memset(&w, 0, sizeof w);
    w.port = tw_port();
    MT_REQUIRE(w.port != MACH_PORT_NULL);
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, tw_connected_receiver, &w) == 0);
    while (!atomic_load(&w.ready) && !atomic_load(&w.done))
        tw_sleep_ms(1); /* the watchdog ends a thread that never gets there */
    MT_EQ(atomic_load(&w.done), 0);
    tw_sleep_ms(100); /* most likely blocked by now; cancelled a little before, it is the same */
    MT_REQUIRE(pthread_cancel(th) == 0); /* its connection closes: the daemon drops its wait */
    MT_REQUIRE(pthread_join(th, NULL) == 0);
    MT_EQ(atomic_load(&w.done), 0);
    MT_KR(tw_send(w.port, 42, 0, 0), MACH_MSG_SUCCESS);
    tw_buf b;
    MT_KR(tw_recv(w.port, &b, MACH_RCV_TIMEOUT, 5000), MACH_MSG_SUCCESS);
    MT_EQ(b.m.value, 42u);
    tw_drop(w.port);
}

/*
 * Cancels that land at every moment of a new thread's first call, while that call opens and
 * joins the thread's connection (connect and recvmsg are cancellation points): each thread
 * ends (the client front end held its lock across them, so a cancel there left it held and
 * the thread's exit handler waited for it forever), and the task's other threads go on.
 */
MT_TEST(a_thread_cancelled_while_its_first_call_opens_its_connection_ends_and_the_task_goes_on)
{
    mach_port_t port = tw_port();
    MT_REQUIRE(port != MACH_PORT_NULL);
    for (int i = 0; i < 200; i++) {
        tw_waiter w;
        memset(&w, 0, sizeof w);
        w.port = port;
        pthread_t th;
        MT_REQUIRE(pthread_create(&th, NULL, tw_receiver, &w) == 0);
        struct timespec ts = {0, (long)(i % 20) * 50000L}; /* 0 to 950 µs into its life */
        nanosleep(&ts, NULL);
        MT_REQUIRE(pthread_cancel(th) == 0);
        MT_REQUIRE(pthread_join(th, NULL) == 0); /* the watchdog ends a join that hangs */
        MT_EQ(atomic_load(&w.done), 0);
    }
    MT_KR(tw_send(port, 43, 0, 0), MACH_MSG_SUCCESS);
    tw_buf b;
    MT_KR(tw_recv(port, &b, MACH_RCV_TIMEOUT, 5000), MACH_MSG_SUCCESS);
    MT_EQ(b.m.value, 43u);
    tw_drop(port);
}

MT_MAIN()
