/*
 * um_world.c — the embedded front end: the process is one task and the kernel core lives
 * in it, behind one mutex (the world lock). A thread that must wait (receive on an empty
 * queue, send to a full one) sleeps on a futex word of its own; the core wakes it through
 * um_waiter.wake, and the futex wake itself is issued once the lock is released.
 *
 * fork(): as on Darwin, the child is a new task. It gets a fresh IPC space holding only its
 * task port (under the same name as the parent's, so mach_task_self() stays valid) and a send
 * right for its inherited TASK_BOOTSTRAP_PORT slot (bootstrap_port); none of the parent's
 * other rights are inherited. Its exception-port slots are the parent's, each port dead.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "../api/um_api.h"
#include "../api/um_mig.h"
#include "../client/um_client.h"
#include "../dispatch/um_forward.h"
#include "../kern/um_bootstrap.h"
#include "../um_backoff.h"
#include "../um_env.h"
#include "../um_export.h"
#include "../vm/um_usage.h"
#include "um_embedded.h"
#include "um_exc.h"
#include "um_suspend.h"
#include "um_vm_mig.h"

#include <mach/mach_init.h>
#include <mach/task_special_ports.h>

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The world lock: a futex word (Drepper's three-state mutex) rather than a pthread mutex.
 * 0: free, 1: held, 2: held and a thread may be asleep on it. A thread that finds it held
 * polls it for a bounded number of CPU pauses before it sleeps: the lock is held for a
 * fraction of a microsecond, while sleeping and being woken from another CPU costs two system
 * calls and tens of microseconds on a VM (with a pthread mutex, two threads exchanging
 * messages on two CPUs spent a third of their time in futex calls for the lock). Only a
 * contended release makes a system call. On one CPU the holder cannot run while a waiter
 * polls, so there the waiter sleeps at once.
 *
 * The waiter looks at the word after 1, 2, 4 ... then every UM_WORLD_LOCK_GAP_MAX pauses (the
 * same UM_WORLD_LOCK_SPINS pauses in all), and a taker looks before its compare-and-swap: two
 * threads that stream messages through a port (each call a short hold, most of its misses on
 * lines the other wrote) then take the lock several times in a row each while those lines stay
 * in their cache, instead of handing it over, and every line with it, at every call (a waiter
 * that looked at every pause, or a failed compare-and-swap, pulled the lock's line from the
 * holder, which then waited for it back to read its wake list and to release).
 */
enum { UM_WORLD_LOCK_SPINS = 256, UM_WORLD_LOCK_GAP_MAX = 32 };

/* The one world of this process. */
typedef struct um_world {
    /* The lock and what is written under it on every call share one cache line. */
    _Alignas(64) uint32_t lock;
    unsigned npending;
    uintptr_t pending_wakes[16]; /* futex words to wake once the lock is released, bit 0:
                                    post (um_embedded_defer_post); or, with bit 1, a
                                    completed receive's waiter (um_embedded_defer_final) */
    _Alignas(64) um_kernel kernel;
    um_task *task;               /* the process's task */
    bool guard_nonfatal;         /* UMACH_GUARD_NONFATAL: fatal guards return instead */
    bool guard_log;              /* UMACH_GUARD_LOG: print non-fatal guard exceptions too */
    unsigned cred_generation;    /* um_embedded_cred_generation() when the tokens were sampled */
} um_world;

static um_world um_the_world;

static bool um_world_lock_spins; /* more than one CPU online (set once, before any thread) */

