/*
 * ool_pattern.h — out-of-line data for tests that move memory between tasks
 * (tests/kern/xmem.c, tests/world/ool_between_tasks.c): a byte pattern that differs with each
 * offset and seed, to fill a buffer and to check one, and whether a mapping of this process
 * holds an address (read from /proc/self/maps: no system call touches the address).
 */
#ifndef OOL_PATTERN_H
#define OOL_PATTERN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

static inline uint8_t ool_pattern(uint64_t i, uint32_t seed)
{
    uint64_t x = ((i + 1) ^ ((uint64_t)seed << 40)) * 0x9E3779B97F4A7C15ull;
    return (uint8_t)(x >> 56);
}

static inline void ool_fill(uint8_t *p, uint64_t n, uint32_t seed)
{
    for (uint64_t i = 0; i < n; i++)
        p[i] = ool_pattern(i, seed);
}

static inline bool ool_verify(const uint8_t *p, uint64_t n, uint32_t seed)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != ool_pattern(i, seed))
            return false;
    return true;
}

/* Does a mapping of this process hold `addr`? */
static inline bool maps_hold(uint64_t addr)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 && lo <= addr && addr < hi)
            found = true;
    }
    fclose(f);
    return found;
}

#endif
