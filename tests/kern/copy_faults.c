/*
 * copy_faults.c — the embedded front end's copies of a message buffer (um_embedded_memops
 * msg_read / msg_write: um_copy.c on x86-64 and aarch64, a memcpy behind a jump buffer
 * elsewhere): every size arrives whole and writes nothing past its end, a fault in the source
 * or the destination at any byte of a copy makes it return false instead of ending the
 * process (SIGSEGV from a page without access, SIGBUS from a mapping past its file's end), and
 * a fault outside a copy still has the default action: the process dies of it.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "embedded/um_embedded.h"

#include <mach/mach.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* AddressSanitizer and ThreadSanitizer install a SIGSEGV/SIGBUS handler before the library. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CF_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CF_SANITIZER 1
#endif
#endif

static size_t cf_page(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static bool cf_read(void *dst, const void *src, size_t len)
{
    return um_embedded_memops.msg_read(NULL, dst, (uint64_t)(uintptr_t)src, len);
}

static bool cf_write(void *dst, const void *src, size_t len)
{
    return um_embedded_memops.msg_write(NULL, (uint64_t)(uintptr_t)dst, src, len);
}

/* Two pages: the first readable and writable, the second with protection `second`. */
static uint8_t *cf_pages(int second)
{
    size_t page = cf_page();
    uint8_t *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memset(p, 0x5A, 2 * page);
    if (mprotect(p + page, page, second) != 0) {
        munmap(p, 2 * page);
        return NULL;
    }
    return p;
}

/* Each size of each copy routine's branches, with the first and last of each. */
static const size_t cf_sizes[] = {0,   1,   2,   3,   4,   5,   7,    8,    9,    15,   16,
                                  17,  24,  31,  32,  33,  40,  52,   63,   64,   65,   100,
                                  127, 128, 129, 191, 192, 300, 2047, 2048, 2049, 4109, 70001};

MT_TEST(copies_of_every_size_and_alignment_arrive_whole_and_write_nothing_around_them)
{
    MT_CHECK(mach_task_self() != MACH_PORT_NULL); /* the world, and the copies' handler */
    enum { MAX = 70001, PAD = 16, ROOM = MAX + 3 * PAD };
    uint8_t *src = malloc(ROOM), *dst = malloc(ROOM);
    MT_REQUIRE(src && dst);
    for (size_t i = 0; i < ROOM; i++)
        src[i] = (uint8_t)(i * 7 + i / 251);
    for (size_t s = 0; s < sizeof cf_sizes / sizeof cf_sizes[0]; s++) {
        size_t len = cf_sizes[s];
        for (size_t so = 0; so < 8; so += 3) {
            for (size_t dof = 0; dof < 8; dof += 5) {
                for (int way = 0; way < 2; way++) {
                    memset(dst, 0xEE, ROOM);
                    uint8_t *d = dst + PAD + dof;
                    const uint8_t *from = src + PAD + so;
                    MT_CHECK(way ? cf_write(d, from, len) : cf_read(d, from, len));
                    MT_EQ(memcmp(d, from, len), 0);
                    for (size_t i = 0; i < PAD + dof; i++)
                        MT_EQ(dst[i], 0xEE);
                    for (size_t i = 0; i < PAD; i++)
                        MT_EQ(d[len + i], 0xEE);
                }
            }
        }
    }
    free(src);
    free(dst);
}

/*
 * A copy of `len` bytes whose first `k` bytes lie at the end of the good page and the rest in
 * the bad one: a read when the bad page is the source, a write when it is the destination.
 */
static void cf_straddle(uint8_t *pages, bool source, size_t len, size_t k, bool want)
{
    size_t page = cf_page();
    static uint8_t other[80000];
    memset(other, 0x11, len);
    uint8_t *at = pages + page - k;
    bool ok = source ? cf_read(other, at, len) : cf_write(at, other, len);
    MT_EQ(ok, want);
    if (ok && source)
        MT_EQ(memcmp(other, at, len), 0);
    if (ok && !source)
        MT_EQ(memcmp(at, other, len), 0);
}

/* Offsets `k` of the page's end inside a copy of len bytes: every one up to 130, else some. */
static void cf_every_offset(uint8_t *pages, bool source)
{
    for (size_t len = 1; len <= 130; len++) {
        for (size_t k = 0; k < len; k++)
            cf_straddle(pages, source, len, k, false);
        cf_straddle(pages, source, len, len, true); /* all of it before the bad page */
    }
    for (size_t s = 0; s < sizeof cf_sizes / sizeof cf_sizes[0]; s++) {
        size_t len = cf_sizes[s];
        if (len <= 130 || len > cf_page())
            continue;
        size_t ks[] = {0, 1, 8, len / 2, len - 17, len - 1};
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
            cf_straddle(pages, source, len, ks[i], false);
        cf_straddle(pages, source, len, len, true);
    }
}

