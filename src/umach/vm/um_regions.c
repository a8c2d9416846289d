/*
 * um_regions.c — regions, memory objects and out-of-line copies (see um_regions.h for the model).
 *
 * A memory object (um_vmo) is a memfd and the list of ranges of it that are referenced: one
 * reference per region mapping part of it, one per copy carried by a message. When a range
 * loses its last reference its pages are released (a hole is punched) unless the object may
 * be mapped where the registry cannot see (after a fork, or by a mapping the program changed
 * behind our back); the memfd is closed when nothing references it.
 *
 * The registry is a sorted array of regions, each one whole mapping of a part of one object:
 * [start, end) maps the object from `off`, live (MAP_SHARED) or frozen (MAP_PRIVATE). Before
 * the registry acts on a mapping it checks that the mapping is still its own
 * (/proc/self/map_files names the memfd of exactly that range): a program may munmap or map
 * over vm_allocate'd memory without vm_deallocate, and then the entry is only forgotten.
 *
 * fork: a live region would be shared with the child (MAP_SHARED), where Darwin gives the
 * child a copy. So every live region is frozen before fork (pthread_atfork), after which both
 * processes see the file as a snapshot, and no object that existed at the fork punches holes
 * any more (the other process may still read them).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create, mremap, MAP_FIXED_NOREPLACE, fallocate, SEEK_DATA */
#endif
#include "um_regions.h"
#include "../embedded/um_suspend.h"

#include <mach/mach.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UM_UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef UM_UNDER_VALGRIND
#define UM_UNDER_VALGRIND() false
#endif

/*
 * A sanitizer's pwrite interceptor checks the source range against its shadow memory before
 * the kernel sees it, so a sender's bad address (even one inside the shadow itself) becomes a
 * sanitizer report instead of EFAULT. Sanitized builds copy through the bounce buffer.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                  \
    __has_feature(memory_sanitizer)
#define UM_SANITIZED 1
#endif
#endif
#ifndef UM_SANITIZED
#define UM_SANITIZED 0
#endif

/* ---- memory objects --------------------------------------------------------------------- */

typedef struct um_vmo_ref {
    uint64_t off, len;
} um_vmo_ref;

/* What names a memfd: its descriptor, its name's parts, and its inode. */
typedef struct um_vmo_ident {
    int fd;
    uint32_t pid;          /* process that created it (part of its memfd's name) */
    uint64_t id;           /* umach-PID-ID */
    uint64_t ino;
    uint32_t dev_major, dev_minor;
} um_vmo_ident;

typedef struct um_vmo {
    um_vmo_ident ident;
    uint32_t fork_gen;     /* um_vmr.forks when created: holes are punched only if unchanged */
    bool keep;             /* never punch holes (lost track of one of its mappings) */
    uint32_t nrefs, caprefs;
    um_vmo_ref *refs;
} um_vmo;

/*
 * LIVE and FROZEN: regions from vm_allocate and messages (above). SHARED: a MAP_SHARED mapping
 * of a memory entry's memfd (um_vm_map_shared, um_vm_share_range), which other mappings and
 * processes write too: never frozen, never a snapshot, so a copy of it copies its bytes.
 */
enum { UM_RG_LIVE = 1, UM_RG_FROZEN = 2, UM_RG_SHARED = 3 };

typedef struct um_region {
    uint64_t start, end;
    um_vmo *vmo;
    uint64_t off;          /* file offset mapped at start */
    uint8_t state;         /* UM_RG_LIVE, UM_RG_FROZEN or UM_RG_SHARED */
    bool checked;          /* scratch: validated in the current operation */
    uint8_t inherit;       /* VM_INHERIT_* at fork: SHARED regions follow all three; the
                            * others are copied, or not there (NONE: MADV_DONTFORK) */
    uint8_t maxprot;       /* its maximum protection (VM_PROT_*): VM_PROT_ALL but for a shared
                            * region mapped with less, or lowered by vm_protect(set_maximum) */
    uint32_t fork_npieces;
    struct um_piece *fork_pieces; /* SHARED, inherited as a copy, while a fork runs: its
                                   * mappings and holes at the fork (range_pieces) */
    void *fork_copy;       /* SHARED, inherited as a copy, while a fork runs: the child's copy */
    uint8_t advice;        /* the madvise advice of its paging behaviour (0: MADV_NORMAL), put
                            * back when the region is mapped again (frozen) */
} um_region;

/* One mapping's part of a range and its protection (VM_PROT_*), or a hole (prot -1). */
typedef struct um_piece {
    uint64_t lo, hi;
    int prot;
} um_piece;

struct um_vm_copy {
    uint8_t kind;          /* UM_VC_ENTRY: owns a mapping; UM_VC_OBJECT: part of a vmo, unmapped */
    uint8_t state;         /* ENTRY with vmo: the region state it arrives in */
    uint32_t offset;       /* data starts this far into the first page */
    uint64_t size;         /* data bytes */
    void *map;             /* ENTRY: the mapping */
    uint64_t len;          /* page-rounded length of the mapping / object range */
    um_vmo *vmo;           /* NULL for an anonymous ENTRY */
    uint64_t voff;         /* file offset of the first page */
};

enum { UM_VC_ENTRY = 1, UM_VC_OBJECT = 2 };

/*
 * A range of a live region that a send moves to another process (um_vm_park): its pages are
 * moved out of sight with mremap (a 2 MiB-aligned range moves whole page tables: no page's
 * entry is touched) and a PROT_NONE placeholder holds its place until the call's reply says
 * whether the core took it. Taken, the placeholder goes and the pages become a *grave*,
 * unmapped later (um_vm_reap_graves: tearing down a filled 16 MiB mapping's 4,096 page-table
 * entries costs as much as an eighth of a copy, off the call that moves); not taken, the
 * pages go back where they were.
 */
typedef struct um_park {
    uint64_t start, len;   /* where the range was (the placeholder) */
    uint64_t at;           /* where its pages are now, inside [res, res + reslen) */
    uint64_t res, reslen;  /* the reservation that holds them */
    um_vmo *vmo;           /* one reference to [voff, voff + len) */
    uint64_t voff;
    uint32_t forks;        /* um_vmr.forks when parked */
    pthread_t owner;       /* the thread whose send carries it */
    bool taken;            /* a grave */
} um_park;

/* Graves kept before the oldest are unmapped at once (a bound on what they hold). */
#define UM_VM_GRAVES_MAX 16u
#define UM_VM_GRAVES_BYTES ((uint64_t)64 << 20)

static struct {
    pthread_mutex_t lock;
    um_region *r;
    size_t n, cap;
    uint64_t next_id;
    uint32_t forks;
    uint32_t nvmos, maxvmos; /* open memfds, and how many we allow ourselves */
    bool no_memfd;           /* memfd_create is unavailable: regions stay anonymous */
    uint8_t *bounce;         /* safe_pwrite's buffer */
    uint32_t pid;            /* this process (0: not known yet; reset in a forked child) */
    int pagemap;             /* /proc/self/pagemap of this process, or -1 */
    int maps;                /* /proc/self/maps for PROCMAP_QUERY, -1, or -2: not supported */
    /* Memfds of dead objects kept for reuse (emptied), with the names they were made with. */
    um_vmo_ident pool[8];
    uint32_t npool;
    um_park *parks;          /* parked ranges and graves, oldest first */
    uint32_t nparks, capparks;
    uint32_t ngraves;
    uint64_t grave_bytes;
    bool no_dontunmap;       /* mremap(MREMAP_DONTUNMAP) refused: no parking */
} um_vmr = {.lock = PTHREAD_MUTEX_INITIALIZER, .pagemap = -1, .maps = -1};

/*
 * The registry's lock. A thread inside is not stopped by thread_suspend until it leaves
 * (embedded/um_suspend.h), as with the world lock: a thread stopped holding it would hold up
 * every vm call and out-of-line send of the thread that suspended it.
 */
static void vmr_lock(void)
{
    um_suspend_lock(&um_vmr.lock);
}

static void vmr_unlock(void)
{
    um_suspend_unlock(&um_vmr.lock);
}

/* Sizes from which mappings are placed on 2 MiB boundaries (page tables then move whole). */
#define UM_VM_ALIGN (2u * 1024 * 1024)

/* This process's pid, cached. Read without the lock (a fault-safe read of our own memory
 * needs it), so the cache is a relaxed atomic: any thread may fill it, all with one value. */
static uint32_t self_pid(void)
{
    uint32_t pid = __atomic_load_n(&um_vmr.pid, __ATOMIC_RELAXED);
    if (!pid) {
        pid = (uint32_t)getpid();
        __atomic_store_n(&um_vmr.pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

/*
 * mmap(NULL, len, prot, flags, fd, off), on a 2 MiB boundary when len is at least that (the
 * kernel does this for large anonymous mappings, not for memfds): a move between two such
 * mappings then moves whole page tables instead of every page's entry.
 */
static void *map_aligned(size_t len, int prot, int flags, int fd, off_t off)
{
    if (len < UM_VM_ALIGN)
        return mmap(NULL, len, prot, flags, fd, off);
    if (fd < 0) {
        /* Anonymous: recent kernels align these themselves. */
        void *p = mmap(NULL, len, prot, flags, fd, off);
        if (p == MAP_FAILED || ((uintptr_t)p & (UM_VM_ALIGN - 1)) == 0)
            return p;
        munmap(p, len);
    }
    size_t span = len + UM_VM_ALIGN;
    uint8_t *res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED)
        return mmap(NULL, len, prot, flags, fd, off);
    uint8_t *at = (uint8_t *)(((uintptr_t)res + UM_VM_ALIGN - 1) & ~(uintptr_t)(UM_VM_ALIGN - 1));
    void *p = mmap(at, len, prot, flags | MAP_FIXED, fd, off);
    if (p == MAP_FAILED) {
        munmap(res, span);
        return MAP_FAILED;
    }
    if (at > res)
        munmap(res, (size_t)(at - res));
    if (at + len < res + span)
        munmap(at + len, (size_t)(res + span - (at + len)));
    return p;
}

static inline uint64_t pmask(void)
{
    return (uint64_t)vm_page_size - 1;
}

static inline uint64_t round_page64(uint64_t x)
{
    return (x + pmask()) & ~pmask();
}

/* Our memfds stay few: a quarter of the descriptor limit, and above 1024 when there is room. */
static void vmo_limits_init(void)
{
    struct rlimit rl;
    uint64_t soft = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        soft = rl.rlim_cur;
    else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        soft = 1u << 20;
    um_vmr.maxvmos = (uint32_t)(soft / 4 > 16 ? soft / 4 : 16);
}

/* A new object of `len` bytes (all holes), or NULL. Conditions: registry locked. */
static um_vmo *vmo_create(uint64_t len)
{
    if (um_vmr.no_memfd)
        return NULL;
    if (!um_vmr.maxvmos)
        vmo_limits_init();
    um_vmo *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->fork_gen = um_vmr.forks;
    while (um_vmr.npool) {
        /* A dead object's memfd, emptied: only the size to set (it keeps its name). */
        v->ident = um_vmr.pool[--um_vmr.npool];
        if (ftruncate(v->ident.fd, (off_t)len) == 0)
            return v;
        close(v->ident.fd);
        um_vmr.nvmos--;
    }
    if (um_vmr.nvmos >= um_vmr.maxvmos) {
        free(v);
        return NULL;
    }
    v->ident.id = ++um_vmr.next_id;
    v->ident.pid = self_pid();
    char name[64];
    snprintf(name, sizeof name, "umach-%u-%llu", v->ident.pid, (unsigned long long)v->ident.id);
    /* Sealable: a snapshot handed to another process is sealed first (um_vm_snapshot). */
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 && errno == EINVAL)
        fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOSYS)
            um_vmr.no_memfd = true;
        free(v);
        return NULL;
    }
    if (fd < 1024 && um_vmr.maxvmos > 2048) {
        /* Keep clear of the descriptors a program passes to select(). */
        int high = fcntl(fd, F_DUPFD_CLOEXEC, 1024);
        if (high >= 0) {
            close(fd);
            fd = high;
        }
    }
    struct stat st;
    if (ftruncate(fd, (off_t)len) != 0 || fstat(fd, &st) != 0) {
        close(fd);
        free(v);
        return NULL;
    }
    v->ident.fd = fd;
    v->ident.ino = (uint64_t)st.st_ino;
    v->ident.dev_major = major(st.st_dev);
    v->ident.dev_minor = minor(st.st_dev);
    um_vmr.nvmos++;
    return v;
}

/* Reference [off, off + len) of `v`. Returns false when out of memory (nothing changed). */
static bool vmo_ref(um_vmo *v, uint64_t off, uint64_t len)
{
    if (v->nrefs == v->caprefs) {
        uint32_t cap = v->caprefs ? v->caprefs * 2 : 4;
        um_vmo_ref *r = realloc(v->refs, cap * sizeof *r);
        if (!r)
            return false;
        v->refs = r;
        v->caprefs = cap;
    }
    v->refs[v->nrefs++] = (um_vmo_ref){off, len};
    return true;
}

