/*
 * um_vm_attr.c — vm_inherit, vm_behavior_set and vm_msync (and their mach_vm_* forms) on the
 * task's own memory, with XNU's argument checks and codes (vm_user.c, vm_map.c and
 * vm_sanitize's compatible rewrites), acted out with Linux's own means:
 *
 * - inheritance: VM_INHERIT_NONE is MADV_DONTFORK (the child has no mapping there, as Darwin's
 *   child has none); VM_INHERIT_COPY is MADV_DOFORK (Linux copies private memory at fork, and
 *   umach's regions and memory entries' mappings are copied by the registry); VM_INHERIT_SHARE
 *   moves private memory into a memfd mapped shared in its place (as a memory entry made of it
 *   does) and marks the registry's region SHARE, so that the child maps the same pages. A
 *   shared mapping the program made itself is shared at fork whatever it is told (Linux keeps
 *   no other choice for it).
 * - persistent behaviours: DEFAULT, RANDOM and SEQUENTIAL are MADV_NORMAL, MADV_RANDOM and
 *   MADV_SEQUENTIAL, which the kernel keeps with the mapping (vm_region reads them back);
 *   RSEQNTL has no Linux counterpart and is advised as SEQUENTIAL; ZERO_WIRED_PAGES only checks
 *   (umach wires nothing).
 * - one-shot behaviours and msync: WILLNEED is MADV_WILLNEED; DONTNEED and VM_SYNC_DEACTIVATE
 *   MADV_COLD where the kernel has it; FREE, REUSABLE, VM_SYNC_KILLPAGES and
 *   VM_SYNC_REUSABLEPAGES MADV_FREE of private memory (its contents may go, as XNU may empty
 *   them); ZERO writes zeros; VM_SYNC_SYNCHRONOUS / ASYNCHRONOUS / INVALIDATE are msync's
 *   MS_SYNC / MS_ASYNC / MS_INVALIDATE of each shared mapping of the range.
 * - purgeable memory: vm_allocate(VM_FLAGS_PURGABLE) makes a purgeable object of the range,
 *   whose state vm_purgable_control keeps here. VOLATILE is kept (and advised MADV_COLD) but
 *   never emptied by umach on its own, which XNU allows (its kernel only may); EMPTY and
 *   VM_PURGABLE_PURGE_ALL (of every volatile object) empty the object: its bytes become zeros.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MADV_DONTFORK, process_vm_readv */
#endif
#include "../um_export.h"
#include "../dispatch/um_calls.h"
#include "../dispatch/um_forward.h"
#include "../vm/um_regions.h"
#include "um_embedded.h"
#include "um_suspend.h"
#include "um_vm_attr.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

/* The top of the task's map: 47-bit user space on x86_64 and arm64 Linux (um_vm.c). */
#define UM_VM_MAP_MAX (1ULL << 47)

/*
 * The page-rounded [*start, *end) of addr and size (size > 0) as vm_sanitize computes it:
 * false when addr + size wraps or its rounding does (`*wrapped` says which).
 */
static bool round_range(uint64_t addr, uint64_t size, uint64_t *start, uint64_t *end,
                        bool *wrapped)
{
    uint64_t mask = vm_page_mask;
    *wrapped = addr + size < addr;
    if (*wrapped)
        return false;
    *start = addr & ~mask;
    *end = (addr + size + mask) & ~mask;
    return *end > *start;
}

/* Is every byte of [start, end) mapped? (XNU's vm_map_range_check.) */
static bool range_mapped(uint64_t start, uint64_t end)
{
    for (uint64_t at = start; at < end;) {
        uint64_t lo, hi;
        int prot;
        bool shared;
        if (!um_vm_vma(at, false, &lo, &hi, &prot, &shared))
            return false;
        at = hi;
    }
    return true;
}

/* Does every mapping of [start, end) (mapped) allow `prot`? */
static bool range_allows(uint64_t start, uint64_t end, int prot)
{
    for (uint64_t at = start; at < end;) {
        uint64_t lo, hi;
        int p;
        bool shared;
        if (!um_vm_vma(at, false, &lo, &hi, &p, &shared))
            return false;
        if ((p & prot) != prot)
            return false;
        at = hi;
    }
    return true;
}

