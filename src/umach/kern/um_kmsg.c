/*
 * um_kmsg.c — copying messages in from a sender and out to a receiver.
 *
 * Copyin validates in XNU's order (ipc_kmsg.c, mach_msg.c, ipc_policy.c): sizes, then every
 * descriptor's type, size, copy option and guard flags, then the limits on rights and
 * copied memory, then the header (bits, reply, voucher, destination), and only then takes
 * rights: the header's first, the descriptors' in order. So a size, type, header or
 * destination error consumes nothing, and a bad right or bad memory in the body consumes the
 * header's rights and everything the earlier descriptors carried.
 *
 * Out-of-line memory is a copy object of the front end's (um_vm_copy, XNU's vm_map_copy_t):
 * the sending task's `copyin` memory operation makes it (a snapshot, or a move with
 * deallocate = TRUE), the receiving task's `copyout` maps it, and the kernel's `copy_discard`
 * destroys one that is not delivered. How the pages travel (shared copy-on-write, moved,
 * copied) is the front end's business (embedded mode: src/umach/vm/um_regions.h); as on XNU,
 * large virtual copies and large moves keep the sender's offset within the first page,
 * everything else arrives page-aligned. Sender memory is read and unmapped, and receiver
 * memory handed over, only through the task's memory operations (um_task_memops): an
 * unreadable range is reported as MACH_SEND_INVALID_MEMORY instead of crashing, and the same
 * code serves a task in another process.
 */
#include "um_kmsg.h"

#include <stdatomic.h>
#include <threads.h>

#include <mach/mach.h>

#include <stdlib.h>
#include <string.h>

/* Darwin's threshold above which non-deallocated physical copies count against VM space. */
#define UM_OOL_SIZE_SMALL (32u * 1024)

static inline uint64_t page_mask(const um_kernel *kernel)
{
    return (uint64_t)kernel->page_size - 1;
}

static inline uint64_t round_page64(const um_kernel *kernel, uint64_t x)
{
    return (x + page_mask(kernel)) & ~page_mask(kernel);
}

/* Remove [addr, addr + size) of the task's memory, whole pages (vm_deallocate's effect). */
static void unmap_range(um_task *task, uint64_t addr, uint64_t size)
{
    uint64_t end = addr + size;
    if (size == 0 || end < addr)
        return;
    uint64_t start = addr & ~page_mask(task->kernel);
    end = round_page64(task->kernel, end);
    task->mem->unmap(task, start, (size_t)(end - start));
}

/* ---- tokens and trailers ---------------------------------------------------------------- */

const uint8_t um_trailer_sizes[16] = {
    [MACH_RCV_TRAILER_NULL] = sizeof(mach_msg_trailer_t),
    [MACH_RCV_TRAILER_SEQNO] = sizeof(mach_msg_seqno_trailer_t),
    [MACH_RCV_TRAILER_SENDER] = sizeof(mach_msg_security_trailer_t),
    [MACH_RCV_TRAILER_AUDIT] = sizeof(mach_msg_audit_trailer_t),
    [MACH_RCV_TRAILER_CTX] = sizeof(mach_msg_context_trailer_t),
    [MACH_RCV_TRAILER_AV] = sizeof(mach_msg_mac_trailer_t),
    /* the others (LABELS, and values without a name): the largest */
    [5] = sizeof(mach_msg_max_trailer_t), [6] = sizeof(mach_msg_max_trailer_t),
    [8] = sizeof(mach_msg_max_trailer_t),
    [9] = sizeof(mach_msg_max_trailer_t), [10] = sizeof(mach_msg_max_trailer_t),
    [11] = sizeof(mach_msg_max_trailer_t), [12] = sizeof(mach_msg_max_trailer_t),
    [13] = sizeof(mach_msg_max_trailer_t), [14] = sizeof(mach_msg_max_trailer_t),
    [15] = sizeof(mach_msg_max_trailer_t),
};
_Static_assert(sizeof(mach_msg_max_trailer_t) <= UINT8_MAX, "trailer sizes fit a byte");

UM_HOT void um_trailer_write(void *at, mach_msg_option_t option, mach_port_seqno_t seqno,
                      const security_token_t *sec, const audit_token_t *audit, uint64_t context)
{
    /*
     * Once per received message: the default trailer (type and size) is stored as it is,
     * without building a full one on the stack first (clearing it and copying it back out
     * through differently sized moves cost more than the rest of the receive's bookkeeping).
     */
    if (GET_RCV_ELEMENTS(option) == MACH_RCV_TRAILER_NULL) {
        const mach_msg_trailer_t t = {MACH_MSG_TRAILER_FORMAT_0, sizeof(mach_msg_trailer_t)};
        memcpy(at, &t, sizeof t);
        return;
    }
    mach_msg_size_t size = um_trailer_size(option);
    mach_msg_max_trailer_t t;
    t.msgh_trailer_type = MACH_MSG_TRAILER_FORMAT_0;
    t.msgh_trailer_size = size;
    t.msgh_seqno = seqno;
    t.msgh_sender = *sec;
    t.msgh_audit = *audit;
    t.msgh_context = context;
    t.msgh_ad = 0;
    t.msgh_labels.sender = 0;
    memcpy(at, &t, size);
}

/* ---- destruction --------------------------------------------------------------------------- */

static void kdesc_clean(um_kernel *kernel, um_kdesc *d)
{
    switch (d->type) {
    case MACH_MSG_PORT_DESCRIPTOR:
        um_right_release(d->u.port.port, d->u.port.disp);
        d->u.port.port = NULL;
        break;
    case MACH_MSG_OOL_DESCRIPTOR:
    case MACH_MSG_OOL_VOLATILE_DESCRIPTOR:
        if (d->u.ool.vmc)
            kernel->ops->copy_discard(kernel, d->u.ool.vmc);
        d->u.ool.vmc = NULL;
        break;
    case MACH_MSG_OOL_PORTS_DESCRIPTOR:
        for (uint32_t i = 0; i < d->u.oolp.count; i++)
            um_right_release(d->u.oolp.ports[i], d->u.oolp.disp);
        free(d->u.oolp.ports);
        d->u.oolp.ports = NULL;
        d->u.oolp.count = 0;
        break;
    case MACH_MSG_GUARDED_PORT_DESCRIPTOR:
        um_right_release(d->u.guarded.port, d->u.guarded.disp);
        d->u.guarded.port = NULL;
        break;
    default:
        break;
    }
}

/*
 * Small user messages are recycled. A kmsg is allocated by the sending thread and freed by
 * the receiving one: through malloc that is the slow cross-thread path, and a queue of them
 * makes the heap grow and shrink. Freed small kmsgs go onto one lock-free stack (push only:
 * a CAS push is safe against ABA); a sending thread takes the whole stack at once into its
 * own list when that list runs dry, and gives its lists back to the stack when it exits.
 * A freeing thread gathers up to UM_KMSG_BATCH of them first and pushes them with one CAS
 * (atomic operations were a tenth of a message's cost); a thread that sends and receives
 * itself takes its own gathered ones before the stack.
 */
#define UM_KMSG_SMALL_BYTES 512u
#define UM_KMSG_RECYCLE_MAX 4096u
#define UM_KMSG_BATCH 32u

static um_kmsg *_Atomic um_kmsg_recycled;
static atomic_uint um_kmsg_nrecycled; /* about how many are on the stack (a soft cap) */

typedef struct kmsg_lists {
    um_kmsg *mine;      /* taken from the stack, for this thread's sends */
    um_kmsg *freed;     /* freed by this thread, not yet pushed */
    um_kmsg *freed_tail;
    unsigned nfreed;
    bool registered;    /* the thread-exit destructor knows these lists */
} kmsg_lists;

static _Thread_local kmsg_lists um_kmsg_lists;
static tss_t um_kmsg_key;
static once_flag um_kmsg_key_once = ONCE_FLAG_INIT;

/* Push the chain first..last (linked through next) onto the stack. */
static void kmsg_push_chain(um_kmsg *first, um_kmsg *last)
{
    um_kmsg *head = atomic_load_explicit(&um_kmsg_recycled, memory_order_relaxed);
    do {
        last->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&um_kmsg_recycled, &head, first,
                                                    memory_order_release,
                                                    memory_order_relaxed));
}

