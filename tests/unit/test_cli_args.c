/*
 * Tests of method arguments on the CLI's command line: values read by
 * their schema type (sizes, numbers, booleans, @FILE, JSON), files, and
 * the action a verb's command line becomes before anything is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/testutil.h"
#include "tests/unit/cli_support.h"

static const struct schema_arg *
arg_of(const struct ctl_ctx *ctx, const char *cls, const char *method, const char *name)
{
    const struct schema_method *m =
        schema_find_method(schema_find_class(ctx->schema, cls), method);
    const struct schema_arg *a = m ? schema_find_arg(m, name) : NULL;

    cr_assert_not_null(a, "%s.%s has no argument %s", cls, method, name);
    return a;
}

/* ctl_arg_value's JSON, or its error text after "error: ". */
static char *
value_text(const struct schema_arg *arg, const char *text)
{
    qmf_error err;
    qmf_value *v = ctl_arg_value(arg, text, &err);
    char *out;

    if (v == NULL) {
        cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS, "%s", err.text);
        return qmf_xasprintf("error: %s", err.text);
    }
    out = cli_to_json(v);
    qmf_free(v);
    return out;
}

static void
assert_value(const struct schema_arg *arg, const char *text, const char *want)
{
    char *got = value_text(arg, text);

    cr_assert_str_eq(got, want, "%s '%s'", arg->name, text);
    free(got);
}

Test(cli_args, sizes_in_binary_and_decimal_units_round_up)
{
    static const struct { const char *text; uint64_t unit, want; } ok[] = {
        { "1024", 1, 1024 }, { "2G", 1024, 2097152 }, { "2GiB", 1024, 2097152 },
        { "2gib", 1024, 2097152 }, { "1.5M", 1024, 1536 }, { "1KB", 1, 1000 },
        { "1000b", 1024, 1 }, { "1bytes", 1, 1 }, { "10G", 1, 10737418240ULL },
        { "1E", 1, 1152921504606846976ULL }, { "16E", 1024, 18014398509481984ULL },
        { "0", 1024, 0 }, { "0.1", 1024, 1 },
    };
    static const char *const bad[] = { "", "G", "-1", "-1G", "1X", "1GB2", "1 G", "1 ", "nan",
                                       "inf", "1e30", "1Gb", "17E" };
    uint64_t got;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        cr_expect(ctl_parse_size(ok[i].text, ok[i].unit, &got), "'%s'", ok[i].text);
        cr_expect_eq(got, ok[i].want, "'%s' in units of %llu: %llu", ok[i].text,
                     (unsigned long long)ok[i].unit, (unsigned long long)got);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_not(ctl_parse_size(bad[i], 1, &got), "'%s' accepted", bad[i]);
    /* 16E is 2^64 bytes: one more than a uint64 holds. */
    cr_expect_not(ctl_parse_size("16E", 1, &got));
}

Test(cli_args, the_unit_of_an_argument_comes_from_its_description)
{
    struct ctl_ctx *ctx = cli_ctx_new();

    cr_assert_eq(ctl_arg_unit(arg_of(ctx, "Domain", "setMemory", "memory")), 1024);
    cr_assert_eq(ctl_arg_unit(arg_of(ctx, "Pool", "createVolume", "capacity")), 1);
    cr_assert_eq(ctl_arg_unit(arg_of(ctx, "Volume", "resize", "capacity")), 1);
    cr_assert_eq(ctl_arg_unit(arg_of(ctx, "Domain", "setVcpus", "count")), 0);
    cr_assert_eq(ctl_arg_unit(arg_of(ctx, "Domain", "migrate", "bandwidth")), 0);
    cr_assert_eq(ctl_arg_unit(arg_of(ctx, "Domain", "attachDevice", "xmlDesc")), 0);
    cli_ctx_free(ctx);
}

