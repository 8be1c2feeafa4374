/*
 * The agent's hypervisor connection: opening it off the loop, loading the
 * inventory, and surviving its loss.  While the connection is down the
 * agent keeps serving queries from its last inventory (marked _stale) and
 * refuses methods; it reconnects with jittered exponential backoff, then
 * publishes driverReconnected and a full fresh inventory.
 *
 * A lost connection is closed only once no worker job uses it any more
 * (the last job's end calls back here, through agent.c), so no job ever
 * sees it freed.
 */
#include "agent/agent_impl.h"
#include "agent/clock.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 30000

/* xorshift64*: a per-agent generator, so that a thousand agents that lost
 * one hypervisor daemon do not retry in lockstep. */
static uint64_t
next_random(struct agent *a)
{
    uint64_t x = a->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    a->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void
schedule_retry(struct agent *a)
{
    uint32_t cap, delay;
    struct timeval tv;

    /* Full jitter between the minimum and a cap that doubles per failure. */
    cap = a->driver_backoff_ms ? a->driver_backoff_ms * 2 : RETRY_MIN_MS;
    if (cap > RETRY_MAX_MS)
        cap = RETRY_MAX_MS;
    a->driver_backoff_ms = cap;
    delay = RETRY_MIN_MS + (uint32_t)(next_random(a) % (cap - RETRY_MIN_MS + 1));
    tv.tv_sec = delay / 1000;
    tv.tv_usec = (delay % 1000) * 1000;
    log_info(&a->log, "reconnecting to %s in %u ms", a->cfg.uri, delay);
    event_add(a->driver_retry_ev, &tv);
}

static void connect_driver(struct agent *a);

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
    connect_driver(arg);
}

/* Connected and loaded ----------------------------------------------------- */

static void
inventory_loaded(struct agent *a, bool ok)
{
    bool reconnect = a->driver_was_up;

    if (a->state == AGENT_STOPPING || a->state == AGENT_STOPPED)
        return;
    if (!ok) {
        qmf_error err;

        agent_driver_lost(a, "the inventory could not be loaded");
        qmf_error_set(&err, QMF_ERR_DRIVER_DOWN, "cannot load the inventory from %s",
                      a->cfg.uri);
        agent_report_start(a, &err);
        return;
    }
    a->driver_state = AGENT_DRIVER_UP;
    a->driver_up = true;
    a->driver_was_up = true;
    a->driver_backoff_ms = 0;
    agent_report_start(a, NULL);
    if (reconnect) {
        qmf_value *v = qmf_map();

        log_info(&a->log, "reconnected to %s", a->cfg.uri);
        qmf_map_set(v, "uri", qmf_string(a->cfg.uri));
        if (a->bus_up) {
            agent_publish_event(a, "driverReconnected", v, NULL, NULL);
            agent_push_all(a);
        } else {
            qmf_free(v);
        }
    }
    agent_hypervisor_ready(a);
}

struct open_job {
    struct agent *a;
    struct agent_conf *conf;     /* the URI, which a reload may free */
    struct drv_conn *conn;
    qmf_error err;
};

static void
open_work(void *arg)
{
    struct open_job *job = arg;

    if (drv_open(&job->conn, job->conf->cfg.uri, &agent_driver_events, job->a,
                 &job->err) != 0)
        job->conn = NULL;
}

static void
open_done(void *arg)
{
    struct open_job *job = arg;
    struct agent *a = job->a;

    if (job->conn != NULL && (a->state == AGENT_STOPPING || a->state == AGENT_STOPPED)) {
        /* Stopping: the stop path closes it, off the loop. */
        a->dconn = job->conn;
        a->driver_state = AGENT_DRIVER_UP;
    } else if (job->conn == NULL) {
        log_warnx(&a->log, "cannot connect to %s: %s", a->cfg.uri, job->err.text);
        a->driver_state = AGENT_DRIVER_DOWN;
        agent_report_start(a, &job->err);
        if (a->state != AGENT_STOPPING && a->state != AGENT_STOPPED) {
            schedule_retry(a);
            /* Serve anyway, so that operators see the node and why it is
             * empty instead of not seeing it at all. */
            agent_hypervisor_ready(a);
        }
    } else {
        a->dconn = job->conn;
        a->driver_state = AGENT_DRIVER_LOADING;
        log_info(&a->log, "connected to %s", a->cfg.uri);
        agent_load_inventory(a, NULL, true, inventory_loaded);
    }
    agent_conf_unref(job->conf);
    free(job);
    jobs_end(&a->jobs);
}

