/*
 * task_call_on_port.c — a task call whose task argument is a send right to an ordinary port
 * is a MIG request queued on that port, as on Darwin: the MIG routines (task_info,
 * task_get_special_port, mach_port_extract_right, semaphore_create, ...) send it, and so do
 * the calls that try a trap first (mach_port_allocate, deallocate, type, mod_refs,
 * get_attributes, request_notification, insert_member: libsystem sends the MIG request when
 * the trap says MACH_SEND_INVALID_DEST, libsyscall/mach/mach_port.c). The caller waits for the reply;
 * the port's receiver decides the result: an error reply's RetCode, a full reply's results,
 * MIG_SERVER_DIED when the request is destroyed unanswered, MIG_REPLY_MISMATCH for a reply of
 * another id. A name that is not a send right (receive right alone, port set, dead name,
 * null) is MACH_SEND_INVALID_DEST at once and queues nothing. A kernel object of another kind
 * (a thread or the host port) gets the kernel's answer for a null task: KERN_INVALID_TASK from
 * the mach_port_* routines, KERN_INVALID_ARGUMENT from task_info and the special-port calls,
 * and nothing is left on the caller's MIG reply port.
 */
#include "notify_util.h"

#include <mach/mach_vm.h>
#include <mach/mig.h>
#include <mach/mig_errors.h>
#include <mach/semaphore.h>
#include <mach/sync_policy.h>
#include <mach/task_info.h>
#include <mach/task_special_ports.h>
#include <mach/vm_map.h>
#include <mach/vm_region.h>
#include <mach_debug/ipc_info.h>

#include <pthread.h>
#include <stdbool.h>

/* MIG message ids of the routines (mach_port.defs: 3200 + n, task.defs: 3400 + n). */
enum {
    TC_MACH_PORT_ALLOCATE = 3204,
    TC_MACH_PORT_DEALLOCATE = 3206,
    TC_TASK_INFO = 3405,
    TC_TASK_GET_SPECIAL_PORT = 3409,
};

/* A task call made on another thread (it waits for the reply), with what it returned. */
typedef struct tc_call {
    mach_port_t task;
    int which;
    kern_return_t kr;
    mach_port_name_t name;
    mach_msg_type_number_t count;
    integer_t info[TASK_INFO_MAX];
    /* out-of-line results (mach_port_names, get_set_status, space_info) */
    mach_port_name_array_t names;
    mach_port_type_array_t types;
    mach_msg_type_number_t names_count, types_count;
    ipc_info_space_t space;
    ipc_info_name_array_t table;
    ipc_info_tree_name_array_t tree;
    mach_msg_type_number_t table_count, tree_count;
    /* mach_port_peek's */
    mach_port_seqno_t seqno;
    mach_msg_size_t msg_size;
    mach_msg_id_t msg_id;
    char trailer[MAX_TRAILER_SIZE];
    /* the vm calls' */
    mach_vm_address_t address;
    mach_vm_size_t size;
    pthread_t thread;
} tc_call;

/* The read_list calls' array (vm_read_entry_t has its layout): one call at a time uses it,
 * the test reads it after joining the call's thread. */
static mach_vm_read_entry_t tc_list;

enum {
    TC_ALLOCATE,
    TC_DEALLOCATE,
    TC_TASK_INFO_CALL,
    TC_GET_SPECIAL_PORT,
    /* the rest: each with its routine's id in tc_more (the id queued on the port) */
    TC_TYPE,
    TC_MOD_REFS,
    TC_GET_ATTRIBUTES,
    TC_SET_ATTRIBUTES,
    TC_EXTRACT_RIGHT,
    TC_REQUEST_NOTIFICATION,
    TC_INSERT_MEMBER,
    TC_SET_SPECIAL_PORT,
    TC_SEMAPHORE_CREATE,
    /* replies with out-of-line arrays, a trailer, vm results; options out of line */
    TC_NAMES,
    TC_GET_SET_STATUS,
    TC_SPACE_INFO,
    TC_CONSTRUCT,
    TC_PEEK,
    TC_MACH_VM_REGION,
    TC_VM_REGION_64,
    TC_VM_REGION,
    TC_MACH_VM_COPY,
    TC_VM_COPY,
    TC_MACH_VM_READ_OVERWRITE,
    TC_VM_READ_OVERWRITE,
    TC_MACH_VM_READ,
    TC_VM_READ,
    TC_MACH_VM_READ_LIST,
    TC_VM_READ_LIST,
    TC_MACH_VM_INHERIT, /* address, size and a value: one layout */
    TC_VM_INHERIT,
    TC_MACH_VM_MSYNC,
    TC_VM_MSYNC,
    TC_MACH_VM_BEHAVIOR_SET,
    TC_VM_BEHAVIOR_SET,
    TC_MACH_VM_PAGE_QUERY, /* in-line results, then arrays (page_info, region_recurse) */
    TC_MACH_VM_PURGABLE_CONTROL,
    TC_MACH_VM_PAGE_INFO,
    TC_MACH_VM_REGION_RECURSE,
    TC_SET_EXC_GUARD_BAD, /* task_set_exc_guard_behavior with a bit beyond TASK_EXC_GUARD_ALL */
    TC_END
};

/* A behaviour only a task's server can refuse (KERN_INVALID_VALUE: not in TASK_EXC_GUARD_ALL). */
#define TC_EXC_GUARD_BAD ((task_exc_guard_behavior_t)TASK_EXC_GUARD_ALL + 1)

/* What TC_CONSTRUCT asks for. */
static const mach_port_options_t tc_options = {.flags = MPO_INSERT_SEND_RIGHT,
                                               .mpl = {.mpl_qlimit = 3}};

/* The three region calls of one layout: mach_vm_region, vm_region_64, vm_region. */
static kern_return_t tc_region(tc_call *c)
{
    vm_address_t a = (vm_address_t)c->address;
    vm_size_t size = 0;
    kern_return_t kr;
    if (c->which == TC_MACH_VM_REGION)
        return mach_vm_region(c->task, &c->address, &c->size, VM_REGION_BASIC_INFO_64, c->info,
                              &c->count, &c->name);
#ifdef __APPLE__
    /* 64-bit macOS declares vm_region but libSystem does not export it: vm_region_64 stands
     * in (the request it checks for is vm_region_64's). */
    kr = vm_region_64(c->task, &a, &size, VM_REGION_BASIC_INFO_64, c->info, &c->count, &c->name);
#else
    if (c->which == TC_VM_REGION_64)
        kr = vm_region_64(c->task, &a, &size, VM_REGION_BASIC_INFO_64, c->info, &c->count,
                          &c->name);
    else
        kr = vm_region(c->task, &a, &size, VM_REGION_BASIC_INFO_64, c->info, &c->count, &c->name);
#endif
    c->address = a;
    c->size = size;
    return kr;
}