Test(cli_args, integers_by_their_schema_type)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    const struct schema_arg *memory = arg_of(ctx, "Domain", "setMemory", "memory");
    const struct schema_arg *capacity = arg_of(ctx, "Volume", "resize", "capacity");
    const struct schema_arg *count = arg_of(ctx, "Domain", "setVcpus", "count");
    struct schema_arg offset = { .name = (char *)"offset", .type = QMF_T_INT32 };

    assert_value(memory, "2G", "2097152");
    assert_value(memory, "4096", "4096");
    assert_value(capacity, "20G", "21474836480");
    assert_value(count, "4", "4");
    assert_value(count, "0x10", "16");
    /* never octal: a leading zero is decimal */
    assert_value(count, "010", "10");
    assert_value(count, "four",
                 "error: argument 'count': expected uint32, got 'four'");
    assert_value(count, "-1", "error: argument 'count': expected uint32, got '-1'");
    assert_value(count, "4G", "error: argument 'count': expected uint32, got '4G'");
    assert_value(memory, "lots",
                 "error: argument 'memory': expected uint64 (KiB, or a size like 2G), "
                 "got 'lots'");
    assert_value(capacity, "big",
                 "error: argument 'capacity': expected uint64 (bytes, or a size like 10G), "
                 "got 'big'");
    assert_value(&offset, "-5", "-5");
    assert_value(&offset, "0x10", "16");
    assert_value(&offset, "5.5", "error: argument 'offset': expected int32, got '5.5'");
    cli_ctx_free(ctx);
}

/* strtoull skips blanks and takes a sign: " -1" was read as 2^64 - 1 and
 * sent as memory. */
Test(cli_args, a_negative_number_behind_a_blank_is_refused)
{
    struct ctl_ctx *ctx = cli_ctx_new();

    assert_value(arg_of(ctx, "Domain", "setMemory", "memory"), " -1",
                 "error: argument 'memory': expected uint64 (KiB, or a size like 2G), "
                 "got ' -1'");
    assert_value(arg_of(ctx, "Domain", "setVcpus", "count"), " -4",
                 "error: argument 'count': expected uint32, got ' -4'");
    cli_ctx_free(ctx);
}

Test(cli_args, booleans_numbers_strings_and_json)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    const struct schema_arg *autostart = arg_of(ctx, "Domain", "setAutostart", "autostart");
    const struct schema_arg *dname = arg_of(ctx, "Domain", "migrate", "dname");
    struct schema_arg ratio = { .name = (char *)"ratio", .type = QMF_T_DOUBLE };
    struct schema_arg opts = { .name = (char *)"opts", .type = QMF_T_MAP };
    const char *json_error = "error: argument 'opts': expected JSON (";
    char *got;

    assert_value(autostart, "yes", "true");
    assert_value(autostart, "ON", "true");
    assert_value(autostart, "1", "true");
    assert_value(autostart, "False", "false");
    assert_value(autostart, "off", "false");
    assert_value(autostart, "maybe", "error: argument 'autostart': expected true or false "
                 "(yes, no), got 'maybe'");
    assert_value(&ratio, "0.5", "0.5");
    assert_value(&ratio, "half", "error: argument 'ratio': expected a number, got 'half'");
    assert_value(dname, "web-2", "\"web-2\"");
    /* '@' is a file only in long strings */
    assert_value(dname, "@x", "\"@x\"");
    assert_value(&opts, "{\"a\":[1,2]}", "{\"a\":[1,2]}");
    got = value_text(&opts, "{a:1}");
    cr_assert(strncmp(got, json_error, strlen(json_error)) == 0, "%s", got);
    free(got);
    cli_ctx_free(ctx);
}

/* A scratch file with the given bytes; its path is malloc'd. */
static char *
scratch_file(const char *dir, const char *name, const void *bytes, size_t len)
{
    char *path = qmf_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(bytes, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    return path;
}

Test(cli_args, long_strings_from_files)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    const struct schema_arg *xml = arg_of(ctx, "Domain", "attachDevice", "xmlDesc");
    char dir[64], *path, *text, *want;

    test_tmpdir_make(dir, sizeof(dir), "cli-args");
    path = scratch_file(dir, "disk.xml", "<disk/>\n", 8);
    text = qmf_xasprintf("@%s", path);
    assert_value(xml, text, "\"<disk/>\\n\"");
    free(text);
    assert_value(xml, "@@literal", "\"@literal\"");
    assert_value(xml, "<disk/>", "\"<disk/>\"");
    text = qmf_xasprintf("@%s/missing.xml", dir);
    want = qmf_xasprintf("error: argument 'xmlDesc': %s/missing.xml: No such file or "
                         "directory", dir);
    assert_value(xml, text, want);
    free(text);
    free(want);
    free(path);
    test_tmpdir_remove(dir);
    cli_ctx_free(ctx);
}

