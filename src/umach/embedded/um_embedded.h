/*
 * um_embedded.h — the embedded front end: this process is one task of a world that lives in
 * the process itself, behind one mutex (the world lock).
 */
#ifndef UM_EMBEDDED_H
#define UM_EMBEDDED_H

#include "../kern/um_kern.h"
#include "../vm/um_usage.h"

#include <mach/thread_policy.h>

#include <sys/types.h>

/* The kernel's regions and the task's memory in this process (um_memory.c). */
extern const um_kernel_ops um_embedded_kernel_ops;
/* This machine's numbers (host_info; the kernel's `machine` operation here and in umachd). */
void um_machine_read(um_machine *out);
/* The clock services' time (the kernel's `clock_read` operation, um_time.c): SYSTEM_CLOCK is
 * mach_absolute_time's CLOCK_MONOTONIC, CALENDAR_CLOCK CLOCK_REALTIME. */
void um_embedded_clock_read(um_kernel *kernel, int clock_id, mach_timespec_t *now);
extern const um_task_memops um_embedded_memops;

/* Install the fault handler behind the task's memory copies (once, at world creation). */
void um_embedded_memory_init(void);
/*
 * A SIGSEGV or SIGBUS with context `uc` faulted inside one of those copies: end the copy (it
 * returns false once the handler returns, or at once by a jump) and return true. false: the
 * fault is the program's. Called from a signal handler (umach's own, or um_exc_signal.c's).
 */
bool um_embedded_copy_fault(void *uc);
/*
 * What handles `sig` behind `sa`: when `sa` is the copy-fault handler above (installed before
 * um_exc_signal.c's), what was installed before it, else `sa` (a caller that already asked
 * um_vm_convert_fault and um_embedded_copy_fault passes the signal on to that directly).
 */
struct sigaction;
const struct sigaction *um_embedded_fault_behind(int sig, const struct sigaction *sa);

/* mach_msg for this process's task (um_msg.c): send and/or receive, sleeping as needed. */
mach_msg_return_t um_embedded_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                                  mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                  mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                  mach_msg_header_t *rcv_msg);

/*
 * The calling thread's futex word, cleared, for a wait that um_embedded_defer_wake ends:
 * per-thread storage that is never freed, so a wake deferred past the end of the wait (or of
 * the thread) still hits a word. A spare word instead while a mach_msg wait of the thread is
 * armed on its own (a signal handler's wait). NULL when out of memory. Conditions: world locked.
 */
uint32_t *um_embedded_wait_word(void);

/* The wait on a word from um_embedded_wait_word is over. Conditions: world locked. */
void um_embedded_wait_word_done(uint32_t *word);

/*
 * The process's credential generation (um_creds.c): advanced by every set*id call, so that
 * the task's tokens are sampled again when it changed (um_embedded_enter).
 */
unsigned um_embedded_cred_generation(void);
/* Credential changes under way (a set*id wrapper between its start and its generation's
   advance): nonzero while the ids may be changing. */
unsigned um_embedded_cred_changing(void);

/*
 * Take the world lock (creating the world first if needed); returns the calling task, whose
 * tokens are the process's current credentials.
 */
um_task *um_embedded_enter(void);
/*
 * The calling task, without the lock (its memory operations are stable; its tokens are not).
 * Its caller takes the lock next (mach_msg's send copies its message in between): the lock's
 * cache line is asked for now, so that it arrives during the copy.
 */
um_task *um_embedded_task(void);
/* The calling thread's port, or NULL when it never asked for one (um_kobjects.c). */
um_port *um_embedded_thread_port(void);
/*
 * Is `host` (a name of the caller's) a send right to the host port, embedded or in a world:
 * KERN_SUCCESS, KERN_INVALID_CAPABILITY (a right, not to a host port), or another error (no
 * such right). The host calls map these to their MIG results (um_kobjects.c).
 */
kern_return_t um_embedded_host_check(mach_port_t host);
/*
 * The calling thread's port is `name` in its task (mach_thread_self's answer, embedded or in
 * a world): thread_info finds the thread by it until the thread exits (um_threads.c).
 */
void um_thread_note(mach_port_name_t name);
/*
 * The Linux thread a thread port name of the caller's stands for (um_threads.c): KERN_SUCCESS
 * with its id, MACH_SEND_INVALID_DEST when the name is no send right, KERN_INVALID_ARGUMENT
 * for a right that is not to a live thread of this process.
 */
kern_return_t um_thread_lookup(mach_port_name_t name, pid_t *tid);
/*
 * thread_policy_set's settings (um_thread_policy.c) are kept by thread id and start time
 * (um_proc_thread_read), so that a later thread given an ended one's id starts from the
 * defaults. um_thread_policy_forget: thread `id` has ended, its settings go;
 * um_thread_policy_forget_tid: thread `tid` is exiting (its exit hook), its settings and any
 * an ended thread of that id left go.
 */
void um_thread_policy_forget(um_thread_id id);
void um_thread_policy_forget_tid(pid_t tid);
/*
 * thread_policy_set and thread_policy_get on thread `id` once its port is looked up (the
 * words already checked against MIG's 16, `w` holding `count` of them); tests/kern call them
 * with made-up identities.
 */
