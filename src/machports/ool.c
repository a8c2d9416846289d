/*
 * ool.c — OOL memory in VM pages, and OOL port arrays.
 */
#include "mp_internal.h"

static size_t page_size(void)
{
    return (size_t)vm_page_size;
}

static size_t round_page_up(size_t v)
{
    size_t ps = page_size();
    return (v + ps - 1) & ~(ps - 1);
}

/* ---- mp_ool_buf ---------------------------------------------------------------------- */

void mp_ool_buf_into_raw_parts(mp_ool_buf *b, void **data, size_t *size)
{
    *data = b->data;
    *size = b->size;
    *b = MP_OOL_BUF_NULL;
}

void mp_ool_buf_drop(mp_ool_buf *b)
{
    mp_ool_buf v = *b;
    *b = MP_OOL_BUF_NULL;
    mp__vm_release((uint64_t)(uintptr_t)v.data, v.size);
}

/* ---- mp_ool_vec ---------------------------------------------------------------------- */

kern_return_t mp_ool_vec_with_capacity(size_t cap, mp_ool_vec *out)
{
    vm_address_t addr = 0;

    *out = MP_OOL_VEC_NULL;
    if (cap == 0)
        return KERN_SUCCESS;
    if (cap > SIZE_MAX - page_size())
        return KERN_INVALID_ARGUMENT;
    kern_return_t kr = vm_allocate(mp__task(), &addr, (vm_size_t)cap, VM_FLAGS_ANYWHERE);
    if (kr != KERN_SUCCESS)
        return kr;
    out->data = (uint8_t *)addr;
    out->cap = cap;
    return KERN_SUCCESS;
}

kern_return_t mp_ool_vec_from_bytes(const void *src, size_t n, size_t cap, mp_ool_vec *out)
{
    *out = MP_OOL_VEC_NULL;
    if (cap == 0)
        cap = n;
    if (cap < n)
        return MP_NOT_ENOUGH_CAPACITY;
    kern_return_t kr = mp_ool_vec_with_capacity(cap, out);
    if (kr != KERN_SUCCESS)
        return kr;
    if (n)
        memcpy(out->data, src, n);
    out->len = n;
    return KERN_SUCCESS;
}

kern_return_t mp_ool_vec_from_raw_parts(void *data, size_t len, size_t cap, mp_ool_vec *out)
{
    *out = MP_OOL_VEC_NULL;
    if (len > cap || (cap && !data))
        return KERN_INVALID_ARGUMENT;
    if (cap == 0)
        return KERN_SUCCESS;
    *out = (mp_ool_vec){data, len, cap};
    return KERN_SUCCESS;
}

static kern_return_t short_of(mp_capacity_error *err, size_t needed, size_t capacity)
{
    if (err) {
        err->needed = needed;
        err->capacity = capacity;
    }
    return MP_NOT_ENOUGH_CAPACITY;
}

kern_return_t mp_ool_vec_extend(mp_ool_vec *v, const void *src, size_t n, mp_capacity_error *err)
{
    size_t left = v->cap - v->len;
    if (n > left)
        return short_of(err, n > SIZE_MAX - v->len ? SIZE_MAX : v->len + n, v->cap);
    if (n) {
        memcpy(v->data + v->len, src, n);
        v->len += n;
    }
    return KERN_SUCCESS;
}

kern_return_t mp_ool_vec_push(mp_ool_vec *v, uint8_t byte)
{
    return mp_ool_vec_extend(v, &byte, 1, NULL);
}

kern_return_t mp_ool_vec_resize(mp_ool_vec *v, size_t new_len, uint8_t fill,
                                mp_capacity_error *err)
{
    if (new_len > v->cap)
        return short_of(err, new_len, v->cap);
    if (new_len > v->len)
        memset(v->data + v->len, fill, new_len - v->len);
    v->len = new_len;
    return KERN_SUCCESS;
}