static int ref_cmp(const void *a, const void *b)
{
    const um_vmo_ref *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Release the pages of [off, off + len) that no remaining reference covers. */
static void vmo_punch_unreferenced(um_vmo *v, uint64_t off, uint64_t len)
{
    if (v->keep || v->fork_gen != um_vmr.forks)
        return;
    uint64_t end = off + len;
    um_vmo_ref *cover = malloc((v->nrefs + 1) * sizeof *cover);
    if (!cover)
        return; /* the pages stay until the object closes */
    uint32_t n = 0;
    for (uint32_t i = 0; i < v->nrefs; i++)
        if (v->refs[i].off < end && v->refs[i].off + v->refs[i].len > off)
            cover[n++] = v->refs[i];
    qsort(cover, n, sizeof *cover, ref_cmp);
    uint64_t at = off;
    for (uint32_t i = 0; i <= n && at < end; i++) {
        uint64_t next = i < n ? cover[i].off : end;
        if (next > end)
            next = end;
        if (next > at)
            (void)fallocate(v->ident.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)at,
                            (off_t)(next - at));
        if (i < n && cover[i].off + cover[i].len > at)
            at = cover[i].off + cover[i].len;
    }
    free(cover);
}

/* Drop the reference [off, off + len) (taken by vmo_ref); may close and free `v`. */
static void vmo_unref(um_vmo *v, uint64_t off, uint64_t len, bool may_punch)
{
    for (uint32_t i = v->nrefs; i-- > 0;) {
        if (v->refs[i].off == off && v->refs[i].len == len) {
            v->refs[i] = v->refs[--v->nrefs];
            break;
        }
    }
    if (v->nrefs == 0) {
        /*
         * Nothing the registry knows maps it any more: keep the memfd, emptied, for the next
         * object. But emptying it is a hole punched everywhere, so only when the last range
         * may be punched (its mapping was checked and is gone) and no mapping was ever lost
         * track of (keep) or handed to another process (a fork): otherwise it is only closed,
         * and a mapping the program still has keeps its pages.
         */
        size_t cap = sizeof um_vmr.pool / sizeof um_vmr.pool[0];
        if (may_punch && !v->keep && v->fork_gen == um_vmr.forks && um_vmr.npool < cap &&
            ftruncate(v->ident.fd, 0) == 0) {
            um_vmr.pool[um_vmr.npool++] = v->ident;
        } else {
            close(v->ident.fd);
            um_vmr.nvmos--;
        }
        free(v->refs);
        free(v);
        return;
    }
    if (may_punch)
        vmo_punch_unreferenced(v, off, len);
    else
        v->keep = true;
}

/* ---- the registry -------------------------------------------------------------------------- */

/* Index of the first region ending after `addr`. */
static size_t reg_lower(uint64_t addr)
{
    size_t lo = 0, hi = um_vmr.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (um_vmr.r[mid].end <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool reg_reserve(size_t extra)
{
    if (um_vmr.n + extra <= um_vmr.cap)
        return true;
    size_t cap = um_vmr.cap ? um_vmr.cap * 2 : 16;
    while (cap < um_vmr.n + extra)
        cap *= 2;
    um_region *r = realloc(um_vmr.r, cap * sizeof *r);
    if (!r)
        return false;
    um_vmr.r = r;
    um_vmr.cap = cap;
    return true;
}

/* The region containing all of [start, end), or NULL. */
static um_region *reg_covering(uint64_t start, uint64_t end)
{
    size_t i = reg_lower(start);
    if (i < um_vmr.n && um_vmr.r[i].start <= start && um_vmr.r[i].end >= end)
        return &um_vmr.r[i];
    return NULL;
}

/*
 * The kernel merged the mapping of `r` with a neighbour mapping the same file at the next
 * offsets (two received copies of adjacent parts of one object, say): find the mapping that
 * holds r->start in /proc/self/maps and check that it is `want` from the right offset and
 * covers all of r.
 */
static bool reg_valid_merged(const um_region *r, const char *want)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return false;
    char line[512];
    bool ok = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi, off;
        int path_at = 0;
        if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &lo, &hi, &off, &path_at) != 3)
            continue;
        if (lo > r->start)
            break;
        if (hi <= r->start)
            continue;
        line[strcspn(line, "\n")] = 0;
        ok = hi >= r->end && off + (r->start - lo) == r->off && path_at > 0 &&
             strcmp(line + path_at, want) == 0;
        break;
    }
    fclose(f);
    return ok;
}

/* PROCMAP_QUERY (Linux 6.11): the mapping that holds an address, asked of /proc/self/maps. */
typedef struct um_procmap_query {
    uint64_t size, query_flags, query_addr;
    uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
} um_procmap_query;
#define UM_PROCMAP_QUERY _IOWR('f', 17, um_procmap_query)
#define UM_PROCMAP_VMA_READABLE 0x01u
#define UM_PROCMAP_VMA_WRITABLE 0x02u
#define UM_PROCMAP_VMA_SHARED 0x08u
#define UM_PROCMAP_QUERY_COVERING_OR_NEXT 0x10u

/*
 * Ask the kernel about the mapping that holds r->start: 1 when it is r's memfd (same inode),
 * mapped shared or private as r's state says, from the right offset and covering all of r
 * (it may be larger: the kernel merges neighbours mapping the next offsets of one file);
 * 0 when it is not; -1 when this kernel cannot be asked.
 */
static int reg_query(const um_region *r)
{
    if (um_vmr.maps == -2)
        return -1;
    if (um_vmr.maps < 0 && (um_vmr.maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)) < 0) {
        um_vmr.maps = -2;
        return -1;
    }
    um_procmap_query q;
    memset(&q, 0, sizeof q);
    q.size = sizeof q;
    q.query_addr = r->start;
    if (ioctl(um_vmr.maps, UM_PROCMAP_QUERY, &q) != 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ENOTTY || errno == EINVAL || errno == EOPNOTSUPP) {
            close(um_vmr.maps);
            um_vmr.maps = -2;
        }
        return -1;
    }
    const um_vmo_ident *id = &r->vmo->ident;
    bool shared = (q.vma_flags & UM_PROCMAP_VMA_SHARED) != 0;
    /* A region the program made read-only (mprotect) is not ours to remap read-write; a
     * shared one is never remapped, whatever its protection. */
    bool rw = r->state == UM_RG_SHARED ||
              (q.vma_flags & (UM_PROCMAP_VMA_READABLE | UM_PROCMAP_VMA_WRITABLE)) ==
                  (UM_PROCMAP_VMA_READABLE | UM_PROCMAP_VMA_WRITABLE);
    return rw && q.inode == id->ino && q.dev_major == id->dev_major &&
           q.dev_minor == id->dev_minor &&
           q.vma_start <= r->start && q.vma_end >= r->end &&
           q.vma_offset + (r->start - q.vma_start) == r->off &&
           shared == (r->state != UM_RG_FROZEN);
}

/* Is the mapping of `r` still the one the registry made (same memfd, same bounds)? */
static bool reg_valid(const um_region *r)
{
    int known = reg_query(r);
    if (known >= 0)
        return known == 1;
    char path[96], want[96], got[128];
    snprintf(path, sizeof path, "/proc/self/map_files/%llx-%llx", (unsigned long long)r->start,
             (unsigned long long)r->end);
    int wn = snprintf(want, sizeof want, "/memfd:umach-%u-%llu (deleted)", r->vmo->ident.pid,
                      (unsigned long long)r->vmo->ident.id);
    ssize_t n = readlink(path, got, sizeof got);
    if (n == wn && memcmp(got, want, (size_t)n) == 0)
        return true;
    return n < 0 && errno == ENOENT && reg_valid_merged(r, want);
}

/*
 * Forget every region overlapping [start, end) (its mapping there is gone or replaced); parts
 * outside the range stay registered. With `checked`, reg_check ran on the same range in the
 * same critical section, and the pages of a region it found valid are released; any other
 * region's object keeps its pages (something we cannot see may still map them).
 */
static void reg_forget(uint64_t start, uint64_t end, bool checked)
{
    size_t i = reg_lower(start);
    while (i < um_vmr.n && um_vmr.r[i].start < end) {
        um_region old = um_vmr.r[i];
        um_region left = old, right = old;
        bool has_left = old.start < start, has_right = old.end > end;
        left.end = start;
        right.start = end;
        right.off = old.off + (end - old.start);
        if (has_left && !vmo_ref(old.vmo, left.off, left.end - left.start))
            has_left = false; /* out of memory: forget that part too (keep the pages) */
        if (has_right && !vmo_ref(old.vmo, right.off, right.end - right.start))
            has_right = false;
        if (has_left && has_right && !reg_reserve(1)) {
            vmo_unref(old.vmo, right.off, right.end - right.start, false);
            has_right = false;
        }
        size_t put = i;
        if (has_left)
            um_vmr.r[put++] = left;
        if (has_right) {
            if (put == i + 1) {
                memmove(&um_vmr.r[i + 2], &um_vmr.r[i + 1],
                        (um_vmr.n - i - 1) * sizeof um_vmr.r[0]);
                um_vmr.n++;
            }
            um_vmr.r[put++] = right;
        }
        if (put == i) {
            memmove(&um_vmr.r[i], &um_vmr.r[i + 1], (um_vmr.n - i - 1) * sizeof um_vmr.r[0]);
            um_vmr.n--;
        }
        vmo_unref(old.vmo, old.off, old.end - old.start, checked && old.checked);
        i = put;
    }
}

/* Mark the regions overlapping [start, end) whose mappings are still ours. */
static void reg_check(uint64_t start, uint64_t end)
{
    for (size_t i = reg_lower(start); i < um_vmr.n && um_vmr.r[i].start < end; i++)
        um_vmr.r[i].checked = reg_valid(&um_vmr.r[i]);
}

/*
 * Register a new mapping; takes over a reference the caller holds. False if out of memory.
 * `checked` as for reg_forget, for what the new mapping replaced.
 */
static bool reg_insert(uint64_t start, uint64_t end, um_vmo *v, uint64_t off, uint8_t state,
                       bool checked)
{
    reg_forget(start, end, checked); /* what the mapping replaced */
    if (!reg_reserve(1))
        return false;
    size_t i = reg_lower(start);
    memmove(&um_vmr.r[i + 1], &um_vmr.r[i], (um_vmr.n - i) * sizeof um_vmr.r[0]);
    um_vmr.r[i] = (um_region){start, end, v, off, state, false, VM_INHERIT_DEFAULT, VM_PROT_ALL,
                              0, NULL, NULL, 0};
    um_vmr.n++;
    return true;
}

/* Freeze a live region: same file, mapped privately, so the file stops changing. */
static bool reg_freeze(um_region *r)
{
    if (r->state != UM_RG_LIVE)
        return true;
    void *p = mmap((void *)(uintptr_t)r->start, r->end - r->start, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_FIXED, r->vmo->ident.fd, (off_t)r->off);
    if (p == MAP_FAILED)
        return false;
    r->state = UM_RG_FROZEN;
    /* A new mapping: what vm_inherit and vm_behavior_set told the old one, again. */
    if (r->inherit == VM_INHERIT_NONE)
        (void)madvise(p, r->end - r->start, MADV_DONTFORK);
    if (r->advice)
        (void)madvise(p, r->end - r->start, r->advice);
    return true;
}

/* ---- fork -------------------------------------------------------------------------------------- */

static bool vma_at(uint64_t addr, uint64_t *lo, uint64_t *hi, int *prot, bool *shared);
static um_piece *range_pieces(uint64_t start, uint64_t end, bool holes, size_t *np);
static int prot_to_mmap(int prot);

