/*
 * um_usage.h — what task_info reports of a Linux process (XNU: the task's map size, its
 * physical-memory ledger, its threads' times), read from /proc for the front ends' usage hook
 * (um_task_hooks): embedded mode's own process, umachd's tasks' processes.
 */
#ifndef UM_USAGE_H
#define UM_USAGE_H

#include "../kern/um_kern.h"

#include <sys/types.h>

/*
 * Fill `out` for process `pid`: its address space's size, resident and peak resident bytes,
 * and the CPU times of its live threads and of those that ended; with UM_USAGE_VM in `more`
 * where its resident bytes are, its swap, its mappings and the range it may map; with
 * UM_USAGE_EVENTS its page faults and context switches. false when the process cannot be read
 * (it has gone, or /proc is not there).
 */
bool um_proc_usage(pid_t pid, unsigned more, um_task_usage *out);

/*
 * um_proc_usage for the process that `pidfd` (a pidfd of process `pid`, or -1) names: false
 * also when that process had ended by the end of the read, since a pid names a process only
 * while it lives (once reaped, its pid may be another's). Without a pidfd (-1: an old kernel,
 * valgrind) the pid is read as it is.
 */
bool um_proc_usage_pinned(pid_t pid, int pidfd, unsigned more, um_task_usage *out);

/* A thread of a process, told apart from a later thread given the same id: Linux reuses
 * thread ids, never a (thread id, start time) pair. */
typedef struct um_thread_id {
    pid_t tid;
    uint64_t start; /* /proc/PID/task/TID/stat field 22, clock ticks after boot */
} um_thread_id;

/*
 * Is thread `tid` of process `pid` (0: this process) alive: listed, neither exiting (PF_EXITING,
 * which Linux sets before the thread's pthread_join returns) nor a zombie? Then *start is its
 * start time. Async-signal-safe (open, read, close).
 */
bool um_proc_thread_read(pid_t pid, pid_t tid, uint64_t *start);

/*
 * The threads umach runs for itself (a fault's exception workers, the timer service) stand
 * for what XNU does in the kernel: they are named with this prefix (their /proc comm) and are
 * no thread of the task (um_proc_threads leaves them out, so task_threads never lists them and
 * a program that suspends every thread it lists still has its faults raised and its timers
 * fired). A process's main thread is never one of them (its comm is the program's name); a
 * program's other thread given a name with this prefix is left out too.
 */
#define UM_OWN_THREAD_PREFIX "umach:"

/* Name the calling thread `name` (UM_OWN_THREAD_PREFIX and at most 9 more characters). */
void um_own_thread_name(const char *name);

/*
 * The live threads of process `pid` (0: this process), from /proc/PID/task, umach's own
 * threads left out (UM_OWN_THREAD_PREFIX): an array to free() and its length in *n. NULL when
 * it cannot be read or out of memory. At most `max` + 1 are read (*n > max: there are more
 * than max; the rest are not looked at), which bounds the work another process's thread count
 * can ask of the reader.
 */
um_thread_id *um_proc_threads(pid_t pid, size_t max, size_t *n);

/* Is every thread of process `pid` stopped (SIGSTOP's group stop), or has it gone? */
bool um_proc_stopped(pid_t pid);

/* Has the process behind `pidfd` exited (or can it no longer be told: -1, a failed poll)? */
bool um_pidfd_exited(int pidfd);

#endif
