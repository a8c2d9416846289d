/*
 * Darwin's 64-bit Mach ABI: sizes and offsets of every message structure (checked when the
 * file compiles, against umach's headers on Linux and Apple's on macOS) and the values of
 * the constants programs depend on (checked when it runs).
 */
#include "mt.h"

#include <mach/mach.h>
#include <mach/mach_error.h>
#include <mach/ndr.h>
#include <mach/notify.h>
#include <mach/task_info.h>

#include <stddef.h>

#define SIZE(t, n) _Static_assert(sizeof(t) == (n), "sizeof " #t)
#define OFF(t, f, n) _Static_assert(offsetof(t, f) == (n), "offsetof " #t "." #f)

/* basic types */
SIZE(natural_t, 4);
SIZE(integer_t, 4);
SIZE(kern_return_t, 4);
SIZE(mach_msg_return_t, 4);
SIZE(mach_port_t, 4);
SIZE(mach_port_name_t, 4);
SIZE(mach_msg_bits_t, 4);
SIZE(mach_msg_size_t, 4);
SIZE(mach_msg_id_t, 4);
SIZE(mach_msg_type_name_t, 4);
SIZE(mach_msg_option_t, 4);
SIZE(mach_msg_timeout_t, 4);
SIZE(mach_port_context_t, 8);
SIZE(mach_vm_address_t, 8);
SIZE(mach_vm_size_t, 8);
SIZE(vm_size_t, 8);
SIZE(boolean_t, 4);
SIZE(vm_machine_attribute_t, 4);
SIZE(vm_machine_attribute_val_t, 4);

/* header and body */
SIZE(mach_msg_header_t, 24);
OFF(mach_msg_header_t, msgh_bits, 0);
OFF(mach_msg_header_t, msgh_size, 4);
OFF(mach_msg_header_t, msgh_remote_port, 8);
OFF(mach_msg_header_t, msgh_local_port, 12);
OFF(mach_msg_header_t, msgh_voucher_port, 16);
OFF(mach_msg_header_t, msgh_id, 20);
SIZE(mach_msg_body_t, 4);
SIZE(mach_msg_base_t, 28);
OFF(mach_msg_base_t, body, 24);

/* descriptors */
SIZE(mach_msg_type_descriptor_t, 12);
SIZE(mach_msg_port_descriptor_t, 12);
OFF(mach_msg_port_descriptor_t, name, 0);
SIZE(mach_msg_ool_descriptor_t, 16);
OFF(mach_msg_ool_descriptor_t, address, 0);
OFF(mach_msg_ool_descriptor_t, size, 12);
SIZE(mach_msg_ool_descriptor64_t, 16);
OFF(mach_msg_ool_descriptor64_t, size, 12);
SIZE(mach_msg_ool_descriptor32_t, 12);
OFF(mach_msg_ool_descriptor32_t, size, 4);
SIZE(mach_msg_ool_ports_descriptor_t, 16);
OFF(mach_msg_ool_ports_descriptor_t, count, 12);
SIZE(mach_msg_ool_ports_descriptor64_t, 16);
SIZE(mach_msg_ool_ports_descriptor32_t, 12);
OFF(mach_msg_ool_ports_descriptor32_t, count, 4);
SIZE(mach_msg_guarded_port_descriptor_t, 16);
OFF(mach_msg_guarded_port_descriptor_t, context, 0);
OFF(mach_msg_guarded_port_descriptor_t, name, 12);
SIZE(mach_msg_guarded_port_descriptor64_t, 16);
SIZE(mach_msg_guarded_port_descriptor32_t, 12);
OFF(mach_msg_guarded_port_descriptor32_t, name, 4);
SIZE(mach_msg_descriptor_t, 16);

