/*
 * The agent's lifecycle: start (hypervisor first, then the broker), the
 * broker connection, reloads, and graceful stop.  Requests are handled in
 * dispatch.c, the hypervisor connection in hypervisor.c; worker jobs are
 * counted in jobs.c, which tells this file when the last one has ended.
 */
#include "agent/agent_impl.h"
#include "agent/clock.h"
#include "agent/journal.h"
#include "core/names.h"

#include <stdlib.h>
#include <string.h>

#include "virtbus_version.h"

static void agent_maybe_finish_stop(struct agent *a);

/* The last worker job has ended: a stop may go on, or a lost hypervisor
 * connection be closed, now that no job can see either. */
static void
agent_jobs_idle(void *opaque)
{
    struct agent *a = opaque;

    if (a->state == AGENT_STOPPING)
        agent_maybe_finish_stop(a);
    else
        agent_hypervisor_idle(a);
}

/* Makes c the configuration in force (taking its reference). */
static void
agent_set_conf(struct agent *a, struct agent_conf *c)
{
    agent_conf_unref(a->conf);
    a->conf = c;
    a->cfg = c->cfg;
}

const char *
agent_name(const struct agent *a)
{
    return a->name;
}

/*
 * Resolves allowed_paths into the set new commands check against (commands
 * already running keep theirs).  At start and on reload only: a few
 * realpath calls, like reading the configuration file itself.
 */
static void
agent_use_allowed_paths(struct agent *a)
{
    struct hostpath_set *set = hostpath_set_new(a->cfg.allowed_paths, a->cfg.max_body);
    size_t i;

    for (i = 0; i < qmf_list_len(a->cfg.allowed_paths); i++) {
        const char *given = qmf_as_string(qmf_list_at(a->cfg.allowed_paths, i));
        const char *dir = hostpath_set_dir(set, i);

        if (dir == NULL)
            log_warnx(&a->log, "allowed_paths: %s does not resolve; it allows nothing", given);
        else if (hostpath_dir_shared(dir))
            log_warnx(&a->log, "allowed_paths: %s (%s) may be written by users other than "
                      "root, who could swap a checked path for a symbolic link", given, dir);
        else
            log_debug(&a->log, "allowed_paths: %s (%s)", given, dir);
    }
    if (qmf_list_len(a->cfg.allowed_paths) == 0)
        log_info(&a->log, "allowed_paths is empty: every method argument naming a host "
                 "file is refused");
    hostpath_set_unref(a->paths);
    a->paths = set;
}

bool
agent_is_ready(const struct agent *a)
{
    return a->state == AGENT_RUNNING && a->bus_up && a->driver_up;
}

/*
 * The trust material cfg names (issuer keys, trust directory, revocations,
 * policy, the agent's own key), with what an operator should know logged.
 * Small files, read on the loop thread at start and at SIGHUP, as the
 * configuration file itself is.
 */
static struct agent_guard *
guard_from_config(struct agent *a, const struct agent_config *cfg, qmf_error *err)
{
    size_t n = qmf_list_len(cfg->issuer_keys), i;
    const char **issuers = qmf_xcalloc(n + 1, sizeof(*issuers));
    struct agent_guard_options o = {
        .require_signatures = cfg->require_signatures,
        .issuer_keys = issuers,
        .trust_dir = cfg->trust_dir,
        .revoked = cfg->revoked,
        .policy = cfg->policy,
        .key = cfg->key,
        .credential = cfg->credential,
        .clock_skew = cfg->clock_skew,
        .max_request_ttl = cfg->max_request_ttl,
        .verified = a->env.verified,
    };
    struct agent_guard *g;
    char *notes;
    int rc;

    for (i = 0; i < n; i++)
        issuers[i] = qmf_as_string(qmf_list_at(cfg->issuer_keys, i));
    rc = agent_guard_load(&o, &g, &notes, err);
    free(issuers);
    if (rc != 0)
        return NULL;
    if (notes != NULL)
        log_warnx(&a->log, "trust: %s", notes);
    free(notes);
    return g;
}

