/*
 * Before an action is sent: --dry-run lists what it would act on and
 * sends nothing, and a destructive verb (the verb tables' CTL_VERB_DESTRUCTIVE)
 * on more nodes than the configuration's confirm_above asks a person
 * first, or, without a terminal to ask on, wants --yes.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether the method is one of a destructive verb's, however it is
 * called: `virtbus call Domain destroy` is as destructive as `destroy`. */
static bool
destructive(const struct ctl_action *act)
{
    const struct ctl_cmd_section *s;
    const struct ctl_cmd_entry *e;

    for (s = ctl_sections; s->entries; s++)
        for (e = s->entries; e->name; e++)
            if (e->verb && (e->verb->flags & CTL_VERB_DESTRUCTIVE) &&
                strcmp(e->verb->class_name, act->cls->name) == 0 &&
                strcmp(e->verb->method, act->method->name) == 0)
                return true;
    return false;
}

struct target {
    const char *node;
    const char *object;
};

struct targets {
    struct target *items;
    size_t n, nodes;
    struct ctl_found_set found;     /* names: what the targets borrow */
    struct virtbus_results selection;   /* --where: the same */
};

static void
targets_add(struct targets *t, const char *node, const char *object)
{
    size_t i;
    bool seen = false;

    for (i = 0; i < t->n && !seen; i++)
        seen = strcmp(t->items[i].node, node) == 0;
    t->nodes += !seen;
    t->items = qmf_xrealloc(t->items, (t->n + 1) * sizeof(*t->items));
    t->items[t->n++] = (struct target){ node, object };
}

static void
targets_clear(struct targets *t)
{
    free(t->items);
    ctl_found_set_clear(&t->found);
    virtbus_results_free(&t->selection);
    memset(t, 0, sizeof(*t));
}

/* What the action would act on: named objects where they were found, or
 * the objects --where selects (a query: reading is not acting). */
static int
find_targets(struct ctl_ctx *ctx, const struct ctl_args *a, const struct ctl_action *act,
             const struct ctl_nodes *nodes, const qmf_value *where, struct targets *t,
             struct ctl_outcomes *out)
{
    static const char *const names[] = { "name", NULL };
    struct virtbus_send_opts opts = { .target = nodes->predicate,
                                      .timeout_ms = ctx->timeout_ms };
    qmf_error err;
    size_t i, j;
    int rc;

    memset(t, 0, sizeof(*t));
    if (act->objects) {
        if ((rc = ctl_resolve(ctx, act->cls, nodes, act->objects, act->nobjects, &t->found,
                              out)) != 0)
            return rc;
        for (i = 0; i < t->found.n; i++)
            targets_add(t, t->found.items[i].owner->node,
                        ctl_object_label(t->found.items[i].data));
        return CTL_EXIT_OK;
    }
    if (nodes->up.n == 0)
        return CTL_EXIT_OK;
    if (strcmp(act->cls->name, "Node") != 0)
        opts.properties = names;
    if (virtbus_query_agents(ctx->console, &nodes->up, "OBJECT", act->cls->name, where, &opts,
                             &t->selection, &err) != 0)
        return ctl_fail(&err);
    ctl_outcomes_add_failures(out, &t->selection);
    for (i = 0; i < t->selection.n; i++) {
        const struct virtbus_result *r = &t->selection.items[i];

        for (j = 0; r->status == VIRTBUS_OK && j < qmf_list_len(r->value); j++)
            targets_add(t, r->node, ctl_object_label(qmf_list_at(r->value, j)));
    }
    /* --async leaves the job for down nodes too. */
    for (i = 0; a->async && i < nodes->down.n; i++)
        targets_add(t, nodes->down.items[i].node, NULL);
    return CTL_EXIT_OK;
}

/* The targets on stdout, and what could not be looked at on stderr (or
 * all of it in one JSON document); returns the exit status. */
