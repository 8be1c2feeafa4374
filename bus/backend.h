/*
 * Private to the bus backends: what each transport's connection life needs
 * alike, so that both behave the same (docs/TRANSPORTS.md, "Reconnect and
 * close"): detached helper threads, and the jittered backoff between
 * connect attempts.
 */
#ifndef BUS_BACKEND_H
#define BUS_BACKEND_H

#include <stdint.h>

/*
 * Starts fn(arg) on a detached thread that blocks every signal (signals
 * are the loop thread's business): 0, or the pthread_create error.
 */
int bus_thread_start(void *(*fn)(void *), void *arg);

/*
 * The delay before the next connect attempt: full jitter, uniform in
 * [min, min(max, min * 2^attempt)].  The jitter comes from a xorshift PRNG
 * of the connection's own (no global rand state), seeded from time, pid,
 * the connection's address and its URL.
 */
struct bus_backoff {
    uint64_t prng;
    uint32_t min_ms, max_ms;
    unsigned attempt;           /* failed attempts since the last success */
};

void bus_backoff_init(struct bus_backoff *b, const char *url, const void *owner,
                      uint32_t min_ms, uint32_t max_ms);
/* The next delay, counting one more failed attempt. */
uint64_t bus_backoff_next_ms(struct bus_backoff *b);

/* Monotonic time. */
uint64_t bus_now_ns(void);

#endif
