/* <mach/vm_inherit.h> — umach (Darwin ABI). */
#ifndef _MACH_VM_INHERIT_H_
#define _MACH_VM_INHERIT_H_

typedef unsigned int vm_inherit_t;

#define VM_INHERIT_SHARE ((vm_inherit_t)0)
#define VM_INHERIT_COPY ((vm_inherit_t)1)
#define VM_INHERIT_NONE ((vm_inherit_t)2)
#define VM_INHERIT_DONATE_COPY ((vm_inherit_t)3)
#define VM_INHERIT_DEFAULT VM_INHERIT_COPY
#define VM_INHERIT_LAST_VALID VM_INHERIT_NONE

#endif