struct agent *
agent_new(const struct agent_env *env, const struct agent_config *cfg,
          qmf_error *err)
{
    struct agent *a;
    char *ident;

    if (cfg->node == NULL || cfg->node[0] == '\0') {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the agent needs a node name");
        return NULL;
    }
    a = qmf_xcalloc(1, sizeof(*a));
    a->env = *env;
    agent_set_conf(a, agent_conf_new(cfg));
    ident = qmf_xasprintf("virtbusd[%s]", cfg->node);
    log_init(&a->log, ident, cfg->log_level, env->use_syslog);
    free(ident);

    a->name = qmf_name_agent(cfg->node);
    a->key_name = qmf_name_agent_key(cfg->node);
    a->queue = qmf_name_command_queue(cfg->node);
    a->heartbeat_key = qmf_name_heartbeat_key(cfg->node);
    a->lock_queue = qmf_name_lock_queue(cfg->node);
    jobs_init(&a->jobs, env->wq, a->name, &a->log, agent_jobs_idle, a);
    agent_identity_init(a);

    if ((a->guard = guard_from_config(a, cfg, err)) == NULL) {
        agent_free(a);
        return NULL;
    }
    inv_init(&a->inv, env->schema, a->name);
    agent_use_allowed_paths(a);
    a->state = AGENT_NEW;
    return a;
}

void
agent_free(struct agent *a)
{
    if (a == NULL)
        return;
    agent_heartbeat_stop(a);
    agent_identity_free(a);
    if (a->driver_retry_ev)
        event_free(a->driver_retry_ev);
    if (a->stats_ev)
        event_free(a->stats_ev);
    if (a->push_ev)
        event_free(a->push_ev);
    qmf_free(a->push_pending);
    if (a->bus)
        bus_close(a->bus);
    if (a->dconn)
        drv_close(a->dconn);
    if (a->journal)
        journal_close(a->journal);
    inv_free(&a->inv);
    agent_guard_free(a->guard);
    hostpath_set_unref(a->paths);
    agent_conf_unref(a->conf);
    free(a->audit_pending);
    free(a->name);
    free(a->key_name);
    free(a->queue);
    free(a->heartbeat_key);
    free(a->lock_queue);
    free(a);
}

int
agent_reconfigure(struct agent *a, const struct agent_config *cfg,
                  qmf_error *err)
{
    struct agent_guard *guard;
    unsigned old_heartbeat = a->cfg.heartbeat_interval;
    unsigned old_stats = a->cfg.stats_interval;
    bool labels_changed = !qmf_equal(a->cfg.labels, cfg->labels);

    if (strcmp(cfg->node, a->cfg.node) != 0 ||
        strcmp(cfg->broker, a->cfg.broker) != 0 ||
        strcmp(cfg->uri, a->cfg.uri) != 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "node, broker and uri cannot change without a restart");
        return -1;
    }
    /* New keys and policy, or nothing changes: a half-read trust
     * directory must not replace a whole one. */
    if ((guard = guard_from_config(a, cfg, err)) == NULL)
        return -1;
    agent_guard_free(a->guard);
    a->guard = guard;
    /* Jobs running keep the snapshot they took; the old one goes with
     * the last of them. */
    agent_set_conf(a, agent_conf_new(cfg));
    a->log.level = cfg->log_level;
    agent_use_allowed_paths(a);
    /* Restarting a timer that keeps its interval would delay it: reloads
     * in quick succession would hold off heartbeats and statistics. */
    if (a->heartbeat_ev && a->cfg.heartbeat_interval != old_heartbeat) {
        agent_heartbeat_stop(a);
        agent_heartbeat_start(a);
    }
    if (a->stats_ev && a->cfg.stats_interval != old_stats) {
        struct timeval tv = { a->cfg.stats_interval, 0 };

        event_del(a->stats_ev);
        event_add(a->stats_ev, &tv);
    }
    /* The Node carries the labels: it shows the new ones now, not at
     * the next statistics reload. */
    if (labels_changed)
        agent_refresh_object(a, "node");
    log_info(&a->log, "configuration reloaded");
    return 0;
}

/* Broker connection ------------------------------------------------------- */

static void
stats_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;

    /* Statistics have no events; a periodic reload publishes only what
     * changed (inv_put compares values). */
    if (a->state == AGENT_RUNNING && a->driver_up)
        agent_load_inventory(a, NULL, false, NULL);
}

