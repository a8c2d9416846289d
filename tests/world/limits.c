/*
 * limits.c — one task cannot exhaust the world (docs/world.md, "Bad input and limits"). Each
 * test starts its own umachd with small per-task limits and runs tasks in it: this program
 * executed again with UMACH_WORLD set (so libumach makes it a task of that world) and a role
 * to play, or connections made by hand.
 *
 *   names:   --task-names-max; allocations beyond it are KERN_NO_SPACE, a client's
 *            UMACH_PORT_TABLE_MAX may lower it but never raise it, another task is not
 *            affected
 *   queued:  --task-queued-max; sends beyond it are MACH_SEND_NO_BUFFER until a message is
 *            received
 *   threads: --task-threads-max; a join beyond it is refused with KERN_RESOURCE_SHORTAGE and
 *            the task goes on; one pending request per thread connection; the refused
 *            thread's calls are resource errors (KERN_RESOURCE_SHORTAGE, MACH_SEND_NO_BUFFER,
 *            MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_KERNEL), and its next call tries again
 *   world queued: --world-queued-max; every task's queued bytes together, beyond it a send
 *            of any task is MACH_SEND_NO_BUFFER until a message is received
 *   posted:  posted sends go on near either cap, and the cap holds exactly (each credit holds
 *            a posted message's largest size until its message comes)
 *   uid tasks: --uid-tasks-max; a hello beyond it is refused (KERN_RESOURCE_SHORTAGE), and a
 *            program refused says so on stderr
 *   new connections that never say hello: at most 64 per process
 *   descriptors: out of them, the daemon stops accepting (it does not spin) until one is
 *            freed, then serves the connections that waited
 */
#define _GNU_SOURCE
#include "mt.h"
#include "space_names.h"
#include "world_util.h"

#include <mach/mach.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TASK mach_task_self()

static const char *l_self; /* this program, to run again as a task of a world */
static char l_path[108];
static pid_t l_daemon;

/* Start umachd with `flags` (NULL-terminated), at most `nofile` descriptors (0: as we have). */
static int l_start(const char *const *flags, rlim_t nofile)
{
    snprintf(l_path, sizeof l_path, "/tmp/umach_limits_%d.sock", (int)getpid());
    int ready[2];
    if (pipe(ready) != 0)
        return -1;
    l_daemon = fork();
    if (l_daemon < 0)
        return -1;
    if (l_daemon == 0) {
        close(ready[0]);
        char fdarg[16], nofarg[24];
        snprintf(fdarg, sizeof fdarg, "%d", ready[1]);
        snprintf(nofarg, sizeof nofarg, "%lu", (unsigned long)nofile);
        /* The limit is set by this program run again (under valgrind, which refuses a
         * process of its own a lower limit, that run is a native process). */
        const char *argv[20] = {l_self, "--nofile", nofarg, UMACHD_PATH,
                                "--socket", l_path, "--ready-fd", fdarg};
        int n = 8;
        for (; flags && *flags && n < 19; flags++)
            argv[n++] = *flags;
        argv[n] = NULL;
        execv(l_self, (char *const *)argv);
        _exit(127);
    }
    close(ready[1]);
    char c = 0;
    ssize_t r = read(ready[0], &c, 1);
    close(ready[0]);
    return r == 1 ? 0 : -1;
}

