/*
 * um_exc_signal.c — synchronous signals as Mach exceptions. On Darwin a fault is a Mach
 * exception first (EXC_BAD_ACCESS, EXC_BAD_INSTRUCTION, EXC_ARITHMETIC, EXC_BREAKPOINT) and a
 * signal only when no handler took it; on Linux it is a signal. Once a program sets an
 * exception port for one of those exceptions, umach handles the matching signals (SIGSEGV and
 * SIGBUS, SIGILL, SIGFPE, SIGTRAP): a signal the kernel raised for the thread's own
 * instruction (si_code > 0; one sent with kill or raise is not an exception) is raised as the
 * exception on the faulting thread's behalf. A KERN_SUCCESS answer returns from the handler,
 * so the instruction runs again (the handler mended what faulted); anything else hands the
 * signal on to what was installed before umach's handler: the program's own handler, or the
 * default action (death). A fault inside umach's own guarded copies (embedded/um_memory.c) is
 * umach's, never an exception.
 *
 * The signal handler itself only does what is async-signal-safe: it fills a request on its
 * own stack, pushes it onto a lock-free list, wakes an exception worker with a futex and
 * sleeps on the answers' futex word until the worker has answered its request. The worker, an
 * ordinary thread of umach's, raises the exception (um_exc_raise_as: the ports, the message,
 * its reply port, the wait for the handler's answer) and writes a state handler's new state
 * into the faulting thread's context. So the faulting thread allocates nothing and takes no
 * lock, and a fault inside malloc, or anywhere the interrupted code left umach's per-thread
 * state half-changed, is raised as on Darwin, where the kernel raises it. Workers are made
 * ahead of time: two when the first port for a fault's exception is set (and again in a
 * forked child), so that while one raises a fault another waits, ready for the next; a worker
 * that takes the last waiting worker's place makes another before it raises (a thread is made
 * only then: a fault raised while another fault's handler runs), so raises of several threads
 * run at once and one whose handler waits for another's is served. A worker that is done waits
 * again unless two wait already (then it ends): a single fault at a time makes no thread and
 * ends none (pthread_create allocates, which a fault inside the allocator must not wait for).
 *
 * The thread is named in the request by its own port, as XNU names it: embedded mode gives the
 * worker the faulting thread's port (made then if the thread never asked for it, and handed
 * to the thread for its exit); in a world, the daemon finds it by the kernel thread id the
 * thread's connection gave when it joined. A thread that never made a Mach call in a world
 * has no connection and no port yet: its exception names no thread (MACH_PORT_NULL) and only
 * the task's port can take it.
 *
 * EXC_CRASH: a signal whose default action would end the process (one that dumps core on
 * Darwin: the faults, SIGABRT, SIGQUIT, SIGSYS) is first raised as EXC_CRASH on the thread that
 * took it, once a port for EXC_CRASH was set (the task's or the thread's; umach has no host
 * level), never to a port the task receives itself (XNU's check: the dying task would wait
 * for itself); then the process dies of the signal whatever the answer. A crash reporter is
 * therefore another process of a world (a parent whose port a forked child inherited).
 *
 * One decision where Darwin cannot be followed: a fault taken while the faulting thread holds
 * umach's own lock (embedded mode's world lock; in a world, the connections' lock), a bug of
 * umach's or a corrupted heap, is not raised: the worker would wait for that lock forever. The
 * signal is passed on at once (the program's handler, or death by the signal), a crash rather
 * than a deadlock. A fault of a worker itself, or of a thread raising a guard exception, is
 * passed on the same way (XNU does not raise an exception taken while one is being raised).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../um_export.h"
#include "../vm/um_regions.h"
#include "../vm/um_usage.h"
#include "um_embedded.h"
#include "um_exc.h"
#include "um_suspend.h"

#include <mach/mach.h>
#include <mach/exception_types.h>

#include "../client/um_client.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The signals umach handles, and what was installed before its handler: the faults raised as
 * exceptions (the first five), and every signal whose default action dumps core on Darwin
 * (SA_CORE: those five, SIGABRT, SIGQUIT, SIGSYS), whose death is an EXC_CRASH.
 */
