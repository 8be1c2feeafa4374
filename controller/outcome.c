/*
 * Outcomes: what happened to each object (or node) a command was for,
 * however it was asked (a call by name, a broadcast with --where, a job),
 * and the one way they are reported: ok lines on stdout, failures and the
 * summary (per node and in total) on stderr, or one JSON document.
 */
#include "controller/ctl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
    [CTL_OK] = "ok", [CTL_FAILED] = "failed",
    [CTL_NO_REPLY] = "no-reply", [CTL_DOWN] = "down",
};

struct ctl_outcome *
ctl_outcome_add(struct ctl_outcomes *o, const char *node, const char *object,
                const char *object_name, enum ctl_status status, const qmf_error *error,
                qmf_value *output)
{
    struct ctl_outcome *oc;

    o->items = qmf_xrealloc(o->items, (o->n + 1) * sizeof(*o->items));
    oc = &o->items[o->n++];
    memset(oc, 0, sizeof(*oc));
    oc->node = node ? qmf_xstrdup(node) : NULL;
    oc->object = object ? qmf_xstrdup(object) : NULL;
    oc->object_name = object_name ? qmf_xstrdup(object_name) : NULL;
    oc->status = status;
    if (error)
        oc->error = *error;
    oc->output = output;
    return oc;
}

void
ctl_outcomes_add_down(struct ctl_outcomes *o, const struct virtbus_agent_list *down)
{
    qmf_error err;
    size_t i;

    for (i = 0; i < down->n; i++) {
        char *ago = ctl_format_ago(down->items[i].last_seen_ns, false);

        if (down->items[i].last_seen_ns)
            qmf_error_set(&err, QMF_ERR_TIMEOUT, "down: last heartbeat %s", ago);
        else
            qmf_error_set(&err, QMF_ERR_TIMEOUT, "down: never heard from");
        free(ago);
        ctl_outcome_add(o, down->items[i].node, NULL, NULL, CTL_DOWN, &err, NULL);
    }
}

void
ctl_outcomes_add_failures(struct ctl_outcomes *o, const struct virtbus_results *r)
{
    qmf_error err;
    size_t i;

    for (i = 0; i < r->n; i++) {
        const struct virtbus_result *res = &r->items[i];

        if (res->status == VIRTBUS_FAILED) {
            ctl_outcome_add(o, res->node, NULL, NULL, CTL_FAILED, &res->error, NULL);
        } else if (res->status == VIRTBUS_NO_REPLY) {
            err = res->error;
            if (err.text[0] == '\0')
                qmf_error_set(&err, QMF_ERR_TIMEOUT, "no reply in time");
            ctl_outcome_add(o, res->node, NULL, NULL, CTL_NO_REPLY, &err, NULL);
        }
    }
}

void
ctl_outcomes_add_where_results(struct ctl_outcomes *o, const struct virtbus_results *r)
{
    size_t i, j;

    ctl_outcomes_add_failures(o, r);
    for (i = 0; i < r->n; i++) {
        const struct virtbus_result *res = &r->items[i];

        if (res->status != VIRTBUS_OK)
            continue;
        /* An answer with nothing matched still says the node is fine. */
        if (qmf_list_len(res->value) == 0)
            ctl_outcome_add(o, res->node, NULL, NULL, CTL_OK, NULL, NULL);
        for (j = 0; j < qmf_list_len(res->value); j++) {
            const qmf_value *item = qmf_list_at(res->value, j);
            const char *oname = qmf_map_get_string(qmf_map_get(item, "_object_id"),
                                                   "_object_name");
            const char *label = qmf_map_get_string(item, "_name");
            const qmf_value *failure = qmf_map_get(item, "_values");
            qmf_error err;
            uint64_t code = QMF_ERR_INTERNAL;

            if (failure == NULL) {
                ctl_outcome_add(o, res->node, label ? label : oname, oname, CTL_OK, NULL,
                                qmf_dup(qmf_map_get(item, "_arguments")));
                continue;
            }
            qmf_get_uint64(qmf_map_get(failure, "error_code"), &code);
            qmf_error_set(&err, (uint32_t)code, "%s",
                          qmf_map_get_string(failure, "error_text") ?
                          qmf_map_get_string(failure, "error_text") : "");
            ctl_outcome_add(o, res->node, label ? label : oname, oname, CTL_FAILED, &err, NULL);
        }
    }
}

void
ctl_outcomes_clear(struct ctl_outcomes *o)
{
    size_t i;

    for (i = 0; i < o->n; i++) {
        free(o->items[i].node);
        free(o->items[i].object);
        free(o->items[i].object_name);
        qmf_free(o->items[i].output);
    }
    free(o->items);
    o->items = NULL;
    o->n = 0;
}

