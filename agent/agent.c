/*
 * The agent's lifecycle: start (hypervisor, inventory, broker), publishing
 * helpers, and graceful stop.  Requests are handled in dispatch.c.
 */
#include "agent/agent_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DRIVER_RETRY_MIN_MS 500
#define DRIVER_RETRY_MAX_MS 30000

static void agent_open_driver(struct agent *a);
static void agent_open_bus(struct agent *a);
static void agent_maybe_finish_stop(struct agent *a);

int64_t
agent_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
agent_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *
agent_job_key(const struct agent *a, const char *object_name)
{
    return qmf_xasprintf("%s/%s", a->name, object_name);
}

void
agent_job_begin(struct agent *a)
{
    a->jobs_in_flight++;
}

void
agent_job_end(struct agent *a)
{
    a->jobs_in_flight--;
    if (a->state == AGENT_STOPPING)
        agent_maybe_finish_stop(a);
}

const char *
agent_name(const struct agent *a)
{
    return a->name;
}

bool
agent_is_ready(const struct agent *a)
{
    return a->state == AGENT_RUNNING && a->bus_up && a->driver_up;
}

struct agent *
agent_new(const struct agent_env *env, const struct agent_config *cfg,
          qmf_error *err)
{
    struct agent *a;
    char *node_key, *ident;

    if (cfg->node == NULL || cfg->node[0] == '\0') {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the agent needs a node name");
        return NULL;
    }
    a = qmf_xcalloc(1, sizeof(*a));
    a->env = *env;
    agent_config_copy(&a->cfg, cfg);
    ident = qmf_xasprintf("virtbusd[%s]", cfg->node);
    log_init(&a->log, ident, cfg->log_level, env->use_syslog);
    free(ident);

    node_key = bus_key_escape(cfg->node);
    a->name = qmf_xasprintf("virtbus:agent:%s", cfg->node);
    a->key_name = qmf_xasprintf("virtbus.agent.%s", node_key);
    a->queue = qmf_xasprintf("virtbus.agent.%s", cfg->node);
    a->heartbeat_key = qmf_xasprintf("agent.ind.heartbeat.%s", a->key_name);
    free(node_key);

    a->drv = drv_backend_for_uri(cfg->uri);
    if (a->drv == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "no driver serves URI '%s'", cfg->uri);
        agent_free(a);
        return NULL;
    }
    inv_init(&a->inv, env->schema, a->name);
    a->state = AGENT_NEW;
    return a;
}

void
agent_free(struct agent *a)
{
    if (a == NULL)
        return;
    agent_heartbeat_stop(a);
    if (a->driver_retry_ev)
        event_free(a->driver_retry_ev);
    if (a->stats_ev)
        event_free(a->stats_ev);
    if (a->bus)
        bus_close(a->bus);
    if (a->dconn)
        a->drv->close(a->dconn);
    inv_free(&a->inv);
    agent_config_free(&a->cfg);
    free(a->name);
    free(a->key_name);
    free(a->queue);
    free(a->heartbeat_key);
    free(a);
}

int
agent_reconfigure(struct agent *a, const struct agent_config *cfg,
                  qmf_error *err)
{
    struct agent_config next;

    if (strcmp(cfg->node, a->cfg.node) != 0 ||
        strcmp(cfg->broker, a->cfg.broker) != 0 ||
        strcmp(cfg->uri, a->cfg.uri) != 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "node, broker and uri cannot change without a restart");
        return -1;
    }
    agent_config_copy(&next, cfg);
    agent_config_free(&a->cfg);
    a->cfg = next;
    a->log.level = cfg->log_level;
    if (a->heartbeat_ev) {
        agent_heartbeat_stop(a);
        agent_heartbeat_start(a);
    }
    log_info(&a->log, "configuration reloaded");
    return 0;
}

/* Agent attributes ------------------------------------------------------ */