static const int um_exc_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP,
                                     SIGABRT, SIGQUIT, SIGSYS};
enum { UM_EXC_NFAULT = 5 };
#define UM_EXC_NSIG (sizeof um_exc_signals / sizeof um_exc_signals[0])
static struct sigaction um_exc_old[UM_EXC_NSIG];
static int um_exc_installed[UM_EXC_NSIG];

/* The exception a signal stands for. */
static exception_type_t signal_exception(int sig)
{
    switch (sig) {
    case SIGSEGV:
    case SIGBUS:
        return EXC_BAD_ACCESS;
    case SIGILL:
        return EXC_BAD_INSTRUCTION;
    case SIGFPE:
        return EXC_ARITHMETIC;
    case SIGTRAP:
        return EXC_BREAKPOINT;
    default:
        return 0; /* no fault: only its death is an exception (EXC_CRASH) */
    }
}

/* XNU's machine codes (<mach/i386/exception.h>, <mach/arm/exception.h>). */
#if defined(__x86_64__)
#define UM_EXC_INVOP 1     /* EXC_I386_INVOP */
#define UM_EXC_DIV 1       /* EXC_I386_DIV */
#define UM_EXC_INTO 2      /* EXC_I386_INTO */
#define UM_EXC_FPERR 8     /* EXC_I386_SSEEXTERR */
#define UM_EXC_ALIGN 17    /* EXC_I386_ALIGNFLT */
#define UM_EXC_BPT 2       /* EXC_I386_BPT */
#define UM_EXC_SGL 1       /* EXC_I386_SGL */
#else
#define UM_EXC_INVOP 1     /* EXC_ARM_UNDEFINED */
#define UM_EXC_DIV 2       /* EXC_ARM_FP_DZ */
#define UM_EXC_INTO 3      /* EXC_ARM_FP_OF */
#define UM_EXC_FPERR 1     /* EXC_ARM_FP_IO */
#define UM_EXC_ALIGN 0x101 /* EXC_ARM_DA_ALIGN */
#define UM_EXC_BPT 1       /* EXC_ARM_BREAKPOINT */
#define UM_EXC_SGL 1       /* EXC_ARM_BREAKPOINT */
#endif

/* The exception's codes, as XNU's trap handlers fill them for the same fault. */
static void signal_codes(int sig, const siginfo_t *info, int64_t code[2])
{
    int64_t addr = (int64_t)(intptr_t)info->si_addr;
    code[1] = 0;
    switch (sig) {
    case SIGSEGV:
        code[0] = info->si_code == SEGV_ACCERR ? KERN_PROTECTION_FAILURE : KERN_INVALID_ADDRESS;
        code[1] = addr;
        break;
    case SIGBUS:
        code[0] = info->si_code == BUS_ADRALN ? UM_EXC_ALIGN : KERN_MEMORY_ERROR;
        code[1] = addr;
        break;
    case SIGILL:
        code[0] = UM_EXC_INVOP;
        break;
    case SIGFPE:
        code[0] = info->si_code == FPE_INTDIV   ? UM_EXC_DIV
                  : info->si_code == FPE_INTOVF ? UM_EXC_INTO
                                                : UM_EXC_FPERR;
        break;
    default:
        code[0] = info->si_code == TRAP_TRACE ? UM_EXC_SGL : UM_EXC_BPT;
        break;
    }
}

static kern_return_t um_exc_raise_from_signal(exception_type_t exception, const int64_t code[2],
                                              void *uc);

/*
 * Darwin's number of each Linux signal (<sys/signal.h> of XNU's bsd/): the two systems agree
 * on 1-6, 8, 9, 11, 13-15, 21, 22 and 24-28 and differ on the rest. Linux's SIGSTKFLT and
 * SIGPWR, and the real-time signals, have no Darwin number (0).
 */