static void
bus_up_cb(struct bus_conn *c, void *opaque)
{
    struct agent *a = opaque;
    struct timeval tv = { a->cfg.stats_interval, 0 };

    a->bus_up = true;
    if (a->state == AGENT_STARTING)
        a->state = AGENT_RUNNING;
    log_info(&a->log, "serving %s on queue %s (broker %s)", a->name, a->queue, bus_broker(c));
    agent_report_start(a, NULL);
    if (!a->started_event_sent) {
        qmf_value *v = qmf_map();

        qmf_map_set(v, "version", qmf_string(VIRTBUS_VERSION));
        qmf_map_set(v, "uri", qmf_string(a->cfg.uri));
        agent_publish_event(a, "agentStarted", v, NULL, NULL);
        a->started_event_sent = true;
    }
    /* Outcomes the broker did not confirm before it went away. */
    agent_command_flush_spool(a);
    /* The first heartbeat of a connection goes to the fleet's memory too. */
    a->heartbeats_to_fleet = 0;
    agent_heartbeat_start(a);
    agent_heartbeat_send(a, false);
    /* The snapshot consumers get at start, and after a broker outage in
     * which they may have missed changes. */
    agent_push_all(a);
    if (a->stats_ev == NULL) {
        a->stats_ev = event_new(a->env.base, -1, EV_PERSIST, stats_cb, a);
        event_add(a->stats_ev, &tv);
    }
}

static void
bus_down_cb(struct bus_conn *c, const qmf_error *why, void *opaque)
{
    struct agent *a = opaque;

    a->bus_up = false;
    agent_heartbeat_stop(a);
    if (why && why->code == QMF_ERR_LOCKED) {
        agent_identity_locked(a, why);
        return;
    }
    log_warnx(&a->log, "lost the broker: %s", why ? why->text : "closed");
    if (why != NULL)
        agent_report_start(a, why);
}

static const struct bus_handlers agent_bus_handlers = {
    .up = bus_up_cb,
    .down = bus_down_cb,
};

bool
agent_bus_base(const struct agent *a, struct bus_options *opts)
{
    bool provisioned = false;

    opts->url = a->cfg.broker;
    opts->threads = a->env.bus_threads;
    opts->tls = (struct bus_tls){
        .ca = a->cfg.tls_ca, .cert = a->cfg.tls_cert, .key = a->cfg.tls_key,
        .no_verify_hostname = !a->cfg.tls_verify_hostname,
    };
    /* The configuration checked the words. */
    if (a->cfg.sasl_mechanism != NULL)
        bus_sasl_from_name(a->cfg.sasl_mechanism, &opts->sasl);
    if (a->cfg.broker_topology != NULL)
        bus_topology_from_name(a->cfg.broker_topology, &provisioned);
    opts->passive_exchanges = provisioned;
    return provisioned;
}

