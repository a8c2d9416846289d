/*
 * task.c — task_info (a task's tokens, memory and CPU times) and the special ports, of the
 * caller's task or of another task whose task port it holds, and the data symbols Darwin's
 * libsystem defines for Mach programs (NDR_record, the kernel's tokens).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "../kern/um_kmsg.h"
#include "../kern/um_kobject_ports.h"
#include "../um_export.h"
#include "um_api.h"

#include <mach/mach.h>
#include <mach/ndr.h>
#include <mach/task_info.h>
#include <mach/task_special_ports.h>

#include <string.h>

UM_EXPORT NDR_record_t NDR_record = {
    0, /* mig_vers */
    0, /* if_vers */
    0, /* reserved1 */
    0, /* mig_encoding */
    NDR_INT_LITTLE_ENDIAN,
    NDR_CHAR_ASCII,
    NDR_FLOAT_IEEE,
    0, /* reserved2 */
};

UM_EXPORT const security_token_t KERNEL_SECURITY_TOKEN = KERNEL_SECURITY_TOKEN_VALUE;
UM_EXPORT const audit_token_t KERNEL_AUDIT_TOKEN = KERNEL_AUDIT_TOKEN_VALUE;

bool um_api_task_check(um_task *self, mach_port_name_t task)
{
    return um_task_space(self, task) != NULL;
}

/* Microseconds as a time_value_t (seconds saturate, as a 32-bit field must). */
static time_value_t time_of_us(uint64_t us)
{
    uint64_t secs = us / 1000000u;
    time_value_t t = {secs > INT32_MAX ? INT32_MAX : (integer_t)secs, (integer_t)(us % 1000000u)};
    return t;
}

/* arm64 XNU answers the flavour number 5 (x86's TASK_BASIC_INFO_64) in the 32-bit layout. */
#if defined(__aarch64__)
#define UM_TASK_BASIC_INFO_OLD_64 5
#endif

/* A count of the int32 type the event counts have: saturated, as XNU's. */
static integer_t count32(uint64_t n)
{
    return n > INT32_MAX ? INT32_MAX : (integer_t)n;
}

/*
 * The largest revision of task_vm_info that `cnt` integers hold (XNU answers that one's count),
 * 0 below revision 0.
 */
static mach_msg_type_number_t vm_info_revision(mach_msg_type_number_t cnt)
{
    static const mach_msg_type_number_t revs[] = {TASK_VM_INFO_REV6_COUNT, TASK_VM_INFO_REV5_COUNT,
                                                  TASK_VM_INFO_REV4_COUNT, TASK_VM_INFO_REV3_COUNT,
                                                  TASK_VM_INFO_REV2_COUNT, TASK_VM_INFO_REV1_COUNT,
                                                  TASK_VM_INFO_REV0_COUNT};
    for (size_t i = 0; i < sizeof revs / sizeof revs[0]; i++)
        if (cnt >= revs[i])
            return revs[i];
    return 0;
}

/*
 * TASK_VM_INFO from what the front end read of the process (UM_USAGE_VM). Linux keeps no peak
 * per kind of memory: each *_peak is the present value, the lowest the peak can be, but for
 * the resident size's (VmHWM). The footprint is what XNU's mostly is, the task's anonymous
 * memory resident and swapped out. Purgeable (TASK_VM_INFO_PURGEABLE), device, reusable and
 * tagged memory, the lifetime compressions, decompressions, swap-ins and the memory limit are
 * not known: 0.
 */
static void vm_info_fill(const um_task_usage *u, size_t page_size, task_vm_info_data_t *vmi)
{
    memset(vmi, 0, sizeof *vmi);
    vmi->virtual_size = u->virtual_size;
    vmi->region_count = count32(u->regions);
    vmi->page_size = (integer_t)page_size;
    vmi->resident_size = u->resident_size;
    vmi->resident_size_peak = u->resident_size_max;
    vmi->internal = vmi->internal_peak = u->anon_resident;
    vmi->external = vmi->external_peak = u->file_resident;
    vmi->compressed = vmi->compressed_peak = u->swapped;
    vmi->phys_footprint = u->anon_resident + u->swapped;
    vmi->min_address = u->min_address;
    vmi->max_address = u->max_address;
    vmi->ledger_phys_footprint_peak = (int64_t)vmi->phys_footprint;
}

