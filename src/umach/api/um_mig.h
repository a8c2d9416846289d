/*
 * um_mig.h — libumach's own use of the MIG runtime (api/mig.c): the thread's reply port
 * after fork, and one routine call made as a MIG user stub makes it (libumach only, not
 * installed).
 */
#ifndef UM_MIG_H
#define UM_MIG_H

#include <mach/mach.h>

#include <stdbool.h>
#include <stdint.h>

/*
 * In a forked child (a new task): forget the thread's MIG reply port, which named a right of
 * the parent's space (Darwin's libsystem: mig_fork_child). Called by the front end.
 */
void um_mig_fork_child(void);

/*
 * One routine call, as a MIG user stub makes it: `req` (its body laid out, `size` bytes,
 * MACH_MSGH_BITS_COMPLEX already in msgh_bits when it carries descriptors) is sent to `dest`
 * (COPY_SEND) with routine id `id` and a send-once right made from the thread's MIG reply port,
 * and the reply is received into `rep` (`rcv_size` bytes, trailer room included; `rep` may be
 * `req`), with no time limit.
 * Returns MACH_MSG_SUCCESS with the routine's reply (id + 100) in `rep`, its shape for the
 * caller to check (a reply of the wrong shape is the caller's to destroy); MIG_SERVER_DIED for
 * a send-once notification and MIG_REPLY_MISMATCH for any other id (the message destroyed); or
 * mach_msg's error. MIG's rule for the reply port: kept after a send refused before anything
 * was copied in (MACH_SEND_INVALID_DATA, _DEST, _HEADER) and after a bad reply, given up
 * (mig_dealloc_reply_port) after any other error, which may leave something queued on it: a
 * request refused later in its copy-in destroys the send-once right it made, notifying the port.
 */
mach_msg_return_t um_mig_rpc(mach_port_t dest, mach_msg_id_t id, mach_msg_header_t *req,
                             mach_msg_size_t size, mach_msg_header_t *rep,
                             mach_msg_size_t rcv_size);
/* The same with the destination right given as `disp` (MIG's MOVE_SEND_ONCE for a routine
 * whose target is a send-once right, such as task_resume2's token). */
mach_msg_return_t um_mig_rpc_via(mach_port_t dest, mach_msg_type_name_t disp, mach_msg_id_t id,
                                 mach_msg_header_t *req, mach_msg_size_t size,
                                 mach_msg_header_t *rep, mach_msg_size_t rcv_size);

/* MIG ids of the routines libumach sends (dispatch/um_forward.c) and serves on kernel ports
 * (api/kobject_server.c): mach_host.defs 200, clock.defs 1000, mach_port.defs 3200, task.defs 3400,
 * thread_act.defs 3600, vm_map.defs 3800, mach_vm.defs 4800. On LP64 Darwin the vm_* calls
 * are a second instance of the mach_vm_* routines, their ids included
 * (libsyscall/mach/vm_map.defs publishes mach_vm.defs under the vm_* names), so each sends its
 * mach_vm twin's id; vm_region, which 64-bit libSystem does not have, sends vm_map.defs' own. */
