/*
 * bootstrap_tasks.c — the bootstrap server between tasks, as a world runs it (docs/world.md,
 * "Bootstrap"): what embedded mode, with one task per process, never exercises. Second tasks
 * are made through the core's own interface (as umachd makes one per process), given a
 * TASK_BOOTSTRAP_PORT slot to the same root registry, and speak to it with raw Mach messages
 * sent from their own spaces; this process's task uses the ordinary bootstrap calls.
 *
 * Checked: a name a task checked in or registered is another task's to look up and is freed
 * when the serving task dies (and can then be taken by anyone); a declared service whose
 * server task dies comes back to the registry with its queue; a check-in whose reply never
 * reaches its task frees (or returns) the name; a declared service can be checked in only by
 * its owner's uid; a subset made by one task serves another and ends with its requestor.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "api/um_api.h"
#include "embedded/um_embedded.h"
#include "kern/um_bootstrap.h"
#include "kern_msg.h"

#include <mach/mach.h>
#include <mach/mig_errors.h>
#include <mach/task_special_ports.h>
#include <servers/bootstrap.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TASK mach_task_self()

/* bootstrap_register is deprecated on Darwin, still part of the API under test. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static const um_task_hooks no_hooks = {0};

typedef union {
    mach_msg_header_t h;
    um_bs_port_reply port;
    mig_reply_error_t error;
    uint8_t bytes[512];
} bt_msg;

/*
 * A task of this process's kernel, as umachd makes one for a process: tokens with effective
 * uid `euid`, its TASK_BOOTSTRAP_PORT slot a send right to the root registry, named in its
 * space (*bp). World locked.
 */
static um_task *bt_task(um_task *a, uint32_t euid, mach_port_name_t *bp)
{
    um_task *t = um_task_create(a->kernel, a->mem, &no_hooks, NULL);
    if (!t)
        return NULL;
    t->sec.val[0] = euid;
    t->audit.val[1] = euid;
    um_port *root = um_bootstrap_port(a->kernel->bootstrap);
    um_port_make_send(root);
    t->special_ports[TASK_BOOTSTRAP_PORT] = root;
    um_port_make_send(root);
    *bp = MACH_PORT_NULL;
    if (um_right_copyout(t->space, root, MACH_MSG_TYPE_PORT_SEND, bp) != KERN_SUCCESS) {
        um_task_terminate(t);
        return NULL;
    }
    return t;
}

/*
 * mach_msg for task `t` without waiting: send `m` (send_size bytes; 0: no send) and, when
 * rcv_name is set, receive into `m`. World locked.
 */
static mach_msg_return_t bt_mach_msg(um_task *t, bt_msg *m, mach_msg_size_t send_size,
                                     mach_port_name_t rcv_name)
{
    if (send_size) {
        mach_msg_return_t mr = kern_send(t, m, send_size);
        if (mr != MACH_MSG_SUCCESS)
            return mr;
    }
    if (!rcv_name)
        return MACH_MSG_SUCCESS;
    return kern_receive(t, rcv_name, MACH_RCV_MSG, m, sizeof *m, NULL);
}

/*
 * One bootstrap request of task `t` on its bootstrap port `bp`: id, name, and (register,
 * subset) a right `arg` with disposition `disp`. The reply comes to a fresh port of t's;
 * *out gets the name of the right a successful reply carries. Returns the server's code.
 * World locked.
 */
