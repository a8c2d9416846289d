/*
 * queued_bytes_cap.c — a task's queued messages (inline bytes plus the out-of-line memory they
 * carry) are capped by UMACH_QUEUED_BYTES_MAX. A send over the cap fails as XNU's
 * ipc_kmsg_alloc does, with MACH_SEND_NO_BUFFER before anything is taken: the sender keeps
 * every right (same urefs, no notification) and its memory (a deallocate = TRUE region stays
 * mapped with its bytes), and the buffer is unchanged. Receiving or destroying queued messages
 * gives the room back.
 *
 * The cap is read when a task's space is created; a forked child is a new task, so each test
 * sets the cap and forks: the child runs the checks and exits with the number that failed.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "umach_test.h"

#include <mach/mach.h>

#define TASK mach_task_self()
#define CAP (256u * 1024)

/* Run fn in a forked child whose task may queue at most `cap` bytes (NULL: the default). */
static void with_cap(const char *cap, void (*fn)(void))
{
    MT_EQ(ut_in_child("UMACH_QUEUED_BYTES_MAX", cap, fn, 60), 0); /* nothing here may block */
}

static mach_port_name_t port_with_send(void)
{
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    if (mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    mach_port_limits_t lim = {.mpl_qlimit = MACH_PORT_QLIMIT_LARGE};
    if (mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                 MACH_PORT_LIMITS_INFO_COUNT) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static mach_port_urefs_t urefs(mach_port_name_t name, mach_port_right_t right)
{
    mach_port_urefs_t r = 0;
    if (mach_port_get_refs(TASK, name, right, &r) != KERN_SUCCESS)
        return (mach_port_urefs_t)-1;
    return r;
}

typedef struct {
    mach_msg_header_t h;
    uint8_t body[4096 - sizeof(mach_msg_header_t)];
} inline_msg;

static mach_msg_return_t send_inline(mach_port_name_t p)
{
    inline_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = p;
    m.h.msgh_id = 7;
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

static mach_msg_return_t receive_one(mach_port_name_t p)
{
    struct {
        inline_msg m;
        mach_msg_max_trailer_t t;
    } r;
    return mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT | MACH_RCV_LARGE, 0, sizeof r, p, 0,
                    MACH_PORT_NULL);
}

static void inline_messages_fill_the_cap(void)
{
    mach_port_name_t p = port_with_send();
    UT_CK(p != MACH_PORT_NULL);
    unsigned sent = 0;
    mach_msg_return_t mr;
    while ((mr = send_inline(p)) == MACH_MSG_SUCCESS && sent < 1000)
        sent++;
    UT_CK(mr == MACH_SEND_NO_BUFFER);
    UT_CK(sent == CAP / sizeof(inline_msg));
    UT_CK(urefs(p, MACH_PORT_RIGHT_SEND) == 1);
    /* A received message gives its room back; so does destroying the queue. */
    UT_CK(receive_one(p) == MACH_MSG_SUCCESS);
    UT_CK(send_inline(p) == MACH_MSG_SUCCESS);
    UT_CK(send_inline(p) == MACH_SEND_NO_BUFFER);
    UT_CK(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(mach_port_deallocate(TASK, p) == KERN_SUCCESS);
    mach_port_name_t q = port_with_send();
    UT_CK(q != MACH_PORT_NULL);
    for (unsigned i = 0; i < sent; i++)
        UT_CK(send_inline(q) == MACH_MSG_SUCCESS);
    UT_CK(send_inline(q) == MACH_SEND_NO_BUFFER);
    UT_CK(mach_port_mod_refs(TASK, q, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(mach_port_deallocate(TASK, q) == KERN_SUCCESS);
}

MT_TEST(inline_bytes_over_the_cap_are_no_buffer_until_messages_are_received_or_destroyed)
{
    with_cap("256k", inline_messages_fill_the_cap);
}

/*
 * A send refused after the charge was taken gives it back: a common header (COPY_SEND, no
 * reply) to a dead name is charged, then found dead (MACH_SEND_INVALID_DEST); twice the cap's
 * worth of such sends leaves the whole cap to the sends that follow. Both kmsg sizes: a small
 * recycled one and a large allocated one.
 */
static void refused_sends_leave_the_cap_whole(void)
{
    mach_port_name_t dead = port_with_send();
    UT_CK(dead != MACH_PORT_NULL);
    UT_CK(mach_port_mod_refs(TASK, dead, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(urefs(dead, MACH_PORT_RIGHT_DEAD_NAME) == 1);
    struct {
        mach_msg_header_t h;
        uint8_t body[64];
    } small;
    for (unsigned i = 0; i < 2 * CAP / sizeof small; i++) {
        memset(&small, 0, sizeof small);
        small.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
        small.h.msgh_remote_port = dead;
        UT_CK(mach_msg(&small.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof small, 0, MACH_PORT_NULL,
                       0, MACH_PORT_NULL) == MACH_SEND_INVALID_DEST);
    }
    for (unsigned i = 0; i < 2 * CAP / sizeof(inline_msg); i++)
        UT_CK(send_inline(dead) == MACH_SEND_INVALID_DEST);
    UT_CK(urefs(dead, MACH_PORT_RIGHT_DEAD_NAME) == 1);
    mach_port_name_t p = port_with_send();
    UT_CK(p != MACH_PORT_NULL);
    unsigned sent = 0;
    while (sent <= CAP / sizeof(inline_msg) && send_inline(p) == MACH_MSG_SUCCESS)
        sent++;
    UT_CK(sent == CAP / sizeof(inline_msg));
    UT_CK(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(mach_port_deallocate(TASK, p) == KERN_SUCCESS);
    UT_CK(mach_port_deallocate(TASK, dead) == KERN_SUCCESS);
}

MT_TEST(sends_refused_for_their_destination_give_their_charge_back)
{
    with_cap("256k", refused_sends_leave_the_cap_whole);
}

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_port_descriptor_t port;
    mach_msg_ool_descriptor_t ool;
} rich_msg;

static void a_refused_message_leaves_everything_with_the_sender(void)
{
    mach_port_name_t p = port_with_send();
    mach_port_name_t carried = MACH_PORT_NULL, reply = MACH_PORT_NULL;
    UT_CK(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &carried) == KERN_SUCCESS);
    UT_CK(mach_port_insert_right(TASK, carried, carried, MACH_MSG_TYPE_MAKE_SEND) == KERN_SUCCESS);
    UT_CK(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &reply) == KERN_SUCCESS);
    mach_msg_type_number_t names_before = tc_name_count();
    vm_size_t size = 2 * CAP;
    vm_address_t a = 0;
    UT_CK(vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE) == KERN_SUCCESS);
    memset((void *)a, 0x5c, size);

    rich_msg m, orig;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) |
                    MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = p;
    m.h.msgh_local_port = reply;
    m.h.msgh_id = 9;
    m.b.msgh_descriptor_count = 2;
    m.port.name = carried;
    m.port.disposition = MACH_MSG_TYPE_MOVE_SEND;
    m.port.type = MACH_MSG_PORT_DESCRIPTOR;
    m.ool.address = (void *)a;
    m.ool.size = (mach_msg_size_t)size;
    m.ool.copy = MACH_MSG_VIRTUAL_COPY;
    m.ool.deallocate = 1;
    m.ool.type = MACH_MSG_OOL_DESCRIPTOR;
    memcpy(&orig, &m, sizeof m);
    mach_msg_return_t mr = mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0,
                                    MACH_PORT_NULL, 0, MACH_PORT_NULL);
    UT_CK(mr == MACH_SEND_NO_BUFFER);
    UT_CK(memcmp(&orig, &m, sizeof m) == 0);            /* the buffer is untouched */
    UT_CK(urefs(carried, MACH_PORT_RIGHT_SEND) == 1);   /* the moved right is still here */
    UT_CK(urefs(p, MACH_PORT_RIGHT_SEND) == 1);
    UT_CK(tc_name_count() == names_before);
    mach_port_status_t st;
    mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
    UT_CK(mach_port_get_attributes(TASK, reply, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                &cnt) == KERN_SUCCESS);
    UT_CK(st.mps_sorights == 0 && st.mps_msgcount == 0); /* no send-once made, none notified */
    UT_CK(((uint8_t *)a)[0] == 0x5c && ((uint8_t *)a)[size - 1] == 0x5c); /* still mapped */

    /* Half the region fits: it moves, and the room it held comes back when received. */
    m.ool.size = (mach_msg_size_t)(CAP / 2);
    UT_CK(mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                MACH_PORT_NULL) == MACH_MSG_SUCCESS);
    UT_CK(urefs(carried, MACH_PORT_RIGHT_SEND) == 0);
    struct {
        rich_msg m;
        mach_msg_max_trailer_t t;
    } r;
    memset(&r, 0, sizeof r);
    UT_CK(mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, p, 0, MACH_PORT_NULL) ==
       MACH_MSG_SUCCESS);
    UT_CK(r.m.ool.size == CAP / 2 && ((uint8_t *)r.m.ool.address)[0] == 0x5c);
    UT_CK(r.m.port.name == carried);
    UT_CK(vm_deallocate(TASK, (vm_address_t)r.m.ool.address, r.m.ool.size) == KERN_SUCCESS);
    UT_CK(mach_port_deallocate(TASK, r.m.port.name) == KERN_SUCCESS);
    UT_CK(mach_port_deallocate(TASK, r.m.h.msgh_remote_port) == KERN_SUCCESS); /* send-once */
    for (unsigned i = 0; i < CAP / sizeof(inline_msg); i++)
        UT_CK(send_inline(p) == MACH_MSG_SUCCESS);
    UT_CK(send_inline(p) == MACH_SEND_NO_BUFFER);

    UT_CK(vm_deallocate(TASK, a + CAP / 2, size - CAP / 2) == KERN_SUCCESS);
    UT_CK(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(mach_port_deallocate(TASK, p) == KERN_SUCCESS);
    UT_CK(mach_port_mod_refs(TASK, carried, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
}

MT_TEST(a_message_whose_memory_is_over_the_cap_is_no_buffer_and_takes_nothing)
{
    with_cap("262144", a_refused_message_leaves_everything_with_the_sender);
}

static void seven_256_mib_virtual_copies_fit_the_default_cap(void)
{
    mach_port_name_t p = port_with_send();
    vm_size_t size = 256u * 1024 * 1024;
    vm_address_t a = 0;
    UT_CK(vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE) == KERN_SUCCESS);
    rich_msg m;
    for (int i = 0; i < 7; i++) {
        memset(&m, 0, sizeof m);
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
        m.h.msgh_size = sizeof m;
        m.h.msgh_remote_port = p;
        m.b.msgh_descriptor_count = 2;
        m.port.type = MACH_MSG_PORT_DESCRIPTOR;
        m.ool.address = (void *)a;
        m.ool.size = (mach_msg_size_t)size;
        m.ool.copy = MACH_MSG_VIRTUAL_COPY;
        m.ool.type = MACH_MSG_OOL_DESCRIPTOR;
        UT_CK(mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL) == MACH_MSG_SUCCESS);
    }
    UT_CK(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(mach_port_deallocate(TASK, p) == KERN_SUCCESS);
    UT_CK(vm_deallocate(TASK, a, size) == KERN_SUCCESS);
}

MT_TEST(the_default_cap_lets_a_task_queue_seven_virtual_copies_of_256_mib)
{
    with_cap(NULL, seven_256_mib_virtual_copies_fit_the_default_cap);
}

static void malformed_values_fall_back_to_the_default(void)
{
    mach_port_name_t p = port_with_send();
    for (unsigned i = 0; i < 100; i++)
        UT_CK(send_inline(p) == MACH_MSG_SUCCESS);
    UT_CK(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS);
    UT_CK(mach_port_deallocate(TASK, p) == KERN_SUCCESS);
}

MT_TEST(a_malformed_or_zero_cap_is_ignored)
{
    with_cap("12q", malformed_values_fall_back_to_the_default);
    with_cap("0", malformed_values_fall_back_to_the_default);
    with_cap("99999999999999999999g", malformed_values_fall_back_to_the_default);
}

MT_MAIN()
