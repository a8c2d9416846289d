/*
 * so_reserves.c — the notification reserved for each send-once right (um_port_rare.soreserves,
 * um_port_make_send_once): every send-once right to an active port has its own reserved
 * MACH_NOTIFY_SEND_ONCE message on the port, so that destroying the right unused cannot fail
 * to notify; a right used by its message leaves its reserve as the port's one spare, which
 * the next right made takes (a reply port allocates nothing per round trip).
 */
#define _GNU_SOURCE
#include "mt.h"

#include "api/um_api.h"
#include "embedded/um_embedded.h"
#include "kern_msg.h"

#include <mach/mach.h>
#include <mach/notify.h>

#include <string.h>

static um_port *so_port(um_task *t, mach_port_name_t name)
{
    um_entry *e = um_entry_lookup(t->space, name);
    return e && e->object && e->object->otype == UM_OT_PORT ? (um_port *)e->object : NULL;
}

/* How many notifications are reserved on the port. */
static uint32_t so_reserved(const um_port *port)
{
    uint32_t n = 0;
    for (const um_kmsg *k = port->rare ? port->rare->soreserves : NULL; k; k = k->next)
        n++;
    return n;
}

static mach_port_name_t so_make(um_task *t, mach_port_name_t port)
{
    mach_port_t so = MACH_PORT_NULL;
    mach_msg_type_name_t type = 0;
    MT_KR(um_api_mach_port_extract_right(t, t->task_name, port, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so,
                                         &type),
          KERN_SUCCESS);
    MT_EQ(type, (mach_msg_type_name_t)MACH_MSG_TYPE_PORT_SEND_ONCE);
    return so;
}

typedef struct {
    mach_msg_header_t h;
    mach_msg_max_trailer_t trailer;
} so_buf;

/* Receive the next message on `port` (queued: never waits); returns its id. */
static mach_msg_id_t so_receive(um_task *t, mach_port_name_t port)
{
    so_buf b;
    memset(&b, 0, sizeof b);
    MT_KR(kern_receive(t, port, MACH_RCV_MSG, &b, sizeof b, NULL), MACH_MSG_SUCCESS);
    return b.h.msgh_id;
}

MT_TEST(a_send_once_right_keeps_its_reserve_when_another_rights_notification_is_received)
{
    um_task *a = um_embedded_enter();
    mach_port_name_t p = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    um_port *port = so_port(a, p);
    MT_REQUIRE(port != NULL);

    /* x destroyed unused: its notification, made of its reserve, is queued on p. */
    mach_port_name_t x = so_make(a, p);
    MT_EQ(so_reserved(port), 1u);
    MT_KR(um_api_mach_port_deallocate(a, a->task_name, x), KERN_SUCCESS);
    MT_EQ(port->msgcount, 1u);
    MT_EQ(port->sorights, 1u); /* the notification carries x's right */
    MT_EQ(so_reserved(port), 0u);

    /* y is made while it travels: y gets a reserve of its own. */
    mach_port_name_t y = so_make(a, p);
    MT_EQ(port->sorights, 2u);
    MT_EQ(so_reserved(port), 1u);

    /*
     * Receiving the notification uses up x's right, which has no reserve left: y's stays
     * (it was taken as if it were x's, and y's destruction then had to allocate its own).
     */
    MT_EQ(so_receive(a, p), (mach_msg_id_t)MACH_NOTIFY_SEND_ONCE);
    MT_EQ(port->sorights, 1u);
    MT_EQ(so_reserved(port), 1u);

    MT_KR(um_api_mach_port_deallocate(a, a->task_name, y), KERN_SUCCESS);
    MT_EQ(so_receive(a, p), (mach_msg_id_t)MACH_NOTIFY_SEND_ONCE);
    MT_EQ(port->sorights, 0u);
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, p, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    um_embedded_leave();
}

MT_TEST(a_reply_port_keeps_one_spare_reserve_over_many_requests)
{
    um_task *a = um_embedded_enter();
    mach_port_name_t p = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    um_port *port = so_port(a, p);
    MT_REQUIRE(port != NULL);
    const um_kmsg *first = NULL;
    for (int i = 0; i < 3; i++) {
        /* A request's reply right, used by the reply sent with it. */
        mach_port_name_t so = so_make(a, p);
        MT_EQ(so_reserved(port), 1u);
        if (i == 0)
            first = port->rare->soreserves;
        MT_CHECK(port->rare->soreserves == first); /* the spare again: nothing allocated */
        mach_msg_header_t m;
        memset(&m, 0, sizeof m);
        m.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
        m.msgh_size = sizeof m;
        m.msgh_remote_port = so;
        m.msgh_id = 100 + i;
        MT_KR(kern_send(a, &m, sizeof m), MACH_MSG_SUCCESS);
        MT_EQ(so_receive(a, p), 100 + i);
        MT_EQ(port->sorights, 0u);
        MT_EQ(so_reserved(port), 1u); /* the spare */
    }
    /* Two rights at once: one more reserve; both used: still one spare. */
    mach_port_name_t s1 = so_make(a, p), s2 = so_make(a, p);
    MT_EQ(so_reserved(port), 2u);
    mach_port_name_t sos[2] = {s1, s2};
    for (int i = 0; i < 2; i++) {
        mach_msg_header_t m;
        memset(&m, 0, sizeof m);
        m.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
        m.msgh_size = sizeof m;
        m.msgh_remote_port = sos[i];
        m.msgh_id = 200 + i;
        MT_KR(kern_send(a, &m, sizeof m), MACH_MSG_SUCCESS);
    }
    MT_EQ(so_receive(a, p), 200);
    MT_EQ(so_receive(a, p), 201);
    MT_EQ(so_reserved(port), 1u);
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, p, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    um_embedded_leave();
}

MT_MAIN()
