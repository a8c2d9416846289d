/*
 * task_suspend.c — runs inside a world (ctest: umach-run -- world_task_suspend): task_suspend
 * on another task's port stops that task until as many task_resume calls came, as XNU holds
 * it: a suspended peer answers no message, task_info's suspend_count says how many holds it
 * has, each task_suspend gives the caller one send right to the peer's resume port (the
 * suspension token: one more name in its space, one more uref per call) that task_resume takes
 * back, and a task_resume with no hold left is KERN_FAILURE. A suspender that ends without
 * resuming lets the task run again (its tokens went with its space). task_suspend2's
 * suspension is its own: its token is a send-once right, and task_resume2 through it, or the
 * token destroyed unused, ends just that suspension. task_terminate ends no task that has a
 * process. Each test forks its peer (its bootstrap slot our port, w_fork_with), which lends us
 * its task port and answers pings.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <mach/mach.h>

#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TASK mach_task_self()

/* A header and one port descriptor: hellos and the task port handed to a suspender. */
typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
} su_msg;

typedef union {
    su_msg m;
    uint8_t bytes[256];
} su_buf;

enum { SU_HELLO = 100, SU_PING = 200, SU_PONG = 201, SU_QUIT = 202, SU_DONE = 300 };

/* How long a suspended peer is watched for an answer it must not give. */
enum { SU_SILENT_MS = 300 };

static mach_msg_return_t su_send(mach_port_t to, mach_msg_type_name_t to_disp, mach_port_t reply,
                                 mach_msg_type_name_t reply_disp, mach_msg_id_t id,
                                 mach_port_t right, mach_msg_type_name_t right_disp)
{
    su_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS_SET(to_disp, reply_disp, 0,
                                       MACH_PORT_VALID(right) ? MACH_MSGH_BITS_COMPLEX : 0);
    m.h.msgh_size = MACH_PORT_VALID(right) ? sizeof m : sizeof m.h;
    m.h.msgh_remote_port = to;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = id;
    if (MACH_PORT_VALID(right)) {
        m.body.msgh_descriptor_count = 1;
        m.port.name = right;
        m.port.disposition = right_disp;
        m.port.type = MACH_MSG_PORT_DESCRIPTOR;
    }
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, m.h.msgh_size, 0, MACH_PORT_NULL,
                    10000, MACH_PORT_NULL);
}

static mach_msg_return_t su_receive(mach_port_t port, su_buf *b, mach_msg_timeout_t ms)
{
    memset(b, 0, sizeof *b);
    return mach_msg(&b->m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *b, port, ms,
                    MACH_PORT_NULL);
}

/* task_info's suspend_count of `task`, or -1. */
static int su_count(mach_port_t task)
{
    mach_task_basic_info_data_t info;
    mach_msg_type_number_t n = MACH_TASK_BASIC_INFO_COUNT;
    if (task_info(task, MACH_TASK_BASIC_INFO, (task_info_t)&info, &n) != KERN_SUCCESS)
        return -1;
    return info.suspend_count;
}

/* ---- the peer: answers each ping with a pong until told to quit ---------------------------- */

typedef struct {
    pid_t pid;
    mach_port_t home; /* ours: the peer's hello and its pongs come here (receive + send) */
    mach_port_t task; /* a send right to its task port */
    mach_port_t port; /* a send right to its own port */
} su_peer;

static int su_serve(mach_port_t mine)
{
    for (;;) {
        su_buf b;
        if (su_receive(mine, &b, 60000) != MACH_MSG_SUCCESS)
            return 91;
        if (b.m.h.msgh_id == SU_QUIT)
            return 0;
        if (b.m.h.msgh_id == SU_PING &&
            su_send(b.m.h.msgh_remote_port, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_PORT_NULL, 0,
                    SU_PONG, MACH_PORT_NULL, 0) != MACH_MSG_SUCCESS)
            return 92;
    }
}

