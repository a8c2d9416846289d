/*
 * Out-of-line memory is a snapshot both ways: what a receiver gets never changes when the
 * sender writes afterwards, the receiver's writes never show to the sender or in another copy,
 * each send takes its own snapshot, and a received region sent on is a snapshot too. Checked
 * for regions from vm_allocate (which XNU shares copy-on-write) of several sizes, sent whole
 * and in part, and for memory not from vm_allocate.
 */
#include "notify_util.h"

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_ool_descriptor_t d;
} sn_msg;

typedef union {
    mach_msg_header_t h;
    sn_msg m;
    uint8_t bytes[256];
} sn_rbuf;

/* Send `size` bytes at `addr` as one OOL descriptor to `port` (a send right under its name). */
static mach_msg_return_t sn_send(mach_port_name_t port, vm_address_t addr, vm_size_t size,
                                 mach_msg_copy_options_t copy, int dealloc)
{
    sn_msg m;
    memset(&m, 0, sizeof m);
    m.d.address = (void *)addr;
    m.d.size = (mach_msg_size_t)size;
    m.d.copy = copy;
    m.d.deallocate = dealloc;
    m.d.type = MACH_MSG_OOL_DESCRIPTOR;
    return nu_send_complex(&m.h, 1, sizeof m.d, port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL,
                           0, 0x534E);
}

/* Receive one such message; returns the region (0 on failure) and its size. */
static vm_address_t sn_recv(mach_port_name_t port, vm_size_t *sizep)
{
    sn_rbuf r;
    if (nu_recv_buf(port, &r, sizeof r, 0) != MACH_MSG_SUCCESS ||
        r.m.b.msgh_descriptor_count != 1 || r.m.d.type != MACH_MSG_OOL_DESCRIPTOR)
        return 0;
    *sizep = r.m.d.size;
    return (vm_address_t)r.m.d.address;
}

static void sn_fill(vm_address_t a, vm_size_t size, uint8_t seed)
{
    for (vm_size_t i = 0; i < size; i += 97)
        ((uint8_t *)a)[i] = (uint8_t)(seed + i / 97);
    ((uint8_t *)a)[size - 1] = seed;
}

static int sn_filled(vm_address_t a, vm_size_t size, uint8_t seed)
{
    for (vm_size_t i = 0; i < size - 1; i += 97)
        if (((const uint8_t *)a)[i] != (uint8_t)(seed + i / 97))
            return 0;
    return ((const uint8_t *)a)[size - 1] == seed;
}

static const vm_size_t sn_pages[] = {1, 16, 300};

