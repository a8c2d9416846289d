/*
 * test_error.c — error kinds, flags and printing.
 */
#include "mpt.h"

MPT_TEST(every_send_code_maps_to_its_kind_and_back)
{
    for (int k = MP_SEND_OK + 1; k < MP_SEND_OTHER; k++) {
        const char *name = mp_send_error_kind_name((mp_send_error_kind)k);
        MT_CHECK(strncmp(name, "MACH_SEND_", 10) == 0);
    }
    MT_EQ(mp_send_error_kind_of(MACH_SEND_INVALID_DEST), MP_SEND_INVALID_DEST);
    MT_EQ(mp_send_error_kind_of(MACH_SEND_TIMED_OUT | MACH_MSG_IPC_SPACE), MP_SEND_TIMED_OUT);
    MT_EQ(mp_send_error_kind_of(MACH_SEND_INVALID_RT_OOL_SIZE), MP_SEND_INVALID_RT_OOL_SIZE);
    MT_EQ(mp_send_error_kind_of(0x10000099), MP_SEND_OTHER);
    MT_EQ(mp_send_error_kind_of(MACH_MSG_SUCCESS), MP_SEND_OK);
    MT_CHECK(strcmp(mp_send_error_kind_name(MP_SEND_OTHER), "MACH_SEND_OTHER") == 0);
}

MPT_TEST(every_receive_code_maps_to_its_kind)
{
    for (int k = MP_RCV_OK + 1; k < MP_RCV_SERVER_DIED; k++)
        MT_CHECK(strncmp(mp_recv_error_kind_name((mp_recv_error_kind)k), "MACH_RCV_", 9) == 0);
    /* The MIG codes mp_rpc returns are named and classified too. */
    MT_EQ(mp_recv_error_kind_of(MIG_SERVER_DIED), MP_RCV_SERVER_DIED);
    MT_EQ(mp_recv_error_kind_of(MIG_REPLY_MISMATCH), MP_RCV_REPLY_MISMATCH);
    MT_CHECK(strcmp(mp_recv_error_kind_name(MP_RCV_SERVER_DIED), "MIG_SERVER_DIED") == 0);
    MT_CHECK(strcmp(mp_recv_error_kind_name(MP_RCV_REPLY_MISMATCH), "MIG_REPLY_MISMATCH") == 0);
    MT_EQ(mp_recv_error_kind_of(MACH_RCV_TOO_LARGE), MP_RCV_TOO_LARGE);
    MT_EQ(mp_recv_error_kind_of(MACH_RCV_BODY_ERROR | MACH_MSG_VM_SPACE), MP_RCV_BODY_ERROR);
    MT_EQ(mp_recv_error_kind_of(MACH_RCV_PORT_CHANGED), MP_RCV_PORT_CHANGED);
    MT_EQ(mp_recv_error_kind_of(KERN_INVALID_NAME), MP_RCV_OTHER);
    MT_CHECK(strcmp(mp_recv_error_kind_name((mp_recv_error_kind)1000), "MACH_RCV_OTHER") == 0);
}

MPT_TEST(the_four_resource_flags_are_read_separately)
{
    mach_msg_return_t mr = MACH_RCV_BODY_ERROR | MACH_MSG_VM_SPACE | MACH_MSG_IPC_KERNEL;
    MT_CHECK(mp_msg_error_vm_space(mr));
    MT_CHECK(mp_msg_error_ipc_kernel(mr));
    MT_CHECK(!mp_msg_error_ipc_space(mr));
    MT_CHECK(!mp_msg_error_vm_kernel(mr));
    MT_EQ(mp_msg_error_code(mr), MACH_RCV_BODY_ERROR);
    MT_CHECK(mp_msg_error_is_recv(mr));
    MT_CHECK(!mp_msg_error_is_send(mr));
    MT_CHECK(mp_msg_error_is_send(MACH_SEND_INVALID_DEST));
    MT_CHECK(!mp_msg_error_is_send(KERN_INVALID_RIGHT));
}

MPT_TEST(format_names_the_code_and_its_flags)
{
    char buf[128];
    mp_msg_error_format(MACH_RCV_TOO_LARGE, buf, sizeof buf);
    MT_CHECK(strcmp(buf, "MACH_RCV_TOO_LARGE") == 0);
    mp_msg_error_format(MACH_SEND_TIMED_OUT | MACH_MSG_IPC_SPACE | MACH_MSG_VM_KERNEL, buf,
                        sizeof buf);
    MT_CHECK(strcmp(buf, "MACH_SEND_TIMED_OUT|MACH_MSG_IPC_SPACE|MACH_MSG_VM_KERNEL") == 0);
    mp_msg_error_format(MACH_MSG_VM_KERNEL, buf, sizeof buf);
    MT_CHECK(strcmp(buf, "MACH_MSG_VM_KERNEL") == 0);
    mp_msg_error_format(KERN_INVALID_RIGHT, buf, sizeof buf);
    MT_CHECK(strcmp(buf, "KERN_INVALID_RIGHT") == 0);
    mp_msg_error_format(MACH_MSG_SUCCESS, buf, sizeof buf);
    MT_CHECK(strcmp(buf, "MACH_MSG_SUCCESS") == 0);
    mp_msg_error_format(0x10000099, buf, sizeof buf);
    MT_CHECK(strcmp(buf, "0x10000099") == 0);
    mp_msg_error_format(-1, buf, sizeof buf);
    MT_CHECK(strcmp(buf, "0xffffffff") == 0);
}

