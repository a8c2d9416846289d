/*
 * mt.h — the project's minimal test harness (header only, public C11 + POSIX).
 *
 * Used by tests/conformance (which must also build on macOS) and tests/machports.
 * It depends on nothing Linux-specific: stdio, stdlib, string, unistd, sys/wait.
 *
 * A test file defines tests with MT_TEST(sentence_about_behaviour) { ... } and ends with
 * MT_MAIN(). Each test runs in order; a failed check records the failure (file, line, the
 * expression and both values) and the test goes on. The run ends with the line
 * "N passed, N failed" and exits non-zero if anything failed.
 *
 * MT_DIES(stmt) runs stmt in a forked child and checks that the child was killed by a
 * signal (abort on Linux/umach, SIGKILL from an EXC_GUARD on macOS).
 */
#ifndef MT_H
#define MT_H

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*mt_fn)(void);

struct mt_case {
    const char *name;
    mt_fn fn;
};

#define MT_MAX_CASES 512

static struct mt_case mt_cases[MT_MAX_CASES];
static int mt_ncases;
static int mt_current_failed;
static int mt_checks;

static inline void mt_register(const char *name, mt_fn fn)
{
    if (mt_ncases < MT_MAX_CASES) {
        mt_cases[mt_ncases].name = name;
        mt_cases[mt_ncases].fn = fn;
        mt_ncases++;
    } else {
        fprintf(stderr, "mt: too many tests (raise MT_MAX_CASES)\n");
        exit(2);
    }
}

#define MT_TEST(name)                                                                          \
    static void mt_test_##name(void);                                                          \
    __attribute__((constructor)) static void mt_register_##name(void)                         \
    {                                                                                          \
        mt_register(#name, mt_test_##name);                                                    \
    }                                                                                          \
    static void mt_test_##name(void)

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

/* Run stmt in a child process; pass when the child dies from a signal. */
#define MT_DIES(stmt)                                                                          \
    do {                                                                                       \
        mt_checks++;                                                                           \
        fflush(NULL);                                                                          \
        pid_t mt_pid_ = fork();                                                                \
        if (mt_pid_ == 0) {                                                                    \
            stmt;                                                                              \
            _exit(0);                                                                          \
        }                                                                                      \
        int mt_st_ = 0;                                                                        \
        if (mt_pid_ < 0 || waitpid(mt_pid_, &mt_st_, 0) != mt_pid_ || !WIFSIGNALED(mt_st_))    \
            mt_fail_at(__FILE__, __LINE__, "expected to die from a signal: " #stmt);           \
    } while (0)

static inline int mt_run_all(const char *prog)
{
    int passed = 0, failed = 0;
    const char *only = getenv("MT_ONLY");
    (void)prog;
    for (int i = 0; i < mt_ncases; i++) {
        if (only && strcmp(only, mt_cases[i].name) != 0)
            continue;
        mt_current_failed = 0;
        mt_cases[i].fn();
        if (mt_current_failed) {
            failed++;
            printf("not ok %s\n", mt_cases[i].name);
        } else {
            passed++;
            printf("ok %s\n", mt_cases[i].name);
        }
        fflush(stdout);
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
