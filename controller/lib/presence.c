/*
 * Presence and targeting.  Agents' heartbeats are kept by the broker in a
 * stream (bus_presence_queue); a console reads it from presence_window
 * seconds back and, to know when it has read everything, writes a marker
 * of its own into the stream and reads until the marker comes back.  No
 * wait window: the answer is complete as soon as the broker has delivered
 * what it holds.  After that the console keeps reading, so a long-lived
 * console has a live view.
 *
 * Costs: O(heartbeats in the window) to read; O(agents) to list or select.
 */
#include "controller/lib/console_impl.h"
#include "controller/lib/cache_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/names.h"
#include "core/where.h"

#define PRESENCE_TIMEOUT_MS 10000

static void
instance_clear(struct presence_instance *in)
{
    free(in->id);
    free(in->host);
    memset(in, 0, sizeof(*in));
}

/* An entry that the table drops (its key is the table's own copy). */
static void
entry_free(void *ent)
{
    struct presence_entry *e = ent;
    size_t i;

    for (i = 0; i < e->ninst; i++)
        instance_clear(&e->inst[i]);
    free(e->name);
    free(e->node);
    qmf_free(e->attrs);
    free(e->attrs_json);
    free(e);
}

const qmf_value *
console_presence_attrs(struct presence_entry *e)
{
    if (e->attrs == NULL && e->attrs_json != NULL)
        e->attrs = cache_file_take_values(&e->attrs_json);
    return e->attrs;
}

/* What is kept of the values apart from them, for listing without them. */
static void
entry_note_values(struct presence_entry *e)
{
    const char *node = qmf_map_get_string(e->attrs, "node");

    if (node == NULL || e->node == NULL || strcmp(node, e->node) != 0) {
        free(e->node);
        e->node = node ? qmf_xstrdup(node) : NULL;
    }
    e->stopping = qmf_map_get(e->attrs, "_stopping") != NULL;
}

void
console_presence_init(struct virtbus_console *c)
{
    c->presence = qmf_dict_new(entry_free);
}

static void cache_save(struct virtbus_console *c);

void
console_presence_free(struct virtbus_console *c)
{
    if (c->presence_unsaved)
        cache_save(c);
    c->presence_unsaved = false;
    if (c->follow_ev)
        event_free(c->follow_ev);
    c->follow_ev = NULL;
    qmf_dict_free(c->presence);
    c->presence = NULL;
    free(c->presence_marker);
    c->presence_marker = NULL;
    free(c->presence_cache);
    c->presence_cache = NULL;
    for (size_t i = 0; c->presence_named && c->presence_named[i]; i++)
        free(c->presence_named[i]);
    free(c->presence_named);
    c->presence_named = NULL;
    console_summary_free(c);
}

bool
console_presence_entry_up(const struct presence_entry *e, int64_t now_ms)
{
    uint32_t interval = e->interval_s ? e->interval_s : 5;

    return now_ms - e->last_seen_ms <= (int64_t)PRESENCE_MISSED * interval * 1000 &&
           !e->stopping;
}

static bool
entry_up(const struct presence_entry *e, int64_t now_ms)
{
    return console_presence_entry_up(e, now_ms);
}

/* Which process sent a heartbeat, kept per agent to see two at once:
 * true if it is one not heard of before. */
static bool
heard_instance(struct presence_entry *e, const qmf_value *values, int64_t ts_ms)
{
    const char *id = qmf_map_get_string(values, "_instance_id");
    const char *host = qmf_map_get_string(values, "_host");
    struct presence_instance *in = NULL;
    int64_t epoch_ns = bus_agent_started_ns(values);
    uint64_t pid = 0;
    char *key;
    size_t i, oldest = 0;
    bool fresh = false;

    qmf_get_uint64(qmf_map_get(values, "_pid"), &pid);
    /* An agent older than instance ids is one process per start. */
    key = id ? qmf_xstrdup(id) : qmf_xasprintf("epoch:%lld", (long long)epoch_ns);
    for (i = 0; i < e->ninst && in == NULL; i++) {
        if (strcmp(e->inst[i].id, key) == 0)
            in = &e->inst[i];
        else if (e->inst[i].last_ms < e->inst[oldest].last_ms)
            oldest = i;
    }
    if (in == NULL) {
        fresh = true;
        in = e->ninst < PRESENCE_MAX_INSTANCES ? &e->inst[e->ninst++] : &e->inst[oldest];
        instance_clear(in);
        in->id = key;
        in->host = qmf_xstrdup(host ? host : qmf_map_get_string(values, "hostname") ?
                               qmf_map_get_string(values, "hostname") : "");
        in->pid = (uint32_t)pid;
        in->started_ms = epoch_ns / 1000000;
    } else {
        free(key);
    }
    if (ts_ms > in->last_ms)
        in->last_ms = ts_ms;
    return fresh;
}

/*
 * Two instances clash when each heartbeated after the other started: a
 * restart (the old one's last heartbeat before the new one's start) is
 * not a clash.
 */
