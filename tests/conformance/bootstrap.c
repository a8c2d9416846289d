/*
 * The bootstrap server: services check in or register a name, clients look it up. On macOS
 * these calls reach the real launchd, so every name is unique to this run and the tests
 * assert only what launchd and umach both promise; what only umach promises (exact codes
 * where Darwin's versions differ) is guarded with UMACH_EXACT.
 */
#if !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep under -std=c11 */
#endif
#include "notify_util.h"

#include <mach/mach_error.h>
#include <servers/bootstrap.h>

#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#ifdef __APPLE__
#define UMACH_EXACT 0
#else
#define UMACH_EXACT 1
#endif

_Static_assert(BOOTSTRAP_MAX_NAME_LEN == 128, "name_t holds 127 bytes and a NUL");
_Static_assert(sizeof(name_t) == 128, "name_t is 128 bytes");
_Static_assert(BOOTSTRAP_SUCCESS == 0 && BOOTSTRAP_NOT_PRIVILEGED == 1100 &&
                   BOOTSTRAP_NAME_IN_USE == 1101 && BOOTSTRAP_UNKNOWN_SERVICE == 1102 &&
                   BOOTSTRAP_SERVICE_ACTIVE == 1103 && BOOTSTRAP_BAD_COUNT == 1104 &&
                   BOOTSTRAP_NO_MEMORY == 1105 && BOOTSTRAP_NO_CHILDREN == 1106,
               "Darwin's BOOTSTRAP_* values");

/* bootstrap_register is deprecated on Darwin but still part of the API under test. */
static kern_return_t bs_register(mach_port_t bp, const char *name, mach_port_t sp)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    return bootstrap_register(bp, (char *)name, sp);
#pragma GCC diagnostic pop
}

/* A service name nobody else uses: this process, a counter and the clock. */
static void unique_name(char *out, size_t len, const char *what)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, len, "org.machports.test.bootstrap.%s.%ld.%u.%ld", what, (long)getpid(),
             counter++, (long)ts.tv_nsec);
}

/* The first call of a thread may make its reply port: do it before a space snapshot. */
static void warm_up(void)
{
    char name[BOOTSTRAP_MAX_NAME_LEN];
    unique_name(name, sizeof name, "warm");
    mach_port_t p = MACH_PORT_NULL;
    (void)bootstrap_look_up(bootstrap_port, name, &p);
}

static void send_id(mach_port_t dest, mach_msg_id_t id)
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

static mach_msg_id_t recv_id(mach_port_t port)
{
    nu_msg m;
    if (nu_recv(port, &m, 0) != MACH_MSG_SUCCESS)
        return -1;
    return m.h.msgh_id;
}

MT_TEST(bootstrap_port_is_a_send_right_and_the_tasks_bootstrap_special_port)
{
    MT_REQUIRE(MACH_PORT_VALID(bootstrap_port));
    MT_EQ(nu_type(bootstrap_port) & MACH_PORT_TYPE_SEND, MACH_PORT_TYPE_SEND);
    mach_port_t bp = MACH_PORT_NULL;
    MT_KR(task_get_bootstrap_port(TASK, &bp), KERN_SUCCESS);
    /* A new send right to the same port coalesces with the name the task already has. */
    MT_EQ(bp, bootstrap_port);
    MT_KR(mach_port_deallocate(TASK, bp), KERN_SUCCESS);
}

