/*
 * hostile.c — runs inside a world (ctest: umach-run -- world_hostile): a hostile client
 * speaking the wire protocol by hand cannot disturb another task (docs/world.md, "Bad input
 * and limits"). Garbage, truncated requests, wrong lengths, huge counts, descriptors nobody
 * announced, a call where none may come, a JOIN with a wrong secret or from another process:
 * each ends only the hostile client's task (the daemon hangs up on it; the world goes on).
 * Names it forges, and the victim's own names, are only names in its own space: the calls
 * fail as XNU's do for a name the caller does not have, and the victim (this process, a task
 * of the same world through libumach) finds its rights, queue and round trips unchanged.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <mach/mach.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TASK mach_task_self()

static int h_obs = -1;          /* the observer: a hand-made task asking for the counters */
static uint32_t h_base_tasks;   /* tasks alive with no hostile client */

/* ---- the victim: this process's own task ------------------------------------------------- */

static mach_port_t h_victim;    /* receive + send right, one message queued */
static mach_port_t h_echo;      /* receive + send right, for round trips */

typedef struct {
    mach_msg_header_t h;
    int tag;
} h_msg;

typedef struct {
    h_msg m;
    mach_msg_max_trailer_t t;
} h_rmsg;

static mach_msg_return_t h_send(mach_port_t to, int tag)
{
    h_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = to;
    m.h.msgh_id = 700;
    m.tag = tag;
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

static void h_victim_setup(void)
{
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &h_victim), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, h_victim, h_victim, MACH_MSG_TYPE_MAKE_SEND),
          KERN_SUCCESS);
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &h_echo), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, h_echo, h_echo, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    MT_KR(h_send(h_victim, 77), MACH_MSG_SUCCESS);
}

/* The victim is as it was: its rights, its queued message, and a message round trip. */
static void h_victim_check(const char *after)
{
    int failed_before = mt_current_failed;
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, h_victim, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_RECEIVE | MACH_PORT_TYPE_SEND);
    mach_port_urefs_t refs = 0;
    MT_KR(mach_port_get_refs(TASK, h_victim, MACH_PORT_RIGHT_SEND, &refs), KERN_SUCCESS);
    MT_EQ(refs, 1u);
    mach_port_status_t st;
    mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
    MT_KR(mach_port_get_attributes(TASK, h_victim, MACH_PORT_RECEIVE_STATUS,
                                   (mach_port_info_t)&st, &cnt),
          KERN_SUCCESS);
    MT_EQ(st.mps_msgcount, 1u);
    MT_EQ(st.mps_mscount, 1u);
    MT_KR(h_send(h_echo, 78), MACH_MSG_SUCCESS);
    h_rmsg r;
    memset(&r, 0, sizeof r);
    MT_KR(mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, h_echo, 10000,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(r.m.tag, 78);
    if (mt_current_failed != failed_before)
        fprintf(stderr, "  (the victim changed after: %s)\n", after);
}

/* ---- a hostile client ------------------------------------------------------------------------ */

typedef struct {
    int ctl, thr; /* its control and thread connections */
    w_hello_reply hello;
} h_client;

/*
 * A hand-made task with a thread connection, like libumach's but by hand. Its guard
 * exceptions are not fatal (UM_WIRE_HELLO_GUARD_NONFATAL), so a call on a name it does not
 * have returns XNU's error instead of ending it.
 */
static int h_client_open(h_client *c)
{
    c->ctl = w_connect_path(NULL);
    if (c->ctl < 0)
        return -1;
    uint64_t args[3] = {UM_WIRE_HELLO_GUARD_NONFATAL, 0, 0}, out[5];
    if (w_request(c->ctl, UM_WIRE_HELLO, args, 3, out, 5) != 0)
        return -1;
    c->hello.version = (uint32_t)out[0];
    c->hello.task_name = (uint32_t)out[1];
    c->hello.pid = (uint32_t)out[2];
    c->hello.secret[0] = out[3];
    c->hello.secret[1] = out[4];
    c->thr = w_connect_path(NULL);
    if (c->thr < 0)
        return -1;
    uint64_t none[1];
    if (w_request(c->thr, UM_WIRE_JOIN, c->hello.secret, 2, none, 0) != 0)
        return -1;
    return 0;
}