void
agent_open_bus(struct agent *a)
{
    struct bus_options opts = { 0 };
    struct bus_binding bindings[8], old_broadcasts;
    struct bus_queue queues[5];
    struct bus_subscription subs[2];
    qmf_value *presence_args, *fleet_args, *queue_args;
    char *source, *query_source, *conn_name, *locate_key;
    bool provisioned = agent_bus_base(a, &opts);
    qmf_error err;

    /* The command queue: targeted requests and broadcasts.  bus_open
     * copies all of this and declares it again on every reconnect.  A
     * command delivered delivery_limit times without being acked (it
     * keeps crashing the agent) is moved to the dead-letter queue. */
    bindings[0] = (struct bus_binding){ BUS_EXCHANGE_DIRECT, a->name };
    bindings[1] = (struct bus_binding){ BUS_EXCHANGE_TOPIC, QMF_NAME_BROADCAST_PREFIX QMF_NAME_KIND_METHOD };
    bindings[2] = (struct bus_binding){ BUS_EXCHANGE_DIRECT, AGENT_DEAD_LETTERS };
    bindings[3] = (struct bus_binding){ BUS_EXCHANGE_TOPIC, QMF_NAME_BROADCAST_PREFIX QMF_NAME_KIND_QUERY };
    bindings[4] = (struct bus_binding){ BUS_EXCHANGE_TOPIC, QMF_NAME_BROADCAST_PREFIX QMF_NAME_KIND_LOCATE };
    /* Python qmf2's locates: to all agents, and to one by name. */
    locate_key = qmf_name_qpid_locate_key(a->name);
    bindings[5] = (struct bus_binding){ BUS_EXCHANGE_TOPIC, QMF_NAME_QPID_LOCATE_KEY };
    bindings[6] = (struct bus_binding){ BUS_EXCHANGE_TOPIC, locate_key };
    /* Methods that change nothing travel as queries do (PROTOCOL.md §7.8). */
    bindings[7] = (struct bus_binding){ BUS_EXCHANGE_TOPIC, BUS_READ_METHOD_KEY };
    /* Earlier versions took every broadcast here. */
    old_broadcasts = (struct bus_binding){ BUS_EXCHANGE_TOPIC, QMF_NAME_OLD_BROADCASTS_KEY };
    queue_args = qmf_map();
    qmf_map_set(queue_args, "x-dead-letter-routing-key", qmf_string(AGENT_DEAD_LETTERS));
    if (a->cfg.queue_expires > 0)
        qmf_map_set(queue_args, "x-expires", qmf_i64((int64_t)a->cfg.queue_expires * 1000));
    /*
     * Broadcast queries, locates and read-only methods come by a private
     * queue, gone with the connection and read without acks: an answer is
     * worth something only to a console waiting for it now, so nothing
     * about a query needs to survive.  The broker spares a durable queue's
     * work and an ack per agent and broadcast, and broadcasts stop piling
     * up in the queues of agents that are gone.  Its name is the node's: exclusive, it is also
     * the node's lock, which the broker gives one connection at a time.
     * Declared first, so that an agent refused it declares and consumes
     * nothing else (identity.c).
     */
    queues[0] = (struct bus_queue){
        .name = a->lock_queue,
        .exclusive = true,
        .auto_delete = true,
        .bindings = &bindings[3],
        .nbindings = 5,
    };
    queues[1] = (struct bus_queue){
        .name = a->queue,
        .durable = true,
        .queue_type = a->cfg.queue_type,
        .delivery_limit = strcmp(a->cfg.queue_type, "quorum") == 0 ? a->cfg.delivery_limit : 0,
        .dead_letter_exchange = BUS_EXCHANGE_DIRECT,
        .bindings = bindings,
        .nbindings = 2,
        .unbindings = &old_broadcasts,
        .nunbindings = 1,
        .arguments = queue_args,
    };
    /* Dead letters wait for an operator; every agent declares the queue
     * (identically) so that it exists before the first one arrives.  Of
     * the command queues' type, so that on a cluster it outlives a node;
     * lenient, because earlier versions made it classic (a refused
     * redeclare leaves that one be), and because such a classic queue
     * whose node is down must not keep the agent off the broker. */
    queues[2] = (struct bus_queue){
        .name = AGENT_DEAD_LETTERS,
        .durable = true,
        .queue_type = a->cfg.queue_type,
        .bindings = &bindings[2],
        .nbindings = 1,
        .lenient = true,
    };
    /* The presence stream must exist for heartbeats to be kept, and the
     * fleet's for the agent's records in it. */
    presence_args = bus_presence_queue(&queues[3]);
    fleet_args = bus_fleet_queue(&queues[4]);
    opts.nqueues = 5;
    /*
     * Unless the broker's administrator made all but the query queue
     * (virtbus broker-setup), with the command queue's bindings: then the
     * agent only checks that its command queue exists and binds nothing
     * but its query queue, so that its broker account needs no configure
     * permission on shared things (which would let it delete them) and no
     * read permission on the direct exchange (which would let it bind to
     * other agents' keys).
     */
    if (provisioned) {
        queues[1].passive = true;
        queues[1].nbindings = 0;
        queues[1].nunbindings = 0;
        opts.nqueues = 2;
    }
    source = qmf_name_queue_address(a->queue);
    query_source = qmf_name_queue_address(a->lock_queue);
    conn_name = qmf_xasprintf("virtbusd %s", a->cfg.node);
    subs[0] = (struct bus_subscription){
        .source = source,
        .credit = a->cfg.prefetch,
        .receive = agent_on_request,
        .opaque = a,
    };
    subs[1] = (struct bus_subscription){
        .source = query_source,
        .no_ack = true,
        .receive = agent_on_broadcast_query,
        .opaque = a,
    };
    opts.heartbeat_s = (uint16_t)a->cfg.broker_heartbeat;
    opts.max_body = a->cfg.max_body;
    opts.name = conn_name;
    opts.reconnect = true;
    opts.reconnect_max_ms = a->cfg.reconnect_max * 1000;
    opts.queues = queues;
    opts.subs = subs;
    opts.nsubs = 2;
    if (bus_open(&a->bus, a->env.base, &opts, &agent_bus_handlers, a, &err) != 0) {
        char *shown = bus_url_redact(a->cfg.broker);

        log_warnx(&a->log, "cannot use broker %s: %s", shown, err.text);
        free(shown);
        agent_report_start(a, &err);
    }
    qmf_free(presence_args);
    qmf_free(fleet_args);
    qmf_free(queue_args);
    free(locate_key);
    free(source);
    free(query_source);
    free(conn_name);
}

