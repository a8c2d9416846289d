/*
 * bootstrap_server.c — what only umach's bootstrap server promises (Linux only; the shared
 * behaviour is in tests/conformance/bootstrap.c): declared services (UMACH_SERVICES), subsets,
 * the raw protocol with malformed requests (docs/bootstrap.md), and TASK_BOOTSTRAP_PORT
 * replaced with task_set_special_port and inherited across fork.
 *
 * UMACH_SERVICES is read when the process starts, so the declared-service test runs this
 * program again with it set.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "bootstrap_raw.h"

#include <mach/mach.h>
#include <mach/mig_errors.h>
#include <mach/ndr.h>
#include <mach/notify.h>
#include <servers/bootstrap.h>

#include <stdbool.h>

#define TASK mach_task_self()

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* bootstrap_register, _status */

static mach_port_name_t new_port(void)
{
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    if (mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static mach_port_type_t type_of(mach_port_name_t name)
{
    mach_port_type_t t = 0;
    if (mach_port_type(TASK, name, &t) != KERN_SUCCESS)
        return (mach_port_type_t)-1;
    return t;
}

static mach_port_urefs_t send_refs(mach_port_name_t name)
{
    mach_port_urefs_t r = 0;
    if (mach_port_get_refs(TASK, name, MACH_PORT_RIGHT_SEND, &r) != KERN_SUCCESS)
        return (mach_port_urefs_t)-1;
    return r;
}

/* Drop every send uref of a name, then its receive right. */
static void kill_port(mach_port_name_t p)
{
    mach_port_urefs_t n = send_refs(p);
    if (n != (mach_port_urefs_t)-1 && n > 0)
        MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -(mach_port_delta_t)n),
              KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

static void send_id(mach_port_name_t dest, mach_msg_id_t id)
{
    mach_msg_header_t h = {0};
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = dest;
    h.msgh_id = id;
    MT_KR(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
}

typedef union {
    mach_msg_header_t h;
    mig_reply_error_t err;
    uint8_t bytes[512];
} any_msg;

/* Receive without waiting; returns the id, or -1 when nothing is queued. */
static mach_msg_id_t recv_id(mach_port_name_t port, any_msg *m)
{
    if (mach_msg(&m->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *m, port, 0,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return -1;
    return m->h.msgh_id;
}

/* ---- declared services (a child run with UMACH_SERVICES) ---------------------------------- */

#define DECLARED "org.machports.test.declared"
#define DECLARED2 "org.machports.test.declared.two"

static int mode_declared(void)
{
    /* A client finds a declared service before its server runs, and may already send. */
    mach_port_t client = MACH_PORT_NULL, server = MACH_PORT_NULL, again = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, DECLARED, &client), BOOTSTRAP_SUCCESS);
    MT_EQ(type_of(client), MACH_PORT_TYPE_SEND);
    bootstrap_status_t st = -1;
    MT_KR(bootstrap_status(bootstrap_port, DECLARED, &st), BOOTSTRAP_SUCCESS);
    MT_EQ(st, BOOTSTRAP_STATUS_ON_DEMAND);
    send_id(client, 1);

    /* Registering over it is refused: a declared name is taken by check-in. */
    mach_port_name_t other = new_port();
    MT_KR(bootstrap_register(bootstrap_port, DECLARED, other), BOOTSTRAP_NOT_PRIVILEGED);

    /* The server checks in and finds the message waiting. */
    MT_KR(bootstrap_check_in(bootstrap_port, DECLARED, &server), BOOTSTRAP_SUCCESS);
    MT_EQ(server, client); /* the same port: receive and send right share the name */
    MT_EQ(type_of(server), MACH_PORT_TYPE_SEND_RECEIVE);
    any_msg m;
    MT_EQ(recv_id(server, &m), 1);
    MT_KR(bootstrap_check_in(bootstrap_port, DECLARED, &again), BOOTSTRAP_SERVICE_ACTIVE);
    MT_KR(bootstrap_status(bootstrap_port, DECLARED, &st), BOOTSTRAP_SUCCESS);
    MT_EQ(st, BOOTSTRAP_STATUS_ACTIVE);
    MT_KR(bootstrap_register(bootstrap_port, DECLARED, other), BOOTSTRAP_NAME_IN_USE);

    /*
     * The server dies (receive right destroyed): the port goes back to the bootstrap server,
     * so clients keep a live send right and may go on queueing for the next server.
     */
    MT_KR(mach_port_mod_refs(TASK, server, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(type_of(client), MACH_PORT_TYPE_SEND);
    send_id(client, 2);
    MT_KR(bootstrap_check_in(bootstrap_port, DECLARED, &server), BOOTSTRAP_SUCCESS);
    MT_EQ(server, client);
    MT_EQ(recv_id(server, &m), 2);
    MT_KR(mach_port_mod_refs(TASK, server, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);

    /* Registering MACH_PORT_NULL undeclares a service nobody holds: its port dies. */
    MT_KR(bootstrap_register(bootstrap_port, DECLARED, MACH_PORT_NULL), BOOTSTRAP_SUCCESS);
    MT_EQ(type_of(client), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, client), KERN_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, DECLARED, &client), BOOTSTRAP_UNKNOWN_SERVICE);
    /* The name is an ordinary free name again. */
    MT_KR(bootstrap_register(bootstrap_port, DECLARED, other), BOOTSTRAP_SUCCESS);
    kill_port(other);
    MT_KR(bootstrap_look_up(bootstrap_port, DECLARED, &client), BOOTSTRAP_UNKNOWN_SERVICE);

    /* The second declared name is there too; an empty entry and a too-long one are ignored. */
    MT_KR(bootstrap_look_up(bootstrap_port, DECLARED2, &client), BOOTSTRAP_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, client), KERN_SUCCESS);
    return mt_current_failed ? 1 : 0;
}

static const char *self_path;

static int run_self(const char *mode, const char *env)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (env)
            putenv((char *)env);
        char *args[] = {(char *)self_path, (char *)mode, NULL};
        execv(self_path, args);
        _exit(127);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    return st;
}

MT_TEST(declared_services_are_found_before_check_in_and_come_back_when_their_server_dies)
{
    char longname[BOOTSTRAP_MAX_NAME_LEN + 40];
    memset(longname, 'z', sizeof longname);
    longname[sizeof longname - 1] = '\0';
    static char env[600];
    snprintf(env, sizeof env, "UMACH_SERVICES=" DECLARED ",," DECLARED2 ",%s", longname);
    int st = run_self("declared", env);
    MT_CHECK(WIFEXITED(st));
    MT_EQ(WEXITSTATUS(st), 0);
}

/* ---- subsets ----------------------------------------------------------------------------------- */

MT_TEST(a_subset_sees_its_own_names_then_its_parents_and_dies_with_its_requestor)
{
    mach_port_name_t requestor = new_port();
    mach_port_t subset = MACH_PORT_NULL, found = MACH_PORT_NULL;
    MT_KR(bootstrap_subset(bootstrap_port, MACH_PORT_NULL, &subset), BOOTSTRAP_NOT_PRIVILEGED);
    MT_KR(bootstrap_subset(bootstrap_port, requestor, &subset), BOOTSTRAP_SUCCESS);
    MT_REQUIRE(MACH_PORT_VALID(subset));
    MT_CHECK(subset != bootstrap_port);

    mach_port_t parent = MACH_PORT_NULL;
    MT_KR(bootstrap_parent(subset, &parent), BOOTSTRAP_SUCCESS);
    MT_EQ(parent, bootstrap_port);
    MT_KR(mach_port_deallocate(TASK, parent), KERN_SUCCESS);
    MT_KR(bootstrap_parent(bootstrap_port, &parent), BOOTSTRAP_SUCCESS);
    MT_EQ(parent, bootstrap_port); /* the root is its own parent */
    MT_KR(mach_port_deallocate(TASK, parent), KERN_SUCCESS);

    mach_port_name_t in_parent = new_port(), in_subset = new_port(), shadow = new_port();
    MT_KR(bootstrap_register(bootstrap_port, "org.machports.test.parent", in_parent),
          BOOTSTRAP_SUCCESS);
    MT_KR(bootstrap_register(subset, "org.machports.test.subset", in_subset), BOOTSTRAP_SUCCESS);
    /* A subset may bind a name its parent has; its own binding wins inside it. */
    MT_KR(bootstrap_register(subset, "org.machports.test.parent", shadow), BOOTSTRAP_SUCCESS);

    MT_KR(bootstrap_look_up(subset, "org.machports.test.subset", &found), BOOTSTRAP_SUCCESS);
    MT_EQ(found, in_subset);
    MT_KR(mach_port_deallocate(TASK, found), KERN_SUCCESS);
    MT_KR(bootstrap_look_up(subset, "org.machports.test.parent", &found), BOOTSTRAP_SUCCESS);
    MT_EQ(found, shadow);
    MT_KR(mach_port_deallocate(TASK, found), KERN_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, "org.machports.test.subset", &found),
          BOOTSTRAP_UNKNOWN_SERVICE);
    MT_KR(bootstrap_look_up(bootstrap_port, "org.machports.test.parent", &found),
          BOOTSTRAP_SUCCESS);
    MT_EQ(found, in_parent);
    MT_KR(mach_port_deallocate(TASK, found), KERN_SUCCESS);
    /* Without its own binding the subset falls back to the parent's. */
    kill_port(shadow);
    MT_KR(bootstrap_look_up(subset, "org.machports.test.parent", &found), BOOTSTRAP_SUCCESS);
    MT_EQ(found, in_parent);
    MT_KR(mach_port_deallocate(TASK, found), KERN_SUCCESS);

    /* A subset of the subset, then the requestor dies: both go, with their bindings. */
    mach_port_name_t requestor2 = new_port();
    mach_port_t inner = MACH_PORT_NULL;
    MT_KR(bootstrap_subset(subset, requestor2, &inner), BOOTSTRAP_SUCCESS);
    MT_KR(bootstrap_look_up(inner, "org.machports.test.subset", &found), BOOTSTRAP_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, found), KERN_SUCCESS);
    /* The subset's send right to in_subset is the last one besides ours: watch for it. */
    mach_port_name_t notify = new_port(), prev = MACH_PORT_NULL;
    MT_KR(mach_port_request_notification(TASK, in_subset, MACH_NOTIFY_NO_SENDERS, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev),
          KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, in_subset, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    any_msg m;
    MT_EQ(recv_id(notify, &m), -1); /* the subset still holds a send right */

    kill_port(requestor);
    MT_EQ(type_of(subset), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(type_of(inner), MACH_PORT_TYPE_DEAD_NAME);
    MT_EQ(recv_id(notify, &m), MACH_NOTIFY_NO_SENDERS);
    MT_KR(bootstrap_look_up(subset, "org.machports.test.subset", &found),
          MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_deallocate(TASK, subset), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, inner), KERN_SUCCESS);
    kill_port(requestor2);
    kill_port(in_subset);
    kill_port(in_parent);
    kill_port(notify);
}

/* ---- the raw protocol ------------------------------------------------------------------------- */

/* Send `size` bytes of `req` to the bootstrap port with a send-once reply port; get the reply. */
static mach_msg_return_t raw_rpc(void *req, mach_msg_size_t size, mach_port_name_t reply,
                                 any_msg *out)
{
    mach_msg_header_t *h = req;
    h->msgh_bits |= MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    h->msgh_size = size;
    h->msgh_remote_port = bootstrap_port;
    h->msgh_local_port = reply;
    mach_msg_return_t mr = mach_msg(h, MACH_SEND_MSG, size, 0, MACH_PORT_NULL, 0,
                                    MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    return mach_msg(&out->h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *out, reply, 0,
                    MACH_PORT_NULL);
}

MT_TEST(raw_requests_get_mig_replies_and_malformed_ones_get_errors)
{
    mach_port_name_t reply = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &reply), KERN_SUCCESS);
    any_msg m;

    /* A well-formed look-up of an unknown name. */
    name_req nr;
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = ID_LOOK_UP;
    strcpy(nr.name, "org.machports.test.raw.nothing");
    MT_KR(raw_rpc(&nr, sizeof nr, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_LOOK_UP, BOOTSTRAP_UNKNOWN_SERVICE);
    MT_EQ(m.h.msgh_remote_port, MACH_PORT_NULL);

    /* An unknown id. */
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = 499;
    MT_KR(raw_rpc(&nr, sizeof nr, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, 499, MIG_BAD_ID);

    /* Too short, too long, a name without its NUL, a complex bit with no descriptor. */
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = ID_CHECK_IN;
    MT_KR(raw_rpc(&nr, sizeof nr - 4, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_CHECK_IN, MIG_BAD_ARGUMENTS);
    struct {
        name_req r;
        uint32_t extra;
    } longer;
    memset(&longer, 0, sizeof longer);
    longer.r.head.msgh_id = ID_LOOK_UP;
    strcpy(longer.r.name, "x");
    MT_KR(raw_rpc(&longer, sizeof longer, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_LOOK_UP, MIG_BAD_ARGUMENTS);
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = ID_LOOK_UP;
    memset(nr.name, 'a', sizeof nr.name);
    MT_KR(raw_rpc(&nr, sizeof nr, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_LOOK_UP, MIG_BAD_ARGUMENTS);
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = ID_LOOK_UP;
    nr.head.msgh_bits = MACH_MSGH_BITS_COMPLEX; /* descriptor count 0 (from the NDR bytes) */
    MT_KR(raw_rpc(&nr, sizeof nr, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_LOOK_UP, MIG_BAD_ARGUMENTS);

    /* A register that carries a receive right: refused, and the right is destroyed. */
    mach_port_name_t victim = MACH_PORT_NULL, holder = new_port();
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &victim), KERN_SUCCESS);
    register_req rr;
    register_req_fill(&rr, victim, MACH_MSG_TYPE_MOVE_RECEIVE);
    strcpy(rr.name, "org.machports.test.raw.victim");
    MT_KR(raw_rpc(&rr, sizeof rr, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_REGISTER, MIG_BAD_ARGUMENTS);
    MT_EQ(type_of(victim), (mach_port_type_t)-1); /* moved away and destroyed */

    /* Out-of-line memory where a port belongs: refused, the memory is the server's to free. */
    ool_register_req orq;
    static char payload[64] = "not a port";
    ool_register_req_fill(&orq, payload, sizeof payload);
    strcpy(orq.name, "org.machports.test.raw.ool");
    MT_KR(raw_rpc(&orq, sizeof orq, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_REGISTER, MIG_BAD_ARGUMENTS);

    /* A well-formed raw register, and a raw look-up whose reply carries the send right. */
    register_req_fill(&rr, holder, MACH_MSG_TYPE_COPY_SEND);
    strcpy(rr.name, "org.machports.test.raw.holder");
    MT_KR(raw_rpc(&rr, sizeof rr, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_REGISTER, KERN_SUCCESS);
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = ID_LOOK_UP;
    strcpy(nr.name, "org.machports.test.raw.holder");
    MT_KR(raw_rpc(&nr, sizeof nr, reply, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, ID_LOOK_UP + 100);
    MT_CHECK(m.h.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(MACH_MSGH_BITS_LOCAL(m.h.msgh_bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_EQ(m.h.msgh_remote_port, MACH_PORT_NULL);
    MT_EQ(m.h.msgh_size, sizeof(mach_msg_base_t) + sizeof(mach_msg_port_descriptor_t));
    mach_msg_port_descriptor_t d;
    memcpy(&d, m.bytes + sizeof(mach_msg_base_t), sizeof d);
    MT_EQ(d.type, MACH_MSG_PORT_DESCRIPTOR);
    MT_EQ(d.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(d.name, holder);
    MT_KR(mach_port_deallocate(TASK, holder), KERN_SUCCESS);

    /* No reply port: the request is served and nothing comes back. */
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    nr.head.msgh_size = sizeof nr;
    nr.head.msgh_remote_port = bootstrap_port;
    nr.head.msgh_id = ID_LOOK_UP;
    strcpy(nr.name, "org.machports.test.raw.holder");
    MT_KR(mach_msg(&nr.head, MACH_SEND_MSG, sizeof nr, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(send_refs(holder), 1); /* the reply and its right were destroyed */

    /* A forged port-destroyed notification sent with a send right: dropped without a reply. */
    mach_port_name_t carried = new_port();
    port_destroyed_req pd;
    port_destroyed_req_fill(&pd, carried);
    /* Its unused reply right is destroyed: a send-once notification is all that comes. */
    MT_KR(raw_rpc(&pd, sizeof pd, reply, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    MT_EQ(type_of(carried), MACH_PORT_TYPE_DEAD_NAME); /* the receive right went with it */
    MT_KR(mach_port_deallocate(TASK, carried), KERN_SUCCESS);

    /* The server lives on. */
    mach_port_t found = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, "org.machports.test.raw.holder", &found),
          BOOTSTRAP_SUCCESS);
    MT_EQ(found, holder);
    MT_KR(mach_port_deallocate(TASK, found), KERN_SUCCESS);
    kill_port(holder);
    MT_KR(bootstrap_look_up(bootstrap_port, "org.machports.test.raw.holder", &found),
          BOOTSTRAP_UNKNOWN_SERVICE);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

/* ---- the MIG reply port after a failed call ---------------------------------------------------- */

MT_TEST(a_call_whose_body_fails_copy_in_gives_up_its_reply_port_so_the_next_call_gets_its_reply)
{
    mach_port_name_t service = new_port();
    MT_REQUIRE(service);
    MT_KR(bootstrap_register(bootstrap_port, "org.machports.test.reply.good", service),
          BOOTSTRAP_SUCCESS);

    /* A send that fails before anything is copied in keeps the thread's reply port. */
    mach_port_t reply = mig_get_reply_port();
    mach_port_t found = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(MACH_PORT_NULL, "org.machports.test.reply.good", &found),
          MACH_SEND_INVALID_DEST);
    MT_EQ(mig_get_reply_port(), reply);

    /*
     * A bad right in the body: the send-once reply right was made from the header and is
     * destroyed with the request, which queues a send-once notification on the reply port.
     * Kept, that port would hand the notification to the next call as its reply
     * (MIG_SERVER_DIED); a MIG stub gives it up after any error but the three above.
     */
    MT_KR(bootstrap_register(bootstrap_port, "org.machports.test.reply.bad", 0x7777703),
          MACH_SEND_INVALID_RIGHT);
    MT_EQ(type_of(reply), (mach_port_type_t)-1);
    MT_CHECK(mig_get_reply_port() != reply);
    MT_KR(bootstrap_look_up(bootstrap_port, "org.machports.test.reply.good", &found),
          BOOTSTRAP_SUCCESS);
    MT_EQ(found, service);
    MT_KR(mach_port_deallocate(TASK, found), KERN_SUCCESS);
    kill_port(service);
}

/* ---- TASK_BOOTSTRAP_PORT ---------------------------------------------------------------------- */

MT_TEST(special_port_calls_check_their_slot_and_right_as_xnu_does)
{
    mach_port_t p = MACH_PORT_NULL;
    MT_KR(task_get_special_port(TASK, TASK_KERNEL_PORT, &p), KERN_SUCCESS);
    MT_EQ(p, TASK);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    MT_KR(task_get_special_port(TASK, TASK_NAME_PORT, &p), KERN_INVALID_ARGUMENT);
    MT_KR(task_get_special_port(TASK, 99, &p), KERN_INVALID_ARGUMENT);
    MT_KR(task_get_special_port(MACH_PORT_NULL, TASK_BOOTSTRAP_PORT, &p), MACH_SEND_INVALID_DEST);
    p = 0x1234;
    MT_KR(task_get_special_port(TASK, TASK_DEBUG_CONTROL_PORT, &p), KERN_SUCCESS);
    MT_EQ(p, MACH_PORT_NULL); /* an empty slot */

    mach_port_name_t q = new_port();
    MT_KR(task_set_special_port(TASK, TASK_KERNEL_PORT, q), KERN_NO_ACCESS);
    MT_KR(task_set_special_port(TASK, TASK_HOST_PORT, q), KERN_NO_ACCESS);
    MT_KR(task_set_special_port(TASK, 99, q), KERN_INVALID_ARGUMENT);
    MT_EQ(send_refs(q), 1); /* refused: the copied right was released */
    MT_KR(task_set_special_port(TASK, TASK_BOOTSTRAP_PORT, 0x7777707), MACH_SEND_INVALID_RIGHT);

    /* The task-access slot is set once. */
    MT_KR(task_set_special_port(TASK, TASK_ACCESS_PORT, q), KERN_SUCCESS);
    MT_KR(task_set_special_port(TASK, TASK_ACCESS_PORT, q), KERN_NO_ACCESS);
    MT_KR(task_get_special_port(TASK, TASK_ACCESS_PORT, &p), KERN_SUCCESS);
    MT_EQ(p, q);
    MT_EQ(send_refs(q), 2);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);

    /* A slot whose port died hands out a dead name. */
    MT_KR(task_set_special_port(TASK, TASK_DEBUG_CONTROL_PORT, q), KERN_SUCCESS);
    kill_port(q);
    MT_KR(task_get_special_port(TASK, TASK_DEBUG_CONTROL_PORT, &p), KERN_SUCCESS);
    MT_EQ(p, MACH_PORT_DEAD);
    MT_KR(task_set_special_port(TASK, TASK_DEBUG_CONTROL_PORT, MACH_PORT_NULL), KERN_SUCCESS);
}

static const char *const SUBSET_ONLY = "org.machports.test.fork.subset-only";

MT_TEST(a_replaced_bootstrap_port_is_what_a_forked_child_inherits)
{
    mach_port_name_t requestor = new_port(), service = new_port();
    mach_port_t subset = MACH_PORT_NULL, now = MACH_PORT_NULL;
    MT_KR(bootstrap_subset(bootstrap_port, requestor, &subset), BOOTSTRAP_SUCCESS);
    MT_KR(bootstrap_register(subset, (char *)SUBSET_ONLY, service), BOOTSTRAP_SUCCESS);
    mach_port_t original = bootstrap_port;
    MT_KR(task_set_bootstrap_port(TASK, subset), KERN_SUCCESS);
    /* The slot changed; the bootstrap_port variable is set only when a process starts. */
    MT_KR(task_get_bootstrap_port(TASK, &now), KERN_SUCCESS);
    MT_EQ(now, subset);
    MT_KR(mach_port_deallocate(TASK, now), KERN_SUCCESS);
    MT_EQ(bootstrap_port, original);

    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* A new task: its bootstrap port is the subset, and it holds nothing else of ours. */
        int bad = 0;
        mach_port_t bp = MACH_PORT_NULL, found = MACH_PORT_NULL, parent = MACH_PORT_NULL;
        bad |= task_get_bootstrap_port(mach_task_self(), &bp) != KERN_SUCCESS;
        bad |= bp != bootstrap_port || !MACH_PORT_VALID(bp);
        bad |= (bootstrap_look_up(bootstrap_port, SUBSET_ONLY, &found) != KERN_SUCCESS) << 1;
        bad |= (bootstrap_parent(bootstrap_port, &parent) != KERN_SUCCESS) << 2;
        bad |= (parent == bootstrap_port) << 3;
        mach_port_name_array_t names = NULL;
        mach_port_type_array_t types = NULL;
        mach_msg_type_number_t nn = 0, nt = 0;
        bad |= (mach_port_names(mach_task_self(), &names, &nn, &types, &nt) != KERN_SUCCESS) << 4;
        /* task port, bootstrap port, the MIG reply port, found, parent */
        bad |= (nn != 5) << 5;
        _exit(bad);
    }
    int st = -1;
    MT_REQUIRE(pid > 0 && waitpid(pid, &st, 0) == pid);
    MT_CHECK(WIFEXITED(st));
    MT_EQ(WEXITSTATUS(st), 0);

    /* Put the original back; the subset ends with its requestor. */
    MT_KR(task_set_bootstrap_port(TASK, original), KERN_SUCCESS);
    MT_KR(task_get_bootstrap_port(TASK, &now), KERN_SUCCESS);
    MT_EQ(now, original);
    MT_KR(mach_port_deallocate(TASK, now), KERN_SUCCESS);
    kill_port(requestor);
    MT_EQ(type_of(subset), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, subset), KERN_SUCCESS);
    kill_port(service);
}

static int run_mode(const char *mode)
{
    if (strcmp(mode, "declared") == 0)
        return mode_declared();
    return 2;
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1)
        return run_mode(argv[1]);
    return mt_run_all(argv[0]);
}
