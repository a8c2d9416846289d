/*
 * space_names.h — how many names the calling task's space holds (mach_port_names), for tests
 * that check a space came back to where it started. Public Mach API only.
 */
#ifndef SPACE_NAMES_H
#define SPACE_NAMES_H

#include <mach/mach.h>

/* The number of names in our space, or (mach_msg_type_number_t)-1 when it cannot be read. */
static inline mach_msg_type_number_t tc_name_count(void)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    if (mach_port_names(mach_task_self(), &names, &nn, &types, &nt) != KERN_SUCCESS)
        return (mach_msg_type_number_t)-1;
    (void)vm_deallocate(mach_task_self(), (vm_address_t)names, nn * sizeof *names);
    (void)vm_deallocate(mach_task_self(), (vm_address_t)types, nt * sizeof *types);
    return nn;
}

#endif
