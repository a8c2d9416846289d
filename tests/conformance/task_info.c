/*
 * task_info.c — task_info on the caller's own task: the basic-info flavours describe its
 * memory (the address space's size, the resident and peak resident bytes, which grow when
 * fresh pages are touched) and the CPU time of its threads that ended, TASK_THREAD_TIMES_INFO
 * that of its live threads; every task runs (suspend_count 0) under POLICY_TIMESHARE. A count
 * below the flavour's and an unknown flavour are KERN_INVALID_ARGUMENT, as XNU's task_info.
 */
#include "mt.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <mach/task_info.h>

#include <pthread.h>
#include <string.h>
#include <time.h>

#define TASK mach_task_self()
#define MIB (1024ull * 1024ull)

static uint64_t time_us(time_value_t t)
{
    return (uint64_t)t.seconds * 1000000u + (uint64_t)t.microseconds;
}

static mach_task_basic_info_data_t basic_info(void)
{
    mach_task_basic_info_data_t info;
    memset(&info, 0, sizeof info);
    mach_msg_type_number_t cnt = MACH_TASK_BASIC_INFO_COUNT;
    if (task_info(TASK, MACH_TASK_BASIC_INFO, (task_info_t)&info, &cnt) != KERN_SUCCESS ||
        cnt != MACH_TASK_BASIC_INFO_COUNT)
        memset(&info, 0, sizeof info);
    return info;
}

/* This thread's CPU time, in microseconds. */
static uint64_t thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Spin until this thread has used `us` more microseconds of CPU (however long that takes). */
static void burn_cpu(uint64_t us)
{
    uint64_t until = thread_cpu_us() + us;
    while (thread_cpu_us() < until)
        continue; /* reading the clock is the work */
}

static void *burner(void *arg)
{
    burn_cpu(*(const uint64_t *)arg);
    return NULL;
}

