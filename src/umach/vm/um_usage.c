/*
 * um_usage.c — a process's memory, CPU times and event counts as task_info reports them, from
 * /proc.
 *
 * /proc/PID/stat gives the address space's size (vsize), the resident pages (rss), the page
 * faults (minor and major) and the process's CPU times, those of every thread it ever had;
 * /proc/PID/task/TID/stat gives each live thread's own; the difference is the ended threads'
 * times, which XNU's basic-info flavours report (its TASK_THREAD_TIMES_INFO the live ones').
 * /proc/PID/status gives the resident and peak resident size (VmRSS, the sum of the per-CPU
 * counts, which stat's rss may lag behind; VmHWM), where the resident pages are
 * (RssAnon, RssShmem: anonymous, XNU's internal; RssFile: files, its external) and the
 * anonymous pages in swap (VmSwap, the nearest thing to XNU's compressed pages); a count of
 * /proc/PID/maps' lines the mappings (XNU's map entries). Context switches: getrusage for the
 * calling process (ended threads included), the live threads' status files for another.
 * Times come in clock ticks (sysconf(_SC_CLK_TCK), 10 ms as a rule).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "um_usage.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* The stat line's fields after the command name, counted from 3 (the state), as proc(5) does. */
enum {
    STAT_FIRST = 3,
    STAT_MINFLT = 10,
    STAT_MAJFLT = 12,
    STAT_UTIME = 14,
    STAT_STIME = 15,
    STAT_VSIZE = 23,
    STAT_RSS = 24,
};

/* What a stat file says (rss in pages, times in ticks). */
typedef struct proc_stat {
    uint64_t minflt, majflt, utime, stime, vsize, rss;
} proc_stat;

/* Read the stat file `path`. The command name may hold spaces and parentheses: the fields
 * start after its last ')'. */
static bool read_stat(const char *path, proc_stat *st)
{
    char buf[1024];
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    p++;
    /* Every field from the state on is a number (the state a letter, left at 0). */
    uint64_t v[STAT_RSS + 1] = {0};
    for (int field = STAT_FIRST; field <= STAT_RSS; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return false;
        char *end = p;
        if (field > STAT_FIRST) {
            v[field] = strtoull(p, &end, 10);
            if (end == p)
                return false;
        }
        while (*end && *end != ' ')
            end++;
        p = end;
    }
    st->minflt = v[STAT_MINFLT];
    st->majflt = v[STAT_MAJFLT];
    st->utime = v[STAT_UTIME];
    st->stime = v[STAT_STIME];
    st->vsize = v[STAT_VSIZE];
    st->rss = v[STAT_RSS];
    return true;
}

/* The lines of a status file we use (0 for a line that is not there). */
typedef struct proc_status {
    uint64_t rss_kib, hwm_kib, anon_kib, file_kib, shmem_kib, swap_kib;
    uint64_t vcsw, ivcsw;
} proc_status;

static bool read_status(const char *path, proc_status *st)
{
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"VmRSS:", offsetof(proc_status, rss_kib)},
        {"VmHWM:", offsetof(proc_status, hwm_kib)},
        {"RssAnon:", offsetof(proc_status, anon_kib)},
        {"RssFile:", offsetof(proc_status, file_kib)},
        {"RssShmem:", offsetof(proc_status, shmem_kib)},
        {"VmSwap:", offsetof(proc_status, swap_kib)},
        {"voluntary_ctxt_switches:", offsetof(proc_status, vcsw)},
        {"nonvoluntary_ctxt_switches:", offsetof(proc_status, ivcsw)},
    };
    char line[256];
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    while (fgets(line, sizeof line, f)) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            size_t len = strlen(keys[i].key);
            if (strncmp(line, keys[i].key, len) == 0) {
                uint64_t v = strtoull(line + len, NULL, 10);
                memcpy((char *)st + keys[i].off, &v, sizeof v);
                break;
            }
        }
    }
    fclose(f);
    return true;
}

/* The lines of `path` (a /proc/PID/maps: one per mapping), or 0 when it cannot be read. */
static uint64_t count_lines(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[8192];
    uint64_t lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

/* The lowest address a process may map (vm.mmap_min_addr), or `fallback`. */
static uint64_t mmap_min_addr(uint64_t fallback)
{
    FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "re");
    if (!f)
        return fallback;
    unsigned long long v;
    bool ok = fscanf(f, "%llu", &v) == 1;
    fclose(f);
    return ok ? v : fallback;
}

