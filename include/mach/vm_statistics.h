/* <mach/vm_statistics.h> — umach (Darwin ABI): the VM_FLAGS_* of vm_allocate, and the page
 * counts host_statistics (HOST_VM_INFO) and host_statistics64 (HOST_VM_INFO64) answer. */
#ifndef _MACH_VM_STATISTICS_H_
#define _MACH_VM_STATISTICS_H_

#include <mach/vm_types.h>

#include <stdint.h>

/* HOST_VM_INFO's counts, in pages (rev0 ends at hits, rev1 at purges). */
struct vm_statistics {
    natural_t free_count;
    natural_t active_count;
    natural_t inactive_count;
    natural_t wire_count;
    natural_t zero_fill_count;
    natural_t reactivations;
    natural_t pageins;
    natural_t pageouts;
    natural_t faults;
    natural_t cow_faults;
    natural_t lookups;
    natural_t hits;
    natural_t purgeable_count;
    natural_t purges;
    natural_t speculative_count;
};
typedef struct vm_statistics *vm_statistics_t;
typedef struct vm_statistics vm_statistics_data_t;

/* HOST_VM_INFO64's (rev0 ends at speculative_count). */
struct vm_statistics64 {
    natural_t free_count;
    natural_t active_count;
    natural_t inactive_count;
    natural_t wire_count;
    uint64_t zero_fill_count;
    uint64_t reactivations;
    uint64_t pageins;
    uint64_t pageouts;
    uint64_t faults;
    uint64_t cow_faults;
    uint64_t lookups;
    uint64_t hits;
    uint64_t purges;
    natural_t purgeable_count;
    natural_t speculative_count;
    uint64_t decompressions;
    uint64_t compressions;
    uint64_t swapins;
    uint64_t swapouts;
    natural_t compressor_page_count;
    natural_t throttled_count;
    natural_t external_page_count;
    natural_t internal_page_count;
    uint64_t total_uncompressed_pages_in_compressor;
} __attribute__((aligned(8)));
typedef struct vm_statistics64 *vm_statistics64_t;
typedef struct vm_statistics64 vm_statistics64_data_t;

#define VM_STATISTICS_TRUNCATE_TO_32_BIT(value)                                                \
    ((uint32_t)(((value) > UINT32_MAX) ? UINT32_MAX : (value)))

/* A page's disposition (mach_vm_page_query, mach_vm_page_info). */
#define VM_PAGE_QUERY_PAGE_PRESENT 0x1
#define VM_PAGE_QUERY_PAGE_FICTITIOUS 0x2
#define VM_PAGE_QUERY_PAGE_REF 0x4
#define VM_PAGE_QUERY_PAGE_DIRTY 0x8
#define VM_PAGE_QUERY_PAGE_PAGED_OUT 0x10
#define VM_PAGE_QUERY_PAGE_COPIED 0x20
#define VM_PAGE_QUERY_PAGE_SPECULATIVE 0x40
#define VM_PAGE_QUERY_PAGE_EXTERNAL 0x80
#define VM_PAGE_QUERY_PAGE_CS_VALIDATED 0x100
#define VM_PAGE_QUERY_PAGE_CS_TAINTED 0x200
#define VM_PAGE_QUERY_PAGE_CS_NX 0x400
#define VM_PAGE_QUERY_PAGE_REUSABLE 0x800

#define VM_FLAGS_FIXED 0x00000000
#define VM_FLAGS_ANYWHERE 0x00000001
#define VM_FLAGS_PURGABLE 0x00000002
#define VM_FLAGS_4GB_CHUNK 0x00000004
#define VM_FLAGS_RANDOM_ADDR 0x00000008
#define VM_FLAGS_NO_CACHE 0x00000010
#define VM_FLAGS_RESILIENT_CODESIGN 0x00000020
#define VM_FLAGS_RESILIENT_MEDIA 0x00000040
#define VM_FLAGS_PERMANENT 0x00000080
#define VM_FLAGS_TPRO 0x00001000
#define VM_FLAGS_OVERWRITE 0x00004000
#define VM_FLAGS_SUPERPAGE_MASK 0x00070000
#define VM_FLAGS_RETURN_DATA_ADDR 0x00100000
#define VM_FLAGS_RETURN_4K_DATA_ADDR 0x00800000
#define VM_FLAGS_ALIAS_MASK 0xFF000000
#define VM_GET_FLAGS_ALIAS(flags, alias) (alias) = (((flags) >> 24) & 0xff)
#define VM_FLAGS_HW (VM_FLAGS_TPRO)

#define VM_FLAGS_USER_ALLOCATE                                                                 \
    (VM_FLAGS_FIXED | VM_FLAGS_ANYWHERE | VM_FLAGS_PURGABLE | VM_FLAGS_4GB_CHUNK |             \
     VM_FLAGS_RANDOM_ADDR | VM_FLAGS_NO_CACHE | VM_FLAGS_PERMANENT | VM_FLAGS_OVERWRITE |      \
     VM_FLAGS_SUPERPAGE_MASK | VM_FLAGS_HW | VM_FLAGS_ALIAS_MASK)

#define VM_FLAGS_USER_MAP                                                                      \
    (VM_FLAGS_USER_ALLOCATE | VM_FLAGS_RETURN_4K_DATA_ADDR | VM_FLAGS_RETURN_DATA_ADDR)
#define VM_FLAGS_USER_REMAP                                                                    \
    (VM_FLAGS_FIXED | VM_FLAGS_ANYWHERE | VM_FLAGS_RANDOM_ADDR | VM_FLAGS_OVERWRITE |          \
     VM_FLAGS_RETURN_DATA_ADDR | VM_FLAGS_RESILIENT_CODESIGN | VM_FLAGS_RESILIENT_MEDIA)

#define VM_MAKE_TAG(tag) ((tag) << 24)
#define VM_MEMORY_MALLOC 1
#define VM_MEMORY_MACH_MSG 20
#define VM_MEMORY_APPLICATION_SPECIFIC_1 240

#endif
