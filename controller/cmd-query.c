/*
 * Fleet-wide queries: list (domains), pools, vols, nets, ifaces, one
 * broadcast each over the targeted nodes (default: all), printed as one
 * table sorted by node then name; and show, every property of one object.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

enum cell { CELL_TEXT, CELL_KIB, CELL_BYTES, CELL_ID, CELL_REF };

struct column {
    const char *header;
    const char *property;
    enum cell how;
    bool optional;              /* left out first on a narrow terminal */
};

#define MAX_COLUMNS 10

struct listing {
    const char *command;
    const char *class_name;
    const char *json_key;
    const char *ref_class;      /* class CELL_REF columns name objects of */
    const char *ref_json_key;   /* the referenced object's name in JSON */
    size_t sort[3];             /* columns to sort by, node first */
    struct column cols[MAX_COLUMNS];
};

static const struct listing listings[] = {
    { "list", "Domain", "domains", NULL, NULL, { 0, 1, 0 }, {
        { "NODE", NULL, CELL_TEXT, false },
        { "NAME", "name", CELL_TEXT, false },
        { "STATE", "state", CELL_TEXT, false },
        { "ID", "id", CELL_ID, false },
        { "VCPUS", "numVcpus", CELL_TEXT, false },
        { "MEMORY", "memory", CELL_KIB, false },
        { "UUID", "uuid", CELL_TEXT, true },
    } },
    { "pools", "Pool", "pools", NULL, NULL, { 0, 1, 0 }, {
        { "NODE", NULL, CELL_TEXT, false },
        { "NAME", "name", CELL_TEXT, false },
        { "STATE", "state", CELL_TEXT, false },
        { "TYPE", "type", CELL_TEXT, false },
        { "CAPACITY", "capacity", CELL_BYTES, false },
        { "ALLOCATION", "allocation", CELL_BYTES, false },
        { "AVAILABLE", "available", CELL_BYTES, false },
        { "AUTOSTART", "autostart", CELL_TEXT, true },
        { "PATH", "path", CELL_TEXT, true },
        { "UUID", "uuid", CELL_TEXT, true },
    } },
    { "vols", "Volume", "volumes", "Pool", "pool", { 0, 1, 2 }, {
        { "NODE", NULL, CELL_TEXT, false },
        { "POOL", "storagePool", CELL_REF, false },
        { "NAME", "name", CELL_TEXT, false },
        { "CAPACITY", "capacity", CELL_BYTES, false },
        { "ALLOCATION", "allocation", CELL_BYTES, false },
        { "FORMAT", "format", CELL_TEXT, false },
        { "PATH", "path", CELL_TEXT, true },
    } },
    { "nets", "Network", "networks", NULL, NULL, { 0, 1, 0 }, {
        { "NODE", NULL, CELL_TEXT, false },
        { "NAME", "name", CELL_TEXT, false },
        { "ACTIVE", "active", CELL_TEXT, false },
        { "AUTOSTART", "autostart", CELL_TEXT, false },
        { "PERSISTENT", "persistent", CELL_TEXT, true },
        { "BRIDGE", "bridge", CELL_TEXT, false },
        { "FORWARD", "forwardMode", CELL_TEXT, false },
        { "UUID", "uuid", CELL_TEXT, true },
    } },
    { "ifaces", "Interface", "interfaces", NULL, NULL, { 0, 1, 0 }, {
        { "NODE", NULL, CELL_TEXT, false },
        { "NAME", "name", CELL_TEXT, false },
        { "ACTIVE", "active", CELL_TEXT, false },
        { "MAC", "mac", CELL_TEXT, false },
    } },
};

static const struct listing *
find_listing(const char *command)
{
    size_t i;

    for (i = 0; i < sizeof(listings) / sizeof(listings[0]); i++)
        if (strcmp(listings[i].command, command) == 0)
            return &listings[i];
    return NULL;
}

static size_t
count_columns(const struct listing *l)
{
    size_t n = 0;

    while (n < MAX_COLUMNS && l->cols[n].header)
        n++;
    return n;
}

