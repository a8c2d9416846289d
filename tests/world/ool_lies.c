/*
 * ool_lies.c — runs inside a world (ctest: umach-run -- world_ool_lies): a client whose
 * out-of-line memory does not match its message ends its own task and nothing else
 * (docs/world.md, "Out-of-line memory between processes"). A hand-made client speaks the wire
 * protocol (a control connection and a thread connection of one task) and sends mach_msg
 * requests whose memory part lies: a piece longer than its memfd, a memfd that is a pipe, a
 * descriptor with no piece at all; and memory-entry requests whose memfd an entry cannot use
 * (its size not sealed, too small, read-only for a writable entry). Each time umachd hangs the
 * task up, the world has one task fewer, and this process's own task goes on working.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"
#include "vm/um_xmem.h"

#include <mach/mach.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define TASK mach_task_self()

/* Tasks alive in the world, asked on a connection of their own (which makes one more). */
static int lie_tasks(void)
{
    int fd = w_connect_path(NULL);
    w_hello_reply h;
    uint32_t tasks = 0, names = 0;
    int rc = fd >= 0 && w_hello(fd, &h) == 0 && w_stats2(fd, &tasks, &names) == 0;
    if (fd >= 0)
        close(fd);
    return rc ? (int)tasks - 1 : -1;
}

/* Has the peer hung `fd` up (within 5 s)? */
static bool lie_hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (int i = 0; i < 50; i++) {
        if (poll(&p, 1, 100) == 1) {
            char b[256];
            ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                return true;
        }
    }
    return false;
}

/* One packet with a memory part (the last xmem_len bytes of the blob) and one descriptor. */
static int lie_send(int s, um_wire_hdr *h, const uint64_t *args, const void *blob,
                    uint32_t xmem_len, int fd)
{
    h->magic = UM_WIRE_MAGIC;
    h->flags = UM_WIRE_F_XMEM;
    h->xmem_len = xmem_len;
    struct iovec iov[3] = {{h, sizeof *h}, {(void *)args, h->nargs * 8u},
                           {(void *)blob, h->blob_len}};
    union {
        struct cmsghdr c;
        char space[CMSG_SPACE(sizeof(int))];
    } cm;
    memset(&cm, 0, sizeof cm);
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3, .msg_control = cm.space,
                        .msg_controllen = sizeof cm.space};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    size_t want = sizeof *h + h->nargs * 8u + h->blob_len;
    return sendmsg(s, &mh, MSG_NOSIGNAL) == (ssize_t)want ? 0 : -1;
}

enum { LIE_SHORT_MEMFD, LIE_PIPE, LIE_NO_PIECE };

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t ool;
} lie_msg;

