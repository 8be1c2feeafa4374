/*
 * virtbus nodes: the agents presence knows of (their heartbeats) and the
 * fleet's memory remembers, up or down, with what they run; a node whose
 * heartbeats come from two processes at once is flagged.  No agent is
 * asked anything: this is what the broker holds, at once.  And virtbus
 * node forget, which retires a node from the fleet's memory.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

static const char *const headers[] = {
    "NODE", "STATUS", "HYPERVISOR", "VERSION", "DOMAINS", "LABELS", "LAST SEEN", "DRIVER",
};
#define NCOLS (sizeof(headers) / sizeof(headers[0]))

static void
add_row(struct ctl_table *t, const struct virtbus_agent *n, bool raw)
{
    char **cells = qmf_xcalloc(NCOLS, sizeof(char *));
    uint64_t version = 0;

    cells[0] = qmf_xstrdup(n->node);
    cells[1] = qmf_xstrdup(n->clash ? "clash" : n->up ? "up" : "down");
    cells[2] = ctl_format_value(qmf_map_get(n->attrs, "hypervisorType"));
    cells[3] = qmf_get_uint64(qmf_map_get(n->attrs, "hypervisorVersion"), &version) ?
               ctl_format_version(version) : qmf_xstrdup("");
    cells[4] = ctl_format_value(qmf_map_get(n->attrs, "domains"));
    cells[5] = ctl_format_value(qmf_map_get(n->attrs, "labels"));
    cells[6] = ctl_format_ago(n->last_seen_ns, raw);
    cells[7] = ctl_format_value(qmf_map_get(n->attrs, "driver"));
    ctl_table_add_owned(t, cells);
}

static qmf_value *
json_node(const struct virtbus_agent *n)
{
    qmf_value *o = qmf_map();
    size_t i;

    qmf_map_set(o, "node", qmf_string(n->node));
    qmf_map_set(o, "status", qmf_string(n->up ? "up" : "down"));
    qmf_map_set(o, "last_seen_ns", qmf_i64(n->last_seen_ns));
    qmf_map_set(o, "heartbeat_interval", qmf_u32(n->interval_s));
    qmf_map_set(o, "remembered", qmf_bool(n->remembered));
    qmf_map_set(o, "clash", qmf_bool(n->clash));
    qmf_map_set(o, "instances", n->instances ? qmf_dup(n->instances) : qmf_list());
    for (i = 0; i < qmf_map_len(n->attrs); i++) {
        const char *key = qmf_map_at(n->attrs, i)->key;

        /* The heartbeat's own keys are said above. */
        if (key[0] != '_' && strcmp(key, "node") != 0)
            qmf_map_set(o, key, qmf_dup(qmf_map_at(n->attrs, i)->value));
    }
    return o;
}

/* "host h1, pid 12, started 2026-…Z; host h2, …": who shares the name. */
static void
warn_clash(const struct virtbus_agent *n)
{
    char *text = qmf_xstrdup("");
    size_t i;

    for (i = 0; i < qmf_list_len(n->instances); i++) {
        const qmf_value *in = qmf_list_at(n->instances, i);
        int64_t started = 0;
        uint64_t pid = 0;
        char when[40], *next;

        qmf_get_int64(qmf_map_get(in, "started_ns"), &started);
        qmf_get_uint64(qmf_map_get(in, "pid"), &pid);
        ctl_format_time(started, when, sizeof(when));
        next = qmf_xasprintf("%s%shost %s, pid %llu, started %s", text, *text ? "; " : "",
                             qmf_map_get_string(in, "host") ? qmf_map_get_string(in, "host")
                                                            : "?",
                             (unsigned long long)pid, when);
        free(text);
        text = next;
    }
    ctl_warnx("%s: heartbeats from %zu instances at once (two agents with one node name): %s",
              n->node, qmf_list_len(n->instances), text);
    free(text);
}

static int
compare_nodes(const void *a, const void *b)
{
    return strcmp((*(const struct virtbus_agent *const *)a)->node,
                  (*(const struct virtbus_agent *const *)b)->node);
}

