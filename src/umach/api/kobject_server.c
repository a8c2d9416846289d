/*
 * kobject_server.c — the MIG servers of the task port, the host port, clock ports and thread
 * ports (XNU: the mach_port, task, mach_host, clock and thread_act subsystems that
 * ipc_kobject_server finds for IKOT_TASK_CONTROL, IKOT_HOST, IKOT_CLOCK and
 * IKOT_THREAD_CONTROL): a request sent by hand with mach_msg to such a port, as a program's
 * own MIG user stubs send it, is served by the same functions the direct calls use, on the
 * task the port names for a task port, and answered with MIG's reply layout.
 *
 * As MIG's kernel server does, each routine first checks the request's shape: a simple
 * request of the routine's exact size, or a complex one with its descriptor count and size
 * (MIG_BAD_ARGUMENTS otherwise), then each descriptor's type and, for a port argument that is
 * not polymorphic, its disposition (MIG_TYPE_ERROR). An id the server has no routine for is
 * MIG_BAD_ID. An error reply is a mig_reply_error_t; a routine with in-line results answers
 * NDR, RetCode and the results; one with ports or out-of-line arrays a complex reply (its
 * descriptors, the NDR record, in-line results and counts, no RetCode). What a routine does
 * not take out of the request (a right it carried, when it fails) is destroyed with the
 * request by um_kobject_server, as ipc_kobject_server destroys a failed request.
 *
 * The routines act on `target` as the call mach_port_X(target's own task port, ...) would,
 * with one difference a message makes: rights and memory travel in the message, not through
 * names and addresses of the caller. Out-of-line results are kernel regions the api makes,
 * which become the reply's copies (um_kernel_ops.copy_region), and an out-of-line argument
 * is read from the request's copy (copy_read).
 *
 * Conditions: world locked (the kernel-object server runs in the sender's send).
 */
#include "../kern/um_kmsg.h"
#include "../kern/um_kobject.h"
#include "../kern/um_kobject_ports.h"
#include "um_api.h"
#include "um_mig.h"

#include <mach/mach.h>
#include <mach/mig_errors.h>
#include <mach/ndr.h>
#include <mach_debug/ipc_info.h>

#include <stdlib.h>
#include <string.h>

/* Sizes of MIG's pieces (LP64 Darwin): a port descriptor, an out-of-line descriptor. */
#define TS_HEAD ((uint32_t)sizeof(mach_msg_header_t))
#define TS_NDR ((uint32_t)sizeof(NDR_record_t))
#define TS_BODY ((uint32_t)sizeof(mach_msg_body_t))
#define TS_PORT_DESC ((uint32_t)sizeof(mach_msg_port_descriptor_t))
#define TS_OOL_DESC ((uint32_t)sizeof(mach_msg_ool_descriptor_t))

/* The largest in-line arrays of the routines served (the MIG definitions' bounds:
 * mach_port_info_t array[*:17], mach_msg_trailer_info_t array[*:68] of char, task_info_t
 * array[*:93+1]). */
#define TS_PORT_INFO_MAX 17u
#define TS_TRAILER_MAX 68u
#define TS_TASK_INFO_MAX 94u


/* host_info_t: array[*:68] of integer_t. */
#define TS_HOST_INFO_MAX 68u

/* mach_vm_write's data up to this size is read into a buffer for the routine, larger data
 * mapped into the task for it (XNU copies up to 32 KiB through a kernel buffer too). */
#define TS_VM_BUFFERED (32u * 1024)

/* One request being served. */
typedef struct ts_call {
    um_kernel *kernel;        /* frees the memory a reply carries (NULL: it carries none) */
    um_task *target;          /* the task the port names (task ports only) */
    const um_clock *clock;    /* the clock the port names (clock ports only) */
    mach_port_name_t self;    /* the target's own name for its task port */
    um_kmsg *req;
    const uint8_t *in;        /* the in-line arguments (after the NDR record), once checked */
    um_kobject_reply *reply;
    /* The port is not the routine's kind of object: MIG's checks run, then the check that
     * passes answers TS_CHECKED instead of KERN_SUCCESS and the routine stops there. */
    bool null_object;
} ts_call;

/* What a check answers for a routine on a port of another kind (see null_object). */
#define TS_CHECKED ((kern_return_t)-1000)

static uint32_t in32(const ts_call *c, uint32_t at)
{
    uint32_t v;
    memcpy(&v, c->in + at, sizeof v);
    return v;
}

static uint64_t in64(const ts_call *c, uint32_t at)
{
    uint64_t v;
    memcpy(&v, c->in + at, sizeof v);
    return v;
}

/* ---- MIG's checks of a request ---------------------------------------------------------------- */

/* A simple request with `args` bytes of in-line arguments (none: no NDR record either). */
static kern_return_t check_simple(ts_call *c, uint32_t args)
{
    uint32_t want = TS_HEAD + (args ? TS_NDR + args : 0);
    if ((c->req->bits & MACH_MSGH_BITS_COMPLEX) || c->req->size != want)
        return MIG_BAD_ARGUMENTS;
    c->in = c->req->body + TS_NDR;
    return c->null_object ? TS_CHECKED : KERN_SUCCESS;
}

/*
 * A simple request whose in-line arguments end with an array of `elem`-byte elements after
 * its count (`fixed` bytes of arguments before the array, the count last of them), at most
 * `max` elements, padded to 4 bytes as MIG packs it.
 */
static kern_return_t check_simple_array(ts_call *c, uint32_t fixed, uint32_t elem, uint32_t max)
{
    uint32_t min = TS_HEAD + TS_NDR + fixed;
    uint32_t size = c->req->size;
    if ((c->req->bits & MACH_MSGH_BITS_COMPLEX) || size < min || size > min + max * elem)
        return MIG_BAD_ARGUMENTS;
    c->in = c->req->body + TS_NDR;
    uint32_t n = in32(c, fixed - 4);
    if (n > max || size != min + ((n * elem + 3) & ~3u))
        return MIG_BAD_ARGUMENTS;
    return c->null_object ? TS_CHECKED : KERN_SUCCESS;
}

/*
 * A complex request with one descriptor of `type` (a port descriptor of disposition `disp`
 * when `disp` is not 0) and `args` bytes of in-line arguments after it.
 */
static kern_return_t check_complex1(ts_call *c, uint8_t type, mach_msg_type_name_t disp,
                                    uint32_t args)
{
    uint32_t dsize = type == MACH_MSG_PORT_DESCRIPTOR ? TS_PORT_DESC : TS_OOL_DESC;
    um_kmsg *k = c->req;
    if (!(k->bits & MACH_MSGH_BITS_COMPLEX) || k->ndesc != 1 ||
        k->size != TS_HEAD + TS_BODY + dsize + TS_NDR + args)
        return MIG_BAD_ARGUMENTS;
    if (k->desc[0].type != type ||
        (disp && type == MACH_MSG_PORT_DESCRIPTOR && k->desc[0].u.port.disp != disp))
        return MIG_TYPE_ERROR;
    c->in = k->body + TS_BODY + dsize + TS_NDR;
    return c->null_object ? TS_CHECKED : KERN_SUCCESS;
}