MT_TEST(bootstrap_port_travels_in_a_message_like_any_send_right)
{
    warm_up();
    NU_BEGIN();
    mach_port_t port = nu_port();
    MT_REQUIRE(port != MACH_PORT_NULL);
    mach_port_urefs_t before = nu_refs(bootstrap_port, MACH_PORT_RIGHT_SEND);
    struct {
        mach_msg_header_t h;
        mach_msg_body_t body;
        mach_msg_port_descriptor_t d;
    } m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0) | MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = port;
    m.body.msgh_descriptor_count = 1;
    m.d.name = bootstrap_port;
    m.d.disposition = MACH_MSG_TYPE_COPY_SEND;
    m.d.type = MACH_MSG_PORT_DESCRIPTOR;
    MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    nu_msg r;
    MT_KR(nu_recv(port, &r, 0), MACH_MSG_SUCCESS);
    mach_msg_port_descriptor_t d;
    memcpy(&d, r.bytes + sizeof(mach_msg_base_t), sizeof d);
    /* It arrives as a send right under the name the task already has for it. */
    MT_EQ(d.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(d.name, bootstrap_port);
    MT_EQ(nu_refs(bootstrap_port, MACH_PORT_RIGHT_SEND), before + 1);
    mach_port_t p = MACH_PORT_NULL;
    char name[BOOTSTRAP_MAX_NAME_LEN];
    unique_name(name, sizeof name, "carried");
    MT_KR(bootstrap_look_up(d.name, name, &p), BOOTSTRAP_UNKNOWN_SERVICE);
    MT_KR(mach_port_deallocate(TASK, d.name), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(check_in_of_a_new_name_gives_a_receive_right_that_look_up_reaches)
{
    warm_up();
    NU_BEGIN();
    char name[BOOTSTRAP_MAX_NAME_LEN];
    unique_name(name, sizeof name, "checkin");
    mach_port_t client = MACH_PORT_NULL, server = MACH_PORT_NULL, again = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, name, &client), BOOTSTRAP_UNKNOWN_SERVICE);

    MT_KR(bootstrap_check_in(bootstrap_port, name, &server), BOOTSTRAP_SUCCESS);
    MT_REQUIRE(MACH_PORT_VALID(server));
    MT_EQ(nu_type(server), MACH_PORT_TYPE_RECEIVE);
    MT_KR(bootstrap_check_in(bootstrap_port, name, &again), BOOTSTRAP_SERVICE_ACTIVE);
    MT_EQ(again, MACH_PORT_NULL);

    MT_KR(bootstrap_look_up(bootstrap_port, name, &client), BOOTSTRAP_SUCCESS);
    MT_REQUIRE(MACH_PORT_VALID(client));
    /* In one task the send right joins the receive right under the server's name. */
    MT_EQ(client, server);
    MT_EQ(nu_type(client), MACH_PORT_TYPE_SEND_RECEIVE);
    send_id(client, 0x5e4d);
    MT_EQ(recv_id(server), 0x5e4d);

    /* The server goes away: its clients hold dead names and the name is free again. */
    MT_KR(mach_port_mod_refs(TASK, server, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_EQ(nu_type(client), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(mach_port_deallocate(TASK, client), KERN_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &client), BOOTSTRAP_UNKNOWN_SERVICE);

    /* A new server can take the name at once. */
    MT_KR(bootstrap_check_in(bootstrap_port, name, &server), BOOTSTRAP_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, server, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(register_binds_a_send_right_until_its_receive_right_dies)
{
    warm_up();
    NU_BEGIN();
    char name[BOOTSTRAP_MAX_NAME_LEN];
    unique_name(name, sizeof name, "register");
    mach_port_t port = nu_port_with_send();
    MT_REQUIRE(port != MACH_PORT_NULL);
    MT_KR(bs_register(bootstrap_port, name, port), BOOTSTRAP_SUCCESS);
    /* register copies the right: the caller keeps its own uref. */
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 1);

    mach_port_t found = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, name, &found), BOOTSTRAP_SUCCESS);
    MT_EQ(found, port); /* the same port: the send right coalesces with our name */
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 2);
    MT_KR(mach_port_deallocate(TASK, found), KERN_SUCCESS);

    /* A second registration of an active name is refused. */
    mach_port_t other = nu_port_with_send();
    kern_return_t kr = bs_register(bootstrap_port, name, other);
    MT_CHECK(kr == BOOTSTRAP_NAME_IN_USE || kr == BOOTSTRAP_SERVICE_ACTIVE);
    if (UMACH_EXACT)
        MT_EQ(kr, BOOTSTRAP_NAME_IN_USE);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &found), BOOTSTRAP_SUCCESS);
    MT_EQ(found, port);
    MT_KR(mach_port_deallocate(TASK, found), KERN_SUCCESS);

    /* The registered port dies: the name is free, and another server may register it. */
    nu_kill(port);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &found), BOOTSTRAP_UNKNOWN_SERVICE);
    MT_KR(bs_register(bootstrap_port, name, other), BOOTSTRAP_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &found), BOOTSTRAP_SUCCESS);
    MT_EQ(found, other);
    MT_KR(mach_port_deallocate(TASK, found), KERN_SUCCESS);
    nu_kill(other);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &found), BOOTSTRAP_UNKNOWN_SERVICE);
    NU_END();
}

