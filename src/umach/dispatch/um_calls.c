/*
 * um_calls.c — the public Mach calls that are kernel calls: each one enters the front end that
 * serves this process, runs the api-level function (api/um_api.h) for the calling task, and
 * leaves. In embedded mode (the process is its own world) that is the world lock around the
 * api call; in a world (UMACH_WORLD, src/umach/client/) the call goes to umachd, which runs
 * the same api function for this process's task. Embedded mode pays one predictable branch.
 * See docs/umach-internals.md, "The seam", and docs/world.md.
 */
#include "um_calls.h"
#include "um_forward.h"
#include "../api/um_api.h"
#include "../client/um_client.h"
#include "../embedded/um_embedded.h"
#include "../embedded/um_exc.h"
#include "../embedded/um_vm_mig.h"
#include "../kern/um_kobject_ports.h"
#include "../um_export.h"

/* kr = the call `fn` of this task: libumach's front end in a world, the api's in embedded mode. */
#define UM_RUN(kr, fn, ...)                                                                        \
    do {                                                                                           \
        if (um_client_active()) {                                                                  \
            kr = um_client_##fn(__VA_ARGS__);                                                      \
            if (__builtin_expect(um_exc_pending, 0))                                               \
                um_exc_pending_deliver(); /* a guard the daemon raised, to its handler */          \
        } else {                                                                                   \
            um_task *self_ = um_embedded_enter();                                                  \
            kr = um_api_##fn(self_, __VA_ARGS__);                                                  \
            um_embedded_leave();                                                                   \
        }                                                                                          \
    } while (0)

#define UM_CALL(fn, ...)                                                                           \
    do {                                                                                           \
        kern_return_t kr_;                                                                         \
        UM_RUN(kr_, fn, __VA_ARGS__);                                                              \
        return kr_;                                                                                \
    } while (0)

/*
 * A task call whose task argument may name another port: when this task's front end says the
 * argument is not its task port (MACH_SEND_INVALID_DEST), the call is the MIG request
 * `forward` to that port, as on Darwin (um_forward.h).
 */
#define UM_TASK_CALL(fn, task, forward, ...)                                                       \
    do {                                                                                           \
        kern_return_t kr_;                                                                         \
        UM_RUN(kr_, fn, __VA_ARGS__);                                                              \
        if (kr_ == MACH_SEND_INVALID_DEST && um_forward_wanted(task))                              \
            kr_ = (forward);                                                                       \
        return kr_;                                                                                \
    } while (0)

/* A forwarded routine's in-line arguments and results, and one with none. */
#define FW_IN(...) (const um_fw_in[]){__VA_ARGS__}, sizeof((const um_fw_in[]){__VA_ARGS__}) / sizeof(um_fw_in)
#define FW_OUT(...) (const um_fw_out[]){__VA_ARGS__}, sizeof((const um_fw_out[]){__VA_ARGS__}) / sizeof(um_fw_out)
#define FW_OOL(...) (const um_fw_ool[]){__VA_ARGS__}, sizeof((const um_fw_ool[]){__VA_ARGS__}) / sizeof(um_fw_ool)
#define FW_NONE NULL, 0

UM_EXPORT kern_return_t mach_port_allocate(ipc_space_t task, mach_port_right_t right,
                                           mach_port_name_t *name)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_allocate, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_ALLOCATE, NULL, FW_IN(UM_FW32(right)), FW_OUT(UM_FWOUT(name))),
                 task, right, name);
}

UM_EXPORT kern_return_t mach_port_allocate_name(ipc_space_t task, mach_port_right_t right,
                                                mach_port_name_t name)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_allocate_name, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_ALLOCATE_NAME, NULL, FW_IN(UM_FW32(right), UM_FW32(name)), FW_NONE),
                 task, right, name);
}

