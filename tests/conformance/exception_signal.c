/*
 * exception_signal.c — a fault is raised as a Mach exception to the faulting thread's (or
 * task's) exception port before it becomes a signal, as on Darwin: a write to a read-only page
 * is EXC_BAD_ACCESS with KERN_PROTECTION_FAILURE and the address, as is a read of a page with
 * no access; the faulting thread waits for the handler, a KERN_SUCCESS answer runs
 * the instruction again (the handler mended the page), and a failure hands the fault on to the
 * program's own signal handler. A state the handler sets with thread_set_state while the
 * thread waits is where the thread goes on.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "exc_msgs.h"
#include "notify_util.h"

#include <mach/exception_types.h>
#include <mach/thread_act.h>

#include <sched.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdbool.h>
#include <sys/mman.h>

/* One exception served by a handler thread: what it saw, what it mends, what it answers. */
typedef struct es_handler {
    mach_port_t port;
    kern_return_t answer;
    void (*mend)(void);
    mach_msg_id_t id;
    exception_type_t exception;
    mach_msg_type_number_t code_cnt;
    int64_t code[2];
    pthread_t thread;
    mach_port_t thread_port; /* the handler thread's own port */
    int running; /* set (atomically) once the handler thread runs */
} es_handler;

static void *es_serve(void *arg)
{
    es_handler *h = arg;
    h->thread_port = mach_thread_self();
    __atomic_store_n(&h->running, 1, __ATOMIC_RELEASE);
    union {
        exc_wide_req req;
        uint8_t bytes[512];
    } m;
    memset(&m, 0, sizeof m);
    if (mach_msg(&m.req.Head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, h->port, 10000,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return NULL; /* the test's checks report what is missing */
    h->id = m.req.Head.msgh_id;
    h->exception = m.req.exception;
    h->code_cnt = m.req.codeCnt;
    memcpy(h->code, m.req.code, sizeof h->code);
    if (h->mend)
        h->mend();
    exc_reply r;
    memset(&r, 0, sizeof r);
    r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(m.req.Head.msgh_bits), 0);
    r.Head.msgh_size = sizeof r;
    r.Head.msgh_remote_port = m.req.Head.msgh_remote_port;
    r.Head.msgh_id = m.req.Head.msgh_id + 100;
    r.NDR = NDR_record;
    r.RetCode = h->answer;
    if (!(m.req.Head.msgh_bits & MACH_MSGH_BITS_COMPLEX))
        return NULL; /* not an exception: the test's stop */
    (void)mach_port_deallocate(TASK, m.req.thread.name);
    (void)mach_port_deallocate(TASK, m.req.task.name);
    (void)mach_msg(&r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL);
    return NULL;
}

/* Set the calling thread's EXC_BAD_ACCESS port to a new port served once by `h`. */
static void es_start(es_handler *h, kern_return_t answer, void (*mend)(void))
{
    memset(h, 0, sizeof *h);
    h->answer = answer;
    h->mend = mend;
    h->port = nu_port_with_send();
    mach_port_t self = mach_thread_self();
    (void)thread_set_exception_ports(self, EXC_MASK_BAD_ACCESS, h->port,
                                     (exception_behavior_t)(EXCEPTION_DEFAULT |
                                                            MACH_EXCEPTION_CODES),
                                     0);
    (void)mach_port_deallocate(TASK, self);
    /* Once it runs, what its start maps is mapped: never a page the test unmaps next. */
    if (pthread_create(&h->thread, NULL, es_serve, h) == 0)
        while (!__atomic_load_n(&h->running, __ATOMIC_ACQUIRE))
            sched_yield();
}

static void es_finish(es_handler *h)
{
    (void)pthread_join(h->thread, NULL);
    if (MACH_PORT_VALID(h->thread_port))
        (void)mach_port_deallocate(TASK, h->thread_port);
    mach_port_t self = mach_thread_self();
    (void)thread_set_exception_ports(self, EXC_MASK_BAD_ACCESS, MACH_PORT_NULL, EXCEPTION_DEFAULT,
                                     0);
    (void)mach_port_deallocate(TASK, self);
    (void)mach_port_destruct(TASK, h->port, -1, 0);
}

static size_t es_page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static volatile int *es_page;

static void es_make_writable(void)
{
    (void)mprotect((void *)es_page, es_page_size(), PROT_READ | PROT_WRITE);
}

/* Its own handler the program installed for SIGSEGV and SIGBUS, and how it got back. */
static sigjmp_buf es_jmp;
static volatile sig_atomic_t es_own_signal;

static void es_own_handler(int sig)
{
    es_own_signal = sig;
    siglongjmp(es_jmp, 1);
}

/* First: before any exception port is set in this process (umach handles the signal from then). */
MT_TEST(a_failure_answer_hands_the_fault_to_the_programs_own_handler)
{
    NU_BEGIN();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = es_own_handler;
    sigemptyset(&sa.sa_mask);
    MT_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
    MT_EQ(sigaction(SIGBUS, &sa, NULL), 0);
    es_handler h;
    es_start(&h, KERN_FAILURE, NULL);
    /* No access rather than unmapped: an unmapped page may be mapped again meanwhile by
     * another thread (a sanitizer's). */
    void *p = mmap(NULL, es_page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(p != MAP_FAILED);
    es_page = p;
    es_own_signal = 0;
    if (sigsetjmp(es_jmp, 1) == 0)
        (void)es_page[0];
    MT_EQ(es_own_signal, SIGSEGV);
    es_finish(&h);
    MT_EQ(h.id, 2405);
    MT_EQ(h.exception, EXC_BAD_ACCESS);
    MT_EQ(h.code[0], KERN_PROTECTION_FAILURE);
    MT_EQ(h.code[1], (int64_t)(intptr_t)p);
    MT_EQ(munmap(p, es_page_size()), 0);
    /* The program's handler stays: one installed now would replace umach's (docs/porting.md). */
    NU_END();
}

MT_TEST(a_write_to_a_read_only_page_is_exc_bad_access_and_runs_again_after_success)
{
    NU_BEGIN();
    void *p = mmap(NULL, es_page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_CHECK(p != MAP_FAILED);
    es_page = p;
    MT_EQ(mprotect(p, es_page_size(), PROT_READ), 0);
    es_handler h;
    es_start(&h, KERN_SUCCESS, es_make_writable);
    es_page[0] = 42;
    es_finish(&h);
    MT_EQ(es_page[0], 42);
    MT_EQ(h.id, 2405);
    MT_EQ(h.exception, EXC_BAD_ACCESS);
    MT_EQ(h.code_cnt, 2);
    MT_EQ(h.code[0], KERN_PROTECTION_FAILURE);
    MT_EQ(h.code[1], (int64_t)(intptr_t)p);
    MT_EQ(munmap(p, es_page_size()), 0);
    NU_END();
}

MT_TEST(the_tasks_port_takes_a_fault_when_the_thread_has_none)
{
    NU_BEGIN();
    void *p = mmap(NULL, es_page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_CHECK(p != MAP_FAILED);
    es_page = p;
    MT_EQ(mprotect(p, es_page_size(), PROT_NONE), 0);
    es_handler h;
    es_start(&h, KERN_SUCCESS, es_make_writable);
    /* Move the port from the thread's slot to the task's. */
    mach_port_t self = mach_thread_self();
    MT_KR(thread_set_exception_ports(self, EXC_MASK_BAD_ACCESS, MACH_PORT_NULL, EXCEPTION_DEFAULT,
                                     0),
          KERN_SUCCESS);
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS, h.port,
                                   (exception_behavior_t)(EXCEPTION_DEFAULT |
                                                          MACH_EXCEPTION_CODES),
                                   0),
          KERN_SUCCESS);
    int v = es_page[0];
    MT_EQ(v, 0);
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS, MACH_PORT_NULL, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    es_finish(&h);
    MT_EQ(h.exception, EXC_BAD_ACCESS);
    MT_EQ(h.code[0], KERN_PROTECTION_FAILURE);
    MT_EQ(h.code[1], (int64_t)(intptr_t)p);
    MT_EQ(munmap(p, es_page_size()), 0);
    NU_END();
}

MT_TEST(a_message_buffer_the_kernel_cannot_read_is_an_error_not_an_exception)
{
    NU_BEGIN();
    size_t page = es_page_size();
    uint8_t *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_CHECK(p != MAP_FAILED);
    MT_EQ(mprotect(p + page, page, PROT_NONE), 0);
    mach_port_t dest = nu_port_with_send();
    es_handler h;
    es_start(&h, KERN_SUCCESS, NULL);
    /* The header ends where the unreadable page starts; the body lies in it. */
    mach_msg_header_t *m = (mach_msg_header_t *)(void *)(p + page - sizeof(mach_msg_header_t));
    memset(m, 0, sizeof *m);
    m->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    m->msgh_remote_port = dest;
    m->msgh_size = sizeof *m + 8;
    MT_KR(mach_msg(m, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof *m + 8, 0, MACH_PORT_NULL, 0,
                   MACH_PORT_NULL),
          MACH_SEND_INVALID_DATA);
    /* The handler saw nothing: stop it with a message of another kind. */
    mach_msg_header_t stop;
    memset(&stop, 0, sizeof stop);
    stop.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MAKE_SEND, 0);
    stop.msgh_size = sizeof stop;
    stop.msgh_remote_port = h.port;
    stop.msgh_id = 0x5170;
    MT_KR(mach_msg(&stop, MACH_SEND_MSG, sizeof stop, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                   MACH_PORT_NULL),
          MACH_MSG_SUCCESS);
    es_finish(&h);
    MT_EQ(h.id, 0x5170);
    MT_KR(mach_port_destruct(TASK, dest, -1, 0), KERN_SUCCESS);
    MT_EQ(munmap(p, 2 * page), 0);
    NU_END();
}

/*
 * A program that stops every other thread it knows of (a garbage collector's stop-the-world:
 * task_threads, thread_suspend on each but its own and its exception handler's) still has its
 * faults raised: on Darwin the kernel raises them, and no thread the task lists stands in
 * the way.
 */
MT_TEST(a_fault_is_raised_while_every_other_listed_thread_is_suspended)
{
    NU_BEGIN();
    void *p = mmap(NULL, es_page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(p != MAP_FAILED);
    es_page = p;
    MT_EQ(mprotect(p, es_page_size(), PROT_READ), 0);
    es_handler h;
    es_start(&h, KERN_SUCCESS, es_make_writable);
    mach_port_t self = mach_thread_self();
    thread_act_array_t list = NULL;
    mach_msg_type_number_t n = 0;
    MT_KR(task_threads(TASK, &list, &n), KERN_SUCCESS);
    MT_REQUIRE(list != NULL);
    bool *held = calloc(n ? n : 1, sizeof *held);
    MT_REQUIRE(held != NULL);
    for (mach_msg_type_number_t i = 0; i < n; i++) {
        if (list[i] == self || list[i] == h.thread_port)
            continue;
        kern_return_t kr = thread_suspend(list[i]);
#ifdef __APPLE__
        MT_KR(kr, KERN_SUCCESS);
#else
        /* A thread that blocks umach's suspend signal for good (a sanitizer's own thread) is
         * refused with KERN_FAILURE (docs/porting.md). */
        MT_CHECK(kr == KERN_SUCCESS || kr == KERN_FAILURE);
#endif
        held[i] = kr == KERN_SUCCESS;
    }
    es_page[0] = 7; /* raised, mended by the handler, run again */
    for (mach_msg_type_number_t i = 0; i < n; i++)
        if (held[i])
            MT_KR(thread_resume(list[i]), KERN_SUCCESS);
    free(held);
    es_finish(&h);
    MT_EQ(es_page[0], 7);
    MT_EQ(h.exception, EXC_BAD_ACCESS);
    MT_EQ(h.code[1], (int64_t)(intptr_t)p);
    for (mach_msg_type_number_t i = 0; i < n; i++)
        MT_KR(mach_port_deallocate(TASK, list[i]), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, (vm_address_t)list, n * sizeof list[0]), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    MT_EQ(munmap(p, es_page_size()), 0);
    NU_END();
}

/* ---- many threads, each faulting again and again ------------------------------------------ */

enum { ES_THREADS = 6, ES_FAULTS = 25 };

/* One faulting thread: its page, its own port's name, and what the handler saw of it. */
static struct es_faulter {
    volatile int *page;
    mach_port_t self;
    pthread_t thread;
    int raised;            /* requests the handler took for this thread's page */
    mach_port_t named;     /* the thread port the first of them named */
    int named_alike;       /* how many of them named that one */
} es_faulters[ES_THREADS];

static mach_port_t es_many_port;
static volatile int es_many_served;

/* Serve every fault of every thread: make the page writable again and answer success. */
static void *es_serve_many(void *arg)
{
    (void)arg;
    union {
        exc_wide_req req;
        uint8_t bytes[512];
    } m;
    for (int n = 0; n < ES_THREADS * ES_FAULTS; n++) {
        memset(&m, 0, sizeof m);
        if (mach_msg(&m.req.Head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, es_many_port,
                     10000, MACH_PORT_NULL) != MACH_MSG_SUCCESS)
            return NULL;
        uintptr_t addr = (uintptr_t)m.req.code[1];
        for (int i = 0; i < ES_THREADS; i++) {
            if ((uintptr_t)es_faulters[i].page == addr) {
                if (es_faulters[i].raised++ == 0)
                    es_faulters[i].named = m.req.thread.name;
                es_faulters[i].named_alike += m.req.thread.name == es_faulters[i].named;
                (void)mprotect((void *)addr, es_page_size(), PROT_READ | PROT_WRITE);
            }
        }
        (void)mach_port_deallocate(TASK, m.req.thread.name);
        (void)mach_port_deallocate(TASK, m.req.task.name);
        exc_reply r;
        memset(&r, 0, sizeof r);
        r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(m.req.Head.msgh_bits), 0);
        r.Head.msgh_size = sizeof r;
        r.Head.msgh_remote_port = m.req.Head.msgh_remote_port;
        r.Head.msgh_id = m.req.Head.msgh_id + 100;
        r.NDR = NDR_record;
        r.RetCode = KERN_SUCCESS;
        (void)mach_msg(&r.Head, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL,
                       MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
        es_many_served = n + 1;
    }
    return NULL;
}

/* A thread made after the task's port was set: each write to its read-only page faults. */
static void *es_fault_again(void *arg)
{
    struct es_faulter *f = arg;
    f->self = mach_thread_self();
    for (int k = 1; k <= ES_FAULTS; k++) {
        if (mprotect((void *)f->page, es_page_size(), PROT_READ) != 0)
            break;
        f->page[0] = k;
    }
    return NULL;
}

MT_TEST(threads_made_after_the_tasks_port_was_set_each_have_every_fault_raised_and_answered)
{
    NU_BEGIN();
    es_many_port = nu_port_with_send();
    es_many_served = 0;
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS, es_many_port,
                                   (exception_behavior_t)(EXCEPTION_DEFAULT |
                                                          MACH_EXCEPTION_CODES),
                                   0),
          KERN_SUCCESS);
    for (int i = 0; i < ES_THREADS; i++) {
        memset(&es_faulters[i], 0, sizeof es_faulters[i]);
        void *p = mmap(NULL, es_page_size(), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        MT_REQUIRE(p != MAP_FAILED);
        es_faulters[i].page = p;
    }
    pthread_t server;
    MT_EQ(pthread_create(&server, NULL, es_serve_many, NULL), 0);
    for (int i = 0; i < ES_THREADS; i++)
        MT_EQ(pthread_create(&es_faulters[i].thread, NULL, es_fault_again, &es_faulters[i]), 0);
    for (int i = 0; i < ES_THREADS; i++)
        MT_EQ(pthread_join(es_faulters[i].thread, NULL), 0);
    MT_EQ(pthread_join(server, NULL), 0);
    MT_EQ(es_many_served, ES_THREADS * ES_FAULTS);
    for (int i = 0; i < ES_THREADS; i++) {
        MT_EQ(es_faulters[i].raised, ES_FAULTS);
        MT_EQ(es_faulters[i].named, es_faulters[i].self); /* its own port, every time */
        MT_EQ(es_faulters[i].named_alike, ES_FAULTS);
        MT_EQ(es_faulters[i].page[0], ES_FAULTS);
        MT_EQ(munmap((void *)es_faulters[i].page, es_page_size()), 0);
        MT_KR(mach_port_deallocate(TASK, es_faulters[i].self), KERN_SUCCESS); /* a dead name now */
    }
    MT_KR(task_set_exception_ports(TASK, EXC_MASK_BAD_ACCESS, MACH_PORT_NULL, EXCEPTION_DEFAULT, 0),
          KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, es_many_port, -1, 0), KERN_SUCCESS);
    NU_END();
}