/*
 * Give the chain first..last of n small kmsgs back to the stack, or to malloc when the stack
 * already holds about UM_KMSG_RECYCLE_MAX. Every path that returns kmsgs counts them, so
 * threads that come and go cannot grow the stack past its cap.
 */
static void kmsg_give_back(um_kmsg *first, um_kmsg *last, unsigned n)
{
    if (atomic_fetch_add_explicit(&um_kmsg_nrecycled, n, memory_order_relaxed) <
        UM_KMSG_RECYCLE_MAX) {
        kmsg_push_chain(first, last);
        return;
    }
    atomic_fetch_sub_explicit(&um_kmsg_nrecycled, n, memory_order_relaxed);
    for (um_kmsg *k = first, *next; k; k = next) {
        next = k == last ? NULL : k->next;
        free(k);
    }
}

/*
 * A thread that exits gives its lists back (`arg` points at its kmsg_lists). A message freed
 * by a later thread-exit destructor (the MIG reply port's destroys what is queued on it)
 * registers the lists again, and the C library calls this once more.
 */
static void kmsg_thread_exit(void *arg)
{
    kmsg_lists *l = arg;
    if (l->mine) {
        um_kmsg *last = l->mine;
        unsigned n = 1;
        while (last->next) {
            last = last->next;
            n++;
        }
        kmsg_give_back(l->mine, last, n);
    }
    l->mine = NULL;
    if (l->freed)
        kmsg_give_back(l->freed, l->freed_tail, l->nfreed);
    l->freed = l->freed_tail = NULL;
    l->nfreed = 0;
    l->registered = false;
}

static void kmsg_key_init(void);

static void kmsg_lists_register(kmsg_lists *l)
{
    if (!l->registered) {
        call_once(&um_kmsg_key_once, kmsg_key_init);
        (void)tss_set(um_kmsg_key, l);
        l->registered = true;
    }
}

static void kmsg_key_init(void)
{
    (void)tss_create(&um_kmsg_key, kmsg_thread_exit);
}

/*
 * The fields of a fresh kmsg that are read before um_kmsg_prepare and copy-in set them: what
 * kmsg_free looks at (a prepare or a copy-in may fail), the list link, and the flags only
 * the general copy-in path sets. Prepare sets size, body, ndesc, charge, kernel and shape;
 * copy-in sets bits, dest, reply, voucher_raw and id before anything reads them (a failure
 * before that frees the kmsg with kmsg_free, which does not look at them); the send stamps
 * the tokens; kmsg_alloc sets `small`. One store each: a memset of the struct compiles to
 * `rep stos`, whose start-up cost was 8% of a message's CPU time. A recycled kmsg needs none
 * of it: kmsg_free leaves the fields so before it puts a small kmsg on a list (the link is
 * written whenever it is read: a queue's, a destroy list's, a free list's).
 */
_Static_assert(sizeof(um_kmsg) == 152, "um_kmsg changed: see who sets the new field (kmsg_clear)");
static inline void kmsg_clear(um_kmsg *k)
{
    k->next = NULL;
    k->desc = NULL;
    k->sp_notify = false;
    k->circular = false;
    k->offsets = NULL;
    k->ledger = NULL;
}

UM_HOT_STATIC um_kmsg *kmsg_alloc(size_t bytes)
{
    um_kmsg *k;
    if (bytes > UM_KMSG_SMALL_BYTES) {
        k = malloc(bytes);
        if (k) {
            kmsg_clear(k);
            k->small = false;
        }
        return k;
    }
    kmsg_lists *l = &um_kmsg_lists;
    if (!l->mine && l->freed) {
        l->mine = l->freed; /* this thread's own frees, no atomic needed */
        l->freed = l->freed_tail = NULL;
        l->nfreed = 0;
    }
    if (!l->mine) {
        l->mine = atomic_exchange_explicit(&um_kmsg_recycled, NULL, memory_order_acquire);
        if (l->mine) {
            /* Taken as a whole: the count restarts (pushes racing with this are forgiven). */
            atomic_store_explicit(&um_kmsg_nrecycled, 0, memory_order_relaxed);
            kmsg_lists_register(l);
        }
    }
    if (l->mine) {
        k = l->mine; /* small, and cleared by kmsg_free */
        l->mine = k->next;
    } else {
        k = malloc(UM_KMSG_SMALL_BYTES);
        if (k) {
            kmsg_clear(k);
            k->small = true;
        }
    }
    return k;
}

UM_HOT_STATIC void kmsg_free(um_kmsg *kmsg)
{
    um_kmsg_uncharge(kmsg); /* ledger NULL */
    if (kmsg->offsets) { /* most messages have no descriptors: spare the calls */
        free(kmsg->offsets);
        kmsg->offsets = NULL;
    }
    if (kmsg->desc) {
        free(kmsg->desc);
        kmsg->desc = NULL;
    }
    if (!kmsg->small) {
        free(kmsg);
        return;
    }
    /* The rest of kmsg_clear, for its next use (kmsg_alloc). */
    kmsg->sp_notify = false;
    kmsg->circular = false;
    kmsg_lists *l = &um_kmsg_lists;
    kmsg_lists_register(l); /* gathered ones go back to the stack when the thread exits */
    if (!l->mine) {
        /*
         * This thread's next send takes it (a thread that sends and receives, or completes
         * the receives of what it sent, reuses one kmsg while it is still in its cache); at
         * most one so kept by a thread that only receives.
         */
        kmsg->next = NULL;
        l->mine = kmsg;
        return;
    }
    kmsg->next = l->freed;
    if (!l->freed)
        l->freed_tail = kmsg;
    l->freed = kmsg;
    if (++l->nfreed < UM_KMSG_BATCH)
        return;
    um_kmsg *first = l->freed, *last = l->freed_tail;
    unsigned n = l->nfreed;
    l->freed = l->freed_tail = NULL;
    l->nfreed = 0;
    kmsg_give_back(first, last, n);
}

um_kmsg *um_kmsg_reserve_small(void)
{
    um_kmsg *k = kmsg_alloc(sizeof *k + UM_KMSG_STORAGE(0));
    if (k) {
        k->ledger = NULL;
        k->offsets = NULL;
        k->desc = NULL;
    }
    return k;
}

void um_kmsg_reserve_free(um_kmsg *k)
{
    if (k)
        kmsg_free(k);
}

/*
 * Destruction is iterative, as XNU's ipc_kmsg_delayed_destroy / ipc_kmsg_reap_delayed: a
 * message may carry a receive right, whose port's queue may hold messages carrying receive
 * rights, and so on without bound. Destroying a message therefore only appends it to this
 * thread's list of messages to destroy; the call that found the list empty (the outermost
 * one) drains it. A message stays at the head of the list while it is cleaned, so every
 * destruction it causes (ports dying, their queues, notifications that cannot be delivered)
 * lands on the list behind it instead of on the C stack. The list is per thread, like XNU's
 * ith_messages: it is always empty when the outermost call returns, hence between calls.
 */
static _Thread_local um_kmsg *um_reap_head, *um_reap_tail;

bool um_kmsg_delayed_destroy_queue(um_kmsg *head, um_kmsg *tail)
{
    if (!head)
        return false;
    bool first = um_reap_head == NULL;
    tail->next = NULL;
    if (um_reap_tail)
        um_reap_tail->next = head;
    else
        um_reap_head = head;
    um_reap_tail = tail;
    return first;
}

void um_kmsg_reap_delayed(void)
{
    um_kmsg *k;
    while ((k = um_reap_head) != NULL) {
        /* The destination right is released last: it keeps the port alive for the others. */
        um_port *dest = k->dest;
        mach_msg_type_name_t dest_type = MACH_MSGH_BITS_REMOTE(k->bits);
        k->dest = NULL;
        um_right_release(k->reply, MACH_MSGH_BITS_LOCAL(k->bits));
        k->reply = NULL;
        for (uint32_t i = 0; i < k->ndesc; i++)
            kdesc_clean(k->kernel, &k->desc[i]);
        um_right_release(dest, dest_type);
        /* Only now leave the list: whatever the cleaning destroyed queued up behind us. */
        um_reap_head = k->next;
        if (!um_reap_head)
            um_reap_tail = NULL;
        kmsg_free(k);
    }
}

