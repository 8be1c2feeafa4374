/* Tests of the reconnect backoff over a list of brokers (bus/backend.h):
 * a cluster's other nodes are tried at once, and the delay grows only
 * once a whole round of the list failed; and the patience with a slow
 * broker (struct bus_patience). */
#include <stdbool.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "bus/backend.h"

/* The jittered delays of round r of a list of n stay within [min, min * 2^r]. */
Test(backoff, grows_per_round_of_the_list)
{
    struct bus_backoff b = { 0 };
    unsigned round, i;
    uint64_t d;

    bus_backoff_init(&b, "amqp://a/ amqp://b/ amqp://c/", &b, 100, 30000, 3);
    for (round = 0; round < 12; round++) {
        uint64_t cap = 100u << round;

        if (cap > 30000)
            cap = 30000;
        for (i = 0; i < 3; i++) {
            d = bus_backoff_next_ms(&b);
            cr_assert(d >= 100 && d <= cap, "round %u: %llu not in [100, %llu]", round,
                      (unsigned long long)d, (unsigned long long)cap);
        }
    }
}

/* One broker: as before, the cap doubles at every failed attempt. */
Test(backoff, one_broker_doubles_each_attempt)
{
    struct bus_backoff b = { 0 };
    bool above = false;
    unsigned i;

    bus_backoff_init(&b, "amqp://a/", &b, 100, 30000, 1);
    cr_assert_eq(bus_backoff_next_ms(&b), 100);
    for (i = 0; i < 200; i++)
        above |= bus_backoff_next_ms(&b) > 100;
    cr_assert(above, "the delay never grew past the first");
}

/* Each retry goes to the next broker; all of them come round in turn. */
Test(backoff, goes_through_the_list)
{
    struct bus_backoff b = { 0 };
    bool seen[4] = { false };
    size_t first, i;

    bus_backoff_init(&b, "list", &b, 100, 1000, 4);
    first = b.url;
    cr_assert_lt(first, 4);
    seen[first] = true;
    for (i = 1; i < 4; i++) {
        size_t next = bus_backoff_next_url(&b);

        cr_assert_eq(next, (first + i) % 4);
        seen[next] = true;
    }
    for (i = 0; i < 4; i++)
        cr_assert(seen[i], "broker %zu never tried", i);
    cr_assert_eq(bus_backoff_next_url(&b), first);
}

/* Connections of one fleet start at different nodes (picked at random). */
Test(backoff, first_broker_spread)
{
    struct bus_backoff b[64] = { { 0 } };
    bool seen[3] = { false };
    size_t i;

    for (i = 0; i < 64; i++) {
        bus_backoff_init(&b[i], "amqp://a/ amqp://b/ amqp://c/", &b[i], 100, 1000, 3);
        seen[b[i].url] = true;
    }
    cr_assert(seen[0] && seen[1] && seen[2], "64 connections did not use all 3 nodes");
}

/* A slow failure doubles the next attempt's patience, up to the cap; a
 * quick one (a refusal) changes nothing; success starts over. */
Test(patience, grows_only_after_slow_failures)
{
    struct bus_patience p = { 0 };
    const uint64_t s = 1000000000u;
    unsigned t;

    cr_assert_eq(bus_patience_timeout_s(&p, 15, 120), 15);
    bus_patience_failed(&p, 15, 2 * s, 100 * s);
    cr_assert_eq(bus_patience_timeout_s(&p, 15, 120), 15, "a refusal is not slowness");
    cr_assert_not(bus_patience_own_lock(&p, 100 * s));
    bus_patience_failed(&p, 15, 15 * s, 100 * s);
    cr_assert_eq(bus_patience_timeout_s(&p, 15, 120), 30);
    bus_patience_failed(&p, 30, 31 * s, 200 * s);
    cr_assert_eq(bus_patience_timeout_s(&p, 15, 120), 60);
    for (t = 0; t < 40; t++)
        bus_patience_failed(&p, 120, 121 * s, 300 * s);
    cr_assert_eq(bus_patience_timeout_s(&p, 15, 120), 120);
    bus_patience_reset(&p);
    cr_assert_eq(bus_patience_timeout_s(&p, 15, 120), 15);
    cr_assert_not(bus_patience_own_lock(&p, 300 * s));
}

/* A lock refused soon after an attempt was abandoned is taken for that
 * attempt's; later, or with none abandoned, it is someone else's. */
Test(patience, own_lock_window_follows_the_abandoned_attempt)
{
    struct bus_patience p = { 0 };
    const uint64_t s = 1000000000u;

    cr_assert_not(bus_patience_own_lock(&p, 1 * s));
    bus_patience_failed(&p, 15, 16 * s, 1000 * s);
    cr_assert(bus_patience_own_lock(&p, 1001 * s));
    cr_assert(bus_patience_own_lock(&p, (1000 + BUS_PATIENCE_OWN_LOCK_S) * s - 1));
    cr_assert_not(bus_patience_own_lock(&p, (1000 + BUS_PATIENCE_OWN_LOCK_S) * s));
}

/* A far delay stays within [max / 2, max], from the first attempt on. */
Test(backoff, far_delays_sit_near_the_cap)
{
    struct bus_backoff b = { 0 };
    unsigned i;

    bus_backoff_init(&b, "amqp://a/", &b, 100, 30000, 1);
    for (i = 0; i < 100; i++) {
        uint64_t d = bus_backoff_next_far_ms(&b);

        cr_assert(d >= 15000 && d <= 30000, "%llu not in [15000, 30000]",
                  (unsigned long long)d);
    }
}

/* Whether the last failure was slow follows each failure. */
Test(patience, last_slow_follows_each_failure)
{
    struct bus_patience p = { 0 };
    const uint64_t s = 1000000000u;

    cr_assert_not(bus_patience_last_slow(&p));
    bus_patience_failed(&p, 15, 15 * s, 100 * s);
    cr_assert(bus_patience_last_slow(&p));
    bus_patience_failed(&p, 30, 1 * s, 101 * s);
    cr_assert_not(bus_patience_last_slow(&p));
    cr_assert(bus_patience_own_lock(&p, 102 * s), "a quick failure keeps the window");
}
