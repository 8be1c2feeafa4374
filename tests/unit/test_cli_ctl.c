/*
 * Tests of the helpers the CLI's commands share, without a broker:
 * classes by name, expressions with their caret, batch windows and
 * progress, where the caches are kept, and the guard before an action
 * (what it lets through, and a dry run on nodes that are all down).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/testutil.h"
#include "tests/unit/cli_support.h"

Test(cli_ctl, classes_by_name_in_any_case_data_classes_only)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct test_capture c;
    char *err;

    cr_assert_str_eq(ctl_find_class(ctx, "domain")->name, "Domain");
    cr_assert_str_eq(ctl_find_class(ctx, "VOLUME")->name, "Volume");
    test_capture_begin(&c, STDERR_FILENO);
    cr_assert_null(ctl_find_class(ctx, "domainLifecycle"), "an event is no class to query");
    cr_assert_null(ctl_find_class(ctx, "toaster"));
    err = test_capture_end(&c);
    cr_assert_str_eq(err, "virtbus: no class 'domainLifecycle' (virtbus schema lists them)\n"
                          "virtbus: no class 'toaster' (virtbus schema lists them)\n");
    free(err);
    cli_ctx_free(ctx);
}

Test(cli_ctl, a_bad_expression_is_shown_with_a_caret)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    const struct schema_class *domain = schema_find_class(ctx->schema, "Domain");
    struct test_capture c;
    qmf_value *pred;
    char *err;

    pred = ctl_compile_expr("--where", "state == \"running\"", domain);
    cr_assert_not_null(pred);
    qmf_free(pred);
    test_capture_begin(&c, STDERR_FILENO);
    cr_assert_null(ctl_compile_expr("--where", "state == \"running\" and cpus > 2", domain));
    err = test_capture_end(&c);
    /* The message, then the expression with a caret under the unknown name. */
    cr_assert_str_eq(err, "virtbus: --where: column 24: unknown property 'cpus' of Domain\n"
                          "  state == \"running\" and cpus > 2\n"
                          "                         ^\n");
    free(err);
    cli_ctx_free(ctx);
}

/* The batch window ctl_send_opts makes of --batch for n agents. */
static unsigned
window(struct ctl_ctx *ctx, const char *batch, size_t n)
{
    struct ctl_args a = { .batch = batch, .batch_sleep_ms = 250 };
    struct ctl_progress p = { .what = "start" };
    struct virtbus_send_opts o;

    ctl_send_opts(ctx, &a, n, NULL, &p, &o);
    cr_assert_eq(o.timeout_ms, ctx->timeout_ms);
    cr_assert_eq(o.batch_sleep_ms, 250);
    cr_assert_eq(o.progress != NULL, ctx->progress, "progress only on a terminal");
    return o.batch;
}

Test(cli_ctl, batch_windows_count_or_share_of_the_nodes)
{
    struct ctl_ctx *ctx = cli_ctx_new();

    cr_assert_eq(window(ctx, NULL, 25), 0, "no --batch: all at once");
    cr_assert_eq(window(ctx, "5", 25), 5);
    /* A share rounds up, and is at least one node. */
    cr_assert_eq(window(ctx, "10%", 25), 3);
    cr_assert_eq(window(ctx, "100%", 25), 25);
    cr_assert_eq(window(ctx, "1%", 10), 1);
    cr_assert_eq(window(ctx, "50%", 0), 1);
    ctx->progress = true;
    cr_assert_eq(window(ctx, "5", 25), 5);
    cli_ctx_free(ctx);
}

Test(cli_ctl, progress_is_one_line_rewritten_then_erased)
{
    struct ctl_progress p = { .what = "start" };
    struct test_capture c;
    char *err;

    test_capture_begin(&c, STDERR_FILENO);
    ctl_progress_end(&p);       /* nothing shown: nothing to erase */
    ctl_progress_update(&p, 5, 3, 1, 10);
    ctl_progress_update(&p, 10, 10, 1, 10);
    ctl_progress_end(&p);
    ctl_progress_end(&p);
    err = test_capture_end(&c);
    cr_assert_str_eq(err, "\r\033[Kstart: 3/10 answered, 1 failed (5 sent)"
                          "\r\033[Kstart: 10/10 answered, 1 failed"
                          "\r\033[K");
    free(err);
}

/* The broker part of a cache file's name for amqps://ops@mq.example:5671/fleet. */
#define CACHE_BROKER "amqps%3A%2F%2Fops%40mq.example%3A5671%2Ffleet"

static void
assert_cache_path(const struct ctl_ctx *ctx, const char *what, const char *suffix,
                  const char *dir, const char *want_below)
{
    char *path = ctl_cache_path(ctx, what, suffix);
    char *want = qmf_xasprintf("%s/%s", dir, want_below);

    cr_assert_str_eq(path, want);
    free(want);
    free(path);
}