/* trailers and tokens */
SIZE(security_token_t, 8);
SIZE(audit_token_t, 32);
SIZE(mach_msg_trailer_t, 8);
SIZE(mach_msg_seqno_trailer_t, 12);
SIZE(mach_msg_security_trailer_t, 20);
SIZE(mach_msg_format_0_trailer_t, 20);
SIZE(mach_msg_audit_trailer_t, 52);
SIZE(mach_msg_context_trailer_t, 60);
SIZE(mach_msg_mac_trailer_t, 68);
SIZE(mach_msg_max_trailer_t, 68);
OFF(mach_msg_max_trailer_t, msgh_seqno, 8);
OFF(mach_msg_max_trailer_t, msgh_sender, 12);
OFF(mach_msg_max_trailer_t, msgh_audit, 20);
OFF(mach_msg_max_trailer_t, msgh_context, 52);
OFF(mach_msg_max_trailer_t, msgh_ad, 60);
OFF(mach_msg_max_trailer_t, msgh_labels, 64);
SIZE(mach_msg_empty_send_t, 24);
SIZE(mach_msg_empty_rcv_t, 32);

/* port attributes */
SIZE(mach_port_status_t, 40);
SIZE(mach_port_limits_t, 4);
SIZE(mach_port_info_ext_t, 68);
#ifdef MACH_PORT_GUARD_INFO /* newer SDKs only */
SIZE(mach_port_guard_info_t, 8);
#endif
SIZE(mach_port_qos_t, 8);
SIZE(mach_port_options_t, 24);
OFF(mach_port_options_t, flags, 0);
OFF(mach_port_options_t, mpl, 4);
OFF(mach_port_options_t, reserved, 8);

/* MIG and notifications */
SIZE(NDR_record_t, 8);
SIZE(mig_reply_error_t, 36);
SIZE(mach_no_senders_notification_t, 56);
SIZE(mach_dead_name_notification_t, 56);
SIZE(mach_port_deleted_notification_t, 56);
SIZE(mach_send_possible_notification_t, 56);
SIZE(mach_port_destroyed_notification_t, 60);
SIZE(mach_send_once_notification_t, 44);

/* task_info's memory and time flavours (packed to 4 bytes) */
SIZE(time_value_t, 8);
SIZE(policy_t, 4);
SIZE(task_basic_info_32_data_t, 32);
OFF(task_basic_info_32_data_t, virtual_size, 4);
OFF(task_basic_info_32_data_t, user_time, 12);
OFF(task_basic_info_32_data_t, policy, 28);
SIZE(task_basic_info_64_data_t, 40);
OFF(task_basic_info_64_data_t, virtual_size, 4);
OFF(task_basic_info_64_data_t, resident_size, 12);
OFF(task_basic_info_64_data_t, user_time, 20);
OFF(task_basic_info_64_data_t, policy, 36);
SIZE(task_basic_info_data_t, 40);
SIZE(task_thread_times_info_data_t, 16);
SIZE(mach_task_basic_info_data_t, 48);
OFF(mach_task_basic_info_data_t, resident_size_max, 16);
OFF(mach_task_basic_info_data_t, user_time, 24);
OFF(mach_task_basic_info_data_t, system_time, 32);
OFF(mach_task_basic_info_data_t, policy, 40);
OFF(mach_task_basic_info_data_t, suspend_count, 44);
SIZE(task_events_info_data_t, 32);
OFF(task_events_info_data_t, messages_sent, 12);
OFF(task_events_info_data_t, csw, 28);
/* task_vm_info's revisions end at these offsets (a 4-byte decompressions, then packing 4). */
OFF(task_vm_info_data_t, region_count, 8);
OFF(task_vm_info_data_t, resident_size, 16);
OFF(task_vm_info_data_t, compressed_lifetime, 136);
OFF(task_vm_info_data_t, phys_footprint, 144);
OFF(task_vm_info_data_t, min_address, 152);
OFF(task_vm_info_data_t, max_address, 160);
OFF(task_vm_info_data_t, ledger_phys_footprint_peak, 168);
OFF(task_vm_info_data_t, limit_bytes_remaining, 336);
OFF(task_vm_info_data_t, decompressions, 344);
#ifdef TASK_VM_INFO_REV6_COUNT /* SDKs before macOS 12 end at revision 5 */
OFF(task_vm_info_data_t, ledger_swapins, 348);
SIZE(task_vm_info_data_t, 356);
#endif