/* One well-formed request and its reply's result; -1 if the daemon hung up instead. */
static int h_call(int fd, uint16_t call, const uint64_t *args, uint32_t nargs, const void *blob,
                  uint32_t blob_len, int32_t *kr, uint64_t *out, uint32_t nout)
{
    um_wire_hdr h;
    memset(&h, 0, sizeof h);
    h.call = call;
    h.id = 42;
    h.nargs = nargs;
    h.blob_len = blob_len;
    if (um_wire_send(fd, &h, args, blob) != 0)
        return -1;
    static um_wire_buf buf;
    um_wire_pkt p;
    int rc = um_wire_recv(fd, &buf, &p, UM_WIRE_BLOB_MAX, 0);
    if (rc != 1)
        return -1;
    *kr = p.h.kr;
    for (uint32_t i = 0; i < nout; i++)
        out[i] = i < p.h.nargs ? p.args[i] : 0;
    um_wire_pkt_free(&p);
    return p.h.id == 42 && p.h.call == call ? 0 : -1;
}

/* The daemon hung up on `fd` (what it does to a connection whose task it ended). */
static bool h_hung_up(int fd)
{
    char b[256];
    ssize_t n;
    do
        n = recv(fd, b, sizeof b, 0);
    while (n > 0); /* a reply that was on its way before */
    return n == 0 || errno == ECONNRESET;
}

/* The client's task ended, only it: both connections hung up, the world as before. */
static void h_expect_ended(h_client *c, const char *what)
{
    int failed_before = mt_current_failed;
    MT_CHECK(h_hung_up(c->thr));
    MT_CHECK(h_hung_up(c->ctl));
    MT_EQ(w_tasks_are(h_obs, h_base_tasks), 0);
    close(c->thr);
    close(c->ctl);
    if (mt_current_failed != failed_before)
        fprintf(stderr, "  (after: %s)\n", what);
    h_victim_check(what);
}

