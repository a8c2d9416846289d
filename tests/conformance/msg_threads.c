/* Messages between threads: competing receivers, RPC round trips, ports dying under waiters. */
#if !defined(__APPLE__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* nanosleep and MAP_ANONYMOUS under -std=c11 */
#endif
#include "notify_util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define TH_NMSG 400
#define TH_NRECV 4
#define TH_STOP 100000

typedef struct {
    mach_msg_header_t h;
    uint32_t value;
} th_msg;

static void th_sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static mach_msg_return_t th_send(mach_port_name_t dest, mach_msg_type_name_t disp,
                                 mach_port_name_t reply, mach_msg_type_name_t rdisp,
                                 mach_msg_id_t id, uint32_t value)
{
    th_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(disp, rdisp);
    m.h.msgh_remote_port = dest;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = id;
    m.value = value;
    return mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

/* ---- competing receivers -------------------------------------------------------------- */

typedef struct {
    mach_port_name_t port;
    pthread_mutex_t *lock;
    int *seen; /* TH_NMSG counters */
    int count;
    int bad;
} th_receiver;

static void *th_receiver_main(void *arg)
{
    th_receiver *r = arg;
    for (;;) {
        nu_msg m;
        mach_msg_return_t mr = nu_recv(r->port, &m, 10000);
        if (mr != MACH_MSG_SUCCESS) {
            r->bad++;
            return NULL;
        }
        if (m.h.msgh_id == TH_STOP)
            return NULL;
        uint32_t v;
        memcpy(&v, m.bytes + sizeof(mach_msg_header_t), sizeof v);
        if (m.h.msgh_id < 0 || m.h.msgh_id >= TH_NMSG || v != (uint32_t)m.h.msgh_id * 3u) {
            r->bad++;
            continue;
        }
        pthread_mutex_lock(r->lock);
        r->seen[m.h.msgh_id]++;
        pthread_mutex_unlock(r->lock);
        r->count++;
    }
}

MT_TEST(several_receivers_on_one_port_each_get_distinct_messages)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    static int seen[TH_NMSG];
    memset(seen, 0, sizeof seen);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    th_receiver r[TH_NRECV];
    pthread_t t[TH_NRECV];
    for (int i = 0; i < TH_NRECV; i++) {
        r[i] = (th_receiver){.port = port, .lock = &lock, .seen = seen};
        MT_REQUIRE(pthread_create(&t[i], NULL, th_receiver_main, &r[i]) == 0);
    }
    /* the default qlimit (5) makes the sender block now and then: that is part of the test */
    for (int i = 0; i < TH_NMSG; i++)
        MT_KR(th_send(port, MACH_MSG_TYPE_COPY_SEND, 0, 0, i, (uint32_t)i * 3u), MACH_MSG_SUCCESS);
    for (int i = 0; i < TH_NRECV; i++)
        MT_KR(th_send(port, MACH_MSG_TYPE_COPY_SEND, 0, 0, TH_STOP, 0), MACH_MSG_SUCCESS);
    int total = 0, bad = 0;
    for (int i = 0; i < TH_NRECV; i++) {
        MT_EQ(pthread_join(t[i], NULL), 0);
        total += r[i].count;
        bad += r[i].bad;
    }
    MT_EQ(total, TH_NMSG);
    MT_EQ(bad, 0);
    int once = 0;
    for (int i = 0; i < TH_NMSG; i++)
        once += seen[i] == 1;
    MT_EQ(once, TH_NMSG);
    mach_port_status_t st = nu_status(port);
    MT_EQ(st.mps_msgcount, 0);
    MT_EQ(st.mps_seqno, TH_NMSG + TH_NRECV);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 1);
    pthread_mutex_destroy(&lock);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

/* ---- RPC ------------------------------------------------------------------------------ */

