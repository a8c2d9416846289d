/*
 * parser.c — reading a message and releasing what it owns.
 *
 * Validation happens once, in init: every size, count and descriptor is checked against
 * the bytes given before anything is read from it. Later calls only read what init
 * proved to be inside the message. Everything handed out is zeroed in the buffer so a
 * later drop cannot release it again.
 */
#include "mp_internal.h"
#include "mp_msg_internal.h"

/* Internal state bits in p->flags (public MP_PARSE_* use the low byte, modes 0x100/0x200). */
_Static_assert(MP_PARSE_RELEASE < MP__OWN_LOCAL, "public parse flags stay in the low byte");
#define BAD_REMOTE 0x10000u
#define BAD_LOCAL 0x20000u
#define BAD_VOUCHER 0x40000u
#define BAD_SIZE 0x80000u

static bool owns_disp(uint32_t disp)
{
    return disp == MACH_MSG_TYPE_MOVE_RECEIVE || disp == MACH_MSG_TYPE_MOVE_SEND ||
           disp == MACH_MSG_TYPE_MOVE_SEND_ONCE;
}

/* Can a right with this disposition appear in a descriptor of this mode? */
static bool desc_disp_ok(uint32_t disp, uint32_t mode)
{
    if (mode & MP__SEND_FORM)
        return disp >= MACH_MSG_TYPE_MOVE_RECEIVE && disp <= MACH_MSG_TYPE_MAKE_SEND_ONCE;
    return owns_disp(disp);
}

/* Header field check: NULL/DEAD names own nothing whatever their bits say. */
static bool hdr_port_ok(mach_port_name_t name, uint32_t disp, bool send_form, bool voucher)
{
    if (!MACH_PORT_VALID(name))
        return true;
    if (voucher)
        return disp == MACH_MSG_TYPE_MOVE_SEND || (send_form && disp == MACH_MSG_TYPE_COPY_SEND);
    if (send_form)
        return disp >= MACH_MSG_TYPE_MOVE_SEND && disp <= MACH_MSG_TYPE_MAKE_SEND_ONCE;
    return disp == MACH_MSG_TYPE_MOVE_SEND || disp == MACH_MSG_TYPE_MOVE_SEND_ONCE;
}

/* A region [addr, addr + size) that fits the address space. */
static bool range_ok(uint64_t addr, uint64_t size)
{
    if (size == 0)
        return true;
    if (addr == 0 || addr > UINTPTR_MAX || size > UINTPTR_MAX)
        return false;
    return addr <= (uint64_t)UINTPTR_MAX - size;
}

static bool desc_ok(const uint8_t *d, uint32_t type, uint32_t mode)
{
    switch (type) {
    case MACH_MSG_PORT_DESCRIPTOR: {
        mach_port_name_t name = mp__ld32(d + MP__D_PORT_NAME);
        return !MACH_PORT_VALID(name) || desc_disp_ok(d[MP__D_PORT_DISP], mode);
    }
    case MACH_MSG_OOL_DESCRIPTOR:
    case MACH_MSG_OOL_VOLATILE_DESCRIPTOR:
        if (d[MP__D_OOL_COPY] > MACH_MSG_OVERWRITE)
            return false;
        return range_ok(mp__ld64(d + MP__D_OOL_ADDR), mp__ld32(d + MP__D_OOL_SIZE));
    case MACH_MSG_OOL_PORTS_DESCRIPTOR: {
        uint32_t count = mp__ld32(d + MP__D_OOL_SIZE);
        if (count == 0)
            return true;
        if (!desc_disp_ok(d[MP__D_OOLP_DISP], mode))
            return false;
        return range_ok(mp__ld64(d + MP__D_OOL_ADDR), (uint64_t)count * sizeof(mach_port_name_t));
    }
    case MACH_MSG_GUARDED_PORT_DESCRIPTOR: {
        mach_port_name_t name = mp__ld32(d + MP__D_GP_NAME);
        uint16_t flags;
        memcpy(&flags, d + MP__D_GP_FLAGS, sizeof flags);
        if (flags & ~(uint16_t)MACH_MSG_GUARD_FLAGS_MASK)
            return false;
        return !MACH_PORT_VALID(name) || d[MP__D_GP_DISP] == MACH_MSG_TYPE_MOVE_RECEIVE;
    }
    default:
        return false;
    }
}

