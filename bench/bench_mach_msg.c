/*
 * bench_mach_msg.c — what a mach_msg costs next to the plain thread primitives it is built on.
 *
 * Three measurements, each against a baseline run in the same process and the same pinning:
 *
 *   rpc   request/reply round trips between two threads: mach_msg (client SEND|RCV with a
 *         MAKE_SEND_ONCE reply right, server replying MOVE_SEND_ONCE and receiving the next
 *         request in the same call) against a mutex/condvar ping-pong, a futex ping-pong and
 *         a spin-then-futex ping-pong (each waiter polls its word for up to UMACH_SPIN_US
 *         microseconds, default 20, the bound umach's waiters use, before it sleeps). Each
 *         row also gives the CPU time per round trip (each thread's own CPU time,
 *         CLOCK_THREAD_CPUTIME_ID, over its measured round trips, the two added), so what
 *         spinning costs in CPU is visible next to what it saves in latency.
 *   tput  one-way throughput of 64-byte payloads (queue limit 1024) against a bounded
 *         condvar-protected queue of 64-byte items.
 *   ool   out-of-line transfer of 4 KiB .. 16 MiB by physical copy, virtual copy and move
 *         (deallocate = TRUE) against one memcpy into freshly mapped pages.
 *
 * Each of rpc and tput runs with both threads pinned to one CPU and to two different CPUs.
 * Only ratios within one pinning mean anything: on a VM a cross-CPU wake-up alone can cost
 * tens of microseconds. Latencies are medians and 99th percentiles of per-iteration
 * CLOCK_MONOTONIC timestamps.
 *
 * Physical copies without deallocate count against XNU's 7 MiB limit on copied memory per
 * message (ipc_kmsg_max_vm_space), so the 16 MiB physical copy must fail with
 * MACH_MSG_VM_KERNEL; that is checked, and the 16 MiB move is compared with the virtual copy.
 *
 * BENCH_QUICK=1 cuts every iteration count by about 10x (CI smoke runs); BENCH_ONLY=rpc,tput
 * (any of rpc, tput, ool) runs only the named sections. A missed target is
 * reported as MISS and does not change the exit code; a Mach error, a wrong message or a
 * leaked port name exits 1.
 */
#include "bench.h"

#include <mach/vm_statistics.h>

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- harness ---------------------------------------------------------------------------- */

/*
 * The spin bound of the spin-then-futex baseline: UMACH_SPIN_US (the variable umach's
 * waiters read) or the same default, 20 us; 0 disables spinning.
 */
enum { BENCH_SPIN_US_DEFAULT = 20 };

static unsigned spin_us(void)
{
    const char *v = getenv("UMACH_SPIN_US");
    if (!v || !*v)
        return BENCH_SPIN_US_DEFAULT;
    char *end = NULL;
    unsigned long us = strtoul(v, &end, 10);
    if (end == v || *end != '\0' || us > 1000000)
        fail("UMACH_SPIN_US must be a number of microseconds (0 .. 1000000)");
    return (unsigned)us;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Two pinned threads started together; each runs its role with `arg`. */
typedef struct pair_role {
    int cpu;
    void (*fn)(void *);
    void *arg;
    pthread_barrier_t *start;
} pair_role;

static void *pair_main(void *p)
{
    pair_role *r = p;
    pin_self(r->cpu);
    pthread_barrier_wait(r->start);
    r->fn(r->arg);
    return NULL;
}

static void run_pair(int cpu_a, void (*fa)(void *), int cpu_b, void (*fb)(void *), void *arg)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    pair_role ra = {cpu_a, fa, arg, &start}, rb = {cpu_b, fb, arg, &start};
    pthread_t ta, tb;
    if (pthread_create(&tb, NULL, pair_main, &rb) != 0 ||
        pthread_create(&ta, NULL, pair_main, &ra) != 0)
        fail("pthread_create");
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);
}

/* ---- rpc: round trips ------------------------------------------------------------------- */

typedef struct rpc_req {
    mach_msg_header_t h;
    uint64_t seq;
} rpc_req;

typedef struct rpc_buf {
    rpc_req m;
    mach_msg_max_trailer_t trailer;
} rpc_buf;

enum { RPC_REQUEST_ID = 4000, RPC_REPLY_ID = 4100 };

