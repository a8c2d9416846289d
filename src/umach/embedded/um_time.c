/*
 * um_time.c — Mach absolute time on Linux: mach_absolute_time counts nanoseconds of
 * CLOCK_MONOTONIC (so the timebase is 1/1, as on Intel Macs), mach_continuous_time also
 * counts time asleep (CLOCK_BOOTTIME), mach_approximate_time is the cheap coarse clock, and
 * mach_wait_until sleeps to an absolute deadline (KERN_ABORTED when a signal handler runs,
 * as a THREAD_ABORTSAFE wait ends on Darwin). The clock services read the same clocks: the
 * system clock is mach_absolute_time's, the calendar CLOCK_REALTIME.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* CLOCK_BOOTTIME, CLOCK_MONOTONIC_COARSE */
#endif
#include "../um_export.h"
#include "um_embedded.h"
#include "um_suspend.h"

#include <mach/mach.h>
#include <mach/mach_time.h>

#include <errno.h>
#include <time.h>

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

UM_EXPORT uint64_t mach_absolute_time(void)
{
    UM_CALL_SCOPE;
    return clock_ns(CLOCK_MONOTONIC);
}

UM_EXPORT uint64_t mach_approximate_time(void)
{
    UM_CALL_SCOPE;
    return clock_ns(CLOCK_MONOTONIC_COARSE);
}

UM_EXPORT uint64_t mach_continuous_time(void)
{
    UM_CALL_SCOPE;
    return clock_ns(CLOCK_BOOTTIME);
}

UM_EXPORT uint64_t mach_continuous_approximate_time(void)
{
    UM_CALL_SCOPE;
    return clock_ns(CLOCK_BOOTTIME);
}

void um_embedded_clock_read(um_kernel *kernel, int clock_id, mach_timespec_t *now)
{
    (void)kernel;
    struct timespec ts = {0, 0};
    (void)clock_gettime(clock_id == UM_CLOCK_CALENDAR ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
    /* mach_timespec_t's seconds are 32 bits unsigned, as XNU truncates them. */
    now->tv_sec = (unsigned int)ts.tv_sec;
    now->tv_nsec = (clock_res_t)ts.tv_nsec;
}

UM_EXPORT kern_return_t mach_timebase_info(mach_timebase_info_t info)
{
    UM_CALL_SCOPE;
    info->numer = 1;
    info->denom = 1;
    return KERN_SUCCESS;
}

UM_EXPORT kern_return_t mach_wait_until(uint64_t deadline)
{
    UM_CALL_SCOPE;
    struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                          .tv_nsec = (long)(deadline % 1000000000u)};
    int rc;
    sig_atomic_t mark;
    do { /* a suspension's signal ends no wait */
        mark = um_suspend_runs;
        rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    } while (rc == EINTR && um_suspend_interrupted_only(mark));
    return rc == EINTR ? KERN_ABORTED : KERN_SUCCESS;
}
