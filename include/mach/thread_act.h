/* <mach/thread_act.h> — umach (Darwin ABI): the thread calls umach answers. */
#ifndef _thread_act_user_
#define _thread_act_user_

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
#include <mach/mach_types.h>
#include <mach/exception_types.h>
#include <mach/thread_status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* THREAD_BASIC_INFO, THREAD_IDENTIFIER_INFO and THREAD_EXTENDED_INFO of a thread of the
 * calling process (<mach/thread_info.h>). */
kern_return_t thread_info(thread_inspect_t target_act, thread_flavor_t flavor,
                          thread_info_t thread_info_out,
                          mach_msg_type_number_t *thread_info_outCnt);

/*
 * Suspend and resume a thread of the calling process, with XNU's suspend count: thread_suspend
 * returns once the thread is stopped (a thread suspending itself stops at once, until another
 * thread resumes it); thread_resume at count 0 is KERN_FAILURE. Another task's thread (a
 * world): KERN_INVALID_ARGUMENT. See docs/porting.md (the signal umach reserves for it).
 */
kern_return_t thread_suspend(thread_read_t target_act);
kern_return_t thread_resume(thread_read_t target_act);

/*
 * The general registers of a thread of the calling process: x86_THREAD_STATE64 and
 * x86_THREAD_STATE on x86_64, ARM_THREAD_STATE64 on arm64 (<mach/thread_status.h>); where a
 * suspended thread stopped, a snapshot of a running one.
 */
kern_return_t thread_get_state(thread_read_t target_act, thread_state_flavor_t flavor,
                               thread_state_t old_state, mach_msg_type_number_t *old_stateCnt);

/*
 * New general registers for a thread of the calling process (the flavours thread_get_state
 * answers, each with its exact count; the program counter and stack pointer in user space).
 * They are put in place when the thread leaves umach: at once for a thread stopped or running
 * in the program's own code (a suspended one runs them when resumed), when the call ends for a
 * thread inside one of umach's calls (a mach_msg wait) or waiting for its fault's exception
 * answer, and on return from this call for the calling thread, which then never sees it
 * return; as XNU puts a new state in place when the thread returns to user mode. See
 * docs/porting.md.
 */
kern_return_t thread_set_state(thread_act_t target_act, thread_state_flavor_t flavor,
                               thread_state_t new_state, mach_msg_type_number_t new_stateCnt);

/* THREAD_KERNEL_PORT only: umach has no thread inspect or read ports. */
kern_return_t thread_get_special_port(thread_inspect_t thr_act, int which_port,
                                      mach_port_t *special_port);

/* The thread's exception ports: as task_set/get/swap_exception_ports (<mach/task.h>). */
kern_return_t thread_set_exception_ports(thread_act_t thread, exception_mask_t exception_mask,
                                         mach_port_t new_port, exception_behavior_t behavior,
                                         thread_state_flavor_t new_flavor);
kern_return_t thread_get_exception_ports(thread_act_t thread, exception_mask_t exception_mask,
                                         exception_mask_array_t masks,
                                         mach_msg_type_number_t *masksCnt,
                                         exception_handler_array_t old_handlers,
                                         exception_behavior_array_t old_behaviors,
                                         exception_flavor_array_t old_flavors);
kern_return_t thread_swap_exception_ports(thread_act_t thread, exception_mask_t exception_mask,
                                          mach_port_t new_port, exception_behavior_t behavior,
                                          thread_state_flavor_t new_flavor,
                                          exception_mask_array_t masks,
                                          mach_msg_type_number_t *masksCnt,
                                          exception_handler_array_t old_handlers,
                                          exception_behavior_array_t old_behaviors,
                                          exception_flavor_array_t old_flavors);

/* A scheduling hint for a thread of the calling process, and what it is (<mach/thread_policy.h>):
 * kept and reported as XNU reports it; docs/porting.md says what reaches Linux. */
kern_return_t thread_policy_set(thread_act_t thread, thread_policy_flavor_t flavor,
                                thread_policy_t policy_info, mach_msg_type_number_t policy_infoCnt);
kern_return_t thread_policy_get(thread_inspect_t thread, thread_policy_flavor_t flavor,
                                thread_policy_t policy_info, mach_msg_type_number_t *policy_infoCnt,
                                boolean_t *get_default);

#ifdef __cplusplus
}
#endif

#endif