static bool
entry_clash(const struct presence_entry *e, int64_t since_ms)
{
    size_t i, j;

    for (i = 0; i < e->ninst; i++)
        for (j = i + 1; j < e->ninst; j++)
            if (e->inst[i].last_ms >= since_ms && e->inst[j].last_ms >= since_ms &&
                e->inst[i].last_ms >= e->inst[j].started_ms &&
                e->inst[j].last_ms >= e->inst[i].started_ms)
                return true;
    return false;
}

static void list_one(const struct virtbus_console *c, struct presence_entry *e,
                     int64_t now_ms, bool with_attrs, struct virtbus_agent *a);

static void
follow_tell(struct virtbus_console *c, struct presence_entry *e,
            enum virtbus_presence_change what)
{
    struct virtbus_agent a;

    e->followed_up = what == VIRTBUS_NODE_BACK || what == VIRTBUS_NODE_NEW;
    list_one(c, e, console_now_ms(), true, &a);
    c->follow_fn(&a, what, c->follow_opaque);
    free(a.name);
    free(a.node);
    qmf_free(a.attrs);
    qmf_free(a.instances);
}

/* Whether two heartbeats' values say the same but for their time. */
static bool
same_but_time(const qmf_value *a, const qmf_value *b)
{
    size_t i, n = qmf_map_len(a);

    if (a == NULL || b == NULL || n != qmf_map_len(b))
        return false;
    /* Agents build them in one order: a reordering counts as a change. */
    for (i = 0; i < n; i++) {
        const struct qmf_pair *pa = qmf_map_at(a, i), *pb = qmf_map_at(b, i);

        if (strcmp(pa->key, pb->key) != 0)
            return false;
        if (strcmp(pa->key, "_timestamp") != 0 && !qmf_equal(pa->value, pb->value))
            return false;
    }
    return true;
}

/* Takes values: at 10,000 agents a copy of each heartbeat's would be a
 * good part of a read. */
static void
heard(struct virtbus_console *c, const char *agent, qmf_value *values)
{
    struct presence_entry *e;
    int64_t ts_ns = 0;
    uint64_t interval = 0;
    bool known, new_instance;

    if (values == NULL || values->kind != QMF_MAP) {
        qmf_free(values);
        return;
    }
    e = qmf_dict_get(c->presence, agent);
    known = e != NULL;
    qmf_get_int64(qmf_map_get(values, "_timestamp"), &ts_ns);
    qmf_get_uint64(qmf_map_get(values, "_heartbeat_interval"), &interval);
    if (e == NULL) {
        e = qmf_xcalloc(1, sizeof(*e));
        e->name = qmf_xstrdup(agent);
        qmf_dict_add(c->presence, e->name, e);
    }
    new_instance = heard_instance(e, values, ts_ns / 1000000);
    if (!known || new_instance)
        e->changed_ms = console_now_ms();
    if (known && ts_ns / 1000000 <= e->last_seen_ms) {
        qmf_free(values);
        return;         /* not newer than one already read */
    }
    if (!same_but_time(console_presence_attrs(e), values))
        e->changed_ms = console_now_ms();
    qmf_free(e->attrs);
    e->attrs = values;
    entry_note_values(e);
    e->last_seen_ms = ts_ns / 1000000;
    e->interval_s = (uint32_t)interval;
    if (c->follow_fn && entry_up(e, console_now_ms()) != e->followed_up)
        follow_tell(c, e, !known ? VIRTBUS_NODE_NEW : e->followed_up ? VIRTBUS_NODE_STOPPED
                                                                     : VIRTBUS_NODE_BACK);
}

void
console_presence_heard(struct virtbus_console *c, const char *agent, qmf_value *values)
{
    heard(c, agent, values);
}

/*
 * Whether a heartbeat came under its own agent's routing key,
 * agent.ind.heartbeat.virtbus.agent.<escaped node>: with the broker's topic
 * permissions (virtbus broker-setup) only that agent's account may publish
 * it.  Anything else in the stream (a write by name through the default
 * exchange, which agents' accounts may do to answer direct reply-to, or a
 * marker's key) is no heartbeat.
 */
static bool
heartbeat_key_ok(const struct bus_message *m, const char *agent)
{
    const char *node;
    char *want;
    bool ok;

    if (m->subject == NULL || qmf_name_agent_node(agent, &node) != 0)
        return false;
    want = qmf_name_heartbeat_key(node);
    ok = strcmp(m->subject, want) == 0;
    free(want);
    return ok;
}