void um_kmsg_destroy(um_kmsg *kmsg)
{
    if (um_kmsg_delayed_destroy_queue(kmsg, kmsg))
        um_kmsg_reap_delayed();
}

/* ---- copyin ---------------------------------------------------------------------------------- */

static inline uint8_t udesc_type(const uint8_t *u)
{
    return u[11];
}

static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The user descriptor layouts (LP64), read field by field: they are 4-byte packed. */
typedef struct {
    uint64_t address;
    uint32_t size_or_count;
    uint8_t dealloc, copy, disp, type;
} ool_fields;

static ool_fields read_ool(const uint8_t *u)
{
    ool_fields f;
    f.address = rd64(u);
    f.dealloc = u[8];
    f.copy = u[9];
    f.disp = u[10];
    f.type = u[11];
    f.size_or_count = rd32(u + 12);
    return f;
}

/* Validate descriptor types and sizes and count rights and copied memory (no side effects). */
static mach_msg_return_t measure_descriptors(const uint8_t *msg, mach_msg_size_t size,
                                             uint32_t count, uint32_t *offsets)
{
    uint32_t pos = sizeof(mach_msg_base_t);
    for (uint32_t i = 0; i < count; i++) {
        if (pos + 12 > size)
            return MACH_SEND_MSG_TOO_SMALL;
        uint8_t t = udesc_type(msg + pos);
        uint32_t dsize;
        switch (t) {
        case MACH_MSG_PORT_DESCRIPTOR:
            dsize = 12;
            break;
        case MACH_MSG_OOL_DESCRIPTOR:
        case MACH_MSG_OOL_PORTS_DESCRIPTOR:
        case MACH_MSG_OOL_VOLATILE_DESCRIPTOR:
        case MACH_MSG_GUARDED_PORT_DESCRIPTOR:
            dsize = 16;
            break;
        default:
            return MACH_SEND_INVALID_TYPE;
        }
        offsets[i] = pos;
        pos += dsize;
        if (pos > size)
            return MACH_SEND_MSG_TOO_SMALL;
    }
    return MACH_MSG_SUCCESS;
}

static mach_msg_return_t inflate_descriptor(const um_kernel *kernel, const uint8_t *u,
                                            uint64_t *ports, uint64_t *vm)
{
    switch (udesc_type(u)) {
    case MACH_MSG_PORT_DESCRIPTOR:
        *ports += 1;
        return MACH_MSG_SUCCESS;
    case MACH_MSG_OOL_DESCRIPTOR:
    case MACH_MSG_OOL_VOLATILE_DESCRIPTOR: {
        ool_fields f = read_ool(u);
        if (f.copy != MACH_MSG_PHYSICAL_COPY && f.copy != MACH_MSG_VIRTUAL_COPY)
            return MACH_SEND_INVALID_TYPE;
        if (f.size_or_count > UM_OOL_SIZE_SMALL && f.copy == MACH_MSG_PHYSICAL_COPY && !f.dealloc)
            *vm += round_page64(kernel, f.size_or_count);
        return MACH_MSG_SUCCESS;
    }
    case MACH_MSG_OOL_PORTS_DESCRIPTOR:
        *ports += read_ool(u).size_or_count;
        return MACH_MSG_SUCCESS;
    case MACH_MSG_GUARDED_PORT_DESCRIPTOR: {
        *ports += 1;
        uint64_t context = rd64(u);
        uint16_t flags;
        memcpy(&flags, u + 8, 2);
        if (u[10] != MACH_MSG_TYPE_MOVE_RECEIVE)
            return MACH_SEND_INVALID_TYPE;
        if (!flags || (flags & ~MACH_MSG_GUARD_FLAGS_MASK) ||
            ((flags & MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND) && context != 0))
            return MACH_SEND_INVALID_TYPE;
        return MACH_MSG_SUCCESS;
    }
    default:
        return MACH_SEND_INVALID_TYPE;
    }
}

#define UM_TYPE_PORT_ANY_SEND(x)                                                               \
    ((x) >= MACH_MSG_TYPE_MOVE_SEND && (x) <= MACH_MSG_TYPE_MAKE_SEND_ONCE)

typedef struct {
    mach_port_name_t dest_name, reply_name, voucher_name;
    mach_msg_type_name_t dest_type, reply_type, voucher_type;
    uint32_t dest_request; /* the sender's request slot on the destination, if any */
} hdr_state;

/* The names and types of a header that header_validate accepted. */
static inline void header_fields(const mach_msg_header_t *h, mach_msg_bits_t bits, hdr_state *st)
{
    st->reply_name = h->msgh_local_port;
    st->reply_type = MACH_MSGH_BITS_LOCAL(bits);
    st->voucher_type = MACH_MSGH_BITS_VOUCHER(bits);
    st->voucher_name = st->voucher_type ? h->msgh_voucher_port : MACH_PORT_NULL;
    st->dest_name = h->msgh_remote_port;
    st->dest_type = MACH_MSGH_BITS_REMOTE(bits);
    st->dest_request = 0;
}

UM_HOT_STATIC mach_msg_return_t header_validate(const mach_msg_header_t *h, mach_msg_bits_t bits,
                                         hdr_state *st)
{
    st->reply_name = h->msgh_local_port;
    st->reply_type = MACH_MSGH_BITS_LOCAL(bits);
    if (st->reply_type == 0) {
        if (st->reply_name != MACH_PORT_NULL)
            return MACH_SEND_INVALID_HEADER;
    } else if (!UM_TYPE_PORT_ANY_SEND(st->reply_type)) {
        return MACH_SEND_INVALID_HEADER;
    }
    st->voucher_name = MACH_PORT_NULL;
    st->voucher_type = MACH_MSGH_BITS_VOUCHER(bits);
    switch (st->voucher_type) {
    case 0:
        break;
    case MACH_MSG_TYPE_MOVE_SEND:
    case MACH_MSG_TYPE_COPY_SEND:
        st->voucher_name = h->msgh_voucher_port;
        if (st->voucher_name != MACH_PORT_DEAD)
            break;
        return MACH_SEND_INVALID_VOUCHER;
    default:
        return MACH_SEND_INVALID_VOUCHER;
    }
    st->dest_name = h->msgh_remote_port;
    st->dest_type = MACH_MSGH_BITS_REMOTE(bits);
    if (!UM_TYPE_PORT_ANY_SEND(st->dest_type))
        return MACH_SEND_INVALID_HEADER;
    if (!MACH_PORT_VALID(st->dest_name))
        return MACH_SEND_INVALID_DEST;
    if (st->dest_name == st->voucher_name && st->dest_type != MACH_MSG_TYPE_MOVE_SEND &&
        st->dest_type != MACH_MSG_TYPE_COPY_SEND)
        return MACH_SEND_INVALID_DEST;
    if (st->dest_name == st->reply_name && (st->dest_type == MACH_MSG_TYPE_MOVE_SEND_ONCE ||
                                            st->reply_type == MACH_MSG_TYPE_MOVE_SEND_ONCE))
        return MACH_SEND_INVALID_DEST;
    if (MACH_PORT_VALID(st->reply_name) && st->reply_name == st->voucher_name)
        return MACH_SEND_INVALID_REPLY;
    return MACH_MSG_SUCCESS;
}

/*
 * The commonest headers, which header_validate accepts: no voucher right, a destination
 * right of any send kind under a valid name, and no reply right (its name null) or one of any
 * send kind under another name. false says only "not sure": header_validate then decides.
 */
