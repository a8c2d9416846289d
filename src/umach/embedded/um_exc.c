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
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* REG_RIP and the other registers of a ucontext */
#endif
#include "../kern/um_kern.h"
#include "../um_export.h"
#include "um_embedded.h"
#include "um_exc.h"

#include <mach/exc.h>
#include <mach/mach.h>
#include <mach/exception_types.h>
#include <mach/ndr.h>
#include <mach/thread_status.h>

#include <ucontext.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* exc.defs and mach_exc.defs: subsystem 2400, routine numbers; a reply's id is +100. */
#define UM_EXC_RAISE_ID 2401
#define UM_MACH_EXC_RAISE_ID 2405

#pragma pack(push, 4)
/* mach_exception_raise's request, as MIG lays out mach_exc.defs (no header declares it);
 * exception_raise's request and the reply of either are <mach/exc.h>'s. */
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
#pragma pack(pop)

/* The request and room for its reply (a reply is smaller than either request). */
typedef union {
    mach_msg_header_t h;
    __Request__exception_raise_t small;
    um_mach_exc_raise_req wide;
    struct {
        __Reply__exception_raise_t rep;
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
/* The machine's thread-state flavour umach reads from a signal's context, and its size. */
#if defined(__x86_64__)
#define UM_EXC_STATE_FLAVOR x86_THREAD_STATE64
#define UM_EXC_STATE_COUNT x86_THREAD_STATE64_COUNT
typedef x86_thread_state64_t um_exc_state_t;
#elif defined(__aarch64__)
#define UM_EXC_STATE_FLAVOR ARM_THREAD_STATE64
#define UM_EXC_STATE_COUNT ARM_THREAD_STATE64_COUNT
typedef arm_thread_state64_t um_exc_state_t;
#endif

#ifdef UM_EXC_STATE_FLAVOR
/* The thread state of a signal's context, as thread_get_state's flavour lays it out. */
static void state_from_context(const ucontext_t *uc, um_exc_state_t *s)
{
    memset(s, 0, sizeof *s);
#if defined(__x86_64__)
    const greg_t *g = uc->uc_mcontext.gregs;
    s->__rax = (uint64_t)g[REG_RAX];
    s->__rbx = (uint64_t)g[REG_RBX];
    s->__rcx = (uint64_t)g[REG_RCX];
    s->__rdx = (uint64_t)g[REG_RDX];
    s->__rdi = (uint64_t)g[REG_RDI];
    s->__rsi = (uint64_t)g[REG_RSI];
    s->__rbp = (uint64_t)g[REG_RBP];
    s->__rsp = (uint64_t)g[REG_RSP];
    s->__r8 = (uint64_t)g[REG_R8];
    s->__r9 = (uint64_t)g[REG_R9];
    s->__r10 = (uint64_t)g[REG_R10];
    s->__r11 = (uint64_t)g[REG_R11];
    s->__r12 = (uint64_t)g[REG_R12];
    s->__r13 = (uint64_t)g[REG_R13];
    s->__r14 = (uint64_t)g[REG_R14];
    s->__r15 = (uint64_t)g[REG_R15];
    s->__rip = (uint64_t)g[REG_RIP];
    s->__rflags = (uint64_t)g[REG_EFL];
    uint64_t csgsfs = (uint64_t)g[REG_CSGSFS]; /* cs, gs, fs: 16 bits each */
    s->__cs = csgsfs & 0xffff;
    s->__gs = (csgsfs >> 16) & 0xffff;
    s->__fs = (csgsfs >> 32) & 0xffff;
#else
    for (int i = 0; i < 29; i++)
        s->__x[i] = uc->uc_mcontext.regs[i];
    s->__fp = uc->uc_mcontext.regs[29];
    s->__lr = uc->uc_mcontext.regs[30];
    s->__sp = uc->uc_mcontext.sp;
    s->__pc = uc->uc_mcontext.pc;
    s->__cpsr = (uint32_t)uc->uc_mcontext.pstate;
#endif
}

/* The handler's new state into the context the signal returns to (the segment registers and
 * the flags' system bits stay: XNU's thread_set_state refuses to change them from user). */
static void state_to_context(const um_exc_state_t *s, ucontext_t *uc)
{
#if defined(__x86_64__)
    greg_t *g = uc->uc_mcontext.gregs;
    g[REG_RAX] = (greg_t)s->__rax;
    g[REG_RBX] = (greg_t)s->__rbx;
    g[REG_RCX] = (greg_t)s->__rcx;
    g[REG_RDX] = (greg_t)s->__rdx;
    g[REG_RDI] = (greg_t)s->__rdi;
    g[REG_RSI] = (greg_t)s->__rsi;
    g[REG_RBP] = (greg_t)s->__rbp;
    g[REG_RSP] = (greg_t)s->__rsp;
    g[REG_R8] = (greg_t)s->__r8;
    g[REG_R9] = (greg_t)s->__r9;
    g[REG_R10] = (greg_t)s->__r10;
    g[REG_R11] = (greg_t)s->__r11;
    g[REG_R12] = (greg_t)s->__r12;
    g[REG_R13] = (greg_t)s->__r13;
    g[REG_R14] = (greg_t)s->__r14;
    g[REG_R15] = (greg_t)s->__r15;
    g[REG_RIP] = (greg_t)s->__rip;
    /* The user-settable flags: carry, parity, adjust, zero, sign, trap, direction, overflow. */
    const uint64_t user = 0xcd5;
    g[REG_EFL] = (greg_t)(((uint64_t)g[REG_EFL] & ~user) | (s->__rflags & user));
#else
    for (int i = 0; i < 29; i++)
        uc->uc_mcontext.regs[i] = s->__x[i];
    uc->uc_mcontext.regs[29] = s->__fp;
    uc->uc_mcontext.regs[30] = s->__lr;
    uc->uc_mcontext.sp = s->__sp;
    uc->uc_mcontext.pc = s->__pc;
    /* The condition flags only (N, Z, C, V). */
    uc->uc_mcontext.pstate = (uc->uc_mcontext.pstate & ~0xf0000000ull) | (s->__cpsr & 0xf0000000u);
#endif
}
#endif

void um_exc_state_of_context(const void *uc, void *state)
{
#ifdef UM_EXC_STATE_FLAVOR
    state_from_context(uc, state);
#else
    (void)uc;
    (void)state;
#endif
}

void um_exc_state_to_context(const void *state, void *uc)
{
#ifdef UM_EXC_STATE_FLAVOR
    state_to_context(state, uc);
#else
    (void)state;
    (void)uc;
#endif
}

/*
 * EXCEPTION_STATE and EXCEPTION_STATE_IDENTITY (exception_raise_state 2402 and
 * _state_identity 2403, mach_ 2406 and 2407): the request carries the thread's state of
 * `flavor` read from the signal's context `uc`, and a successful reply's new state is written
 * back into it. Only the machine's 64-bit thread state is read (another flavour: KERN_FAILURE,
 * as a thread_get_state that fails). No context (a guard exception): KERN_FAILURE.
 */
static kern_return_t deliver_state(mach_port_t port, exception_behavior_t behavior, int flavor,
                                   mach_port_t thread, exception_type_t exception,
                                   const int64_t code[2], void *uc)
{
#ifdef UM_EXC_STATE_FLAVOR
    if (!uc || flavor != UM_EXC_STATE_FLAVOR)
        return KERN_FAILURE;
    bool wide = ((uint32_t)behavior & MACH_EXCEPTION_CODES) != 0;
    bool identity = (int)((uint32_t)behavior & ~(uint32_t)MACH_EXCEPTION_MASK) ==
                    EXCEPTION_STATE_IDENTITY;
    um_exc_state_t state;
    state_from_context(uc, &state);
    mach_port_t reply = MACH_PORT_NULL;
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply) != KERN_SUCCESS)
        return KERN_RESOURCE_SHORTAGE;
    /* Room for the request or the reply and its trailer. */
    union {
        mach_msg_header_t h;
        uint8_t bytes[512 + sizeof(um_exc_state_t)];
    } m;
    memset(&m, 0, sizeof m);
    uint8_t *p = m.bytes + sizeof(mach_msg_header_t);
    if (identity) {
        mach_msg_body_t body = {2};
        memcpy(p, &body, sizeof body);
        p += sizeof body;
        mach_msg_port_descriptor_t d;
        port_desc(&d, thread);
        memcpy(p, &d, sizeof d);
        p += sizeof d;
        port_desc(&d, mach_task_self());
        memcpy(p, &d, sizeof d);
        p += sizeof d;
    }
    memcpy(p, &NDR_record, sizeof NDR_record);
    p += sizeof NDR_record;
    memcpy(p, &exception, sizeof exception);
    p += sizeof exception;
    mach_msg_type_number_t cnt = 2;
    memcpy(p, &cnt, sizeof cnt);
    p += sizeof cnt;
    if (wide) {
        memcpy(p, code, 2 * sizeof code[0]);
        p += 2 * sizeof code[0];
    } else {
        integer_t small[2] = {(integer_t)(uint32_t)(uint64_t)code[0],
                              (integer_t)(uint32_t)(uint64_t)code[1]};
        memcpy(p, small, sizeof small);
        p += sizeof small;
    }
    memcpy(p, &flavor, sizeof flavor);
    p += sizeof flavor;
    cnt = UM_EXC_STATE_COUNT;
    memcpy(p, &cnt, sizeof cnt);
    p += sizeof cnt;
    memcpy(p, &state, sizeof state);
    p += sizeof state;
    mach_msg_size_t size = (mach_msg_size_t)(p - m.bytes);
    mach_msg_id_t id = (wide ? UM_MACH_EXC_RAISE_ID : UM_EXC_RAISE_ID) + (identity ? 2 : 1);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0,
                                       identity ? MACH_MSGH_BITS_COMPLEX : 0);
    m.h.msgh_size = size;
    m.h.msgh_remote_port = port;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = id;
    mach_msg_return_t mr = mach_msg(&m.h, MACH_SEND_MSG | MACH_RCV_MSG, size, sizeof m, reply,
                                    MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    kern_return_t kr;
    /* The reply: header, NDR, RetCode, then on success the flavour, count and state. */
    const size_t head = sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + sizeof(kern_return_t);
    if (mr != MACH_MSG_SUCCESS) {
        kr = mr;
    } else if (m.h.msgh_id == MACH_NOTIFY_SEND_ONCE) {
        kr = MIG_SERVER_DIED;
    } else if (m.h.msgh_id != id + 100 || (m.h.msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
               m.h.msgh_size < head) {
        mach_msg_destroy(&m.h);
        kr = MIG_REPLY_MISMATCH;
    } else {
        memcpy(&kr, m.bytes + head - sizeof kr, sizeof kr);
        if (kr == KERN_SUCCESS) {
            int new_flavor;
            mach_msg_type_number_t new_cnt;
            if (m.h.msgh_size != head + 8 + sizeof state) {
                kr = MIG_REPLY_MISMATCH;
            } else {
                memcpy(&new_flavor, m.bytes + head, sizeof new_flavor);
                memcpy(&new_cnt, m.bytes + head + 4, sizeof new_cnt);
                if (new_flavor != UM_EXC_STATE_FLAVOR || new_cnt != UM_EXC_STATE_COUNT) {
                    kr = KERN_INVALID_ARGUMENT; /* XNU's thread_set_state refuses it */
                } else {
                    memcpy(&state, m.bytes + head + 8, sizeof state);
                    /* After every read of the context by thread_suspend's handler (the
                     * answer came after it; this makes the order one a race detector sees
                     * too, when the answer went through umachd). */
                    (void)__atomic_load_n(&um_exc_fault_context_reads, __ATOMIC_ACQUIRE);
                    state_to_context(&state, uc);
                }
            }
        }
    }
    (void)mach_port_mod_refs(mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1);
    return kr;
#else
    (void)port, (void)behavior, (void)flavor, (void)thread, (void)exception, (void)code, (void)uc;
    return KERN_FAILURE;
#endif
}

static kern_return_t deliver(mach_port_t port, exception_behavior_t behavior, int flavor,
                             mach_port_t thread, exception_type_t exception, const int64_t code[2],
                             void *uc)
{
    bool wide = ((uint32_t)behavior & MACH_EXCEPTION_CODES) != 0;
    int plain = (int)((uint32_t)behavior & ~(uint32_t)MACH_EXCEPTION_MASK);
    if (plain == EXCEPTION_STATE || plain == EXCEPTION_STATE_IDENTITY)
        return deliver_state(port, behavior, flavor, thread, exception, code, uc);
    if (plain != EXCEPTION_DEFAULT)
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
        __Request__exception_raise_t *r = &m.small;
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
               m.h.msgh_size != sizeof(__Reply__exception_raise_t)) {
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
                              exception_behavior_t *behavior, thread_state_flavor_t *flavorp)
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
    /*
     * A dying task's EXC_CRASH never goes to a port it receives itself (XNU's
     * check_exc_receiver_dependency: it would wait for itself); a space's send and receive
     * rights to one port share one name.
     */
    mach_port_type_t type = 0;
    if (exception == EXC_CRASH &&
        (mach_port_type(mach_task_self(), port, &type) != KERN_SUCCESS ||
         (type & MACH_PORT_TYPE_RECEIVE))) {
        (void)mach_port_deallocate(mach_task_self(), port);
        return MACH_PORT_NULL;
    }
    *flavorp = flavor;
    return port;
}

