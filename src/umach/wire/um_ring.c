/*
 * um_ring.c — a thread connection's shared-memory mailbox (um_ring.h), for both sides. The
 * daemon reads a request only once, into its own buffer, and checks that copy; the memfd is
 * sealed against shrinking and growing before the client ever sees it, so no scribbling of
 * the client's can make the daemon fault or read outside the ring.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create, F_ADD_SEALS */
#endif
#include "um_ring.h"
#include "../um_backoff.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(um_ring_ctl) <= UM_RING_POST_CTL, "the mailbox's words end before the posts'");
_Static_assert(UM_RING_POST_CTL + sizeof(um_ring_post_ctl) <= UM_RING_WIN_CTL &&
                   UM_RING_WIN_CTL + sizeof(um_ring_win_ctl) <= UM_RING_CTL,
               "the control words fit their page");
_Static_assert(UM_RING_POST_REC_SIZE(UM_RING_POST_MSG_MAX) * 2 <= UM_RING_POST_SIZE &&
                   (UM_RING_POST_SIZE & (UM_RING_POST_SIZE - 1)) == 0,
               "the post ring is a power of two and holds a record and a wrap");

static uint32_t *ring_word(um_ring *r)
{
    return &um_ring_ctl_of(r)->state;
}

/* Shared (not private) futex operations: the word is in a mapping of two processes. */
static long ring_futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
    return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/* ---- the daemon's robust futex list: the rings' state and alive words -----------------------
 *
 * The kernel walks a dying thread's robust list and, in each entry's futex word whose low 30
 * bits are the thread's id, sets FUTEX_OWNER_DIED and wakes one waiter (if FUTEX_WAITERS is
 * set). A watched ring has two entries: its alive word's, then its state word's (the kernel
 * marks them in list order; um_ring_wait relies on it). The entries are in a private page of
 * the daemon's (a client can write its ring but not the list) just before the ring's mapping,
 * so that each entry's word is at the list's one futex offset (a page) from it. The kernel
 * walks at most ROBUST_LIST_LIMIT (2048) entries: rings beyond UM_RING_WATCH_MAX stay
 * unwatched.
 */

enum { UM_RING_WATCH_MAX = 1000 };

typedef struct ring_entry {
    struct robust_list list; /* what the kernel reads: the next entry */
    struct ring_entry *prev; /* ours: the entry before (NULL: the head) */
} ring_entry;

_Static_assert(offsetof(um_ring_ctl, state) % 8 == 0 && offsetof(um_ring_ctl, alive) % 8 == 0 &&
                   offsetof(um_ring_ctl, alive) >= sizeof(ring_entry),
               "each watched word's entry is aligned and the two do not overlap");

static struct robust_list_head ring_head;
static bool ring_watching;    /* the list is this thread's robust list */
static pid_t ring_watcher;    /* that thread */
static unsigned ring_watched; /* watched rings (two entries each) */
static size_t ring_page;      /* the private page before each watched ring */

bool um_ring_watch_start(void)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || (size_t)page < sizeof(ring_entry) + offsetof(um_ring_ctl, alive))
        return false;
    ring_page = (size_t)page;
    ring_head.list.next = &ring_head.list;
    ring_head.futex_offset = (long)ring_page;
    ring_head.list_op_pending = NULL;
    if (syscall(SYS_set_robust_list, &ring_head, sizeof ring_head) != 0)
        return false;
    ring_watcher = (pid_t)syscall(SYS_gettid);
    ring_watching = true;
    return true;
}

/* The entry (in the private page at `priv`) of the ring word at `offset` in the control page. */
static ring_entry *ring_entry_at(void *priv, size_t offset)
{
    return (ring_entry *)((uint8_t *)priv + offset);
}

static void entry_link(ring_entry *e)
{
    e->prev = NULL;
    e->list.next = ring_head.list.next;
    if (e->list.next != &ring_head.list)
        ((ring_entry *)e->list.next)->prev = e;
    /* One store makes it reachable: a death at any instant finds a well-formed list. */
    __atomic_store_n(&ring_head.list.next, &e->list, __ATOMIC_RELEASE);
}

static void entry_unlink(ring_entry *e)
{
    struct robust_list **from = e->prev ? &e->prev->list.next : &ring_head.list.next;
    __atomic_store_n(from, e->list.next, __ATOMIC_RELEASE);
    if (e->list.next != &ring_head.list)
        ((ring_entry *)e->list.next)->prev = e->prev;
}

