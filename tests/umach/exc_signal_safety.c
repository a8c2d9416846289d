/*
 * exc_signal_safety.c — a fault's exception is raised without the faulting thread allocating
 * or taking umach's locks, so a fault inside the allocator is raised and answered as on Darwin
 * (where the kernel raises it). This program also runs inside a world.
 *
 * The allocator here is the program's own (malloc and its siblings defined below, over glibc's
 * __libc_ entry points), which knows when a thread enters it again before it left: that is
 * the moment a real allocator would deadlock on the lock the faulting thread holds. Under a
 * sanitizer the allocator is the sanitizer's and cannot be replaced: that test is left out.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "umach_test.h"

#include <mach/exception_types.h>
#include <mach/mach.h>
#include <mach/thread_act.h>

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
} ss_req;

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
} ss_reply;
#pragma pack(pop)

static size_t ss_page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* What the handler saw of the one exception it serves. */
static struct {
    mach_port_t port;
    exception_type_t exception;
    int64_t code[2];
    mach_port_t thread;
    int served;
    int count_threads; /* the handler counts the process's threads before it answers */
    int threads;
} ss_h;

/* The process's threads now (Linux: the entries of /proc/self/task), or -1. */
static int ss_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Serve one exception: make the faulting page writable and answer success. */
static void *ss_serve(void *arg)
{
    (void)arg;
    union {
        ss_req req;
        uint8_t bytes[512];
    } m;
    memset(&m, 0, sizeof m);
    if (mach_msg(&m.req.Head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, ss_h.port, 10000,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return NULL;
    ss_h.exception = m.req.exception;
    memcpy(ss_h.code, m.req.code, sizeof ss_h.code);
    ss_h.thread = m.req.thread.name;
    (void)mprotect((void *)(uintptr_t)m.req.code[1], ss_page_size(), PROT_READ | PROT_WRITE);
    if (ss_h.count_threads)
        ss_h.threads = ss_threads();
    (void)mach_port_deallocate(mach_task_self(), m.req.task.name);
    ss_reply r;
    memset(&r, 0, sizeof r);
    r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(m.req.Head.msgh_bits), 0);
    r.Head.msgh_size = sizeof r;
    r.Head.msgh_remote_port = m.req.Head.msgh_remote_port;
    r.Head.msgh_id = m.req.Head.msgh_id + 100;
    r.NDR = NDR_record;
    r.RetCode = KERN_SUCCESS;
    (void)mach_msg(&r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL);
    ss_h.served = 1;
    return NULL;
}

/* The task's EXC_BAD_ACCESS port, served once by a new thread (which counts the process's
 * threads when `count_threads`). */
static pthread_t ss_start_counting(int count_threads)
{
    memset(&ss_h, 0, sizeof ss_h);
    ss_h.count_threads = count_threads;
    (void)mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &ss_h.port);
    (void)mach_port_insert_right(mach_task_self(), ss_h.port, ss_h.port, MACH_MSG_TYPE_MAKE_SEND);
    (void)task_set_exception_ports(mach_task_self(), EXC_MASK_BAD_ACCESS, ss_h.port,
                                   (exception_behavior_t)(EXCEPTION_DEFAULT |
                                                          MACH_EXCEPTION_CODES),
                                   0);
    pthread_t t;
    (void)pthread_create(&t, NULL, ss_serve, NULL);
    return t;
}

static pthread_t ss_start(void)
{
    return ss_start_counting(0);
}

static void ss_finish(pthread_t t)
{
    (void)pthread_join(t, NULL);
    (void)task_set_exception_ports(mach_task_self(), EXC_MASK_BAD_ACCESS, MACH_PORT_NULL,
                                   EXCEPTION_DEFAULT, 0);
    (void)mach_port_destruct(mach_task_self(), ss_h.port, -1, 0);
}

#if !UT_SANITIZED
/* ---- the program's allocator ------------------------------------------------------------- */

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

