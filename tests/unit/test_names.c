/* Unit tests for core/names.c: every builder, and the parsers on
 * good and bad input. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/names.h"

/* Frees what a builder returned after comparing it. */
static void
assert_built(char *got, const char *want)
{
    cr_assert_not_null(got);
    cr_assert_str_eq(got, want);
    free(got);
}

Test(names, key_escape)
{
    assert_built(qmf_name_key_escape("host.example.com#1*2"), "host_example_com_1_2");
    assert_built(qmf_name_key_escape("plain-node_1"), "plain-node_1");
    assert_built(qmf_name_key_escape(""), "");
    cr_assert_null(qmf_name_key_escape(NULL));
}

Test(names, agent_names_and_queues)
{
    assert_built(qmf_name_agent("hv1.example.com"), "virtbus:agent:hv1.example.com");
    assert_built(qmf_name_agent_key("hv1.example.com"), "virtbus.agent.hv1_example_com");
    assert_built(qmf_name_agent_key(NULL), "virtbus.agent.*");
    assert_built(qmf_name_command_queue("hv1.example.com"), "virtbus.agent.hv1.example.com");
    assert_built(qmf_name_lock_queue("hv1.example.com"), "virtbus.lock.hv1.example.com");
    assert_built(qmf_name_job_queue("0123abcd"), "virtbus.job.0123abcd");
}

Test(names, request_keys)
{
    assert_built(qmf_name_broadcast_key(QMF_NAME_KIND_LOCATE), "console.request.agent_locate");
    assert_built(qmf_name_broadcast_key(QMF_NAME_KIND_QUERY), "console.request.query");
    assert_built(qmf_name_broadcast_key(QMF_NAME_KIND_METHOD), "console.request.method");
    cr_assert_str_eq(QMF_NAME_READ_METHOD_KEY, "console.request.read");
    assert_built(qmf_name_qpid_locate_key("virtbus:agent:n1"),
                 "console.ind.locate.virtbus:agent:n1");
}

Test(names, indication_keys)
{
    assert_built(qmf_name_heartbeat_key("hv1.example.com"),
                 "agent.ind.heartbeat.virtbus.agent.hv1_example_com");
    assert_built(qmf_name_heartbeat_key(NULL), "agent.ind.heartbeat.virtbus.agent.*");
    assert_built(qmf_name_data_key("Domain", "n1"), "agent.ind.data.org_libvirt.Domain.virtbus.agent.n1");
    assert_built(qmf_name_data_key(NULL, NULL), "agent.ind.data.org_libvirt.*.virtbus.agent.*");
    assert_built(qmf_name_event_key("domainLifecycle", "info", "a.b"),
                 "agent.ind.event.org_libvirt.domainLifecycle.info.virtbus.agent.a_b");
    assert_built(qmf_name_event_key("domainLifecycle", NULL, NULL),
                 "agent.ind.event.org_libvirt.domainLifecycle.*.virtbus.agent.*");
    assert_built(qmf_name_event_key(NULL, NULL, "n1"),
                 "agent.ind.event.org_libvirt.*.*.virtbus.agent.n1");
    /* The presence stream's binding catches every heartbeat key. */
    cr_assert_str_eq(QMF_NAME_PRESENCE_KEY, "agent.ind.heartbeat.#");
}

Test(names, addresses)
{
    assert_built(qmf_name_exchange_address(QMF_NAME_EXCHANGE_TOPIC, "k.1"),
                 "/exchange/qmf.default.topic/k.1");
    assert_built(qmf_name_exchange_address("x", NULL), "/exchange/x/");
    assert_built(qmf_name_queue_address("virtbus.job.1"), "/queue/virtbus.job.1");
    cr_assert_str_eq(QMF_NAME_PRESENCE_ADDRESS, "/queue/virtbus.presence");
    cr_assert_str_eq(QMF_NAME_FLEET_ADDRESS, "/queue/virtbus.fleet");
    cr_assert_str_eq(QMF_NAME_JOBS_ADDRESS, "/queue/virtbus.jobs");
    cr_assert_str_eq(QMF_NAME_PRESENCE_MARKER_ADDRESS,
                     "/exchange/qmf.default.topic/virtbus.presence.marker");
    cr_assert_str_eq(QMF_NAME_FLEET_MARKER_ADDRESS,
                     "/exchange/qmf.default.topic/virtbus.fleet.marker");
    cr_assert_str_eq(QMF_NAME_DIRECT_REPLY_TO, "/queue/amq.rabbitmq.reply-to");
}

