/*
 * Every verb table of the CLI against the built-in schema (the tables
 * schema/gen.c makes from schema/org.libvirt.xml), as test_methods.c holds
 * the agent's method table: each verb's class and method exist, the
 * arguments it fills are inputs of the right type, what it prints is an
 * output, every required input is filled, and every method of the schema
 * has a verb or is listed below as reached only through `virtbus call`.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/types.h"
#include "tests/unit/cli_support.h"

/* Methods with no verb of their own, on purpose: their answers are
 * documents to read, which `virtbus call Node METHOD -n NODE` prints. */
static const char *const not_exposed[][2] = {
    { "Node", "getCapabilities" },      /* one node's capabilities XML */
    { "Node", "findStoragePoolSources" },   /* a probe with a type to give */
};
#define NNOT_EXPOSED (sizeof(not_exposed) / sizeof(not_exposed[0]))

/* Calls fn for every verb entry of every section. */
static size_t
each_verb(void (*fn)(const struct schema *, const struct ctl_cmd_entry *, void *),
          const struct schema *s, void *opaque)
{
    const struct ctl_cmd_section *sec;
    const struct ctl_cmd_entry *e;
    size_t n = 0;

    for (sec = ctl_sections; sec->entries; sec++)
        for (e = sec->entries; e->name; e++)
            if (e->verb) {
                fn(s, e, opaque);
                n++;
            }
    return n;
}

static const struct schema_method *
verb_method(const struct schema *s, const struct ctl_cmd_entry *e)
{
    const struct schema_class *c = schema_find_class(s, e->verb->class_name);

    return c ? schema_find_method(c, e->verb->method) : NULL;
}

/* The input argument a table names, checked; NULL (and a failed
 * expectation) if it is none. */
static const struct schema_arg *
input_arg(const struct ctl_cmd_entry *e, const struct schema_method *m, const char *name,
          const char *where)
{
    const struct schema_arg *a = schema_find_arg(m, name);

    cr_expect_not_null(a, "%s: %s names '%s', which %s.%s has not", e->name, where, name,
                       m->class_name, m->name);
    if (a == NULL)
        return NULL;
    cr_expect(a->dir & SCHEMA_DIR_IN, "%s: %s sets '%s', an output of %s.%s", e->name, where,
              name, m->class_name, m->name);
    return a;
}

/*
 * "argument=value ..." words (a preset or an option's setting): each an
 * input, its value read by the argument's type (or "%s", the option's
 * value, when the option takes one).  Marks the arguments set in `set`.
 */
static void
check_settings(const struct ctl_cmd_entry *e, const struct schema_method *m,
               const char *settings, bool takes_value, const char *where, bool *set)
{
    char *copy = qmf_xstrdup(settings), *save = NULL, *w;
    bool used_value = false;
    qmf_error err;

    for (w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(w, '=');
        const struct schema_arg *a;
        qmf_value *v;

        cr_expect_not_null(eq, "%s: %s: '%s' is not argument=value", e->name, where, w);
        if (eq == NULL)
            continue;
        *eq = '\0';
        if ((a = input_arg(e, m, w, where)) == NULL)
            continue;
        set[a - m->args] = true;
        if (strcmp(eq + 1, "%s") == 0) {
            used_value = true;
            continue;
        }
        /* Read as from the command line, then held to the declared type
         * (a flags value must fit its uint32). */
        v = ctl_arg_value(a, eq + 1, &err);
        cr_expect_not_null(v, "%s: %s: %s", e->name, where, err.text);
        if (v != NULL)
            cr_expect_eq(qmf_coerce(&v, a->type, a->name, &err), 0, "%s: %s: %s", e->name,
                         where, err.text);
        qmf_free(v);
    }
    /* A flag's setting has no value to put in; an option's value must go
     * somewhere. */
    cr_expect_eq(used_value, takes_value, "%s: %s %s a value but its setting %s '%%s'",
                 e->name, where, takes_value ? "takes" : "takes no",
                 used_value ? "has" : "has no");
    free(copy);
}

static void
check_verb(const struct schema *s, const struct ctl_cmd_entry *e, void *opaque)
{
    const struct ctl_verb *v = e->verb;
    const struct schema_method *m = verb_method(s, e);
    bool *set;
    char *copy, *save = NULL, *w;
    size_t i;

    (void)opaque;
    cr_expect_not_null(m, "%s: the schema has no %s.%s", e->name, v->class_name, v->method);
    if (m == NULL)
        return;
    cr_expect_eq(e->exec, ctl_verb_exec, "%s: a verb runs as a verb", e->name);
    cr_expect_eq(e->accepts, CTL_ACTING, "%s: a verb takes the acting options", e->name);
    cr_expect(!(v->flags & CTL_VERB_NODE) == (strcmp(v->class_name, "Node") != 0),
              "%s: Node methods, and only they, are called on the Node of one -n node",
              e->name);
    cr_expect(!((v->flags & CTL_VERB_NODE) && (v->flags & CTL_VERB_ONE)), "%s", e->name);
    cr_expect(!(v->flags & CTL_VERB_DESTRUCTIVE) || m->role != SCHEMA_ROLE_READER,
              "%s: a reader's method destroys nothing", e->name);
    set = qmf_xcalloc(m->nargs + 1, sizeof(bool));

    copy = qmf_xstrdup(v->params ? v->params : "");
    for (w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        bool from_file = w[0] == '<';
        const struct schema_arg *a = input_arg(e, m, w + from_file, "params");

        if (a == NULL)
            continue;
        cr_expect_not(set[a - m->args], "%s: params name '%s' twice", e->name, a->name);
        set[a - m->args] = true;
        cr_expect(!from_file || a->type == QMF_T_LSTR,
                  "%s: '%s' is read from a file into a %s", e->name, a->name,
                  qmf_type_name(a->type));
    }
    free(copy);
    if (v->preset)
        check_settings(e, m, v->preset, false, "the preset", set);
    for (i = 0; e->options && e->options[i].name; i++) {
        char where[64];

        snprintf(where, sizeof(where), "--%s", e->options[i].name);
        if (e->options[i].sets)
            check_settings(e, m, e->options[i].sets, e->options[i].arg != NULL, where, set);
    }
    if (v->print) {
        const struct schema_arg *a = schema_find_arg(m, v->print);

        cr_expect(a && (a->dir & SCHEMA_DIR_OUT), "%s prints '%s', no output of %s.%s",
                  e->name, v->print, m->class_name, m->name);
    }
    /* What the method cannot do without: from the words, the preset, an
     * option or the verb's prepare (migrate's --to). */
    for (i = 0; i < m->nargs; i++) {
        const struct schema_arg *a = &m->args[i];

        if ((a->dir & SCHEMA_DIR_IN) && !a->optional && a->default_value == NULL)
            cr_expect(set[i] || v->prepare, "%s: nothing fills %s.%s's required '%s'",
                      e->name, m->class_name, m->name, a->name);
    }
    free(set);
}