static int l_stop(void)
{
    int st = 0;
    kill(l_daemon, SIGTERM);
    if (waitpid(l_daemon, &st, 0) != l_daemon)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Run this program as a task of the world in `role` (with `env`, "NAME=VALUE" or NULL); what
 * it writes on descriptor `fd` (1: stdout, one line of numbers; 2: stderr, with its stdout
 * thrown away) goes into `out`. Returns its exit status.
 */
static int l_task_fd(const char *role, const char *env, int fd, char *out, size_t outlen)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t kid = fork();
    if (kid < 0)
        return -1;
    if (kid == 0) {
        dup2(p[1], fd);
        if (fd != 1) {
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0)
                dup2(null, 1);
        }
        close(p[0]);
        close(p[1]);
        setenv("UMACH_WORLD", l_path, 1);
        unsetenv("UMACH_PORT_TABLE_MAX");
        unsetenv("UMACH_QUEUED_BYTES_MAX");
        if (env)
            putenv((char *)env);
        execl(l_self, l_self, "--role", role, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < outlen && (n = read(p[0], out + len, outlen - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = 0;
    close(p[0]);
    int st = 0;
    if (waitpid(kid, &st, 0) != kid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int l_task(const char *role, const char *env, char *out, size_t outlen)
{
    return l_task_fd(role, env, 1, out, outlen);
}

/* ---- the roles (a task of the world) --------------------------------------------------------- */

/* Allocate receive rights until refused: "<names at the end> <the refusal> <again after one
 * was freed>". */
static int l_role_names(void)
{
    static mach_port_t got[100000];
    unsigned n = 0;
    kern_return_t kr = KERN_SUCCESS;
    while (n < 100000) {
        kr = mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &got[n]);
        if (kr != KERN_SUCCESS)
            break;
        n++;
    }
    unsigned total = tc_name_count();
    kern_return_t again = KERN_FAILURE;
    if (n > 0 && mach_port_mod_refs(TASK, got[n - 1], MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS)
        again = mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &got[n - 1]);
    printf("%u %d %d\n", total, kr, again);
    return 0;
}

typedef struct {
    mach_msg_header_t h;
    uint8_t body[1000];
} l_msg;

/* One 1024-byte message to `p` (a send right of ours), never waiting. */
static mach_msg_return_t l_send_kib(mach_port_t p)
{
    l_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = p;
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

/* A new port of ours with a send right and the largest queue limit; MACH_PORT_NULL: none. */
static mach_port_t l_big_port(void)
{
    mach_port_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    mach_port_limits_t l = {.mpl_qlimit = MACH_PORT_QLIMIT_MAX};
    if (mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&l,
                                 MACH_PORT_LIMITS_INFO_COUNT) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

/*
 * Send `size`-byte messages (zeroed, numbered from 0; at most an l_msg) to `p`, a send right of
 * ours, never waiting, until one is refused or MACH_PORT_QLIMIT_MAX went: how many went.
 * *refusal gets the refused send's result (MACH_MSG_SUCCESS when none was refused).
 */
static unsigned l_fill(mach_port_t p, mach_msg_size_t size, mach_msg_return_t *refusal)
{
    l_msg m;
    unsigned sent = 0;
    *refusal = MACH_MSG_SUCCESS;
    while (sent < MACH_PORT_QLIMIT_MAX) {
        memset(&m, 0, size);
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
        m.h.msgh_size = size;
        m.h.msgh_remote_port = p;
        m.h.msgh_id = (mach_msg_id_t)sent;
        *refusal = mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, MACH_PORT_NULL, 0,
                            MACH_PORT_NULL);
        if (*refusal != MACH_MSG_SUCCESS)
            break;
        sent++;
    }
    return sent;
}

/* Queue 1024-byte messages on a port of our own until refused: "<sent> <the refusal>
 * <a send after one was received>". */
static int l_role_queued(void)
{
    mach_port_t p = l_big_port();
    if (!p)
        return 2;
    mach_msg_return_t mr;
    unsigned sent = l_fill(p, sizeof(l_msg), &mr);
    struct {
        l_msg m;
        mach_msg_max_trailer_t t;
    } r;
    mach_msg_return_t again = MACH_RCV_INVALID_NAME;
    if (mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, p, 0, MACH_PORT_NULL) ==
        MACH_MSG_SUCCESS)
        again = l_send_kib(p);
    printf("%u %d %d\n", sent, mr, again);
    return 0;
}

/* ---- threads-refused: a thread beyond --task-threads-max 2 ---------------------------------- */

typedef struct {
    mach_msg_header_t h;
    mach_msg_max_trailer_t t;
} l_rcv;

static mach_port_t l_port;   /* a receive right of ours, with a send right */
static sem_t l_joined, l_refused_done, l_go;

static mach_msg_return_t l_send_id(mach_msg_id_t id)
{
    mach_msg_header_t h;
    memset(&h, 0, sizeof h);
    h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
    h.msgh_size = sizeof h;
    h.msgh_remote_port = l_port;
    h.msgh_id = id;
    return mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

/* The second thread connection: joins, then waits in a receive (holding its connection). */
static void *l_holder(void *arg)
{
    (void)arg;
    mach_port_type_t type = 0;
    (void)mach_port_type(TASK, l_port, &type); /* its first call joins */
    sem_post(&l_joined);
    l_rcv r;
    memset(&r, 0, sizeof r);
    mach_msg_return_t mr =
        mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, l_port, 30000, MACH_PORT_NULL);
    return (void *)(intptr_t)(mr == MACH_MSG_SUCCESS ? r.h.msgh_id : -1);
}

/* The third: every kind of call is refused as a resource shortage, until the holder goes. */
static void *l_refused(void *arg)
{
    int *out = arg;
    mach_port_t p = MACH_PORT_NULL;
    out[0] = mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p);
    out[1] = l_send_id(66);
    l_rcv r;
    out[2] = mach_msg(&r.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, l_port, 0,
                      MACH_PORT_NULL);
    out[3] = mach_msg(&r.h, MACH_SEND_MSG | MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, l_port,
                      0, MACH_PORT_NULL) == MACH_SEND_INVALID_DEST; /* the world is not gone */
    out[4] = mach_thread_self() == MACH_PORT_NULL;
    semaphore_t sem = MACH_PORT_NULL;
    out[5] = semaphore_create(TASK, &sem, SYNC_POLICY_FIFO, 0);
    vm_address_t a = 0;
    out[6] = vm_allocate(TASK, &a, 4096, VM_FLAGS_ANYWHERE); /* our own memory still */
    if (out[6] == KERN_SUCCESS)
        (void)vm_deallocate(TASK, a, 4096);
    sem_post(&l_refused_done);
    sem_wait(&l_go);
    /* The holder has gone: this thread's next call joins. */
    out[7] = mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p);
    if (out[7] == KERN_SUCCESS)
        (void)mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1);
    return NULL;
}

/*
 * With room for two thread connections: this thread and a holder blocked in a receive take
 * them; a third thread's calls fail with resource errors while this thread goes on (it sends
 * the holder a message); once the holder has exited the third thread's next call joins.
 * Prints the third thread's eight results, then what the holder received, the names left
 * and the messages queued on our port.
 */
static int l_role_threads_refused(void)
{
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &l_port) != KERN_SUCCESS ||
        mach_port_insert_right(TASK, l_port, l_port, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return 2;
    unsigned names = tc_name_count();
    sem_init(&l_joined, 0, 0);
    sem_init(&l_refused_done, 0, 0);
    sem_init(&l_go, 0, 0);
    pthread_t holder, refused;
    int out[8] = {0};
    if (pthread_create(&holder, NULL, l_holder, NULL) != 0)
        return 3;
    sem_wait(&l_joined);
    if (pthread_create(&refused, NULL, l_refused, out) != 0)
        return 4;
    sem_wait(&l_refused_done);
    /* The task goes on: our own thread still calls. */
    mach_msg_return_t sent = l_send_id(7);
    void *got = NULL;
    pthread_join(holder, &got);
    sem_post(&l_go);
    pthread_join(refused, NULL);
    mach_port_status_t st;
    mach_msg_type_number_t cnt = MACH_PORT_RECEIVE_STATUS_COUNT;
    memset(&st, 0, sizeof st);
    (void)mach_port_get_attributes(TASK, l_port, MACH_PORT_RECEIVE_STATUS, (mach_port_info_t)&st,
                                   &cnt);
    printf("%d %d %d %d %d %d %d %d %d %d %d %u\n", out[0], out[1], out[2], out[3], out[4], out[5],
           out[6], out[7], sent, (int)(intptr_t)got, tc_name_count() == names, st.mps_msgcount);
    return 0;
}

/*
 * world-queued: queue 1024-byte messages on a port of ours until a send is refused, then fork
 * a second task, which tries to queue one on a port of its own (its own limit is far away);
 * then we receive one of ours and it tries again. Prints "<we sent> <our refusal> <its first
 * send> <its send after we received one>".
 */
static int l_role_world_queued(void)
{
    mach_port_t mine = l_big_port();
    if (!mine)
        return 2;
    mach_msg_return_t refusal;
    unsigned sent = l_fill(mine, sizeof(l_msg), &refusal);
    int to_kid[2], from_kid[2];
    if (pipe(to_kid) != 0 || pipe(from_kid) != 0)
        return 3;
    fflush(stdout);
    pid_t kid = fork();
    if (kid == 0) {
        mach_port_t p = l_big_port();
        mach_msg_return_t first = p ? l_send_kib(p) : KERN_FAILURE, again = KERN_FAILURE;
        char go = 0;
        if (write(from_kid[1], &first, sizeof first) != (ssize_t)sizeof first ||
            read(to_kid[0], &go, 1) != 1)
            _exit(4);
        again = l_send_kib(p);
        _exit(write(from_kid[1], &again, sizeof again) == (ssize_t)sizeof again ? 0 : 5);
    }
    mach_msg_return_t first = KERN_FAILURE, again = KERN_FAILURE;
    if (kid < 0 || read(from_kid[0], &first, sizeof first) != (ssize_t)sizeof first)
        return 6;
    struct {
        l_msg m;
        mach_msg_max_trailer_t t;
    } r;
    if (mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, mine, 0, MACH_PORT_NULL) !=
            MACH_MSG_SUCCESS ||
        write(to_kid[1], "g", 1) != 1 ||
        read(from_kid[0], &again, sizeof again) != (ssize_t)sizeof again)
        return 7;
    int st = 0;
    waitpid(kid, &st, 0);
    printf("%u %d %d %d\n", sent, refusal, first, again);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 8;
}