/* The byte that holds each bitfield, found by setting it in a zeroed descriptor. */
static int byte_of(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return (int)i;
    return -1;
}

MT_TEST(descriptor_bitfields_sit_in_darwins_bytes)
{
    mach_msg_port_descriptor_t p;
    memset(&p, 0, sizeof p);
    p.type = 1;
    MT_EQ(byte_of(&p, sizeof p), 11);
    memset(&p, 0, sizeof p);
    p.disposition = 1;
    MT_EQ(byte_of(&p, sizeof p), 10);

    mach_msg_ool_descriptor_t o;
    memset(&o, 0, sizeof o);
    o.deallocate = 1;
    MT_EQ(byte_of(&o, sizeof o), 8);
    memset(&o, 0, sizeof o);
    o.copy = 1;
    MT_EQ(byte_of(&o, sizeof o), 9);
    memset(&o, 0, sizeof o);
    o.type = 1;
    MT_EQ(byte_of(&o, sizeof o), 11);

    mach_msg_ool_ports_descriptor_t op;
    memset(&op, 0, sizeof op);
    op.disposition = 1;
    MT_EQ(byte_of(&op, sizeof op), 10);
    memset(&op, 0, sizeof op);
    op.type = 1;
    MT_EQ(byte_of(&op, sizeof op), 11);

    mach_msg_guarded_port_descriptor_t g;
    memset(&g, 0, sizeof g);
    g.flags = 1;
    MT_EQ(byte_of(&g, sizeof g), 8);
    memset(&g, 0, sizeof g);
    g.disposition = 1;
    MT_EQ(byte_of(&g, sizeof g), 10);
    memset(&g, 0, sizeof g);
    g.type = 1;
    MT_EQ(byte_of(&g, sizeof g), 11);

    mach_msg_type_descriptor_t t;
    memset(&t, 0, sizeof t);
    t.type = 1;
    MT_EQ(byte_of(&t, sizeof t), 11);
}

MT_TEST(header_bit_macros_have_darwins_values)
{
    MT_EQ(MACH_MSGH_BITS_REMOTE_MASK, 0x1f);
    MT_EQ(MACH_MSGH_BITS_LOCAL_MASK, 0x1f00);
    MT_EQ(MACH_MSGH_BITS_VOUCHER_MASK, 0x1f0000);
    MT_EQ(MACH_MSGH_BITS_PORTS_MASK, 0x1f1f1f);
    MT_EQ(MACH_MSGH_BITS_COMPLEX, 0x80000000u);
    MT_EQ(MACH_MSGH_BITS_USER, 0x801f1f1fu);
    MT_EQ(MACH_MSGH_BITS(19, 21), 0x1513);
    MT_EQ(MACH_MSGH_BITS_SET(17, 18, 19, 0x80000000u), 0x80131211u);
    MT_EQ(MACH_MSGH_BITS_REMOTE(0x80131211u), 17);
    MT_EQ(MACH_MSGH_BITS_LOCAL(0x80131211u), 18);
    MT_EQ(MACH_MSGH_BITS_VOUCHER(0x80131211u), 19);
    MT_EQ(MACH_MSGH_BITS_OTHER(0x80131211u), 0x80000000u);
}

