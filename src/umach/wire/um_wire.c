/*
 * um_wire.c — sending and receiving the world's packets (um_wire.h), for both sides. Nothing
 * here trusts the peer: every length is checked against what actually arrived, a memfd's
 * size against what the header says, and a descriptor that comes where none is expected is
 * closed and the packet refused.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create, MSG_CMSG_CLOEXEC */
#endif
#include "um_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Write all of `len` bytes of `src` to the start of memfd `fd`. */
static int wire_fill_memfd(int fd, const uint8_t *src, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, src + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        done += (size_t)n;
    }
    return 0;
}

int um_wire_send(int fd, um_wire_hdr *h, const uint64_t *args, const void *blob)
{
    return um_wire_send_xmem(fd, h, args, blob, 0, NULL, 0);
}

int um_wire_send_xmem(int fd, um_wire_hdr *h, const uint64_t *args, const void *blob,
                      uint32_t xmem_len, const int *fds, uint32_t nfds)
{
    struct iovec iov[3];
    int niov = 0;
    int memfd = -1;
    if (nfds > UM_WIRE_XMEM_MAX_FDS || xmem_len > h->blob_len || (nfds && !xmem_len))
        return -EINVAL;
    h->magic = UM_WIRE_MAGIC;
    h->flags &= (uint16_t) ~(UM_WIRE_F_MEMFD | UM_WIRE_F_XMEM);
    h->xmem_len = xmem_len;
    if (xmem_len)
        h->flags |= UM_WIRE_F_XMEM;
    iov[niov++] = (struct iovec){h, sizeof *h};
    if (h->nargs)
        iov[niov++] = (struct iovec){(void *)args, (size_t)h->nargs * 8};
    union {
        struct cmsghdr c;
        char space[CMSG_SPACE(sizeof(int) * (UM_WIRE_XMEM_MAX_FDS + 1))];
    } cm;
    struct msghdr mh = {.msg_iov = iov};
    uint32_t ncm = 0;
    int cfds[UM_WIRE_XMEM_MAX_FDS + 1];
    if (h->blob_len > UM_WIRE_INLINE_MAX) {
        memfd = memfd_create("umach-wire", MFD_CLOEXEC);
        if (memfd < 0)
            return -errno;
        int rc = wire_fill_memfd(memfd, blob, h->blob_len);
        if (rc != 0) {
            close(memfd);
            return rc;
        }
        h->flags |= UM_WIRE_F_MEMFD;
        cfds[ncm++] = memfd;
    } else if (h->blob_len) {
        iov[niov++] = (struct iovec){(void *)blob, h->blob_len};
    }
    for (uint32_t i = 0; i < nfds; i++)
        cfds[ncm++] = fds[i];
    if (ncm) {
        memset(&cm, 0, sizeof cm);
        mh.msg_control = cm.space;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * ncm);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * ncm);
        memcpy(CMSG_DATA(c), cfds, sizeof(int) * ncm);
    }
    mh.msg_iovlen = (size_t)niov;
    ssize_t n;
    do
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    int err = n < 0 ? -errno : 0;
    if (memfd >= 0)
        close(memfd);
    return err;
}

/* Close every descriptor a control message brought. */
static void wire_close_fds(struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            close(fd);
        }
    }
}

/* The descriptors a control message brought (at most `max`), in order; -1: more, or junk. */
static int wire_fds(struct msghdr *mh, int *fds, uint32_t max)
{
    uint32_t n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            return -1;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (k > max - n)
            return -1;
        memcpy(fds + n, CMSG_DATA(c), k * sizeof(int));
        n += (uint32_t)k;
    }
    return (int)n;
}

/* Read `len` bytes of memfd `fd` (its size already checked) into a new buffer. */
static uint8_t *wire_read_memfd(int fd, size_t len)
{
    uint8_t *buf = malloc(len);
    if (!buf)
        return NULL;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) { /* truncated behind our back */
            free(buf);
            return NULL;
        }
        done += (size_t)n;
    }
    return buf;
}

int um_wire_decode(const uint8_t *bytes, size_t n, int memfd, um_wire_pkt *p, uint32_t blob_max)
{
    return um_wire_decode_fds(bytes, n, memfd >= 0 ? &memfd : NULL, memfd >= 0, p, blob_max);
}

static int decode_refuse(const int *fds, uint32_t nfds)
{
    for (uint32_t i = 0; i < nfds; i++)
        close(fds[i]);
    return -EPROTO;
}

