/*
 * um_vm_entry.c — shared memory the Darwin way: named memory entries
 * (mach_make_memory_entry_64, mach_make_memory_entry, mach_memory_entry_purgable_control),
 * mach_vm_map / vm_map of an entry or of anonymous memory, and mach_vm_remap / vm_remap /
 * mach_vm_remap_new / vm_remap_new on the caller's own task.
 *
 * An entry is a kernel-object port (kern/um_kobject_ports.h, UM_KOT_MEMORY_ENTRY) standing for
 * a range of a memfd: MAP_MEM_NAMED_CREATE makes a new zero-filled memfd; an entry for a range
 * of the caller's memory shares that range's memfd (a region from vm_allocate or a mapping of
 * another entry) or first moves private memory into a new memfd mapped in its place
 * (vm/um_regions.c, um_vm_share_range); MAP_MEM_VM_COPY takes a snapshot into a new memfd. A
 * read-only entry holds its memfd opened read-only, so no mapping of it, in this process or
 * another, can ever be made writable. The entry lives while send rights to it do.
 *
 * Mapping an entry maps its memfd MAP_SHARED (copy FALSE: every mapping sees the others'
 * writes, in any process of a world) or copies its bytes into private memory (copy TRUE).
 * In a world the entry is the daemon's (tools/umachd/d_entries.c): creating one passes the
 * memfd to umachd, mapping one asks it for the memfd back; the mappings are this process's.
 *
 * XNU's checks and codes (osfmk/vm/vm_memory_entry.c, vm_map.c vm_map_enter_mem_object,
 * vm_user.c, vm_sanitize.c): unknown MAP_MEM_* flags KERN_INVALID_VALUE; a zero size
 * KERN_INVALID_ARGUMENT except for NAMED_CREATE (success, no entry); an entry for a hole
 * KERN_INVALID_ADDRESS, for memory without the protection asked KERN_PROTECTION_FAILURE;
 * mapping with more than the entry allows KERN_INVALID_RIGHT; past its end
 * KERN_INVALID_ARGUMENT; a port that is no entry KERN_INVALID_OBJECT; flags outside
 * VM_FLAGS_USER_MAP / VM_FLAGS_USER_REMAP, a current protection above the maximum, a bad
 * inheritance or a range that overflows KERN_INVALID_ARGUMENT; an occupied fixed range
 * KERN_NO_SPACE.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fallocate */
#endif
#include "../client/um_client.h"
#include "../dispatch/um_calls.h"
#include "../dispatch/um_forward.h"
#include "../kern/um_kobject_ports.h"
#include "../vm/um_regions.h"
#include "../um_export.h"
#include "um_embedded.h"
#include "um_vm_mig.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <mach/memory_entry.h>
#include <mach/memory_object_types.h>
#include <mach/vm_map.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Highest user address (as um_vm.c). */
#define UM_VM_MAX_ADDRESS (1ULL << 47)

static inline uint64_t pmask(void)
{
    return (uint64_t)vm_page_mask;
}

/* ---- entries, embedded or the world's ---------------------------------------------------- */

static void embedded_entry_release(um_mem_entry *e)
{
    close(e->fd);
    free(e);
}

/* A new entry for `fd` (taken in every case) and a send right to it in *namep. */
static kern_return_t entry_new(const um_mem_entry_info *info, int fd, mach_port_t *namep)
{
    if (um_client_active())
        return um_client_mem_entry_create(info, fd, namep);
    um_mem_entry *e = calloc(1, sizeof *e);
    if (!e) {
        close(fd);
        return KERN_RESOURCE_SHORTAGE;
    }
    e->fd = fd;
    e->offset = info->offset;
    e->size = info->size;
    e->prot = info->prot;
    e->is_copy = info->is_copy;
    e->purgable = info->purgable;
    e->release = embedded_entry_release;
    um_task *self = um_embedded_enter();
    kern_return_t kr = um_mem_entry_create(self->space, e, namep);
    um_embedded_leave();
    return kr;
}

