/*
 * Tests of the CLI's output: tables (aligned, raw, sorted, chosen
 * columns, colours, fitted to a terminal), values for cells, sizes,
 * versions, times, and the JSON document.
 */
#define _GNU_SOURCE             /* posix_openpt and friends, cfmakeraw */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/testutil.h"
#include "tests/unit/cli_support.h"

/* What a table prints into a file that is no terminal. */
static void
assert_starts_with(const char *text, const char *prefix)
{
    cr_assert(strncmp(text, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'",
              text, prefix);
}

static char *
printed(const struct ctl_table *t, bool header, bool raw, bool colour)
{
    FILE *f = tmpfile();
    long len;
    char *text;

    cr_assert_not_null(f);
    ctl_table_print_raw(t, f, header, raw, colour);
    fflush(f);
    len = ftell(f);
    text = qmf_xcalloc(1, (size_t)len + 1);
    rewind(f);
    cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return text;
}

static void
assert_printed(const struct ctl_table *t, bool header, bool raw, bool colour, const char *want)
{
    char *out = printed(t, header, raw, colour);

    cr_assert_str_eq(out, want);
    free(out);
}

static void
add_row(struct ctl_table *t, const char *const *cells, size_t n)
{
    char **row = qmf_xcalloc(n, sizeof(char *));
    size_t i;

    for (i = 0; i < n; i++)
        row[i] = cells[i] ? qmf_xstrdup(cells[i]) : NULL;
    ctl_table_add_owned(t, row);
}
#define ROW(t, ...) add_row((t), (const char *const[]){ __VA_ARGS__ }, \
                            sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *))

static struct ctl_table *
domains(void)
{
    struct ctl_table *t = ctl_table_new(4, (const char *const[]){ "NODE", "NAME", "STATE",
                                                                  "LAST SEEN" });

    ROW(t, "hv10", "web1", "running", "2s ago");
    ROW(t, "hv9", "db", "shutoff", NULL);
    ROW(t, "hv100", "cache", "paused", "");
    return t;
}

Test(cli_format, a_table_is_aligned_without_trailing_blanks)
{
    struct ctl_table *t = domains();

    assert_printed(t, true, false, false, "NODE   NAME   STATE    LAST SEEN\n"
                                          "hv10   web1   running  2s ago\n"
                                          "hv9    db     shutoff\n"
                                          "hv100  cache  paused\n");
    assert_printed(t, false, false, false, "hv10   web1   running  2s ago\n"
                                           "hv9    db     shutoff\n"
                                           "hv100  cache  paused\n");
    /* Raw: a field per value, for awk. */
    assert_printed(t, true, true, false, "NODE   NAME   STATE    LAST_SEEN\n"
                                         "hv10   web1   running  2s ago\n"
                                         "hv9    db     shutoff  -\n"
                                         "hv100  cache  paused   -\n");
    ctl_table_free(t);
}

Test(cli_format, rows_sort_by_columns_numbers_by_value)
{
    struct ctl_table *t = ctl_table_new(2, (const char *const[]){ "NAME", "CPUS" });
    const size_t by_cpus_then_name[] = { 1, 0 }, by_name[] = { 0 };

    ROW(t, "web9", "10");
    ROW(t, "web10", "9");
    ROW(t, "db", "100");
    ROW(t, "app", "10");
    ctl_table_sort(t, by_cpus_then_name, 2);
    assert_printed(t, false, false, false, "web10  9\napp    10\nweb9   10\ndb     100\n");
    /* Names compare as bytes: web10 before web9. */
    ctl_table_sort(t, by_name, 1);
    assert_printed(t, false, false, false, "app    10\ndb     100\nweb10  9\nweb9   10\n");
    ctl_table_free(t);
}

