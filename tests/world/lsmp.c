/*
 * lsmp.c — umach-lsmp in a world (docs/world.md, "Looking inside: umach-lsmp"): a server
 * process checks a service in and builds a known space, a client process looks the service
 * up and queues a message on it, and umach-lsmp -p shows each one's rows exactly: the
 * server's receive right with its queue, limit, counts, request and set; the client's send
 * right leading to the server's pid and name, with the same ipc-object; every task without
 * -p; the client's right a dead name once the server is killed. umach_lsmp() in a world
 * gives the text umach-lsmp prints for the same task. Without a world umach-lsmp says so. A
 * task of another uid (a world with --allow-uid) is refused to nobody and left out of its
 * list, while the world's owner lists it (as root: nobody's side needs a credential change).
 */
#define _GNU_SOURCE
#include "mt.h"
#include "lsmp_text.h"
#include "world_util.h"

#include <mach/mach.h>
#include <mach/notify.h>
#include <servers/bootstrap.h>
#include <umach/lsmp.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVICE "lsmp.world.test"

static const char *self_path;
static char lsmp_path[4096];
static char w_dir[64], w_sock[96];
static pid_t w_daemon;

/* ---- the two client processes (run as `lsmp server` / `lsmp client` inside the world) ------ */

/* Wait for the test to close our stdin, then leave. */
static int wait_for_eof(void)
{
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}

static int run_server(void)
{
    mach_port_t task = mach_task_self(), r = MACH_PORT_NULL, n = MACH_PORT_NULL;
    mach_port_t set = MACH_PORT_NULL, prev = MACH_PORT_NULL;
    if (bootstrap_check_in(bootstrap_port, SERVICE, &r) != KERN_SUCCESS ||
        mach_port_insert_right(task, r, r, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS ||
        mach_port_allocate(task, MACH_PORT_RIGHT_RECEIVE, &n) != KERN_SUCCESS ||
        mach_port_request_notification(task, r, MACH_NOTIFY_NO_SENDERS, 0, n,
                                       MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev) != KERN_SUCCESS ||
        mach_port_allocate(task, MACH_PORT_RIGHT_PORT_SET, &set) != KERN_SUCCESS ||
        mach_port_insert_member(task, r, set) != KERN_SUCCESS)
        return 3;
    mach_port_limits_t lim = {.mpl_qlimit = 3};
    if (mach_port_set_attributes(task, r, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                 MACH_PORT_LIMITS_INFO_COUNT) != KERN_SUCCESS)
        return 4;
    printf("0x%08x 0x%08x 0x%08x\n", r, n, set);
    fflush(stdout);
    return wait_for_eof();
}

static int run_client(void)
{
    mach_port_t task = mach_task_self(), s = MACH_PORT_NULL, d = MACH_PORT_NULL;
    if (bootstrap_look_up(bootstrap_port, SERVICE, &s) != KERN_SUCCESS ||
        mach_port_allocate(task, MACH_PORT_RIGHT_DEAD_NAME, &d) != KERN_SUCCESS)
        return 3;
    mach_msg_header_t h = {.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
                           .msgh_size = sizeof h,
                           .msgh_remote_port = s,
                           .msgh_id = 1};
    if (mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 1000,
                 MACH_PORT_NULL) != MACH_MSG_SUCCESS)
        return 4;
    /* Our names, then our space as umach_lsmp() gives it (one NUL ends it). */
    char *text = NULL;
    if (umach_lsmp(task, &text, NULL) != KERN_SUCCESS)
        return 5;
    printf("0x%08x 0x%08x\n%s", s, d, text);
    putchar('\0');
    fflush(stdout);
    free(text);
    return wait_for_eof();
}

/* A task that only waits. */
static int run_idle(void)
{
    printf("0x%08x\n", mach_task_self());
    fflush(stdout);
    return wait_for_eof();
}

/* ---- the test's side --------------------------------------------------------------------- */

/* Start a world; `allow_uid` (or NULL) is passed on as --allow-uid. */
static int world_start_allowing(const char *allow_uid)
{
    snprintf(w_dir, sizeof w_dir, "/tmp/umach_lsmp_XXXXXX");
    if (!mkdtemp(w_dir))
        return -1;
    snprintf(w_sock, sizeof w_sock, "%s/world.sock", w_dir);
    const char *extra[] = {"--allow-uid", allow_uid, NULL};
    w_daemon = w_daemon_start(w_sock, allow_uid ? extra : NULL);
    return w_daemon > 0 ? 0 : -1;
}