Test(cli_args, files_are_utf8_text_of_bounded_size)
{
    char dir[64], *path, *big, *text;
    qmf_error err;

    test_tmpdir_make(dir, sizeof(dir), "cli-files");
    big = qmf_xmalloc(CTL_FILE_MAX + 1);
    memset(big, 'x', CTL_FILE_MAX + 1);

    path = scratch_file(dir, "fits", big, CTL_FILE_MAX);
    text = ctl_read_file(path, &err);
    cr_assert_not_null(text, "%s", err.text);
    cr_assert_eq(strlen(text), CTL_FILE_MAX);
    free(text);
    free(path);

    path = scratch_file(dir, "big", big, CTL_FILE_MAX + 1);
    cr_assert_null(ctl_read_file(path, &err));
    cr_assert_eq(err.code, QMF_ERR_TOO_LARGE);
    text = qmf_xasprintf("%s: more than %u bytes (what an agent takes in one request at "
                         "most)", path, CTL_FILE_MAX);
    cr_assert_str_eq(err.text, text);
    free(text);
    free(path);

    path = scratch_file(dir, "nul", "a\0b", 3);
    cr_assert_null(ctl_read_file(path, &err));
    cr_assert(strstr(err.text, "not UTF-8 text (or holds a NUL byte)"), "%s", err.text);
    free(path);

    path = scratch_file(dir, "latin1", "caf\xe9", 4);
    cr_assert_null(ctl_read_file(path, &err));
    cr_assert(strstr(err.text, "not UTF-8 text"), "%s", err.text);
    free(path);

    path = scratch_file(dir, "empty", "", 0);
    text = ctl_read_file(path, &err);
    cr_assert_str_eq(text, "");
    free(text);
    free(path);

    cr_assert_null(ctl_read_file("/dev/zero", &err));
    cr_assert_str_eq(err.text, "/dev/zero: a device, not a file");
    free(big);
    test_tmpdir_remove(dir);
}

Test(cli_args, setting_an_argument_by_name)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    const struct schema_method *m =
        schema_find_method(schema_find_class(ctx->schema, "Domain"), "getXMLDesc");
    qmf_value *args = qmf_map();
    qmf_error err;

    cr_assert_eq(ctl_arg_set(m, args, "flags", "2", &err), 0, "%s", err.text);
    cli_assert_json(args, "{\"flags\":2}");
    cr_assert_eq(ctl_arg_set(m, args, "description", "x", &err), -1);
    cr_assert_str_eq(err.text, "Domain.getXMLDesc has no input argument 'description' "
                     "(virtbus help call Domain getXMLDesc)");
    cr_assert_eq(ctl_arg_set(m, args, "flag", "2", &err), -1);
    cr_assert_str_eq(err.text, "Domain.getXMLDesc has no argument 'flag' "
                     "(virtbus help call Domain getXMLDesc)");
    cr_assert_eq(ctl_arg_set(m, args, "flags", "two", &err), -1);
    cr_assert_str_eq(err.text, "argument 'flags': expected uint32, got 'two'");
    qmf_free(args);
    cli_ctx_free(ctx);
}

/* The action of a verb's command line, or the usage error it prints. */
struct verb_case {
    struct ctl_ctx *ctx;
    struct cli_line line;
    struct ctl_action act;
    int rc;
    char *err;
};

static int
verb_action(struct verb_case *c, const char *const *words)
{
    struct test_capture capture;

    cr_assert_eq(cli_parse(c->ctx, &c->line, words), 0, "%s", c->line.err);
    cr_assert_not_null(c->line.entry->verb, "%s is no verb", c->line.entry->name);
    test_capture_begin(&capture, STDERR_FILENO);
    c->rc = ctl_verb_action(c->ctx, c->line.entry, &c->line.args, &c->act);
    c->err = test_capture_end(&capture);
    return c->rc;
}
#define VERB(c, ...) verb_action((c), (const char *const[]){ __VA_ARGS__, NULL })

