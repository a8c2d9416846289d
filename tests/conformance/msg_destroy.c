/* mach_msg_destroy on received and on never-sent messages: what it releases, what it keeps. */
#include "notify_util.h"

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_port_descriptor_t send;      /* 12 bytes */
    mach_msg_port_descriptor_t once;      /* 12 */
    mach_msg_port_descriptor_t rcv;       /* 12 */
    mach_msg_ool_descriptor_t virt;       /* 16 */
    mach_msg_ool_descriptor_t phys;       /* 16 */
    mach_msg_ool_descriptor_t vol;        /* 16 */
    mach_msg_ool_ports_descriptor_t arr;  /* 16 */
    mach_msg_guarded_port_descriptor_t g; /* 16 */
    mach_msg_port_descriptor_t null_dead; /* 12 */
} ds_msg;
#pragma pack(pop)

typedef union {
    mach_msg_header_t h;
    ds_msg m;
    uint8_t bytes[512];
} ds_rbuf;

static void ds_port(mach_msg_port_descriptor_t *d, mach_port_name_t name, mach_msg_type_name_t disp)
{
    memset(d, 0, sizeof *d);
    d->name = name;
    d->disposition = disp;
    d->type = MACH_MSG_PORT_DESCRIPTOR;
}

static void ds_ool(mach_msg_ool_descriptor_t *d, vm_address_t a, vm_size_t size,
                   mach_msg_copy_options_t copy, int dealloc, mach_msg_descriptor_type_t type)
{
    memset(d, 0, sizeof *d);
    d->address = (void *)a;
    d->size = (mach_msg_size_t)size;
    d->copy = copy;
    d->deallocate = dealloc;
    d->type = type;
}

static mach_msg_return_t ds_recv(mach_port_name_t port, ds_rbuf *r, mach_msg_option_t extra)
{
    return nu_recv_buf(port, r, sizeof *r, extra);
}

/* 1 if [a, a+size) is free again (it can be allocated at exactly that place). */
static int ds_unmapped(vm_address_t a, vm_size_t size)
{
    vm_address_t at = a;
    if (vm_allocate(TASK, &at, size, VM_FLAGS_FIXED) != KERN_SUCCESS)
        return 0;
    (void)vm_deallocate(TASK, at, size);
    return at == a;
}

MT_TEST(destroying_a_received_message_releases_the_reply_right_and_never_the_destination)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), r = nu_port();
    MT_REQUIRE(d && r);
    mach_msg_header_t m;
    ds_rbuf got;
    static const mach_msg_type_name_t replies[] = {MACH_MSG_TYPE_MAKE_SEND_ONCE,
                                                   MACH_MSG_TYPE_MAKE_SEND};
    for (unsigned i = 0; i < 2; i++) {
        memset(&m, 0, sizeof m);
        m.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, replies[i]);
        m.msgh_remote_port = d;
        m.msgh_local_port = r;
        MT_KR(mach_msg(&m, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
        MT_KR(ds_recv(d, &got, 0), MACH_MSG_SUCCESS);
        MT_EQ(got.h.msgh_local_port, d);
        mach_msg_destroy(&got.h);
        MT_EQ(nu_type(d), MACH_PORT_TYPE_SEND_RECEIVE);
        MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
        MT_EQ(nu_type(r), MACH_PORT_TYPE_RECEIVE);
    }
    /* the destroyed send-once reply right told its port */
    MT_KR(ds_recv(r, &got, 0), MACH_MSG_SUCCESS);
    MT_EQ(got.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(r).mps_sorights, 0);
    MT_EQ(nu_status(r).mps_mscount, 1);
    nu_kill(d);
    nu_kill(r);
    NU_END();
}

