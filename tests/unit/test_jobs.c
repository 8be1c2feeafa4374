/*
 * Tests of an agent's worker jobs (agent/jobs.c): the jobs of one object
 * end in the order they were submitted, the owner hears once, after the
 * last one has ended, that none runs any more, and a job the pool refuses
 * is neither run nor counted.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "agent/jobs.h"
#include "core/value.h"
#include "tests/testutil.h"

/* Safety bound on every loop run, far above what any test needs. */
#define SAFETY_SECONDS 60

#define NJOBS 5

struct fixture {
    struct event_base *base;
    struct workq *wq;
    struct log_ctx log;
    struct jobs jobs;
    unsigned dones;                 /* done callbacks that ran */
    int done_order[NJOBS];          /* the seq of each, in the order they ran */
    unsigned idle_calls;
    unsigned dones_at_idle;         /* dones when idle was called */
};

struct job {
    struct fixture *fx;
    int seq;
};

static void
on_idle(void *opaque)
{
    struct fixture *fx = opaque;

    fx->idle_calls++;
    fx->dones_at_idle = fx->dones;
    event_base_loopbreak(fx->base);
}

static void
fixture_init(struct fixture *fx)
{
    qmf_error err;

    memset(fx, 0, sizeof(*fx));
    cr_assert_eq(evthread_use_pthreads(), 0);
    fx->base = event_base_new();
    cr_assert_not_null(fx->base);
    fx->wq = workq_new(fx->base, 2, &err);
    cr_assert_not_null(fx->wq, "%s", err.text);
    log_init(&fx->log, "test_jobs", LOG_LEVEL_WARN, false);
    jobs_init(&fx->jobs, fx->wq, "virtbus:agent:node1", &fx->log, on_idle, fx);
}

static void
fixture_fini(struct fixture *fx)
{
    workq_free(fx->wq);
    event_base_free(fx->base);
}

static void
run_loop(struct fixture *fx)
{
    struct timeval bound = { SAFETY_SECONDS, 0 };

    event_base_loopexit(fx->base, &bound);
    event_base_dispatch(fx->base);
}

static void
work_nothing(void *arg)
{
}

static void
done_record(void *arg)
{
    struct job *j = arg;
    struct fixture *fx = j->fx;

    fx->done_order[fx->dones++] = j->seq;
    free(j);
    jobs_end(&fx->jobs);
}

Test(jobs, idle_once_after_the_last_job_in_order)
{
    struct fixture fx;
    int i;

    fixture_init(&fx);
    for (i = 0; i < NJOBS; i++) {
        struct job *j = qmf_xcalloc(1, sizeof(*j));

        j->fx = &fx;
        j->seq = i;
        cr_assert_eq(jobs_submit(&fx.jobs, "domain:1", work_nothing, done_record, j), 0);
    }
    cr_assert_eq(fx.jobs.running, NJOBS);
    run_loop(&fx);
    cr_assert_eq(fx.dones, NJOBS);
    cr_assert_eq(fx.idle_calls, 1, "idle called %u times", fx.idle_calls);
    cr_assert_eq(fx.dones_at_idle, NJOBS, "idle came after %u of %d jobs",
                 fx.dones_at_idle, NJOBS);
    cr_assert_eq(fx.jobs.running, 0);
    for (i = 0; i < NJOBS; i++)
        cr_assert_eq(fx.done_order[i], i, "job %d ended in place %d", fx.done_order[i], i);
    fixture_fini(&fx);
}

Test(jobs, refused_job_is_not_counted)
{
    struct fixture fx;
    struct test_capture capture;
    char *logged;
    int rc;

    fixture_init(&fx);
    /* The pool refuses a job without work. */
    test_capture_begin(&capture, STDERR_FILENO);
    rc = jobs_submit(&fx.jobs, "domain:2", NULL, done_record, NULL);
    logged = test_capture_end(&capture);
    cr_assert_eq(rc, -1);
    cr_assert_eq(fx.jobs.running, 0);
    cr_assert_eq(fx.idle_calls, 0);
    cr_assert_not_null(strstr(logged, "refused a job for domain:2"), "logged: %s", logged);
    free(logged);
    fixture_fini(&fx);
}
