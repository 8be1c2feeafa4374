/* Tests of the agent's logging: line format, levels, escaping, errno. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "agent/log.h"
#include "tests/harness/support.h"
#include "tests/testutil.h"

#define STAMP "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

static void
assert_matches(const char *text, const char *pattern)
{
    regex_t re;

    cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    cr_assert_eq(regexec(&re, text, 0, NULL, 0), 0, "\"%s\" does not match /%s/", text, pattern);
    regfree(&re);
}

Test(log, line_format)
{
    struct log_ctx lg;
    char line[256];
    size_t len;

    log_init(&lg, "virtbusd[node1]", LOG_LEVEL_INFO, false);
    len = log_format_line(line, sizeof(line), &lg, LOG_LEVEL_INFO, "domain web1 started");
    cr_assert_eq(len, strlen(line));
    assert_matches(line, "^" STAMP " virtbusd\\[node1\\] info: domain web1 started\n$");
}

Test(log, control_characters_are_escaped)
{
    char line[256];

    log_format_line(line, sizeof(line), NULL, LOG_LEVEL_WARN, "a\nb\tc\x01" "d");
    assert_matches(line, "^" STAMP " virtbus warn: a\\\\nb\\\\tc\\\\x01d\n$");
}

Test(log, long_lines_are_truncated_but_end_with_newline)
{
    char text[1000], line[64];
    size_t len;

    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    len = log_format_line(line, sizeof(line), NULL, LOG_LEVEL_INFO, text);
    cr_assert_eq(len, sizeof(line) - 1);
    cr_assert_eq(line[len - 1], '\n');
    cr_assert_eq(line[len], '\0');
}

Test(log, levels_filter_and_write_one_line_each)
{
    struct log_ctx lg;
    struct test_capture c;
    char *out;

    log_init(&lg, "virtbusd[n]", LOG_LEVEL_INFO, false);
    test_capture_begin(&c, STDERR_FILENO);
    log_debug(&lg, "hidden %d", 1);
    log_info(&lg, "shown %d", 2);
    log_warnx(&lg, "warned %s", "x");
    errno = ENOENT;
    log_warn(&lg, "open %s", "/nope");
    cr_assert_eq(errno, ENOENT, "logging must not clobber errno");
    lg.level = LOG_LEVEL_ERROR;
    log_info(&lg, "hidden too");
    out = test_capture_end(&c);

    assert_matches(out, "^" STAMP " virtbusd\\[n\\] info: shown 2\n"
                        STAMP " virtbusd\\[n\\] warn: warned x\n"
                        STAMP " virtbusd\\[n\\] warn: open /nope: No such file or directory\n$");
    free(out);
}

Test(log, null_context_is_info_to_stderr)
{
    struct test_capture c;
    char *out;

    test_capture_begin(&c, STDERR_FILENO);
    log_debug(NULL, "hidden");
    log_info(NULL, "default");
    out = test_capture_end(&c);
    assert_matches(out, "^" STAMP " virtbus info: default\n$");
    free(out);
}

Test(log, fatalx_logs_then_exits, .exit_code = 1)
{
    struct log_ctx lg;

    log_init(&lg, "t", LOG_LEVEL_ERROR, false);
    fatalx(&lg, "cannot continue");
}

Test(log, level_names)
{
    enum log_level level;

    cr_assert_eq(log_level_parse("error", &level), 0);
    cr_assert_eq(level, LOG_LEVEL_ERROR);
    cr_assert_eq(log_level_parse("warn", &level), 0);
    cr_assert_eq(level, LOG_LEVEL_WARN);
    cr_assert_eq(log_level_parse("INFO", &level), 0);
    cr_assert_eq(level, LOG_LEVEL_INFO);
    cr_assert_eq(log_level_parse("debug", &level), 0);
    cr_assert_eq(level, LOG_LEVEL_DEBUG);
    cr_assert_eq(log_level_parse("verbose", &level), -1);
    cr_assert_eq(log_level_parse(NULL, &level), -1);
    cr_assert_str_eq(log_level_name(LOG_LEVEL_WARN), "warn");
    cr_assert_str_eq(log_level_name(LOG_LEVEL_DEBUG), "debug");
    cr_assert(log_enabled(NULL, LOG_LEVEL_INFO));
    cr_assert(!log_enabled(NULL, LOG_LEVEL_DEBUG));
}

Test(log, ident_is_truncated)
{
    struct log_ctx lg;
    char ident[200];

    memset(ident, 'i', sizeof(ident) - 1);
    ident[sizeof(ident) - 1] = '\0';
    log_init(&lg, ident, LOG_LEVEL_DEBUG, false);
    cr_assert_eq(strlen(lg.ident), sizeof(lg.ident) - 1);
    log_init(&lg, NULL, LOG_LEVEL_DEBUG, false);
    cr_assert_str_eq(lg.ident, "virtbus");
}
