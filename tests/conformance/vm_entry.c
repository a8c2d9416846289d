/*
 * Named memory entries and mapping them: mach_make_memory_entry_64 (MAP_MEM_NAMED_CREATE, an
 * existing range shared, MAP_MEM_VM_COPY, a part of a parent entry), mach_vm_map / vm_map of
 * an entry (shared or a private copy) and of MEMORY_OBJECT_NULL, mach_vm_remap and
 * mach_vm_remap_new (share and copy), mach_vm_write, mach_memory_entry_purgable_control, a
 * mapping's maximum protection; no write another thread makes is lost while an entry is made
 * of private memory.
 *
 * XNU (osfmk/vm/vm_memory_entry.c, vm_map.c vm_map_enter_mem_object, vm_user.c,
 * vm_sanitize.c): an entry's size is rounded to pages; unknown MAP_MEM_* flags are
 * KERN_INVALID_VALUE; NAMED_CREATE of size 0 succeeds with no entry, any other of size 0 is
 * KERN_INVALID_ARGUMENT; a range with a hole is KERN_INVALID_ADDRESS, one without the
 * protection asked KERN_PROTECTION_FAILURE; mapping with more than the entry allows is
 * KERN_INVALID_RIGHT, past its end KERN_INVALID_ARGUMENT; a port that is no entry is
 * KERN_INVALID_OBJECT; the entry lives while send rights to it do, its mappings as long as
 * they are mapped.
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS, pthread_tryjoin_np */
#include "notify_util.h"

#include <mach/mach_vm.h>
#include <mach/memory_entry.h>
#include <mach/vm_map.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <dirent.h>
#endif

#define PG ((mach_vm_size_t)vm_page_size)

/* A new entry of `size` bytes made with `perm` (MAP_MEM_NAMED_CREATE added). */
static mach_port_t ve_create(mach_vm_size_t size, vm_prot_t perm)
{
    memory_object_size_t s = size;
    mach_port_t e = MACH_PORT_NULL;
    if (mach_make_memory_entry_64(TASK, &s, 0, MAP_MEM_NAMED_CREATE | perm, &e, MACH_PORT_NULL) !=
        KERN_SUCCESS)
        return MACH_PORT_NULL;
    return e;
}

/* Map `size` bytes of `entry` from `offset` anywhere; 0 on failure. */
static mach_vm_address_t ve_map(mach_port_t entry, mach_vm_size_t size, mach_vm_offset_t offset,
                                boolean_t copy, vm_prot_t cur, vm_prot_t max)
{
    mach_vm_address_t a = 0;
    if (mach_vm_map(TASK, &a, size, 0, VM_FLAGS_ANYWHERE, entry, offset, copy, cur, max,
                    VM_INHERIT_DEFAULT) != KERN_SUCCESS)
        return 0;
    return a;
}

static volatile uint8_t *B(mach_vm_address_t a)
{
    return (volatile uint8_t *)(uintptr_t)a;
}

static int all_zero(mach_vm_address_t a, mach_vm_size_t n)
{
    for (mach_vm_size_t i = 0; i < n; i++)
        if (B(a)[i] != 0)
            return 0;
    return 1;
}

/* The protection of a page of the caller's, as mach_vm_region reports it; -1 if none. */
static int ve_prot_at(mach_vm_address_t a)
{
    mach_vm_address_t r = a;
    mach_vm_size_t rs = 0;
    vm_region_basic_info_data_64_t info;
    mach_msg_type_number_t count = VM_REGION_BASIC_INFO_COUNT_64;
    mach_port_t obj = MACH_PORT_NULL;
    if (mach_vm_region(TASK, &r, &rs, VM_REGION_BASIC_INFO_64, (vm_region_info_t)&info, &count,
                       &obj) != KERN_SUCCESS ||
        r > a)
        return -1;
    return info.protection;
}

/* The maximum protection of a page of the caller's, as mach_vm_region reports it; -1 if none. */
static int ve_max_at(mach_vm_address_t a)
{
    mach_vm_address_t r = a;
    mach_vm_size_t rs = 0;
    vm_region_basic_info_data_64_t info;
    mach_msg_type_number_t count = VM_REGION_BASIC_INFO_COUNT_64;
    mach_port_t obj = MACH_PORT_NULL;
    if (mach_vm_region(TASK, &r, &rs, VM_REGION_BASIC_INFO_64, (vm_region_info_t)&info, &count,
                       &obj) != KERN_SUCCESS ||
        r > a)
        return -1;
    return info.max_protection;
}

