/*
 * um_client_shell.c — children of system() and popen() inherit the special ports in a world
 * (docs/world.md, "fork and exec"; MACH_FACTS §2.16).
 *
 * glibc starts the shell of system() and popen() with its internal posix_spawn, which the
 * dynamic linker never sends to ours (um_client_spawn.c), so those children would join with
 * the world's defaults. In a world libumach therefore stands in front of system, popen and
 * pclose with its own, built on the exported posix_spawn (which passes a fork token to the
 * shell, good for the command it execs and for the commands it forks), with POSIX's
 * semantics and glibc's choices where POSIX leaves one:
 *
 *  - system(command): `/bin/sh -c command` (no "--", as the C library we replace); SIGINT and
 *    SIGQUIT ignored in the caller while a call is under way (counted, so threads calling at
 *    once restore them only when the last returns) and SIGCHLD blocked in the calling thread;
 *    the child starts with the caller's first signal mask and SIGINT/SIGQUIT at their
 *    defaults (unless the caller had them ignored). Returns the wait status; 127 << 8 when
 *    the shell could not be started (errno says why); -1 when waitpid failed. system(NULL)
 *    says whether a shell answers ("exit 0"). A cancelled caller kills and reaps the child.
 *  - popen(command, mode): mode is 'r' or 'w' and any number of 'e' (the stream's descriptor
 *    close-on-exec), anything else EINVAL; the child's stdout (r) or stdin (w) is the pipe,
 *    and the streams of earlier popen() calls still open are closed in it. pclose(stream)
 *    waits for that child (EINTR retried) and returns its wait status, -1 with errno when
 *    it cannot (ECHILD: already reaped); a stream popen() did not make here goes to the C
 *    library's pclose.
 *
 * Outside a world (embedded mode) all three are the C library's, unchanged.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT (um_next.h), pipe2, F_DUPFD_CLOEXEC */
#endif
#include "../um_export.h"
#include "../um_next.h"
#include "um_client.h"

#include <errno.h>
#include <fcntl.h>
#include <paths.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef int system_fn(const char *);
typedef FILE *popen_fn(const char *, const char *);
typedef int pclose_fn(FILE *);
UM_NEXT(system, system_fn)
UM_NEXT(popen, popen_fn)
UM_NEXT(pclose, pclose_fn)

/* ---- locks a forked child starts afresh (fork may come while another thread holds one) --- */

/* system()'s count of calls under way and the SIGINT/SIGQUIT actions the first one replaced. */
static pthread_mutex_t sh_sig_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned sh_sig_users;
static struct sigaction sh_sig_int, sh_sig_quit;

/* The streams popen() made here and not yet pclose()d, each with its child. */
struct sh_stream {
    FILE *fp;
    pid_t pid;
    struct sh_stream *next;
};
static pthread_mutex_t sh_streams_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sh_stream *sh_streams;

static void sh_atfork_child(void)
{
    pthread_mutex_init(&sh_sig_lock, NULL);
    pthread_mutex_init(&sh_streams_lock, NULL);
}

static pthread_once_t sh_once = PTHREAD_ONCE_INIT;

static void sh_init(void)
{
    (void)pthread_atfork(NULL, NULL, sh_atfork_child);
}

static int sh_waitpid(pid_t pid, int *status)
{
    pid_t r;
    do
        r = waitpid(pid, status, 0);
    while (r < 0 && errno == EINTR);
    return r == pid ? 0 : -1;
}

/* ---- system ---------------------------------------------------------------------------------- */

/* Ignore SIGINT and SIGQUIT unless another call already did; *intr and *quit: what they were
 * before the first call. Returns 0 or -1 (errno). */
static int sh_sig_enter(struct sigaction *intr, struct sigaction *quit)
{
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    int rc = 0;
    pthread_mutex_lock(&sh_sig_lock);
    if (sh_sig_users == 0 &&
        (sigaction(SIGINT, &ign, &sh_sig_int) != 0 || sigaction(SIGQUIT, &ign, &sh_sig_quit) != 0))
        rc = -1;
    if (rc == 0) {
        sh_sig_users++;
        *intr = sh_sig_int;
        *quit = sh_sig_quit;
    }
    pthread_mutex_unlock(&sh_sig_lock);
    return rc;
}

