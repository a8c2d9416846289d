/*
 * um_vm_mig.c — the mach_vm routines a request to this task's own port asks for, run by the
 * calls a program makes (um_vm_mig.h says who calls what, and when).
 */
#include "um_vm_mig.h"
#include "um_embedded.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <mach/mig_errors.h>
#include <mach/ndr.h>

#include <string.h>

_Thread_local bool um_vm_mig_serving;
_Thread_local bool um_vm_mig_replying;

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void put(um_vm_mig_call *call, const void *v, uint32_t len)
{
    memcpy(call->out + call->out_len, v, len);
    call->out_len += len;
}

kern_return_t um_vm_mig_run(um_vm_mig_call *call)
{
    mach_port_t self = mach_task_self();
    const uint8_t *in = call->in;
    kern_return_t kr;
    call->out_len = 0;
    call->ool = 0;
    call->ool_size = 0;
    switch (call->id) {
    case UM_MIG_MACH_VM_ALLOCATE: {
        mach_vm_address_t address = get64(in);
        kr = mach_vm_allocate(self, &address, get64(in + 8), (int)get32(in + 16));
        if (kr == KERN_SUCCESS)
            put(call, &address, 8);
        return kr;
    }
    case UM_MIG_MACH_VM_DEALLOCATE:
        return mach_vm_deallocate(self, get64(in), get64(in + 8));
    case UM_MIG_MACH_VM_PROTECT:
        return mach_vm_protect(self, get64(in), get64(in + 8), (boolean_t)get32(in + 16),
                               (vm_prot_t)get32(in + 20));
    case UM_MIG_MACH_VM_INHERIT:
        return mach_vm_inherit(self, get64(in), get64(in + 8), (vm_inherit_t)get32(in + 16));
    case UM_MIG_MACH_VM_MSYNC:
        return mach_vm_msync(self, get64(in), get64(in + 8), (vm_sync_t)get32(in + 16));
    case UM_MIG_MACH_VM_BEHAVIOR_SET:
        return mach_vm_behavior_set(self, get64(in), get64(in + 8),
                                    (vm_behavior_t)get32(in + 16));
    case UM_MIG_MACH_VM_READ: {
        vm_offset_t data = 0;
        mach_msg_type_number_t count = 0;
        kr = mach_vm_read(self, get64(in), get64(in + 8), &data, &count);
        if (kr == KERN_SUCCESS) {
            call->ool = data;
            call->ool_size = count;
            put(call, &count, 4);
        }
        return kr;
    }
    case UM_MIG_MACH_VM_READ_LIST: {
        /* The list is read and rewritten in place in the results, as the kernel edits its
         * copy of the request's array. */
        const uint32_t bytes = VM_MAP_ENTRY_MAX * 16u;
        memcpy(call->out, in, bytes);
        kr = mach_vm_read_list(self, (struct mach_vm_read_entry *)(void *)call->out,
                               get32(in + bytes));
        if (kr == KERN_SUCCESS)
            call->out_len = bytes;
        return kr;
    }
    case UM_MIG_MACH_VM_WRITE:
        return mach_vm_write(self, get64(in), (vm_offset_t)call->data, call->data_size);
    case UM_MIG_MACH_VM_COPY:
        return mach_vm_copy(self, get64(in), get64(in + 8), get64(in + 16));
    case UM_MIG_MACH_VM_READ_OVERWRITE: {
        mach_vm_size_t outsize = 0;
        kr = mach_vm_read_overwrite(self, get64(in), get64(in + 8), get64(in + 16), &outsize);
        if (kr == KERN_SUCCESS)
            put(call, &outsize, 8);
        return kr;
    }
    case UM_MIG_MACH_VM_REGION: {
        /* MIG's server offers the routine min(infoCnt, VM_REGION_INFO_MAX) integers. */
        mach_vm_address_t address = get64(in);
        mach_vm_size_t size = 0;
        mach_msg_type_number_t count = get32(in + 12);
        if (count > VM_REGION_INFO_MAX)
            count = VM_REGION_INFO_MAX;
        mach_port_t object = MACH_PORT_NULL;
        integer_t *info = (integer_t *)(void *)(call->out + 20);
        kr = mach_vm_region(self, &address, &size, (vm_region_flavor_t)get32(in + 8),
                            (vm_region_info_t)info, &count, &object);
        if (kr != KERN_SUCCESS)
            return kr;
        if (MACH_PORT_VALID(object))
            (void)mach_port_deallocate(self, object); /* umach names no memory object */
        memcpy(call->out, &address, 8);
        memcpy(call->out + 8, &size, 8);
        memcpy(call->out + 16, &count, 4);
        call->out_len = 20 + count * 4;
        return KERN_SUCCESS;
    }
    case UM_MIG_MACH_VM_PURGABLE_CONTROL: {
        int state = (int)get32(in + 12);
        kr = mach_vm_purgable_control(self, get64(in), (vm_purgable_t)get32(in + 8), &state);
        if (kr == KERN_SUCCESS)
            put(call, &state, 4);
        return kr;
    }
    case UM_MIG_MACH_VM_PAGE_QUERY: {
        integer_t disposition = 0, ref_count = 0;
        kr = mach_vm_page_query(self, get64(in), &disposition, &ref_count);
        if (kr == KERN_SUCCESS) {
            put(call, &disposition, 4);
            put(call, &ref_count, 4);
        }
        return kr;
    }
    case UM_MIG_MACH_VM_PAGE_INFO: {
        /* MIG's server offers min(infoCnt, 32) integers; the reply is the count, then them. */
        mach_msg_type_number_t count = get32(in + 12);
        if (count > 32)
            count = 32;
        integer_t *info = (integer_t *)(void *)(call->out + 4);
        kr = mach_vm_page_info(self, get64(in), (vm_page_info_flavor_t)get32(in + 8), info,
                               &count);
        if (kr != KERN_SUCCESS)
            return kr;
        memcpy(call->out, &count, 4);
        call->out_len = 4 + count * 4;
        return KERN_SUCCESS;
    }
    case UM_MIG_MACH_VM_REGION_RECURSE: {
        /* The reply: address, size, depth, the count, then min(infoCnt, 19) integers. */
        mach_vm_address_t address = get64(in);
        mach_vm_size_t size = 0;
        natural_t depth = get32(in + 8);
        mach_msg_type_number_t count = get32(in + 12);
        if (count > VM_REGION_SUBMAP_INFO_COUNT_64)
            count = VM_REGION_SUBMAP_INFO_COUNT_64;
        integer_t *info = (integer_t *)(void *)(call->out + 24);
        kr = mach_vm_region_recurse(self, &address, &size, &depth, info, &count);
        if (kr != KERN_SUCCESS)
            return kr;
        memcpy(call->out, &address, 8);
        memcpy(call->out + 8, &size, 8);
        memcpy(call->out + 16, &depth, 4);
        memcpy(call->out + 20, &count, 4);
        call->out_len = 24 + count * 4;
        return KERN_SUCCESS;
    }
    case UM_MIG_MACH_MAKE_MEMORY_ENTRY:
    case UM_MIG_MAKE_MEMORY_ENTRY_64: {
        /* The parent and the entry are names of this task (the world's client). */
        memory_object_size_t size = get64(in);
        mach_port_t entry = MACH_PORT_NULL;
        kr = mach_make_memory_entry_64(self, &size, get64(in + 8), (vm_prot_t)get32(in + 16),
                                       &entry, call->name_in);
        if (kr == KERN_SUCCESS) {
            call->name_out = entry;
            put(call, &size, 8);
        }
        return kr;
    }
    default:
        return MIG_BAD_ID;
    }
}

