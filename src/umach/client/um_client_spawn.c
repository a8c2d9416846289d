/*
 * um_client_spawn.c — children made without fork handlers inherit the special ports
 * (docs/world.md, "fork and exec"; MACH_FACTS §2.16).
 *
 * fork passes a task's special-port slots on through pthread_atfork (um_client.c): the
 * prepare handler gets a token from the daemon, the child presents it in its hello. glibc's
 * posix_spawn and vfork run no fork handlers, so in a world libumach stands in front of them:
 *
 *  - posix_spawn / posix_spawnp: when the child's environment names a world (UMACH_WORLD),
 *    the parent asks the daemon for a fork token (UM_WIRE_FORK, the slots as they are now)
 *    and passes it in the child's environment as UMACH_SPAWN_TOKEN=<32 hex digits>. The new
 *    image's libumach takes it at start (um_spawn_token_take, before main), blanks its value
 *    and removes the variable, and says hello with it; the daemon gives the slots only when
 *    the kernel says the new process's parent is the task that asked (d_fork.c), so a token
 *    read by anyone else is worth nothing. The variable survives in a program that is not a
 *    task: a shell's `exec prog` claims it as the child, and the commands the shell forks
 *    claim it as descendants through non-tasks (UM_WIRE_FORK_SPAWN: each gets the slots;
 *    a process with a task between it and the parent does not).
 *  - vfork: in a world it is fork (POSIX allows that), so the fork handlers run and the
 *    child's exec passes the slots on as fork + exec does. Outside a world it is the C
 *    library's vfork, reached by a jump that keeps the caller's frame (vfork cannot be
 *    wrapped by a function that returns twice). The jump is written for x86-64; elsewhere
 *    vfork is not interposed and its children get the world's defaults.
 *
 * Embedded mode: every function here is the C library's, unchanged.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT (um_next.h) */
#endif
#include "../um_export.h"
#include "../um_next.h"
#include "um_client.h"
#include "um_client_conn.h"

#include <errno.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define UM_SPAWN_VAR "UMACH_SPAWN_TOKEN"
#define UM_SPAWN_VAR_LEN (sizeof UM_SPAWN_VAR - 1)
#define UM_SPAWN_HEX 32 /* two 64-bit halves */

static bool is_var(const char *entry, const char *name, size_t len)
{
    return strncmp(entry, name, len) == 0 && entry[len] == '=';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool um_spawn_token_take(uint64_t token[2])
{
    bool have = false;
    for (char **e = environ; e && *e; e++) {
        if (!is_var(*e, UM_SPAWN_VAR, UM_SPAWN_VAR_LEN))
            continue;
        char *v = *e + UM_SPAWN_VAR_LEN + 1;
        uint64_t t[2] = {0, 0};
        bool ok = strlen(v) == UM_SPAWN_HEX;
        for (int i = 0; ok && i < UM_SPAWN_HEX; i++) {
            int d = hexval(v[i]);
            ok = d >= 0;
            t[i / 16] = (t[i / 16] << 4) | (uint64_t)(d < 0 ? 0 : d);
        }
        if (ok && !have) {
            token[0] = t[0];
            token[1] = t[1];
            have = true;
        }
        /* Blank it where it lies too (/proc/PID/environ shows the first environment). */
        memset(v, '0', strlen(v));
    }
    unsetenv(UM_SPAWN_VAR);
    return have;
}

/*
 * envp with UMACH_SPAWN_TOKEN set to a new fork token (the parent's slots as they are now),
 * or NULL: no world named in envp, no token, no memory (the child then joins with the world's
 * defaults, as before). free() the result; `var` holds the entry it points at.
 */
static char **spawn_env(char *const envp[], char var[UM_SPAWN_VAR_LEN + 1 + UM_SPAWN_HEX + 1])
{
    if (!um_client_active() || !envp)
        return NULL;
    size_t n = 0;
    bool world = false;
    for (; envp[n]; n++)
        if (is_var(envp[n], "UMACH_WORLD", 11) && envp[n][12])
            world = true;
    uint64_t token[2];
    if (!world || !um_client_fork_token(token, true))
        return NULL;
    char **env = malloc((n + 2) * sizeof *env);
    if (!env)
        return NULL;
    memcpy(var, UM_SPAWN_VAR "=", UM_SPAWN_VAR_LEN + 1);
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < UM_SPAWN_HEX; i++)
        var[UM_SPAWN_VAR_LEN + 1 + i] = digits[(token[i / 16] >> (60 - 4 * (i % 16))) & 0xf];
    var[UM_SPAWN_VAR_LEN + 1 + UM_SPAWN_HEX] = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!is_var(envp[i], UM_SPAWN_VAR, UM_SPAWN_VAR_LEN)) /* one of ours, stale */
            env[k++] = envp[i];
    env[k++] = var;
    env[k] = NULL;
    return env;
}

typedef int spawn_fn(pid_t *, const char *, const posix_spawn_file_actions_t *,
                     const posix_spawnattr_t *, char *const[], char *const[]);

static int spawn_with_token(spawn_fn *fn, pid_t *pid, const char *path,
                            const posix_spawn_file_actions_t *actions,
                            const posix_spawnattr_t *attr, char *const argv[],
                            char *const envp[])
{
    if (!fn)
        return ENOSYS;
    char var[UM_SPAWN_VAR_LEN + 1 + UM_SPAWN_HEX + 1];
    char **env = spawn_env(envp, var);
    int rc = fn(pid, path, actions, attr, argv, env ? env : envp);
    free(env);
    return rc;
}

UM_NEXT(posix_spawn, spawn_fn)
UM_NEXT(posix_spawnp, spawn_fn)

UM_EXPORT int posix_spawn(pid_t *restrict pid, const char *restrict path,
                          const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *restrict attr, char *const argv[restrict],
                          char *const envp[restrict])
{
    UM_CALL_SCOPE;
    return spawn_with_token(um_next_posix_spawn(), pid, path, actions, attr, argv, envp);
}

UM_EXPORT int posix_spawnp(pid_t *restrict pid, const char *restrict file,
                           const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *restrict attr, char *const argv[restrict],
                           char *const envp[restrict])
{
    UM_CALL_SCOPE;
    return spawn_with_token(um_next_posix_spawnp(), pid, file, actions, attr, argv, envp);
}

#if defined(__x86_64__)
/*
 * vfork: a jump, never a call, so that the C library's vfork returns straight to our caller
 * (in both processes). In a world it goes to um_spawn_vfork_world (fork: the handlers run).
 */
pid_t um_spawn_vfork_world(void);
pid_t um_spawn_vfork_world(void)
{
    return fork();
}

/* The C library's vfork, found at start; fork until then (or when there is none). */
pid_t (*um_spawn_next_vfork)(void) = um_spawn_vfork_world;

typedef pid_t vfork_fn(void);
UM_NEXT(vfork, vfork_fn)

__attribute__((constructor)) static void um_spawn_init(void)
{
    vfork_fn *fn = um_next_vfork();
    if (fn)
        um_spawn_next_vfork = fn;
}

__asm__(".text\n"
        ".globl vfork\n"
        ".type vfork, @function\n"
        ".hidden um_client_world\n"
        ".hidden um_spawn_next_vfork\n"
        ".hidden um_spawn_vfork_world\n"
        ".p2align 4\n"
        "vfork:\n"
        "    endbr64\n"
        "    cmpl $0, um_client_world(%rip)\n"
        "    jne um_spawn_vfork_world\n"
        "    jmp *um_spawn_next_vfork(%rip)\n"
        ".size vfork, .-vfork\n");
#endif
