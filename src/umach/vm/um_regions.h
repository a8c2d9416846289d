/*
 * um_regions.h — a task's memory as the front end keeps it: regions from vm_allocate and the
 * out-of-line copies that messages carry between them (XNU's vm_map_copyin / copyout /
 * copy_discard).
 *
 * A region of more than UM_VM_COPY_SMALL bytes from vm_allocate is a mapping of a memfd of its
 * own (a "memory object"). It starts out *live* (MAP_SHARED: only this region maps it). The
 * first virtual copy *freezes* it: the region is mapped again MAP_PRIVATE over the same file
 * (same bytes, no page copied), so the owner's later writes land in private copy-on-write
 * pages and the file becomes an immutable snapshot that copies share. A received copy is a
 * MAP_PRIVATE mapping of that file, itself a region that can be sent on the same way. The
 * registry answers "which memfd and offset back this range" (um_vm_backing), which is what a
 * front end needs to pass pages between processes.
 *
 * The embedded front end's memory operations (embedded/um_memory.c) are um_vm_copyin,
 * um_vm_copyout, um_vm_copy_discard and um_vm_remove; its vm_allocate / vm_deallocate
 * (embedded/um_vm.c) call um_vm_allocate_region / um_vm_deallocate_region.
 *
 * Conditions: every function may be called with the world lock held or not; the registry has
 * its own lock, always taken after the world lock.
 */
#ifndef UM_REGIONS_H
#define UM_REGIONS_H

#include <mach/kern_return.h>
#include <mach/message.h>

#include <stdbool.h>
#include <stdint.h>

/* Regions of at most this size are copied through a kernel buffer, as XNU copies them. */
#define UM_VM_COPY_SMALL (32u * 1024)

/* Out-of-line memory taken from a sender: owned by one message at a time. */
typedef struct um_vm_copy um_vm_copy;

/*
 * Take `size` bytes at `addr` out of the caller's memory as XNU's vm_map_copyin does: a
 * snapshot (`physical` copies and regions of at most UM_VM_COPY_SMALL bytes arrive
 * page-aligned, larger virtual copies and moves keep their offset in the first page); with
 * `dealloc` the page-rounded range leaves the caller (a move). *copyp is NULL for size 0.
 * Returns MACH_MSG_SUCCESS, MACH_SEND_INVALID_MEMORY (unreadable range; nothing changed) or
 * MACH_MSG_VM_KERNEL (no memory for the copy).
 */
mach_msg_return_t um_vm_copyin(uint64_t addr, uint64_t size, bool physical, bool dealloc,
                               um_vm_copy **copyp);

/*
 * Map a copy into the caller's memory as a new region; consumes the copy in every case.
 * *addrp gets the address of the data. KERN_NO_SPACE when it cannot be mapped (the copy is
 * discarded).
 */
kern_return_t um_vm_copyout(um_vm_copy *copy, uint64_t *addrp);

/* Destroy a copy that will not be delivered. NULL is a no-op. */
void um_vm_copy_discard(um_vm_copy *copy);

/*
 * A copy made of `region`, an anonymous mapping of `len` bytes (page-rounded) whose first
 * `size` bytes are the data: the mapping itself becomes the receiver's. Consumes the region
 * (unmapped when out of memory: NULL).
 */
um_vm_copy *um_vm_copy_of_region(void *region, uint64_t len, uint64_t size);

/* Read the first `len` bytes of a copy's data (at most its size) into `dst`; false: cannot. */
bool um_vm_copy_read(const um_vm_copy *copy, void *dst, size_t len);

/*
 * Copy `len` bytes at `src` in process `pid` (this one, in the embedded front end) into dst
 * with process_vm_readv, so an unreadable range is false, not a fault. Where the system call
 * is unavailable (ENOSYS, EPERM) it falls back to a plain copy. Conditions: any.
 */
bool um_vm_read_process(uint32_t pid, void *dst, uint64_t src, size_t len);

/*
 * Hold the task's map as it is, as XNU's copyin holds its map's lock: until um_vm_map_release
 * no umach call unmaps or replaces the task's memory (vm_deallocate, an allocation or a mapping
 * over memory, a move out of line, a memory entry's conversion: each does it under the
 * registry's lock, which this takes), so the bytes a copy reads meanwhile are one state of its
 * source, never part old memory and part a mapping that took its place. Meanwhile the holder
 * may call um_vm_read_process and the um_vm_convert_* functions of this header, no other.
 */
void um_vm_map_hold(void);
void um_vm_map_release(void);

/* vm_deallocate's effect on a range (page-rounded), without its argument checks. */
void um_vm_remove(uint64_t addr, uint64_t size);

/*
 * vm_allocate / vm_deallocate behind api/vm.c, after its argument checks: `len` and the fixed
 * address are page multiples; `flags` is VM_FLAGS_ANYWHERE, VM_FLAGS_FIXED or FIXED|OVERWRITE.
 * Return KERN_SUCCESS, KERN_NO_SPACE, or KERN_INVALID_ARGUMENT (deallocate: munmap refused).
 */