mach_msg_return_t mp_msg_parser_init_bytes(mp_msg_parser *p, void *msg, size_t len, uint32_t flags)
{
    memset(p, 0, sizeof *p);
    p->msg = msg;
    p->avail = len > UINT32_MAX ? UINT32_MAX : (mach_msg_size_t)len;
    p->flags = flags & (MP_PARSE_RELEASE | MP__OWN_LOCAL | MP__SEND_FORM);

    if (!msg || p->avail < MP__HEADER_SIZE) {
        p->msg = NULL;
        p->avail = 0;
        return p->error = MACH_RCV_HEADER_ERROR;
    }

    const uint8_t *m = p->msg;
    mach_msg_header_t h;
    memcpy(&h, m, sizeof h);
    bool send_form = (p->flags & MP__SEND_FORM) != 0;

    if (!hdr_port_ok(h.msgh_remote_port, MACH_MSGH_BITS_REMOTE(h.msgh_bits), send_form, false))
        p->flags |= BAD_REMOTE;
    if ((p->flags & MP__OWN_LOCAL) &&
        !hdr_port_ok(h.msgh_local_port, MACH_MSGH_BITS_LOCAL(h.msgh_bits), send_form, false))
        p->flags |= BAD_LOCAL;
    if (!hdr_port_ok(h.msgh_voucher_port, MACH_MSGH_BITS_VOUCHER(h.msgh_bits), send_form, true))
        p->flags |= BAD_VOUCHER;
    if (h.msgh_size < MP__HEADER_SIZE || h.msgh_size > p->avail)
        p->flags |= BAD_SIZE;
    if (p->flags & (BAD_REMOTE | BAD_LOCAL | BAD_VOUCHER | BAD_SIZE))
        p->error = MACH_RCV_HEADER_ERROR;
    if (p->flags & BAD_SIZE)
        return p->error; /* nothing past the header can be identified */

    p->size = h.msgh_size;
    p->body_off = MP__HEADER_SIZE;
    if (!(h.msgh_bits & MACH_MSGH_BITS_COMPLEX))
        return p->error;

    if (p->size < MP__HEADER_SIZE + MP__BODY_SIZE) {
        if (!p->error)
            p->error = MACH_RCV_BODY_ERROR;
        return p->error;
    }
    uint32_t count = mp__ld32(m + MP__HEADER_SIZE);
    mach_msg_size_t off = MP__HEADER_SIZE + MP__BODY_SIZE;
    mach_msg_return_t derr = MACH_MSG_SUCCESS;
    uint32_t good = 0;

    /* Each step consumes at least 12 bytes of a bounded size: the loop is bounded by the
     * message, not by the (untrusted) count. */
    while (good < count) {
        if (p->size - off < MP__PORT_DESC_SIZE) {
            derr = MACH_RCV_BODY_ERROR;
            break;
        }
        uint32_t type = m[off + MP__D_TYPE];
        uint32_t ds = mp__desc_size(type);
        if (ds == 0) {
            derr = MACH_RCV_INVALID_TYPE;
            break;
        }
        if (p->size - off < ds) {
            derr = MACH_RCV_BODY_ERROR;
            break;
        }
        if (!desc_ok(m + off, type, p->flags)) {
            derr = MACH_RCV_BODY_ERROR;
            break;
        }
        off += ds;
        good++;
    }
    p->offset = MP__HEADER_SIZE + MP__BODY_SIZE;
    p->left = good;
    p->good = good;
    if (derr) {
        if (!p->error)
            p->error = derr;
        return p->error;
    }
    p->body_off = off;
    return p->error;
}

mach_msg_return_t mp_msg_parser_init(mp_msg_parser *p, mp_msg_buffer *buf)
{
    mach_msg_return_t mr =
        mp_msg_parser_init_bytes(p, buf->msg, buf->msg ? buf->capacity : 0, MP_PARSE_RELEASE);
    p->buf = buf;
    p->generation = buf->generation;
    return mr;
}

