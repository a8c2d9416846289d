/*
 * um_space.c — a task's name table.
 *
 * A name is (index << 8) | generation. The generation byte always has its two low bits set,
 * advances by 4 each time the slot is handed out, and restarts after a period of 16, 32, 48
 * or 64 generations chosen per restart, so a freed name is not handed out again for a while
 * even though its slot is (free slots are reused last-freed-first, as in XNU). Index 0 is
 * reserved, and no table reaches index 0xFFFFFF (UM_TABLE_HARD_MAX), whose generation 0xFF
 * would be MACH_PORT_DEAD: a bound, where a test of each new name would cost every claim.
 * Send and receive rights of one port share one entry. The entry holding a receive
 * right is found from the port (receiver, receiver_name); a reverse hash from port to index
 * finds the entries holding send rights without the receive right, so a space of idle
 * receive rights has no hash to grow or to miss in.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, process_vm_readv, MAP_FIXED_NOREPLACE */
#endif
#include "um_kern.h"

#include <stdlib.h>
#include <string.h>

#define UM_HASH_TOMB ((um_port *)(uintptr_t)1)

_Static_assert(sizeof(um_entry) == 24, "a name table slot is 24 bytes, as XNU's ipc_entry");

static uint8_t um_next_roll(um_space *space)
{
    /* A small xorshift: the restart period only needs to vary, not be secret. */
    uint32_t x = space->roll_seed;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    space->roll_seed = x;
    return (uint8_t)(16u * (1u + (x & 3u)));
}

/*
 * The free list is doubly linked (um_entry_alloc_name takes a caller-chosen slot out of its
 * middle), but the head's prev_free is never read: free_head tells which slot is the head.
 * So taking the head (um_entry_claim) leaves its successor's prev_free as it was, and giving
 * the slot back finds it still right: a name taken and freed over and over (each request's
 * send-once reply right) writes no second entry, whose cache line would otherwise travel
 * between the CPUs of a cross-CPU round trip.
 */
UM_HOT_STATIC void um_free_push(um_space *space, uint32_t index)
{
    um_entry *e = &space->table[index];
    e->next_free = space->free_head;
    if (space->free_head && space->table[space->free_head].prev_free != index)
        space->table[space->free_head].prev_free = index;
    space->free_head = index;
    space->nfree++;
}

static void um_free_unlink(um_space *space, uint32_t index)
{
    um_entry *e = &space->table[index];
    if (space->free_head == index) {
        space->free_head = e->next_free;
    } else {
        space->table[e->prev_free].next_free = e->next_free;
        if (e->next_free)
            space->table[e->next_free].prev_free = e->prev_free;
    }
    e->next_free = e->prev_free = 0;
    space->nfree--;
}

/* A slot the table has just gained goes on the free list, ready for its first name. */
static void um_free_push_new(um_space *space, uint32_t index)
{
    space->table[index].gen = 0xFF; /* the first claim wraps it to 0x03 */
    space->table[index].roll = 64;
    um_free_push(space, index);
}

/* Grow the table so that it has at least `want` slots. Conditions: want <= limit. */
static kern_return_t um_space_grow(um_space *space, uint32_t want)
{
    if (want <= space->count)
        return KERN_SUCCESS;
    if (want > space->limit)
        return KERN_NO_SPACE;
    uint64_t ncount = space->count ? (uint64_t)space->count * 2 : 64;
    if (ncount < want)
        ncount = want;
    if (ncount > space->limit)
        ncount = space->limit;
    um_entry *nt = realloc(space->table, (size_t)ncount * sizeof *nt);
    if (!nt)
        return KERN_RESOURCE_SHORTAGE;
    memset(nt + space->count, 0, (size_t)(ncount - space->count) * sizeof *nt);
    uint32_t old = space->count;
    space->table = nt;
    space->count = (uint32_t)ncount;
    /* New slots go on the free list so that the lowest index comes out first. */
    for (uint32_t i = space->count - 1; i >= (old ? old : 1); i--) {
        um_free_push_new(space, i);
        if (i == 1)
            break;
    }
    return KERN_SUCCESS;
}

