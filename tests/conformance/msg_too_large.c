/*
 * MACH_RCV_TOO_LARGE: a message fits only if rcv_size >= size + requested trailer.
 * Without MACH_RCV_LARGE the message is dequeued and destroyed and a bare header (with a
 * kernel trailer) is returned (XNU mach_msg_receive_error / ipc_kmsg_copyout_dest_to_user);
 * with it the message stays queued and only msgh_size (and, with MACH_RCV_LARGE_IDENTITY,
 * msgh_local_port) is written (XNU mach_msg_receive_too_large).
 */
#include "notify_util.h"

#define TL_FILL 0xA5A5A5A5u

/* 24 + 4 + 12 + 16 + 16 = 72 bytes */
typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
    mach_msg_ool_descriptor_t ool;
    uint8_t data[16];
} tl_msg;

typedef union {
    mach_msg_header_t h;
    tl_msg m;
    uint8_t bytes[512];
} tl_buf;

static const mach_msg_option_t TL_AUDIT =
    MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
    MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT);

/* Send the 72-byte complex message: MAKE_SEND dest, MAKE_SEND_ONCE reply, MAKE_SEND of `carried`,
 * 64 bytes of OOL memory from `mem`. */
static mach_msg_return_t tl_send(mach_port_name_t dest, mach_port_name_t reply,
                                 mach_port_name_t carried, vm_address_t mem)
{
    tl_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0,
                                       MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_remote_port = dest;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = 0x1234;
    m.body.msgh_descriptor_count = 2;
    m.port.name = carried;
    m.port.disposition = MACH_MSG_TYPE_MAKE_SEND;
    m.port.type = MACH_MSG_PORT_DESCRIPTOR;
    m.ool.address = (void *)mem;
    m.ool.size = 64;
    m.ool.copy = MACH_MSG_VIRTUAL_COPY;
    m.ool.deallocate = 0;
    m.ool.type = MACH_MSG_OOL_DESCRIPTOR;
    for (int i = 0; i < 16; i++)
        m.data[i] = (uint8_t)(0x40 + i);
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

static mach_msg_return_t tl_recv(mach_port_name_t port, tl_buf *b, mach_msg_option_t opts,
                                 mach_msg_size_t rcv_size)
{
    memset(b, 0xA5, sizeof *b);
    return mach_msg(&b->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT | opts, 0, rcv_size, port, 0,
                    MACH_PORT_NULL);
}

typedef struct {
    mach_port_name_t dest, reply, carried;
    vm_address_t mem;
} tl_env;

static int tl_setup(tl_env *e)
{
    e->dest = nu_port();
    e->reply = nu_port();
    e->carried = nu_port();
    e->mem = 0;
    if (!e->dest || !e->reply || !e->carried)
        return 0;
    if (vm_allocate(TASK, &e->mem, vm_page_size, VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
        return 0;
    memset((void *)e->mem, 0x3C, 64);
    return tl_send(e->dest, e->reply, e->carried, e->mem) == MACH_MSG_SUCCESS;
}

static void tl_teardown(tl_env *e)
{
    MT_KR(vm_deallocate(TASK, e->mem, vm_page_size), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, e->dest, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, e->reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, e->carried, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(too_large_without_rcv_large_destroys_the_message_and_returns_a_bare_header)
{
    NU_BEGIN();
    tl_env e;
    MT_REQUIRE(tl_setup(&e));
    tl_buf b;
    /* 72 + 52 = 124 needed */
    MT_KR(tl_recv(e.dest, &b, TL_AUDIT, 120), MACH_RCV_TOO_LARGE);
    /* bits: remote = the reply's type, local = the destination's type, other bits kept */
    MT_EQ(b.h.msgh_bits, MACH_MSGH_BITS_SET(MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND,
                                            0, MACH_MSGH_BITS_COMPLEX));
    MT_EQ(b.h.msgh_size, sizeof(mach_msg_header_t));
    MT_EQ(b.h.msgh_remote_port, MACH_PORT_NULL);
    MT_EQ(b.h.msgh_local_port, e.dest);
    MT_EQ(b.h.msgh_voucher_port, MACH_PORT_NULL);
    MT_EQ(b.h.msgh_id, 0x1234);
    /* a kernel trailer right after the header, with the message's seqno */
    const mach_msg_audit_trailer_t *t =
        (const mach_msg_audit_trailer_t *)(const void *)(b.bytes + sizeof(mach_msg_header_t));
    MT_EQ(t->msgh_trailer_type, MACH_MSG_TRAILER_FORMAT_0);
    MT_EQ(t->msgh_trailer_size, sizeof(mach_msg_audit_trailer_t));
    MT_EQ(t->msgh_seqno, 0);
    MT_EQ(t->msgh_sender.val[0], 0);
    MT_EQ(t->msgh_sender.val[1], 1);
    for (int i = 0; i < 8; i++)
        MT_EQ(t->msgh_audit.val[i], 0);
    MT_EQ(b.bytes[sizeof(mach_msg_header_t) + sizeof *t], 0xA5); /* nothing past the trailer */
    /* dequeued and destroyed */
    mach_port_status_t st = nu_status(e.dest);
    MT_EQ(st.mps_msgcount, 0);
    MT_EQ(st.mps_seqno, 1);
    MT_EQ(nu_type(e.dest), MACH_PORT_TYPE_RECEIVE);
    /* the carried send right was released (made once, now no senders) */
    MT_EQ(nu_type(e.carried), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_status(e.carried).mps_mscount, 1);
    MT_EQ(nu_status(e.carried).mps_srights, 0);
    /* the reply send-once right was destroyed: its notification (which travels on that very
     * send-once right, so it still counts until received) arrives on the reply port */
    MT_EQ(nu_status(e.reply).mps_msgcount, 1);
    nu_msg n;
    MT_KR(nu_recv(e.reply, &n, 0), MACH_MSG_SUCCESS);
    MT_EQ(n.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(e.reply).mps_sorights, 0);
    /* the sender's memory was only copied */
    MT_EQ(((uint8_t *)e.mem)[63], 0x3C);
    MT_KR(tl_recv(e.dest, &b, 0, sizeof b), MACH_RCV_TIMED_OUT);
    tl_teardown(&e);
    NU_END();
}

MT_TEST(too_large_with_rcv_large_keeps_the_message_and_reports_its_size_without_trailer)
{
    NU_BEGIN();
    tl_env e;
    MT_REQUIRE(tl_setup(&e));
    tl_buf b;
    MT_KR(tl_recv(e.dest, &b, MACH_RCV_LARGE | TL_AUDIT, 120), MACH_RCV_TOO_LARGE);
    MT_EQ(b.h.msgh_size, sizeof(tl_msg));
    /* nothing else is written */
    MT_EQ(b.h.msgh_bits, TL_FILL);
    MT_EQ(b.h.msgh_remote_port, TL_FILL);
    MT_EQ(b.h.msgh_local_port, TL_FILL);
    MT_EQ(b.h.msgh_voucher_port, TL_FILL);
    MT_EQ((uint32_t)b.h.msgh_id, TL_FILL);
    MT_EQ(b.bytes[sizeof(mach_msg_header_t)], 0xA5);
    mach_port_status_t st = nu_status(e.dest);
    MT_EQ(st.mps_msgcount, 1);
    MT_EQ(st.mps_seqno, 0);
    MT_EQ(nu_status(e.reply).mps_sorights, 1);
    /* retry with the reported size plus the trailer */
    mach_msg_size_t need = b.h.msgh_size + (mach_msg_size_t)sizeof(mach_msg_audit_trailer_t);
    MT_KR(tl_recv(e.dest, &b, MACH_RCV_LARGE | TL_AUDIT, need), MACH_MSG_SUCCESS);
    MT_EQ(b.h.msgh_size, sizeof(tl_msg));
    MT_EQ(b.h.msgh_id, 0x1234);
    MT_EQ(b.h.msgh_local_port, e.dest);
    MT_EQ(b.m.port.name, e.carried);
    MT_EQ(b.m.port.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(b.m.ool.size, 64);
    MT_EQ(b.m.data[15], 0x4F);
    const mach_msg_audit_trailer_t *t =
        (const mach_msg_audit_trailer_t *)(const void *)(b.bytes + sizeof(tl_msg));
    MT_EQ(t->msgh_seqno, 0);
    MT_EQ(t->msgh_trailer_size, sizeof(mach_msg_audit_trailer_t));
    MT_EQ(nu_type(b.h.msgh_remote_port), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_refs(e.carried, MACH_PORT_RIGHT_SEND), 1);
    mach_port_name_t so = b.h.msgh_remote_port;
    mach_msg_destroy(&b.h); /* the reply send-once right, the carried send right, the OOL copy */
    MT_EQ(nu_type(so), (mach_port_type_t)-1);
    nu_msg n;
    MT_KR(nu_recv(e.reply, &n, 0), MACH_MSG_SUCCESS);
    MT_EQ(n.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_type(e.carried), MACH_PORT_TYPE_RECEIVE);
    tl_teardown(&e);
    NU_END();
}

MT_TEST(requested_trailer_size_counts_toward_the_receive_size)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    mach_msg_header_t h = {0};
    for (int i = 0; i < 2; i++) {
        h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0);
        h.msgh_remote_port = p;
        h.msgh_local_port = MACH_PORT_NULL;
        h.msgh_id = 10 + i;
        MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
    }
    tl_buf b;
    /* header only: even the minimum 8-byte trailer does not fit */
    MT_KR(tl_recv(p, &b, MACH_RCV_LARGE, sizeof(mach_msg_header_t)), MACH_RCV_TOO_LARGE);
    MT_EQ(b.h.msgh_size, sizeof(mach_msg_header_t));
    /* 24 + 8 fits the default trailer but not the audit one */
    MT_KR(tl_recv(p, &b, MACH_RCV_LARGE | TL_AUDIT, 32), MACH_RCV_TOO_LARGE);
    MT_EQ(b.h.msgh_size, sizeof(mach_msg_header_t));
    MT_KR(tl_recv(p, &b, MACH_RCV_LARGE, 32), MACH_MSG_SUCCESS);
    MT_EQ(b.h.msgh_id, 10);
    const mach_msg_trailer_t *t = (const mach_msg_trailer_t *)(const void *)(b.bytes + 24);
    MT_EQ(t->msgh_trailer_size, sizeof(mach_msg_trailer_t));
    MT_EQ(b.bytes[32], 0xA5);
    /* without MACH_RCV_LARGE the header-only buffer gets the bare header and loses the message */
    MT_KR(tl_recv(p, &b, 0, sizeof(mach_msg_header_t)), MACH_RCV_TOO_LARGE);
    MT_EQ(b.h.msgh_id, 11);
    MT_EQ(b.h.msgh_size, sizeof(mach_msg_header_t));
    MT_EQ(b.h.msgh_bits, MACH_MSGH_BITS(0, MACH_MSG_TYPE_PORT_SEND_ONCE));
    MT_EQ(b.h.msgh_local_port, p);
    MT_EQ(b.bytes[24], 0xA5); /* the trailer is cut to the buffer */
    MT_EQ(nu_status(p).mps_msgcount, 0);
    MT_EQ(nu_status(p).mps_seqno, 2);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(rcv_large_identity_reports_the_member_name_when_receiving_on_a_set)
{
    NU_BEGIN();
    mach_port_name_t set, a = nu_port(), p = nu_port();
    MT_REQUIRE(a && p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, a, set), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, p, set), KERN_SUCCESS);
    vm_address_t mem = 0;
    MT_KR(vm_allocate(TASK, &mem, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(tl_send(p, MACH_PORT_NULL, a, mem), MACH_MSG_SUCCESS);
    tl_buf b;
    MT_KR(tl_recv(set, &b, MACH_RCV_LARGE | MACH_RCV_LARGE_IDENTITY, 64), MACH_RCV_TOO_LARGE);
    MT_EQ(b.h.msgh_size, sizeof(tl_msg));
    MT_EQ(b.h.msgh_local_port, p);
    MT_EQ(b.h.msgh_bits, TL_FILL);
    MT_EQ(b.h.msgh_remote_port, TL_FILL);
    MT_EQ((uint32_t)b.h.msgh_id, TL_FILL);
    /* without IDENTITY the local port is not written */
    MT_KR(tl_recv(set, &b, MACH_RCV_LARGE, 64), MACH_RCV_TOO_LARGE);
    MT_EQ(b.h.msgh_size, sizeof(tl_msg));
    MT_EQ(b.h.msgh_local_port, TL_FILL);
    /* receiving directly on the port reports the same name */
    MT_KR(tl_recv(p, &b, MACH_RCV_LARGE | MACH_RCV_LARGE_IDENTITY, 64), MACH_RCV_TOO_LARGE);
    MT_EQ(b.h.msgh_local_port, p);
    MT_EQ(nu_status(p).mps_msgcount, 1);
    MT_KR(tl_recv(set, &b, 0, sizeof b), MACH_MSG_SUCCESS);
    MT_EQ(b.h.msgh_local_port, p);
    MT_EQ(b.h.msgh_remote_port, MACH_PORT_NULL);
    MT_EQ(b.m.port.name, a);
    mach_msg_destroy(&b.h);
    MT_EQ(nu_type(a), MACH_PORT_TYPE_RECEIVE);
    MT_KR(vm_deallocate(TASK, mem, vm_page_size), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, set, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(rcv_large_with_a_buffer_shorter_than_a_header_writes_only_the_fields_that_fit)
{
    NU_BEGIN();
    mach_port_name_t set, p = nu_port();
    MT_REQUIRE(p);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, p, set), KERN_SUCCESS);
    mach_msg_header_t h = {0};
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0);
    h.msgh_remote_port = p;
    MT_KR(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    tl_buf b;
    const mach_msg_option_t o = MACH_RCV_LARGE | MACH_RCV_LARGE_IDENTITY;
    /* 16 bytes hold msgh_local_port: both fields */
    MT_KR(tl_recv(set, &b, o, 16), MACH_RCV_TOO_LARGE);
    MT_EQ(b.h.msgh_size, sizeof h);
    MT_EQ(b.h.msgh_local_port, p);
    /* 12 bytes: the size only */
    MT_KR(tl_recv(set, &b, o, 12), MACH_RCV_TOO_LARGE);
    MT_EQ(b.h.msgh_size, sizeof h);
    MT_EQ(b.h.msgh_local_port, TL_FILL);
    /* 4 bytes: nothing */
    MT_KR(tl_recv(set, &b, o, 4), MACH_RCV_TOO_LARGE);
    MT_EQ(b.h.msgh_size, TL_FILL);
    MT_EQ(b.h.msgh_bits, TL_FILL);
    MT_EQ(nu_status(p).mps_msgcount, 1);
    MT_KR(mach_port_mod_refs(TASK, set, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(received_virtual_copy_memory_reports_deallocate_and_physical_copy_does_not)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    MT_REQUIRE(p);
    vm_address_t mem = 0;
    MT_KR(vm_allocate(TASK, &mem, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    struct {
        mach_msg_header_t h;
        mach_msg_body_t body;
        mach_msg_ool_descriptor_t d[2];
    } m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0, MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_remote_port = p;
    m.body.msgh_descriptor_count = 2;
    for (int i = 0; i < 2; i++) {
        m.d[i].address = (void *)mem;
        m.d[i].size = 32;
        m.d[i].deallocate = 0;
        m.d[i].copy = i ? MACH_MSG_PHYSICAL_COPY : MACH_MSG_VIRTUAL_COPY;
        m.d[i].type = MACH_MSG_OOL_DESCRIPTOR;
    }
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    tl_buf b;
    MT_KR(tl_recv(p, &b, 0, sizeof b), MACH_MSG_SUCCESS);
    const mach_msg_ool_descriptor_t *d =
        (const mach_msg_ool_descriptor_t *)(const void *)(b.bytes + sizeof(mach_msg_base_t));
    MT_EQ(d[0].copy, MACH_MSG_VIRTUAL_COPY);
    MT_EQ(d[0].deallocate, 1);
    MT_EQ(d[1].copy, MACH_MSG_PHYSICAL_COPY);
    MT_EQ(d[1].deallocate, 0);
    MT_KR(vm_deallocate(TASK, (vm_address_t)d[0].address, d[0].size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, (vm_address_t)d[1].address, d[1].size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, mem, vm_page_size), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
