/*
 * um_forward.h — a task call on a port that is not this task's (libumach only, not installed).
 *
 * On Darwin a task call is a MIG routine addressed to its task argument; the mach_port_* and
 * mach_vm_* calls that have a trap try it first and, when the trap says MACH_SEND_INVALID_DEST
 * (the name is not the caller's task port), libsystem sends the MIG request instead
 * (libsyscall/mach/mach_port.c, mach_vm.c; osfmk/ipc/mach_kernelrpc.c). So when the task
 * argument is a send right to an ordinary port, the request is queued on that port and the
 * caller waits for the reply: whatever the port's receiver answers is the call's result.
 *
 * umach serves its own task's calls directly; a call whose task argument is not this task's
 * port (the api says MACH_SEND_INVALID_DEST) comes here and is sent as the MIG stub sends it:
 * the routine's msgh_id, its in-line arguments after the NDR record, a COPY_SEND of the task
 * name, a send-once right to the thread's MIG reply port, then a receive with no time limit,
 * and the reply checked as the stub checks it (MIG_SERVER_DIED for a send-once notification,
 * MIG_REPLY_MISMATCH for another id, MIG_TYPE_ERROR for a wrong shape, the RetCode of an
 * error reply). The receive has room for the routine's largest reply and a minimal trailer
 * (MIG's Reply structure) and no MACH_RCV_LARGE: a larger reply is MACH_RCV_TOO_LARGE, and
 * the kernel destroys it (its rights released, its memory deallocated). A name that is not a send right is MACH_SEND_INVALID_DEST at once, what the
 * send would say. A thread, host, clock or semaphore port gets what XNU's kernel server answers
 * when the routine's conversion finds no task (KERN_INVALID_TASK from the mach_port_* routines
 * and the exc_guard ones, KERN_INVALID_ARGUMENT from the others), the rights the request moved
 * consumed. Another task's port never comes here for the mach_port_* calls, task_info, the
 * special-port and the exc_guard calls (umachd serves them on that task); the vm calls on it
 * stay MACH_SEND_INVALID_DEST (XNU would serve them on that task).
 *
 * The clock services (host_get_clock_service and clock.defs' routines, embedded/um_clock.c)
 * use the same stubs but go to whatever port they name, kernel ports included: umach's
 * kernel-object server answers them on every kind of kernel port, as XNU's does.
 */
#ifndef UM_FORWARD_H
#define UM_FORWARD_H

#include "../api/um_mig.h"

#include <mach/mach.h>

#include <stdbool.h>
#include <stdint.h>

/* Is `task` worth a request: not our task port (served directly) and a send right of ours? */
bool um_forward_wanted(mach_port_t task);

/*
 * For the calls whose object is not a task (thread_info, host_info, host_statistics,
 * host_statistics64, host_processor_info): is `name` a send right
 * of ours to a port that is no kernel object, whose receiver gets the MIG request (a kernel
 * port of another kind answers as XNU's server does, without one)?
 */
bool um_forward_ordinary(mach_port_t name);

/* One in-line argument of a request: 4 or 8 bytes. */
typedef struct um_fw_in {
    uint64_t value;
    uint32_t size;
} um_fw_in;

/* One in-line result of a reply: 4 or 8 bytes written to `to` on success. */
typedef struct um_fw_out {
    void *to;
    uint32_t size;
} um_fw_out;

#define UM_FW32(v) ((um_fw_in){(uint64_t)(uint32_t)(v), 4})
#define UM_FW64(v) ((um_fw_in){(uint64_t)(v), 8})
#define UM_FWOUT(p) ((um_fw_out){(p), sizeof *(p)})

/* A right a request carries in a port descriptor: its name and MACH_MSG_TYPE_* disposition. */
typedef struct um_fw_port {
    mach_port_t name;
    mach_msg_type_name_t disp;
} um_fw_port;

/*
 * A routine with in-line arguments and in-line results only. `port`, when not NULL, travels
 * first in a port descriptor (the request is then complex). Results are written only on
 * success (a NULL `to` is skipped).
 */
kern_return_t um_forward_simple(mach_port_t task, mach_msg_id_t id, const um_fw_port *port,
                                const um_fw_in *in, unsigned nin, const um_fw_out *out,
                                unsigned nout);

/*
 * A routine whose reply carries one right in a port descriptor (task_get_special_port,
 * semaphore_create, mach_port_extract_right, mach_port_request_notification). `port_in`, when
 * not NULL, travels first in the request. The reply's disposition must be `want` (any when
 * 0); on success *port is the right's name and *disp, when not NULL, its MACH_MSG_TYPE_PORT_*.
 */
kern_return_t um_forward_port_out(mach_port_t task, mach_msg_id_t id, const um_fw_port *port_in,
                                  const um_fw_in *in, unsigned nin, mach_msg_type_name_t want,
                                  mach_port_t *port, mach_msg_type_name_t *disp);

/*
 * The in-line array a reply ends with, its count in and out (MIG's CountInOut): `max`
 * elements of `elem` bytes at most travel (the array padded to 4 bytes). The count asked for
 * travels as the request's last argument.
 */
