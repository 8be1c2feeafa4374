/*
 * The agent end to end, on the real broker and real libvirt test drivers:
 * locate, query, method call and event; bad requests answered with
 * _exception while the agent keeps serving; several agents on one loop;
 * answers too big for one message, which come in parts.  The file runs
 * twice (tests/CMakeLists.txt): on AMQP 0-9-1 and, with
 * VIRTBUS_TEST_TRANSPORT=amqp10, with the agents and the console on 1.0.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "agent/agent_impl.h"
#include "core/codec.h"
#include "tests/integration/harness.h"
#include "tests/testutil.h"

#define WEB1_UUID "10000000-0000-4000-8000-000000000001"
#define DBTEST_UUID "10000000-0000-4000-8000-000000000003"

static qmf_value *
parse(const char *json)
{
    qmf_error err;
    qmf_value *v = qmf_from_json(json, strlen(json), &err);

    cr_assert(v != NULL, "%s: %s", json, err.text);
    return v;
}

static void
expect_exception(struct virtbus_result r, uint32_t code, const char *text_part)
{
    cr_assert_eq(r.status, VIRTBUS_FAILED, "expected error %u, got status %d", code, r.status);
    cr_assert_eq(r.error.code, code, "expected error %u, got %u: %s", code, r.error.code,
                 r.error.text);
    cr_assert(strstr(r.error.text, text_part) != NULL, "'%s' not in '%s'", text_part,
              r.error.text);
    virtbus_result_clear(&r);
}

/* The agent still serves: a plain query answers with the fixture's domains. */
static void
expect_still_serving(struct test_fleet *f, size_t agent)
{
    qmf_value *list = fleet_query(f, agent, "Domain", NULL);

    cr_assert_eq(qmf_list_len(list), 3);
    qmf_free(list);
}