/*
 * task_suspend and task_resume: the caller's own task or another whose task port it holds
 * (XNU serves them on any task's port); the suspension token is the caller's.
 */
kern_return_t um_api_task_suspend(um_task *self, task_read_t target_task)
{
    um_task *target = um_task_target(self, target_task);
    return target ? um_task_hold(target, self->space) : MACH_SEND_INVALID_DEST;
}

kern_return_t um_api_task_resume(um_task *self, task_read_t target_task)
{
    um_task *target = um_task_target(self, target_task);
    return target ? um_task_unhold(target, self->space) : MACH_SEND_INVALID_DEST;
}

kern_return_t um_api_task_suspend2(um_task *self, task_read_t target_task, mach_port_t *token)
{
    um_task *target = um_task_target(self, target_task);
    if (!target)
        return MACH_SEND_INVALID_DEST;
    um_port *sonce;
    kern_return_t kr = um_task_hold_once(target, &sonce);
    if (kr != KERN_SUCCESS)
        return kr;
    /* A token that cannot be named is destroyed, which ends its suspension at once. */
    return um_right_copyout(self->space, sonce, MACH_MSG_TYPE_PORT_SEND_ONCE, token);
}

/* task_terminate: XNU ends no task that has a BSD process (KERN_FAILURE), and every task of
 * umach's is a process. */
kern_return_t um_api_task_terminate(um_task *self, task_t target_task)
{
    return um_task_target(self, target_task) ? KERN_FAILURE : MACH_SEND_INVALID_DEST;
}

/*
 * task_info of the task `target_task` names: the caller's own, or another task whose task port
 * it holds (XNU serves task_info on any task's port). The token flavours, then those of memory,
 * time and events, which the front end reads from the task's process (um_task_hooks.usage): a
 * task whose process cannot be read any more is XNU's code for a task that is no longer
 * active, KERN_INVALID_ARGUMENT, as are a count below the flavour's (TASK_VM_INFO: below
 * revision 0's) and a flavour umach does not know. suspend_count is task_suspend's count; the
 * policy is time-sharing. Only the count that comes back is written.
 */
