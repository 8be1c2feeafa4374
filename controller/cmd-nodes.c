/*
 * virtbus nodes: the agents presence knows of (their heartbeats), up or
 * down, with what they run.  No agent is asked anything: this is what the
 * broker holds, at once.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

static const char *const headers[] = {
    "NODE", "STATUS", "HYPERVISOR", "VERSION", "DOMAINS", "LABELS", "LAST SEEN", "DRIVER",
};
#define NCOLS (sizeof(headers) / sizeof(headers[0]))

static void
add_row(struct ctl_table *t, const struct virtbus_agent *n)
{
    char **cells = qmf_xcalloc(NCOLS, sizeof(char *));
    uint64_t version = 0;

    cells[0] = qmf_xstrdup(n->node);
    cells[1] = qmf_xstrdup(n->up ? "up" : "down");
    cells[2] = ctl_format_value(qmf_map_get(n->attrs, "hypervisorType"));
    cells[3] = qmf_get_uint64(qmf_map_get(n->attrs, "hypervisorVersion"), &version) ?
               ctl_format_version(version) : qmf_xstrdup("");
    cells[4] = ctl_format_value(qmf_map_get(n->attrs, "domains"));
    cells[5] = ctl_format_value(qmf_map_get(n->attrs, "labels"));
    cells[6] = ctl_format_ago(n->last_seen_ns);
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
    for (i = 0; i < qmf_map_len(n->attrs); i++) {
        const char *key = n->attrs->u.map.items[i].key;

        /* The heartbeat's own keys are said above. */
        if (key[0] != '_' && strcmp(key, "node") != 0)
            qmf_map_set(o, key, qmf_dup(n->attrs->u.map.items[i].value));
    }
    return o;
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
    struct ctl_table *t;
    qmf_value *doc, *list;
    size_t i, n;
    int rc;

    if (a->argc != 0)
        return ctl_usage(e, NULL);
    /* A longer look back than other commands take: nodes lost a little
     * while ago are listed too, as down. */
    ctx->presence_window_s *= 3;
    /* Asked who is up, it answers from the stream, never from a cache. */
    ctx->presence_reuse_ms = 0;
    if ((rc = ctl_discover(ctx, e, a, &nodes)) != 0)
        return rc;
    n = nodes.up.n + nodes.down.n;
    all = qmf_xcalloc(n + 1, sizeof(*all));
    for (i = 0; i < n; i++)
        all[i] = i < nodes.up.n ? &nodes.up.items[i] : &nodes.down.items[i - nodes.up.n];
    qsort(all, n, sizeof(*all), compare_nodes);
    if (ctx->json) {
        doc = qmf_map();
        list = qmf_map_set(doc, "nodes", qmf_list());
        for (i = 0; i < n; i++)
            qmf_list_append(list, json_node(all[i]));
        ctl_print_doc(ctx, doc);
        qmf_free(doc);
    } else if (!ctx->quiet) {
        t = ctl_table_new(NCOLS, headers);
        ctl_table_optional(t, 7);
        ctl_table_optional(t, 3);
        for (i = 0; i < n; i++)
            add_row(t, all[i]);
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    free(all);
    ctl_nodes_clear(&nodes);
    return CTL_EXIT_OK;
}

const struct ctl_cmd_entry ctl_cmds_nodes[] = {
    { .name = "nodes", .usage = "", .summary = "the nodes, up or down, and what they run",
      .accepts = CTL_TARGETS, .exec = nodes_exec },
    { 0 },
};