/* ---- releasing --------------------------------------------------------------------------- */

/* The buffer no longer holds the message this parser was made for: nothing may be read. */
static bool stale(const mp_msg_parser *p)
{
    return p->buf && p->buf->generation != p->generation;
}

/* The parser hands out owned values and releases the rest on drop. */
static bool owning(const mp_msg_parser *p)
{
    return p->msg && (p->flags & MP_PARSE_RELEASE) && !stale(p);
}

/* Release the descriptor at d (validated) and zero what it owned. */
static void release_desc(uint8_t *d, uint32_t mode)
{
    uint32_t type = d[MP__D_TYPE];
    switch (type) {
    case MACH_MSG_PORT_DESCRIPTOR:
        mp__release_name(mp__ld32(d + MP__D_PORT_NAME), d[MP__D_PORT_DISP]);
        mp__st32(d + MP__D_PORT_NAME, MACH_PORT_NULL);
        break;
    case MACH_MSG_OOL_DESCRIPTOR:
    case MACH_MSG_OOL_VOLATILE_DESCRIPTOR:
        /* Received memory is always a fresh mapping of the receiver's; a message not yet
         * sent owns only what it was told to deallocate. */
        if (!(mode & MP__SEND_FORM) || d[MP__D_OOL_DEALLOC])
            mp__vm_release(mp__ld64(d + MP__D_OOL_ADDR), mp__ld32(d + MP__D_OOL_SIZE));
        mp__st64(d + MP__D_OOL_ADDR, 0);
        mp__st32(d + MP__D_OOL_SIZE, 0);
        break;
    case MACH_MSG_OOL_PORTS_DESCRIPTOR: {
        uint64_t addr = mp__ld64(d + MP__D_OOL_ADDR);
        uint32_t count = mp__ld32(d + MP__D_OOL_SIZE);
        if (addr && count) {
            mach_port_name_t *names = (mach_port_name_t *)(uintptr_t)addr;
            for (uint32_t i = 0; i < count; i++)
                mp__release_name(names[i], d[MP__D_OOLP_DISP]);
            if (!(mode & MP__SEND_FORM) || d[MP__D_OOL_DEALLOC])
                mp__vm_release(addr, (uint64_t)count * sizeof(mach_port_name_t));
        }
        mp__st64(d + MP__D_OOL_ADDR, 0);
        mp__st32(d + MP__D_OOL_SIZE, 0);
        break;
    }
    case MACH_MSG_GUARDED_PORT_DESCRIPTOR: {
        mach_port_name_t name = mp__ld32(d + MP__D_GP_NAME);
        uint16_t flags;
        memcpy(&flags, d + MP__D_GP_FLAGS, sizeof flags);
        bool guarded =
            !((mode & MP__SEND_FORM) && (flags & MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND));
        (void)mp__destroy_recv(name, guarded, mp__ld64(d + MP__D_GP_CONTEXT));
        mp__st32(d + MP__D_GP_NAME, MACH_PORT_NULL);
        break;
    }
    default:
        break;
    }
}

void mp_msg_parser_drop(mp_msg_parser *p)
{
    if (stale(p)) {
        /* The bytes are someone else's now (or freed): touch nothing. */
        p->msg = NULL;
        p->error = MACH_RCV_INVALID_DATA;
    }
    if (owning(p)) {
        mach_msg_header_t *h = (mach_msg_header_t *)(void *)p->msg;
        mach_msg_bits_t bits = h->msgh_bits;
        if (!(p->flags & BAD_REMOTE)) {
            mp__release_name(h->msgh_remote_port, MACH_MSGH_BITS_REMOTE(bits));
            h->msgh_remote_port = MACH_PORT_NULL;
        }
        if ((p->flags & MP__OWN_LOCAL) && !(p->flags & BAD_LOCAL)) {
            mp__release_name(h->msgh_local_port, MACH_MSGH_BITS_LOCAL(bits));
            h->msgh_local_port = MACH_PORT_NULL;
        }
        if (!(p->flags & BAD_VOUCHER)) {
            mp__release_name(h->msgh_voucher_port, MACH_MSGH_BITS_VOUCHER(bits));
            h->msgh_voucher_port = MACH_PORT_NULL;
        }
        while (p->left > 0) {
            uint8_t *d = p->msg + p->offset;
            release_desc(d, p->flags);
            p->offset += mp__desc_size(d[MP__D_TYPE]);
            p->left--;
        }
    }
    p->left = 0;
    /* Past this point the parser gives nothing more (the header names are zeroed). */
    p->flags &= ~(uint32_t)MP_PARSE_RELEASE;
}