MT_TEST(the_receivers_writes_never_show_to_the_sender_or_in_another_copy)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    for (unsigned s = 0; s < sizeof sn_pages / sizeof sn_pages[0]; s++) {
        vm_size_t size = sn_pages[s] * vm_page_size;
        vm_address_t a = 0;
        MT_KR(vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        sn_fill(a, size, (uint8_t)(s + 1));
        MT_KR(sn_send(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
        MT_KR(sn_send(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
        vm_size_t s1 = 0, s2 = 0;
        vm_address_t g1 = sn_recv(p, &s1), g2 = sn_recv(p, &s2);
        MT_REQUIRE(g1 && g2);
        MT_EQ(s1, size);
        sn_fill(g1, size, 0xE0);
        MT_CHECK(sn_filled(a, size, (uint8_t)(s + 1)));
        MT_CHECK(sn_filled(g2, size, (uint8_t)(s + 1)));
        MT_CHECK(sn_filled(g1, size, 0xE0));
        MT_KR(vm_deallocate(TASK, g1, s1), KERN_SUCCESS);
        MT_KR(vm_deallocate(TASK, g2, s2), KERN_SUCCESS);
        MT_KR(vm_deallocate(TASK, a, size), KERN_SUCCESS);
    }
    nu_kill(p);
    NU_END();
}

MT_TEST(each_send_takes_its_own_snapshot_and_later_writes_show_only_in_later_ones)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    for (unsigned s = 0; s < sizeof sn_pages / sizeof sn_pages[0]; s++) {
        vm_size_t size = sn_pages[s] * vm_page_size;
        vm_address_t a = 0;
        MT_KR(vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        sn_fill(a, size, 10);
        MT_KR(sn_send(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
        sn_fill(a, size, 20); /* after the first send, before the second */
        MT_KR(sn_send(p, a, size, MACH_MSG_PHYSICAL_COPY, 0), MACH_MSG_SUCCESS);
        ((uint8_t *)a)[size / 2] ^= 0xFF; /* one byte, after the second */
        MT_KR(sn_send(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
        sn_fill(a, size, 30);
        vm_size_t s1 = 0, s2 = 0, s3 = 0;
        vm_address_t g1 = sn_recv(p, &s1), g2 = sn_recv(p, &s2), g3 = sn_recv(p, &s3);
        MT_REQUIRE(g1 && g2 && g3);
        MT_CHECK(sn_filled(g1, size, 10));
        MT_CHECK(sn_filled(g2, size, 20));
        ((uint8_t *)g3)[size / 2] ^= 0xFF;
        MT_CHECK(sn_filled(g3, size, 20));
        MT_CHECK(sn_filled(a, size, 30));
        MT_KR(vm_deallocate(TASK, g1, s1), KERN_SUCCESS);
        MT_KR(vm_deallocate(TASK, g2, s2), KERN_SUCCESS);
        MT_KR(vm_deallocate(TASK, g3, s3), KERN_SUCCESS);
        MT_KR(vm_deallocate(TASK, a, size), KERN_SUCCESS);
    }
    nu_kill(p);
    NU_END();
}

MT_TEST(a_received_region_sent_on_is_a_snapshot_of_what_the_receiver_held)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    vm_size_t size = 64 * vm_page_size;
    vm_address_t a = 0;
    MT_KR(vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    sn_fill(a, size, 40);
    MT_KR(sn_send(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    vm_size_t s1 = 0, s2 = 0, s3 = 0;
    vm_address_t g1 = sn_recv(p, &s1);
    MT_REQUIRE(g1);
    MT_KR(sn_send(p, g1, s1, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS); /* unchanged */
    ((uint8_t *)g1)[vm_page_size] = 0x11;
    MT_KR(sn_send(p, g1, s1, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS); /* one page new */
    ((uint8_t *)g1)[vm_page_size] = 0x22;
    sn_fill(a, size, 50);
    vm_address_t g2 = sn_recv(p, &s2), g3 = sn_recv(p, &s3);
    MT_REQUIRE(g2 && g3);
    MT_CHECK(sn_filled(g2, size, 40));
    MT_EQ(((uint8_t *)g3)[vm_page_size], 0x11);
    ((uint8_t *)g3)[vm_page_size] = ((uint8_t *)g2)[vm_page_size];
    MT_CHECK(sn_filled(g3, size, 40));
    MT_EQ(((uint8_t *)g1)[vm_page_size], 0x22);
    MT_CHECK(sn_filled(a, size, 50));
    MT_KR(vm_deallocate(TASK, g1, s1), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, g2, s2), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, g3, s3), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, size), KERN_SUCCESS);
    nu_kill(p);
    NU_END();
}

MT_TEST(a_part_of_a_region_is_a_snapshot_of_that_part_with_its_offset_in_the_page)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    vm_size_t size = 64 * vm_page_size;
    vm_address_t a = 0;
    MT_KR(vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    sn_fill(a, size, 60);
    vm_address_t part = a + 5 * vm_page_size + 123;
    vm_size_t plen = 40 * vm_page_size;
    MT_KR(sn_send(p, part, plen, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    memset((void *)a, 0, size);
    vm_size_t s1 = 0;
    vm_address_t g = sn_recv(p, &s1);
    MT_REQUIRE(g);
    MT_EQ(s1, plen);
    MT_EQ(g & vm_page_mask, part & vm_page_mask);
    for (vm_size_t i = 0; i < plen; i += 61) {
        vm_size_t at = (part - a) + i;
        uint8_t want = at % 97 == 0 ? (uint8_t)(60 + at / 97) : 0;
        if (at == size - 1)
            want = 60;
        if (((uint8_t *)g)[i] != want) {
            MT_EQ(((uint8_t *)g)[i], want);
            break;
        }
    }
    MT_KR(vm_deallocate(TASK, g, s1), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, size), KERN_SUCCESS);
    nu_kill(p);
    NU_END();
}

MT_TEST(memory_not_from_vm_allocate_is_a_snapshot_too)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    vm_size_t size = 100 * vm_page_size + 17;
    uint8_t *heap = malloc(size);
    MT_REQUIRE(heap);
    sn_fill((vm_address_t)heap, size, 70);
    MT_KR(sn_send(p, (vm_address_t)heap, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    sn_fill((vm_address_t)heap, size, 80);
    vm_size_t s1 = 0;
    vm_address_t g = sn_recv(p, &s1);
    MT_REQUIRE(g);
    MT_CHECK(sn_filled(g, size, 70));
    sn_fill(g, size, 90);
    MT_CHECK(sn_filled((vm_address_t)heap, size, 80));
    free(heap);
    MT_KR(vm_deallocate(TASK, g, s1), KERN_SUCCESS);
    nu_kill(p);
    NU_END();
}

MT_MAIN()