/*
 * Call `act` on each mapping's part of [start, end), holes skipped: `act` gets the part, its
 * protection and whether it is shared. Returns whether a hole was met; with `stop_at_hole`
 * the walk ends there.
 */
static bool each_mapping(uint64_t start, uint64_t end, bool stop_at_hole,
                         void (*act)(uint64_t lo, uint64_t hi, int prot, bool shared, void *arg),
                         void *arg)
{
    bool hole = false;
    for (uint64_t at = start; at < end;) {
        uint64_t lo, hi;
        int prot;
        bool shared;
        if (!um_vm_vma(at, true, &lo, &hi, &prot, &shared) || lo >= end)
            return true; /* nothing mapped from here to the end */
        if (lo > at) {
            hole = true;
            if (stop_at_hole)
                return true;
            at = lo;
        }
        act(at, hi < end ? hi : end, prot, shared, arg);
        at = hi;
    }
    return hole;
}

/* ---- the ranges whose flags were changed ------------------------------------------------------ */

#define UM_MARKS_MAX 256u

static struct {
    pthread_mutex_t lock;
    uint64_t lo[UM_MARKS_MAX], hi[UM_MARKS_MAX]; /* disjoint, unsorted */
    uint32_t n;
    bool all; /* too many: every range counts as marked */
} um_attr_marks = {.lock = PTHREAD_MUTEX_INITIALIZER};

void um_vm_attr_mark(uint64_t start, uint64_t end)
{
    um_suspend_lock(&um_attr_marks.lock);
    /* Absorb every mark that overlaps or touches the new one, then keep the union. */
    for (uint32_t i = 0; i < um_attr_marks.n;) {
        if (um_attr_marks.hi[i] < start || um_attr_marks.lo[i] > end) {
            i++;
            continue;
        }
        if (um_attr_marks.lo[i] < start)
            start = um_attr_marks.lo[i];
        if (um_attr_marks.hi[i] > end)
            end = um_attr_marks.hi[i];
        um_attr_marks.n--;
        um_attr_marks.lo[i] = um_attr_marks.lo[um_attr_marks.n];
        um_attr_marks.hi[i] = um_attr_marks.hi[um_attr_marks.n];
    }
    if (um_attr_marks.n < UM_MARKS_MAX) {
        um_attr_marks.lo[um_attr_marks.n] = start;
        um_attr_marks.hi[um_attr_marks.n] = end;
        um_attr_marks.n++;
    } else {
        um_attr_marks.all = true;
    }
    um_suspend_unlock(&um_attr_marks.lock);
}

bool um_vm_attr_marked(uint64_t start, uint64_t end)
{
    um_suspend_lock(&um_attr_marks.lock);
    bool marked = um_attr_marks.all;
    for (uint32_t i = 0; i < um_attr_marks.n && !marked; i++)
        marked = um_attr_marks.lo[i] < end && start < um_attr_marks.hi[i];
    um_suspend_unlock(&um_attr_marks.lock);
    return marked;
}

/* ---- inheritance --------------------------------------------------------------------------- */

static void set_fork(uint64_t lo, uint64_t hi, int prot, bool shared, void *arg)
{
    (void)prot;
    (void)shared;
    int inherit = *(const int *)arg;
    (void)madvise((void *)(uintptr_t)lo, hi - lo,
                  inherit == VM_INHERIT_NONE ? MADV_DONTFORK : MADV_DOFORK);
}

/*
 * VM_INHERIT_SHARE: each private mapping of [start, end) moves into a shared memfd (the
 * registry's SHARED region). Memory that cannot be read cannot be moved: checked first,
 * KERN_PROTECTION_FAILURE with nothing changed.
 */
