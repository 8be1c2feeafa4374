/*
 * virtbus help [COMMAND | call CLASS METHOD]: the commands by section, one
 * command with its options (and for verbs, the method they call), or a
 * method's arguments from the schema.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

void
ctl_help_print(FILE *f)
{
    const struct ctl_cmd_section *s;
    const struct ctl_cmd_entry *e;

    fprintf(f,
        "usage: virtbus [-c BROKER] [--json] [-q] [--timeout SECONDS] COMMAND [ARGS]\n"
        "\n"
        "  -c, --connect NAME|URL   broker alias or URL (default $VIRTBUS_BROKER, the\n"
        "                           configured broker, then " CTL_DEFAULT_BROKER ")\n"
        "      --json               one JSON document on stdout\n"
        "  -q, --quiet              the data only: no headers, notices or summaries\n"
        "  -t, --timeout SECONDS    how long to wait for answers (default 10)\n");
    for (s = ctl_sections; s->entries; s++) {
        if (s->title)
            fprintf(f, "\n%s:\n", s->title);
        for (e = s->entries; e->name; e++)
            fprintf(f, "  %-16s %s\n", e->name, e->summary);
    }
    fprintf(f,
        "\nTargeting (-n, -l, --if, --all) and --where work on every command that\n"
        "asks nodes; see virtbus help COMMAND, man virtbus and man virtbus-where\n"
        "(the --where and --if language), man virtbus.conf and man virtbusd.\n"
        "Exit status: 0 all ok, 1 some failed, 2 usage, 3 some did not reply or are down.\n");
}

static void
print_option(void *opaque, char short_name, const char *name, const char *arg,
             const char *help)
{
    char left[64];

    snprintf(left, sizeof(left), "%c%c%s--%s%s%s", short_name ? '-' : ' ',
             short_name ? short_name : ' ', short_name ? ", " : "  ", name,
             arg ? " " : "", arg ? arg : "");
    printf("  %-28s %s\n", left, help);
}

static void
option_json(void *opaque, char short_name, const char *name, const char *arg,
            const char *help)
{
    qmf_value *o = qmf_list_append(opaque, qmf_map());

    qmf_map_set(o, "name", qmf_stringf("--%s", name));
    if (short_name)
        qmf_map_set(o, "short", qmf_stringf("-%c", short_name));
    if (arg)
        qmf_map_set(o, "value", qmf_string(arg));
    qmf_map_set(o, "help", qmf_string(help));
}

/* {name, usage, summary, section, options: [...], class, method} */
static qmf_value *
command_json(const struct ctl_cmd_entry *e, const char *section)
{
    qmf_value *c = qmf_map();

    qmf_map_set(c, "name", qmf_string(e->name));
    qmf_map_set(c, "usage", qmf_string(e->usage));
    qmf_map_set(c, "summary", qmf_string(e->summary));
    if (section)
        qmf_map_set(c, "section", qmf_string(section));
    ctl_options_each(e, option_json, qmf_map_set(c, "options", qmf_list()));
    if (e->verb) {
        qmf_map_set(c, "class", qmf_string(e->verb->class_name));
        qmf_map_set(c, "method", qmf_string(e->verb->method));
    }
    return c;
}

static void
print_commands_json(const char *only)
{
    const struct ctl_cmd_section *s;
    const struct ctl_cmd_entry *e;
    const char *section = NULL;
    qmf_value *doc = qmf_map(), *list = qmf_map_set(doc, "commands", qmf_list());

    for (s = ctl_sections; s->entries; s++) {
        section = s->title ? s->title : section;
        for (e = s->entries; e->name; e++)
            if (only == NULL || strcmp(only, e->name) == 0)
                qmf_list_append(list, command_json(e, section));
    }
    ctl_print_json(doc);
    qmf_free(doc);
}

void
ctl_help_command(const struct ctl_cmd_entry *e, const struct schema *schema)
{
    const struct schema_method *m = NULL;

    printf("usage: virtbus %s %s\n  %s\n", e->name, e->usage, e->summary);
    if (e->verb) {
        m = schema_find_method(schema_find_class(schema, e->verb->class_name), e->verb->method);
        printf("\nCalls %s.%s (role %s)%s%s\n", e->verb->class_name, e->verb->method,
               m ? schema_role_name(m->role) : "?", m ? ": " : "", m ? m->desc : "");
        if (!(e->verb->flags & CTL_VERB_NODE))
            printf("Objects by name or identity, or a selection with --where (which needs\n"
                   "-n, -l, --if or --all unless the method only reads).\n");
    }
    printf("\noptions:\n");
    ctl_options_each(e, print_option, NULL);
}

