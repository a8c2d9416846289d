/*
 * mig_server.c — the server loops Darwin's libsystem gives MIG servers (mach_msg_server,
 * mach_msg_server_once, mach_msg_server_importance) and mig_reply_setup.
 *
 * Darwin's contract, which MIG-generated demux routines rely on:
 * - The request buffer holds max_size plus the trailer the options ask for, rounded up to
 *   whole pages; with MACH_RCV_LARGE a larger request makes the loop allocate a buffer of
 *   the size the kernel reported and receive again, otherwise MACH_RCV_TOO_LARGE ends it.
 * - After the demux, the reply's RetCode decides (a complex reply counts as success):
 *   KERN_SUCCESS sends the reply; MIG_NO_REPLY sends nothing (the routine kept or consumed
 *   the reply right); any other code destroys the request (its rights and memory) except
 *   the reply right, which the demux moved into the reply, and sends the error reply.
 * - A reply to a send right (not send-once) is sent with MACH_SEND_TIMEOUT 0 so a client
 *   that does not receive cannot block the server. A reply that cannot be delivered because
 *   the reply port is dead, the send timed out or was interrupted is destroyed and the
 *   server goes on; any other send error ends the loop with that error.
 * - mach_msg_server combines each reply with the next receive (one mach_msg call, receive
 *   timeout 0); when nothing is waiting it falls back to a plain blocking receive.
 * Only public Mach calls are used here, so the loops work in any front end.
 */
#include "../um_export.h"

#include <mach/mach.h>

#include <stdbool.h>

#define UM_MIG_BUF_ROUND(x) ((mach_msg_size_t)round_page((vm_size_t)(x)))

UM_EXPORT void mig_reply_setup(mach_msg_header_t *request, mach_msg_header_t *reply)
{
    UM_CALL_SCOPE;
    mig_reply_error_t *out = (mig_reply_error_t *)reply;
    out->Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_LOCAL(request->msgh_bits), 0);
    out->Head.msgh_size = (mach_msg_size_t)sizeof(mig_reply_error_t);
    out->Head.msgh_remote_port = request->msgh_local_port;
    out->Head.msgh_local_port = MACH_PORT_NULL;
    out->Head.msgh_id = request->msgh_id + 100;
    out->NDR = NDR_record;
}

/* The code the demux left in the reply; a complex reply carries a descriptor count there. */
static kern_return_t reply_code(const mig_reply_error_t *reply)
{
    if (reply->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX)
        return KERN_SUCCESS;
    return reply->RetCode;
}

/* Send errors after which the reply is still whole in the buffer and can be destroyed. */
static bool send_error_recoverable(mach_msg_return_t mr)
{
    return mr == MACH_SEND_INVALID_DEST || mr == MACH_SEND_TIMED_OUT ||
           mr == MACH_SEND_INTERRUPTED;
}

/*
 * Destroy a reply that was not sent. mach_msg_destroy leaves the local port alone, but a
 * reply may carry a moved send or send-once right there: release it first.
 */
static void reply_destroy_unsent(mach_msg_header_t *h)
{
    mach_port_t local = h->msgh_local_port;
    if (MACH_PORT_VALID(local)) {
        mach_msg_type_name_t d = MACH_MSGH_BITS_LOCAL(h->msgh_bits);
        if (d == MACH_MSG_TYPE_MOVE_SEND || d == MACH_MSG_TYPE_MOVE_SEND_ONCE) {
            (void)mach_port_deallocate(mach_task_self(), local);
            h->msgh_local_port = MACH_PORT_NULL;
        }
    }
    mach_msg_destroy(h);
}

/*
 * Act on the demux's return code: forget the reply (MIG_NO_REPLY) or destroy the request
 * without its reply right (an error). Returns true when a reply is to be sent.
 */
static bool after_demux(mig_reply_error_t *request, mig_reply_error_t *reply)
{
    switch (reply_code(reply)) {
    case KERN_SUCCESS:
        break;
    case MIG_NO_REPLY:
        reply->Head.msgh_remote_port = MACH_PORT_NULL;
        break;
    default:
        request->Head.msgh_remote_port = MACH_PORT_NULL;
        mach_msg_destroy(&request->Head);
        break;
    }
    return reply->Head.msgh_remote_port != MACH_PORT_NULL;
}