static kern_return_t make_shareable(uint64_t start, uint64_t end)
{
    for (uint64_t at = start; at < end;) {
        uint64_t lo, hi;
        int prot;
        bool shared;
        if (!um_vm_vma(at, true, &lo, &hi, &prot, &shared) || lo >= end)
            break;
        if (!shared && !(prot & VM_PROT_READ))
            return KERN_PROTECTION_FAILURE;
        at = hi;
    }
    for (uint64_t at = start; at < end;) {
        uint64_t lo, hi;
        int prot;
        bool shared;
        if (!um_vm_vma(at, true, &lo, &hi, &prot, &shared) || lo >= end)
            break;
        if (lo < at)
            lo = at;
        if (hi > end)
            hi = end;
        if (!shared || !um_vm_foreign_shared(lo, hi - lo)) {
            int fd, maxprot;
            uint64_t foff;
            kern_return_t kr = um_vm_share_range(lo, hi - lo, &fd, &foff, &prot, &maxprot);
            if (kr != KERN_SUCCESS)
                return kr;
            close(fd);
        }
        at = hi;
    }
    return KERN_SUCCESS;
}

static kern_return_t inherit_own(uint64_t address, uint64_t size, vm_inherit_t inheritance)
{
    if (size == 0)
        return KERN_SUCCESS;
    if (inheritance > VM_INHERIT_LAST_VALID)
        return KERN_INVALID_ARGUMENT;
    uint64_t start, end;
    bool wrapped;
    if (!round_range(address, size, &start, &end, &wrapped))
        return KERN_INVALID_ARGUMENT;
    /* XNU clips the range to the map and sets what it finds there: holes are no error. */
    if (end > UM_VM_MAP_MAX)
        end = UM_VM_MAP_MAX;
    if (start >= end)
        return KERN_SUCCESS;
    if (inheritance == VM_INHERIT_SHARE) {
        kern_return_t kr = make_shareable(start, end);
        if (kr != KERN_SUCCESS)
            return kr;
    }
    int inherit = (int)inheritance;
    (void)each_mapping(start, end, false, set_fork, &inherit);
    um_vm_mark(start, end - start, inherit, -1);
    um_vm_attr_mark(start, end);
    return KERN_SUCCESS;
}

/* A call on another port than the caller's own task: the MIG request `id` with the range and
 * the routine's one value (mach_vm_*'s, as Darwin's vm_* stubs send too); a port no one serves
 * is MACH_SEND_INVALID_DEST. */
static kern_return_t forward_range(vm_map_t target, mach_msg_id_t id, uint64_t address,
                                   uint64_t size, uint32_t value)
{
    if (!um_forward_wanted(target))
        return MACH_SEND_INVALID_DEST;
    const um_fw_in in[] = {UM_FW64(address), UM_FW64(size), UM_FW32(value)};
    return um_forward_simple(target, id, NULL, in, 3, NULL, 0);
}

static kern_return_t inherit_common(vm_map_t target, uint64_t address, uint64_t size,
                                    vm_inherit_t inheritance)
{
    if (!um_call_task_check(target))
        return forward_range(target, UM_MIG_MACH_VM_INHERIT, address, size, inheritance);
    return inherit_own(address, size, inheritance);
}

UM_EXPORT kern_return_t mach_vm_inherit(vm_map_t target_task, mach_vm_address_t address,
                                        mach_vm_size_t size, vm_inherit_t new_inheritance)
{
    UM_CALL_SCOPE;
    return inherit_common(target_task, address, size, new_inheritance);
}

UM_EXPORT kern_return_t vm_inherit(vm_map_t target_task, vm_address_t address, vm_size_t size,
                                   vm_inherit_t new_inheritance)
{
    UM_CALL_SCOPE;
    return inherit_common(target_task, address, size, new_inheritance);
}

/* ---- msync ----------------------------------------------------------------------------------- */

#ifndef MADV_COLD
#define MADV_COLD 20
#endif

