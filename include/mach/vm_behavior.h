/* <mach/vm_behavior.h> — umach (Darwin ABI): paging behaviour values (vm_region reports 0). */
#ifndef _MACH_VM_BEHAVIOR_H_
#define _MACH_VM_BEHAVIOR_H_

typedef int vm_behavior_t;

#define VM_BEHAVIOR_DEFAULT ((vm_behavior_t)0)
#define VM_BEHAVIOR_RANDOM ((vm_behavior_t)1)
#define VM_BEHAVIOR_SEQUENTIAL ((vm_behavior_t)2)
#define VM_BEHAVIOR_RSEQNTL ((vm_behavior_t)3)

#endif
