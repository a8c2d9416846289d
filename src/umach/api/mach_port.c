/*
 * mach_port.c — the mach_port_* calls of <mach/mach_port.h>.
 *
 * Each call resolves its task argument, takes the world lock, runs the core, and returns
 * the core's code. The order of argument checks and every error code follow XNU's
 * osfmk/ipc/mach_port.c and mach_kernelrpc.c. The task argument is a send right to this
 * task's port or to another task's (a world's task port received in a message): the call
 * acts on that task's space, as XNU's kernel serves it, and a guard exception it raises is
 * the caller's. Anything else gives MACH_SEND_INVALID_DEST, as the Darwin trap and MIG stub
 * do. On another task, mach_port_insert_right and mach_port_request_notification take their
 * right from the caller's space as their MIG request carries it (XNU's traps serve the
 * caller's own task only), with the message's checks and codes.
 */
#include "../kern/um_kmsg.h"
#include "um_api.h"

#include <mach/mach.h>
#include <mach/notify.h>

#include <stdlib.h>
#include <string.h>

#define ENTER(task)                                                                                \
    um_space *space = um_task_target_space(self, task);                                            \
    if (!space)                                                                                    \
        return MACH_SEND_INVALID_DEST;                                                             \
    um_space_enter(space, self)

#define LEAVE(kr) return um_space_leave(space, (kr))

/*
 * The receive right `name` names: NULL and DEAD are KERN_INVALID_RIGHT, as XNU's
 * ipc_port_translate_receive finds no entry for them.
 */
static kern_return_t receive_of(um_space *space, mach_port_name_t name, um_port **portp)
{
    if (!MACH_PORT_VALID(name))
        return KERN_INVALID_RIGHT;
    return um_translate_receive(space, name, portp);
}

/* ---- allocation ---------------------------------------------------------------------------- */


kern_return_t um_api_mach_port_allocate(um_task *self, ipc_space_t task, mach_port_right_t right,
                                        mach_port_name_t *name)
{
    ENTER(task);
    mach_port_name_t n = MACH_PORT_NULL;
    kern_return_t kr = um_port_allocate_right(space, right, false, &n);
    if (kr == KERN_SUCCESS && name)
        *name = n;
    LEAVE(kr);
}

kern_return_t um_api_mach_port_allocate_name(um_task *self, ipc_space_t task,
                                             mach_port_right_t right, mach_port_name_t name)
{
    ENTER(task);
    if (!MACH_PORT_VALID(name))
        LEAVE(KERN_INVALID_VALUE);
    LEAVE(um_port_allocate_right(space, right, true, &name));
}

kern_return_t um_api_mach_port_construct(um_task *self, ipc_space_t task,
                                         mach_port_options_ptr_t options,
                                         mach_port_context_t context, mach_port_name_t *name)
{
    ENTER(task);
    if (!options)
        LEAVE(MACH_SEND_INVALID_DATA); /* the trap cannot copy the options in */
    uint32_t flags = options->flags;
    uint32_t one_of = flags & (MPO_SERVICE_PORT | MPO_CONNECTION_PORT | MPO_TG_BLOCK_TRACKING);
    if (one_of & (one_of - 1))
        LEAVE(KERN_INVALID_ARGUMENT);
    one_of = flags & (MPO_REPLY_PORT | MPO_ENFORCE_REPLY_PORT_SEMANTICS | MPO_EXCEPTION_PORT |
                      MPO_PROVISIONAL_REPLY_PORT);
    if (one_of & (one_of - 1))
        LEAVE(KERN_INVALID_ARGUMENT);
    /* Service/connection ports and thread-group tracking need launchd or the window server. */
    if (flags & (MPO_SERVICE_PORT | MPO_TG_BLOCK_TRACKING))
        LEAVE(KERN_DENIED);
    if (flags & MPO_CONNECTION_PORT) {
        /* A connection port derives from a service port; none exist without launchd. */
        mach_port_name_t sp = options->service_port_name;
        if (sp == MACH_PORT_NULL)
            LEAVE(KERN_INVALID_ARGUMENT);
        if (!MACH_PORT_VALID(sp))
            LEAVE(KERN_INVALID_NAME);
        um_entry *se = um_entry_lookup(space, sp);
        if (!se)
            LEAVE(KERN_INVALID_NAME);
        if (!(se->type & MACH_PORT_TYPE_SEND))
            LEAVE(KERN_INVALID_RIGHT);
        LEAVE(KERN_INVALID_CAPABILITY);
    }
    if ((flags & MPO_QLIMIT) && options->mpl.mpl_qlimit > MACH_PORT_QLIMIT_MAX)
        LEAVE(KERN_INVALID_VALUE);

    mach_port_name_t n = MACH_PORT_NULL;
    kern_return_t kr = um_port_allocate_right(space, MACH_PORT_RIGHT_RECEIVE, false, &n);
    if (kr != KERN_SUCCESS)
        LEAVE(kr);
    um_port_construct_setup(space, n, flags, options->mpl.mpl_qlimit, context);
    if (name)
        *name = n;
    LEAVE(KERN_SUCCESS);
}