qmf_value *
agent_attributes(const struct agent *a)
{
    static const char *const from_node[] = {
        "hostname", "uri", "hypervisorType", "hypervisorVersion",
        "libvirtVersion", "arch", "memory", "cpus",
    };
    const struct inv_object *node = inv_get(&a->inv, "node");
    qmf_value *attrs = qmf_map();
    size_t i;

    qmf_map_set(attrs, "_vendor", qmf_string("virtbus"));
    qmf_map_set(attrs, "_product", qmf_string("agent"));
    qmf_map_set(attrs, "_instance", qmf_string(a->cfg.node));
    qmf_map_set(attrs, "_name", qmf_string(a->name));
    qmf_map_set(attrs, "node", qmf_string(a->cfg.node));
    for (i = 0; node && i < sizeof(from_node) / sizeof(from_node[0]); i++) {
        const qmf_value *v = qmf_map_get(node->values, from_node[i]);

        if (v)
            qmf_map_set(attrs, from_node[i], qmf_dup(v));
    }
    qmf_map_set(attrs, "labels", qmf_dup(a->cfg.labels));
    qmf_map_set(attrs, "domains",
                qmf_u32((uint32_t)inv_count(&a->inv,
                                            schema_find_class(a->env.schema, "Domain"))));
    qmf_map_set(attrs, "version", qmf_string(VIRTBUS_VERSION_STRING));
    qmf_map_set(attrs, "driver", qmf_string(a->driver_up ? "connected" : "disconnected"));
    return attrs;
}

/* Publishing ------------------------------------------------------------- */

static const char *
opcode_method(const char *opcode)
{
    size_t n = strlen(opcode);

#define ENDS_WITH(s) (n >= sizeof(s) - 1 && strcmp(opcode + n - (sizeof(s) - 1), s) == 0)
    if (ENDS_WITH("_request"))
        return "request";
    if (ENDS_WITH("_indication"))
        return "indication";
#undef ENDS_WITH
    return "response";     /* *_response and _exception */
}

int
agent_publish(struct agent *a, const struct agent_publish *p, qmf_value *body)
{
    struct bus_message *m = bus_message_new();
    qmf_error err;
    int rc;

    bus_message_set_header_string(m, "qmf.opcode", p->opcode);
    bus_message_set_header_string(m, "method", opcode_method(p->opcode));
    bus_message_set_header_string(m, "qmf.agent", a->name);
    bus_message_set_header_string(m, "app-id", "qmf2");
    if (p->content)
        bus_message_set_header_string(m, "qmf.content", p->content);
    if (p->partial)
        bus_message_set_header(m, "partial", qmf_bool(true));
    if (p->correlation_id)
        m->correlation_id = qmf_xstrdup(p->correlation_id);
    m->created_ms = agent_now_ns() / 1000000;
    m->body = body;
    rc = bus_publish(a->bus, p->address, m, p->confirm, p->opaque, &err);
    bus_message_free(m);
    if (rc != 0) {
        log_debug(&a->log, "cannot publish %s to %s: %s", p->opcode, p->address, err.text);
        /* The contract is "confirm called exactly once", also on failure. */
        if (p->confirm)
            p->confirm(false, p->opaque);
    }
    return rc;
}

int
agent_reply(struct agent *a, const struct bus_message *req, const char *opcode,
            const char *content, bool partial, qmf_value *body,
            bus_confirm_cb confirm, void *opaque)
{
    struct agent_publish p = {
        .address = req->reply_to,
        .opcode = opcode,
        .content = content,
        .correlation_id = req->correlation_id,
        .partial = partial,
        .confirm = confirm,
        .opaque = opaque,
    };

    if (req->reply_to == NULL || req->reply_to[0] == '\0') {
        qmf_free(body);
        if (confirm)
            confirm(true, opaque);     /* fire-and-forget: nothing to send */
        return 0;
    }
    return agent_publish(a, &p, body);
}

int
agent_reply_exception(struct agent *a, const struct bus_message *req,
                      const qmf_error *err, bus_confirm_cb confirm, void *opaque)
{
    qmf_value *body = qmf_map();
    qmf_value *values = qmf_map_set(body, "_values", qmf_map());

    qmf_map_set(values, "error_code", qmf_u32(err->code));
    qmf_map_set(values, "error_text", qmf_string(err->text));
    log_debug(&a->log, "exception %u to %s: %s", err->code,
              req->reply_to ? req->reply_to : "(no reply-to)", err->text);
    return agent_reply(a, req, "_exception", NULL, false, body, confirm, opaque);
}

