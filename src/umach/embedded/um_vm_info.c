/*
 * um_vm_info.c — the task's own memory map: vm_region / vm_region_64 / mach_vm_region (basic
 * info), vm_region_recurse_64 / mach_vm_region_recurse (the submap flavours, one level),
 * mach_vm_page_info / mach_vm_page_query (one page, from mincore and /proc/self/pagemap),
 * vm_protect, vm_copy, vm_write, vm_read_overwrite, vm_read and vm_read_list, each in
 * its vm_* and mach_vm_* forms, over this process's address space (the task's map is the
 * process's, embedded and in a world alike). On another port each but vm_write sends the
 * routine's MIG request to it (dispatch/um_forward.h). Regions are the kernel's mappings
 * (/proc/self/maps, with /proc/self/smaps for what Linux keeps with each); memory is read and
 * written with process_vm_readv, so a bad range is an error code, never a fault. A copy reads
 * its source with the map held (um_vm_map_hold), as XNU's vm_map_copyin does, and a write into
 * memory a memory entry is being made of waits for that conversion (um_vm_convert_settle).
 *
 * A region of more than UM_VM_COPY_SMALL bytes from vm_allocate is mapped from a memfd
 * (src/umach/vm/): that sharing is umach's own mechanism, so such regions report
 * shared = FALSE like private memory on Darwin. Linux keeps no maximum protection: the registry
 * keeps one for the regions it knows (a memory entry's mapping: mach_vm_map's max_protection,
 * lowered by vm_protect(set_maximum = TRUE)), which vm_region reports and vm_protect enforces;
 * elsewhere max_protection reads VM_PROT_ALL.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* process_vm_readv */
#endif
#include "../um_export.h"
#include "../dispatch/um_calls.h"
#include "../dispatch/um_forward.h"
#include "../kern/um_kern.h"
#include "../vm/um_regions.h"
#include "um_embedded.h"
#include "um_vm_attr.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <mach/vm_region.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

/* true when `target` is a send right to the calling task's own port. */
static bool own_map(vm_map_t target)
{
    return um_call_task_check(target);
}

typedef struct map_line {
    uint64_t start, end, offset;
    vm_prot_t prot;
    bool shared;
    bool file; /* a file's mapping (not umach's memfds, nor shared anonymous memory) */
} map_line;

/* The first mapping that contains `addr` or lies above it. */
static bool find_region(uint64_t addr, map_line *out)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long long start, end, off;
        char perms[8] = {0};
        int path_at = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off, &path_at) < 4)
            continue;
        if (end <= addr)
            continue;
        out->start = start;
        out->end = end;
        out->offset = off;
        out->prot = (perms[0] == 'r' ? VM_PROT_READ : 0) | (perms[1] == 'w' ? VM_PROT_WRITE : 0) |
                    (perms[2] == 'x' ? VM_PROT_EXECUTE : 0);
        const char *path = path_at ? line + path_at : "";
        out->shared = perms[3] == 's' && strncmp(path, "/memfd:umach-", 13) != 0;
        out->file = path[0] == '/' && strncmp(path, "/memfd:", 7) != 0 &&
                    strncmp(path, "/dev/zero", 9) != 0 && strncmp(path, "/SYSV", 5) != 0;
        found = true;
        break;
    }
    fclose(f);
    return found;
}

/* What Linux keeps with one mapping (/proc/self/smaps). */
typedef struct vma_smaps {
    bool dontfork;          /* MADV_DONTFORK ("dc") */
    vm_behavior_t behavior; /* MADV_RANDOM ("rr") or MADV_SEQUENTIAL ("sr") */
    uint64_t rss_kb, swap_kb, dirty_kb; /* its pages mapped, swapped out, and written */
} vma_smaps;

/* The smaps record of the mapping holding `addr` (all zeros when there is none). */
static void vma_smaps_at(uint64_t addr, vma_smaps *v)
{
    memset(v, 0, sizeof *v);
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f)
        return;
    char line[4096];
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long long start, end, kb;
        if (sscanf(line, "%llx-%llx ", &start, &end) == 2) {
            if (in)
                break;
            in = start <= addr && addr < end;
            continue;
        }
        if (!in)
            continue;
        if (sscanf(line, "Rss: %llu kB", &kb) == 1)
            v->rss_kb = kb;
        else if (sscanf(line, "Swap: %llu kB", &kb) == 1)
            v->swap_kb = kb;
        else if (sscanf(line, "Private_Dirty: %llu kB", &kb) == 1 ||
                 sscanf(line, "Shared_Dirty: %llu kB", &kb) == 1)
            v->dirty_kb += kb;
        if (strncmp(line, "VmFlags:", 8) != 0)
            continue;
        for (const char *at = line + 8; *at; at++) {
            if (at[0] == ' ' && at[1] && at[2] && (at[3] == ' ' || at[3] == '\n' || !at[3])) {
                if (!strncmp(at + 1, "dc", 2))
                    v->dontfork = true;
                else if (!strncmp(at + 1, "rr", 2))
                    v->behavior = VM_BEHAVIOR_RANDOM;
                else if (!strncmp(at + 1, "sr", 2))
                    v->behavior = VM_BEHAVIOR_SEQUENTIAL;
            }
        }
        break;
    }
    fclose(f);
}

/*
 * The inheritance of the mapping holding `addr`: the registry's for its regions (vm_inherit
 * records it there), else MADV_DONTFORK's NONE, a shared mapping's SHARE (Linux shares it at
 * fork), private memory's COPY.
 */
static vm_inherit_t inheritance_at(int kept, bool shared, bool dontfork)
{
    if (kept >= 0)
        return (vm_inherit_t)kept;
    if (dontfork)
        return VM_INHERIT_NONE;
    return shared ? VM_INHERIT_SHARE : VM_INHERIT_COPY;
}

/*
 * Another port than the caller's task: the routine `id`'s MIG request (mach_vm_region's,
 * vm_region_64's or vm_region's: one layout, 64-bit addresses), whose reply carries the object
 * name in a port descriptor, the address and size, then the info array (10 integers at most).
 */
