/*
 * um_exc.c — raising a Mach exception from the thread that caught it (XNU: exception.c,
 * exception_triage_thread and exception_deliver): the thread's exception port for it first,
 * then the task's; each is sent the exception_raise or mach_exception_raise request of its
 * behaviour (exc.defs / mach_exc.defs) with a send-once right for the reply, and the thread
 * waits for the answer. A port that answers KERN_SUCCESS, or whose reply port died, ends the
 * search; anything else (no port, a behaviour umach cannot serve, a dead handler, a failure
 * reply) goes on to the next level, and after the task's to the caller's default.
 *
 * The raising is written against the public calls (task/thread_get_exception_ports and
 * mach_msg), so that it runs the same in embedded mode and in a world; it runs with the world
 * unlocked, when the call that raised is over (um_exc_pend / um_exc_pending_deliver).
 */
#include "../kern/um_kern.h"
#include "../um_export.h"
#include "um_embedded.h"
#include "um_exc.h"

#include <mach/mach.h>
#include <mach/exception_types.h>
#include <mach/ndr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* exc.defs and mach_exc.defs: subsystem 2400, routine numbers; a reply's id is +100. */
#define UM_EXC_RAISE_ID 2401
#define UM_MACH_EXC_RAISE_ID 2405

#pragma pack(push, 4)
/* exception_raise's and mach_exception_raise's requests, as MIG lays them out. */
typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t msgh_body;
    mach_msg_port_descriptor_t thread;
    mach_msg_port_descriptor_t task;
    NDR_record_t NDR;
    exception_type_t exception;
    mach_msg_type_number_t codeCnt;
    integer_t code[2];
} um_exc_raise_req;

typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t msgh_body;
    mach_msg_port_descriptor_t thread;
    mach_msg_port_descriptor_t task;
    NDR_record_t NDR;
    exception_type_t exception;
    mach_msg_type_number_t codeCnt;
    int64_t code[2];
} um_mach_exc_raise_req;

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
} um_exc_raise_rep;
#pragma pack(pop)

/* The request and room for its reply (a reply is smaller than either request). */
typedef union {
    mach_msg_header_t h;
    um_exc_raise_req small;
    um_mach_exc_raise_req wide;
    struct {
        um_exc_raise_rep rep;
        mach_msg_max_trailer_t trailer;
    } reply;
} um_exc_msg;

static void port_desc(mach_msg_port_descriptor_t *d, mach_port_t name)
{
    memset(d, 0, sizeof *d);
    d->name = name;
    d->disposition = MACH_MSG_TYPE_COPY_SEND;
    d->type = MACH_MSG_PORT_DESCRIPTOR;
}

/*
 * Send the exception to `port` with `behavior` and wait for the answer: the handler's
 * RetCode, MACH_RCV_PORT_DIED, or another error when nobody answered (MIG_SERVER_DIED when
 * the request was destroyed unanswered, MIG_REPLY_MISMATCH for a malformed reply,
 * KERN_FAILURE for a behaviour umach does not deliver: the state ones need a thread state).
 */
