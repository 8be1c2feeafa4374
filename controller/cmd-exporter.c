/*
 * virtbus exporter: the fleet as Prometheus metrics (OpenMetrics text over
 * HTTP, libevent's evhttp).  Event-driven: the state is built from one
 * inventory query per node, then kept from what agents publish anyway
 * (heartbeats, object pushes, events) and from presence; a scrape only
 * renders what is held and never asks the fleet anything.  Inventories are
 * asked again when a node comes (back), and every --refresh seconds as a
 * safety net for pushes lost while the broker was away.
 */
#include "controller/ctl.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "bus/bus.h"
#include "controller/openmetrics.h"
#include "core/names.h"

#define EXPORTER_DEFAULT_LISTEN "127.0.0.1:9837"
#define EXPORTER_DEFAULT_REFRESH_S 300
#define EXPORTER_DEFAULT_FORGET_S 3600

/* One node as the exporter knows it. */
struct exp_node {
    char *node;
    bool up;
    int64_t last_seen_ns;       /* its last heartbeat, 0: unknown */
    int64_t down_since_ms;      /* when it went down (up false) */
    qmf_value *attrs;           /* its last heartbeat's _values, or NULL */
    /* Objects by _object_name: the whole item of a push or a query answer
     * (its _values and _update_ts).  Dropped while the node is down. */
    qmf_value *domains, *pools;
    qmf_value *events;          /* event name -> count (uint64) since our start */
    bool want_inventory;        /* ask its inventory at the next query round */
};

