/*
 * posted_sends.c — runs inside a world (ctest: umach-run -- world_posted_sends): one-way
 * simple sends that return once the message is in the sender's ring (docs/world.md, "Posted
 * sends") are observed exactly as XNU's sends: in order with what the sender does next (a
 * synchronous send, another thread's send, another task's send after a pipe), counted in the
 * queue the moment they return, never past the queue limit, carrying the send right that
 * keeps no-senders away until they are received, destroyed with a port that dies, and
 * labelled with the sender's credentials at the time it sent. The daemon's count of posts it
 * took (UM_WIRE_STATS) shows that the sends did take the posted path. Receive windows (a
 * thread's receives served from messages the daemon rendered ahead) likewise: in order, with
 * their sequence numbers, gone from the queue the moment they returned, each the message the
 * core's own receive gives (the daemon checks and counts), a lying window ends its task.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "wire/um_ring.h"
#include "world_util.h"

#include <mach/mach.h>
#include <mach/notify.h>

#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TASK mach_task_self()

enum { PS_WAIT_MS = 10000 };

typedef struct {
    mach_msg_header_t h;
    uint32_t seq;
    uint32_t tag;
    uint8_t payload[56];
} ps_msg;

typedef union {
    struct {
        ps_msg m;
        mach_msg_audit_trailer_t trailer;
    } in;
    mach_no_senders_notification_t ns;
    uint8_t bytes[512];
} ps_buf;

/* A receive right with a send right under the same name and the queue limit `qlimit`. */
static mach_port_t ps_port(mach_port_msgcount_t qlimit)
{
    mach_port_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    mach_port_limits_t lim = {.mpl_qlimit = qlimit};
    if (mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                 MACH_PORT_LIMITS_INFO_COUNT) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

/* A one-way simple send (the kind that may be posted); `timeout` in ms with SEND_TIMEOUT. */
static mach_msg_return_t ps_send(mach_port_t to, uint32_t tag, uint32_t seq, bool timeout0)
{
    ps_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = to;
    m.h.msgh_id = 1000 + (mach_msg_id_t)tag;
    m.seq = seq;
    m.tag = tag;
    memset(m.payload, (int)(seq & 0xff), sizeof m.payload);
    return mach_msg(&m.h, MACH_SEND_MSG | (timeout0 ? MACH_SEND_TIMEOUT : 0), sizeof m, 0,
                    MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

/* A send that is never posted: it asks for a send-once reply right (made from `reply`). */
static mach_msg_return_t ps_send_sync(mach_port_t to, mach_port_t reply, uint32_t tag,
                                      uint32_t seq)
{
    ps_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = to;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = 1000 + (mach_msg_id_t)tag;
    m.seq = seq;
    m.tag = tag;
    return mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

static mach_msg_return_t ps_receive(mach_port_t port, ps_buf *b, mach_msg_timeout_t ms)
{
    memset(b, 0xA5, sizeof *b);
    return mach_msg(&b->in.m.h,
                    MACH_RCV_MSG | MACH_RCV_TIMEOUT |
                        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT) |
                        MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0),
                    0, sizeof *b, port, ms, MACH_PORT_NULL);
}

static mach_port_msgcount_t ps_msgcount(mach_port_t port)
{
    mach_port_status_t st;
    mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
    if (mach_port_get_attributes(TASK, port, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                 &cnt) != KERN_SUCCESS)
        return (mach_port_msgcount_t)-1;
    return st.mps_msgcount;
}

/* Receive `n` messages and check they are tag `tag`, seq first..first+n-1, in order. */
static int ps_expect_run(mach_port_t port, uint32_t tag, uint32_t first, uint32_t n)
{
    ps_buf b;
    for (uint32_t i = 0; i < n; i++) {
        if (ps_receive(port, &b, PS_WAIT_MS) != MACH_MSG_SUCCESS)
            return 1;
        if (b.in.m.tag != tag || b.in.m.seq != first + i ||
            b.in.m.h.msgh_size != sizeof b.in.m || b.in.m.h.msgh_local_port != port ||
            b.in.m.h.msgh_remote_port != MACH_PORT_NULL ||
            b.in.m.payload[55] != (uint8_t)((first + i) & 0xff))
            return 2;
    }
    return 0;
}

MT_TEST(a_stream_of_one_way_sends_then_a_synchronous_send_arrive_in_order_and_were_posted)
{
    mach_port_t port = ps_port(1024), reply = MACH_PORT_NULL;
    MT_REQUIRE(port != MACH_PORT_NULL);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &reply), KERN_SUCCESS);
    uint64_t before = w_stat(W_STAT_POSTS_TAKEN);
    for (uint32_t round = 0; round < 4; round++) {
        for (uint32_t i = 0; i < 200; i++)
            MT_KR(ps_send(port, 1, i, false), MACH_MSG_SUCCESS);
        /* Counted the moment they returned: the queue holds them all. */
        MT_EQ(ps_msgcount(port), 200u);
        MT_KR(ps_send_sync(port, reply, 2, 200), MACH_MSG_SUCCESS);
        MT_EQ(ps_expect_run(port, 1, 0, 200), 0);
        ps_buf b;
        MT_KR(ps_receive(port, &b, PS_WAIT_MS), MACH_MSG_SUCCESS);
        MT_EQ(b.in.m.tag, 2u);
        MT_EQ(MACH_MSGH_BITS_REMOTE(b.in.m.h.msgh_bits), (unsigned)MACH_MSG_TYPE_PORT_SEND_ONCE);
        MT_KR(mach_port_deallocate(TASK, b.in.m.h.msgh_remote_port), KERN_SUCCESS);
        MT_EQ(ps_msgcount(port), 0u);
    }
    /* Most of them took the posted path (the first of each stream may not). */
    MT_CHECK(w_stat(W_STAT_POSTS_TAKEN) - before >= 4 * 150);
    /* Nothing left over: one send uref, the receive right. */
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(TASK, port, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
    MT_EQ(refs, 1u);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

/* Two threads of one task: A posts, then tells B (a pipe); B's send must come after A's. */
typedef struct {
    mach_port_t port;
    int go[2];   /* A -> B: A's sends have returned */
    int done[2]; /* B -> main */
    uint32_t rounds, per_round;
} ps_pair;

static void *ps_thread_b(void *arg)
{
    ps_pair *p = arg;
    for (uint32_t r = 0; r < p->rounds; r++) {
        char c;
        if (read(p->go[0], &c, 1) != 1)
            return NULL;
        /* Alternate a send B may post (after its first) and one it may not. */
        mach_msg_return_t mr = ps_send(p->port, 20 + (r & 1), r, false);
        char ok = mr == MACH_MSG_SUCCESS ? 'y' : 'n';
        if (write(p->done[1], &ok, 1) != 1)
            return NULL;
    }
    return NULL;
}

MT_TEST(a_send_by_another_thread_after_hearing_of_a_posted_send_comes_after_it)
{
    ps_pair p = {.port = ps_port(1024), .rounds = 40, .per_round = 25};
    MT_REQUIRE(p.port != MACH_PORT_NULL);
    MT_REQUIRE(pipe(p.go) == 0 && pipe(p.done) == 0);
    pthread_t b;
    MT_REQUIRE(pthread_create(&b, NULL, ps_thread_b, &p) == 0);
    for (uint32_t r = 0; r < p.rounds; r++) {
        for (uint32_t i = 0; i < p.per_round; i++)
            MT_KR(ps_send(p.port, 10, r * p.per_round + i, false), MACH_MSG_SUCCESS);
        MT_REQUIRE(write(p.go[1], "g", 1) == 1);
        char ok = 0;
        MT_REQUIRE(read(p.done[0], &ok, 1) == 1);
        MT_EQ(ok, 'y');
        MT_EQ(ps_expect_run(p.port, 10, r * p.per_round, p.per_round), 0);
        ps_buf m;
        MT_KR(ps_receive(p.port, &m, PS_WAIT_MS), MACH_MSG_SUCCESS);
        MT_EQ(m.in.m.tag, 20 + (r & 1));
        MT_EQ(m.in.m.seq, r);
    }
    MT_REQUIRE(pthread_join(b, NULL) == 0);
    MT_EQ(ps_msgcount(p.port), 0u);
    close(p.go[0]);
    close(p.go[1]);
    close(p.done[0]);
    close(p.done[1]);
    MT_KR(mach_port_mod_refs(TASK, p.port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, p.port), KERN_SUCCESS);
}

/*
 * Tasks: a child posts and then writes a pipe; this task, having read it, finds every message
 * queued, and a second child, having read the first's pipe, sends after them.
 */
MT_TEST(another_task_that_heard_of_posted_sends_through_a_pipe_finds_them_queued_before_its_own)
{
    mach_port_t port = ps_port(1024);
    MT_REQUIRE(port != MACH_PORT_NULL);
    enum { N = 300 };
    int to_me[2], to_second[2];
    MT_REQUIRE(pipe(to_me) == 0 && pipe(to_second) == 0);
    pid_t first = w_fork_with(port);
    MT_REQUIRE(first >= 0);
    if (first == 0) {
        mach_port_t dest = bootstrap_port;
        for (uint32_t i = 0; i < N; i++)
            if (ps_send(dest, 30, i, false) != MACH_MSG_SUCCESS)
                _exit(1);
        if (write(to_me[1], "p", 1) != 1 || write(to_second[1], "p", 1) != 1)
            _exit(2);
        _exit(0);
    }
    pid_t second = w_fork_with(port);
    MT_REQUIRE(second >= 0);
    if (second == 0) {
        char c;
        if (read(to_second[0], &c, 1) != 1)
            _exit(3);
        _exit(ps_send(bootstrap_port, 31, 0, false) == MACH_MSG_SUCCESS ? 0 : 4);
    }
    char c;
    MT_REQUIRE(read(to_me[0], &c, 1) == 1);
    /* The first child's sends returned: all of them are in the queue now (the second's
     * may be too). */
    mach_port_msgcount_t n = ps_msgcount(port);
    MT_CHECK(n == N || n == N + 1);
    MT_EQ(w_wait_status(first), 0);
    MT_EQ(w_wait_status(second), 0);
    MT_EQ(ps_expect_run(port, 30, 0, N), 0);
    ps_buf b;
    MT_KR(ps_receive(port, &b, PS_WAIT_MS), MACH_MSG_SUCCESS);
    MT_EQ(b.in.m.tag, 31u);
    MT_EQ(b.in.trailer.msgh_audit.val[5], (unsigned)second);
    close(to_me[0]);
    close(to_me[1]);
    close(to_second[0]);
    close(to_second[1]);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

/*
 * Posts of two tasks, both pending at once: the second child posts (on credits it earned
 * before) only after it heard, through a pipe, that the first child's posts returned; the
 * receiver sees all of the first's before any of the second's.
 */
MT_TEST(a_task_posting_after_hearing_of_another_task_s_posts_comes_after_them)
{
    enum { NX = 200, NY = 100 };
    mach_port_t port = ps_port(1024);
    MT_REQUIRE(port != MACH_PORT_NULL);
    int ready[2], go_x[2], x_to_y[2];
    MT_REQUIRE(pipe(ready) == 0 && pipe(go_x) == 0 && pipe(x_to_y) == 0);
    pid_t y = w_fork_with(port);
    MT_REQUIRE(y >= 0);
    if (y == 0) {
        /* Earn credits (a send, then a posted one), say so, wait for the first child. */
        if (ps_send(bootstrap_port, 111, 0, false) != MACH_MSG_SUCCESS ||
            ps_send(bootstrap_port, 111, 1, false) != MACH_MSG_SUCCESS)
            _exit(1);
        char c;
        if (write(ready[1], "r", 1) != 1 || read(x_to_y[0], &c, 1) != 1)
            _exit(2);
        for (uint32_t i = 2; i < NY; i++)
            if (ps_send(bootstrap_port, 111, i, false) != MACH_MSG_SUCCESS)
                _exit(3);
        _exit(0);
    }
    pid_t x = w_fork_with(port);
    MT_REQUIRE(x >= 0);
    if (x == 0) {
        char c;
        if (read(go_x[0], &c, 1) != 1)
            _exit(4);
        for (uint32_t i = 0; i < NX; i++)
            if (ps_send(bootstrap_port, 110, i, false) != MACH_MSG_SUCCESS)
                _exit(5);
        _exit(write(x_to_y[1], "x", 1) == 1 ? 0 : 6);
    }
    char c;
    MT_REQUIRE(read(ready[0], &c, 1) == 1);
    MT_EQ(ps_expect_run(port, 111, 0, 2), 0); /* a receive alone changes no grant */
    MT_REQUIRE(write(go_x[1], "g", 1) == 1);
    MT_EQ(w_wait_status(x), 0);
    MT_EQ(w_wait_status(y), 0);
    MT_EQ(ps_expect_run(port, 110, 0, NX), 0);
    MT_EQ(ps_expect_run(port, 111, 2, NY - 2), 0);
    int fds[] = {ready[0], ready[1], go_x[0], go_x[1], x_to_y[0], x_to_y[1]};
    for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++)
        close(fds[i]);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

MT_TEST(posted_sends_never_take_a_queue_past_its_limit_and_leave_room_for_other_senders)
{
    enum { QL = 5 };
    mach_port_t port = ps_port(QL);
    MT_REQUIRE(port != MACH_PORT_NULL);
    /* This task alone: exactly QL sends fit, then MACH_SEND_TIMED_OUT (timeout 0). */
    uint32_t sent = 0;
    mach_msg_return_t mr;
    while ((mr = ps_send(port, 40, sent, true)) == MACH_MSG_SUCCESS && sent < 100)
        sent++;
    MT_EQ(mr, MACH_SEND_TIMED_OUT);
    MT_EQ(sent, (uint32_t)QL);
    MT_EQ(ps_msgcount(port), (mach_port_msgcount_t)QL);
    /* One received: room for exactly one more. */
    ps_buf b;
    MT_KR(ps_receive(port, &b, PS_WAIT_MS), MACH_MSG_SUCCESS);
    MT_KR(ps_send(port, 40, sent++, true), MACH_MSG_SUCCESS);
    MT_KR(ps_send(port, 40, sent, true), MACH_SEND_TIMED_OUT);
    MT_EQ(ps_msgcount(port), (mach_port_msgcount_t)QL);
    MT_EQ(ps_expect_run(port, 40, 1, QL), 0);

    /* This task holds credits (one send made, room promised for more, and no call since
     * that would take them back); another task still finds room for all the rest, and then
     * this task finds the queue full. */
    int go[2];
    MT_REQUIRE(pipe(go) == 0);
    pid_t kid = w_fork_with(port);
    MT_REQUIRE(kid >= 0);
    if (kid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(3);
        for (uint32_t i = 0; i < QL - 2; i++)
            if (ps_send(bootstrap_port, 42, i, true) != MACH_MSG_SUCCESS)
                _exit(1);
        _exit(ps_send(bootstrap_port, 42, QL, true) == MACH_SEND_TIMED_OUT ? 0 : 2);
    }
    MT_KR(ps_send(port, 41, 0, true), MACH_MSG_SUCCESS);
    MT_KR(ps_send(port, 41, 1, true), MACH_MSG_SUCCESS);
    MT_REQUIRE(write(go[1], "g", 1) == 1);
    MT_EQ(w_wait_status(kid), 0);
    MT_EQ(ps_msgcount(port), (mach_port_msgcount_t)QL);
    MT_KR(ps_send(port, 41, 2, true), MACH_SEND_TIMED_OUT);
    MT_EQ(ps_expect_run(port, 41, 0, 2), 0);
    MT_EQ(ps_expect_run(port, 42, 0, QL - 2), 0);
    close(go[0]);
    close(go[1]);
    MT_EQ(ps_msgcount(port), 0u);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

/*
 * Each posted message holds a send right while it is queued: a sender that posts and then
 * deallocates its right does not make no-senders fire until the last message is received.
 */
MT_TEST(no_senders_waits_for_the_last_posted_message_to_be_received)
{
    mach_port_t port = MACH_PORT_NULL, notify = MACH_PORT_NULL, previous = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &port), KERN_SUCCESS);
    mach_port_limits_t lim = {.mpl_qlimit = 1024};
    MT_KR(mach_port_set_attributes(TASK, port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &notify), KERN_SUCCESS);
    /* The only send right is the child's (made for the slot, then ours dropped). */
    MT_KR(mach_port_insert_right(TASK, port, port, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    enum { N = 100 };
    int ready[2];
    MT_REQUIRE(pipe(ready) == 0);
    pid_t kid = w_fork_with(port);
    MT_REQUIRE(kid >= 0);
    if (kid == 0) {
        for (uint32_t i = 0; i < N; i++)
            if (ps_send(bootstrap_port, 50, i, false) != MACH_MSG_SUCCESS)
                _exit(1);
        if (mach_port_deallocate(TASK, bootstrap_port) != KERN_SUCCESS)
            _exit(2);
        if (write(ready[1], "d", 1) != 1)
            _exit(3);
        _exit(0);
    }
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS); /* our send right */
    char c;
    MT_REQUIRE(read(ready[0], &c, 1) == 1);
    MT_EQ(w_wait_status(kid), 0);
    MT_KR(mach_port_request_notification(TASK, port, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
          KERN_SUCCESS);
    ps_buf b;
    MT_EQ(ps_msgcount(port), (mach_port_msgcount_t)N);
    /* The queued messages hold send rights: no notification yet. */
    MT_KR(ps_receive(notify, &b, 0), MACH_RCV_TIMED_OUT);
    MT_EQ(ps_expect_run(port, 50, 0, N - 1), 0);
    MT_KR(ps_receive(notify, &b, 0), MACH_RCV_TIMED_OUT);
    MT_EQ(ps_expect_run(port, 50, N - 1, 1), 0);
    MT_KR(ps_receive(notify, &b, PS_WAIT_MS), MACH_MSG_SUCCESS);
    MT_EQ(b.ns.not_header.msgh_id, MACH_NOTIFY_NO_SENDERS);
    close(ready[0]);
    close(ready[1]);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

/*
 * The receiver destroys the port while a child posts to it as fast as it can: every send
 * before the destruction succeeded (received, or destroyed with the queue), the posting stops
 * with MACH_SEND_INVALID_DEST, the child's send after it heard of the destruction fails the
 * same way, and the child's name is a dead name with its one uref.
 */
typedef struct {
    mach_port_t dest;
    uint32_t ok;
    mach_msg_return_t last;
} ps_flood;

static void ps_flood_run(ps_flood *f)
{
    while ((f->last = ps_send(f->dest, 61, f->ok, false)) == MACH_MSG_SUCCESS)
        f->ok++;
}

MT_TEST(a_port_destroyed_while_sends_are_posted_to_it_fails_the_next_send_and_leaks_no_right)
{
    mach_port_t port = ps_port(1024);
    MT_REQUIRE(port != MACH_PORT_NULL);
    enum { N = 100 };
    int to_me[2], to_kid[2];
    MT_REQUIRE(pipe(to_me) == 0 && pipe(to_kid) == 0);
    pid_t kid = w_fork_with(port);
    MT_REQUIRE(kid >= 0);
    if (kid == 0) {
        mach_port_t dest = bootstrap_port;
        for (uint32_t i = 0; i < N; i++)
            if (ps_send(dest, 60, i, false) != MACH_MSG_SUCCESS)
                _exit(1);
        /* The flood runs on this thread: a child of a threaded parent (the test's watchdog)
         * may not start threads under ThreadSanitizer. It posts until the parent destroys
         * the port under it, then the first send after that must fail. */
        if (write(to_me[1], "s", 1) != 1)
            _exit(3);
        ps_flood f = {.dest = dest};
        ps_flood_run(&f);
        if (f.last != MACH_SEND_INVALID_DEST)
            _exit(5);
        char c;
        if (read(to_kid[0], &c, 1) != 1)
            _exit(3);
        /* The port is gone: this send must say so, posted credits or not. */
        if (ps_send(dest, 62, 0, false) != MACH_SEND_INVALID_DEST)
            _exit(4);
        mach_port_type_t type = 0;
        mach_port_urefs_t refs = 0;
        if (mach_port_type(TASK, dest, &type) != KERN_SUCCESS || type != MACH_PORT_TYPE_DEAD_NAME)
            _exit(6);
        if (mach_port_get_refs(TASK, dest, MACH_PORT_RIGHT_DEAD_NAME, &refs) != KERN_SUCCESS ||
            refs != 1)
            _exit(7);
        _exit(0);
    }
    close(to_me[1]); /* a child that dies early is an end of file here, not a hang */
    close(to_kid[0]);
    char c;
    MT_REQUIRE(read(to_me[0], &c, 1) == 1);
    MT_EQ(ps_expect_run(port, 60, 0, N), 0);
    /* The child is posting now; destroy the receive right under it. */
    ps_buf b;
    MT_KR(ps_receive(port, &b, PS_WAIT_MS), MACH_MSG_SUCCESS);
    MT_EQ(b.in.m.tag, 61u);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_REQUIRE(write(to_kid[1], "d", 1) == 1);
    MT_EQ(w_wait_status(kid), 0);
    /* Our send right is a dead name now, with its one uref. */
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(TASK, port, MACH_PORT_RIGHT_DEAD_NAME, &refs), KERN_SUCCESS);
    MT_EQ(refs, 1u);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    close(to_me[0]);
    close(to_kid[1]);
}

/*
 * The port's receiver is a task that dies (killed) while this task posts to it: once the
 * dead-name notification has told this task, its next send fails, credits or not.
 */
MT_TEST(a_send_after_the_dead_name_notification_of_a_killed_receiver_fails)
{
    mach_port_t port = ps_port(1024);
    MT_REQUIRE(port != MACH_PORT_NULL);
    /* The child makes a port of its own and sends us a send right to it through ours,
     * which it has as its bootstrap port. */
    pid_t kid = w_fork_with(port);
    MT_REQUIRE(kid >= 0);
    if (kid == 0) {
        mach_port_t mine = ps_port(1024);
        ps_msg m;
        memset(&m, 0, sizeof m);
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND);
        m.h.msgh_size = sizeof m;
        m.h.msgh_remote_port = bootstrap_port;
        m.h.msgh_local_port = mine;
        if (mine == MACH_PORT_NULL ||
            mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL) !=
                MACH_MSG_SUCCESS)
            _exit(1);
        for (;;)
            pause(); /* killed */
    }
    ps_buf b;
    MT_KR(ps_receive(port, &b, PS_WAIT_MS), MACH_MSG_SUCCESS);
    mach_port_t theirs = b.in.m.h.msgh_remote_port;
    MT_EQ(MACH_MSGH_BITS_REMOTE(b.in.m.h.msgh_bits), (unsigned)MACH_MSG_TYPE_PORT_SEND);
    mach_port_t notify = MACH_PORT_NULL, previous = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &notify), KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, theirs, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
          KERN_SUCCESS);
    /* Posting now (the first send earns the credits). */
    for (uint32_t i = 0; i < 20; i++)
        MT_KR(ps_send(theirs, 80, i, false), MACH_MSG_SUCCESS);
    kill(kid, SIGKILL);
    MT_EQ(w_wait_status(kid), 128 + SIGKILL);
    MT_KR(ps_receive(notify, &b, PS_WAIT_MS), MACH_MSG_SUCCESS);
    MT_EQ(b.in.m.h.msgh_id, MACH_NOTIFY_DEAD_NAME);
    MT_KR(ps_send(theirs, 80, 20, false), MACH_SEND_INVALID_DEST);
    mach_port_urefs_t refs = 0;
    /* The send right's uref and the dead-name request's: the notification took one more
     * (XNU counts the one the notification names). */
    MT_KR(mach_port_get_refs(TASK, theirs, MACH_PORT_RIGHT_DEAD_NAME, &refs), KERN_SUCCESS);
    MT_CHECK(refs >= 1);
    MT_KR(mach_port_mod_refs(TASK, theirs, MACH_PORT_RIGHT_DEAD_NAME, -(int)refs), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

/*
 * Credentials: messages posted before a seteuid carry the old effective uid, every message
 * after it the new one (root only: an unprivileged process cannot change its uid).
 */
MT_TEST(messages_posted_before_and_after_a_credential_change_carry_the_sender_s_uid_at_send_time)
{
    if (geteuid() != 0) {
        printf("  (not root: the credential change is not possible here; nothing to check)\n");
        return;
    }
    mach_port_t port = ps_port(1024);
    MT_REQUIRE(port != MACH_PORT_NULL);
    enum { N = 60, NOBODY = 65534 };
    pid_t kid = w_fork_with(port);
    MT_REQUIRE(kid >= 0);
    if (kid == 0) {
        for (uint32_t i = 0; i < N; i++)
            if (ps_send(bootstrap_port, 70, i, false) != MACH_MSG_SUCCESS)
                _exit(1);
        if (seteuid(NOBODY) != 0)
            _exit(2);
        for (uint32_t i = 0; i < N; i++)
            if (ps_send(bootstrap_port, 71, i, false) != MACH_MSG_SUCCESS)
                _exit(3);
        if (seteuid(0) != 0)
            _exit(4);
        for (uint32_t i = 0; i < N; i++)
            if (ps_send(bootstrap_port, 72, i, false) != MACH_MSG_SUCCESS)
                _exit(5);
        _exit(0);
    }
    MT_EQ(w_wait_status(kid), 0);
    for (uint32_t tag = 70; tag <= 72; tag++) {
        unsigned want = tag == 71 ? NOBODY : 0;
        for (uint32_t i = 0; i < N; i++) {
            ps_buf b;
            MT_KR(ps_receive(port, &b, PS_WAIT_MS), MACH_MSG_SUCCESS);
            MT_EQ(b.in.m.tag, tag);
            MT_EQ(b.in.m.seq, i);
            MT_EQ(b.in.trailer.msgh_audit.val[1], want); /* euid */
            MT_EQ(b.in.trailer.msgh_sender.val[0], want);
            MT_EQ(b.in.trailer.msgh_audit.val[5], (unsigned)kid);
        }
    }
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

/*
 * A sender that blocks on a full queue (limit 2) while receivers in other threads take the
 * messages one by one: each time it is woken for room, the room is its own (never promised
 * to its posts meanwhile), so it never waits for good.
 */
typedef struct {
    mach_port_t port;
    uint32_t got, bad;
} ps_drainer;

static void *ps_drain_thread(void *arg)
{
    ps_drainer *r = arg;
    for (;;) {
        ps_buf b;
        if (ps_receive(r->port, &b, PS_WAIT_MS) != MACH_MSG_SUCCESS) {
            r->bad++;
            return NULL;
        }
        if (b.in.m.tag == 99)
            return NULL;
        r->got++;
    }
}

MT_TEST(a_sender_woken_for_room_in_a_full_queue_gets_it_before_its_own_credits_do)
{
    enum { QL = 2, N = 10000, NR = 3 };
    mach_port_t port = ps_port(QL);
    MT_REQUIRE(port != MACH_PORT_NULL);
    ps_drainer r[NR];
    pthread_t t[NR];
    for (int i = 0; i < NR; i++) {
        r[i] = (ps_drainer){.port = port};
        MT_REQUIRE(pthread_create(&t[i], NULL, ps_drain_thread, &r[i]) == 0);
    }
    for (uint32_t i = 0; i < N; i++)
        MT_KR(ps_send(port, 98, i, false), MACH_MSG_SUCCESS);
    for (int i = 0; i < NR; i++)
        MT_KR(ps_send(port, 99, 0, false), MACH_MSG_SUCCESS);
    uint32_t got = 0, bad = 0;
    for (int i = 0; i < NR; i++) {
        MT_REQUIRE(pthread_join(t[i], NULL) == 0);
        got += r[i].got;
        bad += r[i].bad;
    }
    MT_EQ(got, (uint32_t)N);
    MT_EQ(bad, 0u);
    MT_EQ(ps_msgcount(port), 0u);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

/*
 * Receive windows: a thread that receives a stream takes all but the first message from its
 * window. Another thread that hears of those receives finds them gone from the queue (count
 * and sequence number), the trailers carry the sequence numbers a receive gives, in order.
 */
typedef struct {
    mach_port_t port;
    int told[2], go_on[2];
    uint32_t first, rest, bad;
} ps_reader;

static void *ps_reader_thread(void *arg)
{
    ps_reader *r = arg;
    ps_buf b;
    for (uint32_t i = 0; i < r->first + r->rest; i++) {
        if (i == r->first) {
            char c = 'r';
            if (write(r->told[1], &c, 1) != 1 || read(r->go_on[0], &c, 1) != 1)
                return NULL;
        }
        if (ps_receive(r->port, &b, PS_WAIT_MS) != MACH_MSG_SUCCESS || b.in.m.seq != i ||
            b.in.trailer.msgh_seqno != i || b.in.m.h.msgh_local_port != r->port ||
            b.in.trailer.msgh_audit.val[5] != (unsigned)getpid())
            r->bad++;
    }
    return NULL;
}

MT_TEST(receives_from_a_window_are_in_order_with_their_seqnos_and_gone_from_the_queue_at_once)
{
    enum { FIRST = 60, REST = 40 };
    uint64_t before = w_stat(5);
    ps_reader r = {.port = ps_port(1024), .first = FIRST, .rest = REST};
    MT_REQUIRE(r.port != MACH_PORT_NULL);
    MT_REQUIRE(pipe(r.told) == 0 && pipe(r.go_on) == 0);
    for (uint32_t i = 0; i < FIRST + REST; i++)
        MT_KR(ps_send(r.port, 100, i, false), MACH_MSG_SUCCESS);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, ps_reader_thread, &r) == 0);
    char c;
    MT_REQUIRE(read(r.told[0], &c, 1) == 1);
    /* The reader's receives returned: the queue no longer holds what they took. */
    mach_port_status_t st;
    mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(mach_port_get_attributes(TASK, r.port, MACH_PORT_RECEIVE_STATUS,
                                   (mach_port_info_t)&st, &cnt),
          KERN_SUCCESS);
    MT_EQ(st.mps_msgcount, (mach_port_msgcount_t)REST);
    MT_EQ(st.mps_seqno, (mach_port_seqno_t)FIRST);
    MT_REQUIRE(write(r.go_on[1], "g", 1) == 1);
    MT_REQUIRE(pthread_join(t, NULL) == 0);
    MT_EQ(r.bad, 0u);
    MT_EQ(ps_msgcount(r.port), 0u);
    /* Most came through the window (the first receive of each run opens it). */
    MT_CHECK(w_stat(5) - before >= (FIRST + REST) / 2);
    close(r.told[0]);
    close(r.told[1]);
    close(r.go_on[0]);
    close(r.go_on[1]);
    MT_KR(mach_port_mod_refs(TASK, r.port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, r.port), KERN_SUCCESS);
}

MT_TEST(a_receive_after_the_port_with_a_window_was_destroyed_fails_as_without_one)
{
    mach_port_t port = ps_port(1024);
    MT_REQUIRE(port != MACH_PORT_NULL);
    for (uint32_t i = 0; i < 10; i++)
        MT_KR(ps_send(port, 101, i, false), MACH_MSG_SUCCESS);
    MT_EQ(ps_expect_run(port, 101, 0, 3), 0); /* a window shows the other seven now */
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    ps_buf b;
    MT_KR(ps_receive(port, &b, 0), MACH_RCV_INVALID_NAME);
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(TASK, port, MACH_PORT_RIGHT_DEAD_NAME, &refs), KERN_SUCCESS);
    MT_EQ(refs, 1u);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

/* This thread's ring (the only one of a child with one thread), found in /proc/self/maps. */
static uint8_t *ps_my_ring(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return NULL;
    char line[512];
    uint8_t *found = NULL;
    while (!found && fgets(line, sizeof line, f)) {
        uintptr_t lo, hi;
        if (strstr(line, "umach-ring") && sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 &&
            hi - lo == UM_RING_SIZE)
            found = (uint8_t *)lo;
    }
    fclose(f);
    return found;
}

/* Write a record for a `len`-byte copy of `m` at the ring's tail, claiming grant `slot`. */
static void ps_forge(uint8_t *ring, uint32_t slot, const ps_msg *m, uint32_t len)
{
    um_ring_post_ctl *pc = (um_ring_post_ctl *)(ring + UM_RING_POST_CTL);
    uint32_t tail = pc->tail, at = tail & (UM_RING_POST_SIZE - 1);
    um_ring_post_rec rec = {len, slot, 0};
    memcpy(ring + UM_RING_MBOX_SIZE + at, &rec, sizeof rec);
    memcpy(ring + UM_RING_MBOX_SIZE + at + sizeof rec, m, len < sizeof *m ? len : sizeof *m);
    __atomic_store_n(&pc->tail, tail + UM_RING_POST_REC_SIZE(len), __ATOMIC_RELEASE);
}

/*
 * A child that holds a grant lies in its ring (kind `lie`); its next call must find its task
 * ended. 0 when it did.
 */
static int ps_liar(int lie)
{
    mach_port_t dest = bootstrap_port, own = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &own) != KERN_SUCCESS)
        return 1;
    /* Earn a grant: a send, then one posted, then a receive that finds nothing (the daemon
     * has taken the post when it answers). */
    ps_buf b;
    if (ps_send(dest, 90, 0, false) != MACH_MSG_SUCCESS ||
        ps_send(dest, 90, 1, false) != MACH_MSG_SUCCESS ||
        ps_receive(own, &b, 0) != MACH_RCV_TIMED_OUT)
        return 1;
    uint8_t *ring = ps_my_ring();
    if (!ring)
        return 2;
    um_ring_post_ctl *pc = (um_ring_post_ctl *)(ring + UM_RING_POST_CTL);
    ps_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = dest;
    m.tag = 91;
    uint32_t slot = UM_RING_GRANTS;
    for (uint32_t i = 0; i < UM_RING_GRANTS; i++)
        if (pc->grants[i].name == dest)
            slot = i;
    if (slot == UM_RING_GRANTS)
        return 3;
    switch (lie) {
    case 0: /* a slot never granted */
        ps_forge(ring, (slot + 1) % UM_RING_GRANTS, &m, sizeof m);
        break;
    case 1: /* more posts than credits given (the word raised by the client) */
        __atomic_store_n(&pc->grants[slot].credits, 100000, __ATOMIC_RELAXED);
        for (uint32_t i = 0; i < 600; i++)
            if (ps_send(dest, 91, i, false) != MACH_MSG_SUCCESS)
                break; /* the ring filled: the send went to the daemon, which ended us */
        break;
    case 2: /* another destination than the grant's */
        m.h.msgh_remote_port = dest + 4;
        ps_forge(ring, slot, &m, sizeof m);
        break;
    case 3: /* not a simple COPY_SEND */
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0);
        ps_forge(ring, slot, &m, sizeof m);
        break;
    case 4: /* a length that is no message */
        ps_forge(ring, slot, &m, 7);
        break;
    case 5: /* a tail far past the head */
        __atomic_store_n(&pc->tail, pc->head + 3 * UM_RING_POST_SIZE, __ATOMIC_RELEASE);
        break;
    default: { /* more receives claimed from a window than it showed */
        mach_port_t mine = ps_port(16);
        for (uint32_t i = 0; i < 4; i++)
            if (mine == MACH_PORT_NULL || ps_send(mine, 93, i, false) != MACH_MSG_SUCCESS)
                return 5;
        if (ps_receive(mine, &b, 0) != MACH_MSG_SUCCESS) /* opens the window */
            return 6;
        um_ring_win_ctl *wc = (um_ring_win_ctl *)(ring + UM_RING_WIN_CTL);
        if (wc->name != mine || wc->avail != 3)
            return 7;
        __atomic_store_n(&wc->avail, 50, __ATOMIC_RELEASE);
        for (int i = 0; i < 10; i++)
            (void)ps_receive(mine, &b, 0);
        break;
    }
    }
    mach_port_t p = MACH_PORT_NULL;
    return mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) == KERN_SUCCESS ? 4 : 0;
}

