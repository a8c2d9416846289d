/*
 * um_host_stats.c — host_statistics, host_statistics64 and host_processor_info: the machine's
 * page counts and CPU times as XNU's osfmk/kern/host.c reports them, read from Linux's /proc
 * (the machine is the same embedded and in a world, so each process reads it itself; the host
 * port is checked as host_info checks it, and a port that is no kernel object gets the MIG
 * request, as host_info's does).
 *
 * What each Darwin count is made of (docs/porting.md lists it):
 *   free: MemFree; active: Active; inactive: Inactive; wired: Unevictable, unreclaimable slab,
 *   kernel stacks and page tables; internal: AnonPages; external: Cached; pageins / pageouts:
 *   pgpgin / pgpgout; faults: pgfault; reactivations: pgactivate; swapins / swapouts: pswpin /
 *   pswpout; compressions / decompressions: zswpout / zswpin. Linux keeps no count of
 *   zero-fill or copy-on-write faults, object-cache lookups, purgeable or speculative pages:
 *   those are 0.
 *   CPU ticks are 1/100 s as XNU's: user, system (with interrupts), idle (with I/O wait),
 *   nice.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../dispatch/um_forward.h"
#include "../kern/um_kobject_ports.h"
#include "../um_export.h"
#include "um_embedded.h"

#include <mach/mach.h>
#include <mach/mach_host.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- reading /proc ---------------------------------------------------------------------- */

/* The values of `nkeys` "key value" lines of a /proc file (meminfo's are in KiB); a key the
 * file lacks stays 0. false when the file cannot be read. */
static bool hs_read_keyed(const char *path, const char *const *keys, uint64_t *values, int nkeys)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    memset(values, 0, sizeof *values * (size_t)nkeys);
    char line[256];
    while (fgets(line, sizeof line, f)) {
        for (int i = 0; i < nkeys; i++) {
            size_t n = strlen(keys[i]);
            if (strncmp(line, keys[i], n) == 0 && (line[n] == ':' || line[n] == ' ')) {
                values[i] = strtoull(line + n + 1, NULL, 10);
                break;
            }
        }
    }
    fclose(f);
    return true;
}

enum {
    HS_FREE,
    HS_ACTIVE,
    HS_INACTIVE,
    HS_UNEVICTABLE,
    HS_SUNRECLAIM,
    HS_KSTACK,
    HS_PTABLES,
    HS_ANON,
    HS_CACHED,
    HS_NMEM
};
static const char *const hs_mem_keys[HS_NMEM] = {"MemFree",     "Active",     "Inactive",
                                                 "Unevictable", "SUnreclaim", "KernelStack",
                                                 "PageTables",  "AnonPages",  "Cached"};

enum {
    HS_PGPGIN,
    HS_PGPGOUT,
    HS_PGFAULT,
    HS_PGACTIVATE,
    HS_PSWPIN,
    HS_PSWPOUT,
    HS_ZSWPIN,
    HS_ZSWPOUT,
    HS_NVM
};
static const char *const hs_vm_keys[HS_NVM] = {"pgpgin", "pgpgout", "pgfault", "pgactivate",
                                               "pswpin", "pswpout", "zswpin",  "zswpout"};

static natural_t hs_pages32(uint64_t v)
{
    return VM_STATISTICS_TRUNCATE_TO_32_BIT(v);
}

