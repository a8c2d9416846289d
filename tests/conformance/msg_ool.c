/* Out-of-line memory descriptors: copies, snapshots, deallocation and bad descriptors. */
#include "notify_util.h"

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_ool_descriptor_t d[4];
} om_msg;

typedef union {
    mach_msg_header_t h;
    om_msg m;
    uint8_t bytes[1024];
} om_rbuf;

/* Below Linux's mmap_min_addr and inside macOS's __PAGEZERO: never mapped. */
#define OM_NEVER_MAPPED ((vm_address_t)0x2008)

static void om_set(mach_msg_ool_descriptor_t *d, vm_address_t addr, mach_msg_size_t size,
                   mach_msg_copy_options_t copy, int dealloc)
{
    memset(d, 0, sizeof *d);
    d->address = (void *)addr;
    d->size = size;
    d->copy = copy;
    d->deallocate = dealloc;
    d->type = MACH_MSG_OOL_DESCRIPTOR;
}

static mach_msg_return_t om_send(om_msg *m, unsigned n, mach_port_name_t dest,
                                 mach_msg_type_name_t ddisp, mach_port_name_t reply)
{
    return nu_send_complex(&m->h, n, 16, dest, ddisp, reply,
                           reply ? MACH_MSG_TYPE_MAKE_SEND_ONCE : 0, 0x4F4F);
}

static mach_msg_return_t om_recv(mach_port_name_t port, om_rbuf *r)
{
    return nu_recv_buf(port, r, sizeof *r, 0);
}