kern_return_t um_api_mach_port_destruct(um_task *self, ipc_space_t task, mach_port_name_t name,
                                        mach_port_delta_t srdelta, mach_port_context_t guard)
{
    ENTER(task);
    if (!MACH_PORT_VALID(name))
        LEAVE(KERN_INVALID_NAME);
    um_entry *e = um_entry_lookup(space, name);
    if (!e) {
        um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_NAME);
        LEAVE(KERN_INVALID_NAME);
    }
    LEAVE(um_right_destruct(space, name, e, srdelta, guard));
}

/* ---- references ------------------------------------------------------------------------------ */

kern_return_t um_api_mach_port_deallocate(um_task *self, ipc_space_t task, mach_port_name_t name)
{
    ENTER(task);
    if (!MACH_PORT_VALID(name))
        LEAVE(KERN_SUCCESS);
    um_entry *e = um_entry_lookup(space, name);
    if (!e) {
        um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_NAME);
        LEAVE(KERN_INVALID_NAME);
    }
    LEAVE(um_right_dealloc(space, name, e));
}

kern_return_t um_api_mach_port_destroy(um_task *self, ipc_space_t task, mach_port_name_t name)
{
    ENTER(task);
    if (!MACH_PORT_VALID(name))
        LEAVE(KERN_SUCCESS);
    um_entry *e = um_entry_lookup(space, name);
    if (!e) {
        um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_NAME);
        LEAVE(KERN_INVALID_NAME);
    }
    LEAVE(um_right_destroy(space, name, e, true, 0));
}

kern_return_t um_api_mach_port_mod_refs(um_task *self, ipc_space_t task, mach_port_name_t name,
                                        mach_port_right_t right, mach_port_delta_t delta)
{
    ENTER(task);
    if (right >= MACH_PORT_RIGHT_NUMBER)
        LEAVE(KERN_INVALID_VALUE);
    if (!MACH_PORT_VALID(name)) {
        if (right == MACH_PORT_RIGHT_SEND || right == MACH_PORT_RIGHT_SEND_ONCE)
            LEAVE(KERN_SUCCESS);
        LEAVE(KERN_INVALID_NAME);
    }
    um_entry *e = um_entry_lookup(space, name);
    if (!e) {
        um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_NAME);
        LEAVE(KERN_INVALID_NAME);
    }
    LEAVE(um_right_delta(space, name, e, right, delta));
}

kern_return_t um_api_mach_port_get_refs(um_task *self, ipc_space_t task, mach_port_name_t name,
                                        mach_port_right_t right, mach_port_urefs_t *refs)
{
    ENTER(task);
    if (right >= MACH_PORT_RIGHT_NUMBER)
        LEAVE(KERN_INVALID_VALUE);
    if (!MACH_PORT_VALID(name)) {
        if (right == MACH_PORT_RIGHT_SEND || right == MACH_PORT_RIGHT_SEND_ONCE) {
            *refs = 1;
            LEAVE(KERN_SUCCESS);
        }
        LEAVE(KERN_INVALID_NAME);
    }
    um_entry *e = um_entry_lookup(space, name);
    if (!e)
        LEAVE(KERN_INVALID_NAME);
    mach_port_type_t type = um_right_info(space, name, e);
    mach_port_urefs_t n = 0;
    if (type & MACH_PORT_TYPE(right)) {
        switch (right) {
        case MACH_PORT_RIGHT_SEND_ONCE:
        case MACH_PORT_RIGHT_PORT_SET:
        case MACH_PORT_RIGHT_RECEIVE:
            n = 1;
            break;
        case MACH_PORT_RIGHT_DEAD_NAME:
        case MACH_PORT_RIGHT_SEND:
            n = e->urefs;
            break;
        default:
            break;
        }
    }
    *refs = n;
    LEAVE(KERN_SUCCESS);
}

