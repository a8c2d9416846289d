/* Out-of-line port arrays: dispositions, NULL/DEAD entries, coalescing and failure accounting. */
#include "notify_util.h"

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_ool_ports_descriptor_t d[2];
} op_msg;

typedef union {
    mach_msg_header_t h;
    op_msg m;
    uint8_t bytes[512];
} op_rbuf;

#define OP_UNKNOWN_NAME ((mach_port_name_t)0x12345603)
/* Below Linux's mmap_min_addr and inside macOS's __PAGEZERO: never mapped. */
#define OP_NEVER_MAPPED ((vm_address_t)0x2008)

static void op_set(mach_msg_ool_ports_descriptor_t *d, const void *addr, mach_msg_size_t count,
                   mach_msg_type_name_t disp, int dealloc)
{
    memset(d, 0, sizeof *d);
    d->address = (void *)(uintptr_t)addr;
    d->count = count;
    d->disposition = disp;
    d->deallocate = dealloc;
    d->copy = MACH_MSG_PHYSICAL_COPY;
    d->type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
}

static mach_msg_return_t op_send(op_msg *m, unsigned n, mach_port_name_t dest,
                                 mach_msg_type_name_t ddisp, mach_port_name_t reply)
{
    return nu_send_complex(&m->h, n, 16, dest, ddisp, reply,
                           reply ? MACH_MSG_TYPE_MAKE_SEND_ONCE : 0, 0x4F50);
}

static mach_msg_return_t op_recv(mach_port_name_t port, op_rbuf *r)
{
    return nu_recv_buf(port, r, sizeof *r, 0);
}

/* The received array of descriptor i, with the descriptor's fixed fields checked. */
static const mach_port_name_t *op_got(const op_rbuf *r, unsigned i, mach_msg_size_t count,
                                      mach_msg_type_name_t type)
{
    const mach_msg_ool_ports_descriptor_t *g = &r->m.d[i];
    MT_EQ(g->type, MACH_MSG_OOL_PORTS_DESCRIPTOR);
    MT_EQ(g->count, count);
    MT_EQ(g->disposition, type);
    MT_EQ(g->deallocate, 1);
    MT_EQ(g->copy, MACH_MSG_VIRTUAL_COPY);
    return g->address;
}

static void op_free(const mach_port_name_t *names, mach_msg_size_t count)
{
    MT_KR(vm_deallocate(TASK, (vm_address_t)names, count * sizeof *names), KERN_SUCCESS);
}

MT_TEST(send_arrays_arrive_as_coalesced_names_in_fresh_memory)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = nu_port_with_send();
    MT_REQUIRE(d && p);
    static const mach_msg_type_name_t disps[] = {MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND,
                                                 MACH_MSG_TYPE_MOVE_SEND};
    for (unsigned i = 0; i < 3; i++) {
        mach_port_name_t names[3] = {p, p, MACH_PORT_NULL};
        op_msg m;
        op_rbuf r;
        MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
        op_set(&m.d[0], names, 3, disps[i], 0);
        MT_KR(op_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
        MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), disps[i] == MACH_MSG_TYPE_MOVE_SEND ? 0 : 2);
        MT_EQ(names[0], p); /* the sender's array is not touched */
        MT_KR(op_recv(d, &r), MACH_MSG_SUCCESS);
        MT_EQ(r.h.msgh_size, sizeof(mach_msg_base_t) + 16);
        const mach_port_name_t *got = op_got(&r, 0, 3, MACH_MSG_TYPE_PORT_SEND);
        MT_REQUIRE(got != NULL && got != names);
        MT_EQ(got[0], p);
        MT_EQ(got[1], p);
        MT_EQ(got[2], MACH_PORT_NULL);
        MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 4 - (disps[i] == MACH_MSG_TYPE_MOVE_SEND ? 2 : 0));
        op_free(got, 3);
        MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND,
                                 -(mach_port_delta_t)(nu_refs(p, MACH_PORT_RIGHT_SEND) - 1)),
              KERN_SUCCESS);
    }
    MT_EQ(nu_status(p).mps_mscount, 3); /* 1 at creation + 2 made */
    nu_kill(p);
    nu_kill(d);
    NU_END();
}