/*
 * What the entry `name` names, with a duplicate of its memfd (*fdp, the caller's). The
 * lookup's codes (KERN_INVALID_NAME, KERN_INVALID_RIGHT, KERN_INVALID_CAPABILITY), *deadp
 * for a dead name; KERN_RESOURCE_SHORTAGE when no descriptor is left.
 */
static kern_return_t entry_get(mach_port_t name, um_mem_entry_info *info, int *fdp, bool *deadp)
{
    *fdp = -1;
    if (um_client_active())
        return um_client_mem_entry_get(name, info, fdp, deadp);
    um_task *self = um_embedded_enter();
    um_mem_entry *e;
    kern_return_t kr = um_mem_entry_lookup(self->space, name, &e, deadp);
    if (kr == KERN_SUCCESS) {
        info->offset = e->offset;
        info->size = e->size;
        info->prot = e->prot;
        info->is_copy = e->is_copy;
        info->purgable = e->purgable;
        *fdp = fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
        if (*fdp < 0)
            kr = KERN_RESOURCE_SHORTAGE;
    }
    um_embedded_leave();
    return kr;
}

/*
 * A task argument that is not the caller's own task: a port of another kind is what XNU's
 * routine answers when its conversion finds no map; anything else is refused as vm calls on
 * other tasks are (docs/porting.md).
 */
static kern_return_t not_own_task(vm_map_t task)
{
    if (um_call_kernel_port(task))
        return KERN_INVALID_ARGUMENT;
    return MACH_SEND_INVALID_DEST;
}

/*
 * The memfd an entry of protection `prot` keeps: without VM_PROT_WRITE, `fd` reopened
 * read-only (through /proc/self/fd), so that no mapping of it can be writable. Takes `fd`;
 * -1 when it cannot be reopened.
 */
static int entry_fd_for(int fd, int prot)
{
    if (prot & VM_PROT_WRITE)
        return fd;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    close(fd);
    return ro;
}

/* ---- mach_make_memory_entry ------------------------------------------------------------- */

/* The failure every path of XNU's mach_make_memory_entry leaves: size 0, no handle. */
static kern_return_t entry_fail(kern_return_t kr, uint64_t *size, mach_port_t *handle)
{
    *size = 0;
    *handle = MACH_PORT_NULL;
    return kr;
}

/* [offset, offset + size) as whole pages: false when it overflows. */
static bool page_span(uint64_t offset, uint64_t size, uint64_t *start, uint64_t *len)
{
    uint64_t end = offset + size;
    if (end < offset || end + pmask() < end || end > UM_VM_MAX_ADDRESS)
        return false;
    *start = offset & ~pmask();
    *len = ((end + pmask()) & ~pmask()) - *start;
    return true;
}

/* Are `permission`'s MAP_MEM_* flags ones a user may ask for? */
static bool entry_flags_ok(vm_prot_t permission)
{
    return !((unsigned)permission & MAP_MEM_FLAGS_MASK & ~(unsigned)MAP_MEM_FLAGS_USER);
}

/*
 * The part of making an entry that needs no world: from the parent's `pinfo` and memfd `pfd`
 * (taken; -1 and NULL: no parent), the new entry's `*info` and memfd (*fdp, the caller's; -1:
 * no entry is made, the routine succeeding with *size as it leaves it). An error is the
 * routine's, nothing left to free.
 */
