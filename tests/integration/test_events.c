/*
 * Every event class reaches a subscriber bound to its own routing key
 * (agent.ind.event.org_libvirt.<event>.<severity>.virtbus.agent.<node>),
 * and object pushes follow changes, deletions included.
 *
 * The libvirt test driver raises domain, pool and network lifecycle events
 * itself.  It never raises reboot or device events, so for those the
 * agent's handlers are driven the way libvirt's callbacks drive them (the
 * driver's forwarding of them is covered in test_drivers.c only as far as
 * registration); driverDisconnected and driverReconnected come from a real
 * libvirtd in test_reconnect.c.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "agent/agent_impl.h"
#include "core/codec.h"
#include "core/names.h"
#include "tests/integration/harness.h"

#define WEB1 "domain:10000000-0000-4000-8000-000000000001"
#define POOL "pool:1a000000-0000-4000-8000-000000000001"
#define NET "network:1b000000-0000-4000-8000-000000000001"

/* The console binds each event class by its own key (any severity, any
 * node) and nothing else, so that an event seen proves its routing key. */
static const char *const event_keys[] = {
    "agent.ind.event.org_libvirt.agentStarted.*.virtbus.agent.*",
    "agent.ind.event.org_libvirt.agentStopping.*.virtbus.agent.*",
    "agent.ind.event.org_libvirt.domainLifecycle.*.virtbus.agent.*",
    "agent.ind.event.org_libvirt.domainReboot.*.virtbus.agent.*",
    "agent.ind.event.org_libvirt.domainDeviceAdded.*.virtbus.agent.*",
    "agent.ind.event.org_libvirt.domainDeviceRemoved.*.virtbus.agent.*",
    "agent.ind.event.org_libvirt.poolLifecycle.*.virtbus.agent.*",
    "agent.ind.event.org_libvirt.networkLifecycle.*.virtbus.agent.*",
    "agent.ind.event.org_libvirt.commandResult.*.virtbus.agent.*",
    "agent.ind.data.org_libvirt.*.virtbus.agent.*",
    NULL,
};

static void
stopped(struct agent *a, void *opaque)
{
    *(bool *)opaque = true;
}

static bool
flag_set(void *arg)
{
    return *(bool *)arg;
}

static bool
has_delete_ts(const qmf_value *data)
{
    return qmf_map_get(data, "_delete_ts") != NULL;
}

Test(events, every_event_on_its_routing_key, .timeout = 180)
{
    struct test_fleet f;
    struct agent *a;
    int64_t severity = -1;
    qmf_value *item, *args, *out;
    const char *key;
    bool done = false;

    fleet_init(&f);
    /* The console first, so that it hears the agent start. */
    fleet_open_console(&f, event_keys);
    a = fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    item = fleet_expect_watch(&f, 0, "agentStarted", NULL);
    /* QMFv2's severity (5 notice; an int8, which JSON carries as a
     * number), and the word beside it. */
    cr_assert(qmf_get_int64(qmf_map_get(item, "_severity"), &severity));
    cr_assert_eq(severity, SCHEMA_SEV_NOTICE);
    cr_assert_str_eq(qmf_map_get_string(item, "_severity_name"), "notice");
    qmf_free(item);

    /* Domain lifecycle, and the object push that follows. */
    qmf_free(fleet_call_ok(&f, 0, WEB1, "shutdown", NULL));
    qmf_free(fleet_expect_watch(&f, 0, "domainLifecycle", "domain", "web1",
                                "event", "stopped", "detail", "shutdown", NULL));
    qmf_free(fleet_expect_watch(&f, 0, "Domain", "name", "web1", "state", "shutoff", NULL));
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "shutdown",
                                "outcome", "ok", NULL));

    /* Pool lifecycle; the pool's push shows it inactive. */
    qmf_free(fleet_call_ok(&f, 0, POOL, "destroy", NULL));
    qmf_free(fleet_expect_watch(&f, 0, "poolLifecycle", "pool", "node1-pool",
                                "event", "stopped", NULL));
    qmf_free(fleet_expect_watch(&f, 0, "Pool", "name", "node1-pool", "state", "inactive",
                                NULL));
    qmf_free(fleet_call_ok(&f, 0, POOL, "create", NULL));
    qmf_free(fleet_expect_watch(&f, 0, "poolLifecycle", "pool", "node1-pool",
                                "event", "started", NULL));

    /* A new volume is pushed; deleting it pushes it once more, deleted. */
    args = qmf_map();
    qmf_map_set(args, "name", qmf_string("events.img"));
    qmf_map_set(args, "capacity", qmf_u64(1 << 20));
    out = fleet_call_ok(&f, 0, POOL, "createVolume", args);
    qmf_free(args);
    key = qmf_map_get_string(qmf_map_get(out, "volume"), "_object_name");
    cr_assert_not_null(key, "createVolume returns the new volume's objId");
    item = fleet_expect_watch(&f, 0, "Volume", "name", "events.img", NULL);
    cr_assert_not(has_delete_ts(item));
    qmf_free(item);
    qmf_free(fleet_call_ok(&f, 0, key, "delete", NULL));
    item = fleet_expect_watch(&f, 0, "Volume", "name", "events.img", NULL);
    cr_assert(has_delete_ts(item), "a deleted object is pushed with _delete_ts");
    qmf_free(item);
    qmf_free(out);

    /* Network lifecycle. */
    qmf_free(fleet_call_ok(&f, 0, NET, "destroy", NULL));
    qmf_free(fleet_expect_watch(&f, 0, "networkLifecycle", "network", "node1-net",
                                "event", "stopped", NULL));
    qmf_free(fleet_expect_watch(&f, 0, "Network", "name", "node1-net", NULL));

    /* Reboot and device events, as libvirt's callbacks deliver them. */
    agent_driver_events.domain_reboot(a, "10000000-0000-4000-8000-000000000002", "web2");
    qmf_free(fleet_expect_watch(&f, 0, "domainReboot", "domain", "web2", NULL));
    agent_driver_events.domain_device(a, "10000000-0000-4000-8000-000000000002", "web2",
                                      "net1", true);
    qmf_free(fleet_expect_watch(&f, 0, "domainDeviceAdded", "domain", "web2",
                                "device", "net1", NULL));
    agent_driver_events.domain_device(a, "10000000-0000-4000-8000-000000000002", "web2",
                                      "net1", false);
    qmf_free(fleet_expect_watch(&f, 0, "domainDeviceRemoved", "domain", "web2",
                                "device", "net1", NULL));

    /* A failed command is recorded too. */
    {
        qmf_value *id = fleet_object_id(&f, 0, WEB1);
        struct virtbus_result r;
        qmf_error err;

        cr_assert(virtbus_call(f.console, agent_name(a), id, "destroy", NULL,
                               FLEET_REPLY_MS, &r, &err) == 0);
        cr_assert_eq(r.status, VIRTBUS_FAILED, "web1 is not running");
        virtbus_result_clear(&r);
        qmf_free(id);
        qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "destroy",
                                    "outcome", "error", NULL));
    }

    /* The goodbye. */
    agent_stop(a, stopped, &done);
    cr_assert(fleet_run_until(&f, flag_set, &done, FLEET_WAIT_MS));
    qmf_free(fleet_expect_watch(&f, 0, "agentStopping", NULL));
    fleet_fini(&f);
}

