/*
 * umach_run.c — starting a world (docs/world.md, "Starting a world"): umach-run runs a
 * command in a private world and exits with its status, the world's socket answers while the
 * command runs and is gone with its directory afterwards; umachd's default directory is made
 * 0700 and refused when others may enter it.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "world_util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run argv with stdin from `in` and stdout to `out` (-1: inherited); its pid. */
static pid_t r_spawn(char *const argv[], int in, int out)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (in >= 0)
            dup2(in, 0);
        if (out >= 0)
            dup2(out, 1);
        execv(argv[0], argv);
        _exit(99);
    }
    return pid;
}

/* Wait for pid (the watchdog bounds it); its status as a shell reports it. */
static int r_wait(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

static int r_run_sh(const char *script)
{
    char *argv[] = {UMACH_RUN_PATH, "--", "/bin/sh", "-c", (char *)script, NULL};
    return r_wait(r_spawn(argv, -1, -1));
}

/* One line from fd (up to the newline, which is dropped). */
static int r_read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n < len - 1) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return -1;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = 0;
    return 0;
}

static int r_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

MT_TEST(umach_run_exits_with_its_commands_status)
{
    MT_EQ(r_run_sh("exit 0"), 0);
    MT_EQ(r_run_sh("exit 3"), 3);
    MT_EQ(r_run_sh("exit 77"), 77);
}

MT_TEST(a_command_killed_by_a_signal_makes_umach_run_exit_128_plus_the_signal)
{
    MT_EQ(r_run_sh("kill -KILL $$"), 128 + SIGKILL);
    MT_EQ(r_run_sh("kill -SEGV $$"), 128 + SIGSEGV);
}

MT_TEST(a_command_that_is_not_there_exits_127)
{
    char *argv[] = {UMACH_RUN_PATH, "--", "/nonexistent/umach-test-cmd", NULL};
    MT_EQ(r_wait(r_spawn(argv, -1, -1)), 127);
}

MT_TEST(umach_world_names_a_socket_that_answers_while_the_command_runs)
{
    int out[2], in[2];
    MT_REQUIRE(pipe2(out, O_CLOEXEC) == 0 && pipe2(in, O_CLOEXEC) == 0);
    /* The command says where its world is, then waits for us to let it go. */
    char *argv[] = {UMACH_RUN_PATH, "--", "/bin/sh", "-c",
                    "printf '%s\\n' \"$UMACH_WORLD\"; read line", NULL};
    pid_t run = r_spawn(argv, in[0], out[1]);
    MT_REQUIRE(run > 0);
    close(in[0]);
    close(out[1]);
    char path[4096];
    MT_REQUIRE(r_read_line(out[0], path, sizeof path) == 0);
    MT_CHECK(path[0] == '/');

    int fd = r_connect(path);
    MT_REQUIRE(fd >= 0);
    w_hello_reply h;
    MT_REQUIRE(w_hello(fd, &h) == 0);
    MT_EQ(h.version, UM_WIRE_VERSION);
    MT_EQ(h.pid, (uint32_t)getpid());
    uint32_t tasks = 0, names = 0;
    MT_REQUIRE(w_stats2(fd, &tasks, &names) == 0);
    MT_EQ(tasks, 1u); /* a private world: we are its only task */

    /* The private directory is ours alone. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    MT_REQUIRE(slash && slash != dir);
    *slash = 0;
    struct stat sb;
    MT_REQUIRE(lstat(dir, &sb) == 0);
    MT_CHECK(S_ISDIR(sb.st_mode));
    MT_EQ(sb.st_mode & 0777, 0700u);
    MT_EQ(sb.st_uid, getuid());

    MT_EQ(write(in[1], "\n", 1), 1);
    close(in[1]);
    MT_EQ(r_wait(run), 0);
    /* The world stopped: our task's connection is hung up, socket and directory are gone. */
    char b;
    MT_EQ(recv(fd, &b, 1, 0), 0);
    close(fd);
    close(out[0]);
    MT_CHECK(access(path, F_OK) != 0);
    MT_CHECK(access(dir, F_OK) != 0);
}

MT_TEST(sigterm_and_sigint_to_umach_run_go_to_the_command)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        int out[2];
        MT_REQUIRE(pipe2(out, O_CLOEXEC) == 0);
        char *argv[] = {UMACH_RUN_PATH, "--", "/bin/sh", "-c",
                        "trap 'exit 40' INT; trap 'exit 41' TERM; echo \"$UMACH_WORLD\"; "
                        "while :; do sleep 1; done",
                        NULL};
        pid_t run = r_spawn(argv, -1, out[1]);
        MT_REQUIRE(run > 0);
        close(out[1]);
        char path[4096];
        MT_REQUIRE(r_read_line(out[0], path, sizeof path) == 0);
        close(out[0]);
        MT_EQ(kill(run, sigs[i]), 0);
        /* umach-run itself lives on: CMD's trap decides, and umach-run reports it. */
        MT_EQ(r_wait(run), sigs[i] == SIGINT ? 40 : 41);
        MT_CHECK(access(path, F_OK) != 0);
    }
}

