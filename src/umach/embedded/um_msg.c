/*
 * um_msg.c — mach_msg in the embedded front end: the core's non-blocking send and receive
 * (kern/um_msg.c) plus the waiting.
 *
 * A thread that must wait sleeps on a futex word of its own, with the world unlocked. The
 * core marks its waiter woken under the lock; the futex wake itself is issued after the lock
 * is released (um_embedded_defer_wake), so the woken thread does not block on the lock at
 * once. The word is per-thread storage that is never freed (not the waiter's stack frame): a
 * deferred wake may reach it after its waiter has gone, which is a harmless spurious wake-up.
 * Timeouts are deadlines: a thread woken for nothing goes back to sleep until the same
 * deadline.
 *
 * Spinning first. A wake-up from another CPU costs microseconds (tens on a VM), while a reply
 * often comes sooner than that. So a waiter first polls its word for up to UMACH_SPIN_US
 * microseconds (default 20, 0: never) with a CPU pause, and only then sleeps. The word says
 * 0 (waiting, awake), 2 (asleep in the kernel) or 1 (woken): the waker stores 1 once the world
 * lock is released (um_embedded_defer_post) and makes the futex system call only when the old
 * value was 2, so a spinning waiter costs its waker no system call and finds the lock free.
 * Spinning only pays when the waker runs on another CPU. The post says which CPU the waker
 * ran on: a waiter whose spin ended without the wake, and whose waker then ran on its own
 * CPU, spins again only after 1, 3, 7 ... 255 waits without (reset by a spin that works), so
 * on one CPU, where a spinner only holds up the thread it waits for, almost nothing is lost;
 * a wake from another CPU that came after the spin (its waker was preempted or slow) does not
 * stop the next wait from spinning. A machine with one CPU online never spins. A spin never runs past the wait's deadline,
 * and an interruptible wait (MACH_SEND_INTERRUPT / MACH_RCV_INTERRUPT) does not spin: only a
 * system call can tell that a signal handler ran.
 *
 * Handoff. A send that finds a receive waiting completes it under its own lock hold
 * (um_msg_rcv_state.handed). The sending thread then, once the lock is released, also writes
 * what the receiver received into the receiver's buffer (this process is the one task, its
 * memory the same in every thread), frees the message, stores the receive's result beside
 * the receiver's word and posts the word with a mark that says so (um_embedded_final_run):
 * the woken receiver reads that one cache line and returns. The message, its kmsg and the
 * receiver's state stay in the sender's cache; only the receiver's buffer and its word
 * cross to the receiver's CPU. A message of at most FE_WORD_BYTES (header, body and trailer)
 * travels in the word's line itself and the receiver copies it to its buffer, so that even
 * the buffer stays on the receiver's CPU; when the sender's call goes on to receive, such a
 * message is posted in the send's own lock hold (no buffer is written under the lock, so
 * nothing can fault there); a sleeping receiver's futex wake still comes with a release
 * before the call's own receive, as for a larger message. A receiver that sees `handed` before that post waits for it
 * (the receive is complete: no timeout or interrupt can take it back). When the list of
 * wakes deferred to the release is full, the waker posts the plain way and the receiver
 * writes its buffer itself (its word's `mr` says FE_MR_SELF).
 *
 * The message is read from the sender's buffer before the lock is taken, and the received
 * bytes are written to the receiver's buffer after it is released, both through the task's
 * memory operations: a bad buffer is MACH_SEND_INVALID_DATA / MACH_RCV_INVALID_DATA.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../kern/um_hint.h"
#include "../kern/um_kmsg.h"
#include "../um_backoff.h"
#include "um_embedded.h"
#include "um_suspend.h"
#include "../um_export.h"

#include <mach/mach.h>

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the thread's futex word ---------------------------------------------------------------- */

/*
 * Words are allocated once per thread and recycled through a free list when a thread exits,
 * never freed: a wake deferred past the end of a wait (or of a thread) still hits a word.
 * Each has a cache line of its own: two threads' words side by side would make each post
 * to one disturb the other's spinning.
 */
enum { FE_WORD_BYTES = 52 };