MT_TEST(a_task_that_lies_in_its_post_ring_ends_and_the_receiver_sees_no_forged_message)
{
    mach_port_t port = ps_port(300);
    MT_REQUIRE(port != MACH_PORT_NULL);
    for (int lie = 0; lie < 7; lie++) {
        pid_t kid = w_fork_with(port);
        MT_REQUIRE(kid >= 0);
        if (kid == 0)
            _exit(ps_liar(lie));
        MT_EQ(w_wait_status(kid), 0);
        /* What it sent honestly arrived; nothing forged did; the queue kept its limit. */
        MT_CHECK(ps_msgcount(port) <= 300u);
        MT_EQ(ps_expect_run(port, 90, 0, 2), 0);
        ps_buf b;
        mach_msg_return_t mr;
        uint32_t n = 0;
        while ((mr = ps_receive(port, &b, 0)) == MACH_MSG_SUCCESS) {
            MT_EQ(b.in.m.tag, 91u);
            MT_EQ(b.in.m.seq, n);
            n++;
        }
        MT_EQ(mr, MACH_RCV_TIMED_OUT);
        MT_CHECK(lie == 1 ? n <= 300 : n == 0);
    }
    /* The world serves on. */
    MT_EQ(ps_send(port, 92, 0, false), MACH_MSG_SUCCESS);
    MT_EQ(ps_expect_run(port, 92, 0, 1), 0);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
}

