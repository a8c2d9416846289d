/*
 * um_calls.c — the public Mach calls that are kernel calls: each one enters the front end that
 * serves this process, runs the api-level function (api/um_api.h) for the calling task, and
 * leaves. In embedded mode (the process is its own world) that is the world lock around the
 * api call; in a world (UMACH_WORLD, src/umach/client/) the call goes to umachd, which runs
 * the same api function for this process's task. Embedded mode pays one predictable branch.
 * See docs/umach-internals.md, "The seam", and docs/world.md.
 */
#include "um_calls.h"
#include "../api/um_api.h"
#include "../client/um_client.h"
#include "../embedded/um_embedded.h"
#include "../um_export.h"

#define UM_CALL(fn, ...)                                                                           \
    do {                                                                                           \
        if (um_client_active())                                                                    \
            return um_client_##fn(__VA_ARGS__);                                                    \
        um_task *self_ = um_embedded_enter();                                                      \
        kern_return_t kr_ = um_api_##fn(self_, __VA_ARGS__);                                       \
        um_embedded_leave();                                                                       \
        return kr_;                                                                                \
    } while (0)

UM_EXPORT kern_return_t mach_port_allocate(ipc_space_t task, mach_port_right_t right,
                                           mach_port_name_t *name)
{
    UM_CALL(mach_port_allocate, task, right, name);
}

UM_EXPORT kern_return_t mach_port_allocate_name(ipc_space_t task, mach_port_right_t right,
                                                mach_port_name_t name)
{
    UM_CALL(mach_port_allocate_name, task, right, name);
}

UM_EXPORT kern_return_t mach_port_construct(ipc_space_t task, mach_port_options_ptr_t options,
                                            mach_port_context_t context, mach_port_name_t *name)
{
    UM_CALL(mach_port_construct, task, options, context, name);
}

UM_EXPORT kern_return_t mach_port_destruct(ipc_space_t task, mach_port_name_t name,
                                           mach_port_delta_t srdelta, mach_port_context_t guard)
{
    UM_CALL(mach_port_destruct, task, name, srdelta, guard);
}

UM_EXPORT kern_return_t mach_port_deallocate(ipc_space_t task, mach_port_name_t name)
{
    UM_CALL(mach_port_deallocate, task, name);
}

UM_EXPORT kern_return_t mach_port_destroy(ipc_space_t task, mach_port_name_t name)
{
    UM_CALL(mach_port_destroy, task, name);
}

UM_EXPORT kern_return_t mach_port_mod_refs(ipc_space_t task, mach_port_name_t name,
                                           mach_port_right_t right, mach_port_delta_t delta)
{
    UM_CALL(mach_port_mod_refs, task, name, right, delta);
}

UM_EXPORT kern_return_t mach_port_get_refs(ipc_space_t task, mach_port_name_t name,
                                           mach_port_right_t right, mach_port_urefs_t *refs)
{
    UM_CALL(mach_port_get_refs, task, name, right, refs);
}

UM_EXPORT kern_return_t mach_port_type(ipc_space_t task, mach_port_name_t name,
                                       mach_port_type_t *ptype)
{
    UM_CALL(mach_port_type, task, name, ptype);
}

UM_EXPORT kern_return_t mach_port_names(ipc_space_t task, mach_port_name_array_t *names,
                                        mach_msg_type_number_t *namesCnt,
                                        mach_port_type_array_t *types,
                                        mach_msg_type_number_t *typesCnt)
{
    UM_CALL(mach_port_names, task, names, namesCnt, types, typesCnt);
}

UM_EXPORT kern_return_t mach_port_insert_right(ipc_space_t task, mach_port_name_t name,
                                               mach_port_t poly, mach_msg_type_name_t polyPoly)
{
    UM_CALL(mach_port_insert_right, task, name, poly, polyPoly);
}

