/* Logging through a per-caller log_ctx: one event, one line, one write. */
#include "agent/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Longer events are truncated: a log line is not a transport. */
#define LOG_LINE_MAX 4096

static const struct log_ctx log_default = {
    .level = LOG_LEVEL_INFO,
    .use_syslog = false,
    .ident = "virtbus",
};

static const char *const log_level_names[] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

static const int log_syslog_priorities[] = {
    [LOG_LEVEL_ERROR] = LOG_ERR,
    [LOG_LEVEL_WARN] = LOG_WARNING,
    [LOG_LEVEL_INFO] = LOG_INFO,
    [LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

void
log_init(struct log_ctx *lg, const char *ident, enum log_level level,
         bool use_syslog)
{
    lg->level = level;
    lg->use_syslog = use_syslog;
    snprintf(lg->ident, sizeof(lg->ident), "%s",
             ident != NULL && *ident != '\0' ? ident : log_default.ident);
}

int
log_level_parse(const char *name, enum log_level *out)
{
    size_t i;

    if (name == NULL)
        return -1;
    for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
        if (strcasecmp(name, log_level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *
log_level_name(enum log_level level)
{
    if ((unsigned)level > LOG_LEVEL_DEBUG)
        return "unknown";
    return log_level_names[level];
}

bool
log_enabled(const struct log_ctx *lg, enum log_level level)
{
    if (lg == NULL)
        lg = &log_default;
    return level <= lg->level;
}

/*
 * Copies text into buf[*len..size-1], escaping control characters: outside
 * input (broker errors, guest names) must not forge or split log lines.
 */
static void
log_append_escaped(char *buf, size_t size, size_t *len, const char *text)
{
    const unsigned char *s;
    char esc[5];
    size_t n;

    for (s = (const unsigned char *)text; *s != '\0'; s++) {
        if (*s >= 0x20 && *s != 0x7f) {
            if (*len + 1 >= size)
                return;
            buf[(*len)++] = (char)*s;
            continue;
        }
        if (*s == '\n')
            n = (size_t)snprintf(esc, sizeof(esc), "\\n");
        else if (*s == '\t')
            n = (size_t)snprintf(esc, sizeof(esc), "\\t");
        else if (*s == '\r')
            n = (size_t)snprintf(esc, sizeof(esc), "\\r");
        else
            n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *s);
        if (*len + n >= size)
            return;
        memcpy(buf + *len, esc, n);
        *len += n;
    }
}

size_t
log_format_line(char *buf, size_t size, const struct log_ctx *lg,
                enum log_level level, const char *text)
{
    struct timespec ts;
    struct tm tm;
    size_t len;
    int n;

    if (size < 2)
        return 0;
    if (lg == NULL)
        lg = &log_default;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    len = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(buf + len, size - len, ".%03ldZ %s %s: ",
                 ts.tv_nsec / 1000000L, lg->ident, log_level_name(level));
    if (n < 0)
        n = 0;
    len += (size_t)n;
    if (len >= size - 1)
        len = size - 2;
    log_append_escaped(buf, size - 1, &len, text);
    buf[len++] = '\n';
    buf[len] = '\0';
    return len;
}

static void
log_write_all(const char *buf, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(STDERR_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;     /* nowhere left to report it */
        buf += n;
        len -= (size_t)n;
    }
}

/* The one place that emits: text is already formatted. */
static void
log_emit(const struct log_ctx *lg, enum log_level level, const char *text)
{
    char line[LOG_LINE_MAX];
    size_t len;

    if (lg->use_syslog) {
        len = 0;
        log_append_escaped(line, sizeof(line), &len, text);
        line[len] = '\0';
        syslog(LOG_DAEMON | log_syslog_priorities[level], "%s: %s",
               lg->ident, line);
        return;
    }
    len = log_format_line(line, sizeof(line), lg, level, text);
    log_write_all(line, len);
}

void
log_vmsg(const struct log_ctx *lg, enum log_level level, const char *fmt,
         va_list ap)
{
    char text[LOG_LINE_MAX];
    int saved_errno = errno;

    if (lg == NULL)
        lg = &log_default;
    if ((unsigned)level > LOG_LEVEL_DEBUG)
        level = LOG_LEVEL_ERROR;
    if (level <= lg->level) {
        vsnprintf(text, sizeof(text), fmt, ap);
        log_emit(lg, level, text);
    }
    errno = saved_errno;
}

void
log_msg(const struct log_ctx *lg, enum log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(lg, level, fmt, ap);
    va_end(ap);
}

void
log_warnx(const struct log_ctx *lg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(lg, LOG_LEVEL_WARN, fmt, ap);
    va_end(ap);
}

void
log_info(const struct log_ctx *lg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(lg, LOG_LEVEL_INFO, fmt, ap);
    va_end(ap);
}

void
log_debug(const struct log_ctx *lg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(lg, LOG_LEVEL_DEBUG, fmt, ap);
    va_end(ap);
}

void
fatalx(const struct log_ctx *lg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(lg, LOG_LEVEL_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}
