/*
 * Heartbeats: every heartbeat_interval seconds the agent announces itself
 * and its attributes on the topic exchange, which is how consoles learn who
 * is alive and what to expect; some of them also go to the fleet's memory.
 * The same attributes answer locates and decide _target predicates.
 */
#include "agent/agent_impl.h"
#include "agent/clock.h"
#include "core/names.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtbus_version.h"

/* The outcomes of a commandResult (docs/PROTOCOL.md §10.7), in the order
 * of struct agent's commands[]. */
static const char *const command_outcomes[] = { "ok", "error", "expired", "rejected" };
_Static_assert(sizeof(command_outcomes) / sizeof(*command_outcomes) ==
               sizeof(((struct agent *)0)->commands) / sizeof(uint64_t),
               "one count per outcome");

void
agent_count_command(struct agent *a, const qmf_value *command_result)
{
    const char *outcome = qmf_map_get_string(command_result, "outcome");
    size_t i;

    for (i = 0; outcome != NULL && i < sizeof(command_outcomes) / sizeof(*command_outcomes); i++)
        if (strcmp(outcome, command_outcomes[i]) == 0)
            a->commands[i]++;
}

/* The counts as the heartbeat's _commands: every outcome, zeros too, so
 * that a reader sees a counter from the agent's start on. */
static qmf_value *
command_counts(const struct agent *a)
{
    qmf_value *counts = qmf_map();
    size_t i;

    for (i = 0; i < sizeof(command_outcomes) / sizeof(*command_outcomes); i++)
        qmf_map_set(counts, command_outcomes[i], qmf_u64(a->commands[i]));
    return counts;
}

qmf_value *
agent_attributes(const struct agent *a)
{
    static const char *const from_node[] = {
        "hostname", "uri", "hypervisorType", "hypervisorVersion",
        "libvirtVersion", "arch", "memory", "cpus",
    };
    const struct inv_object *node = inv_get(&a->inv, "node");
    qmf_value *attrs = qmf_map();
    size_t i;

    qmf_map_set(attrs, "_vendor", qmf_string("virtbus"));
    qmf_map_set(attrs, "_product", qmf_string("agent"));
    qmf_map_set(attrs, "_instance", qmf_string(a->cfg.node));
    qmf_map_set(attrs, "_name", qmf_string(a->name));
    qmf_map_set(attrs, "node", qmf_string(a->cfg.node));
    /* Which process this is: two agents of one node name are a clash
     * that consoles must be able to see (docs/PROTOCOL.md §1.5). */
    qmf_map_set(attrs, "_instance_id", qmf_string(a->instance_id));
    qmf_map_set(attrs, "_host", qmf_string(a->host));
    qmf_map_set(attrs, "_pid", qmf_u32((uint32_t)getpid()));
    /* QMFv2's epoch, the uint32 Qpid's consoles read: the start time in
     * seconds, which grows from one start to the next as QMFv2's boot
     * counter does; and the start time itself (docs/PROTOCOL.md §1.5). */
    qmf_map_set(attrs, "_epoch", qmf_u32((uint32_t)(a->epoch_ns / 1000000000)));
    qmf_map_set(attrs, "_start_time", qmf_i64(a->epoch_ns));
    for (i = 0; node && i < sizeof(from_node) / sizeof(from_node[0]); i++) {
        const qmf_value *v = qmf_map_get(node->values, from_node[i]);

        if (v)
            qmf_map_set(attrs, from_node[i], qmf_dup(v));
    }
    qmf_map_set(attrs, "labels", qmf_dup(a->cfg.labels));
    qmf_map_set(attrs, "domains",
                qmf_u32((uint32_t)inv_count(&a->inv,
                                            schema_find_class(a->env.schema, "Domain"))));
    qmf_map_set(attrs, "version", qmf_string(VIRTBUS_VERSION));
    qmf_map_set(attrs, "driver", qmf_string(a->driver_up ? "connected" : "disconnected"));
    return attrs;
}

void
agent_heartbeat_send(struct agent *a, bool last)
{
    qmf_value *body = qmf_map();
    qmf_value *values = qmf_map_set(body, "_values", agent_attributes(a));
    char *address;
    struct agent_publish p = {
        .opcode = "_agent_heartbeat_indication",
    };

    qmf_map_set(values, "_timestamp", qmf_i64(clock_wall_ns()));
    qmf_map_set(values, "_heartbeat_interval", qmf_u32(a->cfg.heartbeat_interval));
    qmf_map_set(values, "_commands", command_counts(a));
    /* The last one, once no command runs: consoles count the agent down
     * at once, not after three missed intervals, and do not wait for it. */
    if (last)
        qmf_map_set(values, "_stopping", qmf_bool(true));
    /*
     * The fleet's memory keeps the same message much longer than presence
     * does, but only the first of a connection, the last, and one every
     * fleet_interval: enough to say when a node that died was last alive,
     * at a cost per node that does not grow with the heartbeat rate.
     */
    if (last || a->heartbeats_to_fleet == 0) {
        p.address = QMF_NAME_FLEET_ADDRESS;
        agent_publish(a, &p, qmf_dup(body));
        a->heartbeats_to_fleet = (a->cfg.fleet_interval + a->cfg.heartbeat_interval - 1) /
                                 a->cfg.heartbeat_interval;
    }
    a->heartbeats_to_fleet--;
    address = qmf_name_exchange_address(QMF_NAME_EXCHANGE_TOPIC, a->heartbeat_key);
    p.address = address;
    agent_publish(a, &p, body);
    free(address);
}

static void
heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;

    if (a->bus_up)
        agent_heartbeat_send(a, false);
}

void
agent_heartbeat_start(struct agent *a)
{
    struct timeval tv = { a->cfg.heartbeat_interval, 0 };

    if (a->heartbeat_ev == NULL)
        a->heartbeat_ev = event_new(a->env.base, -1, EV_PERSIST, heartbeat_cb, a);
    event_add(a->heartbeat_ev, &tv);
}

void
agent_heartbeat_stop(struct agent *a)
{
    if (a->heartbeat_ev) {
        event_free(a->heartbeat_ev);
        a->heartbeat_ev = NULL;
    }
}
