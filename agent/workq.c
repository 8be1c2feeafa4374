/*
 * The worker pool: threads that take jobs from one ready queue, strands
 * that keep same-key jobs in order, and a done list that one libevent event
 * drains on the loop thread.
 *
 * A keyed job is "ready" only when it is the oldest of its strand; the jobs
 * behind it wait on the strand and are moved to the ready queue, one at a
 * time, as each predecessor's work returns.  So a strand never has more
 * than one job ready or running, and the ready queue stays FIFO for
 * fairness between strands.
 *
 * The strand table is the core's dictionary (core/dict.h), which
 * clears what removals leave when it grows: a long-lived daemon that sees
 * many short-lived keys (every guest ever created) keeps O(1) lookups.
 */
#define _GNU_SOURCE     /* SCHED_BATCH */
#include "agent/workq.h"

#include <sys/queue.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dict.h"
#include "core/value.h"

struct workq_strand;

struct workq_job {
    STAILQ_ENTRY(workq_job) link;
    struct workq_strand *strand;    /* NULL for a job without key */
    workq_fn work;
    workq_done_fn done;
    void *arg;
};

STAILQ_HEAD(workq_jobs, workq_job);

/* Lives in the table while one of its jobs is ready or running. */
struct workq_strand {
    char *key;
    struct workq_jobs waiting;      /* behind the ready or running one */
};

struct workq {
    struct event_base *base;
    struct event *done_ev;          /* made active by workers */
    pthread_t *threads;
    unsigned nthreads;

    pthread_mutex_t lock;           /* guards everything below */
    pthread_cond_t work_cv;         /* ready is non-empty, or stopping */
    pthread_cond_t idle_cv;         /* nothing queued or running */
    struct workq_jobs ready;
    struct workq_jobs done;         /* work returned, done callback not run */
    struct qmf_dict *strands;       /* key -> struct workq_strand */
    unsigned running, queued, done_pending;
    unsigned long completed;
    bool stopping;
};

static void
workq_strand_free(struct workq_strand *strand)
{
    free(strand->key);
    free(strand);
}

/* Called with the lock held once a strand's current job has returned. */
static void
workq_strand_next(struct workq *wq, struct workq_strand *strand)
{
    struct workq_job *next = STAILQ_FIRST(&strand->waiting);

    if (next != NULL) {
        STAILQ_REMOVE_HEAD(&strand->waiting, link);
        STAILQ_INSERT_TAIL(&wq->ready, next, link);
        return;
    }
    qmf_dict_take(wq->strands, strand->key);
    workq_strand_free(strand);
}

static void *
workq_worker(void *opaque)
{
    struct workq *wq = opaque;
    struct workq_job *job;
    bool wake_loop;
#ifdef SCHED_BATCH
    /* A worker woken by the loop must not take the loop's CPU from it: the
     * loop feeds every worker and answers for all of them, and on a host
     * with few CPUs each such preemption stalls the whole agent.  Batch
     * threads get their share of the CPU all the same, but do not preempt
     * on wakeup.  Needs no privilege; where refused, nothing changes. */
    struct sched_param batch = { .sched_priority = 0 };

    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch);
#endif

    pthread_mutex_lock(&wq->lock);
    for (;;) {
        while (STAILQ_EMPTY(&wq->ready) && !wq->stopping)
            pthread_cond_wait(&wq->work_cv, &wq->lock);
        job = STAILQ_FIRST(&wq->ready);
        if (job == NULL)
            break;      /* stopping, and nothing left that could become ready */
        STAILQ_REMOVE_HEAD(&wq->ready, link);
        wq->queued--;
        wq->running++;
        pthread_mutex_unlock(&wq->lock);

        job->work(job->arg);

        pthread_mutex_lock(&wq->lock);
        wq->running--;
        wq->completed++;
        if (job->strand != NULL)
            workq_strand_next(wq, job->strand);
        wake_loop = job->done != NULL;
        if (wake_loop) {
            STAILQ_INSERT_TAIL(&wq->done, job, link);
            wq->done_pending++;
        } else
            free(job);
        if (wq->running == 0 && wq->queued == 0)
            pthread_cond_broadcast(&wq->idle_cv);
        if (wake_loop) {
            /* Outside our lock: event_active takes the base's. */
            pthread_mutex_unlock(&wq->lock);
            event_active(wq->done_ev, EV_READ, 0);
            pthread_mutex_lock(&wq->lock);
        }
    }
    pthread_mutex_unlock(&wq->lock);
    return NULL;
}

/* Runs the done callbacks pending now, in completion order. */
static void
workq_run_done(struct workq *wq)
{
    struct workq_jobs batch = STAILQ_HEAD_INITIALIZER(batch);
    struct workq_job *job;

    pthread_mutex_lock(&wq->lock);
    STAILQ_CONCAT(&batch, &wq->done);
    wq->done_pending = 0;
    pthread_mutex_unlock(&wq->lock);

    while ((job = STAILQ_FIRST(&batch)) != NULL) {
        STAILQ_REMOVE_HEAD(&batch, link);
        job->done(job->arg);
        free(job);
    }
}

static void
workq_done_cb(evutil_socket_t fd, short what, void *opaque)
{
    workq_run_done(opaque);
}

