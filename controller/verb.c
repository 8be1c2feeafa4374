/*
 * Acting on objects.  Every verb (start, pool-build, vol-resize ...) is one
 * line of a table: a class, a method, which positionals and options become
 * which method arguments.  ctl_verb_exec() turns a command line into an
 * action, and ctl_act() runs any action, `virtbus call` too: objects named
 * are found first and called one by one; objects selected with --where
 * are called with one broadcast per node; --async leaves a job instead,
 * and so does Ctrl-C of a command still owed answers (the console's).
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

const struct ctl_option ctl_autostart_options[] = {
    { "disable", 0, NULL, "do not start at host boot", "autostart=false" },
    { 0 },
};

/* Applies "argument=value ..." words; "%s" in a value is `value`. */
static int
apply_settings(const struct schema_method *m, qmf_value *args, const char *settings,
               const char *value, qmf_error *err)
{
    char *copy = qmf_xstrdup(settings), *save = NULL, *w;
    int rc = 0;

    for (w = strtok_r(copy, " ", &save); w && rc == 0; w = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(w, '=');

        *eq = '\0';
        rc = ctl_arg_set(m, args, w, strcmp(eq + 1, "%s") == 0 && value ? value : eq + 1, err);
    }
    free(copy);
    return rc;
}

/* The positionals after the objects, into the arguments named by params. */
static int
apply_params(const struct schema_method *m, qmf_value *args, const char *params,
             char **words, qmf_error *err)
{
    char *copy = qmf_xstrdup(params ? params : ""), *save = NULL, *p, *contents;
    int rc = 0, i = 0;

    for (p = strtok_r(copy, " ", &save); p && rc == 0; p = strtok_r(NULL, " ", &save), i++) {
        if (p[0] != '<') {
            rc = ctl_arg_set(m, args, p, words[i], err);
        } else if ((contents = ctl_read_file(words[i], err)) == NULL) {
            rc = -1;
        } else {
            qmf_map_set(args, p + 1, qmf_string(contents));
            free(contents);
        }
    }
    free(copy);
    return rc;
}

static int
count_words(const char *s)
{
    int n = 0;

    while (s && *s) {
        s += strspn(s, " ");
        if (*s)
            n++;
        s += strcspn(s, " ");
    }
    return n;
}

int
ctl_verb_action(const struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                const struct ctl_args *a, struct ctl_action *act)
{
    const struct ctl_verb *v = e->verb;
    const struct schema_class *cls = schema_find_class(ctx->schema, v->class_name);
    const struct schema_method *m = cls ? schema_find_method(cls, v->method) : NULL;
    int nparams = count_words(v->params), nobjects = a->argc - nparams, rc;
    bool one_node = v->flags & CTL_VERB_NODE;
    qmf_error err;
    size_t i;

    *act = (struct ctl_action){ .entry = e, .cls = cls, .method = m, .print = v->print,
                                .prepare = v->prepare, .one_node = one_node };
    if (m == NULL) {
        ctl_warnx("%s: the schema has no %s.%s", e->name, v->class_name, v->method);
        return CTL_EXIT_FAILED;
    }
    /* No object names here: the words are the arguments alone. */
    if (a->where && nobjects > 0)
        return ctl_usage(e, "--where replaces the object names");
    if ((a->where || one_node) && nobjects != 0)
        return ctl_usage(e, "%s%d word(s) expected (%s), %d given",
                         a->where ? "with --where, " : "", nparams,
                         v->params ? v->params : "none", a->argc);
    if (!a->where && !one_node && nobjects < 1)
        return ctl_usage(e, nparams > 0 && a->argc > 0 ?
                         "%d word(s) given: the objects come first, then %d more (%s)" :
                         "no object named: give names or identities, or --where",
                         a->argc, nparams, v->params);
    if (!a->where && !one_node && (v->flags & CTL_VERB_ONE) && nobjects != 1)
        return ctl_usage(e, "takes one object, %d given", nobjects);
    act->args = qmf_map();
    rc = v->preset ? apply_settings(m, act->args, v->preset, NULL, &err) : 0;
    if (rc == 0)
        rc = apply_params(m, act->args, v->params, a->argv + nobjects, &err);
    for (i = 0; rc == 0 && e->options && e->options[i].name; i++)
        if (a->values[i] && e->options[i].sets)
            rc = apply_settings(m, act->args, e->options[i].sets, a->values[i], &err);
    if (rc != 0) {
        qmf_free(act->args);
        act->args = NULL;
        return ctl_usage(e, "%s", err.text);
    }
    act->objects = a->where ? NULL : a->argv;
    act->nobjects = a->where ? 0 : nobjects;
    return CTL_EXIT_OK;
}

