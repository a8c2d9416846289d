/*
 * mt.h — the project's minimal test harness (header only, public C11 + POSIX).
 *
 * Used by tests/conformance (which must also build on macOS), tests/umach, tests/machports
 * and tests/stress. It depends on nothing Linux-specific: stdio, stdlib, string, unistd,
 * pthread, time, sys/wait.
 *
 * A test file defines tests with MT_TEST(sentence_about_behaviour) { ... } and ends with
 * MT_MAIN(). Each test runs in order; a failed check records the failure (file, line, the
 * expression and both values) and the test goes on. The run ends with the line
 * "N passed, N failed" and exits non-zero if anything failed.
 *
 * Watchdog: every test has a time limit, MT_DEFAULT_TIMEOUT seconds (20; a file may define
 * it before including mt.h) or the one given by MT_TEST_TIMEOUT(name, seconds). A watchdog
 * thread ends the whole program when a test overruns it, with a line naming the test (and
 * kills the child of a running MT_DIES_WITH), so a hang costs seconds, not ctest's limit.
 * The limit is multiplied by the environment variable MT_TIMEOUT_SCALE (a positive number;
 * `make valgrind` sets 10; 0 turns the watchdog off, e.g. under a debugger) and by 2 in an
 * AddressSanitizer build and 5 in a ThreadSanitizer build.
 *
 * MT_DIES_WITH(stmt, signal, substring...) runs stmt in a forked child with its stderr
 * captured, and checks that the child was killed by exactly that signal and that every
 * substring (NULL for none) appears in what it wrote to stderr, in order. A child that
 * exits, or dies of another signal (a segfault where an abort was expected), fails.
 */
#ifndef MT_H
#define MT_H

#if !defined(__APPLE__) && !defined(_POSIX_C_SOURCE)
#if defined(_FEATURES_H)
#error "include mt.h before any system header, or define _POSIX_C_SOURCE 200809L first"
#endif
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread, kill, strsignal under -std=c11 */
#endif

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef void (*mt_fn)(void);

struct mt_case {
    const char *name;
    mt_fn fn;
    unsigned timeout; /* seconds before the scale; 0: MT_DEFAULT_TIMEOUT */
};

#define MT_MAX_CASES 512

#ifndef MT_DEFAULT_TIMEOUT
#define MT_DEFAULT_TIMEOUT 20
#endif

/* How much slower a sanitizer build runs (the watchdog allows for it). */
#if defined(__SANITIZE_THREAD__)
#define MT_SANITIZER_SCALE 5
#elif defined(__SANITIZE_ADDRESS__)
#define MT_SANITIZER_SCALE 2
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MT_SANITIZER_SCALE 5
#elif __has_feature(address_sanitizer)
#define MT_SANITIZER_SCALE 2
#endif
#endif
#ifndef MT_SANITIZER_SCALE
#define MT_SANITIZER_SCALE 1
#endif

static struct mt_case mt_cases[MT_MAX_CASES];
static int mt_ncases;
/* Atomic: a test's helper threads may check things too. */
static _Atomic int mt_current_failed;
static _Atomic int mt_checks;

static inline void mt_register(const char *name, mt_fn fn, unsigned timeout)
{
    if (mt_ncases < MT_MAX_CASES) {
        mt_cases[mt_ncases].name = name;
        mt_cases[mt_ncases].fn = fn;
        mt_cases[mt_ncases].timeout = timeout;
        mt_ncases++;
    } else {
        fprintf(stderr, "mt: too many tests (raise MT_MAX_CASES)\n");
        exit(2);
    }
}

/* A test that may take up to `seconds` (before MT_TIMEOUT_SCALE and the sanitizer scale). */
#define MT_TEST_TIMEOUT(name, seconds)                                                         \
    static void mt_test_##name(void);                                                          \
    __attribute__((constructor)) static void mt_register_##name(void)                         \
    {                                                                                          \
        mt_register(#name, mt_test_##name, (seconds));                                         \
    }                                                                                          \
    static void mt_test_##name(void)

#define MT_TEST(name) MT_TEST_TIMEOUT(name, 0)

static inline void mt_fail_at(const char *file, int line, const char *what)
{
    mt_current_failed = 1;
    fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, what);
}