kern_return_t um_vm_mig_serve_locked(um_task *task, um_vm_mig_call *call)
{
    (void)task; /* the embedded world's one task: this process */
    if (call->id == UM_MIG_MACH_MAKE_MEMORY_ENTRY || call->id == UM_MIG_MAKE_MEMORY_ENTRY_64) {
        /* The world is locked here: the maker's part that needs it runs as it is. */
        uint64_t size = get64(call->in);
        call->out_len = 0;
        kern_return_t kr = um_vm_entry_make_locked(&size, get64(call->in + 8),
                                                   (vm_prot_t)get32(call->in + 16),
                                                   call->port_in, &call->port_out);
        if (kr == KERN_SUCCESS)
            put(call, &size, 8);
        return kr;
    }
    um_vm_mig_serving = true;
    kern_return_t kr = um_vm_mig_run(call);
    um_vm_mig_serving = false;
    return kr;
}

/* ---- the world's client --------------------------------------------------------------------- */

/* Does the reply right `name` of disposition `disp` exist as the send would copy it in? */
static bool reply_right_ok(mach_port_name_t name, mach_msg_type_name_t disp)
{
    if (name == MACH_PORT_NULL)
        return disp == 0;
    if (!MACH_PORT_VALID(name) || name == mach_task_self())
        return false;
    mach_port_type_t type = 0;
    if (mach_port_type(mach_task_self(), name, &type) != KERN_SUCCESS)
        return false;
    switch (disp) {
    case MACH_MSG_TYPE_MAKE_SEND_ONCE:
    case MACH_MSG_TYPE_MAKE_SEND:
        return (type & MACH_PORT_TYPE_RECEIVE) != 0;
    case MACH_MSG_TYPE_COPY_SEND:
    case MACH_MSG_TYPE_MOVE_SEND:
        return (type & MACH_PORT_TYPE_SEND) != 0;
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
        return (type & MACH_PORT_TYPE_SEND_ONCE) != 0;
    default:
        return false;
    }
}