Test(agent, locate_query_call_event, .timeout = 120)
{
    static const char *const watch[] = { "agent.ind.event.#", "agent.ind.data.#", NULL };
    struct test_fleet f;
    struct virtbus_agent_list found;
    struct virtbus_results res;
    struct virtbus_result r;
    qmf_value *list, *where, *id;
    const qmf_value *web1;
    qmf_error err;
    size_t i, mine = 0;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_add_agent(&f, "node2.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, watch);

    /* Locate finds both agents of this process, with their attributes. */
    cr_assert(virtbus_locate(f.console, NULL, FLEET_REPLY_MS, &found, &err) == 0, "%s", err.text);
    for (i = 0; i < found.n; i++) {
        if (strcmp(found.items[i].node, f.nodes[0]) == 0 ||
            strcmp(found.items[i].node, f.nodes[1]) == 0) {
            mine++;
            cr_assert_str_eq(qmf_map_get_string(found.items[i].attrs, "hypervisorType"), "TEST");
            cr_assert_str_eq(qmf_map_get_string(found.items[i].attrs, "driver"), "connected");
        }
    }
    cr_assert_eq(mine, 2, "locate found %zu of our 2 agents", mine);
    virtbus_agent_list_free(&found);

    /* A query by class: every domain of node1.xml with its state. */
    list = fleet_query(&f, 0, "Domain", NULL);
    cr_assert_eq(qmf_list_len(list), 3);
    web1 = fleet_find(list, "web1");
    cr_assert(web1 != NULL);
    cr_assert_str_eq(fleet_state(web1), "running");
    cr_assert_str_eq(qmf_map_get_string(qmf_map_get(web1, "_object_id"), "_object_name"),
                     "domain:" WEB1_UUID);
    cr_assert_str_eq(qmf_map_get_string(qmf_map_get(web1, "_schema_id"), "_class_name"),
                     "Domain");
    cr_assert_eq(qmf_map_get(qmf_map_get(web1, "_values"), "active")->kind, QMF_BOOL);
    qmf_free(list);

    /* ... and with a _where: numbers compare as numbers, re_match works. */
    where = parse("[\"and\", [\"re_match\", \"name\", [\"quote\", \"^web\"]],"
                  " [\"gt\", \"memory\", 1600000]]");
    list = fleet_query(&f, 0, "Domain", where);
    cr_assert_eq(qmf_list_len(list), 1, "only web2 has more than 1.6 GB of memory");
    cr_assert(fleet_find(list, "web2") != NULL);
    qmf_free(list);
    qmf_free(where);

    /* A query by object id. */
    {
        struct bus_message *m;
        qmf_value *body = qmf_map();

        qmf_map_set(body, "_what", qmf_string("OBJECT"));
        qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, "domain:" DBTEST_UUID));
        m = fleet_request("_query_request", body);
        r = fleet_ask(&f, 0, m);
        cr_assert_eq(r.status, VIRTBUS_OK);
        cr_assert_eq(qmf_list_len(r.value), 1);
        cr_assert(fleet_find(r.value, "db-test") != NULL);
        virtbus_result_clear(&r);
    }

    /* SCHEMA_ID and SCHEMA answers come from the schema tables. */
    {
        struct virtbus_agent_list one;
        const qmf_value *cls;

        fleet_agent_list(&f, 0, 1, &one);
        cr_assert(virtbus_query(f.console, &one, "SCHEMA_ID", NULL, NULL, FLEET_REPLY_MS,
                                &res, &err) == 0);
        cr_assert_eq(res.items[0].status, VIRTBUS_OK);
        cr_assert_eq(qmf_list_len(res.items[0].value), f.schema->nclasses);
        {
            /* Over JSON a uuid travels as its canonical text. */
            const char *hash = qmf_map_get_string(qmf_list_at(res.items[0].value, 0), "_hash");
            uint8_t bytes[16];

            cr_assert(hash != NULL && qmf_uuid_parse(hash, bytes), "bad _hash");
        }
        virtbus_results_free(&res);
        cr_assert(virtbus_query(f.console, &one, "SCHEMA", "Domain", NULL, FLEET_REPLY_MS,
                                &res, &err) == 0);
        cr_assert_eq(res.items[0].status, VIRTBUS_OK);
        cr_assert_eq(qmf_list_len(res.items[0].value), 1);
        cls = qmf_list_at(res.items[0].value, 0);
        cr_assert(qmf_list_len(qmf_map_get(cls, "_methods")) >= 10);
        virtbus_results_free(&res);
        virtbus_agent_list_free(&one);
    }

    /* A method call: web1 shuts down, and a query right after shows it. */
    id = fleet_object_id(&f, 0, "domain:" WEB1_UUID);
    cr_assert(virtbus_call(f.console, agent_name(f.agents[0]), id, "shutdown", NULL,
                           FLEET_REPLY_MS, &r, &err) == 0, "%s", err.text);
    cr_assert_eq(r.status, VIRTBUS_OK, "shutdown failed: %s", r.error.text);
    virtbus_result_clear(&r);
    list = fleet_query(&f, 0, "Domain", NULL);
    cr_assert_str_eq(fleet_state(fleet_find(list, "web1")), "shutoff");
    qmf_free(list);

    /* The lifecycle event and the object push reach a subscriber. */
    qmf_free(fleet_expect_watch(&f, 0, "domainLifecycle", "domain", "web1",
                                "event", "stopped", NULL));
    qmf_free(fleet_expect_watch(&f, 0, "Domain", "name", "web1", "state", "shutoff", NULL));
    /* And the audit record names who asked. */
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "shutdown",
                                "outcome", "ok", "requester", "tests",
                                "requesterKey", f.trust.console_key_id, NULL));
    qmf_free(id);

    /* The second agent's domains were never touched. */
    list = fleet_query(&f, 1, "Domain", NULL);
    cr_assert_str_eq(fleet_state(fleet_find(list, "db1")), "running");
    qmf_free(list);
    fleet_fini(&f);
}

/* What virtbus_call answers for method on agent 0's object_name. */
static struct virtbus_result
call_result(struct test_fleet *f, const char *object_name, const char *method)
{
    qmf_value *id = fleet_object_id(f, 0, object_name);
    struct virtbus_result r;
    qmf_error err;

    cr_assert(virtbus_call(f->console, agent_name(f->agents[0]), id, method, NULL,
                           FLEET_REPLY_MS, &r, &err) == 0, "%s", err.text);
    qmf_free(id);
    return r;
}

static void
small_bodies(struct agent_config *cfg, size_t index)
{
    cfg->max_body = 64 * 1024;
}

