/*
 * many_clients.c — runs inside a world (ctest: umach-run -- world_many_clients): a thousand
 * short-lived client processes against one server. Each is a new task (forked), looks the
 * server up, makes rights and sends the server a request carrying a send right, a receive
 * right and a reply right; then it exits, is killed (before or while it waits for the reply),
 * or takes the reply and exits. Afterwards nothing of them is left in umachd: its tasks,
 * waiting calls and connections are what they were, the server's space holds the names it
 * held, and the daemon's descriptors and resident memory are back where they started
 * (docs/world.md, "Task death").
 */
#define _GNU_SOURCE
#include "mt.h"
#include "space_names.h"
#include "world_util.h"

#include <mach/mach.h>
#include <servers/bootstrap.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TASK mach_task_self()

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t body;
    mach_msg_port_descriptor_t send, recv;
    int kind;
} mc_request;

typedef union {
    mc_request req;
    uint8_t bytes[512];
} mc_buf;

/* How each client ends. */
enum { MC_EXITS, MC_KILLS_ITSELF, MC_TAKES_THE_REPLY, MC_KILLED_WHILE_WAITING, MC_KINDS };

static unsigned mc_count(void)
{
    const char *s = getenv("MC_CLIENTS");
    if (s && *s)
        return (unsigned)strtoul(s, NULL, 10);
#if MT_SANITIZER_SCALE > 2
    return 400; /* ThreadSanitizer: each fork costs many times more */
#else
    return 1000;
#endif
}

/* The client: its exit status says what went wrong. */
static int mc_client(const char *service, int kind)
{
    mach_port_t server = MACH_PORT_NULL, mine = MACH_PORT_NULL, gift = MACH_PORT_NULL;
    if (bootstrap_look_up(bootstrap_port, service, &server) != KERN_SUCCESS)
        return 10;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &mine) != KERN_SUCCESS ||
        mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &gift) != KERN_SUCCESS)
        return 11;
    mc_request r;
    memset(&r, 0, sizeof r);
    r.h.msgh_bits = MACH_MSGH_BITS_SET(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0,
                                       MACH_MSGH_BITS_COMPLEX);
    r.h.msgh_size = sizeof r;
    r.h.msgh_remote_port = server;
    r.h.msgh_local_port = mine;
    r.h.msgh_id = 500;
    r.body.msgh_descriptor_count = 2;
    r.send = (mach_msg_port_descriptor_t){
        .name = mine, .disposition = MACH_MSG_TYPE_MAKE_SEND, .type = MACH_MSG_PORT_DESCRIPTOR};
    r.recv = (mach_msg_port_descriptor_t){.name = gift,
                                          .disposition = MACH_MSG_TYPE_MOVE_RECEIVE,
                                          .type = MACH_MSG_PORT_DESCRIPTOR};
    r.kind = kind;
    if (mach_msg(&r.h, MACH_SEND_MSG, sizeof r, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL) !=
        MACH_MSG_SUCCESS)
        return 12;
    switch (kind) {
    case MC_EXITS:
        return 0;
    case MC_KILLS_ITSELF:
        raise(SIGKILL);
        return 13;
    default: {
        mc_buf b;
        mach_msg_return_t mr =
            mach_msg(&b.req.h, MACH_RCV_MSG, 0, sizeof b, mine, 0, MACH_PORT_NULL);
        if (mr != MACH_MSG_SUCCESS || b.req.h.msgh_id != 600)
            return 14;
        return 0;
    }
    }
}

static pid_t mc_daemon_pid(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return -1;
    return cred.pid;
}

static int mc_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
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

