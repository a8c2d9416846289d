/*
 * um_client_calls.c — the kernel calls in a world: each is one request (the public
 * function's scalar arguments in order, and what it points at when that is an input) and one
 * reply (the result, the out-arguments in order). Layouts: tools/umachd/d_calls.c.
 *
 * As a MIG stub, a call writes its out-arguments only when it succeeds (in/out counts are
 * written back whatever the result, as embedded mode's api leaves them). A MIG out-of-line
 * array comes back as bytes in the reply; it becomes memory of this task (allocated as
 * vm_allocate does) that the program frees with vm_deallocate. No world: every call returns
 * MACH_SEND_INVALID_DEST, as a call on a dead task port does.
 */
#include "um_client.h"
#include "../vm/um_regions.h"
#include "um_client_conn.h"

#include <string.h>

/*
 * One call; *rep is the reply (um_client_reply_free it in every case). No reply, or one without
 * the call's `nout` out-arguments: MACH_SEND_INVALID_DEST with an empty *rep;
 * KERN_RESOURCE_SHORTAGE when the world has no room for another thread of this task.
 */
static kern_return_t cl_call(uint16_t call, const uint64_t *args, uint32_t nargs,
                             const void *blob, uint32_t blob_len, um_wire_pkt *rep, uint32_t nout)
{
    enum cl_rt rt = um_client_roundtrip(call, args, nargs, blob, blob_len, rep, false);
    if (rt == CL_RT_OK) {
        if (rep->h.nargs >= nout)
            return rep->h.kr;
        um_client_reply_free(rep); /* not a reply to this call */
    }
    memset(&rep->h, 0, sizeof rep->h);
    rep->blob = NULL;
    rep->blob_heap = false;
    rep->nfds = 0;
    return rt == CL_RT_NO_THREAD ? KERN_RESOURCE_SHORTAGE : MACH_SEND_INVALID_DEST;
}

/* A call whose reply has no out-arguments. */
static kern_return_t cl_simple(uint16_t call, const uint64_t *args, uint32_t nargs)
{
    um_wire_pkt rep;
    kern_return_t kr = cl_call(call, args, nargs, NULL, 0, &rep, 0);
    um_client_reply_free(&rep);
    return kr;
}

#define ARGS(...) (const uint64_t[]){__VA_ARGS__}, (uint32_t)(sizeof((uint64_t[]){__VA_ARGS__}) / 8)

/* A call (with `blob` as its input bytes) whose one out-argument is written to *out on success. */
static kern_return_t cl_out(uint16_t call, const uint64_t *args, uint32_t nargs, const void *blob,
                            uint32_t blob_len, uint64_t *out)
{
    um_wire_pkt rep;
    kern_return_t kr = cl_call(call, args, nargs, blob, blob_len, &rep, 1);
    if (kr == KERN_SUCCESS)
        *out = rep.args[0];
    um_client_reply_free(&rep);
    return kr;
}

/* The same for a 32-bit out-argument. */
static kern_return_t cl_out32(uint16_t call, const uint64_t *args, uint32_t nargs,
                              const void *blob, uint32_t blob_len, uint32_t *out)
{
    uint64_t v = 0;
    kern_return_t kr = cl_out(call, args, nargs, blob, blob_len, &v);
    if (kr == KERN_SUCCESS)
        *out = (uint32_t)v;
    return kr;
}

/*
 * The reply's arrays (after `nout` out-arguments: their count, their lengths; their bytes
 * are the blob) become task memory: addrs[i] for the array the daemon named D_ITEM_TOKEN(i).
 * false (nothing allocated) when the reply is malformed or memory runs out.
 */
static bool cl_take_items(const um_wire_pkt *rep, uint32_t nout, uint64_t *addrs, unsigned max)
{
    if (rep->h.nargs <= nout)
        return false;
    uint64_t n = rep->args[nout];
    if (n > max || rep->h.nargs != nout + 1 + n)
        return false;
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += rep->args[nout + 1 + i];
    if (total != rep->h.blob_len)
        return false;
    uint64_t at = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = rep->args[nout + 1 + i];
        addrs[i] = 0;
        if (len == 0)
            continue;
        if (um_vm_allocate_region(&addrs[i], len, VM_FLAGS_ANYWHERE) != KERN_SUCCESS) {
            for (uint64_t j = 0; j < i; j++)
                if (addrs[j])
                    um_vm_deallocate_region(addrs[j], rep->args[nout + 1 + j]);
            return false;
        }
        memcpy((void *)(uintptr_t)addrs[i], rep->blob + at, len);
        at += len;
    }
    return true;
}