UM_EXPORT kern_return_t mach_port_extract_right(ipc_space_t task, mach_port_name_t name,
                                                mach_msg_type_name_t msgt_name, mach_port_t *poly,
                                                mach_msg_type_name_t *polyPoly)
{
    UM_CALL(mach_port_extract_right, task, name, msgt_name, poly, polyPoly);
}

UM_EXPORT kern_return_t mach_port_get_attributes(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_flavor_t flavor,
                                                 mach_port_info_t port_info_out,
                                                 mach_msg_type_number_t *port_info_outCnt)
{
    UM_CALL(mach_port_get_attributes, task, name, flavor, port_info_out, port_info_outCnt);
}

UM_EXPORT kern_return_t mach_port_set_attributes(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_flavor_t flavor,
                                                 mach_port_info_t port_info,
                                                 mach_msg_type_number_t port_infoCnt)
{
    UM_CALL(mach_port_set_attributes, task, name, flavor, port_info, port_infoCnt);
}

UM_EXPORT kern_return_t mach_port_set_mscount(ipc_space_t task, mach_port_name_t name,
                                              mach_port_mscount_t mscount)
{
    UM_CALL(mach_port_set_mscount, task, name, mscount);
}

UM_EXPORT kern_return_t mach_port_set_seqno(ipc_space_t task, mach_port_name_t name,
                                            mach_port_seqno_t seqno)
{
    UM_CALL(mach_port_set_seqno, task, name, seqno);
}

UM_EXPORT kern_return_t mach_port_get_context(ipc_space_t task, mach_port_name_t name,
                                              mach_port_context_t *context)
{
    UM_CALL(mach_port_get_context, task, name, context);
}

UM_EXPORT kern_return_t mach_port_set_context(ipc_space_t task, mach_port_name_t name,
                                              mach_port_context_t context)
{
    UM_CALL(mach_port_set_context, task, name, context);
}

UM_EXPORT kern_return_t mach_port_guard(ipc_space_t task, mach_port_name_t name,
                                        mach_port_context_t guard, boolean_t strict)
{
    UM_CALL(mach_port_guard, task, name, guard, strict);
}

UM_EXPORT kern_return_t mach_port_guard_with_flags(ipc_space_t task, mach_port_name_t name,
                                                   mach_port_context_t guard, uint64_t flags)
{
    UM_CALL(mach_port_guard_with_flags, task, name, guard, flags);
}

UM_EXPORT kern_return_t mach_port_unguard(ipc_space_t task, mach_port_name_t name,
                                          mach_port_context_t guard)
{
    UM_CALL(mach_port_unguard, task, name, guard);
}

UM_EXPORT kern_return_t mach_port_swap_guard(ipc_space_t task, mach_port_name_t name,
                                             mach_port_context_t old_guard,
                                             mach_port_context_t new_guard)
{
    UM_CALL(mach_port_swap_guard, task, name, old_guard, new_guard);
}

UM_EXPORT kern_return_t mach_port_insert_member(ipc_space_t task, mach_port_name_t name,
                                                mach_port_name_t pset)
{
    UM_CALL(mach_port_insert_member, task, name, pset);
}

UM_EXPORT kern_return_t mach_port_extract_member(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_name_t pset)
{
    UM_CALL(mach_port_extract_member, task, name, pset);
}

UM_EXPORT kern_return_t mach_port_move_member(ipc_space_t task, mach_port_name_t member,
                                              mach_port_name_t after)
{
    UM_CALL(mach_port_move_member, task, member, after);
}

UM_EXPORT kern_return_t mach_port_get_set_status(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_name_array_t *members,
                                                 mach_msg_type_number_t *membersCnt)
{
    UM_CALL(mach_port_get_set_status, task, name, members, membersCnt);
}