static int world_start(void)
{
    return world_start_allowing(NULL);
}

static void world_stop(void)
{
    (void)w_daemon_stop(w_daemon);
    rmdir(w_dir);
}

typedef struct w_child {
    pid_t pid;
    int to;   /* its stdin */
    int from; /* its stdout */
} w_child;

static int child_start(w_child *c, const char *mode)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        return -1;
    c->pid = fork();
    if (c->pid < 0)
        return -1;
    if (c->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        setenv("UMACH_WORLD", w_sock, 1);
        execl(self_path, self_path, mode, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->to = in[1];
    c->from = out[0];
    return 0;
}

/* Read from the child up to (not including) `end`; false at EOF first. */
static bool child_read(w_child *c, char end, char *buf, size_t cap)
{
    size_t len = 0;
    char ch;
    while (read(c->from, &ch, 1) == 1) {
        if (ch == end) {
            buf[len] = '\0';
            return true;
        }
        if (len + 1 < cap)
            buf[len++] = ch;
    }
    buf[len] = '\0';
    return false;
}

/* Let the child go; its exit status. */
static int child_end(w_child *c)
{
    close(c->to);
    close(c->from);
    int st = 0;
    waitpid(c->pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The uid (and gid) umach-lsmp runs as; 0: ours. */
static uid_t run_as;

/*
 * Run umach-lsmp with `args` (NULL-terminated) and `world` as UMACH_WORLD (NULL: unset);
 * stdout into `out`, stderr into `err`. Returns its exit status.
 */
static int run_lsmp(const char *world, char *out, size_t outcap, char *err, size_t errcap, ...)
{
    const char *argv[8] = {"umach-lsmp"};
    int argc = 1;
    va_list ap;
    va_start(ap, errcap);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 7)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char opath[] = "/tmp/umach_lsmp_out_XXXXXX", epath[] = "/tmp/umach_lsmp_err_XXXXXX";
    int ofd = mkstemp(opath), efd = mkstemp(epath);
    if (ofd < 0 || efd < 0)
        return -1;
    unlink(opath);
    unlink(epath);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        if (run_as && (setgroups(0, NULL) != 0 || setgid(run_as) != 0 || setuid(run_as) != 0))
            _exit(126);
        if (world)
            setenv("UMACH_WORLD", world, 1);
        else
            unsetenv("UMACH_WORLD");
        execv(lsmp_path, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    int fds[2] = {ofd, efd};
    char *bufs[2] = {out, err};
    size_t caps[2] = {outcap, errcap};
    for (int i = 0; i < 2; i++) {
        lseek(fds[i], 0, SEEK_SET);
        ssize_t n = read(fds[i], bufs[i], caps[i] - 1);
        bufs[i][n > 0 ? n : 0] = '\0';
        close(fds[i]);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A row with its ipc-object column (characters 12..21) replaced by "OBJECT    ". */
static void mask_object(char *row)
{
    if (strlen(row) > 22)
        memcpy(row + 12, "OBJECT    ", 10);
}

static void expect_row_at(const char *file, int line, const char *text, unsigned name,
                          const char *fmt, ...)
{
    char prefix[16], got[512], want[512];
    snprintf(prefix, sizeof prefix, "0x%08x", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    line_of(text, prefix, got, sizeof got);
    mask_object(got);
    mt_checks++;
    if (strcmp(got, want) != 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "row of %s:\n    got  [%s]\n    want [%s]", prefix, got, want);
        mt_fail_at(file, line, msg);
    }
}
#define EXPECT_ROW(text, name, ...) expect_row_at(__FILE__, __LINE__, (text), (name), __VA_ARGS__)

/* The ipc-object column of `name`'s row. */
static void object_of(const char *text, unsigned name, char out[11])
{
    char prefix[16], row[512];
    snprintf(prefix, sizeof prefix, "0x%08x", name);
    out[0] = '\0';
    if (line_of(text, prefix, row, sizeof row) && strlen(row) > 22)
        snprintf(out, 11, "%.10s", row + 12);
}

static int count_of(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

static char out[1 << 16], err[4096];

MT_TEST_TIMEOUT(lsmp_shows_a_server_and_its_client_across_processes, 60)
{
    MT_REQUIRE(world_start() == 0);
    w_child server, client;
    MT_REQUIRE(child_start(&server, "server") == 0);
    char line[256];
    unsigned r = 0, n = 0, set = 0, s = 0, d = 0;
    MT_REQUIRE(child_read(&server, '\n', line, sizeof line));
    MT_REQUIRE(sscanf(line, "%x %x %x", &r, &n, &set) == 3);
    MT_REQUIRE(child_start(&client, "client") == 0);
    MT_REQUIRE(child_read(&client, '\n', line, sizeof line));
    MT_REQUIRE(sscanf(line, "%x %x", &s, &d) == 2);
    static char self_text[1 << 15];
    MT_REQUIRE(child_read(&client, '\0', self_text, sizeof self_text));

    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)server.pid);
    MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, "-p", pid, NULL), 0);
    char title[64];
    const char *base = strrchr(self_path, '/');
    snprintf(title, sizeof title, "Process (%d) : %.15s\n", (int)server.pid,
             base ? base + 1 : self_path); /* the process's comm */
    MT_CHECK(strncmp(out, title, strlen(title)) == 0);
    /* srights: the server's, the bootstrap registry's (checked in), the client's, and the
     * queued message's; mscount: the server's make-send and the registry's. */
    EXPECT_ROW(out, r,
               "0x%08x  OBJECT      recv,send   ------  -N--     1      1      0        4        "
               "2       3         1  0x0000000000000000  in set 0x%08x",
               r, set);
    /* The no-senders request holds a send-once right to n. */
    EXPECT_ROW(out, n,
               "0x%08x  OBJECT      recv        ------  ----     1             1        0        "
               "0       5         0  0x0000000000000000",
               n);
    char r_object[11];
    object_of(out, r, r_object);

    snprintf(pid, sizeof pid, "%d", (int)client.pid);
    MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, "--pid", pid, NULL), 0);
    EXPECT_ROW(out, s,
               "0x%08x  OBJECT      send        ------  ----            1                        "
               "                                         -> 0x%08x (pid %d)",
               s, r, (int)server.pid);
    char s_object[11];
    object_of(out, s, s_object);
    MT_CHECK(s_object[0] && strcmp(s_object, r_object) == 0); /* one port, one identifier */
    EXPECT_ROW(out, d, "0x%08x  OBJECT      dead-name                           1", d);
    /* umach_lsmp() inside the client gave the very same text. */
    MT_CHECK(strcmp(out, self_text) == 0);

    /* Without -p: every task, umach-lsmp's own included. */
    MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, NULL), 0);
    MT_EQ(count_of(out, "Process ("), 3);
    MT_EQ(count_of(out, "TASK SELF"), 3);
    MT_CHECK(strstr(out, " : umach-lsmp\n") != NULL);

    /* The server dies: the client's send right is a dead name. */
    kill(server.pid, SIGKILL);
    MT_EQ(child_end(&server), 128 + SIGKILL);
    snprintf(pid, sizeof pid, "%d", (int)client.pid);
    bool dead = false;
    for (int i = 0; i < 500 && !dead; i++) {
        MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, "-p", pid, NULL), 0);
        char row[512];
        char prefix[16];
        snprintf(prefix, sizeof prefix, "0x%08x", s);
        dead = line_of(out, prefix, row, sizeof row) && strstr(row, "dead-name");
        if (!dead) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    EXPECT_ROW(out, s, "0x%08x  OBJECT      dead-name                           1", s);
    MT_EQ(child_end(&client), 0);
    world_stop();
}

