/* virtbus schema: the classes, properties and methods agents serve. */
#include "controller/ctl.h"

#include <string.h>

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
cmd_schema_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
    struct schema *s;
    qmf_error err;
    size_t i;
    bool found = false;

    if (argc > 2)
        return ctl_usage(&ctl_cmd_schema_entry);
    /* The schema is compiled in: no broker needed to read it. */
    s = schema_load_builtin(&err);
    if (s == NULL) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_FAILED;
    }
    if (ctx->json) {
        qmf_value *list = qmf_list();

        for (i = 0; i < s->nclasses; i++)
            if (argc == 1 || strcmp(s->classes[i].name, argv[1]) == 0)
                qmf_list_append(list, schema_class_value(&s->classes[i]));
        found = qmf_list_len(list) > 0;
        if (found)
            ctl_print_json(list);
        qmf_free(list);
    } else {
        for (i = 0; i < s->nclasses; i++) {
            if (argc == 2 && strcmp(s->classes[i].name, argv[1]) != 0)
                continue;
            print_class(&s->classes[i]);
            found = true;
        }
    }
    schema_free(s);
    if (!found) {
        ctl_warnx("no class '%s' in the schema", argv[1]);
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

const struct ctl_cmd_entry ctl_cmd_schema_entry = {
    .name = "schema",
    .usage = "[CLASS]",
    .summary = "print the classes, properties and methods",
    .exec = cmd_schema_exec,
};
