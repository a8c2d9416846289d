/*
 * rights.c — owned send, send-once and receive rights, notifications, port sets.
 */
#include "mp_internal.h"

/* ---- raw names ------------------------------------------------------------------------- */

mach_port_name_t mp_send_right_into_name(mp_send_right *r)
{
    mach_port_name_t n = r->name;
    *r = MP_SEND_RIGHT_NULL;
    return n;
}

mach_port_name_t mp_send_once_right_into_name(mp_send_once_right *r)
{
    mach_port_name_t n = r->name;
    *r = MP_SEND_ONCE_RIGHT_NULL;
    return n;
}

mach_port_name_t mp_recv_right_into_name(mp_recv_right *r)
{
    mach_port_name_t n = r->name;
    *r = MP_RECV_RIGHT_NULL;
    return n;
}

mach_port_name_t mp_port_set_into_name(mp_port_set *s)
{
    mach_port_name_t n = s->name;
    *s = MP_PORT_SET_NULL;
    return n;
}

/* ---- release ---------------------------------------------------------------------------- */

kern_return_t mp__destroy_recv(mach_port_name_t name, int guarded, mach_port_context_t guard)
{
    if (!MACH_PORT_VALID(name))
        return KERN_SUCCESS;
    /* deallocate() cannot release a receive right (it returns KERN_INVALID_RIGHT and the
     * port leaks): a receive right is destroyed with mod_refs(-1), or destruct when
     * guarded, which is the only way the kernel accepts without a guard exception. */
    if (guarded)
        return mach_port_destruct(mp__task(), name, 0, guard);
    return mach_port_mod_refs(mp__task(), name, MACH_PORT_RIGHT_RECEIVE, -1);
}

void mp__release_name(mach_port_name_t name, mach_msg_type_name_t disposition)
{
    if (!MACH_PORT_VALID(name))
        return;
    switch (disposition) {
    case MACH_MSG_TYPE_MOVE_SEND:
    case MACH_MSG_TYPE_MOVE_SEND_ONCE:
        /* deallocate releases a send or send-once right, or the dead name it became. */
        (void)mach_port_deallocate(mp__task(), name);
        break;
    case MACH_MSG_TYPE_MOVE_RECEIVE:
        (void)mach_port_mod_refs(mp__task(), name, MACH_PORT_RIGHT_RECEIVE, -1);
        break;
    default:
        break;
    }
}

void mp__vm_release(uint64_t address, uint64_t size)
{
    if (size == 0 || address == 0)
        return;
    (void)vm_deallocate(mp__task(), (vm_address_t)address, (vm_size_t)size);
}

kern_return_t mp_send_right_drop(mp_send_right *r)
{
    mach_port_name_t n = mp_send_right_into_name(r);
    if (!MACH_PORT_VALID(n))
        return KERN_SUCCESS;
    return mach_port_deallocate(mp__task(), n);
}

kern_return_t mp_send_once_right_drop(mp_send_once_right *r)
{
    mach_port_name_t n = mp_send_once_right_into_name(r);
    if (!MACH_PORT_VALID(n))
        return KERN_SUCCESS;
    return mach_port_deallocate(mp__task(), n);
}

kern_return_t mp_recv_right_drop(mp_recv_right *r)
{
    mp_recv_right v = *r;
    *r = MP_RECV_RIGHT_NULL;
    return mp__destroy_recv(v.name, v.guarded, v.guard);
}

kern_return_t mp_port_set_drop(mp_port_set *s)
{
    mach_port_name_t n = mp_port_set_into_name(s);
    if (!MACH_PORT_VALID(n))
        return KERN_SUCCESS;
    return mach_port_mod_refs(mp__task(), n, MACH_PORT_RIGHT_PORT_SET, -1);
}

kern_return_t mp_any_send_right_drop(mp_any_send_right *r)
{
    mp_any_send_right v = *r;
    *r = MP_ANY_SEND_RIGHT_NULL;
    if (v.kind == MP_ANY_SEND_NONE || !MACH_PORT_VALID(v.name))
        return KERN_SUCCESS;
    return mach_port_deallocate(mp__task(), v.name);
}

/* ---- allocate / construct ----------------------------------------------------------------- */