static void sync_one(uint64_t lo, uint64_t hi, int prot, bool shared, void *arg)
{
    (void)prot;
    vm_sync_t flags = *(const vm_sync_t *)arg;
    void *p = (void *)(uintptr_t)lo;
    size_t len = (size_t)(hi - lo);
    if (flags & (VM_SYNC_KILLPAGES | VM_SYNC_REUSABLEPAGES)) {
        if (!shared && (prot & VM_PROT_WRITE))
            (void)madvise(p, len, MADV_FREE); /* refused (EINVAL) for a private file mapping */
    } else if (flags & VM_SYNC_DEACTIVATE) {
        (void)madvise(p, len, MADV_COLD);
    }
    int ms = (flags & VM_SYNC_SYNCHRONOUS) ? MS_SYNC : (flags & VM_SYNC_ASYNCHRONOUS) ? MS_ASYNC : 0;
    if (flags & VM_SYNC_INVALIDATE)
        ms |= MS_INVALIDATE;
    if (shared && ms)
        (void)msync(p, len, ms);
}

static kern_return_t msync_own(uint64_t address, uint64_t size, vm_sync_t flags)
{
    if (size == 0)
        return KERN_SUCCESS;
    if ((flags & VM_SYNC_ASYNCHRONOUS) && (flags & VM_SYNC_SYNCHRONOUS))
        return KERN_INVALID_ARGUMENT;
    uint64_t start, end;
    bool wrapped;
    if (!round_range(address, size, &start, &end, &wrapped))
        return KERN_INVALID_ADDRESS; /* vm_sanitize's rewrite for vm_msync */
    /* Killing pages stops at a hole: another allocation could fill it meanwhile. */
    bool hole = each_mapping(start, end, (flags & VM_SYNC_KILLPAGES) != 0, sync_one, &flags);
    return hole && (flags & VM_SYNC_CONTIGUOUS) ? KERN_INVALID_ADDRESS : KERN_SUCCESS;
}

static kern_return_t msync_common(vm_map_t target, uint64_t address, uint64_t size,
                                  vm_sync_t flags)
{
    if (!um_call_task_check(target))
        return forward_range(target, UM_MIG_MACH_VM_MSYNC, address, size, (uint32_t)flags);
    return msync_own(address, size, flags);
}

UM_EXPORT kern_return_t mach_vm_msync(vm_map_t target_task, mach_vm_address_t address,
                                      mach_vm_size_t size, vm_sync_t sync_flags)
{
    UM_CALL_SCOPE;
    return msync_common(target_task, address, size, sync_flags);
}

UM_EXPORT kern_return_t vm_msync(vm_map_t target_task, vm_address_t address, vm_size_t size,
                                 vm_sync_t sync_flags)
{
    UM_CALL_SCOPE;
    return msync_common(target_task, address, size, sync_flags);
}

/* ---- behaviour ------------------------------------------------------------------------------- */

static void advise_one(uint64_t lo, uint64_t hi, int prot, bool shared, void *arg)
{
    (void)prot;
    (void)shared;
    (void)madvise((void *)(uintptr_t)lo, hi - lo, *(const int *)arg);
}

static void free_one(uint64_t lo, uint64_t hi, int prot, bool shared, void *arg)
{
    (void)arg;
    if (!shared && (prot & VM_PROT_WRITE))
        (void)madvise((void *)(uintptr_t)lo, hi - lo, MADV_FREE);
}

/* VM_BEHAVIOR_ZERO and a purge: zeros written over each page of a writable mapping (through
 * process_vm_readv, so a page that went meanwhile is a failed write, not a fault; where the
 * system call is refused, with a store). */
static void zero_one(uint64_t lo, uint64_t hi, int prot, bool shared, void *arg)
{
    (void)shared;
    (void)arg;
    static const uint8_t zeros[4096];
    if (!(prot & VM_PROT_WRITE))
        return;
    for (uint64_t at = lo; at < hi;) {
        size_t n = hi - at < sizeof zeros ? (size_t)(hi - at) : sizeof zeros;
        struct iovec local = {(void *)(uintptr_t)at, n};
        struct iovec remote = {(void *)(uintptr_t)zeros, n};
        if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)n &&
            (errno == ENOSYS || errno == EPERM))
            memset((void *)(uintptr_t)at, 0, n);
        at += n;
    }
}

