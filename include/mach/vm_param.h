/* <mach/vm_param.h> — umach (Darwin ABI). */
#ifndef _MACH_VM_PARAM_H_
#define _MACH_VM_PARAM_H_

#include <mach/vm_page_size.h>

#define mach_vm_round_page(x) (((mach_vm_offset_t)(x) + vm_page_mask) & ~((signed)vm_page_mask))
#define mach_vm_trunc_page(x) ((mach_vm_offset_t)(x) & ~((signed)vm_page_mask))
#define round_page_32(x) (((uint32_t)(x) + vm_page_mask) & ~((signed)vm_page_mask))
#define trunc_page_32(x) ((uint32_t)(x) & ~((signed)vm_page_mask))

#endif