typedef struct fe_word {
    _Alignas(64) uint32_t word;
    /*
     * A completed receive's result, on the word's line so that it travels with the post:
     * FE_MR_PENDING while armed, the result once its waker wrote the bytes (then posted with
     * FE_WORD_FINAL), FE_MR_SELF when the receiver writes them itself.
     */
    mach_msg_return_t mr;
    union {
        struct fe_word *next_free; /* on the free list: no wait armed, so no bytes */
        /*
         * A completed receive whose bytes fit here travels in the word's line (see
         * um_embedded_final_run): `len` bytes for the receiver to write to its buffer itself,
         * 0 when its waker wrote them there. Written before the final post, read after it.
         */
        struct {
            uint32_t len;
            uint8_t bytes[FE_WORD_BYTES];
        } msg;
    };
} fe_word;

_Static_assert(sizeof(fe_word) == 64, "a wait word and what travels with its post: one line");

enum { FE_MR_PENDING = -1, FE_MR_SELF = -2 };

static _Thread_local fe_word *fe_mine;
static fe_word *fe_free_words; /* guarded by the world lock */
static tss_t fe_word_key;
static once_flag fe_word_once = ONCE_FLAG_INIT;

static void fe_word_release(void *p)
{
    fe_word *w = p;
    um_embedded_enter();
    w->next_free = fe_free_words;
    fe_free_words = w;
    /*
     * The word is another thread's to take from here on: a wait in a later destructor of
     * this thread gets a word of its own (and registers it again), never this one.
     */
    fe_mine = NULL;
    um_embedded_leave();
}

static void fe_word_key_init(void)
{
    (void)tss_create(&fe_word_key, fe_word_release);
}

/* The calling thread's word. Conditions: world locked. NULL only when out of memory. */
static fe_word *fe_word_get(void)
{
    if (fe_mine)
        return fe_mine;
    fe_word *w = fe_free_words;
    if (w) {
        fe_free_words = w->next_free;
    } else {
        w = aligned_alloc(_Alignof(fe_word), sizeof *w);
        if (w)
            memset(w, 0, sizeof *w);
    }
    if (!w)
        return NULL;
    call_once(&fe_word_once, fe_word_key_init);
    (void)tss_set(fe_word_key, w);
    fe_mine = w;
    return w;
}

/*
 * Word values: see "Spinning first" above. A woken word is odd: the post stores 1 plus, from
 * bit 2 up, the waker's CPU + 1 (0: unknown), see um_embedded_defer_post; plus
 * FE_WORD_FINAL when the waker completed the receive and wrote its bytes (`mr` is final).
 */
enum { FE_WORD_WAITING = 0, FE_WORD_WOKEN = 1, FE_WORD_ASLEEP = 2, FE_WORD_FINAL = 2 };

static inline bool fe_word_final(uint32_t v)
{
    return (v & (FE_WORD_WOKEN | FE_WORD_FINAL)) == (FE_WORD_WOKEN | FE_WORD_FINAL);
}

static inline bool fe_word_woken(uint32_t v)
{
    return (v & FE_WORD_WOKEN) != 0;
}

/* This thread deferred a completed receive to its release (see um_embedded_defer_final). */
static _Thread_local bool fe_final_deferred;

static void fe_wake(um_waiter *w)
{
    fe_word *fw = w->fe;
    if (w->final) {
        if (um_embedded_defer_final(w)) {
            fe_final_deferred = true;
            return;
        }
        fw->mr = FE_MR_SELF; /* no room to defer it: the receiver writes its own bytes */
    }
    um_embedded_defer_post(&fw->word);
}

/* ---- spinning before sleeping ------------------------------------------------------------------ */

/* UINT64_MAX until the first wait reads the environment (any thread may: same result). */
static uint64_t fe_spin_ns_value = UINT64_MAX;

/* How long a waiter polls before it sleeps, in ns (UMACH_SPIN_US, at most 1 ms; 0: never). */
static uint64_t fe_spin_ns(void)
{
    uint64_t ns = __atomic_load_n(&fe_spin_ns_value, __ATOMIC_RELAXED);
    if (ns == UINT64_MAX) {
        ns = um_spin_env_ns();
        __atomic_store_n(&fe_spin_ns_value, ns, __ATOMIC_RELAXED);
    }
    return ns;
}