void
console_on_presence(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct virtbus_console *c = opaque;
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const char *agent = bus_message_header(m, "qmf.agent");
    int64_t offset;

    c->presence_delivered++;
    if (qmf_get_int64(qmf_map_get(m->headers, "x-stream-offset"), &offset) &&
        offset > c->presence_offset)
        c->presence_offset = offset;
    if (opcode && strcmp(opcode, "_agent_heartbeat_indication") == 0 && agent && m->body &&
        heartbeat_key_ok(m, agent)) {
        qmf_value *body = bus_take_body(d);

        heard(c, agent, qmf_map_take(body, "_values"));
        qmf_free(body);
    } else if (opcode && strcmp(opcode, PRESENCE_MARKER_OPCODE) == 0 && m->message_id &&
             c->presence_marker && strcmp(m->message_id, c->presence_marker) == 0)
        c->presence_complete = true;
    else if (opcode && strcmp(opcode, PRESENCE_MARKER_OPCODE) == 0 && m->message_id && c->keeper)
        console_keeper_marker(c, m->message_id);
    /* Stream deliveries are acknowledged only to renew the credit. */
    bus_ack(d);
}

/* The reader's start (or refusal): its opaque is the console, as for its
 * deliveries; called again at each reconnect. */
static void
presence_started(struct bus_conn *conn, const qmf_error *err, void *opaque)
{
    struct virtbus_console *c = opaque;

    console_wait_done(conn, err, &c->presence_sub_wait);
}

int
console_presence_subscribe(struct virtbus_console *c, qmf_value *offset, qmf_error *err)
{
    struct bus_queue q;
    qmf_value *args = bus_presence_queue(&q), *from = qmf_map();
    struct bus_subscription sub = {
        .source = QMF_NAME_PRESENCE_ADDRESS, .credit = 2000, .arguments = from,
        .receive = console_on_presence, .opaque = c,
    };
    int rc;

    qmf_map_set(from, "x-stream-offset", offset);
    console_shared_queue(c, &q);
    c->presence_sub_wait = (struct console_wait){ 0 };
    rc = bus_subscribe(c->bus, &q, &sub, presence_started, &c->presence_sub, err);
    qmf_free(args);
    qmf_free(from);
    if (rc != 0)
        return -1;
    c->heartbeats_subscribed = true;
    return console_wait_for(c, &c->presence_sub_wait, PRESENCE_TIMEOUT_MS,
                            "reading the presence stream", err);
}

qmf_value *
console_presence_start(const struct virtbus_console *c)
{
    /* A stream offset may be an interval: "20s". */
    return c->presence_offset >= 0 ? qmf_i64(c->presence_offset + 1)
                                   : qmf_stringf("%us", c->presence_window_s);
}

int
console_presence_marker_send(struct virtbus_console *c, const char *id, qmf_error *err)
{
    struct bus_message *m = bus_message_new();

    bus_message_set_header_string(m, "qmf.opcode", PRESENCE_MARKER_OPCODE);
    bus_message_set_header_string(m, "method", "indication");
    m->message_id = qmf_xstrdup(id);
    m->body = qmf_map();
    /* By the topic exchange, bound to the stream for it: a broker account
     * that may not write to every queue by name can still read presence. */
    return virtbus_send(c, QMF_NAME_PRESENCE_MARKER_ADDRESS, m, err);
}

/* The stream offset of the heartbeats since since_ns, and a little more:
 * the keeper reads them late, and time offsets are whole seconds. */
static qmf_value *
heartbeats_since(int64_t since_ns)
{
    return qmf_stringf("%llds",
                       (long long)((console_now_ms() * 1000000 - since_ns) / 1000000000 + 3));
}

/* Reads the stream up to a fresh marker: everything published before the
 * call is then known (the first call reads the whole window).  Or, from
 * a console that may, the newest fresh summary of a keeper instead. */
static int
read_to_marker(struct virtbus_console *c, qmf_error *err)
{
    c->presence_from_summary = false;
    if (c->summaries && !c->heartbeats_subscribed) {
        int rc = console_summary_read(c, err);

        if (rc < 0)
            return -1;
        c->presence_from_summary = rc == 1;
        if (rc == 1 && console_presence_has_up(c, (const char *const *)c->presence_named))
            return c->has_fleet && !c->fleet_reused ? console_fleet_read(c, err) : 0;
        /* No summary: the heartbeats.  Or a node named that the summary
         * lacks or has down, which may have started since the keeper's
         * last tick: the heartbeats since (a little before: the keeper
         * reads them late), on top of the summary. */
        if (console_presence_subscribe(c, rc == 1 ? heartbeats_since(c->summary_as_of_ns)
                                                  : console_presence_start(c), err) != 0)
            return -1;
    }
    free(c->presence_marker);
    c->presence_marker = console_new_id();
    c->presence_complete = false;
    qmf_error_clear(&c->refused);
    if (console_presence_marker_send(c, c->presence_marker, err) != 0)
        return -1;
    if (!console_run_while_coming(c, &c->presence_complete, &c->presence_delivered,
                                  PRESENCE_TIMEOUT_MS)) {
        if (c->refused.code != QMF_OK) {
            qmf_error_set(err, QMF_ERR_TRANSPORT, "the presence marker was refused by "
                          "the broker: %s", c->refused.text);
            return -1;
        }
        qmf_error_set(err, QMF_ERR_TIMEOUT,
                      "the presence stream sent nothing for %d ms", PRESENCE_TIMEOUT_MS);
        return -1;
    }
    return c->has_fleet && !c->fleet_reused ? console_fleet_read(c, err) : 0;
}

