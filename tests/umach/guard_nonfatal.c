/*
 * guard_nonfatal.c — umach's guard-exception policy (Linux only; see docs/umach-internals.md).
 *
 * By default a violation that XNU treats as fatal prints one line naming the port, the
 * flavour and the mistake on stderr, then aborts. UMACH_GUARD_NONFATAL=1 makes the same
 * violations return their error code and leave the port as it was; UMACH_GUARD_LOG=1 prints
 * the non-fatal ones. The environment is read once per process, so the tests that need it
 * run this program again with the variable set.
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/mach.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>

#define TASK mach_task_self()
#define GUARD 0x5eed1234u

static mach_port_name_t guarded_port(bool strict)
{
    mach_port_options_t opts = {.flags = MPO_CONTEXT_AS_GUARD | (strict ? MPO_STRICT : 0)};
    mach_port_name_t name = MACH_PORT_NULL;
    if (mach_port_construct(TASK, &opts, GUARD, &name) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return name;
}

/* This program's path: under valgrind /proc/self/exe is valgrind itself. */
static const char *self_path;

/*
 * Run `argv0 <mode>` with `env` (NAME=VALUE or NULL) added; its stderr goes to `err`.
 * Returns the wait status.
 */
static int run_self(const char *mode, const char *env, char *err, size_t cap)
{
    char path[] = "/tmp/umach_guard_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 2);
        if (env)
            putenv((char *)env);
        char *args[] = {(char *)self_path, (char *)mode, NULL};
        execv(self_path, args);
        _exit(127);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, err, cap - 1);
    err[n > 0 ? n : 0] = '\0';
    close(fd);
    return st;
}

/* ---- the modes the child runs ------------------------------------------------------------ */

static int mode_wrong_unguard(void)
{
    mach_port_name_t p = guarded_port(false);
    kern_return_t kr = mach_port_unguard(TASK, p, GUARD + 1);
    /* Only reached when the violation is not fatal. */
    int ok = kr == KERN_INVALID_ARGUMENT;
    ok &= mach_port_unguard(TASK, p, GUARD) == KERN_SUCCESS;
    ok &= mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1) == KERN_SUCCESS;
    return ok ? 0 : 3;
}

static int mode_destroy_guarded(void)
{
    mach_port_name_t p = guarded_port(false);
    kern_return_t kr = mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1);
    mach_port_type_t t = 0;
    int ok = kr == KERN_INVALID_RIGHT;
    ok &= mach_port_type(TASK, p, &t) == KERN_SUCCESS && t == MACH_PORT_TYPE_RECEIVE;
    ok &= mach_port_destruct(TASK, p, 0, GUARD) == KERN_SUCCESS;
    return ok ? 0 : 3;
}

/* mach_port_destruct with the wrong guard: XNU's ipc_right_destruct returns KERN_INVALID_ARGUMENT. */
static int mode_destruct_wrong_guard(void)
{
    mach_port_name_t p = guarded_port(false);
    kern_return_t kr = mach_port_destruct(TASK, p, 0, GUARD + 1);
    mach_port_type_t t = 0;
    int ok = kr == KERN_INVALID_ARGUMENT;
    ok &= mach_port_type(TASK, p, &t) == KERN_SUCCESS && t == MACH_PORT_TYPE_RECEIVE;
    ok &= mach_port_destruct(TASK, p, 0, GUARD) == KERN_SUCCESS;
    return ok ? 0 : 3;
}

/* mach_port_destroy of a guarded receive right: XNU's ipc_right_destroy says KERN_INVALID_RIGHT. */
static int mode_destroy_call_guarded(void)
{
    mach_port_name_t p = guarded_port(false);
    kern_return_t kr = mach_port_destroy(TASK, p);
    mach_port_type_t t = 0;
    int ok = kr == KERN_INVALID_RIGHT;
    ok &= mach_port_type(TASK, p, &t) == KERN_SUCCESS && t == MACH_PORT_TYPE_RECEIVE;
    ok &= mach_port_destruct(TASK, p, 0, GUARD) == KERN_SUCCESS;
    return ok ? 0 : 3;
}