Test(cli_verb_tables, every_verb_agrees_with_the_schema)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    size_t n = each_verb(check_verb, ctx->schema, NULL);

    cr_assert_geq(n, 40, "only %zu verbs", n);
    cli_ctx_free(ctx);
}

/* Options of one command: no two share a name or a short name, their own
 * or a shared one's. */
struct option_names {
    const char *names[64];
    char shorts[64];
    size_t n;
    const char *command;
};

static void
collect_option(void *opaque, char short_name, const char *name, const char *arg,
               const char *help)
{
    struct option_names *o = opaque;
    size_t i;

    (void)arg;
    (void)help;
    for (i = 0; i < o->n; i++) {
        cr_expect_str_neq(o->names[i], name, "%s: --%s twice", o->command, name);
        cr_expect(short_name == 0 || o->shorts[i] != short_name, "%s: -%c twice",
                  o->command, short_name);
    }
    cr_assert_lt(o->n, 64);
    o->names[o->n] = name;
    o->shorts[o->n++] = short_name;
}

Test(cli_verb_tables, no_command_has_an_option_twice)
{
    const struct ctl_cmd_section *sec;
    const struct ctl_cmd_entry *e;

    for (sec = ctl_sections; sec->entries; sec++)
        for (e = sec->entries; e->name; e++) {
            struct option_names o = { .n = 0, .command = e->name };

            ctl_options_each(e, collect_option, &o);
            cr_expect_gt(o.n, 0);
        }
}

static bool
is_not_exposed(const char *cls, const char *method)
{
    size_t i;

    for (i = 0; i < NNOT_EXPOSED; i++)
        if (strcmp(not_exposed[i][0], cls) == 0 && strcmp(not_exposed[i][1], method) == 0)
            return true;
    return false;
}

struct verb_count {
    const char *cls, *method;
    size_t n;
};

static void
count_verbs_of(const struct schema *s, const struct ctl_cmd_entry *e, void *opaque)
{
    struct verb_count *c = opaque;

    (void)s;
    if (strcmp(e->verb->class_name, c->cls) == 0 && strcmp(e->verb->method, c->method) == 0)
        c->n++;
}

Test(cli_verb_tables, every_schema_method_has_a_verb_or_is_listed)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    const struct schema *s = ctx->schema;
    size_t i, j, methods = 0;

    for (i = 0; i < s->nclasses; i++) {
        const struct schema_class *c = &s->classes[i];

        for (j = 0; j < c->nmethods; j++, methods++) {
            struct verb_count count = { c->name, c->methods[j].name, 0 };

            each_verb(count_verbs_of, s, &count);
            if (is_not_exposed(c->name, c->methods[j].name))
                cr_expect_eq(count.n, 0, "%s.%s is listed as not exposed, yet has a verb",
                             c->name, c->methods[j].name);
            else
                cr_expect_eq(count.n, 1, "%s.%s has %zu verbs (one, or list it as not "
                             "exposed)", c->name, c->methods[j].name, count.n);
        }
    }
    cr_assert_geq(methods, 40);
    /* The list names only methods that exist. */
    for (i = 0; i < NNOT_EXPOSED; i++) {
        const struct schema_class *c = schema_find_class(s, not_exposed[i][0]);

        cr_expect(c && schema_find_method(c, not_exposed[i][1]), "%s.%s is in no schema",
                  not_exposed[i][0], not_exposed[i][1]);
    }
    cli_ctx_free(ctx);
}

Test(cli_verb_tables, destructive_verbs_are_the_ones_that_lose_data)
{
    static const char *const destructive[] = {
        "destroy", "reset", "undefine", "pool-destroy", "pool-undefine", "pool-delete",
        "vol-delete", "vol-wipe", "net-destroy", "net-undefine", "iface-destroy",
    };
    size_t i;

    for (i = 0; i < sizeof(destructive) / sizeof(destructive[0]); i++) {
        const struct ctl_cmd_entry *e = ctl_find_command(destructive[i]);

        cr_assert_not_null(e, "%s", destructive[i]);
        cr_expect(e->verb->flags & CTL_VERB_DESTRUCTIVE, "%s", destructive[i]);
    }
    cr_expect_not(ctl_find_command("start")->verb->flags & CTL_VERB_DESTRUCTIVE);
    cr_expect_not(ctl_find_command("dumpxml")->verb->flags & CTL_VERB_DESTRUCTIVE);
}
