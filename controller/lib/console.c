/*
 * The console: one broker connection with a private reply queue (and,
 * for watchers, an event queue), and the request/reply bookkeeping behind
 * locate, query and call.  Requests are synchronous for the caller, so at
 * most one is outstanding; replies that arrive after their request ended
 * are dropped.
 */
#include "controller/lib/virtbus.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

/* Without a known set of agents to expect, a broadcast is complete once no
 * new agent answered for this long. */
#define QUIET_PERIOD_MS 300
#define CONNECT_TIMEOUT_MS 5000

struct pending {
    char *correlation_id;
    bool locate;                     /* answers are agents, not results */
    bool expect_known;               /* results pre-filled as NO_REPLY */
    size_t outstanding;              /* expected agents not yet complete */
    struct virtbus_results results;
    bool done;
    struct event *timeout_ev;
    struct event *quiet_ev;
};

struct virtbus_console {
    struct event_base *base;
    struct schema *schema;
    struct bus_conn *bus;
    char *reply_key;
    char *reply_to;
    char *user;              /* the broker user, sent as user_id */
    struct bus_binding reply_binding;
    struct bus_binding *watch_bindings;
    struct bus_queue queues[2];
    struct bus_subscription subs[2];
    bool up;
    bool lost;
    qmf_error last_error;
    uint64_t seq;
    char id[37];
    struct pending *current;
    virtbus_watch_fn watch_fn;
    void *watch_opaque;
    bool watching;
    /* Watch messages that arrived while no virtbus_watch() ran (during a
     * call, say): kept for the next one, so that none is missed. */
    struct bus_message **backlog;
    size_t backlog_len, backlog_dropped;
};

/* Bounds the backlog of a console that watches but rarely looks. */
#define WATCH_BACKLOG_MAX 10000

static void on_reply(struct bus_delivery *d, const struct bus_message *m, void *opaque);
static void on_watch(struct bus_delivery *d, const struct bus_message *m, void *opaque);

char *
virtbus_agent_address(const char *agent_name)
{
    return bus_address_exchange(BUS_EXCHANGE_DIRECT, agent_name);
}

char *
virtbus_broadcast_address(const char *kind)
{
    char *key = qmf_xasprintf("console.request.%s", kind);
    char *address = bus_address_exchange(BUS_EXCHANGE_TOPIC, key);

    free(key);
    return address;
}

const char *
virtbus_console_reply_to(const struct virtbus_console *c)
{
    return c->reply_to;
}

const struct schema *
virtbus_console_schema(const struct virtbus_console *c)
{
    return c->schema;
}

/* Connection --------------------------------------------------------------- */

/*
 * The user of a broker URL ("amqp://user:pass@host/" -> "user"; "guest",
 * the AMQP default, without one).  Requests carry it as user_id, which the
 * broker checks against the authenticated user: agents can then record
 * who asked for a command.
 */
static char *
url_user(const char *url)
{
    const char *start = strstr(url, "://"), *at, *end;

    if (start == NULL)
        return qmf_xstrdup("guest");
    start += 3;
    at = strchr(start, '@');
    if (at == NULL || (strchr(start, '/') && strchr(start, '/') < at))
        return qmf_xstrdup("guest");
    end = memchr(start, ':', (size_t)(at - start));
    return qmf_xstrndup(start, (size_t)((end ? end : at) - start));
}

static void
bus_up_cb(struct bus_conn *conn, void *opaque)
{
    struct virtbus_console *c = opaque;

    c->up = true;
    c->lost = false;
}

static void
bus_down_cb(struct bus_conn *conn, const qmf_error *why, void *opaque)
{
    struct virtbus_console *c = opaque;

    c->up = false;
    c->lost = true;
    if (why)
        c->last_error = *why;
}

static const struct bus_handlers console_handlers = {
    .up = bus_up_cb,
    .down = bus_down_cb,
};