typedef struct rpc_ctx {
    size_t warm, n;
    uint64_t *lat;       /* n round-trip times, filled by the client */
    uint64_t cpu0[2], cpu1[2]; /* each side's own CPU time (RPC_CLIENT, RPC_SERVER) when its
                                  measured round trips began / ended */
    /* mach */
    mach_port_t service; /* receive right + one send right */
    mach_port_t reply;   /* the client's reply port (receive right) */
    /* condvar */
    pthread_mutex_t mu;
    pthread_cond_t cv_server, cv_client;
    int turn; /* 1: a request is pending */
    /* futex */
    _Atomic uint32_t word; /* 1: a request is pending */
    /* spin-then-futex: one word per direction, and whether its waiter may be asleep */
    _Atomic uint32_t req, rep;
    _Atomic uint32_t req_sleeper, rep_sleeper;
    uint64_t spin_ns;
} rpc_ctx;

enum { RPC_CLIENT, RPC_SERVER };

/*
 * Called by each side at the start of round trip i and after the last one. Each thread reads
 * its own CPU time: the process's (getrusage RUSAGE_SELF) counts a thread running on another
 * CPU only as of that CPU's last scheduler tick, milliseconds stale, as long as a whole
 * measurement (20,000 round trips of 0.13 us are 2.6 ms), so it added or dropped a tick of
 * the peer's spinning at random.
 */
static void rpc_mark(rpc_ctx *c, int side, size_t i)
{
    if (i == c->warm)
        c->cpu0[side] = cpu_ns();
    else if (i == c->warm + c->n)
        c->cpu1[side] = cpu_ns();
}

static void mach_rpc_client(void *arg)
{
    rpc_ctx *c = arg;
    size_t total = c->warm + c->n;
    for (size_t i = 0; i < total; i++) {
        rpc_mark(c, RPC_CLIENT, i);
        rpc_buf b;
        b.m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        b.m.h.msgh_size = sizeof b.m;
        b.m.h.msgh_remote_port = c->service;
        b.m.h.msgh_local_port = c->reply;
        b.m.h.msgh_voucher_port = MACH_PORT_NULL;
        b.m.h.msgh_id = RPC_REQUEST_ID;
        b.m.seq = i;
        uint64_t t0 = now_ns();
        mach_msg_return_t mr = mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m, sizeof b,
                                        c->reply, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
        uint64_t t1 = now_ns();
        check_kr(mr, "mach_msg (client send request, receive reply)");
        if (b.m.h.msgh_id != RPC_REPLY_ID || b.m.seq != i || b.m.h.msgh_size != sizeof b.m)
            fail("rpc: wrong reply");
        if (i >= c->warm)
            c->lat[i - c->warm] = t1 - t0;
    }
    rpc_mark(c, RPC_CLIENT, total);
}

