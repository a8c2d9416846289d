/*
 * um_guard.c — Mach-port guard exceptions.
 *
 * XNU raises EXC_GUARD when a task misuses a port: flavours up to kGUARD_EXC_MSG_FILTERED
 * (128) kill the task; the others are delivered or ignored depending on the task's policy,
 * and an ordinary process does not die of them. The core only classifies the violation and
 * hands it to the task's guard hook: the policy (abort the process, end one task of a world,
 * log, return the error) belongs to the front end.
 */
#include "um_kern.h"

const char *um_guard_flavor_name(uint32_t flavor)
{
    switch (flavor) {
    case kGUARD_EXC_DESTROY:
        return "DESTROY: a guarded receive right was destroyed without its guard";
    case kGUARD_EXC_MOD_REFS:
        return "MOD_REFS: user references of a protected right were changed";
    case kGUARD_EXC_SET_CONTEXT:
        return "SET_CONTEXT: the context of a strictly guarded port was changed";
    case kGUARD_EXC_UNGUARDED:
        return "UNGUARDED: the port is not guarded";
    case kGUARD_EXC_INCORRECT_GUARD:
        return "INCORRECT_GUARD: the guard value does not match the port's";
    case kGUARD_EXC_IMMOVABLE:
        return "IMMOVABLE: an immovable receive right was moved";
    case kGUARD_EXC_STRICT_REPLY:
        return "STRICT_REPLY: reply-port rules were broken";
    case kGUARD_EXC_INVALID_RIGHT:
        return "INVALID_RIGHT: the name does not hold the right the call needs";
    case kGUARD_EXC_INVALID_NAME:
        return "INVALID_NAME: the name does not exist";
    case kGUARD_EXC_INVALID_VALUE:
        return "INVALID_VALUE: user-reference delta out of range";
    case kGUARD_EXC_INVALID_ARGUMENT:
        return "INVALID_ARGUMENT: the port already has a context or guard";
    case kGUARD_EXC_RIGHT_EXISTS:
        return "RIGHT_EXISTS";
    case kGUARD_EXC_KERN_NO_SPACE:
        return "KERN_NO_SPACE";
    case kGUARD_EXC_KERN_FAILURE:
        return "KERN_FAILURE";
    case kGUARD_EXC_SEND_INVALID_REPLY:
        return "SEND_INVALID_REPLY";
    case kGUARD_EXC_SEND_INVALID_VOUCHER:
        return "SEND_INVALID_VOUCHER";
    case kGUARD_EXC_SEND_INVALID_RIGHT:
        return "SEND_INVALID_RIGHT";
    case kGUARD_EXC_RCV_INVALID_NAME:
        return "RCV_INVALID_NAME";
    case kGUARD_EXC_MOD_REFS_NON_FATAL:
        return "MOD_REFS: the last reference of a pinned send right cannot be released";
    default:
        return "guard violation";
    }
}

void um_guard_exception(um_space *space, mach_port_name_t name, uint64_t payload,
                        uint32_t flavor)
{
    um_task *task = space ? (space->guest ? space->guest : space->task) : NULL;
    if (task && task->hooks && task->hooks->guard)
        task->hooks->guard(task, name, payload, flavor, flavor <= kGUARD_EXC_MSG_FILTERED);
}
