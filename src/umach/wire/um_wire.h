/*
 * um_wire.h — the world's wire protocol, version 1 (docs/world.md, "The wire protocol"):
 * what libumach's client front end (src/umach/client/) and umachd (tools/umachd/) say over a
 * SOCK_SEQPACKET connection. Shared by both sides, and by tests that speak it by hand.
 *
 * Every packet, request or reply, is one um_wire_hdr, then `nargs` 64-bit arguments, then
 * `blob_len` bytes: in the packet itself, or, when the flag UM_WIRE_F_MEMFD is set, in a memfd
 * passed with SCM_RIGHTS (payloads larger than UM_WIRE_INLINE_MAX). A reply echoes its
 * request's call and id and carries the result in `kr`. With UM_WIRE_F_XMEM the last
 * `xmem_len` bytes of the blob are a memory part (out-of-line memory, src/umach/vm/um_xmem.h)
 * and the packet's other descriptors (after the blob's memfd, if any) are its memfds.
 *
 * A connection starts with one request: UM_WIRE_HELLO makes a new task (the control
 * connection, whose hang-up ends the task); UM_WIRE_JOIN(secret) makes it a thread connection
 * of the task whose hello gave that secret, when the kernel says (SO_PEERCRED) that its peer
 * is the same process. Calls travel on thread connections, one outstanding request each.
 * Host byte order (the socket never leaves the machine).
 */
#ifndef UM_WIRE_H
#define UM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UM_WIRE_MAGIC 0x756d6331u /* "umc1" */
#define UM_WIRE_VERSION 1u

/* Most arguments a packet carries, and most bytes it carries inline (more: a memfd). */
#define UM_WIRE_MAX_ARGS 16u
#define UM_WIRE_INLINE_MAX (32u * 1024)
/* Most bytes any payload may have (a message's largest send size, with room to spare). */
#define UM_WIRE_BLOB_MAX (64u * 1024 * 1024)

/* Header flags. */
#define UM_WIRE_F_MEMFD 0x1u       /* the blob is in the memfd that came with the packet */
#define UM_WIRE_F_FATAL_GUARD 0x2u /* reply: the call raised a fatal guard exception; the
                                      task is ended (guard_* say which); the client aborts */
#define UM_WIRE_F_RING 0x4u        /* JOIN reply: the connection's ring came with it */
#define UM_WIRE_F_XMEM 0x8u        /* the blob ends with a memory part of xmem_len bytes */
#define UM_WIRE_F_RAISE_GUARD 0x10u /* reply: the call raised a guard exception (guard_* say
                                       which) and the thread or task has an EXC_GUARD port:
                                       the client raises it when the call is over */
#define UM_WIRE_F_RAISE_FATAL 0x20u /* with RAISE_GUARD: a fatal one; the client aborts after
                                       raising it (the task is not ended by the daemon) */

/* UM_WIRE_JOIN flags. */
#define UM_WIRE_JOIN_RING 0x1u /* the client wants a shared-memory ring (um_ring.h) */

/* Most memfds a memory part brings besides the blob's memfd (SCM_RIGHTS takes 253). */
#define UM_WIRE_XMEM_MAX_FDS 252u

typedef struct um_wire_hdr {
    uint32_t magic;
    uint16_t call;     /* UM_WIRE_* */
    uint16_t flags;    /* UM_WIRE_F_* */
    uint32_t nargs;    /* 64-bit arguments that follow */
    uint32_t blob_len; /* bytes after the arguments (or in the memfd) */
    uint64_t id;       /* request id, echoed by the reply */
    int32_t kr;        /* reply: the call's result */
    uint32_t guard_flavor;  /* reply with UM_WIRE_F_FATAL_GUARD or UM_WIRE_F_RAISE_GUARD */
    uint32_t guard_name;
    uint32_t xmem_len;      /* UM_WIRE_F_XMEM: bytes at the end of the blob that are a
                               memory part */
    uint64_t guard_payload;
} um_wire_hdr;

_Static_assert(sizeof(um_wire_hdr) == 48, "um_wire_hdr is 48 bytes on every ABI");

/*
 * Calls. The argument lists are fixed per call (the daemon checks nargs and blob_len against
 * the call before anything else, and ends the task of a client that gets one wrong); the
 * kernel calls' in-arguments are the public function's scalar arguments in order (the task
 * argument first), their out-arguments come back as reply arguments in order, and arrays
 * (MIG out-of-line) in the reply's blob. See tools/umachd/d_calls.c for each call's layout.
 */
