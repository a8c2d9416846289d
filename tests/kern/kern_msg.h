/*
 * kern_msg.h — for the tests of tests/kern: a message sent or received by one task of the
 * embedded kernel through the core's own calls (um_kmsg_prepare and um_msg_send,
 * um_msg_receive), never waiting, the way a front end makes them.
 */
#ifndef KERN_MSG_H
#define KERN_MSG_H

#include "kern/um_kmsg.h"

#include <string.h>

/* Send the `size` bytes at `msg` from task `t`. Conditions: the world is locked. */
static inline mach_msg_return_t kern_send(um_task *t, void *msg, mach_msg_size_t size)
{
    um_kmsg *k = NULL;
    mach_msg_return_t mr = um_kmsg_prepare(t, (uint64_t)(uintptr_t)msg, size, &k);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    um_msg_send_state s;
    memset(&s, 0, sizeof s);
    s.kmsg = k;
    s.option = MACH_SEND_MSG;
    s.msg_addr = (uint64_t)(uintptr_t)msg;
    s.may_block = false;
    mr = um_msg_send(t, &s);
    um_msg_out_release(&s.out);
    return mr;
}

/*
 * Receive on `name` of task `t` with `option` into the `rcv_size` bytes at `buf`: what the
 * receive writes is written there; *len (when len is not NULL) is the end of the last byte
 * written. Conditions: the world is locked.
 */
static inline mach_msg_return_t kern_receive(um_task *t, mach_port_name_t name,
                                             mach_msg_option_t option, void *buf,
                                             mach_msg_size_t rcv_size, uint32_t *len)
{
    um_msg_rcv_state r;
    memset(&r, 0, sizeof r);
    r.option = option;
    r.rcv_size = rcv_size;
    r.rcv_name = name;
    r.rcv_addr = (uint64_t)(uintptr_t)buf;
    r.may_block = false;
    mach_msg_return_t mr = um_msg_receive(t, &r);
    uint32_t end = 0;
    for (uint32_t i = 0; i < r.out.nseg; i++) {
        memcpy((uint8_t *)buf + r.out.seg[i].offset, r.out.seg[i].bytes, r.out.seg[i].len);
        if (r.out.seg[i].offset + r.out.seg[i].len > end)
            end = r.out.seg[i].offset + r.out.seg[i].len;
    }
    um_msg_out_release(&r.out);
    if (len)
        *len = end;
    return mr;
}

#endif