/* Exceptions raised while one is being raised are not raised again (XNU's thread is in
 * TH_IN_MACH_EXCEPTION; umach's own calls could raise guards of their own). */
static _Thread_local bool um_exc_raising;

kern_return_t um_exc_raise_as(mach_port_t thread, exception_type_t exception,
                              const int64_t code[2], void *uc)
{
    if (um_exc_raising)
        return KERN_FAILURE;
    um_exc_raising = true;
    kern_return_t kr = KERN_FAILURE;
    for (int level = 0; level < 2; level++) {
        exception_behavior_t behavior = 0;
        thread_state_flavor_t flavor = 0;
        mach_port_t port = level_port(level == 0, thread, exception, &behavior, &flavor);
        if (port == MACH_PORT_NULL)
            continue;
        kr = deliver(port, behavior, flavor, thread, exception, code, uc);
        (void)mach_port_deallocate(mach_task_self(), port);
        if (kr == KERN_SUCCESS || kr == MACH_RCV_PORT_DIED)
            break;
    }
    um_exc_raising = false;
    return kr;
}

kern_return_t um_exc_raise(exception_type_t exception, const int64_t code[2], void *uc)
{
    if (um_exc_raising)
        return KERN_FAILURE;
    mach_port_t thread = mach_thread_self();
    kern_return_t kr = um_exc_raise_as(thread, exception, code, uc);
    if (MACH_PORT_VALID(thread))
        (void)mach_port_deallocate(mach_task_self(), thread);
    return kr;
}

bool um_exc_raising_now(void)
{
    return um_exc_raising;
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
    (void)um_exc_raise(EXC_GUARD, code, NULL);
    /* A fatal guard ends the task whatever the handler answered (XNU's mach_port_guard_ast). */
    if (um_exc_guard.fatal)
        um_guard_abort(um_exc_guard.name, um_exc_guard.flavor, um_exc_guard.payload);
}