static void
connect_driver(struct agent *a)
{
    struct open_job *job;

    if (a->driver_state != AGENT_DRIVER_DOWN)
        return;
    job = qmf_xcalloc(1, sizeof(*job));
    job->a = a;
    job->conf = agent_conf_ref(a->conf);
    a->driver_state = AGENT_DRIVER_CONNECTING;
    if (jobs_submit(&a->jobs, "driver", open_work, open_done, job) != 0) {
        agent_conf_unref(job->conf);
        free(job);
        a->driver_state = AGENT_DRIVER_DOWN;
    }
}

void
agent_hypervisor_start(struct agent *a)
{
    a->rng = (uint64_t)clock_wall_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)a;
    if (a->rng == 0)
        a->rng = 1;
    a->driver_retry_ev = evtimer_new(a->env.base, retry_cb, a);
    connect_driver(a);
}

/* Losing it, closing it ------------------------------------------------------ */

struct close_job {
    struct agent *a;
    struct drv_conn *conn;
    void (*done)(struct agent *a);   /* NULL: reconnect afterwards */
};

static void
close_work(void *arg)
{
    struct close_job *job = arg;

    drv_close(job->conn);
}

static void
close_done(void *arg)
{
    struct close_job *job = arg;
    struct agent *a = job->a;
    void (*done)(struct agent *a) = job->done;

    free(job);
    a->driver_state = AGENT_DRIVER_DOWN;
    jobs_end(&a->jobs);
    if (done != NULL)
        done(a);
    else if (a->state != AGENT_STOPPING && a->state != AGENT_STOPPED)
        schedule_retry(a);
}

/* Closes the connection on a worker; the caller made sure no job uses it. */
static void
close_conn(struct agent *a, void (*done)(struct agent *a))
{
    struct close_job *job = qmf_xcalloc(1, sizeof(*job));

    job->a = a;
    job->conn = a->dconn;
    job->done = done;
    a->dconn = NULL;
    a->driver_up = false;
    a->driver_state = AGENT_DRIVER_CLOSING;
    if (jobs_submit(&a->jobs, "driver", close_work, close_done, job) != 0) {
        /* The pool refuses work only at teardown: close inline. */
        drv_close(job->conn);
        free(job);
        a->driver_state = AGENT_DRIVER_DOWN;
        if (done)
            done(a);
    }
}

void
agent_driver_lost(struct agent *a, const char *reason)
{
    qmf_value *v;

    if (a->driver_state != AGENT_DRIVER_UP && a->driver_state != AGENT_DRIVER_LOADING)
        return;
    log_warnx(&a->log, "lost %s: %s", a->cfg.uri, reason);
    a->driver_up = false;
    a->driver_state = AGENT_DRIVER_LOST;
    if (a->bus_up) {
        v = qmf_map();
        qmf_map_set(v, "uri", qmf_string(a->cfg.uri));
        qmf_map_set(v, "reason", qmf_string(reason));
        agent_publish_event(a, "driverDisconnected", v, NULL, NULL);
    }
    agent_hypervisor_idle(a);
}

void
agent_hypervisor_idle(struct agent *a)
{
    if (a->jobs.running == 0 && a->driver_state == AGENT_DRIVER_LOST &&
        a->state != AGENT_STOPPING)
        close_conn(a, NULL);
}

void
agent_hypervisor_close(struct agent *a, void (*done)(struct agent *a))
{
    if (a->driver_retry_ev)
        event_del(a->driver_retry_ev);
    if (a->dconn == NULL) {
        a->driver_state = AGENT_DRIVER_DOWN;
        done(a);
        return;
    }
    close_conn(a, done);
}