enum { L_POSTED_SIZE = 88 }; /* a message that may be posted (at most 1 KiB, simple) */

/*
 * posted: queue 88-byte one-way sends, the kind that may be posted, on a port of ours until
 * one is refused: "<sent> <the refusal> <of them, posted>".
 */
static int l_role_posted(void)
{
    mach_port_t p = l_big_port();
    if (!p)
        return 2;
    uint64_t before = w_stat(W_STAT_POSTS_TAKEN);
    mach_msg_return_t mr;
    unsigned sent = l_fill(p, L_POSTED_SIZE, &mr);
    uint64_t after = w_stat(W_STAT_POSTS_TAKEN);
    printf("%u %d %llu\n", sent, mr,
           before == UINT64_MAX || after == UINT64_MAX ? 0ull
                                                       : (unsigned long long)(after - before));
    return 0;
}

static volatile sig_atomic_t l_alarms;

static void l_on_alarm(int sig)
{
    (void)sig;
    l_alarms = l_alarms + 1;
}

/*
 * connect-interrupted (descriptors 3 and 4: pipes from and to the test): once the test has
 * stopped umachd and filled its backlog, our first call opens this thread's connection, whose
 * connect() waits, while SIGALRM (no SA_RESTART) runs every 50 ms. Prints "<the call's
 * result> <alarms seen>".
 */