/* Replies and receives the next request in one call, as a MIG server loop does. */
static void mach_rpc_server(void *arg)
{
    rpc_ctx *c = arg;
    size_t total = c->warm + c->n;
    rpc_buf b;
    mach_msg_return_t mr = mach_msg(&b.m.h, MACH_RCV_MSG, 0, sizeof b, c->service,
                                    MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    check_kr(mr, "mach_msg (server receive)");
    for (size_t i = 0; i < total; i++) {
        rpc_mark(c, RPC_SERVER, i);
        if (b.m.h.msgh_id != RPC_REQUEST_ID || b.m.seq != i ||
            MACH_MSGH_BITS_REMOTE(b.m.h.msgh_bits) != MACH_MSG_TYPE_PORT_SEND_ONCE ||
            !MACH_PORT_VALID(b.m.h.msgh_remote_port))
            fail("rpc: wrong request");
        b.m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
        b.m.h.msgh_size = sizeof b.m;
        b.m.h.msgh_local_port = MACH_PORT_NULL;
        b.m.h.msgh_voucher_port = MACH_PORT_NULL;
        b.m.h.msgh_id = RPC_REPLY_ID;
        bool last = i + 1 == total;
        mr = mach_msg(&b.m.h, MACH_SEND_MSG | (last ? 0 : MACH_RCV_MSG), sizeof b.m,
                      last ? 0 : sizeof b, last ? MACH_PORT_NULL : c->service,
                      MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
        check_kr(mr, "mach_msg (server send reply, receive next)");
    }
    rpc_mark(c, RPC_SERVER, total);
}

static void cv_rpc_client(void *arg)
{
    rpc_ctx *c = arg;
    size_t total = c->warm + c->n;
    for (size_t i = 0; i < total; i++) {
        rpc_mark(c, RPC_CLIENT, i);
        uint64_t t0 = now_ns();
        pthread_mutex_lock(&c->mu);
        c->turn = 1;
        pthread_cond_signal(&c->cv_server);
        while (c->turn != 0)
            pthread_cond_wait(&c->cv_client, &c->mu);
        pthread_mutex_unlock(&c->mu);
        uint64_t t1 = now_ns();
        if (i >= c->warm)
            c->lat[i - c->warm] = t1 - t0;
    }
    rpc_mark(c, RPC_CLIENT, total);
}

static void cv_rpc_server(void *arg)
{
    rpc_ctx *c = arg;
    size_t total = c->warm + c->n;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < total; i++) {
        rpc_mark(c, RPC_SERVER, i);
        while (c->turn != 1)
            pthread_cond_wait(&c->cv_server, &c->mu);
        c->turn = 0;
        pthread_cond_signal(&c->cv_client);
    }
    rpc_mark(c, RPC_SERVER, total);
    pthread_mutex_unlock(&c->mu);
}

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void futex_rpc_client(void *arg)
{
    rpc_ctx *c = arg;
    size_t total = c->warm + c->n;
    for (size_t i = 0; i < total; i++) {
        rpc_mark(c, RPC_CLIENT, i);
        uint64_t t0 = now_ns();
        atomic_store_explicit(&c->word, 1, memory_order_release);
        futex_wake(&c->word);
        while (atomic_load_explicit(&c->word, memory_order_acquire) == 1)
            futex_wait(&c->word, 1);
        uint64_t t1 = now_ns();
        if (i >= c->warm)
            c->lat[i - c->warm] = t1 - t0;
    }
    rpc_mark(c, RPC_CLIENT, total);
}

static void futex_rpc_server(void *arg)
{
    rpc_ctx *c = arg;
    size_t total = c->warm + c->n;
    for (size_t i = 0; i < total; i++) {
        rpc_mark(c, RPC_SERVER, i);
        while (atomic_load_explicit(&c->word, memory_order_acquire) == 0)
            futex_wait(&c->word, 0);
        atomic_store_explicit(&c->word, 0, memory_order_release);
        futex_wake(&c->word);
    }
    rpc_mark(c, RPC_SERVER, total);
}

/*
 * Spin-then-futex: wait until *w == want, polling with a CPU pause for up to spin_ns, then
 * sleeping. The waiter raises *sleeper before its last look at *w; the waker stores *w and
 * then looks at *sleeper (both sequentially consistent), so either the waiter sees the new
 * value or the waker sees the sleeper and wakes it. A waker that finds no sleeper makes no
 * system call, as a waiter that spins makes none.
 */
static void spin_wait(_Atomic uint32_t *w, _Atomic uint32_t *sleeper, uint32_t want,
                      uint64_t spin_ns)
{
    if (atomic_load_explicit(w, memory_order_acquire) == want)
        return;
    if (spin_ns) {
        uint64_t until = now_ns() + spin_ns;
        for (unsigned k = 1;; k++) {
            cpu_relax();
            if (atomic_load_explicit(w, memory_order_acquire) == want)
                return;
            if (k % 64 == 0 && now_ns() >= until)
                break;
        }
    }
    for (;;) {
        atomic_store(sleeper, 1);
        uint32_t v = atomic_load(w);
        if (v == want)
            break;
        futex_wait(w, v);
    }
    atomic_store_explicit(sleeper, 0, memory_order_relaxed);
}

static void spin_post(_Atomic uint32_t *w, _Atomic uint32_t *sleeper, uint32_t v)
{
    atomic_store(w, v);
    if (atomic_load(sleeper))
        futex_wake(w);
}

/* The words count round trips, so a late wake-up never matches the next wait. */
static void spin_rpc_client(void *arg)
{
    rpc_ctx *c = arg;
    size_t total = c->warm + c->n;
    for (size_t i = 0; i < total; i++) {
        rpc_mark(c, RPC_CLIENT, i);
        uint64_t t0 = now_ns();
        spin_post(&c->req, &c->req_sleeper, (uint32_t)(i + 1));
        spin_wait(&c->rep, &c->rep_sleeper, (uint32_t)(i + 1), c->spin_ns);
        uint64_t t1 = now_ns();
        if (i >= c->warm)
            c->lat[i - c->warm] = t1 - t0;
    }
    rpc_mark(c, RPC_CLIENT, total);
}

static void spin_rpc_server(void *arg)
{
    rpc_ctx *c = arg;
    size_t total = c->warm + c->n;
    for (size_t i = 0; i < total; i++) {
        rpc_mark(c, RPC_SERVER, i);
        spin_wait(&c->req, &c->req_sleeper, (uint32_t)(i + 1), c->spin_ns);
        spin_post(&c->rep, &c->rep_sleeper, (uint32_t)(i + 1));
    }
    rpc_mark(c, RPC_SERVER, total);
}

enum { RPC_MACH, RPC_CONDVAR, RPC_FUTEX, RPC_SPIN, RPC_KINDS };
static const char *const rpc_names[RPC_KINDS] = {"mach_msg", "condvar", "futex", "spin+futex"};

static lat_stats rpc_run(int kind, int cpu_client, int cpu_server)
{
    rpc_ctx c;
    memset(&c, 0, sizeof c);
    c.warm = iters(2000, 100);
    c.n = iters(20000, 1000);
    c.lat = xcalloc(c.n, sizeof *c.lat);
    switch (kind) {
    case RPC_MACH:
        c.service = port_with_send_right();
        check_kr(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &c.reply),
                 "mach_port_allocate (reply)");
        run_pair(cpu_client, mach_rpc_client, cpu_server, mach_rpc_server, &c);
        port_destroy(&c.service);
        check_kr(mach_port_mod_refs(mach_task_self(), c.reply, MACH_PORT_RIGHT_RECEIVE, -1),
                 "mach_port_mod_refs (reply)");
        break;
    case RPC_CONDVAR:
        pthread_mutex_init(&c.mu, NULL);
        pthread_cond_init(&c.cv_server, NULL);
        pthread_cond_init(&c.cv_client, NULL);
        run_pair(cpu_client, cv_rpc_client, cpu_server, cv_rpc_server, &c);
        pthread_cond_destroy(&c.cv_client);
        pthread_cond_destroy(&c.cv_server);
        pthread_mutex_destroy(&c.mu);
        break;
    case RPC_FUTEX:
        run_pair(cpu_client, futex_rpc_client, cpu_server, futex_rpc_server, &c);
        break;
    default:
        c.spin_ns = (uint64_t)spin_us() * 1000u;
        run_pair(cpu_client, spin_rpc_client, cpu_server, spin_rpc_server, &c);
        break;
    }
    lat_stats s = stats_of(c.lat, c.n);
    s.cpu_us = (double)(c.cpu1[RPC_CLIENT] - c.cpu0[RPC_CLIENT] + c.cpu1[RPC_SERVER] -
                        c.cpu0[RPC_SERVER]) /
               1e3 / (double)c.n;
    free(c.lat);
    return s;
}