enum um_wire_call {
    /* connection set-up and the daemon's own requests */
    UM_WIRE_HELLO = 1,  /* args: flags (UM_WIRE_HELLO_*), table limit, queued-bytes limit,
                           and with UM_WIRE_HELLO_FORKED the fork's token[2];
                           reply args: version, task name, pid, secret[2], bootstrap name;
                           or KERN_RESOURCE_SHORTAGE and no args when the peer's uid has as
                           many tasks as the world allows (umachd --uid-tasks-max) */
    UM_WIRE_JOIN = 2,   /* args: secret[2], and optionally UM_WIRE_JOIN_* flags and then
                           the thread's kernel thread id (a thread's own connection); reply: kr;
                           with UM_WIRE_F_RING the ring's memfd and eventfd (um_ring.h) */
    UM_WIRE_STATS = 3,  /* reply args: tasks alive, names in the caller's space, calls
                           waiting (in the world), open connections, posts taken, window
                           receives, window receives that differed, grants or windows
                           revoked late, calls of the core's change hook (for tests) */
    UM_WIRE_CANCEL = 4, /* cancel the connection's pending request `id` (no reply of its own:
                           the pending request replies, cancelled or not) */
    UM_WIRE_LSMP = 5,   /* args: UM_WIRE_LSMP_*, pid, task; reply blob: lsmp text
                           (tools/umachd/d_lsmp.c) */
    UM_WIRE_BYE = 6,    /* the thread exits: its pending request is dropped without a reply, its
                           thread port dies, then the reply (kr only); the client closes */
    UM_WIRE_FORK = 7,   /* the task is about to fork: its special-port slots are kept for the
                           child; args: none, or UM_WIRE_FORK_* flags; reply args: token[2]
                           (the child's hello presents it) */
    /* mach_msg */
    UM_WIRE_MSG = 10,
    /* kernel calls (dispatch/um_calls.c) */
    UM_WIRE_PORT_ALLOCATE = 20,
    UM_WIRE_PORT_ALLOCATE_NAME,
    UM_WIRE_PORT_CONSTRUCT,
    UM_WIRE_PORT_DESTRUCT,
    UM_WIRE_PORT_DEALLOCATE,
    UM_WIRE_PORT_DESTROY,
    UM_WIRE_PORT_MOD_REFS,
    UM_WIRE_PORT_GET_REFS,
    UM_WIRE_PORT_TYPE,
    UM_WIRE_PORT_NAMES,
    UM_WIRE_PORT_INSERT_RIGHT,
    UM_WIRE_PORT_EXTRACT_RIGHT,
    UM_WIRE_PORT_GET_ATTRIBUTES,
    UM_WIRE_PORT_SET_ATTRIBUTES,
    UM_WIRE_PORT_SET_MSCOUNT,
    UM_WIRE_PORT_SET_SEQNO,
    UM_WIRE_PORT_GET_CONTEXT,
    UM_WIRE_PORT_SET_CONTEXT,
    UM_WIRE_PORT_GUARD,
    UM_WIRE_PORT_GUARD_WITH_FLAGS,
    UM_WIRE_PORT_UNGUARD,
    UM_WIRE_PORT_SWAP_GUARD,
    UM_WIRE_PORT_INSERT_MEMBER,
    UM_WIRE_PORT_EXTRACT_MEMBER,
    UM_WIRE_PORT_MOVE_MEMBER,
    UM_WIRE_PORT_GET_SET_STATUS,
    UM_WIRE_PORT_REQUEST_NOTIFICATION,
    UM_WIRE_PORT_PEEK,
    UM_WIRE_PORT_SPACE_INFO,
    UM_WIRE_TASK_INFO,
    UM_WIRE_TASK_GET_SPECIAL_PORT,
    UM_WIRE_TASK_SET_SPECIAL_PORT,
    UM_WIRE_TASK_CHECK,
    UM_WIRE_TASK_GET_EXC_GUARD,
    UM_WIRE_TASK_SET_EXC_GUARD,
    UM_WIRE_EXC_PORTS, /* args: thread?, target, op (um_exc_op), mask, new port, behaviour,
                          flavour, room; reply args: count; blob: count entries of four 32-bit
                          words: mask, name, behaviour, flavour */
    /* kernel objects (tools/umachd/d_kobjects.c) */
    UM_WIRE_THREAD_SELF,              /* args: none (the calling thread), or the kernel
                                         thread id of another thread of the task (its
                                         connection's JOIN said it); reply args: the thread
                                         port's name */
    UM_WIRE_HOST_SELF,                /* reply args: the host port's name */
    UM_WIRE_THREAD_GET_SPECIAL_PORT,  /* args: thread, which; reply args: port */
    UM_WIRE_KOBJECT_CHECK,            /* args: name, kotype; kr: the translation's result */
    UM_WIRE_SEMAPHORE_CREATE,         /* args: task, policy, value; reply args: name */
    UM_WIRE_SEMAPHORE_DESTROY,        /* args: task, semaphore */
    UM_WIRE_SEMAPHORE_SIGNAL,         /* args: semaphore, all */
    UM_WIRE_SEMAPHORE_WAIT,           /* args: wait, signal (or 0), timeout in ns (UINT64_MAX:
                                         none); may wait (a deferred reply); CANCEL makes it
                                         KERN_ABORTED */
    UM_WIRE_TIMER_CREATE,             /* reply args: name */
    UM_WIRE_TIMER_DESTROY,            /* args: name */
    UM_WIRE_TIMER_ARM,                /* args: name, deadline (mach_absolute_time) */
    UM_WIRE_TIMER_CANCEL,             /* args: name; reply args: the deadline it was armed for */
    UM_WIRE_MEM_ENTRY_CREATE,         /* args: offset, size, prot, is_copy, purgable; the entry's
                                         memfd is the memory part's one descriptor (a part of
                                         no pieces); reply args: name */
    UM_WIRE_MEM_ENTRY_GET,            /* args: name; kr: the lookup's; reply args: offset,
                                         size, prot, is_copy, purgable, dead name; on success
                                         the memfd as the part's one descriptor */
    UM_WIRE_MEM_ENTRY_PURGABLE,       /* args: name, control, state; reply args: state */
    UM_WIRE_THREAD_PORTS,             /* task_threads: blob: the process's live threads, each
                                         its kernel thread id and start time (two 64-bit
                                         words); reply blob: a send right's name (32 bits) to
                                         each one's port, in that order */
    UM_WIRE_THREAD_GONE,              /* args: kernel thread id, start time: the thread a port
                                         was made for by THREAD_PORTS has ended */
    UM_WIRE_TASK_SUSPEND,             /* args: task (task_suspend) */
    UM_WIRE_TASK_RESUME,              /* args: task (task_resume) */
    UM_WIRE_TASK_TERMINATE,           /* args: task (task_terminate) */
    UM_WIRE_TASK_SUSPEND2,            /* args: task; reply args: the token's name */
    UM_WIRE_THREAD_WHO,               /* args: a thread port's name; kr: KERN_INVALID_ARGUMENT
                                         when it is none of the task's threads; reply args:
                                         kernel thread id, start time, made by THREAD_PORTS */
    UM_WIRE_CALL_END
};

