/*
 * exc.c — the exc subsystem (exc.defs, 2401-2403) as Darwin's libsystem_kernel carries it:
 * the user stubs (exception_raise, exception_raise_state, exception_raise_state_identity) that
 * send a request and wait for the reply, and the server (exc_server, exc_server_routine) that
 * checks a request as MIG's generated server does and calls the program's catch_exception_raise,
 * catch_exception_raise_state or catch_exception_raise_state_identity.
 *
 * Darwin looks the catch_* functions up by name when a request arrives and aborts when the
 * program has none (libsyscall's exc_catcher*.c). Here they are weak references: a program that
 * defines one has it exported to libumach (a shared library that refers to a symbol makes the
 * linker export the program's definition), and one that does not gets Darwin's abort, with a
 * message naming the missing function.
 */
#include "../um_export.h"
#include "um_api.h"
#include "um_mig.h"

#include <mach/exc.h>
#include <mach/mach.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXC_BASE_ID 2401
#define EXC_LAST_ID 2403
#define EXC_CODE_MAX 2 /* exception_data_t is array[*:2] */

/* The program's handlers (weak: see above). */
extern kern_return_t catch_exception_raise(mach_port_t exception_port, mach_port_t thread,
                                           mach_port_t task, exception_type_t exception,
                                           exception_data_t code, mach_msg_type_number_t codeCnt)
    __attribute__((weak));
extern kern_return_t
catch_exception_raise_state(mach_port_t exception_port, exception_type_t exception,
                            const exception_data_t code, mach_msg_type_number_t codeCnt,
                            int *flavor, const thread_state_t old_state,
                            mach_msg_type_number_t old_stateCnt, thread_state_t new_state,
                            mach_msg_type_number_t *new_stateCnt) __attribute__((weak));
extern kern_return_t catch_exception_raise_state_identity(
    mach_port_t exception_port, mach_port_t thread, mach_port_t task, exception_type_t exception,
    exception_data_t code, mach_msg_type_number_t codeCnt, int *flavor, thread_state_t old_state,
    mach_msg_type_number_t old_stateCnt, thread_state_t new_state,
    mach_msg_type_number_t *new_stateCnt) __attribute__((weak));

/* Exported with Darwin's names; declared by the programs that use them, as on macOS. */
UM_EXPORT boolean_t exc_server(mach_msg_header_t *InHeadP, mach_msg_header_t *OutHeadP);
UM_EXPORT mig_routine_t exc_server_routine(mach_msg_header_t *InHeadP);

static _Noreturn void exc_no_catcher(const char *name)
{
    fprintf(stderr,
            "umach: exc_server: the program defines no %s for the request it received; "
            "aborting as Darwin's libsystem does\n",
            name);
    fflush(stderr);
    abort();
}

/* ---- user stubs ---------------------------------------------------------------------------- */

/* The request and room for the largest reply and its trailer. */
typedef union {
    mach_msg_header_t h;
    __Request__exception_raise_t raise;
    __Request__exception_raise_state_t state;
    __Request__exception_raise_state_identity_t identity;
    __Reply__exception_raise_t raise_rep;
    __Reply__exception_raise_state_t state_rep;
    struct {
        __Reply__exception_raise_state_identity_t rep;
        mach_msg_max_trailer_t trailer;
    } identity_rep;
} exc_msg;

static void exc_port_desc(mach_msg_port_descriptor_t *d, mach_port_t name)
{
    memset(d, 0, sizeof *d);
    d->name = name;
    d->disposition = MACH_MSG_TYPE_COPY_SEND;
    d->type = MACH_MSG_PORT_DESCRIPTOR;
}

/* MIG's check of a reply with no results beyond RetCode. */
static kern_return_t exc_check_plain_reply(exc_msg *m)
{
    const __Reply__exception_raise_t *r = &m->raise_rep;
    if ((r->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX) || r->Head.msgh_size != sizeof *r) {
        mach_msg_destroy(&m->h);
        return MIG_TYPE_ERROR;
    }
    return r->RetCode;
}