static int mode_nonfatal_invalid_name(void)
{
    /* An unknown name is a non-fatal guard flavour: the error comes back in every mode. */
    kern_return_t kr = mach_port_mod_refs(TASK, 0x7fff0003u, MACH_PORT_RIGHT_SEND, -1);
    return kr == KERN_INVALID_NAME ? 0 : 3;
}

static int run_mode(const char *mode)
{
    if (strcmp(mode, "wrong_unguard") == 0)
        return mode_wrong_unguard();
    if (strcmp(mode, "destroy_guarded") == 0)
        return mode_destroy_guarded();
    if (strcmp(mode, "destruct_wrong_guard") == 0)
        return mode_destruct_wrong_guard();
    if (strcmp(mode, "destroy_call_guarded") == 0)
        return mode_destroy_call_guarded();
    if (strcmp(mode, "invalid_name") == 0)
        return mode_nonfatal_invalid_name();
    return 2;
}

/* ---- the tests ----------------------------------------------------------------------------- */

MT_TEST(fatal_violation_aborts_with_a_line_naming_port_and_flavour)
{
    char err[2048];
    int st = run_self("wrong_unguard", NULL, err, sizeof err);
    MT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    MT_CHECK(strstr(err, "fatal Mach port guard exception on port 0x") != NULL);
    MT_CHECK(strstr(err, "INCORRECT_GUARD") != NULL);
    MT_CHECK(strstr(err, "UMACH_GUARD_NONFATAL") != NULL);
    /* One line, not a dump. */
    char *nl = strchr(err, '\n');
    MT_CHECK(nl != NULL && nl[1] == '\0');
}

MT_TEST(destroying_a_guarded_receive_right_aborts_by_default)
{
    char err[2048];
    int st = run_self("destroy_guarded", NULL, err, sizeof err);
    MT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    MT_CHECK(strstr(err, "DESTROY") != NULL);
}

MT_TEST(nonfatal_env_returns_the_error_and_keeps_the_port)
{
    char err[2048];
    int st = run_self("wrong_unguard", "UMACH_GUARD_NONFATAL=1", err, sizeof err);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    MT_CHECK(strstr(err, "fatal Mach port guard exception") == NULL);
    st = run_self("destroy_guarded", "UMACH_GUARD_NONFATAL=1", err, sizeof err);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

MT_TEST(every_destroying_call_with_a_wrong_guard_aborts_by_default_naming_destroy)
{
    static const char *const modes[] = {"destruct_wrong_guard", "destroy_call_guarded"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char err[2048];
        int st = run_self(modes[i], NULL, err, sizeof err);
        MT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
        MT_CHECK(strstr(err, "fatal Mach port guard exception on port 0x") != NULL);
        MT_CHECK(strstr(err, "DESTROY") != NULL);
    }
}

MT_TEST(nonfatal_destruct_with_a_wrong_guard_is_invalid_argument_and_destroy_invalid_right)
{
    char err[2048];
    int st = run_self("destruct_wrong_guard", "UMACH_GUARD_NONFATAL=1", err, sizeof err);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = run_self("destroy_call_guarded", "UMACH_GUARD_NONFATAL=1", err, sizeof err);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

MT_TEST(nonfatal_flavour_returns_silently_unless_logged)
{
    char err[2048];
    int st = run_self("invalid_name", NULL, err, sizeof err);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    MT_EQ(strlen(err), 0);
    st = run_self("invalid_name", "UMACH_GUARD_LOG=1", err, sizeof err);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    MT_CHECK(strstr(err, "INVALID_NAME") != NULL);
}

MT_TEST(logging_with_nonfatal_marks_the_fatal_flavours)
{
    char err[2048];
    int st = run_self("wrong_unguard", "UMACH_GUARD_NONFATAL=1", err, sizeof err);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* putenv in run_self sets one variable; the log flag needs a second run with both. */
    setenv("UMACH_GUARD_LOG", "1", 1);
    st = run_self("wrong_unguard", "UMACH_GUARD_NONFATAL=1", err, sizeof err);
    unsetenv("UMACH_GUARD_LOG");
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    MT_CHECK(strstr(err, "fatal on Darwin") != NULL);
}

int main(int argc, char **argv)
{
    self_path = argv[0];
    if (argc > 1)
        return run_mode(argv[1]);
    return mt_run_all(argv[0]);
}