UM_EXPORT kern_return_t mach_port_construct(ipc_space_t task, mach_port_options_ptr_t options,
                                            mach_port_context_t context, mach_port_name_t *name)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_construct, task,
                 um_forward_construct(task, options, context, name),
                 task, options, context, name);
}

UM_EXPORT kern_return_t mach_port_destruct(ipc_space_t task, mach_port_name_t name,
                                           mach_port_delta_t srdelta, mach_port_context_t guard)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_destruct, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_DESTRUCT, NULL, FW_IN(UM_FW32(name), UM_FW32(srdelta), UM_FW64(guard)), FW_NONE),
                 task, name, srdelta, guard);
}

UM_EXPORT kern_return_t mach_port_deallocate(ipc_space_t task, mach_port_name_t name)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_deallocate, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_DEALLOCATE, NULL, FW_IN(UM_FW32(name)), FW_NONE),
                 task, name);
}

UM_EXPORT kern_return_t mach_port_destroy(ipc_space_t task, mach_port_name_t name)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_destroy, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_DESTROY, NULL, FW_IN(UM_FW32(name)), FW_NONE),
                 task, name);
}

UM_EXPORT kern_return_t mach_port_mod_refs(ipc_space_t task, mach_port_name_t name,
                                           mach_port_right_t right, mach_port_delta_t delta)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_mod_refs, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_MOD_REFS, NULL, FW_IN(UM_FW32(name), UM_FW32(right), UM_FW32(delta)), FW_NONE),
                 task, name, right, delta);
}

UM_EXPORT kern_return_t mach_port_get_refs(ipc_space_t task, mach_port_name_t name,
                                           mach_port_right_t right, mach_port_urefs_t *refs)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_get_refs, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_GET_REFS, NULL, FW_IN(UM_FW32(name), UM_FW32(right)), FW_OUT(UM_FWOUT(refs))),
                 task, name, right, refs);
}

UM_EXPORT kern_return_t mach_port_type(ipc_space_t task, mach_port_name_t name,
                                       mach_port_type_t *ptype)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_type, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_TYPE, NULL, FW_IN(UM_FW32(name)), FW_OUT(UM_FWOUT(ptype))),
                 task, name, ptype);
}

UM_EXPORT kern_return_t mach_port_names(ipc_space_t task, mach_port_name_array_t *names,
                                        mach_msg_type_number_t *namesCnt,
                                        mach_port_type_array_t *types,
                                        mach_msg_type_number_t *typesCnt)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_names, task,
                 um_forward_ool_out(task, UM_MIG_MACH_PORT_NAMES, FW_NONE, FW_NONE, FW_OOL((um_fw_ool){names, namesCnt, sizeof **names}, (um_fw_ool){types, typesCnt, sizeof **types})),
                 task, names, namesCnt, types, typesCnt);
}

UM_EXPORT kern_return_t mach_port_insert_right(ipc_space_t task, mach_port_name_t name,
                                               mach_port_t poly, mach_msg_type_name_t polyPoly)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_insert_right, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_INSERT_RIGHT, &(const um_fw_port){poly, polyPoly}, FW_IN(UM_FW32(name)), FW_NONE),
                 task, name, poly, polyPoly);
}

UM_EXPORT kern_return_t mach_port_extract_right(ipc_space_t task, mach_port_name_t name,
                                                mach_msg_type_name_t msgt_name, mach_port_t *poly,
                                                mach_msg_type_name_t *polyPoly)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_extract_right, task,
                 um_forward_port_out(task, UM_MIG_MACH_PORT_EXTRACT_RIGHT, NULL, FW_IN(UM_FW32(name), UM_FW32(msgt_name)), 0, poly, polyPoly),
                 task, name, msgt_name, poly, polyPoly);
}

