/*
 * mig.c — the MIG runtime routines Darwin's libsystem provides to generated stubs:
 * a per-thread reply port, string copies, and allocation of out-of-line arrays; and one
 * routine call made as a generated user stub makes it, for libumach's own MIG clients
 * (bootstrap calls, task calls on another port).
 */
#include "../um_export.h"
#include "um_mig.h"

#include <mach/mach.h>
#include <mach/mig_errors.h>
#include <mach/notify.h>

#include <threads.h>
#include <stdbool.h>

static tss_t reply_key;
static once_flag reply_once = ONCE_FLAG_INIT;

/* A thread that exits gives its reply port back, as a dying thread does on Darwin. */
static void reply_port_release(void *v)
{
    mach_port_name_t port = (mach_port_name_t)(uintptr_t)v;
    if (MACH_PORT_VALID(port))
        (void)mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
}

static void reply_key_init(void)
{
    (void)tss_create(&reply_key, reply_port_release);
}

UM_EXPORT mach_port_t mig_get_reply_port(void)
{
    UM_CALL_SCOPE;
    call_once(&reply_once, reply_key_init);
    mach_port_name_t port = (mach_port_name_t)(uintptr_t)tss_get(reply_key);
    if (port == MACH_PORT_NULL) {
        if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port) != KERN_SUCCESS)
            return MACH_PORT_NULL;
        (void)tss_set(reply_key, (void *)(uintptr_t)port);
    }
    return port;
}

void um_mig_fork_child(void)
{
    /* The forking thread's cached reply port named a right of the parent's space. */
    call_once(&reply_once, reply_key_init);
    (void)tss_set(reply_key, NULL);
}

UM_EXPORT void mig_dealloc_reply_port(mach_port_t migport)
{
    UM_CALL_SCOPE;
    call_once(&reply_once, reply_key_init);
    mach_port_name_t port = (mach_port_name_t)(uintptr_t)tss_get(reply_key);
    if (port == MACH_PORT_NULL)
        return;
    (void)tss_set(reply_key, NULL);
    (void)mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
    if (migport != port)
        (void)mach_port_deallocate(mach_task_self(), migport);
}

UM_EXPORT void mig_put_reply_port(mach_port_t reply_port)
{
    UM_CALL_SCOPE;
    (void)reply_port;
}

mach_msg_return_t um_mig_rpc(mach_port_t dest, mach_msg_id_t id, mach_msg_header_t *req,
                             mach_msg_size_t size, mach_msg_header_t *rep,
                             mach_msg_size_t rcv_size)
{
    return um_mig_rpc_via(dest, MACH_MSG_TYPE_COPY_SEND, id, req, size, rep, rcv_size);
}

mach_msg_return_t um_mig_rpc_via(mach_port_t dest, mach_msg_type_name_t disp, mach_msg_id_t id,
                                 mach_msg_header_t *req, mach_msg_size_t size,
                                 mach_msg_header_t *rep, mach_msg_size_t rcv_size)
{
    mach_port_t reply = mig_get_reply_port();
    req->msgh_bits = MACH_MSGH_BITS_SET(disp, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0,
                                        req->msgh_bits & MACH_MSGH_BITS_COMPLEX);
    req->msgh_size = size;
    req->msgh_remote_port = dest;
    req->msgh_local_port = reply;
    req->msgh_voucher_port = MACH_PORT_NULL;
    req->msgh_id = id;
    mach_msg_return_t mr = mach_msg_overwrite(req, MACH_SEND_MSG | MACH_RCV_MSG, size, rcv_size,
                                              reply, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL, rep,
                                              0);
    if (mr != MACH_MSG_SUCCESS) {
        /*
         * These three refuse the request at its header, before a right is taken; after any
         * other error the port may hold a notification or a late reply meant for this call.
         */
        if (mr == MACH_SEND_INVALID_DATA || mr == MACH_SEND_INVALID_DEST ||
            mr == MACH_SEND_INVALID_HEADER)
            mig_put_reply_port(reply);
        else
            mig_dealloc_reply_port(reply);
        return mr;
    }
    if (rep->msgh_id != id + 100) {
        mr = rep->msgh_id == MACH_NOTIFY_SEND_ONCE ? MIG_SERVER_DIED : MIG_REPLY_MISMATCH;
        mach_msg_destroy(rep);
    }
    return mr;
}

UM_EXPORT int mig_strncpy(char *dest, const char *src, int len)
{
    UM_CALL_SCOPE;
    /*
     * Darwin's contract: copy at most len - 1 bytes and stop after the NUL; a string that
     * does not fit is cut and NUL-terminated in dest[len - 1]. Returns the bytes written
     * (the NUL included when the whole string fitted).
     */
    if (len <= 0)
        return 0;
    int i;
    for (i = 1; i < len; i++) {
        if (!(*dest++ = *src++))
            return i;
    }
    *dest = '\0';
    return i;
}

UM_EXPORT int mig_strncpy_zerofill(char *dest, const char *src, int len)
{
    UM_CALL_SCOPE;
    if (len <= 0 || dest == NULL)
        return 0;
    int i, copied = 0;
    bool done = src == NULL;
    for (i = 1; i < len; i++) {
        if (!done) {
            if (!(*dest++ = *src++)) {
                copied = i;
                done = true;
            }
        } else {
            *dest++ = '\0';
        }
    }
    *dest = '\0';
    return done ? copied : i;
}

UM_EXPORT void mig_allocate(vm_address_t *addr_p, vm_size_t size)
{
    UM_CALL_SCOPE;
    if (vm_allocate(mach_task_self(), addr_p, size, VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
        *addr_p = 0;
}

UM_EXPORT void mig_deallocate(vm_address_t addr, vm_size_t size)
{
    UM_CALL_SCOPE;
    (void)vm_deallocate(mach_task_self(), addr, size);
}