static kern_return_t bt_call(um_task *t, mach_port_name_t bp, mach_msg_id_t id, const char *name,
                             mach_port_name_t arg, mach_msg_type_name_t disp, mach_port_name_t *out)
{
    mach_port_name_t reply = MACH_PORT_NULL;
    if (um_api_mach_port_allocate(t, t->task_name, MACH_PORT_RIGHT_RECEIVE, &reply) !=
        KERN_SUCCESS)
        return KERN_RESOURCE_SHORTAGE;
    bt_msg m;
    memset(&m, 0, sizeof m);
    mach_msg_size_t size;
    if (id == UM_BS_MSG_REGISTER) {
        um_bs_register_request *r = (um_bs_register_request *)&m;
        r->body.msgh_descriptor_count = 1;
        r->service.name = arg;
        r->service.disposition = disp;
        r->service.type = MACH_MSG_PORT_DESCRIPTOR;
        r->ndr = NDR_record;
        snprintf(r->name, sizeof r->name, "%s", name);
        size = sizeof *r;
    } else if (id == UM_BS_MSG_SUBSET) {
        um_bs_subset_request *r = (um_bs_subset_request *)&m;
        r->body.msgh_descriptor_count = 1;
        r->requestor.name = arg;
        r->requestor.disposition = disp;
        r->requestor.type = MACH_MSG_PORT_DESCRIPTOR;
        r->ndr = NDR_record;
        size = sizeof *r;
    } else {
        um_bs_name_request *r = (um_bs_name_request *)&m;
        r->ndr = NDR_record;
        snprintf(r->name, sizeof r->name, "%s", name);
        size = sizeof *r;
    }
    bool complex = id == UM_BS_MSG_REGISTER || id == UM_BS_MSG_SUBSET;
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) |
                    (complex ? MACH_MSGH_BITS_COMPLEX : 0);
    m.h.msgh_size = size;
    m.h.msgh_remote_port = bp;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = id;
    kern_return_t kr = bt_mach_msg(t, &m, size, reply);
    if (kr == MACH_MSG_SUCCESS) {
        if (m.h.msgh_id != id + 100)
            kr = MIG_REPLY_MISMATCH;
        else if (m.h.msgh_bits & MACH_MSGH_BITS_COMPLEX)
            *out = m.port.port.name;
        else
            kr = m.error.RetCode;
    }
    (void)um_api_mach_port_mod_refs(t, t->task_name, reply, MACH_PORT_RIGHT_RECEIVE, -1);
    return kr;
}

static mach_msg_return_t bt_recv(mach_port_name_t port, bt_msg *m)
{
    memset(m, 0, sizeof *m);
    return mach_msg(&m->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *m, port, 0, MACH_PORT_NULL);
}

static mach_port_type_t bt_type(mach_port_name_t name)
{
    mach_port_type_t type = 0;
    return mach_port_type(TASK, name, &type) == KERN_SUCCESS ? type : 0;
}

/* A name unique to this process and test. */
static const char *bt_name(char *buf, size_t len, const char *what)
{
    snprintf(buf, len, "org.umach.test.bootstrap_tasks.%d.%s", (int)getpid(), what);
    return buf;
}

