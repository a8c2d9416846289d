/*
 * vm_read.c — mach_vm_read and vm_read on the task's own map: the data is a fresh copy in
 * the caller's address space, *dataCnt the size asked for, freed with vm_deallocate;
 * afterwards the copy and the source change independently. As XNU's vm_map_copyin and the
 * reply's copyout: a small range (XNU's kernel-buffer copies, 16 KiB at most on x86_64,
 * 32 KiB on arm64) is its bytes alone, at the start of a fresh page, and any byte that
 * cannot be read is KERN_INVALID_ADDRESS (copyin's fault); a large one is its whole pages,
 * the data at the source's offset within its page, a hole in it KERN_INVALID_ADDRESS and a
 * mapping without read permission KERN_PROTECTION_FAILURE. Size 0 succeeds with no data, a
 * size beyond the count's 32 bits is KERN_INVALID_ARGUMENT, a range that wraps
 * KERN_INVALID_ADDRESS (vm_sanitize's code for copyin). mach_vm_read_list and vm_read_list
 * copy each entry as mach_vm_read does and put the copy's address in its place (a failed or
 * empty entry becomes 0 and 0; the last copied entry's code is the result; on a failure the
 * list is as it was, since XNU's error reply does not carry it back, and the copies already
 * made stay mapped with no address to free them by). A read racing another thread's
 * deallocation of its source gives all the data or KERN_INVALID_ADDRESS, never a fault or a
 * copy of something else.
 */
#include "notify_util.h"

#include <mach/mach_vm.h>
#include <mach/task_info.h>
#include <mach/vm_map.h>

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A large range: XNU copies it through the map's entries, not a kernel buffer. */
#define VR_BIG ((mach_vm_size_t)128 * 1024)
#define VR_LEN (VR_BIG + 2 * vm_page_size)

static unsigned char vr_byte(size_t i)
{
    return (unsigned char)(i * 7 + 3 + i / 4096);
}

