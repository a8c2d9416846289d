/*
 * error.c — classify and print mach_msg_return_t / kern_return_t values.
 */
#include "mp_internal.h"

#include <string.h>

#include <stdio.h>

struct code_name {
    mach_msg_return_t code;
    const char *name;
};

#define N(c)                                                                                       \
    {                                                                                              \
        c, #c                                                                                      \
    }

/* Indexed by mp_send_error_kind (MP_SEND_OK .. MP_SEND_OTHER). */
static const struct code_name send_codes[] = {
    N(MACH_MSG_SUCCESS),
    N(MACH_SEND_IN_PROGRESS),
    N(MACH_SEND_INVALID_DATA),
    N(MACH_SEND_INVALID_DEST),
    N(MACH_SEND_TIMED_OUT),
    N(MACH_SEND_INVALID_VOUCHER),
    N(MACH_SEND_INTERRUPTED),
    N(MACH_SEND_MSG_TOO_SMALL),
    N(MACH_SEND_INVALID_REPLY),
    N(MACH_SEND_INVALID_RIGHT),
    N(MACH_SEND_INVALID_NOTIFY),
    N(MACH_SEND_INVALID_MEMORY),
    N(MACH_SEND_NO_BUFFER),
    N(MACH_SEND_TOO_LARGE),
    N(MACH_SEND_INVALID_TYPE),
    N(MACH_SEND_INVALID_HEADER),
    N(MACH_SEND_INVALID_TRAILER),
    {0x10000012, "MACH_SEND_INVALID_CONTEXT"},
    {0x10000013, "MACH_SEND_INVALID_OPTIONS"},
    N(MACH_SEND_INVALID_RT_OOL_SIZE),
    {0x10000016, "MACH_SEND_NO_GRANT_DEST"},
    {0x10000017, "MACH_SEND_MSG_FILTERED"},
};

/* Indexed by mp_recv_error_kind (MP_RCV_OK .. MP_RCV_OTHER). */
static const struct code_name recv_codes[] = {
    N(MACH_MSG_SUCCESS),
    N(MACH_RCV_IN_PROGRESS),
    N(MACH_RCV_INVALID_NAME),
    N(MACH_RCV_TIMED_OUT),
    N(MACH_RCV_TOO_LARGE),
    N(MACH_RCV_INTERRUPTED),
    N(MACH_RCV_PORT_CHANGED),
    N(MACH_RCV_INVALID_NOTIFY),
    N(MACH_RCV_INVALID_DATA),
    N(MACH_RCV_PORT_DIED),
    N(MACH_RCV_IN_SET),
    N(MACH_RCV_HEADER_ERROR),
    N(MACH_RCV_BODY_ERROR),
    N(MACH_RCV_INVALID_TYPE),
    N(MACH_RCV_SCATTER_SMALL),
    N(MACH_RCV_INVALID_TRAILER),
    N(MACH_RCV_IN_PROGRESS_TIMED),
    {0x10004012, "MACH_RCV_INVALID_REPLY"},
    {0x10004013, "MACH_RCV_INVALID_ARGUMENTS"},
    N(MIG_SERVER_DIED),
    N(MIG_REPLY_MISMATCH),
};

