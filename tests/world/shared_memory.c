/*
 * shared_memory.c — runs inside a world (ctest: umach-run -- world_shared_memory): shared
 * memory between two processes the Darwin way (Chromium's and WebKit's): one task makes a
 * named memory entry (mach_make_memory_entry_64 with MAP_MEM_NAMED_CREATE), maps it, and
 * sends the entry's send right in a message; the other maps it with mach_vm_map and both see
 * each other's writes in one page. A read-only part of the entry sent the same way cannot be
 * mapped writable in the receiver, nor made writable afterwards. The receiver's mapping and
 * its right outlive the sender's task.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <servers/bootstrap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TASK mach_task_self()
#define PG ((mach_vm_size_t)vm_page_size)

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t entry;    /* read-write, the whole entry */
    mach_msg_port_descriptor_t readonly; /* its second page, read-only */
    mach_msg_port_descriptor_t back;     /* a send right to the child's port */
} sm_offer;

typedef union {
    mach_msg_header_t h;
    sm_offer offer;
    uint8_t bytes[512];
} sm_buf;

static mach_msg_return_t sm_receive(mach_port_t port, sm_buf *b)
{
    memset(b, 0, sizeof *b);
    return mach_msg(&b->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *b, port, 10000,
                    MACH_PORT_NULL);
}

static mach_msg_return_t sm_note(mach_port_t dest, mach_msg_id_t id)
{
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, 0, 0, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = dest;
    h.msgh_id = id;
    return mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 10000,
                    MACH_PORT_NULL);
}

/* Wait (bounded: 10 s) until the byte at `p` reads `want`. */
static int sm_wait_byte(volatile uint8_t *p, uint8_t want)
{
    for (int i = 0; i < 10000; i++) {
        if (*p == want)
            return 1;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* The child task: makes the entry, offers it, and checks the parent's writes show. */
static int sm_child(const char *service)
{
    mach_port_t server = MACH_PORT_NULL;
    if (bootstrap_look_up(bootstrap_port, service, &server) != KERN_SUCCESS)
        return 10;
    memory_object_size_t size = 2 * PG;
    mach_port_t entry = MACH_PORT_NULL, ro = MACH_PORT_NULL, mine = MACH_PORT_NULL;
    if (mach_make_memory_entry_64(TASK, &size, 0, MAP_MEM_NAMED_CREATE | VM_PROT_DEFAULT, &entry,
                                  MACH_PORT_NULL) != KERN_SUCCESS ||
        size != 2 * PG)
        return 11;
    memory_object_size_t rsize = PG;
    if (mach_make_memory_entry_64(TASK, &rsize, PG, VM_PROT_READ, &ro, entry) != KERN_SUCCESS)
        return 12;
    mach_vm_address_t a = 0;
    if (mach_vm_map(TASK, &a, 2 * PG, 0, VM_FLAGS_ANYWHERE, entry, 0, FALSE, VM_PROT_DEFAULT,
                    VM_PROT_DEFAULT, VM_INHERIT_DEFAULT) != KERN_SUCCESS)
        return 13;
    volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)a;
    strcpy((char *)(uintptr_t)a, "hello from the child");
    p[PG] = 0x42;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &mine) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, mine, mine, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return 14;
    sm_offer m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, 0, 0, MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = server;
    m.h.msgh_id = 100;
    m.body.msgh_descriptor_count = 3;
    m.entry.name = entry;
    m.entry.disposition = MACH_MSG_TYPE_COPY_SEND;
    m.entry.type = MACH_MSG_PORT_DESCRIPTOR;
    m.readonly.name = ro;
    m.readonly.disposition = MACH_MSG_TYPE_MOVE_SEND;
    m.readonly.type = MACH_MSG_PORT_DESCRIPTOR;
    m.back.name = mine;
    m.back.disposition = MACH_MSG_TYPE_COPY_SEND;
    m.back.type = MACH_MSG_PORT_DESCRIPTOR;
    if (mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 10000,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return 15;
    /* The parent writes into the shared page, then says so. */
    sm_buf b;
    if (sm_receive(mine, &b) != MACH_MSG_SUCCESS || b.h.msgh_id != 200)
        return 16;
    if (strcmp((const char *)(uintptr_t)(a + 100), "hello from the parent") != 0)
        return 17;
    /* A write the parent watches for while this task still runs. */
    p[200] = 0x77;
    if (sm_receive(mine, &b) != MACH_MSG_SUCCESS || b.h.msgh_id != 300)
        return 18;
    return 0;
}

MT_TEST(two_tasks_share_a_page_through_a_memory_entry_sent_in_a_message)
{
    w_service svc;
    pid_t kid = w_service_fork(&svc, "shared_memory", sm_child);
    MT_REQUIRE(kid > 0);

    sm_buf b;
    MT_KR(sm_receive(svc.port, &b), MACH_MSG_SUCCESS);
    MT_EQ(b.h.msgh_id, 100);
    MT_REQUIRE(b.h.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(b.offer.body.msgh_descriptor_count, 3u);
    mach_port_t entry = b.offer.entry.name, ro = b.offer.readonly.name;
    mach_port_t back = b.offer.back.name;
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, entry, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_SEND);

    mach_vm_address_t a = 0;
    MT_KR(mach_vm_map(TASK, &a, 2 * PG, 0, VM_FLAGS_ANYWHERE, entry, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_REQUIRE(a != 0);
    volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)a;
    MT_CHECK(strcmp((const char *)(uintptr_t)a, "hello from the child") == 0);
    MT_EQ(p[PG], 0x42);
    strcpy((char *)(uintptr_t)(a + 100), "hello from the parent");
    MT_KR(sm_note(back, 200), MACH_MSG_SUCCESS);
    MT_CHECK(sm_wait_byte(p + 200, 0x77));

    /* The read-only part: its page, never writable here. */
    mach_vm_address_t r = 0;
    MT_KR(mach_vm_map(TASK, &r, PG, 0, VM_FLAGS_ANYWHERE, ro, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_INVALID_RIGHT);
    MT_KR(mach_vm_map(TASK, &r, PG, 0, VM_FLAGS_ANYWHERE, ro, 0, FALSE, VM_PROT_READ,
                      VM_PROT_READ, VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_REQUIRE(r != 0);
    MT_EQ(((volatile uint8_t *)(uintptr_t)r)[0], 0x42);
    MT_KR(mach_vm_protect(TASK, r, PG, FALSE, VM_PROT_DEFAULT), KERN_PROTECTION_FAILURE);

    MT_KR(sm_note(back, 300), MACH_MSG_SUCCESS);
    MT_EQ(w_wait_status(kid), 0);

    /* The child's task is gone: the entry lives on with the rights this task holds. */
    p[300] = 0x31;
    mach_vm_address_t again = 0;
    MT_KR(mach_vm_map(TASK, &again, PG, 0, VM_FLAGS_ANYWHERE, entry, 0, FALSE, VM_PROT_READ,
                      VM_PROT_READ, VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_EQ(((volatile uint8_t *)(uintptr_t)again)[300], 0x31);
    MT_EQ(((volatile uint8_t *)(uintptr_t)again)[200], 0x77);

    MT_KR(mach_vm_deallocate(TASK, again, PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, r, PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, entry), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, ro), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, back), KERN_SUCCESS); /* a dead name once the world saw
                                                             the child go */
    MT_KR(w_service_close(&svc), KERN_SUCCESS);
}

MT_MAIN()