static vm_address_t om_alloc(vm_size_t size, uint8_t seed)
{
    vm_address_t a = 0;
    if (vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
        return 0;
    for (vm_size_t i = 0; i < size; i++)
        ((uint8_t *)a)[i] = (uint8_t)(seed + i * 7);
    return a;
}

static int om_pattern(vm_address_t a, vm_size_t size, uint8_t seed)
{
    for (vm_size_t i = 0; i < size; i++)
        if (((const uint8_t *)a)[i] != (uint8_t)(seed + i * 7))
            return 0;
    return 1;
}

/* 1 if [a, a+size) is free: it can be allocated there again (and is released). */
static int om_unmapped(vm_address_t a, vm_size_t size)
{
    vm_address_t at = a;
    if (vm_allocate(TASK, &at, size, VM_FLAGS_FIXED) != KERN_SUCCESS)
        return 0;
    (void)vm_deallocate(TASK, at, size);
    return at == a;
}

MT_TEST(physical_and_virtual_copies_arrive_in_fresh_memory_with_the_sent_bytes)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    vm_size_t big = 16 * vm_page_size;
    vm_address_t a = om_alloc(big, 3);
    MT_REQUIRE(a);
    static const mach_msg_copy_options_t copies[] = {MACH_MSG_PHYSICAL_COPY, MACH_MSG_VIRTUAL_COPY};
    static const mach_msg_size_t sizes[] = {1, 100, 4096, 16 * 4096};
    for (unsigned c = 0; c < 2; c++) {
        for (unsigned s = 0; s < 4; s++) {
            om_msg m;
            om_rbuf r;
            om_set(&m.d[0], a, sizes[s], copies[c], 0);
            MT_KR(om_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
            MT_KR(om_recv(d, &r), MACH_MSG_SUCCESS);
            MT_EQ(r.h.msgh_size, sizeof(mach_msg_base_t) + 16);
            MT_EQ(r.h.msgh_bits, MACH_MSGH_BITS_COMPLEX | MACH_MSGH_BITS(0, 17));
            const mach_msg_ool_descriptor_t *g = &r.m.d[0];
            MT_EQ(g->type, MACH_MSG_OOL_DESCRIPTOR);
            MT_EQ(g->size, sizes[s]);
            MT_EQ(g->copy, copies[c]);
            MT_EQ(g->deallocate, copies[c] == MACH_MSG_VIRTUAL_COPY);
            MT_EQ(g->pad1, 0);
            vm_address_t got = (vm_address_t)g->address;
            MT_REQUIRE(got != 0 && got != a);
            MT_CHECK(om_pattern(got, sizes[s], 3));
            ((uint8_t *)got)[0] ^= 0xFF; /* the receiver's copy is its own, writable */
            MT_CHECK(om_pattern(a, big, 3));
            MT_KR(vm_deallocate(TASK, got, sizes[s]), KERN_SUCCESS);
        }
    }
    MT_KR(vm_deallocate(TASK, a, big), KERN_SUCCESS);
    nu_kill(d);
    NU_END();
}

MT_TEST(the_receiver_sees_the_bytes_as_they_were_at_send_time)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    vm_size_t big = 16 * vm_page_size;
    vm_address_t a = om_alloc(big, 9);
    MT_REQUIRE(a);
    om_msg m;
    om_rbuf r;
    om_set(&m.d[0], a, 64, MACH_MSG_PHYSICAL_COPY, 0);
    om_set(&m.d[1], a, (mach_msg_size_t)big, MACH_MSG_VIRTUAL_COPY, 0);
    om_set(&m.d[2], a, (mach_msg_size_t)big, MACH_MSG_PHYSICAL_COPY, 0);
    om_set(&m.d[3], a + 5, 3000, MACH_MSG_VIRTUAL_COPY, 0);
    MT_KR(om_send(&m, 4, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    memset((void *)a, 0, big); /* after the send: must not show through */
    MT_KR(om_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_size, sizeof(mach_msg_base_t) + 4 * 16);
    MT_EQ(r.m.b.msgh_descriptor_count, 4);
    for (unsigned i = 0; i < 4; i++) {
        MT_EQ(r.m.d[i].size, m.d[i].size);
        MT_REQUIRE(r.m.d[i].address != NULL);
    }
    MT_CHECK(om_pattern((vm_address_t)r.m.d[0].address, 64, 9));
    MT_CHECK(om_pattern((vm_address_t)r.m.d[1].address, big, 9));
    MT_CHECK(om_pattern((vm_address_t)r.m.d[2].address, big, 9));
    MT_CHECK(om_pattern((vm_address_t)r.m.d[3].address, 3000, (uint8_t)(9 + 5 * 7)));
    for (unsigned i = 0; i < 4; i++)
        MT_KR(vm_deallocate(TASK, (vm_address_t)r.m.d[i].address, r.m.d[i].size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, big), KERN_SUCCESS);
    nu_kill(d);
    NU_END();
}

MT_TEST(deallocate_true_unmaps_the_senders_page_rounded_range)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    vm_size_t pg = vm_page_size;
    vm_address_t a = om_alloc(4 * pg, 1), b = om_alloc(pg, 2), c = om_alloc(pg, 4);
    MT_REQUIRE(a && b && c);
    MT_CHECK(!om_unmapped(a, 4 * pg));
    om_msg m;
    om_rbuf r;
    om_set(&m.d[0], a, (mach_msg_size_t)(4 * pg), MACH_MSG_VIRTUAL_COPY, 1);
    om_set(&m.d[1], b + 16, 100, MACH_MSG_PHYSICAL_COPY, 1); /* whole page goes */
    om_set(&m.d[2], c, 0, MACH_MSG_PHYSICAL_COPY, 1);        /* size 0: nothing */
    MT_KR(om_send(&m, 3, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_KR(om_recv(d, &r), MACH_MSG_SUCCESS);
    MT_CHECK(om_pattern((vm_address_t)r.m.d[0].address, 4 * pg, 1));
    MT_CHECK(om_pattern((vm_address_t)r.m.d[1].address, 100, (uint8_t)(2 + 16 * 7)));
    MT_EQ(r.m.d[2].address, NULL);
    MT_EQ(r.m.d[2].size, 0);
    MT_KR(vm_deallocate(TASK, (vm_address_t)r.m.d[0].address, 4 * pg), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, (vm_address_t)r.m.d[1].address, 100), KERN_SUCCESS);
    /* checked once the received copies are gone, which may have reused the freed ranges */
    MT_CHECK(om_unmapped(a, 4 * pg));
    MT_CHECK(om_unmapped(b, pg));
    MT_CHECK(!om_unmapped(c, pg));
    MT_CHECK(om_pattern(c, pg, 4));
    MT_KR(vm_deallocate(TASK, c, pg), KERN_SUCCESS);
    nu_kill(d);
    NU_END();
}

MT_TEST(size_zero_ignores_the_address_and_arrives_as_null)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    om_msg m;
    om_rbuf r;
    om_set(&m.d[0], 0x1234, 0, MACH_MSG_PHYSICAL_COPY, 0);
    om_set(&m.d[1], (vm_address_t)-4096, 0, MACH_MSG_VIRTUAL_COPY, 1);
    MT_KR(om_send(&m, 2, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_KR(om_recv(d, &r), MACH_MSG_SUCCESS);
    for (unsigned i = 0; i < 2; i++) {
        MT_EQ(r.m.d[i].address, NULL);
        MT_EQ(r.m.d[i].size, 0);
        MT_EQ(r.m.d[i].copy, m.d[i].copy);
        MT_EQ(r.m.d[i].deallocate, i == 1);
    }
    nu_kill(d);
    NU_END();
}

MT_TEST(a_volatile_descriptor_behaves_as_out_of_line_memory)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    vm_address_t a = om_alloc(vm_page_size, 5);
    MT_REQUIRE(a);
    om_msg m;
    om_rbuf r;
    om_set(&m.d[0], a, 200, MACH_MSG_VIRTUAL_COPY, 0);
    m.d[0].type = MACH_MSG_OOL_VOLATILE_DESCRIPTOR;
    MT_KR(om_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_KR(om_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.m.d[0].type, MACH_MSG_OOL_VOLATILE_DESCRIPTOR);
    MT_EQ(r.m.d[0].size, 200);
    MT_CHECK(om_pattern((vm_address_t)r.m.d[0].address, 200, 5));
    MT_KR(vm_deallocate(TASK, (vm_address_t)r.m.d[0].address, 200), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, vm_page_size), KERN_SUCCESS);
    nu_kill(d);
    NU_END();
}

MT_TEST(a_copy_option_other_than_physical_or_virtual_is_invalid_type_and_consumes_nothing)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), rp = nu_port();
    MT_REQUIRE(d && rp);
    vm_address_t a = om_alloc(vm_page_size, 6);
    MT_REQUIRE(a);
    static const mach_msg_copy_options_t bad[] = {MACH_MSG_ALLOCATE, MACH_MSG_OVERWRITE, 4, 0xFF};
    om_msg m;
    om_rbuf r;
    for (unsigned i = 0; i < 4; i++) {
        om_set(&m.d[0], a, (mach_msg_size_t)vm_page_size, MACH_MSG_VIRTUAL_COPY, 1);
        om_set(&m.d[1], a, 0, bad[i], 0);
        MT_KR(om_send(&m, 2, d, MACH_MSG_TYPE_MOVE_SEND, rp), MACH_SEND_INVALID_TYPE);
    }
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(rp).mps_sorights, 0);
    MT_KR(om_recv(rp, &r), MACH_RCV_TIMED_OUT);
    MT_CHECK(om_pattern(a, vm_page_size, 6)); /* the deallocate=TRUE range is still there */
    /* descriptors that overrun the message are too small, checked before the copy option */
    om_set(&m.d[0], a, 8, MACH_MSG_PHYSICAL_COPY, 0);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_remote_port = d;
    m.h.msgh_local_port = MACH_PORT_NULL;
    m.b.msgh_descriptor_count = 1;
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof(mach_msg_base_t) + 12, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_SEND_MSG_TOO_SMALL);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(om_recv(d, &r), MACH_RCV_TIMED_OUT);
    MT_KR(vm_deallocate(TASK, a, vm_page_size), KERN_SUCCESS);
    nu_kill(d);
    nu_kill(rp);
    NU_END();
}

