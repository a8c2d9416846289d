/*
 * rings.c — a thread connection's shared-memory ring (src/umach/wire/um_ring.h), spoken by
 * hand as a hostile client would: the daemon gives a joined thread connection a sealed memfd
 * and an eventfd, serves a request posted in the ring and answers in it; garbage in the ring,
 * posts without a request and a client that changes its ring under the daemon end at most
 * that client's connection, never the daemon or another task.
 */
#define _GNU_SOURCE
#include "../umach/umach_test.h"
#include "mt.h"
#include "wire/um_ring.h"
#include "world_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char r_path[108];
static pid_t r_daemon;

static void r_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int r_connect(void)
{
    return w_connect_path(r_path);
}

static int r_start(void)
{
    snprintf(r_path, sizeof r_path, "/tmp/umachd_rings_%d.sock", (int)getpid());
    r_daemon = w_daemon_start(r_path, NULL);
    return r_daemon > 0 ? 0 : -1;
}

/* SIGTERM the daemon: its exit status (0 when it was alive and ended cleanly). */
static int r_stop(void)
{
    return w_daemon_stop(r_daemon);
}

/* A thread connection joined with a ring, by hand. */
typedef struct r_conn {
    int fd;
    uint8_t *base; /* the ring, UM_RING_SIZE bytes */
    int evfd;
    int memfd;
} r_conn;

static int r_join(const w_hello_reply *h, r_conn *c)
{
    c->fd = r_connect();
    c->base = NULL;
    c->evfd = c->memfd = -1;
    if (c->fd < 0)
        return -1;
    uint64_t args[3] = {h->secret[0], h->secret[1], UM_WIRE_JOIN_RING};
    if (w_send(c->fd, UM_WIRE_JOIN, args, 3) != 0)
        return -1;
    um_wire_hdr rep;
    union {
        struct cmsghdr c;
        char space[CMSG_SPACE(sizeof(int) * 2)];
    } cm;
    struct iovec iov = {&rep, sizeof rep};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.space,
                        .msg_controllen = sizeof cm.space};
    if (recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof rep || rep.kr != 0 ||
        !(rep.flags & UM_WIRE_F_RING))
        return -1;
    struct cmsghdr *cmh = CMSG_FIRSTHDR(&mh);
    if (!cmh || cmh->cmsg_type != SCM_RIGHTS || cmh->cmsg_len != CMSG_LEN(sizeof(int) * 2))
        return -1;
    int fds[2];
    memcpy(fds, CMSG_DATA(cmh), sizeof fds);
    c->memfd = fds[0];
    c->evfd = fds[1];
    void *base = mmap(NULL, UM_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
    if (base == MAP_FAILED)
        return -1;
    c->base = base;
    return 0;
}

static void r_close(r_conn *c)
{
    if (c->base)
        munmap(c->base, UM_RING_SIZE);
    if (c->evfd >= 0)
        close(c->evfd);
    if (c->memfd >= 0)
        close(c->memfd);
    if (c->fd >= 0)
        close(c->fd);
}

/* A new task (hello on *ctl) and a thread of it joined on a ring connection *c; 0 or -1. */
static int r_task(int *ctl, r_conn *c)
{
    w_hello_reply h;
    *ctl = r_connect();
    if (*ctl < 0)
        return -1;
    if (w_hello(*ctl, &h) != 0 || r_join(&h, c) != 0) {
        close(*ctl);
        *ctl = -1;
        return -1;
    }
    return 0;
}

static uint32_t *r_state(r_conn *c)
{
    return (uint32_t *)c->base;
}

/* Post what is in the request area. */
static int r_post(r_conn *c)
{
    um_ring_ctl_post((um_ring_ctl *)c->base);
    uint64_t one = 1;
    return write(c->evfd, &one, sizeof one) == (ssize_t)sizeof one ? 0 : -1;
}

