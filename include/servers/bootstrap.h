/*
 * <servers/bootstrap.h> — umach (Darwin API): the bootstrap server, where services and their
 * clients meet by name. A server checks in (or registers) a name, a client looks it up and
 * gets a send right. Every call is one Mach RPC on a bootstrap port (normally bootstrap_port,
 * the task's TASK_BOOTSTRAP_PORT); docs/bootstrap.md describes umach's server and protocol.
 * Values and signatures are Darwin's (launchd's liblaunch).
 */
#ifndef _SERVERS_BOOTSTRAP_H_
#define _SERVERS_BOOTSTRAP_H_

#include <mach/std_types.h>
#include <mach/message.h>
#include <mach/mach_init.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A service name: at most 127 bytes and its NUL. */
#define BOOTSTRAP_MAX_NAME_LEN 128
#define BOOTSTRAP_MAX_CMD_LEN 512

typedef char name_t[BOOTSTRAP_MAX_NAME_LEN];
typedef char cmd_t[BOOTSTRAP_MAX_CMD_LEN];
typedef name_t *name_array_t;
typedef int bootstrap_status_t;
typedef bootstrap_status_t *bootstrap_status_array_t;
typedef unsigned int bootstrap_property_t;
typedef bootstrap_property_t *bootstrap_property_array_t;
typedef boolean_t *bool_array_t;

#define BOOTSTRAP_MAX_LOOKUP_COUNT 20

#define BOOTSTRAP_SUCCESS 0
#define BOOTSTRAP_NOT_PRIVILEGED 1100  /* not allowed (a declared name is for check-in) */
#define BOOTSTRAP_NAME_IN_USE 1101     /* register: the name is active */
#define BOOTSTRAP_UNKNOWN_SERVICE 1102 /* no such name */
#define BOOTSTRAP_SERVICE_ACTIVE 1103  /* check-in: someone already serves the name */
#define BOOTSTRAP_BAD_COUNT 1104       /* umach: also a name that does not fit in a name_t */
#define BOOTSTRAP_NO_MEMORY 1105
#define BOOTSTRAP_NO_CHILDREN 1106

#define BOOTSTRAP_STATUS_INACTIVE 0
#define BOOTSTRAP_STATUS_ACTIVE 1
#define BOOTSTRAP_STATUS_ON_DEMAND 2

/* bootstrap_port (the task's bootstrap port, set at start-up) is declared in <mach/mach_init.h>. */

/*
 * Darwin spells the name parameters `const name_t` / `name_t`, which are pointers all the same;
 * they are written as pointers here so that gcc does not take every shorter string literal for
 * a 128-byte array read out of bounds (-Wstringop-overread).
 */

/*
 * The receive right of the service `service_name`: a declared service's port (messages sent
 * to it before the check-in are waiting in it), or a new port under a name nobody used.
 * BOOTSTRAP_SERVICE_ACTIVE when a server already holds it.
 */
kern_return_t bootstrap_check_in(mach_port_t bp, const char *service_name, mach_port_t *sp);

/* A send right to the service `service_name`; BOOTSTRAP_UNKNOWN_SERVICE if there is none. */
kern_return_t bootstrap_look_up(mach_port_t bp, const char *service_name, mach_port_t *sp);

/*
 * Bind `service_name` to a copy of the send right `sp` for as long as its port lives
 * (MACH_PORT_NULL undeclares a declared service nobody checked in). Deprecated on Darwin
 * since 10.5 in favour of bootstrap_check_in, and still working there and here.
 * BOOTSTRAP_NAME_IN_USE when the name is active.
 */
kern_return_t bootstrap_register(mach_port_t bp, char *service_name, mach_port_t sp)
    __attribute__((deprecated("use bootstrap_check_in")));

/*
 * A new bootstrap port whose names are its own, then its parent's (look-up falls back to
 * `bp`). It lives until `requestor_port` dies. BOOTSTRAP_NOT_PRIVILEGED without a live
 * requestor.
 */
kern_return_t bootstrap_subset(mach_port_t bp, mach_port_t requestor_port,
                               mach_port_t *subset_port);

/* The bootstrap port a subset falls back to (a root bootstrap port is its own parent). */
kern_return_t bootstrap_parent(mach_port_t bp, mach_port_t *parent_port);

/* Whether a service is active or waiting for its server (deprecated on Darwin). */
kern_return_t bootstrap_status(mach_port_t bp, char *service_name,
                               bootstrap_status_t *service_active)
    __attribute__((deprecated("call bootstrap_look_up or bootstrap_check_in directly")));

/* A sentence for a bootstrap_* return value (Mach errors get mach_error_string's). */
const char *bootstrap_strerror(kern_return_t r)
    __attribute__((__nothrow__, __pure__, __warn_unused_result__));

#ifdef __cplusplus
}
#endif

#endif