static void h_send_raw(int fd, const void *bytes, size_t len)
{
    MT_EQ(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* A packet with a descriptor attached (SCM_RIGHTS), as given. */
static void h_send_with_fd(int fd, const void *bytes, size_t len, int passfd)
{
    struct iovec iov = {(void *)bytes, len};
    union {
        struct cmsghdr c;
        char space[CMSG_SPACE(sizeof(int))];
    } cm;
    memset(&cm, 0, sizeof cm);
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.space,
                        .msg_controllen = sizeof cm.space};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passfd, sizeof passfd);
    MT_EQ(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

typedef struct {
    um_wire_hdr h;
    uint64_t a[UM_WIRE_MAX_ARGS + 8];
    uint8_t blob[128];
} h_pkt;

static void h_pkt_init(h_pkt *p, uint16_t call, uint32_t nargs, uint32_t blob_len)
{
    memset(p, 0, sizeof *p);
    p->h.magic = UM_WIRE_MAGIC;
    p->h.call = call;
    p->h.id = 7;
    p->h.nargs = nargs;
    p->h.blob_len = blob_len;
}

/* ---- malformed packets ------------------------------------------------------------------------ */

typedef enum {
    H_GARBAGE,
    H_BAD_MAGIC,
    H_SHORT_HEADER,
    H_TRUNCATED_ARGS,
    H_SHORT_BLOB,
    H_LONG_BLOB,
    H_HUGE_NARGS,
    H_HUGE_BLOB_LEN,
    H_UNANNOUNCED_FD,
    H_MEMFD_FLAG_WITHOUT_FD,
    H_MEMFD_THAT_IS_A_PIPE,
    H_MEMFD_SHORTER_THAN_SAID,
    H_MEMFD_FOR_A_SMALL_BLOB,
    H_UNKNOWN_CALL,
    H_WRONG_NARGS,
    H_PAYLOAD_WHERE_NONE_GOES,
    H_MSG_SIZE_OVER_32_BITS,
    H_MSG_BLOB_NOT_THE_SEND_SIZE,
    H_MSG_BLOB_AND_UNREADABLE,
    H_CANCEL_WITH_ARGS,
    H_HELLO_ON_A_THREAD,
    H_JOIN_ON_A_THREAD,
    H_SET_ATTRIBUTES_BLOB_NOT_COUNT,
    H_EMPTY_PACKET,
    H_CASES
} h_case;

static const char *const h_case_names[H_CASES] = {
    "garbage bytes", "a wrong magic", "a packet shorter than a header",
    "fewer arguments than nargs", "a blob shorter than blob_len", "a blob longer than blob_len",
    "nargs 1000", "blob_len 0xffffffff", "a descriptor nobody announced",
    "the memfd flag without a memfd", "a pipe passed as the memfd", "a memfd shorter than said",
    "a memfd for a blob that fits inline", "an unknown call", "a kernel call with wrong nargs",
    "a payload for a call that takes none", "a mach_msg size over 32 bits",
    "mach_msg bytes that are not the send size", "mach_msg bytes said unreadable",
    "a cancel with arguments", "a hello on a thread connection", "a join on a thread connection",
    "set_attributes with a blob that is not its count", "an empty packet"};

static void h_send_case(int fd, h_case k)
{
    h_pkt p;
    memset(&p, 0, sizeof p);
    size_t head = sizeof p.h;
    switch (k) {
    case H_GARBAGE: {
        const char junk[] = "GET / HTTP/1.1\r\n\r\n";
        h_send_raw(fd, junk, sizeof junk);
        break;
    }
    case H_BAD_MAGIC:
        h_pkt_init(&p, UM_WIRE_PORT_TYPE, 2, 0);
        p.h.magic = 0x12345678;
        h_send_raw(fd, &p, head + 16);
        break;
    case H_SHORT_HEADER:
        h_pkt_init(&p, UM_WIRE_PORT_TYPE, 0, 0);
        h_send_raw(fd, &p, head - 1);
        break;
    case H_TRUNCATED_ARGS:
        h_pkt_init(&p, UM_WIRE_PORT_TYPE, 2, 0);
        h_send_raw(fd, &p, head + 8);
        break;
    case H_SHORT_BLOB:
        h_pkt_init(&p, UM_WIRE_PORT_CONSTRUCT, 2, sizeof(mach_port_options_t));
        h_send_raw(fd, &p, head + 16 + 4);
        break;
    case H_LONG_BLOB:
        h_pkt_init(&p, UM_WIRE_PORT_TYPE, 2, 4);
        h_send_raw(fd, &p, head + 16 + 40);
        break;
    case H_HUGE_NARGS:
        h_pkt_init(&p, UM_WIRE_PORT_TYPE, 1000, 0);
        h_send_raw(fd, &p, head + 16 * 8);
        break;
    case H_HUGE_BLOB_LEN:
        h_pkt_init(&p, UM_WIRE_MSG, UM_WIRE_MSG_NARGS, 0xffffffffu);
        h_send_raw(fd, &p, head + UM_WIRE_MSG_NARGS * 8 + 64);
        break;
    case H_UNANNOUNCED_FD: {
        h_pkt_init(&p, UM_WIRE_PORT_TYPE, 2, 0);
        p.a[0] = mach_task_self();
        p.a[1] = 0x103;
        int pfd[2];
        MT_REQUIRE(pipe(pfd) == 0);
        h_send_with_fd(fd, &p, head + 16, pfd[0]);
        close(pfd[0]);
        close(pfd[1]);
        break;
    }
    case H_MEMFD_FLAG_WITHOUT_FD:
        h_pkt_init(&p, UM_WIRE_MSG, UM_WIRE_MSG_NARGS, 40000);
        p.h.flags = UM_WIRE_F_MEMFD;
        h_send_raw(fd, &p, head + UM_WIRE_MSG_NARGS * 8);
        break;
    case H_MEMFD_THAT_IS_A_PIPE: {
        h_pkt_init(&p, UM_WIRE_MSG, UM_WIRE_MSG_NARGS, 40000);
        p.h.flags = UM_WIRE_F_MEMFD;
        int pfd[2];
        MT_REQUIRE(pipe(pfd) == 0);
        h_send_with_fd(fd, &p, head + UM_WIRE_MSG_NARGS * 8, pfd[0]);
        close(pfd[0]);
        close(pfd[1]);
        break;
    }
    case H_MEMFD_SHORTER_THAN_SAID:
    case H_MEMFD_FOR_A_SMALL_BLOB: {
        bool small = k == H_MEMFD_FOR_A_SMALL_BLOB;
        h_pkt_init(&p, UM_WIRE_MSG, UM_WIRE_MSG_NARGS, small ? 64 : 40000);
        p.h.flags = UM_WIRE_F_MEMFD;
        int mfd = memfd_create("hostile", MFD_CLOEXEC);
        MT_REQUIRE(mfd >= 0);
        MT_REQUIRE(ftruncate(mfd, small ? 64 : 1000) == 0);
        h_send_with_fd(fd, &p, head + UM_WIRE_MSG_NARGS * 8, mfd);
        close(mfd);
        break;
    }
    case H_UNKNOWN_CALL:
        h_pkt_init(&p, 999, 0, 0);
        h_send_raw(fd, &p, head);
        break;
    case H_WRONG_NARGS:
        h_pkt_init(&p, UM_WIRE_PORT_TYPE, 3, 0);
        h_send_raw(fd, &p, head + 24);
        break;
    case H_PAYLOAD_WHERE_NONE_GOES:
        h_pkt_init(&p, UM_WIRE_PORT_ALLOCATE, 2, 8);
        p.a[0] = 0x103;
        p.a[1] = MACH_PORT_RIGHT_RECEIVE;
        h_send_raw(fd, &p, head + 16 + 8);
        break;
    case H_MSG_SIZE_OVER_32_BITS:
        h_pkt_init(&p, UM_WIRE_MSG, UM_WIRE_MSG_NARGS, 0);
        p.a[0] = MACH_SEND_MSG;
        p.a[1] = (1ull << 32) + 24;
        h_send_raw(fd, &p, head + UM_WIRE_MSG_NARGS * 8);
        break;
    case H_MSG_BLOB_NOT_THE_SEND_SIZE:
    case H_MSG_BLOB_AND_UNREADABLE: {
        h_pkt_init(&p, UM_WIRE_MSG, UM_WIRE_MSG_NARGS, 24);
        p.a[0] = MACH_SEND_MSG;
        p.a[1] = k == H_MSG_BLOB_NOT_THE_SEND_SIZE ? 32 : 24;
        p.a[5] = 0x10000;
        p.a[7] = k == H_MSG_BLOB_AND_UNREADABLE ? UM_WIRE_MSG_UNREADABLE : 0;
        mach_msg_header_t mh = {.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
                                .msgh_size = 24, .msgh_remote_port = h_victim};
        memcpy((uint8_t *)&p + head + UM_WIRE_MSG_NARGS * 8, &mh, sizeof mh);
        h_send_raw(fd, &p, head + UM_WIRE_MSG_NARGS * 8 + 24);
        break;
    }
    case H_CANCEL_WITH_ARGS:
        h_pkt_init(&p, UM_WIRE_CANCEL, 1, 0);
        h_send_raw(fd, &p, head + 8);
        break;
    case H_HELLO_ON_A_THREAD:
        h_pkt_init(&p, UM_WIRE_HELLO, 3, 0);
        h_send_raw(fd, &p, head + 24);
        break;
    case H_JOIN_ON_A_THREAD:
        h_pkt_init(&p, UM_WIRE_JOIN, 2, 0);
        h_send_raw(fd, &p, head + 16);
        break;
    case H_SET_ATTRIBUTES_BLOB_NOT_COUNT:
        h_pkt_init(&p, UM_WIRE_PORT_SET_ATTRIBUTES, 4, 8);
        p.a[0] = 0x103;
        p.a[1] = 0x103;
        p.a[2] = MACH_PORT_LIMITS_INFO;
        p.a[3] = 1;
        h_send_raw(fd, &p, head + 32 + 8);
        break;
    case H_EMPTY_PACKET:
        h_send_raw(fd, &p, 0);
        break;
    case H_CASES:
        break;
    }
}

MT_TEST(each_malformed_packet_ends_only_the_task_that_sent_it)
{
    for (int k = 0; k < H_CASES; k++) {
        h_client c;
        MT_REQUIRE(h_client_open(&c) == 0);
        MT_EQ(w_tasks_are(h_obs, h_base_tasks + 1), 0);
        h_send_case(c.thr, (h_case)k);
        if (k == H_EMPTY_PACKET) {
            /* An empty packet reads as the thread connection's hang-up (a thread that
             * exited): that connection ends, its task goes on. */
            MT_CHECK(h_hung_up(c.thr));
            close(c.thr);
            w_stats_all st = {0, 0, 0, 0};
            MT_EQ(w_stats4(c.ctl, &st), 0);
            MT_EQ(st.tasks, h_base_tasks + 1);
            close(c.ctl);
            MT_EQ(w_tasks_are(h_obs, h_base_tasks), 0);
            h_victim_check(h_case_names[k]);
            continue;
        }
        h_expect_ended(&c, h_case_names[k]);
    }
}

MT_TEST(a_malformed_packet_on_the_control_connection_ends_its_task_too)
{
    for (int k = 0; k < H_CASES; k++) {
        h_client c;
        MT_REQUIRE(h_client_open(&c) == 0);
        h_send_case(c.ctl, (h_case)k);
        h_expect_ended(&c, h_case_names[k]);
    }
}

MT_TEST(a_call_on_the_control_connection_or_a_second_call_at_once_ends_the_task)
{
    h_client c;
    MT_REQUIRE(h_client_open(&c) == 0);
    uint64_t a[2] = {c.hello.task_name, MACH_PORT_RIGHT_RECEIVE};
    int32_t kr = 0;
    uint64_t out[1];
    MT_EQ(h_call(c.ctl, UM_WIRE_PORT_ALLOCATE, a, 2, NULL, 0, &kr, out, 1), -1);
    h_expect_ended(&c, "a call on the control connection");

    /* A receive that waits, then a second request on the same connection. */
    MT_REQUIRE(h_client_open(&c) == 0);
    MT_EQ(h_call(c.thr, UM_WIRE_PORT_ALLOCATE, a, 2, NULL, 0, &kr, out, 1), 0);
    MT_KR(kr, KERN_SUCCESS);
    uint64_t m[UM_WIRE_MSG_NARGS] = {MACH_RCV_MSG, 0, 256, out[0], 0, 0, 0x20000, 0};
    um_wire_hdr h;
    memset(&h, 0, sizeof h);
    h.call = UM_WIRE_MSG;
    h.id = 1;
    h.nargs = UM_WIRE_MSG_NARGS;
    MT_EQ(um_wire_send(c.thr, &h, m, NULL), 0);
    MT_EQ(w_waiting_is(h_obs, 1), 0);
    h.id = 2;
    MT_EQ(um_wire_send(c.thr, &h, m, NULL), 0);
    h_expect_ended(&c, "a second request while one waits");
    MT_EQ(w_waiting_is(h_obs, 0), 0);
}

MT_TEST(a_client_that_never_reads_its_replies_loses_its_task_and_the_daemon_never_waits_for_it)
{
    h_client c;
    MT_REQUIRE(h_client_open(&c) == 0);
    /* Requests one after the other, no reply read: once the socket cannot take another
     * reply the daemon ends the task rather than wait (it never blocks on a client). */
    uint64_t a[2] = {c.hello.task_name, c.hello.task_name};
    um_wire_hdr h;
    memset(&h, 0, sizeof h);
    h.call = UM_WIRE_PORT_TYPE;
    h.nargs = 2;
    int sent = 0;
    for (; sent < 1000000; sent++) {
        h.id = (uint64_t)sent + 1;
        if (um_wire_send(c.thr, &h, a, NULL) != 0)
            break;
        /* Meanwhile the world serves others: the victim's calls go on. */
        if (sent % 4096 == 0) {
            mach_port_type_t type = 0;
            MT_KR(mach_port_type(TASK, h_victim, &type), KERN_SUCCESS);
        }
    }
    MT_CHECK(sent < 1000000);
    h_expect_ended(&c, "replies never read");
}

/* ---- forged names and another task's names -------------------------------------------------- */

MT_TEST(forged_names_and_another_tasks_names_are_only_names_the_caller_does_not_have)
{
    h_client c;
    MT_REQUIRE(h_client_open(&c) == 0);
    uint64_t self = c.hello.task_name, out[4];
    int32_t kr = 0;
    mach_port_t names[] = {h_victim, h_echo, 0x12345603, 0xfffffe03};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        /* mach_port_type of the victim's name, or of a made-up one, in its own space. */
        uint64_t a[2] = {self, names[i]};
        MT_EQ(h_call(c.thr, UM_WIRE_PORT_TYPE, a, 2, NULL, 0, &kr, out, 1), 0);
        MT_KR(kr, KERN_INVALID_NAME);
        /* get_attributes on it. */
        uint64_t g[4] = {self, names[i], MACH_PORT_RECEIVE_STATUS,
                         MACH_PORT_RECEIVE_STATUS_COUNT};
        MT_EQ(h_call(c.thr, UM_WIRE_PORT_GET_ATTRIBUTES, g, 4, NULL, 0, &kr, out, 1), 0);
        MT_KR(kr, KERN_INVALID_NAME);
        /* A message to it: no such destination. */
        mach_msg_header_t mh = {.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
                                .msgh_size = sizeof mh, .msgh_remote_port = names[i]};
        uint64_t m[UM_WIRE_MSG_NARGS] = {MACH_SEND_MSG, sizeof mh, 0, 0, 0, 0x10000, 0, 0};
        MT_EQ(h_call(c.thr, UM_WIRE_MSG, m, UM_WIRE_MSG_NARGS, &mh, sizeof mh, &kr, out, 1), 0);
        MT_KR(kr, MACH_SEND_INVALID_DEST);
        /* Calls that would destroy or release it. */
        MT_EQ(h_call(c.thr, UM_WIRE_PORT_DESTROY, a, 2, NULL, 0, &kr, out, 1), 0);
        MT_KR(kr, KERN_INVALID_NAME);
        MT_EQ(h_call(c.thr, UM_WIRE_PORT_DEALLOCATE, a, 2, NULL, 0, &kr, out, 1), 0);
        MT_KR(kr, KERN_INVALID_NAME);
        uint64_t mr[4] = {self, names[i], MACH_PORT_RIGHT_RECEIVE, (uint32_t)-1};
        MT_EQ(h_call(c.thr, UM_WIRE_PORT_MOD_REFS, mr, 4, NULL, 0, &kr, out, 1), 0);
        MT_KR(kr, KERN_INVALID_NAME);
        /* A receive on it. */
        uint64_t r[UM_WIRE_MSG_NARGS] = {MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, 256, names[i], 0,
                                         0, 0x20000, 0};
        MT_EQ(h_call(c.thr, UM_WIRE_MSG, r, UM_WIRE_MSG_NARGS, NULL, 0, &kr, out, 1), 0);
        MT_KR(kr, MACH_RCV_INVALID_NAME);
    }
    /* A task argument that is not its task: a port of its own, a made-up name. */
    uint64_t a[2] = {self, MACH_PORT_RIGHT_RECEIVE};
    MT_EQ(h_call(c.thr, UM_WIRE_PORT_ALLOCATE, a, 2, NULL, 0, &kr, out, 1), 0);
    MT_KR(kr, KERN_SUCCESS);
    uint64_t own = out[0];
    uint64_t t1[2] = {own, MACH_PORT_RIGHT_RECEIVE}, t2[2] = {0x7777703, MACH_PORT_RIGHT_RECEIVE};
    MT_EQ(h_call(c.thr, UM_WIRE_PORT_ALLOCATE, t1, 2, NULL, 0, &kr, out, 1), 0);
    /* (XNU would queue the MIG request on a port that is not a task's and wait for a reply
     * that never comes; umach refuses it as it refuses a name that is nothing.) */
    MT_KR(kr, MACH_SEND_INVALID_DEST);
    MT_EQ(h_call(c.thr, UM_WIRE_PORT_ALLOCATE, t2, 2, NULL, 0, &kr, out, 1), 0);
    MT_KR(kr, MACH_SEND_INVALID_DEST);
    /* Counts far beyond any array: clamped, never read or written past it. */
    uint64_t ga[4] = {self, own, MACH_PORT_LIMITS_INFO, 0xffffffffu};
    MT_EQ(h_call(c.thr, UM_WIRE_PORT_GET_ATTRIBUTES, ga, 4, NULL, 0, &kr, out, 1), 0);
    MT_KR(kr, KERN_SUCCESS);
    uint32_t info[1024];
    memset(info, 0, sizeof info);
    info[0] = 5;
    uint64_t sa[4] = {self, own, MACH_PORT_LIMITS_INFO, 0x80000000u};
    MT_EQ(h_call(c.thr, UM_WIRE_PORT_SET_ATTRIBUTES, sa, 4, info, sizeof info, &kr, out, 1), 0);
    MT_KR(kr, KERN_SUCCESS);
    uint64_t ti[3] = {self, TASK_AUDIT_TOKEN, 0xffffffffu};
    MT_EQ(h_call(c.thr, UM_WIRE_TASK_INFO, ti, 3, NULL, 0, &kr, out, 1), 0);
    MT_KR(kr, KERN_SUCCESS);
    uint64_t pk[5] = {self, own, MACH_RCV_TRAILER_AUDIT, 0, 0xffffffffu};
    MT_EQ(h_call(c.thr, UM_WIRE_PORT_PEEK, pk, 5, NULL, 0, &kr, out, 1), 0);
    MT_KR(kr, KERN_FAILURE); /* nothing queued */
    /* A message whose header says more descriptors than it has. */
    struct {
        mach_msg_header_t h;
        mach_msg_body_t b;
    } cm = {{.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_MAKE_SEND, 0, 0,
                                             MACH_MSGH_BITS_COMPLEX),
             .msgh_size = sizeof cm, .msgh_remote_port = (mach_port_t)own},
            {0xffffffffu}};
    uint64_t m[UM_WIRE_MSG_NARGS] = {MACH_SEND_MSG, sizeof cm, 0, 0, 0, 0x10000, 0, 0};
    MT_EQ(h_call(c.thr, UM_WIRE_MSG, m, UM_WIRE_MSG_NARGS, &cm, sizeof cm, &kr, out, 1), 0);
    MT_KR(kr, MACH_SEND_MSG_TOO_SMALL);
    /* Still its task, and still nothing of ours touched. */
    w_stats_all st = {0, 0, 0, 0};
    MT_REQUIRE(w_stats4(c.thr, &st) == 0);
    MT_EQ(st.names, 3u); /* its task port, its bootstrap port, its port */
    close(c.thr);
    close(c.ctl);
    MT_EQ(w_tasks_are(h_obs, h_base_tasks), 0);
    h_victim_check("forged names");
}