static _Thread_local um_backoff fe_spin_backoff; /* waits to skip, spins in a row without */
static _Thread_local bool fe_spin_missed;        /* the last spin ended without the wake */

/*
 * Poll the word for up to the spin bound, never past `deadline` (CLOCK_MONOTONIC, NULL: none).
 * true: it says woken. Conditions: world unlocked.
 */
static bool fe_spin(fe_word *fw, const struct timespec *deadline)
{
    uint64_t budget = fe_spin_ns();
    if (budget == 0)
        return false;
    if (um_backoff_skips(&fe_spin_backoff))
        return false;
    fe_spin_missed = false;
    uint64_t until = um_now_ns() + budget;
    if (deadline) {
        uint64_t d = (uint64_t)deadline->tv_sec * 1000000000u + (uint64_t)deadline->tv_nsec;
        if (d < until)
            until = d;
    }
    for (unsigned k = 1;; k++) {
        um_cpu_pause();
        if (fe_word_woken(__atomic_load_n(&fw->word, __ATOMIC_ACQUIRE))) {
            um_backoff_found(&fe_spin_backoff, true);
            return true;
        }
        if (k % 64 == 0 && um_now_ns() >= until)
            break;
    }
    um_backoff_missed(&fe_spin_backoff);
    fe_spin_missed = true; /* the back-off is decided when the wake comes (fe_spin_learn) */
    return false;
}

/*
 * After a wait that slept, `v` being the word that woke it: a waker that ran on this
 * thread's CPU could not have run while we spun, so spinning backs off (1, 3, 7 ... 255
 * waits without); a waker on another CPU only came later than the spin bound (it was
 * preempted, or slow this once), so the next wait spins again, as the spin-then-futex
 * baseline does. A wake that does not say its CPU changes nothing.
 */
static void fe_spin_learn(uint32_t v)
{
    uint32_t waker = v >> 2;
    if (!fe_word_woken(v) || waker == 0)
        return;
    int cpu = sched_getcpu();
    if (cpu >= 0 && (uint32_t)cpu + 1 != waker) {
        um_backoff_resume(&fe_spin_backoff);
    } else if (fe_spin_missed) {
        um_backoff_skip(&fe_spin_backoff);
    }
    fe_spin_missed = false;
}

/* ---- deadlines -------------------------------------------------------------------------------- */

