/*
 * umach_test.h — helpers shared by tests/umach programs that look at the process itself:
 * whether valgrind or a sanitizer runs it (memory bounds then mean something else), how much
 * address space it maps now, how to leave it no memory (Linux: RLIMIT_AS), how many names its
 * space holds, and checks run in a forked child (a new task, whose space reads its limits from
 * the environment when it is created).
 */
#ifndef UMACH_TEST_H
#define UMACH_TEST_H

#include <mach/mach.h>

#include "space_names.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* ASan and TSan reserve shadow memory: address-space caps and resident bounds do not apply. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UT_SANITIZED 1
#endif
#endif
#ifndef UT_SANITIZED
#define UT_SANITIZED 0
#endif

/* Is valgrind running this program (its preload library is in LD_PRELOAD)? */
static inline int ut_under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload") != NULL;
}

/* Bytes mapped by this process now (VmSize), read without allocating; 0 if unknown. */
static inline unsigned long long ut_mapped_now(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strstr(buf, "VmSize:");
    return p ? strtoull(p + 7, NULL, 10) * 1024 : 0;
}

/* ---- running out of memory ------------------------------------------------------------- */

/*
 * Cap the address space (RLIMIT_AS) at what is mapped now: no new mapping can be made until
 * *old is set back. Returns 0, or -1 with nothing changed.
 */
static inline int ut_cap_address_space(struct rlimit *old)
{
    if (getrlimit(RLIMIT_AS, old) != 0)
        return -1;
    unsigned long long now = ut_mapped_now();
    if (now == 0 || (old->rlim_max != RLIM_INFINITY && old->rlim_max < now))
        return -1;
    struct rlimit capped = {now, old->rlim_max};
    return setrlimit(RLIMIT_AS, &capped) == 0 ? 0 : -1;
}

#define UT_FILL_MAX (1u << 20)
static void **ut_fill;
static unsigned ut_nfill;
static struct rlimit ut_old_limit;

/* Undo ut_exhaust_memory: the heap's blocks freed, the old address-space limit back. */
static inline void ut_restore_memory(void)
{
    while (ut_nfill > 0)
        free(ut_fill[--ut_nfill]);
    free(ut_fill);
    ut_fill = NULL;
    (void)setrlimit(RLIMIT_AS, &ut_old_limit);
}

/*
 * Cap the address space at what is mapped and take every byte malloc can still give, so that
 * the next malloc fails; ut_restore_memory gives it all back. Returns 0 once malloc fails, or
 * -1 with everything restored (the heap could not be exhausted: nothing would be tested).
 */
static inline int ut_exhaust_memory(void)
{
    ut_nfill = 0;
    ut_fill = calloc(UT_FILL_MAX, sizeof *ut_fill);
    if (!ut_fill)
        return -1;
    if (ut_cap_address_space(&ut_old_limit) != 0) {
        free(ut_fill);
        ut_fill = NULL;
        return -1;
    }
    /* Large sizes first, then every small size class (free chunks of any class go too). */
    static const size_t sizes[] = {65536, 4096};
    void *p;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        while (ut_nfill < UT_FILL_MAX && (p = malloc(sizes[i])) != NULL)
            ut_fill[ut_nfill++] = p;
    for (size_t size = 1024; size >= 8; size -= 8)
        while (ut_nfill < UT_FILL_MAX && (p = malloc(size)) != NULL)
            ut_fill[ut_nfill++] = p;
    while (ut_nfill < UT_FILL_MAX && (p = malloc(1)) != NULL)
        ut_fill[ut_nfill++] = p;
    void *probe = ut_nfill < UT_FILL_MAX ? malloc(32) : NULL;
    if (ut_nfill == UT_FILL_MAX || probe != NULL) {
        free(probe);
        ut_restore_memory();
        return -1;
    }
    return 0;
}

/* ---- checks in a forked child ------------------------------------------------------------ */

/* Failed UT_CK checks in this child. */
static int ut_child_failures;

#define UT_CK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "  child FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            ut_child_failures++;                                                               \
        }                                                                                      \
    } while (0)

/*
 * Run fn in a forked child, with the environment variable `var` set to `value` while the child
 * is made (`value` NULL: left as it is; a named `var` is unset in this process afterwards),
 * under an alarm(watchdog_s) watchdog when watchdog_s is not 0. The child exits with the
 * number of UT_CK checks that failed (100 at most). Returns the child's wait status (0: it
 * exited with every check passed), -1 if it could not be run.
 */
static inline int ut_in_child(const char *var, const char *value, void (*fn)(void),
                              unsigned watchdog_s)
{
    if (var && value)
        setenv(var, value, 1);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (watchdog_s)
            alarm(watchdog_s);
        ut_child_failures = 0;
        fn();
        fflush(NULL);
        /*
         * _exit, not exit: the parent has other threads (the harness's watchdog), and one may
         * have held the sanitizer's allocator lock at the fork; LeakSanitizer's check at exit
         * would wait for it forever.
         */
        _exit(ut_child_failures > 100 ? 100 : ut_child_failures);
    }
    if (var)
        unsetenv(var);
    int st = -1;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return st;
}

#endif
