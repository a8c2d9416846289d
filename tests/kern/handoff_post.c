/*
 * handoff_post.c — the embedded front end's handoff (embedded/um_msg.c): a thread whose
 * receive another thread completed returns once that thread has written its buffer, however
 * the posts to its wait word interleave.
 *
 * A post is deferred to its waker's release of the world lock, so one meant for a thread's
 * earlier wait can reach its word during a later one (the earlier wait ended by a timeout or
 * a signal and saw itself woken under the lock before its waker got to post). When that
 * later wait is a handoff, such a late plain post can overwrite the handoff's final post.
 * The test makes that order happen on purpose: a send completes the waiting receive under
 * the lock, a plain post to the receiver's word is deferred after it, and the release runs
 * both in that order. A signal handler's receive on the same thread, while that thread's
 * receive waits and is then completed, waits on a word of its own: the outer receive's final
 * post is not the handler's. A mach_msg that sends and then receives posts a completed small
 * message before it releases the lock and leaves the futex wake of a sleeping receiver to a
 * release: the receiver still wakes.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "embedded/um_embedded.h"
#include "kern/um_kmsg.h"

#include <mach/mach.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

typedef struct {
    mach_msg_header_t h;
    uint32_t payload;
} hp_msg;

typedef struct {
    mach_msg_header_t h;
    uint32_t payload;
    mach_msg_max_trailer_t trailer;
    uint8_t room[256]; /* for the larger messages of the send-and-receive test */
} hp_rcv;

typedef struct {
    mach_port_name_t port;
    uint32_t *_Atomic word; /* the receiving thread's wait word */
    mach_msg_return_t mr;
    hp_rcv buf;
} hp_receiver;

static void *hp_receive(void *arg)
{
    hp_receiver *r = arg;
    um_embedded_enter();
    uint32_t *word = um_embedded_wait_word(); /* the word its receive waits on */
    um_embedded_leave();
    atomic_store(&r->word, word);
    r->mr = mach_msg(&r->buf.h, MACH_RCV_MSG, 0, sizeof r->buf, r->port, MACH_MSG_TIMEOUT_NONE,
                     MACH_PORT_NULL);
    return NULL;
}

/*
 * Start `r`'s receive on its own thread and return once it is asleep in the kernel (word 2:
 * see embedded/um_msg.c), so it reads its word only once woken. Its word, NULL on failure.
 */
static uint32_t *hp_start_asleep(hp_receiver *r, pthread_t *th)
{
    if (pthread_create(th, NULL, hp_receive, r) != 0)
        return NULL;
    uint32_t *word;
    while (!(word = atomic_load(&r->word)))
        sched_yield();
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
    return word;
}

/* A one-way message to `port` carrying `payload`, its send right made from the receive right. */
static void hp_msg_to(hp_msg *m, mach_port_name_t port, mach_msg_id_t id, uint32_t payload)
{
    memset(m, 0, sizeof *m);
    m->h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    m->h.msgh_size = sizeof *m;
    m->h.msgh_remote_port = port;
    m->h.msgh_id = id;
    m->payload = payload;
}

