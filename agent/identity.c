/*
 * One agent per node.  Two agents started with one node name (a cloned
 * image, a copied configuration) would share the node's command queue and
 * split its commands between two hosts.  So the node has a lock: its
 * broadcast-query queue, named after it and exclusive, which the broker
 * gives one connection at a time and frees when that connection dies.
 *
 * An agent refused the lock looks for the holder's heartbeats in the
 * presence stream.  A live one from another instance means the node is
 * served elsewhere: the agent stops for good, naming that instance (host,
 * pid, start time).  None within three heartbeat intervals means the
 * holder serves nobody, e.g. a connection of this very agent that the
 * broker has not yet seen die: the agent tries the lock again.  Either
 * way it never consumes the node's queue while another connection holds
 * the lock, so no command runs on two hosts at once.
 */
#include "agent/agent_impl.h"
#include "agent/clock.h"
#include "core/names.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/random.h>

/* Heartbeats a little older than their interval still prove a holder
 * alive: the next one may be on its way. */
#define PROBE_SLACK_S 2

void
agent_identity_init(struct agent *a)
{
    uint8_t uuid[16];
    char host[256];
    ssize_t got;

    while ((got = getrandom(uuid, sizeof(uuid), 0)) < 0 && errno == EINTR)
        ;
    if (got != (ssize_t)sizeof(uuid))
        abort();        /* no randomness: no identity worth the name */
    uuid[6] = (uuid[6] & 0x0f) | 0x40;     /* a version 4 UUID */
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    qmf_uuid_format(uuid, a->instance_id);
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    a->host = qmf_xstrdup(host);
}

void
agent_identity_end_probe(struct agent *a)
{
    if (a->probe_ev) {
        event_free(a->probe_ev);
        a->probe_ev = NULL;
    }
    if (a->probe) {
        bus_close(a->probe);
        a->probe = NULL;
    }
}

void
agent_identity_free(struct agent *a)
{
    agent_identity_end_probe(a);
    free(a->host);
    a->host = NULL;
}

/* "2026-11-25T22:02:54Z" */
static void
format_time(int64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;

    if (ns <= 0 || gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "at an unknown time");
}

/* Whether a heartbeat shows another instance of this node serving now. */
static bool
other_instance_alive(const struct agent *a, const qmf_value *v)
{
    const char *node = qmf_map_get_string(v, "node");
    const char *instance = qmf_map_get_string(v, "_instance_id");
    int64_t ts = 0;
    uint64_t interval = 0;

    if (node == NULL || strcmp(node, a->cfg.node) != 0 || qmf_map_get(v, "_stopping"))
        return false;
    /* An agent older than instance ids is told apart by its start time. */
    if (instance ? strcmp(instance, a->instance_id) == 0
                 : bus_agent_started_ns(v) == a->epoch_ns)
        return false;
    qmf_get_int64(qmf_map_get(v, "_timestamp"), &ts);
    qmf_get_uint64(qmf_map_get(v, "_heartbeat_interval"), &interval);
    return ts >= a->probe_start_ns - (int64_t)(interval + PROBE_SLACK_S) * 1000000000;
}

static void
refuse(struct agent *a, const qmf_value *v)
{
    const char *host = qmf_map_get_string(v, "_host");
    const char *instance = qmf_map_get_string(v, "_instance_id");
    int64_t epoch = bus_agent_started_ns(v);
    uint64_t pid = 0;
    char started[40], pid_text[24] = "unknown";
    qmf_error why;

    if (qmf_get_uint64(qmf_map_get(v, "_pid"), &pid))
        snprintf(pid_text, sizeof(pid_text), "%llu", (unsigned long long)pid);
    format_time(epoch, started, sizeof(started));
    qmf_error_set(&why, QMF_ERR_LOCKED,
                  "node %s is already served by another virtbusd: host %s, pid %s, "
                  "started %s (instance %s); this one (host %s, pid %ld) refuses to "
                  "serve: give each agent its own node name",
                  a->cfg.node, host ? host : qmf_map_get_string(v, "hostname") ?
                  qmf_map_get_string(v, "hostname") : "unknown", pid_text, started,
                  instance ? instance : "of an older version", a->host, (long)getpid());
    agent_identity_end_probe(a);
    agent_fail(a, &why);
}

static void
probe_on_heartbeat(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct agent *a = opaque;
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const qmf_value *values = m->body ? qmf_map_get(m->body, "_values") : NULL;
    bool found = opcode && strcmp(opcode, "_agent_heartbeat_indication") == 0 &&
                 values && other_instance_alive(a, values);
    qmf_value *copy = found ? qmf_dup(values) : NULL;

    /* Stream deliveries are acknowledged only to renew the credit; the
     * message must be copied first, refusing closes the probe. */
    bus_ack(d);
    if (found && a->probe != NULL)
        refuse(a, copy);
    qmf_free(copy);
}

static void
probe_expired(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;

    agent_identity_end_probe(a);
    if (a->state == AGENT_STOPPING || a->state == AGENT_STOPPED)
        return;
    log_warnx(&a->log, "the lock %s is held by a connection from which no other instance "
              "of node %s sends heartbeats (one of ours the broker has not yet seen "
              "die?): trying again", a->lock_queue, a->cfg.node);
    agent_open_bus(a);
}

void
agent_identity_locked(struct agent *a, const qmf_error *why)
{
    struct timeval tv = { 3 * a->cfg.heartbeat_interval + PROBE_SLACK_S, 0 };
    struct bus_options opts = { 0 };
    struct bus_queue presence;
    struct bus_subscription sub;
    qmf_value *presence_args, *offset;
    char from[32];
    qmf_error err;

    log_info(&a->log, "another connection holds the node's lock %s: looking for its "
             "heartbeats", a->lock_queue);
    log_debug(&a->log, "%s", why->text);
    /* Safe in the connection's own callback; it will not retry. */
    bus_close(a->bus);
    a->bus = NULL;
    if (a->state == AGENT_STOPPING || a->state == AGENT_STOPPED)
        return;
    a->probe_start_ns = clock_wall_ns();
    /* Back far enough for the holder's last heartbeat; later ones come
     * live, until the timer gives up. */
    presence_args = bus_presence_queue(&presence);
    offset = qmf_map();
    snprintf(from, sizeof(from), "%us", 2 * a->cfg.heartbeat_interval + PROBE_SLACK_S);
    qmf_map_set(offset, "x-stream-offset", qmf_string(from));
    sub = (struct bus_subscription){
        .source = QMF_NAME_PRESENCE_ADDRESS, .credit = 1000, .arguments = offset,
        .receive = probe_on_heartbeat, .opaque = a,
    };
    /* Made by the administrator, with its bindings: only checked. */
    if (agent_bus_base(a, &opts)) {
        presence.passive = true;
        presence.nbindings = 0;
    }
    opts.name = "virtbusd lock probe";
    opts.reconnect = true;
    opts.reconnect_max_ms = a->cfg.reconnect_max * 1000;
    opts.queues = &presence;
    opts.nqueues = 1;
    opts.subs = &sub;
    opts.nsubs = 1;
    if (bus_open(&a->probe, a->env.base, &opts, NULL, NULL, &err) != 0) {
        log_warnx(&a->log, "cannot look for the holder of %s: %s", a->lock_queue, err.text);
        a->probe = NULL;
    }
    a->probe_ev = evtimer_new(a->env.base, probe_expired, a);
    evtimer_add(a->probe_ev, &tv);
    qmf_free(presence_args);
    qmf_free(offset);
}