/* The domain's values as the inventory has them, autostart flipped. */
static qmf_value *
flipped_autostart(struct agent *a, const char *name)
{
    const struct inv_object *o = inv_get(&a->inv, name);
    qmf_value *values;

    cr_assert_not_null(o, "%s is in the inventory", name);
    values = qmf_dup(o->values);
    qmf_map_set(values, "autostart", qmf_bool(!qmf_as_bool(qmf_map_get(values, "autostart"))));
    return values;
}

static bool
never(void *arg)
{
    (void)arg;
    return false;
}

Test(events, changes_of_one_pass_are_pushed_together_in_order, .timeout = 120)
{
    static const char *const names[] = {
        "domain:10000000-0000-4000-8000-000000000002",
        WEB1,
        "domain:10000000-0000-4000-8000-000000000002",
    };
    struct test_fleet f;
    amqp_connection_state_t raw;
    amqp_queue_declare_ok_t *q;
    amqp_message_t msg;
    amqp_rpc_reply_t r;
    struct agent *a;
    qmf_value *body;
    qmf_error err;
    char *key, *queue;
    size_t i;

    fleet_init(&f);
    a = fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    raw = test_raw_connect(f.url);
    q = amqp_queue_declare(raw, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    cr_assert_not_null(q);
    queue = qmf_xstrndup(q->queue.bytes, q->queue.len);
    key = qmf_name_data_key("Domain", f.nodes[0]);
    cr_assert_not_null(amqp_queue_bind(raw, 1, amqp_cstring_bytes(queue),
                                       amqp_cstring_bytes("qmf.default.topic"),
                                       amqp_cstring_bytes(key), amqp_empty_table));

    /* Three changes, two objects, one pass (the loop is not running). */
    for (i = 0; i < 3; i++)
        agent_apply_object(a, names[i], flipped_autostart(a, names[i]), false);
    fleet_run_until(&f, never, NULL, 1000);

    r = amqp_basic_get(raw, 1, amqp_cstring_bytes(queue), 1);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    cr_assert_eq(r.reply.id, AMQP_BASIC_GET_OK_METHOD, "the changes were pushed");
    r = amqp_read_message(raw, 1, &msg, 0);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    body = qmf_from_json(msg.body.bytes, msg.body.len, &err);
    cr_assert_not_null(body, "%s", err.text);
    cr_assert_eq(qmf_list_len(body), 3, "one push holds every change of the pass");
    for (i = 0; i < 3; i++) {
        const qmf_value *oid = qmf_map_get(qmf_list_at(body, i), "_object_id");

        cr_assert_str_eq(qmf_map_get_string(oid, "_object_name"), names[i],
                         "in the order they were made");
    }
    qmf_free(body);
    amqp_destroy_message(&msg);

    free(key);
    free(queue);
    test_raw_close(raw);
    fleet_fini(&f);
}
