/*
 * exception.c — task/thread_set_exception_ports, _get_ and _swap_ (XNU: ipc_tt.c, served by
 * the task and thread MIG subsystems) for the caller's task, another task whose task port it
 * holds, or a thread whose thread port it holds. The slots are the kernel core's
 * (kern/um_exception.c); here the rights travel as the MIG messages would carry them.
 */
#include "../kern/um_kmsg.h"
#include "../kern/um_kobject_ports.h"
#include "um_api.h"

#include <mach/exception_types.h>

/* A MIG array of exception_mask_array_t and its siblings holds at most 32 entries. */
#define UM_EXC_ARRAY_MAX 32u

/*
 * Is `target` a send right to a live kernel object other than a `want` (a thread port given to
 * a task call, a task or host port to a thread call)? XNU's kernel server runs the routine
 * with a null task or thread (convert_port_to_task / _thread), which answers
 * KERN_INVALID_ARGUMENT. Plain ports, timers and the bootstrap port are not kernel objects.
 */
static bool exc_other_kobject(um_space *space, mach_port_name_t target, int want)
{
    um_entry *e = MACH_PORT_VALID(target) ? um_entry_lookup(space, target) : NULL;
    if (!e || !(e->type & MACH_PORT_TYPE_SEND))
        return false;
    const um_port *port = (const um_port *)e->object;
    return port->active && port->kotype != want && port->kotype != UM_KOT_NONE &&
           port->kotype != UM_KOT_TIMER && port->kotype != UM_KOT_BOOTSTRAP;
}

kern_return_t um_api_exception_ports_on(um_exc_action *task_actions, um_port *thread_port,
                                        um_exc_op op, exception_mask_t mask, um_port *port,
                                        exception_behavior_t behavior,
                                        thread_state_flavor_t flavor, uint32_t *masks,
                                        unsigned *count, um_port **handlers, int *behaviors,
                                        int *flavors)
{
    kern_return_t kr;
    if (!task_actions && !thread_port)
        kr = KERN_INVALID_ARGUMENT; /* XNU's routine given a null task or thread */
    else if (op == UM_EXC_OP_GET)
        kr = mask & ~(exception_mask_t)(EXC_MASK_ALL | EXC_MASK_CRASH | EXC_MASK_CORPSE_NOTIFY)
                 ? KERN_INVALID_ARGUMENT
                 : KERN_SUCCESS;
    else
        kr = um_exc_validate(mask, port, behavior, flavor);
    um_exc_action *actions = task_actions;
    if (kr == KERN_SUCCESS && thread_port) {
        /* A thread whose slots were never set has none to return. */
        actions = um_thread_exc_actions(thread_port, op != UM_EXC_OP_GET);
        if (!actions && op != UM_EXC_OP_GET)
            kr = KERN_RESOURCE_SHORTAGE;
    }
    if (kr != KERN_SUCCESS) {
        um_right_release(port, MACH_MSG_TYPE_PORT_SEND); /* the request is destroyed */
        return kr;
    }
    if (*count > UM_EXC_ARRAY_MAX)
        *count = UM_EXC_ARRAY_MAX;
    if (*count > UM_EXC_TYPES)
        *count = UM_EXC_TYPES; /* at most one entry per exception */
    if (op == UM_EXC_OP_SET)
        um_exc_set(actions, mask, port, behavior, flavor, NULL, NULL, NULL, NULL, NULL);
    else if (op == UM_EXC_OP_SWAP)
        um_exc_set(actions, mask, port, behavior, flavor, masks, count, handlers, behaviors,
                   flavors);
    else
        um_exc_get(actions, mask, masks, count, handlers, behaviors, flavors);
    um_right_release(port, MACH_MSG_TYPE_PORT_SEND); /* the slots took their own copies */
    if (op == UM_EXC_OP_SET)
        *count = 0;
    return KERN_SUCCESS;
}

kern_return_t um_api_exception_ports(um_task *self, bool thread, mach_port_name_t target,
                                     um_exc_op op, exception_mask_t mask, mach_port_t new_port,
                                     exception_behavior_t behavior, thread_state_flavor_t flavor,
                                     exception_mask_array_t masks,
                                     mach_msg_type_number_t *masksCnt,
                                     exception_handler_array_t handlers,
                                     exception_behavior_array_t behaviors,
                                     exception_flavor_array_t flavors)
{
    um_space *space = self->space;
    if (!space)
        return MACH_SEND_INVALID_DEST;
    /* The request's destination: a task port or a thread port (what the MIG send resolves). */
    um_port *thread_port = NULL;
    um_task *task = NULL;
    bool null_target = false;
    if (thread) {
        if (!MACH_PORT_VALID(target) ||
            um_kobject_translate_send(space, target, UM_KOT_THREAD, &thread_port) != KERN_SUCCESS)
            null_target = exc_other_kobject(space, target, UM_KOT_THREAD);
    } else if (!(task = um_task_target(self, target))) {
        null_target = exc_other_kobject(space, target, UM_KOT_TASK);
    }
    if (!thread_port && !task && !null_target)
        return MACH_SEND_INVALID_DEST;
    /* Then the new port, a copy of the caller's send right in the request. */
    um_port *port = NULL;
    if (op != UM_EXC_OP_GET) {
        mach_msg_return_t mr = um_kmsg_copyin_port(space, new_port, MACH_MSG_TYPE_COPY_SEND, &port);
        if (mr != MACH_MSG_SUCCESS)
            return mr;
    }
    unsigned count = *masksCnt;
    um_port *got[UM_EXC_TYPES];
    int got_behaviors[UM_EXC_TYPES], got_flavors[UM_EXC_TYPES];
    uint32_t got_masks[UM_EXC_TYPES];
    kern_return_t kr = um_api_exception_ports_on(task ? task->exc_actions : NULL, thread_port,
                                                 op, mask, port, behavior, flavor, got_masks,
                                                 &count, got, got_behaviors, got_flavors);
    if (kr != KERN_SUCCESS)
        return kr;
    if (op == UM_EXC_OP_SET)
        return KERN_SUCCESS;
    /* The reply: each old handler a send right of the caller's (move-send descriptors). */
    kr = KERN_SUCCESS;
    for (unsigned i = 0; i < count; i++) {
        mach_port_name_t name = MACH_PORT_NULL;
        if (got[i] == UM_PORT_DEAD)
            name = MACH_PORT_DEAD;
        else if (got[i] && um_right_copyout(space, got[i], MACH_MSG_TYPE_PORT_SEND, &name) !=
                               KERN_SUCCESS) {
            name = MACH_PORT_NULL; /* copyout destroyed the right */
            kr = MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE;
        }
        masks[i] = got_masks[i];
        handlers[i] = name;
        behaviors[i] = got_behaviors[i];
        flavors[i] = got_flavors[i];
    }
    *masksCnt = count;
    return kr;
}
