/*
 * <mach/thread_policy.h> — umach (Darwin ABI): the flavours of thread_policy_set and
 * thread_policy_get (<mach/thread_act.h>) and their data. Each is a scheduling hint that umach
 * keeps per thread and reports back as XNU does; docs/porting.md says what Linux is told.
 *
 * get_default is in and out: TRUE going in asks for the flavour's defaults (and stays TRUE);
 * FALSE going in asks for the thread's setting, and comes back TRUE when the thread has none
 * for that flavour because another one rules it (then the defaults are reported).
 */
#ifndef _MACH_THREAD_POLICY_H_
#define _MACH_THREAD_POLICY_H_

#include <mach/boolean.h>
#include <mach/message.h>
#include <mach/vm_types.h>

#include <stdint.h>

typedef natural_t thread_policy_flavor_t;
typedef integer_t *thread_policy_t;

/* Fair timesharing, every new thread's mode; no data (a count of 0). */
#define THREAD_STANDARD_POLICY 1

struct thread_standard_policy {
    natural_t no_data;
};
typedef struct thread_standard_policy thread_standard_policy_data_t;
typedef struct thread_standard_policy *thread_standard_policy_t;
#define THREAD_STANDARD_POLICY_COUNT 0

/* The same flavour with a word: timeshare TRUE is the standard mode, FALSE a fixed priority. */
#define THREAD_EXTENDED_POLICY 1

struct thread_extended_policy {
    boolean_t timeshare;
};
typedef struct thread_extended_policy thread_extended_policy_data_t;
typedef struct thread_extended_policy *thread_extended_policy_t;
#define THREAD_EXTENDED_POLICY_COUNT                                                               \
    ((mach_msg_type_number_t)(sizeof(thread_extended_policy_data_t) / sizeof(integer_t)))

/*
 * Real-time: every `period` (0: no period) the thread needs `computation` within `constraint`,
 * all in absolute time units (mach_absolute_time's). computation must lie within the kernel's
 * bounds (50 us to 50 ms) and not exceed constraint; one below constraint / 2 is raised to it.
 * preemptible is kept and reported, not used.
 */
#define THREAD_TIME_CONSTRAINT_POLICY 2

struct thread_time_constraint_policy {
    uint32_t period;
    uint32_t computation;
    uint32_t constraint;
    boolean_t preemptible;
};
typedef struct thread_time_constraint_policy thread_time_constraint_policy_data_t;
typedef struct thread_time_constraint_policy *thread_time_constraint_policy_t;
#define THREAD_TIME_CONSTRAINT_POLICY_COUNT                                                        \
    ((mach_msg_type_number_t)(sizeof(thread_time_constraint_policy_data_t) / sizeof(integer_t)))

/* The thread's importance relative to the others of its task (signed, 0 by default). */
#define THREAD_PRECEDENCE_POLICY 3

struct thread_precedence_policy {
    integer_t importance;
};
typedef struct thread_precedence_policy thread_precedence_policy_data_t;
typedef struct thread_precedence_policy *thread_precedence_policy_t;
#define THREAD_PRECEDENCE_POLICY_COUNT                                                             \
    ((mach_msg_type_number_t)(sizeof(thread_precedence_policy_data_t) / sizeof(integer_t)))

/* Threads of one tag would rather share a cache (Intel Macs only: KERN_NOT_SUPPORTED on arm64). */
#define THREAD_AFFINITY_POLICY 4

struct thread_affinity_policy {
    integer_t affinity_tag;
};
#define THREAD_AFFINITY_TAG_NULL 0
typedef struct thread_affinity_policy thread_affinity_policy_data_t;
typedef struct thread_affinity_policy *thread_affinity_policy_t;
#define THREAD_AFFINITY_POLICY_COUNT                                                               \
    ((mach_msg_type_number_t)(sizeof(thread_affinity_policy_data_t) / sizeof(integer_t)))

/* Darwin's background state; macOS's kernel takes it from neither call (KERN_INVALID_ARGUMENT). */
#define THREAD_BACKGROUND_POLICY 5

struct thread_background_policy {
    integer_t priority;
};
#define THREAD_BACKGROUND_POLICY_DARWIN_BG 0x1000
typedef struct thread_background_policy thread_background_policy_data_t;
typedef struct thread_background_policy *thread_background_policy_t;
#define THREAD_BACKGROUND_POLICY_COUNT                                                             \
    ((mach_msg_type_number_t)(sizeof(thread_background_policy_data_t) / sizeof(integer_t)))

/* The thread's latency and throughput tiers: LATENCY_QOS_TIER_* and THROUGHPUT_QOS_TIER_*
 * (<mach/task_policy.h>), or their _UNSPECIFIED 0. */
#define THREAD_LATENCY_QOS_POLICY 7
typedef integer_t thread_latency_qos_t;

struct thread_latency_qos_policy {
    thread_latency_qos_t thread_latency_qos_tier;
};
typedef struct thread_latency_qos_policy thread_latency_qos_policy_data_t;
typedef struct thread_latency_qos_policy *thread_latency_qos_policy_t;
#define THREAD_LATENCY_QOS_POLICY_COUNT                                                            \
    ((mach_msg_type_number_t)(sizeof(thread_latency_qos_policy_data_t) / sizeof(integer_t)))

#define THREAD_THROUGHPUT_QOS_POLICY 8
typedef integer_t thread_throughput_qos_t;

struct thread_throughput_qos_policy {
    thread_throughput_qos_t thread_throughput_qos_tier;
};
typedef struct thread_throughput_qos_policy thread_throughput_qos_policy_data_t;
typedef struct thread_throughput_qos_policy *thread_throughput_qos_policy_t;
#define THREAD_THROUGHPUT_QOS_POLICY_COUNT                                                         \
    ((mach_msg_type_number_t)(sizeof(thread_throughput_qos_policy_data_t) / sizeof(integer_t)))

#endif
