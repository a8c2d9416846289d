/*
 * test_ool.c — OOL vectors and buffers in VM pages.
 */
#include "mpt.h"

MPT_TEST(macro_builds_a_vector_from_a_list)
{
    mp_ool_vec v;
    MT_KR(MP_OOL_VEC(&v, 1, 2, 3), KERN_SUCCESS);
    MT_EQ(v.len, 3);
    MT_EQ(v.cap, 3);
    MT_CHECK(v.data[0] == 1 && v.data[1] == 2 && v.data[2] == 3);
    mp_ool_vec_drop(&v);
    mp_ool_vec_drop(&v);
}

MPT_TEST(macro_with_a_capacity_leaves_room_to_extend)
{
    mp_ool_vec v;
    MT_KR(MP_OOL_VEC_CAP(&v, 1024, 1, 2, 3), KERN_SUCCESS);
    MT_EQ(v.cap, 1024);
    MT_KR(mp_ool_vec_extend(&v, (const uint8_t[]){4, 5, 6}, 3, NULL), KERN_SUCCESS);
    MT_EQ(v.len, 6);
    MT_EQ(v.data[5], 6);
    mp_ool_vec_drop(&v);
}

MPT_TEST(macro_with_a_capacity_smaller_than_the_list_fails)
{
    mp_ool_vec v;
    MT_KR(MP_OOL_VEC_CAP(&v, 2, 1, 2, 3), MP_NOT_ENOUGH_CAPACITY);
    MT_CHECK(v.data == NULL);
}

/* Issue 12 item 15: the error carries the length needed and the capacity. */
MPT_TEST(extend_beyond_capacity_is_not_enough_capacity_says_how_much_and_writes_nothing)
{
    mp_ool_vec v;
    mp_capacity_error err = {0, 0};
    MT_KR(mp_ool_vec_with_capacity(4, &v), KERN_SUCCESS);
    MT_KR(mp_ool_vec_extend(&v, "abc", 3, &err), KERN_SUCCESS);
    MT_KR(mp_ool_vec_extend(&v, "de", 2, &err), MP_NOT_ENOUGH_CAPACITY);
    MT_EQ(err.needed, 5);
    MT_EQ(err.capacity, 4);
    MT_EQ(v.len, 3);
    MT_KR(mp_ool_vec_push(&v, 'd'), KERN_SUCCESS);
    MT_KR(mp_ool_vec_push(&v, 'e'), MP_NOT_ENOUGH_CAPACITY);
    MT_EQ(memcmp(v.data, "abcd", 4), 0);
    mp_ool_vec_drop(&v);
}

MPT_TEST(resize_fills_and_pop_takes_from_the_end)
{
    mp_ool_vec v;
    uint8_t b = 0;
    MT_KR(mp_ool_vec_with_capacity(1024, &v), KERN_SUCCESS);
    MT_KR(mp_ool_vec_resize(&v, 6, 0xAA, NULL), KERN_SUCCESS);
    MT_KR(mp_ool_vec_resize(&v, 4, 0, NULL), KERN_SUCCESS);
    MT_KR(mp_ool_vec_resize(&v, 5, 0xBB, NULL), KERN_SUCCESS);
    mp_capacity_error err = {0, 0};
    MT_KR(mp_ool_vec_resize(&v, 1025, 0, &err), MP_NOT_ENOUGH_CAPACITY);
    MT_EQ(err.needed, 1025);
    MT_EQ(err.capacity, 1024);
    MT_EQ(memcmp(v.data, "\xAA\xAA\xAA\xAA\xBB", 5), 0);
    MT_CHECK(mp_ool_vec_pop(&v, &b));
    MT_EQ(b, 0xBB);
    mp_ool_vec_truncate(&v, 0);
    MT_CHECK(!mp_ool_vec_pop(&v, &b));
    mp_ool_vec_drop(&v);
}

MPT_TEST(zero_capacity_vector_owns_no_pages)
{
    mp_ool_vec v;
    MT_KR(mp_ool_vec_with_capacity(0, &v), KERN_SUCCESS);
    MT_CHECK(v.data == NULL);
    MT_KR(mp_ool_vec_push(&v, 1), MP_NOT_ENOUGH_CAPACITY);
    mp_ool_buf b = mp_ool_vec_into_buf(&v);
    MT_CHECK(b.data == NULL && b.size == 0);
    mp_ool_buf_drop(&b);
}

