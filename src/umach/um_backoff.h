/*
 * um_backoff.h — the back-off of a try that may find nothing (internal, not installed):
 * a spin before sleeping (embedded/um_msg.c fe_spin, client/um_client.c cl_ring_spin) or
 * umachd's poll of its rings and yield to their clients (tools/umachd/d_loop.c).
 *
 * A try that finds nothing makes the next 1, 3, 7 ... 255 tries skipped: the count doubles
 * with each such try in a row, up to UM_BACKOFF_MAX in a row; a try that finds something
 * ends the row. A try counted as one that found nothing may have its skips decided later
 * (um_backoff_missed, then um_backoff_skip or um_backoff_resume), when only what comes after
 * it tells whether trying could have helped.
 *
 * Zero-initialised: no try skipped. Each belongs to one thread.
 *
 * And the spin's pieces: its bound, um_spin_env_ns (UMACH_SPIN_US), um_cpu_pause between two
 * looks, um_now_ns for its time bound (also umachd's clock for deadlines).
 */
#ifndef UM_BACKOFF_H
#define UM_BACKOFF_H

#include "um_env.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

enum { UM_BACKOFF_MAX = 8 };

typedef struct um_backoff {
    uint32_t skip; /* tries left to skip */
    uint32_t fail; /* tries in a row that found nothing, at most UM_BACKOFF_MAX */
} um_backoff;

/* Whether this try is one to skip (counted down). */
static inline bool um_backoff_skips(um_backoff *b)
{
    if (!b->skip)
        return false;
    b->skip--;
    return true;
}

/* A try found nothing: one more in the row, its skips not decided yet. */
static inline void um_backoff_missed(um_backoff *b)
{
    if (b->fail < UM_BACKOFF_MAX)
        b->fail++;
}

/* Skip the next 2^n - 1 tries, n being the tries in a row that found nothing. */
static inline void um_backoff_skip(um_backoff *b)
{
    b->skip = (1u << b->fail) - 1;
}

/* Skip no more tries (the row goes on counting). */
static inline void um_backoff_resume(um_backoff *b)
{
    b->skip = 0;
}

/* A try found something (tries go on every time) or nothing (the next 1, 3, 7 ... 255 are
 * skipped). */
static inline void um_backoff_found(um_backoff *b, bool found)
{
    if (found) {
        b->fail = 0;
        return;
    }
    um_backoff_missed(b);
    um_backoff_skip(b);
}

enum { UM_SPIN_US_DEFAULT = 20, UM_SPIN_US_MAX = 1000 };

/*
 * How long a thread about to sleep may spin first, in ns: UMACH_SPIN_US µs, a number as
 * um_env.h reads it (unset or malformed: 20), at most 1000; 0 (never) with one CPU online,
 * where nobody else can run while it spins. Embedded mode's waiters, a world's clients and
 * umachd each read it once.
 */
static inline uint64_t um_spin_env_ns(void)
{
    uint64_t us = UM_SPIN_US_DEFAULT;
    if (um_parse_number(getenv("UMACH_SPIN_US"), false, &us) && us > UM_SPIN_US_MAX)
        us = UM_SPIN_US_MAX;
    if (sysconf(_SC_NPROCESSORS_ONLN) <= 1)
        us = 0;
    return us * 1000u;
}

/* Tell the CPU this thread is spinning (a pause between two looks at a word). */
static inline void um_cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t um_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
