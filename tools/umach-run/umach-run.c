/*
 * umach-run — run a command in a private umach world (docs/world.md, "Starting a world").
 *
 *   umach-run [--socket PATH] -- CMD ARGS...
 *
 * Starts umachd (the one in umach-run's own directory, else the first on PATH) on a fresh
 * socket in a private directory (mode 0700, made by mkdtemp under $XDG_RUNTIME_DIR, else
 * /tmp), or on PATH when --socket is given; waits until the daemon listens (it writes one
 * byte to the pipe named by --ready-fd: no polling); runs CMD as its child with UMACH_WORLD
 * set to the socket; forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT to CMD; when CMD ends,
 * stops the world (SIGTERM, waits for umachd, removes the private directory) and exits with
 * CMD's status, or 128 + the signal that killed it, like a shell.
 *
 * Exit status of its own: 125 when the world cannot be started (or bad usage), or when CMD
 * succeeded but the world did not end cleanly (umachd crashed, or exited non-zero after
 * SIGTERM: a sanitizer's report), 126 when CMD cannot be executed, 127 when CMD is not found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { R_WORLD_FAILED = 125, R_CMD_NOEXEC = 126, R_CMD_NOTFOUND = 127 };

static volatile sig_atomic_t r_cmd_pid;
static sigset_t r_old_mask; /* the signal mask umach-run was started with: its children's */

/* Signals to umach-run are CMD's: it decides, and umach-run follows when it ends. */
static void r_forward(int sig)
{
    pid_t pid = (pid_t)r_cmd_pid;
    if (pid > 0)
        kill(pid, sig);
}

static const int r_forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define R_NFORWARDED (sizeof r_forwarded / sizeof r_forwarded[0])

static void r_usage(FILE *to)
{
    fprintf(to,
            "usage: umach-run [--socket PATH] -- CMD [ARGS...]\n"
            "Starts a private umach world, runs CMD in it with UMACH_WORLD set to the world's\n"
            "socket, waits for CMD, stops the world and exits with CMD's status (128 + N when\n"
            "CMD was killed by signal N). SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed on\n"
            "to CMD.\n"
            "  --socket PATH  the world's socket (default: a fresh private directory, mode 0700,\n"
            "                 under $XDG_RUNTIME_DIR or /tmp, removed when the world stops)\n"
            "  --help         this text\n"
            "The daemon is the umachd next to umach-run, else the first umachd on PATH.\n"
            "Exit status: CMD's; 125 if the world cannot start (or CMD succeeded but\n"
            "umachd did not end cleanly), 126 if CMD cannot be executed, 127 if CMD is\n"
            "not found.\n");
}

/* The umachd to run: next to our own executable, else found on PATH by execvp. */
static void r_umachd_path(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            if ((size_t)snprintf(out, len, "%s/umachd", self) < len && access(out, X_OK) == 0)
                return;
        }
    }
    snprintf(out, len, "umachd");
}