kern_return_t um_vm_allocate_region(uint64_t *addrp, uint64_t len, int flags);
kern_return_t um_vm_deallocate_region(uint64_t start, uint64_t len);

/*
 * Which memory object backs [addr, addr + len)? True when one region from vm_allocate or a
 * message covers the range: *fdp is its memfd (owned by the registry; dup it to keep it),
 * *offp the file offset of addr, *livep whether the region still writes through to the file
 * (live) rather than to private copy-on-write pages (frozen: the file is a snapshot). For
 * front ends that pass pages to another process.
 */
bool um_vm_backing(uint64_t addr, uint64_t len, int *fdp, uint64_t *offp, bool *livep);

/*
 * For the world's client front end: a snapshot of `size` (> 0) bytes at `addr` of this
 * process that another process can map. *fdp gets a memfd of the caller's (close it), sealed
 * so that its size never changes and nothing new can write it (F_SEAL_FUTURE_WRITE),
 * *foffp the file offset of the first byte. A region from vm_allocate is frozen and its own
 * memfd shared (no page copied; from then on its pages stay whole in this process); other
 * memory is copied once into a new memfd. `physical`: the data starts a page (file offset
 * page-aligned); otherwise it keeps its offset in the page (XNU's large virtual copies and
 * moves). MACH_SEND_INVALID_MEMORY (unreadable), MACH_MSG_VM_KERNEL (no memfd).
 */
mach_msg_return_t um_vm_snapshot(uint64_t addr, uint64_t size, bool physical, int *fdp,
                                 uint64_t *foffp);

/*
 * For the world's client front end, a move (deallocate = TRUE) of `size` bytes at `addr`
 * inside one live region from vm_allocate: the range is *parked* (its pages moved out of
 * sight with mremap, a PROT_NONE placeholder in its place) and its memfd given as
 * um_vm_snapshot gives it (*fdp, sealed; *foffp). No page is copied and no page-table entry
 * torn down: the range still looks unmapped to the program. Then um_vm_remove of the same
 * range (the reply says the core took it) makes it a grave, unmapped by a later
 * um_vm_reap_graves (vm_allocate and vm_deallocate call it; at most 16 graves, 64 MiB, are
 * kept); um_vm_unpark_mine (the call is over) puts back the calling thread's parked ranges
 * that were not taken. False: not parked (not such a region, or mremap cannot leave the old
 * range in place: MREMAP_DONTUNMAP, Linux 5.13); take a snapshot instead. Conditions: any.
 */
bool um_vm_park(uint64_t addr, uint64_t size, int *fdp, uint64_t *foffp);
void um_vm_unpark_mine(void);
void um_vm_reap_graves(void);

/* Copy `len` bytes of this process's memory at `src` into `fd` at `off`; false: unreadable. */
bool um_vm_write_fd(int fd, uint64_t src, uint64_t len, uint64_t off);

/*
 * Map `len` bytes (a page multiple) of memfd `fd` from file offset `foff` (page-aligned)
 * privately at a new address: a frozen region the caller frees with vm_deallocate and may
 * send on as any other. Takes `fd` in every case. KERN_NO_SPACE when it cannot be mapped,
 * KERN_INVALID_ARGUMENT for a bad fd or offset.
 */
kern_return_t um_vm_map_fd(int fd, uint64_t foff, uint64_t len, uint64_t *addrp);

/* ---- memory entries (embedded/um_vm_entry.c) ------------------------------------------------ */

/*
 * A new memfd of `len` bytes (zeros), sealed against changing size, named as the registry
 * names its objects: a memory entry's object. The caller's to close; -1 when none can be made.
 */
int um_vm_entry_memfd(uint64_t len);

/*
 * Map `len` bytes of memfd `fd` from `foff` (page multiples) shared, with protection `prot`
 * (VM_PROT_*), at a place `flags` says (VM_FLAGS_ANYWHERE: aligned to `mask` + 1; else at
 * *addrp, VM_FLAGS_OVERWRITE replacing what is there), registered as a shared region
 * (`maxprot`, inheritance `inherit` at fork). The fd stays the caller's. KERN_NO_SPACE.
 */
kern_return_t um_vm_map_shared(int fd, uint64_t foff, uint64_t len, int prot, int maxprot,
                               uint64_t mask, int flags, int inherit, uint64_t *addrp);
/*
 * The same placed as private memory holding a copy of the bytes (fd -1: zeros, as
 * vm_allocate). KERN_NO_SPACE, KERN_MEMORY_ERROR (the memfd could not be read).
 */
kern_return_t um_vm_map_private(int fd, uint64_t foff, uint64_t len, int prot, uint64_t mask,
                                int flags, int inherit, uint64_t *addrp);

