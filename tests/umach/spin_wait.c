/*
 * spin_wait.c — mach_msg waiters spin before they sleep (UMACH_SPIN_US; Linux only, see
 * docs/umach-internals.md "Spin, then sleep").
 *
 * Whatever the spin bound (off, the default, the maximum, a value that is not a number), a
 * waiter must take every wake-up exactly once: request/reply round trips between two threads
 * keep their order, a sender blocked on a full queue is released by the receive that makes
 * room, timeouts end on time, and a late wake meant for an earlier wait does not end a later
 * one. The environment is read once per process, so each setting runs this program again.
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/mach.h>

#include <pthread.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TASK mach_task_self()

typedef struct {
    mach_msg_header_t h;
    uint64_t seq;
} sw_msg;

typedef struct {
    sw_msg m;
    mach_msg_max_trailer_t t;
} sw_buf;

static uint64_t sw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static mach_port_name_t sw_port(void)
{
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static void sw_kill(mach_port_name_t p)
{
    (void)mach_port_deallocate(TASK, p);
    (void)mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1);
}

static mach_msg_return_t sw_send(mach_port_name_t dest, mach_port_name_t reply, uint64_t seq,
                                 mach_msg_option_t extra, mach_msg_timeout_t ms)
{
    sw_msg m = {0};
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND,
                                   reply ? MACH_MSG_TYPE_MAKE_SEND_ONCE : 0);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = dest;
    m.h.msgh_local_port = reply;
    m.seq = seq;
    return mach_msg(&m.h, MACH_SEND_MSG | extra, sizeof m, 0, MACH_PORT_NULL, ms, MACH_PORT_NULL);
}

/* ---- what each child runs --------------------------------------------------------------- */

enum { ROUND_TRIPS = 3000 };

typedef struct {
    mach_port_name_t service;
    int failures;
} sw_server;

static void *server_main(void *arg)
{
    sw_server *s = arg;
    for (uint64_t i = 0; i < ROUND_TRIPS; i++) {
        sw_buf b;
        if (mach_msg(&b.m.h, MACH_RCV_MSG, 0, sizeof b, s->service, 0, MACH_PORT_NULL) !=
                MACH_MSG_SUCCESS ||
            b.m.seq != i) {
            s->failures++;
            return NULL;
        }
        sw_msg r = {0};
        r.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
        r.h.msgh_size = sizeof r;
        r.h.msgh_remote_port = b.m.h.msgh_remote_port;
        r.seq = i + 1000000;
        if (mach_msg(&r.h, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL) !=
            MACH_MSG_SUCCESS) {
            s->failures++;
            return NULL;
        }
    }
    return NULL;
}

/* Request/reply round trips with another thread: every reply arrives, in order. */
static int child_round_trips(void)
{
    sw_server s = {sw_port(), 0};
    mach_port_name_t reply = MACH_PORT_NULL;
    if (!s.service || mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &reply) != KERN_SUCCESS)
        return 10;
    pthread_t t;
    if (pthread_create(&t, NULL, server_main, &s) != 0)
        return 11;
    int bad = 0;
    for (uint64_t i = 0; i < ROUND_TRIPS && !bad; i++) {
        sw_buf b = {0};
        b.m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        b.m.h.msgh_size = sizeof b.m;
        b.m.h.msgh_remote_port = s.service;
        b.m.h.msgh_local_port = reply;
        b.m.seq = i;
        if (mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m, sizeof b, reply, 0,
                     MACH_PORT_NULL) != MACH_MSG_SUCCESS ||
            b.m.seq != i + 1000000)
            bad = 12;
    }
    pthread_join(t, NULL);
    sw_kill(s.service);
    (void)mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1);
    return bad ? bad : s.failures ? 13 : 0;
}

typedef struct {
    mach_port_name_t port;
    int sent;
    mach_msg_return_t mr;
} sw_sender;