/* Fork a peer that runs `role` with its own port, after sending us its task port: 0 or -1. */
static int su_peer_start(su_peer *p, int (*role)(mach_port_t mine))
{
    memset(p, 0, sizeof *p);
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p->home) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, p->home, p->home, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return -1;
    p->pid = w_fork_with(p->home);
    if (p->pid < 0)
        return -1;
    if (p->pid == 0) {
        mach_port_t mine = MACH_PORT_NULL;
        if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &mine) != KERN_SUCCESS ||
            su_send(bootstrap_port, MACH_MSG_TYPE_COPY_SEND, mine, MACH_MSG_TYPE_MAKE_SEND,
                    SU_HELLO, TASK, MACH_MSG_TYPE_COPY_SEND) != MACH_MSG_SUCCESS)
            _exit(90);
        _exit(role(mine));
    }
    su_buf b;
    if (su_receive(p->home, &b, 10000) != MACH_MSG_SUCCESS || b.m.h.msgh_id != SU_HELLO)
        return -1;
    p->task = b.m.port.name;
    p->port = b.m.h.msgh_remote_port;
    return 0;
}

/* Wait for a pong (of a ping sent before). */
static mach_msg_return_t su_pong(su_peer *p, mach_msg_timeout_t ms)
{
    su_buf b;
    mach_msg_return_t mr = su_receive(p->home, &b, ms);
    if (mr == MACH_MSG_SUCCESS && b.m.h.msgh_id != SU_PONG)
        mr = MACH_RCV_INVALID_DATA; /* not what a peer sends */
    return mr;
}

/* Ping the peer: MACH_MSG_SUCCESS once its pong came within `ms`. */
static mach_msg_return_t su_ping(su_peer *p, mach_msg_timeout_t ms)
{
    mach_msg_return_t mr = su_send(p->port, MACH_MSG_TYPE_COPY_SEND, p->home,
                                   MACH_MSG_TYPE_MAKE_SEND_ONCE, SU_PING, MACH_PORT_NULL, 0);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    return su_pong(p, ms);
}

/* Tell the peer to quit; its exit status. */
static int su_peer_end(su_peer *p)
{
    (void)su_send(p->port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, SU_QUIT, MACH_PORT_NULL,
                  0);
    int status = w_wait_status(p->pid);
    (void)mach_port_deallocate(TASK, p->task);
    (void)mach_port_deallocate(TASK, p->port);
    (void)mach_port_destruct(TASK, p->home, -1, 0);
    return status;
}

MT_TEST(a_suspended_task_answers_nothing_until_every_hold_is_resumed)
{
    su_peer p;
    MT_REQUIRE(su_peer_start(&p, su_serve) == 0);
    MT_KR(su_ping(&p, 10000), MACH_MSG_SUCCESS);
    MT_EQ(su_count(p.task), 0);
    mach_msg_type_number_t names = w_name_count();

    /* One hold: the peer stops, and we hold one more name (the suspension token). */
    MT_KR(task_suspend(p.task), KERN_SUCCESS);
    MT_EQ(su_count(p.task), 1);
    MT_EQ(w_name_count(), names + 1);
    MT_KR(su_ping(&p, SU_SILENT_MS), MACH_RCV_TIMED_OUT);

    /* A second hold: the same token name, and one resume is not enough. */
    MT_KR(task_suspend(p.task), KERN_SUCCESS);
    MT_EQ(su_count(p.task), 2);
    MT_EQ(w_name_count(), names + 1);
    MT_KR(task_resume(p.task), KERN_SUCCESS);
    MT_EQ(su_count(p.task), 1);
    MT_EQ(w_name_count(), names + 1);
    MT_KR(su_pong(&p, SU_SILENT_MS), MACH_RCV_TIMED_OUT);

    /* The last resume: the pong of the ping it kept waiting comes, and the token is gone. */
    MT_KR(task_resume(p.task), KERN_SUCCESS);
    MT_KR(su_pong(&p, 10000), MACH_MSG_SUCCESS);
    MT_EQ(su_count(p.task), 0);
    MT_EQ(w_name_count(), names);
    MT_KR(su_ping(&p, 10000), MACH_MSG_SUCCESS);

    /* No hold left: KERN_FAILURE, and nothing changes. */
    MT_KR(task_resume(p.task), KERN_FAILURE);
    MT_EQ(w_name_count(), names);
    /* Nor does task_terminate end another task that has a process (XNU: KERN_FAILURE). */
    MT_KR(task_terminate(p.task), KERN_FAILURE);
    MT_KR(su_ping(&p, 10000), MACH_MSG_SUCCESS);
    MT_EQ(su_peer_end(&p), 0);
}

