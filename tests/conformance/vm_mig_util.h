/*
 * vm_mig_util.h — one mach_vm.defs routine sent by hand to our own task port, as a MIG user
 * stub sends it (its in-line arguments packed on 4 bytes after the NDR record, a send-once
 * reply right), and its reply received: for the conformance tests of the vm calls.
 */
#ifndef VM_MIG_UTIL_H
#define VM_MIG_UTIL_H

#include "notify_util.h"

#include <mach/mach_vm.h>
#include <mach/mig_errors.h>
#include <mach/vm_region.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    uint8_t args[64];
} vmu_req;
typedef union {
    mach_msg_header_t head;
    mig_reply_error_t error;
    struct {
        mach_msg_header_t head;
        NDR_record_t ndr;
        kern_return_t ret;
        uint8_t out[512];
    } simple;
    uint8_t bytes[1024];
} vmu_reply;
#pragma pack(pop)

typedef struct {
    uint8_t bytes[64];
    mach_msg_size_t len;
} vmu_args;

static inline void vmu_64(vmu_args *a, uint64_t v)
{
    memcpy(a->bytes + a->len, &v, 8);
    a->len += 8;
}

static inline void vmu_32(vmu_args *a, uint32_t v)
{
    memcpy(a->bytes + a->len, &v, 4);
    a->len += 4;
}

/* Send routine `id` with `a`'s arguments to our task port and receive its reply in `r` on a
 * fresh port (10 s at most each way): the send's or the receive's code. */
static inline mach_msg_return_t vmu_rpc(mach_msg_id_t id, const vmu_args *a, vmu_reply *r)
{
    mach_port_t reply = MACH_PORT_NULL;
    kern_return_t kr = mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &reply);
    if (kr != KERN_SUCCESS)
        return kr;
    vmu_req req;
    memset(&req, 0, sizeof req);
    mach_msg_size_t size = (mach_msg_size_t)(offsetof(vmu_req, args) + a->len);
    req.head.msgh_bits =
        MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0);
    req.head.msgh_size = size;
    req.head.msgh_remote_port = TASK;
    req.head.msgh_local_port = reply;
    req.head.msgh_id = id;
    req.ndr = NDR_record;
    memcpy(req.args, a->bytes, a->len);
    mach_msg_return_t mr = mach_msg(&req.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0,
                                    MACH_PORT_NULL, 10000, MACH_PORT_NULL);
    if (mr == MACH_MSG_SUCCESS) {
        memset(r, 0xA5, sizeof *r);
        mr = mach_msg(&r->head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r, reply, 10000,
                      MACH_PORT_NULL);
    }
    (void)mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1);
    return mr;
}

/* vmu_rpc of a routine whose arguments are a range and one value (inherit, msync,
 * behavior_set). */
static inline mach_msg_return_t vmu_range_rpc(mach_msg_id_t id, uint64_t address, uint64_t size,
                                              uint32_t value, vmu_reply *r)
{
    vmu_args a = {.len = 0};
    vmu_64(&a, address);
    vmu_64(&a, size);
    vmu_32(&a, value);
    return vmu_rpc(id, &a, r);
}

/* The basic information of the region that holds `at` (mach_vm_region's
 * VM_REGION_BASIC_INFO_64): false if no region holds it. */
static inline bool vmu_region_at(mach_vm_address_t at, vm_region_basic_info_data_64_t *info)
{
    mach_vm_address_t addr = at;
    mach_vm_size_t size = 0;
    mach_msg_type_number_t count = VM_REGION_BASIC_INFO_COUNT_64;
    mach_port_t object = MACH_PORT_NULL;
    return mach_vm_region(TASK, &addr, &size, VM_REGION_BASIC_INFO_64, (vm_region_info_t)info,
                          &count, &object) == KERN_SUCCESS &&
           addr <= at;
}

/* The routine's result in a reply: a simple reply's RetCode or an error reply's. */
static inline kern_return_t vmu_ret(const vmu_reply *r)
{
    return r->simple.ret;
}

#endif
