/*
 * One agent's worker jobs: its share of the process's worker pool
 * (workq.h), ordered per object and counted while they run.  The count is
 * what lets the agent wait until no job holds a pointer to it or to its
 * hypervisor connection: a stop, and the closing of a lost connection, go
 * on only once the last job has ended, which the owner hears through the
 * idle callback.  Loop thread only.
 */
#ifndef AGENT_JOBS_H
#define AGENT_JOBS_H

#include "agent/log.h"
#include "agent/workq.h"

struct jobs {
    struct workq *wq;
    /* Prefixes each job's strand key, so that two agents of one pool
     * order their objects' jobs apart.  Borrowed. */
    const char *owner;
    struct log_ctx *log;
    unsigned running;               /* submitted, done not yet ended */
    void (*idle)(void *opaque);     /* the last running job has ended */
    void *idle_opaque;
};

/* owner and log are borrowed: they must outlive the jobs. */
void jobs_init(struct jobs *jobs, struct workq *wq, const char *owner,
               struct log_ctx *log, void (*idle)(void *opaque), void *idle_opaque);

/*
 * Runs work on a worker thread, ordered after every earlier job of the
 * same owner and object, then done on the loop thread.  done must end
 * with jobs_end: stopping and reconnecting wait for jobs to end.
 * A job that needs configuration takes agent_conf_ref (config.h) before
 * submitting and drops it in done.
 * Returns -1 (and counts nothing) if the pool refuses the job.
 */
int jobs_submit(struct jobs *jobs, const char *object_name, workq_fn work,
                workq_done_fn done, void *job);
/* A job's done has finished with the agent; the last one calls idle. */
void jobs_end(struct jobs *jobs);

#endif
