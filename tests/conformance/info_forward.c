/*
 * info_forward.c — task_info, thread_info, host_info, host_statistics, host_statistics64 and
 * host_processor_info on a send right to an ordinary port are MIG requests queued on that
 * port, as Darwin's stubs send them (task.defs 3405, thread_act.defs 3612, mach_host.defs 200,
 * 216, 219 and 204), and whatever its receiver answers is the call's result: the largest array
 * each routine's MIG type allows (task_info_t 94 integers, thread_info_t 32, host_info_t 68,
 * host_info64_t 256) comes back whole, host_processor_info's records out of line.
 */
#include "notify_util.h"

#include <mach/mach_host.h>
#include <mach/mig_errors.h>

#include <pthread.h>
#include <stddef.h>

#define IF_TASK_INFO_MAX 94u   /* task_info_t: array[*:93+1] of integer_t */
#define IF_THREAD_INFO_MAX 32u /* thread_info_t: array[*:32] */
#define IF_HOST_INFO_MAX 68u   /* host_info_t: array[*:68] */
#define IF_HOST_INFO64_MAX 256u /* host_info64_t: array[*:256] */
#define IF_FLAVOR 77

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    int32_t flavor;
    mach_msg_type_number_t count;
    mach_msg_max_trailer_t trailer;
} if_request;
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    kern_return_t ret;
    mach_msg_type_number_t count;
    integer_t info[IF_TASK_INFO_MAX];
} if_reply;
#pragma pack(pop)

typedef struct {
    mach_port_t port;
    int served;
    int bad;
    mach_msg_type_number_t asked[3]; /* the counts the requests carried */
} if_server;

/* The answer's i-th integer for a request of id `id`. */
static integer_t if_word(mach_msg_id_t id, uint32_t i)
{
    return (integer_t)(id * 1000 + (int)i);
}

/* Serve three info requests as a MIG server does: as many integers as the count asked. */
static void *if_serve(void *arg)
{
    if_server *s = arg;
    for (int n = 0; n < 3; n++) {
        if_request req;
        memset(&req, 0, sizeof req);
        if (mach_msg(&req.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof req, s->port, 10000,
                     MACH_PORT_NULL) != MACH_MSG_SUCCESS ||
            req.head.msgh_size != offsetof(if_request, trailer) || req.flavor != IF_FLAVOR) {
            s->bad++;
            return NULL;
        }
        s->asked[n] = req.count;
        if_reply r;
        memset(&r, 0, sizeof r);
        mach_msg_type_number_t count = req.count < IF_TASK_INFO_MAX ? req.count : IF_TASK_INFO_MAX;
        r.head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(req.head.msgh_bits), 0);
        r.head.msgh_remote_port = req.head.msgh_remote_port;
        r.head.msgh_id = req.head.msgh_id + 100;
        r.head.msgh_size = (mach_msg_size_t)(offsetof(if_reply, info) + count * sizeof(integer_t));
        r.ndr = NDR_record;
        r.count = count;
        for (uint32_t i = 0; i < count; i++)
            r.info[i] = if_word(req.head.msgh_id, i);
        if (mach_msg(&r.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, r.head.msgh_size, 0,
                     MACH_PORT_NULL, 10000, MACH_PORT_NULL) != MACH_MSG_SUCCESS)
            s->bad++;
        s->served++;
    }
    return NULL;
}

static void if_check(const integer_t *info, mach_msg_type_number_t count, mach_msg_id_t id,
                     mach_msg_type_number_t want)
{
    MT_EQ(count, want);
    for (uint32_t i = 0; i < want && i < count; i++)
        if (info[i] != if_word(id, i)) {
            MT_EQ(info[i], if_word(id, i));
            break;
        }
}

MT_TEST(the_largest_info_arrays_come_back_whole_from_an_ordinary_ports_receiver)
{
    (void)mig_get_reply_port(); /* the stubs' reply port, made once per thread, is no leak */
    NU_BEGIN();
    if_server s = {.port = nu_port_with_send(), .served = 0, .bad = 0, .asked = {0, 0, 0}};
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, if_serve, &s) == 0);

    integer_t info[IF_TASK_INFO_MAX + 8];
    memset(info, 0, sizeof info);
    mach_msg_type_number_t count = IF_TASK_INFO_MAX;
    MT_KR(task_info(s.port, IF_FLAVOR, info, &count), KERN_SUCCESS);
    if_check(info, count, 3405, IF_TASK_INFO_MAX);

    memset(info, 0, sizeof info);
    count = IF_THREAD_INFO_MAX;
    MT_KR(thread_info(s.port, IF_FLAVOR, info, &count), KERN_SUCCESS);
    if_check(info, count, 3612, IF_THREAD_INFO_MAX);

    memset(info, 0, sizeof info);
    count = IF_HOST_INFO_MAX;
    MT_KR(host_info(s.port, IF_FLAVOR, info, &count), KERN_SUCCESS);
    if_check(info, count, 200, IF_HOST_INFO_MAX);

    MT_REQUIRE(pthread_join(th, NULL) == 0);
    MT_EQ(s.bad, 0);
    MT_EQ(s.served, 3);
    MT_EQ(s.asked[0], IF_TASK_INFO_MAX);
    MT_EQ(s.asked[1], IF_THREAD_INFO_MAX);
    MT_EQ(s.asked[2], IF_HOST_INFO_MAX);
    nu_kill(s.port);
    NU_END();
}

/* host_processor_info's reply (MIG: the records out of line, then the count of processors and
 * the count of integers). */