/* The state once it is a reply (bounded wait, 5 s); the outstanding code if none came. */
static uint32_t r_wait(r_conn *c)
{
    uint32_t s = 0;
    for (int i = 0; i < 5000; i++) {
        s = __atomic_load_n(r_state(c), __ATOMIC_ACQUIRE) & UM_RING_STATE_MASK;
        if (s == UM_RING_REP || s == UM_RING_SOCK)
            break;
        r_sleep_ms(1);
    }
    return s;
}

/* A STATS request in the ring: the reply's tasks alive, or -1. */
static long r_stats_through_ring(r_conn *c, uint64_t id)
{
    um_wire_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = UM_WIRE_MAGIC;
    h.call = UM_WIRE_STATS;
    h.id = id;
    memcpy(c->base + UM_RING_CTL, &h, sizeof h);
    if (r_post(c) != 0 || r_wait(c) != UM_RING_REP)
        return -1;
    um_wire_hdr rep;
    uint64_t out[2];
    const uint8_t *area = c->base + UM_RING_CTL + UM_RING_AREA;
    memcpy(&rep, area, sizeof rep);
    memcpy(out, area + sizeof rep, sizeof out);
    if (rep.magic != UM_WIRE_MAGIC || rep.call != UM_WIRE_STATS || rep.id != id || rep.kr != 0 ||
        rep.nargs < 2)
        return -1;
    return (long)out[0];
}

/* The daemon hung up on the connection (bounded wait). */
static bool r_hung_up(int fd)
{
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b[64];
    return recv(fd, b, sizeof b, 0) == 0;
}

MT_TEST(a_joined_thread_connection_gets_a_sealed_ring_and_is_answered_in_it)
{
    MT_REQUIRE(r_start() == 0);
    int ctl = -1;
    r_conn c;
    MT_REQUIRE(r_task(&ctl, &c) == 0);
    struct stat st;
    MT_REQUIRE(fstat(c.memfd, &st) == 0);
    MT_EQ((long)st.st_size, (long)UM_RING_SIZE);
    int seals = fcntl(c.memfd, F_GET_SEALS);
    MT_CHECK(seals >= 0 && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW) &&
             (seals & F_SEAL_SEAL));
    MT_CHECK(ftruncate(c.memfd, 4096) != 0); /* the daemon's mapping can never lose a page */
    MT_EQ(r_stats_through_ring(&c, 7), 1L);
    MT_EQ(r_stats_through_ring(&c, 8), 1L); /* and again: the ring is reused */
    r_close(&c);
    close(ctl);
    MT_EQ(r_stop(), 0);
}

MT_TEST(garbage_in_a_ring_ends_only_that_task_and_the_daemon_serves_on)
{
    MT_REQUIRE(r_start() == 0);
    int ctl = -1;
    r_conn good;
    MT_REQUIRE(r_task(&ctl, &good) == 0);

    /* Lengths past the area, nargs past the limit, a wrong magic: each refused, no fault. A
     * malformed request ends its sender's task (docs/world.md, "Bad input and limits"), so
     * each lie comes from a task of its own. */
    const struct {
        uint32_t magic, nargs, blob_len;
    } lies[] = {{UM_WIRE_MAGIC, 0, UM_RING_AREA}, {UM_WIRE_MAGIC, 0, 0xffffffffu},
                {UM_WIRE_MAGIC, 1000, 0}, {0x12345678u, 0, 0}};
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        int ctl2 = -1;
        r_conn bad;
        MT_REQUIRE(r_task(&ctl2, &bad) == 0);
        MT_EQ(r_stats_through_ring(&good, 1), 2L);
        um_wire_hdr g;
        memset(&g, 0xa5, sizeof g);
        g.magic = lies[i].magic;
        g.call = UM_WIRE_STATS;
        g.nargs = lies[i].nargs;
        g.blob_len = lies[i].blob_len;
        memcpy(bad.base + UM_RING_CTL, &g, sizeof g);
        memset(bad.base + UM_RING_CTL + sizeof g, 0xa5, UM_RING_AREA - sizeof g);
        MT_REQUIRE(r_post(&bad) == 0);
        MT_CHECK(r_hung_up(bad.fd));
        /* The ring of a connection the daemon ended says so: a waiter would wake. */
        MT_EQ(r_wait(&bad), (uint32_t)UM_RING_SOCK);
        MT_CHECK(r_hung_up(ctl2)); /* the liar's task is gone, control connection and all */
        r_close(&bad);
        close(ctl2);
        MT_EQ(r_stats_through_ring(&good, 10 + i), 1L);
    }
    /* The first task is untouched. */
    uint32_t tasks = 0, names = 0;
    MT_EQ(w_stats2(ctl, &tasks, &names), 0);
    MT_EQ(tasks, 1u);
    r_close(&good);
    close(ctl);
    MT_EQ(r_stop(), 0);
}

