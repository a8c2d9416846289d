/*
 * task_port_mig.c — a MIG request sent by hand with mach_msg to the task's own task port (as a
 * program's own MIG user stubs, generated from mach_port.defs and task.defs, send it) is
 * served by the kernel and answered on the request's reply port with MIG's reply: id + 100,
 * a simple reply of NDR, RetCode and in-line results, a complex one of descriptors, NDR and
 * counts for rights and out-of-line arrays, a bare mig_reply_error_t for an error. An id the
 * kernel has no routine for is MIG_BAD_ID, a request of the wrong size or shape
 * MIG_BAD_ARGUMENTS, a descriptor of the wrong type or disposition MIG_TYPE_ERROR; a failed
 * request's rights are destroyed. The requests and replies are written out as MIG output
 * lays them out.
 */
#include "notify_util.h"

#include <mach/mig_errors.h>
#include <mach/task_info.h>
#include <mach/task_special_ports.h>

#include <stdbool.h>
#include <stddef.h>

/* MIG ids (mach_port.defs from 3200, task.defs from 3400). */
enum {
    TM_NAMES = 3200,
    TM_TYPE = 3201,
    TM_ALLOCATE_NAME = 3203,
    TM_ALLOCATE = 3204,
    TM_MOD_REFS = 3208,
    TM_REQUEST_NOTIFICATION = 3213,
    TM_INSERT_RIGHT = 3214,
    TM_EXTRACT_RIGHT = 3215,
    TM_GET_ATTRIBUTES = 3217,
    TM_SET_ATTRIBUTES = 3218,
    TM_GET_CONTEXT = 3228,
    TM_SET_CONTEXT = 3229,
    TM_CONSTRUCT = 3231,
    TM_TASK_INFO = 3405,
    TM_GET_SPECIAL_PORT = 3409,
    TM_SET_SPECIAL_PORT = 3410,
    TM_GET_SET_STATUS = 3211,
    TM_GET_EXC_GUARD_BEHAVIOR = 3452,
    TM_SET_EXC_GUARD_BEHAVIOR = 3453,
};

#pragma pack(push, 4)
/* Requests. */
typedef struct {
    mach_msg_header_t head;
} tm_req_none;
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    uint32_t a;
} tm_req_1;
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    uint32_t a, b;
} tm_req_2;
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    uint32_t a, b, c;
} tm_req_3;
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    mach_port_name_t name;
    uint64_t context;
} tm_req_context;
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    mach_port_name_t name;
    mach_port_flavor_t flavor;
    mach_msg_type_number_t count;
    integer_t info[17];
} tm_req_set_attributes;
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
    NDR_record_t ndr;
    uint32_t a, b, c;
} tm_req_port;
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t options;
    NDR_record_t ndr;
    uint64_t context;
} tm_req_construct;

/* Replies (with room for a trailer). */
typedef struct {
    mach_msg_header_t head;
    NDR_record_t ndr;
    kern_return_t ret;
    uint32_t out[100];
} tm_reply_simple;
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t port;
    uint8_t trailer[MAX_TRAILER_SIZE];
} tm_reply_port;
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t members;
    NDR_record_t ndr;
    mach_msg_type_number_t count;
    uint8_t trailer[MAX_TRAILER_SIZE];
} tm_reply_members;
typedef struct {
    mach_msg_header_t head;
    mach_msg_body_t body;
    mach_msg_ool_descriptor_t names, types;
    NDR_record_t ndr;
    mach_msg_type_number_t names_count, types_count;
    uint8_t trailer[MAX_TRAILER_SIZE];
} tm_reply_names;
#pragma pack(pop)

typedef union tm_reply {
    mach_msg_header_t head;
    mig_reply_error_t error;
    tm_reply_simple simple;
    tm_reply_port port;
    tm_reply_names names;
    tm_reply_members members;
    uint8_t bytes[1024];
} tm_reply;

/* The reply port the requests name (one per test, destroyed at its end). */
static mach_port_t tm_rport;

static void tm_begin(void)
{
    tm_rport = nu_port();
}

