/*
 * The worker pool: a bounded set of threads that run blocking work
 * (hypervisor calls) off the event loop, with per-key ordering, and hand
 * each result back to the loop thread.
 *
 * Jobs that share a key (e.g. "<agent>/<object>") form a strand: they run one
 * at a time, in submission order, and their done callbacks run in that
 * order too.  Jobs with different keys, or no key, run in parallel up to the
 * number of threads.  One workq serves every agent of the process.
 *
 * Threading: workq_new, workq_drain and workq_free belong to the loop
 * thread (or a thread on which the loop is not running).  workq_submit may
 * be called from any thread, including from work functions.  The process
 * must call evthread_use_pthreads() before creating the event base, because
 * workers wake the loop with event_active().
 *
 * Costs: submit and dispatch are O(1) (a hash lookup on the key and list
 * operations); no thread ever busy-waits.
 */
#ifndef AGENT_WORKQ_H
#define AGENT_WORKQ_H

#include <event2/event.h>

#include "core/error.h"

/* workq_new refuses more threads than this. */
#define WORKQ_MAX_THREADS 1024

struct workq;
typedef void (*workq_fn)(void *arg);       /* runs on a worker thread */
typedef void (*workq_done_fn)(void *arg);  /* runs afterwards on the event loop thread */

struct workq *workq_new(struct event_base *base, unsigned nthreads, qmf_error *err);

/*
 * Queues work(arg), then done(arg) on the loop thread; done may be NULL.
 * Jobs with the same non-NULL key run one at a time, in submission order;
 * jobs with different keys (or NULL) run in parallel up to nthreads.  The
 * key is copied.  Returns -1 (and runs nothing) once workq_free has begun,
 * if work is NULL, or if the strand table cannot grow; arg then still
 * belongs to the caller.
 */
int workq_submit(struct workq *wq, const char *key, workq_fn work,
                 workq_done_fn done, void *arg);

/*
 * Stops accepting jobs, waits for running AND queued jobs to finish, joins
 * the threads, runs the done callbacks still pending on the calling thread,
 * and frees.  Not to be called from a work or done callback.
 */
void workq_free(struct workq *wq);

/*
 * Counters for logs, tests and benchmarks.  `completed` counts jobs whose
 * work has returned; `done_pending` those of them whose done callback has
 * not run yet.
 */
struct workq_stats { unsigned threads, running, queued, done_pending; unsigned long completed; };
void workq_get_stats(struct workq *wq, struct workq_stats *st);

/*
 * Waits (blocking, from the loop thread) until no job is queued or running
 * or the timeout passes (timeout_ms < 0: no limit); runs pending done
 * callbacks, and waits again for any job those submit.  Returns 0 if idle,
 * -1 on timeout.  Used at SIGTERM.
 */
int workq_drain(struct workq *wq, int timeout_ms);

#endif
