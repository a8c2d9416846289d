/*
 * d_kernel.c — the kernel's operations in umachd (um_kernel_ops): kernel regions are anonymous
 * mappings of the daemon, and the out-of-line memory of a destroyed message is an um_xmem copy
 * (its memfds closed). Shared by umachd's main and the fuzz target (fuzz/fuzz_umachd.c), so
 * both run the same kernel.
 */
#define _GNU_SOURCE
#include "umachd.h"

#include "vm/um_xmem.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void *d_region_alloc(um_kernel *kernel, size_t len)
{
    (void)kernel;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void d_region_free(um_kernel *kernel, void *region, size_t len)
{
    (void)kernel;
    munmap(region, len);
}

static void d_copy_discard(um_kernel *kernel, um_vm_copy *copy)
{
    (void)kernel;
    um_xmem_copy_discard(copy); /* the out-of-line memory of a message that is destroyed */
}

/* A MIG reply's array: its bytes travel as a piece of the receiver's reply, as any copy's. */
static um_vm_copy *d_copy_region(um_kernel *kernel, void *region, size_t len, uint64_t size)
{
    (void)kernel;
    um_vm_copy *copy = um_xmem_copy_of_bytes(region, size);
    munmap(region, len);
    return copy;
}

static bool d_copy_read(um_kernel *kernel, const um_vm_copy *copy, void *dst, size_t len)
{
    (void)kernel;
    return um_xmem_copy_read(copy, dst, len);
}

/* This machine's numbers, which host_info reports in a world as in embedded mode. */
static void d_machine(um_kernel *kernel, um_machine *out)
{
    (void)kernel;
    long conf = sysconf(_SC_NPROCESSORS_CONF), onln = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    out->cpus_max = conf > 0 ? (uint32_t)conf : 0;
    out->cpus_avail = onln > 0 ? (uint32_t)onln : 0;
    out->memory = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* The clock services' time in a world: the machine's clocks, which every task's process
 * reads alike (SYSTEM_CLOCK is mach_absolute_time's CLOCK_MONOTONIC, as in embedded mode). */
static void d_clock_read(um_kernel *kernel, int clock_id, mach_timespec_t *now)
{
    (void)kernel;
    struct timespec ts = {0, 0};
    (void)clock_gettime(clock_id == UM_CLOCK_CALENDAR ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
    now->tv_sec = (unsigned int)ts.tv_sec;
    now->tv_nsec = (clock_res_t)ts.tv_nsec;
}

static const um_kernel_ops d_kernel_ops = {
    .region_alloc = d_region_alloc,
    .region_free = d_region_free,
    .copy_discard = d_copy_discard,
    .copy_region = d_copy_region,
    .copy_read = d_copy_read,
    .machine = d_machine,
    .clock_read = d_clock_read,
};

void d_kernel_init(d_daemon *d)
{
    long ps = sysconf(_SC_PAGESIZE);
    d->kernel.ops = &d_kernel_ops;
    d->kernel.page_size = ps > 0 ? (size_t)ps : 4096;
    d->kernel.table_limit = UM_TABLE_DEFAULT_MAX;
    d->kernel.fe = d;
}