um_entry *um_space_swap_table(um_space *space, um_entry *table, uint32_t count)
{
    um_entry *old = space->table;
    uint32_t ocount = space->count;
    if (count < ocount)
        um_free_unlink(space, ocount - 1);
    memcpy(table, old, (size_t)(count < ocount ? count : ocount) * sizeof *table);
    space->table = table;
    space->count = count;
    if (count > ocount)
        um_free_push_new(space, count - 1);
    return old;
}

void um_ledger_free(um_ledger *ledger)
{
    free(ledger);
}

um_space *um_space_create(uint32_t limit)
{
    um_space *space = calloc(1, sizeof *space);
    if (!space)
        return NULL;
    space->active = true;
    if (limit < 2)
        limit = UM_TABLE_DEFAULT_MAX;
    else if (limit > UM_TABLE_HARD_MAX + 1)
        limit = UM_TABLE_HARD_MAX + 1;
    space->limit = limit;
    space->roll_seed = 0x9E3779B9u;
    _Static_assert(sizeof(um_ledger) <= UM_LEDGER_LINE, "a ledger fits its line");
    space->ledger = aligned_alloc(UM_LEDGER_LINE, UM_LEDGER_LINE);
    if (space->ledger)
        memset(space->ledger, 0, sizeof *space->ledger);
    if (!space->ledger ||
        um_space_grow(space, 64 < space->limit ? 64 : space->limit) != KERN_SUCCESS) {
        free(space->ledger);
        free(space);
        return NULL;
    }
    space->ledger->refs = 1;
    space->ledger->max = UINT64_MAX; /* the task sets its cap */
    return space;
}

uint32_t um_space_inuse(const um_space *space)
{
    return space->inuse;
}


static void um_entry_new_gen(um_space *space, um_entry *e)
{
    /* Generations run 0x03, 0x07, ... ; `roll` counts those left before a restart. */
    if (e->roll <= 1) {
        e->roll = um_next_roll(space);
        e->gen = 0x03;
    } else {
        e->roll--;
        e->gen = (uint8_t)(e->gen + 4);
    }
}

UM_HOT kern_return_t um_entry_claim(um_space *space, mach_port_name_t *namep, um_entry **entryp)
{
    if (!space->free_head) {
        kern_return_t kr = um_space_grow(space, space->count + 1);
        if (kr != KERN_SUCCESS)
            return kr;
    }
    uint32_t index = space->free_head;
    um_free_unlink(space, index);
    um_entry *e = &space->table[index];
    um_entry_new_gen(space, e);
    e->object = NULL;
    e->type = 0;
    e->urefs = 0;
    e->request = 0;
    space->inuse++;
    *namep = (index << 8) | e->gen;
    *entryp = e;
    return KERN_SUCCESS;
}

UM_HOT mach_port_name_t um_entry_claim_send_once(um_space *space, um_port *port)
{
    /* um_entry_claim of the free list's head, then um_entry_set_send_once, in one go. */
    uint32_t index = space->free_head;
    um_entry *e = &space->table[index];
    space->free_head = e->next_free;
    space->nfree--;
    um_entry_new_gen(space, e);
    e->object = &port->obj; /* over the free links */
    e->type = MACH_PORT_TYPE_SEND_ONCE;
    e->urefs = 1;
    space->inuse++;
    return (index << 8) | e->gen;
}

kern_return_t um_entry_alloc_name(um_space *space, mach_port_name_t name, um_entry **entryp)
{
    uint32_t index = MACH_PORT_INDEX(name);
    if (index >= space->limit)
        return KERN_NO_SPACE;
    if ((name & 0x3) != 0x3)
        return KERN_INVALID_VALUE;
    if (index == 0)
        return KERN_FAILURE;
    if (index >= space->count) {
        kern_return_t kr = um_space_grow(space, index + 1);
        if (kr != KERN_SUCCESS)
            return kr;
    }
    um_entry *e = &space->table[index];
    if (e->type == 0) {
        um_free_unlink(space, index);
        e->gen = (uint8_t)(name & 0xFF);
        e->object = NULL;
        e->urefs = 0;
        e->request = 0;
        space->inuse++;
        *entryp = e;
        return KERN_SUCCESS;
    }
    if (e->gen == (uint8_t)(name & 0xFF)) {
        *entryp = e;
        return KERN_SUCCESS;
    }
    return KERN_FAILURE;
}

/*
 * A free entry's type, urefs and request are 0 (um_entry_claim_send_once counts on it), its
 * generation and roll are kept for its next name.
 */