struct exp_state {
    struct ctl_ctx *ctx;
    struct exp_node **nodes;    /* sorted by node */
    size_t n;
    bool stop;
    bool query_round;           /* some node wants its inventory */
    unsigned refresh_s, forget_s;
    struct event *refresh_ev, *sweep_ev, *sigint_ev, *sigterm_ev;
    struct evhttp *http;
    uint64_t scrapes, queries_failed;
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Nodes ------------------------------------------------------------------------ */

static int
compare_node(const void *key, const void *elem)
{
    return strcmp(key, (*(struct exp_node *const *)elem)->node);
}

static struct exp_node *
node_find(struct exp_state *st, const char *node)
{
    struct exp_node **found = st->n ? bsearch(node, st->nodes, st->n, sizeof(*st->nodes),
                                              compare_node) : NULL;

    return found ? *found : NULL;
}

static struct exp_node *
node_get(struct exp_state *st, const char *node)
{
    struct exp_node *n = node_find(st, node);
    size_t at = 0;

    if (n != NULL)
        return n;
    while (at < st->n && strcmp(st->nodes[at]->node, node) < 0)
        at++;
    n = qmf_xcalloc(1, sizeof(*n));
    n->node = qmf_xstrdup(node);
    n->domains = qmf_map();
    n->pools = qmf_map();
    n->events = qmf_map();
    st->nodes = qmf_xrealloc(st->nodes, (st->n + 1) * sizeof(*st->nodes));
    memmove(&st->nodes[at + 1], &st->nodes[at], (st->n - at) * sizeof(*st->nodes));
    st->nodes[at] = n;
    st->n++;
    return n;
}

static void
node_drop_inventory(struct exp_node *n)
{
    qmf_free(n->domains);
    qmf_free(n->pools);
    n->domains = qmf_map();
    n->pools = qmf_map();
}

static void
node_free(struct exp_node *n)
{
    free(n->node);
    qmf_free(n->attrs);
    qmf_free(n->domains);
    qmf_free(n->pools);
    qmf_free(n->events);
    free(n);
}

/* The node's presence, from a presence list or a change. */
static void
node_heard(struct exp_node *n, const struct virtbus_agent *a)
{
    if (a->last_seen_ns > n->last_seen_ns)
        n->last_seen_ns = a->last_seen_ns;
    if (a->attrs != NULL) {
        qmf_free(n->attrs);
        n->attrs = qmf_dup(a->attrs);
    }
}

/* Down: its inventory says nothing true any more (it comes back with the
 * next query); the node itself stays, up 0, for --forget-after. */
static void
node_down(struct exp_node *n)
{
    if (n->up)
        n->down_since_ms = now_ms();
    n->up = false;
    n->want_inventory = false;
    node_drop_inventory(n);
}

/* Objects ---------------------------------------------------------------------- */

static int64_t
item_ts(const qmf_value *item)
{
    int64_t ts = 0;

    if (!qmf_get_int64(qmf_map_get(item, "_delete_ts"), &ts))
        qmf_get_int64(qmf_map_get(item, "_update_ts"), &ts);
    return ts;
}

static qmf_value *
objects_of(struct exp_node *n, const char *class_name)
{
    if (class_name == NULL)
        return NULL;
    if (strcmp(class_name, "Domain") == 0)
        return n->domains;
    if (strcmp(class_name, "Pool") == 0)
        return n->pools;
    return NULL;
}

/* A pushed object (or a deletion), unless what is held is newer: a push
 * kept while a query ran may be older than the query's answer. */
static void
apply_object(qmf_value *objects, const qmf_value *item)
{
    const char *oname = qmf_map_get_string(qmf_map_get(item, "_object_id"), "_object_name");
    const qmf_value *held;

    if (oname == NULL || qmf_map_get(item, "_values") == NULL)
        return;
    held = qmf_map_get(objects, oname);
    if (held != NULL && item_ts(held) > item_ts(item))
        return;
    if (qmf_map_get(item, "_delete_ts") != NULL)
        qmf_free(qmf_map_take(objects, oname));
    else
        qmf_map_set(objects, oname, qmf_dup(item));
}

/* A query's answer replaces a class's objects, but an object held with a
 * newer _update_ts (a push read meanwhile) stays as the push left it. */
static qmf_value *
replace_objects(const qmf_value *held, const qmf_value *answer)
{
    qmf_value *fresh = qmf_map();
    size_t i;

    for (i = 0; i < qmf_list_len(answer); i++) {
        const qmf_value *item = qmf_list_at(answer, i);
        const char *oname = qmf_map_get_string(qmf_map_get(item, "_object_id"),
                                               "_object_name");
        const qmf_value *old = oname ? qmf_map_get(held, oname) : NULL;

        if (oname == NULL)
            continue;
        qmf_map_set(fresh, oname, qmf_dup(old && item_ts(old) > item_ts(item) ? old : item));
    }
    return fresh;
}

/* Messages: heartbeats, pushes, events ---------------------------------------- */

/* The node of a message, if its routing key is that node's own: with
 * broker-setup's topic permissions only that agent can publish there, so
 * a node cannot speak for another (presence checks heartbeats the same
 * way).  NULL otherwise. */
static const char *
message_node(const struct bus_message *m)
{
    const char *agent = bus_message_header(m, "qmf.agent");
    const char *node;

    if (!qmf_name_key_is_agents(m->subject, agent) || qmf_name_agent_node(agent, &node) != 0)
        return NULL;
    return node;
}

static void
on_heartbeat(struct exp_node *n, const qmf_value *values)
{
    int64_t ts = 0;

    if (values == NULL || values->kind != QMF_MAP)
        return;
    if (qmf_get_int64(qmf_map_get(values, "_timestamp"), &ts) && ts < n->last_seen_ns)
        return;         /* older than one already read */
    n->last_seen_ns = ts;
    qmf_free(n->attrs);
    n->attrs = qmf_dup(values);
}

static void
on_event(struct exp_node *n, const qmf_value *item)
{
    const char *name = qmf_map_get_string(qmf_map_get(item, "_schema_id"), "_class_name");
    qmf_value *count;
    uint64_t c = 0;

    if (name == NULL)
        return;
    count = qmf_map_get(n->events, name);
    qmf_get_uint64(count, &c);
    qmf_map_set(n->events, name, qmf_u64(c + 1));
    /* The driver's state at once, not at the next heartbeat. */
    if (n->attrs != NULL && strcmp(name, "driverDisconnected") == 0)
        qmf_map_set(n->attrs, "driver", qmf_string("disconnected"));
    else if (n->attrs != NULL && strcmp(name, "driverReconnected") == 0)
        qmf_map_set(n->attrs, "driver", qmf_string("connected"));
}

static void
on_message(const struct virtbus_message *watched, void *opaque)
{
    const struct bus_message *m = virtbus_message_bus(watched);
    struct exp_state *st = opaque;
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const char *content = bus_message_header(m, "qmf.content");
    const char *node = message_node(m);
    struct exp_node *n;
    size_t i;

    /* Only nodes presence knows: presence says who is there. */
    if (node == NULL || opcode == NULL || m->body == NULL ||
        (n = node_find(st, node)) == NULL)
        return;
    if (strcmp(opcode, "_agent_heartbeat_indication") == 0) {
        on_heartbeat(n, qmf_map_get(m->body, "_values"));
        return;
    }
    if (content == NULL || m->body->kind != QMF_LIST)
        return;
    for (i = 0; i < qmf_list_len(m->body); i++) {
        const qmf_value *item = qmf_list_at(m->body, i);

        if (strcmp(content, "_event") == 0) {
            on_event(n, item);
        } else if (strcmp(content, "_data") == 0 && n->up) {
            qmf_value *objects = objects_of(n, qmf_map_get_string(qmf_map_get(item, "_schema_id"),
                                                                  "_class_name"));

            if (objects != NULL)
                apply_object(objects, item);
        }
    }
}

/* Presence changes: a node up asks its inventory; a node down drops it. */
static void
on_presence(const struct virtbus_agent *a, enum virtbus_presence_change what, void *opaque)
{
    struct exp_state *st = opaque;
    struct exp_node *n = node_get(st, a->node);

    node_heard(n, a);
    if (what == VIRTBUS_NODE_SILENT || what == VIRTBUS_NODE_STOPPED) {
        node_down(n);
        return;
    }
    n->up = true;
    n->want_inventory = true;
    st->query_round = true;
    virtbus_watch_stop(st->ctx->console);
}

/* Inventory queries --------------------------------------------------------------- */

/* One class from every node of agents; the answers replace what is held. */
static void
query_class(struct exp_state *st, const struct virtbus_agent_list *agents,
            const char *class_name)
{
    struct virtbus_results res = { 0 };
    qmf_error err;
    size_t i;

    if (virtbus_query(st->ctx->console, agents, "OBJECT", class_name, NULL,
                      st->ctx->timeout_ms, &res, &err) != 0) {
        ctl_warnx("inventory of %s: %s", class_name, err.text);
        st->queries_failed++;
        return;
    }
    for (i = 0; i < res.n; i++) {
        struct exp_node *n = node_find(st, res.items[i].node);
        qmf_value **objects;

        if (n == NULL || !n->up)
            continue;
        if (res.items[i].status != VIRTBUS_OK) {
            /* Kept as it was; asked again at the next refresh. */
            ctl_warnx("%s: inventory of %s: %s", n->node, class_name,
                      res.items[i].status == VIRTBUS_NO_REPLY ? "no reply"
                                                              : res.items[i].error.text);
            st->queries_failed++;
            continue;
        }
        objects = strcmp(class_name, "Domain") == 0 ? &n->domains : &n->pools;
        {
            qmf_value *fresh = replace_objects(*objects, res.items[i].value);

            qmf_free(*objects);
            *objects = fresh;
        }
    }
    virtbus_results_free(&res);
}

/* Asks the nodes that want it for their inventory.  Runs outside
 * virtbus_watch (a query runs the loop itself); what arrives meanwhile
 * waits in the watch's backlog and is applied after the answers. */
static void
query_round(struct exp_state *st)
{
    struct virtbus_agent_list agents = { 0 };
    size_t i;

    st->query_round = false;
    for (i = 0; i < st->n; i++) {
        struct exp_node *n = st->nodes[i];
        struct virtbus_agent a = { 0 };

        if (!n->want_inventory || !n->up)
            continue;
        n->want_inventory = false;
        a.name = virtbus_agent_name(n->node);
        a.node = n->node;
        a.up = true;
        virtbus_agent_list_add(&agents, &a);
        free(a.name);
    }
    if (agents.n > 0) {
        query_class(st, &agents, "Domain");
        query_class(st, &agents, "Pool");
    }
    virtbus_agent_list_free(&agents);
}

static void
on_refresh(evutil_socket_t fd, short what, void *arg)
{
    struct exp_state *st = arg;
    size_t i;

    for (i = 0; i < st->n; i++)
        st->nodes[i]->want_inventory = st->nodes[i]->up;
    st->query_round = true;
    virtbus_watch_stop(st->ctx->console);
}

/* Bounded memory: a node down for --forget-after seconds is dropped. */
static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct exp_state *st = arg;
    int64_t cutoff = now_ms() - (int64_t)st->forget_s * 1000;
    size_t i, kept = 0;

