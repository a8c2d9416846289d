/*
 * task_info.c — task_info on the caller's own task: the basic-info flavours describe its
 * memory (the address space's size, the resident and peak resident bytes, which grow when
 * fresh pages are touched) and the CPU time of its threads that ended, TASK_THREAD_TIMES_INFO
 * that of its live threads; every task runs (suspend_count 0) under POLICY_TIMESHARE.
 * TASK_VM_INFO answers the largest revision of task_vm_info the caller's count holds (at
 * least revision 0) and that revision's count; its phys_footprint follows memory the task
 * touches and gives back. TASK_EVENTS_INFO counts the task's page faults. A count below the
 * flavour's (revision 0's) and an unknown flavour are KERN_INVALID_ARGUMENT, as XNU's
 * task_info. TASK_EVENTS_INFO also counts the messages the task sent and took from its
 * queues.
 */
#include "mt.h"

#include <mach/mach.h>
#include <mach/mach_vm.h>
#include <mach/task_info.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define TASK mach_task_self()
#define MIB (1024ull * 1024ull)

static uint64_t time_us(time_value_t t)
{
    return (uint64_t)t.seconds * 1000000u + (uint64_t)t.microseconds;
}

/* task_info's `flavor` of this task into `info` (`size` bytes, `count` integers); when the call
 * fails or answers another count, every byte is `fill` instead (for the checks to fail). */
static void own_info(task_flavor_t flavor, void *info, size_t size, mach_msg_type_number_t count,
                     int fill)
{
    memset(info, 0, size);
    mach_msg_type_number_t cnt = count;
    if (task_info(TASK, flavor, (task_info_t)info, &cnt) != KERN_SUCCESS || cnt != count)
        memset(info, fill, size);
}