/* The calls of TC_NAMES and after. */
static kern_return_t tc_run_more(tc_call *c)
{
    switch (c->which) {
    case TC_NAMES:
        return mach_port_names(c->task, &c->names, &c->names_count, &c->types, &c->types_count);
    case TC_GET_SET_STATUS:
        return mach_port_get_set_status(c->task, 0x1234, &c->names, &c->names_count);
    case TC_SPACE_INFO:
        return mach_port_space_info(c->task, &c->space, &c->table, &c->table_count, &c->tree,
                                    &c->tree_count);
    case TC_CONSTRUCT:
        return mach_port_construct(c->task, (mach_port_options_ptr_t)&tc_options, 0x1122334455,
                                   &c->name);
    case TC_PEEK:
        return mach_port_peek(c->task, 0x1234, MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                                                   MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SEQNO),
                              &c->seqno, &c->msg_size, &c->msg_id, c->trailer, &c->count);
    case TC_MACH_VM_REGION:
    case TC_VM_REGION_64:
    case TC_VM_REGION:
        return tc_region(c);
    case TC_MACH_VM_COPY:
        return mach_vm_copy(c->task, 0x10000, 0x3000, 0x20000);
    case TC_VM_COPY:
        return vm_copy(c->task, 0x10000, 0x3000, 0x20000);
    case TC_MACH_VM_READ_OVERWRITE:
        return mach_vm_read_overwrite(c->task, 0x10000, 0x3000, 0x20000, &c->size);
    case TC_MACH_VM_READ_LIST:
    case TC_VM_READ_LIST:
        memset(tc_list, 0, sizeof tc_list);
        tc_list[0].address = 0x10000;
        tc_list[0].size = 0x3000;
        tc_list[VM_MAP_ENTRY_MAX - 1].address = 7;
        tc_list[VM_MAP_ENTRY_MAX - 1].size = 8;
        if (c->which == TC_MACH_VM_READ_LIST)
            return mach_vm_read_list(c->task, tc_list, 1);
        return vm_read_list(c->task, (struct vm_read_entry *)tc_list, 1);
    case TC_SET_EXC_GUARD_BAD:
        return task_set_exc_guard_behavior(c->task, TC_EXC_GUARD_BAD);
    case TC_MACH_VM_INHERIT:
        return mach_vm_inherit(c->task, 0x10000, 0x3000, VM_INHERIT_SHARE);
    case TC_VM_INHERIT:
        return vm_inherit(c->task, 0x10000, 0x3000, VM_INHERIT_SHARE);
    case TC_MACH_VM_MSYNC:
        return mach_vm_msync(c->task, 0x10000, 0x3000, VM_SYNC_SYNCHRONOUS);
    case TC_VM_MSYNC:
        return vm_msync(c->task, 0x10000, 0x3000, VM_SYNC_SYNCHRONOUS);
    case TC_MACH_VM_BEHAVIOR_SET:
        return mach_vm_behavior_set(c->task, 0x10000, 0x3000, VM_BEHAVIOR_RANDOM);
    case TC_VM_BEHAVIOR_SET:
        return vm_behavior_set(c->task, 0x10000, 0x3000, VM_BEHAVIOR_RANDOM);
    case TC_MACH_VM_PAGE_QUERY:
        return mach_vm_page_query(c->task, 0x10000, &c->info[0], &c->info[1]);
    case TC_MACH_VM_PURGABLE_CONTROL: {
        int state = VM_PURGABLE_VOLATILE;
        kern_return_t kr = mach_vm_purgable_control(c->task, 0x10000, VM_PURGABLE_SET_STATE,
                                                    &state);
        c->info[0] = state;
        return kr;
    }
    case TC_MACH_VM_PAGE_INFO:
        return mach_vm_page_info(c->task, 0x10000, VM_PAGE_INFO_BASIC, c->info, &c->count);
    case TC_MACH_VM_REGION_RECURSE: {
        natural_t depth = 2;
        c->address = 0x10000;
        kern_return_t kr = mach_vm_region_recurse(c->task, &c->address, &c->size, &depth,
                                                  c->info, &c->count);
        c->msg_id = (mach_msg_id_t)depth;
        return kr;
    }
    case TC_MACH_VM_READ:
    case TC_VM_READ: {
        vm_offset_t data = (vm_offset_t)c->address;
        kern_return_t kr = c->which == TC_MACH_VM_READ
                               ? mach_vm_read(c->task, 0x10000, 0x3000, &data, &c->count)
                               : vm_read(c->task, 0x10000, 0x3000, &data, &c->count);
        c->address = data;
        return kr;
    }
    default: {
        vm_size_t size = (vm_size_t)c->size;
        kern_return_t kr = vm_read_overwrite(c->task, 0x10000, 0x3000, 0x20000, &size);
        c->size = size;
        return kr;
    }
    }
}

static void *tc_run(void *arg)
{
    tc_call *c = arg;
    switch (c->which) {
    case TC_ALLOCATE:
        c->kr = mach_port_allocate(c->task, MACH_PORT_RIGHT_RECEIVE, &c->name);
        break;
    case TC_DEALLOCATE:
        c->kr = mach_port_deallocate(c->task, 0x1234);
        break;
    case TC_TASK_INFO_CALL:
        c->kr = task_info(c->task, TASK_AUDIT_TOKEN, c->info, &c->count);
        break;
    case TC_GET_SPECIAL_PORT:
        c->kr = task_get_special_port(c->task, TASK_BOOTSTRAP_PORT, &c->name);
        break;
    case TC_TYPE: {
        mach_port_type_t type;
        c->kr = mach_port_type(c->task, 0x1234, &type);
        break;
    }
    case TC_MOD_REFS:
        c->kr = mach_port_mod_refs(c->task, 0x1234, MACH_PORT_RIGHT_SEND, 1);
        break;
    case TC_GET_ATTRIBUTES:
        c->count = MACH_PORT_LIMITS_INFO_COUNT;
        c->kr = mach_port_get_attributes(c->task, 0x1234, MACH_PORT_LIMITS_INFO,
                                         (mach_port_info_t)c->info, &c->count);
        break;
    case TC_SET_ATTRIBUTES:
        c->kr = mach_port_set_attributes(c->task, 0x1234, MACH_PORT_LIMITS_INFO,
                                         (mach_port_info_t)c->info, MACH_PORT_LIMITS_INFO_COUNT);
        break;
    case TC_EXTRACT_RIGHT: {
        mach_msg_type_name_t disp;
        c->kr = mach_port_extract_right(c->task, 0x1234, MACH_MSG_TYPE_COPY_SEND, &c->name, &disp);
        break;
    }
    case TC_REQUEST_NOTIFICATION: {
        mach_port_t previous;
        c->kr = mach_port_request_notification(c->task, 0x1234, MACH_NOTIFY_DEAD_NAME, 0,
                                               MACH_PORT_NULL, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                                               &previous);
        break;
    }
    case TC_INSERT_MEMBER:
        c->kr = mach_port_insert_member(c->task, 0x1234, 0x5678);
        break;
    case TC_SET_SPECIAL_PORT:
        c->kr = task_set_special_port(c->task, TASK_BOOTSTRAP_PORT, MACH_PORT_NULL);
        break;
    case TC_SEMAPHORE_CREATE: {
        semaphore_t sem;
        c->kr = semaphore_create(c->task, &sem, SYNC_POLICY_FIFO, 0);
        break;
    }
    default:
        c->kr = tc_run_more(c);
        break;
    }
    return NULL;
}

/* The MIG id each call of TC_TYPE... queues (mach_port.defs 3200 + n, task.defs 3400 + n). */
static const mach_msg_id_t tc_more[TC_END] = {
    [TC_TYPE] = 3201,          [TC_MOD_REFS] = 3208,       [TC_GET_ATTRIBUTES] = 3217,
    [TC_SET_ATTRIBUTES] = 3218, [TC_EXTRACT_RIGHT] = 3215,  [TC_REQUEST_NOTIFICATION] = 3213,
    [TC_INSERT_MEMBER] = 3226, [TC_SET_SPECIAL_PORT] = 3410, [TC_SEMAPHORE_CREATE] = 3418,
    /* mach_port.defs, then mach_vm.defs (4800 + n): on LP64 the vm_* calls are a second
     * instance of the mach_vm_* routines, ids included (libsyscall/mach/vm_map.defs); only
     * umach's vm_region (not in 64-bit libSystem) sends vm_map.defs' (3800) */
    [TC_NAMES] = 3200,          [TC_GET_SET_STATUS] = 3211, [TC_SPACE_INFO] = 3223,
    [TC_CONSTRUCT] = 3231,      [TC_PEEK] = 3209,           [TC_MACH_VM_REGION] = 4816,
#ifdef __APPLE__
    [TC_VM_REGION_64] = 4816,   [TC_VM_REGION] = 4816,      [TC_MACH_VM_COPY] = 4807,
#else
    [TC_VM_REGION_64] = 4816,   [TC_VM_REGION] = 3800,      [TC_MACH_VM_COPY] = 4807,
#endif
    [TC_VM_COPY] = 4807,        [TC_MACH_VM_READ_OVERWRITE] = 4808, [TC_VM_READ_OVERWRITE] = 4808,
    [TC_MACH_VM_READ] = 4804,   [TC_VM_READ] = 4804,
    [TC_MACH_VM_READ_LIST] = 4805, [TC_VM_READ_LIST] = 4805,
    [TC_MACH_VM_INHERIT] = 4803, [TC_VM_INHERIT] = 4803, [TC_MACH_VM_MSYNC] = 4809,
    [TC_VM_MSYNC] = 4809,       [TC_MACH_VM_BEHAVIOR_SET] = 4810, [TC_VM_BEHAVIOR_SET] = 4810,
    [TC_MACH_VM_PAGE_QUERY] = 4814, [TC_MACH_VM_PURGABLE_CONTROL] = 4818,
    [TC_MACH_VM_PAGE_INFO] = 4819, [TC_MACH_VM_REGION_RECURSE] = 4815,
    [TC_SET_EXC_GUARD_BAD] = 3453, /* task.defs */
};