int
agent_publish_event(struct agent *a, const char *event, qmf_value *values,
                    bus_confirm_cb confirm, void *opaque)
{
    const struct schema_class *cls = schema_find_class(a->env.schema, event);
    struct agent_publish p = {
        .opcode = "_data_indication",
        .content = "_event",
        .confirm = confirm,
        .opaque = opaque,
    };
    qmf_value *body, *ev;
    qmf_error err;
    char *address;
    int rc;

    if (cls == NULL || cls->kind != SCHEMA_EVENT) {
        /* A programming error, but not worth dying for on a hypervisor. */
        log_warnx(&a->log, "no event class %s in the schema", event);
        qmf_free(values);
        if (confirm)
            confirm(false, opaque);
        return -1;
    }
    if (schema_check_values(cls, values, &err) != 0)
        log_warnx(&a->log, "event %s does not match the schema: %s", event, err.text);
    body = qmf_list();
    ev = qmf_list_append(body, qmf_map());
    qmf_map_set(ev, "_schema_id", schema_id_value(cls));
    qmf_map_set(ev, "_values", values);
    qmf_map_set(ev, "_timestamp", qmf_i64(agent_now_ns()));
    qmf_map_set(ev, "_severity", qmf_string(schema_severity_name(cls->severity)));
    address = qmf_xasprintf("/exchange/%s/agent.ind.event.org_libvirt.%s.%s.%s",
                            BUS_EXCHANGE_TOPIC, event,
                            schema_severity_name(cls->severity), a->key_name);
    p.address = address;
    rc = agent_publish(a, &p, body);
    free(address);
    return rc;
}

void
agent_push_objects(struct agent *a, qmf_value *data_list)
{
    size_t i, j;

    /* One message per class, so that consumers bind per class. */
    for (i = 0; i < qmf_list_len(data_list); i++) {
        const qmf_value *first = qmf_list_at(data_list, i);
        const char *cls;
        qmf_value *batch;
        char *address;
        struct agent_publish p = {
            .opcode = "_data_indication",
            .content = "_data",
        };

        if (first == NULL || first->kind == QMF_VOID)
            continue;
        cls = qmf_map_get_string(qmf_map_get(first, "_schema_id"), "_class_name");
        batch = qmf_list();
        for (j = i; j < qmf_list_len(data_list); j++) {
            qmf_value *d = data_list->u.list.items[j];
            const char *c;

            if (d->kind == QMF_VOID)
                continue;
            c = qmf_map_get_string(qmf_map_get(d, "_schema_id"), "_class_name");
            if (c && cls && strcmp(c, cls) == 0) {
                qmf_list_append(batch, d);
                data_list->u.list.items[j] = qmf_void();
            }
        }
        address = qmf_xasprintf("/exchange/%s/agent.ind.data.org_libvirt.%s.%s",
                                BUS_EXCHANGE_TOPIC, cls ? cls : "unknown", a->key_name);
        p.address = address;
        agent_publish(a, &p, batch);
        free(address);
    }
    qmf_free(data_list);
}

/* Inventory loading ---------------------------------------------------- */

struct inventory_job {
    struct agent *a;
    void (*done)(struct agent *a, bool ok);
    qmf_value *node;        /* Node values */
    qmf_value *classes;     /* class name -> {object name -> values} */
    qmf_error err;
    bool ok;
};

static qmf_value *
node_ref(const struct agent *a)
{
    return inv_object_id(&a->inv, "node");
}

/*
 * Worker side: completes a driver property map with what only the agent
 * knows (objIds) and coerces it to the schema's types, so that the
 * inventory holds exactly what the schema says.
 */
static int
finish_values(struct agent *a, const char *class_name, qmf_value *values,
              qmf_error *err)
{
    const struct schema_class *cls = schema_find_class(a->env.schema, class_name);

    if (cls == NULL) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "no class %s in the schema", class_name);
        return -1;
    }
    if (schema_find_property(cls, "node") &&
        schema_find_property(cls, "node")->type == QMF_T_OBJID)
        qmf_map_set(values, "node", node_ref(a));
    if (strcmp(class_name, "Node") == 0)
        qmf_map_set(values, "labels", qmf_dup(a->cfg.labels));
    return schema_check_values(cls, values, err);
}