    for (i = 0; i < st->n; i++) {
        if (!st->nodes[i]->up && st->nodes[i]->down_since_ms <= cutoff)
            node_free(st->nodes[i]);
        else
            st->nodes[kept++] = st->nodes[i];
    }
    st->n = kept;
}

/* Rendering ----------------------------------------------------------------------- */

static const char *const domain_states[] = {
    "nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed",
    "pmsuspended",
};

static const char *const command_outcomes[] = { "ok", "error", "expired", "rejected" };

static bool
attr_u64(const struct exp_node *n, const char *key, uint64_t *v)
{
    return n->attrs != NULL && qmf_get_uint64(qmf_map_get(n->attrs, key), v);
}

/* A family of one value per node, from its heartbeat's attribute key
 * (times scale), for the nodes up that have it. */
static void
render_node_attr(struct evbuffer *b, const struct exp_state *st, const char *name,
                 const char *unit, const char *help, const char *key, uint64_t scale)
{
    size_t i;
    uint64_t v;

    om_family(b, name, OM_GAUGE, unit, help);
    for (i = 0; i < st->n; i++) {
        const char *labels[] = { "node", st->nodes[i]->node, NULL };

        if (st->nodes[i]->up && attr_u64(st->nodes[i], key, &v))
            om_sample_u64(b, name, OM_GAUGE, labels, v * scale);
    }
}