/* Starts the call `which` on `task` with `count` as its array's room. */
static void tc_start_count(tc_call *c, mach_port_t task, int which, mach_msg_type_number_t count)
{
    memset(c, 0, sizeof *c);
    c->task = task;
    c->which = which;
    c->kr = -1;
    c->name = 0x5678;
    c->count = count;
    c->address = 0x7000;
    c->size = 0x5678;
    MT_REQUIRE(pthread_create(&c->thread, NULL, tc_run, c) == 0);
}

static void tc_start(tc_call *c, mach_port_t task, int which)
{
    mach_msg_type_number_t count = TASK_AUDIT_TOKEN_COUNT;
    if (which == TC_MACH_VM_REGION || which == TC_VM_REGION_64 || which == TC_VM_REGION)
        count = VM_REGION_BASIC_INFO_COUNT_64;
    else if (which == TC_PEEK)
        count = MAX_TRAILER_SIZE;
    else if (which == TC_MACH_VM_REGION_RECURSE)
        count = VM_REGION_SUBMAP_INFO_COUNT_64;
    else if (which == TC_MACH_VM_PAGE_INFO)
        count = VM_PAGE_INFO_BASIC_COUNT;
    tc_start_count(c, task, which, count);
}

/* A request received from `port` within 10 s: its id, or -1 (nothing came). */
static mach_msg_id_t tc_receive(mach_port_t port, nu_msg *m)
{
    memset(m, 0, sizeof *m);
    if (mach_msg(&m->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *m, port, 10000,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return -1;
    return m->h.msgh_id;
}

/* The request came with a send-once right to answer on. */
static void tc_expect_reply_right(const nu_msg *m)
{
    MT_EQ(MACH_MSGH_BITS_REMOTE(m->h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_CHECK(MACH_PORT_VALID(m->h.msgh_remote_port));
}

/* Answers a request with a bare error reply (a mig_reply_error_t) of `id` and `ret`. */
static void tc_answer(const nu_msg *req, mach_msg_id_t id, kern_return_t ret)
{
    mig_reply_error_t r;
    memset(&r, 0, sizeof r);
    r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    r.Head.msgh_size = sizeof r;
    r.Head.msgh_remote_port = req->h.msgh_remote_port;
    r.Head.msgh_id = id;
    r.NDR = NDR_record;
    r.RetCode = ret;
    MT_KR(mach_msg(&r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
}

static kern_return_t tc_join(tc_call *c)
{
    pthread_join(c->thread, NULL);
    return c->kr;
}

/* Starts the call `which` on `port` and receives its request, which must have msgh_id `id`. */
static void tc_start_received(tc_call *c, mach_port_t port, int which, mach_msg_id_t id,
                              nu_msg *req)
{
    tc_start(c, port, which);
    MT_EQ(tc_receive(port, req), id);
}

/* Sends `reply` (`size` bytes, its body filled in) as the answer to `req`: id + 100 to its
 * send-once right, complex when `complex`, with `reply_right`/`reply_disp` as a reply right. */
static void tc_reply(const nu_msg *req, void *reply, mach_msg_size_t size, bool complex,
                     mach_port_t reply_right, mach_msg_type_name_t reply_disp)
{
    mach_msg_header_t *h = reply;
    h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, reply_disp) |
                   (complex ? MACH_MSGH_BITS_COMPLEX : 0);
    h->msgh_size = size;
    h->msgh_remote_port = req->h.msgh_remote_port;
    h->msgh_local_port = reply_right;
    h->msgh_voucher_port = MACH_PORT_NULL;
    h->msgh_id = req->h.msgh_id + 100;
    MT_KR(mach_msg(h, MACH_SEND_MSG, size, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
}

/*
 * One call of `which` on `port` served by the test: its request (msgh_id `id`) is received,
 * carries a send-once reply right, and is answered with `ret`, which the call returns.
 */
static void tc_round(tc_call *c, mach_port_t port, int which, mach_msg_id_t id, kern_return_t ret)
{
    nu_msg m;
    tc_start_received(c, port, which, id, &m);
    tc_expect_reply_right(&m);
    tc_answer(&m, id + 100, ret);
    MT_EQ(tc_join(c), ret);
}

MT_TEST(a_mig_routine_on_a_plain_port_queues_its_request_and_returns_the_receivers_answer)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    tc_call c;
    tc_round(&c, p, TC_TASK_INFO_CALL, TC_TASK_INFO, KERN_NOT_SUPPORTED);
    tc_round(&c, p, TC_GET_SPECIAL_PORT, TC_TASK_GET_SPECIAL_PORT, KERN_INVALID_ARGUMENT);
    MT_EQ(c.name, 0x5678u); /* not written */
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(a_trap_routed_call_on_a_plain_port_falls_back_to_its_mig_request)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    nu_msg m;
    tc_call c;
    tc_round(&c, p, TC_ALLOCATE, TC_MACH_PORT_ALLOCATE, KERN_NO_SPACE);
    MT_EQ(c.name, 0x5678u);

    /* A full reply's results are the call's. */
    tc_start_received(&c, p, TC_ALLOCATE, TC_MACH_PORT_ALLOCATE, &m);
    struct {
        mach_msg_header_t Head;
        NDR_record_t NDR;
        kern_return_t RetCode;
        mach_port_name_t name;
    } full;
    memset(&full, 0, sizeof full);
    full.NDR = NDR_record;
    full.RetCode = KERN_SUCCESS;
    full.name = 0x1234;
    tc_reply(&m, &full, sizeof full, false, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.name, 0x1234u);

    /* A routine with no results: a successful bare reply is success. */
    tc_start_received(&c, p, TC_DEALLOCATE, TC_MACH_PORT_DEALLOCATE, &m);
    tc_answer(&m, TC_MACH_PORT_DEALLOCATE + 100, KERN_SUCCESS);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(other_task_calls_on_a_plain_port_queue_their_routines_request_too)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    nu_msg m;
    tc_call c;
    /* (the read_list calls' 4 KiB requests are received in their own test) */
    for (int which = TC_TYPE; which < TC_MACH_VM_READ_LIST; which++) {
        tc_start(&c, p, which);
        mach_msg_id_t id = tc_receive(p, &m);
        MT_EQ(id, tc_more[which]);
        if (id == -1) {
            MT_EQ(tc_join(&c), MACH_SEND_INVALID_DEST); /* it did not wait: nothing to answer */
            continue;
        }
        tc_expect_reply_right(&m);
        tc_answer(&m, id + 100, KERN_NOT_SUPPORTED);
        MT_EQ(tc_join(&c), KERN_NOT_SUPPORTED);
    }
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);

    /* A full reply carrying a right: mach_port_extract_right's caller gets it. */
    mach_port_t q = nu_port();
    MT_REQUIRE(q != MACH_PORT_NULL);
    tc_start_received(&c, p, TC_EXTRACT_RIGHT, tc_more[TC_EXTRACT_RIGHT], &m);
    struct {
        mach_msg_header_t Head;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t poly;
    } full;
    memset(&full, 0, sizeof full);
    full.body.msgh_descriptor_count = 1;
    full.poly.name = q;
    full.poly.disposition = MACH_MSG_TYPE_MAKE_SEND;
    full.poly.type = MACH_MSG_PORT_DESCRIPTOR;
    tc_reply(&m, &full, sizeof full, true, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.name, q); /* a send right to q, under q's own name */
    MT_EQ(nu_refs(q, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_destruct(TASK, q, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(a_request_destroyed_unanswered_is_mig_server_died_and_a_wrong_reply_is_a_mismatch)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    nu_msg m;
    tc_call c;
    tc_start_received(&c, p, TC_ALLOCATE, TC_MACH_PORT_ALLOCATE, &m);
    mach_msg_destroy(&m.h); /* the reply right dies: a send-once notification comes back */
    MT_EQ(tc_join(&c), MIG_SERVER_DIED);

    tc_start_received(&c, p, TC_TASK_INFO_CALL, TC_TASK_INFO, &m);
    tc_answer(&m, 4242, KERN_SUCCESS);
    MT_EQ(tc_join(&c), MIG_REPLY_MISMATCH);

    /* The receiver's right dying with the request queued is the same as destroying it. */
    tc_start(&c, p, TC_DEALLOCATE);
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    for (int i = 0; i < 1000; i++) {
        n = MACH_PORT_RECEIVE_STATUS_COUNT;
        MT_KR(mach_port_get_attributes(TASK, p, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                       &n),
              KERN_SUCCESS);
        if (st.mps_msgcount > 0)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    MT_EQ(st.mps_msgcount, 1u);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    MT_EQ(tc_join(&c), MIG_SERVER_DIED);
}

MT_TEST(a_task_call_on_a_name_that_is_not_a_send_right_is_invalid_dest_and_queues_nothing)
{
    (void)mig_get_reply_port(); /* the reply port a MIG call uses stays in the space */
    NU_BEGIN();
    mach_port_t r = nu_port(), pset = MACH_PORT_NULL, dead = MACH_PORT_NULL;
    MT_REQUIRE(r != MACH_PORT_NULL);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &pset), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    const mach_port_t names[] = {r, pset, dead, MACH_PORT_NULL};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        mach_port_name_t n = 0x5678;
        MT_KR(mach_port_allocate(names[i], MACH_PORT_RIGHT_RECEIVE, &n), MACH_SEND_INVALID_DEST);
        MT_EQ(n, 0x5678u);
        MT_KR(mach_port_deallocate(names[i], 0x1234), MACH_SEND_INVALID_DEST);
        MT_KR(mach_port_mod_refs(names[i], 0x1234, MACH_PORT_RIGHT_SEND, 1),
              MACH_SEND_INVALID_DEST);
        integer_t info[TASK_AUDIT_TOKEN_COUNT];
        mach_msg_type_number_t count = TASK_AUDIT_TOKEN_COUNT;
        MT_KR(task_info(names[i], TASK_AUDIT_TOKEN, info, &count), MACH_SEND_INVALID_DEST);
        MT_KR(task_get_special_port(names[i], TASK_BOOTSTRAP_PORT, &n), MACH_SEND_INVALID_DEST);
        MT_EQ(n, 0x5678u);
    }
    nu_msg m;
    memset(&m, 0, sizeof m);
    MT_KR(mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, r, 0, MACH_PORT_NULL),
          MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, r, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, pset, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_DEAD_NAME, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(task_set_exc_guard_behavior_sends_a_value_the_kernel_would_refuse_and_returns_the_answer)
{
    /* Darwin's stub sends the request before anything judges the value: a plain port's
     * receiver gets it, a dead name is MACH_SEND_INVALID_DEST; only a task refuses it. */
    mach_port_t p = nu_port_with_send(), dead = MACH_PORT_NULL;
    MT_REQUIRE(p != MACH_PORT_NULL);
    nu_msg m;
    tc_call c;
    tc_start_received(&c, p, TC_SET_EXC_GUARD_BAD, tc_more[TC_SET_EXC_GUARD_BAD], &m);
    tc_expect_reply_right(&m);
    struct {
        mach_msg_header_t Head;
        NDR_record_t NDR;
        task_exc_guard_behavior_t behavior;
    } req;
    MT_EQ(m.h.msgh_size, (mach_msg_size_t)sizeof req);
    memcpy(&req, &m, sizeof req);
    MT_EQ(req.behavior, TC_EXC_GUARD_BAD);
    tc_answer(&m, tc_more[TC_SET_EXC_GUARD_BAD] + 100, KERN_NOT_SUPPORTED);
    MT_EQ(tc_join(&c), KERN_NOT_SUPPORTED);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);

    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    MT_KR(task_set_exc_guard_behavior(dead, TC_EXC_GUARD_BAD), MACH_SEND_INVALID_DEST);
    MT_KR(task_set_exc_guard_behavior(MACH_PORT_NULL, TC_EXC_GUARD_BAD), MACH_SEND_INVALID_DEST);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_DEAD_NAME, -1), KERN_SUCCESS);
    MT_KR(task_set_exc_guard_behavior(TASK, TC_EXC_GUARD_BAD), KERN_INVALID_VALUE);
}

/* Messages waiting on this thread's MIG reply port (none after a call has returned). */
static unsigned tc_reply_port_backlog(void)
{
    mach_port_status_t st;
    mach_msg_type_number_t n = MACH_PORT_RECEIVE_STATUS_COUNT;
    memset(&st, 0, sizeof st);
    if (mach_port_get_attributes(TASK, mig_get_reply_port(), MACH_PORT_RECEIVE_STATUS,
                                 (mach_port_info_t)&st, &n) != KERN_SUCCESS)
        return 999;
    return st.mps_msgcount;
}

MT_TEST(a_task_call_on_a_thread_or_host_port_gets_the_kernels_answer_for_a_null_task)
{
    mach_port_t thread = mach_thread_self(), host = mach_host_self();
    const mach_port_t names[] = {thread, host};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        mach_port_name_t n = 0x5678;
        MT_KR(mach_port_allocate(names[i], MACH_PORT_RIGHT_RECEIVE, &n), KERN_INVALID_TASK);
        MT_EQ(n, 0x5678u);
        MT_KR(mach_port_deallocate(names[i], 0x1234), KERN_INVALID_TASK);
        mach_port_type_t type = 0;
        MT_KR(mach_port_type(names[i], 0x1234, &type), KERN_INVALID_TASK);
        integer_t info[TASK_AUDIT_TOKEN_COUNT];
        mach_msg_type_number_t count = TASK_AUDIT_TOKEN_COUNT;
        MT_KR(task_info(names[i], TASK_AUDIT_TOKEN, info, &count), KERN_INVALID_ARGUMENT);
        MT_KR(task_get_special_port(names[i], TASK_BOOTSTRAP_PORT, &n), KERN_INVALID_ARGUMENT);
        MT_EQ(n, 0x5678u);
        MT_EQ(tc_reply_port_backlog(), 0u);
    }
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

/* ---- replies with out-of-line arrays, a trailer, or vm results ------------------------------ */

/* MIG's layouts (mach_port.defs, mach_vm.defs, vm_map.defs), packed on 4 bytes as MIG packs. */
#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t ool[2];
    NDR_record_t NDR;
    mach_msg_type_number_t count[2];
} tc_two_arrays_reply; /* mach_port_names */

typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t ool;
    NDR_record_t NDR;
    mach_msg_type_number_t count;
} tc_one_array_reply; /* mach_port_get_set_status */

typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t ool[2];
    NDR_record_t NDR;
    ipc_info_space_t space;
    mach_msg_type_number_t count[2];
} tc_space_info_reply;

typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t options;
    NDR_record_t NDR;
    mach_port_context_t context;
} tc_construct_request;

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    mach_port_name_t name;
    mach_msg_trailer_type_t trailer_type;
    mach_port_seqno_t seqno;
    mach_msg_type_number_t count;
} tc_peek_request;

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
    mach_port_seqno_t seqno;
    mach_msg_size_t size;
    mach_msg_id_t id;
    mach_msg_type_number_t count;
    char trailer[68];
} tc_peek_reply;

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    mach_vm_address_t address;
    vm_region_flavor_t flavor;
    mach_msg_type_number_t count;
} tc_region_request;

typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t object_name;
    NDR_record_t NDR;
    mach_vm_address_t address;
    mach_vm_size_t size;
    mach_msg_type_number_t count;
    int info[10];
} tc_region_reply;

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    mach_vm_address_t address, size, data;
} tc_vm_request; /* vm_copy's source, size, destination; vm_read_overwrite's */

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
    mach_vm_size_t outsize;
} tc_read_overwrite_reply;
typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    mach_vm_read_entry_t list;
    natural_t count;
} tc_read_list_request;

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
    mach_vm_read_entry_t list;
} tc_read_list_reply;
#pragma pack(pop)

/* The largest request the calls above send, with room for a trailer. */
typedef union tc_request {
    mach_msg_header_t h;
    nu_msg m;
    tc_construct_request construct;
    tc_peek_request peek;
    tc_region_request region;
    tc_vm_request vm;
    uint8_t bytes[256];
} tc_request;

/* An out-of-line array a reply sends from the replier's memory (a copy). */
static mach_msg_ool_descriptor_t tc_ool(const void *address, mach_msg_size_t size)
{
    mach_msg_ool_descriptor_t d;
    memset(&d, 0, sizeof d);
    d.address = (void *)(uintptr_t)address;
    d.size = size;
    d.deallocate = FALSE;
    d.copy = MACH_MSG_VIRTUAL_COPY;
    d.type = MACH_MSG_OOL_DESCRIPTOR;
    return d;
}