/* A private anonymous copy of shared region `r`'s bytes (past its file's end: zeros), or NULL. */
static void *shared_private_copy(const um_region *r)
{
    uint64_t len = r->end - r->start;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    for (uint64_t done = 0; done < len;) {
        ssize_t n = pread(r->vmo->ident.fd, (char *)p + done, (size_t)(len - done),
                          (off_t)(r->off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (uint64_t)n;
    }
    return p;
}

/*
 * Before a fork, in the parent: each shared region the child inherits as a copy is copied now
 * and its mapping kept from the child (MADV_DONTFORK), which puts the copy in its place, so the
 * child's copy is the memory as at the fork (copied in the child, it could take in what the
 * parent wrote once fork() had returned). A region whose copy cannot be made now is left to the
 * child to copy. Conditions: locked.
 */
static void shared_fork_copies(void)
{
    for (size_t i = 0; i < um_vmr.n; i++) {
        um_region *r = &um_vmr.r[i];
        r->fork_copy = NULL;
        r->fork_pieces = NULL;
        if (r->state != UM_RG_SHARED || r->inherit == VM_INHERIT_SHARE ||
            r->inherit == VM_INHERIT_NONE)
            continue;
        uint64_t len = r->end - r->start;
        size_t n;
        um_piece *pc = range_pieces(r->start, r->end, true, &n);
        if (!pc)
            continue;
        void *p = shared_private_copy(r);
        if (p && madvise((void *)(uintptr_t)r->start, len, MADV_DONTFORK) != 0) {
            munmap(p, len);
            p = NULL;
        }
        if (!p) {
            free(pc);
            continue;
        }
        r->fork_copy = p;
        r->fork_pieces = pc;
        r->fork_npieces = (uint32_t)n;
    }
}

static void um_vm_atfork_prepare(void)
{
    vmr_lock();
    /* Pooled memfds would be reused by both processes: let them go. */
    while (um_vmr.npool) {
        close(um_vmr.pool[--um_vmr.npool].fd);
        um_vmr.nvmos--;
    }
    for (size_t i = 0; i < um_vmr.n;) {
        um_region *r = &um_vmr.r[i];
        if (r->state == UM_RG_LIVE && (!reg_valid(r) || !reg_freeze(r))) {
            reg_forget(r->start, r->end, false);
            continue;
        }
        i++;
    }
    shared_fork_copies();
    um_vmr.forks++;
}

static void um_vm_atfork_parent(void)
{
    /* The child has the copies (or fork failed): the parent's mappings fork again. */
    for (size_t i = 0; i < um_vmr.n; i++) {
        um_region *r = &um_vmr.r[i];
        if (!r->fork_copy)
            continue;
        munmap(r->fork_copy, r->end - r->start);
        r->fork_copy = NULL;
        free(r->fork_pieces);
        r->fork_pieces = NULL;
        (void)madvise((void *)(uintptr_t)r->start, r->end - r->start, MADV_DOFORK);
    }
    vmr_unlock();
}

static void parks_after_fork_child(void);
static bool park_take(uint64_t start, uint64_t len);

/*
 * A forked child's shared regions (memory entries' mappings) as their inheritance says: SHARE
 * stays shared with the parent; COPY (the default) becomes a private copy of the bytes at the
 * fork, as Darwin's child gets; NONE is not there (MADV_DONTFORK). Conditions: locked, in the
 * child, single-threaded.
 */
static void children_shared_inherit(void)
{
    for (size_t i = 0; i < um_vmr.n;) {
        um_region *r = &um_vmr.r[i];
        if (r->state != UM_RG_SHARED || r->inherit == VM_INHERIT_SHARE) {
            i++;
            continue;
        }
        uint64_t len = r->end - r->start;
        size_t n = r->fork_npieces;
        void *p = r->fork_copy; /* the parent's copy at the fork, else made now */
        um_piece *pc = r->fork_pieces;
        r->fork_copy = NULL;
        r->fork_pieces = NULL;
        if (!p && r->inherit != VM_INHERIT_NONE &&
            (pc = range_pieces(r->start, r->end, true, &n)) != NULL)
            p = shared_private_copy(r);
        if (p && mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
                        (void *)(uintptr_t)r->start) == MAP_FAILED) {
            munmap(p, len);
            p = NULL;
        }
        /* Each mapping's protection at the fork, and the holes the program had made. */
        for (size_t k = 0; p && k < n; k++) {
            if (pc[k].prot < 0)
                (void)munmap((void *)(uintptr_t)pc[k].lo, pc[k].hi - pc[k].lo);
            else
                (void)mprotect((void *)(uintptr_t)pc[k].lo, pc[k].hi - pc[k].lo,
                               prot_to_mmap(pc[k].prot));
        }
        free(pc);
        reg_forget(r->start, r->end, false);
    }
}

static void um_vm_atfork_child(void)
{
    parks_after_fork_child();
    /* A new process: its pid, its own page map and maps (the open ones read the parent's). */
    __atomic_store_n(&um_vmr.pid, 0, __ATOMIC_RELAXED);
    if (um_vmr.pagemap >= 0)
        close(um_vmr.pagemap);
    um_vmr.pagemap = -1;
    if (um_vmr.maps >= 0)
        close(um_vmr.maps);
    if (um_vmr.maps != -2)
        um_vmr.maps = -1;
    children_shared_inherit();
    /* Regions inherited as none are not in the child (MADV_DONTFORK). */
    for (size_t i = 0; i < um_vmr.n;) {
        um_region *r = &um_vmr.r[i];
        if (r->inherit == VM_INHERIT_NONE) {
            reg_forget(r->start, r->end, false);
            continue;
        }
        i++;
    }
    vmr_unlock();
}

/*
 * Registered before the world's handlers (constructor priority), so that at fork the world
 * lock is taken first and the registry lock second, the order every other path uses.
 */
__attribute__((constructor(102))) static void um_vm_init(void)
{
    pthread_atfork(um_vm_atfork_prepare, um_vm_atfork_parent, um_vm_atfork_child);
}

/* ---- copies ------------------------------------------------------------------------------------ */

bool um_vm_read_process(uint32_t pid, void *dst, uint64_t src, size_t len)
{
    size_t done = 0;
    while (done < len) {
        struct iovec local = {(char *)dst + done, len - done};
        struct iovec remote = {(void *)(uintptr_t)(src + done), len - done};
        ssize_t n = process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
                memcpy((char *)dst + done, (const void *)(uintptr_t)(src + done), len - done);
                return true;
            }
            return false;
        }
        done += (size_t)n;
    }
    return true;
}

/* Copy `len` bytes of this process's memory at `src`. Conditions: registry locked (pid cache). */
static bool safe_read(void *dst, uint64_t src, size_t len)
{
    return um_vm_read_process(self_pid(), dst, src, len);
}

/*
 * Write `len` bytes of this process's memory at `src` to `fd` at `off`. False if unreadable
 * (the kernel reports EFAULT, it does not fault). Under valgrind and in sanitized builds the
 * bytes go through a small buffer filled by safe_read instead: memory the program never
 * initialised, or a hole in the range, is the sender's business, not an error in umach's
 * write (pwrite straight from the sender is half again as fast as the buffer, so it is the
 * rule everywhere else).
 * Conditions: registry locked (the buffer is its).
 */
#define UM_VM_BOUNCE (128u * 1024)
static bool safe_pwrite(int fd, uint64_t src, uint64_t len, uint64_t off)
{
    bool bounce = UM_SANITIZED || UM_UNDER_VALGRIND();
    if (bounce && !um_vmr.bounce && !(um_vmr.bounce = malloc(UM_VM_BOUNCE)))
        return false;
    uint64_t done = 0;
    while (done < len) {
        size_t chunk = len - done > UM_VM_BOUNCE ? UM_VM_BOUNCE : (size_t)(len - done);
        if (!bounce)
            chunk = len - done > (1u << 30) ? (1u << 30) : (size_t)(len - done);
        else if (!safe_read(um_vmr.bounce, src + done, chunk))
            return false;
        const uint8_t *from = bounce ? um_vmr.bounce : (const uint8_t *)(uintptr_t)(src + done);
        size_t put = 0;
        while (put < chunk) {
            ssize_t n = pwrite(fd, from + put, chunk - put, (off_t)(off + done + put));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return false;
            put += (size_t)n;
        }
        done += chunk;
    }
    return true;
}

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)

/*
 * Which pages of [start, start + npages pages) hold private copies: in a frozen region, the
 * pages the owner wrote since the freeze; in private anonymous memory (`any`), every page
 * that is not a never-touched zero page (present or swapped)? Fills dirty[] and returns true;
 * false when the page map cannot be read.
 */
static bool pages_private(uint64_t start, uint64_t npages, bool any, bool *dirty)
{
    if (um_vmr.pagemap < 0)
        um_vmr.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    int fd = um_vmr.pagemap;
    if (fd < 0)
        return false;
    uint64_t buf[512];
    uint64_t page = start / vm_page_size;
    bool ok = true;
    for (uint64_t i = 0; i < npages && ok;) {
        uint64_t n = npages - i < 512 ? npages - i : 512;
        ssize_t got = pread(fd, buf, n * 8, (off_t)((page + i) * 8));
        if (got != (ssize_t)(n * 8)) {
            ok = false;
            break;
        }
        for (uint64_t j = 0; j < n; j++) {
            uint64_t e = buf[j];
            dirty[i + j] = ((e & PM_PRESENT) && (any || !(e & PM_FILE))) || (e & PM_SWAPPED);
        }
        i += n;
    }
    return ok;
}

/* Which pages of [off, off + npages pages) of the object hold data (are not holes)? */
static void vmo_data_pages(const um_vmo *v, uint64_t off, uint64_t npages, bool *data)
{
    uint64_t end = off + npages * vm_page_size, pos = off;
    while (pos < end) {
        off_t d = lseek(v->ident.fd, (off_t)pos, SEEK_DATA);
        if (d < 0 && errno == ENXIO)
            return; /* only holes from pos on */
        if (d < 0) {
            d = (off_t)pos; /* cannot tell: count the rest as data */
            for (uint64_t i = (pos - off) / vm_page_size; i < npages; i++)
                data[i] = true;
            return;
        }
        if ((uint64_t)d >= end)
            return;
        off_t h = lseek(v->ident.fd, d, SEEK_HOLE);
        uint64_t hole = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
        for (uint64_t i = ((uint64_t)d - off) / vm_page_size; i * vm_page_size + off < hole; i++)
            data[i] = true;
        pos = hole > (uint64_t)d ? hole : (uint64_t)d + vm_page_size;
    }
}

/*
 * The owner of frozen region `r` wrote the pages `dirty` marks in [src, src + npages pages):
 * it reads its private copies there now, so the file's pages under them serve only other
 * references. Release those no other reference covers (as XNU collapses a shadow chain).
 */
static void reg_trim_dirty(um_region *r, uint64_t src, uint64_t npages, const bool *dirty)
{
    um_vmo *v = r->vmo;
    uint64_t own_len = r->end - r->start;
    uint32_t own = v->nrefs;
    for (uint32_t i = 0; i < v->nrefs; i++)
        if (v->refs[i].off == r->off && v->refs[i].len == own_len)
            own = i;
    if (own == v->nrefs)
        return;
    /* Set our own reference aside while asking what else covers the pages. */
    um_vmo_ref mine = v->refs[own];
    v->refs[own] = v->refs[--v->nrefs];
    uint64_t foff = r->off + (src - r->start);
    for (uint64_t i = 0; i < npages;) {
        if (!dirty[i]) {
            i++;
            continue;
        }
        uint64_t j = i;
        while (j < npages && dirty[j])
            j++;
        vmo_punch_unreferenced(v, foff + i * vm_page_size, (j - i) * vm_page_size);
        i = j;
    }
    v->refs[v->nrefs++] = mine;
}

/*
 * Copy [src, src + len) of region `r` (page aligned, inside r) to `dst` at `doff`, skipping
 * pages that read as zero without a copy: not written since the freeze and a hole in the file.
 * Returns false when the sender's memory is unreadable.
 */
static bool copy_sparse(um_region *r, uint64_t src, uint64_t len, um_vmo *dst, uint64_t doff)
{
    uint64_t npages = len / vm_page_size;
    bool *dirty = calloc(npages ? npages * 2 : 2, sizeof *dirty);
    if (!dirty || !pages_private(src, npages, false, dirty)) {
        free(dirty);
        return safe_pwrite(dst->ident.fd, src, len, doff);
    }
    bool *data = dirty + npages;
    vmo_data_pages(r->vmo, r->off + (src - r->start), npages, data);
    bool ok = true;
    uint64_t run = 0, nrun = 0;
    for (uint64_t i = 0; i <= npages && ok; i++) {
        bool need = i < npages && (dirty[i] || data[i]);
        if (need) {
            if (!nrun)
                run = i;
            nrun++;
            continue;
        }
        if (nrun)
            ok = safe_pwrite(dst->ident.fd, src + run * vm_page_size, nrun * vm_page_size,
                             doff + run * vm_page_size);
        nrun = 0;
    }
    if (ok && r->state == UM_RG_FROZEN)
        reg_trim_dirty(r, src, npages, dirty);
    free(dirty);
    return ok;
}

static um_vm_copy *copy_new(uint8_t kind, uint64_t size, uint32_t offset, uint64_t len)
{
    um_vm_copy *c = calloc(1, sizeof *c);
    if (c) {
        c->kind = kind;
        c->size = size;
        c->offset = offset;
        c->len = len;
    }
    return c;
}

/* A fresh anonymous mapping of `len` bytes with the sender's bytes at `offset`. */
static mach_msg_return_t copy_anon(uint64_t addr, uint64_t size, uint32_t offset, uint64_t len,
                                   um_vm_copy **copyp)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return MACH_MSG_VM_KERNEL;
    if (!safe_read((char *)p + offset, addr, size)) {
        munmap(p, len);
        return MACH_SEND_INVALID_MEMORY;
    }
    um_vm_copy *c = copy_new(UM_VC_ENTRY, size, offset, len);
    if (!c) {
        munmap(p, len);
        return MACH_MSG_VM_KERNEL;
    }
    c->map = p;
    *copyp = c;
    return MACH_MSG_SUCCESS;
}