/* "node\n_object_name" of a referenced object: object names are per agent. */
static char *
ref_key(const char *node, const qmf_value *objid)
{
    const char *name = qmf_map_get_string(objid, "_object_name");

    return qmf_xasprintf("%s\n%s", node, name ? name : "");
}

/* The names of the referenced class's objects (pools of volumes). */
static qmf_value *
fetch_ref_names(struct ctl_ctx *ctx, const struct listing *l, const struct ctl_nodes *nodes)
{
    struct virtbus_send_opts opts = { .target = nodes->predicate, .timeout_ms = ctx->timeout_ms };
    struct virtbus_results res;
    qmf_value *names = qmf_map();
    qmf_error err;
    size_t i, j;

    if (l->ref_class == NULL ||
        virtbus_query_agents(ctx->console, &nodes->up, "OBJECT", l->ref_class, NULL, &opts,
                             &res, &err) != 0)
        return names;
    for (i = 0; i < res.n; i++)
        for (j = 0; res.items[i].status == VIRTBUS_OK && j < qmf_list_len(res.items[i].value); j++) {
            const qmf_value *data = qmf_list_at(res.items[i].value, j);
            char *key = ref_key(res.items[i].node, qmf_map_get(data, "_object_id"));

            qmf_map_set(names, key, qmf_string(ctl_object_label(data)));
            free(key);
        }
    virtbus_results_free(&res);
    return names;
}

static char *
cell(const struct column *c, const char *node, const qmf_value *values, const qmf_value *refs,
     bool raw)
{
    const qmf_value *v = c->property ? qmf_map_get(values, c->property) : NULL;
    uint64_t u = 0;
    int64_t i = 0;
    char *key;
    const char *name;

    switch (c->how) {
    case CELL_KIB:
        return qmf_get_uint64(v, &u) ? ctl_format_kib(u, raw) : qmf_xstrdup("");
    case CELL_BYTES:
        return qmf_get_uint64(v, &u) ? ctl_format_bytes(u, raw) : qmf_xstrdup("");
    case CELL_ID:
        return qmf_get_int64(v, &i) && i < 0 ? qmf_xstrdup("-") : ctl_format_value(v);
    case CELL_REF:
        key = ref_key(node, v);
        name = qmf_map_get_string(refs, key);
        free(key);
        return name ? qmf_xstrdup(name) : ctl_format_value(v);
    default:
        return c->property ? ctl_format_value(v) : qmf_xstrdup(node);
    }
}

static qmf_value *
json_row(const struct listing *l, const char *node, const qmf_value *data,
         const qmf_value *refs)
{
    const qmf_value *values = qmf_map_get(data, "_values");
    qmf_value *row = qmf_map();
    size_t i;

    qmf_map_set(row, "node", qmf_string(node));
    qmf_map_set(row, "object", qmf_dup(qmf_map_get(qmf_map_get(data, "_object_id"),
                                                   "_object_name")));
    for (i = 0; i < qmf_map_len(values); i++)
        if (strcmp(qmf_map_at(values, i)->key, "node") != 0)
            qmf_map_set(row, qmf_map_at(values, i)->key, qmf_dup(qmf_map_at(values, i)->value));
    for (i = 0; l->ref_json_key && i < count_columns(l); i++) {
        char *name;

        if (l->cols[i].how != CELL_REF)
            continue;
        name = cell(&l->cols[i], node, values, refs, false);
        qmf_map_set(row, l->ref_json_key, qmf_string(name));
        free(name);
    }
    if (qmf_map_get(data, "_stale"))
        qmf_map_set(row, "stale", qmf_bool(true));
    return row;
}

static struct ctl_table *
new_table(const struct listing *l)
{
    const char *headers[MAX_COLUMNS];
    size_t i, n = count_columns(l);
    struct ctl_table *t;

    for (i = 0; i < n; i++)
        headers[i] = l->cols[i].header;
    t = ctl_table_new(n, headers);
    for (i = 0; i < n; i++)
        if (l->cols[i].optional)
            ctl_table_optional(t, i);
        else if (strcmp(l->cols[i].header, "STATE") == 0)
            ctl_table_state_column(t, i);
    return t;
}

