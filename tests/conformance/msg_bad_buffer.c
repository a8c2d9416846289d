/*
 * A message buffer the kernel cannot read or write is an error, not a crash (XNU
 * ipc_kmsg_get_from_user: copyin fails -> MACH_SEND_INVALID_DATA; ipc_kmsg_put_to_user:
 * copyout fails -> MACH_RCV_INVALID_DATA, the message already taken off the queue is lost).
 * Libsystem reads the header itself before trapping, so the header stays readable here and
 * only the rest of the buffer is out of reach. The buffers are mapped readable and writable
 * first and protected afterwards, and every later call must still work.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "notify_util.h"

#include <sys/mman.h>

typedef struct {
    mach_msg_header_t h;
    uint32_t payload[2];
} bb_msg;

/* Two pages: the first readable and writable, the second with protection `second`. */
static uint8_t *bb_pages(int second)
{
    size_t page = (size_t)vm_page_size;
    void *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mprotect((uint8_t *)p + page, page, second) != 0) {
        munmap(p, 2 * page);
        return NULL;
    }
    return p;
}

static void bb_unmap(uint8_t *p)
{
    munmap(p, 2 * (size_t)vm_page_size);
}

static mach_msg_return_t bb_send(mach_port_name_t port, uint32_t value)
{
    bb_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND_ONCE, 0);
    m.h.msgh_remote_port = port;
    m.h.msgh_size = sizeof m;
    m.h.msgh_id = 0x6262;
    m.payload[0] = value;
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

MT_TEST(send_whose_body_is_unreadable_is_invalid_data_and_takes_no_right)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port_with_send();
    MT_REQUIRE(port != MACH_PORT_NULL);
    uint8_t *pages = bb_pages(PROT_NONE);
    MT_REQUIRE(pages != NULL);
    /* The header ends where the unreadable page starts; the payload lies in it. */
    mach_msg_header_t *h =
        (mach_msg_header_t *)(pages + (size_t)vm_page_size - sizeof(mach_msg_header_t));
    h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND, 0);
    h->msgh_remote_port = port;
    h->msgh_local_port = MACH_PORT_NULL;
    h->msgh_voucher_port = MACH_PORT_NULL;
    h->msgh_size = sizeof(bb_msg);
    h->msgh_id = 7;
    MT_KR(mach_msg(h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof(bb_msg), 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_SEND_INVALID_DATA);
    /* Nothing was taken: the moved send right is still ours and nothing was queued. */
    MT_EQ(nu_refs(port, MACH_PORT_RIGHT_SEND), 1u);
    MT_EQ(nu_status(port).mps_msgcount, 0u);
    /* The next send works. */
    MT_KR(bb_send(port, 1), MACH_MSG_SUCCESS);
    nu_msg r;
    MT_KR(nu_recv(port, &r, 0), MACH_MSG_SUCCESS);
    MT_EQ(r.h.msgh_id, 0x6262);
    bb_unmap(pages);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_SEND, -1), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(receive_into_a_read_only_buffer_is_invalid_data_and_the_message_is_gone)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port();
    MT_REQUIRE(port != MACH_PORT_NULL);
    MT_KR(bb_send(port, 1), MACH_MSG_SUCCESS);
    MT_KR(bb_send(port, 2), MACH_MSG_SUCCESS);
    uint8_t *pages = bb_pages(PROT_READ);
    MT_REQUIRE(pages != NULL);
    mach_msg_header_t *buf = (mach_msg_header_t *)(pages + (size_t)vm_page_size);
    MT_KR(mach_msg(buf, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, 256, port, 0, MACH_PORT_NULL),
          MACH_RCV_INVALID_DATA);
    /* The first message was taken off the queue and lost; the second is next. */
    MT_EQ(nu_status(port).mps_msgcount, 1u);
    nu_msg r;
    MT_KR(nu_recv(port, &r, 0), MACH_MSG_SUCCESS);
    bb_msg got;
    memcpy(&got, &r, sizeof got);
    MT_EQ(got.payload[0], 2u);
    MT_KR(nu_recv(port, &r, 0), MACH_RCV_TIMED_OUT);
    bb_unmap(pages);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_TEST(receive_whose_buffer_turns_read_only_past_the_header_is_invalid_data)
{
    NU_BEGIN();
    mach_port_name_t port = nu_port();
    MT_REQUIRE(port != MACH_PORT_NULL);
    MT_KR(bb_send(port, 3), MACH_MSG_SUCCESS);
    uint8_t *pages = bb_pages(PROT_READ);
    MT_REQUIRE(pages != NULL);
    /* The header is writable; the payload and trailer would land in the read-only page. */
    mach_msg_header_t *buf =
        (mach_msg_header_t *)(pages + (size_t)vm_page_size - sizeof(mach_msg_header_t));
    MT_KR(mach_msg(buf, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, 256, port, 0, MACH_PORT_NULL),
          MACH_RCV_INVALID_DATA);
    MT_EQ(nu_status(port).mps_msgcount, 0u);
    /* The space is usable: a new message comes and goes. */
    MT_KR(bb_send(port, 4), MACH_MSG_SUCCESS);
    nu_msg r;
    MT_KR(nu_recv(port, &r, 0), MACH_MSG_SUCCESS);
    bb_unmap(pages);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