MT_TEST(look_up_of_a_name_nobody_registered_is_unknown_service)
{
    warm_up();
    NU_BEGIN();
    char name[BOOTSTRAP_MAX_NAME_LEN];
    unique_name(name, sizeof name, "nobody");
    mach_port_t p = MACH_PORT_NULL;
    MT_KR(bootstrap_look_up(bootstrap_port, name, &p), BOOTSTRAP_UNKNOWN_SERVICE);
    MT_EQ(p, MACH_PORT_NULL);
    NU_END();
}

MT_TEST(a_name_of_127_bytes_works_and_a_longer_one_is_refused)
{
    warm_up();
    NU_BEGIN();
    char name[BOOTSTRAP_MAX_NAME_LEN + 8];
    unique_name(name, sizeof name, "long");
    size_t len = strlen(name);
    memset(name + len, 'x', sizeof name - len);
    name[BOOTSTRAP_MAX_NAME_LEN - 1] = '\0'; /* 127 bytes and the NUL: exactly a name_t */

    mach_port_t server = MACH_PORT_NULL, client = MACH_PORT_NULL;
    MT_KR(bootstrap_check_in(bootstrap_port, name, &server), BOOTSTRAP_SUCCESS);
    MT_KR(bootstrap_look_up(bootstrap_port, name, &client), BOOTSTRAP_SUCCESS);
    send_id(client, 127);
    MT_EQ(recv_id(server), 127);
    MT_KR(mach_port_deallocate(TASK, client), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, server, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);

    /* One byte more does not fit in a name_t. */
    name[BOOTSTRAP_MAX_NAME_LEN - 1] = 'y';
    name[BOOTSTRAP_MAX_NAME_LEN] = '\0';
    kern_return_t kr = bootstrap_check_in(bootstrap_port, name, &server);
    if (UMACH_EXACT) {
        MT_EQ(kr, BOOTSTRAP_BAD_COUNT);
        MT_KR(bootstrap_look_up(bootstrap_port, name, &client), BOOTSTRAP_BAD_COUNT);
        mach_port_t p = nu_port_with_send();
        MT_KR(bs_register(bootstrap_port, name, p), BOOTSTRAP_BAD_COUNT);
        nu_kill(p);
    } else if (kr == KERN_SUCCESS) {
        /* Older launchds cut the name to 127 bytes instead. */
        MT_KR(mach_port_mod_refs(TASK, server, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    }
    NU_END();
}

MT_TEST(bootstrap_strerror_describes_every_bootstrap_code)
{
    const kern_return_t codes[] = {BOOTSTRAP_SUCCESS,         BOOTSTRAP_NOT_PRIVILEGED,
                                   BOOTSTRAP_NAME_IN_USE,     BOOTSTRAP_UNKNOWN_SERVICE,
                                   BOOTSTRAP_SERVICE_ACTIVE,  BOOTSTRAP_BAD_COUNT,
                                   BOOTSTRAP_NO_MEMORY};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = bootstrap_strerror(codes[i]);
        MT_CHECK(s != NULL && s[0] != '\0');
    }
    if (UMACH_EXACT) {
        MT_CHECK(strcmp(bootstrap_strerror(BOOTSTRAP_UNKNOWN_SERVICE), "Unknown service name") ==
                 0);
        MT_CHECK(strcmp(bootstrap_strerror(BOOTSTRAP_SERVICE_ACTIVE),
                        bootstrap_strerror(BOOTSTRAP_NAME_IN_USE)) == 0);
        /* Other codes are Mach errors. */
        MT_CHECK(strcmp(bootstrap_strerror(MACH_SEND_INVALID_DEST),
                        mach_error_string(MACH_SEND_INVALID_DEST)) == 0);
    }
}

/* ---- threads that meet through bootstrap ------------------------------------------------- */

static char rendezvous_name[BOOTSTRAP_MAX_NAME_LEN];

typedef struct {
    mach_msg_header_t h;
    int value;
} rv_msg;

typedef struct {
    rv_msg m;
    mach_msg_max_trailer_t t;
} rv_rcv;

/* The server checks in, answers one request with value + 1 and leaves. */
static void *rendezvous_server(void *arg)
{
    (void)arg;
    mach_port_t port = MACH_PORT_NULL;
    if (bootstrap_check_in(bootstrap_port, rendezvous_name, &port) != BOOTSTRAP_SUCCESS)
        return (void *)1;
    rv_rcv r;
    void *result = (void *)2;
    if (mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, port, 10000,
                 MACH_PORT_NULL) == MACH_MSG_SUCCESS) {
        rv_msg reply = {0};
        reply.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
        reply.h.msgh_size = sizeof reply;
        reply.h.msgh_remote_port = r.m.h.msgh_remote_port;
        reply.h.msgh_id = r.m.h.msgh_id + 100;
        reply.value = r.m.value + 1;
        if (mach_msg(&reply.h, MACH_SEND_MSG, sizeof reply, 0, MACH_PORT_NULL, 0,
                     MACH_PORT_NULL) == MACH_MSG_SUCCESS)
            result = NULL;
    }
    (void)mach_port_mod_refs(mach_task_self(), port, MACH_PORT_RIGHT_RECEIVE, -1);
    return result;
}

