/*
 * two_tasks.c — runs inside a world (ctest: umach-run -- world_two_tasks): two processes are
 * two tasks of one umachd and talk both ways. The parent registers a port with the world's
 * bootstrap server; a forked child (a new task, none of the parent's rights) looks it up,
 * sends a request carrying a send right to a port of its own and a receive right, and gets
 * the reply through its send-once right and a second message through the send right it gave.
 * When the child exits its task dies: the parent's dead-name request on the child's port
 * fires, and the receive right the child handed over keeps working in the parent.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <mach/mach.h>
#include <mach/notify.h>
#include <servers/bootstrap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define TASK mach_task_self()

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t give_send; /* a send right to the child's port */
    mach_msg_port_descriptor_t give_recv; /* a receive right the parent keeps */
    char text[32];
} tt_request;

typedef struct {
    mach_msg_header_t h;
    char text[32];
} tt_note;

typedef union {
    tt_request req;
    tt_note note;
    mach_dead_name_notification_t dead;
    uint8_t bytes[512];
} tt_buf;

static mach_msg_return_t tt_receive(mach_port_t port, tt_buf *b, mach_msg_timeout_t ms)
{
    memset(b, 0xA5, sizeof *b);
    return mach_msg(&b->req.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *b, port, ms,
                    MACH_PORT_NULL);
}

static mach_msg_return_t tt_send_note(mach_port_t to, mach_msg_type_name_t disp, int id,
                                      const char *text)
{
    tt_note n;
    memset(&n, 0, sizeof n);
    n.h.msgh_bits = MACH_MSGH_BITS(disp, 0);
    n.h.msgh_size = sizeof n;
    n.h.msgh_remote_port = to;
    n.h.msgh_id = id;
    snprintf(n.text, sizeof n.text, "%s", text);
    return mach_msg(&n.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof n, 0, MACH_PORT_NULL, 5000,
                    MACH_PORT_NULL);
}

MT_TEST(the_process_is_a_task_of_the_world_it_was_started_in)
{
    const char *path = getenv("UMACH_WORLD");
    MT_REQUIRE(path && *path);
    /* Our own calls reach the world: a port made here is a name in our task's space. */
    mach_port_t p = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    /* The world counts us: a hand-made connection makes one more task than there were. */
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    MT_REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    w_hello_reply h;
    MT_REQUIRE(w_hello(fd, &h) == 0);
    uint32_t tasks = 0, names = 0;
    MT_REQUIRE(w_stats2(fd, &tasks, &names) == 0);
    MT_EQ(tasks, 2u); /* this process and the hand-made one */
    close(fd);
    /* The audit token is the kernel's word about us. */
    audit_token_t tok;
    mach_msg_type_number_t cnt = TASK_AUDIT_TOKEN_COUNT;
    MT_KR(task_info(TASK, TASK_AUDIT_TOKEN, (task_info_t)&tok, &cnt), KERN_SUCCESS);
    MT_EQ(tok.val[5], (unsigned)getpid());
    MT_EQ(tok.val[1], (unsigned)geteuid());
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

/* The child: look the parent up, talk, check the answers; its exit status says how it went. */
static int tt_child(const char *service)
{
    mach_port_t server = MACH_PORT_NULL;
    if (bootstrap_look_up(bootstrap_port, service, &server) != KERN_SUCCESS)
        return 10;
    mach_port_t mine = MACH_PORT_NULL, reply = MACH_PORT_NULL, gift = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &mine) != KERN_SUCCESS ||
        mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &reply) != KERN_SUCCESS ||
        mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &gift) != KERN_SUCCESS)
        return 11;
    tt_request r;
    memset(&r, 0, sizeof r);
    r.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0,
                                       MACH_MSGH_BITS_COMPLEX);
    r.h.msgh_size = sizeof r;
    r.h.msgh_remote_port = server;
    r.h.msgh_local_port = reply;
    r.h.msgh_id = 100;
    r.body.msgh_descriptor_count = 2;
    r.give_send = (mach_msg_port_descriptor_t){.name = mine,
                                               .disposition = MACH_MSG_TYPE_MAKE_SEND,
                                               .type = MACH_MSG_PORT_DESCRIPTOR};
    r.give_recv = (mach_msg_port_descriptor_t){.name = gift,
                                               .disposition = MACH_MSG_TYPE_MOVE_RECEIVE,
                                               .type = MACH_MSG_PORT_DESCRIPTOR};
    snprintf(r.text, sizeof r.text, "hello from %d", (int)getpid());
    if (mach_msg(&r.h, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL) !=
        MACH_MSG_SUCCESS)
        return 12;
    mach_port_type_t type = 0;
    if (mach_port_type(TASK, gift, &type) != KERN_INVALID_NAME)
        return 13; /* the receive right left with the message */
    tt_buf b;
    if (tt_receive(reply, &b, 10000) != MACH_MSG_SUCCESS || b.note.h.msgh_id != 200 ||
        strcmp(b.note.text, "reply") != 0)
        return 14;
    if (tt_receive(mine, &b, 10000) != MACH_MSG_SUCCESS || b.note.h.msgh_id != 300 ||
        strcmp(b.note.text, "and more") != 0)
        return 15;
    return 0;
}