/* ---- joining ---------------------------------------------------------------------------------- */

MT_TEST(a_join_with_a_wrong_secret_or_from_another_process_is_refused)
{
    h_client c;
    MT_REQUIRE(h_client_open(&c) == 0);
    /* A wrong secret: the connection is hung up, the task it guessed at goes on. */
    int fd = w_connect_path(NULL);
    MT_REQUIRE(fd >= 0);
    uint64_t wrong[2] = {c.hello.secret[0], c.hello.secret[1] ^ 1}, out[1];
    MT_EQ(w_request(fd, UM_WIRE_JOIN, wrong, 2, out, 0), -1);
    MT_CHECK(h_hung_up(fd));
    close(fd);
    /* Only a hello or a join may come first. */
    fd = w_connect_path(NULL);
    MT_REQUIRE(fd >= 0);
    uint64_t a[2] = {c.hello.task_name, MACH_PORT_RIGHT_RECEIVE};
    int32_t kr = 0;
    MT_EQ(h_call(fd, UM_WIRE_PORT_ALLOCATE, a, 2, NULL, 0, &kr, out, 1), -1);
    close(fd);
    /* The right secret from another process: refused (SO_PEERCRED says who it is). */
    int res[2];
    MT_REQUIRE(pipe(res) == 0);
    pid_t kid = fork();
    MT_REQUIRE(kid >= 0);
    if (kid == 0) {
        int kfd = w_connect_path(NULL);
        uint64_t kout[1];
        char r = kfd >= 0 && w_request(kfd, UM_WIRE_JOIN, c.hello.secret, 2, kout, 0) != 0 &&
                         h_hung_up(kfd)
                     ? 'y'
                     : 'n';
        (void)!write(res[1], &r, 1);
        _exit(0);
    }
    close(res[1]);
    char r = 0;
    MT_EQ(read(res[0], &r, 1), 1);
    MT_EQ(r, 'y');
    close(res[0]);
    MT_EQ(waitpid(kid, NULL, 0), kid);
    /* The task whose secret was tried is untouched: its thread still calls. */
    MT_EQ(h_call(c.thr, UM_WIRE_PORT_ALLOCATE, a, 2, NULL, 0, &kr, out, 1), 0);
    MT_KR(kr, KERN_SUCCESS);
    MT_EQ(w_tasks_are(h_obs, h_base_tasks + 1), 0);
    close(c.thr);
    close(c.ctl);
    MT_EQ(w_tasks_are(h_obs, h_base_tasks), 0);
    h_victim_check("joins");
}

