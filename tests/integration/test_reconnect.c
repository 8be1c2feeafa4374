/*
 * Losing the hypervisor: a private libvirtd is killed under a running
 * agent and started again.  Meanwhile the agent says so on the bus
 * (driverDisconnected), answers queries from its last inventory marked
 * _stale, refuses methods; afterwards it reconnects by itself, says so
 * (driverReconnected) and serves the new daemon's fresh inventory.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"

static bool
is_stale(const qmf_value *data)
{
    const qmf_value *v = qmf_map_get(data, "_stale");

    return v != NULL && v->kind == QMF_BOOL && qmf_as_bool(v);
}

static const char *
object_name(const qmf_value *data)
{
    return qmf_map_get_string(qmf_map_get(data, "_object_id"), "_object_name");
}

Test(reconnect, libvirtd_restart, .timeout = 180)
{
    /* Bound by the events' own routing keys. */
    static const char *const watch[] = {
        "agent.ind.event.org_libvirt.driverDisconnected.*.virtbus.agent.*",
        "agent.ind.event.org_libvirt.driverReconnected.*.virtbus.agent.*",
        NULL,
    };
    struct test_libvirtd d = { .pid = 0 };
    struct test_fleet f;
    struct virtbus_result r;
    qmf_value *list, *id;
    const qmf_value *test;
    qmf_error err;
    char *name;

    test_libvirtd_start(&d);
    fleet_init(&f);
    fleet_add_agent_uri(&f, d.uri, NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, watch);

    /* The daemon's default domain "test" runs; stop it. */
    list = fleet_query(&f, 0, "Domain", NULL);
    test = fleet_find(list, "test");
    cr_assert_not_null(test);
    cr_assert_str_eq(fleet_state(test), "running");
    cr_assert_not(is_stale(test));
    name = qmf_xstrdup(object_name(test));
    qmf_free(list);
    qmf_free(fleet_call_ok(&f, 0, name, "destroy", NULL));

    test_libvirtd_kill(&d);
    qmf_free(fleet_expect_watch(&f, 0, "driverDisconnected", NULL));

    /* Queries: the last inventory, marked stale. */
    list = fleet_query(&f, 0, "Domain", NULL);
    test = fleet_find(list, "test");
    cr_assert_not_null(test, "the last inventory is still served");
    cr_assert(is_stale(test), "objects must be marked _stale");
    cr_assert_str_eq(fleet_state(test), "shutoff");
    qmf_free(list);

    /* Methods: refused with a clear error. */
    id = fleet_object_id(&f, 0, name);
    cr_assert(virtbus_call(f.console, agent_name(f.agents[0]), id, "create", NULL,
                           FLEET_REPLY_MS, &r, &err) == 0, "%s", err.text);
    cr_assert_eq(r.status, VIRTBUS_FAILED);
    cr_assert_eq(r.error.code, QMF_ERR_DRIVER_DOWN, "%#x %s", r.error.code, r.error.text);
    virtbus_result_clear(&r);

    /* A new daemon: the agent finds it by itself. */
    test_libvirtd_start(&d);
    qmf_free(fleet_expect_watch(&f, 0, "driverReconnected", NULL));
    list = fleet_query(&f, 0, "Domain", NULL);
    test = fleet_find(list, "test");
    cr_assert_not_null(test);
    cr_assert_not(is_stale(test), "the inventory is fresh again");
    cr_assert_str_eq(fleet_state(test), "running",
                     "the new daemon's state, not the old inventory");
    qmf_free(list);
    qmf_free(fleet_call_ok(&f, 0, name, "destroy", NULL));

    qmf_free(id);
    free(name);
    fleet_fini(&f);
    test_libvirtd_stop(&d);
}
