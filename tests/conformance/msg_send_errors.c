/*
 * mach_msg send errors and what each leaves behind (XNU mach_msg_trap_send,
 * ipc_kmsg_get_and_inflate_from_user, ipc_kmsg_copyin_header_validate/_rights,
 * ipc_kmsg_copyin_body): size, type, header, destination, reply and voucher errors consume
 * nothing; a bad right or bad memory in the body consumes the header rights and the
 * descriptors before the bad one.
 */
#include "notify_util.h"

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    uint8_t rest[200];
} se_buf;

static mach_msg_return_t se_send_hdr(mach_msg_bits_t bits, mach_port_name_t remote,
                                     mach_port_name_t local, mach_port_name_t voucher)
{
    se_buf b;
    memset(&b, 0, sizeof b);
    b.h.msgh_bits = bits;
    b.h.msgh_remote_port = remote;
    b.h.msgh_local_port = local;
    b.h.msgh_voucher_port = voucher;
    b.h.msgh_id = 1;
    return mach_msg(&b.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof b.h, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

#define BITS(r, l) MACH_MSGH_BITS((r), (l))
#define VBITS(r, l, v) MACH_MSGH_BITS_SET((r), (l), (v), 0)

static void se_port_dsc(uint8_t *at, mach_port_name_t name, mach_msg_type_name_t disp)
{
    mach_msg_port_descriptor_t d;
    memset(&d, 0, sizeof d);
    d.name = name;
    d.disposition = disp;
    d.type = MACH_MSG_PORT_DESCRIPTOR;
    memcpy(at, &d, sizeof d);
}

static void se_ool_dsc(uint8_t *at, vm_address_t addr, mach_msg_size_t size, int dealloc,
                       mach_msg_copy_options_t copy)
{
    mach_msg_ool_descriptor_t d;
    memset(&d, 0, sizeof d);
    d.address = (void *)addr;
    d.size = size;
    d.deallocate = dealloc;
    d.copy = copy;
    d.type = MACH_MSG_OOL_DESCRIPTOR;
    memcpy(at, &d, sizeof d);
}

/* A complex message: MOVE_SEND dest, `n` descriptors already written into rest[]. */
static mach_msg_return_t se_send_complex(se_buf *b, mach_port_name_t dest,
                                         mach_msg_type_name_t reply_disp, mach_port_name_t reply,
                                         mach_msg_size_t ndsc, mach_msg_size_t size)
{
    b->h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_MOVE_SEND, reply_disp, 0,
                                        MACH_MSGH_BITS_COMPLEX);
    b->h.msgh_remote_port = dest;
    b->h.msgh_local_port = reply;
    b->h.msgh_id = 2;
    b->body.msgh_descriptor_count = ndsc;
    return mach_msg(&b->h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

static void se_drop(mach_port_name_t p, mach_port_urefs_t sends)
{
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), sends);
    if (sends)
        MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -(mach_port_delta_t)sends),
              KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(send_size_below_a_header_or_not_a_multiple_of_four_is_msg_too_small)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    se_buf b;
    memset(&b, 0, sizeof b);
    b.h.msgh_bits = BITS(MACH_MSG_TYPE_MOVE_SEND, 0);
    b.h.msgh_remote_port = p;
    const mach_msg_size_t sizes[] = {0, 4, 20, 26, 30};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        MT_KR(mach_msg(&b.h, MACH_SEND_MSG, sizes[i], 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
              MACH_SEND_MSG_TOO_SMALL);
    MT_EQ(nu_status(p).mps_msgcount, 0);
    se_drop(p, 1);
    NU_END();
}

MT_TEST(complex_message_without_room_for_its_descriptors_is_msg_too_small)
{
    NU_BEGIN();
    mach_port_name_t dest = nu_port_with_send(), p = nu_port_with_send();
    MT_REQUIRE(dest && p);
    se_buf b;
    memset(&b, 0, sizeof b);
    se_port_dsc(b.rest, p, MACH_MSG_TYPE_MOVE_SEND);
    MT_KR(se_send_complex(&b, dest, 0, 0, 1, 24), MACH_SEND_MSG_TOO_SMALL); /* no body */
    MT_KR(se_send_complex(&b, dest, 0, 0, 1, 28), MACH_SEND_MSG_TOO_SMALL); /* no descriptor */
    MT_KR(se_send_complex(&b, dest, 0, 0, 2, 40), MACH_SEND_MSG_TOO_SMALL); /* room for one */
    /* an OOL descriptor is 16 bytes: 12 bytes of room are not enough */
    memset(&b, 0, sizeof b);
    se_ool_dsc(b.rest, (vm_address_t)&b, 4, 0, MACH_MSG_PHYSICAL_COPY);
    MT_KR(se_send_complex(&b, dest, 0, 0, 1, 40), MACH_SEND_MSG_TOO_SMALL);
    MT_EQ(nu_status(dest).mps_msgcount, 0);
    se_drop(dest, 1);
    se_drop(p, 1);
    NU_END();
}

MT_TEST(bad_header_dispositions_are_invalid_header_and_consume_nothing)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), r = nu_port_with_send();
    MT_REQUIRE(p && r);
    MT_KR(se_send_hdr(BITS(0, 0), p, 0, 0), MACH_SEND_INVALID_HEADER);
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MOVE_RECEIVE, 0), p, 0, 0), MACH_SEND_INVALID_HEADER);
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_COPY_RECEIVE, 0), p, 0, 0), MACH_SEND_INVALID_HEADER);
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_PORT_NAME, 0), p, 0, 0), MACH_SEND_INVALID_HEADER);
    /* a reply name without a reply disposition, and a receive right as reply */
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MOVE_SEND, 0), p, r, 0), MACH_SEND_INVALID_HEADER);
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_RECEIVE), p, r, 0),
          MACH_SEND_INVALID_HEADER);
    /* the reply disposition is checked before the destination */
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_RECEIVE), 0, r, 0),
          MACH_SEND_INVALID_HEADER);
    MT_EQ(nu_status(p).mps_msgcount, 0);
    se_drop(p, 1);
    se_drop(r, 1);
    NU_END();
}

