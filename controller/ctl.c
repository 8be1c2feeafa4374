/* Helpers the CLI commands share: connecting, locating, reporting. */
#include "controller/ctl.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void
ctl_warnx(const char *fmt, ...)
{
    va_list ap;

    fputs("virtbus: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int
ctl_usage(const struct ctl_cmd_entry *e)
{
    fprintf(stderr, "usage: virtbus %s %s\n", e->name, e->usage);
    return CTL_EXIT_USAGE;
}

int
ctl_connect(struct ctl_ctx *ctx, const char *const *watch_keys)
{
    struct virtbus_console_options o = {
        .url = ctx->url,
        .watch_keys = watch_keys,
    };
    qmf_error err;

    ctx->console = virtbus_console_open(ctx->base, &o, &err);
    if (ctx->console == NULL) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_FAILED;
    }
    ctx->schema = virtbus_console_schema(ctx->console);
    return CTL_EXIT_OK;
}

int
ctl_locate(struct ctl_ctx *ctx, struct virtbus_agent_list *agents)
{
    qmf_error err;

    if (virtbus_locate(ctx->console, NULL, ctx->timeout_ms, agents, &err) != 0) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

int
ctl_query_fleet(struct ctl_ctx *ctx, const char *class_name, const qmf_value *where,
                struct virtbus_results *res)
{
    struct virtbus_agent_list agents;
    qmf_error err;
    int rc;

    if ((rc = ctl_connect(ctx, NULL)) != 0 || (rc = ctl_locate(ctx, &agents)) != 0)
        return rc;
    rc = virtbus_query(ctx->console, &agents, "OBJECT", class_name, where,
                       ctx->timeout_ms, res, &err);
    virtbus_agent_list_free(&agents);
    if (rc != 0) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

int
ctl_report_results(struct ctl_ctx *ctx, const struct virtbus_results *r,
                   qmf_value *json_errors)
{
    int rc = CTL_EXIT_OK;
    size_t i;

    for (i = 0; i < r->n; i++) {
        const struct virtbus_result *res = &r->items[i];

        if (res->status == VIRTBUS_OK)
            continue;
        if (json_errors) {
            qmf_value *e = qmf_list_append(json_errors, qmf_map());

            qmf_map_set(e, "node", qmf_string(res->node));
            qmf_map_set(e, "status", qmf_string(res->status == VIRTBUS_FAILED ?
                                                "failed" : "no-reply"));
            qmf_map_set(e, "error_code", qmf_u32(res->error.code));
            qmf_map_set(e, "error_text", qmf_string(res->error.text));
        } else if (res->status == VIRTBUS_FAILED) {
            ctl_warnx("%s: error %#x (%s): %s", res->node, res->error.code,
                      qmf_error_name(res->error.code), res->error.text);
        } else {
            ctl_warnx("%s: no reply", res->node);
        }
        if (res->status == VIRTBUS_NO_REPLY)
            rc = CTL_EXIT_NO_REPLY;
        else if (rc == CTL_EXIT_OK)
            rc = CTL_EXIT_FAILED;
    }
    return rc;
}
