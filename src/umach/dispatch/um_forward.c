/*
 * um_forward.c — a task call on a port that is not this task's is a MIG request to that port,
 * as on Darwin (um_forward.h says why and how).
 */
#include "um_forward.h"
#include "um_calls.h"
#include "../api/um_mig.h"
#include "../kern/um_kern.h"

#include <mach/mach.h>
#include <mach/mig_errors.h>
#include <mach/ndr.h>
#include <mach_debug/ipc_info.h>

#include <string.h>

/* vm_read_list's array: VM_MAP_ENTRY_MAX pairs of 64-bit address and size. */
#define FW_READ_LIST_BYTES (VM_MAP_ENTRY_MAX * 16u)

/* A request or a reply with its trailer: the largest are vm_read_list's (its array, 4096
 * bytes, in both), then task_info's reply (400 bytes). */
typedef union fw_buf {
    mach_msg_header_t head;
    uint8_t bytes[sizeof(mach_msg_header_t) + 16 + FW_READ_LIST_BYTES + MAX_TRAILER_SIZE];
} fw_buf;

/* Where a reply's RetCode, and what follows it, lie (after the header and the NDR record). */
#define FW_RET_AT (sizeof(mach_msg_header_t) + sizeof(NDR_record_t))
#define FW_OUT_AT (FW_RET_AT + sizeof(kern_return_t))
/* Where a complex message's descriptors start (after the header and the body). */
#define FW_DESC_AT (sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t))

bool um_forward_wanted(mach_port_t task)
{
    if (!MACH_PORT_VALID(task) || task == mach_task_self())
        return false;
    mach_port_type_t type = 0;
    return mach_port_type(mach_task_self(), task, &type) == KERN_SUCCESS &&
           (type & MACH_PORT_TYPE_SEND) != 0;
}

/* A request's first free byte: after the header and, when it carries descriptors, the body. */
static size_t fw_begin(fw_buf *m, unsigned ndesc)
{
    memset(m, 0, sizeof *m);
    size_t at = sizeof(mach_msg_header_t);
    if (ndesc) {
        mach_msg_body_t body = {.msgh_descriptor_count = ndesc};
        memcpy(m->bytes + at, &body, sizeof body);
        at += sizeof body;
    }
    return at;
}

static size_t fw_put_port(fw_buf *m, size_t at, const um_fw_port *port)
{
    mach_msg_port_descriptor_t d;
    memset(&d, 0, sizeof d);
    d.name = port->name;
    d.disposition = port->disp;
    d.type = MACH_MSG_PORT_DESCRIPTOR;
    memcpy(m->bytes + at, &d, sizeof d);
    return at + sizeof d;
}

/* An argument MIG sends out of line and only reads: a virtual copy, left to the caller. */
static size_t fw_put_ool(fw_buf *m, size_t at, const void *address, mach_msg_size_t size)
{
    mach_msg_ool_descriptor_t d;
    memset(&d, 0, sizeof d);
    d.address = (void *)(uintptr_t)address;
    d.size = size;
    d.deallocate = FALSE;
    d.copy = MACH_MSG_VIRTUAL_COPY;
    d.type = MACH_MSG_OOL_DESCRIPTOR;
    memcpy(m->bytes + at, &d, sizeof d);
    return at + sizeof d;
}

/* The NDR record and the in-line arguments packed on 4 bytes (as MIG packs them) from `at`;
 * a routine with no in-line argument has no NDR record either. Returns the request's size. */
static mach_msg_size_t fw_put_args(fw_buf *m, size_t at, const um_fw_in *in, unsigned nin)
{
    if (nin == 0)
        return (mach_msg_size_t)at;
    memcpy(m->bytes + at, &NDR_record, sizeof NDR_record);
    at += sizeof NDR_record;
    for (unsigned i = 0; i < nin; i++) {
        if (in[i].size == 8) {
            memcpy(m->bytes + at, &in[i].value, 8);
        } else {
            uint32_t v = (uint32_t)in[i].value;
            memcpy(m->bytes + at, &v, 4);
        }
        at += in[i].size;
    }
    return (mach_msg_size_t)at;
}

/* A request with in-line arguments and, when `port` is not NULL, that right first in a port
 * descriptor. Returns its size. */