static void
render_nodes(struct evbuffer *b, const struct exp_state *st)
{
    size_t i, j;
    uint64_t v;

    om_family(b, "virtbus_node_up", OM_GAUGE, NULL,
              "1 if the node's agent heartbeats (presence), 0 if it went silent or stopped");
    for (i = 0; i < st->n; i++) {
        const char *labels[] = { "node", st->nodes[i]->node, NULL };

        om_sample_u64(b, "virtbus_node_up", OM_GAUGE, labels, st->nodes[i]->up);
    }
    om_family(b, "virtbus_node_last_seen_timestamp_seconds", OM_GAUGE, "seconds",
              "When the node's agent last heartbeated, in seconds since the epoch");
    for (i = 0; i < st->n; i++) {
        const char *labels[] = { "node", st->nodes[i]->node, NULL };

        if (st->nodes[i]->last_seen_ns > 0)
            om_sample_double(b, "virtbus_node_last_seen_timestamp_seconds", OM_GAUGE, labels,
                             (double)st->nodes[i]->last_seen_ns / 1e9);
    }
    om_family(b, "virtbus_agent_info", OM_GAUGE, NULL,
              "Always 1 for a node up: its agent's version, hypervisor and libvirt URI");
    for (i = 0; i < st->n; i++) {
        const struct exp_node *n = st->nodes[i];
        const char *labels[] = {
            "node", n->node, "version", qmf_map_get_string(n->attrs, "version"),
            "hypervisor", qmf_map_get_string(n->attrs, "hypervisorType"),
            "uri", qmf_map_get_string(n->attrs, "uri"), NULL,
        };

        if (n->up && n->attrs != NULL)
            om_sample_u64(b, "virtbus_agent_info", OM_GAUGE, labels, 1);
    }
    om_family(b, "virtbus_agent_driver_connected", OM_GAUGE, NULL,
              "1 if the agent is connected to its hypervisor (libvirt), 0 if not");
    for (i = 0; i < st->n; i++) {
        const char *driver = qmf_map_get_string(st->nodes[i]->attrs, "driver");
        const char *labels[] = { "node", st->nodes[i]->node, NULL };

        if (st->nodes[i]->up && driver != NULL)
            om_sample_u64(b, "virtbus_agent_driver_connected", OM_GAUGE, labels,
                          strcmp(driver, "connected") == 0);
    }
    render_node_attr(b, st, "virtbus_node_cpus", NULL, "The node's CPUs", "cpus", 1);
    render_node_attr(b, st, "virtbus_node_memory_bytes", "bytes", "The node's memory",
                     "memory", 1024);
    render_node_attr(b, st, "virtbus_node_domains", NULL,
                     "The domains the agent reports in its heartbeat", "domains", 1);
    om_family(b, "virtbus_agent_commands", OM_COUNTER, NULL,
              "Method requests the agent acted on since it started, by the outcome of "
              "their commandResult (error: ran and failed; rejected: refused)");
    for (i = 0; i < st->n; i++) {
        const qmf_value *counts = st->nodes[i]->attrs ? qmf_map_get(st->nodes[i]->attrs,
                                                                    "_commands") : NULL;

        for (j = 0; st->nodes[i]->up && counts &&
                    j < sizeof(command_outcomes) / sizeof(*command_outcomes); j++) {
            const char *labels[] = { "node", st->nodes[i]->node, "outcome",
                                     command_outcomes[j], NULL };

            if (qmf_get_uint64(qmf_map_get(counts, command_outcomes[j]), &v))
                om_sample_u64(b, "virtbus_agent_commands", OM_COUNTER, labels, v);
        }
    }
    om_family(b, "virtbus_agent_events", OM_COUNTER, NULL,
              "Events the agent published since this exporter started, by event class");
    for (i = 0; i < st->n; i++) {
        const qmf_value *events = st->nodes[i]->events;

        for (j = 0; j < qmf_map_len(events); j++) {
            const char *labels[] = { "node", st->nodes[i]->node, "event",
                                     qmf_map_at(events, j)->key, NULL };

            if (qmf_get_uint64(qmf_map_at(events, j)->value, &v))
                om_sample_u64(b, "virtbus_agent_events", OM_COUNTER, labels, v);
        }
    }
}

