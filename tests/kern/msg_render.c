/*
 * msg_render.c — um_msg_render, the core's preview of a receive (umachd's receive windows
 * show it): for every simple message queued on a port it gives, without dequeuing anything,
 * exactly the bytes the receive that takes it later writes (header, body, the trailer with
 * the seqno to be and the context), and nothing for a message whose receive would do more
 * than write bytes.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "api/um_api.h"
#include "embedded/um_embedded.h"
#include "kern_msg.h"

#include <mach/mach.h>

#include <string.h>

static const um_task_hooks no_hooks = {0};

typedef struct {
    mach_msg_header_t h;
    uint8_t body[600];
} mr_msg;

/* A simple message of `size` bytes to `dest` (disposition `disp`), id `id`, body a pattern. */
static void mr_fill(mr_msg *m, mach_port_name_t dest, mach_msg_type_name_t disp,
                    mach_port_name_t reply, mach_msg_type_name_t reply_disp, mach_msg_id_t id,
                    mach_msg_size_t size)
{
    memset(m, 0, sizeof *m);
    m->h.msgh_bits = MACH_MSGH_BITS(disp, reply_disp);
    m->h.msgh_size = size;
    m->h.msgh_remote_port = dest;
    m->h.msgh_local_port = reply;
    m->h.msgh_voucher_port = 0x1234; /* no voucher right: the field travels as sent */
    m->h.msgh_id = id;
    for (size_t i = 0; i < sizeof m->body; i++)
        m->body[i] = (uint8_t)(i * 7 + (unsigned)id);
}

static um_port *mr_port(um_task *t, mach_port_name_t name)
{
    um_entry *e = um_entry_lookup(t->space, name);
    return e && (e->type & MACH_PORT_TYPE_RECEIVE) ? (um_port *)e->object : NULL;
}

static const mach_msg_option_t trailer_options[] = {
    MACH_RCV_MSG,
    MACH_RCV_MSG | MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_SEQNO),
    MACH_RCV_MSG | MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT),
    MACH_RCV_MSG | MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_CTX),
    MACH_RCV_MSG | MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
        MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AV),
};
#define NOPTIONS (sizeof trailer_options / sizeof trailer_options[0])

MT_TEST(every_queued_simple_message_renders_as_the_receive_that_takes_it_later_writes)
{
    um_task *a = um_embedded_enter();
    mach_port_name_t p = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_KR(um_api_mach_port_set_context(a, a->task_name, p, 0xfeedface12345678ull), KERN_SUCCESS);
    MT_KR(um_api_mach_port_set_seqno(a, a->task_name, p, 77), KERN_SUCCESS);
    um_port *port = mr_port(a, p);
    MT_REQUIRE(port != NULL);

    for (size_t o = 0; o < NOPTIONS; o++) {
        mach_msg_option_t option = trailer_options[o];
        /* Five messages of different sizes and ids; the third to a send-once right. */
        mr_msg m;
        for (uint32_t i = 0; i < 5; i++) {
            mach_msg_size_t size = (mach_msg_size_t)sizeof(mach_msg_header_t) + 4 + 100 * i;
            mr_fill(&m, p, i == 2 ? MACH_MSG_TYPE_MAKE_SEND_ONCE : MACH_MSG_TYPE_MAKE_SEND,
                    MACH_PORT_NULL, 0, (mach_msg_id_t)(1000 + i), size);
            MT_KR(kern_send(a, &m, size), MACH_MSG_SUCCESS);
        }
        MT_EQ(port->msgcount, 5u);
        /* Every one rendered where it stands; rendering changes nothing. */
        static _Alignas(mach_msg_header_t) uint8_t img[5][sizeof(mr_msg) + MAX_TRAILER_SIZE];
        uint32_t len[5];
        mach_port_seqno_t seqno = port->seqno;
        uint32_t srights = port->srights, sorights = port->sorights;
        um_kmsg *k = port->msg_head;
        for (uint32_t i = 0; i < 5; i++, k = k->next) {
            MT_REQUIRE(k != NULL);
            len[i] = um_msg_render(a->space, port, k, i, option, sizeof img[i], img[i],
                                   sizeof img[i]);
            MT_EQ(len[i], k->size + um_trailer_size(option));
        }
        MT_EQ(port->msgcount, 5u);
        MT_EQ(port->seqno, seqno);
        MT_EQ(port->srights, srights);
        MT_EQ(port->sorights, sorights);
        /* Then received one by one: the same bytes. */
        for (uint32_t i = 0; i < 5; i++) {
            uint8_t got[sizeof(mr_msg) + MAX_TRAILER_SIZE];
            memset(got, 0xa5, sizeof got);
            uint32_t n;
            mach_msg_return_t mr = kern_receive(a, p, option, got, sizeof got, &n);
            MT_KR(mr, MACH_MSG_SUCCESS);
            MT_EQ(n, len[i]);
            MT_CHECK(memcmp(got, img[i], len[i]) == 0);
        }
        MT_EQ(port->msgcount, 0u);
    }
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, p, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    um_embedded_leave();
}

MT_TEST(a_message_whose_receive_does_more_than_write_bytes_or_does_not_fit_renders_nothing)
{
    um_task *a = um_embedded_enter();
    mach_port_name_t p = MACH_PORT_NULL, r = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &r), KERN_SUCCESS);
    um_port *port = mr_port(a, p);
    MT_REQUIRE(port != NULL);
    mr_msg m;
    /* A reply right: its receive names it in the space. */
    mr_fill(&m, p, MACH_MSG_TYPE_MAKE_SEND, r, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1, 64);
    MT_KR(kern_send(a, &m, 64), MACH_MSG_SUCCESS);
    /* A simple one of 400 bytes. */
    mr_fill(&m, p, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, 2, 400);
    MT_KR(kern_send(a, &m, 400), MACH_MSG_SUCCESS);
    _Alignas(mach_msg_header_t) uint8_t img[1024];
    um_kmsg *k = port->msg_head;
    MT_EQ(um_msg_render(a->space, port, k, 0, MACH_RCV_MSG, sizeof img, img, sizeof img), 0u);
    k = k->next;
    mach_msg_size_t need = 400 + um_trailer_size(MACH_RCV_MSG);
    MT_EQ(um_msg_render(a->space, port, k, 1, MACH_RCV_MSG, need, img, sizeof img), need);
    /* Smaller than the receive's buffer wants (MACH_RCV_TOO_LARGE), or than the caller's. */
    MT_EQ(um_msg_render(a->space, port, k, 1, MACH_RCV_MSG, need - 1, img, sizeof img), 0u);
    MT_EQ(um_msg_render(a->space, port, k, 1, MACH_RCV_MSG, sizeof img, img, need - 1), 0u);
    /* Another space does not hold the receive right: its receive could not take it. */
    um_task *b = um_task_create(a->kernel, a->mem, &no_hooks, NULL);
    MT_REQUIRE(b != NULL);
    MT_EQ(um_msg_render(b->space, port, k, 1, MACH_RCV_MSG, sizeof img, img, sizeof img), 0u);
    um_task_terminate(b);
    MT_EQ(port->msgcount, 2u);
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, p, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, r, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    um_embedded_leave();
}

MT_MAIN()
