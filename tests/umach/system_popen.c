/*
 * system_popen.c — system(), popen() and pclose() keep POSIX's semantics; this program also
 * runs inside a world, where they are libumach's (src/umach/client/um_client_shell.c: built
 * on posix_spawn, so that their children inherit the special ports, tests/world/fork_exec.c),
 * while the embedded run checks the same things of the C library's: the wait status, a
 * command not found (127), system(NULL), SIGINT/SIGQUIT ignored and SIGCHLD blocked in the
 * caller while system() waits (and the child's signals as POSIX says), popen's modes ('r',
 * 'w', 'e', anything else EINVAL), the streams of earlier popen() calls closed in a new
 * popen() child, pclose's status and its ECHILD.
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/mach.h>

#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *sp_self;

/* valgrind handles every signal itself: the kernel's view of our masks is not the program's. */
static bool sp_under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

static int sp_exit_status(int st)
{
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The shell command that runs this program with `args` in place of the shell. */
static void sp_self_command(char *buf, size_t size, const char *args)
{
    snprintf(buf, size, "exec '%s' %s", sp_self, args);
}

MT_TEST(system_returns_the_wait_status_of_the_shell)
{
    int st = system("exit 3");
    MT_CHECK(WIFEXITED(st));
    MT_EQ(WEXITSTATUS(st), 3);
    st = system("kill -TERM $$");
    MT_CHECK(WIFSIGNALED(st));
    MT_EQ(WTERMSIG(st), SIGTERM);
    MT_EQ(sp_exit_status(system("true")), 0);
}

MT_TEST(system_of_a_command_that_is_not_found_returns_exit_status_127)
{
    MT_EQ(sp_exit_status(system("exec 2>/dev/null; /nonexistent/umach-system-test")), 127);
}

MT_TEST(system_of_null_says_a_shell_is_available)
{
    MT_NE(system(NULL), 0);
}

static _Atomic int sp_signals_seen;

static void sp_count_signal(int sig)
{
    (void)sig;
    sp_signals_seen++;
}

/*
 * --signals TID INT_IGNORED: run by the shell of a system() call in thread TID of our parent.
 * Exit status: a bit for each thing not as POSIX says (0: all as it should be).
 */
static int sp_check_signals(const char *tid, const char *int_ignored)
{
    int bad = 0;
    struct sigaction sa;
    sigaction(SIGINT, NULL, &sa);
    if ((sa.sa_handler == SIG_IGN) != (strcmp(int_ignored, "1") == 0))
        bad |= 1; /* the child's SIGINT: the caller's if it was ignored, else the default */
    sigaction(SIGQUIT, NULL, &sa);
    if (sa.sa_handler != SIG_DFL)
        bad |= 2;
    sigset_t mask;
    sigprocmask(SIG_BLOCK, NULL, &mask);
    if (sigismember(&mask, SIGCHLD))
        bad |= 4; /* the child's mask is the caller's before system() */
    /* The caller's thread, seen by the kernel: SIGINT and SIGQUIT ignored, SIGCHLD blocked. */
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/task/%s/status", (int)getppid(), tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return bad | 64;
    unsigned long long ign = 0, blk = 0;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "SigIgn: %llx", &ign);
        sscanf(line, "SigBlk: %llx", &blk);
    }
    fclose(f);
    if (!(ign & (1ull << (SIGINT - 1))) || !(ign & (1ull << (SIGQUIT - 1))))
        bad |= 8;
    if (!(blk & (1ull << (SIGCHLD - 1))))
        bad |= 16;
    return bad;
}