/* What a family of the object metrics takes from an object's _values. */
struct object_metric {
    const char *name, *unit, *help, *property;
    enum om_type type;
    double scale;           /* the property's unit to the metric's */
};

static const struct object_metric domain_metrics[] = {
    { "virtbus_domain_vcpus", NULL, "The domain's virtual CPUs", "numVcpus", OM_GAUGE, 1 },
    { "virtbus_domain_memory_bytes", "bytes", "The domain's current memory", "memory",
      OM_GAUGE, 1024 },
    { "virtbus_domain_memory_max_bytes", "bytes", "The domain's maximum memory",
      "maximumMemory", OM_GAUGE, 1024 },
    { "virtbus_domain_cpu_seconds", "seconds",
      "CPU time the domain used (refreshed every stats_interval of the agent)", "cpuTime",
      OM_COUNTER, 1e-9 },
    { 0 },
};

static const struct object_metric pool_metrics[] = {
    { "virtbus_pool_capacity_bytes", "bytes", "The pool's capacity", "capacity", OM_GAUGE, 1 },
    { "virtbus_pool_allocation_bytes", "bytes",
      "The pool's allocation (refreshed every stats_interval of the agent)", "allocation",
      OM_GAUGE, 1 },
    { "virtbus_pool_available_bytes", "bytes", "The pool's free space", "available",
      OM_GAUGE, 1 },
    { 0 },
};

