/*
 * um_api.h — the Mach calls as the kernel core serves them, one function per call, for one
 * task (`self`, the caller). Front-end neutral: a front end takes its world lock, calls the
 * function with the calling task, releases the lock (embedded mode: src/umach/dispatch/).
 * The argument after `self` is the call's own task argument, checked against `self`.
 * Out-parameters point at memory the function may write directly (the caller's own memory in
 * embedded mode; a reply buffer in a daemon).
 *
 * Conditions: world locked; none of these functions sleeps.
 */
#ifndef UM_API_H
#define UM_API_H

#include "../kern/um_kern.h"

#include <mach/mach.h>
#include <mach/task_info.h>

kern_return_t um_api_mach_port_allocate(um_task *self, ipc_space_t task, mach_port_right_t right,
                                        mach_port_name_t *name);
kern_return_t um_api_mach_port_allocate_name(um_task *self, ipc_space_t task,
                                             mach_port_right_t right, mach_port_name_t name);
kern_return_t um_api_mach_port_construct(um_task *self, ipc_space_t task,
                                         mach_port_options_ptr_t options,
                                         mach_port_context_t context, mach_port_name_t *name);
kern_return_t um_api_mach_port_destruct(um_task *self, ipc_space_t task, mach_port_name_t name,
                                        mach_port_delta_t srdelta, mach_port_context_t guard);
kern_return_t um_api_mach_port_deallocate(um_task *self, ipc_space_t task, mach_port_name_t name);
kern_return_t um_api_mach_port_destroy(um_task *self, ipc_space_t task, mach_port_name_t name);
kern_return_t um_api_mach_port_mod_refs(um_task *self, ipc_space_t task, mach_port_name_t name,
                                        mach_port_right_t right, mach_port_delta_t delta);
kern_return_t um_api_mach_port_get_refs(um_task *self, ipc_space_t task, mach_port_name_t name,
                                        mach_port_right_t right, mach_port_urefs_t *refs);
kern_return_t um_api_mach_port_type(um_task *self, ipc_space_t task, mach_port_name_t name,
                                    mach_port_type_t *ptype);
kern_return_t um_api_mach_port_names(um_task *self, ipc_space_t task, mach_port_name_array_t *names,
                                     mach_msg_type_number_t *namesCnt,
                                     mach_port_type_array_t *types,
                                     mach_msg_type_number_t *typesCnt);
kern_return_t um_api_mach_port_insert_right(um_task *self, ipc_space_t task, mach_port_name_t name,
                                            mach_port_t poly, mach_msg_type_name_t polyPoly);
kern_return_t um_api_mach_port_extract_right(um_task *self, ipc_space_t task, mach_port_name_t name,
                                             mach_msg_type_name_t msgt_name, mach_port_t *poly,
                                             mach_msg_type_name_t *polyPoly);
kern_return_t um_api_mach_port_get_attributes(um_task *self, ipc_space_t task,
                                              mach_port_name_t name, mach_port_flavor_t flavor,
                                              mach_port_info_t port_info_out,
                                              mach_msg_type_number_t *port_info_outCnt);
kern_return_t um_api_mach_port_set_attributes(um_task *self, ipc_space_t task,
                                              mach_port_name_t name, mach_port_flavor_t flavor,
                                              mach_port_info_t port_info,
                                              mach_msg_type_number_t port_infoCnt);
kern_return_t um_api_mach_port_set_mscount(um_task *self, ipc_space_t task, mach_port_name_t name,
                                           mach_port_mscount_t mscount);
kern_return_t um_api_mach_port_set_seqno(um_task *self, ipc_space_t task, mach_port_name_t name,
                                         mach_port_seqno_t seqno);
kern_return_t um_api_mach_port_get_context(um_task *self, ipc_space_t task, mach_port_name_t name,
                                           mach_port_context_t *context);
kern_return_t um_api_mach_port_set_context(um_task *self, ipc_space_t task, mach_port_name_t name,
                                           mach_port_context_t context);
kern_return_t um_api_mach_port_guard(um_task *self, ipc_space_t task, mach_port_name_t name,
                                     mach_port_context_t guard, boolean_t strict);
kern_return_t um_api_mach_port_guard_with_flags(um_task *self, ipc_space_t task,
                                                mach_port_name_t name, mach_port_context_t guard,
                                                uint64_t flags);