MT_TEST(destroying_a_received_complex_message_releases_each_descriptor_by_its_kind)
{
    NU_BEGIN();
    vm_size_t pg = vm_page_size;
    mach_port_name_t d = nu_port_with_send(), a = nu_port_with_send(), b = nu_port(), g = nu_port();
    MT_REQUIRE(d && a && b && g);
    vm_address_t src = 0;
    MT_KR(vm_allocate(TASK, &src, 4 * pg, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memset((void *)src, 0x3C, 4 * pg);
    mach_port_name_t names[2] = {a, a};
    ds_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_remote_port = d;
    m.b.msgh_descriptor_count = 9;
    ds_port(&m.send, a, MACH_MSG_TYPE_COPY_SEND);
    ds_port(&m.once, a, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    ds_port(&m.rcv, b, MACH_MSG_TYPE_MOVE_RECEIVE);
    ds_ool(&m.virt, src, 4 * pg, MACH_MSG_VIRTUAL_COPY, 0, MACH_MSG_OOL_DESCRIPTOR);
    ds_ool(&m.phys, src, 100, MACH_MSG_PHYSICAL_COPY, 0, MACH_MSG_OOL_DESCRIPTOR);
    ds_ool(&m.vol, src, 200, MACH_MSG_VIRTUAL_COPY, 0, MACH_MSG_OOL_VOLATILE_DESCRIPTOR);
    memset(&m.arr, 0, sizeof m.arr);
    m.arr.address = names;
    m.arr.count = 2;
    m.arr.disposition = MACH_MSG_TYPE_COPY_SEND;
    m.arr.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    memset(&m.g, 0, sizeof m.g);
    m.g.name = g;
    m.g.flags = MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE | MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND;
    m.g.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
    m.g.type = MACH_MSG_GUARDED_PORT_DESCRIPTOR;
    ds_port(&m.null_dead, MACH_PORT_DEAD, MACH_MSG_TYPE_MOVE_SEND);
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    static ds_rbuf r;
    MT_KR(ds_recv(d, &r, MACH_RCV_GUARDED_DESC), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_size, sizeof(ds_msg));
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND), 4);
    MT_EQ(nu_status(a).mps_sorights, 1);
    mach_port_name_t b2 = r.m.rcv.name, g2 = r.m.g.name;
    vm_address_t virt = (vm_address_t)r.m.virt.address, phys = (vm_address_t)r.m.phys.address,
                 vol = (vm_address_t)r.m.vol.address, arr = (vm_address_t)r.m.arr.address;
    MT_EQ(r.m.virt.deallocate, 1);
    MT_EQ(r.m.phys.deallocate, 0);
    MT_EQ(nu_status(g2).mps_flags & MACH_PORT_STATUS_FLAG_GUARDED, MACH_PORT_STATUS_FLAG_GUARDED);
    mach_msg_destroy(&r.h);
    /* ports: copies dropped, send-once destroyed, receive rights (guarded one unguarded) gone */
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(b2), (mach_port_type_t)-1);
    MT_EQ(nu_type(g2), (mach_port_type_t)-1);
    ds_rbuf n;
    MT_KR(ds_recv(a, &n, 0), MACH_MSG_SUCCESS);
    MT_EQ(n.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* memory: only what the descriptor marks deallocate goes; volatile memory is skipped */
    MT_CHECK(ds_unmapped(virt, 4 * pg));
    MT_CHECK(ds_unmapped(arr, pg));
    MT_EQ(((const uint8_t *)phys)[99], 0x3C);
    MT_EQ(((const uint8_t *)vol)[199], 0x3C);
    MT_KR(vm_deallocate(TASK, phys, 100), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, vol, 200), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, src, 4 * pg), KERN_SUCCESS);
    nu_kill(a);
    nu_kill(d);
    NU_END();
}