MT_TEST(a_name_checked_in_by_one_task_is_looked_up_by_another_and_freed_when_that_task_dies)
{
    char name[128];
    bt_name(name, sizeof name, "dynamic");
    um_task *a = um_embedded_enter();
    mach_port_name_t bbp, svc = MACH_PORT_NULL;
    um_task *b = bt_task(a, (uint32_t)geteuid(), &bbp);
    MT_REQUIRE(b != NULL);
    MT_KR(bt_call(b, bbp, UM_BS_MSG_CHECK_IN, name, 0, 0, &svc), KERN_SUCCESS);
    um_embedded_leave();

    mach_port_t send = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, name, &send), KERN_SUCCESS);
    MT_EQ(bt_type(send), MACH_PORT_TYPE_SEND);
    /* A second server of the same name is refused while the first lives. */
    mach_port_t mine = MACH_PORT_NULL;
    MT_KR(bootstrap_check_in(bootstrap_port, name, &mine), BOOTSTRAP_SERVICE_ACTIVE);

    a = um_embedded_enter();
    um_task_terminate(b);
    um_embedded_leave();

    /* The server's death made our right a dead name, and the name is free. */
    MT_EQ(bt_type(send), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, send), KERN_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &send), BOOTSTRAP_UNKNOWN_SERVICE);
    MT_KR(bootstrap_check_in(bootstrap_port, name, &mine), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, mine, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(a_name_registered_by_a_task_that_dies_is_free_for_a_new_server)
{
    char name[128];
    bt_name(name, sizeof name, "registered");
    um_task *a = um_embedded_enter();
    mach_port_name_t bbp, port = MACH_PORT_NULL, none = MACH_PORT_NULL;
    um_task *b = bt_task(a, (uint32_t)geteuid(), &bbp);
    MT_REQUIRE(b != NULL);
    MT_KR(um_api_mach_port_allocate(b, b->task_name, MACH_PORT_RIGHT_RECEIVE, &port),
          KERN_SUCCESS);
    MT_KR(bt_call(b, bbp, UM_BS_MSG_REGISTER, name, port, MACH_MSG_TYPE_MAKE_SEND, &none),
          KERN_SUCCESS);
    /* The name is B's: registering it again, from either task, is refused. */
    MT_KR(bt_call(b, bbp, UM_BS_MSG_REGISTER, name, port, MACH_MSG_TYPE_MAKE_SEND, &none),
          BOOTSTRAP_NAME_IN_USE);
    um_embedded_leave();

    mach_port_t send = MACH_PORT_NULL, other = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, name, &send), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &other), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, other, other, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(bootstrap_register(bootstrap_port, name, other), BOOTSTRAP_NAME_IN_USE);

    a = um_embedded_enter();
    um_task_terminate(b);
    um_embedded_leave();

    MT_EQ(bt_type(send), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, send), KERN_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &send), BOOTSTRAP_UNKNOWN_SERVICE);
    MT_KR(bootstrap_register(bootstrap_port, name, other), KERN_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &send), KERN_SUCCESS);
    MT_EQ(send, other);
    MT_KR(mach_port_deallocate(TASK, send), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, other), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, other, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &send), BOOTSTRAP_UNKNOWN_SERVICE);
}