/* UM_WIRE_LSMP: whose port space (tools/umachd/d_lsmp.c). */
enum { UM_WIRE_LSMP_SELF = 0, UM_WIRE_LSMP_PID = 1, UM_WIRE_LSMP_ALL = 2 };

/* UM_WIRE_HELLO flags: the client's own policy for its task (embedded mode's variables). */
#define UM_WIRE_HELLO_GUARD_NONFATAL 0x1u /* UMACH_GUARD_NONFATAL */
#define UM_WIRE_HELLO_GUARD_LOG 0x2u      /* UMACH_GUARD_LOG (the daemon logs to its stderr) */
#define UM_WIRE_HELLO_FORKED 0x4u         /* a forked child: args 3 and 4 are the token its
                                             parent's UM_WIRE_FORK got */

/* UM_WIRE_FORK flags. */
#define UM_WIRE_FORK_SPAWN 0x1u /* the token travels in the environment (posix_spawn): a process
                                   the child's non-task descendants start may present it too
                                   (tools/umachd/d_fork.c) */

/*
 * UM_WIRE_MSG. Request args: option, send size, receive size, receive name, timeout, the
 * send buffer's address, the receive buffer's address, UM_WIRE_MSG_* flags; blob: the send
 * buffer's bytes (send size of them) when the client could read them.
 * Reply: kr; args: where the bytes go (UM_WIRE_OUT_*), the number of segments (at most 2),
 * then (offset, length) per segment; blob: the segments' bytes one after the other.
 */
#define UM_WIRE_MSG_NARGS 8u
#define UM_WIRE_MSG_UNREADABLE 0x1u /* the send buffer faulted: no bytes (SEND_INVALID_DATA) */
#define UM_WIRE_MSG_NO_POST 0x2u    /* the client posts no sends: this one earns no grant */
#define UM_WIRE_MSG_NO_WINDOW 0x4u  /* the client uses no windows: this receive opens none */
#define UM_WIRE_MSG_KERNEL_REPLY 0x8u /* the reply to a mach_vm request the client served on its
                                         own task port (um_vm_mig_local): one that cannot be
                                         queued is destroyed and the send succeeds
                                         (um_msg_send_state.kernel_reply) */