Test(agent, bad_requests_get_exceptions, .timeout = 120)
{
    struct test_fleet f;
    struct bus_message *m;
    qmf_value *body, *args;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", small_bodies);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);

    /* Unknown method. */
    body = qmf_map();
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, "domain:" WEB1_UUID));
    qmf_map_set(body, "_method_name", qmf_string("fly"));
    expect_exception(fleet_ask(&f, 0, fleet_request("_method_request", body)),
                     QMF_ERR_UNKNOWN_METHOD, "no method 'fly'");
    /* The same by virtbus_call: a name in the wrong case, a method of
     * another class. */
    expect_exception(call_result(&f, "domain:" WEB1_UUID, "GETXMLDESC"), QMF_ERR_UNKNOWN_METHOD,
                     "no method 'GETXMLDESC'");
    expect_exception(call_result(&f, "node", "suspend"), QMF_ERR_UNKNOWN_METHOD,
                     "no method 'suspend'");
    expect_still_serving(&f, 0);

    /* Unknown object. */
    body = qmf_map();
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, "domain:00000000-0000-4000-8000-00000000dead"));
    qmf_map_set(body, "_method_name", qmf_string("create"));
    expect_exception(fleet_ask(&f, 0, fleet_request("_method_request", body)),
                     QMF_ERR_UNKNOWN_OBJECT, "no object");
    expect_still_serving(&f, 0);

    /* Malformed JSON. */
    m = fleet_request("_query_request", NULL);
    m->raw_body = qmf_xstrdup("{\"_what\": \"OBJECT\", ");
    m->raw_len = strlen(m->raw_body);
    expect_exception(fleet_ask(&f, 0, m), QMF_ERR_MALFORMED, "");
    expect_still_serving(&f, 0);

    /* Wrongly typed arguments: flags is a uint32. */
    body = qmf_map();
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, "domain:" DBTEST_UUID));
    qmf_map_set(body, "_method_name", qmf_string("create"));
    args = qmf_map_set(body, "_arguments", qmf_map());
    qmf_map_set(args, "flags", qmf_string("fast"));
    expect_exception(fleet_ask(&f, 0, fleet_request("_method_request", body)),
                     QMF_ERR_INVALID_ARGS, "flags");
    expect_still_serving(&f, 0);

    /* An argument the method does not have. */
    body = qmf_map();
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, "domain:" DBTEST_UUID));
    qmf_map_set(body, "_method_name", qmf_string("create"));
    args = qmf_map_set(body, "_arguments", qmf_map());
    qmf_map_set(args, "speed", qmf_u32(3));
    expect_exception(fleet_ask(&f, 0, fleet_request("_method_request", body)),
                     QMF_ERR_INVALID_ARGS, "speed");

    /* No opcode, an unknown opcode, a body that is not a map. */
    body = qmf_map();
    expect_exception(fleet_ask(&f, 0, fleet_request(NULL, body)), QMF_ERR_MALFORMED, "qmf.opcode");
    expect_exception(fleet_ask(&f, 0, fleet_request("_teleport_request", qmf_map())),
                     QMF_ERR_MALFORMED, "unknown opcode");
    expect_exception(fleet_ask(&f, 0, fleet_request("_query_request", qmf_list())),
                     QMF_ERR_MALFORMED, "must be a map");
    expect_exception(fleet_ask(&f, 0, fleet_request("_query_request", qmf_map())),
                     QMF_ERR_MALFORMED, "_what");

    /* A bad _where is refused with its reason. */
    body = qmf_map();
    qmf_map_set(body, "_what", qmf_string("OBJECT"));
    qmf_map_set(body, "_where", parse("[\"frobnicate\", \"name\"]"));
    expect_exception(fleet_ask(&f, 0, fleet_request("_query_request", body)), QMF_ERR_INVALID_ARGS, "");

    /* An unknown class. */
    body = parse("{\"_what\": \"OBJECT\", \"_schema_id\": {\"_class_name\": \"Toaster\"}}");
    expect_exception(fleet_ask(&f, 0, fleet_request("_query_request", body)),
                     QMF_ERR_UNKNOWN_OBJECT, "Toaster");

    /* An expired request is not executed. */
    body = qmf_map();
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, "domain:" DBTEST_UUID));
    qmf_map_set(body, "_method_name", qmf_string("create"));
    m = fleet_request("_method_request", body);
    m->created_ms = 1000;       /* 1970 */
    m->ttl_ms = 5000;
    expect_exception(fleet_ask(&f, 0, m), QMF_ERR_EXPIRED, "expired");
    {
        qmf_value *list = fleet_query(&f, 0, "Domain", NULL);

        cr_assert_str_eq(fleet_state(fleet_find(list, "db-test")), "shutoff",
                         "the expired create ran anyway");
        qmf_free(list);
    }

    /* An oversized body (the limit is 64 KiB here). */
    m = fleet_request("_query_request", NULL);
    m->raw_len = 100 * 1024;
    m->raw_body = qmf_xmalloc(m->raw_len);
    memset(m->raw_body, ' ', m->raw_len);
    memcpy(m->raw_body, "{\"_what\": \"OBJECT\"}", 19);
    expect_exception(fleet_ask(&f, 0, m), QMF_ERR_TOO_LARGE, "");
    expect_still_serving(&f, 0);

    /* A libvirt failure carries libvirt's code and text. */
    body = qmf_map();
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, "domain:" DBTEST_UUID));
    qmf_map_set(body, "_method_name", qmf_string("destroy"));
    {
        struct virtbus_result r = fleet_ask(&f, 0, fleet_request("_method_request", body));

        cr_assert_eq(r.status, VIRTBUS_FAILED);
        cr_assert(r.error.code & QMF_ERR_LIBVIRT, "code %#x", r.error.code);
        cr_assert(strstr(r.error.text, "not running") != NULL, "%s", r.error.text);
        virtbus_result_clear(&r);
    }
    expect_still_serving(&f, 0);
    fleet_fini(&f);
}

