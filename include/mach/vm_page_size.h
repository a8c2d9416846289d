/* <mach/vm_page_size.h> — umach (Darwin ABI): the page size variables. */
#ifndef _MACH_VM_PAGE_SIZE_H_
#define _MACH_VM_PAGE_SIZE_H_

#include <mach/vm_types.h>

#ifdef __cplusplus
extern "C" {
#endif

extern vm_size_t vm_page_size;
extern vm_size_t vm_page_mask;
extern int vm_page_shift;
extern vm_size_t vm_kernel_page_size;
extern vm_size_t vm_kernel_page_mask;
extern int vm_kernel_page_shift;

#define trunc_page(x) ((x) & (~(vm_page_size - 1)))
#define round_page(x) trunc_page((x) + (vm_page_size - 1))

#ifdef __cplusplus
}
#endif

#endif