static void
verb_done(struct verb_case *c)
{
    if (c->rc == 0)
        qmf_free(c->act.args);
    c->act.args = NULL;
    c->rc = -1;
    cli_line_free(&c->line);
    free(c->err);
    c->err = NULL;
}

static void
assert_verb_args(struct verb_case *c, const char *want_json, int nobjects)
{
    cr_assert_eq(c->rc, 0, "%s", c->err);
    cr_assert_str_eq(c->err, "");
    cli_assert_json(c->act.args, want_json);
    cr_assert_eq(c->act.nobjects, nobjects);
    verb_done(c);
}

static void
assert_verb_usage(struct verb_case *c, const char *why)
{
    const struct ctl_cmd_entry *e = c->line.entry;
    char *want = qmf_xasprintf("virtbus: %s: %s\nusage: virtbus %s %s\n"
                               "(virtbus help %s for more)\n", e->name, why, e->name,
                               e->usage, e->name);

    cr_assert_eq(c->rc, CTL_EXIT_USAGE);
    cr_assert_str_eq(c->err, want);
    free(want);
    verb_done(c);
}

Test(cli_verbs, positionals_presets_and_options_become_arguments)
{
    struct verb_case c = { .ctx = cli_ctx_new() };

    VERB(&c, "setmem", "web1", "2G");
    cr_assert_str_eq(c.act.objects[0], "web1");
    cr_assert_str_eq(c.act.cls->name, "Domain");
    cr_assert_str_eq(c.act.method->name, "setMemory");
    assert_verb_args(&c, "{\"memory\":2097152}", 1);
    VERB(&c, "start", "--paused", "d1", "d2");
    assert_verb_args(&c, "{\"flags\":1}", 2);
    VERB(&c, "start", "d1");
    assert_verb_args(&c, "{}", 1);
    VERB(&c, "autostart", "d1");
    assert_verb_args(&c, "{\"autostart\":true}", 1);
    /* An option's setting comes after the preset, and wins. */
    VERB(&c, "autostart", "--disable", "d1");
    assert_verb_args(&c, "{\"autostart\":false}", 1);
    VERB(&c, "vol-create", "p1", "v1", "10G", "--format", "qcow2");
    assert_verb_args(&c, "{\"name\":\"v1\",\"capacity\":10737418240,\"format\":\"qcow2\"}", 1);
    VERB(&c, "migrate", "web1", "--to-uri", "qemu+ssh://hv2/system", "--dname", "web9");
    assert_verb_args(&c, "{\"destinationUri\":\"qemu+ssh://hv2/system\",\"dname\":\"web9\"}", 1);
    VERB(&c, "net-dhcp-leases", "--mac", "52:54:00:aa:bb:cc", "net1");
    assert_verb_args(&c, "{\"mac\":\"52:54:00:aa:bb:cc\"}", 1);
    /* With --where the words are the arguments alone. */
    VERB(&c, "setmem", "--where", "state == \"running\"", "512M");
    cr_assert_null(c.act.objects);
    assert_verb_args(&c, "{\"memory\":524288}", 0);
    cli_ctx_free(c.ctx);
}

Test(cli_verbs, device_options_apply_in_table_order)
{
    struct verb_case c = { .ctx = cli_ctx_new() };
    char dir[64], *path;

    test_tmpdir_make(dir, sizeof(dir), "cli-verbs");
    path = scratch_file(dir, "nic.xml", "<interface/>", 12);
    VERB(&c, "attach-device", "--config", "web1", path);
    assert_verb_args(&c, "{\"xmlDesc\":\"<interface/>\",\"config\":true,\"live\":false}", 1);
    VERB(&c, "detach-device", "--persistent", "web1", path);
    assert_verb_args(&c, "{\"xmlDesc\":\"<interface/>\",\"live\":true,\"config\":true}", 1);
    VERB(&c, "define", "-n", "hv1", path);
    cr_assert(c.act.one_node);
    assert_verb_args(&c, "{\"xmlDesc\":\"<interface/>\"}", 0);
    free(path);
    test_tmpdir_remove(dir);
    cli_ctx_free(c.ctx);
}