UM_EXPORT kern_return_t mach_port_get_attributes(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_flavor_t flavor,
                                                 mach_port_info_t port_info_out,
                                                 mach_msg_type_number_t *port_info_outCnt)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_get_attributes, task,
                 um_forward_array_out(task, UM_MIG_MACH_PORT_GET_ATTRIBUTES, FW_IN(UM_FW32(name), UM_FW32(flavor)), NULL, FW_NONE, &(const um_fw_array){port_info_out, sizeof *port_info_out, port_info_outCnt, UM_FW_PORT_INFO_MAX}),
                 task, name, flavor, port_info_out, port_info_outCnt);
}

UM_EXPORT kern_return_t mach_port_set_attributes(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_flavor_t flavor,
                                                 mach_port_info_t port_info,
                                                 mach_msg_type_number_t port_infoCnt)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_set_attributes, task,
                 um_forward_set_attributes(task, name, flavor, port_info, port_infoCnt),
                 task, name, flavor, port_info, port_infoCnt);
}

UM_EXPORT kern_return_t mach_port_set_mscount(ipc_space_t task, mach_port_name_t name,
                                              mach_port_mscount_t mscount)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_set_mscount, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_SET_MSCOUNT, NULL, FW_IN(UM_FW32(name), UM_FW32(mscount)), FW_NONE),
                 task, name, mscount);
}

UM_EXPORT kern_return_t mach_port_set_seqno(ipc_space_t task, mach_port_name_t name,
                                            mach_port_seqno_t seqno)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_set_seqno, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_SET_SEQNO, NULL, FW_IN(UM_FW32(name), UM_FW32(seqno)), FW_NONE),
                 task, name, seqno);
}

UM_EXPORT kern_return_t mach_port_get_context(ipc_space_t task, mach_port_name_t name,
                                              mach_port_context_t *context)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_get_context, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_GET_CONTEXT, NULL, FW_IN(UM_FW32(name)), FW_OUT(UM_FWOUT(context))),
                 task, name, context);
}

UM_EXPORT kern_return_t mach_port_set_context(ipc_space_t task, mach_port_name_t name,
                                              mach_port_context_t context)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_set_context, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_SET_CONTEXT, NULL, FW_IN(UM_FW32(name), UM_FW64(context)), FW_NONE),
                 task, name, context);
}

UM_EXPORT kern_return_t mach_port_guard(ipc_space_t task, mach_port_name_t name,
                                        mach_port_context_t guard, boolean_t strict)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_guard, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_GUARD, NULL, FW_IN(UM_FW32(name), UM_FW64(guard), UM_FW32(strict)), FW_NONE),
                 task, name, guard, strict);
}

UM_EXPORT kern_return_t mach_port_guard_with_flags(ipc_space_t task, mach_port_name_t name,
                                                   mach_port_context_t guard, uint64_t flags)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_guard_with_flags, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_GUARD_WITH_FLAGS, NULL, FW_IN(UM_FW32(name), UM_FW64(guard), UM_FW64(flags)), FW_NONE),
                 task, name, guard, flags);
}

UM_EXPORT kern_return_t mach_port_unguard(ipc_space_t task, mach_port_name_t name,
                                          mach_port_context_t guard)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_unguard, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_UNGUARD, NULL, FW_IN(UM_FW32(name), UM_FW64(guard)), FW_NONE),
                 task, name, guard);
}

UM_EXPORT kern_return_t mach_port_swap_guard(ipc_space_t task, mach_port_name_t name,
                                             mach_port_context_t old_guard,
                                             mach_port_context_t new_guard)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_swap_guard, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_SWAP_GUARD, NULL, FW_IN(UM_FW32(name), UM_FW64(old_guard), UM_FW64(new_guard)), FW_NONE),
                 task, name, old_guard, new_guard);
}

UM_EXPORT kern_return_t mach_port_insert_member(ipc_space_t task, mach_port_name_t name,
                                                mach_port_name_t pset)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_insert_member, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_INSERT_MEMBER, NULL, FW_IN(UM_FW32(name), UM_FW32(pset)), FW_NONE),
                 task, name, pset);
}