MT_TEST(a_named_entry_is_a_send_right_its_size_rounded_to_pages_and_its_mappings_share_writes)
{
    memory_object_size_t s = PG + 1;
    mach_port_t e = MACH_PORT_NULL;
    MT_KR(mach_make_memory_entry_64(TASK, &s, 0, MAP_MEM_NAMED_CREATE | VM_PROT_DEFAULT, &e,
                                    MACH_PORT_NULL),
          KERN_SUCCESS);
    MT_EQ(s, 2 * PG);
    MT_REQUIRE(MACH_PORT_VALID(e));
    mach_port_type_t type = 0;
    MT_KR(mach_port_type(TASK, e, &type), KERN_SUCCESS);
    MT_EQ(type, MACH_PORT_TYPE_SEND);
    mach_vm_address_t a = ve_map(e, 2 * PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    mach_vm_address_t b = ve_map(e, 2 * PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(a != 0 && b != 0);
    MT_CHECK(a != b);
    MT_EQ(a & (PG - 1), 0);
    MT_CHECK(all_zero(a, 2 * PG));
    B(a)[5] = 0x11;
    B(b)[PG + 7] = 0x22;
    MT_EQ(B(b)[5], 0x11);
    MT_EQ(B(a)[PG + 7], 0x22);
    /* a mapping of the second page alone sees the same bytes */
    mach_vm_address_t c = ve_map(e, PG, PG, FALSE, VM_PROT_READ, VM_PROT_READ);
    MT_REQUIRE(c != 0);
    MT_EQ(B(c)[7], 0x22);
    MT_KR(mach_vm_deallocate(TASK, c, PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, b, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
}

MT_TEST(a_copy_mapping_is_a_private_snapshot_of_the_entry)
{
    mach_port_t e = ve_create(PG, VM_PROT_DEFAULT);
    MT_REQUIRE(e != MACH_PORT_NULL);
    mach_vm_address_t shared = ve_map(e, PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(shared != 0);
    B(shared)[0] = 1;
    mach_vm_address_t copy = ve_map(e, PG, 0, TRUE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(copy != 0);
    MT_EQ(B(copy)[0], 1);
    B(shared)[0] = 2;
    B(copy)[1] = 9;
    MT_EQ(B(copy)[0], 1);
    MT_EQ(B(shared)[1], 0);
    MT_KR(mach_vm_deallocate(TASK, copy, PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, shared, PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
}

MT_TEST(a_mapping_outlives_the_entry_and_the_last_send_right_destroys_the_entry)
{
#if defined(__linux__)
    /* umach's entry holds a memfd: its descriptor goes when the entry does */
    int before = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *de; d && (de = readdir(d));)
        before++;
    if (d)
        closedir(d);
#endif
    mach_port_t e = ve_create(PG, VM_PROT_DEFAULT);
    MT_REQUIRE(e != MACH_PORT_NULL);
    mach_vm_address_t a = ve_map(e, PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(a != 0);
    MT_KR(mach_port_mod_refs(TASK, e, MACH_PORT_RIGHT_SEND, 1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    mach_port_type_t type;
    MT_KR(mach_port_type(TASK, e, &type), KERN_INVALID_NAME);
    B(a)[3] = 3;
    MT_EQ(B(a)[3], 3);
    MT_KR(mach_vm_deallocate(TASK, a, PG), KERN_SUCCESS);
#if defined(__linux__)
    int after = 0;
    d = opendir("/proc/self/fd");
    for (struct dirent *de; d && (de = readdir(d));)
        after++;
    if (d)
        closedir(d);
    MT_EQ(after, before);
#endif
}

MT_TEST(a_read_only_entry_cannot_be_mapped_writable_and_its_mapping_cannot_be_made_writable)
{
    mach_port_t e = ve_create(PG, VM_PROT_READ);
    MT_REQUIRE(e != MACH_PORT_NULL);
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_map(TASK, &a, PG, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_INVALID_RIGHT);
    MT_KR(mach_vm_map(TASK, &a, PG, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, VM_PROT_READ,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_INVALID_RIGHT);
    MT_EQ(a, 0);
    /* with VM_PROT_IS_MASK the protections shrink to the entry's */
    MT_KR(mach_vm_map(TASK, &a, PG, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE,
                      VM_PROT_DEFAULT | VM_PROT_IS_MASK, VM_PROT_DEFAULT | VM_PROT_IS_MASK,
                      VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_REQUIRE(a != 0);
    MT_EQ(B(a)[0], 0);
    MT_KR(mach_vm_protect(TASK, a, PG, FALSE, VM_PROT_DEFAULT), KERN_PROTECTION_FAILURE);
    MT_KR(mach_vm_deallocate(TASK, a, PG), KERN_SUCCESS);
    /* a part of it with write permission is refused too */
    memory_object_size_t s = PG;
    mach_port_t sub = MACH_PORT_NULL;
    MT_KR(mach_make_memory_entry_64(TASK, &s, 0, VM_PROT_DEFAULT, &sub, e),
          KERN_PROTECTION_FAILURE);
    MT_EQ(s, 0);
    MT_EQ(sub, MACH_PORT_NULL);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
}

MT_TEST(mapping_an_entry_checks_its_arguments_as_xnu)
{
    NU_BEGIN();
    mach_port_t e = ve_create(2 * PG, VM_PROT_DEFAULT);
    MT_REQUIRE(e != MACH_PORT_NULL);
    mach_vm_address_t a = 0;
    /* past the entry's end */
    MT_KR(mach_vm_map(TASK, &a, 2 * PG, 0, VM_FLAGS_ANYWHERE, e, PG, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_map(TASK, &a, 3 * PG, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_INVALID_ARGUMENT);
    /* size 0, flags a user may not pass, cur above max, a bad inheritance */
    MT_KR(mach_vm_map(TASK, &a, 0, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_map(TASK, &a, PG, 0, VM_FLAGS_ANYWHERE | 0x800, e, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_map(TASK, &a, PG, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_READ, VM_INHERIT_DEFAULT),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_map(TASK, &a, PG, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, 7),
          KERN_INVALID_ARGUMENT);
    MT_EQ(a, 0);
    /* a port that is no memory entry, and a name that is nothing */
    mach_port_name_t p = nu_port_with_send();
    MT_KR(mach_vm_map(TASK, &a, PG, 0, VM_FLAGS_ANYWHERE, p, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_INVALID_OBJECT);
    MT_KR(mach_vm_map(TASK, &a, PG, 0, VM_FLAGS_ANYWHERE, 0x4242, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          MACH_SEND_INVALID_RIGHT);
    nu_kill(p);
    MT_EQ(a, 0);
    /* fixed over memory that is there: KERN_NO_SPACE, unless it may be overwritten */
    mach_vm_address_t fixed = 0;
    MT_KR(mach_vm_allocate(TASK, &fixed, PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(fixed)[0] = 0x77;
    a = fixed;
    MT_KR(mach_vm_map(TASK, &a, PG, 0, VM_FLAGS_FIXED, e, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_NO_SPACE);
    MT_EQ(B(fixed)[0], 0x77);
    MT_KR(mach_vm_map(TASK, &a, PG, 0, VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE, e, 0, FALSE,
                      VM_PROT_DEFAULT, VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_EQ(a, fixed);
    MT_EQ(B(fixed)[0], 0);
    MT_KR(mach_vm_deallocate(TASK, fixed, PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    NU_END();
}

MT_TEST(making_an_entry_checks_its_arguments_as_xnu)
{
    NU_BEGIN();
    memory_object_size_t s = PG;
    mach_port_t e = (mach_port_t)0x1234;
    MT_KR(mach_make_memory_entry_64(TASK, &s, 0, MAP_MEM_NAMED_CREATE | VM_PROT_DEFAULT | 0x1000,
                                    &e, MACH_PORT_NULL),
          KERN_INVALID_VALUE);
    MT_EQ(s, 0);
    MT_EQ(e, MACH_PORT_NULL);
    /* size 0: a named create makes nothing and succeeds; a share is an invalid argument */
    s = 0;
    e = (mach_port_t)0x1234;
    MT_KR(mach_make_memory_entry_64(TASK, &s, 0, MAP_MEM_NAMED_CREATE | VM_PROT_DEFAULT, &e,
                                    MACH_PORT_NULL),
          KERN_SUCCESS);
    MT_EQ(e, MACH_PORT_NULL);
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a + PG, PG), KERN_SUCCESS);
    s = 0;
    MT_KR(mach_make_memory_entry_64(TASK, &s, a, VM_PROT_DEFAULT, &e, MACH_PORT_NULL),
          KERN_INVALID_ARGUMENT);
    /* a hole in the range, and memory without the protection asked */
    s = 2 * PG;
    MT_KR(mach_make_memory_entry_64(TASK, &s, a, VM_PROT_DEFAULT | MAP_MEM_VM_SHARE, &e,
                                    MACH_PORT_NULL),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_protect(TASK, a, PG, FALSE, VM_PROT_READ), KERN_SUCCESS);
    s = PG;
    MT_KR(mach_make_memory_entry_64(TASK, &s, a, VM_PROT_DEFAULT, &e, MACH_PORT_NULL),
          KERN_PROTECTION_FAILURE);
    MT_EQ(e, MACH_PORT_NULL);
    /* asked as a mask, the entry gets what the memory has */
    s = PG;
    MT_KR(mach_make_memory_entry_64(TASK, &s, a, VM_PROT_DEFAULT | VM_PROT_IS_MASK, &e,
                                    MACH_PORT_NULL),
          KERN_SUCCESS);
    mach_vm_address_t m = 0;
    MT_KR(mach_vm_map(TASK, &m, PG, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_INVALID_RIGHT);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, PG), KERN_SUCCESS);
    NU_END();
}

/* An entry for `pages` pages of vm_allocate'd memory shares them both ways. */
static void ve_share_existing(mach_vm_size_t pages)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, pages * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(a)[10] = 0x5A;
    B(a)[pages * PG - 1] = 0xA5;
    memory_object_size_t s = pages * PG - 100;
    mach_port_t e = MACH_PORT_NULL;
    MT_KR(mach_make_memory_entry_64(TASK, &s, a + 50, VM_PROT_DEFAULT, &e, MACH_PORT_NULL),
          KERN_SUCCESS);
    MT_EQ(s, pages * PG);
    mach_vm_address_t m = ve_map(e, pages * PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(m != 0);
    MT_EQ(B(m)[10], 0x5A);
    MT_EQ(B(m)[pages * PG - 1], 0xA5);
    B(m)[11] = 1;
    B(a)[12] = 2;
    MT_EQ(B(a)[11], 1);
    MT_EQ(B(m)[12], 2);
    /* a copy of the memory sent in a message is a snapshot, and the sharing goes on */
    mach_port_name_t port = nu_port_with_send();
    struct {
        mach_msg_header_t h;
        mach_msg_body_t b;
        mach_msg_ool_descriptor_t d;
    } msg;
    memset(&msg, 0, sizeof msg);
    msg.d.address = (void *)(uintptr_t)a;
    msg.d.size = (mach_msg_size_t)(pages * PG);
    msg.d.copy = MACH_MSG_VIRTUAL_COPY;
    msg.d.type = MACH_MSG_OOL_DESCRIPTOR;
    MT_KR(nu_send_complex(&msg.h, 1, sizeof msg.d, port, MACH_MSG_TYPE_COPY_SEND, 0, 0, 7),
          MACH_MSG_SUCCESS);
    B(m)[13] = 3;
    union {
        mach_msg_header_t h;
        uint8_t bytes[256];
    } r;
    MT_KR(nu_recv_buf(port, &r, sizeof r, 0), MACH_MSG_SUCCESS);
    mach_msg_ool_descriptor_t *d =
        (mach_msg_ool_descriptor_t *)(void *)(r.bytes + sizeof(mach_msg_base_t));
    mach_vm_address_t got = (mach_vm_address_t)(uintptr_t)d->address;
    MT_EQ(B(got)[11], 1);
    MT_EQ(B(got)[13], 0);
    B(a)[14] = 4;
    MT_EQ(B(m)[14], 4);
    MT_EQ(B(got)[14], 0);
    MT_EQ(B(a)[13], 3);
    MT_KR(mach_vm_deallocate(TASK, got, d->size), KERN_SUCCESS);
    nu_kill(port);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, m, pages * PG), KERN_SUCCESS);
    /* the memory keeps its contents once nothing else maps it */
    MT_EQ(B(a)[14], 4);
    MT_KR(mach_vm_deallocate(TASK, a, pages * PG), KERN_SUCCESS);
}

MT_TEST(an_entry_for_existing_memory_shares_it_with_every_mapping_of_the_entry)
{
    NU_BEGIN();
    ve_share_existing(2);  /* small memory */
    ve_share_existing(40); /* more than a message copies through a buffer */
    NU_END();
}

MT_TEST(an_entry_across_two_allocations_shares_both)
{
    const mach_vm_size_t half = 16 * PG;
    mach_vm_address_t a = 0, b;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * half, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * half), KERN_SUCCESS);
    b = a + half;
    MT_KR(mach_vm_allocate(TASK, &a, half, VM_FLAGS_FIXED), KERN_SUCCESS);
    MT_KR(mach_vm_allocate(TASK, &b, half, VM_FLAGS_FIXED), KERN_SUCCESS);
    B(a)[1] = 1;
    B(b)[2] = 2;
    memory_object_size_t s = 2 * half;
    mach_port_t e = MACH_PORT_NULL;
    MT_KR(mach_make_memory_entry_64(TASK, &s, a, VM_PROT_DEFAULT, &e, MACH_PORT_NULL),
          KERN_SUCCESS);
    mach_vm_address_t m = ve_map(e, 2 * half, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(m != 0);
    MT_EQ(B(m)[1], 1);
    MT_EQ(B(m)[half + 2], 2);
    B(m)[half + 3] = 3;
    B(a)[4] = 4;
    MT_EQ(B(b)[3], 3);
    MT_EQ(B(m)[4], 4);
    MT_KR(mach_vm_deallocate(TASK, m, 2 * half), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * half), KERN_SUCCESS);
}

/*
 * Threads writing to private memory while an entry is made of it: XNU's entry names the memory
 * where it is, so no write can be lost; umach moves the bytes into a shared memfd, and a write
 * made while it does so must land there too. Each writer fills its own words once, paced so
 * that the entry is made while they run.
 */
#define VE_HAMMER_BYTES ((size_t)256 * 1024)
#define VE_HAMMER_WORDS (VE_HAMMER_BYTES / sizeof(uint64_t))
#define VE_WRITERS 2

typedef struct ve_writer {
    volatile uint64_t *words;
    size_t first;
    size_t written; /* atomic: how many of its words it wrote */
} ve_writer;

static void *ve_fill_words(void *arg)
{
    ve_writer *w = arg;
    size_t n = 0;
    for (size_t i = w->first; i < VE_HAMMER_WORDS; i += VE_WRITERS) {
        w->words[i] = i + 1;
        __atomic_store_n(&w->written, ++n, __ATOMIC_RELAXED);
        for (volatile int pace = 0; pace < 40; pace++) {
        }
    }
    return NULL;
}

MT_TEST(no_write_another_thread_makes_is_lost_while_an_entry_is_made_of_private_memory)
{
    for (int round = 0; round < 6; round++) {
        void *p = mmap(NULL, VE_HAMMER_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        MT_REQUIRE(p != MAP_FAILED);
        mach_vm_address_t a = (mach_vm_address_t)(uintptr_t)p;
        ve_writer w[VE_WRITERS];
        pthread_t th[VE_WRITERS];
        for (int i = 0; i < VE_WRITERS; i++) {
            w[i] = (ve_writer){(volatile uint64_t *)p, (size_t)i, 0};
            MT_REQUIRE(pthread_create(&th[i], NULL, ve_fill_words, &w[i]) == 0);
        }
        /* Made once every writer is an eighth of the way through. */
        for (int i = 0; i < VE_WRITERS; i++)
            while (__atomic_load_n(&w[i].written, __ATOMIC_RELAXED) <
                   VE_HAMMER_WORDS / VE_WRITERS / 8)
                sched_yield();
        memory_object_size_t s = VE_HAMMER_BYTES;
        mach_port_t e = MACH_PORT_NULL;
        MT_KR(mach_make_memory_entry_64(TASK, &s, a, VM_PROT_DEFAULT, &e, MACH_PORT_NULL),
              KERN_SUCCESS);
        for (int i = 0; i < VE_WRITERS; i++)
            MT_REQUIRE(pthread_join(th[i], NULL) == 0);
        size_t lost = 0;
        for (size_t i = 0; i < VE_HAMMER_WORDS; i++)
            lost += ((volatile uint64_t *)p)[i] != i + 1;
        MT_EQ(lost, 0);
        /* and the memory is the entry's */
        mach_vm_address_t m = ve_map(e, VE_HAMMER_BYTES, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
        MT_REQUIRE(m != 0);
        MT_EQ(((volatile uint64_t *)(uintptr_t)m)[VE_HAMMER_WORDS - 1], VE_HAMMER_WORDS);
        ((volatile uint64_t *)(uintptr_t)m)[0] = 77;
        MT_EQ(((volatile uint64_t *)p)[0], 77);
        MT_KR(mach_vm_deallocate(TASK, m, VE_HAMMER_BYTES), KERN_SUCCESS);
        MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
        MT_EQ(munmap(p, VE_HAMMER_BYTES), 0);
    }
}

/* An entry made of memory of several protections leaves each part its own protection. */
MT_TEST(an_entry_for_memory_of_mixed_protections_leaves_each_part_its_protection)
{
    void *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(p != MAP_FAILED);
    mach_vm_address_t a = (mach_vm_address_t)(uintptr_t)p;
    B(a)[PG] = 9;
    MT_EQ(mprotect((char *)p + PG, PG, PROT_READ), 0);
    memory_object_size_t s = 3 * PG;
    mach_port_t e = MACH_PORT_NULL;
    MT_KR(mach_make_memory_entry_64(TASK, &s, a, VM_PROT_READ, &e, MACH_PORT_NULL),
          KERN_SUCCESS);
    vm_prot_t want[3] = {VM_PROT_DEFAULT, VM_PROT_READ, VM_PROT_DEFAULT};
    for (int i = 0; i < 3; i++) {
        mach_vm_address_t r = a + (mach_vm_size_t)i * PG;
        mach_vm_size_t rs = 0;
        vm_region_basic_info_data_64_t info;
        mach_msg_type_number_t count = VM_REGION_BASIC_INFO_COUNT_64;
        mach_port_t obj = MACH_PORT_NULL;
        MT_KR(mach_vm_region(TASK, &r, &rs, VM_REGION_BASIC_INFO_64, (vm_region_info_t)&info,
                             &count, &obj),
              KERN_SUCCESS);
        MT_EQ(r, a + (mach_vm_size_t)i * PG);
        MT_EQ(info.protection, want[i]);
    }
    B(a)[0] = 1;
    B(a)[2 * PG] = 2;
    mach_vm_address_t m = ve_map(e, 3 * PG, 0, FALSE, VM_PROT_READ, VM_PROT_READ);
    MT_REQUIRE(m != 0);
    MT_EQ(B(m)[0], 1);
    MT_EQ(B(m)[PG], 9);
    MT_EQ(B(m)[2 * PG], 2);
    MT_KR(mach_vm_deallocate(TASK, m, 3 * PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    MT_EQ(munmap(p, 3 * PG), 0);
}

/*
 * An entry made (without MAP_MEM_VM_SHARE) of a range where another entry's mapping and other
 * memory meet stops where the memory object changes, as XNU's (vmkf_copy_single_object): the
 * earlier entry's mapping is never moved, so both entries go on sharing its pages.
 */
MT_TEST(an_entry_stops_where_an_earlier_entrys_mapping_ends_or_begins_and_both_share_it)
{
    mach_port_t e1 = ve_create(2 * PG, VM_PROT_DEFAULT);
    MT_REQUIRE(e1 != MACH_PORT_NULL);
    mach_vm_address_t m1 = ve_map(e1, 2 * PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(m1 != 0);
    for (int first = 0; first < 2; first++) {
        /* four pages of private memory, e1 mapped over the first two or the last two */
        mach_vm_address_t x = 0;
        MT_KR(mach_vm_allocate(TASK, &x, 4 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
        mach_vm_address_t at = first ? x : x + 2 * PG;
        MT_KR(mach_vm_map(TASK, &at, 2 * PG, 0, VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE, e1, 0, FALSE,
                          VM_PROT_DEFAULT, VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
              KERN_SUCCESS);
        B(first ? x + 2 * PG : x)[0] = 0x11;
        memory_object_size_t s = 4 * PG;
        mach_port_t e2 = MACH_PORT_NULL;
        MT_KR(mach_make_memory_entry_64(TASK, &s, x, VM_PROT_DEFAULT, &e2, MACH_PORT_NULL),
              KERN_SUCCESS);
        MT_EQ(s, 2 * PG);
        mach_vm_address_t m2 = ve_map(e2, 2 * PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
        MT_REQUIRE(m2 != 0);
        /* e1's pages, through e1's own mapping, where it is mapped over x, and (first) e2 */
        B(m1)[PG + first] = (uint8_t)(0x20 + first);
        MT_EQ(B(at)[PG + first], 0x20 + first);
        B(at)[PG + 2 + first] = (uint8_t)(0x30 + first);
        MT_EQ(B(m1)[PG + 2 + first], 0x30 + first);
        if (first) {
            B(m2)[4] = 0x44;
            MT_EQ(B(m1)[4], 0x44);
            MT_EQ(B(m2)[PG + first], 0x20 + first);
        } else {
            /* e2 is the private pages before e1's mapping */
            MT_EQ(B(m2)[0], 0x11);
            B(m2)[5] = 0x55;
            MT_EQ(B(x)[5], 0x55);
            MT_EQ(B(m1)[5], 0);
        }
        MT_KR(mach_vm_deallocate(TASK, m2, 2 * PG), KERN_SUCCESS);
        MT_KR(mach_port_deallocate(TASK, e2), KERN_SUCCESS);
        MT_KR(mach_vm_deallocate(TASK, x, 4 * PG), KERN_SUCCESS);
    }
    MT_KR(mach_vm_deallocate(TASK, m1, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e1), KERN_SUCCESS);
}

MT_TEST(an_entry_made_with_map_mem_vm_copy_is_a_snapshot)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(a)[0] = 8;
    memory_object_size_t s = PG;
    mach_port_t e = MACH_PORT_NULL;
    MT_KR(mach_make_memory_entry_64(TASK, &s, a, VM_PROT_DEFAULT | MAP_MEM_VM_COPY, &e,
                                    MACH_PORT_NULL),
          KERN_SUCCESS);
    B(a)[0] = 9;
    mach_vm_address_t m = ve_map(e, PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(m != 0);
    MT_EQ(B(m)[0], 8);
    B(m)[1] = 1;
    MT_EQ(B(a)[1], 0);
    /* a copy entry cannot be a parent */
    mach_port_t sub = MACH_PORT_NULL;
    s = PG;
    MT_KR(mach_make_memory_entry_64(TASK, &s, 0, VM_PROT_DEFAULT, &sub, e),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_deallocate(TASK, m, PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, PG), KERN_SUCCESS);
}

MT_TEST(an_entry_for_a_part_of_a_parent_maps_the_parents_pages_from_its_offset)
{
    mach_port_t parent = ve_create(4 * PG, VM_PROT_DEFAULT);
    MT_REQUIRE(parent != MACH_PORT_NULL);
    mach_vm_address_t whole = ve_map(parent, 4 * PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(whole != 0);
    B(whole)[PG] = 0x31;
    B(whole)[3 * PG - 1] = 0x32;
    memory_object_size_t s = 2 * PG;
    mach_port_t sub = MACH_PORT_NULL;
    MT_KR(mach_make_memory_entry_64(TASK, &s, PG, VM_PROT_READ, &sub, parent), KERN_SUCCESS);
    MT_EQ(s, 2 * PG);
    mach_vm_address_t part = ve_map(sub, 2 * PG, 0, FALSE, VM_PROT_READ, VM_PROT_READ);
    MT_REQUIRE(part != 0);
    MT_EQ(B(part)[0], 0x31);
    MT_EQ(B(part)[2 * PG - 1], 0x32);
    B(whole)[PG + 1] = 0x33;
    MT_EQ(B(part)[1], 0x33);
    /* past the parent's end */
    mach_port_t bad = MACH_PORT_NULL;
    s = 2 * PG;
    MT_KR(mach_make_memory_entry_64(TASK, &s, 3 * PG, VM_PROT_READ, &bad, parent),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_vm_deallocate(TASK, part, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, whole, 4 * PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, sub), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, parent), KERN_SUCCESS);
}

MT_TEST(mach_vm_map_of_memory_object_null_is_zero_filled_memory_aligned_to_its_mask)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_map(TASK, &a, 3 * PG, 0xFFFFF, VM_FLAGS_ANYWHERE, MEMORY_OBJECT_NULL, 0, FALSE,
                      VM_PROT_DEFAULT, VM_PROT_ALL, VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_REQUIRE(a != 0);
    MT_EQ(a & 0xFFFFF, 0);
    MT_CHECK(all_zero(a, 3 * PG));
    B(a)[3 * PG - 1] = 1;
    /* the 32-bit form, read-only */
    vm_address_t r = 0;
    MT_KR(vm_map(TASK, &r, PG, 0, VM_FLAGS_ANYWHERE, MEMORY_OBJECT_NULL, 0, FALSE, VM_PROT_READ,
                 VM_PROT_ALL, VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_REQUIRE(r != 0);
    MT_EQ(B(r)[0], 0);
    MT_KR(vm_deallocate(TASK, r, PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, 3 * PG), KERN_SUCCESS);
}

MT_TEST(vm_remap_shares_or_copies_the_callers_memory_and_reports_its_protections)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(a)[0] = 1;
    mach_vm_address_t shared = 0, copy = 0;
    vm_prot_t cur = -1, max = -1;
    MT_KR(mach_vm_remap(TASK, &shared, 2 * PG, 0, VM_FLAGS_ANYWHERE, TASK, a, FALSE, &cur, &max,
                        VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_EQ(cur, VM_PROT_DEFAULT);
    MT_EQ(max, VM_PROT_ALL);
    MT_KR(mach_vm_remap(TASK, &copy, 2 * PG, 0, VM_FLAGS_ANYWHERE, TASK, a, TRUE, &cur, &max,
                        VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_EQ(cur, VM_PROT_DEFAULT);
    MT_EQ(B(shared)[0], 1);
    MT_EQ(B(copy)[0], 1);
    B(a)[1] = 2;
    B(shared)[PG] = 3;
    MT_EQ(B(shared)[1], 2);
    MT_EQ(B(a)[PG], 3);
    MT_EQ(B(copy)[1], 0);
    MT_EQ(B(copy)[PG], 0);
    /* a hole in the source; flags a user may not pass */
    mach_vm_address_t none = 0, holed = 0;
    MT_KR(mach_vm_allocate(TASK, &holed, 3 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, holed + PG, PG), KERN_SUCCESS);
    MT_KR(mach_vm_remap(TASK, &none, 3 * PG, 0, VM_FLAGS_ANYWHERE, TASK, holed, FALSE, &cur, &max,
                        VM_INHERIT_DEFAULT),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_remap(TASK, &none, 3 * PG, 0, VM_FLAGS_ANYWHERE, TASK, holed, TRUE, &cur, &max,
                        VM_INHERIT_DEFAULT),
          KERN_INVALID_ADDRESS);
    MT_KR(mach_vm_deallocate(TASK, holed, 3 * PG), KERN_SUCCESS);
    MT_KR(mach_vm_remap(TASK, &none, PG, 0, VM_FLAGS_ANYWHERE | VM_FLAGS_PURGABLE, TASK, a, FALSE,
                        &cur, &max, VM_INHERIT_DEFAULT),
          KERN_INVALID_ARGUMENT);
    MT_EQ(none, 0);
    /* the 32-bit form */
    vm_address_t v = 0;
    MT_KR(vm_remap(TASK, &v, PG, 0, VM_FLAGS_ANYWHERE, TASK, (vm_address_t)a, FALSE, &cur, &max,
                   VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_EQ(B(v)[1], 2);
    MT_KR(vm_deallocate(TASK, v, PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, copy, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, shared, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
}

/*
 * mach_vm_remap_new (XNU's vm_map_remap without the legacy mode): the protections are the
 * caller's, in and out; a shared remap needs them in the source, a copy only needs to read it;
 * the data address comes back (VM_FLAGS_RETURN_DATA_ADDR always); cur above max is
 * KERN_INVALID_ARGUMENT and a maximum of write and execute KERN_PROTECTION_FAILURE.
 */
MT_TEST(mach_vm_remap_new_gives_the_mapping_the_protections_asked_if_the_source_has_them)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(a)[10] = 1;
    mach_vm_address_t shared = 0;
    vm_prot_t cur = VM_PROT_READ, max = VM_PROT_READ;
    MT_KR(mach_vm_remap_new(TASK, &shared, 2 * PG - 10, 0, VM_FLAGS_ANYWHERE, TASK, a + 10, FALSE,
                            &cur, &max, VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_EQ(cur, VM_PROT_READ);
    MT_EQ(max, VM_PROT_READ);
    MT_EQ(shared & (PG - 1), 10);
    MT_EQ(B(shared)[0], 1);
    mach_vm_address_t base = shared - 10;
    MT_EQ(ve_prot_at(base), VM_PROT_READ);
    MT_EQ(ve_max_at(base), VM_PROT_READ);
    MT_KR(mach_vm_protect(TASK, base, PG, FALSE, VM_PROT_DEFAULT), KERN_PROTECTION_FAILURE);
    B(a)[PG] = 2;
    MT_EQ(B(base)[PG], 2);

    /* refused, the protections left as given */
    mach_vm_address_t none = 0;
    cur = VM_PROT_DEFAULT;
    max = VM_PROT_READ;
    MT_KR(mach_vm_remap_new(TASK, &none, PG, 0, VM_FLAGS_ANYWHERE, TASK, a, FALSE, &cur, &max,
                            VM_INHERIT_DEFAULT),
          KERN_INVALID_ARGUMENT);
    max = VM_PROT_ALL;
    MT_KR(mach_vm_remap_new(TASK, &none, PG, 0, VM_FLAGS_ANYWHERE, TASK, a, FALSE, &cur, &max,
                            VM_INHERIT_DEFAULT),
          KERN_PROTECTION_FAILURE);
    MT_EQ(cur, VM_PROT_DEFAULT);
    MT_EQ(max, VM_PROT_ALL);
    MT_EQ(none, 0);
    /* a read-only source shares only what it has, but gives a writable copy */
    MT_KR(mach_vm_protect(TASK, a, 2 * PG, FALSE, VM_PROT_READ), KERN_SUCCESS);
    max = VM_PROT_DEFAULT;
    MT_KR(mach_vm_remap_new(TASK, &none, PG, 0, VM_FLAGS_ANYWHERE, TASK, a, FALSE, &cur, &max,
                            VM_INHERIT_DEFAULT),
          KERN_PROTECTION_FAILURE);
    mach_vm_address_t copy = 0;
    MT_KR(mach_vm_remap_new(TASK, &copy, 2 * PG, 0, VM_FLAGS_ANYWHERE, TASK, a, TRUE, &cur, &max,
                            VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_EQ(cur, VM_PROT_DEFAULT);
    MT_EQ(ve_prot_at(copy), VM_PROT_DEFAULT);
    MT_EQ(B(copy)[10], 1);
    B(copy)[10] = 9;
    MT_EQ(B(a)[10], 1);
    MT_KR(mach_vm_deallocate(TASK, copy, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, base, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
}

/*
 * XNU's vm_sanitize_addr_size with VM_SANITIZE_FLAGS_REALIGN_START: a fixed mach_vm_map or
 * mach_vm_remap starts at its address's page and maps the size rounded up from there, so an
 * unaligned [address, address + size) that ends in the next page leaves that page alone; a
 * remap's source, without VM_FLAGS_RETURN_DATA_ADDR, is counted the same way.
 */
MT_TEST(a_fixed_map_or_remap_at_an_unaligned_address_maps_the_size_from_its_page)
{
    mach_vm_address_t dst = 0, src = 0, at;
    MT_KR(mach_vm_allocate(TASK, &dst, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    MT_KR(mach_vm_allocate(TASK, &src, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    B(dst)[PG] = 'd';
    B(src)[0] = 'a';
    B(src)[PG] = 'b';
    mach_port_t e = ve_create(PG, VM_PROT_DEFAULT);
    MT_REQUIRE(e != MACH_PORT_NULL);
    vm_prot_t cur, max;
    at = dst + PG / 2;
    MT_KR(mach_vm_map(TASK, &at, PG, 0, VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE, e, 0, FALSE,
                      VM_PROT_DEFAULT, VM_PROT_DEFAULT, VM_INHERIT_DEFAULT),
          KERN_SUCCESS);
    MT_EQ(at, dst);
    B(dst)[1] = 'e';
    MT_EQ(B(dst)[PG], 'd');
    for (int copy = 0; copy < 2; copy++) {
        at = dst + PG / 2;
        MT_KR(mach_vm_remap(TASK, &at, PG, 0, VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE, TASK, src,
                            copy, &cur, &max, VM_INHERIT_DEFAULT),
              KERN_SUCCESS);
        MT_EQ(at, dst);
        MT_EQ(B(dst)[0], 'a');
        MT_EQ(B(dst)[PG], 'd');
    }
    /* the source's last 16 bytes of its first page and 16 of the next: its first page only */
    for (int copy = 0; copy < 2; copy++) {
        at = dst;
        MT_KR(mach_vm_remap(TASK, &at, 32, 0, VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE, TASK,
                            src + PG - 16, copy, &cur, &max, VM_INHERIT_DEFAULT),
              KERN_SUCCESS);
        MT_EQ(at, dst);
        MT_EQ(B(dst)[0], 'a');
        MT_EQ(B(dst)[PG], 'd');
    }
    MT_KR(mach_vm_deallocate(TASK, dst, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, src, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
}

MT_TEST(vm_write_overwrites_the_callers_memory_and_reports_bad_ranges_as_xnu)
{
    mach_vm_address_t a = 0;
    MT_KR(mach_vm_allocate(TASK, &a, 2 * PG, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    char src[64];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (char)(i + 1);
    MT_KR(mach_vm_write(TASK, a + 5, (vm_offset_t)src, sizeof src), KERN_SUCCESS);
    MT_EQ(B(a)[5], 1);
    MT_EQ(B(a)[5 + 63], 64);
    MT_EQ(B(a)[4], 0);
    MT_KR(vm_write(TASK, (vm_address_t)a, (vm_offset_t)src, 0), KERN_SUCCESS);
    /* a read-only destination and a hole: a small write faults (KERN_INVALID_ADDRESS) */
    MT_KR(mach_vm_protect(TASK, a + PG, PG, FALSE, VM_PROT_READ), KERN_SUCCESS);
    MT_KR(mach_vm_write(TASK, a + PG, (vm_offset_t)src, sizeof src), KERN_INVALID_ADDRESS);
    MT_EQ(B(a)[PG], 0);
    MT_KR(mach_vm_deallocate(TASK, a + PG, PG), KERN_SUCCESS);
    MT_KR(mach_vm_write(TASK, a + PG, (vm_offset_t)src, sizeof src), KERN_INVALID_ADDRESS);
    /* data that cannot be read is the request's out-of-line memory: the send fails */
    MT_KR(mach_vm_write(TASK, a, (vm_offset_t)(a + PG), 16), MACH_SEND_INVALID_MEMORY);
    MT_KR(mach_vm_deallocate(TASK, a, PG), KERN_SUCCESS);
}

MT_TEST(a_purgeable_entry_reports_and_sets_its_state_and_others_are_not_purgeable)
{
    mach_port_t e = ve_create(PG, VM_PROT_DEFAULT | MAP_MEM_PURGABLE);
    MT_REQUIRE(e != MACH_PORT_NULL);
    int state = -1;
    MT_KR(mach_memory_entry_purgable_control(e, VM_PURGABLE_GET_STATE, &state), KERN_SUCCESS);
    MT_EQ(state, VM_PURGABLE_NONVOLATILE);
    state = VM_PURGABLE_VOLATILE;
    MT_KR(mach_memory_entry_purgable_control(e, VM_PURGABLE_SET_STATE, &state), KERN_SUCCESS);
    MT_EQ(state, VM_PURGABLE_NONVOLATILE);
    state = VM_PURGABLE_NONVOLATILE;
    MT_KR(mach_memory_entry_purgable_control(e, VM_PURGABLE_SET_STATE, &state), KERN_SUCCESS);
    MT_CHECK(state == VM_PURGABLE_VOLATILE || state == VM_PURGABLE_EMPTY);
    MT_KR(mach_memory_entry_purgable_control(e, VM_PURGABLE_SET_STATE_FROM_KERNEL, &state),
          KERN_INVALID_ARGUMENT);
    state = 0x100000;
    MT_KR(mach_memory_entry_purgable_control(e, VM_PURGABLE_SET_STATE, &state),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    /* a plain entry, and a purgeable one that could not be written */
    e = ve_create(PG, VM_PROT_DEFAULT);
    MT_KR(mach_memory_entry_purgable_control(e, VM_PURGABLE_GET_STATE, &state),
          KERN_INVALID_ARGUMENT);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
    memory_object_size_t s = PG;
    MT_KR(mach_make_memory_entry_64(TASK, &s, 0, MAP_MEM_NAMED_CREATE | MAP_MEM_PURGABLE |
                                                  VM_PROT_READ,
                                    &e, MACH_PORT_NULL),
          KERN_INVALID_ARGUMENT);
}

MT_TEST(a_forked_child_gets_a_copy_of_a_default_mapping_and_shares_an_inherit_share_one)
{
    mach_port_t e = ve_create(PG, VM_PROT_DEFAULT);
    MT_REQUIRE(e != MACH_PORT_NULL);
    mach_vm_address_t copied = ve_map(e, PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    mach_vm_address_t shared = 0;
    MT_KR(mach_vm_map(TASK, &shared, PG, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, VM_PROT_DEFAULT,
                      VM_PROT_DEFAULT, VM_INHERIT_SHARE),
          KERN_SUCCESS);
    MT_REQUIRE(copied != 0 && shared != 0);
    B(copied)[0] = 1;
    pid_t pid = fork();
    if (pid == 0) {
        int ok = B(copied)[0] == 1 && B(shared)[0] == 1;
        B(copied)[1] = 5; /* the child's own copy */
        B(shared)[2] = 6; /* the parent's object */
        _exit(ok ? 0 : 1);
    }
    MT_REQUIRE(pid > 0);
    int status = 0;
    MT_EQ(waitpid(pid, &status, 0), pid);
    MT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    MT_EQ(B(copied)[1], 0);
    MT_EQ(B(shared)[2], 6);
    MT_EQ(B(copied)[2], 6);
    MT_KR(mach_vm_deallocate(TASK, shared, PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, copied, PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
}



/*
 * A mapping's maximum protection, as XNU's vm_map_protect keeps it: mach_vm_region reports
 * what mach_vm_map gave, vm_protect above it is KERN_PROTECTION_FAILURE with nothing changed,
 * and vm_protect(set_maximum = TRUE) only lowers it, leaving each page the part of its
 * protection the new maximum allows.
 */
MT_TEST(a_mappings_maximum_protection_is_reported_enforced_and_only_lowered)
{
    mach_port_t e = ve_create(2 * PG, VM_PROT_DEFAULT);
    MT_REQUIRE(e != MACH_PORT_NULL);
    mach_vm_address_t a = ve_map(e, 2 * PG, 0, FALSE, VM_PROT_READ, VM_PROT_READ);
    MT_REQUIRE(a != 0);
    MT_EQ(ve_max_at(a), VM_PROT_READ);
    MT_KR(mach_vm_protect(TASK, a, PG, FALSE, VM_PROT_DEFAULT), KERN_PROTECTION_FAILURE);
    MT_KR(mach_vm_protect(TASK, a, PG, TRUE, VM_PROT_DEFAULT), KERN_PROTECTION_FAILURE);
    MT_EQ(ve_prot_at(a), VM_PROT_READ);
    MT_EQ(ve_max_at(a), VM_PROT_READ);

    mach_vm_address_t b = ve_map(e, 2 * PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(b != 0);
    MT_EQ(ve_max_at(b), VM_PROT_DEFAULT);
    /* the first page's maximum lowered: its protection follows, the second page keeps its own */
    MT_KR(mach_vm_protect(TASK, b, PG, TRUE, VM_PROT_READ), KERN_SUCCESS);
    MT_EQ(ve_prot_at(b), VM_PROT_READ);
    MT_EQ(ve_max_at(b), VM_PROT_READ);
    MT_EQ(ve_prot_at(b + PG), VM_PROT_DEFAULT);
    MT_EQ(ve_max_at(b + PG), VM_PROT_DEFAULT);
    /* across both pages, above the first's maximum: refused, the second page unchanged */
    MT_KR(mach_vm_protect(TASK, b, 2 * PG, FALSE, VM_PROT_READ), KERN_SUCCESS);
    MT_KR(mach_vm_protect(TASK, b, 2 * PG, FALSE, VM_PROT_DEFAULT), KERN_PROTECTION_FAILURE);
    MT_EQ(ve_prot_at(b + PG), VM_PROT_READ);
    /* within the maximum, and a maximum set above the protection keeps the protection */
    MT_KR(mach_vm_protect(TASK, b + PG, PG, TRUE, VM_PROT_DEFAULT), KERN_SUCCESS);
    MT_EQ(ve_prot_at(b + PG), VM_PROT_READ);
    MT_KR(mach_vm_protect(TASK, b + PG, PG, FALSE, VM_PROT_DEFAULT), KERN_SUCCESS);
    B(b)[PG] = 7;
    MT_EQ(B(a)[PG], 7);
    MT_KR(mach_vm_deallocate(TASK, a, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, b, 2 * PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
}

/*
 * A forked child's copy of a mapping keeps each part's protection, as XNU's vm_map_fork copies
 * each map entry with its own, and a part the parent deallocated stays a hole.
 */
MT_TEST(a_forked_childs_copy_of_a_mapping_keeps_each_parts_protection_and_holes)
{
    mach_port_t e = ve_create(4 * PG, VM_PROT_DEFAULT);
    MT_REQUIRE(e != MACH_PORT_NULL);
    mach_vm_address_t a = ve_map(e, 4 * PG, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(a != 0);
    B(a)[0] = 1;
    MT_KR(mach_vm_protect(TASK, a, PG, FALSE, VM_PROT_READ), KERN_SUCCESS);
    MT_KR(mach_vm_deallocate(TASK, a + 2 * PG, PG), KERN_SUCCESS);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = (ve_prot_at(a) != VM_PROT_READ) | (ve_prot_at(a + PG) != VM_PROT_DEFAULT) << 1 |
                  (ve_prot_at(a + 2 * PG) != -1) << 2 |
                  (ve_prot_at(a + 3 * PG) != VM_PROT_DEFAULT) << 3 | (B(a)[0] != 1) << 4;
        if (!bad) {
            B(a)[PG] = 5; /* its own copy */
            B(a)[3 * PG] = 6;
        }
        _exit(bad);
    }
    MT_REQUIRE(pid > 0);
    int status = 0;
    MT_EQ(waitpid(pid, &status, 0), pid);
    MT_CHECK(WIFEXITED(status));
    MT_EQ(WEXITSTATUS(status), 0);
    MT_EQ(B(a)[PG], 0);
    MT_EQ(B(a)[3 * PG], 0);
    MT_KR(mach_vm_deallocate(TASK, a, 4 * PG), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
}

/*
 * The child's copy of a default (VM_INHERIT_COPY) mapping is the memory as it was at the fork,
 * as XNU's vm_map_fork copies the map: what the parent writes once fork() has returned never
 * shows in it, however long the mapping takes to copy.
 */
MT_TEST(a_forked_childs_copy_of_a_mapping_holds_no_write_the_parent_makes_after_the_fork)
{
    const mach_vm_size_t size = 64 << 20;
    mach_port_t e = ve_create(size, VM_PROT_DEFAULT);
    MT_REQUIRE(e != MACH_PORT_NULL);
    mach_vm_address_t a = ve_map(e, size, 0, FALSE, VM_PROT_DEFAULT, VM_PROT_DEFAULT);
    MT_REQUIRE(a != 0);
    B(a)[size - 1] = 1;
    pid_t pid = fork();
    if (pid == 0)
        _exit(B(a)[size - 1] == 1 ? 0 : 1);
    B(a)[size - 1] = 2;
    MT_REQUIRE(pid > 0);
    int status = 0;
    MT_EQ(waitpid(pid, &status, 0), pid);
    MT_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    MT_KR(mach_vm_deallocate(TASK, a, size), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
}

/*
 * An entry of a buffer on the caller's own stack, as on Darwin, where the entry names the
 * stack's memory where it is: the buffer's pages are shared with the entry's mappings both
 * ways, and the caller goes on (umach moves those pages into a memfd while the caller runs on
 * a stack of its own: the caller writes its own stack all the time). Last in this file: a
 * fork that runs on stack memory an entry was made of is a limit of umach's (docs/porting.md).
 */
typedef struct ve_stack_result {
    kern_return_t kr, map_kr;
    memory_object_size_t size;
    int seen, back, deep;
} ve_stack_result;

/* Recursion through `n` frames of a KiB each: the stack below the entry's pages still works. */
static __attribute__((noinline)) unsigned ve_deep(unsigned n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    pad[sizeof pad - 1] = 1;
    return n ? ve_deep(n - 1) + (unsigned)pad[sizeof pad - 1] : 0;
}

static __attribute__((noinline)) void ve_stack_entry(ve_stack_result *res)
{
    volatile unsigned char buf[200];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 3 + 1);
    mach_vm_address_t at = (mach_vm_address_t)(uintptr_t)buf;
    memory_object_size_t s = sizeof buf;
    mach_port_t e = MACH_PORT_NULL;
    res->kr = mach_make_memory_entry_64(TASK, &s, at, VM_PROT_DEFAULT, &e, MACH_PORT_NULL);
    if (res->kr != KERN_SUCCESS)
        return;
    res->size = s;
    mach_vm_address_t m = 0;
    res->map_kr = mach_vm_map(TASK, &m, s, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, VM_PROT_DEFAULT,
                              VM_PROT_DEFAULT, VM_INHERIT_DEFAULT);
    if (res->map_kr == KERN_SUCCESS) {
        volatile unsigned char *mine = B(m) + (at & (PG - 1));
        res->seen = 1;
        for (size_t i = 0; i < sizeof buf; i++)
            res->seen &= mine[i] == (unsigned char)(i * 3 + 1);
        mine[7] = 0xee; /* through the entry, into the stack */
        buf[9] = 0xdd;  /* on the stack, into the entry */
        res->back = buf[7] == 0xee && mine[9] == 0xdd;
        (void)mach_vm_deallocate(TASK, m, s);
    }
    res->deep = ve_deep(200) == 200;
    (void)mach_port_deallocate(TASK, e);
}

static void *ve_stack_entry_thread(void *arg)
{
    ve_stack_entry(arg);
    return NULL;
}

static void ve_stack_check(const ve_stack_result *r)
{
    MT_KR(r->kr, KERN_SUCCESS);
    MT_KR(r->map_kr, KERN_SUCCESS);
    MT_CHECK(r->size == PG || r->size == 2 * PG); /* the buffer's pages */
    MT_EQ(r->seen, 1);
    MT_EQ(r->back, 1);
    MT_EQ(r->deep, 1);
}

MT_TEST(an_entry_of_a_buffer_on_the_callers_own_stack_shares_it_and_the_caller_goes_on)
{
    NU_BEGIN();
    ve_stack_result main_thread = {0}, other = {0};
    ve_stack_entry(&main_thread);
    ve_stack_check(&main_thread);
    MT_EQ(ve_deep(400), 400); /* deeper than ever before on this stack */
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, ve_stack_entry_thread, &other) == 0);
    MT_REQUIRE(pthread_join(t, NULL) == 0);
    ve_stack_check(&other);
    NU_END();
}

/*
 * An entry of a range of two mappings, a read-only page and, above it, a thread's whole stack
 * (its own thread-local data at the top, where the C library keeps it for a stack it is
 * given): each keeps its protection, the read-only page its bytes, and the thread goes on.
 */
#define VE_PIECES_STACK ((mach_vm_size_t)512 * 1024)

typedef struct ve_pieces {
    mach_vm_address_t base; /* the read-only page, the stack after it */
    kern_return_t kr, map_kr;
    int ro_prot, stack_prot, ro_seen, buf_seen, back, deep;
} ve_pieces;

static void *ve_pieces_thread(void *arg)
{
    ve_pieces *p = arg;
    volatile unsigned char buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7 + 2);
    mach_vm_size_t size = PG + VE_PIECES_STACK;
    memory_object_size_t s = size;
    mach_port_t e = MACH_PORT_NULL;
    p->kr = mach_make_memory_entry_64(TASK, &s, p->base, VM_PROT_READ, &e, MACH_PORT_NULL);
    if (p->kr != KERN_SUCCESS)
        return NULL;
    p->ro_prot = ve_prot_at(p->base);
    p->stack_prot = ve_prot_at((mach_vm_address_t)(uintptr_t)buf);
    buf[5] = 0xab; /* the stack is still the thread's, writable */
    mach_vm_address_t m = 0;
    p->map_kr = mach_vm_map(TASK, &m, s, 0, VM_FLAGS_ANYWHERE, e, 0, FALSE, VM_PROT_READ,
                            VM_PROT_READ, VM_INHERIT_DEFAULT);
    if (p->map_kr == KERN_SUCCESS) {
        p->ro_seen = 1;
        for (mach_vm_size_t i = 0; i < PG; i++)
            p->ro_seen &= B(m)[i] == (uint8_t)(i % 251);
        volatile const unsigned char *mine = B(m) + ((mach_vm_address_t)(uintptr_t)buf - p->base);
        p->buf_seen = mine[5] == 0xab;
        for (size_t i = 6; i < sizeof buf; i++)
            p->buf_seen &= mine[i] == (unsigned char)(i * 7 + 2);
        buf[9] = 0xcd;
        p->back = mine[9] == 0xcd;
        (void)mach_vm_deallocate(TASK, m, s);
    }
    p->deep = ve_deep(100) == 100;
    (void)mach_port_deallocate(TASK, e);
    return NULL;
}

MT_TEST(an_entry_of_a_read_only_page_and_the_callers_whole_stack_keeps_each_ones_protection)
{
    NU_BEGIN();
    mach_vm_size_t size = PG + VE_PIECES_STACK;
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(mem != MAP_FAILED);
    ve_pieces p = {.base = (mach_vm_address_t)(uintptr_t)mem};
    for (mach_vm_size_t i = 0; i < PG; i++)
        B(p.base)[i] = (uint8_t)(i % 251);
    MT_REQUIRE(mprotect(mem, PG, PROT_READ) == 0);
    pthread_attr_t attr;
    MT_REQUIRE(pthread_attr_init(&attr) == 0);
    MT_REQUIRE(pthread_attr_setstack(&attr, (char *)mem + PG, VE_PIECES_STACK) == 0);
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, &attr, ve_pieces_thread, &p) == 0);
#if defined(__linux__)
    /* The thread's end is told by the kernel's wake-up on its thread id, which lies in the
     * stack and, the stack mapped shared now, is not the word pthread_join would wait on. */
    while (pthread_tryjoin_np(t, NULL) == EBUSY)
        sched_yield();
#else
    MT_REQUIRE(pthread_join(t, NULL) == 0);
#endif
    (void)pthread_attr_destroy(&attr);
    MT_KR(p.kr, KERN_SUCCESS);
    MT_KR(p.map_kr, KERN_SUCCESS);
    MT_EQ(p.ro_prot, VM_PROT_READ);
    MT_EQ(p.stack_prot, VM_PROT_READ | VM_PROT_WRITE);
    MT_EQ(ve_prot_at(p.base), VM_PROT_READ);
    MT_EQ(p.ro_seen, 1);
    MT_EQ(p.buf_seen, 1);
    MT_EQ(p.back, 1);
    MT_EQ(p.deep, 1);
    MT_KR(mach_vm_deallocate(TASK, p.base, size), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
