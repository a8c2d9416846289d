/*
 * host.c — what host_info answers, from the machine's numbers the front end reads
 * (um_machine), for the direct call (embedded/um_kobjects.c) and the host port's MIG server
 * (api/kobject_server.c) alike.
 */
#include "um_api.h"

#include <mach/mach.h>

#include <string.h>

/* The five fields of host_basic_info before cpu_threadtype (XNU accepts that short count). */
#define UM_HOST_BASIC_INFO_OLD_COUNT ((mach_msg_type_number_t)5)

kern_return_t um_api_host_info(const um_machine *machine, host_flavor_t flavor,
                               host_info_t host_info_out, mach_msg_type_number_t *host_info_outCnt)
{
    if (flavor != HOST_BASIC_INFO)
        return KERN_INVALID_ARGUMENT;
    if (*host_info_outCnt < UM_HOST_BASIC_INFO_OLD_COUNT)
        return KERN_FAILURE;
    host_basic_info_data_t info;
    memset(&info, 0, sizeof info);
    info.max_cpus = machine->cpus_max ? (integer_t)machine->cpus_max : 1;
    info.avail_cpus = machine->cpus_avail ? (integer_t)machine->cpus_avail : 1;
    uint64_t mem = machine->memory;
    info.memory_size = mem > 0x80000000u ? 0x80000000u : (natural_t)mem; /* capped as XNU does */
#if defined(__x86_64__)
    info.cpu_type = CPU_TYPE_X86_64;
    info.cpu_subtype = CPU_SUBTYPE_X86_64_ALL;
#elif defined(__aarch64__)
    info.cpu_type = CPU_TYPE_ARM64;
    info.cpu_subtype = CPU_SUBTYPE_ARM64_ALL;
#else
    info.cpu_type = CPU_TYPE_ANY;
    info.cpu_subtype = CPU_SUBTYPE_MULTIPLE;
#endif
    info.cpu_threadtype = CPU_THREADTYPE_NONE;
    info.physical_cpu = info.avail_cpus;
    info.physical_cpu_max = info.max_cpus;
    info.logical_cpu = info.avail_cpus;
    info.logical_cpu_max = info.max_cpus;
    info.max_mem = mem;
    mach_msg_type_number_t count =
        *host_info_outCnt >= HOST_BASIC_INFO_COUNT ? HOST_BASIC_INFO_COUNT : UM_HOST_BASIC_INFO_OLD_COUNT;
    memcpy(host_info_out, &info, count * sizeof(integer_t));
    *host_info_outCnt = count;
    return KERN_SUCCESS;
}