MT_TEST(threads_rendezvous_through_bootstrap_and_complete_an_rpc)
{
    unique_name(rendezvous_name, sizeof rendezvous_name, "rendezvous");
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, rendezvous_server, NULL) == 0);

    /* The client polls for the name (generous bound: the machine may be loaded). */
    mach_port_t service = MACH_PORT_NULL;
    kern_return_t kr = BOOTSTRAP_UNKNOWN_SERVICE;
    for (int i = 0; i < 10000 && kr == BOOTSTRAP_UNKNOWN_SERVICE; i++) {
        kr = bootstrap_look_up(bootstrap_port, rendezvous_name, &service);
        if (kr == BOOTSTRAP_UNKNOWN_SERVICE)
            nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    MT_KR(kr, BOOTSTRAP_SUCCESS);
    mach_port_t reply = nu_port();
    rv_rcv r;
    memset(&r, 0, sizeof r);
    r.m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    r.m.h.msgh_size = sizeof r.m;
    r.m.h.msgh_remote_port = service;
    r.m.h.msgh_local_port = reply;
    r.m.h.msgh_id = 7000;
    r.m.value = 41;
    MT_KR(mach_msg(&r.m.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, sizeof r.m, sizeof r,
                   reply, 10000, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(r.m.h.msgh_id, 7100);
    MT_EQ(r.m.value, 42);
    void *result = (void *)-1;
    MT_REQUIRE(pthread_join(th, &result) == 0);
    MT_CHECK(result == NULL);
    if (MACH_PORT_VALID(service))
        MT_KR(mach_port_deallocate(TASK, service), KERN_SUCCESS);
    nu_kill(reply);
}

MT_MAIN()
