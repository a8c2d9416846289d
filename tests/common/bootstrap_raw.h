/*
 * bootstrap_raw.h — bootstrap requests built by hand, for tests that speak the bootstrap
 * server's MIG protocol directly (tests/umach/bootstrap_server.c in one process,
 * tests/world/bootstrap.c across processes): the request layouts, their ids, and the check
 * of a MIG error reply. Include after mt.h and <mach/mach.h>.
 */
#ifndef BOOTSTRAP_RAW_H
#define BOOTSTRAP_RAW_H

#include <mach/mig_errors.h>
#include <mach/ndr.h>
#include <mach/notify.h>
#include <servers/bootstrap.h>

#include <string.h>

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    name_t name;
} name_req;

typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
    NDR_record_t ndr;
    name_t name;
} register_req;

typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t ool;
    NDR_record_t ndr;
    name_t name;
} ool_register_req;

typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
} port_destroyed_req;
#pragma pack(pop)

enum { ID_CHECK_IN = 402, ID_REGISTER = 403, ID_LOOK_UP = 404 };

/* An error reply: mig_reply_error_t with id + 100 and `code`, not complex. */
static inline void check_error_reply(const mig_reply_error_t *e, mach_msg_id_t id,
                                     kern_return_t code)
{
    MT_EQ(e->Head.msgh_id, id + 100);
    MT_EQ(e->Head.msgh_bits & MACH_MSGH_BITS_COMPLEX, 0);
    MT_EQ(e->Head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(e->RetCode, code);
}

/* A register request (no reply fields yet) carrying `port` with `disposition`. */
static inline void register_req_fill(register_req *rr, mach_port_t port,
                                     mach_msg_type_name_t disposition)
{
    memset(rr, 0, sizeof *rr);
    rr->head.msgh_bits = MACH_MSGH_BITS_COMPLEX;
    rr->head.msgh_id = ID_REGISTER;
    rr->body.msgh_descriptor_count = 1;
    rr->port.name = port;
    rr->port.disposition = disposition;
    rr->port.type = MACH_MSG_PORT_DESCRIPTOR;
}

/* A register request carrying out-of-line memory where the port belongs. */
static inline void ool_register_req_fill(ool_register_req *orq, void *address,
                                         mach_msg_size_t size)
{
    memset(orq, 0, sizeof *orq);
    orq->head.msgh_bits = MACH_MSGH_BITS_COMPLEX;
    orq->head.msgh_id = ID_REGISTER;
    orq->body.msgh_descriptor_count = 1;
    orq->ool.address = address;
    orq->ool.size = size;
    orq->ool.copy = MACH_MSG_PHYSICAL_COPY;
    orq->ool.type = MACH_MSG_OOL_DESCRIPTOR;
}

/* A forged port-destroyed notification carrying the receive right `carried`. */
static inline void port_destroyed_req_fill(port_destroyed_req *pd, mach_port_t carried)
{
    memset(pd, 0, sizeof *pd);
    pd->head.msgh_bits = MACH_MSGH_BITS_COMPLEX;
    pd->head.msgh_id = MACH_NOTIFY_PORT_DESTROYED;
    pd->body.msgh_descriptor_count = 1;
    pd->port.name = carried;
    pd->port.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
    pd->port.type = MACH_MSG_PORT_DESCRIPTOR;
}

#endif