/* One family over the objects of every node up (label: domain or pool). */
static void
render_objects(struct evbuffer *b, const struct exp_state *st, const struct object_metric *om,
               bool domains, const char *label)
{
    size_t i, j;

    om_family(b, om->name, om->type, om->unit, om->help);
    for (i = 0; i < st->n; i++) {
        const qmf_value *objects = domains ? st->nodes[i]->domains : st->nodes[i]->pools;

        for (j = 0; st->nodes[i]->up && j < qmf_map_len(objects); j++) {
            const qmf_value *values = qmf_map_get(qmf_map_at(objects, j)->value, "_values");
            const char *labels[] = { "node", st->nodes[i]->node,
                                     label, qmf_map_get_string(values, "name"),
                                     "uuid", qmf_map_get_string(values, "uuid"), NULL };
            uint64_t v;

            if (!qmf_get_uint64(qmf_map_get(values, om->property), &v))
                continue;
            if (om->scale == 1)
                om_sample_u64(b, om->name, om->type, labels, v);
            else if (om->scale > 1)
                om_sample_u64(b, om->name, om->type, labels, v * (uint64_t)om->scale);
            else
                om_sample_double(b, om->name, om->type, labels, (double)v * om->scale);
        }
    }
}

/* The domain's state as one series per possible state, 1 for the current
 * one and 0 for the others (kube-state-metrics' way): a change of state
 * changes values, not series, and a state outside the list still shows. */
static void
render_domain_states(struct evbuffer *b, const struct exp_state *st)
{
    size_t i, j, k;

    om_family(b, "virtbus_domain_state", OM_GAUGE, NULL,
              "1 for the domain's current state (libvirt's: running, shutoff, ...), "
              "0 for the other states");
    for (i = 0; i < st->n; i++) {
        const qmf_value *objects = st->nodes[i]->domains;

        for (j = 0; st->nodes[i]->up && j < qmf_map_len(objects); j++) {
            const qmf_value *values = qmf_map_get(qmf_map_at(objects, j)->value, "_values");
            const char *state = qmf_map_get_string(values, "state");
            const char *labels[] = { "node", st->nodes[i]->node,
                                     "domain", qmf_map_get_string(values, "name"),
                                     "uuid", qmf_map_get_string(values, "uuid"),
                                     "state", NULL, NULL };
            bool known = false;

            for (k = 0; k < sizeof(domain_states) / sizeof(*domain_states); k++) {
                labels[7] = domain_states[k];
                known |= state != NULL && strcmp(state, domain_states[k]) == 0;
                om_sample_u64(b, "virtbus_domain_state", OM_GAUGE, labels,
                              state != NULL && strcmp(state, domain_states[k]) == 0);
            }
            labels[7] = state;
            if (!known && state != NULL)
                om_sample_u64(b, "virtbus_domain_state", OM_GAUGE, labels, 1);
        }
    }
}

static void
render(struct evbuffer *b, const struct exp_state *st)
{
    const struct object_metric *om;

    render_nodes(b, st);
    render_domain_states(b, st);
    for (om = domain_metrics; om->name; om++)
        render_objects(b, st, om, true, "domain");
    for (om = pool_metrics; om->name; om++)
        render_objects(b, st, om, false, "pool");
    om_family(b, "virtbus_exporter_scrapes", OM_COUNTER, NULL,
              "Scrapes this exporter answered (this one included)");
    om_sample_u64(b, "virtbus_exporter_scrapes", OM_COUNTER, NULL, st->scrapes);
    om_family(b, "virtbus_exporter_inventory_failures", OM_COUNTER, NULL,
              "Inventory queries (per node and class) that got no answer or an error");
    om_sample_u64(b, "virtbus_exporter_inventory_failures", OM_COUNTER, NULL,
                  st->queries_failed);
    om_eof(b);
}

/* HTTP --------------------------------------------------------------------------- */

static void
on_metrics(struct evhttp_request *req, void *arg)
{
    struct exp_state *st = arg;
    struct evbuffer *b = evbuffer_new();

    st->scrapes++;
    render(b, st);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      OM_CONTENT_TYPE);
    evhttp_send_reply(req, HTTP_OK, "OK", b);
    evbuffer_free(b);
}

