/*
 * mach_error.c — mach_error_string, mach_error_type and mach_error print the same text as
 * Darwin's libsystem_kernel for kernel, IPC and MIG codes, old-style negative codes and
 * unknown values.
 */
#if !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* mkstemp, dup under -std=c11 */
#endif
#include "mt.h"

#include <mach/mach.h>
#include <mach/mach_error.h>
#include <mach/mig_errors.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static int same(const char *got, const char *want)
{
    if (got == NULL || strcmp(got, want) != 0) {
        fprintf(stderr, "  got \"%s\", want \"%s\"\n", got ? got : "(NULL)", want);
        return 0;
    }
    return 1;
}

MT_TEST(kern_return_codes_have_darwin_strings)
{
    MT_CHECK(same(mach_error_string(KERN_SUCCESS), "(os/kern) successful"));
    MT_CHECK(same(mach_error_string(KERN_INVALID_ADDRESS), "(os/kern) invalid address"));
    MT_CHECK(same(mach_error_string(KERN_NO_SPACE), "(os/kern) no space available"));
    MT_CHECK(same(mach_error_string(KERN_INVALID_ARGUMENT), "(os/kern) invalid argument"));
    MT_CHECK(same(mach_error_string(KERN_FAILURE), "(os/kern) failure"));
    MT_CHECK(same(mach_error_string(KERN_RESOURCE_SHORTAGE), "(os/kern) resource shortage"));
    MT_CHECK(same(mach_error_string(KERN_NOT_RECEIVER), "(os/kern) not receiver"));
    MT_CHECK(same(mach_error_string(KERN_ALREADY_IN_SET), "(os/kern) already in set"));
    MT_CHECK(same(mach_error_string(KERN_NOT_IN_SET), "(os/kern) not in set"));
    MT_CHECK(same(mach_error_string(KERN_NAME_EXISTS), "(os/kern) name exists"));
    MT_CHECK(same(mach_error_string(KERN_INVALID_NAME), "(os/kern) invalid name"));
    MT_CHECK(same(mach_error_string(KERN_INVALID_TASK), "(os/kern) invalid task"));
    MT_CHECK(same(mach_error_string(KERN_INVALID_RIGHT), "(os/kern) invalid right"));
    MT_CHECK(same(mach_error_string(KERN_INVALID_VALUE), "(os/kern) invalid value"));
    MT_CHECK(same(mach_error_string(KERN_UREFS_OVERFLOW), "(os/kern) urefs overflow"));
    MT_CHECK(same(mach_error_string(KERN_INVALID_CAPABILITY), "(os/kern) invalid capability"));
    MT_CHECK(same(mach_error_string(KERN_RIGHT_EXISTS), "(os/kern) right exists"));
    MT_CHECK(same(mach_error_string(KERN_ABORTED), "(os/kern) aborted"));
    MT_CHECK(same(mach_error_string(KERN_OPERATION_TIMED_OUT), "(os/kern) operation timed out"));
    MT_CHECK(same(mach_error_string(KERN_NOT_SUPPORTED), "(os/kern) service not supported"));
    MT_CHECK(same(mach_error_string(KERN_DENIED), "(os/kern) denied by security policy"));
    MT_CHECK(same(mach_error_type(KERN_INVALID_NAME), "(os/kern)"));
}

MT_TEST(unknown_kern_code_is_unknown_error_code)
{
    MT_CHECK(same(mach_error_string(4000), "unknown error code"));
    MT_CHECK(same(mach_error_type(4000), "(os/kern)"));
    MT_CHECK(same(mach_error_string(err_kern | err_sub(1) | 3), "unknown error code"));
    MT_CHECK(same(mach_error_type(err_kern | err_sub(1)), "(os/?)"));
    MT_CHECK(same(mach_error_string(err_kern | err_sub(77) | 1),
                  "(operating system/?) unknown subsystem error"));
    MT_CHECK(same(mach_error_type(err_kern | err_sub(77) | 1), "(?/?)"));
}