static void
timer_flag_cb(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

struct virtbus_console *
virtbus_console_open(struct event_base *base, const struct virtbus_console_options *o,
                     qmf_error *err)
{
    struct virtbus_console *c = qmf_xcalloc(1, sizeof(*c));
    unsigned timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : CONNECT_TIMEOUT_MS;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    struct bus_options bo = { 0 };
    uint8_t uuid[16];
    struct event *timer;
    bool timed_out = false;
    size_t nwatch = 0, i;

    c->base = base;
    c->user = url_user(o->url);
    c->schema = schema_load_builtin(err);
    if (c->schema == NULL) {
        free(c);
        return NULL;
    }
    if (RAND_bytes(uuid, sizeof(uuid)) != 1) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "no randomness for the console id");
        virtbus_console_close(c);
        return NULL;
    }
    uuid[6] = (uuid[6] & 0x0f) | 0x40;     /* a version 4 UUID */
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    qmf_uuid_format(uuid, c->id);
    c->reply_key = qmf_xasprintf("virtbus.console.%s", c->id);
    c->reply_to = bus_address_exchange(BUS_EXCHANGE_DIRECT, c->reply_key);
    c->reply_binding = (struct bus_binding){ BUS_EXCHANGE_DIRECT, c->reply_key };
    c->queues[0] = (struct bus_queue){
        .exclusive = true, .auto_delete = true,
        .bindings = &c->reply_binding, .nbindings = 1,
    };
    c->subs[0] = (struct bus_subscription){
        .source = "#0", .credit = 1000, .no_ack = true,
        .receive = on_reply, .opaque = c,
    };
    while (o->watch_keys && o->watch_keys[nwatch])
        nwatch++;
    if (nwatch > 0) {
        c->watch_bindings = qmf_xcalloc(nwatch, sizeof(*c->watch_bindings));
        for (i = 0; i < nwatch; i++)
            c->watch_bindings[i] = (struct bus_binding){ BUS_EXCHANGE_TOPIC, o->watch_keys[i] };
        c->queues[1] = (struct bus_queue){
            .exclusive = true, .auto_delete = true,
            .bindings = c->watch_bindings, .nbindings = nwatch,
        };
        c->subs[1] = (struct bus_subscription){
            .source = "#1", .credit = 1000, .no_ack = true,
            .receive = on_watch, .opaque = c,
        };
    }
    bo.url = o->url;
    bo.name = "virtbus console";
    bo.reconnect = true;
    bo.queues = c->queues;
    bo.nqueues = nwatch > 0 ? 2 : 1;
    bo.subs = c->subs;
    bo.nsubs = nwatch > 0 ? 2 : 1;
    if (bus_open(&c->bus, base, &bo, &console_handlers, c, err) != 0) {
        virtbus_console_close(c);
        return NULL;
    }
    timer = evtimer_new(base, timer_flag_cb, &timed_out);
    evtimer_add(timer, &tv);
    while (!c->up && !timed_out)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(timer);
    if (!c->up) {
        if (c->last_error.code)
            qmf_error_set(err, QMF_ERR_TRANSPORT, "cannot connect to %s: %s",
                          o->url, c->last_error.text);
        else
            qmf_error_set(err, QMF_ERR_TRANSPORT, "cannot connect to %s within %u ms",
                          o->url, timeout_ms);
        virtbus_console_close(c);
        return NULL;
    }
    return c;
}

void
virtbus_console_close(struct virtbus_console *c)
{
    if (c == NULL)
        return;
    if (c->bus)
        bus_close(c->bus);
    while (c->backlog_len > 0)
        bus_message_free(c->backlog[--c->backlog_len]);
    free(c->backlog);
    schema_free(c->schema);
    free(c->watch_bindings);
    free(c->reply_key);
    free(c->reply_to);
    free(c->user);
    free(c);
}

/* Results ------------------------------------------------------------------ */

void
virtbus_result_clear(struct virtbus_result *r)
{
    free(r->agent);
    free(r->node);
    qmf_free(r->value);
    memset(r, 0, sizeof(*r));
}

void
virtbus_results_free(struct virtbus_results *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        virtbus_result_clear(&r->items[i]);
    free(r->items);
    r->items = NULL;
    r->n = 0;
}

void
virtbus_agent_list_free(struct virtbus_agent_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free(l->items[i].name);
        free(l->items[i].node);
        qmf_free(l->items[i].attrs);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* "virtbus:agent:node1" -> "node1" */
static char *
node_of_agent(const char *agent)
{
    const char *colon = strrchr(agent, ':');

    return qmf_xstrdup(colon ? colon + 1 : agent);
}

static struct virtbus_result *
result_add(struct virtbus_results *r, const char *agent)
{
    struct virtbus_result *res;

    r->items = qmf_xrealloc(r->items, (r->n + 1) * sizeof(*r->items));
    res = &r->items[r->n++];
    memset(res, 0, sizeof(*res));
    res->agent = qmf_xstrdup(agent);
    res->node = node_of_agent(agent);
    res->status = VIRTBUS_NO_REPLY;
    qmf_error_set(&res->error, QMF_ERR_TIMEOUT, "no reply");
    return res;
}

static struct virtbus_result *
result_find(struct virtbus_results *r, const char *agent)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (strcmp(r->items[i].agent, agent) == 0)
            return &r->items[i];
    return NULL;
}

