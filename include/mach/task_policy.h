/*
 * <mach/task_policy.h> — umach (Darwin ABI): the latency and throughput tiers, which
 * THREAD_LATENCY_QOS_POLICY and THREAD_THROUGHPUT_QOS_POLICY take (<mach/thread_policy.h>).
 * The task's own policy flavours are not here: umach has no task_policy_set / _get.
 */
#ifndef _MACH_TASK_POLICY_H_
#define _MACH_TASK_POLICY_H_

#include <mach/vm_types.h>

/* A tier is its kind in bits 16-23 (0xFF latency, 0xFE throughput) and its rank 1-6 below. */
enum task_latency_qos {
    LATENCY_QOS_TIER_UNSPECIFIED = 0x0,
    LATENCY_QOS_TIER_0 = ((0xFF << 16) | 1),
    LATENCY_QOS_TIER_1 = ((0xFF << 16) | 2),
    LATENCY_QOS_TIER_2 = ((0xFF << 16) | 3),
    LATENCY_QOS_TIER_3 = ((0xFF << 16) | 4),
    LATENCY_QOS_TIER_4 = ((0xFF << 16) | 5),
    LATENCY_QOS_TIER_5 = ((0xFF << 16) | 6)
};
typedef integer_t task_latency_qos_t;

enum task_throughput_qos {
    THROUGHPUT_QOS_TIER_UNSPECIFIED = 0x0,
    THROUGHPUT_QOS_TIER_0 = ((0xFE << 16) | 1),
    THROUGHPUT_QOS_TIER_1 = ((0xFE << 16) | 2),
    THROUGHPUT_QOS_TIER_2 = ((0xFE << 16) | 3),
    THROUGHPUT_QOS_TIER_3 = ((0xFE << 16) | 4),
    THROUGHPUT_QOS_TIER_4 = ((0xFE << 16) | 5),
    THROUGHPUT_QOS_TIER_5 = ((0xFE << 16) | 6),
};
typedef integer_t task_throughput_qos_t;

/* What a task starts with on Darwin. */
#define LATENCY_QOS_LAUNCH_DEFAULT_TIER LATENCY_QOS_TIER_3
#define THROUGHPUT_QOS_LAUNCH_DEFAULT_TIER THROUGHPUT_QOS_TIER_3

#endif