MT_TEST(a_declared_service_comes_back_with_its_queue_when_its_server_task_dies)
{
    char name[128];
    bt_name(name, sizeof name, "declared");
    um_task *a = um_embedded_enter();
    MT_KR(um_bootstrap_declare(a->kernel->bootstrap, name, (uint32_t)geteuid()), KERN_SUCCESS);
    um_embedded_leave();

    /* A client finds the service before any server runs and queues a request. */
    mach_port_t send = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, name, &send), KERN_SUCCESS);
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = send;
    h.msgh_id = 1;
    MT_KR(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);

    /* Server task B checks in (it gets the queue), a second request comes, then B dies. */
    a = um_embedded_enter();
    mach_port_name_t bbp, svc = MACH_PORT_NULL;
    um_task *b = bt_task(a, (uint32_t)geteuid(), &bbp);
    MT_REQUIRE(b != NULL);
    MT_KR(bt_call(b, bbp, UM_BS_MSG_CHECK_IN, name, 0, 0, &svc), KERN_SUCCESS);
    mach_port_status_t st;
    mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(um_api_mach_port_get_attributes(b, b->task_name, svc, MACH_PORT_RECEIVE_STATUS,
                                          (mach_port_info_t)&st, &cnt),
          KERN_SUCCESS);
    MT_EQ(st.mps_msgcount, 1u);
    um_embedded_leave();
    h.msgh_id = 2;
    MT_KR(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    a = um_embedded_enter();
    um_task_terminate(b);
    um_embedded_leave();

    /* Our send right still works (the port lives on in the registry) ... */
    MT_EQ(bt_type(send), MACH_PORT_TYPE_SEND);
    /* ... and the next server checks in both requests, in order. */
    mach_port_t recv = MACH_PORT_NULL;
    MT_KR(bootstrap_check_in(bootstrap_port, name, &recv), KERN_SUCCESS);
    bt_msg m;
    MT_KR(bt_recv(recv, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 1);
    MT_KR(bt_recv(recv, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, 2);
    MT_KR(bt_recv(recv, &m), MACH_RCV_TIMED_OUT);
    /* Our server goes too; the name stays declared until it is undeclared. */
    MT_KR(mach_port_mod_refs(TASK, recv, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(bootstrap_register(bootstrap_port, name, MACH_PORT_NULL), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, send), KERN_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &send), BOOTSTRAP_UNKNOWN_SERVICE);
}

MT_TEST(a_check_in_whose_reply_never_reaches_its_task_frees_or_returns_the_name)
{
    char dyn[128], decl[128];
    bt_name(dyn, sizeof dyn, "lost.dynamic");
    bt_name(decl, sizeof decl, "lost.declared");
    um_task *a = um_embedded_enter();
    MT_KR(um_bootstrap_declare(a->kernel->bootstrap, decl, (uint32_t)geteuid()), KERN_SUCCESS);
    mach_port_name_t bbp, reply = MACH_PORT_NULL;
    um_task *b = bt_task(a, (uint32_t)geteuid(), &bbp);
    MT_REQUIRE(b != NULL);
    MT_KR(um_api_mach_port_allocate(b, b->task_name, MACH_PORT_RIGHT_RECEIVE, &reply),
          KERN_SUCCESS);
    /* B sends both check-ins and dies before it receives the replies (queued on its port). */
    const char *names[] = {dyn, decl};
    for (int i = 0; i < 2; i++) {
        bt_msg m;
        memset(&m, 0, sizeof m);
        um_bs_name_request *r = (um_bs_name_request *)&m;
        r->ndr = NDR_record;
        snprintf(r->name, sizeof r->name, "%s", names[i]);
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        m.h.msgh_size = sizeof *r;
        m.h.msgh_remote_port = bbp;
        m.h.msgh_local_port = reply;
        m.h.msgh_id = UM_BS_MSG_CHECK_IN;
        MT_KR(bt_mach_msg(b, &m, sizeof *r, MACH_PORT_NULL), MACH_MSG_SUCCESS);
    }
    um_task_terminate(b);
    um_embedded_leave();

    /* The dynamic name went with the receive right; the declared one is ready again. */
    mach_port_t p = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, dyn, &p), BOOTSTRAP_UNKNOWN_SERVICE);
    MT_KR(bootstrap_check_in(bootstrap_port, decl, &p), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(bootstrap_register(bootstrap_port, decl, MACH_PORT_NULL), KERN_SUCCESS);
}

MT_TEST(a_declared_service_is_checked_in_or_undeclared_only_by_its_owners_uid)
{
    char name[128];
    bt_name(name, sizeof name, "owned");
    uint32_t owner = (uint32_t)geteuid() + 1;
    um_task *a = um_embedded_enter();
    MT_KR(um_bootstrap_declare(a->kernel->bootstrap, name, owner), KERN_SUCCESS);
    um_embedded_leave();

    /* We are not its owner: we may look it up, not serve it or remove it. */
    mach_port_t send = MACH_PORT_NULL, recv = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, name, &send), KERN_SUCCESS);
    MT_KR(bootstrap_check_in(bootstrap_port, name, &recv), BOOTSTRAP_NOT_PRIVILEGED);
    MT_KR(bootstrap_register(bootstrap_port, name, MACH_PORT_NULL), BOOTSTRAP_NOT_PRIVILEGED);

    /* A task running as the owner checks it in. */
    a = um_embedded_enter();
    mach_port_name_t bbp, svc = MACH_PORT_NULL, none = MACH_PORT_NULL;
    um_task *b = bt_task(a, owner, &bbp);
    MT_REQUIRE(b != NULL);
    MT_KR(bt_call(b, bbp, UM_BS_MSG_CHECK_IN, name, 0, 0, &svc), KERN_SUCCESS);
    um_task_terminate(b);
    /* Back in the registry: the owner may undeclare it. */
    b = bt_task(a, owner, &bbp);
    MT_REQUIRE(b != NULL);
    MT_KR(bt_call(b, bbp, UM_BS_MSG_REGISTER, name, MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND,
                  &none),
          KERN_SUCCESS);
    um_task_terminate(b);
    um_embedded_leave();
    /* Our send right was to the declared port: dead now that the name is gone. */
    MT_EQ(bt_type(send), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, send), KERN_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &send), BOOTSTRAP_UNKNOWN_SERVICE);
}