static void
add_rows(const struct listing *l, const struct virtbus_results *res, const qmf_value *refs,
         struct ctl_table *t, qmf_value *json_rows, bool raw)
{
    size_t i, j, c, n = count_columns(l);

    for (i = 0; i < res->n; i++) {
        const struct virtbus_result *r = &res->items[i];

        for (j = 0; r->status == VIRTBUS_OK && j < qmf_list_len(r->value); j++) {
            const qmf_value *data = qmf_list_at(r->value, j);
            char **cells;

            if (json_rows) {
                qmf_list_append(json_rows, json_row(l, r->node, data, refs));
                continue;
            }
            cells = qmf_xcalloc(n, sizeof(char *));
            for (c = 0; c < n; c++)
                cells[c] = cell(&l->cols[c], r->node, qmf_map_get(data, "_values"), refs, raw);
            ctl_table_add_owned(t, cells);
        }
    }
}

/* The properties a listing's columns show, into out (NULL-terminated). */
static const char *const *
column_properties(const struct listing *l, const char **out)
{
    size_t c, n = 0;

    for (c = 0; c < count_columns(l); c++)
        if (l->cols[c].property != NULL)
            out[n++] = l->cols[c].property;
    out[n] = NULL;
    return out;
}

static int
listing_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    const struct listing *l = find_listing(e->name);
    const struct schema_class *cls = schema_find_class(ctx->schema, l->class_name);
    struct ctl_progress progress = { .what = e->name };
    struct ctl_outcomes out = { 0 };
    struct virtbus_send_opts opts;
    struct virtbus_results res = { 0 };
    struct ctl_nodes nodes;
    struct ctl_table *t;
    const char *properties[MAX_COLUMNS + 1];
    qmf_value *where = NULL, *refs, *doc = NULL, *rows = NULL, *errors = NULL;
    qmf_error err;
    int rc;

    if (a->argc != 0)
        return ctl_usage(e, NULL);
    t = new_table(l);
    if ((rc = ctl_table_apply_options(ctx, e, a, t, "name")) != 0) {
        ctl_table_free(t);
        return rc;
    }
    if (a->where && (where = ctl_compile_expr("--where", a->where, cls)) == NULL) {
        ctl_table_free(t);
        return CTL_EXIT_USAGE;
    }
    if ((rc = ctl_discover(ctx, e, a, false, &nodes)) != 0) {
        ctl_table_free(t);
        qmf_free(where);
        return rc;
    }
    ctl_send_opts(ctx, a, nodes.up.n, nodes.predicate, &progress, &opts);
    /* A table needs its columns only; --json prints every property. */
    if (!ctx->json)
        opts.properties = column_properties(l, properties);
    rc = virtbus_query_agents(ctx->console, &nodes.up, "OBJECT", l->class_name, where, &opts,
                              &res, &err);
    ctl_progress_end(&progress);
    qmf_free(where);
    if (rc != 0) {
        ctl_table_free(t);
        ctl_nodes_clear(&nodes);
        return ctl_fail(&err);
    }
    ctl_names_remember(ctx, l->class_name, &res, a->where != NULL);
    refs = fetch_ref_names(ctx, l, &nodes);
    if (ctx->json) {
        doc = qmf_map();
        rows = qmf_map_set(doc, l->json_key, qmf_list());
        errors = qmf_map_set(doc, "errors", qmf_list());
    }
    add_rows(l, &res, refs, t, rows, ctx->raw);
    ctl_outcomes_add_failures(&out, &res);
    ctl_outcomes_add_down(&out, &nodes.down);
    if (!ctx->json) {
        ctl_table_sort(t, l->sort, l->sort[2] ? 3 : 2);
        ctl_print_table(ctx, t);
    }
    rc = ctl_outcomes_warn(ctx, &out, errors);
    if (doc) {
        ctl_print_doc(ctx, doc);
        qmf_free(doc);
    }
    ctl_table_free(t);
    qmf_free(refs);
    ctl_outcomes_clear(&out);
    virtbus_results_free(&res);
    ctl_nodes_clear(&nodes);
    return rc;
}