/* Start umachd on `sock`; its pid, or -1 with the reason said. */
static pid_t r_start_world(const char *sock)
{
    char umachd[PATH_MAX + 8];
    r_umachd_path(umachd, sizeof umachd);
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0) {
        perror("umach-run: pipe");
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("umach-run: fork");
        close(ready[0]);
        close(ready[1]);
        return -1;
    }
    if (pid == 0) {
        /* Its own process group: a terminal's ^C goes to CMD, and the world outlives it until
         * umach-run stops it. */
        setpgid(0, 0);
        /* ...but not umach-run itself: killed (SIGKILL, a harness's timeout), its world ends. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(R_WORLD_FAILED);
        sigprocmask(SIG_SETMASK, &r_old_mask, NULL);
        int fl = fcntl(ready[1], F_GETFD);
        fcntl(ready[1], F_SETFD, fl & ~FD_CLOEXEC);
        char fdarg[16];
        snprintf(fdarg, sizeof fdarg, "%d", ready[1]);
        execlp(umachd, "umachd", "--socket", sock, "--ready-fd", fdarg, (char *)NULL);
        fprintf(stderr, "umach-run: cannot run %s: %s\n", umachd, strerror(errno));
        _exit(R_WORLD_FAILED);
    }
    close(ready[1]);
    char b = 0;
    ssize_t n;
    do
        n = read(ready[0], &b, 1);
    while (n < 0 && errno == EINTR);
    close(ready[0]);
    if (n == 1)
        return pid;
    /* The pipe closed without a byte: umachd is gone (it said why on stderr). */
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    fprintf(stderr, "umach-run: the world did not start on %s (umachd %s %d)\n", sock,
            WIFEXITED(st) ? "exited with" : "killed by signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    return -1;
}

/* Stop the world; true when umachd ended cleanly (exit 0 after SIGTERM). */
static bool r_stop_world(pid_t pid)
{
    kill(pid, SIGTERM);
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (w != pid)
        return false;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return true;
    if (WIFEXITED(st))
        fprintf(stderr, "umach-run: the world ended badly: umachd exited with status %d\n",
                WEXITSTATUS(st));
    else
        fprintf(stderr, "umach-run: the world ended badly: umachd was killed by signal %d\n",
                WTERMSIG(st));
    return false;
}

int main(int argc, char **argv)
{
    const char *sock_opt = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--help") == 0) {
            r_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            sock_opt = argv[++i];
        } else if (strncmp(argv[i], "--socket=", 9) == 0) {
            sock_opt = argv[i] + 9;
        } else if (argv[i][0] == '-') {
            r_usage(stderr);
            return R_WORLD_FAILED;
        } else {
            break; /* CMD without "--" */
        }
    }
    if (i >= argc) {
        r_usage(stderr);
        return R_WORLD_FAILED;
    }
    char **cmd = argv + i;

    char dir[PATH_MAX] = "";
    char sock[PATH_MAX + 16];
    if (sock_opt) {
        if ((size_t)snprintf(sock, sizeof sock, "%s", sock_opt) >= sizeof sock) {
            fprintf(stderr, "umach-run: socket path too long\n");
            return R_WORLD_FAILED;
        }
    } else {
        const char *base = getenv("XDG_RUNTIME_DIR");
        if (!base || base[0] != '/' || access(base, W_OK | X_OK) != 0)
            base = "/tmp";
        if ((size_t)snprintf(dir, sizeof dir, "%s/umach-run.XXXXXX", base) >= sizeof dir ||
            !mkdtemp(dir)) { /* mkdtemp makes it mode 0700 */
            fprintf(stderr, "umach-run: cannot make a private directory under %s: %s\n", base,
                    strerror(errno));
            return R_WORLD_FAILED;
        }
        snprintf(sock, sizeof sock, "%s/world.sock", dir);
    }

    /* Forwarded signals are blocked until CMD's pid is known, so none is lost or sent to
     * nobody; CMD itself starts with the mask and dispositions umach-run was given. */
    sigset_t fwd;
    sigemptyset(&fwd);
    for (size_t k = 0; k < R_NFORWARDED; k++)
        sigaddset(&fwd, r_forwarded[k]);
    sigprocmask(SIG_BLOCK, &fwd, &r_old_mask);

    pid_t world = r_start_world(sock);
    if (world < 0) {
        if (dir[0]) {
            unlink(sock);
            rmdir(dir);
        }
        return R_WORLD_FAILED;
    }

    struct sigaction sa, saved[R_NFORWARDED];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = r_forward;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < R_NFORWARDED; k++)
        sigaction(r_forwarded[k], &sa, &saved[k]);

    int status = R_WORLD_FAILED;
    pid_t child = fork();
    if (child < 0) {
        perror("umach-run: fork");
    } else if (child == 0) {
        for (size_t k = 0; k < R_NFORWARDED; k++)
            sigaction(r_forwarded[k], &saved[k], NULL);
        sigprocmask(SIG_SETMASK, &r_old_mask, NULL);
        if (setenv("UMACH_WORLD", sock, 1) != 0)
            _exit(R_WORLD_FAILED);
        execvp(cmd[0], cmd);
        int e = errno;
        fprintf(stderr, "umach-run: %s: %s\n", cmd[0], strerror(e));
        _exit(e == ENOENT ? R_CMD_NOTFOUND : R_CMD_NOEXEC);
    } else {
        r_cmd_pid = child;
        sigprocmask(SIG_SETMASK, &r_old_mask, NULL);
        int st = 0;
        pid_t w;
        while ((w = waitpid(child, &st, 0)) < 0 && errno == EINTR)
            ;
        if (w == child)
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        sigprocmask(SIG_BLOCK, &fwd, NULL);
        r_cmd_pid = 0;
    }

    /* A world that died or ended badly (a sanitizer's report in umachd) fails a command that
     * succeeded: whatever it checked, its world was not sound. */
    if (!r_stop_world(world) && status == 0)
        status = R_WORLD_FAILED;
    if (dir[0]) {
        unlink(sock); /* umachd removes it; a killed one would not have */
        if (rmdir(dir) != 0)
            fprintf(stderr, "umach-run: cannot remove %s: %s\n", dir, strerror(errno));
    }
    return status;
}