static _Thread_local volatile int ss_in_alloc;   /* this thread is inside the allocator */
static _Thread_local volatile int ss_reentered;  /* ... and entered it again meanwhile */
static _Thread_local volatile int ss_fault_next; /* the next allocation faults inside the allocator */
static volatile int *ss_fault_page;

static void ss_enter(void)
{
    if (ss_in_alloc)
        ss_reentered++;
    ss_in_alloc++;
    if (ss_fault_next) {
        ss_fault_next = 0;
        ss_fault_page[0] = 7; /* read-only: the fault, with the "lock" held */
    }
}

static void ss_leave(void)
{
    ss_in_alloc--;
}

void *malloc(size_t n)
{
    ss_enter();
    void *p = __libc_malloc(n);
    ss_leave();
    return p;
}

void *calloc(size_t n, size_t size)
{
    ss_enter();
    void *p = __libc_calloc(n, size);
    ss_leave();
    return p;
}

void *realloc(void *old, size_t n)
{
    ss_enter();
    void *p = __libc_realloc(old, n);
    ss_leave();
    return p;
}

void *memalign(size_t align, size_t n)
{
    ss_enter();
    void *p = __libc_memalign(align, n);
    ss_leave();
    return p;
}

void *aligned_alloc(size_t align, size_t n)
{
    return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = memalign(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void free(void *p)
{
    ss_enter();
    __libc_free(p);
    ss_leave();
}

/*
 * A thread that never made a Mach call faults inside the allocator after the program made keys
 * of its own (pthread_key_create) before umach's first use of a thread port: the port the
 * exception's request names is made for it then, and the thread keeps it for its exit without
 * allocating. glibc keeps a thread's values of keys 0-31 in the thread itself and allocates
 * a block for higher keys at their first value in a thread, so umach's key must be one of the
 * first. First in this file: no Mach call has made a thread port yet.
 */
#define SS_PROGRAM_KEYS 40
static int ss_keyed_reentered = -1;
static void *volatile ss_keyed_block; /* kept, so that the compiler keeps the allocation */

static void *ss_keyed_fault(void *arg)
{
    (void)arg;
    ss_reentered = 0;
    ss_fault_next = 1;
    ss_keyed_block = malloc(64);
    ss_keyed_reentered = ss_reentered;
    free(ss_keyed_block);
    return NULL;
}

MT_TEST(a_fault_inside_the_allocator_of_a_new_thread_keeps_its_port_without_allocating_whatever_keys_the_program_made)
{
    pthread_key_t keys[SS_PROGRAM_KEYS];
    for (int i = 0; i < SS_PROGRAM_KEYS; i++)
        MT_REQUIRE(pthread_key_create(&keys[i], NULL) == 0);
    void *p = mmap(NULL, ss_page_size(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(p != MAP_FAILED);
    ss_fault_page = p;
    pthread_t t = ss_start();
    pthread_t faulter;
    MT_REQUIRE(pthread_create(&faulter, NULL, ss_keyed_fault, NULL) == 0);
    MT_EQ(pthread_join(faulter, NULL), 0);
    ss_finish(t);
    MT_CHECK(ss_keyed_block != NULL);
    MT_EQ(ss_keyed_reentered, 0);
    MT_EQ(ss_h.served, 1);
    MT_EQ(ss_h.code[1], (int64_t)(intptr_t)p);
    MT_EQ(ss_fault_page[0], 7);
    if (!getenv("UMACH_WORLD")) {
        /* The port the request named was the thread's: it died with the thread. */
        mach_port_type_t type = 0;
        MT_KR(mach_port_type(mach_task_self(), ss_h.thread, &type), KERN_SUCCESS);
        MT_EQ(type, MACH_PORT_TYPE_DEAD_NAME);
    }
    if (MACH_PORT_VALID(ss_h.thread))
        (void)mach_port_deallocate(mach_task_self(), ss_h.thread);
    for (int i = 0; i < SS_PROGRAM_KEYS; i++)
        MT_EQ(pthread_key_delete(keys[i]), 0);
    MT_EQ(munmap(p, ss_page_size()), 0);
}

MT_TEST(a_fault_inside_the_allocator_is_raised_and_answered_without_the_thread_allocating_again)
{
    void *p = mmap(NULL, ss_page_size(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(p != MAP_FAILED);
    ss_fault_page = p;
    pthread_t t = ss_start();
    ss_reentered = 0;
    ss_fault_next = 1;
    void *block = malloc(64);
    MT_CHECK(block != NULL);
    free(block);
    MT_EQ(ss_reentered, 0);
    ss_finish(t);
    MT_EQ(ss_h.served, 1);
    MT_EQ(ss_h.exception, EXC_BAD_ACCESS);
    MT_EQ(ss_h.code[0], KERN_PROTECTION_FAILURE);
    MT_EQ(ss_h.code[1], (int64_t)(intptr_t)p);
    MT_EQ(ss_fault_page[0], 7);
    (void)mach_port_deallocate(mach_task_self(), ss_h.thread);
    MT_EQ(munmap(p, ss_page_size()), 0);
}
#endif

/* ---- a thread that never made a Mach call ------------------------------------------------ */

static volatile int *ss_page;
static mach_port_t ss_later_self;

static void *ss_fault_first(void *arg)
{
    (void)arg;
    ss_page[0] = 9; /* its first act: no Mach call before */
    ss_later_self = mach_thread_self();
    return NULL;
}

MT_TEST(a_fault_of_a_thread_that_never_made_a_mach_call_goes_to_the_tasks_port)
{
    void *p = mmap(NULL, ss_page_size(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(p != MAP_FAILED);
    ss_page = p;
    pthread_t t = ss_start();
    pthread_t faulter;
    MT_EQ(pthread_create(&faulter, NULL, ss_fault_first, NULL), 0);
    MT_EQ(pthread_join(faulter, NULL), 0);
    ss_finish(t);
    MT_EQ(ss_h.served, 1);
    MT_EQ(ss_page[0], 9);
    MT_EQ(ss_h.code[1], (int64_t)(intptr_t)p);
    if (getenv("UMACH_WORLD")) {
        /* A world knows a thread by its connection, which it has only from its first call:
         * the request names no thread (docs/umach-internals.md). */
        MT_EQ(ss_h.thread, MACH_PORT_NULL);
    } else {
        /* Its port was made for the request; the thread's own call later names the same. */
        MT_EQ(ss_h.thread, ss_later_self);
        (void)mach_port_deallocate(mach_task_self(), ss_h.thread);
    }
    (void)mach_port_deallocate(mach_task_self(), ss_later_self); /* dead names by now */
    MT_EQ(munmap(p, ss_page_size()), 0);
}

/* ---- no thread is made while a fault is raised -------------------------------------------- */

/*
 * A worker that takes a fault's request does not start another thread first (pthread_create
 * allocates: with the faulting thread inside the allocator it could wait forever): a worker is
 * already waiting, ready for a fault raised while this one's handler runs, so the process has
 * the same threads during the raise as before the fault. Several faults in a row: a worker
 * that is done waits again, none ends and none is made.
 */
MT_TEST(a_raise_makes_no_thread_a_worker_is_waiting_before_the_fault)
{
    void *p = mmap(NULL, ss_page_size(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(p != MAP_FAILED);
    volatile int *page = p;
    for (int i = 0; i < 4; i++) {
        MT_EQ(mprotect(p, ss_page_size(), PROT_READ), 0);
        pthread_t t = ss_start_counting(1);
        int before = ss_threads(); /* the handler's thread included: it exists already */
        MT_CHECK(before > 0);
        page[0] = 20 + i;
        ss_finish(t);
        MT_EQ(ss_h.served, 1);
        MT_EQ(ss_h.code[1], (int64_t)(intptr_t)p);
        MT_EQ(page[0], 20 + i);
        MT_EQ(ss_h.threads, before);
        (void)mach_port_deallocate(mach_task_self(), ss_h.thread);
    }
    MT_EQ(munmap(p, ss_page_size()), 0);
}

MT_MAIN()