kern_return_t um_thread_policy_set_id(um_thread_id id, thread_policy_flavor_t flavor,
                                      const integer_t *w, mach_msg_type_number_t count);
kern_return_t um_thread_policy_get_id(um_thread_id id, thread_policy_flavor_t flavor,
                                      thread_policy_t policy_info,
                                      mach_msg_type_number_t *policy_infoCnt,
                                      boolean_t *get_default);
/*
 * Where the calling thread keeps its port (async-signal-safe), for an exception worker to
 * name it: um_embedded_thread_name_of gives the worker a send right (a name of the task's) to
 * the port in `*slot`, making it first when the thread has none (*made = true; the thread then
 * calls um_embedded_thread_port_adopt, so that its exit destroys the port as usual).
 */
struct um_thread_rec;
struct um_thread_rec *um_embedded_thread_port_slot(void);
mach_port_t um_embedded_thread_name_of(struct um_thread_rec *slot, pid_t tid, bool *made);
void um_embedded_thread_port_adopt(void);

/*
 * task_threads' ports (um_kobjects.c): into ports[i] the port of thread ids[i] of the process
 * (its live threads, um_proc_threads), borrowed, or NULL when out of memory: the port the
 * thread made (mach_thread_self), or else one made for it now and kept for it, which the thread
 * takes as its own at its first mach_thread_self. Ports made for threads that are no longer
 * among `ids` are destroyed first, as those threads' own ports are at their exit (names for
 * them become dead names). Conditions: world locked.
 */
void um_embedded_thread_ports(const um_thread_id *ids, size_t n, um_port **ports);
/*
 * The thread task_threads made a port for, thread id `tid` started at `start`, has been found
 * gone (thread_info): its port is destroyed. Conditions: world locked.
 */
void um_embedded_thread_gone(pid_t tid, uint64_t start);
/*
 * Which thread `port` (a thread port) stands for: its id, and for a port task_threads made
 * (*made) the thread's start time. false: none of this process's. Conditions: world locked.
 */
bool um_embedded_thread_who(um_port *port, pid_t *tid, uint64_t *start, bool *made);
/* um_task_hooks.threads: task_threads sent by hand to the task's port. World locked. */
kern_return_t um_embedded_threads_hook(um_task *task, um_port ***ports, uint32_t *count);

/*
 * Release the world lock, then issue the futex wakes deferred while it was held, and raise the
 * guard exception the call kept for a handler (um_exc.h).
 */
void um_embedded_leave(void);

/* Take the world lock again after a sleep that released it with um_embedded_leave. */
void um_embedded_relock(void);

/*
 * Wake the thread sleeping on futex word `word` when the world lock is next released, so that
 * it does not wake up only to block on the lock its waker still holds. The word itself must
 * already say "woken". Conditions: world locked.
 */
void um_embedded_defer_wake(uint32_t *word);

/*
 * The same for a waiter that may be spinning (um_msg.c): once the lock is released, store an
 * odd value in `word` (1, plus the waking thread's CPU + 1 shifted left by 2, so the waiter
 * can tell whether spinning could have seen it) and make the futex system call only if it
 * said 2 (its waiter is asleep in the kernel). Conditions: world locked.
 */
void um_embedded_defer_post(uint32_t *word);
/*
 * Defer a receive waiter whose call is complete (um_waiter.final: a sender's handoff filled
 * its um_msg_rcv_state): once the world lock is released, the releasing thread writes the
 * received bytes to the receiver's buffer itself (or, when they are few, beside the waiter's
 * wait word, for the receiver to copy), frees them and posts the waiter
 * (um_embedded_final_run), so that the message never crosses to the receiver's CPU but in
 * its buffer or its word. false: too many wakes deferred already; the caller posts it the plain way.
 * Conditions: world locked.
 */
bool um_embedded_defer_final(um_waiter *w);
/*
 * Finish a receive deferred with um_embedded_defer_final (um_msg.c): write its bytes (to the
 * receiver's buffer, or a small message to the word's line), give the waiter its result and
 * post its word with `posted` (see um_embedded_defer_post).
 * Conditions: world unlocked.
 */
void um_embedded_final_run(um_waiter *w, uint32_t posted);
/*
 * The same, now, with the world lock held, for a receive whose bytes travel beside its word
 * (or that has none): nothing is written to its buffer, so nothing can fault. true: posted,
 * and *sleeper is its word when a futex wake is due (the caller issues it after the
 * release), else NULL. false: its bytes go to its buffer, after the release.
 * Conditions: world locked.
 */
bool um_embedded_final_locked(um_waiter *w, uint32_t posted, uint32_t **sleeper);
/*
 * Post now, lock held, the completed receives deferred to the release whose bytes travel
 * beside their words (um_embedded_final_locked); the futex wake of one that sleeps stays
 * deferred. true: nothing of theirs is left for the release. false: a larger message's
 * bytes, or a sleeper's wake, wait for it, and the caller should release the lock now (a
 * sleeping receiver is most likely on the caller's own CPU: woken at once, it runs as soon
 * as the caller waits, which on one CPU is what a round trip waits for). Conditions: world
 * locked.
 */
bool um_embedded_finals_now(void);

#endif
