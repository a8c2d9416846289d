/*
 * The task's own vm calls writing to private memory while another thread makes a memory entry
 * of it. XNU's entry names the memory where it is (vm_memory_entry.c: the map entry's object
 * gets a reference), so the memory stays writable throughout and mach_vm_write, vm_copy and
 * mach_vm_read_overwrite into it succeed and their bytes stay. umach moves such memory into a
 * memfd and keeps it read-only while it does (vm/um_regions.c, convert_private): a write made
 * by umach itself meanwhile must wait for the end, as a program's own store does in its fault,
 * not fail with KERN_PROTECTION_FAILURE or KERN_INVALID_ADDRESS.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "notify_util.h"

#include <mach/mach_vm.h>
#include <mach/memory_entry.h>
#include <mach/vm_map.h>

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#define VW_BYTES ((size_t)1024 * 1024)
#define VW_ROUNDS 20

typedef struct vw_writer {
    mach_vm_address_t base; /* the memory an entry is made of */
    size_t pages;
    const uint8_t *source; /* one page per value: page k holds the byte k % 250 + 1 */
    int how;               /* 0: mach_vm_write, 1: mach_vm_copy, 2: mach_vm_read_overwrite */
    int stop;              /* atomic: set once the entry exists */
    size_t writes;         /* atomic: writes made */
    size_t failed;         /* writes that did not return KERN_SUCCESS */
    kern_return_t first_error;
} vw_writer;

static kern_return_t vw_write_page(const vw_writer *w, size_t k)
{
    mach_vm_size_t page = vm_page_size;
    mach_vm_address_t to = w->base + k * page;
    mach_vm_address_t from = (mach_vm_address_t)(uintptr_t)(w->source + k * page);
    switch (w->how) {
    case 0:
        return mach_vm_write(TASK, to, (vm_offset_t)from, (mach_msg_type_number_t)page);
    case 1:
        return mach_vm_copy(TASK, from, page, to);
    default: {
        mach_vm_size_t got = 0;
        kern_return_t kr = mach_vm_read_overwrite(TASK, from, page, to, &got);
        return kr == KERN_SUCCESS && got != page ? KERN_FAILURE : kr;
    }
    }
}

/* Writes every page over and over; once told to stop, finishes the pass it is in. */
static void *vw_write_pages(void *arg)
{
    vw_writer *w = arg;
    bool stopping = false;
    for (size_t k = 0;; k = (k + 1) % w->pages) {
        if (k == 0 && stopping)
            break;
        if (k == 0 && __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
            stopping = true;
        kern_return_t kr = vw_write_page(w, k);
        if (kr != KERN_SUCCESS && w->failed++ == 0)
            w->first_error = kr;
        /* now and then lets the thread making the entry in, on a loaded machine too */
        if (__atomic_add_fetch(&w->writes, 1, __ATOMIC_RELAXED) % 4 == 0)
            sched_yield();
    }
    return NULL;
}

static void vw_run(int how)
{
    size_t page = vm_page_size, pages = VW_BYTES / page;
    uint8_t *source =
        mmap(NULL, VW_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MT_REQUIRE(source != MAP_FAILED);
    for (size_t k = 0; k < pages; k++)
        memset(source + k * page, (int)(k % 250) + 1, page);
    for (int round = 0; round < VW_ROUNDS; round++) {
        void *p = mmap(NULL, VW_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        MT_REQUIRE(p != MAP_FAILED);
        vw_writer w = {(mach_vm_address_t)(uintptr_t)p, pages, source, how, 0, 0, 0, 0};
        pthread_t th;
        MT_REQUIRE(pthread_create(&th, NULL, vw_write_pages, &w) == 0);
        /* made while the writer runs, a few pages into a pass */
        while (__atomic_load_n(&w.writes, __ATOMIC_RELAXED) < 3 + (size_t)round)
            sched_yield();
        memory_object_size_t s = VW_BYTES;
        mach_port_t e = MACH_PORT_NULL;
        MT_KR(mach_make_memory_entry_64(TASK, &s, w.base, VM_PROT_DEFAULT, &e, MACH_PORT_NULL),
              KERN_SUCCESS);
        __atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
        MT_REQUIRE(pthread_join(th, NULL) == 0);
        MT_EQ(w.failed, 0);
        MT_KR(w.first_error, KERN_SUCCESS);
        MT_EQ(memcmp(p, source, VW_BYTES), 0);
        MT_KR(mach_port_deallocate(TASK, e), KERN_SUCCESS);
        MT_EQ(munmap(p, VW_BYTES), 0);
    }
    MT_EQ(munmap(source, VW_BYTES), 0);
}

MT_TEST(mach_vm_write_into_memory_an_entry_is_being_made_of_succeeds_and_its_bytes_stay)
{
    vw_run(0);
}

MT_TEST(mach_vm_copy_into_memory_an_entry_is_being_made_of_succeeds_and_its_bytes_stay)
{
    vw_run(1);
}

MT_TEST(mach_vm_read_overwrite_into_memory_an_entry_is_being_made_of_succeeds_and_its_bytes_stay)
{
    vw_run(2);
}

MT_MAIN()
