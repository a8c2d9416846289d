/* <mach/mach_init.h> — umach (Darwin ABI): the task's own port and the page size. */
#ifndef _MACH_INIT_
#define _MACH_INIT_

#include <mach/mach_types.h>
#include <mach/vm_page_size.h>

#ifdef __cplusplus
extern "C" {
#endif

extern mach_port_t mach_host_self(void);
extern mach_port_t mach_thread_self(void);
extern kern_return_t host_page_size(host_t host, vm_size_t *out_page_size);

extern mach_port_t mach_task_self_;
#define mach_task_self() mach_task_self_
#define current_task() mach_task_self()

/* The task's bootstrap port, read from TASK_BOOTSTRAP_PORT when the process starts. */
extern mach_port_t bootstrap_port;

#ifdef __cplusplus
}
#endif

#include <mach/mach_traps.h>

#endif
