/*
 * um_kobject_ports.h — kernel objects behind ports: thread and host ports, semaphores and timers.
 *
 * A kernel-object port has a kotype and, for semaphores and timers, a kobject freed with the
 * port. Thread, host and semaphore ports have their receive right held by the kernel
 * (receiver NULL): the task holds send rights, and a message sent to them is refused. A
 * timer's receive right is the task's, so a timer can sit in a port set next to ordinary
 * ports; when it fires, the core queues a kernel message on it.
 *
 * The core only keeps state: a thread that waits on a semaphore is a um_waiter the front
 * end sleeps on, and a timer fires when the front end calls um_timer_expire at its deadline.
 * Conditions: every function runs with the world lock held.
 */
#ifndef UM_KOBJECT_PORTS_H
#define UM_KOBJECT_PORTS_H

#include "um_kern.h"

/* ---- kernel-object ports --------------------------------------------------------------- */

/*
 * A new active port of `kotype` standing for `kobject`, its receive right held by the
 * kernel: the returned reference is that receive right's. NULL when out of memory.
 */
um_port *um_kobject_port_alloc(uint8_t kotype, void *kobject);

/*
 * Give `space` one more send right to the kernel-object port (one uref on the name that
 * already holds send rights to it, or a new name). Does not consume the caller's reference.
 * KERN_RESOURCE_SHORTAGE / KERN_NO_SPACE when it cannot be named.
 */
kern_return_t um_kobject_copyout_send(um_space *space, um_port *port, mach_port_name_t *namep);

/*
 * The port of kotype `kotype` that `name` holds a send right to, as XNU translates a trap's
 * argument: KERN_INVALID_NAME (no such name), KERN_INVALID_RIGHT (no send right),
 * KERN_INVALID_CAPABILITY (not such an object). Borrows: no reference is taken.
 */
kern_return_t um_kobject_translate_send(um_space *space, mach_port_name_t name, uint8_t kotype,
                                        um_port **portp);

/* The port is being freed: free its semaphore or timer (called by um_port.c). */
void um_kobject_ports_free(um_port *port);

/* ---- semaphores (XNU osfmk/kern/sync_sema.c) -------------------------------------------- */

typedef struct um_semaphore {
    int count;          /* signals not yet taken */
    bool active;        /* false once semaphore_destroy ran */
    int policy;
    um_space *owner;    /* the space of the task that created it */
    um_waitq waiters;   /* threads in semaphore_wait, FIFO */
} um_semaphore;

/* semaphore_create: a new semaphore and a send right to it in `space`. */
kern_return_t um_semaphore_create(um_space *space, int policy, int value, mach_port_name_t *namep);
/*
 * semaphore_destroy: consumes one send uref of `name` (the MIG argument is move-send); a
 * semaphore of this task is deactivated and its waiters end with KERN_TERMINATED.
 */
kern_return_t um_semaphore_destroy(um_space *space, mach_port_name_t name);
/*
 * Signal: wake the first waiter (or every waiter, `all`), else count one signal (not for
 * `all`). KERN_TERMINATED once destroyed.
 */
kern_return_t um_semaphore_signal(um_port *port, bool all);

/* um_semaphore_wait_begin's result when `w` was queued: sleep, then look at w->result. */
#define UM_SEMAPHORE_WAITING KERN_ALREADY_WAITING
/*
 * Take a signal: KERN_SUCCESS, KERN_TERMINATED (destroyed), KERN_OPERATION_TIMED_OUT
 * (`noblock` and nothing to take), or UM_SEMAPHORE_WAITING with `w` queued; the waker sets
 * w->result to KERN_SUCCESS or KERN_TERMINATED.
 */
kern_return_t um_semaphore_wait_begin(um_port *port, um_waiter *w, bool noblock);
/* The wait ended without a wake (timeout, signal): take `w` off the queue if still there. */
void um_semaphore_wait_cancel(um_port *port, um_waiter *w);

/* ---- timers (XNU osfmk/kern/mk_timer.c) --------------------------------------------------- */

typedef struct um_timer {
    bool armed;
    uint64_t deadline;  /* mach_absolute_time units */
} um_timer;

/* Size of the message a timer sends (mk_timer_expire_msg_t: a header and three uint64). */
#define UM_TIMER_MSG_SIZE ((mach_msg_size_t)(sizeof(mach_msg_header_t) + 3 * sizeof(uint64_t)))

/* mk_timer_create: a timer's receive right in `space` (immovable). */
kern_return_t um_timer_create(um_space *space, mach_port_name_t *namep);
/*
 * mk_timer_arm / mk_timer_cancel / mk_timer_destroy on the receive right `name`.
 * KERN_INVALID_NAME / KERN_INVALID_RIGHT for a name without a receive right,
 * KERN_INVALID_ARGUMENT for a port that is not a timer. um_timer_arm returns the port
 * (borrowed) for the front end to schedule; um_timer_cancel reports the deadline it was
 * armed for (0 if none).
 */
kern_return_t um_timer_arm(um_space *space, mach_port_name_t name, uint64_t deadline,
                           um_port **portp);
kern_return_t um_timer_cancel(um_space *space, mach_port_name_t name, uint64_t *armed_deadline);
kern_return_t um_timer_destroy(um_space *space, mach_port_name_t name);
/*
 * The front end's clock says `now`: if the timer is armed for a deadline at or before it,
 * disarm it and queue its message, unless its previous message is still queued (XNU reuses
 * one preallocated message). Returns the deadline the timer is still armed for, or 0.
 */
uint64_t um_timer_expire(um_port *port, uint64_t now);

#endif
