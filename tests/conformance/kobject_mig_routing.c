/*
 * kobject_mig_routing.c — a MIG request sent by hand to a kernel port finds its routine by
 * its id whatever the port, as XNU's ipc_kobject_server finds it in every kernel subsystem;
 * the routine's conversion of a port of another kind gives a null object, which it answers
 * (after MIG's checks of the request): KERN_INVALID_TASK from the mach_port routines,
 * KERN_INVALID_ARGUMENT from task_info, the vm, host and thread routines. A semaphore port
 * answers so too (it was MACH_SEND_INVALID_DEST); an id no subsystem has is MIG_BAD_ID. The
 * rights a refused request carried are released.
 */
#include "mig_rpc_util.h"

#include <mach/mig_errors.h>
#include <mach/semaphore.h>
#include <mach/sync_policy.h>
#include <mach/task_info.h>
#include <mach/thread_special_ports.h>

#include <stddef.h>

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
    NDR_record_t ndr;
    uint32_t which;
} kr_port_req;
typedef union {
    mach_msg_header_t head;
    mig_reply_error_t error;
    uint8_t bytes[1024];
} kr_reply;
#pragma pack(pop)

static mach_msg_return_t kr_receive(mach_port_t reply, kr_reply *r)
{
    memset(r, 0xA5, sizeof *r);
    return mach_msg(&r->head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r, reply, 10000,
                    MACH_PORT_NULL);
}

/* Send `to` the simple request `id` with `n` 32-bit arguments (all zero but `a0`) and
 * receive the answer on `reply`: its RetCode (or a send's error as a negative). */
static kern_return_t kr_rpc(mach_port_t to, mach_port_t reply, mach_msg_id_t id, unsigned n,
                            uint32_t a0)
{
    mru_reply r;
    mach_msg_return_t mr = mru_rpc(to, reply, id, n, a0, 0, &r);
    if (mr != MACH_MSG_SUCCESS)
        return -(kern_return_t)mr;
    if (r.head.msgh_id != id + 100 || r.head.msgh_size != sizeof(mig_reply_error_t))
        return -1;
    return r.error.RetCode;
}

MT_TEST(a_semaphore_port_answers_each_routine_as_xnus_null_object_and_unknown_ids_mig_bad_id)
{
    NU_BEGIN();
    semaphore_t sem = MACH_PORT_NULL;
    MT_KR(semaphore_create(TASK, &sem, SYNC_POLICY_FIFO, 0), KERN_SUCCESS);
    mach_port_t reply = nu_port();
    MT_KR(kr_rpc(sem, reply, 3201, 1, 0x103), KERN_INVALID_TASK); /* mach_port_type */
    MT_KR(kr_rpc(sem, reply, 3201, 0, 0), MIG_BAD_ARGUMENTS);     /* its argument missing */
    MT_KR(kr_rpc(sem, reply, 3405, 2, TASK_BASIC_INFO), KERN_INVALID_ARGUMENT); /* task_info */
    MT_KR(kr_rpc(sem, reply, 4801, 4, 0), KERN_INVALID_ARGUMENT); /* mach_vm_deallocate */
    MT_KR(kr_rpc(sem, reply, 202, 0, 0), KERN_INVALID_ARGUMENT);  /* host_page_size */
    MT_KR(kr_rpc(sem, reply, 3610, 1, THREAD_KERNEL_PORT),
          KERN_INVALID_ARGUMENT); /* thread_get_special_port */
    MT_KR(kr_rpc(sem, reply, 1234567, 0, 0), MIG_BAD_ID);
    /* A right the refused request carried (task_set_special_port's) is released. */
    mach_port_t port = nu_port_with_send();
    mach_port_urefs_t refs = nu_refs(port, MACH_PORT_RIGHT_SEND);
    kr_port_req req;
    memset(&req, 0, sizeof req);
    req.head.msgh_bits =
        MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0) |
        MACH_MSGH_BITS_COMPLEX;
    req.head.msgh_remote_port = sem;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = 3410;
    req.body.msgh_descriptor_count = 1;
    req.port.name = port;
    req.port.disposition = MACH_MSG_TYPE_COPY_SEND;
    req.port.type = MACH_MSG_PORT_DESCRIPTOR;
    req.ndr = NDR_record;
    req.which = TASK_BOOTSTRAP_PORT;
    MT_KR(mach_msg(&req.head, MACH_SEND_MSG, sizeof req, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    kr_reply r;
    MT_KR(kr_receive(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 3510);
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), refs);
    /* The semaphore still works. */
    MT_KR(semaphore_signal(sem), KERN_SUCCESS);
    MT_KR(semaphore_wait(sem), KERN_SUCCESS);
    nu_kill(port);
    nu_kill(reply);
    MT_KR(semaphore_destroy(TASK, sem), KERN_SUCCESS);
    NU_END();
}