/* mach_port_names' reply carrying `names` and `types` (`n` each; `typecount` says how many
 * types there are) and `right`/`disp` as its reply right (MACH_PORT_NULL/0 for none). */
static void tc_names_reply(const tc_request *req, const mach_port_name_t *names,
                           const mach_port_type_t *types, unsigned n, unsigned typecount,
                           mach_port_t right, mach_msg_type_name_t disp)
{
    tc_two_arrays_reply r;
    memset(&r, 0, sizeof r);
    r.body.msgh_descriptor_count = 2;
    r.ool[0] = tc_ool(names, n * (mach_msg_size_t)sizeof *names);
    r.ool[1] = tc_ool(types, n * (mach_msg_size_t)sizeof *types);
    r.NDR = NDR_record;
    r.count[0] = n;
    r.count[1] = typecount;
    tc_reply(&req->m, &r, sizeof r, true, right, disp);
}

MT_TEST(calls_whose_reply_carries_out_of_line_arrays_give_the_caller_the_arrays)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    tc_request req;
    tc_call c;

    const mach_port_name_t names[3] = {0x103, 0x207, 0x30b};
    const mach_port_type_t types[3] = {MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_SEND,
                                       MACH_PORT_TYPE_DEAD_NAME};
    tc_start_received(&c, p, TC_NAMES, 3200, &req.m);
    MT_EQ(req.h.msgh_size, sizeof(mach_msg_header_t)); /* mach_port_names sends no argument */
    tc_names_reply(&req, names, types, 3, 3, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.names_count, 3u);
    MT_EQ(c.types_count, 3u);
    MT_REQUIRE(c.names != NULL && c.types != NULL);
    MT_CHECK(c.names != names);
    MT_CHECK(memcmp(c.names, names, sizeof names) == 0);
    MT_CHECK(memcmp(c.types, types, sizeof types) == 0);
    MT_KR(vm_deallocate(TASK, (vm_address_t)c.names, sizeof names), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, (vm_address_t)c.types, sizeof types), KERN_SUCCESS);

    /* mach_port_get_set_status: the set's name in line, the members out of line. */
    tc_start_received(&c, p, TC_GET_SET_STATUS, 3211, &req.m);
    MT_EQ(req.h.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4);
    mach_port_name_t set;
    memcpy(&set, req.bytes + sizeof(mach_msg_header_t) + sizeof(NDR_record_t), sizeof set);
    MT_EQ(set, 0x1234u);
    tc_one_array_reply one;
    memset(&one, 0, sizeof one);
    one.body.msgh_descriptor_count = 1;
    one.ool = tc_ool(names, 2 * sizeof *names);
    one.NDR = NDR_record;
    one.count = 2;
    tc_reply(&req.m, &one, sizeof one, true, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.names_count, 2u);
    MT_REQUIRE(c.names != NULL);
    MT_CHECK(memcmp(c.names, names, 2 * sizeof *names) == 0);
    MT_KR(vm_deallocate(TASK, (vm_address_t)c.names, 2 * sizeof *names), KERN_SUCCESS);

    /* mach_port_space_info: the space's summary in line, the table and tree out of line. */
    ipc_info_name_t table[2];
    memset(table, 0, sizeof table);
    table[1].iin_name = 0x103;
    table[1].iin_type = MACH_PORT_TYPE_RECEIVE;
    table[1].iin_hash = 77;
    tc_start_received(&c, p, TC_SPACE_INFO, 3223, &req.m);
    tc_space_info_reply si;
    memset(&si, 0, sizeof si);
    si.body.msgh_descriptor_count = 2;
    si.ool[0] = tc_ool(table, sizeof table);
    si.ool[1] = tc_ool(NULL, 0);
    si.NDR = NDR_record;
    si.space.iis_genno_mask = 0xff;
    si.space.iis_table_size = 2;
    si.count[0] = 2;
    si.count[1] = 0;
    tc_reply(&req.m, &si, sizeof si, true, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.space.iis_genno_mask, 0xffu);
    MT_EQ(c.space.iis_table_size, 2u);
    MT_EQ(c.table_count, 2u);
    MT_EQ(c.tree_count, 0u);
    MT_REQUIRE(c.table != NULL);
    MT_EQ(c.table[1].iin_name, 0x103u);
    MT_EQ(c.table[1].iin_type, MACH_PORT_TYPE_RECEIVE);
    MT_EQ(c.table[1].iin_hash, 77u);
    MT_KR(vm_deallocate(TASK, (vm_address_t)c.table, sizeof table), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(a_bad_out_of_line_reply_is_a_type_error_and_its_rights_are_released)
{
    mach_port_t p = nu_port_with_send(), q = nu_port();
    MT_REQUIRE(p != MACH_PORT_NULL && q != MACH_PORT_NULL);
    tc_request req;
    tc_call c;
    const mach_port_name_t names[2] = {0x103, 0x207};
    const mach_port_type_t types[2] = {MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_SEND};

    /* A count that does not match its array's size. */
    tc_start_received(&c, p, TC_NAMES, 3200, &req.m);
    tc_names_reply(&req, names, types, 2, 3, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), MIG_TYPE_ERROR);
    MT_CHECK(c.names == NULL && c.types == NULL);

    /* A reply carrying a reply right: destroyed, so the right goes (q keeps no send right). */
    tc_start_received(&c, p, TC_NAMES, 3200, &req.m);
    tc_names_reply(&req, names, types, 2, 2, q, MACH_MSG_TYPE_MAKE_SEND);
    MT_EQ(tc_join(&c), MIG_TYPE_ERROR);
    MT_EQ(nu_refs(q, MACH_PORT_RIGHT_SEND), 0);

    /* A port where an out-of-line array belongs: the right it carried is released. */
    tc_start_received(&c, p, TC_GET_SET_STATUS, 3211, &req.m);
    struct {
        mach_msg_header_t Head;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t port;
        uint32_t pad; /* the OOL descriptor's size */
        NDR_record_t NDR;
        mach_msg_type_number_t count;
    } wrong;
    memset(&wrong, 0, sizeof wrong);
    wrong.body.msgh_descriptor_count = 1;
    wrong.port.name = q;
    wrong.port.disposition = MACH_MSG_TYPE_MAKE_SEND;
    wrong.port.type = MACH_MSG_PORT_DESCRIPTOR;
    wrong.NDR = NDR_record;
    MT_EQ(sizeof wrong, sizeof(tc_one_array_reply));
    tc_reply(&req.m, &wrong, sizeof wrong, true, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), MIG_TYPE_ERROR);
    MT_EQ(nu_refs(q, MACH_PORT_RIGHT_SEND), 0);

    /* A reply of a routine's shape but a simple message; an error reply is its RetCode. */
    tc_start_received(&c, p, TC_SPACE_INFO, 3223, &req.m);
    tc_space_info_reply si;
    memset(&si, 0, sizeof si);
    tc_reply(&req.m, &si, sizeof si, false, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), MIG_TYPE_ERROR);
    tc_start_received(&c, p, TC_SPACE_INFO, 3223, &req.m);
    tc_answer(&req.m, 3323, KERN_INVALID_TASK);
    MT_EQ(tc_join(&c), KERN_INVALID_TASK);
    MT_EQ(tc_reply_port_backlog(), 0u);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(mach_port_construct_on_a_plain_port_sends_its_options_out_of_line)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    tc_request req;
    tc_call c;
    tc_start_received(&c, p, TC_CONSTRUCT, 3231, &req.m);
    MT_CHECK(req.h.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(req.h.msgh_size, sizeof(tc_construct_request));
    MT_EQ(req.construct.body.msgh_descriptor_count, 1u);
    MT_EQ(req.construct.options.type, MACH_MSG_OOL_DESCRIPTOR);
    MT_EQ(req.construct.options.size, 24u);
    MT_REQUIRE(req.construct.options.address != NULL);
    MT_CHECK(memcmp(req.construct.options.address, &tc_options, 24) == 0);
    MT_EQ(req.construct.context, (mach_port_context_t)0x1122334455);
    MT_KR(vm_deallocate(TASK, (vm_address_t)req.construct.options.address, 24), KERN_SUCCESS);
    struct {
        mach_msg_header_t Head;
        NDR_record_t NDR;
        kern_return_t RetCode;
        mach_port_name_t name;
    } full;
    memset(&full, 0, sizeof full);
    full.NDR = NDR_record;
    full.name = 0x1234;
    tc_reply(&req.m, &full, sizeof full, false, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.name, 0x1234u);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

/* mach_port_peek's reply: seqno 9, a 40-byte message of id 77, an 8-byte seqno trailer. */
static void tc_peek_answer(const tc_request *req)
{
    tc_peek_reply r;
    memset(&r, 0, sizeof r);
    r.NDR = NDR_record;
    r.seqno = 9;
    r.size = 40;
    r.id = 77;
    r.count = 8;
    memset(r.trailer, 0x5c, 8);
    tc_reply(&req->m, &r, sizeof r - sizeof r.trailer + 8, false, MACH_PORT_NULL, 0);
}

MT_TEST(mach_port_peek_on_a_plain_port_gets_the_trailer_its_reply_carries)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    tc_request req;
    tc_call c;
    tc_start_received(&c, p, TC_PEEK, 3209, &req.m);
    MT_EQ(req.h.msgh_size, sizeof(tc_peek_request));
    MT_EQ(req.peek.name, 0x1234u);
    MT_EQ(req.peek.trailer_type, (mach_msg_trailer_type_t)(MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                                                     MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SEQNO)));
    MT_EQ(req.peek.count, 68u);
    tc_peek_answer(&req);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.seqno, 9u);
    MT_EQ(c.msg_size, 40u);
    MT_EQ(c.msg_id, 77);
    MT_EQ(c.count, 8u);
    MT_EQ(c.trailer[0], 0x5c);
    MT_EQ(c.trailer[7], 0x5c);
    MT_EQ(c.trailer[8], 0);

    /* Room for 4 bytes only: 4 travel as the count, the reply's 8 are too many. */
    tc_start_count(&c, p, TC_PEEK, 4);
    MT_EQ(tc_receive(p, &req.m), 3209);
    MT_EQ(req.peek.count, 4u);
    tc_peek_answer(&req);
    MT_EQ(tc_join(&c), MIG_ARRAY_TOO_LARGE);
    MT_EQ(c.count, 8u);
    MT_EQ(c.trailer[3], 0x5c);
    MT_EQ(c.trailer[4], 0);
    MT_EQ(c.msg_id, 77); /* the results before the array are written */

    /* A trailer longer than its count says: a type error. */
    tc_start_received(&c, p, TC_PEEK, 3209, &req.m);
    tc_peek_reply r;
    memset(&r, 0, sizeof r);
    r.NDR = NDR_record;
    r.count = 4;
    tc_reply(&req.m, &r, sizeof r - sizeof r.trailer + 8, false, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), MIG_TYPE_ERROR);
    MT_EQ(c.msg_id, 0);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