static mach_task_basic_info_data_t basic_info(void)
{
    mach_task_basic_info_data_t info;
    own_info(MACH_TASK_BASIC_INFO, &info, sizeof info, MACH_TASK_BASIC_INFO_COUNT, 0);
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

/*
 * Is `got` the count of a revision of task_vm_info XNU defines, no larger than `asked`? A
 * kernel older than the SDK answers its own latest revision (macOS 14 answers revision 6's 89
 * words to the macOS 15 SDK's 93), so the whole structure's count is not always what comes
 * back. The revisions are those this SDK defines.
 */
static bool vm_info_count_ok(mach_msg_type_number_t got, mach_msg_type_number_t asked)
{
    static const mach_msg_type_number_t revs[] = {
        TASK_VM_INFO_REV0_COUNT, TASK_VM_INFO_REV1_COUNT, TASK_VM_INFO_REV2_COUNT,
        TASK_VM_INFO_REV3_COUNT, TASK_VM_INFO_REV4_COUNT, TASK_VM_INFO_REV5_COUNT,
#ifdef TASK_VM_INFO_REV6_COUNT
        TASK_VM_INFO_REV6_COUNT,
#endif
#ifdef TASK_VM_INFO_REV7_COUNT
        TASK_VM_INFO_REV7_COUNT,
#endif
#ifdef TASK_VM_INFO_REV8_COUNT
        TASK_VM_INFO_REV8_COUNT,
#endif
        TASK_VM_INFO_COUNT,
    };
    if (got > asked)
        return false;
    for (size_t i = 0; i < sizeof revs / sizeof revs[0]; i++)
        if (got == revs[i])
            return true;
    return false;
}

/* TASK_VM_INFO asked with the whole structure's count: the fields of the revision that comes
 * back, its count in *got, the others 0 (all 0 when the call fails or the count is none of a
 * revision's). */
static task_vm_info_data_t vm_info(mach_msg_type_number_t *got)
{
    task_vm_info_data_t vmi;
    memset(&vmi, 0, sizeof vmi);
    mach_msg_type_number_t cnt = TASK_VM_INFO_COUNT;
    if (task_info(TASK, TASK_VM_INFO, (task_info_t)&vmi, &cnt) != KERN_SUCCESS ||
        !vm_info_count_ok(cnt, TASK_VM_INFO_COUNT)) {
        memset(&vmi, 0, sizeof vmi);
        cnt = 0;
    }
    *got = cnt;
    return vmi;
}

/* `size` bytes of fresh memory from vm_allocate, one byte of each page written. */
static mach_vm_address_t touched_memory(mach_vm_size_t size)
{
    mach_vm_address_t a = 0;
    if (mach_vm_allocate(TASK, &a, size, VM_FLAGS_ANYWHERE) != KERN_SUCCESS)
        return 0;
    for (mach_vm_size_t at = 0; at < size; at += vm_page_size)
        ((volatile char *)(uintptr_t)a)[at] = 1;
    return a;
}

MT_TEST(task_vm_info_with_the_whole_count_describes_the_tasks_memory)
{
    task_vm_info_data_t vmi;
    memset(&vmi, 0, sizeof vmi);
    mach_msg_type_number_t cnt = TASK_VM_INFO_COUNT;
    MT_KR(task_info(TASK, TASK_VM_INFO, (task_info_t)&vmi, &cnt), KERN_SUCCESS);
    /* The kernel's latest revision: the SDK's, or an earlier one on an older kernel. */
    MT_CHECK(vm_info_count_ok(cnt, TASK_VM_INFO_COUNT));
    mach_msg_type_number_t whole = cnt;
    MT_CHECK(vmi.resident_size > 0);
    MT_CHECK(vmi.virtual_size >= vmi.resident_size);
    MT_CHECK(vmi.resident_size_peak >= vmi.resident_size);
    MT_EQ((vm_size_t)vmi.page_size, vm_page_size);
    MT_CHECK(vmi.region_count > 0);
    MT_CHECK(vmi.internal + vmi.compressed > 0);
    if (cnt >= TASK_VM_INFO_REV1_COUNT)
        MT_CHECK(vmi.phys_footprint > 0);
    if (cnt >= TASK_VM_INFO_REV2_COUNT) {
        MT_CHECK(vmi.min_address < vmi.max_address);
        MT_CHECK((mach_vm_address_t)(uintptr_t)&vmi >= vmi.min_address);
        MT_CHECK((mach_vm_address_t)(uintptr_t)&vmi < vmi.max_address);
    }

    /* TASK_VM_INFO_PURGEABLE: the same structure, with the same count. */
    memset(&vmi, 0, sizeof vmi);
    cnt = TASK_VM_INFO_COUNT;
    MT_KR(task_info(TASK, TASK_VM_INFO_PURGEABLE, (task_info_t)&vmi, &cnt), KERN_SUCCESS);
    MT_EQ(cnt, whole);
    MT_CHECK(vmi.resident_size > 0 && vmi.virtual_size >= vmi.resident_size);
    MT_EQ((vm_size_t)vmi.page_size, vm_page_size);
}

MT_TEST(task_vm_info_answers_the_largest_revision_the_count_holds_and_writes_no_further)
{
    /* A count asked for, and the revision's that comes back. */
    static const mach_msg_type_number_t counts[][2] = {
        {TASK_VM_INFO_REV0_COUNT, TASK_VM_INFO_REV0_COUNT},
        {TASK_VM_INFO_REV0_COUNT + 1, TASK_VM_INFO_REV0_COUNT},
        {TASK_VM_INFO_REV1_COUNT, TASK_VM_INFO_REV1_COUNT},
        {TASK_VM_INFO_REV1_COUNT + 3, TASK_VM_INFO_REV1_COUNT},
        {TASK_VM_INFO_REV2_COUNT, TASK_VM_INFO_REV2_COUNT},
        {TASK_VM_INFO_REV3_COUNT - 1, TASK_VM_INFO_REV2_COUNT},
        {TASK_VM_INFO_REV3_COUNT, TASK_VM_INFO_REV3_COUNT},
        {TASK_VM_INFO_REV3_COUNT + 1, TASK_VM_INFO_REV3_COUNT},
        {TASK_VM_INFO_REV4_COUNT, TASK_VM_INFO_REV4_COUNT},
        {TASK_VM_INFO_REV5_COUNT, TASK_VM_INFO_REV5_COUNT},
        {TASK_VM_INFO_REV5_COUNT + 1, TASK_VM_INFO_REV5_COUNT},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        integer_t buf[TASK_VM_INFO_COUNT + 8];
        memset(buf, 0xa5, sizeof buf);
        mach_msg_type_number_t cnt = counts[i][0];
        MT_KR(task_info(TASK, TASK_VM_INFO, buf, &cnt), KERN_SUCCESS);
        MT_EQ(cnt, counts[i][1]);
        /* Nothing is written past the count that came back. */
        for (size_t w = counts[i][1]; w < sizeof buf / sizeof buf[0]; w++)
            MT_EQ((uint32_t)buf[w], 0xa5a5a5a5u);
        task_vm_info_data_t vmi;
        memcpy(&vmi, buf, sizeof vmi);
        MT_CHECK(vmi.resident_size > 0 && vmi.virtual_size >= vmi.resident_size);
        MT_EQ((vm_size_t)vmi.page_size, vm_page_size);
    }
}

MT_TEST(phys_footprint_grows_with_touched_memory_and_shrinks_when_it_is_deallocated)
{
    mach_vm_size_t size = 64 * MIB;
    mach_msg_type_number_t got = 0;
    task_vm_info_data_t before = vm_info(&got);
    /* phys_footprint is revision 1's. */
    MT_REQUIRE(got >= TASK_VM_INFO_REV1_COUNT);
    MT_CHECK(before.phys_footprint > 0);
    mach_vm_address_t a = touched_memory(size);
    MT_REQUIRE(a != 0);
    task_vm_info_data_t touched = vm_info(&got);
    MT_REQUIRE(got >= TASK_VM_INFO_REV1_COUNT);
    /* Three quarters of the touched bytes, at least: the machine may reclaim others. Under
     * memory pressure touched pages leave the resident set for the compressor (macOS) or swap
     * (Linux), where phys_footprint still counts them, and so does compressed. */
    MT_CHECK(touched.phys_footprint >= before.phys_footprint + size * 3 / 4);
    MT_CHECK(touched.internal + touched.compressed >=
             before.internal + before.compressed + size * 3 / 4);
    MT_CHECK(touched.resident_size + touched.compressed >=
             before.resident_size + before.compressed + size * 3 / 4);
    MT_CHECK(touched.virtual_size >= before.virtual_size + size * 3 / 4);
    MT_KR(mach_vm_deallocate(TASK, a, size), KERN_SUCCESS);
    task_vm_info_data_t after = vm_info(&got);
    MT_REQUIRE(got >= TASK_VM_INFO_REV1_COUNT);
    MT_CHECK(after.phys_footprint + size * 3 / 4 <= touched.phys_footprint);
    MT_CHECK(after.virtual_size + size * 3 / 4 <= touched.virtual_size);
}

MT_TEST(task_events_info_counts_the_faults_of_touching_fresh_pages)
{
    task_events_info_data_t before, after;
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    mach_msg_type_number_t cnt = TASK_EVENTS_INFO_COUNT + 3;
    MT_KR(task_info(TASK, TASK_EVENTS_INFO, (task_info_t)&before, &cnt), KERN_SUCCESS);
    MT_EQ(cnt, TASK_EVENTS_INFO_COUNT);
    mach_vm_size_t size = 8 * MIB;
    mach_vm_address_t a = touched_memory(size);
    MT_REQUIRE(a != 0);
    nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL); /* a sleep is a context switch */
    cnt = TASK_EVENTS_INFO_COUNT;
    MT_KR(task_info(TASK, TASK_EVENTS_INFO, (task_info_t)&after, &cnt), KERN_SUCCESS);
    MT_EQ(cnt, TASK_EVENTS_INFO_COUNT);
    /* A fault per page, give or take: half of them at least. */
    MT_CHECK(after.faults - before.faults >= (integer_t)(size / vm_page_size / 2));
    MT_CHECK(after.pageins >= before.pageins);
    MT_CHECK(after.pageins <= after.faults);
    MT_CHECK(after.csw > 0);
    MT_KR(mach_vm_deallocate(TASK, a, size), KERN_SUCCESS);
}