int
ctl_verb_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    struct ctl_action act;
    int rc;

    if ((rc = ctl_verb_action(ctx, e, a, &act)) != 0)
        return rc;
    rc = ctl_act(ctx, a, &act);
    qmf_free(act.args);
    return rc;
}

static char *
describe(const struct ctl_action *act, const struct ctl_args *a, size_t nnodes)
{
    char *what = qmf_xstrdup(""), *next;
    int i;

    for (i = 0; i < act->nobjects; i++) {
        next = qmf_xasprintf("%s %s", what, act->objects[i]);
        free(what);
        what = next;
    }
    if (a->where) {
        free(what);
        what = qmf_xasprintf(" where %s", a->where);
    }
    next = qmf_xasprintf("%s.%s%s on %zu node%s", act->cls->name, act->method->name, what,
                         nnodes, nnodes == 1 ? "" : "s");
    free(what);
    return next;
}

/* What a command's job, should Ctrl-C leave one, is recorded as doing. */
static void
describe_job(struct ctl_ctx *ctx, const struct ctl_action *act, const struct ctl_args *a,
             size_t nnodes)
{
    char *desc = describe(act, a, nnodes);

    virtbus_console_describe(ctx->console, desc);
    free(desc);
}

/* The same for one object's call, by name, on its node. */
static void
describe_call(struct ctl_ctx *ctx, const struct ctl_action *act, const char *node,
              const char *object)
{
    char *desc = qmf_xasprintf("%s.%s %s on %s", act->cls->name, act->method->name,
                               object ? object : "(object)", node);

    virtbus_console_describe(ctx->console, desc);
    free(desc);
}

/* Objects by name: found first, then called one at a time, each on its
 * own node. */
static int
act_on_names(struct ctl_ctx *ctx, struct ctl_action *act, const struct ctl_nodes *nodes,
             struct ctl_outcomes *out)
{
    struct ctl_progress progress = { .what = act->entry->name };
    struct ctl_found_set found;
    size_t i, failed = 0;
    int rc;

    if ((rc = ctl_resolve(ctx, act->cls, nodes, act->objects, act->nobjects, &found, out)) != 0)
        return rc;
    for (i = 0; i < found.n; i++) {
        const struct ctl_found *f = &found.items[i];
        const char *oname = qmf_map_get_string(qmf_map_get(f->data, "_object_id"),
                                                "_object_name");
        struct virtbus_result res;
        qmf_error err;

        if (virtbus_console_interrupted(ctx->console)) {
            /* Ctrl-C: the objects not called yet are not called. */
            qmf_error_set(&err, QMF_ERR_TIMEOUT, "not sent: interrupted");
            ctl_outcome_add(out, f->owner->node, ctl_object_label(f->data), oname,
                            CTL_NO_REPLY, &err, NULL);
            continue;
        }
        describe_call(ctx, act, f->owner->node, oname);
        if (virtbus_call(ctx->console, f->owner->agent, qmf_map_get(f->data, "_object_id"),
                         act->method->name, act->args, ctx->timeout_ms, &res, &err) != 0) {
            ctl_outcome_add(out, f->owner->node, ctl_object_label(f->data), oname,
                            CTL_FAILED, &err, NULL);
            failed++;
        } else {
            ctl_outcome_add(out, f->owner->node, ctl_object_label(f->data), oname,
                            res.status == VIRTBUS_OK ? CTL_OK :
                            res.status == VIRTBUS_FAILED ? CTL_FAILED : CTL_NO_REPLY,
                            &res.error, res.status == VIRTBUS_OK ? qmf_dup(res.value) : NULL);
            failed += res.status != VIRTBUS_OK;
            virtbus_result_clear(&res);
        }
        if (ctx->progress && found.n > 1)
            ctl_progress_update(&progress, i + 1, i + 1, failed, found.n);
    }
    ctl_progress_end(&progress);
    ctl_found_set_clear(&found);
    return CTL_EXIT_OK;
}

