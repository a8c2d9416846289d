/*
 * msg-instructions.c — the drivers that scripts/msg-instructions.sh runs under
 * valgrind --tool=callgrind to count the instructions of one message (docs/umach-internals.md
 * "Performance"). Not a test and not a benchmark: it only makes N messages of one shape.
 *
 *   msg-instructions self N     one thread sends a 64-byte COPY_SEND message to its own port
 *                               and receives it, one mach_msg(SEND|RCV) per message
 *   msg-instructions rpc N      one thread: a request (MAKE_SEND_ONCE reply) and its reply
 *                               (MOVE_SEND_ONCE), two mach_msg(SEND|RCV) calls per round trip
 *   msg-instructions oneway N   two threads: one sends 64-byte one-way messages (queue limit
 *                               1024), the other receives them, separate calls (bench tput)
 *   msg-instructions rpc2 N     two threads, the bench's cross-CPU RPC: a client's
 *                               mach_msg(SEND|RCV) of a 32-byte request (MAKE_SEND_ONCE reply),
 *                               a server's reply (MOVE_SEND_ONCE) and receive of the next
 *                               request in one call; every receive waits (the script runs it
 *                               with UMACH_SPIN_US=0: valgrind runs one thread at a time)
 *
 * A Mach error ends it with status 1.
 */
#include <mach/mach.h>
#include <mach/mach_port.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct msg64 {
    mach_msg_header_t h;
    uint64_t seq;
    uint8_t pad[56];
} msg64;

typedef struct buf64 {
    msg64 m;
    mach_msg_max_trailer_t trailer;
} buf64;

static void check(kern_return_t kr, const char *what)
{
    if (kr != KERN_SUCCESS) {
        fprintf(stderr, "msg-instructions: %s: 0x%x\n", what, (unsigned)kr);
        exit(1);
    }
}

static mach_port_t new_port(int make_send)
{
    mach_port_t p;
    check(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p), "allocate");
    if (make_send)
        check(mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND), "insert");
    return p;
}

static size_t n;
static mach_port_t port;

/* The header of a 64-byte message (mach_msg's receive rewrites it, so each send sets it again). */
static void header(mach_msg_header_t *h, mach_msg_bits_t bits, mach_msg_size_t size,
                   mach_port_t remote, mach_port_t local, mach_msg_id_t id)
{
    h->msgh_bits = bits;
    h->msgh_size = size;
    h->msgh_remote_port = remote;
    h->msgh_local_port = local;
    h->msgh_id = id;
}

static void self(void)
{
    msg64 m;
    buf64 b;
    memset(&m, 0, sizeof m);
    for (size_t i = 0; i < n; i++) {
        header(&m.h, MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), sizeof m, port, MACH_PORT_NULL, 1);
        m.seq = i;
        check(mach_msg(&m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof m, sizeof b, port,
                       MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL),
              "send+receive");
        memcpy(&b, &m, sizeof m);
    }
}

static void rpc(void)
{
    mach_port_t reply = new_port(0);
    buf64 b;
    for (size_t i = 0; i < n; i++) {
        memset(&b.m.h, 0, sizeof b.m.h);
        header(&b.m.h, MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
               sizeof b.m, port, reply, 1);
        check(mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m, sizeof b, port,
                       MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL),
              "request");
        header(&b.m.h, MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0), sizeof b.m,
               b.m.h.msgh_remote_port, MACH_PORT_NULL, 2);
        check(mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m, sizeof b, reply,
                       MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL),
              "reply");
    }
    check(mach_port_mod_refs(mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1), "destroy");
}

static void *receiver(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < n; i++) {
        buf64 b;
        check(mach_msg(&b.m.h, MACH_RCV_MSG, 0, sizeof b, port, MACH_MSG_TIMEOUT_NONE,
                       MACH_PORT_NULL),
              "receive");
        if (b.m.seq != i) {
            fprintf(stderr, "msg-instructions: wrong message\n");
            exit(1);
        }
    }
    return NULL;
}

static void oneway(void)
{
    mach_port_limits_t lim = {.mpl_qlimit = 1024};
    check(mach_port_set_attributes(mach_task_self(), port, MACH_PORT_LIMITS_INFO,
                                   (mach_port_info_t)&lim, MACH_PORT_LIMITS_INFO_COUNT),
          "qlimit");
    pthread_t t;
    if (pthread_create(&t, NULL, receiver, NULL) != 0)
        exit(1);
    msg64 m;
    memset(&m, 0, sizeof m);
    for (size_t i = 0; i < n; i++) {
        header(&m.h, MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0), sizeof m, port, MACH_PORT_NULL, 1);
        m.seq = i;
        check(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                       MACH_PORT_NULL),
              "send");
    }
    pthread_join(t, NULL);
}

typedef struct msg32 {
    mach_msg_header_t h;
    uint64_t seq;
} msg32;

typedef struct buf32 {
    msg32 m;
    mach_msg_max_trailer_t trailer;
} buf32;

static void *rpc2_server(void *arg)
{
    (void)arg;
    buf32 b;
    check(mach_msg(&b.m.h, MACH_RCV_MSG, 0, sizeof b, port, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL),
          "server receive");
    for (size_t i = 0; i < n; i++) {
        if (b.m.seq != i) {
            fprintf(stderr, "msg-instructions: wrong request\n");
            exit(1);
        }
        int last = i + 1 == n;
        header(&b.m.h, MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0), sizeof b.m,
               b.m.h.msgh_remote_port, MACH_PORT_NULL, 2);
        b.m.h.msgh_voucher_port = MACH_PORT_NULL;
        check(mach_msg(&b.m.h, MACH_SEND_MSG | (last ? 0 : MACH_RCV_MSG), sizeof b.m,
                       last ? 0 : sizeof b, last ? MACH_PORT_NULL : port, MACH_MSG_TIMEOUT_NONE,
                       MACH_PORT_NULL),
              "server reply");
    }
    return NULL;
}

static void rpc2(void)
{
    mach_port_t reply = new_port(0);
    pthread_t t;
    if (pthread_create(&t, NULL, rpc2_server, NULL) != 0)
        exit(1);
    buf32 b;
    for (size_t i = 0; i < n; i++) {
        header(&b.m.h, MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
               sizeof b.m, port, reply, 1);
        b.m.h.msgh_voucher_port = MACH_PORT_NULL;
        b.m.seq = i;
        check(mach_msg(&b.m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof b.m, sizeof b, reply,
                       MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL),
              "request");
        if (b.m.seq != i || b.m.h.msgh_id != 2) {
            fprintf(stderr, "msg-instructions: wrong reply\n");
            exit(1);
        }
    }
    pthread_join(t, NULL);
    check(mach_port_mod_refs(mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1), "destroy");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: msg-instructions self|rpc|oneway|rpc2 N\n");
        return 2;
    }
    n = strtoul(argv[2], NULL, 10);
    port = new_port(1);
    if (strcmp(argv[1], "self") == 0)
        self();
    else if (strcmp(argv[1], "rpc") == 0)
        rpc();
    else if (strcmp(argv[1], "oneway") == 0)
        oneway();
    else if (strcmp(argv[1], "rpc2") == 0)
        rpc2();
    else
        return 2;
    check(mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1), "destroy");
    return 0;
}