typedef struct um_fw_array {
    void *to;
    uint32_t elem;
    mach_msg_type_number_t *count;
    mach_msg_type_number_t max;
} um_fw_array;

/*
 * A routine whose reply carries in-line results `out`, then an in-line array
 * (task_info, mach_port_get_attributes, mach_port_peek's trailer, vm_region's info). When
 * `port` is not NULL the reply carries a send right first in a port descriptor (vm_region's
 * object name), written to *port on success and released on MIG_ARRAY_TOO_LARGE. As the MIG
 * stub does, the results before the array are written when the reply is good even if the array
 * does not fit: then the array holds the first *count elements, *count says how many came, and
 * the call returns MIG_ARRAY_TOO_LARGE.
 */
kern_return_t um_forward_array_out(mach_port_t task, mach_msg_id_t id, const um_fw_in *in,
                                   unsigned nin, mach_port_t *port, const um_fw_out *out,
                                   unsigned nout, const um_fw_array *array);

/* One out-of-line array of a reply: its address, count, and element size in bytes. */
typedef struct um_fw_ool {
    void *address; /* a pointer to the caller's pointer: where the array's address goes */
    mach_msg_type_number_t *count;
    uint32_t elem;
} um_fw_ool;

/*
 * A routine whose reply carries out-of-line arrays (mach_port_names, get_set_status,
 * space_info): MIG's layout is the OOL descriptors, the NDR record, the in-line results `out`,
 * then each array's count. On success the arrays are the caller's (vm_deallocate them);
 * a reply that fails a check is destroyed, its memory deallocated.
 */
kern_return_t um_forward_ool_out(mach_port_t task, mach_msg_id_t id, const um_fw_in *in,
                                 unsigned nin, const um_fw_out *out, unsigned nout,
                                 const um_fw_ool *ool, unsigned nool);

/*
 * task_threads: the reply's one out-of-line port array (send rights, MACH_MSG_TYPE_PORT_SEND),
 * then the NDR record and its count, which must be the descriptor's. On success the array and
 * the rights in it are the caller's; a reply that fails a check is destroyed, its rights
 * released and its memory deallocated.
 */
kern_return_t um_forward_ool_ports_out(mach_port_t task, mach_msg_id_t id,
                                       mach_port_array_t *ports, mach_msg_type_number_t *count);

/*
 * mach_port_construct: its options travel out of line (a MIG pointer argument: 24 bytes,
 * virtual copy), the context in line; the reply's name is written on success.
 */
kern_return_t um_forward_construct(mach_port_t task, const mach_port_options_t *options,
                                   mach_port_context_t context, mach_port_name_t *name);


/*
 * thread_policy_get (thread_act.defs 3618): the flavour, the count asked for (cut to
 * UM_FW_THREAD_POLICY_MAX, as the stub cuts it) and get_default travel; the reply carries the
 * count, the array and get_default after it. On success the array's words, the count and
 * get_default are written; a reply with more words than asked for writes the first *count,
 * sets *count to the reply's and returns MIG_ARRAY_TOO_LARGE, leaving get_default alone.
 * (thread_policy_set has mach_port_set_attributes' shape: um_forward_simple with the flavour,
 * the count and the words.)
 */
kern_return_t um_forward_thread_policy_get(mach_port_t thread, natural_t flavor, integer_t *info,
                                           mach_msg_type_number_t *count, boolean_t *get_default);

/*
 * The bounds of the in-line info arrays forwarded replies carry, Darwin's MIG types
 * (mach_types.defs): task_info_t array[*:93+1], thread_info_t array[*:32], host_info_t
 * array[*:68] (host_info, host_statistics), host_info64_t array[*:256] (host_statistics64),
 * mach_port_info_t array[*:17], thread_policy_t array[*:16]; the largest of them all (integers).
 */
#define UM_FW_TASK_INFO_MAX 94u
#define UM_FW_THREAD_INFO_MAX 32u
#define UM_FW_HOST_INFO_MAX 68u
#define UM_FW_HOST_INFO64_MAX 256u
#define UM_FW_PORT_INFO_MAX 17u
#define UM_FW_THREAD_POLICY_MAX 16u /* thread_policy_t array[*:16] */
#define UM_FW_ARRAY_MAX UM_FW_HOST_INFO64_MAX

/*
 * vm_read_list and mach_vm_read_list (`id`): MIG's fixed in-line array of VM_MAP_ENTRY_MAX
 * address and size pairs (`list`, 4096 bytes, all of them sent whatever `count` says) and the
 * count; a successful reply carries the array back, written over `list` whole as the stub
 * writes it; an error reply leaves `list` as it was.
 */
kern_return_t um_forward_read_list(mach_port_t task, mach_msg_id_t id, void *list,
                                   natural_t count);

/*
 * mach_port_set_attributes: its in-line array travels after its count (at most
 * UM_FW_PORT_INFO_MAX elements; more is MIG_ARRAY_TOO_LARGE before anything is sent).
 */
kern_return_t um_forward_set_attributes(mach_port_t task, mach_port_name_t name,
                                        mach_port_flavor_t flavor, const integer_t *info,
                                        mach_msg_type_number_t count);

#endif
