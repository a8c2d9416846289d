/*
 * exit_destructor_wait.c — a receive that waits in a thread-exit destructor (a key made after
 * the library's own) waits on a word of its own: the word the exiting thread used is no one
 * else's while that receive waits.
 *
 * fe_word_release (embedded/um_msg.c) put the exiting thread's wait word on the free list
 * but left the thread's fe_mine pointing at it; a later destructor's mach_msg that waited
 * armed that word again while a new thread could take it from the list for its own wait. A
 * completed receive's final post then landed on the word both slept on, and the other
 * thread's receive returned it as its own.
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/mach.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

typedef struct {
    mach_msg_header_t h;
    uint32_t payload;
} xd_msg;

typedef struct {
    mach_msg_header_t h;
    uint32_t payload;
    mach_msg_max_trailer_t trailer;
} xd_rcv;

static mach_port_name_t xd_first, xd_dtor_port, xd_other_port;
static pthread_key_t xd_key;
static _Atomic int xd_dtor_waiting;
static mach_msg_return_t xd_dtor_mr, xd_other_mr;
static xd_rcv xd_dtor_buf, xd_other_buf;

static void xd_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void xd_dtor(void *arg)
{
    (void)arg;
    atomic_store(&xd_dtor_waiting, 1);
    xd_dtor_mr = mach_msg(&xd_dtor_buf.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof xd_dtor_buf,
                          xd_dtor_port, 3000, MACH_PORT_NULL);
}

static void *xd_exiting(void *arg)
{
    (void)arg;
    xd_rcv buf;
    /* A receive that waits: this thread gets its word (and the library its key). */
    (void)mach_msg(&buf.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof buf, xd_first, 20,
                   MACH_PORT_NULL);
    if (pthread_key_create(&xd_key, xd_dtor) == 0)
        (void)pthread_setspecific(xd_key, &xd_key);
    return NULL;
}

static void *xd_other(void *arg)
{
    (void)arg;
    xd_other_mr = mach_msg(&xd_other_buf.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0,
                           sizeof xd_other_buf, xd_other_port, 500, MACH_PORT_NULL);
    return NULL;
}

MT_TEST_TIMEOUT(a_receive_in_a_thread_exit_destructor_does_not_share_its_word_with_a_new_thread,
                20)
{
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &xd_first), KERN_SUCCESS);
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &xd_dtor_port),
          KERN_SUCCESS);
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &xd_other_port),
          KERN_SUCCESS);
    pthread_t ex, other;
    MT_REQUIRE(pthread_create(&ex, NULL, xd_exiting, NULL) == 0);
    while (!atomic_load(&xd_dtor_waiting))
        xd_sleep_ms(1);
    xd_sleep_ms(100); /* the destructor's receive sleeps by then */
    MT_REQUIRE(pthread_create(&other, NULL, xd_other, NULL) == 0);
    xd_sleep_ms(100); /* and the new thread's too */

    xd_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = xd_dtor_port;
    m.h.msgh_id = 81;
    m.payload = 0x1234;
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_REQUIRE(pthread_join(other, NULL) == 0);
    MT_REQUIRE(pthread_join(ex, NULL) == 0);
    MT_KR(xd_dtor_mr, MACH_MSG_SUCCESS);
    MT_EQ(xd_dtor_buf.h.msgh_id, 81);
    /* Nothing was sent to the new thread's port: its receive times out. */
    MT_KR(xd_other_mr, MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(mach_task_self(), xd_other_port, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(mach_task_self(), xd_dtor_port, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(mach_task_self(), xd_first, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
}

MT_MAIN()
