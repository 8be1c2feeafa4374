/*
 * Tests of the CLI's command lines without a broker: the shared option
 * parser and its usage errors, hoisting options written before the
 * command, command lookup and suggestions, and exit statuses.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/testutil.h"
#include "tests/unit/cli_support.h"

/* The usage error ctl_usage prints for the line's command with why. */
static void
assert_usage_error(const struct cli_line *l, const char *why)
{
    const struct ctl_cmd_entry *e = l->entry;
    char *want = qmf_xasprintf("virtbus: %s: %s\nusage: virtbus %s%s%s\n"
                               "(virtbus help %s for more)\n", e->name, why, e->name,
                               *e->usage ? " " : "", e->usage, e->name);

    cr_assert_eq(l->rc, CTL_EXIT_USAGE, "rc %d for '%s'", l->rc, why);
    cr_assert_str_eq(l->err, want);
    free(want);
}

static void
assert_list(const char **list, const char *const *want)
{
    size_t i;

    cr_assert_not_null(list);
    for (i = 0; want[i]; i++) {
        cr_assert_not_null(list[i], "%zu items, wanted more", i);
        cr_assert_str_eq(list[i], want[i]);
    }
    cr_assert_null(list[i], "more than %zu items: %s", i, list[i]);
}

Test(cli_options, shared_output_options_set_the_context)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct cli_line l;

    cr_assert_eq(CLI_PARSE(ctx, &l, "nodes", "--json", "-q", "--no-header", "--raw",
                           "--color", "never", "--timeout", "5", "-c", "prod"), 0, "%s", l.err);
    cr_assert_str_eq(l.err, "");
    cr_assert(ctx->json);
    cr_assert(ctx->quiet);
    cr_assert(ctx->no_header);
    cr_assert(ctx->raw);
    cr_assert_str_eq(l.args.color, "never");
    cr_assert_str_eq(l.args.timeout, "5");
    cr_assert_str_eq(l.args.connect, "prod");
    cr_assert_not(l.args.help);
    cr_assert_not(ctl_args_targeted(&l.args));
    cr_assert_eq(l.args.argc, 0);
    cli_line_free(&l);
    cli_ctx_free(ctx);
}

Test(cli_options, targeting_and_acting_options_of_a_verb)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct cli_line l;

    cr_assert_eq(CLI_PARSE(ctx, &l, "shutdown", "-n", "web1,web2", "--node", "db1",
                           "-l", "rack=r1", "--label", "role=db", "--if", "cpus > 4",
                           "--all", "--batch", "10%", "--batch-sleep", "1.5", "--async",
                           "--dry-run", "--yes", "-w", "state == \"running\""), 0, "%s", l.err);
    assert_list(l.args.names, (const char *const[]){ "web1,web2", "db1", NULL });
    assert_list(l.args.labels, (const char *const[]){ "rack=r1", "role=db", NULL });
    cr_assert_str_eq(l.args.if_expr, "cpus > 4");
    cr_assert(l.args.all);
    cr_assert_str_eq(l.args.batch, "10%");
    cr_assert_eq(l.args.batch_sleep_ms, 1500);
    cr_assert(l.args.async);
    cr_assert(l.args.dry_run);
    cr_assert(l.args.yes);
    cr_assert_str_eq(l.args.where, "state == \"running\"");
    cr_assert(ctl_args_targeted(&l.args));
    cli_line_free(&l);
    cli_ctx_free(ctx);
}

/* Whether a `list` command line targets nodes. */
static bool
targets_nodes(struct ctl_ctx *ctx, const char *const *words)
{
    struct cli_line l;
    bool targeted;

    cr_assert_eq(cli_parse(ctx, &l, words), 0, "%s", l.err);
    targeted = ctl_args_targeted(&l.args);
    cli_line_free(&l);
    return targeted;
}
#define TARGETS(ctx, ...) targets_nodes((ctx), (const char *const[]){ "list", __VA_ARGS__, NULL })

Test(cli_options, each_targeting_flag_alone_targets)
{
    struct ctl_ctx *ctx = cli_ctx_new();

    cr_assert(TARGETS(ctx, "-l", "a=b"));
    cr_assert(TARGETS(ctx, "--if", "cpus > 1"));
    cr_assert(TARGETS(ctx, "--all"));
    cr_assert(TARGETS(ctx, "-n", "web1"));
    /* --where chooses objects, not nodes. */
    cr_assert_not(TARGETS(ctx, "--where", "name == \"a\""));
    cr_assert_not(TARGETS(ctx, "--json"));
    cli_ctx_free(ctx);
}