static void um_futex_wake(uint32_t *word)
{
    (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static __attribute__((noinline)) void um_world_lock_slow(uint32_t *l)
{
    if (__atomic_load_n(&um_world_lock_spins, __ATOMIC_RELAXED)) {
        unsigned gap = 1;
        for (unsigned spent = 0; spent < UM_WORLD_LOCK_SPINS; spent += gap) {
            for (unsigned i = 0; i < gap; i++)
                um_cpu_pause();
            uint32_t free_ = 0;
            if (__atomic_load_n(l, __ATOMIC_RELAXED) == 0 &&
                __atomic_compare_exchange_n(l, &free_, 1, false, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED))
                return;
            if (gap < UM_WORLD_LOCK_GAP_MAX)
                gap *= 2;
        }
    }
    /* Taken as 2 from now on: whoever releases it next may have to wake a sleeper. */
    while (__atomic_exchange_n(l, 2, __ATOMIC_ACQUIRE) != 0)
        if (syscall(SYS_futex, l, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0) != 0 && errno == EINTR)
            um_suspend_signal_point();
}

/*
 * The calling thread holds the world lock (or is taking it): a fault it takes meanwhile cannot
 * be raised as an exception (the exception worker would wait for the lock forever), see
 * um_exc_signal.c, and thread_suspend's signal does not stop it there (um_suspend.c).
 */
#define um_world_mine (um_marks.world_lock)

bool um_embedded_lock_mine(void)
{
    return um_world_mine != 0;
}

/* Marked before it is taken: a thread is never stopped by thread_suspend between taking it
 * and saying so (um_suspend.c). */
UM_HOT_STATIC void um_world_lock(void)
{
    um_world_mine = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    uint32_t free_ = 0;
    if (__atomic_load_n(&um_the_world.lock, __ATOMIC_RELAXED) != 0 ||
        !__atomic_compare_exchange_n(&um_the_world.lock, &free_, 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        um_world_lock_slow(&um_the_world.lock);
}

/*
 * The lock is released before the thread stops saying it holds it: thread_suspend's signal
 * taken in between must not stop the thread with the lock held (um_suspend.c), so until the
 * mark is cleared its handler only leaves the stop owed, which is paid here.
 */
UM_HOT_STATIC void um_world_unlock(void)
{
    if (__atomic_exchange_n(&um_the_world.lock, 0, __ATOMIC_RELEASE) == 2)
        um_futex_wake(&um_the_world.lock);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    um_world_mine = 0;
    if (__builtin_expect(um_suspend_owed, 0))
        um_suspend_stop_owed();
}

UM_EXPORT mach_port_t mach_task_self_ = MACH_PORT_NULL;
UM_EXPORT mach_port_t bootstrap_port = MACH_PORT_NULL;

static pthread_once_t um_world_once = PTHREAD_ONCE_INIT;

/* In a forked child, the tasks of its forebears, its parent's first (see um_atfork_child). */
typedef struct um_abandoned {
    um_task *task;
    struct um_abandoned *older;
} um_abandoned;
static um_abandoned *volatile um_abandoned_tasks;

/* UMACH_PORT_TABLE_MAX=N: at most N names in the task's space. */
static uint32_t env_table_limit(void)
{
    uint64_t v = um_env_number("UMACH_PORT_TABLE_MAX", false);
    if (v < 2)
        return UM_TABLE_DEFAULT_MAX;
    if (v > UM_TABLE_HARD_MAX)
        v = UM_TABLE_HARD_MAX;
    return (uint32_t)v + 1; /* v usable indices besides the reserved one */
}

/*
 * UMACH_QUEUED_BYTES_MAX=N (bytes, or with a k/m/g suffix): the cap on the task's queued
 * message bytes. Default: half the machine's memory, at least 2 GiB.
 */
static uint64_t env_queued_limit(void)
{
    uint64_t v = um_env_number("UMACH_QUEUED_BYTES_MAX", true);
    if (v)
        return v;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    uint64_t half = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize / 2 : 0;
    return half > (2ull << 30) ? half : (2ull << 30);
}

/* ---- policy hooks ---------------------------------------------------------------------------- */

/*
 * A fatal flavour prints one line naming the port, the flavour and the mistake, then aborts
 * the process, as EXC_GUARD kills the task on Darwin (unless UMACH_GUARD_NONFATAL is set);
 * the others only make the call return its error (printed with UMACH_GUARD_LOG). When the
 * thread or the task has an EXC_GUARD port, the exception is raised to it once the call is
 * over (um_embedded_leave), and a fatal one aborts after that.
 */
static uint32_t um_exc_kick; /* a word nobody waits on: its wake sends leave the slow way */

static void embedded_guard(um_task *task, mach_port_name_t name, uint64_t payload, uint32_t flavor,
                           bool fatal)
{
    um_world *w = &um_the_world;
    bool dies = fatal && !w->guard_nonfatal;
    if (um_exc_guard_wanted(task, um_embedded_thread_port())) {
        um_exc_pend_guard(name, payload, flavor, dies);
        um_embedded_defer_wake(&um_exc_kick);
    } else if (dies) {
        um_guard_abort(name, flavor, payload);
    }
    if (w->guard_log && !dies) {
        fprintf(stderr, "umach: Mach port guard exception on port 0x%x: %s (flavor %u)%s\n", name,
                um_guard_flavor_name(flavor), flavor,
                fatal ? " [fatal on Darwin; returned because UMACH_GUARD_NONFATAL is set]" : "");
    }
}

/* task_info on the task: what this process uses. */
static bool embedded_usage(um_task *task, unsigned more, um_task_usage *out)
{
    (void)task;
    return um_proc_usage(getpid(), more, out);
}

/* The guard policy is the process's (UMACH_GUARD_NONFATAL, task_set_exc_guard_behavior). */
static bool embedded_guard_fatal(um_task *task, int set)
{
    (void)task;
    if (set >= 0)
        um_the_world.guard_nonfatal = !set;
    return !um_the_world.guard_nonfatal;
}

/*
 * task_suspend of the process's own task: the whole process stops (SIGSTOP), the calling
 * thread too, as XNU holds every thread of a suspended task; only a SIGCONT from another
 * process lets it go on (nothing else could call task_resume).
 */
static void embedded_hold(um_task *task, bool held)
{
    (void)task;
    (void)kill(getpid(), held ? SIGSTOP : SIGCONT);
}

static const um_task_hooks embedded_hooks = {
    .guard = embedded_guard,
    .usage = embedded_usage,
    .guard_fatal = embedded_guard_fatal,
    .vm_call = um_vm_mig_serve_locked,
    .threads = um_embedded_threads_hook,
    .hold = embedded_hold,
};

/* ---- the task ------------------------------------------------------------------------------- */

/*
 * Sample the task's tokens from the process's credentials: when the task starts (and in a
 * forked child), then again whenever a set*id call advanced the credential generation
 * (um_creds.c), not on every send (seven system calls per message would dominate mach_msg).
 * Conditions: world locked or single-threaded.
 */
static void embedded_tokens_sample(um_task *t)
{
    uid_t euid = geteuid();
    gid_t egid = getegid();
    t->sec.val[0] = euid;
    t->sec.val[1] = egid;
    memset(&t->audit, 0, sizeof t->audit);
    /* Darwin's layout: auid, euid, egid, ruid, rgid, pid, asid, pid version. */
    t->audit.val[0] = getuid();
    t->audit.val[1] = euid;
    t->audit.val[2] = egid;
    t->audit.val[3] = getuid();
    t->audit.val[4] = getgid();
    t->audit.val[5] = (unsigned)getpid();
    t->audit.val[6] = (unsigned)getpid();
    t->audit.val[7] = 0;
}

/* Build the process's task. Conditions: world locked or single-threaded. */
static void um_world_make_task(void)
{
    um_world *w = &um_the_world;
    w->kernel.table_limit = env_table_limit(); /* read for every new task, a forked child's too */
    w->kernel.queued_limit = env_queued_limit();
    w->task = um_task_create(&w->kernel, &um_embedded_memops, &embedded_hooks, w);
    if (!w->task) {
        fprintf(stderr, "umach: out of memory while creating the task\n");
        abort();
    }
    w->cred_generation = um_embedded_cred_generation();
    embedded_tokens_sample(w->task);
    mach_task_self_ = w->task->task_name;
}

/*
 * The process's bootstrap server: a root registry served in the process, with the services
 * that UMACH_SERVICES declares (comma-separated names; each can be checked in once its server
 * runs, and looked up before). The task's TASK_BOOTSTRAP_PORT slot holds a send right to it.
 * Conditions: world locked or single-threaded.
 */
static void um_world_make_bootstrap(um_world *w)
{
    w->kernel.bootstrap = um_bootstrap_create();
    if (!w->kernel.bootstrap) {
        fprintf(stderr, "umach: out of memory while creating the bootstrap server\n");
        abort();
    }
    const char *list = getenv("UMACH_SERVICES");
    while (list && *list) {
        size_t len = strcspn(list, ",");
        char name[BOOTSTRAP_MAX_NAME_LEN];
        if (len > 0 && len < sizeof name) {
            memcpy(name, list, len);
            name[len] = '\0';
            kern_return_t kr = um_bootstrap_declare(w->kernel.bootstrap, name, UM_BS_ANY_UID);
            if (kr != BOOTSTRAP_SUCCESS)
                fprintf(stderr, "umach: UMACH_SERVICES: cannot declare \"%s\": %s\n", name,
                        kr == BOOTSTRAP_NAME_IN_USE ? "declared twice" : "out of memory");
        } else if (len > 0) {
            fprintf(stderr, "umach: UMACH_SERVICES: a name longer than %d bytes is ignored\n",
                    BOOTSTRAP_MAX_NAME_LEN - 1);
        }
        list += len;
        if (*list == ',')
            list++;
    }
    um_port *bp = um_bootstrap_port(w->kernel.bootstrap);
    um_port_make_send(bp);
    w->task->special_ports[TASK_BOOTSTRAP_PORT] = bp;
}

/*
 * Name the task's bootstrap slot in its space and publish the name in bootstrap_port, as
 * Darwin's libsystem does when a process starts (and in a forked child).
 * Conditions: world locked or single-threaded.
 */
static void um_world_name_bootstrap(um_world *w)
{
    um_port *bp = w->task->special_ports[TASK_BOOTSTRAP_PORT];
    mach_port_name_t name = MACH_PORT_NULL;
    if (bp == UM_PORT_DEAD || (bp && !bp->active)) {
        name = MACH_PORT_DEAD;
    } else if (bp) {
        um_port_copy_send(bp);
        if (um_right_copyout(w->task->space, bp, MACH_MSG_TYPE_PORT_SEND, &name) !=
            KERN_SUCCESS)
            name = MACH_PORT_NULL;
    }
    bootstrap_port = name;
}

static void um_atfork_prepare(void)
{
    um_world_lock();
}

static void um_atfork_parent(void)
{
    um_world_unlock();
}

static void um_atfork_child(void)
{
    /*
     * The parent's task is abandoned, not torn down: tearing it down would deliver
     * notifications for rights that the parent still holds. It stays referenced here so
     * that leak checkers in the child do not report the parent's objects as lost, and so do
     * the tasks the parent had abandoned itself (a child of a forked child).
     */
    um_task *parent = um_the_world.task;
    um_abandoned *a = malloc(sizeof *a);
    if (a) {
        a->task = parent;
        a->older = um_abandoned_tasks;
        um_abandoned_tasks = a;
    }
    um_the_world.task = NULL;
    um_the_world.npending = 0; /* wakes meant for the parent's threads */
    um_world_make_task();
    /* The special-port slots are inherited: the child's task takes over the parent's rights. */
    memcpy(um_the_world.task->special_ports, parent->special_ports,
           sizeof parent->special_ports);
    memset(parent->special_ports, 0, sizeof parent->special_ports);
    /*
     * So are the task's exception ports (XNU's ipc_task_init), with their behaviours and
     * flavours; but their receivers are the parent's, in another process now, which no message
     * of the child's can reach: each port is a dead one in the child's slots (a fault of the
     * child is its signal, as with no port).
     */
    um_exc_inherit(um_the_world.task->exc_actions, parent->exc_actions, false);
    um_world_name_bootstrap(&um_the_world);
    /* Only this thread exists in the child: nobody sleeps on the lock. */
    um_world_mine = 0;
    __atomic_store_n(&um_the_world.lock, 0, __ATOMIC_RELEASE);
    um_mig_fork_child();
}

static void um_world_init_once(void)
{
    /* UMACH_WORLD: this process is a task of umachd's world, and has no world of its own. */
    if (um_client_init())
        return;
    um_world *w = &um_the_world;
    w->guard_nonfatal = um_env_flag("UMACH_GUARD_NONFATAL");
    w->guard_log = um_env_flag("UMACH_GUARD_LOG");
    long ps = sysconf(_SC_PAGESIZE);
    w->kernel.page_size = ps > 0 ? (size_t)ps : 4096;
    w->kernel.ops = &um_embedded_kernel_ops;
    um_embedded_memory_init();
    w->kernel.fe = w;
    __atomic_store_n(&um_world_lock_spins, sysconf(_SC_NPROCESSORS_ONLN) > 1, __ATOMIC_RELAXED);
    um_world_lock();
    um_world_make_task();
    um_world_make_bootstrap(w);
    um_world_name_bootstrap(w);
    um_world_unlock();
    pthread_atfork(um_atfork_prepare, um_atfork_parent, um_atfork_child);
}

__attribute__((constructor)) static void um_world_ctor(void)
{
    pthread_once(&um_world_once, um_world_init_once);
}

/* ---- the world lock --------------------------------------------------------------------------- */

/* Set once the world exists, so that every call after that skips pthread_once. */
static bool um_world_ready;

UM_HOT_STATIC void um_world_ensure(void)
{
    if (!__atomic_load_n(&um_world_ready, __ATOMIC_ACQUIRE)) {
        pthread_once(&um_world_once, um_world_init_once);
        __atomic_store_n(&um_world_ready, true, __ATOMIC_RELEASE);
    }
}

UM_HOT um_task *um_embedded_enter(void)
{
    um_world_ensure();
    um_world *w = &um_the_world;
    um_world_lock();
    unsigned gen = um_embedded_cred_generation();
    if (gen != w->cred_generation) {
        /* A set*id call ran: the task speaks with its new credentials from now on. */
        w->cred_generation = gen;
        embedded_tokens_sample(w->task);
    }
    return w->task;
}

UM_HOT um_task *um_embedded_task(void)
{
    um_world_ensure();
    /* For writing: in a round trip the peer released it last, from its CPU. */
    __builtin_prefetch(&um_the_world.lock, 1, 3);
    return um_the_world.task;
}

void um_embedded_relock(void)
{
    um_world_lock();
}

/*
 * A pending wake: a plain futex wake, or (bit 0) a post to a waiter that may be spinning,
 * which stores 1 | (waker's CPU + 1) << 2 (see um_embedded_defer_post), or (bit 1) a
 * completed receive to finish (um_embedded_final_run). Conditions: world unlocked, except
 * for a plain wake or post run at once because the list is full.
 */
static void um_pending_run(uintptr_t p, uint32_t posted)
{
    if (p & 2) {
        um_embedded_final_run((um_waiter *)(p & ~(uintptr_t)3), posted);
        return;
    }
    uint32_t *word = (uint32_t *)(p & ~(uintptr_t)3);
    if (!(p & 1)) {
        um_futex_wake(word);
        return;
    }
    /*
     * A post never takes away a final post's mark (bits 0 and 1 both set: a completed
     * receive, um_embedded_final_run) already in the word: that waiter returns on the mark
     * alone, and this post may be a late one meant for an earlier wait of its thread.
     */
    uint32_t old = __atomic_load_n(word, __ATOMIC_RELAXED);
    do {
        if ((old & 3) == 3)
            return;
    } while (!__atomic_compare_exchange_n(word, &old, posted, false, __ATOMIC_SEQ_CST,
                                          __ATOMIC_RELAXED));
    if (old == 2)
        um_futex_wake(word);
}

/* What a post stores: odd, with this thread's CPU + 1 from bit 2 up (0 when unknown). */
static uint32_t um_post_value(void)
{
    int cpu = sched_getcpu();
    return 1u | (cpu >= 0 && cpu < (1 << 29) ? (uint32_t)(cpu + 1) << 2 : 0u);
}

/*
 * Add a pending wake (see um_pending_run) to run once the lock is released: true. false: the
 * list is full; a plain wake or post then runs at once (a crowd of waiters: wake this one
 * now), a completed receive is left to the caller (it must not run under the lock).
 * Conditions: world locked.
 */
static bool um_defer(uintptr_t p)
{
    um_world *w = &um_the_world;
    if (w->npending < sizeof w->pending_wakes / sizeof w->pending_wakes[0]) {
        w->pending_wakes[w->npending++] = p;
        return true;
    }
    if (!(p & 2))
        um_pending_run(p, um_post_value());
    return false;
}

bool um_embedded_finals_now(void)
{
    um_world *w = &um_the_world;
    if (w->npending == 1 && (w->pending_wakes[0] & 3) == 2) {
        /* The usual case, the receive this call's send completed: no list to walk. */
        uint32_t *sleeper;
        if (!um_embedded_final_locked((um_waiter *)(w->pending_wakes[0] & ~(uintptr_t)3),
                                      um_post_value(), &sleeper))
            return false;
        if (sleeper) { /* its futex wake waits for the release: a plain wake */
            w->pending_wakes[0] = (uintptr_t)sleeper;
            return false;
        }
        w->npending = 0;
        return true;
    }
    unsigned kept = 0;
    bool left = false;
    uint32_t posted = 0;
    for (unsigned i = 0; i < w->npending; i++) {
        uintptr_t p = w->pending_wakes[i];
        if (p & 2) {
            if (!posted)
                posted = um_post_value();
            uint32_t *sleeper;
            if (um_embedded_final_locked((um_waiter *)(p & ~(uintptr_t)3), posted, &sleeper)) {
                if (sleeper) { /* its futex wake waits for the release: a plain wake */
                    w->pending_wakes[kept++] = (uintptr_t)sleeper;
                    left = true;
                }
                continue;
            }
            left = true;
        }
        w->pending_wakes[kept++] = p;
    }
    w->npending = kept;
    return !left;
}

void um_embedded_defer_wake(uint32_t *word)
{
    um_defer((uintptr_t)word);
}

void um_embedded_defer_post(uint32_t *word)
{
    um_defer((uintptr_t)word | 1);
}

bool um_embedded_defer_final(um_waiter *w)
{
    return um_defer((uintptr_t)w | 2);
}

UM_HOT void um_embedded_leave(void)
{
    /*
     * A word may belong to a waiter that has already gone (it saw itself woken and left):
     * waking its address costs nothing and at worst wakes a later waiter that re-checks.
     */
    um_world *w = &um_the_world;
    unsigned n = w->npending;
    if (n == 0) {
        um_world_unlock();
        return;
    }
    uintptr_t wake[sizeof w->pending_wakes / sizeof w->pending_wakes[0]];
    memcpy(wake, w->pending_wakes, n * sizeof wake[0]);
    w->npending = 0;
    um_world_unlock();
    uint32_t posted = n ? um_post_value() : 0;
    for (unsigned i = 0; i < n; i++)
        um_pending_run(wake[i], posted);
    if (__builtin_expect(um_exc_pending, 0))
        um_exc_pending_deliver();
}

/* ---- the guard policy through the API ---------------------------------------------------- */

/*
 * Darwin's EXC_GUARD delivery options mapped onto this front end's policy: Mach-port guard
 * exceptions are always delivered (TASK_EXC_GUARD_MP_DELIVER) and fatal unless
 * UMACH_GUARD_NONFATAL is set or a program cleared TASK_EXC_GUARD_MP_FATAL. Virtual-memory
 * guards do not exist in umach, so their bits read as 0 and are ignored when set.
 */
UM_EXPORT kern_return_t task_get_exc_guard_behavior(task_inspect_t task,
                                                    task_exc_guard_behavior_t *behavior)
{
    UM_CALL_SCOPE;
    kern_return_t kr = KERN_SUCCESS;
    if (um_client_active()) {
        kr = um_client_task_get_exc_guard_behavior(task, behavior);
    } else {
        um_task *self = um_embedded_enter();
        bool ok = um_task_space(self, task) != NULL;
        bool nonfatal = um_the_world.guard_nonfatal;
        um_embedded_leave();
        if (ok)
            *behavior = TASK_EXC_GUARD_MP_DELIVER | (nonfatal ? 0 : TASK_EXC_GUARD_MP_FATAL);
        else
            kr = MACH_SEND_INVALID_DEST;
    }
    if (kr == MACH_SEND_INVALID_DEST && um_forward_wanted(task)) {
        /* Another port: the MIG request (dispatch/um_forward.h). */
        const um_fw_out out[] = {UM_FWOUT(behavior)};
        kr = um_forward_simple(task, UM_MIG_TASK_GET_EXC_GUARD_BEHAVIOR, NULL, NULL, 0, out, 1);
    }
    return kr;
}

/* The value is the task's server's to judge (KERN_INVALID_VALUE for unknown bits): on a port
 * that is no task the request is sent first, as Darwin's stub sends it. */
UM_EXPORT kern_return_t task_set_exc_guard_behavior(task_t task,
                                                    task_exc_guard_behavior_t behavior)
{
    UM_CALL_SCOPE;
    bool valid = !(behavior & ~(task_exc_guard_behavior_t)TASK_EXC_GUARD_ALL);
    kern_return_t kr;
    if (um_client_active()) {
        kr = um_client_task_set_exc_guard_behavior(task, behavior);
    } else {
        um_task *self = um_embedded_enter();
        bool ok = um_task_space(self, task) != NULL;
        if (ok && valid)
            um_the_world.guard_nonfatal = !(behavior & TASK_EXC_GUARD_MP_FATAL);
        um_embedded_leave();
        kr = !ok ? MACH_SEND_INVALID_DEST : valid ? KERN_SUCCESS : KERN_INVALID_VALUE;
    }
    if (kr == MACH_SEND_INVALID_DEST && um_forward_wanted(task)) {
        const um_fw_in in[] = {UM_FW32(behavior)};
        kr = um_forward_simple(task, UM_MIG_TASK_SET_EXC_GUARD_BEHAVIOR, NULL, in, 1, NULL, 0);
    }
    return kr;
}
