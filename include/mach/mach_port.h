/* <mach/mach_port.h> — umach (Darwin ABI): the mach_port_* calls. */
#ifndef _mach_port_user_
#define _mach_port_user_

/* What MIG-generated user headers include on Darwin. */
#include <string.h>
#include <Availability.h>
#include <mach/ndr.h>
#include <mach/boolean.h>
#include <mach/kern_return.h>
#include <mach/notify.h>
#include <mach/mig.h>
#include <mach/mig_errors.h>
#include <mach/std_types.h>
#include <mach_debug/mach_debug_types.h>
#include <mach/mach_types.h>
#include <mach/message.h>

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t mach_port_names(ipc_space_t task, mach_port_name_array_t *names,
                              mach_msg_type_number_t *namesCnt, mach_port_type_array_t *types,
                              mach_msg_type_number_t *typesCnt);
kern_return_t mach_port_space_info(ipc_space_read_t space, ipc_info_space_t *space_info,
                                   ipc_info_name_array_t *table_info,
                                   mach_msg_type_number_t *table_infoCnt,
                                   ipc_info_tree_name_array_t *tree_info,
                                   mach_msg_type_number_t *tree_infoCnt);
kern_return_t mach_port_type(ipc_space_t task, mach_port_name_t name, mach_port_type_t *ptype);
kern_return_t mach_port_allocate_name(ipc_space_t task, mach_port_right_t right,
                                      mach_port_name_t name);
kern_return_t mach_port_allocate(ipc_space_t task, mach_port_right_t right,
                                 mach_port_name_t *name);
kern_return_t mach_port_destroy(ipc_space_t task, mach_port_name_t name);
kern_return_t mach_port_deallocate(ipc_space_t task, mach_port_name_t name);
kern_return_t mach_port_get_refs(ipc_space_t task, mach_port_name_t name,
                                 mach_port_right_t right, mach_port_urefs_t *refs);
kern_return_t mach_port_mod_refs(ipc_space_t task, mach_port_name_t name,
                                 mach_port_right_t right, mach_port_delta_t delta);
kern_return_t mach_port_peek(ipc_space_t task, mach_port_name_t name,
                             mach_msg_trailer_type_t trailer_type,
                             mach_port_seqno_t *request_seqnop, mach_msg_size_t *msg_sizep,
                             mach_msg_id_t *msg_idp, mach_msg_trailer_info_t trailer_infop,
                             mach_msg_type_number_t *trailer_infopCnt);
kern_return_t mach_port_set_mscount(ipc_space_t task, mach_port_name_t name,
                                    mach_port_mscount_t mscount);
kern_return_t mach_port_get_set_status(ipc_space_read_t task, mach_port_name_t name,
                                       mach_port_name_array_t *members,
                                       mach_msg_type_number_t *membersCnt);
kern_return_t mach_port_move_member(ipc_space_t task, mach_port_name_t member,
                                    mach_port_name_t after);
kern_return_t mach_port_request_notification(ipc_space_t task, mach_port_name_t name,
                                             mach_msg_id_t msgid, mach_port_mscount_t sync,
                                             mach_port_t notify, mach_msg_type_name_t notifyPoly,
                                             mach_port_t *previous);
kern_return_t mach_port_insert_right(ipc_space_t task, mach_port_name_t name, mach_port_t poly,
                                     mach_msg_type_name_t polyPoly);
kern_return_t mach_port_extract_right(ipc_space_t task, mach_port_name_t name,
                                      mach_msg_type_name_t msgt_name, mach_port_t *poly,
                                      mach_msg_type_name_t *polyPoly);
kern_return_t mach_port_set_seqno(ipc_space_t task, mach_port_name_t name,
                                  mach_port_seqno_t seqno);
kern_return_t mach_port_get_attributes(ipc_space_read_t task, mach_port_name_t name,
                                       mach_port_flavor_t flavor, mach_port_info_t port_info_out,
                                       mach_msg_type_number_t *port_info_outCnt);
kern_return_t mach_port_set_attributes(ipc_space_t task, mach_port_name_t name,
                                       mach_port_flavor_t flavor, mach_port_info_t port_info,
                                       mach_msg_type_number_t port_infoCnt);
kern_return_t mach_port_insert_member(ipc_space_t task, mach_port_name_t name,
                                      mach_port_name_t pset);
kern_return_t mach_port_extract_member(ipc_space_t task, mach_port_name_t name,
                                       mach_port_name_t pset);
kern_return_t mach_port_get_context(ipc_space_read_t task, mach_port_name_t name,
                                    mach_port_context_t *context);
kern_return_t mach_port_set_context(ipc_space_t task, mach_port_name_t name,
                                    mach_port_context_t context);
kern_return_t mach_port_construct(ipc_space_t task, mach_port_options_ptr_t options,
                                  mach_port_context_t context, mach_port_name_t *name);
kern_return_t mach_port_destruct(ipc_space_t task, mach_port_name_t name,
                                 mach_port_delta_t srdelta, mach_port_context_t guard);
kern_return_t mach_port_guard(ipc_space_t task, mach_port_name_t name, mach_port_context_t guard,
                              boolean_t strict);
kern_return_t mach_port_unguard(ipc_space_t task, mach_port_name_t name,
                                mach_port_context_t guard);
kern_return_t mach_port_guard_with_flags(ipc_space_t task, mach_port_name_t name,
                                         mach_port_context_t guard, uint64_t flags);
kern_return_t mach_port_swap_guard(ipc_space_t task, mach_port_name_t name,
                                   mach_port_context_t old_guard, mach_port_context_t new_guard);

#ifdef __cplusplus
}
#endif

#endif