/* Is every page of [addr, addr + size) readable? */
static bool readable(uint64_t addr, uint64_t size)
{
    if (addr + size < addr)
        return false;
    uint8_t b;
    for (uint64_t at = addr; at < addr + size; at = (at | vm_page_mask) + 1)
        if (!um_embedded_memops.msg_read(NULL, &b, at, 1))
            return false;
    return true;
}

/* A reply as the kernel's MIG server lays it out. */
typedef union vm_mig_reply {
    mig_reply_error_t error;
    uint8_t bytes[sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t) +
                  sizeof(mach_msg_ool_descriptor_t) + sizeof(NDR_record_t) + 4 +
                  UM_VM_MIG_OUT_MAX];
} vm_mig_reply;

bool um_vm_mig_local(const uint8_t *bytes, uint32_t n, mach_msg_option_t option,
                     mach_msg_timeout_t timeout)
{
    const uint32_t head = (uint32_t)sizeof(mach_msg_header_t);
    if (n < head)
        return false;
    mach_msg_header_t h;
    memcpy(&h, bytes, sizeof h);
    uint32_t args;
    um_vm_mig_desc desc;
    if (!um_vm_mig_request(h.msgh_id, &args, &desc))
        return false;
    bool ool = desc == UM_VM_MIG_DESC_OOL;
    mach_msg_type_name_t rdisp = MACH_MSGH_BITS_REMOTE(h.msgh_bits);
    mach_msg_type_name_t ldisp = MACH_MSGH_BITS_LOCAL(h.msgh_bits);
    if (h.msgh_remote_port != mach_task_self() ||
        (rdisp != MACH_MSG_TYPE_COPY_SEND && rdisp != MACH_MSG_TYPE_MOVE_SEND) ||
        (h.msgh_bits & ~(mach_msg_bits_t)(MACH_MSGH_BITS_REMOTE_MASK | MACH_MSGH_BITS_LOCAL_MASK |
                                           MACH_MSGH_BITS_COMPLEX)) ||
        h.msgh_voucher_port != MACH_PORT_NULL)
        return false;
    /* MIG's shape exactly; anything else is the daemon's to refuse or answer. */
    uint32_t at = head;
    mach_msg_ool_descriptor_t d;
    memset(&d, 0, sizeof d);
    mach_msg_port_descriptor_t pd;
    memset(&pd, 0, sizeof pd);
    if (ool) {
        const uint32_t dat = head + (uint32_t)sizeof(mach_msg_body_t);
        if (!(h.msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
            n != dat + sizeof d + sizeof(NDR_record_t) + args || get32(bytes + head) != 1)
            return false;
        memcpy(&d, bytes + dat, sizeof d);
        at = dat + (uint32_t)sizeof d;
        if (d.type != MACH_MSG_OOL_DESCRIPTOR || d.copy > MACH_MSG_VIRTUAL_COPY ||
            d.size != get32(bytes + at + sizeof(NDR_record_t) + args - 4) ||
            !readable((uint64_t)(uintptr_t)d.address, d.size))
            return false;
    } else if (desc == UM_VM_MIG_DESC_PORT) {
        /* The parent: a send right copied or moved, or none. */
        const uint32_t dat = head + (uint32_t)sizeof(mach_msg_body_t);
        if (!(h.msgh_bits & MACH_MSGH_BITS_COMPLEX) ||
            n != dat + sizeof pd + sizeof(NDR_record_t) + args || get32(bytes + head) != 1)
            return false;
        memcpy(&pd, bytes + dat, sizeof pd);
        at = dat + (uint32_t)sizeof pd;
        if (pd.type != MACH_MSG_PORT_DESCRIPTOR ||
            (pd.disposition != MACH_MSG_TYPE_COPY_SEND &&
             pd.disposition != MACH_MSG_TYPE_MOVE_SEND) ||
            (pd.name != MACH_PORT_NULL && !reply_right_ok(pd.name, pd.disposition)))
            return false;
    } else if ((h.msgh_bits & MACH_MSGH_BITS_COMPLEX) || n != head + sizeof(NDR_record_t) + args) {
        return false;
    }
    if (!reply_right_ok(h.msgh_local_port, ldisp))
        return false;

    um_vm_mig_call call;
    call.id = h.msgh_id;
    call.in = bytes + at + sizeof(NDR_record_t);
    call.data = (uint64_t)(uintptr_t)d.address;
    call.data_size = d.size;
    call.port_in = call.port_out = NULL;
    call.name_in = pd.name;
    call.name_out = MACH_PORT_NULL;
    kern_return_t kr = um_vm_mig_run(&call);
    /* What the request moved is the kernel's, and gone once the routine ran. */
    if (ool && d.deallocate && d.size)
        (void)mach_vm_deallocate(mach_task_self(), call.data, d.size);
    if (pd.name != MACH_PORT_NULL && pd.disposition == MACH_MSG_TYPE_MOVE_SEND)
        (void)mach_port_deallocate(mach_task_self(), pd.name);
    if (rdisp == MACH_MSG_TYPE_MOVE_SEND)
        (void)mach_port_deallocate(mach_task_self(), mach_task_self());

    vm_mig_reply r;
    memset(&r, 0, sizeof r);
    mach_msg_header_t *rh = &r.error.Head;
    mach_msg_size_t size;
    um_vm_mig_reply shape = um_vm_mig_reply_of(call.id);
    if (kr != KERN_SUCCESS) {
        r.error.NDR = NDR_record;
        r.error.RetCode = kr;
        size = (mach_msg_size_t)sizeof r.error;
    } else if (shape == UM_VM_MIG_REPLY_SIMPLE) {
        memcpy(r.bytes + head, &NDR_record, sizeof NDR_record); /* RetCode: zeroed */
        memcpy(r.bytes + head + sizeof NDR_record + 4, call.out, call.out_len);
        size = head + (uint32_t)sizeof NDR_record + 4 + call.out_len;
    } else {
        rh->msgh_bits = MACH_MSGH_BITS_COMPLEX;
        mach_msg_body_t body = {.msgh_descriptor_count = 1};
        memcpy(r.bytes + head, &body, sizeof body);
        uint32_t o = head + (uint32_t)sizeof body;
        if (shape == UM_VM_MIG_REPLY_OOL) {
            mach_msg_ool_descriptor_t od;
            memset(&od, 0, sizeof od);
            od.address = (void *)(uintptr_t)call.ool;
            od.size = call.ool_size;
            od.deallocate = TRUE; /* the copy moves to the receiver */
            od.copy = MACH_MSG_VIRTUAL_COPY;
            od.type = MACH_MSG_OOL_DESCRIPTOR;
            memcpy(r.bytes + o, &od, sizeof od);
            o += (uint32_t)sizeof od;
        } else {
            /* The entry made, moved; or a null name (mach_vm_region: no memory object). */
            mach_msg_port_descriptor_t rd;
            memset(&rd, 0, sizeof rd);
            rd.name = call.name_out;
            rd.disposition = MACH_MSG_TYPE_MOVE_SEND;
            rd.type = MACH_MSG_PORT_DESCRIPTOR;
            memcpy(r.bytes + o, &rd, sizeof rd);
            o += (uint32_t)sizeof rd;
        }
        memcpy(r.bytes + o, &NDR_record, sizeof NDR_record);
        o += (uint32_t)sizeof NDR_record;
        memcpy(r.bytes + o, call.out, call.out_len);
        size = o + call.out_len;
    }
    rh->msgh_bits |= MACH_MSGH_BITS(ldisp, 0);
    rh->msgh_remote_port = h.msgh_local_port;
    rh->msgh_id = h.msgh_id + 100;
    rh->msgh_size = size;
    /*
     * As the kernel's reply: sent with the request's own options and timeout (XNU's
     * ipc_kmsg_send), so a send right's reply to a full queue waits for room in this call, or
     * not at all with a timeout of 0; one that cannot be queued the daemon destroys, the send
     * succeeding. To a port not ours (the mark does not hold there) a reply handed back is
     * destroyed here: a send right for its destination too (a copy handed back, or the
     * request's moved right), a send-once right not (its release would send a notification,
     * which the kernel's destruction of a reply does not).
     */
    mach_msg_return_t mr = MACH_SEND_INVALID_DEST;
    if (h.msgh_local_port != MACH_PORT_NULL) {
        um_vm_mig_replying = true;
        mr = mach_msg(rh,
                      MACH_SEND_MSG | (option & (MACH_SEND_TIMEOUT | MACH_SEND_INTERRUPT)),
                      size, 0, MACH_PORT_NULL, timeout, MACH_PORT_NULL);
        um_vm_mig_replying = false;
    }
    if (mr != MACH_MSG_SUCCESS) {
        if (MACH_MSGH_BITS_REMOTE(rh->msgh_bits) != MACH_MSG_TYPE_PORT_SEND)
            rh->msgh_bits &= ~(mach_msg_bits_t)MACH_MSGH_BITS_REMOTE_MASK;
        mach_msg_destroy(rh);
    }
    return true;
}