UM_HOT_STATIC bool header_plain(const mach_msg_header_t *h, mach_msg_bits_t bits)
{
    mach_msg_type_name_t reply_type = MACH_MSGH_BITS_LOCAL(bits);
    return MACH_MSGH_BITS_VOUCHER(bits) == 0 && UM_TYPE_PORT_ANY_SEND(MACH_MSGH_BITS_REMOTE(bits)) &&
           MACH_PORT_VALID(h->msgh_remote_port) &&
           (reply_type == 0 ? h->msgh_local_port == MACH_PORT_NULL
                            : UM_TYPE_PORT_ANY_SEND(reply_type) &&
                                  h->msgh_local_port != h->msgh_remote_port);
}

/* Would copying in the reply right succeed? (XNU's ipc_right_copyin_check_reply) */
static bool reply_ok(const um_entry *re, mach_msg_type_name_t reply_type)
{
    mach_port_type_t t = re->type;
    switch (reply_type) {
    case MACH_MSG_TYPE_MAKE_SEND:
    case MACH_MSG_TYPE_MAKE_SEND_ONCE:
        return (t & MACH_PORT_TYPE_RECEIVE) != 0;
    case MACH_MSG_TYPE_COPY_SEND:
    case MACH_MSG_TYPE_MOVE_SEND:
    case MACH_MSG_TYPE_MOVE_SEND_ONCE: {
        if (t & MACH_PORT_TYPE_DEAD_NAME)
            return true;
        if (!(t & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)))
            return false;
        const um_port *p = (const um_port *)re->object;
        if (!p->active)
            return true;
        if (reply_type == MACH_MSG_TYPE_MOVE_SEND_ONCE)
            return (t & MACH_PORT_TYPE_SEND_ONCE) != 0;
        return (t & MACH_PORT_TYPE_SEND) != 0;
    }
    default:
        return false;
    }
}

/* Copy in the destination, reply and voucher rights. Nothing is consumed on failure. */
static mach_msg_return_t header_rights(um_space *space, hdr_state *st, um_port **destp,
                                       um_port **replyp)
{
    if (st->voucher_name != MACH_PORT_NULL) {
        /* umach has no voucher objects: no name can denote one. */
        return MACH_SEND_INVALID_VOUCHER;
    }
    um_entry *de = um_entry_lookup(space, st->dest_name);
    if (!de || !(de->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE |
                             MACH_PORT_TYPE_SEND_ONCE)))
        return MACH_SEND_INVALID_DEST;
    if (MACH_PORT_VALID(st->reply_name)) {
        um_entry *re = st->reply_name == st->dest_name ? de
                                                       : um_entry_lookup(space, st->reply_name);
        if (!re || !(re->type & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE |
                                 MACH_PORT_TYPE_SEND_ONCE)))
            return MACH_SEND_INVALID_REPLY;
        if (!reply_ok(re, st->reply_type))
            return MACH_SEND_INVALID_REPLY;
    }

    um_port *dest = NULL, *reply = NULL;
    kern_return_t kr;
    st->dest_request = de->request;
    bool joint = st->dest_name == st->reply_name &&
                 st->dest_type != MACH_MSG_TYPE_MAKE_SEND &&
                 st->dest_type != MACH_MSG_TYPE_MAKE_SEND_ONCE &&
                 st->reply_type != MACH_MSG_TYPE_MAKE_SEND &&
                 st->reply_type != MACH_MSG_TYPE_MAKE_SEND_ONCE;
    if (joint) {
        /* Both halves come from one send right; take them together or not at all. */
        um_right_check(space, st->dest_name, de);
        if (!(de->type & MACH_PORT_TYPE_SEND))
            return MACH_SEND_INVALID_DEST;
        int moves = (st->dest_type == MACH_MSG_TYPE_MOVE_SEND) +
                    (st->reply_type == MACH_MSG_TYPE_MOVE_SEND);
        if (moves == 2 && de->urefs < 2)
            return MACH_SEND_INVALID_DEST;
        /* Copies first, so that a move never takes the uref a copy still needs. */
        mach_msg_type_name_t first = moves == 2 ? MACH_MSG_TYPE_MOVE_SEND : MACH_MSG_TYPE_COPY_SEND;
        mach_msg_type_name_t second = moves >= 1 ? MACH_MSG_TYPE_MOVE_SEND : MACH_MSG_TYPE_COPY_SEND;
        kr = um_right_copyin(space, st->dest_name, first, 0, &dest);
        if (kr != KERN_SUCCESS)
            return MACH_SEND_INVALID_DEST;
        kr = um_right_copyin(space, st->dest_name, second, 0, &reply);
        if (kr != KERN_SUCCESS) {
            /* cannot happen: the urefs were checked under the same lock */
            um_port_release_send(dest);
            return MACH_SEND_INVALID_DEST;
        }
        *destp = dest;
        *replyp = reply;
        return MACH_MSG_SUCCESS;
    }

    kr = um_right_copyin(space, st->dest_name, st->dest_type, UM_COPYIN_ALLOW_DEAD_SEND_ONCE,
                         &dest);
    if (kr == KERN_RESOURCE_SHORTAGE)
        return MACH_SEND_NO_BUFFER; /* no send-once notification could be reserved */
    if (kr != KERN_SUCCESS || !UM_PORT_VALID(dest)) {
        if (kr == KERN_SUCCESS)
            um_right_release(dest, um_copyin_type(st->dest_type));
        return MACH_SEND_INVALID_DEST;
    }
    if (MACH_PORT_VALID(st->reply_name)) {
        kr = um_right_copyin(space, st->reply_name, st->reply_type, UM_COPYIN_DEADOK, &reply);
        if (kr != KERN_SUCCESS) {
            /* reply_ok() said only memory can fail; keep the send atomic */
            um_right_release(dest, um_copyin_type(st->dest_type));
            return kr == KERN_RESOURCE_SHORTAGE ? MACH_SEND_NO_BUFFER : MACH_SEND_INVALID_REPLY;
        }
    } else {
        reply = st->reply_name == MACH_PORT_DEAD ? UM_PORT_DEAD : NULL;
    }
    *destp = dest;
    *replyp = reply;
    return MACH_MSG_SUCCESS;
}

/*
 * The shapes of the commonest headers, decided once by um_kmsg_prepare from the header's bits
 * and names (header_shape) and kept in kmsg->shape for um_kmsg_copyin_prepared: no voucher,
 * not complex, a valid destination name sent COPY_SEND or MOVE_SEND_ONCE, and no reply right
 * (its name null) or a MAKE_SEND_ONCE one under another name: one-way messages, requests and
 * replies. The flags (UM_KMSG_SHAPE_*) are in um_kmsg.h.
 */
/*
 * The shape of a header (`bits` masked with MACH_MSGH_BITS_USER), or 0. Every header with a
 * shape is one header_validate accepts, so a shaped header needs no other check in prepare.
 */
UM_HOT_STATIC uint8_t header_shape(const mach_msg_header_t *h, mach_msg_bits_t bits)
{
    if (!MACH_PORT_VALID(h->msgh_remote_port))
        return 0;
    switch (bits) {
    case MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0):
        return h->msgh_local_port == MACH_PORT_NULL ? UM_KMSG_SHAPE_SIMPLE : 0;
    case MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0):
        return h->msgh_local_port == MACH_PORT_NULL
                   ? UM_KMSG_SHAPE_SIMPLE | UM_KMSG_SHAPE_SO_DEST
                   : 0;
    case MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE):
        return h->msgh_local_port != h->msgh_remote_port
                   ? UM_KMSG_SHAPE_SIMPLE | UM_KMSG_SHAPE_SO_REPLY
                   : 0;
    case MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_MSG_TYPE_MAKE_SEND_ONCE):
        return h->msgh_local_port != h->msgh_remote_port
                   ? UM_KMSG_SHAPE_SIMPLE | UM_KMSG_SHAPE_SO_DEST | UM_KMSG_SHAPE_SO_REPLY
                   : 0;
    default:
        return 0;
    }
}

/* A shaped message's bits once copied in (kmsg->bits), by shape. */
static const mach_msg_bits_t um_kmsg_shape_bits[8] = {
    [UM_KMSG_SHAPE_SIMPLE] = MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND, 0),
    [UM_KMSG_SHAPE_SIMPLE | UM_KMSG_SHAPE_SO_DEST] =
        MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, 0),
    [UM_KMSG_SHAPE_SIMPLE | UM_KMSG_SHAPE_SO_REPLY] =
        MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND, MACH_MSG_TYPE_PORT_SEND_ONCE),
    [UM_KMSG_SHAPE_SIMPLE | UM_KMSG_SHAPE_SO_DEST | UM_KMSG_SHAPE_SO_REPLY] =
        MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND_ONCE),
};

