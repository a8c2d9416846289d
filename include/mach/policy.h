/* <mach/policy.h> — umach (Darwin ABI): the scheduling policies task_info reports. */
#ifndef _MACH_POLICY_H_
#define _MACH_POLICY_H_

#include <mach/vm_types.h>

typedef int policy_t;
typedef integer_t *policy_info_t;
typedef integer_t *policy_base_t;
typedef integer_t *policy_limit_t;

#define POLICY_NULL 0      /* none */
#define POLICY_TIMESHARE 1 /* timesharing: every task umach runs */
#define POLICY_RR 2        /* fixed round robin */
#define POLICY_FIFO 4      /* fixed fifo */

#define invalid_policy(policy)                                                                     \
    (((policy) != POLICY_TIMESHARE) && ((policy) != POLICY_RR) && ((policy) != POLICY_FIFO))

#endif