/* Stops the threads started so far and waits for them. */
static void
workq_stop_threads(struct workq *wq, unsigned started)
{
    unsigned i;

    pthread_mutex_lock(&wq->lock);
    wq->stopping = true;
    pthread_cond_broadcast(&wq->work_cv);
    pthread_mutex_unlock(&wq->lock);
    for (i = 0; i < started; i++)
        pthread_join(wq->threads[i], NULL);
}

static void
workq_destroy(struct workq *wq)
{
    if (wq->done_ev != NULL)
        event_free(wq->done_ev);
    qmf_dict_free(wq->strands);
    pthread_cond_destroy(&wq->idle_cv);
    pthread_cond_destroy(&wq->work_cv);
    pthread_mutex_destroy(&wq->lock);
    free(wq->threads);
    free(wq);
}

struct workq *
workq_new(struct event_base *base, unsigned nthreads, qmf_error *err)
{
    struct workq *wq;
    pthread_condattr_t attr;
    sigset_t all, saved;
    unsigned started;
    int rc = 0;

    if (base == NULL || nthreads == 0 || nthreads > WORKQ_MAX_THREADS) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "workq: %u threads requested (expected 1..%d and an event base)",
                      nthreads, WORKQ_MAX_THREADS);
        return NULL;
    }
    wq = qmf_xcalloc(1, sizeof(*wq));
    wq->base = base;
    wq->nthreads = nthreads;
    wq->threads = qmf_xcalloc(nthreads, sizeof(*wq->threads));
    STAILQ_INIT(&wq->ready);
    STAILQ_INIT(&wq->done);
    pthread_mutex_init(&wq->lock, NULL);
    pthread_cond_init(&wq->work_cv, NULL);
    /* Drain deadlines must not move with the wall clock. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&wq->idle_cv, &attr);
    pthread_condattr_destroy(&attr);

    wq->strands = qmf_dict_new(NULL);
    wq->done_ev = event_new(base, -1, 0, workq_done_cb, wq);
    if (wq->done_ev == NULL) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "workq: cannot allocate the done event");
        workq_destroy(wq);
        return NULL;
    }

    /* Signals belong to the loop thread (libevent signal events). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    for (started = 0; started < nthreads; started++) {
        rc = pthread_create(&wq->threads[started], NULL, workq_worker, wq);
        if (rc != 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc != 0) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "workq: cannot start thread %u of %u: %s",
                      started + 1, nthreads, strerror(rc));
        workq_stop_threads(wq, started);
        workq_destroy(wq);
        return NULL;
    }
    return wq;
}

int
workq_submit(struct workq *wq, const char *key, workq_fn work,
             workq_done_fn done, void *arg)
{
    struct workq_strand *strand = NULL;
    struct workq_job *job;

    if (wq == NULL || work == NULL)
        return -1;
    job = qmf_xmalloc(sizeof(*job));
    *job = (struct workq_job){ .work = work, .done = done, .arg = arg };

    pthread_mutex_lock(&wq->lock);
    if (wq->stopping)
        goto refuse;
    if (key != NULL) {
        strand = qmf_dict_get(wq->strands, key);
        if (strand != NULL) {
            job->strand = strand;
            STAILQ_INSERT_TAIL(&strand->waiting, job, link);
            wq->queued++;
            pthread_mutex_unlock(&wq->lock);
            return 0;
        }
        strand = qmf_xcalloc(1, sizeof(*strand));
        strand->key = qmf_xstrdup(key);
        STAILQ_INIT(&strand->waiting);
        qmf_dict_add(wq->strands, strand->key, strand);
        job->strand = strand;
    }
    STAILQ_INSERT_TAIL(&wq->ready, job, link);
    wq->queued++;
    pthread_cond_signal(&wq->work_cv);
    pthread_mutex_unlock(&wq->lock);
    return 0;

refuse:
    pthread_mutex_unlock(&wq->lock);
    free(job);
    return -1;
}

void
workq_get_stats(struct workq *wq, struct workq_stats *st)
{
    pthread_mutex_lock(&wq->lock);
    st->threads = wq->nthreads;
    st->running = wq->running;
    st->queued = wq->queued;
    st->done_pending = wq->done_pending;
    st->completed = wq->completed;
    pthread_mutex_unlock(&wq->lock);
}

static bool
workq_busy(const struct workq *wq)
{
    return wq->queued != 0 || wq->running != 0;
}

int
workq_drain(struct workq *wq, int timeout_ms)
{
    struct timespec deadline;
    bool busy;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    for (;;) {
        pthread_mutex_lock(&wq->lock);
        while (workq_busy(wq) && rc != ETIMEDOUT) {
            if (timeout_ms < 0)
                pthread_cond_wait(&wq->idle_cv, &wq->lock);
            else
                rc = pthread_cond_timedwait(&wq->idle_cv, &wq->lock, &deadline);
        }
        busy = workq_busy(wq);
        pthread_mutex_unlock(&wq->lock);

        workq_run_done(wq);
        if (busy)
            return -1;

        /* The done callbacks may have queued more work. */
        pthread_mutex_lock(&wq->lock);
        busy = workq_busy(wq) || wq->done_pending != 0;
        pthread_mutex_unlock(&wq->lock);
        if (!busy)
            return 0;
    }
}

void
workq_free(struct workq *wq)
{
    if (wq == NULL)
        return;
    workq_stop_threads(wq, wq->nthreads);
    workq_run_done(wq);
    workq_destroy(wq);
}
