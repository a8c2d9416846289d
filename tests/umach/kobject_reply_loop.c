/*
 * kobject_reply_loop.c — a reply from umach's kernel-object server that carries a receive
 * right goes through the same loop check as any message (Linux only: the bootstrap server is
 * umach's kernel object; launchd is a process on Darwin).
 *
 * A declared service's port P is held by the bootstrap server. A client queues the receive
 * right of a port R on P, then checks the service in with a send-once right to R as the reply
 * port: the reply would put P's receive right into R's queue while R travels in P's. The reply
 * is destroyed instead; P's port-destroyed request brings it back to the bootstrap server, so
 * the service can be checked in again, with R still queued on it.
 *
 * UMACH_SERVICES is read when the process starts: the test runs this program again with it.
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/mach.h>
#include <mach/ndr.h>
#include <servers/bootstrap.h>

#define TASK mach_task_self()
#define SERVICE "org.machports.test.loop"
#define ID_CHECK_IN 402

static mach_port_type_t type_of(mach_port_name_t name)
{
    mach_port_type_t t = 0;
    if (mach_port_type(TASK, name, &t) != KERN_SUCCESS)
        return (mach_port_type_t)-1;
    return t;
}

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_port_descriptor_t d;
} carry_msg;

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    name_t name;
} name_req;
#pragma pack(pop)

static int mode_loop(void)
{
    mach_port_t client = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, SERVICE, &client), BOOTSTRAP_SUCCESS);
    mach_port_name_t r = MACH_PORT_NULL, so = MACH_PORT_NULL;
    mach_msg_type_name_t t;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &r), KERN_SUCCESS);
    MT_KR(mach_port_extract_right(TASK, r, MACH_MSG_TYPE_MAKE_SEND_ONCE, &so, &t), KERN_SUCCESS);

    /* R's receive right goes into P's queue. */
    carry_msg c;
    memset(&c, 0, sizeof c);
    c.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    c.h.msgh_size = sizeof c;
    c.h.msgh_remote_port = client;
    c.b.msgh_descriptor_count = 1;
    c.d.name = r;
    c.d.disposition = MACH_MSG_TYPE_MOVE_RECEIVE;
    c.d.type = MACH_MSG_PORT_DESCRIPTOR;
    MT_KR(mach_msg(&c.h, MACH_SEND_MSG, sizeof c, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);

    /* Check in with the send-once right to R as the reply port. */
    name_req q;
    memset(&q, 0, sizeof q);
    q.head.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE);
    q.head.msgh_size = sizeof q;
    q.head.msgh_remote_port = bootstrap_port;
    q.head.msgh_local_port = so;
    q.head.msgh_id = ID_CHECK_IN;
    q.ndr = NDR_record;
    strcpy(q.name, SERVICE);
    MT_KR(mach_msg(&q.head, MACH_SEND_MSG, sizeof q, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(type_of(so), (mach_port_type_t)-1); /* the send-once right went with the request */

    /* The looping reply was destroyed and P went back to the server: check in again. */
    mach_port_t server = MACH_PORT_NULL;
    MT_KR(bootstrap_check_in(bootstrap_port, SERVICE, &server), BOOTSTRAP_SUCCESS);
    MT_EQ(server, client);
    union {
        carry_msg c;
        uint8_t bytes[256];
    } m;
    memset(&m, 0, sizeof m);
    MT_KR(mach_msg(&m.c.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, server, 1000,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    mach_port_name_t back = m.c.d.name;
    MT_EQ(type_of(back), MACH_PORT_TYPE_RECEIVE);
    MT_KR(mach_port_mod_refs(TASK, back, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, server, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, server), KERN_SUCCESS);
    return mt_current_failed ? 1 : 0;
}

static const char *self_path;

MT_TEST(a_bootstrap_reply_that_would_make_a_loop_is_destroyed_and_the_service_comes_back)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        putenv((char *)"UMACH_SERVICES=" SERVICE);
        char *args[] = {(char *)self_path, (char *)"loop", NULL};
        execv(self_path, args);
        _exit(127);
    }
    int st = -1;
    MT_EQ(waitpid(pid, &st, 0), pid);
    MT_CHECK(WIFEXITED(st));
    MT_EQ(WEXITSTATUS(st), 0);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1 && strcmp(argv[1], "loop") == 0)
        return mode_loop();
    return mt_run_all(argv[0]);
}
