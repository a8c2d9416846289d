/*
 * um_xmem.c — out-of-line memory between the processes of a world: the client's capture and
 * delivery, the daemon's memory operations over a call's memory part (see um_xmem.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create, F_ADD_SEALS */
#endif
#include "um_xmem.h"
#include "um_regions.h"

#include <mach/mach.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Darwin's limit on rights in one message: the core refuses more before it reads an array. */
#define UM_XMEM_PORTS_MAX 16383u
/* A reply may pass more memfds than a request (it may gather a hostile sender's). */
#define UM_XMEM_REPLY_FDS_MAX 240u
/* Where the core's copyout writes our tokens: never a user address (those are below 2^47). */
#define UM_XMEM_TOKEN_BASE 0xA500000000000000ull

static _Atomic uint32_t xfd_held;

uint32_t um_xmem_fds_held(void)
{
    return atomic_load(&xfd_held);
}

static um_xfd *xfd_new(int fd, uint64_t size)
{
    um_xfd *x = malloc(sizeof *x);
    if (!x)
        return NULL;
    x->fd = fd;
    x->refs = 1;
    x->size = size;
    atomic_fetch_add(&xfd_held, 1);
    return x;
}

static void xfd_release(um_xfd *x)
{
    if (x && --x->refs == 0) {
        close(x->fd);
        atomic_fetch_sub(&xfd_held, 1);
        free(x);
    }
}

static inline uint64_t round_up(uint64_t x, uint64_t page)
{
    return (x + page - 1) & ~(page - 1);
}

static uint64_t sys_page(void)
{
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? (uint64_t)ps : 4096;
}

/* Seal a memfd's size, and against any new writer. */
static bool seal_fd(int fd)
{
    int have = fcntl(fd, F_GET_SEALS);
    if (have < 0)
        return false;
    if (!(have & F_SEAL_SHRINK)) {
        if (have & F_SEAL_SEAL)
            return false;
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)
            return false;
    }
#ifdef F_SEAL_FUTURE_WRITE
    /* No new writer (F_SEAL_WRITE would first drain every CPU's page lists: see um_regions.c). */
    if (!(have & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL)))
        (void)fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE);
#endif
    return true;
}

/* ---- building a memory part ------------------------------------------------------------- */

void um_xmem_out_init(um_xmem_out *o)
{
    memset(o, 0, sizeof *o);
    o->pack = -1;
}

void um_xmem_out_free(um_xmem_out *o)
{
    for (uint32_t i = 0; i < o->nfds; i++)
        xfd_release(o->fds[i]);
    free(o->fds);
    free(o->items);
    free(o->bytes);
    um_xmem_out_init(o);
}

static um_xmem_item *out_item(um_xmem_out *o)
{
    if (o->nitems == o->capitems) {
        if (o->nitems >= UM_XMEM_ITEMS_MAX)
            return NULL;
        uint32_t cap = o->capitems ? o->capitems * 2 : 8;
        um_xmem_item *n = realloc(o->items, cap * sizeof *n);
        if (!n)
            return NULL;
        o->items = n;
        o->capitems = cap;
    }
    um_xmem_item *it = &o->items[o->nitems++];
    memset(it, 0, sizeof *it);
    return it;
}

/* Room for `len` more bytes in the byte area; returns their offset, or -1. */
static int64_t out_bytes(um_xmem_out *o, uint64_t len)
{
    if (o->nbytes + len > UM_XMEM_BYTES_MAX)
        return -1;
    if (o->nbytes + len > o->capbytes) {
        uint32_t cap = o->capbytes ? o->capbytes : 4096;
        while (cap < o->nbytes + len)
            cap *= 2;
        uint8_t *n = realloc(o->bytes, cap);
        if (!n)
            return -1;
        o->bytes = n;
        o->capbytes = cap;
    }
    int64_t at = o->nbytes;
    o->nbytes += (uint32_t)len;
    return at;
}