MT_TEST(a_post_without_a_request_and_a_word_changed_under_the_daemon_are_harmless)
{
    MT_REQUIRE(r_start() == 0);
    int ctl = -1;
    r_conn c;
    MT_REQUIRE(r_task(&ctl, &c) == 0);
    /* The eventfd without a request: nothing is served, nothing replies. */
    uint64_t one = 1;
    for (int i = 0; i < 100; i++)
        MT_REQUIRE(write(c.evfd, &one, sizeof one) == (ssize_t)sizeof one);
    r_sleep_ms(50);
    uint32_t s = __atomic_load_n(r_state(&c), __ATOMIC_ACQUIRE);
    MT_EQ(s, (uint32_t)UM_RING_IDLE);
    /* Reply states written by the client, and its waiting flag, are only its own business. */
    __atomic_store_n(r_state(&c), UM_RING_REP | UM_RING_WAITING, __ATOMIC_RELEASE);
    MT_REQUIRE(write(c.evfd, &one, sizeof one) == (ssize_t)sizeof one);
    r_sleep_ms(20);
    MT_EQ(r_stats_through_ring(&c, 3), 1L);
    /* A request posted again while the daemon keeps none pending is simply served again. */
    MT_REQUIRE(r_post(&c) == 0);
    MT_EQ(r_wait(&c), (uint32_t)UM_RING_REP);
    r_close(&c);
    close(ctl);
    MT_EQ(r_stop(), 0);
}

/* Pin the calling thread (or, with pid, that process) to one CPU; 0 or -1. */
static int r_pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(pid, sizeof set, &set);
}

MT_TEST(a_request_posted_while_umachd_still_looks_at_the_ring_needs_no_eventfd_and_is_served)
{
    /* Two CPUs: the daemon on one polls the ring it just replied in (for up to 1 ms here)
     * while this client, on the other, posts its next request at once. */
    cpu_set_t all;
    MT_REQUIRE(sched_getaffinity(0, sizeof all, &all) == 0);
    int cpus[2] = {-1, -1}, n = 0;
    for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
        if (CPU_ISSET(i, &all))
            cpus[n++] = i;
    setenv("UMACH_SPIN_US", "1000", 1);
    MT_REQUIRE(r_start() == 0);
    unsetenv("UMACH_SPIN_US");
    int ctl = -1;
    r_conn c;
    MT_REQUIRE(r_task(&ctl, &c) == 0);
    if (n == 2) {
        MT_REQUIRE(r_pin(r_daemon, cpus[1]) == 0);
        MT_REQUIRE(r_pin(0, cpus[0]) == 0);
    }
    um_ring_ctl *rc = (um_ring_ctl *)c.base;
    /* 200 posts, and more (up to 2000) on two CPUs until one came while the daemon looked:
     * a daemon slowed down (a loaded machine) may miss some, and after a miss it polls less. */
    unsigned skipped = 0;
    bool two = n == 2 && !ut_under_valgrind(); /* under valgrind the client is far too slow */
    for (uint64_t id = 1; id <= 200 || (two && skipped == 0 && id <= 2000); id++) {
        um_wire_hdr h;
        memset(&h, 0, sizeof h);
        h.magic = UM_WIRE_MAGIC;
        h.call = UM_WIRE_STATS;
        h.id = id;
        memcpy(c.base + UM_RING_CTL, &h, sizeof h);
        __atomic_store_n(&rc->client_cpu, n == 2 ? (uint32_t)cpus[0] : 0u, __ATOMIC_RELAXED);
        um_ring_ctl_post(rc);
        /* As the client does: the eventfd only when the daemon does not look. */
        if (__atomic_load_n(&rc->looking, __ATOMIC_RELAXED)) {
            skipped++;
        } else {
            uint64_t one = 1;
            MT_REQUIRE(write(c.evfd, &one, sizeof one) == (ssize_t)sizeof one);
        }
        /* Polled, not slept on: the next post follows the reply at once (bounded, 5 s). */
        uint32_t s = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            s = __atomic_load_n(&rc->state, __ATOMIC_ACQUIRE) & UM_RING_STATE_MASK;
            if (s == UM_RING_REP || s == UM_RING_SOCK)
                break;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (t1.tv_sec - t0.tv_sec > 5)
                break;
        }
        MT_REQUIRE(s == UM_RING_REP);
        um_wire_hdr rep;
        memcpy(&rep, c.base + UM_RING_CTL + UM_RING_AREA, sizeof rep);
        MT_EQ(rep.id, id);
    }
    /* With two CPUs the daemon was still polling for some of these posts. */
    if (two)
        MT_CHECK(skipped > 0);
    sched_setaffinity(0, sizeof all, &all);
    r_close(&c);
    close(ctl);
    MT_EQ(r_stop(), 0);
}

