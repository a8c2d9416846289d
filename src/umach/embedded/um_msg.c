/*
 * um_msg.c — mach_msg and friends: the embedded front end of message transfer.
 *
 * A send copies the message in under the world lock and queues it, waiting on the
 * destination's queue limit when needed; a receive dequeues and copies out, waiting on the
 * port or set when it is empty. A waiting thread sleeps on its own condition variable with
 * the world lock; the core wakes it (um_waiter.wake). Timeouts are deadlines: a thread woken
 * for nothing goes back to sleep until the same deadline.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "../kern/um_kmsg.h"
#include "../kern/um_kobject.h"
#include "../um_export.h"
#include "um_embedded.h"

#include <mach/mach.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * A thread waiting in mach_msg sleeps on a futex word of its own, with the world unlocked.
 * The core marks it woken under the lock; the futex wake itself is issued after the lock is
 * released (um_embedded_defer_wake), so the woken thread does not block on the lock at once.
 */
typedef struct fe_waiter {
    um_waiter w;
    uint32_t word;
} fe_waiter;

static void fe_wake(um_waiter *w)
{
    fe_waiter *fw = (fe_waiter *)w;
    __atomic_store_n(&fw->word, 1, __ATOMIC_RELEASE);
    um_embedded_defer_wake(&fw->word);
}

static void fe_waiter_init(fe_waiter *fw)
{
    memset(fw, 0, sizeof *fw);
    fw->w.wake = fe_wake;
}

