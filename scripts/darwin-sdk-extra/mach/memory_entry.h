/*
 * Declarations of <mach/memory_entry.h> for the macOS cross-check only: the SDK copy that zig
 * ships leaves this header out. On a Mac the SDK's own header is used (this directory is
 * searched after the SDK's).
 */
#ifndef _memory_entry_user_
#define _memory_entry_user_

#include <mach/mach_types.h>
#include <mach/vm_purgable.h>

kern_return_t mach_memory_entry_purgable_control(mem_entry_name_port_t mem_entry,
                                                 vm_purgable_t control, int *state);

#endif