Test(cli_options, positionals_and_own_options_in_any_order)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct cli_line l;

    cr_assert_eq(CLI_PARSE(ctx, &l, "migrate", "web1", "--to", "hv2", "--persistent",
                           "--bandwidth", "100"), 0, "%s", l.err);
    cr_assert_eq(l.args.argc, 1);
    cr_assert_str_eq(l.args.argv[0], "web1");
    cr_assert_str_eq(ctl_args_get(&l.args, l.entry, "to"), "hv2");
    cr_assert_str_eq(ctl_args_get(&l.args, l.entry, "bandwidth"), "100");
    /* A flag given is "", one not given NULL, and so is an unknown name. */
    cr_assert_str_eq(ctl_args_get(&l.args, l.entry, "persistent"), "");
    cr_assert_null(ctl_args_get(&l.args, l.entry, "offline"));
    cr_assert_null(ctl_args_get(&l.args, l.entry, "no-such-option"));
    cli_line_free(&l);

    /* An own option's short name (-o is --columns). */
    cr_assert_eq(CLI_PARSE(ctx, &l, "list", "-o", "node,name"), 0, "%s", l.err);
    cr_assert_str_eq(ctl_args_get(&l.args, l.entry, "columns"), "node,name");
    cli_line_free(&l);
    cli_ctx_free(ctx);
}

Test(cli_options, options_before_the_command_are_hoisted)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct cli_line l;

    cr_assert_eq(CLI_PARSE(ctx, &l, "-n", "web1", "--async", "--timeout", "3", "start", "d1"),
                 0, "%s", l.err);
    cr_assert_str_eq(l.entry->name, "start");
    assert_list(l.args.names, (const char *const[]){ "web1", NULL });
    cr_assert(l.args.async);
    cr_assert_str_eq(l.args.timeout, "3");
    cr_assert_eq(l.args.argc, 1);
    cr_assert_str_eq(l.args.argv[0], "d1");
    cli_line_free(&l);

    /* A value glued to its option, and "--" before the command. */
    cr_assert_eq(CLI_PARSE(ctx, &l, "--timeout=3", "-nweb1", "--", "start", "d1"), 0, "%s",
                 l.err);
    cr_assert_str_eq(l.entry->name, "start");
    assert_list(l.args.names, (const char *const[]){ "web1", NULL });
    cr_assert_str_eq(l.args.timeout, "3");
    cli_line_free(&l);
    cli_ctx_free(ctx);
}

Test(cli_options, a_cluster_of_short_options_is_hoisted_whole)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct cli_line l;

    /* -qn takes the next word as -n's value: it is no command name. */
    cr_assert_eq(CLI_PARSE(ctx, &l, "-qn", "web1", "start", "d1"), 0, "%s", l.err);
    cr_assert_str_eq(l.entry->name, "start");
    cr_assert(ctx->quiet);
    assert_list(l.args.names, (const char *const[]){ "web1", NULL });
    cr_assert_str_eq(l.args.argv[0], "d1");
    cli_line_free(&l);

    /* -qnweb1: the value is the rest of the word. */
    cr_assert_eq(CLI_PARSE(ctx, &l, "-qnweb1", "start", "d1"), 0, "%s", l.err);
    cr_assert_str_eq(l.entry->name, "start");
    assert_list(l.args.names, (const char *const[]){ "web1", NULL });
    cli_line_free(&l);
    cli_ctx_free(ctx);
}

Test(cli_options, hoisting_without_a_command)
{
    char *argv[] = { "virtbus", "--json", "-n", "web1", NULL };
    char **words;
    int n;

    words = ctl_args_hoist(4, argv, &n);
    cr_assert_null(words[0]);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(words[1], "--json");
    cr_assert_str_eq(words[2], "-n");
    cr_assert_str_eq(words[3], "web1");
    free(words);

    /* An option that wants a value, at the end, takes no command. */
    words = ctl_args_hoist(3, (char *[]){ "virtbus", "--json", "-n", NULL }, &n);
    cr_assert_null(words[0]);
    free(words);
}