static const unsigned char um_darwin_signals[] = {
    [SIGHUP] = 1,    [SIGINT] = 2,     [SIGQUIT] = 3,  [SIGILL] = 4,     [SIGTRAP] = 5,
    [SIGABRT] = 6,   [SIGBUS] = 10,    [SIGFPE] = 8,   [SIGKILL] = 9,    [SIGUSR1] = 30,
    [SIGSEGV] = 11,  [SIGUSR2] = 31,   [SIGPIPE] = 13, [SIGALRM] = 14,   [SIGTERM] = 15,
    [SIGCHLD] = 20,  [SIGCONT] = 19,   [SIGSTOP] = 17, [SIGTSTP] = 18,   [SIGTTIN] = 21,
    [SIGTTOU] = 22,  [SIGURG] = 16,    [SIGXCPU] = 24, [SIGXFSZ] = 25,   [SIGVTALRM] = 26,
    [SIGPROF] = 27,  [SIGWINCH] = 28,  [SIGIO] = 23,   [SIGSYS] = 12,
};

/* Darwin's number for the Linux signal `sig`, or 0 if Darwin has none. */
static int um_darwin_signal(int sig)
{
    if (sig <= 0 || (size_t)sig >= sizeof um_darwin_signals)
        return 0;
    return um_darwin_signals[sig];
}

/*
 * The process dies of `sig` (its default action): first EXC_CRASH, as XNU's
 * proc_prepareexit raises it for a signal that dumps core. code[0]: the signal in bits 24-31,
 * the fault's exception in bits 20-23 and the low 20 bits of its code (0 and 0 for a signal
 * that is no fault: abort, kill); code[1]: the fault's subcode (the address). The signal is
 * given by Darwin's number (SIGBUS 10, SIGSYS 12 where Linux says 7 and 31), which a handler
 * written for macOS decodes; the process's own wait status still says Linux's. The handler's
 * answer changes nothing: the process dies.
 */
static void um_exc_crash(int sig, exception_type_t exception, const int64_t fault_code[2],
                         void *uc)
{
    int64_t code[2] = {(int64_t)(((uint64_t)(um_darwin_signal(sig) & 0xff) << 24) |
                                 ((uint64_t)(exception & 0xf) << 20) |
                                 ((uint64_t)fault_code[0] & 0xfffff)),
                       fault_code[1]};
    (void)um_exc_raise_from_signal(EXC_CRASH, code, uc);
}

/*
 * Hand the signal on to what was installed before (the program's handler, or the default,
 * after EXC_CRASH). `exception` and `code`: the fault's, or 0.
 */
static void pass_on(unsigned i, int sig, siginfo_t *info, void *uc, exception_type_t exception,
                    const int64_t code[2])
{
    /* umach's copy-fault handler behind this one has nothing more to do (asked already). */
    const struct sigaction *old = um_embedded_fault_behind(sig, &um_exc_old[i]);
    if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
        old->sa_sigaction(sig, info, uc);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        if (old->sa_handler == SIG_DFL)
            um_exc_crash(sig, exception, code, uc);
        /* The default action: put it back; the instruction faults again and takes it. A
         * signal that does not come again (a trap that moved past itself, abort, kill) is
         * raised now. */
        sigaction(sig, old, NULL);
        if (sig == SIGTRAP || !info || info->si_code <= 0)
            raise(sig);
    }
}

/* ---- exception workers ------------------------------------------------------------------- */

/* A fault's exception, from its signal handler to a worker (on the faulting thread's stack). */
typedef struct um_exc_req {
    struct um_exc_req *next;
    exception_type_t exception;
    int64_t code[2];
    void *uc;          /* the faulting thread's ucontext_t */
    struct um_thread_rec *slot; /* embedded mode: where the thread keeps its port */
    long tid;          /* the thread's kernel thread id */
    bool made;         /* embedded mode: the worker made the thread's port */
    kern_return_t kr;  /* the answer */
    uint32_t done;     /* 1 once kr is written: the worker's last touch of the request */
} um_exc_req;

static um_exc_req *um_exc_queue;       /* pushed by signal handlers (lock-free), popped by workers */
static uint32_t um_exc_queue_seq;      /* futex word the workers wait on: advanced by each push */
/* Futex word the faulting threads wait on: advanced by each answer. A request lives on its
 * thread's stack, which is gone the moment its thread sees `done`; the wake goes to this word,
 * never to the request (a wake on the request's word could reach a stack frame reused or
 * unmapped since, as valgrind once saw). */