static kern_return_t region_forward(vm_map_t target, mach_msg_id_t id, uint64_t *address,
                                    uint64_t *size, vm_region_flavor_t flavor,
                                    vm_region_info_t info, mach_msg_type_number_t *count,
                                    mach_port_t *object_name)
{
    if (!um_forward_wanted(target))
        return MACH_SEND_INVALID_DEST;
    const um_fw_in in[] = {UM_FW64(*address), UM_FW32(flavor)};
    const um_fw_out out[] = {UM_FWOUT(address), UM_FWOUT(size)};
    const um_fw_array array = {info, sizeof *info, count, 10};
    mach_port_t name = MACH_PORT_NULL;
    kern_return_t kr = um_forward_array_out(target, id, in, 2, &name, out, 2, &array);
    if (kr == KERN_SUCCESS) {
        if (object_name)
            *object_name = name;
        else if (MACH_PORT_VALID(name))
            (void)mach_port_deallocate(mach_task_self(), name);
    }
    return kr;
}

/* One region of the task's map as vm_region and vm_region_recurse report it. */
typedef struct region_view {
    map_line m;             /* its part of the Linux mapping */
    bool whole;             /* the part is the whole mapping */
    vm_prot_t max;
    vm_inherit_t inheritance;
    vma_smaps smaps;        /* the whole mapping's */
} region_view;

/* The region holding `address`, or the first above it: false when there is none. Its smaps
 * record is read when `counts` asks for its page counts (vm_region_recurse: whether it has an
 * object at all, and how many pages) or vm_inherit / vm_behavior_set changed a flag there;
 * else it has the default flags and no counts. */
static bool region_at(uint64_t address, region_view *v, bool counts)
{
    map_line *m = &v->m;
    if (!find_region(address, m))
        return false;
    uint64_t vma_start = m->start, vma_end = m->end;
    /* A mapping whose parts have different maximums is one region per part, as XNU's map
     * entries are. */
    uint64_t lo, hi;
    v->max = um_vm_max_prot(address > m->start ? address : m->start, &lo, &hi);
    if (lo > m->start) {
        m->offset += lo - m->start;
        m->start = lo;
    }
    if (hi < m->end)
        m->end = hi;
    /* So is a mapping whose parts the registry keeps with different inheritances. */
    int kept = um_vm_inherit_of(address > m->start ? address : m->start, &lo, &hi);
    if (lo > m->start) {
        m->offset += lo - m->start;
        m->start = lo;
    }
    if (hi < m->end)
        m->end = hi;
    v->whole = m->start == vma_start && m->end == vma_end;
    if (counts || um_vm_attr_marked(vma_start, vma_end))
        vma_smaps_at(m->start, &v->smaps);
    else
        memset(&v->smaps, 0, sizeof v->smaps);
    v->inheritance = inheritance_at(kept, m->shared, v->smaps.dontfork);
    return true;
}

static kern_return_t region_common(vm_map_t target, mach_msg_id_t id, uint64_t *address,
                                   uint64_t *size, vm_region_flavor_t flavor,
                                   vm_region_info_t info, mach_msg_type_number_t *count,
                                   mach_port_t *object_name)
{
    if (!own_map(target))
        return region_forward(target, id, address, size, flavor, info, count, object_name);
    if (flavor != VM_REGION_BASIC_INFO_64 && flavor != VM_REGION_BASIC_INFO)
        return KERN_INVALID_ARGUMENT;
    mach_msg_type_number_t need =
        flavor == VM_REGION_BASIC_INFO_64 ? VM_REGION_BASIC_INFO_COUNT_64 : VM_REGION_BASIC_INFO_COUNT;
    if (*count < need)
        return KERN_INVALID_ARGUMENT;
    region_view v;
    if (!region_at(*address, &v, false))
        return KERN_INVALID_ADDRESS;
    map_line m = v.m;
    vm_prot_t max = v.max;
    vm_inherit_t inheritance = v.inheritance;
    vm_behavior_t behavior = v.smaps.behavior;
    if (flavor == VM_REGION_BASIC_INFO_64) {
        vm_region_basic_info_data_64_t b;
        memset(&b, 0, sizeof b);
        b.protection = m.prot;
        b.max_protection = max;
        b.inheritance = inheritance;
        b.shared = m.shared;
        b.offset = m.offset;
        b.behavior = behavior;
        memcpy(info, &b, sizeof b);
    } else {
        vm_region_basic_info_data_t b;
        memset(&b, 0, sizeof b);
        b.protection = m.prot;
        b.max_protection = max;
        b.inheritance = inheritance;
        b.shared = m.shared;
        b.offset = (uint32_t)m.offset;
        b.behavior = behavior;
        memcpy(info, &b, sizeof b);
    }
    *count = need;
    *address = m.start;
    *size = m.end - m.start;
    if (object_name)
        *object_name = MACH_PORT_NULL;
    return KERN_SUCCESS;
}

/*
 * vm_region_64 and vm_region are mach_vm_region in vm_address_t and vm_size_t, which are 64
 * bits wide here (a platform where they were another type would not compile: the pointers
 * would differ); on another port vm_region_64 sends mach_vm_region's request (its LP64
 * twin, um_forward.h) and vm_region vm_map.defs' own.
 * region_common writes the address and the size only when it succeeds.
 */
_Static_assert(sizeof(vm_address_t) == sizeof(uint64_t) && sizeof(vm_size_t) == sizeof(uint64_t),
               "vm_region_64 shares region_common with mach_vm_region");

UM_EXPORT kern_return_t mach_vm_region(vm_map_read_t target_task, mach_vm_address_t *address,
                                       mach_vm_size_t *size, vm_region_flavor_t flavor,
                                       vm_region_info_t info, mach_msg_type_number_t *infoCnt,
                                       mach_port_t *object_name)
{
    UM_CALL_SCOPE;
    return region_common(target_task, UM_MIG_MACH_VM_REGION, address, size, flavor, info, infoCnt,
                         object_name);
}

UM_EXPORT kern_return_t vm_region_64(vm_map_read_t target_task, vm_address_t *address,
                                     vm_size_t *size, vm_region_flavor_t flavor,
                                     vm_region_info_t info, mach_msg_type_number_t *infoCnt,
                                     mach_port_t *object_name)
{
    UM_CALL_SCOPE;
    return region_common(target_task, UM_MIG_MACH_VM_REGION, address, size, flavor, info, infoCnt,
                         object_name);
}

