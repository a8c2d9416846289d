/*
 * bootstrap.c — the world's bootstrap server across processes (docs/world.md, "Bootstrap").
 *
 * The test program itself stays in embedded mode: it starts a world (umachd) and runs itself
 * again in *roles* (`bootstrap --role NAME ARGS`) with UMACH_WORLD set, so each role is a
 * process that joined the world as a task. A role prints one line per step to a pipe the test
 * reads, checks its own results with the MT_ macros and exits 0 when they all held.
 *
 * Checked: check-in / look-up / register and an RPC between processes; a name freed when its
 * server is killed (kill -9) and free for a new server; BOOTSTRAP_NAME_IN_USE; an unknown
 * name; names of 127 bytes work and longer ones are refused; a declared service (--service)
 * queues a client's request until its server checks in; raw and malformed bootstrap requests
 * get MIG's errors and the server lives on; `umachd --service` refuses bad names.
 */
#define _GNU_SOURCE
#include "world_roles.h"
#include "bootstrap_raw.h"

#include <mach/mig_errors.h>
#include <mach/ndr.h>
#include <mach/notify.h>

MT_TEST(umachd_help_documents_service)
{
    char out[4096];
    const char *args[] = {"--help", NULL};
    pid_t pid = b_spawn(args, out, sizeof out, NULL);
    MT_REQUIRE(pid > 0);
    MT_EQ(b_status(pid), 0);
    MT_CHECK(strstr(out, "--service NAME") != NULL);
    MT_CHECK(strstr(out, "bootstrap_check_in") != NULL);
}

MT_TEST(umachd_refuses_an_empty_or_too_long_service_name_before_it_starts)
{
    char long_name[129];
    memset(long_name, 'x', 128);
    long_name[128] = 0;
    const char *bad[] = {"", long_name};
    for (int i = 0; i < 2; i++) {
        char out[1024];
        const char *args[] = {"--socket", "/nonexistent/dir/sock", "--service", bad[i], NULL};
        pid_t pid = b_spawn(args, out, sizeof out, NULL);
        MT_REQUIRE(pid > 0);
        MT_EQ(b_status(pid), 2);
        MT_CHECK(strstr(out, "1 to 127 bytes") != NULL);
    }
}

MT_TEST(umachd_refuses_a_service_declared_twice)
{
    char out[1024];
    const char *args[] = {"--socket", "/nonexistent/dir/sock", "--service", "org.a",
                          "--service", "org.a", NULL};
    pid_t pid = b_spawn(args, out, sizeof out, NULL);
    MT_REQUIRE(pid > 0);
    MT_EQ(b_status(pid), 1);
    MT_CHECK(strstr(out, "declared twice") != NULL);
}

MT_TEST(umachd_with_declared_services_of_127_bytes_serves_tasks)
{
    snprintf(b_path, sizeof b_path, "/tmp/umachd_bootstrap_%d.sock", (int)getpid());
    char name[128];
    memset(name, 'n', 127);
    name[127] = 0;
    int errfd = -1;
    const char *args[] = {"--socket", b_path, "--service", name, "--service", "org.b", NULL};
    pid_t pid = b_spawn(args, NULL, 0, &errfd);
    MT_REQUIRE(pid > 0);
    int fd = b_join();
    MT_CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    kill(pid, SIGTERM);
    MT_EQ(b_status(pid), 0);
    char out[1024];
    ssize_t n = read(errfd, out, sizeof out - 1);
    MT_EQ(n, 0); /* nothing said */
    close(errfd);
}


/* register NAME: register a port of ours as NAME, say "register CODE"; on success serve. */
static int role_register(const char *name)
{
    mach_port_t port = MACH_PORT_NULL;
    if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port) != KERN_SUCCESS ||
        mach_port_insert_right(mach_task_self(), port, port, MACH_MSG_TYPE_MAKE_SEND) !=
            KERN_SUCCESS)
        return 1;
    kern_return_t kr = b_register(bootstrap_port, name, port);
    say("register %d", kr);
    return kr == KERN_SUCCESS ? serve(port) : 0;
}

