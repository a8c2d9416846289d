/*
 * port_observe.c — a front end's observer of a port (um_port_observe, kern/um_post.h): the
 * core calls it before every change of what a promise made ahead of the core stands on (a
 * space's send or receive right to the port, the port's death, queue limit, seqno, context,
 * set membership), whatever call or message makes the change, with the state still as it
 * was; never for a change that leaves those alone, and never for a port nobody observes.
 * umachd's posting grants and receive windows are taken back from this hook (d_post.c).
 */
#define _GNU_SOURCE
#include "mt.h"

#include "api/um_api.h"
#include "embedded/um_embedded.h"
#include "kern/um_post.h"
#include "kern_msg.h"

#include <mach/mach.h>

#include <string.h>

enum { OBS_MAX = 16 };

/* What the hook saw: each call's `what`, and the state it was about to change. */
typedef struct {
    unsigned n;
    int what[OBS_MAX];
    um_space *space[OBS_MAX];
    bool had_send[OBS_MAX];    /* SEND: the space's entry still held a send right */
    bool had_receive[OBS_MAX]; /* RECEIVE: the space still held the receive right */
    mach_port_seqno_t seqno[OBS_MAX];
    uint64_t context[OBS_MAX];
    mach_port_msgcount_t qlimit[OBS_MAX];
    bool active[OBS_MAX];
    mach_port_name_t name;     /* the observing space's name for the port */
} obs_log;

static void obs_hook(void *arg, um_port *port, um_space *space, int what)
{
    obs_log *l = arg;
    if (l->n == OBS_MAX)
        return;
    unsigned i = l->n++;
    l->what[i] = what;
    l->space[i] = space;
    um_entry *e = space ? um_entry_lookup(space, l->name) : NULL;
    l->had_send[i] = e && (e->type & MACH_PORT_TYPE_SEND) && e->object == &port->obj;
    l->had_receive[i] = port->receiver == space && space != NULL;
    l->seqno[i] = port->seqno;
    l->context[i] = port->context;
    l->qlimit[i] = port->qlimit;
    l->active[i] = port->active;
}

static um_port *obs_port(um_task *t, mach_port_name_t name)
{
    um_entry *e = um_entry_lookup(t->space, name);
    return e && e->object && e->object->otype == UM_OT_PORT ? (um_port *)e->object : NULL;
}

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t d;
} obs_msg;

/* Send `name`'s right with `disp` to `to` in a port descriptor (never waits). World locked. */
static mach_msg_return_t obs_send_right(um_task *t, mach_port_name_t to, mach_port_name_t name,
                                        mach_msg_type_name_t disp)
{
    obs_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = to;
    m.body.msgh_descriptor_count = 1;
    m.d.name = name;
    m.d.disposition = disp;
    m.d.type = MACH_MSG_PORT_DESCRIPTOR;
    return kern_send(t, &m, sizeof m);
}