kern_return_t um_api_mach_port_type(um_task *self, ipc_space_t task, mach_port_name_t name,
                                    mach_port_type_t *ptype)
{
    ENTER(task);
    if (name == MACH_PORT_NULL)
        LEAVE(KERN_INVALID_NAME);
    if (name == MACH_PORT_DEAD) {
        *ptype = MACH_PORT_TYPE_DEAD_NAME;
        LEAVE(KERN_SUCCESS);
    }
    um_entry *e = um_entry_lookup(space, name);
    if (!e)
        LEAVE(KERN_INVALID_NAME);
    *ptype = um_right_info(space, name, e);
    LEAVE(KERN_SUCCESS);
}

kern_return_t um_api_mach_port_names_arrays(um_task *self, ipc_space_t task, um_api_array *names,
                                            um_api_array *types)
{
    ENTER(task);
    uint32_t n = 0;
    for (uint32_t i = 1; i < space->count; i++) {
        um_entry *e = &space->table[i];
        if (e->type)
            um_right_check(space, um_entry_name(space, e), e);
        if (e->type)
            n++;
    }
    um_kernel *kernel = self->kernel;
    *names = (um_api_array){NULL, 0, 0};
    *types = (um_api_array){NULL, 0, 0};
    if (n == 0)
        LEAVE(KERN_SUCCESS);
    size_t nalen = 0, talen = 0;
    mach_port_name_t *na = um_region_alloc(kernel, n * sizeof *na, &nalen);
    mach_port_type_t *ta = um_region_alloc(kernel, n * sizeof *ta, &talen);
    if (!na || !ta) {
        if (na)
            kernel->ops->region_free(kernel, na, nalen);
        if (ta)
            kernel->ops->region_free(kernel, ta, talen);
        LEAVE(KERN_RESOURCE_SHORTAGE);
    }
    uint32_t k = 0;
    for (uint32_t i = 1; i < space->count; i++) {
        um_entry *e = &space->table[i];
        if (!e->type)
            continue;
        mach_port_name_t nm = um_entry_name(space, e);
        na[k] = nm;
        ta[k] = um_right_info(space, nm, e);
        k++;
    }
    *names = (um_api_array){na, nalen, n};
    *types = (um_api_array){ta, talen, n};
    LEAVE(KERN_SUCCESS);
}

kern_return_t um_api_mach_port_names(um_task *self, ipc_space_t task, mach_port_name_array_t *names,
                                     mach_msg_type_number_t *namesCnt,
                                     mach_port_type_array_t *types,
                                     mach_msg_type_number_t *typesCnt)
{
    um_api_array na, ta;
    kern_return_t kr = um_api_mach_port_names_arrays(self, task, &na, &ta);
    if (kr != KERN_SUCCESS)
        return kr;
    /* MIG out-of-line arrays: page-backed memory the caller frees with vm_deallocate. */
    uint64_t naddr = 0, taddr = 0;
    if (na.count) {
        um_kernel *kernel = self->kernel;
        naddr = um_task_give_region(self, na.region, na.len);
        if (!naddr) {
            kernel->ops->region_free(kernel, ta.region, ta.len);
            return KERN_RESOURCE_SHORTAGE;
        }
        taddr = um_task_give_region(self, ta.region, ta.len);
        if (!taddr) {
            self->mem->unmap(self, naddr, na.len);
            return KERN_RESOURCE_SHORTAGE;
        }
    }
    *names = (mach_port_name_array_t)(uintptr_t)naddr;
    *types = (mach_port_type_array_t)(uintptr_t)taddr;
    *namesCnt = na.count;
    *typesCnt = ta.count;
    return KERN_SUCCESS;
}

/* ---- moving rights --------------------------------------------------------------------------- */

kern_return_t um_api_insert_taken(um_space *space, um_port *port, mach_msg_type_name_t type,
                                  mach_port_name_t name)
{
    kern_return_t kr;
    if (!MACH_PORT_VALID(name) || !MACH_MSG_TYPE_PORT_ANY_RIGHT(type))
        kr = KERN_INVALID_VALUE;
    else if (!UM_PORT_VALID(port))
        kr = KERN_INVALID_CAPABILITY;
    else
        kr = um_right_copyout_name(space, port, type, name);
    if (kr != KERN_SUCCESS && UM_PORT_VALID(port))
        um_right_release(port, type);
    return kr;
}