#define MT_CHECK(cond)                                                                         \
    do {                                                                                       \
        mt_checks++;                                                                           \
        if (!(cond))                                                                           \
            mt_fail_at(__FILE__, __LINE__, #cond);                                             \
    } while (0)

/* Compare two integers (any integer type up to 64 bits), printing both on failure. */
#define MT_EQ(actual, expected)                                                                \
    do {                                                                                       \
        uint64_t mt_a_ = (uint64_t)(actual);                                                   \
        uint64_t mt_e_ = (uint64_t)(expected);                                                 \
        mt_checks++;                                                                           \
        if (mt_a_ != mt_e_) {                                                                  \
            char mt_buf_[512];                                                                 \
            snprintf(mt_buf_, sizeof mt_buf_, "%s == %s: got %#" PRIx64 ", want %#" PRIx64,    \
                     #actual, #expected, mt_a_, mt_e_);                                        \
            mt_fail_at(__FILE__, __LINE__, mt_buf_);                                           \
        }                                                                                      \
    } while (0)

#define MT_NE(actual, unexpected)                                                              \
    do {                                                                                       \
        uint64_t mt_a_ = (uint64_t)(actual);                                                   \
        uint64_t mt_e_ = (uint64_t)(unexpected);                                               \
        mt_checks++;                                                                           \
        if (mt_a_ == mt_e_) {                                                                  \
            char mt_buf_[512];                                                                 \
            snprintf(mt_buf_, sizeof mt_buf_, "%s != %s: both are %#" PRIx64, #actual,         \
                     #unexpected, mt_a_);                                                      \
            mt_fail_at(__FILE__, __LINE__, mt_buf_);                                           \
        }                                                                                      \
    } while (0)

/* A kern_return_t / mach_msg_return_t check: MT_KR(call, KERN_SUCCESS). */
#define MT_KR(call, expected) MT_EQ((call), (expected))

/* Stop the current test at once if a precondition fails (later checks would be noise). */
#define MT_REQUIRE(cond)                                                                       \
    do {                                                                                       \
        mt_checks++;                                                                           \
        if (!(cond)) {                                                                         \
            mt_fail_at(__FILE__, __LINE__, "required: " #cond);                                \
            return;                                                                            \
        }                                                                                      \
    } while (0)

/* ---- watchdog ------------------------------------------------------------------------------
 * One thread, started by mt_run_all, sleeps until the running test's deadline. It only
 * write()s and _exit()s when it fires: the hung thread may hold any lock, stdio's included. */

static pthread_mutex_t mt_wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mt_wd_cond = PTHREAD_COND_INITIALIZER;
static const char *mt_wd_test; /* the running test, NULL between tests */
static double mt_wd_deadline;  /* CLOCK_MONOTONIC seconds */
static double mt_wd_limit;     /* the running test's limit in seconds, after scaling */
static pid_t mt_wd_child;      /* an MT_DIES_WITH child to kill with the program, or 0 */
static int mt_wd_stop;
static int mt_wd_started; /* set by the watchdog thread once it runs (mt_run_all waits for it) */

static inline double mt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* MT_TIMEOUT_SCALE times the sanitizer scale; 0 means no watchdog. */
static inline double mt_timeout_scale(void)
{
    double scale = 1.0;
    const char *env = getenv("MT_TIMEOUT_SCALE");
    if (env && *env) {
        char *end = NULL;
        double v = strtod(env, &end);
        if (end != env && *end == '\0' && v >= 0.0)
            scale = v;
        else
            fprintf(stderr, "mt: ignoring MT_TIMEOUT_SCALE=%s (not a number >= 0)\n", env);
    }
    return scale * MT_SANITIZER_SCALE;
}

static inline void mt_wd_fire(void)
{
    char line[600];
    int n = snprintf(line, sizeof line,
                     "mt: WATCHDOG: test %s did not finish within %.0f s (hung?); "
                     "ending the program (MT_TIMEOUT_SCALE multiplies the limit)\n",
                     mt_wd_test, mt_wd_limit);
    if (n > 0)
        (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    n = snprintf(line, sizeof line, "not ok %s (watchdog)\n", mt_wd_test);
    if (n > 0)
        (void)!write(1, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    if (mt_wd_child > 0)
        kill(mt_wd_child, SIGKILL);
    _exit(3);
}

static inline void *mt_wd_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mt_wd_lock);
    mt_wd_started = 1;
    pthread_cond_broadcast(&mt_wd_cond);
    while (!mt_wd_stop) {
        if (!mt_wd_test) {
            pthread_cond_wait(&mt_wd_cond, &mt_wd_lock);
            continue;
        }
        double left = mt_wd_deadline - mt_now();
        if (left <= 0)
            mt_wd_fire();
        /* Wake at least once a second, so a jump of the realtime clock costs little. */
        if (left > 1.0)
            left = 1.0;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + (long)(left * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&mt_wd_cond, &mt_wd_lock, &ts);
    }
    pthread_mutex_unlock(&mt_wd_lock);
    return NULL;
}

/* Arm the watchdog for `name` (limit in seconds, <= 0: none), or disarm it (name NULL). */
static inline void mt_wd_arm(const char *name, double limit)
{
    pthread_mutex_lock(&mt_wd_lock);
    mt_wd_test = limit > 0 ? name : NULL;
    mt_wd_limit = limit;
    mt_wd_deadline = mt_now() + limit;
    mt_wd_child = 0;
    pthread_cond_signal(&mt_wd_cond);
    pthread_mutex_unlock(&mt_wd_lock);
}

static inline void mt_wd_set_child(pid_t pid)
{
    pthread_mutex_lock(&mt_wd_lock);
    mt_wd_child = pid;
    pthread_mutex_unlock(&mt_wd_lock);
}

/* ---- death tests ---------------------------------------------------------------------- */

/* Fork with the child's stderr going into a pipe; *fd is the parent's end (or -1). */
static inline pid_t mt_dies_fork(int *fd)
{
    int p[2];
    fflush(NULL);
    *fd = -1;
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        return 0;
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }
    *fd = p[0];
    mt_wd_set_child(pid);
    return pid;
}

/* Collect the child's stderr and status, and check both; `want` ends with NULL. */
static inline void mt_dies_check(pid_t pid, int fd, int sig, const char *const *want,
                                 const char *file, int line, const char *what)
{
    char out[8192];
    size_t len = 0;
    char why[9000];
    why[0] = '\0';
    if (pid < 0) {
        snprintf(why, sizeof why, "could not fork: %s", strerror(errno));
    } else {
        for (;;) {
            char chunk[1024];
            ssize_t n = read(fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            size_t keep = (size_t)n;
            if (keep > sizeof out - 1 - len)
                keep = sizeof out - 1 - len;
            memcpy(out + len, chunk, keep);
            len += keep;
        }
        out[len] = '\0';
        close(fd);
        int st = 0;
        pid_t got;
        while ((got = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
        }
        mt_wd_set_child(0);
        if (got != pid) {
            snprintf(why, sizeof why, "waitpid failed: %s", strerror(errno));
        } else if (WIFEXITED(st)) {
            snprintf(why, sizeof why,
                     "the child exited with status %d instead of dying of signal %d",
                     WEXITSTATUS(st), sig);
        } else if (!WIFSIGNALED(st)) {
            snprintf(why, sizeof why, "the child did not die (status %#x)", (unsigned)st);
        } else if (WTERMSIG(st) != sig) {
            snprintf(why, sizeof why, "the child died of signal %d (%s), not %d (%s)", WTERMSIG(st),
                     strsignal(WTERMSIG(st)), sig, strsignal(sig));
        } else {
            const char *at = out;
            for (; *want; want++) {
                const char *hit = strstr(at, *want);
                if (!hit) {
                    snprintf(why, sizeof why, "the child's stderr lacks \"%s\"", *want);
                    break;
                }
                at = hit + strlen(*want);
            }
        }
    }
    mt_checks++;
    if (why[0]) {
        char msg[9500];
        snprintf(msg, sizeof msg, "%s: %s%s%s", what, why,
                 len ? "; its stderr:\n    | " : " (its stderr was empty)", len ? out : "");
        mt_fail_at(file, line, msg);
    }
}

/*
 * Run stmt in a child process; pass when the child dies of `sig` and its stderr holds the
 * given substrings in order: MT_DIES_WITH(f(), SIGABRT, "guard", "INCORRECT_GUARD") or
 * MT_DIES_WITH(f(), SIGKILL, NULL). A child that returns from stmt exits 0 and fails.
 */
#define MT_DIES_WITH(stmt, sig, ...)                                                           \
    do {                                                                                       \
        int mt_fd_;                                                                            \
        pid_t mt_pid_ = mt_dies_fork(&mt_fd_);                                                 \
        if (mt_pid_ == 0) {                                                                    \
            stmt;                                                                              \
            _exit(0);                                                                          \
        }                                                                                      \
        mt_dies_check(mt_pid_, mt_fd_, (sig), (const char *const[]){__VA_ARGS__, NULL},       \
                      __FILE__, __LINE__, #stmt);                                              \
    } while (0)

/* ---- running ---------------------------------------------------------------------------- */

static inline int mt_run_all(const char *prog)
{
    int passed = 0, failed = 0;
    const char *only = getenv("MT_ONLY");
    double scale = mt_timeout_scale();
    pthread_t wd;
    int have_wd = 0;
    (void)prog;
    if (scale > 0) {
        have_wd = pthread_create(&wd, NULL, mt_wd_main, NULL) == 0;
        if (!have_wd)
            fprintf(stderr, "mt: no watchdog thread; tests run without a time limit\n");
    }
    /*
     * The first test starts only once the watchdog thread runs: a new thread may map memory
     * as it starts (AddressSanitizer maps its signal stack), and that mapping, late on a
     * loaded machine, could land in a hole a test has just freed and checks is free.
     */
    if (have_wd) {
        pthread_mutex_lock(&mt_wd_lock);
        while (!mt_wd_started)
            pthread_cond_wait(&mt_wd_cond, &mt_wd_lock);
        pthread_mutex_unlock(&mt_wd_lock);
    }
    for (int i = 0; i < mt_ncases; i++) {
        if (only && strcmp(only, mt_cases[i].name) != 0)
            continue;
        mt_current_failed = 0;
        unsigned limit = mt_cases[i].timeout ? mt_cases[i].timeout : MT_DEFAULT_TIMEOUT;
        if (have_wd)
            mt_wd_arm(mt_cases[i].name, limit * scale);
        mt_cases[i].fn();
        if (have_wd)
            mt_wd_arm(NULL, 0);
        if (mt_current_failed) {
            failed++;
            printf("not ok %s\n", mt_cases[i].name);
        } else {
            passed++;
            printf("ok %s\n", mt_cases[i].name);
        }
        fflush(stdout);
    }
    if (have_wd) {
        pthread_mutex_lock(&mt_wd_lock);
        mt_wd_stop = 1;
        pthread_cond_signal(&mt_wd_cond);
        pthread_mutex_unlock(&mt_wd_lock);
        pthread_join(wd, NULL);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define MT_MAIN()                                                                              \
    int main(int argc, char **argv)                                                            \
    {                                                                                          \
        (void)argc;                                                                            \
        return mt_run_all(argv[0]);                                                            \
    }

#endif