Test(cli_options, bad_values_are_usage_errors)
{
    static const char *const bad_batches[] = { "0", "101%", "-1", "5x", "1000001", "%", "" };
    static const char *const bad_sleeps[] = { "-1", "nan", "3601", "1s", "" };
    struct ctl_ctx *ctx = cli_ctx_new();
    struct cli_line l;
    char *why;
    size_t i;

    CLI_PARSE(ctx, &l, "list", "--color", "sometimes");
    assert_usage_error(&l, "--color: expected auto, always or never, got 'sometimes'");
    cli_line_free(&l);
    for (i = 0; i < sizeof(bad_batches) / sizeof(bad_batches[0]); i++) {
        CLI_PARSE(ctx, &l, "list", "--batch", bad_batches[i]);
        why = qmf_xasprintf("--batch: expected a count or a percentage, got '%s'",
                            bad_batches[i]);
        assert_usage_error(&l, why);
        free(why);
        cli_line_free(&l);
    }
    for (i = 0; i < sizeof(bad_sleeps) / sizeof(bad_sleeps[0]); i++) {
        CLI_PARSE(ctx, &l, "list", "--batch-sleep", bad_sleeps[i]);
        why = qmf_xasprintf("--batch-sleep: expected seconds, got '%s'", bad_sleeps[i]);
        assert_usage_error(&l, why);
        free(why);
        cli_line_free(&l);
    }
    cli_ctx_free(ctx);
}

Test(cli_options, batch_bounds_that_are_accepted)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct cli_line l;

    cr_assert_eq(CLI_PARSE(ctx, &l, "list", "--batch", "100%", "--batch-sleep", "0"), 0);
    cr_assert_eq(l.args.batch_sleep_ms, 0);
    cli_line_free(&l);
    cr_assert_eq(CLI_PARSE(ctx, &l, "list", "--batch", "1000000", "--batch-sleep", "3600"), 0);
    cr_assert_eq(l.args.batch_sleep_ms, 3600000);
    cli_line_free(&l);
    cli_ctx_free(ctx);
}

/* Command lines the parser refuses, and why. */
static const struct {
    const char *const *words;
    const char *why;
} refused[] = {
    { (const char *const[]){ "start", "d1", "-n", NULL }, "option '-n' needs a value" },
    { (const char *const[]){ "start", "d1", "--where", NULL }, "option '--where' needs a value" },
    { (const char *const[]){ "start", "--frobnicate", "d1", NULL },
      "unknown option '--frobnicate'" },
    { (const char *const[]){ "start", "-Z", "d1", NULL }, "unknown option '-Z'" },
    /* In a cluster: the unknown letter, not the word. */
    { (const char *const[]){ "start", "-qZ", "d1", NULL }, "unknown option '-Z'" },
    /* A shared option the command does not take is unknown to it... */
    { (const char *const[]){ "schema", "-n", "web1", NULL }, "unknown option '-n'" },
    { (const char *const[]){ "nodes", "--where", "x", NULL }, "unknown option '--where'" },
    /* ...and so is another command's own option. */
    { (const char *const[]){ "shutdown", "--paused", "d1", NULL }, "unknown option '--paused'" },
    /* getopt reports a flag given a value with the flag's val as optopt:
     * the message once printed a NUL byte ("-\0") or the flag's short name. */
    { (const char *const[]){ "schema", "--json=1", NULL }, "option '--json' takes no value" },
    { (const char *const[]){ "schema", "--help=x", NULL }, "option '--help' takes no value" },
    { (const char *const[]){ "start", "--paused=yes", "d1", NULL },
      "option '--paused' takes no value" },
    /* Abbreviated, as getopt_long accepts it. */
    { (const char *const[]){ "schema", "--js=1", NULL }, "option '--js' takes no value" },
};

Test(cli_options, unknown_incomplete_and_misused_options)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct cli_line l;
    size_t i;

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        cli_parse(ctx, &l, refused[i].words);
        assert_usage_error(&l, refused[i].why);
        cli_line_free(&l);
    }
    cli_ctx_free(ctx);
}

struct seen_option {
    char names[64][24];
    char shorts[64];
    size_t n;
};

static void
remember_option(void *opaque, char short_name, const char *name, const char *arg,
                const char *help)
{
    struct seen_option *s = opaque;

    cr_assert_lt(s->n, 64);
    cr_assert_not_null(help, "--%s has no help", name);
    (void)arg;
    snprintf(s->names[s->n], sizeof(s->names[s->n]), "%s", name);
    s->shorts[s->n++] = short_name;
}

static ssize_t
seen_at(const struct seen_option *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return (ssize_t)i;
    return -1;
}