MT_TEST(the_host_thread_and_task_ports_answer_the_other_kinds_routines_as_null_objects)
{
    mach_port_t host = mach_host_self();
    mach_port_t thread = mach_thread_self();
    NU_BEGIN();
    mach_port_t reply = nu_port();
    MT_KR(kr_rpc(host, reply, 3201, 1, 0x103), KERN_INVALID_TASK);
    MT_KR(kr_rpc(host, reply, 3452, 0, 0), KERN_INVALID_TASK); /* get_exc_guard_behavior */
    MT_KR(kr_rpc(host, reply, 3610, 1, THREAD_KERNEL_PORT), KERN_INVALID_ARGUMENT);
    MT_KR(kr_rpc(thread, reply, 202, 0, 0), KERN_INVALID_ARGUMENT);
    MT_KR(kr_rpc(thread, reply, 3405, 2, TASK_BASIC_INFO), KERN_INVALID_ARGUMENT);
    MT_KR(kr_rpc(TASK, reply, 202, 0, 0), KERN_INVALID_ARGUMENT);
    MT_KR(kr_rpc(TASK, reply, 3610, 1, THREAD_KERNEL_PORT), KERN_INVALID_ARGUMENT);
    MT_KR(kr_rpc(TASK, reply, 3610, 0, 0), MIG_BAD_ARGUMENTS);
    nu_kill(reply);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

/* Send `to` a request of `id` whose one out-of-line descriptor has `size` bytes of `data`,
 * followed by the NDR record and `n` 32-bit arguments `args`; its RetCode (as kr_rpc). */
static kern_return_t kr_ool_rpc(mach_port_t to, mach_port_t reply, mach_msg_id_t id,
                                const void *data, mach_msg_size_t size, unsigned n,
                                const uint32_t *args)
{
#pragma pack(push, 4)
    struct {
        mach_msg_header_t head;
        mach_msg_body_t body;
        mach_msg_ool_descriptor_t data;
        NDR_record_t ndr;
        uint32_t args[4];
    } req;
#pragma pack(pop)
    memset(&req, 0, sizeof req);
    mach_msg_size_t msize = (mach_msg_size_t)(offsetof(__typeof__(req), args) + 4 * n);
    req.head.msgh_bits =
        MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0) |
        MACH_MSGH_BITS_COMPLEX;
    req.head.msgh_size = msize;
    req.head.msgh_remote_port = to;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = id;
    req.body.msgh_descriptor_count = 1;
    req.data.address = (void *)(uintptr_t)data;
    req.data.size = size;
    req.data.copy = MACH_MSG_VIRTUAL_COPY;
    req.data.type = MACH_MSG_OOL_DESCRIPTOR;
    req.ndr = NDR_record;
    memcpy(req.args, args, 4 * n);
    mach_msg_return_t mr = mach_msg(&req.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, msize, 0,
                                    MACH_PORT_NULL, 10000, MACH_PORT_NULL);
    kr_reply r;
    if (mr == MACH_MSG_SUCCESS)
        mr = kr_receive(reply, &r);
    if (mr != MACH_MSG_SUCCESS)
        return -(kern_return_t)mr;
    if (r.head.msgh_id != id + 100 || r.head.msgh_size != sizeof(mig_reply_error_t))
        return -1;
    return r.error.RetCode;
}

/*
 * MIG's checks of the request, the out-of-line size among them, come before the routine
 * converts its port: an out-of-line size that is not the routine's is MIG_TYPE_ERROR on a
 * port of another kind too (mach_vm_write's count, mach_port_construct's options).
 */
MT_TEST(an_out_of_line_size_mig_refuses_is_mig_type_error_on_a_port_of_another_kind_too)
{
    semaphore_t sem = MACH_PORT_NULL;
    MT_KR(semaphore_create(TASK, &sem, SYNC_POLICY_FIFO, 0), KERN_SUCCESS);
    mach_port_t thread = mach_thread_self();
    NU_BEGIN();
    mach_port_t reply = nu_port();
    static const uint8_t data[64];
    /* mach_vm_write (address, count): a count other than the data's size. */
    const uint32_t write_args[3] = {0x1000, 0, 8};
    MT_KR(kr_ool_rpc(sem, reply, 4806, data, 16, 3, write_args), MIG_TYPE_ERROR);
    MT_KR(kr_ool_rpc(thread, reply, 4806, data, 16, 3, write_args), MIG_TYPE_ERROR);
    /* Its count right: the null map's answer. */
    const uint32_t write_ok[3] = {0x1000, 0, 16};
    MT_KR(kr_ool_rpc(sem, reply, 4806, data, 16, 3, write_ok), KERN_INVALID_ARGUMENT);
    /* mach_port_construct (context): options that are not a mach_port_options_t. */
    const uint32_t context[2] = {0, 0};
    MT_KR(kr_ool_rpc(sem, reply, 3231, data, 8, 2, context), MIG_TYPE_ERROR);
    MT_KR(kr_ool_rpc(thread, reply, 3231, data, 8, 2, context), MIG_TYPE_ERROR);
    MT_KR(kr_ool_rpc(sem, reply, 3231, data, sizeof(mach_port_options_t), 2, context),
          KERN_INVALID_TASK);
    nu_kill(reply);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    MT_KR(semaphore_destroy(TASK, sem), KERN_SUCCESS);
}

MT_MAIN()