/* "virtbus migrate" for Domain.migrate: the verbs calling a method. */
static void
print_verbs_of(const struct schema_method *m)
{
    const struct ctl_cmd_section *s;
    const struct ctl_cmd_entry *e;

    for (s = ctl_sections; s->entries; s++)
        for (e = s->entries; e->name; e++)
            if (e->verb && strcmp(e->verb->class_name, m->class_name) == 0 &&
                strcmp(e->verb->method, m->name) == 0)
                printf("Also: virtbus %s %s\n", e->name, e->usage);
}

static void
print_method(const struct schema_class *cls, const struct schema_method *m)
{
    size_t i;

    printf("%s.%s (role %s)\n  %s\n\nusage: virtbus call %s %s %s", cls->name, m->name,
           schema_role_name(m->role), m->desc, cls->name, m->name,
           strcmp(cls->name, "Node") == 0 ? "[NODE...]" : "NAME...|--where EXPR");
    for (i = 0; i < m->nargs; i++)
        if (m->args[i].dir & SCHEMA_DIR_IN)
            printf(" %s%s=%s%s", m->args[i].optional ? "[" : "", m->args[i].name,
                   qmf_type_name(m->args[i].type), m->args[i].optional ? "]" : "");
    printf("\n\narguments:\n");
    if (m->nargs == 0)
        printf("  (none)\n");
    for (i = 0; i < m->nargs; i++) {
        const struct schema_arg *arg = &m->args[i];
        char *def = arg->default_value ? ctl_format_value(arg->default_value) : NULL;
        uint64_t unit = ctl_arg_unit(arg);

        printf("  %s (%s, %s%s%s%s%s%s)\n      %s\n", arg->name, qmf_type_name(arg->type),
               arg->dir == SCHEMA_DIR_IN ? "in" : arg->dir == SCHEMA_DIR_OUT ? "out" : "in/out",
               !(arg->dir & SCHEMA_DIR_IN) ? "" : arg->optional ? ", optional" : ", required",
               def ? ", default " : "", def ? def : "",
               unit ? (unit == 1 ? ", a size: 10G" : ", a size: 2G") : "",
               arg->path == SCHEMA_PATH_NONE ? "" : arg->path == SCHEMA_PATH_FILE ?
               ", a host path under the agent's allowed_paths" :
               ", its host paths under the agent's allowed_paths", arg->desc);
        free(def);
    }
    print_verbs_of(m);
}

static int
help_call(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, const char *cname,
          const char *mname)
{
    const struct schema_class *cls = ctl_find_class(ctx, cname);
    const struct schema_method *m = cls ? schema_find_method(cls, mname) : NULL;
    qmf_value *value;
    size_t i;

    if (cls == NULL)
        return CTL_EXIT_USAGE;
    if (m == NULL)
        return ctl_usage(e, "%s has no method '%s'", cls->name, mname);
    if (!ctx->json) {
        print_method(cls, m);
        return CTL_EXIT_OK;
    }
    /* The method as the schema's own map has it (docs/PROTOCOL.md). */
    value = schema_class_value(cls);
    for (i = 0; i < qmf_list_len(qmf_map_get(value, "_methods")); i++) {
        const qmf_value *mv = qmf_list_at(qmf_map_get(value, "_methods"), i);

        if (strcmp(qmf_map_get_string(mv, "_name") ? qmf_map_get_string(mv, "_name") : "",
                   m->name) == 0)
            ctl_print_json(mv);
    }
    qmf_free(value);
    return CTL_EXIT_OK;
}

static int
help_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    const struct ctl_cmd_entry *cmd = NULL;

    if (a->argc == 3 && strcmp(a->argv[0], "call") == 0)
        return help_call(ctx, e, a->argv[1], a->argv[2]);
    if (a->argc > 1)
        return ctl_usage(e, NULL);
    if (a->argc == 1 && (cmd = ctl_find_command(a->argv[0])) == NULL) {
        ctl_unknown_command(a->argv[0]);
        return CTL_EXIT_USAGE;
    }
    if (ctx->json)
        print_commands_json(a->argc ? a->argv[0] : NULL);
    else if (a->argc == 0)
        ctl_help_print(stdout);
    else
        ctl_help_command(cmd, ctx->schema);
    return CTL_EXIT_OK;
}

const struct ctl_cmd_entry ctl_cmds_help[] = {
    { .name = "help", .usage = "[COMMAND | call CLASS METHOD]",
      .summary = "the commands, one command, or a method's arguments",
      .accepts = CTL_OFFLINE, .exec = help_exec },
    { 0 },
};