kern_return_t um_api_mach_port_unguard(um_task *self, ipc_space_t task, mach_port_name_t name,
                                       mach_port_context_t guard);
kern_return_t um_api_mach_port_swap_guard(um_task *self, ipc_space_t task, mach_port_name_t name,
                                          mach_port_context_t old_guard,
                                          mach_port_context_t new_guard);
kern_return_t um_api_mach_port_insert_member(um_task *self, ipc_space_t task, mach_port_name_t name,
                                             mach_port_name_t pset);
kern_return_t um_api_mach_port_extract_member(um_task *self, ipc_space_t task,
                                              mach_port_name_t name, mach_port_name_t pset);
kern_return_t um_api_mach_port_move_member(um_task *self, ipc_space_t task, mach_port_name_t member,
                                           mach_port_name_t after);
kern_return_t um_api_mach_port_get_set_status(um_task *self, ipc_space_t task,
                                              mach_port_name_t name,
                                              mach_port_name_array_t *members,
                                              mach_msg_type_number_t *membersCnt);
kern_return_t um_api_mach_port_request_notification(um_task *self, ipc_space_t task,
                                                    mach_port_name_t name, mach_msg_id_t msgid,
                                                    mach_port_mscount_t sync, mach_port_t notify,
                                                    mach_msg_type_name_t notifyPoly,
                                                    mach_port_t *previous);
kern_return_t um_api_mach_port_peek(um_task *self, ipc_space_t task, mach_port_name_t name,
                                    mach_msg_trailer_type_t trailer_type,
                                    mach_port_seqno_t *request_seqnop, mach_msg_size_t *msg_sizep,
                                    mach_msg_id_t *msg_idp, mach_msg_trailer_info_t trailer_infop,
                                    mach_msg_type_number_t *trailer_infopCnt);
kern_return_t um_api_task_info(um_task *self, task_name_t target_task, task_flavor_t flavor,
                               task_info_t task_info_out, mach_msg_type_number_t *task_info_outCnt);
/* task_suspend / task_resume on the task `target_task` names (kern/um_kern.h, um_task_hold). */
kern_return_t um_api_task_suspend(um_task *self, task_read_t target_task);
kern_return_t um_api_task_resume(um_task *self, task_read_t target_task);
kern_return_t um_api_task_terminate(um_task *self, task_t target_task);
/* task_suspend2: the token (a send-once right to the resume port) named in self's space. */
kern_return_t um_api_task_suspend2(um_task *self, task_read_t target_task, mach_port_t *token);

kern_return_t um_api_task_get_special_port(um_task *self, task_inspect_t task, int which_port,
                                           mach_port_t *special_port);
kern_return_t um_api_task_set_special_port(um_task *self, task_t task, int which_port,
                                           mach_port_t special_port);

/* Which exception-port call um_api_exception_ports makes. */
typedef enum { UM_EXC_OP_SET, UM_EXC_OP_GET, UM_EXC_OP_SWAP } um_exc_op;
/*
 * task_set/get/swap_exception_ports (`thread` false: `target` names a task) and
 * thread_set/get/swap_exception_ports (`thread` true: a thread port), as XNU's MIG server and
 * ipc_tt.c answer them. new_port, behavior and flavor are read by SET and SWAP; masks,
 * *masksCnt (in: room, out: filled), handlers, behaviors and flavors are written by GET and
 * SWAP. The caller keeps its send right to new_port (the request carries a copy).
 */
/*
 * The routine itself, on a task's slots (`task_actions`) or a thread's (`thread_port`'s; both
 * NULL: XNU's null task or thread, KERN_INVALID_ARGUMENT): consumes `port` (SET and SWAP's new
 * port, a naked send right, NULL or UM_PORT_DEAD). On success GET and SWAP give at most
 * *count entries (in: room; out: filled; SET: 0): masks, naked send rights to the old
 * handlers (the caller's: NULL or UM_PORT_DEAD for none or a dead one), behaviours, flavours.
 */
kern_return_t um_api_exception_ports_on(um_exc_action *task_actions, um_port *thread_port,
                                        um_exc_op op, exception_mask_t mask, um_port *port,
                                        exception_behavior_t behavior,
                                        thread_state_flavor_t flavor, uint32_t *masks,
                                        unsigned *count, um_port **handlers, int *behaviors,
                                        int *flavors);
