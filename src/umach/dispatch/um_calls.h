/* um_calls.h — what public functions outside dispatch/ need from the dispatcher. */
#ifndef UM_CALLS_H
#define UM_CALLS_H

#include <mach/mach_types.h>
#include <stdbool.h>

/* Is `task` a send right to the calling task's own port? (vm calls check their task so) */
bool um_call_task_check(mach_port_name_t task);

/* Is `name` a send right of the calling task's to an active port of kind `kotype` (a UM_KOT_*
 * of kern/um_kern.h; UM_KOT_NONE: an ordinary port)? */
bool um_call_kobject_is(mach_port_name_t name, unsigned kotype);

/* Is `name` a send right of the calling task's to an active kernel port that is no task's (a
 * thread, the host, a clock, a semaphore, a memory entry), whose routines for a task answer as
 * XNU's do for a null task? */
bool um_call_kernel_port(mach_port_name_t name);

#endif
