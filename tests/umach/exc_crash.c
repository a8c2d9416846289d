/*
 * exc_crash.c — a process that dies of a signal that dumps core (a fault nobody handled,
 * abort) first raises EXC_CRASH, as XNU's proc_prepareexit does, to its EXC_CRASH port in
 * another process: the crash reporter gets mach_exception_raise with code[0] = the signal in
 * bits 24-31, the fault's exception in bits 20-23 and the low 20 bits of its code, code[1] =
 * the fault's address, and the dying task's port; the process still dies of the signal. A
 * port the dying task receives itself is never sent EXC_CRASH (it would wait for itself).
 * This program also runs inside a world, where a forked child's inherited port is its
 * parent's: the reporter is the parent. In embedded mode the child's inherited port is dead,
 * and the child dies of the signal without a message. The signal in code[0] is Darwin's
 * number (bsd/sys/signal.h), where Linux's differs: SIGBUS 10, SIGSYS 12.
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/exception_types.h>
#include <mach/mach.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The children die of SIGSEGV, SIGBUS and SIGABRT: a sanitizer's own handlers would report
 * and exit, and they start the exception worker after a fork of a threaded process. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EC_TSAN 1
#endif
#if __has_feature(address_sanitizer)
#define EC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(EC_TSAN)
#define EC_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(EC_ASAN)
#define EC_ASAN 1
#endif
#ifdef EC_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0:handle_segv=0:handle_sigbus=0:handle_abort=0";
}
#endif
#ifdef EC_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "handle_segv=0:handle_sigbus=0:handle_abort=0";
}
#endif

#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t Head;
    mach_msg_body_t msgh_body;
    mach_msg_port_descriptor_t thread;
    mach_msg_port_descriptor_t task;
    NDR_record_t NDR;
    exception_type_t exception;
    mach_msg_type_number_t codeCnt;
    int64_t code[2];
} ec_req;

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
} ec_reply;
#pragma pack(pop)

static bool ec_world(void)
{
    return getenv("UMACH_WORLD") != NULL;
}

static mach_port_t ec_port_with_send(void)
{
    mach_port_t port = MACH_PORT_NULL;
    (void)mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port);
    (void)mach_port_insert_right(mach_task_self(), port, port, MACH_MSG_TYPE_MAKE_SEND);
    return port;
}

/* What the reporter saw, and how the child ended. */
typedef struct {
    mach_msg_return_t mr;
    mach_msg_id_t id;
    exception_type_t exception;
    int64_t code[2];
    bool other_task;
    int status;
} ec_seen;

/* Fork a child that runs `crash`, with `port` the task's EXC_CRASH port (inherited); serve
 * its EXC_CRASH if one comes within `wait` ms (answering `answer`), then reap it. */
static void ec_run(mach_port_t port, void (*crash)(void), kern_return_t answer,
                   mach_msg_timeout_t wait, ec_seen *seen)
{
    memset(seen, 0, sizeof *seen);
    (void)task_set_exception_ports(mach_task_self(), EXC_MASK_CRASH, port,
                                   (exception_behavior_t)(EXCEPTION_DEFAULT |
                                                          MACH_EXCEPTION_CODES),
                                   THREAD_STATE_NONE);
    pid_t pid = fork();
    if (pid == 0) {
        crash();
        _exit(3);
    }
    union {
        ec_req req;
        uint8_t bytes[512];
    } m;
    memset(&m, 0, sizeof m);
    seen->mr = mach_msg(&m.req.Head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, port,
                        wait, MACH_PORT_NULL);
    if (seen->mr == MACH_MSG_SUCCESS) {
        seen->id = m.req.Head.msgh_id;
        seen->exception = m.req.exception;
        memcpy(seen->code, m.req.code, sizeof seen->code);
        seen->other_task = MACH_PORT_VALID(m.req.task.name) &&
                           m.req.task.name != mach_task_self();
        if (MACH_PORT_VALID(m.req.task.name))
            (void)mach_port_deallocate(mach_task_self(), m.req.task.name);
        if (MACH_PORT_VALID(m.req.thread.name))
            (void)mach_port_deallocate(mach_task_self(), m.req.thread.name);
        ec_reply r;
        memset(&r, 0, sizeof r);
        r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(m.req.Head.msgh_bits), 0);
        r.Head.msgh_size = sizeof r;
        r.Head.msgh_remote_port = m.req.Head.msgh_remote_port;
        r.Head.msgh_id = m.req.Head.msgh_id + 100;
        r.NDR = NDR_record;
        r.RetCode = answer;
        (void)mach_msg(&r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL,
                       MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    }
    (void)waitpid(pid, &seen->status, 0);
    (void)task_set_exception_ports(mach_task_self(), EXC_MASK_CRASH, MACH_PORT_NULL,
                                   EXCEPTION_DEFAULT, 0);
}

static void *ec_no_access;

static void ec_fault(void)
{
    (void)*(volatile int *)ec_no_access;
}

static void ec_abort(void)
{
    abort();
}

