/*
 * rcv_large_next_receiver.c — a message too large for the first waiting receiver, which asked
 * for MACH_RCV_LARGE, goes to the next one. XNU's ipc_mqueue_post lets that receiver go
 * without the message (MACH_RCV_TOO_LARGE, the size it needs) and looks for another waiting
 * thread for the message; a second thread receiving on the same port with a buffer large
 * enough gets it at once, instead of sleeping while the message stays queued.
 * The core's wait queues are looked at (through the world lock) only to order the two waits.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "embedded/um_embedded.h"
#include "kern/um_kmsg.h"

#include <mach/mach.h>

#include <pthread.h>
#include <string.h>
#include <time.h>

#define TASK mach_task_self()

typedef struct {
    mach_msg_header_t h;
    uint8_t body[200];
} big_msg;

typedef struct {
    mach_port_name_t port;
    mach_msg_size_t size;     /* the receive's buffer size */
    mach_msg_option_t option; /* besides MACH_RCV_MSG | MACH_RCV_TIMEOUT */
    mach_msg_return_t mr;
    struct {
        big_msg m;
        mach_msg_max_trailer_t trailer;
    } buf;
} rl_receiver;

static void *rl_receive(void *arg)
{
    rl_receiver *r = arg;
    memset(&r->buf, 0, sizeof r->buf);
    /* Long enough for any loaded machine; a receive the message never reaches times out. */
    r->mr = mach_msg(&r->buf.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT | r->option, 0, r->size,
                     r->port, 5000, MACH_PORT_NULL);
    return NULL;
}

/* How many threads wait to receive on the port. */
static unsigned rl_waiting(mach_port_name_t name)
{
    um_task *t = um_embedded_enter();
    um_entry *e = um_entry_lookup(t->space, name);
    unsigned n = 0;
    if (e && (e->type & MACH_PORT_TYPE_RECEIVE))
        for (const um_waiter *w = ((um_port *)e->object)->receivers.head; w; w = w->next)
            n++;
    um_embedded_leave();
    return n;
}

static bool rl_wait_for(mach_port_name_t port, unsigned n)
{
    for (int i = 0; i < 10000; i++) {
        if (rl_waiting(port) >= n)
            return true;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

MT_TEST(a_message_too_large_for_a_rcv_large_receiver_goes_to_the_next_waiting_one)
{
    mach_port_name_t port = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &port), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, port, port, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);

    /* First waiter: a header's room, MACH_RCV_LARGE. Second: room for the message. */
    rl_receiver small = {.port = port, .size = sizeof(mach_msg_header_t),
                         .option = MACH_RCV_LARGE, .mr = -1};
    rl_receiver large = {.port = port, .size = sizeof large.buf, .option = 0, .mr = -1};
    pthread_t ts, tl;
    MT_REQUIRE(pthread_create(&ts, NULL, rl_receive, &small) == 0);
    MT_REQUIRE(rl_wait_for(port, 1));
    MT_REQUIRE(pthread_create(&tl, NULL, rl_receive, &large) == 0);
    MT_REQUIRE(rl_wait_for(port, 2));

    big_msg m;
    memset(&m, 0x5c, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    m.h.msgh_remote_port = port;
    m.h.msgh_local_port = MACH_PORT_NULL;
    m.h.msgh_voucher_port = MACH_PORT_NULL;
    m.h.msgh_size = sizeof m;
    m.h.msgh_id = 0x1a56e;
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    pthread_join(ts, NULL);
    pthread_join(tl, NULL);

    /* The first learns the size it needs; the second has the message. */
    MT_KR(small.mr, MACH_RCV_TOO_LARGE);
    MT_EQ(small.buf.m.h.msgh_size, sizeof m);
    MT_KR(large.mr, MACH_MSG_SUCCESS);
    MT_EQ(large.buf.m.h.msgh_id, 0x1a56e);
    MT_EQ(large.buf.m.h.msgh_size, sizeof m);
    MT_CHECK(large.buf.m.body[0] == 0x5c && large.buf.m.body[199] == 0x5c);
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(mach_port_get_attributes(TASK, port, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st, &n),
          KERN_SUCCESS);
    MT_EQ(st.mps_msgcount, 0);

    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

MT_MAIN()
