/*
 * um_memory.c — the embedded front end's memory: the kernel's regions are anonymous mappings
 * of this process, and the task's memory is this process's own address space.
 *
 * Sender memory is read with process_vm_readv, so an unreadable range is an error instead of
 * a crash (EFAULT, not SIGSEGV). A region moves out of the task by moving its mapping
 * (mremap), and a kernel region becomes task memory as it is: both live in one address space.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv */
#endif
#include "um_embedded.h"

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

const um_kernel_ops um_embedded_kernel_ops = {
    .region_alloc = embedded_region_alloc,
    .region_free = embedded_region_free,
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

static void *embedded_take(um_task *task, uint64_t addr, size_t len)
{
    (void)task;
    /* Reserve a target, then move the mapping onto it (fails unless [addr, len) is one). */
    void *target = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (target == MAP_FAILED)
        return NULL;
    void *region =
        mremap((void *)(uintptr_t)addr, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    if (region == MAP_FAILED) {
        munmap(target, len);
        return NULL;
    }
    return region;
}

static void embedded_unmap(um_task *task, uint64_t addr, size_t len)
{
    (void)task;
    munmap((void *)(uintptr_t)addr, len);
}

static uint64_t embedded_attach(um_task *task, void *region, size_t len)
{
    (void)task;
    (void)len;
    return (uint64_t)(uintptr_t)region;
}

const um_task_memops um_embedded_memops = {
    .read = embedded_read,
    .write = embedded_write,
    .take = embedded_take,
    .unmap = embedded_unmap,
    .attach = embedded_attach,
};