/* The cache ---------------------------------------------------------------------
 *
 * JSON lines (cache_file.h).  The header:
 * {"format": 2, "offset": <last stream offset read, -1 after a summary>,
 *  "saved": <ms, when the read began>,
 *  "window": <s>, "keeper": <told by a keeper's summary>,
 *  "keeper_checked": <ms, when a console last looked for a summary>,
 *  "agents": <whether the agents' lines follow>}
 * then (if so) a line per agent, of one process, its strings plain
 * (cache_file_put_scalars), its values read only when needed:
 * {"agent": "<agent name>", "node": "<node>", "seen": <ms>, "interval": <s>,
 *  "stopping": <bool>, "id": "<instance id>", "host": "<host>", "pid": <pid>,
 *  "started": <ms>, "last": <ms>, "values": <its heartbeat _values>}
 * or of any other agent, read whole:
 * {"agent": "<agent name>", "values": <its heartbeat _values>,
 *  "instances": [<heartbeat values>, ...]}   (instances: two or more only)
 * A console that reads a keeper's summary anyway needs the header alone
 * (the agents are megabytes at 10,000 of them).  Read only if saved
 * within the window, else the stream may have dropped what lies between. */

static void
cache_take_agent(struct virtbus_console *c, qmf_value *line)
{
    const char *agent = qmf_map_get_string(line, "agent");
    qmf_value *instances = qmf_map_get(line, "instances");
    size_t i;

    if (agent == NULL)
        return;
    heard(c, agent, qmf_map_take(line, "values"));
    /* The other instances heard in the window, as heartbeats. */
    for (i = 0; i < qmf_list_len(instances); i++)
        heard(c, agent, qmf_list_steal(instances, i));
}

/* The scalars of an agent's line of one process (cache_file_split), in
 * their order. */
enum {
    LINE_AGENT, LINE_NODE, LINE_SEEN, LINE_INTERVAL, LINE_STOPPING,
    LINE_ID, LINE_HOST, LINE_PID, LINE_STARTED, LINE_LAST, LINE_SCALARS
};
static const char *const line_keys[LINE_SCALARS] = {
    [LINE_AGENT] = "agent", [LINE_NODE] = "node", [LINE_SEEN] = "seen",
    [LINE_INTERVAL] = "interval", [LINE_STOPPING] = "stopping", [LINE_ID] = "id",
    [LINE_HOST] = "host", [LINE_PID] = "pid", [LINE_STARTED] = "started", [LINE_LAST] = "last",
};

/* A line of one process, its values kept as their text: false if it is
 * not such a line, or names an agent read already. */
static bool
cache_take_plain(struct virtbus_console *c, const char *line, size_t len)
{
    struct cache_scalar f[LINE_SCALARS];
    int64_t seen, started, last;
    uint32_t interval, pid;
    struct presence_entry *e;
    const char *values;
    size_t values_len;
    char *name;

    if (!cache_file_split(line, len, line_keys, LINE_SCALARS, f, &values, &values_len) ||
        !f[LINE_AGENT].string || !f[LINE_NODE].string || !f[LINE_ID].string ||
        !f[LINE_HOST].string || f[LINE_STOPPING].string ||
        !cache_scalar_i64(&f[LINE_SEEN], &seen) ||
        !cache_scalar_u32(&f[LINE_INTERVAL], &interval) ||
        !cache_scalar_u32(&f[LINE_PID], &pid) ||
        !cache_scalar_i64(&f[LINE_STARTED], &started) ||
        !cache_scalar_i64(&f[LINE_LAST], &last))
        return false;
    name = cache_scalar_dup(&f[LINE_AGENT]);
    if (qmf_dict_get(c->presence, name) != NULL) {
        free(name);
        return false;
    }
    e = qmf_xcalloc(1, sizeof(*e));
    e->name = name;
    e->node = cache_scalar_dup(&f[LINE_NODE]);
    e->attrs_json = qmf_xstrndup(values, values_len);
    e->stopping = f[LINE_STOPPING].len == 4 && memcmp(f[LINE_STOPPING].text, "true", 4) == 0;
    e->last_seen_ms = seen;
    e->interval_s = interval;
    e->inst[0].id = cache_scalar_dup(&f[LINE_ID]);
    e->inst[0].host = cache_scalar_dup(&f[LINE_HOST]);
    e->inst[0].pid = pid;
    e->inst[0].started_ms = started;
    e->inst[0].last_ms = last;
    e->ninst = 1;
    e->changed_ms = console_now_ms();
    qmf_dict_add(c->presence, e->name, e);
    return true;
}

static void
cache_take_line(struct virtbus_console *c, const char *text, size_t len)
{
    qmf_value *line;
    qmf_error err;

    if (cache_take_plain(c, text, len))
        return;
    if ((line = qmf_from_json(text, len, &err)) != NULL)
        cache_take_agent(c, line);
    qmf_free(line);
}

