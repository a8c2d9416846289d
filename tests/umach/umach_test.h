/*
 * umach_test.h — helpers shared by tests/umach programs that look at the process itself:
 * whether valgrind or a sanitizer runs it (memory bounds then mean something else), and how
 * much address space it maps now.
 */
#ifndef UMACH_TEST_H
#define UMACH_TEST_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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

#endif
