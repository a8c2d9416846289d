/*
 * test_builder.c — building messages, and discarding builders without sending.
 */
#include "mpt.h"

static uint32_t ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t ld64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

MPT_TEST(empty_builder_is_a_bare_header)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    size_t n = 0;
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_CHECK(mp_msg_buffer_capacity(&buf) >= MP_MSG_BUFFER_MIN);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    mp_msg_builder_set_id(&b, 1234);
    const mach_msg_header_t *h = mp_msg_builder_bytes(&b, &n);
    MT_EQ(n, sizeof(mach_msg_header_t));
    MT_EQ(h->msgh_id, 1234);
    MT_EQ(h->msgh_bits, 0);
    MT_EQ(mp_msg_builder_inline_size(&b), 0);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
    mp_msg_buffer_drop(&buf);
}

MPT_TEST(descriptors_go_before_inline_data_and_set_the_complex_bit)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_recv_right r;
    size_t n = 0;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&buf, 64), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_inline(&b, "0123456", 7), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_made_send_once(&b, r), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool(&b, "abc", 3, MP_COPY_PHYSICAL), KERN_SUCCESS);
    MT_KR(mp_msg_builder_insert_inline(&b, 4, "1337", 4), KERN_SUCCESS);
    MT_KR(mp_msg_builder_insert_inline(&b, 11, "x", 1), KERN_SUCCESS);
    MT_KR(mp_msg_builder_insert_inline(&b, 13, "x", 1), KERN_INVALID_ARGUMENT);
    MT_EQ(mp_msg_builder_error(&b), KERN_INVALID_ARGUMENT);
    const uint8_t *m = mp_msg_builder_bytes(&b, &n);
    const mach_msg_header_t *h = (const void *)m;
    MT_CHECK(h->msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(n, 24 + 4 + 12 + 16 + 12);
    MT_EQ(ld32(m + 24), 2);
    MT_EQ(ld32(m + 28), r.name);
    MT_EQ(m[28 + 10], MACH_MSG_TYPE_MAKE_SEND_ONCE);
    MT_EQ(m[28 + 11], MACH_MSG_PORT_DESCRIPTOR);
    MT_EQ(m[40 + 11], MACH_MSG_OOL_DESCRIPTOR);
    MT_EQ(ld32(m + 40 + 12), 3);
    MT_EQ(memcmp(m + 56, "01231337456x", 12), 0);
    MT_EQ(mp_msg_builder_inline_size(&b), 12);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
    (void)mp_recv_right_drop(&r);
}