/*
 * Objects selected with --where (or every Node): one broadcast, one
 * timeout.  The agents name the objects in their answers (PROTOCOL.md
 * §7.4): a query for the names first would wait out a silent node twice.
 */
static int
act_on_selection(struct ctl_ctx *ctx, const struct ctl_args *a, struct ctl_action *act,
                 const struct ctl_nodes *nodes, const qmf_value *where,
                 struct ctl_outcomes *out)
{
    struct ctl_progress progress = { .what = act->entry->name };
    struct virtbus_send_opts opts;
    struct virtbus_results res;
    qmf_error err;
    int rc;

    if (nodes->up.n == 0)
        return CTL_EXIT_OK;
    ctl_send_opts(ctx, a, nodes->up.n, nodes->predicate, &progress, &opts);
    describe_job(ctx, act, a, nodes->up.n);
    rc = virtbus_call_where(ctx->console, &nodes->up, act->cls->name, where,
                            act->method->name, act->args, &opts, &res, &err);
    ctl_progress_end(&progress);
    if (rc != 0)
        return ctl_fail(&err);
    ctl_outcomes_add_where_results(out, &res);
    virtbus_results_free(&res);
    return CTL_EXIT_OK;
}

/*
 * The agents and predicate of a job for named objects: their owners and
 * their identities.  Exact only if no owner has another object with one
 * of those identities (a domain defined on two hosts keeps its UUID),
 * which a query of the owners checks.
 */
static int
job_for_names(struct ctl_ctx *ctx, struct ctl_action *act, const struct ctl_nodes *nodes,
              struct virtbus_agent_list *owners, qmf_value **where, struct ctl_outcomes *out)
{
    struct virtbus_send_opts opts = { .timeout_ms = ctx->timeout_ms };
    const char *index = "name";
    struct virtbus_results check;
    struct ctl_found_set found;
    size_t i, total = 0;
    qmf_error err;
    int rc;

    for (i = act->cls->nprops; i > 0; i--)
        if (act->cls->props[i - 1].index)
            index = act->cls->props[i - 1].name;
    if ((rc = ctl_resolve(ctx, act->cls, nodes, act->objects, act->nobjects, &found, out)) != 0)
        return rc;
    *where = strcmp(act->cls->name, "Node") == 0 ? NULL : qmf_list();
    if (*where)
        qmf_list_append(*where, qmf_string("or"));
    for (i = 0; i < found.n; i++) {
        const char *id = qmf_map_get_string(qmf_map_get(found.items[i].data, "_values"), index);

        if (!ctl_nodes_find(owners, found.items[i].owner->node))
            virtbus_agent_list_add(owners, ctl_nodes_find(&nodes->up, found.items[i].owner->node));
        if (*where)
            qmf_list_append(*where, ctl_equals(index, id ? id : ""));
    }
    rc = CTL_EXIT_OK;
    if (*where && owners->n > 0) {
        if (virtbus_query_agents(ctx->console, owners, "OBJECT_ID", act->cls->name, *where,
                                 &opts, &check, &err) != 0) {
            rc = ctl_fail(&err);
        } else {
            for (i = 0; i < check.n; i++)
                total += check.items[i].status == VIRTBUS_OK ?
                         qmf_list_len(check.items[i].value) : found.n + 1;
            if (total != found.n) {
                ctl_warnx("%s: cannot make an exact job of these names (an identity "
                          "is shared across nodes); narrow with -n or drop --async",
                          act->entry->name);
                rc = CTL_EXIT_FAILED;
            }
            virtbus_results_free(&check);
        }
    }
    ctl_found_set_clear(&found);
    return rc;
}

/* --async: the job is left on the broker; its id is all stdout gets.  A
 * selection goes to every node that matches it, down ones included: they
 * find it in their queues when they come back. */