Test(cli_verbs, wrong_counts_of_words_are_usage_errors)
{
    struct verb_case c = { .ctx = cli_ctx_new() };

    VERB(&c, "start");
    assert_verb_usage(&c, "no object named: give names or identities, or --where");
    VERB(&c, "setvcpus", "4");
    assert_verb_usage(&c, "1 word(s) given: the objects come first, then 1 more (count)");
    VERB(&c, "setvcpus", "a", "b", "4");
    assert_verb_usage(&c, "takes one object, 2 given");
    VERB(&c, "start", "--where", "state == \"shutoff\"", "d1");
    assert_verb_usage(&c, "--where replaces the object names");
    /* Too few words with --where once said it "replaces the object names". */
    VERB(&c, "setmem", "--where", "state == \"running\"");
    assert_verb_usage(&c, "with --where, 1 word(s) expected (memory), 0 given");
    VERB(&c, "define", "-n", "hv1");
    assert_verb_usage(&c, "1 word(s) expected (<xmlDesc), 0 given");
    VERB(&c, "define", "-n", "hv1", "a.xml", "b.xml");
    assert_verb_usage(&c, "1 word(s) expected (<xmlDesc), 2 given");
    VERB(&c, "setmem", "web1", "lots");
    assert_verb_usage(&c, "argument 'memory': expected uint64 (KiB, or a size like 2G), "
                      "got 'lots'");
    VERB(&c, "define", "-n", "hv1", "/nonexistent/dom.xml");
    assert_verb_usage(&c, "/nonexistent/dom.xml: No such file or directory");
    cli_ctx_free(c.ctx);
}

/* ctl_act_preflight's status and what it printed. */
static int
preflight(struct verb_case *c, qmf_value **where)
{
    struct test_capture capture;
    int rc;

    cr_assert_eq(c->rc, 0, "%s", c->err);
    test_capture_begin(&capture, STDERR_FILENO);
    rc = ctl_act_preflight(&c->line.args, &c->act, where);
    free(c->err);
    c->err = test_capture_end(&capture);
    return rc;
}

Test(cli_verbs, what_is_refused_before_anything_is_sent)
{
    struct verb_case c = { .ctx = cli_ctx_new() };
    qmf_value *where;

    /* A selection that would act on the whole fleet wants a target. */
    VERB(&c, "start", "--where", "state == \"shutoff\"");
    cr_assert_eq(preflight(&c, &where), CTL_EXIT_USAGE);
    qmf_free(where);
    cr_assert(strstr(c.err, "virtbus: start: --where acts on everything it selects: choose "
                     "the nodes with -n, -l, --if or --all"), "%s", c.err);
    verb_done(&c);

    VERB(&c, "start", "--all", "--where", "state == \"shutoff\"");
    cr_assert_eq(preflight(&c, &where), 0, "%s", c.err);
    cr_assert_not_null(where);
    qmf_free(where);
    verb_done(&c);

    /* A reader may look at everything. */
    VERB(&c, "dumpxml", "--where", "name == \"a\"");
    cr_assert_eq(preflight(&c, &where), 0, "%s", c.err);
    qmf_free(where);
    verb_done(&c);

    VERB(&c, "start", "--all", "--where", "state ==");
    cr_assert_eq(preflight(&c, &where), CTL_EXIT_USAGE);
    cr_assert_null(where);
    cr_assert(strncmp(c.err, "virtbus: --where: ", 18) == 0, "%s", c.err);
    verb_done(&c);

    /* A Node verb wants its node named. */
    VERB(&c, "restore", "/var/lib/save/web1");
    cr_assert_eq(preflight(&c, &where), CTL_EXIT_USAGE);
    cr_assert(strstr(c.err, "virtbus: restore: name the node with -n NODE\n"), "%s", c.err);
    qmf_free(where);
    verb_done(&c);

    /* Names need no target: they are found where they are. */
    VERB(&c, "destroy", "web1");
    cr_assert_eq(preflight(&c, &where), 0, "%s", c.err);
    cr_assert_null(where);
    verb_done(&c);
    cli_ctx_free(c.ctx);
}