static struct timespec deadline_after(mach_msg_timeout_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static bool deadline_passed(const struct timespec *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > d->tv_sec || (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

/* fe_wait's result when a signal handler ran and the caller asked to be interrupted. */
#define FE_INTERRUPTED (-1)

/*
 * Sleep on `q` until woken or the deadline passes. Conditions: world locked (released while
 * sleeping). Returns the wake result, MACH_MSG_SUCCESS when it timed out (the caller
 * re-checks its condition and the deadline), or FE_INTERRUPTED when `interruptible` and a
 * signal handler ran (MACH_SEND_INTERRUPT / MACH_RCV_INTERRUPT; without them the wait goes on,
 * as libsystem's mach_msg retries).
 */
static int fe_wait(fe_waiter *fw, um_waitq *q, void *owner, const struct timespec *deadline,
                   bool interruptible)
{
    fw->w.woken = false;
    fw->w.result = MACH_MSG_SUCCESS;
    fw->w.owner = owner;
    __atomic_store_n(&fw->word, 0, __ATOMIC_RELAXED);
    um_waitq_append(q, &fw->w);
    int err = 0;
    while (!fw->w.woken) {
        um_embedded_leave();
        long rc = syscall(SYS_futex, &fw->word, FUTEX_WAIT_BITSET_PRIVATE, 0, deadline, NULL,
                          FUTEX_BITSET_MATCH_ANY);
        err = rc < 0 ? errno : 0;
        um_embedded_relock();
        if (err == ETIMEDOUT || (err == EINTR && interruptible))
            break;
    }
    if (!fw->w.woken) {
        um_waitq_remove(q, &fw->w);
        return err == EINTR ? FE_INTERRUPTED : MACH_MSG_SUCCESS;
    }
    return fw->w.result;
}

/* ---- send ----------------------------------------------------------------------------------- */

/* Send the prepared kmsg `k` (consumed); `msg` is the sender's buffer, for pseudo-receive. */
static mach_msg_return_t do_send(um_space *space, um_kmsg *k, mach_msg_header_t *msg,
                                 mach_msg_option_t option, mach_msg_timeout_t timeout,
                                 fe_waiter *fw)
{
    mach_msg_return_t mr = um_kmsg_copyin_prepared(space, k, option);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    um_port *dest = k->dest;
    if (!dest->active || k->circular) {
        /* A dead destination, or a message that would hold its own receiver forever: XNU
         * reports success and destroys the message. */
        um_kmsg_destroy(k);
        return MACH_MSG_SUCCESS;
    }
    /* A timer's receive right is the task's: its queue is an ordinary one (XNU serves only
     * kernel-held kernel-object ports). */
    if (dest->kotype != UM_KOT_NONE && dest->kotype != UM_KOT_TIMER)
        return um_kobject_server(k); /* served in this call, as XNU's kernel objects are */
    if (MACH_MSGH_BITS_REMOTE(k->bits) == MACH_MSG_TYPE_PORT_SEND_ONCE &&
        dest->msgcount >= UM_MSG_QUEUE_KERNEL_LIMIT)
        return MACH_SEND_NO_BUFFER | um_kmsg_copyout_pseudo(space, k, msg);

    struct timespec deadline;
    bool timed = (option & MACH_SEND_TIMEOUT) != 0;
    if (timed)
        deadline = deadline_after(timeout);
    bool fw_ready = false;
    while (um_mqueue_full(dest, k)) {
        if (timed && (timeout == 0 || deadline_passed(&deadline)))
            return MACH_SEND_TIMED_OUT | um_kmsg_copyout_pseudo(space, k, msg);
        if (!fw_ready) {
            fe_waiter_init(fw);
            fw_ready = true;
        }
        if (fe_wait(fw, &dest->senders, dest, timed ? &deadline : NULL,
                    (option & MACH_SEND_INTERRUPT) != 0) == FE_INTERRUPTED)
            return MACH_SEND_INTERRUPTED | um_kmsg_copyout_pseudo(space, k, msg);
        if (!dest->active) {
            /* The port died while we waited: the message counts as delivered and destroyed. */
            um_kmsg_destroy(k);
            return MACH_MSG_SUCCESS;
        }
    }
    um_mqueue_deliver(k);
    return MACH_MSG_SUCCESS;
}

/* ---- receive ---------------------------------------------------------------------------------- */

static void too_large_header(um_space *space, um_kmsg *k, mach_msg_header_t *buf,
                             mach_msg_size_t rcv_size, mach_msg_option_t option,
                             mach_port_seqno_t seqno)
{
    /* The message is destroyed; the receiver learns who it was for and its id. */
    mach_msg_type_name_t dest_type = MACH_MSGH_BITS_REMOTE(k->bits);
    mach_msg_type_name_t reply_type = MACH_MSGH_BITS_LOCAL(k->bits);
    mach_msg_type_name_t voucher_type = MACH_MSGH_BITS_VOUCHER(k->bits);
    um_port *dest = k->dest;
    k->dest = NULL;
    mach_port_name_t local = um_kmsg_copyout_dest(space, dest, dest_type);
    mach_msg_header_t h;
    h.msgh_bits = MACH_MSGH_BITS_SET(reply_type, dest_type, voucher_type, k->bits);
    h.msgh_size = sizeof(mach_msg_header_t);
    h.msgh_remote_port = MACH_PORT_NULL;
    h.msgh_local_port = local;
    h.msgh_voucher_port = MACH_PORT_NULL;
    h.msgh_id = k->id;
    um_kmsg_destroy(k);
    if (rcv_size >= sizeof h) {
        memcpy(buf, &h, sizeof h);
        mach_msg_size_t tsize = um_trailer_size(option);
        if (rcv_size >= sizeof h + tsize) {
            security_token_t sec = {{0, 1}};
            audit_token_t audit;
            memset(&audit, 0, sizeof audit);
            um_trailer_write((uint8_t *)buf + sizeof h, option, seqno, &sec, &audit, 0);
        }
    }
}

static mach_msg_return_t do_receive(um_space *space, mach_msg_header_t *buf,
                                    mach_msg_option_t option, mach_msg_size_t rcv_size,
                                    mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                    fe_waiter *fw)
{
    struct timespec deadline;
    bool timed = (option & MACH_RCV_TIMEOUT) != 0;
    if (timed)
        deadline = deadline_after(timeout);
    bool fw_ready = false;
    mach_msg_return_t mr;

    for (;;) {
        um_entry *e = MACH_PORT_VALID(rcv_name) ? um_entry_lookup(space, rcv_name) : NULL;
        um_port *port = NULL;
        um_pset *set = NULL;
        if (e && (e->type & MACH_PORT_TYPE_RECEIVE))
            port = (um_port *)e->object;
        else if (e && (e->type & MACH_PORT_TYPE_PORT_SET))
            set = (um_pset *)e->object;
        else {
            um_guard_exception(space, rcv_name, 0, kGUARD_EXC_RCV_INVALID_NAME);
            mr = MACH_RCV_INVALID_NAME;
            break;
        }
        um_port *src = port ? (port->msgcount ? port : NULL) : um_pset_ready_member(set);
        if (src) {
            um_kmsg *k = src->msg_head;
            mach_msg_size_t tsize = um_trailer_size(option);
            if ((uint64_t)rcv_size < (uint64_t)k->size + tsize) {
                if (option & MACH_RCV_LARGE) {
                    /* The message stays queued; report the size it needs (no trailer). */
                    /* As XNU: each field is written when the buffer reaches it. */
                    if (rcv_size >= offsetof(mach_msg_header_t, msgh_remote_port))
                        buf->msgh_size = k->size;
                    if ((option & MACH_RCV_LARGE_IDENTITY) &&
                        rcv_size >= offsetof(mach_msg_header_t, msgh_voucher_port))
                        buf->msgh_local_port = src->receiver_name;
                    mr = MACH_RCV_TOO_LARGE;
                    break;
                }
                mach_port_seqno_t seqno;
                k = um_mqueue_dequeue(src, &seqno);
                too_large_header(space, k, buf, rcv_size, option, seqno);
                mr = MACH_RCV_TOO_LARGE;
                break;
            }
            mach_port_seqno_t seqno;
            uint64_t context = src->context;
            k = um_mqueue_dequeue(src, &seqno);
            security_token_t sec = k->sec;
            audit_token_t audit = k->audit;
            mach_msg_size_t size = k->size;
            mr = um_kmsg_copyout(space, k, buf, option, (uint64_t)(uintptr_t)buf);
            if ((mr & ~MACH_MSG_MASK) == MACH_RCV_HEADER_ERROR)
                break;
            um_trailer_write((uint8_t *)buf + size, option, seqno, &sec, &audit, context);
            break;
        }
        if (timed && (timeout == 0 || deadline_passed(&deadline))) {
            mr = MACH_RCV_TIMED_OUT;
            break;
        }
        if (!fw_ready) {
            fe_waiter_init(fw);
            fw_ready = true;
        }
        int r = fe_wait(fw, port ? &port->receivers : &set->receivers,
                        port ? (void *)port : (void *)set, timed ? &deadline : NULL,
                        (option & MACH_RCV_INTERRUPT) != 0);
        if (r == MACH_RCV_PORT_CHANGED) {
            mr = MACH_RCV_PORT_CHANGED;
            break;
        }
        if (r == FE_INTERRUPTED) {
            mr = MACH_RCV_INTERRUPTED;
            break;
        }
    }
    return mr;
}

UM_EXPORT mach_msg_return_t mach_msg_overwrite(mach_msg_header_t *msg, mach_msg_option_t option,
                                               mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                               mach_port_name_t rcv_name,
                                               mach_msg_timeout_t timeout, mach_port_name_t notify,
                                               mach_msg_header_t *rcv_msg,
                                               mach_msg_size_t rcv_limit)
{
    (void)notify;
    (void)rcv_limit;
    fe_waiter fw;
    mach_msg_return_t mr = MACH_MSG_SUCCESS;
    um_kmsg *k = NULL;
    if (option & MACH_SEND_MSG) {
        if (!msg)
            return MACH_SEND_INVALID_DATA;
        /* Copying and checking the message needs no lock. */
        mr = um_kmsg_prepare(um_embedded_task(), msg, send_size, &k);
        if (mr != MACH_MSG_SUCCESS)
            return mr;
    }
    um_space *space = um_embedded_enter()->space;
    if (option & MACH_SEND_MSG) {
        mr = do_send(space, k, msg, option, timeout, &fw);
        if (mr != MACH_MSG_SUCCESS) {
            um_embedded_leave();
            return mr;
        }
    }
    if (option & MACH_RCV_MSG) {
        mach_msg_header_t *buf = rcv_msg ? rcv_msg : msg;
        if (!buf) {
            um_embedded_leave();
            return MACH_RCV_INVALID_DATA;
        }
        mr = do_receive(space, buf, option, rcv_size, rcv_name, timeout, &fw);
    }
    um_embedded_leave();
    return mr;
}

UM_EXPORT mach_msg_return_t mach_msg(mach_msg_header_t *msg, mach_msg_option_t option,
                                     mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                     mach_port_name_t rcv_name, mach_msg_timeout_t timeout,
                                     mach_port_name_t notify)
{
    return mach_msg_overwrite(msg, option, send_size, rcv_size, rcv_name, timeout, notify, NULL, 0);
}

UM_EXPORT mach_msg_return_t mach_msg_send(mach_msg_header_t *msg)
{
    return mach_msg(msg, MACH_SEND_MSG, msg->msgh_size, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                    MACH_PORT_NULL);
}

UM_EXPORT mach_msg_return_t mach_msg_receive(mach_msg_header_t *msg)
{
    return mach_msg(msg, MACH_RCV_MSG, 0, msg->msgh_size, msg->msgh_local_port,
                    MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
}