MT_TEST(msgh_bits_outside_the_user_mask_are_dropped_not_refused)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    /* ipc_kmsg_get_and_inflate_from_user masks the bits with MACH_MSGH_BITS_USER */
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0) | 0x20000000u | 0x000000e0u, p, 0, 0),
          MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, BITS(0, MACH_MSG_TYPE_PORT_SEND_ONCE));
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(bad_vouchers_are_invalid_voucher_and_consume_nothing)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), v = nu_port_with_send(), dead;
    MT_REQUIRE(p && v);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    const mach_msg_type_name_t ms = MACH_MSG_TYPE_MOVE_SEND, cs = MACH_MSG_TYPE_COPY_SEND;
    MT_KR(se_send_hdr(VBITS(ms, 0, MACH_MSG_TYPE_MOVE_SEND_ONCE), p, 0, 0),
          MACH_SEND_INVALID_VOUCHER);
    MT_KR(se_send_hdr(VBITS(ms, 0, MACH_MSG_TYPE_MAKE_SEND), p, 0, v), MACH_SEND_INVALID_VOUCHER);
    MT_KR(se_send_hdr(VBITS(ms, 0, cs), p, 0, MACH_PORT_DEAD), MACH_SEND_INVALID_VOUCHER);
    /* names that are not voucher ports */
    MT_KR(se_send_hdr(VBITS(ms, 0, cs), p, 0, v), MACH_SEND_INVALID_VOUCHER);
    MT_KR(se_send_hdr(VBITS(ms, 0, ms), p, 0, v), MACH_SEND_INVALID_VOUCHER);
    MT_KR(se_send_hdr(VBITS(ms, 0, cs), p, 0, dead), MACH_SEND_INVALID_VOUCHER);
    MT_KR(se_send_hdr(VBITS(ms, 0, cs), p, 0, 0x7777703), MACH_SEND_INVALID_VOUCHER);
    /* the voucher disposition is checked before the destination disposition and name */
    MT_KR(se_send_hdr(VBITS(0, 0, MACH_MSG_TYPE_MOVE_SEND_ONCE), p, 0, 0),
          MACH_SEND_INVALID_VOUCHER);
    /* ... but whether the name is a voucher is checked after a NULL/DEAD destination and
     * before the destination lookup */
    MT_KR(se_send_hdr(VBITS(ms, 0, cs), MACH_PORT_NULL, 0, v), MACH_SEND_INVALID_DEST);
    MT_KR(se_send_hdr(VBITS(ms, 0, cs), 0x7777703, 0, v), MACH_SEND_INVALID_VOUCHER);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    se_drop(p, 1);
    se_drop(v, 1);
    NU_END();
}