UM_EXPORT kern_return_t vm_region(vm_map_read_t target_task, vm_address_t *address,
                                  vm_size_t *size, vm_region_flavor_t flavor,
                                  vm_region_info_t info, mach_msg_type_number_t *infoCnt,
                                  mach_port_t *object_name)
{
    UM_CALL_SCOPE;
    return region_common(target_task, UM_MIG_VM_REGION, address, size, flavor, info, infoCnt,
                         object_name);
}

/* ---- vm_region_recurse: the submap flavours ---------------------------------------------------- */

#define UM_PM_PRESENT (1ULL << 63)
#define UM_PM_SWAPPED (1ULL << 62)
#define UM_PM_FILE (1ULL << 61)
#define UM_PM_EXCLUSIVE (1ULL << 56)
#define UM_PM_SOFT_DIRTY (1ULL << 55)

/* Was the page of pagemap entry `e` written since it was mapped? An anonymous page mapped here
 * alone was (a page only read maps the shared zero page); a file's or a memfd's page is known
 * written only by the soft-dirty bit, where the kernel keeps it. */
static bool pm_dirty(uint64_t e)
{
    return (e & UM_PM_PRESENT) &&
           ((e & UM_PM_SOFT_DIRTY) || (!(e & UM_PM_FILE) && (e & UM_PM_EXCLUSIVE)));
}

/*
 * The pages of [start, end) mapped here, swapped out and written (/proc/self/pagemap, a chunk
 * at a time): for a part of a mapping, which smaps does not count apart.
 */
static void count_pages(uint64_t start, uint64_t end, uint64_t *resident, uint64_t *swapped,
                        uint64_t *dirty)
{
    *resident = *swapped = *dirty = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    uint64_t e[512];
    for (uint64_t at = start; at < end;) {
        uint64_t n = (end - at) / vm_page_size;
        if (n > 512)
            n = 512;
        ssize_t got = pread(fd, e, (size_t)n * sizeof e[0], (off_t)(at / vm_page_size * sizeof e[0]));
        if (got <= 0)
            break;
        n = (uint64_t)got / sizeof e[0];
        for (uint64_t i = 0; i < n; i++) {
            *resident += (e[i] & UM_PM_PRESENT) != 0;
            *swapped += !(e[i] & UM_PM_PRESENT) && (e[i] & UM_PM_SWAPPED);
            *dirty += pm_dirty(e[i]);
        }
        at += n * vm_page_size;
    }
    close(fd);
}

/*
 * XNU's vm_map_region_recurse_64 on the caller's map, which has no submaps here (Linux's
 * mappings are one level): the region holding *address or the first above it, at depth 0,
 * in the short flavour (a count below VM_REGION_SUBMAP_INFO_V0_COUNT_64) or the full one
 * (V0, V1 or V2 as the count allows), *count set to the flavour's even when no region is
 * found. The page counts are the mapping's (smaps) or, for a part of one, pagemap's; a
 * region with no page yet (neither a file nor shared) has no object: SM_EMPTY, ref_count 0.
 */
static kern_return_t recurse_own(uint64_t *address, uint64_t *size, natural_t *depth,
                                 vm_region_recurse_info_t info, mach_msg_type_number_t *count)
{
    if (*count < VM_REGION_SUBMAP_SHORT_INFO_COUNT_64)
        return KERN_INVALID_ARGUMENT;
    mach_msg_type_number_t original = *count;
    bool full = original >= VM_REGION_SUBMAP_INFO_V0_COUNT_64;
    *count = !full                                        ? VM_REGION_SUBMAP_SHORT_INFO_COUNT_64
             : original >= VM_REGION_SUBMAP_INFO_V2_COUNT_64 ? VM_REGION_SUBMAP_INFO_V2_COUNT_64
             : original >= VM_REGION_SUBMAP_INFO_V1_COUNT_64 ? VM_REGION_SUBMAP_INFO_V1_COUNT_64
                                                             : VM_REGION_SUBMAP_INFO_V0_COUNT_64;
    region_view v;
    if (!region_at(*address, &v, true))
        return KERN_INVALID_ADDRESS;
    const map_line *m = &v.m;
    uint64_t resident, swapped, dirty, kb = vm_page_size / 1024;
    if (v.whole) {
        resident = v.smaps.rss_kb / kb;
        swapped = v.smaps.swap_kb / kb;
        dirty = v.smaps.dirty_kb / kb;
    } else {
        count_pages(m->start, m->end, &resident, &swapped, &dirty);
    }
    bool object = m->file || m->shared || resident || swapped;
    unsigned char share_mode = !object    ? SM_EMPTY
                               : m->shared ? SM_SHARED
                               : m->file   ? SM_COW /* a private mapping of a file */
                                           : SM_PRIVATE;
    vm_region_submap_info_data_64_t s;
    memset(&s, 0, sizeof s);
    s.protection = m->prot;
    s.max_protection = v.max;
    s.inheritance = v.inheritance;
    s.offset = m->offset;
    s.pages_resident = (unsigned)resident;
    s.pages_swapped_out = (unsigned)swapped;
    s.pages_dirtied = (unsigned)dirty;
    s.ref_count = object ? 1 : 0;
    s.external_pager = m->file;
    s.share_mode = share_mode;
    s.behavior = v.smaps.behavior;
    s.object_id = object ? (vm32_object_id_t)m->start : 0;
    s.object_id_full = object ? m->start : 0;
    if (full) {
        memcpy(info, &s, *count * sizeof(natural_t));
    } else {
        vm_region_submap_short_info_data_64_t t;
        memset(&t, 0, sizeof t);
        t.protection = s.protection;
        t.max_protection = s.max_protection;
        t.inheritance = s.inheritance;
        t.offset = s.offset;
        t.ref_count = s.ref_count;
        t.external_pager = s.external_pager;
        t.share_mode = s.share_mode;
        t.behavior = s.behavior;
        t.object_id = s.object_id;
        memcpy(info, &t, sizeof t);
    }
    *depth = 0;
    *address = m->start;
    *size = m->end - m->start;
    return KERN_SUCCESS;
}

/* Both forms (one layout: 64-bit addresses and sizes); on another port the routine's MIG
 * request (mach_vm_region_recurse's, as vm_region_recurse_64's on LP64 Darwin), whose reply
 * carries the address, size and depth, then the info array (19 integers at most). */
