/*
 * The drivers module against libvirt's real test driver (test:///fixture)
 * and a private libvirtd: the libevent event loop for libvirt, inventory
 * maps and their kinds (nodes, domains, pools, volumes, networks,
 * interfaces), the entry points and the domain, pool and network events
 * they raise, error mapping, NULL driver entries, and connection loss.  No
 * broker needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "drivers/driver.h"
#include "core/value.h"
#include "tests/integration/harness.h"
#include "tests/testutil.h"

#define WEB1_UUID    "10000000-0000-4000-8000-000000000001"
#define WEB2_UUID    "10000000-0000-4000-8000-000000000002"
#define DBTEST_UUID  "10000000-0000-4000-8000-000000000003"
#define DB1_UUID     "20000000-0000-4000-8000-000000000001"
#define MISSING_UUID "99999999-0000-4000-8000-000000000099"

/* Bound on every wait for something the loop delivers. */
#define WAIT_SECONDS 10

struct prop {
    const char *name;
    enum qmf_kind kind;
};

/* The contract of the org.libvirt schema, minus what the agent fills. */
static const struct prop node_props[] = {
    { "hostname", QMF_STRING }, { "uri", QMF_STRING },
    { "libvirtVersion", QMF_UINT32 }, { "apiVersion", QMF_UINT32 },
    { "hypervisorVersion", QMF_UINT32 }, { "hypervisorType", QMF_STRING },
    { "model", QMF_STRING }, { "memory", QMF_UINT64 }, { "cpus", QMF_UINT32 },
    { "mhz", QMF_UINT32 }, { "nodes", QMF_UINT32 }, { "sockets", QMF_UINT32 },
    { "cores", QMF_UINT32 }, { "threads", QMF_UINT32 },
    { "freeMemory", QMF_UINT64 }, { "arch", QMF_STRING },
};

static const struct prop domain_props[] = {
    { "uuid", QMF_STRING }, { "name", QMF_STRING }, { "id", QMF_INT32 },
    { "state", QMF_STRING }, { "numVcpus", QMF_UINT32 }, { "active", QMF_BOOL },
    { "maximumMemory", QMF_UINT64 }, { "memory", QMF_UINT64 },
    { "cpuTime", QMF_UINT64 }, { "persistent", QMF_BOOL },
    { "autostart", QMF_BOOL }, { "osType", QMF_STRING }, { "reason", QMF_STRING },
};

static const struct prop pool_props[] = {
    { "uuid", QMF_STRING }, { "name", QMF_STRING }, { "state", QMF_STRING },
    { "capacity", QMF_UINT64 }, { "allocation", QMF_UINT64 },
    { "available", QMF_UINT64 }, { "type", QMF_STRING }, { "path", QMF_STRING },
    { "autostart", QMF_BOOL }, { "persistent", QMF_BOOL },
};

static const struct prop network_props[] = {
    { "uuid", QMF_STRING }, { "name", QMF_STRING }, { "active", QMF_BOOL },
    { "persistent", QMF_BOOL }, { "autostart", QMF_BOOL },
    { "bridge", QMF_STRING }, { "forwardMode", QMF_STRING },
};

#define NPROPS(a) (sizeof(a) / sizeof((a)[0]))

/* One test's loop, connection and what the driver told it. */
struct drv_test {
    struct event_base *base;
    struct drv_conn *conn;
    pthread_t loop_thread;
    bool threaded;             /* the loop runs on loop_thread */
    bool loop_stopping;        /* loop_thread was told to stop */

    pthread_mutex_t lock;
    pthread_cond_t changed;
    const char *want_kind, *want_uuid, *want_event, *want_detail;
    bool matched;
    int lifecycle_count;
    char seen[2048];           /* events since the last expect_*, for messages */
    int disconnects;
    char disconnect_reason[128];
    bool disconnect_on_loop_thread;
};

/* Records one event ("domain", "pool", "network", "reboot", "device+" or
 * "device-"), and wakes the waiter if it is the one expected. */
static void
note_event(struct drv_test *t, const char *kind, const char *uuid,
           const char *event, const char *detail)
{
    size_t len;

    pthread_mutex_lock(&t->lock);
    if (strcmp(kind, "domain") == 0)
        t->lifecycle_count++;
    len = strlen(t->seen);
    if (len + 1 < sizeof(t->seen))
        snprintf(t->seen + len, sizeof(t->seen) - len, "%s %s %s/%s; ", kind, uuid,
                 event, detail);
    if (t->want_kind != NULL && strcmp(kind, t->want_kind) == 0 &&
        strcmp(uuid, t->want_uuid) == 0 && strcmp(event, t->want_event) == 0 &&
        strcmp(detail, t->want_detail) == 0) {
        t->matched = true;
        pthread_cond_broadcast(&t->changed);
        if (!t->threaded)
            event_base_loopbreak(t->base);
    }
    pthread_mutex_unlock(&t->lock);
}

static void
on_lifecycle(void *opaque, const char *uuid, const char *name,
             const char *event, const char *detail)
{
    note_event(opaque, "domain", uuid, event, detail);
}

static void
on_reboot(void *opaque, const char *uuid, const char *name)
{
    note_event(opaque, "reboot", uuid, "", "");
}

static void
on_device(void *opaque, const char *uuid, const char *name, const char *device,
          bool added)
{
    note_event(opaque, added ? "device+" : "device-", uuid, device, "");
}

static void
on_pool(void *opaque, const char *uuid, const char *name, const char *event,
        const char *detail)
{
    note_event(opaque, "pool", uuid, event, detail);
}

static void
on_network(void *opaque, const char *uuid, const char *name, const char *event,
           const char *detail)
{
    note_event(opaque, "network", uuid, event, detail);
}

static void
on_disconnected(void *opaque, const char *reason)
{
    struct drv_test *t = opaque;

    pthread_mutex_lock(&t->lock);
    t->disconnects++;
    snprintf(t->disconnect_reason, sizeof(t->disconnect_reason), "%s", reason);
    t->disconnect_on_loop_thread = t->threaded &&
        pthread_equal(pthread_self(), t->loop_thread);
    pthread_cond_broadcast(&t->changed);
    if (!t->threaded)
        event_base_loopbreak(t->base);
    pthread_mutex_unlock(&t->lock);
}

static const struct drv_events test_events = {
    .domain_lifecycle = on_lifecycle,
    .domain_reboot = on_reboot,
    .domain_device = on_device,
    .pool_lifecycle = on_pool,
    .network_lifecycle = on_network,
    .disconnected = on_disconnected,
};

/* Only domain lifecycle and loss: every other entry may be NULL. */
static const struct drv_events sparse_events = {
    .domain_lifecycle = on_lifecycle,
    .disconnected = on_disconnected,
};

static void
test_start(struct drv_test *t)
{
    qmf_error err = { 0 };

    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->changed, NULL);
    cr_assert_eq(evthread_use_pthreads(), 0);
    t->base = event_base_new();
    cr_assert_not_null(t->base);
    cr_assert_eq(drv_event_loop_install(t->base, &err), 0, "%s", err.text);
}

static struct drv_conn *
test_open(struct drv_test *t, const char *fixture)
{
    char *uri = test_fixture_uri(fixture);
    struct drv_conn *c = NULL;
    qmf_error err = { 0 };

    cr_assert_eq(drv_open(&c, uri, &test_events, t, &err), 0,
                 "opening %s: %s", uri, err.text);
    cr_assert_not_null(c);
    free(uri);
    return c;
}