/* The last call under way puts SIGINT and SIGQUIT back. Returns 0 or -1 (errno). */
static int sh_sig_leave(void)
{
    int rc = 0;
    pthread_mutex_lock(&sh_sig_lock);
    if (--sh_sig_users == 0 && (sigaction(SIGINT, &sh_sig_int, NULL) |
                                sigaction(SIGQUIT, &sh_sig_quit, NULL)) != 0)
        rc = -1;
    pthread_mutex_unlock(&sh_sig_lock);
    return rc;
}

struct sh_system_call {
    pid_t pid;
    sigset_t omask;
};

/* A caller cancelled while it waits: the child is killed and reaped, the signals put back. */
static void sh_system_cancelled(void *arg)
{
    struct sh_system_call *c = arg;
    kill(c->pid, SIGKILL);
    int st;
    (void)sh_waitpid(c->pid, &st);
    (void)sh_sig_leave();
    (void)pthread_sigmask(SIG_SETMASK, &c->omask, NULL);
}

static int sh_system(const char *command)
{
    struct sigaction intr, quit;
    if (sh_sig_enter(&intr, &quit) != 0)
        return -1;
    struct sh_system_call c = {.pid = -1};
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (pthread_sigmask(SIG_BLOCK, &chld, &c.omask) != 0) {
        int e = errno;
        (void)sh_sig_leave();
        errno = e;
        return -1;
    }

    sigset_t reset;
    sigemptyset(&reset);
    if (intr.sa_handler != SIG_IGN)
        sigaddset(&reset, SIGINT);
    if (quit.sa_handler != SIG_IGN)
        sigaddset(&reset, SIGQUIT);
    posix_spawnattr_t attr;
    int err = posix_spawnattr_init(&attr);
    if (err == 0) {
        (void)posix_spawnattr_setsigmask(&attr, &c.omask);
        (void)posix_spawnattr_setsigdefault(&attr, &reset);
        (void)posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
        char *argv[] = {"sh", "-c", (char *)command, NULL};
        err = posix_spawn(&c.pid, _PATH_BSHELL, NULL, &attr, argv, environ);
        posix_spawnattr_destroy(&attr);
    }

    int status;
    if (err == 0) {
        pthread_cleanup_push(sh_system_cancelled, &c);
        if (sh_waitpid(c.pid, &status) != 0)
            status = -1;
        pthread_cleanup_pop(0);
    } else {
        status = 127 << 8; /* as if the shell had run and called _exit(127) */
    }
    int e = errno;
    if ((sh_sig_leave() | pthread_sigmask(SIG_SETMASK, &c.omask, NULL)) != 0)
        status = -1;
    else
        errno = err ? err : e;
    return status;
}

UM_EXPORT int system(const char *command)
{
    UM_CALL_SCOPE;
    if (!um_client_active()) {
        system_fn *fn = um_next_system();
        return fn ? fn(command) : UM_NEXT_NONE(-1);
    }
    pthread_once(&sh_once, sh_init);
    if (!command)
        return sh_system("exit 0") == 0;
    return sh_system(command);
}

/* ---- popen / pclose ------------------------------------------------------------------------ */

/* Reads popen's mode as glibc does: 'r' or 'w' once, 'e' any number of times. */
static bool sh_mode(const char *mode, bool *reading, bool *cloexec)
{
    bool r = false, w = false;
    *cloexec = false;
    for (; *mode; mode++) {
        if (*mode == 'r')
            r = true;
        else if (*mode == 'w')
            w = true;
        else if (*mode == 'e')
            *cloexec = true;
        else
            return false;
    }
    *reading = r;
    return r != w;
}

/*
 * Starts the shell with one end of a new pipe as its stdout (reading) or stdin, the other the
 * stream's. Conditions: sh_streams_lock held (the streams to close in the child stay as they
 * are). Returns 0 with *node filled, or an errno value (nothing left open).
 */
