/*
 * handoff_signal_semaphore.c — a signal handler's semaphore wait on a thread whose receive a
 * sender has just completed does not keep that receive from returning.
 *
 * The receive sleeps; the sender completes it under the lock and posts the small message's
 * final mark in that same hold (um_embedded_finals_now); meanwhile the signal has woken the
 * receiver and its handler waits for the lock to call semaphore_timedwait(0). That call's
 * um_embedded_wait_word clears the thread's word, the very word the outer receive waits on:
 * the mark is gone, and a receive that waits for the mark (fe_await_final) waits forever.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "embedded/um_embedded.h"
#include "kern/um_kmsg.h"

#include <mach/mach.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

typedef struct {
    mach_msg_header_t h;
    uint32_t payload;
} hs_msg;

typedef struct {
    mach_msg_header_t h;
    uint32_t payload;
    mach_msg_max_trailer_t trailer;
} hs_rcv;

static mach_port_name_t hs_port;
static semaphore_t hs_sem;
static uint32_t *_Atomic hs_word;
static mach_msg_return_t hs_mr;
static hs_rcv hs_buf;
static _Atomic int hs_entered;
static kern_return_t hs_kr;

static void hs_handler(int sig)
{
    (void)sig;
    int saved = errno;
    atomic_store(&hs_entered, 1);
    hs_kr = semaphore_timedwait(hs_sem, (mach_timespec_t){0, 0});
    atomic_store(&hs_entered, 2);
    errno = saved;
}

static void *hs_receive(void *arg)
{
    (void)arg;
    um_embedded_enter();
    uint32_t *word = um_embedded_wait_word();
    um_embedded_leave();
    atomic_store(&hs_word, word);
    hs_mr = mach_msg(&hs_buf.h, MACH_RCV_MSG, 0, sizeof hs_buf, hs_port, MACH_MSG_TIMEOUT_NONE,
                     MACH_PORT_NULL);
    return NULL;
}

MT_TEST_TIMEOUT(a_signal_handlers_semaphore_wait_after_its_threads_receive_was_completed_lets_that_receive_return,
                10)
{
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &hs_port), KERN_SUCCESS);
    MT_KR(semaphore_create(mach_task_self(), &hs_sem, SYNC_POLICY_FIFO, 0), KERN_SUCCESS);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hs_handler;
    sigemptyset(&sa.sa_mask);
    MT_REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, hs_receive, NULL) == 0);
    uint32_t *word;
    while (!(word = atomic_load(&hs_word)))
        sched_yield();
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) != 2) /* asleep in the kernel */
        sched_yield();

    hs_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = hs_port;
    m.h.msgh_id = 79;
    m.payload = 0xabcd;
    um_kmsg *k = NULL;
    MT_KR(um_kmsg_prepare(um_embedded_task(), (uint64_t)(uintptr_t)&m, sizeof m, &k),
          MACH_MSG_SUCCESS);
    um_task *t = um_embedded_enter();
    MT_REQUIRE(pthread_kill(th, SIGUSR1) == 0);
    while (atomic_load(&hs_entered) == 0)
        sched_yield();
    struct timespec pause = {0, 50 * 1000 * 1000}; /* the handler waits for the lock by then */
    nanosleep(&pause, NULL);
    um_msg_send_state s;
    memset(&s, 0, sizeof s);
    s.kmsg = k;
    s.option = MACH_SEND_MSG;
    s.msg_addr = (uint64_t)(uintptr_t)&m;
    s.may_block = false;
    mach_msg_return_t mr = um_msg_send(t, &s); /* completes the sleeping receive */
    (void)um_embedded_finals_now(); /* the small message's final post, in this lock hold */
    uint32_t marked = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    um_embedded_leave(); /* the handler takes the lock next, and its semaphore call the word */
    MT_KR(mr, MACH_MSG_SUCCESS);
    MT_EQ(marked & 3u, 3u); /* the final post's mark was there before the handler ran */

    MT_REQUIRE(pthread_join(th, NULL) == 0); /* the watchdog fails a receive that never ends */
    MT_EQ(atomic_load(&hs_entered), 2);
    MT_KR(hs_kr, KERN_OPERATION_TIMED_OUT);
    MT_KR(hs_mr, MACH_MSG_SUCCESS);
    MT_EQ(hs_buf.h.msgh_id, 79);
    MT_EQ(hs_buf.payload, 0xabcdu);
    MT_REQUIRE(sigaction(SIGUSR1, &old, NULL) == 0);
    MT_KR(semaphore_destroy(mach_task_self(), hs_sem), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(mach_task_self(), hs_port, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
}

MT_MAIN()