MT_TEST(dispositions_and_descriptor_constants_have_darwins_values)
{
    MT_EQ(MACH_MSG_TYPE_MOVE_RECEIVE, 16);
    MT_EQ(MACH_MSG_TYPE_MOVE_SEND, 17);
    MT_EQ(MACH_MSG_TYPE_MOVE_SEND_ONCE, 18);
    MT_EQ(MACH_MSG_TYPE_COPY_SEND, 19);
    MT_EQ(MACH_MSG_TYPE_MAKE_SEND, 20);
    MT_EQ(MACH_MSG_TYPE_MAKE_SEND_ONCE, 21);
    MT_EQ(MACH_MSG_TYPE_COPY_RECEIVE, 22);
    MT_EQ(MACH_MSG_TYPE_PORT_NAME, 15);
    MT_EQ(MACH_MSG_TYPE_PORT_RECEIVE, 16);
    MT_EQ(MACH_MSG_TYPE_PORT_SEND, 17);
    MT_EQ(MACH_MSG_TYPE_PORT_SEND_ONCE, 18);
    MT_EQ(MACH_MSG_PORT_DESCRIPTOR, 0);
    MT_EQ(MACH_MSG_OOL_DESCRIPTOR, 1);
    MT_EQ(MACH_MSG_OOL_PORTS_DESCRIPTOR, 2);
    MT_EQ(MACH_MSG_OOL_VOLATILE_DESCRIPTOR, 3);
    MT_EQ(MACH_MSG_GUARDED_PORT_DESCRIPTOR, 4);
    MT_EQ(MACH_MSG_PHYSICAL_COPY, 0);
    MT_EQ(MACH_MSG_VIRTUAL_COPY, 1);
    MT_EQ(MACH_MSG_GUARD_FLAGS_IMMOVABLE_RECEIVE, 1);
    MT_EQ(MACH_MSG_GUARD_FLAGS_UNGUARDED_ON_SEND, 2);
    MT_EQ(MACH_MSG_GUARD_FLAGS_MASK, 3);
}

MT_TEST(mach_msg_options_have_darwins_values)
{
    MT_EQ(MACH_SEND_MSG, 0x1);
    MT_EQ(MACH_RCV_MSG, 0x2);
    MT_EQ(MACH_RCV_LARGE, 0x4);
    MT_EQ(MACH_RCV_LARGE_IDENTITY, 0x8);
    MT_EQ(MACH_SEND_TIMEOUT, 0x10);
    MT_EQ(MACH_SEND_INTERRUPT, 0x40);
    MT_EQ(MACH_SEND_NOTIFY, 0x80);
    MT_EQ(MACH_RCV_TIMEOUT, 0x100);
    MT_EQ(MACH_RCV_INTERRUPT, 0x400);
    MT_EQ(MACH_RCV_VOUCHER, 0x800);
    MT_EQ(MACH_RCV_GUARDED_DESC, 0x1000);
    MT_EQ(MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0), 0);
    MT_EQ(MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT), 0x03000000);
    MT_EQ(MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_CTX), 0x04000000);
    MT_EQ(MACH_RCV_TRAILER_AV, 7);
    MT_EQ(MACH_RCV_TRAILER_LABELS, 8);
    MT_EQ(MAX_TRAILER_SIZE, 68);
    MT_EQ(MACH_MSG_TIMEOUT_NONE, 0);
}