void mp__msg_release(void *msg, size_t len, uint32_t mode)
{
    mp_msg_parser p;
    (void)mp_msg_parser_init_bytes(&p, msg, len, mode | MP_PARSE_RELEASE);
    mp_msg_parser_drop(&p);
}

/* ---- header -------------------------------------------------------------------------------- */

mach_msg_id_t mp_msg_parser_id(const mp_msg_parser *p)
{
    if (!p->msg || stale(p))
        return 0;
    return ((const mach_msg_header_t *)(const void *)p->msg)->msgh_id;
}

mach_msg_return_t mp_msg_parser_header(mp_msg_parser *p, mp_msg_header *out)
{
    memset(out, 0, sizeof *out);
    if (stale(p))
        return MACH_RCV_INVALID_DATA;
    if (!p->msg)
        return MACH_RCV_HEADER_ERROR;
    mach_msg_header_t *h = (mach_msg_header_t *)(void *)p->msg;
    bool take = owning(p);

    out->id = h->msgh_id;
    out->bits = h->msgh_bits;
    out->size = h->msgh_size;
    if (!(p->flags & MP__OWN_LOCAL))
        out->local_port = h->msgh_local_port;

    if (take && !(p->flags & BAD_REMOTE) && h->msgh_remote_port != MACH_PORT_NULL) {
        uint32_t rb = MACH_MSGH_BITS_REMOTE(h->msgh_bits);
        out->reply.kind = (rb == MACH_MSG_TYPE_MOVE_SEND_ONCE || rb == MACH_MSG_TYPE_MAKE_SEND_ONCE)
                              ? MP_ANY_SEND_ONCE
                              : MP_ANY_SEND_SEND;
        out->reply.name = h->msgh_remote_port;
        h->msgh_remote_port = MACH_PORT_NULL;
    }
    if (take && !(p->flags & BAD_VOUCHER) && h->msgh_voucher_port != MACH_PORT_NULL) {
        out->voucher.name = h->msgh_voucher_port;
        h->msgh_voucher_port = MACH_PORT_NULL;
    }
    if (p->flags & (BAD_REMOTE | BAD_LOCAL | BAD_VOUCHER | BAD_SIZE))
        return MACH_RCV_HEADER_ERROR;
    return MACH_MSG_SUCCESS;
}

/* ---- descriptors ------------------------------------------------------------------------------
 */

size_t mp_msg_parser_descriptors_left(const mp_msg_parser *p)
{
    return p->error || stale(p) ? 0 : p->left;
}

