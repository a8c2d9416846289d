/*
 * d_calls.c — the kernel calls as umachd serves them: each request is checked against its
 * call (argument count, payload length) before anything else, then the same um_api_* that
 * embedded mode runs is called with the connection's task as `self`, out-parameters pointing
 * into the reply. A MIG out-of-line array (mach_port_names, mach_port_get_set_status,
 * mach_port_space_info) is a kernel region the api gives the task through the `attach`
 * memory operation: here it becomes an item of the reply (the call's context), and the
 * client copies it into memory of its own that it frees with vm_deallocate.
 *
 * Reply layout: the call's out-arguments in the order of the public function; then, for the
 * calls with arrays, the number of items and each item's length; the items' bytes are the
 * blob. In/out counts are returned whatever the result (their value is the client's own when
 * the api did not touch them); pure out-arguments are used by the client only on success.
 *
 * Also the task's memory operations (d_memops), served from the current call's context.
 */
#define _GNU_SOURCE
#include "umachd.h"

#include "api/um_api.h"

#include <mach/task_info.h>

#include <stdlib.h>
#include <string.h>

/* ---- the per-call context and the task's memory ------------------------------------------ */

void d_ctx_enter(d_task *t, d_callctx *ctx)
{
    t->ctx = ctx;
}

void d_ctx_leave(d_task *t, d_callctx *ctx)
{
    (void)ctx;
    t->ctx = NULL;
}

void d_ctx_release(d_daemon *d, d_callctx *ctx)
{
    for (unsigned i = 0; i < ctx->nitems; i++) {
        if (ctx->items[i].region)
            d->kernel.ops->region_free(&d->kernel, ctx->items[i].region, ctx->items[i].len);
        ctx->items[i].region = NULL;
    }
    ctx->nitems = 0;
}

static d_callctx *ctx_of(um_task *task)
{
    d_task *t = task->fe;
    return t ? t->ctx : NULL;
}

/* The captured range holding [addr, addr + len), or NULL. */
static const d_range *ctx_range(d_callctx *ctx, uint64_t addr, size_t len)
{
    if (!ctx)
        return NULL;
    for (unsigned i = 0; i < ctx->nranges; i++) {
        const d_range *r = &ctx->ranges[i];
        if (r->bytes && addr >= r->addr && len <= r->len && addr - r->addr <= r->len - len)
            return r;
    }
    return NULL;
}

/* The message buffer: the bytes the request brought. */
static bool d_mem_msg_read(um_task *task, void *dst, uint64_t src, size_t len)
{
    const d_range *r = ctx_range(ctx_of(task), src, len);
    if (!r)
        return false;
    memcpy(dst, r->bytes + (src - r->addr), len);
    return true;
}

/* An out-of-line ports array: the names the request's memory part captured. */
static bool d_mem_read(um_task *task, void *dst, uint64_t src, size_t len)
{
    d_callctx *ctx = ctx_of(task);
    if (ctx && ctx->xm)
        return um_xmem_read(ctx->xm, dst, src, len);
    return d_mem_msg_read(task, dst, src, len);
}

static bool d_mem_msg_write(um_task *task, uint64_t dst, const void *src, size_t len)
{
    /* The daemon never writes a client's memory: received bytes go in the reply. */
    (void)task;
    (void)dst;
    (void)src;
    (void)len;
    return false;
}

static void d_mem_unmap(um_task *task, uint64_t addr, size_t len)
{
    d_callctx *ctx = ctx_of(task);
    if (!ctx)
        return;
    for (unsigned i = 0; i < ctx->nitems; i++) {
        d_item *it = &ctx->items[i];
        if (it->region && it->token == addr && it->len == len) {
            d_task *t = task->fe;
            t->d->kernel.ops->region_free(&t->d->kernel, it->region, it->len);
            it->region = NULL;
            return;
        }
    }
    /* A range of the client's own memory (a move, a deallocated ports array): the reply
     * tells the client to remove it. */
    if (ctx->xm)
        um_xmem_unmap(ctx->xm, addr, len);
}

