/*
 * um_exc.h — raising Mach exceptions from the thread that caught them (um_exc.c), for both
 * front ends: the raising itself uses only the public calls.
 */
#ifndef UM_EXC_H
#define UM_EXC_H

#include "../kern/um_kern.h"

#include <mach/exception_types.h>

/*
 * Raise `exception` with its two codes on the calling thread: its thread's port for it, then
 * its task's, until one answers KERN_SUCCESS (or its reply port died). Returns that answer,
 * or the last failure (KERN_FAILURE when no port is set). `uc`: the signal's ucontext_t, whose
 * registers the state behaviours send and a successful answer's new state replaces (NULL: no
 * state, and those behaviours are passed over). Conditions: world unlocked, nothing of
 * umach's held.
 */
kern_return_t um_exc_raise(exception_type_t exception, const int64_t code[2], void *uc);
/*
 * The same for the thread whose port is `thread` (a send right of the caller's, which stays
 * the caller's; MACH_PORT_NULL: a thread umach cannot name, so no thread level and a null
 * thread in the request): a fault's exception, raised by an exception worker on the faulting
 * thread's behalf (um_exc_signal.c). `uc` is the faulting thread's context.
 */
kern_return_t um_exc_raise_as(mach_port_t thread, exception_type_t exception,
                              const int64_t code[2], void *uc);
/* Is the calling thread raising an exception (its calls raise none of their own)? */
bool um_exc_raising_now(void);

/* The EXC_GUARD code[0] of a Mach-port guard of `flavor` on `name`, as XNU encodes it. */
int64_t um_exc_guard_code(uint32_t name, uint32_t flavor);

/*
 * Does the task, or the thread whose port is `thread_port` (NULL: none), have a port for
 * EXC_GUARD (and is this thread not raising one already)? Conditions: world locked.
 */
bool um_exc_guard_wanted(um_task *task, um_port *thread_port);

/*
 * Keep a guard exception the calling thread's call raised (the first one of the call) for
 * um_exc_pending_deliver to raise once the call is over; um_exc_pending says one waits.
 */
void um_exc_pend_guard(uint32_t name, uint64_t payload, uint32_t flavor, bool fatal);
extern _Thread_local bool um_exc_pending;
/*
 * Raise the kept guard exception; a fatal one then ends the process (um_guard_abort) whatever
 * the handler answered. Conditions: world unlocked.
 */
void um_exc_pending_deliver(void);

/*
 * An exception port was set for the exceptions in `mask`: from now on the signals that stand
 * for them (SIGSEGV and SIGBUS, SIGILL, SIGFPE, SIGTRAP) are raised as those exceptions first
 * (um_exc_signal.c). Each signal's handler is installed once, in front of what was installed.
 */
void um_exc_signals_install(exception_mask_t mask);

/*
 * Async-signal-safe: does the calling thread hold a lock of umach's that an exception worker
 * needs (embedded mode's world lock: um_world.c; a world's connection lock: um_client.c)?
 */
bool um_embedded_lock_mine(void);
bool um_client_lock_mine(void);

/*
 * The machine's 64-bit thread state (x86_thread_state64_t, arm_thread_state64_t) of a signal's
 * context `uc` (a ucontext_t), into `state`. Async-signal-safe (thread_suspend's handler).
 */
void um_exc_state_of_context(const void *uc, void *state);
/*
 * The reverse: `state` into the context `uc`, which the signal's return then runs (the
 * segment registers and the flags' system bits stay, as XNU's thread_set_state keeps them).
 * Async-signal-safe.
 */
void um_exc_state_to_context(const void *state, void *uc);

/*
 * The context of the fault this thread waits on (its exception is being raised), or NULL: the
 * thread's registers while it waits are the fault's, as XNU's thread_get_state on a thread in
 * an exception answers, not those of umach's wait (thread_suspend's handler reads it).
 */
extern _Thread_local const void *volatile um_exc_fault_context;
/* Moved (release) by thread_suspend's handler after each read of such a context. */
extern uint32_t um_exc_fault_context_reads;

/* Print the fatal guard line (port, flavour, payload) and abort, as EXC_GUARD kills on Darwin. */
_Noreturn void um_guard_abort(uint32_t name, uint32_t flavor, uint64_t payload);

#endif