UM_EXPORT kern_return_t exception_raise(mach_port_t exception_port, mach_port_t thread,
                                        mach_port_t task, exception_type_t exception,
                                        exception_data_t code, mach_msg_type_number_t codeCnt)
{
    UM_CALL_SCOPE;
    exc_msg m;
    memset(&m, 0, sizeof m);
    __Request__exception_raise_t *r = &m.raise;
    r->msgh_body.msgh_descriptor_count = 2;
    exc_port_desc(&r->thread, thread);
    exc_port_desc(&r->task, task);
    r->NDR = NDR_record;
    r->exception = exception;
    if (codeCnt > EXC_CODE_MAX)
        return MIG_ARRAY_TOO_LARGE;
    if (codeCnt)
        memcpy(r->code, code, sizeof r->code[0] * codeCnt);
    r->codeCnt = codeCnt;
    r->Head.msgh_bits = MACH_MSGH_BITS_COMPLEX;
    mach_msg_size_t size =
        (mach_msg_size_t)(sizeof *r - sizeof r->code + sizeof r->code[0] * codeCnt);
    mach_msg_return_t mr =
        um_mig_rpc(exception_port, EXC_BASE_ID, &m.h, size, &m.h, (mach_msg_size_t)sizeof m);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    return exc_check_plain_reply(&m);
}

/*
 * The state routines' request from the code on: codeCnt words of code, then flavor,
 * old_stateCnt and old_stateCnt words of state, written at `p`. Returns the end, or NULL when
 * an array is too long (MIG_ARRAY_TOO_LARGE).
 */
static uint8_t *exc_put_state_args(uint8_t *p, const integer_t *code,
                                   mach_msg_type_number_t codeCnt, int flavor,
                                   const natural_t *old_state, mach_msg_type_number_t old_stateCnt)
{
    if (codeCnt > EXC_CODE_MAX || old_stateCnt > THREAD_STATE_MAX)
        return NULL;
    memcpy(p, &codeCnt, sizeof codeCnt);
    p += sizeof codeCnt;
    if (codeCnt)
        memcpy(p, code, sizeof(integer_t) * codeCnt);
    p += sizeof(integer_t) * codeCnt;
    memcpy(p, &flavor, sizeof flavor);
    p += sizeof flavor;
    memcpy(p, &old_stateCnt, sizeof old_stateCnt);
    p += sizeof old_stateCnt;
    if (old_stateCnt)
        memcpy(p, old_state, sizeof(natural_t) * old_stateCnt);
    return p + sizeof(natural_t) * old_stateCnt;
}

/*
 * MIG's check of a state routine's reply and the copy of its results: an error reply gives its
 * RetCode; a successful one of the right shape gives the flavour and the state (the words that
 * fit in *new_stateCnt, MIG_ARRAY_TOO_LARGE when they did not all fit, *new_stateCnt then the
 * count sent).
 */
