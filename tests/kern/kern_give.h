/*
 * kern_give.h — for the tests of tests/kern, which run two or more tasks of the embedded
 * kernel in one process: hand a right from one task's space to another's, as a message
 * would carry it.
 */
#ifndef KERN_GIVE_H
#define KERN_GIVE_H

#include "kern/um_kern.h"

/*
 * Move a right of `from`'s space (per `disp`, which may make or copy it) into `to`'s space;
 * returns its name there, or MACH_PORT_NULL. Conditions: the world is locked.
 */
static inline mach_port_name_t kern_give(um_task *from, mach_port_name_t name,
                                         mach_msg_type_name_t disp, um_task *to)
{
    um_port *port = NULL;
    if (um_right_copyin(from->space, name, disp, 0, &port) != KERN_SUCCESS || !port)
        return MACH_PORT_NULL;
    mach_port_name_t out = MACH_PORT_NULL;
    if (um_right_copyout(to->space, port, um_copyin_type(disp), &out) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return out;
}

#endif
