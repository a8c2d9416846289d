/*
 * exception_ports_mig.c — task_ and thread_set/get/swap_exception_ports (task.defs 3413-3415,
 * thread_act.defs 3613-3615) sent by hand with mach_msg to our task port and a thread port are
 * answered by the kernel as MIG lays out their replies, as on Darwin: set's new port a send
 * right in a port descriptor, get's and swap's reply 32 port descriptors (the handlers, then
 * null ones), the NDR record, the count and the masks, behaviours and flavours, each array as
 * long as the count. A new port of another disposition is MIG_TYPE_ERROR, the routine's
 * errors a mig_reply_error_t with the carried right released, a task routine on a thread
 * port KERN_INVALID_ARGUMENT.
 */
#include "notify_util.h"

#include <mach/exception_types.h>
#include <mach/mig_errors.h>
#include <mach/notify.h>
#include <mach/thread_act.h>

#include <stddef.h>

#if defined(__x86_64__)
#define STATE_FLAVOR x86_THREAD_STATE64
#else
#define STATE_FLAVOR ARM_THREAD_STATE64
#endif

#define EPM_MAX 32

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t new_port;
    NDR_record_t ndr;
    exception_mask_t mask;
    exception_behavior_t behavior;
    thread_state_flavor_t flavor;
} epm_set_req;
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    exception_mask_t mask;
} epm_get_req;
typedef union {
    mach_msg_header_t head;
    mig_reply_error_t error;
    struct {
        mach_msg_header_t head;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t handlers[EPM_MAX];
        NDR_record_t ndr;
        mach_msg_type_number_t count;
        uint32_t arrays[3 * EPM_MAX]; /* masks, behaviours, flavours: count each */
    } list;
    uint8_t bytes[2048];
} epm_reply;
#pragma pack(pop)

/* Send `to` set or swap (`id`) of `mask` to `port` (disposition `disp`), receive on `reply`. */
static mach_msg_return_t epm_set(mach_port_t to, mach_msg_id_t id, exception_mask_t mask,
                                 mach_port_t port, mach_msg_type_name_t disp,
                                 exception_behavior_t behavior, mach_port_t reply, epm_reply *r)
{
    epm_set_req req;
    memset(&req, 0, sizeof req);
    req.head.msgh_bits =
        MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0) |
        MACH_MSGH_BITS_COMPLEX;
    req.head.msgh_size = sizeof req;
    req.head.msgh_remote_port = to;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = id;
    req.body.msgh_descriptor_count = 1;
    req.new_port.name = port;
    req.new_port.disposition = disp;
    req.new_port.type = MACH_MSG_PORT_DESCRIPTOR;
    req.ndr = NDR_record;
    req.mask = mask;
    req.behavior = behavior;
    req.flavor = STATE_FLAVOR;
    mach_msg_return_t mr = mach_msg(&req.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof req, 0,
                                    MACH_PORT_NULL, 10000, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    memset(r, 0xA5, sizeof *r);
    return mach_msg(&r->head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r, reply, 10000,
                    MACH_PORT_NULL);
}

static mach_msg_return_t epm_get(mach_port_t to, mach_msg_id_t id, exception_mask_t mask,
                                 mach_port_t reply, epm_reply *r)
{
    epm_get_req req;
    memset(&req, 0, sizeof req);
    req.head.msgh_bits =
        MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0);
    req.head.msgh_size = sizeof req;
    req.head.msgh_remote_port = to;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = id;
    req.ndr = NDR_record;
    req.mask = mask;
    mach_msg_return_t mr = mach_msg(&req.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof req, 0,
                                    MACH_PORT_NULL, 10000, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    memset(r, 0xA5, sizeof *r);
    return mach_msg(&r->head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r, reply, 10000,
                    MACH_PORT_NULL);
}