kern_return_t mp_recv_right_alloc(mp_recv_right *out)
{
    mach_port_name_t n = MACH_PORT_NULL;
    *out = MP_RECV_RIGHT_NULL;
    kern_return_t kr = mach_port_allocate(mp__task(), MACH_PORT_RIGHT_RECEIVE, &n);
    if (kr == KERN_SUCCESS)
        *out = mp_recv_right_from_name(n);
    return kr;
}

kern_return_t mp_recv_right_make_pair(mp_recv_right *recv, mp_send_right *send)
{
    *send = MP_SEND_RIGHT_NULL;
    kern_return_t kr = mp_recv_right_alloc(recv);
    if (kr == KERN_SUCCESS && (kr = mp_send_right_make(*recv, send)) != KERN_SUCCESS)
        (void)mp_recv_right_drop(recv);
    return kr;
}

kern_return_t mp_recv_right_drop_pair(mp_recv_right *recv, mp_send_right *send)
{
    if (!MACH_PORT_VALID(recv->name) || send->name != recv->name) {
        kern_return_t kr = mp_send_right_drop(send);
        kern_return_t kr2 = mp_recv_right_drop(recv);
        return kr2 != KERN_SUCCESS ? kr2 : kr;
    }
    mp_recv_right v = *recv;
    *recv = MP_RECV_RIGHT_NULL;
    *send = MP_SEND_RIGHT_NULL;
    return mach_port_destruct(mp__task(), v.name, -1, v.guarded ? v.guard : 0);
}

kern_return_t mp_recv_right_construct(const mp_construct_options *opts, mp_recv_right *out,
                                      mp_send_right *send_out)
{
    mach_port_options_t o;
    mach_port_name_t n = MACH_PORT_NULL;
    uint32_t f = opts->flags;

    *out = MP_RECV_RIGHT_NULL;
    if (send_out)
        *send_out = MP_SEND_RIGHT_NULL;

    if (f & ~(uint32_t)(MP_CONSTRUCT_QLIMIT | MP_CONSTRUCT_CONTEXT | MP_CONSTRUCT_GUARD |
                        MP_CONSTRUCT_STRICT | MP_CONSTRUCT_IMMOVABLE | MP_CONSTRUCT_INSERT_SEND))
        return KERN_INVALID_ARGUMENT;
    if ((f & MP_CONSTRUCT_CONTEXT) && (f & MP_CONSTRUCT_GUARD))
        return KERN_INVALID_ARGUMENT;
    if ((f & (MP_CONSTRUCT_STRICT | MP_CONSTRUCT_IMMOVABLE)) && !(f & MP_CONSTRUCT_GUARD))
        return KERN_INVALID_ARGUMENT;
    if ((f & MP_CONSTRUCT_INSERT_SEND) && !send_out)
        return KERN_INVALID_ARGUMENT;
    if ((f & MP_CONSTRUCT_QLIMIT) && opts->qlimit > MACH_PORT_QLIMIT_MAX)
        return KERN_INVALID_VALUE;

    memset(&o, 0, sizeof o);
    if (f & MP_CONSTRUCT_QLIMIT) {
        o.flags |= MPO_QLIMIT;
        o.mpl.mpl_qlimit = opts->qlimit;
    }
    if (f & MP_CONSTRUCT_GUARD)
        o.flags |= MPO_CONTEXT_AS_GUARD;
    if (f & MP_CONSTRUCT_STRICT)
        o.flags |= MPO_STRICT;
    if (f & MP_CONSTRUCT_IMMOVABLE)
        o.flags |= MPO_IMMOVABLE_RECEIVE;
    if (f & MP_CONSTRUCT_INSERT_SEND)
        o.flags |= MPO_INSERT_SEND_RIGHT;

    mach_port_context_t ctx = (f & (MP_CONSTRUCT_CONTEXT | MP_CONSTRUCT_GUARD)) ? opts->context : 0;
    kern_return_t kr = mach_port_construct(mp__task(), &o, ctx, &n);
    if (kr != KERN_SUCCESS)
        return kr;

    out->name = n;
    if (f & MP_CONSTRUCT_GUARD) {
        out->guarded = (f & MP_CONSTRUCT_STRICT) ? 2 : 1;
        out->immovable = (f & MP_CONSTRUCT_IMMOVABLE) ? 1 : 0;
        out->guard = ctx;
    }
    if (f & MP_CONSTRUCT_INSERT_SEND)
        send_out->name = n;
    return KERN_SUCCESS;
}