/* Copy the part of [a, b) inside [lo, hi) to `dst` at its offset from `src`. False if unreadable. */
static bool copy_clipped(um_vmo *dst, uint64_t src, uint64_t a, uint64_t b, uint64_t lo,
                         uint64_t hi)
{
    if (a < lo)
        a = lo;
    if (b > hi)
        b = hi;
    return a >= b || safe_pwrite(dst->ident.fd, a, b - a, a - src);
}

/*
 * Copy the bytes [lo, hi) of the pages [src, src + len) of memory the registry does not know
 * to `dst`, page for page from offset 0, skipping the pages of private anonymous mappings that
 * were never touched (they read as zero, and so does a hole): untouched malloc or stack
 * memory costs nothing. Only [lo, hi) is read, never the rest of its first and last pages (a
 * neighbour's memory). Returns 1 when copied, 0 when part of the range is unreadable, -1 when
 * the kernel cannot say what maps it (PROCMAP_QUERY; the caller copies everything).
 */
static int copy_sparse_anon(uint64_t src, uint64_t len, um_vmo *dst, uint64_t lo, uint64_t hi)
{
    if (um_vmr.maps == -2 ||
        (um_vmr.maps < 0 && (um_vmr.maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)) < 0))
        return -1;
    uint64_t end = src + len, pos = src;
    bool *touched = NULL;
    int rc = 1;
    while (pos < end && rc == 1) {
        um_procmap_query q;
        memset(&q, 0, sizeof q);
        q.size = sizeof q;
        q.query_addr = pos;
        if (ioctl(um_vmr.maps, UM_PROCMAP_QUERY, &q) != 0) {
            rc = errno == ENOENT ? 0 : -1;
            break;
        }
        if (q.vma_start > pos || !(q.vma_flags & UM_PROCMAP_VMA_READABLE)) {
            rc = 0;
            break;
        }
        uint64_t piece_end = q.vma_end < end ? q.vma_end : end;
        uint64_t npages = (piece_end - pos) / vm_page_size;
        bool anon = q.inode == 0 && !(q.vma_flags & UM_PROCMAP_VMA_SHARED);
        free(touched);
        touched = anon ? calloc(npages ? npages : 1, sizeof *touched) : NULL;
        if (anon && touched && pages_private(pos, npages, true, touched)) {
            for (uint64_t i = 0; i < npages && rc == 1;) {
                if (!touched[i]) {
                    i++;
                    continue;
                }
                uint64_t j = i;
                while (j < npages && touched[j])
                    j++;
                if (!copy_clipped(dst, src, pos + i * vm_page_size, pos + j * vm_page_size, lo, hi))
                    rc = 0;
                i = j;
            }
        } else if (!copy_clipped(dst, src, pos, piece_end, lo, hi)) {
            rc = 0;
        }
        pos = piece_end;
    }
    free(touched);
    return rc;
}

/*
 * A snapshot in an object of its own (the copy path): the sender's bytes in a new memfd (at
 * offset 0 for a physical copy, at their offset in the page for a virtual one), pages that
 * read as zero left as holes when the sender's region tells which they are.
 * Conditions: registry locked. `r` is the validated region holding the range, or NULL.
 */
static mach_msg_return_t copy_object(um_region *r, uint64_t addr, uint64_t size, bool physical,
                                     um_vm_copy **copyp)
{
    uint64_t start = addr & ~pmask();
    uint32_t offset = physical ? 0 : (uint32_t)(addr & pmask());
    uint64_t len = round_page64(offset + size);
    um_vmo *v = vmo_create(len);
    if (!v)
        return copy_anon(addr, size, offset, len, copyp);
    bool ok;
    /* Whole pages may be copied for a virtual copy (XNU shares them whole), and for a
     * physical one whose data is whole pages. */
    bool whole = !physical || (addr % vm_page_size == 0 && size % vm_page_size == 0);
    int sparse = -1;
    if (r && whole)
        ok = copy_sparse(r, start, len, v, 0);
    else if (!r && whole && (sparse = copy_sparse_anon(start, len, v, addr, addr + size)) >= 0)
        ok = sparse == 1;
    else
        ok = safe_pwrite(v->ident.fd, addr, size, offset);
    um_vm_copy *c = ok ? copy_new(UM_VC_OBJECT, size, offset, len) : NULL;
    if (!c || !vmo_ref(v, 0, len)) {
        free(c);
        close(v->ident.fd);
        um_vmr.nvmos--;
        free(v);
        return ok ? MACH_MSG_VM_KERNEL : MACH_SEND_INVALID_MEMORY;
    }
    c->vmo = v;
    *copyp = c;
    return MACH_MSG_SUCCESS;
}

/* Share [start, start + len) of region `r` as an object copy. Conditions: registry locked. */
static um_vm_copy *copy_share(um_region *r, uint64_t start, uint64_t size, uint32_t offset,
                              uint64_t len)
{
    um_vm_copy *c = copy_new(UM_VC_OBJECT, size, offset, len);
    if (!c)
        return NULL;
    c->vmo = r->vmo;
    c->voff = r->off + (start - r->start);
    if (!vmo_ref(c->vmo, c->voff, len)) {
        free(c);
        return NULL;
    }
    return c;
}

/* Are all pages of [start, start + len) of a frozen region still the file's? */
static bool range_clean(uint64_t start, uint64_t len)
{
    uint64_t npages = len / vm_page_size;
    bool *dirty = calloc(npages ? npages : 1, sizeof *dirty);
    bool clean = dirty && pages_private(start, npages, false, dirty);
    for (uint64_t i = 0; clean && i < npages; i++)
        clean = !dirty[i];
    free(dirty);
    return clean;
}

