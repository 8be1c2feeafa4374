/*
 * Tests of targeting and name resolution without a broker: -n, @groups,
 * -l and --if into an agent predicate, the selection of up and down
 * nodes from presence, and names found (or not, or twice) in the nodes'
 * answers.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/testutil.h"
#include "tests/unit/cli_support.h"

/* The predicate of a command line's targeting flags, its names, its
 * status and what it printed. */
struct targeting {
    struct cli_line line;
    qmf_value *names, *predicate;
    int rc;
    char *err;
};

static int
target(struct ctl_ctx *ctx, struct targeting *t, const char *const *words)
{
    struct test_capture c;

    cr_assert_eq(cli_parse(ctx, &t->line, words), 0, "%s", t->line.err);
    t->names = qmf_list();
    test_capture_begin(&c, STDERR_FILENO);
    t->rc = ctl_target_predicate(ctx, t->line.entry, &t->line.args, t->names, &t->predicate);
    t->err = test_capture_end(&c);
    return t->rc;
}
#define TARGET(ctx, t, ...) target((ctx), (t), (const char *const[]){ "list", __VA_ARGS__, NULL })

static void
targeting_free(struct targeting *t)
{
    cli_line_free(&t->line);
    qmf_free(t->names);
    qmf_free(t->predicate);
    free(t->err);
    memset(t, 0, sizeof(*t));
}

/* Presence: web1 (up, rack r1, 8 CPUs), web2 (down, rack r1), db1 (up,
 * rack r2, 2 CPUs), app1 (up, no labels). */
static void
presence(struct virtbus_agent_list *l)
{
    memset(l, 0, sizeof(*l));
    cli_agent_add(l, "app1", true, "{\"cpus\":4}", 1);
    cli_agent_add(l, "db1", true, "{\"cpus\":2,\"labels\":{\"rack\":\"r2\"}}", 1);
    cli_agent_add(l, "web1", true, "{\"cpus\":8,\"labels\":{\"rack\":\"r1\"}}", 1);
    cli_agent_add(l, "web2", false, "{\"cpus\":8,\"labels\":{\"rack\":\"r1\"}}", 0);
}

static char *
nodes_of(const struct virtbus_agent_list *l)
{
    char *out = qmf_xstrdup(""), *next;
    size_t i;

    for (i = 0; i < l->n; i++) {
        next = qmf_xasprintf("%s%s%s", out, i ? "," : "", l->items[i].node);
        free(out);
        out = next;
    }
    return out;
}

/* Selects from presence with a command line's flags: "up|down", or
 * "error: <message>".  by_node: from presence listed without values
 * (virtbus_presence_nodes), as ctl_discover lists it when the target
 * looks at node names only. */
static char *
selection_from(struct ctl_ctx *ctx, const char *const *words, bool by_node)
{
    struct targeting t = { 0 };
    struct ctl_nodes n = { 0 };
    struct test_capture c;
    char *up, *down, *out;
    size_t i;
    int rc;

    cr_assert_eq(target(ctx, &t, words), 0, "%s", t.err);
    presence(&n.presence);
    for (i = 0; by_node && i < n.presence.n; i++) {
        qmf_free(n.presence.items[i].attrs);
        n.presence.items[i].attrs = NULL;
    }
    n.predicate = t.predicate;
    t.predicate = NULL;
    n.targeted = ctl_args_targeted(&t.line.args);
    test_capture_begin(&c, STDERR_FILENO);
    rc = ctl_nodes_select(&n, t.names);
    out = test_capture_end(&c);
    if (rc != 0) {
        char *err = qmf_xasprintf("error %d: %s", rc, out);

        free(out);
        out = err;
    } else {
        cr_assert_str_eq(out, "");
        free(out);
        up = nodes_of(&n.up);
        down = nodes_of(&n.down);
        out = qmf_xasprintf("%s|%s", up, down);
        free(up);
        free(down);
    }
    ctl_nodes_clear(&n);
    targeting_free(&t);
    return out;
}

/* The selection; where the target looks at node names only, the same from
 * presence without values, or a warm start of a large fleet (which reads
 * none) would select otherwise. */
static char *
selection(struct ctl_ctx *ctx, const char *const *words)
{
    struct targeting t = { 0 };
    char *out = selection_from(ctx, words, false);

    cr_assert_eq(target(ctx, &t, words), 0, "%s", t.err);
    if (virtbus_target_on_nodes(t.predicate)) {
        char *by_node = selection_from(ctx, words, true);

        cr_assert_str_eq(by_node, out, "by node alone: %s, with values: %s", by_node, out);
        free(by_node);
    }
    targeting_free(&t);
    return out;
}
#define SELECT(ctx, ...) selection((ctx), (const char *const[]){ "list", __VA_ARGS__, NULL })