MT_TEST(a_task_suspend2_token_ends_its_own_suspension_when_used_or_destroyed)
{
    su_peer p;
    MT_REQUIRE(su_peer_start(&p, su_serve) == 0);
    (void)mig_get_reply_port(); /* task_resume2 is a MIG call: its reply port is no change */
    mach_msg_type_number_t names = w_name_count();
    task_suspension_token_t token = MACH_PORT_NULL;
    MT_KR(task_suspend2(p.task, &token), KERN_SUCCESS);
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, token, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(su_count(p.task), 1);
    MT_KR(su_ping(&p, SU_SILENT_MS), MACH_RCV_TIMED_OUT);
    /* With a task_suspend on top, task_resume2 ends only its own suspension. */
    MT_KR(task_suspend(p.task), KERN_SUCCESS);
    MT_EQ(su_count(p.task), 2);
    MT_KR(task_resume2(token), KERN_SUCCESS);
    MT_EQ(su_count(p.task), 1);
    MT_KR(su_pong(&p, SU_SILENT_MS), MACH_RCV_TIMED_OUT);
    MT_KR(task_resume(p.task), KERN_SUCCESS);
    MT_KR(su_pong(&p, 10000), MACH_MSG_SUCCESS);
    MT_EQ(w_name_count(), names);

    /* A token destroyed unused ends its suspension too. */
    MT_KR(task_suspend2(p.task, &token), KERN_SUCCESS);
    MT_KR(su_ping(&p, SU_SILENT_MS), MACH_RCV_TIMED_OUT);
    MT_KR(mach_port_mod_refs(TASK, token, MACH_PORT_RIGHT_SEND_ONCE, -1), KERN_SUCCESS);
    MT_KR(su_pong(&p, 10000), MACH_MSG_SUCCESS);
    MT_EQ(su_count(p.task), 0);
    MT_EQ(w_name_count(), names);
    MT_KR(task_resume2(MACH_PORT_NULL), MACH_SEND_INVALID_DEST);
    MT_EQ(su_peer_end(&p), 0);
}

/* A peer that acts on another task: takes the task port it is sent, calls `act` on it, says
 * what that answered (SU_DONE + the code), and ends when told to (keeping what it holds). */
static int su_act_on_task(mach_port_t mine, kern_return_t (*act)(mach_port_t task))
{
    su_buf b;
    if (su_receive(mine, &b, 10000) != MACH_MSG_SUCCESS)
        return 93;
    kern_return_t kr = act(b.m.port.name);
    (void)su_send(bootstrap_port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, SU_DONE + kr,
                  MACH_PORT_NULL, 0);
    if (su_receive(mine, &b, 60000) != MACH_MSG_SUCCESS || b.m.h.msgh_id != SU_QUIT)
        return 94;
    return 0;
}

/* Send an acting peer (su_act_on_task) `task` to act on: the id of its answer (SU_DONE + the
 * call's code), or -1 when the order or the answer did not go through. */
static mach_msg_id_t su_order(su_peer *actor, mach_port_t task)
{
    if (su_send(actor->port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, SU_PING, task,
                MACH_MSG_TYPE_COPY_SEND) != MACH_MSG_SUCCESS)
        return -1;
    su_buf b;
    return su_receive(actor->home, &b, 10000) == MACH_MSG_SUCCESS ? b.m.h.msgh_id : -1;
}

/* Tell an acting peer to end, keeping what it holds: its exit status (-1: not told), and our
 * names for it released. */
static int su_actor_end(su_peer *actor)
{
    int status = -1;
    if (su_send(actor->port, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, 0, SU_QUIT, MACH_PORT_NULL,
                0) == MACH_MSG_SUCCESS)
        status = w_wait_status(actor->pid);
    (void)mach_port_deallocate(TASK, actor->task);
    (void)mach_port_deallocate(TASK, actor->port);
    (void)mach_port_destruct(TASK, actor->home, -1, 0);
    return status;
}

