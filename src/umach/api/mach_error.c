/*
 * mach_error.c — mach_error_string, mach_error_type and mach_error with the strings and
 * lookup rules of Darwin's libsystem_kernel, so a program prints the same text on both.
 *
 * An error value is system (6 bits) | subsystem (12 bits) | code (14 bits). Darwin's quirks
 * are kept because programs and tests observe them:
 *   - old-style negative IPC codes (-100 … -399) and a few server ranges are first mapped
 *     to the err_ipc / err_server systems;
 *   - the vm strings sit in slot 7 (err_dipc), not 8 (err_vm); slot 7 subsystem 0 reuses the
 *     first two (ipc/send) strings;
 *   - a system with no table (err_vm itself, err_local, …) has no "unknown subsystem"
 *     text: both functions return NULL for it.
 * Not kept: err_us, err_server, err_libkern and err_iokit code tables (user-space servers and
 * I/O Kit have no meaning under umach); their codes get the system's "unknown subsystem"
 * text. The (os/unix) subsystem is named "(os/unix)", where Darwin's table has no name.
 */
#include "../um_export.h"

#include <mach/mach_error.h>

#include <stdio.h>

#define UM_NO_SUCH_ERROR "unknown error code"
#define UM_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const um_err_os_kern[] = {
    "(os/kern) successful", /* 0 */
    "(os/kern) invalid address", /* 1 */
    "(os/kern) protection failure", /* 2 */
    "(os/kern) no space available", /* 3 */
    "(os/kern) invalid argument", /* 4 */
    "(os/kern) failure", /* 5 */
    "(os/kern) resource shortage", /* 6 */
    "(os/kern) not receiver", /* 7 */
    "(os/kern) no access", /* 8 */
    "(os/kern) memory failure", /* 9 */
    "(os/kern) memory error", /* 10 */
    "(os/kern) already in set", /* 11 */
    "(os/kern) not in set", /* 12 */
    "(os/kern) name exists", /* 13 */
    "(os/kern) aborted", /* 14 */
    "(os/kern) invalid name", /* 15 */
    "(os/kern) invalid task", /* 16 */
    "(os/kern) invalid right", /* 17 */
    "(os/kern) invalid value", /* 18 */
    "(os/kern) urefs overflow", /* 19 */
    "(os/kern) invalid capability", /* 20 */
    "(os/kern) right exists", /* 21 */
    "(os/kern) invalid host", /* 22 */
    "(os/kern) memory present", /* 23 */
    "(os/kern) memory data moved", /* 24 */
    "(os/kern) memory restart copy", /* 25 */
    "(os/kern) invalid processor set", /* 26 */
    "(os/kern) policy limit", /* 27 */
    "(os/kern) invalid policy", /* 28 */
    "(os/kern) invalid object", /* 29 */
    "(os/kern) already waiting", /* 30 */
    "(os/kern) default set", /* 31 */
    "(os/kern) exception protected", /* 32 */
    "(os/kern) invalid ledger", /* 33 */
    "(os/kern) invalid memory control", /* 34 */
    "(os/kern) invalid security", /* 35 */
    "(os/kern) not depressed", /* 36 */
    "(os/kern) object terminated", /* 37 */
    "(os/kern) lock set destroyed", /* 38 */
    "(os/kern) lock unstable", /* 39 */
    "(os/kern) lock owned by another", /* 40 */
    "(os/kern) lock owned by self", /* 41 */
    "(os/kern) semaphore destroyed", /* 42 */
    "(os/kern) RPC terminated", /* 43 */
    "(os/kern) terminate orphan", /* 44 */
    "(os/kern) let orphan continue", /* 45 */
    "(os/kern) service not supported", /* 46 */
    "(os/kern) remote node down", /* 47 */
    "(os/kern) thread not waiting", /* 48 */
    "(os/kern) operation timed out", /* 49 */
    "(os/kern) code signing error", /* 50 */
    "(os/kern) policy is static", /* 51 */
    "(os/kern) insufficient input buffer size", /* 52 */
    "(os/kern) denied by security policy", /* 53 */
    "(os/kern) missing kernel collection", /* 54 */
    "(os/kern) invalid kernel collection", /* 55 */
    "(os/kern) result not found", /* 56 */
};