/*
 * mach_msg and the spin-then-futex ping-pong it is judged against run one right after the
 * other, the condvar and futex ping-pongs after them: on a VM the cost of moving a line between
 * the two CPUs changes while a program runs (the host places the virtual CPUs anew, most often
 * after they sat idle, as they do in the sleeping ping-pongs' second or so), and a ratio of two
 * rows measured on either side of such a change measures the machine, not umach.
 */
static const int rpc_order[RPC_KINDS] = {RPC_MACH, RPC_SPIN, RPC_CONDVAR, RPC_FUTEX};

static void bench_rpc(const char *pin_name, int cpu_client, int cpu_server)
{
    lat_stats s[RPC_KINDS];
    for (int i = 0; i < RPC_KINDS; i++)
        s[rpc_order[i]] = rpc_run(rpc_order[i], cpu_client, cpu_server);
    printf("\nrpc round trip, %s (cpu %d <-> cpu %d), %zu round trips after warm-up; "
           "spin+futex spins up to %u us (UMACH_SPIN_US)\n",
           pin_name, cpu_client, cpu_server, iters(20000, 1000), spin_us());
    printf("  %-10s %12s %12s %12s\n", "", "median us", "p99 us", "cpu us/rt");
    for (int k = 0; k < RPC_KINDS; k++)
        printf("  %-10s %12.2f %12.2f %12.2f\n", rpc_names[k], s[k].median_us, s[k].p99_us,
               s[k].cpu_us);
    char name[64];
    snprintf(name, sizeof name, "rpc_%s", pin_name);
    /* Issue 16's targets: against the condvar ping-pong in both pinnings, and against the
     * baseline with the same spin bound across CPUs (on one CPU a spinning waiter only delays
     * the thread it waits for). */
    bool cross = cpu_client != cpu_server;
    print_ratio(name, "mach/condvar", s[RPC_MACH].median_us / s[RPC_CONDVAR].median_us, "<=",
                cross ? 0.20 : 0.70);
    print_ratio(name, "mach/futex", s[RPC_MACH].median_us / s[RPC_FUTEX].median_us, NULL, 0);
    print_ratio(name, "mach/spin+futex", s[RPC_MACH].median_us / s[RPC_SPIN].median_us,
                cross ? "<=" : NULL, 3.0);
    print_ratio(name, "cpu mach/spin+futex", s[RPC_MACH].cpu_us / s[RPC_SPIN].cpu_us,
                cross ? "<=" : NULL, 2.0);
}

