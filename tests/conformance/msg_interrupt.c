/*
 * msg_interrupt.c — signals and blocked mach_msg calls: with MACH_RCV_INTERRUPT /
 * MACH_SEND_INTERRUPT a signal handler ends the wait with MACH_RCV_INTERRUPTED /
 * MACH_SEND_INTERRUPTED (an interrupted send hands its rights back, as a timed-out one does);
 * without them the wait goes on (libsystem's mach_msg retries).
 *
 * The main thread signals the blocked thread again and again until the call returns, so a
 * signal that lands before the thread has blocked does not matter.
 */
#if !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* sigaction, pthread_kill, nanosleep under -std=c11 */
#endif
#include "notify_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

/* Lock-free atomics are safe in a signal handler and between threads. */
static atomic_int handled;

static void on_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

/* SIGUSR1 runs a handler and does not restart interrupted calls. */
static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGUSR1, &sa, NULL);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct {
    mach_port_name_t port, carried, reply;
    mach_msg_option_t extra;
    atomic_int done; /* set by the thread when its call has returned */
    mach_msg_return_t mr;
    union {
        mach_msg_header_t h;
        uint8_t bytes[512];
    } buf;
} call;

static void *receiver(void *arg)
{
    call *c = arg;
    memset(&c->buf, 0xA5, sizeof c->buf);
    c->mr = mach_msg(&c->buf.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT | c->extra, 0, sizeof c->buf,
                     c->port, 10000, MACH_PORT_NULL);
    atomic_store(&c->done, 1);
    return NULL;
}

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_port_descriptor_t d;
} carry_one;

static void *sender(void *arg)
{
    call *c = arg;
    carry_one *m = (carry_one *)(void *)c->buf.bytes;
    memset(m, 0, sizeof *m);
    m->d.name = c->carried;
    m->d.disposition = MACH_MSG_TYPE_MAKE_SEND;
    m->d.type = MACH_MSG_PORT_DESCRIPTOR;
    /* No MACH_SEND_TIMEOUT: the queue is full, so this waits until interrupted or room. */
    m->h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) |
                     MACH_MSGH_BITS_COMPLEX;
    m->h.msgh_remote_port = c->port;
    m->h.msgh_local_port = c->reply;
    m->h.msgh_id = 0x1717;
    m->b.msgh_descriptor_count = 1;
    c->mr = mach_msg(&m->h, MACH_SEND_MSG | c->extra, sizeof *m, 0, MACH_PORT_NULL, 0,
                     MACH_PORT_NULL);
    atomic_store(&c->done, 1);
    return NULL;
}

/* Signal `t` every 10 ms until `c` is done (at most ~5 s); returns how many were sent. */
static int signal_until_done(pthread_t t, call *c)
{
    int sent = 0;
    while (!atomic_load(&c->done) && sent < 500) {
        pthread_kill(t, SIGUSR1);
        sent++;
        sleep_ms(10);
    }
    return sent;
}