static uint64_t d_mem_attach(um_task *task, void *region, size_t len)
{
    d_callctx *ctx = ctx_of(task);
    if (ctx && ctx->xm) {
        /* A received ports array: its names travel in the reply's memory part. */
        uint64_t at = um_xmem_attach(ctx->xm, region, len);
        if (at)
            task->kernel->ops->region_free(task->kernel, region, len);
        return at;
    }
    if (!ctx || !ctx->allow_attach || ctx->nitems == D_CTX_ITEMS)
        return 0; /* the kernel keeps the region (the caller frees it) */
    unsigned i = ctx->nitems++;
    ctx->items[i] = (d_item){region, len, D_ITEM_TOKEN(i)};
    return ctx->items[i].token;
}

static mach_msg_return_t d_mem_copyin(um_task *task, uint64_t addr, uint64_t size, bool physical,
                                      bool dealloc, um_vm_copy **copyp)
{
    d_callctx *ctx = ctx_of(task);
    *copyp = NULL;
    if (!ctx || !ctx->xm)
        return MACH_SEND_INVALID_MEMORY; /* no memory part: nothing captured */
    return um_xmem_copyin(ctx->xm, addr, size, physical, dealloc, copyp);
}

static kern_return_t d_mem_copyout(um_task *task, um_vm_copy *copy, uint64_t *addrp)
{
    d_callctx *ctx = ctx_of(task);
    if (!ctx || !ctx->xm) {
        /* No reply to carry it (the client is gone): the memory is dropped. */
        task->kernel->ops->copy_discard(task->kernel, copy);
        *addrp = 0;
        return KERN_NO_SPACE;
    }
    return um_xmem_copyout(ctx->xm, copy, addrp);
}

const um_task_memops d_memops = {
    .read = d_mem_read,
    .msg_read = d_mem_msg_read,
    .msg_write = d_mem_msg_write,
    .unmap = d_mem_unmap,
    .attach = d_mem_attach,
    .copyin = d_mem_copyin,
    .copyout = d_mem_copyout,
};

/* ---- the calls --------------------------------------------------------------------------- */

/* The largest integer_t array an info call takes or gives (TASK_INFO_MAX). */
enum { D_INFO_MAX = 1024, D_TRAILER_MAX = 256 };

/* Send the reply with the context's items appended (on success), then free the regions. */
static bool reply_items(d_conn *c, const um_wire_pkt *p, kern_return_t kr, uint64_t *out,
                        uint32_t nout, d_callctx *ctx)
{
    d_daemon *d = c->task->d;
    uint64_t args[UM_WIRE_MAX_ARGS];
    memcpy(args, out, nout * sizeof *out);
    uint32_t n = nout;
    size_t total = 0;
    unsigned live = 0;
    if (kr == KERN_SUCCESS) {
        for (unsigned i = 0; i < ctx->nitems; i++)
            if (ctx->items[i].region)
                live = i + 1;
    }
    args[n++] = live;
    for (unsigned i = 0; i < live; i++) {
        size_t len = ctx->items[i].region ? ctx->items[i].len : 0;
        args[n++] = len;
        total += len;
    }
    uint8_t *blob = NULL;
    bool ok = true;
    if (total > UM_WIRE_BLOB_MAX) {
        kr = KERN_RESOURCE_SHORTAGE;
        live = 0;
        n = nout;
        args[n++] = 0;
        total = 0;
    }
    if (total) {
        blob = malloc(total);
        if (!blob) {
            kr = KERN_RESOURCE_SHORTAGE;
            n = nout;
            args[n++] = 0;
            total = 0;
        } else {
            size_t at = 0;
            for (unsigned i = 0; i < live; i++) {
                if (ctx->items[i].region) {
                    memcpy(blob + at, ctx->items[i].region, ctx->items[i].len);
                    at += ctx->items[i].len;
                }
            }
        }
    }
    ok = d_reply(c, p->h.call, p->h.id, kr, args, n, blob, (uint32_t)total);
    free(blob);
    d_ctx_release(d, ctx);
    return ok;
}