/* ---- tput: one-way throughput of 64-byte payloads --------------------------------------- */

enum { TPUT_PAYLOAD = 64, TPUT_QLIMIT = 1024 };

typedef struct tput_msg {
    mach_msg_header_t h;
    uint64_t seq;
    uint8_t pad[TPUT_PAYLOAD - sizeof(uint64_t)];
} tput_msg;

typedef struct tput_buf {
    tput_msg m;
    mach_msg_max_trailer_t trailer;
} tput_buf;

typedef struct tput_item {
    uint64_t seq;
    uint8_t pad[TPUT_PAYLOAD - sizeof(uint64_t)];
} tput_item;

typedef struct tput_ctx {
    size_t n;
    uint64_t t_start, t_end;
    mach_port_t port;
    /* the condvar queue */
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    tput_item ring[TPUT_QLIMIT];
    size_t head, count;
} tput_ctx;

static void mach_tput_sender(void *arg)
{
    tput_ctx *c = arg;
    tput_msg m;
    memset(&m, 0, sizeof m);
    c->t_start = now_ns();
    for (size_t i = 0; i < c->n; i++) {
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
        m.h.msgh_size = sizeof m;
        m.h.msgh_remote_port = c->port;
        m.h.msgh_local_port = MACH_PORT_NULL;
        m.h.msgh_voucher_port = MACH_PORT_NULL;
        m.h.msgh_id = RPC_REQUEST_ID;
        m.seq = i;
        check_kr(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                          MACH_PORT_NULL),
                 "mach_msg (one-way send)");
    }
}

static void mach_tput_receiver(void *arg)
{
    tput_ctx *c = arg;
    for (size_t i = 0; i < c->n; i++) {
        tput_buf b;
        check_kr(mach_msg(&b.m.h, MACH_RCV_MSG, 0, sizeof b, c->port, MACH_MSG_TIMEOUT_NONE,
                          MACH_PORT_NULL),
                 "mach_msg (one-way receive)");
        if (b.m.seq != i || b.m.h.msgh_size != sizeof b.m)
            fail("tput: wrong message");
    }
    c->t_end = now_ns();
}

static void cv_tput_sender(void *arg)
{
    tput_ctx *c = arg;
    tput_item it;
    memset(&it, 0, sizeof it);
    c->t_start = now_ns();
    for (size_t i = 0; i < c->n; i++) {
        it.seq = i;
        pthread_mutex_lock(&c->mu);
        while (c->count == TPUT_QLIMIT)
            pthread_cond_wait(&c->not_full, &c->mu);
        c->ring[(c->head + c->count) % TPUT_QLIMIT] = it;
        c->count++;
        pthread_cond_signal(&c->not_empty);
        pthread_mutex_unlock(&c->mu);
    }
}