MT_TEST(a_copy_whose_source_becomes_unreadable_at_any_byte_returns_false)
{
    MT_CHECK(mach_task_self() != MACH_PORT_NULL);
    uint8_t *pages = cf_pages(PROT_NONE);
    MT_REQUIRE(pages);
    cf_every_offset(pages, true);
    /* A source entirely in the unreadable page, from its first byte, large or small. */
    static uint8_t sink[70001];
    size_t page = cf_page();
    for (size_t s = 1; s < sizeof cf_sizes / sizeof cf_sizes[0]; s++)
        MT_CHECK(!cf_read(sink, pages + page, cf_sizes[s] < page ? cf_sizes[s] : page));
    MT_EQ(munmap(pages, 2 * page), 0);
}

MT_TEST(a_copy_whose_destination_becomes_unwritable_at_any_byte_returns_false)
{
    MT_CHECK(mach_task_self() != MACH_PORT_NULL);
    uint8_t *pages = cf_pages(PROT_READ);
    MT_REQUIRE(pages);
    cf_every_offset(pages, false);
    /* The read-only page was not written. */
    size_t page = cf_page();
    for (size_t i = 0; i < page; i++)
        MT_EQ(pages[page + i], 0x5A);
    MT_EQ(munmap(pages, 2 * page), 0);
}

MT_TEST(a_copy_past_the_end_of_a_mapped_file_returns_false_on_sigbus_from_either_side)
{
    MT_CHECK(mach_task_self() != MACH_PORT_NULL);
    size_t page = cf_page();
    int fd = memfd_create("copy_faults", 0);
    MT_REQUIRE(fd >= 0);
    MT_REQUIRE(ftruncate(fd, (off_t)page) == 0);
    uint8_t *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    MT_REQUIRE(map != MAP_FAILED);
    uint8_t buf[64];
    memset(buf, 3, sizeof buf);
    /* The second page lies past the file's end: touching it is SIGBUS. */
    MT_CHECK(!cf_read(buf, map + page - 8, sizeof buf));
    MT_CHECK(!cf_write(map + page - 8, buf, sizeof buf));
    MT_CHECK(!cf_read(buf, map + page, 4));
    MT_CHECK(!cf_write(map + page, buf, 1));
    MT_CHECK(cf_write(map + page - 64, buf, sizeof buf));
    MT_EQ(memcmp(map + page - 64, buf, sizeof buf), 0);
    MT_EQ(munmap(map, 2 * page), 0);
    close(fd);
}

/* A fault outside a copy, with nothing but the library's handler installed. */
static void cf_fault_outside(int prot_none)
{
    size_t page = cf_page();
    if (prot_none) {
        volatile uint8_t *p =
            mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mprotect((void *)p, page, PROT_NONE); /* so that memcheck does not report the write */
        p[3] = 1;
    } else {
        int fd = memfd_create("copy_faults_bus", 0);
        volatile uint8_t *p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
        (void)p[5]; /* the file is empty */
    }
}

#ifdef CF_SANITIZER
/* The sanitizer's handler was installed before the library's: it reports the fault and exits. */
static void cf_dies_of(int prot_none)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        cf_fault_outside(prot_none);
        _exit(0);
    }
    int st = -1;
    MT_REQUIRE(pid > 0 && waitpid(pid, &st, 0) == pid);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0);
}
#endif

MT_TEST(a_fault_outside_a_copy_still_ends_the_process_with_its_signal)
{
    MT_CHECK(mach_task_self() != MACH_PORT_NULL);
    uint8_t *pages = cf_pages(PROT_NONE);
    MT_REQUIRE(pages);
    uint8_t b[8];
    MT_CHECK(!cf_read(b, pages + cf_page(), sizeof b)); /* the handler is there */
#ifdef CF_SANITIZER
    cf_dies_of(1);
    cf_dies_of(0);
#else
    MT_DIES_WITH(cf_fault_outside(1), SIGSEGV, NULL);
    MT_DIES_WITH(cf_fault_outside(0), SIGBUS, NULL);
#endif
    /* The library's handler is still ours after the children died. */
    MT_CHECK(!cf_read(b, pages + cf_page(), sizeof b));
    MT_EQ(munmap(pages, 2 * cf_page()), 0);
}

MT_MAIN()