bool
console_presence_load(struct virtbus_console *c, const char *path)
{
    struct cache_file_reader r;
    qmf_value *head;
    int64_t offset, saved = 0, age_ms;
    uint64_t window;
    const char *text;
    size_t len;
    bool ok = false;

    c->presence_offset = -1;
    c->presence_cache = qmf_xstrdup(path);
    if ((head = cache_file_open(&r, path)) == NULL)
        return false;
    qmf_get_int64(qmf_map_get(head, "saved"), &saved);
    age_ms = console_now_ms() - saved;
    if (qmf_get_int64(qmf_map_get(head, "offset"), &offset) &&
        qmf_map_get(head, "saved") != NULL &&
        qmf_get_uint64(qmf_map_get(head, "window"), &window) &&
        window == c->presence_window_s && age_ms >= 0 &&
        age_ms < (int64_t)c->presence_window_s * 1000) {
        /* Its agents count if the stream is read on from its offset, or
         * if it is young enough to be taken as it is; else a summary
         * replaces them, and they are not read at all. */
        c->presence_cache_whole = qmf_as_bool(qmf_map_get(head, "agents"));
        if (c->presence_cache_whole &&
            (offset >= 0 || (c->presence_reuse_ms > 0 && age_ms < (int64_t)c->presence_reuse_ms))) {
            while (cache_file_next_text(&r, &text, &len))
                cache_take_line(c, text, len);
        }
        c->presence_offset = offset < 0 || !c->presence_cache_whole ? -1 : offset;
        c->presence_saved_ms = saved;
        c->presence_keeper_seen = qmf_as_bool(qmf_map_get(head, "keeper"));
        qmf_get_int64(qmf_map_get(head, "keeper_checked"), &c->keeper_checked_ms);
        ok = true;
    }
    qmf_free(head);
    cache_file_close(&r);
    return ok;
}

qmf_value *
console_presence_instances(const struct presence_entry *e)
{
    qmf_value *list;
    size_t i;

    if (e->ninst < 2)
        return NULL;
    /* Each instance as the heartbeat values that tell it apart. */
    list = qmf_list();
    for (i = 0; i < e->ninst; i++) {
        qmf_value *v = qmf_list_append(list, qmf_map());

        if (strncmp(e->inst[i].id, "epoch:", 6) != 0)
            qmf_map_set(v, "_instance_id", qmf_string(e->inst[i].id));
        if (e->node != NULL)
            qmf_map_set(v, "node", qmf_string(e->node));
        qmf_map_set(v, "_host", qmf_string(e->inst[i].host));
        qmf_map_set(v, "_pid", qmf_u32(e->inst[i].pid));
        qmf_map_set(v, "_start_time", qmf_i64(e->inst[i].started_ms * 1000000));
        qmf_map_set(v, "_timestamp", qmf_i64(e->inst[i].last_ms * 1000000));
    }
    return list;
}

/* One agent's line: of one process, its values as they came if still
 * undecoded; else lent to the line for the encoding and taken back after
 * (a copy of them all cost as much as the encoding). */
static void
cache_put_agent(struct cache_file_writer *w, struct presence_entry *e)
{
    qmf_value *line, *list;

    if (e->ninst == 1 && e->node != NULL && cache_file_plain(e->name) &&
        cache_file_plain(e->node) && cache_file_plain(e->inst[0].id) &&
        cache_file_plain(e->inst[0].host)) {
        char *texts[LINE_SCALARS] = {
            [LINE_AGENT] = qmf_xasprintf("\"%s\"", e->name),
            [LINE_NODE] = qmf_xasprintf("\"%s\"", e->node),
            [LINE_SEEN] = qmf_xasprintf("%lld", (long long)e->last_seen_ms),
            [LINE_INTERVAL] = qmf_xasprintf("%u", e->interval_s),
            [LINE_STOPPING] = qmf_xstrdup(e->stopping ? "true" : "false"),
            [LINE_ID] = qmf_xasprintf("\"%s\"", e->inst[0].id),
            [LINE_HOST] = qmf_xasprintf("\"%s\"", e->inst[0].host),
            [LINE_PID] = qmf_xasprintf("%u", e->inst[0].pid),
            [LINE_STARTED] = qmf_xasprintf("%lld", (long long)e->inst[0].started_ms),
            [LINE_LAST] = qmf_xasprintf("%lld", (long long)e->inst[0].last_ms),
        };

        cache_file_put_scalars(w, line_keys, texts, LINE_SCALARS, e->attrs_json, e->attrs);
        return;
    }
    line = qmf_map();
    list = console_presence_instances(e);
    qmf_map_set(line, "agent", qmf_string(e->name));
    console_presence_attrs(e);
    qmf_map_set(line, "values", e->attrs ? e->attrs : qmf_map());
    if (list != NULL)
        qmf_map_set(line, "instances", list);
    cache_file_put(w, line);
    e->attrs = qmf_map_take(line, "values");
    qmf_free(line);
}