MT_TEST(a_subset_made_by_one_task_serves_another_and_ends_with_its_requestor)
{
    char top[128], sub[128];
    bt_name(top, sizeof top, "subset.top");
    bt_name(sub, sizeof sub, "subset.own");
    mach_port_t topsvc = MACH_PORT_NULL, requestor = MACH_PORT_NULL, subset = MACH_PORT_NULL;
    MT_KR(bootstrap_check_in(bootstrap_port, top, &topsvc), KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &requestor), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, requestor, requestor, MACH_MSG_TYPE_MAKE_SEND),
          KERN_SUCCESS);
    MT_REQUIRE(bootstrap_subset(bootstrap_port, requestor, &subset) == KERN_SUCCESS);

    /* Task B gets the subset as its bootstrap port, as a child would through the slot. */
    um_task *a = um_embedded_enter();
    mach_port_name_t bbp, bsub = MACH_PORT_NULL, bport = MACH_PORT_NULL, got = MACH_PORT_NULL;
    mach_port_name_t none = MACH_PORT_NULL;
    um_task *b = bt_task(a, (uint32_t)geteuid(), &bbp);
    MT_REQUIRE(b != NULL);
    um_port *sp = NULL;
    MT_KR(um_right_copyin(a->space, subset, MACH_MSG_TYPE_COPY_SEND, 0, &sp), KERN_SUCCESS);
    MT_KR(um_right_copyout(b->space, sp, MACH_MSG_TYPE_PORT_SEND, &bsub), KERN_SUCCESS);
    /* B sees the parent's names through it and registers one of its own there. */
    MT_KR(bt_call(b, bsub, UM_BS_MSG_LOOK_UP, top, 0, 0, &got), KERN_SUCCESS);
    MT_KR(um_api_mach_port_allocate(b, b->task_name, MACH_PORT_RIGHT_RECEIVE, &bport),
          KERN_SUCCESS);
    MT_KR(bt_call(b, bsub, UM_BS_MSG_REGISTER, sub, bport, MACH_MSG_TYPE_MAKE_SEND, &none),
          KERN_SUCCESS);
    /* Not in the root: B's name is the subset's only. */
    MT_KR(bt_call(b, bbp, UM_BS_MSG_LOOK_UP, sub, 0, 0, &got), BOOTSTRAP_UNKNOWN_SERVICE);
    um_embedded_leave();
    mach_port_t s = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, sub, &s), BOOTSTRAP_UNKNOWN_SERVICE);
    MT_KR(bootstrap_look_up(subset, sub, &s), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, s), KERN_SUCCESS);

    /* Our requestor dies: the subset and its names end, in B too. */
    MT_KR(mach_port_mod_refs(TASK, requestor, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, requestor), KERN_SUCCESS); /* our send right, now dead */
    MT_EQ(bt_type(subset), MACH_PORT_TYPE_DEAD_NAME);
    a = um_embedded_enter();
    mach_port_type_t type = 0;
    MT_KR(um_api_mach_port_type(b, b->task_name, bsub, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_DEAD_NAME);
    /* B's port itself lives on: only its name went. */
    MT_KR(um_api_mach_port_type(b, b->task_name, bport, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_RECEIVE);
    um_task_terminate(b);
    um_embedded_leave();
    MT_KR(mach_port_deallocate(TASK, subset), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, topsvc, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_MAIN()
