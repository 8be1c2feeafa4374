/* In-process fleets for integration tests (see harness.h). */
#include "tests/integration/harness.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <event2/thread.h>

#include "drivers/driver.h"
#include "tests/testutil.h"

void
fleet_init(struct test_fleet *f)
{
    qmf_error err;

    memset(f, 0, sizeof(*f));
    cr_assert(evthread_use_pthreads() == 0);
    f->base = event_base_new();
    cr_assert(f->base != NULL);
    cr_assert(drv_event_loop_install(f->base, &err) == 0, "%s", err.text);
    f->schema = schema_load_builtin(&err);
    cr_assert(f->schema != NULL, "%s", err.text);
    f->wq = workq_new(f->base, 4, &err);
    cr_assert(f->wq != NULL, "%s", err.text);
    f->url = test_broker_url();
}

struct agent *
fleet_add_agent(struct test_fleet *f, const char *fixture,
                void (*cfg_edit)(struct agent_config *cfg))
{
    struct agent_env env = { .base = f->base, .wq = f->wq, .schema = f->schema };
    struct agent_config cfg;
    struct agent *a;
    qmf_error err;
    char *uri = test_fixture_uri(fixture);

    cr_assert(f->n < FLEET_MAX);
    agent_config_defaults(&cfg);
    free(cfg.node);
    cfg.node = test_unique_name("node");
    free(cfg.broker);
    cfg.broker = qmf_xstrdup(f->url);
    free(cfg.uri);
    cfg.uri = uri;
    free(cfg.queue_type);
    cfg.queue_type = qmf_xstrdup("classic");
    cfg.heartbeat_interval = 1;
    if (cfg_edit)
        cfg_edit(&cfg);
    a = agent_new(&env, &cfg, &err);
    cr_assert(a != NULL, "%s", err.text);
    f->nodes[f->n] = qmf_xstrdup(cfg.node);
    f->agents[f->n++] = a;
    agent_config_free(&cfg);
    cr_assert(agent_start(a) == 0);
    return a;
}

static void
flag_cb(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

bool
fleet_run_until(struct test_fleet *f, bool (*cond)(void *arg), void *arg,
                unsigned timeout_ms)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    bool expired = false;
    struct event *timer = evtimer_new(f->base, flag_cb, &expired);

    evtimer_add(timer, &tv);
    while (!cond(arg) && !expired)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(timer);
    return cond(arg);
}

static bool
all_ready(void *arg)
{
    struct test_fleet *f = arg;
    size_t i;

    for (i = 0; i < f->n; i++)
        if (!agent_is_ready(f->agents[i]))
            return false;
    return true;
}

void
fleet_wait_ready(struct test_fleet *f)
{
    cr_assert(fleet_run_until(f, all_ready, f, FLEET_WAIT_MS),
              "agents did not become ready within %d ms", FLEET_WAIT_MS);
}

void
fleet_open_console(struct test_fleet *f, const char *const *watch_keys)
{
    struct virtbus_console_options o = { .url = f->url, .watch_keys = watch_keys };
    qmf_error err;

    f->console = virtbus_console_open(f->base, &o, &err);
    cr_assert(f->console != NULL, "%s", err.text);
}

void
fleet_agent_list(const struct test_fleet *f, size_t first, size_t count,
                 struct virtbus_agent_list *out)
{
    size_t i;

    out->items = qmf_xcalloc(count, sizeof(*out->items));
    out->n = count;
    for (i = 0; i < count; i++) {
        out->items[i].name = qmf_xstrdup(agent_name(f->agents[first + i]));
        out->items[i].node = qmf_xstrdup(f->nodes[first + i]);
        out->items[i].attrs = qmf_map();
    }
}

static void
stopped_cb(struct agent *a, void *opaque)
{
    (*(size_t *)opaque)++;
}

static bool
all_stopped(void *arg)
{
    size_t *counts = arg;

    return counts[0] == counts[1];
}

void
fleet_fini(struct test_fleet *f)
{
    size_t counts[2] = { 0, f->n }, i;

    for (i = 0; i < f->n; i++)
        agent_stop(f->agents[i], stopped_cb, &counts[0]);
    cr_assert(fleet_run_until(f, all_stopped, counts, FLEET_WAIT_MS),
              "agents did not stop within %d ms", FLEET_WAIT_MS);
    virtbus_console_close(f->console);
    workq_free(f->wq);
    for (i = 0; i < f->n; i++) {
        agent_free(f->agents[i]);
        free(f->nodes[i]);
    }
    schema_free(f->schema);
    free(f->url);
    event_base_free(f->base);
}

qmf_value *
fleet_query(struct test_fleet *f, size_t agent, const char *class_name,
            const qmf_value *where)
{
    struct virtbus_agent_list one;
    struct virtbus_results res;
    qmf_value *list;
    qmf_error err;

    fleet_agent_list(f, agent, 1, &one);
    cr_assert(virtbus_query(f->console, &one, "OBJECT", class_name, where,
                            FLEET_REPLY_MS, &res, &err) == 0, "%s", err.text);
    virtbus_agent_list_free(&one);
    cr_assert_eq(res.n, 1);
    cr_assert_eq(res.items[0].status, VIRTBUS_OK, "query failed: %s",
                 res.items[0].error.text);
    list = res.items[0].value;
    res.items[0].value = NULL;
    virtbus_results_free(&res);
    return list;
}

const qmf_value *
fleet_find(const qmf_value *results, const char *name)
{
    size_t i;

    for (i = 0; i < qmf_list_len(results); i++) {
        const qmf_value *data = qmf_list_at(results, i);
        const char *n = qmf_map_get_string(qmf_map_get(data, "_values"), "name");

        if (n && strcmp(n, name) == 0)
            return data;
    }
    return NULL;
}