/* The crate's builder test_drop: a builder dropped without sending releases its rights. */
MPT_TEST(builder_discarded_without_sending_releases_moved_rights)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_recv_right r, moved;
    mp_send_right s;
    mp_send_once_right so;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&moved), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(r, &so), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&buf, 32), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_made_send_once(&b, r), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_recv(&b, &moved), KERN_SUCCESS);
    MT_CHECK(mp_recv_right_is_null(moved));
    MT_KR(mp_msg_builder_append_moved_send(&b, &s), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_send_once(&b, &so), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_inline(&b, "0123456", 7), KERN_SUCCESS);
    MT_KR(mp_msg_builder_insert_inline(&b, 4, "1337", 4), KERN_SUCCESS);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
    MT_EQ(mpt_type(r.name), MACH_PORT_TYPE_RECEIVE);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(replacing_the_reply_port_releases_the_previous_moved_one)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_recv_right r;
    mp_send_right s;
    mp_send_once_right so;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    MT_KR(mp_send_once_right_make(r, &so), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    mach_port_name_t son = so.name;
    MT_KR(mp_msg_builder_set_moved_reply_once(&b, &so), KERN_SUCCESS);
    const mach_msg_header_t *h = mp_msg_builder_bytes(&b, NULL);
    MT_EQ(MACH_MSGH_BITS_LOCAL(h->msgh_bits), MACH_MSG_TYPE_MOVE_SEND_ONCE);
    MT_EQ(h->msgh_local_port, son);
    MT_KR(mp_msg_builder_set_moved_reply(&b, &s), KERN_SUCCESS);
    MT_EQ(mpt_type(son), 0); /* the send-once right was released */
    MT_EQ(MACH_MSGH_BITS_LOCAL(h->msgh_bits), MACH_MSG_TYPE_MOVE_SEND);
    MT_KR(mp_msg_builder_set_made_reply(&b, r), KERN_SUCCESS);
    MT_EQ(mpt_type(r.name), MACH_PORT_TYPE_RECEIVE); /* the moved send right was released */
    MT_EQ(MACH_MSGH_BITS_LOCAL(h->msgh_bits), MACH_MSG_TYPE_MAKE_SEND);
    MT_EQ(MACH_MSGH_BITS_REMOTE(h->msgh_bits), 0);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(moved_voucher_sits_in_the_voucher_bits_and_is_released_on_discard)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_recv_right r;
    mp_send_right s, v;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &v), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_copied_reply(&b, s), KERN_SUCCESS);
    MT_KR(mp_msg_builder_set_moved_voucher(&b, &v), KERN_SUCCESS);
    const mach_msg_header_t *h = mp_msg_builder_bytes(&b, NULL);
    MT_EQ(MACH_MSGH_BITS_VOUCHER(h->msgh_bits), MACH_MSG_TYPE_MOVE_SEND);
    MT_EQ(MACH_MSGH_BITS_LOCAL(h->msgh_bits), MACH_MSG_TYPE_COPY_SEND);
    MT_EQ(mpt_refs(r.name, MACH_PORT_RIGHT_SEND), 2);
    mp_msg_builder_drop(&b);
    MT_EQ(mpt_refs(r.name, MACH_PORT_RIGHT_SEND), 1);
    MT_KR(mp_msg_builder_set_copied_voucher(&b, s), KERN_SUCCESS);
    mp_msg_builder_drop(&b);
    MT_EQ(mpt_refs(r.name, MACH_PORT_RIGHT_SEND), 1);
    mp_msg_buffer_drop(&buf);
    (void)mp_send_right_drop(&s);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(ool_buffer_appended_then_discarded_is_unmapped_once)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_ool_vec v;
    MT_KR(MP_OOL_VEC(&v, 1, 2, 3), KERN_SUCCESS);
    mp_ool_buf ob = mp_ool_vec_into_buf(&v);
    MT_EQ(ob.size, 3);
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_buf(&b, &ob, MP_COPY_VIRTUAL), KERN_SUCCESS);
    MT_CHECK(ob.data == NULL && ob.size == 0);
    const uint8_t *m = mp_msg_builder_bytes(&b, NULL);
    MT_EQ(m[28 + 8], 1); /* deallocate */
    MT_EQ(m[28 + 9], MACH_MSG_VIRTUAL_COPY);
    MT_NE(ld64(m + 28), 0);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
}

MPT_TEST(ool_ports_arrays_are_released_on_discard)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_recv_right r, recvs[2];
    mp_send_right s[3];
    mp_send_once_right so[2];
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    for (int i = 0; i < 3; i++)
        MT_KR(mp_send_right_make(r, &s[i]), KERN_SUCCESS);
    for (int i = 0; i < 2; i++) {
        MT_KR(mp_send_once_right_make(r, &so[i]), KERN_SUCCESS);
        MT_KR(mp_recv_right_alloc(&recvs[i]), KERN_SUCCESS);
    }
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_copied_sends(&b, s, 3), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_made_sends(&b, &r, 1), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_moved_sends(&b, s, 2), KERN_SUCCESS);
    MT_CHECK(mp_send_right_is_null(s[0]) && mp_send_right_is_null(s[1]));
    mach_port_name_t so0 = so[0].name;
    MT_KR(mp_msg_builder_append_ool_moved_send_onces(&b, so, 2), KERN_SUCCESS);
    MT_CHECK(mp_send_once_right_is_null(so[0]) && mp_send_once_right_is_null(so[1]));
    MT_KR(mp_msg_builder_append_ool_moved_recvs(&b, recvs, 2), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_moved_sends(&b, NULL, 0), KERN_SUCCESS);
    MT_EQ(mpt_refs(r.name, MACH_PORT_RIGHT_SEND), 3);
    mp_msg_builder_drop(&b);
    MT_EQ(mpt_refs(r.name, MACH_PORT_RIGHT_SEND), 1);
    /* The send-once rights are gone from the space; each went out as a send-once
     * notification to r (counted in sorights until received). */
    MT_EQ(mpt_type(so0), 0);
    MT_EQ(mpt_queued(r), 2);
    mp_msg_buffer_drop(&buf);
    (void)mp_send_right_drop(&s[2]);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(a_borrowed_ool_ports_array_that_is_null_with_a_count_is_invalid_argument_not_read)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_copied_sends(&b, NULL, 2), KERN_INVALID_ARGUMENT);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_made_sends(&b, NULL, 40), KERN_INVALID_ARGUMENT);
    MT_EQ(mp_msg_builder_error(&b), KERN_INVALID_ARGUMENT);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
}