static kern_return_t behavior_own(uint64_t address, uint64_t size, vm_behavior_t behavior)
{
    if (behavior < 0 || behavior > VM_BEHAVIOR_LAST_VALID)
        return KERN_INVALID_ARGUMENT;
    if (size == 0)
        return KERN_SUCCESS;
    uint64_t start, end;
    bool wrapped;
    if (!round_range(address, size, &start, &end, &wrapped))
        return wrapped ? KERN_INVALID_ARGUMENT : KERN_NO_SPACE; /* vm_sanitize's rewrite */
    if (end > UM_VM_MAP_MAX)
        return KERN_NO_SPACE;
    switch (behavior) {
    case VM_BEHAVIOR_DEFAULT:
    case VM_BEHAVIOR_RANDOM:
    case VM_BEHAVIOR_SEQUENTIAL:
    case VM_BEHAVIOR_RSEQNTL: {
        if (!range_mapped(start, end))
            return KERN_INVALID_ADDRESS;
        int advice = behavior == VM_BEHAVIOR_RANDOM       ? MADV_RANDOM
                     : behavior == VM_BEHAVIOR_DEFAULT    ? MADV_NORMAL
                                                          : MADV_SEQUENTIAL;
        (void)each_mapping(start, end, false, advise_one, &advice);
        um_vm_mark(start, end - start, -1, advice);
        um_vm_attr_mark(start, end);
        return KERN_SUCCESS;
    }
    case VM_BEHAVIOR_ZERO_WIRED_PAGES:
        if (!range_mapped(start, end))
            return KERN_INVALID_ADDRESS;
        return range_allows(start, end, VM_PROT_WRITE) ? KERN_SUCCESS : KERN_PROTECTION_FAILURE;
    case VM_BEHAVIOR_WILLNEED: {
        if (!range_mapped(start, end))
            return KERN_INVALID_ADDRESS;
        int advice = MADV_WILLNEED;
        (void)each_mapping(start, end, false, advise_one, &advice);
        return KERN_SUCCESS;
    }
    case VM_BEHAVIOR_DONTNEED:
        return msync_own(start, end - start, VM_SYNC_DEACTIVATE | VM_SYNC_CONTIGUOUS);
    case VM_BEHAVIOR_FREE:
        return msync_own(start, end - start, VM_SYNC_KILLPAGES | VM_SYNC_CONTIGUOUS);
    case VM_BEHAVIOR_REUSABLE:
        if (!range_mapped(start, end))
            return KERN_INVALID_ADDRESS;
        if (!range_allows(start, end, VM_PROT_WRITE))
            return KERN_PROTECTION_FAILURE;
        (void)each_mapping(start, end, false, free_one, NULL);
        return KERN_SUCCESS;
    case VM_BEHAVIOR_REUSE:
    case VM_BEHAVIOR_CAN_REUSE:
        return range_mapped(start, end) ? KERN_SUCCESS : KERN_INVALID_ADDRESS;
    case VM_BEHAVIOR_ZERO:
        if (!range_mapped(start, end))
            return KERN_INVALID_ADDRESS;
        for (uint64_t at = start; at < end;) {
            uint64_t lo, hi;
            int prot;
            bool shared;
            if (!um_vm_vma(at, false, &lo, &hi, &prot, &shared))
                return KERN_INVALID_ADDRESS;
            if (!(prot & VM_PROT_WRITE) || (prot & VM_PROT_EXECUTE))
                return KERN_PROTECTION_FAILURE;
            at = hi;
        }
        (void)each_mapping(start, end, false, zero_one, NULL);
        return KERN_SUCCESS;
    default:
        /* VM_BEHAVIOR_PAGEOUT: development kernels only. */
        return KERN_INVALID_ARGUMENT;
    }
}

