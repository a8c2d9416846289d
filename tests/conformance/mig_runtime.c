/*
 * mig_runtime.c — the routines MIG-generated stubs call, with Darwin's results:
 * mig_strncpy cuts with a NUL and returns the bytes written; mig_strncpy_zerofill also
 * zero-fills the rest of the buffer; mig_reply_setup builds the error-reply header from the
 * request's local port; mig_allocate / mig_deallocate hand out and take back whole pages;
 * the per-thread MIG reply port is one receive right until mig_dealloc_reply_port.
 */
#include "notify_util.h"

#include <pthread.h>

MT_TEST(mig_strncpy_copies_a_short_string_with_its_nul)
{
    char buf[8];
    memset(buf, 'x', sizeof buf);
    MT_EQ(mig_strncpy(buf, "abc", sizeof buf), 4);
    MT_CHECK(strcmp(buf, "abc") == 0);
    MT_EQ(buf[4], 'x'); /* the tail is left alone */
}

MT_TEST(mig_strncpy_cuts_a_long_string_and_nul_terminates_it)
{
    char buf[8];
    memset(buf, 'x', sizeof buf);
    MT_EQ(mig_strncpy(buf, "abcdefghijkl", sizeof buf), 8);
    MT_CHECK(memcmp(buf, "abcdefg", 8) == 0);
    MT_EQ(buf[7], '\0');
}

MT_TEST(mig_strncpy_with_no_room_writes_nothing)
{
    char buf[2] = {'x', 'x'};
    MT_EQ(mig_strncpy(buf, "abc", 0), 0);
    MT_EQ(buf[0], 'x');
    MT_EQ(mig_strncpy(buf, "abc", 1), 1);
    MT_EQ(buf[0], '\0');
}

MT_TEST(mig_strncpy_zerofill_zeroes_the_unused_tail)
{
    char buf[8];
    memset(buf, 'x', sizeof buf);
    MT_EQ(mig_strncpy_zerofill(buf, "ab", sizeof buf), 3);
    MT_CHECK(memcmp(buf, "ab\0\0\0\0\0\0", 8) == 0);
    memset(buf, 'x', sizeof buf);
    MT_EQ(mig_strncpy_zerofill(buf, "abcdefghij", sizeof buf), 8);
    MT_CHECK(memcmp(buf, "abcdefg", 8) == 0);
    memset(buf, 'x', sizeof buf);
    MT_EQ(mig_strncpy_zerofill(buf, NULL, sizeof buf), 0);
    MT_CHECK(memcmp(buf, "\0\0\0\0\0\0\0\0", 8) == 0);
    MT_EQ(mig_strncpy_zerofill(buf, "ab", 0), 0);
}

MT_TEST(mig_reply_setup_answers_the_local_port_with_id_plus_100)
{
    mach_msg_header_t req;
    memset(&req, 0, sizeof req);
    req.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    req.msgh_remote_port = 0x1234;
    req.msgh_local_port = 0x5678;
    req.msgh_id = 3000;
    mig_reply_error_t reply;
    memset(&reply, 0xAA, sizeof reply);
    mig_reply_setup(&req, &reply.Head);
    MT_EQ(reply.Head.msgh_bits, MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0));
    MT_EQ(reply.Head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(reply.Head.msgh_remote_port, 0x5678);
    MT_EQ(reply.Head.msgh_local_port, MACH_PORT_NULL);
    MT_EQ(reply.Head.msgh_id, 3100);
    MT_CHECK(nu_ndr_ok(&reply.NDR));
}

MT_TEST(mig_allocate_gives_writable_pages_that_mig_deallocate_takes_back)
{
    vm_address_t a = 0;
    mig_allocate(&a, 3 * vm_page_size);
    MT_REQUIRE(a != 0);
    MT_EQ(a % vm_page_size, 0);
    memset((void *)a, 0x5A, 3 * vm_page_size);
    MT_EQ(((unsigned char *)a)[3 * vm_page_size - 1], 0x5A);
    mig_deallocate(a, 3 * vm_page_size);
}

MT_TEST(mig_allocate_that_fails_reports_address_zero)
{
    vm_address_t a = 1234;
    mig_allocate(&a, (vm_size_t)-1 & ~(vm_page_size - 1));
    MT_EQ(a, 0);
}

MT_TEST(mig_reply_port_is_one_receive_right_per_thread_until_deallocated)
{
    NU_BEGIN();
    mach_port_t p = mig_get_reply_port();
    MT_CHECK(MACH_PORT_VALID(p));
    MT_EQ(mig_get_reply_port(), p);
    MT_CHECK(nu_type(p) & MACH_PORT_TYPE_RECEIVE);
    mig_put_reply_port(p);
    MT_EQ(mig_get_reply_port(), p);
    mig_dealloc_reply_port(p);
    mach_port_type_t type;
    MT_KR(mach_port_type(TASK, p, &type), KERN_INVALID_NAME);
    mach_port_t q = mig_get_reply_port();
    MT_CHECK(MACH_PORT_VALID(q));
    MT_CHECK(nu_type(q) & MACH_PORT_TYPE_RECEIVE);
    mig_dealloc_reply_port(q);
    NU_END();
}

static void *other_thread_reply_port(void *arg)
{
    mach_port_t p = mig_get_reply_port();
    *(mach_port_t *)arg = p;
    mig_dealloc_reply_port(p);
    return NULL;
}

MT_TEST(each_thread_has_its_own_mig_reply_port)
{
    NU_BEGIN();
    mach_port_t mine = mig_get_reply_port(), theirs = MACH_PORT_NULL;
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, other_thread_reply_port, &theirs) == 0);
    pthread_join(t, NULL);
    MT_CHECK(MACH_PORT_VALID(theirs));
    MT_NE(theirs, mine);
    mig_dealloc_reply_port(mine);
    NU_END();
}

MT_MAIN()
