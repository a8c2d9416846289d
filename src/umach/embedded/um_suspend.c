/*
 * um_suspend.c — thread_suspend, thread_resume and thread_get_state on the threads of this
 * process, with XNU's suspend count: thread_suspend adds one and returns once the thread is
 * stopped (at once when the thread suspends itself: it stops there until another thread
 * resumes it), thread_resume takes one away (KERN_FAILURE at 0), and the thread runs again
 * when the count is back to 0. thread_get_state reads the registers where a suspended thread
 * stopped; a running thread is held for the read and let go again, as XNU's thread_get_state
 * holds and stops it, so the answer is a snapshot; the calling thread gets its registers inside
 * the call.
 *
 * How a thread is stopped on Linux: a real-time signal umach reserves (SIGRTMIN+6 unless that
 * one has a handler already, then the next free one; UMACH_SUSPEND_SIGNAL=N or =SIGRTMIN+K
 * chooses), sent to the thread with tgkill. Its handler, async-signal-safe, finds the thread's
 * record (a list of records never freed, walked without a lock), copies the interrupted
 * context's registers into it, marks it stopped (a futex word thread_suspend waits on) and
 * waits on the count's futex word until the count is 0. Every signal but the synchronous
 * faults is blocked meanwhile: a suspended thread runs none of the program's handlers, as on
 * Darwin. errno is kept.
 *
 * The deadlock rule: a thread that holds a lock of umach's (embedded mode's world lock, a
 * world's connection lock, the thread-port notes, these records) is not stopped inside it, or
 * the suspender's own next call (thread_get_state, thread_resume) would wait for it forever.
 * The handler then only marks the stop as owed (um_suspend_owed) and returns; the thread
 * releasing the lock sees the mark and sends itself the signal again, and stops then.
 * thread_suspend waits until it has.
 *
 * thread_set_state puts a new state in place when the thread leaves umach: a thread stopped
 * in the program's own code gets it when its handler returns (the signal's context is
 * rewritten); one stopped inside a call of umach's (UM_CALL_SCOPE: a mach_msg wait, the
 * release path of a lock) or waiting for a fault's exception answer gets it when that ends,
 * as XNU's thread_set_state changes the registers the thread returns to user mode with. The
 * state waits in the thread's record meanwhile (thread_get_state reads it there).
 *
 * The signal interrupts the thread's system calls: umach's own waits (mach_msg, semaphores,
 * mach_wait_until) tell its EINTR from another signal's by um_suspend_runs and go on waiting,
 * so that a suspension never ends a wait with MACH_RCV_INTERRUPTED or KERN_ABORTED. The
 * handler is installed with SA_RESTART, so most of the program's own calls restart.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "um_suspend.h"

#include "../client/um_client.h"
#include "../dispatch/um_forward.h"
#include "../um_export.h"
#include "um_embedded.h"
#include "um_exc.h"

#include <mach/mach.h>
#include <mach/thread_act.h>
#include <mach/thread_status.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define SU_FLAVOR x86_THREAD_STATE64
#define SU_COUNT x86_THREAD_STATE64_COUNT
typedef x86_thread_state64_t su_state;
#elif defined(__aarch64__)
#define SU_FLAVOR ARM_THREAD_STATE64
#define SU_COUNT ARM_THREAD_STATE64_COUNT
typedef arm_thread_state64_t su_state;
#else
#error "um_suspend.c: thread states of x86_64 and aarch64 only"
#endif

_Thread_local um_thread_marks um_marks;
_Thread_local um_call_marks um_call_in;
_Thread_local volatile sig_atomic_t um_suspend_runs;
/* How many of umach's locks this thread holds that the handler must not stop it in. */
static _Thread_local volatile sig_atomic_t su_held;

/*
 * One thread's suspension. Records are made for a thread at its first suspension and kept
 * (made from mmap'd pages, never from malloc: a thread stopped inside malloc must not stop its
 * suspender's next call); a record whose thread has ended is taken for another.
 */
