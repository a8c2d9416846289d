/*
 * task_death.c — runs inside a world (ctest: umach-run -- world_task_death): a process killed
 * with SIGKILL at each stage of an RPC, as client and as server, and the exact notifications
 * the surviving task gets (docs/world.md, "Task death"; XNU's ipc_space_terminate): its
 * receive rights destroyed (dead-name notifications, port-destroyed requests honoured, the
 * messages queued on them destroyed with the rights they carry), its send rights released
 * (no-senders), its send-once rights notifying, its blocked calls cancelled, and the other
 * task's threads blocked on its ports woken as XNU wakes them. The children are forked (a
 * forked child is a new task); they meet the parent through the world's bootstrap server,
 * and every step is synchronised through messages, pipes and the daemon's own counters
 * (UM_WIRE_STATS), never a sleep.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "space_names.h"
#include "world_util.h"

#include <mach/mach.h>
#include <mach/notify.h>
#include <servers/bootstrap.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TASK mach_task_self()
#define TD_WAIT_MS 20000 /* a generous bound for anything to arrive on a loaded machine */

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t d[4];
    int tag;
} td_msg;

typedef union {
    td_msg m;
    mach_no_senders_notification_t ns;
    mach_dead_name_notification_t dn;
    mach_send_once_notification_t so;
    mach_port_destroyed_notification_t pd;
    uint8_t bytes[1024];
} td_buf;

static int td_observer_fd = -1; /* a hand-made task that asks the daemon for its counters */
static uint32_t td_base_tasks;   /* tasks alive with no child */
static uint32_t td_base_conns;   /* connections open with no child */

