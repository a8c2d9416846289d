/*
 * um_exception.c — exception ports: the slots of a task (um_task.exc_actions) and of a thread
 * (its port's kobject), as XNU's ipc_tt.c keeps them for task/thread_set_exception_ports,
 * _get_ and _swap_. Each slot holds its own send right; what get and swap return are copies.
 * Raising an exception (sending to a slot's port and waiting for the answer) is the front end's.
 */
#include "um_kern.h"
#include "um_kobject_ports.h"

#include <mach/exception_types.h>
#include <mach/thread_status.h>

#include <stdlib.h>

_Static_assert(UM_EXC_TYPES == EXC_TYPES_COUNT, "one slot per exception number");

/* The exceptions a slot exists for (XNU's EXC_MASK_VALID, which Darwin keeps kernel-private). */
#define UM_EXC_MASK_VALID (EXC_MASK_ALL | EXC_MASK_CRASH | EXC_MASK_CORPSE_NOTIFY)

/* XNU's VALID_THREAD_STATE_FLAVOR of the machine. */
static bool flavor_valid(int flavor)
{
    switch (flavor) {
#if defined(__x86_64__)
    case x86_THREAD_STATE32:
    case x86_FLOAT_STATE32:
    case x86_EXCEPTION_STATE32:
    case x86_DEBUG_STATE32:
    case x86_THREAD_STATE64:
    case x86_THREAD_FULL_STATE64:
    case x86_FLOAT_STATE64:
    case x86_EXCEPTION_STATE64:
    case x86_DEBUG_STATE64:
    case x86_THREAD_STATE:
    case x86_FLOAT_STATE:
    case x86_EXCEPTION_STATE:
    case x86_DEBUG_STATE:
    case x86_AVX_STATE32:
    case x86_AVX_STATE64:
    case x86_AVX_STATE:
    case x86_AVX512_STATE32:
    case x86_AVX512_STATE64:
    case x86_AVX512_STATE:
    case x86_PAGEIN_STATE:
    case x86_INSTRUCTION_STATE:
    case x86_LAST_BRANCH_STATE:
    case THREAD_STATE_NONE:
        return true;
#elif defined(__aarch64__)
    case ARM_THREAD_STATE:
    case ARM_VFP_STATE:
    case ARM_EXCEPTION_STATE:
    case ARM_DEBUG_STATE:
    case THREAD_STATE_NONE:
    case ARM_THREAD_STATE32:
    case ARM_THREAD_STATE64:
    case ARM_EXCEPTION_STATE64:
    case ARM_EXCEPTION_STATE64_V2:
    case ARM_NEON_STATE:
    case ARM_NEON_STATE64:
    case ARM_DEBUG_STATE32:
    case ARM_DEBUG_STATE64:
    case ARM_PAGEIN_STATE:
        return true;
#endif
    default:
        return false;
    }
}

kern_return_t um_exc_validate(uint32_t mask, um_port *new_port, int behavior, int flavor)
{
    if (mask & ~(uint32_t)UM_EXC_MASK_VALID)
        return KERN_INVALID_ARGUMENT;
    int plain = (int)((uint32_t)behavior & ~(uint32_t)MACH_EXCEPTION_MASK);
    if (UM_PORT_VALID(new_port)) {
        switch (plain) {
        case EXCEPTION_DEFAULT:
        case EXCEPTION_STATE:
        case EXCEPTION_STATE_IDENTITY:
        case EXCEPTION_IDENTITY_PROTECTED:
        case EXCEPTION_STATE_IDENTITY_PROTECTED:
            break;
        default:
            return KERN_INVALID_ARGUMENT;
        }
    }
    if (flavor != 0 && !flavor_valid(flavor))
        return KERN_INVALID_ARGUMENT;
    if ((plain == EXCEPTION_IDENTITY_PROTECTED ||
         ((uint32_t)behavior & MACH_EXCEPTION_BACKTRACE_PREFERRED)) &&
        !((uint32_t)behavior & MACH_EXCEPTION_CODES))
        return KERN_INVALID_ARGUMENT;
    return KERN_SUCCESS;
}

/* A new naked send right to what a slot holds (XNU's exception_port_copy_send): a dead port
 * is MACH_PORT_DEAD's. */
static um_port *slot_copy(um_port *port)
{
    if (!UM_PORT_VALID(port))
        return port;
    if (!port->active)
        return UM_PORT_DEAD;
    um_port_copy_send(port);
    return port;
}

