/*
 * thread_exit.c — what a thread's end does to its task's rights: its MIG reply port is
 * destroyed with it (Darwin's pthread exit deallocates it), and with it the messages queued
 * there, whose rights are released: a send-once right one of them carried fires its
 * send-once notification, and nothing of the messages stays behind.
 */
#include "notify_util.h"

#include <pthread.h>

/* A message to `dest` (a send right made from its receive right) with a send-once right
 * made from `reply` (MACH_PORT_NULL: none), id `id`, sent without waiting. */
static mach_msg_return_t te_send(mach_port_name_t dest, mach_port_name_t reply, mach_msg_id_t id)
{
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND,
                                 reply ? MACH_MSG_TYPE_MAKE_SEND_ONCE : 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = dest;
    h.msgh_local_port = reply;
    h.msgh_id = id;
    return mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

typedef struct te_thread {
    mach_port_name_t notify;     /* in: the port the queued message carries a right to */
    mach_port_name_t reply_port; /* out: the thread's MIG reply port */
    mach_msg_return_t round, left;
} te_thread;

/* Receives one message of its own on its MIG reply port, then ends with another queued there. */
static void *te_leave_a_message(void *arg)
{
    te_thread *t = arg;
    mach_port_t r = mig_get_reply_port();
    t->reply_port = r;
    nu_msg m;
    t->round = te_send(r, MACH_PORT_NULL, 1);
    if (t->round == MACH_MSG_SUCCESS)
        t->round = nu_recv(r, &m, 0);
    if (t->round == MACH_MSG_SUCCESS && m.h.msgh_id != 1)
        t->round = MACH_RCV_INVALID_DATA;
    t->left = te_send(r, t->notify, 2);
    return NULL;
}

MT_TEST(a_thread_that_ends_destroys_the_messages_queued_on_its_mig_reply_port)
{
    NU_BEGIN();
    mach_port_name_t notify = nu_port();
    MT_REQUIRE(notify != MACH_PORT_NULL);
    /*
     * A message through this thread before any MIG reply port is made (umach: the
     * message lists' thread-exit destructor then runs before the reply port's, which is
     * what destroys the message queued there).
     */
    nu_msg m;
    MT_KR(te_send(notify, MACH_PORT_NULL, 3), MACH_MSG_SUCCESS);
    MT_KR(nu_recv(notify, &m, 0), MACH_MSG_SUCCESS);
    for (int i = 0; i < 3; i++) {
        te_thread t = {.notify = notify};
        pthread_t th;
        MT_REQUIRE(pthread_create(&th, NULL, te_leave_a_message, &t) == 0);
        pthread_join(th, NULL);
        MT_KR(t.round, MACH_MSG_SUCCESS);
        MT_KR(t.left, MACH_MSG_SUCCESS);
        MT_EQ(nu_type(t.reply_port), NU_NO_NAME);
        /* The queued message is destroyed: its send-once right is used by the notification. */
        MT_KR(nu_recv(notify, &m, 0), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
        MT_EQ(nu_status(notify).mps_sorights, 0);
    }
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
