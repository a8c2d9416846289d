/*
 * um_vm.c — vm_allocate / vm_deallocate / mach_vm_allocate / mach_vm_deallocate and the page
 * size variables; the memory itself comes from the front end's regions (vm/um_regions.h).
 * Argument checks follow XNU's vm_sanitize rules:
 * a size of zero succeeds and maps nothing, an address range that overflows or does not fit
 * the address space is KERN_INVALID_ARGUMENT, flags outside VM_FLAGS_USER_ALLOCATE are
 * KERN_INVALID_ARGUMENT, and a fixed allocation over mapped memory is KERN_NO_SPACE.
 *
 * The task's memory is the front end's (in embedded mode, this process's address space), so
 * these calls live with the front end; only the check of their task argument is the core's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "../dispatch/um_calls.h"
#include "../dispatch/um_forward.h"
#include "../kern/um_kern.h"
#include "../vm/um_regions.h"
#include "um_vm_attr.h"
#include "../um_export.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>

#include <unistd.h>

UM_EXPORT vm_size_t vm_page_size;
UM_EXPORT vm_size_t vm_page_mask;
UM_EXPORT int vm_page_shift;
UM_EXPORT vm_size_t vm_kernel_page_size;
UM_EXPORT vm_size_t vm_kernel_page_mask;
UM_EXPORT int vm_kernel_page_shift;

__attribute__((constructor(101))) static void um_vm_page_init(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0)
        ps = 4096;
    vm_page_size = vm_kernel_page_size = (vm_size_t)ps;
    vm_page_mask = vm_kernel_page_mask = (vm_size_t)ps - 1;
    int shift = 0;
    while ((1L << shift) < ps)
        shift++;
    vm_page_shift = vm_kernel_page_shift = shift;
}

/* Highest user address we hand out or accept (47-bit user space on x86_64 and arm64 Linux). */
#define UM_VM_MAX_ADDRESS (1ULL << 47)

static bool task_ok(vm_map_t task)
{
    return um_call_task_check(task);
}

static kern_return_t um_vm_allocate(vm_map_t task, mach_vm_address_t *addr, mach_vm_size_t size,
                                    int flags)
{
    if (!task_ok(task)) {
        /* Another port: the MIG request (mach_vm_allocate's, as vm_allocate's on Darwin). */
        if (!um_forward_wanted(task))
            return MACH_SEND_INVALID_DEST;
        const um_fw_in in[] = {UM_FW64(*addr), UM_FW64(size), UM_FW32(flags)};
        const um_fw_out out[] = {UM_FWOUT(addr)};
        return um_forward_simple(task, UM_MIG_MACH_VM_ALLOCATE, NULL, in, 3, out, 1);
    }
    if ((unsigned)flags & ~(unsigned)VM_FLAGS_USER_ALLOCATE)
        return KERN_INVALID_ARGUMENT;
    uint64_t page = vm_page_size, mask = vm_page_mask;
    bool anywhere = (flags & VM_FLAGS_ANYWHERE) != 0;

    if (size == 0) {
        *addr = 0; /* XNU: a zero size succeeds and reports address 0, fixed or not */
        return KERN_SUCCESS;
    }
    if (size > UM_VM_MAX_ADDRESS || size + mask < size)
        return KERN_INVALID_ARGUMENT;
    uint64_t len = (size + mask) & ~mask;
    (void)page;

    if (anywhere) {
        kern_return_t kr = um_vm_allocate_region(addr, len, VM_FLAGS_ANYWHERE);
        if (kr == KERN_SUCCESS && (flags & VM_FLAGS_PURGABLE))
            um_vm_purgable_add(*addr, len);
        return kr;
    }

    uint64_t start = *addr & ~mask;
    uint64_t end = *addr + size;
    if (end < *addr || end > UM_VM_MAX_ADDRESS)
        return KERN_INVALID_ARGUMENT;
    end = (end + mask) & ~mask;
    if (start == 0)
        return KERN_NO_SPACE; /* page zero is never available */
    len = end - start;
    uint64_t at = start;
    kern_return_t kr = um_vm_allocate_region(&at, len, flags & VM_FLAGS_OVERWRITE);
    if (kr == KERN_SUCCESS) {
        *addr = start;
        um_vm_purgable_forget(start, len); /* what the new memory replaced */
        if (flags & VM_FLAGS_PURGABLE)
            um_vm_purgable_add(start, len);
    }
    return kr;
}

static kern_return_t um_vm_deallocate(vm_map_t task, mach_vm_address_t addr, mach_vm_size_t size)
{
    if (!task_ok(task)) {
        if (!um_forward_wanted(task))
            return MACH_SEND_INVALID_DEST;
        const um_fw_in in[] = {UM_FW64(addr), UM_FW64(size)};
        return um_forward_simple(task, UM_MIG_MACH_VM_DEALLOCATE, NULL, in, 2, NULL, 0);
    }
    if (size == 0)
        return KERN_SUCCESS;
    uint64_t mask = vm_page_mask;
    uint64_t end = addr + size;
    if (end < addr || end > UM_VM_MAX_ADDRESS || end + mask < end)
        return KERN_INVALID_ARGUMENT;
    uint64_t start = addr & ~mask;
    end = (end + mask) & ~mask;
    um_vm_purgable_forget(start, end - start);
    return um_vm_deallocate_region(start, end - start);
}

UM_EXPORT kern_return_t mach_vm_allocate(vm_map_t target, mach_vm_address_t *address,
                                         mach_vm_size_t size, int flags)
{
    UM_CALL_SCOPE;
    if (!address)
        return KERN_INVALID_ARGUMENT;
    return um_vm_allocate(target, address, size, flags);
}

UM_EXPORT kern_return_t mach_vm_deallocate(vm_map_t target, mach_vm_address_t address,
                                           mach_vm_size_t size)
{
    UM_CALL_SCOPE;
    return um_vm_deallocate(target, address, size);
}

UM_EXPORT kern_return_t vm_allocate(vm_map_t target_task, vm_address_t *address, vm_size_t size,
                                    int flags)
{
    UM_CALL_SCOPE;
    if (!address)
        return KERN_INVALID_ARGUMENT;
    mach_vm_address_t a = *address;
    kern_return_t kr = um_vm_allocate(target_task, &a, size, flags);
    if (kr == KERN_SUCCESS)
        *address = (vm_address_t)a;
    return kr;
}

UM_EXPORT kern_return_t vm_deallocate(vm_map_t target_task, vm_address_t address, vm_size_t size)
{
    UM_CALL_SCOPE;
    return um_vm_deallocate(target_task, address, size);
}
