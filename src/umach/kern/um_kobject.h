/*
 * um_kobject.h — kernel objects: ports whose receive right the kernel holds and whose
 * messages the kernel core serves at once (XNU: ipc_kobject_server), and the core's own way
 * to learn that a port died (port watches).
 *
 * A message sent to a port with a kotype that has a server is not queued: the server routine
 * runs in the sender's call, with the world locked, and its reply goes to the request's reply
 * right with MIG's conventions (reply id = request id + 100, a mig_reply_error_t for errors,
 * MIG_BAD_ID for an unknown id). A kernel-object routine never sleeps.
 *
 * Conditions: every function runs with the world lock held.
 */
#ifndef UM_KOBJECT_H
#define UM_KOBJECT_H

#include "um_kmsg.h"

/* ---- port watches ------------------------------------------------------------------------ */

/*
 * A kernel-side watch on a port's death (the core's dead-name request: no space, no name, no
 * message). `dead` is called once, after the port became inactive, with a reference to it
 * held for the call; the watch is already off the port's list, so the callback may free it
 * and may destroy other ports. A receive right that moves away, or that a port-destroyed
 * request hands to someone else, is not a death.
 *
 * Callbacks never nest: a port dying inside a callback (a subset whose requestor was another
 * subset's port, ...) only joins this thread's list of dead watched ports, which the
 * outermost um_port_watch_fire drains before it returns, so the C stack stays bounded
 * whatever the length of such a chain (as um_kmsg_destroy's destroy list).
 */
typedef struct um_port_watch {
    struct um_port_watch *next;
    struct um_port_watch **pprev; /* NULL when not on a port's list: removal is O(1) */
    void (*dead)(struct um_port_watch *watch, um_port *port);
} um_port_watch;

/*
 * Start watching `port` (active). The watch holds no reference: its owner holds one. false:
 * out of memory (the port has no rare part and none could be allocated: um_port_rare_get
 * first makes this call one that cannot fail).
 */
bool um_port_watch_add(um_port *port, um_port_watch *watch);
/* Stop watching; harmless when the watch already fired or was never added. O(1). */
void um_port_watch_remove(um_port *port, um_port_watch *watch);
/*
 * Fire every watch of a port that just died (um_port_destroy), now when the caller is the
 * outermost, after the current callbacks otherwise (see above).
 */
void um_port_watch_fire(um_port *port);

/* ---- the kernel-object server ---------------------------------------------------------- */

/* What a kernel-object routine answers. */
typedef struct um_kobject_reply {
    kern_return_t ret;         /* KERN_SUCCESS, a BOOTSTRAP_* / MIG_* error, or MIG_NO_REPLY */
    um_port *port;             /* on success: a naked right the reply carries, or NULL */
    mach_msg_type_name_t disp; /* its MACH_MSG_TYPE_PORT_* type */
    /*
     * A reply MIG lays out otherwise (in-line results, several descriptors): the routine's
     * whole reply (um_kobject_reply_alloc), sent on success instead of the two above, and
     * destroyed with what it carries when the routine fails.
     */
    um_kmsg *kmsg;
} um_kobject_reply;

/*
 * A reply for a routine to fill: `body_size` zeroed body bytes (after the header; a complex
 * reply's descriptor count first) and room for `ndesc` descriptor records, whose memory the
 * world's `kernel` frees if it is destroyed. The server addresses and sends it. NULL when out
 * of memory.
 */
um_kmsg *um_kobject_reply_alloc(um_kernel *kernel, mach_msg_size_t body_size, uint32_t ndesc);
/* Free the kernel's reserved error reply (um_kernel.reply_reserve), when the world ends. */
void um_kobject_reserve_free(um_kernel *kernel);

/*
 * The task port's MIG server (api/kobject_server.c: its routines are the api's calls, served on
 * `target`, the task the port names): mach_port.defs and task.defs routines umach has.
 * `sender` is the task that sent the request (NULL: the kernel); a guard exception a routine
 * raises is the sender's. Takes what the routine keeps out of the request; fills `reply`.
 */
void um_task_server(um_task *target, um_task *sender, um_kmsg *request, um_kobject_reply *reply);
/* The host port's MIG server (the same file): host_info, host_page_size and
 * host_get_clock_service, of `kernel`. */
void um_host_server(um_kernel *kernel, um_kmsg *request, um_kobject_reply *reply);
/* A clock port's MIG server (the same file): clock_get_time and clock_get_attributes of `clock`. */
void um_clock_server(um_clock *clock, um_kmsg *request, um_kobject_reply *reply);
/* A message to the resume port of `task` (NULL: the task has ended): task_resume2 through a
 * suspension token, or the send-once notification of a token destroyed unused. */
void um_task_resume_server(um_task *task, um_kmsg *request, um_kobject_reply *reply);
/* A thread port's MIG server (the same file): thread_get_special_port and the exception ports. */
void um_thread_server(um_kmsg *request, um_kobject_reply *reply);
/*
 * Any other kernel object's (a semaphore's, a memory entry's): no routine of umach's applies
 * to it, so each answers as XNU's does for a port that converts to no object of its kind
 * (after MIG's checks); an id no subsystem has is MIG_BAD_ID. (The task, host and thread
 * servers give the same answers for the other kinds' routines.)
 */
void um_kobject_other_server(um_kmsg *request, um_kobject_reply *reply);

/*
 * Serve `request`, sent by `sender` (NULL: a message the kernel made), whose destination is
 * an active kernel-object port. Consumes the request: its destination right, what the
 * routine takes out of it (a routine that keeps a right clears it in the kmsg) and,
 * destroyed, everything else. The reply, if any, is sent through the request's reply right.
 * With `heldp` (a program's send, um_msg_send), a reply that finds no room on its reply port
 * (um_mqueue_full: a send right's queue limit, or the kernel's) is not sent but left in
 * *heldp for the request's send to go on with, under the request's options (XNU's
 * ipc_kmsg_send); without it, such a reply passes the queue limit and is destroyed at the
 * kernel's. Returns MACH_MSG_SUCCESS, or MACH_SEND_INVALID_DEST when no server handles this
 * kotype (the request is destroyed).
 */
mach_msg_return_t um_kobject_server(um_kmsg *request, um_task *sender, um_kmsg **heldp);

#endif