mach_msg_return_t mp_msg_parser_next(mp_msg_parser *p, mp_msg_desc *out)
{
    memset(out, 0, sizeof *out);
    if (stale(p))
        return MACH_RCV_INVALID_DATA;
    if (p->error)
        return p->error;
    if (p->left == 0 || !p->msg)
        return MACH_MSG_SUCCESS;

    uint8_t *d = p->msg + p->offset;
    uint32_t type = d[MP__D_TYPE];
    /* Without MP_PARSE_RELEASE the kinds are read but nothing is handed out. */
    bool take = owning(p);

    switch (type) {
    case MACH_MSG_PORT_DESCRIPTOR: {
        mach_port_name_t name = take ? mp__ld32(d + MP__D_PORT_NAME) : MACH_PORT_NULL;
        switch (d[MP__D_PORT_DISP]) {
        case MACH_MSG_TYPE_MOVE_RECEIVE:
            out->kind = MP_DESC_RECV;
            out->recv = mp_recv_right_from_name(name);
            break;
        case MACH_MSG_TYPE_MOVE_SEND_ONCE:
        case MACH_MSG_TYPE_MAKE_SEND_ONCE:
            out->kind = MP_DESC_SEND_ONCE;
            out->send_once.name = name;
            break;
        default:
            out->kind = MP_DESC_SEND;
            out->send.name = name;
            break;
        }
        if (take)
            mp__st32(d + MP__D_PORT_NAME, MACH_PORT_NULL);
        break;
    }
    case MACH_MSG_OOL_DESCRIPTOR:
    case MACH_MSG_OOL_VOLATILE_DESCRIPTOR: {
        out->kind = MP_DESC_OOL;
        out->copy = d[MP__D_OOL_COPY];
        if (take) {
            uint64_t addr = mp__ld64(d + MP__D_OOL_ADDR);
            uint32_t size = mp__ld32(d + MP__D_OOL_SIZE);
            out->ool = mp_ool_buf_from_raw_parts((void *)(uintptr_t)addr, size);
            mp__st64(d + MP__D_OOL_ADDR, 0);
            mp__st32(d + MP__D_OOL_SIZE, 0);
        }
        break;
    }
    case MACH_MSG_OOL_PORTS_DESCRIPTOR: {
        out->kind = MP_DESC_OOL_PORTS;
        out->copy = d[MP__D_OOL_COPY];
        if (take) {
            uint64_t addr = mp__ld64(d + MP__D_OOL_ADDR);
            uint32_t count = mp__ld32(d + MP__D_OOL_SIZE);
            if (addr && count)
                out->ports =
                    (mp_ool_ports){(mach_port_name_t *)(uintptr_t)addr, count, d[MP__D_OOLP_DISP]};
            mp__st64(d + MP__D_OOL_ADDR, 0);
            mp__st32(d + MP__D_OOL_SIZE, 0);
        }
        break;
    }
    case MACH_MSG_GUARDED_PORT_DESCRIPTOR: {
        mach_port_name_t name = mp__ld32(d + MP__D_GP_NAME);
        uint16_t flags;
        memcpy(&flags, d + MP__D_GP_FLAGS, sizeof flags);
        out->kind = MP_DESC_GUARDED_RECV;
        if (take && MACH_PORT_VALID(name)) {
            out->recv = mp_recv_right_from_guarded_name(name, mp__ld64(d + MP__D_GP_CONTEXT));
            out->recv.immovable = (flags & MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE) ? 1 : 0;
        }
        if (take)
            mp__st32(d + MP__D_GP_NAME, MACH_PORT_NULL);
        break;
    }
    default: /* init validated every type */
        return MACH_RCV_INVALID_TYPE;
    }
    p->offset += mp__desc_size(type);
    p->left--;
    return MACH_MSG_SUCCESS;
}

mach_msg_return_t mp_msg_parser_expect(mp_msg_parser *p, mp_desc_kind kind, mp_msg_desc *out)
{
    mach_msg_return_t mr = mp_msg_parser_next(p, out);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    if (out->kind == kind && kind != MP_DESC_NONE)
        return MACH_MSG_SUCCESS;
    mp_msg_desc_drop(out);
    return MACH_RCV_INVALID_TYPE;
}

void mp_msg_desc_drop(mp_msg_desc *d)
{
    switch (d->kind) {
    case MP_DESC_RECV:
    case MP_DESC_GUARDED_RECV:
        (void)mp_recv_right_drop(&d->recv);
        break;
    case MP_DESC_SEND:
        (void)mp_send_right_drop(&d->send);
        break;
    case MP_DESC_SEND_ONCE:
        (void)mp_send_once_right_drop(&d->send_once);
        break;
    case MP_DESC_OOL:
        mp_ool_buf_drop(&d->ool);
        break;
    case MP_DESC_OOL_PORTS:
        mp_ool_ports_drop(&d->ports);
        break;
    default:
        break;
    }
    memset(d, 0, sizeof *d);
}

kern_return_t mp_msg_desc_take_send(mp_msg_desc *d, mp_send_right *out)
{
    *out = MP_SEND_RIGHT_NULL;
    if (d->kind != MP_DESC_SEND)
        return KERN_INVALID_RIGHT;
    *out = d->send;
    memset(d, 0, sizeof *d);
    return KERN_SUCCESS;
}

