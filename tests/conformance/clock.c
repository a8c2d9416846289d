/*
 * clock.c — the clock services as old portable code uses them (host_get_clock_service, then
 * clock_get_time, then mach_port_deallocate): one port per clock, the system clock on
 * mach_absolute_time's base, the calendar on the wall clock, XNU's attributes and error codes,
 * and the MIG requests by hand. A call on a port of another kind gets what XNU's kernel server
 * answers when the port converts to no clock or host (KERN_INVALID_ARGUMENT); on an ordinary
 * port the request reaches the port's receiver, as any MIG stub's does.
 */
#include "mig_rpc_util.h"

#include <mach/clock.h>
#include <mach/mach_time.h>
#include <mach/mig_errors.h>

#include <pthread.h>
#include <time.h>

/* XNU's resolution for every clock and flavour that has one (clock_oldops.c): 10 ms. */
#define CK_RES ((clock_res_t)(NSEC_PER_SEC / 100))

/*
 * The host port, after one host_get_clock_service made (and dropped) whatever the MIG stub
 * keeps per thread (its reply port), so that a test's space snapshot sees only its own
 * names. The caller deallocates the host port.
 */
static mach_port_t ck_host(void)
{
    mach_port_t host = mach_host_self();
    clock_serv_t c = MACH_PORT_NULL;
    if (host_get_clock_service(host, SYSTEM_CLOCK, &c) == KERN_SUCCESS)
        (void)mach_port_deallocate(TASK, c);
    return host;
}

static uint64_t ck_ns(const mach_timespec_t *t)
{
    return (uint64_t)t->tv_sec * NSEC_PER_SEC + (uint64_t)t->tv_nsec;
}

/* mach_absolute_time in nanoseconds (the system clock's base). */
static uint64_t ck_uptime_ns(void)
{
    mach_timebase_info_data_t tb;
    (void)mach_timebase_info(&tb);
    return mach_absolute_time() * tb.numer / tb.denom;
}