/* The stable object name of a driver property map of a class. */
static char *
object_name_of(const char *class_name, const qmf_value *values)
{
    const char *key;

    if (strcmp(class_name, "Node") == 0)
        return qmf_xstrdup("node");
    if (strcmp(class_name, "Domain") == 0 && (key = qmf_map_get_string(values, "uuid")))
        return qmf_xasprintf("domain:%s", key);
    if (strcmp(class_name, "Pool") == 0 && (key = qmf_map_get_string(values, "uuid")))
        return qmf_xasprintf("pool:%s", key);
    if (strcmp(class_name, "Network") == 0 && (key = qmf_map_get_string(values, "uuid")))
        return qmf_xasprintf("network:%s", key);
    if (strcmp(class_name, "Volume") == 0 && (key = qmf_map_get_string(values, "key")))
        return qmf_xasprintf("volume:%s", key);
    if (strcmp(class_name, "Interface") == 0 && (key = qmf_map_get_string(values, "name")))
        return qmf_xasprintf("interface:%s", key);
    return NULL;
}

/* Adds a driver list of property maps of one class to job->classes. */
static int
collect_class(struct inventory_job *job, const char *class_name, qmf_value *list)
{
    qmf_value *by_name = qmf_map_set(job->classes, class_name, qmf_map());
    size_t i;

    for (i = 0; i < qmf_list_len(list); i++) {
        qmf_value *values = list->u.list.items[i];
        char *name;

        if (finish_values(job->a, class_name, values, &job->err) != 0)
            return -1;
        name = object_name_of(class_name, values);
        if (name == NULL) {
            qmf_error_set(&job->err, QMF_ERR_INTERNAL,
                          "a %s without its identifying property", class_name);
            return -1;
        }
        qmf_map_set(by_name, name, values);
        list->u.list.items[i] = qmf_void();
        free(name);
    }
    return 0;
}

/* The class of an object, from the prefix of its stable name. */
static const char *
class_of_object(const char *object_name)
{
    static const struct {
        const char *prefix;
        const char *class_name;
    } prefixes[] = {
        { "domain:", "Domain" }, { "pool:", "Pool" }, { "volume:", "Volume" },
        { "network:", "Network" }, { "interface:", "Interface" },
    };
    size_t i;

    if (strcmp(object_name, "node") == 0)
        return "Node";
    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(object_name, prefixes[i].prefix, strlen(prefixes[i].prefix)) == 0)
            return prefixes[i].class_name;
    return NULL;
}

int
agent_fetch_object(struct agent *a, const char *object_name, qmf_value **values,
                   qmf_error *err)
{
    const char *class_name = class_of_object(object_name);
    int rc;

    *values = NULL;
    if (class_name == NULL) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no object '%s'", object_name);
        return -1;
    }
    if (strcmp(class_name, "Node") == 0)
        rc = drv_node_info(a->drv, a->dconn, values, err);
    else if (strcmp(class_name, "Domain") == 0)
        rc = drv_domain_get(a->drv, a->dconn, strchr(object_name, ':') + 1, values, err);
    else {
        qmf_error_set(err, QMF_ERR_NOT_IMPLEMENTED, "no single-object refresh for %s",
                      class_name);
        return -1;
    }
    if (rc == 0 && finish_values(a, class_name, *values, err) != 0)
        rc = -1;
    if (rc != 0) {
        qmf_free(*values);
        *values = NULL;
    }
    return rc;
}

void
agent_apply_object(struct agent *a, const char *object_name, qmf_value *values,
                   bool gone)
{
    const char *class_name = class_of_object(object_name);
    int64_t now = agent_now_ns();
    qmf_value *changed = qmf_list();

    if (values != NULL && class_name != NULL) {
        if (inv_put(&a->inv, schema_find_class(a->env.schema, class_name),
                    object_name, values, now))
            qmf_list_append(changed, inv_object_data(&a->inv, inv_get(&a->inv, object_name), false));
    } else {
        qmf_free(values);
        if (gone) {
            qmf_value *data = inv_remove(&a->inv, object_name, now);

            if (data)
                qmf_list_append(changed, data);
        }
    }
    if (a->bus_up && qmf_list_len(changed) > 0)
        agent_push_objects(a, changed);
    else
        qmf_free(changed);
}