MPT_TEST(format_truncates_safely_and_reports_the_needed_length)
{
    char buf[8];
    int n = mp_msg_error_format(MACH_SEND_TIMED_OUT | MACH_MSG_IPC_SPACE, buf, sizeof buf);
    MT_EQ(n, strlen("MACH_SEND_TIMED_OUT|MACH_MSG_IPC_SPACE"));
    MT_EQ(strlen(buf), 7);
    MT_EQ(mp_msg_error_format(MACH_RCV_TOO_LARGE, NULL, 0), strlen("MACH_RCV_TOO_LARGE"));
}

MPT_TEST(kern_return_names_cover_the_table_and_unknown_values)
{
    MT_CHECK(strcmp(mp_kern_return_name(KERN_SUCCESS), "KERN_SUCCESS") == 0);
    MT_CHECK(strcmp(mp_kern_return_name(56), "KERN_NOT_FOUND") == 0);
    MT_CHECK(strcmp(mp_kern_return_name(-5), "KERN_?") == 0);
    MT_CHECK(strcmp(mp_kern_return_name(1000), "KERN_?") == 0);
}

MPT_TEST(print_writes_prefix_and_name)
{
    FILE *f = tmpfile();
    char line[128] = {0};
    MT_REQUIRE(f != NULL);
    mp_msg_error_print(f, "send", MACH_SEND_INVALID_DEST);
    mp_msg_error_print(f, NULL, MACH_RCV_TIMED_OUT);
    rewind(f);
    MT_CHECK(fgets(line, sizeof line, f) && strcmp(line, "send: MACH_SEND_INVALID_DEST\n") == 0);
    MT_CHECK(fgets(line, sizeof line, f) && strcmp(line, "MACH_RCV_TIMED_OUT\n") == 0);
    fclose(f);
}

/* Issue 12 item 7: every code a machports function returns has a name and a kind. */
MPT_TEST(every_code_the_library_returns_is_named_and_classified)
{
    static const mach_msg_return_t sends[] = {MACH_SEND_TOO_LARGE, MACH_SEND_INVALID_RIGHT,
                                              MACH_SEND_INVALID_DATA,
                                              MACH_SEND_NO_BUFFER | MACH_MSG_VM_SPACE,
                                              MACH_SEND_INVALID_REPLY | MACH_MSG_IPC_SPACE};
    static const mach_msg_return_t recvs[] = {MACH_RCV_TOO_LARGE | MACH_MSG_VM_SPACE,
                                              MACH_RCV_INVALID_DATA, MACH_RCV_HEADER_ERROR,
                                              MACH_RCV_BODY_ERROR, MACH_RCV_INVALID_TYPE,
                                              MACH_RCV_INVALID_TRAILER, MIG_SERVER_DIED,
                                              MIG_REPLY_MISMATCH};
    static const kern_return_t kerns[] = {KERN_INVALID_VALUE, KERN_INVALID_RIGHT,
                                          KERN_INVALID_ARGUMENT, KERN_RESOURCE_SHORTAGE,
                                          KERN_INVALID_NAME, MP_NOT_ENOUGH_CAPACITY};
    char buf[128];
    for (size_t i = 0; i < sizeof sends / sizeof sends[0]; i++) {
        MT_NE(mp_send_error_kind_of(sends[i]), MP_SEND_OTHER);
        mp_msg_error_format(sends[i], buf, sizeof buf);
        MT_CHECK(strncmp(buf, "MACH_SEND_", 10) == 0);
    }
    for (size_t i = 0; i < sizeof recvs / sizeof recvs[0]; i++) {
        MT_NE(mp_recv_error_kind_of(recvs[i]), MP_RCV_OTHER);
        mp_msg_error_format(recvs[i], buf, sizeof buf);
        MT_CHECK(strncmp(buf, "MACH_RCV_", 9) == 0 || strncmp(buf, "MIG_", 4) == 0);
    }
    for (size_t i = 0; i < sizeof kerns / sizeof kerns[0]; i++)
        MT_CHECK(strcmp(mp_kern_return_name(kerns[i]), "KERN_?") != 0);
    MT_CHECK(strcmp(mp_kern_return_name(MIG_SERVER_DIED), "MIG_SERVER_DIED") == 0);
    mp_msg_error_format(MIG_REPLY_MISMATCH, buf, sizeof buf);
    MT_CHECK(strcmp(buf, "MIG_REPLY_MISMATCH") == 0);
    mp_msg_error_format(MACH_SEND_NO_BUFFER | MACH_MSG_VM_SPACE, buf, sizeof buf);
    MT_CHECK(strcmp(buf, "MACH_SEND_NO_BUFFER|MACH_MSG_VM_SPACE") == 0);
}

MT_MAIN()