static void
on_other(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = evbuffer_new();

    evbuffer_add_printf(b, "virtbus exporter: the metrics are at /metrics\n");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    evhttp_send_reply(req, HTTP_NOTFOUND, "Not Found", b);
    evbuffer_free(b);
}

/* Binds --listen ADDR:PORT ([v6]:PORT too) and says where, the port
 * chosen when it is 0. */
static int
listen_http(struct exp_state *st, const struct ctl_cmd_entry *e, const char *listen)
{
    char *host = qmf_xstrdup(listen), *colon = strrchr(host, ':'), *end;
    struct evhttp_bound_socket *bound;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    unsigned long port;
    int rc = CTL_EXIT_OK;

    if (colon == NULL || colon == host || colon[1] == '\0') {
        free(host);
        return ctl_usage(e, "--listen: expected ADDRESS:PORT, got '%s'", listen);
    }
    *colon = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port > 65535) {
        free(host);
        return ctl_usage(e, "--listen: bad port in '%s'", listen);
    }
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    st->http = evhttp_new(st->ctx->base);
    evhttp_set_allowed_methods(st->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_cb(st->http, "/metrics", on_metrics, st);
    evhttp_set_gencb(st->http, on_other, st);
    bound = evhttp_bind_socket_with_handle(st->http, host, (uint16_t)port);
    if (bound == NULL) {
        ctl_warnx("--listen %s: cannot listen there: %s", listen, strerror(errno));
        rc = CTL_EXIT_FAILED;
    } else if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss,
                           &len) == 0) {
        port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
        if (!st->ctx->quiet)
            fprintf(stderr, "virtbus: exporter listening on http://%s%s%s:%lu/metrics\n",
                    strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
    }
    free(host);
    return rc;
}

/* The command ------------------------------------------------------------------------ */

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct exp_state *st = arg;

    st->stop = true;
    virtbus_watch_stop(st->ctx->console);
    event_base_loopbreak(st->ctx->base);
}

static int
seconds_option(const struct ctl_cmd_entry *e, const struct ctl_args *a, const char *name,
               unsigned dflt, unsigned *out)
{
    const char *text = ctl_args_get(a, e, name);
    unsigned long v;
    char *end;

    *out = dflt;
    if (text == NULL)
        return CTL_EXIT_OK;
    v = strtoul(text, &end, 10);
    if (end == text || *end != '\0' || text[0] == '-' || v > 86400 * 365)
        return ctl_usage(e, "--%s: expected seconds, got '%s'", name, text);
    *out = (unsigned)v;
    return CTL_EXIT_OK;
}

/* The first state: presence (who is there), then every node's inventory. */
static int
exporter_start(struct exp_state *st)
{
    struct virtbus_agent_list known = { 0 };
    qmf_error err;
    size_t i;

    if (virtbus_presence(st->ctx->console, &known, &err) != 0 ||
        virtbus_presence_follow(st->ctx->console, on_presence, st, &err) != 0) {
        virtbus_agent_list_free(&known);
        return ctl_fail(&err);
    }
    for (i = 0; i < known.n; i++) {
        struct exp_node *n = node_get(st, known.items[i].node);

        node_heard(n, &known.items[i]);
        n->up = known.items[i].up;
        n->want_inventory = n->up;
        /* Down already: counted from its last heartbeat for --forget-after. */
        if (!n->up)
            n->down_since_ms = known.items[i].last_seen_ns / 1000000;
    }
    virtbus_agent_list_free(&known);
    query_round(st);
    return CTL_EXIT_OK;
}

static void
exporter_clear(struct exp_state *st)
{
    size_t i;

    for (i = 0; i < st->n; i++)
        node_free(st->nodes[i]);
    free(st->nodes);
    if (st->http)
        evhttp_free(st->http);
    if (st->refresh_ev)
        event_free(st->refresh_ev);
    if (st->sweep_ev)
        event_free(st->sweep_ev);
    if (st->sigint_ev)
        event_free(st->sigint_ev);
    if (st->sigterm_ev)
        event_free(st->sigterm_ev);
}

