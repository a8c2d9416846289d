/*
 * mach_msg.c — mach_port_peek (a kernel call) and mach_msg_destroy (a library routine on
 * Darwin, built on the public calls). mach_msg itself is the front end's: it may sleep
 * (embedded/um_msg.c).
 */
#include "../kern/um_kmsg.h"
#include "../um_export.h"
#include "um_api.h"

#include <mach/mach.h>

#include <string.h>

/* ---- peek -------------------------------------------------------------------------------------- */

kern_return_t um_api_mach_port_peek(um_task *self, ipc_space_t task, mach_port_name_t name,
                                    mach_msg_trailer_type_t trailer_type,
                                    mach_port_seqno_t *request_seqnop, mach_msg_size_t *msg_sizep,
                                    mach_msg_id_t *msg_idp, mach_msg_trailer_info_t trailer_infop,
                                    mach_msg_type_number_t *trailer_infopCnt)
{
    um_space *space = um_task_target_space(self, task); /* ours or another task's */
    if (!space)
        return MACH_SEND_INVALID_DEST;
    um_space_enter(space, self);
    kern_return_t kr;
    if (!MACH_PORT_VALID(name)) {
        kr = KERN_INVALID_RIGHT;
        goto out;
    }
    if (GET_RCV_ELEMENTS(trailer_type) > MACH_RCV_TRAILER_AUDIT ||
        um_trailer_size(trailer_type) > *trailer_infopCnt) {
        um_guard_exception(space, name, 0, kGUARD_EXC_INVALID_VALUE);
        kr = KERN_INVALID_VALUE;
        goto out;
    }
    um_port *port;
    kr = um_translate_receive(space, name, &port);
    if (kr != KERN_SUCCESS)
        goto out;
    /* Find the message with the requested sequence number (or the first one). */
    mach_port_seqno_t seqno = port->seqno;
    um_kmsg *k = port->msg_head;
    if (*request_seqnop != 0) {
        while (k && seqno != *request_seqnop) {
            k = k->next;
            seqno++;
        }
    }
    if (!k) {
        kr = KERN_FAILURE;
        goto out;
    }
    *request_seqnop = seqno;
    /*
     * XNU reports the kernel's size of the message: its header is 8 bytes larger than the
     * user's, and every descriptor takes 16 bytes (a user port descriptor takes 12).
     */
    mach_msg_size_t ksize = k->size + 8;
    for (uint32_t i = 0; i < k->ndesc; i++)
        if (k->desc[i].type == MACH_MSG_PORT_DESCRIPTOR)
            ksize += 4;
    *msg_sizep = ksize;
    *msg_idp = k->id;
    /* The trailer is the one stored with the message, whose size field still says 8. */
    mach_msg_size_t tsize = um_trailer_size(trailer_type);
    mach_msg_max_trailer_t t;
    um_trailer_write(&t, MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AV), seqno, &k->sec, &k->audit,
                     0);
    t.msgh_trailer_size = MACH_MSG_TRAILER_MINIMUM_SIZE;
    memcpy(trailer_infop, &t, tsize);
    *trailer_infopCnt = tsize;
    kr = KERN_SUCCESS;
out:
    return um_space_leave(space, kr);
}

/* ---- mach_msg_destroy (a library routine on Darwin, built on the calls above) --------------- */

static void destroy_port(mach_port_name_t port, mach_msg_type_name_t type)
{
    if (!MACH_PORT_VALID(port))
        return;
    switch (type) {
    case MACH_MSG_TYPE_MOVE_SEND:
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
        (void)mach_port_deallocate(mach_task_self_, port);
        break;
    case MACH_MSG_TYPE_MOVE_RECEIVE:
        (void)mach_port_mod_refs(mach_task_self_, port, MACH_PORT_RIGHT_RECEIVE, -1);
        break;
    case MACH_MSG_TYPE_MAKE_SEND:
        (void)mach_port_insert_right(mach_task_self_, port, port, MACH_MSG_TYPE_MAKE_SEND);
        (void)mach_port_deallocate(mach_task_self_, port);
        break;
    case MACH_MSG_TYPE_MAKE_SEND_ONCE: {
        mach_port_name_t so = MACH_PORT_NULL;
        mach_msg_type_name_t t;
        (void)mach_port_extract_right(mach_task_self_, port, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t);
        (void)mach_port_deallocate(mach_task_self_, so);
        break;
    }
    default:
        break;
    }
}

UM_EXPORT void mach_msg_destroy(mach_msg_header_t *msg)
{
    UM_CALL_SCOPE;
    mach_msg_bits_t bits = msg->msgh_bits;
    destroy_port(msg->msgh_remote_port, MACH_MSGH_BITS_REMOTE(bits));
    destroy_port(msg->msgh_voucher_port, MACH_MSGH_BITS_VOUCHER(bits));
    if (!(bits & MACH_MSGH_BITS_COMPLEX))
        return;
    uint8_t *p = (uint8_t *)msg + sizeof(mach_msg_header_t);
    uint32_t count;
    memcpy(&count, p, sizeof count);
    p += sizeof count;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t type = p[11];
        switch (type) {
        case MACH_MSG_PORT_DESCRIPTOR: {
            mach_msg_port_descriptor_t d;
            memcpy(&d, p, sizeof d);
            destroy_port(d.name, d.disposition);
            p += sizeof d;
            break;
        }
        case MACH_MSG_OOL_DESCRIPTOR:
        case MACH_MSG_OOL_VOLATILE_DESCRIPTOR: {
            mach_msg_ool_descriptor_t d;
            memcpy(&d, p, sizeof d);
            if (type == MACH_MSG_OOL_DESCRIPTOR && d.deallocate && d.size != 0)
                (void)vm_deallocate(mach_task_self_, (vm_address_t)d.address, d.size);
            p += sizeof d;
            break;
        }
        case MACH_MSG_OOL_PORTS_DESCRIPTOR: {
            mach_msg_ool_ports_descriptor_t d;
            memcpy(&d, p, sizeof d);
            mach_port_name_t *names = (mach_port_name_t *)d.address;
            for (uint32_t j = 0; names && j < d.count; j++) {
                mach_port_name_t nm;
                memcpy(&nm, &names[j], sizeof nm);
                destroy_port(nm, d.disposition);
            }
            if (d.deallocate && d.count != 0)
                (void)vm_deallocate(mach_task_self_, (vm_address_t)d.address,
                                    d.count * sizeof(mach_port_name_t));
            p += sizeof d;
            break;
        }
        case MACH_MSG_GUARDED_PORT_DESCRIPTOR: {
            mach_msg_guarded_port_descriptor_t d;
            memcpy(&d, p, sizeof d);
            if (!(d.flags & MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND))
                (void)mach_port_unguard(mach_task_self_, d.name, (uint64_t)d.context);
            destroy_port(d.name, d.disposition);
            p += sizeof d;
            break;
        }
        default:
            /* An unknown descriptor has no known size: nothing after it can be found. */
            return;
        }
    }
}
