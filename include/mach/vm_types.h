/* <mach/vm_types.h> — umach (Darwin ABI, LP64): basic integer and VM types. */
#ifndef _MACH_VM_TYPES_H_
#define _MACH_VM_TYPES_H_

#include <stdint.h>

typedef unsigned int natural_t;
typedef int integer_t;

typedef uintptr_t vm_offset_t;
typedef uintptr_t vm_size_t;
typedef uint64_t mach_vm_address_t;
typedef uint64_t mach_vm_offset_t;
typedef uint64_t mach_vm_size_t;
typedef uint64_t vm_map_offset_t;
typedef uint64_t vm_map_address_t;
typedef uint64_t vm_map_size_t;
typedef uintptr_t vm_address_t;
/* Darwin's arm64 header declares the legacy 32-bit VM types; on x86_64 they are the kernel's. */
#if defined(__aarch64__) || defined(__arm64__)
typedef uint32_t vm32_offset_t;
typedef uint32_t vm32_address_t;
typedef uint32_t vm32_size_t;
#endif
typedef vm_offset_t pointer_t;

typedef unsigned int __umach_port_t;
typedef __umach_port_t vm_map_t;
typedef __umach_port_t vm_map_read_t;
typedef __umach_port_t vm_map_inspect_t;
typedef __umach_port_t upl_t;
typedef __umach_port_t vm_named_entry_t;

#define VM_MAP_NULL ((vm_map_t)0)
#define VM_MAP_INSPECT_NULL ((vm_map_inspect_t)0)
#define VM_MAP_READ_NULL ((vm_map_read_t)0)

#endif
