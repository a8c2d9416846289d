/*
 * xmem.c — out-of-line memory between processes through a daemon's kernel core
 * (src/umach/vm/um_xmem.h), without the world's wire protocol: this process plays umachd (a
 * kernel core of its own, one task per child, the daemon's memory operations over each call's
 * memory part), and forked children are the sender and the receiver. Packets travel over
 * SOCK_SEQPACKET socketpairs with SCM_RIGHTS, as they do in a world.
 *
 * Checked: copies and moves from 0 bytes to 64 MiB arrive byte-exact, writes the sender makes
 * after the send never show; vm_allocate'd regions, malloc'd and stack memory; physical copies
 * arrive page-aligned and large virtual copies keep their offset in the page; a move removes
 * the range from the sender, a failed send before the descriptor leaves it; an unreadable
 * range is MACH_SEND_INVALID_MEMORY; out-of-line port arrays; a client whose memory part lies
 * (sizes, memfds) is caught; a queued message with memory destroyed with its receiver leaves
 * no memfd held.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "ool_pattern.h"

#include "api/um_api.h"
#include "kern/um_kmsg.h"
#include "vm/um_regions.h"
#include "vm/um_xmem.h"

#include <mach/mach.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define XM_PKT_MAX (512 * 1024)
#define XM_MSG_BASE 0x10000ull /* the "address" of a request's message in the daemon */

/* The daemon's packet buffer (static: forked children need not free it). */
static uint8_t xm_dbuf[XM_PKT_MAX];

/* ---- packets ------------------------------------------------------------------------------ */

/* One packet: [u32 a][u32 b][u32 c][u32 d] head, then the body, with fds. */
typedef struct xm_head {
    int32_t code;
    uint32_t msglen;  /* message bytes (request) / received image bytes (reply) */
    uint32_t partlen; /* memory part bytes */
    uint32_t extra;
} xm_head;

static int xm_send(int s, const xm_head *h, const void *msg, const void *part, const int *fds,
                   uint32_t nfds)
{
    struct iovec iov[3] = {{(void *)h, sizeof *h}, {(void *)msg, h->msglen},
                           {(void *)part, h->partlen}};
    char ctl[CMSG_SPACE(sizeof(int) * 253)];
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};
    if (nfds) {
        memset(ctl, 0, sizeof ctl);
        mh.msg_control = ctl;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    ssize_t want = (ssize_t)(sizeof *h + h->msglen + h->partlen);
    return sendmsg(s, &mh, MSG_NOSIGNAL) == want ? 0 : -1;
}

/* Receive a packet into buf (XM_PKT_MAX); its fds into fds[] (*nfds). -1: hang-up or error. */
static int xm_recv(int s, uint8_t *buf, xm_head *h, int *fds, uint32_t *nfds)
{
    char ctl[CMSG_SPACE(sizeof(int) * 253)];
    struct iovec iov = {buf, XM_PKT_MAX};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
    *nfds = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            uint32_t k = (uint32_t)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds + *nfds, CMSG_DATA(cm), k * sizeof(int));
            *nfds += k;
        }
    }
    if (n < (ssize_t)sizeof *h)
        return -1;
    memcpy(h, buf, sizeof *h);
    if ((uint64_t)sizeof *h + h->msglen + h->partlen != (uint64_t)n)
        return -1;
    return 0;
}

/* ---- the daemon (this process) ------------------------------------------------------------ */

/* The sending task's cap on memfds held by its copies in flight (NULL: none). */
static um_xmem_owner *xm_owner;

typedef struct xm_conn {
    const uint8_t *msg; /* the current request's message */
    size_t msglen;
    um_xmem_call *call; /* the current call's memory */
} xm_conn;

static bool d_msg_read(um_task *task, void *dst, uint64_t src, size_t len)
{
    xm_conn *c = task->fe;
    if (src < XM_MSG_BASE || src - XM_MSG_BASE > c->msglen || len > c->msglen - (src - XM_MSG_BASE))
        return false;
    memcpy(dst, c->msg + (src - XM_MSG_BASE), len);
    return true;
}

static bool d_msg_write(um_task *task, uint64_t dst, const void *src, size_t len)
{
    (void)task, (void)dst, (void)src, (void)len;
    return false; /* the image goes back in the reply */
}

static bool d_read(um_task *task, void *dst, uint64_t src, size_t len)
{
    xm_conn *c = task->fe;
    return c->call && um_xmem_read(c->call, dst, src, len);
}

static void d_unmap(um_task *task, uint64_t addr, size_t len)
{
    xm_conn *c = task->fe;
    if (c->call)
        um_xmem_unmap(c->call, addr, len);
}

static uint64_t d_attach(um_task *task, void *region, size_t len)
{
    xm_conn *c = task->fe;
    uint64_t at = c->call ? um_xmem_attach(c->call, region, len) : 0;
    if (at)
        munmap(region, len);
    return at;
}

static mach_msg_return_t d_copyin(um_task *task, uint64_t addr, uint64_t size, bool physical,
                                  bool dealloc, um_vm_copy **copyp)
{
    xm_conn *c = task->fe;
    *copyp = NULL;
    if (!c->call)
        return MACH_SEND_INVALID_MEMORY;
    return um_xmem_copyin(c->call, addr, size, physical, dealloc, copyp);
}

static kern_return_t d_copyout(um_task *task, um_vm_copy *copy, uint64_t *addrp)
{
    xm_conn *c = task->fe;
    if (!c->call) {
        um_xmem_copy_discard(copy);
        return KERN_NO_SPACE;
    }
    return um_xmem_copyout(c->call, copy, addrp);
}

