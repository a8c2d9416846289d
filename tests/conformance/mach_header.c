/*
 * mach_header.c — <mach/mach.h> alone brings in what the macOS SDK's does for everything
 * umach implements: the notification ids, error strings, MIG runtime types, exception and
 * time types, special-port numbers and <string.h>. The first part of this file
 * includes nothing else and uses each name, so a missing include fails to compile (on Linux
 * and, through darwin-check, against Apple's SDK).
 */
#include <mach/mach.h>

/* Types that MIG output for Apple's own .defs names. */
struct mig_types_used {
    exception_type_t exception;
    exception_data_t code;
    mach_exception_data_t mach_code;
    exception_mask_t mask;
    exception_behavior_t behavior;
    thread_state_t state;
    thread_state_flavor_t flavor;
    mach_timespec_t timespec;
    ipc_info_space_t space_info;
    ipc_info_name_t name_info;
    ipc_info_tree_name_t tree_name;
    ipc_info_space_basic_t space_basic;
    task_special_port_t special;
    mig_reply_error_t error_reply;
    mach_dead_name_notification_t dead_name;
    mach_no_senders_notification_t no_senders;
    routine_descriptor_t routine;
    mig_routine_arg_descriptor_t arg;
    kobject_description_t description;
    time_value_t time_value;
};

static const int header_constants[] = {
    MACH_NOTIFY_FIRST, MACH_NOTIFY_PORT_DELETED, MACH_NOTIFY_SEND_POSSIBLE,
    MACH_NOTIFY_PORT_DESTROYED, MACH_NOTIFY_NO_SENDERS, MACH_NOTIFY_SEND_ONCE,
    MACH_NOTIFY_DEAD_NAME, TASK_KERNEL_PORT, TASK_HOST_PORT, TASK_NAME_PORT,
    TASK_BOOTSTRAP_PORT, TASK_INSPECT_PORT, TASK_READ_PORT, THREAD_KERNEL_PORT,
    THREAD_INSPECT_PORT, THREAD_READ_PORT, EXC_BAD_ACCESS, EXC_GUARD, EXC_CORPSE_NOTIFY,
    EXC_MASK_ALL, EXCEPTION_DEFAULT, EXCEPTION_STATE, EXCEPTION_STATE_IDENTITY,
    (int)MACH_EXCEPTION_CODES, MIG_NO_REPLY, MIG_BAD_ID, MIG_BAD_ARGUMENTS, MIG_TYPE_ERROR,
    MIG_REPLY_MISMATCH, MIG_SERVER_DIED, MIG_ARRAY_TOO_LARGE,
    (int)TASK_EXC_GUARD_MP_DELIVER, (int)TASK_EXC_GUARD_MP_FATAL,
    KOBJECT_DESCRIPTION_LENGTH, (int)NSEC_PER_USEC,
};

/* <string.h> comes with <mach/mach.h> on Darwin (MIG user headers include it). */
static size_t header_only_string(void)
{
    char buf[8];
    memset(buf, 0, sizeof buf);
    memcpy(buf, "mach", 5);
    return strlen(buf);
}

static const char *header_only_error_string(void)
{
    return mach_error_string(MIG_BAD_ID);
}

/* Functions <mach/mach.h> declares on Darwin that umach implements. */
static void (*const header_functions[])(void) = {
    (void (*)(void))mach_msg_server,
    (void (*)(void))mach_msg_server_once,
    (void (*)(void))mach_msg_server_importance,
    (void (*)(void))mig_reply_setup,
    (void (*)(void))mig_strncpy_zerofill,
    (void (*)(void))mig_allocate,
    (void (*)(void))mig_deallocate,
    (void (*)(void))mach_thread_self,
    (void (*)(void))mach_host_self,
    (void (*)(void))host_page_size,
    (void (*)(void))host_info,
    (void (*)(void))thread_get_special_port,
    (void (*)(void))semaphore_create,
    (void (*)(void))semaphore_destroy,
    (void (*)(void))semaphore_signal,
    (void (*)(void))semaphore_signal_all,
    (void (*)(void))semaphore_wait,
    (void (*)(void))semaphore_timedwait,
    (void (*)(void))semaphore_wait_signal,
    (void (*)(void))semaphore_timedwait_signal,
    (void (*)(void))task_self_trap,
};

