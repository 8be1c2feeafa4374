/*
 * The benchmarks' clock and quantiles (measure.h): one definition, so that
 * every program's figures are taken and ranked the same way.
 */
#include "bench/measure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double
bench_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

double
bench_now_ms(void)
{
    return bench_now_s() * 1e3;
}

double
bench_realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void
bench_loadavg(char *buf, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");

    snprintf(buf, size, "?");
    if (f == NULL)
        return;
    if (fgets(buf, (int)size, f) == NULL)
        snprintf(buf, size, "?");
    buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
}

static int
compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

void
bench_sort(double *samples, size_t n)
{
    qsort(samples, n, sizeof(double), compare_double);
}

double
bench_quantile(double *samples, size_t n, double q)
{
    size_t rank;

    if (n == 0)
        return 0;
    bench_sort(samples, n);
    rank = (size_t)(q * (double)n + 0.999999);
    return samples[rank == 0 ? 0 : rank - 1];
}