static const um_task_memops d_memops = {
    .read = d_read,
    .msg_read = d_msg_read,
    .msg_write = d_msg_write,
    .unmap = d_unmap,
    .attach = d_attach,
    .copyin = d_copyin,
    .copyout = d_copyout,
};

static void *d_region_alloc(um_kernel *k, size_t len)
{
    (void)k;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void d_region_free(um_kernel *k, void *region, size_t len)
{
    (void)k;
    munmap(region, len);
}

static void d_copy_discard(um_kernel *k, um_vm_copy *copy)
{
    (void)k;
    um_xmem_copy_discard(copy);
}

static um_vm_copy *d_copy_region(um_kernel *k, void *region, size_t len, uint64_t size)
{
    (void)k;
    um_vm_copy *copy = um_xmem_copy_of_bytes(region, size);
    munmap(region, len);
    return copy;
}

static bool d_copy_read(um_kernel *k, const um_vm_copy *copy, void *dst, size_t len)
{
    (void)k;
    return um_xmem_copy_read(copy, dst, len);
}

static const um_kernel_ops d_kops = {
    .region_alloc = d_region_alloc,
    .region_free = d_region_free,
    .copy_discard = d_copy_discard,
    .copy_region = d_copy_region,
    .copy_read = d_copy_read,
};
static const um_task_hooks d_hooks = {0};

typedef struct xm_world {
    um_kernel kernel;
    xm_conn ca, cb;
    um_task *a, *b;
    mach_port_name_t port_b; /* receive right in B */
    mach_port_name_t send_a; /* send right to it in A */
} xm_world;

static bool xm_world_init(xm_world *w, uint64_t queued_limit)
{
    memset(w, 0, sizeof *w);
    w->kernel.ops = &d_kops;
    w->kernel.page_size = (size_t)sysconf(_SC_PAGESIZE);
    w->kernel.table_limit = UM_TABLE_DEFAULT_MAX;
    w->kernel.queued_limit = queued_limit;
    w->a = um_task_create(&w->kernel, &d_memops, &d_hooks, &w->ca);
    w->b = um_task_create(&w->kernel, &d_memops, &d_hooks, &w->cb);
    if (!w->a || !w->b)
        return false;
    if (um_api_mach_port_allocate(w->b, w->b->task_name, MACH_PORT_RIGHT_RECEIVE, &w->port_b) !=
        KERN_SUCCESS)
        return false;
    um_port *p = NULL;
    if (um_right_copyin(w->b->space, w->port_b, MACH_MSG_TYPE_MAKE_SEND, 0, &p) != KERN_SUCCESS)
        return false;
    return um_right_copyout(w->a->space, p, MACH_MSG_TYPE_PORT_SEND, &w->send_a) == KERN_SUCCESS;
}

static void xm_world_end(xm_world *w)
{
    if (w->a)
        um_task_terminate(w->a);
    if (w->b)
        um_task_terminate(w->b);
    w->a = w->b = NULL;
}

/*
 * Serve one send request from `s` for task `t`: the core takes the message and its memory;
 * the reply says the result and what leaves the sender. Returns the send's result, or -1 when
 * the request's memory part was malformed or lied (the task would end).
 */
static int xm_serve_send(int s, um_task *t, uint8_t *buf)
{
    xm_head h;
    int fds[253];
    uint32_t nfds;
    if (xm_recv(s, buf, &h, fds, &nfds) != 0)
        return -1;
    xm_conn *c = t->fe;
    um_xmem_call call;
    if (!um_xmem_call_init(&call, xm_owner, t->kernel->page_size, buf + sizeof h + h.msglen, h.partlen, fds,
                           nfds)) {
        xm_head r = {-1, 0, 0, 0};
        xm_send(s, &r, NULL, NULL, NULL, 0);
        return -1;
    }
    c->msg = buf + sizeof h;
    c->msglen = h.msglen;
    c->call = &call;
    um_kmsg *k = NULL;
    um_msg_send_state st;
    memset(&st, 0, sizeof st);
    mach_msg_return_t mr = um_kmsg_prepare(t, XM_MSG_BASE, h.msglen, &k);
    if (mr == MACH_MSG_SUCCESS) {
        st.kmsg = k;
        st.option = MACH_SEND_MSG;
        st.msg_addr = XM_MSG_BASE;
        st.may_block = false;
        mr = um_msg_send(t, &st);
    }
    um_xmem_call_drop_request(&call);
    c->call = NULL;
    c->msg = NULL;
    bool lied = um_xmem_call_lied(&call);
    xm_head r = {lied ? -1 : (int32_t)mr, 0, (uint32_t)um_xmem_out_size(&call.reply), 0};
    uint8_t *part = malloc(r.partlen ? r.partlen : 1);
    int rfds[253];
    if (part && r.partlen)
        um_xmem_out_encode(&call.reply, part, rfds);
    xm_send(s, &r, NULL, part, rfds, call.reply.nfds);
    free(part);
    um_xmem_call_end(&call);
    return lied ? -1 : (int)mr;
}

/* Serve one receive for task `t` on `name`: the image and its memory go to the client. */
static mach_msg_return_t xm_serve_receive(int s, um_task *t, mach_port_name_t name)
{
    xm_conn *c = t->fe;
    um_xmem_call call;
    MT_CHECK(um_xmem_call_init(&call, NULL, t->kernel->page_size, NULL, 0, NULL, 0));
    c->call = &call;
    um_msg_rcv_state r;
    memset(&r, 0, sizeof r);
    r.option = MACH_RCV_MSG;
    r.rcv_size = XM_PKT_MAX / 2;
    r.rcv_name = name;
    r.rcv_addr = 0x20000;
    mach_msg_return_t mr = um_msg_receive(t, &r);
    c->call = NULL;
    size_t ilen = 0;
    uint8_t *img = malloc(XM_PKT_MAX / 2);
    for (uint32_t i = 0; img && i < r.out.nseg; i++) {
        memcpy(img + r.out.seg[i].offset, r.out.seg[i].bytes, r.out.seg[i].len);
        if (r.out.seg[i].offset + r.out.seg[i].len > ilen)
            ilen = r.out.seg[i].offset + r.out.seg[i].len;
    }
    um_msg_out_release(&r.out);
    xm_head h = {(int32_t)mr, (uint32_t)ilen, (uint32_t)um_xmem_out_size(&call.reply), 0};
    uint8_t *part = malloc(h.partlen ? h.partlen : 1);
    int rfds[253];
    if (part && h.partlen)
        um_xmem_out_encode(&call.reply, part, rfds);
    xm_send(s, &h, img, part, rfds, call.reply.nfds);
    free(part);
    free(img);
    um_xmem_call_end(&call);
    return mr;
}

/* ---- the clients (children) ---------------------------------------------------------------- */

/* A child's failure: its exit status is the line that failed. */
#define XC_REQUIRE(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "  child %d: line %d: %s\n", (int)getpid(), __LINE__, #cond);      \
            _exit(__LINE__ & 0xff ? __LINE__ & 0xff : 1);                                      \
        }                                                                                      \
    } while (0)