UM_EXPORT kern_return_t mach_port_extract_member(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_name_t pset)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_extract_member, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_EXTRACT_MEMBER, NULL, FW_IN(UM_FW32(name), UM_FW32(pset)), FW_NONE),
                 task, name, pset);
}

UM_EXPORT kern_return_t mach_port_move_member(ipc_space_t task, mach_port_name_t member,
                                              mach_port_name_t after)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_move_member, task,
                 um_forward_simple(task, UM_MIG_MACH_PORT_MOVE_MEMBER, NULL, FW_IN(UM_FW32(member), UM_FW32(after)), FW_NONE),
                 task, member, after);
}

UM_EXPORT kern_return_t mach_port_get_set_status(ipc_space_t task, mach_port_name_t name,
                                                 mach_port_name_array_t *members,
                                                 mach_msg_type_number_t *membersCnt)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_get_set_status, task,
                 um_forward_ool_out(task, UM_MIG_MACH_PORT_GET_SET_STATUS, FW_IN(UM_FW32(name)), FW_NONE, FW_OOL((um_fw_ool){members, membersCnt, sizeof **members})),
                 task, name, members, membersCnt);
}

UM_EXPORT kern_return_t mach_port_request_notification(ipc_space_t task, mach_port_name_t name,
                                                       mach_msg_id_t msgid,
                                                       mach_port_mscount_t sync, mach_port_t notify,
                                                       mach_msg_type_name_t notifyPoly,
                                                       mach_port_t *previous)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_request_notification, task,
                 um_forward_port_out(task, UM_MIG_MACH_PORT_REQUEST_NOTIFICATION, &(const um_fw_port){notify, notifyPoly}, FW_IN(UM_FW32(name), UM_FW32(msgid), UM_FW32(sync)), MACH_MSG_TYPE_PORT_SEND_ONCE, previous, NULL),
                 task, name, msgid, sync, notify, notifyPoly, previous);
}

UM_EXPORT kern_return_t mach_port_peek(ipc_space_t task, mach_port_name_t name,
                                       mach_msg_trailer_type_t trailer_type,
                                       mach_port_seqno_t *request_seqnop,
                                       mach_msg_size_t *msg_sizep, mach_msg_id_t *msg_idp,
                                       mach_msg_trailer_info_t trailer_infop,
                                       mach_msg_type_number_t *trailer_infopCnt)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_peek, task,
                 um_forward_array_out(task, UM_MIG_MACH_PORT_PEEK, FW_IN(UM_FW32(name), UM_FW32(trailer_type), UM_FW32(*request_seqnop)), NULL, FW_OUT(UM_FWOUT(request_seqnop), UM_FWOUT(msg_sizep), UM_FWOUT(msg_idp)), &(const um_fw_array){trailer_infop, 1, trailer_infopCnt, MAX_TRAILER_SIZE}),
                 task, name, trailer_type, request_seqnop, msg_sizep, msg_idp, trailer_infop,
                 trailer_infopCnt);
}

UM_EXPORT kern_return_t task_info(task_name_t target_task, task_flavor_t flavor,
                                  task_info_t task_info_out,
                                  mach_msg_type_number_t *task_info_outCnt)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(task_info, target_task,
                 um_forward_array_out(target_task, UM_MIG_TASK_INFO, FW_IN(UM_FW32(flavor)), NULL, FW_NONE, &(const um_fw_array){task_info_out, sizeof *task_info_out, task_info_outCnt, UM_FW_TASK_INFO_MAX}),
                 target_task, flavor, task_info_out, task_info_outCnt);
}

UM_EXPORT kern_return_t task_suspend(task_read_t target_task)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(task_suspend, target_task,
                 um_forward_simple(target_task, UM_MIG_TASK_SUSPEND, NULL, FW_NONE, FW_NONE),
                 target_task);
}