/*
 * The header rights of a shaped message (header_shape) in one pass: a destination copied
 * (COPY_SEND) from a send right or used (MOVE_SEND_ONCE) from a send-once right without a
 * request, to a live port, and no reply right or a send-once one made from a receive right.
 * Takes them, and fills in the kmsg's header fields, only when header_rights would take the
 * same rights and succeed; otherwise returns false having touched nothing, and header_rights
 * then finds the rights or the error in XNU's order.
 */
UM_HOT_STATIC bool header_rights_simple(um_space *space, const mach_msg_header_t *h,
                                        unsigned shape, um_kmsg *k)
{
    mach_port_name_t dest_name = h->msgh_remote_port;
    um_entry *de = um_entry_lookup(space, dest_name);
    if (!de)
        return false;
    um_port *dest = (um_port *)de->object;
    if (shape & UM_KMSG_SHAPE_SO_DEST) {
        if (!(de->type & MACH_PORT_TYPE_SEND_ONCE) || de->request != 0 || !dest->active)
            return false;
    } else if (!(de->type & MACH_PORT_TYPE_SEND) || !dest->active) {
        return false;
    }
    um_port *reply = NULL;
    if (shape & UM_KMSG_SHAPE_SO_REPLY) {
        /* Under another name than the destination's (header_shape), maybe not a valid one. */
        um_entry *re = um_entry_lookup(space, h->msgh_local_port);
        if (!re || !(re->type & MACH_PORT_TYPE_RECEIVE))
            return false;
        reply = (um_port *)re->object;
        if (!um_port_make_send_once(reply))
            return false; /* nothing made: the general path meets the same shortage */
    }
    if (shape & UM_KMSG_SHAPE_SO_DEST) /* the entry's reference moves to the right */
        um_entry_dealloc_index(space, MACH_PORT_INDEX(dest_name), de);
    else
        um_port_copy_send(dest);
    k->bits = um_kmsg_shape_bits[shape];
    k->dest = dest;
    k->reply = reply;
    k->voucher_raw = h->msgh_voucher_port;
    k->id = h->msgh_id;
    return true;
}

static mach_msg_return_t copyin_ool(um_task *task, um_kdesc *d, const ool_fields *f)
{
    d->u.ool.copy = f->copy;
    d->u.ool.dealloc = f->dealloc != 0;
    d->u.ool.size = f->size_or_count;
    d->u.ool.vmc = NULL;
    if (f->size_or_count == 0)
        return MACH_MSG_SUCCESS;
    return task->mem->copyin(task, f->address, f->size_or_count,
                             f->copy == MACH_MSG_PHYSICAL_COPY, f->dealloc != 0, &d->u.ool.vmc);
}

static mach_msg_return_t copyin_ool_ports(um_space *space, um_kdesc *d, const ool_fields *f)
{
    mach_msg_type_name_t disp = f->disp;
    uint32_t count = f->size_or_count;
    d->u.oolp.disp = um_copyin_type(disp);
    d->u.oolp.copy = f->copy;
    d->u.oolp.dealloc = f->dealloc != 0;
    d->u.oolp.count = 0;
    d->u.oolp.ports = NULL;
    if (count == 0)
        return MACH_MSG_SUCCESS;
    mach_port_name_t *names = malloc((size_t)count * sizeof *names);
    um_port **ports = calloc(count, sizeof *ports);
    if (!names || !ports) {
        free(names);
        free(ports);
        return MACH_MSG_VM_KERNEL;
    }
    um_task *task = space->task;
    if (!task->mem->read(task, names, f->address, (size_t)count * sizeof *names)) {
        free(names);
        free(ports);
        return MACH_SEND_INVALID_MEMORY;
    }
    if (f->dealloc)
        unmap_range(task, f->address, (uint64_t)count * sizeof *names);
    for (uint32_t i = 0; i < count; i++) {
        if (!MACH_PORT_VALID(names[i])) {
            ports[i] = names[i] == MACH_PORT_DEAD ? UM_PORT_DEAD : NULL;
            continue;
        }
        kern_return_t kr = um_right_copyin(space, names[i], disp, UM_COPYIN_DEADOK, &ports[i]);
        if (kr != KERN_SUCCESS) {
            for (uint32_t j = 0; j < i; j++)
                um_right_release(ports[j], d->u.oolp.disp);
            if (kr == KERN_INVALID_RIGHT)
                um_guard_exception(space, names[i], 0, kGUARD_EXC_SEND_INVALID_RIGHT);
            free(names);
            free(ports);
            return kr == KERN_RESOURCE_SHORTAGE ? MACH_SEND_NO_BUFFER : MACH_SEND_INVALID_RIGHT;
        }
    }
    free(names);
    d->u.oolp.ports = ports;
    d->u.oolp.count = count;
    return MACH_MSG_SUCCESS;
}

static mach_msg_return_t copyin_port(um_space *space, mach_port_name_t name,
                                     mach_msg_type_name_t disp, uint32_t flags, um_port **portp)
{
    if (!MACH_PORT_VALID(name)) {
        *portp = name == MACH_PORT_DEAD ? UM_PORT_DEAD : NULL;
        return MACH_MSG_SUCCESS;
    }
    kern_return_t kr = um_right_copyin(space, name, disp, UM_COPYIN_DEADOK | flags, portp);
    if (kr != KERN_SUCCESS) {
        if (kr == KERN_INVALID_RIGHT)
            um_guard_exception(space, name, 0, kGUARD_EXC_SEND_INVALID_RIGHT);
        return kr == KERN_RESOURCE_SHORTAGE ? MACH_SEND_NO_BUFFER : MACH_SEND_INVALID_RIGHT;
    }
    return MACH_MSG_SUCCESS;
}

mach_msg_return_t um_kmsg_copyin_port(um_space *space, mach_port_name_t name,
                                      mach_msg_type_name_t disp, um_port **portp)
{
    return copyin_port(space, name, disp, 0, portp);
}

static mach_msg_return_t copyin_guarded(um_space *space, um_kdesc *d, const uint8_t *u)
{
    uint64_t context = rd64(u);
    uint16_t flags;
    memcpy(&flags, u + 8, 2);
    mach_port_name_t name = rd32(u + 12);
    d->u.guarded.disp = MACH_MSG_TYPE_PORT_RECEIVE;
    d->u.guarded.flags = flags;
    d->u.guarded.context = context;
    d->u.guarded.port = NULL;
    if (!MACH_PORT_VALID(name)) {
        d->u.guarded.port = name == MACH_PORT_DEAD ? UM_PORT_DEAD : NULL;
        return MACH_MSG_SUCCESS;
    }
    um_entry *e = um_entry_lookup(space, name);
    if (e && (e->type & MACH_PORT_TYPE_RECEIVE)) {
        um_port *p = (um_port *)e->object;
        bool movable = p->kotype == UM_KOT_NONE && !p->immovable_receive;
        if (movable) {
            bool ok = ((flags & MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND) && !p->guarded &&
                       !context) ||
                      (p->guarded && p->context == context);
            if (!ok) {
                um_guard_exception(space, name, p->context, kGUARD_EXC_INCORRECT_GUARD);
                return MACH_SEND_INVALID_RIGHT;
            }
            d->u.guarded.flags |= MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND;
        }
    }
    return copyin_port(space, name, MACH_MSG_TYPE_MOVE_RECEIVE, 0, &d->u.guarded.port);
}

