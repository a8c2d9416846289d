/*
 * bench.h — what every benchmark in bench/ shares: the environment switches (BENCH_QUICK,
 * BENCH_ONLY), clocks, failing on a Mach error, pinning, medians and percentiles, and the
 * one format of a result line:
 *
 *   ratio NAME WHAT VALUE (target OP TARGET) OK|MISS      or      ratio NAME WHAT VALUE (no target)
 *
 * A missed target is reported and never changes the exit code; a Mach error, a wrong message
 * or a leaked name ends the program with status 1 (fail, check_kr).
 *
 * Include it first: it asks for _GNU_SOURCE (sched_setaffinity, program_invocation_short_name).
 * Every function is static inline, so a benchmark that uses only some of them compiles clean
 * under -Wall -Wextra -Werror.
 */
#ifndef BENCH_H
#define BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <mach/mach.h>
#include <mach/mach_error.h>
#include <mach/mach_port.h>
#include <mach/vm_map.h>

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- switches ------------------------------------------------------------------------------ */

/* BENCH_QUICK=1: small counts, for the smoke run of `make check` (timings are not judged). */
static inline bool quick_mode(void)
{
    const char *v = getenv("BENCH_QUICK");
    return v && *v && strcmp(v, "0") != 0;
}

/* BENCH_ONLY=a,b: only the named sections run; unset or empty, all of them. */
static inline bool section_enabled(const char *name)
{
    const char *v = getenv("BENCH_ONLY");
    if (!v || !*v)
        return true;
    size_t len = strlen(name);
    for (const char *p = v; (p = strstr(p, name)) != NULL; p += len)
        if ((p == v || p[-1] == ',') && (p[len] == '\0' || p[len] == ','))
            return true;
    return false;
}

/* An iteration count scaled for quick mode (about 10x fewer), never below `floor`. */
static inline size_t iters(size_t full, size_t floor)
{
    size_t n = quick_mode() ? full / 10 : full;
    return n < floor ? floor : n;
}

/* ---- failing --------------------------------------------------------------------------------- */

static inline _Noreturn void fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", program_invocation_short_name, what);
    fflush(stdout);
    exit(1);
}

/* As fail, with strerror(errno) appended. */
static inline _Noreturn void fail_errno(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(errno));
    fflush(stdout);
    exit(1);
}

static inline void check_kr(kern_return_t kr, const char *what)
{
    if (kr != KERN_SUCCESS) {
        fprintf(stderr, "%s: %s failed: 0x%x %s\n", program_invocation_short_name, what,
                (unsigned)kr, mach_error_string(kr));
        fflush(stdout);
        exit(1);
    }
}

static inline void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        fail("out of memory");
    return p;
}

/* ---- clocks ---------------------------------------------------------------------------------- */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the calling thread: what the work costs, whatever else the machine runs. */
static inline uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- CPUs ------------------------------------------------------------------------------------ */

static inline void pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fail("sched_setaffinity");
}

/*
 * The first two CPUs the process may run on, in cpus[0] and cpus[1] (-1 when there is only
 * one); returns how many it may run on in all.
 */
static inline int bench_cpus(int cpus[2])
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        fail("sched_getaffinity");
    int n = 0;
    cpus[0] = cpus[1] = -1;
    for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
        if (CPU_ISSET(i, &allowed))
            cpus[n++] = i;
    if (n == 0)
        fail("no CPU available");
    return CPU_COUNT(&allowed);
}

/* ---- statistics ------------------------------------------------------------------------------ */

typedef struct lat_stats {
    double median_us;
    double p99_us;
    double cpu_us; /* CPU time per iteration (both sides), 0 when not measured */
} lat_stats;

static inline int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and 99th percentile of n > 0 nanosecond samples, in microseconds. Sorts `v`. */
static inline lat_stats stats_of(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
    size_t p99 = (size_t)((double)n * 0.99);
    if (p99 >= n)
        p99 = n - 1;
    return (lat_stats){(double)v[n / 2] / 1e3, (double)v[p99] / 1e3, 0};
}

/* Median of n > 0 values. Sorts `v`. */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* ---- results --------------------------------------------------------------------------------- */

/*
 * One result line. `op` is "<=" or ">=", or NULL for a figure shown without a target; a
 * value below 0.1 gets three digits so that a small ratio does not print as 0.00.
 */
static inline void print_ratio(const char *name, const char *what, double r, const char *op,
                               double target)
{
    int digits = r < 0.1 ? 3 : 2;
    if (!op) {
        printf("ratio %s %s %.*f (no target)\n", name, what, digits, r);
        return;
    }
    bool ok = op[0] == '<' ? r <= target : r >= target;
    printf("ratio %s %s %.*f (target %s %.2f) %s\n", name, what, digits, r, op, target,
           ok ? "OK" : "MISS");
}

/* ---- the task's space ------------------------------------------------------------------------ */

/* How many names the calling task's space holds (a benchmark must end with what it began). */
static inline mach_msg_type_number_t space_name_count(void)
{
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t ncount = 0, tcount = 0;
    check_kr(mach_port_names(mach_task_self(), &names, &ncount, &types, &tcount),
             "mach_port_names");
    if (names)
        check_kr(vm_deallocate(mach_task_self(), (vm_address_t)names, ncount * sizeof *names),
                 "vm_deallocate (names)");
    if (types)
        check_kr(vm_deallocate(mach_task_self(), (vm_address_t)types, tcount * sizeof *types),
                 "vm_deallocate (types)");
    return ncount;
}

/* A new receive right with one send right under the same name. */
static inline mach_port_t port_with_send_right(void)
{
    mach_port_t p = MACH_PORT_NULL;
    check_kr(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &p),
             "mach_port_allocate");
    check_kr(mach_port_insert_right(mach_task_self(), p, p, MACH_MSG_TYPE_MAKE_SEND),
             "mach_port_insert_right");
    return p;
}

/* Drops the send right and the receive right of a port made by port_with_send_right. */
static inline void port_destroy(mach_port_t *p)
{
    check_kr(mach_port_deallocate(mach_task_self(), *p), "mach_port_deallocate");
    check_kr(mach_port_mod_refs(mach_task_self(), *p, MACH_PORT_RIGHT_RECEIVE, -1),
             "mach_port_mod_refs (receive)");
    *p = MACH_PORT_NULL;
}

#endif /* BENCH_H */