/* ---- revocation: exactly when what a grant or a window stands on changes ------------------ */

/* Send `port`'s right (`disp`: MOVE_SEND or MOVE_RECEIVE) to `to` in a port descriptor. */
static mach_msg_return_t ps_send_right(mach_port_t to, mach_port_t port, mach_msg_type_name_t disp)
{
    struct {
        mach_msg_header_t h;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t d;
    } m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = to;
    m.h.msgh_id = 77;
    m.body.msgh_descriptor_count = 1;
    m.d.name = port;
    m.d.disposition = disp;
    m.d.type = MACH_MSG_PORT_DESCRIPTOR;
    return mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

/* Receive the right ps_send_right sent to `from`: its name here, or MACH_PORT_NULL. */
static mach_port_t ps_receive_right(mach_port_t from)
{
    union {
        struct {
            mach_msg_header_t h;
            mach_msg_body_t body;
            mach_msg_port_descriptor_t d;
        } m;
        uint8_t bytes[256];
    } b;
    memset(&b, 0, sizeof b);
    if (mach_msg(&b.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof b, from, PS_WAIT_MS,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS ||
        !(b.m.h.msgh_bits & MACH_MSGH_BITS_COMPLEX) || b.m.body.msgh_descriptor_count != 1)
        return MACH_PORT_NULL;
    return b.m.d.name;
}

/* Receive `n` messages of `tag` from `port`: seq first.., trailer seqno seqno0.. (0: good). */
static int ps_expect_seqnos(mach_port_t port, uint32_t tag, uint32_t first, uint32_t n,
                            mach_port_seqno_t seqno0)
{
    ps_buf b;
    for (uint32_t i = 0; i < n; i++) {
        if (ps_receive(port, &b, PS_WAIT_MS) != MACH_MSG_SUCCESS)
            return 1;
        if (b.in.m.tag != tag || b.in.m.seq != first + i)
            return 2;
        if (b.in.trailer.msgh_seqno != seqno0 + i)
            return 3;
    }
    return 0;
}

MT_TEST(a_call_that_changes_nothing_a_grant_stands_on_keeps_it_and_taking_the_right_revokes_it)
{
    mach_port_t port = ps_port(1024);
    MT_REQUIRE(port != MACH_PORT_NULL);
    uint64_t before = w_stat(W_STAT_POSTS_TAKEN);
    for (uint32_t i = 0; i < 50; i++)
        MT_KR(ps_send(port, 120, i, false), MACH_MSG_SUCCESS);
    /* Calls that change other ports, and one that only reads this one: the grant stays. */
    mach_port_t other = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &other), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, other, other, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, other), KERN_SUCCESS);
    MT_EQ(ps_msgcount(port), 50u);
    for (uint32_t i = 50; i < 100; i++)
        MT_KR(ps_send(port, 120, i, false), MACH_MSG_SUCCESS);
    /* Every send but the first (which earned the grant) was posted. */
    MT_EQ(w_stat(W_STAT_POSTS_TAKEN) - before, 99u);
    /* The send right goes: the next send fails as a synchronous one does, and is not queued. */
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    mach_port_t reply = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &reply), KERN_SUCCESS);
    mach_msg_return_t sync = ps_send_sync(port, reply, 121, 0);
    MT_NE(sync, MACH_MSG_SUCCESS);
    MT_KR(ps_send(port, 121, 0, false), sync);
    MT_EQ(ps_msgcount(port), 100u);
    MT_EQ(ps_expect_run(port, 120, 0, 100), 0);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, other, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(a_send_right_moved_away_in_a_message_revokes_its_grant)
{
    mach_port_t port = ps_port(1024), carrier = ps_port(16), reply = MACH_PORT_NULL;
    MT_REQUIRE(port != MACH_PORT_NULL && carrier != MACH_PORT_NULL);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &reply), KERN_SUCCESS);
    for (uint32_t i = 0; i < 20; i++)
        MT_KR(ps_send(port, 122, i, false), MACH_MSG_SUCCESS);
    MT_KR(ps_send_right(carrier, port, MACH_MSG_TYPE_MOVE_SEND), MACH_MSG_SUCCESS);
    /* The name holds the receive right alone: a send fails as a synchronous one does. */
    mach_msg_return_t sync = ps_send_sync(port, reply, 123, 0);
    MT_NE(sync, MACH_MSG_SUCCESS);
    MT_KR(ps_send(port, 123, 0, false), sync);
    MT_EQ(ps_msgcount(port), 20u);
    /* The right comes back (under the receive right's name) and sends are posted again. */
    MT_EQ(ps_receive_right(carrier), port);
    for (uint32_t i = 20; i < 40; i++)
        MT_KR(ps_send(port, 122, i, false), MACH_MSG_SUCCESS);
    MT_EQ(ps_expect_run(port, 122, 0, 40), 0);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, carrier, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, carrier), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(a_window_is_taken_back_before_its_port_s_seqno_set_or_receive_right_changes)
{
    mach_port_t port = ps_port(1024), carrier = ps_port(16), set = MACH_PORT_NULL;
    MT_REQUIRE(port != MACH_PORT_NULL && carrier != MACH_PORT_NULL);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    for (uint32_t i = 0; i < 40; i++)
        MT_KR(ps_send(port, 124, i, false), MACH_MSG_SUCCESS);
    /* A receive opens a window on the rest; then the seqno is set: what the window showed
     * would carry the old ones. */
    MT_EQ(ps_expect_seqnos(port, 124, 0, 3, 0), 0);
    MT_KR(mach_port_set_seqno(TASK, port, 1000), KERN_SUCCESS);
    MT_EQ(ps_expect_seqnos(port, 124, 3, 7, 1000), 0);
    /* The port joins a set: receives on the set and on the port share one queue. */
    MT_KR(mach_port_insert_member(TASK, port, set), KERN_SUCCESS);
    MT_EQ(ps_expect_seqnos(set, 124, 10, 3, 1007), 0);
    MT_EQ(ps_expect_seqnos(port, 124, 13, 3, 1010), 0);
    MT_KR(mach_port_move_member(TASK, port, MACH_PORT_NULL), KERN_SUCCESS);
    MT_EQ(ps_expect_seqnos(port, 124, 16, 4, 1013), 0); /* a window again */
    /* The receive right moves out and back: its messages go with it, its seqno restarts. */
    MT_KR(ps_send_right(carrier, port, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    mach_port_t back = ps_receive_right(carrier);
    MT_REQUIRE(MACH_PORT_VALID(back));
    MT_EQ(ps_expect_seqnos(back, 124, 20, 20, 0), 0);
    MT_EQ(ps_msgcount(back), 0u);
    MT_KR(mach_port_mod_refs(TASK, back, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, carrier, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, carrier), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, set, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
}

MT_TEST(every_message_received_from_a_window_was_the_one_the_receive_itself_gives)
{
    /* The daemon checks each claimed receive against the core's own (UM_WIRE_STATS). */
    MT_CHECK(w_stat(5) > 0 && w_stat(5) != UINT64_MAX);
    MT_EQ(w_stat(6), 0u);
}

MT_TEST(no_grant_or_window_was_found_standing_on_a_dead_or_moved_port_before_a_reply)
{
    /* The core told the daemon before each change (its hook ran, 8); the look before every
     * reply (7) found nothing left to take back. */
    MT_CHECK(w_stat(8) > 0 && w_stat(8) != UINT64_MAX);
    MT_EQ(w_stat(7), 0u);
}

MT_MAIN()
