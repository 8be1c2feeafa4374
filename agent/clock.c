/* The agent's clocks (clock.h): one place that reads them. */
#include "agent/clock.h"

#include <time.h>

static int64_t
read_ns(clockid_t which)
{
    struct timespec ts;

    clock_gettime(which, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
clock_wall_ns(void)
{
    return read_ns(CLOCK_REALTIME);
}

int64_t
clock_mono_ns(void)
{
    return read_ns(CLOCK_MONOTONIC);
}
