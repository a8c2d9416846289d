/*
 * host_thread_port_mig.c — MIG requests sent by hand with mach_msg to the host port and to a
 * thread port are answered by the kernel with MIG's replies, as on Darwin: host_info (200)
 * and host_page_size (202) on the host port, thread_get_special_port (3610) on a thread port;
 * an id the kernel has no routine for is MIG_BAD_ID, a request of the wrong size
 * MIG_BAD_ARGUMENTS. The requests and replies are written out as MIG output lays them out.
 */
#include "mig_rpc_util.h"

#include <mach/host_info.h>
#include <mach/mig_errors.h>
#include <mach/thread_special_ports.h>

MT_TEST(host_info_by_message_answers_the_basic_info_the_call_gives)
{
    NU_BEGIN();
    mach_port_t host = mach_host_self();
    mach_port_t reply = nu_port();
    mru_reply r;
    MT_KR(mru_rpc(host, reply, 200, 2, HOST_BASIC_INFO, HOST_BASIC_INFO_COUNT, &r),
          MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 300);
    MT_EQ(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX, 0);
    MT_CHECK(nu_ndr_ok(&r.simple.ndr));
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    MT_EQ(r.simple.out[0], HOST_BASIC_INFO_COUNT);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 8 +
                                4 * HOST_BASIC_INFO_COUNT);
    host_basic_info_data_t info;
    mach_msg_type_number_t cnt = HOST_BASIC_INFO_COUNT;
    MT_KR(host_info(host, HOST_BASIC_INFO, (host_info_t)&info, &cnt), KERN_SUCCESS);
    host_basic_info_data_t got;
    memcpy(&got, &r.simple.out[1], sizeof got);
    MT_EQ(got.max_cpus, info.max_cpus);
    MT_EQ(got.cpu_type, info.cpu_type);
    MT_EQ(got.max_mem, info.max_mem);
    /* A flavour umach does not serve and a count too short: the routine's codes. */
    MT_KR(mru_rpc(host, reply, 200, 2, 12345, HOST_BASIC_INFO_COUNT, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    MT_KR(mru_rpc(host, reply, 200, 2, HOST_BASIC_INFO, 2, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, KERN_FAILURE);
    /* A request of the wrong size, and an id no routine has. */
    MT_KR(mru_rpc(host, reply, 200, 1, HOST_BASIC_INFO, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, MIG_BAD_ARGUMENTS);
    MT_KR(mru_rpc(host, reply, 299, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 399);
    MT_EQ(r.error.RetCode, MIG_BAD_ID);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

MT_TEST(host_page_size_by_message_answers_the_page_size_as_a_64_bit_value)
{
    NU_BEGIN();
    mach_port_t host = mach_host_self();
    mach_port_t reply = nu_port();
    mru_reply r;
    MT_KR(mru_rpc(host, reply, 202, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 302);
    MT_EQ(r.head.msgh_size, sizeof(mach_msg_header_t) + sizeof(NDR_record_t) + 12);
    MT_EQ(r.simple.ret, KERN_SUCCESS);
    uint64_t size;
    memcpy(&size, &r.simple.out[0], sizeof size);
    vm_size_t want = 0;
    MT_KR(host_page_size(host, &want), KERN_SUCCESS);
    MT_EQ(size, want);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

MT_TEST(thread_get_special_port_by_message_gives_a_send_right_to_the_thread_port)
{
    NU_BEGIN();
    mach_port_t thread = mach_thread_self();
    mach_port_t reply = nu_port();
    mach_port_urefs_t before = nu_refs(thread, MACH_PORT_RIGHT_SEND);
    mru_reply r;
    MT_KR(mru_rpc(thread, reply, 3610, 1, THREAD_KERNEL_PORT, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_id, 3710);
    MT_CHECK(r.head.msgh_bits & MACH_MSGH_BITS_COMPLEX);
    MT_EQ(r.head.msgh_size, sizeof r.port);
    MT_EQ(r.port.body.msgh_descriptor_count, 1);
    MT_EQ(r.port.port.disposition, MACH_MSG_TYPE_PORT_SEND);
    MT_EQ(r.port.port.name, thread);
    MT_EQ(nu_refs(thread, MACH_PORT_RIGHT_SEND), before + 1);
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    MT_KR(mru_rpc(thread, reply, 3610, 1, 77, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.head.msgh_size, sizeof(mig_reply_error_t));
    MT_EQ(r.error.RetCode, KERN_INVALID_ARGUMENT);
    MT_KR(mru_rpc(thread, reply, 3699, 0, 0, 0, &r), MACH_MSG_SUCCESS);
    MT_EQ(r.error.RetCode, MIG_BAD_ID);
    MT_KR(mach_port_deallocate(TASK, thread), KERN_SUCCESS);
    nu_kill(reply);
    NU_END();
}

MT_MAIN()