MT_TEST(a_pid_with_no_task_and_a_missing_world_are_errors)
{
    MT_REQUIRE(world_start() == 0);
    MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, "-p", "999999999", NULL), 1);
    MT_CHECK(strstr(err, "no task of pid 999999999") != NULL);
    MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, "-p", "12x", NULL), 2);
    MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, "-p", "0", NULL), 2);
    char me[16];
    snprintf(me, sizeof me, "%d", (int)getpid()); /* not a task: we never joined */
    MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, "-p", me, NULL), 1);
    MT_CHECK(strstr(err, "no task of pid") != NULL);
    MT_CHECK(out[0] == '\0');
    world_stop();
    /* No world at all: UMACH_WORLD unset, or naming a socket nobody answers on. */
    MT_EQ(run_lsmp(NULL, out, sizeof out, err, sizeof err, NULL), 1);
    MT_CHECK(strstr(err, "no umach world") != NULL);
    MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, NULL), 1);
    MT_CHECK(strstr(err, "no umach world answers") != NULL);
    MT_EQ(run_lsmp(NULL, out, sizeof out, err, sizeof err, "--help", NULL), 0);
    MT_CHECK(strstr(out, "-p, --pid PID") && strstr(out, "--socket PATH"));
    MT_EQ(run_lsmp(NULL, out, sizeof out, err, sizeof err, "--bogus", NULL), 2);
}

