/* virtbus destroy: stop domains at once (power off), wherever they run. */
#include "controller/ctl.h"

static int
cmd_destroy_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
    return ctl_domain_verb(ctx, &ctl_cmd_destroy_entry, "destroy", argc, argv);
}

const struct ctl_cmd_entry ctl_cmd_destroy_entry = {
    .name = "destroy",
    .usage = "DOMAIN...",
    .summary = "stop domains at once (power off)",
    .exec = cmd_destroy_exec,
};
