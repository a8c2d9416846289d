/*
 * Message size limits (XNU osfmk/ipc/ipc_policy.h): at most IPC_KMSG_MAX_OOL_PORT_COUNT = 16383
 * port rights in all descriptors together (ipc_validate_kmsg_schema_from_user ->
 * MACH_SEND_TOO_LARGE), and at most IPC_KMSG_MAX_BODY_SPACE = 48 MiB - MAX_TRAILER_SIZE bytes of
 * send_size (mach_msg_trap_send -> MACH_SEND_TOO_LARGE). Both are checked before any right is
 * copied in, so nothing is consumed.
 */
#include "notify_util.h"

#define LIM_MAX_RIGHTS 16383u
#define LIM_MAX_SEND ((64u * 1024 * 1024 * 3) / 4 - (mach_msg_size_t)MAX_TRAILER_SIZE)

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
    mach_msg_ool_ports_descriptor_t arr[2];
} lim_msg;

static vm_address_t lim_names(mach_port_name_t name, mach_msg_size_t count)
{
    vm_address_t a = 0;
    if (vm_allocate(TASK, &a, count * sizeof(mach_port_name_t), VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
        return 0;
    for (mach_msg_size_t i = 0; i < count; i++)
        ((mach_port_name_t *)a)[i] = name;
    return a;
}

static void lim_arr(mach_msg_ool_ports_descriptor_t *d, vm_address_t names, mach_msg_size_t count,
                    int dealloc)
{
    memset(d, 0, sizeof *d);
    d->address = (void *)names;
    d->count = count;
    d->deallocate = dealloc;
    d->copy = MACH_MSG_PHYSICAL_COPY;
    d->disposition = MACH_MSG_TYPE_COPY_SEND;
    d->type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
}

/* dest MOVE_SEND; [port MOVE_SEND of `moved`]; then `narr` arrays */
static mach_msg_return_t lim_send(lim_msg *m, mach_port_name_t dest, mach_port_name_t moved,
                                  int narr)
{
    m->h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_MOVE_SEND, 0, 0, MACH_MSGH_BITS_COMPLEX);
    m->h.msgh_remote_port = dest;
    m->h.msgh_id = 16383;
    m->body.msgh_descriptor_count = (mach_msg_size_t)narr + 1;
    memset(&m->port, 0, sizeof m->port);
    m->port.name = moved;
    m->port.disposition = MACH_MSG_TYPE_MOVE_SEND;
    m->port.type = MACH_MSG_PORT_DESCRIPTOR;
    mach_msg_size_t size = (mach_msg_size_t)(sizeof(mach_msg_base_t) + 12 + 16 * (unsigned)narr);
    return mach_msg(&m->h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

MT_TEST(a_message_carrying_16383_port_rights_is_accepted)
{
    NU_BEGIN();
    mach_port_name_t dest = nu_port_with_send(), a = nu_port_with_send(), b = nu_port_with_send();
    MT_REQUIRE(dest && a && b);
    vm_address_t names = lim_names(a, LIM_MAX_RIGHTS - 1);
    MT_REQUIRE(names);
    lim_msg m;
    memset(&m, 0, sizeof m);
    lim_arr(&m.arr[0], names, LIM_MAX_RIGHTS - 1, 1);
    MT_KR(lim_send(&m, dest, b, 1), MACH_MSG_SUCCESS);
    MT_EQ(nu_type(b), MACH_PORT_TYPE_RECEIVE);
    union {
        lim_msg m;
        uint8_t bytes[sizeof(lim_msg) + MAX_TRAILER_SIZE];
    } r;
    MT_KR(mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, dest, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(r.m.body.msgh_descriptor_count, 2);
    MT_EQ(r.m.port.name, b);
    MT_EQ(r.m.arr[0].count, LIM_MAX_RIGHTS - 1);
    const mach_port_name_t *got = r.m.arr[0].address;
    MT_REQUIRE(got != NULL);
    int same = 0;
    for (mach_msg_size_t i = 0; i < LIM_MAX_RIGHTS - 1; i++)
        same += got[i] == a;
    MT_EQ(same, LIM_MAX_RIGHTS - 1);
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND), LIM_MAX_RIGHTS);
    mach_msg_destroy(&r.m.h);
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_type(b), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, dest, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, a), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, a, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, b, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    /* dest's send right died with the message it was moved into; the name went with it */
    NU_END();
}

MT_TEST(one_right_more_than_16383_is_too_large_and_consumes_nothing)
{
    NU_BEGIN();
    mach_port_name_t dest = nu_port_with_send(), a = nu_port_with_send(), b = nu_port_with_send();
    MT_REQUIRE(dest && a && b);
    vm_address_t n1 = lim_names(a, LIM_MAX_RIGHTS), n2 = lim_names(a, 8192);
    MT_REQUIRE(n1 && n2);
    lim_msg m;
    memset(&m, 0, sizeof m);
    /* one port descriptor + 16383 in an array */
    lim_arr(&m.arr[0], n1, LIM_MAX_RIGHTS, 1);
    MT_KR(lim_send(&m, dest, b, 1), MACH_SEND_TOO_LARGE);
    /* one port descriptor + 8191 + 8192 in two arrays */
    lim_arr(&m.arr[0], n1, 8191, 1);
    lim_arr(&m.arr[1], n2, 8192, 1);
    MT_KR(lim_send(&m, dest, b, 2), MACH_SEND_TOO_LARGE);
    /* nothing was consumed: header and body send rights, and the arrays are still mapped */
    MT_EQ(nu_refs(dest, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_refs(b, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(((mach_port_name_t *)n1)[LIM_MAX_RIGHTS - 1], a);
    MT_EQ(((mach_port_name_t *)n2)[8191], a);
    MT_EQ(nu_status(dest).mps_msgcount, 0);
    /* NULL entries count too */
    memset((void *)n1, 0, LIM_MAX_RIGHTS * sizeof(mach_port_name_t));
    lim_arr(&m.arr[0], n1, LIM_MAX_RIGHTS, 0);
    MT_KR(lim_send(&m, dest, b, 1), MACH_SEND_TOO_LARGE);
    MT_EQ(nu_refs(b, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(vm_deallocate(TASK, n1, LIM_MAX_RIGHTS * sizeof(mach_port_name_t)), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, n2, 8192 * sizeof(mach_port_name_t)), KERN_SUCCESS);
    mach_port_name_t ports[] = {dest, a, b};
    for (int i = 0; i < 3; i++) {
        MT_KR(mach_port_deallocate(TASK, ports[i]), KERN_SUCCESS);
        MT_KR(mach_port_mod_refs(TASK, ports[i], MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    }
    NU_END();
}

MT_TEST(inline_send_size_above_48_mib_minus_max_trailer_is_too_large)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p);
    vm_size_t bufsize = LIM_MAX_SEND + vm_page_size;
    vm_address_t buf = 0;
    MT_KR(vm_allocate(TASK, &buf, bufsize, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    mach_msg_header_t *h = (mach_msg_header_t *)buf;
    h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0);
    h->msgh_remote_port = p;
    h->msgh_id = 48;
    MT_EQ(LIM_MAX_SEND, 50331580u);
    MT_KR(mach_msg(h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, LIM_MAX_SEND + 4, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_SEND_TOO_LARGE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_EQ(nu_status(p).mps_msgcount, 0);
    /* the size is checked before anything is read: the largest size is refused as well */
    MT_KR(mach_msg(h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, 0xFFFFFFFCu, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_SEND_TOO_LARGE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    /* exactly the limit is accepted and received whole */
    ((uint8_t *)buf)[LIM_MAX_SEND - 1] = 0x77;
    MT_KR(mach_msg(h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, LIM_MAX_SEND, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_RECEIVE);
    memset((void *)buf, 0, 64);
    ((uint8_t *)buf)[LIM_MAX_SEND - 1] = 0;
    MT_KR(mach_msg(h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, (mach_msg_size_t)bufsize, p, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(h->msgh_size, LIM_MAX_SEND);
    MT_EQ(h->msgh_id, 48);
    MT_EQ(((uint8_t *)buf)[LIM_MAX_SEND - 1], 0x77);
    MT_KR(vm_deallocate(TASK, buf, bufsize), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