static kern_return_t entry_prepare(uint64_t *size, uint64_t offset, vm_prot_t permission,
                                   const um_mem_entry_info *pinfo, int pfd,
                                   um_mem_entry_info *info, int *fdp)
{
    int prot = permission & VM_PROT_ALL;
    bool mask_prot = (permission & VM_PROT_IS_MASK) != 0;
    bool data_addr = (permission & (MAP_MEM_USE_DATA_ADDR | MAP_MEM_4K_DATA_ADDR)) != 0;
    bool has_parent = pinfo != NULL;
    kern_return_t kr = KERN_SUCCESS;
    *info = (um_mem_entry_info){0, 0, prot, false, VM_PURGABLE_DENY};
    *fdp = -1;
    int fd = -1;
    uint64_t start, len;

    if (has_parent && pinfo->is_copy) {
        kr = KERN_INVALID_ARGUMENT;
    } else if (permission & MAP_MEM_ONLY) {
        /* Only the parent's cache mode changes: nothing umach keeps. */
        kr = data_addr || !has_parent ? KERN_INVALID_ARGUMENT : KERN_SUCCESS;
    } else if (permission & MAP_MEM_NAMED_CREATE) {
        if (*size == 0) {
            kr = KERN_SUCCESS; /* nothing made */
        } else if (!page_span(offset, *size, &start, &len) || data_addr ||
                   ((permission & MAP_MEM_PURGABLE) && !(prot & VM_PROT_WRITE))) {
            kr = KERN_INVALID_ARGUMENT;
        } else if ((fd = um_vm_entry_memfd(len)) < 0) {
            kr = KERN_RESOURCE_SHORTAGE;
        } else {
            info->size = len;
            if (permission & MAP_MEM_PURGABLE)
                info->purgable = VM_PURGABLE_NONVOLATILE;
        }
    } else if (permission & MAP_MEM_VM_COPY) {
        int have;
        if (*size == 0 || !page_span(offset, *size, &start, &len))
            kr = KERN_INVALID_ARGUMENT;
        else
            kr = um_vm_copy_range(start, len, &fd, &have);
        if (kr == KERN_SUCCESS) {
            info->size = len;
            info->is_copy = true;
        }
    } else if ((permission & (MAP_MEM_VM_SHARE | MAP_MEM_NAMED_REUSE)) || !has_parent) {
        int have, max;
        uint64_t foff;
        if (*size == 0 || !page_span(offset, *size, &start, &len)) {
            kr = KERN_INVALID_ARGUMENT;
        } else {
            /* Without MAP_MEM_VM_SHARE the entry stops where the memory object changes
             * (XNU's vmkf_copy_single_object), so an earlier entry's mapping is never moved. */
            if (!(permission & MAP_MEM_VM_SHARE))
                len = um_vm_one_object_len(start, len);
            kr = um_vm_range_prot(start, len, &have, &max);
        }
        if (kr == KERN_SUCCESS) {
            if (mask_prot)
                prot &= have;
            if ((mask_prot && prot == VM_PROT_NONE) || (have & prot) != prot ||
                (max & prot) != prot)
                kr = KERN_PROTECTION_FAILURE;
        }
        if (kr == KERN_SUCCESS)
            kr = um_vm_share_range(start, len, &fd, &foff, &have, &max);
        if (kr == KERN_SUCCESS) {
            info->offset = foff;
            info->size = len;
            info->prot = prot;
        }
    } else {
        /* A part of the parent, the offset counted from the parent's start. */
        if (!page_span(offset, *size, &start, &len) || start + len > pinfo->size ||
            start + len < start) {
            kr = KERN_INVALID_ARGUMENT;
        } else {
            if (mask_prot)
                prot &= pinfo->prot;
            if ((prot & pinfo->prot) != prot)
                kr = KERN_PROTECTION_FAILURE;
        }
        if (kr == KERN_SUCCESS) {
            info->offset = pinfo->offset + start;
            info->size = len;
            info->prot = prot;
            fd = pfd;
            pfd = -1;
        }
    }
    if (pfd >= 0)
        close(pfd);
    if (kr != KERN_SUCCESS)
        return kr;
    if (fd >= 0 && (fd = entry_fd_for(fd, info->prot)) < 0)
        return KERN_RESOURCE_SHORTAGE;
    *fdp = fd;
    return KERN_SUCCESS;
}