/* The whole cache, at the console's close. */
static void
cache_save(struct virtbus_console *c)
{
    struct cache_file_writer w;
    qmf_value *head;
    size_t cursor = 0;
    void *ent;
    bool with_agents;

    /* From a summary there is no offset in the heartbeats to resume from:
     * the cache is then good for presence_reuse_ms only. */
    if (c->presence_cache == NULL || (c->presence_offset < 0 && !c->presence_from_summary))
        return;
    head = qmf_map();
    qmf_map_set(head, "offset", qmf_i64(c->presence_from_summary ? -1 : c->presence_offset));
    qmf_map_set(head, "keeper", qmf_bool(c->presence_from_summary));
    qmf_map_set(head, "keeper_checked", qmf_i64(c->keeper_checked_ms));
    /* As of the read, not of the close: a long command must not make
     * its cache look younger than what it knows. */
    qmf_map_set(head, "saved", qmf_i64(c->presence_read_ms));
    qmf_map_set(head, "window", qmf_u32(c->presence_window_s));
    /* After a summary the agents serve only a console that takes the
     * cache as it is: one that would not (going by this one's option)
     * needs the header alone. */
    with_agents = c->presence_reuse_ms > 0 || !c->presence_from_summary;
    qmf_map_set(head, "agents", qmf_bool(with_agents));
    if (!cache_file_begin(&w, c->presence_cache, head)) {
        qmf_free(head);
        return;
    }
    qmf_free(head);
    while (with_agents && (ent = qmf_dict_next(c->presence, &cursor, NULL)) != NULL)
        cache_put_agent(&w, ent);
    cache_file_commit(&w);
}

/* Without attrs: neither values nor instances (virtbus_presence_nodes),
 * but for an agent whose values name no node. */
static void
list_one(const struct virtbus_console *c, struct presence_entry *e, int64_t now_ms,
         bool with_attrs, struct virtbus_agent *a)
{
    size_t i;

    memset(a, 0, sizeof(*a));
    a->name = qmf_xstrdup(e->name);
    a->node = qmf_xstrdup(e->node ? e->node : e->name);
    a->last_seen_ns = e->last_seen_ms * 1000000;
    a->interval_s = e->interval_s;
    a->up = entry_up(e, now_ms);
    /* Only what the window holds: a clash long over is no news. */
    a->clash = entry_clash(e, now_ms - (int64_t)c->presence_window_s * 1000);
    /* One whose values name no node is matched on them, as it would be
     * with them all: its agent name is no node name. */
    if (!with_attrs && e->node != NULL)
        return;
    a->attrs = qmf_dup(console_presence_attrs(e));
    if (!with_attrs)
        return;
    a->instances = qmf_list();
    for (i = 0; i < e->ninst; i++) {
        qmf_value *in = qmf_list_append(a->instances, qmf_map());

        qmf_map_set(in, "instance_id", qmf_string(e->inst[i].id));
        qmf_map_set(in, "host", qmf_string(e->inst[i].host));
        qmf_map_set(in, "pid", qmf_u32(e->inst[i].pid));
        qmf_map_set(in, "started_ns", qmf_i64(e->inst[i].started_ms * 1000000));
        qmf_map_set(in, "last_seen_ns", qmf_i64(e->inst[i].last_ms * 1000000));
    }
}

/* Every agent heard of, up or down, in no order: presence, then what the
 * fleet's memory adds.  An agent forgotten since its last heartbeat is
 * left out. */
static void
snapshot(struct virtbus_console *c, int64_t now_ms, bool with_attrs,
         struct virtbus_agent_list *out)
{
    size_t cursor = 0;
    void *ent;

    memset(out, 0, sizeof(*out));
    out->items = qmf_xcalloc(qmf_dict_len(c->presence) + 1, sizeof(*out->items));
    while ((ent = qmf_dict_next(c->presence, &cursor, NULL)) != NULL) {
        struct presence_entry *e = ent;

        if (!console_fleet_forgot(c, e->name, e->last_seen_ms))
            list_one(c, e, now_ms, with_attrs, &out->items[out->n++]);
    }
    console_fleet_add_remembered(c, out, now_ms, with_attrs);
}

bool
console_presence_has_up(struct virtbus_console *c, const char *const *nodes)
{
    int64_t now_ms = console_now_ms();
    bool ok = true;
    size_t i;

    for (i = 0; ok && nodes && nodes[i]; i++) {
        char *agent = virtbus_agent_name(nodes[i]);
        void *e;

        ok = (e = qmf_dict_get(c->presence, agent)) != NULL && entry_up(e, now_ms);
        free(agent);
    }
    return ok;
}

static int
compare_agents(const void *a, const void *b)
{
    return strcmp(((const struct virtbus_agent *)a)->node,
                  ((const struct virtbus_agent *)b)->node);
}