MT_TEST(bad_destinations_are_invalid_dest_and_consume_nothing)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port(), r = nu_port_with_send(), s = nu_port_with_send(), set, dead;
    MT_REQUIRE(p && r && s);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    mach_port_name_t so = nu_send_once(s);
    MT_REQUIRE(so);
    const mach_msg_type_name_t ms = MACH_MSG_TYPE_MOVE_SEND, cs = MACH_MSG_TYPE_COPY_SEND;
    const mach_msg_type_name_t mso = MACH_MSG_TYPE_MAKE_SEND_ONCE;
    /* each with a MAKE_SEND_ONCE reply that must not be made */
    MT_KR(se_send_hdr(BITS(ms, mso), MACH_PORT_NULL, r, 0), MACH_SEND_INVALID_DEST);
    MT_KR(se_send_hdr(BITS(ms, mso), MACH_PORT_DEAD, r, 0), MACH_SEND_INVALID_DEST);
    MT_KR(se_send_hdr(BITS(ms, mso), 0x7777703, r, 0), MACH_SEND_INVALID_DEST);
    MT_KR(se_send_hdr(BITS(cs, mso), set, r, 0), MACH_SEND_INVALID_DEST);
    MT_KR(se_send_hdr(BITS(ms, mso), dead, r, 0), MACH_SEND_INVALID_DEST);
    MT_KR(se_send_hdr(BITS(cs, mso), dead, r, 0), MACH_SEND_INVALID_DEST);
    MT_KR(se_send_hdr(BITS(cs, mso), p, r, 0), MACH_SEND_INVALID_DEST);   /* receive only */
    MT_KR(se_send_hdr(BITS(cs, mso), so, r, 0), MACH_SEND_INVALID_DEST);  /* send-once */
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, mso), s, r, 0), MACH_SEND_INVALID_DEST);
    /* MOVE_SEND_ONCE with dest == reply */
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, cs), so, so, 0), MACH_SEND_INVALID_DEST);
    MT_EQ(nu_status(r).mps_sorights, 0);
    MT_EQ(nu_status(r).mps_msgcount, 0);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_status(s).mps_msgcount, 0);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(s, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, set, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    se_drop(p, 0);
    se_drop(r, 1);
    se_drop(s, 1);
    NU_END();
}

MT_TEST(bad_replies_are_invalid_reply_and_consume_nothing)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), q = nu_port(), s = nu_port_with_send(), set;
    MT_REQUIRE(p && q && s);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    mach_port_name_t so = nu_send_once(s);
    MT_REQUIRE(so);
    const mach_msg_type_name_t ms = MACH_MSG_TYPE_MOVE_SEND, cs = MACH_MSG_TYPE_COPY_SEND;
    MT_KR(se_send_hdr(BITS(ms, cs), p, 0x7777703, 0), MACH_SEND_INVALID_REPLY);
    MT_KR(se_send_hdr(BITS(ms, cs), p, set, 0), MACH_SEND_INVALID_REPLY);
    MT_KR(se_send_hdr(BITS(ms, cs), p, q, 0), MACH_SEND_INVALID_REPLY); /* no send right */
    MT_KR(se_send_hdr(BITS(ms, MACH_MSG_TYPE_MAKE_SEND), p, so, 0), MACH_SEND_INVALID_REPLY);
    MT_KR(se_send_hdr(BITS(ms, MACH_MSG_TYPE_MAKE_SEND_ONCE), p, so, 0), MACH_SEND_INVALID_REPLY);
    MT_KR(se_send_hdr(BITS(ms, MACH_MSG_TYPE_MOVE_SEND_ONCE), p, s, 0), MACH_SEND_INVALID_REPLY);
    MT_KR(se_send_hdr(BITS(ms, ms), p, so, 0), MACH_SEND_INVALID_REPLY);
    /* reply == voucher name is refused before any lookup */
    MT_KR(se_send_hdr(VBITS(ms, cs, cs), p, s, s), MACH_SEND_INVALID_REPLY);
    MT_EQ(nu_status(p).mps_msgcount, 0);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(s, &m, 0), MACH_MSG_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, set, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    se_drop(p, 1);
    se_drop(q, 0);
    se_drop(s, 1);
    NU_END();
}

