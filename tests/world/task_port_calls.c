/*
 * task_port_calls.c — runs inside a world (ctest: umach-run -- world_task_port_calls): a
 * mach_port_* call whose task argument is another task's task port, received in a message,
 * acts on that task's space, as XNU serves it. The test process hands its task port to a
 * forked task, which allocates a port in the test's space, reads it back (type, names, refs,
 * context), extracts a send right to it into its own space and sends through it, guards it,
 * then breaks the guard: the guard exception is the caller's (the forked task aborts), not the
 * space owner's. Another task's task port is a plain send right (its last uref can go; only a
 * task's own is pinned). vm calls on another task stay refused (MACH_SEND_INVALID_DEST), and
 * a task port whose task has ended names no space. task_threads on another task's port is not
 * served (KERN_NOT_SUPPORTED: its threads are its process's).
 * Each test forks its peer through tp_peer_start (its bootstrap slot our port, w_fork_with),
 * which lends us its task port; the later tests turn the first round: we make the calls on the
 * peer's task port, then tell it to check their effect from inside;
 * the last sends the MIG requests by hand with mach_msg, which the kernel serves on that task.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <mach/mig_errors.h>
#include <mach/ndr.h>
#include <mach/notify.h>
#include <servers/bootstrap.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TASK mach_task_self()

/* One right in a port descriptor and one name in line (ids below say which). */
typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
    mach_port_name_t name;
} tp_msg;

typedef union {
    tp_msg m;
    uint8_t bytes[256];
} tp_buf;

enum {
    TP_HELLO = 100,    /* caller -> test: its task port, a reply right to its port */
    TP_TASK_PORT = 200, /* test -> caller: the test's task port */
    TP_NAME = 300,     /* caller -> test: the name it allocated in the test's space */
    TP_THROUGH = 301,  /* caller -> that port, through the send right it extracted */
    TP_STASH = 400,    /* caller -> itself: the test's task port, kept in a message */
    TP_GO = 500,       /* test -> a peer: do your part now */
    TP_VIA_SLOT = 501, /* a peer -> the port its bootstrap slot holds */
    TP_QUEUED = 502,   /* test -> its port, queued before its receive right moves */
    TP_VIA_NAME = 503, /* a peer -> through a right we named in its space */
    TP_TOUCHED = 504,  /* a peer -> its bootstrap port: it touched its memory */
};

/* A notification's message (large enough for each kind's body). */
static mach_msg_return_t tp_receive_notification(mach_port_t port, mach_msg_id_t *id,
                                                 mach_port_name_t *named)
{
    union {
        mach_dead_name_notification_t dead;
        mach_no_senders_notification_t nosenders;
        uint8_t bytes[256];
    } u;
    memset(&u, 0, sizeof u);
    mach_msg_return_t mr = mach_msg(&u.dead.not_header, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0,
                                    sizeof u, port, 10000, MACH_PORT_NULL);
    *id = u.dead.not_header.msgh_id;
    *named = u.dead.not_port; /* the dead name, or a no-senders' make-send count */
    return mr;
}

/* Names we choose in a peer's space (mach_port_insert_right). */
enum { TP_N_SEND = 0x2103, TP_N_RECV = 0x2203, TP_N_OTHER = 0x2303 };

#define TP_GUARD 0x99u

static mach_msg_return_t tp_send(mach_port_t to, mach_msg_type_name_t to_disp, mach_port_t reply,
                                 mach_msg_type_name_t reply_disp, mach_msg_id_t id,
                                 mach_port_t right, mach_msg_type_name_t right_disp,
                                 mach_port_name_t name)
{
    tp_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(to_disp, reply_disp, 0, MACH_MSGH_BITS_COMPLEX);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = to;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = id;
    m.body.msgh_descriptor_count = 1;
    m.port.name = right;
    m.port.disposition = right_disp;
    m.port.type = MACH_MSG_PORT_DESCRIPTOR;
    m.name = name;
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 10000,
                    MACH_PORT_NULL);
}

static mach_msg_return_t tp_receive(mach_port_t port, tp_buf *b)
{
    memset(b, 0, sizeof *b);
    return mach_msg(&b->m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *b, port, 10000,
                    MACH_PORT_NULL);
}

/* Does the space of `task` list `name` with a receive right? */
static int tp_names_has_receive(mach_port_t task, mach_port_name_t name)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    if (mach_port_names(task, &names, &nn, &types, &nt) != KERN_SUCCESS)
        return 0;
    int found = 0;
    for (mach_msg_type_number_t i = 0; i < nn; i++)
        if (names[i] == name && (types[i] & MACH_PORT_TYPE_RECEIVE))
            found = 1;
    (void)vm_deallocate(TASK, (vm_address_t)names, nn * sizeof *names);
    (void)vm_deallocate(TASK, (vm_address_t)types, nt * sizeof *types);
    return found;
}

/* ---- the peer: a forked task that lends the test its task port ---------------------------- */

/* What a peer does once it said hello: its exit status (0: all went well). */
typedef int (*tp_role)(mach_port_t mine);

typedef struct {
    pid_t pid;
    mach_port_t home;   /* our port it says hello to (its bootstrap slot), receive + send */
    mach_port_t task;   /* a send right to its task port */
    mach_port_t port;   /* a send right to its own port `mine` */
    mach_port_t notify; /* ours, told when its task ends */
} tp_peer;

/*
 * Fork a peer that runs `role`: its bootstrap slot is our port (w_fork_with), through which it
 * sends us a copy of its task port and a send right to its own port. 0, or -1.
 */