MT_TEST(mach_msg_send_codes_have_darwin_strings)
{
    MT_CHECK(same(mach_error_string(MACH_MSG_SUCCESS), "(os/kern) successful"));
    MT_CHECK(same(mach_error_string(MACH_SEND_IN_PROGRESS), "(ipc/send) send in progress"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INVALID_DATA), "(ipc/send) invalid data"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INVALID_DEST),
                  "(ipc/send) invalid destination port"));
    MT_CHECK(same(mach_error_string(MACH_SEND_TIMED_OUT), "(ipc/send) timed out"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INVALID_VOUCHER), "(ipc/send) invalid voucher"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INTERRUPTED), "(ipc/send) interrupted"));
    MT_CHECK(same(mach_error_string(MACH_SEND_MSG_TOO_SMALL), "(ipc/send) msg too small"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INVALID_REPLY), "(ipc/send) invalid reply port"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INVALID_RIGHT), "(ipc/send) invalid port right"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INVALID_NOTIFY),
                  "(ipc/send) invalid notify port"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INVALID_MEMORY), "(ipc/send) invalid memory"));
    MT_CHECK(same(mach_error_string(MACH_SEND_NO_BUFFER), "(ipc/send) no msg buffer"));
    MT_CHECK(same(mach_error_string(MACH_SEND_TOO_LARGE), "(ipc/send) msg too large"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INVALID_TYPE), "(ipc/send) invalid msg-type"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INVALID_HEADER), "(ipc/send) invalid msg-header"));
    MT_CHECK(same(mach_error_string(MACH_SEND_INVALID_TRAILER),
                  "(ipc/send) invalid msg-trailer"));
    MT_CHECK(same(mach_error_type(MACH_SEND_INVALID_DEST), "(ipc/send)"));
}

MT_TEST(mach_msg_receive_codes_have_darwin_strings)
{
    MT_CHECK(same(mach_error_string(MACH_RCV_IN_PROGRESS), "(ipc/rcv) receive in progress"));
    MT_CHECK(same(mach_error_string(MACH_RCV_INVALID_NAME), "(ipc/rcv) invalid name"));
    MT_CHECK(same(mach_error_string(MACH_RCV_TIMED_OUT), "(ipc/rcv) timed out"));
    MT_CHECK(same(mach_error_string(MACH_RCV_TOO_LARGE), "(ipc/rcv) msg too large"));
    MT_CHECK(same(mach_error_string(MACH_RCV_INTERRUPTED), "(ipc/rcv) interrupted"));
    MT_CHECK(same(mach_error_string(MACH_RCV_PORT_CHANGED), "(ipc/rcv) port changed"));
    MT_CHECK(same(mach_error_string(MACH_RCV_INVALID_NOTIFY), "(ipc/rcv) invalid notify port"));
    MT_CHECK(same(mach_error_string(MACH_RCV_INVALID_DATA), "(ipc/rcv) invalid data"));
    MT_CHECK(same(mach_error_string(MACH_RCV_PORT_DIED), "(ipc/rcv) port died"));
    MT_CHECK(same(mach_error_string(MACH_RCV_IN_SET), "(ipc/rcv) port in set"));
    MT_CHECK(same(mach_error_string(MACH_RCV_HEADER_ERROR), "(ipc/rcv) header error"));
    MT_CHECK(same(mach_error_string(MACH_RCV_BODY_ERROR), "(ipc/rcv) body error"));
    MT_CHECK(same(mach_error_string(MACH_RCV_INVALID_TYPE),
                  "(ipc/rcv) invalid scatter list entry"));
    MT_CHECK(same(mach_error_string(MACH_RCV_SCATTER_SMALL),
                  "(ipc/rcv) overwrite region too small"));
    MT_CHECK(same(mach_error_string(MACH_RCV_INVALID_TRAILER), "(ipc/rcv) invalid msg-trailer"));
    MT_CHECK(same(mach_error_type(MACH_RCV_TIMED_OUT), "(ipc/rcv)"));
}

MT_TEST(mig_codes_have_darwin_strings)
{
    MT_CHECK(same(mach_error_string(MIG_TYPE_ERROR), "(ipc/mig) client type check failure"));
    MT_CHECK(same(mach_error_string(MIG_REPLY_MISMATCH), "(ipc/mig) wrong reply message ID"));
    MT_CHECK(same(mach_error_string(MIG_REMOTE_ERROR), "(ipc/mig) server detected error"));
    MT_CHECK(same(mach_error_string(MIG_BAD_ID), "(ipc/mig) bad request message ID"));
    MT_CHECK(same(mach_error_string(MIG_BAD_ARGUMENTS), "(ipc/mig) server type check failure"));
    MT_CHECK(same(mach_error_string(MIG_NO_REPLY), "(ipc/mig) no reply should be sent"));
    MT_CHECK(same(mach_error_string(MIG_EXCEPTION), "(ipc/mig) server raised exception"));
    MT_CHECK(same(mach_error_string(MIG_ARRAY_TOO_LARGE), "(ipc/mig) array not large enough"));
    MT_CHECK(same(mach_error_string(MIG_SERVER_DIED), "(ipc/mig) server died"));
    MT_CHECK(same(mach_error_string(MIG_TRAILER_ERROR), "(ipc/mig) unknown trailer format"));
    MT_CHECK(same(mach_error_type(MIG_BAD_ID), "(ipc/mig)"));
}

