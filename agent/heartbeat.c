/*
 * Heartbeats: every heartbeat_interval seconds the agent announces itself
 * and its attributes on the topic exchange, which is how consoles learn who
 * is alive and what to expect; some of them also go to the fleet's memory.
 */
#include "agent/agent_impl.h"
#include "schema/qmf/names.h"

#include <stdlib.h>
#include <string.h>

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

void
agent_heartbeat_send(struct agent *a, bool last)
{
    qmf_value *body = qmf_map();
    qmf_value *values = qmf_map_set(body, "_values", agent_attributes(a));
    char *address;
    struct agent_publish p = {
        .opcode = "_agent_heartbeat_indication",
    };

    qmf_map_set(values, "_timestamp", qmf_i64(agent_now_ns()));
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