/* VR_LEN bytes of a known pattern at *a. */
static void vr_source(vm_address_t *a)
{
    *a = 0;
    MT_KR(vm_allocate(TASK, a, VR_LEN, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    unsigned char *p = (unsigned char *)*a;
    for (size_t i = 0; i < VR_LEN; i++)
        p[i] = vr_byte(i);
}

/* Is anything still mapped at `addr`? */
static bool vr_mapped(mach_vm_address_t addr)
{
    mach_vm_address_t at = addr;
    mach_vm_size_t size = 0;
    vm_region_basic_info_data_64_t info;
    mach_msg_type_number_t count = VM_REGION_BASIC_INFO_COUNT_64;
    mach_port_t object;
    if (mach_vm_region(TASK, &at, &size, VM_REGION_BASIC_INFO_64, (vm_region_info_t)&info,
                       &count, &object) != KERN_SUCCESS)
        return false;
    return at <= addr;
}

MT_TEST(a_large_mach_vm_read_copies_whole_pages_with_the_data_at_the_sources_offset)
{
    vm_address_t a;
    vr_source(&a);
    const mach_vm_size_t off = 100, size = VR_BIG + 50; /* spans 34 pages */
    unsigned char *src = (unsigned char *)a + off;
    vm_offset_t data = 0;
    mach_msg_type_number_t count = 0;
    MT_KR(mach_vm_read(TASK, a + off, size, &data, &count), KERN_SUCCESS);
    MT_EQ(count, size);
    MT_REQUIRE(data != 0);
    MT_CHECK(data != a + off);
    MT_EQ(data & vm_page_mask, off);
    unsigned char *copy = (unsigned char *)data;
    MT_CHECK(memcmp(copy, src, size) == 0);
    /* whole pages were copied: the bytes before the offset are the source page's too */
    MT_EQ(copy[-1], src[-1]);

    /* the copy and the source are independent */
    src[0] ^= 0xff;
    MT_EQ(copy[0], (unsigned char)(src[0] ^ 0xff));
    copy[1] ^= 0xff;
    MT_EQ(src[1], (unsigned char)(copy[1] ^ 0xff));

    MT_KR(mach_vm_deallocate(TASK, data, count), KERN_SUCCESS);
    MT_CHECK(!vr_mapped(data));
    MT_CHECK(!vr_mapped(data + size - 1));
    MT_EQ(src[2], vr_byte(off + 2));
    MT_KR(vm_deallocate(TASK, a, VR_LEN), KERN_SUCCESS);
}

MT_TEST(a_small_read_gives_its_bytes_alone_at_the_start_of_a_fresh_page)
{
    vm_address_t a;
    vr_source(&a);
    for (int wide = 0; wide < 2; wide++) {
        vm_offset_t data = 0;
        mach_msg_type_number_t count = 0;
        const vm_address_t at = a + vm_page_size + 9;
        MT_KR(wide ? mach_vm_read(TASK, at, 40, &data, &count) : vm_read(TASK, at, 40, &data, &count),
              KERN_SUCCESS);
        MT_EQ(count, 40u);
        MT_REQUIRE(data != 0);
        MT_EQ(data & vm_page_mask, 0u);
        MT_CHECK(memcmp((void *)data, (void *)at, 40) == 0);
        /* the rest of the page is zero, not the source's */
        MT_EQ(((unsigned char *)data)[40], 0);
        MT_KR(vm_deallocate(TASK, data, count), KERN_SUCCESS);
        MT_CHECK(!vr_mapped(data));
    }
    /* a page and a half, across two pages of the source, lands at the start of two */
    vm_offset_t data = 0;
    mach_msg_type_number_t count = 0;
    MT_KR(mach_vm_read(TASK, a + 100, vm_page_size + vm_page_size / 2, &data, &count),
          KERN_SUCCESS);
    MT_EQ(data & vm_page_mask, 0u);
    MT_CHECK(memcmp((void *)data, (void *)(a + 100), count) == 0);
    MT_KR(vm_deallocate(TASK, data, count), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, VR_LEN), KERN_SUCCESS);
}

MT_TEST(a_hole_or_an_unreadable_page_in_the_range_gets_xnus_error_and_no_data)
{
    vm_address_t a;
    vr_source(&a);
    MT_KR(vm_deallocate(TASK, a + vm_page_size, vm_page_size), KERN_SUCCESS);
    vm_offset_t data = 0x1234;
    mach_msg_type_number_t count = 77;
    MT_KR(mach_vm_read(TASK, a + 10, 2 * vm_page_size, &data, &count), KERN_INVALID_ADDRESS);
    MT_KR(vm_read(TASK, a + vm_page_size, 8, &data, &count), KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_read(TASK, a + 10, VR_BIG, &data, &count), KERN_INVALID_ADDRESS);
    MT_EQ(data, 0x1234u);
    MT_EQ(count, 77u);
    /* no read permission: a fault for a small range, a protection failure for a large one */
    MT_KR(vm_protect(TASK, a + VR_LEN - vm_page_size, vm_page_size, FALSE, VM_PROT_NONE),
          KERN_SUCCESS);
    MT_KR(mach_vm_read(TASK, a + VR_LEN - vm_page_size + 4, 8, &data, &count),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_read(TASK, a + VR_LEN - vm_page_size - 4, 8, &data, &count),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_read(TASK, a + 2 * vm_page_size, VR_BIG, &data, &count),
          KERN_PROTECTION_FAILURE);
    MT_KR(vm_read(TASK, a + 2 * vm_page_size, VR_BIG, &data, &count), KERN_PROTECTION_FAILURE);
    MT_EQ(data, 0x1234u);
    MT_EQ(count, 77u);
    /* the readable part reads */
    MT_KR(mach_vm_read(TASK, a + 2 * vm_page_size, VR_BIG - vm_page_size, &data, &count),
          KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, data, count), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, vm_page_size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a + 2 * vm_page_size, VR_BIG), KERN_SUCCESS);
}