typedef struct su_rec {
    struct su_rec *next; /* set before the record is published, never changed */
    pid_t tid;           /* 0: free. su_lock; read by handlers */
    uint32_t count;      /* the suspend count, user's and holds (su_lock) */
    uint32_t user;       /* thread_suspend's part of count (su_lock) */
    uint32_t stopped;    /* futex word: released + 1 once the thread waits in the handler for
                            the holds taken since `released` last moved (see su_stop) */
    uint32_t released;   /* futex word the stopped thread waits on: moved when count hits 0 */
    uint32_t inside;     /* the thread runs the handler (the signal is blocked meanwhile) */
    uint32_t pending;    /* thread_set_state's `pending_state` waits for the thread: written
                            while the thread is stopped (or by itself), taken by the thread */
    su_state state;      /* the registers where it stopped (written before stopped) */
    su_state pending_state;
} su_rec;

static pthread_mutex_t su_lock = PTHREAD_MUTEX_INITIALIZER;
static su_rec *su_records;  /* published with release; su_lock for writers */
static su_rec *su_spare;    /* mmap'd records not yet in the list (su_lock) */
static size_t su_nspare;
static int su_sig;          /* the signal: 0 until chosen, -1 if none was free */
static pthread_once_t su_once = PTHREAD_ONCE_INIT;

static bool su_send(pid_t tid, pid_t self);

static long su_futex(uint32_t *word, int op, uint32_t val, const struct timespec *rel)
{
    return syscall(SYS_futex, word, op, val, rel, NULL, 0);
}

static pid_t su_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

void um_suspend_hold(void)
{
    su_held++;
}

void um_suspend_unhold(void)
{
    su_held--;
    if (su_held == 0 && um_suspend_owed)
        um_suspend_stop_owed();
}

static void su_lock_take(void)
{
    um_suspend_hold();
    pthread_mutex_lock(&su_lock);
}

static void su_lock_give(void)
{
    pthread_mutex_unlock(&su_lock);
    um_suspend_unhold();
}

/* The record of thread `tid`, or NULL. Lock-free (the handler's). */
static su_rec *su_find(pid_t tid)
{
    for (su_rec *r = __atomic_load_n(&su_records, __ATOMIC_ACQUIRE); r; r = r->next)
        if (__atomic_load_n(&r->tid, __ATOMIC_ACQUIRE) == tid)
            return r;
    return NULL;
}

/* Has thread `tid` of this process ended? */
static bool su_gone(pid_t tid)
{
    return syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH;
}

/* The record of thread `tid`, made if it has none: NULL when out of memory. su_lock held. */
static su_rec *su_find_or_make(pid_t tid)
{
    su_rec *r = su_find(tid);
    if (r)
        return r;
    for (r = su_records; r; r = r->next) {
        /* A record whose thread has ended runs no handler: it can be another thread's. */
        if (__atomic_load_n(&r->count, __ATOMIC_RELAXED) == 0 &&
            (r->tid == 0 || su_gone(r->tid))) {
            r->user = 0;
            r->pending = 0; /* a state its ended thread never ran is not the new thread's */
            r->stopped = r->released; /* says stopped for no generation */
            __atomic_store_n(&r->tid, tid, __ATOMIC_RELEASE);
            return r;
        }
    }
    if (su_nspare == 0) {
        long ps = sysconf(_SC_PAGESIZE);
        size_t size = ps > 0 ? (size_t)ps : 4096;
        if (size < 4 * sizeof(su_rec))
            size = 4 * sizeof(su_rec);
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        su_spare = p;
        su_nspare = size / sizeof(su_rec);
    }
    r = su_spare++;
    su_nspare--;
    memset(r, 0, sizeof *r);
    r->tid = tid;
    r->next = su_records;
    __atomic_store_n(&su_records, r, __ATOMIC_RELEASE);
    return r;
}

/* su_find_or_make under su_lock. */
static su_rec *su_record_of(pid_t tid)
{
    su_lock_take();
    su_rec *r = su_find_or_make(tid);
    su_lock_give();
    return r;
}

/*
 * Wait in the handler while the count is not 0. The wait is on `released`, which only grows:
 * a resume and a new suspend between two looks at the count still wake it, and it says again
 * that it is stopped (a wait on the count itself would sleep through them, 1 then 1).
 *
 * "Stopped" names the generation it is for: `stopped` = `released` + 1, `released` being the
 * value it had while the count was not 0 (it only moves when the count falls to 0). A holder
 * waits for its own generation's mark (su_wait_stopped), so neither a mark left from an
 * earlier generation (a thread that marked itself just as it was resumed, then returned) nor
 * a clearing of the mark by the next hold (which raced the thread's marking and left a
 * stopped thread unmarked: a suspender waiting forever) can mislead it.
 */