Test(agent, several_agents_share_one_loop, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_agent_list all;
    struct virtbus_results res;
    struct virtbus_result r;
    qmf_value *id, *list;
    qmf_error err;
    size_t i;

    /* Three agents in this one process, two on the same fixture: each has
     * its own hypervisor connection and so its own state. */
    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_add_agent(&f, "node3.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);

    fleet_agent_list(&f, 0, 3, &all);
    cr_assert(virtbus_query(f.console, &all, "OBJECT", "Domain", NULL, FLEET_REPLY_MS,
                            &res, &err) == 0, "%s", err.text);
    cr_assert_eq(res.n, 3);
    for (i = 0; i < res.n; i++) {
        cr_assert_eq(res.items[i].status, VIRTBUS_OK, "%s: %s", res.items[i].node,
                     res.items[i].error.text);
        cr_assert_eq(qmf_list_len(res.items[i].value), 3);
    }
    virtbus_results_free(&res);
    virtbus_agent_list_free(&all);

    id = fleet_object_id(&f, 0, "domain:" WEB1_UUID);
    cr_assert(virtbus_call(f.console, agent_name(f.agents[0]), id, "destroy", NULL,
                           FLEET_REPLY_MS, &r, &err) == 0, "%s", err.text);
    cr_assert_eq(r.status, VIRTBUS_OK, "%s", r.error.text);
    virtbus_result_clear(&r);
    qmf_free(id);

    list = fleet_query(&f, 0, "Domain", NULL);
    cr_assert_str_eq(fleet_state(fleet_find(list, "web1")), "shutoff");
    qmf_free(list);
    list = fleet_query(&f, 1, "Domain", NULL);
    cr_assert_str_eq(fleet_state(fleet_find(list, "web1")), "running",
                     "the other agent's test driver must not share state");
    qmf_free(list);
    fleet_fini(&f);
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

/* One request broadcast with key console.request.<kind>, answered by agent i. */
static struct virtbus_result
ask_broadcast(struct test_fleet *f, size_t i, const char *kind, struct bus_message *m)
{
    char *address = virtbus_broadcast_address(kind);
    struct virtbus_agent_list one;
    struct virtbus_results res;
    struct virtbus_result r;
    qmf_error err;

    fleet_agent_list(f, i, 1, &one);
    cr_assert(virtbus_request_message(f->console, address, m, &one, FLEET_REPLY_MS, &res,
                                      &err) == 0, "%s", err.text);
    cr_assert_eq(res.n, 1);
    r = res.items[0];
    free(res.items);
    virtbus_agent_list_free(&one);
    free(address);
    return r;
}

static void
wake(evutil_socket_t fd, short what, void *arg)
{
}

struct queue_wait {
    amqp_connection_state_t raw;
    const char *queue;
};

static bool
queue_not_empty(void *arg)
{
    const struct queue_wait *w = arg;

    return test_raw_queue_depth(w->raw, w->queue) > 0;
}

/*
 * Broadcast queries come by the agent's private queue: answered there, a
 * command sent that way is refused (it could not wait for a stopped
 * agent), and an agent that is gone collects none of them.
 */
Test(agent, broadcast_queries_come_by_a_private_queue, .timeout = 120)
{
    amqp_connection_state_t raw;
    struct virtbus_result r;
    struct test_fleet f;
    bool stopped = false;
    char *queue;
    qmf_value *body, *list;
    int i;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    queue = qmf_xasprintf("virtbus.agent.%s", f.nodes[0]);
    raw = test_raw_connect(f.url);

    r = ask_broadcast(&f, 0, "query", fleet_request("_query_request",
                                                    parse("{\"_what\": \"OBJECT\", "
                                                          "\"_schema_id\": {\"_class_name\": "
                                                          "\"Domain\"}}")));
    cr_assert_eq(r.status, VIRTBUS_OK, "%s", r.error.text);
    cr_assert_eq(qmf_list_len(r.value), 3);
    virtbus_result_clear(&r);

    body = qmf_map();
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, "web1"));
    qmf_map_set(body, "_method_name", qmf_string("suspend"));
    expect_exception(ask_broadcast(&f, 0, "query", fleet_request("_method_request", body)),
                     QMF_ERR_INVALID_ARGS, "console.request.method");
    expect_still_serving(&f, 0);
    list = fleet_query(&f, 0, "Domain", NULL);
    cr_assert_str_eq(fleet_state(fleet_find(list, "web1")), "running", "the refused command ran");
    qmf_free(list);

    agent_stop(f.agents[0], stopped_cb, &stopped);
    cr_assert(fleet_run_until(&f, flag_set, &stopped, 30000), "the agent did not stop");
    for (i = 0; i < 5; i++) {
        /* Two queries, a locate and a method that changes nothing, then a
         * command, which does wait in the durable queue: once it is
         * there, so would be the others. */
        static const char *const kinds[] = { "query", "query", "agent_locate", "read",
                                             "method" };
        struct bus_message *m = fleet_request(i < 3 ? "_query_request" : "_method_request",
                                              parse(i == 3 ? "{\"_object_id\": {\"_object_name\": "
                                                             "\"node\"}, \"_method_name\": "
                                                             "\"getCapabilities\"}"
                                                           : "{\"_what\": \"OBJECT\"}"));
        char *address = virtbus_broadcast_address(kinds[i]);
        qmf_error err;

        cr_assert_eq(virtbus_send(f.console, address, m, &err), 0, "%s", err.text);
        free(address);
    }
    {
        /* The loop runs meanwhile: on AMQP 1.0 it is what writes the
         * console's sends out; a timer wakes it to look at the queue. */
        struct event *tick = event_new(f.base, -1, EV_PERSIST, wake, NULL);
        struct timeval period = { 0, 20000 };
        struct queue_wait w = { raw, queue };

        event_add(tick, &period);
        fleet_run_until(&f, queue_not_empty, &w, FLEET_WAIT_MS);
        event_free(tick);
    }
    cr_assert_eq(test_raw_queue_depth(raw, queue), 1,
                 "broadcast queries reached the queue of an agent that is gone");
    amqp_queue_delete(raw, 1, amqp_cstring_bytes(queue), 0, 0);
    test_raw_close(raw);
    free(queue);
    fleet_fini(&f);
}

