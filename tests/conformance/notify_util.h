/*
 * notify_util.h — helpers shared by the conformance tests (public Mach API only): ports and
 * rights, receiving notifications, moving a right into a queued message and back, and the
 * snapshot that checks a test leaves the space as it found it.
 */
#ifndef NOTIFY_UTIL_H
#define NOTIFY_UTIL_H

#include "mt.h"

#include <mach/mach.h>
#include <mach/notify.h>
#include <mach/ndr.h>

#include <stdlib.h>
#include <string.h>

#define TASK mach_task_self()

/*
 * A fatal guard exception of `flavor` (kGUARD_EXC_...) ends the task: umach prints one line
 * naming the port and the flavour and abort()s; Darwin's EXC_GUARD kills the task with
 * SIGKILL and prints nothing of its own. A child that crashes any other way fails the check.
 */
#ifdef __APPLE__
#define NU_DIES_OF_GUARD(stmt, flavor) MT_DIES_WITH(stmt, SIGKILL, NULL)
#else
#define NU_DIES_OF_GUARD(stmt, flavor)                                                         \
    do {                                                                                       \
        char nu_flavor_[40];                                                                   \
        snprintf(nu_flavor_, sizeof nu_flavor_, "(flavor %u,", (unsigned)(flavor));            \
        MT_DIES_WITH(stmt, SIGABRT, "umach: fatal Mach port guard exception on port 0x",       \
                     nu_flavor_);                                                              \
    } while (0)
#endif

/* A received notification with room for any trailer. */
typedef union nu_msg {
    mach_msg_header_t h;
    mach_no_senders_notification_t no_senders;
    mach_dead_name_notification_t dead_name;
    mach_port_deleted_notification_t port_deleted;
    mach_send_possible_notification_t send_possible;
    mach_port_destroyed_notification_t port_destroyed;
    mach_send_once_notification_t send_once;
    uint8_t bytes[256];
} nu_msg;