MT_TEST(mach_task_basic_info_of_the_caller_says_its_memory_grows_when_pages_are_touched)
{
    mach_task_basic_info_data_t before = basic_info();
    MT_CHECK(before.resident_size > 0);
    MT_CHECK(before.virtual_size >= before.resident_size);
    MT_CHECK(before.resident_size_max >= before.resident_size);
    MT_EQ(before.policy, POLICY_TIMESHARE);
    MT_EQ(before.suspend_count, 0);

    mach_vm_address_t a = 0;
    mach_vm_size_t size = 32 * MIB;
    MT_KR(mach_vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    for (mach_vm_size_t at = 0; at < size; at += 4096)
        ((volatile char *)(uintptr_t)a)[at] = 1;
    mach_task_basic_info_data_t after = basic_info();
    /* Half the touched bytes, at least: the machine may reclaim other pages meanwhile. */
    MT_CHECK(after.virtual_size >= before.virtual_size + size / 2);
    MT_CHECK(after.resident_size >= before.resident_size + size / 2);
    MT_CHECK(after.resident_size_max >= after.resident_size);
    MT_KR(mach_vm_deallocate(TASK, a, size), KERN_SUCCESS);
}

MT_TEST(basic_info_flavors_agree_and_say_how_much_they_wrote)
{
    task_basic_info_64_data_t b64;
    mach_msg_type_number_t cnt = TASK_BASIC_INFO_64_COUNT + 5;
    MT_KR(task_info(TASK, TASK_BASIC_INFO_64, (task_info_t)&b64, &cnt), KERN_SUCCESS);
    MT_EQ(cnt, TASK_BASIC_INFO_64_COUNT);
    MT_CHECK(b64.resident_size > 0 && b64.virtual_size >= b64.resident_size);
    MT_EQ(b64.policy, POLICY_TIMESHARE);
    MT_EQ(b64.suspend_count, 0);

    task_basic_info_data_t b;
    cnt = TASK_BASIC_INFO_COUNT;
    MT_KR(task_info(TASK, TASK_BASIC_INFO, (task_info_t)&b, &cnt), KERN_SUCCESS);
    MT_EQ(cnt, TASK_BASIC_INFO_COUNT);
    MT_CHECK(b.resident_size > 0 && b.virtual_size >= b.resident_size);

    task_basic_info_32_data_t b32;
    cnt = TASK_BASIC_INFO_32_COUNT;
    MT_KR(task_info(TASK, TASK_BASIC_INFO_32, (task_info_t)&b32, &cnt), KERN_SUCCESS);
    MT_EQ(cnt, TASK_BASIC_INFO_32_COUNT);
    MT_CHECK(b32.resident_size > 0);
    MT_EQ(b32.policy, POLICY_TIMESHARE);
    cnt = TASK_BASIC_INFO_32_COUNT;
    MT_KR(task_info(TASK, TASK_BASIC2_INFO_32, (task_info_t)&b32, &cnt), KERN_SUCCESS);
    MT_EQ(cnt, TASK_BASIC_INFO_32_COUNT);
    MT_CHECK(b32.resident_size > 0); /* the peak resident size */
}

MT_TEST(a_thread_that_ended_adds_its_cpu_time_to_basic_info_and_a_live_one_to_thread_times)
{
    mach_task_basic_info_data_t before = basic_info();
    uint64_t spin = 300000; /* 0.3 s of CPU; ticks of 10 ms make the bounds below generous */
    pthread_t t;
    MT_REQUIRE(pthread_create(&t, NULL, burner, &spin) == 0);
    MT_REQUIRE(pthread_join(t, NULL) == 0);
    mach_task_basic_info_data_t after = basic_info();
    uint64_t ended = time_us(after.user_time) + time_us(after.system_time) -
                     (time_us(before.user_time) + time_us(before.system_time));
    MT_CHECK(ended >= spin / 2);

    task_thread_times_info_data_t t0, t1;
    mach_msg_type_number_t cnt = TASK_THREAD_TIMES_INFO_COUNT;
    MT_KR(task_info(TASK, TASK_THREAD_TIMES_INFO, (task_info_t)&t0, &cnt), KERN_SUCCESS);
    MT_EQ(cnt, TASK_THREAD_TIMES_INFO_COUNT);
    burn_cpu(spin);
    cnt = TASK_THREAD_TIMES_INFO_COUNT;
    MT_KR(task_info(TASK, TASK_THREAD_TIMES_INFO, (task_info_t)&t1, &cnt), KERN_SUCCESS);
    uint64_t live = time_us(t1.user_time) + time_us(t1.system_time) -
                    (time_us(t0.user_time) + time_us(t0.system_time));
    MT_CHECK(live >= spin / 2);
}

MT_TEST(a_short_count_or_an_unknown_flavor_is_invalid_argument)
{
    integer_t buf[64];
    mach_msg_type_number_t cnt = MACH_TASK_BASIC_INFO_COUNT - 1;
    MT_KR(task_info(TASK, MACH_TASK_BASIC_INFO, buf, &cnt), KERN_INVALID_ARGUMENT);
    cnt = TASK_BASIC_INFO_64_COUNT - 1;
    MT_KR(task_info(TASK, TASK_BASIC_INFO_64, buf, &cnt), KERN_INVALID_ARGUMENT);
    cnt = TASK_BASIC_INFO_32_COUNT - 1;
    MT_KR(task_info(TASK, TASK_BASIC_INFO_32, buf, &cnt), KERN_INVALID_ARGUMENT);
    cnt = TASK_THREAD_TIMES_INFO_COUNT - 1;
    MT_KR(task_info(TASK, TASK_THREAD_TIMES_INFO, buf, &cnt), KERN_INVALID_ARGUMENT);
    cnt = 64;
    MT_KR(task_info(TASK, 9999, buf, &cnt), KERN_INVALID_ARGUMENT);
}

MT_MAIN()