/* Ticks as microseconds. */
static uint64_t ticks_us(uint64_t ticks, long hz)
{
    return ticks * (1000000u / (uint64_t)hz);
}

/* The highest address umach maps for a task, as its vm_allocate (embedded/um_vm.c). */
#define UM_USAGE_MAX_ADDRESS (1ULL << 47)

bool um_proc_usage(pid_t pid, unsigned more, um_task_usage *out)
{
    memset(out, 0, sizeof *out);
    long hz = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (hz <= 0 || hz > 1000000 || page <= 0)
        return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    proc_stat whole = {0};
    if (!read_stat(path, &whole))
        return false;
    /* Another process's context switches are its live threads' (getrusage is the caller's). */
    bool own = pid == getpid();
    bool thread_csw = (more & UM_USAGE_EVENTS) && !own;
    /* The live threads' own times. */
    uint64_t live_ut = 0, live_st = 0, csw = 0;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return false;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char tpath[96];
        proc_stat t = {0};
        snprintf(tpath, sizeof tpath, "/proc/%d/task/%.16s/stat", (int)pid, de->d_name);
        if (!read_stat(tpath, &t))
            continue; /* a thread that just ended */
        live_ut += t.utime;
        live_st += t.stime;
        proc_status ts = {0};
        snprintf(tpath, sizeof tpath, "/proc/%d/task/%.16s/status", (int)pid, de->d_name);
        if (thread_csw && read_status(tpath, &ts))
            csw += ts.vcsw + ts.ivcsw;
    }
    closedir(dir);
    proc_status status = {0};
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    (void)read_status(path, &status); /* without it: no peak, and the parts below are 0 */
    out->virtual_size = whole.vsize;
    /* status sums the per-CPU counts that stat's rss may not have gathered yet */
    out->resident_size = status.rss_kib ? status.rss_kib * 1024 : whole.rss * (uint64_t)page;
    out->resident_size_max = status.hwm_kib * 1024;
    if (out->resident_size_max < out->resident_size)
        out->resident_size_max = out->resident_size;
    out->live_user_us = ticks_us(live_ut, hz);
    out->live_system_us = ticks_us(live_st, hz);
    /* Each side is rounded on its own: a live sum above the whole counts as nothing ended. */
    out->ended_user_us = whole.utime > live_ut ? ticks_us(whole.utime - live_ut, hz) : 0;
    out->ended_system_us = whole.stime > live_st ? ticks_us(whole.stime - live_st, hz) : 0;
    if (more & UM_USAGE_VM) {
        out->anon_resident = (status.anon_kib + status.shmem_kib) * 1024;
        out->file_resident = status.file_kib * 1024;
        out->swapped = status.swap_kib * 1024;
        snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
        out->regions = count_lines(path);
        out->min_address = mmap_min_addr((uint64_t)page);
        out->max_address = UM_USAGE_MAX_ADDRESS;
    }
    if (more & UM_USAGE_EVENTS) {
        out->minor_faults = whole.minflt;
        out->major_faults = whole.majflt;
        struct rusage ru;
        if (own && getrusage(RUSAGE_SELF, &ru) == 0)
            csw = (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;
        out->context_switches = csw;
    }
    return true;
}

/* Linux's task flag for a thread in its exit (include/linux/sched.h), stat field 9. */
#define UM_PF_EXITING 0x4u
enum { STAT_FLAGS = 9, STAT_START = 22 };

/* The decimal `v` into `buf` (room for 20 digits), returning where it ends. */
static char *put_dec(char *buf, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *buf++ = tmp[--n];
    return buf;
}

void um_own_thread_name(const char *name)
{
    (void)prctl(PR_SET_NAME, (unsigned long)(uintptr_t)name, 0, 0, 0);
}

/* um_proc_thread_read, and *own: is the thread one of umach's (UM_OWN_THREAD_PREFIX)? *run:
 * its state letter. */
