/*
 * um_suspend.h — thread_suspend's signal (um_suspend.c), as the rest of umach sees it: the
 * locks a thread must not be stopped in, the stop it owes once it released them, and the
 * interrupted waits that were only a suspension.
 */
#ifndef UM_SUSPEND_H
#define UM_SUSPEND_H

#include <mach/mach_types.h>

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/*
 * Per-thread marks read on the world lock's release, side by side so that the release finds
 * both with one address: `world_lock`, the thread holds (or is taking) embedded mode's world
 * lock (um_world.c); `suspend_owed`, the suspend signal came while the thread held a lock of
 * umach's: it stops once it releases it (um_suspend_stop_owed). Set by the signal's handler,
 * read by the releasing paths.
 */
typedef struct um_thread_marks {
    volatile sig_atomic_t world_lock;
    volatile sig_atomic_t suspend_owed;
} um_thread_marks;
extern _Thread_local um_thread_marks um_marks;
#define um_suspend_owed (um_marks.suspend_owed)
/* How many times the suspend signal's handler ran on this thread (it interrupts a wait). */
extern _Thread_local volatile sig_atomic_t um_suspend_runs;

/* The owed stop: called by a thread that released the lock it held when the signal came. */
void um_suspend_stop_owed(void);

/*
 * A fault's handler whose exception was answered, about to return to `uc` (a ucontext_t): the
 * new state thread_set_state left for this thread while it waited goes into it.
 * Async-signal-safe.
 */
void um_suspend_state_into(void *uc);

/*
 * Around a lock of umach's that thread_suspend or thread_get_state may need (the thread-port
 * notes, the suspend records): a thread inside is not stopped until it leaves. Async-signal
 * safe on the handler's side.
 */
void um_suspend_hold(void);
void um_suspend_unhold(void);

/* A mutex of umach's taken and given inside um_suspend_hold / um_suspend_unhold. */
static inline void um_suspend_lock(pthread_mutex_t *m)
{
    um_suspend_hold();
    pthread_mutex_lock(m);
}

static inline void um_suspend_unlock(pthread_mutex_t *m)
{
    pthread_mutex_unlock(m);
    um_suspend_unhold();
}

/*
 * A wait that failed with EINTR: was it only the suspend signal (then the wait goes on, as a
 * suspension does not end XNU's waits)? `mark`: um_suspend_runs read before the wait.
 */
static inline bool um_suspend_interrupted_only(sig_atomic_t mark)
{
    return um_suspend_runs != mark;
}

/*
 * The Linux id of the thread whose port is `name` (um_threads.c): KERN_SUCCESS, or
 * thread_info's code for a name that is no thread of this process.
 */
kern_return_t um_thread_tid(mach_port_name_t name, pid_t *tid);
/* thread_suspend's count of thread `tid` (thread_basic_info's suspend_count). */
integer_t um_suspend_count(pid_t tid);

/*
 * ThreadSanitizer runs the handler of a signal that came while the thread was in a system call
 * it does not intercept (umach's futex waits) only at the thread's next intercepted call, and
 * a wait restarted after it would never get there: in a build with it the signal is installed
 * without SA_RESTART, and a wait that failed with EINTR calls this first, which makes such a
 * call (pthread_sigmask) so that the handler has run before um_suspend_interrupted_only looks.
 * Nothing otherwise.
 */
#if defined(__SANITIZE_THREAD__)
#define UM_SUSPEND_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UM_SUSPEND_TSAN 1
#endif
#endif
static inline void um_suspend_signal_point(void)
{
#ifdef UM_SUSPEND_TSAN
    sigset_t mask;
    (void)pthread_sigmask(SIG_BLOCK, NULL, &mask);
#endif
}

/* The signal umach reserves for thread_suspend (chosen at the first call; see um_suspend.c). */
int um_suspend_signal(void);

#endif
