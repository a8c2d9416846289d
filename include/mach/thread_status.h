/*
 * <mach/thread_status.h> — umach (Darwin ABI): the generic thread-state types that MIG
 * output for exc.defs and mach_exc.defs names. umach does not read or set thread state, so
 * no machine-specific flavour is defined.
 */
#ifndef _MACH_THREAD_STATUS_H_
#define _MACH_THREAD_STATUS_H_

#include <mach/vm_types.h>

typedef natural_t *thread_state_t;
#define THREAD_STATE_MAX (1296)
typedef natural_t thread_state_data_t[THREAD_STATE_MAX];

#define THREAD_STATE_FLAVOR_LIST 0
#define THREAD_STATE_FLAVOR_LIST_NEW 128
#define THREAD_STATE_FLAVOR_LIST_10_9 129
#define THREAD_STATE_FLAVOR_LIST_10_13 130
#define THREAD_STATE_FLAVOR_LIST_10_15 131

typedef int thread_state_flavor_t;
typedef thread_state_flavor_t *thread_state_flavor_array_t;

#endif