static kern_return_t make_entry(vm_map_t task, uint64_t *size, uint64_t offset,
                                vm_prot_t permission, mach_port_t *handle, mach_port_t parent)
{
    if (!um_call_task_check(task))
        return not_own_task(task);
    if (!size || !handle)
        return KERN_INVALID_ARGUMENT;
    if (!entry_flags_ok(permission))
        return entry_fail(KERN_INVALID_VALUE, size, handle);

    /* The parent: a send right the MIG request copies in; a port that is no entry is none. */
    um_mem_entry_info pinfo = {0};
    int pfd = -1;
    bool has_parent = false;
    if (parent != MACH_PORT_NULL) {
        bool dead;
        kern_return_t kr = entry_get(parent, &pinfo, &pfd, &dead);
        if (kr == KERN_SUCCESS)
            has_parent = true;
        else if (kr == KERN_INVALID_NAME || (kr == KERN_INVALID_RIGHT && !dead))
            return entry_fail(MACH_SEND_INVALID_RIGHT, size, handle);
        else if (kr == KERN_RESOURCE_SHORTAGE)
            return entry_fail(kr, size, handle);
    }
    um_mem_entry_info info;
    int fd;
    kern_return_t kr =
        entry_prepare(size, offset, permission, has_parent ? &pinfo : NULL, pfd, &info, &fd);
    if (kr != KERN_SUCCESS)
        return entry_fail(kr, size, handle);
    mach_port_t name = MACH_PORT_NULL;
    if (fd >= 0) {
        if ((kr = entry_new(&info, fd, &name)) != KERN_SUCCESS)
            return entry_fail(kr, size, handle);
        *size = info.size;
    }
    *handle = name;
    return KERN_SUCCESS;
}

kern_return_t um_vm_entry_make_locked(uint64_t *size, uint64_t offset, vm_prot_t permission,
                                      um_port *parent, um_port **entryp)
{
    *entryp = NULL;
    mach_port_t none;
    if (!entry_flags_ok(permission))
        return entry_fail(KERN_INVALID_VALUE, size, &none);
    /* A parent that is no live entry is none, as XNU's conversion of the port finds none. */
    um_mem_entry_info pinfo = {0};
    int pfd = -1;
    bool has_parent = false;
    if (UM_PORT_VALID(parent) && parent->active && parent->kotype == UM_KOT_MEMORY_ENTRY) {
        const um_mem_entry *pe = um_rare(parent)->kobject;
        pinfo.offset = pe->offset;
        pinfo.size = pe->size;
        pinfo.prot = pe->prot;
        pinfo.is_copy = pe->is_copy;
        pinfo.purgable = pe->purgable;
        if ((pfd = fcntl(pe->fd, F_DUPFD_CLOEXEC, 0)) < 0)
            return entry_fail(KERN_RESOURCE_SHORTAGE, size, &none);
        has_parent = true;
    }
    um_mem_entry_info info;
    int fd;
    kern_return_t kr =
        entry_prepare(size, offset, permission, has_parent ? &pinfo : NULL, pfd, &info, &fd);
    if (kr != KERN_SUCCESS)
        return entry_fail(kr, size, &none);
    if (fd < 0)
        return KERN_SUCCESS;
    um_mem_entry *e = calloc(1, sizeof *e);
    if (!e) {
        close(fd);
        return entry_fail(KERN_RESOURCE_SHORTAGE, size, &none);
    }
    e->fd = fd;
    e->offset = info.offset;
    e->size = info.size;
    e->prot = info.prot;
    e->is_copy = info.is_copy;
    e->purgable = info.purgable;
    e->release = embedded_entry_release;
    um_port *port = um_kobject_port_alloc(UM_KOT_MEMORY_ENTRY, e);
    if (!port) {
        e->release(e);
        return entry_fail(KERN_RESOURCE_SHORTAGE, size, &none);
    }
    /* The reply's naked send right keeps the port; the allocation's reference goes. */
    um_port_make_send(port);
    um_port_release(port);
    *entryp = port;
    *size = info.size;
    return KERN_SUCCESS;
}

UM_EXPORT kern_return_t mach_make_memory_entry_64(vm_map_t target_task, memory_object_size_t *size,
                                                  memory_object_offset_t offset,
                                                  vm_prot_t permission, mach_port_t *object_handle,
                                                  mem_entry_name_port_t parent_entry)
{
    UM_CALL_SCOPE;
    uint64_t s = size ? *size : 0;
    kern_return_t kr =
        make_entry(target_task, size ? &s : NULL, offset, permission, object_handle, parent_entry);
    if (size && kr != MACH_SEND_INVALID_DEST)
        *size = s;
    return kr;
}