/* Send `size` bytes of `req` to the bootstrap port with a reply port; receive the reply. */
static mach_msg_return_t raw_rpc(void *req, mach_msg_size_t size, mach_port_t reply, b_msg *out)
{
    mach_msg_header_t *h = req;
    h->msgh_bits |= MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    h->msgh_size = size;
    h->msgh_remote_port = bootstrap_port;
    h->msgh_local_port = reply;
    memset(out, 0, sizeof *out);
    return mach_msg_overwrite(h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, size,
                              sizeof *out, reply, 10000, MACH_PORT_NULL, &out->h, 0);
}

/* raw NAME: malformed and raw requests, each answered as MIG would; NAME is served meanwhile. */
static int role_raw(const char *served)
{
    mach_port_t reply = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &reply), KERN_SUCCESS);
    b_msg m;
    name_req nr;

    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = 499; /* an unknown id */
    MT_KR(raw_rpc(&nr, sizeof nr, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, 499, MIG_BAD_ID);
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = ID_CHECK_IN; /* too short */
    MT_KR(raw_rpc(&nr, sizeof nr - 4, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_CHECK_IN, MIG_BAD_ARGUMENTS);
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = ID_LOOK_UP; /* a name without its NUL */
    memset(nr.name, 'a', sizeof nr.name);
    MT_KR(raw_rpc(&nr, sizeof nr, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_LOOK_UP, MIG_BAD_ARGUMENTS);
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = ID_LOOK_UP; /* the complex bit and no descriptor */
    nr.head.msgh_bits = MACH_MSGH_BITS_COMPLEX;
    MT_KR(raw_rpc(&nr, sizeof nr, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_LOOK_UP, MIG_BAD_ARGUMENTS);

    /* A register carrying a receive right: refused, the right destroyed with the request. */
    mach_port_t victim = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &victim), KERN_SUCCESS);
    register_req rr;
    register_req_fill(&rr, victim, MACH_MSG_TYPE_MOVE_RECEIVE);
    snprintf(rr.name, sizeof rr.name, "%s.victim", served);
    MT_KR(raw_rpc(&rr, sizeof rr, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_REGISTER, MIG_BAD_ARGUMENTS);
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(mach_task_self(), victim, &type), KERN_INVALID_NAME);

    /* Out-of-line memory where a port belongs: refused, the memory is the server's to free. */
    static char payload[64] = "not a port";
    ool_register_req orq;
    ool_register_req_fill(&orq, payload, sizeof payload);
    snprintf(orq.name, sizeof orq.name, "%s.ool", served);
    MT_KR(raw_rpc(&orq, sizeof orq, reply, &m), MACH_MSG_SUCCESS);
    check_error_reply(&m.err, ID_REGISTER, MIG_BAD_ARGUMENTS);

    /* A forged port-destroyed notification: dropped; only the reply right's notice comes. */
    mach_port_t carried = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &carried), KERN_SUCCESS);
    port_destroyed_req pd;
    port_destroyed_req_fill(&pd, carried);
    MT_KR(raw_rpc(&pd, sizeof pd, reply, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);

    /* A raw look-up of the served name: the reply carries a send right. */
    memset(&nr, 0, sizeof nr);
    nr.head.msgh_id = ID_LOOK_UP;
    snprintf(nr.name, sizeof nr.name, "%s", served);
    MT_KR(raw_rpc(&nr, sizeof nr, reply, &m), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, ID_LOOK_UP + 100);
    MT_CHECK(m.h.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(m.h.msgh_size, sizeof(mach_msg_base_t) + sizeof(mach_msg_port_descriptor_t));
    mach_msg_port_descriptor_t d;
    memcpy(&d, m.bytes + sizeof(mach_msg_base_t), sizeof d);
    MT_EQ(d.type, MACH_MSG_PORT_DESCRIPTOR);
    MT_EQ(d.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_KR(mach_port_type(mach_task_self(), d.name, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_SEND);

    /* Garbage of every short length with every id near the server's: the server lives on. */
    for (mach_msg_size_t size = sizeof(mach_msg_header_t); size <= 200; size += 4) {
        for (mach_msg_id_t id = 400; id <= 410; id++) {
            b_msg g;
            memset(&g, 0xA5, sizeof g);
            g.h.msgh_bits = 0;
            g.h.msgh_voucher_port = MACH_PORT_NULL;
            g.h.msgh_id = id;
            mach_msg_return_t mr = raw_rpc(&g, size, reply, &m);
            MT_EQ(mr, MACH_MSG_SUCCESS);
            if (mr == MACH_MSG_SUCCESS)
                mach_msg_destroy(&m.h);
        }
    }
    mach_port_t found = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, served, &found), KERN_SUCCESS);
    say("raw %s", mt_current_failed ? "failed" : "ok");
    return mt_current_failed ? 1 : 0;
}

/* names NAME127: a 127-byte name is checked in and found; 128 bytes are refused everywhere. */
static int role_names(const char *name127)
{
    char longer[BOOTSTRAP_MAX_NAME_LEN + 1];
    memset(longer, 'L', BOOTSTRAP_MAX_NAME_LEN);
    longer[BOOTSTRAP_MAX_NAME_LEN] = 0;
    MT_EQ(strlen(name127), BOOTSTRAP_MAX_NAME_LEN - 1);
    mach_port_t recv = MACH_PORT_NULL, send = MACH_PORT_NULL;
    MT_KR(bootstrap_check_in(bootstrap_port, name127, &recv), KERN_SUCCESS);
    MT_KR(bootstrap_check_in(bootstrap_port, longer, &send), BOOTSTRAP_BAD_COUNT);
    MT_KR(bootstrap_look_up(bootstrap_port, longer, &send), BOOTSTRAP_BAD_COUNT);
    MT_KR(b_register(bootstrap_port, longer, MACH_PORT_NULL), BOOTSTRAP_BAD_COUNT);
    say("names %s", mt_current_failed ? "failed" : "ok");
    /* Wait until killed: the name lives as long as this task. */
    return serve(recv);
}

static int b_role_main(int argc, char **argv)
{
    const char *role = argv[0], *a1 = argc > 1 ? argv[1] : NULL, *a2 = argc > 2 ? argv[2] : NULL;
    if (!a1)
        return 2;
    int rc = b_common_role(role, a1, a2);
    if (rc >= 0)
        return rc;
    if (strcmp(role, "register") == 0)
        return role_register(a1);
    if (strcmp(role, "raw") == 0)
        return role_raw(a1);
    if (strcmp(role, "names") == 0)
        return role_names(a1);
    return 2;
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* Run `call NAME` until its look-up says `want` (the daemon sees a death a little later). */
static bool b_look_up_becomes(const char *name, const char *want)
{
    char line[256] = "";
    for (int i = 0; i < 200; i++) {
        b_role c = b_role_start("call", name, "2000");
        bool got = b_line(&c, line, sizeof line, 10);
        if (got && strcmp(line, want) == 0) {
            b_role_kill(&c);
            return true;
        }
        b_role_kill(&c);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "  (look-up of %s still says \"%s\"; wanted \"%s\")\n", name, line, want);
    return false;
}

MT_TEST(a_name_checked_in_by_one_process_is_looked_up_and_called_by_another)
{
    char name[128];
    b_name(name, sizeof name, "rpc");
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role server = b_server_start(name);
    b_call_succeeds(name);
    /* A second server of the same name is refused while the first lives. */
    b_role again = b_role_start("serve", name, NULL);
    MT_CHECK(b_expect(&again, "check_in 1103")); /* BOOTSTRAP_SERVICE_ACTIVE */
    MT_EQ(b_role_end(&again), 1);
    b_kill_and_stop(&server);
}

MT_TEST(a_name_is_freed_when_its_server_process_is_killed_and_a_new_server_takes_it)
{
    char name[128];
    b_name(name, sizeof name, "freed");
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role server = b_server_start(name);
    MT_EQ(b_role_kill(&server), 128 + SIGKILL);
    MT_CHECK(b_look_up_becomes(name, "look_up 1102")); /* BOOTSTRAP_UNKNOWN_SERVICE */
    b_role next = b_server_start(name);
    b_call_succeeds(name);
    b_kill_and_stop(&next);
}

MT_TEST(a_name_registered_twice_is_name_in_use_until_its_server_dies)
{
    char name[128];
    b_name(name, sizeof name, "twice");
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role first = b_role_start("register", name, NULL);
    MT_CHECK(b_expect(&first, "register 0"));
    b_role second = b_role_start("register", name, NULL);
    MT_CHECK(b_expect(&second, "register 1101")); /* BOOTSTRAP_NAME_IN_USE */
    MT_EQ(b_role_end(&second), 0);
    b_call_succeeds(name);
    MT_EQ(b_role_kill(&first), 128 + SIGKILL);
    MT_CHECK(b_look_up_becomes(name, "look_up 1102"));
    b_role third = b_role_start("register", name, NULL);
    MT_CHECK(b_expect(&third, "register 0"));
    b_kill_and_stop(&third);
}

MT_TEST(an_unknown_name_is_unknown_service)
{
    char name[128];
    b_name(name, sizeof name, "nobody");
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role client = b_role_start("call", name, NULL);
    MT_CHECK(b_expect(&client, "look_up 1102"));
    MT_EQ(b_role_end(&client), 0);
    MT_EQ(b_world_stop(), 0);
}

MT_TEST(names_of_127_bytes_work_across_processes_and_longer_ones_are_refused)
{
    char name[BOOTSTRAP_MAX_NAME_LEN];
    int n = snprintf(name, sizeof name, "org.umach.test.%d.", (int)getpid());
    memset(name + n, 'x', sizeof name - 1 - (size_t)n);
    name[sizeof name - 1] = 0;
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role server = b_role_start("names", name, NULL);
    MT_CHECK(b_expect(&server, "names ok"));
    b_call_succeeds(name);
    b_kill_and_stop(&server);
}

MT_TEST(a_declared_service_queues_a_request_until_its_server_checks_in)
{
    char name[128];
    b_name(name, sizeof name, "declared");
    const char *extra[] = {"--service", name, NULL};
    MT_REQUIRE(b_world_start(extra) == 0);
    /* The client finds the name before any server runs; its request waits in the port. */
    b_role client = b_role_start("call", name, "30000");
    MT_CHECK(b_expect(&client, "look_up 0"));
    b_role server = b_server_start(name);
    MT_CHECK(b_expect(&client, "rpc 0 107"));
    MT_EQ(b_role_end(&client), 0);
    /* The server dies: the name stays (declared), and the next server checks it in. */
    MT_EQ(b_role_kill(&server), 128 + SIGKILL);
    b_role next = b_role_start("serve", name, NULL);
    char line[64] = "";
    for (int i = 0; i < 200 && b_line(&next, line, sizeof line, 10) &&
                    strcmp(line, "check_in 1103") == 0;
         i++) {
        /* The receive right is still on its way back to umachd: try again. */
        b_role_end(&next);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        next = b_role_start("serve", name, NULL);
    }
    MT_EQ(strcmp(line, "check_in 0"), 0);
    b_role_kill(&next);
    MT_EQ(b_world_stop(), 0);
}

MT_TEST(raw_and_malformed_bootstrap_requests_get_errors_and_the_server_lives_on)
{
    char name[128];
    b_name(name, sizeof name, "raw");
    MT_REQUIRE(b_world_start(NULL) == 0);
    b_role server = b_server_start(name);
    b_role raw = b_role_start("raw", name, NULL);
    MT_CHECK(b_expect(&raw, "raw ok"));
    MT_EQ(b_role_end(&raw), 0);
    /* Another process is served as before. */
    b_call_succeeds(name);
    b_kill_and_stop(&server);
}

int main(int argc, char **argv)
{
    b_self = argv[0];
    if (argc > 2 && strcmp(argv[1], "--role") == 0)
        return b_role_main(argc - 2, argv + 2);
    return mt_run_all(argv[0]);
}