kern_return_t mp_msg_desc_take_send_once(mp_msg_desc *d, mp_send_once_right *out)
{
    *out = MP_SEND_ONCE_RIGHT_NULL;
    if (d->kind != MP_DESC_SEND_ONCE)
        return KERN_INVALID_RIGHT;
    *out = d->send_once;
    memset(d, 0, sizeof *d);
    return KERN_SUCCESS;
}

kern_return_t mp_msg_desc_take_recv(mp_msg_desc *d, mp_recv_right *out)
{
    *out = MP_RECV_RIGHT_NULL;
    if (d->kind != MP_DESC_RECV && d->kind != MP_DESC_GUARDED_RECV)
        return KERN_INVALID_RIGHT;
    *out = d->recv;
    memset(d, 0, sizeof *d);
    return KERN_SUCCESS;
}

kern_return_t mp_msg_desc_take_ool(mp_msg_desc *d, mp_ool_buf *out)
{
    *out = MP_OOL_BUF_NULL;
    if (d->kind != MP_DESC_OOL)
        return KERN_INVALID_ARGUMENT;
    *out = d->ool;
    memset(d, 0, sizeof *d);
    return KERN_SUCCESS;
}

kern_return_t mp_msg_desc_take_ool_ports(mp_msg_desc *d, mp_ool_ports *out)
{
    *out = MP_OOL_PORTS_NULL;
    if (d->kind != MP_DESC_OOL_PORTS)
        return KERN_INVALID_ARGUMENT;
    *out = d->ports;
    memset(d, 0, sizeof *d);
    return KERN_SUCCESS;
}

/* ---- body and trailer ------------------------------------------------------------------------ */

mach_msg_return_t mp_msg_parser_body(const mp_msg_parser *p, const void **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (stale(p))
        return MACH_RCV_INVALID_DATA;
    if (!p->msg)
        return MACH_RCV_HEADER_ERROR;
    if (p->error)
        return p->error;
    *data = p->msg + p->body_off;
    *len = p->size - p->body_off;
    return MACH_MSG_SUCCESS;
}

mach_msg_return_t mp_msg_parser_read_data(const mp_msg_parser *p, size_t *offset,
                                          const void **data, size_t *len)
{
    const void *body;
    size_t blen;
    *data = NULL;
    *len = 0;
    mach_msg_return_t mr = mp_msg_parser_body(p, &body, &blen);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    size_t at = (*offset + 3u) & ~(size_t)3u;
    if (*offset > blen || at > blen || blen - at < sizeof(uint32_t))
        return MACH_RCV_BODY_ERROR;
    uint32_t n = mp__ld32((const uint8_t *)body + at);
    at += sizeof(uint32_t);
    if (n > blen - at)
        return MACH_RCV_BODY_ERROR;
    *data = (const uint8_t *)body + at;
    *len = n;
    at += n;
    at = at + ((4u - (at & 3u)) & 3u);
    *offset = at < blen ? at : blen;
    return MACH_MSG_SUCCESS;
}

mach_msg_return_t mp_msg_parser_trailer(const mp_msg_parser *p, mp_msg_trailer *out)
{
    memset(out, 0, sizeof *out);
    if (stale(p))
        return MACH_RCV_INVALID_DATA;
    if (!p->msg || (p->flags & BAD_SIZE))
        return MACH_RCV_HEADER_ERROR;
    mach_msg_size_t room = p->avail - p->size;
    if (room < sizeof(mach_msg_trailer_t))
        return MACH_RCV_INVALID_TRAILER;
    const uint8_t *t = p->msg + p->size;
    uint32_t type = mp__ld32(t);
    uint32_t size = mp__ld32(t + 4);
    if (type != MACH_MSG_TRAILER_FORMAT_0 || size < sizeof(mach_msg_trailer_t) || size > room)
        return MACH_RCV_INVALID_TRAILER;
    out->size = size;
    if (size >= offsetof(mach_msg_seqno_trailer_t, msgh_seqno) + sizeof(mach_port_seqno_t)) {
        out->has_seqno = true;
        out->seqno = mp__ld32(t + offsetof(mach_msg_seqno_trailer_t, msgh_seqno));
    }
    if (size >= offsetof(mach_msg_security_trailer_t, msgh_sender) + sizeof(security_token_t)) {
        out->has_sender = true;
        memcpy(&out->sender, t + offsetof(mach_msg_security_trailer_t, msgh_sender),
               sizeof out->sender);
    }
    if (size >= offsetof(mach_msg_audit_trailer_t, msgh_audit) + sizeof(audit_token_t)) {
        out->has_audit = true;
        memcpy(&out->audit, t + offsetof(mach_msg_audit_trailer_t, msgh_audit), sizeof out->audit);
    }
    if (size >= offsetof(mach_msg_context_trailer_t, msgh_context) + sizeof(mach_port_context_t)) {
        out->has_context = true;
        memcpy(&out->context, t + offsetof(mach_msg_context_trailer_t, msgh_context),
               sizeof out->context);
    }
    return MACH_MSG_SUCCESS;
}