static int tp_peer_start(tp_peer *p, tp_role role)
{
    memset(p, 0, sizeof *p);
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p->home) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, p->home, p->home, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS ||
        mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p->notify) != KERN_SUCCESS)
        return -1;
    p->pid = w_fork_with(p->home);
    if (p->pid < 0)
        return -1;
    if (p->pid == 0) {
        mach_port_t mine = MACH_PORT_NULL;
        if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &mine) != KERN_SUCCESS ||
            tp_send(bootstrap_port, MACH_MSG_TYPE_COPY_SEND, mine, MACH_MSG_TYPE_MAKE_SEND,
                    TP_HELLO, TASK, MACH_MSG_TYPE_COPY_SEND, 0) != MACH_MSG_SUCCESS)
            _exit(90);
        _exit(role(mine));
    }
    tp_buf b;
    if (tp_receive(p->home, &b) != MACH_MSG_SUCCESS || b.m.h.msgh_id != TP_HELLO)
        return -1;
    p->task = b.m.port.name;
    p->port = b.m.h.msgh_remote_port;
    mach_port_t previous = MACH_PORT_NULL;
    return mach_port_request_notification(TASK, p->task, MACH_NOTIFY_DEAD_NAME, 0, p->notify,
                                          MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous) ==
                   KERN_SUCCESS
               ? 0
               : -1;
}

/* Tell the peer to go on (a plain message to its port). */
static mach_msg_return_t tp_peer_go(const tp_peer *p)
{
    return tp_send(p->port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, TP_GO, MACH_PORT_NULL,
                   MACH_MSG_TYPE_COPY_SEND, 0);
}

/* The peer's side of tp_peer_go: true once told to go on. */
static bool tp_told_to_go(mach_port_t mine)
{
    tp_buf b;
    return tp_receive(mine, &b) == MACH_MSG_SUCCESS && b.m.h.msgh_id == TP_GO;
}

/* Wait for the peer to exit and for the world to end its task: its exit status, or -1. */
static int tp_peer_end(const tp_peer *p)
{
    int status = w_wait_status(p->pid);
    tp_buf b;
    if (tp_receive(p->notify, &b) != MACH_MSG_SUCCESS || b.m.h.msgh_id != MACH_NOTIFY_DEAD_NAME)
        return -1;
    return status;
}

/* Release every uref of a dead name. */
static void tp_drop_dead(mach_port_name_t name)
{
    mach_port_urefs_t refs = 0;
    if (mach_port_get_refs(TASK, name, MACH_PORT_RIGHT_DEAD_NAME, &refs) == KERN_SUCCESS && refs)
        (void)mach_port_mod_refs(TASK, name, MACH_PORT_RIGHT_DEAD_NAME, -(mach_port_delta_t)refs);
}

/* After tp_peer_end: what the peer left in our space goes. */
static void tp_peer_free(tp_peer *p)
{
    tp_drop_dead(p->task);
    tp_drop_dead(p->port);
    (void)mach_port_mod_refs(TASK, p->notify, MACH_PORT_RIGHT_RECEIVE, -1);
    (void)mach_port_mod_refs(TASK, p->home, MACH_PORT_RIGHT_RECEIVE, -1);
    (void)mach_port_deallocate(TASK, p->home);
}

/* A new port of ours with one send right beside its receive right. */
static mach_port_t tp_port(void)
{
    mach_port_t q = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &q) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, q, q, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return q;
}

static mach_port_urefs_t tp_refs(mach_port_name_t name, mach_port_right_t right)
{
    mach_port_urefs_t refs = 0;
    return mach_port_get_refs(TASK, name, right, &refs) == KERN_SUCCESS ? refs : 9999;
}

/* The peer that calls on our space, told of it through its bootstrap slot (our port): its
 * exit status says which step failed; a good run ends in abort(). */
static int tp_caller(mach_port_t mine)
{
    tp_buf b;
    if (tp_receive(mine, &b) != MACH_MSG_SUCCESS || b.m.h.msgh_id != TP_TASK_PORT)
        return 13;
    mach_port_t them = b.m.port.name; /* the test's task port */

    mach_port_name_t n = MACH_PORT_NULL;
    if (mach_port_allocate(them, MACH_PORT_RIGHT_RECEIVE, &n) != KERN_SUCCESS)
        return 20;
    mach_port_type_t type = 0;
    if (mach_port_type(them, n, &type) != KERN_SUCCESS || type != MACH_PORT_TYPE_RECEIVE)
        return 21;
    if (!tp_names_has_receive(them, n))
        return 23;
    mach_port_urefs_t refs = 99;
    if (mach_port_get_refs(them, n, MACH_PORT_RIGHT_RECEIVE, &refs) != KERN_SUCCESS || refs != 1)
        return 25;
    mach_port_t through = MACH_PORT_NULL;
    mach_msg_type_name_t disp = 0;
    if (mach_port_extract_right(them, n, MACH_MSG_TYPE_MAKE_SEND, &through, &disp) !=
            KERN_SUCCESS ||
        disp != MACH_MSG_TYPE_PORT_SEND)
        return 26;
    if (mach_port_get_refs(TASK, through, MACH_PORT_RIGHT_SEND, &refs) != KERN_SUCCESS ||
        refs != 1)
        return 27; /* the extracted right is in our space */

    /* A right from our space into theirs: their space names its port already (n). */
    if (mach_port_insert_right(them, 0x3303, through, MACH_MSG_TYPE_COPY_SEND) !=
        KERN_RIGHT_EXISTS)
        return 30;
    /* Refused on another task: their memory. */
    mach_vm_address_t a = 0;
    if (mach_vm_allocate(them, &a, vm_page_size, VM_FLAGS_ANYWHERE) != MACH_SEND_INVALID_DEST)
        return 31;

    if (tp_send(bootstrap_port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, TP_NAME, MACH_PORT_NULL,
                MACH_MSG_TYPE_COPY_SEND, n) != MACH_MSG_SUCCESS ||
        tp_send(through, MACH_MSG_TYPE_MOVE_SEND, MACH_PORT_NULL, 0, TP_THROUGH, MACH_PORT_NULL,
                MACH_MSG_TYPE_COPY_SEND, 0) != MACH_MSG_SUCCESS)
        return 32;

    /* Another task's task port is a plain send right here: its last uref can be released
     * (kept meanwhile in a message queued on our own port, then taken back). */
    if (tp_send(mine, MACH_MSG_TYPE_MAKE_SEND, MACH_PORT_NULL, 0, TP_STASH, them,
                MACH_MSG_TYPE_COPY_SEND, 0) != MACH_MSG_SUCCESS)
        return 33;
    if (mach_port_deallocate(TASK, them) != KERN_SUCCESS)
        return 34;
    if (tp_receive(mine, &b) != MACH_MSG_SUCCESS || b.m.h.msgh_id != TP_STASH)
        return 35;
    them = b.m.port.name;

    if (mach_port_guard(them, n, TP_GUARD, TRUE) != KERN_SUCCESS)
        return 40;
    /* The wrong guard: a fatal guard exception, ours as the caller's. */
    (void)mach_port_destruct(them, n, 0, TP_GUARD + 1);
    return 41;
}