/* What a child allocates and never frees (it exits): reachable, not lost. */
static void *volatile xm_keep[4];

typedef struct {
    mach_msg_base_t base;
    mach_msg_ool_descriptor_t ool[4];
} xm_ool_msg;

/* Send `msg` from a client: capture, request, reply (unmaps applied). Returns the result. */
static mach_msg_return_t xc_send(int s, void *msg, uint32_t size)
{
    um_xmem_out out;
    um_xmem_out_init(&out);
    mach_msg_return_t mr = um_xmem_capture(msg, size, &out);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    size_t plen = um_xmem_out_size(&out);
    uint8_t *part = malloc(plen ? plen : 1);
    int fds[253];
    if (plen)
        um_xmem_out_encode(&out, part, fds);
    xm_head h = {0, size, (uint32_t)plen, 0};
    XC_REQUIRE(xm_send(s, &h, msg, part, fds, out.nfds) == 0);
    free(part);
    um_xmem_out_free(&out);
    uint8_t *buf = malloc(XM_PKT_MAX);
    int rfds[253];
    uint32_t nr;
    XC_REQUIRE(buf && xm_recv(s, buf, &h, rfds, &nr) == 0);
    mach_msg_return_t bits;
    XC_REQUIRE(um_xmem_deliver(NULL, 0, buf + sizeof h, h.partlen, rfds, nr, &bits) == 0);
    free(buf);
    return (mach_msg_return_t)h.code;
}

/* Receive in a client: the image with its memory mapped. Returns the result; *img malloc'd. */
static mach_msg_return_t xc_receive(int s, uint8_t **img, size_t *ilen)
{
    uint8_t *buf = malloc(XM_PKT_MAX);
    xm_head h;
    int fds[253];
    uint32_t nfds;
    XC_REQUIRE(buf && xm_recv(s, buf, &h, fds, &nfds) == 0);
    *img = malloc(h.msglen ? h.msglen : 1);
    memcpy(*img, buf + sizeof h, h.msglen);
    *ilen = h.msglen;
    mach_msg_return_t bits;
    XC_REQUIRE(um_xmem_deliver(*img, h.msglen, buf + sizeof h + h.msglen, h.partlen, fds, nfds,
                               &bits) == 0);
    free(buf);
    return um_xmem_fold_rcv((mach_msg_return_t)h.code, bits);
}

static pid_t xm_fork(void (*fn)(int s, void *arg), int s, void *arg)
{
    pid_t pid = fork();
    if (pid == 0) {
        fn(s, arg);
        _exit(0);
    }
    return pid;
}

static int xm_wait(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A sender child and a receiver child, each with a socket to the daemon (us). */
typedef struct {
    int sa[2], sb[2];
    pid_t pa, pb;
} xm_pair;

/* Fork the two children; false (nothing forked) if a socket could not be made. */
static bool xm_pair_start(xm_pair *p, void (*sender)(int s, void *arg), void *sender_arg,
                          void (*receiver)(int s, void *arg), void *receiver_arg)
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p->sa) != 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p->sb) != 0)
        return false;
    p->pa = xm_fork(sender, p->sa[1], sender_arg);
    p->pb = xm_fork(receiver, p->sb[1], receiver_arg);
    close(p->sa[1]);
    close(p->sb[1]);
    return true;
}

/* Both children exit 0; then the world ends and holds no memfd. */
static void xm_pair_end(xm_pair *p, xm_world *w)
{
    MT_EQ(xm_wait(p->pa), 0);
    MT_EQ(xm_wait(p->pb), 0);
    close(p->sa[0]);
    close(p->sb[0]);
    xm_world_end(w);
    MT_EQ(um_xmem_fds_held(), 0);
}

/* ---- copy and move between processes --------------------------------------------------------- */

enum { XM_REGION = 1, XM_MALLOC = 2, XM_STACK = 3 };

typedef struct xm_case {
    uint64_t size;
    uint32_t offset;    /* the data's offset from a page start in the sender */
    int memory;         /* XM_REGION, XM_MALLOC, XM_STACK */
    bool dealloc;
    bool physical;
    mach_port_name_t dest;
} xm_case;