MT_TEST(unmapped_memory_is_invalid_memory_after_the_header_and_earlier_descriptors_are_taken)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), rp = nu_port(), p = nu_port_with_send();
    MT_REQUIRE(d && rp && p);
    vm_size_t pg = vm_page_size;
    vm_address_t a = om_alloc(pg, 7), c = om_alloc(pg, 8);
    MT_REQUIRE(a && c);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    typedef struct {
        mach_msg_header_t h;
        mach_msg_body_t b;
        mach_msg_port_descriptor_t p;
        mach_msg_ool_descriptor_t o[3];
    } mixed_msg;
    mixed_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) |
                    MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_remote_port = d;
    m.h.msgh_local_port = rp;
    m.b.msgh_descriptor_count = 4;
    m.p.name = p;
    m.p.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
    m.p.type = MACH_MSG_PORT_DESCRIPTOR;
    om_set(&m.o[0], a, (mach_msg_size_t)pg, MACH_MSG_VIRTUAL_COPY, 1);
    om_set(&m.o[1], OM_NEVER_MAPPED, 64, MACH_MSG_PHYSICAL_COPY, 0);
    om_set(&m.o[2], c, (mach_msg_size_t)pg, MACH_MSG_VIRTUAL_COPY, 1);
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_SEND_INVALID_MEMORY);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1); /* the moved dest uref is gone */
    om_rbuf r;
    MT_KR(om_recv(rp, &r), MACH_MSG_SUCCESS); /* the made send-once right died unused */
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_DEAD_NAME); /* the moved receive right was destroyed */
    MT_CHECK(om_unmapped(a, pg));                /* the earlier deallocate happened */
    MT_CHECK(om_pattern(c, pg, 8));              /* the later one did not */
    MT_KR(om_recv(d, &r), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, c, pg), KERN_SUCCESS);
    nu_kill(d);
    nu_kill(rp);
    NU_END();
}

