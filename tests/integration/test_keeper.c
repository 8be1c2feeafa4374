/*
 * Presence from a keeper's summaries (docs/PROTOCOL.md §7.3.1): a new
 * console knows the fleet from the newest summary, in parts and with a
 * delta, without reading a heartbeat; a node that stops is down in the
 * next delta; a keeper that stops sends readers back to the heartbeats;
 * and a summary that did not come by the summaries' key is no summary.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "bus/bus.h"
#include "core/names.h"
#include "tests/integration/harness.h"
#include "tests/testutil.h"

/* A console reading presence: from summaries first, as the CLI's do,
 * unless no_summaries (a keeper's); named: presence_nodes. */
static struct virtbus_console *
open_presence(struct test_fleet *f, const char *const *named, bool no_summaries)
{
    struct virtbus_console_options o = {
        .url = f->url, .presence = true, .presence_nodes = named,
        .presence_no_summaries = no_summaries,
    };
    struct virtbus_console *c;
    qmf_error err;

    c = virtbus_console_open(f->base, &o, &err);
    cr_assert_not_null(c, "%s", err.text);
    return c;
}

static struct virtbus_console *
open_reader(struct test_fleet *f)
{
    return open_presence(f, NULL, false);
}

/* A keeper on the fleet's loop: a tick every 200 ms, one agent a part. */
static struct virtbus_console *
start_keeper(struct test_fleet *f)
{
    struct virtbus_keeper_options k = { .interval_ms = 200, .part_agents = 1 };
    struct virtbus_console *c = open_presence(f, NULL, true);
    qmf_error err;

    cr_assert_eq(virtbus_presence_keep(c, &k, &err), 0, "%s", err.text);
    return c;
}

static void
stop_keeper(struct virtbus_console *k)
{
    qmf_error err;

    cr_assert_eq(virtbus_presence_keep_stop(k, &err), 0, "%s", err.text);
    virtbus_console_close(k);
}

/* 1: listed up, 0: listed down, -1: not listed; *summary: told by one. */
static int
state_of(struct virtbus_console *c, const char *node, bool *summary)
{
    struct virtbus_agent_list l;
    qmf_error err;
    int state = -1;
    size_t i;

    cr_assert_eq(virtbus_presence(c, &l, &err), 0, "%s", err.text);
    for (i = 0; i < l.n; i++)
        if (strcmp(l.items[i].node, node) == 0)
            state = l.items[i].up;
    virtbus_agent_list_free(&l);
    *summary = virtbus_presence_from_summary(c);
    return state;
}

/* What a new console says of node, with summary its source. */
static int
fresh_state(struct test_fleet *f, const char *node, bool *summary)
{
    struct virtbus_console *c = open_reader(f);
    int state = state_of(c, node, summary);

    virtbus_console_close(c);
    return state;
}

struct ticks {
    struct virtbus_console *keeper;
    unsigned long records;
};

static bool
ticked(void *arg)
{
    struct ticks *t = arg;
    struct virtbus_keeper_stats s;

    virtbus_keeper_stats(t->keeper, &s);
    return s.records >= t->records;
}

/* Lets the keeper write n more records (deltas, at 200 ms). */
static void
let_tick(struct test_fleet *f, struct virtbus_console *keeper, unsigned long n)
{
    struct virtbus_keeper_stats s;
    struct ticks t = { keeper, 0 };

    virtbus_keeper_stats(keeper, &s);
    t.records = s.records + n;
    cr_assert(fleet_run_until(f, ticked, &t, 20000), "the keeper wrote nothing");
}

static void
stopped_cb(struct agent *a, void *opaque)
{
    *(bool *)opaque = true;
}

static bool
flag_set(void *arg)
{
    return *(bool *)arg;
}

static struct virtbus_console *
two_nodes_and_a_keeper(struct test_fleet *f)
{
    fleet_init(f);
    fleet_add_agent(f, "node1.xml", NULL);
    fleet_add_agent(f, "node2.xml", NULL);
    fleet_wait_ready(f);
    return start_keeper(f);
}

Test(keeper, a_new_console_knows_the_fleet_from_the_newest_summary, .timeout = 120)
{
    struct virtbus_console *keeper;
    struct virtbus_keeper_stats s;
    struct test_fleet f;
    bool summary = false;

    keeper = two_nodes_and_a_keeper(&f);
    virtbus_keeper_stats(keeper, &s);
    cr_assert_eq(s.full, 1);
    cr_assert_geq(s.agents, 2, "the first summary has %zu agents", s.agents);
    /* A few deltas later: the newest is a delta, and the full summary's
     * parts are among the records of the last seconds. */
    let_tick(&f, keeper, 3);
    cr_assert_eq(fresh_state(&f, f.nodes[0], &summary), 1);
    cr_assert(summary, "presence was not told by the summary");
    cr_assert_eq(fresh_state(&f, f.nodes[1], &summary), 1);
    cr_assert(summary);

    /* A keeper that stops: the heartbeats tell at once. */
    stop_keeper(keeper);
    cr_assert_eq(fresh_state(&f, f.nodes[0], &summary), 1);
    cr_assert_not(summary, "a stopped keeper's summary was taken");
    fleet_fini(&f);
}