MPT_TEST(many_ool_ports_use_the_heap_path)
{
    enum { N = 40 };
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_recv_right r;
    mp_send_right s[N];
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    for (int i = 0; i < N; i++)
        MT_KR(mp_send_right_make(r, &s[i]), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_copied_sends(&b, s, N), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool_moved_sends(&b, s, N), KERN_SUCCESS);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(guarded_receive_right_discarded_is_destroyed_with_its_guard)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_construct_options o = {.flags = MP_CONSTRUCT_GUARD, .context = 0x5150};
    mp_recv_right g, u;
    MT_KR(mp_recv_right_construct(&o, &g, NULL), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&u), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_guarded_recv(&b, &g, false), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_guarded_recv(&b, &u, true), KERN_SUCCESS);
    const uint8_t *m = mp_msg_builder_bytes(&b, NULL);
    MT_EQ(m[28 + 11], MACH_MSG_GUARDED_PORT_DESCRIPTOR);
    MT_EQ(ld64(m + 28), 0x5150);
    MT_EQ(m[28 + 8], MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE);
    MT_EQ(ld64(m + 44), 0);
    MT_EQ(m[44 + 8],
          MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND | MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
}

MPT_TEST(guarded_right_moved_in_a_plain_descriptor_is_unguarded_first)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_construct_options o = {.flags = MP_CONSTRUCT_GUARD, .context = 0x42};
    mp_recv_right g;
    MT_KR(mp_recv_right_construct(&o, &g, NULL), KERN_SUCCESS);
    mach_port_name_t n = g.name;
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_recv(&b, &g), KERN_SUCCESS);
    mp_port_status st;
    MT_KR(mp_recv_right_status(mp_recv_right_from_name(n), &st), KERN_SUCCESS);
    MT_CHECK(!(st.flags & MACH_PORT_STATUS_FLAG_GUARDED));
    mp_msg_builder_drop(&b);
    MT_EQ(mpt_type(n), 0);
    mp_msg_buffer_drop(&buf);
}