static kern_return_t recurse_common(vm_map_read_t target, uint64_t *address, uint64_t *size,
                                    natural_t *depth, vm_region_recurse_info_t info,
                                    mach_msg_type_number_t *count)
{
    if (!own_map(target)) {
        if (!um_forward_wanted(target))
            return MACH_SEND_INVALID_DEST;
        const um_fw_in in[] = {UM_FW64(*address), UM_FW32(*depth)};
        const um_fw_out out[] = {UM_FWOUT(address), UM_FWOUT(size), UM_FWOUT(depth)};
        const um_fw_array array = {info, sizeof *info, count, VM_REGION_SUBMAP_INFO_COUNT_64};
        return um_forward_array_out(target, UM_MIG_MACH_VM_REGION_RECURSE, in, 2, NULL, out, 3,
                                    &array);
    }
    return recurse_own(address, size, depth, info, count);
}

UM_EXPORT kern_return_t mach_vm_region_recurse(vm_map_read_t target_task,
                                               mach_vm_address_t *address, mach_vm_size_t *size,
                                               natural_t *nesting_depth,
                                               vm_region_recurse_info_t info,
                                               mach_msg_type_number_t *infoCnt)
{
    UM_CALL_SCOPE;
    return recurse_common(target_task, address, size, nesting_depth, info, infoCnt);
}

UM_EXPORT kern_return_t vm_region_recurse_64(vm_map_read_t target_task, vm_address_t *address,
                                             vm_size_t *size, natural_t *nesting_depth,
                                             vm_region_recurse_info_t info,
                                             mach_msg_type_number_t *infoCnt)
{
    UM_CALL_SCOPE;
    return recurse_common(target_task, address, size, nesting_depth,
                          info, infoCnt);
}

/* [addr, addr + size) widened to pages; false when it wraps. */
static bool page_range(uint64_t addr, uint64_t size, uint64_t *start, uint64_t *len)
{
    uint64_t mask = vm_page_size - 1;
    if (addr + size < addr)
        return false;
    *start = addr & ~mask;
    uint64_t end = (addr + size + mask) & ~mask;
    if (end < addr)
        return false;
    *len = end - *start;
    return true;
}

static kern_return_t protect_common(vm_map_t target, uint64_t address, uint64_t size,
                                    boolean_t set_maximum, vm_prot_t new_protection)
{
    if (!own_map(target)) {
        /* Another port: the MIG request (mach_vm_protect's, as vm_protect's on Darwin). */
        if (!um_forward_wanted(target))
            return MACH_SEND_INVALID_DEST;
        const um_fw_in in[] = {UM_FW64(address), UM_FW64(size), UM_FW32(set_maximum),
                               UM_FW32(new_protection)};
        return um_forward_simple(target, UM_MIG_MACH_VM_PROTECT, NULL, in, 4, NULL, 0);
    }
    if (new_protection & ~(VM_PROT_ALL | VM_PROT_COPY))
        return KERN_INVALID_ARGUMENT;
    uint64_t start, len;
    if (!page_range(address, size, &start, &len))
        return KERN_INVALID_ARGUMENT;
    if (len == 0)
        return KERN_SUCCESS;
    return um_vm_protect(start, len, set_maximum != FALSE, new_protection & VM_PROT_ALL);
}

UM_EXPORT kern_return_t vm_protect(vm_map_t target_task, vm_address_t address, vm_size_t size,
                                   boolean_t set_maximum, vm_prot_t new_protection)
{
    UM_CALL_SCOPE;
    return protect_common(target_task, address, size, set_maximum, new_protection);
}

UM_EXPORT kern_return_t mach_vm_protect(vm_map_t target_task, mach_vm_address_t address,
                                        mach_vm_size_t size, boolean_t set_maximum,
                                        vm_prot_t new_protection)
{
    UM_CALL_SCOPE;
    return protect_common(target_task, address, size, set_maximum, new_protection);
}

/*
 * The caller's memory is only ever read and written through process_vm_readv (this process
 * reading itself): a byte that is not there is a failed call, never a fault.
 */

/* Reads `n` bytes at `src` into `to` (the caller's buffer): false when one cannot be read.
 * A copy reads its source with the map held (um_vm_map_hold), so that another thread's
 * vm_deallocate or allocation over it cannot come between two of its pages. */
static bool read_bytes(void *to, uint64_t src, size_t n)
{
    struct iovec local = {to, n};
    struct iovec remote = {(void *)(uintptr_t)src, n};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

/* Writes `n` bytes of `from` at `dst`: false when one cannot be written. The destination is
 * the local side of a read, so tools such as valgrind see the bytes arrive (they do not for
 * a writev). */
static bool write_bytes(uint64_t dst, const void *from, size_t n)
{
    struct iovec local = {(void *)(uintptr_t)dst, n};
    struct iovec remote = {(void *)(uintptr_t)from, n};
    /* Memory a memory entry is being made of is read-only meanwhile: wait and write again. */
    for (;;) {
        uint32_t seen = um_vm_convert_settle(dst, n);
        if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n)
            return true;
        if (!um_vm_convert_ran(seen))
            return false;
    }
}

enum move_result { MOVE_DONE, MOVE_SRC_BAD, MOVE_DST_BAD, MOVE_NO_MEMORY };

/*
 * Copies `size` bytes from `src` to `dst` as from a snapshot of the source (overlapping
 * ranges move as with memmove: the chunks run from the end when the destination lies above).
 * Says which side had a byte that is not reachable. The chunk is on the heap: the calling
 * thread's stack may be smaller than it (a 64 KiB chunk ran past a 64 KiB stack's guard page).
 */
static enum move_result move_bytes(uint64_t dst, uint64_t src, uint64_t size)
{
    enum { CHUNK = 65536 };
    uint8_t *chunk = malloc(size < CHUNK ? (size_t)size : CHUNK);
    if (!chunk)
        return MOVE_NO_MEMORY;
    bool backwards = dst > src && dst - src < size;
    enum move_result res = MOVE_DONE;
    for (uint64_t done = 0; done < size && res == MOVE_DONE;) {
        size_t n = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
        uint64_t at = backwards ? size - done - n : done;
        if (!read_bytes(chunk, src + at, n))
            res = MOVE_SRC_BAD;
        else if (!write_bytes(dst + at, chunk, n))
            res = MOVE_DST_BAD;
        done += n;
    }
    free(chunk);
    return res;
}

/* Does [addr, addr + size) wrap, or its last page? vm_sanitize's code for copyin and
 * copy-overwrite ranges is then KERN_INVALID_ADDRESS (its compatible rewrite). */