/* ---- EXCEPTION_STATE: the thread's registers, and the handler's new ones ------------------- */

#if defined(__x86_64__)
#define ES_FLAVOR x86_THREAD_STATE64
#define ES_COUNT x86_THREAD_STATE64_COUNT
typedef x86_thread_state64_t es_state;
#define ES_PC(s) ((s).__rip)
#elif defined(__aarch64__) || defined(__arm64__)
#define ES_FLAVOR ARM_THREAD_STATE64
#define ES_COUNT ARM_THREAD_STATE64_COUNT
typedef arm_thread_state64_t es_state;
#define ES_PC(s) ((s).__pc)
#endif

#ifdef ES_FLAVOR
#pragma pack(push, 4)
typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    exception_type_t exception;
    mach_msg_type_number_t codeCnt;
    int64_t code[2];
    int flavor;
    mach_msg_type_number_t old_stateCnt;
    natural_t old_state[THREAD_STATE_MAX];
} es_state_req;

typedef struct {
    mach_msg_header_t Head;
    NDR_record_t NDR;
    kern_return_t RetCode;
    int flavor;
    mach_msg_type_number_t new_stateCnt;
    natural_t new_state[THREAD_STATE_MAX];
} es_state_rep;
#pragma pack(pop)

static volatile int es_recovered;
static void es_recover(void)
{
    es_recovered = 1;
}

