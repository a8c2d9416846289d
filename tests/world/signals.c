/*
 * signals.c — runs inside a world (ctest: umach-run -- world_signals): a Mach call made by a
 * signal handler on a thread that is in the middle of its own posted send, receive-window
 * claim or call (docs/world.md, "Signal handlers") neither corrupts nor loses anything: the
 * handler's sends and the thread's own arrive whole, each stream in its order, and the
 * handler's receives and the thread's take every message exactly once, each in queue order.
 *
 * The thread and its handler run in a forked child (one thread: a process-directed SIGALRM
 * from setitimer can only interrupt it; children here start no thread). The child's stream
 * is long and the timer fast, so many signals land inside a post or a claim.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <mach/mach.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TASK mach_task_self()

enum {
    SG_WAIT_MS = 20000,  /* one receive's bound (the machine may be loaded) */
    SG_TIMER_US = 100,   /* the child's SIGALRM period */
    SG_TAG_MAIN = 1,     /* sent by the child's thread */
    SG_TAG_HANDLER = 2,  /* sent by its signal handler */
    SG_TAG_END = 3,      /* the child's last message: what it sent */
};

typedef struct {
    mach_msg_header_t h;
    uint32_t tag;
    uint32_t seq;
    uint32_t aux[2];     /* SG_TAG_END: the handler's sends, its failed sends */
    uint8_t payload[48]; /* sg_fill's pattern: a record mixed with another shows */
} sg_msg;

typedef union {
    struct {
        sg_msg m;
        mach_msg_max_trailer_t trailer;
    } in;
    uint8_t bytes[256];
} sg_buf;

static void sg_fill(uint8_t *p, uint32_t tag, uint32_t seq)
{
    for (unsigned k = 0; k < 48; k++)
        p[k] = (uint8_t)(seq * 7u + tag * 31u + k);
}

static bool sg_intact(const sg_msg *m)
{
    uint8_t want[48];
    sg_fill(want, m->tag, m->seq);
    return m->h.msgh_size == sizeof *m && memcmp(want, m->payload, sizeof want) == 0;
}