static void xm_sender(int s, void *arg)
{
    xm_case *c = arg;
    uint8_t stackbuf[8192];
    uint8_t *base = NULL;
    uint64_t span = ((c->offset + c->size + 4095) & ~4095ull) + 4096;
    if (c->memory == XM_REGION) {
        vm_address_t a = 0;
        XC_REQUIRE(vm_allocate(mach_task_self(), &a, span, VM_FLAGS_ANYWHERE) == KERN_SUCCESS);
        base = (uint8_t *)a;
    } else if (c->memory == XM_MALLOC) {
        base = xm_keep[0] = malloc(span + 4096);
        XC_REQUIRE(base);
        /* The first page boundary after the block's start, never the start itself: a move
         * takes the data's pages, and the block's start must stay in the process (valgrind
         * counts a block whose first bytes were taken as lost). */
        base = (uint8_t *)(((uintptr_t)base + 4096) & ~(uintptr_t)4095);
    } else {
        XC_REQUIRE(c->offset + c->size <= sizeof stackbuf);
        base = stackbuf;
    }
    uint8_t *data = base + c->offset;
    ool_fill(data, c->size, 7);
    xm_ool_msg m;
    memset(&m, 0, sizeof m);
    m.base.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.base.header.msgh_size = sizeof m.base + sizeof m.ool[0];
    m.base.header.msgh_remote_port = c->dest;
    m.base.header.msgh_id = 1000;
    m.base.body.msgh_descriptor_count = 1;
    m.ool[0].address = data;
    m.ool[0].size = (mach_msg_size_t)c->size;
    m.ool[0].deallocate = c->dealloc;
    m.ool[0].copy = c->physical ? MACH_MSG_PHYSICAL_COPY : MACH_MSG_VIRTUAL_COPY;
    m.ool[0].type = MACH_MSG_OOL_DESCRIPTOR;
    XC_REQUIRE(xc_send(s, &m, m.base.header.msgh_size) == MACH_MSG_SUCCESS);
    if (c->dealloc && c->size && c->memory != XM_STACK) {
        /* The move took the pages holding the data. */
        XC_REQUIRE(!maps_hold((uint64_t)(uintptr_t)data));
    } else if (c->size) {
        /* Written after the send: never seen by the receiver. */
        ool_fill(data, c->size, 8);
    }
    char done = 1;
    XC_REQUIRE(write(s, &done, 1) == 1);
}

static void xm_receiver(int s, void *arg)
{
    xm_case *c = arg;
    uint8_t *img;
    size_t ilen;
    XC_REQUIRE(xc_receive(s, &img, &ilen) == MACH_MSG_SUCCESS);
    xm_ool_msg *m = (xm_ool_msg *)img;
    XC_REQUIRE(ilen >= sizeof m->base + sizeof m->ool[0]);
    XC_REQUIRE(m->base.header.msgh_id == 1000);
    XC_REQUIRE(m->ool[0].size == c->size);
    if (!c->size) {
        XC_REQUIRE(m->ool[0].address == NULL);
        free(img);
        return;
    }
    uint64_t addr = (uint64_t)(uintptr_t)m->ool[0].address;
    /* XNU: small and physical copies arrive page-aligned, the rest keep their offset. */
    uint32_t want = (c->size <= 32768 || (c->physical && !c->dealloc)) ? 0 : c->offset;
    XC_REQUIRE((addr & 4095) == want);
    XC_REQUIRE(ool_verify(m->ool[0].address, c->size, 7));
    /* The receiver's own memory: it writes it and frees it with vm_deallocate. */
    memset(m->ool[0].address, 0x5a, c->size < 4096 ? c->size : 4096);
    XC_REQUIRE(vm_deallocate(mach_task_self(), (vm_address_t)addr, c->size) == KERN_SUCCESS);
    XC_REQUIRE(!maps_hold(addr));
    free(img);
}

/* One message from a sender child to a receiver child; MT checks on the way. */
static void xm_run_case(xm_case c)
{
    xm_world w;
    MT_REQUIRE(xm_world_init(&w, 0));
    c.dest = w.send_a;
    uint8_t *buf = xm_dbuf;
    xm_pair p;
    MT_REQUIRE(xm_pair_start(&p, xm_sender, &c, xm_receiver, &c));
    MT_EQ(xm_serve_send(p.sa[0], w.a, buf), MACH_MSG_SUCCESS);
    char done = 0;
    MT_EQ(read(p.sa[0], &done, 1), 1); /* the sender wrote over its memory */
    MT_EQ(xm_serve_receive(p.sb[0], w.b, w.port_b), MACH_MSG_SUCCESS);
    xm_pair_end(&p, &w);
}

MT_TEST(copies_of_every_size_arrive_byte_exact_and_later_writes_never_show)
{
    static const uint64_t sizes[] = {0, 1, 4095, 4096, 32768, 32769, 1u << 20, (1u << 20) + 4321};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        xm_run_case((xm_case){.size = sizes[i], .offset = 0, .memory = XM_REGION});
        xm_run_case((xm_case){.size = sizes[i], .offset = 123, .memory = XM_MALLOC});
    }
}

MT_TEST_TIMEOUT(sixty_four_mib_copied_and_moved_between_processes, 60)
{
    xm_run_case((xm_case){.size = 64u << 20, .memory = XM_REGION});
    xm_run_case((xm_case){.size = 64u << 20, .memory = XM_REGION, .dealloc = true});
    xm_run_case((xm_case){.size = 64u << 20, .offset = 100, .memory = XM_MALLOC, .dealloc = true});
}

MT_TEST(moves_take_the_range_from_the_sender_and_keep_their_offset)
{
    xm_run_case((xm_case){.size = 100000, .offset = 0, .memory = XM_REGION, .dealloc = true});
    xm_run_case((xm_case){.size = 100000, .offset = 1000, .memory = XM_REGION, .dealloc = true});
    xm_run_case((xm_case){.size = 100, .offset = 10, .memory = XM_REGION, .dealloc = true});
    xm_run_case((xm_case){.size = 70000, .offset = 77, .memory = XM_MALLOC, .dealloc = true});
    xm_run_case((xm_case){.size = 100000, .offset = 1000, .memory = XM_REGION, .dealloc = true,
                          .physical = true});
}