static const char *const um_err_os_unix[] = {
    UM_NO_SUCH_ERROR, /* 0 */
    "(os/unix) no rights to object", /* 1 */
    "(os/unix) file or directory does not exist", /* 2 */
    "(os/unix) no such process", /* 3 */
    "(os/unix) interrupted system call", /* 4 */
    "(os/unix) i/o error", /* 5 */
    "(os/unix) device does not exist", /* 6 */
    "(os/unix) argument list is too long", /* 7 */
    "(os/unix) invalid executable object format", /* 8 */
    "(os/unix) bad file descriptor number", /* 9 */
    "(os/unix) no child processes are present", /* 10 */
    "(os/unix) no more processes are available", /* 11 */
    "(os/unix) insufficient memory", /* 12 */
    "(os/unix) access denied", /* 13 */
    "(os/unix) memory access fault", /* 14 */
    "(os/unix) block device required for operation", /* 15 */
    "(os/unix) mount device busy", /* 16 */
    "(os/unix) file already exists", /* 17 */
    "(os/unix) cross device link", /* 18 */
    "(os/unix) device does not exist", /* 19 */
    "(os/unix) object is not a directory", /* 20 */
    "(os/unix) object is a directory", /* 21 */
    "(os/unix) invalid argument", /* 22 */
    "(os/unix) internal file table overflow", /* 23 */
    "(os/unix) maximum number of open files reached", /* 24 */
    "(os/unix) object is not a tty-like device", /* 25 */
    "(os/unix) executable object is in use", /* 26 */
    "(os/unix) file is too large", /* 27 */
    "(os/unix) no space is left on device", /* 28 */
    "(os/unix) illegal seek attempt", /* 29 */
    "(os/unix) read-only file system", /* 30 */
    "(os/unix) too many links", /* 31 */
    "(os/unix) broken pipe", /* 32 */
    "(os/unix) argument is too large", /* 33 */
    "(os/unix) result is out of range", /* 34 */
    "(os/unix) operation on device would block", /* 35 */
    "(os/unix) operation is now in progress", /* 36 */
    "(os/unix) operation is already in progress", /* 37 */
    "(os/unix) socket operation attempted on non-socket object", /* 38 */
    "(os/unix) destination address is required", /* 39 */
    "(os/unix) message is too long", /* 40 */
    "(os/unix) protocol type is incorrect for socket", /* 41 */
    "(os/unix) protocol type is not availaible", /* 42 */
    "(os/unix) protocol type is not supported", /* 43 */
    "(os/unix) socket type is not supported", /* 44 */
    "(os/unix) operation is not supported on sockets", /* 45 */
    "(os/unix) protocol family is not supported", /* 46 */
    "(os/unix) address family is not supported by protocol family", /* 47 */
    "(os/unix) address is already in use", /* 48 */
    "(os/unix) can't assign requested address", /* 49 */
    "(os/unix) network is down", /* 50 */
    "(os/unix) network is unreachable", /* 51 */
    "(os/unix) network dropped connection on reset", /* 52 */
    "(os/unix) software aborted connection", /* 53 */
    "(os/unix) connection reset by peer", /* 54 */
    "(os/unix) no buffer space is available", /* 55 */
    "(os/unix) socket is already connected", /* 56 */
    "(os/unix) socket is not connected", /* 57 */
    "(os/unix) can't send after socket shutdown", /* 58 */
    "(os/unix) too many references; can't splice", /* 59 */
    "(os/unix) connection timed out", /* 60 */
    "(os/unix) connection was refused", /* 61 */
    "(os/unix) too many levels of symbolic links", /* 62 */
    "(os/unix) file name exceeds system maximum limit", /* 63 */
    "(os/unix) host is down", /* 64 */
    "(os/unix) there is no route to host", /* 65 */
    "(os/unix) directory is not empty", /* 66 */
    "(os/unix) quota on number of processes exceeded", /* 67 */
    "(os/unix) quota on number of users exceeded", /* 68 */
    "(os/unix) quota on available disk space exceeded", /* 69 */
};

static const char *const um_err_mach_send[] = {
    "(ipc/send) no error", /* 0 */
    "(ipc/send) send in progress", /* 1 */
    "(ipc/send) invalid data", /* 2 */
    "(ipc/send) invalid destination port", /* 3 */
    "(ipc/send) timed out", /* 4 */
    "(ipc/send) invalid voucher", /* 5 */
    "(ipc/send) unused error", /* 6 */
    "(ipc/send) interrupted", /* 7 */
    "(ipc/send) msg too small", /* 8 */
    "(ipc/send) invalid reply port", /* 9 */
    "(ipc/send) invalid port right", /* 10 */
    "(ipc/send) invalid notify port", /* 11 */
    "(ipc/send) invalid memory", /* 12 */
    "(ipc/send) no msg buffer", /* 13 */
    "(ipc/send) msg too large", /* 14 */
    "(ipc/send) invalid msg-type", /* 15 */
    "(ipc/send) invalid msg-header", /* 16 */
    "(ipc/send) invalid msg-trailer", /* 17 */
    "(ipc/send) invalid context for reply", /* 18 */
    "(ipc/send) unused error", /* 19 */
    "(ipc/send) unused error", /* 20 */
    "(ipc/send) out-of-line buffer too large", /* 21 */
    "(ipc/send) destination does not accept OOL ports", /* 22 */
};

