/*
 * <mach/memory_entry.h> — umach (Darwin ABI): the memory_entry.defs call umach provides on a
 * named memory entry (mach_make_memory_entry_64's port).
 */
#ifndef _memory_entry_user_
#define _memory_entry_user_

#include <mach/kern_return.h>
#include <mach/mach_types.h>
#include <mach/memory_object_types.h>
#include <mach/vm_purgable.h>

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t mach_memory_entry_purgable_control(mem_entry_name_port_t mem_entry,
                                                 vm_purgable_t control, int *state);

#ifdef __cplusplus
}
#endif

#endif