static mach_port_t td_port(void)
{
    mach_port_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static mach_msg_port_descriptor_t td_desc(mach_port_t name, mach_msg_type_name_t disp)
{
    return (mach_msg_port_descriptor_t){
        .name = name, .disposition = disp, .type = MACH_MSG_PORT_DESCRIPTOR};
}

/* Send a message to `to` with up to four port descriptors. */
static mach_msg_return_t td_send(mach_port_t to, mach_msg_type_name_t to_disp, mach_port_t reply,
                                 mach_msg_type_name_t reply_disp, int tag,
                                 const mach_msg_port_descriptor_t *d, unsigned nd,
                                 mach_msg_option_t extra, mach_msg_timeout_t ms)
{
    td_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(to_disp, reply ? reply_disp : 0, 0, MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = to;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = 1000 + tag;
    m.body.msgh_descriptor_count = nd;
    for (unsigned i = 0; i < 4; i++)
        m.d[i] = i < nd ? d[i] : td_desc(MACH_PORT_NULL, 0);
    m.tag = tag;
    return mach_msg(&m.h, MACH_SEND_MSG | extra, sizeof m, 0, MACH_PORT_NULL, ms, MACH_PORT_NULL);
}

static mach_msg_return_t td_recv(mach_port_t port, td_buf *b, mach_msg_timeout_t ms)
{
    memset(b, 0xA5, sizeof *b);
    return mach_msg(&b->m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *b, port, ms,
                    MACH_PORT_NULL);
}

static kern_return_t td_arm(mach_port_t name, mach_msg_id_t which, mach_port_mscount_t sync,
                            mach_port_t notify)
{
    mach_port_t previous = MACH_PORT_NULL;
    kern_return_t kr = mach_port_request_notification(TASK, name, which, sync, notify,
                                                      MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous);
    if (kr == KERN_SUCCESS && previous != MACH_PORT_NULL)
        kr = KERN_FAILURE; /* nothing was armed before in these tests */
    return kr;
}

static mach_port_urefs_t td_refs(mach_port_t name, mach_port_right_t right)
{
    mach_port_urefs_t refs = 0;
    if (mach_port_get_refs(TASK, name, right, &refs) != KERN_SUCCESS)
        return (mach_port_urefs_t)-1;
    return refs;
}

static mach_port_type_t td_type(mach_port_t name)
{
    mach_port_type_t t = 0;
    if (mach_port_type(TASK, name, &t) != KERN_SUCCESS)
        return 0;
    return t;
}

static mach_port_status_t td_status(mach_port_t port)
{
    mach_port_status_t st;
    memset(&st, 0, sizeof st);
    mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
    (void)mach_port_get_attributes(TASK, port, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                   &cnt);
    return st;
}

static kern_return_t td_qlimit(mach_port_t port, mach_port_msgcount_t n)
{
    mach_port_limits_t l = {.mpl_qlimit = n};
    return mach_port_set_attributes(TASK, port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                    MACH_PORT_LIMITS_INFO_COUNT);
}

static void td_drop_recv(mach_port_t p)
{
    (void)mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1);
}

/* ---- the rendezvous ----------------------------------------------------------------------- */

typedef struct {
    w_service rdv; /* the parent's rendezvous port, registered under its name */
    pid_t kid;
    int to_kid[2], from_kid[2];
    mach_msg_type_number_t names_before; /* our space's names when the scene was set */
} td_pair;

/*
 * The parent's side before the fork: a registered rendezvous port, two pipes, and a new
 * receive right in each `mach_port_t *` of the list (ended by a null pointer; the macro below
 * ends it). The names the scene makes after that are counted from here.
 */
static int td_pair_open_(td_pair *p, const char *what, ...)
{
    memset(p, 0, sizeof *p);
    if (w_service_open(&p->rdv, "task_death", what) != KERN_SUCCESS)
        return -1;
    if (pipe(p->to_kid) != 0 || pipe(p->from_kid) != 0)
        return -1;
    p->names_before = tc_name_count();
    int rc = 0;
    va_list ap;
    va_start(ap, what);
    for (mach_port_t *port; (port = va_arg(ap, mach_port_t *)) != NULL;) {
        *port = td_port();
        if (!*port)
            rc = -1;
    }
    va_end(ap);
    return rc;
}
#define td_pair_open(p, what, ...) td_pair_open_((p), (what), __VA_ARGS__, (mach_port_t *)NULL)

/*
 * The child's side of the meeting: look the parent up and send it a send right to a port of
 * the child's own (queue limit `qlimit`, 0 for the default), which is returned. A failure ends
 * the child (exit 90, 92 or 93).
 */
static mach_port_t td_kid_meet(td_pair *p, mach_port_msgcount_t qlimit)
{
    close(p->to_kid[1]);
    close(p->from_kid[0]);
    if (td_observer_fd >= 0)
        close(td_observer_fd);
    mach_port_t rdv = MACH_PORT_NULL;
    if (bootstrap_look_up(bootstrap_port, p->rdv.name, &rdv) != KERN_SUCCESS)
        _exit(90);
    mach_port_t mine = td_port();
    if (!mine || (qlimit && td_qlimit(mine, qlimit) != KERN_SUCCESS))
        _exit(93);
    mach_msg_port_descriptor_t d[1] = {td_desc(mine, MACH_MSG_TYPE_MAKE_SEND)};
    if (td_send(rdv, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 1, d, 1, 0, 0) !=
        MACH_MSG_SUCCESS)
        _exit(92);
    return mine;
}

static void td_kid_say(td_pair *p, char c)
{
    if (write(p->from_kid[1], &c, 1) != 1)
        _exit(91);
}

static char td_kid_hear(td_pair *p)
{
    char c = 0;
    if (read(p->to_kid[0], &c, 1) != 1)
        _exit(0); /* the parent is gone */
    return c;
}

static char td_hear(td_pair *p)
{
    char c = 0;
    return read(p->from_kid[0], &c, 1) == 1 ? c : 0;
}

/* Kill the child with SIGKILL and reap it; true if SIGKILL is what ended it. */
static bool td_kill(td_pair *p)
{
    kill(p->kid, SIGKILL);
    int st = 0;
    if (waitpid(p->kid, &st, 0) != p->kid)
        return false;
    p->kid = 0;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

static void td_pair_close(td_pair *p)
{
    if (p->kid > 0) {
        kill(p->kid, SIGKILL);
        waitpid(p->kid, NULL, 0);
    }
    close(p->to_kid[1]);
    close(p->from_kid[0]);
    /* Every name the scene made is gone again (the rendezvous port is the one left). */
    MT_EQ(tc_name_count(), p->names_before);
    MT_KR(w_service_close(&p->rdv), KERN_SUCCESS);
}

/* ---- what the surviving task must get ----------------------------------------------------- */

/* A notification's header as XNU sends it: to the port named, from the kernel (no reply). */
#define TD_CHECK_NOTE(b, port, id, size)                                                           \
    do {                                                                                           \
        MT_EQ((b)->m.h.msgh_id, (id));                                                             \
        MT_EQ((b)->m.h.msgh_local_port, (port));                                                   \
        MT_EQ((b)->m.h.msgh_remote_port, (mach_port_t)MACH_PORT_NULL);                             \
        MT_EQ(MACH_MSGH_BITS_LOCAL((b)->m.h.msgh_bits), (unsigned)MACH_MSG_TYPE_PORT_SEND_ONCE);  \
        MT_EQ((b)->m.h.msgh_size, (mach_msg_size_t)(size));                                        \
    } while (0)

typedef struct {
    mach_port_t dead_names[4];   /* dead-name notifications expected, by name */
    unsigned ndead;
    mach_port_mscount_t ns_counts[4]; /* no-senders notifications expected, by mscount */
    unsigned nns;
    unsigned npd;                /* port-destroyed notifications expected */
    mach_port_t pd_got[4];       /* out: the receive rights they brought back */
} td_expect;

/* Tick off the first of the `n` values in `want` that is `got` and not yet `seen`; false: none. */
static bool td_tick(const natural_t *want, bool *seen, unsigned n, natural_t got)
{
    for (unsigned i = 0; i < n; i++) {
        if (!seen[i] && want[i] == got) {
            seen[i] = true;
            return true;
        }
    }
    return false;
}

/*
 * Receive exactly what `e` says on `notify`, in any order, then nothing more (the daemon ends
 * a task in one step and the task count says it is over).
 */
static void td_expect_notes(mach_port_t notify, td_expect *e)
{
    unsigned want = e->ndead + e->nns + e->npd;
    bool dead_seen[4] = {false}, ns_seen[4] = {false};
    unsigned pd_seen = 0;
    for (unsigned got = 0; got < want; got++) {
        td_buf b;
        mach_msg_return_t mr = td_recv(notify, &b, TD_WAIT_MS);
        MT_KR(mr, MACH_MSG_SUCCESS);
        if (mr != MACH_MSG_SUCCESS)
            return;
        switch (b.m.h.msgh_id) {
        case MACH_NOTIFY_DEAD_NAME: {
            TD_CHECK_NOTE(&b, notify, MACH_NOTIFY_DEAD_NAME,
                          sizeof b.dn - sizeof b.dn.trailer);
            MT_CHECK(td_tick(e->dead_names, dead_seen, e->ndead, b.dn.not_port));
            break;
        }
        case MACH_NOTIFY_NO_SENDERS: {
            TD_CHECK_NOTE(&b, notify, MACH_NOTIFY_NO_SENDERS, sizeof b.ns - sizeof b.ns.trailer);
            MT_CHECK(td_tick(e->ns_counts, ns_seen, e->nns, b.ns.not_count));
            break;
        }
        case MACH_NOTIFY_PORT_DESTROYED:
            TD_CHECK_NOTE(&b, notify, MACH_NOTIFY_PORT_DESTROYED,
                          sizeof b.pd - sizeof b.pd.trailer);
            MT_CHECK(b.m.h.msgh_bits & MACH_MSGH_BITS_COMPLEX);
            MT_EQ(b.pd.not_body.msgh_descriptor_count, 1u);
            MT_EQ(b.pd.not_port.disposition, (unsigned)MACH_MSG_TYPE_PORT_RECEIVE);
            MT_CHECK(pd_seen < e->npd);
            if (pd_seen < 4)
                e->pd_got[pd_seen] = b.pd.not_port.name;
            pd_seen++;
            break;
        default:
            MT_CHECK(!"an unexpected notification");
            break;
        }
    }
    td_buf b;
    MT_KR(td_recv(notify, &b, 0), MACH_RCV_TIMED_OUT);
}

/* The send-once notification of a send-once right to `port`, and nothing more there. */
static void td_expect_send_once(mach_port_t port)
{
    td_buf b;
    MT_KR(td_recv(port, &b, TD_WAIT_MS), MACH_MSG_SUCCESS);
    TD_CHECK_NOTE(&b, port, MACH_NOTIFY_SEND_ONCE, sizeof b.so - sizeof b.so.trailer);
    MT_EQ(b.m.h.msgh_bits & MACH_MSGH_BITS_COMPLEX, 0u);
    MT_KR(td_recv(port, &b, 0), MACH_RCV_TIMED_OUT);
    MT_EQ(td_status(port).mps_sorights, 0u);
}

/* The child's task is gone from the world, and no call of it waits. */
static void td_world_settled(void)
{
    MT_EQ(w_tasks_are(td_observer_fd, td_base_tasks), 0);
    MT_EQ(w_waiting_is(td_observer_fd, 0), 0);
}

/* A dead name with `refs` user references, released. */
static void td_check_dead(mach_port_t name, mach_port_urefs_t refs)
{
    MT_EQ(td_type(name), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(td_refs(name, MACH_PORT_RIGHT_DEAD_NAME), refs);
    MT_KR(mach_port_mod_refs(TASK, name, MACH_PORT_RIGHT_DEAD_NAME, -(mach_port_delta_t)refs),
          KERN_SUCCESS);
    MT_EQ(td_type(name), 0u);
}

/*
 * The parent's side after the fork: the child's first message brings a send right to its
 * port, returned with a dead-name request on it armed to `notify`.
 */
static mach_port_t td_meet(td_pair *p, mach_port_t notify)
{
    close(p->to_kid[0]);
    close(p->from_kid[1]);
    td_buf b;
    MT_KR(td_recv(p->rdv.port, &b, TD_WAIT_MS), MACH_MSG_SUCCESS);
    MT_EQ(b.m.tag, 1);
    mach_port_t theirs = b.m.d[0].name;
    MT_EQ(b.m.d[0].disposition, (unsigned)MACH_MSG_TYPE_PORT_SEND);
    MT_KR(td_arm(theirs, MACH_NOTIFY_DEAD_NAME, 0, notify), KERN_SUCCESS);
    return theirs;
}

/* ---- a killed client ---------------------------------------------------------------------- */

MT_TEST(a_client_killed_before_it_sends_releases_every_right_its_space_held)
{
    td_pair p;
    mach_port_t notify, nsport, soport, moved;
    MT_REQUIRE(td_pair_open(&p, "held", &notify, &nsport, &soport, &moved) == 0);
    MT_KR(mach_port_insert_right(TASK, moved, moved, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    p.kid = fork();
    MT_REQUIRE(p.kid >= 0);
    if (p.kid == 0) {
        mach_port_t mine = td_kid_meet(&p, 0), kept = td_port();
        if (!kept)
            _exit(93);
        /* The parent's gifts: a send right, a send-once right, a receive right, and a
         * send-once right for a port-destroyed request on a port of the child's. */
        td_buf b;
        if (td_recv(mine, &b, TD_WAIT_MS) != MACH_MSG_SUCCESS || b.m.tag != 2)
            _exit(94);
        mach_port_t pd_notify = b.m.d[3].name, prev = MACH_PORT_NULL;
        if (mach_port_request_notification(TASK, kept, MACH_NOTIFY_PORT_DESTROYED, 0, pd_notify,
                                           MACH_MSG_TYPE_MOVE_SEND_ONCE, &prev) != KERN_SUCCESS)
            _exit(95);
        td_kid_say(&p, 'r');
        for (;;)
            pause();
    }
    mach_port_t theirs = td_meet(&p, notify);
    mach_msg_port_descriptor_t d[4] = {
        td_desc(nsport, MACH_MSG_TYPE_MAKE_SEND), td_desc(soport, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        td_desc(moved, MACH_MSG_TYPE_MOVE_RECEIVE), td_desc(notify, MACH_MSG_TYPE_MAKE_SEND_ONCE)};
    MT_KR(td_send(theirs, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 2, d, 4, 0, 0),
          MACH_MSG_SUCCESS);
    MT_KR(td_arm(nsport, MACH_NOTIFY_NO_SENDERS, 0, notify), KERN_SUCCESS);
    MT_KR(td_arm(moved, MACH_NOTIFY_DEAD_NAME, 0, notify), KERN_SUCCESS);
    MT_EQ(td_hear(&p), 'r');

    MT_CHECK(td_kill(&p));

    td_expect e = {.dead_names = {theirs, moved}, .ndead = 2, .ns_counts = {1}, .nns = 1,
                   .npd = 1};
    td_expect_notes(notify, &e);
    td_expect_send_once(soport);
    td_world_settled();
    /* The port-destroyed request gave the child's port back to us, a receive right now. */
    MT_EQ(td_type(e.pd_got[0]), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(td_status(e.pd_got[0]).mps_msgcount, 0u);
    td_drop_recv(e.pd_got[0]);
    /* Each dead name: its send right's uref and the dead-name request's. */
    td_check_dead(theirs, 2);
    td_check_dead(moved, 2);
    MT_EQ(td_status(nsport).mps_srights, 0u);
    td_drop_recv(notify);
    td_drop_recv(nsport);
    td_drop_recv(soport);
    td_pair_close(&p);
}

MT_TEST(a_killed_clients_queued_message_is_destroyed_with_the_send_send_once_and_receive_rights_it_carries)
{
    td_pair p;
    mach_port_t notify, nsport, soport, moved;
    MT_REQUIRE(td_pair_open(&p, "queued", &notify, &nsport, &soport, &moved) == 0);
    MT_KR(mach_port_insert_right(TASK, moved, moved, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    p.kid = fork();
    MT_REQUIRE(p.kid >= 0);
    if (p.kid == 0) {
        td_kid_meet(&p, 0);
        td_kid_hear(&p); /* never receives what the parent queues */
        _exit(96);
    }
    mach_port_t theirs = td_meet(&p, notify);
    /* Two messages queued on the child's port: rights in the header and in descriptors. */
    mach_msg_port_descriptor_t d[3] = {td_desc(nsport, MACH_MSG_TYPE_MAKE_SEND),
                                       td_desc(moved, MACH_MSG_TYPE_MOVE_RECEIVE),
                                       td_desc(nsport, MACH_MSG_TYPE_MAKE_SEND)};
    MT_KR(td_send(theirs, MACH_MSG_TYPE_COPY_SEND, soport, MACH_MSG_TYPE_MAKE_SEND_ONCE, 3, d, 3,
                  0, 0),
          MACH_MSG_SUCCESS);
    MT_KR(td_send(theirs, MACH_MSG_TYPE_COPY_SEND, nsport, MACH_MSG_TYPE_MAKE_SEND, 4, NULL, 0, 0,
                  0),
          MACH_MSG_SUCCESS);
    MT_KR(td_arm(nsport, MACH_NOTIFY_NO_SENDERS, 0, notify), KERN_SUCCESS);
    MT_KR(td_arm(moved, MACH_NOTIFY_DEAD_NAME, 0, notify), KERN_SUCCESS);
    MT_EQ(td_status(nsport).mps_srights, 1u); /* XNU: whether any exist */
    MT_EQ(td_status(soport).mps_sorights, 1u);

    MT_CHECK(td_kill(&p));

    /* No-senders once, when the last of the three send rights went (make-send count 3). */
    td_expect e = {.dead_names = {theirs, moved}, .ndead = 2, .ns_counts = {3}, .nns = 1};
    td_expect_notes(notify, &e);
    td_expect_send_once(soport);
    td_world_settled();
    td_check_dead(theirs, 2);
    td_check_dead(moved, 2);
    td_drop_recv(notify);
    td_drop_recv(nsport);
    td_drop_recv(soport);
    td_pair_close(&p);
}

MT_TEST(a_client_killed_while_blocked_in_send_on_a_full_queue_leaves_only_the_queued_message)
{
    td_pair p;
    mach_port_t server, notify, nsport;
    MT_REQUIRE(td_pair_open(&p, "fullq", &server, &notify, &nsport) == 0);
    MT_KR(td_qlimit(server, 1), KERN_SUCCESS);
    p.kid = fork();
    MT_REQUIRE(p.kid >= 0);
    if (p.kid == 0) {
        mach_port_t mine = td_kid_meet(&p, 0);
        td_buf b; /* the server's send right and a send right to nsport */
        if (td_recv(mine, &b, TD_WAIT_MS) != MACH_MSG_SUCCESS || b.m.tag != 5)
            _exit(94);
        mach_port_t srv = b.m.d[0].name, ns = b.m.d[1].name;
        mach_msg_port_descriptor_t d[1] = {td_desc(ns, MACH_MSG_TYPE_COPY_SEND)};
        /* The first fills the queue; the second blocks until the child is killed. */
        if (td_send(srv, MACH_MSG_TYPE_COPY_SEND, mine, MACH_MSG_TYPE_MAKE_SEND_ONCE, 6, d, 1, 0,
                    0) != MACH_MSG_SUCCESS)
            _exit(95);
        td_kid_say(&p, 'r');
        td_send(srv, MACH_MSG_TYPE_COPY_SEND, mine, MACH_MSG_TYPE_MAKE_SEND_ONCE, 7, d, 1, 0, 0);
        _exit(97);
    }
    mach_port_t theirs = td_meet(&p, notify);
    mach_msg_port_descriptor_t d[2] = {td_desc(server, MACH_MSG_TYPE_MAKE_SEND),
                                       td_desc(nsport, MACH_MSG_TYPE_MAKE_SEND)};
    MT_KR(td_send(theirs, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 5, d, 2, 0, 0),
          MACH_MSG_SUCCESS);
    MT_EQ(td_hear(&p), 'r');
    /* The second send waits in the daemon: the queue is full. */
    MT_EQ(w_waiting_is(td_observer_fd, 1), 0);
    MT_EQ(td_status(server).mps_msgcount, 1u);

    MT_CHECK(td_kill(&p));

    td_expect e = {.dead_names = {theirs}, .ndead = 1};
    td_expect_notes(notify, &e);
    td_world_settled();
    /* The blocked message was destroyed with its rights; the queued one is whole. */
    MT_EQ(td_status(server).mps_msgcount, 1u);
    MT_EQ(td_status(nsport).mps_srights, 1u);
    td_buf b;
    MT_KR(td_recv(server, &b, 0), MACH_MSG_SUCCESS);
    MT_EQ(b.m.tag, 6);
    MT_EQ(b.m.d[0].name, nsport); /* our own port: the send right joins our receive right */
    /* Its reply right is a send-once right to a dead port: a dead name. */
    MT_EQ(MACH_MSGH_BITS_REMOTE(b.m.h.msgh_bits), (unsigned)MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(b.m.h.msgh_remote_port, (mach_port_t)MACH_PORT_DEAD);
    MT_KR(td_recv(server, &b, 0), MACH_RCV_TIMED_OUT);
    /* Releasing the one send right that came through fires no-senders (make-send count 1). */
    MT_KR(td_arm(nsport, MACH_NOTIFY_NO_SENDERS, 0, notify), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, nsport), KERN_SUCCESS);
    td_expect e2 = {.ns_counts = {1}, .nns = 1};
    td_expect_notes(notify, &e2);
    td_check_dead(theirs, 2);
    td_drop_recv(notify);
    td_drop_recv(nsport);
    td_drop_recv(server);
    td_pair_close(&p);
}

MT_TEST(a_server_killed_while_blocked_in_receive_becomes_a_dead_name_and_sends_to_it_fail)
{
    td_pair p;
    mach_port_t notify;
    MT_REQUIRE(td_pair_open(&p, "rcvblock", &notify) == 0);
    p.kid = fork();
    MT_REQUIRE(p.kid >= 0);
    if (p.kid == 0) {
        mach_port_t mine = td_kid_meet(&p, 0);
        td_buf b;
        mach_msg(&b.m.h, MACH_RCV_MSG, 0, sizeof b, mine, 0, MACH_PORT_NULL); /* killed here */
        _exit(98);
    }
    mach_port_t theirs = td_meet(&p, notify);
    MT_EQ(w_waiting_is(td_observer_fd, 1), 0); /* the child's receive waits in the daemon */

    MT_CHECK(td_kill(&p));

    td_expect e = {.dead_names = {theirs}, .ndead = 1};
    td_expect_notes(notify, &e);
    td_world_settled();
    MT_KR(td_send(theirs, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 8, NULL, 0, 0, 0),
          MACH_SEND_INVALID_DEST);
    td_check_dead(theirs, 2);
    td_drop_recv(notify);
    td_pair_close(&p);
}

/* ---- a killed server ------------------------------------------------------------------------ */

MT_TEST(a_killed_server_destroys_the_requests_queued_to_it_and_returns_their_rights)
{
    td_pair p;
    mach_port_t notify, nsport, reply, moved;
    MT_REQUIRE(td_pair_open(&p, "srvqueue", &notify, &nsport, &reply, &moved) == 0);
    MT_KR(td_arm(moved, MACH_NOTIFY_PORT_DESTROYED, 0, notify), KERN_SUCCESS);
    p.kid = fork();
    MT_REQUIRE(p.kid >= 0);
    if (p.kid == 0) {
        td_kid_meet(&p, 0);
        td_kid_hear(&p);
        _exit(96);
    }
    mach_port_t svc = td_meet(&p, notify);
    /* A request the server never takes: a reply right, a send right, a receive right. */
    mach_msg_port_descriptor_t d[2] = {td_desc(nsport, MACH_MSG_TYPE_MAKE_SEND),
                                       td_desc(moved, MACH_MSG_TYPE_MOVE_RECEIVE)};
    MT_KR(td_send(svc, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 9, d, 2, 0,
                  0),
          MACH_MSG_SUCCESS);
    MT_KR(td_arm(nsport, MACH_NOTIFY_NO_SENDERS, 0, notify), KERN_SUCCESS);
    MT_EQ(td_type(moved), 0u); /* the receive right is in the message */

    MT_CHECK(td_kill(&p));

    td_expect e = {.dead_names = {svc}, .ndead = 1, .ns_counts = {1}, .nns = 1, .npd = 1};
    td_expect_notes(notify, &e);
    td_expect_send_once(reply);
    td_world_settled();
    /* The port-destroyed request brought our receive right back. */
    MT_EQ(td_type(e.pd_got[0]), MACH_PORT_TYPE_RECEIVE);
    td_drop_recv(e.pd_got[0]);
    td_check_dead(svc, 2);
    td_drop_recv(notify);
    td_drop_recv(nsport);
    td_drop_recv(reply);
    td_pair_close(&p);
}

typedef struct {
    td_pair *p;
    int observer;
    mach_port_t svc, reply;
    mach_msg_return_t mr;
    td_buf b;
    int stage; /* 0 RPC with the reply pending, 1 send blocked on a full queue */
} td_rpc;

/* Kill the server once it has the request and our call waits in the daemon. */
static void *td_killer(void *arg)
{
    td_rpc *r = arg;
    if (td_hear(r->p) != 'g')
        return (void *)1;
    if (w_waiting_is(r->observer, 1) != 0)
        return (void *)2;
    return td_kill(r->p) ? NULL : (void *)3;
}

MT_TEST(a_server_killed_mid_rpc_wakes_its_client_with_the_reply_rights_send_once_notification)
{
    td_pair p;
    mach_port_t notify, nsport, reply;
    MT_REQUIRE(td_pair_open(&p, "midrpc", &notify, &nsport, &reply) == 0);
    p.kid = fork();
    MT_REQUIRE(p.kid >= 0);
    if (p.kid == 0) {
        mach_port_t service = td_kid_meet(&p, 0);
        td_buf b; /* the request: its reply right and a send right stay in our space */
        if (td_recv(service, &b, TD_WAIT_MS) != MACH_MSG_SUCCESS || b.m.tag != 10)
            _exit(94);
        td_kid_say(&p, 'g');
        td_kid_hear(&p);
        _exit(96);
    }
    mach_port_t svc = td_meet(&p, notify);

    td_rpc r = {.p = &p, .observer = td_observer_fd, .svc = svc, .reply = reply};
    pthread_t killer;
    MT_REQUIRE(pthread_create(&killer, NULL, td_killer, &r) == 0);
    /* The RPC: send the request, wait for the reply on `reply` in one call. */
    td_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0,
                                       MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = svc;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = 1010;
    m.body.msgh_descriptor_count = 1;
    m.d[0] = td_desc(nsport, MACH_MSG_TYPE_MAKE_SEND);
    m.tag = 10;
    td_buf *b = &r.b;
    memcpy(b, &m, sizeof m);
    mach_msg_return_t mr = mach_msg(&b->m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof m, sizeof *b,
                                    reply, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    void *kres = (void *)-1;
    MT_EQ(pthread_join(killer, &kres), 0);
    MT_EQ(kres, NULL);
    /* XNU: the server's death destroys the reply right, whose notification is our reply. */
    MT_KR(mr, MACH_MSG_SUCCESS);
    TD_CHECK_NOTE(b, reply, MACH_NOTIFY_SEND_ONCE, sizeof b->so - sizeof b->so.trailer);
    MT_EQ(td_status(reply).mps_sorights, 0u);
    MT_EQ(td_status(reply).mps_msgcount, 0u);
    MT_KR(mach_port_request_notification(TASK, nsport, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &(mach_port_t){0}),
          KERN_SUCCESS);
    /* The send right the server held is gone with it: no-senders fired at once on arming. */
    td_expect e = {.dead_names = {svc}, .ndead = 1, .ns_counts = {1}, .nns = 1};
    td_expect_notes(notify, &e);
    td_world_settled();
    td_check_dead(svc, 2);
    td_drop_recv(notify);
    td_drop_recv(nsport);
    td_drop_recv(reply);
    td_pair_close(&p);
}

/* The client's second send, which blocks on the server's full queue. */
static void *td_blocked_sender(void *arg)
{
    td_rpc *r = arg;
    r->mr = td_send(r->svc, MACH_MSG_TYPE_COPY_SEND, r->reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 12,
                    NULL, 0, 0, 0);
    return NULL;
}

MT_TEST(a_server_killed_while_a_client_is_blocked_sending_to_its_full_queue_completes_that_send)
{
    td_pair p;
    mach_port_t notify, nsport, reply;
    MT_REQUIRE(td_pair_open(&p, "srvfull", &notify, &nsport, &reply) == 0);
    p.kid = fork();
    MT_REQUIRE(p.kid >= 0);
    if (p.kid == 0) {
        td_kid_meet(&p, 1);
        td_kid_hear(&p);
        _exit(96);
    }
    mach_port_t svc = td_meet(&p, notify);
    mach_msg_port_descriptor_t d[1] = {td_desc(nsport, MACH_MSG_TYPE_MAKE_SEND)};
    MT_KR(td_send(svc, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, 11, d, 1, 0, 0),
          MACH_MSG_SUCCESS);
    MT_KR(td_arm(nsport, MACH_NOTIFY_NO_SENDERS, 0, notify), KERN_SUCCESS);
    td_rpc r = {.p = &p, .svc = svc, .reply = reply, .mr = (mach_msg_return_t)-1};
    pthread_t sender;
    MT_REQUIRE(pthread_create(&sender, NULL, td_blocked_sender, &r) == 0);
    MT_EQ(w_waiting_is(td_observer_fd, 1), 0); /* blocked: the queue holds one, its limit */

    MT_CHECK(td_kill(&p));

    MT_EQ(pthread_join(sender, NULL), 0);
    /* XNU ipc_kmsg_send: the blocked sender is woken when the port dies; its message was
     * taken and is destroyed, so the send succeeds and its reply right notifies. */
    MT_KR(r.mr, MACH_MSG_SUCCESS);
    td_expect_send_once(reply);
    td_expect e = {.dead_names = {svc}, .ndead = 1, .ns_counts = {1}, .nns = 1};
    td_expect_notes(notify, &e);
    td_world_settled();
    td_check_dead(svc, 2);
    td_drop_recv(notify);
    td_drop_recv(nsport);
    td_drop_recv(reply);
    td_pair_close(&p);
}

MT_TEST(the_world_keeps_nothing_of_the_killed_tasks)
{
    /* After all of the above: no child task, no waiting call, and no connection but ours
     * (this process's control and thread connections and the observer's). */
    td_world_settled();
    w_stats_all st;
    MT_REQUIRE(w_stats4(td_observer_fd, &st) == 0);
    MT_EQ(st.tasks, td_base_tasks);
    MT_EQ(st.conns, td_base_conns);
}

static void td_setup(void)
{
    td_observer_fd = w_observer(NULL);
    w_stats_all st;
    if (td_observer_fd < 0 || w_stats4(td_observer_fd, &st) != 0) {
        fprintf(stderr, "task_death: cannot observe the world (run it under umach-run)\n");
        exit(1);
    }
    td_base_tasks = st.tasks; /* this process and the observer */
    td_base_conns = st.conns + 1; /* and the thread connection of our first call */
}

int main(int argc, char **argv)
{
    (void)argc;
    td_setup();
    return mt_run_all(argv[0]);
}