Test(cli_ctl, caches_are_per_broker_under_xdg_cache_home)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    char dir[64], *sub;
    struct stat st;

    test_tmpdir_make(dir, sizeof(dir), "cli-cache");
    ctx->url_shown = (char *)"amqps://ops@mq.example:5671/fleet";
    cr_assert_eq(setenv("XDG_CACHE_HOME", dir, 1), 0);
    assert_cache_path(ctx, "presence", "-20s", dir,
                      "virtbus/presence-" CACHE_BROKER "-20s.json");
    sub = qmf_xasprintf("%s/virtbus", dir);
    cr_assert_eq(stat(sub, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700, "the cache says which nodes exist: private");
    free(sub);

    /* A relative XDG_CACHE_HOME is ignored, for ~/.cache. */
    cr_assert_eq(setenv("XDG_CACHE_HOME", "relative", 1), 0);
    cr_assert_eq(setenv("HOME", dir, 1), 0);
    assert_cache_path(ctx, "fleet", "", dir, ".cache/virtbus/fleet-" CACHE_BROKER ".json");
    cr_assert_eq(unsetenv("XDG_CACHE_HOME"), 0);
    cr_assert_eq(setenv("HOME", "nowhere", 1), 0);
    cr_assert_null(ctl_cache_path(ctx, "fleet", ""), "no place for a cache");
    ctx->url_shown = NULL;
    test_tmpdir_remove(dir);
    cli_ctx_free(ctx);
}

/* The guard of a verb's command line on nodes that are all down (so
 * that nothing needs a broker): its status, whether it stops the action,
 * and what it printed on stdout and stderr. */
struct guarded {
    int rc;
    bool stop;
    char *out, *err;
};

static struct guarded
guard(struct ctl_ctx *ctx, size_t ndown, const char *const *words)
{
    struct test_capture out, err;
    struct ctl_nodes nodes = { 0 };
    struct ctl_action act;
    struct cli_line l;
    struct guarded g;
    qmf_value *where = NULL;
    size_t i;

    cr_assert_eq(cli_parse(ctx, &l, words), 0, "%s", l.err);
    cr_assert_eq(ctl_verb_action(ctx, l.entry, &l.args, &act), 0);
    cr_assert_eq(ctl_act_preflight(&l.args, &act, &where), 0);
    for (i = 0; i < ndown; i++) {
        char node[32];

        snprintf(node, sizeof(node), "hv%zu", i + 1);
        cli_agent_add(&nodes.down, node, false, NULL, 0);
    }
    nodes.targeted = true;
    test_capture_begin(&out, STDOUT_FILENO);
    test_capture_begin(&err, STDERR_FILENO);
    g.rc = ctl_guard(ctx, &l.args, &act, &nodes, where, &g.stop);
    g.err = test_capture_end(&err);
    g.out = test_capture_end(&out);
    qmf_free(where);
    qmf_free(act.args);
    ctl_nodes_clear(&nodes);
    cli_line_free(&l);
    return g;
}
#define GUARD(ctx, ndown, ...) guard((ctx), (ndown), (const char *const[]){ __VA_ARGS__, NULL })

static void
assert_guarded(struct guarded g, int rc, bool stop, const char *out, const char *err)
{
    cr_assert_eq(g.rc, rc);
    cr_assert_eq(g.stop, stop);
    cr_assert_str_eq(g.out, out);
    cr_assert_str_eq(g.err, err);
    free(g.out);
    free(g.err);
}

Test(cli_guard, what_needs_no_confirmation_goes_on_at_once)
{
    struct ctl_ctx *ctx = cli_ctx_new();

    ctx->config.confirm_above = 2;
    /* Not destructive, or few enough nodes, or --yes. */
    assert_guarded(GUARD(ctx, 3, "start", "--all", "--async", "--where", "name == \"a\""),
                   0, false, "", "");
    assert_guarded(GUARD(ctx, 2, "destroy", "--all", "--async", "--where", "name == \"a\""),
                   0, false, "", "");
    assert_guarded(GUARD(ctx, 3, "destroy", "--all", "--async", "--yes", "--where",
                         "name == \"a\""), 0, false, "", "");
    /* 0: never asks. */
    ctx->config.confirm_above = 0;
    assert_guarded(GUARD(ctx, 3, "destroy", "--all", "--async", "--where", "name == \"a\""),
                   0, false, "", "");
    cli_ctx_free(ctx);
}

Test(cli_guard, a_dry_run_sends_nothing)
{
    struct ctl_ctx *ctx = cli_ctx_new();

    /* Every node down: nothing to look at, nothing to act on. */
    assert_guarded(GUARD(ctx, 2, "destroy", "--all", "--dry-run", "--where", "name == \"a\""),
                   0, true, "", "destroy: dry run: 0 objects on 0 nodes; nothing sent\n");
    ctx->json = true;
    assert_guarded(GUARD(ctx, 1, "start", "--all", "--dry-run", "--where", "name == \"a\""),
                   0, true,
                   "{\"command\":\"start\",\"class\":\"Domain\",\"method\":\"create\","
                   "\"dry_run\":true,\"targets\":[],\"errors\":[]}\n", "");
    cli_ctx_free(ctx);
}
