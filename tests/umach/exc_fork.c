/*
 * exc_fork.c — a forked child inherits its parent's task exception ports (XNU's ipc_task_init
 * copies them, with their behaviours and flavours), never a thread's. This program also runs
 * inside a world, where the ports are the parent's own (umachd keeps the slots): the child's
 * fault goes to the parent's handler, which sees the child's task, and the child dies of the
 * signal once the handler answers failure. In embedded mode the parent's ports are in another
 * process, out of the child's reach: the child's slots hold dead ports, and its fault is the
 * signal at once. exec keeps the task's ports (the same task on Darwin; in a world umachd
 * passes them on to the new image).
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/exception_types.h>
#include <mach/mach.h>
#include <mach/thread_act.h>

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The child starts threads after a fork of a threaded process (the exception worker), and dies
 * of its SIGSEGV: a sanitizer's own SIGSEGV handler would report it and exit instead.
 */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EF_TSAN 1
#endif
#if __has_feature(address_sanitizer)
#define EF_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(EF_TSAN)
#define EF_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(EF_ASAN)
#define EF_ASAN 1
#endif
#ifdef EF_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0:handle_segv=0";
}
#endif
#ifdef EF_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "handle_segv=0";
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
} ef_req;

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
} ef_reply;
#pragma pack(pop)

#define EF_BEHAVIOR ((exception_behavior_t)(EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES))

/*
 * The image a forked child execs (EF_EXEC_CHECK set): on Darwin exec keeps the task's
 * exception ports, so in a world they are still there; an embedded process that execs is a new
 * world, with none. Exit status 0 when so, else which check failed.
 */
__attribute__((constructor)) static void ef_exec_check(void)
{
    const char *mode = getenv("EF_EXEC_CHECK");
    if (!mode)
        return;
    exception_mask_t masks[EXC_TYPES_COUNT];
    mach_msg_type_number_t count = EXC_TYPES_COUNT;
    mach_port_t ports[EXC_TYPES_COUNT];
    exception_behavior_t behaviors[EXC_TYPES_COUNT];
    thread_state_flavor_t flavors[EXC_TYPES_COUNT];
    if (task_get_exception_ports(mach_task_self(), EXC_MASK_BAD_ACCESS | EXC_MASK_ARITHMETIC,
                                 masks, &count, ports, behaviors, flavors) != KERN_SUCCESS ||
        count != 1 || masks[0] != (EXC_MASK_BAD_ACCESS | EXC_MASK_ARITHMETIC))
        _exit(20);
    if (strcmp(mode, "world") == 0) {
        if (!MACH_PORT_VALID(ports[0]) ||
            behaviors[0] != (exception_behavior_t)(EXCEPTION_DEFAULT | MACH_EXCEPTION_CODES))
            _exit(21);
    } else if (ports[0] != MACH_PORT_NULL || behaviors[0] != 0) {
        _exit(22);
    }
    _exit(0);
}

/* The child's checks: a distinct exit status for each that fails, else it faults. */
static void ef_child(bool world, volatile int *no_access)
{
    exception_mask_t masks[EXC_TYPES_COUNT];
    mach_msg_type_number_t count = EXC_TYPES_COUNT;
    mach_port_t ports[EXC_TYPES_COUNT];
    exception_behavior_t behaviors[EXC_TYPES_COUNT];
    thread_state_flavor_t flavors[EXC_TYPES_COUNT];
    if (task_get_exception_ports(mach_task_self(), EXC_MASK_BAD_ACCESS | EXC_MASK_ARITHMETIC,
                                 masks, &count, ports, behaviors, flavors) != KERN_SUCCESS)
        _exit(10);
    if (count != 1 || masks[0] != (EXC_MASK_BAD_ACCESS | EXC_MASK_ARITHMETIC))
        _exit(11);
    if (behaviors[0] != EF_BEHAVIOR || flavors[0] != THREAD_STATE_NONE)
        _exit(12);
    if (world ? !MACH_PORT_VALID(ports[0]) : ports[0] != MACH_PORT_DEAD)
        _exit(13);
    if (world && mach_port_deallocate(mach_task_self(), ports[0]) != KERN_SUCCESS)
        _exit(14);
    /* The forking thread's own slots are not the child's thread's. */
    mach_port_t self = mach_thread_self();
    count = EXC_TYPES_COUNT;
    if (thread_get_exception_ports(self, EXC_MASK_ALL, masks, &count, ports, behaviors,
                                   flavors) != KERN_SUCCESS || count != 0)
        _exit(15);
    (void)mach_port_deallocate(mach_task_self(), self);
    (void)no_access[0];
    _exit(16); /* the fault returned: nobody should have answered success */
}