/* A suspender: suspends the task and ends holding its token. */
static int su_suspender(mach_port_t mine)
{
    return su_act_on_task(mine, task_suspend);
}

MT_TEST(a_task_runs_again_when_its_suspender_ends_without_resuming)
{
    su_peer p, s;
    MT_REQUIRE(su_peer_start(&p, su_serve) == 0);
    MT_REQUIRE(su_peer_start(&s, su_suspender) == 0);
    MT_EQ(su_order(&s, p.task), SU_DONE + KERN_SUCCESS);
    MT_EQ(su_count(p.task), 1);
    MT_KR(su_ping(&p, SU_SILENT_MS), MACH_RCV_TIMED_OUT);
    /* The suspender ends: its space goes, and with it the last send right to the resume port. */
    MT_EQ(su_actor_end(&s), 0);
    MT_KR(su_pong(&p, 10000), MACH_MSG_SUCCESS);
    MT_EQ(su_count(p.task), 0);
    MT_EQ(su_peer_end(&p), 0);
}

/* Resume `task` twice, holding no token (an out-of-band resume, as XNU allows). */
static kern_return_t su_resume_twice(mach_port_t task)
{
    kern_return_t kr = task_resume(task);
    return kr == KERN_SUCCESS ? task_resume(task) : kr;
}

/* A resumer: resumes the task twice. */
static int su_resumer(mach_port_t mine)
{
    return su_act_on_task(mine, su_resume_twice);
}

MT_TEST(a_resume_that_finds_no_hold_takes_back_every_token_of_the_caller)
{
    su_peer p, r;
    MT_REQUIRE(su_peer_start(&p, su_serve) == 0);
    MT_REQUIRE(su_peer_start(&r, su_resumer) == 0);
    mach_msg_type_number_t names = w_name_count();
    MT_KR(task_suspend(p.task), KERN_SUCCESS);
    MT_KR(task_suspend(p.task), KERN_SUCCESS);
    MT_EQ(w_name_count(), names + 1);
    /* Another task resumes it twice, without tokens: no hold is left, ours stay named. */
    MT_EQ(su_order(&r, p.task), SU_DONE + KERN_SUCCESS);
    MT_EQ(su_count(p.task), 0);
    MT_KR(su_ping(&p, 10000), MACH_MSG_SUCCESS);
    MT_EQ(w_name_count(), names + 1);
    /* Our resume finds none: KERN_FAILURE, and the token goes, both its urefs. */
    MT_KR(task_resume(p.task), KERN_FAILURE);
    MT_EQ(w_name_count(), names);
    MT_EQ(su_actor_end(&r), 0);
    MT_EQ(su_peer_end(&p), 0);
}

MT_TEST(a_task_that_ended_while_suspended_leaves_its_suspender_a_dead_name)
{
    su_peer p;
    MT_REQUIRE(su_peer_start(&p, su_serve) == 0);
    mach_msg_type_number_t names = w_name_count();
    MT_KR(task_suspend(p.task), KERN_SUCCESS);
    MT_EQ(w_name_count(), names + 1);
    MT_EQ(kill(p.pid, SIGKILL), 0);
    MT_EQ(w_wait_status(p.pid), 128 + SIGKILL);
    /* The peer's task is gone once umachd has seen its process end: its task port is a dead
     * name, and task_resume on it is no task call (MACH_SEND_INVALID_DEST). */
    mach_port_type_t type = 0;
    for (int i = 0; i < 5000; i++) {
        MT_KR(mach_port_type(TASK, p.task, &type), KERN_SUCCESS);
        if (type == MACH_PORT_TYPE_DEAD_NAME)
            break;
        usleep(2000);
    }
    MT_EQ(type, MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(task_resume(p.task), MACH_SEND_INVALID_DEST);
    /* The token is a dead name now, still ours to release, as XNU's destroyed resume port. */
    MT_EQ(w_name_count(), names + 1);
    (void)mach_port_deallocate(TASK, p.task);
    (void)mach_port_deallocate(TASK, p.port);
    (void)mach_port_destruct(TASK, p.home, -1, 0);
}

MT_MAIN()
