/*
 * kobject_reply_no_memory.c — a kernel object's routine that ran answers even when its reply
 * cannot be allocated. XNU allocates the reply before the routine and cannot fail there
 * (ipc_kobject_server_internal); umach's routines make their replies after they ran, so the
 * server holds a reserved mig_reply_error_t (um_kernel.reply_reserve) that answers, with the
 * routine's error or KERN_RESOURCE_SHORTAGE, when the reply and the error reply cannot be
 * allocated. The allocations fail through um_kernel.test_reply_alloc_failures.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "api/um_api.h"
#include "embedded/um_embedded.h"
#include "kern/um_kobject.h"
#include "kern_msg.h"

#include <mach/mach.h>
#include <mach/mig_errors.h>

#include <string.h>

#define TASK mach_task_self()

typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    uint32_t arg;
} nm_request;

typedef union {
    mach_msg_header_t head;
    mig_reply_error_t error;
    uint8_t bytes[256];
} nm_reply;

/*
 * Send our task port the request `id` with its one argument `arg` and a send-once right to
 * `reply`, while the next `failures` reply allocations fail. The kernel's reserve afterwards
 * goes to *reserved.
 */
static mach_msg_return_t nm_send(mach_msg_id_t id, uint32_t arg, mach_port_t reply,
                                 uint32_t failures, bool *reserved)
{
    nm_request req;
    memset(&req, 0, sizeof req);
    req.head.msgh_bits =
        MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0);
    req.head.msgh_size = sizeof req;
    req.head.msgh_remote_port = TASK;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = id;
    req.ndr = NDR_record;
    req.arg = arg;
    um_task *t = um_embedded_enter();
    t->kernel->test_reply_alloc_failures = failures;
    mach_msg_return_t mr = kern_send(t, &req, sizeof req);
    MT_EQ(t->kernel->test_reply_alloc_failures, 0); /* every failure was used */
    t->kernel->test_reply_alloc_failures = 0;
    *reserved = t->kernel->reply_reserve != NULL;
    um_embedded_leave();
    return mr;
}

/* The next message on `port` (1 s at most). */
static mach_msg_return_t nm_receive(mach_port_t port, nm_reply *r)
{
    memset(r, 0xA5, sizeof *r);
    return mach_msg(&r->head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r, port, 1000,
                    MACH_PORT_NULL);
}

static mach_port_t nm_port(void)
{
    mach_port_t p = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    return p;
}

static void nm_check_error_reply(const nm_reply *r, mach_msg_id_t id, kern_return_t ret)
{
    MT_EQ(r->head.msgh_id, id + 100);
    MT_EQ(r->head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r->head.msgh_bits & MACH_MSGH_BITS_COMPLEX, 0);
    MT_EQ(r->error.RetCode, ret);
}

MT_TEST(a_routine_whose_reply_cannot_be_allocated_answers_resource_shortage)
{
    mach_port_t reply = nm_port();
    nm_reply r;
    bool reserved = false;
    /* The routine's reply fails; the error reply is made. */
    MT_KR(nm_send(3201, reply, reply, 1, &reserved), MACH_MSG_SUCCESS);
    MT_KR(nm_receive(reply, &r), MACH_MSG_SUCCESS);
    nm_check_error_reply(&r, 3201, KERN_RESOURCE_SHORTAGE);
    MT_CHECK(reserved);
    /* The error reply fails too: the reserve answers, and is made again at once. */
    MT_KR(nm_send(3201, reply, reply, 2, &reserved), MACH_MSG_SUCCESS);
    MT_KR(nm_receive(reply, &r), MACH_MSG_SUCCESS);
    nm_check_error_reply(&r, 3201, KERN_RESOURCE_SHORTAGE);
    MT_CHECK(reserved);
    /* With memory, the same request answers as before. */
    MT_KR(nm_send(3201, reply, reply, 0, &reserved), MACH_MSG_SUCCESS);
    MT_KR(nm_receive(reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 3301);
    MT_EQ(r.error.RetCode, KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(a_failed_routine_whose_error_reply_cannot_be_allocated_answers_its_own_error)
{
    mach_port_t reply = nm_port();
    nm_reply r;
    bool reserved = false;
    /* mach_port_type of a name we do not have: the routine's error, through the reserve. */
    MT_KR(nm_send(3201, 0x7fffff03u, reply, 1, &reserved), MACH_MSG_SUCCESS);
    MT_KR(nm_receive(reply, &r), MACH_MSG_SUCCESS);
    nm_check_error_reply(&r, 3201, KERN_INVALID_NAME);
    MT_CHECK(reserved);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(a_right_a_routine_returns_without_a_reply_is_released_and_the_reserve_answers)
{
    mach_port_t reply = nm_port();
    mach_port_urefs_t before = 0, after = 0;
    MT_KR(mach_port_get_refs(TASK, TASK, MACH_PORT_RIGHT_SEND, &before), KERN_SUCCESS);
    nm_reply r;
    bool reserved = false;
    /* task_get_special_port(TASK_KERNEL_PORT): the send right it made goes back. */
    MT_KR(nm_send(3409, TASK_KERNEL_PORT, reply, 2, &reserved), MACH_MSG_SUCCESS);
    MT_KR(nm_receive(reply, &r), MACH_MSG_SUCCESS);
    nm_check_error_reply(&r, 3409, KERN_RESOURCE_SHORTAGE);
    MT_CHECK(reserved);
    MT_KR(mach_port_get_refs(TASK, TASK, MACH_PORT_RIGHT_SEND, &after), KERN_SUCCESS);
    MT_EQ(after, before);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_MAIN()
