/*
 * Declarations of <mach/mach_vm.h> for the macOS cross-check only: the SDK copy that zig
 * ships leaves this header out. On a Mac the SDK's own header is used (this directory is
 * searched after the SDK's).
 */
#ifndef _mach_vm_user_
#define _mach_vm_user_

#include <mach/mach_types.h>

kern_return_t mach_vm_allocate(vm_map_t target, mach_vm_address_t *address,
                               mach_vm_size_t size, int flags);
kern_return_t mach_vm_deallocate(vm_map_t target, mach_vm_address_t address,
                                 mach_vm_size_t size);

#endif