MT_TEST(physical_copies_arrive_page_aligned_and_stack_memory_is_copied)
{
    xm_run_case((xm_case){.size = 100000, .offset = 1000, .memory = XM_REGION, .physical = true});
    xm_run_case((xm_case){.size = 100000, .offset = 1000, .memory = XM_MALLOC, .physical = true});
    xm_run_case((xm_case){.size = 5000, .offset = 3, .memory = XM_STACK});
    xm_run_case((xm_case){.size = 5000, .offset = 3, .memory = XM_STACK, .physical = true});
}


/* ---- many descriptors: inline bytes, memfds and the shared memfd --------------------------- */

#define XM_MANY 150

typedef struct {
    mach_msg_base_t base;
    mach_msg_ool_descriptor_t ool[2 * XM_MANY];
} xm_many_msg;

static uint64_t xm_many_size(int i)
{
    return i % 2 ? 1000 + (uint64_t)i : 40000 + (uint64_t)i * 8; /* small: bytes; large: memfds */
}

static void xm_many_sender(int s, void *arg)
{
    mach_port_name_t dest = *(mach_port_name_t *)arg;
    xm_many_msg *m = xm_keep[1] = calloc(1, sizeof *m);
    XC_REQUIRE(m);
    m->base.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m->base.header.msgh_size = sizeof *m;
    m->base.header.msgh_remote_port = dest;
    m->base.header.msgh_id = 2000;
    m->base.body.msgh_descriptor_count = 2 * XM_MANY;
    for (int i = 0; i < 2 * XM_MANY; i++) {
        uint64_t n = xm_many_size(i);
        uint8_t *p = malloc(n);
        XC_REQUIRE(p);
        ool_fill(p, n, (uint32_t)i);
        m->ool[i].address = p;
        m->ool[i].size = (mach_msg_size_t)n;
        m->ool[i].copy = MACH_MSG_VIRTUAL_COPY;
        m->ool[i].type = MACH_MSG_OOL_DESCRIPTOR;
    }
    XC_REQUIRE(xc_send(s, m, sizeof *m) == MACH_MSG_SUCCESS);
    for (int i = 0; i < 2 * XM_MANY; i++) {
        ool_fill(m->ool[i].address, xm_many_size(i), 999);
        free(m->ool[i].address);
    }
    char done = 1;
    XC_REQUIRE(write(s, &done, 1) == 1);
}

static void xm_many_receiver(int s, void *arg)
{
    (void)arg;
    uint8_t *img;
    size_t ilen;
    XC_REQUIRE(xc_receive(s, &img, &ilen) == MACH_MSG_SUCCESS);
    xm_many_msg *m = (xm_many_msg *)img;
    XC_REQUIRE(ilen >= sizeof *m);
    for (int i = 0; i < 2 * XM_MANY; i++) {
        XC_REQUIRE(m->ool[i].size == xm_many_size(i));
        XC_REQUIRE(ool_verify(m->ool[i].address, m->ool[i].size, (uint32_t)i));
        XC_REQUIRE(vm_deallocate(mach_task_self(), (vm_address_t)m->ool[i].address,
                                 m->ool[i].size) == KERN_SUCCESS);
    }
    free(img);
}

MT_TEST(a_message_with_hundreds_of_pieces_arrives_whole)
{
    xm_world w;
    MT_REQUIRE(xm_world_init(&w, 0));
    uint8_t *buf = xm_dbuf;
    xm_pair p;
    MT_REQUIRE(xm_pair_start(&p, xm_many_sender, &w.send_a, xm_many_receiver, NULL));
    MT_EQ(xm_serve_send(p.sa[0], w.a, buf), MACH_MSG_SUCCESS);
    char done = 0;
    MT_EQ(read(p.sa[0], &done, 1), 1);
    MT_CHECK(um_xmem_fds_held() > 0 && um_xmem_fds_held() <= UM_XMEM_FDS_MAX);
    MT_EQ(xm_serve_receive(p.sb[0], w.b, w.port_b), MACH_MSG_SUCCESS);
    xm_pair_end(&p, &w);
}

/* ---- out-of-line port arrays ------------------------------------------------------------------ */

typedef struct {
    mach_msg_base_t base;
    mach_msg_ool_ports_descriptor_t ports;
} xm_ports_msg;

typedef struct {
    mach_port_name_t dest, own; /* A's send right to B's port, A's name for its task port */
    uint32_t count;
} xm_ports_case;

static void xm_ports_sender(int s, void *arg)
{
    xm_ports_case *c = arg;
    vm_address_t a = 0;
    size_t bytes = c->count * sizeof(mach_port_name_t);
    XC_REQUIRE(vm_allocate(mach_task_self(), &a, bytes, VM_FLAGS_ANYWHERE) == KERN_SUCCESS);
    mach_port_name_t *names = (mach_port_name_t *)a;
    for (uint32_t i = 0; i < c->count; i++)
        names[i] = i % 3 == 0 ? c->own : i % 3 == 1 ? MACH_PORT_DEAD : MACH_PORT_NULL;
    xm_ports_msg m;
    memset(&m, 0, sizeof m);
    m.base.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.base.header.msgh_size = sizeof m;
    m.base.header.msgh_remote_port = c->dest;
    m.base.header.msgh_id = 3000;
    m.base.body.msgh_descriptor_count = 1;
    m.ports.address = names;
    m.ports.count = c->count;
    m.ports.deallocate = true;
    m.ports.copy = MACH_MSG_VIRTUAL_COPY;
    m.ports.disposition = MACH_MSG_TYPE_COPY_SEND;
    m.ports.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    XC_REQUIRE(xc_send(s, &m, sizeof m) == MACH_MSG_SUCCESS);
    XC_REQUIRE(!maps_hold(a)); /* deallocate: the array left the sender */
}