MT_TEST(a_fault_that_kills_the_process_is_exc_crash_to_its_reporter_and_the_process_still_dies)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    ec_no_access = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(ec_no_access != MAP_FAILED);
    mach_port_t port = ec_port_with_send();
    ec_seen seen;
    /* Even a success answer does not save it. */
    ec_run(port, ec_fault, KERN_SUCCESS, ec_world() ? 10000 : 200, &seen);
    MT_CHECK(WIFSIGNALED(seen.status));
    if (WIFSIGNALED(seen.status))
        MT_EQ(WTERMSIG(seen.status), SIGSEGV);
    if (ec_world()) {
        MT_KR(seen.mr, MACH_MSG_SUCCESS);
        MT_EQ(seen.id, 2405);
        MT_EQ(seen.exception, EXC_CRASH);
        MT_EQ(seen.code[0], ((int64_t)SIGSEGV << 24) | ((int64_t)EXC_BAD_ACCESS << 20) |
                                KERN_PROTECTION_FAILURE);
        MT_EQ(seen.code[1], (int64_t)(intptr_t)ec_no_access);
        MT_CHECK(seen.other_task);
    } else {
        MT_KR(seen.mr, MACH_RCV_TIMED_OUT); /* the inherited port is dead in the child */
    }
    MT_KR(mach_port_destruct(mach_task_self(), port, -1, 0), KERN_SUCCESS);
    MT_EQ(munmap(ec_no_access, page), 0);
}

MT_TEST(abort_is_exc_crash_with_sigabrt_and_no_fault)
{
    mach_port_t port = ec_port_with_send();
    ec_seen seen;
    ec_run(port, ec_abort, KERN_FAILURE, ec_world() ? 10000 : 200, &seen);
    MT_CHECK(WIFSIGNALED(seen.status));
    if (WIFSIGNALED(seen.status))
        MT_EQ(WTERMSIG(seen.status), SIGABRT);
    if (ec_world()) {
        MT_KR(seen.mr, MACH_MSG_SUCCESS);
        MT_EQ(seen.exception, EXC_CRASH);
        MT_EQ(seen.code[0], (int64_t)SIGABRT << 24);
        MT_EQ(seen.code[1], 0);
        MT_CHECK(seen.other_task);
    } else {
        MT_KR(seen.mr, MACH_RCV_TIMED_OUT);
    }
    MT_KR(mach_port_destruct(mach_task_self(), port, -1, 0), KERN_SUCCESS);
}

/* Darwin's numbers of the signals whose number differs on Linux. */
enum { EC_DARWIN_SIGBUS = 10, EC_DARWIN_SIGSYS = 12 };

static void ec_raise_sigbus(void)
{
    (void)raise(SIGBUS);
}

static void ec_raise_sigsys(void)
{
    (void)raise(SIGSYS);
}

/* A signal sent (no fault) that dumps core: EXC_CRASH with only the signal, by Darwin's
 * number; the process dies of it by its own number. */
static void ec_check_sent(void (*crash)(void), int sig, int darwin_sig)
{
    mach_port_t port = ec_port_with_send();
    ec_seen seen;
    ec_run(port, crash, KERN_FAILURE, ec_world() ? 10000 : 200, &seen);
    MT_CHECK(WIFSIGNALED(seen.status));
    if (WIFSIGNALED(seen.status))
        MT_EQ(WTERMSIG(seen.status), sig);
    if (ec_world()) {
        MT_KR(seen.mr, MACH_MSG_SUCCESS);
        MT_EQ(seen.exception, EXC_CRASH);
        MT_EQ(seen.code[0], (int64_t)darwin_sig << 24);
        MT_EQ((seen.code[0] >> 24) & 0xff, darwin_sig);
        MT_EQ(seen.code[1], 0);
        MT_CHECK(seen.other_task);
    } else {
        MT_KR(seen.mr, MACH_RCV_TIMED_OUT);
    }
    MT_KR(mach_port_destruct(mach_task_self(), port, -1, 0), KERN_SUCCESS);
}

MT_TEST(exc_crash_carries_darwins_number_of_sigbus)
{
    ec_check_sent(ec_raise_sigbus, SIGBUS, EC_DARWIN_SIGBUS);
}

MT_TEST(exc_crash_carries_darwins_number_of_sigsys)
{
    ec_check_sent(ec_raise_sigsys, SIGSYS, EC_DARWIN_SIGSYS);
}

/* The child sets a port it receives itself: the crash does not wait for it. */
static void ec_own_port_then_abort(void)
{
    mach_port_t own = ec_port_with_send();
    (void)task_set_exception_ports(mach_task_self(), EXC_MASK_CRASH, own,
                                   (exception_behavior_t)(EXCEPTION_DEFAULT |
                                                          MACH_EXCEPTION_CODES),
                                   THREAD_STATE_NONE);
    alarm(20); /* a wait for itself would end here, of SIGALRM */
    abort();
}

MT_TEST(exc_crash_never_goes_to_a_port_the_dying_task_receives_itself)
{
    mach_port_t port = ec_port_with_send();
    ec_seen seen;
    ec_run(port, ec_own_port_then_abort, KERN_FAILURE, 200, &seen);
    MT_CHECK(WIFSIGNALED(seen.status));
    if (WIFSIGNALED(seen.status))
        MT_EQ(WTERMSIG(seen.status), SIGABRT);
    MT_KR(seen.mr, MACH_RCV_TIMED_OUT); /* its own port replaced the inherited one */
    MT_KR(mach_port_destruct(mach_task_self(), port, -1, 0), KERN_SUCCESS);
}

MT_MAIN()