static void
assert_selects(char *got, const char *want)
{
    cr_assert_str_eq(got, want);
    free(got);
}

Test(cli_target, names_split_at_commas_and_groups_expand)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    const char *conf = "node_groups = [ \"web=web*,front1\", \"db=db1\" ]\n";
    struct targeting t = { 0 };
    qmf_error err;

    cr_assert_eq(ctl_config_parse(&ctx->config, conf, strlen(conf), "t.conf", &err), 0, "%s",
                 err.text);
    cr_assert_eq(TARGET(ctx, &t, "-n", "web1,web2", "-n", "db1"), 0, "%s", t.err);
    cli_assert_json(t.names, "[\"web1\",\"web2\",\"db1\"]");
    cr_assert_not_null(t.predicate);
    targeting_free(&t);
    cr_assert_eq(TARGET(ctx, &t, "-n", "@web,app1", "--node", "@db"), 0, "%s", t.err);
    cli_assert_json(t.names, "[\"web*\",\"front1\",\"app1\",\"db1\"]");
    targeting_free(&t);
    cli_ctx_free(ctx);
}

Test(cli_target, bad_targets_are_usage_errors_before_anything_is_sent)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct targeting t = { 0 };
    qmf_error err;
    char *want;

    cr_assert_eq(TARGET(ctx, &t, "-n", ","), CTL_EXIT_USAGE);
    cr_assert_null(t.predicate);
    cr_assert(strncmp(t.err, "virtbus: list: -n: expected node names, got ','\nusage: ",
                      55) == 0, "%s", t.err);
    targeting_free(&t);

    cr_assert_eq(TARGET(ctx, &t, "-n", "web1", "-n", " , "), CTL_EXIT_USAGE);
    cr_assert(strstr(t.err, "-n: expected node names, got ' , '"), "%s", t.err);
    targeting_free(&t);

    cr_assert_null(ctl_config_group(&ctx->config, "@nosuch", &err));
    want = qmf_xasprintf("virtbus: list: -n @nosuch: %s\n", err.text);
    cr_assert_eq(TARGET(ctx, &t, "-n", "@nosuch"), CTL_EXIT_USAGE);
    cr_assert(strncmp(t.err, want, strlen(want)) == 0, "%s", t.err);
    free(want);
    targeting_free(&t);

    cr_assert_eq(TARGET(ctx, &t, "-l", "rack"), CTL_EXIT_USAGE);
    cr_assert(strstr(t.err, "virtbus: list: label 'rack' is not KEY=VALUE\n"), "%s", t.err);
    targeting_free(&t);

    /* --if is read against the Node class: a typo is refused here. */
    cr_assert_eq(TARGET(ctx, &t, "--if", "cpu > 4"), CTL_EXIT_USAGE);
    cr_assert(strncmp(t.err, "virtbus: --if: ", 15) == 0, "%s", t.err);
    cr_assert(strstr(t.err, "cpu"), "%s", t.err);
    targeting_free(&t);
    cli_ctx_free(ctx);
}

Test(cli_target, presence_is_split_into_up_and_down_nodes)
{
    struct ctl_ctx *ctx = cli_ctx_new();

    /* No flag: every node, and an empty fleet is no error. */
    assert_selects(SELECT(ctx, "--json"), "app1,db1,web1|web2");
    assert_selects(SELECT(ctx, "--all"), "app1,db1,web1|web2");
    assert_selects(SELECT(ctx, "-n", "web1,db1"), "db1,web1|");
    assert_selects(SELECT(ctx, "-n", "web*"), "web1|web2");
    assert_selects(SELECT(ctx, "-n", "web2"), "|web2");
    assert_selects(SELECT(ctx, "-l", "rack=r1"), "web1|web2");
    /* Every criterion must hold. */
    assert_selects(SELECT(ctx, "-l", "rack=r1", "-n", "*1"), "web1|");
    assert_selects(SELECT(ctx, "--if", "cpus >= 4"), "app1,web1|web2");
    assert_selects(SELECT(ctx, "--if", "cpus >= 4", "-l", "rack=r1", "-n", "web2"), "|web2");
    cli_ctx_free(ctx);
}

/* What presence without values can select: node names and globs, --all;
 * labels and --if need every node's values. */