static void cv_tput_receiver(void *arg)
{
    tput_ctx *c = arg;
    for (size_t i = 0; i < c->n; i++) {
        pthread_mutex_lock(&c->mu);
        while (c->count == 0)
            pthread_cond_wait(&c->not_empty, &c->mu);
        tput_item it = c->ring[c->head];
        c->head = (c->head + 1) % TPUT_QLIMIT;
        c->count--;
        pthread_cond_signal(&c->not_full);
        pthread_mutex_unlock(&c->mu);
        if (it.seq != i)
            fail("tput: wrong item");
    }
    c->t_end = now_ns();
}

/* Messages per second of one run. */
static double tput_run(bool mach, int cpu_sender, int cpu_receiver)
{
    tput_ctx *c = xcalloc(1, sizeof *c);
    c->n = iters(200000, 20000);
    if (mach) {
        check_kr(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &c->port),
                 "mach_port_allocate");
        check_kr(
            mach_port_insert_right(mach_task_self(), c->port, c->port, MACH_MSG_TYPE_MAKE_SEND),
            "mach_port_insert_right");
        mach_port_limits_t lim = {.mpl_qlimit = TPUT_QLIMIT};
        check_kr(mach_port_set_attributes(mach_task_self(), c->port, MACH_PORT_LIMITS_INFO,
                                          (mach_port_info_t)&lim, MACH_PORT_LIMITS_INFO_COUNT),
                 "mach_port_set_attributes (qlimit)");
        run_pair(cpu_sender, mach_tput_sender, cpu_receiver, mach_tput_receiver, c);
        port_destroy(&c->port);
    } else {
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->not_empty, NULL);
        pthread_cond_init(&c->not_full, NULL);
        run_pair(cpu_sender, cv_tput_sender, cpu_receiver, cv_tput_receiver, c);
        pthread_cond_destroy(&c->not_full);
        pthread_cond_destroy(&c->not_empty);
        pthread_mutex_destroy(&c->mu);
    }
    double rate = (double)c->n / ((double)(c->t_end - c->t_start) / 1e9);
    free(c);
    return rate;
}

static void bench_tput(const char *pin_name, int cpu_sender, int cpu_receiver)
{
    enum { REPS = 3 };
    double rm[REPS], rc[REPS];
    for (int r = 0; r < REPS; r++) {
        rm[r] = tput_run(true, cpu_sender, cpu_receiver);
        rc[r] = tput_run(false, cpu_sender, cpu_receiver);
    }
    qsort(rm, REPS, sizeof *rm, cmp_double);
    qsort(rc, REPS, sizeof *rc, cmp_double);
    printf("\none-way throughput, %d-byte payloads, queue limit %d, %s (cpu %d -> cpu %d), "
           "%zu messages, median of %d runs\n",
           TPUT_PAYLOAD, TPUT_QLIMIT, pin_name, cpu_sender, cpu_receiver, iters(200000, 20000),
           REPS);
    printf("  %-10s %12.0f msg/s %8.3f us/msg\n", "mach_msg", rm[REPS / 2], 1e6 / rm[REPS / 2]);
    printf("  %-10s %12.0f msg/s %8.3f us/msg\n", "condvar q", rc[REPS / 2], 1e6 / rc[REPS / 2]);
    char name[64];
    snprintf(name, sizeof name, "tput_%s", pin_name);
    print_ratio(name, "mach/condvar", rm[REPS / 2] / rc[REPS / 2], ">=", 0.50);
}

/* ---- ool: out-of-line transfer ------------------------------------------------------------ */

typedef struct ool_msg {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t d;
} ool_msg;

typedef struct ool_buf {
    ool_msg m;
    mach_msg_max_trailer_t trailer;
} ool_buf;

enum { OOL_PHYS, OOL_VIRT, OOL_MOVE, OOL_MEMCPY, OOL_KINDS };
static const char *const ool_names[OOL_KINDS] = {"phys copy", "virt copy", "move", "memcpy"};

static void touch_pages(uint8_t *p, size_t size, uint8_t v)
{
    for (size_t off = 0; off < size; off += (size_t)vm_page_size)
        p[off] = v;
    p[size - 1] = v;
}

/*
 * One transfer: send `size` bytes at `src` to `port` and receive them in the same call
 * (copyin + copyout, no thread switch). Returns the received region, which the caller owns.
 */