MT_TEST_TIMEOUT(a_handed_off_receive_returns_when_a_late_post_for_an_earlier_wait_follows_its_final_post, 10)
{
    hp_receiver r;
    memset(&r, 0, sizeof r);
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &r.port), KERN_SUCCESS);
    pthread_t th;
    uint32_t *word = hp_start_asleep(&r, &th);
    MT_REQUIRE(word != NULL);

    hp_msg m;
    hp_msg_to(&m, r.port, 77, 0x5eed);
    um_kmsg *k = NULL;
    MT_KR(um_kmsg_prepare(um_embedded_task(), (uint64_t)(uintptr_t)&m, sizeof m, &k),
          MACH_MSG_SUCCESS);
    um_task *t = um_embedded_enter();
    um_msg_send_state s;
    memset(&s, 0, sizeof s);
    s.kmsg = k;
    s.option = MACH_SEND_MSG;
    s.msg_addr = (uint64_t)(uintptr_t)&m;
    s.may_block = false;
    mach_msg_return_t mr = um_msg_send(t, &s); /* completes the waiting receive */
    um_embedded_defer_post(word);               /* the late post of an earlier wait */
    um_embedded_leave();                        /* the final post, then the late one */
    MT_KR(mr, MACH_MSG_SUCCESS);

    MT_REQUIRE(pthread_join(th, NULL) == 0); /* the watchdog fails a receive that never ends */
    MT_KR(r.mr, MACH_MSG_SUCCESS);
    MT_EQ(r.buf.h.msgh_id, 77);
    MT_EQ(r.buf.payload, 0x5eedu);
    MT_KR(mach_port_mod_refs(mach_task_self(), r.port, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
}

MT_TEST_TIMEOUT(a_send_and_receive_that_completes_a_sleeping_receive_wakes_it_for_a_small_and_a_large_message,
                10)
{
    for (int large = 0; large < 2; large++) {
        hp_receiver r;
        memset(&r, 0, sizeof r);
        MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &r.port),
              KERN_SUCCESS);
        mach_port_name_t back;
        MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &back), KERN_SUCCESS);
        pthread_t th;
        MT_REQUIRE(hp_start_asleep(&r, &th) != NULL);
        /* Small: its bytes go beside the receiver's word, posted in the send's lock hold;
         * large: written to the receiver's buffer after a release. */
        struct {
            mach_msg_header_t h;
            uint32_t payload;
            uint8_t more[200];
        } m;
        memset(&m, 0, sizeof m);
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
        m.h.msgh_remote_port = r.port;
        m.h.msgh_id = 90 + large;
        m.payload = 0xb0b0u + (uint32_t)large;
        mach_msg_size_t size =
            large ? (mach_msg_size_t)sizeof m : (mach_msg_size_t)(sizeof m.h + sizeof m.payload);
        MT_KR(mach_msg(&m.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, size, sizeof m, back,
                       100, MACH_PORT_NULL),
              MACH_RCV_TIMED_OUT);
        MT_REQUIRE(pthread_join(th, NULL) == 0); /* the watchdog fails a receiver left asleep */
        MT_KR(r.mr, MACH_MSG_SUCCESS);
        MT_EQ(r.buf.h.msgh_id, 90 + large);
        MT_EQ(r.buf.h.msgh_size, size);
        MT_EQ(r.buf.payload, 0xb0b0u + (uint32_t)large);
        MT_KR(mach_port_mod_refs(mach_task_self(), r.port, MACH_PORT_RIGHT_RECEIVE, -1),
              KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(mach_task_self(), back, MACH_PORT_RIGHT_RECEIVE, -1),
              KERN_SUCCESS);
    }
}

/* The handler's receive, on another port, while its thread's own receive waits. */
static mach_port_name_t hs_port;
static _Atomic int hs_entered;
static mach_msg_return_t hs_mr;

static void hs_handler(int sig)
{
    (void)sig;
    int saved = errno;
    hp_rcv buf;
    atomic_store(&hs_entered, 1);
    hs_mr = mach_msg(&buf.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof buf, hs_port, 300,
                     MACH_PORT_NULL);
    atomic_store(&hs_entered, 2);
    errno = saved;
}

MT_TEST_TIMEOUT(a_signal_handlers_receive_during_a_receive_that_is_handed_off_waits_for_its_own_message,
                10)
{
    hp_receiver r;
    memset(&r, 0, sizeof r);
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &r.port), KERN_SUCCESS);
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &hs_port), KERN_SUCCESS);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hs_handler;
    sigemptyset(&sa.sa_mask);
    MT_REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
    pthread_t th;
    MT_REQUIRE(hp_start_asleep(&r, &th) != NULL);
    MT_REQUIRE(pthread_kill(th, SIGUSR1) == 0);
    while (atomic_load(&hs_entered) == 0)
        sched_yield();
    struct timespec pause = {0, 50 * 1000 * 1000}; /* the handler's receive waits by then */
    nanosleep(&pause, NULL);

    hp_msg m;
    hp_msg_to(&m, r.port, 78, 0xfeed);
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_REQUIRE(pthread_join(th, NULL) == 0);
    MT_EQ(atomic_load(&hs_entered), 2);
    MT_KR(hs_mr, MACH_RCV_TIMED_OUT); /* nothing came for the handler */
    MT_KR(r.mr, MACH_MSG_SUCCESS);
    MT_EQ(r.buf.h.msgh_id, 78);
    MT_EQ(r.buf.payload, 0xfeedu);

    /* No receive of the handler's is left waiting on its port: a message there stays queued. */
    m.h.msgh_remote_port = hs_port;
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    hp_rcv got;
    MT_KR(mach_msg(&got.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof got, hs_port, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(got.payload, 0xfeedu);
    MT_REQUIRE(sigaction(SIGUSR1, &old, NULL) == 0);
    MT_KR(mach_port_mod_refs(mach_task_self(), r.port, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(mach_task_self(), hs_port, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
}

MT_MAIN()