static void *blocked_sender_main(void *arg)
{
    sw_sender *s = arg;
    /* qlimit 1: the first send fills the queue, the second waits for room */
    s->mr = sw_send(s->port, MACH_PORT_NULL, 1, 0, 0);
    if (s->mr == MACH_MSG_SUCCESS)
        s->mr = sw_send(s->port, MACH_PORT_NULL, 2, 0, 0);
    __atomic_store_n(&s->sent, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* A sender blocked on a full queue goes on once a receive makes room, many times over. */
static int child_blocked_sender(void)
{
    for (int round = 0; round < 200; round++) {
        sw_sender s = {sw_port(), 0, 0};
        mach_port_limits_t lim = {.mpl_qlimit = 1};
        if (!s.port || mach_port_set_attributes(TASK, s.port, MACH_PORT_LIMITS_INFO,
                                                (mach_port_info_t)&lim,
                                                MACH_PORT_LIMITS_INFO_COUNT) != KERN_SUCCESS)
            return 20;
        pthread_t t;
        if (pthread_create(&t, NULL, blocked_sender_main, &s) != 0)
            return 21;
        for (uint64_t want = 1; want <= 2; want++) {
            sw_buf b;
            if (mach_msg(&b.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof b, s.port, 10000,
                         MACH_PORT_NULL) != MACH_MSG_SUCCESS ||
                b.m.seq != want)
                return 22;
        }
        pthread_join(t, NULL);
        if (s.mr != MACH_MSG_SUCCESS || !s.sent)
            return 23;
        sw_kill(s.port);
    }
    return 0;
}

/*
 * Timeouts end on time whatever the spin, and a wait that follows a woken one is not ended by
 * the earlier wake: after each round trip the next receive on an empty port times out.
 */
static int child_timeouts(void)
{
    mach_port_name_t p = sw_port();
    if (!p)
        return 30;
    for (int i = 0; i < 20; i++) {
        if (sw_send(p, MACH_PORT_NULL, (uint64_t)i, 0, 0) != MACH_MSG_SUCCESS)
            return 31;
        sw_buf b;
        if (mach_msg(&b.m.h, MACH_RCV_MSG, 0, sizeof b, p, 0, MACH_PORT_NULL) !=
            MACH_MSG_SUCCESS)
            return 32;
        uint64_t t0 = sw_now_ms();
        mach_msg_return_t mr = mach_msg(&b.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof b, p,
                                        5, MACH_PORT_NULL);
        uint64_t took = sw_now_ms() - t0;
        if (mr != MACH_RCV_TIMED_OUT)
            return 33;
        if (took < 4 || took > 5000) /* generous: the machine may be loaded */
            return 34;
    }
    sw_kill(p);
    return 0;
}

static int run_child(const char *mode)
{
    if (strcmp(mode, "round_trips") == 0)
        return child_round_trips();
    if (strcmp(mode, "blocked_sender") == 0)
        return child_blocked_sender();
    if (strcmp(mode, "timeouts") == 0)
        return child_timeouts();
    return 99;
}

/* ---- the tests: each child under every spin setting ------------------------------------- */

static const char *self_path;

/* Run `self mode` with UMACH_SPIN_US set to `spin` (NULL: unset); its exit status or -1. */
static int run_self(const char *mode, const char *spin)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (spin)
            setenv("UMACH_SPIN_US", spin, 1);
        else
            unsetenv("UMACH_SPIN_US");
        char *args[] = {(char *)self_path, (char *)mode, NULL};
        execv(self_path, args);
        _exit(127);
    }
    int st = -1;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static const char *const spin_settings[] = {"0", NULL, "1", "1000", "5000000", "fast"};
#define NSETTINGS (sizeof spin_settings / sizeof spin_settings[0])

MT_TEST(round_trips_between_threads_arrive_in_order_whatever_the_spin_bound)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        MT_EQ(run_self("round_trips", spin_settings[i]), 0);
}

MT_TEST(a_sender_blocked_on_a_full_queue_goes_on_when_room_is_made_whatever_the_spin_bound)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        MT_EQ(run_self("blocked_sender", spin_settings[i]), 0);
}

MT_TEST(timeouts_end_on_time_and_an_earlier_wake_does_not_end_a_later_wait)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        MT_EQ(run_self("timeouts", spin_settings[i]), 0);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1)
        return run_child(argv[1]);
    return mt_run_all(argv[0]);
}
