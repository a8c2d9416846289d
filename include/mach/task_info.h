/* <mach/task_info.h> — umach (Darwin ABI): the task_info flavours umach answers. */
#ifndef _MACH_TASK_INFO_H_
#define _MACH_TASK_INFO_H_

#include <mach/message.h>
#include <mach/policy.h>
#include <mach/time_value.h>
#include <mach/vm_types.h>

typedef natural_t task_flavor_t;
typedef integer_t *task_info_t;

#define TASK_INFO_MAX (1024)
typedef integer_t task_info_data_t[TASK_INFO_MAX];

#pragma pack(push, 4)

/* Basic information: the user and system times are those of the task's threads that ended. */
#define TASK_BASIC_INFO_32 4
#define TASK_BASIC2_INFO_32 6 /* the same, resident_size the peak resident size */

struct task_basic_info_32 {
    integer_t suspend_count;
    natural_t virtual_size;
    natural_t resident_size;
    time_value_t user_time;
    time_value_t system_time;
    policy_t policy;
};
typedef struct task_basic_info_32 task_basic_info_32_data_t;
typedef struct task_basic_info_32 *task_basic_info_32_t;
#define TASK_BASIC_INFO_32_COUNT (sizeof(task_basic_info_32_data_t) / sizeof(natural_t))

struct task_basic_info_64 {
    integer_t suspend_count;
    mach_vm_size_t virtual_size;
    mach_vm_size_t resident_size;
    time_value_t user_time;
    time_value_t system_time;
    policy_t policy;
};
typedef struct task_basic_info_64 task_basic_info_64_data_t;
typedef struct task_basic_info_64 *task_basic_info_64_t;

/* Declared by Darwin's header on arm64 only. */
#if defined(__aarch64__) || defined(__arm64__)
#define TASK_BASIC_INFO_64_2 18
struct task_basic_info_64_2 {
    integer_t suspend_count;
    mach_vm_size_t virtual_size;
    mach_vm_size_t resident_size;
    time_value_t user_time;
    time_value_t system_time;
    policy_t policy;
};
typedef struct task_basic_info_64_2 task_basic_info_64_2_data_t;
typedef struct task_basic_info_64_2 *task_basic_info_64_2_t;
#define TASK_BASIC_INFO_64_2_COUNT (sizeof(task_basic_info_64_2_data_t) / sizeof(natural_t))

/* On arm64 Darwin's header gives the wide flavour 18 this name (its 5 is the narrow layout). */
#define TASK_BASIC_INFO_64 TASK_BASIC_INFO_64_2
#define TASK_BASIC_INFO_64_COUNT TASK_BASIC_INFO_64_2_COUNT
#else
#define TASK_BASIC_INFO_64 5
#define TASK_BASIC_INFO_64_COUNT (sizeof(task_basic_info_64_data_t) / sizeof(natural_t))
#endif

struct task_basic_info {
    integer_t suspend_count;
    vm_size_t virtual_size;
    vm_size_t resident_size;
    time_value_t user_time;
    time_value_t system_time;
    policy_t policy;
};
typedef struct task_basic_info task_basic_info_data_t;
typedef struct task_basic_info *task_basic_info_t;
#define TASK_BASIC_INFO_COUNT (sizeof(task_basic_info_data_t) / sizeof(natural_t))
#define TASK_BASIC_INFO TASK_BASIC_INFO_64

/* The times of the task's live threads. */
#define TASK_THREAD_TIMES_INFO 3
struct task_thread_times_info {
    time_value_t user_time;
    time_value_t system_time;
};
typedef struct task_thread_times_info task_thread_times_info_data_t;
typedef struct task_thread_times_info *task_thread_times_info_t;
#define TASK_THREAD_TIMES_INFO_COUNT                                                               \
    ((mach_msg_type_number_t)(sizeof(task_thread_times_info_data_t) / sizeof(natural_t)))

#define MACH_TASK_BASIC_INFO 20 /* always 64-bit basic info */
struct mach_task_basic_info {
    mach_vm_size_t virtual_size;
    mach_vm_size_t resident_size;
    mach_vm_size_t resident_size_max;
    time_value_t user_time;   /* of the threads that ended */
    time_value_t system_time; /* of the threads that ended */
    policy_t policy;
    integer_t suspend_count;
};
typedef struct mach_task_basic_info mach_task_basic_info_data_t;
typedef struct mach_task_basic_info *mach_task_basic_info_t;
#define MACH_TASK_BASIC_INFO_COUNT                                                                 \
    ((mach_msg_type_number_t)(sizeof(mach_task_basic_info_data_t) / sizeof(natural_t)))