/* Move the pages of [start, start + len) to a fresh address. NULL if not one mapping. */
static void *move_mapping(uint64_t start, uint64_t len)
{
    void *target = map_aligned(len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (target == MAP_FAILED)
        return NULL;
    void *p = mremap((void *)(uintptr_t)start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    if (p == MAP_FAILED) {
        munmap(target, len);
        return NULL;
    }
    return p;
}

/* Take the registered part [start, end) of region `r` out of the registry, keeping its ref. */
static void reg_carve(um_region *r, uint64_t start, uint64_t end, um_vm_copy *c)
{
    c->vmo = r->vmo;
    c->voff = r->off + (start - r->start);
    c->state = r->state;
    /* The copy's own reference first, so that forgetting the range releases no page. */
    if (!vmo_ref(c->vmo, c->voff, end - start)) {
        c->vmo = NULL; /* out of memory: the pages travel as an anonymous mapping */
        c->state = 0;
        reg_forget(start, end, false);
        return;
    }
    r->checked = true;
    reg_forget(start, end, true);
}

mach_msg_return_t um_vm_copyin(uint64_t addr, uint64_t size, bool physical, bool dealloc,
                               um_vm_copy **copyp)
{
    *copyp = NULL;
    if (size == 0)
        return MACH_MSG_SUCCESS;
    uint64_t end = addr + size;
    if (end < addr || end + pmask() < end)
        return MACH_SEND_INVALID_MEMORY;
    uint64_t start = addr & ~pmask();
    end = round_page64(end);
    uint64_t len = end - start;
    uint32_t offset = (uint32_t)(addr & pmask());
    bool small = size <= UM_VM_COPY_SMALL;
    mach_msg_return_t mr;

    if (small) {
        /* XNU copies these through a kernel buffer: they arrive page-aligned. */
        mr = copy_anon(addr, size, 0, round_page64(size), copyp);
        if (mr == MACH_MSG_SUCCESS && dealloc)
            um_vm_remove(addr, size);
        return mr;
    }

    vmr_lock();
    um_region *r = reg_covering(start, end);
    if (r && !reg_valid(r)) {
        reg_forget(r->start, r->end, false);
        r = NULL;
    }
    if (dealloc) {
        /* A move: the pages change hands, registered or not. */
        void *p = move_mapping(start, len);
        if (p) {
            um_vm_copy *c = copy_new(UM_VC_ENTRY, size, offset, len);
            if (!c) {
                /* Give the pages back where they were. */
                (void)mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(uintptr_t)start);
                vmr_unlock();
                return MACH_MSG_VM_KERNEL;
            }
            c->map = p;
            r = reg_covering(start, end);
            if (r)
                reg_carve(r, start, end, c);
            else
                reg_forget(start, end, false); /* stale entries of a range not ours */
            vmr_unlock();
            *copyp = c;
            return MACH_MSG_SUCCESS;
        }
        /* Not one mapping (or not mapped): copy what is readable, then unmap the range. */
        mr = copy_object(r, addr, size, false, copyp); /* a move keeps its offset */
        vmr_unlock();
        if (mr == MACH_MSG_SUCCESS)
            um_vm_remove(addr, size);
        return mr;
    }
    if (!physical && r && r->state != UM_RG_SHARED) {
        /* A virtual copy of registered memory: share the file, copy-on-write both ways. */
        bool share = r->state == UM_RG_LIVE ? reg_freeze(r) : range_clean(start, len);
        if (share) {
            um_vm_copy *c = copy_share(r, start, size, offset, len);
            vmr_unlock();
            if (!c)
                return MACH_MSG_VM_KERNEL;
            *copyp = c;
            return MACH_MSG_SUCCESS;
        }
    }
    mr = copy_object(r, addr, size, physical, copyp);
    vmr_unlock();
    return mr;
}

kern_return_t um_vm_copyout(um_vm_copy *c, uint64_t *addrp)
{
    *addrp = 0;
    if (!c)
        return KERN_SUCCESS;
    kern_return_t kr = KERN_SUCCESS;
    vmr_lock();
    if (c->kind == UM_VC_ENTRY) {
        uint64_t at = (uint64_t)(uintptr_t)c->map;
        if (c->vmo && !reg_insert(at, at + c->len, c->vmo, c->voff, c->state, false))
            vmo_unref(c->vmo, c->voff, c->len, false); /* mapped but not registered */
        *addrp = at + c->offset;
    } else {
        void *p = map_aligned(c->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, c->vmo->ident.fd,
                              (off_t)c->voff);
        if (p == MAP_FAILED) {
            vmo_unref(c->vmo, c->voff, c->len, true);
            kr = KERN_NO_SPACE;
        } else {
            uint64_t at = (uint64_t)(uintptr_t)p;
            if (!reg_insert(at, at + c->len, c->vmo, c->voff, UM_RG_FROZEN, false))
                vmo_unref(c->vmo, c->voff, c->len, false);
            *addrp = at + c->offset;
        }
    }
    vmr_unlock();
    free(c);
    return kr;
}

um_vm_copy *um_vm_copy_of_region(void *region, uint64_t len, uint64_t size)
{
    um_vm_copy *c = calloc(1, sizeof *c);
    if (!c) {
        munmap(region, len);
        return NULL;
    }
    c->kind = UM_VC_ENTRY; /* anonymous: no memory object behind it */
    c->map = region;
    c->len = len;
    c->size = size;
    return c;
}

bool um_vm_copy_read(const um_vm_copy *c, void *dst, size_t len)
{
    if (!c || len > c->size)
        return false;
    if (c->kind == UM_VC_ENTRY) {
        memcpy(dst, (const uint8_t *)c->map + c->offset, len);
        return true;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(c->vmo->ident.fd, (uint8_t *)dst + done, len - done,
                          (off_t)(c->voff + c->offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return true;
}

void um_vm_copy_discard(um_vm_copy *c)
{
    if (!c)
        return;
    if (c->kind == UM_VC_ENTRY)
        munmap(c->map, c->len);
    if (c->vmo) {
        vmr_lock();
        vmo_unref(c->vmo, c->voff, c->len, true);
        vmr_unlock();
    }
    free(c);
}

/* ---- vm_allocate / vm_deallocate ------------------------------------------------------------- */

void um_vm_map_hold(void)
{
    vmr_lock();
}

void um_vm_map_release(void)
{
    vmr_unlock();
}

void um_vm_remove(uint64_t addr, uint64_t size)
{
    uint64_t end = addr + size;
    if (size == 0 || end < addr || end + pmask() < end)
        return;
    uint64_t start = addr & ~pmask(), len = round_page64(end) - start;
    if (!park_take(start, len))
        (void)um_vm_deallocate_region(start, len);
}

kern_return_t um_vm_deallocate_region(uint64_t start, uint64_t len)
{
    um_vm_reap_graves();
    vmr_lock();
    reg_check(start, start + len);
    int rc = munmap((void *)(uintptr_t)start, (size_t)len);
    if (rc == 0)
        reg_forget(start, start + len, true);
    vmr_unlock();
    return rc == 0 ? KERN_SUCCESS : KERN_INVALID_ARGUMENT;
}

kern_return_t um_vm_allocate_region(uint64_t *addrp, uint64_t len, int flags)
{
    bool anywhere = (flags & VM_FLAGS_ANYWHERE) != 0;
    int fixed = (flags & VM_FLAGS_OVERWRITE) ? MAP_FIXED : MAP_FIXED_NOREPLACE;
    void *want = anywhere ? NULL : (void *)(uintptr_t)*addrp;
    int mflags = anywhere ? 0 : fixed;

    um_vm_reap_graves(); /* the page tables of moves that left (see um_vm_park) */
    if (len <= UM_VM_COPY_SMALL && anywhere) {
        /* Small regions are always copied when sent: plain anonymous memory. */
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return KERN_NO_SPACE;
        *addrp = (uint64_t)(uintptr_t)p;
        return KERN_SUCCESS;
    }
    vmr_lock();
    um_vmo *v = len > UM_VM_COPY_SMALL ? vmo_create(len) : NULL;
    if (v && !vmo_ref(v, 0, len)) {
        close(v->ident.fd);
        um_vmr.nvmos--;
        free(v);
        v = NULL;
    }
    bool overwrite = !anywhere && (flags & VM_FLAGS_OVERWRITE);
    if (overwrite)
        reg_check((uint64_t)(uintptr_t)want, (uint64_t)(uintptr_t)want + len);
    void *p;
    if (v && anywhere)
        p = map_aligned(len, PROT_READ | PROT_WRITE, MAP_SHARED, v->ident.fd, 0);
    else if (v)
        p = mmap(want, len, PROT_READ | PROT_WRITE, MAP_SHARED | mflags, v->ident.fd, 0);
    else
        p = mmap(want, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | mflags, -1, 0);
    kern_return_t kr = KERN_SUCCESS;
    if (p == MAP_FAILED || (want && p != want)) {
        if (p != MAP_FAILED)
            munmap(p, len); /* an old kernel that treats MAP_FIXED_NOREPLACE as a hint */
        if (v)
            vmo_unref(v, 0, len, true);
        kr = KERN_NO_SPACE;
    } else {
        uint64_t at = (uint64_t)(uintptr_t)p;
        if (v) {
            if (!reg_insert(at, at + len, v, 0, UM_RG_LIVE, overwrite)) {
                /* No room to register it: anonymous memory is as good, minus sharing. */
                void *q = mmap(p, len, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
                vmo_unref(v, 0, len, true);
                if (q == MAP_FAILED) {
                    munmap(p, len);
                    kr = KERN_NO_SPACE;
                }
            }
        } else {
            reg_forget(at, at + len, overwrite); /* what the new memory replaced */
        }
        *addrp = at;
    }
    vmr_unlock();
    return kr;
}

bool um_vm_backing(uint64_t addr, uint64_t len, int *fdp, uint64_t *offp, bool *livep)
{
    bool found = false;
    vmr_lock();
    um_region *r = reg_covering(addr & ~pmask(), round_page64(addr + len));
    if (r && reg_valid(r)) {
        *fdp = r->vmo->ident.fd;
        *offp = r->off + (addr - r->start);
        *livep = r->state != UM_RG_FROZEN;
        found = true;
    }
    vmr_unlock();
    return found;
}

/* ---- memory for another process (the world's client front end) ------------------------------- */

/*
 * Seal a memfd handed to another process: its size can no longer change (a receiver's
 * mapping never loses a page under it: no SIGBUS), and nothing can write it any more but a
 * shared mapping made before (F_SEAL_FUTURE_WRITE; the snapshot's range has none: a frozen
 * region is mapped privately, a new copy not at all). F_SEAL_WRITE would say the same of
 * those mappings but waits for the kernel to drain every CPU's page lists first
 * (memfd_wait_for_pins: lru_add_drain_all), milliseconds on a loaded machine for a 16 MiB
 * move. Returns false when the size cannot be sealed.
 */
static bool seal_snapshot(int fd)
{
    int have = fcntl(fd, F_GET_SEALS);
    if (have < 0)
        return false;
    if (!(have & F_SEAL_SHRINK) &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)
        return false;
#ifdef F_SEAL_FUTURE_WRITE
    if (!(have & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)))
        (void)fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE);
#endif
    return true;
}

/*
 * The memfd of object `v` for another process: a duplicate, sealed (seal_snapshot), the
 * caller's to close. From now on the object's pages are never released and its memfd never
 * emptied or punched here (that would change the other process's bytes). -1: no descriptor
 * left, or the size cannot be sealed. Conditions: locked.
 */
static int vmo_give_fd(um_vmo *v)
{
    int fd = fcntl(v->ident.fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    v->keep = true;
    if (!seal_snapshot(fd)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A fresh sealable memfd of `len` bytes (holes), or -1. */
static int snapshot_memfd(uint64_t len)
{
    char name[64];
    snprintf(name, sizeof name, "umach-%u-s%llu", self_pid(), (unsigned long long)++um_vmr.next_id);
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

mach_msg_return_t um_vm_snapshot(uint64_t addr, uint64_t size, bool physical, int *fdp,
                                 uint64_t *foffp)
{
    *fdp = -1;
    *foffp = 0;
    um_vm_copy *c = NULL;
    mach_msg_return_t mr = um_vm_copyin(addr, size, physical, false, &c);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    if (!c)
        return MACH_SEND_INVALID_MEMORY; /* size 0: nothing to take */
    int fd = -1;
    uint64_t foff = 0;
    vmr_lock();
    if (c->kind == UM_VC_OBJECT) {
        fd = vmo_give_fd(c->vmo); /* the object's file is the snapshot (frozen, or a new copy) */
        foff = c->voff + c->offset;
    } else {
        /* Anonymous (no memfd for the copy): into a memfd of its own, once more. */
        fd = snapshot_memfd(c->len);
        if (fd >= 0 && (!safe_pwrite(fd, (uint64_t)(uintptr_t)c->map + c->offset, c->size,
                                     c->offset) ||
                        !seal_snapshot(fd))) {
            close(fd);
            fd = -1;
        }
        foff = c->offset;
    }
    vmr_unlock();
    um_vm_copy_discard(c);
    if (fd < 0)
        return MACH_MSG_VM_KERNEL;
    *fdp = fd;
    *foffp = foff;
    return MACH_MSG_SUCCESS;
}

/* ---- moves: parked ranges and graves ----------------------------------------------------------- */

/* Unmap a grave (or a parked range's reservation) and drop its reference. Conditions: locked. */
static void park_bury(um_park *p)
{
    munmap((void *)(uintptr_t)p->res, (size_t)p->reslen);
    vmo_unref(p->vmo, p->voff, p->len, false);
}

static void park_drop(uint32_t i)
{
    if (um_vmr.parks[i].taken) {
        __atomic_fetch_sub(&um_vmr.ngraves, 1, __ATOMIC_RELAXED);
        um_vmr.grave_bytes -= um_vmr.parks[i].len;
    }
    memmove(&um_vmr.parks[i], &um_vmr.parks[i + 1],
            (um_vmr.nparks - i - 1) * sizeof um_vmr.parks[0]);
    __atomic_fetch_sub(&um_vmr.nparks, 1, __ATOMIC_RELAXED);
}

/* Unmap graves, the oldest first, until at most `keep` remain. Conditions: locked. */
static void graves_trim(uint32_t keep, uint64_t keep_bytes)
{
    for (uint32_t i = 0; i < um_vmr.nparks && (um_vmr.ngraves > keep ||
                                               um_vmr.grave_bytes > keep_bytes);) {
        if (!um_vmr.parks[i].taken) {
            i++;
            continue;
        }
        park_bury(&um_vmr.parks[i]);
        park_drop(i);
    }
}

void um_vm_reap_graves(void)
{
    if (!__atomic_load_n(&um_vmr.ngraves, __ATOMIC_RELAXED))
        return;
    vmr_lock();
    graves_trim(0, 0);
    vmr_unlock();
}

/* Put parked range `p` back where it was, registered again. Conditions: locked. */
static void park_restore(um_park *p)
{
    void *q = mremap((void *)(uintptr_t)p->at, (size_t)p->len, (size_t)p->len,
                     MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(uintptr_t)p->start);
    munmap((void *)(uintptr_t)p->res, (size_t)p->reslen); /* what is left of the reservation */
    if (q == MAP_FAILED) {
        vmo_unref(p->vmo, p->voff, p->len, false); /* the placeholder stays: lost */
        return;
    }
    if (!reg_insert(p->start, p->start + p->len, p->vmo, p->voff, UM_RG_LIVE, false)) {
        vmo_unref(p->vmo, p->voff, p->len, false);
        return;
    }
    /* A fork since: the child holds a snapshot of the file, so the range stops writing it. */
    um_region *r = p->forks != um_vmr.forks ? reg_covering(p->start, p->start + p->len) : NULL;
    if (r && !reg_freeze(r))
        reg_forget(r->start, r->end, false);
}

bool um_vm_park(uint64_t addr, uint64_t size, int *fdp, uint64_t *foffp)
{
    uint64_t end = addr + size;
    if (size <= UM_VM_COPY_SMALL || end < addr || end + pmask() < end)
        return false;
    uint64_t start = addr & ~pmask();
    end = round_page64(end);
    uint64_t len = end - start;
    vmr_lock();
    um_region *r = reg_covering(start, end);
    if (um_vmr.no_dontunmap || !r || r->state != UM_RG_LIVE || !reg_valid(r))
        goto no;
    if (um_vmr.nparks == um_vmr.capparks) {
        uint32_t cap = um_vmr.capparks ? um_vmr.capparks * 2 : 8;
        um_park *n = realloc(um_vmr.parks, cap * sizeof *n);
        if (!n)
            goto no;
        um_vmr.parks = n;
        um_vmr.capparks = cap;
    }
    um_vmo *v = r->vmo;
    uint64_t voff = r->off + (start - r->start);
    int fd = vmo_give_fd(v); /* the file goes to another process */
    if (fd < 0)
        goto no;
    if (!vmo_ref(v, voff, len))
        goto no_fd;
    /* A reservation at the same place in a 2 MiB page table as the range. */
    uint64_t span = len + UM_VM_ALIGN;
    void *res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
        goto no_ref;
    uint64_t base = (uint64_t)(uintptr_t)res;
    uint64_t at = (base & ~(uint64_t)(UM_VM_ALIGN - 1)) + (start & (UM_VM_ALIGN - 1));
    if (at < base)
        at += UM_VM_ALIGN;
    /* DONTUNMAP leaves the old range mapped (and empty) until the placeholder replaces it, so
     * that no other thread's mapping can land there meanwhile. */
    void *q = mremap((void *)(uintptr_t)start, (size_t)len, (size_t)len,
                     MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, (void *)(uintptr_t)at);
    if (q == MAP_FAILED) {
        if (errno == EINVAL)
            um_vmr.no_dontunmap = true; /* an older kernel: moves freeze as virtual copies do */
        munmap(res, span);
        goto no_ref;
    }
    if (mmap((void *)(uintptr_t)start, (size_t)len, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED) {
        /* The old range is still ours (mapped, empty): the pages go back. */
        (void)mremap(q, (size_t)len, (size_t)len, MREMAP_MAYMOVE | MREMAP_FIXED,
                     (void *)(uintptr_t)start);
        munmap(res, span);
        goto no_ref;
    }
    /* The range leaves the registry; its reference is the park's now. */
    r->checked = true;
    reg_forget(start, end, true);
    um_vmr.parks[um_vmr.nparks] = (um_park){start, len, at, base, span, v, voff,
                                            um_vmr.forks, pthread_self(), false};
    __atomic_fetch_add(&um_vmr.nparks, 1, __ATOMIC_RELAXED); /* read unlocked: a hint */
    vmr_unlock();
    *fdp = fd;
    *foffp = voff + (addr - start);
    return true;
no_ref:
    vmo_unref(v, voff, len, false);
no_fd:
    close(fd);
no:
    vmr_unlock();
    return false;
}

/* The core took the parked range [start, start + len) of this thread's send: a grave now. */
static bool park_take(uint64_t start, uint64_t len)
{
    if (!__atomic_load_n(&um_vmr.nparks, __ATOMIC_RELAXED))
        return false;
    bool found = false;
    vmr_lock();
    pthread_t me = pthread_self();
    for (uint32_t i = 0; i < um_vmr.nparks && !found; i++) {
        um_park *p = &um_vmr.parks[i];
        if (p->taken || p->start != start || p->len != len || !pthread_equal(p->owner, me))
            continue;
        munmap((void *)(uintptr_t)start, (size_t)len); /* the placeholder: no page behind it */
        p->taken = true;
        __atomic_fetch_add(&um_vmr.ngraves, 1, __ATOMIC_RELAXED);
        um_vmr.grave_bytes += len;
        found = true;
    }
    if (found)
        graves_trim(UM_VM_GRAVES_MAX, UM_VM_GRAVES_BYTES);
    vmr_unlock();
    return found;
}

void um_vm_unpark_mine(void)
{
    if (!__atomic_load_n(&um_vmr.nparks, __ATOMIC_RELAXED))
        return;
    vmr_lock();
    pthread_t me = pthread_self();
    for (uint32_t i = 0; i < um_vmr.nparks;) {
        um_park *p = &um_vmr.parks[i];
        if (p->taken || !pthread_equal(p->owner, me)) {
            i++;
            continue;
        }
        um_park copy = *p;
        park_drop(i);
        park_restore(&copy);
    }
    vmr_unlock();
}

/*
 * In a forked child: graves are the parent's sends, unmapped; a range another thread of the
 * parent had parked (its send in flight) is put back, frozen (the file is the parent's too).
 * Conditions: locked.
 */
static void parks_after_fork_child(void)
{
    while (um_vmr.nparks) {
        um_park p = um_vmr.parks[um_vmr.nparks - 1];
        park_drop(um_vmr.nparks - 1);
        if (p.taken)
            park_bury(&p);
        else
            park_restore(&p); /* p.forks differs now: frozen */
    }
}

bool um_vm_write_fd(int fd, uint64_t src, uint64_t len, uint64_t off)
{
    vmr_lock();
    bool ok = safe_pwrite(fd, src, len, off);
    vmr_unlock();
    return ok;
}

/* The name a memfd was made with (umach-PID-ID), for the registry's checks without PROCMAP_QUERY. */
static void ident_from_fd(um_vmo_ident *id, int fd)
{
    char path[64], got[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, got, sizeof got - 1);
    if (n > 0) {
        got[n] = 0;
        unsigned pid;
        unsigned long long num;
        if (sscanf(got, "/memfd:umach-%u-%llu", &pid, &num) == 2) {
            id->pid = pid;
            id->id = num;
        }
    }
}

kern_return_t um_vm_map_fd(int fd, uint64_t foff, uint64_t len, uint64_t *addrp)
{
    *addrp = 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || (foff & pmask()) || len == 0) {
        close(fd);
        return KERN_INVALID_ARGUMENT;
    }
    vmr_lock();
    if (!um_vmr.maxvmos)
        vmo_limits_init();
    um_vmo *v = um_vmr.nvmos < um_vmr.maxvmos ? calloc(1, sizeof *v) : NULL;
    void *p = map_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t)foff);
    if (p == MAP_FAILED) {
        vmr_unlock();
        free(v);
        close(fd);
        return KERN_NO_SPACE;
    }
    uint64_t at = (uint64_t)(uintptr_t)p;
    if (v) {
        /* A frozen region of an object another process made: never punched, never reused. */
        if (fd < 1024 && um_vmr.maxvmos > 2048) {
            int high = fcntl(fd, F_DUPFD_CLOEXEC, 1024);
            if (high >= 0) {
                close(fd);
                fd = high;
            }
        }
        v->ident.fd = fd;
        v->ident.ino = (uint64_t)st.st_ino;
        v->ident.dev_major = major(st.st_dev);
        v->ident.dev_minor = minor(st.st_dev);
        ident_from_fd(&v->ident, fd);
        v->fork_gen = um_vmr.forks;
        v->keep = true;
        um_vmr.nvmos++;
        if (!vmo_ref(v, foff, len)) {
            close(fd);
            um_vmr.nvmos--;
            free(v);
        } else if (!reg_insert(at, at + len, v, foff, UM_RG_FROZEN, false)) {
            vmo_unref(v, foff, len, false);
        }
    } else {
        close(fd); /* too many objects: a plain mapping, still the caller's to vm_deallocate */
        reg_forget(at, at + len, false);
    }
    vmr_unlock();
    *addrp = at;
    return KERN_SUCCESS;
}

/* ---- memory entries' memory ------------------------------------------------------------------ */

/*
 * The mapping holding `addr` (with `or_next`, else the first one above it): its bounds,
 * VM_PROT_* and whether it is shared. false when there is none. PROCMAP_QUERY where the kernel
 * has it, /proc/self/maps otherwise.
 * Conditions: locked.
 */
static bool vma_find(uint64_t addr, bool or_next, uint64_t *lo, uint64_t *hi, int *prot,
                     bool *shared)
{
    if (um_vmr.maps != -2 &&
        (um_vmr.maps >= 0 || (um_vmr.maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)) >= 0)) {
        um_procmap_query q;
        memset(&q, 0, sizeof q);
        q.size = sizeof q;
        q.query_addr = addr;
        q.query_flags = or_next ? UM_PROCMAP_QUERY_COVERING_OR_NEXT : 0;
        if (ioctl(um_vmr.maps, UM_PROCMAP_QUERY, &q) == 0) {
            if (q.vma_start > addr && !or_next)
                return false;
            *lo = q.vma_start;
            *hi = q.vma_end;
            *prot = ((q.vma_flags & UM_PROCMAP_VMA_READABLE) ? VM_PROT_READ : 0) |
                    ((q.vma_flags & UM_PROCMAP_VMA_WRITABLE) ? VM_PROT_WRITE : 0) |
                    ((q.vma_flags & 0x04u) ? VM_PROT_EXECUTE : 0);
            *shared = (q.vma_flags & UM_PROCMAP_VMA_SHARED) != 0;
            return true;
        }
        if (errno == ENOENT)
            return false;
        if (errno == ENOTTY || errno == EINVAL || errno == EOPNOTSUPP) {
            close(um_vmr.maps);
            um_vmr.maps = -2;
        }
    }
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long long a, b;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s", &a, &b, perms) != 3 || addr >= b ||
            (addr < a && !or_next))
            continue;
        *lo = a;
        *hi = b;
        *prot = (perms[0] == 'r' ? VM_PROT_READ : 0) | (perms[1] == 'w' ? VM_PROT_WRITE : 0) |
                (perms[2] == 'x' ? VM_PROT_EXECUTE : 0);
        *shared = perms[3] == 's';
        found = true;
    }
    fclose(f);
    return found;
}

static bool vma_at(uint64_t addr, uint64_t *lo, uint64_t *hi, int *prot, bool *shared)
{
    return vma_find(addr, false, lo, hi, prot, shared);
}

/*
 * Walk [start, end): KERN_INVALID_ADDRESS at a hole, else KERN_SUCCESS with the protection
 * every mapping of the range has (*protp) and whether any of them is shared.
 * Conditions: locked.
 */
static kern_return_t range_prot(uint64_t start, uint64_t end, int *protp, bool *anysharedp)
{
    int all = VM_PROT_ALL;
    bool anyshared = false;
    for (uint64_t at = start; at < end;) {
        uint64_t lo, hi;
        int prot;
        bool shared;
        if (!vma_at(at, &lo, &hi, &prot, &shared) || lo > at)
            return KERN_INVALID_ADDRESS;
        all &= prot;
        anyshared |= shared;
        at = hi;
    }
    *protp = all;
    *anysharedp = anyshared;
    return KERN_SUCCESS;
}

/*
 * Does [start, end) hold a shared mapping that is not one of the registry's regions (a file
 * another part of the program mapped itself)? Conditions: locked.
 */
static bool foreign_shared(uint64_t start, uint64_t end)
{
    for (uint64_t at = start; at < end;) {
        uint64_t lo, hi;
        int prot;
        bool shared;
        if (!vma_at(at, &lo, &hi, &prot, &shared))
            return true;
        if (hi > end)
            hi = end;
        if (shared) {
            /* Registered regions must cover [at, hi) without a gap. */
            for (size_t i = reg_lower(at); at < hi; i++) {
                if (i >= um_vmr.n || um_vmr.r[i].start > at || um_vmr.r[i].state == UM_RG_FROZEN)
                    return true;
                at = um_vmr.r[i].end;
            }
        }
        at = hi;
    }
    return false;
}

static int prot_to_mmap(int prot)
{
    return ((prot & VM_PROT_READ) ? PROT_READ : 0) | ((prot & VM_PROT_WRITE) ? PROT_WRITE : 0) |
           ((prot & VM_PROT_EXECUTE) ? PROT_EXEC : 0);
}

/* A new memfd of `len` bytes (zeros) for a memory entry, its size sealed, or -1. Conditions:
 * locked. */
static int entry_memfd(uint64_t len)
{
    char name[64];
    snprintf(name, sizeof name, "umach-%u-%llu", self_pid(), (unsigned long long)++um_vmr.next_id);
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)len) != 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int um_vm_entry_memfd(uint64_t len)
{
    vmr_lock();
    int fd = entry_memfd(len);
    vmr_unlock();
    return fd;
}

/*
 * Put `len` bytes at a place um_vm_map_shared's flags and mask describe: mmap(prot, mflags,
 * fd, foff) anywhere aligned to mask + 1, or at *addrp (VM_FLAGS_OVERWRITE: replacing what is
 * there). MAP_FAILED when there is no room. Conditions: locked.
 */
static void *place(uint64_t len, int prot, int mflags, int fd, uint64_t foff, uint64_t mask,
                   int flags, uint64_t at)
{
    if (!(flags & VM_FLAGS_ANYWHERE)) {
        int fixed = (flags & VM_FLAGS_OVERWRITE) ? MAP_FIXED : MAP_FIXED_NOREPLACE;
        void *p = mmap((void *)(uintptr_t)at, len, prot, mflags | fixed, fd, (off_t)foff);
        if (p != MAP_FAILED && p != (void *)(uintptr_t)at) {
            munmap(p, len); /* an old kernel that takes MAP_FIXED_NOREPLACE as a hint */
            return MAP_FAILED;
        }
        return p;
    }
    mask |= pmask();
    if (mask == pmask())
        return map_aligned(len, prot, mflags, fd, (off_t)foff);
    /* A reservation wide enough to hold an aligned start, trimmed around the mapping. */
    uint64_t span = len + mask + 1;
    if (span < len)
        return MAP_FAILED;
    uint8_t *res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
        return MAP_FAILED;
    uint8_t *a = (uint8_t *)(((uintptr_t)res + mask) & ~(uintptr_t)mask);
    void *p = mmap(a, len, prot, mflags | MAP_FIXED, fd, (off_t)foff);
    if (p == MAP_FAILED) {
        munmap(res, span);
        return MAP_FAILED;
    }
    if (a > res)
        munmap(res, (size_t)(a - res));
    if (a + len < res + span)
        munmap(a + len, (size_t)(res + span - (a + len)));
    return p;
}

/* Register [at, at + len) as a shared mapping of `fd` (a duplicate is kept). Locked. */
static void reg_shared(uint64_t at, uint64_t len, int fd, uint64_t foff, int maxprot,
                       int inherit, bool checked)
{
    struct stat st;
    um_vmo *v = NULL;
    if (!um_vmr.maxvmos)
        vmo_limits_init();
    if (um_vmr.nvmos < um_vmr.maxvmos && fstat(fd, &st) == 0)
        v = calloc(1, sizeof *v);
    int dup = v ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (dup < 0) {
        free(v);
        reg_forget(at, at + len, checked); /* mapped, but unknown: copied when sent */
        return;
    }
    v->ident.fd = dup;
    v->ident.ino = (uint64_t)st.st_ino;
    v->ident.dev_major = major(st.st_dev);
    v->ident.dev_minor = minor(st.st_dev);
    ident_from_fd(&v->ident, dup);
    v->fork_gen = um_vmr.forks;
    v->keep = true; /* other mappings and processes share its pages */
    um_vmr.nvmos++;
    if (!vmo_ref(v, foff, len)) {
        close(dup);
        um_vmr.nvmos--;
        free(v);
        reg_forget(at, at + len, checked);
        return;
    }
    if (!reg_insert(at, at + len, v, foff, UM_RG_SHARED, checked)) {
        vmo_unref(v, foff, len, false);
        return;
    }
    um_region *r = reg_covering(at, at + len);
    if (r) {
        r->inherit = (uint8_t)inherit;
        r->maxprot = (uint8_t)maxprot;
    }
}

kern_return_t um_vm_map_shared(int fd, uint64_t foff, uint64_t len, int prot, int maxprot,
                               uint64_t mask, int flags, int inherit, uint64_t *addrp)
{
    um_vm_reap_graves();
    vmr_lock();
    bool overwrite = !(flags & VM_FLAGS_ANYWHERE) && (flags & VM_FLAGS_OVERWRITE);
    if (overwrite)
        reg_check(*addrp, *addrp + len);
    void *p = place(len, prot_to_mmap(prot), MAP_SHARED, fd, foff, mask, flags, *addrp);
    if (p == MAP_FAILED) {
        vmr_unlock();
        return KERN_NO_SPACE;
    }
    uint64_t at = (uint64_t)(uintptr_t)p;
    if (inherit == VM_INHERIT_NONE)
        (void)madvise(p, len, MADV_DONTFORK);
    reg_shared(at, len, fd, foff, maxprot, inherit, overwrite);
    vmr_unlock();
    *addrp = at;
    return KERN_SUCCESS;
}

kern_return_t um_vm_map_private(int fd, uint64_t foff, uint64_t len, int prot, uint64_t mask,
                                int flags, int inherit, uint64_t *addrp)
{
    um_vm_reap_graves();
    vmr_lock();
    bool overwrite = !(flags & VM_FLAGS_ANYWHERE) && (flags & VM_FLAGS_OVERWRITE);
    if (overwrite)
        reg_check(*addrp, *addrp + len);
    /* Read-write while filled, then the protection asked for. */
    void *p = place(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, mask, flags,
                    *addrp);
    if (p == MAP_FAILED) {
        vmr_unlock();
        return KERN_NO_SPACE;
    }
    uint64_t at = (uint64_t)(uintptr_t)p;
    reg_forget(at, at + len, overwrite); /* what the new memory replaced */
    vmr_unlock();
    kern_return_t kr = KERN_SUCCESS;
    for (uint64_t done = 0; fd >= 0 && done < len;) {
        ssize_t n = pread(fd, (char *)p + done, (size_t)(len - done), (off_t)(foff + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            kr = n == 0 ? KERN_SUCCESS : KERN_MEMORY_ERROR; /* past the end reads as zeros */
            break;
        }
        done += (uint64_t)n;
    }
    if (kr != KERN_SUCCESS) {
        munmap(p, len);
        return kr;
    }
    if (prot != (VM_PROT_READ | VM_PROT_WRITE))
        (void)mprotect(p, len, prot_to_mmap(prot));
    if (inherit == VM_INHERIT_NONE)
        (void)madvise(p, len, MADV_DONTFORK);
    *addrp = at;
    return KERN_SUCCESS;
}

/* Is `fd` sealed against new writable mappings (a snapshot given to another process)? */
static bool write_sealed(int fd)
{
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0)
        return false;
#ifdef F_SEAL_FUTURE_WRITE
    if (seals & F_SEAL_FUTURE_WRITE)
        return true;
#endif
    return (seals & F_SEAL_WRITE) != 0;
}

/*
 * The conversion under way: convert_private makes its range read-only while it copies the
 * bytes into a memfd and maps the memfd in their place, and a thread that writes to the range
 * meanwhile faults; the fault handlers ask um_vm_convert_fault, which makes it wait for the end
 * and run the write again, into the memfd. `busy` (a futex word) is 1 while [start, end) is
 * converted, `done` counts the conversions finished. Written under the registry lock, read by
 * signal handlers.
 */
static struct {
    uint64_t start, end;
    uint32_t busy;
    uint32_t done;
} um_conv;

/* The last fault this thread ran again after a conversion had ended, and how many had. */
static _Thread_local struct {
    uint64_t addr;
    uint32_t done;
} um_conv_retried;

bool um_vm_convert_fault(int sig, int code, uint64_t addr)
{
    if (sig != SIGSEGV || code != SEGV_ACCERR)
        return false;
    if (__atomic_load_n(&um_conv.busy, __ATOMIC_ACQUIRE) &&
        addr >= __atomic_load_n(&um_conv.start, __ATOMIC_RELAXED) &&
        addr < __atomic_load_n(&um_conv.end, __ATOMIC_RELAXED)) {
        int saved = errno;
        while (__atomic_load_n(&um_conv.busy, __ATOMIC_ACQUIRE))
            (void)syscall(SYS_futex, &um_conv.busy, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
        errno = saved;
        return true;
    }
    /*
     * A fault taken while a conversion ran may reach its handler after the conversion ended
     * (and after others began): run it again once for each conversion that ended since. A
     * fault that is not a conversion's comes back at once and is handed on.
     */
    uint32_t done = __atomic_load_n(&um_conv.done, __ATOMIC_ACQUIRE);
    if (done == 0 || (um_conv_retried.addr == addr && um_conv_retried.done == done))
        return false;
    um_conv_retried.addr = addr;
    um_conv_retried.done = done;
    return true;
}

uint32_t um_vm_convert_settle(uint64_t addr, uint64_t len)
{
    for (;;) {
        uint32_t done = __atomic_load_n(&um_conv.done, __ATOMIC_ACQUIRE);
        if (!__atomic_load_n(&um_conv.busy, __ATOMIC_ACQUIRE) ||
            addr + len <= __atomic_load_n(&um_conv.start, __ATOMIC_RELAXED) ||
            addr >= __atomic_load_n(&um_conv.end, __ATOMIC_RELAXED))
            return done;
        int saved = errno;
        while (__atomic_load_n(&um_conv.busy, __ATOMIC_ACQUIRE))
            (void)syscall(SYS_futex, &um_conv.busy, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
        errno = saved;
    }
}

bool um_vm_convert_ran(uint32_t seen)
{
    return __atomic_load_n(&um_conv.busy, __ATOMIC_ACQUIRE) ||
           __atomic_load_n(&um_conv.done, __ATOMIC_ACQUIRE) != seen;
}

static void conv_begin(uint64_t start, uint64_t end)
{
    __atomic_store_n(&um_conv.start, start, __ATOMIC_RELAXED);
    __atomic_store_n(&um_conv.end, end, __ATOMIC_RELAXED);
    __atomic_store_n(&um_conv.busy, 1, __ATOMIC_RELEASE);
}

static void conv_end(void)
{
    __atomic_add_fetch(&um_conv.done, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&um_conv.busy, 0, __ATOMIC_RELEASE);
    (void)syscall(SYS_futex, &um_conv.busy, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/*
 * The mappings of [start, end), clipped to it, in a new array of *np; with `holes` a hole is a
 * piece too (prot -1), else it makes the answer NULL, as running out of memory does.
 * Conditions: locked.
 */
static um_piece *range_pieces(uint64_t start, uint64_t end, bool holes, size_t *np)
{
    um_piece *p = NULL;
    size_t n = 0, cap = 0;
    for (uint64_t at = start; at < end;) {
        uint64_t lo, hi;
        int prot;
        bool shared;
        if (!vma_find(at, holes, &lo, &hi, &prot, &shared))
            lo = hi = end; /* nothing mapped up to the end */
        if (lo > at && !holes) {
            free(p);
            return NULL;
        }
        if (n + 2 > cap) {
            um_piece *q = realloc(p, (cap = cap ? 2 * cap : 4) * sizeof *p);
            if (!q) {
                free(p);
                return NULL;
            }
            p = q;
        }
        if (lo > at)
            p[n++] = (um_piece){at, lo < end ? lo : end, -1};
        if (lo < end)
            p[n++] = (um_piece){lo > at ? lo : at, hi < end ? hi : end, prot};
        at = hi;
    }
    *np = n;
    return p;
}

/*
 * A conversion's work from the moment its range turns read-only until the memfd is in place
 * (conv_window), with what it needs. Kept out of the caller's stack, which the range may hold.
 * Conditions: the registry's lock.
 */
typedef struct um_conv_work {
    uint64_t start, end;
    int fd;
    um_piece *pc;
    size_t n;
    bool own_stack;        /* [start, end) holds the converting thread's stack */
    uint64_t stack_lo, stack_hi; /* that stack's mapping, when own_stack */
    kern_return_t kr;
    ucontext_t caller, window;
} um_conv_work;
static um_conv_work um_conv_job;

/* Is piece `i` (part of) the converting thread's own stack, which stays writable throughout? */
static bool conv_stack_piece(const um_conv_work *j, size_t i)
{
    return j->own_stack && j->pc[i].lo < j->stack_hi && j->stack_lo < j->pc[i].hi;
}

/*
 * The memfd in place of the range. Without the thread's stack in it: all at once read-only,
 * then each piece that is more gets its protection (another thread's write waits meanwhile).
 * With it: piece by piece with its own protection at once (pieces alike in one call), so the
 * stack is never read-only: the thread's own data at its top (errno, a sanitizer's state,
 * written by its interceptors) may be written between two calls. A failure part-way leaves
 * the pieces mapped before it on the memfd, with the same bytes.
 */
static bool conv_map(const um_conv_work *j)
{
    if (!j->own_stack) {
        if (mmap((void *)(uintptr_t)j->start, j->end - j->start, PROT_READ,
                 MAP_SHARED | MAP_FIXED, j->fd, 0) == MAP_FAILED)
            return false;
        for (size_t i = 0; i < j->n; i++)
            if (j->pc[i].prot != VM_PROT_READ)
                (void)mprotect((void *)(uintptr_t)j->pc[i].lo, j->pc[i].hi - j->pc[i].lo,
                               prot_to_mmap(j->pc[i].prot));
        return true;
    }
    for (size_t i = 0, k; i < j->n; i = k) {
        for (k = i + 1; k < j->n && j->pc[k].prot == j->pc[i].prot; k++)
            ;
        uint64_t lo = j->pc[i].lo, hi = j->pc[k - 1].hi;
        if (mmap((void *)(uintptr_t)lo, hi - lo, prot_to_mmap(j->pc[i].prot),
                 MAP_SHARED | MAP_FIXED, j->fd, (off_t)(lo - j->start)) == MAP_FAILED)
            return false;
    }
    return true;
}

/*
 * The range turns read-only (but for the converting thread's own stack, see
 * convert_private), its bytes are copied into the memfd, which is mapped in their place with
 * each part's protection; on failure each part has its protection back.
 */
static void conv_window(void)
{
    um_conv_work *j = &um_conv_job;
    conv_begin(j->start, j->end);
    kern_return_t kr = KERN_SUCCESS;
    size_t made = 0;
    for (; made < j->n && kr == KERN_SUCCESS; made++) {
        if ((j->pc[made].prot & VM_PROT_WRITE) && !conv_stack_piece(j, made) &&
            mprotect((void *)(uintptr_t)j->pc[made].lo, j->pc[made].hi - j->pc[made].lo,
                     prot_to_mmap(j->pc[made].prot & ~VM_PROT_WRITE)) != 0)
            kr = KERN_RESOURCE_SHORTAGE; /* too many mappings to split */
    }
    if (kr == KERN_SUCCESS && !safe_pwrite(j->fd, j->start, j->end - j->start, 0))
        kr = KERN_PROTECTION_FAILURE;
    if (kr == KERN_SUCCESS && !conv_map(j))
        kr = KERN_RESOURCE_SHORTAGE;
    if (kr != KERN_SUCCESS) {
        while (made-- > 0)
            if (!conv_stack_piece(j, made))
                (void)mprotect((void *)(uintptr_t)j->pc[made].lo,
                               j->pc[made].hi - j->pc[made].lo, prot_to_mmap(j->pc[made].prot));
    }
    conv_end();
    j->kr = kr;
}

/* The stack conv_window runs on when the range holds the caller's (ample for a signal handler
 * that runs meanwhile: the asynchronous signals are blocked, a fault's is not). */
#define UM_CONV_STACK ((size_t)256 * 1024)

/* Make sure the calling thread's stack reaches `n` bytes below this function's frame: the
 * main thread's stack grows down on demand, and a stack the conversion ended at the range
 * (the lowest page mapped from the memfd) could grow no further. */
static __attribute__((noinline)) void conv_stack_reach(size_t n)
{
    volatile char *below = __builtin_alloca(n);
    below[0] = 0;
}

/*
 * conv_window on a stack of its own (makecontext, swapcontext), with the asynchronous signals
 * blocked: the calling thread writes nothing to its own stack while its bytes move, neither a
 * frame nor a signal's. Its stack pages stay writable (made read-only, the thread's own
 * thread-local data, which glibc keeps at the top of a thread's stack, or the kernel's
 * restartable-sequence area there, would fault with nobody to wait for). False when the
 * stack cannot be made (nothing done).
 */
static bool conv_window_aside(void)
{
    void *stack = mmap(NULL, UM_CONV_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return false;
    if (getpid() == (pid_t)syscall(SYS_gettid))
        conv_stack_reach(64 * 1024);
#ifdef VALGRIND_STACK_REGISTER
    unsigned vg_stack = VALGRIND_STACK_REGISTER(stack, (char *)stack + UM_CONV_STACK);
#endif
    sigset_t async, old;
    sigfillset(&async);
    sigdelset(&async, SIGSEGV);
    sigdelset(&async, SIGBUS);
    sigdelset(&async, SIGILL);
    sigdelset(&async, SIGFPE);
    sigdelset(&async, SIGTRAP);
    pthread_sigmask(SIG_BLOCK, &async, &old);
    bool ran = false;
    if (getcontext(&um_conv_job.window) == 0) {
        um_conv_job.window.uc_stack.ss_sp = stack;
        um_conv_job.window.uc_stack.ss_size = UM_CONV_STACK;
        um_conv_job.window.uc_link = &um_conv_job.caller;
        makecontext(&um_conv_job.window, conv_window, 0);
        ran = swapcontext(&um_conv_job.caller, &um_conv_job.window) == 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
#ifdef VALGRIND_STACK_REGISTER
    VALGRIND_STACK_DEREGISTER(vg_stack);
#endif
    munmap(stack, UM_CONV_STACK);
    return ran;
}

/* Does [start, end) hold part of the calling thread's stack (the mapping its frame is in,
 * [*lop, *hip))? */
static bool range_holds_my_stack(uint64_t start, uint64_t end, uint64_t *lop, uint64_t *hip)
{
    volatile char here = 0;
    int prot;
    bool shared;
    if (!vma_at((uint64_t)(uintptr_t)&here, lop, hip, &prot, &shared))
        return false;
    return start < *hip && *lop < end;
}

/*
 * Move the bytes of private memory [start, end) into a new memfd (*fdp, the caller's) mapped
 * shared in their place, each mapping's part keeping its protection. No write is lost: the
 * range is read-only from before the copy until the memfd is in place, and a thread that
 * writes to it meanwhile waits in its fault (um_vm_convert_fault) and writes again after.
 * A range that holds the calling thread's own stack (a buffer of the caller's) is moved from
 * a stack of its own, with the piece that is the thread's stack left writable (the rest of the
 * range read-only as above): the thread is busy moving it, so only another thread's write to
 * its stack meanwhile could be lost.
 * KERN_PROTECTION_FAILURE (unreadable), KERN_RESOURCE_SHORTAGE; on failure the range holds
 * its bytes with its protections (conv_map says what a failed mapping may leave). Conditions:
 * locked (one conversion at a time).
 */
static kern_return_t convert_private(uint64_t start, uint64_t end, int *fdp)
{
    uint64_t len = end - start;
    size_t n = 0;
    um_piece *pc = range_pieces(start, end, false, &n);
    if (!pc)
        return KERN_RESOURCE_SHORTAGE;
    int fd = entry_memfd(len);
    if (fd < 0) {
        free(pc);
        return KERN_RESOURCE_SHORTAGE;
    }
    reg_check(start, end); /* while its regions are still read-write, as reg_valid wants */
    um_conv_job.start = start;
    um_conv_job.end = end;
    um_conv_job.fd = fd;
    um_conv_job.pc = pc;
    um_conv_job.n = n;
    um_conv_job.own_stack =
        range_holds_my_stack(start, end, &um_conv_job.stack_lo, &um_conv_job.stack_hi);
    um_conv_job.kr = KERN_RESOURCE_SHORTAGE;
    if (um_conv_job.own_stack)
        (void)conv_window_aside();
    else
        conv_window();
    kern_return_t kr = um_conv_job.kr;
    um_conv_job.pc = NULL;
    free(pc);
    if (kr != KERN_SUCCESS) {
        close(fd);
        return kr;
    }
    *fdp = fd;
    return KERN_SUCCESS;
}

kern_return_t um_vm_share_range(uint64_t start, uint64_t len, int *fdp, uint64_t *foffp,
                                int *protp, int *maxprotp)
{
    *fdp = -1;
    uint64_t end = start + len;
    vmr_lock();
    int prot;
    bool anyshared;
    kern_return_t kr = range_prot(start, end, &prot, &anyshared);
    if (kr != KERN_SUCCESS)
        goto out;
    um_region *r = reg_covering(start, end);
    if (r && !reg_valid(r)) {
        reg_forget(r->start, r->end, false);
        r = NULL;
    }
    if (r && (r->state == UM_RG_SHARED ||
              (r->state == UM_RG_LIVE && !write_sealed(r->vmo->ident.fd) &&
               fcntl(r->vmo->ident.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0))) {
        /* Its memfd is the object: from now on the region writes through for good. */
        int fd = fcntl(r->vmo->ident.fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            kr = KERN_RESOURCE_SHORTAGE;
            goto out;
        }
        if (r->state == UM_RG_LIVE) {
            r->state = UM_RG_SHARED;
            r->vmo->keep = true;
        }
        *fdp = fd;
        *foffp = r->off + (start - r->start);
        *protp = prot;
        *maxprotp = r->maxprot;
        goto out;
    }
    if ((anyshared && foreign_shared(start, end)) || !(prot & VM_PROT_READ)) {
        /* Another program's shared mapping (its file is not ours to hand out), or memory
         * that cannot be read to be moved into a memfd. */
        kr = KERN_PROTECTION_FAILURE;
        goto out;
    }
    /*
     * Private memory (anonymous, malloc's, a small vm_allocate, a frozen region): its bytes
     * move into a new memfd mapped shared in its place, which the entry then names.
     */
    int fd;
    kr = convert_private(start, end, &fd);
    if (kr != KERN_SUCCESS)
        goto out;
    reg_shared(start, len, fd, 0, VM_PROT_ALL, VM_INHERIT_DEFAULT, true);
    *fdp = fd;
    *foffp = 0;
    *protp = prot;
    *maxprotp = VM_PROT_ALL;
out:
    vmr_unlock();
    return kr;
}

uint64_t um_vm_one_object_len(uint64_t start, uint64_t len)
{
    uint64_t end = start + len;
    vmr_lock();
    for (size_t i = reg_lower(start); i < um_vmr.n && um_vmr.r[i].start < end; i++) {
        um_region *r = &um_vmr.r[i];
        if (r->state != UM_RG_SHARED || !reg_valid(r))
            continue;
        if (r->start <= start) {
            if (r->end < end)
                end = r->end; /* the mapping's object ends there */
        } else {
            end = r->start; /* another object begins there */
        }
        break;
    }
    vmr_unlock();
    return end - start;
}

kern_return_t um_vm_copy_range(uint64_t start, uint64_t len, int *fdp, int *protp)
{
    *fdp = -1;
    vmr_lock();
    int prot;
    bool anyshared;
    kern_return_t kr = range_prot(start, start + len, &prot, &anyshared);
    int fd = -1;
    if (kr == KERN_SUCCESS && !(prot & VM_PROT_READ))
        kr = KERN_PROTECTION_FAILURE;
    if (kr == KERN_SUCCESS && (fd = entry_memfd(len)) < 0)
        kr = KERN_RESOURCE_SHORTAGE;
    if (kr == KERN_SUCCESS && !safe_pwrite(fd, start, len, 0)) {
        close(fd);
        kr = KERN_PROTECTION_FAILURE;
    }
    vmr_unlock();
    if (kr == KERN_SUCCESS) {
        *fdp = fd;
        *protp = prot;
    }
    return kr;
}

kern_return_t um_vm_range_prot(uint64_t start, uint64_t len, int *protp, int *maxprotp)
{
    vmr_lock();
    bool anyshared;
    kern_return_t kr = range_prot(start, start + len, protp, &anyshared);
    um_region *r = reg_covering(start, start + len);
    *maxprotp = r ? r->maxprot : VM_PROT_ALL;
    vmr_unlock();
    return kr;
}

/* ---- maximum protection --------------------------------------------------------------------- */

/*
 * Cut the region that holds addr on both sides (start < addr < end) in two at addr, each part
 * with its own reference. False when out of memory (nothing changed). Conditions: locked.
 */
static bool reg_split(uint64_t addr)
{
    size_t i = reg_lower(addr);
    if (i >= um_vmr.n || um_vmr.r[i].start >= addr)
        return true;
    if (!reg_reserve(1))
        return false;
    um_region old = um_vmr.r[i], left = old, right = old;
    left.end = addr;
    right.start = addr;
    right.off = old.off + (addr - old.start);
    if (!vmo_ref(old.vmo, left.off, left.end - left.start))
        return false;
    if (!vmo_ref(old.vmo, right.off, right.end - right.start)) {
        vmo_unref(old.vmo, left.off, left.end - left.start, false);
        return false;
    }
    vmo_unref(old.vmo, old.off, old.end - old.start, false);
    memmove(&um_vmr.r[i + 2], &um_vmr.r[i + 1], (um_vmr.n - i - 1) * sizeof um_vmr.r[0]);
    um_vmr.r[i] = left;
    um_vmr.r[i + 1] = right;
    um_vmr.n++;
    return true;
}

kern_return_t um_vm_protect(uint64_t start, uint64_t len, bool set_max, int new_prot)
{
    uint64_t end = start + len;
    vmr_lock();
    int prot;
    bool anyshared;
    kern_return_t kr = range_prot(start, end, &prot, &anyshared);
    /* Every part's maximum must allow it, before anything changes (vm_map_protect). */
    int asked = new_prot;
#if defined(__x86_64__)
    if (set_max)
        asked &= ~VM_PROT_EXECUTE; /* XNU lets a maximum gain execute without code signing */
#endif
    for (size_t i = reg_lower(start); kr == KERN_SUCCESS && i < um_vmr.n && um_vmr.r[i].start < end;
         i++)
        if ((asked & um_vmr.r[i].maxprot) != asked)
            kr = KERN_PROTECTION_FAILURE;
    size_t n = 0;
    um_piece *pc = NULL;
    if (kr == KERN_SUCCESS && set_max && !(pc = range_pieces(start, end, false, &n)))
        kr = KERN_RESOURCE_SHORTAGE;
    if (kr == KERN_SUCCESS && set_max) {
        /* The new maximum, and each part's protection within it. Out of memory to split, the
         * maximum is not kept (Linux keeps none); the protections still change. */
        if (reg_split(start) && reg_split(end))
            for (size_t i = reg_lower(start); i < um_vmr.n && um_vmr.r[i].start < end; i++)
                um_vmr.r[i].maxprot = (uint8_t)new_prot;
        for (size_t i = 0; i < n; i++)
            if ((pc[i].prot & new_prot) != pc[i].prot)
                (void)mprotect((void *)(uintptr_t)pc[i].lo, pc[i].hi - pc[i].lo,
                               prot_to_mmap(pc[i].prot & new_prot));
    } else if (kr == KERN_SUCCESS &&
               mprotect((void *)(uintptr_t)start, len, prot_to_mmap(new_prot)) != 0) {
        kr = errno == ENOMEM ? KERN_INVALID_ADDRESS : KERN_PROTECTION_FAILURE;
    }
    vmr_unlock();
    free(pc);
    return kr;
}

int um_vm_max_prot(uint64_t addr, uint64_t *lop, uint64_t *hip)
{
    vmr_lock();
    size_t i = reg_lower(addr);
    int max = VM_PROT_ALL;
    uint64_t lo = 0, hi = UINT64_MAX;
    if (i < um_vmr.n && um_vmr.r[i].start <= addr && um_vmr.r[i].maxprot != VM_PROT_ALL) {
        lo = um_vmr.r[i].start;
        hi = um_vmr.r[i].end;
        max = um_vmr.r[i].maxprot;
    } else {
        /* Between the nearest regions with a lower maximum. */
        for (size_t j = i; j < um_vmr.n; j++)
            if (um_vmr.r[j].maxprot != VM_PROT_ALL && um_vmr.r[j].start > addr) {
                hi = um_vmr.r[j].start;
                break;
            }
        for (size_t j = i; j-- > 0;)
            if (um_vmr.r[j].maxprot != VM_PROT_ALL) {
                lo = um_vmr.r[j].end;
                break;
            }
    }
    vmr_unlock();
    *lop = lo;
    *hip = hi;
    return max;
}

/* ---- inheritance and paging behaviour (embedded/um_vm_attr.c) --------------------------------- */

bool um_vm_vma(uint64_t addr, bool or_next, uint64_t *lop, uint64_t *hip, int *protp,
               bool *sharedp)
{
    vmr_lock();
    bool found = vma_find(addr, or_next, lop, hip, protp, sharedp);
    vmr_unlock();
    return found;
}

bool um_vm_foreign_shared(uint64_t start, uint64_t len)
{
    vmr_lock();
    bool foreign = foreign_shared(start, start + len);
    vmr_unlock();
    return foreign;
}

void um_vm_mark(uint64_t start, uint64_t len, int inherit, int advice)
{
    uint64_t end = start + len;
    vmr_lock();
    /* Out of memory to split, a region keeps what it had (its fork still follows madvise's
     * flags until it is frozen). */
    if (reg_split(start) && reg_split(end)) {
        for (size_t i = reg_lower(start); i < um_vmr.n && um_vmr.r[i].start < end; i++) {
            if (inherit >= 0)
                um_vmr.r[i].inherit = (uint8_t)inherit;
            if (advice >= 0)
                um_vmr.r[i].advice = (uint8_t)advice;
        }
    }
    vmr_unlock();
}

int um_vm_inherit_of(uint64_t addr, uint64_t *lop, uint64_t *hip)
{
    vmr_lock();
    size_t i = reg_lower(addr);
    int inherit = -1;
    uint64_t lo = i > 0 ? um_vmr.r[i - 1].end : 0, hi = UINT64_MAX;
    if (i < um_vmr.n && um_vmr.r[i].start <= addr) {
        inherit = um_vmr.r[i].inherit;
        lo = um_vmr.r[i].start;
        hi = um_vmr.r[i].end;
    } else if (i < um_vmr.n) {
        hi = um_vmr.r[i].start;
    }
    vmr_unlock();
    *lop = lo;
    *hip = hi;
    return inherit;
}
