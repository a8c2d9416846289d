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

#ifdef __cplusplus
extern "C" {
#endif

/* THREAD_KERNEL_PORT only: umach has no thread inspect or read ports. */
kern_return_t thread_get_special_port(thread_inspect_t thr_act, int which_port,
                                      mach_port_t *special_port);

#ifdef __cplusplus
}
#endif

#endif
