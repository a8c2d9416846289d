/*
 * fuzz_umachd.c — libFuzzer target: umachd's request decoder and the calls behind it, fed
 * arbitrary packets on a task's connections without a listening socket or an epoll loop
 * (issue 13 item 7). Each input is a fresh world (d_loop_init): one task says a proper hello
 * and two of its threads join it, then every record of the input is one packet, decoded
 * (um_wire_decode: the checks um_wire_recv makes of what arrived) and served (d_serve) as the
 * loop would serve it, on the connection the record names: the task's control connection, one
 * of its thread connections, or a new connection whose first packet decides what it is. A
 * packet that does not decode, or that the daemon calls malformed, ends that connection and
 * its task, as it ends a client's; the daemon then goes on with the rest (new connections
 * may still say hello). Replies go to the other end of a socketpair per connection and are
 * read and dropped (descriptors they carry closed).
 *
 * Oracle: no crash, no hang, nothing ASan/UBSan/LeakSanitizer report; after each input the
 * world shuts down with no task left (d_loop_shutdown), and a next hello works.
 *
 * Input layout: records of [sel:1][len:2, little endian][len bytes]. sel & 3: 0 the control
 * connection, 1 and 2 the thread connections, 3 a new connection each time (it joins with
 * the task's real secret when its packet is a JOIN whose args are 0xF0F0F0F0F0F0F0F0); sel &
 * 4: the bytes also go in a memfd passed with the packet, as a large payload travels
 * (grown with zeros to the blob length its header says, up to 1 MiB); sel & 0x10: one to
 * four (1 + (sel >> 5 & 3)) more descriptors come with it, as a memory part's memfds do
 * (UM_WIRE_F_XMEM): sealed memfds of 4 KiB times their rank holding the bytes, the last one a
 * pipe when sel & 0x80; sel & 8: the bytes are posted in the connection's shared-memory ring
 * instead (the thread connections have one, as a client's do; for the others an area of the
 * ring's size), taken out by um_ring_take as the daemon takes a posted request, and answered
 * in the ring when the reply fits; sel & 8 and sel & 0x10 together: the bytes are written
 * into the thread connection's post ring at its head (posted sends: a record's header and
 * message, as many as the bytes hold) and its tail moved past them, then the daemon takes
 * the posts as before any request. The task's port (a receive right with a send right) is
 * granted credits on both thread connections before each record; a message whose remote port
 * is 0xF0F0F0F0 names that port. Both thread connections have a receive window on it (a
 * receive alone opens one), so posted messages are rendered there; sel & 0x38 == 0x28: the
 * record's first eight bytes are the connection's window words `avail` and `done` (the
 * client's claims, true or not), then the daemon applies them and fills the windows again.
 */
#define _GNU_SOURCE
#include "umachd.h"

#include "wire/um_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 64
#define SECRET_WORD 0xF0F0F0F0F0F0F0F0ull
#define PORT_WORD 0xF0F0F0F0u

static void die(const char *what)
{
    fprintf(stderr, "fuzz_umachd: %s\n", what);
    abort();
}

/* ---- connections ------------------------------------------------------------------------- */

typedef struct f_conn {
    d_conn *c;  /* NULL once ended (the daemon frees it at shutdown) */
    int peer;   /* our end: the daemon's replies arrive here */
} f_conn;

static um_wire_buf f_buf, f_take;
/* A request area for a connection without a ring (malloc'd at its exact size: ASan sees a
   read past it). */
static uint8_t *f_area;

/* A connection of this process, registered with the daemon as d_accept does. */
static void f_connect(d_daemon *d, f_conn *f)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) != 0)
        die("socketpair");
    d_conn *c = calloc(1, sizeof *c);
    if (!c)
        die("out of memory");
    c->kind = D_CONN_NEW;
    c->fd = sv[0];
    c->pid = getpid();
    c->uid = getuid();
    c->gid = getgid();
    c->all_next = d->conns;
    d->conns = c;
    f->c = c;
    f->peer = sv[1];
}

/* Read and drop every reply waiting on `f` (closing what descriptors they brought). */
static void f_drain(f_conn *f)
{
    for (;;) {
        um_wire_pkt p;
        int rc = um_wire_recv(f->peer, &f_buf, &p, UM_WIRE_BLOB_MAX, MSG_DONTWAIT);
        if (rc != 1)
            break;
        um_wire_pkt_free(&p);
    }
}