static int
submit_job(struct ctl_ctx *ctx, const struct ctl_args *a, struct ctl_action *act,
           const struct ctl_nodes *nodes, const qmf_value *where, struct ctl_outcomes *out)
{
    struct virtbus_agent_list owners = { 0 };
    const struct virtbus_agent_list *agents = &nodes->up;
    const qmf_value *target = nodes->predicate;
    qmf_value *name_where = NULL;
    char *id = NULL, *desc;
    qmf_error err;
    int rc = CTL_EXIT_OK;

    if (act->objects) {
        rc = job_for_names(ctx, act, nodes, &owners, &name_where, out);
        agents = &owners;
        where = name_where;
        target = NULL;      /* the owners, and no other node */
    }
    if (rc == 0 && agents->n > 0) {
        desc = describe(act, a, agents->n);
        if (virtbus_job_submit(ctx->console, agents, act->cls->name, where, act->method->name,
                               act->args, target, 0 /* the library's retention, 7 days */,
                               desc, &id, &err) != 0)
            rc = ctl_fail(&err);
        free(desc);
    }
    if (id && ctx->json) {
        qmf_value *doc = qmf_map();

        qmf_map_set(doc, "job", qmf_string(id));
        ctl_print_doc(ctx, doc);
        qmf_free(doc);
    } else if (id) {
        printf("%s\n", id);
    }
    if (!act->objects)
        ctl_outcomes_add_down(out, &nodes->down);
    rc = ctl_exit_worse(rc, ctl_outcomes_warn(ctx, out, NULL));
    free(id);
    qmf_free(name_where);
    virtbus_agent_list_free(&owners);
    return rc;
}

/* The one node of a Node verb (define): named with -n, up. */
static int
pick_one_node(const struct ctl_cmd_entry *e, const struct ctl_nodes *nodes, char **name)
{
    if (nodes->up.n + nodes->down.n != 1)
        return ctl_usage(e, "-n must name exactly one node (it matched %zu)",
                         nodes->up.n + nodes->down.n);
    *name = nodes->up.n ? nodes->up.items[0].node : nodes->down.items[0].node;
    return CTL_EXIT_OK;
}

static int
check_args(const struct ctl_cmd_entry *e, const struct schema_method *m, qmf_value **args)
{
    qmf_error err;

    if (schema_check_args(m, args, &err) != 0)
        return ctl_usage(e, "%s", err.text);
    return CTL_EXIT_OK;
}

int
ctl_act_preflight(const struct ctl_args *a, struct ctl_action *act, qmf_value **where)
{
    bool reader = act->method->role == SCHEMA_ROLE_READER;
    int rc;

    *where = NULL;
    if (a->where && (*where = ctl_compile_expr("--where", a->where, act->cls)) == NULL)
        return CTL_EXIT_USAGE;
    if (!act->prepare && (rc = check_args(act->entry, act->method, &act->args)) != 0)
        return rc;
    if (act->one_node && !ctl_args_targeted(a))
        return ctl_usage(act->entry, "name the node with -n NODE");
    if (!act->objects && !act->one_node && !reader && !ctl_args_targeted(a))
        return ctl_usage(act->entry, "%s acts on everything it selects: choose the nodes "
                         "with -n, -l, --if or --all (a forgotten flag must not reach "
                         "the whole fleet)", a->where ? "--where" : act->cls->name);
    return CTL_EXIT_OK;
}

static int
run(struct ctl_ctx *ctx, const struct ctl_args *a, struct ctl_action *act,
    const struct ctl_nodes *nodes, const qmf_value *where, struct ctl_outcomes *out)
{
    int rc = CTL_EXIT_OK;

    /* A Node verb's node that is down has nothing to call. */
    if (act->objects && !(act->one_node && nodes->up.n == 0))
        rc = act_on_names(ctx, act, nodes, out);
    else if (!act->objects)
        rc = act_on_selection(ctx, a, act, nodes, where, out);
    /* Down nodes matter to a selection; a name was found or not. */
    if (!act->objects || act->one_node)
        ctl_outcomes_add_down(out, &nodes->down);
    return rc;
}

/* Which of the interrupted command's lists an outcome goes to: 0
 * answered, 1 not answered yet, 2 not sent. */
static int
interrupted_list(const struct ctl_outcome *oc)
{
    if (oc->status != CTL_NO_REPLY || strstr(oc->error.text, "interrupted") == NULL)
        return 0;
    return strstr(oc->error.text, "not sent") ? 2 : 1;
}

