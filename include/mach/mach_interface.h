/* <mach/mach_interface.h> — umach (Darwin ABI): the MIG-generated call interfaces. */
#ifndef _MACH_INTERFACE_H_
#define _MACH_INTERFACE_H_

#include <mach/mach_port.h>
#include <mach/semaphore.h>
#include <mach/task.h>
#include <mach/thread_act.h>
#include <mach/vm_map.h>
#include <mach/memory_entry.h>

#endif