static bool proc_thread_stat(pid_t pid, pid_t tid, uint64_t *start, bool *own, char *run)
{
    /* No stdio, no snprintf: a fault's exception worker may call this in a signal's wake. */
    char path[80], *p = path;
    static const char proc[] = "/proc/", self[] = "self", task[] = "/task/", stat[] = "/stat";
    memcpy(p, proc, sizeof proc - 1);
    p += sizeof proc - 1;
    if (pid > 0) {
        p = put_dec(p, (uint64_t)pid);
    } else {
        memcpy(p, self, sizeof self - 1);
        p += sizeof self - 1;
    }
    memcpy(p, task, sizeof task - 1);
    p = put_dec(p + sizeof task - 1, (uint64_t)(tid > 0 ? tid : 0));
    memcpy(p, stat, sizeof stat);
    if (tid <= 0)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[1024];
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return false;
    buf[len] = '\0';
    /* The name is between the first '(' and the last ')': it may hold either. */
    char *name = strchr(buf, '(');
    char *q = strrchr(buf, ')');
    if (!name || !q || q < name)
        return false;
    *own = (size_t)(q - name - 1) >= sizeof UM_OWN_THREAD_PREFIX - 1 &&
           memcmp(name + 1, UM_OWN_THREAD_PREFIX, sizeof UM_OWN_THREAD_PREFIX - 1) == 0;
    q++;
    uint64_t flags = 0, when = 0;
    char state = 0;
    for (int field = STAT_FIRST; field <= STAT_START; field++) {
        while (*q == ' ')
            q++;
        if (!*q)
            return false;
        if (field == STAT_FIRST)
            state = *q;
        char *end = q;
        if (field == STAT_FLAGS || field == STAT_START) {
            unsigned long long v = strtoull(q, &end, 10);
            if (end == q)
                return false;
            if (field == STAT_FLAGS)
                flags = v;
            else
                when = v;
        }
        while (*end && *end != ' ')
            end++;
        q = end;
    }
    *run = state;
    if ((flags & UM_PF_EXITING) || state == 'Z' || state == 'X' || state == 'x')
        return false;
    *start = when;
    return true;
}

bool um_proc_thread_read(pid_t pid, pid_t tid, uint64_t *start)
{
    bool own;
    char run;
    return proc_thread_stat(pid, tid, start, &own, &run);
}

/* The next thread id listed in /proc/PID/task's `dir`, or 0 at its end. */
static pid_t proc_next_tid(DIR *dir)
{
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        char *end;
        long tid = strtol(de->d_name, &end, 10);
        if (end != de->d_name && !*end && tid > 0 && tid <= INT32_MAX)
            return (pid_t)tid;
    }
    return 0;
}

/* /proc/PID/task of process `pid` (0: this process), opened; NULL when it cannot be. */
static DIR *proc_task_dir(pid_t pid)
{
    char path[48];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/task");
    return opendir(path);
}

bool um_proc_stopped(pid_t pid)
{
    DIR *dir = proc_task_dir(pid);
    if (!dir)
        return true; /* gone */
    bool stopped = true;
    pid_t tid;
    while (stopped && (tid = proc_next_tid(dir)) > 0) {
        uint64_t start;
        bool own;
        char run = 0;
        /* An ended thread stops nothing; a stopped one is T (or t, traced). */
        if (proc_thread_stat(pid, tid, &start, &own, &run) && run != 'T' && run != 't')
            stopped = false;
    }
    closedir(dir);
    return stopped;
}

um_thread_id *um_proc_threads(pid_t pid, size_t max, size_t *n)
{
    DIR *dir = proc_task_dir(pid);
    if (!dir)
        return NULL;
    size_t count = 0, cap = 16;
    um_thread_id *ids = malloc(cap * sizeof *ids);
    pid_t tid;
    while (ids && count <= max && (tid = proc_next_tid(dir)) > 0) {
        uint64_t start;
        bool own;
        char run;
        if (!proc_thread_stat(pid, tid, &start, &own, &run))
            continue; /* ended meanwhile, or ending */
        if (own && tid != (pid > 0 ? pid : getpid()))
            continue; /* umach's own (never the main thread: its name is the program's) */
        if (count == cap) {
            um_thread_id *more = realloc(ids, 2 * cap * sizeof *ids);
            if (!more) {
                free(ids);
                ids = NULL;
                break;
            }
            ids = more;
            cap *= 2;
        }
        ids[count++] = (um_thread_id){(pid_t)tid, start};
    }
    closedir(dir);
    *n = count;
    return ids;
}

bool um_pidfd_exited(int pidfd)
{
    if (pidfd < 0)
        return true;
    struct pollfd p = {pidfd, POLLIN, 0};
    return poll(&p, 1, 0) != 0;
}

bool um_proc_usage_pinned(pid_t pid, int pidfd, unsigned more, um_task_usage *out)
{
    if (!um_proc_usage(pid, more, out))
        return false;
    /* A process that still lived after the read lived during it: the files were its own. */
    if (pidfd >= 0 && um_pidfd_exited(pidfd)) {
        memset(out, 0, sizeof *out);
        return false;
    }
    return true;
}
