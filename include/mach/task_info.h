/* <mach/task_info.h> — umach (Darwin ABI): the task_info flavours umach answers. */
#ifndef _MACH_TASK_INFO_H_
#define _MACH_TASK_INFO_H_

#include <mach/message.h>
#include <mach/vm_types.h>

typedef natural_t task_flavor_t;
typedef integer_t *task_info_t;

#define TASK_INFO_MAX (1024)
typedef integer_t task_info_data_t[TASK_INFO_MAX];

#define TASK_SECURITY_TOKEN 13
#define TASK_SECURITY_TOKEN_COUNT ((mach_msg_type_number_t)(sizeof(security_token_t) / sizeof(natural_t)))

#define TASK_AUDIT_TOKEN 15
#define TASK_AUDIT_TOKEN_COUNT (sizeof(audit_token_t) / sizeof(natural_t))

/* EXC_GUARD delivery options (task_get/set_exc_guard_behavior). */
typedef uint32_t task_exc_guard_behavior_t;

#define TASK_EXC_GUARD_NONE 0x00
#define TASK_EXC_GUARD_VM_DELIVER 0x01
#define TASK_EXC_GUARD_VM_ONCE 0x02
#define TASK_EXC_GUARD_VM_CORPSE 0x04
#define TASK_EXC_GUARD_VM_FATAL 0x08
#define TASK_EXC_GUARD_VM_ALL 0x0f
#define TASK_EXC_GUARD_MP_DELIVER 0x10
#define TASK_EXC_GUARD_MP_ONCE 0x20
#define TASK_EXC_GUARD_MP_CORPSE 0x40
#define TASK_EXC_GUARD_MP_FATAL 0x80
#define TASK_EXC_GUARD_MP_ALL 0xf0
#define TASK_EXC_GUARD_ALL 0xff

#endif