MT_TEST(a_dead_reply_name_value_is_accepted_and_arrives_as_dead)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    /* MACH_PORT_DEAD as msgh_local_port is not looked up: it travels as a dead right */
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_COPY_SEND), p, MACH_PORT_DEAD,
                      0),
          MACH_MSG_SUCCESS);
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE), p,
                      MACH_PORT_DEAD, 0),
          MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_remote_port, MACH_PORT_DEAD);
    MT_EQ(m.h.msgh_bits, BITS(MACH_MSG_TYPE_PORT_SEND, MACH_MSG_TYPE_PORT_SEND));
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_remote_port, MACH_PORT_DEAD);
    MT_EQ(m.h.msgh_bits, BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND));
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(bad_descriptor_types_are_invalid_type_and_consume_nothing)
{
    NU_BEGIN();
    mach_port_name_t dest = nu_port_with_send(), p = nu_port_with_send(), r = nu_port();
    MT_REQUIRE(dest && p && r);
    vm_address_t page = 0;
    MT_KR(vm_allocate(TASK, &page, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    ((volatile uint8_t *)page)[0] = 0x5A;
    se_buf b;
    /* [0] MOVE_SEND p, [1] OOL with deallocate, [2] the bad one */
    for (int bad = 0; bad < 4; bad++) {
        memset(&b, 0, sizeof b);
        se_port_dsc(b.rest, p, MACH_MSG_TYPE_MOVE_SEND);
        se_ool_dsc(b.rest + 12, page, (mach_msg_size_t)vm_page_size, 1, MACH_MSG_VIRTUAL_COPY);
        uint8_t *d = b.rest + 28;
        mach_msg_size_t size = sizeof(mach_msg_base_t) + 28 + 16;
        if (bad == 0) {
            se_port_dsc(d, p, MACH_MSG_TYPE_COPY_SEND);
            d[11] = 5; /* no such descriptor type */
        } else if (bad == 1) {
            se_ool_dsc(d, page, 8, 0, MACH_MSG_ALLOCATE);
        } else {
            mach_msg_guarded_port_descriptor_t g;
            memset(&g, 0, sizeof g);
            g.name = r;
            g.type = MACH_MSG_GUARDED_PORT_DESCRIPTOR;
            g.disposition = bad == 2 ? MACH_MSG_TYPE_MOVE_SEND : MACH_MSG_TYPE_MOVE_RECEIVE;
            g.flags = bad == 2 ? MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE : 0;
            memcpy(d, &g, sizeof g);
        }
        MT_KR(se_send_complex(&b, dest, MACH_MSG_TYPE_MAKE_SEND_ONCE, r, 3, size),
              MACH_SEND_INVALID_TYPE);
    }
    MT_EQ(((volatile uint8_t *)page)[0], 0x5A); /* still mapped */
    MT_EQ(nu_status(dest).mps_msgcount, 0);
    MT_EQ(nu_status(r).mps_sorights, 0);
    MT_EQ(nu_type(r), MACH_PORT_TYPE_RECEIVE);
    MT_KR(vm_deallocate(TASK, page, vm_page_size), KERN_SUCCESS);
    se_drop(dest, 1);
    se_drop(p, 1);
    se_drop(r, 0);
    NU_END();
}

MT_TEST(bad_right_in_the_body_consumes_the_header_and_earlier_descriptors_only)
{
    NU_BEGIN();
    mach_port_name_t dest = nu_port_with_send(), r = nu_port(), p1 = nu_port_with_send();
    mach_port_name_t p2 = nu_port_with_send(), q = nu_port();
    MT_REQUIRE(dest && r && p1 && p2 && q);
    MT_KR(mach_port_insert_right(TASK, dest, dest, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    const mach_msg_type_name_t bad_disp[] = {MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_COPY_RECEIVE,
                                             MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE};
    mach_port_name_t so1 = nu_send_once(p1); /* MAKE_SEND needs a receive right */
    MT_REQUIRE(so1);
    const mach_port_name_t bad_name[] = {0x7777703, q, so1, p2};
    for (int i = 0; i < 4; i++) {
        mach_port_name_t extra = nu_port_with_send(); /* moved by descriptor 0 */
        MT_REQUIRE(extra);
        se_buf b;
        memset(&b, 0, sizeof b);
        se_port_dsc(b.rest, extra, MACH_MSG_TYPE_MOVE_SEND);
        se_port_dsc(b.rest + 12, bad_name[i], bad_disp[i]);
        se_port_dsc(b.rest + 24, p2, MACH_MSG_TYPE_MOVE_SEND);
        MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 2);
        MT_KR(se_send_complex(&b, dest, MACH_MSG_TYPE_MAKE_SEND_ONCE, r, 3,
                              sizeof(mach_msg_base_t) + 36),
              MACH_SEND_INVALID_RIGHT);
        /* header: the moved dest uref is gone, the made send-once right was destroyed */
        MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 1);
        nu_msg m;
        MT_KR(nu_recv(r, &m, 0), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
        /* descriptor 0 consumed, descriptor 2 untouched */
        MT_EQ(nu_type(extra), MACH_PORT_TYPE_RECEIVE);
        MT_EQ(nu_refs(p2, MACH_PORT_RIGHT_SEND), 1);
        MT_EQ(nu_status(dest).mps_msgcount, 0);
        MT_KR(mach_port_insert_right(TASK, dest, dest, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, extra, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    }
    MT_EQ(nu_type(q), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_type(so1), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, so1), KERN_SUCCESS);
    nu_msg n;
    MT_KR(nu_recv(p1, &n, 0), MACH_MSG_SUCCESS);
    se_drop(dest, 2);
    se_drop(r, 0);
    se_drop(p1, 1);
    se_drop(p2, 1);
    se_drop(q, 0);
    NU_END();
}

MT_TEST(unreadable_ool_memory_is_invalid_memory_after_consuming_the_header)
{
    NU_BEGIN();
    mach_port_name_t dest = nu_port_with_send(), r = nu_port(), p = nu_port_with_send();
    MT_REQUIRE(dest && r && p);
    MT_KR(mach_port_insert_right(TASK, dest, dest, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    /* never mapped: below Linux's mmap_min_addr, inside macOS's __PAGEZERO */
    const vm_address_t gone = 0x2000;
    se_buf b;
    memset(&b, 0, sizeof b);
    se_port_dsc(b.rest, p, MACH_MSG_TYPE_MOVE_SEND);
    se_ool_dsc(b.rest + 12, gone, (mach_msg_size_t)(2 * vm_page_size), 0, MACH_MSG_VIRTUAL_COPY);
    MT_KR(se_send_complex(&b, dest, MACH_MSG_TYPE_MAKE_SEND_ONCE, r, 2,
                          sizeof(mach_msg_base_t) + 28),
          MACH_SEND_INVALID_MEMORY);
    MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    nu_msg m;
    MT_KR(nu_recv(r, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(dest).mps_msgcount, 0);
    se_drop(dest, 1);
    se_drop(r, 0);
    se_drop(p, 0);
    NU_END();
}

MT_TEST(option_bits_a_user_may_not_pass_are_ignored)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_msg_header_t h = {0};
    /* no send and no receive bit: nothing happens */
    MT_KR(mach_msg(&h, 0, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL), MACH_MSG_SUCCESS);
    /* unassigned (0x2000) and kernel-only (MACH_SEND_KERNEL 0x400000) bits are masked off */
    h.msgh_bits = BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0);
    h.msgh_remote_port = p;
    h.msgh_id = 3;
    MT_KR(mach_msg(&h, MACH_SEND_MSG | 0x2000 | 0x400000, sizeof h, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 3);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(a_voucher_field_without_voucher_bits_is_not_checked_and_arrives_unchanged)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0), p, 0, 0x1234567), MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_voucher_port, 0x1234567);
    MT_EQ(m.h.msgh_bits, BITS(0, MACH_MSG_TYPE_PORT_SEND_ONCE));
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(sending_to_rights_whose_port_died)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), r = nu_port();
    MT_REQUIRE(p && r);
    mach_port_name_t so = nu_send_once(p);
    MT_REQUIRE(so);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    /* a send-once right to a dead port (no dead-name request) is accepted: the message is
     * treated as delivered and destroyed, its reply right with it */
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_MSG_TYPE_MAKE_SEND_ONCE), so, r, 0),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_type(so), (mach_port_type_t)-1);
    nu_msg m;
    MT_KR(nu_recv(r, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* a send right to it is refused and stays a dead name */
    MT_KR(se_send_hdr(BITS(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE), p, r, 0),
          MACH_SEND_INVALID_DEST);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_EQ(nu_status(r).mps_sorights, 0);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(common_header_shapes_with_a_stray_dead_or_shared_reply_name_get_the_usual_answers)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), r = nu_port_with_send();
    MT_REQUIRE(p && r);
    mach_port_name_t so = nu_send_once(p), other_so = nu_send_once(r);
    MT_REQUIRE(so && other_so);
    const mach_msg_type_name_t cs = MACH_MSG_TYPE_COPY_SEND, mso = MACH_MSG_TYPE_MOVE_SEND_ONCE;
    const mach_msg_type_name_t makeso = MACH_MSG_TYPE_MAKE_SEND_ONCE;
    /* a one-way message or a reply with a reply name but no reply disposition */
    MT_KR(se_send_hdr(BITS(cs, 0), p, r, 0), MACH_SEND_INVALID_HEADER);
    MT_KR(se_send_hdr(BITS(mso, 0), so, r, 0), MACH_SEND_INVALID_HEADER);
    /* a reply that asks for a reply on its own send-once name */
    MT_KR(se_send_hdr(BITS(mso, makeso), so, so, 0), MACH_SEND_INVALID_DEST);
    /* ... or on a name without a receive right */
    MT_KR(se_send_hdr(BITS(mso, makeso), so, other_so, 0), MACH_SEND_INVALID_REPLY);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_type(other_so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(p).mps_msgcount, 0);
    MT_EQ(nu_status(r).mps_sorights, 1);
    /* a request whose reply name is MACH_PORT_DEAD is sent, and its reply arrives dead */
    MT_KR(se_send_hdr(BITS(cs, makeso), p, MACH_PORT_DEAD, 0), MACH_MSG_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND));
    MT_EQ(m.h.msgh_remote_port, MACH_PORT_DEAD);
    MT_EQ(m.h.msgh_local_port, p);
    /* the send-once rights still work */
    MT_KR(se_send_hdr(BITS(mso, makeso), so, r, 0), MACH_MSG_SUCCESS);
    MT_KR(nu_recv(p, &m, 0), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_bits, BITS(MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND_ONCE));
    MT_EQ(nu_type(m.h.msgh_remote_port), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, m.h.msgh_remote_port), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, other_so), KERN_SUCCESS);
    for (int i = 0; i < 2; i++) {
        MT_KR(nu_recv(r, &m, 0), MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    }
    se_drop(p, 1);
    se_drop(r, 1);
    NU_END();
}

MT_MAIN()
