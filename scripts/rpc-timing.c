/*
 * rpc-timing.c — the driver that scripts/rpc-ab.sh runs to compare libraries on the
 * cross-CPU RPC of bench/bench_mach_msg.c (docs/umach-internals.md "Performance"). Not a test
 * and not a benchmark: it prints one line per run, for a script to sort.
 *
 *   rpc-timing [RUNS [N]]   RUNS runs (default 1) of N measured round trips (default 20000,
 *                           after 2000 of warm-up), client on CPU 0, server on CPU 1
 *
 * Each run does the bench's mach_msg round trip (the client's SEND|RCV with a MAKE_SEND_ONCE
 * reply right; the server replies MOVE_SEND_ONCE and receives the next request in the same
 * call), then a plain ping-pong of two threads spinning on one word each (a CPU pause per
 * look), which shows the machine's mode (see the fourth look: ~0.12 us fast, ~0.3 slow).
 * Then the floor: what the cheapest round trip that does mach_msg's work can cost on this
 * machine. It is the plain ping-pong in which each half also writes the message (the bytes
 * mach_msg writes into the receiver's buffer: header, body and default trailer) into a
 * buffer the other thread reads, and first runs a busy loop as long as half of one thread's round trip
 * (the same request and reply done by one thread, whose lines never leave its CPU: mach_msg's
 * own instructions; RPC_FLOOR_NS=ns sets another length). No lock, no port, no name table
 * crosses between the CPUs: only the word each side polls and the message.
 * For each it prints the median and the mean of the middle 80% of the round trips (the
 * preempted ones left out, which a loaded machine has many of), and the CPU time per round
 * trip (each thread's own, the two added), in microseconds, then one thread's round trip:
 *
 *   mach med M tmean T cpu C spin med M tmean T cpu C floor med M tmean T cpu C self S
 *
 * A Mach error or a wrong message ends it with status 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <mach/mach.h>
#include <mach/mach_port.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { WARM = 2000, REQUEST_ID = 4000, REPLY_ID = 4100 };

typedef struct req {
    mach_msg_header_t h;
    uint64_t seq;
} req;

typedef struct rbuf {
    req m;
    mach_msg_max_trailer_t trailer;
} rbuf;

static size_t n_measured = 20000;
static uint64_t *lat;
static uint64_t cpu0[2], cpu1[2];
static mach_port_t service, reply_port;
static _Atomic uint32_t ping, pong;
static pthread_barrier_t start;
/* The floor: the message each side writes for the other, and its busy loop's length. */
static rbuf box_request, box_reply;
static size_t work_iters;
static double self_rt_us;

static _Noreturn void die(const char *what, unsigned code)
{
    fprintf(stderr, "rpc-timing: %s (0x%x)\n", what, code);
    exit(1);
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        die("sched_setaffinity", 0);
}

