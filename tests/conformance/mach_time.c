/*
 * mach_time.c — mach_absolute_time and its companions: a timebase that converts ticks to
 * nanoseconds, a monotonic clock, continuous time that is never behind absolute time, and
 * mach_wait_until that sleeps until a deadline (bounds are generous: the machine is shared).
 */
#include "mt.h"

#include <mach/mach.h>
#include <mach/mach_time.h>

static uint64_t ticks_to_ns(uint64_t ticks)
{
    mach_timebase_info_data_t tb;
    (void)mach_timebase_info(&tb);
    return ticks * tb.numer / tb.denom;
}

MT_TEST(timebase_is_a_nonzero_fraction)
{
    mach_timebase_info_data_t tb = {0, 0};
    MT_KR(mach_timebase_info(&tb), KERN_SUCCESS);
    MT_CHECK(tb.numer > 0);
    MT_CHECK(tb.denom > 0);
}

MT_TEST(absolute_time_never_goes_back)
{
    uint64_t prev = mach_absolute_time();
    for (int i = 0; i < 1000; i++) {
        uint64_t now = mach_absolute_time();
        MT_REQUIRE(now >= prev);
        prev = now;
    }
    MT_CHECK(mach_approximate_time() > 0);
}

MT_TEST(continuous_time_is_not_behind_absolute_time)
{
    uint64_t a = mach_absolute_time();
    uint64_t c = mach_continuous_time();
    MT_CHECK(c >= a);
}

MT_TEST(wait_until_sleeps_to_the_deadline)
{
    mach_timebase_info_data_t tb;
    MT_KR(mach_timebase_info(&tb), KERN_SUCCESS);
    uint64_t start = mach_absolute_time();
    uint64_t ticks = 20000000ull * tb.denom / tb.numer; /* 20 ms */
    MT_KR(mach_wait_until(start + ticks), KERN_SUCCESS);
    uint64_t slept = ticks_to_ns(mach_absolute_time() - start);
    MT_CHECK(slept >= 20000000ull);
    MT_CHECK(slept < 20000000000ull);
}

MT_TEST(wait_until_a_past_deadline_returns_at_once)
{
    MT_KR(mach_wait_until(0), KERN_SUCCESS);
}

MT_MAIN()