/*
 * Methods that change nothing are broadcast with their own key to the
 * query queue and answered there (PROTOCOL.md §7.8); a method that changes
 * things sent with that key is refused and does not run, as one sent with
 * a query's key is.
 */
Test(agent, read_only_methods_come_by_the_query_queue, .timeout = 120)
{
    struct virtbus_result r;
    struct test_fleet f;
    qmf_value *body, *list;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);

    body = qmf_map();
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, "node"));
    qmf_map_set(body, "_method_name", qmf_string("getCapabilities"));
    r = ask_broadcast(&f, 0, "read", fleet_request("_method_request", body));
    cr_assert_eq(r.status, VIRTBUS_OK, "%s", r.error.text);
    cr_assert_not_null(strstr(qmf_map_get_string(r.value, "capabilities"), "<capabilities"));
    virtbus_result_clear(&r);

    /* By selection too: every Domain's description, as _results. */
    body = parse("{\"_schema_id\": {\"_class_name\": \"Domain\"}, "
                 "\"_method_name\": \"getXMLDesc\"}");
    r = ask_broadcast(&f, 0, "read", fleet_request("_method_request", body));
    cr_assert_eq(r.status, VIRTBUS_OK, "%s", r.error.text);
    cr_assert_eq(qmf_list_len(r.value), 3);
    virtbus_result_clear(&r);

    body = qmf_map();
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, "domain:" WEB1_UUID));
    qmf_map_set(body, "_method_name", qmf_string("suspend"));
    expect_exception(ask_broadcast(&f, 0, "read", fleet_request("_method_request", body)),
                     QMF_ERR_INVALID_ARGS, "changes things");
    body = parse("{\"_schema_id\": {\"_class_name\": \"Domain\"}, "
                 "\"_method_name\": \"suspend\"}");
    expect_exception(ask_broadcast(&f, 0, "read", fleet_request("_method_request", body)),
                     QMF_ERR_INVALID_ARGS, "changes things");
    expect_still_serving(&f, 0);
    list = fleet_query(&f, 0, "Domain", NULL);
    cr_assert_str_eq(fleet_state(fleet_find(list, "web1")), "running", "the refused command ran");
    qmf_free(list);
    fleet_fini(&f);
}

