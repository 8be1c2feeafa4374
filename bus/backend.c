/*
 * What the bus backends share in their connections' lives: detached helper
 * threads and the jittered reconnect backoff.
 */
#include "bus/backend.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

int
bus_thread_start(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t tid;
    sigset_t all, old;
    int rc;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&tid, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

uint64_t
bus_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64* */
static uint64_t
prng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

void
bus_backoff_init(struct bus_backoff *b, const char *url, const void *owner,
                 uint32_t min_ms, uint32_t max_ms)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    const char *p;

    for (p = url; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
    h ^= (uint64_t)time(NULL) ^ bus_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)owner;
    b->prng = h ? h : 1;
    b->min_ms = min_ms;
    b->max_ms = max_ms < min_ms ? min_ms : max_ms;
    b->attempt = 0;
}

uint64_t
bus_backoff_next_ms(struct bus_backoff *b)
{
    uint64_t cap = b->min_ms, lo = b->min_ms;
    unsigned i;

    for (i = 0; i < b->attempt && cap < b->max_ms; i++)
        cap *= 2;
    if (cap > b->max_ms)
        cap = b->max_ms;
    b->attempt++;
    return lo + prng_next(&b->prng) % (cap - lo + 1);
}
