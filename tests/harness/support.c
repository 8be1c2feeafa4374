/*
 * Helpers only the tests and the benchmarks call (support.h): the shipped
 * daemon never logs errno this way, and nothing shipped asks a connection
 * for its queue names or state.
 */
#include "tests/harness/support.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* As LOG_LINE_MAX in agent/log.c, which cuts the line there anyway. */
#define SUPPORT_LOG_LINE_MAX 4096

void
log_warn(const struct log_ctx *lg, const char *fmt, ...)
{
    char text[SUPPORT_LOG_LINE_MAX], reason[256];
    int saved_errno = errno;
    va_list ap;

    if (!log_enabled(lg, LOG_LEVEL_WARN))
        return;
    if (strerror_r(saved_errno, reason, sizeof(reason)) != 0)
        snprintf(reason, sizeof(reason), "error %d", saved_errno);
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    log_warnx(lg, "%s: %s", text, reason);
    errno = saved_errno;
}

static const struct bus_driver *
support_driver(struct bus_conn *c)
{
    return ((const struct bus_conn_base *)c)->driver;
}

const char *
bus_queue_name(struct bus_conn *c, size_t i)
{
    if (c == NULL || support_driver(c)->queue_name == NULL)
        return NULL;
    return support_driver(c)->queue_name(c, i);
}

bool
bus_is_up(struct bus_conn *c)
{
    if (c == NULL || support_driver(c)->is_up == NULL)
        return false;
    return support_driver(c)->is_up(c);
}