/* MIG's codes (negative kern_return_t values), for mp_kern_return_name and formatting. */
static const struct code_name mig_codes[] = {
    N(MIG_TYPE_ERROR),      N(MIG_REPLY_MISMATCH), N(MIG_REMOTE_ERROR), N(MIG_BAD_ID),
    N(MIG_BAD_ARGUMENTS),   N(MIG_NO_REPLY),       N(MIG_EXCEPTION),    N(MIG_ARRAY_TOO_LARGE),
    N(MIG_SERVER_DIED),     N(MIG_TRAILER_ERROR),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(COUNT(send_codes) == MP_SEND_OTHER, "one name per send error kind");
_Static_assert(COUNT(recv_codes) == MP_RCV_OTHER, "one name per receive error kind");

static const char *const kern_names[] = {
    "KERN_SUCCESS",
    "KERN_INVALID_ADDRESS",
    "KERN_PROTECTION_FAILURE",
    "KERN_NO_SPACE",
    "KERN_INVALID_ARGUMENT",
    "KERN_FAILURE",
    "KERN_RESOURCE_SHORTAGE",
    "KERN_NOT_RECEIVER",
    "KERN_NO_ACCESS",
    "KERN_MEMORY_FAILURE",
    "KERN_MEMORY_ERROR",
    "KERN_ALREADY_IN_SET",
    "KERN_NOT_IN_SET",
    "KERN_NAME_EXISTS",
    "KERN_ABORTED",
    "KERN_INVALID_NAME",
    "KERN_INVALID_TASK",
    "KERN_INVALID_RIGHT",
    "KERN_INVALID_VALUE",
    "KERN_UREFS_OVERFLOW",
    "KERN_INVALID_CAPABILITY",
    "KERN_RIGHT_EXISTS",
    "KERN_INVALID_HOST",
    "KERN_MEMORY_PRESENT",
    "KERN_MEMORY_DATA_MOVED",
    "KERN_MEMORY_RESTART_COPY",
    "KERN_INVALID_PROCESSOR_SET",
    "KERN_POLICY_LIMIT",
    "KERN_INVALID_POLICY",
    "KERN_INVALID_OBJECT",
    "KERN_ALREADY_WAITING",
    "KERN_DEFAULT_SET",
    "KERN_EXCEPTION_PROTECTED",
    "KERN_INVALID_LEDGER",
    "KERN_INVALID_MEMORY_CONTROL",
    "KERN_INVALID_SECURITY",
    "KERN_NOT_DEPRESSED",
    "KERN_TERMINATED",
    "KERN_LOCK_SET_DESTROYED",
    "KERN_LOCK_UNSTABLE",
    "KERN_LOCK_OWNED",
    "KERN_LOCK_OWNED_SELF",
    "KERN_SEMAPHORE_DESTROYED",
    "KERN_RPC_SERVER_TERMINATED",
    "KERN_RPC_TERMINATE_ORPHAN",
    "KERN_RPC_CONTINUE_ORPHAN",
    "KERN_NOT_SUPPORTED",
    "KERN_NODE_DOWN",
    "KERN_NOT_WAITING",
    "KERN_OPERATION_TIMED_OUT",
    "KERN_CODESIGN_ERROR",
    "KERN_POLICY_STATIC",
    "KERN_INSUFFICIENT_BUFFER_SIZE",
    "KERN_DENIED",
    "KERN_MISSING_KC",
    "KERN_INVALID_KC",
    "KERN_NOT_FOUND",
};

static const char *mig_name(kern_return_t kr)
{
    for (size_t i = 0; i < COUNT(mig_codes); i++)
        if (mig_codes[i].code == kr)
            return mig_codes[i].name;
    return NULL;
}

bool mp_msg_error_is_send(mach_msg_return_t mr)
{
    mach_msg_return_t c = mp_msg_error_code(mr);
    return (c & (mach_msg_return_t)0xFFFFC000) == 0x10000000;
}

bool mp_msg_error_is_recv(mach_msg_return_t mr)
{
    mach_msg_return_t c = mp_msg_error_code(mr);
    return (c & (mach_msg_return_t)0xFFFFC000) == 0x10004000;
}

mp_send_error_kind mp_send_error_kind_of(mach_msg_return_t mr)
{
    mach_msg_return_t c = mp_msg_error_code(mr);
    for (size_t i = 0; i < COUNT(send_codes); i++)
        if (send_codes[i].code == c)
            return (mp_send_error_kind)i;
    return MP_SEND_OTHER;
}

mp_recv_error_kind mp_recv_error_kind_of(mach_msg_return_t mr)
{
    /* MIG's codes are negative: their high bits are not shortage flags. */
    mach_msg_return_t c = mig_name(mr) ? mr : mp_msg_error_code(mr);
    for (size_t i = 0; i < COUNT(recv_codes); i++)
        if (recv_codes[i].code == c)
            return (mp_recv_error_kind)i;
    return MP_RCV_OTHER;
}

const char *mp_send_error_kind_name(mp_send_error_kind kind)
{
    if ((unsigned)kind < COUNT(send_codes))
        return send_codes[kind].name;
    return "MACH_SEND_OTHER";
}

const char *mp_recv_error_kind_name(mp_recv_error_kind kind)
{
    if ((unsigned)kind < COUNT(recv_codes))
        return recv_codes[kind].name;
    return "MACH_RCV_OTHER";
}

const char *mp_kern_return_name(kern_return_t kr)
{
    if (kr >= 0 && (size_t)kr < COUNT(kern_names))
        return kern_names[kr];
    const char *mig = mig_name(kr);
    return mig ? mig : "KERN_?";
}

int mp_msg_error_format(mach_msg_return_t mr, char *buf, size_t len)
{
    const char *name = NULL;
    mach_msg_return_t flags = mr & MACH_MSG_MASK;
    int n;

    if (mp_msg_error_is_send(mr)) {
        mp_send_error_kind k = mp_send_error_kind_of(mr);
        if (k != MP_SEND_OTHER)
            name = send_codes[k].name;
    } else if (mp_msg_error_is_recv(mr)) {
        mp_recv_error_kind k = mp_recv_error_kind_of(mr);
        if (k != MP_RCV_OTHER)
            name = recv_codes[k].name;
    } else if (mr == 0) {
        name = "MACH_MSG_SUCCESS";
    } else if (mig_name(mr)) {
        name = mig_name(mr);
        flags = 0;
    } else if (flags == 0 && mr > 0 && (size_t)mr < COUNT(kern_names)) {
        name = kern_names[mr];
    } else if (flags == mr) {
        name = ""; /* only shortage flags */
    }

    if (name)
        n = snprintf(buf, len, "%s", name);
    else
        n = snprintf(buf, len, "0x%08x", (unsigned)mr);
    if (n < 0)
        return n;
    if (name) {
        static const struct code_name fl[] = {N(MACH_MSG_IPC_SPACE), N(MACH_MSG_VM_SPACE),
                                              N(MACH_MSG_IPC_KERNEL), N(MACH_MSG_VM_KERNEL)};
        int first = name[0] == '\0';
        for (size_t i = 0; i < COUNT(fl); i++) {
            if (!(flags & fl[i].code))
                continue;
            size_t off = (size_t)n < len ? (size_t)n : len;
            const char *sep = first ? "" : "|";
            if (buf && off < len)
                (void)snprintf(buf + off, len - off, "%s%s", sep, fl[i].name);
            n += (int)(strlen(sep) + strlen(fl[i].name));
            first = 0;
        }
    }
    return n;
}

void mp_msg_error_print(FILE *out, const char *prefix, mach_msg_return_t mr)
{
    char buf[160];
    (void)mp_msg_error_format(mr, buf, sizeof buf);
    if (prefix && *prefix)
        (void)fprintf(out, "%s: %s\n", prefix, buf);
    else
        (void)fprintf(out, "%s\n", buf);
}