/*
 * The memory object of the caller's [start, start + len) (page-aligned) for an entry that
 * shares it: *fdp (a duplicate, the caller's), the file offset of start, the range's
 * protection and maximum. A shared or live region gives its memfd (a live one becomes shared
 * for good: never frozen again); other private memory is moved into a new memfd mapped shared
 * in its place, each mapping's part with its protection (a thread writing to the range
 * meanwhile waits in its fault until the memfd is in place: um_vm_convert_fault).
 * KERN_INVALID_ADDRESS (a hole), KERN_PROTECTION_FAILURE (unreadable, or another program's
 * shared mapping), KERN_RESOURCE_SHORTAGE.
 */
kern_return_t um_vm_share_range(uint64_t start, uint64_t len, int *fdp, uint64_t *foffp,
                                int *protp, int *maxprotp);
/*
 * From a SIGSEGV or SIGBUS handler, with the signal's number, si_code and si_addr: true when
 * the fault may be a write to private memory um_vm_share_range was moving into a memfd (the
 * range is read-only meanwhile). The handler then returns, so the instruction runs again: it
 * has waited here until the conversion was over. A fault taken during a conversion that ended
 * before its handler ran is run again once. Async-signal-safe.
 */
bool um_vm_convert_fault(int sig, int code, uint64_t addr);
/*
 * For umach's own writes to the caller's memory (a system call's, which fails where a store
 * would fault): waits while a conversion covers [addr, addr + len), then returns a mark for
 * um_vm_convert_ran. A write that failed after the mark and for which um_vm_convert_ran is
 * true may have met a conversion's read-only range: settle again and write again.
 */
uint32_t um_vm_convert_settle(uint64_t addr, uint64_t len);
bool um_vm_convert_ran(uint32_t seen);
/*
 * How much of [start, start + len) (page-aligned) one memory object holds from start, for an
 * entry that stops where the object changes (XNU's, without MAP_MEM_VM_SHARE): a mapping of an
 * entry (a shared region) is an object of its own, so the range ends with the one start is
 * in, or where the first one after start begins; private memory and vm_allocate regions next
 * to each other count as one object (XNU coalesces them).
 */
uint64_t um_vm_one_object_len(uint64_t start, uint64_t len);
/* A snapshot of [start, start + len) in a new entry memfd (*fdp) and the range's protection.
 * KERN_INVALID_ADDRESS, KERN_PROTECTION_FAILURE, KERN_RESOURCE_SHORTAGE. */
kern_return_t um_vm_copy_range(uint64_t start, uint64_t len, int *fdp, int *protp);
/* The protection every mapping of [start, start + len) has, and the maximum of the region that
 * covers it (VM_PROT_ALL when none does): KERN_INVALID_ADDRESS at a hole. */
kern_return_t um_vm_range_prot(uint64_t start, uint64_t len, int *protp, int *maxprotp);

/*
 * vm_protect of the caller's [start, start + len) (page-aligned, len > 0) after its argument
 * checks, as XNU's vm_map_protect: a hole is KERN_INVALID_ADDRESS and a protection above a
 * registered region's maximum KERN_PROTECTION_FAILURE, both before anything changes; with
 * `set_max` the regions' maximum becomes `new_prot` (VM_PROT_*) and each mapping's protection
 * keeps only what the new maximum allows; without, every mapping gets `new_prot`. Memory the
 * registry does not know has no maximum (Linux keeps none).
 */
kern_return_t um_vm_protect(uint64_t start, uint64_t len, bool set_max, int new_prot);

/*
 * The maximum protection at `addr`, and the span [*lop, *hip) around it where the registry
 * says the same (a region with a maximum below VM_PROT_ALL, or what lies between two).
 */
int um_vm_max_prot(uint64_t addr, uint64_t *lop, uint64_t *hip);

/* ---- inheritance and paging behaviour (embedded/um_vm_attr.c) --------------------------------- */

/*
 * The kernel's mapping holding `addr` (or with `or_next`, the first one above it): its bounds,
 * protection (VM_PROT_*) and whether it is shared. false: none.
 */
bool um_vm_vma(uint64_t addr, bool or_next, uint64_t *lop, uint64_t *hip, int *protp,
               bool *sharedp);
/* Does [start, start + len) hold a shared mapping that is not a registry region's (a file the
 * program mapped shared itself)? */
bool um_vm_foreign_shared(uint64_t start, uint64_t len);
/*
 * Record for the registry's regions of [start, start + len) (page-aligned) their inheritance
 * (VM_INHERIT_*; -1 keeps it) and the madvise advice of their paging behaviour (-1 keeps it):
 * a shared region's fork follows its inheritance, a region inherited as none leaves the
 * child's registry, and a region mapped again (frozen) gets both back. The caller has made the
 * kernel's mappings agree (MADV_DONTFORK, the advice).
 */
void um_vm_mark(uint64_t start, uint64_t len, int inherit, int advice);
/* The inheritance the registry keeps for `addr`, or -1 when no region holds it, and the span
 * [*lop, *hip) around it where that holds (the region, or the gap between two). */
int um_vm_inherit_of(uint64_t addr, uint64_t *lop, uint64_t *hip);

#endif