UM_EXPORT kern_return_t mach_make_memory_entry(vm_map_t target_task, vm_size_t *size,
                                               vm_offset_t offset, vm_prot_t permission,
                                               mem_entry_name_port_t *object_handle,
                                               mem_entry_name_port_t parent_entry)
{
    UM_CALL_SCOPE;
    uint64_t s = size ? *size : 0;
    kern_return_t kr =
        make_entry(target_task, size ? &s : NULL, offset, permission, object_handle, parent_entry);
    if (size && kr != MACH_SEND_INVALID_DEST)
        *size = (vm_size_t)s;
    return kr;
}

UM_EXPORT kern_return_t mach_memory_entry_purgable_control(mem_entry_name_port_t mem_entry,
                                                           vm_purgable_t control, int *state)
{
    UM_CALL_SCOPE;
    if (!state)
        return KERN_INVALID_ARGUMENT;
    if (control == VM_PURGABLE_SET_STATE_FROM_KERNEL)
        return KERN_INVALID_ARGUMENT; /* not from user space */
    if (um_client_active())
        return um_client_mem_entry_purgable(mem_entry, control, state);
    um_task *self = um_embedded_enter();
    um_mem_entry *e;
    bool dead, purge = false;
    kern_return_t kr = um_mem_entry_lookup(self->space, mem_entry, &e, &dead);
    if (kr == KERN_INVALID_CAPABILITY)
        kr = KERN_INVALID_ARGUMENT; /* a kernel routine on a port that is no entry */
    else if (kr != KERN_SUCCESS)
        kr = MACH_SEND_INVALID_DEST; /* the request cannot be sent to the name */
    else
        kr = um_mem_entry_purgable(e, control, state, &purge);
    if (purge)
        (void)fallocate(e->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)e->offset,
                        (off_t)e->size);
    um_embedded_leave();
    return kr;
}

/* ---- mach_vm_map ------------------------------------------------------------------------ */

/* vm_sanitize_cur_and_max_prots and vm_sanitize_inherit. */
static kern_return_t prots_check(vm_prot_t cur, vm_prot_t max, vm_inherit_t inherit)
{
    const int allowed = VM_PROT_ALL | VM_PROT_IS_MASK;
    if ((cur & ~allowed) || (max & ~allowed))
        return KERN_INVALID_ARGUMENT;
    if ((cur & max & VM_PROT_ALL) != (cur & VM_PROT_ALL))
        return KERN_INVALID_ARGUMENT; /* cur above max */
    if (inherit > VM_INHERIT_LAST_VALID)
        return KERN_INVALID_ARGUMENT;
    return KERN_SUCCESS;
}

/*
 * Where the new mapping goes: anywhere (*at 0), or fixed at addr's page with the size rounded
 * up from that page's start, as XNU's vm_sanitize_addr_size with VM_SANITIZE_FLAGS_REALIGN_START
 * (an unaligned addr + size that ends in the next page does not reach it). KERN_INVALID_ARGUMENT
 * for a size of 0 or a range that overflows.
 */
static kern_return_t place_check(uint64_t addr, uint64_t size, int flags, uint64_t *at,
                                 uint64_t *len)
{
    if (size == 0)
        return KERN_INVALID_ARGUMENT;
    if (flags & VM_FLAGS_ANYWHERE) {
        if (size + pmask() < size || size > UM_VM_MAX_ADDRESS)
            return KERN_INVALID_ARGUMENT;
        *at = 0;
        *len = (size + pmask()) & ~pmask();
        return KERN_SUCCESS;
    }
    if (!page_span(addr & ~pmask(), size, at, len))
        return KERN_INVALID_ARGUMENT;
    if (*at == 0)
        return KERN_NO_SPACE; /* page zero is never available */
    return KERN_SUCCESS;
}