Test(cli_target, targets_on_node_names_alone_are_told_apart)
{
    static const struct {
        const char *words[6];
        bool on_nodes;
    } cases[] = {
        { { "list", "--all" }, true },
        { { "list", "--json" }, true },
        { { "list", "-n", "web1" }, true },
        { { "list", "-n", "web1,db1,app1" }, true },
        { { "list", "-n", "web*" }, true },
        { { "list", "-l", "rack=r1" }, false },
        { { "list", "-l", "rack=r1", "-n", "web1" }, false },
        { { "list", "--if", "cpus >= 4" }, false },
        { { "list", "--if", "cpus >= 4 or cpus < 2" }, false },
    };
    struct ctl_ctx *ctx = cli_ctx_new();
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct targeting t = { 0 };

        cr_assert_eq(target(ctx, &t, cases[i].words), 0, "%s", t.err);
        cr_assert_eq(virtbus_target_on_nodes(t.predicate), cases[i].on_nodes,
                     "case %zu (%s %s)", i, cases[i].words[1],
                     cases[i].words[2] ? cases[i].words[2] : "");
        targeting_free(&t);
    }
    cli_ctx_free(ctx);
}

Test(cli_target, unknown_nodes_and_empty_targets)
{
    struct ctl_ctx *ctx = cli_ctx_new();

    /* A literal name nobody knows is a usage error: a typo, not a node
     * that is down. */
    assert_selects(SELECT(ctx, "-n", "web1,wbe2"),
                   "error 2: virtbus: unknown node 'wbe2': never heard of, or forgotten "
                   "(virtbus nodes lists the known ones)\n");
    /* A glob may match nothing: then the target is empty, a failure. */
    assert_selects(SELECT(ctx, "-n", "ghost*"),
                   "error 1: virtbus: no node matches the target (virtbus nodes lists them)\n");
    assert_selects(SELECT(ctx, "-l", "rack=r9"),
                   "error 1: virtbus: no node matches the target (virtbus nodes lists them)\n");
    cli_ctx_free(ctx);
}

/* Answers of hv1 (web1, db1 and two objects named x), hv2 (web1, its own
 * UUID), hv3 (failed); hv4 is down. */
static void
answers(struct ctl_found_set *found, struct ctl_nodes *nodes, bool targeted)
{
    memset(found, 0, sizeof(*found));
    memset(nodes, 0, sizeof(*nodes));
    cli_result_add(&found->answers, "hv1", VIRTBUS_OK,
                   "[{\"_object_id\":{\"_object_name\":\"domain:u1\"},"
                   "\"_values\":{\"name\":\"web1\",\"uuid\":\"u1\"}},"
                   "{\"_object_id\":{\"_object_name\":\"domain:u2\"},"
                   "\"_values\":{\"name\":\"db1\",\"uuid\":\"u2\"}},"
                   "{\"_object_id\":{\"_object_name\":\"domain:u5\"},"
                   "\"_values\":{\"name\":\"x\",\"uuid\":\"u5\"}},"
                   "{\"_object_id\":{\"_object_name\":\"domain:u6\"},"
                   "\"_values\":{\"name\":\"x\",\"uuid\":\"u6\"}}]", 0, NULL);
    cli_result_add(&found->answers, "hv2", VIRTBUS_OK,
                   "[{\"_object_id\":{\"_object_name\":\"domain:u3\"},"
                   "\"_values\":{\"name\":\"web1\",\"uuid\":\"u3\"}}]", 0, NULL);
    cli_result_add(&found->answers, "hv3", VIRTBUS_FAILED, NULL, QMF_ERR_UNAUTHORIZED,
                   "role reader may not");
    cli_agent_add(&nodes->down, "hv4", false, NULL, 0);
    nodes->targeted = targeted;
}

/* What resolution found ("node:name" each) and the outcomes it added
 * ("node|object|status|error" each, "-" for none). */
static void
resolve(struct ctl_ctx *ctx, bool targeted, char *const *names, int n, const char *want_found,
        const char *want_errors)
{
    const struct schema_class *cls = schema_find_class(ctx->schema, "Domain");
    struct ctl_found_set found;
    struct ctl_nodes nodes;
    struct ctl_outcomes errors = { 0 };
    char *got = qmf_xstrdup(""), *next;
    size_t i;

    answers(&found, &nodes, targeted);
    ctl_resolve_answers(cls, &nodes, names, n, &found, &errors);
    for (i = 0; i < found.n; i++) {
        next = qmf_xasprintf("%s%s%s:%s", got, i ? " " : "", found.items[i].owner->node,
                             ctl_object_label(found.items[i].data));
        free(got);
        got = next;
    }
    cr_assert_str_eq(got, want_found);
    free(got);
    got = qmf_xstrdup("");
    for (i = 0; i < errors.n; i++) {
        const struct ctl_outcome *oc = &errors.items[i];

        next = qmf_xasprintf("%s%s|%s|%d|%s\n", got, oc->node ? oc->node : "-",
                             oc->object ? oc->object : "-", (int)oc->status, oc->error.text);
        free(got);
        got = next;
    }
    cr_assert_str_eq(got, want_errors);
    free(got);
    ctl_outcomes_clear(&errors);
    ctl_found_set_clear(&found);
    ctl_nodes_clear(&nodes);
}
#define NAMES(...) (char *const[]){ __VA_ARGS__ }, \
    (int)(sizeof((char *const[]){ __VA_ARGS__ }) / sizeof(char *))