static void xm_ports_receiver(int s, void *arg)
{
    xm_ports_case *c = arg;
    uint8_t *img;
    size_t ilen;
    XC_REQUIRE(xc_receive(s, &img, &ilen) == MACH_MSG_SUCCESS);
    xm_ports_msg *m = (xm_ports_msg *)img;
    XC_REQUIRE(m->ports.count == c->count);
    XC_REQUIRE(m->ports.disposition == MACH_MSG_TYPE_PORT_SEND);
    const mach_port_name_t *names = m->ports.address;
    XC_REQUIRE(names && ((uintptr_t)names & 4095) == 0);
    mach_port_name_t first = names[0];
    XC_REQUIRE(MACH_PORT_VALID(first));
    for (uint32_t i = 0; i < c->count; i++) {
        mach_port_name_t want = i % 3 == 0 ? first : i % 3 == 1 ? MACH_PORT_DEAD : MACH_PORT_NULL;
        XC_REQUIRE(names[i] == want);
    }
    XC_REQUIRE(vm_deallocate(mach_task_self(), (vm_address_t)names,
                             c->count * sizeof *names) == KERN_SUCCESS);
    /* Tell the daemon the name it gave us, to check the rights it counted. */
    XC_REQUIRE(write(s, &first, sizeof first) == (ssize_t)sizeof first);
    free(img);
}

static void xm_run_ports(uint32_t count)
{
    xm_world w;
    MT_REQUIRE(xm_world_init(&w, 0));
    xm_ports_case c = {w.send_a, w.a->task_name, count};
    uint8_t *buf = xm_dbuf;
    xm_pair p;
    MT_REQUIRE(xm_pair_start(&p, xm_ports_sender, &c, xm_ports_receiver, &c));
    MT_EQ(xm_serve_send(p.sa[0], w.a, buf), MACH_MSG_SUCCESS);
    MT_EQ(xm_serve_receive(p.sb[0], w.b, w.port_b), MACH_MSG_SUCCESS);
    mach_port_name_t got = 0;
    MT_EQ(read(p.sb[0], &got, sizeof got), (ssize_t)sizeof got);
    mach_port_urefs_t refs = 0;
    MT_KR(um_api_mach_port_get_refs(w.b, w.b->task_name, got, MACH_PORT_RIGHT_SEND, &refs),
          KERN_SUCCESS);
    MT_EQ(refs, (count + 2) / 3); /* one uref per copy of A's task port in the array */
    xm_pair_end(&p, &w);
}

MT_TEST(out_of_line_port_arrays_cross_as_names_and_become_task_memory)
{
    xm_run_ports(3);
    xm_run_ports(3000);  /* 12 KB: bytes in the packet */
    xm_run_ports(16383); /* 64 KB: a memfd each way */
}


/* ---- bad memory, lies, limits, destruction --------------------------------------------------- */

/* A one-descriptor message of `size` bytes at `addr` to `dest`. */
static void xm_one(xm_ool_msg *m, mach_port_name_t dest, void *addr, uint32_t size, bool dealloc)
{
    memset(m, 0, sizeof *m);
    m->base.header.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m->base.header.msgh_size = sizeof m->base + sizeof m->ool[0];
    m->base.header.msgh_remote_port = dest;
    m->base.header.msgh_id = 4000;
    m->base.body.msgh_descriptor_count = 1;
    m->ool[0].address = addr;
    m->ool[0].size = size;
    m->ool[0].deallocate = dealloc;
    m->ool[0].copy = MACH_MSG_VIRTUAL_COPY;
    m->ool[0].type = MACH_MSG_OOL_DESCRIPTOR;
}

/* Send a message with a hand-made memory part: one piece and at most one memfd. */
static mach_msg_return_t xc_send_forged(int s, xm_ool_msg *m, const um_xmem_item *it, int fd)
{
    struct {
        um_xmem_hdr h;
        um_xmem_item it;
    } part = {{UM_XMEM_MAGIC, 1, fd >= 0, 0}, *it};
    xm_head h = {0, m->base.header.msgh_size, sizeof part, 0};
    XC_REQUIRE(xm_send(s, &h, m, &part, &fd, fd >= 0) == 0);
    uint8_t *buf = malloc(XM_PKT_MAX);
    int rfds[253];
    uint32_t nr;
    XC_REQUIRE(buf && xm_recv(s, buf, &h, rfds, &nr) == 0);
    for (uint32_t i = 0; i < nr; i++)
        close(rfds[i]);
    free(buf);
    return (mach_msg_return_t)h.code;
}