/* The task address for the array the daemon named `token` (0 stays 0). */
static uint64_t cl_item_addr(uint64_t token, const uint64_t *addrs, unsigned n)
{
    if (token == 0)
        return 0;
    uint64_t i = (token >> 12) - 1;
    return (token & 0xfff) == 0 && i < n ? addrs[i] : 0;
}

kern_return_t um_client_mach_port_allocate(ipc_space_t task, mach_port_right_t right,
                                           mach_port_name_t *name)
{
    return cl_out32(UM_WIRE_PORT_ALLOCATE, ARGS(task, right), NULL, 0, name);
}

kern_return_t um_client_mach_port_allocate_name(ipc_space_t task, mach_port_right_t right,
                                                mach_port_name_t name)
{
    return cl_simple(UM_WIRE_PORT_ALLOCATE_NAME, ARGS(task, right, name));
}

kern_return_t um_client_mach_port_construct(ipc_space_t task, mach_port_options_ptr_t options,
                                            mach_port_context_t context, mach_port_name_t *name)
{
    mach_port_options_t opts = *options; /* MIG copies the options in the caller */
    return cl_out32(UM_WIRE_PORT_CONSTRUCT, ARGS(task, context), &opts, sizeof opts, name);
}

kern_return_t um_client_mach_port_destruct(ipc_space_t task, mach_port_name_t name,
                                           mach_port_delta_t srdelta, mach_port_context_t guard)
{
    return cl_simple(UM_WIRE_PORT_DESTRUCT, ARGS(task, name, (uint32_t)srdelta, guard));
}

kern_return_t um_client_mach_port_deallocate(ipc_space_t task, mach_port_name_t name)
{
    return cl_simple(UM_WIRE_PORT_DEALLOCATE, ARGS(task, name));
}

kern_return_t um_client_mach_port_destroy(ipc_space_t task, mach_port_name_t name)
{
    return cl_simple(UM_WIRE_PORT_DESTROY, ARGS(task, name));
}

kern_return_t um_client_mach_port_mod_refs(ipc_space_t task, mach_port_name_t name,
                                           mach_port_right_t right, mach_port_delta_t delta)
{
    return cl_simple(UM_WIRE_PORT_MOD_REFS, ARGS(task, name, right, (uint32_t)delta));
}

kern_return_t um_client_mach_port_get_refs(ipc_space_t task, mach_port_name_t name,
                                           mach_port_right_t right, mach_port_urefs_t *refs)
{
    return cl_out32(UM_WIRE_PORT_GET_REFS, ARGS(task, name, right), NULL, 0, refs);
}

kern_return_t um_client_mach_port_type(ipc_space_t task, mach_port_name_t name,
                                       mach_port_type_t *ptype)
{
    return cl_out32(UM_WIRE_PORT_TYPE, ARGS(task, name), NULL, 0, ptype);
}

kern_return_t um_client_mach_port_names(ipc_space_t task, mach_port_name_array_t *names,
                                        mach_msg_type_number_t *namesCnt,
                                        mach_port_type_array_t *types,
                                        mach_msg_type_number_t *typesCnt)
{
    um_wire_pkt rep;
    kern_return_t kr = cl_call(UM_WIRE_PORT_NAMES, ARGS(task), NULL, 0, &rep, 4);
    if (kr == KERN_SUCCESS) {
        uint64_t addrs[2];
        if (!cl_take_items(&rep, 4, addrs, 2)) {
            kr = KERN_RESOURCE_SHORTAGE;
        } else {
            *names = (mach_port_name_array_t)(uintptr_t)cl_item_addr(rep.args[0], addrs, 2);
            *namesCnt = (mach_msg_type_number_t)rep.args[1];
            *types = (mach_port_type_array_t)(uintptr_t)cl_item_addr(rep.args[2], addrs, 2);
            *typesCnt = (mach_msg_type_number_t)rep.args[3];
        }
    }
    um_client_reply_free(&rep);
    return kr;
}

kern_return_t um_client_mach_port_insert_right(ipc_space_t task, mach_port_name_t name,
                                               mach_port_t poly, mach_msg_type_name_t polyPoly)
{
    return cl_simple(UM_WIRE_PORT_INSERT_RIGHT, ARGS(task, name, poly, polyPoly));
}

