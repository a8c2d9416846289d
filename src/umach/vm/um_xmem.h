/*
 * um_xmem.h — out-of-line memory between the processes of a world (docs/world.md, "Out-of-line
 * memory between processes").
 *
 * The daemon never reads or maps a client's memory. A client that sends a message captures the
 * out-of-line memory and port arrays its descriptors name (um_xmem_capture) and sends them with
 * the request as a *memory part*: small data as bytes, larger data as sealed memfds passed with
 * SCM_RIGHTS (a region from vm_allocate shares its own memfd, frozen copy-on-write as embedded
 * mode's virtual copies: no page is copied; other memory is copied once). In the daemon the
 * task memory operations the core calls (copyin, read, unmap, copyout, attach) work on that
 * part and on the reply's (um_xmem_call): copyin takes a captured piece as the daemon's copy
 * object, copyout and attach put one in the reply under a token address, unmap asks the client
 * to remove a range. The client then maps what the reply carries, writes the mapped addresses
 * over the tokens in the received image and removes the ranges (um_xmem_deliver).
 *
 * The memory part, little-endian, in one packet:
 *   um_xmem_hdr | um_xmem_item[nitems] | nbytes bytes
 * with the memfds in the packet's SCM_RIGHTS, nfds of them, in item `fd` order.
 *
 * Trust: nothing a client sends is believed. um_xmem_call_init checks the part's structure and
 * every memfd (a memfd, sealed against shrinking, big enough for every piece that names it);
 * the core's copyin of a descriptor the client did not capture, or captured with another size,
 * is a lie: the call fails and um_xmem_call_lied says the task is to end.
 */
#ifndef UM_XMEM_H
#define UM_XMEM_H

#include "../kern/um_kern.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Data of at most this many bytes travels as bytes in the packet (XNU's small copies). */
#define UM_XMEM_INLINE_MAX (32u * 1024)
/* Bytes of a packet's memory part; beyond it pieces go into a memfd of their own. */
#define UM_XMEM_BYTES_MAX (64u * 1024)
/* Memfds in one packet (SCM_RIGHTS takes at most 253); beyond it pieces share one memfd. */
#define UM_XMEM_FDS_MAX 64u
/* Pieces in one packet: at most one per descriptor, and a message has fewer than 2^14. */
#define UM_XMEM_ITEMS_MAX 32768u

enum um_xmem_kind {
    UM_XMEM_BYTES = 1,      /* the data is `size` bytes at `where` in the byte area */
    UM_XMEM_FD = 2,         /* the data is `size` bytes at file offset `where` of memfd `fd` */
    UM_XMEM_UNREADABLE = 3, /* request: the sender's range could not be read */
    UM_XMEM_UNMAP = 4,      /* reply: remove [addr, addr + size) from the task (page-aligned) */
};

/* Flags of a piece. */
#define UM_XMEM_PORTS 0x1u /* an out-of-line ports array (names), not memory */

typedef struct um_xmem_hdr {
    uint32_t magic;
    uint32_t nitems;
    uint32_t nfds;
    uint32_t nbytes;
} um_xmem_hdr;
#define UM_XMEM_MAGIC 0x6d656d78u /* "xmem" */

typedef struct um_xmem_item {
    uint64_t addr;   /* request: the descriptor's address; reply: the token the core wrote */
    uint64_t size;   /* data bytes */
    uint64_t where;  /* BYTES: offset in the byte area; FD: file offset of the first data byte */
    uint32_t kind;   /* enum um_xmem_kind */
    uint32_t flags;  /* UM_XMEM_PORTS */
    uint32_t fd;     /* FD: index of the memfd in the packet */
    uint32_t offset; /* reply: the data's offset in the first page of its mapping */
} um_xmem_item;

/* A memfd shared by the pieces that name it (daemon: copies in flight; reference counted). */
typedef struct um_xfd {
    int fd;
    uint32_t refs;
    uint64_t size;   /* st_size, checked when the fd arrived */
} um_xfd;

/* A memory part being built (a client's request, the daemon's reply). */
typedef struct um_xmem_out {
    um_xmem_item *items;
    uint32_t nitems, capitems;
    uint8_t *bytes;
    uint32_t nbytes, capbytes;
    um_xfd **fds;    /* one reference each */
    uint32_t nfds, capfds;
    int pack;        /* index of the memfd that pieces share past UM_XMEM_FDS_MAX, or -1 */
} um_xmem_out;

void um_xmem_out_init(um_xmem_out *o);
/* Release everything the part holds (its memfds closed when no one else holds them). */
void um_xmem_out_free(um_xmem_out *o);
/* The encoded size of the part (0 when it is empty: nothing to send). */
size_t um_xmem_out_size(const um_xmem_out *o);
/* Encode into `buf` (um_xmem_out_size bytes); fds[] gets the nfds descriptors to pass. */
void um_xmem_out_encode(const um_xmem_out *o, void *buf, int *fds);

/* ---- the client ------------------------------------------------------------------------- */

/*
 * Capture the memory a message to be sent carries: `msg` is the message (`size` bytes, read
 * once from the sender's buffer). For each out-of-line descriptor of nonzero size, the data
 * (see um_vm_snapshot: a snapshot now, later writes never show); for each out-of-line ports
 * descriptor, its array of names. An unreadable range is captured as such (the daemon answers
 * MACH_SEND_INVALID_MEMORY when the core reaches it, as embedded mode would). A message too
 * malformed to walk captures what it can: the daemon's core rejects it anyway.
 * Returns MACH_MSG_SUCCESS, or MACH_SEND_NO_BUFFER when out of memory or memfds (`out` is
 * then empty). Nothing of the sender's memory changes (a move's range is removed only when
 * the reply says so).
 */
