/*
 * bootstrap.c — the bootstrap client calls (<servers/bootstrap.h>): each is one RPC on the
 * bootstrap port, sent with mach_msg exactly as a MIG stub would (the caller's send right is
 * copied, the reply comes through the thread's MIG reply port). Whoever serves the port —
 * the in-process kernel object, umachd, or a program that replaced TASK_BOOTSTRAP_PORT with
 * its own port — sees ordinary Mach messages (docs/bootstrap.md).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strnlen */
#endif
#include "../kern/um_bootstrap.h"
#include "um_mig.h"
#include "../um_export.h"

#include <mach/mach.h>
#include <mach/mach_error.h>
#include <mach/mig_errors.h>
#include <servers/bootstrap.h>

#include <string.h>

typedef union {
    um_bs_port_reply port;
    mig_reply_error_t error;
    uint8_t room[sizeof(um_bs_port_reply) + MAX_TRAILER_SIZE];
} bs_reply;

/* Copy a service name into a name_t; false when it does not fit with its NUL. */
static bool name_copy(name_t out, const char *name)
{
    size_t n = name ? strnlen(name, BOOTSTRAP_MAX_NAME_LEN) : BOOTSTRAP_MAX_NAME_LEN;
    if (n >= BOOTSTRAP_MAX_NAME_LEN)
        return false;
    memset(out, 0, BOOTSTRAP_MAX_NAME_LEN);
    memcpy(out, name, n);
    return true;
}

/*
 * Send `req` (MACH_MSGH_BITS_COMPLEX in its bits when it carries a descriptor; the rest of its
 * header still to fill) to `bp` and read the reply (um_mig_rpc). `want` is the right a
 * successful reply carries (0: none, the reply is a bare return code); on success *portp
 * receives its name. Returns the server's code, um_mig_rpc's error, or MIG_TYPE_ERROR for a
 * reply of the wrong shape (which is destroyed).
 */
static kern_return_t bs_rpc(mach_port_t bp, mach_msg_header_t *req, mach_msg_size_t size,
                            mach_msg_id_t id, mach_msg_type_name_t want, mach_port_t *portp)
{
    bs_reply rep;
    /* The request buffer stays the caller's; the reply lands in its own buffer. */
    mach_msg_return_t mr = um_mig_rpc(bp, id, req, size, &rep.port.head, sizeof rep);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    mach_msg_header_t *h = &rep.port.head;
    if (!(h->msgh_bits & MACH_MSGH_BITS_COMPLEX)) {
        /* A bare return code: a success must carry the right when one is wanted. */
        if (h->msgh_size == sizeof(mig_reply_error_t) &&
            (rep.error.RetCode != KERN_SUCCESS || want == 0))
            return rep.error.RetCode;
    } else if (want != 0 && h->msgh_size == sizeof(um_bs_port_reply) &&
               rep.port.body.msgh_descriptor_count == 1 &&
               rep.port.port.type == MACH_MSG_PORT_DESCRIPTOR &&
               rep.port.port.disposition == want) {
        *portp = rep.port.port.name;
        return KERN_SUCCESS;
    }
    mach_msg_destroy(h);
    return MIG_TYPE_ERROR;
}

static kern_return_t name_call(mach_port_t bp, mach_msg_id_t id, const char *name,
                               mach_msg_type_name_t want, mach_port_t *sp)
{
    um_bs_name_request req;
    memset(&req, 0, sizeof req);
    if (!name_copy(req.name, name))
        return BOOTSTRAP_BAD_COUNT;
    req.ndr = NDR_record;
    return bs_rpc(bp, &req.head, sizeof req, id, want, sp);
}

UM_EXPORT kern_return_t bootstrap_check_in(mach_port_t bp, const char *service_name,
                                           mach_port_t *sp)
{
    UM_CALL_SCOPE;
    return name_call(bp, UM_BS_MSG_CHECK_IN, service_name, MACH_MSG_TYPE_PORT_RECEIVE, sp);
}

