/* <mach/time_value.h> — umach (Darwin ABI): seconds and microseconds. */
#ifndef _MACH_TIME_VALUE_H_
#define _MACH_TIME_VALUE_H_

#include <mach/vm_types.h>

struct time_value {
    integer_t seconds;
    integer_t microseconds;
};
typedef struct time_value time_value_t;

#define TIME_MICROS_MAX (1000000)

#endif