static mach_msg_size_t fw_build(fw_buf *m, const um_fw_port *port, const um_fw_in *in,
                                unsigned nin)
{
    size_t at = fw_begin(m, port != NULL);
    if (port)
        at = fw_put_port(m, at, port);
    return fw_put_args(m, at, in, nin);
}

/*
 * The routines whose request goes to whatever port the call names, as a MIG stub sends it:
 * host_get_clock_service and the clock subsystem, which umach's kernel-object server answers
 * for every kind of kernel port (the host or a clock port, or a null object for another kind,
 * a task of this world's included), and whose other sends (an ordinary port, a name that is no
 * send right) do what the stub's do.
 */
static bool fw_any_port(mach_msg_id_t id)
{
    return id == UM_MIG_HOST_GET_CLOCK_SERVICE ||
           (id >= UM_MIG_CLOCK_GET_TIME && id < UM_MIG_CLOCK_GET_TIME + 100);
}

/*
 * Sends the request in `m` to `task` with a send-once right to this thread's MIG reply port
 * and receives the reply into `m`, as a MIG stub does (um_mig_rpc). `reply_max` is the
 * routine's largest reply: the receive has room for it and a minimal trailer (MIG's Reply
 * structure), so a larger reply is MACH_RCV_TOO_LARGE, destroyed by the kernel (its rights
 * released, its memory deallocated) since MIG does not ask for MACH_RCV_LARGE. Returns
 * MACH_MSG_SUCCESS with a reply of the routine's id in `m`, or the call's result (the reply,
 * if any, destroyed). A kernel object of another kind (thread, host, semaphore) answers as
 * XNU's kernel does; another task's port is MACH_SEND_INVALID_DEST (the calls umach serves on
 * another task never get here).
 */
static kern_return_t fw_rpc(mach_port_t task, mach_msg_id_t id, fw_buf *m, mach_msg_size_t size,
                            bool complex, size_t reply_max)
{
    bool kernel = false;
    if (!fw_any_port(id) && !um_call_kobject_is(task, UM_KOT_NONE) &&
        !um_call_kobject_is(task, UM_KOT_TIMER) && !um_call_kobject_is(task, UM_KOT_BOOTSTRAP)) {
        kernel = um_call_kernel_port(task);
        if (!kernel)
            return MACH_SEND_INVALID_DEST; /* another task's port (or gone meanwhile) */
    }
    if (kernel) {
        /*
         * XNU's kernel server runs the routine with a null task or space: the request and the
         * rights it moves are consumed, the reply says what the routine says of a null target.
         * umach's kernel has no such routines: the request goes without a reply right (so
         * nothing comes back to the MIG reply port) and is destroyed as XNU destroys it.
         */
        m->head.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, 0, 0,
                                               complex ? MACH_MSGH_BITS_COMPLEX : 0);
        m->head.msgh_size = size;
        m->head.msgh_remote_port = task;
        m->head.msgh_local_port = MACH_PORT_NULL;
        m->head.msgh_id = id;
        mach_msg_return_t mr = mach_msg(&m->head, MACH_SEND_MSG, size, 0, MACH_PORT_NULL,
                                        MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
        if (mr != MACH_MSG_SUCCESS && mr != MACH_SEND_INVALID_DEST)
            return mr;
        /* mach_port.defs routines: a null space; task.defs ones: a null task, which the
         * exc_guard routines call KERN_INVALID_TASK and the others KERN_INVALID_ARGUMENT;
         * mach_vm.defs ones a null map, KERN_INVALID_TASK for mach_vm_msync. */
        return (id >= 3200 && id < 3300) || id == UM_MIG_TASK_GET_EXC_GUARD_BEHAVIOR ||
                       id == UM_MIG_TASK_SET_EXC_GUARD_BEHAVIOR || id == UM_MIG_MACH_VM_MSYNC
                   ? KERN_INVALID_TASK
                   : KERN_INVALID_ARGUMENT;
    }
    m->head.msgh_bits = complex ? MACH_MSGH_BITS_COMPLEX : 0;
    return um_mig_rpc(task, id, &m->head, size, &m->head,
                      (mach_msg_size_t)(reply_max + sizeof(mach_msg_trailer_t)));
}

static kern_return_t fw_ret(const fw_buf *m)
{
    kern_return_t ret;
    memcpy(&ret, m->bytes + FW_RET_AT, sizeof ret);
    return ret;
}

