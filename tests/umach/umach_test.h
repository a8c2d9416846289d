/*
 * umach_test.h — helpers shared by tests/umach programs that look at the process itself:
 * whether valgrind or a sanitizer runs it (memory bounds then mean something else), how much
 * address space it maps now, how many names its space holds, and checks run in a forked child
 * (a new task, whose space reads its limits from the environment when it is created).
 */
#ifndef UMACH_TEST_H
#define UMACH_TEST_H

#include <mach/mach.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* How many names the task's space holds; (mach_msg_type_number_t)-1 if it cannot be read. */
static inline mach_msg_type_number_t ut_name_count(void)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    if (mach_port_names(mach_task_self(), &names, &nn, &types, &nt) != KERN_SUCCESS)
        return (mach_msg_type_number_t)-1;
    (void)vm_deallocate(mach_task_self(), (vm_address_t)names, nn * sizeof *names);
    (void)vm_deallocate(mach_task_self(), (vm_address_t)types, nt * sizeof *types);
    return nn;
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