MT_TEST(size_zero_reads_nothing_a_wrapping_range_is_an_invalid_address_a_huge_size_an_invalid_argument)
{
    vm_offset_t data = 0x1234;
    mach_msg_type_number_t count = 77;
    MT_KR(mach_vm_read(TASK, 0x1000, 0, &data, &count), KERN_SUCCESS);
    MT_EQ(data, 0u);
    MT_EQ(count, 0u);
    data = 0x1234;
    count = 77;
    MT_KR(mach_vm_read(TASK, UINT64_MAX - vm_page_size + 1, 2 * vm_page_size, &data, &count),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_read(TASK, UINT64_MAX - 10, 5, &data, &count), KERN_INVALID_ADDRESS);
    MT_KR(vm_read(TASK, UINT64_MAX - 10, 20, &data, &count), KERN_INVALID_ADDRESS);
    char buf[16] = {0};
    MT_KR(mach_vm_read(TASK, (mach_vm_address_t)(uintptr_t)buf, (mach_vm_size_t)1 << 32, &data,
                       &count),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_read(TASK, UINT64_MAX - 10, (mach_vm_size_t)1 << 32, &data, &count),
          KERN_INVALID_ARGUMENT);
    MT_EQ(data, 0x1234u);
    MT_EQ(count, 77u);
}

/* Is [data, data + size) a copy of the pattern's bytes from `off` on? */
static bool vr_holds(mach_vm_address_t data, size_t off, size_t size)
{
    const unsigned char *p = (const unsigned char *)(uintptr_t)data;
    for (size_t i = 0; i < size; i++)
        if (p[i] != vr_byte(off + i))
            return false;
    return true;
}

MT_TEST(mach_vm_read_list_replaces_each_address_with_its_copys_as_mach_vm_read_places_it)
{
    vm_address_t a;
    vr_source(&a);
    mach_vm_read_entry_t list;
    memset(list, 0, sizeof list);
    list[0].address = a + 9; /* small: at the start of a fresh page */
    list[0].size = 40;
    list[1].address = a + 100; /* large: at the source's page offset */
    list[1].size = VR_BIG;
    list[2].address = a; /* size 0: nothing */
    list[2].size = 0;
    list[3].address = 0x1234; /* past the count: untouched */
    list[3].size = 77;
    MT_KR(mach_vm_read_list(TASK, list, 3), KERN_SUCCESS);
    MT_REQUIRE(list[0].address != 0 && list[1].address != 0);
    MT_EQ(list[0].size, 40u);
    MT_EQ(list[0].address & vm_page_mask, 0u);
    MT_CHECK(vr_holds(list[0].address, 9, 40));
    MT_EQ(list[1].size, VR_BIG);
    MT_EQ(list[1].address & vm_page_mask, 100u);
    MT_CHECK(list[1].address != a + 100);
    MT_CHECK(vr_holds(list[1].address, 100, VR_BIG));
    MT_EQ(list[2].address, 0u);
    MT_EQ(list[2].size, 0u);
    MT_EQ(list[3].address, 0x1234u);
    MT_EQ(list[3].size, 77u);
    for (int i = 0; i < 2; i++) {
        MT_KR(mach_vm_deallocate(TASK, list[i].address, list[i].size), KERN_SUCCESS);
        MT_CHECK(!vr_mapped(list[i].address));
    }

    /* vm_read_list: the same in vm_address_t */
    vm_read_entry_t old;
    memset(old, 0, sizeof old);
    old[0].address = a + vm_page_size + 3;
    old[0].size = 2 * vm_page_size;
    MT_KR(vm_read_list(TASK, old, 1), KERN_SUCCESS);
    MT_EQ(old[0].size, 2 * vm_page_size);
    MT_CHECK(vr_holds(old[0].address, vm_page_size + 3, 2 * vm_page_size));
    MT_KR(vm_deallocate(TASK, old[0].address, old[0].size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, VR_LEN), KERN_SUCCESS);
}