static kern_return_t map_common(vm_map_t task, uint64_t *address, uint64_t size, uint64_t mask,
                                int flags, mach_port_t object, uint64_t offset, boolean_t copy,
                                vm_prot_t cur, vm_prot_t max, vm_inherit_t inherit)
{
    if (!um_call_task_check(task))
        return not_own_task(task);
    if (!address)
        return KERN_INVALID_ARGUMENT;
    if ((unsigned)flags & ~(unsigned)VM_FLAGS_USER_MAP)
        return KERN_INVALID_ARGUMENT;
    kern_return_t kr = prots_check(cur, max, inherit);
    if (kr != KERN_SUCCESS)
        return kr;
    bool mask_cur = (cur & VM_PROT_IS_MASK) != 0, mask_max = (max & VM_PROT_IS_MASK) != 0;
    cur &= VM_PROT_ALL;
    max &= VM_PROT_ALL;
    uint64_t at, len;
    kr = place_check(*address, size, flags, &at, &len);
    if (kr != KERN_SUCCESS)
        return kr;
    int place_flags = flags & (VM_FLAGS_ANYWHERE | VM_FLAGS_OVERWRITE);

    um_mem_entry_info info;
    int fd = -1;
    bool dead = false;
    if (object != MACH_PORT_NULL) {
        kr = entry_get(object, &info, &fd, &dead);
        if (kr == KERN_INVALID_NAME || (kr == KERN_INVALID_RIGHT && !dead))
            return MACH_SEND_INVALID_RIGHT; /* the MIG request cannot carry it */
        if (kr == KERN_INVALID_CAPABILITY)
            return KERN_INVALID_OBJECT;
        if (kr != KERN_SUCCESS && !dead)
            return kr;
    }
    if (fd < 0) {
        /* MEMORY_OBJECT_NULL (or a dead name, which the request carries as a dead port):
         * anonymous zero-filled memory, as vm_allocate's when nothing more is asked of it. */
        if (cur == (VM_PROT_READ | VM_PROT_WRITE) && (mask & ~pmask()) == 0 &&
            inherit == VM_INHERIT_DEFAULT)
            kr = um_vm_allocate_region(&at, len, place_flags);
        else
            kr = um_vm_map_private(-1, 0, len, cur, mask, place_flags, (int)inherit, &at);
        if (kr == KERN_SUCCESS)
            *address = at;
        return kr;
    }
    uint64_t in_page = 0;
    if (flags & (VM_FLAGS_RETURN_DATA_ADDR | VM_FLAGS_RETURN_4K_DATA_ADDR)) {
        in_page = offset & pmask();
        offset -= in_page;
        if (size + in_page < size)
            kr = KERN_INVALID_ARGUMENT;
        len = (size + in_page + pmask()) & ~pmask();
    }
    if (mask_max)
        max &= info.prot;
    if (mask_cur)
        cur &= info.prot;
    if (kr == KERN_SUCCESS && ((info.prot & max) != max || (info.prot & cur) != cur))
        kr = KERN_INVALID_RIGHT;
    if (kr == KERN_SUCCESS && ((offset & pmask()) || offset + size < offset ||
                               info.size < offset + size || info.size < offset + len))
        kr = KERN_INVALID_ARGUMENT;
    if (kr == KERN_SUCCESS && copy)
        kr = um_vm_map_private(fd, info.offset + offset, len, cur, mask, place_flags,
                               (int)inherit, &at);
    else if (kr == KERN_SUCCESS)
        kr = um_vm_map_shared(fd, info.offset + offset, len, cur, max, mask, place_flags,
                              (int)inherit, &at);
    close(fd);
    if (kr == KERN_SUCCESS)
        *address = at + in_page;
    return kr;
}

UM_EXPORT kern_return_t mach_vm_map(vm_map_t target_task, mach_vm_address_t *address,
                                    mach_vm_size_t size, mach_vm_offset_t mask, int flags,
                                    mem_entry_name_port_t object, memory_object_offset_t offset,
                                    boolean_t copy, vm_prot_t cur_protection,
                                    vm_prot_t max_protection, vm_inherit_t inheritance)
{
    UM_CALL_SCOPE;
    return map_common(target_task, address, size, mask, flags, object, offset, copy,
                      cur_protection, max_protection, inheritance);
}

