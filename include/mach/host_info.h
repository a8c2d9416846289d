/* <mach/host_info.h> — umach (Darwin ABI): host_info flavours (HOST_BASIC_INFO is answered). */
#ifndef _MACH_HOST_INFO_H_
#define _MACH_HOST_INFO_H_

#include <mach/machine.h>
#include <mach/message.h>
#include <mach/vm_types.h>

typedef integer_t *host_info_t;
typedef integer_t *host_info64_t;
#define HOST_INFO_MAX (1024)
typedef integer_t host_info_data_t[HOST_INFO_MAX];
typedef integer_t host_flavor_t;

#define HOST_BASIC_INFO 1
#define HOST_SCHED_INFO 3
#define HOST_RESOURCE_SIZES 4
#define HOST_PRIORITY_INFO 5
#define HOST_SEMAPHORE_TRAPS 7
#define HOST_MACH_MSG_TRAP 8
#define HOST_VM_PURGABLE 9
#define HOST_DEBUG_INFO_INTERNAL 10
#define HOST_CAN_HAS_DEBUGGER 11
#define HOST_PREFERRED_USER_ARCH 12

#pragma pack(push, 4)
struct host_basic_info {
    integer_t max_cpus;
    integer_t avail_cpus;
    natural_t memory_size;
    cpu_type_t cpu_type;
    cpu_subtype_t cpu_subtype;
    cpu_threadtype_t cpu_threadtype;
    integer_t physical_cpu;
    integer_t physical_cpu_max;
    integer_t logical_cpu;
    integer_t logical_cpu_max;
    uint64_t max_mem;
};
#pragma pack(pop)

typedef struct host_basic_info host_basic_info_data_t;
typedef struct host_basic_info *host_basic_info_t;
#define HOST_BASIC_INFO_COUNT                                                                  \
    ((mach_msg_type_number_t)(sizeof(host_basic_info_data_t) / sizeof(integer_t)))

#endif