static bool range_wraps(uint64_t addr, uint64_t size)
{
    uint64_t end = addr + size;
    return end < addr || end + vm_page_mask < end;
}

/*
 * Can [dst, dst + size) be overwritten? As XNU's copy-overwrite finds it walking the range
 * before any byte moves: a hole first is KERN_INVALID_ADDRESS, a mapping without write
 * permission first KERN_PROTECTION_FAILURE.
 */
static kern_return_t dest_check_once(uint64_t dst, uint64_t size)
{
    for (uint64_t at = dst, end = dst + size; at < end;) {
        map_line m;
        if (!find_region(at, &m) || m.start > at)
            return KERN_INVALID_ADDRESS;
        if (!(m.prot & VM_PROT_WRITE))
            return KERN_PROTECTION_FAILURE;
        at = m.end;
    }
    return KERN_SUCCESS;
}

/* The check, as of a moment no memory entry was being made of the range (read-only then). */
static kern_return_t dest_check(uint64_t dst, uint64_t size)
{
    for (;;) {
        uint32_t seen = um_vm_convert_settle(dst, size);
        kern_return_t kr = dest_check_once(dst, size);
        if (kr == KERN_SUCCESS || !um_vm_convert_ran(seen))
            return kr;
    }
}

/*
 * Can [start, end) be read? As XNU's copyin finds it walking the range: a hole first is
 * KERN_INVALID_ADDRESS, a mapping without read permission first KERN_PROTECTION_FAILURE.
 */
static kern_return_t source_check(uint64_t start, uint64_t end)
{
    for (uint64_t at = start; at < end;) {
        map_line m;
        if (!find_region(at, &m) || m.start > at)
            return KERN_INVALID_ADDRESS;
        if (!(m.prot & VM_PROT_READ))
            return KERN_PROTECTION_FAILURE;
        at = m.end;
    }
    return KERN_SUCCESS;
}

/* The pages holding [addr, addr + size) (which does not wrap). */
static void page_bounds(uint64_t addr, uint64_t size, uint64_t *start, uint64_t *end)
{
    *start = addr & ~(uint64_t)vm_page_mask;
    *end = (addr + size + vm_page_mask) & ~(uint64_t)vm_page_mask;
}

/*
 * A range that failed while it was copied, after its checks passed (another thread unmapped
 * or protected it meanwhile): the code its check gives now, or KERN_INVALID_ADDRESS when it
 * reads well again (the copy met a hole).
 */
static kern_return_t recheck(kern_return_t (*check)(uint64_t, uint64_t), uint64_t a, uint64_t b)
{
    kern_return_t kr = check(a, b);
    return kr != KERN_SUCCESS ? kr : KERN_INVALID_ADDRESS;
}

static kern_return_t dest_range_check(uint64_t start, uint64_t end)
{
    return dest_check(start, end - start);
}

/*
 * The copy on the caller's own map: vm_copy and vm_read_overwrite are both XNU's
 * vm_map_copyin of the source, then vm_map_copy_overwrite of the destination, so the source's
 * error comes first. Size 0 copies nothing and succeeds. A range of at most
 * UM_VM_COPY_SMALL bytes travels through a kernel buffer: copyin then copyout of the bytes
 * themselves, so any byte that cannot be read, or written, is KERN_INVALID_ADDRESS (the
 * fault of either). A larger source walks its map entries (a hole first:
 * KERN_INVALID_ADDRESS; no read permission first: KERN_PROTECTION_FAILURE), a larger
 * destination too (a hole: KERN_INVALID_ADDRESS; read-only: KERN_PROTECTION_FAILURE), and
 * the copy is of a snapshot of the source (overlapping ranges as memmove).
 */
static kern_return_t copy_own(uint64_t src, uint64_t size, uint64_t dst)
{
    if (size == 0)
        return KERN_SUCCESS;
    if (range_wraps(src, size))
        return KERN_INVALID_ADDRESS;
    if (size <= UM_VM_COPY_SMALL) {
        uint8_t *buf = malloc((size_t)size);
        if (!buf)
            return KERN_RESOURCE_SHORTAGE;
        kern_return_t kr = KERN_SUCCESS;
        um_vm_map_hold();
        bool read = read_bytes(buf, src, (size_t)size);
        um_vm_map_release();
        if (!read || range_wraps(dst, size) ||
            dest_check(dst, size) != KERN_SUCCESS || !write_bytes(dst, buf, (size_t)size))
            kr = KERN_INVALID_ADDRESS;
        free(buf);
        return kr;
    }
    uint64_t start, end;
    page_bounds(src, size, &start, &end);
    kern_return_t kr = source_check(start, end);
    if (kr != KERN_SUCCESS)
        return kr;
    if (range_wraps(dst, size))
        return KERN_INVALID_ADDRESS;
    kr = dest_check(dst, size);
    if (kr != KERN_SUCCESS)
        return kr;
    um_vm_map_hold();
    enum move_result moved = move_bytes(dst, src, size);
    um_vm_map_release();
    switch (moved) {
    case MOVE_DONE:
        return KERN_SUCCESS;
    case MOVE_SRC_BAD:
        return recheck(source_check, start, end);
    case MOVE_DST_BAD:
        return recheck(dest_range_check, dst, dst + size);
    case MOVE_NO_MEMORY:
        break;
    }
    return KERN_RESOURCE_SHORTAGE;
}

/* vm_copy and mach_vm_copy: on another port, the routine `id`'s MIG request. */
static kern_return_t copy_common(vm_map_t target, mach_msg_id_t id, uint64_t src, uint64_t size,
                                 uint64_t dst)
{
    if (own_map(target))
        return copy_own(src, size, dst);
    if (!um_forward_wanted(target))
        return MACH_SEND_INVALID_DEST;
    const um_fw_in in[] = {UM_FW64(src), UM_FW64(size), UM_FW64(dst)};
    return um_forward_simple(target, id, NULL, in, 3, NULL, 0);
}

UM_EXPORT kern_return_t vm_copy(vm_map_t target_task, vm_address_t source_address, vm_size_t size,
                                vm_address_t dest_address)
{
    UM_CALL_SCOPE;
    return copy_common(target_task, UM_MIG_MACH_VM_COPY, source_address, size, dest_address);
}