static int xm_sealable_memfd(uint64_t size, bool sealable)
{
    int fd = memfd_create("xmem-test", MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0));
    if (fd >= 0 && ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

enum {
    XL_UNREADABLE,
    XL_SIZE_LIE,
    XL_PIPE,
    XL_SHORT_FD,
    XL_UNSEALABLE,
    XL_NO_PIECE,
    XL_BAD_OFFSET,
    XL_NOT_MEMFD,
};

typedef struct {
    mach_port_name_t dest;
    int kind;
} xm_lie_case;

static void xm_liar(int s, void *arg)
{
    xm_lie_case *c = arg;
    xm_ool_msg m;
    vm_address_t a = 0;
    XC_REQUIRE(vm_allocate(mach_task_self(), &a, 1 << 20, VM_FLAGS_ANYWHERE) == KERN_SUCCESS);
    um_xmem_item it = {.addr = a, .size = 100000, .kind = UM_XMEM_FD};
    int fd = xm_sealable_memfd(1 << 20, true);
    XC_REQUIRE(fd >= 0);
    mach_msg_return_t mr;
    switch (c->kind) {
    case XL_UNREADABLE: {
        /* An honest client whose descriptor names memory it does not have. */
        void *hole = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        XC_REQUIRE(hole != MAP_FAILED);
        xm_one(&m, c->dest, (uint8_t *)hole + 100, 100000, true);
        mr = xc_send(s, &m, m.base.header.msgh_size);
        XC_REQUIRE(mr == MACH_SEND_INVALID_MEMORY);
        /* XNU takes nothing of what failed: the range is still mapped. */
        XC_REQUIRE(maps_hold((uint64_t)(uintptr_t)hole));
        _exit(0);
    }
    case XL_SIZE_LIE:
        xm_one(&m, c->dest, (void *)a, 200000, false); /* the piece says 100000 */
        break;
    case XL_PIPE: {
        int p[2];
        XC_REQUIRE(pipe(p) == 0);
        close(fd);
        fd = p[0];
        xm_one(&m, c->dest, (void *)a, 100000, false);
        break;
    }
    case XL_SHORT_FD:
        XC_REQUIRE(ftruncate(fd, 4096) == 0);
        xm_one(&m, c->dest, (void *)a, 100000, false);
        break;
    case XL_UNSEALABLE:
        close(fd);
        fd = xm_sealable_memfd(1 << 20, false);
        xm_one(&m, c->dest, (void *)a, 100000, false);
        break;
    case XL_NO_PIECE:
        it.addr = a + 4096; /* names another range than the descriptor's */
        xm_one(&m, c->dest, (void *)a, 100000, false);
        break;
    case XL_NOT_MEMFD:
        /* A plain file (this program), big enough: not a memfd, its size not sealed. */
        close(fd);
        fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        XC_REQUIRE(fd >= 0);
        xm_one(&m, c->dest, (void *)a, 100000, false);
        break;
    case XL_BAD_OFFSET:
        it.addr = a + 100;
        it.where = 0; /* a large virtual copy keeps offset 100: the file offset must too */
        xm_one(&m, c->dest, (void *)(a + 100), 100000, false);
        break;
    }
    mr = xc_send_forged(s, &m, &it, fd);
    XC_REQUIRE(mr == (mach_msg_return_t)-1);
}

static void xm_run_lie(int kind, int want)
{
    xm_world w;
    MT_REQUIRE(xm_world_init(&w, 0));
    int sa[2];
    MT_REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sa) == 0);
    xm_lie_case c = {w.send_a, kind};
    uint8_t *buf = xm_dbuf;
    pid_t pa = xm_fork(xm_liar, sa[1], &c);
    close(sa[1]);
    MT_EQ(xm_serve_send(sa[0], w.a, buf), want);
    MT_EQ(xm_wait(pa), 0);
    close(sa[0]);
    /* Nothing was queued, nothing is held. */
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(um_api_mach_port_get_attributes(w.b, w.b->task_name, w.port_b,
                                          MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st, &n),
          KERN_SUCCESS);
    MT_EQ(st.mps_msgcount, 0);
    xm_world_end(&w);
    MT_EQ(um_xmem_fds_held(), 0);
}

MT_TEST(unreadable_memory_is_send_invalid_memory_and_a_lying_client_is_caught)
{
    xm_run_lie(XL_UNREADABLE, MACH_SEND_INVALID_MEMORY);
    xm_run_lie(XL_SIZE_LIE, -1);
    xm_run_lie(XL_PIPE, -1);
    xm_run_lie(XL_SHORT_FD, -1);
    xm_run_lie(XL_UNSEALABLE, -1);
    xm_run_lie(XL_NO_PIECE, -1);
    xm_run_lie(XL_BAD_OFFSET, -1);
    xm_run_lie(XL_NOT_MEMFD, -1);
}

typedef struct {
    mach_port_name_t dest;
    uint32_t size;
    mach_msg_return_t want;
} xm_queue_case;

static void xm_queuer(int s, void *arg)
{
    xm_queue_case *c = arg;
    vm_address_t a = 0;
    XC_REQUIRE(vm_allocate(mach_task_self(), &a, c->size, VM_FLAGS_ANYWHERE) == KERN_SUCCESS);
    ool_fill((uint8_t *)a, c->size, 3);
    xm_ool_msg m;
    xm_one(&m, c->dest, (void *)a, c->size, true);
    m.ool[1] = m.ool[0];
    static uint8_t small[100];
    m.ool[1].address = small;
    m.ool[1].size = sizeof small;
    m.ool[1].deallocate = false;
    m.base.body.msgh_descriptor_count = 2;
    m.base.header.msgh_size += sizeof m.ool[1];
    XC_REQUIRE(xc_send(s, &m, m.base.header.msgh_size) == c->want);
    /* A move that failed before anything was taken leaves the range where it was. */
    XC_REQUIRE(maps_hold(a) == (c->want != MACH_MSG_SUCCESS));
}

