/*
 * virtbus call: any method of the schema on objects by name or by
 * --where, its key=value arguments read by their schema types and checked
 * against the schema before anything is sent.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

static int
call_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    struct ctl_action act = { .entry = e };
    const struct schema_class *cls;
    char **names;
    qmf_error err;
    int i, rc = CTL_EXIT_OK;

    if (a->argc < 2)
        return ctl_usage(e, NULL);
    if ((cls = ctl_find_class(ctx, a->argv[0])) == NULL)
        return CTL_EXIT_USAGE;
    if ((act.method = schema_find_method(cls, a->argv[1])) == NULL)
        return ctl_usage(e, "%s has no method '%s' (virtbus schema %s lists them)",
                         cls->name, a->argv[1], cls->name);
    act.cls = cls;
    act.verb = act.method->name;
    act.args = qmf_map();
    names = qmf_xcalloc((size_t)a->argc, sizeof(*names));
    for (i = 2; i < a->argc && rc == 0; i++) {
        char *eq = strchr(a->argv[i], '=');

        if (eq == NULL) {
            names[act.nobjects++] = a->argv[i];
            continue;
        }
        *eq = '\0';
        if (ctl_arg_set(act.method, act.args, a->argv[i], eq + 1, &err) != 0)
            rc = ctl_usage(e, "%s", err.text);
        *eq = '=';
    }
    if (rc == 0 && a->where && act.nobjects)
        rc = ctl_usage(e, "name objects or select them with --where, not both");
    else if (rc == 0 && !a->where && !act.nobjects && strcmp(cls->name, "Node") != 0)
        rc = ctl_usage(e, "name the %s objects, or select them with --where", cls->name);
    if (rc == 0) {
        act.objects = act.nobjects ? names : NULL;
        rc = ctl_act(ctx, a, &act);
    }
    free(names);
    qmf_free(act.args);
    return rc;
}

const struct ctl_cmd_entry ctl_cmds_call[] = {
    { .name = "call", .usage = "CLASS METHOD [NAME...] [ARGUMENT=VALUE...]",
      .summary = "call any method (virtbus help call CLASS METHOD)",
      .accepts = CTL_ACTING, .exec = call_exec },
    { 0 },
};
