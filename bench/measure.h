/*
 * What every benchmark program measures with: one monotonic clock, and
 * quantiles of samples (nearest rank).
 */
#ifndef VIRTBUS_BENCH_MEASURE_H
#define VIRTBUS_BENCH_MEASURE_H

#include <stddef.h>

/* Monotonic time, in seconds or milliseconds since an arbitrary start. */
double bench_now_s(void);
double bench_now_ms(void);

/* The wall clock (CLOCK_REALTIME) in ms since the epoch: for comparing
 * with a timestamp another process took on this machine. */
double bench_realtime_ms(void);

/* The first line of /proc/loadavg, without its newline ("?" if unread). */
void bench_loadavg(char *buf, size_t size);

/* Sorts samples in place, ascending. */
void bench_sort(double *samples, size_t n);

/* The sample at quantile q (nearest rank) of samples, sorted in place;
 * 0 if there are none. */
double bench_quantile(double *samples, size_t n, double q);

#endif
