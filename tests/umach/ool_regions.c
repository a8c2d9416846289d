/*
 * ool_regions.c — out-of-line memory from vm_allocate travels without costing resident
 * memory: a virtual copy shares the pages copy-on-write, a move hands the pages over, and
 * what the receiver gets can be sent on the same way. The snapshot semantics hold both ways
 * (the sender's later writes never show in what the receiver got, the receiver's writes never
 * show to the sender), through partial deallocation, fixed allocation over a region and fork.
 *
 * Resident memory is read from /proc/self/statm (RSS), or as PSS from smaps_rollup where pages
 * are mapped more than once; the bounds are generous (tens of MiB where a copy would cost
 * hundreds), so the tests do not depend on what else the process touches.
 */
#define _GNU_SOURCE
#include "mt.h"
#include "umach_test.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>

#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define TASK mach_task_self()
#define MiB (1024u * 1024u)

typedef struct {
    mach_msg_header_t h;
    mach_msg_body_t b;
    mach_msg_ool_descriptor_t d;
} ool_msg;

typedef struct {
    ool_msg m;
    mach_msg_max_trailer_t t;
} ool_rbuf;

/*
 * Under valgrind every page the program touches also has shadow memory in the same process,
 * so resident-size bounds say nothing there: BOUNDED() then passes (object_bytes() still
 * counts only umach's memfds and is checked everywhere).
 */
/* ThreadSanitizer keeps a resident shadow of every page touched: the bounds do not apply. */
#if defined(__SANITIZE_THREAD__)
#define OR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define OR_TSAN 1
#endif
#endif
#ifndef OR_TSAN
#define OR_TSAN 0
#endif
#define BOUNDED(cond) MT_CHECK(ut_under_valgrind() || OR_TSAN || (cond))

/* Resident set size of this process in bytes. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * Proportional set size in bytes: a page mapped by several regions of this process counts
 * once (RSS counts it once per mapping, so it cannot tell a shared page from a copy).
 */
static uint64_t pss_bytes(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Pss: %llu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kib * 1024;
}

/*
 * Bytes held by umach's memory objects (its memfds, found through /proc/self/fd): pages a
 * region no longer maps but that a snapshot may still need are counted here, not in PSS.
 */
static uint64_t object_bytes(void)
{
    DIR *d = opendir("/proc/self/fd");
    uint64_t total = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = 0;
        struct stat st;
        if (strncmp(target, "/memfd:umach-", 13) == 0 && stat(path, &st) == 0)
            total += (uint64_t)st.st_blocks * 512;
    }
    if (d)
        closedir(d);
    return total;
}