static int
presence_list(struct virtbus_console *c, bool with_attrs, struct virtbus_agent_list *out,
              qmf_error *err)
{
    int64_t now_ms;

    memset(out, 0, sizeof(*out));
    if (!c->has_presence) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the console was opened without presence");
        return -1;
    }
    /* Up or down as of the read's start: the stream up to the marker is
     * the state then, and reading 10,000 agents' heartbeats takes longer
     * than an agent has to heartbeat again. */
    now_ms = console_now_ms();
    /* A reused cache is not saved again: its age must keep growing. */
    if (!c->presence_reused) {
        size_t cursor = 0;
        void *ent;

        if (read_to_marker(c, err) != 0)
            return -1;
        c->presence_unsaved = true;
        c->presence_read_ms = now_ms;
        while ((ent = qmf_dict_next(c->presence, &cursor, NULL)) != NULL) {
            struct presence_entry *e = ent;

            /* Asked first: the values of every agent down are not worth
             * decoding to be told that the memory knows them. */
            if (!entry_up(e, now_ms) && console_fleet_note_wanted(c, e->name, e->last_seen_ms))
                console_fleet_note_down(c, e->name, console_presence_attrs(e));
        }
    }
    snapshot(c, now_ms, with_attrs, out);
    qsort(out->items, out->n, sizeof(*out->items), compare_agents);
    return 0;
}

int
virtbus_presence(struct virtbus_console *c, struct virtbus_agent_list *out, qmf_error *err)
{
    return presence_list(c, true, out, err);
}

int
virtbus_presence_nodes(struct virtbus_console *c, struct virtbus_agent_list *out,
                       qmf_error *err)
{
    return presence_list(c, false, out, err);
}

static void
follow_check(evutil_socket_t fd, short what, void *arg)
{
    struct virtbus_console *c = arg;
    int64_t now_ms = console_now_ms();
    size_t cursor = 0;
    void *ent;

    while ((ent = qmf_dict_next(c->presence, &cursor, NULL)) != NULL) {
        struct presence_entry *e = ent;

        if (c->follow_fn && e->followed_up && !entry_up(e, now_ms))
            follow_tell(c, e, VIRTBUS_NODE_SILENT);
    }
}

int
virtbus_presence_follow(struct virtbus_console *c, virtbus_presence_fn fn, void *opaque,
                        qmf_error *err)
{
    struct timeval second = { 1, 0 };
    int64_t now_ms = console_now_ms();
    size_t cursor = 0;
    void *ent;

    if (!c->has_presence || c->presence_reused) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the console does not read presence");
        return -1;
    }
    /* Told by a summary: follow the heartbeats from now on. */
    if (fn != NULL && !c->heartbeats_subscribed &&
        console_presence_subscribe(c, qmf_string("next"), err) != 0)
        return -1;
    c->follow_fn = fn;
    c->follow_opaque = opaque;
    if (c->follow_ev)
        event_free(c->follow_ev);
    c->follow_ev = NULL;
    if (fn == NULL)
        return 0;
    /* What is known now is the baseline: only changes are told. */
    while ((ent = qmf_dict_next(c->presence, &cursor, NULL)) != NULL) {
        struct presence_entry *e = ent;

        e->followed_up = entry_up(e, now_ms);
    }
    c->follow_ev = event_new(c->base, -1, EV_PERSIST, follow_check, c);
    event_add(c->follow_ev, &second);
    return 0;
}

/* Targeting ----------------------------------------------------------------------- */

static qmf_value *
quoted(const char *s)
{
    qmf_value *q = qmf_list();

    qmf_list_append(q, qmf_string("quote"));
    qmf_list_append(q, qmf_string(s));
    return q;
}

static qmf_value *
compare(const char *op, const char *field, qmf_value *literal)
{
    qmf_value *p = qmf_list();

    qmf_list_append(p, qmf_string(op));
    qmf_list_append(p, qmf_string(field));
    qmf_list_append(p, literal);
    return p;
}

/* A shell glob as an anchored POSIX ERE: * . ? and [...] keep their
 * glob meaning, every other ERE special character is escaped. */
static char *
glob_to_regex(const char *glob)
{
    size_t len = strlen(glob), i, n = 0;
    char *re = qmf_xmalloc(2 * len + 3);
    bool in_class = false;

    re[n++] = '^';
    for (i = 0; i < len; i++) {
        char ch = glob[i];

        if (in_class) {
            re[n++] = ch;
            in_class = ch != ']';
        } else if (ch == '*') {
            re[n++] = '.';
            re[n++] = '*';
        } else if (ch == '?') {
            re[n++] = '.';
        } else if (ch == '[') {
            re[n++] = ch;
            in_class = true;
        } else {
            if (strchr(".^$+(){}|\\", ch))
                re[n++] = '\\';
            re[n++] = ch;
        }
    }
    re[n++] = '$';
    re[n] = '\0';
    return re;
}

