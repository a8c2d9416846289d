/*
 * um_vm_mig.h — the mach_vm routines a request sent by hand to this task's own port asks for,
 * run on this process's memory by the calls a program makes (libumach only, not installed).
 *
 * Embedded mode: the kernel-object server (api/kobject_server.c) checks the request's shape,
 * maps its out-of-line data here, and calls um_vm_mig_serve_locked through the task's
 * vm_call hook with the world locked; it lays out the reply. In a world the daemon cannot
 * reach this process's memory, so the client serves such a request itself before it would
 * send it (um_vm_mig_local) and sends the reply to the request's reply port.
 */
#ifndef UM_VM_MIG_H
#define UM_VM_MIG_H

#include "../api/um_mig.h"
#include "../kern/um_kern.h"

#include <mach/mach.h>

#include <stdbool.h>
#include <stdint.h>

/*
 * Set while this thread serves a routine with the world locked: this task's vm calls then
 * recognise their task argument without entering the world (um_call_task_check).
 */
extern _Thread_local bool um_vm_mig_serving;

/*
 * Set while this thread sends the reply to a request um_vm_mig_local served: the world's
 * client then marks the send as a kernel object's reply (UM_WIRE_MSG_KERNEL_REPLY), which is
 * destroyed, the send succeeding, when it cannot be queued.
 */
extern _Thread_local bool um_vm_mig_replying;

/* Run `call` (its id served, its arguments checked) on this process's memory: the routine's
 * result; on success its results in `call`. */
kern_return_t um_vm_mig_run(um_vm_mig_call *call);

/* The embedded task's vm_call hook (world locked): um_vm_mig_run on this process. */
kern_return_t um_vm_mig_serve_locked(um_task *task, um_vm_mig_call *call);

/*
 * mach_make_memory_entry(_64) for the kernel-object server, the world locked (which the
 * direct call takes to look its parent up and to make the entry's port): `parent` the
 * request's right (a port that is no live entry is none), *entryp the entry made as a naked
 * send right, or NULL (no entry: a named creation of size 0, MAP_MEM_ONLY). The routine's
 * code; on failure *size is 0 (embedded/um_vm_entry.c).
 */
kern_return_t um_vm_entry_make_locked(uint64_t *size, uint64_t offset, vm_prot_t permission,
                                      um_port *parent, um_port **entryp);

/*
 * For the world's client: `bytes` (`n`, all of the send buffer) is a request this task's own
 * port serves here — a served mach_vm routine of MIG's exact shape, a COPY_SEND or MOVE_SEND
 * of our task port with no voucher, its reply right one we hold for its disposition (or none),
 * its out-of-line data readable. Then it is served as the kernel would serve it: the routine
 * runs, a moved destination right and moved out-of-line data are released, and the reply (or
 * a MIG error reply) is sent to the reply port with the request's `option` (its
 * MACH_SEND_TIMEOUT and MACH_SEND_INTERRUPT) and `timeout`, as the kernel sends it; returns
 * true (the send succeeded). false: not such a request, nothing done (it goes to the daemon,
 * which gives the send's error or MIG's).
 */
bool um_vm_mig_local(const uint8_t *bytes, uint32_t n, mach_msg_option_t option,
                     mach_msg_timeout_t timeout);

#endif