/* A region reply: the object name `object` (`disp`), 0x40000 + 0x3000, `count` integers. */
static void tc_region_answer(const tc_request *req, mach_port_t object, mach_msg_type_name_t disp,
                             mach_msg_type_number_t count)
{
    tc_region_reply r;
    memset(&r, 0, sizeof r);
    r.body.msgh_descriptor_count = 1;
    r.object_name.name = object;
    r.object_name.disposition = disp;
    r.object_name.type = MACH_MSG_PORT_DESCRIPTOR;
    r.NDR = NDR_record;
    r.address = 0x40000;
    r.size = 0x3000;
    r.count = count;
    for (int i = 0; i < 10; i++)
        r.info[i] = 100 + i;
    tc_reply(&req->m, &r, (mach_msg_size_t)(sizeof r - sizeof r.info + count * sizeof *r.info), true,
             MACH_PORT_NULL, 0);
}

MT_TEST(vm_region_on_a_plain_port_sends_its_routines_request_and_returns_the_reply)
{
    mach_port_t p = nu_port_with_send(), q = nu_port();
    MT_REQUIRE(p != MACH_PORT_NULL && q != MACH_PORT_NULL);
    tc_request req;
    tc_call c;
    for (int which = TC_MACH_VM_REGION; which <= TC_VM_REGION; which++) {
        tc_start_received(&c, p, which, tc_more[which], &req.m);
        MT_EQ(req.h.msgh_size, sizeof(tc_region_request));
        MT_EQ(req.region.address, 0x7000u);
        MT_EQ(req.region.flavor, VM_REGION_BASIC_INFO_64);
        MT_EQ(req.region.count, (mach_msg_type_number_t)VM_REGION_BASIC_INFO_COUNT_64);
        tc_region_answer(&req, MACH_PORT_NULL, MACH_MSG_TYPE_MOVE_SEND, VM_REGION_BASIC_INFO_COUNT_64);
        MT_EQ(tc_join(&c), KERN_SUCCESS);
        MT_EQ(c.address, 0x40000u);
        MT_EQ(c.size, 0x3000u);
        MT_EQ(c.count, (mach_msg_type_number_t)VM_REGION_BASIC_INFO_COUNT_64);
        MT_EQ(c.info[0], 100);
        MT_EQ(c.info[8], 108);
        MT_EQ(c.name, MACH_PORT_NULL);
    }

    /* The object name is a send right the caller gets. */
    tc_start_received(&c, p, TC_MACH_VM_REGION, 4816, &req.m);
    tc_region_answer(&req, q, MACH_MSG_TYPE_MAKE_SEND, 9);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.name, q);
    MT_EQ(nu_refs(q, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mach_port_deallocate(TASK, q), KERN_SUCCESS);

    /* A send-once right where a send right belongs, or more than 10 integers: type errors,
     * the right released. */
    tc_start_received(&c, p, TC_VM_REGION_64, 4816, &req.m);
    tc_region_answer(&req, q, MACH_MSG_TYPE_MAKE_SEND_ONCE, 9);
    MT_EQ(tc_join(&c), MIG_TYPE_ERROR);
    /* the released send-once right's notification comes to q */
    MT_EQ(tc_receive(q, &req.m), MACH_NOTIFY_SEND_ONCE);
    MT_EQ(c.address, 0x7000u); /* nothing written */
    tc_start_received(&c, p, TC_VM_REGION, tc_more[TC_VM_REGION], &req.m);
    tc_region_reply big;
    memset(&big, 0, sizeof big);
    big.body.msgh_descriptor_count = 1;
    big.object_name.disposition = MACH_MSG_TYPE_MOVE_SEND;
    big.object_name.type = MACH_MSG_PORT_DESCRIPTOR;
    big.NDR = NDR_record;
    big.count = 11;
    tc_reply(&req.m, &big, sizeof big, true, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), MIG_TYPE_ERROR);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(vm_copy_and_read_overwrite_on_a_plain_port_send_their_routines_requests)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    tc_request req;
    tc_call c;
    for (int which = TC_MACH_VM_COPY; which <= TC_VM_READ_OVERWRITE; which++) {
        tc_start_received(&c, p, which, tc_more[which], &req.m);
        MT_EQ(req.h.msgh_size, sizeof(tc_vm_request));
        MT_EQ(req.vm.address, 0x10000u);
        MT_EQ(req.vm.size, 0x3000u);
        MT_EQ(req.vm.data, 0x20000u);
        if (which == TC_MACH_VM_COPY || which == TC_VM_COPY) {
            tc_answer(&req.m, tc_more[which] + 100, KERN_SUCCESS);
            MT_EQ(tc_join(&c), KERN_SUCCESS);
            continue;
        }
        tc_read_overwrite_reply r;
        memset(&r, 0, sizeof r);
        r.NDR = NDR_record;
        r.outsize = 0x2000;
        tc_reply(&req.m, &r, sizeof r, false, MACH_PORT_NULL, 0);
        MT_EQ(tc_join(&c), KERN_SUCCESS);
        MT_EQ(c.size, 0x2000u);
    }
    /* A reply one result short: a type error, the size not written. */
    tc_start_received(&c, p, TC_MACH_VM_READ_OVERWRITE, 4808, &req.m);
    tc_answer(&req.m, 4908, KERN_SUCCESS);
    MT_EQ(tc_join(&c), MIG_TYPE_ERROR);
    MT_EQ(c.size, 0x5678u);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(vm_inherit_msync_and_behavior_set_on_a_plain_port_send_their_routines_requests)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    tc_request req;
    tc_call c;
    static const uint32_t value[] = {VM_INHERIT_SHARE, VM_INHERIT_SHARE, VM_SYNC_SYNCHRONOUS,
                                     VM_SYNC_SYNCHRONOUS, VM_BEHAVIOR_RANDOM, VM_BEHAVIOR_RANDOM};
    for (int which = TC_MACH_VM_INHERIT; which <= TC_VM_BEHAVIOR_SET; which++) {
        tc_start_received(&c, p, which, tc_more[which], &req.m);
        /* the address, the size, then the value: 20 bytes packed on 4 */
        MT_EQ(req.h.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 20);
        MT_EQ(req.vm.address, 0x10000u);
        MT_EQ(req.vm.size, 0x3000u);
        uint32_t v;
        memcpy(&v, &req.vm.data, 4);
        MT_EQ(v, value[which - TC_MACH_VM_INHERIT]);
        kern_return_t answer = which % 2 ? KERN_INVALID_ADDRESS : KERN_SUCCESS;
        tc_answer(&req.m, tc_more[which] + 100, answer);
        MT_EQ(tc_join(&c), answer);
    }
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    mach_vm_address_t address;
    uint32_t a, b; /* page_info: flavor, count; recurse: depth, count; purgable: control, state */
} tc_vm_query_request;
typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
    uint8_t out[24 + 4 * 19];
} tc_vm_query_reply;
#pragma pack(pop)

