/*
 * kernel_reply_limit.c — a send marked as a kernel object's reply (um_msg_send_state
 * .kernel_reply: in a world, the reply to a mach_vm request a client served on its own task
 * port) obeys its destination's queue limit like any send, with the sender's options, but is
 * never handed back: one that cannot be queued (no room and no wait, a wait given up) is
 * destroyed and the send succeeds, as XNU's kernel replies are. A world client sets the mark
 * itself (UM_WIRE_MSG_KERNEL_REPLY), so it holds only when the destination's receive right is
 * the sender's own, as the reply port of such a request is: to another task's port the send
 * is an ordinary one, handed back when it fails.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "api/um_api.h"
#include "embedded/um_embedded.h"
#include "kern_give.h"
#include "kern/um_kmsg.h"

#include <mach/mach.h>

#include <stdbool.h>
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

/*
 * The send of the core with the kernel-reply mark, as a world's daemon makes it: `may_block`
 * false is a send with a zero timeout; true, one that waits, given up at once (its timeout
 * passed: um_msg_send_cancel) when it does.
 */
static mach_msg_return_t kr_send(mach_port_name_t dest, bool may_block)
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
    s.may_block = may_block;
    s.kernel_reply = true;
    mr = um_msg_send(t, &s);
    if (mr == MACH_SEND_IN_PROGRESS)
        mr = um_msg_send_cancel(t, &s, MACH_SEND_TIMED_OUT);
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

/* The number of messages queued on our port `name`. */
static mach_port_msgcount_t queued(mach_port_name_t name)
{
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    if (mach_port_get_attributes(TASK, name, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                 &n) != KERN_SUCCESS)
        return (mach_port_msgcount_t)-1;
    return st.mps_msgcount;
}

MT_TEST(a_kernel_reply_that_cannot_be_queued_is_destroyed_only_on_the_senders_own_port)
{
    /* Our own port, limit 1, full: the kernel reply is destroyed and the send succeeds. */
    mach_port_name_t own = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &own), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, own, own, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    mach_port_limits_t limits = {.mpl_qlimit = 1};
    MT_KR(mach_port_set_attributes(TASK, own, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&limits,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
    MT_KR(plain_send(own), MACH_MSG_SUCCESS);
    MT_KR(plain_send(own), MACH_SEND_TIMED_OUT);
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(TASK, own, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
    MT_KR(kr_send(own, false), MACH_MSG_SUCCESS);
    MT_EQ(queued(own), 1);
    /* One that waits and gives up: destroyed as well. */
    MT_KR(kr_send(own, true), MACH_MSG_SUCCESS);
    MT_EQ(queued(own), 1);
    /* Their copied send rights went with them: ours are as they were. */
    mach_port_urefs_t after = 0;
    MT_KR(mach_port_get_refs(TASK, own, MACH_PORT_RIGHT_SEND, &after), KERN_SUCCESS);
    MT_EQ(after, refs);
    /* With room it is queued like any message. */
    struct {
        mig_reply_error_t m;
        mach_msg_max_trailer_t trailer;
    } got;
    MT_KR(mach_msg(&got.m.Head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof got, own, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_KR(kr_send(own, false), MACH_MSG_SUCCESS);
    MT_EQ(queued(own), 1);
    MT_KR(mach_msg(&got.m.Head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof got, own, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(got.m.Head.msgh_id, 4804 + 100);

    /* Another task's port, limit 1, full: the mark does not hold; the send is handed back. */
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
    MT_KR(kr_send(rb, false), MACH_SEND_TIMED_OUT);
    MT_KR(kr_send(rb, true), MACH_SEND_TIMED_OUT);
    um_embedded_enter();
    MT_EQ(rbp->msgcount, 1);
    um_task_terminate(b);
    um_embedded_leave();

    /* Dead now, with every reference the handed-back sends gave back. */
    mach_port_urefs_t dead = 0;
    MT_KR(mach_port_get_refs(TASK, rb, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_CHECK(dead >= 1);
    MT_KR(mach_port_mod_refs(TASK, rb, MACH_PORT_RIGHT_DEAD_NAME, -(mach_port_delta_t)dead),
          KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, own, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, own, MACH_PORT_RIGHT_DEAD_NAME, -(mach_port_delta_t)refs),
          KERN_SUCCESS);
}

MT_MAIN()