/* A one-way simple send (the kind that may be posted). */
static mach_msg_return_t sg_send(mach_port_t to, uint32_t tag, uint32_t seq, uint32_t a0,
                                 uint32_t a1)
{
    sg_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = to;
    m.h.msgh_id = 0x5160;
    m.tag = tag;
    m.seq = seq;
    m.aux[0] = a0;
    m.aux[1] = a1;
    sg_fill(m.payload, tag, seq);
    return mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

/* A receive alone (the kind a window may serve); the same options and size everywhere. */
static mach_msg_return_t sg_receive(mach_port_t port, sg_buf *b, mach_msg_timeout_t ms)
{
    memset(b, 0xA5, sizeof *b);
    return mach_msg(&b->in.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *b, port, ms,
                    MACH_PORT_NULL);
}

/* A receive right with a send right under the same name, queue limit 1024. */
static mach_port_t sg_port(void)
{
    mach_port_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    mach_port_limits_t lim = {.mpl_qlimit = 1024};
    if (mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                 MACH_PORT_LIMITS_INFO_COUNT) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

/*
 * The child's SIGALRM `us` from now (0: none pending). Each handler arms the next one as it
 * returns, so the thread always runs a while between two handlers, however slow a
 * handler's call is (a periodic timer faster than the handler would leave the thread no time
 * at all).
 */
static int sg_timer(long us)
{
    struct itimerval it = {{0, 0}, {0, us}};
    return setitimer(ITIMER_REAL, &it, NULL);
}

static volatile sig_atomic_t sg_timer_on;

/* Stop the timer for good: no re-arming, SIGALRM blocked (one already due stays pending). */
static void sg_timer_stop(void)
{
    sg_timer_on = 0;
    (void)sg_timer(0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

static int sg_on_alarm(void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the interrupted calls see EINTR where they can */
    return sigaction(SIGALRM, &sa, NULL);
}

/* ---- a handler that sends while its thread posts ------------------------------------------ */

static mach_port_t sg_to;
static volatile uint32_t sg_hsent, sg_hfailed;

static void sg_send_handler(int sig)
{
    (void)sig;
    int saved = errno;
    if (sg_send(sg_to, SG_TAG_HANDLER, sg_hsent, 0, 0) == MACH_MSG_SUCCESS)
        sg_hsent = sg_hsent + 1;
    else
        sg_hfailed = sg_hfailed + 1;
    if (sg_timer_on)
        (void)sg_timer(SG_TIMER_US);
    errno = saved;
}

/* The child: posts in a tight loop while SIGALRM sends; then says what it sent. Exit 0. */
static int sg_post_child(void)
{
    sg_to = bootstrap_port;
    if (sg_on_alarm(sg_send_handler) != 0)
        return 10;
    /* The first send goes to umachd and brings the grant that lets the next ones post. */
    uint32_t n = 0;
    if (sg_send(sg_to, SG_TAG_MAIN, n++, 0, 0) != MACH_MSG_SUCCESS)
        return 11;
    sg_timer_on = 1;
    if (sg_timer(SG_TIMER_US) != 0)
        return 12;
    /* At least 20,000 posts and 300 handler sends (at most 400,000 posts, 60 s). */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = 0;
    for (;;) {
        mach_msg_return_t mr = sg_send(sg_to, SG_TAG_MAIN, n, 0, 0);
        if (mr != MACH_MSG_SUCCESS) {
            fprintf(stderr, "child: send %u: 0x%x (handler: %u sent, %u failed)\n", n, mr,
                    sg_hsent, sg_hfailed);
            rc = 13;
            break;
        }
        n++;
        if (n >= 20000 && sg_hsent + sg_hfailed >= 300)
            break;
        if ((n & 1023) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (n >= 400000 || now.tv_sec - t0.tv_sec > 60)
                break;
        }
    }
    sg_timer_stop();
    if (sg_send(sg_to, SG_TAG_END, n, sg_hsent, sg_hfailed) != MACH_MSG_SUCCESS)
        return 14;
    return rc;
}

MT_TEST_TIMEOUT(sends_from_a_signal_handler_while_its_thread_posts_all_arrive_whole_and_in_order,
                120)
{
    mach_port_t port = sg_port();
    MT_REQUIRE(port != MACH_PORT_NULL);
    uint64_t posts_before = w_stat(W_STAT_POSTS_TAKEN);
    pid_t kid = w_fork_with(port);
    MT_REQUIRE(kid >= 0);
    if (kid == 0)
        _exit(sg_post_child());
    uint32_t next_main = 0, next_handler = 0, bad = 0;
    sg_buf b;
    for (;;) {
        mach_msg_return_t mr = sg_receive(port, &b, SG_WAIT_MS);
        if (mr != MACH_MSG_SUCCESS) {
            MT_KR(mr, MACH_MSG_SUCCESS);
            break;
        }
        const sg_msg *m = &b.in.m;
        if (!sg_intact(m)) {
            if (bad++ < 5)
                fprintf(stderr, "  damaged message: tag %u seq %u size %u\n", m->tag, m->seq,
                        m->h.msgh_size);
            continue;
        }
        if (m->tag == SG_TAG_END) {
            MT_EQ(m->seq, next_main);       /* every post arrived */
            MT_EQ(m->aux[0], next_handler); /* every handler send arrived */
            MT_EQ(m->aux[1], 0u);           /* none failed */
            MT_CHECK(m->aux[0] > 0);
            fprintf(stderr, "  %u sends of the thread, %u of its handler\n", next_main,
                    next_handler);
            break;
        }
        uint32_t *next = m->tag == SG_TAG_MAIN ? &next_main : &next_handler;
        if (m->tag != SG_TAG_MAIN && m->tag != SG_TAG_HANDLER) {
            bad++;
            continue;
        }
        if (m->seq != *next && bad++ < 5)
            fprintf(stderr, "  tag %u: seq %u where %u was next\n", m->tag, m->seq, *next);
        *next = m->seq + 1;
    }
    MT_EQ(bad, 0u);
    MT_EQ(w_wait_status(kid), 0);
    /* The thread's sends did take the posted path (most of them). */
    uint64_t posts_after = w_stat(W_STAT_POSTS_TAKEN);
    MT_CHECK(posts_before != UINT64_MAX && posts_after != UINT64_MAX &&
             posts_after - posts_before >= next_main / 2);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

/* ---- a handler that receives while its thread claims from its window ---------------------- */

enum { SG_RECV_COUNT = 20000 };

static mach_port_t sg_from;
static uint32_t sg_hlog[SG_RECV_COUNT];
static volatile uint32_t sg_hgot, sg_hbad;

static void sg_receive_handler(int sig)
{
    (void)sig;
    int saved = errno;
    sg_buf b;
    mach_msg_return_t mr = sg_receive(sg_from, &b, 0);
    if (mr == MACH_MSG_SUCCESS) {
        if (!sg_intact(&b.in.m) || b.in.m.tag != SG_TAG_MAIN || sg_hgot >= SG_RECV_COUNT)
            sg_hbad = sg_hbad + 1;
        else
            sg_hlog[sg_hgot] = b.in.m.seq;
        sg_hgot = sg_hgot + 1;
    } else if (mr != MACH_RCV_TIMED_OUT) {
        sg_hbad = sg_hbad + 1;
    }
    if (sg_timer_on)
        (void)sg_timer(SG_TIMER_US);
    errno = saved;
}

/*
 * The child: hands the parent a send right to a port of its own, then receives its
 * SG_RECV_COUNT messages in a tight loop while SIGALRM receives too. Exit 0 when each seq
 * came exactly once, whole, and each receiver's in increasing order.
 */
static int sg_receive_child(void)
{
    static uint32_t mlog[SG_RECV_COUNT];
    static uint8_t seen[SG_RECV_COUNT];
    sg_from = sg_port();
    if (sg_from == MACH_PORT_NULL)
        return 10;
    mach_msg_header_t hello;
    memset(&hello, 0, sizeof hello);
    hello.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND);
    hello.msgh_size = sizeof hello;
    hello.msgh_remote_port = bootstrap_port;
    hello.msgh_local_port = sg_from;
    if (mach_msg(&hello, MACH_SEND_MSG, sizeof hello, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL) !=
        MACH_MSG_SUCCESS)
        return 11;
    sg_timer_on = 1;
    if (sg_on_alarm(sg_receive_handler) != 0 || sg_timer(SG_TIMER_US) != 0)
        return 12;
    uint32_t got = 0, bad = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (got + sg_hgot < SG_RECV_COUNT) {
        sg_buf b;
        mach_msg_return_t mr = sg_receive(sg_from, &b, 100);
        if (mr == MACH_MSG_SUCCESS) {
            if (!sg_intact(&b.in.m) || b.in.m.tag != SG_TAG_MAIN || got >= SG_RECV_COUNT)
                bad++;
            else
                mlog[got++] = b.in.m.seq;
        } else if (mr != MACH_RCV_TIMED_OUT) {
            fprintf(stderr, "child: receive: 0x%x\n", mr);
            bad++;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 90) {
            fprintf(stderr, "child: %u + %u of %u messages after 90 s\n", got, sg_hgot,
                    SG_RECV_COUNT);
            bad++;
            break;
        }
    }
    sg_timer_stop();
    uint32_t hgot = sg_hgot;
    if (bad || sg_hbad || got + hgot != SG_RECV_COUNT) {
        fprintf(stderr, "child: %u received, %u by the handler, %u + %u bad\n", got, hgot, bad,
                sg_hbad);
        return 13;
    }
    /* Each receiver took its messages in queue order, and together every one, once. */
    for (uint32_t i = 0; i < got; i++) {
        if ((i && mlog[i] <= mlog[i - 1]) || mlog[i] >= SG_RECV_COUNT || seen[mlog[i]]++)
            return 14;
    }
    for (uint32_t i = 0; i < hgot; i++) {
        if ((i && sg_hlog[i] <= sg_hlog[i - 1]) || sg_hlog[i] >= SG_RECV_COUNT ||
            seen[sg_hlog[i]]++)
            return 15;
    }
    fprintf(stderr, "  %u receives of the thread, %u of its handler\n", got, hgot);
    return hgot > 0 ? 0 : 16;
}

MT_TEST_TIMEOUT(receives_from_a_signal_handler_while_its_thread_claims_take_each_message_once,
                120)
{
    mach_port_t port = sg_port();
    MT_REQUIRE(port != MACH_PORT_NULL);
    pid_t kid = w_fork_with(port);
    MT_REQUIRE(kid >= 0);
    if (kid == 0)
        _exit(sg_receive_child());
    sg_buf b;
    MT_KR(sg_receive(port, &b, SG_WAIT_MS), MACH_MSG_SUCCESS);
    mach_port_t to = b.in.m.h.msgh_remote_port;
    MT_EQ(MACH_MSGH_BITS_REMOTE(b.in.m.h.msgh_bits), (unsigned)MACH_MSG_TYPE_PORT_SEND);
    for (uint32_t i = 0; i < SG_RECV_COUNT; i++) {
        mach_msg_return_t mr = sg_send(to, SG_TAG_MAIN, i, 0, 0);
        if (mr != MACH_MSG_SUCCESS) {
            MT_KR(mr, MACH_MSG_SUCCESS);
            break;
        }
    }
    MT_EQ(w_wait_status(kid), 0);
    (void)mach_port_deallocate(TASK, to);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

MT_MAIN()