MT_TEST(queued_memory_counts_against_the_sender_and_dies_with_the_receiver)
{
    xm_world w;
    MT_REQUIRE(xm_world_init(&w, 4u << 20));
    int sa[2];
    MT_REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sa) == 0);
    uint8_t *buf = xm_dbuf;
    /* Over the sender's cap: MACH_SEND_NO_BUFFER, nothing taken. */
    xm_queue_case big = {w.send_a, 8u << 20, MACH_SEND_NO_BUFFER};
    pid_t pa = xm_fork(xm_queuer, sa[1], &big);
    MT_EQ(xm_serve_send(sa[0], w.a, buf), MACH_SEND_NO_BUFFER);
    MT_EQ(xm_wait(pa), 0);
    MT_EQ(um_xmem_fds_held(), 0);
    /* Under it: queued, the memfd held by the daemon while the message waits. */
    xm_queue_case ok = {w.send_a, 1u << 20, MACH_MSG_SUCCESS};
    pa = xm_fork(xm_queuer, sa[1], &ok);
    MT_EQ(xm_serve_send(sa[0], w.a, buf), MACH_MSG_SUCCESS);
    MT_EQ(xm_wait(pa), 0);
    MT_EQ(um_xmem_fds_held(), 1);
    MT_EQ(w.a->space->ledger->queued, (uint64_t)(1u << 20) + 100 + sizeof(xm_ool_msg) -
                                          sizeof(mach_msg_ool_descriptor_t) * 2);
    /* The receiver dies with the message queued: the memory goes with it. */
    um_task_terminate(w.b);
    w.b = NULL;
    MT_EQ(um_xmem_fds_held(), 0);
    MT_EQ(w.a->space->ledger->queued, 0);
    close(sa[0]);
    close(sa[1]);
    xm_world_end(&w);
}

MT_TEST(a_task_holds_at_most_its_cap_of_memfds_in_flight)
{
    xm_world w;
    MT_REQUIRE(xm_world_init(&w, 0));
    xm_owner = um_xmem_owner_new(2);
    MT_REQUIRE(xm_owner);
    int sa[2];
    MT_REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sa) == 0);
    uint8_t *buf = xm_dbuf;
    xm_queue_case ok = {w.send_a, 1u << 20, MACH_MSG_SUCCESS};
    for (int i = 0; i < 2; i++) {
        pid_t pa = xm_fork(xm_queuer, sa[1], &ok);
        MT_EQ(xm_serve_send(sa[0], w.a, buf), MACH_MSG_SUCCESS);
        MT_EQ(xm_wait(pa), 0);
    }
    MT_EQ(xm_owner->fds, 2);
    /* A third memfd would go over: the descriptor fails, the message takes nothing. */
    xm_queue_case over = {w.send_a, 1u << 20, MACH_MSG_VM_KERNEL};
    pid_t pa = xm_fork(xm_queuer, sa[1], &over);
    MT_EQ(xm_serve_send(sa[0], w.a, buf), MACH_MSG_VM_KERNEL);
    MT_EQ(xm_wait(pa), 0);
    MT_EQ(xm_owner->fds, 2);
    MT_EQ(um_xmem_fds_held(), 2);
    /* The copies outlive their task; they let go when their messages die. */
    um_task_terminate(w.a);
    w.a = NULL;
    MT_EQ(xm_owner->fds, 2);
    um_task_terminate(w.b);
    w.b = NULL;
    MT_EQ(xm_owner->fds, 0);
    MT_EQ(um_xmem_fds_held(), 0);
    um_xmem_owner_release(xm_owner);
    xm_owner = NULL;
    close(sa[0]);
    close(sa[1]);
}

MT_TEST(a_captured_memfd_cannot_shrink_grow_or_be_written_again)
{
    /* A region (its own memfd, frozen and shared) and malloc'd memory (copied into one). */
    vm_address_t a = 0;
    MT_KR(vm_allocate(mach_task_self(), &a, 1 << 20, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    ool_fill((uint8_t *)a, 1 << 20, 5);
    uint8_t *heap = malloc(100000);
    MT_REQUIRE(heap);
    ool_fill(heap, 100000, 6);
    struct {
        mach_msg_base_t base;
        mach_msg_ool_descriptor_t ool[2];
    } m;
    memset(&m, 0, sizeof m);
    m.base.header.msgh_bits = MACH_MSGH_BITS_COMPLEX;
    m.base.header.msgh_size = sizeof m;
    m.base.body.msgh_descriptor_count = 2;
    m.ool[0] = (mach_msg_ool_descriptor_t){.address = (void *)a, .size = 1 << 20,
                                           .copy = MACH_MSG_VIRTUAL_COPY,
                                           .type = MACH_MSG_OOL_DESCRIPTOR};
    m.ool[1] = (mach_msg_ool_descriptor_t){.address = heap, .size = 100000,
                                           .copy = MACH_MSG_VIRTUAL_COPY,
                                           .type = MACH_MSG_OOL_DESCRIPTOR};
    um_xmem_out out;
    um_xmem_out_init(&out);
    MT_KR(um_xmem_capture(&m, sizeof m, &out), MACH_MSG_SUCCESS);
    MT_EQ(out.nfds, 2);
    for (uint32_t i = 0; i < out.nfds; i++) {
        int fd = out.fds[i]->fd;
        int seals = fcntl(fd, F_GET_SEALS);
        MT_CHECK(seals >= 0 && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW));
#ifdef F_SEAL_FUTURE_WRITE
        MT_CHECK(seals & F_SEAL_FUTURE_WRITE);
        uint8_t b = 1;
        MT_EQ(pwrite(fd, &b, 1, 0), -1);
#endif
        MT_NE(ftruncate(fd, 0), 0);
    }
    /* The sender's own memory is its to write still (the region's own pages copy on write). */
    ool_fill((uint8_t *)a, 1 << 20, 7);
    ool_fill(heap, 100000, 8);
    MT_CHECK(ool_verify((uint8_t *)a, 1 << 20, 7));
    um_xmem_out_free(&out);
    free(heap);
    MT_KR(vm_deallocate(mach_task_self(), a, 1 << 20), KERN_SUCCESS);
}

MT_MAIN()