static const char *const um_err_mach_rcv[] = {
    "(ipc/rcv) no error", /* 0 */
    "(ipc/rcv) receive in progress", /* 1 */
    "(ipc/rcv) invalid name", /* 2 */
    "(ipc/rcv) timed out", /* 3 */
    "(ipc/rcv) msg too large", /* 4 */
    "(ipc/rcv) interrupted", /* 5 */
    "(ipc/rcv) port changed", /* 6 */
    "(ipc/rcv) invalid notify port", /* 7 */
    "(ipc/rcv) invalid data", /* 8 */
    "(ipc/rcv) port died", /* 9 */
    "(ipc/rcv) port in set", /* 10 */
    "(ipc/rcv) header error", /* 11 */
    "(ipc/rcv) body error", /* 12 */
    "(ipc/rcv) invalid scatter list entry", /* 13 */
    "(ipc/rcv) overwrite region too small", /* 14 */
    "(ipc/rcv) invalid msg-trailer", /* 15 */
    "(ipc/rcv) DIPC transport error", /* 16 */
};

static const char *const um_err_mach_mig[] = {
    "(ipc/mig) client type check failure", /* 0 */
    "(ipc/mig) wrong reply message ID", /* 1 */
    "(ipc/mig) server detected error", /* 2 */
    "(ipc/mig) bad request message ID", /* 3 */
    "(ipc/mig) server type check failure", /* 4 */
    "(ipc/mig) no reply should be sent", /* 5 */
    "(ipc/mig) server raised exception", /* 6 */
    "(ipc/mig) array not large enough", /* 7 */
    "(ipc/mig) server died", /* 8 */
    "(ipc/mig) unknown trailer format", /* 9 */
};

static const char *const um_err_old_send[] = {
    "(ipc/send) unknown error", /* 0 */
    "(ipc/send) invalid memory", /* 1 */
    "(ipc/send) invalid port", /* 2 */
    "(ipc/send) timed out", /* 3 */
    "(ipc/send) unused error", /* 4 */
    "(ipc/send) will notify", /* 5 */
    "(ipc/send) notify in progress", /* 6 */
    "(ipc/send) kernel refused message", /* 7 */
    "(ipc/send) send interrupted", /* 8 */
    "(ipc/send) send message too large", /* 9 */
    "(ipc/send) send message too small", /* 10 */
    "(ipc/send) message size changed while being copied", /* 11 */
};

static const char *const um_err_old_rcv[] = {
    "(ipc/rcv) unknown error", /* 0 */
    "(ipc/rcv) invalid memory", /* 1 */
    "(ipc/rcv) invalid port", /* 2 */
    "(ipc/rcv) receive timed out", /* 3 */
    "(ipc/rcv) message too large", /* 4 */
    "(ipc/rcv) no space for message data", /* 5 */
    "(ipc/rcv) only sender remaining", /* 6 */
    "(ipc/rcv) receive interrupted", /* 7 */
    "(ipc/rcv) port receiver changed or port became enabled", /* 8 */
};

static const char *const um_err_old_mig[] = {
    "(ipc/mig) type check failure in message interface", /* 0 */
    "(ipc/mig) wrong return message ID", /* 1 */
    "(ipc/mig) server detected error", /* 2 */
    "(ipc/mig) bad message ID", /* 3 */
    "(ipc/mig) server found wrong arguments", /* 4 */
    "(ipc/mig) no reply should be sent", /* 5 */
    "(ipc/mig) server raised exception", /* 6 */
    "(ipc/mig) user specified array not large enough for return info", /* 7 */
};

static const char *const um_err_vm_reclaim[] = {
    "(vm/reclaim) no error", /* 0 */
    "(vm/reclaim) invalid argument", /* 1 */
    "(vm/reclaim) operation not supported", /* 2 */
    "(vm/reclaim) invalid region size", /* 3 */
    "(vm/reclaim) invalid ring capacity", /* 4 */
    "(vm/reclaim) invalid reclaim ID", /* 5 */
    "(vm/reclaim) ring already instantiated", /* 6 */
    "(vm/reclaim) invalid ring", /* 7 */
};

struct um_err_sub {
    const char *name;
    int ncodes;
    const char *const *codes;
};

struct um_err_system {
    const char *bad_sub;
    int nsubs;
    const struct um_err_sub *subs;
};

#define UM_SUB(n, table) {(n), UM_COUNT(table), (table)}