MT_TEST(message_return_codes_have_darwins_values)
{
    MT_EQ(MACH_MSG_SUCCESS, 0);
    MT_EQ(MACH_MSG_IPC_SPACE, 0x2000);
    MT_EQ(MACH_MSG_VM_SPACE, 0x1000);
    MT_EQ(MACH_MSG_IPC_KERNEL, 0x800);
    MT_EQ(MACH_MSG_VM_KERNEL, 0x400);
    MT_EQ(MACH_SEND_INVALID_DATA, 0x10000002);
    MT_EQ(MACH_SEND_INVALID_DEST, 0x10000003);
    MT_EQ(MACH_SEND_TIMED_OUT, 0x10000004);
    MT_EQ(MACH_SEND_INVALID_VOUCHER, 0x10000005);
    MT_EQ(MACH_SEND_INTERRUPTED, 0x10000007);
    MT_EQ(MACH_SEND_MSG_TOO_SMALL, 0x10000008);
    MT_EQ(MACH_SEND_INVALID_REPLY, 0x10000009);
    MT_EQ(MACH_SEND_INVALID_RIGHT, 0x1000000a);
    MT_EQ(MACH_SEND_INVALID_NOTIFY, 0x1000000b);
    MT_EQ(MACH_SEND_INVALID_MEMORY, 0x1000000c);
    MT_EQ(MACH_SEND_NO_BUFFER, 0x1000000d);
    MT_EQ(MACH_SEND_TOO_LARGE, 0x1000000e);
    MT_EQ(MACH_SEND_INVALID_TYPE, 0x1000000f);
    MT_EQ(MACH_SEND_INVALID_HEADER, 0x10000010);
    MT_EQ(MACH_SEND_INVALID_TRAILER, 0x10000011);
    MT_EQ(MACH_RCV_INVALID_NAME, 0x10004002);
    MT_EQ(MACH_RCV_TIMED_OUT, 0x10004003);
    MT_EQ(MACH_RCV_TOO_LARGE, 0x10004004);
    MT_EQ(MACH_RCV_INTERRUPTED, 0x10004005);
    MT_EQ(MACH_RCV_PORT_CHANGED, 0x10004006);
    MT_EQ(MACH_RCV_INVALID_NOTIFY, 0x10004007);
    MT_EQ(MACH_RCV_INVALID_DATA, 0x10004008);
    MT_EQ(MACH_RCV_PORT_DIED, 0x10004009);
    MT_EQ(MACH_RCV_HEADER_ERROR, 0x1000400b);
    MT_EQ(MACH_RCV_BODY_ERROR, 0x1000400c);
    MT_EQ(MACH_RCV_INVALID_TYPE, 0x1000400d);
    MT_EQ(MACH_RCV_SCATTER_SMALL, 0x1000400e);
    MT_EQ(MACH_RCV_INVALID_TRAILER, 0x1000400f);
#ifdef MACH_RCV_INVALID_ARGUMENTS
    MT_EQ(MACH_RCV_INVALID_ARGUMENTS, 0x10004013);
#endif
}

MT_TEST(kern_return_codes_have_darwins_values)
{
    MT_EQ(KERN_SUCCESS, 0);
    MT_EQ(KERN_INVALID_ADDRESS, 1);
    MT_EQ(KERN_NO_SPACE, 3);
    MT_EQ(KERN_INVALID_ARGUMENT, 4);
    MT_EQ(KERN_FAILURE, 5);
    MT_EQ(KERN_RESOURCE_SHORTAGE, 6);
    MT_EQ(KERN_ALREADY_IN_SET, 11);
    MT_EQ(KERN_NOT_IN_SET, 12);
    MT_EQ(KERN_NAME_EXISTS, 13);
    MT_EQ(KERN_INVALID_NAME, 15);
    MT_EQ(KERN_INVALID_TASK, 16);
    MT_EQ(KERN_INVALID_RIGHT, 17);
    MT_EQ(KERN_INVALID_VALUE, 18);
    MT_EQ(KERN_UREFS_OVERFLOW, 19);
    MT_EQ(KERN_INVALID_CAPABILITY, 20);
    MT_EQ(KERN_RIGHT_EXISTS, 21);
    MT_EQ(KERN_NOT_SUPPORTED, 46);
    MT_EQ(KERN_OPERATION_TIMED_OUT, 49);
    MT_EQ(KERN_DENIED, 53);
#ifdef KERN_NOT_FOUND
    MT_EQ(KERN_NOT_FOUND, 56);
#endif
}