/* Issue 12 item 8: a refused receive right stays the caller's (a service port lives on). */
MPT_TEST(immovable_receive_right_is_refused_and_stays_with_the_caller)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_construct_options o = {.flags = MP_CONSTRUCT_GUARD | MP_CONSTRUCT_IMMOVABLE, .context = 0x43};
    mp_recv_right g;
    MT_KR(mp_recv_right_construct(&o, &g, NULL), KERN_SUCCESS);
    mach_port_name_t n = g.name;
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_moved_recv(&b, &g), KERN_INVALID_RIGHT);
    MT_EQ(g.name, n);
    MT_EQ(mpt_type(n), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(mp_msg_builder_error(&b), KERN_INVALID_RIGHT);
    mp_msg_builder_drop(&b);
    MT_EQ(mp_msg_builder_error(&b), KERN_SUCCESS);
    /* The same in a guarded-port descriptor and in an OOL-ports array. */
    MT_KR(mp_msg_builder_append_guarded_recv(&b, &g, false), KERN_INVALID_RIGHT);
    MT_EQ(g.name, n);
    mp_msg_builder_drop(&b);
    mp_recv_right plain, arr[2];
    MT_KR(mp_recv_right_alloc(&plain), KERN_SUCCESS);
    arr[0] = plain;
    arr[1] = g;
    MT_KR(mp_msg_builder_append_ool_moved_recvs(&b, arr, 2), KERN_INVALID_RIGHT);
    MT_EQ(arr[0].name, plain.name);
    MT_EQ(arr[1].name, n);
    MT_EQ(mpt_type(plain.name), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(mpt_type(n), MACH_PORT_TYPE_RECEIVE);
    mp_msg_builder_drop(&b);
    (void)mp_recv_right_drop(&plain);
    MT_KR(mp_recv_right_drop(&g), KERN_SUCCESS);
    MT_EQ(mpt_type(n), 0);
    mp_msg_buffer_drop(&buf);
}

MPT_TEST(after_an_error_appends_release_the_send_rights_they_are_given_but_keep_receive_rights)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    mp_recv_right r, moved;
    mp_send_right s;
    mp_ool_vec v;
    MT_KR(mp_recv_right_alloc(&r), KERN_SUCCESS);
    MT_KR(mp_recv_right_alloc(&moved), KERN_SUCCESS);
    MT_KR(mp_send_right_make(r, &s), KERN_SUCCESS);
    MT_KR(mp_ool_vec_with_capacity(100, &v), KERN_SUCCESS);
    mp_ool_buf ob = mp_ool_vec_into_buf(&v);
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool(&b, "x", 1, (mp_copy_kind)7), KERN_INVALID_ARGUMENT);
    MT_KR(mp_msg_builder_append_moved_send(&b, &s), KERN_INVALID_ARGUMENT);
    MT_KR(mp_msg_builder_append_moved_recv(&b, &moved), KERN_INVALID_ARGUMENT);
    MT_KR(mp_msg_builder_append_ool_buf(&b, &ob, MP_COPY_VIRTUAL), KERN_INVALID_ARGUMENT);
    MT_KR(mp_msg_builder_append_inline(&b, "a", 1), KERN_INVALID_ARGUMENT);
    MT_CHECK(mp_send_right_is_null(s));
    MT_EQ(mpt_type(moved.name), MACH_PORT_TYPE_RECEIVE);
    MT_EQ(mpt_type(r.name), MACH_PORT_TYPE_RECEIVE);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
    (void)mp_recv_right_drop(&moved);
    (void)mp_recv_right_drop(&r);
}

MPT_TEST(buffer_grows_to_hold_large_inline_data)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    static uint8_t big[70000];
    memset(big, 0x5a, sizeof big);
    MT_KR(mp_msg_buffer_init(&buf, 16), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    for (int i = 0; i < 4; i++)
        MT_KR(mp_msg_builder_append_inline(&b, big, sizeof big), KERN_SUCCESS);
    MT_EQ(mp_msg_builder_inline_size(&b), 4 * sizeof big);
    MT_CHECK(mp_msg_buffer_capacity(&buf) >= 24 + 4 * sizeof big);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
}

MPT_TEST(buffer_reserve_beyond_four_gib_is_refused)
{
    mp_msg_buffer buf;
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_buffer_reserve(&buf, (size_t)UINT32_MAX + (sizeof(size_t) > 4 ? 10 : 0)),
          KERN_INVALID_VALUE);
    mp_msg_buffer_drop(&buf);
}

MPT_TEST(insert_at_offset_zero_goes_after_the_descriptors)
{
    mp_msg_buffer buf;
    mp_msg_builder b;
    size_t n;
    MT_KR(mp_msg_buffer_init(&buf, 0), KERN_SUCCESS);
    MT_KR(mp_msg_builder_init(&b, &buf), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_inline(&b, "tail", 4), KERN_SUCCESS);
    MT_KR(mp_msg_builder_append_ool(&b, NULL, 0, MP_COPY_VIRTUAL), KERN_SUCCESS);
    MT_KR(mp_msg_builder_insert_inline(&b, 0, "head", 4), KERN_SUCCESS);
    const uint8_t *m = mp_msg_builder_bytes(&b, &n);
    MT_EQ(n, 24 + 4 + 16 + 8);
    MT_EQ(memcmp(m + 44, "headtail", 8), 0);
    MT_EQ(ld32(m + 4), n); /* msgh_size follows */
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
}

MPT_TEST(discarding_an_empty_builder_twice_is_harmless)
{
    mp_msg_buffer buf = MP_MSG_BUFFER_NULL;
    mp_msg_builder b;
    (void)mp_msg_builder_init(&b, &buf);
    mp_msg_builder_drop(&b);
    mp_msg_builder_drop(&b);
    mp_msg_buffer_drop(&buf);
}

MT_MAIN()