MT_TEST(old_ipc_system_keeps_its_own_mig_strings)
{
    MT_CHECK(same(mach_error_string(err_ipc | err_sub(2) | 3), "(ipc/mig) bad message ID"));
    MT_CHECK(same(mach_error_string(err_ipc | err_sub(2) | 7),
                  "(ipc/mig) user specified array not large enough for return info"));
    MT_CHECK(same(mach_error_string(err_ipc | err_sub(2) | 8), "unknown error code"));
}

MT_TEST(old_negative_ipc_codes_map_to_the_old_ipc_system)
{
    MT_CHECK(same(mach_error_string(-100), "(ipc/send) unknown error"));
    MT_CHECK(same(mach_error_string(-102), "(ipc/send) invalid port"));
    MT_CHECK(same(mach_error_string(-111), "(ipc/send) message size changed while being copied"));
    MT_CHECK(same(mach_error_string(-112), "unknown error code"));
    MT_CHECK(same(mach_error_string(-203), "(ipc/rcv) receive timed out"));
    MT_CHECK(same(mach_error_string(-208),
                  "(ipc/rcv) port receiver changed or port became enabled"));
    MT_CHECK(same(mach_error_type(-150), "(ipc/send)"));
    MT_CHECK(same(mach_error_type(-250), "(ipc/rcv)"));
}

MT_TEST(unknown_subsystem_of_a_known_system_names_the_system)
{
    MT_CHECK(same(mach_error_string(err_mach_ipc | err_sub(9) | 1),
                  "(ipc/?) unknown subsystem error"));
    MT_CHECK(same(mach_error_string(err_ipc | err_sub(3)), "(ipc/?) unknown subsystem error"));
    MT_CHECK(same(mach_error_string(err_mach_ipc | err_sub(0) | 500), "unknown error code"));
    MT_CHECK(same(mach_error_string(err_server | err_sub(30) | 1),
                  "(server/?) unknown subsystem error"));
    MT_CHECK(same(mach_error_type(err_mach_ipc | err_sub(9) | 1), "(?/?)"));
}

MT_TEST(a_system_without_a_table_has_no_string)
{
    MT_CHECK(mach_error_string(err_local | 5) == NULL);
    MT_CHECK(same(mach_error_type(err_local | 5), "(?/?)"));
}

/* Run mach_error() with stderr redirected into a file and return what it printed. */
static void capture_mach_error(const char *prefix, mach_error_t err, char *out, size_t cap)
{
    char path[] = "/tmp/mt_mach_error_XXXXXX";
    int fd = mkstemp(path);
    out[0] = '\0';
    if (fd < 0)
        return;
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    mach_error(prefix, err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

MT_TEST(mach_error_prints_prefix_and_string_for_a_known_code)
{
    char buf[512];
    capture_mach_error("allocate:", KERN_INVALID_NAME, buf, sizeof buf);
    MT_CHECK(same(buf, "allocate: (os/kern) invalid name\n"));
    capture_mach_error("send:", MACH_SEND_TIMED_OUT, buf, sizeof buf);
    MT_CHECK(same(buf, "send: (ipc/send) timed out\n"));
}

MT_TEST(mach_error_adds_type_and_hex_value_for_an_unknown_code)
{
    char buf[512];
    capture_mach_error("x", 4000, buf, sizeof buf);
    MT_CHECK(same(buf, "x (os/kern) unknown error code (fa0)\n"));
    capture_mach_error("y", err_mach_ipc | err_sub(9) | 1, buf, sizeof buf);
    MT_CHECK(same(buf, "y (?/?) (ipc/?) unknown subsystem error (10024001)\n"));
}

MT_MAIN()