UM_EXPORT kern_return_t vm_map(vm_map_t target_task, vm_address_t *address, vm_size_t size,
                               vm_address_t mask, int flags, mem_entry_name_port_t object,
                               vm_offset_t offset, boolean_t copy, vm_prot_t cur_protection,
                               vm_prot_t max_protection, vm_inherit_t inheritance)
{
    UM_CALL_SCOPE;
    if (!address)
        return map_common(target_task, NULL, size, mask, flags, object, offset, copy,
                          cur_protection, max_protection, inheritance);
    uint64_t a = *address;
    kern_return_t kr = map_common(target_task, &a, size, mask, flags, object, offset, copy,
                                  cur_protection, max_protection, inheritance);
    if (kr == KERN_SUCCESS)
        *address = (vm_address_t)a;
    return kr;
}

/* ---- mach_vm_remap ---------------------------------------------------------------------- */

/*
 * vm_map_remap. `given` (mach_vm_remap_new, vm_remap_new: XNU's non-legacy mode): the caller's
 * *cur and *max are what the new mapping gets, and stay as given; a shared remap's source must
 * allow both (KERN_PROTECTION_FAILURE), a copy's only needs to be readable; the data address
 * is returned (VM_FLAGS_RETURN_DATA_ADDR always); cur above max is KERN_INVALID_ARGUMENT and a
 * maximum of write and execute KERN_PROTECTION_FAILURE (mach_vm_remap_new_external). Else
 * (legacy) *cur and *max report the strictest protections of the source.
 */
static kern_return_t remap_common(vm_map_t target, uint64_t *address, uint64_t size,
                                  uint64_t mask, int flags, vm_map_t src_task, uint64_t src,
                                  boolean_t copy, vm_prot_t *cur, vm_prot_t *max,
                                  vm_inherit_t inherit, bool given)
{
    if (!um_call_task_check(target))
        return not_own_task(target);
    if (!address || !cur || !max)
        return KERN_INVALID_ARGUMENT;
    if ((unsigned)flags & ~(unsigned)VM_FLAGS_USER_REMAP)
        return KERN_INVALID_ARGUMENT;
    int want_cur = 0, want_max = 0;
    if (given) {
        kern_return_t kr = prots_check(*cur, *max, VM_INHERIT_DEFAULT);
        if (kr != KERN_SUCCESS)
            return kr;
        want_cur = *cur & VM_PROT_ALL;
        want_max = *max & VM_PROT_ALL;
        if ((want_max & (VM_PROT_WRITE | VM_PROT_EXECUTE)) == (VM_PROT_WRITE | VM_PROT_EXECUTE))
            return KERN_PROTECTION_FAILURE;
        flags |= VM_FLAGS_RETURN_DATA_ADDR;
    } else {
        *cur = VM_PROT_NONE;
        *max = VM_PROT_NONE;
    }
    if (!um_call_task_check(src_task))
        return KERN_INVALID_ARGUMENT; /* another task's memory: not provided */
    if (inherit > VM_INHERIT_LAST_VALID)
        return KERN_INVALID_ARGUMENT;
    uint64_t at, len, start, slen;
    kern_return_t kr = place_check(*address, size, flags, &at, &len);
    if (kr != KERN_SUCCESS)
        return kr;
    /* The source's pages: those [src, src + size) touches with VM_FLAGS_RETURN_DATA_ADDR,
     * else the size rounded from src's page (vm_map_remap_sanitize's legacy REALIGN_START);
     * the target, at its address's page, is as long as they are. */
    uint64_t in_page = src & pmask();
    uint64_t src_from = (flags & VM_FLAGS_RETURN_DATA_ADDR) ? src : src - in_page;
    if (!page_span(src_from, size, &start, &slen))
        return KERN_INVALID_ARGUMENT;
    len = slen;
    if (!(flags & VM_FLAGS_ANYWHERE) && at + len < at)
        return KERN_INVALID_ARGUMENT;
    int place_flags = flags & (VM_FLAGS_ANYWHERE | VM_FLAGS_OVERWRITE);
    int prot, maxprot, fd;
    kr = um_vm_range_prot(start, slen, &prot, &maxprot);
    if (kr == KERN_SUCCESS && given && !copy &&
        ((prot & want_cur) != want_cur || (maxprot & want_max) != want_max))
        kr = KERN_PROTECTION_FAILURE;
    if (kr != KERN_SUCCESS)
        return kr;
    if (copy) {
        kr = um_vm_copy_range(start, slen, &fd, &prot);
        if (kr == KERN_SUCCESS) {
            kr = um_vm_map_private(fd, 0, len, given ? want_cur : prot, mask, place_flags,
                                   (int)inherit, &at);
            close(fd);
        }
    } else {
        uint64_t foff;
        kr = um_vm_share_range(start, slen, &fd, &foff, &prot, &maxprot);
        if (kr == KERN_SUCCESS) {
            kr = um_vm_map_shared(fd, foff, len, given ? want_cur : prot,
                                  given ? want_max : maxprot, mask, place_flags, (int)inherit,
                                  &at);
            close(fd);
        }
    }
    if (kr != KERN_SUCCESS)
        return kr;
    if (!given) {
        *cur = prot;
        *max = maxprot;
    }
    *address = at + ((flags & VM_FLAGS_RETURN_DATA_ADDR) ? in_page : 0);
    return KERN_SUCCESS;
}