static kern_return_t exc_take_state_reply(exc_msg *m, int *flavor, natural_t *new_state,
                                          mach_msg_type_number_t *new_stateCnt)
{
    const __Reply__exception_raise_state_t *r = &m->state_rep;
    const mach_msg_size_t min = (mach_msg_size_t)(sizeof *r - sizeof r->new_state);
    mach_msg_size_t size = r->Head.msgh_size;
    bool error_reply = size == sizeof(mig_reply_error_t) && r->RetCode != KERN_SUCCESS;
    if ((r->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
        ((size < min || size > sizeof *r) && !error_reply)) {
        mach_msg_destroy(&m->h);
        return MIG_TYPE_ERROR;
    }
    if (r->RetCode != KERN_SUCCESS)
        return r->RetCode;
    if (r->new_stateCnt > THREAD_STATE_MAX || size != min + sizeof(natural_t) * r->new_stateCnt) {
        mach_msg_destroy(&m->h);
        return MIG_TYPE_ERROR;
    }
    *flavor = r->flavor;
    if (r->new_stateCnt > *new_stateCnt) {
        memcpy(new_state, r->new_state, sizeof(natural_t) * *new_stateCnt);
        *new_stateCnt = r->new_stateCnt;
        return MIG_ARRAY_TOO_LARGE;
    }
    if (r->new_stateCnt)
        memcpy(new_state, r->new_state, sizeof(natural_t) * r->new_stateCnt);
    *new_stateCnt = r->new_stateCnt;
    return KERN_SUCCESS;
}

UM_EXPORT kern_return_t
exception_raise_state(mach_port_t exception_port, exception_type_t exception,
                      const exception_data_t code, mach_msg_type_number_t codeCnt, int *flavor,
                      const thread_state_t old_state, mach_msg_type_number_t old_stateCnt,
                      thread_state_t new_state, mach_msg_type_number_t *new_stateCnt)
{
    UM_CALL_SCOPE;
    exc_msg m;
    memset(&m, 0, sizeof m);
    __Request__exception_raise_state_t *r = &m.state;
    r->NDR = NDR_record;
    r->exception = exception;
    uint8_t *end =
        exc_put_state_args((uint8_t *)&r->codeCnt, code, codeCnt, *flavor, old_state, old_stateCnt);
    if (!end)
        return MIG_ARRAY_TOO_LARGE;
    mach_msg_return_t mr =
        um_mig_rpc(exception_port, EXC_BASE_ID + 1, &m.h, (mach_msg_size_t)(end - (uint8_t *)&m),
                   &m.h, (mach_msg_size_t)sizeof m);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    return exc_take_state_reply(&m, flavor, new_state, new_stateCnt);
}

UM_EXPORT kern_return_t exception_raise_state_identity(
    mach_port_t exception_port, mach_port_t thread, mach_port_t task, exception_type_t exception,
    exception_data_t code, mach_msg_type_number_t codeCnt, int *flavor, thread_state_t old_state,
    mach_msg_type_number_t old_stateCnt, thread_state_t new_state,
    mach_msg_type_number_t *new_stateCnt)
{
    UM_CALL_SCOPE;
    exc_msg m;
    memset(&m, 0, sizeof m);
    __Request__exception_raise_state_identity_t *r = &m.identity;
    r->msgh_body.msgh_descriptor_count = 2;
    exc_port_desc(&r->thread, thread);
    exc_port_desc(&r->task, task);
    r->NDR = NDR_record;
    r->exception = exception;
    uint8_t *end =
        exc_put_state_args((uint8_t *)&r->codeCnt, code, codeCnt, *flavor, old_state, old_stateCnt);
    if (!end)
        return MIG_ARRAY_TOO_LARGE;
    r->Head.msgh_bits = MACH_MSGH_BITS_COMPLEX;
    mach_msg_return_t mr =
        um_mig_rpc(exception_port, EXC_BASE_ID + 2, &m.h, (mach_msg_size_t)(end - (uint8_t *)&m),
                   &m.h, (mach_msg_size_t)sizeof m);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    return exc_take_state_reply(&m, flavor, new_state, new_stateCnt);
}

/* ---- server -------------------------------------------------------------------------------- */

static void exc_error_reply(mach_msg_header_t *out, kern_return_t kr)
{
    mig_reply_error_t *e = (mig_reply_error_t *)out;
    e->NDR = NDR_record;
    e->RetCode = kr;
}

/* A port descriptor as MIG's server wants it: a send right (the sender's COPY_SEND or
 * MOVE_SEND arrives as MACH_MSG_TYPE_PORT_SEND). */
static bool exc_send_desc(const mach_msg_port_descriptor_t *d)
{
    return d->type == MACH_MSG_PORT_DESCRIPTOR && d->disposition == MACH_MSG_TYPE_PORT_SEND;
}

/* Checks MIG makes of a request with the thread and task descriptors; 0 or the error. */
static kern_return_t exc_check_identity_head(const mach_msg_header_t *in, mach_msg_size_t min,
                                             mach_msg_size_t max)
{
    const __Request__exception_raise_t *r = (const __Request__exception_raise_t *)in;
    if (!(in->msgh_bits & MACH_MSGH_BITS_COMPLEX) || in->msgh_size < min || in->msgh_size > max ||
        r->msgh_body.msgh_descriptor_count != 2)
        return MIG_BAD_ARGUMENTS;
    if (!exc_send_desc(&r->thread) || !exc_send_desc(&r->task))
        return MIG_TYPE_ERROR;
    return KERN_SUCCESS;
}

static void exc_serve_raise(mach_msg_header_t *in, mach_msg_header_t *out)
{
    const __Request__exception_raise_t *r = (const __Request__exception_raise_t *)in;
    const mach_msg_size_t min = (mach_msg_size_t)(sizeof *r - sizeof r->code);
    kern_return_t kr = exc_check_identity_head(in, min, (mach_msg_size_t)sizeof *r);
    if (kr == KERN_SUCCESS &&
        (r->codeCnt > EXC_CODE_MAX || in->msgh_size != min + sizeof(integer_t) * r->codeCnt))
        kr = MIG_BAD_ARGUMENTS;
    if (kr != KERN_SUCCESS) {
        exc_error_reply(out, kr);
        return;
    }
    if (!catch_exception_raise)
        exc_no_catcher("catch_exception_raise");
    integer_t code[EXC_CODE_MAX];
    memcpy(code, r->code, sizeof(integer_t) * r->codeCnt);
    kr = catch_exception_raise(in->msgh_local_port, r->thread.name, r->task.name, r->exception,
                               code, r->codeCnt);
    exc_error_reply(out, kr);
}

/*
 * The state routines' arguments from the code on, at `p` in a request of `size` bytes whose
 * code starts `at` bytes in: checked as MIG does (the arrays within their bounds, the size
 * exactly theirs). Returns KERN_SUCCESS with the fields read and *old_state pointing into the
 * request, or MIG_BAD_ARGUMENTS.
 */
typedef struct {
    mach_msg_type_number_t codeCnt, old_stateCnt;
    integer_t code[EXC_CODE_MAX];
    int flavor;
    natural_t *old_state;
} exc_state_args;

static kern_return_t exc_get_state_args(mach_msg_header_t *in, size_t at, exc_state_args *a)
{
    uint8_t *base = (uint8_t *)in;
    size_t size = in->msgh_size;
    memcpy(&a->codeCnt, base + at - sizeof a->codeCnt, sizeof a->codeCnt);
    if (a->codeCnt > EXC_CODE_MAX)
        return MIG_BAD_ARGUMENTS;
    size_t p = at + sizeof(integer_t) * a->codeCnt;
    if (p + sizeof a->flavor + sizeof a->old_stateCnt > size)
        return MIG_BAD_ARGUMENTS;
    memcpy(a->code, base + at, sizeof(integer_t) * a->codeCnt);
    memcpy(&a->flavor, base + p, sizeof a->flavor);
    memcpy(&a->old_stateCnt, base + p + sizeof a->flavor, sizeof a->old_stateCnt);
    p += sizeof a->flavor + sizeof a->old_stateCnt;
    if (a->old_stateCnt > THREAD_STATE_MAX || size != p + sizeof(natural_t) * a->old_stateCnt)
        return MIG_BAD_ARGUMENTS;
    a->old_state = (natural_t *)(void *)(base + p); /* 4-byte aligned, as every word before */
    return KERN_SUCCESS;
}

/* A state routine's reply: the handler's result, and on success the flavour and state. */
static void exc_state_reply(mach_msg_header_t *out, kern_return_t kr, int flavor,
                            mach_msg_type_number_t cnt)
{
    if (kr != KERN_SUCCESS) {
        exc_error_reply(out, kr);
        return;
    }
    __Reply__exception_raise_state_t *rep = (__Reply__exception_raise_state_t *)out;
    rep->NDR = NDR_record;
    rep->RetCode = KERN_SUCCESS;
    rep->flavor = flavor;
    rep->new_stateCnt = cnt;
    out->msgh_size =
        (mach_msg_size_t)(sizeof *rep - sizeof rep->new_state + sizeof(natural_t) * cnt);
}

static void exc_serve_state(mach_msg_header_t *in, mach_msg_header_t *out)
{
    const __Request__exception_raise_state_t *r = (const __Request__exception_raise_state_t *)in;
    const size_t at = offsetof(__Request__exception_raise_state_t, code);
    exc_state_args a;
    kern_return_t kr = MIG_BAD_ARGUMENTS;
    if (!(in->msgh_bits & MACH_MSGH_BITS_COMPLEX) && in->msgh_size <= sizeof *r &&
        in->msgh_size >= sizeof *r - sizeof r->code - sizeof r->old_state)
        kr = exc_get_state_args(in, at, &a);
    if (kr != KERN_SUCCESS) {
        exc_error_reply(out, kr);
        return;
    }
    if (!catch_exception_raise_state)
        exc_no_catcher("catch_exception_raise_state");
    __Reply__exception_raise_state_t *rep = (__Reply__exception_raise_state_t *)out;
    mach_msg_type_number_t cnt = THREAD_STATE_MAX;
    kr = catch_exception_raise_state(in->msgh_local_port, r->exception, a.code, a.codeCnt,
                                     &a.flavor, a.old_state, a.old_stateCnt, rep->new_state, &cnt);
    exc_state_reply(out, kr, a.flavor, cnt);
}

static void exc_serve_state_identity(mach_msg_header_t *in, mach_msg_header_t *out)
{
    const __Request__exception_raise_state_identity_t *r =
        (const __Request__exception_raise_state_identity_t *)in;
    const size_t at = offsetof(__Request__exception_raise_state_identity_t, code);
    exc_state_args a;
    kern_return_t kr = exc_check_identity_head(
        in, (mach_msg_size_t)(sizeof *r - sizeof r->code - sizeof r->old_state),
        (mach_msg_size_t)sizeof *r);
    if (kr == KERN_SUCCESS)
        kr = exc_get_state_args(in, at, &a);
    if (kr != KERN_SUCCESS) {
        exc_error_reply(out, kr);
        return;
    }
    if (!catch_exception_raise_state_identity)
        exc_no_catcher("catch_exception_raise_state_identity");
    __Reply__exception_raise_state_identity_t *rep =
        (__Reply__exception_raise_state_identity_t *)out;
    mach_msg_type_number_t cnt = THREAD_STATE_MAX;
    kr = catch_exception_raise_state_identity(in->msgh_local_port, r->thread.name, r->task.name,
                                              r->exception, a.code, a.codeCnt, &a.flavor,
                                              a.old_state, a.old_stateCnt, rep->new_state, &cnt);
    exc_state_reply(out, kr, a.flavor, cnt);
}

UM_EXPORT mig_routine_t exc_server_routine(mach_msg_header_t *InHeadP)
{
    UM_CALL_SCOPE;
    switch (InHeadP->msgh_id) {
    case EXC_BASE_ID:
        return exc_serve_raise;
    case EXC_BASE_ID + 1:
        return exc_serve_state;
    case EXC_BASE_ID + 2:
        return exc_serve_state_identity;
    default:
        return NULL;
    }
}

UM_EXPORT boolean_t exc_server(mach_msg_header_t *InHeadP, mach_msg_header_t *OutHeadP)
{
    UM_CALL_SCOPE;
    OutHeadP->msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(InHeadP->msgh_bits), 0);
    OutHeadP->msgh_remote_port = InHeadP->msgh_remote_port;
    OutHeadP->msgh_size = (mach_msg_size_t)sizeof(mig_reply_error_t);
    OutHeadP->msgh_local_port = MACH_PORT_NULL;
    OutHeadP->msgh_id = InHeadP->msgh_id + 100;
    OutHeadP->msgh_voucher_port = MACH_PORT_NULL;
    mig_routine_t routine = exc_server_routine(InHeadP);
    if (!routine) {
        exc_error_reply(OutHeadP, MIG_BAD_ID);
        return FALSE;
    }
    routine(InHeadP, OutHeadP);
    return TRUE;
}