MT_TEST(port_rights_types_and_names_have_darwins_values)
{
    MT_EQ(MACH_PORT_NULL, 0);
    MT_EQ(MACH_PORT_DEAD, 0xffffffffu);
    MT_CHECK(!MACH_PORT_VALID(MACH_PORT_NULL) && !MACH_PORT_VALID(MACH_PORT_DEAD));
    MT_CHECK(MACH_PORT_VALID(0x103));
    MT_EQ(MACH_PORT_RIGHT_SEND, 0);
    MT_EQ(MACH_PORT_RIGHT_RECEIVE, 1);
    MT_EQ(MACH_PORT_RIGHT_SEND_ONCE, 2);
    MT_EQ(MACH_PORT_RIGHT_PORT_SET, 3);
    MT_EQ(MACH_PORT_RIGHT_DEAD_NAME, 4);
    MT_EQ(MACH_PORT_RIGHT_LABELH, 5);
    MT_EQ(MACH_PORT_RIGHT_NUMBER, 6);
    MT_EQ(MACH_PORT_TYPE_SEND, 0x10000);
    MT_EQ(MACH_PORT_TYPE_RECEIVE, 0x20000);
    MT_EQ(MACH_PORT_TYPE_SEND_ONCE, 0x40000);
    MT_EQ(MACH_PORT_TYPE_PORT_SET, 0x80000);
    MT_EQ(MACH_PORT_TYPE_DEAD_NAME, 0x100000);
    MT_EQ(MACH_PORT_TYPE_DNREQUEST, 0x80000000u);
    MT_EQ(MACH_PORT_TYPE_SEND_RECEIVE, 0x30000);
    MT_EQ(MACH_PORT_TYPE_SEND_RIGHTS, 0x50000);
    MT_EQ(MACH_PORT_TYPE_PORT_RIGHTS, 0x70000);
    MT_EQ(MACH_PORT_TYPE_PORT_OR_DEAD, 0x170000);
    MT_EQ(MACH_PORT_TYPE_ALL_RIGHTS, 0x1f0000);
    MT_EQ(MACH_PORT_INDEX(0x1203), 0x12);
    MT_EQ(MACH_PORT_GEN(0x1203), 0x03000000);
    MT_EQ(MACH_PORT_MAKE(0x12, 0x03000000), 0x1203);
    MT_EQ(MACH_PORT_QLIMIT_DEFAULT, 5);
    MT_EQ(MACH_PORT_QLIMIT_LARGE, 1024);
    MT_EQ(MACH_PORT_QLIMIT_MAX, 1024);
    MT_EQ(MACH_PORT_LIMITS_INFO, 1);
    MT_EQ(MACH_PORT_RECEIVE_STATUS, 2);
    MT_EQ(MACH_PORT_DNREQUESTS_SIZE, 3);
    MT_EQ(MACH_PORT_INFO_EXT, 7);
#ifdef MACH_PORT_GUARD_INFO
    MT_EQ(MACH_PORT_GUARD_INFO, 8);
    MT_EQ(MACH_PORT_GUARD_INFO_COUNT, 2);
#endif
    MT_EQ(MACH_PORT_LIMITS_INFO_COUNT, 1);
    MT_EQ(MACH_PORT_RECEIVE_STATUS_COUNT, 10);
    MT_EQ(MACH_PORT_INFO_EXT_COUNT, 17);
    MT_EQ(MPO_CONTEXT_AS_GUARD, 0x01);
    MT_EQ(MPO_QLIMIT, 0x02);
    MT_EQ(MPO_TEMPOWNER, 0x04);
    MT_EQ(MPO_INSERT_SEND_RIGHT, 0x10);
    MT_EQ(MPO_STRICT, 0x20);
    MT_EQ(MPO_IMMOVABLE_RECEIVE, 0x80);
    MT_EQ(MPG_STRICT, 0x01);
    MT_EQ(MPG_IMMOVABLE_RECEIVE, 0x02);
    MT_EQ(MACH_PORT_STATUS_FLAG_GUARDED, 0x02);
    MT_EQ(MACH_PORT_STATUS_FLAG_STRICT_GUARD, 0x04);
    MT_EQ(MACH_PORT_STATUS_FLAG_GUARD_IMMOVABLE_RECEIVE, 0x40);
    MT_EQ(kGUARD_EXC_DESTROY, 1);
    MT_EQ(kGUARD_EXC_INCORRECT_GUARD, 16);
    MT_EQ(kGUARD_EXC_IMMOVABLE, 32);
    MT_EQ(kGUARD_EXC_INVALID_RIGHT, 256);
    MT_EQ(kGUARD_EXC_SEND_INVALID_RIGHT, 1u << 18);
}

