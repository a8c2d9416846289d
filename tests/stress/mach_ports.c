/*
 * mach_ports.c — many threads working on one task's ports at once, with the public Mach API only
 * (so the same program can later run inside a multi-process world).
 *
 * STRESS_THREADS workers (default 4) run for STRESS_SECONDS (default 3), each picking, round
 * after round, one of these operations (every Mach call is bounded by a timeout or by the
 * worker's own next step, and every helper thread is joined in the same round):
 *
 *   traffic     a complex message to one of a few shared "hub" ports, carrying a send right
 *               and a send-once right to a port of the worker's, sometimes the receive right
 *               of another port that itself has messages queued (a chain), out-of-line
 *               memory (physical or virtual copy, or moved with deallocate) and an
 *               out-of-line port array; then one message is taken from that hub — this
 *               worker's or another's —, its memory checked against the pattern its sender
 *               wrote, and everything in it destroyed; then the worker's port dies;
 *   rcv-dies    a helper blocks receiving on a port whose receive right is destroyed under it
 *               (MACH_RCV_PORT_CHANGED, or MACH_RCV_INVALID_NAME if it came too late);
 *   rcv-moves   the same, but the receive right moves away in a message and comes back;
 *   send-dies   a helper blocks sending to a full port that is destroyed under it (its
 *               message is destroyed, and the reply right's send-once notification arrives,
 *               or MACH_SEND_INVALID_DEST if it came too late);
 *   notify      a no-senders, dead-name, port-destroyed or send-once notification, each
 *               checked to arrive.
 *
 * At the end the hubs are drained and destroyed, and the space must hold exactly the names
 * it held at the start (mach_port_names); leaks are left to LSan and valgrind (make check
 * runs this under both). STRESS_RSS_EVERY=N (seconds) prints the resident set size every N
 * seconds and its growth after the first quarter of the run (Linux; `make stress`), and fails
 * a run of a minute or more whose RSS grew by more than STRESS_RSS_SLACK_MB (default 32).
 * STRESS_ONLY=traffic,notify (any of the names above) runs only those operations.
 */
#if !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* nanosleep, pthread under -std=c11 */
#endif
#include "notify_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#define ST_HUBS 3
#define ST_MAX_THREADS 32
#define ST_MSG_ID 0x5757
#define ST_CHAIN_ID 0x5758
#define ST_OOL_MAX (64u * 1024)

/* ---- settings and shared state ------------------------------------------------------------ */

static unsigned env_unsigned(const char *name, unsigned dflt, unsigned max)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end = NULL;
    unsigned long n = strtoul(v, &end, 10);
    if (end == v || *end != '\0' || n > max) {
        fprintf(stderr, "stress: %s=%s is not a number up to %u; using %u\n", name, v, max, dflt);
        return dflt;
    }
    return (unsigned)n;
}

static unsigned st_seconds(void)
{
    return env_unsigned("STRESS_SECONDS", 3, 24 * 3600);
}

static mach_port_name_t st_hub[ST_HUBS]; /* receive right + one send right each */
static atomic_bool st_stop;

enum { OP_TRAFFIC, OP_RCV_DIES, OP_RCV_MOVES, OP_SEND_DIES, OP_NOTIFY, OP_KINDS };
static const char *const st_op_names[OP_KINDS] = {"traffic", "rcv-dies", "rcv-moves", "send-dies",
                                                  "notify"};

typedef struct st_worker {
    pthread_t thread;
    uint64_t rng;
    unsigned long ops[OP_KINDS];
    unsigned long received, chains, ool_bytes;
    unsigned long changed, came_late; /* blocked-thread outcomes */
    uint8_t *ool;                     /* ST_OOL_MAX bytes for copied OOL regions */
} st_worker;

static uint32_t st_rand(st_worker *w)
{
    /* xorshift64*: a private sequence per worker */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return (uint32_t)((w->rng * 2685821657736338717ull) >> 32);
}