/* A reply that failed a check: destroyed (its rights released, its memory deallocated), as the
 * MIG stub destroys it; `kr` is the call's result. */
static kern_return_t fw_fail(fw_buf *m, kern_return_t kr)
{
    mach_msg_destroy(&m->head);
    return kr;
}

/*
 * MIG's checks of a reply of the routine's id, before its results are read: the routine's
 * shape (`ndesc` descriptors in a complex reply, none in a simple one, and a size within
 * [min, max]) or an error reply (a bare mig_reply_error_t carrying a failure), and no reply
 * right in it. Returns MACH_MSG_SUCCESS for a reply of the routine's shape that reports
 * success; anything else destroys the reply and is MIG_TYPE_ERROR or the reply's RetCode.
 */
static kern_return_t fw_check(fw_buf *m, unsigned ndesc, size_t min, size_t max)
{
    bool simple = !(m->head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    size_t size = m->head.msgh_size;
    bool shaped = size >= min && size <= max;
    if (ndesc == 0) {
        shaped = shaped && simple;
    } else {
        mach_msg_body_t body;
        memcpy(&body, m->bytes + sizeof(mach_msg_header_t), sizeof body);
        shaped = shaped && !simple && body.msgh_descriptor_count == ndesc;
    }
    bool error_reply = simple && size == sizeof(mig_reply_error_t) && fw_ret(m) != KERN_SUCCESS;
    if ((!shaped && !error_reply) || m->head.msgh_remote_port != MACH_PORT_NULL)
        return fw_fail(m, MIG_TYPE_ERROR);
    /* A simple reply's RetCode is the routine's; a complex one is a success. */
    kern_return_t kr = simple ? fw_ret(m) : KERN_SUCCESS;
    return kr == KERN_SUCCESS ? KERN_SUCCESS : fw_fail(m, kr);
}

/* A checked complex reply's first descriptor, read into `d`: true if it is a port descriptor
 * carrying disposition `want` (0: any). On false the reply is the caller's to destroy. */
static bool fw_reply_port(const fw_buf *m, mach_msg_type_name_t want,
                          mach_msg_port_descriptor_t *d)
{
    memcpy(d, m->bytes + FW_DESC_AT, sizeof *d);
    return d->type == MACH_MSG_PORT_DESCRIPTOR && (want == 0 || d->disposition == want);
}

/* Where a reply's in-line results start: after the RetCode of a simple reply, after the
 * descriptors (`desc_bytes`) and the NDR record of a complex one (which has no RetCode). */
static size_t fw_results_at(size_t desc_bytes)
{
    if (desc_bytes == 0)
        return FW_OUT_AT;
    return FW_DESC_AT + desc_bytes + sizeof(NDR_record_t);
}

/* The in-line results `out` from `at` (a NULL `to` is skipped). Returns where they end. */
static size_t fw_take(const fw_buf *m, size_t at, const um_fw_out *out, unsigned nout)
{
    for (unsigned i = 0; i < nout; i++) {
        if (out[i].to)
            memcpy(out[i].to, m->bytes + at, out[i].size);
        at += out[i].size;
    }
    return at;
}

static size_t fw_out_bytes(const um_fw_out *out, unsigned nout)
{
    size_t n = 0;
    for (unsigned i = 0; i < nout; i++)
        n += out[i].size;
    return n;
}

/* The size of a simple reply carrying `out`. */
static size_t fw_simple_size(const um_fw_out *out, unsigned nout)
{
    return FW_OUT_AT + fw_out_bytes(out, nout);
}

/* A simple reply carrying exactly `out`: checked, then its results written. */
static kern_return_t fw_simple_reply(fw_buf *m, const um_fw_out *out, unsigned nout)
{
    size_t want = fw_simple_size(out, nout);
    kern_return_t kr = fw_check(m, 0, want, want);
    if (kr != KERN_SUCCESS)
        return kr;
    fw_take(m, FW_OUT_AT, out, nout);
    return KERN_SUCCESS;
}

kern_return_t um_forward_simple(mach_port_t task, mach_msg_id_t id, const um_fw_port *port,
                                const um_fw_in *in, unsigned nin, const um_fw_out *out,
                                unsigned nout)
{
    fw_buf m;
    mach_msg_size_t size = fw_build(&m, port, in, nin);
    kern_return_t kr = fw_rpc(task, id, &m, size, port != NULL, fw_simple_size(out, nout));
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    return fw_simple_reply(&m, out, nout);
}

kern_return_t um_forward_port_out(mach_port_t task, mach_msg_id_t id, const um_fw_port *port_in,
                                  const um_fw_in *in, unsigned nin, mach_msg_type_name_t want,
                                  mach_port_t *port, mach_msg_type_name_t *disp)
{
    fw_buf m;
    mach_msg_port_descriptor_t d;
    mach_msg_size_t size = fw_build(&m, port_in, in, nin);
    kern_return_t kr = fw_rpc(task, id, &m, size, port_in != NULL, FW_DESC_AT + sizeof d);
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    kr = fw_check(&m, 1, FW_DESC_AT + sizeof d, FW_DESC_AT + sizeof d);
    if (kr != KERN_SUCCESS)
        return kr;
    if (!fw_reply_port(&m, want, &d))
        return fw_fail(&m, MIG_TYPE_ERROR);
    *port = d.name;
    if (disp)
        *disp = d.disposition;
    return KERN_SUCCESS;
}

kern_return_t um_forward_set_attributes(mach_port_t task, mach_port_name_t name,
                                        mach_port_flavor_t flavor, const integer_t *info,
                                        mach_msg_type_number_t count)
{
    if (count > UM_FW_PORT_INFO_MAX)
        return MIG_ARRAY_TOO_LARGE;
    um_fw_in in[3 + UM_FW_PORT_INFO_MAX];
    in[0] = UM_FW32(name);
    in[1] = UM_FW32(flavor);
    in[2] = UM_FW32(count);
    for (mach_msg_type_number_t i = 0; i < count; i++)
        in[3 + i] = UM_FW32(info[i]);
    return um_forward_simple(task, UM_MIG_MACH_PORT_SET_ATTRIBUTES, NULL, in, 3 + count, NULL, 0);
}

_Static_assert(sizeof(mach_vm_read_entry_t) == FW_READ_LIST_BYTES &&
                   sizeof(vm_read_entry_t) == FW_READ_LIST_BYTES,
               "vm_read_list's array travels as MIG's array[512] of 64-bit words");

kern_return_t um_forward_read_list(mach_port_t task, mach_msg_id_t id, void *list,
                                   natural_t count)
{
    fw_buf m;
    size_t at = fw_begin(&m, 0);
    memcpy(m.bytes + at, &NDR_record, sizeof NDR_record);
    at += sizeof NDR_record;
    memcpy(m.bytes + at, list, FW_READ_LIST_BYTES);
    at += FW_READ_LIST_BYTES;
    memcpy(m.bytes + at, &count, sizeof count);
    at += sizeof count;
    const size_t want = FW_OUT_AT + FW_READ_LIST_BYTES;
    kern_return_t kr = fw_rpc(task, id, &m, (mach_msg_size_t)at, false, want);
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    kr = fw_check(&m, 0, want, want);
    if (kr != KERN_SUCCESS)
        return kr;
    memcpy(list, m.bytes + FW_OUT_AT, FW_READ_LIST_BYTES);
    return KERN_SUCCESS;
}

_Static_assert(sizeof(fw_buf) >= sizeof(mach_msg_header_t) + sizeof(NDR_record_t) +
                                     sizeof(kern_return_t) + sizeof(mach_msg_type_number_t) +
                                     4 * UM_FW_ARRAY_MAX + MAX_TRAILER_SIZE,
               "a reply with the largest in-line array fits the buffer");

/* An in-line array's bytes in a message: MIG pads it to 4. */
static size_t fw_array_bytes(mach_msg_type_number_t n, uint32_t elem)
{
    return ((size_t)n * elem + 3) & ~(size_t)3;
}

kern_return_t um_forward_array_out(mach_port_t task, mach_msg_id_t id, const um_fw_in *in,
                                   unsigned nin, mach_port_t *port, const um_fw_out *out,
                                   unsigned nout, const um_fw_array *array)
{
    um_fw_in args[8];
    const mach_msg_type_number_t max = array->max;
    if (nin >= sizeof args / sizeof *args || fw_array_bytes(max, array->elem) > 4 * UM_FW_ARRAY_MAX)
        return MIG_ARRAY_TOO_LARGE;
    memcpy(args, in, nin * sizeof *in);
    args[nin] = UM_FW32(*array->count < max ? *array->count : max);
    fw_buf m;
    const size_t results = fw_results_at(port ? sizeof(mach_msg_port_descriptor_t) : 0);
    const size_t count_at = results + fw_out_bytes(out, nout);
    const size_t base = count_at + sizeof(mach_msg_type_number_t);
    const size_t most = base + fw_array_bytes(max, array->elem);
    mach_msg_size_t size = fw_build(&m, NULL, args, nin + 1);
    kern_return_t kr = fw_rpc(task, id, &m, size, false, most);
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    kr = fw_check(&m, port != NULL, base, most);
    if (kr != KERN_SUCCESS)
        return kr;
    mach_msg_port_descriptor_t d;
    memset(&d, 0, sizeof d);
    if (port && !fw_reply_port(&m, MACH_MSG_TYPE_PORT_SEND, &d))
        return fw_fail(&m, MIG_TYPE_ERROR);
    mach_msg_type_number_t n;
    memcpy(&n, m.bytes + count_at, sizeof n);
    if (n > max || m.head.msgh_size != base + fw_array_bytes(n, array->elem))
        return fw_fail(&m, MIG_TYPE_ERROR);
    fw_take(&m, results, out, nout);
    if (n > *array->count) {
        memcpy(array->to, m.bytes + base, (size_t)*array->count * array->elem);
        *array->count = n;
        /* The MIG stub returns here and leaves the right in the space, named nowhere. */
        if (port && MACH_PORT_VALID(d.name))
            (void)mach_port_deallocate(mach_task_self(), d.name);
        return MIG_ARRAY_TOO_LARGE;
    }
    memcpy(array->to, m.bytes + base, (size_t)n * array->elem);
    *array->count = n;
    if (port)
        *port = d.name;
    return KERN_SUCCESS;
}

kern_return_t um_forward_thread_policy_get(mach_port_t thread, natural_t flavor, integer_t *info,
                                           mach_msg_type_number_t *count, boolean_t *get_default)
{
    const mach_msg_type_number_t max = UM_FW_THREAD_POLICY_MAX;
    const um_fw_in in[] = {UM_FW32(flavor), UM_FW32(*count < max ? *count : max),
                           UM_FW32(*get_default)};
    const size_t base = FW_OUT_AT + sizeof(mach_msg_type_number_t); /* the array */
    const size_t most = base + 4 * max + sizeof(boolean_t);
    fw_buf m;
    mach_msg_size_t size = fw_build(&m, NULL, in, 3);
    kern_return_t kr = fw_rpc(thread, UM_MIG_THREAD_POLICY_GET, &m, size, false, most);
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    kr = fw_check(&m, 0, base + sizeof(boolean_t), most);
    if (kr != KERN_SUCCESS)
        return kr;
    mach_msg_type_number_t n;
    memcpy(&n, m.bytes + FW_OUT_AT, sizeof n);
    /* get_default lies after the words the reply carries, not after room for all 16. */
    if (n > max || m.head.msgh_size != base + 4 * (size_t)n + sizeof(boolean_t))
        return fw_fail(&m, MIG_TYPE_ERROR);
    if (n > *count) {
        memcpy(info, m.bytes + base, 4 * (size_t)*count);
        *count = n;
        return MIG_ARRAY_TOO_LARGE;
    }
    memcpy(info, m.bytes + base, 4 * (size_t)n);
    *count = n;
    memcpy(get_default, m.bytes + base + 4 * (size_t)n, sizeof *get_default);
    return KERN_SUCCESS;
}

/* The most out-of-line arrays a forwarded reply carries (mach_port_names, space_info). */
#define FW_OOL_MAX 2u

kern_return_t um_forward_ool_out(mach_port_t task, mach_msg_id_t id, const um_fw_in *in,
                                 unsigned nin, const um_fw_out *out, unsigned nout,
                                 const um_fw_ool *ool, unsigned nool)
{
    if (nool == 0 || nool > FW_OOL_MAX)
        return MIG_ARRAY_TOO_LARGE;
    fw_buf m;
    const size_t results = fw_results_at(nool * sizeof(mach_msg_ool_descriptor_t));
    const size_t counts_at = results + fw_out_bytes(out, nout);
    const size_t want = counts_at + nool * sizeof(mach_msg_type_number_t);
    mach_msg_size_t size = fw_build(&m, NULL, in, nin);
    kern_return_t kr = fw_rpc(task, id, &m, size, false, want);
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    kr = fw_check(&m, nool, want, want);
    if (kr != KERN_SUCCESS)
        return kr;
    mach_msg_ool_descriptor_t d[FW_OOL_MAX];
    mach_msg_type_number_t n[FW_OOL_MAX];
    for (unsigned i = 0; i < nool; i++) {
        memcpy(&d[i], m.bytes + FW_DESC_AT + i * sizeof *d, sizeof *d);
        if (d[i].type != MACH_MSG_OOL_DESCRIPTOR)
            return fw_fail(&m, MIG_TYPE_ERROR);
    }
    /* MIG's test of an array's size against its count: whole elements, by division. */
    for (unsigned i = 0; i < nool; i++) {
        memcpy(&n[i], m.bytes + counts_at + i * sizeof *n, sizeof *n);
        if (d[i].size / ool[i].elem != n[i])
            return fw_fail(&m, MIG_TYPE_ERROR);
    }
    fw_take(&m, results, out, nout);
    for (unsigned i = 0; i < nool; i++) {
        memcpy(ool[i].address, &d[i].address, sizeof d[i].address);
        *ool[i].count = n[i];
    }
    return KERN_SUCCESS;
}

kern_return_t um_forward_ool_ports_out(mach_port_t task, mach_msg_id_t id,
                                       mach_port_array_t *ports, mach_msg_type_number_t *count)
{
    fw_buf m;
    const size_t want = fw_results_at(sizeof(mach_msg_ool_ports_descriptor_t)) +
                        sizeof(mach_msg_type_number_t);
    mach_msg_size_t size = fw_build(&m, NULL, NULL, 0);
    kern_return_t kr = fw_rpc(task, id, &m, size, false, want);
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    kr = fw_check(&m, 1, want, want);
    if (kr != KERN_SUCCESS)
        return kr;
    mach_msg_ool_ports_descriptor_t d;
    mach_msg_type_number_t n;
    memcpy(&d, m.bytes + FW_DESC_AT, sizeof d);
    memcpy(&n, m.bytes + want - sizeof n, sizeof n);
    if (d.type != MACH_MSG_OOL_PORTS_DESCRIPTOR || d.disposition != MACH_MSG_TYPE_PORT_SEND ||
        d.count != n)
        return fw_fail(&m, MIG_TYPE_ERROR);
    *ports = (mach_port_array_t)d.address;
    *count = n;
    return KERN_SUCCESS;
}

/* The sizes MIG's definitions give the types forwarded (mach_types.defs,
 * mach_debug_types.defs): a peeked trailer is array[*:68] of char, ipc_info_space_t
 * struct[6], ipc_info_name_t struct[7] and ipc_info_tree_name_t struct[9] of natural_t. */
_Static_assert(MAX_TRAILER_SIZE == 68, "mach_port_peek's trailer array holds 68 bytes");
_Static_assert(sizeof(ipc_info_space_t) == 24 && sizeof(ipc_info_name_t) == 28 &&
                   sizeof(ipc_info_tree_name_t) == 36,
               "mach_port_space_info's arrays travel in MIG's element sizes");

/* MIG's mach_port_options_t: struct[3] of uint64_t. */
_Static_assert(sizeof(mach_port_options_t) == 24, "mach_port_options_t travels as 24 bytes");

kern_return_t um_forward_construct(mach_port_t task, const mach_port_options_t *options,
                                   mach_port_context_t context, mach_port_name_t *name)
{
    fw_buf m;
    size_t at = fw_begin(&m, 1);
    at = fw_put_ool(&m, at, options, (mach_msg_size_t)sizeof *options);
    const um_fw_in in[] = {UM_FW64(context)};
    mach_msg_size_t size = fw_put_args(&m, at, in, 1);
    const um_fw_out out[] = {UM_FWOUT(name)};
    kern_return_t kr =
        fw_rpc(task, UM_MIG_MACH_PORT_CONSTRUCT, &m, size, true, fw_simple_size(out, 1));
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    return fw_simple_reply(&m, out, 1);
}