UM_HOT void um_entry_dealloc_index(um_space *space, uint32_t index, um_entry *entry)
{
    entry->object = NULL;
    entry->type = 0;
    entry->urefs = 0;
    entry->request = 0;
    space->inuse--;
    um_free_push(space, index);
}

UM_HOT void um_entry_dealloc(um_space *space, mach_port_name_t name, um_entry *entry)
{
    (void)name;
    um_entry_dealloc_index(space, (uint32_t)(entry - space->table), entry);
}

/* ---- reverse hash ---------------------------------------------------------------------- */

static uint32_t um_hash_ptr(const um_port *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

static void um_hash_rehash(um_space *space, uint32_t ncap)
{
    um_hslot *old = space->hash;
    uint32_t ocap = space->hash_cap;
    um_hslot *nh = calloc(ncap, sizeof *nh);
    if (!nh)
        return; /* keep the old table; insertion below still finds a slot if any remains */
    space->hash = nh;
    space->hash_cap = ncap;
    space->hash_used = 0;
    space->hash_tombs = 0;
    for (uint32_t i = 0; i < ocap; i++) {
        if (old[i].port && old[i].port != UM_HASH_TOMB)
            um_hash_insert(space, old[i].port, old[i].index);
    }
    free(old);
}

void um_hash_insert(um_space *space, um_port *port, uint32_t index)
{
    if ((space->hash_used + space->hash_tombs + 1) * 4 >= space->hash_cap * 3)
        um_hash_rehash(space, space->hash_cap ? (space->hash_used * 4 >= space->hash_cap
                                                    ? space->hash_cap * 2
                                                    : space->hash_cap)
                                              : 64);
    uint32_t mask = space->hash_cap - 1;
    for (uint32_t i = um_hash_ptr(port) & mask;; i = (i + 1) & mask) {
        um_hslot *s = &space->hash[i];
        if (s->port == NULL || s->port == UM_HASH_TOMB) {
            if (s->port == UM_HASH_TOMB)
                space->hash_tombs--;
            s->port = port;
            s->index = index;
            space->hash_used++;
            return;
        }
        if (s->port == port) {
            s->index = index;
            return;
        }
    }
}

static um_hslot *um_hash_find(um_space *space, const um_port *port)
{
    if (!space->hash_cap)
        return NULL;
    uint32_t mask = space->hash_cap - 1;
    for (uint32_t i = um_hash_ptr(port) & mask, n = 0; n < space->hash_cap;
         i = (i + 1) & mask, n++) {
        um_hslot *s = &space->hash[i];
        if (s->port == NULL)
            return NULL;
        if (s->port == port)
            return s;
    }
    return NULL;
}

void um_hash_delete(um_space *space, um_port *port)
{
    if (!space->hash_used)
        return;
    um_hslot *s = um_hash_find(space, port);
    if (s) {
        s->port = UM_HASH_TOMB;
        space->hash_used--;
        space->hash_tombs++;
    }
}

um_entry *um_space_reverse(um_space *space, um_port *port)
{
    /* The entry holding the receive right also holds the send rights: no hash needed. */
    if (port->receiver == space)
        return &space->table[MACH_PORT_INDEX(port->receiver_name)];
    if (!space->hash_used)
        return NULL;
    um_hslot *s = um_hash_find(space, port);
    return s ? &space->table[s->index] : NULL;
}

void um_space_destroy(um_space *space)
{
    /*
     * XNU's ipc_space_terminate: the space is deactivated, then its entries go in two rounds,
     * receive rights first (their ports die: queued messages destroyed, port-destroyed
     * requests honoured, blocked threads woken), then the rest (send rights released, so
     * no-senders fire; send-once rights send their notifications; requests cancelled).
     */
    space->active = false;
    for (int round = 0; round < 2; round++) {
        for (uint32_t i = 1; i < space->count; i++) {
            um_entry *e = &space->table[i];
            if (e->type == 0 || (round == 0 && !(e->type & MACH_PORT_TYPE_RECEIVE)))
                continue;
            mach_port_name_t name = (i << 8) | e->gen;
            (void)um_right_destroy(space, name, e, false, 0);
        }
    }
    free(space->table);
    free(space->hash);
    um_ledger_release(space->ledger);
    free(space);
}
