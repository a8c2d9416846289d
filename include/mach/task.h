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

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t task_info(task_name_t target_task, task_flavor_t flavor, task_info_t task_info_out,
                        mach_msg_type_number_t *task_info_outCnt);

#ifdef __cplusplus
}
#endif

#endif