/* Check a get or swap reply's shape for `n` entries; entry `i`'s arrays. */
static int epm_list_ok(const epm_reply *r, mach_msg_id_t id, mach_msg_type_number_t n)
{
    if (r->head.msgh_id != id || !(r->head.msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
        r->list.body.msgh_descriptor_count != EPM_MAX || !nu_ndr_ok(&r->list.ndr) ||
        r->list.count != n ||
        r->head.msgh_size != offsetof(__typeof__(r->list), arrays) + 12 * n)
        return 0;
    for (unsigned i = 0; i < EPM_MAX; i++) {
        if (r->list.handlers[i].type != MACH_MSG_PORT_DESCRIPTOR)
            return 0;
        if (i >= n && r->list.handlers[i].name != MACH_PORT_NULL)
            return 0;
    }
    return 1;
}

#define EPM_MASK(r, i) ((r)->list.arrays[(i)])
#define EPM_BEHAVIOR(r, i) ((r)->list.arrays[(r)->list.count + (i)])
#define EPM_FLAVOR(r, i) ((r)->list.arrays[2 * (r)->list.count + (i)])

/* Set, get and swap on `target` by message (ids `base`, +1, +2), then its slots emptied. */
static void epm_round_trip(mach_port_t target, mach_msg_id_t base)
{
    mach_port_t handler = nu_port_with_send();
    mach_port_t other = nu_port_with_send();
    mach_port_t reply = nu_port();
    epm_reply r;
    mach_port_urefs_t refs = nu_refs(handler, MACH_PORT_RIGHT_SEND);
    MT_KR(epm_set(target, base, EXC_MASK_SOFTWARE, handler, MACH_MSG_TYPE_COPY_SEND,
                  EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES, reply, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, base + 100);
    MT_EQ(r.head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, KERN_SUCCESS);
    MT_EQ(nu_refs(handler, MACH_PORT_RIGHT_SEND), refs); /* the slot holds its own right */

    /* Get: one entry, our handler as a new send right. */
    MT_KR(epm_get(target, base + 1, EXC_MASK_SOFTWARE, reply, &r), MACH_MSG_SUCCESS);
    MT_CHECK(epm_list_ok(&r, base + 101, 1));
    MT_EQ(r.list.handlers[0].name, handler);
    MT_EQ(r.list.handlers[0].disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(EPM_MASK(&r, 0), EXC_MASK_SOFTWARE);
    MT_EQ(EPM_BEHAVIOR(&r, 0), (uint32_t)(EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES));
    MT_EQ(EPM_FLAVOR(&r, 0), STATE_FLAVOR);
    MT_EQ(nu_refs(handler, MACH_PORT_RIGHT_SEND), refs + 1);
    MT_KR(mach_port_deallocate(TASK, handler), KERN_SUCCESS);

    /* Swap two slots to `other`: the old entries come back (ours, and the empty one). */
    MT_KR(epm_set(target, base + 2, EXC_MASK_SOFTWARE | EXC_MASK_EMULATION, other,
                  MACH_MSG_TYPE_COPY_SEND, EXCEPTION_STATE_IDENTITY, reply, &r),
          MACH_MSG_SUCCESS);
    MT_CHECK(epm_list_ok(&r, base + 102, 2));
    mach_msg_type_number_t mine = r.list.handlers[0].name == handler ? 0 : 1;
    MT_EQ(r.list.handlers[mine].name, handler);
    MT_EQ(EPM_MASK(&r, mine), EXC_MASK_SOFTWARE);
    MT_EQ(r.list.handlers[1 - mine].name, MACH_PORT_NULL);
    MT_EQ(EPM_MASK(&r, 1 - mine), EXC_MASK_EMULATION);
    MT_KR(mach_port_deallocate(TASK, handler), KERN_SUCCESS);

    /* The direct call sees what the messages set. */
    exception_mask_t masks[EXC_TYPES_COUNT];
    mach_port_t ports[EXC_TYPES_COUNT];
    exception_behavior_t behaviors[EXC_TYPES_COUNT];
    thread_state_flavor_t flavors[EXC_TYPES_COUNT];
    mach_msg_type_number_t n = EXC_TYPES_COUNT;
    if (base == 3413)
        MT_KR(task_get_exception_ports(target, EXC_MASK_EMULATION, masks, &n, ports, behaviors,
                                       flavors),
              KERN_SUCCESS);
    else
        MT_KR(thread_get_exception_ports(target, EXC_MASK_EMULATION, masks, &n, ports,
                                         behaviors, flavors),
              KERN_SUCCESS);
    MT_EQ(n, 1);
    MT_EQ(ports[0], other);
    MT_EQ(behaviors[0], EXCEPTION_STATE_IDENTITY);
    MT_KR(mach_port_deallocate(TASK, ports[0]), KERN_SUCCESS);

    /* Emptied by message. */
    MT_KR(epm_set(target, base, EXC_MASK_ALL, MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND,
                  EXCEPTION_DEFAULT, reply, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, KERN_SUCCESS);
    nu_kill(handler);
    nu_kill(other);
    nu_kill(reply);
}

MT_TEST(task_exception_ports_set_got_and_swapped_by_message_answer_migs_replies)
{
    NU_BEGIN();
    epm_round_trip(TASK, 3413);
    NU_END();
}

MT_TEST(thread_exception_ports_set_got_and_swapped_by_message_answer_migs_replies)
{
    mach_port_t thread = mach_thread_self();
    NU_BEGIN();
    epm_round_trip(thread, 3613);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
}

MT_TEST(a_bad_exception_port_request_gets_migs_or_the_routines_error_and_its_right_released)
{
    mach_port_t thread = mach_thread_self();
    NU_BEGIN();
    mach_port_t handler = nu_port_with_send();
    mach_port_t reply = nu_port();
    epm_reply r;
    mach_port_urefs_t refs = nu_refs(handler, MACH_PORT_RIGHT_SEND);
    /* A behaviour that is none of XNU's: KERN_INVALID_ARGUMENT, the request's copy released. */
    MT_KR(epm_set(TASK, 3413, EXC_MASK_SOFTWARE, handler, MACH_MSG_TYPE_COPY_SEND, 77, reply,
                  &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    MT_EQ(nu_refs(handler, MACH_PORT_RIGHT_SEND), refs);
    /* A send-once right where a send right belongs: MIG_TYPE_ERROR, the right destroyed
     * (its port gets the send-once notification). */
    MT_KR(epm_set(TASK, 3413, EXC_MASK_SOFTWARE, handler, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                  EXCEPTION_DEFAULT, reply, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, MIG_TYPE_ERROR);
    nu_msg m;
    MT_KR(nu_recv(handler, &m, 10000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* Get with a mask beyond the exceptions: the routine's KERN_INVALID_ARGUMENT. */
    MT_KR(epm_get(TASK, 3414, 0x80000000u, reply, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    /* A get with no mask argument: MIG_BAD_ARGUMENTS. */
    epm_get_req short_req;
    memset(&short_req, 0, sizeof short_req);
    short_req.head.msgh_bits =
        MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0);
    short_req.head.msgh_remote_port = TASK;
    short_req.head.msgh_local_port = reply;
    short_req.head.msgh_id = 3414;
    MT_KR(mach_msg(&short_req.head, MACH_SEND_MSG, sizeof short_req.head, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_KR(mach_msg(&r.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, reply, 10000,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, MIG_BAD_ARGUMENTS);
    /* A task routine sent to a thread port: XNU's null task, KERN_INVALID_ARGUMENT, the copy
     * released. */
    MT_KR(epm_set(thread, 3413, EXC_MASK_SOFTWARE, handler, MACH_MSG_TYPE_COPY_SEND,
                  EXCEPTION_DEFAULT, reply, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 3513);
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    MT_EQ(nu_refs(handler, MACH_PORT_RIGHT_SEND), refs);
    nu_kill(handler);
    nu_kill(reply);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
}

MT_MAIN()