MT_TEST(large_virtual_copies_keep_their_offset_in_page_and_small_or_copied_ones_do_not)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    vm_size_t big = 64 * 1024, span = big + 2 * vm_page_size;
    vm_address_t a = om_alloc(span, 11), b = om_alloc(span, 12);
    MT_REQUIRE(a && b);
    om_msg m;
    om_rbuf r;
    om_set(&m.d[0], a + 100, 100, MACH_MSG_VIRTUAL_COPY, 0);                   /* small */
    om_set(&m.d[1], a + 100, (mach_msg_size_t)big, MACH_MSG_VIRTUAL_COPY, 0);  /* large */
    om_set(&m.d[2], a + 100, (mach_msg_size_t)big, MACH_MSG_PHYSICAL_COPY, 0); /* copied */
    om_set(&m.d[3], b + 100, (mach_msg_size_t)big, MACH_MSG_PHYSICAL_COPY, 1); /* moved */
    MT_KR(om_send(&m, 4, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_KR(om_recv(d, &r), MACH_MSG_SUCCESS);
    static const vm_address_t offs[] = {0, 100, 0, 100};
    for (unsigned i = 0; i < 4; i++) {
        vm_address_t got = (vm_address_t)r.m.d[i].address;
        MT_EQ(got & vm_page_mask, offs[i]);
        MT_CHECK(om_pattern(got, r.m.d[i].size, (uint8_t)((i == 3 ? 12 : 11) + 100 * 7)));
        MT_KR(vm_deallocate(TASK, got, r.m.d[i].size), KERN_SUCCESS);
    }
    MT_KR(vm_deallocate(TASK, a, span), KERN_SUCCESS);
    /* b's pages that held the moved range are gone; its last page is still b's */
    vm_address_t tail = b + span - vm_page_size;
    MT_CHECK(om_pattern(tail, vm_page_size, (uint8_t)(12 + (span - vm_page_size) * 7)));
    MT_KR(vm_deallocate(TASK, tail, vm_page_size), KERN_SUCCESS);
    MT_CHECK(om_unmapped(b, span));
    nu_kill(d);
    NU_END();
}

MT_MAIN()
