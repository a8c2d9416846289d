/*
 * <mach/mach_traps.h> — umach (Darwin ABI): the Mach traps umach provides as functions.
 * The semaphore and timer traps are behind <mach/semaphore.h> and <mach/mk_timer.h>.
 */
#ifndef _MACH_MACH_TRAPS_H_
#define _MACH_MACH_TRAPS_H_

#include <stdint.h>
#include <mach/std_types.h>
#include <mach/mach_types.h>
#include <mach/kern_return.h>
#include <mach/port.h>
#include <mach/vm_types.h>
#include <mach/clock_types.h>
#include <mach/message.h>

#ifdef __cplusplus
extern "C" {
#endif

mach_port_name_t mach_reply_port(void);
mach_port_name_t thread_self_trap(void);
mach_port_name_t host_self_trap(void);
mach_port_name_t task_self_trap(void);

/* Yield, or wait option_time (<mach/thread_switch.h>). */
kern_return_t thread_switch(mach_port_name_t thread_name, int option,
                            mach_msg_timeout_t option_time);

#ifdef __cplusplus
}
#endif

#endif