static inline mach_port_name_t nu_port(void)
{
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

/* A receive right with one send right under the same name. */
static inline mach_port_name_t nu_port_with_send(void)
{
    mach_port_name_t p = nu_port();
    if (p && mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

/* A send-once right (under its own new name) to `port`. */
static inline mach_port_name_t nu_send_once(mach_port_name_t port)
{
    mach_port_name_t so = MACH_PORT_NULL;
    mach_msg_type_name_t t;
    if (mach_port_extract_right(TASK, port, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return so;
}

/* Receive one message with the sender trailer, or time out after `ms`. */
static inline mach_msg_return_t nu_recv(mach_port_name_t port, nu_msg *m, mach_msg_timeout_t ms)
{
    memset(m, 0xA5, sizeof *m);
    return mach_msg(&m->h,
                    MACH_RCV_MSG | MACH_RCV_TIMEOUT |
                        MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT),
                    0, sizeof *m, port, ms, MACH_PORT_NULL);
}

/* The trailer after a received message. */
static inline const mach_msg_audit_trailer_t *nu_trailer(const nu_msg *m)
{
    return (const mach_msg_audit_trailer_t *)(const void *)(m->bytes + m->h.msgh_size);
}

/* Check the parts every kernel notification shares (header and kernel-sender trailer). */
#define NU_CHECK_KERNEL_MSG(m, notify_port, id, size, bits)                                   \
    do {                                                                                       \
        MT_EQ((m).h.msgh_bits, (bits));                                                        \
        MT_EQ((m).h.msgh_size, (size));                                                        \
        MT_EQ((m).h.msgh_remote_port, MACH_PORT_NULL);                                         \
        MT_EQ((m).h.msgh_local_port, (notify_port));                                           \
        MT_EQ((m).h.msgh_voucher_port, MACH_PORT_NULL);                                        \
        MT_EQ((m).h.msgh_id, (id));                                                            \
        const mach_msg_audit_trailer_t *t_ = nu_trailer(&(m));                                 \
        MT_EQ(t_->msgh_trailer_type, MACH_MSG_TRAILER_FORMAT_0);                               \
        MT_EQ(t_->msgh_trailer_size, sizeof(mach_msg_audit_trailer_t));                        \
        MT_EQ(t_->msgh_sender.val[0], 0);                                                      \
        MT_EQ(t_->msgh_sender.val[1], 1);                                                      \
        for (int i_ = 0; i_ < 8; i_++)                                                         \
            MT_EQ(t_->msgh_audit.val[i_], 0);                                                  \
    } while (0)

/* The NDR record a kernel notification carries. */
static inline int nu_ndr_ok(const NDR_record_t *ndr)
{
    static const unsigned char want[8] = {0, 0, 0, 0, 1, 0, 0, 0};
    return memcmp(ndr, want, sizeof want) == 0;
}

static inline mach_port_urefs_t nu_refs(mach_port_name_t name, mach_port_right_t right)
{
    mach_port_urefs_t r = 0;
    if (mach_port_get_refs(TASK, name, right, &r) != KERN_SUCCESS)
        return (mach_port_urefs_t)-1;
    return r;
}

static inline mach_port_type_t nu_type(mach_port_name_t name)
{
    mach_port_type_t t = 0;
    if (mach_port_type(TASK, name, &t) != KERN_SUCCESS)
        return (mach_port_type_t)-1;
    return t;
}

static inline mach_port_status_t nu_status(mach_port_name_t port)
{
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    memset(&st, 0xFF, sizeof st);
    (void)mach_port_get_attributes(TASK, port, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                   &n);
    return st;
}

/* A name that does not exist, as nu_type reports it. */
#define NU_NO_NAME ((mach_port_type_t)-1)
/* MACH_PORT_UREFS_MAX, which Darwin keeps kernel-private: where send urefs saturate. */
#define NU_UREFS_MAX 0xFFFF

/* ---- a right carried in a queued message -------------------------------------------------- */

typedef struct nu_carry_msg {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_port_descriptor_t d;
} nu_carry_msg;

/*
 * Fill `m`: a complex message to `dest` (named with `dest_disp`) carrying `name` with
 * `disposition` in its one port descriptor.
 */
static inline void nu_carry_fill(nu_carry_msg *m, mach_port_name_t dest,
                                 mach_msg_type_name_t dest_disp, mach_port_name_t name,
                                 mach_msg_type_name_t disposition)
{
    memset(m, 0, sizeof *m);
    m->h.msgh_bits = MACH_MSGH_BITS_SET(dest_disp, 0, 0, MACH_MSGH_BITS_COMPLEX);
    m->h.msgh_size = sizeof *m;
    m->h.msgh_remote_port = dest;
    m->b.msgh_descriptor_count = 1;
    m->d.name = name;
    m->d.disposition = disposition;
    m->d.type = MACH_MSG_PORT_DESCRIPTOR;
}

/*
 * Queue on `dest` (whose receive right we hold) a message carrying `name` with `disposition`
 * in a port descriptor; with MACH_MSG_TYPE_MOVE_RECEIVE the receive right is in transit until
 * nu_uncarry takes it back.
 */
static inline kern_return_t nu_carry(mach_port_name_t dest, mach_port_name_t name,
                                     mach_msg_type_name_t disposition)
{
    nu_carry_msg m;
    nu_carry_fill(&m, dest, MACH_MSG_TYPE_MAKE_SEND, name, disposition);
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

/* Receive a message queued by nu_carry on `port`; returns the name of the right it carried. */
static inline mach_port_name_t nu_uncarry(mach_port_name_t port)
{
    union {
        nu_carry_msg c;
        uint8_t bytes[256];
    } m;
    memset(&m, 0, sizeof m);
    if (mach_msg(&m.c.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, port, 1000,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return MACH_PORT_NULL;
    return m.c.d.name;
}

/* Destroy a port we hold: drop every send uref under its name, then the receive right. */
static inline void nu_kill(mach_port_name_t name)
{
    mach_port_urefs_t n = nu_refs(name, MACH_PORT_RIGHT_SEND);
    if (n != (mach_port_urefs_t)-1 && n > 0)
        MT_KR(mach_port_mod_refs(TASK, name, MACH_PORT_RIGHT_SEND, -(mach_port_delta_t)n),
              KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, name, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

/* Receive without waiting into `buf` (first filled with 0xA5), with `extra` options. */
static inline mach_msg_return_t nu_recv_buf(mach_port_name_t port, void *buf,
                                            mach_msg_size_t size, mach_msg_option_t extra)
{
    memset(buf, 0xA5, size);
    return mach_msg((mach_msg_header_t *)buf, MACH_RCV_MSG | MACH_RCV_TIMEOUT | extra, 0, size,
                    port, 0, MACH_PORT_NULL);
}

/*
 * Send, without waiting, the complex message at `h`: the header, the body, then `n`
 * descriptors of `desc_size` bytes each (already filled in), to `dest` with `ddisp`, with the
 * reply right `reply`/`rdisp` (0 for none).
 */
static inline mach_msg_return_t nu_send_complex(mach_msg_header_t *h, unsigned n,
                                                mach_msg_size_t desc_size, mach_port_name_t dest,
                                                mach_msg_type_name_t ddisp,
                                                mach_port_name_t reply,
                                                mach_msg_type_name_t rdisp, mach_msg_id_t id)
{
    h->msgh_bits = MACH_MSGH_BITS(ddisp, rdisp) | MACH_MSGH_BITS_COMPLEX;
    h->msgh_size = 0;
    h->msgh_remote_port = dest;
    h->msgh_local_port = reply;
    h->msgh_voucher_port = MACH_PORT_NULL;
    h->msgh_id = id;
    mach_msg_body_t body = {.msgh_descriptor_count = n};
    memcpy(h + 1, &body, sizeof body);
    return mach_msg(h, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                    (mach_msg_size_t)(sizeof(mach_msg_base_t) + n * desc_size), 0,
                    MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

/* The context of a receive right, or all ones when it cannot be read. */
static inline mach_port_context_t nu_context(mach_port_name_t name)
{
    mach_port_context_t c = 0x5A5A;
    if (mach_port_get_context(TASK, name, &c) != KERN_SUCCESS)
        return (mach_port_context_t)-1;
    return c;
}

/* ---- the space must hold exactly the names it held before --------------------------------- */

typedef struct nu_space {
    mach_msg_type_number_t n;
    mach_port_name_t names[4096];
    mach_port_type_t types[4096];
} nu_space;

static inline void nu_snapshot(nu_space *s)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    s->n = 0;
    if (mach_port_names(TASK, &names, &nn, &types, &nt) != KERN_SUCCESS)
        return;
    for (mach_msg_type_number_t i = 0; i < nn && i < 4096; i++) {
        s->names[i] = names[i];
        s->types[i] = types[i];
    }
    s->n = nn < 4096 ? nn : 4096;
    (void)vm_deallocate(TASK, (vm_address_t)names, nn * sizeof *names);
    (void)vm_deallocate(TASK, (vm_address_t)types, nt * sizeof *types);
}

static inline int nu_same_space(const nu_space *before)
{
    static nu_space after;
    nu_snapshot(&after);
    if (after.n != before->n) {
        fprintf(stderr, "  space: %u names before, %u after\n", before->n, after.n);
        for (mach_msg_type_number_t i = 0; i < after.n; i++)
            fprintf(stderr, "    after: 0x%x type 0x%x\n", after.names[i], after.types[i]);
        return 0;
    }
    for (mach_msg_type_number_t i = 0; i < after.n; i++) {
        if (after.names[i] != before->names[i] || after.types[i] != before->types[i]) {
            fprintf(stderr, "  space: 0x%x/0x%x became 0x%x/0x%x\n", before->names[i],
                    before->types[i], after.names[i], after.types[i]);
            return 0;
        }
    }
    return 1;
}

#define NU_BEGIN()                                                                             \
    static nu_space nu_before_;                                                                \
    nu_snapshot(&nu_before_)
#define NU_END() MT_CHECK(nu_same_space(&nu_before_))

#endif