/* Add a memfd (taking the reference `x`); returns its index or -1 (the reference dropped). */
static int out_fd(um_xmem_out *o, um_xfd *x)
{
    for (uint32_t i = 0; i < o->nfds; i++) {
        if (o->fds[i] == x) {
            xfd_release(x); /* already passed once: one reference is enough */
            return (int)i;
        }
    }
    if (o->nfds == o->capfds) {
        uint32_t cap = o->capfds ? o->capfds * 2 : 4;
        um_xfd **n = realloc(o->fds, cap * sizeof *n);
        if (!n) {
            xfd_release(x);
            return -1;
        }
        o->fds = n;
        o->capfds = cap;
    }
    o->fds[o->nfds] = x;
    return (int)o->nfds++;
}

/*
 * Room for a piece of `size` bytes at `offset` in its first page in the memfd that pieces
 * share once a packet has all the memfds it may pass: *idxp gets its index, *foffp the file
 * offset where the piece's first byte goes. False: no memfd.
 */
static bool out_pack(um_xmem_out *o, uint32_t offset, uint64_t size, uint32_t *idxp,
                     uint64_t *foffp)
{
    uint64_t page = sys_page();
    if (o->pack < 0) {
        char name[64];
        snprintf(name, sizeof name, "umach-%d-pack", (int)getpid());
        int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
            return false;
        um_xfd *x = xfd_new(fd, 0);
        if (!x) {
            close(fd);
            return false;
        }
        int idx = out_fd(o, x);
        if (idx < 0)
            return false;
        o->pack = idx;
    }
    um_xfd *x = o->fds[o->pack];
    uint64_t base = round_up(x->size, page);
    uint64_t end = base + offset + size;
    if (end < base || ftruncate(x->fd, (off_t)round_up(end, page)) != 0)
        return false;
    x->size = round_up(end, page);
    *idxp = (uint32_t)o->pack;
    *foffp = base + offset;
    return true;
}

size_t um_xmem_out_size(const um_xmem_out *o)
{
    if (!o->nitems)
        return 0;
    return sizeof(um_xmem_hdr) + (size_t)o->nitems * sizeof(um_xmem_item) + o->nbytes;
}

void um_xmem_out_encode(const um_xmem_out *o, void *buf, int *fds)
{
    if (o->pack >= 0)
        (void)seal_fd(o->fds[o->pack]->fd); /* complete now: its size and bytes are final */
    um_xmem_hdr h = {UM_XMEM_MAGIC, o->nitems, o->nfds, o->nbytes};
    uint8_t *p = buf;
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    memcpy(p, o->items, (size_t)o->nitems * sizeof *o->items);
    p += (size_t)o->nitems * sizeof *o->items;
    if (o->nbytes)
        memcpy(p, o->bytes, o->nbytes);
    for (uint32_t i = 0; i < o->nfds; i++)
        fds[i] = o->fds[i]->fd;
}

/* ---- the client: capture ------------------------------------------------------------------ */

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/*
 * One range of the sender's memory: bytes, a memfd, or the shared one. `move`: the send
 * deallocates it (a live region's range is parked: um_vm_park). False: out of memory.
 */
