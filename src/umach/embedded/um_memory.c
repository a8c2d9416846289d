/*
 * um_memory.c — the embedded front end's memory: the kernel's regions are anonymous mappings
 * of this process, and the task's memory is this process's own address space.
 *
 * Sender memory is read with process_vm_readv, so an unreadable range is an error instead of
 * a crash (EFAULT, not SIGSEGV). A kernel region becomes task memory as it is: both live in
 * one address space. Out-of-line memory and vm_allocate'd regions are src/umach/vm/'s
 * (memfd-backed regions shared copy-on-write, moved by moving their mapping).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* process_vm_readv */
#endif
#include "um_embedded.h"
#include "../vm/um_regions.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

static void *embedded_region_alloc(um_kernel *kernel, size_t len)
{
    (void)kernel;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void embedded_region_free(um_kernel *kernel, void *region, size_t len)
{
    (void)kernel;
    munmap(region, len);
}

static void embedded_copy_discard(um_kernel *kernel, um_vm_copy *copy)
{
    (void)kernel;
    um_vm_copy_discard(copy);
}

const um_kernel_ops um_embedded_kernel_ops = {
    .region_alloc = embedded_region_alloc,
    .region_free = embedded_region_free,
    .copy_discard = embedded_copy_discard,
};

static bool embedded_read(um_task *task, void *dst, uint64_t src, size_t len)
{
    (void)task;
    size_t done = 0;
    while (done < len) {
        struct iovec local = {(char *)dst + done, len - done};
        struct iovec remote = {(void *)(uintptr_t)(src + done), len - done};
        ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
                /* No cross-memory syscall here: fall back to a plain copy. */
                memcpy((char *)dst + done, (const void *)(uintptr_t)(src + done), len - done);
                return true;
            }
            return false;
        }
        done += (size_t)n;
    }
    return true;
}

static bool embedded_write(um_task *task, uint64_t dst, const void *src, size_t len)
{
    (void)task;
    memcpy((void *)(uintptr_t)dst, src, len);
    return true;
}

static void embedded_unmap(um_task *task, uint64_t addr, size_t len)
{
    (void)task;
    um_vm_remove(addr, len); /* regions from vm_allocate leave the registry too */
}

static uint64_t embedded_attach(um_task *task, void *region, size_t len)
{
    (void)task;
    (void)len;
    return (uint64_t)(uintptr_t)region;
}

static mach_msg_return_t embedded_copyin(um_task *task, uint64_t addr, uint64_t size,
                                         bool physical, bool dealloc, um_vm_copy **copyp)
{
    (void)task;
    return um_vm_copyin(addr, size, physical, dealloc, copyp);
}

static kern_return_t embedded_copyout(um_task *task, um_vm_copy *copy, uint64_t *addrp)
{
    (void)task;
    return um_vm_copyout(copy, addrp);
}

const um_task_memops um_embedded_memops = {
    .read = embedded_read,
    .write = embedded_write,
    .unmap = embedded_unmap,
    .attach = embedded_attach,
    .copyin = embedded_copyin,
    .copyout = embedded_copyout,
};