static uint32_t um_exc_answer_seq;
static pthread_mutex_t um_exc_pool_lock = PTHREAD_MUTEX_INITIALIZER; /* guards the two below */
static unsigned um_exc_idle;           /* workers waiting for a request */
static int um_exc_workers_started;     /* the first worker exists (0 again in a forked child) */

/* Workers kept waiting between faults: one raises, the other is ready for a fault raised
 * meanwhile without a thread being made for it. */
enum { UM_EXC_READY = 2 };

_Thread_local const void *volatile um_exc_fault_context;
uint32_t um_exc_fault_context_reads;

static long um_futex(uint32_t *word, int op, uint32_t val)
{
    return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

static bool um_exc_worker_start(void);

/*
 * Take one request off the list. Only one worker pops at a time (pool lock held), and a
 * request stays on the list until its own raise is over, so its address cannot come back
 * while a pop holds it: no ABA.
 */
static um_exc_req *um_exc_pop(void)
{
    um_exc_req *r = __atomic_load_n(&um_exc_queue, __ATOMIC_ACQUIRE);
    while (r && !__atomic_compare_exchange_n(&um_exc_queue, &r, r->next, false, __ATOMIC_ACQUIRE,
                                             __ATOMIC_ACQUIRE))
        ;
    return r;
}

/* Raise `r` on its thread's behalf (um_exc_answer wakes the thread). */
static void um_exc_serve(um_exc_req *r)
{
    mach_port_t thread = MACH_PORT_NULL;
    if (um_client_active())
        thread = um_client_thread_of(r->tid);
    else
        thread = um_embedded_thread_name_of(r->slot, (pid_t)r->tid, &r->made);
    kern_return_t kr = um_exc_raise_as(thread, r->exception, r->code, r->uc);
    if (MACH_PORT_VALID(thread))
        (void)mach_port_deallocate(mach_task_self(), thread);
    r->kr = kr;
}

/* Wake the thread of a served request (`r` is its own again once `done` is set: not touched
 * after). Every waiting thread wakes and looks at its own request; faults at once are rare. */
static void um_exc_answer(um_exc_req *r)
{
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&um_exc_answer_seq, 1, __ATOMIC_RELEASE);
    (void)um_futex(&um_exc_answer_seq, FUTEX_WAKE_PRIVATE, INT32_MAX);
}

/* The calling thread is an exception worker: a fault of its own is never raised (it could hold
 * the pool lock the other workers need). */
static _Thread_local volatile sig_atomic_t um_exc_am_worker;

/* Futex word: how many of the workers made ahead have run (um_exc_workers_init waits for
 * them); no longer counted past UM_EXC_READY. */
static uint32_t um_exc_first_running;