/* What the state handler saw. */
static struct {
    mach_port_t port;
    mach_msg_id_t id;
    int flavor;
    mach_msg_type_number_t count;
    uint64_t pc;
    int64_t code[2];
    mach_port_t faulting;  /* the faulting thread's port */
    kern_return_t get_kr;  /* thread_get_state on it from the handler */
    uint64_t get_pc;       /* and the pc it read */
} es_st;

/* Serve one EXCEPTION_STATE request: answer with the state, its pc moved to es_recover. */
static void *es_serve_state(void *arg)
{
    (void)arg;
    static union {
        es_state_req req;
        uint8_t bytes[sizeof(es_state_req) + 128];
    } m;
    static es_state_rep r;
    memset(&m, 0, sizeof m);
    if (mach_msg(&m.req.Head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, es_st.port, 10000,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return NULL;
    es_st.id = m.req.Head.msgh_id;
    es_st.flavor = m.req.flavor;
    es_st.count = m.req.old_stateCnt;
    memcpy(es_st.code, m.req.code, sizeof es_st.code);
    es_state s;
    memset(&s, 0, sizeof s);
    if (m.req.old_stateCnt == ES_COUNT)
        memcpy(&s, m.req.old_state, sizeof s);
    es_st.pc = (uint64_t)ES_PC(s);
    /* thread_get_state on the thread waiting for this answer: its registers at the fault. */
    es_state g;
    memset(&g, 0, sizeof g);
    mach_msg_type_number_t gn = ES_COUNT;
    es_st.get_kr = thread_get_state(es_st.faulting, ES_FLAVOR, (thread_state_t)&g, &gn);
    es_st.get_pc = (uint64_t)ES_PC(g);
    ES_PC(s) = (uint64_t)(uintptr_t)es_recover;
    memset(&r, 0, sizeof r);
    r.Head.msgh_bits = MACH_MSGH_BITS(MACH_MSGH_BITS_REMOTE(m.req.Head.msgh_bits), 0);
    r.Head.msgh_remote_port = m.req.Head.msgh_remote_port;
    r.Head.msgh_id = m.req.Head.msgh_id + 100;
    r.NDR = NDR_record;
    r.RetCode = KERN_SUCCESS;
    r.flavor = ES_FLAVOR;
    r.new_stateCnt = ES_COUNT;
    memcpy(r.new_state, &s, sizeof s);
    r.Head.msgh_size = (mach_msg_size_t)(offsetof(es_state_rep, new_state) + sizeof s);
    (void)mach_msg(&r.Head, MACH_SEND_MSG, r.Head.msgh_size, 0, MACH_PORT_NULL,
                   MACH_MSG_TIMEOUT_NONE, MACH_PORT_NULL);
    return NULL;
}

MT_TEST(a_state_handler_gets_the_faulting_pc_and_the_thread_goes_on_from_its_new_state)
{
    NU_BEGIN();
    memset(&es_st, 0, sizeof es_st);
    es_st.port = nu_port_with_send();
    mach_port_t self = mach_thread_self();
    es_st.faulting = self;
    MT_KR(thread_set_exception_ports(self, EXC_MASK_BAD_ACCESS, es_st.port,
                                     (exception_behavior_t)(EXCEPTION_STATE | MACH_EXCEPTION_CODES),
                                     ES_FLAVOR),
          KERN_SUCCESS);
    pthread_t t;
    MT_EQ(pthread_create(&t, NULL, es_serve_state, NULL), 0);
    /* No access rather than unmapped (another thread may map an unmapped page meanwhile). */
    void *p = mmap(NULL, es_page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(p != MAP_FAILED);
    es_recovered = 0;
    /* A call into the page faults there; the handler makes it a call of es_recover. */
    void (*volatile jump)(void) = (void (*)(void))(uintptr_t)p;
    jump();
    MT_EQ(pthread_join(t, NULL), 0);
    MT_EQ(es_recovered, 1);
    MT_EQ(es_st.id, 2406);
    MT_EQ(es_st.flavor, ES_FLAVOR);
    MT_EQ(es_st.count, ES_COUNT);
    MT_EQ(es_st.pc, (uint64_t)(uintptr_t)p);
    MT_KR(es_st.get_kr, KERN_SUCCESS);
    MT_EQ(es_st.get_pc, (uint64_t)(uintptr_t)p);
    MT_EQ(es_st.code[0], KERN_PROTECTION_FAILURE);
    MT_EQ(munmap(p, es_page_size()), 0);
    MT_KR(thread_set_exception_ports(self, EXC_MASK_BAD_ACCESS, MACH_PORT_NULL, EXCEPTION_DEFAULT,
                                     0),
          KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, self), KERN_SUCCESS);
    MT_KR(mach_port_destruct(TASK, es_st.port, -1, 0), KERN_SUCCESS);
    NU_END();
}

/* The handler's mend: thread_set_state on the thread whose fault it serves, its pc moved to
 * es_recover, before the answer. */
static mach_port_t es_set_target;
static kern_return_t es_set_kr;

static void es_set_state_to_recover(void)
{
    es_state s;
    memset(&s, 0, sizeof s);
    mach_msg_type_number_t n = ES_COUNT;
    es_set_kr = thread_get_state(es_set_target, ES_FLAVOR, (thread_state_t)&s, &n);
    if (es_set_kr != KERN_SUCCESS)
        return;
    ES_PC(s) = (uint64_t)(uintptr_t)es_recover;
    es_set_kr = thread_set_state(es_set_target, ES_FLAVOR, (thread_state_t)&s, ES_COUNT);
}

MT_TEST(a_state_set_while_the_fault_waits_for_its_answer_is_where_the_thread_goes_on)
{
    NU_BEGIN();
    es_set_target = mach_thread_self();
    es_handler h;
    es_start(&h, KERN_SUCCESS, es_set_state_to_recover);
    void *p = mmap(NULL, es_page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(p != MAP_FAILED);
    es_recovered = 0;
    /* Without the new state, the answer would run the call into the page again. */
    void (*volatile jump)(void) = (void (*)(void))(uintptr_t)p;
    jump();
    es_finish(&h);
    MT_EQ(es_recovered, 1);
    MT_KR(es_set_kr, KERN_SUCCESS);
    MT_EQ(h.exception, EXC_BAD_ACCESS);
    MT_EQ(h.code[0], KERN_PROTECTION_FAILURE);
    MT_EQ(munmap(p, es_page_size()), 0);
    MT_KR(mach_port_deallocate(TASK, es_set_target), KERN_SUCCESS);
    NU_END();
}
#endif

MT_MAIN()