kern_return_t um_api_exception_ports(um_task *self, bool thread, mach_port_name_t target,
                                     um_exc_op op, exception_mask_t mask, mach_port_t new_port,
                                     exception_behavior_t behavior, thread_state_flavor_t flavor,
                                     exception_mask_array_t masks,
                                     mach_msg_type_number_t *masksCnt,
                                     exception_handler_array_t handlers,
                                     exception_behavior_array_t behaviors,
                                     exception_flavor_array_t flavors);

/*
 * mach_port_insert_right's routine once its right is taken: name `port`, a naked right of
 * `type` (NULL or UM_PORT_DEAD as taken), `name` in `space`. Consumes the right: when the
 * insertion fails it is destroyed, as the kernel destroys a failed insertion's right (a dead
 * port taken as MACH_PORT_DEAD is KERN_INVALID_CAPABILITY).
 */
kern_return_t um_api_insert_taken(um_space *space, um_port *port, mach_msg_type_name_t type,
                                  mach_port_name_t name);

/*
 * task_get_special_port's routine on `target`: *portp gets a new naked send right to the
 * slot's port (TASK_HOST_PORT: the world's host port), NULL for an empty slot, UM_PORT_DEAD
 * for a dead one. KERN_INVALID_ARGUMENT for a slot umach does not keep, KERN_RESOURCE_SHORTAGE
 * when the host port cannot be made.
 */
kern_return_t um_api_special_port_get(um_task *target, int which_port, um_port **portp);
/*
 * task_set_special_port's routine on `target`: put `port` (a naked send right, NULL or
 * UM_PORT_DEAD) in the slot. Consumes the right (a refused one is released).
 */
kern_return_t um_api_special_port_set(um_task *target, int which_port, um_port *port);

/*
 * host_info on the host port: HOST_BASIC_INFO only (KERN_INVALID_ARGUMENT otherwise), from
 * the machine's numbers; a count below the old five-field layout is KERN_FAILURE, as XNU's.
 */
kern_return_t um_api_host_info(const um_machine *machine, host_flavor_t flavor,
                               host_info_t host_info_out, mach_msg_type_number_t *host_info_outCnt);

/*
 * clock_get_time on `clock`: its time from the front end's clock_read (KERN_FAILURE when the
 * world has none).
 */
kern_return_t um_api_clock_get_time(const um_clock *clock, mach_timespec_t *cur_time);
/*
 * clock_get_attributes on `clock`, `*count` the room the caller has, of which MIG's server
 * passes at most 1 on (clock_attr_t holds one integer): 0 is KERN_FAILURE, an unknown flavour
 * KERN_INVALID_VALUE, as XNU's; on success *count is 1.
 */
kern_return_t um_api_clock_get_attributes(const um_clock *clock, clock_flavor_t flavor,
                                          clock_attr_t attr, mach_msg_type_number_t *count);

/* Is `task` a send right to self's task port? (vm calls: the memory work is the front end's) */
bool um_api_task_check(um_task *self, mach_port_name_t task);

/*
 * An out-of-line array a call makes: `count` elements in a kernel region of `len` bytes
 * (um_region_alloc; NULL when count is 0), the caller's to give to a task or to a message.
 */
typedef struct um_api_array {
    void *region;
    size_t len;
    uint32_t count;
} um_api_array;

/*
 * The out-of-line calls' arrays as regions (the task server puts them in its replies; the
 * calls above give them to the caller): mach_port_names' names and types,
 * mach_port_get_set_status's members, mach_port_space_info's table (its tree is empty).
 */
kern_return_t um_api_mach_port_names_arrays(um_task *self, ipc_space_t task, um_api_array *names,
                                            um_api_array *types);
kern_return_t um_api_mach_port_get_set_status_array(um_task *self, ipc_space_t task,
                                                    mach_port_name_t name, um_api_array *members);
kern_return_t um_api_mach_port_space_info_array(um_task *self, ipc_space_t task,
                                                ipc_info_space_t *space_info, um_api_array *table);

/* mach_port_space_info (api/mach_port_info.c). */
kern_return_t um_api_mach_port_space_info(um_task *self, ipc_space_t task,
                                          ipc_info_space_t *space_info,
                                          ipc_info_name_array_t *table_info,
                                          mach_msg_type_number_t *table_infoCnt,
                                          ipc_info_tree_name_array_t *tree_info,
                                          mach_msg_type_number_t *tree_infoCnt);

#endif