/* Record where each receive right carried by `k` travels, and whether it makes a loop. */
static void note_receive_rights(um_kmsg *k)
{
    um_port *dest = k->dest;
    for (uint32_t i = 0; i < k->ndesc; i++) {
        um_kdesc *d = &k->desc[i];
        if (d->type == MACH_MSG_PORT_DESCRIPTOR && d->u.port.disp == MACH_MSG_TYPE_PORT_RECEIVE &&
            UM_PORT_VALID(d->u.port.port)) {
            k->circular |= um_port_check_circularity(d->u.port.port, dest);
        } else if (d->type == MACH_MSG_GUARDED_PORT_DESCRIPTOR &&
                   UM_PORT_VALID(d->u.guarded.port)) {
            k->circular |= um_port_check_circularity(d->u.guarded.port, dest);
        } else if (d->type == MACH_MSG_OOL_PORTS_DESCRIPTOR &&
                   d->u.oolp.disp == MACH_MSG_TYPE_PORT_RECEIVE) {
            for (uint32_t j = 0; j < d->u.oolp.count; j++)
                if (UM_PORT_VALID(d->u.oolp.ports[j]))
                    k->circular |= um_port_check_circularity(d->u.oolp.ports[j], dest);
        }
    }
}

UM_HOT mach_msg_return_t um_kmsg_prepare(um_task *task, uint64_t msg_addr, mach_msg_size_t send_size,
                                  um_kmsg **kmsgp)
{
    *kmsgp = NULL;
    /* One test for the common case: a multiple of 4 from a header's size to the largest. */
    if ((send_size & 3) || send_size - sizeof(mach_msg_header_t) >
                               UM_MSG_MAX_BODY_SPACE - sizeof(mach_msg_header_t)) {
        if (send_size < sizeof(mach_msg_header_t) || (send_size & 3))
            return MACH_SEND_MSG_TOO_SMALL;
        return MACH_SEND_TOO_LARGE;
    }

    /*
     * One copy of the whole message, through the task's memory operations (an unreadable
     * buffer is MACH_SEND_INVALID_DATA, never a fault); everything after reads the copy. The
     * kmsg keeps room for the largest trailer: a receiver's image is built in place.
     */
    um_kmsg *k = kmsg_alloc(sizeof *k + send_size + MAX_TRAILER_SIZE);
    if (!k)
        return MACH_SEND_NO_BUFFER;
    uint8_t *u = (uint8_t *)(k + 1);
    if (!task->mem->msg_read(task, u, msg_addr, send_size)) {
        kmsg_free(k);
        return MACH_SEND_INVALID_DATA;
    }
    /* The kmsg's own copy, aligned (after the struct): read in place. */
    const mach_msg_header_t *h = (const mach_msg_header_t *)(void *)u;
    mach_msg_bits_t bits = h->msgh_bits & MACH_MSGH_BITS_USER;
    k->body = u + sizeof *h;
    k->size = send_size;
    k->charge = send_size; /* what it holds while queued: its bytes (and memory, below) */
    k->kernel = task->kernel;
    k->shape = header_shape(h, bits);
    if (k->shape) {
        /* No descriptors (not complex) and a header header_validate accepts. */
        k->ndesc = 0;
        *kmsgp = k; /* the tokens are stamped at send time, under the lock (um_msg_send) */
        return MACH_MSG_SUCCESS;
    }
    uint32_t dcount = 0;
    if (bits & MACH_MSGH_BITS_COMPLEX) {
        if (send_size < sizeof(mach_msg_base_t)) {
            kmsg_free(k);
            return MACH_SEND_MSG_TOO_SMALL;
        }
        dcount = rd32(u + sizeof *h);
        if (dcount > (send_size - sizeof(mach_msg_base_t)) / 12) {
            kmsg_free(k);
            return MACH_SEND_MSG_TOO_SMALL;
        }
    }
    k->ndesc = dcount;
    if (dcount) {
        k->desc = calloc(dcount, sizeof *k->desc);
        k->offsets = malloc(dcount * sizeof *k->offsets);
        if (!k->desc || !k->offsets) {
            kmsg_free(k);
            return MACH_SEND_NO_BUFFER;
        }
    }
    mach_msg_return_t mr = measure_descriptors(u, send_size, dcount, k->offsets);
    if (mr == MACH_MSG_SUCCESS) {
        uint64_t ports = 0, vm = 0;
        /* XNU inflates up to 64 descriptors last to first, more first to last. */
        if (dcount <= 64) {
            for (uint32_t i = dcount; i-- > 0 && mr == MACH_MSG_SUCCESS;)
                mr = inflate_descriptor(task->kernel, u + k->offsets[i], &ports, &vm);
        } else {
            for (uint32_t i = 0; i < dcount && mr == MACH_MSG_SUCCESS; i++)
                mr = inflate_descriptor(task->kernel, u + k->offsets[i], &ports, &vm);
        }
        if (mr == MACH_MSG_SUCCESS) {
            if (ports > UM_MSG_MAX_PORT_COUNT)
                mr = MACH_SEND_TOO_LARGE;
            else if (vm + ports * sizeof(mach_port_t) > UM_MSG_MAX_VM_SPACE)
                mr = MACH_MSG_VM_KERNEL;
        }
        /* The memory it carries counts too while it is queued. */
        for (uint32_t i = 0; i < dcount && mr == MACH_MSG_SUCCESS; i++) {
            const uint8_t *d = u + k->offsets[i];
            if (udesc_type(d) == MACH_MSG_OOL_DESCRIPTOR ||
                udesc_type(d) == MACH_MSG_OOL_VOLATILE_DESCRIPTOR)
                k->charge += read_ool(d).size_or_count;
            else if (udesc_type(d) == MACH_MSG_OOL_PORTS_DESCRIPTOR)
                k->charge += (uint64_t)read_ool(d).size_or_count * sizeof(mach_port_name_t);
        }
    }
    if (mr == MACH_MSG_SUCCESS && !header_plain(h, bits)) {
        hdr_state st = {0};
        mr = header_validate(h, bits, &st);
    }
    if (mr != MACH_MSG_SUCCESS) {
        kmsg_free(k);
        return mr;
    }
    *kmsgp = k; /* the tokens are stamped at send time, under the lock (um_msg_send) */
    return MACH_MSG_SUCCESS;
}

void um_kmsg_discard_prepared(um_kmsg *k)
{
    if (k)
        kmsg_free(k);
}