static int sh_popen_locked(const char *command, bool reading, bool cloexec,
                           struct sh_stream *node)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return errno;
    int mine = reading ? fds[0] : fds[1], theirs = reading ? fds[1] : fds[0];
    int target = reading ? STDOUT_FILENO : STDIN_FILENO;
    int err = 0;
    /* dup2 onto itself would leave the descriptor close-on-exec: move it out of the way. */
    if (theirs == target) {
        int moved = fcntl(theirs, F_DUPFD_CLOEXEC, 0);
        if (moved < 0)
            err = errno;
        close(theirs);
        theirs = moved;
    }
    FILE *fp = err ? NULL : fdopen(mine, reading ? "r" : "w");
    if (!fp && !err)
        err = errno;
    posix_spawn_file_actions_t fa;
    bool fa_made = false;
    if (!err) {
        err = posix_spawn_file_actions_init(&fa);
        fa_made = err == 0;
    }
    if (!err)
        err = posix_spawn_file_actions_adddup2(&fa, theirs, target);
    for (struct sh_stream *s = sh_streams; s && !err; s = s->next) {
        int fd = fileno(s->fp);
        if (fd >= 0 && fd != target) /* the dup2 closed `target` already */
            err = posix_spawn_file_actions_addclose(&fa, fd);
    }
    pid_t pid = -1;
    if (!err) {
        char *argv[] = {"sh", "-c", (char *)command, NULL};
        err = posix_spawn(&pid, _PATH_BSHELL, &fa, NULL, argv, environ);
    }
    if (fa_made)
        posix_spawn_file_actions_destroy(&fa);
    if (theirs >= 0)
        close(theirs);
    if (!err && !cloexec && fcntl(mine, F_SETFD, 0) != 0) {
        /* The child runs and the stream cannot be as asked: hang up and reap it. */
        err = errno;
        int st;
        fclose(fp);
        (void)sh_waitpid(pid, &st);
        return err;
    }
    if (err) {
        if (fp)
            fclose(fp);
        else
            close(mine);
        return err;
    }
    node->fp = fp;
    node->pid = pid;
    return 0;
}

UM_EXPORT FILE *popen(const char *command, const char *mode)
{
    UM_CALL_SCOPE;
    if (!um_client_active()) {
        popen_fn *fn = um_next_popen();
        return fn ? fn(command, mode) : UM_NEXT_NONE((FILE *)NULL);
    }
    pthread_once(&sh_once, sh_init);
    bool reading, cloexec;
    if (!mode || !sh_mode(mode, &reading, &cloexec)) {
        errno = EINVAL;
        return NULL;
    }
    struct sh_stream *node = malloc(sizeof *node);
    if (!node)
        return NULL;
    /* No unwinding with the lock held: none of this is meant to be a cancellation point. */
    int oldstate;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &oldstate);
    pthread_mutex_lock(&sh_streams_lock);
    int err = sh_popen_locked(command, reading, cloexec, node);
    if (err == 0) {
        node->next = sh_streams;
        sh_streams = node;
    }
    pthread_mutex_unlock(&sh_streams_lock);
    pthread_setcancelstate(oldstate, NULL);
    if (err) {
        free(node);
        errno = err;
        return NULL;
    }
    return node->fp;
}

UM_EXPORT int pclose(FILE *stream)
{
    UM_CALL_SCOPE;
    struct sh_stream *found = NULL;
    if (um_client_active()) {
        pthread_mutex_lock(&sh_streams_lock);
        for (struct sh_stream **p = &sh_streams; *p; p = &(*p)->next) {
            if ((*p)->fp == stream) {
                found = *p;
                *p = found->next;
                break;
            }
        }
        pthread_mutex_unlock(&sh_streams_lock);
    }
    if (!found) {
        pclose_fn *fn = um_next_pclose();
        return fn ? fn(stream) : UM_NEXT_NONE(-1);
    }
    pid_t pid = found->pid;
    free(found);
    /* As the C library's: a failed flush or close is -1 unless the child's status says more. */
    bool closed = fclose(stream) == 0;
    int status;
    if (sh_waitpid(pid, &status) != 0)
        return -1;
    if (!closed && status == 0)
        return -1;
    return status;
}
