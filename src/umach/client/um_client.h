/*
 * um_client.h — the client front end (docs/world.md, "The client front end"): when
 * UMACH_WORLD names a world's socket, this process is a task of that world and its Mach calls
 * are served by umachd over the wire protocol (src/umach/wire/um_wire.h). The choice is made
 * once, when the library starts (um_world.c asks um_client_init), and costs embedded mode one
 * predictable branch per call (um_client_active).
 */
#ifndef UM_CLIENT_H
#define UM_CLIENT_H

#include <mach/mach.h>
#include <mach/semaphore.h>
#include <mach/task_info.h>

#include <stdbool.h>
#include <sys/types.h>

/* Nonzero once this process chose to be a task of a world (never changes after). */
extern int um_client_world;

static inline bool um_client_active(void)
{
    return __builtin_expect(um_client_world != 0, 0);
}

/*
 * At library start (once): UMACH_WORLD set → join that world (a new task; mach_task_self_ and
 * bootstrap_port from its hello) and return true; unset → false (embedded mode).
 */
bool um_client_init(void);

/*
 * Memory entries in a world (um_client_kobjects.c; the entry is the daemon's): create one for
 * memfd `fd` (taken in every case), or get what `name` names with a duplicate of its memfd
 * (*fdp, the caller's), with the codes of um_mem_entry_lookup; purgable control.
 */
struct um_mem_entry_info;
kern_return_t um_client_mem_entry_create(const struct um_mem_entry_info *info, int fd,
                                         mach_port_t *namep);
kern_return_t um_client_mem_entry_get(mach_port_t name, struct um_mem_entry_info *info, int *fdp,
                                      bool *deadp);
kern_return_t um_client_mem_entry_purgable(mach_port_t name, int control, int *state);

/* mach_msg in a world (um_client_msg.c). */
mach_msg_return_t um_client_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                                mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                mach_msg_header_t *rcv_msg);

/* task_{get,set}_exc_guard_behavior in a world: the task's guard policy is the daemon's. */
kern_return_t um_client_task_get_exc_guard_behavior(task_inspect_t task,
                                                    task_exc_guard_behavior_t *behavior);
kern_return_t um_client_task_set_exc_guard_behavior(task_t task,
                                                    task_exc_guard_behavior_t behavior);

/* Kernel objects in a world (um_client_kobjects.c); `kotype` is a UM_KOT_* of kern/um_kern.h. */
mach_port_t um_client_thread_self(void);
/*
 * A send right to the port of this task's thread whose kernel thread id is `tid` (its thread
 * connection's), made if it has none yet; MACH_PORT_NULL when that thread never made a call
 * (it has no connection) or on failure. For the exception worker (um_exc_signal.c).
 */
mach_port_t um_client_thread_of(long tid);
/*
 * task_threads in a world: into names[i] a send right to the port of this process's thread
 * ids[i] (um_thread_id: its id and start time), the one its mach_thread_self gives or, for a
 * thread that never asked, one the daemon makes and keeps for it. KERN_SUCCESS, or an error
 * with no right given (KERN_RESOURCE_SHORTAGE, MACH_SEND_INVALID_DEST with no world).
 */
struct um_thread_id;
kern_return_t um_client_thread_ports(const struct um_thread_id *ids, size_t n,
                                     mach_port_name_t *names);
/* The thread task_threads made a port for (id and start time) has ended: its port dies. */
void um_client_thread_gone(pid_t tid, uint64_t start);
/*
 * Which thread of this task the thread port `name` stands for: its kernel thread id, and for a
 * port task_threads made (*made) the thread's start time. KERN_INVALID_ARGUMENT: none.
 */
kern_return_t um_client_thread_who(mach_port_name_t name, pid_t *tid, uint64_t *start,
                                   bool *made);
mach_port_t um_client_host_self(void);
kern_return_t um_client_thread_get_special_port(thread_inspect_t thread, int which_port,
                                                mach_port_t *special_port);
kern_return_t um_client_kobject_check(mach_port_name_t name, unsigned kotype);
kern_return_t um_client_semaphore_create(task_t task, semaphore_t *semaphore, int policy,
                                         int value);
kern_return_t um_client_semaphore_destroy(task_t task, semaphore_t semaphore);
kern_return_t um_client_semaphore_signal(semaphore_t semaphore, bool all);
/* Wait on `wait` (signalling `signal` first unless null); timeout_ns UINT64_MAX: none. */
kern_return_t um_client_semaphore_wait(semaphore_t wait, semaphore_t signal, uint64_t timeout_ns);
mach_port_name_t um_client_mk_timer_create(void);
kern_return_t um_client_mk_timer_destroy(mach_port_name_t name);
kern_return_t um_client_mk_timer_arm(mach_port_name_t name, uint64_t expire_time);
kern_return_t um_client_mk_timer_cancel(mach_port_name_t name, uint64_t *result_time);

/*
 * The kernel calls of dispatch/um_calls.c in a world (um_client_calls.c): the same arguments
 * as the public functions; each is one request and its reply.
 */