MT_TEST(a_forked_child_inherits_the_tasks_exception_ports_but_no_threads_and_exec_keeps_them)
{
    bool world = getenv("UMACH_WORLD") != NULL;
    mach_port_t port = MACH_PORT_NULL, thread_port = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(mach_task_self(), port, port, MACH_MSG_TYPE_MAKE_SEND),
          KERN_SUCCESS);
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &thread_port),
          KERN_SUCCESS);
    MT_KR(mach_port_insert_right(mach_task_self(), thread_port, thread_port,
                                 MACH_MSG_TYPE_MAKE_SEND),
          KERN_SUCCESS);
    MT_KR(task_set_exception_ports(mach_task_self(), EXC_MASK_BAD_ACCESS | EXC_MASK_ARITHMETIC,
                                   port, EF_BEHAVIOR, THREAD_STATE_NONE),
          KERN_SUCCESS);
    mach_port_t self = mach_thread_self();
    MT_KR(thread_set_exception_ports(self, EXC_MASK_BAD_INSTRUCTION, thread_port, EF_BEHAVIOR,
                                     THREAD_STATE_NONE),
          KERN_SUCCESS);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* No access rather than unmapped: the child's new threads map stacks. */
    void *p = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(p != MAP_FAILED);
    pid_t pid = fork();
    MT_REQUIRE(pid >= 0);
    if (pid == 0)
        ef_child(world, p);
    union {
        ef_req req;
        uint8_t bytes[512];
    } m;
    memset(&m, 0, sizeof m);
    mach_msg_return_t mr = mach_msg(&m.req.Head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m,
                                    port, world ? 10000 : 0, MACH_PORT_NULL);
    if (world) {
        MT_KR(mr, MACH_MSG_SUCCESS);
        if (mr == MACH_MSG_SUCCESS) {
            MT_EQ(m.req.Head.msgh_id, 2405);
            MT_EQ(m.req.exception, EXC_BAD_ACCESS);
            MT_EQ(m.req.code[0], KERN_PROTECTION_FAILURE);
            MT_EQ(m.req.code[1], (int64_t)(intptr_t)p);
            /* The child's task, not ours. */
            MT_CHECK(MACH_PORT_VALID(m.req.task.name));
            MT_NE(m.req.task.name, mach_task_self());
            (void)mach_port_deallocate(mach_task_self(), m.req.task.name);
            if (MACH_PORT_VALID(m.req.thread.name))
                (void)mach_port_deallocate(mach_task_self(), m.req.thread.name);
            ef_reply r;
            memset(&r, 0, sizeof r);
            r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(m.req.Head.msgh_bits), 0);
            r.Head.msgh_size = sizeof r;
            r.Head.msgh_remote_port = m.req.Head.msgh_remote_port;
            r.Head.msgh_id = m.req.Head.msgh_id + 100;
            r.NDR = NDR_record;
            r.RetCode = KERN_FAILURE;
            MT_KR(mach_msg(&r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL,
                           MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL),
                  MACH_MSG_SUCCESS);
        }
    }
    int status = 0;
    MT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status))
        MT_EQ(WEXITSTATUS(status), 0); /* the child's failed check (see ef_child) */
    MT_CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status))
        MT_EQ(WTERMSIG(status), SIGSEGV);
    if (!world) /* nothing reached the parent */
        MT_KR(mr, MACH_RCV_TIMED_OUT);
    /* A child that execs keeps them in a world (the same task on Darwin). The program's path
     * is read before (under valgrind, /proc/self/exe itself is valgrind). */
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    MT_REQUIRE(len > 0);
    exe[len] = 0;
    pid = fork();
    MT_REQUIRE(pid >= 0);
    if (pid == 0) {
        setenv("EF_EXEC_CHECK", world ? "world" : "embedded", 1);
        execl(exe, "exc_fork", (char *)NULL);
        _exit(30);
    }
    MT_EQ(waitpid(pid, &status, 0), pid);
    MT_CHECK(WIFEXITED(status));
    MT_EQ(WEXITSTATUS(status), 0);
    MT_KR(thread_set_exception_ports(self, EXC_MASK_BAD_INSTRUCTION, MACH_PORT_NULL,
                                     EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(task_set_exception_ports(mach_task_self(), EXC_MASK_BAD_ACCESS | EXC_MASK_ARITHMETIC,
                                   MACH_PORT_NULL, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(mach_port_deallocate(mach_task_self(), self), KERN_SUCCESS);
    MT_KR(mach_port_destruct(mach_task_self(), port, -1, 0), KERN_SUCCESS);
    MT_KR(mach_port_destruct(mach_task_self(), thread_port, -1, 0), KERN_SUCCESS);
    MT_EQ(munmap(p, page), 0);
}

MT_MAIN()