MT_TEST(calls_on_another_tasks_port_act_on_its_space_and_its_guard_exceptions_are_the_callers)
{
    tp_peer p;
    MT_REQUIRE(tp_peer_start(&p, tp_caller) == 0);
    /* Our task port, COPY_SEND: the caller may now act on our space. */
    MT_KR(tp_send(p.port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, TP_TASK_PORT, TASK,
                  MACH_MSG_TYPE_COPY_SEND, 0),
          MACH_MSG_SUCCESS);

    /* The name it made is ours: a receive right, and the message it sent through it came. */
    tp_buf b;
    MT_KR(tp_receive(p.home, &b), MACH_MSG_SUCCESS);
    MT_EQ(b.m.h.msgh_id, TP_NAME);
    mach_port_name_t n = b.m.name;
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, n, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_RECEIVE);
    MT_KR(tp_receive(n, &b), MACH_MSG_SUCCESS);
    MT_EQ(b.m.h.msgh_id, TP_THROUGH);

    /* The broken guard killed the caller, not us (an exit status under 128 names the failed
     * step), and its task ended; the guard it set is on our port. */
    MT_EQ(tp_peer_end(&p), 128 + SIGABRT);
    MT_KR(mach_port_destruct(TASK, n, 0, TP_GUARD), KERN_SUCCESS);

    /* Its task is gone: its task port is a dead name and names no space. */
    mach_port_name_t x = 0x5678;
    MT_KR(mach_port_allocate(p.task, MACH_PORT_RIGHT_RECEIVE, &x), MACH_SEND_INVALID_DEST);
    MT_EQ(x, 0x5678u);
    MT_KR(mach_port_type(TASK, p.task, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_DEAD_NAME);
    tp_peer_free(&p);
}

/* ---- calls on a peer's task port -------------------------------------------------------- */

/* The peer sends one message to the port its bootstrap slot holds when told to. */
static int tp_role_uses_its_slot(mach_port_t mine)
{
    if (!tp_told_to_go(mine))
        return 50;
    mach_port_t slot = MACH_PORT_NULL;
    if (task_get_bootstrap_port(TASK, &slot) != KERN_SUCCESS || !MACH_PORT_VALID(slot))
        return 51;
    if (tp_send(slot, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, TP_VIA_SLOT, MACH_PORT_NULL,
                MACH_MSG_TYPE_COPY_SEND, 0) != MACH_MSG_SUCCESS)
        return 52;
    return 0;
}