int
ctl_outcomes_exit(const struct ctl_outcomes *o)
{
    int rc = CTL_EXIT_OK;
    size_t i;

    for (i = 0; i < o->n; i++) {
        if (o->items[i].status == CTL_NO_REPLY || o->items[i].status == CTL_DOWN)
            rc = ctl_exit_worse(rc, CTL_EXIT_NO_REPLY);
        else if (o->items[i].status == CTL_FAILED)
            rc = ctl_exit_worse(rc, CTL_EXIT_FAILED);
    }
    return rc;
}

/* Sorted views: by node (none first), then object. */
static int
compare_strings(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

static int
compare_outcomes(const void *pa, const void *pb)
{
    const struct ctl_outcome *a = *(const struct ctl_outcome *const *)pa;
    const struct ctl_outcome *b = *(const struct ctl_outcome *const *)pb;
    int c = compare_strings(a->node, b->node);

    return c ? c : compare_strings(a->object, b->object);
}

static const struct ctl_outcome **
sorted(const struct ctl_outcomes *o)
{
    const struct ctl_outcome **v = qmf_xcalloc(o->n + 1, sizeof(*v));
    size_t i;

    for (i = 0; i < o->n; i++)
        v[i] = &o->items[i];
    qsort(v, o->n, sizeof(*v), compare_outcomes);
    return v;
}

qmf_value *
ctl_outcome_json(const struct ctl_outcome *oc)
{
    qmf_value *e = qmf_map();

    qmf_map_set(e, "node", oc->node ? qmf_string(oc->node) : qmf_void());
    qmf_map_set(e, "object", oc->object ? qmf_string(oc->object) : qmf_void());
    if (oc->object_name)
        qmf_map_set(e, "object_name", qmf_string(oc->object_name));
    qmf_map_set(e, "status", qmf_string(status_names[oc->status]));
    if (oc->status != CTL_OK) {
        qmf_map_set(e, "error_code", qmf_u32(oc->error.code));
        qmf_map_set(e, "error_text", qmf_string(oc->error.text));
    } else if (oc->output && qmf_map_len(oc->output) > 0) {
        qmf_map_set(e, "output", qmf_dup(oc->output));
    }
    return e;
}

/* "node2: db1: failed: error 0x10037 (libvirt): ..." on stderr; with
 * colour, the status word coloured. */
static void
warn_outcome(const struct ctl_outcome *oc, bool colour)
{
    const char *node = oc->node ? oc->node : "", *sep = oc->node ? ": " : "";
    const char *on = "", *off = colour ? CTL_SGR_RESET : "";

    if (colour)
        on = oc->status == CTL_FAILED ? CTL_SGR_RED : CTL_SGR_YELLOW;
    if (oc->status == CTL_FAILED)
        ctl_warnx("%s%s%s%s%sfailed%s: error %#x (%s): %s", node, sep,
                  oc->object ? oc->object : "", oc->object ? ": " : "", on, off,
                  oc->error.code, qmf_error_name(oc->error.code), oc->error.text);
    else if (oc->status == CTL_NO_REPLY && strncmp(oc->error.text, "no ", 3) == 0)
        ctl_warnx("%s%s%s%s%s", node, sep, on, oc->error.text, off);
    else if (oc->status == CTL_NO_REPLY)
        ctl_warnx("%s%s%sno reply%s: %s", node, sep, on, off, oc->error.text);
    else if (oc->status == CTL_DOWN)
        ctl_warnx("%s%s%s%s%s", node, sep, on, oc->error.text, off);
}

int
ctl_outcomes_warn(struct ctl_ctx *ctx, const struct ctl_outcomes *o, qmf_value *json_errors)
{
    const struct ctl_outcome **v = sorted(o);
    size_t i;

    for (i = 0; i < o->n; i++) {
        if (v[i]->status == CTL_OK)
            continue;
        if (json_errors)
            qmf_list_append(json_errors, ctl_outcome_json(v[i]));
        else
            warn_outcome(v[i], ctx->colour_err);
    }
    free(v);
    return ctl_outcomes_exit(o);
}

/* Per node: its worst outcome; in total: counts of nodes and objects. */
struct summary {
    size_t nodes[4], objects[2];
};

static void
summarize(const struct ctl_outcome *const *v, size_t n, struct summary *s)
{
    size_t i = 0, j;

    memset(s, 0, sizeof(*s));
    while (i < n) {
        enum ctl_status worst = CTL_OK;

        for (j = i; j < n && compare_strings(v[j]->node, v[i]->node) == 0; j++) {
            if (v[j]->status > worst)
                worst = v[j]->status;
            if (v[j]->object)
                s->objects[v[j]->status == CTL_OK ? 0 : 1]++;
        }
        if (v[i]->node)
            s->nodes[worst]++;
        i = j;
    }
}

static qmf_value *
summary_json(const struct summary *s)
{
    qmf_value *m = qmf_map(), *nodes, *objects;

    nodes = qmf_map_set(m, "nodes", qmf_map());
    qmf_map_set(nodes, "total", qmf_u64(s->nodes[0] + s->nodes[1] + s->nodes[2] + s->nodes[3]));
    qmf_map_set(nodes, "ok", qmf_u64(s->nodes[CTL_OK]));
    qmf_map_set(nodes, "failed", qmf_u64(s->nodes[CTL_FAILED]));
    qmf_map_set(nodes, "no_reply", qmf_u64(s->nodes[CTL_NO_REPLY]));
    qmf_map_set(nodes, "down", qmf_u64(s->nodes[CTL_DOWN]));
    objects = qmf_map_set(m, "objects", qmf_map());
    qmf_map_set(objects, "total", qmf_u64(s->objects[0] + s->objects[1]));
    qmf_map_set(objects, "ok", qmf_u64(s->objects[0]));
    qmf_map_set(objects, "failed", qmf_u64(s->objects[1]));
    return m;
}

/* NODE, the class (NETWORK), then the keys of the output's maps. */
static struct ctl_table *
new_output_table(const char *class_name, const qmf_value *keys)
{
    const char **headers = qmf_xcalloc(qmf_map_len(keys) + 2, sizeof(char *));
    char *upper = qmf_xstrdup(class_name), *p;
    struct ctl_table *t;
    size_t k;

    for (p = upper; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    headers[0] = "NODE";
    headers[1] = upper;
    for (k = 0; k < qmf_map_len(keys); k++)
        headers[k + 2] = qmf_map_at(keys, k)->key;
    t = ctl_table_new(qmf_map_len(keys) + 2, headers);
    free(headers);
    free(upper);
    return t;
}

/* text with XML's five special characters escaped, for an attribute. */
static void
print_xml_escaped(const char *text)
{
    for (; *text; text++) {
        switch (*text) {
        case '&': fputs("&amp;", stdout); break;
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        case '\'': fputs("&apos;", stdout); break;
        default: putchar(*text);
        }
    }
}

/*
 * One XML document as is; of several (oc: whose), each inside a
 * <virtbus:document node="..." name="..."> of one <virtbus:documents>
 * root, so that the whole output stays one valid XML document.  An XML
 * declaration cannot be inside an element: it is left out there.
 */
static void
print_document(const char *text, const struct ctl_outcome *oc, bool *wrapped)
{
    size_t len;

    if (oc) {
        if (!*wrapped)
            printf("<virtbus:documents xmlns:virtbus=\"%s\">\n", CTL_DOCUMENTS_NS);
        *wrapped = true;
        text += strspn(text, " \t\r\n");
        if (strncmp(text, "<?xml", 5) == 0 && strstr(text, "?>"))
            text = strstr(text, "?>") + 2;
        text += strspn(text, " \t\r\n");
        fputs("<virtbus:document node=\"", stdout);
        print_xml_escaped(oc->node ? oc->node : "");
        fputs("\" name=\"", stdout);
        print_xml_escaped(oc->object ? oc->object : "");
        fputs("\">\n", stdout);
    }
    len = strlen(text);
    printf("%s%s", text, len && text[len - 1] == '\n' ? "" : "\n");
    if (oc)
        printf("</virtbus:document>\n");
}

/* An output argument printed as is: text, or a list of maps as a table
 * with NODE and the object first. */
static void
print_raw_outputs(const struct ctl_ctx *ctx, const struct ctl_outcome *const *v, size_t n,
                  const struct ctl_report *r)
{
    struct ctl_table *t = NULL;
    qmf_value *keys = qmf_map();
    size_t i, j, k, oks = 0;
    bool wrapped = false;

    for (i = 0; i < n; i++)
        oks += v[i]->status == CTL_OK && v[i]->object;
    for (i = 0; i < n; i++) {
        const qmf_value *out = qmf_map_get(v[i]->output, r->print);

        if (v[i]->status != CTL_OK || out == NULL)
            continue;
        if (out->kind == QMF_STRING) {
            print_document(qmf_as_string(out), oks > 1 ? v[i] : NULL, &wrapped);
            continue;
        }
        for (j = 0; j < qmf_list_len(out); j++) {
            const qmf_value *row = qmf_list_at(out, j);

            for (k = 0; k < qmf_map_len(row); k++)
                if (!qmf_map_get(keys, qmf_map_at(row, k)->key))
                    qmf_map_set(keys, qmf_map_at(row, k)->key, qmf_void());
        }
    }
    for (i = 0; qmf_map_len(keys) > 0 && i < n; i++) {
        const qmf_value *out = qmf_map_get(v[i]->output, r->print);

        for (j = 0; out && out->kind == QMF_LIST && j < qmf_list_len(out); j++) {
            const qmf_value *row = qmf_list_at(out, j);
            char **cells = qmf_xcalloc(qmf_map_len(keys) + 2, sizeof(char *));

            if (t == NULL)
                t = new_output_table(r->class_name, keys);
            cells[0] = qmf_xstrdup(v[i]->node);
            cells[1] = qmf_xstrdup(v[i]->object);
            for (k = 0; k < qmf_map_len(keys); k++)
                cells[k + 2] = ctl_format_value(qmf_map_get(row, qmf_map_at(keys, k)->key));
            ctl_table_add_owned(t, cells);
        }
    }
    if (wrapped)
        printf("</virtbus:documents>\n");
    if (t)
        ctl_print_table(ctx, t);
    ctl_table_free(t);
    qmf_free(keys);
}

static void
print_oks(const struct ctl_ctx *ctx, const struct ctl_outcome *const *v, size_t n,
          const struct ctl_report *r)
{
    size_t i;

    if (r->print) {
        print_raw_outputs(ctx, v, n, r);
        return;
    }
    for (i = 0; i < n; i++) {
        if (v[i]->status != CTL_OK || v[i]->object == NULL)
            continue;
        printf("%s: %s: %s ok\n", v[i]->node, v[i]->object, r->verb);
        if (v[i]->output)
            ctl_print_fields(stdout, "  ", v[i]->output, NULL);
    }
}

static void
print_summary(const struct ctl_report *r, const struct summary *s)
{
    size_t nodes = s->nodes[0] + s->nodes[1] + s->nodes[2] + s->nodes[3];

    fprintf(stderr, "%s: %zu node%s: %zu ok, %zu failed, %zu no reply, %zu down; "
            "%zu object%s: %zu ok, %zu failed\n", r->verb, nodes, nodes == 1 ? "" : "s",
            s->nodes[CTL_OK], s->nodes[CTL_FAILED], s->nodes[CTL_NO_REPLY],
            s->nodes[CTL_DOWN], s->objects[0] + s->objects[1],
            s->objects[0] + s->objects[1] == 1 ? "" : "s", s->objects[0], s->objects[1]);
}

int
ctl_outcomes_report(struct ctl_ctx *ctx, const struct ctl_report *r,
                    const struct ctl_outcomes *o, qmf_value *json_extra)
{
    const struct ctl_outcome **v = sorted(o);
    struct summary s;
    int rc = ctl_outcomes_exit(o);
    size_t i;

    summarize(v, o->n, &s);
    if (ctx->json) {
        qmf_value *doc = qmf_map(), *results;

        qmf_map_set(doc, "command", qmf_string(r->command));
        if (r->class_name)
            qmf_map_set(doc, "class", qmf_string(r->class_name));
        if (r->method)
            qmf_map_set(doc, "method", qmf_string(r->method));
        for (i = 0; json_extra && i < qmf_map_len(json_extra); i++)
            qmf_map_set(doc, qmf_map_at(json_extra, i)->key,
                        qmf_dup(qmf_map_at(json_extra, i)->value));
        results = qmf_map_set(doc, "results", qmf_list());
        for (i = 0; i < o->n; i++)
            qmf_list_append(results, ctl_outcome_json(v[i]));
        qmf_map_set(doc, "summary", summary_json(&s));
        ctl_print_doc(ctx, doc);
        qmf_free(doc);
    } else {
        /* -q keeps what a verb prints (XML, leases), not its "ok" lines. */
        if (!ctx->quiet || r->print)
            print_oks(ctx, v, o->n, r);
        for (i = 0; i < o->n; i++)
            warn_outcome(v[i], ctx->colour_err);
        if (!ctx->quiet && (s.objects[0] + s.objects[1] > 1 || rc != 0 ||
                            s.objects[0] + s.objects[1] == 0))
            print_summary(r, &s);
    }
    free(v);
    return rc;
}