static void *
loop_main(void *arg)
{
    struct drv_test *t = arg;

    event_base_loop(t->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* Runs the loop on its own thread, as virtbusd does. */
static void
test_loop_thread_start(struct drv_test *t)
{
    t->threaded = true;
    cr_assert_eq(pthread_create(&t->loop_thread, NULL, loop_main, t), 0);
}

static void
test_loop_thread_stop(struct drv_test *t)
{
    if (!t->threaded || t->loop_stopping)
        return;
    t->loop_stopping = true;
    event_base_loopbreak(t->base);
    pthread_join(t->loop_thread, NULL);
    t->threaded = false;
}

/* Lets pending releases (libvirt's free callbacks) run, then frees all. */
static void
test_finish(struct drv_test *t)
{
    int i;

    test_loop_thread_stop(t);
    if (t->conn != NULL)
        drv_close(t->conn);
    for (i = 0; i < 3; i++)
        event_base_loop(t->base, EVLOOP_NONBLOCK);
    event_base_free(t->base);
    pthread_cond_destroy(&t->changed);
    pthread_mutex_destroy(&t->lock);
}

static void
expect_kind(struct drv_test *t, const char *kind, const char *uuid,
            const char *event, const char *detail)
{
    pthread_mutex_lock(&t->lock);
    t->seen[0] = '\0';
    t->want_kind = kind;
    t->want_uuid = uuid;
    t->want_event = event;
    t->want_detail = detail;
    t->matched = false;
    pthread_mutex_unlock(&t->lock);
}

static void
expect_event(struct drv_test *t, const char *uuid, const char *event,
             const char *detail)
{
    expect_kind(t, "domain", uuid, event, detail);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Runs the loop (on this thread) until the expected event came or the
 * bound passed; returns whether it came. */
static bool
wait_event(struct drv_test *t)
{
    struct timeval limit = { WAIT_SECONDS, 0 };
    struct event *deadline = evtimer_new(t->base, on_deadline, t->base);
    bool matched;

    evtimer_add(deadline, &limit);
    pthread_mutex_lock(&t->lock);
    matched = t->matched;
    pthread_mutex_unlock(&t->lock);
    if (!matched)
        event_base_loop(t->base, 0);
    event_free(deadline);
    pthread_mutex_lock(&t->lock);
    matched = t->matched;
    pthread_mutex_unlock(&t->lock);
    return matched;
}

/* The same with the loop on its own thread. */
static bool
wait_threaded(struct drv_test *t, bool (*done)(struct drv_test *))
{
    struct timespec limit;
    bool ok;

    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += WAIT_SECONDS;
    pthread_mutex_lock(&t->lock);
    while (!(ok = done(t)))
        if (pthread_cond_timedwait(&t->changed, &t->lock, &limit) == ETIMEDOUT)
            break;
    ok = done(t);
    pthread_mutex_unlock(&t->lock);
    return ok;
}

static bool
event_matched(struct drv_test *t)
{
    return t->matched;
}

static bool
disconnected(struct drv_test *t)
{
    return t->disconnects > 0;
}

static void
expect_props(const qmf_value *map, const struct prop *props, size_t n,
             const char *what)
{
    size_t i;
    qmf_value *v;

    cr_assert_not_null(map);
    cr_assert_eq(map->kind, QMF_MAP);
    for (i = 0; i < n; i++) {
        v = qmf_map_get(map, props[i].name);
        cr_assert_not_null(v, "%s has no %s", what, props[i].name);
        cr_expect_eq(v->kind, props[i].kind, "%s.%s is %s, not %s", what,
                     props[i].name, qmf_kind_name(v->kind),
                     qmf_kind_name(props[i].kind));
    }
    cr_expect_eq(qmf_map_len(map), n, "%s has %zu properties, not %zu", what,
                 qmf_map_len(map), n);
}

static qmf_value *
find_by(const qmf_value *list, const char *key, const char *value)
{
    size_t i;
    const char *s;

    for (i = 0; i < qmf_list_len(list); i++) {
        s = qmf_map_get_string(qmf_list_at(list, i), key);
        if (s != NULL && strcmp(s, value) == 0)
            return qmf_list_at(list, i);
    }
    return NULL;
}

static uint64_t
get_u(const qmf_value *map, const char *key)
{
    qmf_value *v = qmf_map_get(map, key);

    cr_assert_not_null(v, "no %s", key);
    return qmf_as_uint(v);
}

static bool
get_b(const qmf_value *map, const char *key)
{
    qmf_value *v = qmf_map_get(map, key);

    cr_assert_not_null(v, "no %s", key);
    cr_assert_eq(v->kind, QMF_BOOL);
    return qmf_as_bool(v);
}

static const char *
get_s(const qmf_value *map, const char *key)
{
    const char *s = qmf_map_get_string(map, key);

    cr_assert_not_null(s, "no string %s", key);
    return s;
}

static qmf_value *
domain_get(struct drv_test *t, const char *uuid)
{
    qmf_value *d = NULL;
    qmf_error err = { 0 };

    cr_assert_eq(drv_get(t->conn, &drv_domains, uuid, &d, &err), 0,
                 "%s", err.text);
    return d;
}

/* The fixture every case shares: its loop, started before the case, and
 * whatever connection it opened, closed after it.  File scope because
 * criterion's .init and .fini take no argument; each case runs in a
 * process of its own. */
static struct drv_test drv;

static void
case_setup(void)
{
    test_start(&drv);
}

static void
case_teardown(void)
{
    test_finish(&drv);
}

TestSuite(drivers, .init = case_setup, .fini = case_teardown);

/* ---- the event loop on its own ---- */

struct loop_probe {
    struct event_base *base;
    int timer;
    int fired;
    int stop_at;               /* 0-timeout: disable after this many */
    int handle_events;
    int handle_calls;
    bool freed;
};

static void
probe_timer(int timer, void *opaque)
{
    struct loop_probe *p = opaque;

    if (++p->fired >= p->stop_at) {
        virEventUpdateTimeout(timer, -1);
        event_base_loopbreak(p->base);
    }
}

static void
probe_handle(int watch, int fd, int events, void *opaque)
{
    struct loop_probe *p = opaque;
    char buf[16];

    p->handle_calls++;
    p->handle_events |= events;
    if (events & VIR_EVENT_HANDLE_READABLE)
        (void)read(fd, buf, sizeof(buf));
    event_base_loopbreak(p->base);
}

static void
probe_free(void *opaque)
{
    struct loop_probe *p = opaque;

    p->freed = true;
}

/* Runs the loop until a callback breaks it or ms pass.  A private timer,
 * not event_base_loopexit(), whose leftover would cut a later run short. */
static void
run_loop_briefly(struct event_base *base, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    struct event *deadline = evtimer_new(base, on_deadline, base);

    evtimer_add(deadline, &tv);
    event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    event_free(deadline);
}

Test(drivers, loop_install_rules)
{
    struct event_base *other;
    qmf_error err = { 0 };

    cr_expect_eq(drv_event_loop_install(drv.base, &err), 0, "same base again: %s", err.text);
    other = event_base_new();
    cr_expect_eq(drv_event_loop_install(other, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_INTERNAL);
    cr_expect_eq(drv_event_loop_install(NULL, &err), -1);
    event_base_free(other);
}

Test(drivers, loop_zero_timeout_fires_until_disabled)
{
    struct loop_probe p = { .stop_at = 5 };

    p.base = drv.base;
    p.timer = virEventAddTimeout(0, probe_timer, &p, probe_free);
    cr_assert_geq(p.timer, 0);
    run_loop_briefly(drv.base, WAIT_SECONDS * 1000);
    cr_assert_eq(p.fired, 5, "a 0 timeout fired %d times before -1", p.fired);
    /* Disabled: the loop must now sleep through its whole run. */
    run_loop_briefly(drv.base, 200);
    cr_expect_eq(p.fired, 5, "a disabled timeout fired again");

    /* Re-enabled with a period, it fires again. */
    p.stop_at = 7;
    virEventUpdateTimeout(p.timer, 10);
    run_loop_briefly(drv.base, WAIT_SECONDS * 1000);
    cr_expect_eq(p.fired, 7);

    cr_assert_eq(virEventRemoveTimeout(p.timer), 0);
    cr_expect_not(p.freed, "ff ran inside remove");
    event_base_loop(drv.base, EVLOOP_NONBLOCK);
    cr_expect(p.freed, "ff did not run on the loop");
    cr_expect_eq(virEventRemoveTimeout(p.timer), -1, "removed twice");
}

Test(drivers, loop_handles_translate_events)
{
    struct loop_probe p = { 0 };
    int fds[2], watch;

    p.base = drv.base;
    cr_assert_eq(pipe(fds), 0);
    watch = virEventAddHandle(fds[0], VIR_EVENT_HANDLE_READABLE, probe_handle,
                              &p, probe_free);
    cr_assert_geq(watch, 0);

    cr_assert_eq(write(fds[1], "x", 1), 1);
    run_loop_briefly(drv.base, WAIT_SECONDS * 1000);
    cr_assert_eq(p.handle_calls, 1);
    cr_expect_eq(p.handle_events, VIR_EVENT_HANDLE_READABLE);

    /* Disabled: pending data must not wake it. */
    virEventUpdateHandle(watch, 0);
    cr_assert_eq(write(fds[1], "y", 1), 1);
    run_loop_briefly(drv.base, 200);
    cr_expect_eq(p.handle_calls, 1, "a disabled handle was called");

    /* Re-enabled, with the writer gone: readable and hung up. */
    close(fds[1]);
    p.handle_events = 0;
    virEventUpdateHandle(watch, VIR_EVENT_HANDLE_READABLE);
    run_loop_briefly(drv.base, WAIT_SECONDS * 1000);
    cr_assert_eq(p.handle_calls, 2);
    cr_expect(p.handle_events & VIR_EVENT_HANDLE_READABLE);
    cr_expect(p.handle_events & VIR_EVENT_HANDLE_HANGUP,
              "hang-up not reported: events %#x", p.handle_events);

    cr_assert_eq(virEventRemoveHandle(watch), 0);
    cr_expect_not(p.freed, "ff ran inside remove");
    event_base_loop(drv.base, EVLOOP_NONBLOCK);
    cr_expect(p.freed);
    close(fds[0]);
}

Test(drivers, loop_handle_writable)
{
    struct loop_probe p = { 0 };
    int fds[2], watch;

    p.base = drv.base;
    cr_assert_eq(pipe(fds), 0);
    watch = virEventAddHandle(fds[1], VIR_EVENT_HANDLE_WRITABLE, probe_handle,
                              &p, NULL);
    cr_assert_geq(watch, 0);
    run_loop_briefly(drv.base, WAIT_SECONDS * 1000);
    cr_assert_eq(p.handle_calls, 1);
    cr_expect_eq(p.handle_events, VIR_EVENT_HANDLE_WRITABLE);
    cr_assert_eq(virEventRemoveHandle(watch), 0);
    close(fds[0]);
    close(fds[1]);
}

/* ---- the libvirt backend on the test driver ---- */

Test(drivers, open_rejects_bad_uris)
{
    struct drv_conn *c = NULL;
    qmf_error err = { 0 };

    cr_expect_eq(drv_open(&c, NULL, &test_events, &drv, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_expect_eq(drv_open(&c, "", &test_events, &drv, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_expect_eq(drv_open(&c, "test:///nonexistent/virtbus.xml",
                          &test_events, &drv, &err), -1);
    cr_expect_eq(err.code & QMF_ERR_LIBVIRT, QMF_ERR_LIBVIRT, "code %#x", err.code);
    cr_expect_neq(err.text[0], '\0');
    cr_expect_null(c);
}

Test(drivers, node_info_has_every_property)
{
    qmf_value *node = NULL;
    qmf_error err = { 0 };
    unsigned long lib_ver;
    char *uri;

    drv.conn = test_open(&drv, "node1.xml");
    cr_assert_eq(drv_node_info(drv.conn, &node, &err), 0, "%s", err.text);
    expect_props(node, node_props, NPROPS(node_props), "Node");

    uri = test_fixture_uri("node1.xml");
    cr_expect_str_eq(get_s(node, "uri"), uri);
    free(uri);
    cr_expect_neq(get_s(node, "hostname")[0], '\0');
    cr_expect_str_eq(get_s(node, "hypervisorType"), "TEST");   /* virConnectGetType, unchanged */
    cr_expect_str_eq(get_s(node, "model"), "x86_64");
    cr_expect_neq(get_s(node, "arch")[0], '\0');
    cr_expect_eq(get_u(node, "memory"), 16777216);
    cr_expect_eq(get_u(node, "cpus"), 8);
    cr_expect_eq(get_u(node, "mhz"), 2400);
    cr_expect_eq(get_u(node, "nodes"), 1);
    cr_expect_eq(get_u(node, "sockets"), 1);
    cr_expect_eq(get_u(node, "cores"), 4);
    cr_expect_eq(get_u(node, "threads"), 2);
    cr_expect_eq(get_u(node, "hypervisorVersion"), 2);   /* the test driver's 0.0.2 */
    cr_assert_eq(virGetVersion(&lib_ver, NULL, NULL), 0);
    cr_expect_eq(get_u(node, "apiVersion"), lib_ver);
    cr_expect_eq(get_u(node, "libvirtVersion"), lib_ver);    /* in-process driver */
    cr_expect_leq(get_u(node, "freeMemory"), get_u(node, "memory"));
    qmf_free(node);
}

Test(drivers, domain_list_has_the_fixture_domains)
{
    qmf_value *list = NULL, *d;
    qmf_error err = { 0 };
    size_t i;

    drv.conn = test_open(&drv, "node1.xml");
    cr_assert_eq(drv_list(drv.conn, &drv_domains, &list, &err), 0, "%s", err.text);
    cr_assert_eq(qmf_list_len(list), 3);
    for (i = 0; i < qmf_list_len(list); i++)
        expect_props(qmf_list_at(list, i), domain_props, NPROPS(domain_props), "Domain");

    d = find_by(list, "name", "web1");
    cr_assert_not_null(d);
    cr_expect_str_eq(get_s(d, "uuid"), WEB1_UUID);
    cr_expect_str_eq(get_s(d, "state"), "running");
    cr_expect(get_b(d, "active"));
    cr_expect_gt(qmf_as_int(qmf_map_get(d, "id")), 0);
    cr_expect_eq(get_u(d, "numVcpus"), 2);
    cr_expect_eq(get_u(d, "maximumMemory"), 2048 * 1024);
    cr_expect_eq(get_u(d, "memory"), 1536 * 1024);
    cr_expect_str_eq(get_s(d, "osType"), "linux");   /* whatever the XML: test driver */
    cr_expect(get_b(d, "persistent"));
    cr_expect_not(get_b(d, "autostart"));

    d = find_by(list, "name", "web2");
    cr_assert_not_null(d);
    cr_expect_str_eq(get_s(d, "state"), "running");

    d = find_by(list, "name", "db-test");
    cr_assert_not_null(d);
    cr_expect_str_eq(get_s(d, "uuid"), DBTEST_UUID);
    cr_expect_str_eq(get_s(d, "state"), "shutoff");
    cr_expect_not(get_b(d, "active"));
    cr_expect_eq(qmf_as_int(qmf_map_get(d, "id")), -1);
    qmf_free(list);
}

Test(drivers, domain_get_known_and_unknown)
{
    qmf_value *d = NULL;
    qmf_error err = { 0 };

    drv.conn = test_open(&drv, "node1.xml");
    d = domain_get(&drv, WEB2_UUID);
    expect_props(d, domain_props, NPROPS(domain_props), "Domain");
    cr_expect_str_eq(get_s(d, "name"), "web2");
    cr_expect_str_eq(get_s(d, "uuid"), WEB2_UUID);
    qmf_free(d);
    d = NULL;

    cr_expect_eq(drv_get(drv.conn, &drv_domains, MISSING_UUID, &d, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT, "code %#x: %s", err.code, err.text);
    cr_expect_not_null(strstr(err.text, MISSING_UUID), "%s", err.text);
    cr_expect_null(d);

    /* Another node's domain is not on this one. */
    cr_expect_eq(drv_get(drv.conn, &drv_domains, DB1_UUID, &d, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT);

    cr_expect_eq(drv_get(drv.conn, &drv_domains, "not-a-uuid", &d, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT);
    cr_expect_eq(drv_act(drv.conn, &drv_domains, DRV_SHUTDOWN, MISSING_UUID, 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT);
}

Test(drivers, actions_change_state_and_raise_events)
{
    qmf_value *d;
    qmf_error err = { 0 };

    drv.conn = test_open(&drv, "node1.xml");

    expect_event(&drv, WEB1_UUID, "stopped", "shutdown");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_SHUTDOWN, WEB1_UUID, 0, &err), 0,
                 "%s", err.text);
    cr_assert(wait_event(&drv), "no stopped/shutdown event for web1");
    d = domain_get(&drv, WEB1_UUID);
    cr_expect_str_eq(get_s(d, "state"), "shutoff");
    cr_expect_str_eq(get_s(d, "reason"), "shutdown");
    cr_expect_not(get_b(d, "active"));
    qmf_free(d);

    expect_event(&drv, DBTEST_UUID, "started", "booted");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_CREATE, DBTEST_UUID, 0, &err), 0,
                 "%s", err.text);
    cr_assert(wait_event(&drv), "no started/booted event for db-test");
    d = domain_get(&drv, DBTEST_UUID);
    cr_expect_str_eq(get_s(d, "state"), "running");
    cr_expect_str_eq(get_s(d, "reason"), "booted");
    cr_expect(get_b(d, "active"));
    cr_expect_gt(qmf_as_int(qmf_map_get(d, "id")), 0);
    qmf_free(d);

    expect_event(&drv, DBTEST_UUID, "stopped", "destroyed");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_DESTROY, DBTEST_UUID, 0, &err), 0,
                 "%s", err.text);
    cr_assert(wait_event(&drv), "no stopped/destroyed event for db-test");
    d = domain_get(&drv, DBTEST_UUID);
    cr_expect_str_eq(get_s(d, "state"), "shutoff");
    cr_expect_str_eq(get_s(d, "reason"), "destroyed");
    qmf_free(d);

    /* libvirt's own refusal, code and text. */
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_DESTROY, DBTEST_UUID, 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_LIBVIRT | VIR_ERR_OPERATION_INVALID,
                 "code %#x: %s", err.code, err.text);
    cr_expect_not_null(strstr(err.text, "domain is not running"), "%s", err.text);
}

Test(drivers, events_reach_a_loop_on_another_thread)
{
    qmf_error err = { 0 };

    test_loop_thread_start(&drv);
    /* Opened while the loop runs: libvirt registers its timer from here. */
    drv.conn = test_open(&drv, "node1.xml");
    expect_event(&drv, WEB2_UUID, "stopped", "destroyed");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_DESTROY, WEB2_UUID, 0, &err), 0,
                 "%s", err.text);
    cr_assert(wait_threaded(&drv, event_matched), "no stopped/destroyed event for web2");
    expect_event(&drv, WEB2_UUID, "started", "booted");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_CREATE, WEB2_UUID, 0, &err), 0,
                 "%s", err.text);
    cr_assert(wait_threaded(&drv, event_matched), "no started/booted event for web2");
    test_loop_thread_stop(&drv);
}

Test(drivers, no_events_after_close)
{
    qmf_error err = { 0 };
    int before;

    drv.conn = test_open(&drv, "node1.xml");
    /* Queued, not yet dispatched: close must drop it. */
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_DESTROY, WEB1_UUID, 0, &err), 0);
    before = drv.lifecycle_count;
    drv_close(drv.conn);
    drv.conn = NULL;
    run_loop_briefly(drv.base, 200);
    cr_expect_eq(drv.lifecycle_count, before, "an event arrived after close");
}