MT_TEST(a_failed_entry_is_zeroed_and_the_last_copied_entry_says_the_result)
{
    vm_address_t a;
    vr_source(&a);
    MT_KR(vm_deallocate(TASK, a + vm_page_size, vm_page_size), KERN_SUCCESS);
    mach_vm_read_entry_t list;
    memset(list, 0, sizeof list);
    /* a hole, then a readable range: the call succeeds, the failed entry reads 0 and 0 */
    list[0].address = a + vm_page_size + 8;
    list[0].size = 16;
    list[1].address = a + 8;
    list[1].size = 16;
    MT_KR(mach_vm_read_list(TASK, list, 2), KERN_SUCCESS);
    MT_EQ(list[0].address, 0u);
    MT_EQ(list[0].size, 0u);
    MT_REQUIRE(list[1].address != 0);
    MT_CHECK(vr_holds(list[1].address, 8, 16));
    MT_KR(mach_vm_deallocate(TASK, list[1].address, list[1].size), KERN_SUCCESS);

    /* a readable range, then an unreadable large one: the last one's code, and the list is
     * as it was (XNU answers the error alone; the array it edited is not sent back) */
    MT_KR(vm_protect(TASK, a + VR_LEN - vm_page_size, vm_page_size, FALSE, VM_PROT_NONE),
          KERN_SUCCESS);
    list[0].address = a + 8;
    list[0].size = 16;
    list[1].address = a + 2 * vm_page_size;
    list[1].size = VR_BIG;
    list[2].address = a; /* size 0 after the failure changes nothing */
    list[2].size = 0;
    MT_KR(mach_vm_read_list(TASK, list, 3), KERN_PROTECTION_FAILURE);
    MT_EQ(list[0].address, a + 8);
    MT_EQ(list[0].size, 16u);
    MT_EQ(list[1].address, a + 2 * vm_page_size);
    MT_EQ(list[1].size, VR_BIG);

    /* more entries than VM_MAP_ENTRY_MAX: an invalid argument, nothing read */
    MT_KR(mach_vm_read_list(TASK, list, VM_MAP_ENTRY_MAX + 1), KERN_INVALID_ARGUMENT);
    MT_EQ(list[0].address, a + 8);
    /* no entries at all: success */
    MT_KR(mach_vm_read_list(TASK, list, 0), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a, vm_page_size), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, a + 2 * vm_page_size, VR_BIG), KERN_SUCCESS);
}

/* The task's virtual size as task_info reports it (0 when it cannot be read). */
static mach_vm_size_t vr_virtual_size(void)
{
    mach_task_basic_info_data_t info;
    mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
    if (task_info(TASK, MACH_TASK_BASIC_INFO, (task_info_t)&info, &count) != KERN_SUCCESS)
        return 0;
    return info.virtual_size;
}

MT_TEST(a_failed_list_leaves_the_copies_it_made_mapped_with_no_name)
{
    /* XNU copies every entry out before its MIG server answers the failure alone: what it
     * mapped stays, and the caller is never told where (this test cannot free it). */
    const mach_vm_size_t big = 8u << 20;
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, big + vm_page_size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    memset((void *)(uintptr_t)a, 0x5a, big);
    MT_KR(vm_protect(TASK, a + big, vm_page_size, FALSE, VM_PROT_NONE), KERN_SUCCESS);
    mach_vm_read_entry_t list;
    memset(list, 0, sizeof list);
    list[0].address = a;
    list[0].size = big;
    list[1].address = a + big; /* unreadable (a small copy's fault), the last entry's code */
    list[1].size = vm_page_size;
    mach_vm_size_t before = vr_virtual_size();
    MT_REQUIRE(before != 0);
    MT_KR(mach_vm_read_list(TASK, list, 2), KERN_INVALID_ADDRESS);
    MT_EQ(list[0].address, a);
    MT_EQ(list[0].size, big);
    mach_vm_size_t after = vr_virtual_size();
    MT_CHECK(after >= before + big);
    MT_KR(mach_vm_deallocate(TASK, a, big + vm_page_size), KERN_SUCCESS);
}

