/*
 * In-process fleets for integration tests: agents on real libvirt test
 * drivers and a console, all on one libevent loop, talking through the
 * private broker.  Every wait is bounded and fails the test when exceeded.
 */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <stdbool.h>

#include <event2/event.h>

#include "agent/agent.h"
#include "controller/lib/virtbus.h"

#define FLEET_MAX 16
#define FLEET_WAIT_MS 20000       /* bound on any single wait */
#define FLEET_REPLY_MS 10000      /* timeout given to requests */

struct test_fleet {
    struct event_base *base;
    struct workq *wq;
    struct schema *schema;
    char *url;
    struct agent *agents[FLEET_MAX];
    char *nodes[FLEET_MAX];
    size_t n;
    struct virtbus_console *console;
};

/* Loop, libvirt event hook, schema and workers; no agent yet. */
void fleet_init(struct test_fleet *f);
/* Starts an agent on tests/fixtures/<fixture>; its node name is unique to
 * this test process.  cfg_edit, if given, adjusts its configuration. */
struct agent *fleet_add_agent(struct test_fleet *f, const char *fixture,
                              void (*cfg_edit)(struct agent_config *cfg));
/* Waits until every agent serves. */
void fleet_wait_ready(struct test_fleet *f);
/* Opens the console (watch_keys may be NULL). */
void fleet_open_console(struct test_fleet *f, const char *const *watch_keys);
/* The list of this fleet's agents, for virtbus_query and friends. */
void fleet_agent_list(const struct test_fleet *f, size_t first, size_t count,
                      struct virtbus_agent_list *out);
/* Runs the loop until cond(arg) is true; false if timeout_ms passed. */
bool fleet_run_until(struct test_fleet *f, bool (*cond)(void *arg), void *arg,
                     unsigned timeout_ms);
/* Stops every agent gracefully and frees everything. */
void fleet_fini(struct test_fleet *f);

/* A query of one agent's objects of a class; returns its result list
 * (owned by the caller) after asserting the agent answered OK. */
qmf_value *fleet_query(struct test_fleet *f, size_t agent, const char *class_name,
                       const qmf_value *where);
/* The data map of the object of class_name whose property `name` is
 * name, in a result list; NULL if none. */
const qmf_value *fleet_find(const qmf_value *results, const char *name);

#endif