static void *th_server_main(void *arg)
{
    mach_port_name_t service = *(mach_port_name_t *)arg;
    for (;;) {
        nu_msg m;
        if (nu_recv(service, &m, 10000) != MACH_MSG_SUCCESS)
            return NULL;
        if (m.h.msgh_id == TH_STOP)
            return NULL;
        uint32_t v;
        memcpy(&v, m.bytes + sizeof(mach_msg_header_t), sizeof v);
        /* reply through the send-once right the request carried */
        if (MACH_MSGH_BITS_REMOTE(m.h.msgh_bits) != MACH_MSG_TYPE_PORT_SEND_ONCE ||
            th_send(m.h.msgh_remote_port, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, m.h.msgh_id + 100,
                    v + 1) != MACH_MSG_SUCCESS)
            return NULL;
    }
}

MT_TEST(rpc_round_trips_between_threads_use_one_send_once_reply_each)
{
    NU_BEGIN();
    mach_port_name_t service = nu_port_with_send(), reply = nu_port();
    MT_REQUIRE(service && reply);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, th_server_main, &service) == 0);
    int good = 0;
    for (int i = 0; i < 100; i++) {
        union {
            th_msg m;
            uint8_t bytes[sizeof(th_msg) + MAX_TRAILER_SIZE];
        } u;
        memset(&u, 0, sizeof u);
        u.m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        u.m.h.msgh_remote_port = service;
        u.m.h.msgh_local_port = reply;
        u.m.h.msgh_id = 500 + i;
        u.m.value = (uint32_t)i;
        mach_msg_return_t mr = mach_msg(&u.m.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT,
                                        sizeof u.m, sizeof u, reply, 10000, MACH_PORT_NULL);
        good += mr == MACH_MSG_SUCCESS && u.m.h.msgh_id == 600 + i &&
                u.m.value == (uint32_t)i + 1 && u.m.h.msgh_local_port == reply &&
                u.m.h.msgh_remote_port == MACH_PORT_NULL &&
                u.m.h.msgh_bits == MACH_MSGH_BITS(0, MACH_MSG_TYPE_PORT_SEND_ONCE) &&
                u.m.h.msgh_size == sizeof u.m;
    }
    MT_EQ(good, 100);
    MT_KR(th_send(service, MACH_MSG_TYPE_COPY_SEND, 0, 0, TH_STOP, 0), MACH_MSG_SUCCESS);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_EQ(nu_status(reply).mps_sorights, 0);
    MT_EQ(nu_status(reply).mps_seqno, 100);
    MT_EQ(nu_status(service).mps_seqno, 101);
    MT_EQ(nu_refs(service, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_deallocate(TASK, service), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, service, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

/* ---- a message for a receiver that already waits ------------------------------------------ */

/*
 * A sender that finds a receiver waiting may complete the receive for it (umach hands the
 * message over, as XNU does): what the receiver gets must be what a receive that was not
 * waiting gets. Each test passes whether or not the thread had blocked before the send.
 */
typedef struct {
    mach_port_name_t port;
    mach_msg_option_t extra;
    mach_msg_option_t trailer; /* the trailer's MACH_RCV_TRAILER_* options */
    mach_msg_size_t size;
    atomic_int started;
    mach_msg_return_t mr;
    nu_msg m;
    mach_msg_header_t *buf; /* receive here instead of into m, when set */
} th_waiting;

static void *th_waiting_receiver(void *arg)
{
    th_waiting *w = arg;
    memset(&w->m, 0xA5, sizeof w->m);
    atomic_store(&w->started, 1);
    w->mr = mach_msg(w->buf ? w->buf : &w->m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT | w->trailer | w->extra,
                     0, w->size, w->port, 10000, MACH_PORT_NULL);
    return NULL;
}

/*
 * Start thread `t` receiving from `port` into `size` bytes at `buf` (NULL: w->m), with the
 * trailer options `trailer` and the options `extra`, and return once it has had time to
 * block in mach_msg. 0: no thread.
 */
static int th_waiting_start_trailer(th_waiting *w, mach_port_name_t port, mach_msg_header_t *buf,
                                    mach_msg_size_t size, mach_msg_option_t extra,
                                    mach_msg_option_t trailer, pthread_t *t)
{
    memset(w, 0, sizeof *w);
    w->port = port;
    w->extra = extra;
    w->trailer = trailer;
    w->buf = buf;
    w->size = size;
    if (pthread_create(t, NULL, th_waiting_receiver, w) != 0)
        return 0;
    while (!atomic_load(&w->started))
        th_sleep_ms(1);
    th_sleep_ms(20);
    return 1;
}

/* As th_waiting_start_trailer, with the audit trailer. */
static int th_waiting_start(th_waiting *w, mach_port_name_t port, mach_msg_header_t *buf,
                            mach_msg_size_t size, mach_msg_option_t extra, pthread_t *t)
{
    return th_waiting_start_trailer(w, port, buf, size, extra,
                                    MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                                        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT),
                                    t);
}

MT_TEST(a_receiver_that_already_waits_gets_the_message_with_its_rights_named_and_its_trailer)
{
    NU_BEGIN();
    static th_waiting w;
    mach_port_name_t port = nu_port(), carried = nu_port_with_send(), reply = nu_port();
    MT_REQUIRE(port && carried && reply);
    pthread_t t;
    MT_REQUIRE(th_waiting_start(&w, port, NULL, sizeof w.m, 0, &t));
    union {
        nu_carry_msg c;
        uint8_t bytes[sizeof(nu_carry_msg)];
    } m;
    memset(&m, 0, sizeof m);
    m.c.d.name = carried;
    m.c.d.disposition = MACH_MSG_TYPE_COPY_SEND;
    m.c.d.type = MACH_MSG_PORT_DESCRIPTOR;
    MT_KR(nu_send_complex(&m.c.h, 1, sizeof m.c.d, w.port, MACH_MSG_TYPE_MAKE_SEND, reply,
                          MACH_MSG_TYPE_MAKE_SEND_ONCE, 77),
          MACH_MSG_SUCCESS);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_KR(w.mr, MACH_MSG_SUCCESS);
    const nu_carry_msg *r = (const nu_carry_msg *)(const void *)w.m.bytes;
    MT_EQ(r->h.msgh_bits, MACH_MSGH_BITS_SET(MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND,
                                             0, MACH_MSGH_BITS_COMPLEX));
    MT_EQ(r->h.msgh_size, sizeof(nu_carry_msg));
    MT_EQ(r->h.msgh_local_port, w.port);
    MT_EQ(r->h.msgh_id, 77);
    MT_EQ(nu_type(r->h.msgh_remote_port), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(r->b.msgh_descriptor_count, 1);
    MT_EQ(r->d.name, carried);
    MT_EQ(r->d.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(nu_refs(carried, MACH_PORT_RIGHT_SEND), 2);
    /* The destination's send right names the receive right we hold and is not kept. */
    MT_EQ(nu_refs(w.port, MACH_PORT_RIGHT_SEND), 0);
    const mach_msg_audit_trailer_t *tr = nu_trailer(&w.m);
    MT_EQ(tr->msgh_trailer_type, MACH_MSG_TRAILER_FORMAT_0);
    MT_EQ(tr->msgh_trailer_size, sizeof(mach_msg_audit_trailer_t));
    MT_EQ(tr->msgh_seqno, 0);
    MT_EQ(nu_status(w.port).mps_msgcount, 0);
    MT_EQ(nu_status(w.port).mps_seqno, 1);
    MT_EQ(nu_status(reply).mps_sorights, 1);
    MT_KR(mach_port_deallocate(TASK, r->h.msgh_remote_port), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, carried), KERN_SUCCESS);
    nu_kill(carried);
    nu_kill(w.port);
    nu_kill(reply);
    NU_END();
}

MT_TEST(a_receiver_that_already_waits_with_a_small_buffer_and_rcv_large_leaves_the_message_queued)
{
    NU_BEGIN();
    static th_waiting w;
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    pthread_t t;
    MT_REQUIRE(th_waiting_start(&w, port, NULL, sizeof(mach_msg_header_t), MACH_RCV_LARGE, &t));
    MT_KR(th_send(w.port, MACH_MSG_TYPE_COPY_SEND, 0, 0, 78, 5), MACH_MSG_SUCCESS);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_KR(w.mr, MACH_RCV_TOO_LARGE);
    MT_EQ(w.m.h.msgh_size, sizeof(th_msg));
    MT_EQ(w.m.h.msgh_id, (mach_msg_id_t)0xA5A5A5A5u); /* nothing else is written */
    MT_EQ(nu_status(w.port).mps_msgcount, 1);
    nu_msg m;
    MT_KR(nu_recv(w.port, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 78);
    MT_EQ(nu_trailer(&m)->msgh_seqno, 0);
    nu_kill(w.port);
    NU_END();
}

MT_TEST(a_receiver_that_already_waits_with_a_small_buffer_loses_the_message_and_its_rights)
{
    NU_BEGIN();
    static th_waiting w;
    mach_port_name_t port = nu_port_with_send(), reply = nu_port();
    MT_REQUIRE(port && reply);
    pthread_t t;
    MT_REQUIRE(th_waiting_start(&w, port, NULL, sizeof(mach_msg_header_t), 0, &t));
    MT_KR(th_send(w.port, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 79, 5),
          MACH_MSG_SUCCESS);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_KR(w.mr, MACH_RCV_TOO_LARGE);
    MT_EQ(w.m.h.msgh_id, 79);
    MT_EQ(w.m.h.msgh_local_port, w.port);
    MT_EQ(nu_status(w.port).mps_msgcount, 0);
    MT_EQ(nu_status(w.port).mps_seqno, 1);
    /* The destroyed message's send-once right went to the reply port as its notification. */
    nu_msg m;
    MT_KR(nu_recv(reply, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(reply).mps_sorights, 0);
    nu_kill(w.port);
    nu_kill(reply);
    NU_END();
}

MT_TEST(a_receiver_that_already_waits_gets_a_simple_message_with_its_reply_right_and_its_trailer)
{
    NU_BEGIN();
    static th_waiting w;
    mach_port_name_t port = nu_port_with_send(), reply = nu_port();
    MT_REQUIRE(port && reply);
    pthread_t t;
    MT_REQUIRE(th_waiting_start(&w, port, NULL, sizeof w.m, 0, &t));
    MT_KR(th_send(w.port, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 80,
                  0x5eed),
          MACH_MSG_SUCCESS);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_KR(w.mr, MACH_MSG_SUCCESS);
    MT_EQ(w.m.h.msgh_bits,
          MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND));
    MT_EQ(w.m.h.msgh_size, sizeof(th_msg));
    MT_EQ(w.m.h.msgh_local_port, w.port);
    MT_EQ(w.m.h.msgh_id, 80);
    MT_EQ(nu_type(w.m.h.msgh_remote_port), MACH_PORT_TYPE_SEND_ONCE);
    uint32_t v;
    memcpy(&v, w.m.bytes + sizeof(mach_msg_header_t), sizeof v);
    MT_EQ(v, 0x5eedu);
    const mach_msg_audit_trailer_t *tr = nu_trailer(&w.m);
    MT_EQ(tr->msgh_trailer_type, MACH_MSG_TRAILER_FORMAT_0);
    MT_EQ(tr->msgh_trailer_size, sizeof(mach_msg_audit_trailer_t));
    MT_EQ(tr->msgh_seqno, 0);
    MT_EQ(tr->msgh_sender.val[0], (unsigned)geteuid());
    /* Nothing is written past the trailer. */
    MT_EQ(w.m.bytes[sizeof(th_msg) + sizeof(mach_msg_audit_trailer_t)], 0xA5);
    MT_EQ(nu_status(w.port).mps_msgcount, 0);
    MT_EQ(nu_status(reply).mps_sorights, 1);
    /* The reply right works: the answer arrives on the reply port. */
    MT_KR(th_send(w.m.h.msgh_remote_port, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 81, 1),
          MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(reply, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 81);
    MT_EQ(nu_status(reply).mps_sorights, 0);
    nu_kill(w.port);
    nu_kill(reply);
    NU_END();
}

/*
 * A receiver already waits on a buffer whose header is writable and whose payload and trailer
 * would land in a read-only page (the default trailer asked for when `trailer`): it loses
 * message `id` with MACH_RCV_INVALID_DATA, the sender succeeds, and the next message (id + 1)
 * is received as usual (the sender's thread, which may have written the buffer, goes on).
 */
static void th_unwritable_tail(bool trailer, mach_msg_id_t id)
{
    static th_waiting w;
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *pages =
        mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(pages != MAP_FAILED);
    MT_REQUIRE(mprotect(pages + page, page, PROT_READ) == 0);
    mach_msg_header_t *buf =
        (mach_msg_header_t *)(void *)(pages + page - sizeof(mach_msg_header_t));
    pthread_t t;
    if (trailer)
        MT_REQUIRE(th_waiting_start_trailer(&w, port, buf, 256, 0,
                                            MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0), &t));
    else
        MT_REQUIRE(th_waiting_start(&w, port, buf, 256, 0, &t));
    MT_KR(th_send(w.port, MACH_MSG_TYPE_COPY_SEND, 0, 0, id, 1), MACH_MSG_SUCCESS);
    MT_EQ(pthread_join(t, NULL), 0);
    MT_KR(w.mr, MACH_RCV_INVALID_DATA);
    MT_EQ(nu_status(w.port).mps_msgcount, 0);
    MT_EQ(nu_status(w.port).mps_seqno, 1);
    MT_KR(th_send(w.port, MACH_MSG_TYPE_COPY_SEND, 0, 0, id + 1, 2), MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(w.port, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, id + 1);
    MT_EQ(munmap(pages, 2 * page), 0);
    nu_kill(w.port);
}

MT_TEST(a_receiver_that_already_waits_on_a_buffer_it_cannot_write_loses_the_message_and_the_sender_succeeds)
{
    NU_BEGIN();
    th_unwritable_tail(false, 82);
    NU_END();
}

/*
 * Small messages, with the default trailer: umach hands one whose image fits a cache line
 * beside the receiver's wait word instead of writing the receiver's buffer from the sender's
 * thread; every size up to past that line arrives whole, requests with their reply right.
 */
MT_TEST(a_receiver_that_already_waits_gets_each_small_message_whole_with_the_default_trailer_and_nothing_past_it)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send(), reply = nu_port();
    MT_REQUIRE(port && reply);
    for (uint32_t body = 0; body <= 64; body += 4) {
        static th_waiting w;
        pthread_t t;
        MT_REQUIRE(th_waiting_start_trailer(&w, port, NULL, sizeof w.m, 0,
                                            MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0), &t));
        int request = body % 8 == 0;
        struct {
            mach_msg_header_t h;
            uint8_t body[64];
        } m;
        memset(&m, 0, sizeof m);
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND,
                                       request ? MACH_MSG_TYPE_MAKE_SEND_ONCE : 0);
        m.h.msgh_remote_port = port;
        m.h.msgh_local_port = request ? reply : MACH_PORT_NULL;
        m.h.msgh_id = (mach_msg_id_t)(900 + body);
        for (uint32_t i = 0; i < body; i++)
            m.body[i] = (uint8_t)(body + i + 1);
        MT_KR(mach_msg(&m.h, MACH_SEND_MSG, (mach_msg_size_t)sizeof m.h + body, 0, MACH_PORT_NULL,
                       MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
        MT_EQ(pthread_join(t, NULL), 0);
        MT_KR(w.mr, MACH_MSG_SUCCESS);
        MT_EQ(w.m.h.msgh_size, sizeof m.h + body);
        MT_EQ(w.m.h.msgh_id, (mach_msg_id_t)(900 + body));
        MT_EQ(w.m.h.msgh_local_port, port);
        MT_EQ(w.m.h.msgh_bits,
              MACH_MSGH_BITS(request ? MACH_MSG_TYPE_PORT_SEND_ONCE : 0, MACH_MSG_TYPE_PORT_SEND));
        MT_EQ(memcmp(w.m.bytes + sizeof m.h, m.body, body), 0);
        mach_msg_trailer_t tr;
        memcpy(&tr, w.m.bytes + sizeof m.h + body, sizeof tr);
        MT_EQ(tr.msgh_trailer_type, MACH_MSG_TRAILER_FORMAT_0);
        MT_EQ(tr.msgh_trailer_size, sizeof tr);
        MT_EQ(w.m.bytes[sizeof m.h + body + sizeof tr], 0xA5);
        if (request) {
            /* The reply right is a working send-once right to `reply`. */
            MT_EQ(nu_type(w.m.h.msgh_remote_port), MACH_PORT_TYPE_SEND_ONCE);
            MT_KR(th_send(w.m.h.msgh_remote_port, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 901, body),
                  MACH_MSG_SUCCESS);
            nu_msg r;
            MT_KR(nu_recv(reply, &r, 0), MACH_MSG_SUCCESS);
            MT_EQ(r.h.msgh_id, 901);
        } else {
            MT_EQ(w.m.h.msgh_remote_port, MACH_PORT_NULL);
        }
    }
    MT_EQ(nu_status(port).mps_seqno, 17);
    MT_EQ(nu_status(reply).mps_sorights, 0);
    nu_kill(port);
    nu_kill(reply);
    NU_END();
}

MT_TEST(a_receiver_that_already_waits_with_the_default_trailer_on_a_buffer_it_cannot_write_loses_the_message)
{
    NU_BEGIN();
    th_unwritable_tail(true, 84);
    NU_END();
}

/* ---- ports dying under blocked threads ------------------------------------------------ */

typedef struct {
    mach_port_name_t port, reply;
    atomic_int started;
    mach_msg_return_t mr;
} th_blocked;

static void *th_blocked_receiver(void *arg)
{
    th_blocked *b = arg;
    nu_msg m;
    atomic_store(&b->started, 1);
    b->mr = nu_recv(b->port, &m, 10000);
    return NULL;
}

static void *th_blocked_sender(void *arg)
{
    th_blocked *b = arg;
    atomic_store(&b->started, 1);
    b->mr = th_send(b->port, MACH_MSG_TYPE_COPY_SEND, b->reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 9, 9);
    return NULL;
}

MT_TEST(a_receiver_blocked_on_a_port_gets_port_changed_when_the_port_is_destroyed)
{
    NU_BEGIN();
    /* a thread that had not blocked yet sees MACH_RCV_INVALID_NAME instead: retry then */
    int changed = 0;
    for (int attempt = 0; attempt < 20 && !changed; attempt++) {
        static th_blocked b;
        memset(&b, 0, sizeof b);
        b.port = nu_port();
        MT_REQUIRE(b.port);
        pthread_t t;
        MT_REQUIRE(pthread_create(&t, NULL, th_blocked_receiver, &b) == 0);
        while (!atomic_load(&b.started))
            th_sleep_ms(1);
        th_sleep_ms(20 + 10 * attempt);
        MT_KR(mach_port_mod_refs(TASK, b.port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        MT_EQ(pthread_join(t, NULL), 0);
        MT_CHECK(b.mr == MACH_RCV_PORT_CHANGED || b.mr == MACH_RCV_INVALID_NAME);
        changed = b.mr == MACH_RCV_PORT_CHANGED;
        MT_EQ(nu_type(b.port), (mach_port_type_t)-1);
    }
    MT_CHECK(changed);
    NU_END();
}

MT_TEST(a_receiver_blocked_on_a_port_gets_port_changed_when_its_receive_right_moves_away)
{
    NU_BEGIN();
    /* The right leaves in a message (its name is gone from the space), then comes back. */
    int changed = 0;
    for (int attempt = 0; attempt < 20 && !changed; attempt++) {
        static th_blocked b;
        memset(&b, 0, sizeof b);
        b.port = nu_port();
        mach_port_name_t carrier = nu_port();
        MT_REQUIRE(b.port && carrier);
        pthread_t t;
        MT_REQUIRE(pthread_create(&t, NULL, th_blocked_receiver, &b) == 0);
        while (!atomic_load(&b.started))
            th_sleep_ms(1);
        th_sleep_ms(20 + 10 * attempt);
        MT_KR(nu_carry(carrier, b.port, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
        MT_EQ(pthread_join(t, NULL), 0);
        MT_CHECK(b.mr == MACH_RCV_PORT_CHANGED || b.mr == MACH_RCV_INVALID_NAME);
        changed = b.mr == MACH_RCV_PORT_CHANGED;
        mach_port_name_t back = nu_uncarry(carrier);
        MT_NE(back, MACH_PORT_NULL);
        MT_EQ(nu_type(back), MACH_PORT_TYPE_RECEIVE);
        MT_KR(mach_port_mod_refs(TASK, back, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, carrier, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    }
    MT_CHECK(changed);
    NU_END();
}

MT_TEST(a_sender_blocked_on_a_full_port_succeeds_and_its_message_is_destroyed_when_the_port_dies)
{
    NU_BEGIN();
    /* XNU ipc_kmsg_send: a THREAD_RESTART wakeup of a blocked sender (MACH_SEND_INVALID_DEST from
     * ipc_mqueue_send_locked) is turned into MACH_MSG_SUCCESS and the message destroyed. A
     * sender that had not reached the queue yet gets MACH_SEND_INVALID_DEST with nothing
     * consumed: retry then. */
    int delivered = 0;
    for (int attempt = 0; attempt < 20 && !delivered; attempt++) {
        static th_blocked b;
        memset(&b, 0, sizeof b);
        b.port = nu_port_with_send();
        b.reply = nu_port();
        MT_REQUIRE(b.port && b.reply);
        mach_port_limits_t l = {.mpl_qlimit = 1};
        MT_KR(mach_port_set_attributes(TASK, b.port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                       MACH_PORT_LIMITS_INFO_COUNT),
              KERN_SUCCESS);
        MT_KR(th_send(b.port, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1, 1), MACH_MSG_SUCCESS);
        pthread_t t;
        MT_REQUIRE(pthread_create(&t, NULL, th_blocked_sender, &b) == 0);
        while (!atomic_load(&b.started))
            th_sleep_ms(1);
        th_sleep_ms(20 + 10 * attempt);
        MT_KR(mach_port_mod_refs(TASK, b.port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        MT_EQ(pthread_join(t, NULL), 0);
        MT_CHECK(b.mr == MACH_MSG_SUCCESS || b.mr == MACH_SEND_INVALID_DEST);
        delivered = b.mr == MACH_MSG_SUCCESS;
        /* the send right the sender copied from is a dead name now */
        MT_EQ(nu_type(b.port), MACH_PORT_TYPE_DEAD_NAME);
        MT_EQ(nu_refs(b.port, MACH_PORT_RIGHT_DEAD_NAME), 1);
        MT_KR(mach_port_deallocate(TASK, b.port), KERN_SUCCESS);
        nu_msg m;
        if (delivered) {
            /* the destroyed message's reply right fires its send-once notification */
            MT_KR(nu_recv(b.reply, &m, 0), MACH_MSG_SUCCESS);
            MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
        }
        MT_KR(nu_recv(b.reply, &m, 0), MACH_RCV_TIMED_OUT);
        MT_EQ(nu_status(b.reply).mps_sorights, 0);
        MT_KR(mach_port_mod_refs(TASK, b.reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    }
    MT_CHECK(delivered);
    NU_END();
}

MT_MAIN()
