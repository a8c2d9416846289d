/*
 * host_statistics.c — host_statistics / host_statistics64 (HOST_VM_INFO, HOST_VM_INFO64,
 * HOST_CPU_LOAD_INFO) and host_processor_info (PROCESSOR_CPU_LOAD_INFO, PROCESSOR_BASIC_INFO)
 * describe the machine as XNU's host.c does: page counts within its memory, a fault count that
 * grows with the pages this test touches, CPU ticks (1/100 s) that grow while it spins, one
 * record per processor whose ticks add up to the machine's; XNU's codes for a short count, an
 * unknown flavour and a port that is not the host's.
 */
#include "notify_util.h"

#include <mach/host_info.h>
#include <mach/mach_host.h>
#include <mach/processor_info.h>

#include <time.h>
#include <unistd.h>

/*
 * Darwin answers a process that asks too often (between 2 and 10 calls a second) with its
 * last answer: wait out the window before a reading that must be fresh.
 */
static void hs_fresh_window(void)
{
#ifdef __APPLE__
    struct timespec t = {1, 100000000};
    nanosleep(&t, NULL);
#endif
}

static uint64_t hs_max_mem(mach_port_t host)
{
    host_basic_info_data_t b;
    mach_msg_type_number_t n = HOST_BASIC_INFO_COUNT;
    if (host_info(host, HOST_BASIC_INFO, (host_info_t)&b, &n) != KERN_SUCCESS)
        return 0;
    return b.max_mem;
}

static double hs_thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t hs_busy_ticks(const natural_t t[CPU_STATE_MAX])
{
    return (uint64_t)t[CPU_STATE_USER] + t[CPU_STATE_SYSTEM] + t[CPU_STATE_NICE];
}

/* What the spinning loops write, so that they are not optimised away. */
static volatile unsigned hs_sink;

