/*
 * A fleet on both transports at once (issue 12, §1 and §2): agents on
 * AMQP 1.0 and on AMQP 0-9-1 against one broker, driven by consoles on
 * each.  An agent on 1.0 holds its node's lock as one on 0-9-1 does, and
 * the lock is one whichever transport the second agent speaks; consoles on
 * either transport find every agent (by locate and by presence, whose
 * heartbeats a 0-9-1 agent sends without the 1.0 envelope), list their
 * domains, and call methods on them.  Real broker, libvirt's test driver.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bus/bus.h"
#include "tests/integration/harness.h"
#include "tests/testutil.h"

/* The broker's URL in the AMQP 1.0 scheme (same listener). */
static char *
url_amqp10(const struct test_fleet *f)
{
    const char *colon = strrchr(f->url, ':');

    cr_assert_not_null(colon);
    return qmf_xasprintf("amqp10://guest:guest@127.0.0.1:%d/", atoi(colon + 1));
}

static char *amqp10_url;

static void
on_amqp10(struct agent_config *cfg, size_t index)
{
    free(cfg->broker);
    cfg->broker = qmf_xstrdup(amqp10_url);
}

/* The node agent 0 serves, for the clones, each with a state directory of
 * its own (two agents of one node on one disk would share a journal). */
static char *shared_node;
static char clone_state[2][64];
static size_t clones;

static void
same_node(struct agent_config *cfg, size_t index)
{
    free(cfg->node);
    cfg->node = qmf_xstrdup(shared_node);
    free(cfg->state_dir);
    snprintf(clone_state[clones], sizeof(clone_state[clones]), "/tmp/virtbus-state-XXXXXX");
    cr_assert_not_null(mkdtemp(clone_state[clones]));
    cfg->state_dir = qmf_xstrdup(clone_state[clones]);
    clones++;
}

static void
same_node_on_amqp10(struct agent_config *cfg, size_t index)
{
    same_node(cfg, index);
    on_amqp10(cfg, index);
}

struct watch_clone {
    struct agent *clone;
    bool was_ready;
};

static bool
clone_failed(void *arg)
{
    struct watch_clone *w = arg;

    w->was_ready |= agent_is_ready(w->clone);
    return agent_failure(w->clone) != NULL;
}

/* Starts a clone of agent 0's node and waits until it refuses to serve. */
static void
expect_clone_refused(struct test_fleet *f, void (*edit)(struct agent_config *, size_t),
                     const char *transport)
{
    struct watch_clone w = { fleet_add_agent(f, "node2.xml", edit), false };
    const qmf_error *why;

    cr_assert(fleet_run_until(f, clone_failed, &w, FLEET_WAIT_MS),
              "a second agent of node %s, on %s, did not refuse to serve", shared_node,
              transport);
    why = agent_failure(w.clone);
    cr_assert_eq(why->code, QMF_ERR_LOCKED, "on %s: %s", transport, why->text);
    cr_assert_not(w.was_ready, "the second agent, on %s, served for a while", transport);
}

/* The instance ids that answer a locate for a node. */
static size_t
answering(struct test_fleet *f, const char *node, const char *instance)
{
    struct virtbus_agent_list found;
    qmf_error err;
    size_t i, n = 0;

    cr_assert(virtbus_locate(f->console, NULL, 3000, &found, &err) == 0, "%s", err.text);
    for (i = 0; i < found.n; i++) {
        if (strcmp(found.items[i].node, node) != 0)
            continue;
        n++;
        cr_assert_str_eq(qmf_map_get_string(found.items[i].attrs, "_instance_id"), instance);
    }
    virtbus_agent_list_free(&found);
    return n;
}

Test(mixed, an_agent_on_amqp10_holds_its_node_lock_against_both_transports, .timeout = 180)
{
    struct test_fleet f;
    size_t i;

    fleet_init(&f);
    amqp10_url = url_amqp10(&f);
    fleet_add_agent(&f, "node1.xml", on_amqp10);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    shared_node = f.nodes[0];
    clones = 0;

    expect_clone_refused(&f, same_node, "AMQP 0-9-1");
    expect_clone_refused(&f, same_node_on_amqp10, "AMQP 1.0");
    /* Broadcasts and commands reach the first only. */
    cr_assert_eq(answering(&f, shared_node, agent_instance_id(f.agents[0])), 1);
    for (i = 0; i < 3; i++)
        qmf_free(fleet_call_ok(&f, 0, "node", "getCapabilities", NULL));
    cr_assert(agent_is_ready(f.agents[0]));

    fleet_fini(&f);
    for (i = 0; i < clones; i++) {
        char *cmd = qmf_xasprintf("rm -rf '%s'", clone_state[i]);

        cr_assert_eq(system(cmd), 0);
        free(cmd);
    }
    free(amqp10_url);
}