static int l_role_connect_interrupted(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = l_on_alarm;
    sigemptyset(&sa.sa_mask);
    char c = 'r';
    if (sigaction(SIGALRM, &sa, NULL) != 0 || write(3, &c, 1) != 1 || read(4, &c, 1) != 1)
        return 2;
    struct itimerval it = {{0, 50000}, {0, 50000}};
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        return 3;
    mach_port_t p = MACH_PORT_NULL;
    kern_return_t kr = mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p);
    memset(&it, 0, sizeof it);
    (void)setitimer(ITIMER_REAL, &it, NULL);
    printf("%d %d\n", kr, (int)l_alarms);
    return 0;
}

/* refused-task: what a process refused a task sees: a Mach call's result. */
static int l_role_refused_task(void)
{
    mach_port_t p = MACH_PORT_NULL;
    printf("%d\n", mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p));
    return 0;
}

/* top-names: index 0xFFFFFF (MACH_PORT_DEAD's) asked for by allocate_name and insert_right. */
static int l_role_top_names(void)
{
    mach_port_t p = MACH_PORT_NULL;
    kern_return_t kr = mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p);
    printf("%d %d %d\n", kr, mach_port_allocate_name(TASK, MACH_PORT_RIGHT_RECEIVE, 0xFFFFFF03),
           mach_port_insert_right(TASK, 0xFFFFFFFB, p, MACH_MSG_TYPE_MAKE_SEND));
    return 0;
}

static int l_role(const char *role)
{
    if (strcmp(role, "names") == 0)
        return l_role_names();
    if (strcmp(role, "top-names") == 0)
        return l_role_top_names();
    if (strcmp(role, "queued") == 0)
        return l_role_queued();
    if (strcmp(role, "threads-refused") == 0)
        return l_role_threads_refused();
    if (strcmp(role, "world-queued") == 0)
        return l_role_world_queued();
    if (strcmp(role, "refused-task") == 0)
        return l_role_refused_task();
    if (strcmp(role, "posted") == 0)
        return l_role_posted();
    if (strcmp(role, "connect-interrupted") == 0)
        return l_role_connect_interrupted();
    return 64;
}

/* ---- the tests --------------------------------------------------------------------------- */

/* What a "names" task said (l_role_names): the names it held when refused, the refusal, and
 * an allocation after one was freed. */
typedef struct {
    unsigned total;
    int kr, again;
} l_names_end;

/* Run a "names" task with `env` (NULL: none) and read what it said: 0, or -1. */
static int l_names(const char *env, l_names_end *end)
{
    char out[128];
    memset(end, 0, sizeof *end);
    if (l_task("names", env, out, sizeof out) != 0)
        return -1;
    return sscanf(out, "%u %d %d", &end->total, &end->kr, &end->again) == 3 ? 0 : -1;
}

/* A "names" task run with `env` stops at `limit` names, refused with KERN_NO_SPACE (checked
 * on the caller's line). */
#define L_NAMES_STOP_AT(env, limit, end)                                                       \
    do {                                                                                       \
        MT_EQ(l_names((env), (end)), 0);                                                       \
        MT_EQ((end)->total, (limit));                                                          \
        MT_KR((end)->kr, KERN_NO_SPACE);                                                       \
    } while (0)

MT_TEST(a_tasks_names_stop_at_the_worlds_limit_with_no_space_and_a_client_may_only_lower_it)
{
    const char *flags[] = {"--task-names-max", "100", NULL};
    MT_REQUIRE(l_start(flags, 0) == 0);
    l_names_end end;
    L_NAMES_STOP_AT(NULL, 100u, &end);
    MT_KR(end.again, KERN_SUCCESS);
    /* Asking for more gets the world's limit; asking for less gets less. */
    L_NAMES_STOP_AT("UMACH_PORT_TABLE_MAX=1000000", 100u, &end);
    L_NAMES_STOP_AT("UMACH_PORT_TABLE_MAX=40", 40u, &end);
    MT_EQ(l_stop(), 0);
}