UM_EXPORT kern_return_t mach_vm_remap(vm_map_t target_task, mach_vm_address_t *target_address,
                                      mach_vm_size_t size, mach_vm_offset_t mask, int flags,
                                      vm_map_t src_task, mach_vm_address_t src_address,
                                      boolean_t copy, vm_prot_t *cur_protection,
                                      vm_prot_t *max_protection, vm_inherit_t inheritance)
{
    UM_CALL_SCOPE;
    return remap_common(target_task, target_address, size, mask, flags, src_task, src_address,
                        copy, cur_protection, max_protection, inheritance, false);
}

UM_EXPORT kern_return_t mach_vm_remap_new(vm_map_t target_task, mach_vm_address_t *target_address,
                                          mach_vm_size_t size, mach_vm_offset_t mask, int flags,
                                          vm_map_read_t src_task, mach_vm_address_t src_address,
                                          boolean_t copy, vm_prot_t *cur_protection,
                                          vm_prot_t *max_protection, vm_inherit_t inheritance)
{
    UM_CALL_SCOPE;
    return remap_common(target_task, target_address, size, mask, flags, src_task, src_address,
                        copy, cur_protection, max_protection, inheritance, true);
}

UM_EXPORT kern_return_t vm_remap(vm_map_t target_task, vm_address_t *target_address,
                                 vm_size_t size, vm_address_t mask, int flags, vm_map_t src_task,
                                 vm_address_t src_address, boolean_t copy,
                                 vm_prot_t *cur_protection, vm_prot_t *max_protection,
                                 vm_inherit_t inheritance)
{
    UM_CALL_SCOPE;
    uint64_t a = target_address ? *target_address : 0;
    kern_return_t kr = remap_common(target_task, target_address ? &a : NULL, size, mask, flags,
                                    src_task, src_address, copy, cur_protection, max_protection,
                                    inheritance, false);
    if (kr == KERN_SUCCESS)
        *target_address = (vm_address_t)a;
    return kr;
}

UM_EXPORT kern_return_t vm_remap_new(vm_map_t target_task, vm_address_t *target_address,
                                     vm_size_t size, vm_address_t mask, int flags,
                                     vm_map_read_t src_task, vm_address_t src_address,
                                     boolean_t copy, vm_prot_t *cur_protection,
                                     vm_prot_t *max_protection, vm_inherit_t inheritance)
{
    UM_CALL_SCOPE;
    uint64_t a = target_address ? *target_address : 0;
    kern_return_t kr = remap_common(target_task, target_address ? &a : NULL, size, mask, flags,
                                    src_task, src_address, copy, cur_protection, max_protection,
                                    inheritance, true);
    if (kr == KERN_SUCCESS)
        *target_address = (vm_address_t)a;
    return kr;
}
