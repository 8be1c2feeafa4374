/*
 * Tests of the worker pool: every job runs, done callbacks come back on the
 * loop thread, same-key jobs are serialised in order, different keys run in
 * parallel, drain and free wait for the work.  Every wait is bounded; no
 * assertion depends on how long anything took.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "agent/workq.h"
#include "core/value.h"

/* Safety bound on every loop run and wait, far above what any test needs. */
#define SAFETY_SECONDS 60

#define NKEYS 16

struct fixture {
    struct event_base *base;
    struct workq *wq;
    pthread_t loop_thread;

    pthread_mutex_t lock;
    pthread_cond_t cv;
    unsigned work_runs;         /* work functions that ran */
    unsigned done_runs;         /* done callbacks that ran */
    unsigned done_wanted;       /* break the loop at this many */
    unsigned done_off_loop;     /* done callbacks on another thread */
    unsigned done_before_work;  /* done callbacks whose work had not run */

    /* ordering */
    unsigned inflight[NKEYS];
    unsigned max_inflight;
    int last_started[NKEYS];
    int last_done[NKEYS];
    unsigned order_violations;

    /* gate: jobs wait until it opens */
    bool gate_open;
    unsigned at_gate;

    /* rendezvous of two jobs */
    unsigned present;           /* jobs inside work_rendezvous now */
    bool together;              /* two were inside at the same time */
    unsigned met;               /* jobs that saw `together` */
    int rendezvous_ms;
};

struct job {
    struct fixture *fx;
    int key;                    /* index into the per-key arrays, or -1 */
    int seq;
    bool worked;
};

static void
deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void
fixture_init(struct fixture *fx, unsigned nthreads)
{
    qmf_error err;
    int i;

    memset(fx, 0, sizeof(*fx));
    cr_assert_eq(evthread_use_pthreads(), 0);
    fx->base = event_base_new();
    cr_assert_not_null(fx->base);
    fx->loop_thread = pthread_self();
    fx->wq = workq_new(fx->base, nthreads, &err);
    cr_assert_not_null(fx->wq, "%s", err.text);
    pthread_mutex_init(&fx->lock, NULL);
    pthread_cond_init(&fx->cv, NULL);
    for (i = 0; i < NKEYS; i++) {
        fx->last_started[i] = -1;
        fx->last_done[i] = -1;
    }
}

static void
fixture_fini(struct fixture *fx)
{
    workq_free(fx->wq);
    event_base_free(fx->base);
    pthread_cond_destroy(&fx->cv);
    pthread_mutex_destroy(&fx->lock);
}

/* Runs the loop until done_wanted done callbacks ran (or the safety bound). */
static void
run_loop_until_done(struct fixture *fx, unsigned wanted)
{
    struct timeval bound = { SAFETY_SECONDS, 0 };

    fx->done_wanted = wanted;
    if (fx->done_runs >= wanted)
        return;
    event_base_loopexit(fx->base, &bound);
    event_base_dispatch(fx->base);
}

static struct job *
job_new(struct fixture *fx, int key, int seq)
{
    struct job *j = qmf_xcalloc(1, sizeof(*j));

    j->fx = fx;
    j->key = key;
    j->seq = seq;
    return j;
}

static void
key_name(char *buf, size_t size, int key)
{
    snprintf(buf, size, "agent%d/object%d", key % 3, key);
}

/* Checks in-flight count and order of a keyed job; yields to invite overlap. */
static void
work_ordered(void *arg)
{
    struct job *j = arg;
    struct fixture *fx = j->fx;

    pthread_mutex_lock(&fx->lock);
    fx->work_runs++;
    if (j->key >= 0) {
        fx->inflight[j->key]++;
        if (fx->inflight[j->key] > fx->max_inflight)
            fx->max_inflight = fx->inflight[j->key];
        if (j->seq <= fx->last_started[j->key])
            fx->order_violations++;
        fx->last_started[j->key] = j->seq;
    }
    pthread_mutex_unlock(&fx->lock);

    sched_yield();

    pthread_mutex_lock(&fx->lock);
    if (j->key >= 0)
        fx->inflight[j->key]--;
    j->worked = true;
    pthread_mutex_unlock(&fx->lock);
}