Test(cli_resolve, a_name_found_once_by_any_identity)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    const char *hv3 = "hv3|-|1|role reader may not\n";

    resolve(ctx, false, NAMES("db1"), "hv1:db1", hv3);
    resolve(ctx, false, NAMES("u3"), "hv2:web1", hv3);
    /* Named twice, acted on once. */
    resolve(ctx, false, NAMES("db1", "u2"), "hv1:db1", hv3);
    cli_ctx_free(ctx);
}

Test(cli_resolve, a_name_found_nowhere_or_on_several_nodes_is_refused)
{
    struct ctl_ctx *ctx = cli_ctx_new();

    /* Not found: the down node may hold it, and says so. */
    resolve(ctx, false, NAMES("nosuch"), "",
            "hv3|-|1|role reader may not\n"
            "-|nosuch|1|no domain 'nosuch' on the targeted nodes (not asked or silent: "
            "hv4, hv3)\n"
            "hv4|-|3|down: never heard from\n");
    resolve(ctx, false, NAMES("web1"), "",
            "hv3|-|1|role reader may not\n"
            "-|web1|1|domain 'web1' is ambiguous: found 2 times (on hv1, hv2); name the "
            "nodes (-n, -l, --if or --all: it then acts on each), select with --where, or "
            "name it by a unique identity\n");
    cli_ctx_free(ctx);
}

Test(cli_resolve, on_targeted_nodes_a_name_acts_on_each_that_has_it)
{
    struct ctl_ctx *ctx = cli_ctx_new();

    resolve(ctx, true, NAMES("web1"), "hv1:web1 hv2:web1",
            "hv3|-|1|role reader may not\n"
            "hv4|-|3|down: never heard from\n");
    /* Unless a node holds two of that name. */
    resolve(ctx, true, NAMES("x"), "",
            "hv3|-|1|role reader may not\n"
            "hv1|x|1|domain 'x' is ambiguous on hv1: found 2 times; name it by a unique "
            "identity\n"
            "hv4|-|3|down: never heard from\n");
    resolve(ctx, true, NAMES("u5", "db1"), "hv1:x hv1:db1",
            "hv3|-|1|role reader may not\n"
            "hv4|-|3|down: never heard from\n");
    cli_ctx_free(ctx);
}

Test(cli_resolve, names_are_sought_by_every_identity_of_the_class)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    qmf_value *w;

    w = ctl_names_predicate(schema_find_class(ctx->schema, "Domain"), NAMES("web1"));
    cli_assert_json(w, "[\"or\",[\"eq\",\"uuid\",[\"quote\",\"web1\"]],"
                   "[\"eq\",\"name\",[\"quote\",\"web1\"]]]");
    qmf_free(w);
    w = ctl_names_predicate(schema_find_class(ctx->schema, "Volume"), NAMES("v", "/p"));
    cli_assert_json(w, "[\"or\",[\"eq\",\"key\",[\"quote\",\"v\"]],"
                    "[\"eq\",\"path\",[\"quote\",\"v\"]],[\"eq\",\"name\",[\"quote\",\"v\"]],"
                    "[\"eq\",\"key\",[\"quote\",\"/p\"]],[\"eq\",\"path\",[\"quote\",\"/p\"]],"
                    "[\"eq\",\"name\",[\"quote\",\"/p\"]]]");
    qmf_free(w);
    cli_ctx_free(ctx);
}

Test(cli_resolve, labels_of_objects)
{
    qmf_value *v = cli_json("{\"_values\":{\"name\":\"web1\"},"
                            "\"_object_id\":{\"_object_name\":\"domain:u1\"}}");

    cr_assert_str_eq(ctl_object_label(v), "web1");
    qmf_free(v);
    v = cli_json("{\"_values\":{},\"_object_id\":{\"_object_name\":\"node\"}}");
    cr_assert_str_eq(ctl_object_label(v), "node");
    qmf_free(v);
    v = cli_json("{}");
    cr_assert_str_eq(ctl_object_label(v), "?");
    qmf_free(v);
    v = ctl_equals("name", "a\"b");
    cli_assert_json(v, "[\"eq\",\"name\",[\"quote\",\"a\\\"b\"]]");
    qmf_free(v);
}
