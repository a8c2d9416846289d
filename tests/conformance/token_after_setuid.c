/*
 * A task's security and audit tokens are its credentials at send time: a process that started
 * as root and dropped to nobody (65534) speaks as nobody from then on, in every trailer and in
 * task_info(TASK_AUDIT_TOKEN / TASK_SECURITY_TOKEN), as XNU updates a task's token when its
 * credentials change. Each case runs in a forked child (it cannot give root back); without
 * root the tokens are still checked against the process's unchanged credentials.
 */
#define _GNU_SOURCE /* setresuid, setresgid (Linux) */
#include "notify_util.h"

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534u

typedef union {
    mach_msg_header_t h;
    uint8_t bytes[256];
} tk_rbuf;

/* Send an empty message to `p` and receive it with the audit trailer; 0 on success. */
static int tk_round_trip(mach_port_name_t p, mach_msg_audit_trailer_t *t)
{
    mach_msg_header_t m;
    memset(&m, 0, sizeof m);
    m.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    m.msgh_size = sizeof m;
    m.msgh_remote_port = p;
    if (mach_msg(&m, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return 1;
    tk_rbuf r;
    memset(&r, 0, sizeof r);
    mach_msg_option_t opt = MACH_RCV_MSG | MACH_RCV_TIMEOUT |
                            MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
                            MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT);
    if (mach_msg(&r.h, opt, 0, sizeof r, p, 0, MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return 2;
    memcpy(t, r.bytes + sizeof(mach_msg_header_t), sizeof *t);
    return t->msgh_trailer_size == sizeof *t ? 0 : 3;
}

/*
 * The tokens of a message sent now and task_info's both show the process's current
 * credentials (the audit token's euid, egid, ruid, rgid and pid; the security token's euid
 * and egid). 0 when they do, else the number of the first check that failed.
 */
static int tk_tokens_are_current(mach_port_name_t p)
{
    mach_msg_audit_trailer_t t;
    int rt = tk_round_trip(p, &t);
    if (rt)
        return 10 + rt;
    if (t.msgh_audit.val[1] != geteuid() || t.msgh_audit.val[2] != getegid())
        return 20;
    if (t.msgh_audit.val[3] != getuid() || t.msgh_audit.val[4] != getgid())
        return 21;
    if (t.msgh_audit.val[5] != (unsigned)getpid())
        return 22;
    if (t.msgh_sender.val[0] != geteuid() || t.msgh_sender.val[1] != getegid())
        return 23;
    audit_token_t at;
    security_token_t st;
    mach_msg_type_number_t n = TASK_AUDIT_TOKEN_COUNT;
    if (task_info(mach_task_self(), TASK_AUDIT_TOKEN, (task_info_t)&at, &n) != KERN_SUCCESS ||
        n != TASK_AUDIT_TOKEN_COUNT)
        return 30;
    if (memcmp(&at, &t.msgh_audit, sizeof at) != 0)
        return 31;
    n = TASK_SECURITY_TOKEN_COUNT;
    if (task_info(mach_task_self(), TASK_SECURITY_TOKEN, (task_info_t)&st, &n) != KERN_SUCCESS ||
        n != TASK_SECURITY_TOKEN_COUNT)
        return 32;
    if (memcmp(&st, &t.msgh_sender, sizeof st) != 0)
        return 33;
    return 0;
}

enum tk_drop { TK_SETUID, TK_SETEUID, TK_SETRESUID };

static int tk_drop_to_nobody(enum tk_drop how)
{
    switch (how) {
    case TK_SETUID:
        return setgid(NOBODY) || setuid(NOBODY);
    case TK_SETEUID:
        return setegid(NOBODY) || seteuid(NOBODY);
    case TK_SETRESUID:
#ifdef __linux__
        return setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY);
#else
        return setgid(NOBODY) || setuid(NOBODY); /* Darwin has no setres*id */
#endif
    }
    return 1;
}

/*
 * In a forked child: check the tokens, drop to nobody (`how`), check that they follow, and
 * exit with 0 or the failing check's number.
 */
static int tk_child_drops(enum tk_drop how)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        mach_port_name_t p = MACH_PORT_NULL;
        if (mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
            _exit(1);
        int bad = tk_tokens_are_current(p); /* sampled before the change, as root */
        if (bad)
            _exit(bad);
        if (geteuid() == 0) {
            if (tk_drop_to_nobody(how) != 0)
                _exit(2);
            if (geteuid() != NOBODY || getegid() != NOBODY)
                _exit(3);
        }
        bad = tk_tokens_are_current(p);
        if (!bad && geteuid() == NOBODY) {
            /* and the value itself, not only agreement with getuid() */
            mach_msg_audit_trailer_t t;
            bad = tk_round_trip(p, &t) ? 40 : t.msgh_audit.val[1] == NOBODY ? 0 : 41;
        }
        _exit(bad);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -2;
    return WEXITSTATUS(st);
}

MT_TEST(a_process_that_drops_from_root_to_nobody_with_setuid_sends_as_nobody)
{
    if (geteuid() != 0)
        fprintf(stderr, "  (not root: the tokens are checked without a credential change)\n");
    MT_EQ(tk_child_drops(TK_SETUID), 0);
}

MT_TEST(a_process_that_drops_its_effective_ids_to_nobody_sends_with_euid_nobody)
{
    MT_EQ(tk_child_drops(TK_SETEUID), 0);
}

MT_TEST(a_process_that_drops_to_nobody_with_setresgid_and_setresuid_sends_as_nobody)
{
    MT_EQ(tk_child_drops(TK_SETRESUID), 0);
}

MT_MAIN()
