/*
 * Hypervisor events: libvirt's callbacks (on the loop thread) become QMF
 * events on the bus at once, and a refresh of the object they concern,
 * ordered after any command running on that object.
 */
#include "agent/agent_impl.h"

#include <stdlib.h>

struct refresh_job {
    struct agent *a;
    char *object_name;
    qmf_value *values;
    bool gone;
};

static void
refresh_work(void *arg)
{
    struct refresh_job *job = arg;
    qmf_error err;

    if (agent_fetch_object(job->a, job->object_name, &job->values, &err) != 0)
        job->gone = err.code == QMF_ERR_UNKNOWN_OBJECT;
}

static void
refresh_done(void *arg)
{
    struct refresh_job *job = arg;
    struct agent *a = job->a;

    agent_apply_object(a, job->object_name, job->values, job->gone);
    free(job->object_name);
    free(job);
    agent_job_end(a);
}

void
agent_refresh_object(struct agent *a, const char *object_name)
{
    struct refresh_job *job;
    char *key;

    if (!a->driver_up || a->state == AGENT_STOPPED)
        return;
    job = qmf_xcalloc(1, sizeof(*job));
    job->a = a;
    job->object_name = qmf_xstrdup(object_name);
    key = agent_job_key(a, object_name);
    agent_job_begin(a);
    if (workq_submit(a->env.wq, key, refresh_work, refresh_done, job) != 0) {
        free(job->object_name);
        free(job);
        agent_job_end(a);
    }
    free(key);
}

static void
on_domain_lifecycle(void *opaque, const char *uuid, const char *name,
                    const char *event, const char *detail)
{
    struct agent *a = opaque;
    qmf_value *v = qmf_map();
    char *object_name;

    log_debug(&a->log, "domain %s: %s (%s)", name, event, detail);
    qmf_map_set(v, "domain", qmf_string(name));
    qmf_map_set(v, "uuid", qmf_string(uuid));
    qmf_map_set(v, "event", qmf_string(event));
    qmf_map_set(v, "detail", qmf_string(detail));
    if (a->bus_up)
        agent_publish_event(a, "domainLifecycle", v, NULL, NULL);
    else
        qmf_free(v);
    object_name = qmf_xasprintf("domain:%s", uuid);
    agent_refresh_object(a, object_name);
    free(object_name);
}

static void
on_disconnected(void *opaque, const char *reason)
{
    struct agent *a = opaque;
    qmf_value *v = qmf_map();

    log_warnx(&a->log, "lost %s: %s", a->cfg.uri, reason);
    a->driver_up = false;
    qmf_map_set(v, "uri", qmf_string(a->cfg.uri));
    qmf_map_set(v, "reason", qmf_string(reason));
    if (a->bus_up)
        agent_publish_event(a, "driverDisconnected", v, NULL, NULL);
    else
        qmf_free(v);
}

const struct drv_events agent_driver_events = {
    .domain_lifecycle = on_domain_lifecycle,
    .disconnected = on_disconnected,
};