enum {
    UM_MIG_HOST_INFO = 200,
    UM_MIG_HOST_PAGE_SIZE = 202,
    UM_MIG_HOST_PROCESSOR_INFO = 204,
    UM_MIG_HOST_GET_CLOCK_SERVICE = 206,
    UM_MIG_HOST_STATISTICS = 216,
    UM_MIG_HOST_STATISTICS64 = 219,
    UM_MIG_CLOCK_GET_TIME = 1000,
    UM_MIG_CLOCK_GET_ATTRIBUTES = 1001,
    UM_MIG_MACH_PORT_NAMES = 3200,
    UM_MIG_MACH_PORT_TYPE = 3201,
    UM_MIG_MACH_PORT_ALLOCATE_NAME = 3203,
    UM_MIG_MACH_PORT_ALLOCATE = 3204,
    UM_MIG_MACH_PORT_DESTROY = 3205,
    UM_MIG_MACH_PORT_DEALLOCATE = 3206,
    UM_MIG_MACH_PORT_GET_REFS = 3207,
    UM_MIG_MACH_PORT_MOD_REFS = 3208,
    UM_MIG_MACH_PORT_PEEK = 3209,
    UM_MIG_MACH_PORT_SET_MSCOUNT = 3210,
    UM_MIG_MACH_PORT_GET_SET_STATUS = 3211,
    UM_MIG_MACH_PORT_MOVE_MEMBER = 3212,
    UM_MIG_MACH_PORT_REQUEST_NOTIFICATION = 3213,
    UM_MIG_MACH_PORT_INSERT_RIGHT = 3214,
    UM_MIG_MACH_PORT_EXTRACT_RIGHT = 3215,
    UM_MIG_MACH_PORT_SET_SEQNO = 3216,
    UM_MIG_MACH_PORT_GET_ATTRIBUTES = 3217,
    UM_MIG_MACH_PORT_SET_ATTRIBUTES = 3218,
    UM_MIG_MACH_PORT_SPACE_INFO = 3223,
    UM_MIG_MACH_PORT_INSERT_MEMBER = 3226,
    UM_MIG_MACH_PORT_EXTRACT_MEMBER = 3227,
    UM_MIG_MACH_PORT_GET_CONTEXT = 3228,
    UM_MIG_MACH_PORT_SET_CONTEXT = 3229,
    UM_MIG_MACH_PORT_CONSTRUCT = 3231,
    UM_MIG_MACH_PORT_DESTRUCT = 3232,
    UM_MIG_MACH_PORT_GUARD = 3233,
    UM_MIG_MACH_PORT_UNGUARD = 3234,
    UM_MIG_MACH_PORT_GUARD_WITH_FLAGS = 3237,
    UM_MIG_MACH_PORT_SWAP_GUARD = 3238,
    UM_MIG_TASK_TERMINATE = 3401,
    UM_MIG_TASK_THREADS = 3402,
    UM_MIG_TASK_INFO = 3405,
    UM_MIG_TASK_SUSPEND = 3407,
    UM_MIG_TASK_RESUME = 3408,
    UM_MIG_TASK_GET_SPECIAL_PORT = 3409,
    UM_MIG_TASK_SET_SPECIAL_PORT = 3410,
    UM_MIG_TASK_SET_EXCEPTION_PORTS = 3413,
    UM_MIG_TASK_GET_EXCEPTION_PORTS = 3414,
    UM_MIG_TASK_SWAP_EXCEPTION_PORTS = 3415,
    UM_MIG_TASK_SUSPEND2 = 3436,
    UM_MIG_TASK_RESUME2 = 3437,
    UM_MIG_SEMAPHORE_CREATE = 3418,
    UM_MIG_SEMAPHORE_DESTROY = 3419,
    UM_MIG_TASK_GET_EXC_GUARD_BEHAVIOR = 3452,
    UM_MIG_TASK_SET_EXC_GUARD_BEHAVIOR = 3453,
    UM_MIG_THREAD_GET_STATE = 3603, /* forwarded only (dispatch/um_forward.h) */
    UM_MIG_THREAD_SET_STATE = 3604, /* forwarded only */
    UM_MIG_THREAD_SUSPEND = 3605,   /* forwarded only */
    UM_MIG_THREAD_RESUME = 3606,    /* forwarded only */
    UM_MIG_THREAD_GET_SPECIAL_PORT = 3610,
    UM_MIG_THREAD_INFO = 3612, /* forwarded only (dispatch/um_forward.h) */
    UM_MIG_THREAD_SET_EXCEPTION_PORTS = 3613,
    UM_MIG_THREAD_GET_EXCEPTION_PORTS = 3614,
    UM_MIG_THREAD_SWAP_EXCEPTION_PORTS = 3615,
    UM_MIG_THREAD_POLICY_SET = 3617, /* forwarded only (dispatch/um_forward.h) */
    UM_MIG_THREAD_POLICY_GET = 3618, /* forwarded only */
    UM_MIG_VM_REGION = 3800,
    UM_MIG_MAKE_MEMORY_ENTRY_64 = 3825, /* vm_map.defs: mach_vm.defs' 4817 on LP64 */
    UM_MIG_MACH_VM_ALLOCATE = 4800,
    UM_MIG_MACH_VM_DEALLOCATE = 4801,
    UM_MIG_MACH_VM_PROTECT = 4802,
    UM_MIG_MACH_VM_INHERIT = 4803,
    UM_MIG_MACH_VM_READ = 4804,
    UM_MIG_MACH_VM_READ_LIST = 4805,
    UM_MIG_MACH_VM_WRITE = 4806,
    UM_MIG_MACH_VM_COPY = 4807,
    UM_MIG_MACH_VM_READ_OVERWRITE = 4808,
    UM_MIG_MACH_VM_MSYNC = 4809,
    UM_MIG_MACH_VM_BEHAVIOR_SET = 4810,
    UM_MIG_MACH_VM_PAGE_QUERY = 4814,
    UM_MIG_MACH_VM_REGION_RECURSE = 4815,
    UM_MIG_MACH_VM_REGION = 4816,
    UM_MIG_MACH_MAKE_MEMORY_ENTRY = 4817,
    UM_MIG_MACH_VM_PURGABLE_CONTROL = 4818,
    UM_MIG_MACH_VM_PAGE_INFO = 4819,
};