int um_wire_decode_fds(const uint8_t *bytes, size_t n, const int *fds, uint32_t nfds,
                       um_wire_pkt *p, uint32_t blob_max)
{
    p->blob = NULL;
    p->blob_heap = false;
    p->nfds = 0;
    if (n < sizeof p->h)
        return decode_refuse(fds, nfds);
    memcpy(&p->h, bytes, sizeof p->h);
    uint32_t memfd = (p->h.flags & UM_WIRE_F_MEMFD) ? 1 : 0;
    bool xmem = (p->h.flags & UM_WIRE_F_XMEM) != 0;
    if (p->h.magic != UM_WIRE_MAGIC || p->h.nargs > UM_WIRE_MAX_ARGS ||
        p->h.blob_len > blob_max || (xmem && p->h.xmem_len > p->h.blob_len) ||
        nfds < memfd || (nfds > memfd && !xmem) || nfds - memfd > UM_WIRE_XMEM_MAX_FDS)
        return decode_refuse(fds, nfds);
    size_t head = sizeof p->h + (size_t)p->h.nargs * 8;
    if (memfd) {
        if (n != head || p->h.blob_len <= UM_WIRE_INLINE_MAX)
            return decode_refuse(fds, nfds);
        struct stat st;
        if (fstat(fds[0], &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)p->h.blob_len)
            return decode_refuse(fds, nfds);
        p->blob = wire_read_memfd(fds[0], p->h.blob_len);
        if (!p->blob)
            return decode_refuse(fds, nfds);
        close(fds[0]);
        p->blob_heap = true;
    } else {
        if (n != head + p->h.blob_len)
            return decode_refuse(fds, nfds);
        if (p->h.blob_len)
            p->blob = (uint8_t *)bytes + head;
    }
    /* The memory part's descriptors: the packet's until taken. */
    p->nfds = nfds - memfd;
    if (p->nfds)
        memcpy(p->fds, fds + memfd, p->nfds * sizeof *fds);
    memset(p->args, 0, sizeof p->args);
    memcpy(p->args, bytes + sizeof p->h, (size_t)p->h.nargs * 8);
    return 1;
}

int um_wire_recv(int fd, um_wire_buf *buf, um_wire_pkt *p, uint32_t blob_max, int flags)
{
    p->blob = NULL;
    p->blob_heap = false;
    p->nfds = 0;
    union {
        struct cmsghdr c;
        char space[CMSG_SPACE(sizeof(int) * (UM_WIRE_XMEM_MAX_FDS + 1))];
    } cm;
    struct iovec iov = {buf->bytes, sizeof buf->bytes};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.space,
                        .msg_controllen = sizeof cm.space};
    ssize_t n = recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
    if (n == 0 && !(mh.msg_flags & MSG_CTRUNC) && mh.msg_controllen == 0)
        return 0; /* hang-up (a SEQPACKET peer never sends an empty packet here) */
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        wire_close_fds(&mh);
        return -EPROTO;
    }
    int fds[UM_WIRE_XMEM_MAX_FDS + 1];
    int nfd = wire_fds(&mh, fds, UM_WIRE_XMEM_MAX_FDS + 1);
    if (nfd < 0) {
        wire_close_fds(&mh);
        return -EPROTO;
    }
    return um_wire_decode_fds(buf->bytes, (size_t)n, fds, (uint32_t)nfd, p, blob_max);
}

int um_wire_send_fds(int fd, um_wire_hdr *h, const uint64_t *args, const void *blob,
                     const int *fds, unsigned nfds)
{
    if (nfds > UM_WIRE_MAX_FDS || h->nargs > UM_WIRE_MAX_ARGS || h->blob_len > UM_WIRE_INLINE_MAX)
        return -EINVAL;
    struct iovec iov[3];
    int niov = 0;
    h->magic = UM_WIRE_MAGIC;
    h->flags &= (uint16_t)~UM_WIRE_F_MEMFD;
    iov[niov++] = (struct iovec){h, sizeof *h};
    if (h->nargs)
        iov[niov++] = (struct iovec){(void *)args, (size_t)h->nargs * 8};
    if (h->blob_len)
        iov[niov++] = (struct iovec){(void *)blob, h->blob_len};
    union {
        struct cmsghdr c;
        char space[CMSG_SPACE(sizeof(int) * UM_WIRE_MAX_FDS)];
    } cm;
    memset(&cm, 0, sizeof cm);
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
    if (nfds) {
        mh.msg_control = cm.space;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    do
        n = sendmsg(fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

int um_wire_recv_fds(int fd, um_wire_buf *buf, um_wire_pkt *p, int *fds, unsigned max_fds,
                     unsigned *nfds)
{
    *nfds = 0;
    p->blob = NULL;
    p->blob_heap = false;
    union {
        struct cmsghdr c;
        char space[CMSG_SPACE(sizeof(int) * UM_WIRE_MAX_FDS)];
    } cm;
    struct iovec iov = {buf->bytes, sizeof buf->bytes};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.space,
                        .msg_controllen = sizeof cm.space};
    ssize_t n;
    do
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n == 0 && mh.msg_controllen == 0)
        return 0;
    unsigned got = 0;
    bool bad = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c && !bad; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            bad = true;
            break;
        }
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (got + k > max_fds || got + k > UM_WIRE_MAX_FDS) {
            bad = true;
            break;
        }
        memcpy(fds + got, CMSG_DATA(c), k * sizeof(int));
        got += (unsigned)k;
    }
    if (bad || um_wire_decode(buf->bytes, (size_t)n, -1, p, UM_WIRE_INLINE_MAX) != 1) {
        wire_close_fds(&mh);
        return -EPROTO;
    }
    *nfds = got;
    return 1;
}

void um_wire_pkt_free(um_wire_pkt *p)
{
    for (uint32_t i = 0; i < p->nfds; i++)
        close(p->fds[i]);
    p->nfds = 0;
    if (p->blob_heap)
        free(p->blob);
    p->blob = NULL;
    p->blob_heap = false;
}