/* Each side's own CPU time at the first measured round trip and after the last. */
static void mark(int side, size_t i)
{
    if (i == WARM)
        cpu0[side] = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    else if (i == WARM + n_measured)
        cpu1[side] = clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* The request: to the service, a send-once right to the reply port made for the answer. */
static void set_request(rbuf *b, size_t seq)
{
    b->m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    b->m.h.msgh_size = sizeof b->m;
    b->m.h.msgh_remote_port = service;
    b->m.h.msgh_local_port = reply_port;
    b->m.h.msgh_voucher_port = MACH_PORT_NULL;
    b->m.h.msgh_id = REQUEST_ID;
    b->m.seq = seq;
}

/* The reply, in the request's buffer: to its send-once right (msgh_remote_port, as received). */
static void set_reply(rbuf *b)
{
    b->m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    b->m.h.msgh_size = sizeof b->m;
    b->m.h.msgh_local_port = MACH_PORT_NULL;
    b->m.h.msgh_voucher_port = MACH_PORT_NULL;
    b->m.h.msgh_id = REPLY_ID;
}

static void *mach_client(void *arg)
{
    (void)arg;
    pin(0);
    pthread_barrier_wait(&start);
    size_t total = WARM + n_measured;
    for (size_t i = 0; i < total; i++) {
        mark(0, i);
        rbuf b;
        set_request(&b, i);
        uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
        mach_msg_return_t mr = mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m, sizeof b,
                                        reply_port, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
        uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
        if (mr != MACH_MSG_SUCCESS)
            die("client mach_msg", (unsigned)mr);
        if (b.m.h.msgh_id != REPLY_ID || b.m.seq != i)
            die("wrong reply", (unsigned)b.m.h.msgh_id);
        if (i >= WARM)
            lat[i - WARM] = t1 - t0;
    }
    mark(0, total);
    return NULL;
}

static void *mach_server(void *arg)
{
    (void)arg;
    pin(1);
    pthread_barrier_wait(&start);
    size_t total = WARM + n_measured;
    rbuf b;
    mach_msg_return_t mr =
        mach_msg(&b.m.h, MACH_RCV_MSG, 0, sizeof b, service, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS)
        die("server receive", (unsigned)mr);
    for (size_t i = 0; i < total; i++) {
        mark(1, i);
        if (b.m.h.msgh_id != REQUEST_ID || b.m.seq != i)
            die("wrong request", (unsigned)b.m.h.msgh_id);
        set_reply(&b);
        int last = i + 1 == total;
        mr = mach_msg(&b.m.h, MACH_SEND_MSG | (last ? 0 : MACH_RCV_MSG), sizeof b.m,
                      last ? 0 : sizeof b, last ? MACH_PORT_NULL : service, MACH_MSG_TIMEOUT_NONE,
                      MACH_PORT_NULL);
        if (mr != MACH_MSG_SUCCESS)
            die("server reply", (unsigned)mr);
    }
    mark(1, total);
    return NULL;
}

static void spin_until(_Atomic uint32_t *w, uint32_t want)
{
    while (atomic_load_explicit(w, memory_order_acquire) != want) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
    }
}

/* A loop of `iters` steps the compiler keeps (each one an empty asm with a memory clobber). */
static void busy(size_t iters)
{
    for (size_t k = 0; k < iters; k++)
        __asm__ __volatile__("" ::: "memory");
}

/* The floor's message: the bytes mach_msg writes into the receiver's buffer, the header and
 * body and the default trailer the receive asks for. */
enum { FLOOR_BYTES = sizeof(req) + sizeof(mach_msg_trailer_t) };

static void floor_write(rbuf *to, mach_msg_id_t id, size_t seq)
{
    rbuf m;
    m.m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    m.m.h.msgh_size = sizeof m.m;
    m.m.h.msgh_remote_port = MACH_PORT_NULL;
    m.m.h.msgh_local_port = MACH_PORT_NULL;
    m.m.h.msgh_voucher_port = MACH_PORT_NULL;
    m.m.h.msgh_id = id;
    m.m.seq = seq;
    m.trailer.msgh_trailer_type = MACH_MSG_TRAILER_FORMAT_0;
    m.trailer.msgh_trailer_size = sizeof(mach_msg_trailer_t);
    memcpy(to, &m, FLOOR_BYTES);
}

static void floor_read(const rbuf *from, mach_msg_id_t id, size_t seq)
{
    rbuf m;
    memcpy(&m, from, FLOOR_BYTES);
    if (m.m.h.msgh_id != id || m.m.seq != seq)
        die("floor: wrong message", (unsigned)m.m.h.msgh_id);
}

/*
 * The plain ping-pong, or with `floor_on` the floor: each half also runs the busy loop and
 * writes its message for the other, which reads it once it sees the word.
 */
static bool floor_on;

static void *spin_client(void *arg)
{
    (void)arg;
    pin(0);
    pthread_barrier_wait(&start);
    size_t total = WARM + n_measured;
    for (size_t i = 0; i < total; i++) {
        mark(0, i);
        uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
        if (floor_on) {
            busy(work_iters);
            floor_write(&box_request, REQUEST_ID, i);
        }
        atomic_store(&ping, (uint32_t)i + 1);
        spin_until(&pong, (uint32_t)i + 1);
        if (floor_on)
            floor_read(&box_reply, REPLY_ID, i);
        uint64_t t1 = clock_ns(CLOCK_MONOTONIC);
        if (i >= WARM)
            lat[i - WARM] = t1 - t0;
    }
    mark(0, total);
    return NULL;
}

