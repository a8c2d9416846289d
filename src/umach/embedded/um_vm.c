/*
 * um_vm.c — vm_allocate / vm_deallocate / mach_vm_allocate / mach_vm_deallocate and the page
 * size variables, over anonymous mmap. Argument checks follow XNU's vm_sanitize rules:
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
#include "../kern/um_kern.h"
#include "../um_export.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>

#include <errno.h>
#include <sys/mman.h>
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
    if (!task_ok(task))
        return MACH_SEND_INVALID_DEST;
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
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return KERN_NO_SPACE;
        *addr = (mach_vm_address_t)(uintptr_t)p;
        return KERN_SUCCESS;
    }

    uint64_t start = *addr & ~mask;
    uint64_t end = *addr + size;
    if (end < *addr || end > UM_VM_MAX_ADDRESS)
        return KERN_INVALID_ARGUMENT;
    end = (end + mask) & ~mask;
    if (start == 0)
        return KERN_NO_SPACE; /* page zero is never available */
    len = end - start;
    int extra = (flags & VM_FLAGS_OVERWRITE) ? MAP_FIXED : MAP_FIXED_NOREPLACE;
    void *want = (void *)(uintptr_t)start;
    void *p = mmap(want, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
    if (p == MAP_FAILED)
        return errno == EEXIST ? KERN_NO_SPACE : KERN_NO_SPACE;
    if (p != want) {
        /* An old kernel that treats MAP_FIXED_NOREPLACE as a hint. */
        munmap(p, len);
        return KERN_NO_SPACE;
    }
    *addr = start;
    return KERN_SUCCESS;
}

static kern_return_t um_vm_deallocate(vm_map_t task, mach_vm_address_t addr, mach_vm_size_t size)
{
    if (!task_ok(task))
        return MACH_SEND_INVALID_DEST;
    if (size == 0)
        return KERN_SUCCESS;
    uint64_t mask = vm_page_mask;
    uint64_t end = addr + size;
    if (end < addr || end > UM_VM_MAX_ADDRESS || end + mask < end)
        return KERN_INVALID_ARGUMENT;
    uint64_t start = addr & ~mask;
    end = (end + mask) & ~mask;
    if (munmap((void *)(uintptr_t)start, end - start) != 0)
        return KERN_INVALID_ARGUMENT;
    return KERN_SUCCESS;
}

UM_EXPORT kern_return_t mach_vm_allocate(vm_map_t target, mach_vm_address_t *address,
                                         mach_vm_size_t size, int flags)
{
    if (!address)
        return KERN_INVALID_ARGUMENT;
    return um_vm_allocate(target, address, size, flags);
}

UM_EXPORT kern_return_t mach_vm_deallocate(vm_map_t target, mach_vm_address_t address,
                                           mach_vm_size_t size)
{
    return um_vm_deallocate(target, address, size);
}

UM_EXPORT kern_return_t vm_allocate(vm_map_t target_task, vm_address_t *address, vm_size_t size,
                                    int flags)
{
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
    return um_vm_deallocate(target_task, address, size);
}