static uint8_t *ool_transfer(mach_port_t port, uint8_t *src, size_t size, int kind, uint64_t *ns)
{
    ool_buf b;
    memset(&b, 0, sizeof b);
    b.m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    b.m.h.msgh_size = sizeof b.m;
    b.m.h.msgh_remote_port = port;
    b.m.h.msgh_id = RPC_REQUEST_ID;
    b.m.body.msgh_descriptor_count = 1;
    b.m.d.address = src;
    b.m.d.size = (mach_msg_size_t)size;
    b.m.d.deallocate = kind == OOL_MOVE;
    b.m.d.copy = kind == OOL_PHYS ? MACH_MSG_PHYSICAL_COPY : MACH_MSG_VIRTUAL_COPY;
    b.m.d.type = MACH_MSG_OOL_DESCRIPTOR;
    uint64_t t0 = now_ns();
    mach_msg_return_t mr = mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m, sizeof b,
                                    port, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    *ns = now_ns() - t0;
    check_kr(mr, "mach_msg (ool send + receive)");
    if (!(b.m.h.msgh_bits & MACH_MSGH_BITS_COMPLEX) || b.m.body.msgh_descriptor_count != 1 ||
        b.m.d.type != MACH_MSG_OOL_DESCRIPTOR || b.m.d.size != size || !b.m.d.address)
        fail("ool: wrong message");
    return b.m.d.address;
}

/* XNU's limit on physically copied (not deallocated) memory in one message. */
#define OOL_MAX_PHYS_COPY ((8u * 1024 * 1024 * 7) / 8)

/* A physical copy over the limit must be refused with nothing consumed and no memory taken. */
static void ool_check_phys_limit(mach_port_t port, uint8_t *src, size_t size)
{
    ool_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = port;
    m.body.msgh_descriptor_count = 1;
    m.d.address = src;
    m.d.size = (mach_msg_size_t)size;
    m.d.copy = MACH_MSG_PHYSICAL_COPY;
    m.d.type = MACH_MSG_OOL_DESCRIPTOR;
    mach_msg_return_t mr = mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0,
                                    MACH_PORT_NULL, 0, MACH_PORT_NULL);
    if (mr != MACH_MSG_VM_KERNEL) {
        fprintf(stderr,
                "bench_mach_msg: a %zu-byte physical copy returned 0x%x (%s), expected "
                "MACH_MSG_VM_KERNEL\n",
                size, (unsigned)mr, mach_error_string(mr));
        exit(1);
    }
}

static lat_stats ool_run(mach_port_t port, uint8_t *src, size_t size, int kind, size_t n)
{
    uint64_t *lat = xcalloc(n, sizeof *lat);
    for (size_t i = 0; i < n; i++) {
        uint8_t tag = (uint8_t)(i + 1);
        if (kind == OOL_MEMCPY) {
            src[0] = tag;
            uint64_t t0 = now_ns();
            void *dst =
                mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (dst == MAP_FAILED)
                fail("mmap");
            memcpy(dst, src, size);
            lat[i] = now_ns() - t0;
            if (((uint8_t *)dst)[0] != tag)
                fail("memcpy: wrong data");
            munmap(dst, size);
            continue;
        }
        uint8_t *from = src;
        if (kind == OOL_MOVE) {
            vm_address_t a = 0;
            check_kr(vm_allocate(mach_task_self(), &a, size, VM_FLAGS_ANYWHERE), "vm_allocate");
            from = (uint8_t *)a;
        }
        touch_pages(from, size, tag);
        uint8_t *got = ool_transfer(port, from, size, kind, &lat[i]);
        if (got[0] != tag || got[size - 1] != tag)
            fail("ool: wrong data");
        check_kr(vm_deallocate(mach_task_self(), (vm_address_t)got, size), "vm_deallocate");
    }
    lat_stats s = stats_of(lat, n);
    free(lat);
    return s;
}