MT_TEST(every_change_a_promise_stands_on_calls_the_observer_first_with_the_state_as_it_was)
{
    um_task *a = um_embedded_enter();
    mach_port_name_t p = MACH_PORT_NULL, q = MACH_PORT_NULL, set = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &q), KERN_SUCCESS);
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_PORT_SET, &set),
          KERN_SUCCESS);
    MT_KR(um_api_mach_port_insert_right(a, a->task_name, p, p, MACH_MSG_TYPE_MAKE_SEND),
          KERN_SUCCESS);
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    um_port *port = obs_port(a, p);
    MT_REQUIRE(port != NULL);
    obs_log log;
    memset(&log, 0, sizeof log);
    log.name = p;
    MT_CHECK(um_port_observe(port, obs_hook, &log));
    MT_CHECK(port->observed);

    /* Changes that leave every promise standing: more send urefs, one of two taken, reads. */
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, p, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, p, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    MT_KR(um_api_mach_port_deallocate(a, a->task_name, p), KERN_SUCCESS);
    mach_port_context_t ctx = 0;
    MT_KR(um_api_mach_port_get_context(a, a->task_name, p, &ctx), KERN_SUCCESS);
    MT_EQ(log.n, 0u);

    /* The last send uref: SEND, while the entry still holds it. */
    MT_KR(um_api_mach_port_deallocate(a, a->task_name, p), KERN_SUCCESS);
    MT_EQ(log.n, 1u);
    MT_EQ(log.what[0], UM_PORT_CHANGE_SEND);
    MT_CHECK(log.space[0] == a->space);
    MT_CHECK(log.had_send[0]);

    /* The port's state: each before it changes. */
    MT_KR(um_api_mach_port_set_seqno(a, a->task_name, p, 40), KERN_SUCCESS);
    MT_KR(um_api_mach_port_set_context(a, a->task_name, p, 0x1234), KERN_SUCCESS);
    mach_port_limits_t lim = {.mpl_qlimit = 3};
    MT_KR(um_api_mach_port_set_attributes(a, a->task_name, p, MACH_PORT_LIMITS_INFO,
                                          (mach_port_info_t)&lim, MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
    MT_KR(um_api_mach_port_insert_member(a, a->task_name, p, set), KERN_SUCCESS);
    MT_EQ(log.n, 5u);
    MT_EQ(log.what[1], UM_PORT_CHANGE_SEQNO);
    MT_EQ(log.seqno[1], 0u);
    MT_EQ(log.what[2], UM_PORT_CHANGE_CONTEXT);
    MT_EQ(log.context[2], 0u);
    MT_EQ(log.what[3], UM_PORT_CHANGE_QLIMIT);
    MT_EQ(log.qlimit[3], (mach_port_msgcount_t)MACH_PORT_QLIMIT_DEFAULT);
    MT_EQ(log.what[4], UM_PORT_CHANGE_SETS);
    MT_KR(um_api_mach_port_set_context(a, a->task_name, p, 0), KERN_SUCCESS);
    MT_KR(um_api_mach_port_guard(a, a->task_name, p, 0x99, 0), KERN_SUCCESS);
    MT_KR(um_api_mach_port_unguard(a, a->task_name, p, 0x99), KERN_SUCCESS);
    MT_EQ(log.n, 8u);
    MT_EQ(log.what[6], UM_PORT_CHANGE_CONTEXT);
    MT_EQ(log.what[7], UM_PORT_CHANGE_CONTEXT);
    MT_EQ(log.context[7], 0x99u);

    /* The receive right destroyed: RECEIVE while the space holds it, then the death. */
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, p, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    MT_EQ(log.n, 10u);
    MT_EQ(log.what[8], UM_PORT_CHANGE_RECEIVE);
    MT_CHECK(log.had_receive[8]);
    MT_EQ(log.what[9], UM_PORT_CHANGE_DEATH);
    MT_CHECK(log.active[9]);

    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, q, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, set, MACH_PORT_RIGHT_PORT_SET, -1),
          KERN_SUCCESS);
    MT_EQ(log.n, 10u); /* another port's changes are not this one's */
    um_embedded_leave();
}

MT_TEST(rights_moved_in_a_message_call_the_observer_and_copies_or_unobserved_ports_do_not)
{
    um_task *a = um_embedded_enter();
    mach_port_name_t p = MACH_PORT_NULL, carrier = MACH_PORT_NULL;
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_KR(um_api_mach_port_allocate(a, a->task_name, MACH_PORT_RIGHT_RECEIVE, &carrier),
          KERN_SUCCESS);
    MT_KR(um_api_mach_port_insert_right(a, a->task_name, p, p, MACH_MSG_TYPE_MAKE_SEND),
          KERN_SUCCESS);
    um_port *port = obs_port(a, p);
    MT_REQUIRE(port != NULL);
    obs_log log;
    memset(&log, 0, sizeof log);
    log.name = p;

    /* Not observed yet: nothing is called. */
    MT_KR(obs_send_right(a, carrier, p, MACH_MSG_TYPE_COPY_SEND), MACH_MSG_SUCCESS);
    MT_CHECK(um_port_observe(port, obs_hook, &log));
    /* A copy leaves the right where it is. */
    MT_KR(obs_send_right(a, carrier, p, MACH_MSG_TYPE_COPY_SEND), MACH_MSG_SUCCESS);
    MT_KR(obs_send_right(a, carrier, p, MACH_MSG_TYPE_MAKE_SEND), MACH_MSG_SUCCESS);
    MT_EQ(log.n, 0u);
    /* The last send uref moved out, then the receive right. */
    MT_KR(obs_send_right(a, carrier, p, MACH_MSG_TYPE_MOVE_SEND), MACH_MSG_SUCCESS);
    MT_EQ(log.n, 1u);
    MT_EQ(log.what[0], UM_PORT_CHANGE_SEND);
    MT_CHECK(log.had_send[0]);
    MT_KR(obs_send_right(a, carrier, p, MACH_MSG_TYPE_MOVE_RECEIVE), MACH_MSG_SUCCESS);
    MT_EQ(log.n, 2u);
    MT_EQ(log.what[1], UM_PORT_CHANGE_RECEIVE);
    MT_CHECK(log.had_receive[1]);
    MT_CHECK(port->receiver == NULL); /* in transit, in the carrier's queue */

    /* Unobserved: the carrier's destruction destroys the port in transit, and nobody hears. */
    um_port_unobserve(port);
    MT_CHECK(!port->observed);
    MT_KR(um_api_mach_port_mod_refs(a, a->task_name, carrier, MACH_PORT_RIGHT_RECEIVE, -1),
          KERN_SUCCESS);
    MT_EQ(log.n, 2u);
    um_embedded_leave();
}

MT_MAIN()
