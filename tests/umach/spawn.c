/*
 * spawn.c — libumach stands in front of posix_spawn, posix_spawnp and vfork so that, in a
 * world, the children they make inherit their parent's special ports
 * (src/umach/client/um_client_spawn.c; tested in tests/world/fork_exec.c). In embedded mode
 * they must be the C library's, unchanged: a vfork child runs in its parent's memory until it
 * execs or exits (Linux's vfork; valgrind and ThreadSanitizer run vfork as fork, so that
 * check is skipped under them) and returns to its caller in both processes with the caller's frame intact, and a
 * spawned child's environment is exactly the one it was given.
 */
#define _GNU_SOURCE
#include "mt.h"

#include <mach/mach.h>

#include <spawn.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *sp_self;

static int sp_status(pid_t pid)
{
    int st = 0;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SP_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(SP_TSAN)
#define SP_TSAN 1
#endif

/* Is vfork fork here? valgrind runs it as fork, and so does ThreadSanitizer's vfork, which
 * stands in front of ours. */
static bool sp_vfork_is_fork(void)
{
#ifdef SP_TSAN
    return true;
#else
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
#endif
}

/* Kept out of registers across vfork: the child's write is the parent's memory. */
static volatile int sp_shared;

/* A frame of our own around vfork, with locals the parent reads after it returns. */
static __attribute__((noinline)) int sp_vfork_and_exit(int code, int *seen)
{
    volatile int before = code * 3;
    sp_shared = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        sp_shared = code;
        _exit(code);
    }
    *seen = sp_shared;
    if (pid < 0 || before != code * 3)
        return -1;
    return sp_status(pid);
}

MT_TEST(in_embedded_mode_vfork_is_the_c_librarys_and_returns_to_its_caller_in_both_processes)
{
    for (int code = 1; code <= 3; code++) {
        int seen = -1;
        MT_EQ(sp_vfork_and_exit(code, &seen), code);
        if (!sp_vfork_is_fork())
            MT_EQ(seen, code);
    }
    /* Mach works as before afterwards. */
    mach_port_t p = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p), KERN_SUCCESS);
    MT_KR(mach_port_mod_refs(mach_task_self(), p, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
}

MT_TEST(in_embedded_mode_a_spawned_childs_environment_is_the_one_it_was_given)
{
    char *argv[] = {(char *)sp_self, "--print-env", NULL};
    char *envp[] = {"SP_ONE=1", "SP_TWO=2", NULL};
    for (int i = 0; i < 2; i++) {
        pid_t pid = -1;
        int rc = i == 0 ? posix_spawn(&pid, sp_self, NULL, NULL, argv, envp)
                        : posix_spawnp(&pid, sp_self, NULL, NULL, argv, envp);
        MT_EQ(rc, 0);
        MT_REQUIRE(pid > 0);
        MT_EQ(sp_status(pid), 2); /* two variables, both as given */
    }
    pid_t pid = -1;
    MT_EQ(posix_spawn(&pid, "/nonexistent/umach-spawn-test", NULL, NULL, argv, envp) != 0 ||
              sp_status(pid) == 127,
          1);
}

/* --print-env: the exit status is the number of SP_ variables as given, or 100 when anything
 * of umach's is there (sanitizers and valgrind may add variables of their own). */
static int sp_print_env(void)
{
    extern char **environ;
    int n = 0;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "UMACH", 5) == 0)
            return 100;
        if (strcmp(*e, "SP_ONE=1") == 0 || strcmp(*e, "SP_TWO=2") == 0)
            n++;
    }
    return n;
}

int main(int argc, char **argv)
{
    sp_self = argv[0];
    if (argc == 2 && strcmp(argv[1], "--print-env") == 0)
        return sp_print_env();
    return mt_run_all(argv[0]);
}