static int
compare_results(const void *a, const void *b)
{
    return strcmp(((const struct virtbus_result *)a)->node,
                  ((const struct virtbus_result *)b)->node);
}

/* Replies -------------------------------------------------------------------- */

static void
arm_quiet(struct virtbus_console *c, struct pending *p)
{
    struct timeval tv = { 0, QUIET_PERIOD_MS * 1000 };

    if (p->quiet_ev)
        evtimer_add(p->quiet_ev, &tv);
}

static void
complete_one(struct pending *p, bool was_pending)
{
    if (was_pending && p->expect_known && p->outstanding > 0 && --p->outstanding == 0)
        p->done = true;
}

static void
on_reply(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct virtbus_console *c = opaque;
    struct pending *p = c->current;
    const char *agent = bus_message_header(m, "qmf.agent");
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const qmf_value *partial = qmf_map_get(m->headers, "partial");
    struct virtbus_result *r;
    bool was_pending;

    if (p == NULL || p->done || m->correlation_id == NULL ||
        strcmp(m->correlation_id, p->correlation_id) != 0 || agent == NULL) {
        bus_ack(d);
        return;
    }
    r = result_find(&p->results, agent);
    if (r == NULL) {
        if (p->expect_known) {      /* not one we asked: ignore */
            bus_ack(d);
            return;
        }
        r = result_add(&p->results, agent);
        arm_quiet(c, p);
    }
    was_pending = r->status == VIRTBUS_NO_REPLY;
    if (m->body == NULL) {
        r->status = VIRTBUS_FAILED;
        r->error = m->body_error;
    } else if (opcode && strcmp(opcode, "_exception") == 0) {
        const qmf_value *values = qmf_map_get(m->body, "_values");
        const char *text = qmf_map_get_string(values, "error_text");
        uint64_t code = 0;

        qmf_get_uint64(qmf_map_get(values, "error_code"), &code);
        r->status = VIRTBUS_FAILED;
        qmf_error_set(&r->error, (uint32_t)code, "%s", text ? text : "(no text)");
    } else if (opcode && strcmp(opcode, "_query_response") == 0) {
        size_t i;

        if (r->value == NULL)
            r->value = qmf_list();
        for (i = 0; m->body->kind == QMF_LIST && i < m->body->u.list.len; i++)
            qmf_list_append(r->value, qmf_dup(m->body->u.list.items[i]));
        if (partial && partial->kind == QMF_BOOL && partial->u.b) {
            bus_ack(d);
            return;          /* more to come from this agent */
        }
        r->status = VIRTBUS_OK;
    } else if (opcode && strcmp(opcode, "_method_response") == 0) {
        const qmf_value *out = qmf_map_get(m->body, "_arguments");

        qmf_free(r->value);
        r->value = out ? qmf_dup(out) : qmf_map();
        r->status = VIRTBUS_OK;
    } else {
        /* _agent_locate_response and anything else: keep the body. */
        qmf_free(r->value);
        r->value = qmf_dup(qmf_map_get(m->body, "_values"));
        r->status = VIRTBUS_OK;
    }
    if (r->status == VIRTBUS_OK)
        qmf_error_clear(&r->error);
    complete_one(p, was_pending);
    bus_ack(d);
}

static void
on_watch(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct virtbus_console *c = opaque;

    if (c->watching && c->watch_fn) {
        c->watch_fn(m, c->watch_opaque);
    } else if (c->backlog_len < WATCH_BACKLOG_MAX) {
        c->backlog = qmf_xrealloc(c->backlog, (c->backlog_len + 1) * sizeof(*c->backlog));
        c->backlog[c->backlog_len++] = bus_message_dup(m);
    } else {
        c->backlog_dropped++;
    }
    bus_ack(d);
}

/* Hands the backlog to the watcher, oldest first; stops early if the
 * watcher stops. */