kern_return_t um_api_task_info(um_task *self, task_name_t target_task, task_flavor_t flavor,
                               task_info_t task_info_out, mach_msg_type_number_t *task_info_outCnt)
{
    um_task *target = um_task_target(self, target_task);
    if (!target)
        return MACH_SEND_INVALID_DEST;
    mach_msg_type_number_t want;
    unsigned more = 0;
    switch (flavor) {
    case TASK_SECURITY_TOKEN:
        if (*task_info_outCnt < TASK_SECURITY_TOKEN_COUNT)
            return KERN_INVALID_ARGUMENT;
        memcpy(task_info_out, &target->sec, sizeof target->sec);
        *task_info_outCnt = TASK_SECURITY_TOKEN_COUNT;
        return KERN_SUCCESS;
    case TASK_AUDIT_TOKEN:
        if (*task_info_outCnt < TASK_AUDIT_TOKEN_COUNT)
            return KERN_INVALID_ARGUMENT;
        memcpy(task_info_out, &target->audit, sizeof target->audit);
        *task_info_outCnt = TASK_AUDIT_TOKEN_COUNT;
        return KERN_SUCCESS;
    case TASK_BASIC_INFO_32:
    case TASK_BASIC2_INFO_32:
#ifdef UM_TASK_BASIC_INFO_OLD_64
    case UM_TASK_BASIC_INFO_OLD_64:
#endif
        want = TASK_BASIC_INFO_32_COUNT;
        break;
    case TASK_BASIC_INFO_64:
        want = TASK_BASIC_INFO_64_COUNT;
        break;
    case MACH_TASK_BASIC_INFO:
        want = MACH_TASK_BASIC_INFO_COUNT;
        break;
    case TASK_THREAD_TIMES_INFO:
        want = TASK_THREAD_TIMES_INFO_COUNT;
        break;
    case TASK_EVENTS_INFO:
        want = TASK_EVENTS_INFO_COUNT;
        more = UM_USAGE_EVENTS;
        break;
    case TASK_VM_INFO:
    case TASK_VM_INFO_PURGEABLE:
        want = vm_info_revision(*task_info_outCnt);
        if (!want)
            return KERN_INVALID_ARGUMENT;
        more = UM_USAGE_VM;
        break;
    default:
        /* Other flavours describe scheduler and VM state that umach does not model. */
        return KERN_INVALID_ARGUMENT;
    }
    if (*task_info_outCnt < want)
        return KERN_INVALID_ARGUMENT;
    um_task_usage u;
    if (!target->hooks || !target->hooks->usage || !target->hooks->usage(target, more, &u))
        return KERN_INVALID_ARGUMENT;
    time_value_t user = time_of_us(u.ended_user_us), system = time_of_us(u.ended_system_us);
    switch (flavor) {
    case TASK_BASIC_INFO_64: {
        task_basic_info_64_data_t b = {(integer_t)target->user_stop_count, u.virtual_size,
                                       u.resident_size, user, system, POLICY_TIMESHARE};
        memcpy(task_info_out, &b, sizeof b);
        break;
    }
    case MACH_TASK_BASIC_INFO: {
        mach_task_basic_info_data_t b = {u.virtual_size, u.resident_size, u.resident_size_max,
                                         user, system, POLICY_TIMESHARE,
                                         (integer_t)target->user_stop_count};
        memcpy(task_info_out, &b, sizeof b);
        break;
    }
    case TASK_THREAD_TIMES_INFO: {
        task_thread_times_info_data_t t = {time_of_us(u.live_user_us),
                                           time_of_us(u.live_system_us)};
        memcpy(task_info_out, &t, sizeof t);
        break;
    }
    case TASK_EVENTS_INFO: {
        /* Linux counts no copy-on-write faults and no system calls per process: 0. The
         * message counts are the task's ledger's (um_msg_send, um_msg_receive). */
        const um_ledger *l = target->space->ledger;
        task_events_info_data_t e = {.faults = count32(u.minor_faults + u.major_faults),
                                     .pageins = count32(u.major_faults),
                                     .messages_sent = count32(l->sent),
                                     .messages_received = count32(l->received),
                                     .csw = count32(u.context_switches)};
        memcpy(task_info_out, &e, sizeof e);
        break;
    }
    case TASK_VM_INFO:
    case TASK_VM_INFO_PURGEABLE: {
        task_vm_info_data_t vmi;
        vm_info_fill(&u, target->kernel->page_size, &vmi);
        memcpy(task_info_out, &vmi, want * sizeof(natural_t)); /* the caller's revision */
        break;
    }
    default: {
        /* The 32-bit layout, as XNU fills it: the virtual size cut to 32 bits, the resident
         * size saturated at 4 GiB - 1 (BASIC2: the peak resident size). */
        uint64_t resident = flavor == TASK_BASIC2_INFO_32 ? u.resident_size_max : u.resident_size;
        task_basic_info_32_data_t b = {(integer_t)target->user_stop_count,
                                       (natural_t)u.virtual_size,
                                       resident > UINT32_MAX ? UINT32_MAX : (natural_t)resident,
                                       user, system, POLICY_TIMESHARE};
        memcpy(task_info_out, &b, sizeof b);
        break;
    }
    }
    *task_info_outCnt = want;
    return KERN_SUCCESS;
}

/* ---- special ports (XNU: ipc_tt.c) ------------------------------------------------------------ */