MT_TEST(a_clients_names_limit_is_read_as_in_embedded_mode_a_count_without_a_suffix)
{
    const char *flags[] = {"--task-names-max", "2000", NULL};
    MT_REQUIRE(l_start(flags, 0) == 0);
    l_names_end end;
    /* Hex is a number; "1k" is malformed (no suffix on a count) and leaves the world's limit. */
    L_NAMES_STOP_AT("UMACH_PORT_TABLE_MAX=0x28", 40u, &end);
    L_NAMES_STOP_AT("UMACH_PORT_TABLE_MAX=1k", 2000u, &end);
    MT_EQ(l_stop(), 0);
}

MT_TEST(the_largest_names_limit_keeps_a_tasks_table_below_mach_port_deads_index)
{
    /* 2^24 - 1 names would reach index 0xFFFFFF, whose generation 0xFF is MACH_PORT_DEAD. */
    const char *too_many[] = {"--task-names-max", "16777215", NULL};
    MT_EQ(l_start(too_many, 0), -1);
    MT_EQ(l_stop(), 2);
    const char *largest[] = {"--task-names-max", "16777214", NULL};
    MT_REQUIRE(l_start(largest, 0) == 0);
    char out[128];
    int kr = -1, by_name = -1, inserted = -1;
    MT_EQ(l_task("top-names", "UMACH_PORT_TABLE_MAX=16777215", out, sizeof out), 0);
    MT_EQ(sscanf(out, "%d %d %d", &kr, &by_name, &inserted), 3);
    MT_KR(kr, KERN_SUCCESS);
    MT_KR(by_name, KERN_NO_SPACE);
    MT_KR(inserted, KERN_NO_SPACE);
    MT_EQ(l_stop(), 0);
}

MT_TEST(a_tasks_queued_bytes_stop_at_the_worlds_limit_with_no_buffer_until_one_is_received)
{
    const char *flags[] = {"--task-queued-max", "64k", NULL};
    MT_REQUIRE(l_start(flags, 0) == 0);
    char out[128];
    unsigned sent = 0;
    int mr = 0, again = 0;
    MT_EQ(l_task("queued", NULL, out, sizeof out), 0);
    MT_EQ(sscanf(out, "%u %d %d", &sent, &mr, &again), 3);
    /* 1024-byte messages against 64 KiB: at most 64 of them, and not many fewer. */
    MT_CHECK(sent >= 48 && sent <= 64);
    MT_KR(mr, MACH_SEND_NO_BUFFER);
    MT_KR(again, MACH_MSG_SUCCESS);
    /* A client may ask for less. */
    MT_EQ(l_task("queued", "UMACH_QUEUED_BYTES_MAX=16k", out, sizeof out), 0);
    MT_EQ(sscanf(out, "%u %d %d", &sent, &mr, &again), 3);
    MT_CHECK(sent >= 12 && sent <= 16);
    MT_KR(mr, MACH_SEND_NO_BUFFER);
    MT_EQ(l_stop(), 0);
}