typedef int (*list_fn)(const struct drv_backend *b, struct drv_conn *c,
                       qmf_value **list, qmf_error *err);

static void
inventory_work(void *arg)
{
    static const struct {
        const char *class_name;
        list_fn list;
    } lists[] = {
        { "Domain", drv_domain_list },
        { "Pool", drv_pool_list },
        { "Network", drv_network_list },
    };
    struct inventory_job *job = arg;
    struct agent *a = job->a;
    qmf_value *list = NULL;
    size_t i;

    job->classes = qmf_map();
    if (drv_node_info(a->drv, a->dconn, &job->node, &job->err) != 0 ||
        finish_values(a, "Node", job->node, &job->err) != 0)
        return;
    for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        qmf_error err;
        int rc;

        rc = lists[i].list(a->drv, a->dconn, &list, &err);
        if (rc != 0 && err.code == QMF_ERR_NOT_IMPLEMENTED)
            continue;           /* this backend has no such objects */
        if (rc != 0) {
            job->err = err;
            return;
        }
        rc = collect_class(job, lists[i].class_name, list);
        qmf_free(list);
        list = NULL;
        if (rc != 0)
            return;
    }
    job->ok = true;
}

static void
inventory_done(void *arg)
{
    struct inventory_job *job = arg;
    struct agent *a = job->a;
    int64_t now = agent_now_ns();
    qmf_value *changed = qmf_list();
    size_t i;

    if (job->ok) {
        const struct schema_class *node_cls = schema_find_class(a->env.schema, "Node");

        if (inv_put(&a->inv, node_cls, "node", job->node, now))
            qmf_list_append(changed, inv_object_data(&a->inv, inv_get(&a->inv, "node"), false));
        job->node = NULL;
        for (i = 0; i < qmf_map_len(job->classes); i++) {
            struct qmf_pair *p = &job->classes->u.map.items[i];

            inv_replace_class(&a->inv, schema_find_class(a->env.schema, p->key),
                              p->value, now, changed);
        }
        log_debug(&a->log, "inventory: %zu objects, %zu changed",
                  inv_count(&a->inv, NULL), qmf_list_len(changed));
    } else {
        log_warnx(&a->log, "cannot load the inventory from %s: %s",
                  a->cfg.uri, job->err.text);
    }
    if (a->bus_up && qmf_list_len(changed) > 0)
        agent_push_objects(a, changed);
    else
        qmf_free(changed);
    if (job->done)
        job->done(a, job->ok);
    qmf_free(job->node);
    qmf_free(job->classes);
    free(job);
    agent_job_end(a);
}

void
agent_load_inventory(struct agent *a, void (*done)(struct agent *a, bool ok))
{
    struct inventory_job *job = qmf_xcalloc(1, sizeof(*job));
    char *key = agent_job_key(a, "inventory");

    job->a = a;
    job->done = done;
    agent_job_begin(a);
    if (workq_submit(a->env.wq, key, inventory_work, inventory_done, job) != 0) {
        free(job);
        agent_job_end(a);
        log_warnx(&a->log, "cannot queue the inventory load");
    }
    free(key);
}

/* Hypervisor connection ----------------------------------------------------- */

struct driver_open_job {
    struct agent *a;
    struct drv_conn *conn;
    qmf_error err;
};

static void
driver_open_work(void *arg)
{
    struct driver_open_job *job = arg;

    if (job->a->drv->open(&job->conn, job->a->cfg.uri, &agent_driver_events,
                          job->a, &job->err) != 0)
        job->conn = NULL;
}

static void
driver_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    agent_open_driver(arg);
}

static void
first_inventory_done(struct agent *a, bool ok)
{
    if (a->state != AGENT_STARTING)
        return;
    if (!ok) {
        /* Without an inventory the agent would answer queries with
         * nothing; keep retrying instead. */
        a->driver_up = false;
        a->drv->close(a->dconn);
        a->dconn = NULL;
        event_add(a->driver_retry_ev, &(struct timeval){ 1, 0 });
        return;
    }
    agent_open_bus(a);
}

