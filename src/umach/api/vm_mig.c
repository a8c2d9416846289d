/*
 * vm_mig.c — the mach_vm.defs routines a task port serves, as MIG lays out their requests on
 * LP64 Darwin (osfmk/mach/mach_vm.defs: the in-line arguments in order after the NDR record,
 * packed on 4 bytes, an out-of-line or port argument first as a descriptor, an out-of-line
 * array's count last), and vm_map.defs' mach_make_memory_entry_64, whose layout is
 * mach_vm.defs' mach_make_memory_entry's.
 */
#include "um_mig.h"

#include <mach/vm_types.h>

bool um_vm_mig_request(mach_msg_id_t id, uint32_t *args, um_vm_mig_desc *desc)
{
    *desc = UM_VM_MIG_DESC_NONE;
    switch (id) {
    case UM_MIG_MACH_VM_ALLOCATE: /* address, size, flags */
        *args = 8 + 8 + 4;
        return true;
    case UM_MIG_MACH_VM_DEALLOCATE: /* address, size */
    case UM_MIG_MACH_VM_READ:
        *args = 8 + 8;
        return true;
    case UM_MIG_MACH_VM_INHERIT: /* address, size, new_inheritance */
    case UM_MIG_MACH_VM_MSYNC:   /* address, size, sync_flags */
    case UM_MIG_MACH_VM_BEHAVIOR_SET: /* address, size, new_behavior */
        *args = 8 + 8 + 4;
        return true;
    case UM_MIG_MACH_VM_PROTECT: /* address, size, set_maximum, new_protection */
        *args = 8 + 8 + 4 + 4;
        return true;
    case UM_MIG_MACH_VM_READ_LIST: /* data_list (VM_MAP_ENTRY_MAX pairs), count */
        *args = VM_MAP_ENTRY_MAX * 16u + 4;
        return true;
    case UM_MIG_MACH_VM_WRITE: /* data out of line; address, dataCnt */
        *args = 8 + 4;
        *desc = UM_VM_MIG_DESC_OOL;
        return true;
    case UM_MIG_MACH_VM_COPY: /* source, size, dest */
    case UM_MIG_MACH_VM_READ_OVERWRITE: /* address, size, data */
        *args = 8 + 8 + 8;
        return true;
    case UM_MIG_MACH_VM_REGION: /* address, flavor, infoCnt */
    case UM_MIG_MACH_VM_PAGE_INFO: /* address, flavor, infoCnt */
    case UM_MIG_MACH_VM_REGION_RECURSE: /* address, nesting_depth, infoCnt */
        *args = 8 + 4 + 4;
        return true;
    case UM_MIG_MACH_VM_PURGABLE_CONTROL: /* address, control, state */
        *args = 8 + 4 + 4;
        return true;
    case UM_MIG_MACH_VM_PAGE_QUERY: /* offset */
        *args = 8;
        return true;
    case UM_MIG_MACH_MAKE_MEMORY_ENTRY: /* parent_handle as a port; size, offset, permission */
    case UM_MIG_MAKE_MEMORY_ENTRY_64:
        *args = 8 + 8 + 4;
        *desc = UM_VM_MIG_DESC_PORT;
        return true;
    default:
        return false;
    }
}

um_vm_mig_reply um_vm_mig_reply_of(mach_msg_id_t id)
{
    switch (id) {
    case UM_MIG_MACH_VM_READ:
        return UM_VM_MIG_REPLY_OOL;
    case UM_MIG_MACH_VM_REGION:
    case UM_MIG_MACH_MAKE_MEMORY_ENTRY:
    case UM_MIG_MAKE_MEMORY_ENTRY_64:
        return UM_VM_MIG_REPLY_PORT;
    default:
        return UM_VM_MIG_REPLY_SIMPLE;
    }
}