/*
 * The disposition a MIG request's port descriptor carries for a polymorphic argument: the
 * stub stores the caller's value in the descriptor's 8-bit field unchecked, so the kernel
 * sees its low byte alone (0x100 | MACH_MSG_TYPE_MAKE_SEND_ONCE makes a send-once right).
 */
static mach_msg_type_name_t request_disposition(mach_msg_type_name_t poly)
{
    return poly & 0xffu;
}

/*
 * mach_port_insert_right on another task's space, which XNU serves through MIG (its trap
 * takes the caller's own task only): the right comes from the caller's space as the request's
 * port descriptor, with the message's checks and codes, and the routine names it `name` in
 * `space`. A routine that fails destroys the request, the right it carried with it.
 */
static kern_return_t insert_into_another(um_task *self, um_space *space, mach_port_name_t name,
                                         mach_port_t poly, mach_msg_type_name_t polyPoly)
{
    mach_msg_type_name_t disp = request_disposition(polyPoly);
    um_port *port = NULL;
    mach_msg_return_t mr = um_kmsg_copyin_port(self->space, poly, disp, &port);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    return um_api_insert_taken(space, port, um_copyin_type(disp), name);
}

kern_return_t um_api_mach_port_insert_right(um_task *self, ipc_space_t task, mach_port_name_t name,
                                            mach_port_t poly, mach_msg_type_name_t polyPoly)
{
    ENTER(task);
    if (space != self->space)
        LEAVE(insert_into_another(self, space, name, poly, polyPoly));
    kern_return_t kr;
    if (name == poly &&
        (polyPoly == MACH_MSG_TYPE_MAKE_SEND || polyPoly == MACH_MSG_TYPE_COPY_SEND)) {
        /* The same name gains a send uref (XNU's fast path). */
        LEAVE(um_right_insert_same_name(space, name, polyPoly));
    }

    /*
     * Take the right named `poly` as a naked right first, as the trap does (a NULL or DEAD
     * poly is not a name: KERN_INVALID_NAME; a dead name copies in as MACH_PORT_DEAD).
     */
    um_port *port = NULL;
    kr = um_right_copyin(space, poly, polyPoly, UM_COPYIN_DEADOK, &port);
    if (kr != KERN_SUCCESS)
        LEAVE(kr);
    LEAVE(um_api_insert_taken(space, port, um_copyin_type(polyPoly), name));
}

kern_return_t um_api_mach_port_extract_right(um_task *self, ipc_space_t task, mach_port_name_t name,
                                             mach_msg_type_name_t msgt_name, mach_port_t *poly,
                                             mach_msg_type_name_t *polyPoly)
{
    ENTER(task);
    if (!MACH_MSG_TYPE_PORT_ANY(msgt_name))
        LEAVE(KERN_INVALID_VALUE);
    if (!MACH_PORT_VALID(name))
        LEAVE(KERN_INVALID_RIGHT);
    um_port *port = NULL;
    kern_return_t kr = um_right_copyin(space, name, msgt_name, UM_COPYIN_DEADOK, &port);
    if (kr != KERN_SUCCESS)
        LEAVE(kr);
    mach_msg_type_name_t type = um_copyin_type(msgt_name);
    /* The right travels back to the caller's space in the reply, as MIG does. */
    mach_port_name_t out = MACH_PORT_DEAD;
    if (UM_PORT_VALID(port)) {
        if (!port->active) {
            um_right_release(port, type);
        } else if (um_right_copyout(self->space, port, type, &out) != KERN_SUCCESS) {
            /*
             * No name for it in the caller's space: on Darwin the MIG reply's body fails to
             * copy out, the right is destroyed and the stub returns the receive error.
             */
            LEAVE(MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE); /* copyout consumed the right */
        }
    }
    *poly = out;
    *polyPoly = type;
    LEAVE(KERN_SUCCESS);
}

/* ---- attributes ---------------------------------------------------------------------------- */



