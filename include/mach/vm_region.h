/* <mach/vm_region.h> — umach (Darwin ABI): what vm_region / mach_vm_region report. */
#ifndef _MACH_VM_REGION_H_
#define _MACH_VM_REGION_H_

#include <mach/boolean.h>
#include <mach/message.h>
#include <mach/vm_behavior.h>
#include <mach/vm_inherit.h>
#include <mach/vm_prot.h>
#include <mach/vm_types.h>

typedef unsigned long long memory_object_offset_t;
typedef mach_port_t memory_object_name_t;

typedef int *vm_region_info_t;
typedef int *vm_region_info_64_t;
typedef int *vm_region_recurse_info_t;
typedef int *vm_region_recurse_info_64_t;
typedef int vm_region_flavor_t;
#define VM_REGION_INFO_MAX (1024)
typedef int vm_region_info_data_t[VM_REGION_INFO_MAX];

#pragma pack(push, 4)

#define VM_REGION_BASIC_INFO_64 9
struct vm_region_basic_info_64 {
    vm_prot_t protection;
    vm_prot_t max_protection;
    vm_inherit_t inheritance;
    boolean_t shared;
    boolean_t reserved;
    memory_object_offset_t offset;
    vm_behavior_t behavior;
    unsigned short user_wired_count;
};
typedef struct vm_region_basic_info_64 *vm_region_basic_info_64_t;
typedef struct vm_region_basic_info_64 vm_region_basic_info_data_64_t;
#define VM_REGION_BASIC_INFO_COUNT_64                                                          \
    ((mach_msg_type_number_t)(sizeof(vm_region_basic_info_data_64_t) / sizeof(int)))

#define VM_REGION_BASIC_INFO 10
struct vm_region_basic_info {
    vm_prot_t protection;
    vm_prot_t max_protection;
    vm_inherit_t inheritance;
    boolean_t shared;
    boolean_t reserved;
    uint32_t offset;
    vm_behavior_t behavior;
    unsigned short user_wired_count;
};
typedef struct vm_region_basic_info *vm_region_basic_info_t;
typedef struct vm_region_basic_info vm_region_basic_info_data_t;
#define VM_REGION_BASIC_INFO_COUNT                                                             \
    ((mach_msg_type_number_t)(sizeof(vm_region_basic_info_data_t) / sizeof(int)))

/* vm_read_list's ranges: each address is replaced by its copy's. */
struct mach_vm_read_entry {
    mach_vm_address_t address;
    mach_vm_size_t size;
};

struct vm_read_entry {
    vm_address_t address;
    vm_size_t size;
};

#define VM_MAP_ENTRY_MAX (256)

typedef struct mach_vm_read_entry mach_vm_read_entry_t[VM_MAP_ENTRY_MAX];
typedef struct vm_read_entry vm_read_entry_t[VM_MAP_ENTRY_MAX];

#pragma pack(pop)

#endif