static void
show_object(struct ctl_ctx *ctx, const struct schema_class *cls, const struct ctl_found *f,
            qmf_value *doc)
{
    const qmf_value *values = qmf_map_get(f->data, "_values");
    const char *oname = qmf_map_get_string(qmf_map_get(f->data, "_object_id"), "_object_name");
    qmf_value *copy;

    if (doc) {
        qmf_map_set(doc, "node", qmf_string(f->owner->node));
        qmf_map_set(doc, "class", qmf_string(cls->name));
        qmf_map_set(doc, "object", qmf_string(oname ? oname : ""));
        qmf_map_set(doc, "values", qmf_dup(values));
        if (qmf_map_get(f->data, "_stale"))
            qmf_map_set(doc, "stale", qmf_bool(true));
        return;
    }
    printf("node: %s\nclass: %s\nobject: %s\n", f->owner->node, cls->name, oname ? oname : "");
    if (qmf_map_get(f->data, "_stale"))
        printf("stale: yes\n");
    /* Its "node" property points at the Node: the line above says it. */
    copy = qmf_dup(values);
    qmf_free(qmf_map_take(copy, "node"));
    ctl_print_fields(stdout, "", copy, cls);
    qmf_free(copy);
}

static int
show_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    const struct schema_class *cls;
    struct ctl_outcomes out = { 0 };
    struct ctl_found_set found = { 0 };
    struct ctl_nodes nodes;
    qmf_value *doc = NULL;
    int rc;

    if (a->argc != 2)
        return ctl_usage(e, NULL);
    if ((cls = ctl_find_class(ctx, a->argv[0])) == NULL)
        return CTL_EXIT_USAGE;
    if ((rc = ctl_discover(ctx, e, a, false, &nodes)) != 0)
        return rc;
    if ((rc = ctl_resolve(ctx, cls, &nodes, a->argv + 1, 1, &found, &out)) == 0) {
        doc = ctx->json ? qmf_map() : NULL;
        if (found.n == 1) {
            show_object(ctx, cls, &found.items[0], doc);
        } else if (found.n > 1) {
            /* The name on each of the nodes named (-n ...): one after the
             * other, or in --json one map each under "objects". */
            qmf_value *list = doc ? qmf_map_set(doc, "objects", qmf_list()) : NULL;
            size_t i;

            for (i = 0; i < found.n; i++) {
                if (!doc && i > 0)
                    putchar('\n');
                show_object(ctx, cls, &found.items[i], list ? qmf_list_append(list, qmf_map())
                                                            : NULL);
            }
        }
        rc = ctl_outcomes_warn(ctx, &out, doc ? qmf_map_set(doc, "errors", qmf_list()) : NULL);
    }
    if (doc) {
        ctl_print_doc(ctx, doc);
        qmf_free(doc);
    }
    ctl_found_set_clear(&found);
    ctl_outcomes_clear(&out);
    ctl_nodes_clear(&nodes);
    return rc;
}

#define LISTING(name_, summary_)                                                    \
    { .name = (name_), .usage = "", .summary = (summary_),                          \
      .accepts = CTL_TARGETS | CTL_WHERE | CTL_BATCH, .options = ctl_table_options,        \
      .exec = listing_exec }

const struct ctl_cmd_entry ctl_cmds_query[] = {
    LISTING("list", "the domains of the targeted nodes, with their state"),
    LISTING("pools", "the storage pools of the targeted nodes"),
    LISTING("vols", "the storage volumes of the targeted nodes"),
    LISTING("nets", "the virtual networks of the targeted nodes"),
    LISTING("ifaces", "the host interfaces of the targeted nodes"),
    { .name = "show", .usage = "CLASS NAME|UUID", .summary = "every property of one object",
      .accepts = CTL_TARGETS, .exec = show_exec },
    { 0 },
};
