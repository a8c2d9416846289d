/*
 * kernel_reply_limit.c — a send marked as a kernel object's reply (um_msg_send_state
 * .kernel_reply: in a world, the reply to a mach_vm request a client served on its own task
 * port) goes past its destination's queue limit only when that destination's receive right
 * is the sender's own, as the reply port of such a request is. A world client sets the mark
 * itself (UM_WIRE_MSG_KERNEL_REPLY), so with any other destination it must not let a task
 * queue past the limit of another task's port: there the limit holds as for any send.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "api/um_api.h"
#include "embedded/um_embedded.h"
#include "kern_give.h"
#include "kern/um_kmsg.h"

#include <mach/mach.h>

#include <string.h>

#define TASK mach_task_self()

static const um_task_hooks no_hooks = {0};

/* A reply as um_vm_mig_local sends it: a served routine's id + 100, no reply port. */
static void kr_msg(mig_reply_error_t *m, mach_port_name_t dest)
{
    memset(m, 0, sizeof *m);
    m->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    m->Head.msgh_remote_port = dest;
    m->Head.msgh_size = sizeof *m;
    m->Head.msgh_id = 4804 + 100; /* mach_vm_read's reply */
    m->NDR = NDR_record;
    m->RetCode = KERN_SUCCESS;
}

/* The send of the core with the kernel-reply mark, as a world's daemon makes it. */
static mach_msg_return_t kr_send(mach_port_name_t dest)
{
    mig_reply_error_t m;
    kr_msg(&m, dest);
    um_kmsg *k = NULL;
    mach_msg_return_t mr = um_kmsg_prepare(um_embedded_task(), (uint64_t)(uintptr_t)&m, sizeof m,
                                           &k);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    um_task *t = um_embedded_enter();
    um_msg_send_state s;
    memset(&s, 0, sizeof s);
    s.kmsg = k;
    s.option = MACH_SEND_MSG | MACH_SEND_TIMEOUT;
    s.msg_addr = (uint64_t)(uintptr_t)&m;
    s.may_block = false;
    s.kernel_reply = true;
    mr = um_msg_send(t, &s);
    um_embedded_leave();
    um_msg_out_release(&s.out); /* a refused message's bytes, given back (not looked at) */
    return mr;
}

/* An ordinary send of the same message, which a full queue refuses. */
static mach_msg_return_t plain_send(mach_port_name_t dest)
{
    mig_reply_error_t m;
    kr_msg(&m, dest);
    return mach_msg(&m.Head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

MT_TEST(a_kernel_reply_passes_the_limit_of_the_senders_own_port_only)
{
    /* Our own port, limit 1, full: the kernel reply is queued past the limit. */
    mach_port_name_t own = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &own), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, own, own, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    mach_port_limits_t limits = {.mpl_qlimit = 1};
    MT_KR(mach_port_set_attributes(TASK, own, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&limits,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
    MT_KR(plain_send(own), MACH_MSG_SUCCESS);
    MT_KR(plain_send(own), MACH_SEND_TIMED_OUT);
    MT_KR(kr_send(own), MACH_MSG_SUCCESS);
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(mach_port_get_attributes(TASK, own, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st, &n),
          KERN_SUCCESS);
    MT_EQ(st.mps_msgcount, 2);

    /* Another task's port, limit 1, full: the mark does not pass its limit. */
    um_task *a = um_embedded_enter();
    um_task *b = um_task_create(a->kernel, a->mem, &no_hooks, NULL);
    MT_REQUIRE(b != NULL);
    mach_port_name_t rb_b = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(b, b->task_name, MACH_PORT_RIGHT_RECEIVE, &rb_b), KERN_SUCCESS);
    mach_port_name_t rb = kern_give(b, rb_b, MACH_MSG_TYPE_MAKE_SEND, a);
    MT_REQUIRE(rb != MACH_PORT_NULL);
    um_port *rbp = (um_port *)um_entry_lookup(b->space, rb_b)->object;
    um_mqueue_set_qlimit(rbp, 1);
    um_embedded_leave();
    MT_KR(plain_send(rb), MACH_MSG_SUCCESS);
    MT_KR(plain_send(rb), MACH_SEND_TIMED_OUT);
    MT_KR(kr_send(rb), MACH_SEND_TIMED_OUT);
    um_embedded_enter();
    MT_EQ(rbp->msgcount, 1);
    um_task_terminate(b);
    um_embedded_leave();

    MT_KR(mach_port_deallocate(TASK, rb), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, own, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, own), KERN_SUCCESS);
}

MT_MAIN()
