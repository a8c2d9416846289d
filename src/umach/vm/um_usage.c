/*
 * um_usage.c — a process's memory and CPU times as task_info reports them, from /proc.
 *
 * /proc/PID/stat gives the address space's size (vsize), the resident pages (rss) and the
 * process's CPU times, those of every thread it ever had; /proc/PID/task/TID/stat gives each
 * live thread's own; the difference is the ended threads' times, which XNU's basic-info
 * flavours report (its TASK_THREAD_TIMES_INFO the live ones'). /proc/PID/status's VmHWM is
 * the peak resident size. Times come in clock ticks (sysconf(_SC_CLK_TCK), 10 ms as a rule).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "um_usage.h"

#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The stat line's fields after the command name, counted from 3 (the state), as proc(5) does. */
enum { STAT_UTIME = 14, STAT_STIME = 15, STAT_VSIZE = 23, STAT_RSS = 24, STAT_FIRST = 3 };

/*
 * Read the stat file `path`: its user and system ticks, and (when not NULL) its vsize and rss.
 * The command name may hold spaces and parentheses: the fields start after its last ')'.
 */
static bool read_stat(const char *path, uint64_t *utime, uint64_t *stime, uint64_t *vsize,
                      uint64_t *rss)
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
    uint64_t want[4] = {0, 0, 0, 0};
    int got = 0;
    for (int field = STAT_FIRST; field <= STAT_RSS; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return false;
        char *end = p;
        if (field == STAT_UTIME || field == STAT_STIME || field == STAT_VSIZE ||
            field == STAT_RSS) {
            unsigned long long v = strtoull(p, &end, 10);
            if (end == p)
                return false;
            want[got++] = v;
        }
        while (*end && *end != ' ')
            end++;
        p = end;
    }
    *utime = want[0];
    *stime = want[1];
    if (vsize)
        *vsize = want[2];
    if (rss)
        *rss = want[3];
    return true;
}

/* The VmHWM line of /proc/PID/status, in bytes (0 when absent). */
static uint64_t read_hwm(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    uint64_t kib = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "VmHWM: %llu kB", &v) == 1) {
            kib = v;
            break;
        }
    }
    fclose(f);
    return kib * 1024;
}

/* Ticks as microseconds. */
static uint64_t ticks_us(uint64_t ticks, long hz)
{
    return ticks * (1000000u / (uint64_t)hz);
}

bool um_proc_usage(pid_t pid, um_task_usage *out)
{
    memset(out, 0, sizeof *out);
    long hz = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (hz <= 0 || hz > 1000000 || page <= 0)
        return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    uint64_t ut, st, vsize, rss;
    if (!read_stat(path, &ut, &st, &vsize, &rss))
        return false;
    /* The live threads' own times. */
    uint64_t live_ut = 0, live_st = 0;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return false;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char tpath[96];
        uint64_t tut, tst;
        snprintf(tpath, sizeof tpath, "/proc/%d/task/%.16s/stat", (int)pid, de->d_name);
        if (read_stat(tpath, &tut, &tst, NULL, NULL)) { /* a thread that just ended: skipped */
            live_ut += tut;
            live_st += tst;
        }
    }
    closedir(dir);
    out->virtual_size = vsize;
    out->resident_size = rss * (uint64_t)page;
    out->resident_size_max = read_hwm(pid);
    if (out->resident_size_max < out->resident_size)
        out->resident_size_max = out->resident_size;
    out->live_user_us = ticks_us(live_ut, hz);
    out->live_system_us = ticks_us(live_st, hz);
    /* Each side is rounded on its own: a live sum above the whole counts as nothing ended. */
    out->ended_user_us = ut > live_ut ? ticks_us(ut - live_ut, hz) : 0;
    out->ended_system_us = st > live_st ? ticks_us(st - live_st, hz) : 0;
    return true;
}

bool um_pidfd_exited(int pidfd)
{
    if (pidfd < 0)
        return true;
    struct pollfd p = {pidfd, POLLIN, 0};
    return poll(&p, 1, 0) != 0;
}

bool um_proc_usage_pinned(pid_t pid, int pidfd, um_task_usage *out)
{
    if (!um_proc_usage(pid, out))
        return false;
    /* A process that still lived after the read lived during it: the files were its own. */
    if (pidfd >= 0 && um_pidfd_exited(pidfd)) {
        memset(out, 0, sizeof *out);
        return false;
    }
    return true;
}