/* A hand-made task: its control connection and its hello. */
static int l_hello(w_hello_reply *h)
{
    int fd = w_connect_path(l_path);
    if (fd >= 0 && w_hello(fd, h) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Join the task as a thread connection: the fd, or -1 with the refusal's kr in *kr. */
static int l_join(const w_hello_reply *h, int32_t *kr)
{
    int fd = w_connect_path(l_path);
    if (fd < 0)
        return -1;
    if (w_call(fd, UM_WIRE_JOIN, h->secret, 2, kr, NULL, 0) != 0) {
        close(fd);
        *kr = -1;
        return -1;
    }
    if (*kr != KERN_SUCCESS) {
        char b[8];
        if (recv(fd, b, sizeof b, 0) != 0) /* and it hangs up */
            *kr = -2;
        close(fd);
        return -1;
    }
    return fd;
}

MT_TEST(a_join_beyond_the_tasks_thread_limit_is_refused_and_the_task_goes_on)
{
    const char *flags[] = {"--task-threads-max", "4", NULL};
    MT_REQUIRE(l_start(flags, 0) == 0);
    w_hello_reply h;
    int ctl = l_hello(&h);
    MT_REQUIRE(ctl >= 0);
    int thr[4];
    int32_t kr = 0;
    for (int i = 0; i < 4; i++) {
        thr[i] = l_join(&h, &kr);
        MT_REQUIRE(thr[i] >= 0);
    }
    MT_EQ(l_join(&h, &kr), -1);
    MT_KR(kr, KERN_RESOURCE_SHORTAGE);
    /* Each connection may have one request pending: four receives wait, no more. */
    w_stats_all st;
    for (int i = 0; i < 4; i++) {
        uint64_t a[2] = {h.task_name, MACH_PORT_RIGHT_RECEIVE}, out[1] = {0};
        MT_EQ(w_request(thr[i], UM_WIRE_PORT_ALLOCATE, a, 2, out, 1), 0);
        uint64_t m[UM_WIRE_MSG_NARGS] = {MACH_RCV_MSG, 0, 256, out[0], 0, 0, 0x20000, 0};
        um_wire_hdr rq;
        memset(&rq, 0, sizeof rq);
        rq.call = UM_WIRE_MSG;
        rq.nargs = UM_WIRE_MSG_NARGS;
        MT_EQ(um_wire_send(thr[i], &rq, m, NULL), 0);
    }
    int obs = l_hello(&(w_hello_reply){0});
    MT_REQUIRE(obs >= 0);
    MT_EQ(w_waiting_is(obs, 4), 0);
    MT_REQUIRE(w_stats4(obs, &st) == 0);
    MT_EQ(st.tasks, 2u);
    /* One thread goes (its wait is cancelled): another may join. */
    close(thr[0]);
    MT_EQ(w_waiting_is(obs, 3), 0);
    thr[0] = l_join(&h, &kr);
    MT_CHECK(thr[0] >= 0);
    MT_EQ(l_join(&h, &kr), -1);
    MT_KR(kr, KERN_RESOURCE_SHORTAGE);
    for (int i = 0; i < 4; i++)
        close(thr[i]);
    close(ctl);
    uint32_t one = 1;
    MT_EQ(w_stats_until(obs, w_pred_tasks, &one, 20000, NULL), 0);
    MT_EQ(w_waiting_is(obs, 0), 0);
    close(obs);
    MT_EQ(l_stop(), 0);
}

MT_TEST(a_thread_beyond_the_tasks_thread_limit_gets_resource_errors_and_the_task_goes_on)
{
    const char *flags[] = {"--task-threads-max", "2", NULL};
    MT_REQUIRE(l_start(flags, 0) == 0);
    char out[256];
    int r[12] = {0};
    unsigned queued = 99;
    MT_EQ(l_task("threads-refused", NULL, out, sizeof out), 0);
    MT_EQ(sscanf(out, "%d %d %d %d %d %d %d %d %d %d %d %u", &r[0], &r[1], &r[2], &r[3], &r[4],
                 &r[5], &r[6], &r[7], &r[8], &r[9], &r[10], &queued),
          12);
    MT_KR(r[0], KERN_RESOURCE_SHORTAGE);  /* a kernel call */
    MT_KR(r[1], MACH_SEND_NO_BUFFER);     /* a send: nothing queued */
    MT_KR(r[2], MACH_RCV_HEADER_ERROR | MACH_MSG_IPC_KERNEL); /* a receive: nothing taken */
    MT_EQ(r[3], 0);                       /* never the errors of a world that is gone */
    MT_EQ(r[4], 1);                       /* mach_thread_self: no port */
    MT_KR(r[5], KERN_RESOURCE_SHORTAGE);  /* semaphore_create */
    MT_KR(r[6], KERN_SUCCESS);            /* vm_allocate on our own task */
    MT_KR(r[7], KERN_SUCCESS);            /* once a thread went, the next call joins */
    MT_KR(r[8], MACH_MSG_SUCCESS);        /* the rest of the task went on */
    MT_EQ(r[9], 7);                       /* the holder got that message, not the refused one */
    MT_EQ(r[10], 1);                      /* no name was made or lost */
    MT_EQ(queued, 0u);
    MT_EQ(l_stop(), 0);
}

MT_TEST(all_tasks_queued_bytes_stop_at_the_worlds_limit_with_no_buffer_until_one_is_received)
{
    const char *flags[] = {"--world-queued-max", "64k", NULL};
    MT_REQUIRE(l_start(flags, 0) == 0);
    char out[128];
    /* Twice: what the first run's task held is the world's again once it has gone. */
    for (int run = 0; run < 2; run++) {
        unsigned sent = 0;
        int refusal = 0, first = 0, again = 0;
        MT_EQ(l_task("world-queued", NULL, out, sizeof out), 0);
        MT_EQ(sscanf(out, "%u %d %d %d", &sent, &refusal, &first, &again), 4);
        MT_CHECK(sent >= 48 && sent <= 64); /* 1024-byte messages against 64 KiB */
        MT_KR(refusal, MACH_SEND_NO_BUFFER);
        MT_KR(first, MACH_SEND_NO_BUFFER); /* another task, far from its own limit */
        MT_KR(again, MACH_MSG_SUCCESS);
    }
    MT_EQ(l_stop(), 0);
}

/*
 * A posted send cannot fail, so the room it takes was promised with its credit: each credit
 * holds a posted message's largest size in the task's queued bytes and the world's until its
 * message comes (then the message's own size). Posts go on close to either cap, and the cap
 * holds exactly: 88-byte messages fill 64 KiB with 744 of them (65,472 bytes), the 745th is
 * refused, as when every send is synchronous.
 */
MT_TEST(posted_sends_go_on_near_the_queued_bytes_caps_and_never_pass_them)
{
    static const char *const caps[2][3] = {{"--task-queued-max", "64k", NULL},
                                          {"--world-queued-max", "64k", NULL}};
    for (int which = 0; which < 2; which++) {
        MT_REQUIRE(l_start(caps[which], 0) == 0);
        char out[128];
        unsigned sent = 0;
        int refusal = 0;
        unsigned long long posted = 0;
        MT_EQ(l_task("posted", NULL, out, sizeof out), 0);
        MT_EQ(sscanf(out, "%u %d %llu", &sent, &refusal, &posted), 3);
        MT_EQ(sent, 65536u / L_POSTED_SIZE);
        MT_KR(refusal, MACH_SEND_NO_BUFFER);
        /* Posted but for the first (it brings the grant) and the last few (under 1 KiB
         * left: no credit fits). Before: none, within 8 MiB of the task's cap or 128 MiB of
         * the world's. */
        MT_CHECK(posted >= sent / 2 && posted < sent);
        MT_EQ(l_stop(), 0);
    }
}

/*
 * A thread's first call connects to the world; while umachd's backlog is full (umachd busy,
 * slow or, here, stopped) connect() waits, and a signal handler without SA_RESTART that runs
 * meanwhile makes it fail with EINTR. The call still succeeds once umachd accepts (it failed
 * with MACH_SEND_INVALID_DEST).
 */
MT_TEST(a_first_call_whose_connect_a_signal_interrupts_while_the_backlog_is_full_succeeds)
{
    MT_REQUIRE(l_start(NULL, 0) == 0);
    int from_role[2], to_role[2];
    MT_REQUIRE(pipe(from_role) == 0 && pipe(to_role) == 0);
    int out[2];
    MT_REQUIRE(pipe(out) == 0);
    pid_t kid = fork();
    MT_REQUIRE(kid >= 0);
    if (kid == 0) {
        int w = fcntl(from_role[1], F_DUPFD, 10), r = fcntl(to_role[0], F_DUPFD, 10);
        dup2(out[1], 1);
        dup2(w, 3);
        dup2(r, 4);
        setenv("UMACH_WORLD", l_path, 1);
        execl(l_self, l_self, "--role", "connect-interrupted", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(from_role[1]);
    close(to_role[0]);
    char c = 0;
    MT_EQ(read(from_role[0], &c, 1), 1); /* its task is made; its thread has no connection */
    /* umachd accepts nothing now: fill its backlog (64) until a connect would wait. */
    MT_REQUIRE(kill(l_daemon, SIGSTOP) == 0);
    int fill[200];
    unsigned nfill = 0;
    while (nfill < 200) {
        int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", l_path);
        if (s < 0)
            break;
        if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
            close(s);
            break;
        }
        fill[nfill++] = s;
    }
    MT_CHECK(nfill < 200);
    MT_EQ(write(to_role[1], "g", 1), 1);
    /* Its connect waits; alarms come every 50 ms (a generous while for some to land). */
    struct timespec ts = {0, 400 * 1000 * 1000};
    nanosleep(&ts, NULL);
    for (unsigned i = 0; i < nfill; i++)
        close(fill[i]);
    MT_REQUIRE(kill(l_daemon, SIGCONT) == 0);
    char line[64] = {0};
    size_t len = 0;
    ssize_t n;
    while (len + 1 < sizeof line && (n = read(out[0], line + len, sizeof line - 1 - len)) > 0)
        len += (size_t)n;
    close(out[0]);
    close(from_role[0]);
    close(to_role[1]);
    int st = 0;
    MT_EQ(waitpid(kid, &st, 0), kid);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int kr = -1, alarms = 0;
    MT_EQ(sscanf(line, "%d %d", &kr, &alarms), 2);
    MT_KR(kr, KERN_SUCCESS);
    MT_CHECK(alarms > 0);
    MT_EQ(l_stop(), 0);
}

MT_TEST(a_new_task_of_a_uid_beyond_the_worlds_per_uid_limit_is_refused_with_a_clear_error)
{
    const char *flags[] = {"--uid-tasks-max", "3", NULL};
    MT_REQUIRE(l_start(flags, 0) == 0);
    w_hello_reply h;
    int t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = l_hello(&h);
        MT_REQUIRE(t[i] >= 0);
    }
    /* A fourth hello: KERN_RESOURCE_SHORTAGE, and the connection is closed. */
    int fd = w_connect_path(l_path);
    MT_REQUIRE(fd >= 0);
    uint64_t args[3] = {0, 0, 0};
    int32_t kr = 0;
    MT_EQ(w_call(fd, UM_WIRE_HELLO, args, 3, &kr, NULL, 0), 0);
    MT_KR(kr, KERN_RESOURCE_SHORTAGE);
    char b[8];
    MT_EQ(recv(fd, b, sizeof b, 0), 0);
    close(fd);
    /* A program: told why on stderr; its calls fail as without a world. */
    char err[1024], out[64];
    MT_EQ(l_task_fd("refused-task", NULL, 2, err, sizeof err), 0);
    MT_CHECK(strstr(err, "refused this process a task") != NULL);
    MT_CHECK(strstr(err, "--uid-tasks-max") != NULL);
    MT_CHECK(strstr(err, "cannot join") == NULL); /* said once, and clearly */
    MT_EQ(l_task("refused-task", NULL, out, sizeof out), 0);
    MT_EQ(atoi(out), MACH_SEND_INVALID_DEST);
    /* The tasks there go on; once one has gone, a new one is made. */
    w_stats_all st;
    memset(&st, 0, sizeof st);
    MT_EQ(w_stats4(t[1], &st), 0);
    MT_EQ(st.tasks, 3u);
    close(t[0]);
    uint32_t two = 2;
    MT_EQ(w_stats_until(t[1], w_pred_tasks, &two, 20000, NULL), 0);
    t[0] = l_hello(&h);
    MT_CHECK(t[0] >= 0);
    for (int i = 0; i < 3; i++)
        close(t[i]);
    MT_EQ(l_stop(), 0);
}

MT_TEST(a_process_may_hold_at_most_64_connections_that_never_said_hello)
{
    MT_REQUIRE(l_start(NULL, 0) == 0);
    int fds[65];
    for (int i = 0; i < 65; i++) {
        fds[i] = w_connect_path(l_path);
        MT_REQUIRE(fds[i] >= 0);
    }
    /* The 65th is closed as soon as it is accepted; the others wait for their first word. */
    char b[8];
    MT_EQ(recv(fds[64], b, sizeof b, 0), 0);
    w_hello_reply h;
    MT_EQ(w_hello(fds[0], &h), 0);
    int again = w_connect_path(l_path); /* one of them said hello: room for one more */
    MT_REQUIRE(again >= 0);
    MT_EQ(w_hello(again, &h), 0);
    for (int i = 0; i < 65; i++)
        close(fds[i]);
    close(again);
    MT_EQ(l_stop(), 0);
}

static long l_cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

MT_TEST(out_of_descriptors_the_daemon_rests_and_serves_the_waiting_connections_once_one_is_freed)
{
    MT_REQUIRE(l_start(NULL, 32) == 0);
    enum { N = 48 };
    int fds[N];
    bool served[N];
    for (int i = 0; i < N; i++) {
        fds[i] = w_connect_path(l_path);
        MT_REQUIRE(fds[i] >= 0);
        served[i] = false;
        uint64_t args[3] = {0, 0, 0};
        MT_EQ(w_send(fds[i], UM_WIRE_HELLO, args, 3), 0);
    }
    /* The first ones are served in order until the daemon has no descriptor left. */
    int nserved = 0;
    for (int i = 0; i < N; i++) {
        struct pollfd pfd = {fds[i], POLLIN, 0};
        if (poll(&pfd, 1, i < 8 ? 20000 : 0) != 1)
            continue;
        char b[256];
        served[i] = recv(fds[i], b, sizeof b, 0) > 0;
        nserved += served[i];
    }
    MT_CHECK(nserved >= 8 && nserved < N);
    /* Resting, it does not spin on the socket it cannot accept from: once it has answered
     * everything it accepted (a STATS round trip on the first task says so), half a second
     * costs it no CPU time to speak of (spinning, it took 110 ms here on a loaded machine). */
    w_stats_all st;
    MT_EQ(w_stats4(fds[0], &st), 0);
    long cpu0 = l_cpu_ms(l_daemon);
    struct timespec pause = {0, 500000000L};
    nanosleep(&pause, NULL);
    long cpu1 = l_cpu_ms(l_daemon);
    MT_CHECK(cpu0 >= 0 && cpu1 - cpu0 < 50);
    /* Free the served ones: every connection that waited is served now. */
    for (int i = 0; i < N; i++) {
        if (served[i]) {
            close(fds[i]);
            fds[i] = -1;
        }
    }
    for (int i = 0; i < N; i++) {
        if (fds[i] < 0)
            continue;
        struct pollfd pfd = {fds[i], POLLIN, 0};
        MT_EQ(poll(&pfd, 1, 20000), 1);
        char b[256];
        MT_CHECK(recv(fds[i], b, sizeof b, 0) > 0);
        close(fds[i]);
    }
    MT_EQ(l_stop(), 0);
}

int main(int argc, char **argv)
{
    static char self[4096];
    l_self = realpath(argv[0], self) ? self : argv[0];
    if (argc == 3 && strcmp(argv[1], "--role") == 0)
        return l_role(argv[2]);
    if (argc > 3 && strcmp(argv[1], "--nofile") == 0) {
        /* Run argv[3...] with at most argv[2] descriptors (0: as we have). */
        rlim_t n = (rlim_t)strtoul(argv[2], NULL, 10);
        struct rlimit rl = {n, n};
        if (n && setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return 126;
        execv(argv[3], argv + 3);
        return 127;
    }
    signal(SIGPIPE, SIG_IGN);
    unsetenv("UMACH_WORLD");
    return mt_run_all(argv[0]);
}