MT_TEST(task_special_ports_on_another_tasks_port_are_that_tasks_slots)
{
    mach_msg_type_number_t names = w_name_count();
    tp_peer p;
    MT_REQUIRE(tp_peer_start(&p, tp_role_uses_its_slot) == 0);

    /* Its bootstrap slot holds our port (fork passed it on): a copy comes to our name. */
    mach_port_urefs_t home_refs = tp_refs(p.home, MACH_PORT_RIGHT_SEND);
    mach_port_t got = MACH_PORT_NULL;
    MT_KR(task_get_bootstrap_port(p.task, &got), KERN_SUCCESS);
    MT_EQ(got, p.home);
    MT_EQ(tp_refs(p.home, MACH_PORT_RIGHT_SEND), home_refs + 1);
    MT_KR(mach_port_deallocate(TASK, got), KERN_SUCCESS);
    /* Its task port is its own, our name for it: one more uref. */
    MT_KR(task_get_special_port(p.task, TASK_KERNEL_PORT, &got), KERN_SUCCESS);
    MT_EQ(got, p.task);
    MT_EQ(tp_refs(p.task, MACH_PORT_RIGHT_SEND), 2u);
    MT_KR(mach_port_deallocate(TASK, got), KERN_SUCCESS);
    got = 0x1234;
    MT_KR(task_get_special_port(p.task, TASK_DEBUG_CONTROL_PORT, &got), KERN_SUCCESS);
    MT_EQ(got, MACH_PORT_NULL);
    MT_KR(task_get_special_port(p.task, TASK_NAME_PORT, &got), KERN_INVALID_ARGUMENT);
    MT_KR(task_get_special_port(p.task, 99, &got), KERN_INVALID_ARGUMENT);
    /* Its host port is the world's, ours. */
    mach_port_t host = mach_host_self();
    MT_KR(task_get_special_port(p.task, TASK_HOST_PORT, &got), KERN_SUCCESS);
    MT_EQ(got, host);
    MT_KR(mach_port_deallocate(TASK, got), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);

    /* Set: its slot takes a copy of our send right; ours stays, our own slots do not move. */
    mach_port_t q = tp_port();
    MT_REQUIRE(MACH_PORT_VALID(q));
    MT_KR(task_set_bootstrap_port(p.task, q), KERN_SUCCESS);
    MT_EQ(tp_refs(q, MACH_PORT_RIGHT_SEND), 1u);
    MT_KR(task_get_bootstrap_port(p.task, &got), KERN_SUCCESS);
    MT_EQ(got, q);
    MT_KR(mach_port_deallocate(TASK, got), KERN_SUCCESS);
    MT_KR(task_get_bootstrap_port(TASK, &got), KERN_SUCCESS);
    MT_NE(got, q);
    if (MACH_PORT_VALID(got))
        MT_KR(mach_port_deallocate(TASK, got), KERN_SUCCESS);
    MT_KR(task_set_special_port(p.task, TASK_KERNEL_PORT, q), KERN_NO_ACCESS);
    MT_KR(task_set_special_port(p.task, TASK_HOST_PORT, q), KERN_NO_ACCESS);
    MT_KR(task_set_special_port(p.task, TASK_NAME_PORT, q), KERN_INVALID_ARGUMENT);
    MT_KR(task_set_special_port(p.task, TASK_ACCESS_PORT, q), KERN_SUCCESS);
    MT_KR(task_set_special_port(p.task, TASK_ACCESS_PORT, p.home), KERN_NO_ACCESS);
    MT_EQ(tp_refs(q, MACH_PORT_RIGHT_SEND), 1u);

    /* The peer finds our port in its slot and sends through it. */
    MT_KR(tp_peer_go(&p), MACH_MSG_SUCCESS);
    tp_buf b;
    MT_KR(tp_receive(q, &b), MACH_MSG_SUCCESS);
    MT_EQ(b.m.h.msgh_id, TP_VIA_SLOT);
    MT_EQ(tp_peer_end(&p), 0);

    /* Its task ended: its port is a dead name, the calls' XNU answer MACH_SEND_INVALID_DEST. */
    MT_KR(task_get_bootstrap_port(p.task, &got), MACH_SEND_INVALID_DEST);
    MT_KR(task_set_bootstrap_port(p.task, q), MACH_SEND_INVALID_DEST);
    MT_EQ(tp_refs(q, MACH_PORT_RIGHT_SEND), 1u); /* its slots' copies went with it */
    MT_KR(mach_port_destroy(TASK, q), KERN_SUCCESS);
    tp_peer_free(&p);
    MT_EQ(w_name_count(), names);
}

/* The peer finds the rights we named in its space, then uses them. */
static int tp_role_finds_inserted_rights(mach_port_t mine)
{
    tp_buf b;
    if (!tp_told_to_go(mine))
        return 60;
    mach_port_type_t type = 0;
    if (mach_port_type(TASK, TP_N_SEND, &type) != KERN_SUCCESS || type != MACH_PORT_TYPE_SEND)
        return 61;
    if (mach_port_type(TASK, TP_N_RECV, &type) != KERN_SUCCESS || type != MACH_PORT_TYPE_RECEIVE)
        return 62;
    if (mach_port_type(TASK, TP_N_OTHER, &type) != KERN_INVALID_NAME)
        return 63;
    /* The message queued before the receive right moved came with it. */
    if (tp_receive(TP_N_RECV, &b) != MACH_MSG_SUCCESS || b.m.h.msgh_id != TP_QUEUED)
        return 64;
    if (tp_send(TP_N_SEND, MACH_MSG_TYPE_MOVE_SEND, MACH_PORT_NULL, 0, TP_VIA_NAME,
                MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND, 0) != MACH_MSG_SUCCESS)
        return 65;
    return 0;
}