kern_return_t um_client_mach_port_extract_right(ipc_space_t task, mach_port_name_t name,
                                                mach_msg_type_name_t msgt_name, mach_port_t *poly,
                                                mach_msg_type_name_t *polyPoly)
{
    um_wire_pkt rep;
    kern_return_t kr =
        cl_call(UM_WIRE_PORT_EXTRACT_RIGHT, ARGS(task, name, msgt_name), NULL, 0, &rep, 2);
    if (kr == KERN_SUCCESS) {
        *poly = (mach_port_t)rep.args[0];
        *polyPoly = (mach_msg_type_name_t)rep.args[1];
    }
    um_client_reply_free(&rep);
    return kr;
}

/* An info call: *cnt integers in, *cnt (and that many integers) back. */
static kern_return_t cl_info_out(uint16_t call, const uint64_t *args, uint32_t nargs,
                                 integer_t *info, mach_msg_type_number_t *cnt)
{
    um_wire_pkt rep;
    kern_return_t kr = cl_call(call, args, nargs, NULL, 0, &rep, 1);
    uint64_t n = rep.args[0];
    if (rep.h.nargs >= 1 && n <= *cnt) {
        if (n * sizeof(integer_t) <= rep.h.blob_len && rep.h.blob_len)
            memcpy(info, rep.blob, (size_t)n * sizeof(integer_t));
        *cnt = (mach_msg_type_number_t)n;
    }
    um_client_reply_free(&rep);
    return kr;
}

kern_return_t um_client_mach_port_get_attributes(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_flavor_t flavor,
                                                 mach_port_info_t port_info_out,
                                                 mach_msg_type_number_t *port_info_outCnt)
{
    return cl_info_out(UM_WIRE_PORT_GET_ATTRIBUTES,
                       ARGS(task, name, (uint32_t)flavor, *port_info_outCnt), port_info_out,
                       port_info_outCnt);
}

kern_return_t um_client_mach_port_set_attributes(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_flavor_t flavor,
                                                 mach_port_info_t port_info,
                                                 mach_msg_type_number_t port_infoCnt)
{
    enum { INFO_MAX = 1024 }; /* what the daemon takes (TASK_INFO_MAX) */
    uint32_t have = port_infoCnt > INFO_MAX ? INFO_MAX : port_infoCnt;
    um_wire_pkt rep;
    kern_return_t kr =
        cl_call(UM_WIRE_PORT_SET_ATTRIBUTES, ARGS(task, name, (uint32_t)flavor, port_infoCnt),
                port_info, have * (uint32_t)sizeof(integer_t), &rep, 0);
    um_client_reply_free(&rep);
    return kr;
}

kern_return_t um_client_mach_port_set_mscount(ipc_space_t task, mach_port_name_t name,
                                              mach_port_mscount_t mscount)
{
    return cl_simple(UM_WIRE_PORT_SET_MSCOUNT, ARGS(task, name, mscount));
}

kern_return_t um_client_mach_port_set_seqno(ipc_space_t task, mach_port_name_t name,
                                            mach_port_seqno_t seqno)
{
    return cl_simple(UM_WIRE_PORT_SET_SEQNO, ARGS(task, name, seqno));
}

kern_return_t um_client_mach_port_get_context(ipc_space_t task, mach_port_name_t name,
                                              mach_port_context_t *context)
{
    return cl_out(UM_WIRE_PORT_GET_CONTEXT, ARGS(task, name), NULL, 0, context);
}

kern_return_t um_client_mach_port_set_context(ipc_space_t task, mach_port_name_t name,
                                              mach_port_context_t context)
{
    return cl_simple(UM_WIRE_PORT_SET_CONTEXT, ARGS(task, name, context));
}

kern_return_t um_client_mach_port_guard(ipc_space_t task, mach_port_name_t name,
                                        mach_port_context_t guard, boolean_t strict)
{
    return cl_simple(UM_WIRE_PORT_GUARD, ARGS(task, name, guard, (uint32_t)strict));
}

kern_return_t um_client_mach_port_guard_with_flags(ipc_space_t task, mach_port_name_t name,
                                                   mach_port_context_t guard, uint64_t flags)
{
    return cl_simple(UM_WIRE_PORT_GUARD_WITH_FLAGS, ARGS(task, name, guard, flags));
}

kern_return_t um_client_mach_port_unguard(ipc_space_t task, mach_port_name_t name,
                                          mach_port_context_t guard)
{
    return cl_simple(UM_WIRE_PORT_UNGUARD, ARGS(task, name, guard));
}

kern_return_t um_client_mach_port_swap_guard(ipc_space_t task, mach_port_name_t name,
                                             mach_port_context_t old_guard,
                                             mach_port_context_t new_guard)
{
    return cl_simple(UM_WIRE_PORT_SWAP_GUARD, ARGS(task, name, old_guard, new_guard));
}