MT_TEST(notification_ids_and_task_info_flavors_have_darwins_values)
{
    MT_EQ(MACH_NOTIFY_FIRST, 64);
    MT_EQ(MACH_NOTIFY_PORT_DELETED, 65);
    MT_EQ(MACH_NOTIFY_SEND_POSSIBLE, 66);
    MT_EQ(MACH_NOTIFY_PORT_DESTROYED, 69);
    MT_EQ(MACH_NOTIFY_NO_SENDERS, 70);
    MT_EQ(MACH_NOTIFY_SEND_ONCE, 71);
    MT_EQ(MACH_NOTIFY_DEAD_NAME, 72);
    MT_EQ(MACH_NOTIFY_LAST, 77);
    MT_EQ(TASK_SECURITY_TOKEN, 13);
    MT_EQ(TASK_SECURITY_TOKEN_COUNT, 2);
    MT_EQ(TASK_AUDIT_TOKEN, 15);
    MT_EQ(TASK_AUDIT_TOKEN_COUNT, 8);
    MT_EQ(TASK_THREAD_TIMES_INFO, 3);
    MT_EQ(TASK_THREAD_TIMES_INFO_COUNT, 4);
    MT_EQ(TASK_BASIC_INFO_32, 4);
    MT_EQ(TASK_BASIC_INFO_32_COUNT, 8);
    MT_EQ(TASK_BASIC2_INFO_32, 6);
#if defined(__aarch64__) || defined(__arm64__)
    MT_EQ(TASK_BASIC_INFO_64, 18); /* arm64's header names the wide flavour so */
#else
    MT_EQ(TASK_BASIC_INFO_64, 5);
#endif
    MT_EQ(TASK_BASIC_INFO_64_COUNT, 10);
    MT_EQ(TASK_BASIC_INFO, TASK_BASIC_INFO_64);
    MT_EQ(MACH_TASK_BASIC_INFO, 20);
    MT_EQ(MACH_TASK_BASIC_INFO_COUNT, 12);
    MT_EQ(TASK_EVENTS_INFO, 2);
    MT_EQ(TASK_EVENTS_INFO_COUNT, 8);
    MT_EQ(TASK_VM_INFO, 22);
    MT_EQ(TASK_VM_INFO_PURGEABLE, 23);
    MT_EQ(TASK_VM_INFO_REV0_COUNT, 36);
    MT_EQ(TASK_VM_INFO_REV1_COUNT, 38);
    MT_EQ(TASK_VM_INFO_REV2_COUNT, 42);
    MT_EQ(TASK_VM_INFO_REV3_COUNT, 84);
    MT_EQ(TASK_VM_INFO_REV4_COUNT, 86);
    MT_EQ(TASK_VM_INFO_REV5_COUNT, 87);
#ifdef TASK_VM_INFO_REV6_COUNT
    MT_EQ(TASK_VM_INFO_REV6_COUNT, 89);
#endif
    MT_EQ(POLICY_TIMESHARE, 1);
    MT_EQ(VM_FLAGS_FIXED, 0);
    MT_EQ(VM_FLAGS_ANYWHERE, 1);
    MT_EQ(MIG_TYPE_ERROR, -300);
    MT_EQ(MIG_BAD_ID, -303);
    MT_EQ(MIG_SERVER_DIED, -308);
    MT_EQ(err_get_system(MACH_SEND_INVALID_DEST), 4);
    MT_EQ(err_get_sub(MACH_RCV_TIMED_OUT), 1);
}

MT_TEST(ndr_record_and_kernel_tokens_have_darwins_contents)
{
    const unsigned char want[8] = {0, 0, 0, 0, 1, 0, 0, 0};
    MT_CHECK(memcmp(&NDR_record, want, 8) == 0);
    /* The objects themselves live in the kernel on Darwin; user code has the values. */
    const security_token_t sec = KERNEL_SECURITY_TOKEN_VALUE;
    const audit_token_t audit = KERNEL_AUDIT_TOKEN_VALUE;
    MT_EQ(sec.val[0], 0);
    MT_EQ(sec.val[1], 1);
    for (int i = 0; i < 8; i++)
        MT_EQ(audit.val[i], 0);
}

MT_MAIN()