static void
done_count(void *arg)
{
    struct job *j = arg;
    struct fixture *fx = j->fx;
    bool worked;

    pthread_mutex_lock(&fx->lock);
    worked = j->worked;
    pthread_mutex_unlock(&fx->lock);
    if (!pthread_equal(pthread_self(), fx->loop_thread))
        fx->done_off_loop++;
    if (!worked)
        fx->done_before_work++;
    if (j->key >= 0) {
        if (j->seq <= fx->last_done[j->key])
            fx->order_violations++;
        fx->last_done[j->key] = j->seq;
    }
    fx->done_runs++;
    free(j);
    if (fx->done_wanted != 0 && fx->done_runs == fx->done_wanted)
        event_base_loopbreak(fx->base);
}

Test(workq, all_jobs_run_and_done_on_loop_thread)
{
    struct fixture fx;
    struct workq_stats st;
    char key[32];
    int i;

    fixture_init(&fx, 4);
    for (i = 0; i < 200; i++) {
        key_name(key, sizeof(key), i % NKEYS);
        cr_assert_eq(workq_submit(fx.wq, i % 2 ? key : NULL, work_ordered, done_count,
                                  job_new(&fx, i % 2 ? i % NKEYS : -1, i)), 0);
    }
    run_loop_until_done(&fx, 200);
    cr_assert_eq(fx.done_runs, 200);
    cr_assert_eq(fx.work_runs, 200);
    cr_assert_eq(fx.done_off_loop, 0);
    cr_assert_eq(fx.done_before_work, 0);
    workq_get_stats(fx.wq, &st);
    cr_assert_eq(st.threads, 4);
    cr_assert_eq(st.completed, 200);
    cr_assert_eq(st.queued, 0);
    cr_assert_eq(st.running, 0);
    cr_assert_eq(st.done_pending, 0);
    fixture_fini(&fx);
}

static void
work_free_arg(void *arg)
{
    struct job *j = arg;
    struct fixture *fx = j->fx;

    pthread_mutex_lock(&fx->lock);
    fx->work_runs++;
    pthread_mutex_unlock(&fx->lock);
    free(j);
}

Test(workq, jobs_without_done_callback)
{
    struct fixture fx;
    int i;

    fixture_init(&fx, 3);
    for (i = 0; i < 50; i++)
        cr_assert_eq(workq_submit(fx.wq, i % 2 ? "k" : NULL, work_free_arg, NULL,
                                  job_new(&fx, -1, i)), 0);
    cr_assert_eq(workq_drain(fx.wq, SAFETY_SECONDS * 1000), 0);
    cr_assert_eq(fx.work_runs, 50);
    fixture_fini(&fx);
}

Test(workq, same_key_never_overlaps_and_keeps_order)
{
    struct fixture fx;
    char key[32];
    int i;

    fixture_init(&fx, 4);
    for (i = 0; i < 2000; i++) {
        int k = (i * 7) % NKEYS;

        key_name(key, sizeof(key), k);
        cr_assert_eq(workq_submit(fx.wq, key, work_ordered, done_count, job_new(&fx, k, i)), 0);
    }
    run_loop_until_done(&fx, 2000);
    cr_assert_eq(fx.done_runs, 2000);
    cr_assert_eq(fx.max_inflight, 1, "same-key jobs overlapped");
    cr_assert_eq(fx.order_violations, 0);
    cr_assert_eq(fx.done_off_loop, 0);
    cr_assert_eq(fx.done_before_work, 0);
    fixture_fini(&fx);
}

/* `together` can only be set if two jobs are inside at the same time. */
static void
work_rendezvous(void *arg)
{
    struct job *j = arg;
    struct fixture *fx = j->fx;
    struct timespec deadline;
    int rc = 0;

    deadline_in(&deadline, fx->rendezvous_ms);
    pthread_mutex_lock(&fx->lock);
    fx->work_runs++;
    if (++fx->present >= 2)
        fx->together = true;
    pthread_cond_broadcast(&fx->cv);
    while (!fx->together && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&fx->cv, &fx->lock, &deadline);
    if (fx->together)
        fx->met++;
    /* Leave, so that a later job of the same key must arrive on its own. */
    fx->present--;
    j->worked = true;
    pthread_mutex_unlock(&fx->lock);
}

Test(workq, different_keys_run_in_parallel)
{
    struct fixture fx;

    fixture_init(&fx, 2);
    fx.rendezvous_ms = SAFETY_SECONDS * 1000;
    cr_assert_eq(workq_submit(fx.wq, "a/1", work_rendezvous, done_count, job_new(&fx, 0, 0)), 0);
    cr_assert_eq(workq_submit(fx.wq, "b/1", work_rendezvous, done_count, job_new(&fx, 1, 1)), 0);
    run_loop_until_done(&fx, 2);
    cr_assert_eq(fx.done_runs, 2);
    cr_assert_eq(fx.met, 2, "jobs with different keys did not run concurrently");
    fixture_fini(&fx);
}