MT_TEST(send_once_and_receive_arrays_arrive_under_new_or_coalesced_names)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), p = nu_port_with_send(), q = nu_port();
    MT_REQUIRE(d && p && q);
    op_msg m;
    op_rbuf r;
    mach_port_name_t make[2] = {p, p};
    op_set(&m.d[0], make, 2, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0);
    MT_KR(op_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(p).mps_sorights, 2);
    MT_KR(op_recv(d, &r), MACH_MSG_SUCCESS);
    const mach_port_name_t *got = op_got(&r, 0, 2, MACH_MSG_TYPE_PORT_SEND_ONCE);
    mach_port_name_t so[2] = {got[0], got[1]};
    op_free(got, 2);
    MT_NE(so[0], so[1]);
    MT_EQ(nu_type(so[0]), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_type(so[1]), MACH_PORT_TYPE_SEND_ONCE);
    /* moving the send-once rights back hands out fresh names again */
    op_set(&m.d[0], so, 2, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    MT_KR(op_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_KR(op_recv(d, &r), MACH_MSG_SUCCESS);
    got = op_got(&r, 0, 2, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(nu_type(got[0]), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_type(got[1]), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, got[0]), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, got[1]), KERN_SUCCESS);
    op_free(got, 2);
    MT_EQ(nu_status(p).mps_sorights, 2); /* held by the two queued notifications */
    MT_KR(op_recv(p, &r), MACH_MSG_SUCCESS);
    MT_KR(op_recv(p, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_status(p).mps_sorights, 0);
    /* receive rights: p returns to its send name, q gets a name of its own */
    mach_port_name_t rcv[3] = {p, MACH_PORT_DEAD, q};
    op_set(&m.d[0], rcv, 3, MACH_MSG_TYPE_MOVE_RECEIVE, 0);
    MT_KR(op_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND);
    MT_EQ(nu_type(q), (mach_port_type_t)-1);
    MT_KR(op_recv(d, &r), MACH_MSG_SUCCESS);
    got = op_got(&r, 0, 3, MACH_MSG_TYPE_PORT_RECEIVE);
    MT_EQ(got[0], p);
    MT_EQ(got[1], MACH_PORT_DEAD);
    mach_port_name_t q2 = got[2];
    op_free(got, 3);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_type(q2), MACH_PORT_TYPE_RECEIVE);
    nu_kill(p);
    nu_kill(q2);
    nu_kill(d);
    NU_END();
}