static kern_return_t deliver(mach_port_t port, exception_behavior_t behavior, mach_port_t thread,
                             exception_type_t exception, const int64_t code[2])
{
    bool wide = ((uint32_t)behavior & MACH_EXCEPTION_CODES) != 0;
    if ((int)((uint32_t)behavior & ~(uint32_t)MACH_EXCEPTION_MASK) != EXCEPTION_DEFAULT)
        return KERN_FAILURE;
    mach_port_t reply = MACH_PORT_NULL;
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply) != KERN_SUCCESS)
        return KERN_RESOURCE_SHORTAGE;
    um_exc_msg m;
    memset(&m, 0, sizeof m);
    mach_msg_size_t size;
    mach_msg_id_t id;
    if (wide) {
        um_mach_exc_raise_req *r = &m.wide;
        port_desc(&r->thread, thread);
        port_desc(&r->task, mach_task_self());
        r->NDR = NDR_record;
        r->exception = exception;
        r->codeCnt = 2;
        r->code[0] = code[0];
        r->code[1] = code[1];
        size = sizeof *r;
        id = UM_MACH_EXC_RAISE_ID;
    } else {
        um_exc_raise_req *r = &m.small;
        port_desc(&r->thread, thread);
        port_desc(&r->task, mach_task_self());
        r->NDR = NDR_record;
        r->exception = exception;
        r->codeCnt = 2;
        /* exc.defs carries 32-bit codes: XNU casts the 64-bit ones down. */
        r->code[0] = (integer_t)(uint32_t)(uint64_t)code[0];
        r->code[1] = (integer_t)(uint32_t)(uint64_t)code[1];
        size = sizeof *r;
        id = UM_EXC_RAISE_ID;
    }
    m.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0,
                                       MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_size = size;
    m.h.msgh_remote_port = port;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = id;
    m.small.msgh_body.msgh_descriptor_count = 2;
    mach_msg_return_t mr = mach_msg(&m.h, MACH_SEND_MSG | MACH_RCV_MSG, size, sizeof m, reply,
                                    MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    kern_return_t kr;
    if (mr != MACH_MSG_SUCCESS) {
        kr = mr;
    } else if (m.h.msgh_id == MACH_NOTIFY_SEND_ONCE) {
        kr = MIG_SERVER_DIED; /* the handler destroyed the request */
    } else if (m.h.msgh_id != id + 100 || (m.h.msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
               m.h.msgh_size != sizeof(um_exc_raise_rep)) {
        mach_msg_destroy(&m.h);
        kr = MIG_REPLY_MISMATCH;
    } else {
        kr = m.reply.rep.RetCode;
    }
    (void)mach_port_mod_refs(mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1);
    return kr;
}

/* The action of one level for `exception`: the port (a send right of ours, or none). */
static mach_port_t level_port(bool thread_level, mach_port_t thread, exception_type_t exception,
                              exception_behavior_t *behavior)
{
    exception_mask_t mask = 0;
    mach_msg_type_number_t cnt = 1;
    mach_port_t port = MACH_PORT_NULL;
    thread_state_flavor_t flavor = 0;
    kern_return_t kr =
        thread_level
            ? thread_get_exception_ports(thread, 1u << exception, &mask, &cnt, &port, behavior,
                                         &flavor)
            : task_get_exception_ports(mach_task_self(), 1u << exception, &mask, &cnt, &port,
                                       behavior, &flavor);
    if (kr != KERN_SUCCESS || cnt != 1)
        return MACH_PORT_NULL;
    if (!MACH_PORT_VALID(port))
        return MACH_PORT_NULL; /* none, or a dead one: MACH_PORT_DEAD owns no uref */
    return port;
}

/* Exceptions raised while one is being raised are not raised again (XNU's thread is in
 * TH_IN_MACH_EXCEPTION; umach's own calls could raise guards of their own). */
static _Thread_local bool um_exc_raising;

kern_return_t um_exc_raise(exception_type_t exception, const int64_t code[2])
{
    if (um_exc_raising)
        return KERN_FAILURE;
    um_exc_raising = true;
    mach_port_t thread = mach_thread_self();
    kern_return_t kr = KERN_FAILURE;
    for (int level = 0; level < 2; level++) {
        exception_behavior_t behavior = 0;
        mach_port_t port = level_port(level == 0, thread, exception, &behavior);
        if (port == MACH_PORT_NULL)
            continue;
        kr = deliver(port, behavior, thread, exception, code);
        (void)mach_port_deallocate(mach_task_self(), port);
        if (kr == KERN_SUCCESS || kr == MACH_RCV_PORT_DIED)
            break;
    }
    if (MACH_PORT_VALID(thread))
        (void)mach_port_deallocate(mach_task_self(), thread);
    um_exc_raising = false;
    return kr;
}

/* ---- a guard exception raised inside a call ------------------------------------------------ */

/* The guard exception the calling thread's call raised, to raise when the call is over. */
static _Thread_local struct {
    bool fatal;
    uint32_t name, flavor;
    uint64_t payload;
} um_exc_guard;
_Thread_local bool um_exc_pending;

bool um_exc_guard_wanted(um_task *task, um_port *thread_port)
{
    return !um_exc_raising && um_exc_port_set(task, thread_port, EXC_GUARD);
}

void um_exc_pend_guard(uint32_t name, uint64_t payload, uint32_t flavor, bool fatal)
{
    if (um_exc_raising) {
        /* A violation of the raising itself is not raised again, but a fatal one still kills. */
        if (fatal)
            um_guard_abort(name, flavor, payload);
        return;
    }
    if (um_exc_pending)
        return; /* the first violation of the call is the one raised, as XNU's AST keeps one */
    um_exc_guard.fatal = fatal;
    um_exc_guard.name = name;
    um_exc_guard.flavor = flavor;
    um_exc_guard.payload = payload;
    um_exc_pending = true;
}

_Noreturn void um_guard_abort(uint32_t name, uint32_t flavor, uint64_t payload)
{
    fprintf(stderr,
            "umach: fatal Mach port guard exception on port 0x%x: %s (flavor %u, "
            "payload 0x%llx); aborting like EXC_GUARD on Darwin "
            "(UMACH_GUARD_NONFATAL=1 returns the error instead)\n",
            name, um_guard_flavor_name(flavor), flavor, (unsigned long long)payload);
    fflush(stderr);
    abort();
}

int64_t um_exc_guard_code(uint32_t name, uint32_t flavor)
{
    /* XNU's EXC_GUARD code: [63:61] GUARD_TYPE_MACH_PORT (1), [60:32] flavour, [31:0] name. */
    return (int64_t)((1ull << 61) | ((uint64_t)(flavor & 0x1fffffffu) << 32) | name);
}

void um_exc_pending_deliver(void)
{
    um_exc_pending = false;
    int64_t code[2] = {um_exc_guard_code(um_exc_guard.name, um_exc_guard.flavor),
                       (int64_t)um_exc_guard.payload};
    (void)um_exc_raise(EXC_GUARD, code);
    /* A fatal guard ends the task whatever the handler answered (XNU's mach_port_guard_ast). */
    if (um_exc_guard.fatal)
        um_guard_abort(um_exc_guard.name, um_exc_guard.flavor, um_exc_guard.payload);
}