/* Watch the ring (its words set, its entries on the list: the alive word's first). */
static void ring_watch(um_ring *r)
{
    um_ring_ctl *c = um_ring_ctl_of(r);
    r->owner = (uint32_t)ring_watcher;
    c->owner = r->owner;
    __atomic_store_n(&c->alive, r->owner | UM_RING_ALIVE_WATCHED, __ATOMIC_RELEASE);
    entry_link(ring_entry_at(r->robust, offsetof(um_ring_ctl, state)));
    entry_link(ring_entry_at(r->robust, offsetof(um_ring_ctl, alive)));
    ring_watched++;
}

/* Stop watching the ring: entries off the list; the alive word says unwatched. */
static void ring_unwatch(um_ring *r)
{
    entry_unlink(ring_entry_at(r->robust, offsetof(um_ring_ctl, alive)));
    entry_unlink(ring_entry_at(r->robust, offsetof(um_ring_ctl, state)));
    ring_watched--;
    /*
     * From now on the daemon's death would not mark the state word: a client that posts
     * after this sees the alive word unwatched (it then sleeps with a timeout and looks at its
     * socket), and one that posted before it is found by the abandon below and woken.
     */
    __atomic_store_n(&um_ring_ctl_of(r)->alive, 0, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    um_ring_abandon(r);
}

int um_ring_create(um_ring *r, int *memfd)
{
    r->base = NULL;
    r->evfd = -1;
    r->robust = NULL;
    r->owner = UM_RING_REQ;
    r->taken = 0;
    *memfd = -1;
    int fd = memfd_create("umach-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    int err = 0;
    if (ftruncate(fd, UM_RING_SIZE) != 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        err = -errno;
    /* A watched ring: its entry's private page, then the ring right after it. */
    bool watch = !err && ring_watching && ring_watched < UM_RING_WATCH_MAX &&
                 (pid_t)syscall(SYS_gettid) == ring_watcher;
    uint8_t *all = MAP_FAILED;
    void *base = MAP_FAILED;
    if (watch) {
        all = mmap(NULL, ring_page + UM_RING_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (all != MAP_FAILED)
            base = mmap(all + ring_page, UM_RING_SIZE, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_FIXED, fd, 0);
        if (base == MAP_FAILED) {
            if (all != MAP_FAILED)
                munmap(all, ring_page + UM_RING_SIZE);
            all = MAP_FAILED;
            watch = false; /* an unwatched ring rather than none */
        }
    }
    if (!err && !watch)
        base = mmap(NULL, UM_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (!err && base == MAP_FAILED)
        err = -errno;
    int ev = err ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!err && ev < 0)
        err = -errno;
    if (err) {
        if (all != MAP_FAILED)
            munmap(all, ring_page + UM_RING_SIZE);
        else if (base != MAP_FAILED)
            munmap(base, UM_RING_SIZE);
        close(fd);
        return err;
    }
    r->base = base;
    r->evfd = ev;
    r->robust = all != MAP_FAILED ? all : NULL;
    r->taken = 0;
    um_ring_ctl *c = um_ring_ctl_of(r);
    c->daemon_cpu = UINT32_MAX;
    if (r->robust) {
        ring_watch(r);
    } else {
        r->owner = UM_RING_REQ;
        c->owner = UM_RING_REQ;
    }
    *memfd = fd;
    return 0;
}

int um_ring_attach(um_ring *r, int memfd, int evfd)
{
    r->base = NULL;
    r->evfd = -1;
    r->robust = NULL;
    r->owner = 0;
    r->taken = 0;
    struct stat st;
    int err = 0;
    if (fstat(memfd, &st) != 0)
        err = -errno;
    else if (!S_ISREG(st.st_mode) || st.st_size != (off_t)UM_RING_SIZE)
        err = -EPROTO;
    void *base = err ? MAP_FAILED
                     : mmap(NULL, UM_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (!err && base == MAP_FAILED)
        err = -errno;
    close(memfd);
    if (err) {
        close(evfd);
        return err;
    }
    r->base = base;
    r->evfd = evfd;
    return 0;
}

void um_ring_unmap(um_ring *r)
{
    if (r->robust) {
        ring_unwatch(r);
        munmap(r->robust, ring_page + UM_RING_SIZE); /* the entry's page and the ring */
    } else if (r->base) {
        munmap(r->base, UM_RING_SIZE);
    }
    if (r->evfd >= 0)
        close(r->evfd);
    r->base = NULL;
    r->evfd = -1;
    r->robust = NULL;
}

void um_ring_put(uint8_t *area, um_wire_hdr *h, const uint64_t *args, const void *blob)
{
    h->magic = UM_WIRE_MAGIC;
    h->flags &= (uint16_t)~UM_WIRE_F_MEMFD;
    memcpy(area, h, sizeof *h);
    size_t at = sizeof *h;
    if (h->nargs) {
        memcpy(area + at, args, (size_t)h->nargs * 8);
        at += (size_t)h->nargs * 8;
    }
    if (h->blob_len)
        memcpy(area + at, blob, h->blob_len);
}

int um_ring_take(const uint8_t *area, um_wire_buf *buf, um_wire_pkt *p, uint32_t blob_max)
{
    p->blob = NULL;
    p->blob_heap = false;
    um_wire_hdr h;
    memcpy(&h, area, sizeof h);
    size_t len = sizeof h;
    if (h.nargs <= UM_WIRE_MAX_ARGS && um_ring_fits(h.nargs, h.blob_len))
        len += (size_t)h.nargs * 8 + h.blob_len;
    _Static_assert(UM_RING_AREA <= sizeof(((um_wire_buf *)0)->bytes), "an area fits a buffer");
    memcpy(buf->bytes, area, len);
    /* From here on only the copy is read. */
    return um_wire_decode(buf->bytes, len, -1, p, blob_max);
}

bool um_ring_post(um_ring *r)
{
    um_ring_ctl *c = um_ring_ctl_of(r);
    int cpu = sched_getcpu();
    __atomic_store_n(&c->client_cpu, cpu < 0 ? UINT32_MAX : (uint32_t)cpu, __ATOMIC_RELAXED);
    um_ring_ctl_post(c);
    /* After the post's full fence: a daemon still looking at this ring will see the post
     * (um_ring_unlook), so it needs no wake-up. */
    if (__atomic_load_n(&c->looking, __ATOMIC_RELAXED))
        return true;
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(r->evfd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter is full, so the daemon has an event it has not seen yet. */
    return n == (ssize_t)sizeof one || (n < 0 && errno == EAGAIN);
}

static bool ring_replied(uint32_t v)
{
    uint32_t s = v & UM_RING_STATE_MASK;
    return s == UM_RING_REP || s == UM_RING_SOCK;
}

/* The world hung up on `sockfd` (the daemon died or ended this connection). */
static bool ring_hung_up(int sockfd)
{
    struct pollfd pfd = {.fd = sockfd, .events = POLLIN | POLLRDHUP};
    if (poll(&pfd, 1, 0) <= 0)
        return false;
    return (pfd.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) != 0;
}

/*
 * Sleep on the state word while it is `v`, with no timeout (a timed futex wait costs a timer
 * armed and cancelled each time: ~1.3 µs of a one-CPU round trip). glibc's cancellation
 * signal has SA_RESTART, so an untimed wait is restarted after it and never returns EINTR
 * (a timed one did): the thread is asynchronously cancelable for the span of the wait, so
 * pthread_cancel ends it there as before (it holds no lock and nothing half-done then).
 */
static long ring_sleep(uint32_t *word, uint32_t v)
{
    int type;
    bool async = pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &type) == 0;
    long rc = ring_futex(word, FUTEX_WAIT, v, NULL);
    int e = errno;
    if (async)
        (void)pthread_setcanceltype(type, NULL);
    errno = e;
    return rc;
}

int um_ring_wait(um_ring *r, int sockfd)
{
    uint32_t *word = ring_word(r);
    uint32_t *alive = &um_ring_ctl_of(r)->alive;
    uint32_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    const struct timespec check = {0, UM_RING_HUP_CHECK_MS * 1000000L};
    while (!ring_replied(v)) {
        /*
         * The post wrote the state word before this reads the alive word, and the kernel
         * marks the alive word before the state word: either the daemon's death shows here,
         * or the kernel will find our request's code in the state word and mark (and wake) it.
         */
        uint32_t a = __atomic_load_n(alive, __ATOMIC_ACQUIRE);
        if ((v & UM_RING_DIED) || (a & UM_RING_ALIVE_DIED))
            return -1; /* the daemon died (the kernel said so) */
        if (!(v & UM_RING_WAITING)) {
            if (!__atomic_compare_exchange_n(word, &v, v | UM_RING_WAITING, false,
                                             __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                continue; /* v now holds what changed it */
            v |= UM_RING_WAITING;
        }
        bool watched = (a & UM_RING_ALIVE_WATCHED) != 0;
        long rc = watched ? ring_sleep(word, v) : ring_futex(word, FUTEX_WAIT, v, &check);
        if (rc != 0) {
            if (!watched && errno == ETIMEDOUT && ring_hung_up(sockfd))
                return -1;
            /* A futex wait is no cancellation point; a thread cancelled here goes now. */
            if (errno == EINTR)
                pthread_testcancel();
        }
        v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    }
    return (int)(v & UM_RING_STATE_MASK);
}

bool um_ring_claim(um_ring *r)
{
    /* Acquire: the request area was written before the count moved. A client that moves the
     * count without a request only gets garbage served (its task ends) or a request again. */
    uint32_t posted = __atomic_load_n(&um_ring_ctl_of(r)->posted, __ATOMIC_ACQUIRE);
    if (posted == r->taken)
        return false;
    r->taken = posted;
    return true;
}

bool um_ring_unlook(um_ring *r)
{
    __atomic_store_n(&um_ring_ctl_of(r)->looking, 0u, __ATOMIC_RELAXED);
    /* Against the post's fence: either the client saw the promise and wrote no eventfd, and
     * its post shows here, or it saw none and wrote the eventfd. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return um_ring_posted(r);
}

/* UINT64_MAX until the first caller reads the environment (any thread may: same result). */
static uint64_t ring_spin_ns_value = UINT64_MAX;

uint64_t um_ring_spin_ns(void)
{
    uint64_t ns = __atomic_load_n(&ring_spin_ns_value, __ATOMIC_RELAXED);
    if (ns != UINT64_MAX)
        return ns;
    ns = um_spin_env_ns();
    __atomic_store_n(&ring_spin_ns_value, ns, __ATOMIC_RELAXED);
    return ns;
}

void um_ring_done(um_ring *r, uint32_t how)
{
    uint32_t *word = ring_word(r);
    uint32_t old = __atomic_exchange_n(word, how, __ATOMIC_ACQ_REL);
    if (old & UM_RING_WAITING)
        (void)ring_futex(word, FUTEX_WAKE, 1, NULL);
}

void um_ring_abandon(um_ring *r)
{
    uint32_t *word = ring_word(r);
    uint32_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    /* A client that keeps changing its word only delays itself: a few tries, then none. */
    for (int tries = 0; tries < 4; tries++) {
        if ((v & UM_RING_STATE_MASK) != r->owner)
            return; /* no request outstanding */
        if (__atomic_compare_exchange_n(word, &v, UM_RING_SOCK, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            if (v & UM_RING_WAITING)
                (void)ring_futex(word, FUTEX_WAKE, 1, NULL);
            return;
        }
    }
}

/* ---- posted sends ------------------------------------------------------------------------ */

static ssize_t write_evfd(int fd, const uint64_t *one)
{
    return write(fd, one, sizeof *one);
}

/* Take one credit of the grant for `name`; false: none left (or no such grant). */
static bool post_take_credit(um_ring_post_ctl *pc, uint32_t name, uint32_t *slotp)
{
    for (uint32_t i = 0; i < UM_RING_GRANTS; i++) {
        um_ring_grant *g = &pc->grants[i];
        if (__atomic_load_n(&g->name, __ATOMIC_RELAXED) != name)
            continue;
        uint32_t c = __atomic_load_n(&g->credits, __ATOMIC_ACQUIRE);
        while (c != 0) {
            if (__atomic_compare_exchange_n(&g->credits, &c, c - 1, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                *slotp = i;
                return true;
            }
        }
    }
    return false;
}

bool um_ring_post_msg(um_ring *r, uint32_t name, const void *msg, uint32_t len)
{
    if (!r->base || len > UM_RING_POST_MSG_MAX || name == 0)
        return false;
    um_ring_post_ctl *pc = um_ring_post_ctl_of(r);
    uint32_t tail = __atomic_load_n(&pc->tail, __ATOMIC_RELAXED); /* ours alone */
    uint32_t head = __atomic_load_n(&pc->head, __ATOMIC_ACQUIRE);
    uint32_t need = UM_RING_POST_REC_SIZE(len);
    uint32_t at = tail & (UM_RING_POST_SIZE - 1);
    uint32_t skip = at + need > UM_RING_POST_SIZE ? UM_RING_POST_SIZE - at : 0;
    if ((uint32_t)(tail - head) > UM_RING_POST_SIZE ||
        UM_RING_POST_SIZE - (uint32_t)(tail - head) < skip + need)
        return false; /* full (the daemon has not taken enough yet) */
    /* The room is ours (only this thread writes): now the credit, then the record. */
    uint32_t slot;
    if (!post_take_credit(pc, name, &slot))
        return false;
    uint8_t *area = um_ring_post_area(r);
    if (skip) {
        uint32_t w[2] = {0, UM_RING_POST_WRAP}; /* a wrap record is its first 8 bytes */
        memcpy(area + at, w, sizeof w);
        tail += skip;
        at = 0;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    um_ring_post_rec rec = {len, slot, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec};
    memcpy(area + at, &rec, sizeof rec);
    memcpy(area + at + sizeof rec, msg, len);
    __atomic_store_n(&pc->tail, tail + need, __ATOMIC_RELEASE);
    /* Against the daemon's "idle, then look at every tail" (both sides fence): either it sees
     * this record before it sleeps, or this thread sees it may sleep and wakes it. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&pc->idle, __ATOMIC_RELAXED) &&
        __atomic_exchange_n(&pc->idle, 0, __ATOMIC_ACQ_REL)) {
        uint64_t one = 1;
        ssize_t n;
        do
            n = write(r->evfd, &one, sizeof one);
        while (n < 0 && errno == EINTR);
        /* EAGAIN: the counter is full, so the daemon has an event it has not seen yet; any
         * other failure is the world's end, which the next call sees on its socket. */
    }
    return true;
}

bool um_ring_post_pending(const um_ring *r)
{
    if (!r->base)
        return false;
    const um_ring_post_ctl *pc = um_ring_post_ctl_of(r);
    return __atomic_load_n(&pc->head, __ATOMIC_ACQUIRE) !=
           __atomic_load_n(&pc->tail, __ATOMIC_RELAXED);
}

/* ---- the receive window ------------------------------------------------------------------ */

int um_ring_win_receive(um_ring *r, uint32_t name, uint32_t option, uint32_t rcv_size,
                        bool (*write)(uint64_t addr, const void *bytes, size_t len),
                        uint64_t buf)
{
    if (!r->base || name == 0)
        return 0;
    um_ring_win_ctl *w = um_ring_win_ctl_of(r);
    /* The params are the daemon's and change only while this thread waits on it. */
    if (__atomic_load_n(&w->name, __ATOMIC_RELAXED) != name ||
        __atomic_load_n(&w->option, __ATOMIC_RELAXED) != option ||
        __atomic_load_n(&w->rcv_size, __ATOMIC_RELAXED) != rcv_size)
        return 0;
    uint32_t a = __atomic_load_n(&w->avail, __ATOMIC_ACQUIRE);
    do {
        if (a == 0)
            return 0;
    } while (!__atomic_compare_exchange_n(&w->avail, &a, a - 1, false, __ATOMIC_SEQ_CST,
                                          __ATOMIC_ACQUIRE));
    /* Claimed: the message is received now. */
    uint32_t done = __atomic_load_n(&w->done, __ATOMIC_RELAXED); /* ours alone */
    const uint8_t *slot = um_ring_win_slot(r, done);
    uint32_t len;
    memcpy(&len, slot, sizeof len);
    int rc = 1;
    if (len > UM_RING_WIN_IMAGE_MAX || len > rcv_size || !write(buf, slot + 8, len))
        rc = -1;
    __atomic_store_n(&w->done, done + 1, __ATOMIC_RELEASE);
    /* A sender waits for the room this made: the daemon must see the claim (as the post's
     * wake: the daemon sets idle, fences and looks at the windows again before it sleeps). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&w->need_wake, __ATOMIC_RELAXED)) {
        um_ring_post_ctl *pc = um_ring_post_ctl_of(r);
        if (__atomic_load_n(&pc->idle, __ATOMIC_RELAXED) &&
            __atomic_exchange_n(&pc->idle, 0, __ATOMIC_ACQ_REL)) {
            uint64_t one = 1;
            ssize_t n;
            do
                n = write_evfd(r->evfd, &one);
            while (n < 0 && errno == EINTR);
        }
    }
    return rc;
}