UM_EXPORT kern_return_t task_resume(task_read_t target_task)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(task_resume, target_task,
                 um_forward_simple(target_task, UM_MIG_TASK_RESUME, NULL, FW_NONE, FW_NONE),
                 target_task);
}

UM_EXPORT kern_return_t task_suspend2(task_read_t target_task,
                                      task_suspension_token_t *suspend_token)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(task_suspend2, target_task,
                 um_forward_port_out(target_task, UM_MIG_TASK_SUSPEND2, NULL, FW_NONE, MACH_MSG_TYPE_PORT_SEND_ONCE, suspend_token, NULL),
                 target_task, suspend_token);
}

/* The request goes to the token itself (moved), as MIG's task_suspension_token_t: the resume
 * port's server ends the suspension. */
UM_EXPORT kern_return_t task_resume2(task_suspension_token_t suspend_token)
{
    UM_CALL_SCOPE;
    union {
        mach_msg_header_t head;
        mig_reply_error_t reply;
        uint8_t bytes[sizeof(mig_reply_error_t) + sizeof(mach_msg_max_trailer_t)];
    } m;
    memset(&m, 0, sizeof m);
    mach_msg_return_t mr = um_mig_rpc_via(suspend_token, MACH_MSG_TYPE_MOVE_SEND_ONCE,
                                          UM_MIG_TASK_RESUME2, &m.head, sizeof m.head, &m.head,
                                          sizeof m);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    if ((m.head.msgh_bits & MACH_MSGH_BITS_COMPLEX) || m.head.msgh_size != sizeof m.reply) {
        mach_msg_destroy(&m.head);
        return MIG_TYPE_ERROR;
    }
    return m.reply.RetCode;
}

UM_EXPORT kern_return_t task_terminate(task_t target_task)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(task_terminate, target_task,
                 um_forward_simple(target_task, UM_MIG_TASK_TERMINATE, NULL, FW_NONE, FW_NONE),
                 target_task);
}

UM_EXPORT kern_return_t task_get_special_port(task_inspect_t task, int which_port,
                                              mach_port_t *special_port)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(task_get_special_port, task,
                 um_forward_port_out(task, UM_MIG_TASK_GET_SPECIAL_PORT, NULL, FW_IN(UM_FW32(which_port)), MACH_MSG_TYPE_PORT_SEND, special_port, NULL),
                 task, which_port, special_port);
}

UM_EXPORT kern_return_t task_set_special_port(task_t task, int which_port,
                                              mach_port_t special_port)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(task_set_special_port, task,
                 um_forward_simple(task, UM_MIG_TASK_SET_SPECIAL_PORT, &(const um_fw_port){special_port, MACH_MSG_TYPE_COPY_SEND}, FW_IN(UM_FW32(which_port)), FW_NONE),
                 task, which_port, special_port);
}

/* ---- exception ports (api/exception.c): the task's own or another task's, and threads' ---- */

/* A port set for a fault's exception makes umach raise the fault's signal as it (um_exc.h). */
#define UM_EXC_CALL(thread, target, op, mask, port, beh, flv, ...)                                   \
    do {                                                                                           \
        kern_return_t kr_;                                                                         \
        UM_RUN(kr_, exception_ports, thread, target, op, mask, port, beh, flv, __VA_ARGS__);       \
        if (kr_ == KERN_SUCCESS && (op) != UM_EXC_OP_GET && MACH_PORT_VALID(port))                 \
            um_exc_signals_install(mask);                                                          \
        return kr_;                                                                                \
    } while (0)

UM_EXPORT kern_return_t task_set_exception_ports(task_t task, exception_mask_t exception_mask,
                                                 mach_port_t new_port,
                                                 exception_behavior_t behavior,
                                                 thread_state_flavor_t new_flavor)
{
    UM_CALL_SCOPE;
    mach_msg_type_number_t cnt = 0;
    UM_EXC_CALL(false, task, UM_EXC_OP_SET, exception_mask, new_port, behavior, new_flavor, NULL,
                &cnt, NULL, NULL, NULL);
}

