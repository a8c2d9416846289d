/*
 * request_copyout.c — um_msg_receive's simple path for a request (no descriptor, no voucher,
 * a send-once reply right to a live port: um_kmsg_is_simple_request) writes exactly what the
 * general copy-out, um_kmsg_copyout with its trailer, writes for the same request: header
 * bits, size, names, voucher field and id, the body, the trailer, and a fresh send-once entry
 * for the reply right.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "api/um_api.h"
#include "embedded/um_embedded.h"
#include "kern_msg.h"

#include <mach/mach.h>

#include <string.h>

typedef struct {
    mach_msg_header_t h;
    uint8_t body[40];
    mach_msg_max_trailer_t trailer;
} rc_msg;

static um_port *rc_port(um_task *t, mach_port_name_t name)
{
    um_entry *e = um_entry_lookup(t->space, name);
    return e && e->object && e->object->otype == UM_OT_PORT ? (um_port *)e->object : NULL;
}

/* The general copy-out of the next message on `port`, as um_msg_receive makes it. */
static mach_msg_return_t rc_receive_general(um_task *t, um_port *port, mach_msg_option_t option,
                                            rc_msg *out, uint32_t *len)
{
    mach_port_seqno_t seqno = 0;
    um_kmsg *k = um_mqueue_dequeue(port, &seqno);
    *len = 0;
    if (!k)
        return MACH_RCV_TIMED_OUT;
    mach_msg_size_t size = k->size;
    um_msg_out o;
    memset(&o, 0, sizeof o);
    mach_msg_return_t mr =
        um_kmsg_copyout(t->space, k, option, (uint64_t)(uintptr_t)out, &o);
    if (mr == MACH_MSG_SUCCESS) {
        um_trailer_write((uint8_t *)o.seg[0].bytes + size, option, seqno, &k->sec, &k->audit,
                         port->context);
        o.seg[0].len += um_trailer_size(option);
    }
    for (uint32_t i = 0; i < o.nseg; i++) {
        memcpy((uint8_t *)out + o.seg[i].offset, o.seg[i].bytes, o.seg[i].len);
        if (o.seg[i].offset + o.seg[i].len > *len)
            *len = o.seg[i].offset + o.seg[i].len;
    }
    um_msg_out_release(&o);
    return mr;
}

static void rc_check_reply_entry(um_task *t, mach_port_name_t name, um_port *reply)
{
    um_entry *e = um_entry_lookup(t->space, name);
    MT_REQUIRE(e != NULL);
    MT_EQ(e->type, (mach_port_type_t)MACH_PORT_TYPE_SEND_ONCE);
    MT_CHECK(e->object == &reply->obj);
    MT_EQ(e->urefs, 1u);
}

MT_TEST(a_request_copied_out_on_the_simple_path_reads_as_the_general_copyout_writes_it)
{
    um_task *a = um_embedded_enter();
    mach_port_name_t p = MACH_PORT_NULL, r = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &r), KERN_SUCCESS);
    MT_KR(um_api_mach_port_set_context(a, a->task_name, p, 0x5eed), KERN_SUCCESS);
    um_port *port = rc_port(a, p), *reply = rc_port(a, r);
    MT_REQUIRE(port != NULL && reply != NULL);

    /* Two identical requests: a send right made for p, a send-once right made for r. */
    for (int i = 0; i < 2; i++) {
        rc_msg m;
        memset(&m, 0, sizeof m);
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        m.h.msgh_size = sizeof m.h + sizeof m.body;
        m.h.msgh_remote_port = p;
        m.h.msgh_local_port = r;
        m.h.msgh_voucher_port = 0x1234; /* no voucher right: the field travels as sent */
        m.h.msgh_id = 4321;
        for (size_t j = 0; j < sizeof m.body; j++)
            m.body[j] = (uint8_t)(j * 13 + 1);
        MT_KR(kern_send(a, &m, m.h.msgh_size), MACH_MSG_SUCCESS);
    }
    MT_EQ(port->msgcount, 2u);
    MT_CHECK(um_kmsg_is_simple_request(port->msg_head, a->space));

    mach_msg_option_t option = MACH_RCV_MSG | MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                               MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AV);
    rc_msg simple, general;
    memset(&simple, 0xa5, sizeof simple);
    memset(&general, 0xa5, sizeof general);
    uint32_t slen = 0, glen = 0;
    MT_KR(kern_receive(a, p, option, &simple, sizeof simple, &slen), MACH_MSG_SUCCESS);
    MT_KR(rc_receive_general(a, port, option, &general, &glen), MACH_MSG_SUCCESS);

    MT_EQ(slen, glen);
    MT_EQ(slen, (uint32_t)(sizeof simple.h + sizeof simple.body + um_trailer_size(option)));
    MT_EQ(simple.h.msgh_bits, general.h.msgh_bits);
    MT_EQ(simple.h.msgh_bits, (mach_msg_bits_t)MACH_MSGH_BITS(MACH_MSG_TYPE_PORT_SEND_ONCE,
                                                              MACH_MSG_TYPE_PORT_SEND));
    MT_EQ(simple.h.msgh_size, general.h.msgh_size);
    MT_EQ(simple.h.msgh_local_port, p);
    MT_EQ(general.h.msgh_local_port, p);
    MT_EQ(simple.h.msgh_voucher_port, general.h.msgh_voucher_port);
    MT_EQ(simple.h.msgh_voucher_port, 0x1234u);
    MT_EQ(simple.h.msgh_id, general.h.msgh_id);
    MT_CHECK(memcmp(simple.body, general.body, sizeof simple.body) == 0);

    /* Each reply right has a fresh name of its own; the trailers differ only in the seqno. */
    MT_CHECK(simple.h.msgh_remote_port != general.h.msgh_remote_port);
    rc_check_reply_entry(a, simple.h.msgh_remote_port, reply);
    rc_check_reply_entry(a, general.h.msgh_remote_port, reply);
    MT_EQ(reply->sorights, 2u);
    MT_EQ(general.trailer.msgh_seqno, simple.trailer.msgh_seqno + 1);
    general.trailer.msgh_seqno = simple.trailer.msgh_seqno;
    MT_CHECK(memcmp(&simple.trailer, &general.trailer, um_trailer_size(option)) == 0);
    MT_EQ(simple.trailer.msgh_context, (mach_port_context_t)0x5eed);

    MT_KR(um_api_mach_port_deallocate(a, a->task_name, simple.h.msgh_remote_port), KERN_SUCCESS);
    MT_KR(um_api_mach_port_deallocate(a, a->task_name, general.h.msgh_remote_port),
          KERN_SUCCESS);
    /* The destination's send rights were used up by their messages: p names the receive right. */
    mach_port_type_t ptype = 0;
    MT_KR(um_api_mach_port_type(a, a->task_name, p, &ptype), KERN_SUCCESS);
    MT_EQ(ptype, (mach_port_type_t)MACH_PORT_TYPE_RECEIVE);
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, p, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, r, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    um_embedded_leave();
}

MT_MAIN()
