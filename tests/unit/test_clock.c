/* Tests of the agent's clocks (agent/clock.c): the wall clock tells the
 * time since the epoch, the monotonic one never goes back. */
#include <stdint.h>
#include <time.h>

#include <criterion/criterion.h>

#include "agent/clock.h"

Test(clock, wall_clock_counts_from_the_epoch)
{
    int64_t before = (int64_t)time(NULL);
    int64_t seconds = clock_wall_ns() / 1000000000;
    int64_t after = (int64_t)time(NULL);

    /* time() may read a coarser clock, a tick behind: one second of slack. */
    cr_assert(seconds >= before - 1 && seconds <= after + 1,
              "%lld s, between %lld and %lld expected", (long long)seconds,
              (long long)before, (long long)after);
}

Test(clock, monotonic_clock_never_goes_back)
{
    int64_t last = clock_mono_ns(), now;
    int i;

    for (i = 0; i < 10000; i++) {
        now = clock_mono_ns();
        cr_assert_geq(now, last);
        last = now;
    }
}