/* Connects, watching what the state is kept from (docs/PROTOCOL.md §2.3):
 * every agent's heartbeats, Domain and Pool pushes, and events. */
static int
exporter_connect(struct ctl_ctx *ctx)
{
    char *keys[] = {
        qmf_name_heartbeat_key(NULL),
        qmf_name_data_key("Domain", NULL),
        qmf_name_data_key("Pool", NULL),
        qmf_name_event_key(NULL, NULL, NULL),
        NULL,
    };
    size_t i;
    int rc;

    /* The console copies them. */
    rc = ctl_connect(ctx, true, (const char *const *)keys, NULL);
    for (i = 0; keys[i] != NULL; i++)
        free(keys[i]);
    return rc;
}

static int
exporter_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    struct exp_state st = { .ctx = ctx };
    const char *listen = ctl_args_get(a, e, "listen");
    struct timeval tv = { 0, 0 };
    qmf_error err;
    int rc;

    if (a->argc != 0)
        return ctl_usage(e, NULL);
    if ((rc = seconds_option(e, a, "refresh", EXPORTER_DEFAULT_REFRESH_S, &st.refresh_s)) ||
        (rc = seconds_option(e, a, "forget-after", EXPORTER_DEFAULT_FORGET_S, &st.forget_s)))
        return rc;
    /* Presence followed from the stream, never a cache taken as is. */
    ctx->presence_reuse_ms = 0;
    ctx->fleet_reuse_ms = 0;
    if ((rc = listen_http(&st, e, listen ? listen : EXPORTER_DEFAULT_LISTEN)) != 0 ||
        (rc = exporter_connect(ctx)) != 0 || (rc = exporter_start(&st)) != 0) {
        exporter_clear(&st);
        return rc;
    }
    st.sigint_ev = evsignal_new(ctx->base, SIGINT, on_signal, &st);
    st.sigterm_ev = evsignal_new(ctx->base, SIGTERM, on_signal, &st);
    event_add(st.sigint_ev, NULL);
    event_add(st.sigterm_ev, NULL);
    if (st.refresh_s > 0) {
        tv.tv_sec = st.refresh_s;
        st.refresh_ev = event_new(ctx->base, -1, EV_PERSIST, on_refresh, &st);
        event_add(st.refresh_ev, &tv);
    }
    tv.tv_sec = st.forget_s < 60 ? (st.forget_s ? st.forget_s : 1) : 60;
    st.sweep_ev = event_new(ctx->base, -1, EV_PERSIST, on_sweep, &st);
    event_add(st.sweep_ev, &tv);
    while (!st.stop) {
        /* A node may come while a round runs: its own round follows. */
        while (st.query_round && !st.stop)
            query_round(&st);
        if (!st.stop && virtbus_watch(ctx->console, on_message, &st, &err) != 0) {
            ctl_warnx("%s", err.text);
            rc = CTL_EXIT_FAILED;
            break;
        }
    }
    exporter_clear(&st);
    return rc;
}

static const struct ctl_option exporter_options[] = {
    { "listen", 0, "ADDR:PORT", "where to serve /metrics (default " EXPORTER_DEFAULT_LISTEN
      "; port 0: any free port)", NULL },
    { "refresh", 0, "SECONDS", "ask every node's inventory again this often (default 300; "
      "0: never)", NULL },
    { "forget-after", 0, "SECONDS", "drop a node down for this long (default 3600)", NULL },
    { 0 },
};

const struct ctl_cmd_entry ctl_cmds_exporter[] = {
    { .name = "exporter", .usage = "[--listen ADDR:PORT] [--refresh SECONDS] "
      "[--forget-after SECONDS]",
      .summary = "serve the fleet's state as Prometheus (OpenMetrics) metrics over HTTP",
      .options = exporter_options, .exec = exporter_exec },
    { 0 },
};