Test(drivers, pools_and_networks)
{
    qmf_value *pools = NULL, *nets = NULL, *p, *n;
    qmf_error err = { 0 };

    drv.conn = test_open(&drv, "node1.xml");
    cr_assert_eq(drv_list(drv.conn, &drv_pools, &pools, &err), 0, "%s", err.text);
    cr_assert_eq(qmf_list_len(pools), 1);
    p = qmf_list_at(pools, 0);
    expect_props(p, pool_props, NPROPS(pool_props), "Pool");
    cr_expect_str_eq(get_s(p, "name"), "node1-pool");
    cr_expect_str_eq(get_s(p, "uuid"), "1a000000-0000-4000-8000-000000000001");
    cr_expect_str_eq(get_s(p, "state"), "running");
    cr_expect_str_eq(get_s(p, "type"), "dir");
    cr_expect_str_eq(get_s(p, "path"), "/var/lib/virtbus/node1-pool");
    cr_expect_eq(get_u(p, "capacity"), 100ULL << 30);
    cr_expect_eq(get_u(p, "allocation"), 6ULL << 30);     /* its two volumes */
    cr_expect_eq(get_u(p, "available"), 94ULL << 30);
    cr_expect(get_b(p, "persistent"));

    cr_assert_eq(drv_list(drv.conn, &drv_networks, &nets, &err), 0, "%s", err.text);
    cr_assert_eq(qmf_list_len(nets), 1);
    n = qmf_list_at(nets, 0);
    expect_props(n, network_props, NPROPS(network_props), "Network");
    cr_expect_str_eq(get_s(n, "name"), "node1-net");
    cr_expect_str_eq(get_s(n, "uuid"), "1b000000-0000-4000-8000-000000000001");
    cr_expect_str_eq(get_s(n, "bridge"), "virbr1");
    cr_expect_str_eq(get_s(n, "forwardMode"), "nat");
    cr_expect(get_b(n, "active"));
    cr_expect(get_b(n, "persistent"));
    qmf_free(pools);
    qmf_free(nets);
}

