/*
 * copy_faults_chain.c — the library's SIGSEGV handler beside a program's own. The program's
 * handler here is installed by a constructor that runs before the library's (priority 101,
 * the library is linked statically), so the library's handler is installed on top of it: a
 * fault in a copy of a message buffer is the library's (the copy returns false, the program's
 * handler never sees it), and every other fault still reaches the program's handler, which
 * may resolve it and let the faulting instruction run again. A handler the program installs
 * later and that passes faults it does not know on to the one it replaced (the library's)
 * keeps the copies safe too.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "embedded/um_embedded.h"

#include <mach/mach.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint8_t *volatile cc_mine;  /* the program's page, made accessible by its handler */
static volatile int cc_faults;     /* faults the program's first handler resolved */
static volatile int cc_late_faults; /* those of the handler installed later */
static struct sigaction cc_before_late;

static size_t cc_page(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static bool cc_on(const uint8_t *page, const void *addr)
{
    return page && (const uint8_t *)addr >= page && (const uint8_t *)addr < page + cc_page();
}

static void cc_handler(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    if (sig == SIGSEGV && cc_on(cc_mine, info->si_addr)) {
        cc_faults++;
        mprotect(cc_mine, cc_page(), PROT_READ | PROT_WRITE);
        return;
    }
    signal(sig, SIG_DFL); /* not the program's: die of it */
}

__attribute__((constructor(101))) static void cc_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = cc_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
}

static bool cc_read(void *dst, const void *src, size_t len)
{
    return um_embedded_memops.msg_read(NULL, dst, (uint64_t)(uintptr_t)src, len);
}

static bool cc_write(void *dst, const void *src, size_t len)
{
    return um_embedded_memops.msg_write(NULL, (uint64_t)(uintptr_t)dst, src, len);
}

/* Mapped accessible, then protected: valgrind's memcheck calls a page mapped without access
   unaddressable and reports every touch of it, even one a handler resolves. */
static uint8_t *cc_map(int prot)
{
    uint8_t *p = mmap(NULL, cc_page(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mprotect(p, cc_page(), prot) != 0) {
        munmap(p, cc_page());
        return NULL;
    }
    return p;
}

MT_TEST(a_program_handler_installed_before_the_library_still_resolves_its_own_faults)
{
    MT_CHECK(mach_task_self() != MACH_PORT_NULL);
    struct sigaction now;
    MT_EQ(sigaction(SIGSEGV, NULL, &now), 0);
    MT_CHECK(now.sa_sigaction != cc_handler); /* the library's handler is on top */
    uint8_t *p = cc_map(PROT_NONE);
    MT_REQUIRE(p);
    cc_faults = 0;
    cc_mine = p;
    ((volatile uint8_t *)p)[100] = 42; /* faults once; the handler opens the page */
    MT_EQ(cc_faults, 1);
    MT_EQ(p[100], 42);
    cc_mine = NULL;
    MT_EQ(munmap(p, cc_page()), 0);
}

MT_TEST(a_fault_in_a_copy_is_the_library_s_and_never_reaches_the_program_handler)
{
    MT_CHECK(mach_task_self() != MACH_PORT_NULL);
    uint8_t *none = cc_map(PROT_NONE), *ro = cc_map(PROT_READ);
    MT_REQUIRE(none && ro);
    cc_faults = 0;
    uint8_t buf[48];
    memset(buf, 1, sizeof buf);
    for (size_t len = 1; len <= sizeof buf; len++) {
        MT_CHECK(!cc_read(buf, none, len));
        MT_CHECK(!cc_write(ro, buf, len));
    }
    MT_EQ(cc_faults, 0);
    /* And the program's own fault right after still reaches it. */
    uint8_t *p = cc_map(PROT_NONE);
    MT_REQUIRE(p);
    cc_mine = p;
    MT_CHECK(!cc_read(buf, none, 8));
    (void)((volatile uint8_t *)p)[7];
    MT_EQ(cc_faults, 1);
    cc_mine = NULL;
    MT_EQ(munmap(p, cc_page()), 0);
    MT_EQ(munmap(none, cc_page()), 0);
    MT_EQ(munmap(ro, cc_page()), 0);
}

static void cc_late_handler(int sig, siginfo_t *info, void *uc)
{
    if (cc_on(cc_mine, info->si_addr)) {
        cc_late_faults++;
        mprotect(cc_mine, cc_page(), PROT_READ | PROT_WRITE);
        return;
    }
    /* Not ours: the handler we replaced decides (the library's, for a copy's fault). */
    if (cc_before_late.sa_flags & SA_SIGINFO)
        cc_before_late.sa_sigaction(sig, info, uc);
    else
        signal(sig, SIG_DFL);
}

MT_TEST(a_program_handler_installed_later_that_passes_on_other_faults_keeps_copies_safe)
{
    MT_CHECK(mach_task_self() != MACH_PORT_NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = cc_late_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    MT_EQ(sigaction(SIGSEGV, &sa, &cc_before_late), 0);
    uint8_t *none = cc_map(PROT_NONE), *p = cc_map(PROT_NONE);
    MT_REQUIRE(none && p);
    cc_late_faults = 0;
    cc_faults = 0;
    uint8_t buf[64];
    memset(buf, 9, sizeof buf);
    MT_CHECK(!cc_read(buf, none, sizeof buf));
    MT_CHECK(!cc_write(none + 13, buf, 5));
    MT_CHECK(cc_read(buf, buf + 32, 32));
    cc_mine = p;
    ((volatile uint8_t *)p)[1] = 5;
    MT_EQ(p[1], 5);
    MT_EQ(cc_late_faults, 1);
    MT_EQ(cc_faults, 0);
    cc_mine = NULL;
    MT_EQ(sigaction(SIGSEGV, &cc_before_late, NULL), 0);
    MT_EQ(munmap(p, cc_page()), 0);
    MT_EQ(munmap(none, cc_page()), 0);
}

MT_MAIN()
