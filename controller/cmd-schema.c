/* virtbus schema: the classes, properties and methods agents serve. */
#include "controller/ctl.h"

#include <string.h>
#include <strings.h>

static void
print_class(const struct schema_class *c)
{
    size_t i, j;

    printf("%s (%s)\n  %s\n", c->name, c->kind == SCHEMA_EVENT ? "event" : "class", c->desc);
    for (i = 0; i < c->nprops; i++) {
        const struct schema_property *p = &c->props[i];

        printf("  %-20s %-9s %s%s%s%s\n", p->name, qmf_type_name(p->type),
               c->kind == SCHEMA_EVENT ? "" : schema_access_name(p->access),
               p->unit ? " [" : "", p->unit ? p->unit : "", p->unit ? "]" : "");
    }
    for (i = 0; i < c->nmethods; i++) {
        const struct schema_method *m = &c->methods[i];

        printf("  %s(", m->name);
        for (j = 0; j < m->nargs; j++)
            printf("%s%s%s %s:%s", j ? ", " : "", m->args[j].optional ? "[" : "",
                   schema_dir_name(m->args[j].dir), m->args[j].name,
                   qmf_type_name(m->args[j].type));
        for (j = 0; j < m->nargs; j++)
            if (m->args[j].optional)
                printf("]");
        printf(")  role %s\n", schema_role_name(m->role));
    }
}

static int
schema_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    const struct schema *s = ctx->schema;
    qmf_value *doc = NULL, *list = NULL;
    bool found = false;
    size_t i;

    if (a->argc > 1)
        return ctl_usage(e, NULL);
    if (ctx->json) {
        doc = qmf_map();
        list = qmf_map_set(doc, "classes", qmf_list());
    }
    /* The schema is compiled in: no broker needed to read it. */
    for (i = 0; i < s->nclasses; i++) {
        if (a->argc == 1 && strcasecmp(s->classes[i].name, a->argv[0]) != 0)
            continue;
        if (list)
            qmf_list_append(list, schema_class_value(&s->classes[i]));
        else
            print_class(&s->classes[i]);
        found = true;
    }
    if (!found) {
        qmf_free(doc);
        ctl_warnx("no class '%s' in the schema", a->argv[0]);
        return CTL_EXIT_USAGE;
    }
    if (doc) {
        ctl_print_json(doc);
        qmf_free(doc);
    }
    return CTL_EXIT_OK;
}

const struct ctl_cmd_entry ctl_cmds_schema[] = {
    { .name = "schema", .usage = "[CLASS]",
      .summary = "the classes, properties, methods and events agents serve",
      .accepts = CTL_OFFLINE, .exec = schema_exec },
    { 0 },
};