MT_TEST(a_world_that_cannot_start_is_said_and_exits_125)
{
    char *argv[] = {UMACH_RUN_PATH, "--socket", "/nonexistent-umach-dir/world.sock", "--",
                    "/bin/sh", "-c", "exit 0", NULL};
    int err[2];
    MT_REQUIRE(pipe2(err, O_CLOEXEC) == 0);
    pid_t pid = fork();
    MT_REQUIRE(pid >= 0);
    if (pid == 0) {
        dup2(err[1], 2);
        execv(argv[0], argv);
        _exit(99);
    }
    close(err[1]);
    char msg[2048] = {0};
    size_t len = 0;
    ssize_t n;
    while (len < sizeof msg - 1 && (n = read(err[0], msg + len, sizeof msg - 1 - len)) > 0)
        len += (size_t)n;
    close(err[0]);
    MT_EQ(r_wait(pid), 125);
    MT_CHECK(strstr(msg, "did not start") != NULL);
}

MT_TEST(umach_run_with_a_socket_path_serves_the_world_there)
{
    char dir[] = "/tmp/umach_run_test.XXXXXX";
    MT_REQUIRE(mkdtemp(dir) != NULL);
    char sock[64], script[256];
    snprintf(sock, sizeof sock, "%s/w.sock", dir);
    snprintf(script, sizeof script, "test \"$UMACH_WORLD\" = '%s' && test -S '%s'", sock, sock);
    char *argv[] = {UMACH_RUN_PATH, "--socket", sock, "--", "/bin/sh", "-c", script, NULL};
    MT_EQ(r_wait(r_spawn(argv, -1, -1)), 0);
    MT_CHECK(access(sock, F_OK) != 0); /* the socket goes with the world; the dir is ours */
    MT_EQ(rmdir(dir), 0);
}

/*
 * Run umachd with no --socket and XDG_RUNTIME_DIR=xdg (NULL: unset) as user `uid` until it is
 * ready (or fails).
 */
static char r_umachd_for_others[64]; /* a copy of umachd another uid may run, or "" */

/*
 * The daemon to run as `uid`: UMACHD_PATH itself for this process's uid; for another, a copy
 * in a fresh directory anyone may enter (the build tree may sit below a directory only its
 * owner enters, as a mkdtemp clone does). umachd links nothing of the build tree.
 */
static const char *r_umachd_as(uid_t uid)
{
    if (uid == getuid())
        return UMACHD_PATH;
    if (r_umachd_for_others[0])
        return r_umachd_for_others;
    char dir[] = "/tmp/umachd_bin.XXXXXX";
    if (!mkdtemp(dir) || chmod(dir, 0755) != 0)
        return UMACHD_PATH;
    char path[sizeof r_umachd_for_others];
    snprintf(path, sizeof path, "%s/umachd", dir);
    int in = open(UMACHD_PATH, O_RDONLY | O_CLOEXEC);
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    bool ok = in >= 0 && out >= 0;
    char buf[65536];
    ssize_t n;
    while (ok && (n = read(in, buf, sizeof buf)) != 0)
        ok = n > 0 && write(out, buf, (size_t)n) == n;
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0)
        ok = false;
    if (!ok) {
        unlink(path);
        rmdir(dir);
        return UMACHD_PATH;
    }
    memcpy(r_umachd_for_others, path, sizeof path);
    return r_umachd_for_others;
}

/* Remove the copy r_umachd_as made, if any. */
static void r_umachd_as_done(void)
{
    if (!r_umachd_for_others[0])
        return;
    unlink(r_umachd_for_others);
    *strrchr(r_umachd_for_others, '/') = '\0';
    rmdir(r_umachd_for_others);
    r_umachd_for_others[0] = '\0';
}

static pid_t r_default_umachd_as(const char *xdg, uid_t uid, int *status_if_failed)
{
    const char *umachd = r_umachd_as(uid);
    int ready[2];
    *status_if_failed = -1;
    if (pipe(ready) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        if (xdg)
            setenv("XDG_RUNTIME_DIR", xdg, 1);
        else
            unsetenv("XDG_RUNTIME_DIR");
        if (uid != getuid() && (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 ||
                                setuid(uid) != 0))
            _exit(98);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", ready[1]);
        execl(umachd, "umachd", "--ready-fd", fd, (char *)NULL);
        _exit(99);
    }
    close(ready[1]);
    char b;
    ssize_t n = read(ready[0], &b, 1);
    close(ready[0]);
    if (n == 1)
        return pid;
    *status_if_failed = r_wait(pid);
    return -1;
}

/* Run umachd with no --socket and XDG_RUNTIME_DIR=xdg until it is ready (or fails). */
static pid_t r_default_umachd(const char *xdg, int *status_if_failed)
{
    return r_default_umachd_as(xdg, getuid(), status_if_failed);
}