Test(keeper, a_full_summary_older_than_the_look_back_is_read_from_its_time, .timeout = 120)
{
    struct virtbus_console *keeper;
    struct virtbus_keeper_stats s;
    struct test_fleet f;
    bool summary = false;

    keeper = two_nodes_and_a_keeper(&f);
    /* 7 s of deltas: a reader looks back 5 s for the newest record, and
     * must then go back to the full summary's time for its parts. */
    let_tick(&f, keeper, 35);
    virtbus_keeper_stats(keeper, &s);
    cr_assert_eq(s.full, 1, "a new full summary was written meanwhile");
    cr_assert_eq(fresh_state(&f, f.nodes[0], &summary), 1);
    cr_assert(summary, "presence was not told by the summary");
    cr_assert_eq(fresh_state(&f, f.nodes[1], &summary), 1);
    stop_keeper(keeper);
    fleet_fini(&f);
}

Test(keeper, a_node_that_stops_is_down_in_the_next_delta, .timeout = 120)
{
    struct virtbus_console *keeper;
    struct virtbus_keeper_stats s;
    struct test_fleet f;
    bool stopped = false, summary = false;

    keeper = two_nodes_and_a_keeper(&f);
    agent_stop(f.agents[0], stopped_cb, &stopped);
    cr_assert(fleet_run_until(&f, flag_set, &stopped, 30000), "the agent did not stop");
    let_tick(&f, keeper, 2);
    virtbus_keeper_stats(keeper, &s);
    cr_assert_eq(s.full, 1, "a new full summary where a delta would do");
    cr_assert_geq(s.delta_agents, 1);
    cr_assert_eq(fresh_state(&f, f.nodes[0], &summary), 0, "a stopped node is listed up");
    cr_assert(summary);
    cr_assert_eq(fresh_state(&f, f.nodes[1], &summary), 1);
    cr_assert(summary);
    stop_keeper(keeper);
    fleet_fini(&f);
}

/* A node named at once after its start: the summary, a tick old, cannot
 * know it; the heartbeats since do. */
Test(keeper, a_node_named_after_the_last_summary_is_found_in_the_heartbeats, .timeout = 120)
{
    static const char *const fixtures[] = { "node2.xml", "node3.xml", "fleet.xml", "node1.xml" };
    struct virtbus_console *keeper, *c;
    struct virtbus_keeper_stats before, after;
    struct test_fleet f;
    const char *named[2] = { NULL, NULL };
    bool summary = false, exercised = false;
    size_t i;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    keeper = start_keeper(&f);
    /* The keeper ticks on this loop too: a try where it wrote a record
     * between the start and the read proves nothing, and is made again. */
    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]) && !exercised; i++) {
        virtbus_keeper_stats(keeper, &before);
        fleet_add_agent(&f, fixtures[i], NULL);
        fleet_wait_ready(&f);
        named[0] = f.nodes[f.n - 1];
        c = open_presence(&f, named, false);
        cr_assert_eq(state_of(c, named[0], &summary), 1, "a node just started is not up");
        virtbus_console_close(c);
        virtbus_keeper_stats(keeper, &after);
        exercised = after.records == before.records;
    }
    cr_assert(exercised, "the keeper ticked during every try");
    cr_assert(summary);
    stop_keeper(keeper);
    fleet_fini(&f);
}

/* A summary written into the stream by its name, as any account that may
 * use the default exchange could, claiming a node that does not exist. */
static void
forge_summary(struct test_fleet *f)
{
    struct timespec now;
    struct bus_message *m = bus_message_new();
    qmf_value *agents = qmf_map(), *entry, *values;
    struct virtbus_console *c = open_reader(f);
    struct virtbus_agent_list l;
    qmf_error err;
    int64_t now_ns;

    /* A read declares the stream: a write into none would prove nothing. */
    cr_assert_eq(virtbus_presence(c, &l, &err), 0, "%s", err.text);
    virtbus_agent_list_free(&l);
    clock_gettime(CLOCK_REALTIME, &now);
    now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    entry = qmf_map_set(agents, "virtbus:agent:ghost", qmf_map());
    qmf_map_set(entry, "up", qmf_bool(true));
    values = qmf_map_set(entry, "values", qmf_map());
    qmf_map_set(values, "node", qmf_string("ghost"));
    qmf_map_set(values, "_timestamp", qmf_i64(now_ns));
    qmf_map_set(values, "_heartbeat_interval", qmf_u32(5));
    m->body = qmf_map();
    qmf_map_set(m->body, "keeper", qmf_string("forger"));
    qmf_map_set(m->body, "seq", qmf_u64(1));
    qmf_map_set(m->body, "kind", qmf_string("full"));
    qmf_map_set(m->body, "as_of", qmf_i64(now_ns));
    qmf_map_set(m->body, "interval_ms", qmf_u32(60000));
    qmf_map_set(m->body, "part", qmf_u32(0));
    qmf_map_set(m->body, "parts", qmf_u32(1));
    qmf_map_set(m->body, "agents", agents);
    bus_message_set_header_string(m, "qmf.opcode", "_virtbus_presence_summary");
    cr_assert_eq(virtbus_send(c, QMF_NAME_SUMMARY_ADDRESS, m, &err), 0, "%s", err.text);
    virtbus_console_close(c);
}

Test(keeper, a_summary_written_by_the_streams_name_is_no_summary, .timeout = 120)
{
    struct test_fleet f;
    bool summary = true;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    forge_summary(&f);
    cr_assert_eq(fresh_state(&f, "ghost", &summary), -1, "a forged summary was taken");
    cr_assert_not(summary);
    cr_assert_eq(fresh_state(&f, f.nodes[0], &summary), 1);
    fleet_fini(&f);
}
