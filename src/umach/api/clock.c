/*
 * clock.c — what the clock services answer (XNU's clock_oldops.c: the system clock and the
 * calendar), for the direct calls (embedded/um_clock.c) and a clock port's MIG server
 * (api/kobject_server.c) alike. The time itself is the front end's (um_kernel_ops.clock_read).
 */
#include "um_api.h"

#include <mach/clock_types.h>

/* The resolution XNU reports for every clock: 10 ms, whatever the hardware's. */
#define UM_CLOCK_RES ((clock_res_t)(NSEC_PER_SEC / 100))

kern_return_t um_api_clock_get_time(const um_clock *clock, mach_timespec_t *cur_time)
{
    const um_kernel *kernel = clock->kernel;
    if (!kernel->ops->clock_read)
        return KERN_FAILURE;
    kernel->ops->clock_read(clock->kernel, clock->id, cur_time);
    return KERN_SUCCESS;
}

kern_return_t um_api_clock_get_attributes(const um_clock *clock, clock_flavor_t flavor,
                                          clock_attr_t attr, mach_msg_type_number_t *count)
{
    /* MIG's server hands the routine the smaller of the caller's room and the type's bound. */
    if (*count == 0)
        return KERN_FAILURE;
    clock_res_t res;
    switch (flavor) {
    case CLOCK_GET_TIME_RES:
        res = UM_CLOCK_RES;
        break;
    case CLOCK_ALARM_CURRES:
    case CLOCK_ALARM_MINRES:
    case CLOCK_ALARM_MAXRES:
        /* The system clock's alarms are as fine as its time; the calendar has none. */
        res = clock->id == UM_CLOCK_SYSTEM ? UM_CLOCK_RES : 0;
        break;
    default:
        return KERN_INVALID_VALUE;
    }
    attr[0] = res;
    *count = 1;
    return KERN_SUCCESS;
}