Test(drivers, network_forward_modes)
{
    struct drv_conn *c2, *c3;
    qmf_value *nets = NULL;
    qmf_error err = { 0 };

    c2 = test_open(&drv, "node2.xml");
    c3 = test_open(&drv, "node3.xml");
    cr_assert_eq(drv_list(c2, &drv_networks, &nets, &err), 0, "%s", err.text);
    cr_expect_str_eq(get_s(qmf_list_at(nets, 0), "forwardMode"), "route");
    qmf_free(nets);
    cr_assert_eq(drv_list(c3, &drv_networks, &nets, &err), 0, "%s", err.text);
    cr_expect_str_eq(get_s(qmf_list_at(nets, 0), "forwardMode"), "none");
    qmf_free(nets);
    drv_close(c2);
    drv_close(c3);
}

Test(drivers, two_connections_keep_separate_state)
{
    struct drv_conn *c2;
    qmf_value *l1 = NULL, *l2 = NULL, *d;
    qmf_error err = { 0 };

    drv.conn = test_open(&drv, "node1.xml");
    c2 = test_open(&drv, "node2.xml");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_DESTROY, WEB1_UUID, 0, &err), 0,
                 "%s", err.text);
    cr_assert_eq(drv_list(drv.conn, &drv_domains, &l1, &err), 0, "%s", err.text);
    cr_assert_eq(drv_list(c2, &drv_domains, &l2, &err), 0, "%s", err.text);
    cr_expect_eq(qmf_list_len(l1), 3);
    cr_expect_eq(qmf_list_len(l2), 3);
    cr_expect_null(find_by(l2, "name", "web1"));
    cr_expect_null(find_by(l1, "name", "db1"));
    d = find_by(l1, "name", "web1");
    cr_assert_not_null(d);
    cr_expect_str_eq(get_s(d, "state"), "shutoff");
    d = find_by(l2, "name", "db1");
    cr_assert_not_null(d);
    cr_expect_str_eq(get_s(d, "state"), "running");
    cr_expect_str_eq(get_s(find_by(l2, "name", "batch-01"), "state"), "shutoff");
    qmf_free(l1);
    qmf_free(l2);
    drv_close(c2);
}