/*
 * A reader racing a thread that deallocates its source: the unmapper waits for `armed`,
 * spins `delay_ns` and deallocates [a, a + VR_BIG), then says `done`.
 */
typedef struct vr_race {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    vm_address_t a;
    uint64_t delay_ns;
    bool armed, done, stop;
} vr_race;

static uint64_t vr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *vr_unmapper(void *arg)
{
    vr_race *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->armed && !r->stop)
            pthread_cond_wait(&r->cond, &r->lock);
        if (r->stop)
            break;
        r->armed = false;
        vm_address_t a = r->a;
        uint64_t until = vr_now_ns() + r->delay_ns;
        pthread_mutex_unlock(&r->lock);
        while (vr_now_ns() < until)
            ;
        kern_return_t kr = vm_deallocate(TASK, a, VR_BIG);
        pthread_mutex_lock(&r->lock);
        r->done = kr == KERN_SUCCESS;
        if (!r->done)
            r->stop = true;
        pthread_cond_broadcast(&r->cond);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

MT_TEST_TIMEOUT(a_read_racing_an_unmap_of_its_source_gives_all_its_data_or_an_invalid_address, 60)
{
    vr_race r = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, vr_unmapper, &r) == 0);
    unsigned char *want = malloc(VR_BIG);
    MT_REQUIRE(want != NULL);
    for (size_t i = 0; i < VR_BIG; i++)
        want[i] = vr_byte(i);
    unsigned reads = 0, holes = 0, bad = 0, other = 0;
    uint64_t seed = 0x9e3779b97f4a7c15u, end = vr_now_ns() + 2000000000u;
    for (unsigned i = 0; i < 3000 && vr_now_ns() < end && !r.stop; i++) {
        vm_address_t a = 0;
        MT_KR(vm_allocate(TASK, &a, VR_BIG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        memcpy((void *)a, want, VR_BIG);
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        pthread_mutex_lock(&r.lock);
        r.a = a;
        r.delay_ns = (seed >> 33) % 300000;
        r.armed = true;
        r.done = false;
        pthread_cond_broadcast(&r.cond);
        pthread_mutex_unlock(&r.lock);
        vm_offset_t data = 0;
        mach_msg_type_number_t count = 0;
        kern_return_t kr = mach_vm_read(TASK, a, VR_BIG, &data, &count);
        if (kr == KERN_SUCCESS) {
            reads++;
            if (count != VR_BIG || memcmp((void *)data, want, VR_BIG) != 0)
                bad++;
            MT_KR(vm_deallocate(TASK, data, count), KERN_SUCCESS);
        } else if (kr == KERN_INVALID_ADDRESS) {
            holes++;
        } else {
            other++;
        }
        pthread_mutex_lock(&r.lock);
        while (!r.done && !r.stop)
            pthread_cond_wait(&r.cond, &r.lock);
        pthread_mutex_unlock(&r.lock);
    }
    pthread_mutex_lock(&r.lock);
    MT_CHECK(!r.stop); /* every deallocate succeeded */
    r.stop = true;
    pthread_cond_broadcast(&r.cond);
    pthread_mutex_unlock(&r.lock);
    pthread_join(t, NULL);
    free(want);
    MT_EQ(bad, 0u);
    MT_EQ(other, 0u);
    MT_CHECK(reads + holes > 0);
    printf("# %u reads whole, %u holes\n", reads, holes);
}

/*
 * A reader racing a thread that replaces its source at once by fresh zero pages
 * (vm_allocate with VM_FLAGS_OVERWRITE), or deallocates it and allocates zero pages at the
 * same place: as XNU copies the source under its map's lock, the copy is all of the old
 * bytes, all zeros, or KERN_INVALID_ADDRESS (between the deallocation and the allocation);
 * never old bytes up to some page and zeros after it.
 */
#define VR_SWAP ((mach_vm_size_t)1024 * 1024)

typedef struct vr_swap {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    mach_vm_address_t a;
    uint64_t delay_ns;
    bool overwrite, armed, done, stop;
    kern_return_t kr;
} vr_swap;

static void *vr_swapper(void *arg)
{
    vr_swap *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->armed && !s->stop)
            pthread_cond_wait(&s->cond, &s->lock);
        if (s->stop)
            break;
        s->armed = false;
        mach_vm_address_t a = s->a;
        bool overwrite = s->overwrite;
        uint64_t until = vr_now_ns() + s->delay_ns;
        pthread_mutex_unlock(&s->lock);
        while (vr_now_ns() < until)
            ;
        kern_return_t kr = KERN_SUCCESS;
        if (!overwrite)
            kr = mach_vm_deallocate(TASK, a, VR_SWAP);
        if (kr == KERN_SUCCESS)
            kr = mach_vm_allocate(TASK, &a, VR_SWAP,
                                  VM_FLAGS_FIXED | (overwrite ? VM_FLAGS_OVERWRITE : 0));
        pthread_mutex_lock(&s->lock);
        s->kr = kr;
        s->done = true;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Is [p, p + n) all `byte`? */
static bool vr_all(const unsigned char *p, size_t n, unsigned char byte)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != byte)
            return false;
    return true;
}