/* The whole vm_statistics64 of the machine; false when /proc cannot be read. */
static bool hs_vm_stats(vm_statistics64_data_t *st)
{
    uint64_t mem[HS_NMEM], vm[HS_NVM];
    if (!hs_read_keyed("/proc/meminfo", hs_mem_keys, mem, HS_NMEM) ||
        !hs_read_keyed("/proc/vmstat", hs_vm_keys, vm, HS_NVM))
        return false;
    uint64_t kib_per_page = (uint64_t)vm_kernel_page_size / 1024;
    if (kib_per_page == 0)
        kib_per_page = 4;
    for (int i = 0; i < HS_NMEM; i++)
        mem[i] /= kib_per_page;
    memset(st, 0, sizeof *st);
    st->free_count = hs_pages32(mem[HS_FREE]);
    st->active_count = hs_pages32(mem[HS_ACTIVE]);
    st->inactive_count = hs_pages32(mem[HS_INACTIVE]);
    st->wire_count =
        hs_pages32(mem[HS_UNEVICTABLE] + mem[HS_SUNRECLAIM] + mem[HS_KSTACK] + mem[HS_PTABLES]);
    /* pgpgin / pgpgout count KiB. */
    st->pageins = vm[HS_PGPGIN] / kib_per_page;
    st->pageouts = vm[HS_PGPGOUT] / kib_per_page;
    st->faults = vm[HS_PGFAULT];
    st->reactivations = vm[HS_PGACTIVATE];
    st->swapins = vm[HS_PSWPIN];
    st->swapouts = vm[HS_PSWPOUT];
    st->decompressions = vm[HS_ZSWPIN];
    st->compressions = vm[HS_ZSWPOUT];
    st->internal_page_count = hs_pages32(mem[HS_ANON]);
    st->external_page_count = hs_pages32(mem[HS_CACHED]);
    return true;
}

/*
 * The CPU ticks of the "cpu" line of /proc/stat (cpu < 0) or of "cpuN"; false when there is
 * none. Linux counts in USER_HZ, XNU in 1/100 s.
 */
static bool hs_cpu_ticks(int cpu, natural_t ticks[CPU_STATE_MAX])
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return false;
    char want[24], line[512];
    if (cpu < 0)
        snprintf(want, sizeof want, "cpu ");
    else
        snprintf(want, sizeof want, "cpu%d ", cpu);
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)) != 0)
            continue;
        unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
        if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys,
                   &idle, &iowait, &irq, &softirq) < 4)
            break;
        long hz = sysconf(_SC_CLK_TCK);
        unsigned long long per = hz > 0 ? (unsigned long long)hz : 100;
        ticks[CPU_STATE_USER] = (natural_t)(user * 100 / per);
        ticks[CPU_STATE_SYSTEM] = (natural_t)((sys + irq + softirq) * 100 / per);
        ticks[CPU_STATE_IDLE] = (natural_t)((idle + iowait) * 100 / per);
        ticks[CPU_STATE_NICE] = (natural_t)(nice * 100 / per);
        found = true;
    }
    fclose(f);
    return found;
}

/* ---- the calls -------------------------------------------------------------------------- */

/* XNU's HOST_VM_INFO: the 32-bit counts, as many revisions as fit in *count. */
static kern_return_t hs_vm_info(host_info_t info, mach_msg_type_number_t *count)
{
    if (*count < HOST_VM_INFO_REV0_COUNT)
        return KERN_FAILURE;
    vm_statistics64_data_t st;
    if (!hs_vm_stats(&st))
        return KERN_FAILURE;
    vm_statistics_data_t s32;
    memset(&s32, 0, sizeof s32);
    s32.free_count = st.free_count;
    s32.active_count = st.active_count;
    s32.inactive_count = st.inactive_count;
    s32.wire_count = st.wire_count;
    s32.zero_fill_count = hs_pages32(st.zero_fill_count);
    s32.reactivations = hs_pages32(st.reactivations);
    s32.pageins = hs_pages32(st.pageins);
    s32.pageouts = hs_pages32(st.pageouts);
    s32.faults = hs_pages32(st.faults);
    s32.cow_faults = hs_pages32(st.cow_faults);
    s32.lookups = hs_pages32(st.lookups);
    s32.hits = hs_pages32(st.hits);
    s32.purgeable_count = st.purgeable_count;
    s32.purges = hs_pages32(st.purges);
    s32.speculative_count = st.speculative_count;
    mach_msg_type_number_t n = HOST_VM_INFO_REV0_COUNT;
    if (*count >= HOST_VM_INFO_REV2_COUNT)
        n = HOST_VM_INFO_REV2_COUNT;
    else if (*count >= HOST_VM_INFO_REV1_COUNT)
        n = HOST_VM_INFO_REV1_COUNT;
    memcpy(info, &s32, n * sizeof(integer_t));
    *count = n;
    return KERN_SUCCESS;
}