MT_TEST(calendar_clock_reads_the_wall_clock_and_its_port_goes_with_its_last_right)
{
    mach_port_t host = ck_host();
    NU_BEGIN();
    clock_serv_t cclock = MACH_PORT_NULL;
    MT_KR(host_get_clock_service(host, CALENDAR_CLOCK, &cclock), KERN_SUCCESS);
    MT_REQUIRE(MACH_PORT_VALID(cclock));
    MT_EQ(nu_type(cclock), MACH_PORT_TYPE_SEND);
    struct timespec before, after;
    mach_timespec_t mts = {0, -1};
    clock_gettime(CLOCK_REALTIME, &before);
    MT_KR(clock_get_time(cclock, &mts), KERN_SUCCESS);
    clock_gettime(CLOCK_REALTIME, &after);
    MT_CHECK(mts.tv_nsec >= 0 && (uint64_t)mts.tv_nsec < NSEC_PER_SEC);
    MT_CHECK((int64_t)mts.tv_sec >= (int64_t)before.tv_sec - 1);
    MT_CHECK((int64_t)mts.tv_sec <= (int64_t)after.tv_sec + 1);
    MT_KR(mach_port_deallocate(TASK, cclock), KERN_SUCCESS);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_TEST(system_clock_is_uptime_on_mach_absolute_times_base_and_never_goes_back)
{
    mach_port_t host = ck_host();
    NU_BEGIN();
    clock_serv_t sclock = MACH_PORT_NULL;
    MT_KR(host_get_clock_service(host, SYSTEM_CLOCK, &sclock), KERN_SUCCESS);
    MT_REQUIRE(MACH_PORT_VALID(sclock));
    mach_timespec_t mts = {0, -1};
    uint64_t before = ck_uptime_ns();
    MT_KR(clock_get_time(sclock, &mts), KERN_SUCCESS);
    uint64_t after = ck_uptime_ns();
    MT_CHECK(mts.tv_nsec >= 0 && (uint64_t)mts.tv_nsec < NSEC_PER_SEC);
    /* Between the two readings, give or take a conversion's rounding. */
    MT_CHECK(ck_ns(&mts) + NSEC_PER_MSEC >= before);
    MT_CHECK(ck_ns(&mts) <= after + NSEC_PER_MSEC);
    uint64_t prev = ck_ns(&mts);
    for (int i = 0; i < 200; i++) {
        MT_REQUIRE(clock_get_time(sclock, &mts) == KERN_SUCCESS);
        MT_REQUIRE((uint64_t)mts.tv_nsec < NSEC_PER_SEC);
        MT_REQUIRE(ck_ns(&mts) >= prev);
        prev = ck_ns(&mts);
    }
    MT_KR(mach_port_deallocate(TASK, sclock), KERN_SUCCESS);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_TEST(each_clock_is_one_port_a_second_call_adds_a_uref_to_the_same_name)
{
    mach_port_t host = ck_host();
    NU_BEGIN();
    clock_serv_t a = MACH_PORT_NULL, b = MACH_PORT_NULL, cal = MACH_PORT_NULL;
    MT_KR(host_get_clock_service(host, SYSTEM_CLOCK, &a), KERN_SUCCESS);
    MT_REQUIRE(MACH_PORT_VALID(a));
    mach_port_urefs_t refs = nu_refs(a, MACH_PORT_RIGHT_SEND);
    MT_CHECK(refs >= 1);
    MT_KR(host_get_clock_service(host, SYSTEM_CLOCK, &b), KERN_SUCCESS);
    MT_EQ(b, a);
    MT_EQ(nu_refs(a, MACH_PORT_RIGHT_SEND), refs + 1);
    MT_KR(host_get_clock_service(host, CALENDAR_CLOCK, &cal), KERN_SUCCESS);
    MT_CHECK(MACH_PORT_VALID(cal));
    MT_NE(cal, a);
    /* REALTIME_CLOCK is the system clock's other name. */
    MT_EQ(REALTIME_CLOCK, SYSTEM_CLOCK);
    MT_KR(mach_port_deallocate(TASK, cal), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, b), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, a), KERN_SUCCESS);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

/* One attribute of `flavor` with room for `count` integers: its value (-1 if none came). */
static kern_return_t ck_attr(clock_serv_t c, clock_flavor_t flavor, mach_msg_type_number_t *count,
                             int *value)
{
    int attr[4] = {-1, -1, -1, -1};
    kern_return_t kr = clock_get_attributes(c, flavor, attr, count);
    *value = attr[0];
    return kr;
}

MT_TEST(clock_attributes_are_xnus_resolutions_and_checks)
{
    mach_port_t host = ck_host();
    NU_BEGIN();
    clock_serv_t sys = MACH_PORT_NULL, cal = MACH_PORT_NULL;
    MT_KR(host_get_clock_service(host, SYSTEM_CLOCK, &sys), KERN_SUCCESS);
    MT_KR(host_get_clock_service(host, CALENDAR_CLOCK, &cal), KERN_SUCCESS);
    static const clock_flavor_t flavors[] = {CLOCK_GET_TIME_RES, CLOCK_ALARM_CURRES,
                                             CLOCK_ALARM_MINRES, CLOCK_ALARM_MAXRES};
    for (size_t i = 0; i < sizeof flavors / sizeof *flavors; i++) {
        mach_msg_type_number_t n = 1;
        int v;
        MT_KR(ck_attr(sys, flavors[i], &n, &v), KERN_SUCCESS);
        MT_EQ(n, 1);
        MT_EQ(v, CK_RES);
        /* The calendar has a time resolution but no alarms. */
        n = 1;
        MT_KR(ck_attr(cal, flavors[i], &n, &v), KERN_SUCCESS);
        MT_EQ(n, 1);
        MT_EQ(v, flavors[i] == CLOCK_GET_TIME_RES ? CK_RES : 0);
    }
    /* More room than one integer: one comes. No room at all: KERN_FAILURE, before the
     * flavour is looked at. */
    mach_msg_type_number_t n = 4;
    int v;
    MT_KR(ck_attr(sys, CLOCK_GET_TIME_RES, &n, &v), KERN_SUCCESS);
    MT_EQ(n, 1);
    MT_EQ(v, CK_RES);
    n = 0;
    MT_KR(ck_attr(sys, CLOCK_GET_TIME_RES, &n, &v), KERN_FAILURE);
    n = 0;
    MT_KR(ck_attr(cal, 99, &n, &v), KERN_FAILURE);
    /* Flavour 2 (the old map_time resolution) is gone, as is any other. */
    n = 1;
    MT_KR(ck_attr(sys, 2, &n, &v), KERN_INVALID_VALUE);
    n = 1;
    MT_KR(ck_attr(cal, 99, &n, &v), KERN_INVALID_VALUE);
    n = 1;
    MT_KR(ck_attr(sys, -1, &n, &v), KERN_INVALID_VALUE);
    MT_KR(mach_port_deallocate(TASK, cal), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, sys), KERN_SUCCESS);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_TEST(a_clock_id_outside_the_list_is_invalid_argument_and_names_nothing)
{
    mach_port_t host = ck_host();
    NU_BEGIN();
    static const clock_id_t bad[] = {2, 3, -1, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        clock_serv_t c = MACH_PORT_NULL;
        MT_KR(host_get_clock_service(host, bad[i], &c), KERN_INVALID_ARGUMENT);
    }
    NU_END();
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

/* A receive right and a send right under one name, then the receive right destroyed. */
static mach_port_t ck_dead_name(void)
{
    mach_port_t p = nu_port_with_send();
    (void)mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1);
    return p;
}

MT_TEST(host_get_clock_service_on_a_port_that_is_not_the_host_answers_as_xnu)
{
    mach_port_t host = ck_host();
    NU_BEGIN();
    clock_serv_t c = MACH_PORT_NULL;
    /* A kernel port of another kind converts to no host. */
    MT_KR(host_get_clock_service(TASK, SYSTEM_CLOCK, &c), KERN_INVALID_ARGUMENT);
    MT_KR(host_get_clock_service(host, SYSTEM_CLOCK, &c), KERN_SUCCESS);
    clock_serv_t other = MACH_PORT_NULL;
    MT_KR(host_get_clock_service(c, CALENDAR_CLOCK, &other), KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_deallocate(TASK, c), KERN_SUCCESS);
    /* No send right to send the request with. */
    MT_KR(host_get_clock_service(MACH_PORT_NULL, SYSTEM_CLOCK, &c), MACH_SEND_INVALID_DEST);
    mach_port_t dead = ck_dead_name();
    MT_EQ(nu_type(dead), MACH_PORT_TYPE_DEAD_NAME);
    MT_KR(host_get_clock_service(dead, SYSTEM_CLOCK, &c), MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_TEST(clock_calls_on_a_kernel_port_that_is_no_clock_are_invalid_argument)
{
    mach_port_t host = ck_host();
    NU_BEGIN();
    mach_timespec_t mts = {0, 0};
    MT_KR(clock_get_time(TASK, &mts), KERN_INVALID_ARGUMENT);
    MT_KR(clock_get_time(host, &mts), KERN_INVALID_ARGUMENT);
    mach_msg_type_number_t n = 1;
    int v;
    MT_KR(ck_attr(TASK, CLOCK_GET_TIME_RES, &n, &v), KERN_INVALID_ARGUMENT);
    n = 1;
    MT_KR(ck_attr(host, CLOCK_GET_TIME_RES, &n, &v), KERN_INVALID_ARGUMENT);
    /* And no send right at all: the request cannot be sent. */
    MT_KR(clock_get_time(MACH_PORT_NULL, &mts), MACH_SEND_INVALID_DEST);
    mach_port_t dead = ck_dead_name();
    MT_KR(clock_get_time(dead, &mts), MACH_SEND_INVALID_DEST);
    n = 1;
    MT_KR(ck_attr(dead, CLOCK_GET_TIME_RES, &n, &v), MACH_SEND_INVALID_DEST);
    mach_port_t recv_only = nu_port();
    MT_KR(clock_get_time(recv_only, &mts), MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_mod_refs(TASK, recv_only, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    kern_return_t ret;
    mach_timespec_t cur_time;
} ck_time_reply;
#pragma pack(pop)

/* Play a clock: receive one request on `port`, keep its id and size, answer time {42, 7}. */
typedef struct {
    mach_port_t port;
    mach_msg_id_t id;
    mach_msg_size_t size;
    mach_msg_return_t mr;
} ck_server;

static void *ck_serve_one(void *arg)
{
    ck_server *s = arg;
    union {
        mach_msg_header_t head;
        uint8_t bytes[256];
    } req;
    s->mr = mach_msg(&req.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof req, s->port, 10000,
                     MACH_PORT_NULL);
    if (s->mr != MACH_MSG_SUCCESS)
        return NULL;
    s->id = req.head.msgh_id;
    s->size = req.head.msgh_size;
    ck_time_reply r;
    memset(&r, 0, sizeof r);
    r.head.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSGH_BITS_REMOTE(req.head.msgh_bits), 0, 0, 0);
    r.head.msgh_size = sizeof r;
    r.head.msgh_remote_port = req.head.msgh_remote_port;
    r.head.msgh_id = req.head.msgh_id + 100;
    r.ndr = NDR_record;
    r.ret = KERN_SUCCESS;
    r.cur_time.tv_sec = 42;
    r.cur_time.tv_nsec = 7;
    s->mr = mach_msg(&r.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof r, 0, MACH_PORT_NULL, 10000,
                     MACH_PORT_NULL);
    return NULL;
}

MT_TEST(clock_get_time_on_an_ordinary_port_is_a_request_its_receiver_answers)
{
    mach_port_t host = ck_host();
    mach_timespec_t mts = {0, 0};
    /* Whatever the MIG stub keeps per thread for this call, made before the snapshot. */
    clock_serv_t warm = MACH_PORT_NULL;
    MT_KR(host_get_clock_service(host, SYSTEM_CLOCK, &warm), KERN_SUCCESS);
    MT_KR(clock_get_time(warm, &mts), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, warm), KERN_SUCCESS);
    NU_BEGIN();
    ck_server s = {.port = nu_port_with_send(), .id = 0, .size = 0, .mr = MACH_RCV_TIMED_OUT};
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, ck_serve_one, &s) == 0);
    MT_KR(clock_get_time(s.port, &mts), KERN_SUCCESS);
    pthread_join(th, NULL);
    MT_KR(s.mr, MACH_MSG_SUCCESS);
    MT_EQ(s.id, 1000);
    MT_EQ(s.size, sizeof(mach_msg_header_t)); /* no argument: not even an NDR record */
    MT_EQ(mts.tv_sec, 42);
    MT_EQ(mts.tv_nsec, 7);
    nu_kill(s.port);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

/* ---- the MIG requests by hand ------------------------------------------------------------- */

MT_TEST(host_get_clock_service_by_message_gives_a_send_right_to_the_clock_port)
{
    mach_port_t host = ck_host();
    NU_BEGIN();
    mach_port_t reply = nu_port();
    clock_serv_t cal = MACH_PORT_NULL;
    MT_KR(host_get_clock_service(host, CALENDAR_CLOCK, &cal), KERN_SUCCESS);
    mach_port_urefs_t refs = nu_refs(cal, MACH_PORT_RIGHT_SEND);
    mru_reply r;
    MT_KR(mru_rpc(host, reply, 206, 1, CALENDAR_CLOCK, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 306);
    MT_CHECK(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.head.msgh_size, sizeof r.port);
    MT_EQ(r.port.body.msgh_descriptor_count, 1);
    MT_EQ(r.port.port.type, MACH_MSG_PORT_DESCRIPTOR);
    MT_EQ(r.port.port.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(r.port.port.name, cal);
    MT_EQ(nu_refs(cal, MACH_PORT_RIGHT_SEND), refs + 1);
    MT_KR(mach_port_deallocate(TASK, cal), KERN_SUCCESS);
    /* A bad clock id, a request of the wrong size, to a port that is no host. */
    MT_KR(mru_rpc(host, reply, 206, 1, 7, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    MT_KR(mru_rpc(host, reply, 206, 2, SYSTEM_CLOCK, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, MIG_BAD_ARGUMENTS);
    MT_KR(mru_rpc(TASK, reply, 206, 1, SYSTEM_CLOCK, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 306);
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_deallocate(TASK, cal), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_TEST(clock_routines_by_message_answer_in_migs_reply_layout)
{
    mach_port_t host = ck_host();
    NU_BEGIN();
    mach_port_t reply = nu_port();
    clock_serv_t cal = MACH_PORT_NULL;
    MT_KR(host_get_clock_service(host, CALENDAR_CLOCK, &cal), KERN_SUCCESS);
    mru_reply r;
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    MT_KR(mru_rpc(cal, reply, 1000, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    clock_gettime(CLOCK_REALTIME, &after);
    MT_EQ(r.head.msgh_id, 1100);
    MT_EQ(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX, 0);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 + 8);
    MT_CHECK(nu_ndr_ok(&r.simple.ndr));
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_CHECK((int64_t)r.simple.out[0] >= (int64_t)before.tv_sec - 1);
    MT_CHECK((int64_t)r.simple.out[0] <= (int64_t)after.tv_sec + 1);
    MT_CHECK(r.simple.out[1] < NSEC_PER_SEC);
    /* clock_get_attributes: flavour, then the room asked for; the reply's count, then one int. */
    MT_KR(mru_rpc(cal, reply, 1001, 2, CLOCK_GET_TIME_RES, 1, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 1101);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 + 4 + 4);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(r.simple.out[0], 1);
    MT_EQ(r.simple.out[1], CK_RES);
    MT_KR(mru_rpc(cal, reply, 1001, 2, CLOCK_ALARM_MAXRES, 1, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.simple.out[0], 1);
    MT_EQ(r.simple.out[1], 0);
    MT_KR(mru_rpc(cal, reply, 1001, 2, CLOCK_GET_TIME_RES, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, KERN_FAILURE);
    MT_KR(mru_rpc(cal, reply, 1001, 2, 77, 1, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, KERN_INVALID_VALUE);
    /* A request of the wrong size, an id no routine has, a routine to a port that is no clock. */
    MT_KR(mru_rpc(cal, reply, 1000, 1, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, MIG_BAD_ARGUMENTS);
    MT_KR(mru_rpc(cal, reply, 1001, 1, CLOCK_GET_TIME_RES, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, MIG_BAD_ARGUMENTS);
    MT_KR(mru_rpc(cal, reply, 1099, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 1199);
    MT_EQ(r.error.RetCode, MIG_BAD_ID);
    MT_KR(mru_rpc(host, reply, 1000, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 1100);
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    /* The host's routines on a clock port: it converts to no host. */
    MT_KR(mru_rpc(cal, reply, 206, 1, SYSTEM_CLOCK, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_deallocate(TASK, cal), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_MAIN()