UM_HOT mach_msg_return_t um_kmsg_copyin_prepared(um_space *space, um_kmsg *k, mach_msg_option_t option)
{
    const uint8_t *u = k->body - sizeof(mach_msg_header_t);
    const mach_msg_header_t *hp = (const mach_msg_header_t *)(const void *)u;
    um_ledger *ledger = space->ledger;
    unsigned shape = k->shape;
    /* A space has its ledger for as long as it lives (um_space_create, um_space_destroy). */
    if (shape && !(option & MACH_SEND_NOTIFY) && um_kmsg_charge_fits(ledger, k)) {
        /*
         * What the general path below does for such a message, without its detours: the
         * charge first (as there), then the rights; when they are not as the simple path
         * needs them nothing was taken, the charge is undone and the general path decides.
         */
        if (header_rights_simple(space, hp, shape, k))
            return MACH_MSG_SUCCESS; /* k->shape stays: its receive may take the simple path */
        um_kmsg_uncharge(k);
    }
    k->shape = 0; /* not copied in by header_rights_simple (um_msg_receive reads it) */
    mach_msg_header_t h;
    memcpy(&h, u, sizeof h);
    uint32_t dcount = k->ndesc;
    k->ndesc = 0;

    /*
     * The header: extra bits are dropped, as XNU masks them with MACH_MSGH_BITS_USER.
     * um_kmsg_prepare validated these same bytes (the kmsg's private copy): only the names
     * and types are taken here.
     */
    mach_msg_bits_t bits = h.msgh_bits & MACH_MSGH_BITS_USER;
    um_port *dest = NULL, *reply = NULL;
    hdr_state st;
    header_fields(&h, bits, &st);
    mach_msg_return_t mr = MACH_MSG_SUCCESS;
    if (mr == MACH_MSG_SUCCESS && ledger) {
        /* XNU allocates the kmsg before taking anything: no room is MACH_SEND_NO_BUFFER. */
        if (!um_kmsg_ledger_fits(ledger, k->charge)) {
            kmsg_free(k);
            return MACH_SEND_NO_BUFFER;
        }
        um_kmsg_charge(ledger, k);
    }
    if (mr == MACH_MSG_SUCCESS)
        mr = header_rights(space, &st, &dest, &reply);
    if (mr != MACH_MSG_SUCCESS) {
        if (mr == MACH_SEND_INVALID_VOUCHER)
            um_guard_exception(space, st.voucher_name, 0, kGUARD_EXC_SEND_INVALID_VOUCHER);
        else if (mr == MACH_SEND_INVALID_REPLY)
            um_guard_exception(space, st.reply_name, 0, kGUARD_EXC_SEND_INVALID_REPLY);
        kmsg_free(k);
        return mr;
    }
    mach_msg_type_name_t dest_type = um_copyin_type(st.dest_type);
    mach_msg_type_name_t reply_type = st.reply_type ? um_copyin_type(st.reply_type) : 0;
    if ((option & MACH_SEND_NOTIFY) && dest_type != MACH_MSG_TYPE_PORT_SEND_ONCE &&
        st.dest_request && dest->active && dest->msgcount >= dest->qlimit)
        um_request_arm_send_possible(dest, space, st.dest_name, st.dest_request);
    k->bits = MACH_MSGH_BITS_SET(dest_type, reply_type, st.voucher_type, bits);
    k->dest = dest;
    k->reply = reply;
    k->voucher_raw = st.voucher_type ? MACH_PORT_NULL : h.msgh_voucher_port;
    k->id = h.msgh_id;
    k->sp_notify = (option & MACH_SEND_NOTIFY) != 0;

    /* The body: rights and memory, in order; a failure unwinds what came before. */
    uint32_t done = 0;
    for (; done < dcount; done++) {
        um_kdesc *d = &k->desc[done];
        const uint8_t *ud = u + k->offsets[done];
        d->type = udesc_type(ud);
        d->uoffset = k->offsets[done];
        switch (d->type) {
        case MACH_MSG_PORT_DESCRIPTOR:
            d->u.port.disp = um_copyin_type(ud[10]);
            mr = copyin_port(space, rd32(ud), ud[10], 0, &d->u.port.port);
            break;
        case MACH_MSG_OOL_DESCRIPTOR:
        case MACH_MSG_OOL_VOLATILE_DESCRIPTOR: {
            ool_fields f = read_ool(ud);
            mr = copyin_ool(space->task, d, &f);
            break;
        }
        case MACH_MSG_OOL_PORTS_DESCRIPTOR: {
            ool_fields f = read_ool(ud);
            mr = copyin_ool_ports(space, d, &f);
            break;
        }
        default: /* MACH_MSG_GUARDED_PORT_DESCRIPTOR */
            mr = copyin_guarded(space, d, ud);
            break;
        }
        if (mr != MACH_MSG_SUCCESS)
            break;
    }
    if (k->offsets) {
        free(k->offsets);
        k->offsets = NULL;
    }
    if (mr != MACH_MSG_SUCCESS) {
        k->ndesc = done; /* the failing descriptor owns nothing */
        um_kmsg_destroy(k);
        return mr;
    }
    k->ndesc = dcount;
    note_receive_rights(k);
    return MACH_MSG_SUCCESS;
}

mach_msg_size_t um_kmsg_user_size(const um_kmsg *kmsg)
{
    return kmsg->size;
}

/* ---- copyout ------------------------------------------------------------------------------- */

/* Give a naked right to the receiver; dead ports come out as MACH_PORT_DEAD. */
static mach_msg_return_t copyout_port(um_space *space, um_port *port, mach_msg_type_name_t type,
                                      mach_port_name_t *namep)
{
    if (port == NULL) {
        *namep = MACH_PORT_NULL;
        return MACH_MSG_SUCCESS;
    }
    if (port == UM_PORT_DEAD) {
        *namep = MACH_PORT_DEAD;
        return MACH_MSG_SUCCESS;
    }
    kern_return_t kr = um_right_copyout(space, port, type, namep);
    if (kr == KERN_SUCCESS)
        return MACH_MSG_SUCCESS;
    *namep = MACH_PORT_DEAD;
    return kr == KERN_INVALID_CAPABILITY ? MACH_MSG_SUCCESS : MACH_MSG_IPC_SPACE;
}

static void wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* Write the descriptors into `out` (the whole user message), giving rights and memory. */
static mach_msg_return_t copyout_descriptors(um_space *space, um_kmsg *k, uint8_t *out,
                                             bool pseudo, mach_msg_option_t option,
                                             uint64_t rcv_addr)
{
    um_task *task = space->task;
    mach_msg_return_t mr = MACH_MSG_SUCCESS;
    for (uint32_t i = 0; i < k->ndesc; i++) {
        um_kdesc *d = &k->desc[i];
        uint8_t *ud = out + d->uoffset;
        switch (d->type) {
        case MACH_MSG_PORT_DESCRIPTOR: {
            mach_port_name_t name;
            mr |= copyout_port(space, d->u.port.port, d->u.port.disp, &name);
            d->u.port.port = NULL;
            memset(ud, 0, 12);
            wr32(ud, name);
            ud[10] = (uint8_t)d->u.port.disp;
            ud[11] = MACH_MSG_PORT_DESCRIPTOR;
            break;
        }
        case MACH_MSG_OOL_DESCRIPTOR:
        case MACH_MSG_OOL_VOLATILE_DESCRIPTOR: {
            uint64_t addr = 0;
            uint32_t size = d->u.ool.size;
            um_vm_copy *vmc = d->u.ool.vmc;
            d->u.ool.vmc = NULL;
            if (!vmc) {
                size = 0;
            } else if (task->mem->copyout(task, vmc, &addr) != KERN_SUCCESS) {
                /* As XNU: no room in the receiver (or the sender), the memory is dropped. */
                addr = 0;
                size = 0;
                mr |= MACH_MSG_VM_SPACE;
            }
            memset(ud, 0, 16);
            wr64(ud, addr);
            ud[8] = d->u.ool.copy == MACH_MSG_VIRTUAL_COPY; /* as XNU, pseudo-receive too */
            ud[9] = d->u.ool.copy;
            ud[11] = d->type;
            wr32(ud + 12, size);
            break;
        }
        case MACH_MSG_OOL_PORTS_DESCRIPTOR: {
            uint64_t addr = 0;
            uint32_t count = d->u.oolp.count;
            if (count) {
                size_t len = (size_t)round_page64(task->kernel,
                                                  (size_t)count * sizeof(mach_port_name_t));
                mach_port_name_t *names = task->kernel->ops->region_alloc(task->kernel, len);
                if (names) {
                    for (uint32_t j = 0; j < count; j++) {
                        mr |= copyout_port(space, d->u.oolp.ports[j], d->u.oolp.disp,
                                           &names[j]);
                        d->u.oolp.ports[j] = NULL;
                    }
                    /* Like XNU's copyoutmap failing: the names exist, the array is lost. */
                    addr = task->mem->attach(task, names, len);
                    if (!addr) {
                        task->kernel->ops->region_free(task->kernel, names, len);
                        mr |= MACH_MSG_VM_SPACE;
                    }
                } else {
                    /*
                     * No room for the array: as XNU's ipc_kmsg_copyout_ool_ports_descriptor,
                     * the rights are destroyed (a name nobody can find would strand them),
                     * and the descriptor says address 0 with its count.
                     */
                    for (uint32_t j = 0; j < count; j++) {
                        um_right_release(d->u.oolp.ports[j], d->u.oolp.disp);
                        d->u.oolp.ports[j] = NULL;
                    }
                    mr |= MACH_MSG_VM_SPACE;
                }
                free(d->u.oolp.ports);
                d->u.oolp.ports = NULL;
                d->u.oolp.count = 0;
            }
            memset(ud, 0, 16);
            wr64(ud, addr);
            ud[8] = 1; /* deallocate */
            ud[9] = MACH_MSG_VIRTUAL_COPY;
            ud[10] = (uint8_t)d->u.oolp.disp;
            ud[11] = MACH_MSG_OOL_PORTS_DESCRIPTOR;
            wr32(ud + 12, count);
            break;
        }
        case MACH_MSG_GUARDED_PORT_DESCRIPTOR: {
            um_port *port = d->u.guarded.port;
            d->u.guarded.port = NULL;
            mach_port_name_t name = MACH_PORT_NULL;
            uint64_t context = 0;
            uint16_t flags = d->u.guarded.flags;
            if (!pseudo && !(option & MACH_RCV_GUARDED_DESC)) {
                /* The receiver did not opt in: the right is destroyed (a non-fatal guard). */
                um_guard_exception(space, MACH_PORT_NULL, 0, kGUARD_EXC_RCV_GUARDED_DESC);
                um_right_release(port, MACH_MSG_TYPE_PORT_RECEIVE);
            } else if (UM_PORT_VALID(port)) {
                bool alive = port->active;
                context = d->u.guarded.context;
                mr |= copyout_port(space, port, MACH_MSG_TYPE_PORT_RECEIVE, &name);
                if (alive && MACH_PORT_VALID(name) &&
                    (flags & MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE)) {
                    /* Guarded by the address of the buffer the message was received in. */
                    port->guarded = true;
                    port->strict_guard = false;
                    if (!pseudo)
                        port->immovable_receive = true;
                    port->context = rcv_addr;
                    context = rcv_addr;
                    flags &= (uint16_t)~MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND;
                }
            } else {
                name = port == UM_PORT_DEAD ? MACH_PORT_DEAD : MACH_PORT_NULL;
                context = d->u.guarded.context;
            }
            memset(ud, 0, 16);
            wr64(ud, context);
            memcpy(ud + 8, &flags, 2);
            ud[10] = MACH_MSG_TYPE_PORT_RECEIVE;
            ud[11] = MACH_MSG_GUARDED_PORT_DESCRIPTOR;
            wr32(ud + 12, name);
            break;
        }
        default:
            break;
        }
    }
    return mr;
}