/* One request built here (hello, join) and its reply's arguments. */
static bool f_call(d_daemon *d, f_conn *f, uint16_t call, const uint64_t *args, uint32_t nargs,
                   uint64_t *out, uint32_t nout)
{
    struct {
        um_wire_hdr h;
        uint64_t a[UM_WIRE_MAX_ARGS];
    } req;
    memset(&req, 0, sizeof req);
    req.h.magic = UM_WIRE_MAGIC;
    req.h.call = call;
    req.h.id = 1;
    req.h.nargs = nargs;
    memcpy(req.a, args, nargs * sizeof *args);
    um_wire_pkt p;
    if (um_wire_decode((const uint8_t *)&req, sizeof req.h + nargs * 8, -1, &p,
                       UM_WIRE_BLOB_MAX) != 1 ||
        d_serve(d, f->c, &p) != 1)
        return false;
    um_wire_pkt rep;
    if (um_wire_recv(f->peer, &f_buf, &rep, UM_WIRE_BLOB_MAX, MSG_DONTWAIT) != 1)
        return false;
    bool ok = rep.h.kr == KERN_SUCCESS && rep.h.nargs >= nout;
    if (ok)
        memcpy(out, rep.args, nout * sizeof *out);
    um_wire_pkt_free(&rep);
    return ok;
}

/*
 * A memfd holding `len` bytes of `bytes`, as long as the header's blob_len says when that is
 * more (at most 1 MiB; zeros after the bytes), or -1.
 */
