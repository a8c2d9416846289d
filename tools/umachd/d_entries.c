/*
 * d_entries.c — memory entries in a world (kern/um_kobject_ports.h, UM_KOT_MEMORY_ENTRY): the
 * entry port is the daemon's kernel object and holds the entry's memfd; the client that makes
 * one passes its memfd, a client that maps one gets a duplicate back and maps it itself
 * (src/umach/embedded/um_vm_entry.c). So two processes that map one entry map one file.
 *
 * Trust: the memfd a client passes is checked (a regular file, its size sealed so that no
 * one's mapping can lose pages under it, at least as large as the entry says), and a
 * read-only entry keeps the file reopened read-only here, whatever the client sent, so no
 * process can map it writable. Each entry's memfd counts against its maker's cap of memfds
 * held by the daemon (D_TASK_MEMFDS_MAX, shared with its copies in flight).
 */
#define _GNU_SOURCE
#include "umachd.h"

#include "kern/um_kobject_ports.h"

#include <fcntl.h>
#include <mach/vm_prot.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

bool d_entry_is_call(uint16_t call)
{
    return call >= UM_WIRE_MEM_ENTRY_CREATE && call <= UM_WIRE_MEM_ENTRY_PURGABLE;
}

static void entry_release(um_mem_entry *e)
{
    um_xmem_owner *o = e->owner;
    if (o) {
        o->fds--;
        um_xmem_owner_release(o);
    }
    close(e->fd);
    free(e);
}

/* The client's memfd for an entry of `off`, `size`, `prot`: checked, read-only when the entry
 * is; -1 when it does not do (the task lied). Takes `fd`. */
static int entry_fd_checked(int fd, uint64_t off, uint64_t size, int prot)
{
    struct stat st;
    int seals = fcntl(fd, F_GET_SEALS);
    int mode = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || seals < 0 ||
        (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) || mode < 0 ||
        off + size < off || (uint64_t)st.st_size < off + size ||
        ((prot & VM_PROT_WRITE) && (mode & O_ACCMODE) != O_RDWR)) {
        close(fd);
        return -1;
    }
    if (!(prot & VM_PROT_WRITE) && (mode & O_ACCMODE) != O_RDONLY) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        int ro = open(path, O_RDONLY | O_CLOEXEC);
        close(fd);
        return ro; /* -1: no descriptor left, taken as a refusal */
    }
    return fd;
}

#define A(i) (p->args[i])
#define U32(i) ((uint32_t)p->args[i])

bool d_entry_call(d_conn *c, um_wire_pkt *p)
{
    d_task *t = c->task;
    um_space *space = t->task->space;
    switch (p->h.call) {
    case UM_WIRE_MEM_ENTRY_CREATE: {
        if (p->h.nargs != 5 || p->nfds != 1 || (A(0) | A(1)) & (t->d->kernel.page_size - 1) ||
            A(1) == 0 || A(2) > VM_PROT_ALL || A(3) > 1 || A(4) > 3)
            return false;
        int fd = p->fds[0];
        p->nfds = 0;
        fd = entry_fd_checked(fd, A(0), A(1), (int)A(2));
        if (fd < 0)
            return false;
        um_xmem_owner *o = t->xm_owner;
        um_mem_entry *e = NULL;
        if (!o || o->fds < o->max)
            e = calloc(1, sizeof *e);
        uint64_t name = MACH_PORT_NULL;
        if (!e) {
            close(fd);
            return d_reply(c, p->h.call, p->h.id, KERN_RESOURCE_SHORTAGE, &name, 1, NULL, 0);
        }
        e->fd = fd;
        e->offset = A(0);
        e->size = A(1);
        e->prot = (int)A(2);
        e->is_copy = A(3) != 0;
        e->purgable = (int)A(4);
        e->release = entry_release;
        if (o) {
            o->refs++;
            o->fds++;
            e->owner = o;
        }
        mach_port_name_t n = MACH_PORT_NULL;
        kern_return_t kr = um_mem_entry_create(space, e, &n);
        name = n;
        return d_reply(c, p->h.call, p->h.id, kr, &name, 1, NULL, 0);
    }
    case UM_WIRE_MEM_ENTRY_GET: {
        if (p->h.nargs != 1 || p->h.blob_len != 0)
            return false;
        um_mem_entry *e;
        bool dead;
        kern_return_t kr = um_mem_entry_lookup(space, U32(0), &e, &dead);
        uint64_t out[6] = {0, 0, 0, 0, 0, dead};
        if (kr != KERN_SUCCESS)
            return d_reply(c, p->h.call, p->h.id, kr, out, 6, NULL, 0);
        out[0] = e->offset;
        out[1] = e->size;
        out[2] = (uint32_t)e->prot;
        out[3] = e->is_copy;
        out[4] = (uint32_t)e->purgable;
        um_xmem_hdr part = {UM_XMEM_MAGIC, 0, 1, 0};
        /* The descriptor is sent, not given: the entry keeps its own. */
        return d_reply_xmem(c, p->h.call, p->h.id, KERN_SUCCESS, out, 6, &part, sizeof part,
                            sizeof part, &e->fd, 1);
    }
    case UM_WIRE_MEM_ENTRY_PURGABLE: {
        if (p->h.nargs != 3 || p->h.blob_len != 0)
            return false;
        um_mem_entry *e;
        bool dead, purge = false;
        int state = (int)U32(2);
        kern_return_t kr = um_mem_entry_lookup(space, U32(0), &e, &dead);
        if (kr == KERN_INVALID_CAPABILITY)
            kr = KERN_INVALID_ARGUMENT;
        else if (kr != KERN_SUCCESS)
            kr = MACH_SEND_INVALID_DEST;
        else
            kr = um_mem_entry_purgable(e, (int)U32(1), &state, &purge);
        if (purge)
            (void)fallocate(e->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)e->offset,
                            (off_t)e->size);
        uint64_t out = (uint32_t)state;
        return d_reply(c, p->h.call, p->h.id, kr, &out, 1, NULL, 0);
    }
    default:
        return false;
    }
}