/* ---- making send rights ------------------------------------------------------------------- */

kern_return_t mp_send_right_make(mp_recv_right recv, mp_send_right *out)
{
    *out = MP_SEND_RIGHT_NULL;
    if (!MACH_PORT_VALID(recv.name))
        return KERN_INVALID_NAME;
    kern_return_t kr =
        mach_port_insert_right(mp__task(), recv.name, recv.name, MACH_MSG_TYPE_MAKE_SEND);
    if (kr == KERN_SUCCESS)
        out->name = recv.name;
    return kr;
}

kern_return_t mp_send_once_right_make(mp_recv_right recv, mp_send_once_right *out)
{
    mach_port_name_t n = MACH_PORT_NULL;
    mach_msg_type_name_t t = 0;

    *out = MP_SEND_ONCE_RIGHT_NULL;
    if (!MACH_PORT_VALID(recv.name))
        return KERN_INVALID_NAME;
    kern_return_t kr =
        mach_port_extract_right(mp__task(), recv.name, MACH_MSG_TYPE_MAKE_SEND_ONCE, &n, &t);
    if (kr != KERN_SUCCESS)
        return kr;
    if (t != MACH_MSG_TYPE_PORT_SEND_ONCE) {
        mp__release_name(n, t);
        return KERN_FAILURE;
    }
    out->name = n;
    return KERN_SUCCESS;
}

kern_return_t mp_send_right_copy(mp_send_right r, mp_send_right *out)
{
    *out = MP_SEND_RIGHT_NULL;
    if (r.name == MACH_PORT_DEAD)
        return KERN_INVALID_RIGHT;
    if (!MACH_PORT_VALID(r.name))
        return KERN_INVALID_NAME;
    /* A dead name has no send right to add a reference to: KERN_INVALID_RIGHT. */
    kern_return_t kr = mach_port_mod_refs(mp__task(), r.name, MACH_PORT_RIGHT_SEND, 1);
    if (kr == KERN_SUCCESS)
        out->name = r.name;
    return kr;
}

static bool name_is_dead(mach_port_name_t n)
{
    mach_port_type_t t = 0;
    if (n == MACH_PORT_DEAD)
        return true;
    if (!MACH_PORT_VALID(n))
        return false;
    if (mach_port_type(mp__task(), n, &t) != KERN_SUCCESS)
        return false;
    return (t & MACH_PORT_TYPE_DEAD_NAME) != 0;
}

bool mp_send_right_is_dead(mp_send_right r)
{
    return name_is_dead(r.name);
}
bool mp_send_once_right_is_dead(mp_send_once_right r)
{
    return name_is_dead(r.name);
}

/* ---- any send right ------------------------------------------------------------------------ */

mp_any_send_right mp_any_send_right_from_send(mp_send_right *r)
{
    mach_port_name_t n = mp_send_right_into_name(r);
    if (n == MACH_PORT_NULL)
        return MP_ANY_SEND_RIGHT_NULL;
    return (mp_any_send_right){MP_ANY_SEND_SEND, n};
}

mp_any_send_right mp_any_send_right_from_send_once(mp_send_once_right *r)
{
    mach_port_name_t n = mp_send_once_right_into_name(r);
    if (n == MACH_PORT_NULL)
        return MP_ANY_SEND_RIGHT_NULL;
    return (mp_any_send_right){MP_ANY_SEND_ONCE, n};
}

bool mp_any_send_right_take_send(mp_any_send_right *any, mp_send_right *out)
{
    if (any->kind != MP_ANY_SEND_SEND)
        return false;
    out->name = any->name;
    *any = MP_ANY_SEND_RIGHT_NULL;
    return true;
}

bool mp_any_send_right_take_send_once(mp_any_send_right *any, mp_send_once_right *out)
{
    if (any->kind != MP_ANY_SEND_ONCE)
        return false;
    out->name = any->name;
    *any = MP_ANY_SEND_RIGHT_NULL;
    return true;
}

/* ---- attributes ------------------------------------------------------------------------------ */