#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t info;
    NDR_record_t ndr;
    natural_t processors;
    mach_msg_type_number_t count;
} if_ool_reply;
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    kern_return_t ret;
    mach_msg_type_number_t count;
    integer_t info[IF_HOST_INFO64_MAX];
} if_big_reply;
#pragma pack(pop)

#define IF_PROCESSORS 3u
#define IF_PER_PROCESSOR 5u

/* Serve host_statistics, host_statistics64 and host_processor_info as a MIG server does. */
static void *if_serve_host(void *arg)
{
    if_server *s = arg;
    for (int n = 0; n < 3; n++) {
        if_request req;
        memset(&req, 0, sizeof req);
        if (mach_msg(&req.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof req, s->port, 10000,
                     MACH_PORT_NULL) != MACH_MSG_SUCCESS ||
            req.flavor != IF_FLAVOR) {
            s->bad++;
            return NULL;
        }
        mach_msg_id_t id = req.head.msgh_id;
        mach_msg_return_t mr;
        if (id == 204) {
            /* No count travels: the flavor is the last argument. */
            if (req.head.msgh_size != offsetof(if_request, count)) {
                s->bad++;
                return NULL;
            }
            const uint32_t n_ints = IF_PROCESSORS * IF_PER_PROCESSOR;
            integer_t records[IF_PROCESSORS * IF_PER_PROCESSOR];
            for (uint32_t i = 0; i < n_ints; i++)
                records[i] = if_word(id, i);
            if_ool_reply r;
            memset(&r, 0, sizeof r);
            r.head.msgh_bits =
                MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(req.head.msgh_bits), 0) | MACH_MSGH_BITS_COMPLEX;
            r.head.msgh_remote_port = req.head.msgh_remote_port;
            r.head.msgh_id = id + 100;
            r.head.msgh_size = sizeof r;
            r.body.msgh_descriptor_count = 1;
            r.info.address = records;
            r.info.size = (mach_msg_size_t)sizeof records;
            r.info.deallocate = FALSE;
            r.info.copy = MACH_MSG_VIRTUAL_COPY;
            r.info.type = MACH_MSG_OOL_DESCRIPTOR;
            r.ndr = NDR_record;
            r.processors = IF_PROCESSORS;
            r.count = n_ints;
            s->asked[n] = 0;
            mr = mach_msg(&r.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, r.head.msgh_size, 0,
                          MACH_PORT_NULL, 10000, MACH_PORT_NULL);
        } else {
            if (req.head.msgh_size != offsetof(if_request, trailer)) {
                s->bad++;
                return NULL;
            }
            s->asked[n] = req.count;
            if_big_reply r;
            memset(&r, 0, sizeof r);
            mach_msg_type_number_t count =
                req.count < IF_HOST_INFO64_MAX ? req.count : IF_HOST_INFO64_MAX;
            r.head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(req.head.msgh_bits), 0);
            r.head.msgh_remote_port = req.head.msgh_remote_port;
            r.head.msgh_id = id + 100;
            r.head.msgh_size =
                (mach_msg_size_t)(offsetof(if_big_reply, info) + count * sizeof(integer_t));
            r.ndr = NDR_record;
            r.count = count;
            for (uint32_t i = 0; i < count; i++)
                r.info[i] = if_word(id, i);
            mr = mach_msg(&r.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, r.head.msgh_size, 0,
                          MACH_PORT_NULL, 10000, MACH_PORT_NULL);
        }
        if (mr != MACH_MSG_SUCCESS)
            s->bad++;
        s->served++;
    }
    return NULL;
}

MT_TEST(host_statistics_and_processor_info_on_an_ordinary_port_are_its_receivers_answers)
{
    (void)mig_get_reply_port();
    NU_BEGIN();
    if_server s = {.port = nu_port_with_send(), .served = 0, .bad = 0, .asked = {0, 0, 0}};
    pthread_t th;
    MT_REQUIRE(pthread_create(&th, NULL, if_serve_host, &s) == 0);

    integer_t info[IF_HOST_INFO64_MAX + 8];
    memset(info, 0, sizeof info);
    mach_msg_type_number_t count = IF_HOST_INFO_MAX;
    MT_KR(host_statistics(s.port, IF_FLAVOR, info, &count), KERN_SUCCESS);
    if_check(info, count, 216, IF_HOST_INFO_MAX);

    memset(info, 0, sizeof info);
    count = IF_HOST_INFO64_MAX;
    MT_KR(host_statistics64(s.port, IF_FLAVOR, info, &count), KERN_SUCCESS);
    if_check(info, count, 219, IF_HOST_INFO64_MAX);

    natural_t processors = 0;
    processor_info_array_t records = NULL;
    count = 0;
    MT_KR(host_processor_info(s.port, IF_FLAVOR, &processors, &records, &count), KERN_SUCCESS);
    MT_EQ(processors, IF_PROCESSORS);
    MT_REQUIRE(records != NULL);
    if_check(records, count, 204, IF_PROCESSORS * IF_PER_PROCESSOR);
    MT_KR(vm_deallocate(TASK, (vm_address_t)records, count * sizeof *records), KERN_SUCCESS);

    MT_REQUIRE(pthread_join(th, NULL) == 0);
    MT_EQ(s.bad, 0);
    MT_EQ(s.served, 3);
    MT_EQ(s.asked[0], IF_HOST_INFO_MAX);
    MT_EQ(s.asked[1], IF_HOST_INFO64_MAX);
    nu_kill(s.port);
    NU_END();
}

MT_MAIN()
