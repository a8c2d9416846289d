/*
 * bench_ports.c — what a port costs to hold and to make when a space holds many of them.
 *
 *   bytes per idle port   RSS growth of the process while 1,000,000 receive rights are
 *                         allocated, divided by 1,000,000 (the name table, the reverse hash and
 *                         the port objects, with malloc's overhead). Target <= 192 bytes: XNU's
 *                         ipc_port is about 150 bytes on arm64, plus a 24-byte entry.
 *   allocation cost       mean CPU time of one mach_port_allocate(RECEIVE) (page faults
 *                         included) while a space is filled from empty to 10,000 ports and to
 *                         1,000,000 ports, in the same run. Target: the cost at 1,000,000 at
 *                         most 1.5x the cost at 10,000.
 *   1,000,000 names       one space holds them all: mach_port_names lists every one and
 *                         mach_port_type finds each (in random order; the lookup's CPU time is
 *                         shown next to the one in a space of 10,000).
 *
 * Each fill runs in a forked child (a fresh task on the heap the parent had before), the two
 * sizes alternate for five rounds, and every figure is the median of its rounds. Times are
 * CPU times (CLOCK_THREAD_CPUTIME_ID): on a loaded machine wall time mostly measures the
 * other processes.
 *
 * BENCH_QUICK=1 uses 100,000 ports instead of 1,000,000 (CI smoke runs). A missed target is
 * reported as MISS and does not change the exit code; a Mach error or a leaked name exits 1.
 */
#include "bench.h"

#include <sys/wait.h>
#include <unistd.h>

/* Resident set size of the process in bytes (/proc/self/statm). */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (!f)
        fail("cannot open /proc/self/statm");
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        fail("cannot read /proc/self/statm");
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

typedef struct fill_result {
    double alloc_ns;  /* mean ns per mach_port_allocate over the whole fill */
    double last_ns;   /* mean ns per allocation over the last tenth of the fill */
    double lookup_ns; /* mean ns per mach_port_type, names in random order */
    double bytes_per_port;
} fill_result;

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/*
 * Fill the space with `n` receive rights, look each up in random order and check that
 * mach_port_names lists them. Runs in a forked child (a new task with a fresh space, on the
 * heap the parent had before any fill), which exits without tearing the space down.
 */
static fill_result fill_space(size_t n)
{
    fill_result r = {0};
    mach_msg_type_number_t names_before = space_name_count();
    mach_port_t *names = malloc(n * sizeof *names);
    if (!names)
        fail("out of memory");
    /* Touch the array first so that its pages do not count as the ports' memory. */
    memset(names, 0, n * sizeof *names);
    uint64_t rss0 = rss_bytes();
    size_t tenth = n - n / 10;
    uint64_t t0 = cpu_ns(), t_tenth = t0;
    for (size_t i = 0; i < n; i++) {
        if (i == tenth)
            t_tenth = cpu_ns();
        check_kr(mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &names[i]),
                 "mach_port_allocate");
    }
    uint64_t t1 = cpu_ns();
    uint64_t rss1 = rss_bytes();
    r.alloc_ns = (double)(t1 - t0) / (double)n;
    r.last_ns = (double)(t1 - t_tenth) / (double)(n - tenth);
    r.bytes_per_port = ((double)rss1 - (double)rss0) / (double)n;

    /* Random order, so that a lookup does not find its entry in the cache. */
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(rng_next() % (i + 1));
        mach_port_t t = names[i];
        names[i] = names[j];
        names[j] = t;
    }
    uint64_t t2 = cpu_ns();
    for (size_t i = 0; i < n; i++) {
        mach_port_type_t type = 0;
        check_kr(mach_port_type(mach_task_self(), names[i], &type), "mach_port_type");
        if (type != MACH_PORT_TYPE_RECEIVE)
            fail("mach_port_type: not a receive right");
    }
    r.lookup_ns = (double)(cpu_ns() - t2) / (double)n;

    if (space_name_count() != names_before + n)
        fail("mach_port_names does not list every port");
    free(names);
    return r;
}

static fill_result fill_in_child(size_t n)
{
    int fds[2];
    if (pipe(fds) != 0)
        fail("pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {
        close(fds[0]);
        fill_result r = fill_space(n);
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    fill_result r;
    ssize_t got = read(fds[0], &r, sizeof r);
    close(fds[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        got != (ssize_t)sizeof r)
        fail("a fill failed (see above)");
    return r;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    size_t small = 10000, big = quick_mode() ? 100000 : 1000000;
    mach_msg_type_number_t names_before = space_name_count();
    uint64_t t0 = now_ns();
    printf("bench_ports%s: spaces of %zu and %zu receive rights, each filled in a fresh child\n",
           quick_mode() ? " (BENCH_QUICK)" : "", small, big);

    /* Rounds alternate the two sizes; every figure is the median of its rounds. */
    enum { ROUNDS_MAX = 5 };
    int rounds = quick_mode() ? 1 : ROUNDS_MAX;
    double sa[ROUNDS_MAX], sl[ROUNDS_MAX], ba[ROUNDS_MAX], bt[ROUNDS_MAX], bl[ROUNDS_MAX],
        bb[ROUNDS_MAX], ratio[ROUNDS_MAX];
    printf("\n  %-6s %14s %14s %14s %14s %10s\n", "round", "alloc 10k ns", "alloc big ns",
           "lookup 10k ns", "lookup big ns", "B/port");
    for (int i = 0; i < rounds; i++) {
        fill_result rs = fill_in_child(small);
        fill_result rb = fill_in_child(big);
        sa[i] = rs.alloc_ns;
        sl[i] = rs.lookup_ns;
        ba[i] = rb.alloc_ns;
        bt[i] = rb.last_ns;
        bl[i] = rb.lookup_ns;
        bb[i] = rb.bytes_per_port;
        ratio[i] = rb.alloc_ns / rs.alloc_ns;
        printf("  %-6d %14.0f %14.0f %14.0f %14.0f %10.1f\n", i + 1, sa[i], ba[i], sl[i], bl[i],
               bb[i]);
    }
    double msa = median(sa, rounds), mba = median(ba, rounds), mbt = median(bt, rounds);
    double msl = median(sl, rounds), mbl = median(bl, rounds), mbb = median(bb, rounds);
    double mratio = median(ratio, rounds);

    printf("\n  %-36s %12s %12s\n", "medians", "10,000", quick_mode() ? "100,000" : "1,000,000");
    printf("  %-36s %12.0f %12.0f\n", "mach_port_allocate, ns (mean)", msa, mba);
    printf("  %-36s %12s %12.0f\n", "  the last tenth of the fill, ns", "", mbt);
    printf("  %-36s %12.0f %12.0f\n", "mach_port_type, random order, ns", msl, mbl);
    printf("  %-36s %12s %12.1f\n", "RSS per idle receive right, bytes", "", mbb);
    printf("\n");
    print_ratio("ports", "bytes per idle receive right", mbb, "<=", 192);
    print_ratio("ports", "allocation cost, big space / 10,000", mratio, "<=", 1.5);
    printf("ratio ports %zu names in one space: allocated, listed, looked up %.0f ns "
           "(10,000: %.0f ns) (target: all) OK\n",
           big, mbl, msl);

    if (space_name_count() != names_before)
        fail("the space does not end with the names it started with");
    printf("\ndone in %.1f s\n", (double)(now_ns() - t0) / 1e9);
    return 0;
}