static void *spin_server(void *arg)
{
    (void)arg;
    pin(1);
    pthread_barrier_wait(&start);
    size_t total = WARM + n_measured;
    for (size_t i = 0; i < total; i++) {
        mark(1, i);
        spin_until(&ping, (uint32_t)i + 1);
        if (floor_on) {
            floor_read(&box_request, REQUEST_ID, i);
            busy(work_iters);
            floor_write(&box_reply, REPLY_ID, i);
        }
        atomic_store(&pong, (uint32_t)i + 1);
    }
    mark(1, total);
    return NULL;
}

/*
 * One thread's round trip, in microseconds (the best of five batches): the client's SEND|RCV
 * of a request to its own service port, which the same call receives, then the server's
 * SEND|RCV of the reply, received on the reply port. Both calls' lines stay in this CPU's
 * cache: what is left is mach_msg's own work.
 */
static double self_round_trip_us(void)
{
    pin(0);
    double best = 0;
    for (int batch = 0; batch < 5; batch++) {
        uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
        for (size_t i = 0; i < n_measured; i++) {
            rbuf b;
            set_request(&b, i);
            mach_msg_return_t mr = mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m,
                                            sizeof b, service, MACH_MSG_TIMEOUT_NONE,
                                            MACH_PORT_NULL);
            if (mr != MACH_MSG_SUCCESS || b.m.seq != i)
                die("self request", (unsigned)mr);
            set_reply(&b);
            mr = mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m, sizeof b, reply_port,
                          MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
            if (mr != MACH_MSG_SUCCESS || b.m.h.msgh_id != REPLY_ID)
                die("self reply", (unsigned)mr);
        }
        double us = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e3 / (double)n_measured;
        if (batch == 0 || us < best)
            best = us;
    }
    return best;
}

/* Iterations of busy() that take `ns` nanoseconds on this CPU (the best of five timings). */
static size_t busy_iters_for(double ns)
{
    enum { PROBE = 1000000 };
    double best = 0;
    for (int k = 0; k < 5; k++) {
        uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
        busy(PROBE);
        double per = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / PROBE;
        if (k == 0 || per < best)
            best = per;
    }
    return best > 0 ? (size_t)(ns / best) : 0;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run(const char *name, void *(*client)(void *), void *(*server)(void *))
{
    atomic_store(&ping, 0);
    atomic_store(&pong, 0);
    pthread_barrier_init(&start, NULL, 2);
    pthread_t tc, ts;
    if (pthread_create(&ts, NULL, server, NULL) != 0 ||
        pthread_create(&tc, NULL, client, NULL) != 0)
        die("pthread_create", 0);
    pthread_join(tc, NULL);
    pthread_join(ts, NULL);
    pthread_barrier_destroy(&start);
    qsort(lat, n_measured, sizeof lat[0], by_value);
    size_t cut = n_measured / 10;
    double sum = 0;
    for (size_t i = cut; i < n_measured - cut; i++)
        sum += (double)lat[i];
    double cpu = (double)(cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]) / (double)n_measured;
    printf("%s med %.3f tmean %.4f cpu %.3f ", name, (double)lat[n_measured / 2] / 1e3,
           sum / (double)(n_measured - 2 * cut) / 1e3, cpu / 1e3);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2)
        n_measured = (size_t)atol(argv[2]);
    if (runs < 1 || n_measured < 10)
        die("usage: rpc-timing [RUNS [N]]", 0);
    lat = malloc(n_measured * sizeof lat[0]);
    if (!lat)
        die("out of memory", 0);
    mach_port_t self = mach_task_self();
    kern_return_t kr = mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &service);
    if (kr == KERN_SUCCESS)
        kr = mach_port_insert_right(self, service, service, MACH_MSG_TYPE_MAKE_SEND);
    if (kr == KERN_SUCCESS)
        kr = mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &reply_port);
    if (kr != KERN_SUCCESS)
        die("port set-up", (unsigned)kr);
    for (int r = 0; r < runs; r++) {
        self_rt_us = self_round_trip_us();
        const char *ns = getenv("RPC_FLOOR_NS");
        work_iters = busy_iters_for(ns ? atof(ns) : self_rt_us * 1e3 / 2);
        run("mach", mach_client, mach_server);
        floor_on = false;
        run("spin", spin_client, spin_server);
        floor_on = true;
        run("floor", spin_client, spin_server);
        printf("self %.3f\n", self_rt_us);
        fflush(stdout);
    }
    free(lat);
    return 0;
}
