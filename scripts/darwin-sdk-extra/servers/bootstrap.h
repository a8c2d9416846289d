/*
 * Declarations of <servers/bootstrap.h> for the macOS cross-check only: the SDK copy that zig
 * ships leaves this header out (libSystem's stubs export the functions). On a Mac the SDK's
 * own header is used (this directory is searched after the SDK's).
 */
#ifndef __BOOTSTRAP_H__
#define __BOOTSTRAP_H__

#include <mach/std_types.h>
#include <mach/message.h>
#include <sys/types.h>

#define BOOTSTRAP_MAX_NAME_LEN 128
#define BOOTSTRAP_MAX_CMD_LEN 512
typedef char name_t[BOOTSTRAP_MAX_NAME_LEN];
typedef char cmd_t[BOOTSTRAP_MAX_CMD_LEN];
typedef int bootstrap_status_t;

#define BOOTSTRAP_MAX_LOOKUP_COUNT 20
#define BOOTSTRAP_SUCCESS 0
#define BOOTSTRAP_NOT_PRIVILEGED 1100
#define BOOTSTRAP_NAME_IN_USE 1101
#define BOOTSTRAP_UNKNOWN_SERVICE 1102
#define BOOTSTRAP_SERVICE_ACTIVE 1103
#define BOOTSTRAP_BAD_COUNT 1104
#define BOOTSTRAP_NO_MEMORY 1105
#define BOOTSTRAP_NO_CHILDREN 1106
#define BOOTSTRAP_STATUS_INACTIVE 0
#define BOOTSTRAP_STATUS_ACTIVE 1
#define BOOTSTRAP_STATUS_ON_DEMAND 2

extern mach_port_t bootstrap_port;

kern_return_t bootstrap_subset(mach_port_t bp, mach_port_t requestor_port,
                               mach_port_t *subset_port);
kern_return_t bootstrap_parent(mach_port_t bp, mach_port_t *parent_port);
kern_return_t bootstrap_register(mach_port_t bp, name_t service_name, mach_port_t sp)
    __attribute__((deprecated));
kern_return_t bootstrap_check_in(mach_port_t bp, const name_t service_name, mach_port_t *sp);
kern_return_t bootstrap_look_up(mach_port_t bp, const name_t service_name, mach_port_t *sp);
kern_return_t bootstrap_status(mach_port_t bp, name_t service_name,
                               bootstrap_status_t *service_active) __attribute__((deprecated));
const char *bootstrap_strerror(kern_return_t r)
    __attribute__((__nothrow__, __pure__, __warn_unused_result__));

#endif
