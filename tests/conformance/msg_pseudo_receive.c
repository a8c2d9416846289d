/*
 * Pseudo-receive: a send that times out on a full queue hands the message back into the
 * sender's buffer (XNU mach_msg_receive_pseudo / ipc_kmsg_copyout_pseudo): every right is
 * copied out again under the PORT_* dispositions, the header is not reversed, OOL memory is
 * mapped anew and OOL-port arrays are re-allocated.
 */
#include "notify_util.h"

#include <mach/mach_vm.h>

static void pr_set_qlimit(mach_port_name_t port, mach_port_msgcount_t limit)
{
    mach_port_limits_t l = {.mpl_qlimit = limit};
    MT_KR(mach_port_set_attributes(TASK, port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
}

/* A full destination: a receive right with one send uref and qlimit 0. */
static mach_port_name_t pr_full_port(void)
{
    mach_port_name_t p = nu_port_with_send();
    if (p)
        pr_set_qlimit(p, 0);
    return p;
}

static void pr_drop_port(mach_port_name_t p, mach_port_urefs_t sends)
{
    if (sends)
        MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -(mach_port_delta_t)sends),
              KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

typedef struct {
    mach_msg_header_t h;
    uint32_t word;
} pr_simple;

static mach_msg_return_t pr_send(mach_msg_header_t *h, mach_msg_size_t size)
{
    return mach_msg(h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

MT_TEST(timed_out_send_gives_header_rights_back_under_port_dispositions)
{
    NU_BEGIN();
    mach_port_name_t dest = pr_full_port(), reply = nu_port_with_send();
    MT_REQUIRE(dest && reply);
    pr_simple m = {.word = 0x5EED};
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MOVE_SEND);
    m.h.msgh_remote_port = dest;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = 4242;
    m.h.msgh_size = 0; /* ignored on send; the pseudo-receive writes the real size */
    MT_KR(pr_send(&m.h, sizeof m), MACH_SEND_TIMED_OUT);
    /* not reversed: remote is still the destination, local the reply */
    MT_EQ(m.h.msgh_bits, MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND, MACH_MSG_TYPE_PORT_SEND));
    MT_EQ(m.h.msgh_remote_port, dest);
    MT_EQ(m.h.msgh_local_port, reply);
    MT_EQ(m.h.msgh_voucher_port, 0);
    MT_EQ(m.h.msgh_size, sizeof m);
    MT_EQ(m.h.msgh_id, 4242);
    MT_EQ(m.word, 0x5EED);
    MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 2); /* COPY_SEND became a real uref */
    MT_EQ(nu_refs(reply, MACH_PORT_RIGHT_SEND), 1); /* MOVE_SEND came back */
    MT_EQ(nu_status(dest).mps_msgcount, 0);
    /* mach_msg_destroy releases the remote right only; msgh_local_port is never touched */
    mach_msg_destroy(&m.h);
    MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_refs(reply, MACH_PORT_RIGHT_SEND), 1);
    pr_drop_port(dest, 1);
    pr_drop_port(reply, 1);
    NU_END();
}

MT_TEST(timed_out_send_turns_made_rights_into_real_rights)
{
    NU_BEGIN();
    mach_port_name_t dest = nu_port(), reply = nu_port();
    MT_REQUIRE(dest && reply);
    pr_set_qlimit(dest, 0);
    pr_simple m = {.word = 1};
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    m.h.msgh_remote_port = dest;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = 7;
    MT_KR(pr_send(&m.h, sizeof m), MACH_SEND_TIMED_OUT);
    MT_EQ(m.h.msgh_bits,
          MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND, MACH_MSG_TYPE_PORT_SEND_ONCE));
    MT_EQ(m.h.msgh_remote_port, dest);
    MT_EQ(nu_type(dest), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(dest).mps_mscount, 1);
    /* the made send-once right lives under a fresh name */
    mach_port_name_t so = m.h.msgh_local_port;
    MT_NE(so, reply);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_status(reply).mps_sorights, 1);
    mach_msg_destroy(&m.h);
    MT_EQ(nu_type(dest), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE); /* local port untouched */
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg n;
    MT_KR(nu_recv(reply, &n, 0), MACH_MSG_SUCCESS);
    MT_EQ(n.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    pr_drop_port(dest, 0);
    pr_drop_port(reply, 0);
    NU_END();
}

/* The complex message used below: five port descriptors, two OOL regions, one port array. */
typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t p[4];
    mach_msg_ool_descriptor_t ool_move;
    mach_msg_ool_descriptor_t ool_copy;
    mach_msg_ool_ports_descriptor_t arr;
    uint32_t tail;
} pr_complex;

static void pr_port_dsc(mach_msg_port_descriptor_t *d, mach_port_name_t name,
                        mach_msg_type_name_t disp)
{
    memset(d, 0, sizeof *d);
    d->name = name;
    d->disposition = disp;
    d->type = MACH_MSG_PORT_DESCRIPTOR;
}

