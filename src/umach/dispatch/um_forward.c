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

#include <string.h>

/* A request or a reply with its trailer: the largest is task_info's reply (400 bytes). */
typedef union fw_buf {
    mach_msg_header_t head;
    uint8_t bytes[sizeof(mach_msg_header_t) + 512 + MAX_TRAILER_SIZE];
} fw_buf;

/* Where a reply's RetCode, and what follows it, lie (after the header and the NDR record). */
#define FW_RET_AT (sizeof(mach_msg_header_t) + sizeof(NDR_record_t))
#define FW_OUT_AT (FW_RET_AT + sizeof(kern_return_t))

bool um_forward_wanted(mach_port_t task)
{
    if (!MACH_PORT_VALID(task) || task == mach_task_self())
        return false;
    mach_port_type_t type = 0;
    return mach_port_type(mach_task_self(), task, &type) == KERN_SUCCESS &&
           (type & MACH_PORT_TYPE_SEND) != 0;
}

/*
 * Lays out a request's body: a port descriptor when `port` is not NULL, the NDR record, the
 * in-line arguments packed on 4 bytes (as MIG packs them). Returns the request's size.
 */
static mach_msg_size_t fw_build(fw_buf *m, const um_fw_port *port, const um_fw_in *in,
                                unsigned nin)
{
    memset(m, 0, sizeof *m);
    size_t at = sizeof(mach_msg_header_t);
    if (port) {
        mach_msg_body_t body = {.msgh_descriptor_count = 1};
        mach_msg_port_descriptor_t d;
        memset(&d, 0, sizeof d);
        d.name = port->name;
        d.disposition = port->disp;
        d.type = MACH_MSG_PORT_DESCRIPTOR;
        memcpy(m->bytes + at, &body, sizeof body);
        at += sizeof body;
        memcpy(m->bytes + at, &d, sizeof d);
        at += sizeof d;
    }
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

/*
 * Sends the request in `m` to `task` with a send-once right to this thread's MIG reply port
 * and receives the reply into `m`, as a MIG stub does (um_mig_rpc). Returns MACH_MSG_SUCCESS
 * with a reply of the routine's id in `m`, or the call's result (the reply, if any, destroyed). A kernel
 * object of another kind (thread, host, semaphore) answers as XNU's kernel does; another
 * task's port is MACH_SEND_INVALID_DEST (umach serves a task's calls for itself only).
 */
static kern_return_t fw_rpc(mach_port_t task, mach_msg_id_t id, fw_buf *m, mach_msg_size_t size,
                            bool complex)
{
    bool kernel = false;
    if (!um_call_kobject_is(task, UM_KOT_NONE) && !um_call_kobject_is(task, UM_KOT_TIMER) &&
        !um_call_kobject_is(task, UM_KOT_BOOTSTRAP)) {
        kernel = um_call_kobject_is(task, UM_KOT_THREAD) || um_call_kobject_is(task, UM_KOT_HOST) ||
                 um_call_kobject_is(task, UM_KOT_SEMAPHORE);
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
         * exc_guard routines call KERN_INVALID_TASK and the others KERN_INVALID_ARGUMENT. */
        return (id >= 3200 && id < 3300) || id == UM_MIG_TASK_GET_EXC_GUARD_BEHAVIOR ||
                       id == UM_MIG_TASK_SET_EXC_GUARD_BEHAVIOR
                   ? KERN_INVALID_TASK
                   : KERN_INVALID_ARGUMENT;
    }
    m->head.msgh_bits = complex ? MACH_MSGH_BITS_COMPLEX : 0;
    return um_mig_rpc(task, id, &m->head, size, &m->head, sizeof *m);
}

static kern_return_t fw_ret(const fw_buf *m)
{
    kern_return_t ret;
    memcpy(&ret, m->bytes + FW_RET_AT, sizeof ret);
    return ret;
}

/* A simple error reply: exactly a mig_reply_error_t carrying a failure. */
static bool fw_is_error_reply(const fw_buf *m)
{
    return !(m->head.msgh_bits & MACH_MSGH_BITS_COMPLEX) &&
           m->head.msgh_size == sizeof(mig_reply_error_t) && fw_ret(m) != KERN_SUCCESS;
}

/* A reply of the wrong shape: destroyed, MIG_TYPE_ERROR. */
static kern_return_t fw_type_error(fw_buf *m)
{
    mach_msg_destroy(&m->head);
    return MIG_TYPE_ERROR;
}

kern_return_t um_forward_simple(mach_port_t task, mach_msg_id_t id, const um_fw_port *port,
                                const um_fw_in *in, unsigned nin, const um_fw_out *out,
                                unsigned nout)
{
    fw_buf m;
    mach_msg_size_t size = fw_build(&m, port, in, nin);
    kern_return_t kr = fw_rpc(task, id, &m, size, port != NULL);
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    if (fw_is_error_reply(&m))
        return fw_ret(&m);
    size_t want = FW_OUT_AT;
    for (unsigned i = 0; i < nout; i++)
        want += out[i].size;
    if ((m.head.msgh_bits & MACH_MSGH_BITS_COMPLEX) || m.head.msgh_size != want)
        return fw_type_error(&m);
    kr = fw_ret(&m);
    if (kr != KERN_SUCCESS)
        return kr;
    size_t at = FW_OUT_AT;
    for (unsigned i = 0; i < nout; i++) {
        if (out[i].to)
            memcpy(out[i].to, m.bytes + at, out[i].size);
        at += out[i].size;
    }
    return KERN_SUCCESS;
}

kern_return_t um_forward_port_out(mach_port_t task, mach_msg_id_t id, const um_fw_port *port_in,
                                  const um_fw_in *in, unsigned nin, mach_msg_type_name_t want,
                                  mach_port_t *port, mach_msg_type_name_t *disp)
{
    fw_buf m;
    mach_msg_size_t size = fw_build(&m, port_in, in, nin);
    kern_return_t kr = fw_rpc(task, id, &m, size, port_in != NULL);
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    if (!(m.head.msgh_bits & MACH_MSGH_BITS_COMPLEX)) {
        if (fw_is_error_reply(&m))
            return fw_ret(&m);
        return fw_type_error(&m);
    }
    mach_msg_body_t body;
    mach_msg_port_descriptor_t d;
    size_t at = sizeof(mach_msg_header_t);
    memcpy(&body, m.bytes + at, sizeof body);
    memcpy(&d, m.bytes + at + sizeof body, sizeof d);
    if (body.msgh_descriptor_count != 1 ||
        m.head.msgh_size != at + sizeof body + sizeof d || d.type != MACH_MSG_PORT_DESCRIPTOR ||
        (want != 0 && d.disposition != want))
        return fw_type_error(&m);
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

kern_return_t um_forward_array_out(mach_port_t task, mach_msg_id_t id, const um_fw_in *in,
                                   unsigned nin, integer_t *array, mach_msg_type_number_t *count,
                                   mach_msg_type_number_t max)
{
    um_fw_in args[8];
    if (nin >= sizeof args / sizeof *args || max > UM_FW_ARRAY_MAX)
        return MIG_ARRAY_TOO_LARGE;
    memcpy(args, in, nin * sizeof *in);
    args[nin] = UM_FW32(*count < max ? *count : max);
    fw_buf m;
    mach_msg_size_t size = fw_build(&m, NULL, args, nin + 1);
    kern_return_t kr = fw_rpc(task, id, &m, size, false);
    if (kr != MACH_MSG_SUCCESS)
        return kr;
    if (fw_is_error_reply(&m))
        return fw_ret(&m);
    const size_t base = FW_OUT_AT + sizeof(mach_msg_type_number_t);
    if ((m.head.msgh_bits & MACH_MSGH_BITS_COMPLEX) || m.head.msgh_size < base ||
        m.head.msgh_size > base + max * sizeof(integer_t))
        return fw_type_error(&m);
    kr = fw_ret(&m);
    if (kr != KERN_SUCCESS)
        return kr;
    mach_msg_type_number_t n;
    memcpy(&n, m.bytes + FW_OUT_AT, sizeof n);
    if (n > max || m.head.msgh_size != base + n * sizeof(integer_t))
        return fw_type_error(&m);
    if (n > *count) {
        memcpy(array, m.bytes + base, *count * sizeof(integer_t));
        *count = n;
        return MIG_ARRAY_TOO_LARGE;
    }
    memcpy(array, m.bytes + base, n * sizeof(integer_t));
    *count = n;
    return KERN_SUCCESS;
}