static void su_stop(su_rec *r)
{
    for (;;) {
        uint32_t seen = __atomic_load_n(&r->released, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&r->count, __ATOMIC_ACQUIRE) == 0)
            return;
        if (__atomic_load_n(&r->stopped, __ATOMIC_ACQUIRE) != seen + 1) {
            __atomic_store_n(&r->stopped, seen + 1, __ATOMIC_RELEASE);
            (void)su_futex(&r->stopped, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
        }
        (void)su_futex(&r->released, FUTEX_WAIT_PRIVATE, seen, NULL);
    }
}

/*
 * A new state set for this thread (r->pending) goes into the context `uc` the handler returns
 * to, unless the thread is inside one of umach's calls or waits for a fault's answer: then it
 * waits for them to end (um_call_state_apply, um_suspend_state_into). Async-signal-safe: the
 * setters write while the thread is stopped, which it no longer is here.
 */
/* The waiting state of record `r` (this thread's), if any, into the context `uc`. */
static void su_put_pending(su_rec *r, void *uc)
{
    if (r && __atomic_load_n(&r->pending, __ATOMIC_ACQUIRE)) {
        um_exc_state_to_context(&r->pending_state, uc);
        __atomic_store_n(&r->pending, 0, __ATOMIC_RELEASE);
    }
    um_call_in.state_owed = 0;
}

static void su_take_pending(su_rec *r, void *uc)
{
    if (!__atomic_load_n(&r->pending, __ATOMIC_ACQUIRE))
        return;
    if (um_call_in.depth > 0 || um_exc_fault_context)
        um_call_in.state_owed = 1;
    else
        su_put_pending(r, uc);
}

static void su_handler(int sig, siginfo_t *info, void *uc)
{
    (void)sig;
    (void)info;
    int saved_errno = errno;
    um_suspend_runs++;
    su_rec *r = su_find(su_gettid());
    if (r)
        __atomic_store_n(&r->inside, 1, __ATOMIC_RELAXED);
    if (su_held || (um_client_active() ? um_client_lock_mine() : um_embedded_lock_mine())) {
        um_suspend_owed = 1; /* stopped when the lock is released */
    } else {
        um_suspend_owed = 0;
        if (r) {
            /* Waiting for a fault's exception to be answered: the fault's registers. */
            const void *fault = um_exc_fault_context;
            um_exc_state_of_context(fault ? fault : uc, &r->state);
            if (fault)
                __atomic_fetch_add(&um_exc_fault_context_reads, 1, __ATOMIC_RELEASE);
            su_stop(r);
            su_take_pending(r, uc);
        }
    }
    if (r)
        __atomic_store_n(&r->inside, 0, __ATOMIC_RELAXED);
    errno = saved_errno;
}

void um_call_state_apply(void)
{
    /* The handler runs with no call left: the state goes into the context of this return. */
    int saved_errno = errno;
    if (__atomic_load_n(&su_sig, __ATOMIC_ACQUIRE) > 0)
        (void)su_send(su_gettid(), su_gettid());
    um_suspend_signal_point();
    errno = saved_errno;
}

void um_suspend_state_into(void *uc)
{
    if (um_call_in.state_owed && um_call_in.depth == 0)
        su_put_pending(su_find(su_gettid()), uc);
}

void um_suspend_stop_owed(void)
{
    int saved_errno = errno;
    um_suspend_owed = 0;
    if (su_sig > 0)
        (void)syscall(SYS_tgkill, getpid(), su_gettid(), su_sig);
    um_suspend_signal_point();
    errno = saved_errno;
}

/* UMACH_SUSPEND_SIGNAL: a number, or SIGRTMIN+K / RTMIN+K; 0 when unset or not a real-time
 * signal. */
static int su_signal_asked(void)
{
    const char *e = getenv("UMACH_SUSPEND_SIGNAL");
    if (!e || !*e)
        return 0;
    long v;
    char *end;
    if (strncmp(e, "SIG", 3) == 0)
        e += 3;
    if (strncmp(e, "RTMIN", 5) == 0) {
        v = SIGRTMIN;
        if (e[5] == '+')
            v += strtol(e + 6, &end, 10);
        else
            end = (char *)e + 5;
    } else {
        v = strtol(e, &end, 10);
    }
    if (*end != '\0' || v < SIGRTMIN || v > SIGRTMAX) {
        fprintf(stderr, "umach: UMACH_SUSPEND_SIGNAL=%s is no real-time signal (SIGRTMIN %d to "
                        "SIGRTMAX %d): using the default\n",
                getenv("UMACH_SUSPEND_SIGNAL"), SIGRTMIN, SIGRTMAX);
        return 0;
    }
    return (int)v;
}