MT_TEST(page_query_purgable_page_info_and_region_recurse_on_a_plain_port_send_their_requests)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    union {
        tc_vm_query_request r;
        nu_msg m; /* what tc_receive fills: room for the trailer */
    } req;
    tc_call c;
    tc_vm_query_reply r;
    const mach_msg_size_t head = sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4;

    /* mach_vm_page_query: the offset; the disposition and ref_count come back. */
    tc_start_received(&c, p, TC_MACH_VM_PAGE_QUERY, 4814, &req.m);
    MT_EQ(req.r.Head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 8);
    MT_EQ(req.r.address, 0x10000u);
    memset(&r, 0, sizeof r);
    r.NDR = NDR_record;
    const int32_t query[2] = {VM_PAGE_QUERY_PAGE_PRESENT, 3};
    memcpy(r.out, query, 8);
    tc_reply(&req.m, &r, head + 8, false, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.info[0], VM_PAGE_QUERY_PAGE_PRESENT);
    MT_EQ(c.info[1], 3);

    /* mach_vm_purgable_control: address, control, state in; the old state out. */
    tc_start_received(&c, p, TC_MACH_VM_PURGABLE_CONTROL, 4818, &req.m);
    MT_EQ(req.r.Head.msgh_size, sizeof req.r);
    MT_EQ(req.r.address, 0x10000u);
    MT_EQ(req.r.a, (uint32_t)VM_PURGABLE_SET_STATE);
    MT_EQ(req.r.b, (uint32_t)VM_PURGABLE_VOLATILE);
    memset(&r, 0, sizeof r);
    r.NDR = NDR_record;
    const int32_t old = VM_PURGABLE_EMPTY;
    memcpy(r.out, &old, 4);
    tc_reply(&req.m, &r, head + 4, false, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.info[0], VM_PURGABLE_EMPTY);

    /* mach_vm_page_info: address, flavor and the count asked for; the count, then the info. */
    tc_start_received(&c, p, TC_MACH_VM_PAGE_INFO, 4819, &req.m);
    MT_EQ(req.r.Head.msgh_size, sizeof req.r);
    MT_EQ(req.r.a, (uint32_t)VM_PAGE_INFO_BASIC);
    MT_EQ(req.r.b, VM_PAGE_INFO_BASIC_COUNT);
    memset(&r, 0, sizeof r);
    r.NDR = NDR_record;
    const uint32_t two = 2;
    const int32_t info[2] = {VM_PAGE_QUERY_PAGE_DIRTY, 1};
    memcpy(r.out, &two, 4);
    memcpy(r.out + 4, info, 8);
    tc_reply(&req.m, &r, head + 12, false, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.count, 2);
    MT_EQ(c.info[0], VM_PAGE_QUERY_PAGE_DIRTY);
    MT_EQ(c.info[1], 1);

    /* mach_vm_region_recurse: address, depth, count; address, size, depth, count, info. */
    tc_start_received(&c, p, TC_MACH_VM_REGION_RECURSE, 4815, &req.m);
    MT_EQ(req.r.Head.msgh_size, sizeof req.r);
    MT_EQ(req.r.address, 0x10000u);
    MT_EQ(req.r.a, 2u);
    MT_EQ(req.r.b, VM_REGION_SUBMAP_INFO_COUNT_64);
    memset(&r, 0, sizeof r);
    r.NDR = NDR_record;
    const uint64_t where[2] = {0x20000, 0x4000};
    const uint32_t depth_count[2] = {1, VM_REGION_SUBMAP_SHORT_INFO_COUNT_64};
    memcpy(r.out, where, 16);
    memcpy(r.out + 16, depth_count, 8);
    const int32_t prot = VM_PROT_READ;
    memcpy(r.out + 24, &prot, 4);
    tc_reply(&req.m, &r, head + 24 + 4 * VM_REGION_SUBMAP_SHORT_INFO_COUNT_64, false,
             MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.address, 0x20000u);
    MT_EQ(c.size, 0x4000u);
    MT_EQ(c.msg_id, 1);
    MT_EQ(c.count, VM_REGION_SUBMAP_SHORT_INFO_COUNT_64);
    MT_EQ(c.info[0], VM_PROT_READ);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(vm_read_on_a_plain_port_sends_its_request_and_gives_the_replys_data_to_the_caller)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    tc_request req;
    tc_call c;
    const char bytes[5] = "abcde";
    for (int which = TC_MACH_VM_READ; which <= TC_VM_READ; which++) {
        tc_start_received(&c, p, which, tc_more[which], &req.m);
        /* the address and size in line; no destination */
        MT_EQ(req.h.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 16);
        MT_EQ(req.vm.address, 0x10000u);
        MT_EQ(req.vm.size, 0x3000u);
        tc_one_array_reply r;
        memset(&r, 0, sizeof r);
        r.body.msgh_descriptor_count = 1;
        r.ool = tc_ool(bytes, sizeof bytes);
        r.NDR = NDR_record;
        r.count = sizeof bytes;
        tc_reply(&req.m, &r, sizeof r, true, MACH_PORT_NULL, 0);
        MT_EQ(tc_join(&c), KERN_SUCCESS);
        MT_EQ(c.count, sizeof bytes);
        MT_REQUIRE(c.address != 0);
        MT_CHECK(c.address != (mach_vm_address_t)(uintptr_t)bytes);
        MT_CHECK(memcmp((void *)(uintptr_t)c.address, bytes, sizeof bytes) == 0);
        MT_KR(vm_deallocate(TASK, (vm_address_t)c.address, c.count), KERN_SUCCESS);
    }
    /* A count that does not match the data: a type error, nothing written. */
    tc_start_received(&c, p, TC_MACH_VM_READ, 4804, &req.m);
    tc_one_array_reply r;
    memset(&r, 0, sizeof r);
    r.body.msgh_descriptor_count = 1;
    r.ool = tc_ool(bytes, sizeof bytes);
    r.NDR = NDR_record;
    r.count = 4;
    tc_reply(&req.m, &r, sizeof r, true, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), MIG_TYPE_ERROR);
    MT_EQ(c.address, 0x7000u);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(a_reply_larger_than_the_routines_largest_is_rcv_too_large_and_destroyed_unread)
{
    mach_port_t p = nu_port_with_send(), q = nu_port();
    MT_REQUIRE(p != MACH_PORT_NULL && q != MACH_PORT_NULL);
    tc_request req;
    tc_call c;
    /* mach_vm_read_overwrite's reply is 44 bytes; 4 more, carrying a send right in a port
     * descriptor and a send-once right as its reply right: the stub's receive has no room */
    struct {
        mach_msg_header_t Head;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t port;
        NDR_record_t NDR;
    } big;
    MT_EQ(sizeof big, sizeof(tc_read_overwrite_reply) + 4);
    memset(&big, 0, sizeof big);
    big.body.msgh_descriptor_count = 1;
    big.port.name = q;
    big.port.disposition = MACH_MSG_TYPE_MAKE_SEND;
    big.port.type = MACH_MSG_PORT_DESCRIPTOR;
    big.NDR = NDR_record;
    tc_start_received(&c, p, TC_MACH_VM_READ_OVERWRITE, 4808, &req.m);
    tc_reply(&req.m, &big, sizeof big, true, q, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    MT_EQ(tc_join(&c), MACH_RCV_TOO_LARGE);
    MT_EQ(c.size, 0x5678u); /* nothing written */
    /* the kernel destroyed the reply: its send right is gone and its send-once right's
     * notification came to q */
    MT_EQ(nu_refs(q, MACH_PORT_RIGHT_SEND), 0);
    MT_EQ(tc_receive(q, &req.m), MACH_NOTIFY_SEND_ONCE);

    /* A reply of the routine's largest size still comes; then one 4 bytes above the largest
     * of a routine with an in-line array (vm_region's 10 integers). */
    tc_start_received(&c, p, TC_MACH_VM_READ_OVERWRITE, 4808, &req.m);
    tc_read_overwrite_reply r;
    memset(&r, 0, sizeof r);
    r.NDR = NDR_record;
    r.outsize = 0x2000;
    tc_reply(&req.m, &r, sizeof r, false, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), KERN_SUCCESS);
    MT_EQ(c.size, 0x2000u);
    struct {
        tc_region_reply r;
        int extra;
    } region;
    memset(&region, 0, sizeof region);
    region.r.body.msgh_descriptor_count = 1;
    region.r.object_name.name = q;
    region.r.object_name.disposition = MACH_MSG_TYPE_MAKE_SEND;
    region.r.object_name.type = MACH_MSG_PORT_DESCRIPTOR;
    region.r.NDR = NDR_record;
    region.r.count = 11;
    tc_start_received(&c, p, TC_MACH_VM_REGION, 4816, &req.m);
    tc_reply(&req.m, &region, sizeof region, true, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), MACH_RCV_TOO_LARGE);
    MT_EQ(c.name, 0x5678u);
    MT_EQ(nu_refs(q, MACH_PORT_RIGHT_SEND), 0);

    /* The next call on the thread (a fresh reply port) is answered as usual. */
    tc_round(&c, p, TC_TYPE, 3201, KERN_INVALID_NAME);
    MT_KR(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_TEST(vm_read_list_on_a_plain_port_sends_the_whole_array_and_takes_back_the_replys)
{
    mach_port_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    MT_EQ(sizeof(tc_read_list_request), sizeof(mach_msg_header_t) + 8 + 4096 + 4);
    struct {
        tc_read_list_request r;
        uint8_t trailer[MAX_TRAILER_SIZE];
    } req;
    tc_call c;
    for (int which = TC_MACH_VM_READ_LIST; which <= TC_VM_READ_LIST; which++) {
        for (int fail = 0; fail < 2; fail++) {
            tc_start(&c, p, which);
            memset(&req, 0, sizeof req);
            MT_KR(mach_msg(&req.r.Head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof req, p, 10000,
                           MACH_PORT_NULL),
                  MACH_MSG_SUCCESS);
            MT_EQ(req.r.Head.msgh_id, tc_more[which]);
            MT_EQ(req.r.Head.msgh_size, sizeof req.r);
            MT_EQ(req.r.list[0].address, 0x10000u);
            MT_EQ(req.r.list[0].size, 0x3000u);
            MT_EQ(req.r.list[1].size, 0u);
            MT_EQ(req.r.list[VM_MAP_ENTRY_MAX - 1].address, 7u); /* all 256 travel */
            MT_EQ(req.r.count, 1u);
            nu_msg *m = (nu_msg *)&req; /* the header is all tc_answer and tc_reply read */
            if (fail) {
                tc_answer(m, tc_more[which] + 100, KERN_INVALID_ADDRESS);
                MT_EQ(tc_join(&c), KERN_INVALID_ADDRESS);
                MT_EQ(tc_list[0].address, 0x10000u); /* as it was */
                MT_EQ(tc_list[VM_MAP_ENTRY_MAX - 1].address, 7u);
                continue;
            }
            tc_read_list_reply r;
            memset(&r, 0, sizeof r);
            r.NDR = NDR_record;
            memcpy(r.list, req.r.list, sizeof r.list);
            r.list[0].address = 0x40000;
            r.list[VM_MAP_ENTRY_MAX - 1].address = 9;
            tc_reply(m, &r, sizeof r, false, MACH_PORT_NULL, 0);
            MT_EQ(tc_join(&c), KERN_SUCCESS);
            MT_EQ(tc_list[0].address, 0x40000u);
            MT_EQ(tc_list[0].size, 0x3000u);
            /* the stub writes the whole array back */
            MT_EQ(tc_list[VM_MAP_ENTRY_MAX - 1].address, 9u);
            MT_EQ(tc_list[VM_MAP_ENTRY_MAX - 1].size, 8u);
        }
    }
    /* A reply one entry short: a type error, the list as it was. */
    tc_start(&c, p, TC_MACH_VM_READ_LIST);
    MT_KR(mach_msg(&req.r.Head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof req, p, 10000,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    tc_read_list_reply r;
    memset(&r, 0, sizeof r);
    r.NDR = NDR_record;
    tc_reply((nu_msg *)&req, &r, sizeof r - 16, false, MACH_PORT_NULL, 0);
    MT_EQ(tc_join(&c), MIG_TYPE_ERROR);
    MT_EQ(tc_list[0].address, 0x10000u);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
}

MT_MAIN()