UM_EXPORT kern_return_t mach_vm_copy(vm_map_t target_task, mach_vm_address_t source_address,
                                     mach_vm_size_t size, mach_vm_address_t dest_address)
{
    UM_CALL_SCOPE;
    return copy_common(target_task, UM_MIG_MACH_VM_COPY, source_address, size, dest_address);
}

/*
 * vm_write on the caller's own map: the data travels as the MIG request's out-of-line memory,
 * so a source that cannot be read is the send's MACH_SEND_INVALID_MEMORY, and then XNU's
 * vm_map_copy_overwrite of the destination: as for vm_copy (a small copy's any fault
 * KERN_INVALID_ADDRESS; a larger destination walked: a hole KERN_INVALID_ADDRESS, read-only
 * KERN_PROTECTION_FAILURE). Size 0 writes nothing and succeeds.
 */
static kern_return_t write_own(uint64_t dst, uint64_t data, uint64_t size)
{
    if (size == 0)
        return KERN_SUCCESS;
    if (range_wraps(data, size))
        return MACH_SEND_INVALID_MEMORY;
    uint64_t start, end;
    page_bounds(data, size, &start, &end);
    if (size > UM_VM_COPY_SMALL && source_check(start, end) != KERN_SUCCESS)
        return MACH_SEND_INVALID_MEMORY;
    kern_return_t kr = copy_own(data, size, dst);
    if (kr == KERN_INVALID_ADDRESS && size <= UM_VM_COPY_SMALL) {
        /* The buffer copy does not say which side faulted: the source's is the send's. */
        uint8_t probe;
        for (uint64_t at = data; at < data + size; at = (at | vm_page_mask) + 1)
            if (!read_bytes(&probe, at, 1))
                return MACH_SEND_INVALID_MEMORY;
    }
    return kr;
}

static kern_return_t write_common(vm_map_t target, uint64_t address, uint64_t data,
                                  mach_msg_type_number_t size)
{
    if (own_map(target))
        return write_own(address, data, size);
    /* Another port: the request carries out-of-line memory, which no forward here does. */
    if (um_call_kernel_port(target))
        return KERN_INVALID_ARGUMENT;
    return MACH_SEND_INVALID_DEST;
}

UM_EXPORT kern_return_t vm_write(vm_map_t target_task, vm_address_t address, vm_offset_t data,
                                 mach_msg_type_number_t dataCnt)
{
    UM_CALL_SCOPE;
    return write_common(target_task, address, data, dataCnt);
}

UM_EXPORT kern_return_t mach_vm_write(vm_map_t target_task, mach_vm_address_t address,
                                      vm_offset_t data, mach_msg_type_number_t dataCnt)
{
    UM_CALL_SCOPE;
    return write_common(target_task, address, data, dataCnt);
}

/* Both widths of read_overwrite: the copy, and on success the size read; on another port,
 * the routine `id`'s MIG request, whose reply carries the size read. */
static kern_return_t read_overwrite_common(vm_map_read_t target, mach_msg_id_t id,
                                           uint64_t address, uint64_t size, uint64_t data,
                                           uint64_t *outsize)
{
    if (!own_map(target)) {
        if (!um_forward_wanted(target))
            return MACH_SEND_INVALID_DEST;
        const um_fw_in in[] = {UM_FW64(address), UM_FW64(size), UM_FW64(data)};
        const um_fw_out out[] = {UM_FWOUT(outsize)};
        return um_forward_simple(target, id, NULL, in, 3, out, 1);
    }
    kern_return_t kr = copy_own(address, size, data);
    if (kr == KERN_SUCCESS)
        *outsize = size;
    return kr;
}

UM_EXPORT kern_return_t vm_read_overwrite(vm_map_read_t target_task, vm_address_t address,
                                          vm_size_t size, vm_address_t data, vm_size_t *outsize)
{
    UM_CALL_SCOPE;
    return read_overwrite_common(target_task, UM_MIG_MACH_VM_READ_OVERWRITE, address, size, data,
                                 outsize);
}

UM_EXPORT kern_return_t mach_vm_read_overwrite(vm_map_read_t target_task, mach_vm_address_t address,
                                               mach_vm_size_t size, mach_vm_address_t data,
                                               mach_vm_size_t *outsize)
{
    UM_CALL_SCOPE;
    return read_overwrite_common(target_task, UM_MIG_MACH_VM_READ_OVERWRITE, address, size, data,
                                 outsize);
}

/*
 * XNU's vm_map_copyin of [addr, addr + size) (size > 0) from the caller's map, then
 * vm_map_copyout of the copy into fresh memory of the caller's (vm_deallocate it): *out is
 * where the data starts. A range that wraps is KERN_INVALID_ADDRESS. At most
 * UM_VM_COPY_SMALL bytes travel through a kernel buffer: the bytes themselves are read
 * before any memory is taken (any that cannot be: KERN_INVALID_ADDRESS, copyin's fault) and
 * land at the start of a fresh page. A larger range is checked region by region (a hole
 * first: KERN_INVALID_ADDRESS; no read permission first: KERN_PROTECTION_FAILURE), then its
 * whole pages are copied, the data keeping its offset within its page.
 */
static kern_return_t copyin_out(uint64_t addr, uint64_t size, uint64_t *out)
{
    if (range_wraps(addr, size))
        return KERN_INVALID_ADDRESS;
    if (size <= UM_VM_COPY_SMALL) {
        uint8_t *buf = malloc((size_t)size);
        if (!buf)
            return KERN_RESOURCE_SHORTAGE;
        kern_return_t kr = KERN_INVALID_ADDRESS;
        uint64_t copy = 0, len = (size + vm_page_mask) & ~(uint64_t)vm_page_mask;
        um_vm_map_hold();
        bool read = read_bytes(buf, addr, (size_t)size);
        um_vm_map_release();
        if (read) {
            kr = um_vm_allocate_region(&copy, len, VM_FLAGS_ANYWHERE);
            if (kr == KERN_SUCCESS && !write_bytes(copy, buf, (size_t)size)) {
                um_vm_deallocate_region(copy, len);
                kr = KERN_INVALID_ADDRESS;
            }
        }
        free(buf);
        if (kr == KERN_SUCCESS)
            *out = copy;
        return kr;
    }
    uint64_t start, end;
    page_bounds(addr, size, &start, &end);
    kern_return_t kr = source_check(start, end);
    if (kr != KERN_SUCCESS)
        return kr;
    uint64_t copy = 0;
    kr = um_vm_allocate_region(&copy, end - start, VM_FLAGS_ANYWHERE);
    if (kr != KERN_SUCCESS)
        return kr;
    /*
     * The copy's memory was free when it was taken: if it lies in the range, another thread
     * unmapped part of the source since its check, and the copy would read itself (zeros
     * reported as the data). The source had a hole: KERN_INVALID_ADDRESS, as XNU's copyin
     * finds it. The move holds the map: what the check passed may have gone since (a failed
     * read, rechecked below), but no page of the source changes while it is read.
     */
    um_vm_map_hold();
    enum move_result moved = copy < end && start < copy + (end - start)
                                 ? MOVE_SRC_BAD
                                 : move_bytes(copy, start, end - start);
    um_vm_map_release();
    if (moved != MOVE_DONE) {
        um_vm_deallocate_region(copy, end - start);
        if (moved == MOVE_SRC_BAD)
            return recheck(source_check, start, end);
        return moved == MOVE_NO_MEMORY ? KERN_RESOURCE_SHORTAGE : KERN_INVALID_ADDRESS;
    }
    *out = copy + (addr - start);
    return KERN_SUCCESS;
}