MT_TEST(while_system_waits_the_caller_ignores_sigint_and_sigquit_and_then_gets_its_handlers_back)
{
    struct sigaction count, old_int, old_quit, now;
    memset(&count, 0, sizeof count);
    count.sa_handler = sp_count_signal;
    sigemptyset(&count.sa_mask);
    MT_EQ(sigaction(SIGINT, &count, &old_int), 0);
    MT_EQ(sigaction(SIGQUIT, &count, &old_quit), 0);
    sp_signals_seen = 0;
    MT_EQ(sp_exit_status(system("kill -INT $PPID; kill -QUIT $PPID; exit 7")), 7);
    MT_EQ(sp_signals_seen, 0);
    sigaction(SIGINT, NULL, &now);
    MT_CHECK(now.sa_handler == sp_count_signal);
    sigaction(SIGQUIT, NULL, &now);
    MT_CHECK(now.sa_handler == sp_count_signal);
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    MT_CHECK(!sigismember(&mask, SIGCHLD));
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
}

MT_TEST(the_shell_of_system_starts_with_posix_signals_while_its_caller_blocks_sigchld)
{
    if (sp_under_valgrind())
        return; /* the kernel's masks of a valgrind thread are valgrind's */
    char args[64], cmd[4096];
    struct sigaction count, old_int, ign;
    memset(&count, 0, sizeof count);
    count.sa_handler = sp_count_signal;
    sigemptyset(&count.sa_mask);
    MT_EQ(sigaction(SIGINT, &count, &old_int), 0);
    snprintf(args, sizeof args, "--signals %d 0", (int)gettid());
    sp_self_command(cmd, sizeof cmd, args);
    MT_EQ(sp_exit_status(system(cmd)), 0);
    /* A caller that ignores SIGINT passes that on. */
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    MT_EQ(sigaction(SIGINT, &ign, NULL), 0);
    snprintf(args, sizeof args, "--signals %d 1", (int)gettid());
    sp_self_command(cmd, sizeof cmd, args);
    MT_EQ(sp_exit_status(system(cmd)), 0);
    sigaction(SIGINT, &old_int, NULL);
}

static void *sp_system_thread(void *arg)
{
    return (void *)(intptr_t)sp_exit_status(system((const char *)arg));
}

MT_TEST(two_threads_in_system_at_once_restore_the_callers_handlers_when_both_are_done)
{
    struct sigaction count, old_int, now;
    memset(&count, 0, sizeof count);
    count.sa_handler = sp_count_signal;
    sigemptyset(&count.sa_mask);
    MT_EQ(sigaction(SIGINT, &count, &old_int), 0);
    pthread_t a, b;
    MT_EQ(pthread_create(&a, NULL, sp_system_thread, "sleep 0.2; exit 4"), 0);
    MT_EQ(pthread_create(&b, NULL, sp_system_thread, "exit 5"), 0);
    void *ra = NULL, *rb = NULL;
    pthread_join(b, &rb);
    pthread_join(a, &ra);
    MT_EQ((intptr_t)ra, 4);
    MT_EQ((intptr_t)rb, 5);
    sigaction(SIGINT, NULL, &now);
    MT_CHECK(now.sa_handler == sp_count_signal);
    sigaction(SIGINT, &old_int, NULL);
}

MT_TEST(popen_r_reads_the_commands_output_and_pclose_returns_its_status)
{
    FILE *f = popen("echo one; echo two; exit 5", "r");
    MT_REQUIRE(f != NULL);
    char line[64] = "", all[128] = "";
    while (fgets(line, sizeof line, f))
        strncat(all, line, sizeof all - strlen(all) - 1);
    MT_EQ(strcmp(all, "one\ntwo\n"), 0);
    int st = pclose(f);
    MT_CHECK(WIFEXITED(st));
    MT_EQ(WEXITSTATUS(st), 5);
}

MT_TEST(popen_w_feeds_the_commands_input)
{
    FILE *f = popen("read a; read b; test \"$a$b\" = onetwo", "w");
    MT_REQUIRE(f != NULL);
    fputs("one\ntwo\n", f);
    MT_EQ(sp_exit_status(pclose(f)), 0);
    f = popen("read a; test \"$a\" = one", "w");
    MT_REQUIRE(f != NULL);
    fputs("three\n", f);
    MT_EQ(sp_exit_status(pclose(f)), 1);
}