static task_events_info_data_t events_info(void)
{
    task_events_info_data_t e;
    own_info(TASK_EVENTS_INFO, &e, sizeof e, TASK_EVENTS_INFO_COUNT, 0xff);
    return e;
}

/*
 * Each round sends a message to a port of the task's and takes it from the queue: one message
 * sent and one received. XNU also counts the messages of its own MIG calls (task_info is
 * one): a few more, never fewer.
 */
MT_TEST(task_events_info_counts_the_messages_the_task_sent_and_took_from_its_queues)
{
    enum { ROUNDS = 200, SLACK = 16 };
    mach_port_t port = MACH_PORT_NULL;
    MT_KR(mach_port_allocate(TASK, MACH_PORT_RIGHT_RECEIVE, &port), KERN_SUCCESS);
    MT_KR(mach_port_insert_right(TASK, port, port, MACH_MSG_TYPE_MAKE_SEND), KERN_SUCCESS);
    task_events_info_data_t before = events_info();
    MT_REQUIRE(before.messages_sent >= 0 && before.messages_received >= 0);
    for (int i = 0; i < ROUNDS; i++) {
        struct {
            mach_msg_header_t h;
            mach_msg_trailer_t t;
        } m;
        memset(&m, 0, sizeof m);
        m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
        m.h.msgh_size = sizeof m.h;
        m.h.msgh_remote_port = port;
        m.h.msgh_id = i;
        MT_KR(mach_msg(&m.h, MACH_SEND_MSG, sizeof m.h, 0, MACH_PORT_NULL, MACH_MSG_TIMEOUT_NONE,
                       MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
        MT_KR(mach_msg(&m.h, MACH_RCV_MSG, 0, sizeof m, port, MACH_MSG_TIMEOUT_NONE,
                       MACH_PORT_NULL),
              MACH_MSG_SUCCESS);
        MT_EQ(m.h.msgh_id, i);
    }
    task_events_info_data_t after = events_info();
    MT_CHECK(after.messages_sent - before.messages_sent >= ROUNDS);
    MT_CHECK(after.messages_sent - before.messages_sent <= ROUNDS + SLACK);
    MT_CHECK(after.messages_received - before.messages_received >= ROUNDS);
    MT_CHECK(after.messages_received - before.messages_received <= ROUNDS + SLACK);
    /*
     * A send that times out on a full queue is no message sent, nor a receive that times out
     * one received: ROUNDS of each against one message sent and received.
     */
    mach_port_limits_t lim = {.mpl_qlimit = 1};
    MT_KR(mach_port_set_attributes(TASK, port, MACH_PORT_LIMITS_INFO, (mach_port_info_t)&lim,
                                   MACH_PORT_LIMITS_INFO_COUNT),
          KERN_SUCCESS);
    before = events_info();
    mach_msg_header_t h;
    for (int i = 0; i <= ROUNDS; i++) {
        memset(&h, 0, sizeof h);
        h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
        h.msgh_size = sizeof h;
        h.msgh_remote_port = port;
        MT_KR(mach_msg(&h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, sizeof h, 0, MACH_PORT_NULL, 0,
                       MACH_PORT_NULL),
              i == 0 ? MACH_MSG_SUCCESS : MACH_SEND_TIMED_OUT);
    }
    for (int i = 0; i <= ROUNDS; i++) {
        struct {
            mach_msg_header_t h;
            mach_msg_trailer_t t;
        } m;
        MT_KR(mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, port, 0,
                       MACH_PORT_NULL),
              i == 0 ? MACH_MSG_SUCCESS : MACH_RCV_TIMED_OUT);
    }
    after = events_info();
    MT_CHECK(after.messages_sent - before.messages_sent >= 1);
    MT_CHECK(after.messages_sent - before.messages_sent <= 1 + SLACK);
    MT_CHECK(after.messages_received - before.messages_received >= 1);
    MT_CHECK(after.messages_received - before.messages_received <= 1 + SLACK);
    MT_KR(mach_port_mod_refs(TASK, port, MACH_PORT_RIGHT_RECEIVE, -1), KERN_SUCCESS);
    MT_KR(mach_port_deallocate(TASK, port), KERN_SUCCESS);
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
    cnt = TASK_EVENTS_INFO_COUNT - 1;
    MT_KR(task_info(TASK, TASK_EVENTS_INFO, buf, &cnt), KERN_INVALID_ARGUMENT);
    /* TASK_VM_INFO's smallest count is revision 0's; the count is left as it was. */
    integer_t vm[TASK_VM_INFO_COUNT];
    cnt = TASK_VM_INFO_REV0_COUNT - 1;
    MT_KR(task_info(TASK, TASK_VM_INFO, vm, &cnt), KERN_INVALID_ARGUMENT);
    MT_EQ(cnt, TASK_VM_INFO_REV0_COUNT - 1);
    cnt = TASK_VM_INFO_REV0_COUNT - 1;
    MT_KR(task_info(TASK, TASK_VM_INFO_PURGEABLE, vm, &cnt), KERN_INVALID_ARGUMENT);
    cnt = 0;
    MT_KR(task_info(TASK, TASK_VM_INFO, vm, &cnt), KERN_INVALID_ARGUMENT);
    cnt = 64;
    MT_KR(task_info(TASK, 9999, buf, &cnt), KERN_INVALID_ARGUMENT);
}

MT_MAIN()