UM_EXPORT kern_return_t mach_port_request_notification(ipc_space_t task, mach_port_name_t name,
                                                       mach_msg_id_t msgid,
                                                       mach_port_mscount_t sync, mach_port_t notify,
                                                       mach_msg_type_name_t notifyPoly,
                                                       mach_port_t *previous)
{
    UM_CALL(mach_port_request_notification, task, name, msgid, sync, notify, notifyPoly, previous);
}

UM_EXPORT kern_return_t mach_port_peek(ipc_space_t task, mach_port_name_t name,
                                       mach_msg_trailer_type_t trailer_type,
                                       mach_port_seqno_t *request_seqnop,
                                       mach_msg_size_t *msg_sizep, mach_msg_id_t *msg_idp,
                                       mach_msg_trailer_info_t trailer_infop,
                                       mach_msg_type_number_t *trailer_infopCnt)
{
    UM_CALL(mach_port_peek, task, name, trailer_type, request_seqnop, msg_sizep, msg_idp,
            trailer_infop, trailer_infopCnt);
}

UM_EXPORT kern_return_t task_info(task_name_t target_task, task_flavor_t flavor,
                                  task_info_t task_info_out,
                                  mach_msg_type_number_t *task_info_outCnt)
{
    UM_CALL(task_info, target_task, flavor, task_info_out, task_info_outCnt);
}

UM_EXPORT kern_return_t task_get_special_port(task_inspect_t task, int which_port,
                                              mach_port_t *special_port)
{
    UM_CALL(task_get_special_port, task, which_port, special_port);
}

UM_EXPORT kern_return_t task_set_special_port(task_t task, int which_port,
                                              mach_port_t special_port)
{
    UM_CALL(task_set_special_port, task, which_port, special_port);
}

bool um_call_task_check(mach_port_name_t task)
{
    if (um_client_active())
        return um_client_task_check(task);
    um_task *self = um_embedded_enter();
    bool ok = um_api_task_check(self, task);
    um_embedded_leave();
    return ok;
}

/* ---- mach_msg: the front end sends, receives and waits ------------------------------------- */

UM_EXPORT mach_msg_return_t mach_msg_overwrite(mach_msg_header_t *msg, mach_msg_option_t option,
                                               mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                               mach_port_name_t rcv_name,
                                               mach_msg_timeout_t timeout, mach_port_name_t notify,
                                               mach_msg_header_t *rcv_msg,
                                               mach_msg_size_t rcv_limit)
{
    (void)notify;
    (void)rcv_limit;
    if (um_client_active())
        return um_client_msg(msg, option, send_size, rcv_size, rcv_name, timeout, rcv_msg);
    return um_embedded_msg(msg, option, send_size, rcv_size, rcv_name, timeout, rcv_msg);
}

UM_EXPORT mach_msg_return_t mach_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                                     mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                     mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                     mach_port_name_t notify)
{
    (void)notify;
    if (um_client_active())
        return um_client_msg(msg, option, send_size, rcv_size, rcv_name, timeout, NULL);
    return um_embedded_msg(msg, option, send_size, rcv_size, rcv_name, timeout, NULL);
}

UM_EXPORT mach_msg_return_t mach_msg_send(mach_msg_header_t *msg)
{
    return mach_msg(msg, MACH_SEND_MSG, msg->msgh_size, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                    MACH_PORT_NULL);
}

UM_EXPORT mach_msg_return_t mach_msg_receive(mach_msg_header_t *msg)
{
    return mach_msg(msg, MACH_RCV_MSG, 0, msg->msgh_size, msg->msgh_local_port,
                    MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
}

UM_EXPORT kern_return_t mach_port_space_info(ipc_space_read_t task, ipc_info_space_t *space_info,
                                             ipc_info_name_array_t *table_info,
                                             mach_msg_type_number_t *table_infoCnt,
                                             ipc_info_tree_name_array_t *tree_info,
                                             mach_msg_type_number_t *tree_infoCnt)
{
    UM_CALL(mach_port_space_info, task, space_info, table_info, table_infoCnt, tree_info,
            tree_infoCnt);
}
