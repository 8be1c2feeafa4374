/* virtbus shutdown: ask domains to shut down, wherever they run. */
#include "controller/ctl.h"

static int
cmd_shutdown_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
    return ctl_domain_verb(ctx, &ctl_cmd_shutdown_entry, "shutdown", argc, argv);
}

const struct ctl_cmd_entry ctl_cmd_shutdown_entry = {
    .name = "shutdown",
    .usage = "DOMAIN...",
    .summary = "ask domains to shut down",
    .exec = cmd_shutdown_exec,
};