/* ---- replies ----------------------------------------------------------------------------------- */

/*
 * A simple reply: the NDR record, RetCode KERN_SUCCESS, then `len` bytes of results. Out of
 * memory: no reply (the request's reply right is destroyed with it, which a MIG stub reads
 * as MIG_SERVER_DIED).
 */
static kern_return_t reply_simple(ts_call *c, const void *out, uint32_t len)
{
    um_kmsg *k = um_kobject_reply_alloc(c->kernel, TS_NDR + 4 + len, 0);
    if (!k)
        return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
    memcpy(k->body, &NDR_record, TS_NDR);
    memcpy(k->body + TS_NDR + 4, out, len); /* RetCode: zeroed */
    c->reply->kmsg = k;
    return KERN_SUCCESS;
}

/*
 * A complex reply with `ndesc` descriptors of `dbytes` bytes in all, then, when it has
 * `len` bytes of in-line results, the NDR record and those (`*results` gets where they go).
 * NULL when out of memory.
 */
static um_kmsg *reply_complex(ts_call *c, uint32_t ndesc, uint32_t dbytes, uint32_t len,
                              uint8_t **results)
{
    uint32_t ndr = len ? TS_NDR : 0;
    um_kmsg *k = um_kobject_reply_alloc(c->kernel, TS_BODY + dbytes + ndr + len, ndesc);
    if (!k)
        return NULL;
    mach_msg_body_t body = {.msgh_descriptor_count = ndesc};
    memcpy(k->body, &body, sizeof body);
    memcpy(k->body + TS_BODY + dbytes, &NDR_record, ndr);
    *results = k->body + TS_BODY + dbytes + ndr;
    return k;
}

/* Put `port`, a naked right of type `disp`, in the reply's next descriptor at `*at`. */
static void reply_port(um_kmsg *k, uint32_t *at, um_port *port, mach_msg_type_name_t disp)
{
    um_kdesc *d = &k->desc[k->ndesc++];
    d->type = MACH_MSG_PORT_DESCRIPTOR;
    d->uoffset = TS_HEAD + *at;
    d->u.port.port = port;
    d->u.port.disp = disp;
    *at += TS_PORT_DESC;
}

/*
 * Put `arr` (`elem`-byte elements), an array an api call made, in the reply's next
 * descriptor at `*at`: the kernel's memory becomes the copy the receiver maps. Consumes the
 * array's region. false: out of memory (the descriptor carries nothing).
 */
static bool reply_ool(ts_call *c, um_kmsg *k, uint32_t *at, um_api_array *arr, uint32_t elem)
{
    um_kdesc *d = &k->desc[k->ndesc++];
    d->type = MACH_MSG_OOL_DESCRIPTOR;
    d->uoffset = TS_HEAD + *at;
    d->u.ool.vmc = NULL;
    d->u.ool.size = 0;
    d->u.ool.copy = MACH_MSG_VIRTUAL_COPY;
    d->u.ool.dealloc = false;
    *at += TS_OOL_DESC;
    if (!arr->region)
        return true;
    um_kernel *kernel = c->target->kernel;
    uint64_t size = (uint64_t)arr->count * elem;
    d->u.ool.vmc = kernel->ops->copy_region(kernel, arr->region, arr->len, size);
    arr->region = NULL;
    if (!d->u.ool.vmc)
        return false;
    d->u.ool.size = (mach_msg_size_t)size;
    return true;
}

/* Free an array an api call made that no reply carries. */
static void drop_array(ts_call *c, um_api_array *arr)
{
    um_kernel *kernel = c->target->kernel;
    if (arr->region)
        kernel->ops->region_free(kernel, arr->region, arr->len);
    arr->region = NULL;
}

/* ---- the routines ------------------------------------------------------------------------------ */

