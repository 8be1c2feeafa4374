/*
 * The agent's state on disk: opening its command journal in the state
 * directory at start (recording an outcome for every command a crash left
 * begun), and closing it at stop.  Both run on a worker: they fsync.
 */
#include "agent/agent_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/journal.h"

struct state_job {
    struct agent *a;
    struct agent_conf *conf;     /* opening: where the journal is */
    struct journal *journal;
    void (*done)(struct agent *a);
    size_t dropped, recovered;
    qmf_error err;
};

/* mkdir -p with private permissions: commands and outcomes are in there. */
static int
make_dir(const char *path, qmf_error *err)
{
    char *copy = qmf_xstrdup(path), *p;

    for (p = strchr(copy + 1, '/');; p = strchr(p + 1, '/')) {
        if (p)
            *p = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
            qmf_error_set(err, QMF_ERR_INTERNAL, "cannot create %s: %s", copy,
                          strerror(errno));
            free(copy);
            return -1;
        }
        if (p == NULL)
            break;
        *p = '/';
    }
    free(copy);
    return 0;
}

/*
 * The outcome of a command that began but never ended: the agent died
 * while it ran.  Whether it took effect is unknown, so it is never run
 * again; the answer says so, whichever form (a reply, or an item of a
 * group's _results) the command turns out to need when it comes again.
 */
static qmf_value *
interrupted_outcome(const char *object)
{
    static const char text[] = "interrupted: the agent stopped while this command ran; "
                               "whether it took effect is unknown, and it is not run again";
    qmf_value *outcome = qmf_map(), *reply, *item, *values, *event;

    reply = qmf_map_set(outcome, "reply", qmf_map());
    qmf_map_set(reply, "opcode", qmf_string("_exception"));
    values = qmf_map_set(qmf_map_set(reply, "body", qmf_map()), "_values", qmf_map());
    qmf_map_set(values, "error_code", qmf_u32(QMF_ERR_INTERRUPTED));
    qmf_map_set(values, "error_text", qmf_string(text));
    item = qmf_map_set(outcome, "item", qmf_map());
    qmf_map_set(item, "_object_id", qmf_map());   /* completed when answered */
    qmf_map_set(item, "_values", qmf_dup(values));
    event = qmf_map_set(outcome, "event", qmf_map());
    qmf_map_set(event, "requester", qmf_string(""));
    qmf_map_set(event, "correlationId", qmf_string(""));
    qmf_map_set(event, "opcode", qmf_string("_method_request"));
    qmf_map_set(event, "className", qmf_string(""));
    qmf_map_set(event, "objectName", qmf_string(object));
    qmf_map_set(event, "methodName", qmf_string(""));
    qmf_map_set(event, "outcome", qmf_string("error"));
    qmf_map_set(event, "errorCode", qmf_u32(QMF_ERR_INTERRUPTED));
    qmf_map_set(event, "errorText", qmf_string(text));
    qmf_map_set(event, "durationNs", qmf_i64(0));
    qmf_map_set(outcome, "group", qmf_bool(false));
    qmf_map_set(outcome, "reply_to", qmf_string(""));
    qmf_map_set(outcome, "correlation_id", qmf_string(""));
    qmf_map_set(outcome, "durable", qmf_bool(false));
    return outcome;
}

struct begun {
    qmf_value *list;    /* [[id, object, digest or void, prepared outcome or nothing], ...] */
};

static void
collect_begun(const char *id, const char *object, const uint8_t *digest,
              unsigned attempts, qmf_value *if_interrupted, void *opaque)
{
    qmf_value *cmd = qmf_list_append(((struct begun *)opaque)->list, qmf_list());

    qmf_list_append(cmd, qmf_string(id));
    qmf_list_append(cmd, qmf_string(object));
    qmf_list_append(cmd, digest != NULL ? qmf_binary(digest, JOURNAL_DIGEST_LEN) : qmf_void());
    if (if_interrupted != NULL)
        qmf_list_append(cmd, if_interrupted);
}

static void
open_work(void *arg)
{
    struct state_job *job = arg;
    const struct agent_config *cfg = &job->conf->cfg;
    struct begun begun = { qmf_list() };
    char *path;
    size_t i;

    if (make_dir(cfg->state_dir, &job->err) != 0) {
        qmf_free(begun.list);
        return;
    }
    path = qmf_xasprintf("%s/%s.journal", cfg->state_dir, cfg->node);
    if (journal_open(&job->journal, path, NULL, &job->dropped, &job->err) != 0)
        job->journal = NULL;
    free(path);
    if (job->journal != NULL)
        journal_begun(job->journal, collect_begun, &begun);
    for (i = 0; i < qmf_list_len(begun.list); i++) {
        const qmf_value *cmd = qmf_list_at(begun.list, i);
        const char *id = qmf_as_string(qmf_list_at(cmd, 0));
        const char *object = qmf_as_string(qmf_list_at(cmd, 1));
        const qmf_value *digest = qmf_list_at(cmd, 2);
        /* Prepared at begin, it knows where the answer goes; without it
         * the answer waits for a redelivery to know. */
        qmf_value *outcome = qmf_list_len(cmd) > 3 ? qmf_dup(qmf_list_at(cmd, 3))
                                                   : interrupted_outcome(object);
        qmf_error err;

        if (journal_end(job->journal, id, object,
                        digest->kind == QMF_BINARY ? (const uint8_t *)qmf_as_string(digest) : NULL,
                        outcome, &err) == 0)
            job->recovered++;
        qmf_free(outcome);
    }
    qmf_free(begun.list);
}

static void
open_done(void *arg)
{
    struct state_job *job = arg;
    struct agent *a = job->a;

    a->journal = job->journal;
    if (a->journal == NULL)
        log_warnx(&a->log, "no command journal (%s): a command delivered twice may run "
                  "twice", job->err.text);
    else if (job->dropped || job->recovered)
        log_warnx(&a->log, "journal: %zu torn byte(s) dropped, %zu command(s) found "
                  "interrupted by the last stop", job->dropped, job->recovered);
    job->done(a);
    agent_conf_unref(job->conf);
    free(job);
    jobs_end(&a->jobs);
}

void
agent_state_open(struct agent *a, void (*done)(struct agent *a))
{
    struct state_job *job = qmf_xcalloc(1, sizeof(*job));

    job->a = a;
    job->conf = agent_conf_ref(a->conf);
    job->done = done;
    if (jobs_submit(&a->jobs, "journal", open_work, open_done, job) != 0) {
        agent_conf_unref(job->conf);
        free(job);
        done(a);
    }
}

static void
close_work(void *arg)
{
    struct state_job *job = arg;

    journal_close(job->journal);
}

static void
close_done(void *arg)
{
    struct state_job *job = arg;
    struct agent *a = job->a;
    void (*done)(struct agent *a) = job->done;

    free(job);
    jobs_end(&a->jobs);
    done(a);
}

void
agent_state_close(struct agent *a, void (*done)(struct agent *a))
{
    struct state_job *job;

    if (a->journal == NULL) {
        done(a);
        return;
    }
    job = qmf_xcalloc(1, sizeof(*job));
    job->a = a;
    job->journal = a->journal;
    job->done = done;
    a->journal = NULL;
    if (jobs_submit(&a->jobs, "journal", close_work, close_done, job) != 0) {
        journal_close(job->journal);     /* only at teardown */
        free(job);
        done(a);
    }
}