MT_TEST(insert_right_on_another_tasks_port_names_the_callers_right_in_that_tasks_space)
{
    mach_msg_type_number_t names = w_name_count();
    tp_peer p;
    MT_REQUIRE(tp_peer_start(&p, tp_role_finds_inserted_rights) == 0);
    mach_port_t q = tp_port(), r = tp_port(), s = tp_port(), plain = MACH_PORT_NULL;
    MT_REQUIRE(MACH_PORT_VALID(q) && MACH_PORT_VALID(r) && MACH_PORT_VALID(s));
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &plain), KERN_SUCCESS);

    /* A send right made from our receive right, then a copy of ours under the same name (the
     * request's descriptor holds the disposition's low byte, as Darwin's MIG stub stores it). */
    MT_KR(mach_port_insert_right(p.task, TP_N_SEND, q, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(p.task, TP_N_SEND, q, 0x100 | MACH_MSG_TYPE_COPY_SEND),
          KERN_SUCCESS);
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(p.task, TP_N_SEND, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
    MT_EQ(refs, 2u);
    MT_EQ(tp_refs(q, MACH_PORT_RIGHT_SEND), 1u); /* ours stays */

    /* XNU's codes; the right the request carried goes with a failed call. */
    MT_KR(mach_port_insert_right(p.task, TP_N_OTHER, q, MACH_MSG_TYPE_COPY_SEND),
          KERN_RIGHT_EXISTS);
    MT_KR(mach_port_insert_right(p.task, TP_N_SEND, r, MACH_MSG_TYPE_MAKE_SEND), KERN_NAME_EXISTS);
    MT_KR(mach_port_insert_right(p.task, MACH_PORT_NULL, r, MACH_MSG_TYPE_MAKE_SEND),
          KERN_INVALID_VALUE);
    MT_KR(mach_port_insert_right(p.task, MACH_PORT_DEAD, r, MACH_MSG_TYPE_COPY_SEND),
          KERN_INVALID_VALUE);
    MT_KR(mach_port_insert_right(p.task, TP_N_OTHER, MACH_PORT_NULL, MACH_MSG_TYPE_MAKE_SEND),
          KERN_INVALID_CAPABILITY);
    MT_KR(mach_port_insert_right(p.task, TP_N_OTHER, MACH_PORT_DEAD, MACH_MSG_TYPE_COPY_SEND),
          KERN_INVALID_CAPABILITY);
    /* Our right cannot travel: the message's code, and their space is untouched. */
    MT_KR(mach_port_insert_right(p.task, TP_N_OTHER, plain, MACH_MSG_TYPE_COPY_SEND),
          MACH_SEND_INVALID_RIGHT);
    MT_KR(mach_port_insert_right(p.task, TP_N_OTHER, 0x7f7f7f03, MACH_MSG_TYPE_COPY_SEND),
          MACH_SEND_INVALID_RIGHT);
    MT_EQ(tp_refs(q, MACH_PORT_RIGHT_SEND), 1u);
    MT_EQ(tp_refs(r, MACH_PORT_RIGHT_SEND), 1u);
    /* A receive right moved under a taken name is destroyed: our send right to it is dead. */
    MT_KR(mach_port_insert_right(p.task, TP_N_SEND, s, MACH_MSG_TYPE_MOVE_RECEIVE),
          KERN_NAME_EXISTS);
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, s, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_DEAD_NAME);

    /* Our receive right moves to a free name, with the message queued on it. */
    MT_KR(tp_send(r, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, TP_QUEUED, MACH_PORT_NULL,
                  MACH_MSG_TYPE_COPY_SEND, 0),
          MACH_MSG_SUCCESS);
    MT_KR(mach_port_insert_right(p.task, TP_N_RECV, r, MACH_MSG_TYPE_MOVE_RECEIVE), KERN_SUCCESS);
    MT_KR(mach_port_type(TASK, r, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_SEND);

    MT_KR(tp_peer_go(&p), MACH_MSG_SUCCESS);
    tp_buf b;
    MT_KR(tp_receive(q, &b), MACH_MSG_SUCCESS);
    MT_EQ(b.m.h.msgh_id, TP_VIA_NAME);
    MT_EQ(tp_peer_end(&p), 0);

    /* Its task ended: MACH_SEND_INVALID_DEST, and our right stays ours. */
    MT_KR(mach_port_insert_right(p.task, TP_N_OTHER, q, MACH_MSG_TYPE_MOVE_SEND),
          MACH_SEND_INVALID_DEST);
    MT_EQ(tp_refs(q, MACH_PORT_RIGHT_SEND), 1u);
    MT_KR(mach_port_destroy(TASK, q), KERN_SUCCESS);
    tp_drop_dead(r); /* its receive right died with the peer */
    tp_drop_dead(s);
    MT_KR(mach_port_mod_refs(TASK, plain, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    tp_peer_free(&p);
    MT_EQ(w_name_count(), names);
}

/* The peer waits to be told to end. */
static int tp_role_waits(mach_port_t mine)
{
    return tp_told_to_go(mine) ? 0 : 70;
}

MT_TEST(request_notification_on_another_tasks_port_notifies_whom_the_caller_says)
{
    mach_msg_type_number_t names = w_name_count();
    tp_peer p;
    MT_REQUIRE(tp_peer_start(&p, tp_role_waits) == 0);
    mach_port_t nq = tp_port(), nq2 = tp_port(), d = tp_port(), x = tp_port();
    MT_REQUIRE(MACH_PORT_VALID(nq) && MACH_PORT_VALID(nq2) && MACH_PORT_VALID(d) &&
               MACH_PORT_VALID(x));
    /* A receive right of the peer's (made through its task port). */
    mach_port_name_t n = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(p.task, MACH_PORT_RIGHT_RECEIVE, &n), KERN_SUCCESS);

    /* No-senders on its port, to ours: armed, then fired when the only send right goes. */
    mach_port_t previous = 0x1234;
    MT_KR(mach_port_request_notification(p.task, n, MACH_NOTIFY_NO_SENDERS, 1, nq,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
          KERN_SUCCESS);
    MT_EQ(previous, MACH_PORT_NULL);
    /* Asked again with another port: the first request comes back to us, a send-once right. */
    MT_KR(mach_port_request_notification(p.task, n, MACH_NOTIFY_NO_SENDERS, 1, nq2,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
          KERN_SUCCESS);
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, previous, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, previous), KERN_SUCCESS); /* nq hears of it */
    mach_msg_id_t id = 0;
    mach_port_name_t named = 0;
    MT_KR(tp_receive_notification(nq, &id, &named), MACH_MSG_SUCCESS);
    MT_EQ(id, MACH_NOTIFY_SEND_ONCE);
    mach_port_t through = MACH_PORT_NULL;
    mach_msg_type_name_t disp = 0;
    MT_KR(mach_port_extract_right(p.task, n, MACH_MSG_TYPE_MAKE_SEND, &through, &disp),
          KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, through), KERN_SUCCESS);
    MT_KR(tp_receive_notification(nq2, &id, &named), MACH_MSG_SUCCESS);
    MT_EQ(id, MACH_NOTIFY_NO_SENDERS);
    MT_EQ(named, 1u); /* its make-send count */

    /* Dead-name on the peer's send right to our port: named as the peer names it. */
    MT_KR(mach_port_insert_right(p.task, TP_N_SEND, d, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(mach_port_request_notification(p.task, TP_N_SEND, MACH_NOTIFY_DEAD_NAME, 0, nq,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
          KERN_SUCCESS);
    MT_EQ(previous, MACH_PORT_NULL);
    MT_KR(mach_port_mod_refs(TASK, d, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(tp_receive_notification(nq, &id, &named), MACH_MSG_SUCCESS);
    MT_EQ(id, MACH_NOTIFY_DEAD_NAME);
    MT_EQ(named, (mach_port_name_t)TP_N_SEND);
    MT_KR(mach_port_type(p.task, TP_N_SEND, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_DEAD_NAME);

    /* XNU's codes. The routine's errors destroy the send-once right the request carried (nq
     * hears of it); a right that cannot travel is the message's error, and a right that is
     * not send-once MIG's type error, the request (and so our right) destroyed. */
    MT_KR(mach_port_request_notification(p.task, 0x4403, MACH_NOTIFY_DEAD_NAME, 0, nq,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
          KERN_INVALID_NAME);
    MT_KR(tp_receive_notification(nq, &id, &named), MACH_MSG_SUCCESS);
    MT_EQ(id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_request_notification(p.task, n, 0x999, 0, nq, MACH_MSG_TYPE_MAKE_SEND_ONCE,
                                         &previous),
          KERN_INVALID_VALUE);
    MT_KR(tp_receive_notification(nq, &id, &named), MACH_MSG_SUCCESS);
    MT_EQ(id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_request_notification(p.task, n, MACH_NOTIFY_NO_SENDERS, 0, MACH_PORT_DEAD,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
          KERN_INVALID_CAPABILITY);
    MT_KR(mach_port_request_notification(p.task, n, MACH_NOTIFY_NO_SENDERS, 0, 0x7f7f7f03,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
          MACH_SEND_INVALID_RIGHT);
    MT_EQ(tp_refs(x, MACH_PORT_RIGHT_SEND), 1u);
    MT_KR(mach_port_request_notification(p.task, n, MACH_NOTIFY_NO_SENDERS, 0, x,
                                         MACH_MSG_TYPE_MOVE_SEND, &previous),
          MIG_TYPE_ERROR);
    MT_EQ(tp_refs(x, MACH_PORT_RIGHT_SEND), 0u);
    MT_KR(mach_port_type(TASK, x, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_RECEIVE);

    MT_KR(tp_peer_go(&p), MACH_MSG_SUCCESS);
    MT_EQ(tp_peer_end(&p), 0);
    /* Its task ended: MACH_SEND_INVALID_DEST, and our send-once right stays ours. */
    mach_port_t so = MACH_PORT_NULL;
    MT_KR(mach_port_extract_right(TASK, nq, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &disp),
          KERN_SUCCESS);
    MT_KR(mach_port_request_notification(p.task, n, MACH_NOTIFY_NO_SENDERS, 0, so,
                                         MACH_MSG_TYPE_MOVE_SEND_ONCE, &previous),
          MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_type(TASK, so, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    MT_KR(tp_receive_notification(nq, &id, &named), MACH_MSG_SUCCESS);
    MT_EQ(id, MACH_NOTIFY_SEND_ONCE);
    MT_KR(mach_port_destroy(TASK, nq), KERN_SUCCESS);
    MT_KR(mach_port_destroy(TASK, nq2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, x, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    tp_drop_dead(d);
    tp_peer_free(&p);
    MT_EQ(w_name_count(), names);
}

#define TP_TOUCH (48u * 1024u * 1024u)

/* The peer touches fresh memory when told, says so, and ends when told again. */
static int tp_role_touches_memory(mach_port_t mine)
{
    if (!tp_told_to_go(mine))
        return 80;
    mach_vm_address_t a = 0;
    if (mach_vm_allocate(TASK, &a, TP_TOUCH, VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
        return 81;
    for (mach_vm_size_t at = 0; at < TP_TOUCH; at += 4096)
        ((volatile char *)(uintptr_t)a)[at] = 1;
    if (tp_send(bootstrap_port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, TP_TOUCHED,
                MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND, 0) != MACH_MSG_SUCCESS)
        return 82;
    if (!tp_told_to_go(mine))
        return 83;
    return 0;
}

/* task_info's `flavor` of `task` into `info`: 0, or -1 when it fails or answers another count. */
static int tp_task_info(mach_port_t task, task_flavor_t flavor, void *info,
                        mach_msg_type_number_t count)
{
    mach_msg_type_number_t cnt = count;
    return task_info(task, flavor, (task_info_t)info, &cnt) == KERN_SUCCESS && cnt == count ? 0
                                                                                           : -1;
}

static int tp_basic_info(mach_port_t task, mach_task_basic_info_data_t *info)
{
    return tp_task_info(task, MACH_TASK_BASIC_INFO, info, MACH_TASK_BASIC_INFO_COUNT);
}

MT_TEST(task_info_on_another_tasks_port_describes_that_task)
{
    mach_msg_type_number_t names = w_name_count();
    tp_peer p;
    MT_REQUIRE(tp_peer_start(&p, tp_role_touches_memory) == 0);

    /* Its tokens: its pid, not ours. */
    audit_token_t tok;
    mach_msg_type_number_t cnt = TASK_AUDIT_TOKEN_COUNT;
    MT_KR(task_info(p.task, TASK_AUDIT_TOKEN, (task_info_t)&tok, &cnt), KERN_SUCCESS);
    MT_EQ(cnt, TASK_AUDIT_TOKEN_COUNT);
    MT_EQ(tok.val[5], (unsigned)p.pid);
    security_token_t sec;
    cnt = TASK_SECURITY_TOKEN_COUNT;
    MT_KR(task_info(p.task, TASK_SECURITY_TOKEN, (task_info_t)&sec, &cnt), KERN_SUCCESS);
    MT_EQ(sec.val[0], (unsigned)getuid());

    /* Its memory: what it touches shows in its resident size; its message it sends, in its
     * count of messages sent (ours are not its). */
    task_events_info_data_t ev_before, ev_after;
    MT_REQUIRE(tp_task_info(p.task, TASK_EVENTS_INFO, &ev_before, TASK_EVENTS_INFO_COUNT) == 0);
    mach_task_basic_info_data_t before, after;
    MT_REQUIRE(tp_basic_info(p.task, &before) == 0);
    MT_CHECK(before.resident_size > 0 && before.virtual_size >= before.resident_size);
    MT_EQ(before.policy, POLICY_TIMESHARE);
    MT_EQ(before.suspend_count, 0);
    MT_KR(tp_peer_go(&p), MACH_MSG_SUCCESS);
    tp_buf b;
    MT_KR(tp_receive(p.home, &b), MACH_MSG_SUCCESS);
    MT_EQ(b.m.h.msgh_id, TP_TOUCHED);
    MT_REQUIRE(tp_basic_info(p.task, &after) == 0);
    MT_CHECK(after.resident_size >= before.resident_size + TP_TOUCH / 2);
    MT_CHECK(after.virtual_size >= before.virtual_size + TP_TOUCH / 2);
    MT_CHECK(after.resident_size_max >= after.resident_size);
    MT_REQUIRE(tp_task_info(p.task, TASK_EVENTS_INFO, &ev_after, TASK_EVENTS_INFO_COUNT) == 0);
    MT_EQ(ev_after.messages_sent - ev_before.messages_sent, 1);
    MT_CHECK(ev_after.messages_received >= ev_before.messages_received);
    task_thread_times_info_data_t times;
    cnt = TASK_THREAD_TIMES_INFO_COUNT;
    MT_KR(task_info(p.task, TASK_THREAD_TIMES_INFO, (task_info_t)&times, &cnt), KERN_SUCCESS);
    MT_EQ(cnt, TASK_THREAD_TIMES_INFO_COUNT);

    /* XNU's codes. */
    integer_t buf[64];
    cnt = MACH_TASK_BASIC_INFO_COUNT - 1;
    MT_KR(task_info(p.task, MACH_TASK_BASIC_INFO, buf, &cnt), KERN_INVALID_ARGUMENT);
    cnt = 64;
    MT_KR(task_info(p.task, 9999, buf, &cnt), KERN_INVALID_ARGUMENT);

    /* Its threads are its process's: task_threads is not served on its port. */
    thread_act_array_t threads = NULL;
    mach_msg_type_number_t nthreads = 0;
    MT_KR(task_threads(p.task, &threads, &nthreads), KERN_NOT_SUPPORTED);
    MT_CHECK(threads == NULL && nthreads == 0);

    MT_KR(tp_peer_go(&p), MACH_MSG_SUCCESS);
    MT_EQ(tp_peer_end(&p), 0);
    cnt = MACH_TASK_BASIC_INFO_COUNT;
    MT_KR(task_info(p.task, MACH_TASK_BASIC_INFO, buf, &cnt), MACH_SEND_INVALID_DEST);
    MT_KR(task_threads(p.task, &threads, &nthreads), MACH_SEND_INVALID_DEST);
    tp_peer_free(&p);
    MT_EQ(w_name_count(), names);
}

/* The peer breaks a guard of its own when told: fatal unless its policy says otherwise. */
static int tp_role_breaks_a_guard(mach_port_t mine)
{
    if (!tp_told_to_go(mine))
        return 85;
    mach_port_t g = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &g) != KERN_SUCCESS ||
        mach_port_guard(TASK, g, TP_GUARD, TRUE) != KERN_SUCCESS)
        return 86;
    if (mach_port_destruct(TASK, g, 0, TP_GUARD + 1) != KERN_INVALID_ARGUMENT)
        return 87;
    return mach_port_destruct(TASK, g, 0, TP_GUARD) == KERN_SUCCESS ? 0 : 88;
}

MT_TEST(exc_guard_behavior_on_another_tasks_port_is_that_tasks_policy)
{
    mach_msg_type_number_t names = w_name_count();
    tp_peer p;
    MT_REQUIRE(tp_peer_start(&p, tp_role_breaks_a_guard) == 0);
    task_exc_guard_behavior_t mine = 0, theirs = 0;
    MT_KR(task_get_exc_guard_behavior(TASK, &mine), KERN_SUCCESS);
    MT_KR(task_get_exc_guard_behavior(p.task, &theirs), KERN_SUCCESS);
    MT_EQ(theirs, mine); /* both start with the world's default */
    /* Its Mach-port guards made non-fatal: ours stay as they were. */
    MT_KR(task_set_exc_guard_behavior(p.task, TASK_EXC_GUARD_MP_DELIVER), KERN_SUCCESS);
    MT_KR(task_get_exc_guard_behavior(p.task, &theirs), KERN_SUCCESS);
    MT_EQ(theirs, (task_exc_guard_behavior_t)TASK_EXC_GUARD_MP_DELIVER);
    task_exc_guard_behavior_t now = 0;
    MT_KR(task_get_exc_guard_behavior(TASK, &now), KERN_SUCCESS);
    MT_EQ(now, mine);
    MT_KR(task_set_exc_guard_behavior(p.task, 0x100), KERN_INVALID_VALUE);
    /* The guard it breaks is an error returned, not its end. */
    MT_KR(tp_peer_go(&p), MACH_MSG_SUCCESS);
    MT_EQ(tp_peer_end(&p), 0);
    MT_KR(task_get_exc_guard_behavior(p.task, &theirs), MACH_SEND_INVALID_DEST);
    MT_KR(task_set_exc_guard_behavior(p.task, TASK_EXC_GUARD_MP_DELIVER), MACH_SEND_INVALID_DEST);
    tp_peer_free(&p);
    MT_EQ(w_name_count(), names);
}

/* ---- MIG requests sent by hand to another task's port ----------------------------------- */

enum { TP_N_MIG = 0x2403 };

/* A MIG reply (simple or complex) with room for a trailer. */
typedef union {
    mach_msg_header_t h;
    mig_reply_error_t error;
    struct {
        mach_msg_header_t h;
        NDR_record_t ndr;
        kern_return_t ret;
        uint32_t out[4];
    } simple;
    struct {
        mach_msg_header_t h;
        mach_msg_body_t body;
        mach_msg_ool_descriptor_t names, types;
        NDR_record_t ndr;
        mach_msg_type_number_t names_count, types_count;
    } names;
    uint8_t bytes[512];
} tp_mig_reply;

/*
 * Send `task` the simple request `id` with `n` 32-bit arguments, as a MIG stub does, and
 * receive its reply on `reply` (10 s at most).
 */
static mach_msg_return_t tp_mig(mach_port_t task, mach_port_t reply, mach_msg_id_t id, unsigned n,
                                uint32_t a, uint32_t b, tp_mig_reply *r)
{
    struct {
        mach_msg_header_t h;
        NDR_record_t ndr;
        uint32_t arg[2];
    } req;
    memset(&req, 0, sizeof req);
    mach_msg_size_t size =
        (mach_msg_size_t)(n ? sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 * n
                            : sizeof(mach_msg_header_t));
    req.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0);
    req.h.msgh_size = size;
    req.h.msgh_remote_port = task;
    req.h.msgh_local_port = reply;
    req.h.msgh_id = id;
    req.ndr = NDR_record;
    req.arg[0] = a;
    req.arg[1] = b;
    mach_msg_return_t mr = mach_msg(&req.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0,
                                    MACH_PORT_NULL, 10000, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    memset(r, 0xA5, sizeof *r);
    return mach_msg(&r->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r, reply, 10000,
                    MACH_PORT_NULL);
}

/* The peer finds the receive right our hand-sent request allocated in its space. */
static int tp_role_finds_mig_port(mach_port_t mine)
{
    if (!tp_told_to_go(mine))
        return 70;
    mach_port_type_t type = 0;
    if (mach_port_type(TASK, TP_N_MIG, &type) != KERN_SUCCESS || type != MACH_PORT_TYPE_RECEIVE)
        return 71;
    return 0;
}

MT_TEST(a_mig_request_sent_by_hand_to_another_tasks_port_is_served_on_that_task)
{
    mach_msg_type_number_t names = w_name_count();
    tp_peer p;
    MT_REQUIRE(tp_peer_start(&p, tp_role_finds_mig_port) == 0);
    mach_port_t reply = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &reply), KERN_SUCCESS);
    tp_mig_reply r;
    /* mach_port_allocate_name (3203) in its space: a bare reply, RetCode 0. */
    MT_KR(tp_mig(p.task, reply, 3203, 2, MACH_PORT_RIGHT_RECEIVE, TP_N_MIG, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, 3303);
    MT_EQ(r.h.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, KERN_SUCCESS);
    /* mach_port_type (3201) there, and not here. */
    MT_KR(tp_mig(p.task, reply, 3201, 1, TP_N_MIG, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(r.simple.out[0], MACH_PORT_TYPE_RECEIVE);
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, TP_N_MIG, &type), KERN_INVALID_NAME);
    /* mach_port_names (3200): its names come to us out of line. */
    MT_KR(tp_mig(p.task, reply, 3200, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, 3300);
    MT_CHECK(r.h.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.names.names_count, r.names.types_count);
    const mach_port_name_t *n = r.names.names.address;
    const mach_port_type_t *t = r.names.types.address;
    bool found = false;
    for (mach_msg_type_number_t i = 0; n && t && i < r.names.names_count; i++)
        if (n[i] == TP_N_MIG && t[i] == MACH_PORT_TYPE_RECEIVE)
            found = true;
    MT_CHECK(found);
    MT_KR(vm_deallocate(TASK, (vm_address_t)r.names.names.address, r.names.names.size),
          KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, (vm_address_t)r.names.types.address, r.names.types.size),
          KERN_SUCCESS);
    /* A vm routine: a misshapen request (mach_vm_allocate, 4800, with no arguments) is
     * MIG_BAD_ARGUMENTS; a well-formed one (mach_vm_deallocate, 4801) reaches a memory the
     * daemon cannot act on, XNU's null map: KERN_INVALID_ARGUMENT. */
    MT_KR(tp_mig(p.task, reply, 4800, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, 4900);
    MT_EQ(r.error.RetCode, MIG_BAD_ARGUMENTS);
    struct {
        mach_msg_header_t h;
        NDR_record_t ndr;
        uint64_t address, size;
    } dreq;
    memset(&dreq, 0, sizeof dreq);
    dreq.h.msgh_bits =
        MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0);
    dreq.h.msgh_remote_port = p.task;
    dreq.h.msgh_local_port = reply;
    dreq.h.msgh_id = 4801;
    dreq.ndr = NDR_record;
    dreq.size = 4096;
    MT_KR(mach_msg(&dreq.h, MACH_SEND_MSG, sizeof dreq, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_KR(mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, reply, 10000,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, 4901);
    MT_EQ(r.h.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    /* An id no subsystem has: MIG_BAD_ID. */
    MT_KR(tp_mig(p.task, reply, 3299, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, MIG_BAD_ID);
    /* task_threads (3402): another task's threads are its process's, not served here. */
    MT_KR(tp_mig(p.task, reply, 3402, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, 3502);
    MT_EQ(r.h.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, KERN_NOT_SUPPORTED);

    MT_KR(tp_peer_go(&p), MACH_MSG_SUCCESS);
    MT_EQ(tp_peer_end(&p), 0);
    /* Its task ended: the request cannot be sent (a dead name). */
    MT_KR(tp_mig(p.task, reply, 3201, 1, TP_N_MIG, 0, &r), MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    tp_peer_free(&p);
    MT_EQ(w_name_count(), names);
}

MT_MAIN()