static int
print_targets(struct ctl_ctx *ctx, const struct ctl_action *act, const struct targets *t,
              const struct ctl_outcomes *errors)
{
    const char *verb = act->verb ? act->verb : act->entry->name;
    size_t i;
    int rc;

    if (ctx->json) {
        qmf_value *doc = qmf_map(), *list;

        qmf_map_set(doc, "command", qmf_string(act->entry->name));
        qmf_map_set(doc, "class", qmf_string(act->cls->name));
        qmf_map_set(doc, "method", qmf_string(act->method->name));
        qmf_map_set(doc, "dry_run", qmf_bool(true));
        list = qmf_map_set(doc, "targets", qmf_list());
        for (i = 0; i < t->n; i++) {
            qmf_value *e = qmf_list_append(list, qmf_map());

            qmf_map_set(e, "node", qmf_string(t->items[i].node));
            qmf_map_set(e, "object", t->items[i].object ? qmf_string(t->items[i].object)
                                                        : qmf_void());
        }
        rc = ctl_outcomes_warn(ctx, errors, qmf_map_set(doc, "errors", qmf_list()));
        ctl_print_doc(ctx, doc);
        qmf_free(doc);
        return rc;
    }
    for (i = 0; i < t->n; i++)
        printf("%s: %s: would %s\n", t->items[i].node,
               t->items[i].object ? t->items[i].object : "(its job)", verb);
    rc = ctl_outcomes_warn(ctx, errors, NULL);
    if (!ctx->quiet)
        fprintf(stderr, "%s: dry run: %zu object%s on %zu node%s; nothing sent\n", verb, t->n,
                t->n == 1 ? "" : "s", t->nodes, t->nodes == 1 ? "" : "s");
    return rc;
}

/* "y" or "yes" on the terminal; anything else, or its end, is no. */
static bool
ask(const char *verb, size_t nobjects, size_t nnodes)
{
    char line[16];

    fprintf(stderr, "%s %zu object%s on %zu nodes? [y/N] ", verb, nobjects,
            nobjects == 1 ? "" : "s", nnodes);
    fflush(stderr);
    if (fgets(line, sizeof(line), stdin) == NULL) {
        fputc('\n', stderr);
        return false;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

int
ctl_guard(struct ctl_ctx *ctx, const struct ctl_args *a, const struct ctl_action *act,
          const struct ctl_nodes *nodes, const qmf_value *where, bool *stop)
{
    const char *verb = act->verb ? act->verb : act->entry->name;
    unsigned limit = ctx->config.confirm_above;
    size_t reach = nodes->up.n + (a->async ? nodes->down.n : 0);
    /* The action reports its own failures to find names: these are the
     * dry run's only. */
    struct ctl_outcomes errors = { 0 };
    struct targets t;
    int rc;

    *stop = false;
    /* At most `limit` nodes targeted: at most that many act, no need to
     * find out exactly which. */
    if (!a->dry_run && (a->yes || limit == 0 || reach <= limit || !destructive(act)))
        return CTL_EXIT_OK;
    if ((rc = find_targets(ctx, a, act, nodes, where, &t, &errors)) != 0) {
        *stop = true;
    } else if (a->dry_run) {
        *stop = true;
        rc = print_targets(ctx, act, &t, &errors);
    } else if (t.nodes > limit && !(isatty(STDIN_FILENO) && isatty(STDERR_FILENO))) {
        *stop = true;
        ctl_warnx("%s would act on %zu objects on %zu nodes, more than confirm_above (%u), "
                  "and there is no terminal to ask on: confirm with --yes (--dry-run lists "
                  "them)", verb, t.n, t.nodes, limit);
        rc = CTL_EXIT_USAGE;
    } else if (t.nodes > limit && !ask(verb, t.n, t.nodes)) {
        *stop = true;
        ctl_warnx("%s: not confirmed; nothing sent", verb);
        rc = CTL_EXIT_FAILED;
    }
    targets_clear(&t);
    ctl_outcomes_clear(&errors);
    return rc;
}