/* XNU's HOST_VM_INFO64 (vm_stats): rev0, and rev1's compressor and page-kind counts if room. */
static kern_return_t hs_vm_info64(host_info64_t info, mach_msg_type_number_t *count)
{
    if (*count < HOST_VM_INFO64_REV0_COUNT)
        return KERN_FAILURE;
    vm_statistics64_data_t st;
    if (!hs_vm_stats(&st))
        return KERN_FAILURE;
    mach_msg_type_number_t n =
        *count >= HOST_VM_INFO64_REV1_COUNT ? HOST_VM_INFO64_REV1_COUNT : HOST_VM_INFO64_REV0_COUNT;
    memcpy(info, &st, n * sizeof(integer_t));
    *count = n;
    return KERN_SUCCESS;
}

static kern_return_t hs_cpu_load(host_info_t info, mach_msg_type_number_t *count)
{
    if (*count < HOST_CPU_LOAD_INFO_COUNT)
        return KERN_FAILURE;
    host_cpu_load_info_data_t load;
    memset(&load, 0, sizeof load);
    if (!hs_cpu_ticks(-1, load.cpu_ticks))
        return KERN_FAILURE;
    memcpy(info, &load, sizeof load);
    *count = HOST_CPU_LOAD_INFO_COUNT;
    return KERN_SUCCESS;
}

/*
 * A host_statistics or host_statistics64 (`id`) on a port that is no kernel object: the MIG
 * request, to its receiver (dispatch/um_forward.h), its array up to `max` integers.
 */
static kern_return_t hs_forward(host_t port, mach_msg_id_t id, host_flavor_t flavor,
                                integer_t *info, mach_msg_type_number_t *count,
                                mach_msg_type_number_t max)
{
    const um_fw_in in[] = {UM_FW32(flavor)};
    const um_fw_array array = {info, sizeof *info, count, max};
    return um_forward_array_out(port, id, in, 1, NULL, NULL, 0, &array);
}

/*
 * XNU's host_statistics flavours umach answers. HOST_LOAD_INFO is not one: Darwin's averages
 * are over 5 s, 30 s and 1 min, which Linux does not keep (KERN_INVALID_ARGUMENT, as for a
 * flavour XNU does not know).
 */
static kern_return_t hs_statistics(host_flavor_t flavor, host_info_t info,
                                   mach_msg_type_number_t *count)
{
    switch (flavor) {
    case HOST_VM_INFO:
        return hs_vm_info(info, count);
    case HOST_CPU_LOAD_INFO:
        return hs_cpu_load(info, count);
    default:
        return KERN_INVALID_ARGUMENT;
    }
}

UM_EXPORT kern_return_t host_statistics(host_t host_priv, host_flavor_t flavor,
                                        host_info_t host_info_out,
                                        mach_msg_type_number_t *host_info_outCnt)
{
    UM_CALL_SCOPE;
    kern_return_t kr = um_embedded_host_check(host_priv);
    if (kr == KERN_INVALID_CAPABILITY && um_forward_ordinary(host_priv))
        return hs_forward(host_priv, UM_MIG_HOST_STATISTICS, flavor, host_info_out,
                          host_info_outCnt, UM_FW_HOST_INFO_MAX);
    if (kr == KERN_INVALID_CAPABILITY)
        return KERN_INVALID_HOST; /* a port, but not a host: the server sees HOST_NULL */
    if (kr != KERN_SUCCESS)
        return MACH_SEND_INVALID_DEST;
    return hs_statistics(flavor, host_info_out, host_info_outCnt);
}

