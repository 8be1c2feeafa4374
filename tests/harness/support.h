/*
 * What only the tests and the benchmarks call, kept out of the shipped
 * programs and libraries (issue 15 §6): linked as vbtestsupport.
 */
#ifndef TESTS_HARNESS_SUPPORT_H
#define TESTS_HARNESS_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/log.h"
#include "bus/bus.h"

/* log_warnx with ": strerror(errno)" appended, errno as it was on entry. */
void log_warn(const struct log_ctx *lg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The name the broker gave options.queues[i] (for unnamed queues), or
 * NULL past the last queue. */
const char *bus_queue_name(struct bus_conn *c, size_t i);

/* Whether c is connected and its topology declared. */
bool bus_is_up(struct bus_conn *c);

#endif