kern_return_t mp_recv_right_status(mp_recv_right r, mp_port_status *out)
{
    mach_port_status_t st;
    mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;

    memset(out, 0, sizeof *out);
    memset(&st, 0, sizeof st);
    kern_return_t kr = mach_port_get_attributes(mp__task(), r.name, MACH_PORT_RECEIVE_STATUS,
                                                (mach_port_info_t)&st, &cnt);
    if (kr != KERN_SUCCESS)
        return kr;
    out->msgcount = st.mps_msgcount;
    out->qlimit = st.mps_qlimit;
    out->mscount = st.mps_mscount;
    out->seqno = st.mps_seqno;
    out->sorights = st.mps_sorights;
    out->srights = st.mps_srights != 0;
    out->pdrequest = st.mps_pdrequest != 0;
    out->nsrequest = st.mps_nsrequest != 0;
    out->in_set = st.mps_pset != 0;
    out->flags = st.mps_flags;
    return KERN_SUCCESS;
}

kern_return_t mp_recv_right_qlimit(mp_recv_right r, mach_port_msgcount_t *out)
{
    mach_port_limits_t lim;
    mach_msg_type_number_t cnt = MACH_PORT_LIMITS_INFO_COUNT;

    *out = 0;
    memset(&lim, 0, sizeof lim);
    kern_return_t kr = mach_port_get_attributes(mp__task(), r.name, MACH_PORT_LIMITS_INFO,
                                                (mach_port_info_t)&lim, &cnt);
    if (kr == KERN_SUCCESS)
        *out = lim.mpl_qlimit;
    return kr;
}

kern_return_t mp_recv_right_set_qlimit(mp_recv_right r, mach_port_msgcount_t qlimit)
{
    mach_port_limits_t lim;
    if (qlimit > MACH_PORT_QLIMIT_MAX)
        return KERN_INVALID_VALUE;
    memset(&lim, 0, sizeof lim);
    lim.mpl_qlimit = qlimit;
    return mach_port_set_attributes(mp__task(), r.name, MACH_PORT_LIMITS_INFO,
                                    (mach_port_info_t)&lim, MACH_PORT_LIMITS_INFO_COUNT);
}

kern_return_t mp_recv_right_set_mscount(mp_recv_right r, mach_port_mscount_t mscount)
{
    return mach_port_set_mscount(mp__task(), r.name, mscount);
}

kern_return_t mp_recv_right_context(mp_recv_right r, mach_port_context_t *out)
{
    *out = 0;
    return mach_port_get_context(mp__task(), r.name, out);
}

kern_return_t mp_recv_right_set_context(mp_recv_right *r, mach_port_context_t context)
{
    if (r->guarded == 2) /* the kernel would raise a fatal guard exception */
        return KERN_INVALID_ARGUMENT;
    kern_return_t kr = mach_port_set_context(mp__task(), r->name, context);
    if (kr == KERN_SUCCESS && r->guarded)
        r->guard = context;
    return kr;
}

kern_return_t mp_recv_right_guard(mp_recv_right *r, mach_port_context_t guard, bool strict)
{
    mach_port_context_t ctx = 0;
    if (r->guarded)
        return KERN_INVALID_ARGUMENT;
    kern_return_t kr = mach_port_get_context(mp__task(), r->name, &ctx);
    if (kr != KERN_SUCCESS)
        return kr;
    if (ctx != 0)
        return KERN_INVALID_ARGUMENT;
    kr = mach_port_guard(mp__task(), r->name, guard, strict);
    if (kr == KERN_SUCCESS) {
        r->guarded = strict ? 2 : 1;
        r->guard = guard;
    }
    return kr;
}

kern_return_t mp_recv_right_unguard(mp_recv_right *r)
{
    if (!r->guarded)
        return KERN_INVALID_ARGUMENT;
    kern_return_t kr = mach_port_unguard(mp__task(), r->name, r->guard);
    if (kr == KERN_SUCCESS) {
        r->guarded = 0;
        r->guard = 0;
    }
    return kr;
}

/* ---- notifications ------------------------------------------------------------------------ */