static void
assert_address(const char *address, const char *exchange, const char *key)
{
    char *x, *k;

    cr_assert_eq(qmf_name_address_parse(address, &x, &k), 0, "%s", address);
    cr_assert_str_eq(x, exchange, "%s", address);
    cr_assert_str_eq(k, key, "%s", address);
    free(x);
    free(k);
}

static void
assert_not_address(const char *address)
{
    char *x = (char *)"unset", *k = (char *)"unset";

    cr_assert_eq(qmf_name_address_parse(address, &x, &k), -1, "%s", address ? address : "NULL");
    cr_assert_null(x);
    cr_assert_null(k);
}

Test(names, address_parse)
{
    char *built = qmf_name_exchange_address("e", "a.b");

    assert_address(built, "e", "a.b");
    free(built);
    built = qmf_name_queue_address("q1");
    assert_address(built, "", "q1");
    free(built);
    assert_address("/exchange/x", "x", "");
    assert_address("/exchange/x/a/b", "x", "a/b");
    assert_address("qmf.default.topic/direct-console.7; {node: {type: topic}}",
                   "qmf.default.topic", "direct-console.7");
    assert_address("bare-key", QMF_NAME_EXCHANGE_DIRECT, "bare-key");
    assert_address("bare-key \t; {x}", QMF_NAME_EXCHANGE_DIRECT, "bare-key");
    /* Bytes that are not UTF-8 are a key like any other: the broker is
     * the judge of names, and the agent's allow-list of reply addresses. */
    assert_address("/queue/\xff\xfe", "", "\xff\xfe");

    assert_not_address(NULL);
    assert_not_address("");
    assert_not_address("/queue/");
    assert_not_address("/exchange/");
    assert_not_address("/exchange//k");
    assert_not_address("/topic/x");
    assert_not_address("/amq/queue/q");
    assert_not_address("/k");
    assert_not_address("; {x}");
    assert_not_address("  ;");
}

/* Qpid's reply-to forms (what tests/unit/test_qmfv2_wire.c held when
 * the parser was the bus's). */
Test(names, address_qpid_forms)
{
    char *x, *k;

    assert_address("qmf.default.topic/direct-console.abc", "qmf.default.topic",
                   "direct-console.abc");
    assert_address("qmf.default.direct/name", "qmf.default.direct", "name");
    assert_address("qmf.default.topic/direct-console.abc; {node: {type: topic}}",
                   "qmf.default.topic", "direct-console.abc");
    assert_address("qmf.default.topic", "qmf.default.direct", "qmf.default.topic");
    assert_address("bare-key", QMF_NAME_EXCHANGE_DIRECT, "bare-key");
    assert_address("x/", "x", "");
    assert_address("/exchange/qmf.default.direct/a/b", "qmf.default.direct", "a/b");
    assert_address("/queue/q", "", "q");
    cr_assert_eq(qmf_name_address_parse("; {create: always}", &x, &k), -1);
    cr_assert_eq(qmf_name_address_parse("/topic/x", &x, &k), -1);
}

Test(names, node_ok)
{
    char long_node[QMF_NAME_MAX + 2];

    cr_assert(qmf_name_node_ok("hv1.example-com_2"));
    cr_assert_not(qmf_name_node_ok(NULL));
    cr_assert_not(qmf_name_node_ok(""));
    cr_assert_not(qmf_name_node_ok("a:b"));
    cr_assert_not(qmf_name_node_ok("a b"));
    cr_assert_not(qmf_name_node_ok("a*"));
    cr_assert_not(qmf_name_node_ok("h\xc3\xa9"), "UTF-8, but not a node's letters");
    cr_assert_not(qmf_name_node_ok("h\xff"));
    memset(long_node, 'n', QMF_NAME_MAX);
    long_node[QMF_NAME_MAX] = '\0';
    cr_assert(qmf_name_node_ok(long_node));
    long_node[QMF_NAME_MAX] = 'n';
    long_node[QMF_NAME_MAX + 1] = '\0';
    cr_assert_not(qmf_name_node_ok(long_node));
}