static void
driver_open_done(void *arg)
{
    struct driver_open_job *job = arg;
    struct agent *a = job->a;

    if (a->state == AGENT_STOPPING || a->state == AGENT_STOPPED) {
        if (job->conn)
            a->drv->close(job->conn);
    } else if (job->conn == NULL) {
        struct timeval tv;

        a->driver_backoff_ms = a->driver_backoff_ms ?
            a->driver_backoff_ms * 2 : DRIVER_RETRY_MIN_MS;
        if (a->driver_backoff_ms > DRIVER_RETRY_MAX_MS)
            a->driver_backoff_ms = DRIVER_RETRY_MAX_MS;
        log_warnx(&a->log, "cannot connect to %s: %s; retrying in %u ms",
                  a->cfg.uri, job->err.text, a->driver_backoff_ms);
        tv.tv_sec = a->driver_backoff_ms / 1000;
        tv.tv_usec = (a->driver_backoff_ms % 1000) * 1000;
        event_add(a->driver_retry_ev, &tv);
    } else {
        a->dconn = job->conn;
        a->driver_up = true;
        a->driver_backoff_ms = 0;
        log_info(&a->log, "connected to %s", a->cfg.uri);
        agent_load_inventory(a, first_inventory_done);
    }
    free(job);
    agent_job_end(a);
}

static void
agent_open_driver(struct agent *a)
{
    struct driver_open_job *job = qmf_xcalloc(1, sizeof(*job));
    char *key = agent_job_key(a, "driver");

    job->a = a;
    agent_job_begin(a);
    if (workq_submit(a->env.wq, key, driver_open_work, driver_open_done, job) != 0) {
        free(job);
        agent_job_end(a);
        log_warnx(&a->log, "cannot queue the hypervisor connection");
    }
    free(key);
}

/* Broker connection ------------------------------------------------------- */

static void
stats_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;

    /* Statistics have no events; a periodic reload publishes only what
     * changed (inv_put compares values). */
    if (a->state == AGENT_RUNNING && a->driver_up)
        agent_load_inventory(a, NULL);
}

static void
bus_up_cb(struct bus_conn *c, void *opaque)
{
    struct agent *a = opaque;
    struct timeval tv = { a->cfg.stats_interval, 0 };

    a->bus_up = true;
    if (a->state == AGENT_STARTING)
        a->state = AGENT_RUNNING;
    log_info(&a->log, "serving %s on queue %s", a->name, a->queue);
    if (!a->started_event_sent) {
        qmf_value *v = qmf_map();

        qmf_map_set(v, "version", qmf_string(VIRTBUS_VERSION_STRING));
        qmf_map_set(v, "uri", qmf_string(a->cfg.uri));
        agent_publish_event(a, "agentStarted", v, NULL, NULL);
        a->started_event_sent = true;
    }
    agent_heartbeat_start(a);
    agent_heartbeat_send(a);
    if (a->stats_ev == NULL) {
        a->stats_ev = event_new(a->env.base, -1, EV_PERSIST, stats_cb, a);
        event_add(a->stats_ev, &tv);
    }
}

static void
bus_down_cb(struct bus_conn *c, const qmf_error *why, void *opaque)
{
    struct agent *a = opaque;

    a->bus_up = false;
    agent_heartbeat_stop(a);
    log_warnx(&a->log, "lost the broker: %s", why ? why->text : "closed");
}

static const struct bus_handlers agent_bus_handlers = {
    .up = bus_up_cb,
    .down = bus_down_cb,
};