static int
count_state(const qmf_value *list, const char *state)
{
    size_t i;
    int n = 0;

    for (i = 0; i < qmf_list_len(list); i++)
        if (strcmp(get_s(qmf_list_at(list, i), "state"), state) == 0)
            n++;
    return n;
}

Test(drivers, all_fixtures_open)
{
    static const char *const fixtures[] = { "node1.xml", "node2.xml", "node3.xml" };
    struct drv_conn *c;
    qmf_value *doms = NULL, *pools = NULL, *nets = NULL;
    qmf_error err = { 0 };
    size_t i;

    for (i = 0; i < 3; i++) {
        c = test_open(&drv, fixtures[i]);
        cr_assert_eq(drv_list(c, &drv_domains, &doms, &err), 0, "%s", err.text);
        cr_expect_eq(qmf_list_len(doms), 3, "%s", fixtures[i]);
        cr_expect_geq(count_state(doms, "running"), 1, "%s", fixtures[i]);
        cr_expect_geq(count_state(doms, "shutoff"), 1, "%s", fixtures[i]);
        cr_assert_eq(drv_list(c, &drv_pools, &pools, &err), 0, "%s", err.text);
        cr_expect_eq(qmf_list_len(pools), 1, "%s", fixtures[i]);
        cr_assert_eq(drv_list(c, &drv_networks, &nets, &err), 0, "%s", err.text);
        cr_expect_eq(qmf_list_len(nets), 1, "%s", fixtures[i]);
        qmf_free(doms);
        qmf_free(pools);
        qmf_free(nets);
        drv_close(c);
    }
    c = test_open(&drv, "node3.xml");
    cr_assert_eq(drv_list(c, &drv_domains, &doms, &err), 0, "%s", err.text);
    cr_expect_str_eq(get_s(find_by(doms, "name", "batch-03"), "state"), "paused");
    qmf_free(doms);
    drv_close(c);
}

Test(drivers, fleet_fixture_is_large_and_mixed)
{
    qmf_value *doms = NULL, *pools = NULL, *nets = NULL;
    qmf_error err = { 0 };
    virConnectPtr raw;
    virInterfacePtr *ifaces = NULL;
    char *uri;
    int i, n;

    drv.conn = test_open(&drv, "fleet.xml");
    cr_assert_eq(drv_list(drv.conn, &drv_domains, &doms, &err), 0, "%s", err.text);
    cr_expect_geq(qmf_list_len(doms), 50);
    cr_expect_gt(count_state(doms, "running"), 0);
    cr_expect_gt(count_state(doms, "shutoff"), 0);
    cr_expect_gt(count_state(doms, "paused"), 0);
    cr_assert_eq(drv_list(drv.conn, &drv_pools, &pools, &err), 0, "%s", err.text);
    cr_expect_eq(qmf_list_len(pools), 2);
    cr_assert_eq(drv_list(drv.conn, &drv_networks, &nets, &err), 0, "%s", err.text);
    cr_expect_eq(qmf_list_len(nets), 2);
    qmf_free(doms);
    qmf_free(pools);
    qmf_free(nets);

    uri = test_fixture_uri("fleet.xml");
    raw = virConnectOpen(uri);
    cr_assert_not_null(raw);
    n = virConnectListAllInterfaces(raw, &ifaces, 0);
    cr_expect_geq(n, 2);
    for (i = 0; i < n; i++)
        virInterfaceFree(ifaces[i]);
    free(ifaces);
    virConnectClose(raw);
    free(uri);
}

/* ---- the other entry points and their events ---- */

#define NODE1_POOL_UUID "1a000000-0000-4000-8000-000000000001"
#define NODE1_NET_UUID  "1b000000-0000-4000-8000-000000000001"
#define EV_POOL_UUID    "1a000000-0000-4000-8000-0000000000e1"
#define EV_NET_UUID     "1b000000-0000-4000-8000-0000000000e1"
#define EV_DOM_UUID     "10000000-0000-4000-8000-0000000000e1"

static const struct prop volume_props[] = {
    { "key", QMF_STRING }, { "path", QMF_STRING }, { "name", QMF_STRING },
    { "capacity", QMF_UINT64 }, { "allocation", QMF_UINT64 },
    { "storagePool", QMF_MAP }, { "format", QMF_STRING },
};

static const struct prop interface_props[] = {
    { "name", QMF_STRING }, { "mac", QMF_STRING }, { "active", QMF_BOOL },
};

static void
wait_for(struct drv_test *t, const char *what)
{
    cr_assert(wait_event(t), "no %s event; seen: %s", what, t->seen);
}