Test(cli_options, help_lists_own_options_then_the_shared_ones_taken)
{
    struct seen_option s = { .n = 0 };

    ctl_options_each(ctl_find_command("start"), remember_option, &s);
    cr_assert_eq(seen_at(&s, "paused"), 0, "own options come first");
    cr_assert_gt(seen_at(&s, "node"), 0);
    cr_assert_eq(s.shorts[seen_at(&s, "node")], 'n');
    cr_assert_gt(seen_at(&s, "where"), 0);
    cr_assert_gt(seen_at(&s, "async"), 0);
    cr_assert_gt(seen_at(&s, "json"), 0);
    cr_assert_eq(s.shorts[seen_at(&s, "json")], 0);

    memset(&s, 0, sizeof(s));
    ctl_options_each(ctl_find_command("schema"), remember_option, &s);
    cr_assert_eq(seen_at(&s, "node"), -1, "schema takes no targets");
    cr_assert_eq(seen_at(&s, "where"), -1);
    cr_assert_geq(seen_at(&s, "help"), 0);
    cr_assert_eq(s.shorts[seen_at(&s, "help")], 'h');
}

Test(cli_lookup, every_command_is_found_by_its_name_and_once)
{
    const struct ctl_cmd_section *sec;
    const struct ctl_cmd_entry *e;
    size_t n = 0;

    for (sec = ctl_sections; sec->entries; sec++)
        for (e = sec->entries; e->name; e++, n++) {
            cr_expect_eq(ctl_find_command(e->name), e, "'%s' finds another entry "
                         "(a name twice?)", e->name);
            cr_expect_not_null(e->usage, "%s has no usage", e->name);
            cr_expect_not_null(e->summary, "%s has no summary", e->name);
            cr_expect_not_null(e->exec, "%s does nothing", e->name);
        }
    cr_assert_gt(n, 60, "only %zu commands", n);
    cr_assert_str_eq(ctl_find_command("start")->verb->method, "create");
    cr_assert_null(ctl_find_command("Start"), "names are exact");
    cr_assert_null(ctl_find_command("star"));
    cr_assert_null(ctl_find_command(""));
}

Test(cli_lookup, a_misspelled_command_suggests_the_nearest)
{
    cr_assert_str_eq(ctl_suggest_command("strat"), "start");        /* swap */
    cr_assert_str_eq(ctl_suggest_command("shutdonw"), "shutdown");
    cr_assert_str_eq(ctl_suggest_command("vol-delet"), "vol-delete");   /* delete */
    cr_assert_str_eq(ctl_suggest_command("nodess"), "nodes");       /* insert */
    cr_assert_null(ctl_suggest_command("xyzzy"));
    cr_assert_null(ctl_suggest_command("a-name-longer-than-any-command-name-at-all"));
}

Test(cli_lookup, an_unknown_command_message)
{
    struct test_capture c;
    char *out;

    test_capture_begin(&c, STDERR_FILENO);
    ctl_unknown_command("strat");
    ctl_unknown_command("xyzzy");
    out = test_capture_end(&c);
    cr_assert_str_eq(out, "virtbus: unknown command 'strat'; did you mean 'start'? "
                     "(virtbus help lists them)\n"
                     "virtbus: unknown command 'xyzzy' (try virtbus help)\n");
    free(out);
}

Test(cli_lookup, usage_without_a_reason)
{
    struct test_capture c;
    char *out;

    test_capture_begin(&c, STDERR_FILENO);
    cr_assert_eq(ctl_usage(ctl_find_command("nodes"), NULL), CTL_EXIT_USAGE);
    out = test_capture_end(&c);
    cr_assert_str_eq(out, "usage: virtbus nodes\n(virtbus help nodes for more)\n");
    free(out);
}

Test(cli_exit, the_worse_status_wins_in_the_documented_order)
{
    static const int order[] = { CTL_EXIT_OK, CTL_EXIT_FAILED, CTL_EXIT_NO_REPLY,
                                 CTL_EXIT_BROKER, CTL_EXIT_USAGE };
    size_t i, j, n = sizeof(order) / sizeof(order[0]);

    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++)
            cr_expect_eq(ctl_exit_worse(order[i], order[j]), order[i > j ? i : j],
                         "worse of %d and %d", order[i], order[j]);
}

Test(cli_exit, library_errors_map_to_statuses)
{
    qmf_error err;

    qmf_error_set(&err, QMF_ERR_TRANSPORT, "x");
    cr_assert_eq(ctl_exit_of(&err), CTL_EXIT_BROKER);
    qmf_error_set(&err, QMF_ERR_TIMEOUT, "x");
    cr_assert_eq(ctl_exit_of(&err), CTL_EXIT_NO_REPLY);
    qmf_error_set(&err, QMF_ERR_UNKNOWN_OBJECT, "x");
    cr_assert_eq(ctl_exit_of(&err), CTL_EXIT_FAILED);
}