MT_TEST(umachds_default_directory_is_made_0700_and_refused_when_others_may_enter)
{
    char xdg[] = "/tmp/umach_xdg_test.XXXXXX";
    MT_REQUIRE(mkdtemp(xdg) != NULL);
    char dir[128], sock[160];
    snprintf(dir, sizeof dir, "%s/umach", xdg);
    snprintf(sock, sizeof sock, "%s/world.sock", dir);

    int failed;
    pid_t d = r_default_umachd(xdg, &failed);
    MT_REQUIRE(d > 0);
    struct stat sb;
    MT_REQUIRE(lstat(dir, &sb) == 0);
    MT_CHECK(S_ISDIR(sb.st_mode));
    MT_EQ(sb.st_mode & 0777, 0700u);
    int fd = r_connect(sock);
    MT_CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    /* A second daemon does not take over a live world's socket. */
    pid_t d2 = r_default_umachd(xdg, &failed);
    MT_EQ(d2, -1);
    MT_EQ(failed, 1);
    kill(d, SIGTERM);
    MT_EQ(r_wait(d), 0);
    MT_CHECK(access(sock, F_OK) != 0);

    /* Reused when it is still ours and closed... */
    d = r_default_umachd(xdg, &failed);
    MT_REQUIRE(d > 0);
    kill(d, SIGTERM);
    MT_EQ(r_wait(d), 0);
    /* ...refused once group or others may enter it. */
    static const mode_t open_modes[] = {0750, 0705, 0770, 0711};
    for (int i = 0; i < 4; i++) {
        MT_REQUIRE(chmod(dir, open_modes[i]) == 0);
        MT_EQ(r_default_umachd(xdg, &failed), -1);
        MT_EQ(failed, 1);
        MT_CHECK(access(sock, F_OK) != 0);
    }
    /* A symlink in its place is refused as well. */
    MT_REQUIRE(rmdir(dir) == 0);
    MT_REQUIRE(symlink(xdg, dir) == 0);
    MT_EQ(r_default_umachd(xdg, &failed), -1);
    MT_EQ(failed, 1);
    MT_EQ(unlink(dir), 0);
    MT_EQ(rmdir(xdg), 0);
}

/*
 * With XDG_RUNTIME_DIR unset (or not an absolute path) the default world lives in
 * /tmp/umach-UID/world.sock. As root the daemon runs as a uid of its own (nobody else's
 * directory is touched); otherwise as this user, whose directory must not exist yet.
 */
MT_TEST(umachds_default_directory_is_tmp_umach_uid_when_xdg_runtime_dir_is_unset)
{
    uid_t uid = getuid();
    char dir[64], sock[96];
    struct stat sb;
    for (unsigned i = 0;; i++) {
        if (uid == 0 || i > 0)
            uid = (uid_t)(0x7f000000u + ((unsigned)getpid() & 0xffff) * 64 + i);
        snprintf(dir, sizeof dir, "/tmp/umach-%u", (unsigned)uid);
        if (lstat(dir, &sb) != 0)
            break;
        MT_REQUIRE(getuid() == 0 && i < 64); /* this user's default world is in the way */
    }
    snprintf(sock, sizeof sock, "%s/world.sock", dir);

    int failed;
    pid_t d = r_default_umachd_as(NULL, uid, &failed);
    MT_REQUIRE(d > 0);
    int made = lstat(dir, &sb) == 0;
    if (!made) {
        kill(d, SIGTERM); /* a daemon serving elsewhere must not outlive the test */
        r_wait(d);
    }
    MT_REQUIRE(made);
    MT_CHECK(S_ISDIR(sb.st_mode));
    MT_EQ(sb.st_mode & 0777, 0700u);
    MT_EQ(sb.st_uid, uid);
    int fd = r_connect(sock);
    MT_CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    kill(d, SIGTERM);
    MT_EQ(r_wait(d), 0);
    MT_CHECK(access(sock, F_OK) != 0);

    /* A relative XDG_RUNTIME_DIR is not trusted either: the same directory serves. */
    d = r_default_umachd_as("relative/run", uid, &failed);
    MT_REQUIRE(d > 0);
    fd = r_connect(sock);
    MT_CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    kill(d, SIGTERM);
    MT_EQ(r_wait(d), 0);
    MT_CHECK(access("relative", F_OK) != 0);
    MT_EQ(rmdir(dir), 0);
    r_umachd_as_done();
}

MT_TEST(umach_run_help_and_umachd_help_document_the_world)
{
    static const char *const progs[] = {UMACH_RUN_PATH, UMACHD_PATH};
    static const char *const want[][3] = {{"--socket", "UMACH_WORLD", "125"},
                                          {"XDG_RUNTIME_DIR", "0700", "--ready-fd"}};
    for (int i = 0; i < 2; i++) {
        int p[2];
        MT_REQUIRE(pipe2(p, O_CLOEXEC) == 0);
        char *argv[] = {(char *)progs[i], "--help", NULL};
        pid_t pid = r_spawn(argv, -1, p[1]);
        close(p[1]);
        char out[4096] = {0};
        size_t len = 0;
        ssize_t n;
        while (len < sizeof out - 1 && (n = read(p[0], out + len, sizeof out - 1 - len)) > 0)
            len += (size_t)n;
        close(p[0]);
        MT_EQ(r_wait(pid), 0);
        for (int k = 0; k < 3; k++)
            MT_CHECK(strstr(out, want[i][k]) != NULL);
    }
}

MT_MAIN()