static const struct um_err_sub um_err_kern_subs[] = {
    UM_SUB("(os/kern)", um_err_os_kern),
    {"(os/?)", 0, NULL},
    {"(os/?)", 0, NULL},
    UM_SUB("(os/unix)", um_err_os_unix),
};

static const struct um_err_sub um_err_ipc_subs[] = {
    UM_SUB("(ipc/send)", um_err_old_send),
    UM_SUB("(ipc/rcv)", um_err_old_rcv),
    UM_SUB("(ipc/mig)", um_err_old_mig),
};

static const struct um_err_sub um_err_mach_ipc_subs[] = {
    UM_SUB("(ipc/send)", um_err_mach_send),
    UM_SUB("(ipc/rcv)", um_err_mach_rcv),
    UM_SUB("(ipc/mig)", um_err_mach_mig),
};

static const struct um_err_sub um_err_vm_subs[] = {
    {"(vm/kernel)", 2, um_err_mach_send},
    UM_SUB("(vm/reclaim)", um_err_vm_reclaim),
};

/* Indexed by err_get_system(); slots without a table stay zero. */
static const struct um_err_system um_err_systems[err_max_system + 1] = {
    [0x00] = {"(operating system/?) unknown subsystem error", UM_COUNT(um_err_kern_subs),
              um_err_kern_subs},
    [0x01] = {"(user space/?) unknown subsystem error", 0, NULL},
    [0x02] = {"(server/?) unknown subsystem error", 0, NULL},
    [0x03] = {"(ipc/?) unknown subsystem error", UM_COUNT(um_err_ipc_subs), um_err_ipc_subs},
    [0x04] = {"(ipc/?) unknown subsystem error", UM_COUNT(um_err_mach_ipc_subs),
              um_err_mach_ipc_subs},
    [0x07] = {"(vm/?) unknown subsystem error", UM_COUNT(um_err_vm_subs), um_err_vm_subs},
    [0x37] = {"(libkern/?) unknown subsystem error", 0, NULL},
    [0x38] = {"(iokit/?) unknown subsystem error", 0, NULL},
};

/* Darwin first folds the pre-mach_msg numbering into the error systems. */
static mach_error_t um_err_compat(mach_error_t err)
{
    if (err > -200 && err <= -100)
        return -(err + 100) | err_ipc | err_sub(0);
    if (err > -300 && err <= -200)
        return -(err + 200) | err_ipc | err_sub(1);
    if (err > -400 && err <= -300)
        return -(err + 300) | err_mach_ipc | err_sub(2);
    if (err >= 1000 && err < 1100)
        return (err - 1000) | err_server | err_sub(0);
    if (err >= 1600 && err < 1700)
        return (err - 1600) | err_server | err_sub(1);
    if (err >= 27600 && err < 27700)
        return (err - 27600) | err_server | err_sub(2);
    return err;
}

/* The subsystem entry for err, or NULL; *sys gets the system entry. */
static const struct um_err_sub *um_err_lookup(mach_error_t err, const struct um_err_system **sys)
{
    *sys = &um_err_systems[err_get_system(err)];
    int sub = err_get_sub(err);
    return sub < (*sys)->nsubs ? &(*sys)->subs[sub] : NULL;
}

UM_EXPORT char *mach_error_type(mach_error_t error_value)
{
    UM_CALL_SCOPE;
    const struct um_err_system *sys;
    const struct um_err_sub *sub = um_err_lookup(um_err_compat(error_value), &sys);
    return (char *)(sub ? sub->name : "(?/?)");
}

/* The text, and whether Darwin's mach_error() adds the type and the number to it. */
static const char *um_err_text(mach_error_t err, int *diag)
{
    const struct um_err_system *sys;
    err = um_err_compat(err);
    const struct um_err_sub *sub = um_err_lookup(err, &sys);
    *diag = 1;
    if (!sub)
        return sys->bad_sub;
    int code = err_get_code(err);
    if (code >= sub->ncodes)
        return UM_NO_SUCH_ERROR;
    *diag = 0;
    return sub->codes[code];
}

UM_EXPORT char *mach_error_string(mach_error_t error_value)
{
    UM_CALL_SCOPE;
    int diag;
    return (char *)um_err_text(error_value, &diag);
}

UM_EXPORT void mach_error(const char *str, mach_error_t error_value)
{
    UM_CALL_SCOPE;
    int diag;
    const char *text = um_err_text(error_value, &diag);
    if (diag)
        fprintf(stderr, "%s %s %s (%x)\n", str, mach_error_type(error_value),
                text ? text : "(null)", (unsigned)error_value);
    else
        fprintf(stderr, "%s %s\n", str, text ? text : "(null)");
}
