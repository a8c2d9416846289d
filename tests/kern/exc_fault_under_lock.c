/*
 * exc_fault_under_lock.c — a fault taken while the faulting thread holds umach's world lock
 * (a bug of umach's, or a corrupted heap under one of its calls) is not raised as a Mach
 * exception, which would wait for that lock forever: the signal is passed on at once to what
 * was installed before umach's handler (here the program's own handler; without one, the
 * default action ends the process), a crash rather than a deadlock (docs/umach-internals.md).
 */
#define _GNU_SOURCE
#include "mt.h"

#include "embedded/um_embedded.h"

#include <mach/exception_types.h>
#include <mach/mach.h>

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf fl_jmp;
static volatile sig_atomic_t fl_signal;

static void fl_handler(int sig)
{
    fl_signal = sig;
    siglongjmp(fl_jmp, 1);
}

/*
 * The fault is taken on a thread of its own: pthread maps a thread's whole stack up front,
 * while valgrind grows the main thread's stack on demand and, when the memcheck phase runs
 * in parallel with other tests, sometimes refused to grow it for this signal's frame ("Can't
 * extend stack ... during signal delivery"), ending the process before any handler ran.
 */
static void *fl_fault_under_lock(void *arg)
{
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fl_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NODEFER;
    MT_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
    mach_port_t port = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &port), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(mach_task_self(), port, port, MACH_MSG_TYPE_MAKE_SEND),
          KERN_SUCCESS);
    MT_KR(task_set_exception_ports(mach_task_self(), EXC_MASK_BAD_ACCESS, port,
                                   (exception_behavior_t)(EXCEPTION_DEFAULT |
                                                          MACH_EXCEPTION_CODES),
                                   0),
          KERN_SUCCESS);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    volatile int *p = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        mt_fail_at(__FILE__, __LINE__, "mmap of the read-only page");
        return NULL;
    }
    fl_signal = 0;
    (void)um_embedded_enter();
    if (sigsetjmp(fl_jmp, 1) == 0)
        p[0] = 1;
    um_embedded_leave();
    MT_EQ(fl_signal, SIGSEGV);
    /* Nothing was raised. */
    union {
        mach_msg_header_t h;
        uint8_t bytes[512];
    } m;
    memset(&m, 0, sizeof m);
    MT_KR(mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, port, 0, MACH_PORT_NULL),
          MACH_RCV_TIMED_OUT);
    MT_KR(task_set_exception_ports(mach_task_self(), EXC_MASK_BAD_ACCESS, MACH_PORT_NULL,
                                   EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(mach_port_destruct(mach_task_self(), port, -1, 0), KERN_SUCCESS);
    MT_EQ(munmap((void *)p, page), 0);
    return NULL;
}

MT_TEST(a_fault_while_the_thread_holds_the_world_lock_is_passed_on_not_raised)
{
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, fl_fault_under_lock, NULL) == 0);
    MT_REQUIRE(pthread_join(t, NULL) == 0);
}

MT_MAIN()