static void fill_queue(mach_port_name_t port)
{
    mach_port_limits_t l = {.mpl_qlimit = 1};
    MT_KR(mach_port_set_attributes(TASK, port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_remote_port = port;
    h.msgh_id = 1;
    MT_KR(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
}

MT_TEST(a_signal_ends_a_receive_with_rcv_interrupt_as_rcv_interrupted)
{
    NU_BEGIN();
    install_handler();
    static call c;
    memset(&c, 0, sizeof c);
    c.port = nu_port();
    c.extra = MACH_RCV_INTERRUPT;
    MT_REQUIRE(c.port);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, receiver, &c) == 0);
    atomic_store(&handled, 0);
    MT_CHECK(signal_until_done(t, &c) > 0);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_EQ(c.mr, MACH_RCV_INTERRUPTED);
    MT_CHECK(atomic_load(&handled) > 0);
    MT_EQ(nu_status(c.port).mps_msgcount, 0);
    MT_KR(mach_port_mod_refs(TASK, c.port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(without_rcv_interrupt_signals_do_not_end_the_receive)
{
    NU_BEGIN();
    install_handler();
    static call c;
    memset(&c, 0, sizeof c);
    c.port = nu_port_with_send();
    MT_REQUIRE(c.port);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, receiver, &c) == 0);
    atomic_store(&handled, 0);
    for (int i = 0; i < 10 && !atomic_load(&c.done); i++) {
        pthread_kill(t, SIGUSR1);
        sleep_ms(10);
    }
    MT_CHECK(!atomic_load(&c.done));
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_remote_port = c.port;
    h.msgh_id = 4321;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_EQ(c.mr, MACH_MSG_SUCCESS);
    MT_EQ(c.buf.h.msgh_id, 4321);
    MT_CHECK(atomic_load(&handled) > 0);
    nu_kill(c.port);
    NU_END();
}

MT_TEST(a_signal_ends_a_blocked_send_with_send_interrupt_and_hands_its_rights_back)
{
    NU_BEGIN();
    install_handler();
    static call c;
    memset(&c, 0, sizeof c);
    c.port = nu_port_with_send();
    c.carried = nu_port();
    c.reply = nu_port();
    c.extra = MACH_SEND_INTERRUPT;
    MT_REQUIRE(c.port && c.carried && c.reply);
    fill_queue(c.port);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, sender, &c) == 0);
    MT_CHECK(signal_until_done(t, &c) > 0);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_EQ(c.mr, MACH_SEND_INTERRUPTED);

    /* Pseudo-receive: the header and the descriptor now hold real rights. */
    carry_one *m = (carry_one *)(void *)c.buf.bytes;
    MT_EQ(MACH_MSGH_BITS_REMOTE(m->h.msgh_bits), MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(MACH_MSGH_BITS_LOCAL(m->h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(m->h.msgh_remote_port, c.port);
    MT_EQ(nu_refs(c.port, MACH_PORT_RIGHT_SEND), 2);
    MT_EQ(nu_type(m->h.msgh_local_port), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(m->d.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(m->d.name, c.carried);
    MT_EQ(nu_type(c.carried), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_status(c.port).mps_msgcount, 1);

    /*
     * mach_msg_destroy releases the remote right and the body but never msgh_local_port (it
     * reads the buffer as a received message): the send-once right is released by hand, and
     * its port gets the send-once notification.
     */
    mach_port_name_t so = m->h.msgh_local_port;
    mach_msg_destroy(&m->h);
    MT_EQ(nu_refs(c.port, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(c.carried), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg n;
    MT_KR(nu_recv(c.reply, &n, 0), MACH_MSG_SUCCESS);
    MT_EQ(n.h.msgh_id, MACH_NOTIFY_SEND_ONCE);

    nu_kill(c.port);
    nu_kill(c.carried);
    nu_kill(c.reply);
    NU_END();
}

MT_TEST(without_send_interrupt_signals_do_not_end_a_blocked_send)
{
    NU_BEGIN();
    install_handler();
    static call c;
    memset(&c, 0, sizeof c);
    c.port = nu_port_with_send();
    c.carried = nu_port();
    c.reply = nu_port();
    MT_REQUIRE(c.port && c.carried && c.reply);
    fill_queue(c.port);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, sender, &c) == 0);
    atomic_store(&handled, 0);
    for (int i = 0; i < 10 && !atomic_load(&c.done); i++) {
        pthread_kill(t, SIGUSR1);
        sleep_ms(10);
    }
    MT_CHECK(!atomic_load(&c.done));
    /* Room in the queue lets the send through. */
    nu_msg got;
    MT_KR(nu_recv(c.port, &got, 0), MACH_MSG_SUCCESS);
    MT_EQ(got.h.msgh_id, 1);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_EQ(c.mr, MACH_MSG_SUCCESS);
    MT_CHECK(atomic_load(&handled) > 0);
    MT_KR(nu_recv_buf(c.port, &c.buf, sizeof c.buf, 0), MACH_MSG_SUCCESS);
    MT_EQ(c.buf.h.msgh_id, 0x1717);
    mach_msg_destroy(&c.buf.h);

    nu_kill(c.port);
    nu_kill(c.carried);
    nu_kill(c.reply);
    NU_END();
}

MT_MAIN()
