/*
 * info_forward.c — task_info, thread_info and host_info on a send right to an ordinary port
 * are MIG requests queued on that port, as Darwin's stubs send them (task.defs 3405,
 * thread_act.defs 3612, mach_host.defs 200), and whatever its receiver answers is the call's
 * result: the largest array each routine's MIG type allows (task_info_t 94 integers,
 * thread_info_t 32, host_info_t 68) comes back whole.
 */
#include "notify_util.h"

#include <mach/mig_errors.h>

#include <pthread.h>
#include <stddef.h>

#define IF_TASK_INFO_MAX 94u   /* task_info_t: array[*:93+1] of integer_t */
#define IF_THREAD_INFO_MAX 32u /* thread_info_t: array[*:32] */
#define IF_HOST_INFO_MAX 68u   /* host_info_t: array[*:68] */
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

MT_MAIN()
