/*
 * um_vm_attr.h — the purgeable objects of the task's own memory (embedded/um_vm_attr.c):
 * what vm_allocate(VM_FLAGS_PURGABLE) made, for vm_purgable_control (libumach only, not
 * installed).
 */
#ifndef UM_VM_ATTR_H
#define UM_VM_ATTR_H

#include <stdint.h>

/* [start, start + len) (page-aligned) is a new purgeable object, non-volatile. */
void um_vm_purgable_add(uint64_t start, uint64_t len);
/* [start, start + len) is no longer the objects' it was (deallocated, or mapped over). */
void um_vm_purgable_forget(uint64_t start, uint64_t len);

/*
 * Ranges whose inheritance or paging behaviour vm_inherit or vm_behavior_set changed: only a
 * region overlapping one reads Linux's flags for them (/proc/self/smaps, which costs several
 * times /proc/self/maps); elsewhere they are the defaults. Past 256 ranges every region reads
 * them.
 */
void um_vm_attr_mark(uint64_t start, uint64_t end);
bool um_vm_attr_marked(uint64_t start, uint64_t end);

#endif