static kern_return_t behavior_common(vm_map_t target, uint64_t address, uint64_t size,
                                     vm_behavior_t behavior)
{
    if (!um_call_task_check(target))
        return forward_range(target, UM_MIG_MACH_VM_BEHAVIOR_SET, address, size, (uint32_t)behavior);
    return behavior_own(address, size, behavior);
}

UM_EXPORT kern_return_t mach_vm_behavior_set(vm_map_t target_task, mach_vm_address_t address,
                                             mach_vm_size_t size, vm_behavior_t new_behavior)
{
    UM_CALL_SCOPE;
    return behavior_common(target_task, address, size, new_behavior);
}

UM_EXPORT kern_return_t vm_behavior_set(vm_map_t target_task, vm_address_t address,
                                        vm_size_t size, vm_behavior_t new_behavior)
{
    UM_CALL_SCOPE;
    return behavior_common(target_task, address, size, new_behavior);
}

/* ---- purgeable objects -------------------------------------------------------------------------- */

typedef struct um_purgable {
    uint64_t start, end;
    int state; /* VM_PURGABLE_NONVOLATILE, _VOLATILE or _EMPTY */
} um_purgable;

/* The task's purgeable objects, sorted by address. Lock order: this lock, then the registry's
 * (um_vm_vma while an object is emptied); never the other way. */
static struct {
    pthread_mutex_t lock;
    um_purgable *p;
    size_t n, cap;
} um_purg = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Conditions: locked. Drops [start, end) from every object, splitting one it cuts in two. */
static void purg_cut(uint64_t start, uint64_t end)
{
    for (size_t i = 0; i < um_purg.n;) {
        um_purgable *o = &um_purg.p[i];
        if (o->end <= start || o->start >= end) {
            i++;
            continue;
        }
        if (o->start < start && o->end > end) {
            /* Out of memory to split, the object keeps only its lower part. */
            if (um_purg.n < um_purg.cap) {
                memmove(o + 2, o + 1, (um_purg.n - i - 1) * sizeof *o);
                o[1] = (um_purgable){end, o->end, o->state};
                um_purg.n++;
            }
            o->end = start;
            return;
        }
        if (o->start < start) {
            o->end = start;
            i++;
        } else if (o->end > end) {
            o->start = end;
            i++;
        } else {
            memmove(o, o + 1, (um_purg.n - i - 1) * sizeof *o);
            um_purg.n--;
        }
    }
}

void um_vm_purgable_forget(uint64_t start, uint64_t len)
{
    um_suspend_lock(&um_purg.lock);
    purg_cut(start, start + len);
    um_suspend_unlock(&um_purg.lock);
}

void um_vm_purgable_add(uint64_t start, uint64_t len)
{
    um_suspend_lock(&um_purg.lock);
    purg_cut(start, start + len);
    if (um_purg.n + 1 >= um_purg.cap) {
        size_t cap = um_purg.cap ? 2 * um_purg.cap : 16;
        um_purgable *p = realloc(um_purg.p, cap * sizeof *p);
        if (p) {
            um_purg.p = p;
            um_purg.cap = cap;
        }
    }
    if (um_purg.n < um_purg.cap) {
        size_t i = 0;
        while (i < um_purg.n && um_purg.p[i].start < start)
            i++;
        memmove(&um_purg.p[i + 1], &um_purg.p[i], (um_purg.n - i) * sizeof um_purg.p[0]);
        um_purg.p[i] = (um_purgable){start, start + len, VM_PURGABLE_NONVOLATILE};
        um_purg.n++;
    }
    /* Out of memory: the range stays ordinary memory (vm_purgable_control says it is not
     * purgeable), as an allocation XNU could not make purgeable would be refused instead. */
    um_suspend_unlock(&um_purg.lock);
}

/* Empty [start, end): zeros over each mapping of it (its pages' bytes are gone, as XNU's
 * purge leaves them). */
static void purg_empty(uint64_t start, uint64_t end)
{
    (void)each_mapping(start, end, false, zero_one, NULL);
}

