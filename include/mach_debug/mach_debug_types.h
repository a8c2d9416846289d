/*
 * <mach_debug/mach_debug_types.h> — umach (Darwin ABI): the debugging types MIG output for
 * mach_port.defs and task.defs names. Only the IPC ones are carried (mach_debug/ipc_info.h);
 * the zone, page, hash and lock-group statistics describe kernel internals umach has not.
 */
#ifndef _MACH_DEBUG_MACH_DEBUG_TYPES_H_
#define _MACH_DEBUG_MACH_DEBUG_TYPES_H_

#include <mach_debug/ipc_info.h>

typedef char symtab_name_t[32];

#define KOBJECT_DESCRIPTION_LENGTH 512
typedef char kobject_description_t[KOBJECT_DESCRIPTION_LENGTH];

#endif