Test(cli_format, chosen_columns_in_their_order)
{
    struct ctl_table *t = domains();
    qmf_error err;
    char *out;

    cr_assert_eq(ctl_table_choose(t, "Last_Seen,name", &err), 0, "%s", err.text);
    assert_printed(t, true, false, false,
                   "LAST SEEN  NAME\n2s ago     web1\n           db\n           cache\n");
    cr_assert_eq(ctl_table_choose(t, "state,last-seen,", &err), 0, "%s", err.text);
    assert_printed(t, false, false, false, "running  2s ago\nshutoff\npaused\n");

    cr_assert_eq(ctl_table_choose(t, "name,size", &err), -1);
    cr_assert_str_eq(err.text, "unknown column 'size': choose from node, name, state, "
                     "last-seen");
    cr_assert_eq(ctl_table_choose(t, "", &err), -1);
    cr_assert_str_eq(err.text, "no column chosen");
    cr_assert_eq(ctl_table_choose(t, "name,,node", &err), -1);
    cr_assert_str_eq(err.text, "unknown column '': choose from node, name, state, last-seen");
    /* A refused choice leaves every column. */
    out = printed(t, false, false, false);
    assert_starts_with(out, "hv10   web1   running  2s ago\n");
    free(out);
    ctl_table_free(t);
}

/* --name and --columns of a listing command, applied to a table. */
static int
apply(struct ctl_ctx *ctx, struct ctl_table *t, char **err, const char *const *words)
{
    struct test_capture c;
    struct cli_line l;
    int rc;

    cr_assert_eq(cli_parse(ctx, &l, words), 0, "%s", l.err);
    test_capture_begin(&c, STDERR_FILENO);
    rc = ctl_table_apply_options(ctx, l.entry, &l.args, t, "name");
    *err = test_capture_end(&c);
    cli_line_free(&l);
    return rc;
}
#define APPLY(ctx, t, err, ...) apply((ctx), (t), (err), (const char *const[]){ __VA_ARGS__, NULL })

Test(cli_format, name_and_columns_options)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct ctl_table *t = domains();
    struct test_capture c;
    char *err, *out;

    cr_assert_eq(APPLY(ctx, t, &err, "list", "--name"), 0, "%s", err);
    free(err);
    cr_assert(ctx->no_header, "--name prints no header");
    test_capture_begin(&c, STDOUT_FILENO);
    ctl_print_table(ctx, t);
    out = test_capture_end(&c);
    cr_assert_str_eq(out, "web1\ndb\ncache\n");
    free(out);

    cr_assert_eq(APPLY(ctx, t, &err, "list", "--name", "-o", "node"), CTL_EXIT_USAGE);
    assert_starts_with(err, "virtbus: list: --name and --columns: choose one\nusage: ");
    free(err);
    cr_assert_eq(APPLY(ctx, t, &err, "list", "--columns", "node,color"), CTL_EXIT_USAGE);
    assert_starts_with(err, "virtbus: list: --columns: unknown column 'color': choose from "
                       "node, name, state, last-seen\nusage: ");
    free(err);
    ctl_table_free(t);
    cli_ctx_free(ctx);
}

Test(cli_format, quiet_and_no_header_leave_the_header_out)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct ctl_table *t = ctl_table_new(1, (const char *const[]){ "NAME" });
    struct test_capture c;
    char *out;

    ROW(t, "web1");
    test_capture_begin(&c, STDOUT_FILENO);
    ctl_print_table(ctx, t);
    ctx->quiet = true;
    ctl_print_table(ctx, t);
    ctx->quiet = false;
    ctx->no_header = true;
    ctl_print_table(ctx, t);
    out = test_capture_end(&c);
    cr_assert_str_eq(out, "NAME\nweb1\nweb1\nweb1\n");
    free(out);
    ctl_table_free(t);
    cli_ctx_free(ctx);
}

Test(cli_format, state_words_are_coloured_in_state_columns_only)
{
    struct ctl_table *t = domains();
    char *out;

    cr_assert_str_eq(ctl_colour_of("running"), CTL_SGR_GREEN);
    cr_assert_str_eq(ctl_colour_of("up"), CTL_SGR_GREEN);
    cr_assert_str_eq(ctl_colour_of("paused"), CTL_SGR_YELLOW);
    cr_assert_str_eq(ctl_colour_of("no reply"), CTL_SGR_YELLOW);
    cr_assert_str_eq(ctl_colour_of("shutoff"), CTL_SGR_RED);
    cr_assert_str_eq(ctl_colour_of("failed"), CTL_SGR_RED);
    cr_assert_null(ctl_colour_of("Running"));
    cr_assert_null(ctl_colour_of(""));
    ctl_table_state_column(t, 2);
    /* The padding is outside the colour, so columns stay aligned. */
    assert_printed(t, false, false, true,
                   "hv10   web1   " CTL_SGR_GREEN "running" CTL_SGR_RESET "  2s ago\n"
                   "hv9    db     " CTL_SGR_RED "shutoff" CTL_SGR_RESET "\n"
                   "hv100  cache  " CTL_SGR_YELLOW "paused" CTL_SGR_RESET "\n");
    /* Without colour, no escape at all. */
    out = printed(t, false, false, false);
    cr_assert_null(strchr(out, '\033'));
    free(out);
    ctl_table_free(t);
}