/* _properties: only the named properties come back; a bad list is refused. */
Test(agent, queries_send_only_the_properties_asked_for, .timeout = 120)
{
    struct virtbus_result r;
    struct test_fleet f;
    const qmf_value *values;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);

    r = fleet_ask(&f, 0, fleet_request("_query_request",
                                       parse("{\"_what\": \"OBJECT\", \"_schema_id\": "
                                             "{\"_class_name\": \"Domain\"}, \"_properties\": "
                                             "[\"name\", \"state\", \"noSuchProperty\"]}")));
    cr_assert_eq(r.status, VIRTBUS_OK, "%s", r.error.text);
    cr_assert_eq(qmf_list_len(r.value), 3);
    values = qmf_map_get(qmf_list_at(r.value, 0), "_values");
    cr_assert_eq(qmf_map_len(values), 2, "expected name and state only");
    cr_assert_not_null(qmf_map_get(values, "name"));
    cr_assert_not_null(qmf_map_get(values, "state"));
    cr_assert_not_null(qmf_map_get(qmf_list_at(r.value, 0), "_object_id"));
    virtbus_result_clear(&r);

    expect_exception(fleet_ask(&f, 0, fleet_request("_query_request",
                                                    parse("{\"_what\": \"OBJECT\", "
                                                          "\"_properties\": \"name\"}"))),
                     QMF_ERR_INVALID_ARGS, "_properties must be a list");
    expect_exception(fleet_ask(&f, 0, fleet_request("_query_request",
                                                    parse("{\"_what\": \"OBJECT\", "
                                                          "\"_properties\": [\"name\", 3]}"))),
                     QMF_ERR_INVALID_ARGS, "item 1");
    expect_still_serving(&f, 0);
    fleet_fini(&f);
}

/* Domains enough for an answer of three messages: two full ones marked
 * partial, then the rest. */
#define MANY_DOMAINS (2 * AGENT_ANSWER_BATCH + 50)

/* A test-driver node of MANY_DOMAINS running domains many-000..., written
 * to dir; returns its URI (malloc'd). */
static char *
many_domains_node(const char *dir)
{
    char *path = qmf_xasprintf("%s/many.xml", dir), *uri;
    FILE *out = fopen(path, "w");
    int i;

    cr_assert_not_null(out, "%s", path);
    fprintf(out, "<node>\n");
    for (i = 0; i < MANY_DOMAINS; i++)
        fprintf(out, "<domain type='test'><name>many-%03d</name>"
                "<uuid>30000000-0000-4000-8000-%012d</uuid><memory>65536</memory>"
                "<vcpu>1</vcpu><os><type>hvm</type></os></domain>\n", i, i);
    fprintf(out, "</node>\n");
    cr_assert_eq(fclose(out), 0);
    uri = qmf_xasprintf("test://%s", path);
    free(path);
    return uri;
}

