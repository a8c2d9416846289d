/*
 * umachd — the umach world daemon (docs/world.md).
 *
 * It hosts a kernel core of its own (um_kernel) and makes each process that connects to its
 * SOCK_SEQPACKET socket and says hello one task (um_task_create); the process's threads join
 * that task with connections of their own and make their Mach calls over them (protocol
 * version 1, src/umach/wire/um_wire.h). When the task's control connection hangs up (the
 * process exited, crashed or was killed) the task dies (um_task_terminate) and nothing of it
 * stays. Peers are identified by the kernel (SO_PEERCRED), and peers of another uid are
 * refused unless --allow-uid names them. One epoll loop; nothing ever blocks on a client.
 *
 * This file: options, the world's directory and socket, main. The kernel's operations:
 * d_kernel.c. The loop: d_loop.c.
 */
#define _GNU_SOURCE
#include "umachd.h"
#include "umachd_bootstrap.h"
#include "um_env.h"


#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t d_stop;

static void d_on_signal(int sig)
{
    (void)sig;
    d_stop = 1;
}

/* ---- the socket -------------------------------------------------------------------------------- */

static int d_listen(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "umachd: socket path too long: %s\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        perror("umachd: socket");
        return -1;
    }
    /* A socket nobody answers on is a stale one of a world that is gone; a live world's is
     * never taken over. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 || errno == EAGAIN) {
        fprintf(stderr, "umachd: a world already runs on %s\n", path);
        close(fd);
        return -1;
    }
    close(fd);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        perror("umachd: socket");
        return -1;
    }
    unlink(path);
    mode_t old = umask(077);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || listen(fd, 64) != 0) {
        fprintf(stderr, "umachd: cannot listen on %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * The default world's directory: $XDG_RUNTIME_DIR/umach, else /tmp/umach-UID. Created mode
 * 0700; an existing one is used only if it is a real directory (not a symlink) owned by our
 * uid that nobody else may enter. `dir` gets the directory, `path` the socket in it.
 */