/* ---- notifications ------------------------------------------------------------------------------
 */

mach_msg_return_t mp_msg_parser_notification(mp_msg_parser *p, mp_notification *out)
{
    mp_msg_trailer tr;
    const void *body;
    size_t len;

    memset(out, 0, sizeof *out);
    if (stale(p))
        return MACH_RCV_INVALID_DATA;
    if (!p->msg || p->error)
        return p->msg ? p->error : MACH_RCV_HEADER_ERROR;
    mach_msg_id_t id = mp_msg_parser_id(p);
    if (id < MACH_NOTIFY_FIRST || id > MACH_NOTIFY_LAST)
        return MACH_RCV_INVALID_TYPE;
    /* Only the kernel may send notifications: anyone holding a send right to the notify
     * port could forge one, and a forged dead-name notification would make us release a
     * reference we do not own. */
    if (mp_msg_parser_trailer(p, &tr) != MACH_MSG_SUCCESS || !tr.has_sender)
        return MACH_RCV_INVALID_TRAILER;
    if (tr.sender.val[0] != 0 || tr.sender.val[1] != 1 ||
        (tr.has_audit && mp_audit_token_pid(&tr.audit) != 0))
        return MACH_RCV_INVALID_TYPE;
    (void)mp_msg_parser_body(p, &body, &len);

    out->id = id;
    switch (id) {
    case MACH_NOTIFY_PORT_DELETED:
    case MACH_NOTIFY_SEND_POSSIBLE:
    case MACH_NOTIFY_DEAD_NAME:
    case MACH_NOTIFY_NO_SENDERS: {
        if (p->good != 0 || len < sizeof(NDR_record_t) + sizeof(uint32_t)) {
            out->id = 0;
            return MACH_RCV_INVALID_TYPE;
        }
        uint32_t v = mp__ld32((const uint8_t *)body + sizeof(NDR_record_t));
        if (id == MACH_NOTIFY_NO_SENDERS) {
            out->mscount = v;
        } else {
            out->name = v;
            if (id == MACH_NOTIFY_DEAD_NAME && owning(p) &&
                MACH_PORT_VALID(v)) {
                /* The extra reference is taken once: zero the name in the body. */
                out->dead_name.name = v;
                mp__st32((uint8_t *)(uintptr_t)body + sizeof(NDR_record_t), MACH_PORT_NULL);
            }
        }
        return MACH_MSG_SUCCESS;
    }
    case MACH_NOTIFY_PORT_DESTROYED: {
        mp_msg_desc d;
        if (p->left != 1)
            break;
        uint8_t *dp = p->msg + p->offset;
        if (dp[MP__D_TYPE] != MACH_MSG_PORT_DESCRIPTOR ||
            dp[MP__D_PORT_DISP] != MACH_MSG_TYPE_MOVE_RECEIVE)
            break;
        (void)mp_msg_parser_next(p, &d);
        out->recv = d.recv;
        return MACH_MSG_SUCCESS;
    }
    case MACH_NOTIFY_SEND_ONCE:
        return MACH_MSG_SUCCESS;
    default:
        break;
    }
    out->id = 0;
    return MACH_RCV_INVALID_TYPE;
}
