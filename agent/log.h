/*
 * Logging in the style of OpenBSD daemons (log_warnx, log_info, fatalx),
 * without global state: every call names the log_ctx it logs through, so
 * that many agents in one process can each log under their own ident and
 * level.  One event is one line, written with one write(2) (or one
 * syslog(3) call), so lines from concurrent threads never interleave.
 * Any thread may log through a log_ctx while another changes its level.
 */
#ifndef AGENT_LOG_H
#define AGENT_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

struct log_ctx {
    /* Events above this level are dropped.  Atomic: a reload sets it
     * while workers may be logging. */
    _Atomic enum log_level level;
    bool use_syslog;            /* syslog(3), LOG_DAEMON, instead of stderr */
    char ident[64];             /* e.g. "virtbusd[node1]", truncated */
};

/* A NULL lg anywhere below means: info, stderr, ident "virtbus". */
void log_init(struct log_ctx *lg, const char *ident, enum log_level level,
              bool use_syslog);

void log_warnx(const struct log_ctx *lg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_info(const struct log_ctx *lg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_debug(const struct log_ctx *lg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Logs at error level, then exit(1).  For start-up only: nothing the
 * outside world sends may lead here. */
void fatalx(const struct log_ctx *lg, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

/* The general form the above are built on. */
void log_msg(const struct log_ctx *lg, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(const struct log_ctx *lg, enum log_level level, const char *fmt,
              va_list ap) __attribute__((format(printf, 3, 0)));

/* True if an event at level would be written (to skip costly formatting). */
bool log_enabled(const struct log_ctx *lg, enum log_level level);

/* "error", "warn", "info", "debug" (case-insensitive); -1 if unknown. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

/*
 * Formats one stderr line (timestamp, ident, level, text, '\n') into buf,
 * truncating to size; control characters in the text are escaped so that
 * an event stays on one line.  Returns the length written.  Exposed for
 * tests.
 */
size_t log_format_line(char *buf, size_t size, const struct log_ctx *lg,
                       enum log_level level, const char *text);

#endif