Test(drivers, domain_actions_and_their_events)
{
    qmf_value *d;
    qmf_error err = { 0 };
    char dir[] = "/tmp/virtbus-save-XXXXXX", *path, *xml = NULL, *uuid = NULL;

    drv.conn = test_open(&drv, "node1.xml");
    cr_assert_not_null(mkdtemp(dir));
    path = qmf_xasprintf("%s/web1.save", dir);

    expect_event(&drv, WEB1_UUID, "suspended", "paused");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_SUSPEND, WEB1_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "suspended/paused");
    d = domain_get(&drv, WEB1_UUID);
    cr_expect_str_eq(get_s(d, "state"), "paused");
    cr_expect_str_eq(get_s(d, "reason"), "user");
    qmf_free(d);
    expect_event(&drv, WEB1_UUID, "resumed", "unpaused");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_RESUME, WEB1_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "resumed/unpaused");

    cr_assert_eq(drv_domain_set_vcpus(drv.conn, WEB1_UUID, 1, &err), 0, "%s", err.text);
    cr_assert_eq(drv_domain_set_memory(drv.conn, WEB1_UUID, 1024 * 1024, &err), 0,
                 "%s", err.text);
    d = domain_get(&drv, WEB1_UUID);
    cr_expect_eq(get_u(d, "numVcpus"), 1);
    cr_expect_eq(get_u(d, "memory"), 1024 * 1024);
    qmf_free(d);
    cr_expect_eq(drv_domain_set_memory(drv.conn, WEB1_UUID, 8ULL << 20, &err), -1,
                 "more than maximumMemory");
    cr_expect_eq(err.code & QMF_ERR_LIBVIRT, QMF_ERR_LIBVIRT, "%#x %s", err.code, err.text);

    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_REBOOT, WEB1_UUID, 0, &err),
                 0, "%s", err.text);
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_RESET, WEB1_UUID, 0, &err), 0, "%s", err.text);
    cr_assert_eq(drv_set_autostart(drv.conn, &drv_domains, WEB1_UUID, true, &err),
                 0, "%s", err.text);
    d = domain_get(&drv, WEB1_UUID);
    cr_expect_str_eq(get_s(d, "state"), "running");
    cr_expect(get_b(d, "autostart"));
    qmf_free(d);

    cr_assert_eq(drv_get_xml(drv.conn, &drv_domains, WEB1_UUID, 0, &xml, &err), 0, "%s", err.text);
    cr_expect_not_null(strstr(xml, "<name>web1</name>"), "%s", xml);
    free(xml);

    /* Save and restore through a file. */
    expect_event(&drv, WEB1_UUID, "stopped", "saved");
    cr_assert_eq(drv_domain_save(drv.conn, WEB1_UUID, path, &err), 0, "%s", err.text);
    wait_for(&drv, "stopped/saved");
    cr_expect_eq(access(path, F_OK), 0, "no state file %s", path);
    expect_event(&drv, WEB1_UUID, "started", "restored");
    cr_assert_eq(drv_node_restore(drv.conn, path, &err), 0, "%s", err.text);
    wait_for(&drv, "started/restored");
    d = domain_get(&drv, WEB1_UUID);
    cr_expect_str_eq(get_s(d, "reason"), "restored");
    qmf_free(d);
    cr_expect_eq(drv_node_restore(drv.conn, "/nonexistent/virtbus.save", &err), -1);
    cr_expect_eq(err.code & QMF_ERR_LIBVIRT, QMF_ERR_LIBVIRT, "%#x %s", err.code, err.text);

    expect_event(&drv, WEB2_UUID, "stopped", "saved");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_MANAGED_SAVE, WEB2_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "stopped/saved (managed)");

    /* What the test driver cannot do, with libvirt's own code. */
    cr_expect_eq(drv_domain_attach_device(drv.conn, WEB1_UUID,
                 "<disk type='file' device='disk'><source file='/tmp/x.img'/>"
                 "<target dev='vdb' bus='virtio'/></disk>", true, false, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_LIBVIRT | VIR_ERR_NO_SUPPORT, "%#x %s", err.code, err.text);
    cr_expect_eq(drv_domain_migrate(drv.conn, WEB1_UUID, "test:///default", 0, "copy", 100,
                                    &err), -1);
    cr_expect_eq(err.code, QMF_ERR_LIBVIRT | VIR_ERR_ARGUMENT_UNSUPPORTED,
                 "%#x %s", err.code, err.text);
    cr_expect_eq(drv_domain_migrate(drv.conn, MISSING_UUID, "test:///default", 0, NULL, 0,
                                    &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT);

    /* Define, then undefine, a domain of our own. */
    expect_event(&drv, EV_DOM_UUID, "defined", "added");
    cr_assert_eq(drv_define_xml(drv.conn, &drv_domains,
                 "<domain type='test'><name>ev-dom</name><uuid>" EV_DOM_UUID "</uuid>"
                 "<memory>65536</memory><os><type>hvm</type></os></domain>",
                 &uuid, &err), 0, "%s", err.text);
    cr_expect_str_eq(uuid, EV_DOM_UUID);
    free(uuid);
    wait_for(&drv, "defined/added");
    expect_event(&drv, EV_DOM_UUID, "undefined", "removed");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_UNDEFINE, EV_DOM_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "undefined/removed");
    cr_expect_eq(drv_get(drv.conn, &drv_domains, EV_DOM_UUID, &d, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT);
    cr_expect_eq(drv_define_xml(drv.conn, &drv_domains, "<domain>", &uuid, &err), -1);
    cr_expect_eq(err.code & QMF_ERR_LIBVIRT, QMF_ERR_LIBVIRT, "%#x %s", err.code, err.text);
    cr_expect_null(uuid);

    cr_assert_eq(drv_node_capabilities(drv.conn, &xml, &err), 0, "%s", err.text);
    cr_expect_not_null(strstr(xml, "<capabilities>"));
    free(xml);

    unlink(path);
    rmdir(dir);
    free(path);
}

Test(drivers, pool_lifecycle_events)
{
    qmf_value *p = NULL;
    qmf_error err = { 0 };
    char *uuid = NULL, *xml = NULL;

    drv.conn = test_open(&drv, "node1.xml");

    expect_kind(&drv, "pool", EV_POOL_UUID, "defined", "");
    cr_assert_eq(drv_define_xml(drv.conn, &drv_pools,
                 "<pool type='dir'><name>ev-pool</name><uuid>" EV_POOL_UUID "</uuid>"
                 "<target><path>/var/lib/virtbus/ev-pool</path></target></pool>",
                 &uuid, &err), 0, "%s", err.text);
    cr_expect_str_eq(uuid, EV_POOL_UUID);
    free(uuid);
    wait_for(&drv, "pool defined");
    cr_assert_eq(drv_get(drv.conn, &drv_pools, EV_POOL_UUID, &p, &err), 0, "%s", err.text);
    expect_props(p, pool_props, NPROPS(pool_props), "Pool");
    cr_expect_str_eq(get_s(p, "state"), "inactive");
    qmf_free(p);

    cr_assert_eq(drv_act(drv.conn, &drv_pools, DRV_BUILD, EV_POOL_UUID, 0, &err),
                 0, "%s", err.text);
    expect_kind(&drv, "pool", EV_POOL_UUID, "started", "");
    cr_assert_eq(drv_act(drv.conn, &drv_pools, DRV_CREATE, EV_POOL_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "pool started");
    expect_kind(&drv, "pool", EV_POOL_UUID, "refreshed", "");
    cr_assert_eq(drv_act(drv.conn, &drv_pools, DRV_REFRESH, EV_POOL_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "pool refreshed");
    cr_assert_eq(drv_get_xml(drv.conn, &drv_pools, EV_POOL_UUID, 0, &xml, &err), 0, "%s", err.text);
    cr_expect_not_null(strstr(xml, "<name>ev-pool</name>"), "%s", xml);
    free(xml);
    expect_kind(&drv, "pool", EV_POOL_UUID, "stopped", "");
    cr_assert_eq(drv_act(drv.conn, &drv_pools, DRV_DESTROY, EV_POOL_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "pool stopped");
    cr_expect_eq(drv_act(drv.conn, &drv_pools, DRV_REFRESH, EV_POOL_UUID, 0, &err),
                 -1, "refreshing a stopped pool");
    cr_expect_eq(err.code, QMF_ERR_LIBVIRT | VIR_ERR_OPERATION_INVALID, "%#x %s", err.code,
                 err.text);
    expect_kind(&drv, "pool", EV_POOL_UUID, "deleted", "");
    cr_assert_eq(drv_act(drv.conn, &drv_pools, DRV_DELETE, EV_POOL_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "pool deleted");
    expect_kind(&drv, "pool", EV_POOL_UUID, "undefined", "");
    cr_assert_eq(drv_act(drv.conn, &drv_pools, DRV_UNDEFINE, EV_POOL_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "pool undefined");
    cr_expect_eq(drv_get(drv.conn, &drv_pools, EV_POOL_UUID, &p, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT);
    cr_expect_eq(drv_act(drv.conn, &drv_pools, DRV_CREATE, "not-a-uuid", 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT);

    /* A transient pool starts at once. */
    expect_kind(&drv, "pool", EV_POOL_UUID, "started", "");
    cr_assert_eq(drv_create_xml(drv.conn, &drv_pools,
                 "<pool type='dir'><name>ev-pool</name><uuid>" EV_POOL_UUID "</uuid>"
                 "<target><path>/var/lib/virtbus/ev-pool</path></target></pool>",
                 0, &uuid, &err), 0, "%s", err.text);
    free(uuid);
    wait_for(&drv, "transient pool started");
    cr_assert_eq(drv_get(drv.conn, &drv_pools, EV_POOL_UUID, &p, &err), 0, "%s", err.text);
    cr_expect_not(get_b(p, "persistent"));
    cr_expect_str_eq(get_s(p, "state"), "running");
    qmf_free(p);

    cr_assert_eq(drv_find_pool_sources(drv.conn, "logical", NULL, &xml, &err), 0,
                 "%s", err.text);
    cr_expect_not_null(strstr(xml, "<sources>"), "%s", xml);
    free(xml);
    cr_expect_eq(drv_find_pool_sources(drv.conn, "dir", NULL, &xml, &err), -1);
    cr_expect_eq(err.code & QMF_ERR_LIBVIRT, QMF_ERR_LIBVIRT, "%#x %s", err.code, err.text);
}

Test(drivers, network_lifecycle_events)
{
    static const char net_xml[] =
        "<network><name>ev-net</name><uuid>" EV_NET_UUID "</uuid>"
        "<bridge name='virbr77'/><forward mode='route'/>"
        "<ip address='192.168.77.1' netmask='255.255.255.0'/></network>";
    qmf_value *n = NULL;
    qmf_error err = { 0 };
    char *uuid = NULL, *xml = NULL;

    drv.conn = test_open(&drv, "node1.xml");

    expect_kind(&drv, "network", EV_NET_UUID, "defined", "");
    cr_assert_eq(drv_define_xml(drv.conn, &drv_networks, net_xml, &uuid, &err), 0, "%s", err.text);
    cr_expect_str_eq(uuid, EV_NET_UUID);
    free(uuid);
    wait_for(&drv, "network defined");
    expect_kind(&drv, "network", EV_NET_UUID, "started", "");
    cr_assert_eq(drv_act(drv.conn, &drv_networks, DRV_CREATE, EV_NET_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "network started");
    cr_assert_eq(drv_set_autostart(drv.conn, &drv_networks, EV_NET_UUID, true, &err), 0,
                 "%s", err.text);
    cr_assert_eq(drv_get(drv.conn, &drv_networks, EV_NET_UUID, &n, &err), 0, "%s", err.text);
    expect_props(n, network_props, NPROPS(network_props), "Network");
    cr_expect(get_b(n, "active"));
    cr_expect(get_b(n, "autostart"));
    cr_expect_str_eq(get_s(n, "forwardMode"), "route");
    cr_expect_str_eq(get_s(n, "bridge"), "virbr77");
    qmf_free(n);
    cr_assert_eq(drv_get_xml(drv.conn, &drv_networks, EV_NET_UUID, 0, &xml, &err),
                 0, "%s", err.text);
    cr_expect_not_null(strstr(xml, "<name>ev-net</name>"), "%s", xml);
    free(xml);
    cr_expect_eq(drv_network_dhcp_leases(drv.conn, EV_NET_UUID, NULL, &n, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_LIBVIRT | VIR_ERR_NO_SUPPORT, "%#x %s", err.code, err.text);
    expect_kind(&drv, "network", EV_NET_UUID, "stopped", "");
    cr_assert_eq(drv_act(drv.conn, &drv_networks, DRV_DESTROY, EV_NET_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "network stopped");
    expect_kind(&drv, "network", EV_NET_UUID, "undefined", "");
    cr_assert_eq(drv_act(drv.conn, &drv_networks, DRV_UNDEFINE, EV_NET_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "network undefined");
    cr_expect_eq(drv_get(drv.conn, &drv_networks, EV_NET_UUID, &n, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT);

    expect_kind(&drv, "network", EV_NET_UUID, "started", "");
    cr_assert_eq(drv_create_xml(drv.conn, &drv_networks, net_xml, 0, &uuid, &err),
                 0, "%s", err.text);
    free(uuid);
    wait_for(&drv, "transient network started");
}

/* Every event entry but the domain lifecycle may be NULL. */
Test(drivers, null_event_entries_are_skipped)
{
    qmf_error err = { 0 };
    char *uri = test_fixture_uri("node1.xml");

    cr_assert_eq(drv_open(&drv.conn, uri, &sparse_events, &drv, &err), 0,
                 "%s", err.text);
    cr_assert_eq(drv_act(drv.conn, &drv_pools, DRV_REFRESH, NODE1_POOL_UUID, 0, &err),
                 0, "%s", err.text);
    cr_assert_eq(drv_act(drv.conn, &drv_networks, DRV_DESTROY, NODE1_NET_UUID, 0, &err),
                 0, "%s", err.text);
    /* libvirt dispatches its queue in order: once this event is here, the
     * pool and network events went through the NULL entries (and were
     * dropped, not called). */
    expect_event(&drv, WEB1_UUID, "stopped", "destroyed");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_DESTROY, WEB1_UUID, 0, &err),
                 0, "%s", err.text);
    wait_for(&drv, "stopped/destroyed");
    free(uri);
}

Test(drivers, volumes)
{
    qmf_value *list = NULL, *v = NULL;
    const qmf_value *pool_ref;
    qmf_error err = { 0 };
    char *key = NULL, *copy = NULL, *xml = NULL;
    size_t i;

    drv.conn = test_open(&drv, "node1.xml");
    cr_assert_eq(drv_list(drv.conn, &drv_volumes, &list, &err), 0, "%s", err.text);
    cr_assert_eq(qmf_list_len(list), 2);
    for (i = 0; i < qmf_list_len(list); i++)
        expect_props(qmf_list_at(list, i), volume_props, NPROPS(volume_props), "Volume");
    v = find_by(list, "name", "web2.qcow2");
    cr_assert_not_null(v);
    cr_expect_str_eq(get_s(v, "key"), "/var/lib/virtbus/node1-pool/web2.qcow2");
    cr_expect_str_eq(get_s(v, "path"), "/var/lib/virtbus/node1-pool/web2.qcow2");
    cr_expect_str_eq(get_s(v, "format"), "qcow2");
    cr_expect_eq(get_u(v, "capacity"), 20ULL << 30);
    cr_expect_eq(get_u(v, "allocation"), 2ULL << 30);
    /* Only the object name: the agent adds its own name. */
    pool_ref = qmf_map_get(v, "storagePool");
    cr_expect_eq(qmf_map_len(pool_ref), 1);
    cr_expect_str_eq(get_s(pool_ref, "_object_name"), "pool:" NODE1_POOL_UUID);
    qmf_free(list);

    /* A name that XML must escape. */
    cr_assert_eq(drv_pool_create_volume(drv.conn, NODE1_POOL_UUID, "a&b<c>'\".img",
                                        1 << 20, "qcow2", &key, &err), 0, "%s", err.text);
    cr_assert_eq(drv_get(drv.conn, &drv_volumes, key, &v, &err), 0, "%s", err.text);
    cr_expect_str_eq(get_s(v, "name"), "a&b<c>'\".img");
    cr_expect_str_eq(get_s(v, "format"), "qcow2");
    cr_expect_eq(get_u(v, "capacity"), 1 << 20);
    cr_expect_str_eq(get_s(qmf_map_get(v, "storagePool"), "_object_name"),
                     "pool:" NODE1_POOL_UUID);
    qmf_free(v);
    cr_assert_eq(drv_get_xml(drv.conn, &drv_volumes, key, 0, &xml, &err), 0, "%s", err.text);
    cr_expect_not_null(strstr(xml, "a&amp;b&lt;c&gt;"), "%s", xml);
    free(xml);

    cr_assert_eq(drv_volume_clone(drv.conn, key, "copy.img", &copy, &err), 0, "%s", err.text);
    cr_assert_eq(drv_get(drv.conn, &drv_volumes, copy, &v, &err), 0, "%s", err.text);
    cr_expect_str_eq(get_s(v, "name"), "copy.img");
    cr_expect_eq(get_u(v, "capacity"), 1 << 20);
    qmf_free(v);
    cr_expect_eq(drv_volume_clone(drv.conn, key, "copy.img", &xml, &err), -1, "clone twice");
    cr_expect_eq(err.code & QMF_ERR_LIBVIRT, QMF_ERR_LIBVIRT, "%#x %s", err.code, err.text);

    cr_expect_eq(drv_act(drv.conn, &drv_volumes, DRV_WIPE, copy, 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_LIBVIRT | VIR_ERR_NO_SUPPORT, "%#x %s", err.code, err.text);
    cr_expect_eq(drv_volume_resize(drv.conn, copy, 2 << 20, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_LIBVIRT | VIR_ERR_NO_SUPPORT, "%#x %s", err.code, err.text);

    cr_assert_eq(drv_act(drv.conn, &drv_volumes, DRV_DELETE, copy, 0, &err), 0, "%s", err.text);
    cr_expect_eq(drv_get(drv.conn, &drv_volumes, copy, &v, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT, "%#x %s", err.code, err.text);
    cr_expect_eq(drv_act(drv.conn, &drv_volumes, DRV_DELETE, copy, 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT);
    free(copy);

    cr_assert_eq(drv_pool_create_volume_xml(drv.conn, NODE1_POOL_UUID,
                 "<volume><name>x.raw</name><capacity>4096</capacity></volume>", &copy,
                                            &err), 0, "%s", err.text);
    cr_assert_eq(drv_list(drv.conn, &drv_volumes, &list, &err), 0, "%s", err.text);
    cr_expect_eq(qmf_list_len(list), 4);
    qmf_free(list);
    cr_expect_eq(drv_pool_create_volume_xml(drv.conn, NODE1_POOL_UUID, "<volume/>", &xml,
                                            &err), -1);
    cr_expect_eq(err.code & QMF_ERR_LIBVIRT, QMF_ERR_LIBVIRT, "%#x %s", err.code, err.text);

    /* A stopped pool's volumes are not listed. */
    cr_assert_eq(drv_act(drv.conn, &drv_pools, DRV_DESTROY, NODE1_POOL_UUID, 0, &err),
                 0, "%s", err.text);
    cr_assert_eq(drv_list(drv.conn, &drv_volumes, &list, &err), 0, "%s", err.text);
    cr_expect_eq(qmf_list_len(list), 0);
    qmf_free(list);
    free(key);
    free(copy);
}

Test(drivers, interfaces)
{
    qmf_value *list = NULL, *i0;
    qmf_error err = { 0 };
    char *xml = NULL;
    size_t i;

    drv.conn = test_open(&drv, "fleet.xml");
    cr_assert_eq(drv_list(drv.conn, &drv_interfaces, &list, &err), 0, "%s", err.text);
    cr_assert_eq(qmf_list_len(list), 2);
    for (i = 0; i < qmf_list_len(list); i++)
        expect_props(qmf_list_at(list, i), interface_props, NPROPS(interface_props),
                     "Interface");
    i0 = find_by(list, "name", "eth1");
    cr_assert_not_null(i0);
    cr_expect_str_eq(get_s(i0, "mac"), "52:54:00:f1:ee:02");
    cr_expect(get_b(i0, "active"));
    qmf_free(list);

    cr_assert_eq(drv_act(drv.conn, &drv_interfaces, DRV_DESTROY, "eth1", 0, &err),
                 0, "%s", err.text);
    cr_assert_eq(drv_get(drv.conn, &drv_interfaces, "eth1", &i0, &err), 0, "%s", err.text);
    cr_expect_not(get_b(i0, "active"));
    qmf_free(i0);
    cr_expect_eq(drv_act(drv.conn, &drv_interfaces, DRV_DESTROY, "eth1", 0, &err),
                 -1, "already down");
    cr_expect_eq(err.code & QMF_ERR_LIBVIRT, QMF_ERR_LIBVIRT, "%#x %s", err.code, err.text);
    cr_assert_eq(drv_act(drv.conn, &drv_interfaces, DRV_CREATE, "eth1", 0, &err),
                 0, "%s", err.text);
    cr_assert_eq(drv_get_xml(drv.conn, &drv_interfaces, "eth0", 0, &xml, &err), 0, "%s", err.text);
    cr_expect_not_null(strstr(xml, "name='eth0'"), "%s", xml);
    free(xml);
    cr_expect_eq(drv_get(drv.conn, &drv_interfaces, "eth9", &i0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_UNKNOWN_OBJECT, "%#x %s", err.code, err.text);
}

/* ---- what a family lacks ---- */

Test(drivers, null_entries_are_not_implemented)
{
    /* Refused before the connection is looked at: none is needed. */
    qmf_value *v = NULL;
    char *s = NULL;
    qmf_error err = { 0 };

    cr_expect_eq(drv_act(NULL, &drv_pools, DRV_SUSPEND, NODE1_POOL_UUID, 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_NOT_IMPLEMENTED);
    cr_expect_str_eq(err.text, "suspend of a pool is not implemented by the libvirt driver");
    cr_expect_eq(drv_act(NULL, &drv_networks, DRV_SHUTDOWN, WEB1_UUID, 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_NOT_IMPLEMENTED);
    cr_expect_str_eq(err.text,
                     "shutdown of a network is not implemented by the libvirt driver");
    cr_expect_eq(drv_act(NULL, &drv_interfaces, DRV_UNDEFINE, "eth0", 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_NOT_IMPLEMENTED);
    cr_expect_eq(drv_act(NULL, &drv_domains, DRV_NACTIONS, WEB1_UUID, 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_NOT_IMPLEMENTED);
    cr_expect_eq(drv_set_autostart(NULL, &drv_volumes, "k", true, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_NOT_IMPLEMENTED);
    cr_expect_str_eq(err.text, "autostart of a volume is not implemented by the libvirt driver");
    cr_expect_eq(drv_define_xml(NULL, &drv_interfaces, "<interface/>", &s, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_NOT_IMPLEMENTED);
    cr_expect_eq(drv_create_xml(NULL, &drv_volumes, "<volume/>", 0, &s, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_NOT_IMPLEMENTED);
    cr_expect_str_eq(err.text,
                     "create from XML of a volume is not implemented by the libvirt driver");
    cr_expect_null(v);
    cr_expect_null(s);

    /* What a family has, without a connection, is "driver down", not a crash. */
    cr_expect_eq(drv_list(NULL, &drv_domains, &v, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_DRIVER_DOWN);
    cr_expect_eq(drv_act(NULL, &drv_volumes, DRV_WIPE, "k", 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_DRIVER_DOWN);
    cr_expect_eq(drv_act(NULL, &drv_interfaces, DRV_CREATE, "eth0", 0, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_DRIVER_DOWN);
    cr_expect_eq(drv_node_info(NULL, &v, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_DRIVER_DOWN);
    cr_expect_null(v);
}

/* ---- a private libvirtd: remote connections and their loss ---- */

Test(drivers, remote_events_and_connection_loss)
{
    struct test_libvirtd d = { .pid = 0 };
    qmf_value *list = NULL;
    qmf_error err = { 0 };
    char *path, *uri;

    test_libvirtd_start(&d);
    test_loop_thread_start(&drv);
    path = test_fixture_path("node1.xml");
    uri = qmf_xasprintf("test+unix://%s?socket=%s", path, d.socket);
    cr_assert_eq(drv_open(&drv.conn, uri, &test_events, &drv, &err), 0,
                 "opening %s: %s", uri, err.text);

    cr_assert_eq(drv_list(drv.conn, &drv_domains, &list, &err), 0, "%s", err.text);
    cr_expect_eq(qmf_list_len(list), 3);
    qmf_free(list);

    /* The event travels over the socket: it needs the loop's fd watch. */
    expect_event(&drv, WEB1_UUID, "stopped", "shutdown");
    cr_assert_eq(drv_act(drv.conn, &drv_domains, DRV_SHUTDOWN, WEB1_UUID, 0, &err), 0,
                 "%s", err.text);
    cr_assert(wait_threaded(&drv, event_matched), "no remote stopped/shutdown event");

    test_libvirtd_kill(&d);
    cr_assert(wait_threaded(&drv, disconnected), "no disconnected callback");
    cr_expect_eq(drv.disconnects, 1);
    cr_expect(drv.disconnect_on_loop_thread, "disconnected ran off the loop thread");
    cr_expect_neq(drv.disconnect_reason[0], '\0');

    cr_expect_eq(drv_list(drv.conn, &drv_domains, &list, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_DRIVER_DOWN, "code %#x: %s", err.code, err.text);
    cr_expect_eq(drv_node_info(drv.conn, &list, &err), -1);
    cr_expect_eq(err.code, QMF_ERR_DRIVER_DOWN);

    test_loop_thread_stop(&drv);
    test_libvirtd_stop(&d);
    free(path);
    free(uri);
}