kern_return_t um_client_mach_port_insert_member(ipc_space_t task, mach_port_name_t name,
                                                mach_port_name_t pset)
{
    return cl_simple(UM_WIRE_PORT_INSERT_MEMBER, ARGS(task, name, pset));
}

kern_return_t um_client_mach_port_extract_member(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_name_t pset)
{
    return cl_simple(UM_WIRE_PORT_EXTRACT_MEMBER, ARGS(task, name, pset));
}

kern_return_t um_client_mach_port_move_member(ipc_space_t task, mach_port_name_t member,
                                              mach_port_name_t after)
{
    return cl_simple(UM_WIRE_PORT_MOVE_MEMBER, ARGS(task, member, after));
}

kern_return_t um_client_mach_port_get_set_status(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_name_array_t *members,
                                                 mach_msg_type_number_t *membersCnt)
{
    um_wire_pkt rep;
    kern_return_t kr = cl_call(UM_WIRE_PORT_GET_SET_STATUS, ARGS(task, name), NULL, 0, &rep, 2);
    if (kr == KERN_SUCCESS) {
        uint64_t addrs[1];
        if (!cl_take_items(&rep, 2, addrs, 1)) {
            kr = KERN_RESOURCE_SHORTAGE;
        } else {
            *members = (mach_port_name_array_t)(uintptr_t)cl_item_addr(rep.args[0], addrs, 1);
            *membersCnt = (mach_msg_type_number_t)rep.args[1];
        }
    }
    um_client_reply_free(&rep);
    return kr;
}

kern_return_t um_client_mach_port_request_notification(ipc_space_t task, mach_port_name_t name,
                                                       mach_msg_id_t msgid,
                                                       mach_port_mscount_t sync,
                                                       mach_port_t notify,
                                                       mach_msg_type_name_t notifyPoly,
                                                       mach_port_t *previous)
{
    return cl_out32(UM_WIRE_PORT_REQUEST_NOTIFICATION,
                    ARGS(task, name, (uint32_t)msgid, sync, notify, notifyPoly), NULL, 0,
                    previous);
}

kern_return_t um_client_mach_port_peek(ipc_space_t task, mach_port_name_t name,
                                       mach_msg_trailer_type_t trailer_type,
                                       mach_port_seqno_t *request_seqnop,
                                       mach_msg_size_t *msg_sizep, mach_msg_id_t *msg_idp,
                                       mach_msg_trailer_info_t trailer_infop,
                                       mach_msg_type_number_t *trailer_infopCnt)
{
    um_wire_pkt rep;
    kern_return_t kr = cl_call(UM_WIRE_PORT_PEEK,
                               ARGS(task, name, (uint32_t)trailer_type, *request_seqnop,
                                    *trailer_infopCnt),
                               NULL, 0, &rep, 4);
    if (kr == KERN_SUCCESS && rep.args[3] <= *trailer_infopCnt && rep.args[3] == rep.h.blob_len) {
        *request_seqnop = (mach_port_seqno_t)rep.args[0];
        *msg_sizep = (mach_msg_size_t)rep.args[1];
        *msg_idp = (mach_msg_id_t)rep.args[2];
        if (rep.h.blob_len)
            memcpy(trailer_infop, rep.blob, rep.h.blob_len);
        *trailer_infopCnt = (mach_msg_type_number_t)rep.args[3];
    }
    um_client_reply_free(&rep);
    return kr;
}

kern_return_t um_client_task_info(task_name_t target_task, task_flavor_t flavor,
                                  task_info_t task_info_out,
                                  mach_msg_type_number_t *task_info_outCnt)
{
    return cl_info_out(UM_WIRE_TASK_INFO, ARGS(target_task, (uint32_t)flavor, *task_info_outCnt),
                       task_info_out, task_info_outCnt);
}

kern_return_t um_client_task_get_special_port(task_inspect_t task, int which_port,
                                              mach_port_t *special_port)
{
    return cl_out32(UM_WIRE_TASK_GET_SPECIAL_PORT, ARGS(task, (uint32_t)which_port), NULL, 0,
                    special_port);
}

kern_return_t um_client_task_set_special_port(task_t task, int which_port,
                                              mach_port_t special_port)
{
    return cl_simple(UM_WIRE_TASK_SET_SPECIAL_PORT, ARGS(task, (uint32_t)which_port, special_port));
}

bool um_client_task_check(mach_port_name_t task)
{
    kern_return_t kr = cl_simple(UM_WIRE_TASK_CHECK, ARGS(task));
    /* A thread the world has no room for cannot ask; our own task port's name is ours
     * (pinned: it never names anything else), so vm_* on it still works there. */
    return kr == KERN_SUCCESS || (kr == KERN_RESOURCE_SHORTAGE && task == mach_task_self_);
}

