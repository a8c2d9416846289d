/*
 * task_port_calls.c — runs inside a world (ctest: umach-run -- world_task_port_calls): a
 * mach_port_* call whose task argument is another task's task port, received in a message,
 * acts on that task's space, as XNU serves it. The test process hands its task port to a
 * forked task, which allocates a port in the test's space, reads it back (type, names, refs,
 * context), extracts a send right to it into its own space and sends through it, guards it,
 * then breaks the guard: the guard exception is the caller's (the forked task aborts), not the
 * space owner's. Another task's task port is a plain send right (its last uref can go; only a
 * task's own is pinned). vm calls and mach_port_insert_right on another task stay refused
 * (MACH_SEND_INVALID_DEST), and a task port whose task has ended names no space.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <mach/notify.h>
#include <servers/bootstrap.h>

#include <signal.h>
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
};

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

/* The forked task: its exit status says which step failed; a good run ends in abort(). */
static int tp_caller(const char *service)
{
    mach_port_t svc = MACH_PORT_NULL, mine = MACH_PORT_NULL;
    if (bootstrap_look_up(bootstrap_port, service, &svc) != KERN_SUCCESS)
        return 10;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &mine) != KERN_SUCCESS)
        return 11;
    if (tp_send(svc, MACH_MSG_TYPE_COPY_SEND, mine, MACH_MSG_TYPE_MAKE_SEND, TP_HELLO, TASK,
                MACH_MSG_TYPE_COPY_SEND, 0) != MACH_MSG_SUCCESS)
        return 12;
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

    /* Refused on another task: a right from our space into theirs, and their memory. */
    if (mach_port_insert_right(them, n, through, MACH_MSG_TYPE_COPY_SEND) !=
        MACH_SEND_INVALID_DEST)
        return 30;
    mach_vm_address_t a = 0;
    if (mach_vm_allocate(them, &a, vm_page_size, VM_FLAGS_ANYWHERE) != MACH_SEND_INVALID_DEST)
        return 31;

    if (tp_send(svc, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, TP_NAME, MACH_PORT_NULL,
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
    char service[96];
    snprintf(service, sizeof service, "org.machports.test.world.task_port_calls.%d",
             (int)getpid());
    mach_port_t svc = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &svc), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, svc, svc, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    MT_KR(bootstrap_register(bootstrap_port, service, svc), KERN_SUCCESS);
#pragma GCC diagnostic pop

    pid_t kid = fork();
    MT_REQUIRE(kid >= 0);
    if (kid == 0)
        _exit(tp_caller(service));

    tp_buf b;
    MT_KR(tp_receive(svc, &b), MACH_MSG_SUCCESS);
    MT_EQ(b.m.h.msgh_id, TP_HELLO);
    mach_port_t kid_task = b.m.port.name, kid_port = b.m.h.msgh_remote_port;
    /* Told when its task ends (the world learns of a process's exit after waitpid may). */
    mach_port_t notify = MACH_PORT_NULL, previous = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &notify), KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, kid_task, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
          KERN_SUCCESS);
    /* Our task port, COPY_SEND: the caller may now act on our space. */
    MT_KR(tp_send(kid_port, MACH_MSG_TYPE_MOVE_SEND, MACH_PORT_NULL, 0, TP_TASK_PORT, TASK,
                  MACH_MSG_TYPE_COPY_SEND, 0),
          MACH_MSG_SUCCESS);

    /* The name it made is ours: a receive right, and the message it sent through it came. */
    MT_KR(tp_receive(svc, &b), MACH_MSG_SUCCESS);
    MT_EQ(b.m.h.msgh_id, TP_NAME);
    mach_port_name_t n = b.m.name;
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, n, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_RECEIVE);
    MT_KR(tp_receive(n, &b), MACH_MSG_SUCCESS);
    MT_EQ(b.m.h.msgh_id, TP_THROUGH);

    /* The broken guard killed the caller, not us; the guard it set is on our port. */
    MT_EQ(w_wait_status(kid), 128 + SIGABRT); /* an exit status under 128 names the failed step */
    MT_KR(mach_port_destruct(TASK, n, 0, TP_GUARD), KERN_SUCCESS);

    /* Its task is gone: its task port is a dead name and names no space. */
    MT_KR(tp_receive(notify, &b), MACH_MSG_SUCCESS);
    MT_EQ(b.m.h.msgh_id, MACH_NOTIFY_DEAD_NAME);
    mach_port_name_t x = 0x5678;
    MT_KR(mach_port_allocate(kid_task, MACH_PORT_RIGHT_RECEIVE, &x), MACH_SEND_INVALID_DEST);
    MT_EQ(x, 0x5678u);
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(TASK, kid_task, MACH_PORT_RIGHT_DEAD_NAME, &refs), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, kid_task, MACH_PORT_RIGHT_DEAD_NAME, -(mach_port_delta_t)refs),
          KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, svc, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, svc), KERN_SUCCESS);
}

MT_MAIN()
