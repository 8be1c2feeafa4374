/* virtbus list: every domain of every node, with its state. */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

static void
add_row(struct ctl_table *t, const char *node, const qmf_value *values)
{
    uint64_t kib = 0;
    char *cells[7];
    size_t i;

    qmf_get_uint64(qmf_map_get(values, "memory"), &kib);
    cells[0] = qmf_xstrdup(node);
    cells[1] = ctl_format_value(qmf_map_get(values, "name"));
    cells[2] = ctl_format_value(qmf_map_get(values, "state"));
    cells[3] = ctl_format_value(qmf_map_get(values, "id"));
    cells[4] = ctl_format_value(qmf_map_get(values, "numVcpus"));
    cells[5] = ctl_format_kib(kib);
    cells[6] = ctl_format_value(qmf_map_get(values, "uuid"));
    if (strcmp(cells[3], "-1") == 0) {
        free(cells[3]);
        cells[3] = qmf_xstrdup("-");
    }
    ctl_table_add(t, (const char *const *)cells);
    for (i = 0; i < 7; i++)
        free(cells[i]);
}

static qmf_value *
json_row(const char *node, const qmf_value *data)
{
    const qmf_value *values = qmf_map_get(data, "_values");
    const qmf_value *oid = qmf_map_get(data, "_object_id");
    qmf_value *row = qmf_map();
    size_t i;

    qmf_map_set(row, "node", qmf_string(node));
    qmf_map_set(row, "object", qmf_dup(qmf_map_get(oid, "_object_name")));
    for (i = 0; i < qmf_map_len(values); i++)
        if (strcmp(values->u.map.items[i].key, "node") != 0)
            qmf_map_set(row, values->u.map.items[i].key,
                        qmf_dup(values->u.map.items[i].value));
    return row;
}

static int
cmd_list_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const char *const headers[] = {
        "NODE", "NAME", "STATE", "ID", "VCPUS", "MEMORY", "UUID",
    };
    static const size_t by_node_name[] = { 0, 1 };
    struct virtbus_results res;
    struct ctl_table *t;
    qmf_value *json = NULL, *rows = NULL, *errors = NULL;
    size_t i, j;
    int rc;

    if (argc != 1)
        return ctl_usage(&ctl_cmd_list_entry);
    if ((rc = ctl_query_fleet(ctx, "Domain", NULL, &res)) != 0)
        return rc;
    if (ctx->json) {
        json = qmf_map();
        rows = qmf_map_set(json, "domains", qmf_list());
        errors = qmf_map_set(json, "errors", qmf_list());
    }
    t = ctl_table_new(7, headers);
    for (i = 0; i < res.n; i++) {
        const struct virtbus_result *r = &res.items[i];

        for (j = 0; r->status == VIRTBUS_OK && j < qmf_list_len(r->value); j++) {
            const qmf_value *data = qmf_list_at(r->value, j);

            if (json)
                qmf_list_append(rows, json_row(r->node, data));
            else
                add_row(t, r->node, qmf_map_get(data, "_values"));
        }
    }
    rc = ctl_report_results(ctx, &res, errors);
    if (json) {
        ctl_print_json(json);
        qmf_free(json);
    } else if (!ctx->quiet) {
        ctl_table_sort(t, by_node_name, 2);
        ctl_table_print(t, stdout);
    }
    ctl_table_free(t);
    virtbus_results_free(&res);
    return rc;
}

const struct ctl_cmd_entry ctl_cmd_list_entry = {
    .name = "list",
    .usage = "",
    .summary = "list the domains of every node",
    .exec = cmd_list_exec,
};