static bool capture_range(um_xmem_out *o, uint64_t addr, uint64_t size, bool physical,
                          bool move, uint32_t flags)
{
    um_xmem_item *it = out_item(o);
    if (!it)
        return false;
    it->addr = addr;
    it->size = size;
    it->flags = flags;
    uint64_t page = sys_page();
    /* Small pieces arrive page-aligned whatever the copy option (XNU's kernel buffer). */
    bool small = size <= UM_XMEM_INLINE_MAX;
    if (small) {
        int64_t at = out_bytes(o, size);
        if (at >= 0) {
            if (um_vm_read_process((uint32_t)getpid(), o->bytes + at, addr, (size_t)size)) {
                it->kind = UM_XMEM_BYTES;
                it->where = (uint64_t)at;
            } else {
                o->nbytes = (uint32_t)at; /* give the room back */
                it->kind = UM_XMEM_UNREADABLE;
            }
            return true;
        }
        physical = true;
    }
    if (o->nfds + (o->pack < 0) < UM_XMEM_FDS_MAX) {
        int fd;
        uint64_t foff;
        /* A move of a live region's range: parked (no page-table entry torn down), else a
         * snapshot as for a virtual copy. */
        mach_msg_return_t mr = move && um_vm_park(addr, size, &fd, &foff)
                                   ? MACH_MSG_SUCCESS
                                   : um_vm_snapshot(addr, size, physical, &fd, &foff);
        if (mr == MACH_SEND_INVALID_MEMORY) {
            it->kind = UM_XMEM_UNREADABLE;
            return true;
        }
        if (mr != MACH_MSG_SUCCESS)
            return false;
        struct stat st;
        um_xfd *x = fstat(fd, &st) == 0 ? xfd_new(fd, (uint64_t)st.st_size) : NULL;
        if (!x) {
            close(fd);
            return false;
        }
        int idx = out_fd(o, x);
        if (idx < 0)
            return false;
        it = &o->items[o->nitems - 1]; /* out_fd does not move items, but be plain about it */
        it->kind = UM_XMEM_FD;
        it->fd = (uint32_t)idx;
        it->where = foff;
        return true;
    }
    /* Past the memfds a packet may pass: copied into the one they share. */
    uint32_t offset = physical ? 0 : (uint32_t)(addr & (page - 1));
    uint32_t idx;
    uint64_t foff;
    if (!out_pack(o, offset, size, &idx, &foff))
        return false;
    it = &o->items[o->nitems - 1];
    if (!um_vm_write_fd(o->fds[idx]->fd, addr, size, foff)) {
        it->kind = UM_XMEM_UNREADABLE;
        return true;
    }
    it->kind = UM_XMEM_FD;
    it->fd = idx;
    it->where = foff;
    return true;
}

/*
 * The descriptors of a message image, in order: port descriptors (12 bytes) are stepped
 * over, each other one (16 bytes) is given by its offset and type. The walk ends after the
 * header's count, or where the image stops short of a descriptor. A simple message (or an
 * image shorter than a base) has none.
 */
typedef struct desc_walk {
    const uint8_t *m;
    size_t len, pos;
    uint32_t left;
} desc_walk;

static void desc_walk_init(desc_walk *w, const void *image, size_t len)
{
    const mach_msg_base_t *base = image;
    w->m = image;
    w->len = len;
    w->pos = sizeof(mach_msg_base_t);
    w->left = len >= sizeof *base && (base->header.msgh_bits & MACH_MSGH_BITS_COMPLEX)
                  ? base->body.msgh_descriptor_count
                  : 0;
}

static bool desc_walk_next(desc_walk *w, size_t *at, uint8_t *type)
{
    while (w->left && w->pos + 12 <= w->len) {
        w->left--;
        uint8_t t = w->m[w->pos + 11];
        if (t == MACH_MSG_PORT_DESCRIPTOR) {
            w->pos += 12;
            continue;
        }
        if (w->pos + 16 > w->len)
            return false;
        *at = w->pos;
        *type = t;
        w->pos += 16;
        return true;
    }
    return false;
}

mach_msg_return_t um_xmem_capture(const void *msg, size_t size, um_xmem_out *out)
{
    const uint8_t *m = msg;
    desc_walk w;
    desc_walk_init(&w, msg, size);
    size_t pos;
    uint8_t type;
    bool ok = true;
    while (ok && desc_walk_next(&w, &pos, &type)) {
        uint64_t addr = rd64(m + pos);
        uint8_t dealloc = m[pos + 8], copy = m[pos + 9];
        uint32_t n = rd32(m + pos + 12);
        switch (type) {
        case MACH_MSG_OOL_DESCRIPTOR:
        case MACH_MSG_OOL_VOLATILE_DESCRIPTOR:
            /* A move (deallocate) keeps its offset in the page even when physical, as the
             * embedded front end's moves do; the range leaves the sender when the daemon's
             * core takes it (the reply lists it). */
            if (n)
                ok = capture_range(out, addr, n, copy == MACH_MSG_PHYSICAL_COPY && !dealloc,
                                   dealloc != 0, 0);
            break;
        case MACH_MSG_OOL_PORTS_DESCRIPTOR:
            if (n && n <= UM_XMEM_PORTS_MAX)
                ok = capture_range(out, addr, (uint64_t)n * sizeof(mach_port_name_t), true,
                                   false, UM_XMEM_PORTS);
            break;
        case MACH_MSG_GUARDED_PORT_DESCRIPTOR:
            break;
        default:
            w.left = 0; /* not a descriptor: the core refuses the message */
            break;
        }
    }
    if (!ok) {
        um_xmem_out_free(out);
        um_vm_unpark_mine(); /* nothing is sent: moved ranges go back */
        return MACH_SEND_NO_BUFFER;
    }
    return MACH_MSG_SUCCESS;
}