MT_TEST(popen_of_a_command_that_is_not_found_gives_a_stream_and_pclose_returns_127)
{
    FILE *f = popen("exec 2>/dev/null; /nonexistent/umach-popen-test", "r");
    MT_REQUIRE(f != NULL);
    MT_EQ(fgetc(f), EOF);
    MT_EQ(sp_exit_status(pclose(f)), 127);
}

MT_TEST(popen_e_makes_the_stream_close_on_exec_and_without_it_the_stream_is_not)
{
    const char *modes[] = {"r", "w", "re", "we", "er", "ree"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        FILE *f = popen("exec cat >/dev/null </dev/null", modes[i]);
        MT_REQUIRE(f != NULL);
        int flags = fcntl(fileno(f), F_GETFD);
        MT_CHECK(flags >= 0);
        MT_EQ((flags & FD_CLOEXEC) != 0, strchr(modes[i], 'e') != NULL);
        MT_EQ(sp_exit_status(pclose(f)), 0);
    }
}

MT_TEST(popen_with_a_mode_other_than_r_or_w_fails_with_einval)
{
    const char *modes[] = {"", "rw", "wr", "x", "rx", "e", "r+"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        errno = 0;
        MT_CHECK(popen("true", modes[i]) == NULL);
        MT_EQ(errno, EINVAL);
    }
}

/* --holds-pipe INO: exit 1 when one of our descriptors is the pipe INO, else 0. */
static int sp_holds_pipe(const char *ino)
{
    char want[64], path[64], target[64];
    snprintf(want, sizeof want, "pipe:[%s]", ino);
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        if (strcmp(target, want) == 0)
            return 1;
    }
    return 0;
}

MT_TEST(a_popen_child_does_not_hold_the_streams_of_earlier_popen_calls)
{
    FILE *first = popen("exec cat >/dev/null", "w"); /* inheritable: no 'e' */
    MT_REQUIRE(first != NULL);
    struct stat stt;
    MT_EQ(fstat(fileno(first), &stt), 0);
    char args[64], cmd[4096];
    snprintf(args, sizeof args, "--holds-pipe %llu", (unsigned long long)stt.st_ino);
    sp_self_command(cmd, sizeof cmd, args);
    /* A system() child does hold it (the probe sees an inherited pipe)... */
    MT_EQ(sp_exit_status(system(cmd)), 1);
    /* ... a popen() child does not, in either mode. */
    FILE *second = popen(cmd, "r");
    MT_REQUIRE(second != NULL);
    MT_EQ(sp_exit_status(pclose(second)), 0);
    second = popen(cmd, "w");
    MT_REQUIRE(second != NULL);
    MT_EQ(sp_exit_status(pclose(second)), 0);
    MT_EQ(sp_exit_status(pclose(first)), 0);
}

MT_TEST(pclose_of_a_child_already_reaped_is_minus_one_with_echild)
{
    FILE *f = popen("exit 0", "r");
    MT_REQUIRE(f != NULL);
    MT_EQ(fgetc(f), EOF);
    int st = 0;
    pid_t pid;
    do
        pid = waitpid(-1, &st, 0);
    while (pid < 0 && errno == EINTR);
    MT_CHECK(pid > 0);
    errno = 0;
    MT_EQ(pclose(f), -1);
    MT_EQ(errno, ECHILD);
}

MT_TEST(mach_calls_work_as_before_after_system_and_popen)
{
    MT_EQ(sp_exit_status(system("true")), 0);
    FILE *f = popen("true", "r");
    MT_REQUIRE(f != NULL);
    MT_EQ(sp_exit_status(pclose(f)), 0);
    mach_port_t p = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

int main(int argc, char **argv)
{
    sp_self = argv[0];
    if (argc == 4 && strcmp(argv[1], "--signals") == 0)
        return sp_check_signals(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "--holds-pipe") == 0)
        return sp_holds_pipe(argv[2]);
    return mt_run_all(argv[0]);
}