/* At most one entry per exception number. */
#define UM_EXC_WIRE_MAX 14u

kern_return_t um_client_exception_ports(bool thread, mach_port_name_t target, int op,
                                        exception_mask_t mask, mach_port_t new_port,
                                        exception_behavior_t behavior,
                                        thread_state_flavor_t flavor, exception_mask_array_t masks,
                                        mach_msg_type_number_t *masksCnt,
                                        exception_handler_array_t handlers,
                                        exception_behavior_array_t behaviors,
                                        exception_flavor_array_t flavors)
{
    um_wire_pkt rep;
    kern_return_t kr = cl_call(UM_WIRE_EXC_PORTS,
                               ARGS(thread, target, (uint32_t)op, mask, new_port,
                                    (uint32_t)behavior, (uint32_t)flavor, *masksCnt),
                               NULL, 0, &rep, 1);
    /* The entries (the blob: four 32-bit words each), as the MIG reply carries them: only on
     * success, never more than asked. */
    uint64_t n = rep.h.nargs >= 1 ? rep.args[0] : 0;
    if (kr == KERN_SUCCESS || kr == (MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE)) {
        if (n > *masksCnt || n > UM_EXC_WIRE_MAX || rep.h.blob_len != n * 16u) {
            kr = MACH_SEND_INVALID_DEST; /* not a reply to this call */
        } else {
            for (uint64_t i = 0; i < n; i++) {
                uint32_t e[4];
                memcpy(e, rep.blob + i * sizeof e, sizeof e);
                masks[i] = e[0];
                handlers[i] = e[1];
                behaviors[i] = (exception_behavior_t)e[2];
                flavors[i] = (thread_state_flavor_t)e[3];
            }
            if (op != 0)
                *masksCnt = (mach_msg_type_number_t)n;
        }
    }
    um_client_reply_free(&rep);
    return kr;
}

kern_return_t um_client_task_suspend(task_read_t target_task)
{
    return cl_simple(UM_WIRE_TASK_SUSPEND, ARGS(target_task));
}

kern_return_t um_client_task_resume(task_read_t target_task)
{
    return cl_simple(UM_WIRE_TASK_RESUME, ARGS(target_task));
}

kern_return_t um_client_task_suspend2(task_read_t target_task, mach_port_t *token)
{
    return cl_out32(UM_WIRE_TASK_SUSPEND2, ARGS(target_task), NULL, 0, token);
}

kern_return_t um_client_task_terminate(task_t target_task)
{
    return cl_simple(UM_WIRE_TASK_TERMINATE, ARGS(target_task));
}

kern_return_t um_client_task_get_exc_guard_behavior(task_inspect_t task,
                                                    task_exc_guard_behavior_t *behavior)
{
    return cl_out32(UM_WIRE_TASK_GET_EXC_GUARD, ARGS(task), NULL, 0, behavior);
}

kern_return_t um_client_task_set_exc_guard_behavior(task_t task,
                                                    task_exc_guard_behavior_t behavior)
{
    return cl_simple(UM_WIRE_TASK_SET_EXC_GUARD, ARGS(task, behavior));
}

kern_return_t um_client_mach_port_space_info(ipc_space_t task, ipc_info_space_t *space_info,
                                             ipc_info_name_array_t *table_info,
                                             mach_msg_type_number_t *table_infoCnt,
                                             ipc_info_tree_name_array_t *tree_info,
                                             mach_msg_type_number_t *tree_infoCnt)
{
    um_wire_pkt rep;
    kern_return_t kr = cl_call(UM_WIRE_PORT_SPACE_INFO, ARGS(task), NULL, 0, &rep, 8);
    if (kr == KERN_SUCCESS) {
        uint64_t addrs[2];
        if (!cl_take_items(&rep, 8, addrs, 2)) {
            kr = KERN_RESOURCE_SHORTAGE;
        } else {
            memcpy(space_info, rep.args, sizeof *space_info);
            *table_info = (ipc_info_name_array_t)(uintptr_t)cl_item_addr(rep.args[4], addrs, 2);
            *table_infoCnt = (mach_msg_type_number_t)rep.args[5];
            *tree_info = (ipc_info_tree_name_array_t)(uintptr_t)cl_item_addr(rep.args[6], addrs, 2);
            *tree_infoCnt = (mach_msg_type_number_t)rep.args[7];
        }
    }
    um_client_reply_free(&rep);
    return kr;
}