static const int more_constants[] = {
    SYNC_POLICY_FIFO + 1, SYNC_POLICY_LIFO, HOST_BASIC_INFO, (int)HOST_BASIC_INFO_COUNT,
    CPU_TYPE_X86_64, CPU_TYPE_ARM64,
};

#include "mt.h"

#include <stddef.h>

MT_TEST(mach_h_alone_declares_the_mig_runtime_and_kernel_object_calls)
{
    for (size_t i = 0; i < sizeof header_functions / sizeof header_functions[0]; i++)
        MT_CHECK(header_functions[i] != NULL);
    for (size_t i = 0; i < sizeof more_constants / sizeof more_constants[0]; i++)
        MT_CHECK(more_constants[i] != 0);
    MT_EQ(HOST_BASIC_INFO_COUNT, 12);
    MT_EQ(CPU_TYPE_ARM64, 0x0100000c);
}

MT_TEST(mach_h_alone_provides_string_h)
{
    MT_EQ(header_only_string(), 4);
}

MT_TEST(mach_h_alone_provides_mach_error_string)
{
    MT_CHECK(strcmp(header_only_error_string(), "(ipc/mig) bad request message ID") == 0);
}

MT_TEST(notification_ids_have_darwin_values)
{
    MT_EQ(MACH_NOTIFY_PORT_DELETED, 0101);
    MT_EQ(MACH_NOTIFY_SEND_POSSIBLE, 0102);
    MT_EQ(MACH_NOTIFY_PORT_DESTROYED, 0105);
    MT_EQ(MACH_NOTIFY_NO_SENDERS, 0106);
    MT_EQ(MACH_NOTIFY_SEND_ONCE, 0107);
    MT_EQ(MACH_NOTIFY_DEAD_NAME, 0110);
    MT_EQ(sizeof header_constants / sizeof header_constants[0], 35);
    for (size_t i = 0; i < sizeof header_constants / sizeof header_constants[0]; i++)
        MT_CHECK(header_constants[i] != 0);
}

MT_TEST(special_port_and_exception_numbers_have_darwin_values)
{
    MT_EQ(TASK_BOOTSTRAP_PORT, 4);
    MT_EQ(TASK_KERNEL_PORT, 1);
    MT_EQ(THREAD_KERNEL_PORT, 1);
    MT_EQ(EXC_GUARD, 12);
    MT_EQ(EXC_MASK_GUARD, 1 << 12);
    MT_EQ(EXCEPTION_STATE_IDENTITY, 3);
    MT_EQ(MACH_EXCEPTION_CODES, 0x80000000u);
    MT_EQ(TASK_EXC_GUARD_MP_ALL, 0xf0);
}

MT_TEST(mig_and_debug_types_have_darwin_layout)
{
    MT_EQ(sizeof(mig_reply_error_t), 36);
    MT_EQ(sizeof(mach_timespec_t), 8);
    MT_EQ(sizeof(ipc_info_space_t), 24);
    /* mach_debug_types.defs: struct[7] and struct[9] of natural_t, iin_collision second */
    MT_EQ(sizeof(ipc_info_name_t), 28);
    MT_EQ(offsetof(ipc_info_name_t, iin_collision), 4);
    MT_EQ(offsetof(ipc_info_name_t, iin_type), 8);
    MT_EQ(offsetof(ipc_info_name_t, iin_hash), 24);
    MT_EQ(sizeof(ipc_info_tree_name_t), 36);
    MT_EQ(sizeof(mach_exception_data_type_t), 8);
    MT_EQ(sizeof(exception_data_type_t), 4);
    MT_EQ(sizeof(struct mig_types_used) > 0, 1);
}

MT_MAIN()