static int f_memfd(const uint8_t *bytes, size_t len)
{
    int fd = memfd_create("fuzz-umachd", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (len && write(fd, bytes, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    um_wire_hdr h;
    if (len >= sizeof h) {
        memcpy(&h, bytes, sizeof h);
        if (h.blob_len > len && h.blob_len <= (1u << 20) && ftruncate(fd, h.blob_len) != 0) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

/*
 * `n` descriptors as a memory part brings them: memfds of 4 KiB times their rank holding
 * `bytes`, the last one a pipe's read end when `pipe_last`. Returns how many were made.
 */
static uint32_t f_part_fds(const uint8_t *bytes, size_t len, uint32_t n, bool pipe_last, int *fds)
{
    uint32_t made = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (pipe_last && i + 1 == n) {
            int pp[2];
            if (pipe2(pp, O_CLOEXEC) != 0)
                break;
            close(pp[1]);
            fds[made++] = pp[0];
            break;
        }
        int fd = memfd_create("fuzz-umachd-part", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
            break;
        size_t size = 4096u * (i + 1);
        if ((len && write(fd, bytes, len < size ? len : size) < 0) ||
            ftruncate(fd, (off_t)size) != 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
            close(fd);
            break;
        }
        fds[made++] = fd;
    }
    return made;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static d_daemon d;
    memset(&d, 0, sizeof d);
    if (!f_area && !(f_area = malloc(UM_RING_AREA)))
        die("out of memory");
    d_kernel_init(&d); /* umachd's own kernel operations */
    d.listen_fd = -1;
    d.epoll_fd = -1;
    d_loop_init(&d);

    /* The task and two of its threads. */
    f_conn conns[3], extra[MAX_RECORDS];
    size_t nextra = 0;
    for (int i = 0; i < 3; i++)
        f_connect(&d, &conns[i]);
    uint64_t hello[3] = {UM_WIRE_HELLO_GUARD_NONFATAL, 0, 0}, out[5];
    if (!f_call(&d, &conns[0], UM_WIRE_HELLO, hello, 3, out, 5))
        die("hello failed");
    uint64_t secret[2] = {out[3], out[4]};
    for (int i = 1; i < 3; i++) {
        if (!f_call(&d, &conns[i], UM_WIRE_JOIN, secret, 2, out, 0))
            die("join failed");
        /* Its ring, as a JOIN with UM_WIRE_JOIN_RING makes it (the client's mapping aside). */
        int memfd = -1;
        if (um_ring_create(&conns[i].c->ring, &memfd) != 0)
            die("um_ring_create");
        close(memfd);
    }

    /* A port of the task's, for posted sends: credits on both thread connections. */
    mach_port_name_t pname = MACH_PORT_NULL;
    um_port *port = NULL;
    um_space *space = conns[0].c->task->task->space;
    if (um_port_allocate_right(space, MACH_PORT_RIGHT_RECEIVE, false, &pname) != KERN_SUCCESS ||
        um_right_insert_same_name(space, pname, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        die("port for posts");
    port = (um_port *)um_entry_lookup(space, pname)->object;
    um_port_ref(port); /* ours while the input runs */
    for (int i = 1; i < 3; i++)
        d_win_open(&d, conns[i].c, pname, MACH_RCV_MSG, 256);

    size_t off = 0;
    for (int n = 0; n < MAX_RECORDS && off + 3 <= size; n++) {
        uint8_t sel = data[off];
        size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
        off += 3;
        if (len > size - off)
            len = size - off;
        const uint8_t *bytes = data + off;
        off += len;
        f_conn *f;
        if ((sel & 3) == 3) {
            f = &extra[nextra++];
            f_connect(&d, f);
        } else {
            f = &conns[sel & 3];
        }
        if (!f->c)
            continue; /* that connection has ended */
        /* A JOIN whose secret is the marker gets the task's real one. */
        uint8_t copy[sizeof(um_wire_hdr) + 16];
        um_wire_hdr h;
        if (len == sizeof copy) {
            memcpy(&h, bytes, sizeof h);
            uint64_t a[2];
            memcpy(a, bytes + sizeof h, sizeof a);
            if (h.call == UM_WIRE_JOIN && a[0] == SECRET_WORD && a[1] == SECRET_WORD) {
                memcpy(copy, bytes, sizeof copy);
                memcpy(copy + sizeof h, secret, sizeof secret);
                bytes = copy;
            }
        }
        for (int i = 1; i < 3; i++)
            if (conns[i].c && !conns[i].c->dead)
                d_post_grant(&d, conns[i].c, pname, port);
        um_wire_pkt p;
        int rc;
        if ((sel & 0x38) == 0x28) {
            /* Receive-window words: claims as the client says them. */
            rc = 1;
            um_ring *ring = &f->c->ring;
            if (ring->base && len >= 8) {
                um_ring_win_ctl *wc = um_ring_win_ctl_of(ring);
                uint32_t w[2];
                memcpy(w, bytes, sizeof w);
                __atomic_store_n(&wc->avail, w[0], __ATOMIC_RELEASE);
                __atomic_store_n(&wc->done, w[1], __ATOMIC_RELEASE);
                d_post_drain_all(&d);
                d_win_fill_all(&d);
            }
        } else if ((sel & 0x18) == 0x18) {
            /* Posted sends: the bytes at the post ring's head, the tail past them. */
            rc = 1;
            um_ring *ring = &f->c->ring;
            if (ring->base) {
                um_ring_post_ctl *pc = um_ring_post_ctl_of(ring);
                uint8_t *parea = um_ring_post_area(ring);
                uint32_t head = pc->head, at = head & (UM_RING_POST_SIZE - 1);
                size_t n = len < UM_RING_POST_SIZE - at ? len : UM_RING_POST_SIZE - at;
                memcpy(parea + at, bytes, n);
                /* A message naming the marker names the task's port. */
                for (size_t k = 0; k + 8 + sizeof(mach_msg_header_t) <= n; k += 8) {
                    mach_msg_header_t mh;
                    memcpy(&mh, parea + at + k + 8, sizeof mh);
                    if (mh.msgh_remote_port == PORT_WORD) {
                        mh.msgh_remote_port = pname;
                        memcpy(parea + at + k + 8, &mh, sizeof mh);
                    }
                }
                __atomic_store_n(&pc->tail, head + (uint32_t)len, __ATOMIC_RELEASE);
                d_post_drain_all(&d);
                d_win_fill_all(&d);
            }
        } else if (sel & 8) {
            /* Through the ring: the request area holds the bytes (zeros after them). */
            um_ring *ring = &f->c->ring;
            uint8_t *area = ring->base ? um_ring_req_area(ring) : f_area;
            size_t n = len < UM_RING_AREA ? len : UM_RING_AREA;
            memset(area, 0, UM_RING_AREA);
            memcpy(area, bytes, n);
            if (ring->base)
                um_ring_ctl_post(um_ring_ctl_of(ring)); /* as the client posts it */
            rc = ring->base && !um_ring_claim(ring)
                     ? -1
                     : um_ring_take(area, &f_take, &p, UM_WIRE_BLOB_MAX);
            if (rc == 1) {
                f->c->ring_reply = ring->base != NULL;
                rc = d_serve(&d, f->c, &p);
            }
            if (ring->base && f->c && !f->c->dead)
                __atomic_store_n(&um_ring_ctl_of(ring)->state, UM_RING_IDLE, __ATOMIC_RELEASE);
        } else {
            int fds[1 + 4];
            uint32_t nfds = 0;
            if (sel & 4) {
                int memfd = f_memfd(bytes, len);
                if (memfd >= 0)
                    fds[nfds++] = memfd;
            }
            if (sel & 0x10)
                nfds += f_part_fds(bytes, len, 1u + ((sel >> 5) & 3u), (sel & 0x80) != 0,
                                   fds + nfds);
            rc = um_wire_decode_fds(bytes, len, fds, nfds, &p, UM_WIRE_BLOB_MAX);
            if (rc == 1)
                rc = d_serve(&d, f->c, &p);
        }
        if (rc != 1) {
            /* Malformed: the daemon ends that connection and, for a task's, the task. */
            d_conn_failed(&d, f->c);
            f->c = NULL;
        }
        d_settle(&d);
        for (int i = 0; i < 3; i++)
            if (conns[i].c && conns[i].c->dead)
                conns[i].c = NULL;
        for (size_t i = 0; i < nextra; i++)
            if (extra[i].c && extra[i].c->dead)
                extra[i].c = NULL;
        for (int i = 0; i < 3; i++)
            f_drain(&conns[i]);
        for (size_t i = 0; i < nextra; i++)
            f_drain(&extra[i]);
    }

    d_loop_shutdown(&d);
    um_port_release(port);
    if (d.tasks || d.ntasks || d.conns)
        die("the world kept a task or a connection after shutdown");
    for (int i = 0; i < 3; i++)
        close(conns[i].peer);
    for (size_t i = 0; i < nextra; i++)
        close(extra[i].peer);
    return 0;
}