Test(workq, keyless_jobs_run_in_parallel)
{
    struct fixture fx;

    fixture_init(&fx, 2);
    fx.rendezvous_ms = SAFETY_SECONDS * 1000;
    cr_assert_eq(workq_submit(fx.wq, NULL, work_rendezvous, done_count, job_new(&fx, -1, 0)), 0);
    cr_assert_eq(workq_submit(fx.wq, NULL, work_rendezvous, done_count, job_new(&fx, -1, 1)), 0);
    run_loop_until_done(&fx, 2);
    cr_assert_eq(fx.met, 2, "jobs without key did not run concurrently");
    fixture_fini(&fx);
}

Test(workq, same_key_jobs_never_meet)
{
    struct fixture fx;

    /* Threads are free, so only the strand can keep them apart; the short
     * bound only limits how long each lonely job waits for its partner. */
    fixture_init(&fx, 4);
    fx.rendezvous_ms = 200;
    cr_assert_eq(workq_submit(fx.wq, "a/1", work_rendezvous, done_count, job_new(&fx, 0, 0)), 0);
    cr_assert_eq(workq_submit(fx.wq, "a/1", work_rendezvous, done_count, job_new(&fx, 0, 1)), 0);
    run_loop_until_done(&fx, 2);
    cr_assert_eq(fx.done_runs, 2);
    cr_assert_eq(fx.met, 0, "same-key jobs ran concurrently");
    cr_assert_eq(fx.order_violations, 0);
    fixture_fini(&fx);
}

/* Waits at the gate until the test opens it. */
static void
work_gated(void *arg)
{
    struct job *j = arg;
    struct fixture *fx = j->fx;
    struct timespec deadline;
    int rc = 0;

    deadline_in(&deadline, SAFETY_SECONDS * 1000);
    pthread_mutex_lock(&fx->lock);
    fx->work_runs++;
    fx->at_gate++;
    pthread_cond_broadcast(&fx->cv);
    while (!fx->gate_open && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&fx->cv, &fx->lock, &deadline);
    j->worked = true;
    pthread_mutex_unlock(&fx->lock);
}

static void
wait_at_gate(struct fixture *fx, unsigned n)
{
    struct timespec deadline;
    int rc = 0;

    deadline_in(&deadline, SAFETY_SECONDS * 1000);
    pthread_mutex_lock(&fx->lock);
    while (fx->at_gate < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&fx->cv, &fx->lock, &deadline);
    pthread_mutex_unlock(&fx->lock);
    cr_assert_geq(fx->at_gate, n);
}

static void
open_gate(struct fixture *fx)
{
    pthread_mutex_lock(&fx->lock);
    fx->gate_open = true;
    pthread_cond_broadcast(&fx->cv);
    pthread_mutex_unlock(&fx->lock);
}

Test(workq, stats_and_drain)
{
    struct fixture fx;
    struct workq_stats st;
    int i;

    fixture_init(&fx, 2);
    /* One strand of three, plus one keyless job: two run, two wait. */
    for (i = 0; i < 3; i++)
        cr_assert_eq(workq_submit(fx.wq, "s", work_gated, done_count, job_new(&fx, 0, i)), 0);
    cr_assert_eq(workq_submit(fx.wq, NULL, work_gated, done_count, job_new(&fx, -1, 3)), 0);
    wait_at_gate(&fx, 2);

    workq_get_stats(fx.wq, &st);
    cr_assert_eq(st.threads, 2);
    cr_assert_eq(st.running, 2);
    cr_assert_eq(st.queued, 2);
    cr_assert_eq(st.completed, 0);
    cr_assert_eq(st.done_pending, 0);

    /* Nothing can finish while the gate is shut, so this must time out. */
    cr_assert_eq(workq_drain(fx.wq, 50), -1);
    cr_assert_eq(fx.done_runs, 0);

    open_gate(&fx);
    cr_assert_eq(workq_drain(fx.wq, -1), 0);
    /* drain ran the done callbacks itself: the loop never ran. */
    cr_assert_eq(fx.done_runs, 4);
    cr_assert_eq(fx.done_off_loop, 0);
    cr_assert_eq(fx.order_violations, 0);
    workq_get_stats(fx.wq, &st);
    cr_assert_eq(st.running, 0);
    cr_assert_eq(st.queued, 0);
    cr_assert_eq(st.done_pending, 0);
    cr_assert_eq(st.completed, 4);
    /* Idle already: returns at once, even with no time at all. */
    cr_assert_eq(workq_drain(fx.wq, 0), 0);
    fixture_fini(&fx);
}