static long mc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* Run `n` clients one after the other, serving each; the number that went as planned. */
static unsigned mc_run(mach_port_t server, const char *service, unsigned n, unsigned first)
{
    unsigned good = 0;
    for (unsigned i = first; i < first + n; i++) {
        int kind = (int)(i % MC_KINDS);
        pid_t kid = fork();
        if (kid < 0)
            break;
        if (kid == 0)
            _exit(mc_client(service, kind));
        mc_buf b;
        mach_msg_return_t mr = mach_msg(&b.req.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof b,
                                        server, 20000, MACH_PORT_NULL);
        bool ok = mr == MACH_MSG_SUCCESS && b.req.h.msgh_id == 500 && b.req.kind == kind;
        if (mr == MACH_MSG_SUCCESS && kind == MC_TAKES_THE_REPLY) {
            mach_msg_header_t reply = {
                .msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0),
                .msgh_size = sizeof reply,
                .msgh_remote_port = b.req.h.msgh_remote_port,
                .msgh_id = 600};
            ok = ok && mach_msg(&reply, MACH_SEND_MSG, sizeof reply, 0, MACH_PORT_NULL, 0,
                                MACH_PORT_NULL) == MACH_MSG_SUCCESS;
            b.req.h.msgh_remote_port = MACH_PORT_NULL;
        }
        if (kind == MC_KILLED_WHILE_WAITING)
            kill(kid, SIGKILL);
        if (mr == MACH_MSG_SUCCESS)
            mach_msg_destroy(&b.req.h);
        int st = 0;
        if (waitpid(kid, &st, 0) != kid)
            ok = false;
        else if (kind == MC_KILLS_ITSELF || kind == MC_KILLED_WHILE_WAITING)
            ok = ok && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        else
            ok = ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!ok)
            fprintf(stderr, "client %u (kind %d): mach_msg 0x%x, status 0x%x\n", i, kind, mr, st);
        good += ok;
    }
    return good;
}

MT_TEST_TIMEOUT(a_thousand_short_lived_clients_leave_nothing_in_the_daemon, 50)
{
    w_service svc;
    MT_KR(w_service_open(&svc, "many_clients", NULL), KERN_SUCCESS);
    int obs = w_observer(NULL);
    MT_REQUIRE(obs >= 0);
    pid_t daemon = mc_daemon_pid(obs);
    MT_REQUIRE(daemon > 0);

    /* Warm up (the daemon's allocator, our MIG reply port), then take the baseline. */
    MT_EQ(mc_run(svc.port, svc.name, 40, 0), 40u);
    w_stats_all base;
    MT_REQUIRE(w_stats4(obs, &base) == 0);
    MT_EQ(w_tasks_are(obs, base.tasks), 0);
    mach_msg_type_number_t names = tc_name_count();
    int fds = mc_fd_count(daemon);
    long rss = mc_rss_kib(daemon);
    MT_REQUIRE(fds > 0 && rss > 0);

    unsigned n = mc_count();
    MT_EQ(mc_run(svc.port, svc.name, n, 40), n);

    /* Every client's task is gone, and with it everything the daemon held for it. */
    MT_EQ(w_tasks_are(obs, base.tasks), 0);
    MT_EQ(w_waiting_is(obs, 0), 0);
    w_stats_all after;
    MT_REQUIRE(w_stats4(obs, &after) == 0);
    MT_EQ(after.tasks, base.tasks);
    MT_EQ(after.conns, base.conns);
    MT_EQ(after.names, base.names);
    MT_EQ(tc_name_count(), names);
    /* Descriptors the daemon closes when it sees a process gone (a pidfd) may take it one
     * more turn of its loop: wait for them (bounded), never for more. */
    for (int waited = 0; mc_fd_count(daemon) != fds && waited < 20000; waited += 2) {
        struct timespec ts = {0, 2000000L};
        nanosleep(&ts, NULL);
    }
    MT_EQ(mc_fd_count(daemon), fds);
    long rss_after = mc_rss_kib(daemon);
    fprintf(stderr, "umachd after %u clients: %d fds, RSS %ld KiB (was %ld KiB)\n", n,
            mc_fd_count(daemon), rss_after, rss);
#if MT_SANITIZER_SCALE == 1
    /* Roughly flat: freed memory is reused, not grown (a sanitizer's quarantine would). */
    MT_CHECK(rss_after < rss + 4096);
#endif
    mc_buf b;
    MT_KR(mach_msg(&b.req.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof b, svc.port, 0,
                   MACH_PORT_NULL),
          MACH_RCV_TIMED_OUT);
    close(obs);
    MT_KR(w_service_close(&svc), KERN_SUCCESS);
}

MT_MAIN()