static void st_sleep_us(unsigned us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

static uint8_t st_pattern(uint32_t seed, size_t i)
{
    return (uint8_t)(seed * 31u + (uint32_t)i * 7u + (uint32_t)(i >> 8));
}

/* ---- traffic through the hubs ------------------------------------------------------------- */

typedef struct st_msg {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_port_descriptor_t send;       /* MAKE_SEND of the worker's port */
    mach_msg_port_descriptor_t once;       /* MAKE_SEND_ONCE of it */
    mach_msg_port_descriptor_t recv;       /* MOVE_RECEIVE of a chain port, or null */
    mach_msg_ool_descriptor_t ool;         /* `size` bytes of st_pattern(seed) */
    mach_msg_ool_ports_descriptor_t ports; /* two MAKE_SEND rights of the worker's port */
    uint32_t seed, size;
} st_msg;

typedef union st_rbuf {
    st_msg m;
    nu_msg n;
    uint8_t bytes[sizeof(st_msg) + 256];
} st_rbuf;

/* A port with `queued` (0..2) small messages on it, each carrying a send right to itself. */
static mach_port_name_t st_chain_port(unsigned queued)
{
    mach_port_name_t p = nu_port();
    MT_CHECK(p != MACH_PORT_NULL);
    for (unsigned i = 0; p && i < queued; i++)
        MT_KR(nu_carry(p, p, MACH_MSG_TYPE_MAKE_SEND), MACH_MSG_SUCCESS);
    return p;
}

/* Check a message taken from a hub, then destroy everything it holds. */
static void st_consume(st_worker *w, st_rbuf *r)
{
    st_msg *m = &r->m;
    MT_EQ(m->h.msgh_id, ST_MSG_ID);
    MT_EQ(m->b.msgh_descriptor_count, 5);
    if (m->h.msgh_id == ST_MSG_ID && m->b.msgh_descriptor_count == 5) {
        MT_EQ(m->ool.size, m->size);
        if (m->ool.size == m->size && m->ool.address) {
            const uint8_t *p = m->ool.address;
            size_t bad = 0;
            for (size_t i = 0; i < m->size; i++)
                bad += p[i] != st_pattern(m->seed, i);
            MT_EQ(bad, 0);
        }
        MT_EQ(m->ports.count, 2);
        if (MACH_PORT_VALID(m->recv.name))
            w->chains++;
        w->ool_bytes += m->size;
        /* The region is the receiver's whatever its deallocate bit says (XNU sets it only for
         * virtual copies, and mach_msg_destroy frees only what has it). */
        if (m->ool.address && m->ool.size)
            MT_KR(vm_deallocate(TASK, (vm_address_t)m->ool.address, m->ool.size), KERN_SUCCESS);
        m->ool.address = NULL;
        m->ool.size = 0;
    }
    w->received++;
    mach_msg_destroy(&m->h);
}

static void op_traffic(st_worker *w)
{
    mach_port_name_t mine = nu_port();
    MT_REQUIRE(mine != MACH_PORT_NULL);
    mach_port_name_t hub = st_hub[st_rand(w) % ST_HUBS];
    uint32_t seed = st_rand(w);
    uint32_t size = 1 + st_rand(w) % ST_OOL_MAX;
    bool move = st_rand(w) % 4 == 0;
    bool chain = st_rand(w) % 4 == 0;

    st_msg m;
    memset(&m, 0, sizeof m);
    void *ool = w->ool;
    if (move) {
        vm_address_t a = 0;
        MT_KR(vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        ool = (void *)a;
    }
    if (ool)
        for (size_t i = 0; i < size; i++)
            ((uint8_t *)ool)[i] = st_pattern(seed, i);
    mach_port_name_t carried[2] = {mine, mine};
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = hub;
    m.h.msgh_id = ST_MSG_ID;
    m.b.msgh_descriptor_count = 5;
    m.send = (mach_msg_port_descriptor_t){
        .name = mine, .disposition = MACH_MSG_TYPE_MAKE_SEND, .type = MACH_MSG_PORT_DESCRIPTOR};
    m.once = (mach_msg_port_descriptor_t){.name = mine,
                                          .disposition = MACH_MSG_TYPE_MAKE_SEND_ONCE,
                                          .type = MACH_MSG_PORT_DESCRIPTOR};
    m.recv = (mach_msg_port_descriptor_t){
        .name = chain ? st_chain_port(st_rand(w) % 3) : MACH_PORT_NULL,
        .disposition = chain ? MACH_MSG_TYPE_MOVE_RECEIVE : MACH_MSG_TYPE_COPY_SEND,
        .type = MACH_MSG_PORT_DESCRIPTOR};
    m.ool = (mach_msg_ool_descriptor_t){.address = ool,
                                        .size = size,
                                        .deallocate = move,
                                        .copy = st_rand(w) % 2 ? MACH_MSG_VIRTUAL_COPY
                                                               : MACH_MSG_PHYSICAL_COPY,
                                        .type = MACH_MSG_OOL_DESCRIPTOR};
    m.ports = (mach_msg_ool_ports_descriptor_t){.address = carried,
                                                .count = 2,
                                                .deallocate = FALSE,
                                                .copy = MACH_MSG_PHYSICAL_COPY,
                                                .disposition = MACH_MSG_TYPE_MAKE_SEND,
                                                .type = MACH_MSG_OOL_PORTS_DESCRIPTOR};
    m.seed = seed;
    m.size = size;
    mach_msg_return_t mr = mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0,
                                    MACH_PORT_NULL, 5000, MACH_PORT_NULL);
    MT_KR(mr, MACH_MSG_SUCCESS);
    if (mr != MACH_MSG_SUCCESS) {
        if (move)
            (void)vm_deallocate(TASK, (vm_address_t)ool, size);
        if (chain)
            nu_kill(m.recv.name);
    }

    /* Take one message from the same hub: it holds at least the one just sent. */
    static _Thread_local st_rbuf r;
    memset(&r, 0, sizeof r);
    mr = mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, hub, 5000, MACH_PORT_NULL);
    MT_KR(mr, MACH_MSG_SUCCESS);
    if (mr == MACH_MSG_SUCCESS)
        st_consume(w, &r);

    /* The rights to `mine` still queued in a hub turn into dead rights there. */
    MT_KR(mach_port_mod_refs(TASK, mine, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

/* ---- a port dying or moving under a blocked thread ---------------------------------------- */

typedef struct st_blocked {
    mach_port_name_t port, reply;
    atomic_int started;
    mach_msg_return_t mr;
} st_blocked;

static void *st_blocked_receiver(void *arg)
{
    st_blocked *b = arg;
    nu_msg m;
    atomic_store(&b->started, 1);
    /* Bounded: the port dies or moves within milliseconds; 20 s means something is stuck. */
    b->mr = nu_recv(b->port, &m, 20000);
    if (b->mr == MACH_MSG_SUCCESS)
        mach_msg_destroy(&m.h);
    return NULL;
}

static void *st_blocked_sender(void *arg)
{
    st_blocked *b = arg;
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = b->port;
    h.msgh_local_port = b->reply;
    h.msgh_id = 3;
    atomic_store(&b->started, 1);
    b->mr = mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
    return NULL;
}

/* Start `fn` on `b`, wait until it is about to block, and give it up to 1 ms more. */
static bool st_start_blocked(st_worker *w, st_blocked *b, void *(*fn)(void *), pthread_t *t)
{
    if (pthread_create(t, NULL, fn, b) != 0) {
        MT_CHECK(!"pthread_create");
        return false;
    }
    while (!atomic_load(&b->started))
        st_sleep_us(50);
    st_sleep_us(st_rand(w) % 1000);
    return true;
}

static void st_count_outcome(st_worker *w, mach_msg_return_t mr, mach_msg_return_t blocked,
                             mach_msg_return_t late)
{
    MT_CHECK(mr == blocked || mr == late);
    if (mr == blocked)
        w->changed++;
    else if (mr == late)
        w->came_late++;
}

/*
 * The blocked thread names the port by a name that stays ours (a send right keeps it as a
 * dead name) until the thread is joined: were the name freed, another worker could get it
 * for a new port and a late thread would receive that port's messages.
 */
static void op_rcv_dies(st_worker *w)
{
    st_blocked b = {.port = nu_port_with_send()};
    MT_REQUIRE(b.port);
    pthread_t t;
    if (!st_start_blocked(w, &b, st_blocked_receiver, &t)) {
        nu_kill(b.port);
        return;
    }
    MT_KR(mach_port_mod_refs(TASK, b.port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    pthread_join(t, NULL);
    st_count_outcome(w, b.mr, MACH_RCV_PORT_CHANGED, MACH_RCV_INVALID_NAME);
    MT_EQ(nu_type(b.port), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, b.port), KERN_SUCCESS);
}

static void op_rcv_moves(st_worker *w)
{
    st_blocked b = {.port = nu_port_with_send()};
    mach_port_name_t holder = nu_port();
    MT_REQUIRE(b.port && holder);
    pthread_t t;
    if (!st_start_blocked(w, &b, st_blocked_receiver, &t)) {
        nu_kill(b.port);
        nu_kill(holder);
        return;
    }
    MT_KR(nu_carry(holder, b.port, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    /* The right comes back under the name that kept its send right. */
    mach_port_name_t back = nu_uncarry(holder);
    MT_EQ(back, b.port);
    /* A thread that came late (after the move) may be blocked on it again now: the port
     * dies before the join, so every thread returns with one of the two outcomes. */
    MT_KR(mach_port_mod_refs(TASK, b.port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    pthread_join(t, NULL);
    st_count_outcome(w, b.mr, MACH_RCV_PORT_CHANGED, MACH_RCV_INVALID_NAME);
    MT_EQ(nu_type(b.port), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, b.port), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, holder, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

static void op_send_dies(st_worker *w)
{
    st_blocked b = {.port = nu_port_with_send(), .reply = nu_port()};
    MT_REQUIRE(b.port && b.reply);
    mach_port_limits_t l = {.mpl_qlimit = 1};
    MT_KR(mach_port_set_attributes(TASK, b.port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
    MT_KR(nu_carry(b.port, b.port, MACH_MSG_TYPE_MAKE_SEND), MACH_MSG_SUCCESS); /* now full */
    pthread_t t;
    if (!st_start_blocked(w, &b, st_blocked_sender, &t)) {
        nu_kill(b.port);
        nu_kill(b.reply);
        return;
    }
    MT_KR(mach_port_mod_refs(TASK, b.port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    pthread_join(t, NULL);
    st_count_outcome(w, b.mr, MACH_MSG_SUCCESS, MACH_SEND_INVALID_DEST);
    /* The send right the sender copied from is a dead name now (one uref). */
    MT_EQ(nu_type(b.port), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, b.port), KERN_SUCCESS);
    nu_msg m;
    if (b.mr == MACH_MSG_SUCCESS) {
        /* the destroyed message's reply right fires its send-once notification */
        MT_KR(nu_recv(b.reply, &m, 5000), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    }
    MT_KR(mach_port_mod_refs(TASK, b.reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

/* ---- notifications ------------------------------------------------------------------------ */

static void st_request(mach_port_name_t name, mach_msg_id_t kind, mach_port_name_t notify)
{
    mach_port_name_t prev = MACH_PORT_NULL;
    MT_KR(mach_port_request_notification(TASK, name, kind, 0, notify, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                                         &prev),
          KERN_SUCCESS);
    MT_EQ(prev, MACH_PORT_NULL);
}

/* Receive the notification `id` on `notify`; returns its message in *m. */
static bool st_expect(mach_port_name_t notify, mach_msg_id_t id, nu_msg *m)
{
    mach_msg_return_t mr = nu_recv(notify, m, 5000);
    MT_KR(mr, MACH_MSG_SUCCESS);
    if (mr != MACH_MSG_SUCCESS)
        return false;
    MT_EQ(m->h.msgh_id, id);
    return m->h.msgh_id == id;
}

static void op_notify(st_worker *w)
{
    mach_port_name_t p = nu_port(), notify = nu_port();
    MT_REQUIRE(p && notify);
    nu_msg m;
    switch (st_rand(w) % 4) {
    case 0: /* no-senders: the last send right goes away (requested with a sender alive) */
        MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
        st_request(p, MACH_NOTIFY_NO_SENDERS, notify);
        MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
        if (st_expect(notify, MACH_NOTIFY_NO_SENDERS, &m))
            MT_EQ(m.no_senders.not_count, 1);
        MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        break;
    case 1: { /* dead-name: the receive right dies in a queue while we hold a send right */
        mach_port_name_t holder = nu_port();
        MT_REQUIRE(holder);
        MT_KR(mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
        MT_KR(nu_carry(holder, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
        st_request(p, MACH_NOTIFY_DEAD_NAME, notify);
        MT_KR(mach_port_mod_refs(TASK, holder, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        if (st_expect(notify, MACH_NOTIFY_DEAD_NAME, &m))
            MT_EQ(m.dead_name.not_port, p);
        /* the name and the notification's extra reference */
        MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
        mach_port_urefs_t n = nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME);
        MT_EQ(n, 2);
        if (n != (mach_port_urefs_t)-1)
            MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_DEAD_NAME, -(mach_port_delta_t)n),
                  KERN_SUCCESS);
        break;
    }
    case 2: /* port-destroyed: the receive right comes back in the notification */
        st_request(p, MACH_NOTIFY_PORT_DESTROYED, notify);
        MT_KR(nu_carry(p, p, MACH_MSG_TYPE_MAKE_SEND), MACH_MSG_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        if (st_expect(notify, MACH_NOTIFY_PORT_DESTROYED, &m)) {
            mach_port_name_t back = m.port_destroyed.not_port.name;
            MT_EQ(nu_type(back), MACH_PORT_TYPE_RECEIVE);
            MT_EQ(nu_status(back).mps_msgcount, 1);
            /* now without a request: the port and its queued message die */
            MT_KR(mach_port_mod_refs(TASK, back, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        }
        break;
    default: { /* send-once: an unused send-once right is dropped */
        mach_port_name_t so = nu_send_once(p);
        MT_REQUIRE(so);
        MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
        st_expect(p, MACH_NOTIFY_SEND_ONCE, &m);
        MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        break;
    }
    }
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

/* ---- workers, RSS, the run ---------------------------------------------------------------- */

/* Weights: traffic 8, each blocked-thread kind 2, notifications 6; STRESS_ONLY=a,b keeps
 * only the named operations (to find which one a problem comes with). */
static int st_pick[20];
static int st_npick;

static bool st_only(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += len)
        if ((p == list || p[-1] == ',') && (p[len] == '\0' || p[len] == ','))
            return true;
    return false;
}

static void st_choose_ops(void)
{
    static const int weight[OP_KINDS] = {8, 2, 2, 2, 6};
    const char *only = getenv("STRESS_ONLY");
    st_npick = 0;
    for (int k = 0; k < OP_KINDS; k++) {
        if (only && *only && !st_only(only, st_op_names[k]))
            continue;
        for (int i = 0; i < weight[k]; i++)
            st_pick[st_npick++] = k;
    }
    if (st_npick == 0) {
        fprintf(stderr, "stress: STRESS_ONLY=%s names no operation; running them all\n", only);
        for (int k = 0; k < OP_KINDS; k++)
            for (int i = 0; i < weight[k]; i++)
                st_pick[st_npick++] = k;
    }
}

static void *st_worker_main(void *arg)
{
    st_worker *w = arg;
    static void (*const ops[OP_KINDS])(st_worker *) = {op_traffic, op_rcv_dies, op_rcv_moves,
                                                       op_send_dies, op_notify};
    while (!atomic_load(&st_stop)) {
        int k = st_pick[st_rand(w) % (uint32_t)st_npick];
        ops[k](w);
        w->ops[k]++;
    }
    return NULL;
}

/* Resident set size in bytes, or 0 where it cannot be read. */
static size_t st_rss(void)
{
#ifdef __linux__
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f)
        return 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return n == 2 ? resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
#else
    return 0;
#endif
}

static double st_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned st_timeout(void)
{
    return st_seconds() + 60;
}

MT_TEST_TIMEOUT(threads_trading_rights_memory_and_notifications_leave_the_space_as_it_was,
                st_timeout())
{
    NU_BEGIN();
    unsigned seconds = st_seconds();
    unsigned nthreads = env_unsigned("STRESS_THREADS", 4, ST_MAX_THREADS);
    unsigned rss_every = env_unsigned("STRESS_RSS_EVERY", 0, 3600);
    unsigned slack_mb = env_unsigned("STRESS_RSS_SLACK_MB", 32, 1u << 20);
    if (nthreads == 0)
        nthreads = 1;
    st_choose_ops();
    for (int i = 0; i < ST_HUBS; i++) {
        st_hub[i] = nu_port_with_send();
        MT_REQUIRE(st_hub[i]);
        mach_port_limits_t l = {.mpl_qlimit = MACH_PORT_QLIMIT_LARGE};
        MT_KR(mach_port_set_attributes(TASK, st_hub[i], MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                       MACH_PORT_LIMITS_INFO_COUNT),
              KERN_SUCCESS);
    }
    static st_worker w[ST_MAX_THREADS];
    memset(w, 0, sizeof w);
    atomic_store(&st_stop, false);
    double t0 = st_now();
    size_t rss0 = st_rss(), rss_quarter = 0, rss_max = rss0;
    unsigned started = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        w[i].rng = 0x9E3779B97F4A7C15ull * (i + 1) ^ (uint64_t)time(NULL);
        w[i].ool = malloc(ST_OOL_MAX);
        MT_CHECK(w[i].ool != NULL);
        if (pthread_create(&w[i].thread, NULL, st_worker_main, &w[i]) != 0) {
            MT_CHECK(!"pthread_create");
            break;
        }
        started++;
    }
    /* Sleep in slices, sampling the RSS when asked. */
    double next_sample = rss_every ? t0 + rss_every : 1e300;
    bool quarter_taken = false;
    for (;;) {
        double now = st_now();
        if (now - t0 >= seconds)
            break;
        if (!quarter_taken && now - t0 >= seconds / 4.0) {
            rss_quarter = st_rss();
            quarter_taken = true;
        }
        if (now >= next_sample) {
            size_t rss = st_rss();
            if (rss > rss_max)
                rss_max = rss;
            printf("stress: %6.0f s  rss %7.1f MiB\n", now - t0, (double)rss / 1048576.0);
            fflush(stdout);
            next_sample += rss_every;
        }
        st_sleep_us(50000);
    }
    atomic_store(&st_stop, true);
    for (unsigned i = 0; i < started; i++)
        pthread_join(w[i].thread, NULL);
    double took = st_now() - t0;
    size_t rss_end = st_rss();
    if (rss_end > rss_max)
        rss_max = rss_end;
    if (rss_quarter > rss_max)
        rss_max = rss_quarter;

    /* Drain and destroy the hubs. */
    unsigned long leftovers = 0;
    for (int i = 0; i < ST_HUBS; i++) {
        static st_rbuf r;
        while (mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, st_hub[i], 0,
                        MACH_PORT_NULL) == MACH_MSG_SUCCESS) {
            mach_msg_destroy(&r.m.h);
            leftovers++;
        }
        nu_kill(st_hub[i]);
    }
    MT_CHECK(leftovers <= nthreads); /* each round takes one message for the one it sends */

    unsigned long total[OP_KINDS] = {0}, sum = 0, received = 0, chains = 0, changed = 0, late = 0;
    double mib = 0;
    for (unsigned i = 0; i < started; i++) {
        for (int k = 0; k < OP_KINDS; k++)
            total[k] += w[i].ops[k];
        received += w[i].received;
        chains += w[i].chains;
        changed += w[i].changed;
        late += w[i].came_late;
        mib += (double)w[i].ool_bytes / 1048576.0;
        free(w[i].ool);
    }
    printf("stress: %u threads, %.1f s:", started, took);
    for (int k = 0; k < OP_KINDS; k++) {
        printf(" %s %lu", st_op_names[k], total[k]);
        sum += total[k];
    }
    printf("\nstress: %lu operations; %lu hub messages received (%lu with a receive right, "
           "%.1f MiB out-of-line); blocked threads: %lu woken by the change, %lu came late\n",
           sum, received, chains, mib, changed, late);
    MT_CHECK(sum > 0);
    if (rss0) {
        size_t from = rss_quarter ? rss_quarter : rss0;
        double growth = ((double)rss_end - (double)from) / 1048576.0;
        printf("stress: rss %.1f MiB at start, %.1f MiB after a quarter of the run, %.1f MiB at "
               "the end (max %.1f): growth after the first quarter %+.1f MiB\n",
               (double)rss0 / 1048576.0, (double)from / 1048576.0, (double)rss_end / 1048576.0,
               (double)rss_max / 1048576.0, growth);
        if (seconds >= 60)
            MT_CHECK(growth <= (double)slack_mb);
    }
    fflush(stdout);
    NU_END();
}

MT_MAIN()
