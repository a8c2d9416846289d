/*
 * <mach/clock.h> — umach (Darwin ABI): the clock services (clock.defs, subsystem 1000) a
 * program reaches through host_get_clock_service (<mach/mach_host.h>). As on Darwin,
 * <mach/mach.h> does not include it: include it yourself.
 *
 * clock_alarm (1002) is not provided: see docs/porting.md.
 */
#ifndef _clock_user_
#define _clock_user_

/* What MIG-generated user headers include on Darwin. */
#include <string.h>
#include <Availability.h>
#include <mach/ndr.h>
#include <mach/boolean.h>
#include <mach/kern_return.h>
#include <mach/notify.h>
#include <mach/mach_types.h>
#include <mach/message.h>
#include <mach/mig.h>
#include <mach/mig_errors.h>
#include <mach/port.h>
#include <mach/std_types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The clock's time: SYSTEM_CLOCK since boot (mach_absolute_time's base), CALENDAR_CLOCK since
 * the epoch. */
kern_return_t clock_get_time(clock_serv_t clock_serv, mach_timespec_t *cur_time);

/* One clock_res_t of `flavor` (CLOCK_GET_TIME_RES, CLOCK_ALARM_CURRES / MINRES / MAXRES);
 * *clock_attrCnt is the room in clock_attr on the way in (0: KERN_FAILURE), 1 on the way out. */
kern_return_t clock_get_attributes(clock_serv_t clock_serv, clock_flavor_t flavor,
                                   clock_attr_t clock_attr, mach_msg_type_number_t *clock_attrCnt);

#ifdef __cplusplus
}
#endif

#endif
