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
#include <mach/exception_types.h>

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t semaphore_create(task_t task, semaphore_t *semaphore, int policy, int value);
kern_return_t semaphore_destroy(task_t task, semaphore_t semaphore);
kern_return_t task_get_exc_guard_behavior(task_inspect_t task,
                                          task_exc_guard_behavior_t *behavior);
kern_return_t task_set_exc_guard_behavior(task_t task, task_exc_guard_behavior_t behavior);
/*
 * A send right to the port of each of the task's threads (the one mach_thread_self gives in
 * that thread), in out-of-line memory the caller frees with vm_deallocate (*act_listCnt
 * elements); the caller owns the rights.
 */
kern_return_t task_threads(task_inspect_t target_task, thread_act_array_t *act_list,
                           mach_msg_type_number_t *act_listCnt);
kern_return_t task_info(task_name_t target_task, task_flavor_t flavor, task_info_t task_info_out,
                        mach_msg_type_number_t *task_info_outCnt);
/*
 * Stop every thread of the task (its process; the caller's own task stops the caller too)
 * until as many task_resume as task_suspend calls: the suspend count, reported as task_info's
 * suspend_count. Each suspension gives the caller a send right to the task's resume port,
 * which task_resume takes back; once no task holds one (a suspender that ended), the task runs
 * again. task_resume of a task with no suspension: KERN_FAILURE.
 */
kern_return_t task_suspend(task_read_t target_task);
kern_return_t task_resume(task_read_t target_task);
/*
 * A suspension of its own (it does not count with task_suspend's): the token is a send-once
 * right to the task's resume port; task_resume2 sent through it ends the suspension, and so
 * does the token destroyed unused.
 */
kern_return_t task_suspend2(task_read_t target_task, task_suspension_token_t *suspend_token);
kern_return_t task_resume2(task_suspension_token_t suspend_token);
/* As on XNU, a task with a process (every task) is not ended by this call: KERN_FAILURE (end
 * the process with kill). */
kern_return_t task_terminate(task_t target_task);

/* A new send right from one of the task's special-port slots (MACH_PORT_NULL if empty). */
kern_return_t task_get_special_port(task_inspect_t task, int which_port,
                                    mach_port_t *special_port);
/* Replace a slot with a copy of the caller's send right (the caller keeps its own). */
kern_return_t task_set_special_port(task_t task, int which_port, mach_port_t special_port);

/*
 * The task's exception ports (XNU: ipc_tt.c). Each slot of an exception in the mask gets a copy
 * of new_port's send right (the caller keeps its own), the behaviour and the state flavour;
 * get returns, and swap returns before setting, up to *masksCnt entries of identical port,
 * behaviour and flavour merged under one mask, each handler a new send right of the caller's.
 */
kern_return_t task_set_exception_ports(task_t task, exception_mask_t exception_mask,
                                       mach_port_t new_port, exception_behavior_t behavior,
                                       thread_state_flavor_t new_flavor);
kern_return_t task_get_exception_ports(task_t task, exception_mask_t exception_mask,
                                       exception_mask_array_t masks,
                                       mach_msg_type_number_t *masksCnt,
                                       exception_handler_array_t old_handlers,
                                       exception_behavior_array_t old_behaviors,
                                       exception_flavor_array_t old_flavors);
kern_return_t task_swap_exception_ports(task_t task, exception_mask_t exception_mask,
                                        mach_port_t new_port, exception_behavior_t behavior,
                                        thread_state_flavor_t new_flavor,
                                        exception_mask_array_t masks,
                                        mach_msg_type_number_t *masksCnt,
                                        exception_handler_array_t old_handlers,
                                        exception_behavior_array_t old_behaviors,
                                        exception_flavor_array_t old_flavors);

#ifdef __cplusplus
}
#endif

#endif