bool mp_ool_vec_pop(mp_ool_vec *v, uint8_t *out)
{
    if (v->len == 0)
        return false;
    *out = v->data[--v->len];
    return true;
}

void mp_ool_vec_truncate(mp_ool_vec *v, size_t new_len)
{
    if (new_len < v->len)
        v->len = new_len;
}

void mp_ool_vec_shrink_to_fit(mp_ool_vec *v)
{
    if (!v->data) {
        v->cap = v->len = 0;
        return;
    }
    /* The region may start inside a page (from_raw_parts): pages are counted from the
     * page holding its first byte. */
    uintptr_t start = (uintptr_t)v->data;
    size_t in_page = start & (page_size() - 1);
    size_t mapped = round_page_up(in_page + v->cap) - in_page;
    size_t keep = v->len ? round_page_up(in_page + v->len) - in_page : 0;

    if (keep < mapped) {
        if (keep == 0) {
            /* Nothing left: the whole region goes, including a partial first page only
             * when the region owns it from its start. */
            mp__vm_release((uint64_t)start, v->cap);
            *v = MP_OOL_VEC_NULL;
            return;
        }
        mp__vm_release((uint64_t)(start + keep), mapped - keep);
    }
    v->cap = v->len;
}

mp_ool_buf mp_ool_vec_into_buf(mp_ool_vec *v)
{
    mp_ool_vec_shrink_to_fit(v);
    mp_ool_buf b = mp_ool_buf_from_raw_parts(v->data, v->len);
    *v = MP_OOL_VEC_NULL;
    return b;
}

mp_ool_vec mp_ool_buf_into_vec(mp_ool_buf *b)
{
    mp_ool_vec v = {b->data, b->size, b->size};
    *b = MP_OOL_BUF_NULL;
    if (!v.data)
        v = MP_OOL_VEC_NULL;
    return v;
}

void mp_ool_vec_drop(mp_ool_vec *v)
{
    mp_ool_vec x = *v;
    *v = MP_OOL_VEC_NULL;
    mp__vm_release((uint64_t)(uintptr_t)x.data, x.cap);
}

/* ---- mp_ool_ports ---------------------------------------------------------------------- */

static kern_return_t take(mp_ool_ports *p, size_t i, mach_msg_type_name_t want,
                          mach_port_name_t *out)
{
    *out = MACH_PORT_NULL;
    if (i >= p->count || !p->names)
        return KERN_INVALID_ARGUMENT;
    if (p->disposition != want)
        return KERN_INVALID_RIGHT;
    if (p->names[i] == MACH_PORT_NULL)
        return KERN_INVALID_NAME;
    *out = p->names[i];
    p->names[i] = MACH_PORT_NULL;
    return KERN_SUCCESS;
}

kern_return_t mp_ool_ports_take_send(mp_ool_ports *p, size_t i, mp_send_right *out)
{
    return take(p, i, MACH_MSG_TYPE_PORT_SEND, &out->name);
}

kern_return_t mp_ool_ports_take_send_once(mp_ool_ports *p, size_t i, mp_send_once_right *out)
{
    return take(p, i, MACH_MSG_TYPE_PORT_SEND_ONCE, &out->name);
}

kern_return_t mp_ool_ports_take_recv(mp_ool_ports *p, size_t i, mp_recv_right *out)
{
    *out = MP_RECV_RIGHT_NULL;
    return take(p, i, MACH_MSG_TYPE_PORT_RECEIVE, &out->name);
}

void mp_ool_ports_drop(mp_ool_ports *p)
{
    mp_ool_ports v = *p;
    *p = MP_OOL_PORTS_NULL;
    if (!v.names)
        return;
    for (size_t i = 0; i < v.count; i++)
        mp__release_name(v.names[i], v.disposition);
    mp__vm_release((uint64_t)(uintptr_t)v.names, (uint64_t)v.count * sizeof(mach_port_name_t));
}