UM_EXPORT kern_return_t task_get_exception_ports(task_t task, exception_mask_t exception_mask,
                                                 exception_mask_array_t masks,
                                                 mach_msg_type_number_t *masksCnt,
                                                 exception_handler_array_t old_handlers,
                                                 exception_behavior_array_t old_behaviors,
                                                 exception_flavor_array_t old_flavors)
{
    UM_CALL_SCOPE;
    UM_EXC_CALL(false, task, UM_EXC_OP_GET, exception_mask, MACH_PORT_NULL, 0, 0, masks, masksCnt,
                old_handlers, old_behaviors, old_flavors);
}

UM_EXPORT kern_return_t task_swap_exception_ports(
    task_t task, exception_mask_t exception_mask, mach_port_t new_port,
    exception_behavior_t behavior, thread_state_flavor_t new_flavor, exception_mask_array_t masks,
    mach_msg_type_number_t *masksCnt, exception_handler_array_t old_handlers,
    exception_behavior_array_t old_behaviors, exception_flavor_array_t old_flavors)
{
    UM_CALL_SCOPE;
    UM_EXC_CALL(false, task, UM_EXC_OP_SWAP, exception_mask, new_port, behavior, new_flavor, masks,
                masksCnt, old_handlers, old_behaviors, old_flavors);
}

UM_EXPORT kern_return_t thread_set_exception_ports(thread_act_t thread,
                                                   exception_mask_t exception_mask,
                                                   mach_port_t new_port,
                                                   exception_behavior_t behavior,
                                                   thread_state_flavor_t new_flavor)
{
    UM_CALL_SCOPE;
    mach_msg_type_number_t cnt = 0;
    UM_EXC_CALL(true, thread, UM_EXC_OP_SET, exception_mask, new_port, behavior, new_flavor, NULL,
                &cnt, NULL, NULL, NULL);
}

UM_EXPORT kern_return_t thread_get_exception_ports(thread_act_t thread,
                                                   exception_mask_t exception_mask,
                                                   exception_mask_array_t masks,
                                                   mach_msg_type_number_t *masksCnt,
                                                   exception_handler_array_t old_handlers,
                                                   exception_behavior_array_t old_behaviors,
                                                   exception_flavor_array_t old_flavors)
{
    UM_CALL_SCOPE;
    UM_EXC_CALL(true, thread, UM_EXC_OP_GET, exception_mask, MACH_PORT_NULL, 0, 0, masks, masksCnt,
                old_handlers, old_behaviors, old_flavors);
}

UM_EXPORT kern_return_t thread_swap_exception_ports(
    thread_act_t thread, exception_mask_t exception_mask, mach_port_t new_port,
    exception_behavior_t behavior, thread_state_flavor_t new_flavor, exception_mask_array_t masks,
    mach_msg_type_number_t *masksCnt, exception_handler_array_t old_handlers,
    exception_behavior_array_t old_behaviors, exception_flavor_array_t old_flavors)
{
    UM_CALL_SCOPE;
    UM_EXC_CALL(true, thread, UM_EXC_OP_SWAP, exception_mask, new_port, behavior, new_flavor,
                masks, masksCnt, old_handlers, old_behaviors, old_flavors);
}

bool um_call_task_check(mach_port_name_t task)
{
    /* A routine served for a request to our task port: this thread holds the world lock. */
    if (__builtin_expect(um_vm_mig_serving, 0))
        return task == mach_task_self_;
    if (um_client_active())
        return um_client_task_check(task);
    um_task *self = um_embedded_enter();
    bool ok = um_api_task_check(self, task);
    um_embedded_leave();
    return ok;
}