kern_return_t um_api_mach_port_get_attributes(um_task *self, ipc_space_t task,
                                              mach_port_name_t name, mach_port_flavor_t flavor,
                                              mach_port_info_t port_info_out,
                                              mach_msg_type_number_t *port_info_outCnt)
{
    ENTER(task);
    um_port *port;
    kern_return_t kr;
    switch (flavor) {
    case MACH_PORT_LIMITS_INFO: {
        if (*port_info_outCnt < MACH_PORT_LIMITS_INFO_COUNT)
            LEAVE(KERN_FAILURE);
        if (!MACH_PORT_VALID(name)) {
            *port_info_outCnt = 0;
            LEAVE(KERN_SUCCESS);
        }
        if ((kr = um_translate_receive(space, name, &port)) != KERN_SUCCESS)
            LEAVE(kr);
        mach_port_limits_t lim = {.mpl_qlimit = port->qlimit};
        memcpy(port_info_out, &lim, sizeof lim);
        *port_info_outCnt = MACH_PORT_LIMITS_INFO_COUNT;
        LEAVE(KERN_SUCCESS);
    }
    case MACH_PORT_RECEIVE_STATUS: {
        if (*port_info_outCnt < MACH_PORT_RECEIVE_STATUS_COUNT)
            LEAVE(KERN_FAILURE);
        if ((kr = receive_of(space, name, &port)) != KERN_SUCCESS)
            LEAVE(kr);
        mach_port_status_t st;
        um_port_status(port, &st);
        memcpy(port_info_out, &st, sizeof st);
        *port_info_outCnt = MACH_PORT_RECEIVE_STATUS_COUNT;
        LEAVE(KERN_SUCCESS);
    }
    case MACH_PORT_DNREQUESTS_SIZE: {
        if (*port_info_outCnt < MACH_PORT_DNREQUESTS_SIZE_COUNT)
            LEAVE(KERN_FAILURE);
        int v = 0;
        if (!MACH_PORT_VALID(name)) {
            memcpy(port_info_out, &v, sizeof v);
            LEAVE(KERN_SUCCESS);
        }
        if ((kr = um_translate_receive(space, name, &port)) != KERN_SUCCESS)
            LEAVE(kr);
        v = (int)um_rare(port)->caprequests;
        memcpy(port_info_out, &v, sizeof v);
        *port_info_outCnt = MACH_PORT_DNREQUESTS_SIZE_COUNT;
        LEAVE(KERN_SUCCESS);
    }
    case MACH_PORT_INFO_EXT: {
        if (*port_info_outCnt < MACH_PORT_INFO_EXT_COUNT)
            LEAVE(KERN_FAILURE);
        if ((kr = receive_of(space, name, &port)) != KERN_SUCCESS)
            LEAVE(kr);
        mach_port_info_ext_t ext;
        memset(&ext, 0, sizeof ext);
        um_port_status(port, &ext.mpie_status);
        memcpy(port_info_out, &ext, sizeof ext);
        *port_info_outCnt = MACH_PORT_INFO_EXT_COUNT;
        LEAVE(KERN_SUCCESS);
    }
    case MACH_PORT_GUARD_INFO: {
        /* Darwin's mach_port_get_attributes has no GUARD_INFO case in this era. */
        LEAVE(KERN_INVALID_ARGUMENT);
    }
    case MACH_PORT_SERVICE_THROTTLED: {
        if ((kr = receive_of(space, name, &port)) != KERN_SUCCESS)
            LEAVE(kr);
        LEAVE(KERN_INVALID_CAPABILITY); /* no service ports without launchd */
    }
    default:
        LEAVE(KERN_INVALID_ARGUMENT);
    }
}