MT_TEST(host_vm_info64_counts_fit_the_memory_and_faults_grow_with_touched_pages)
{
    mach_port_t host = mach_host_self();
    uint64_t pages = hs_max_mem(host) / vm_page_size;
    MT_CHECK(pages > 0);
    vm_statistics64_data_t a, b;
    mach_msg_type_number_t n = HOST_VM_INFO64_COUNT;
    MT_KR(host_statistics64(host, HOST_VM_INFO64, (host_info64_t)&a, &n), KERN_SUCCESS);
    MT_EQ(n, HOST_VM_INFO64_COUNT);
    MT_CHECK(a.free_count > 0);
    MT_CHECK(a.active_count + (uint64_t)a.inactive_count > 0);
    MT_CHECK((uint64_t)a.free_count + a.active_count + a.inactive_count + a.wire_count <= pages);
    MT_CHECK(a.internal_page_count <= pages);
    MT_CHECK(a.faults > 0);

    const int touched = 64;
    vm_address_t addr = 0;
    MT_KR(vm_allocate(TASK, &addr, (vm_size_t)touched * vm_page_size, VM_FLAGS_ANYWHERE),
          KERN_SUCCESS);
    for (int i = 0; i < touched; i++)
        ((volatile char *)addr)[(size_t)i * vm_page_size] = 1;
    hs_fresh_window();
    n = HOST_VM_INFO64_COUNT;
    MT_KR(host_statistics64(host, HOST_VM_INFO64, (host_info64_t)&b, &n), KERN_SUCCESS);
    MT_CHECK(b.faults >= a.faults + (uint64_t)touched);
    MT_KR(vm_deallocate(TASK, addr, (vm_size_t)touched * vm_page_size), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_TEST(a_short_count_gets_the_revision_that_fits_and_less_than_rev0_fails)
{
    mach_port_t host = mach_host_self();
    vm_statistics64_data_t s64;
    mach_msg_type_number_t n = HOST_VM_INFO64_REV0_COUNT;
    MT_KR(host_statistics64(host, HOST_VM_INFO64, (host_info64_t)&s64, &n), KERN_SUCCESS);
    MT_EQ(n, HOST_VM_INFO64_REV0_COUNT);
    n = HOST_VM_INFO64_REV0_COUNT - 1;
    MT_KR(host_statistics64(host, HOST_VM_INFO64, (host_info64_t)&s64, &n), KERN_FAILURE);

    vm_statistics_data_t s32;
    hs_fresh_window();
    n = HOST_VM_INFO_COUNT;
    MT_KR(host_statistics(host, HOST_VM_INFO, (host_info_t)&s32, &n), KERN_SUCCESS);
    MT_EQ(n, HOST_VM_INFO_REV2_COUNT);
    MT_CHECK(s32.free_count > 0);
    n = HOST_VM_INFO_REV1_COUNT;
    MT_KR(host_statistics(host, HOST_VM_INFO, (host_info_t)&s32, &n), KERN_SUCCESS);
    MT_EQ(n, HOST_VM_INFO_REV1_COUNT);
    n = HOST_VM_INFO_REV0_COUNT - 1;
    MT_KR(host_statistics(host, HOST_VM_INFO, (host_info_t)&s32, &n), KERN_FAILURE);
    host_cpu_load_info_data_t load;
    n = HOST_CPU_LOAD_INFO_COUNT - 1;
    MT_KR(host_statistics(host, HOST_CPU_LOAD_INFO, (host_info_t)&load, &n), KERN_FAILURE);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_TEST(host_cpu_load_ticks_grow_while_this_thread_spins)
{
    mach_port_t host = mach_host_self();
    host_cpu_load_info_data_t a, b;
    mach_msg_type_number_t n = HOST_CPU_LOAD_INFO_COUNT;
    MT_KR(host_statistics(host, HOST_CPU_LOAD_INFO, (host_info_t)&a, &n), KERN_SUCCESS);
    MT_EQ(n, HOST_CPU_LOAD_INFO_COUNT);
    MT_CHECK(a.cpu_ticks[CPU_STATE_IDLE] + hs_busy_ticks(a.cpu_ticks) > 0);
    /* 0.3 s of this thread's own CPU time: 30 ticks in some busy state. */
    double start = hs_thread_cpu();
    while (hs_thread_cpu() - start < 0.3)
        for (int i = 0; i < 10000; i++)
            hs_sink += (unsigned)i;
    hs_fresh_window();
    n = HOST_CPU_LOAD_INFO_COUNT;
    MT_KR(host_statistics(host, HOST_CPU_LOAD_INFO, (host_info_t)&b, &n), KERN_SUCCESS);
    MT_CHECK(hs_busy_ticks(b.cpu_ticks) >= hs_busy_ticks(a.cpu_ticks) + 15);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_TEST(host_processor_info_gives_each_processors_ticks_adding_up_to_the_machines)
{
    mach_port_t host = mach_host_self();
    host_cpu_load_info_data_t before, after;
    mach_msg_type_number_t n = HOST_CPU_LOAD_INFO_COUNT;
    MT_KR(host_statistics(host, HOST_CPU_LOAD_INFO, (host_info_t)&before, &n), KERN_SUCCESS);
    natural_t count = 0;
    processor_info_array_t info = NULL;
    mach_msg_type_number_t info_cnt = 0;
    MT_KR(host_processor_info(host, PROCESSOR_CPU_LOAD_INFO, &count, &info, &info_cnt),
          KERN_SUCCESS);
    hs_fresh_window();
    n = HOST_CPU_LOAD_INFO_COUNT;
    MT_KR(host_statistics(host, HOST_CPU_LOAD_INFO, (host_info_t)&after, &n), KERN_SUCCESS);
    MT_EQ((long)count, sysconf(_SC_NPROCESSORS_CONF));
    MT_EQ(info_cnt, count * PROCESSOR_CPU_LOAD_INFO_COUNT);
    uint64_t sum[CPU_STATE_MAX] = {0};
    for (natural_t i = 0; i < count; i++)
        for (int s = 0; s < CPU_STATE_MAX; s++)
            sum[s] += (natural_t)info[i * CPU_STATE_MAX + (natural_t)s];
    /* Each processor's count is rounded down on its own: allow one tick each. */
    for (int s = 0; s < CPU_STATE_MAX; s++) {
        MT_CHECK(sum[s] + count >= before.cpu_ticks[s]);
        MT_CHECK(sum[s] <= (uint64_t)after.cpu_ticks[s] + count);
    }
    MT_KR(vm_deallocate(TASK, (vm_address_t)info, info_cnt * sizeof(integer_t)), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_TEST(processor_basic_info_names_each_slot_one_master_and_the_hosts_cpu_type)
{
    mach_port_t host = mach_host_self();
    host_basic_info_data_t hb;
    mach_msg_type_number_t n = HOST_BASIC_INFO_COUNT;
    MT_KR(host_info(host, HOST_BASIC_INFO, (host_info_t)&hb, &n), KERN_SUCCESS);
    natural_t count = 0;
    processor_info_array_t info = NULL;
    mach_msg_type_number_t info_cnt = 0;
    MT_KR(host_processor_info(host, PROCESSOR_BASIC_INFO, &count, &info, &info_cnt), KERN_SUCCESS);
    MT_EQ(info_cnt, count * PROCESSOR_BASIC_INFO_COUNT);
    int masters = 0, running = 0;
    for (natural_t i = 0; i < count; i++) {
        processor_basic_info_t b = (processor_basic_info_t)(info + i * PROCESSOR_BASIC_INFO_COUNT);
        MT_EQ(b->cpu_type, hb.cpu_type);
        MT_EQ(b->slot_num, (int)i);
        masters += b->is_master != 0;
        running += b->running != 0;
    }
    MT_EQ(masters, 1);
    MT_EQ(running, hb.avail_cpus);
    MT_KR(vm_deallocate(TASK, (vm_address_t)info, info_cnt * sizeof(integer_t)), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
}

MT_TEST(an_unknown_flavor_or_a_port_that_is_not_the_hosts_gets_xnus_codes)
{
    NU_BEGIN();
    mach_port_t host = mach_host_self();
    host_info_data_t data;
    mach_msg_type_number_t n = HOST_INFO_MAX;
    MT_KR(host_statistics(host, 99, data, &n), KERN_INVALID_ARGUMENT);
    n = HOST_INFO_MAX;
    MT_KR(host_statistics64(host, 99, data, &n), KERN_INVALID_ARGUMENT);
    natural_t count = 0;
    processor_info_array_t info = NULL;
    mach_msg_type_number_t info_cnt = 0;
    MT_KR(host_processor_info(host, 99, &count, &info, &info_cnt), KERN_FAILURE);
    /* The task's port converts to no host: HOST_NULL. */
    n = HOST_VM_INFO_COUNT;
    MT_KR(host_statistics(TASK, HOST_VM_INFO, data, &n), KERN_INVALID_HOST);
    n = HOST_VM_INFO64_COUNT;
    MT_KR(host_statistics64(TASK, HOST_VM_INFO64, data, &n), KERN_INVALID_HOST);
    MT_KR(host_processor_info(TASK, PROCESSOR_BASIC_INFO, &count, &info, &info_cnt),
          KERN_INVALID_ARGUMENT);
    /* No port at all: the request has nowhere to go. */
    MT_KR(host_statistics(MACH_PORT_NULL, HOST_VM_INFO, data, &n), MACH_SEND_INVALID_DEST);
    MT_KR(mach_port_deallocate(TASK, host), KERN_SUCCESS);
    NU_END();
}

MT_MAIN()