void um_xmem_call_over(void)
{
    um_vm_unpark_mine();
}

/* ---- reading a part (both sides) ------------------------------------------------------------ */

typedef struct part_view {
    um_xmem_hdr h;
    const uint8_t *items; /* unaligned: read with memcpy */
    const uint8_t *bytes;
} part_view;

static bool part_parse(const void *part, size_t len, uint32_t nfds, part_view *v)
{
    memset(v, 0, sizeof *v);
    if (len == 0)
        return nfds == 0;
    if (len < sizeof v->h)
        return false;
    memcpy(&v->h, part, sizeof v->h);
    if (v->h.magic != UM_XMEM_MAGIC || v->h.nitems == 0 || v->h.nitems > UM_XMEM_ITEMS_MAX ||
        v->h.nfds != nfds)
        return false;
    uint64_t need = sizeof v->h + (uint64_t)v->h.nitems * sizeof(um_xmem_item) + v->h.nbytes;
    if (need != len)
        return false;
    v->items = (const uint8_t *)part + sizeof v->h;
    v->bytes = v->items + (size_t)v->h.nitems * sizeof(um_xmem_item);
    return true;
}

static um_xmem_item part_item(const part_view *v, uint32_t i)
{
    um_xmem_item it;
    memcpy(&it, v->items + (size_t)i * sizeof it, sizeof it);
    return it;
}

/* ---- the client: delivery --------------------------------------------------------------------- */

typedef struct mapped {
    uint64_t token;
    uint64_t addr;  /* where the data starts, 0: not mapped */
    uint64_t map, len;
    bool used;
} mapped;

mach_msg_return_t um_xmem_fold_rcv(mach_msg_return_t mr, mach_msg_return_t bits)
{
    if (!bits)
        return mr;
    if (mr == MACH_MSG_SUCCESS)
        return MACH_RCV_BODY_ERROR | bits;
    if ((mr & ~MACH_MSG_MASK) == MACH_RCV_BODY_ERROR)
        return mr | bits;
    return mr;
}

