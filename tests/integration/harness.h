/*
 * In-process fleets for integration tests: agents on real libvirt test
 * drivers and a console, all on one libevent loop, talking through the
 * private broker.  Every wait is bounded and fails the test when exceeded.
 */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include <amqp.h>
#include <event2/event.h>

#include "agent/agent.h"
#include "controller/lib/virtbus_bus.h"
#include "trust/credential.h"
#include "trust/key.h"

#define FLEET_MAX 128
#define FLEET_WAIT_MS 20000       /* bound on any single wait */
#define FLEET_REPLY_MS 10000      /* timeout given to requests */

/*
 * Trust for a test (docs/SECURITY.md): an issuer, a caller the console signs
 * as (role admin, unless a test makes others), and a key and credential per
 * agent, in a private directory.  Every fleet signs: the tests run the way
 * a fleet is deployed.
 */
struct test_trust {
    char dir[64];
    struct trust_key *issuer;
    char *issuer_pub;               /* the issuer's public key file */
    char *console_key, *console_cred;
    char console_key_id[33];
    const char *issuers[2];         /* { issuer_pub, NULL } */
    /* A configuration for the virtbus CLI run by a test: it signs as the
     * console does and checks answers (VIRTBUS_CONFIG=cli_config). */
    char *cli_config;
};
void test_trust_init(struct test_trust *t);
void test_trust_fini(struct test_trust *t);
/* A key pair and a credential for name with roles (enum trust_role bits),
 * as <dir>/<name>.key and <name>.cred (<name>-2.key... for more keys of
 * one name); the paths are malloc'd (either pointer may be NULL). */
void test_trust_issue(struct test_trust *t, const char *name, unsigned roles,
                      char **key_path, char **cred_path);

struct test_fleet {
    struct event_base *base;
    struct workq *wq;
    struct schema *schema;
    struct bus_threads *bus_threads;   /* the agents' connection threads */
    char *url;
    struct agent *agents[FLEET_MAX];
    char *nodes[FLEET_MAX];
    struct agent_config *configs[FLEET_MAX];  /* what each agent started with */
    size_t n;
    struct virtbus_console *console;
    qmf_value *seen;          /* watch items not yet expected */
    char state_dir[64];       /* the agents' journals */
    struct test_trust trust;
};

/* Loop, libvirt event hook, schema and workers; no agent yet.  url, which
 * the agents and the console use, is of the test's transport
 * (test_bus_url: AMQP 1.0 when VIRTBUS_TEST_TRANSPORT=amqp10). */
void fleet_init(struct test_fleet *f);
/* Starts an agent on tests/fixtures/<fixture>; its node name is unique to
 * this test process.  cfg_edit, if given, adjusts its configuration; index
 * is the agent's position in the fleet. */
struct agent *fleet_add_agent(struct test_fleet *f, const char *fixture,
                              void (*cfg_edit)(struct agent_config *cfg, size_t index));
/* The same on any libvirt URI. */
struct agent *fleet_add_agent_uri(struct test_fleet *f, const char *uri,
                                  void (*cfg_edit)(struct agent_config *cfg, size_t index));
/* Waits until every agent serves. */
void fleet_wait_ready(struct test_fleet *f);
/* Opens the console (watch_keys may be NULL): it signs as the fleet's
 * admin caller and checks every answer against the fleet's issuer. */
void fleet_open_console(struct test_fleet *f, const char *const *watch_keys);
/* The same options, for a test that opens a console of its own. */
void fleet_console_options(const struct test_fleet *f, struct virtbus_console_options *o);
/* Who the agents take the fleet's console for (what its commands' journal
 * digests are made of). */
struct agent_caller;
void fleet_console_caller(const struct test_fleet *f, struct agent_caller *out);
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

/* {_agent_name, _object_name} of an object of agent i. */
qmf_value *fleet_object_id(const struct test_fleet *f, size_t agent, const char *name);
/* A request message with an opcode (NULL: none) and a body (consumed). */
struct bus_message *fleet_request(const char *opcode, qmf_value *body);
/* Sends m (consumed) to agent i and returns its one result (caller clears). */
struct virtbus_result fleet_ask(struct test_fleet *f, size_t agent, struct bus_message *m);
/* Calls a method and asserts it succeeded; returns its output arguments
 * (caller frees). */
qmf_value *fleet_call_ok(struct test_fleet *f, size_t agent, const char *object_name,
                         const char *method, const qmf_value *args);
/* The state property of a data map. */
const char *fleet_state(const qmf_value *data);

/*
 * Waits (bounded) for a watch message from agent i whose item has class
 * class_name and whose _values match every (field, value) pair given,
 * NULL-terminated.  The console must have been opened with watch keys
 * that bind it.  Returns the matching item, a data or event map (caller
 * frees).
 */
qmf_value *fleet_expect_watch(struct test_fleet *f, size_t agent,
                              const char *class_name, ...);

/* A private libvirtd with only its test driver, on a unix socket in a
 * temporary directory (for connection-loss tests). */
struct test_libvirtd {
    char dir[64];
    char *socket;       /* its unix socket */
    char *uri;          /* test+unix:///default?socket=... */
    pid_t pid;
};
void test_libvirtd_start(struct test_libvirtd *d);   /* again after kill: same socket */
void test_libvirtd_kill(struct test_libvirtd *d);    /* SIGKILL, by pid */
void test_libvirtd_stop(struct test_libvirtd *d);    /* kill and clean up */

/* rabbitmq-c used directly and blocking, to send or look at what the bus
 * never would: logged in, channel 1 open (an amqp10:// URL of a test means
 * the same broker). */
amqp_connection_state_t test_raw_connect(const char *url);
void test_raw_close(amqp_connection_state_t amqp);
/* Messages ready in a queue (passive declare). */
uint32_t test_raw_queue_depth(amqp_connection_state_t amqp, const char *queue);

#endif
