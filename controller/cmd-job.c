/*
 * virtbus job show|wait|list: fire-and-forget jobs (left by --async) and
 * their results, which the broker keeps for any console to fetch later.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

/* "Domain.shutdown where ..." -> "shutdown", for the result lines. */
static char *
job_verb(const char *description)
{
    const char *dot = description ? strchr(description, '.') : NULL;

    if (dot == NULL || dot[1] == '\0')
        return qmf_xstrdup("done");
    return qmf_xstrndup(dot + 1, strcspn(dot + 1, " "));
}

static qmf_value *
job_json(const struct virtbus_job *j)
{
    qmf_value *m = qmf_map(), *nodes;
    size_t i;

    qmf_map_set(m, "id", qmf_string(j->id));
    qmf_map_set(m, "created_ns", qmf_i64(j->created_ns));
    qmf_map_set(m, "description", qmf_string(j->description ? j->description : ""));
    qmf_map_set(m, "complete", qmf_bool(j->complete));
    nodes = qmf_map_set(m, "nodes", qmf_list());
    for (i = 0; i < j->expected.n; i++)
        qmf_list_append(nodes, qmf_string(j->expected.items[i].node));
    return m;
}

static int
report_job(struct ctl_ctx *ctx, const struct virtbus_job *j)
{
    char *verb = job_verb(j->description), when[40];
    struct ctl_report r = { .command = "job", .verb = verb };
    struct ctl_outcomes out = { 0 };
    qmf_value *extra = qmf_map();
    size_t i;
    int rc;

    ctl_outcomes_add_where_results(&out, &j->results);
    for (i = 0; i < out.n; i++)
        if (out.items[i].status == CTL_NO_REPLY)
            qmf_error_set(&out.items[i].error, QMF_ERR_TIMEOUT, "no result yet");
    if (!ctx->json && !ctx->quiet) {
        ctl_format_time(j->created_ns, when, sizeof(when));
        printf("job %s: %s, created %s, %s\n", j->id, j->description ? j->description : "",
               when, j->complete ? "complete" : "incomplete");
    }
    qmf_map_set(extra, "job", job_json(j));
    rc = ctl_outcomes_report(ctx, &r, &out, extra);
    qmf_free(extra);
    ctl_outcomes_clear(&out);
    free(verb);
    return rc;
}

static int
job_fetch(struct ctl_ctx *ctx, const char *id, bool wait)
{
    struct virtbus_job job = { 0 };
    qmf_error err;
    int rc;

    if ((rc = ctl_connect(ctx, false, NULL, NULL)) != 0)
        return rc;
    if (virtbus_job_fetch(ctx->console, id, wait, ctx->timeout_ms, &job, &err) != 0) {
        ctl_warnx("job %s: %s", id, err.text);
        return ctl_exit_of(&err);
    }
    rc = report_job(ctx, &job);
    virtbus_job_clear(&job);
    return rc;
}

static int
job_list(struct ctl_ctx *ctx)
{
    static const char *const headers[] = { "ID", "CREATED", "NODES", "DESCRIPTION" };
    struct virtbus_job *jobs = NULL;
    struct ctl_table *t;
    qmf_value *doc, *list;
    qmf_error err;
    size_t i, n = 0;
    int rc;

    if ((rc = ctl_connect(ctx, false, NULL, NULL)) != 0)
        return rc;
    if (virtbus_job_list(ctx->console, &jobs, &n, &err) != 0) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_FAILED;
    }
    if (ctx->json) {
        doc = qmf_map();
        list = qmf_map_set(doc, "jobs", qmf_list());
        for (i = 0; i < n; i++)
            qmf_list_append(list, job_json(&jobs[i]));
        ctl_print_json(doc);
        qmf_free(doc);
    } else if (!ctx->quiet) {
        t = ctl_table_new(4, headers);
        for (i = 0; i < n; i++) {
            char **cells = qmf_xcalloc(4, sizeof(char *)), when[40];

            ctl_format_time(jobs[i].created_ns, when, sizeof(when));
            cells[0] = qmf_xstrdup(jobs[i].id);
            cells[1] = qmf_xstrdup(when);
            cells[2] = qmf_xasprintf("%zu", jobs[i].expected.n);
            cells[3] = qmf_xstrdup(jobs[i].description ? jobs[i].description : "");
            ctl_table_add_owned(t, cells);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    for (i = 0; i < n; i++)
        virtbus_job_clear(&jobs[i]);
    free(jobs);
    return CTL_EXIT_OK;
}

static int
job_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    if (a->argc == 1 && strcmp(a->argv[0], "list") == 0)
        return job_list(ctx);
    if (a->argc == 2 && strcmp(a->argv[0], "show") == 0)
        return job_fetch(ctx, a->argv[1], false);
    if (a->argc == 2 && strcmp(a->argv[0], "wait") == 0)
        return job_fetch(ctx, a->argv[1], true);
    return ctl_usage(e, NULL);
}

const struct ctl_cmd_entry ctl_cmds_job[] = {
    { .name = "job", .usage = "show ID | wait ID | list",
      .summary = "results of --async jobs: now, once complete, or the recent jobs",
      .exec = job_exec },
    { 0 },
};