static void bench_ool(void)
{
    static const size_t sizes[] = {4096, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024};
    static const size_t full_iters[] = {2000, 1000, 200, 30};
    mach_port_t port = port_with_send_right();
    printf("\nout-of-line transfer (send + receive in one call, one thread; the receiver's "
           "vm_deallocate not timed)\n");
    printf("  %-9s %-10s %12s %12s %10s\n", "size", "mode", "median us", "p99 us", "GB/s");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t size = sizes[s];
        size_t n = iters(full_iters[s], 5);
        vm_address_t a = 0;
        check_kr(vm_allocate(mach_task_self(), &a, size, VM_FLAGS_ANYWHERE), "vm_allocate");
        uint8_t *src = (uint8_t *)a;
        memset(src, 0x5a, size);
        lat_stats st[OOL_KINDS];
        bool phys_ok = size <= OOL_MAX_PHYS_COPY;
        for (int k = 0; k < OOL_KINDS; k++) {
            if (k == OOL_PHYS && !phys_ok)
                ool_check_phys_limit(port, src, size);
            else
                st[k] = ool_run(port, src, size, k, n);
        }
        check_kr(vm_deallocate(mach_task_self(), a, size), "vm_deallocate");
        char label[24];
        if (size >= 1024 * 1024)
            snprintf(label, sizeof label, "%zu MiB", size >> 20);
        else
            snprintf(label, sizeof label, "%zu KiB", size >> 10);
        for (int k = 0; k < OOL_KINDS; k++) {
            if (k == OOL_PHYS && !phys_ok)
                printf("  %-9s %-10s %s\n", k ? "" : label, ool_names[k],
                       "n/a: MACH_MSG_VM_KERNEL (over XNU's 7 MiB physical-copy limit), as "
                       "expected");
            else
                printf("  %-9s %-10s %12.2f %12.2f %10.2f\n", k ? "" : label, ool_names[k],
                       st[k].median_us, st[k].p99_us, (double)size / (st[k].median_us * 1e3));
        }
        char name[48];
        snprintf(name, sizeof name, "ool_%s", label);
        for (char *p = name; *p; p++)
            if (*p == ' ')
                *p = '_';
        bool big = size == 16 * 1024 * 1024;
        if (phys_ok) {
            print_ratio(name, "move/phys_copy", st[OOL_MOVE].median_us / st[OOL_PHYS].median_us,
                        NULL, 0);
            print_ratio(name, "phys_copy/memcpy", st[OOL_PHYS].median_us / st[OOL_MEMCPY].median_us,
                        NULL, 0);
        }
        print_ratio(name, "move/virt_copy", st[OOL_MOVE].median_us / st[OOL_VIRT].median_us,
                    big ? "<=" : NULL, 0.05);
        print_ratio(name, "virt_copy/memcpy", st[OOL_VIRT].median_us / st[OOL_MEMCPY].median_us,
                    NULL, 0);
        print_ratio(name, "move/memcpy", st[OOL_MOVE].median_us / st[OOL_MEMCPY].median_us, NULL,
                    0);
    }
    port_destroy(&port);
}

/* ---- main -------------------------------------------------------------------------------- */

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int cpus[2];
    int navail = bench_cpus(cpus);
    int ncpu = cpus[1] >= 0 ? 2 : 1;
    mach_msg_type_number_t names_before = space_name_count();
    uint64_t t0 = now_ns();
    printf("bench_mach_msg%s: %d CPUs available to the process\n",
           quick_mode() ? " (BENCH_QUICK)" : "", navail);

    if (section_enabled("rpc")) {
        bench_rpc("same_cpu", cpus[0], cpus[0]);
        if (ncpu > 1)
            bench_rpc("cross_cpu", cpus[0], cpus[1]);
        else
            printf("\nrpc cross_cpu: skipped (one CPU)\n");
    }
    if (section_enabled("tput")) {
        bench_tput("same_cpu", cpus[0], cpus[0]);
        if (ncpu > 1)
            bench_tput("cross_cpu", cpus[0], cpus[1]);
        else
            printf("\none-way throughput cross_cpu: skipped (one CPU)\n");
    }
    if (section_enabled("ool"))
        bench_ool();

    mach_msg_type_number_t names_after = space_name_count();
    if (names_after != names_before) {
        fprintf(stderr, "bench_mach_msg: the space holds %u names after the run, %u before\n",
                names_after, names_before);
        return 1;
    }
    printf("\ndone in %.1f s\n", (double)(now_ns() - t0) / 1e9);
    return 0;
}
