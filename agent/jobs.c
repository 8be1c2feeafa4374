/* One agent's worker jobs (jobs.h): submitted per object, counted until they end. */
#include "agent/jobs.h"

#include <stdlib.h>

#include "core/value.h"

void
jobs_init(struct jobs *jobs, struct workq *wq, const char *owner,
          struct log_ctx *log, void (*idle)(void *opaque), void *idle_opaque)
{
    *jobs = (struct jobs){
        .wq = wq,
        .owner = owner,
        .log = log,
        .idle = idle,
        .idle_opaque = idle_opaque,
    };
}

int
jobs_submit(struct jobs *jobs, const char *object_name, workq_fn work,
            workq_done_fn done, void *job)
{
    /* The key orders jobs per object across every agent of the pool. */
    char *key = qmf_xasprintf("%s/%s", jobs->owner, object_name);
    int rc;

    jobs->running++;
    rc = workq_submit(jobs->wq, key, work, done, job);
    free(key);
    if (rc != 0) {
        jobs->running--;
        log_warnx(jobs->log, "the worker pool refused a job for %s", object_name);
    }
    return rc;
}

void
jobs_end(struct jobs *jobs)
{
    if (--jobs->running == 0)
        jobs->idle(jobs->idle_opaque);
}
