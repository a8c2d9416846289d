/*
 * task.c — task_info for the task's identity tokens, and the data symbols Darwin's
 * libsystem defines for Mach programs (NDR_record, the kernel's tokens).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "../kern/um_kmsg.h"
#include "../um_export.h"
#include "um_api.h"

#include <mach/mach.h>
#include <mach/ndr.h>
#include <mach/task_info.h>

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

kern_return_t um_api_task_info(um_task *self, task_name_t target_task, task_flavor_t flavor,
                               task_info_t task_info_out, mach_msg_type_number_t *task_info_outCnt)
{
    if (!um_task_space(self, target_task))
        return MACH_SEND_INVALID_DEST;
    security_token_t sec = self->sec;
    audit_token_t audit = self->audit;
    switch (flavor) {
    case TASK_SECURITY_TOKEN:
        if (*task_info_outCnt < TASK_SECURITY_TOKEN_COUNT)
            return KERN_INVALID_ARGUMENT;
        memcpy(task_info_out, &sec, sizeof sec);
        *task_info_outCnt = TASK_SECURITY_TOKEN_COUNT;
        return KERN_SUCCESS;
    case TASK_AUDIT_TOKEN:
        if (*task_info_outCnt < TASK_AUDIT_TOKEN_COUNT)
            return KERN_INVALID_ARGUMENT;
        memcpy(task_info_out, &audit, sizeof audit);
        *task_info_outCnt = TASK_AUDIT_TOKEN_COUNT;
        return KERN_SUCCESS;
    default:
        /* Other flavours describe scheduler and VM state that umach does not model. */
        return KERN_INVALID_ARGUMENT;
    }
}
