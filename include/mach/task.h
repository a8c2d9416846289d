/* <mach/task.h> — umach (Darwin ABI): task calls. */
#ifndef _task_user_
#define _task_user_

/* What MIG-generated user headers include on Darwin. */
#include <string.h>
#include <Availability.h>
#include <mach/ndr.h>
#include <mach/boolean.h>
#include <mach/kern_return.h>
#include <mach/notify.h>
#include <mach/mig.h>
#include <mach/mig_errors.h>
#include <mach/std_types.h>
#include <mach_debug/mach_debug_types.h>
#include <mach/mach_types.h>
#include <mach/task_info.h>
#include <mach/task_special_ports.h>

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t semaphore_create(task_t task, semaphore_t *semaphore, int policy, int value);
kern_return_t semaphore_destroy(task_t task, semaphore_t semaphore);
kern_return_t task_get_exc_guard_behavior(task_inspect_t task,
                                          task_exc_guard_behavior_t *behavior);
kern_return_t task_set_exc_guard_behavior(task_t task, task_exc_guard_behavior_t behavior);
kern_return_t task_info(task_name_t target_task, task_flavor_t flavor, task_info_t task_info_out,
                        mach_msg_type_number_t *task_info_outCnt);

/* A new send right from one of the task's special-port slots (MACH_PORT_NULL if empty). */
kern_return_t task_get_special_port(task_inspect_t task, int which_port,
                                    mach_port_t *special_port);
/* Replace a slot with a copy of the caller's send right (the caller keeps its own). */
kern_return_t task_set_special_port(task_t task, int which_port, mach_port_t special_port);

#ifdef __cplusplus
}
#endif

#endif