kern_return_t um_client_mach_port_allocate(ipc_space_t task, mach_port_right_t right, mach_port_name_t *name);
kern_return_t um_client_mach_port_allocate_name(ipc_space_t task, mach_port_right_t right, mach_port_name_t name);
kern_return_t um_client_mach_port_construct(ipc_space_t task, mach_port_options_ptr_t options, mach_port_context_t context, mach_port_name_t *name);
kern_return_t um_client_mach_port_destruct(ipc_space_t task, mach_port_name_t name, mach_port_delta_t srdelta, mach_port_context_t guard);
kern_return_t um_client_mach_port_deallocate(ipc_space_t task, mach_port_name_t name);
kern_return_t um_client_mach_port_destroy(ipc_space_t task, mach_port_name_t name);
kern_return_t um_client_mach_port_mod_refs(ipc_space_t task, mach_port_name_t name, mach_port_right_t right, mach_port_delta_t delta);
kern_return_t um_client_mach_port_get_refs(ipc_space_t task, mach_port_name_t name, mach_port_right_t right, mach_port_urefs_t *refs);
kern_return_t um_client_mach_port_type(ipc_space_t task, mach_port_name_t name, mach_port_type_t *ptype);
kern_return_t um_client_mach_port_names(ipc_space_t task, mach_port_name_array_t *names, mach_msg_type_number_t *namesCnt, mach_port_type_array_t *types, mach_msg_type_number_t *typesCnt);
kern_return_t um_client_mach_port_insert_right(ipc_space_t task, mach_port_name_t name, mach_port_t poly, mach_msg_type_name_t polyPoly);
kern_return_t um_client_mach_port_extract_right(ipc_space_t task, mach_port_name_t name, mach_msg_type_name_t msgt_name, mach_port_t *poly, mach_msg_type_name_t *polyPoly);
kern_return_t um_client_mach_port_get_attributes(ipc_space_t task, mach_port_name_t name, mach_port_flavor_t flavor, mach_port_info_t port_info_out, mach_msg_type_number_t *port_info_outCnt);
kern_return_t um_client_mach_port_set_attributes(ipc_space_t task, mach_port_name_t name, mach_port_flavor_t flavor, mach_port_info_t port_info, mach_msg_type_number_t port_infoCnt);
kern_return_t um_client_mach_port_set_mscount(ipc_space_t task, mach_port_name_t name, mach_port_mscount_t mscount);
kern_return_t um_client_mach_port_set_seqno(ipc_space_t task, mach_port_name_t name, mach_port_seqno_t seqno);
kern_return_t um_client_mach_port_get_context(ipc_space_t task, mach_port_name_t name, mach_port_context_t *context);
kern_return_t um_client_mach_port_set_context(ipc_space_t task, mach_port_name_t name, mach_port_context_t context);
kern_return_t um_client_mach_port_guard(ipc_space_t task, mach_port_name_t name, mach_port_context_t guard, boolean_t strict);
kern_return_t um_client_mach_port_guard_with_flags(ipc_space_t task, mach_port_name_t name, mach_port_context_t guard, uint64_t flags);
kern_return_t um_client_mach_port_unguard(ipc_space_t task, mach_port_name_t name, mach_port_context_t guard);
kern_return_t um_client_mach_port_swap_guard(ipc_space_t task, mach_port_name_t name, mach_port_context_t old_guard, mach_port_context_t new_guard);
kern_return_t um_client_mach_port_insert_member(ipc_space_t task, mach_port_name_t name, mach_port_name_t pset);
kern_return_t um_client_mach_port_extract_member(ipc_space_t task, mach_port_name_t name, mach_port_name_t pset);
kern_return_t um_client_mach_port_move_member(ipc_space_t task, mach_port_name_t member, mach_port_name_t after);
kern_return_t um_client_mach_port_get_set_status(ipc_space_t task, mach_port_name_t name, mach_port_name_array_t *members, mach_msg_type_number_t *membersCnt);
kern_return_t um_client_mach_port_request_notification(ipc_space_t task, mach_port_name_t name, mach_msg_id_t msgid, mach_port_mscount_t sync, mach_port_t notify, mach_msg_type_name_t notifyPoly, mach_port_t *previous);
kern_return_t um_client_mach_port_peek(ipc_space_t task, mach_port_name_t name, mach_msg_trailer_type_t trailer_type, mach_port_seqno_t *request_seqnop, mach_msg_size_t *msg_sizep, mach_msg_id_t *msg_idp, mach_msg_trailer_info_t trailer_infop, mach_msg_type_number_t *trailer_infopCnt);
kern_return_t um_client_task_info(task_name_t target_task, task_flavor_t flavor, task_info_t task_info_out, mach_msg_type_number_t *task_info_outCnt);
kern_return_t um_client_task_get_special_port(task_inspect_t task, int which_port, mach_port_t *special_port);
kern_return_t um_client_task_set_special_port(task_t task, int which_port, mach_port_t special_port);
bool um_client_task_check(mach_port_name_t task);
kern_return_t um_client_task_suspend(task_read_t target_task);
kern_return_t um_client_task_resume(task_read_t target_task);
kern_return_t um_client_task_terminate(task_t target_task);
kern_return_t um_client_task_suspend2(task_read_t target_task, mach_port_t *token);
/* task/thread_set/get/swap_exception_ports in a world (api/um_api.h: um_api_exception_ports). */
kern_return_t um_client_exception_ports(bool thread, mach_port_name_t target, int op,
                                        exception_mask_t mask, mach_port_t new_port,
                                        exception_behavior_t behavior,
                                        thread_state_flavor_t flavor, exception_mask_array_t masks,
                                        mach_msg_type_number_t *masksCnt,
                                        exception_handler_array_t handlers,
                                        exception_behavior_array_t behaviors,
                                        exception_flavor_array_t flavors);
kern_return_t um_client_mach_port_space_info(ipc_space_t task, ipc_info_space_t *space_info, ipc_info_name_array_t *table_info, mach_msg_type_number_t *table_infoCnt, ipc_info_tree_name_array_t *tree_info, mach_msg_type_number_t *tree_infoCnt);

#endif