static void
drain_backlog(struct virtbus_console *c)
{
    size_t i = 0, j;

    while (i < c->backlog_len && c->watching) {
        c->watch_fn(c->backlog[i], c->watch_opaque);
        bus_message_free(c->backlog[i]);
        i++;
    }
    for (j = i; j < c->backlog_len; j++)
        c->backlog[j - i] = c->backlog[j];
    c->backlog_len -= i;
}

/* Requests ------------------------------------------------------------------- */

static void
pending_done_cb(evutil_socket_t fd, short what, void *arg)
{
    ((struct pending *)arg)->done = true;
}

/* Properties every request gets: ttl and creation time unless the caller
 * set them, the user, and persistence for commands only. */
static void
stamp(struct virtbus_console *c, struct bus_message *m, unsigned ttl_ms)
{
    const char *opcode = bus_message_header(m, "qmf.opcode");
    struct timespec now;

    if (m->ttl_ms == 0)
        m->ttl_ms = ttl_ms;
    clock_gettime(CLOCK_REALTIME, &now);
    if (m->created_ms == 0)
        m->created_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (m->user_id == NULL)
        m->user_id = qmf_xstrdup(c->user);
    /* Commands must survive a broker restart while they wait for their
     * agent; queries and locates are worthless by then, and persisting a
     * broadcast costs a disk write per queue. */
    m->durable = opcode && strcmp(opcode, "_method_request") == 0;
}

int
virtbus_send(struct virtbus_console *c, const char *address, struct bus_message *m,
             qmf_error *err)
{
    int rc;

    if (!c->up) {
        bus_message_free(m);
        qmf_error_set(err, QMF_ERR_TRANSPORT, "not connected to the broker");
        return -1;
    }
    /* Fire-and-forget requests wait in queues: a day unless told. */
    stamp(c, m, 24 * 3600 * 1000);
    rc = bus_publish(c->bus, address, m, NULL, NULL, err);
    bus_message_free(m);
    return rc;
}

int
virtbus_request_message(struct virtbus_console *c, const char *address,
                        struct bus_message *m, const struct virtbus_agent_list *expect,
                        unsigned timeout_ms, struct virtbus_results *out, qmf_error *err)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    struct pending p = { 0 };
    size_t i;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!c->up) {
        bus_message_free(m);
        qmf_error_set(err, QMF_ERR_TRANSPORT, "not connected to the broker: %s",
                      c->last_error.code ? c->last_error.text : "connection lost");
        return -1;
    }
    p.correlation_id = qmf_xasprintf("%s-%llu", c->id, (unsigned long long)++c->seq);
    if (expect != NULL) {
        p.expect_known = true;
        for (i = 0; i < expect->n; i++)
            result_add(&p.results, expect->items[i].name);
        p.outstanding = expect->n;
        p.done = expect->n == 0;
    } else {
        p.quiet_ev = evtimer_new(c->base, pending_done_cb, &p);
    }
    p.timeout_ev = evtimer_new(c->base, pending_done_cb, &p);
    evtimer_add(p.timeout_ev, &tv);
    arm_quiet(c, &p);

    free(m->correlation_id);
    m->correlation_id = qmf_xstrdup(p.correlation_id);
    free(m->reply_to);
    m->reply_to = qmf_xstrdup(c->reply_to);
    /* A request is worth running only while someone waits for it. */
    stamp(c, m, timeout_ms);
    c->current = &p;
    rc = bus_publish(c->bus, address, m, NULL, NULL, err);
    bus_message_free(m);
    while (rc == 0 && !p.done && !c->lost)
        event_base_loop(c->base, EVLOOP_ONCE);
    c->current = NULL;
    if (rc == 0 && c->lost && !p.done) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "lost the broker: %s", c->last_error.text);
        rc = -1;
    }
    event_free(p.timeout_ev);
    if (p.quiet_ev)
        event_free(p.quiet_ev);
    free(p.correlation_id);
    if (rc != 0) {
        virtbus_results_free(&p.results);
        return -1;
    }
    if (p.results.n > 1)
        qsort(p.results.items, p.results.n, sizeof(*p.results.items), compare_results);
    *out = p.results;
    return 0;
}