static int d_default_socket(char *dir, size_t dirlen, char *path, size_t pathlen)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n = xdg && xdg[0] == '/' ? snprintf(dir, dirlen, "%s/umach", xdg)
                                 : snprintf(dir, dirlen, "/tmp/umach-%u", (unsigned)getuid());
    if (n < 0 || (size_t)n >= dirlen ||
        snprintf(path, pathlen, "%s/world.sock", dir) >= (int)pathlen) {
        fprintf(stderr, "umachd: default world directory path too long\n");
        return -1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "umachd: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (lstat(dir, &st) != 0) {
        fprintf(stderr, "umachd: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "umachd: refusing %s: not a directory\n", dir);
        return -1;
    }
    if (st.st_uid != getuid()) {
        fprintf(stderr, "umachd: refusing %s: owned by uid %u, not by us (uid %u)\n", dir,
                (unsigned)st.st_uid, (unsigned)getuid());
        return -1;
    }
    if (st.st_mode & 077) {
        fprintf(stderr,
                "umachd: refusing %s: mode %04o lets group or others in (want 0700; "
                "chmod 700 it or remove it)\n",
                dir, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

static void d_usage(FILE *to)
{
    fprintf(to, "usage: umachd [--socket PATH] [--allow-uid UID]... [--service NAME]...\n"
                "              [--ready-fd N] [--task-names-max N] [--task-queued-max BYTES]\n"
                "              [--task-threads-max N] [--uid-tasks-max N]\n"
                "              [--world-queued-max BYTES]\n"
                "Runs a umach world in the foreground: every process that connects to its\n"
                "socket (SOCK_SEQPACKET, created mode 0600) is one Mach task; its task dies\n"
                "when its connection hangs up. SIGTERM or SIGINT stops the world and removes\n"
                "the socket.\n"
                "  --socket PATH     where the world's socket lives. Default:\n"
                "                    $XDG_RUNTIME_DIR/umach/world.sock, or /tmp/umach-UID/world.sock\n"
                "                    when XDG_RUNTIME_DIR is unset; that directory is created\n"
                "                    mode 0700, and an existing one is refused unless it is a\n"
                "                    directory owned by our uid with no group or other access\n"
                "  --allow-uid UID   also accept peers of this uid (default: only our own)\n"
                "  --service NAME    declare a bootstrap service (repeatable), as a launchd\n"
                "                    plist's MachServices: clients can look NAME up and queue\n"
                "                    messages before its server runs; the first task of our\n"
                "                    uid to bootstrap_check_in NAME gets the receive right with\n"
                "                    the queue, and it comes back to umachd when that task\n"
                "                    destroys it or dies. NAME has 1 to 127 bytes\n"
                "  --ready-fd N      once the socket listens, write one byte to fd N and close\n"
                "                    it (how umach-run waits for the world)\n"
                "  --task-names-max N, --task-queued-max BYTES, --task-threads-max N\n"
                "                    per-task limits: names in a task's space (default\n"
                "                    2097151; beyond, KERN_NO_SPACE), bytes of its messages\n"
                "                    waiting in queues (k, m, g suffixes; default half the\n"
                "                    memory, at least 2g; beyond, MACH_SEND_NO_BUFFER), its\n"
                "                    threads calling at once (default 4096; beyond, a thread's\n"
                "                    join is refused and its calls fail with resource errors:\n"
                "                    KERN_RESOURCE_SHORTAGE, MACH_SEND_NO_BUFFER).\n"
                "                    UMACH_PORT_TABLE_MAX and UMACH_QUEUED_BYTES_MAX may lower\n"
                "                    a task's own\n"
                "  --uid-tasks-max N tasks of one uid at once (default 32768): a new task of a\n"
                "                    uid that has N is refused (its process is told why on\n"
                "                    stderr and its Mach calls fail as without a world)\n"
                "  --world-queued-max BYTES\n"
                "                    bytes of every task's messages waiting in queues\n"
                "                    together, inline and out of line (k, m, g suffixes;\n"
                "                    default half the memory, at least 2g); beyond, a send\n"
                "                    is MACH_SEND_NO_BUFFER whatever its task's own limit\n"
                "  --help            this text\n"
                "Exit status: 0 when stopped by a signal, 1 if the world cannot start,\n"
                "2 for bad usage.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"allow-uid", required_argument, NULL, 'u'},
                                         {"ready-fd", required_argument, NULL, 'r'},
                                         {"service", required_argument, NULL, 'S'},
                                         {"task-names-max", required_argument, NULL, 'N'},
                                         {"task-queued-max", required_argument, NULL, 'Q'},
                                         {"task-threads-max", required_argument, NULL, 'T'},
                                         {"uid-tasks-max", required_argument, NULL, 'U'},
                                         {"world-queued-max", required_argument, NULL, 'W'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static d_daemon d; /* large (its receive buffer): not on the stack */
    const char *path = NULL;
    int ready_fd = -1;
    char *services[256];
    size_t nservices = 0;
    int o;
    while ((o = getopt_long(argc, argv, "s:u:r:h", opts, NULL)) != -1) {
        switch (o) {
        case 'N':
        case 'Q':
        case 'T':
        case 'U':
        case 'W': {
            uint64_t v = 0;
            bool bytes = o == 'Q' || o == 'W';
            uint64_t lo = o == 'N' ? 2 : 1;
            uint64_t hi = o == 'N'   ? UM_TABLE_HARD_MAX
                          : o == 'T' ? 65536
                          : o == 'U' ? UINT32_MAX
                                     : UINT64_MAX;
            if (!um_parse_number(optarg, bytes, &v) || v < lo || v > hi) {
                fprintf(stderr, "umachd: bad --%s %s\n",
                        o == 'N'   ? "task-names-max"
                        : o == 'Q' ? "task-queued-max"
                        : o == 'T' ? "task-threads-max"
                        : o == 'U' ? "uid-tasks-max"
                                   : "world-queued-max",
                        optarg);
                return 2;
            }
            if (o == 'N')
                d.task_names_max = (uint32_t)v;
            else if (o == 'Q')
                d.queued_cap = v;
            else if (o == 'T')
                d.task_threads_max = (uint32_t)v;
            else if (o == 'U')
                d.uid_tasks_max = (uint32_t)v;
            else
                d.queued_world.max = v;
            break;
        }
        case 'S':
            if (!umachd_service_name_ok(optarg))
                return 2;
            if (nservices == sizeof services / sizeof services[0]) {
                fprintf(stderr, "umachd: too many --service (at most %zu)\n", nservices);
                return 2;
            }
            services[nservices++] = optarg;
            break;
        case 's':
            path = optarg;
            break;
        case 'u': {
            char *end = NULL;
            unsigned long uid = strtoul(optarg, &end, 10);
            if (!end || *end || d.nallowed == sizeof d.allowed / sizeof d.allowed[0]) {
                fprintf(stderr, "umachd: bad --allow-uid %s\n", optarg);
                return 2;
            }
            d.allowed[d.nallowed++] = (uid_t)uid;
            break;
        }
        case 'r': {
            char *end = NULL;
            long fd = strtol(optarg, &end, 10);
            if (!end || *end || end == optarg || fd < 0 || fd > 65535 ||
                fcntl((int)fd, F_GETFD) < 0) {
                fprintf(stderr, "umachd: bad --ready-fd %s (not an open descriptor)\n", optarg);
                return 2;
            }
            ready_fd = (int)fd;
            break;
        }
        case 'h':
            d_usage(stdout);
            return 0;
        default:
            d_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        d_usage(stderr);
        return 2;
    }
    char def_dir[4096], def_path[4096 + 16];
    if (!path) {
        if (d_default_socket(def_dir, sizeof def_dir, def_path, sizeof def_path) != 0)
            return 1;
        path = def_path;
    }
    d_kernel_init(&d);
    d_loop_init(&d);
    if (!umachd_bootstrap_declare(&d.kernel, services, nservices))
        return 1;
    /* Every connection is a descriptor, and so is every memfd of out-of-line memory in
     * flight: take all the hard limit allows. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
    }
    /* SIGTERM and SIGINT are blocked except inside epoll_pwait, so a stop request is never
     * lost between the loop's test of d_stop and the wait. Taken before the socket listens:
     * whoever can connect may stop the world at once, and the stop waits for the loop. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = d_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigset_t stops, waitmask;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_BLOCK, &stops, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    d.listen_fd = d_listen(path);
    if (d.listen_fd < 0)
        return 1;
    d.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (d.epoll_fd < 0 || epoll_ctl(d.epoll_fd, EPOLL_CTL_ADD, d.listen_fd, &ev) != 0) {
        perror("umachd: epoll");
        return 1;
    }
    if (ready_fd >= 0) {
        /* Listening: a client that connects from now on is served. */
        ssize_t w;
        do
            w = write(ready_fd, "r", 1);
        while (w < 0 && errno == EINTR);
        close(ready_fd);
    }

    /* Clients sleep on their rings without a timeout: the kernel tells them of our death. */
    (void)um_ring_watch_start();
    d_loop_run(&d, &d_stop, &waitmask);
    d_loop_shutdown(&d);
    close(d.epoll_fd);
    close(d.listen_fd);
    unlink(path);
    return 0;
}