static void pr_fill(vm_address_t a, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)a)[i] = (uint8_t)(seed + i * 7);
}

static int pr_same(vm_address_t a, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (((const uint8_t *)a)[i] != (uint8_t)(seed + i * 7))
            return 0;
    return 1;
}

MT_TEST(timed_out_send_gives_body_rights_and_memory_back_and_destroy_releases_them)
{
    NU_BEGIN();
    mach_port_name_t dest = pr_full_port();
    mach_port_name_t p1 = nu_port_with_send(); /* MOVE_SEND, and twice COPY_SEND in the array */
    mach_port_name_t p2 = nu_port();           /* MOVE_RECEIVE */
    mach_port_name_t p3 = nu_port();           /* MAKE_SEND and MAKE_SEND_ONCE */
    MT_REQUIRE(dest && p1 && p2 && p3);
    /* two urefs: the array still copies a send right after the first descriptor moved one */
    MT_KR(mach_port_insert_right(TASK, p1, p1, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    const vm_size_t pg = vm_page_size;
    vm_address_t mv = 0, cp = 0, names = 0;
    MT_KR(vm_allocate(TASK, &mv, 2 * pg, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(vm_allocate(TASK, &cp, pg, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(vm_allocate(TASK, &names, pg, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    pr_fill(mv, 2 * pg, 3);
    pr_fill(cp, 100, 9);
    ((mach_port_name_t *)names)[0] = p1;
    ((mach_port_name_t *)names)[1] = p1;

    pr_complex m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, 0, 0, MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_remote_port = dest;
    m.h.msgh_id = 99;
    m.body.msgh_descriptor_count = 7;
    pr_port_dsc(&m.p[0], p1, MACH_MSG_TYPE_MOVE_SEND);
    pr_port_dsc(&m.p[1], p2, MACH_MSG_TYPE_MOVE_RECEIVE);
    pr_port_dsc(&m.p[2], p3, MACH_MSG_TYPE_MAKE_SEND);
    pr_port_dsc(&m.p[3], p3, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    m.ool_move.address = (void *)mv;
    m.ool_move.size = (mach_msg_size_t)(2 * pg);
    m.ool_move.deallocate = 1;
    m.ool_move.copy = MACH_MSG_VIRTUAL_COPY;
    m.ool_move.type = MACH_MSG_OOL_DESCRIPTOR;
    m.ool_copy.address = (void *)cp;
    m.ool_copy.size = 100;
    m.ool_copy.deallocate = 0;
    m.ool_copy.copy = MACH_MSG_PHYSICAL_COPY;
    m.ool_copy.type = MACH_MSG_OOL_DESCRIPTOR;
    m.arr.address = (void *)names;
    m.arr.count = 2;
    m.arr.deallocate = 0;
    m.arr.copy = MACH_MSG_PHYSICAL_COPY;
    m.arr.disposition = MACH_MSG_TYPE_COPY_SEND;
    m.arr.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    m.tail = 0xFEEDF00D;

    MT_KR(pr_send(&m.h, sizeof m), MACH_SEND_TIMED_OUT);
    MT_EQ(nu_status(dest).mps_msgcount, 0);
    MT_REQUIRE(m.h.msgh_bits ==
               MACH_MSGH_BITS_SET(MACH_MSG_TYPE_PORT_SEND, 0, 0, MACH_MSGH_BITS_COMPLEX));
    MT_EQ(m.h.msgh_size, sizeof m);
    MT_EQ(m.h.msgh_remote_port, dest);
    MT_EQ(m.body.msgh_descriptor_count, 7);
    MT_EQ(m.tail, 0xFEEDF00D);
    MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 2);

    /* port descriptors: PORT_* dispositions naming the rights now held */
    MT_EQ(m.p[0].disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(m.p[0].name, p1);
    MT_EQ(m.p[1].disposition, MACH_MSG_TYPE_PORT_RECEIVE);
    mach_port_name_t rcv = m.p[1].name;
    MT_EQ(nu_type(rcv), MACH_PORT_TYPE_RECEIVE);
    if (rcv != p2)
        MT_EQ(nu_type(p2), (mach_port_type_t)-1);
    MT_EQ(m.p[2].disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(m.p[2].name, p3);
    MT_EQ(m.p[3].disposition, MACH_MSG_TYPE_PORT_SEND_ONCE);
    mach_port_name_t so = m.p[3].name;
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_type(p3), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p3, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(p3).mps_sorights, 1);
    for (int i = 0; i < 4; i++)
        MT_EQ(m.p[i].type, MACH_MSG_PORT_DESCRIPTOR);

    /* moved memory is mapped again; deallocate reports "virtual copy" */
    vm_address_t mv2 = (vm_address_t)m.ool_move.address;
    MT_EQ(m.ool_move.size, 2 * pg);
    MT_EQ(m.ool_move.copy, MACH_MSG_VIRTUAL_COPY);
    MT_EQ(m.ool_move.deallocate, 1);
    MT_EQ(m.ool_move.type, MACH_MSG_OOL_DESCRIPTOR);
    MT_REQUIRE(mv2 != 0);
    MT_CHECK(pr_same(mv2, 2 * pg, 3));
    /* the physical copy is a new region (the original is still mapped) with deallocate 0 */
    vm_address_t cp2 = (vm_address_t)m.ool_copy.address;
    MT_NE(cp2, cp);
    MT_NE(cp2, 0);
    MT_EQ(m.ool_copy.size, 100);
    MT_EQ(m.ool_copy.copy, MACH_MSG_PHYSICAL_COPY);
    MT_EQ(m.ool_copy.deallocate, 0);
    if (cp2)
        MT_CHECK(pr_same(cp2, 100, 9));
    MT_CHECK(pr_same(cp, 100, 9));
    /* the port array is re-allocated and always reported as deallocate/virtual */
    mach_port_name_t *arr2 = (mach_port_name_t *)m.arr.address;
    MT_NE((vm_address_t)arr2, names);
    MT_EQ(m.arr.count, 2);
    MT_EQ(m.arr.deallocate, 1);
    MT_EQ(m.arr.copy, MACH_MSG_VIRTUAL_COPY);
    MT_EQ(m.arr.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_REQUIRE(arr2 != NULL);
    MT_EQ(arr2[0], p1);
    MT_EQ(arr2[1], p1);
    MT_EQ(nu_refs(p1, MACH_PORT_RIGHT_SEND), 4);

    mach_msg_destroy(&m.h);
    MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_refs(p1, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(rcv), (mach_port_type_t)-1);
    MT_EQ(nu_type(p3), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(nu_type(so), (mach_port_type_t)-1);
    nu_msg n;
    MT_KR(nu_recv(p3, &n, 0), MACH_MSG_SUCCESS); /* the destroyed send-once right */
    MT_EQ(n.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* the physical copy is not released by mach_msg_destroy (deallocate 0) */
    if (cp2)
        MT_KR(vm_deallocate(TASK, cp2, 100), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, cp, pg), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, names, pg), KERN_SUCCESS);
    pr_drop_port(dest, 1);
    pr_drop_port(p1, 1);
    pr_drop_port(p3, 0);
    NU_END();
}

MT_TEST(pseudo_received_buffer_can_be_resent_as_is)
{
    NU_BEGIN();
    mach_port_name_t dest = pr_full_port(), p = nu_port();
    MT_REQUIRE(dest && p);
    nu_carry_msg m;
    nu_carry_fill(&m, dest, MACH_MSG_TYPE_COPY_SEND, p, MACH_MSG_TYPE_MAKE_SEND);
    m.h.msgh_id = 5;
    MT_KR(pr_send(&m.h, sizeof m), MACH_SEND_TIMED_OUT);
    MT_KR(pr_send(&m.h, sizeof m), MACH_SEND_TIMED_OUT); /* a second round trip is the same */
    MT_EQ(m.d.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(m.d.name, p);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 2);
    pr_set_qlimit(dest, 1);
    MT_KR(pr_send(&m.h, sizeof m), MACH_MSG_SUCCESS);
    /* now the moves really happened */
    MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    nu_msg r;
    MT_KR(nu_recv(dest, &r, 0), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, 5);
    const mach_msg_port_descriptor_t *d =
        (const mach_msg_port_descriptor_t *)(const void *)(r.bytes + sizeof(mach_msg_base_t));
    MT_EQ(d->name, p);
    MT_EQ(d->disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    mach_msg_destroy(&r.h);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    pr_drop_port(dest, 1);
    pr_drop_port(p, 0);
    NU_END();
}

MT_TEST(timed_out_send_of_a_moved_dead_name_gives_the_dead_name_uref_back)
{
    NU_BEGIN();
    mach_port_name_t dest = pr_full_port(), gone = nu_port_with_send();
    MT_REQUIRE(dest && gone);
    MT_KR(mach_port_mod_refs(TASK, gone, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(gone), MACH_PORT_TYPE_DEAD_NAME);
    nu_carry_msg m;
    nu_carry_fill(&m, dest, MACH_MSG_TYPE_COPY_SEND, gone, MACH_MSG_TYPE_MOVE_SEND);
    MT_KR(pr_send(&m.h, sizeof m), MACH_SEND_TIMED_OUT);
    /* a dead right copies out as MACH_PORT_DEAD: the dead-name uref is gone for good */
    MT_EQ(m.d.name, MACH_PORT_DEAD);
    MT_EQ(m.d.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(nu_type(gone), (mach_port_type_t)-1);
    mach_msg_destroy(&m.h);
    pr_drop_port(dest, 1);
    NU_END();
}

MT_MAIN()