MT_TEST(null_dead_and_dead_name_entries_arrive_as_null_or_dead)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), dead;
    MT_REQUIRE(d);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_DEAD_NAME, 1), KERN_SUCCESS);
    mach_port_name_t names[4] = {MACH_PORT_NULL, MACH_PORT_DEAD, dead, dead};
    op_msg m;
    op_rbuf r;
    op_set(&m.d[0], names, 4, MACH_MSG_TYPE_MOVE_SEND, 0);
    op_set(&m.d[1], names, 2, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0);
    MT_KR(op_send(&m, 2, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(dead), (mach_port_type_t)-1); /* both urefs moved */
    MT_KR(op_recv(d, &r), MACH_MSG_SUCCESS);
    const mach_port_name_t *got = op_got(&r, 0, 4, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(got[0], MACH_PORT_NULL);
    for (unsigned i = 1; i < 4; i++)
        MT_EQ(got[i], MACH_PORT_DEAD);
    op_free(got, 4);
    got = op_got(&r, 1, 2, MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(got[0], MACH_PORT_NULL);
    MT_EQ(got[1], MACH_PORT_DEAD);
    op_free(got, 2);
    nu_kill(d);
    NU_END();
}

MT_TEST(count_zero_arrives_with_a_null_address_and_touches_no_memory)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    mach_port_name_t keep[1] = {d};
    op_msg m;
    op_rbuf r;
    op_set(&m.d[0], keep, 0, MACH_MSG_TYPE_MOVE_SEND, 1);
    op_set(&m.d[1], (const void *)OP_NEVER_MAPPED, 0, MACH_MSG_TYPE_COPY_RECEIVE, 0);
    MT_KR(op_send(&m, 2, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_EQ(keep[0], d); /* still readable: nothing was deallocated */
    MT_KR(op_recv(d, &r), MACH_MSG_SUCCESS);
    MT_EQ(op_got(&r, 0, 0, MACH_MSG_TYPE_PORT_SEND), NULL);
    MT_EQ(op_got(&r, 1, 0, MACH_MSG_TYPE_PORT_NONE), NULL);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    nu_kill(d);
    NU_END();
}

MT_TEST(deallocate_true_unmaps_the_senders_array)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send();
    MT_REQUIRE(d);
    vm_address_t a = 0;
    MT_KR(vm_allocate(TASK, &a, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    mach_port_name_t *names = (mach_port_name_t *)a;
    names[0] = d;
    names[1] = d;
    op_msg m;
    op_rbuf r;
    op_set(&m.d[0], names, 2, MACH_MSG_TYPE_COPY_SEND, 1);
    MT_KR(op_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_MSG_SUCCESS);
    MT_KR(op_recv(d, &r), MACH_MSG_SUCCESS);
    const mach_port_name_t *got = op_got(&r, 0, 2, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(got[0], d);
    MT_EQ(got[1], d);
    op_free(got, 2);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 3);
    /* the sender's page is free again: it can be allocated at the same place */
    vm_address_t at = a;
    MT_KR(vm_allocate(TASK, &at, vm_page_size, VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, at, vm_page_size), KERN_SUCCESS);
    nu_kill(d);
    NU_END();
}

MT_TEST(a_bad_entry_is_invalid_right_and_destroys_the_header_and_entries_before_it)
{
    NU_BEGIN();
    mach_port_name_t d = nu_port_with_send(), rp = nu_port(), a = nu_port_with_send(),
                     b = nu_port_with_send(), c = nu_port_with_send();
    MT_REQUIRE(d && rp && a && b && c);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, c, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    vm_address_t arr = 0;
    MT_KR(vm_allocate(TASK, &arr, vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    mach_port_name_t *names = (mach_port_name_t *)arr;
    names[0] = a;
    names[1] = OP_UNKNOWN_NAME;
    names[2] = c;
    mach_port_name_t later[1] = {c};
    op_msg m;
    op_rbuf r;
    op_set(&m.d[0], names, 3, MACH_MSG_TYPE_MOVE_SEND, 1);
    op_set(&m.d[1], later, 1, MACH_MSG_TYPE_MOVE_SEND, 0);
    MT_KR(op_send(&m, 2, d, MACH_MSG_TYPE_MOVE_SEND, rp), MACH_SEND_INVALID_RIGHT);
    MT_EQ(nu_refs(d, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(op_recv(rp, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND), 1); /* copied in, then destroyed */
    MT_EQ(nu_refs(c, MACH_PORT_RIGHT_SEND), 2); /* after the bad entry: untouched */
    vm_address_t at = arr; /* the array was deallocated even though the copyin failed */
    MT_KR(vm_allocate(TASK, &at, vm_page_size, VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, at, vm_page_size), KERN_SUCCESS);
    /* receive rights before a bad entry die with the failed send */
    mach_port_name_t rcv[2] = {b, OP_UNKNOWN_NAME};
    op_set(&m.d[0], rcv, 2, MACH_MSG_TYPE_MOVE_RECEIVE, 0);
    MT_KR(op_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_SEND_INVALID_RIGHT);
    MT_EQ(nu_type(b), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, b), KERN_SUCCESS);
    /* a disposition that is not a right, on a real name */
    mach_port_name_t one[1] = {c};
    op_set(&m.d[0], one, 1, MACH_MSG_TYPE_COPY_RECEIVE, 0);
    MT_KR(op_send(&m, 1, d, MACH_MSG_TYPE_COPY_SEND, 0), MACH_SEND_INVALID_RIGHT);
    MT_EQ(nu_refs(c, MACH_PORT_RIGHT_SEND), 2);
    /* an unreadable array */
    op_set(&m.d[0], (const void *)OP_NEVER_MAPPED, 2, MACH_MSG_TYPE_COPY_SEND, 0);
    MT_KR(op_send(&m, 1, d, MACH_MSG_TYPE_MOVE_SEND, rp), MACH_SEND_INVALID_MEMORY);
    MT_EQ(nu_type(d), MACH_PORT_TYPE_RECEIVE);
    MT_KR(op_recv(rp, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(op_recv(d, &r), MACH_RCV_TIMED_OUT);
    nu_kill(d);
    nu_kill(rp);
    nu_kill(a);
    nu_kill(c);
    NU_END();
}

MT_MAIN()