/* Is `which` a slot the task keeps (not one that names the task itself)? */
static bool special_slot(int which)
{
    switch (which) {
    case TASK_HOST_PORT:
    case TASK_BOOTSTRAP_PORT:
    case TASK_ACCESS_PORT:
    case TASK_DEBUG_CONTROL_PORT:
    case TASK_RESOURCE_NOTIFY_PORT:
        return true;
    default:
        return false;
    }
}

/*
 * The calls below act on the task `task` names: the caller's own, or another task whose task
 * port the caller holds (in a world), as XNU's MIG server does for any task port. A right
 * travels in the caller's space either way: the one set comes from it, the one got goes to it.
 */
kern_return_t um_api_special_port_get(um_task *target, int which_port, um_port **portp)
{
    um_port *port;
    if (which_port == TASK_HOST_PORT) {
        /* Every task's is the world's host port (its slot stays empty), as mach_host_self. */
        if (!(port = um_host_port(target->kernel)))
            return KERN_RESOURCE_SHORTAGE;
        um_port_make_send(port); /* the kernel holds its receive right */
        *portp = port;
        return KERN_SUCCESS;
    }
    if (which_port == TASK_KERNEL_PORT)
        port = target->task_port;
    else if (special_slot(which_port))
        port = target->special_ports[which_port];
    else
        return KERN_INVALID_ARGUMENT; /* NAME/INSPECT/READ: umach has no lesser task ports */
    if (port == UM_PORT_DEAD || (port && !port->active)) {
        port = UM_PORT_DEAD;
    } else if (port) {
        /* A new send right travels back in the reply, as from the MIG routine. */
        um_port_copy_send(port);
    }
    *portp = port;
    return KERN_SUCCESS;
}

kern_return_t um_api_task_get_special_port(um_task *self, task_inspect_t task, int which_port,
                                           mach_port_t *special_port)
{
    um_task *target = um_task_target(self, task);
    if (!target)
        return MACH_SEND_INVALID_DEST;
    um_port *port;
    kern_return_t kr = um_api_special_port_get(target, which_port, &port);
    if (kr != KERN_SUCCESS)
        return kr;
    mach_port_name_t name = port == UM_PORT_DEAD ? MACH_PORT_DEAD : MACH_PORT_NULL;
    if (UM_PORT_VALID(port) &&
        um_right_copyout(self->space, port, MACH_MSG_TYPE_PORT_SEND, &name) != KERN_SUCCESS)
        return MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE; /* copyout destroyed the right */
    *special_port = name;
    return KERN_SUCCESS;
}

kern_return_t um_api_task_set_special_port(um_task *self, task_t task, int which_port,
                                           mach_port_t special_port)
{
    um_task *target = um_task_target(self, task);
    if (!target)
        return MACH_SEND_INVALID_DEST;
    /* The MIG request carries a copy of the caller's send right. */
    um_port *port = NULL;
    mach_msg_return_t mr =
        um_kmsg_copyin_port(self->space, special_port, MACH_MSG_TYPE_COPY_SEND, &port);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    return um_api_special_port_set(target, which_port, port);
}

kern_return_t um_api_special_port_set(um_task *target, int which_port, um_port *port)
{
    kern_return_t kr;
    um_port **slot = special_slot(which_port) ? &target->special_ports[which_port] : NULL;
    if (which_port == TASK_KERNEL_PORT || which_port == TASK_HOST_PORT) {
        kr = KERN_NO_ACCESS;
    } else if (!slot) {
        kr = KERN_INVALID_ARGUMENT;
    } else if (which_port == TASK_ACCESS_PORT && UM_PORT_VALID(*slot)) {
        kr = KERN_NO_ACCESS; /* never overwritten once set */
    } else {
        um_port *old = *slot;
        *slot = port;
        port = old;
        kr = KERN_SUCCESS;
    }
    um_right_release(port, MACH_MSG_TYPE_PORT_SEND); /* the old slot, or a refused right */
    return kr;
}