static void tm_end(void)
{
    MT_KR(mach_port_mod_refs(TASK, tm_rport, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

/*
 * Send the request `req` (`size` bytes, complex when `complex`) to our task port with a
 * send-once right to the reply port, and receive its reply into `r` (10 s at most). Returns
 * mach_msg's result.
 */
static mach_msg_return_t tm_rpc(void *req, mach_msg_size_t size, mach_msg_id_t id, bool complex,
                                tm_reply *r)
{
    mach_msg_header_t *h = req;
    h->msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0,
                                      complex ? MACH_MSGH_BITS_COMPLEX : 0);
    h->msgh_size = size;
    h->msgh_remote_port = TASK;
    h->msgh_local_port = tm_rport;
    h->msgh_voucher_port = MACH_PORT_NULL;
    h->msgh_id = id;
    mach_msg_return_t mr = mach_msg(h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL,
                                    10000, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS)
        return mr;
    memset(r, 0xA5, sizeof *r);
    return mach_msg(&r->head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof *r, tm_rport, 10000,
                    MACH_PORT_NULL);
}

/* A simple request of `n` 32-bit arguments (0 to 3). */
static mach_msg_return_t tm_call(mach_msg_id_t id, unsigned n, uint32_t a, uint32_t b, uint32_t c,
                                 tm_reply *r)
{
    tm_req_3 req;
    memset(&req, 0, sizeof req);
    req.ndr = NDR_record;
    req.a = a;
    req.b = b;
    req.c = c;
    mach_msg_size_t size = n ? (mach_msg_size_t)(sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 4 * n)
                             : (mach_msg_size_t)sizeof(mach_msg_header_t);
    return tm_rpc(&req, size, id, false, r);
}

/* The reply is a bare mig_reply_error_t of the request `id` with RetCode `ret`. */
#define TM_ERROR_REPLY(r, id, ret)                                                              \
    do {                                                                                       \
        MT_EQ((r).head.msgh_id, (id) + 100);                                                   \
        MT_EQ((r).head.msgh_size, sizeof(mig_reply_error_t));                                  \
        MT_EQ((r).head.msgh_bits & MACH_MSGH_BITS_COMPLEX, 0);                                 \
        MT_EQ((r).head.msgh_bits, MACH_MSGH_BITS_SET(0, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0));   \
        MT_EQ((r).head.msgh_local_port, tm_rport);                                             \
        MT_EQ((r).head.msgh_remote_port, MACH_PORT_NULL);                                      \
        MT_CHECK(nu_ndr_ok(&(r).error.NDR));                                                   \
        MT_EQ((r).error.RetCode, (ret));                                                       \
    } while (0)

MT_TEST(a_hand_sent_allocate_request_gets_migs_simple_reply_with_a_real_name)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    MT_KR(tm_call(TM_ALLOCATE, 1, MACH_PORT_RIGHT_RECEIVE, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, TM_ALLOCATE + 100);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 8);
    MT_EQ(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX, 0);
    MT_CHECK(nu_ndr_ok(&r.simple.ndr));
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    mach_port_name_t name = r.simple.out[0];
    MT_EQ(nu_type(name), MACH_PORT_TYPE_RECEIVE);
    /* mach_port_type's reply carries the type; mod_refs' has the RetCode alone. */
    MT_KR(tm_call(TM_TYPE, 1, name, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 8);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(r.simple.out[0], MACH_PORT_TYPE_RECEIVE);
    MT_KR(tm_call(TM_MOD_REFS, 3, name, MACH_PORT_RIGHT_RECEIVE, (uint32_t)-1, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_MOD_REFS, KERN_SUCCESS);
    MT_EQ(nu_type(name), (mach_port_type_t)-1);
    tm_end();
    NU_END();
}

MT_TEST(a_routine_that_fails_answers_a_bare_error_reply_with_its_code)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    mach_port_name_t p = nu_port();
    mach_port_name_t unused = p + (1u << 8) * 77; /* another index: no right there */
    MT_KR(tm_call(TM_TYPE, 1, unused, 0, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_TYPE, KERN_INVALID_NAME);
    MT_KR(tm_call(TM_ALLOCATE, 1, 99, 0, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_ALLOCATE, KERN_INVALID_VALUE);
    /* allocate_name on a taken name. */
    MT_KR(tm_call(TM_ALLOCATE_NAME, 2, MACH_PORT_RIGHT_RECEIVE, p, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_ALLOCATE_NAME, KERN_NAME_EXISTS);
    nu_kill(p);
    tm_end();
    NU_END();
}

MT_TEST(an_unknown_id_is_mig_bad_id_and_a_misshapen_request_mig_bad_arguments)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    MT_KR(tm_call(3299, 1, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, 3299, MIG_BAD_ID);
    MT_KR(tm_call(1234567, 0, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, 1234567, MIG_BAD_ID);
    /* mach_port_allocate with an argument too many, or none. */
    MT_KR(tm_call(TM_ALLOCATE, 2, MACH_PORT_RIGHT_RECEIVE, 0, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_ALLOCATE, MIG_BAD_ARGUMENTS);
    MT_KR(tm_call(TM_ALLOCATE, 0, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_ALLOCATE, MIG_BAD_ARGUMENTS);
    /* A simple routine's request sent complex (no descriptor) is misshapen too. */
    tm_req_port creq;
    memset(&creq, 0, sizeof creq);
    creq.body.msgh_descriptor_count = 0;
    MT_KR(tm_rpc(&creq, sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t), TM_NAMES, true, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_NAMES, MIG_BAD_ARGUMENTS);
    /* Nothing was allocated by any of them. */
    tm_end();
    NU_END();
}

/* A request carrying `right` (`disp`) in its port descriptor, then `n` arguments. */
static mach_msg_return_t tm_call_port(mach_msg_id_t id, mach_port_t right,
                                      mach_msg_type_name_t disp, unsigned n, uint32_t a,
                                      uint32_t b, uint32_t c, tm_reply *r)
{
    tm_req_port req;
    memset(&req, 0, sizeof req);
    req.body.msgh_descriptor_count = 1;
    req.port.name = right;
    req.port.disposition = disp;
    req.port.type = MACH_MSG_PORT_DESCRIPTOR;
    req.ndr = NDR_record;
    req.a = a;
    req.b = b;
    req.c = c;
    return tm_rpc(&req, (mach_msg_size_t)(offsetof(tm_req_port, a) + 4 * n), id, true, r);
}

MT_TEST(insert_right_by_message_names_the_carried_right_and_a_failure_destroys_it)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    mach_port_name_t p = nu_port();
    /* A send right made from p, named p: the name gains the send right. */
    MT_KR(tm_call_port(TM_INSERT_RIGHT, p, MACH_MSG_TYPE_MAKE_SEND, 1, p, 0, 0, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_INSERT_RIGHT, KERN_SUCCESS);
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);
    /* A send-once right inserted under MACH_PORT_NULL: KERN_INVALID_VALUE, and the right is
     * destroyed with the request, so p gets its send-once notification. */
    mach_port_name_t so = nu_send_once(p);
    MT_KR(tm_call_port(TM_INSERT_RIGHT, so, MACH_MSG_TYPE_MOVE_SEND_ONCE, 1, MACH_PORT_NULL, 0, 0,
                       &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_INSERT_RIGHT, KERN_INVALID_VALUE);
    MT_EQ(nu_type(so), (mach_port_type_t)-1);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 5000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* insert_right's port argument is polymorphic, but a request with an out-of-line
     * descriptor in its place is not its shape. */
    tm_req_construct bad;
    memset(&bad, 0, sizeof bad);
    bad.body.msgh_descriptor_count = 1;
    bad.options.type = MACH_MSG_OOL_DESCRIPTOR;
    bad.ndr = NDR_record;
    MT_KR(tm_rpc(&bad, offsetof(tm_req_construct, context) + 4, TM_INSERT_RIGHT, true, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_INSERT_RIGHT, MIG_BAD_ARGUMENTS);
    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    nu_kill(p);
    tm_end();
    NU_END();
}

MT_TEST(extract_right_by_message_answers_the_right_in_a_complex_reply)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    mach_port_name_t p = nu_port();
    MT_KR(tm_call(TM_EXTRACT_RIGHT, 2, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, TM_EXTRACT_RIGHT + 100);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(mach_msg_body_t) +
                                sizeof(mach_msg_port_descriptor_t));
    MT_CHECK(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.port.body.msgh_descriptor_count, 1);
    MT_EQ(r.port.port.type, MACH_MSG_PORT_DESCRIPTOR);
    MT_EQ(r.port.port.disposition, MACH_MSG_TYPE_PORT_SEND_ONCE);
    mach_port_name_t so = r.port.port.name;
    MT_EQ(nu_type(so), MACH_PORT_TYPE_SEND_ONCE);
    MT_EQ(nu_status(p).mps_sorights, 1);
    MT_KR(mach_port_deallocate(TASK, so), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 5000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* A bad disposition: the routine's code in an error reply. */
    MT_KR(tm_call(TM_EXTRACT_RIGHT, 2, p, 99, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_EXTRACT_RIGHT, KERN_INVALID_VALUE);
    nu_kill(p);
    tm_end();
    NU_END();
}

MT_TEST(request_notification_by_message_takes_a_send_once_right_only)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    mach_port_name_t p = nu_port();
    mach_port_name_t n = nu_port();
    /* A no-senders request armed for a make-send count p has not reached (so it does not
     * fire at once): registered, no previous one (a null right in the reply). */
    MT_KR(tm_call_port(TM_REQUEST_NOTIFICATION, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, 3, p,
                       MACH_NOTIFY_NO_SENDERS, 1, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, TM_REQUEST_NOTIFICATION + 100);
    MT_CHECK(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.port.port.name, MACH_PORT_NULL);
    MT_EQ(r.port.port.disposition, MACH_MSG_TYPE_PORT_SEND_ONCE);
    /* Again: the first request's send-once right comes back as previous. */
    MT_KR(tm_call_port(TM_REQUEST_NOTIFICATION, n, MACH_MSG_TYPE_MAKE_SEND_ONCE, 3, p,
                       MACH_NOTIFY_NO_SENDERS, 1, &r),
          MACH_MSG_SUCCESS);
    mach_port_name_t prev = r.port.port.name;
    MT_EQ(nu_type(prev), MACH_PORT_TYPE_SEND_ONCE);
    MT_KR(mach_port_deallocate(TASK, prev), KERN_SUCCESS);
    nu_msg m;
    MT_KR(nu_recv(n, &m, 5000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* A send right where the routine takes a send-once right: MIG_TYPE_ERROR, the right
     * destroyed with the request (made for it, so nothing of ours changes). */
    MT_KR(tm_call_port(TM_REQUEST_NOTIFICATION, n, MACH_MSG_TYPE_MAKE_SEND, 3, p,
                       MACH_NOTIFY_NO_SENDERS, 1, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_REQUEST_NOTIFICATION, MIG_TYPE_ERROR);
    MT_EQ(nu_type(n), MACH_PORT_TYPE_RECEIVE);
    /* The request still registered is the second one: when p dies its send-once right is
     * destroyed unused, which n learns as a send-once notification. */
    nu_kill(p);
    MT_KR(nu_recv(n, &m, 5000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    nu_kill(n);
    tm_end();
    NU_END();
}

MT_TEST(names_by_message_answers_two_out_of_line_arrays_and_their_counts)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    tm_req_none req;
    memset(&req, 0, sizeof req);
    MT_REQUIRE(tm_rpc(&req, sizeof req, TM_NAMES, false, &r) == MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, TM_NAMES + 100);
    MT_EQ(r.head.msgh_size, offsetof(tm_reply_names, trailer));
    MT_CHECK(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.names.body.msgh_descriptor_count, 2);
    MT_EQ(r.names.names.type, MACH_MSG_OOL_DESCRIPTOR);
    MT_EQ(r.names.types.type, MACH_MSG_OOL_DESCRIPTOR);
    MT_CHECK(nu_ndr_ok(&r.names.ndr));
    mach_msg_type_number_t n = r.names.names_count;
    MT_EQ(r.names.types_count, n);
    MT_EQ(r.names.names.size, n * sizeof(mach_port_name_t));
    MT_EQ(r.names.types.size, n * sizeof(mach_port_type_t));
    /* The same names as the call's, with the reply port among them. */
    const mach_port_name_t *names = r.names.names.address;
    const mach_port_type_t *types = r.names.types.address;
    MT_EQ(n, nu_before_.n + 1);
    bool found = false;
    for (mach_msg_type_number_t i = 0; i < n; i++) {
        if (names[i] == tm_rport) {
            found = true;
            MT_EQ(types[i], MACH_PORT_TYPE_RECEIVE);
        }
    }
    MT_CHECK(found);
    MT_KR(vm_deallocate(TASK, (vm_address_t)r.names.names.address, r.names.names.size),
          KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, (vm_address_t)r.names.types.address, r.names.types.size),
          KERN_SUCCESS);
    tm_end();
    NU_END();
}

MT_TEST(in_line_array_routines_answer_the_count_and_as_many_elements)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    /* task_info(TASK_AUDIT_TOKEN) with room for more: eight integers come back. */
    MT_KR(tm_call(TM_TASK_INFO, 2, TASK_AUDIT_TOKEN, 20, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, TM_TASK_INFO + 100);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(r.simple.out[0], TASK_AUDIT_TOKEN_COUNT);
    MT_EQ(r.head.msgh_size,
          sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 8 + 4 * TASK_AUDIT_TOKEN_COUNT);
    audit_token_t tok;
    mach_msg_type_number_t cnt = TASK_AUDIT_TOKEN_COUNT;
    MT_KR(task_info(TASK, TASK_AUDIT_TOKEN, (task_info_t)&tok, &cnt), KERN_SUCCESS);
    MT_EQ(memcmp(&r.simple.out[1], &tok, sizeof tok), 0);
    /* A count below the flavour's: the routine's KERN_INVALID_ARGUMENT. */
    MT_KR(tm_call(TM_TASK_INFO, 2, TASK_AUDIT_TOKEN, 2, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_TASK_INFO, KERN_INVALID_ARGUMENT);
    /* mach_port_get_attributes(MACH_PORT_LIMITS_INFO): one integer, the queue limit. */
    mach_port_name_t p = nu_port();
    MT_KR(tm_call(TM_GET_ATTRIBUTES, 3, p, MACH_PORT_LIMITS_INFO, 17, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 12);
    MT_EQ(r.simple.out[0], MACH_PORT_LIMITS_INFO_COUNT);
    MT_EQ(r.simple.out[1], MACH_PORT_QLIMIT_DEFAULT);
    /* set_attributes: the array after its count; a size that disagrees with the count is
     * misshapen. */
    tm_req_set_attributes sa;
    memset(&sa, 0, sizeof sa);
    sa.ndr = NDR_record;
    sa.name = p;
    sa.flavor = MACH_PORT_LIMITS_INFO;
    sa.count = 1;
    sa.info[0] = 3;
    MT_KR(tm_rpc(&sa, offsetof(tm_req_set_attributes, info) + 4, TM_SET_ATTRIBUTES, false, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_SET_ATTRIBUTES, KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_qlimit, 3);
    MT_KR(tm_rpc(&sa, offsetof(tm_req_set_attributes, info) + 8, TM_SET_ATTRIBUTES, false, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_SET_ATTRIBUTES, MIG_BAD_ARGUMENTS);
    nu_kill(p);
    tm_end();
    NU_END();
}

MT_TEST(task_info_by_message_answers_the_vm_info_revision_the_count_holds_and_event_counts)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    /* TASK_VM_INFO: the whole structure, then revision 0 (and one more integer) alone. */
    const uint32_t counts[][2] = {{TASK_VM_INFO_COUNT, TASK_VM_INFO_COUNT},
                                  {TASK_VM_INFO_REV0_COUNT, TASK_VM_INFO_REV0_COUNT},
                                  {TASK_VM_INFO_REV0_COUNT + 1, TASK_VM_INFO_REV0_COUNT},
                                  {TASK_VM_INFO_REV2_COUNT, TASK_VM_INFO_REV2_COUNT}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        MT_KR(tm_call(TM_TASK_INFO, 2, TASK_VM_INFO, counts[i][0], 0, &r), MACH_MSG_SUCCESS);
        MT_EQ(r.head.msgh_id, TM_TASK_INFO + 100);
        MT_EQ(r.simple.ret, KERN_SUCCESS);
        MT_EQ(r.simple.out[0], counts[i][1]);
        MT_EQ(r.head.msgh_size,
              sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 8 + 4 * counts[i][1]);
        task_vm_info_data_t vmi;
        memset(&vmi, 0, sizeof vmi);
        memcpy(&vmi, &r.simple.out[1], 4 * counts[i][1]);
        MT_CHECK(vmi.resident_size > 0 && vmi.virtual_size >= vmi.resident_size);
        MT_EQ((vm_size_t)vmi.page_size, vm_page_size);
    }
    /* Below revision 0: the routine's KERN_INVALID_ARGUMENT. */
    MT_KR(tm_call(TM_TASK_INFO, 2, TASK_VM_INFO, TASK_VM_INFO_REV0_COUNT - 1, 0, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_TASK_INFO, KERN_INVALID_ARGUMENT);
    /* TASK_EVENTS_INFO: eight integers. */
    MT_KR(tm_call(TM_TASK_INFO, 2, TASK_EVENTS_INFO, 20, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(r.simple.out[0], TASK_EVENTS_INFO_COUNT);
    MT_EQ(r.head.msgh_size,
          sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 8 + 4 * TASK_EVENTS_INFO_COUNT);
    task_events_info_data_t ev;
    memcpy(&ev, &r.simple.out[1], sizeof ev);
    MT_CHECK(ev.faults > 0 && ev.pageins <= ev.faults);
    MT_KR(tm_call(TM_TASK_INFO, 2, TASK_EVENTS_INFO, TASK_EVENTS_INFO_COUNT - 1, 0, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_TASK_INFO, KERN_INVALID_ARGUMENT);
    tm_end();
    NU_END();
}

MT_TEST(a_64_bit_argument_and_result_travel_packed_on_4_bytes)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    mach_port_name_t p = nu_port();
    tm_req_context req;
    memset(&req, 0, sizeof req);
    req.ndr = NDR_record;
    req.name = p;
    req.context = 0x1122334455667788ull;
    MT_EQ(sizeof req, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 12);
    MT_KR(tm_rpc(&req, sizeof req, TM_SET_CONTEXT, false, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_SET_CONTEXT, KERN_SUCCESS);
    MT_EQ(nu_context(p), 0x1122334455667788ull);
    MT_KR(tm_call(TM_GET_CONTEXT, 1, p, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 12);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    uint64_t got;
    memcpy(&got, &r.simple.out[0], sizeof got);
    MT_EQ(got, 0x1122334455667788ull);
    nu_kill(p);
    tm_end();
    NU_END();
}

MT_TEST(construct_by_message_reads_its_out_of_line_options)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    mach_port_options_t opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = MPO_INSERT_SEND_RIGHT | MPO_QLIMIT;
    opts.mpl.mpl_qlimit = 2;
    tm_req_construct req;
    memset(&req, 0, sizeof req);
    req.body.msgh_descriptor_count = 1;
    req.options.address = &opts;
    req.options.size = sizeof opts;
    req.options.copy = MACH_MSG_VIRTUAL_COPY;
    req.options.deallocate = FALSE;
    req.options.type = MACH_MSG_OOL_DESCRIPTOR;
    req.ndr = NDR_record;
    req.context = 0;
    MT_KR(tm_rpc(&req, sizeof req, TM_CONSTRUCT, true, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, TM_CONSTRUCT + 100);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    mach_port_name_t p = r.simple.out[0];
    MT_EQ(nu_type(p), MACH_PORT_TYPE_SEND_RECEIVE);
    MT_EQ(nu_status(p).mps_qlimit, 2);
    /* Options of the wrong size are a type error. */
    req.options.size = sizeof opts - 8;
    MT_KR(tm_rpc(&req, sizeof req, TM_CONSTRUCT, true, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_CONSTRUCT, MIG_TYPE_ERROR);
    MT_KR(mach_port_destruct(TASK, p, -1, 0), KERN_SUCCESS);
    tm_end();
    NU_END();
}

MT_TEST(task_get_special_port_by_message_gives_a_send_right_to_the_task_port)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    mach_port_urefs_t before = nu_refs(TASK, MACH_PORT_RIGHT_SEND);
    MT_KR(tm_call(TM_GET_SPECIAL_PORT, 1, TASK_KERNEL_PORT, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, TM_GET_SPECIAL_PORT + 100);
    MT_CHECK(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.port.port.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(r.port.port.name, TASK);
    MT_EQ(nu_refs(TASK, MACH_PORT_RIGHT_SEND), before + 1);
    MT_KR(mach_port_deallocate(TASK, TASK), KERN_SUCCESS);
    MT_KR(tm_call(TM_GET_SPECIAL_PORT, 1, 1000, 0, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_GET_SPECIAL_PORT, KERN_INVALID_ARGUMENT);
    tm_end();
    NU_END();
}

MT_TEST(get_set_status_by_message_answers_the_members_out_of_line)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    mach_port_name_t set = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_PORT_SET, &set), KERN_SUCCESS);
    mach_port_name_t a = nu_port(), b = nu_port();
    MT_KR(mach_port_insert_member(TASK, a, set), KERN_SUCCESS);
    MT_KR(mach_port_insert_member(TASK, b, set), KERN_SUCCESS);
    MT_REQUIRE(tm_call(TM_GET_SET_STATUS, 1, set, 0, 0, &r) == MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, TM_GET_SET_STATUS + 100);
    MT_EQ(r.head.msgh_size, offsetof(tm_reply_members, trailer));
    MT_CHECK(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.members.members.type, MACH_MSG_OOL_DESCRIPTOR);
    MT_EQ(r.members.count, 2);
    MT_EQ(r.members.members.size, 2 * sizeof(mach_port_name_t));
    const mach_port_name_t *m = r.members.members.address;
    MT_REQUIRE(m != NULL);
    MT_CHECK((m[0] == a && m[1] == b) || (m[0] == b && m[1] == a));
    MT_KR(vm_deallocate(TASK, (vm_address_t)m, r.members.members.size), KERN_SUCCESS);
    /* A receive right is not a set: the routine's code. */
    MT_KR(tm_call(TM_GET_SET_STATUS, 1, a, 0, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_GET_SET_STATUS, KERN_INVALID_RIGHT);
    nu_kill(a);
    nu_kill(b);
    MT_KR(mach_port_mod_refs(TASK, set, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    tm_end();
    NU_END();
}

MT_TEST(task_set_special_port_by_message_takes_a_send_right_only)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    mach_port_t old = MACH_PORT_NULL;
    MT_KR(task_get_special_port(TASK, TASK_DEBUG_CONTROL_PORT, &old), KERN_SUCCESS);
    mach_port_name_t p = nu_port();
    MT_KR(tm_call_port(TM_SET_SPECIAL_PORT, p, MACH_MSG_TYPE_MAKE_SEND, 1, TASK_DEBUG_CONTROL_PORT,
                       0, 0, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_SET_SPECIAL_PORT, KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_srights, 1);
    mach_port_t got = MACH_PORT_NULL;
    MT_KR(task_get_special_port(TASK, TASK_DEBUG_CONTROL_PORT, &got), KERN_SUCCESS);
    MT_EQ(got, p);
    MT_KR(mach_port_deallocate(TASK, got), KERN_SUCCESS);
    /* A send-once right where the routine takes a send right: MIG_TYPE_ERROR, and the right
     * is destroyed with the request (p gets its send-once notification). */
    MT_KR(tm_call_port(TM_SET_SPECIAL_PORT, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1,
                       TASK_DEBUG_CONTROL_PORT, 0, 0, &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_SET_SPECIAL_PORT, MIG_TYPE_ERROR);
    nu_msg m;
    MT_KR(nu_recv(p, &m, 5000), MACH_MSG_SUCCESS);
    MT_EQ(m.h.msgh_id, MACH_NOTIFY_SEND_ONCE);
    /* The kernel slot: the routine's KERN_NO_ACCESS, the right released. */
    MT_KR(tm_call_port(TM_SET_SPECIAL_PORT, p, MACH_MSG_TYPE_MAKE_SEND, 1, TASK_KERNEL_PORT, 0, 0,
                       &r),
          MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_SET_SPECIAL_PORT, KERN_NO_ACCESS);
    MT_EQ(nu_status(p).mps_srights, 1);
    MT_KR(task_set_special_port(TASK, TASK_DEBUG_CONTROL_PORT, old), KERN_SUCCESS);
    if (MACH_PORT_VALID(old))
        MT_KR(mach_port_deallocate(TASK, old), KERN_SUCCESS);
    MT_EQ(nu_status(p).mps_srights, 0);
    nu_kill(p);
    tm_end();
    NU_END();
}

MT_TEST(exc_guard_behavior_by_message_reads_and_sets_the_tasks_guard_policy)
{
    NU_BEGIN();
    tm_begin();
    tm_reply r;
    task_exc_guard_behavior_t was = 0;
    MT_KR(task_get_exc_guard_behavior(TASK, &was), KERN_SUCCESS);
    MT_KR(tm_call(TM_GET_EXC_GUARD_BEHAVIOR, 0, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, TM_GET_EXC_GUARD_BEHAVIOR + 100);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 8);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(r.simple.out[0], was);
    /* Clearing MP_FATAL (a Darwin release kernel may refuse the downgrade: KERN_DENIED). */
    MT_KR(tm_call(TM_SET_EXC_GUARD_BEHAVIOR, 1, TASK_EXC_GUARD_MP_DELIVER, 0, 0, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mig_reply_error_t));
    if (r.error.RetCode != KERN_DENIED) {
        MT_EQ(r.error.RetCode, KERN_SUCCESS);
        task_exc_guard_behavior_t now = 0;
        MT_KR(task_get_exc_guard_behavior(TASK, &now), KERN_SUCCESS);
        MT_EQ(now & TASK_EXC_GUARD_MP_FATAL, 0);
        MT_CHECK(now & TASK_EXC_GUARD_MP_DELIVER);
    }
    /* Unknown bits: the routine's KERN_INVALID_VALUE. */
    MT_KR(tm_call(TM_SET_EXC_GUARD_BEHAVIOR, 1, 0x100, 0, 0, &r), MACH_MSG_SUCCESS);
    TM_ERROR_REPLY(r, TM_SET_EXC_GUARD_BEHAVIOR, KERN_INVALID_VALUE);
    MT_KR(task_set_exc_guard_behavior(TASK, was), KERN_SUCCESS);
    tm_end();
    NU_END();
}

MT_TEST(a_request_without_a_reply_port_is_served_and_answered_to_no_one)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port();
    mach_port_name_t name = p + (1u << 8) * 91; /* a free index, we hope: checked below */
    MT_EQ(nu_type(name), (mach_port_type_t)-1);
    tm_req_2 req;
    memset(&req, 0, sizeof req);
    req.head.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, 0, 0, 0);
    req.head.msgh_size = sizeof req;
    req.head.msgh_remote_port = TASK;
    req.head.msgh_id = TM_ALLOCATE_NAME;
    req.ndr = NDR_record;
    req.a = MACH_PORT_RIGHT_PORT_SET;
    req.b = name;
    MT_KR(mach_msg(&req.head, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof req, 0, MACH_PORT_NULL,
                   10000, MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    MT_EQ(nu_type(name), MACH_PORT_TYPE_PORT_SET);
    MT_KR(mach_port_mod_refs(TASK, name, MACH_PORT_RIGHT_PORT_SET, -1), KERN_SUCCESS);
    nu_kill(p);
    NU_END();
}

MT_MAIN()