#define UM_WIRE_MSG_CRED_GEN_SHIFT 32 /* high half of the flags: the client's credential
                                         generation (a change makes the daemon re-read the
                                         process's credentials) */
enum { UM_WIRE_OUT_NONE = 0, UM_WIRE_OUT_SEND_BUF = 1, UM_WIRE_OUT_RCV_BUF = 2 };

/* ---- packets (um_wire.c; both sides) ---------------------------------------------------- */

/* A received packet: the header, its arguments, and its blob (owned by the packet). */
typedef struct um_wire_pkt {
    um_wire_hdr h;
    uint64_t args[UM_WIRE_MAX_ARGS];
    uint8_t *blob;  /* blob_len bytes, or NULL when 0 */
    bool blob_heap; /* blob was malloc'd (a memfd's contents) rather than in `buf` */
    /* UM_WIRE_F_XMEM: the memory part's descriptors, the packet's until taken (set nfds to
     * 0 after taking them); um_wire_pkt_free closes the rest. */
    uint32_t nfds;
    int fds[UM_WIRE_XMEM_MAX_FDS];
} um_wire_pkt;

/* Per-receiver scratch space for one packet received inline. */
typedef struct um_wire_buf {
    uint8_t bytes[sizeof(um_wire_hdr) + UM_WIRE_MAX_ARGS * 8 + UM_WIRE_INLINE_MAX];
} um_wire_buf;

/*
 * Send one packet (h->nargs, h->blob_len already set) without SIGPIPE; a blob larger than
 * UM_WIRE_INLINE_MAX goes in a memfd. 0, or -errno (-EPIPE / -ECONNRESET: the peer is gone).
 * Blocks only as a blocking socket does (the daemon's sockets are non-blocking: -EAGAIN).
 */
int um_wire_send(int fd, um_wire_hdr *h, const uint64_t *args, const void *blob);
/*
 * The same with a memory part: the last `xmem_len` bytes of `blob` (UM_WIRE_F_XMEM is set
 * when xmem_len is not 0) and its `nfds` descriptors (passed, not taken).
 */
int um_wire_send_xmem(int fd, um_wire_hdr *h, const uint64_t *args, const void *blob,
                      uint32_t xmem_len, const int *fds, uint32_t nfds);

/*
 * Receive one packet into `p`, checking its shape: the magic, nargs ≤ UM_WIRE_MAX_ARGS, the
 * length the packet has against the lengths the header says, and a memfd's size (fstat) at
 * least blob_len ≤ `blob_max`; its contents are read (never mapped: a client may truncate
 * it). Other descriptors only with UM_WIRE_F_XMEM (and xmem_len ≤ blob_len): p->fds.
 * `flags`: recvmsg flags (MSG_DONTWAIT). Returns 1 for a packet, 0 for hang-up,
 * -EAGAIN / -EINTR, -EPROTO for a malformed packet, other -errno. um_wire_pkt_free after.
 */
int um_wire_recv(int fd, um_wire_buf *buf, um_wire_pkt *p, uint32_t blob_max, int flags);
/*
 * The checks um_wire_recv makes, of a packet that arrived as `n` bytes at `bytes` with
 * descriptor `memfd` (-1: none came; consumed in every case): 1 and `p` filled (its blob
 * points into `bytes`, or is a copy of the memfd's contents), or -EPROTO. No socket needed:
 * umachd's fuzz target (fuzz/fuzz_umachd.c) feeds it arbitrary bytes.
 */
int um_wire_decode(const uint8_t *bytes, size_t n, int memfd, um_wire_pkt *p, uint32_t blob_max);
/*
 * The same with the `nfds` descriptors that came (all consumed: the blob's memfd first when
 * UM_WIRE_F_MEMFD says so, the rest only with UM_WIRE_F_XMEM, into p->fds).
 */
int um_wire_decode_fds(const uint8_t *bytes, size_t n, const int *fds, uint32_t nfds,
                       um_wire_pkt *p, uint32_t blob_max);
void um_wire_pkt_free(um_wire_pkt *p);

/*
 * A packet with descriptors beside it (the JOIN reply's ring: um_ring.h). Send: `nfds`
 * (at most UM_WIRE_MAX_FDS) descriptors, stay the caller's; the blob travels inline only.
 * Receive: as um_wire_recv for an inline packet, and up to `max_fds` descriptors into `fds`
 * (*nfds of them, the caller's to close; more than max_fds: -EPROTO, none kept).
 */
#define UM_WIRE_MAX_FDS 4
int um_wire_send_fds(int fd, um_wire_hdr *h, const uint64_t *args, const void *blob,
                     const int *fds, unsigned nfds);
int um_wire_recv_fds(int fd, um_wire_buf *buf, um_wire_pkt *p, int *fds, unsigned max_fds,
                     unsigned *nfds);

#endif