/*
 * vm_read on the caller's own map: XNU's mach_vm_read (a size that does not fit the 32-bit
 * count is KERN_INVALID_ARGUMENT, size 0 is no memory at all: *data 0), the data copied out
 * as the reply's out-of-line memory is (copyin_out).
 */
static kern_return_t read_own(uint64_t address, uint64_t size, vm_offset_t *data,
                              mach_msg_type_number_t *count)
{
    if (size > UINT32_MAX)
        return KERN_INVALID_ARGUMENT;
    uint64_t copy = 0;
    if (size != 0) {
        kern_return_t kr = copyin_out(address, size, &copy);
        if (kr != KERN_SUCCESS)
            return kr;
    }
    *data = (vm_offset_t)copy;
    *count = (mach_msg_type_number_t)size;
    return KERN_SUCCESS;
}

/* Both widths of vm_read; on another port, the routine `id`'s MIG request, whose reply
 * carries the data out of line. */
static kern_return_t read_common(vm_map_read_t target, mach_msg_id_t id, uint64_t address,
                                 uint64_t size, vm_offset_t *data, mach_msg_type_number_t *count)
{
    if (own_map(target))
        return read_own(address, size, data, count);
    if (!um_forward_wanted(target))
        return MACH_SEND_INVALID_DEST;
    const um_fw_in in[] = {UM_FW64(address), UM_FW64(size)};
    const um_fw_ool ool = {data, count, 1};
    return um_forward_ool_out(target, id, in, 2, NULL, 0, &ool, 1);
}

UM_EXPORT kern_return_t vm_read(vm_map_read_t target_task, vm_address_t address, vm_size_t size,
                                vm_offset_t *data, mach_msg_type_number_t *dataCnt)
{
    UM_CALL_SCOPE;
    return read_common(target_task, UM_MIG_MACH_VM_READ, address, size, data, dataCnt);
}

UM_EXPORT kern_return_t mach_vm_read(vm_map_read_t target_task, mach_vm_address_t address,
                                     mach_vm_size_t size, vm_offset_t *data,
                                     mach_msg_type_number_t *dataCnt)
{
    UM_CALL_SCOPE;
    return read_common(target_task, UM_MIG_MACH_VM_READ, address, size, data, dataCnt);
}

/*
 * vm_read_list on the caller's own map, as XNU's vm_user.c serves it: more than
 * VM_MAP_ENTRY_MAX entries is KERN_INVALID_ARGUMENT; each entry of a size other than 0 is
 * copied in and out as vm_read's data is (copyin_out), its address replaced by the copy's
 * (vm_deallocate it, `size` bytes from there); an entry that fails, or of size 0, becomes
 * address 0 and size 0. The result is the last copied entry's (a later success hides an
 * earlier failure, as in XNU's loop). XNU edits the kernel's copy of the array, and its MIG
 * server answers a failure with a bare error reply: the caller's list is then unchanged, so
 * here too the copies are made on the side and, on a failure, the list kept. The copies made
 * stay mapped, as XNU's copyout left them, with no address given to free them by.
 */
static kern_return_t read_list_own(struct mach_vm_read_entry *list, natural_t count)
{
    if (count > VM_MAP_ENTRY_MAX)
        return KERN_INVALID_ARGUMENT;
    struct mach_vm_read_entry got[VM_MAP_ENTRY_MAX];
    kern_return_t kr = KERN_SUCCESS;
    for (natural_t i = 0; i < count; i++) {
        got[i] = list[i];
        uint64_t at = 0;
        if (got[i].size != 0) {
            kr = copyin_out(got[i].address, got[i].size, &at);
            if (kr == KERN_SUCCESS) {
                got[i].address = at;
                continue;
            }
        }
        got[i].address = 0;
        got[i].size = 0;
    }
    if (kr != KERN_SUCCESS)
        return kr;
    memcpy(list, got, count * sizeof *got);
    return KERN_SUCCESS;
}

/* Both widths of vm_read_list (one layout: 64-bit addresses and sizes); on another port,
 * the routine `id`'s MIG request carrying the whole array. */
_Static_assert(sizeof(struct vm_read_entry) == sizeof(struct mach_vm_read_entry) &&
                   offsetof(struct vm_read_entry, size) ==
                       offsetof(struct mach_vm_read_entry, size),
               "vm_read_list shares read_list_own with mach_vm_read_list");

static kern_return_t read_list_common(vm_map_read_t target, mach_msg_id_t id, void *list,
                                      natural_t count)
{
    if (own_map(target))
        return read_list_own(list, count);
    if (!um_forward_wanted(target))
        return MACH_SEND_INVALID_DEST;
    return um_forward_read_list(target, id, list, count);
}

UM_EXPORT kern_return_t mach_vm_read_list(vm_map_read_t target_task,
                                          mach_vm_read_entry_t data_list, natural_t count)
{
    UM_CALL_SCOPE;
    return read_list_common(target_task, UM_MIG_MACH_VM_READ_LIST, data_list, count);
}

UM_EXPORT kern_return_t vm_read_list(vm_map_read_t target_task, vm_read_entry_t data_list,
                                     natural_t count)
{
    UM_CALL_SCOPE;
    return read_list_common(target_task, UM_MIG_MACH_VM_READ_LIST, data_list, count);
}

