/*
 * msg_wrappers.c — mach_msg_send, mach_msg_receive and mach_msg_overwrite: the thin wrappers
 * over mach_msg take their sizes and port from the header, and overwrite receives into a
 * second buffer.
 */
#include "notify_util.h"

typedef struct {
    mach_msg_header_t h;
    uint32_t payload[4];
} small_msg;

typedef union {
    mach_msg_header_t h;
    uint8_t bytes[256];
} rcv_buf;

MT_TEST(mach_msg_send_uses_msgh_size_and_mach_msg_receive_uses_msgh_local_port)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    small_msg m = {
        .h =
            {
                .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
                .msgh_size = sizeof m,
                .msgh_remote_port = p,
                .msgh_id = 0x1234,
            },
        .payload = {1, 2, 3, 4},
    };
    MT_KR(mach_msg_send(&m.h), MACH_MSG_SUCCESS);
    MT_EQ(nu_status(p).mps_msgcount, 1);

    rcv_buf r;
    memset(&r, 0, sizeof r);
    r.h.msgh_size = sizeof r;
    r.h.msgh_local_port = p;
    MT_KR(mach_msg_receive(&r.h), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, 0x1234);
    MT_EQ(r.h.msgh_size, sizeof m);
    MT_EQ(r.h.msgh_local_port, p);
    const small_msg *got = (const small_msg *)(const void *)r.bytes;
    MT_EQ(got->payload[0], 1);
    MT_EQ(got->payload[3], 4);
    MT_EQ(nu_refs(p, MACH_PORT_RIGHT_SEND), 1);

    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mach_msg_receive_with_a_size_too_small_for_the_trailer_is_too_large)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    small_msg m = {
        .h =
            {
                .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
                .msgh_size = sizeof m,
                .msgh_remote_port = p,
                .msgh_id = 7,
            },
    };
    MT_KR(mach_msg_send(&m.h), MACH_MSG_SUCCESS);
    /* Room for the message but not for the minimum trailer: the message is destroyed. */
    rcv_buf r;
    memset(&r, 0, sizeof r);
    r.h.msgh_size = sizeof m;
    r.h.msgh_local_port = p;
    MT_KR(mach_msg_receive(&r.h), MACH_RCV_TOO_LARGE);
    MT_EQ(nu_status(p).mps_msgcount, 0);

    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mach_msg_send_to_a_dead_name_is_invalid_dest)
{
    NU_BEGIN();
    mach_port_name_t dead = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_DEAD_NAME, &dead), KERN_SUCCESS);
    mach_msg_header_t h = {
        .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
        .msgh_size = sizeof h,
        .msgh_remote_port = dead,
    };
    MT_KR(mach_msg_send(&h), MACH_SEND_INVALID_DEST);
    MT_EQ(nu_refs(dead, MACH_PORT_RIGHT_DEAD_NAME), 1);
    MT_KR(mach_port_deallocate(TASK, dead), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mach_msg_overwrite_sends_from_one_buffer_and_receives_into_another)
{
    NU_BEGIN();
    mach_port_name_t server = nu_port_with_send();
    mach_port_name_t reply = nu_port();
    MT_REQUIRE(server != MACH_PORT_NULL && reply != MACH_PORT_NULL);

    /* A queued answer on the reply port stands in for a server's reply. */
    mach_port_name_t so = nu_send_once(reply);
    MT_REQUIRE(so != MACH_PORT_NULL);
    small_msg answer = {
        .h =
            {
                .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0),
                .msgh_size = sizeof answer,
                .msgh_remote_port = so,
                .msgh_id = 200,
            },
        .payload = {9, 9, 9, 9},
    };
    MT_KR(mach_msg_send(&answer.h), MACH_MSG_SUCCESS);

    small_msg request = {
        .h =
            {
                .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
                .msgh_size = sizeof request,
                .msgh_remote_port = server,
                .msgh_id = 100,
            },
        .payload = {5, 6, 7, 8},
    };
    rcv_buf r;
    memset(&r, 0xA5, sizeof r);
    MT_KR(mach_msg_overwrite(&request.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof request, sizeof r,
                             reply, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL, &r.h, 0),
          MACH_MSG_SUCCESS);
    /* The request buffer is left as it was sent; the reply landed in the other buffer. */
    MT_EQ(request.h.msgh_id, 100);
    MT_EQ(request.payload[0], 5);
    MT_EQ(r.h.msgh_id, 200);
    MT_EQ(r.h.msgh_local_port, reply);
    MT_EQ(((const small_msg *)(const void *)r.bytes)->payload[2], 9);

    /* And the request is queued on the server port. */
    nu_msg got;
    MT_KR(nu_recv(server, &got, 0), MACH_MSG_SUCCESS);
    MT_EQ(got.h.msgh_id, 100);

    MT_KR(mach_port_mod_refs(TASK, server, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, server), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, reply, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(mach_msg_overwrite_with_a_null_receive_buffer_receives_into_the_send_buffer)
{
    NU_BEGIN();
    mach_port_name_t p = nu_port_with_send();
    MT_REQUIRE(p != MACH_PORT_NULL);
    rcv_buf b;
    memset(&b, 0, sizeof b);
    b.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    b.h.msgh_size = sizeof(mach_msg_header_t);
    b.h.msgh_remote_port = p;
    b.h.msgh_id = 77;
    MT_KR(mach_msg_overwrite(&b.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof(mach_msg_header_t),
                             sizeof b, p, MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL, NULL, 0),
          MACH_MSG_SUCCESS);
    MT_EQ(b.h.msgh_id, 77);
    MT_EQ(b.h.msgh_local_port, p);
    MT_EQ(b.h.msgh_remote_port, MACH_PORT_NULL);

    MT_KR(mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, p), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
