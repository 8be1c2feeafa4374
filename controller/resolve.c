/*
 * Objects named on the command line: one broadcast query finds every name
 * on the targeted nodes at once; a name is anything that identifies an
 * object of its class (name, UUID, volume key or path).  A name found
 * nowhere or on several nodes is refused, never guessed.
 */
#include "controller/ctl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IDENTITY 6

/* name, the index properties (uuid, key) and path, as the class has them. */
static size_t
identity_fields(const struct schema_class *cls, const char **out)
{
    size_t i, n = 0;

    for (i = 0; i < cls->nprops && n < MAX_IDENTITY; i++)
        if (cls->props[i].index || strcmp(cls->props[i].name, "name") == 0 ||
            strcmp(cls->props[i].name, "path") == 0)
            out[n++] = cls->props[i].name;
    return n;
}

qmf_value *
ctl_equals(const char *field, const char *text)
{
    qmf_value *eq = qmf_list(), *quote;

    qmf_list_append(eq, qmf_string("eq"));
    qmf_list_append(eq, qmf_string(field));
    quote = qmf_list_append(eq, qmf_list());
    qmf_list_append(quote, qmf_string("quote"));
    qmf_list_append(quote, qmf_string(text));
    return eq;
}

qmf_value *
ctl_names_predicate(const struct schema_class *cls, char *const *names, int n)
{
    const char *fields[MAX_IDENTITY];
    size_t nfields = identity_fields(cls, fields), f;
    qmf_value *w = qmf_list();
    int i;

    qmf_list_append(w, qmf_string("or"));
    for (i = 0; i < n; i++)
        for (f = 0; f < nfields; f++)
            qmf_list_append(w, ctl_equals(fields[f], names[i]));
    return w;
}

static bool
matches(const struct schema_class *cls, const struct virtbus_result *owner,
        const qmf_value *data, const char *name)
{
    const qmf_value *values = qmf_map_get(data, "_values");
    const char *fields[MAX_IDENTITY];
    size_t nfields, f;

    /* A Node is named by its node name, the agent's. */
    if (strcmp(cls->name, "Node") == 0)
        return strcmp(owner->node, name) == 0;
    nfields = identity_fields(cls, fields);
    for (f = 0; f < nfields; f++) {
        const char *v = qmf_map_get_string(values, fields[f]);

        if (v && strcmp(v, name) == 0)
            return true;
    }
    return false;
}

const char *
ctl_object_label(const qmf_value *data)
{
    const char *name = qmf_map_get_string(qmf_map_get(data, "_values"), "name");

    if (name)
        return name;
    name = qmf_map_get_string(qmf_map_get(data, "_object_id"), "_object_name");
    return name ? name : "?";
}

