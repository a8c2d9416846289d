/* <mach/mach_time.h> — umach (Darwin ABI): Mach absolute time (nanoseconds on Linux). */
#ifndef _MACH_MACH_TIME_H_
#define _MACH_MACH_TIME_H_

#include <Availability.h>
#include <mach/mach_types.h>

struct mach_timebase_info {
    uint32_t numer;
    uint32_t denom;
};
typedef struct mach_timebase_info *mach_timebase_info_t;
typedef struct mach_timebase_info mach_timebase_info_data_t;

#ifdef __cplusplus
extern "C" {
#endif

kern_return_t mach_timebase_info(mach_timebase_info_t info);
kern_return_t mach_wait_until(uint64_t deadline);
uint64_t mach_absolute_time(void);
uint64_t mach_approximate_time(void);
uint64_t mach_continuous_time(void);
uint64_t mach_continuous_approximate_time(void);

#ifdef __cplusplus
}
#endif

#endif
