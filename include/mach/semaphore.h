/*
 * <mach/semaphore.h> — umach (Darwin ABI): Mach semaphores. semaphore_create and
 * semaphore_destroy are in <mach/task.h>, as on Darwin.
 */
#ifndef _MACH_SEMAPHORE_H_
#define _MACH_SEMAPHORE_H_

#include <mach/port.h>
#include <mach/mach_types.h>
#include <mach/kern_return.h>
#include <mach/sync_policy.h>

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t semaphore_signal(semaphore_t semaphore);
kern_return_t semaphore_signal_all(semaphore_t semaphore);
kern_return_t semaphore_wait(semaphore_t semaphore);
kern_return_t semaphore_timedwait(semaphore_t semaphore, mach_timespec_t wait_time);
kern_return_t semaphore_timedwait_signal(semaphore_t wait_semaphore, semaphore_t signal_semaphore,
                                         mach_timespec_t wait_time);
kern_return_t semaphore_wait_signal(semaphore_t wait_semaphore, semaphore_t signal_semaphore);

#ifdef __cplusplus
}
#endif

#endif