static struct timespec deadline_after(mach_msg_timeout_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static bool deadline_passed(const struct timespec *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > d->tv_sec || (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

/*
 * Prefetch what this thread's last calls hinted (um_hint.h): memory the thread that woke us
 * wrote last, which our next call will most likely touch again (in a round trip: the peer's
 * receive state and buffer, the ports, the space, the ledger). Issued when a wait ends, so
 * that the lines arrive while we return and the caller prepares its next message, instead of
 * one miss after the other under the lock in that next call; a thread that never waits (one
 * that sends to itself) pays nothing.
 *
 * The hints are made into a plain list of lines before the wait (fe_hint_lines), while the
 * thread has nothing else to do: the end of a wait is on the critical path of a round trip
 * (the woken thread's way back to its caller), so all it does is one prefetch per line.
 */
enum { FE_LINES_MAX = 32 };

typedef struct fe_lines {
    uint32_t n;
    uintptr_t at[FE_LINES_MAX];
} fe_lines;

static _Thread_local fe_lines fe_hinted;

/* Add the hints' lines to the thread's list (as many as fit) and clear them. */
static __attribute__((noinline)) void fe_hint_lines(um_hints *h)
{
    fe_lines *f = &fe_hinted;
    uint32_t n = f->n;
    for (uint32_t i = 0; i < h->nnotes; i++) {
        uintptr_t l = (uintptr_t)h->note[i].p & ~(uintptr_t)(UM_HINT_LINE - 1);
        uintptr_t end = (uintptr_t)h->note[i].p + h->note[i].len;
        for (; l < end && n < FE_LINES_MAX; l += UM_HINT_LINE)
            f->at[n++] = l;
    }
    h->nnotes = 0;
    for (uint32_t i = 0; i < h->n; i++) {
        uintptr_t first = h->at[i] & ~(uintptr_t)(UM_HINT_LINE - 1);
        uintptr_t more = h->at[i] & (UM_HINT_LINE - 1);
        for (uintptr_t l = 0; l <= more && n < FE_LINES_MAX; l++)
            f->at[n++] = first + l * UM_HINT_LINE;
    }
    h->n = 0;
    f->n = n;
}

static inline void fe_prefetch_lines(void)
{
    fe_lines *f = &fe_hinted;
    uint32_t n = f->n;
    for (uint32_t i = 0; i < n; i++)
        __builtin_prefetch((const void *)f->at[i], 1, 3);
    f->n = 0;
}

enum fe_sleep_result { FE_WOKEN, FE_TIMED_OUT, FE_INTERRUPTED, FE_HANDED, FE_FINAL };

/*
 * A sender completed this thread's receive and will write its bytes and post the word with
 * FE_WORD_FINAL (um_embedded_final_run) right after it releases the world lock: wait for
 * that post, however long, since the receive can no longer be given up (its state and its
 * buffer are being written). The final post's mark says the wait is over: the sender touches
 * the word no more after it. The result `mr` alone does not: it is stored before the post,
 * and a thread that returned on it could arm the word for its next wait before that post
 * lands there (a wrong result, a waiter left queued). A post meant for an earlier wait may
 * come before the final post (we clear it and wait on) or after it (it leaves the mark in
 * place: um_pending_run). Conditions: world unlocked.
 */
static __attribute__((noinline, cold)) void fe_await_final(fe_word *fw)
{
    for (;;) {
        /* Acquire: the final post carries the result and the bytes with it. */
        uint32_t v = __atomic_load_n(&fw->word, __ATOMIC_ACQUIRE);
        if (fe_word_final(v))
            return;
        if (fe_word_woken(v)) {
            (void)__atomic_compare_exchange_n(&fw->word, &v, FE_WORD_WAITING, false,
                                              __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE);
            continue;
        }
        if (v == FE_WORD_WAITING) {
            for (unsigned k = 0;
                 k < 1024 && __atomic_load_n(&fw->word, __ATOMIC_RELAXED) == FE_WORD_WAITING; k++)
                um_cpu_pause();
            if (!__atomic_compare_exchange_n(&fw->word, &v, FE_WORD_ASLEEP, false,
                                             __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                continue;
        }
        (void)syscall(SYS_futex, &fw->word, FUTEX_WAIT_PRIVATE, FE_WORD_ASLEEP, NULL, NULL, 0);
    }
}

/*
 * Sleep until `w` is woken, the deadline passes, or (when `interruptible`) a signal handler
 * runs (MACH_SEND_INTERRUPT / MACH_RCV_INTERRUPT; without them the wait goes on, as
 * libsystem's mach_msg retries). Conditions: world locked; released while sleeping. For a
 * receive (`handed` non-NULL) that a sender completed, still released: FE_FINAL when the
 * sender wrote the bytes (the result is the word's `mr`), FE_HANDED when the receiver writes
 * them itself (um_msg_rcv_state.out, .handed_mr). Out of line: inlined into um_embedded_msg
 * it costs a call that never waits a few instructions (callgrind), for registers.
 */
static __attribute__((noinline)) enum fe_sleep_result
fe_sleep(um_waiter *w, const struct timespec *deadline, bool interruptible, const bool *handed)
{
    fe_word *fw = w->fe;
    int err = 0;
    while (!w->woken) {
        um_embedded_leave();
        if (um_thread_hints.n | um_thread_hints.nnotes)
            fe_hint_lines(&um_thread_hints);
        err = 0;
        sig_atomic_t mark = um_suspend_runs;
        if (interruptible || !fe_spin(fw, deadline)) {
            uint32_t seen = FE_WORD_WAITING;
            if (__atomic_compare_exchange_n(&fw->word, &seen, FE_WORD_ASLEEP, false,
                                            __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ||
                seen == FE_WORD_ASLEEP) {
                long rc = syscall(SYS_futex, &fw->word, FUTEX_WAIT_BITSET_PRIVATE,
                                  FE_WORD_ASLEEP, deadline, NULL, FUTEX_BITSET_MATCH_ANY);
                err = rc < 0 ? errno : 0;
                if (err == EINTR)
                    um_suspend_signal_point();
            }
            fe_spin_learn(__atomic_load_n(&fw->word, __ATOMIC_RELAXED));
        }
        if (fe_hinted.n)
            fe_prefetch_lines();
        if (handed) {
            /* The usual end: one line, the word and the result, read after the post. */
            if (fe_word_final(__atomic_load_n(&fw->word, __ATOMIC_ACQUIRE)))
                return FE_FINAL;
            if (__atomic_load_n(handed, __ATOMIC_ACQUIRE)) {
                if (__atomic_load_n(&fw->mr, __ATOMIC_RELAXED) == FE_MR_SELF)
                    return FE_HANDED;
                fe_await_final(fw);
                return FE_FINAL;
            }
        }
        um_embedded_relock();
        if (w->woken) {
            /* Completed by a sender that writes the bytes itself once it released the lock. */
            if (handed && *handed && __atomic_load_n(&fw->mr, __ATOMIC_RELAXED) != FE_MR_SELF) {
                um_embedded_leave();
                fe_await_final(fw);
                return FE_FINAL;
            }
            break;
        }
        /*
         * Not woken: a late store meant for an earlier wait, a spurious wake-up, a timeout or
         * a signal. Clear the word (a wake for this wait comes under the lock, so after this).
         */
        __atomic_store_n(&fw->word, FE_WORD_WAITING, __ATOMIC_RELAXED);
        if (err == ETIMEDOUT || (deadline && deadline_passed(deadline)))
            return FE_TIMED_OUT;
        /* A suspension's signal ends no wait (XNU's does not abort it). */
        if (err == EINTR && interruptible && !um_suspend_interrupted_only(mark))
            return FE_INTERRUPTED;
    }
    return FE_WOKEN;
}

/*
 * The thread's word serves one of its mach_msg waits, from its first arming to the end of
 * that call (fe_disarm). A signal handler's mach_msg that must wait meanwhile (its thread's
 * wait interrupted) waits on a spare word of its own: on the thread's word it would clear
 * the interrupted wait's posts and result, and could take that wait's final post for its
 * own (returning a result that was not its, its waiter left queued). Thread-local, set and
 * read by the thread alone.
 */
static _Thread_local bool fe_mine_busy;

/*
 * A spare word for a nested call, from the free list or a new page of them: mmap, not
 * malloc, since the call runs in a signal handler. NULL when out of memory. World locked.
 */
static fe_word *fe_spare_get(void)
{
    if (!fe_free_words) {
        long page = sysconf(_SC_PAGESIZE);
        size_t len = page > 0 ? (size_t)page : 4096;
        fe_word *ws = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (ws == MAP_FAILED)
            return NULL;
        for (size_t i = 0; i < len / sizeof *ws; i++) { /* never unmapped, as all words */
            ws[i].next_free = fe_free_words;
            fe_free_words = &ws[i];
        }
    }
    fe_word *fw = fe_free_words;
    fe_free_words = fw->next_free;
    return fw;
}

/*
 * The core queued `w`: give it a word, cleared, and the wake hook; `fw` is the word this
 * call armed before (a wait that goes on after a wake for nothing), or NULL. The lock is
 * still held, so nothing can have woken it yet. NULL only when out of memory.
 */
static fe_word *fe_arm(um_waiter *w, fe_word *fw)
{
    if (!fw) {
        if (!fe_mine_busy) {
            fw = fe_word_get();
            fe_mine_busy = fw != NULL;
        } else {
            fw = fe_spare_get(); /* a nested call's (see fe_mine_busy) */
        }
        if (!fw)
            return NULL;
    }
    __atomic_store_n(&fw->word, FE_WORD_WAITING, __ATOMIC_RELAXED);
    fw->mr = FE_MR_PENDING;
    w->fe = fw;
    w->wake = fe_wake;
    return fw;
}

/*
 * The call that armed `fw` waits no more: the thread's own word is free for its next call, a
 * spare goes back to the list (posts still to come for it are harmless spurious wake-ups to
 * whoever takes it next). Conditions: world locked when `locked`, else unlocked.
 */
static __attribute__((noinline)) void fe_disarm(fe_word *fw, bool locked)
{
    if (fw == fe_mine) {
        fe_mine_busy = false;
        return;
    }
    if (!locked)
        um_embedded_enter();
    fw->next_free = fe_free_words;
    fe_free_words = fw;
    if (!locked)
        um_embedded_leave();
}

uint32_t *um_embedded_wait_word(void)
{
    /*
     * A mach_msg wait of this thread is armed on its own word (a signal handler waits inside
     * that call): a spare, as for a nested mach_msg, so that clearing the word here cannot
     * wipe that call's posts (its final post's mark, which its receive waits for).
     */
    fe_word *fw = fe_mine_busy ? fe_spare_get() : fe_word_get();
    if (!fw)
        return NULL;
    __atomic_store_n(&fw->word, 0, __ATOMIC_RELAXED);
    return &fw->word;
}

void um_embedded_wait_word_done(uint32_t *word)
{
    fe_disarm((fe_word *)(void *)word, true); /* the word is the first member */
}

/* Write what a receive or pseudo-receive left for the task's buffer at `addr`, then free it. */
UM_HOT_STATIC bool fe_write_out(um_task *task, uint64_t addr, um_msg_out *out)
{
    bool ok = true;
    for (uint32_t i = 0; i < out->nseg && ok; i++)
        ok = task->mem->msg_write(task, addr + out->seg[i].offset, out->seg[i].bytes, out->seg[i].len);
    um_msg_out_release(out);
    return ok;
}

/* A receive that a sender completed (um_waiter.final), from its waiter. */
static inline um_msg_rcv_state *fe_final_state(um_waiter *w)
{
    return (um_msg_rcv_state *)((char *)w - offsetof(um_msg_rcv_state, waiter));
}

/*
 * Its bytes travel in its word's line (see fe_final_post). When they are a kmsg's image they
 * are copied as FE_WORD_BYTES whatever their length (a fixed copy is a few moves, a variable
 * one a loop): a kmsg's storage holds the largest trailer after the header, longer than that.
 */
_Static_assert(UM_KMSG_STORAGE(0) >= FE_WORD_BYTES, "an image is FE_WORD_BYTES long at least");
static inline bool fe_final_small(const um_msg_rcv_state *r)
{
    return r->out.nseg == 1 && r->out.seg[0].offset == 0 && r->out.seg[0].len <= FE_WORD_BYTES;
}

/*
 * Finish a completed receive: its bytes to its word's line or its buffer, its result, the
 * post. true: its waiter sleeps in the kernel and wants a futex wake. Conditions: world
 * unlocked, or locked when it has no bytes for the buffer (nothing here can fault then).
 */
static bool fe_final_post(um_msg_rcv_state *r, fe_word *fw, uint32_t posted)
{
    mach_msg_return_t mr = r->handed_mr;
    if (fe_final_small(r)) {
        /*
         * Small: the bytes go with the post, in the word's line, which the receiver reads
         * anyway; it writes them to its buffer itself. Written here, that buffer's lines
         * (where the receiver wrote its last message) would cross to this CPU and back.
         * The message they were copied from is freed after the post: the receiver waits for
         * nothing else. Its state (its stack) may be gone then, so the kmsg is taken first.
         */
        if (r->out.image) /* a fixed copy (see fe_final_small); `len` of its bytes count */
            memcpy(fw->msg.bytes, r->out.seg[0].bytes, FE_WORD_BYTES);
        else
            memcpy(fw->msg.bytes, r->out.seg[0].bytes, r->out.seg[0].len);
        fw->msg.len = r->out.seg[0].len;
        um_msg_out after;
        after.image = r->out.image;
        r->out.image = NULL;
        r->out.nseg = 0;
        __atomic_store_n(&fw->mr, mr, __ATOMIC_RELEASE);
        bool asleep = __atomic_exchange_n(&fw->word, posted | FE_WORD_FINAL, __ATOMIC_SEQ_CST) ==
                      FE_WORD_ASLEEP;
        if (after.image)
            um_msg_out_free_image(&after);
        return asleep;
    } else {
        fw->msg.len = 0;
        if (r->out.nseg) {
            /* The buffer's first lines: the next message for that thread goes there too. */
            uint32_t end = r->out.seg[r->out.nseg - 1].offset + r->out.seg[r->out.nseg - 1].len;
            um_hint((const void *)(uintptr_t)r->rcv_addr, end < 256 ? end : 256);
            /* As XNU: a buffer the message cannot be written to loses the message. */
            if (!fe_write_out(r->task, r->rcv_addr, &r->out))
                mr = MACH_RCV_INVALID_DATA;
        }
    }
    __atomic_store_n(&fw->mr, mr, __ATOMIC_RELEASE); /* what fe_await_final looks at */
    /* From here on the receiver may return: its state and buffer are no longer touched. */
    return __atomic_exchange_n(&fw->word, posted | FE_WORD_FINAL, __ATOMIC_SEQ_CST) ==
           FE_WORD_ASLEEP;
}

void um_embedded_final_run(um_waiter *w, uint32_t posted)
{
    fe_word *fw = w->fe;
    if (fe_final_post(fe_final_state(w), fw, posted))
        (void)syscall(SYS_futex, &fw->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

bool um_embedded_final_locked(um_waiter *w, uint32_t posted, uint32_t **sleeper)
{
    um_msg_rcv_state *r = fe_final_state(w);
    if (r->out.nseg != 0 && !fe_final_small(r))
        return false;
    fe_word *fw = w->fe;
    *sleeper = fe_final_post(r, fw, posted) ? &fw->word : NULL;
    return true;
}

/* ---- mach_msg ---------------------------------------------------------------------------------- */

mach_msg_return_t um_embedded_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                                  mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                  mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                  mach_msg_header_t *rcv_msg)
{
    /* mach_msg's scope (um_export.h), here rather than in mach_msg, which then jumps here. */
    UM_CALL_SCOPE;
    um_task *task;
    mach_msg_return_t mr = MACH_MSG_SUCCESS;
    um_kmsg *k = NULL;
    if (option & MACH_SEND_MSG) {
        if (!msg)
            return MACH_SEND_INVALID_DATA;
        /* Copying and checking the message needs no lock. */
        task = um_embedded_task();
        mr = um_kmsg_prepare(task, (uint64_t)(uintptr_t)msg, send_size, &k);
        if (mr != MACH_MSG_SUCCESS)
            return mr;
    }
    task = um_embedded_enter();
    /*
     * Set only by this call's send from here: a completed receive deferred by an earlier call
     * (a send-only reply, a kernel call) was finished when that call released the lock.
     */
    fe_final_deferred = false;
    if (option & MACH_SEND_MSG) {
        um_msg_send_state s; /* the core sets up its waiter; only inputs and `out` here */
        s.copied_in = false;
        s.out.nseg = 0;
        s.out.image = NULL;
        s.kmsg = k;
        s.option = option;
        s.msg_addr = (uint64_t)(uintptr_t)msg;
        bool timed = (option & MACH_SEND_TIMEOUT) != 0;
        s.may_block = true; /* decided only when timed: one store in the common case */
        s.kernel_reply = false;
        struct timespec deadline;
        if (timed) {
            s.may_block = timeout != 0;
            deadline = deadline_after(timeout);
        }
        mr = um_msg_send(task, &s);
        fe_word *fw = NULL;
        while (mr == MACH_SEND_IN_PROGRESS) {
            if (!(fw = fe_arm(&s.waiter, fw))) {
                mr = um_msg_send_cancel(task, &s, MACH_SEND_NO_BUFFER);
                break;
            }
            switch (fe_sleep(&s.waiter, timed ? &deadline : NULL,
                             (option & MACH_SEND_INTERRUPT) != 0, NULL)) {
            case FE_TIMED_OUT:
                mr = um_msg_send_cancel(task, &s, MACH_SEND_TIMED_OUT);
                break;
            case FE_INTERRUPTED:
                mr = um_msg_send_cancel(task, &s, MACH_SEND_INTERRUPTED);
                break;
            default:
                mr = um_msg_send(task, &s);
                break;
            }
        }
        if (fw)
            fe_disarm(fw, true);
        if (mr != MACH_MSG_SUCCESS) {
            um_embedded_leave();
            if (s.out.nseg && !fe_write_out(task, s.msg_addr, &s.out))
                return MACH_RCV_INVALID_DATA; /* XNU: the message cannot be handed back */
            return mr;
        }
    }
    if (option & MACH_RCV_MSG) {
        /*
         * A receive this send completed (a handoff) is finished now, before this call's own
         * receive: in a round trip the peer returns while we do ours. A small message goes
         * into the receiver's word's line and is posted in this same lock hold (nothing can
         * fault: no buffer is written); a larger one is written to the receiver's buffer and
         * posted with the lock released, which is then taken again, and so is a receiver
         * asleep in the kernel woken (same-CPU round trips: 4.3 us instead of 4.0 when its
         * futex wake waited for our own receive's release).
         */
        if (fe_final_deferred) {
            fe_final_deferred = false;
            if (!um_embedded_finals_now()) {
                um_embedded_leave(); /* writes and posts it */
                um_embedded_relock();
            }
        }
        mach_msg_header_t *buf = rcv_msg ? rcv_msg : msg;
        if (!buf) {
            um_embedded_leave();
            return MACH_RCV_INVALID_DATA;
        }
        um_msg_rcv_state r;
        r.started = false;
        r.out.nseg = 0;
        r.out.image = NULL;
        r.option = option;
        r.rcv_size = rcv_size;
        r.rcv_name = rcv_name;
        r.rcv_addr = (uint64_t)(uintptr_t)buf;
        bool timed = (option & MACH_RCV_TIMEOUT) != 0;
        r.may_block = true; /* as the send's */
        struct timespec deadline;
        if (timed) {
            r.may_block = timeout != 0;
            deadline = deadline_after(timeout);
        }
        bool locked = true;
        mr = um_msg_receive(task, &r);
        fe_word *fw = NULL;
        while (mr == MACH_RCV_IN_PROGRESS) {
            if (!(fw = fe_arm(&r.waiter, fw))) {
                um_msg_receive_cancel(&r);
                mr = MACH_RCV_TIMED_OUT; /* no memory for a wait word: cannot wait */
                break;
            }
            switch (fe_sleep(&r.waiter, timed ? &deadline : NULL,
                             (option & MACH_RCV_INTERRUPT) != 0, &r.handed)) {
            case FE_FINAL:
                /*
                 * A sender received for us and wrote our buffer, or left a small message in
                 * our word's line for us to write; the lock is not held. The result is beside
                 * our word, not in `r`, whose lines the sender wrote last.
                 */
                mr = __atomic_load_n(&fw->mr, __ATOMIC_RELAXED);
                /* As XNU: a buffer the message cannot be written to loses the message. */
                if (fw->msg.len && !task->mem->msg_write(task, (uint64_t)(uintptr_t)buf,
                                                         fw->msg.bytes, fw->msg.len))
                    mr = MACH_RCV_INVALID_DATA;
                fe_disarm(fw, false);
                return mr;
            case FE_HANDED:
                mr = r.handed_mr; /* a sender received for us; the lock is not held */
                locked = false;
                break;
            case FE_TIMED_OUT:
                um_msg_receive_cancel(&r);
                mr = MACH_RCV_TIMED_OUT;
                break;
            case FE_INTERRUPTED:
                um_msg_receive_cancel(&r);
                mr = MACH_RCV_INTERRUPTED;
                break;
            default:
                mr = um_msg_receive(task, &r);
                break;
            }
        }
        if (fw)
            fe_disarm(fw, locked);
        if (locked)
            um_embedded_leave();
        /* As XNU: a buffer the message cannot be written to loses the message. */
        if (r.out.nseg && !fe_write_out(task, r.rcv_addr, &r.out))
            return MACH_RCV_INVALID_DATA;
        return mr;
    }
    um_embedded_leave();
    return mr;
}