UM_EXPORT kern_return_t host_statistics64(host_t host_priv, host_flavor_t flavor,
                                          host_info64_t host_info64_out,
                                          mach_msg_type_number_t *host_info64_outCnt)
{
    UM_CALL_SCOPE;
    kern_return_t kr = um_embedded_host_check(host_priv);
    if (kr == KERN_INVALID_CAPABILITY && um_forward_ordinary(host_priv))
        return hs_forward(host_priv, UM_MIG_HOST_STATISTICS64, flavor, host_info64_out,
                          host_info64_outCnt, UM_FW_HOST_INFO64_MAX);
    if (kr == KERN_INVALID_CAPABILITY)
        return KERN_INVALID_HOST;
    if (kr != KERN_SUCCESS)
        return MACH_SEND_INVALID_DEST;
    if (flavor != HOST_VM_INFO64)
        return hs_statistics(flavor, host_info64_out, host_info64_outCnt);
    return hs_vm_info64(host_info64_out, host_info64_outCnt);
}

/*
 * One record per configured processor (XNU's processor_count), in memory from vm_allocate
 * that the caller owns. An offline processor is not running and has no ticks of its own.
 */
UM_EXPORT kern_return_t host_processor_info(host_t host, processor_flavor_t flavor,
                                            natural_t *out_processor_count,
                                            processor_info_array_t *out_processor_info,
                                            mach_msg_type_number_t *out_processor_infoCnt)
{
    UM_CALL_SCOPE;
    kern_return_t kr = um_embedded_host_check(host);
    if (kr == KERN_INVALID_CAPABILITY && um_forward_ordinary(host)) {
        /* Another port: the MIG request, to its receiver; the records come out of line. */
        const um_fw_in in[] = {UM_FW32(flavor)};
        const um_fw_out out[] = {UM_FWOUT(out_processor_count)};
        const um_fw_ool ool = {out_processor_info, out_processor_infoCnt, sizeof(integer_t)};
        return um_forward_ool_out(host, UM_MIG_HOST_PROCESSOR_INFO, in, 1, out, 1, &ool, 1);
    }
    if (kr == KERN_INVALID_CAPABILITY)
        return KERN_INVALID_ARGUMENT;
    if (kr != KERN_SUCCESS)
        return MACH_SEND_INVALID_DEST;
    mach_msg_type_number_t icount;
    if (flavor == PROCESSOR_BASIC_INFO)
        icount = PROCESSOR_BASIC_INFO_COUNT;
    else if (flavor == PROCESSOR_CPU_LOAD_INFO)
        icount = PROCESSOR_CPU_LOAD_INFO_COUNT;
    else
        return KERN_FAILURE; /* XNU's cpu_info_count for a flavour it has not */
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    natural_t pcount = conf > 0 ? (natural_t)conf : 1;
    vm_address_t addr = 0;
    vm_size_t size = (vm_size_t)pcount * icount * sizeof(natural_t);
    if (vm_allocate(mach_task_self(), &addr, size, VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
        return KERN_RESOURCE_SHORTAGE;
    host_basic_info_data_t hb;
    memset(&hb, 0, sizeof hb);
    mach_msg_type_number_t n = HOST_BASIC_INFO_COUNT;
    if (flavor == PROCESSOR_BASIC_INFO &&
        (kr = host_info(host, HOST_BASIC_INFO, (host_info_t)&hb, &n)) != KERN_SUCCESS) {
        (void)vm_deallocate(mach_task_self(), addr, size);
        return kr;
    }
    integer_t *out = (integer_t *)addr;
    for (natural_t i = 0; i < pcount; i++, out += icount) {
        natural_t ticks[CPU_STATE_MAX] = {0};
        bool online = hs_cpu_ticks((int)i, ticks);
        if (flavor == PROCESSOR_CPU_LOAD_INFO) {
            memcpy(out, ticks, sizeof ticks);
            continue;
        }
        processor_basic_info_data_t b;
        memset(&b, 0, sizeof b);
        b.cpu_type = hb.cpu_type;
        b.cpu_subtype = hb.cpu_subtype;
        b.running = online;
        b.slot_num = (int)i;
        b.is_master = i == 0;
        memcpy(out, &b, sizeof b);
    }
    *out_processor_count = pcount;
    *out_processor_info = (processor_info_array_t)addr;
    *out_processor_infoCnt = pcount * icount;
    return KERN_SUCCESS;
}