/* A table printed on a terminal COLUMNS wide (a pseudo-terminal, raw). */
static char *
printed_on_terminal(const struct ctl_table *t, const char *columns)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY), slave;
    struct termios tio;
    char *text = qmf_xcalloc(1, 4096);
    size_t len = 0;
    ssize_t n;
    FILE *f;

    cr_assert(master >= 0);
    cr_assert_eq(grantpt(master), 0);
    cr_assert_eq(unlockpt(master), 0);
    slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    cr_assert(slave >= 0);
    cr_assert_eq(tcgetattr(slave, &tio), 0);
    cfmakeraw(&tio);
    cr_assert_eq(tcsetattr(slave, TCSANOW, &tio), 0);
    cr_assert_eq(setenv("COLUMNS", columns, 1), 0);
    f = fdopen(slave, "w");
    ctl_table_print(t, f, true);
    fflush(f);
    /* The terminal hands the bytes over asynchronously: read until a
     * quiet moment. */
    while (len < 4095 && poll(&(struct pollfd){ .fd = master, .events = POLLIN }, 1, 500) > 0 &&
           (n = read(master, text + len, 4095 - len)) > 0)
        len += (size_t)n;
    fclose(f);
    close(master);
    return text;
}

Test(cli_format, on_a_terminal_optional_columns_go_then_the_widest_is_cut)
{
    struct ctl_table *t = ctl_table_new(3, (const char *const[]){ "NODE", "NAME", "UUID" });
    char *out;

    ctl_table_optional(t, 2);
    ROW(t, "hv1", "a-very-long-domain-name-indeed", "5a6c4f4e-0e1d-4c4a-9a40-3f8e8b1d2c7a");
    out = printed_on_terminal(t, "200");
    cr_assert_str_eq(out, "NODE  NAME                            UUID\n"
                          "hv1   a-very-long-domain-name-indeed  "
                          "5a6c4f4e-0e1d-4c4a-9a40-3f8e8b1d2c7a\n");
    free(out);
    out = printed_on_terminal(t, "30");
    cr_assert_str_eq(out, "NODE  NAME\nhv1   a-very-long-domain-name\xe2\x80\xa6\n");
    free(out);
    /* Never below a header's width, nor 4 columns. */
    out = printed_on_terminal(t, "5");
    cr_assert_str_eq(out, "NODE  NAME\nhv1   a-v\xe2\x80\xa6\n");
    free(out);
    ctl_table_free(t);
}

/* ctl_format_value of v, which it frees. */
static void
assert_cell(qmf_value *v, const char *want)
{
    char *got = ctl_format_value(v);

    cr_assert_str_eq(got, want);
    free(got);
    qmf_free(v);
}

Test(cli_format, values_for_cells)
{
    static const uint8_t uuid[16] = { 0x5a, 0x6c, 0x4f, 0x4e, 0x0e, 0x1d, 0x4c, 0x4a,
                                      0x9a, 0x40, 0x3f, 0x8e, 0x8b, 0x1d, 0x2c, 0x7a };

    assert_cell(NULL, "");
    assert_cell(qmf_void(), "");
    assert_cell(qmf_bool(true), "yes");
    assert_cell(qmf_bool(false), "no");
    assert_cell(qmf_string("web1"), "web1");
    assert_cell(qmf_uuid(uuid), "5a6c4f4e-0e1d-4c4a-9a40-3f8e8b1d2c7a");
    assert_cell(qmf_double(1.5), "1.5");
    assert_cell(qmf_float(0.25f), "0.25");
    assert_cell(qmf_i32(-5), "-5");
    assert_cell(qmf_u64(UINT64_MAX), "18446744073709551615");
    assert_cell(qmf_binary("abc", 3), "(3 bytes)");
    assert_cell(cli_json("{\"rack\":\"r1\",\"role\":\"db\",\"n\":[1,2]}"),
                "rack=r1,role=db,n=1,2");
    assert_cell(cli_json("[\"a\",true,3]"), "a,yes,3");
    /* An object id reads as its object name. */
    assert_cell(cli_json("{\"_object_name\":\"domain:5a6c\","
                         "\"_agent_name\":\"virtbus:agent:hv1\"}"), "domain:5a6c");
    assert_cell(cli_json("{}"), "");
}