kern_return_t um_api_mach_port_set_attributes(um_task *self, ipc_space_t task,
                                              mach_port_name_t name, mach_port_flavor_t flavor,
                                              mach_port_info_t port_info,
                                              mach_msg_type_number_t port_infoCnt)
{
    ENTER(task);
    um_port *port;
    kern_return_t kr;
    switch (flavor) {
    case MACH_PORT_LIMITS_INFO: {
        if (port_infoCnt < MACH_PORT_LIMITS_INFO_COUNT)
            LEAVE(KERN_FAILURE);
        mach_port_limits_t lim;
        memcpy(&lim, port_info, sizeof lim);
        if (lim.mpl_qlimit > MACH_PORT_QLIMIT_MAX)
            LEAVE(KERN_INVALID_VALUE);
        if ((kr = receive_of(space, name, &port)) != KERN_SUCCESS)
            LEAVE(kr);
        um_mqueue_set_qlimit(port, lim.mpl_qlimit);
        LEAVE(KERN_SUCCESS);
    }
    case MACH_PORT_DNREQUESTS_SIZE:
        if (port_infoCnt < MACH_PORT_DNREQUESTS_SIZE_COUNT)
            LEAVE(KERN_FAILURE);
        LEAVE(receive_of(space, name, &port));
    case MACH_PORT_TEMPOWNER:
        if ((kr = receive_of(space, name, &port)) != KERN_SUCCESS)
            LEAVE(kr);
        um_port_set_importance(port, true);
        LEAVE(KERN_SUCCESS);
    case MACH_PORT_DENAP_RECEIVER:
    case MACH_PORT_IMPORTANCE_RECEIVER:
        if ((kr = receive_of(space, name, &port)) != KERN_SUCCESS)
            LEAVE(kr);
        um_port_set_importance(port, false);
        LEAVE(KERN_SUCCESS);
    case MACH_PORT_SERVICE_THROTTLED:
        if ((kr = receive_of(space, name, &port)) != KERN_SUCCESS)
            LEAVE(kr);
        LEAVE(KERN_INVALID_CAPABILITY);
    default:
        LEAVE(KERN_INVALID_ARGUMENT);
    }
}

kern_return_t um_api_mach_port_set_mscount(um_task *self, ipc_space_t task, mach_port_name_t name,
                                           mach_port_mscount_t mscount)
{
    ENTER(task);
    um_port *port;
    kern_return_t kr = receive_of(space, name, &port);
    if (kr == KERN_SUCCESS)
        um_port_set_mscount(port, mscount);
    LEAVE(kr);
}

kern_return_t um_api_mach_port_set_seqno(um_task *self, ipc_space_t task, mach_port_name_t name,
                                         mach_port_seqno_t seqno)
{
    ENTER(task);
    um_port *port;
    kern_return_t kr = receive_of(space, name, &port);
    if (kr == KERN_SUCCESS)
        um_port_set_seqno(port, seqno);
    LEAVE(kr);
}

kern_return_t um_api_mach_port_get_context(um_task *self, ipc_space_t task, mach_port_name_t name,
                                           mach_port_context_t *context)
{
    ENTER(task);
    um_port *port;
    kern_return_t kr = receive_of(space, name, &port);
    if (kr == KERN_SUCCESS)
        *context = port->strict_guard ? 0 : port->context;
    LEAVE(kr);
}

kern_return_t um_api_mach_port_set_context(um_task *self, ipc_space_t task, mach_port_name_t name,
                                           mach_port_context_t context)
{
    ENTER(task);
    um_port *port;
    kern_return_t kr = receive_of(space, name, &port);
    if (kr != KERN_SUCCESS)
        LEAVE(kr);
    LEAVE(um_port_set_context(space, name, port, context));
}

/* ---- guards ---------------------------------------------------------------------------------- */

/* What a guard call does to the port, once the port is found. */
enum guard_op { GUARD_SET, GUARD_REMOVE, GUARD_SWAP };

/*
 * The guard calls: NULL and DEAD are KERN_INVALID_NAME, then the name must hold the receive
 * right (um_port_guard_translate), then `op` with its two values (set: guard and flags;
 * remove: guard; swap: old and new guard).
 */
static kern_return_t guard_call(um_task *self, ipc_space_t task, mach_port_name_t name,
                                enum guard_op op, mach_port_context_t a, uint64_t b)
{
    ENTER(task);
    if (!MACH_PORT_VALID(name))
        LEAVE(KERN_INVALID_NAME);
    um_port *port;
    kern_return_t kr = um_port_guard_translate(space, name, &port);
    if (kr != KERN_SUCCESS)
        LEAVE(kr);
    switch (op) {
    case GUARD_SET:
        LEAVE(um_port_guard(space, name, port, a, b));
    case GUARD_REMOVE:
        LEAVE(um_port_unguard(space, name, port, a));
    case GUARD_SWAP:
        LEAVE(um_port_swap_guard(space, name, port, a, (mach_port_context_t)b));
    }
    LEAVE(KERN_INVALID_ARGUMENT); /* no other op */
}

kern_return_t um_api_mach_port_guard(um_task *self, ipc_space_t task, mach_port_name_t name,
                                     mach_port_context_t guard, boolean_t strict)
{
    return guard_call(self, task, name, GUARD_SET, guard, strict ? MPG_STRICT : 0);
}