int um_xmem_deliver(void *image, size_t len, const void *part, size_t partlen, int *fds,
                    uint32_t nfds, mach_msg_return_t *bitsp)
{
    *bitsp = MACH_MSG_SUCCESS;
    part_view v;
    uint64_t page = sys_page();
    int rc = 0;
    mapped *maps = NULL;
    if (!part_parse(part, partlen, nfds, &v)) {
        rc = -1;
        goto out;
    }
    if (!v.h.nitems)
        goto out;
    maps = calloc(v.h.nitems, sizeof *maps);
    if (!maps) {
        *bitsp = MACH_MSG_VM_SPACE;
        /* Nothing mapped: the descriptors below say so. */
    }
    for (uint32_t i = 0; maps && i < v.h.nitems; i++) {
        um_xmem_item it = part_item(&v, i);
        maps[i].token = it.addr;
        if (it.kind != UM_XMEM_BYTES && it.kind != UM_XMEM_FD)
            continue;
        uint64_t mlen = round_up((uint64_t)it.offset + it.size, page);
        if (it.size == 0 || it.offset >= page || mlen < it.size)
            continue;
        if (it.kind == UM_XMEM_BYTES) {
            if (it.where > v.h.nbytes || it.size > v.h.nbytes - it.where)
                continue;
            void *p = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED)
                continue;
            memcpy((uint8_t *)p + it.offset, v.bytes + it.where, it.size);
            maps[i].map = (uint64_t)(uintptr_t)p;
            maps[i].len = mlen;
            maps[i].addr = maps[i].map + it.offset;
        } else {
            if (it.fd >= nfds || it.where < it.offset || ((it.where - it.offset) & (page - 1)))
                continue;
            int fd = fcntl(fds[it.fd], F_DUPFD_CLOEXEC, 0);
            uint64_t at;
            if (fd < 0 || um_vm_map_fd(fd, it.where - it.offset, mlen, &at) != KERN_SUCCESS)
                continue;
            maps[i].map = at;
            maps[i].len = mlen;
            maps[i].addr = at + it.offset;
        }
    }
    /* The tokens in the received message become the mapped addresses. */
    if (image) {
        uint8_t *m = image;
        desc_walk w;
        desc_walk_init(&w, image, len);
        size_t pos;
        uint8_t type;
        while (desc_walk_next(&w, &pos, &type)) {
            uint64_t token = rd64(m + pos);
            if ((type == MACH_MSG_OOL_DESCRIPTOR || type == MACH_MSG_OOL_VOLATILE_DESCRIPTOR ||
                 type == MACH_MSG_OOL_PORTS_DESCRIPTOR) && token) {
                uint64_t addr = 0;
                for (uint32_t j = 0; maps && j < v.h.nitems; j++) {
                    if (maps[j].token == token && !maps[j].used) {
                        maps[j].used = true;
                        addr = maps[j].addr;
                        break;
                    }
                }
                wr64(m + pos, addr);
                if (!addr) {
                    /* No room: as the core's copyout failing, the memory is dropped. */
                    if (type != MACH_MSG_OOL_PORTS_DESCRIPTOR)
                        wr32(m + pos + 12, 0);
                    *bitsp = MACH_MSG_VM_SPACE;
                }
            }
        }
    }
    /* A piece no descriptor named would be lost memory: unmap it. */
    for (uint32_t i = 0; maps && i < v.h.nitems; i++) {
        if (maps[i].map && !maps[i].used)
            (void)um_vm_deallocate_region(maps[i].map, maps[i].len);
    }
    /* Then what the call took from this task (a move's range, a deallocated ports array). */
    for (uint32_t i = 0; i < v.h.nitems; i++) {
        um_xmem_item it = part_item(&v, i);
        if (it.kind == UM_XMEM_UNMAP && it.size)
            um_vm_remove(it.addr, it.size);
    }
out:
    free(maps);
    for (uint32_t i = 0; i < nfds; i++)
        close(fds[i]);
    return rc;
}

/* ---- the daemon ------------------------------------------------------------------------------- */

um_xmem_owner *um_xmem_owner_new(uint32_t max_fds)
{
    um_xmem_owner *o = calloc(1, sizeof *o);
    if (o) {
        o->refs = 1;
        o->max = max_fds;
    }
    return o;
}

void um_xmem_owner_release(um_xmem_owner *o)
{
    if (o && --o->refs == 0)
        free(o);
}

/* The daemon's copy object (the core's um_vm_copy is opaque to it). */
typedef struct um_xmem_copy {
    uint32_t magic;
    um_xmem_owner *owner; /* whose cap its memfd counts against (a reference), or NULL */
    uint32_t offset;  /* the data's offset in the first page at the receiver */
    uint64_t size;
    uint64_t where;   /* file offset of the first data byte (memfd) */
    um_xfd *xfd;      /* one reference, or NULL for bytes */
    uint8_t *bytes;   /* small data */
} um_xmem_copy;
#define UM_XMEM_COPY_MAGIC 0x78636f70u

/* tmpfs's f_type: where memfd_create puts a file (a hugetlbfs one is refused: its pages). */
#define UM_XMEM_TMPFS_MAGIC 0x01021994

/*
 * Check a memfd a client passed: a memfd on tmpfs, sealed against shrinking (sealed now if it
 * can be), so that no receiver's mapping of it can ever lose a page (SIGBUS).
 */