/* A hand-made task sends a message of 100,000 bytes out of line with a lying memory part. */
static void lie_once(int kind)
{
    int before = lie_tasks();
    MT_REQUIRE(before >= 1);
    int ctl = w_connect_path(NULL), thr = w_connect_path(NULL);
    MT_REQUIRE(ctl >= 0 && thr >= 0);
    w_hello_reply h;
    MT_REQUIRE(w_hello(ctl, &h) == 0);
    uint64_t secret[2] = {h.secret[0], h.secret[1]};
    uint64_t none[1];
    MT_REQUIRE(w_request(thr, UM_WIRE_JOIN, secret, 2, none, 0) == 0);
    MT_EQ(lie_tasks(), before + 1);

    lie_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, 0, 0, MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = h.task_name; /* a right it holds: the header is fine */
    m.body.msgh_descriptor_count = 1;
    m.ool.address = (void *)0x10000000;
    m.ool.size = 100000;
    m.ool.copy = MACH_MSG_VIRTUAL_COPY;
    m.ool.type = MACH_MSG_OOL_DESCRIPTOR;

    int fd = -1;
    um_xmem_item it = {.addr = 0x10000000, .size = 100000, .kind = UM_XMEM_FD};
    if (kind == LIE_SHORT_MEMFD) {
        fd = memfd_create("lie", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        MT_REQUIRE(fd >= 0 && ftruncate(fd, 4096) == 0);
    } else if (kind == LIE_PIPE) {
        int p[2];
        MT_REQUIRE(pipe(p) == 0);
        close(p[1]);
        fd = p[0];
    } else {
        fd = memfd_create("lie", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        MT_REQUIRE(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
        it.addr = 0x20000000; /* a piece, but not the descriptor's */
    }
    /* The message, then the memory part: one header, one piece, no bytes. */
    uint8_t blob[sizeof m + sizeof(um_xmem_hdr) + sizeof(um_xmem_item)];
    um_xmem_hdr xh = {UM_XMEM_MAGIC, 1, 1, 0};
    memcpy(blob, &m, sizeof m);
    memcpy(blob + sizeof m, &xh, sizeof xh);
    memcpy(blob + sizeof m + sizeof xh, &it, sizeof it);
    uint64_t args[UM_WIRE_MSG_NARGS] = {MACH_SEND_MSG, sizeof m, 0, 0, 0, 0x30000000, 0, 0};
    um_wire_hdr wh;
    memset(&wh, 0, sizeof wh);
    wh.call = UM_WIRE_MSG;
    wh.id = 7;
    wh.nargs = UM_WIRE_MSG_NARGS;
    wh.blob_len = sizeof blob;
    MT_EQ(lie_send(thr, &wh, args, blob, sizeof blob - sizeof m, fd), 0);
    close(fd);
    /* The task ends: its connections are hung up, the world counts one task fewer. */
    MT_CHECK(lie_hung_up(ctl));
    MT_EQ(lie_tasks(), before);
    close(ctl);
    close(thr);
    /* Ours was not disturbed. */
    mach_port_t p = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(a_piece_longer_than_its_memfd_ends_the_liars_task_only)
{
    lie_once(LIE_SHORT_MEMFD);
}

MT_TEST(a_pipe_for_a_memfd_ends_the_liars_task_only)
{
    lie_once(LIE_PIPE);
}

MT_TEST(a_descriptor_without_its_piece_ends_the_liars_task_only)
{
    lie_once(LIE_NO_PIECE);
}

enum { ENTRY_UNSEALED, ENTRY_TOO_SMALL, ENTRY_READ_ONLY_FD, ENTRY_HONEST };

/*
 * A hand-made task asks for a memory entry of two pages (UM_WIRE_MEM_ENTRY_CREATE) with a
 * memfd that is not what an entry needs: its size not sealed, one page long, or opened
 * read-only for a writable entry. Each lie ends its task; an honest memfd gets an entry.
 */
static void entry_lie(int kind)
{
    int before = lie_tasks();
    MT_REQUIRE(before >= 1);
    int ctl = w_connect_path(NULL), thr = w_connect_path(NULL);
    MT_REQUIRE(ctl >= 0 && thr >= 0);
    w_hello_reply h;
    MT_REQUIRE(w_hello(ctl, &h) == 0);
    uint64_t secret[2] = {h.secret[0], h.secret[1]};
    uint64_t none[1];
    MT_REQUIRE(w_request(thr, UM_WIRE_JOIN, secret, 2, none, 0) == 0);
    MT_EQ(lie_tasks(), before + 1);

    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    int fd = memfd_create("entry", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    MT_REQUIRE(fd >= 0);
    MT_REQUIRE(ftruncate(fd, (off_t)(kind == ENTRY_TOO_SMALL ? page : 2 * page)) == 0);
    if (kind != ENTRY_UNSEALED)
        MT_REQUIRE(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
    if (kind == ENTRY_READ_ONLY_FD) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        int ro = open(path, O_RDONLY | O_CLOEXEC);
        MT_REQUIRE(ro >= 0);
        close(fd);
        fd = ro;
    }
    um_xmem_hdr xh = {UM_XMEM_MAGIC, 0, 1, 0};
    uint64_t args[5] = {0, 2 * page, VM_PROT_READ | VM_PROT_WRITE, 0, 3};
    um_wire_hdr wh;
    memset(&wh, 0, sizeof wh);
    wh.call = UM_WIRE_MEM_ENTRY_CREATE;
    wh.id = 9;
    wh.nargs = 5;
    wh.blob_len = sizeof xh;
    MT_EQ(lie_send(thr, &wh, args, &xh, sizeof xh, fd), 0);
    close(fd);
    if (kind == ENTRY_HONEST) {
        um_wire_buf buf;
        um_wire_pkt rep;
        MT_REQUIRE(um_wire_recv(thr, &buf, &rep, UM_WIRE_BLOB_MAX, 0) == 1);
        MT_EQ(rep.h.kr, KERN_SUCCESS);
        MT_EQ(rep.h.nargs, 1u);
        MT_CHECK(MACH_PORT_VALID((mach_port_name_t)rep.args[0]));
        um_wire_pkt_free(&rep);
        MT_EQ(lie_tasks(), before + 1);
        close(thr);
        close(ctl);
        MT_CHECK(lie_hung_up(ctl) || lie_tasks() == before);
    } else {
        MT_CHECK(lie_hung_up(ctl));
        MT_EQ(lie_tasks(), before);
        close(ctl);
        close(thr);
    }
    mach_port_t p = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(a_memory_entry_whose_memfd_can_change_size_is_too_small_or_read_only_ends_the_task)
{
    entry_lie(ENTRY_UNSEALED);
    entry_lie(ENTRY_TOO_SMALL);
    entry_lie(ENTRY_READ_ONLY_FD);
    entry_lie(ENTRY_HONEST); /* the same request told truly is served */
}

MT_MAIN()