MT_TEST_TIMEOUT(a_read_racing_a_replacement_of_its_source_gives_the_old_bytes_or_the_new_never_a_mix, 60)
{
    vr_swap s = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, vr_swapper, &s) == 0);
    mach_vm_address_t dst = 0;
    MT_KR(mach_vm_allocate(TASK, &dst, VR_SWAP, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    /* How long one read takes here: the replacement comes anywhere within about two. */
    uint64_t span = 0;
    {
        mach_vm_address_t a = 0;
        MT_KR(mach_vm_allocate(TASK, &a, VR_SWAP, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        uint64_t t0 = vr_now_ns();
        mach_vm_size_t got = 0;
        MT_KR(mach_vm_read_overwrite(TASK, a, VR_SWAP, dst, &got), KERN_SUCCESS);
        span = 2 * (vr_now_ns() - t0) + 1;
        MT_KR(mach_vm_deallocate(TASK, a, VR_SWAP), KERN_SUCCESS);
    }
    unsigned olds = 0, news = 0, holes = 0, mixed = 0, other = 0, rounds = 0;
    uint64_t seed = 0x2545f4914f6cdd1du, end = vr_now_ns() + 3000000000u;
    for (unsigned i = 0; i < 400 && vr_now_ns() < end; i++) {
        mach_vm_address_t a = 0;
        MT_KR(mach_vm_allocate(TASK, &a, VR_SWAP, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        memset((void *)(uintptr_t)a, 0xa5, VR_SWAP);
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        bool overwrite = (i & 1) != 0, wide = (i & 2) != 0;
        pthread_mutex_lock(&s.lock);
        s.a = a;
        s.overwrite = overwrite;
        s.delay_ns = (seed >> 33) % span;
        s.armed = true;
        s.done = false;
        pthread_cond_broadcast(&s.cond);
        pthread_mutex_unlock(&s.lock);
        /* mach_vm_read (a copy of its own) or mach_vm_read_overwrite (into dst) */
        kern_return_t kr;
        const unsigned char *copy = NULL;
        vm_offset_t data = 0;
        mach_msg_type_number_t count = 0;
        mach_vm_size_t got = 0;
        if (wide) {
            kr = mach_vm_read(TASK, a, VR_SWAP, &data, &count);
            copy = (const unsigned char *)data;
        } else {
            memset((void *)(uintptr_t)dst, 0x5a, VR_SWAP);
            kr = mach_vm_read_overwrite(TASK, a, VR_SWAP, dst, &got);
            copy = (const unsigned char *)(uintptr_t)dst;
        }
        if (kr == KERN_SUCCESS) {
            if (vr_all(copy, VR_SWAP, 0xa5))
                olds++;
            else if (vr_all(copy, VR_SWAP, 0))
                news++;
            else
                mixed++;
            if (wide)
                MT_KR(vm_deallocate(TASK, data, count), KERN_SUCCESS);
        } else if (kr == KERN_INVALID_ADDRESS && !overwrite) {
            holes++;
        } else {
            other++;
        }
        pthread_mutex_lock(&s.lock);
        while (!s.done)
            pthread_cond_wait(&s.cond, &s.lock);
        kern_return_t swapped = s.kr;
        pthread_mutex_unlock(&s.lock);
        /* The fixed allocation fails only if another thread took the hole meanwhile. */
        MT_CHECK(swapped == KERN_SUCCESS || (!overwrite && swapped == KERN_NO_SPACE));
        if (swapped == KERN_SUCCESS)
            MT_KR(mach_vm_deallocate(TASK, a, VR_SWAP), KERN_SUCCESS);
        rounds++;
    }
    pthread_mutex_lock(&s.lock);
    s.stop = true;
    pthread_cond_broadcast(&s.cond);
    pthread_mutex_unlock(&s.lock);
    pthread_join(t, NULL);
    MT_KR(mach_vm_deallocate(TASK, dst, VR_SWAP), KERN_SUCCESS);
    MT_EQ(mixed, 0u);
    MT_EQ(other, 0u);
    MT_CHECK(rounds > 0);
    printf("# %u rounds: %u old, %u new, %u holes, %u mixed\n", rounds, olds, news, holes, mixed);
}

/* A copy made by a thread whose whole stack is 64 KiB (no room for a 64 KiB buffer of its own). */
typedef struct {
    vm_address_t src, dst;
    kern_return_t copy_kr, read_kr;
    vm_offset_t data;
    mach_msg_type_number_t count;
} vr_small_stack;

static void *vr_small_stack_copier(void *arg)
{
    vr_small_stack *s = arg;
    s->copy_kr = vm_copy(TASK, s->src, VR_BIG, s->dst);
    s->read_kr = mach_vm_read(TASK, s->src, VR_BIG, &s->data, &s->count);
    return NULL;
}

MT_TEST(large_copies_and_reads_work_on_a_thread_with_a_64_KiB_stack)
{
    vr_small_stack s = {0};
    vr_source(&s.src);
    MT_KR(vm_allocate(TASK, &s.dst, VR_BIG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    pthread_attr_t attr;
    MT_REQUIRE(pthread_attr_init(&attr) == 0);
    size_t stack = 64 * 1024; /* where the system allows that little (not aarch64 Linux) */
    if (stack < (size_t)PTHREAD_STACK_MIN)
        stack = (size_t)PTHREAD_STACK_MIN;
    MT_REQUIRE(pthread_attr_setstacksize(&attr, stack) == 0);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, &attr, vr_small_stack_copier, &s) == 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    MT_KR(s.copy_kr, KERN_SUCCESS);
    MT_KR(s.read_kr, KERN_SUCCESS);
    MT_EQ(s.count, (mach_msg_type_number_t)VR_BIG);
    MT_CHECK(memcmp((void *)s.dst, (void *)s.src, VR_BIG) == 0);
    if (s.read_kr == KERN_SUCCESS) {
        MT_CHECK(memcmp((void *)s.data, (void *)s.src, VR_BIG) == 0);
        MT_KR(vm_deallocate(TASK, s.data, s.count), KERN_SUCCESS);
    }
    MT_KR(vm_deallocate(TASK, s.dst, VR_BIG), KERN_SUCCESS);
    MT_KR(vm_deallocate(TASK, s.src, VR_LEN), KERN_SUCCESS);
}

MT_MAIN()