void
agent_report_start(struct agent *a, const qmf_error *why)
{
    if (a->start_reported || (why == NULL && !agent_is_ready(a)))
        return;
    a->start_reported = true;
    if (a->env.started)
        a->env.started(a, why, a->env.started_opaque);
}

void
agent_hypervisor_ready(struct agent *a)
{
    /* Not while another instance holds the node's lock (identity.c). */
    if (a->bus == NULL && a->probe == NULL && a->probe_ev == NULL &&
        a->state == AGENT_STARTING)
        agent_open_bus(a);
}

int
agent_start(struct agent *a)
{
    char *broker;

    if (a->state != AGENT_NEW)
        return -1;
    a->state = AGENT_STARTING;
    a->epoch_ns = clock_wall_ns();
    broker = bus_url_redact(a->cfg.broker);
    log_info(&a->log, "starting: node %s, hypervisor %s, broker %s",
             a->cfg.node, a->cfg.uri, broker);
    free(broker);
    /* The journal first: no command may run before it is known which
     * ones already did. */
    agent_state_open(a, agent_hypervisor_start);
    return 0;
}

/* Stopping ------------------------------------------------------------------ */

static void
journal_closed(struct agent *a)
{
    a->state = AGENT_STOPPED;
    log_info(&a->log, "stopped");
    if (a->stopped_cb)
        a->stopped_cb(a, a->stopped_opaque);
    if (a->failure.code != QMF_OK && a->env.failed)
        a->env.failed(a, a->env.failed_opaque);
}

static void
hypervisor_closed(struct agent *a)
{
    agent_state_close(a, journal_closed);
}

static void
goodbye_sent(bool ok, void *opaque)
{
    struct agent *a = opaque;

    if (a->bus) {
        bus_close(a->bus);
        a->bus = NULL;
        a->bus_up = false;
    }
    agent_hypervisor_close(a, hypervisor_closed);
}

static void
agent_maybe_finish_stop(struct agent *a)
{
    qmf_value *v;

    if (a->jobs.running > 0 || a->state != AGENT_STOPPING || a->saying_goodbye)
        return;
    a->saying_goodbye = true;
    agent_heartbeat_stop(a);
    agent_identity_end_probe(a);
    if (a->stats_ev)
        event_del(a->stats_ev);
    if (!a->bus_up) {
        goodbye_sent(false, a);
        return;
    }
    agent_heartbeat_send(a, true);
    v = qmf_map();
    qmf_map_set(v, "reason", qmf_string("shutdown requested"));
    /* Wait for the broker to take the goodbye before closing. */
    agent_publish_event(a, "agentStopping", v, goodbye_sent, a);
}

/* Stops for good on the agent's own account: the running commands end,
 * nothing more is taken, and the host hears of it (agent_env.failed). */
void
agent_fail(struct agent *a, const qmf_error *why)
{
    a->failure = *why;
    if (a->env.failed == NULL)
        log_warnx(&a->log, "%s", why->text);
    if (a->state == AGENT_STOPPING || a->state == AGENT_STOPPED)
        return;
    a->state = AGENT_STOPPING;
    if (a->bus)
        bus_pause(a->bus);
    agent_maybe_finish_stop(a);
}

const qmf_error *
agent_failure(const struct agent *a)
{
    return a->failure.code == QMF_OK ? NULL : &a->failure;
}

const char *
agent_instance_id(const struct agent *a)
{
    return a->instance_id;
}

unsigned
agent_jobs_running(const struct agent *a)
{
    return a->jobs.running;
}

void
agent_stop(struct agent *a, void (*done)(struct agent *a, void *opaque),
           void *opaque)
{
    a->stopped_cb = done;
    a->stopped_opaque = opaque;
    if (a->state == AGENT_NEW || a->state == AGENT_STOPPED) {
        a->state = AGENT_STOPPED;
        if (done)
            done(a, opaque);
        return;
    }
    if (a->state == AGENT_STOPPING)
        return;
    log_info(&a->log, "stopping: %u command(s) still running", a->jobs.running);
    a->state = AGENT_STOPPING;
    /* Take no more commands: they wait in the queue for the next start. */
    if (a->bus)
        bus_pause(a->bus);
    agent_maybe_finish_stop(a);
}
