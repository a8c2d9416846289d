/*
 * task.c — task_info for the task's identity tokens, the special ports of the caller's task or
 * of another task whose task port it holds, and the data symbols Darwin's libsystem defines
 * for Mach programs (NDR_record, the kernel's tokens).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "../kern/um_kmsg.h"
#include "../um_export.h"
#include "um_api.h"

#include <mach/mach.h>
#include <mach/ndr.h>
#include <mach/task_info.h>
#include <mach/task_special_ports.h>

#include <string.h>

UM_EXPORT NDR_record_t NDR_record = {
    0, /* mig_vers */
    0, /* if_vers */
    0, /* reserved1 */
    0, /* mig_encoding */
    NDR_INT_LITTLE_ENDIAN,
    NDR_CHAR_ASCII,
    NDR_FLOAT_IEEE,
    0, /* reserved2 */
};

UM_EXPORT const security_token_t KERNEL_SECURITY_TOKEN = KERNEL_SECURITY_TOKEN_VALUE;
UM_EXPORT const audit_token_t KERNEL_AUDIT_TOKEN = KERNEL_AUDIT_TOKEN_VALUE;

bool um_api_task_check(um_task *self, mach_port_name_t task)
{
    return um_task_space(self, task) != NULL;
}

kern_return_t um_api_task_info(um_task *self, task_name_t target_task, task_flavor_t flavor,
                               task_info_t task_info_out, mach_msg_type_number_t *task_info_outCnt)
{
    if (!um_task_space(self, target_task))
        return MACH_SEND_INVALID_DEST;
    security_token_t sec = self->sec;
    audit_token_t audit = self->audit;
    switch (flavor) {
    case TASK_SECURITY_TOKEN:
        if (*task_info_outCnt < TASK_SECURITY_TOKEN_COUNT)
            return KERN_INVALID_ARGUMENT;
        memcpy(task_info_out, &sec, sizeof sec);
        *task_info_outCnt = TASK_SECURITY_TOKEN_COUNT;
        return KERN_SUCCESS;
    case TASK_AUDIT_TOKEN:
        if (*task_info_outCnt < TASK_AUDIT_TOKEN_COUNT)
            return KERN_INVALID_ARGUMENT;
        memcpy(task_info_out, &audit, sizeof audit);
        *task_info_outCnt = TASK_AUDIT_TOKEN_COUNT;
        return KERN_SUCCESS;
    default:
        /* Other flavours describe scheduler and VM state that umach does not model. */
        return KERN_INVALID_ARGUMENT;
    }
}

/* ---- special ports (XNU: ipc_tt.c) ------------------------------------------------------------ */

/* Is `which` a slot the task keeps (not one that names the task itself)? */
static bool special_slot(int which)
{
    switch (which) {
    case TASK_HOST_PORT:
    case TASK_BOOTSTRAP_PORT:
    case TASK_ACCESS_PORT:
    case TASK_DEBUG_CONTROL_PORT:
    case TASK_RESOURCE_NOTIFY_PORT:
        return true;
    default:
        return false;
    }
}

/*
 * The calls below act on the task `task` names: the caller's own, or another task whose task
 * port the caller holds (in a world), as XNU's MIG server does for any task port. A right
 * travels in the caller's space either way: the one set comes from it, the one got goes to it.
 */
kern_return_t um_api_task_get_special_port(um_task *self, task_inspect_t task, int which_port,
                                           mach_port_t *special_port)
{
    um_task *target = um_task_target(self, task);
    if (!target)
        return MACH_SEND_INVALID_DEST;
    um_port *port;
    if (which_port == TASK_KERNEL_PORT)
        port = target->task_port;
    else if (special_slot(which_port))
        port = target->special_ports[which_port]; /* the host slot stays empty: mach_host_self */
    else
        return KERN_INVALID_ARGUMENT; /* NAME/INSPECT/READ: umach has no lesser task ports */
    mach_port_name_t name = MACH_PORT_NULL;
    if (port == UM_PORT_DEAD || (port && !port->active)) {
        name = MACH_PORT_DEAD;
    } else if (port) {
        /* A new send right travels back in the reply, as from the MIG routine. */
        um_port_copy_send(port);
        if (um_right_copyout(self->space, port, MACH_MSG_TYPE_PORT_SEND, &name) != KERN_SUCCESS)
            return MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE; /* copyout destroyed the right */
    }
    *special_port = name;
    return KERN_SUCCESS;
}

kern_return_t um_api_task_set_special_port(um_task *self, task_t task, int which_port,
                                           mach_port_t special_port)
{
    um_task *target = um_task_target(self, task);
    if (!target)
        return MACH_SEND_INVALID_DEST;
    /* The MIG request carries a copy of the caller's send right. */
    um_space *space = self->space;
    um_port *port = NULL;
    if (MACH_PORT_VALID(special_port)) {
        kern_return_t kr = um_right_copyin(space, special_port, MACH_MSG_TYPE_COPY_SEND,
                                           UM_COPYIN_DEADOK, &port);
        if (kr != KERN_SUCCESS) {
            if (kr == KERN_INVALID_RIGHT)
                um_guard_exception(space, special_port, 0, kGUARD_EXC_SEND_INVALID_RIGHT);
            return MACH_SEND_INVALID_RIGHT;
        }
    } else if (special_port == MACH_PORT_DEAD) {
        port = UM_PORT_DEAD;
    }
    kern_return_t kr;
    um_port **slot = special_slot(which_port) ? &target->special_ports[which_port] : NULL;
    if (which_port == TASK_KERNEL_PORT || which_port == TASK_HOST_PORT) {
        kr = KERN_NO_ACCESS;
    } else if (!slot) {
        kr = KERN_INVALID_ARGUMENT;
    } else if (which_port == TASK_ACCESS_PORT && UM_PORT_VALID(*slot)) {
        kr = KERN_NO_ACCESS; /* never overwritten once set */
    } else {
        um_port *old = *slot;
        *slot = port;
        port = old;
        kr = KERN_SUCCESS;
    }
    um_right_release(port, MACH_MSG_TYPE_PORT_SEND); /* the old slot, or a refused right */
    return kr;
}
