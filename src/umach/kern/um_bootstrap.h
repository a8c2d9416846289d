/*
 * um_bootstrap.h — the bootstrap server as a kernel object: name registries that services and
 * clients reach through their bootstrap port (TASK_BOOTSTRAP_PORT), as launchd serves them on
 * Darwin. The wire protocol (message ids and layouts) is umach's own; docs/bootstrap.md
 * describes it. The same code serves an embedded process and, later, a whole world.
 *
 * A registry maps names (at most BOOTSTRAP_MAX_NAME_LEN - 1 bytes) to services:
 *  - registered (bootstrap_register) or dynamic (bootstrap_check_in of an unknown name): the
 *    registry holds a send right; the name lives exactly as long as the port (a port watch
 *    frees it when the receive right dies), so a new server can take the name at once;
 *  - declared (known before its server runs): the registry holds the receive right until a
 *    server checks in; messages sent meanwhile queue. A checked-in server's receive right
 *    comes back to the registry when it is destroyed (a port-destroyed request aimed at the
 *    registry's own port), with its queue, and the service can be checked in again.
 * A subset registry answers look-ups from its own names first, then from its parent's; it
 * lives as long as the requestor port given when it was made.
 *
 * Conditions: every function runs with the world lock held.
 */
#ifndef UM_BOOTSTRAP_H
#define UM_BOOTSTRAP_H

#include "um_kobject.h"

#include <mach/ndr.h>
#include <servers/bootstrap.h>

/* ---- wire protocol (umach's; launchd's MIG subsystem is also numbered from 400) ---------- */

#define UM_BS_MSG_CHECK_IN 402
#define UM_BS_MSG_REGISTER 403
#define UM_BS_MSG_LOOK_UP 404
#define UM_BS_MSG_PARENT 406
#define UM_BS_MSG_SUBSET 409
/* A reply's id is its request's + 100, as MIG's. */
#define UM_BS_REPLY_ID(id) ((id) + 100)

#pragma pack(push, 4)
/* check_in, look_up: a NUL-terminated name in a name_t. */
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    name_t name;
} um_bs_name_request;

/* register: the service's send right (or MACH_PORT_NULL) and the name. */
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t service;
    NDR_record_t ndr;
    name_t name;
} um_bs_register_request;

/* parent: no argument. */
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
} um_bs_parent_request;

/* subset: the requestor port whose death ends the subset. */
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t requestor;
    NDR_record_t ndr;
} um_bs_subset_request;

/* The successful reply of check_in (a receive right), look_up, parent, subset (a send right). */
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
} um_bs_port_reply;
#pragma pack(pop)
/* Every error, and register's answer, is a mig_reply_error_t. */

/* ---- registries --------------------------------------------------------------------------- */

typedef struct um_bootstrap um_bootstrap;

/*
 * A new root registry with its kernel-object port. Returns NULL when out of memory. The
 * registry owns the port's receive right; um_bootstrap_port() borrows it.
 */
um_bootstrap *um_bootstrap_create(void);
um_port *um_bootstrap_port(const um_bootstrap *bs);

/*
 * Declare a service (umachd --service, UMACH_SERVICES in embedded mode): the name is known,
 * look-ups get a send right to a port whose receive right waits for bootstrap_check_in.
 * Only a task whose effective uid is `owner_uid` when it sends the request may check it in or
 * undeclare it (others: BOOTSTRAP_NOT_PRIVILEGED, as launchd answers a task that is not the
 * service's job); UM_BS_ANY_UID lets every task. Returns BOOTSTRAP_SUCCESS,
 * BOOTSTRAP_BAD_COUNT (empty or too long), BOOTSTRAP_NAME_IN_USE or BOOTSTRAP_NO_MEMORY.
 */
#define UM_BS_ANY_UID UINT32_MAX
kern_return_t um_bootstrap_declare(um_bootstrap *bs, const char *name, uint32_t owner_uid);

/* Destroy a registry, its subsets and every right it holds; its port dies. */
void um_bootstrap_destroy(um_bootstrap *bs);

/* The kernel-object routine of a bootstrap port (called by um_kobject_server). */
void um_bootstrap_serve(um_bootstrap *bs, um_kmsg *request, um_kobject_reply *reply);

#endif