static void
assert_text(char *got, const char *want)
{
    cr_assert_str_eq(got, want);
    free(got);
}

/* 1048575 bytes was "1024.0 KiB": it rounds to the next unit's 1.0. */
Test(cli_format, sizes_versions_and_times)
{
    char buf[32];

    assert_text(ctl_format_kib(512, false), "512 KiB");
    assert_text(ctl_format_kib(1024, false), "1 MiB");
    assert_text(ctl_format_kib(1536, false), "1.5 MiB");
    assert_text(ctl_format_kib(16777216, false), "16 GiB");
    assert_text(ctl_format_kib(512, true), "524288");
    assert_text(ctl_format_bytes(0, false), "0 B");
    assert_text(ctl_format_bytes(1023, false), "1023 B");
    assert_text(ctl_format_bytes(1048575, false), "1.0 MiB");
    assert_text(ctl_format_bytes(1073741824, false), "1 GiB");
    assert_text(ctl_format_bytes(UINT64_MAX, false), "16 EiB");
    assert_text(ctl_format_bytes(1048575, true), "1048575");
    assert_text(ctl_format_version(9000000), "9.0.0");
    assert_text(ctl_format_version(10002003), "10.2.3");
    ctl_format_time(0, buf, sizeof(buf));
    cr_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
    ctl_format_time(1764106839123456789LL, buf, sizeof(buf));
    cr_assert_str_eq(buf, "2025-11-25T21:40:39.123Z");
}

static int64_t
seconds_ago(double secs)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec - (int64_t)(secs * 1e9);
}

Test(cli_format, how_long_ago)
{
    char *raw;

    assert_text(ctl_format_ago(0, false), "never");
    assert_text(ctl_format_ago(-1, true), "never");
    assert_text(ctl_format_ago(seconds_ago(5.5), false), "5s ago");
    assert_text(ctl_format_ago(seconds_ago(3 * 60 + 0.5), false), "3m ago");
    assert_text(ctl_format_ago(seconds_ago(3 * 3600 + 0.5), false), "3h ago");
    assert_text(ctl_format_ago(seconds_ago(3 * 86400 + 0.5), false), "3d ago");
    /* A clock ahead of ours is no negative age. */
    assert_text(ctl_format_ago(seconds_ago(-60), false), "0s ago");
    raw = ctl_format_ago(1764106839123456789LL, true);
    assert_text(raw, "2025-11-25T21:40:39.123Z");
}

Test(cli_format, fields_with_their_schema_units_and_json_documents)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    qmf_value *v = cli_json("{\"memory\":1024,\"arch\":\"x86_64\",\"labels\":{\"rack\":\"r1\"}}");
    qmf_value *doc = cli_json("{\"command\":\"list\"}");
    struct test_capture c;
    char *out;

    test_capture_begin(&c, STDOUT_FILENO);
    ctl_print_fields(stdout, "  ", v, schema_find_class(ctx->schema, "Node"));
    ctl_print_fields(stdout, "", v, NULL);
    /* A document says when the broker is the built-in default; without a
     * console, nothing of how answers came. */
    ctl_print_doc(ctx, doc);
    ctx->default_broker = true;
    ctx->url_shown = (char *)"amqp://guest@127.0.0.1:5672/";
    ctl_print_doc(ctx, doc);
    out = test_capture_end(&c);
    cr_assert_str_eq(out, "  memory: 1024 KiB\n  arch: x86_64\n  labels: rack=r1\n"
                          "memory: 1024\narch: x86_64\nlabels: rack=r1\n"
                          "{\"command\":\"list\"}\n"
                          "{\"command\":\"list\","
                          "\"default_broker\":\"amqp://guest@127.0.0.1:5672/\"}\n");
    ctx->url_shown = NULL;
    free(out);
    qmf_free(doc);
    qmf_free(v);
    cli_ctx_free(ctx);
}