/* ---- the mach_vm routines a task port serves (api/vm_mig.c) --------------------------------- */

/* How a served mach_vm routine answers: RetCode and in-line results; its data out of line
 * (mach_vm_read), then the NDR record and the count; or a port (mach_vm_region's object name,
 * always null here; mach_make_memory_entry's entry) then the NDR record and the results. */
typedef enum um_vm_mig_reply {
    UM_VM_MIG_REPLY_SIMPLE,
    UM_VM_MIG_REPLY_OOL,
    UM_VM_MIG_REPLY_PORT,
} um_vm_mig_reply;

/* The largest in-line results of a served routine: mach_vm_read_list's array (4096 bytes);
 * mach_vm_region's address, size, count and info array of VM_REGION_INFO_MAX integers. */
#define UM_VM_MIG_OUT_MAX (20u + 4u * 1024u)

/*
 * One mach_vm routine a request to a task port asks for, as the task's front end runs it on
 * its own memory (embedded/um_vm_mig.c): the same calls a program makes, on mach_task_self().
 */
typedef struct um_vm_mig_call {
    mach_msg_id_t id;
    const uint8_t *in;         /* the in-line arguments after the NDR record, shape checked */
    uint64_t data;             /* mach_vm_write: its out-of-line data, in the task's memory */
    mach_msg_size_t data_size;
    uint8_t out[UM_VM_MIG_OUT_MAX]; /* in-line results (after RetCode or after the NDR record) */
    uint32_t out_len;
    uint64_t ool;              /* mach_vm_read: its data, task memory the reply moves away */
    mach_msg_size_t ool_size;
    /* mach_make_memory_entry's parent and the entry made: a naked send right (the kernel's
     * server: `port_in` the request's, `port_out` the reply's) or a name in the task (the
     * world's client, which serves the request itself: `name_out` a send right it moves). */
    struct um_port *port_in, *port_out;
    mach_port_name_t name_in, name_out;
} um_vm_mig_call;

/* The descriptor a served routine's request has before its in-line arguments. */
typedef enum um_vm_mig_desc {
    UM_VM_MIG_DESC_NONE,
    UM_VM_MIG_DESC_OOL,  /* mach_vm_write's data, whose count is its last argument */
    UM_VM_MIG_DESC_PORT, /* mach_make_memory_entry's parent, a send right */
} um_vm_mig_desc;

/*
 * The shape of routine `id`'s request (mach_vm.defs, LP64; vm_map.defs'
 * mach_make_memory_entry_64 has 4817's): `*args` bytes of in-line arguments after the NDR
 * record, and `*desc` the one descriptor before them, if any. false: not a routine a task
 * port serves.
 */
bool um_vm_mig_request(mach_msg_id_t id, uint32_t *args, um_vm_mig_desc *desc);
/* How routine `id` answers (um_vm_mig_request said it is served). */
um_vm_mig_reply um_vm_mig_reply_of(mach_msg_id_t id);

#endif
