/*
 * um_kobject_ports.h — kernel objects behind ports: thread and host ports, clocks, semaphores
 * and timers.
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
 * The host port of `kernel`'s world, every task's (mach_host_self, TASK_HOST_PORT), made on
 * first use and kept in kernel->host_port, whose reference is its receive right's (the front
 * end destroys it with the world). Borrowed; NULL when out of memory.
 */
um_port *um_host_port(um_kernel *kernel);

/*
 * The port of `kernel`'s clock `clock_id` (UM_CLOCK_SYSTEM or UM_CLOCK_CALENDAR), made on
 * first use and kept in kernel->clocks[clock_id].port, whose reference is its receive right's
 * (the front end destroys it with the world): one port per clock, as XNU's clock_list.
 * Borrowed; NULL when out of memory.
 */
um_port *um_clock_port(um_kernel *kernel, int clock_id);

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

/* ---- memory entries (XNU osfmk/vm/vm_memory_entry.c) ---------------------------------------- */

/*
 * A named memory entry: `size` bytes (a page multiple) of a memory object, which is a memfd
 * of the front end's from file offset `offset`, that a task may map with at most `prot`.
 * The core only names it: the front end makes the memfd, maps it and, through `release`,
 * closes it when the port goes (the last send right: XNU's no-senders on a named entry).
 */
typedef struct um_mem_entry {
    int fd;              /* the memory object, owned by the entry */
    uint64_t offset;     /* of the entry's first byte in the memfd (a page multiple) */
    uint64_t size;       /* bytes, a page multiple */
    int prot;            /* VM_PROT_* the entry allows */
    bool is_copy;        /* MAP_MEM_VM_COPY: a snapshot, mapped only whole */
    int purgable;        /* VM_PURGABLE_* state, VM_PURGABLE_DENY when not purgeable */
    void (*release)(struct um_mem_entry *entry); /* frees the entry and its memfd */
    void *owner;         /* the front end's (what the memfd is charged to) */
} um_mem_entry;

/* What an entry says of itself (what a front end learns when it maps one). */
typedef struct um_mem_entry_info {
    uint64_t offset, size;
    int prot;
    bool is_copy;
    int purgable;
} um_mem_entry_info;

/*
 * A new entry port standing for `entry` and a send right to it in `space`. Takes `entry` in
 * every case (released on failure). KERN_RESOURCE_SHORTAGE / KERN_NO_SPACE.
 */
kern_return_t um_mem_entry_create(um_space *space, um_mem_entry *entry, mach_port_name_t *namep);
/*
 * The entry `name` holds a send right to (borrowed): KERN_INVALID_NAME, KERN_INVALID_RIGHT (no
 * send right), KERN_INVALID_CAPABILITY (a port that is no memory entry), as
 * um_kobject_translate_send; a dead name is KERN_INVALID_RIGHT with *deadp set.
 */
kern_return_t um_mem_entry_lookup(um_space *space, mach_port_name_t name, um_mem_entry **entryp,
                                  bool *deadp);

/*
 * mach_memory_entry_purgable_control on `entry` after the front end's checks of its port:
 * XNU's answers (KERN_INVALID_ARGUMENT for a bad control or state, an entry that is a copy,
 * a part of its object, or not purgeable); GET_STATE reports the state, SET_STATE sets it and
 * reports the old one. *purgep: the object is to be emptied now (set to VM_PURGABLE_EMPTY: the
 * front end releases its pages). A volatile object is never purged behind the caller's back.
 */
kern_return_t um_mem_entry_purgable(um_mem_entry *entry, int control, int *state, bool *purgep);

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