/* The argument count and largest payload of each call. */
static bool shape_ok(const um_wire_pkt *p, uint32_t nargs, uint32_t blob_max)
{
    return p->h.nargs == nargs && p->h.blob_len <= blob_max;
}

#define A(i) (p->args[i])
#define U32(i) ((uint32_t)p->args[i])
#define SHAPE(n, blob)                                                                             \
    do {                                                                                           \
        if (!shape_ok(p, (n), (blob)))                                                             \
            goto malformed;                                                                        \
    } while (0)
#define REPLY(kr_, ...)                                                                            \
    do {                                                                                           \
        uint64_t out_[] = {0, __VA_ARGS__};                                                        \
        ok = d_reply(c, p->h.call, p->h.id, (kr_), out_ + 1,                                       \
                     (uint32_t)(sizeof out_ / sizeof out_[0] - 1), NULL, 0);                       \
    } while (0)

bool d_call(d_conn *c, const um_wire_pkt *p)
{
    d_task *t = c->task;
    um_task *self = t->task;
    d_callctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.allow_attach = true;
    d_ctx_enter(t, &ctx);
    kern_return_t kr;
    bool ok = true;
    switch (p->h.call) {
    case UM_WIRE_PORT_ALLOCATE: {
        SHAPE(2, 0);
        mach_port_name_t name = 0;
        kr = um_api_mach_port_allocate(self, U32(0), U32(1), &name);
        REPLY(kr, name);
        break;
    }
    case UM_WIRE_PORT_ALLOCATE_NAME:
        SHAPE(3, 0);
        kr = um_api_mach_port_allocate_name(self, U32(0), U32(1), U32(2));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_CONSTRUCT: {
        SHAPE(2, sizeof(mach_port_options_t));
        if (p->h.blob_len != sizeof(mach_port_options_t))
            goto malformed;
        mach_port_options_t opts;
        memcpy(&opts, p->blob, sizeof opts);
        mach_port_name_t name = 0;
        kr = um_api_mach_port_construct(self, U32(0), &opts, A(1), &name);
        REPLY(kr, name);
        break;
    }
    case UM_WIRE_PORT_DESTRUCT:
        SHAPE(4, 0);
        kr = um_api_mach_port_destruct(self, U32(0), U32(1), (mach_port_delta_t)U32(2), A(3));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_DEALLOCATE:
        SHAPE(2, 0);
        kr = um_api_mach_port_deallocate(self, U32(0), U32(1));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_DESTROY:
        SHAPE(2, 0);
        kr = um_api_mach_port_destroy(self, U32(0), U32(1));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_MOD_REFS:
        SHAPE(4, 0);
        kr = um_api_mach_port_mod_refs(self, U32(0), U32(1), U32(2), (mach_port_delta_t)U32(3));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_GET_REFS: {
        SHAPE(3, 0);
        mach_port_urefs_t refs = 0;
        kr = um_api_mach_port_get_refs(self, U32(0), U32(1), U32(2), &refs);
        REPLY(kr, refs);
        break;
    }
    case UM_WIRE_PORT_TYPE: {
        SHAPE(2, 0);
        mach_port_type_t type = 0;
        kr = um_api_mach_port_type(self, U32(0), U32(1), &type);
        REPLY(kr, type);
        break;
    }
    case UM_WIRE_PORT_NAMES: {
        SHAPE(1, 0);
        mach_port_name_array_t names = NULL;
        mach_port_type_array_t types = NULL;
        mach_msg_type_number_t nc = 0, tc = 0;
        kr = um_api_mach_port_names(self, U32(0), &names, &nc, &types, &tc);
        uint64_t out[4] = {(uint64_t)(uintptr_t)names, nc, (uint64_t)(uintptr_t)types, tc};
        d_ctx_leave(t, &ctx);
        return reply_items(c, p, kr, out, 4, &ctx);
    }
    case UM_WIRE_PORT_INSERT_RIGHT:
        SHAPE(4, 0);
        kr = um_api_mach_port_insert_right(self, U32(0), U32(1), U32(2), U32(3));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_EXTRACT_RIGHT: {
        SHAPE(3, 0);
        mach_port_t poly = 0;
        mach_msg_type_name_t poly_type = 0;
        kr = um_api_mach_port_extract_right(self, U32(0), U32(1), U32(2), &poly, &poly_type);
        REPLY(kr, poly, poly_type);
        break;
    }
    case UM_WIRE_PORT_GET_ATTRIBUTES: {
        SHAPE(4, 0);
        integer_t info[D_INFO_MAX];
        memset(info, 0, sizeof info);
        mach_msg_type_number_t cnt = U32(3) > D_INFO_MAX ? D_INFO_MAX : U32(3);
        kr = um_api_mach_port_get_attributes(self, U32(0), U32(1), (mach_port_flavor_t)U32(2),
                                             info, &cnt);
        if (cnt > D_INFO_MAX)
            cnt = D_INFO_MAX;
        uint64_t out[1] = {cnt};
        ok = d_reply(c, p->h.call, p->h.id, kr, out, 1, info, cnt * (uint32_t)sizeof info[0]);
        break;
    }
    case UM_WIRE_PORT_SET_ATTRIBUTES: {
        SHAPE(4, D_INFO_MAX * sizeof(integer_t));
        integer_t info[D_INFO_MAX];
        memset(info, 0, sizeof info);
        uint32_t cnt = U32(3);
        uint32_t have = cnt > D_INFO_MAX ? D_INFO_MAX : cnt;
        if (p->h.blob_len != have * sizeof(integer_t))
            goto malformed;
        if (have)
            memcpy(info, p->blob, p->h.blob_len);
        kr = um_api_mach_port_set_attributes(self, U32(0), U32(1), (mach_port_flavor_t)U32(2),
                                             info, cnt);
        REPLY(kr);
        break;
    }
    case UM_WIRE_PORT_SET_MSCOUNT:
        SHAPE(3, 0);
        kr = um_api_mach_port_set_mscount(self, U32(0), U32(1), U32(2));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_SET_SEQNO:
        SHAPE(3, 0);
        kr = um_api_mach_port_set_seqno(self, U32(0), U32(1), U32(2));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_GET_CONTEXT: {
        SHAPE(2, 0);
        mach_port_context_t ctxv = 0;
        kr = um_api_mach_port_get_context(self, U32(0), U32(1), &ctxv);
        REPLY(kr, ctxv);
        break;
    }
    case UM_WIRE_PORT_SET_CONTEXT:
        SHAPE(3, 0);
        kr = um_api_mach_port_set_context(self, U32(0), U32(1), A(2));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_GUARD:
        SHAPE(4, 0);
        kr = um_api_mach_port_guard(self, U32(0), U32(1), A(2), (boolean_t)U32(3));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_GUARD_WITH_FLAGS:
        SHAPE(4, 0);
        kr = um_api_mach_port_guard_with_flags(self, U32(0), U32(1), A(2), A(3));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_UNGUARD:
        SHAPE(3, 0);
        kr = um_api_mach_port_unguard(self, U32(0), U32(1), A(2));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_SWAP_GUARD:
        SHAPE(4, 0);
        kr = um_api_mach_port_swap_guard(self, U32(0), U32(1), A(2), A(3));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_INSERT_MEMBER:
        SHAPE(3, 0);
        kr = um_api_mach_port_insert_member(self, U32(0), U32(1), U32(2));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_EXTRACT_MEMBER:
        SHAPE(3, 0);
        kr = um_api_mach_port_extract_member(self, U32(0), U32(1), U32(2));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_MOVE_MEMBER:
        SHAPE(3, 0);
        kr = um_api_mach_port_move_member(self, U32(0), U32(1), U32(2));
        REPLY(kr);
        break;
    case UM_WIRE_PORT_GET_SET_STATUS: {
        SHAPE(2, 0);
        mach_port_name_array_t members = NULL;
        mach_msg_type_number_t cnt = 0;
        kr = um_api_mach_port_get_set_status(self, U32(0), U32(1), &members, &cnt);
        uint64_t out[2] = {(uint64_t)(uintptr_t)members, cnt};
        d_ctx_leave(t, &ctx);
        return reply_items(c, p, kr, out, 2, &ctx);
    }
    case UM_WIRE_PORT_REQUEST_NOTIFICATION: {
        SHAPE(6, 0);
        mach_port_t previous = 0;
        kr = um_api_mach_port_request_notification(self, U32(0), U32(1), (mach_msg_id_t)U32(2),
                                                   U32(3), U32(4), U32(5), &previous);
        REPLY(kr, previous);
        break;
    }
    case UM_WIRE_PORT_PEEK: {
        SHAPE(5, 0);
        mach_port_seqno_t seqno = U32(3);
        mach_msg_size_t size = 0;
        mach_msg_id_t msgid = 0;
        char trailer[D_TRAILER_MAX];
        memset(trailer, 0, sizeof trailer);
        mach_msg_type_number_t cnt = U32(4) > D_TRAILER_MAX ? D_TRAILER_MAX : U32(4);
        kr = um_api_mach_port_peek(self, U32(0), U32(1), (mach_msg_trailer_type_t)U32(2), &seqno,
                                   &size, &msgid, trailer, &cnt);
        if (cnt > D_TRAILER_MAX)
            cnt = D_TRAILER_MAX;
        uint64_t out[4] = {seqno, size, (uint32_t)msgid, cnt};
        ok = d_reply(c, p->h.call, p->h.id, kr, out, 4, trailer, kr == KERN_SUCCESS ? cnt : 0);
        break;
    }
    case UM_WIRE_PORT_SPACE_INFO: {
        SHAPE(1, 0);
        ipc_info_space_t info;
        memset(&info, 0, sizeof info);
        ipc_info_name_array_t table = NULL;
        ipc_info_tree_name_array_t tree = NULL;
        mach_msg_type_number_t tc = 0, trc = 0;
        kr = um_api_mach_port_space_info(self, U32(0), &info, &table, &tc, &tree, &trc);
        _Static_assert(sizeof info <= 4 * sizeof(uint64_t), "space info fits four arguments");
        uint64_t out[8] = {0};
        memcpy(out, &info, sizeof info);
        out[4] = (uint64_t)(uintptr_t)table;
        out[5] = tc;
        out[6] = (uint64_t)(uintptr_t)tree;
        out[7] = trc;
        d_ctx_leave(t, &ctx);
        return reply_items(c, p, kr, out, 8, &ctx);
    }
    case UM_WIRE_TASK_INFO: {
        SHAPE(3, 0);
        integer_t info[D_INFO_MAX];
        memset(info, 0, sizeof info);
        mach_msg_type_number_t cnt = U32(2) > D_INFO_MAX ? D_INFO_MAX : U32(2);
        kr = um_api_task_info(self, U32(0), (task_flavor_t)U32(1), info, &cnt);
        if (cnt > D_INFO_MAX)
            cnt = D_INFO_MAX;
        uint64_t out[1] = {cnt};
        ok = d_reply(c, p->h.call, p->h.id, kr, out, 1, info,
                     kr == KERN_SUCCESS ? cnt * (uint32_t)sizeof info[0] : 0);
        break;
    }
    case UM_WIRE_TASK_GET_SPECIAL_PORT: {
        SHAPE(2, 0);
        mach_port_t port = 0;
        kr = um_api_task_get_special_port(self, U32(0), (int)U32(1), &port);
        REPLY(kr, port);
        break;
    }
    case UM_WIRE_TASK_SET_SPECIAL_PORT:
        SHAPE(3, 0);
        kr = um_api_task_set_special_port(self, U32(0), (int)U32(1), U32(2));
        REPLY(kr);
        break;
    case UM_WIRE_TASK_SUSPEND:
        SHAPE(1, 0);
        kr = um_api_task_suspend(self, U32(0));
        REPLY(kr);
        break;
    case UM_WIRE_TASK_RESUME:
        SHAPE(1, 0);
        kr = um_api_task_resume(self, U32(0));
        REPLY(kr);
        break;
    case UM_WIRE_TASK_SUSPEND2: {
        SHAPE(1, 0);
        mach_port_t token = MACH_PORT_NULL;
        kr = um_api_task_suspend2(self, U32(0), &token);
        REPLY(kr, token);
        break;
    }
    case UM_WIRE_TASK_TERMINATE:
        SHAPE(1, 0);
        kr = um_api_task_terminate(self, U32(0));
        REPLY(kr);
        break;
    case UM_WIRE_TASK_CHECK:
        SHAPE(1, 0);
        kr = um_api_task_check(self, U32(0)) ? KERN_SUCCESS : MACH_SEND_INVALID_DEST;
        REPLY(kr);
        break;
    case UM_WIRE_TASK_GET_EXC_GUARD: {
        /* The guard policy of this task or of another whose task port it holds, as XNU serves
         * the call on any task's port (embedded mode's is the process's, um_world.c). */
        SHAPE(1, 0);
        um_task *target = um_task_target(self, U32(0));
        kr = target ? KERN_SUCCESS : MACH_SEND_INVALID_DEST;
        uint64_t behavior = TASK_EXC_GUARD_MP_DELIVER;
        if (target && !(((d_task *)target->fe)->flags & UM_WIRE_HELLO_GUARD_NONFATAL))
            behavior |= TASK_EXC_GUARD_MP_FATAL;
        REPLY(kr, behavior);
        break;
    }
    case UM_WIRE_TASK_SET_EXC_GUARD: {
        SHAPE(2, 0);
        um_task *target = um_task_target(self, U32(0));
        kr = !target ? MACH_SEND_INVALID_DEST
             : A(1) & ~(uint64_t)TASK_EXC_GUARD_ALL ? KERN_INVALID_VALUE
                                                    : KERN_SUCCESS;
        if (kr == KERN_SUCCESS) {
            d_task *tt = target->fe;
            if (A(1) & TASK_EXC_GUARD_MP_FATAL)
                tt->flags &= ~UM_WIRE_HELLO_GUARD_NONFATAL;
            else
                tt->flags |= UM_WIRE_HELLO_GUARD_NONFATAL;
        }
        REPLY(kr);
        break;
    }
    case UM_WIRE_EXC_PORTS: {
        SHAPE(8, 0);
        exception_mask_t masks[UM_EXC_TYPES];
        mach_port_t handlers[UM_EXC_TYPES];
        exception_behavior_t behaviors[UM_EXC_TYPES];
        thread_state_flavor_t flavors[UM_EXC_TYPES];
        mach_msg_type_number_t cnt = U32(7) > UM_EXC_TYPES ? UM_EXC_TYPES : U32(7);
        if (U32(2) > UM_EXC_OP_SWAP)
            goto malformed;
        kr = um_api_exception_ports(self, A(0) != 0, U32(1), (um_exc_op)U32(2), U32(3), U32(4),
                                    (exception_behavior_t)U32(5), (thread_state_flavor_t)U32(6),
                                    masks, &cnt, handlers, behaviors, flavors);
        uint32_t entries[UM_EXC_TYPES][4];
        uint32_t n = kr == KERN_SUCCESS || kr == (MACH_RCV_BODY_ERROR | MACH_MSG_IPC_SPACE) ? cnt : 0;
        if (U32(2) == UM_EXC_OP_SET)
            n = 0;
        for (uint32_t i = 0; i < n; i++) {
            entries[i][0] = masks[i];
            entries[i][1] = handlers[i];
            entries[i][2] = (uint32_t)behaviors[i];
            entries[i][3] = (uint32_t)flavors[i];
        }
        uint64_t out[1] = {n};
        ok = d_reply(c, p->h.call, p->h.id, kr, out, 1, entries, n * (uint32_t)sizeof entries[0]);
        break;
    }
    default:
        goto malformed;
    }
    d_ctx_leave(t, &ctx);
    d_ctx_release(t->d, &ctx);
    return ok;
malformed:
    d_ctx_leave(t, &ctx);
    d_ctx_release(t->d, &ctx);
    return false;
}