MPT_TEST(shrink_to_fit_returns_whole_pages_and_keeps_the_data)
{
    size_t ps = (size_t)vm_page_size;
    mp_ool_vec v;
    MT_KR(mp_ool_vec_with_capacity(4 * ps, &v), KERN_SUCCESS);
    MT_KR(mp_ool_vec_resize(&v, ps + 10, 0x33, NULL), KERN_SUCCESS);
    uint8_t *data = v.data;
    mp_ool_vec_shrink_to_fit(&v);
    MT_EQ(v.cap, ps + 10);
    MT_CHECK(v.data == data);
    MT_EQ(v.data[ps + 9], 0x33);
    /* The pages past the second one are gone: allocating exactly there must succeed. */
    vm_address_t at = (vm_address_t)(data + 2 * ps);
    MT_KR(vm_allocate(mach_task_self(), &at, 2 * ps, VM_FLAGS_FIXED), KERN_SUCCESS);
    vm_deallocate(mach_task_self(), at, 2 * ps);
    mp_ool_vec_truncate(&v, 0);
    mp_ool_vec_shrink_to_fit(&v);
    MT_CHECK(v.data == NULL && v.cap == 0);
}

MPT_TEST(into_buf_and_back_keeps_the_bytes)
{
    mp_ool_vec v;
    MT_KR(mp_ool_vec_from_bytes("hello", 5, 100, &v), KERN_SUCCESS);
    mp_ool_buf b = mp_ool_vec_into_buf(&v);
    MT_CHECK(v.data == NULL);
    MT_EQ(b.size, 5);
    MT_EQ(memcmp(b.data, "hello", 5), 0);
    mp_ool_vec w = mp_ool_buf_into_vec(&b);
    MT_CHECK(b.data == NULL);
    MT_EQ(w.len, 5);
    MT_EQ(w.cap, 5);
    void *data;
    size_t size;
    b = mp_ool_vec_into_buf(&w);
    mp_ool_buf_into_raw_parts(&b, &data, &size);
    MT_EQ(size, 5);
    mp_ool_buf c = mp_ool_buf_from_raw_parts(data, size);
    mp_ool_buf_drop(&c);
    mp_ool_buf_drop(&c);
}

MPT_TEST(from_raw_parts_checks_length_against_capacity)
{
    vm_address_t a = 0;
    mp_ool_vec v;
    MT_KR(vm_allocate(mach_task_self(), &a, 100, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mp_ool_vec_from_raw_parts((void *)a, 101, 100, &v), KERN_INVALID_ARGUMENT);
    MT_CHECK(v.data == NULL);
    MT_KR(mp_ool_vec_from_raw_parts((void *)a, 10, 100, &v), KERN_SUCCESS);
    MT_EQ(v.len, 10);
    mp_ool_vec_drop(&v);
    MT_KR(mp_ool_vec_from_raw_parts(NULL, 0, 0, &v), KERN_SUCCESS);
    MT_KR(mp_ool_vec_from_raw_parts(NULL, 0, 5, &v), KERN_INVALID_ARGUMENT);
}

MPT_TEST(from_bytes_with_capacity_zero_takes_the_length)
{
    mp_ool_vec v;
    MT_KR(mp_ool_vec_from_bytes("xyz", 3, 0, &v), KERN_SUCCESS);
    MT_EQ(v.cap, 3);
    mp_ool_vec_drop(&v);
    MT_KR(mp_ool_vec_from_bytes("xyz", 3, 2, &v), MP_NOT_ENOUGH_CAPACITY);
}

MPT_TEST(ool_ports_drop_of_an_empty_value_is_harmless)
{
    mp_ool_ports p = MP_OOL_PORTS_NULL;
    mp_send_right s;
    MT_KR(mp_ool_ports_take_send(&p, 0, &s), KERN_INVALID_ARGUMENT);
    mp_ool_ports_drop(&p);
}

MT_MAIN()