/* Event counts of the task's lifetime. */
#define TASK_EVENTS_INFO 2
struct task_events_info {
    integer_t faults;            /* page faults */
    integer_t pageins;           /* faults that read a page in */
    integer_t cow_faults;        /* copy-on-write faults */
    integer_t messages_sent;     /* Mach messages sent */
    integer_t messages_received; /* Mach messages received */
    integer_t syscalls_mach;     /* Mach traps */
    integer_t syscalls_unix;     /* BSD system calls */
    integer_t csw;               /* context switches */
};
typedef struct task_events_info task_events_info_data_t;
typedef struct task_events_info *task_events_info_t;
#define TASK_EVENTS_INFO_COUNT                                                                     \
    ((mach_msg_type_number_t)(sizeof(task_events_info_data_t) / sizeof(natural_t)))

/*
 * The task's memory as its VM map and ledgers see it. The structure grew by revisions; a
 * caller's count picks the largest revision that fits (at least revision 0), and task_info
 * answers that revision's count. This is the layout of the macOS 13 SDK (revision 6).
 */
#define TASK_VM_INFO 22
#define TASK_VM_INFO_PURGEABLE 23 /* the same, with the volatile purgeable sizes */
struct task_vm_info {
    mach_vm_size_t virtual_size; /* bytes of the address space */
    integer_t region_count;      /* entries of the VM map */
    integer_t page_size;
    mach_vm_size_t resident_size; /* bytes resident */
    mach_vm_size_t resident_size_peak;

    mach_vm_size_t device;
    mach_vm_size_t device_peak;
    mach_vm_size_t internal; /* anonymous memory resident */
    mach_vm_size_t internal_peak;
    mach_vm_size_t external; /* file-backed memory resident */
    mach_vm_size_t external_peak;
    mach_vm_size_t reusable;
    mach_vm_size_t reusable_peak;
    mach_vm_size_t purgeable_volatile_pmap;
    mach_vm_size_t purgeable_volatile_resident;
    mach_vm_size_t purgeable_volatile_virtual;
    mach_vm_size_t compressed;
    mach_vm_size_t compressed_peak;
    mach_vm_size_t compressed_lifetime;

    /* revision 1 */
    mach_vm_size_t phys_footprint;

    /* revision 2 */
    mach_vm_address_t min_address;
    mach_vm_address_t max_address;

    /* revision 3 */
    int64_t ledger_phys_footprint_peak;
    int64_t ledger_purgeable_nonvolatile;
    int64_t ledger_purgeable_novolatile_compressed;
    int64_t ledger_purgeable_volatile;
    int64_t ledger_purgeable_volatile_compressed;
    int64_t ledger_tag_network_nonvolatile;
    int64_t ledger_tag_network_nonvolatile_compressed;
    int64_t ledger_tag_network_volatile;
    int64_t ledger_tag_network_volatile_compressed;
    int64_t ledger_tag_media_footprint;
    int64_t ledger_tag_media_footprint_compressed;
    int64_t ledger_tag_media_nofootprint;
    int64_t ledger_tag_media_nofootprint_compressed;
    int64_t ledger_tag_graphics_footprint;
    int64_t ledger_tag_graphics_footprint_compressed;
    int64_t ledger_tag_graphics_nofootprint;
    int64_t ledger_tag_graphics_nofootprint_compressed;
    int64_t ledger_tag_neural_footprint;
    int64_t ledger_tag_neural_footprint_compressed;
    int64_t ledger_tag_neural_nofootprint;
    int64_t ledger_tag_neural_nofootprint_compressed;

    /* revision 4 */
    uint64_t limit_bytes_remaining;

    /* revision 5 */
    integer_t decompressions;

    /* revision 6 */
    int64_t ledger_swapins;
};
typedef struct task_vm_info task_vm_info_data_t;
typedef struct task_vm_info *task_vm_info_t;
#define TASK_VM_INFO_COUNT                                                                         \
    ((mach_msg_type_number_t)(sizeof(task_vm_info_data_t) / sizeof(natural_t)))
/* Each revision's count, as Darwin's header derives them from the whole structure's. */
#define TASK_VM_INFO_REV6_COUNT TASK_VM_INFO_COUNT
#define TASK_VM_INFO_REV5_COUNT ((mach_msg_type_number_t)(TASK_VM_INFO_REV6_COUNT - 2))
#define TASK_VM_INFO_REV4_COUNT ((mach_msg_type_number_t)(TASK_VM_INFO_REV5_COUNT - 1))
#define TASK_VM_INFO_REV3_COUNT ((mach_msg_type_number_t)(TASK_VM_INFO_REV4_COUNT - 2))
#define TASK_VM_INFO_REV2_COUNT ((mach_msg_type_number_t)(TASK_VM_INFO_REV3_COUNT - 42))
#define TASK_VM_INFO_REV1_COUNT ((mach_msg_type_number_t)(TASK_VM_INFO_REV2_COUNT - 4))
#define TASK_VM_INFO_REV0_COUNT ((mach_msg_type_number_t)(TASK_VM_INFO_REV1_COUNT - 2))

#pragma pack(pop)

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