static kern_return_t purgable_own(uint64_t address, vm_purgable_t control, int *state)
{
    if (control != VM_PURGABLE_SET_STATE && control != VM_PURGABLE_GET_STATE &&
        control != VM_PURGABLE_PURGE_ALL)
        return KERN_INVALID_ARGUMENT; /* VM_PURGABLE_SET_STATE_FROM_KERNEL: not from user space */
    if (control == VM_PURGABLE_PURGE_ALL) {
        um_suspend_lock(&um_purg.lock);
        for (size_t i = 0; i < um_purg.n; i++) {
            if (um_purg.p[i].state != VM_PURGABLE_VOLATILE)
                continue;
            um_purg.p[i].state = VM_PURGABLE_EMPTY;
            purg_empty(um_purg.p[i].start, um_purg.p[i].end);
        }
        um_suspend_unlock(&um_purg.lock);
        return KERN_SUCCESS;
    }
    if (control == VM_PURGABLE_SET_STATE && (*state & ~VM_PURGABLE_ALL_MASKS))
        return KERN_INVALID_ARGUMENT;
    uint64_t lo, hi;
    int prot;
    bool shared;
    if (!um_vm_vma(address & ~(uint64_t)vm_page_mask, false, &lo, &hi, &prot, &shared))
        return KERN_INVALID_ADDRESS;
    if (!(prot & VM_PROT_WRITE) && control != VM_PURGABLE_GET_STATE)
        return KERN_PROTECTION_FAILURE;
    um_suspend_lock(&um_purg.lock);
    um_purgable *o = NULL;
    for (size_t i = 0; i < um_purg.n && !o; i++)
        if (um_purg.p[i].start <= address && address < um_purg.p[i].end)
            o = &um_purg.p[i];
    kern_return_t kr = KERN_SUCCESS;
    if (!o) {
        kr = KERN_INVALID_ARGUMENT; /* not a purgeable object (VM_PURGABLE_DENY) */
    } else if (control == VM_PURGABLE_GET_STATE) {
        *state = o->state;
    } else {
        int old = o->state, want = *state & VM_PURGABLE_STATE_MASK;
        if (want == VM_PURGABLE_VOLATILE && old == VM_PURGABLE_EMPTY)
            want = VM_PURGABLE_EMPTY; /* what was emptied stays empty */
        switch (want) {
        case VM_PURGABLE_DENY:
            kr = KERN_INVALID_ARGUMENT;
            break;
        case VM_PURGABLE_VOLATILE: {
            int advice = MADV_COLD;
            (void)each_mapping(o->start, o->end, false, advise_one, &advice);
            break;
        }
        case VM_PURGABLE_EMPTY:
            purg_empty(o->start, o->end);
            break;
        default:
            break;
        }
        if (kr == KERN_SUCCESS) {
            o->state = want;
            *state = old;
        }
    }
    um_suspend_unlock(&um_purg.lock);
    return kr;
}

static kern_return_t purgable_common(vm_map_t target, uint64_t address, vm_purgable_t control,
                                     int *state)
{
    if (!um_call_task_check(target)) {
        if (!um_forward_wanted(target))
            return MACH_SEND_INVALID_DEST;
        const um_fw_in in[] = {UM_FW64(address), UM_FW32(control), UM_FW32(*state)};
        const um_fw_out out[] = {UM_FWOUT(state)};
        return um_forward_simple(target, UM_MIG_MACH_VM_PURGABLE_CONTROL, NULL, in, 3, out, 1);
    }
    return purgable_own(address, control, state);
}

UM_EXPORT kern_return_t mach_vm_purgable_control(vm_map_t target_task, mach_vm_address_t address,
                                                 vm_purgable_t control, int *state)
{
    UM_CALL_SCOPE;
    if (!state)
        return KERN_INVALID_ARGUMENT;
    return purgable_common(target_task, address, control, state);
}

UM_EXPORT kern_return_t vm_purgable_control(vm_map_t target_task, vm_address_t address,
                                            vm_purgable_t control, int *state)
{
    UM_CALL_SCOPE;
    if (!state)
        return KERN_INVALID_ARGUMENT;
    return purgable_common(target_task, address, control, state);
}