MT_TEST(destroying_an_unsent_message_acts_out_the_send_of_its_remote_right_and_body)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send(), rp = nu_port_with_send(), a = nu_port_with_send();
    MT_REQUIRE(p && rp && a);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_SEND, 2), KERN_SUCCESS);
    mach_msg_header_t h;
    ds_rbuf n;
    /* the local (reply) field is never touched, whatever its disposition */
    const struct {
        mach_msg_type_name_t remote;
        mach_port_urefs_t urefs;
        mach_port_mscount_t mscount;
    } cases[] = {{MACH_MSG_TYPE_COPY_SEND, 2, 1},
                 {MACH_MSG_TYPE_MAKE_SEND, 2, 2},
                 {MACH_MSG_TYPE_MOVE_SEND, 1, 2},
                 {MACH_MSG_TYPE_MAKE_SEND_ONCE, 1, 2}};
    for (unsigned i = 0; i < 4; i++) {
        memset(&h, 0, sizeof h);
        h.msgh_bits = MACH_MSGH_BITS(cases[i].remote, MACH_MSG_TYPE_MOVE_SEND);
        h.msgh_remote_port = p;
        h.msgh_local_port = rp;
        mach_msg_destroy(&h);
        MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), cases[i].urefs);
        MT_EQ(nu_status(p).mps_mscount, cases[i].mscount);
        MT_EQ(nu_refs(rp, MACH_PORT_RIGHT_SEND), 1);
    }
    MT_KR(ds_recv(p, &n, 0), MACH_MSG_SUCCESS); /* the made send-once right died */
    MT_EQ(n.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* a body: moves are released, memory marked deallocate is freed, the rest is kept */
    vm_address_t mem = 0;
    MT_KR(vm_allocate(TASK, &mem, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    mach_port_name_t arr[2] = {a, MACH_PORT_NULL};
    struct {
        mach_msg_header_t h;
        mach_msg_body_t b;
        mach_msg_port_descriptor_t p;
        mach_msg_ool_descriptor_t o;
        mach_msg_ool_ports_descriptor_t op;
        mach_msg_ool_descriptor_t keep;
    } c;
    memset(&c, 0, sizeof c);
    c.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    c.h.msgh_remote_port = p;
    c.b.msgh_descriptor_count = 4;
    ds_port(&c.p, a, MACH_MSG_TYPE_MOVE_SEND);
    ds_ool(&c.o, mem, vm_page_size, MACH_MSG_VIRTUAL_COPY, 1, MACH_MSG_OOL_DESCRIPTOR);
    c.op.address = arr;
    c.op.count = 2;
    c.op.disposition = MACH_MSG_TYPE_MOVE_SEND;
    c.op.type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    ds_ool(&c.keep, (vm_address_t)arr, sizeof arr, MACH_MSG_PHYSICAL_COPY, 0,
           MACH_MSG_OOL_DESCRIPTOR);
    mach_msg_destroy(&c.h);
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND), 1);
    MT_CHECK(ds_unmapped(mem, vm_page_size));
    MT_EQ(arr[0], a); /* stack memory left alone */
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    nu_kill(p);
    nu_kill(rp);
    nu_kill(a);
    NU_END();
}

MT_TEST(destroying_null_and_dead_names_and_empty_arrays_is_harmless)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    mach_port_name_t names[3] = {MACH_PORT_NULL, MACH_PORT_DEAD, MACH_PORT_NULL};
    struct {
        mach_msg_header_t h;
        mach_msg_body_t b;
        mach_msg_port_descriptor_t p[2];
        mach_msg_ool_ports_descriptor_t op[2];
    } m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits =
        MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_COPY_SEND) | MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_remote_port = d;
    m.h.msgh_local_port = MACH_PORT_DEAD;
    m.b.msgh_descriptor_count = 4;
    ds_port(&m.p[0], MACH_PORT_NULL, MACH_MSG_TYPE_MOVE_RECEIVE);
    ds_port(&m.p[1], MACH_PORT_DEAD, MACH_MSG_TYPE_MOVE_SEND_ONCE);
    for (unsigned i = 0; i < 2; i++) {
        m.op[i].address = names;
        m.op[i].count = i ? 0 : 3;
        m.op[i].disposition = MACH_MSG_TYPE_MOVE_SEND;
        m.op[i].type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    }
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    ds_rbuf r;
    MT_KR(ds_recv(d, &r, 0), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_remote_port, MACH_PORT_DEAD);
    mach_msg_destroy(&r.h);
    MT_EQ(nu_type(d), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    nu_kill(d);
    NU_END();
}

MT_MAIN()
