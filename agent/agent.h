/*
 * An agent instance: one node's presence on the bus.  It owns a broker
 * connection, a hypervisor connection and the node's inventory, and shares
 * the event loop, the worker threads and the schema with every other agent
 * of the process (virtbusd runs one; tests and the fleet simulator run many).
 * Every function here belongs to the thread that runs the event loop.
 */
#ifndef AGENT_H
#define AGENT_H

#include <stdbool.h>

#include <event2/event.h>

#include "agent/config.h"
#include "agent/workq.h"
#include "bus/bus.h"
#include "core/error.h"
#include "schema/schema.h"
#include "trust/verified.h"

struct agent;

/* What the hosting process provides and shares among its agents. */
struct agent_env {
    struct event_base *base;
    struct workq *wq;
    const struct schema *schema;
    bool use_syslog;          /* log to syslog instead of stderr */
    /*
     * Called on the loop thread when a method request for an object has
     * arrived, before it is checked or journaled; NULL in production.  The
     * fault tests' agent (tests/harness/failpoints.c) crashes there, as a
     * poison command would.
     */
    void (*dispatching)(const char *class_name, const char *method, void *opaque);
    void *dispatching_opaque;
    /*
     * Called on the loop thread once an agent has stopped for good on its
     * own, because another instance serves its node (agent_failure() says
     * which); the agent has logged nothing, the host reports it.  NULL: the
     * agent logs it.  Either way the host frees the agent later, as after
     * agent_stop(), never from this callback.
     */
    void (*failed)(struct agent *a, void *opaque);
    void *failed_opaque;
    /*
     * Request signatures verified by any agent of this loop, so that a
     * broadcast that reaches them all is verified once
     * (trust/verified.h), or NULL: each agent verifies on its own, as on
     * hosts of their own.  The host owns it; it must outlive the agents.
     */
    struct trust_verified *verified;
    /*
     * The background threads of the agents' broker connections (connect
     * attempts, goodbyes; bus/bus.h), so that the process can wait for
     * them before it exits, or NULL.  The host makes one for all its
     * agents and frees it after them, with a bounded wait.
     */
    struct bus_threads *bus_threads;
    /*
     * Called once, on the loop thread, when the agent's first start has an
     * answer: why is NULL once the hypervisor and the broker are both up
     * (agent_is_ready), or the failure of the first attempt to reach
     * either (a refused login, a port nobody listens on, a bad URI).  The
     * agent keeps retrying after a failure, as always; the host decides
     * whether to wait or to stop it (virtbusd stops when someone waits for
     * its start).  The callback must not free or stop the agent itself:
     * it defers that to the loop.  NULL: nobody asks.
     */
    void (*started)(struct agent *a, const qmf_error *why, void *opaque);
    void *started_opaque;
};

/* The configuration is copied; env must outlive the agent. */
struct agent *agent_new(const struct agent_env *env,
                        const struct agent_config *cfg, qmf_error *err);

/*
 * Connects to the hypervisor (on a worker thread), loads the inventory,
 * then connects to the broker and starts serving.  Failures to reach either
 * are retried with backoff and logged; they are not errors of this call.
 */
int agent_start(struct agent *a);

/* Worker jobs (commands, and the agent's own journal and libvirt work)
 * not finished yet. */
unsigned agent_jobs_running(const struct agent *a);

/*
 * Graceful stop: stops taking commands, lets running ones finish and
 * reply, publishes agentStopping, closes the connections, then calls done
 * on the loop thread.  Guests are never touched.
 */
void agent_stop(struct agent *a, void (*done)(struct agent *a, void *opaque),
                void *opaque);

/* Frees a stopped (or never started) agent. */
void agent_free(struct agent *a);

/* Applies a reloaded configuration (copied): log level, labels and
 * intervals.  The node name, broker and URI cannot change without a
 * restart.  Worker jobs already queued or running finish with the
 * configuration they were submitted under. */
int agent_reconfigure(struct agent *a, const struct agent_config *cfg,
                      qmf_error *err);

const char *agent_name(const struct agent *a);
/* Why the agent stopped on its own (code QMF_ERR_LOCKED: its node is
 * served by another instance, which the text names), or NULL. */
const qmf_error *agent_failure(const struct agent *a);
/* This agent's instance id: random per agent, in every heartbeat. */
const char *agent_instance_id(const struct agent *a);
/* True once the inventory is loaded and the command queue is consumed. */
bool agent_is_ready(const struct agent *a);

#endif