MT_TEST(the_world_serves_on_after_every_hostile_client)
{
    w_stats_all st = {0, 0, 0, 0};
    MT_REQUIRE(w_stats4(h_obs, &st) == 0);
    MT_EQ(st.tasks, h_base_tasks);
    MT_EQ(st.waiting, 0u);
    h_victim_check("all of it");
    /* A new task can still join. */
    h_client c;
    MT_REQUIRE(h_client_open(&c) == 0);
    close(c.thr);
    close(c.ctl);
    MT_EQ(w_tasks_are(h_obs, h_base_tasks), 0);
    mach_msg_return_t mr;
    h_rmsg r;
    mr = mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, h_victim, 0,
                  MACH_PORT_NULL);
    MT_KR(mr, MACH_MSG_SUCCESS);
    MT_EQ(r.m.tag, 77);
    MT_KR(mach_port_mod_refs(TASK, h_victim, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, h_victim), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, h_echo, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, h_echo), KERN_SUCCESS);
}

int main(int argc, char **argv)
{
    (void)argc;
    signal(SIGPIPE, SIG_IGN);
    h_obs = w_observer(NULL);
    w_stats_all st;
    if (h_obs < 0 || w_stats4(h_obs, &st) != 0) {
        fprintf(stderr, "hostile: cannot observe the world (run it under umach-run)\n");
        return 1;
    }
    h_victim_setup();
    h_base_tasks = st.tasks;
    return mt_run_all(argv[0]);
}