/* A forked child has only the forking thread, which was not suspended: no record holds. */
static void su_atfork_child(void)
{
    pthread_mutex_init(&su_lock, NULL);
    for (su_rec *r = su_records; r; r = r->next) {
        r->tid = 0;
        r->count = 0;
        r->user = 0;
        r->stopped = 0;
        r->released = 0;
        r->inside = 0;
        r->pending = 0;
    }
    um_suspend_owed = 0;
    um_call_in.state_owed = 0;
    su_held = 0;
}

/* Registered at load, while the process has one thread: a fork can never come before it, nor
 * while the first thread_suspend installs the signal. */
__attribute__((constructor)) static void su_register_atfork(void)
{
    (void)pthread_atfork(NULL, NULL, su_atfork_child);
}

static void su_install(void)
{
    int sig = su_signal_asked();
    struct sigaction old;
    if (!sig) {
        /* As a garbage collector chooses: the first real-time signal from SIGRTMIN+6 that
         * nobody handles yet (glibc keeps its own below SIGRTMIN). */
        for (int s = SIGRTMIN + 6; s <= SIGRTMAX && !sig; s++)
            if (sigaction(s, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
                old.sa_handler == SIG_DFL)
                sig = s;
    }
    if (!sig) {
        su_sig = -1;
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = su_handler;
#ifdef UM_SUSPEND_TSAN
    sa.sa_flags = SA_SIGINFO; /* see um_suspend_signal_point */
#else
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
#endif
    /* Stopped, the thread takes no other signal; its own faults stay deliverable. */
    sigfillset(&sa.sa_mask);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&sa.sa_mask, faults[i]);
    if (sigaction(sig, &sa, NULL) != 0) {
        su_sig = -1;
        return;
    }
    __atomic_store_n(&su_sig, sig, __ATOMIC_RELEASE);
}

int um_suspend_signal(void)
{
    (void)pthread_once(&su_once, su_install);
    return su_sig;
}

/* Send the signal to `tid`; to the calling thread with the signal unblocked meanwhile, so that
 * it is taken before this returns. false: the thread has ended. */
static bool su_send(pid_t tid, pid_t self)
{
    if (tid != self)
        return syscall(SYS_tgkill, getpid(), tid, su_sig) == 0;
    sigset_t one, old;
    sigemptyset(&one);
    sigaddset(&one, su_sig);
    (void)pthread_sigmask(SIG_UNBLOCK, &one, &old);
    bool sent = syscall(SYS_tgkill, getpid(), tid, su_sig) == 0;
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    return sent;
}

/* Does thread `tid` block the signal (/proc's SigBlk)? The file is read to its end in pieces:
 * the lines before SigBlk (Groups: one number per supplementary group) have no bound. */
static bool su_blocked(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    static const char key[] = "SigBlk:";
    char line[64];     /* the start of the current line (SigBlk's is short) */
    size_t used = 0;   /* its bytes kept in `line` */
    bool found = false;
    unsigned long long mask = 0;
    ssize_t n;
    while (!found && (n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (ssize_t i = 0; i < n && !found; i++) {
            if (buf[i] != '\n') {
                if (used < sizeof line - 1)
                    line[used++] = buf[i];
                continue;
            }
            line[used] = '\0';
            if (strncmp(line, key, sizeof key - 1) == 0) {
                mask = strtoull(line + sizeof key - 1, NULL, 16);
                found = true;
            }
            used = 0;
        }
    }
    close(fd);
    return found && su_sig <= 64 && ((mask >> (su_sig - 1)) & 1);
}

/* One more hold on thread `tid` (`user`: thread_suspend's): the signal is sent on the first.
 * KERN_SUCCESS, KERN_TERMINATED (it has ended), KERN_RESOURCE_SHORTAGE. */
static kern_return_t su_hold(pid_t tid, pid_t self, bool user, su_rec **out)
{
    su_lock_take();
    su_rec *r = su_find_or_make(tid);
    if (!r) {
        su_lock_give();
        return KERN_RESOURCE_SHORTAGE;
    }
    bool first = __atomic_fetch_add(&r->count, 1, __ATOMIC_ACQ_REL) == 0;
    if (user)
        r->user++;
    su_lock_give();
    *out = r;
    if (first && !su_send(tid, self))
        return KERN_TERMINATED; /* the caller takes the hold back */
    return KERN_SUCCESS;
}

/* Take a hold back; the thread runs again when none is left. */
static void su_release(su_rec *r, bool user)
{
    su_lock_take();
    if (user)
        r->user--;
    bool last = __atomic_sub_fetch(&r->count, 1, __ATOMIC_ACQ_REL) == 0;
    if (last)
        __atomic_add_fetch(&r->released, 1, __ATOMIC_RELEASE);
    su_lock_give();
    if (last)
        (void)su_futex(&r->released, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
}

/*
 * Wait until thread `tid` has stopped (or its count is back to 0: another thread resumed it
 * meanwhile). KERN_TERMINATED: it ended first; KERN_FAILURE: it blocks the signal.
 */
static kern_return_t su_wait_stopped(su_rec *r, pid_t tid)
{
    unsigned blocked = 0; /* looks in a row that found the signal blocked outside the handler */
    /* This generation's mark (su_stop): `released` does not move while we hold a count. */
    uint32_t want = __atomic_load_n(&r->released, __ATOMIC_ACQUIRE) + 1;
    for (;;) {
        uint32_t v = __atomic_load_n(&r->stopped, __ATOMIC_ACQUIRE);
        if (v == want || __atomic_load_n(&r->count, __ATOMIC_ACQUIRE) == 0)
            return KERN_SUCCESS;
        struct timespec rel = {0, 20 * 1000 * 1000};
        (void)su_futex(&r->stopped, FUTEX_WAIT_PRIVATE, v, &rel);
        /* Every 20 ms a look at the thread: a thread that ended or that blocks the signal
         * would be waited for forever. Inside the handler the signal is blocked too (the
         * thread may not have run since it was resumed): that is no refusal. */
        if (__atomic_load_n(&r->stopped, __ATOMIC_ACQUIRE) == want)
            return KERN_SUCCESS;
        if (su_gone(tid))
            return KERN_TERMINATED;
        if (!__atomic_load_n(&r->inside, __ATOMIC_RELAXED) && su_blocked(tid))
            blocked++;
        else
            blocked = 0;
        if (blocked >= 10)
            return KERN_FAILURE;
    }
}

/*
 * A hold of umach's own on thread `tid` (not thread_suspend's), and the wait until the thread
 * has stopped for it: thread_get_state's and thread_set_state's. KERN_SUCCESS, or
 * su_hold's and su_wait_stopped's codes; the caller takes the hold back with su_release unless
 * the code is KERN_RESOURCE_SHORTAGE (no hold was taken).
 */
static kern_return_t su_hold_stopped(pid_t tid, pid_t self, su_rec **r)
{
    kern_return_t kr = su_hold(tid, self, false, r);
    if (kr == KERN_SUCCESS)
        kr = su_wait_stopped(*r, tid);
    return kr;
}

/*
 * Thread `name` of this process: its Linux id. The codes thread_info gives for a name that is
 * no thread of ours; KERN_NOT_SUPPORTED when no signal could be reserved.
 */
static kern_return_t su_lookup(mach_port_name_t name, pid_t *tid)
{
    kern_return_t kr = um_thread_tid(name, tid);
    if (kr != KERN_SUCCESS)
        return kr;
    if (um_suspend_signal() <= 0)
        return KERN_NOT_SUPPORTED;
    return KERN_SUCCESS;
}

/*
 * thread_suspend's and thread_resume's start: true when the call is answered already (*krp),
 * a name that is an ordinary port by the MIG request `mig` to its receiver; false with the
 * thread's Linux id in *tid.
 */
static bool su_answered(thread_read_t name, mach_msg_id_t mig, pid_t *tid, kern_return_t *krp)
{
    kern_return_t kr = su_lookup(name, tid);
    if (kr == KERN_INVALID_ARGUMENT && um_forward_ordinary(name))
        kr = um_forward_simple(name, mig, NULL, NULL, 0, NULL, 0);
    else if (kr == KERN_SUCCESS)
        return false;
    *krp = kr;
    return true;
}

UM_EXPORT kern_return_t thread_suspend(thread_read_t target_act)
{
    UM_CALL_SCOPE;
    pid_t tid;
    kern_return_t kr;
    if (su_answered(target_act, UM_MIG_THREAD_SUSPEND, &tid, &kr))
        return kr;
    pid_t self = su_gettid();
    su_rec *r;
    kr = su_hold(tid, self, true, &r);
    if (kr == KERN_SUCCESS && tid != self)
        kr = su_wait_stopped(r, tid);
    if (kr != KERN_SUCCESS && kr != KERN_RESOURCE_SHORTAGE)
        su_release(r, true);
    return kr;
}

UM_EXPORT kern_return_t thread_resume(thread_read_t target_act)
{
    UM_CALL_SCOPE;
    pid_t tid;
    kern_return_t kr;
    if (su_answered(target_act, UM_MIG_THREAD_RESUME, &tid, &kr))
        return kr;
    su_lock_take();
    su_rec *r = su_find(tid);
    bool held = r && r->user > 0;
    su_lock_give();
    if (!held)
        return KERN_FAILURE; /* XNU: a thread whose count is 0 */
    su_release(r, true);
    return KERN_SUCCESS;
}

/* thread_basic_info's suspend_count: thread_suspend's part of thread `tid`'s count. */
integer_t um_suspend_count(pid_t tid)
{
    if (__atomic_load_n(&su_sig, __ATOMIC_ACQUIRE) <= 0)
        return 0;
    su_lock_take();
    su_rec *r = su_find(tid);
    integer_t n = r ? (integer_t)r->user : 0;
    su_lock_give();
    return n;
}

/* The answer's count for `flavor`, or 0 for a flavour umach does not read. */
static mach_msg_type_number_t su_flavor_count(thread_state_flavor_t flavor)
{
    switch (flavor) {
    case SU_FLAVOR:
        return SU_COUNT;
#if defined(__x86_64__)
    case x86_THREAD_STATE:
        return x86_THREAD_STATE_COUNT;
#endif
    default:
        return 0;
    }
}

/* Write `s` as `flavor` (su_flavor_count's). */
static void su_state_out(const su_state *s, thread_state_flavor_t flavor, thread_state_t out)
{
#if defined(__x86_64__)
    if (flavor == x86_THREAD_STATE) {
        x86_thread_state_t t;
        memset(&t, 0, sizeof t);
        t.tsh.flavor = x86_THREAD_STATE64;
        t.tsh.count = x86_THREAD_STATE64_COUNT;
        t.uts.ts64 = *s;
        memcpy(out, &t, sizeof t);
        return;
    }
#endif
    (void)flavor;
    memcpy(out, s, sizeof *s);
}

UM_EXPORT kern_return_t thread_get_state(thread_read_t target_act, thread_state_flavor_t flavor,
                                         thread_state_t old_state,
                                         mach_msg_type_number_t *old_stateCnt)
{
    UM_CALL_SCOPE;
    pid_t tid;
    kern_return_t kr = su_lookup(target_act, &tid);
    if (kr == KERN_INVALID_ARGUMENT && um_forward_ordinary(target_act)) {
        const um_fw_in in[] = {UM_FW32(flavor)};
        const um_fw_array array = {old_state, sizeof *old_state, old_stateCnt, UM_FW_ARRAY_MAX};
        return um_forward_array_out(target_act, UM_MIG_THREAD_GET_STATE, in, 1, NULL, NULL, 0,
                                    &array);
    }
    if (kr != KERN_SUCCESS)
        return kr;
    /* XNU's machine_thread_get_state: an unknown flavour or a short count. */
    mach_msg_type_number_t need = su_flavor_count(flavor);
    if (need == 0 || *old_stateCnt < need)
        return KERN_INVALID_ARGUMENT;
    pid_t self = su_gettid();
    su_state s;
    if (tid == self) {
        /* The registers inside this call: the handler copies them, the count being 0. */
        su_rec *r = su_record_of(tid);
        if (!r)
            return KERN_RESOURCE_SHORTAGE;
        if (!su_send(tid, self))
            return KERN_TERMINATED;
        s = r->state;
    } else {
        /* Held and stopped for the read, then let go (or left stopped if suspended). */
        su_rec *r;
        kr = su_hold_stopped(tid, self, &r);
        if (kr == KERN_RESOURCE_SHORTAGE)
            return kr;
        /* A state set and not yet in place is the one the thread will run with. */
        if (kr == KERN_SUCCESS)
            s = __atomic_load_n(&r->pending, __ATOMIC_ACQUIRE) ? r->pending_state : r->state;
        su_release(r, false);
        if (kr != KERN_SUCCESS)
            return kr;
    }
    su_state_out(&s, flavor, old_state);
    *old_stateCnt = need;
    return KERN_SUCCESS;
}

/*
 * XNU's machine_thread_set_state checks: the flavour's exact count (x86_THREAD_STATE's header
 * naming the 64-bit state), a user-space program counter and stack pointer. The state into *s.
 */
static kern_return_t su_state_in(thread_state_flavor_t flavor, const natural_t *in,
                                 mach_msg_type_number_t count, su_state *s)
{
#if defined(__x86_64__)
    if (flavor == x86_THREAD_STATE) {
        x86_thread_state_t t;
        if (count != x86_THREAD_STATE_COUNT)
            return KERN_INVALID_ARGUMENT;
        memcpy(&t, in, sizeof t);
        if (t.tsh.flavor != x86_THREAD_STATE64 || t.tsh.count != x86_THREAD_STATE64_COUNT)
            return KERN_INVALID_ARGUMENT;
        *s = t.uts.ts64;
    } else if (flavor == x86_THREAD_STATE64 && count == x86_THREAD_STATE64_COUNT) {
        memcpy(s, in, sizeof *s);
    } else {
        return KERN_INVALID_ARGUMENT;
    }
    const uint64_t user_end = 0x00007ffffffff000ull; /* Linux's TASK_SIZE on x86_64 */
    if (s->__rip >= user_end || s->__rsp >= user_end)
        return KERN_INVALID_ARGUMENT;
#else
    if (flavor != SU_FLAVOR || count != SU_COUNT)
        return KERN_INVALID_ARGUMENT;
    memcpy(s, in, sizeof *s);
    const uint64_t user_end = 1ull << 48;
    if (s->__pc >= user_end || s->__sp >= user_end)
        return KERN_INVALID_ARGUMENT;
#endif
    return KERN_SUCCESS;
}

/* Leave `s` in record `r` for its thread to put in place (su_take_pending); the thread is
 * stopped by a hold, or is the caller. */
static void su_leave_state(su_rec *r, const su_state *s)
{
    su_lock_take();
    r->pending_state = *s;
    __atomic_store_n(&r->pending, 1, __ATOMIC_RELEASE);
    su_lock_give();
}

UM_EXPORT kern_return_t thread_set_state(thread_act_t target_act, thread_state_flavor_t flavor,
                                         thread_state_t new_state,
                                         mach_msg_type_number_t new_stateCnt)
{
    UM_CALL_SCOPE;
    pid_t tid;
    kern_return_t kr = su_lookup(target_act, &tid);
    if (kr == KERN_INVALID_ARGUMENT && um_forward_ordinary(target_act)) {
        /* The MIG request to the port's receiver, as Darwin's stub sends it. */
        if (new_stateCnt > THREAD_STATE_MAX)
            return MIG_ARRAY_TOO_LARGE;
        um_fw_in *in = malloc((2 + (size_t)new_stateCnt) * sizeof *in);
        if (!in)
            return KERN_RESOURCE_SHORTAGE;
        in[0] = UM_FW32(flavor);
        in[1] = UM_FW32(new_stateCnt);
        for (mach_msg_type_number_t i = 0; i < new_stateCnt; i++)
            in[2 + i] = UM_FW32(new_state[i]);
        kr = um_forward_simple(target_act, UM_MIG_THREAD_SET_STATE, NULL, in, 2 + new_stateCnt,
                               NULL, 0);
        free(in);
        return kr;
    }
    if (kr != KERN_SUCCESS)
        return kr;
    su_state s;
    if ((kr = su_state_in(flavor, new_state, new_stateCnt, &s)) != KERN_SUCCESS)
        return kr;
    pid_t self = su_gettid();
    if (tid == self) {
        /* In place when this call returns: to the new state, as on XNU. */
        su_rec *r = su_record_of(tid);
        if (!r)
            return KERN_RESOURCE_SHORTAGE;
        su_leave_state(r, &s);
        um_call_in.state_owed = 1;
        return KERN_SUCCESS;
    }
    /* Held and stopped for the write, as XNU's thread_set_state stops the thread. */
    su_rec *r;
    kr = su_hold_stopped(tid, self, &r);
    if (kr == KERN_RESOURCE_SHORTAGE)
        return kr;
    if (kr == KERN_SUCCESS)
        su_leave_state(r, &s);
    su_release(r, false);
    return kr;
}
