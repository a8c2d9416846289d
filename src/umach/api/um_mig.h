/*
 * um_mig.h — libumach's own use of the MIG runtime (api/mig.c): the thread's reply port
 * after fork, and one routine call made as a MIG user stub makes it (libumach only, not
 * installed).
 */
#ifndef UM_MIG_H
#define UM_MIG_H

#include <mach/mach.h>

/*
 * In a forked child (a new task): forget the thread's MIG reply port, which named a right of
 * the parent's space (Darwin's libsystem: mig_fork_child). Called by the front end.
 */
void um_mig_fork_child(void);

/*
 * One routine call, as a MIG user stub makes it: `req` (its body laid out, `size` bytes,
 * MACH_MSGH_BITS_COMPLEX already in msgh_bits when it carries descriptors) is sent to `dest`
 * (COPY_SEND) with routine id `id` and a send-once right made from the thread's MIG reply port,
 * and the reply is received into `rep` (`rcv_size` bytes, trailer room included; `rep` may be
 * `req`), with no time limit.
 * Returns MACH_MSG_SUCCESS with the routine's reply (id + 100) in `rep`, its shape for the
 * caller to check (a reply of the wrong shape is the caller's to destroy); MIG_SERVER_DIED for
 * a send-once notification and MIG_REPLY_MISMATCH for any other id (the message destroyed); or
 * mach_msg's error. MIG's rule for the reply port: kept after a send refused before anything
 * was copied in (MACH_SEND_INVALID_DATA, _DEST, _HEADER) and after a bad reply, given up
 * (mig_dealloc_reply_port) after any other error, which may leave something queued on it: a
 * request refused later in its copy-in destroys the send-once right it made, notifying the port.
 */
mach_msg_return_t um_mig_rpc(mach_port_t dest, mach_msg_id_t id, mach_msg_header_t *req,
                             mach_msg_size_t size, mach_msg_header_t *rep,
                             mach_msg_size_t rcv_size);

#endif
