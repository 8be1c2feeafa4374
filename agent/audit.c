/*
 * The audit trail (docs/SECURITY.md §8): one JSON line per command run and
 * per request refused, appended to <state_dir>/<node>.audit by a worker
 * and, for a daemon, sent to syslog's authpriv facility.  One append is
 * in flight at a time, and it takes every line made since the last one:
 * in order, and at a command rate in the thousands, one open and write
 * per batch instead of per line (and one thread hop less per command).
 */
#include "agent/agent_impl.h"
#include "agent/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/codec.h"

/* Request fields quoted in a line are cut to this: the line stays a line. */
#define AUDIT_FIELD_MAX 256

/* Past this much waiting to be written (a disk that stalls), new lines go
 * to the log instead: memory stays bounded, and nothing is lost unseen. */
#define AUDIT_PENDING_MAX (4u << 20)

struct audit_job {
    struct agent *a;
    struct agent_conf *conf;
    char *lines;
    bool failed;
    int error;
};

static void audit_flush(struct agent *a);

static void
audit_work(void *arg)
{
    struct audit_job *job = arg;
    char *path = qmf_xasprintf("%s/%s.audit", job->conf->cfg.state_dir, job->conf->cfg.node);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    size_t len = strlen(job->lines), off = 0;

    while (fd >= 0 && off < len) {
        ssize_t n = write(fd, job->lines + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        off += (size_t)n;
    }
    job->failed = fd < 0 || off < len;
    job->error = errno;
    if (fd >= 0)
        close(fd);
    free(path);
}

static void
audit_done(void *arg)
{
    struct audit_job *job = arg;
    struct agent *a = job->a;

    if (job->failed)
        log_warnx(&a->log, "audit: cannot append to %s/%s.audit: %s", a->cfg.state_dir,
                  a->cfg.node, strerror(job->error));
    agent_conf_unref(job->conf);
    free(job->lines);
    free(job);
    a->audit_writing = false;
    audit_flush(a);
    jobs_end(&a->jobs);
}

/* Hands the lines made so far to a worker, unless one is writing. */
static void
audit_flush(struct agent *a)
{
    struct audit_job *job;

    if (a->audit_writing || a->audit_pending_len == 0)
        return;
    job = qmf_xcalloc(1, sizeof(*job));
    job->a = a;
    job->conf = agent_conf_ref(a->conf);
    job->lines = a->audit_pending;
    a->audit_pending = NULL;
    a->audit_pending_len = a->audit_pending_cap = 0;
    if (jobs_submit(&a->jobs, "audit", audit_work, audit_done, job) != 0) {
        log_warnx(&a->log, "audit: %s", job->lines);
        agent_conf_unref(job->conf);
        free(job->lines);
        free(job);
        return;
    }
    a->audit_writing = true;
}

static void
audit_append(struct agent *a, const char *json)
{
    size_t len = strlen(json);

    if (a->audit_pending_len + len + 2 > AUDIT_PENDING_MAX) {
        log_warnx(&a->log, "audit: %zu bytes wait to be written; not queued: %s",
                  a->audit_pending_len, json);
        return;
    }
    if (a->audit_pending_len + len + 2 > a->audit_pending_cap) {
        size_t cap = a->audit_pending_cap ? a->audit_pending_cap : 1024;

        while (cap < a->audit_pending_len + len + 2)
            cap *= 2;
        a->audit_pending = qmf_xrealloc(a->audit_pending, cap);
        a->audit_pending_cap = cap;
    }
    memcpy(a->audit_pending + a->audit_pending_len, json, len);
    a->audit_pending_len += len;
    a->audit_pending[a->audit_pending_len++] = '\n';
    a->audit_pending[a->audit_pending_len] = '\0';
    audit_flush(a);
}

static qmf_value *
capped(const char *s)
{
    size_t n = s != NULL ? strnlen(s, AUDIT_FIELD_MAX) : 0;

    return qmf_stringn(s != NULL ? s : "", n);
}

static void
iso_time(int64_t ns, char *buf, size_t len)
{
    time_t secs = (time_t)(ns / 1000000000);
    struct tm tm;

    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);

    snprintf(buf + n, len - n, ".%03dZ", (int)(ns / 1000000 % 1000));
}

void
agent_audit(struct agent *a, const struct agent_caller *c, const struct bus_message *m,
            const char *action, const char *object, const char *outcome, const qmf_error *err)
{
    qmf_value *v = qmf_map();
    char when[64], *roles, *json;
    size_t len;

    iso_time(clock_wall_ns(), when, sizeof(when));
    roles = trust_roles_format(c != NULL ? c->roles : 0);
    qmf_map_set(v, "time", qmf_string(when));
    qmf_map_set(v, "node", qmf_string(a->cfg.node));
    qmf_map_set(v, "caller", qmf_string(c != NULL && c->name[0] ? c->name : "unknown"));
    qmf_map_set(v, "key", qmf_string(c != NULL ? c->key_id : ""));
    qmf_map_set(v, "roles", qmf_string(roles));
    qmf_map_set(v, "source", capped(m->user_id));
    qmf_map_set(v, "action", capped(action));
    qmf_map_set(v, "object", capped(object));
    qmf_map_set(v, "message_id", capped(m->message_id));
    qmf_map_set(v, "outcome", qmf_string(outcome));
    qmf_map_set(v, "error_code", qmf_u32(err != NULL ? err->code : 0));
    qmf_map_set(v, "error", qmf_string(err != NULL ? err->text : ""));
    free(roles);
    json = qmf_to_json(v, &len);
    qmf_free(v);
    if (a->env.use_syslog)
        syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s: audit: %s", a->log.ident, json);
    audit_append(a, json);
    free(json);
}

const char *
agent_requester(const struct agent_caller *c, const struct bus_message *m)
{
    if (c != NULL && c->is_signed)
        return c->name;
    return m->user_id != NULL ? m->user_id : "";
}