/* um_ring_wait of a thread, for the test below. */
typedef struct r_waiter {
    um_ring ring;
    int sockfd;
    int rc;
    int done; /* atomic */
} r_waiter;

static void *r_wait_thread(void *p)
{
    r_waiter *w = p;
    w->rc = um_ring_wait(&w->ring, w->sockfd);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

MT_TEST(a_client_asleep_on_its_ring_without_a_timeout_wakes_when_umachd_is_killed)
{
    MT_REQUIRE(r_start() == 0);
    int ctl = -1;
    r_conn c;
    MT_REQUIRE(r_task(&ctl, &c) == 0);
    um_ring_ctl *rc = (um_ring_ctl *)c.base;
    /* A watched ring: the daemon's thread id is its outstanding code and in its alive word. */
    uint32_t owner = __atomic_load_n(&rc->owner, __ATOMIC_ACQUIRE);
    uint32_t alive = __atomic_load_n(&rc->alive, __ATOMIC_ACQUIRE);
    MT_CHECK(owner != 0 && owner != UM_RING_REQ);
    MT_EQ(alive, owner | UM_RING_ALIVE_WATCHED);
    /* A request outstanding that the daemon was never told of: no reply will come, and the
     * waiter sleeps with no timeout (the ring is watched). */
    __atomic_store_n(&rc->state, owner, __ATOMIC_RELEASE);
    r_waiter w = {.ring = {.base = c.base, .evfd = -1}, .sockfd = c.fd, .rc = 0, .done = 0};
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, r_wait_thread, &w) == 0);
    r_sleep_ms(50);
    MT_EQ(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), 0);
    MT_EQ(kill(r_daemon, SIGKILL), 0);
    int st = 0;
    MT_EQ(waitpid(r_daemon, &st, 0), r_daemon);
    /* The kernel marked both words and woke the waiter (bounded wait, 10 s). */
    for (int i = 0; i < 1000 && !__atomic_load_n(&w.done, __ATOMIC_ACQUIRE); i++)
        r_sleep_ms(10);
    MT_REQUIRE(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE) == 1);
    MT_EQ(pthread_join(th, NULL), 0);
    MT_EQ(w.rc, -1);
    MT_CHECK(__atomic_load_n(&rc->alive, __ATOMIC_ACQUIRE) & UM_RING_ALIVE_DIED);
    MT_CHECK(__atomic_load_n(&rc->state, __ATOMIC_ACQUIRE) & UM_RING_DIED);
    /* A request posted after the death: the alive word says so at once. */
    um_ring_ctl_post(rc);
    MT_EQ(um_ring_wait(&w.ring, c.fd), -1);
    r_close(&c);
    close(ctl);
}

MT_MAIN()
