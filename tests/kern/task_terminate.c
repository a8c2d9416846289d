/*
 * task_terminate.c — a task's death as the kernel core carries it out (um_task_terminate,
 * MACH_FACTS §2.16), seen from the surviving task. Embedded mode has one task per process,
 * so a second task is made here through the core's own interface, given rights to and from
 * this process's task, and then terminated: this process must get exactly the notifications
 * XNU sends, and a thread of it blocked on the dead task's port must be woken.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "api/um_api.h"
#include "embedded/um_embedded.h"
#include "kern_give.h"
#include "kern/um_kmsg.h"

#include <mach/mach.h>
#include <mach/notify.h>

#include <pthread.h>
#include <string.h>
#include <time.h>

#define TASK mach_task_self()

static const um_task_hooks no_hooks = {0};

typedef union {
    mach_msg_header_t h;
    mach_no_senders_notification_t no_senders;
    mach_dead_name_notification_t dead_name;
    mach_send_once_notification_t send_once;
    mach_port_destroyed_notification_t port_destroyed;
    uint8_t bytes[256];
} tt_msg;

static mach_port_name_t tt_port(void)
{
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static mach_msg_return_t tt_recv(mach_port_name_t port, tt_msg *m, mach_msg_timeout_t ms)
{
    memset(m, 0, sizeof *m);
    return mach_msg(&m->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *m, port, ms, MACH_PORT_NULL);
}

/* A send-once right for `notify`'s requests, made from our receive right. */
static mach_port_name_t tt_so(mach_port_name_t port)
{
    mach_port_name_t so = MACH_PORT_NULL;
    mach_msg_type_name_t t;
    if (mach_port_extract_right(TASK, port, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return so;
}

typedef struct {
    mach_port_name_t dest;
    mach_msg_return_t mr;
    int done;
} tt_sender;

static void *tt_blocked_send(void *arg)
{
    tt_sender *s = arg;
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_remote_port = s->dest;
    h.msgh_size = sizeof h;
    h.msgh_id = 2;
    s->mr = mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Wait (bounded) until the thread has blocked in its send: the port's queue is full. */
static int tt_wait_done(tt_sender *s, int ms)
{
    for (int i = 0; i < ms; i++) {
        if (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE))
            return 1;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

MT_TEST(a_dying_task_destroys_every_right_and_the_survivor_gets_xnus_notifications)
{
    /* Ports of this task: each watches one thing the other task does when it dies. */
    mach_port_name_t nsport = tt_port();  /* B holds its only send right: no-senders */
    mach_port_name_t soport = tt_port();  /* B holds a send-once right: send-once */
    mach_port_name_t carried = tt_port(); /* a send right queued on B's port: no-senders */
    mach_port_name_t dnport = tt_port();  /* dead-name notifications for B's port */
    mach_port_name_t pdport = tt_port();  /* port-destroyed: B's other receive right */
    MT_REQUIRE(nsport && soport && carried && dnport && pdport);
    mach_port_name_t prev;
    MT_KR(mach_port_request_notification(TASK, nsport, MACH_NOTIFY_NO_SENDERS, 0, tt_so(nsport),
                                         MACH_MSG_TYPE_MOVE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, carried, MACH_NOTIFY_NO_SENDERS, 0, tt_so(carried),
                                         MACH_MSG_TYPE_MOVE_SEND_ONCE, &prev),
          KERN_SUCCESS);

    um_task *a = um_embedded_enter();
    um_task *b = um_task_create(a->kernel, a->mem, &no_hooks, NULL);
    MT_REQUIRE(b != NULL);
    /* B's receive right RB, with a send right for us and a queue of one message. */
    mach_port_name_t rb_b = MACH_PORT_NULL, pd_b = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(b, b->task_name, MACH_PORT_RIGHT_RECEIVE, &rb_b), KERN_SUCCESS);
    MT_KR(um_api_mach_port_allocate(b, b->task_name, MACH_PORT_RIGHT_RECEIVE, &pd_b), KERN_SUCCESS);
    mach_port_name_t rb = kern_give(b, rb_b, MACH_MSG_TYPE_MAKE_SEND, a);
    MT_REQUIRE(rb != MACH_PORT_NULL);
    um_port *rbp = (um_port *)um_entry_lookup(b->space, rb_b)->object;
    um_mqueue_set_qlimit(rbp, 1);
    /* B's other receive right goes to our pdport when it dies. */
    mach_port_name_t pd_so = kern_give(a, pdport, MACH_MSG_TYPE_MAKE_SEND_ONCE, b);
    MT_KR(um_api_mach_port_request_notification(b, b->task_name, pd_b, MACH_NOTIFY_PORT_DESTROYED,
                                                0, pd_so, MACH_MSG_TYPE_MOVE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    /* B holds the only send right to nsport and a send-once right to soport. */
    MT_REQUIRE(kern_give(a, nsport, MACH_MSG_TYPE_MAKE_SEND, b) != MACH_PORT_NULL);
    MT_REQUIRE(kern_give(a, soport, MACH_MSG_TYPE_MAKE_SEND_ONCE, b) != MACH_PORT_NULL);
    um_embedded_leave();

    /* A dead-name request on our name for RB. */
    MT_KR(mach_port_request_notification(TASK, rb, MACH_NOTIFY_DEAD_NAME, 0, tt_so(dnport),
                                         MACH_MSG_TYPE_MOVE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    /* Queue a message on RB carrying the only send right to `carried`. */
    struct {
        mach_msg_header_t h;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t d;
    } m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, 0, 0, MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_remote_port = rb;
    m.h.msgh_size = sizeof m;
    m.h.msgh_id = 1;
    m.body.msgh_descriptor_count = 1;
    m.d.name = carried;
    m.d.disposition = MACH_MSG_TYPE_MAKE_SEND;
    m.d.type = MACH_MSG_PORT_DESCRIPTOR;
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    /* One of our threads blocks sending to RB (its queue is full). */
    tt_sender s = {.dest = rb, .mr = -1, .done = 0};
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, tt_blocked_send, &s) == 0);
    /* Until it waits on RB's senders (a loaded machine may take long to run the thread). */
    bool queued = false;
    for (int i = 0; i < 10000 && !queued; i++) {
        um_embedded_enter();
        queued = rbp->senders.head != NULL;
        um_embedded_leave();
        if (!queued) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    MT_REQUIRE(queued);
    MT_CHECK(!__atomic_load_n(&s.done, __ATOMIC_ACQUIRE)); /* blocked */

    a = um_embedded_enter();
    um_task_terminate(b);
    um_embedded_leave();

    /* The blocked sender is woken: its message counts as delivered and destroyed. */
    MT_CHECK(tt_wait_done(&s, 10000));
    pthread_join(th, NULL);
    MT_EQ(s.mr, MACH_MSG_SUCCESS);

    tt_msg r;
    MT_KR(tt_recv(nsport, &r, 1000), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
    MT_KR(tt_recv(soport, &r, 1000), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(tt_recv(carried, &r, 1000), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_NO_SENDERS);
    MT_KR(tt_recv(dnport, &r, 1000), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_DEAD_NAME);
    MT_EQ(r.dead_name.not_port, rb);
    MT_KR(tt_recv(pdport, &r, 1000), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_PORT_DESTROYED);
    mach_port_name_t moved = r.port_destroyed.not_port.name;
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, moved, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_RECEIVE);
    /* Nothing else arrives. */
    MT_KR(tt_recv(nsport, &r, 0), MACH_RCV_TIMED_OUT);
    MT_KR(tt_recv(soport, &r, 0), MACH_RCV_TIMED_OUT);
    MT_KR(tt_recv(pdport, &r, 0), MACH_RCV_TIMED_OUT);
    /* Our name for RB is a dead name now (one uref more for the notification). */
    MT_KR(mach_port_type(TASK, rb, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_DEAD_NAME);
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(TASK, rb, MACH_PORT_RIGHT_DEAD_NAME, &refs), KERN_SUCCESS);
    MT_EQ(refs, 2u);

    MT_KR(mach_port_mod_refs(TASK, rb, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, moved, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    mach_port_name_t mine[] = {nsport, soport, carried, dnport, pdport};
    for (unsigned i = 0; i < sizeof mine / sizeof mine[0]; i++)
        MT_KR(mach_port_mod_refs(TASK, mine[i], MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(a_task_with_nothing_but_its_own_port_dies_quietly)
{
    um_task *a = um_embedded_enter();
    um_task *b = um_task_create(a->kernel, a->mem, &no_hooks, NULL);
    MT_REQUIRE(b != NULL);
    mach_port_name_t set = MACH_PORT_NULL, dead = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(b, b->task_name, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(um_api_mach_port_allocate(b, b->task_name, MACH_PORT_RIGHT_DEAD_NAME, &dead),
          KERN_SUCCESS);
    um_task_terminate(b);
    um_embedded_leave();
    /* Our own task is untouched. */
    mach_port_name_t p = tt_port();
    MT_CHECK(p != MACH_PORT_NULL);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_MAIN()
