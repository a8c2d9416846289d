/* <mach/host_info.h> — umach (Darwin ABI): host_info flavours (HOST_BASIC_INFO is answered)
 * and host_statistics / host_statistics64 flavours (HOST_VM_INFO, HOST_CPU_LOAD_INFO and
 * HOST_VM_INFO64 are). */
#ifndef _MACH_HOST_INFO_H_
#define _MACH_HOST_INFO_H_

#include <mach/machine.h>
#include <mach/message.h>
#include <mach/vm_statistics.h>
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

/* host_statistics and host_statistics64 flavours. */
#define HOST_LOAD_INFO 1
#define HOST_VM_INFO 2
#define HOST_CPU_LOAD_INFO 3
#define HOST_VM_INFO64 4
#define HOST_EXTMOD_INFO64 5
#define HOST_EXPIRED_TASK_INFO 6

/* The load averages over 5 s, 30 s and 1 min (Darwin's periods), times LOAD_SCALE. */
struct host_load_info {
    integer_t avenrun[3];
    integer_t mach_factor[3];
};
typedef struct host_load_info host_load_info_data_t;
typedef struct host_load_info *host_load_info_t;
#define HOST_LOAD_INFO_COUNT                                                                   \
    ((mach_msg_type_number_t)(sizeof(host_load_info_data_t) / sizeof(integer_t)))

#define HOST_VM_INFO64_COUNT                                                                   \
    ((mach_msg_type_number_t)(sizeof(vm_statistics64_data_t) / sizeof(integer_t)))
#define HOST_VM_INFO64_LATEST_COUNT HOST_VM_INFO64_COUNT
#define HOST_VM_INFO64_REV1_COUNT HOST_VM_INFO64_LATEST_COUNT
#define HOST_VM_INFO64_REV0_COUNT ((mach_msg_type_number_t)(HOST_VM_INFO64_REV1_COUNT - 14))

#define HOST_VM_INFO_COUNT                                                                     \
    ((mach_msg_type_number_t)(sizeof(vm_statistics_data_t) / sizeof(integer_t)))
#define HOST_VM_INFO_LATEST_COUNT HOST_VM_INFO_COUNT
#define HOST_VM_INFO_REV2_COUNT HOST_VM_INFO_LATEST_COUNT
#define HOST_VM_INFO_REV1_COUNT ((mach_msg_type_number_t)(HOST_VM_INFO_REV2_COUNT - 1))
#define HOST_VM_INFO_REV0_COUNT ((mach_msg_type_number_t)(HOST_VM_INFO_REV1_COUNT - 2))

/* Ticks (1/100 s) the processors spent in each CPU_STATE_*, summed over all of them. */
struct host_cpu_load_info {
    natural_t cpu_ticks[CPU_STATE_MAX];
};
typedef struct host_cpu_load_info host_cpu_load_info_data_t;
typedef struct host_cpu_load_info *host_cpu_load_info_t;
#define HOST_CPU_LOAD_INFO_COUNT                                                               \
    ((mach_msg_type_number_t)(sizeof(host_cpu_load_info_data_t) / sizeof(integer_t)))

#endif