UM_HOT mach_port_name_t um_kmsg_copyout_dest(um_space *space, um_port *dest, mach_msg_type_name_t type)
{
    mach_port_name_t name = um_kmsg_dest_name(space, dest);
    um_kmsg_release_dest(dest, type);
    return name;
}

UM_HOT void um_kmsg_release_dest(um_port *dest, mach_msg_type_name_t type)
{
    if (type == MACH_MSG_TYPE_PORT_SEND) {
        um_port_release_send(dest); /* a destination is never NULL or dead */
    } else if (type == MACH_MSG_TYPE_PORT_SEND_ONCE) {
        /* The send-once right was used by this message: no notification. */
        um_port_so_reserve_used(dest);
        dest->sorights--;
        um_port_release(dest);
    } else {
        um_right_release(dest, type);
    }
}

/* The bytes of a copied-out message: its storage, header before the body (see prepare). */
static uint8_t *kmsg_image(um_kmsg *k)
{
    return k->body - sizeof(mach_msg_header_t);
}

static void out_image(um_msg_out *out, um_kmsg *k, uint32_t len)
{
    out->image = k;
    out->nseg = 1;
    out->seg[0].offset = 0;
    out->seg[0].len = len;
    out->seg[0].bytes = kmsg_image(k);
}

UM_HOT void um_msg_out_free_image(um_msg_out *out)
{
    kmsg_free(out->image);
    out->image = NULL;
}

mach_msg_return_t um_kmsg_copyout(um_space *space, um_kmsg *k, mach_msg_option_t option,
                                  uint64_t rcv_addr, um_msg_out *out)
{
    mach_msg_type_name_t dest_type = MACH_MSGH_BITS_REMOTE(k->bits);
    mach_msg_type_name_t reply_type = MACH_MSGH_BITS_LOCAL(k->bits);
    mach_msg_type_name_t voucher_type = MACH_MSGH_BITS_VOUCHER(k->bits);
    mach_msg_return_t mr = MACH_MSG_SUCCESS;

    mach_port_name_t reply_name = MACH_PORT_NULL;
    if (UM_PORT_VALID(k->reply)) {
        if (!k->reply->active) {
            um_right_release(k->reply, reply_type);
            reply_name = MACH_PORT_DEAD;
        } else if (um_right_copyout(space, k->reply, reply_type, &reply_name) != KERN_SUCCESS) {
            /*
             * No room for a name. As XNU: the destination is named, the reply right and
             * everything in the body are destroyed (a send-once reply notifies its port),
             * and the receiver gets a bare header saying what the message was. The failed
             * copyout already consumed the reply right.
             */
            k->reply = NULL;
            um_port *dest = k->dest;
            k->dest = NULL;
            mach_port_name_t dest_name = um_kmsg_copyout_dest(space, dest, dest_type);
            mach_msg_header_t h = {
                .msgh_bits = MACH_MSGH_BITS_SET(reply_type, dest_type, voucher_type, k->bits),
                .msgh_size = sizeof(mach_msg_header_t),
                .msgh_remote_port = MACH_PORT_NULL,
                .msgh_local_port = dest_name,
                .msgh_voucher_port = voucher_type ? MACH_PORT_NULL : k->voucher_raw,
                .msgh_id = k->id,
            };
            um_kmsg_destroy(k);
            memcpy(out->small, &h, sizeof h);
            out->nseg = 1;
            out->seg[0].offset = 0;
            out->seg[0].len = sizeof h;
            out->seg[0].bytes = out->small;
            return MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_SPACE;
        }
    } else if (k->reply == UM_PORT_DEAD) {
        reply_name = MACH_PORT_DEAD;
    }
    k->reply = NULL;

    mach_port_name_t voucher_name;
    if (voucher_type) {
        if (!(option & MACH_RCV_VOUCHER))
            voucher_type = 0;
        voucher_name = MACH_PORT_NULL;
    } else {
        voucher_name = k->voucher_raw;
    }

    um_port *dest = k->dest;
    k->dest = NULL;
    mach_port_name_t dest_name = um_kmsg_copyout_dest(space, dest, dest_type);

    /* The body is already in place; descriptors are rewritten where they are. */
    uint8_t *img = kmsg_image(k);
    if (k->ndesc)
        mr |= copyout_descriptors(space, k, img, false, option, rcv_addr);

    /* Written in place (img is the kmsg's aligned storage): no copy through the stack. */
    mach_msg_header_t *h = (mach_msg_header_t *)(void *)img;
    h->msgh_bits = MACH_MSGH_BITS_SET(reply_type, dest_type, voucher_type, k->bits);
    h->msgh_size = k->size;
    h->msgh_remote_port = reply_name;
    h->msgh_local_port = dest_name;
    h->msgh_voucher_port = voucher_name;
    h->msgh_id = k->id;
    out_image(out, k, k->size);
    return mr ? (MACH_RCV_BODY_ERROR | mr) : MACH_MSG_SUCCESS;
}

mach_msg_return_t um_kmsg_copyout_pseudo(um_space *space, um_kmsg *k, uint64_t msg_addr,
                                         um_msg_out *out)
{
    mach_msg_type_name_t dest_type = MACH_MSGH_BITS_REMOTE(k->bits);
    mach_msg_type_name_t reply_type = MACH_MSGH_BITS_LOCAL(k->bits);
    mach_msg_return_t mr = MACH_MSG_SUCCESS;
    mach_port_name_t dest_name, reply_name;

    mr |= copyout_port(space, k->dest, dest_type, &dest_name);
    k->dest = NULL;
    mr |= copyout_port(space, k->reply, reply_type, &reply_name);
    k->reply = NULL;

    uint8_t *img = kmsg_image(k);
    mr |= copyout_descriptors(space, k, img, true, 0, msg_addr);

    mach_msg_header_t h;
    memcpy(&h, img, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS_SET(dest_type, reply_type, MACH_MSGH_BITS_VOUCHER(k->bits),
                                     k->bits);
    h.msgh_remote_port = dest_name;
    h.msgh_local_port = reply_name;
    h.msgh_voucher_port = k->voucher_raw;
    h.msgh_size = k->size;
    h.msgh_id = k->id;
    memcpy(img, &h, sizeof h);
    out_image(out, k, k->size);
    return mr;
}
