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
    struct iovec iov[3];
    int niov = 0;
    int memfd = -1;
    h->magic = UM_WIRE_MAGIC;
    h->flags &= (uint16_t)~UM_WIRE_F_MEMFD;
    iov[niov++] = (struct iovec){h, sizeof *h};
    if (h->nargs)
        iov[niov++] = (struct iovec){(void *)args, (size_t)h->nargs * 8};
    union {
        struct cmsghdr c;
        char space[CMSG_SPACE(sizeof(int))];
    } cm;
    struct msghdr mh = {.msg_iov = iov};
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
        memset(&cm, 0, sizeof cm);
        mh.msg_control = cm.space;
        mh.msg_controllen = sizeof cm.space;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &memfd, sizeof memfd);
    } else if (h->blob_len) {
        iov[niov++] = (struct iovec){(void *)blob, h->blob_len};
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

/* The one descriptor a control message brought, or -1 if it brought none or several. */
static int wire_one_fd(struct msghdr *mh)
{
    struct cmsghdr *c = CMSG_FIRSTHDR(mh);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)) || CMSG_NXTHDR(mh, c) != NULL)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
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
    p->blob = NULL;
    p->blob_heap = false;
    if (n < sizeof p->h) {
        if (memfd >= 0)
            close(memfd);
        return -EPROTO;
    }
    memcpy(&p->h, bytes, sizeof p->h);
    if (p->h.magic != UM_WIRE_MAGIC || p->h.nargs > UM_WIRE_MAX_ARGS ||
        p->h.blob_len > blob_max) {
        if (memfd >= 0)
            close(memfd);
        return -EPROTO;
    }
    size_t head = sizeof p->h + (size_t)p->h.nargs * 8;
    if (p->h.flags & UM_WIRE_F_MEMFD) {
        if (memfd < 0 || n != head || p->h.blob_len <= UM_WIRE_INLINE_MAX) {
            if (memfd >= 0)
                close(memfd);
            return -EPROTO;
        }
        struct stat st;
        if (fstat(memfd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)p->h.blob_len) {
            close(memfd);
            return -EPROTO;
        }
        p->blob = wire_read_memfd(memfd, p->h.blob_len);
        close(memfd);
        if (!p->blob)
            return -EPROTO;
        p->blob_heap = true;
    } else {
        if (memfd >= 0 || n != head + p->h.blob_len) {
            if (memfd >= 0)
                close(memfd);
            return -EPROTO;
        }
        if (p->h.blob_len)
            p->blob = (uint8_t *)bytes + head;
    }
    memset(p->args, 0, sizeof p->args);
    memcpy(p->args, bytes + sizeof p->h, (size_t)p->h.nargs * 8);
    return 1;
}

int um_wire_recv(int fd, um_wire_buf *buf, um_wire_pkt *p, uint32_t blob_max, int flags)
{
    p->blob = NULL;
    p->blob_heap = false;
    union {
        struct cmsghdr c;
        char space[CMSG_SPACE(sizeof(int) * 4)];
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
    /* At most one descriptor may come, and only with a packet that says so (decode). */
    int memfd = -1;
    if (mh.msg_controllen != 0) {
        memfd = wire_one_fd(&mh);
        if (memfd < 0) {
            wire_close_fds(&mh);
            return -EPROTO;
        }
    }
    return um_wire_decode(buf->bytes, (size_t)n, memfd, p, blob_max);
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
    if (p->blob_heap)
        free(p->blob);
    p->blob = NULL;
    p->blob_heap = false;
}