kern_return_t um_api_mach_port_guard_with_flags(um_task *self, ipc_space_t task,
                                                mach_port_name_t name, mach_port_context_t guard,
                                                uint64_t flags)
{
    return guard_call(self, task, name, GUARD_SET, guard, flags);
}

kern_return_t um_api_mach_port_unguard(um_task *self, ipc_space_t task, mach_port_name_t name,
                                       mach_port_context_t guard)
{
    return guard_call(self, task, name, GUARD_REMOVE, guard, 0);
}

kern_return_t um_api_mach_port_swap_guard(um_task *self, ipc_space_t task, mach_port_name_t name,
                                          mach_port_context_t old_guard,
                                          mach_port_context_t new_guard)
{
    return guard_call(self, task, name, GUARD_SWAP, old_guard, new_guard);
}

/* ---- port sets --------------------------------------------------------------------------------- */


kern_return_t um_api_mach_port_insert_member(um_task *self, ipc_space_t task, mach_port_name_t name,
                                             mach_port_name_t pset)
{
    ENTER(task);
    if (!MACH_PORT_VALID(name) || !MACH_PORT_VALID(pset))
        LEAVE(KERN_INVALID_RIGHT);
    um_port *port;
    um_pset *set;
    kern_return_t kr = um_translate_port_pset(space, name, &port, pset, &set);
    if (kr != KERN_SUCCESS)
        LEAVE(kr);
    LEAVE(um_pset_add(set, port));
}

kern_return_t um_api_mach_port_extract_member(um_task *self, ipc_space_t task,
                                              mach_port_name_t name, mach_port_name_t pset)
{
    ENTER(task);
    if (!MACH_PORT_VALID(name) || !MACH_PORT_VALID(pset))
        LEAVE(KERN_INVALID_RIGHT);
    um_port *port;
    um_pset *set;
    kern_return_t kr = um_translate_port_pset(space, name, &port, pset, &set);
    if (kr != KERN_SUCCESS)
        LEAVE(kr);
    LEAVE(um_pset_remove(set, port));
}

kern_return_t um_api_mach_port_move_member(um_task *self, ipc_space_t task, mach_port_name_t member,
                                           mach_port_name_t after)
{
    ENTER(task);
    if (!MACH_PORT_VALID(member))
        LEAVE(KERN_INVALID_RIGHT);
    if (after == MACH_PORT_DEAD)
        LEAVE(KERN_INVALID_RIGHT);
    um_port *port;
    um_pset *set = NULL;
    kern_return_t kr;
    if (after != MACH_PORT_NULL)
        kr = um_translate_port_pset(space, member, &port, after, &set);
    else
        kr = um_translate_receive(space, member, &port);
    if (kr != KERN_SUCCESS)
        LEAVE(kr);
    LEAVE(um_port_move_member(port, set));
}

static int name_cmp(const void *a, const void *b)
{
    mach_port_name_t x = *(const mach_port_name_t *)a, y = *(const mach_port_name_t *)b;
    return x < y ? -1 : x > y;
}

kern_return_t um_api_mach_port_get_set_status_array(um_task *self, ipc_space_t task,
                                                    mach_port_name_t name, um_api_array *members)
{
    ENTER(task);
    *members = (um_api_array){NULL, 0, 0};
    if (!MACH_PORT_VALID(name))
        LEAVE(KERN_INVALID_RIGHT);
    um_pset *set;
    kern_return_t kr = um_translate_pset(space, name, &set);
    if (kr != KERN_SUCCESS)
        LEAVE(kr);
    uint32_t n = set->nmembers;
    if (n) {
        size_t len;
        mach_port_name_t *arr = um_region_alloc(self->kernel, n * sizeof *arr, &len);
        if (!arr)
            LEAVE(KERN_RESOURCE_SHORTAGE);
        um_pset_member_names(set, arr);
        qsort(arr, n, sizeof *arr, name_cmp);
        *members = (um_api_array){arr, len, n};
    }
    LEAVE(KERN_SUCCESS);
}

kern_return_t um_api_mach_port_get_set_status(um_task *self, ipc_space_t task,
                                              mach_port_name_t name,
                                              mach_port_name_array_t *members,
                                              mach_msg_type_number_t *membersCnt)
{
    um_api_array arr;
    kern_return_t kr = um_api_mach_port_get_set_status_array(self, task, name, &arr);
    if (kr != KERN_SUCCESS)
        return kr;
    uint64_t addr = 0;
    if (arr.count) {
        addr = um_task_give_region(self, arr.region, arr.len);
        if (!addr)
            return KERN_RESOURCE_SHORTAGE;
    }
    *members = (mach_port_name_array_t)(uintptr_t)addr;
    *membersCnt = arr.count;
    return KERN_SUCCESS;
}