static qmf_value *
names_predicate(const char *const *names)
{
    qmf_value *any = qmf_list(), *exact = qmf_list();
    size_t i;

    qmf_list_append(any, qmf_string("or"));
    for (i = 0; names[i]; i++) {
        if (virtbus_target_is_pattern(names[i])) {
            char *re = glob_to_regex(names[i]);

            qmf_list_append(any, compare("re_match", "node", quoted(re)));
            free(re);
        } else {
            qmf_list_append(exact, qmf_string(names[i]));
        }
    }
    /* One "in" for all the names: every agent parses what is sent.  A
     * single name stays an "eq", which agents older than "in" understand. */
    if (qmf_list_len(exact) == 1)
        qmf_list_append(any, compare("eq", "node", quoted(qmf_as_string(qmf_list_at(exact, 0)))));
    if (qmf_list_len(exact) > 1) {
        qmf_value *list = qmf_list();

        qmf_list_append(list, qmf_string("quote"));
        qmf_list_append(list, exact);
        qmf_list_append(any, compare("in", "node", list));
    } else {
        qmf_free(exact);
    }
    return any;
}

bool
virtbus_target_is_pattern(const char *name)
{
    return strpbrk(name, "*?[") != NULL;
}

qmf_value *
virtbus_target_predicate(const struct virtbus_target *t, qmf_error *err)
{
    qmf_value *all = qmf_list();
    size_t i;

    qmf_list_append(all, qmf_string("and"));
    if (t->names && t->names[0])
        qmf_list_append(all, names_predicate(t->names));
    for (i = 0; t->labels && t->labels[i]; i++) {
        const char *eq = strchr(t->labels[i], '=');
        char *field;

        if (eq == NULL || eq == t->labels[i]) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "label '%s' is not KEY=VALUE", t->labels[i]);
            qmf_free(all);
            return NULL;
        }
        field = qmf_xasprintf("labels.%.*s", (int)(eq - t->labels[i]), t->labels[i]);
        qmf_list_append(all, compare("eq", field, quoted(eq + 1)));
        free(field);
    }
    if (t->predicate)
        qmf_list_append(all, qmf_dup(t->predicate));
    if (qmf_list_len(all) == 1 && !t->all) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "no nodes targeted: name them (-n), select them (-l, --if) or use --all");
        qmf_free(all);
        return NULL;
    }
    /* ["and"] alone is true: --all. */
    return all;
}

void
virtbus_agent_list_add(struct virtbus_agent_list *l, const struct virtbus_agent *a)
{
    struct virtbus_agent *c;

    l->items = qmf_xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
    c = &l->items[l->n++];
    *c = *a;
    c->name = qmf_xstrdup(a->name);
    c->node = qmf_xstrdup(a->node);
    c->attrs = a->attrs ? qmf_dup(a->attrs) : qmf_map();
    c->instances = a->instances ? qmf_dup(a->instances) : NULL;
}

void
virtbus_select(const struct virtbus_agent_list *presence, const qmf_value *predicate,
               struct virtbus_agent_list *up, struct virtbus_agent_list *down)
{
    qmf_where *w = NULL;
    qmf_value *node_only = NULL;
    bool by_node = virtbus_target_on_nodes(predicate);
    qmf_error err;
    size_t i;

    memset(up, 0, sizeof(*up));
    memset(down, 0, sizeof(*down));
    /* A predicate that does not compile selects nobody rather than all. */
    if (predicate != NULL && (w = qmf_where_compile(predicate, &err)) == NULL)
        return;
    for (i = 0; i < presence->n; i++) {
        const struct virtbus_agent *a = &presence->items[i];

        if (w != NULL && a->attrs == NULL) {
            /* Listed by node only: its node is all there is to match. */
            if (!by_node)
                continue;
            if (node_only == NULL)
                node_only = qmf_map();
            qmf_map_set(node_only, "node", qmf_string(a->node));
        }
        if (w != NULL && !qmf_where_eval(w, a->attrs ? a->attrs : node_only))
            continue;
        virtbus_agent_list_add(a->up ? up : down, a);
    }
    qmf_where_free(w);
    qmf_free(node_only);
}

/* Every operand a literal, the field "node", or an expression of them. */
static bool
on_nodes(const qmf_value *p)
{
    const char *op;
    size_t i;

    if (p == NULL || p->kind != QMF_LIST || qmf_list_len(p) == 0 ||
        (op = qmf_as_string(qmf_list_at(p, 0))) == NULL)
        return false;
    if (strcmp(op, "quote") == 0)
        return true;
    for (i = 1; i < qmf_list_len(p); i++) {
        const qmf_value *arg = qmf_list_at(p, i);

        /* A string names a field; a list is quoted or an expression. */
        if (arg->kind == QMF_STRING ? strcmp(qmf_as_string(arg), "node") != 0
                                    : arg->kind == QMF_LIST && !on_nodes(arg))
            return false;
    }
    return true;
}

bool
virtbus_target_on_nodes(const qmf_value *predicate)
{
    return predicate == NULL || on_nodes(predicate);
}