/* Every many-NNN domain exactly once in items: objects (their _values'
 * name) or a command's per-object results (their _name). */
static void
expect_each_domain_once(const qmf_value *items, bool values, const char *what)
{
    bool seen[MANY_DOMAINS] = { false };
    size_t i;

    cr_assert_eq(qmf_list_len(items), MANY_DOMAINS, "%s: %zu of %d domains", what,
                 qmf_list_len(items), MANY_DOMAINS);
    for (i = 0; i < qmf_list_len(items); i++) {
        const qmf_value *item = qmf_list_at(items, i);
        const char *name = values ? qmf_map_get_string(qmf_map_get(item, "_values"), "name")
                                  : qmf_map_get_string(item, "_name");
        int n;

        cr_assert(name != NULL && sscanf(name, "many-%d", &n) == 1 && n >= 0 &&
                  n < MANY_DOMAINS, "%s: item %zu names no domain of ours", what, i);
        cr_assert(!seen[n], "%s: %s twice", what, name);
        seen[n] = true;
    }
}

/*
 * Partial responses: an agent answers a query of more objects than one
 * message holds, and a command on as many, in several messages, every
 * one but the last marked `partial`; the console puts the parts together
 * and ends on the last.  (A console that took the first part for the
 * whole would have AGENT_ANSWER_BATCH objects, one that did not see the
 * last as the end would time out, and one that kept a part twice would
 * have a domain twice.)
 */
Test(agent, answers_in_parts_are_put_together, .timeout = 180)
{
    struct virtbus_send_opts o = { .timeout_ms = FLEET_REPLY_MS };
    struct virtbus_agent_list one;
    struct virtbus_results res;
    struct test_fleet f;
    char dir[64], *uri;
    qmf_value *list;
    qmf_error err;
    size_t i;

    test_tmpdir_make(dir, sizeof(dir), "virtbus-many");
    uri = many_domains_node(dir);
    fleet_init(&f);
    fleet_add_agent_uri(&f, uri, NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    fleet_agent_list(&f, 0, 1, &one);

    list = fleet_query(&f, 0, "Domain", NULL);
    expect_each_domain_once(list, true, "OBJECT query");
    qmf_free(list);

    cr_assert(virtbus_query(f.console, &one, "OBJECT_ID", "Domain", NULL, FLEET_REPLY_MS,
                            &res, &err) == 0, "%s", err.text);
    cr_assert_eq(res.items[0].status, VIRTBUS_OK, "%s", res.items[0].error.text);
    cr_assert_eq(qmf_list_len(res.items[0].value), MANY_DOMAINS, "OBJECT_ID query: %zu",
                 qmf_list_len(res.items[0].value));
    virtbus_results_free(&res);

    /* A command on every domain: its _results in parts, then each one
     * paused. */
    cr_assert(virtbus_call_where(f.console, &one, "Domain", NULL, "suspend", NULL, &o, &res,
                                 &err) == 0, "%s", err.text);
    cr_assert_eq(res.n, 1);
    cr_assert_eq(res.items[0].status, VIRTBUS_OK, "%s", res.items[0].error.text);
    expect_each_domain_once(res.items[0].value, false, "suspend's _results");
    for (i = 0; i < qmf_list_len(res.items[0].value); i++)
        cr_assert_not_null(qmf_map_get(qmf_list_at(res.items[0].value, i), "_arguments"),
                           "suspend of item %zu failed", i);
    virtbus_results_free(&res);
    list = fleet_query(&f, 0, "Domain", NULL);
    expect_each_domain_once(list, true, "OBJECT query after suspend");
    for (i = 0; i < qmf_list_len(list); i++)
        cr_assert_str_eq(fleet_state(qmf_list_at(list, i)), "paused");
    qmf_free(list);

    virtbus_agent_list_free(&one);
    fleet_fini(&f);
    free(uri);
    test_tmpdir_remove(dir);
}