/*
 * Add slot `i`'s action to the returned list: merged into an entry of identical port,
 * behaviour and flavour, else a new one while fewer than `max` are filled (a copy of its
 * right). `cmp[j]` is what entry j's port is compared with: get compares the slots' own
 * pointers, swap the copies it returns (XNU's two loops differ there for a dead port).
 */
static void list_add(const um_exc_action *a, unsigned i, uint32_t *masks, unsigned *count,
                     unsigned max, um_port **ports, int *behaviors, int *flavors, um_port **cmp)
{
    for (unsigned j = 0; j < *count; j++) {
        if (cmp[j] == a->port && behaviors[j] == a->behavior && flavors[j] == a->flavor) {
            masks[j] |= 1u << i;
            return;
        }
    }
    if (*count >= max)
        return;
    masks[*count] = 1u << i;
    ports[*count] = slot_copy(a->port);
    if (cmp != ports)
        cmp[*count] = a->port;
    behaviors[*count] = a->behavior;
    flavors[*count] = a->flavor;
    (*count)++;
}

void um_exc_get(const um_exc_action *actions, uint32_t mask, uint32_t *masks, unsigned *max,
                um_port **ports, int *behaviors, int *flavors)
{
    unsigned count = 0;
    um_port *held[UM_EXC_TYPES];
    for (unsigned i = FIRST_EXCEPTION; actions && i < UM_EXC_TYPES; i++)
        if (mask & (1u << i))
            list_add(&actions[i], i, masks, &count, *max, ports, behaviors, flavors, held);
    *max = count;
}

void um_exc_set(um_exc_action *actions, uint32_t mask, um_port *new_port, int behavior, int flavor,
                uint32_t *masks, unsigned *max, um_port **ports, int *behaviors, int *flavors)
{
    unsigned count = 0;
    for (unsigned i = FIRST_EXCEPTION; i < UM_EXC_TYPES; i++) {
        if (max && count >= *max)
            break; /* swap: XNU's walk ends when the caller's arrays are full */
        if (!(mask & (1u << i)))
            continue;
        um_exc_action *a = &actions[i];
        if (max)
            list_add(a, i, masks, &count, *max, ports, behaviors, flavors, ports);
        um_port *old = a->port;
        a->port = slot_copy(new_port);
        a->behavior = behavior;
        a->flavor = flavor;
        um_right_release(old, MACH_MSG_TYPE_PORT_SEND);
    }
    if (max)
        *max = count;
}

void um_exc_release_all(um_exc_action *actions)
{
    for (unsigned i = 0; actions && i < UM_EXC_TYPES; i++) {
        um_port *old = actions[i].port;
        actions[i].port = NULL;
        um_right_release(old, MACH_MSG_TYPE_PORT_SEND);
    }
}

void um_exc_inherit(um_exc_action *to, const um_exc_action *from, bool reachable)
{
    for (unsigned i = 0; i < UM_EXC_TYPES; i++) {
        to[i].behavior = from[i].behavior;
        to[i].flavor = from[i].flavor;
        um_port *port = from[i].port;
        to[i].port = !UM_PORT_VALID(port) ? port : reachable ? slot_copy(port) : UM_PORT_DEAD;
    }
}

um_exc_action *um_thread_exc_actions(um_port *thread_port, bool create)
{
    if (thread_port->kotype != UM_KOT_THREAD)
        return NULL;
    um_exc_action *actions = um_rare(thread_port)->kobject;
    if (actions || !create)
        return actions;
    um_port_rare *rare = um_port_rare_get(thread_port);
    if (!rare)
        return NULL;
    rare->kobject = actions = calloc(UM_EXC_TYPES, sizeof *actions);
    return actions;
}

bool um_exc_port_set(um_task *task, um_port *thread_port, int exception)
{
    if (exception <= 0 || exception >= UM_EXC_TYPES)
        return false;
    const um_exc_action *t = thread_port ? um_thread_exc_actions(thread_port, false) : NULL;
    if (t && UM_PORT_VALID(t[exception].port) && t[exception].port->active)
        return true;
    um_port *p = task->exc_actions[exception].port;
    return UM_PORT_VALID(p) && p->active;
}

void um_thread_exc_terminate(um_port *thread_port)
{
    um_exc_release_all(um_thread_exc_actions(thread_port, false));
}
