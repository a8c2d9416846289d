/*
 * mach_port_info.c — mach_port_space_info: the task's name table as XNU's debugging call
 * reports it (what lsmp reads). One ipc_info_name_t per slot of the table, free slots
 * included (type 0), the generation mask, and an empty splay tree (XNU has had none for
 * years). The table is returned as MIG out-of-line memory the caller frees with
 * vm_deallocate.
 */
#include "../kern/um_kern.h"
#include "../kern/um_lsmp.h"
#include "../um_export.h"
#include "um_api.h"

#include <mach/mach.h>

#include <string.h>

kern_return_t um_api_mach_port_space_info_array(um_task *self, ipc_space_t task,
                                                ipc_info_space_t *space_info, um_api_array *table)
{
    um_space *space = um_task_target_space(self, task); /* ours or another task's */
    if (!space)
        return MACH_SEND_INVALID_DEST;
    uint32_t n = space->count;
    um_kernel *kernel = self->kernel;
    size_t len = 0;
    ipc_info_name_t *tab = n ? um_region_alloc(kernel, n * sizeof *tab, &len) : NULL;
    if (n && !tab)
        return KERN_RESOURCE_SHORTAGE;
    for (uint32_t i = 0; i < n; i++) {
        um_entry *e = &space->table[i];
        ipc_info_name_t *in = &tab[i];
        memset(in, 0, sizeof *in);
        mach_port_name_t name = (i << 8) | e->gen;
        if (i > 0 && e->type)
            um_right_check(space, name, e);
        in->iin_name = i == 0 ? 0 : name;
        if (i > 0 && e->type) {
            in->iin_type = um_right_info(space, name, e);
            if (e->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_DEAD_NAME))
                in->iin_urefs = e->urefs;
            else if (e->type & MACH_PORT_TYPE_SEND_ONCE)
                in->iin_urefs = 1;
            in->iin_object = e->object ? um_object_tag(e->object) : 0;
        } else if (i > 0) {
            in->iin_next = e->next_free;
        }
    }
    *table = (um_api_array){tab, len, n};
    space_info->iis_genno_mask = 0xff; /* MACH_PORT_NGEN(MACH_PORT_DEAD) */
    space_info->iis_table_size = n;
    space_info->iis_table_next = n < space->limit ? (n * 2 < space->limit ? n * 2 : space->limit) : n;
    space_info->iis_tree_size = 0;
    space_info->iis_tree_small = 0;
    space_info->iis_tree_hash = 0;
    return KERN_SUCCESS;
}

kern_return_t um_api_mach_port_space_info(um_task *self, ipc_space_t task,
                                          ipc_info_space_t *space_info,
                                          ipc_info_name_array_t *table_info,
                                          mach_msg_type_number_t *table_infoCnt,
                                          ipc_info_tree_name_array_t *tree_info,
                                          mach_msg_type_number_t *tree_infoCnt)
{
    um_api_array tab;
    kern_return_t kr = um_api_mach_port_space_info_array(self, task, space_info, &tab);
    if (kr != KERN_SUCCESS)
        return kr;
    uint64_t addr = 0;
    if (tab.region) {
        addr = um_task_give_region(self, tab.region, tab.len);
        if (!addr)
            return KERN_RESOURCE_SHORTAGE;
    }
    *table_info = (ipc_info_name_array_t)(uintptr_t)addr;
    *table_infoCnt = tab.count;
    *tree_info = NULL; /* the table holds every name: the tree is empty */
    *tree_infoCnt = 0;
    return KERN_SUCCESS;
}