/* The send options for a reply: a timeout unless the reply right is send-once. */
static mach_msg_option_t reply_send_options(const mach_msg_header_t *reply)
{
    if (MACH_MSGH_BITS_REMOTE(reply->msgh_bits) == MACH_MSG_TYPE_MOVE_SEND_ONCE)
        return MACH_SEND_MSG;
    return MACH_SEND_MSG | MACH_SEND_TIMEOUT;
}

UM_EXPORT mach_msg_return_t mach_msg_server_once(boolean_t (*demux)(mach_msg_header_t *,
                                                                    mach_msg_header_t *),
                                                 mach_msg_size_t max_size, mach_port_t rcv_name,
                                                 mach_msg_options_t options)
{
    UM_CALL_SCOPE;
    mach_port_t self = mach_task_self();
    options &= ~(mach_msg_options_t)(MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_VOUCHER);

    mach_msg_size_t trailer_alloc = REQUESTED_TRAILER_SIZE(options);
    mach_msg_size_t request_alloc = UM_MIG_BUF_ROUND(max_size + trailer_alloc);
    mach_msg_size_t request_size =
        (options & MACH_RCV_LARGE) ? request_alloc : max_size + trailer_alloc;
    mach_msg_size_t reply_alloc = UM_MIG_BUF_ROUND(
        (options & MACH_SEND_TRAILER) ? max_size + MAX_TRAILER_SIZE : max_size);

    vm_address_t reply_addr = 0, request_addr = 0;
    kern_return_t kr = vm_allocate(self, &reply_addr, reply_alloc, VM_FLAGS_ANYWHERE);
    if (kr != KERN_SUCCESS)
        return kr;

    mach_msg_return_t mr;
    for (;;) {
        kr = vm_allocate(self, &request_addr, request_alloc, VM_FLAGS_ANYWHERE);
        if (kr != KERN_SUCCESS) {
            (void)vm_deallocate(self, reply_addr, reply_alloc);
            return kr;
        }
        mig_reply_error_t *request = (mig_reply_error_t *)request_addr;
        mr = mach_msg(&request->Head, MACH_RCV_MSG | MACH_RCV_VOUCHER | options, 0,
                      request_size, rcv_name, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
        if (!(mr == MACH_RCV_TOO_LARGE && (options & MACH_RCV_LARGE)))
            break;
        /* The kernel wrote the size it needs; the message is still queued. */
        mach_msg_size_t needed = UM_MIG_BUF_ROUND(request->Head.msgh_size + trailer_alloc);
        (void)vm_deallocate(self, request_addr, request_alloc);
        request_size = request_alloc = needed;
    }

    if (mr == MACH_MSG_SUCCESS) {
        mig_reply_error_t *request = (mig_reply_error_t *)request_addr;
        mig_reply_error_t *reply = (mig_reply_error_t *)reply_addr;
        (void)(*demux)(&request->Head, &reply->Head);
        if (after_demux(request, reply)) {
            mr = mach_msg(&reply->Head, reply_send_options(&reply->Head) | options,
                          reply->Head.msgh_size, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                          MACH_PORT_NULL);
            if (send_error_recoverable(mr)) {
                reply_destroy_unsent(&reply->Head);
                mr = MACH_MSG_SUCCESS;
            }
        }
    }

    (void)vm_deallocate(self, request_addr, request_alloc);
    (void)vm_deallocate(self, reply_addr, reply_alloc);
    return mr;
}

UM_EXPORT mach_msg_return_t mach_msg_server(boolean_t (*demux)(mach_msg_header_t *,
                                                               mach_msg_header_t *),
                                            mach_msg_size_t max_size, mach_port_t rcv_name,
                                            mach_msg_options_t options)
{
    UM_CALL_SCOPE;
    mach_port_t self = mach_task_self();
    options &= ~(mach_msg_options_t)(MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_VOUCHER);

    mach_msg_size_t reply_alloc = UM_MIG_BUF_ROUND(
        (options & MACH_SEND_TRAILER) ? max_size + MAX_TRAILER_SIZE : max_size);
    vm_address_t reply_addr = 0, request_addr = 0;
    kern_return_t kr = vm_allocate(self, &reply_addr, reply_alloc, VM_FLAGS_ANYWHERE);
    if (kr != KERN_SUCCESS)
        return kr;

    mach_msg_size_t trailer_alloc = REQUESTED_TRAILER_SIZE(options);
    mach_msg_size_t request_alloc = 0;
    mach_msg_size_t new_request_alloc = UM_MIG_BUF_ROUND(max_size + trailer_alloc);
    mach_msg_size_t request_size =
        (options & MACH_RCV_LARGE) ? new_request_alloc : max_size + trailer_alloc;
    mach_msg_option_t rcv_options = MACH_RCV_MSG | MACH_RCV_VOUCHER | options;
    mach_msg_return_t mr;

    for (;;) {
        if (request_alloc < new_request_alloc) {
            request_alloc = new_request_alloc;
            kr = vm_allocate(self, &request_addr, request_alloc, VM_FLAGS_ANYWHERE);
            if (kr != KERN_SUCCESS) {
                (void)vm_deallocate(self, reply_addr, reply_alloc);
                return kr;
            }
        }
        mig_reply_error_t *request = (mig_reply_error_t *)request_addr;
        mig_reply_error_t *reply = (mig_reply_error_t *)reply_addr;

        mr = mach_msg(&request->Head, rcv_options, 0, request_size, rcv_name,
                      MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
        while (mr == MACH_MSG_SUCCESS) {
            bool swapped = false;
            reply->Head = (mach_msg_header_t){0};
            (void)(*demux)(&request->Head, &reply->Head);

            if (after_demux(request, reply)) {
                /* Send the reply and take the next request in one call (receive timeout 0). */
                mach_msg_option_t opt = reply_send_options(&reply->Head) | MACH_RCV_MSG |
                                        MACH_RCV_TIMEOUT | MACH_RCV_VOUCHER | options;
                if (request_alloc == reply_alloc) {
                    /* Same size: receive into the reply buffer and swap the two. */
                    mr = mach_msg(&reply->Head, opt, reply->Head.msgh_size, request_size,
                                  rcv_name, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
                    mig_reply_error_t *t = request;
                    request = reply;
                    reply = t;
                    swapped = true;
                } else {
                    mr = mach_msg_overwrite(&reply->Head, opt, reply->Head.msgh_size,
                                            request_size, rcv_name, MACH_MSG_TIMEOUT_NONE,
                                            MACH_PORT_NULL, &request->Head, 0);
                }
                if (send_error_recoverable(mr)) {
                    /* The unsent reply is where the send left it. */
                    reply_destroy_unsent(swapped ? &request->Head : &reply->Head);
                } else if (mr != MACH_RCV_TIMED_OUT) {
                    /* A new request arrived with the reply (or the call failed): loop on. */
                    continue;
                }
            }
            mr = mach_msg(&request->Head, rcv_options, 0, request_size, rcv_name,
                          MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
        }
        request_addr = (vm_address_t)request;
        reply_addr = (vm_address_t)reply;

        if (mr == MACH_RCV_TOO_LARGE && (options & MACH_RCV_LARGE)) {
            new_request_alloc = UM_MIG_BUF_ROUND(request->Head.msgh_size + trailer_alloc);
            request_size = new_request_alloc;
            (void)vm_deallocate(self, request_addr, request_alloc);
            /* request_alloc keeps the old size so that the loop allocates the new one. */
            request_alloc = 0;
            continue;
        }
        break;
    }

    (void)vm_deallocate(self, request_addr, request_alloc);
    (void)vm_deallocate(self, reply_addr, reply_alloc);
    return mr;
}

UM_EXPORT mach_msg_return_t mach_msg_server_importance(
    boolean_t (*demux)(mach_msg_header_t *, mach_msg_header_t *), mach_msg_size_t max_size,
    mach_port_t rcv_name, mach_msg_options_t options)
{
    UM_CALL_SCOPE;
    /* Importance donation has no meaning without a scheduler to boost: as Darwin does today. */
    return mach_msg_server(demux, max_size, rcv_name, options);
}