static void *um_exc_worker(void *arg)
{
    (void)arg;
    um_exc_am_worker = 1;
    uint32_t ran = __atomic_load_n(&um_exc_first_running, __ATOMIC_RELAXED);
    while (ran < UM_EXC_READY &&
           !__atomic_compare_exchange_n(&um_exc_first_running, &ran, ran + 1, false,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
    if (ran < UM_EXC_READY)
        (void)um_futex(&um_exc_first_running, FUTEX_WAKE_PRIVATE, INT32_MAX);
    /* Asynchronous signals stay with the program's threads (a worker waiting for requests
     * could not serve its own EXC_CRASH); a worker's own fault is not blocked (blocked, it
     * would kill without its handlers: umach's copy-fault one). */
    sigset_t all;
    sigfillset(&all);
    for (unsigned i = 0; i < UM_EXC_NFAULT; i++)
        sigdelset(&all, um_exc_signals[i]);
    /* A worker does what XNU's kernel does: it is no thread of the task (task_threads leaves
     * it out, vm/um_usage.h), so a program that suspends every thread it lists still has its
     * faults raised; the suspend signal stays blocked. */
    um_own_thread_name(UM_OWN_THREAD_PREFIX "exc");
    (void)pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&um_exc_pool_lock);
    for (;;) {
        uint32_t seq = __atomic_load_n(&um_exc_queue_seq, __ATOMIC_ACQUIRE);
        um_exc_req *r = um_exc_pop();
        if (!r) {
            um_exc_idle++;
            pthread_mutex_unlock(&um_exc_pool_lock);
            (void)um_futex(&um_exc_queue_seq, FUTEX_WAIT_PRIVATE, seq);
            pthread_mutex_lock(&um_exc_pool_lock);
            um_exc_idle--;
            continue;
        }
        bool last = um_exc_idle == 0;
        pthread_mutex_unlock(&um_exc_pool_lock);
        if (last)
            (void)um_exc_worker_start(); /* one stays ready for the next fault */
        um_exc_serve(r);
        pthread_mutex_lock(&um_exc_pool_lock);
        if (um_exc_idle >= UM_EXC_READY) {
            /* Enough wait already: a burst of faults leaves two workers, not one per fault. */
            pthread_mutex_unlock(&um_exc_pool_lock);
            um_exc_answer(r);
            return NULL;
        }
        /* The thread is woken with the pool lock held: its next fault is taken by this worker
         * or one that waits, never counted as one with no worker ready. */
        um_exc_answer(r);
    }
}

/* One more worker (detached; workers live as long as the process): false if none was made. */
static bool um_exc_worker_start(void)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return false;
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    bool made = pthread_create(&t, &attr, um_exc_worker, NULL) == 0;
    if (made)
        __atomic_store_n(&um_exc_workers_started, 1, __ATOMIC_RELEASE);
    (void)pthread_attr_destroy(&attr);
    return made;
}

/* A forked child has none of its parent's workers (only the forking thread exists). */
static void um_exc_atfork_child(void)
{
    if (!um_exc_workers_started)
        return;
    pthread_mutex_init(&um_exc_pool_lock, NULL);
    um_exc_idle = 0;
    um_exc_queue = NULL;
    um_exc_workers_started = 0;
    for (unsigned i = 0; i < UM_EXC_READY; i++)
        (void)um_exc_worker_start();
}

static void um_exc_workers_init(void)
{
    uint32_t started = 0;
    for (unsigned i = 0; i < UM_EXC_READY; i++)
        started += um_exc_worker_start();
    /*
     * The set call returns once the workers run: what their start maps (their stacks, a
     * sanitizer's thread state) is mapped before the program's next mapping, never into an
     * address the program just unmapped and then touches to fault.
     */
    for (;;) {
        uint32_t ran = __atomic_load_n(&um_exc_first_running, __ATOMIC_ACQUIRE);
        if (ran >= started)
            break;
        (void)um_futex(&um_exc_first_running, FUTEX_WAIT_PRIVATE, ran);
    }
    (void)pthread_atfork(NULL, NULL, um_exc_atfork_child);
}

/*
 * From the signal handler: raise the fault's exception through a worker and wait for the
 * answer (KERN_FAILURE when it cannot be raised; see the file's comment). Async-signal-safe.
 */