static mach_port_name_t port_with_send(mach_port_msgcount_t qlimit)
{
    mach_port_name_t p = MACH_PORT_NULL;
    if (mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &p) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    if (mach_port_insert_right(TASK, p, p, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    mach_port_limits_t lim = {.mpl_qlimit = qlimit};
    if (mach_port_set_attributes(TASK, p, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                 MACH_PORT_LIMITS_INFO_COUNT) != KERN_SUCCESS)
        return MACH_PORT_NULL;
    return p;
}

static void port_kill(mach_port_name_t p)
{
    mach_port_deallocate(TASK, p);
    mach_port_mod_refs(TASK, p, MACH_PORT_RIGHT_RECEIVE, -1);
}

static mach_msg_return_t send_ool(mach_port_name_t port, vm_address_t addr, vm_size_t size,
                                  mach_msg_copy_options_t copy, int dealloc)
{
    ool_msg m;
    memset(&m, 0, sizeof m);
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    m.h.msgh_size = sizeof m;
    m.h.msgh_remote_port = port;
    m.h.msgh_id = 0x6f6f;
    m.b.msgh_descriptor_count = 1;
    m.d.address = (void *)addr;
    m.d.size = (mach_msg_size_t)size;
    m.d.copy = copy;
    m.d.deallocate = dealloc;
    m.d.type = MACH_MSG_OOL_DESCRIPTOR;
    return mach_msg(&m.h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof m, 0, MACH_PORT_NULL, 0,
                    MACH_PORT_NULL);
}

/* Receive one OOL message; returns the region's address (0 on failure). */
static vm_address_t recv_ool(mach_port_name_t port, vm_size_t *sizep)
{
    ool_rbuf r;
    memset(&r, 0, sizeof r);
    mach_msg_return_t mr = mach_msg(&r.m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof r, port,
                                    5000, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS || r.m.b.msgh_descriptor_count != 1)
        return 0;
    *sizep = r.m.d.size;
    return (vm_address_t)r.m.d.address;
}

static vm_address_t alloc(vm_size_t size)
{
    vm_address_t a = 0;
    if (vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
        return 0;
    return a;
}

static void fill(vm_address_t a, vm_size_t size, uint8_t seed)
{
    for (vm_size_t i = 0; i < size; i += 64)
        ((uint8_t *)a)[i] = (uint8_t)(seed + i / 64);
}

static int filled(vm_address_t a, vm_size_t size, uint8_t seed)
{
    for (vm_size_t i = 0; i < size; i += 64)
        if (((const uint8_t *)a)[i] != (uint8_t)(seed + i / 64))
            return 0;
    return 1;
}

static int all_zero(vm_address_t a, vm_size_t size)
{
    for (vm_size_t i = 0; i < size; i += 512)
        if (((const uint8_t *)a)[i])
            return 0;
    return 1;
}

MT_TEST(four_queued_virtual_copies_of_an_untouched_256_mib_region_cost_no_resident_memory)
{
    const vm_size_t size = 256 * MiB;
    mach_port_name_t p = port_with_send(8);
    MT_REQUIRE(p);
    vm_address_t a = alloc(size);
    MT_REQUIRE(a);
    uint64_t before = rss_bytes();
    for (int i = 0; i < 4; i++)
        MT_KR(send_ool(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    uint64_t queued = rss_bytes();
    printf("  rss: %" PRIu64 " KiB before, %" PRIu64 " KiB with 4 x 256 MiB queued\n",
           before >> 10, queued >> 10);
    BOUNDED(queued < before + 32 * MiB);
    MT_CHECK(object_bytes() < 16 * MiB);

    vm_address_t got[4];
    vm_size_t gsize[4];
    for (int i = 0; i < 4; i++) {
        got[i] = recv_ool(p, &gsize[i]);
        MT_REQUIRE(got[i]);
        MT_EQ(gsize[i], size);
    }
    BOUNDED(rss_bytes() < before + 32 * MiB);

    /* The sender writes: no receiver sees it. A receiver writes: nobody else sees it. */
    ((uint8_t *)a)[0] = 'S';
    ((uint8_t *)a)[size - 1] = 'S';
    ((uint8_t *)got[1])[vm_page_size] = 'R';
    for (int i = 0; i < 4; i++) {
        MT_EQ(((uint8_t *)got[i])[0], 0);
        MT_EQ(((uint8_t *)got[i])[size - 1], 0);
        if (i != 1)
            MT_EQ(((uint8_t *)got[i])[vm_page_size], 0);
    }
    MT_EQ(((uint8_t *)a)[vm_page_size], 0);
    MT_EQ(((uint8_t *)got[1])[vm_page_size], 'R');
    MT_EQ(((uint8_t *)a)[0], 'S');
    BOUNDED(rss_bytes() < before + 32 * MiB);
    for (int i = 0; i < 4; i++)
        MT_KR(vm_deallocate(TASK, got[i], gsize[i]), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, size), KERN_SUCCESS);
    port_kill(p);
}

MT_TEST(untouched_pages_of_memory_not_from_vm_allocate_cost_nothing_when_sent)
{
    /* Memory the program mapped itself (as malloc does for large blocks): the pages it never
     * touched are not copied; the ones it wrote arrive with their bytes. */
    const vm_size_t size = 256 * MiB;
    mach_port_name_t p = port_with_send(8);
    MT_REQUIRE(p);
    uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(m != MAP_FAILED);
    for (vm_size_t off = 0; off < size; off += 16 * MiB)
        m[off + 100] = (uint8_t)(1 + off / MiB);
    uint64_t before = rss_bytes();
    MT_KR(send_ool(p, (vm_address_t)m, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    MT_KR(send_ool(p, (vm_address_t)m + 4096, 64 * MiB, MACH_MSG_PHYSICAL_COPY, 0),
          MACH_MSG_VM_KERNEL); /* over XNU's physical-copy limit, as ever */
    MT_KR(send_ool(p, (vm_address_t)m + 16 * MiB, 4 * MiB, MACH_MSG_PHYSICAL_COPY, 0),
          MACH_MSG_SUCCESS);
    MT_KR(send_ool(p, (vm_address_t)m + 5, size - 5, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    BOUNDED(rss_bytes() < before + 32 * MiB);
    MT_CHECK(object_bytes() < 16 * MiB);
    m[100] = 0xEE; /* after the sends */
    vm_size_t s1 = 0, s2 = 0, s3 = 0;
    vm_address_t whole = recv_ool(p, &s1), phys = recv_ool(p, &s2), odd = recv_ool(p, &s3);
    MT_REQUIRE(whole && phys && odd);
    MT_EQ(s1, size);
    for (vm_size_t off = 0; off < size; off += 16 * MiB) {
        MT_EQ(((uint8_t *)whole)[off + 100], (uint8_t)(1 + off / MiB));
        MT_EQ(((uint8_t *)whole)[off + 101], 0);
        if (off)
            MT_EQ(((uint8_t *)odd)[off + 95], (uint8_t)(1 + off / MiB));
    }
    MT_EQ(((uint8_t *)odd)[95], 1);
    MT_EQ((odd & vm_page_mask), 5u);
    MT_EQ(((uint8_t *)phys)[100], 17);
    MT_EQ(((uint8_t *)phys)[4 * MiB - 1], 0);
    MT_EQ((phys & vm_page_mask), 0u);
    MT_KR(vm_deallocate(TASK, whole, s1), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, phys, s2), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, odd, s3), KERN_SUCCESS);
    munmap(m, size);
    port_kill(p);
}

MT_TEST(a_touched_region_sent_by_virtual_copy_is_shared_until_written_and_stays_a_snapshot)
{
    const vm_size_t size = 64 * MiB;
    mach_port_name_t p = port_with_send(8);
    MT_REQUIRE(p);
    vm_address_t a = alloc(size);
    MT_REQUIRE(a);
    fill(a, size, 3);
    uint64_t before = pss_bytes();
    for (int i = 0; i < 3; i++)
        MT_KR(send_ool(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    vm_address_t got[3];
    vm_size_t gsize[3];
    for (int i = 0; i < 3; i++) {
        got[i] = recv_ool(p, &gsize[i]);
        MT_REQUIRE(got[i]);
        MT_CHECK(filled(got[i], size, 3));
    }
    /* Three readers of the same 64 MiB: no second copy of the pages. */
    BOUNDED(pss_bytes() < before + 32 * MiB);

    /* What the receiver got can be sent on without a copy, and it is a snapshot too. */
    MT_KR(send_ool(p, got[0], size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    vm_size_t fsize = 0;
    vm_address_t fwd = recv_ool(p, &fsize);
    MT_REQUIRE(fwd);
    BOUNDED(pss_bytes() < before + 48 * MiB);
    ((uint8_t *)got[0])[64] = 0xEE;
    MT_CHECK(filled(fwd, size, 3));

    fill(a, size, 77); /* the sender rewrites everything: only it sees the new bytes */
    for (int i = 1; i < 3; i++)
        MT_CHECK(filled(got[i], size, 3));
    MT_CHECK(filled(a, size, 77));
    ((uint8_t *)got[2])[128] = 0xAB;
    MT_EQ(((uint8_t *)a)[128], (uint8_t)(77 + 2));
    MT_EQ(((uint8_t *)got[1])[128], (uint8_t)(3 + 2));

    /* A second virtual copy after the writes carries the new bytes; the first is unchanged. */
    MT_KR(send_ool(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    vm_size_t s2 = 0;
    vm_address_t second = recv_ool(p, &s2);
    MT_REQUIRE(second);
    MT_CHECK(filled(second, size, 77));
    MT_CHECK(filled(got[1], size, 3));

    MT_KR(vm_deallocate(TASK, second, s2), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, fwd, fsize), KERN_SUCCESS);
    for (int i = 0; i < 3; i++)
        MT_KR(vm_deallocate(TASK, got[i], gsize[i]), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, size), KERN_SUCCESS);
    port_kill(p);
}

MT_TEST(a_region_rewritten_after_a_virtual_copy_keeps_its_pages_once_when_the_copy_is_gone)
{
    const vm_size_t size = 64 * MiB;
    mach_port_name_t p = port_with_send(8);
    MT_REQUIRE(p);
    vm_address_t a = alloc(size);
    MT_REQUIRE(a);
    memset((void *)a, 1, size);
    uint64_t before = pss_bytes();
    for (int round = 2; round < 6; round++) {
        MT_KR(send_ool(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
        vm_size_t s = 0;
        vm_address_t got = recv_ool(p, &s);
        MT_REQUIRE(got);
        MT_EQ(((uint8_t *)got)[size / 2], (uint8_t)(round - 1));
        MT_KR(vm_deallocate(TASK, got, s), KERN_SUCCESS);
        memset((void *)a, round, size); /* every page now a private copy of the sender's */
    }
    /* The old snapshots' pages went with them: the region costs about its own size. */
    BOUNDED(pss_bytes() < before + 32 * MiB);
    MT_CHECK(object_bytes() < 16 * MiB);
    MT_EQ(((uint8_t *)a)[size - 1], 5);
    MT_KR(vm_deallocate(TASK, a, size), KERN_SUCCESS);
    port_kill(p);
}

MT_TEST(a_moved_region_arrives_without_a_copy_and_can_be_moved_again)
{
    const vm_size_t size = 64 * MiB;
    mach_port_name_t p = port_with_send(8);
    MT_REQUIRE(p);
    vm_address_t a = alloc(size);
    MT_REQUIRE(a);
    fill(a, size, 11);
    uint64_t before = pss_bytes();
    MT_KR(send_ool(p, a, size, MACH_MSG_VIRTUAL_COPY, 1), MACH_MSG_SUCCESS);
    vm_size_t s = 0;
    vm_address_t got = recv_ool(p, &s);
    MT_REQUIRE(got);
    MT_CHECK(filled(got, size, 11));
    MT_KR(send_ool(p, got, size, MACH_MSG_PHYSICAL_COPY, 1), MACH_MSG_SUCCESS);
    vm_address_t again = recv_ool(p, &s);
    MT_REQUIRE(again);
    MT_CHECK(filled(again, size, 11));
    BOUNDED(pss_bytes() < before + 16 * MiB);
    MT_KR(vm_deallocate(TASK, again, s), KERN_SUCCESS);
    port_kill(p);
}

MT_TEST(parts_of_a_region_left_after_partial_deallocation_travel_with_their_own_bytes)
{
    const vm_size_t pg = vm_page_size, size = 64 * pg;
    mach_port_name_t p = port_with_send(8);
    MT_REQUIRE(p);
    vm_address_t a = alloc(size);
    MT_REQUIRE(a);
    fill(a, size, 21);
    /* Send the whole region once, so its pages are shared with a queued message. */
    MT_KR(send_ool(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    MT_KR(vm_deallocate(TASK, a + 16 * pg, 16 * pg), KERN_SUCCESS); /* a hole in the middle */
    MT_KR(vm_deallocate(TASK, a + 60 * pg, 4 * pg), KERN_SUCCESS);  /* and the tail */
    /* A range that covers the hole is unreadable memory. */
    MT_KR(send_ool(p, a + 8 * pg, 32 * pg, MACH_MSG_VIRTUAL_COPY, 0), MACH_SEND_INVALID_MEMORY);
    /* The hole can be allocated again at a fixed address; it starts out zero. */
    vm_address_t h = a + 16 * pg;
    MT_KR(vm_allocate(TASK, &h, 16 * pg, VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_EQ(h, a + 16 * pg);
    MT_CHECK(all_zero(h, 16 * pg));
    MT_KR(send_ool(p, a, 16 * pg, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    MT_KR(send_ool(p, a + 32 * pg, 28 * pg, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);

    vm_size_t s0 = 0, s1 = 0, s2 = 0;
    vm_address_t whole = recv_ool(p, &s0);
    vm_address_t head = recv_ool(p, &s1);
    vm_address_t tail = recv_ool(p, &s2);
    MT_REQUIRE(whole && head && tail);
    MT_CHECK(filled(whole, size, 21)); /* the first snapshot kept everything */
    MT_EQ(s1, 16 * pg);
    MT_EQ(s2, 28 * pg);
    MT_CHECK(filled(head, 16 * pg, 21));
    MT_EQ(((uint8_t *)tail)[0], (uint8_t)(21 + 32 * pg / 64));
    MT_EQ(((uint8_t *)tail)[27 * pg], (uint8_t)(21 + 59 * pg / 64));

    /* Overwriting part of a region replaces those pages with zeros, nothing else. */
    mach_vm_address_t o = a + 4 * pg;
    MT_KR(mach_vm_allocate(TASK, &o, 4 * pg, VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE), KERN_SUCCESS);
    MT_CHECK(all_zero(a + 4 * pg, 4 * pg));
    MT_EQ(((uint8_t *)a)[3 * pg], (uint8_t)(21 + 3 * pg / 64));
    MT_EQ(((uint8_t *)a)[8 * pg], (uint8_t)(21 + 8 * pg / 64));
    MT_CHECK(filled(head, 16 * pg, 21));
    MT_CHECK(filled(whole, size, 21));

    MT_KR(vm_deallocate(TASK, a, 60 * pg), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, whole, s0), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, head, s1), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, tail, s2), KERN_SUCCESS);
    port_kill(p);
}

/* In a child: write `v` over the region and exit 0 if it then reads back as `v`. */
static void child_writes(vm_address_t a, vm_size_t size, uint8_t v)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        memset((void *)a, v, size);
        _exit(((uint8_t *)a)[size - 1] == v ? 0 : 1);
    }
    int st = -1;
    MT_REQUIRE(pid > 0 && waitpid(pid, &st, 0) == pid);
    MT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

MT_TEST(a_forked_child_gets_a_copy_of_regions_whether_sent_before_or_not)
{
    const vm_size_t size = 4 * MiB;
    mach_port_name_t p = port_with_send(8);
    MT_REQUIRE(p);
    vm_address_t never_sent = alloc(size), sent = alloc(size);
    MT_REQUIRE(never_sent && sent);
    fill(never_sent, size, 5);
    fill(sent, size, 6);
    MT_KR(send_ool(p, sent, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    vm_size_t s = 0;
    vm_address_t got = recv_ool(p, &s);
    MT_REQUIRE(got);

    child_writes(never_sent, size, 0xC1);
    child_writes(sent, size, 0xC2);
    child_writes(got, size, 0xC3);
    MT_CHECK(filled(never_sent, size, 5));
    MT_CHECK(filled(sent, size, 6));
    MT_CHECK(filled(got, size, 6));

    /* After the fork the parent's writes stay its own, and the regions still travel. */
    fill(never_sent, size, 9);
    MT_KR(send_ool(p, never_sent, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    vm_address_t g2 = recv_ool(p, &s);
    MT_REQUIRE(g2);
    MT_CHECK(filled(g2, size, 9));
    MT_KR(vm_deallocate(TASK, g2, s), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, got, s), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, never_sent, size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, sent, size), KERN_SUCCESS);
    port_kill(p);
}

MT_TEST(a_region_unmapped_behind_umachs_back_and_replaced_is_sent_with_its_new_bytes)
{
    const vm_size_t size = 1 * MiB;
    mach_port_name_t p = port_with_send(8);
    MT_REQUIRE(p);
    vm_address_t a = alloc(size);
    MT_REQUIRE(a);
    fill(a, size, 1);
    /* The program maps a file of its own over the region, without vm_deallocate. */
    int fd = memfd_create("program", MFD_CLOEXEC);
    MT_REQUIRE(fd >= 0);
    MT_REQUIRE(ftruncate(fd, (off_t)size) == 0);
    void *m = mmap((void *)a, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    close(fd);
    MT_REQUIRE(m == (void *)a);
    fill(a, size, 40);
    MT_KR(send_ool(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    vm_size_t s = 0;
    vm_address_t got = recv_ool(p, &s);
    MT_REQUIRE(got);
    MT_CHECK(filled(got, size, 40));
    MT_CHECK(filled(a, size, 40));
    fill(a, size, 41);
    MT_CHECK(filled(got, size, 40));
    MT_KR(vm_deallocate(TASK, got, s), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, size), KERN_SUCCESS);
    port_kill(p);
}

MT_TEST(a_region_made_read_only_stays_read_only_when_sent)
{
    const vm_size_t size = 1 * MiB;
    mach_port_name_t p = port_with_send(8);
    MT_REQUIRE(p);
    vm_address_t a = alloc(size);
    MT_REQUIRE(a);
    fill(a, size, 2);
    MT_REQUIRE(mprotect((void *)a, size, PROT_READ) == 0);
    MT_KR(send_ool(p, a, size, MACH_MSG_VIRTUAL_COPY, 0), MACH_MSG_SUCCESS);
    vm_size_t s = 0;
    vm_address_t got = recv_ool(p, &s);
    MT_REQUIRE(got);
    MT_CHECK(filled(got, size, 2));
    /* Still read-only: a write from a child faults (SIGSEGV; ASan reports it and exits). */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        ((volatile uint8_t *)a)[0] = 1;
        _exit(0);
    }
    int st = -1;
    MT_REQUIRE(pid > 0 && waitpid(pid, &st, 0) == pid);
    MT_CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) ||
             (WIFEXITED(st) && WEXITSTATUS(st) != 0));
    MT_REQUIRE(mprotect((void *)a, size, PROT_READ | PROT_WRITE) == 0);
    fill(a, size, 3);
    MT_CHECK(filled(got, size, 2));
    MT_KR(vm_deallocate(TASK, got, s), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, size), KERN_SUCCESS);
    port_kill(p);
}

MT_MAIN()