/* A done callback that queues a follow-up job, as a reply chain would. */
static void
done_resubmit(void *arg)
{
    struct job *j = arg;

    if (j->seq < 5) {
        cr_assert_eq(workq_submit(j->fx->wq, "chain", work_ordered, done_resubmit,
                                  job_new(j->fx, 0, j->seq + 1)), 0);
    }
    done_count(arg);
}

Test(workq, drain_waits_for_work_queued_by_done_callbacks)
{
    struct fixture fx;

    fixture_init(&fx, 2);
    cr_assert_eq(workq_submit(fx.wq, "chain", work_ordered, done_resubmit, job_new(&fx, 0, 0)), 0);
    cr_assert_eq(workq_drain(fx.wq, SAFETY_SECONDS * 1000), 0);
    cr_assert_eq(fx.done_runs, 6);
    cr_assert_eq(fx.work_runs, 6);
    fixture_fini(&fx);
}

struct free_probe {
    struct job job;
    int submit_rc;
};

static void
work_nothing(void *arg)
{
}

/* Runs inside workq_free: the pool no longer takes jobs. */
static void
done_try_submit(void *arg)
{
    struct free_probe *p = arg;

    p->submit_rc = workq_submit(p->job.fx->wq, NULL, work_nothing, NULL, NULL);
    p->job.fx->done_runs++;
}

Test(workq, free_runs_queued_jobs_and_their_done_callbacks)
{
    struct fixture fx;
    struct free_probe probe = { .submit_rc = 0 };
    char key[32];
    int i;

    fixture_init(&fx, 2);
    /* Hold both threads so that everything after is still queued at free. */
    cr_assert_eq(workq_submit(fx.wq, "g/1", work_gated, done_count, job_new(&fx, -1, 0)), 0);
    cr_assert_eq(workq_submit(fx.wq, "g/2", work_gated, done_count, job_new(&fx, -1, 1)), 0);
    wait_at_gate(&fx, 2);
    for (i = 0; i < 300; i++) {
        key_name(key, sizeof(key), i % NKEYS);
        cr_assert_eq(workq_submit(fx.wq, i % 3 ? key : NULL, work_ordered, done_count,
                                  job_new(&fx, i % 3 ? i % NKEYS : -1, i)), 0);
    }
    probe.job.fx = &fx;
    cr_assert_eq(workq_submit(fx.wq, "last", work_nothing, done_try_submit, &probe), 0);
    open_gate(&fx);

    workq_free(fx.wq);
    cr_assert_eq(fx.work_runs, 302);
    cr_assert_eq(fx.done_runs, 303);
    cr_assert_eq(fx.done_off_loop, 0);
    cr_assert_eq(fx.done_before_work, 0);
    cr_assert_eq(fx.order_violations, 0);
    cr_assert_eq(probe.submit_rc, -1);

    event_base_free(fx.base);
    pthread_cond_destroy(&fx.cv);
    pthread_mutex_destroy(&fx.lock);
}

Test(workq, bad_arguments)
{
    struct event_base *base;
    struct workq *wq;
    qmf_error err;

    cr_assert_eq(evthread_use_pthreads(), 0);
    base = event_base_new();
    cr_assert_null(workq_new(base, 0, &err));
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_null(workq_new(base, WORKQ_MAX_THREADS + 1, &err));
    cr_assert_null(workq_new(NULL, 1, &err));
    wq = workq_new(base, 1, &err);
    cr_assert_not_null(wq, "%s", err.text);
    cr_assert_eq(workq_submit(wq, "k", NULL, NULL, NULL), -1);
    cr_assert_eq(workq_submit(NULL, "k", work_nothing, NULL, NULL), -1);
    workq_free(wq);
    workq_free(NULL);
    event_base_free(base);
}

/* Many pools on one loop, as many agents in one process would have. */
Test(workq, two_pools_share_one_loop)
{
    struct fixture fx;
    struct workq *other;
    qmf_error err;
    int i;

    fixture_init(&fx, 2);
    other = workq_new(fx.base, 2, &err);
    cr_assert_not_null(other, "%s", err.text);
    for (i = 0; i < 100; i++) {
        cr_assert_eq(workq_submit(i % 2 ? other : fx.wq, "same-key", work_ordered, done_count,
                                  job_new(&fx, -1, i)), 0);
    }
    run_loop_until_done(&fx, 100);
    cr_assert_eq(fx.done_runs, 100);
    cr_assert_eq(fx.done_off_loop, 0);
    workq_free(other);
    fixture_fini(&fx);
}