static kern_return_t um_exc_raise_from_signal(exception_type_t exception, const int64_t code[2],
                                              void *uc)
{
    if (!__atomic_load_n(&um_exc_workers_started, __ATOMIC_ACQUIRE) || um_exc_raising_now() ||
        um_exc_am_worker)
        return KERN_FAILURE;
    if (um_client_active() ? um_client_lock_mine() : um_embedded_lock_mine())
        return KERN_FAILURE;
    int saved_errno = errno;
    um_exc_req r;
    memset(&r, 0, sizeof r);
    r.exception = exception;
    r.code[0] = code[0];
    r.code[1] = code[1];
    r.uc = uc;
    r.tid = (long)syscall(SYS_gettid);
    if (!um_client_active())
        r.slot = um_embedded_thread_port_slot();
    const void *outer = um_exc_fault_context;
    um_exc_fault_context = uc;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    /*
     * thread_suspend and thread_get_state reach the thread while it waits, as XNU's reach a
     * thread in an exception: the suspend signal is let in meanwhile, whatever mask the
     * handler runs with (a ThreadSanitizer build runs every handler with all signals blocked).
     */
    sigset_t suspend_only, mask_before;
    bool unblocked = false;
    int suspend = um_suspend_signal();
    if (suspend > 0) {
        sigemptyset(&suspend_only);
        sigaddset(&suspend_only, suspend);
        unblocked = pthread_sigmask(SIG_UNBLOCK, &suspend_only, &mask_before) == 0;
    }
    r.next = __atomic_load_n(&um_exc_queue, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&um_exc_queue, &r.next, &r, false, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
        ;
    __atomic_add_fetch(&um_exc_queue_seq, 1, __ATOMIC_RELEASE);
    (void)um_futex(&um_exc_queue_seq, FUTEX_WAKE_PRIVATE, 1);
    for (;;) {
        uint32_t answers = __atomic_load_n(&um_exc_answer_seq, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&r.done, __ATOMIC_ACQUIRE))
            break;
        if (um_futex(&um_exc_answer_seq, FUTEX_WAIT_PRIVATE, answers) != 0 && errno == EINTR)
            um_suspend_signal_point(); /* a ThreadSanitizer build runs the handler there */
    }
    if (unblocked)
        (void)pthread_sigmask(SIG_SETMASK, &mask_before, NULL);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    um_exc_fault_context = outer;
    if (!outer)
        um_suspend_state_into(uc); /* a thread_set_state made while it waited */
    if (r.made)
        um_embedded_thread_port_adopt();
    errno = saved_errno;
    return r.kr;
}

static void um_exc_signal_handler(int sig, siginfo_t *info, void *uc)
{
    unsigned i = 0;
    while (i < UM_EXC_NSIG && um_exc_signals[i] != sig)
        i++;
    if (i == UM_EXC_NSIG)
        return;
    /* A write to memory a memory entry is being made of (vm/um_regions.c): it waited for
     * the entry's memfd, now it runs again; no exception. */
    if (info && um_vm_convert_fault(sig, info->si_code, (uint64_t)(uintptr_t)info->si_addr))
        return;
    /* umach's own guarded copy faulted: the copy returns false, nothing is raised. */
    if ((sig == SIGSEGV || sig == SIGBUS) && um_embedded_copy_fault(uc))
        return;
    exception_type_t exception = signal_exception(sig);
    int64_t code[2] = {0, 0};
    if (exception && info && info->si_code > 0) {
        signal_codes(sig, info, code);
        if (um_exc_raise_from_signal(exception, code, uc) == KERN_SUCCESS)
            return; /* handled: run the instruction again */
    } else {
        exception = 0; /* a signal sent (kill, raise, abort) is no fault */
    }
    pass_on(i, sig, info, uc, exception, code);
}

void um_exc_signals_install(exception_mask_t mask)
{
    static pthread_once_t workers_once = PTHREAD_ONCE_INIT;
    /* A signal's handler is installed for its fault's exception, or for EXC_CRASH. */
    bool crash = (mask & EXC_MASK_CRASH) != 0, any = crash;
    for (unsigned i = 0; i < UM_EXC_NSIG; i++) {
        exception_type_t e = signal_exception(um_exc_signals[i]);
        any |= e && (mask & (1u << e));
    }
    if (!any)
        return;
    /* The workers first: a fault is raised only once one is there to raise it. */
    (void)pthread_once(&workers_once, um_exc_workers_init);
    for (unsigned i = 0; i < UM_EXC_NSIG; i++) {
        exception_type_t e = signal_exception(um_exc_signals[i]);
        if (!crash && !(e && (mask & (1u << e))))
            continue;
        if (__atomic_exchange_n(&um_exc_installed[i], 1, __ATOMIC_ACQ_REL))
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = um_exc_signal_handler;
        /* SA_NODEFER: a handler that leaves by a long jump, or faults again, is not blocked. */
        sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(um_exc_signals[i], &sa, &um_exc_old[i]);
    }
}
