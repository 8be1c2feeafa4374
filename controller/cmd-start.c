/* virtbus start: start (boot) domains, wherever they run. */
#include "controller/ctl.h"

static int
cmd_start_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
    return ctl_domain_verb(ctx, &ctl_cmd_start_entry, "create", argc, argv);
}

const struct ctl_cmd_entry ctl_cmd_start_entry = {
    .name = "start",
    .usage = "DOMAIN...",
    .summary = "start (boot) domains",
    .exec = cmd_start_exec,
};