/* ---- one page: mach_vm_page_info, mach_vm_page_query ------------------------------------------ */

/* /proc/self/pagemap's entry for the page holding `addr` (0 when it cannot be read). */
static uint64_t pagemap_entry(uint64_t addr)
{
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    uint64_t e = 0;
    if (pread(fd, &e, sizeof e, (off_t)((addr / vm_page_size) * sizeof e)) != (ssize_t)sizeof e)
        e = 0;
    close(fd);
    return e;
}

/*
 * XNU's vm_map_page_info, VM_PAGE_INFO_BASIC, from what Linux tells of the page at `addr`: a
 * page in memory (mincore: of the file's cache too, as XNU finds it in the object, or mapped
 * here: pagemap) is PRESENT, mapped here also REF, and written since it was mapped DIRTY (an
 * anonymous page mapped here alone, or pagemap's soft-dirty bit where the kernel keeps it);
 * swapped out is PAGED_OUT; a file's page is EXTERNAL. Such a page's
 * object is the Linux mapping (ref_count 1, object_id its start), its offset the mapping's
 * file offset of the address; a page with neither, or no mapping there, reads all zeros, as
 * XNU's page with no object does. `basic` is filled whole; the caller copies what `count`
 * allows.
 */
static kern_return_t page_info_own(uint64_t address, vm_page_info_flavor_t flavor,
                                   mach_msg_type_number_t count, vm_page_info_basic_data_t *basic)
{
    if (flavor != VM_PAGE_INFO_BASIC)
        return KERN_INVALID_ARGUMENT;
    /* The structure was once a word short: both counts are accepted. */
    if (count != VM_PAGE_INFO_BASIC_COUNT && count != VM_PAGE_INFO_BASIC_COUNT - 1)
        return KERN_INVALID_ARGUMENT;
    uint64_t mask = vm_page_mask;
    if (address + 1 < address || ((address + 1 + mask) & ~mask) <= (address & ~mask))
        return KERN_INVALID_ADDRESS; /* vm_sanitize's rewrite for the page-info calls */
    memset(basic, 0, sizeof *basic);
    uint64_t page = address & ~mask;
    map_line m;
    if (!find_region(page, &m) || m.start > page)
        return KERN_SUCCESS;
    int disposition = 0;
    unsigned char resident = 0;
    if (mincore((void *)(uintptr_t)page, (size_t)vm_page_size, &resident) == 0 && (resident & 1))
        disposition |= VM_PAGE_QUERY_PAGE_PRESENT;
    uint64_t e = pagemap_entry(page);
    if (e & UM_PM_PRESENT) {
        disposition |= VM_PAGE_QUERY_PAGE_PRESENT | VM_PAGE_QUERY_PAGE_REF;
        if (pm_dirty(e))
            disposition |= VM_PAGE_QUERY_PAGE_DIRTY;
    } else if (e & UM_PM_SWAPPED) {
        disposition |= VM_PAGE_QUERY_PAGE_PAGED_OUT;
    }
    /* A file's pages are its object's (XNU's external pager) whether or not one is in memory. */
    if (m.file)
        disposition |= VM_PAGE_QUERY_PAGE_EXTERNAL;
    if (!disposition)
        return KERN_SUCCESS;
    basic->disposition = disposition;
    basic->ref_count = 1;
    basic->object_id = m.start;
    basic->offset = m.offset + (address - m.start);
    return KERN_SUCCESS;
}

static kern_return_t page_info_common(vm_map_read_t target, uint64_t address,
                                      vm_page_info_flavor_t flavor, vm_page_info_t info,
                                      mach_msg_type_number_t *count)
{
    if (!own_map(target)) {
        /* Another port: the MIG request, whose reply carries the info array (32 at most). */
        if (!um_forward_wanted(target))
            return MACH_SEND_INVALID_DEST;
        const um_fw_in in[] = {UM_FW64(address), UM_FW32(flavor)};
        const um_fw_array array = {info, sizeof *info, count, 32};
        return um_forward_array_out(target, UM_MIG_MACH_VM_PAGE_INFO, in, 2, NULL, NULL, 0,
                                    &array);
    }
    vm_page_info_basic_data_t basic;
    kern_return_t kr = page_info_own(address, flavor, *count, &basic);
    if (kr == KERN_SUCCESS)
        memcpy(info, &basic, *count * sizeof(int));
    return kr;
}

UM_EXPORT kern_return_t mach_vm_page_info(vm_map_read_t target_task, mach_vm_address_t address,
                                          vm_page_info_flavor_t flavor, vm_page_info_t info,
                                          mach_msg_type_number_t *infoCnt)
{
    UM_CALL_SCOPE;
    return page_info_common(target_task, address, flavor, info, infoCnt);
}

/* XNU's mach_vm_page_query: the basic info's disposition and ref_count, both 0 on failure. */
static kern_return_t page_query_common(vm_map_read_t target, uint64_t offset,
                                       integer_t *disposition, integer_t *ref_count)
{
    if (!own_map(target)) {
        if (!um_forward_wanted(target))
            return MACH_SEND_INVALID_DEST;
        const um_fw_in in[] = {UM_FW64(offset)};
        const um_fw_out out[] = {UM_FWOUT(disposition), UM_FWOUT(ref_count)};
        return um_forward_simple(target, UM_MIG_MACH_VM_PAGE_QUERY, NULL, in, 1, out, 2);
    }
    vm_page_info_basic_data_t basic;
    kern_return_t kr = page_info_own(offset, VM_PAGE_INFO_BASIC, VM_PAGE_INFO_BASIC_COUNT, &basic);
    *disposition = kr == KERN_SUCCESS ? basic.disposition : 0;
    *ref_count = kr == KERN_SUCCESS ? basic.ref_count : 0;
    return kr;
}

UM_EXPORT kern_return_t mach_vm_page_query(vm_map_read_t target_map, mach_vm_offset_t offset,
                                           integer_t *disposition, integer_t *ref_count)
{
    UM_CALL_SCOPE;
    return page_query_common(target_map, offset, disposition, ref_count);
}

UM_EXPORT kern_return_t vm_map_page_query(vm_map_read_t target_map, vm_offset_t offset,
                                          integer_t *disposition, integer_t *ref_count)
{
    UM_CALL_SCOPE;
    return page_query_common(target_map, offset, disposition, ref_count);
}