int
virtbus_request(struct virtbus_console *c, const char *address, const char *opcode,
                qmf_value *body, const struct virtbus_agent_list *expect,
                unsigned timeout_ms, struct virtbus_results *out, qmf_error *err)
{
    struct bus_message *m = bus_message_new();

    bus_message_set_header_string(m, "qmf.opcode", opcode);
    bus_message_set_header_string(m, "method", "request");
    bus_message_set_header_string(m, "app-id", "qmf2");
    m->body = body;
    return virtbus_request_message(c, address, m, expect, timeout_ms, out, err);
}

int
virtbus_locate(struct virtbus_console *c, const qmf_value *target, unsigned timeout_ms,
               struct virtbus_agent_list *out, qmf_error *err)
{
    struct virtbus_results res;
    qmf_value *body = qmf_map();
    char *address = virtbus_broadcast_address("agent_locate");
    size_t i;
    int rc;

    memset(out, 0, sizeof(*out));
    if (target)
        qmf_map_set(body, "_where", qmf_dup(target));
    rc = virtbus_request(c, address, "_agent_locate_request", body, NULL, timeout_ms,
                         &res, err);
    free(address);
    if (rc != 0)
        return -1;
    out->items = qmf_xcalloc(res.n, sizeof(*out->items));
    for (i = 0; i < res.n; i++) {
        struct virtbus_result *r = &res.items[i];

        if (r->status != VIRTBUS_OK)
            continue;
        out->items[out->n].name = r->agent;
        out->items[out->n].node = r->node;
        out->items[out->n].attrs = r->value ? r->value : qmf_map();
        r->agent = r->node = NULL;
        r->value = NULL;
        out->n++;
    }
    virtbus_results_free(&res);
    return 0;
}

int
virtbus_query(struct virtbus_console *c, const struct virtbus_agent_list *agents,
              const char *what, const char *class_name, const qmf_value *where,
              unsigned timeout_ms, struct virtbus_results *out, qmf_error *err)
{
    qmf_value *body = qmf_map();
    char *address;
    int rc;

    qmf_map_set(body, "_what", qmf_string(what));
    if (class_name) {
        qmf_value *sid = qmf_map_set(body, "_schema_id", qmf_map());

        qmf_map_set(sid, "_package_name", qmf_string(SCHEMA_PACKAGE));
        qmf_map_set(sid, "_class_name", qmf_string(class_name));
    }
    if (where)
        qmf_map_set(body, "_where", qmf_dup(where));
    /* One agent: straight to it.  Several: one broadcast, answers from
     * agents not asked about are ignored. */
    if (agents && agents->n == 1)
        address = virtbus_agent_address(agents->items[0].name);
    else
        address = virtbus_broadcast_address("query");
    rc = virtbus_request(c, address, "_query_request", body, agents, timeout_ms, out, err);
    free(address);
    return rc;
}

int
virtbus_call(struct virtbus_console *c, const char *agent, const qmf_value *object_id,
             const char *method, const qmf_value *args, unsigned timeout_ms,
             struct virtbus_result *out, qmf_error *err)
{
    struct virtbus_agent one = { .name = (char *)agent };
    struct virtbus_agent_list expect = { .items = &one, .n = 1 };
    struct virtbus_results res;
    qmf_value *body = qmf_map();
    char *address = virtbus_agent_address(agent);
    int rc;

    memset(out, 0, sizeof(*out));
    qmf_map_set(body, "_object_id", qmf_dup(object_id));
    qmf_map_set(body, "_method_name", qmf_string(method));
    qmf_map_set(body, "_arguments", args ? qmf_dup(args) : qmf_map());
    rc = virtbus_request(c, address, "_method_request", body, &expect, timeout_ms, &res, err);
    free(address);
    if (rc != 0)
        return -1;
    *out = res.items[0];
    free(res.items);
    return 0;
}

/* Watch ------------------------------------------------------------------------ */

int
virtbus_watch(struct virtbus_console *c, virtbus_watch_fn fn, void *opaque,
              qmf_error *err)
{
    if (c->watch_bindings == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the console was opened without watch keys");
        return -1;
    }
    c->watch_fn = fn;
    c->watch_opaque = opaque;
    c->watching = true;
    drain_backlog(c);
    while (c->watching && event_base_loop(c->base, EVLOOP_ONCE) == 0 &&
           !event_base_got_break(c->base))
        ;
    c->watching = false;
    return 0;
}

void
virtbus_watch_stop(struct virtbus_console *c)
{
    c->watching = false;
}