/* A routine with in-line arguments only and no result: its RetCode is the reply. */
static kern_return_t r_no_result(ts_call *c)
{
    um_task *t = c->target;
    mach_port_name_t self = c->self;
    kern_return_t kr;
    switch (c->req->id) {
    case UM_MIG_MACH_PORT_ALLOCATE_NAME:
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_allocate_name(t, self, in32(c, 0), in32(c, 4));
    case UM_MIG_MACH_PORT_DESTROY:
        if ((kr = check_simple(c, 4)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_destroy(t, self, in32(c, 0));
    case UM_MIG_MACH_PORT_DEALLOCATE:
        if ((kr = check_simple(c, 4)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_deallocate(t, self, in32(c, 0));
    case UM_MIG_MACH_PORT_MOD_REFS:
        if ((kr = check_simple(c, 12)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_mod_refs(t, self, in32(c, 0), in32(c, 4), (int32_t)in32(c, 8));
    case UM_MIG_MACH_PORT_SET_MSCOUNT:
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_set_mscount(t, self, in32(c, 0), in32(c, 4));
    case UM_MIG_MACH_PORT_MOVE_MEMBER:
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_move_member(t, self, in32(c, 0), in32(c, 4));
    case UM_MIG_MACH_PORT_SET_SEQNO:
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_set_seqno(t, self, in32(c, 0), in32(c, 4));
    case UM_MIG_MACH_PORT_INSERT_MEMBER:
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_insert_member(t, self, in32(c, 0), in32(c, 4));
    case UM_MIG_MACH_PORT_EXTRACT_MEMBER:
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_extract_member(t, self, in32(c, 0), in32(c, 4));
    case UM_MIG_MACH_PORT_SET_CONTEXT:
        if ((kr = check_simple(c, 12)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_set_context(t, self, in32(c, 0), in64(c, 4));
    case UM_MIG_MACH_PORT_DESTRUCT:
        if ((kr = check_simple(c, 16)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_destruct(t, self, in32(c, 0), (int32_t)in32(c, 4), in64(c, 8));
    case UM_MIG_MACH_PORT_GUARD:
        if ((kr = check_simple(c, 16)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_guard(t, self, in32(c, 0), in64(c, 4), (boolean_t)in32(c, 12));
    case UM_MIG_MACH_PORT_UNGUARD:
        if ((kr = check_simple(c, 12)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_unguard(t, self, in32(c, 0), in64(c, 4));
    case UM_MIG_MACH_PORT_GUARD_WITH_FLAGS:
        if ((kr = check_simple(c, 20)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_guard_with_flags(t, self, in32(c, 0), in64(c, 4), in64(c, 12));
    case UM_MIG_MACH_PORT_SWAP_GUARD:
        if ((kr = check_simple(c, 20)) != KERN_SUCCESS)
            return kr;
        return um_api_mach_port_swap_guard(t, self, in32(c, 0), in64(c, 4), in64(c, 12));
    case UM_MIG_MACH_PORT_SET_ATTRIBUTES: {
        if ((kr = check_simple_array(c, 12, 4, TS_PORT_INFO_MAX)) != KERN_SUCCESS)
            return kr;
        integer_t info[TS_PORT_INFO_MAX];
        mach_msg_type_number_t n = in32(c, 8);
        memcpy(info, c->in + 12, (size_t)n * 4);
        return um_api_mach_port_set_attributes(t, self, in32(c, 0), (int)in32(c, 4), info, n);
    }
    }
    return MIG_BAD_ID;
}

/* A routine with in-line arguments and one in-line result of 4 or 8 bytes. */
static kern_return_t r_one_result(ts_call *c)
{
    um_task *t = c->target;
    kern_return_t kr;
    uint32_t v32 = 0;
    uint64_t v64 = 0;
    switch (c->req->id) {
    case UM_MIG_MACH_PORT_TYPE:
        if ((kr = check_simple(c, 4)) != KERN_SUCCESS)
            return kr;
        if ((kr = um_api_mach_port_type(t, c->self, in32(c, 0), &v32)) != KERN_SUCCESS)
            return kr;
        return reply_simple(c, &v32, 4);
    case UM_MIG_MACH_PORT_ALLOCATE:
        if ((kr = check_simple(c, 4)) != KERN_SUCCESS)
            return kr;
        if ((kr = um_api_mach_port_allocate(t, c->self, in32(c, 0), &v32)) != KERN_SUCCESS)
            return kr;
        return reply_simple(c, &v32, 4);
    case UM_MIG_MACH_PORT_GET_REFS:
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        if ((kr = um_api_mach_port_get_refs(t, c->self, in32(c, 0), in32(c, 4), &v32)) !=
            KERN_SUCCESS)
            return kr;
        return reply_simple(c, &v32, 4);
    case UM_MIG_MACH_PORT_GET_CONTEXT:
        if ((kr = check_simple(c, 4)) != KERN_SUCCESS)
            return kr;
        if ((kr = um_api_mach_port_get_context(t, c->self, in32(c, 0), &v64)) != KERN_SUCCESS)
            return kr;
        return reply_simple(c, &v64, 8);
    }
    return MIG_BAD_ID;
}

/*
 * The routines whose reply ends with an in-line array and its count (MIG's CountInOut: the
 * count asked for is the request's last argument, cut to the array's bound).
 */
static kern_return_t r_array(ts_call *c)
{
    um_task *t = c->target;
    kern_return_t kr;
    union {
        integer_t words[TS_TASK_INFO_MAX];
        char bytes[TS_TRAILER_MAX];
    } arr;
    memset(&arr, 0, sizeof arr);
    uint32_t head[3] = {0, 0, 0}; /* results before the count (peek's) */
    uint32_t nhead = 0, elem = 4, max;
    mach_msg_type_number_t n;
    switch (c->req->id) {
    case UM_MIG_MACH_PORT_GET_ATTRIBUTES:
        if ((kr = check_simple(c, 12)) != KERN_SUCCESS)
            return kr;
        max = TS_PORT_INFO_MAX;
        n = in32(c, 8) < max ? in32(c, 8) : max;
        kr = um_api_mach_port_get_attributes(t, c->self, in32(c, 0), (int)in32(c, 4), arr.words,
                                             &n);
        break;
    case UM_MIG_TASK_INFO:
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        max = TS_TASK_INFO_MAX;
        n = in32(c, 4) < max ? in32(c, 4) : max;
        kr = um_api_task_info(t, c->self, (task_flavor_t)in32(c, 0), arr.words, &n);
        break;
    case UM_MIG_MACH_PORT_PEEK: {
        if ((kr = check_simple(c, 16)) != KERN_SUCCESS)
            return kr;
        max = TS_TRAILER_MAX;
        elem = 1;
        n = in32(c, 12) < max ? in32(c, 12) : max;
        mach_port_seqno_t seqno = in32(c, 8);
        mach_msg_size_t size = 0;
        mach_msg_id_t id = 0;
        kr = um_api_mach_port_peek(t, c->self, in32(c, 0), in32(c, 4), &seqno, &size, &id,
                                   arr.bytes, &n);
        head[0] = seqno;
        head[1] = size;
        head[2] = (uint32_t)id;
        nhead = 3;
        break;
    }
    default:
        return MIG_BAD_ID;
    }
    if (kr != KERN_SUCCESS)
        return kr;
    if (n > max)
        n = max;
    uint32_t abytes = (n * elem + 3) & ~3u;
    um_kmsg *k = um_kobject_reply_alloc(c->kernel, TS_NDR + 4 + nhead * 4 + 4 + abytes, 0);
    if (!k)
        return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
    uint8_t *p = k->body;
    memcpy(p, &NDR_record, TS_NDR);
    p += TS_NDR + 4; /* RetCode: zeroed */
    memcpy(p, head, nhead * 4);
    p += nhead * 4;
    memcpy(p, &n, 4);
    memcpy(p + 4, &arr, (size_t)n * elem);
    c->reply->kmsg = k;
    return KERN_SUCCESS;
}

/* mach_port_names, mach_port_get_set_status, mach_port_space_info: out-of-line arrays. */
static kern_return_t r_ool(ts_call *c)
{
    um_task *t = c->target;
    kern_return_t kr;
    um_api_array arr[2] = {{NULL, 0, 0}, {NULL, 0, 0}};
    uint32_t elem[2] = {0, 0};
    ipc_info_space_t info;
    uint32_t nool, extra = 0; /* in-line results before the counts */
    switch (c->req->id) {
    case UM_MIG_MACH_PORT_NAMES:
        if ((kr = check_simple(c, 0)) != KERN_SUCCESS)
            return kr;
        kr = um_api_mach_port_names_arrays(t, c->self, &arr[0], &arr[1]);
        elem[0] = (uint32_t)sizeof(mach_port_name_t);
        elem[1] = (uint32_t)sizeof(mach_port_type_t);
        nool = 2;
        break;
    case UM_MIG_MACH_PORT_GET_SET_STATUS:
        if ((kr = check_simple(c, 4)) != KERN_SUCCESS)
            return kr;
        kr = um_api_mach_port_get_set_status_array(t, c->self, in32(c, 0), &arr[0]);
        elem[0] = (uint32_t)sizeof(mach_port_name_t);
        nool = 1;
        break;
    case UM_MIG_MACH_PORT_SPACE_INFO:
        if ((kr = check_simple(c, 0)) != KERN_SUCCESS)
            return kr;
        kr = um_api_mach_port_space_info_array(t, c->self, &info, &arr[0]);
        elem[0] = (uint32_t)sizeof(ipc_info_name_t);
        elem[1] = (uint32_t)sizeof(ipc_info_tree_name_t); /* the tree: always empty */
        nool = 2;
        extra = (uint32_t)sizeof info;
        break;
    default:
        return MIG_BAD_ID;
    }
    if (kr != KERN_SUCCESS)
        return kr;
    uint8_t *results;
    um_kmsg *k = reply_complex(c, nool, nool * TS_OOL_DESC, extra + nool * 4, &results);
    if (!k) {
        for (uint32_t i = 0; i < nool; i++)
            drop_array(c, &arr[i]);
        return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
    }
    c->reply->kmsg = k; /* destroyed with what it holds if an array cannot travel */
    uint32_t at = TS_BODY;
    bool ok = true;
    for (uint32_t i = 0; i < nool; i++) {
        if (ok)
            ok = reply_ool(c, k, &at, &arr[i], elem[i]);
        else
            drop_array(c, &arr[i]);
    }
    if (!ok)
        return KERN_RESOURCE_SHORTAGE;
    if (extra)
        memcpy(results, &info, extra);
    for (uint32_t i = 0; i < nool; i++)
        memcpy(results + extra + 4 * i, &arr[i].count, 4);
    return KERN_SUCCESS;
}

/* The routines that take or give a right in a port descriptor. */
static kern_return_t r_ports(ts_call *c)
{
    um_task *t = c->target;
    um_kmsg *req = c->req;
    kern_return_t kr;
    um_port *out = NULL;
    mach_msg_type_name_t out_type = MACH_MSG_TYPE_PORT_SEND;
    switch (req->id) {
    case UM_MIG_MACH_PORT_INSERT_RIGHT: {
        if ((kr = check_complex1(c, MACH_MSG_PORT_DESCRIPTOR, 0, 4)) != KERN_SUCCESS)
            return kr;
        um_port *port = req->desc[0].u.port.port;
        req->desc[0].u.port.port = NULL; /* taken: the insertion consumes it */
        um_space_enter(t->space, t);
        kr = um_api_insert_taken(t->space, port, req->desc[0].u.port.disp, in32(c, 0));
        return um_space_leave(t->space, kr);
    }
    case UM_MIG_MACH_PORT_EXTRACT_RIGHT: {
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        mach_port_name_t name = in32(c, 0);
        mach_msg_type_name_t msgt = in32(c, 4);
        if (!MACH_MSG_TYPE_PORT_ANY(msgt))
            return KERN_INVALID_VALUE;
        if (!MACH_PORT_VALID(name))
            return KERN_INVALID_RIGHT;
        um_space_enter(t->space, t);
        kr = um_right_copyin(t->space, name, msgt, UM_COPYIN_DEADOK, &out);
        um_space_leave(t->space, kr);
        if (kr != KERN_SUCCESS)
            return kr;
        out_type = um_copyin_type(msgt);
        break;
    }
    case UM_MIG_MACH_PORT_REQUEST_NOTIFICATION: {
        if ((kr = check_complex1(c, MACH_MSG_PORT_DESCRIPTOR, MACH_MSG_TYPE_PORT_SEND_ONCE, 12)) !=
            KERN_SUCCESS)
            return kr;
        um_port *notify = req->desc[0].u.port.port;
        um_kmsg *reserve = NULL;
        if (UM_PORT_VALID(notify) && (reserve = um_notify_reserve()) == NULL)
            return KERN_RESOURCE_SHORTAGE; /* the right is destroyed with the request */
        um_space_enter(t->space, t);
        kr = um_request_notification(t->space, in32(c, 0), (mach_msg_id_t)in32(c, 4), in32(c, 8),
                                     notify, &reserve, &out);
        um_space_leave(t->space, kr);
        um_notify_reserve_free(reserve);
        if (kr != KERN_SUCCESS)
            return kr;
        req->desc[0].u.port.port = NULL; /* registered */
        out_type = MACH_MSG_TYPE_PORT_SEND_ONCE;
        break;
    }
    case UM_MIG_TASK_GET_SPECIAL_PORT:
        if ((kr = check_simple(c, 4)) != KERN_SUCCESS)
            return kr;
        if ((kr = um_api_special_port_get(t, (int)in32(c, 0), &out)) != KERN_SUCCESS)
            return kr;
        break;
    case UM_MIG_TASK_SUSPEND2:
        /* The suspension token: a send-once right to the task's resume port. */
        if ((kr = check_simple(c, 0)) != KERN_SUCCESS)
            return kr;
        if ((kr = um_task_hold_once(t, &out)) != KERN_SUCCESS)
            return kr;
        out_type = MACH_MSG_TYPE_PORT_SEND_ONCE;
        break;
    case UM_MIG_TASK_SET_SPECIAL_PORT: {
        if ((kr = check_complex1(c, MACH_MSG_PORT_DESCRIPTOR, MACH_MSG_TYPE_PORT_SEND, 4)) !=
            KERN_SUCCESS)
            return kr;
        um_port *port = req->desc[0].u.port.port;
        req->desc[0].u.port.port = NULL; /* the slot's, or released when refused */
        return um_api_special_port_set(t, (int)in32(c, 0), port);
    }
    default:
        return MIG_BAD_ID;
    }
    /* A right that died on the way travels as MACH_PORT_DEAD, as XNU's copyout gives it. */
    if (UM_PORT_VALID(out) && !out->active) {
        um_right_release(out, out_type);
        out = UM_PORT_DEAD;
    }
    uint8_t *results;
    um_kmsg *k = reply_complex(c, 1, TS_PORT_DESC, 0, &results);
    if (!k) {
        um_right_release(out, out_type);
        return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
    }
    uint32_t at = TS_BODY;
    reply_port(k, &at, out, out_type);
    c->reply->kmsg = k;
    return KERN_SUCCESS;
}

/*
 * task_get/set_exc_guard_behavior: the task's Mach-port guard policy (um_task_hooks.guard_fatal;
 * TASK_EXC_GUARD_MP_DELIVER always, MP_FATAL when its fatal guard exceptions end it). A value
 * beyond TASK_EXC_GUARD_ALL is KERN_INVALID_VALUE, as the direct call answers.
 */
static kern_return_t r_exc_guard(ts_call *c)
{
    um_task *t = c->target;
    kern_return_t kr;
    if (c->req->id == UM_MIG_TASK_GET_EXC_GUARD_BEHAVIOR) {
        if ((kr = check_simple(c, 0)) != KERN_SUCCESS)
            return kr;
        bool fatal = !t->hooks || !t->hooks->guard_fatal || t->hooks->guard_fatal(t, -1);
        uint32_t behavior = TASK_EXC_GUARD_MP_DELIVER | (fatal ? TASK_EXC_GUARD_MP_FATAL : 0);
        return reply_simple(c, &behavior, 4);
    }
    if ((kr = check_simple(c, 4)) != KERN_SUCCESS)
        return kr;
    uint32_t behavior = in32(c, 0);
    if (behavior & ~(uint32_t)TASK_EXC_GUARD_ALL)
        return KERN_INVALID_VALUE;
    if (t->hooks && t->hooks->guard_fatal)
        (void)t->hooks->guard_fatal(t, (behavior & TASK_EXC_GUARD_MP_FATAL) != 0);
    return KERN_SUCCESS;
}

/* An exception-port reply's fixed array of port descriptors (exception_handler_array_t:
 * array[*:EXC_TYPES_COUNT]), all present whatever the count. */
#define TS_EXC_MAX 32u

/*
 * task_ and thread_set/get/swap_exception_ports on `task_actions` or `thread_port`'s slots
 * (both NULL: XNU's routine given a null task or thread), through the routine the calls use.
 * Set and swap take their new port from the request (a send right: any other disposition is
 * MIG_TYPE_ERROR). Get and swap answer MIG's complex reply: TS_EXC_MAX port descriptors (the
 * old handlers, then null ones), the NDR record, the count, then the masks, behaviours and
 * flavours, each array as long as the count.
 */
static kern_return_t r_exc_ports(ts_call *c, um_exc_action *task_actions, um_port *thread_port,
                                 um_exc_op op)
{
    um_kmsg *req = c->req;
    kern_return_t kr;
    um_port *port = NULL;
    int behavior = 0, flavor = 0;
    if (op == UM_EXC_OP_GET) {
        if ((kr = check_simple(c, 4)) != KERN_SUCCESS)
            return kr;
    } else {
        if ((kr = check_complex1(c, MACH_MSG_PORT_DESCRIPTOR, MACH_MSG_TYPE_PORT_SEND, 12)) !=
            KERN_SUCCESS)
            return kr;
        port = req->desc[0].u.port.port;
        req->desc[0].u.port.port = NULL; /* the routine's: kept by the slots or released */
        behavior = (int)in32(c, 4);
        flavor = (int)in32(c, 8);
    }
    uint32_t masks[UM_EXC_TYPES];
    um_port *handlers[UM_EXC_TYPES];
    int behaviors[UM_EXC_TYPES], flavors[UM_EXC_TYPES];
    unsigned count = TS_EXC_MAX;
    kr = um_api_exception_ports_on(task_actions, thread_port, op, in32(c, 0), port, behavior,
                                   flavor, masks, &count, handlers, behaviors, flavors);
    if (kr != KERN_SUCCESS)
        return kr;
    if (op == UM_EXC_OP_SET)
        return reply_simple(c, &count, 0);
    uint8_t *results;
    um_kmsg *k = reply_complex(c, TS_EXC_MAX, TS_EXC_MAX * TS_PORT_DESC, 4 + 12 * count, &results);
    if (!k) {
        for (unsigned i = 0; i < count; i++)
            um_right_release(handlers[i], MACH_MSG_TYPE_PORT_SEND);
        return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
    }
    uint32_t at = TS_BODY;
    for (unsigned i = 0; i < TS_EXC_MAX; i++)
        reply_port(k, &at, i < count ? handlers[i] : NULL, MACH_MSG_TYPE_PORT_SEND);
    memcpy(results, &count, 4);
    memcpy(results + 4, masks, 4 * count);
    memcpy(results + 4 + 4 * count, behaviors, 4 * count);
    memcpy(results + 4 + 8 * count, flavors, 4 * count);
    c->reply->kmsg = k;
    return KERN_SUCCESS;
}

/* Which operation the exception-port routine `id` (task.defs' or thread_act.defs') is. */
static um_exc_op exc_op_of(mach_msg_id_t id)
{
    int which = id >= UM_MIG_THREAD_SET_EXCEPTION_PORTS ? id - UM_MIG_THREAD_SET_EXCEPTION_PORTS
                                                        : id - UM_MIG_TASK_SET_EXCEPTION_PORTS;
    return which == 0 ? UM_EXC_OP_SET : which == 1 ? UM_EXC_OP_GET : UM_EXC_OP_SWAP;
}

/* mach_port_construct: its options travel out of line (24 bytes), its context in line. */
static kern_return_t r_construct(ts_call *c)
{
    kern_return_t kr = check_complex1(c, MACH_MSG_OOL_DESCRIPTOR, 0, 8);
    if (kr != KERN_SUCCESS && kr != TS_CHECKED)
        return kr;
    um_kdesc *d = &c->req->desc[0];
    if (d->u.ool.size != sizeof(mach_port_options_t))
        return MIG_TYPE_ERROR; /* one of MIG's checks: before the port's conversion */
    if (kr != KERN_SUCCESS)
        return kr;
    /* The kernel reads the options from its copy of them. */
    um_task *t = c->target;
    mach_port_options_t options;
    if (!t->kernel->ops->copy_read(t->kernel, d->u.ool.vmc, &options, sizeof options))
        return KERN_RESOURCE_SHORTAGE;
    mach_port_name_t name = MACH_PORT_NULL;
    kr = um_api_mach_port_construct(t, c->self, &options, in64(c, 0), &name);
    if (kr != KERN_SUCCESS)
        return kr;
    return reply_simple(c, &name, 4);
}

/*
 * The mach_vm routines (api/vm_mig.c's table): MIG's checks here, then the routine runs on
 * the task's memory through the front end's vm_call hook, which makes the same calls a
 * program makes. mach_vm_write's data is mapped into the task for the routine and removed
 * after it (the request's copy is consumed either way); mach_vm_read's data, which the routine
 * left in the task, moves into the reply's out-of-line descriptor. mach_make_memory_entry's
 * parent is the request's send right (released with the request) and the entry a send right
 * the reply moves. A task whose memory the front end cannot reach (umachd: another process's)
 * is XNU's null map: KERN_INVALID_ARGUMENT.
 */
static kern_return_t r_vm(ts_call *c)
{
    um_task *t = c->target;
    um_kmsg *req = c->req;
    uint32_t args;
    um_vm_mig_desc desc;
    if (!um_vm_mig_request(req->id, &args, &desc))
        return MIG_BAD_ID;
    bool ool = desc == UM_VM_MIG_DESC_OOL;
    kern_return_t kr = ool ? check_complex1(c, MACH_MSG_OOL_DESCRIPTOR, 0, args)
                       : desc == UM_VM_MIG_DESC_PORT
                           ? check_complex1(c, MACH_MSG_PORT_DESCRIPTOR, MACH_MSG_TYPE_PORT_SEND,
                                            args)
                           : check_simple(c, args);
    if (kr != KERN_SUCCESS && kr != TS_CHECKED)
        return kr;
    if (ool && req->desc[0].u.ool.size != in32(c, args - 4))
        return MIG_TYPE_ERROR; /* MIG: the descriptor's size is the count, checked first */
    if (kr != KERN_SUCCESS)
        return kr;
    if (!t->hooks || !t->hooks->vm_call)
        return KERN_INVALID_ARGUMENT;
    um_vm_mig_call vm; /* its results only when the routine says so */
    um_vm_mig_call *call = &vm;
    call->id = req->id;
    call->in = c->in;
    call->data = 0;
    call->data_size = 0;
    call->port_in = desc == UM_VM_MIG_DESC_PORT ? req->desc[0].u.port.port : NULL;
    call->port_out = NULL;
    call->name_in = call->name_out = MACH_PORT_NULL;
    uint64_t mask = t->kernel->page_size - 1, tmp = 0, tmp_len = 0;
    void *buffer = NULL;
    if (ool && req->desc[0].u.ool.vmc && req->desc[0].u.ool.size <= TS_VM_BUFFERED) {
        /* Read into a buffer: no mapping appears in the task while the routine runs. */
        call->data_size = req->desc[0].u.ool.size;
        buffer = malloc(call->data_size);
        if (!buffer || !t->kernel->ops->copy_read(t->kernel, req->desc[0].u.ool.vmc, buffer,
                                                  call->data_size)) {
            free(buffer);
            return KERN_RESOURCE_SHORTAGE;
        }
        call->data = (uint64_t)(uintptr_t)buffer;
    } else if (ool && req->desc[0].u.ool.vmc) {
        um_vm_copy *copy = req->desc[0].u.ool.vmc;
        req->desc[0].u.ool.vmc = NULL; /* the mapping's, consumed below */
        uint64_t at = 0;
        if (t->mem->copyout(t, copy, &at) != KERN_SUCCESS)
            return KERN_RESOURCE_SHORTAGE;
        call->data = at;
        call->data_size = req->desc[0].u.ool.size;
        tmp = at & ~mask;
        tmp_len = ((at + call->data_size + mask) & ~mask) - tmp;
    }
    kr = t->hooks->vm_call(t, call);
    free(buffer);
    if (tmp_len)
        t->mem->unmap(t, tmp, (size_t)tmp_len);
    if (kr != KERN_SUCCESS)
        return kr;
    switch (um_vm_mig_reply_of(req->id)) {
    case UM_VM_MIG_REPLY_SIMPLE:
        return reply_simple(c, call->out, call->out_len);
    case UM_VM_MIG_REPLY_OOL: {
        um_vm_copy *copy = NULL;
        if (call->ool_size) {
            bool moved = t->mem->copyin(t, call->ool, call->ool_size, false, true, &copy) ==
                         MACH_MSG_SUCCESS;
            if (!moved) {
                uint64_t start = call->ool & ~mask;
                t->mem->unmap(t, start, (size_t)(((call->ool + call->ool_size + mask) & ~mask) - start));
                return KERN_RESOURCE_SHORTAGE;
            }
        }
        uint8_t *results;
        um_kmsg *k = reply_complex(c, 1, TS_OOL_DESC, 4, &results);
        if (!k) {
            if (copy)
                t->kernel->ops->copy_discard(t->kernel, copy);
            return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
        }
        um_kdesc *d = &k->desc[k->ndesc++];
        d->type = MACH_MSG_OOL_DESCRIPTOR;
        d->uoffset = TS_HEAD + TS_BODY;
        d->u.ool.vmc = copy;
        d->u.ool.size = call->ool_size;
        d->u.ool.copy = MACH_MSG_VIRTUAL_COPY;
        d->u.ool.dealloc = false;
        memcpy(results, call->out, 4); /* the count */
        c->reply->kmsg = k;
        return KERN_SUCCESS;
    }
    case UM_VM_MIG_REPLY_PORT: {
        uint8_t *results;
        um_kmsg *k = reply_complex(c, 1, TS_PORT_DESC, call->out_len, &results);
        if (!k) {
            if (call->port_out)
                um_right_release(call->port_out, MACH_MSG_TYPE_PORT_SEND);
            return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
        }
        uint32_t at = TS_BODY;
        /* The entry made, or none (mach_vm_region names no memory object). */
        reply_port(k, &at, call->port_out, MACH_MSG_TYPE_PORT_SEND);
        memcpy(results, call->out, call->out_len);
        c->reply->kmsg = k;
        return KERN_SUCCESS;
    }
    }
    return KERN_FAILURE;
}

/*
 * task_threads: the task's threads are its front end's (um_task_hooks.threads); the reply
 * carries a send right to each one's port in an out-of-line port array, then the NDR record
 * and the count, as MIG lays out thread_act_array_t.
 */
static kern_return_t r_threads(ts_call *c)
{
    kern_return_t kr;
    if ((kr = check_simple(c, 0)) != KERN_SUCCESS)
        return kr;
    um_task *t = c->target;
    /* Another task's threads (a world) are its process's: its own thread calls serve them,
     * not the sender's, so they are not given out (docs/world.md). */
    if (!t->hooks || !t->hooks->threads || t->served_for)
        return KERN_NOT_SUPPORTED;
    um_port **ports = NULL;
    uint32_t n = 0;
    if ((kr = t->hooks->threads(t, &ports, &n)) != KERN_SUCCESS)
        return kr;
    uint8_t *results;
    um_kmsg *k = reply_complex(c, 1, (uint32_t)sizeof(mach_msg_ool_ports_descriptor_t), 4,
                               &results);
    if (!k) {
        for (uint32_t i = 0; i < n; i++)
            um_right_release(ports[i], MACH_MSG_TYPE_PORT_SEND);
        free(ports);
        return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
    }
    um_kdesc *d = &k->desc[k->ndesc++];
    d->type = MACH_MSG_OOL_PORTS_DESCRIPTOR;
    d->uoffset = TS_HEAD + TS_BODY;
    d->u.oolp.ports = ports;
    d->u.oolp.count = n;
    d->u.oolp.disp = MACH_MSG_TYPE_PORT_SEND;
    d->u.oolp.copy = MACH_MSG_VIRTUAL_COPY;
    d->u.oolp.dealloc = false;
    memcpy(results, &n, 4);
    c->reply->kmsg = k;
    return KERN_SUCCESS;
}

/*
 * task_suspend / task_resume (um_task_hold): the suspension token is the sender's, as XNU
 * copies it out into the space of the task making the call. task_terminate: XNU ends no task
 * that has a process (KERN_FAILURE).
 */
static kern_return_t r_task_control(ts_call *c)
{
    kern_return_t kr;
    if ((kr = check_simple(c, 0)) != KERN_SUCCESS)
        return kr;
    if (c->req->id == UM_MIG_TASK_TERMINATE)
        return KERN_FAILURE;
    um_task *t = c->target;
    um_task *caller = t->served_for ? t->served_for : t;
    if (!caller->space)
        return KERN_FAILURE;
    return c->req->id == UM_MIG_TASK_SUSPEND ? um_task_hold(t, caller->space)
                                             : um_task_unhold(t, caller->space);
}

/* ---- dispatch ---------------------------------------------------------------------------------- */

static kern_return_t serve(ts_call *c)
{
    switch (c->req->id) {
    case UM_MIG_MACH_PORT_ALLOCATE_NAME:
    case UM_MIG_MACH_PORT_DESTROY:
    case UM_MIG_MACH_PORT_DEALLOCATE:
    case UM_MIG_MACH_PORT_MOD_REFS:
    case UM_MIG_MACH_PORT_SET_MSCOUNT:
    case UM_MIG_MACH_PORT_MOVE_MEMBER:
    case UM_MIG_MACH_PORT_SET_SEQNO:
    case UM_MIG_MACH_PORT_INSERT_MEMBER:
    case UM_MIG_MACH_PORT_EXTRACT_MEMBER:
    case UM_MIG_MACH_PORT_SET_CONTEXT:
    case UM_MIG_MACH_PORT_DESTRUCT:
    case UM_MIG_MACH_PORT_GUARD:
    case UM_MIG_MACH_PORT_UNGUARD:
    case UM_MIG_MACH_PORT_GUARD_WITH_FLAGS:
    case UM_MIG_MACH_PORT_SWAP_GUARD:
    case UM_MIG_MACH_PORT_SET_ATTRIBUTES:
        return r_no_result(c);
    case UM_MIG_MACH_PORT_TYPE:
    case UM_MIG_MACH_PORT_ALLOCATE:
    case UM_MIG_MACH_PORT_GET_REFS:
    case UM_MIG_MACH_PORT_GET_CONTEXT:
        return r_one_result(c);
    case UM_MIG_MACH_PORT_GET_ATTRIBUTES:
    case UM_MIG_TASK_INFO:
    case UM_MIG_MACH_PORT_PEEK:
        return r_array(c);
    case UM_MIG_MACH_PORT_NAMES:
    case UM_MIG_MACH_PORT_GET_SET_STATUS:
    case UM_MIG_MACH_PORT_SPACE_INFO:
        return r_ool(c);
    case UM_MIG_MACH_PORT_INSERT_RIGHT:
    case UM_MIG_MACH_PORT_EXTRACT_RIGHT:
    case UM_MIG_MACH_PORT_REQUEST_NOTIFICATION:
    case UM_MIG_TASK_GET_SPECIAL_PORT:
    case UM_MIG_TASK_SET_SPECIAL_PORT:
    case UM_MIG_TASK_SUSPEND2:
        return r_ports(c);
    case UM_MIG_MACH_PORT_CONSTRUCT:
        return r_construct(c);
    case UM_MIG_TASK_THREADS:
        return r_threads(c);
    case UM_MIG_TASK_SUSPEND:
    case UM_MIG_TASK_RESUME:
    case UM_MIG_TASK_TERMINATE:
        return r_task_control(c);
    case UM_MIG_TASK_GET_EXC_GUARD_BEHAVIOR:
    case UM_MIG_TASK_SET_EXC_GUARD_BEHAVIOR:
        return r_exc_guard(c);
    case UM_MIG_TASK_SET_EXCEPTION_PORTS:
    case UM_MIG_TASK_GET_EXCEPTION_PORTS:
    case UM_MIG_TASK_SWAP_EXCEPTION_PORTS:
        return r_exc_ports(c, c->target ? c->target->exc_actions : NULL, NULL,
                           exc_op_of(c->req->id));
    default:
        /* The mach_vm routines api/vm_mig.c's table has, else MIG_BAD_ID. */
        return r_vm(c);
    }
}

/* ---- the host port, clock ports and thread ports ------------------------------------------ */

/*
 * host_get_clock_service: a send right to the clock's port, the same port for every call (XNU
 * makes one per clock at boot). An id outside the clock list is KERN_INVALID_ARGUMENT; a world
 * without clocks answers KERN_FAILURE, as XNU for a clock without operations.
 */
static kern_return_t host_clock_service(ts_call *c)
{
    kern_return_t kr = check_simple(c, 4);
    if (kr != KERN_SUCCESS)
        return kr;
    int32_t id = (int32_t)in32(c, 0);
    if (id < 0 || id >= UM_CLOCK_COUNT)
        return KERN_INVALID_ARGUMENT;
    if (!c->kernel->ops->clock_read)
        return KERN_FAILURE;
    um_port *port = um_clock_port(c->kernel, id);
    if (!port)
        return KERN_RESOURCE_SHORTAGE;
    uint8_t *results;
    um_kmsg *k = reply_complex(c, 1, TS_PORT_DESC, 0, &results);
    if (!k)
        return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
    um_port_make_send(port);
    uint32_t at = TS_BODY;
    reply_port(k, &at, port, MACH_MSG_TYPE_PORT_SEND);
    c->reply->kmsg = k;
    return KERN_SUCCESS;
}

/*
 * The host port's routines (mach_host.defs) umach has: host_info (HOST_BASIC_INFO),
 * host_page_size and host_get_clock_service. Any other id is MIG_BAD_ID. The port's kernel
 * object is the world's kernel.
 */
static kern_return_t host_serve(ts_call *c)
{
    kern_return_t kr;
    switch (c->req->id) {
    case UM_MIG_HOST_GET_CLOCK_SERVICE:
        return host_clock_service(c);
    case UM_MIG_HOST_INFO: {
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        integer_t info[TS_HOST_INFO_MAX];
        memset(info, 0, sizeof info);
        mach_msg_type_number_t n = in32(c, 4) < TS_HOST_INFO_MAX ? in32(c, 4) : TS_HOST_INFO_MAX;
        um_machine machine = {0, 0, 0};
        if (c->kernel->ops->machine)
            c->kernel->ops->machine(c->kernel, &machine);
        if ((kr = um_api_host_info(&machine, (host_flavor_t)in32(c, 0), info, &n)) != KERN_SUCCESS)
            return kr;
        um_kmsg *k = um_kobject_reply_alloc(c->kernel, TS_NDR + 4 + 4 + n * 4, 0);
        if (!k)
            return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
        memcpy(k->body, &NDR_record, TS_NDR);
        memcpy(k->body + TS_NDR + 4, &n, 4); /* after RetCode (zeroed) */
        memcpy(k->body + TS_NDR + 8, info, (size_t)n * 4);
        c->reply->kmsg = k;
        return KERN_SUCCESS;
    }
    case UM_MIG_HOST_PAGE_SIZE: {
        if ((kr = check_simple(c, 0)) != KERN_SUCCESS)
            return kr;
        uint64_t size = c->kernel->page_size;
        return reply_simple(c, &size, 8);
    }
    default:
        return MIG_BAD_ID;
    }
}

/*
 * A clock port's routines (clock.defs) umach has: clock_get_time and clock_get_attributes
 * (clock_attr_t: array[*:1] of int, CountInOut). clock_alarm (1002) and any other id is
 * MIG_BAD_ID.
 */
static kern_return_t clock_serve(ts_call *c)
{
    kern_return_t kr;
    switch (c->req->id) {
    case UM_MIG_CLOCK_GET_TIME: {
        if ((kr = check_simple(c, 0)) != KERN_SUCCESS)
            return kr;
        mach_timespec_t now;
        if ((kr = um_api_clock_get_time(c->clock, &now)) != KERN_SUCCESS)
            return kr;
        uint32_t out[2] = {now.tv_sec, (uint32_t)now.tv_nsec};
        return reply_simple(c, out, sizeof out);
    }
    case UM_MIG_CLOCK_GET_ATTRIBUTES: {
        if ((kr = check_simple(c, 8)) != KERN_SUCCESS)
            return kr;
        mach_msg_type_number_t n = in32(c, 4) < 1 ? in32(c, 4) : 1;
        int attr[1] = {0};
        if ((kr = um_api_clock_get_attributes(c->clock, (clock_flavor_t)in32(c, 0), attr, &n)) !=
            KERN_SUCCESS)
            return kr;
        uint32_t out[2] = {n, (uint32_t)attr[0]};
        return reply_simple(c, out, sizeof out);
    }
    default:
        return MIG_BAD_ID;
    }
}

/*
 * A thread port's routines (thread_act.defs) umach has: thread_get_special_port, whose
 * THREAD_KERNEL_PORT is the port itself (umach has no inspect or read ports). Any other id is
 * MIG_BAD_ID.
 */
static kern_return_t thread_serve(ts_call *c)
{
    switch (c->req->id) {
    case UM_MIG_THREAD_GET_SPECIAL_PORT:
        break;
    case UM_MIG_THREAD_SET_EXCEPTION_PORTS:
    case UM_MIG_THREAD_GET_EXCEPTION_PORTS:
    case UM_MIG_THREAD_SWAP_EXCEPTION_PORTS:
        return r_exc_ports(c, NULL, c->req->dest, exc_op_of(c->req->id));
    default:
        return MIG_BAD_ID;
    }
    kern_return_t kr = check_simple(c, 4);
    if (kr != KERN_SUCCESS)
        return kr;
    if ((int)in32(c, 0) != THREAD_KERNEL_PORT)
        return KERN_INVALID_ARGUMENT;
    uint8_t *results;
    um_kmsg *k = reply_complex(c, 1, TS_PORT_DESC, 0, &results);
    if (!k)
        return KERN_RESOURCE_SHORTAGE; /* no memory for the reply: an error reply answers */
    um_port *port = c->req->dest; /* active: the server runs only for a live port */
    um_port_copy_send(port);
    uint32_t at = TS_BODY;
    reply_port(k, &at, port, MACH_MSG_TYPE_PORT_SEND);
    c->reply->kmsg = k;
    return KERN_SUCCESS;
}

/* ---- routing: XNU finds the routine by its id, whatever the port ------------------------- */

/* The port kinds the routines act on. */
typedef enum { TS_TASK, TS_HOST, TS_CLOCK, TS_THREAD, TS_OTHER } ts_kind;

/*
 * XNU's ipc_kobject_server finds a routine by its id in every kernel subsystem, whatever the
 * port's kind; the routine's conversion of the port (convert_port_to_space, _task, _map,
 * _host, _thread) then gives a null object, which it answers: KERN_INVALID_TASK from the
 * mach_port routines and task_get/set_exc_guard_behavior, KERN_INVALID_ARGUMENT from the
 * others umach serves. MIG's checks of the request come first.
 */
static kern_return_t serve_any(ts_call *c, ts_kind kind)
{
    mach_msg_id_t id = c->req->id;
    ts_kind want = id >= UM_MIG_HOST_INFO && id < UM_MIG_HOST_INFO + 100 ? TS_HOST
                   : id >= UM_MIG_CLOCK_GET_TIME && id < UM_MIG_CLOCK_GET_TIME + 100 ? TS_CLOCK
                   : id >= 3600 && id < 3700                                         ? TS_THREAD
                                                                                     : TS_TASK;
    c->null_object = want != kind;
    kern_return_t kr = want == TS_HOST     ? host_serve(c)
                       : want == TS_CLOCK  ? clock_serve(c)
                       : want == TS_THREAD ? thread_serve(c)
                                           : serve(c);
    if (kr != TS_CHECKED)
        return kr;
    if ((id >= UM_MIG_MACH_PORT_NAMES && id < UM_MIG_MACH_PORT_NAMES + 100) ||
        id == UM_MIG_TASK_GET_EXC_GUARD_BEHAVIOR || id == UM_MIG_TASK_SET_EXC_GUARD_BEHAVIOR ||
        id == UM_MIG_MACH_VM_MSYNC)
        return KERN_INVALID_TASK;
    return KERN_INVALID_ARGUMENT;
}

void um_task_server(um_task *target, um_task *sender, um_kmsg *request, um_kobject_reply *reply)
{
    ts_call c = {.kernel = target->kernel,
                 .target = target,
                 .self = target->task_name,
                 .req = request,
                 .reply = reply};
    /* A guard exception a routine raises is the sender's (XNU raises it on the sending
     * thread); the routines act through the target's own name for its port. */
    target->served_for = sender != target ? sender : NULL;
    reply->ret = serve_any(&c, TS_TASK);
    target->served_for = NULL;
}

void um_host_server(um_kernel *kernel, um_kmsg *request, um_kobject_reply *reply)
{
    ts_call c = {.kernel = kernel, .req = request, .reply = reply};
    reply->ret = serve_any(&c, TS_HOST);
}

void um_clock_server(um_clock *clock, um_kmsg *request, um_kobject_reply *reply)
{
    ts_call c = {.kernel = clock->kernel, .clock = clock, .req = request, .reply = reply};
    reply->ret = serve_any(&c, TS_CLOCK);
}

void um_thread_server(um_kmsg *request, um_kobject_reply *reply)
{
    ts_call c = {.req = request, .reply = reply};
    reply->ret = serve_any(&c, TS_THREAD);
}

void um_task_resume_server(um_task *task, um_kmsg *request, um_kobject_reply *reply)
{
    if (request->id == MACH_NOTIFY_SEND_ONCE &&
        MACH_MSGH_BITS_REMOTE(request->bits) == MACH_MSG_TYPE_PORT_SEND_ONCE) {
        /* A token went unused (XNU's task_suspension_send_once): its hold ends. */
        if (task)
            (void)um_task_unhold_once(task);
        reply->ret = MIG_NO_REPLY;
        return;
    }
    if (request->id != UM_MIG_TASK_RESUME2) {
        um_kobject_other_server(request, reply);
        return;
    }
    ts_call c = {.target = task, .req = request, .reply = reply, .null_object = !task};
    kern_return_t kr = check_simple(&c, 0);
    /* XNU: a token of a task that has ended converts to no task. */
    reply->ret = kr == TS_CHECKED ? KERN_INVALID_ARGUMENT
                 : kr != KERN_SUCCESS ? kr
                                      : um_task_unhold_once(task);
}

void um_kobject_other_server(um_kmsg *request, um_kobject_reply *reply)
{
    ts_call c = {.req = request, .reply = reply};
    reply->ret = serve_any(&c, TS_OTHER);
}