/* Agents 0 and 2 on 1.0, 1 and 3 on 0-9-1. */
static void
alternate(struct agent_config *cfg, size_t index)
{
    if (index % 2 == 0)
        on_amqp10(cfg, index);
}

static bool
lists_every_node(const struct test_fleet *f, const struct virtbus_agent_list *l,
                 char *missing, size_t len)
{
    size_t i, j;

    for (i = 0; i < f->n; i++) {
        for (j = 0; j < l->n; j++)
            if (strcmp(l->items[j].node, f->nodes[i]) == 0)
                break;
        if (j == l->n) {
            snprintf(missing, len, "%s (agent %zu, on %s)", f->nodes[i], i,
                     i % 2 == 0 ? "AMQP 1.0" : "AMQP 0-9-1");
            return false;
        }
    }
    return true;
}

struct presence_wait {
    const struct test_fleet *f;
    struct virtbus_console *c;
    char missing[128];
};

static bool
presence_complete(void *arg)
{
    struct presence_wait *w = arg;
    struct virtbus_agent_list l;
    qmf_error err;
    bool all;

    cr_assert(virtbus_presence(w->c, &l, &err) == 0, "%s", err.text);
    all = lists_every_node(w->f, &l, w->missing, sizeof(w->missing));
    virtbus_agent_list_free(&l);
    return all;
}

/* What one console does with the whole fleet. */
static void
drive_fleet(struct test_fleet *f, const char *url, const char *transport)
{
    struct virtbus_console_options o;
    struct presence_wait w = { f, NULL, "" };
    struct virtbus_agent_list found;
    char missing[128];
    qmf_error err;
    size_t i;

    fleet_console_options(f, &o);
    o.url = url;
    o.presence = true;
    f->console = virtbus_console_open(f->base, &o, &err);
    cr_assert_not_null(f->console, "console on %s: %s", transport, err.text);

    /* Every agent answers a broadcast locate. */
    cr_assert(virtbus_locate(f->console, NULL, FLEET_REPLY_MS, &found, &err) == 0,
              "%s", err.text);
    cr_assert(lists_every_node(f, &found, missing, sizeof(missing)),
              "a console on %s: no answer to its locate from %s", transport, missing);
    virtbus_agent_list_free(&found);

    /* And every one is present, by its heartbeats. */
    w.c = f->console;
    cr_assert(fleet_run_until(f, presence_complete, &w, FLEET_WAIT_MS),
              "a console on %s: no heartbeat in presence from %s", transport, w.missing);

    /* Each lists its domains and runs a method. */
    for (i = 0; i < f->n; i++) {
        qmf_value *domains = fleet_query(f, i, "Domain", NULL), *caps;

        cr_assert_gt(qmf_list_len(domains), 0, "a console on %s: no domains of agent %zu",
                     transport, i);
        qmf_free(domains);
        caps = fleet_call_ok(f, i, "node", "getCapabilities", NULL);
        cr_assert_not_null(caps);
        qmf_free(caps);
    }
    virtbus_console_close(f->console);
    f->console = NULL;
}

Test(mixed, consoles_on_both_transports_find_and_drive_agents_on_both, .timeout = 240)
{
    struct test_fleet f;
    size_t i;

    fleet_init(&f);
    amqp10_url = url_amqp10(&f);
    for (i = 0; i < 4; i++)
        fleet_add_agent(&f, i % 2 == 0 ? "node1.xml" : "node2.xml", alternate);
    fleet_wait_ready(&f);

    drive_fleet(&f, f.url, "AMQP 0-9-1");
    drive_fleet(&f, amqp10_url, "AMQP 1.0");

    fleet_fini(&f);
    free(amqp10_url);
}