UM_EXPORT kern_return_t bootstrap_look_up(mach_port_t bp, const char *service_name,
                                          mach_port_t *sp)
{
    UM_CALL_SCOPE;
    return name_call(bp, UM_BS_MSG_LOOK_UP, service_name, MACH_MSG_TYPE_PORT_SEND, sp);
}

UM_EXPORT kern_return_t bootstrap_register(mach_port_t bp, char *service_name, mach_port_t sp)
{
    UM_CALL_SCOPE;
    um_bs_register_request req;
    memset(&req, 0, sizeof req);
    if (!name_copy(req.name, service_name))
        return BOOTSTRAP_BAD_COUNT;
    req.head.msgh_bits = MACH_MSGH_BITS_COMPLEX;
    req.body.msgh_descriptor_count = 1;
    req.service.name = sp;
    req.service.disposition = MACH_MSG_TYPE_COPY_SEND;
    req.service.type = MACH_MSG_PORT_DESCRIPTOR;
    req.ndr = NDR_record;
    return bs_rpc(bp, &req.head, sizeof req, UM_BS_MSG_REGISTER, 0, NULL);
}

UM_EXPORT kern_return_t bootstrap_subset(mach_port_t bp, mach_port_t requestor_port,
                                         mach_port_t *subset_port)
{
    UM_CALL_SCOPE;
    um_bs_subset_request req;
    memset(&req, 0, sizeof req);
    req.head.msgh_bits = MACH_MSGH_BITS_COMPLEX;
    req.body.msgh_descriptor_count = 1;
    req.requestor.name = requestor_port;
    req.requestor.disposition = MACH_MSG_TYPE_COPY_SEND;
    req.requestor.type = MACH_MSG_PORT_DESCRIPTOR;
    req.ndr = NDR_record;
    return bs_rpc(bp, &req.head, sizeof req, UM_BS_MSG_SUBSET, MACH_MSG_TYPE_PORT_SEND,
                  subset_port);
}

UM_EXPORT kern_return_t bootstrap_parent(mach_port_t bp, mach_port_t *parent_port)
{
    UM_CALL_SCOPE;
    um_bs_parent_request req;
    memset(&req, 0, sizeof req);
    req.ndr = NDR_record;
    return bs_rpc(bp, &req.head, sizeof req, UM_BS_MSG_PARENT, MACH_MSG_TYPE_PORT_SEND,
                  parent_port);
}

UM_EXPORT kern_return_t bootstrap_status(mach_port_t bp, char *service_name,
                                         bootstrap_status_t *service_active)
{
    UM_CALL_SCOPE;
    /* Darwin's definition: look-up succeeds → active; check-in succeeds too → on demand. */
    mach_port_t p;
    kern_return_t kr = bootstrap_look_up(bp, service_name, &p);
    if (kr != KERN_SUCCESS)
        return kr;
    (void)mach_port_deallocate(mach_task_self(), p);
    *service_active = BOOTSTRAP_STATUS_ACTIVE;
    if (bootstrap_check_in(bp, service_name, &p) == KERN_SUCCESS) {
        /* Giving the receive right back returns a declared service to its registry. */
        (void)mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_RECEIVE, -1);
        *service_active = BOOTSTRAP_STATUS_ON_DEMAND;
    }
    return BOOTSTRAP_SUCCESS;
}

UM_EXPORT const char *bootstrap_strerror(kern_return_t r)
{
    UM_CALL_SCOPE;
    switch (r) {
    case BOOTSTRAP_SUCCESS:
        return "Success";
    case BOOTSTRAP_NOT_PRIVILEGED:
        return "Permission denied";
    case BOOTSTRAP_NAME_IN_USE:
    case BOOTSTRAP_SERVICE_ACTIVE:
        return "Service name already exists";
    case BOOTSTRAP_UNKNOWN_SERVICE:
        return "Unknown service name";
    case BOOTSTRAP_BAD_COUNT:
        return "Too many lookups were requested in one request";
    case BOOTSTRAP_NO_MEMORY:
        return "Out of memory";
    default:
        return mach_error_string(r);
    }
}