MT_TEST(two_processes_talk_both_ways_with_rights_in_messages_and_a_dying_task_notifies)
{
    w_service svc;
    pid_t kid = w_service_fork(&svc, "two_tasks", tt_child);
    MT_REQUIRE(kid > 0);

    tt_buf b;
    MT_KR(tt_receive(svc.port, &b, 10000), MACH_MSG_SUCCESS);
    MT_EQ(b.req.h.msgh_id, 100);
    MT_EQ(MACH_MSGH_BITS_REMOTE(b.req.h.msgh_bits), (unsigned)MACH_MSG_TYPE_PORT_SEND_ONCE);
    MT_REQUIRE(b.req.h.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(b.req.body.msgh_descriptor_count, 2u);
    char want[32];
    snprintf(want, sizeof want, "hello from %d", (int)kid);
    MT_CHECK(strcmp(b.req.text, want) == 0);
    mach_port_t reply = b.req.h.msgh_remote_port;
    mach_port_t theirs = b.req.give_send.name;
    mach_port_t gift = b.req.give_recv.name;
    MT_EQ(b.req.give_send.disposition, (unsigned)MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(b.req.give_recv.disposition, (unsigned)MACH_MSG_TYPE_PORT_RECEIVE);
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, gift, &type), KERN_SUCCESS);
    MT_EQ(type & MACH_PORT_TYPE_RECEIVE, MACH_PORT_TYPE_RECEIVE);

    /* A dead-name request on the child's port: its task's death must fire it. */
    mach_port_t notify = MACH_PORT_NULL, previous = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &notify), KERN_SUCCESS);
    MT_KR(mach_port_request_notification(TASK, theirs, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                         MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous),
          KERN_SUCCESS);

    MT_KR(tt_send_note(reply, MACH_MSG_TYPE_MOVE_SEND_ONCE, 200, "reply"), MACH_MSG_SUCCESS);
    MT_KR(tt_send_note(theirs, MACH_MSG_TYPE_COPY_SEND, 300, "and more"), MACH_MSG_SUCCESS);

    int st = -1;
    MT_REQUIRE(waitpid(kid, &st, 0) == kid);
    MT_CHECK(WIFEXITED(st));
    MT_EQ(WEXITSTATUS(st), 0);

    MT_KR(tt_receive(notify, &b, 10000), MACH_MSG_SUCCESS);
    MT_EQ(b.dead.not_header.msgh_id, MACH_NOTIFY_DEAD_NAME);
    MT_EQ(b.dead.not_port, theirs);
    MT_KR(mach_port_type(TASK, theirs, &type), KERN_SUCCESS);
    MT_EQ(type & MACH_PORT_TYPE_DEAD_NAME, MACH_PORT_TYPE_DEAD_NAME);

    /* The receive right the child gave outlives it. */
    mach_port_t gift_send = gift;
    MT_KR(mach_port_insert_right(TASK, gift, gift, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(tt_send_note(gift_send, MACH_MSG_TYPE_COPY_SEND, 400, "kept"), MACH_MSG_SUCCESS);
    MT_KR(tt_receive(gift, &b, 10000), MACH_MSG_SUCCESS);
    MT_EQ(b.note.h.msgh_id, 400);

    MT_KR(mach_port_mod_refs(TASK, theirs, MACH_PORT_RIGHT_DEAD_NAME, -2), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, gift, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, gift), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, notify, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(w_service_close(&svc), KERN_SUCCESS);
}

MT_MAIN()