#define NOBODY 65534

/*
 * A child joins the world as root, drops to nobody, then asks umachd (by hand, as
 * umach-lsmp does) for the task of `pid`: the reply's result, or -1.
 */
static int dropped_asks(pid_t pid)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t child = fork();
    if (child == 0) {
        int32_t kr = -1;
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", w_sock);
        w_hello_reply h;
        uint64_t args[3] = {UM_WIRE_LSMP_PID, (uint64_t)pid, 0};
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
            w_hello(fd, &h) == 0 && setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 &&
            setuid(NOBODY) == 0 && w_call(fd, UM_WIRE_LSMP, args, 3, &kr, NULL, 0) != 0)
            kr = -1;
        (void)!write(p[1], &kr, sizeof kr);
        _exit(0);
    }
    close(p[1]);
    int32_t kr = -1;
    if (read(p[0], &kr, sizeof kr) != (ssize_t)sizeof kr)
        kr = -1;
    close(p[0]);
    waitpid(child, NULL, 0);
    return kr;
}

MT_TEST(another_users_task_is_listed_only_for_root_and_the_worlds_owner)
{
    MT_REQUIRE(world_start_allowing("65534") == 0);
    /* Let nobody reach the socket (umachd makes it ours alone). */
    MT_CHECK(chmod(w_dir, 0755) == 0);
    MT_CHECK(chmod(w_sock, 0666) == 0);
    w_child idle;
    MT_REQUIRE(child_start(&idle, "idle") == 0);
    char line[64], pid[16];
    MT_REQUIRE(child_read(&idle, '\n', line, sizeof line));
    snprintf(pid, sizeof pid, "%d", (int)idle.pid);
    /* The world's owner lists it, and every task. */
    MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, "-p", pid, NULL), 0);
    MT_EQ(count_of(out, "Process ("), 1);
    MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, NULL), 0);
    MT_EQ(count_of(out, "Process ("), 2);
    if (geteuid() != 0) {
        fprintf(stderr, "  (not root: another uid's view is not checked)\n");
    } else {
        run_as = NOBODY;
        int st = run_lsmp(w_sock, out, sizeof out, err, sizeof err, "-p", pid, NULL);
        if (st == 127 || st == 126) {
            fprintf(stderr, "  (nobody cannot run umach-lsmp here: not checked)\n");
        } else {
            /* nobody is refused another uid's task, and sees only its own in the list. */
            MT_EQ(st, 1);
            MT_CHECK(strstr(err, "another user's task") != NULL);
            MT_CHECK(out[0] == '\0');
            MT_EQ(run_lsmp(w_sock, out, sizeof out, err, sizeof err, NULL), 0);
            MT_EQ(count_of(out, "Process ("), 1);
            MT_CHECK(strstr(out, " : umach-lsmp\n") != NULL);
            char mine[32];
            snprintf(mine, sizeof mine, "Process (%d)", (int)idle.pid);
            MT_CHECK(strstr(out, mine) == NULL);
            /* A process that joined as root and then dropped to nobody asks as nobody. */
            MT_EQ(dropped_asks(idle.pid), KERN_NO_ACCESS);
        }
        run_as = 0;
    }
    MT_EQ(child_end(&idle), 0);
    world_stop();
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1 && strcmp(argv[1], "server") == 0)
        return run_server();
    if (argc > 1 && strcmp(argv[1], "client") == 0)
        return run_client();
    if (argc > 1 && strcmp(argv[1], "idle") == 0)
        return run_idle();
    /* umach-lsmp is built next to umachd. */
    snprintf(lsmp_path, sizeof lsmp_path, "%s", UMACHD_PATH);
    char *slash = strrchr(lsmp_path, '/');
    snprintf(slash ? slash + 1 : lsmp_path,
             sizeof lsmp_path - (size_t)(slash ? slash + 1 - lsmp_path : 0), "umach-lsmp");
    return mt_run_all(argv[0]);
}