static void
agent_open_bus(struct agent *a)
{
    struct bus_options opts = { 0 };
    struct bus_binding bindings[2];
    struct bus_queue queue;
    struct bus_subscription sub;
    char *source, *conn_name;
    qmf_error err;

    /* The command queue: targeted requests and broadcasts.  bus_open
     * copies all of this and declares it again on every reconnect. */
    bindings[0] = (struct bus_binding){ BUS_EXCHANGE_DIRECT, a->name };
    bindings[1] = (struct bus_binding){ BUS_EXCHANGE_TOPIC, "console.#" };
    queue = (struct bus_queue){
        .name = a->queue,
        .durable = true,
        .queue_type = a->cfg.queue_type,
        .bindings = bindings,
        .nbindings = 2,
    };
    source = bus_address_queue(a->queue);
    conn_name = qmf_xasprintf("virtbusd %s", a->cfg.node);
    sub = (struct bus_subscription){
        .source = source,
        .credit = a->cfg.prefetch,
        .receive = agent_on_request,
        .opaque = a,
    };
    opts.url = a->cfg.broker;
    opts.heartbeat_s = (uint16_t)a->cfg.broker_heartbeat;
    opts.max_body = a->cfg.max_body;
    opts.name = conn_name;
    opts.reconnect = true;
    opts.queues = &queue;
    opts.nqueues = 1;
    opts.subs = &sub;
    opts.nsubs = 1;
    if (bus_open(&a->bus, a->env.base, &opts, &agent_bus_handlers, a, &err) != 0)
        log_warnx(&a->log, "cannot use broker %s: %s", a->cfg.broker, err.text);
    free(source);
    free(conn_name);
}

int
agent_start(struct agent *a)
{
    if (a->state != AGENT_NEW)
        return -1;
    a->state = AGENT_STARTING;
    a->epoch_ns = agent_now_ns();
    a->driver_retry_ev = evtimer_new(a->env.base, driver_retry_cb, a);
    log_info(&a->log, "starting: node %s, hypervisor %s, broker %s",
             a->cfg.node, a->cfg.uri, a->cfg.broker);
    agent_open_driver(a);
    return 0;
}

/* Stopping ------------------------------------------------------------------ */

struct driver_close_job {
    struct agent *a;
    struct drv_conn *conn;
};

static void
driver_close_work(void *arg)
{
    struct driver_close_job *job = arg;

    job->a->drv->close(job->conn);
}

static void
driver_close_done(void *arg)
{
    struct driver_close_job *job = arg;
    struct agent *a = job->a;

    free(job);
    a->state = AGENT_STOPPED;
    log_info(&a->log, "stopped");
    if (a->stopped_cb)
        a->stopped_cb(a, a->stopped_opaque);
}

static void
finish_stop_after_goodbye(bool ok, void *opaque)
{
    struct agent *a = opaque;
    struct driver_close_job *job;
    char *key;

    if (a->bus) {
        bus_close(a->bus);
        a->bus = NULL;
        a->bus_up = false;
    }
    job = qmf_xcalloc(1, sizeof(*job));
    job->a = a;
    if (a->dconn == NULL) {
        driver_close_done(job);
        return;
    }
    job->conn = a->dconn;
    a->dconn = NULL;
    a->driver_up = false;
    key = agent_job_key(a, "driver");
    if (workq_submit(a->env.wq, key, driver_close_work, driver_close_done, job) != 0) {
        driver_close_work(job);
        driver_close_done(job);
    }
    free(key);
}

static void
agent_maybe_finish_stop(struct agent *a)
{
    qmf_value *v;

    if (a->jobs_in_flight > 0 || a->state != AGENT_STOPPING)
        return;
    agent_heartbeat_stop(a);
    if (a->stats_ev)
        event_del(a->stats_ev);
    if (a->driver_retry_ev)
        event_del(a->driver_retry_ev);
    if (!a->bus_up) {
        finish_stop_after_goodbye(false, a);
        return;
    }
    v = qmf_map();
    qmf_map_set(v, "reason", qmf_string("shutdown requested"));
    /* Wait for the broker to take the goodbye before closing. */
    agent_publish_event(a, "agentStopping", v, finish_stop_after_goodbye, a);
}

void
agent_stop(struct agent *a, void (*done)(struct agent *a, void *opaque),
           void *opaque)
{
    a->stopped_cb = done;
    a->stopped_opaque = opaque;
    if (a->state == AGENT_NEW || a->state == AGENT_STOPPED) {
        a->state = AGENT_STOPPED;
        if (done)
            done(a, opaque);
        return;
    }
    if (a->state == AGENT_STOPPING)
        return;
    log_info(&a->log, "stopping: %u command(s) still running", a->jobs_in_flight);
    a->state = AGENT_STOPPING;
    agent_maybe_finish_stop(a);
}