static int
nodes_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    const struct virtbus_agent **all;
    struct ctl_nodes nodes;
    struct ctl_table *t = ctl_table_new(NCOLS, headers);
    qmf_value *doc, *list;
    size_t i, n;
    int rc;

    ctl_table_optional(t, 7);
    ctl_table_optional(t, 3);
    ctl_table_state_column(t, 1);
    rc = a->argc != 0 ? ctl_usage(e, NULL) : ctl_table_apply_options(ctx, e, a, t, "node");
    if (rc != 0) {
        ctl_table_free(t);
        return rc;
    }
    /* A longer look back than other commands take: nodes lost a little
     * while ago are listed too, as down. */
    ctx->presence_window_s *= 3;
    /* Asked who is up, it answers from the streams, never from a cache. */
    ctx->presence_reuse_ms = 0;
    ctx->fleet_reuse_ms = 0;
    if ((rc = ctl_discover(ctx, e, a, true, &nodes)) != 0) {
        ctl_table_free(t);
        return rc;
    }
    n = nodes.up.n + nodes.down.n;
    all = qmf_xcalloc(n + 1, sizeof(*all));
    for (i = 0; i < n; i++)
        all[i] = i < nodes.up.n ? &nodes.up.items[i] : &nodes.down.items[i - nodes.up.n];
    qsort(all, n, sizeof(*all), compare_nodes);
    for (i = 0; i < n && !ctx->json; i++)
        if (all[i]->clash)
            warn_clash(all[i]);
    if (ctx->json) {
        doc = qmf_map();
        list = qmf_map_set(doc, "nodes", qmf_list());
        for (i = 0; i < n; i++)
            qmf_list_append(list, json_node(all[i]));
        ctl_print_doc(ctx, doc);
        qmf_free(doc);
    } else {
        for (i = 0; i < n; i++)
            add_row(t, all[i], ctx->raw);
        ctl_print_table(ctx, t);
    }
    ctl_table_free(t);
    free(all);
    ctl_nodes_clear(&nodes);
    return CTL_EXIT_OK;
}

/*
 * Retires nodes from the fleet's memory.  Only a node that is down: one
 * that heartbeats would be back at once, and forgetting it would only
 * hide it for a moment.
 */
static int
node_forget(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    struct virtbus_agent_list known;
    qmf_error err;
    int i, rc;

    for (i = 1; i < a->argc; i++)
        if (virtbus_target_is_pattern(a->argv[i]))
            return ctl_usage(e, "forget takes node names, not patterns: '%s'", a->argv[i]);
    ctx->presence_reuse_ms = 0;
    ctx->fleet_reuse_ms = 0;
    if ((rc = ctl_connect(ctx, true, NULL, NULL)) != 0)
        return rc;
    if (virtbus_presence(ctx->console, &known, &err) != 0) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_FAILED;
    }
    for (i = 1; i < a->argc && rc == 0; i++) {
        const struct virtbus_agent *n = ctl_nodes_find(&known, a->argv[i]);

        if (n == NULL) {
            ctl_warnx("unknown node '%s': never heard of, or forgotten", a->argv[i]);
            rc = CTL_EXIT_USAGE;
        } else if (n->up) {
            ctl_warnx("%s is up: stop its agent before forgetting it", a->argv[i]);
            rc = CTL_EXIT_FAILED;
        }
    }
    for (i = 1; i < a->argc && rc == 0; i++) {
        if (virtbus_fleet_forget(ctx->console, a->argv[i], &err) != 0) {
            ctl_warnx("%s", err.text);
            rc = CTL_EXIT_FAILED;
        } else if (!ctx->quiet && !ctx->json) {
            printf("%s: forgotten\n", a->argv[i]);
        }
    }
    if (rc == 0 && ctx->json) {
        qmf_value *doc = qmf_map(), *list = qmf_map_set(doc, "forgotten", qmf_list());

        for (i = 1; i < a->argc; i++)
            qmf_list_append(list, qmf_string(a->argv[i]));
        ctl_print_json(doc);
        qmf_free(doc);
    }
    virtbus_agent_list_free(&known);
    return rc;
}

static int
node_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    if (a->argc >= 2 && strcmp(a->argv[0], "forget") == 0)
        return node_forget(ctx, e, a);
    return ctl_usage(e, NULL);
}

const struct ctl_cmd_entry ctl_cmds_nodes[] = {
    { .name = "nodes", .usage = "", .summary = "the nodes, up or down, and what they run",
      .accepts = CTL_TARGETS, .options = ctl_table_options, .exec = nodes_exec },
    { .name = "node", .usage = "forget NODE...",
      .summary = "retire nodes that are down from the fleet's memory",
      .exec = node_exec },
    { 0 },
};
