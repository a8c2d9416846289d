/*
 * space_names.c — the names a space hands out at the top of the largest table a space may
 * have (kern/um_space.c). A name is (index << 8) | generation and generations run 0x03, 0x07,
 * ... 0xFF, so the table's last index must stay below 0xFFFFFF or a name would one day be
 * MACH_PORT_DEAD, which XNU never hands out (its table cannot grow that far). The table is
 * reached there through um_space_swap_table: a table of 16M real slots would be 400 MB.
 */
#define _GNU_SOURCE
#include "mt.h"

#include "kern/um_kern.h"

#include <mach/mach.h>

#include <sys/mman.h>

/* A table of `count` zero slots in memory touched only where it is used. */
static um_entry *sn_sparse_table(uint32_t count)
{
    void *p = mmap(NULL, (size_t)count * sizeof(um_entry), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

MT_TEST(the_largest_table_limit_keeps_the_last_index_below_the_dead_names)
{
    um_space *space = um_space_create(UINT32_MAX);
    MT_REQUIRE(space);
    MT_CHECK(space->limit - 1 < MACH_PORT_INDEX(MACH_PORT_DEAD));
    um_space_destroy(space);
}

MT_TEST(the_last_index_goes_through_every_generation_without_naming_mach_port_dead)
{
    um_space *space = um_space_create(UINT32_MAX);
    MT_REQUIRE(space);
    uint32_t count = space->limit, small_count = space->count, last = count - 1;
    um_entry *big = sn_sparse_table(count);
    MT_REQUIRE(big);
    um_entry *small = um_space_swap_table(space, big, count);

    /* Each claim of the freed top slot advances its generation; restarts vary the period. */
    bool seen[64] = {false};
    unsigned dead = 0, elsewhere = 0;
    for (unsigned i = 0; i < 64 * 64; i++) {
        mach_port_name_t name = MACH_PORT_NULL;
        um_entry *e = NULL;
        MT_KR(um_entry_claim(space, &name, &e), KERN_SUCCESS);
        dead += name == MACH_PORT_DEAD;
        elsewhere += MACH_PORT_INDEX(name) != last;
        seen[(name & 0xFF) >> 2] = true;
        um_entry_dealloc(space, name, e);
    }
    MT_EQ(dead, 0u);
    MT_EQ(elsewhere, 0u);
    unsigned generations = 0;
    for (unsigned g = 0; g < 64; g++)
        generations += seen[g];
    MT_EQ(generations, 64u); /* 0x03 through 0xFF, the longest period included */

    /* A name chosen at the top: the last index is usable, the one beyond it is not. */
    um_entry *e = NULL;
    MT_KR(um_entry_alloc_name(space, (last << 8) | 0xFF, &e), KERN_SUCCESS);
    MT_EQ(e, &big[last]);
    um_entry_dealloc(space, (last << 8) | 0xFF, e);
    MT_KR(um_entry_alloc_name(space, MACH_PORT_DEAD, &e), KERN_NO_SPACE);
    MT_EQ(um_space_inuse(space), 0u);

    MT_EQ(um_space_swap_table(space, small, small_count), big);
    munmap(big, (size_t)count * sizeof(um_entry));
    /* the space is whole again: its own slots hand out names as before */
    mach_port_name_t name = MACH_PORT_NULL;
    MT_KR(um_entry_claim(space, &name, &e), KERN_SUCCESS);
    MT_EQ(MACH_PORT_INDEX(name), 1u);
    um_entry_dealloc(space, name, e);
    um_space_destroy(space);
}

MT_MAIN()