static kern_return_t request(mach_port_name_t name, mach_msg_id_t id, mach_port_mscount_t sync,
                             mp_recv_right notify, mp_send_once_right *previous)
{
    mach_port_name_t prev = MACH_PORT_NULL;
    if (previous)
        *previous = MP_SEND_ONCE_RIGHT_NULL;
    kern_return_t kr = mach_port_request_notification(
        mp__task(), name, id, sync, notify.name,
        notify.name == MACH_PORT_NULL ? MACH_MSG_TYPE_MOVE_SEND_ONCE : MACH_MSG_TYPE_MAKE_SEND_ONCE,
        &prev);
    if (kr != KERN_SUCCESS)
        return kr;
    mp_send_once_right p = mp_send_once_right_from_name(prev);
    if (previous)
        *previous = p;
    else
        (void)mp_send_once_right_drop(&p);
    return KERN_SUCCESS;
}

kern_return_t mp_recv_right_request_no_senders_sync(mp_recv_right port, mach_port_mscount_t sync,
                                                    mp_recv_right notify,
                                                    mp_send_once_right *previous)
{
    return request(port.name, MACH_NOTIFY_NO_SENDERS, sync, notify, previous);
}

kern_return_t mp_recv_right_request_no_senders(mp_recv_right port, mp_recv_right notify,
                                               mp_send_once_right *previous)
{
    mp_port_status st;
    kern_return_t kr = mp_recv_right_status(port, &st);
    if (kr != KERN_SUCCESS) {
        if (previous)
            *previous = MP_SEND_ONCE_RIGHT_NULL;
        return kr;
    }
    /* Send rights that die between the status and the request still fire: with sync equal
     * to the make-send count the kernel fires at once when none is left. */
    mach_port_mscount_t sync = st.srights ? st.mscount : st.mscount + 1;
    return request(port.name, MACH_NOTIFY_NO_SENDERS, sync, notify, previous);
}

kern_return_t mp_recv_right_request_port_destroyed(mp_recv_right port, mp_recv_right notify,
                                                   mp_send_once_right *previous)
{
    return request(port.name, MACH_NOTIFY_PORT_DESTROYED, 0, notify, previous);
}

kern_return_t mp_send_right_request_dead_name(mp_send_right r, mp_recv_right notify,
                                              mp_send_once_right *previous)
{
    return request(r.name, MACH_NOTIFY_DEAD_NAME, 0, notify, previous);
}

kern_return_t mp_send_right_request_send_possible(mp_send_right r, mach_port_mscount_t sync,
                                                  mp_recv_right notify,
                                                  mp_send_once_right *previous)
{
    return request(r.name, MACH_NOTIFY_SEND_POSSIBLE, sync, notify, previous);
}

/* ---- port sets --------------------------------------------------------------------------------
 */

kern_return_t mp_port_set_alloc(mp_port_set *out)
{
    mach_port_name_t n = MACH_PORT_NULL;
    *out = MP_PORT_SET_NULL;
    kern_return_t kr = mach_port_allocate(mp__task(), MACH_PORT_RIGHT_PORT_SET, &n);
    if (kr == KERN_SUCCESS)
        out->name = n;
    return kr;
}

kern_return_t mp_port_set_insert(mp_port_set set, mp_recv_right member)
{
    return mach_port_insert_member(mp__task(), member.name, set.name);
}

kern_return_t mp_port_set_remove(mp_port_set set, mp_recv_right member)
{
    return mach_port_extract_member(mp__task(), member.name, set.name);
}

kern_return_t mp_port_set_move(mp_recv_right member, mp_port_set set)
{
    return mach_port_move_member(mp__task(), member.name, set.name);
}

kern_return_t mp_port_set_members(mp_port_set set, mach_port_name_t *names, size_t cap,
                                  size_t *count)
{
    mach_port_name_array_t arr = NULL;
    mach_msg_type_number_t n = 0;

    *count = 0;
    kern_return_t kr = mach_port_get_set_status(mp__task(), set.name, &arr, &n);
    if (kr != KERN_SUCCESS)
        return kr;
    for (mach_msg_type_number_t i = 0; i < n && i < cap && names; i++)
        names[i] = arr[i];
    *count = n;
    if (arr && n)
        mp__vm_release((uint64_t)(uintptr_t)arr, (uint64_t)n * sizeof(*arr));
    return KERN_SUCCESS;
}
