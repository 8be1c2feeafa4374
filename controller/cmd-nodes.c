/* virtbus nodes: the live agents and what they run. */
#include "controller/ctl.h"

#include <stdlib.h>

static int
cmd_nodes_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const char *const headers[] = {
        "NODE", "HYPERVISOR", "VERSION", "DOMAINS", "LABELS", "DRIVER",
    };
    static const size_t by_node[] = { 0 };
    struct virtbus_agent_list agents;
    struct ctl_table *t;
    qmf_value *json;
    size_t i;
    int rc;

    if (argc != 1)
        return ctl_usage(&ctl_cmd_nodes_entry);
    if ((rc = ctl_connect(ctx, NULL)) != 0 || (rc = ctl_locate(ctx, &agents)) != 0)
        return rc;
    if (ctx->json) {
        json = qmf_map();
        qmf_value *list = qmf_map_set(json, "nodes", qmf_list());

        for (i = 0; i < agents.n; i++) {
            qmf_value *n = qmf_list_append(list, qmf_dup(agents.items[i].attrs));

            qmf_map_set(n, "status", qmf_string("up"));
        }
        ctl_print_json(json);
        qmf_free(json);
    } else if (!ctx->quiet) {
        t = ctl_table_new(6, headers);
        for (i = 0; i < agents.n; i++) {
            const qmf_value *a = agents.items[i].attrs;
            uint64_t version = 0;
            char *cells[6];

            qmf_get_uint64(qmf_map_get(a, "hypervisorVersion"), &version);
            cells[0] = qmf_xstrdup(agents.items[i].node);
            cells[1] = ctl_format_value(qmf_map_get(a, "hypervisorType"));
            cells[2] = ctl_format_version(version);
            cells[3] = ctl_format_value(qmf_map_get(a, "domains"));
            cells[4] = ctl_format_value(qmf_map_get(a, "labels"));
            cells[5] = ctl_format_value(qmf_map_get(a, "driver"));
            ctl_table_add(t, (const char *const *)cells);
            for (size_t c = 0; c < 6; c++)
                free(cells[c]);
        }
        ctl_table_sort(t, by_node, 1);
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    virtbus_agent_list_free(&agents);
    return CTL_EXIT_OK;
}

const struct ctl_cmd_entry ctl_cmd_nodes_entry = {
    .name = "nodes",
    .usage = "",
    .summary = "list the live nodes",
    .exec = cmd_nodes_exec,
};