static um_xfd *xfd_check(int fd)
{
    struct stat st;
    struct statfs fs;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || fstatfs(fd, &fs) != 0 ||
        fs.f_type != UM_XMEM_TMPFS_MAGIC)
        return NULL;
    int seals = fcntl(fd, F_GET_SEALS); /* only memfds (shmem) have seals */
    if (seals < 0)
        return NULL;
    if (!(seals & F_SEAL_SHRINK)) {
        if ((seals & F_SEAL_SEAL) || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)
            return NULL;
    }
    /* Its size now that it can no longer shrink. */
    if (fstat(fd, &st) != 0 || st.st_size < 0)
        return NULL;
    return xfd_new(fd, (uint64_t)st.st_size);
}

bool um_xmem_call_init(um_xmem_call *c, um_xmem_owner *owner, size_t page_size,
                       const void *part, size_t len, int *fds, uint32_t nfds)
{
    memset(c, 0, sizeof *c);
    c->page_size = page_size;
    c->owner = owner;
    if (owner)
        owner->refs++;
    um_xmem_out_init(&c->reply);
    part_view v;
    bool ok = part_parse(part, len, nfds, &v);
    if (ok && v.h.nitems) {
        c->in = malloc((size_t)v.h.nitems * sizeof *c->in);
        c->used = calloc(v.h.nitems, 1);
        c->inbytes = v.h.nbytes ? malloc(v.h.nbytes) : NULL;
        c->infds = nfds ? calloc(nfds, sizeof *c->infds) : NULL;
        ok = c->in && c->used && (!v.h.nbytes || c->inbytes) && (!nfds || c->infds);
    }
    for (uint32_t i = 0; ok && i < nfds; i++) {
        c->infds[i] = xfd_check(fds[i]);
        if (!c->infds[i])
            ok = false;
        else
            fds[i] = -1; /* the call's now */
        c->ninfds = i + 1;
    }
    if (ok && v.h.nitems) {
        c->nin = v.h.nitems;
        memcpy(c->in, v.items, (size_t)c->nin * sizeof *c->in);
        if (v.h.nbytes)
            memcpy(c->inbytes, v.bytes, v.h.nbytes);
        c->ninbytes = v.h.nbytes;
    }
    for (uint32_t i = 0; ok && i < c->nin; i++) {
        const um_xmem_item *it = &c->in[i];
        switch (it->kind) {
        case UM_XMEM_BYTES:
            ok = it->size && it->size <= UM_XMEM_INLINE_MAX && it->where <= c->ninbytes &&
                 it->size <= c->ninbytes - it->where;
            break;
        case UM_XMEM_FD:
            ok = it->size && it->fd < c->ninfds && it->where <= c->infds[it->fd]->size &&
                 it->size <= c->infds[it->fd]->size - it->where;
            break;
        case UM_XMEM_UNREADABLE:
            break;
        default:
            ok = false;
        }
        ok = ok && !(it->flags & ~UM_XMEM_PORTS);
    }
    for (uint32_t i = 0; i < nfds; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
    if (!ok)
        um_xmem_call_end(c);
    return ok;
}

void um_xmem_call_drop_request(um_xmem_call *c)
{
    for (uint32_t i = 0; i < c->ninfds; i++)
        xfd_release(c->infds[i]);
    free(c->infds);
    free(c->in);
    free(c->used);
    free(c->inbytes);
    c->infds = NULL;
    c->ninfds = 0;
    c->in = NULL;
    c->used = NULL;
    c->inbytes = NULL;
    c->nin = c->ninbytes = c->cursor = 0;
}

void um_xmem_call_end(um_xmem_call *c)
{
    um_xmem_call_drop_request(c);
    um_xmem_out_free(&c->reply);
    um_xmem_owner_release(c->owner);
    c->owner = NULL;
    c->tokens = 0;
}

/* The request's piece for (addr, size), in the order the core asks for them. */
static const um_xmem_item *call_take(um_xmem_call *c, uint64_t addr, uint64_t size,
                                     uint32_t flags)
{
    for (uint32_t k = 0; k < c->nin; k++) {
        uint32_t i = (c->cursor + k) % c->nin;
        const um_xmem_item *it = &c->in[i];
        if (!c->used[i] && it->addr == addr && it->size == size &&
            (it->flags & UM_XMEM_PORTS) == flags) {
            c->used[i] = 1;
            c->cursor = i + 1;
            return it;
        }
    }
    c->lied = true;
    return NULL;
}

mach_msg_return_t um_xmem_copyin(um_xmem_call *c, uint64_t addr, uint64_t size, bool physical,
                                 bool dealloc, um_vm_copy **copyp)
{
    *copyp = NULL;
    const um_xmem_item *it = call_take(c, addr, size, 0);
    if (!it || it->kind == UM_XMEM_UNREADABLE)
        return MACH_SEND_INVALID_MEMORY;
    uint64_t pmask = c->page_size - 1;
    /* As embedded mode: small pieces and physical copies start a page; the rest keep
     * their offset in the page. */
    uint32_t offset = (size <= UM_XMEM_INLINE_MAX || (physical && !dealloc))
                          ? 0 : (uint32_t)(addr & pmask);
    um_xmem_owner *owner = c->owner;
    if (it->kind == UM_XMEM_FD && owner && owner->fds >= owner->max)
        return MACH_MSG_VM_KERNEL; /* the task's copies in flight hold all they may */
    um_xmem_copy *x = calloc(1, sizeof *x);
    if (!x)
        return MACH_MSG_VM_KERNEL;
    x->magic = UM_XMEM_COPY_MAGIC;
    x->offset = offset;
    x->size = size;
    if (it->kind == UM_XMEM_BYTES) {
        x->bytes = malloc(size);
        if (!x->bytes) {
            free(x);
            return MACH_MSG_VM_KERNEL;
        }
        memcpy(x->bytes, c->inbytes + it->where, size);
    } else {
        /* The receiver maps whole pages from (where - offset): that must be a page start. */
        if (it->where < offset || ((it->where - offset) & pmask)) {
            free(x);
            c->lied = true;
            return MACH_SEND_INVALID_MEMORY;
        }
        x->xfd = c->infds[it->fd];
        x->xfd->refs++;
        x->where = it->where;
        if (owner) {
            x->owner = owner;
            owner->refs++;
            owner->fds++;
        }
    }
    if (dealloc)
        um_xmem_unmap(c, addr & ~pmask, (size_t)(((addr + size + pmask) & ~pmask) - (addr & ~pmask)));
    *copyp = (um_vm_copy *)(void *)x;
    return MACH_MSG_SUCCESS;
}

bool um_xmem_read(um_xmem_call *c, void *dst, uint64_t src, size_t len)
{
    const um_xmem_item *it = call_take(c, src, len, UM_XMEM_PORTS);
    if (!it || it->kind == UM_XMEM_UNREADABLE)
        return false;
    if (it->kind == UM_XMEM_BYTES) {
        memcpy(dst, c->inbytes + it->where, len);
        return true;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(c->infds[it->fd]->fd, (uint8_t *)dst + done, len - done,
                          (off_t)(it->where + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return true;
}

void um_xmem_unmap(um_xmem_call *c, uint64_t addr, size_t len)
{
    um_xmem_item *it = out_item(&c->reply);
    if (!it)
        return; /* the range stays the client's: memory kept, never memory lost */
    it->kind = UM_XMEM_UNMAP;
    it->addr = addr;
    it->size = len;
}

/* Copy `size` bytes of `src` at `soff` into `dst` at `doff`. */
static bool fd_copy(int dst, uint64_t doff, int src, uint64_t soff, uint64_t size)
{
    uint8_t buf[64 * 1024];
    while (size) {
        size_t n = size < sizeof buf ? (size_t)size : sizeof buf;
        ssize_t got = pread(src, buf, n, (off_t)soff);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        ssize_t put = pwrite(dst, buf, (size_t)got, (off_t)doff);
        if (put != got)
            return false;
        soff += (uint64_t)got;
        doff += (uint64_t)got;
        size -= (uint64_t)got;
    }
    return true;
}

/* A reply piece of `size` bytes from memory `src` or memfd range (xfd, where). */
static bool reply_piece(um_xmem_call *c, uint64_t token, uint32_t offset, uint64_t size,
                        const uint8_t *src, um_xfd *xfd, uint64_t where)
{
    um_xmem_out *o = &c->reply;
    um_xmem_item *it = out_item(o);
    if (!it)
        return false;
    it->addr = token;
    it->size = size;
    it->offset = offset;
    if (src) {
        int64_t at = out_bytes(o, size);
        if (at >= 0) {
            memcpy(o->bytes + at, src, size);
            it->kind = UM_XMEM_BYTES;
            it->where = (uint64_t)at;
            return true;
        }
    } else if (o->nfds + (o->pack < 0) < UM_XMEM_REPLY_FDS_MAX) {
        xfd->refs++;
        int idx = out_fd(o, xfd);
        it = &o->items[o->nitems - 1];
        if (idx < 0) {
            o->nitems--;
            return false;
        }
        it->kind = UM_XMEM_FD;
        it->fd = (uint32_t)idx;
        it->where = where;
        return true;
    }
    uint32_t idx;
    uint64_t foff;
    bool ok = out_pack(o, offset, size, &idx, &foff);
    it = &o->items[o->nitems - 1];
    if (ok) {
        int pfd = o->fds[idx]->fd;
        ok = src ? pwrite(pfd, src, size, (off_t)foff) == (ssize_t)size
                 : fd_copy(pfd, foff, xfd->fd, where, size);
    }
    if (!ok) {
        o->nitems--;
        return false;
    }
    it->kind = UM_XMEM_FD;
    it->fd = idx;
    it->where = foff;
    return true;
}

kern_return_t um_xmem_copyout(um_xmem_call *c, um_vm_copy *copy, uint64_t *addrp)
{
    *addrp = 0;
    um_xmem_copy *x = (um_xmem_copy *)(void *)copy;
    if (!x)
        return KERN_SUCCESS;
    uint64_t token = UM_XMEM_TOKEN_BASE + ++c->tokens;
    bool ok = reply_piece(c, token, x->offset, x->size, x->bytes, x->xfd, x->where);
    um_xmem_copy_discard(copy);
    if (!ok)
        return KERN_NO_SPACE;
    *addrp = token;
    return KERN_SUCCESS;
}

uint64_t um_xmem_attach(um_xmem_call *c, const void *region, size_t len)
{
    uint64_t token = UM_XMEM_TOKEN_BASE + ++c->tokens;
    if (!reply_piece(c, token, 0, len, region, NULL, 0))
        return 0;
    return token;
}

um_vm_copy *um_xmem_copy_of_bytes(const void *bytes, uint64_t size)
{
    um_xmem_copy *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->magic = UM_XMEM_COPY_MAGIC;
    x->size = size;
    x->bytes = malloc(size ? size : 1);
    if (!x->bytes) {
        free(x);
        return NULL;
    }
    memcpy(x->bytes, bytes, size);
    return (um_vm_copy *)(void *)x;
}

bool um_xmem_copy_read(const um_vm_copy *copy, void *dst, size_t len)
{
    const um_xmem_copy *x = (const um_xmem_copy *)(const void *)copy;
    if (!x || len > x->size)
        return false;
    if (x->bytes) {
        memcpy(dst, x->bytes, len);
        return true;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(x->xfd->fd, (uint8_t *)dst + done, len - done,
                          (off_t)(x->where + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += (size_t)n;
    }
    return true;
}

void um_xmem_copy_discard(um_vm_copy *copy)
{
    um_xmem_copy *x = (um_xmem_copy *)(void *)copy;
    if (!x)
        return;
    xfd_release(x->xfd);
    if (x->owner) {
        x->owner->fds--;
        um_xmem_owner_release(x->owner);
    }
    free(x->bytes);
    free(x);
}