Test(names, agent_node)
{
    char *built = qmf_name_agent("hv1.example.com"), *long_name;
    const char *node = "unset";
    size_t prefix = strlen(QMF_NAME_AGENT_PREFIX);

    cr_assert_eq(qmf_name_agent_node(built, &node), 0);
    cr_assert_str_eq(node, "hv1.example.com");
    cr_assert_eq(node, built + prefix, "points into the name");
    free(built);

    cr_assert_eq(qmf_name_agent_node(NULL, &node), -1);
    cr_assert_null(node);
    cr_assert_eq(qmf_name_agent_node("", &node), -1);
    cr_assert_eq(qmf_name_agent_node("virtbus:agent:", &node), -1, "no node");
    cr_assert_eq(qmf_name_agent_node("virtbus:agent", &node), -1);
    cr_assert_eq(qmf_name_agent_node("hv1", &node), -1, "no vendor and product");
    cr_assert_eq(qmf_name_agent_node("apache.org:qpidd:1234", &node), -1);
    cr_assert_eq(qmf_name_agent_node("virtbus:agent:a:b", &node), -1);
    cr_assert_eq(qmf_name_agent_node("Virtbus:agent:n1", &node), -1);
    cr_assert_eq(qmf_name_agent_node("virtbus:agent:n\xff", &node), -1, "not UTF-8");
    cr_assert_eq(qmf_name_agent_node("virtbus:agent:n\xc3\xa9", &node), -1);
    cr_assert_null(node);

    /* At the bound and past it. */
    long_name = malloc(QMF_NAME_MAX + 2);
    strcpy(long_name, QMF_NAME_AGENT_PREFIX);
    memset(long_name + prefix, 'n', QMF_NAME_MAX - prefix);
    long_name[QMF_NAME_MAX] = '\0';
    cr_assert_eq(qmf_name_agent_node(long_name, &node), 0);
    long_name[QMF_NAME_MAX] = 'n';
    long_name[QMF_NAME_MAX + 1] = '\0';
    cr_assert_eq(qmf_name_agent_node(long_name, &node), -1, "too long");
    free(long_name);
}

Test(names, agent_label)
{
    cr_assert_str_eq(qmf_name_agent_label("virtbus:agent:hv1.example.com"), "hv1.example.com");
    cr_assert_str_eq(qmf_name_agent_label("apache.org:qpidd:1234"), "1234");
    cr_assert_str_eq(qmf_name_agent_label("plain"), "plain");
    cr_assert_str_eq(qmf_name_agent_label(""), "");
    cr_assert_str_eq(qmf_name_agent_label("virtbus:agent:"), "");
    cr_assert_null(qmf_name_agent_label(NULL));
}

Test(names, key_is_agents)
{
    char *key = qmf_name_event_key("domainLifecycle", "info", "hv1.example.com");

    cr_assert(qmf_name_key_is_agents(key, "virtbus:agent:hv1.example.com"));
    cr_assert_not(qmf_name_key_is_agents(key, "virtbus:agent:hv1"), "another node");
    cr_assert_not(qmf_name_key_is_agents(key, "virtbus:agent:example.com"),
                  "a node whose key is a suffix of this one's");
    free(key);
    key = qmf_name_heartbeat_key("n1");
    cr_assert(qmf_name_key_is_agents(key, "virtbus:agent:n1"));
    cr_assert_not(qmf_name_key_is_agents(key, "apache.org:qpidd:n1"), "not virtbus's");
    cr_assert_not(qmf_name_key_is_agents(key, NULL));
    cr_assert_not(qmf_name_key_is_agents(NULL, "virtbus:agent:n1"));
    free(key);
    cr_assert_not(qmf_name_key_is_agents("virtbus.agent.n1", "virtbus:agent:n1"),
                  "the key name alone is no indication key");
    cr_assert_not(qmf_name_key_is_agents("", "virtbus:agent:n1"));
    cr_assert_not(qmf_name_key_is_agents("x_virtbus.agent.n1", "virtbus:agent:n1"));
}
