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
    qmf_map_set(m, "record", qmf_string(virtbus_record_auth_name(j->record_auth)));
    if (j->record_signer)
        qmf_map_set(m, "signer", qmf_string(j->record_signer));
    nodes = qmf_map_set(m, "nodes", qmf_list());
    for (i = 0; i < j->expected.n; i++)
        qmf_list_append(nodes, qmf_string(j->expected.items[i].node));
    return m;
}

/* Who made the job, when it was not this caller: ", by alice", ... */
static const char *
job_origin(const struct virtbus_job *j, char *buf, size_t len)
{
    switch (j->record_auth) {
    case VIRTBUS_RECORD_VERIFIED:
        snprintf(buf, len, ", by %s", j->record_signer ? j->record_signer : "?");
        return buf;
    case VIRTBUS_RECORD_UNCHECKED:
        return ", its record signed but not checked (no answer_issuer_keys)";
    case VIRTBUS_RECORD_UNSIGNED:
        return ", its record unsigned";
    default:
        return "";
    }
}

static int
report_job(struct ctl_ctx *ctx, const struct virtbus_job *j)
{
    char *verb = job_verb(j->description), when[40], origin[100];
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
        printf("job %s: %s, created %s%s, %s\n", j->id, j->description ? j->description : "",
               when, job_origin(j, origin, sizeof(origin)),
               j->complete ? "complete" : "incomplete");
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

    struct event *sigint;
    bool interrupted;

    if ((rc = ctl_connect(ctx, false, NULL, NULL)) != 0)
        return rc;
    sigint = wait ? ctl_interrupt_catch(ctx) : NULL;
    rc = virtbus_job_fetch(ctx->console, id, wait, ctx->timeout_ms, &job, &err);
    interrupted = ctl_interrupt_release(ctx, sigint);
    if (rc != 0 && !interrupted) {
        ctl_warnx("job %s: %s", id, err.text);
        return ctl_exit_of(&err);
    }
    rc = rc == 0 ? report_job(ctx, &job) : 0;
    /* Ctrl-C: what came so far is above; the job keeps the rest. */
    if (interrupted) {
        ctl_warnx("interrupted: %s; the rest later with `virtbus job show %s` (or wait "
                  "again with `virtbus job wait %s`)", job.complete ? "every node answered" :
                  "some nodes may not have answered yet", id, id);
        rc = CTL_EXIT_INTERRUPTED;
    }
    virtbus_job_clear(&job);
    return rc;
}

/* Where a job stands, from its results read as `job show` reads them. */
struct job_state {
    const char *status;         /* complete, incomplete, expired, unknown */
    size_t answered, failed;    /* expected nodes in; failed outcomes */
};

static void
job_state_of(struct ctl_ctx *ctx, struct virtbus_job *j, struct job_state *st)
{
    struct virtbus_job full;
    struct ctl_outcomes out = { 0 };
    qmf_error err;
    size_t i;

    memset(st, 0, sizeof(*st));
    if (virtbus_job_fetch(ctx->console, j->id, false, 0, &full, &err) != 0) {
        /* Its queue outlived by its record in the stream, or unreadable. */
        st->status = err.code == QMF_ERR_UNKNOWN_OBJECT ? "expired" : "unknown";
        if (err.code != QMF_ERR_UNKNOWN_OBJECT)
            ctl_warnx("job %s: %s", j->id, err.text);
        return;
    }
    for (i = 0; i < full.results.n; i++)
        st->answered += full.results.items[i].status != VIRTBUS_NO_REPLY &&
                        ctl_nodes_find(&full.expected, full.results.items[i].node);
    ctl_outcomes_add_where_results(&out, &full.results);
    for (i = 0; i < out.n; i++)
        st->failed += out.items[i].status == CTL_FAILED;
    ctl_outcomes_clear(&out);
    st->status = full.complete ? "complete" : "incomplete";
    j->complete = full.complete;
    virtbus_job_clear(&full);
}

/* "complete", "complete, 1 failed", "incomplete, 2/3 answered", "expired" */
static char *
job_state_text(const struct virtbus_job *j, const struct job_state *st)
{
    char failed[32] = "";

    if (strcmp(st->status, "complete") != 0 && strcmp(st->status, "incomplete") != 0)
        return qmf_xstrdup(st->status);
    if (st->failed)
        snprintf(failed, sizeof(failed), ", %zu failed", st->failed);
    if (j->complete)
        return qmf_xasprintf("complete%s", failed);
    return qmf_xasprintf("incomplete, %zu/%zu answered%s", st->answered, j->expected.n, failed);
}

static int
job_list(struct ctl_ctx *ctx)
{
    static const char *const headers[] = { "ID", "CREATED", "NODES", "STATUS", "DESCRIPTION" };
    struct virtbus_job *jobs = NULL;
    struct job_state st;
    struct ctl_table *t;
    qmf_value *doc, *list, *e;
    qmf_error err;
    size_t i, n = 0;
    int rc;

    if ((rc = ctl_connect(ctx, false, NULL, NULL)) != 0)
        return rc;
    if (virtbus_job_list(ctx->console, &jobs, &n, &err) != 0)
        return ctl_fail(&err);
    doc = qmf_map();
    list = qmf_map_set(doc, "jobs", qmf_list());
    t = ctl_table_new(5, headers);
    for (i = 0; i < n; i++) {
        char **cells, when[40];

        /* Not ours, and not provably anyone's: a job nobody may have sent. */
        if (jobs[i].record_auth == VIRTBUS_RECORD_REFUSED) {
            ctl_warnx("job %s: its record is refused: %s", jobs[i].id, jobs[i].record_error);
            continue;
        }
        cells = qmf_xcalloc(5, sizeof(char *));
        job_state_of(ctx, &jobs[i], &st);
        e = qmf_list_append(list, job_json(&jobs[i]));
        qmf_map_set(e, "status", qmf_string(st.status));
        qmf_map_set(e, "answered", qmf_u64(st.answered));
        qmf_map_set(e, "failed", qmf_u64(st.failed));
        ctl_format_time(jobs[i].created_ns, when, sizeof(when));
        cells[0] = qmf_xstrdup(jobs[i].id);
        cells[1] = qmf_xstrdup(when);
        cells[2] = qmf_xasprintf("%zu", jobs[i].expected.n);
        cells[3] = job_state_text(&jobs[i], &st);
        cells[4] = qmf_xstrdup(jobs[i].description ? jobs[i].description : "");
        ctl_table_add_owned(t, cells);
    }
    if (ctx->json)
        ctl_print_doc(ctx, doc);
    else
        ctl_print_table(ctx, t);
    ctl_table_free(t);
    qmf_free(doc);
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