mach_msg_return_t um_xmem_capture(const void *msg, size_t size, um_xmem_out *out);

/*
 * The mach_msg call that carried a captured part is over (its reply delivered, or it failed):
 * the ranges it moved that the reply did not take (um_vm_park) go back where they were.
 */
void um_xmem_call_over(void);

/*
 * Take in a reply's memory part: map every piece it carries into this process (a memfd
 * privately, bytes into fresh pages), write each one's address over its token in the received
 * message `image` (`len` bytes; NULL when the reply carries no message), then remove the
 * ranges the reply lists. Takes the `nfds` descriptors in every case. Returns the bits to add
 * to the call's result: MACH_MSG_VM_SPACE when a piece could not be mapped (its descriptor
 * then says address 0, size 0). -1: the part is malformed (nothing mapped).
 */
int um_xmem_deliver(void *image, size_t len, const void *part, size_t partlen, int *fds,
                    uint32_t nfds, mach_msg_return_t *bitsp);

/* Fold um_xmem_deliver's bits into a receive's result (MACH_RCV_BODY_ERROR as the core). */
mach_msg_return_t um_xmem_fold_rcv(mach_msg_return_t mr, mach_msg_return_t bits);

/* ---- the daemon ------------------------------------------------------------------------- */

/*
 * What one task's copies in flight hold in the daemon: memfds, against a cap, so that a task
 * cannot use up the daemon's descriptors with messages it queues (the ledger counts bytes, a
 * tiny piece in a memfd of its own costs a descriptor). Reference counted: a queued copy keeps
 * it after its task is gone.
 */
typedef struct um_xmem_owner {
    uint32_t refs;
    uint32_t fds;  /* copies holding a memfd */
    uint32_t max;
} um_xmem_owner;

/* A new owner with one reference, or NULL. */
um_xmem_owner *um_xmem_owner_new(uint32_t max_fds);
void um_xmem_owner_release(um_xmem_owner *owner);

/* The memory of one pending call: what its request brought, what its reply will carry. */
typedef struct um_xmem_call {
    um_xmem_owner *owner;  /* the calling task's (a reference), or NULL: no cap */
    size_t page_size;
    um_xmem_item *in;      /* the request's pieces (copied) */
    uint32_t nin;
    uint32_t cursor;       /* where the next lookup starts (pieces come in descriptor order) */
    uint8_t *used;         /* per piece: taken by the core */
    uint8_t *inbytes;      /* the request's byte area (copied) */
    uint32_t ninbytes;
    um_xfd **infds;        /* the request's memfds, checked (one reference each) */
    uint32_t ninfds;
    um_xmem_out reply;
    uint32_t tokens;       /* tokens handed out for the reply */
    bool lied;             /* the client's part did not match its message: end the task */
} um_xmem_call;

/*
 * Start a call of the task `owner` stands for (NULL: no cap) from a request's memory part
 * (`part`, `len` bytes; empty when len is 0) and its memfds (taken in every case). Checks the
 * structure and every memfd. false: malformed (the task is to end; nothing is kept).
 */
bool um_xmem_call_init(um_xmem_call *c, um_xmem_owner *owner, size_t page_size,
                       const void *part, size_t len, int *fds, uint32_t nfds);
/* The request's pieces are no longer needed (the send is done): release what the core left. */
void um_xmem_call_drop_request(um_xmem_call *c);
/* End the call: release everything, the reply's part included. */
void um_xmem_call_end(um_xmem_call *c);
static inline bool um_xmem_call_lied(const um_xmem_call *c)
{
    return c->lied;
}

/*
 * The task memory operations of a world's daemon (um_task_memops), for the call `c`. copyin
 * returns MACH_MSG_VM_KERNEL when the task's copies in flight hold their cap of memfds.
 */
mach_msg_return_t um_xmem_copyin(um_xmem_call *c, uint64_t addr, uint64_t size, bool physical,
                                 bool dealloc, um_vm_copy **copyp);
bool um_xmem_read(um_xmem_call *c, void *dst, uint64_t src, size_t len);
void um_xmem_unmap(um_xmem_call *c, uint64_t addr, size_t len);
kern_return_t um_xmem_copyout(um_xmem_call *c, um_vm_copy *copy, uint64_t *addrp);
/* A kernel region (`len` bytes) becomes task memory: its bytes go into the reply. 0: no room. */
uint64_t um_xmem_attach(um_xmem_call *c, const void *region, size_t len);
/* The kernel's copy_discard for the daemon's copy objects. NULL is a no-op. */
void um_xmem_copy_discard(um_vm_copy *copy);
/* A copy of the first `size` bytes of `bytes` (the kernel's own memory), or NULL. */
um_vm_copy *um_xmem_copy_of_bytes(const void *bytes, uint64_t size);
/* Read the first `len` bytes of a copy's data (at most its size) into `dst`; false: cannot. */
bool um_xmem_copy_read(const um_vm_copy *copy, void *dst, size_t len);
/* Memfds the daemon holds for copies in flight and calls (for tests and limits). */
uint32_t um_xmem_fds_held(void);

#endif