/*
 * After Ctrl-C: which nodes answered, which did not and which were not
 * asked; and the job that keeps what those still owing an answer say
 * (the console leaves one for a command: PROTOCOL.md §7.5).
 */
static void
warn_interrupted(const struct ctl_outcomes *o, const char *job, const qmf_error *job_err)
{
    char *lists[3], *next, *rest;
    size_t i, j;
    int k;

    for (k = 0; k < 3; k++)
        lists[k] = qmf_xstrdup("");
    for (i = 0; i < o->n; i++) {
        const struct ctl_outcome *oc = &o->items[i];
        char **list = &lists[interrupted_list(oc)];
        bool seen = oc->node == NULL;

        for (j = 0; j < i && !seen; j++)
            seen = o->items[j].node && strcmp(o->items[j].node, oc->node) == 0 &&
                   interrupted_list(&o->items[j]) == interrupted_list(oc);
        if (seen)
            continue;
        next = qmf_xasprintf("%s%s%s", *list, **list ? ", " : "", oc->node);
        free(*list);
        *list = next;
    }
    if (job != NULL)
        rest = qmf_xasprintf("Their requests were sent and may still run; every answer, "
                             "those still to come too, with `virtbus job show %s` (or "
                             "`virtbus job wait %s`)", job, job);
    else if (*lists[1] && job_err->code != QMF_OK)
        rest = qmf_xasprintf("Their requests were sent and may still run; their answers "
                             "could not be kept as a job (%s): check with `virtbus list`",
                             job_err->text);
    else if (*lists[1])
        rest = qmf_xstrdup("Their requests were sent and may still run: check with "
                           "`virtbus list`");
    else
        rest = qmf_xstrdup("Every node asked answered");
    ctl_warnx("interrupted: answered: %s; not answered: %s%s%s.  %s",
              *lists[0] ? lists[0] : "none", *lists[1] ? lists[1] : "none",
              *lists[2] ? "; not sent: " : "", lists[2], rest);
    for (k = 0; k < 3; k++)
        free(lists[k]);
    free(rest);
}

int
ctl_act(struct ctl_ctx *ctx, struct ctl_args *a, struct ctl_action *act)
{
    struct ctl_report report = { act->entry->name, act->verb ? act->verb : act->entry->name,
                                 act->cls->name, act->method->name, act->print };
    struct ctl_outcomes out = { 0 };
    struct ctl_nodes nodes;
    qmf_value *where;
    char *node_name = NULL;
    bool stop = false;
    int rc;

    if ((rc = ctl_act_preflight(a, act, &where)) != 0) {
        qmf_free(where);
        return rc;
    }
    rc = ctl_discover(ctx, act->entry, a, act->prepare != NULL, &nodes);
    if (rc == 0 && act->prepare && (rc = act->prepare(ctx, act->entry, a, &nodes, act->args)) == 0)
        rc = check_args(act->entry, act->method, &act->args);
    if (rc == 0 && act->one_node && (rc = pick_one_node(act->entry, &nodes, &node_name)) == 0) {
        act->objects = &node_name;
        act->nobjects = 1;
    }
    if (rc == 0)
        rc = ctl_guard(ctx, a, act, &nodes, where, &stop);
    if (rc == 0 && !stop && a->async) {
        rc = submit_job(ctx, a, act, &nodes, where, &out);
    } else if (rc == 0 && !stop) {
        struct event *sigint = ctl_interrupt_catch(ctx);

        rc = run(ctx, a, act, &nodes, where, &out);
        if (ctl_interrupt_release(ctx, sigint)) {
            qmf_error job_err;
            const char *job = virtbus_console_interrupted_job(ctx->console, &job_err);
            qmf_value *extra = qmf_map();

            if (job != NULL)
                qmf_map_set(extra, "job", qmf_string(job));
            if (rc == 0)
                ctl_outcomes_report(ctx, &report, &out, extra);
            warn_interrupted(&out, job, &job_err);
            qmf_free(extra);
            rc = CTL_EXIT_INTERRUPTED;
        } else if (rc == 0) {
            rc = ctl_outcomes_report(ctx, &report, &out, NULL);
        }
    }
    ctl_outcomes_clear(&out);
    ctl_nodes_clear(&nodes);
    qmf_free(where);
    return rc;
}