bool um_call_kobject_is(mach_port_name_t name, unsigned kotype)
{
    if (um_client_active())
        return um_client_kobject_check(name, kotype) == KERN_SUCCESS;
    um_task *self = um_embedded_enter();
    um_port *port;
    kern_return_t kr = um_kobject_translate_send(self->space, name, (uint8_t)kotype, &port);
    um_embedded_leave();
    return kr == KERN_SUCCESS;
}

bool um_call_kernel_port(mach_port_name_t name)
{
    static const unsigned kinds[] = {UM_KOT_THREAD, UM_KOT_HOST, UM_KOT_CLOCK, UM_KOT_SEMAPHORE,
                                     UM_KOT_MEMORY_ENTRY};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        if (um_call_kobject_is(name, kinds[i]))
            return true;
    }
    return false;
}

/* ---- mach_msg: the front end sends, receives and waits ------------------------------------- */

/* mach_msg in a world, then the guard exception its call raised, to its handler (um_exc.h). */
static mach_msg_return_t um_world_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                                      mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                      mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                      mach_msg_header_t *rcv_msg)
{
    UM_CALL_SCOPE;
    mach_msg_return_t mr =
        um_client_msg(msg, option, send_size, rcv_size, rcv_name, timeout, rcv_msg);
    if (__builtin_expect(um_exc_pending, 0))
        um_exc_pending_deliver();
    return mr;
}

UM_EXPORT mach_msg_return_t mach_msg_overwrite(mach_msg_header_t *msg, mach_msg_option_t option,
                                               mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                               mach_port_name_t rcv_name,
                                               mach_msg_timeout_t timeout, mach_port_name_t notify,
                                               mach_msg_header_t *rcv_msg,
                                               mach_msg_size_t rcv_limit)
{
    /* Its scope is um_embedded_msg's or um_world_msg's (a jump, not a call). */
    (void)notify;
    (void)rcv_limit;
    if (um_client_active())
        return um_world_msg(msg, option, send_size, rcv_size, rcv_name, timeout, rcv_msg);
    return um_embedded_msg(msg, option, send_size, rcv_size, rcv_name, timeout, rcv_msg);
}

UM_EXPORT mach_msg_return_t mach_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                                     mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                     mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                     mach_port_name_t notify)
{
    /* Its scope is um_embedded_msg's or um_world_msg's (a jump, not a call). */
    (void)notify;
    if (um_client_active())
        return um_world_msg(msg, option, send_size, rcv_size, rcv_name, timeout, NULL);
    return um_embedded_msg(msg, option, send_size, rcv_size, rcv_name, timeout, NULL);
}

UM_EXPORT mach_msg_return_t mach_msg_send(mach_msg_header_t *msg)
{
    UM_CALL_SCOPE;
    return mach_msg(msg, MACH_SEND_MSG, msg->msgh_size, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                    MACH_PORT_NULL);
}

UM_EXPORT mach_msg_return_t mach_msg_receive(mach_msg_header_t *msg)
{
    UM_CALL_SCOPE;
    return mach_msg(msg, MACH_RCV_MSG, 0, msg->msgh_size, msg->msgh_local_port,
                    MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
}

UM_EXPORT kern_return_t mach_port_space_info(ipc_space_read_t task, ipc_info_space_t *space_info,
                                             ipc_info_name_array_t *table_info,
                                             mach_msg_type_number_t *table_infoCnt,
                                             ipc_info_tree_name_array_t *tree_info,
                                             mach_msg_type_number_t *tree_infoCnt)
{
    UM_CALL_SCOPE;
    UM_TASK_CALL(mach_port_space_info, task,
                 um_forward_ool_out(task, UM_MIG_MACH_PORT_SPACE_INFO, FW_NONE, FW_OUT(UM_FWOUT(space_info)), FW_OOL((um_fw_ool){table_info, table_infoCnt, sizeof **table_info}, (um_fw_ool){tree_info, tree_infoCnt, sizeof **tree_info})),
                 task, space_info, table_info, table_infoCnt, tree_info, tree_infoCnt);
}