/* ---- notification requests --------------------------------------------------------------- */



/*
 * The notify right of a request on another task's space, which XNU serves through MIG (its
 * trap takes the caller's own task and a send-once right only), or of one on the caller's
 * own with another right (the trap refuses it and libsyscall sends the MIG request): it comes from the caller's space as the request's
 * port descriptor, with the message's checks and codes, and the kernel's MIG server takes a
 * send-once right only (MIG_TYPE_ERROR otherwise, the request and the right it carried
 * destroyed). On success *npp is the caller's naked send-once right, NULL or UM_PORT_DEAD.
 */
static kern_return_t notify_from_request(um_task *self, mach_port_t notify,
                                         mach_msg_type_name_t notifyPoly, um_port **npp)
{
    mach_msg_type_name_t disp = request_disposition(notifyPoly);
    mach_msg_return_t mr = um_kmsg_copyin_port(self->space, notify, disp, npp);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    mach_msg_type_name_t type = um_copyin_type(disp);
    if (type != MACH_MSG_TYPE_PORT_SEND_ONCE) {
        if (UM_PORT_VALID(*npp))
            um_right_release(*npp, type);
        return MIG_TYPE_ERROR;
    }
    return KERN_SUCCESS;
}

kern_return_t um_api_mach_port_request_notification(um_task *self, ipc_space_t task,
                                                    mach_port_name_t name, mach_msg_id_t msgid,
                                                    mach_port_mscount_t sync, mach_port_t notify,
                                                    mach_msg_type_name_t notifyPoly,
                                                    mach_port_t *previous)
{
    ENTER(task);
    bool own = space == self->space;
    um_port *np = NULL;
    kern_return_t kr = KERN_SUCCESS;
    if (!own || um_copyin_type(notifyPoly) != MACH_MSG_TYPE_PORT_SEND_ONCE) {
        /* On the caller's own task too, XNU's trap refuses any other right with
         * MACH_SEND_INVALID_DEST and libsyscall then sends the MIG request, whose error
         * destroys the right it carried: a moved right goes, a made or copied one is made
         * and released (the caller keeps its own reference). */
        kr = notify_from_request(self, notify, notifyPoly, &np);
    } else if (MACH_PORT_VALID(notify)) {
        kr = um_right_copyin(space, notify, notifyPoly, UM_COPYIN_DEADOK, &np);
    } else {
        np = notify == MACH_PORT_DEAD ? UM_PORT_DEAD : NULL;
    }
    if (kr != KERN_SUCCESS)
        LEAVE(kr);
    /* What the notification will need is taken now, so that it can never be lost later. */
    um_kmsg *reserve = NULL;
    if (UM_PORT_VALID(np) && (reserve = um_notify_reserve()) == NULL) {
        um_right_release(np, MACH_MSG_TYPE_PORT_SEND_ONCE);
        LEAVE(KERN_RESOURCE_SHORTAGE);
    }
    um_port *prev = NULL;
    kr = um_request_notification(space, name, msgid, sync, np, &reserve, &prev);
    um_notify_reserve_free(reserve); /* not used: an error, or no right to notify */
    if (kr != KERN_SUCCESS) {
        if (UM_PORT_VALID(np))
            um_right_release(np, MACH_MSG_TYPE_PORT_SEND_ONCE);
        LEAVE(kr);
    }
    /* The previous send-once right comes to the caller's space (in the MIG reply on another
     * task's: a dead port's as MACH_PORT_DEAD, no room for it the reply's body error). */
    mach_port_name_t prev_name = MACH_PORT_NULL;
    if (UM_PORT_VALID(prev)) {
        if (!own && !prev->active) {
            um_right_release(prev, MACH_MSG_TYPE_PORT_SEND_ONCE);
            prev_name = MACH_PORT_DEAD;
        } else {
            kr = um_right_copyout(self->space, prev, MACH_MSG_TYPE_PORT_SEND_ONCE, &prev_name);
            if (kr != KERN_SUCCESS)
                LEAVE(own ? kr : MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE);
        }
    }
    *previous = prev_name;
    LEAVE(KERN_SUCCESS);
}
