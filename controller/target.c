/*
 * Targeting: -n (names, globs, @groups from the configuration), -l, --if
 * and --all become one agent predicate, the _target of what is sent; the
 * presence stream says at once which of the matching nodes are up and
 * which are down, and the fleet's memory which others are down (known
 * but long silent), so no command waits for a discovery window.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

/* Splits -n words at commas and expands @groups, into a list of strings. */
static int
expand_names(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
             const char *const *words, qmf_value *out)
{
    const qmf_value *members;
    qmf_error err;
    size_t i, j;

    for (i = 0; words && words[i]; i++) {
        char *copy = qmf_xstrdup(words[i]), *save = NULL, *w;
        int rc = CTL_EXIT_OK;

        for (w = strtok_r(copy, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save)) {
            if (w[0] != '@') {
                qmf_list_append(out, qmf_string(w));
                continue;
            }
            if ((members = ctl_config_group(&ctx->config, w, &err)) == NULL) {
                rc = ctl_usage(e, "-n %s: %s", w, err.text);
                break;
            }
            for (j = 0; j < qmf_list_len(members); j++)
                if (qmf_list_at(members, j)->kind == QMF_STRING)
                    qmf_list_append(out, qmf_dup(qmf_list_at(members, j)));
        }
        free(copy);
        if (rc != 0)
            return rc;
        if (qmf_list_len(out) == 0 || strspn(words[i], ", ") == strlen(words[i]))
            return ctl_usage(e, "-n: expected node names, got '%s'", words[i]);
    }
    return CTL_EXIT_OK;
}

const struct virtbus_agent *
ctl_nodes_find(const struct virtbus_agent_list *l, const char *node)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->items[i].node, node) == 0)
            return &l->items[i];
    return NULL;
}

/*
 * A node named literally (no glob) that neither presence nor the fleet's
 * memory knows is unknown: a typo, or a node retired with `node forget`.
 * It is a usage error (nothing is sent), unlike a known node that is down
 * (exit 3): a script can tell "not there now" from "no such node".
 */
static int
check_unknown(const struct ctl_nodes *n, const qmf_value *names)
{
    int rc = CTL_EXIT_OK;
    size_t i;

    for (i = 0; i < qmf_list_len(names); i++) {
        const char *name = qmf_as_string(qmf_list_at(names, i));

        if (virtbus_target_is_pattern(name) || ctl_nodes_find(&n->presence, name))
            continue;
        ctl_warnx("unknown node '%s': never heard of, or forgotten (virtbus nodes lists "
                  "the known ones)", name);
        rc = CTL_EXIT_USAGE;
    }
    return rc;
}

int
ctl_target_predicate(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                     const struct ctl_args *a, qmf_value *names, qmf_value **out)
{
    struct virtbus_target t = { .labels = a->labels, .all = a->all };
    const char **list = NULL;
    qmf_value *pred = NULL;
    qmf_error err;
    size_t i;
    int rc;

    *out = NULL;
    if (a->if_expr) {
        pred = ctl_compile_expr("--if", a->if_expr, schema_find_class(ctx->schema, "Node"));
        if (pred == NULL)
            return CTL_EXIT_USAGE;
    }
    if ((rc = expand_names(ctx, e, a->names, names)) != 0) {
        qmf_free(pred);
        return rc;
    }
    if (qmf_list_len(names) > 0) {
        list = qmf_xcalloc(qmf_list_len(names) + 1, sizeof(*list));
        for (i = 0; i < qmf_list_len(names); i++)
            list[i] = qmf_as_string(qmf_list_at(names, i));
    }
    t.names = list;
    t.predicate = pred;
    t.all = t.all || !ctl_args_targeted(a);
    *out = virtbus_target_predicate(&t, &err);
    free(list);
    qmf_free(pred);
    if (*out == NULL)
        return ctl_usage(e, "%s", err.text);
    return CTL_EXIT_OK;
}

int
ctl_nodes_select(struct ctl_nodes *n, const qmf_value *names)
{
    int rc;

    virtbus_select(&n->presence, n->predicate, &n->up, &n->down);
    if ((rc = check_unknown(n, names)) != 0)
        return rc;
    if (n->targeted && n->up.n + n->down.n == 0) {
        ctl_warnx("no node matches the target (virtbus nodes lists them)");
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

int
ctl_discover(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, const struct ctl_args *a,
             bool values, struct ctl_nodes *out)
{
    qmf_value *names = qmf_list();
    qmf_error err;
    int rc;

    memset(out, 0, sizeof(*out));
    out->targeted = ctl_args_targeted(a);
    rc = ctl_target_predicate(ctx, e, a, names, &out->predicate);
    if (rc == 0 && ctx->console == NULL) {
        const char **exact = qmf_xcalloc(qmf_list_len(names) + 1, sizeof(*exact));
        size_t i, n = 0;

        for (i = 0; i < qmf_list_len(names); i++)
            if (!virtbus_target_is_pattern(qmf_as_string(qmf_list_at(names, i))))
                exact[n++] = qmf_as_string(qmf_list_at(names, i));
        rc = ctl_connect(ctx, true, NULL, exact);
        free(exact);
    }
    /* The stream is the broker's: one that does not serve it is no node's
     * silence. */
    values = values || !virtbus_target_on_nodes(out->predicate);
    if (rc == 0 && (values ? virtbus_presence(ctx->console, &out->presence, &err)
                           : virtbus_presence_nodes(ctx->console, &out->presence, &err)) != 0) {
        ctl_warnx("%s", err.text);
        rc = err.code == QMF_ERR_TIMEOUT ? CTL_EXIT_BROKER : ctl_exit_of(&err);
    }
    if (rc == 0)
        rc = ctl_nodes_select(out, names);
    qmf_free(names);
    /* Callers return at once on a failure: nothing of it is theirs. */
    if (rc != 0)
        ctl_nodes_clear(out);
    return rc;
}

void
ctl_nodes_clear(struct ctl_nodes *n)
{
    virtbus_agent_list_free(&n->presence);
    virtbus_agent_list_free(&n->up);
    virtbus_agent_list_free(&n->down);
    qmf_free(n->predicate);
    memset(n, 0, sizeof(*n));
}