static char *
lower(const char *s)
{
    char *l = qmf_xstrdup(s), *p;

    for (p = l; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return l;
}

/* Appends node names to text: "node1, node2". */
static char *
append_node(char *text, const char *node)
{
    char *next = qmf_xasprintf("%s%s%s", text, *text ? ", " : "", node);

    free(text);
    return next;
}

/* Why a name may have been missed: down nodes, nodes that did not answer. */
static char *
missed_nodes(const struct ctl_nodes *nodes, const struct virtbus_results *answers)
{
    char *list = qmf_xstrdup(""), *why;
    size_t i;

    for (i = 0; i < nodes->down.n; i++)
        list = append_node(list, nodes->down.items[i].node);
    for (i = 0; i < answers->n; i++)
        if (answers->items[i].status != VIRTBUS_OK)
            list = append_node(list, answers->items[i].node);
    why = *list ? qmf_xasprintf(" (not asked or silent: %s)", list) : qmf_xstrdup("");
    free(list);
    return why;
}

static void
add_found(struct ctl_found_set *out, const struct virtbus_result *owner,
          const qmf_value *data, const char *name)
{
    size_t i;

    for (i = 0; i < out->n; i++)
        if (out->items[i].data == data)
            return;             /* named twice: act once */
    out->items = qmf_xrealloc(out->items, (out->n + 1) * sizeof(*out->items));
    out->items[out->n++] = (struct ctl_found){ owner, data, name };
}

/* Every object of the answers that the name identifies. */
static size_t
find_name(const struct schema_class *cls, const struct virtbus_results *answers,
          const char *name, struct ctl_found *first, char **owners)
{
    size_t i, j, n = 0;

    for (i = 0; i < answers->n; i++) {
        const struct virtbus_result *r = &answers->items[i];

        for (j = 0; r->status == VIRTBUS_OK && j < qmf_list_len(r->value); j++) {
            const qmf_value *data = qmf_list_at(r->value, j);

            if (!matches(cls, r, data, name))
                continue;
            if (n++ == 0)
                *first = (struct ctl_found){ r, data, name };
            *owners = append_node(*owners, r->node);
        }
    }
    return n;
}

/*
 * Nodes named by the user (-n, -l, --if, --all): a name acts on each of
 * them that has it, as in Salt and MCollective; only a node holding two
 * objects of that name is ambiguous.
 */
static void
add_on_each_node(const struct schema_class *cls, const struct virtbus_results *answers,
                 const char *name, const char *what, struct ctl_found_set *out,
                 struct ctl_outcomes *errors)
{
    size_t i, j, count;
    qmf_error err;

    for (i = 0; i < answers->n; i++) {
        const struct virtbus_result *r = &answers->items[i];
        const qmf_value *only = NULL;

        for (j = 0, count = 0; r->status == VIRTBUS_OK && j < qmf_list_len(r->value); j++)
            if (matches(cls, r, qmf_list_at(r->value, j), name) && count++ == 0)
                only = qmf_list_at(r->value, j);
        if (count == 1) {
            add_found(out, r, only, name);
        } else if (count > 1) {
            qmf_error_set(&err, QMF_ERR_AMBIGUOUS, "%s '%s' is ambiguous on %s: found %zu "
                          "times; name it by a unique identity", what, name, r->node, count);
            ctl_outcome_add(errors, r->node, name, NULL, CTL_FAILED, &err, NULL);
        }
    }
}

int
ctl_resolve(struct ctl_ctx *ctx, const struct schema_class *cls, const struct ctl_nodes *nodes,
            char *const *names, int n, struct ctl_found_set *out, struct ctl_outcomes *errors)
{
    bool is_node = strcmp(cls->name, "Node") == 0;
    qmf_value *where = is_node ? NULL : ctl_names_predicate(cls, names, n);
    struct virtbus_send_opts opts = { .target = nodes->predicate, .timeout_ms = ctx->timeout_ms };
    qmf_error err;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = virtbus_query_agents(ctx->console, &nodes->up, "OBJECT", cls->name, where, &opts,
                              &out->answers, &err);
    qmf_free(where);
    if (rc != 0)
        return ctl_fail(&err);
    ctl_resolve_answers(cls, nodes, names, n, out, errors);
    return CTL_EXIT_OK;
}

void
ctl_resolve_answers(const struct schema_class *cls, const struct ctl_nodes *nodes,
                    char *const *names, int n, struct ctl_found_set *out,
                    struct ctl_outcomes *errors)
{
    char *what = lower(cls->name), *why;
    bool missing = false;
    qmf_error err;
    int i;

    ctl_outcomes_add_failures(errors, &out->answers);
    why = missed_nodes(nodes, &out->answers);
    for (i = 0; i < n; i++) {
        char *owners = qmf_xstrdup("");
        struct ctl_found first;
        size_t count = find_name(cls, &out->answers, names[i], &first, &owners);

        if (count == 1)
            add_found(out, first.owner, first.data, names[i]);
        else if (count > 1 && nodes->targeted)
            add_on_each_node(cls, &out->answers, names[i], what, out, errors);
        else if (count == 0)
            qmf_error_set(&err, QMF_ERR_UNKNOWN_OBJECT, "no %s '%s' on the targeted nodes%s",
                          what, names[i], why);
        else
            qmf_error_set(&err, QMF_ERR_AMBIGUOUS, "%s '%s' is ambiguous: found %zu times "
                          "(on %s); name the nodes (-n, -l, --if or --all: it then acts on "
                          "each), select with --where, or name it by a unique identity",
                          what, names[i], count, owners);
        if (count == 0 || (count > 1 && !nodes->targeted))
            ctl_outcome_add(errors, NULL, names[i], NULL, CTL_FAILED, &err, NULL);
        missing = missing || count == 0;
        free(owners);
    }
    /* A down node that was asked for could not answer; one that was not
     * may hold a name not found. */
    if (nodes->targeted || missing)
        ctl_outcomes_add_down(errors, &nodes->down);
    free(why);
    free(what);
}

void
ctl_found_set_clear(struct ctl_found_set *s)
{
    virtbus_results_free(&s->answers);
    free(s->items);
    memset(s, 0, sizeof(*s));
}
