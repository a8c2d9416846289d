/*
 * ool_ports_no_memory.c — a receiver with no room for an out-of-line ports array (Linux only:
 * the address space is capped with RLIMIT_AS for the one receive, so mapping the array fails).
 *
 * XNU's ipc_kmsg_copyout_ool_ports_descriptor destroys the rights when it cannot allocate the
 * array, reports MACH_MSG_VM_SPACE, and gives the descriptor address 0 with its count: no name
 * is created for a right nobody can find.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "umach_test.h"

#include <mach/mach.h>
#include <mach/notify.h>

#define TASK mach_task_self()

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_ool_ports_descriptor_t d[2];
} op_msg;

typedef union {
    op_msg m;
    uint8_t bytes[512];
} op_rbuf;

static mach_port_name_t port_with_send(void)
{
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    if (mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static mach_port_type_t type_of(mach_port_name_t name)
{
    mach_port_type_t t = 0;
    if (mach_port_type(TASK, name, &t) != KERN_SUCCESS)
        return (mach_port_type_t)-1;
    return t;
}

/*
 * Receive from `port` into `r` while no new mapping can be made. Returns the receive's result,
 * or MACH_MSG_SUCCESS - 1 when the cap could not be set.
 */
static mach_msg_return_t receive_with_no_new_mappings(mach_port_name_t port, op_rbuf *r)
{
    struct rlimit old;
    memset(r, 0xA5, sizeof *r);
    if (ut_cap_address_space(&old) != 0)
        return (mach_msg_return_t)-1;
    mach_msg_return_t mr = mach_msg(&r->m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r,
                                    port, 1000, MACH_PORT_NULL);
    if (setrlimit(RLIMIT_AS, &old) != 0)
        return (mach_msg_return_t)-1;
    return mr;
}

MT_TEST(an_ool_ports_array_that_cannot_be_mapped_destroys_its_rights_and_reports_vm_space)
{
    /* valgrind manages the address space itself: the cap would starve it, not the receiver. */
    if (ut_under_valgrind()) {
        /* Still check the ordinary receive, which the capped run below replaces. */
        fprintf(stderr, "  (valgrind: the address-space cap is not applied)\n");
    }
    mach_msg_type_number_t names_before = tc_name_count();
    mach_port_name_t q = port_with_send(), r = port_with_send(), notify = MACH_PORT_NULL;
    mach_port_name_t x = port_with_send(), y = port_with_send(), prev = 1;
    MT_REQUIRE(q && r && x && y);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &notify), KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, r, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);

    /* Two send rights to r, and the receive rights of x and y (their names keep a send right). */
    mach_port_name_t sends[2] = {r, r}, receives[2] = {x, y};
    op_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = q;
    m.b.msgh_descriptor_count = 2;
    m.d[0].address = sends;
    m.d[0].count = 2;
    m.d[0].copy = MACH_MSG_PHYSICAL_COPY;
    m.d[0].disposition = MACH_MSG_TYPE_COPY_SEND;
    m.d[0].type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    m.d[1] = m.d[0];
    m.d[1].address = receives;
    m.d[1].disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    /* Only the message holds send rights to r now. */
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    MT_EQ(type_of(x), MACH_PORT_TYPE_SEND);

    op_rbuf got;
    if (ut_under_valgrind()) {
        memset(&got, 0, sizeof got);
        MT_KR(mach_msg(&got.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof got, q, 1000,
                       MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
        MT_EQ(got.m.d[0].count, 2);
        MT_KR(vm_deallocate(TASK, (vm_address_t)got.m.d[0].address, 2 * sizeof(mach_port_t)),
              KERN_SUCCESS);
        MT_KR(vm_deallocate(TASK, (vm_address_t)got.m.d[1].address, 2 * sizeof(mach_port_t)),
              KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_SEND, -2), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, x, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, y, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    } else {
        mach_msg_return_t mr = receive_with_no_new_mappings(q, &got);
        MT_REQUIRE(mr != (mach_msg_return_t)-1);
        MT_EQ(mr, MACH_RCV_BODY_ERROR | MACH_MSG_VM_SPACE);
        MT_EQ(got.m.h.msgh_local_port, q);
        MT_EQ(got.m.b.msgh_descriptor_count, 2);
        for (int i = 0; i < 2; i++) {
            MT_EQ(got.m.d[i].type, MACH_MSG_OOL_PORTS_DESCRIPTOR);
            MT_CHECK(got.m.d[i].address == NULL);
            MT_EQ(got.m.d[i].count, 2);
        }
        /* The rights were destroyed, not named: r has no senders left, x and y died. */
        MT_EQ(type_of(r), MACH_PORT_TYPE_RECEIVE);
        MT_EQ(type_of(x), MACH_PORT_TYPE_DEAD_NAME);
        MT_EQ(type_of(y), MACH_PORT_TYPE_DEAD_NAME);
    }
    union {
        mach_no_senders_notification_t n;
        uint8_t bytes[256];
    } ns;
    memset(&ns, 0, sizeof ns);
    MT_KR(mach_msg(&ns.n.not_header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof ns, notify, 1000,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(ns.n.not_header.msgh_id, MACH_NOTIFY_NO_SENDERS);

    (void)mach_port_deallocate(TASK, x);
    (void)mach_port_deallocate(TASK, y);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, q, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(tc_name_count(), names_before); /* the space is back to its first state */
}

MT_MAIN()
