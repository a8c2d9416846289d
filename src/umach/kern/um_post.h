/*
 * um_post.h — room promised ahead of time in a port's queue, and the delivery of a message a
 * front end accepted on that promise (the world's posted sends: docs/world.md, "Posted
 * sends"). The front end decides who gets a promise and keeps the books; the core only
 * counts the room (port->reserved, which um_mqueue_full counts as queued, so no other send
 * can take it) and queues the message when it comes.
 *
 * A promise holds no send right (rights show in lsmp's counts); the front end makes the
 * message's right when it delivers it, from the sender's own right, which it knows is there.
 *
 * Conditions: world locked.
 */
#ifndef UM_POST_H
#define UM_POST_H

#include "um_kmsg.h"

/*
 * Promise room for up to `n` more messages of at most `each` bytes: in `port`'s queue, and in
 * `ledger` (the sending task's queued bytes, and the kernel's total over it; NULL: no caps),
 * where the promise is charged at once as if those bytes were queued, so a synchronous send
 * finds only what is left and both caps hold with every promise kept. As many as the queue
 * and both caps have room for; none while a sender waits for room, or for a port that is not
 * an active ordinary port (no kernel object). Returns how many were promised (0 to n).
 */
uint32_t um_post_reserve(um_port *port, um_ledger *ledger, uint32_t n, uint32_t each);
/* Take back `n` promises of `each` bytes that will not be used (the queue's room and the
   ledgers' bytes); senders that now fit look again. */
void um_post_unreserve(um_port *port, um_ledger *ledger, uint32_t n, uint32_t each);
/*
 * Queue the simple message `bytes` (`len` bytes, at most `each`: a header and its body, the
 * header's names ignored) on `port` on one of its promises, made against `ledger` with
 * `each` bytes, as sent by `task` now (its tokens). The message is charged its own `len`
 * bytes in place of the promise's `each`. Takes over a send right the caller holds: it becomes
 * the message's destination right (as a COPY_SEND's copy), the reply none. A port that died
 * since the promise was made gets the message destroyed, as XNU destroys what was queued on a
 * dying port. Never fails: the room was promised (out of memory, the message is lost and its
 * right released).
 */
void um_post_deliver(um_task *task, um_port *port, um_ledger *ledger, uint32_t each,
                     const uint8_t *bytes, uint32_t len);

/*
 * Observing a port. A front end that promised something on a port ahead of the core (room
 * to a sender that then posts without asking, the images of receives to come) must take the
 * promise back before what it stands on changes: the rights a space holds to the port, its
 * death, queue limit, sequence number, context or set membership (enum um_port_change). The
 * core calls `hook(arg, port, space, what)` (an int of enum um_port_change) before every such
 * change of an observed port, from the function that makes it, while the port and the space
 * are still as before: the hook may receive simple messages from the port (um_msg_receive:
 * it makes and frees no name) and give promised room back (um_post_unreserve), but must not
 * change rights. One observer per port; it holds no reference (the front end's own keep the
 * port while it observes). false: no memory (not observed).
 */
bool um_port_observe(um_port *port, void (*hook)(void *arg, um_port *port, um_space *space,
                                                 int what),
                     void *arg);
/* The port is no longer observed. */
void um_port_unobserve(um_port *port);

#endif
