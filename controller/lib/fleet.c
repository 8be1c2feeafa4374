/*
 * The fleet's memory: every node ever seen and when it was last alive,
 * kept by the broker in the stream virtbus.fleet so that every console
 * shares it (docs/PROTOCOL.md §7.6).  Agents write a record (a copy of a
 * heartbeat) when they connect, every fleet_interval and as they stop;
 * `virtbus node forget` writes a forget record; and consoles write carry
 * records: the last heartbeat of a node they see down in presence, when
 * the memory has an older one (so that "last seen" is exact, not as old
 * as fleet_interval), and the newest record of a node when it is older
 * than FLEET_CARRY_AFTER_MS, so that a node down for longer than the
 * stream keeps anything is still remembered.
 *
 * Merging is order-free: an agent's memory is its newest values, and a
 * forget at time F hides every memory of the agent no newer than F.  So
 * records read twice, or out of order (a cache, then a full read), give
 * the same result.
 *
 * Costs: a console that resumes from its cache reads only the records
 * written since (one per node and fleet_interval, one per console command
 * for the markers); one without a cache reads the whole stream, a week of
 * them.  One whose cache is younger than fleet_reuse_ms reads nothing.
 */
#include "controller/lib/console_impl.h"
#include "controller/lib/cache_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/names.h"

#define FLEET_MARKER_OPCODE "_console_fleet_marker"
#define FLEET_FORGET_OPCODE "_virtbus_node_forget"
#define FLEET_CARRY_OPCODE "_virtbus_node_carry"
#define FLEET_HEARTBEAT_OPCODE "_agent_heartbeat_indication"
#define FLEET_TIMEOUT_MS 10000
#define DAY_MS (24LL * 3600 * 1000)
/* Half the stream's x-max-age (bus_fleet_queue): a node's newest record is
 * carried forward long before it ages out. */
#define FLEET_CARRY_AFTER_MS (3 * DAY_MS)
/* A cache older than this may have missed records the stream has dropped
 * since: it is not resumed from. */
#define FLEET_CACHE_MAX_AGE_MS (6 * DAY_MS)
/* How long a forget is kept: longer than any record it must hide can
 * still come back from a cache or the stream. */
#define FLEET_FORGOTTEN_KEEP_MS (14 * DAY_MS)

struct fleet_entry {
    char *name;
    /* The agent's newest known heartbeat values; NULL while they are still
     * values_json, as a cache gave them (entry_values decodes them). */
    qmf_value *values;
    char *values_json;
    char *node;              /* their "node", NULL if none */
    uint32_t interval_s;     /* their _heartbeat_interval */
    int64_t last_seen_ms;    /* their _timestamp */
    int64_t recorded_ms;     /* when the stream last got a record of it */
};

/* One reader of the stream: the console's own subscription, or a full
 * read on a connection of its own. */
struct fleet_reader {
    struct virtbus_console *c;
    const char *marker;
    bool *complete;
};

static void
entry_free(void *ent)
{
    struct fleet_entry *e = ent;

    free(e->name);
    qmf_free(e->values);
    free(e->values_json);
    free(e->node);
    free(e);
}

static const qmf_value *
entry_values(struct fleet_entry *e)
{
    if (e->values == NULL && e->values_json != NULL)
        e->values = cache_file_take_values(&e->values_json);
    return e->values;
}

static int64_t
values_ms(const qmf_value *values, const char *key)
{
    int64_t ns = 0;

    qmf_get_int64(qmf_map_get(values, key), &ns);
    return ns / 1000000;
}

bool
console_fleet_forgot(const struct virtbus_console *c, const char *agent, int64_t last_seen_ms)
{
    int64_t at;

    return c->has_fleet && qmf_get_int64(qmf_map_get(c->fleet_forgotten, agent), &at) &&
           last_seen_ms <= at;
}

static void
remember(struct virtbus_console *c, const char *agent, const qmf_value *values,
         int64_t recorded_ms)
{
    int64_t last_ms = values_ms(values, "_timestamp");
    struct fleet_entry *e;

    if (values == NULL || values->kind != QMF_MAP || console_fleet_forgot(c, agent, last_ms))
        return;
    if ((e = qmf_dict_get(c->fleet, agent)) == NULL) {
        e = qmf_xcalloc(1, sizeof(*e));
        e->name = qmf_xstrdup(agent);
        e->last_seen_ms = -1;
        qmf_dict_add(c->fleet, e->name, e);
    }
    if (last_ms > e->last_seen_ms) {
        const char *node = qmf_map_get_string(values, "node");
        uint64_t interval = 0;

        qmf_free(e->values);
        free(e->values_json);
        e->values_json = NULL;
        e->values = qmf_dup(values);
        e->last_seen_ms = last_ms;
        free(e->node);
        e->node = node ? qmf_xstrdup(node) : NULL;
        qmf_get_uint64(qmf_map_get(values, "_heartbeat_interval"), &interval);
        e->interval_s = (uint32_t)interval;
    }
    if (recorded_ms > e->recorded_ms)
        e->recorded_ms = recorded_ms;
}

static void
forget(struct virtbus_console *c, const char *agent, int64_t at_ms)
{
    int64_t before;
    const struct fleet_entry *known;

    if (!qmf_get_int64(qmf_map_get(c->fleet_forgotten, agent), &before) || at_ms > before)
        qmf_map_set(c->fleet_forgotten, agent, qmf_i64(at_ms));
    if ((known = qmf_dict_get(c->fleet, agent)) != NULL && known->last_seen_ms <= at_ms)
        qmf_dict_remove(c->fleet, agent);
}

/* What a record is, to know the stream again where a cache stopped. */
static char *
record_mark(const struct bus_message *m)
{
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const qmf_value *b = m->body;
    int64_t ts = 0;

    if (m->message_id)
        return qmf_xstrdup(m->message_id);
    if (!qmf_get_int64(qmf_map_get(qmf_map_get(b, "_values"), "_timestamp"), &ts))
        qmf_get_int64(qmf_map_get(b, "_timestamp"), &ts);
    return qmf_xasprintf("%s/%s/%lld", opcode ? opcode : "",
                         bus_message_header(m, "qmf.agent") ? bus_message_header(m, "qmf.agent")
                                                            : "", (long long)ts);
}

static void
apply(struct virtbus_console *c, const struct bus_message *m)
{
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const char *agent = bus_message_header(m, "qmf.agent");
    const qmf_value *b = m->body;

    if (opcode == NULL || b == NULL)
        return;
    if (strcmp(opcode, FLEET_HEARTBEAT_OPCODE) == 0 && agent) {
        const qmf_value *values = qmf_map_get(b, "_values");

        remember(c, agent, values, values_ms(values, "_timestamp"));
    } else if (strcmp(opcode, FLEET_CARRY_OPCODE) == 0 && qmf_map_get_string(b, "agent")) {
        remember(c, qmf_map_get_string(b, "agent"), qmf_map_get(b, "_values"),
                 values_ms(b, "_carried"));
    } else if (strcmp(opcode, FLEET_FORGET_OPCODE) == 0 && qmf_map_get_string(b, "agent")) {
        forget(c, qmf_map_get_string(b, "agent"), values_ms(b, "_timestamp"));
    }
}

static void
on_record(struct fleet_reader *r, struct bus_delivery *d, const struct bus_message *m)
{
    struct virtbus_console *c = r->c;
    const char *opcode = bus_message_header(m, "qmf.opcode");
    char *mark = record_mark(m);
    int64_t offset = -1;

    c->fleet_delivered++;
    qmf_get_int64(qmf_map_get(m->headers, "x-stream-offset"), &offset);
    /* Resuming, the first record must be the one the cache ended with:
     * anything else means the stream was made anew (a new broker). */
    if (c->fleet_resumed && !c->fleet_checked && !c->fleet_stale &&
        r->complete == &c->fleet_complete && offset >= c->fleet_offset) {
        c->fleet_checked = offset == c->fleet_offset && c->fleet_last &&
                           strcmp(mark, c->fleet_last) == 0;
        c->fleet_stale = !c->fleet_checked;
    }
    apply(c, m);
    if (offset >= c->fleet_offset) {
        c->fleet_offset = offset;
        free(c->fleet_last);
        c->fleet_last = mark;
        mark = NULL;
    }
    free(mark);
    if (opcode && strcmp(opcode, FLEET_MARKER_OPCODE) == 0 && m->message_id && r->marker &&
        strcmp(m->message_id, r->marker) == 0)
        *r->complete = true;
    /* Stream deliveries are acknowledged only to renew the credit. */
    bus_ack(d);
}

void
console_on_fleet(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct virtbus_console *c = opaque;
    struct fleet_reader r = { c, c->fleet_marker, &c->fleet_complete };

    on_record(&r, d, m);
}

static void
on_full_read(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    on_record(opaque, d, m);
}

/* The cache --------------------------------------------------------------------
 *
 * JSON lines (cache_file.h).  The header:
 * {"format": 2, "offset": <last stream offset read>, "last": <what lies there>,
 *  "saved": <ms>}
 * then a line per node remembered, its values read only when needed,
 * {"agent": "<agent>", "node": "<node>", "seen": <ms>, "interval": <s>,
 * "recorded": <ms>, "values": {...}} (names with nothing to escape:
 * cache_file_put_scalars), else {"agent": "<agent>", "values": {...},
 * "recorded": <ms>}; and per node forgotten lately, {"forgotten":
 * "<agent>", "at": <ms>}. */

/* The scalars of a remembered node's line (cache_file_split), in their
 * order. */
enum { LINE_AGENT, LINE_NODE, LINE_SEEN, LINE_INTERVAL, LINE_RECORDED, LINE_SCALARS };
static const char *const line_keys[LINE_SCALARS] = {
    [LINE_AGENT] = "agent", [LINE_NODE] = "node", [LINE_SEEN] = "seen",
    [LINE_INTERVAL] = "interval", [LINE_RECORDED] = "recorded",
};

/* A remembered node's line, its values kept as their text: false if it is
 * not such a line, or names an agent read already. */
static bool
cache_take_plain(struct virtbus_console *c, const char *line, size_t len)
{
    struct cache_scalar f[LINE_SCALARS];
    int64_t seen, recorded;
    uint32_t interval;
    struct fleet_entry *e;
    const char *values;
    size_t values_len;
    char *name;

    if (!cache_file_split(line, len, line_keys, LINE_SCALARS, f, &values, &values_len) ||
        !f[LINE_AGENT].string || !f[LINE_NODE].string ||
        !cache_scalar_i64(&f[LINE_SEEN], &seen) ||
        !cache_scalar_u32(&f[LINE_INTERVAL], &interval) ||
        !cache_scalar_i64(&f[LINE_RECORDED], &recorded))
        return false;
    name = cache_scalar_dup(&f[LINE_AGENT]);
    if (qmf_dict_get(c->fleet, name) != NULL) {
        free(name);
        return false;
    }
    e = qmf_xcalloc(1, sizeof(*e));
    e->name = name;
    e->node = cache_scalar_dup(&f[LINE_NODE]);
    e->values_json = qmf_xstrndup(values, values_len);
    e->interval_s = interval;
    e->last_seen_ms = seen;
    e->recorded_ms = recorded;
    qmf_dict_add(c->fleet, e->name, e);
    return true;
}

static bool
cache_load(struct virtbus_console *c, const char *path)
{
    struct cache_file_reader r;
    qmf_value *head, *line;
    int64_t offset, saved, now = console_now_ms();
    const char *last, *text;
    size_t len;
    qmf_error err;
    bool ok = false;

    if ((head = cache_file_open(&r, path)) == NULL)
        return false;
    last = qmf_map_get_string(head, "last");
    if (qmf_get_int64(qmf_map_get(head, "offset"), &offset) && offset >= 0 && last &&
        qmf_get_int64(qmf_map_get(head, "saved"), &saved) && now - saved >= 0 &&
        now - saved < FLEET_CACHE_MAX_AGE_MS) {
        qmf_free(c->fleet_forgotten);
        c->fleet_forgotten = qmf_map();
        while (cache_file_next_text(&r, &text, &len)) {
            const char *agent, *forgotten;
            int64_t ms = 0;

            if (cache_take_plain(c, text, len) ||
                (line = qmf_from_json(text, len, &err)) == NULL)
                continue;
            agent = qmf_map_get_string(line, "agent");
            forgotten = qmf_map_get_string(line, "forgotten");
            if (agent != NULL) {
                qmf_get_int64(qmf_map_get(line, "recorded"), &ms);
                remember(c, agent, qmf_map_get(line, "values"), ms);
            } else if (forgotten != NULL && qmf_get_int64(qmf_map_get(line, "at"), &ms)) {
                qmf_map_set(c->fleet_forgotten, forgotten, qmf_i64(ms));
            }
            qmf_free(line);
        }
        c->fleet_offset = offset;
        c->fleet_last = qmf_xstrdup(last);
        c->fleet_saved_ms = saved;
        ok = true;
    }
    qmf_free(head);
    cache_file_close(&r);
    return ok;
}

/* A node's line: its values as they came if still undecoded; else lent
 * to the line for the encoding, not copied. */
static void
cache_put_entry(struct cache_file_writer *w, struct fleet_entry *e)
{
    qmf_value *line;

    if (e->node != NULL && cache_file_plain(e->name) && cache_file_plain(e->node)) {
        char *texts[LINE_SCALARS] = {
            [LINE_AGENT] = qmf_xasprintf("\"%s\"", e->name),
            [LINE_NODE] = qmf_xasprintf("\"%s\"", e->node),
            [LINE_SEEN] = qmf_xasprintf("%lld", (long long)e->last_seen_ms),
            [LINE_INTERVAL] = qmf_xasprintf("%u", e->interval_s),
            [LINE_RECORDED] = qmf_xasprintf("%lld", (long long)e->recorded_ms),
        };

        cache_file_put_scalars(w, line_keys, texts, LINE_SCALARS, e->values_json, e->values);
        return;
    }
    line = qmf_map();
    qmf_map_set(line, "agent", qmf_string(e->name));
    entry_values(e);
    qmf_map_set(line, "values", e->values ? e->values : qmf_map());
    qmf_map_set(line, "recorded", qmf_i64(e->recorded_ms));
    cache_file_put(w, line);
    e->values = qmf_map_take(line, "values");
    qmf_free(line);
}

static void
cache_save(struct virtbus_console *c)
{
    struct cache_file_writer w;
    qmf_value *head;
    int64_t now = console_now_ms();
    size_t cursor = 0, i;
    void *ent;

    if (c->fleet_cache == NULL || c->fleet_offset < 0 || c->fleet_last == NULL)
        return;
    head = qmf_map();
    qmf_map_set(head, "offset", qmf_i64(c->fleet_offset));
    qmf_map_set(head, "last", qmf_string(c->fleet_last));
    /* A cache taken as it is keeps its age, or it would never be read
     * again. */
    qmf_map_set(head, "saved", qmf_i64(c->fleet_reused ? c->fleet_saved_ms : now));
    if (!cache_file_begin(&w, c->fleet_cache, head)) {
        qmf_free(head);
        return;
    }
    qmf_free(head);
    while ((ent = qmf_dict_next(c->fleet, &cursor, NULL)) != NULL)
        cache_put_entry(&w, ent);
    for (i = 0; i < qmf_map_len(c->fleet_forgotten); i++) {
        int64_t at = 0;

        qmf_get_int64(qmf_map_at(c->fleet_forgotten, i)->value, &at);
        if (now - at < FLEET_FORGOTTEN_KEEP_MS) {
            qmf_value *line = qmf_map();

            qmf_map_set(line, "forgotten", qmf_string(qmf_map_at(c->fleet_forgotten, i)->key));
            qmf_map_set(line, "at", qmf_i64(at));
            cache_file_put(&w, line);
            qmf_free(line);
        }
    }
    cache_file_commit(&w);
}

qmf_value *
console_fleet_init(struct virtbus_console *c, const char *cache, unsigned retention_s,
                   bool *fresh, unsigned fresh_ms)
{
    qmf_value *args = qmf_map();
    int64_t age;

    c->has_fleet = true;
    c->fleet = qmf_dict_new(entry_free);
    c->fleet_forgotten = qmf_map();
    c->fleet_offset = -1;
    c->fleet_retention_s = retention_s;
    c->fleet_marker = console_new_id();
    c->fleet_cache = cache ? qmf_xstrdup(cache) : NULL;
    c->fleet_resumed = cache && cache_load(c, cache);
    age = console_now_ms() - c->fleet_saved_ms;
    *fresh = c->fleet_resumed && age >= 0 && age < (int64_t)fresh_ms;
    /* From the record the cache ended with, to check it is still there. */
    if (c->fleet_resumed)
        qmf_map_set(args, "x-stream-offset", qmf_i64(c->fleet_offset));
    else
        qmf_map_set(args, "x-stream-offset", qmf_string("first"));
    return args;
}

void
console_fleet_free(struct virtbus_console *c)
{
    qmf_dict_free(c->fleet);
    c->fleet = NULL;
    qmf_free(c->fleet_forgotten);
    c->fleet_forgotten = NULL;
    free(c->fleet_marker);
    free(c->fleet_last);
    free(c->fleet_cache);
    c->fleet_marker = c->fleet_last = c->fleet_cache = NULL;
}

static struct bus_message *
fleet_message(const char *opcode, qmf_value *body, char *message_id)
{
    struct bus_message *m = bus_message_new();

    bus_message_set_header_string(m, "qmf.opcode", opcode);
    bus_message_set_header_string(m, "method", "indication");
    bus_message_set_header_string(m, "app-id", "qmf2");
    m->message_id = message_id;
    m->body = body;
    return m;
}

static int
send_marker(struct virtbus_console *c, char **marker, bool *complete, qmf_error *err)
{
    free(*marker);
    *marker = console_new_id();
    *complete = false;
    /* By the topic exchange, as presence markers go: a reader's broker
     * account may not write to queues by name. */
    return virtbus_send(c, QMF_NAME_FLEET_MARKER_ADDRESS,
                        fleet_message(FLEET_MARKER_OPCODE, qmf_map(), qmf_xstrdup(*marker)),
                        err);
}

static int
wait_marker(struct virtbus_console *c, const bool *complete, qmf_error *err)
{
    if (console_run_while_coming(c, complete, &c->fleet_delivered, FLEET_TIMEOUT_MS))
        return 0;
    qmf_error_set(err, QMF_ERR_TIMEOUT, "the fleet's memory sent nothing for %d ms",
                  FLEET_TIMEOUT_MS);
    return -1;
}

/* The whole stream, on a connection of its own: the one the cache
 * pointed into is not this broker's. */
static int
read_all(struct virtbus_console *c, qmf_error *err)
{
    char *marker = NULL;
    bool complete = false;
    struct fleet_reader r = { c, NULL, &complete };
    struct bus_options opts = { 0 };
    struct bus_queue q;
    struct bus_subscription sub;
    qmf_value *qargs = bus_fleet_queue(&q), *offset = qmf_map();
    struct bus_conn *conn = NULL;
    int rc;

    qmf_dict_free(c->fleet);
    c->fleet = qmf_dict_new(entry_free);
    qmf_free(c->fleet_forgotten);
    c->fleet_forgotten = qmf_map();
    c->fleet_offset = -1;
    qmf_map_set(offset, "x-stream-offset", qmf_string("first"));
    sub = (struct bus_subscription){
        .source = QMF_NAME_FLEET_ADDRESS, .credit = 2000, .arguments = offset,
        .receive = on_full_read, .opaque = &r,
    };
    console_bus_options(c, &opts);
    opts.name = "virtbus console (fleet)";
    console_shared_queue(c, &q);
    opts.queues = &q;
    opts.nqueues = 1;
    opts.subs = &sub;
    opts.nsubs = 1;
    rc = bus_open(&conn, c->base, &opts, NULL, NULL, err);
    qmf_free(qargs);
    qmf_free(offset);
    if (rc == 0 && (rc = send_marker(c, &marker, &complete, err)) == 0) {
        r.marker = marker;
        rc = wait_marker(c, &complete, err);
    }
    if (conn)
        bus_close(conn);
    free(marker);
    return rc;
}

/* Repeats the newest record of each node whose records are about to age
 * out of the stream, so that the memory outlives them. */
static void
carry_forward(struct virtbus_console *c)
{
    int64_t now = console_now_ms();
    size_t cursor = 0;
    void *ent;
    qmf_error err;

    /* Others carry: a reader's broker account may not write by name. */
    if (c->read_only)
        return;
    while ((ent = qmf_dict_next(c->fleet, &cursor, NULL)) != NULL) {
        struct fleet_entry *e = ent;
        qmf_value *body;

        if (now - e->recorded_ms < FLEET_CARRY_AFTER_MS ||
            (c->fleet_retention_s && now - e->last_seen_ms > c->fleet_retention_s * 1000LL))
            continue;
        body = qmf_map();
        qmf_map_set(body, "agent", qmf_string(e->name));
        qmf_map_set(body, "_values", qmf_dup(entry_values(e)));
        qmf_map_set(body, "_carried", qmf_i64(now * 1000000));
        if (virtbus_send(c, QMF_NAME_FLEET_ADDRESS,
                         fleet_message(FLEET_CARRY_OPCODE, body, NULL), &err) == 0)
            e->recorded_ms = now;
    }
}

bool
console_fleet_note_wanted(const struct virtbus_console *c, const char *agent, int64_t last_ms)
{
    const struct fleet_entry *known;

    /* Only after reading the stream: from a cache taken as it is, every
     * command would write the same record again. */
    return c->has_fleet && !c->fleet_reused && !c->read_only &&
           !console_fleet_forgot(c, agent, last_ms) &&
           ((known = qmf_dict_get(c->fleet, agent)) == NULL || known->last_seen_ms < last_ms);
}

void
console_fleet_note_down(struct virtbus_console *c, const char *agent, const qmf_value *values)
{
    int64_t last_ms = values_ms(values, "_timestamp"), now = console_now_ms();
    qmf_value *body;
    qmf_error err;

    if (!console_fleet_note_wanted(c, agent, last_ms))
        return;
    body = qmf_map();
    qmf_map_set(body, "agent", qmf_string(agent));
    qmf_map_set(body, "_values", qmf_dup(values));
    qmf_map_set(body, "_carried", qmf_i64(now * 1000000));
    if (virtbus_send(c, QMF_NAME_FLEET_ADDRESS, fleet_message(FLEET_CARRY_OPCODE, body, NULL),
                     &err) == 0)
        remember(c, agent, values, now);
}

int
console_fleet_read(struct virtbus_console *c, qmf_error *err)
{
    if (send_marker(c, &c->fleet_marker, &c->fleet_complete, err) != 0 ||
        wait_marker(c, &c->fleet_complete, err) != 0)
        return -1;
    if (c->fleet_stale && read_all(c, err) != 0)
        return -1;
    c->fleet_stale = false;
    carry_forward(c);
    cache_save(c);
    return 0;
}

void
console_fleet_add_remembered(struct virtbus_console *c, struct virtbus_agent_list *out,
                             int64_t now_ms, bool with_attrs)
{
    size_t cursor = 0;
    void *ent;

    if (!c->has_fleet)
        return;
    while ((ent = qmf_dict_next(c->fleet, &cursor, NULL)) != NULL) {
        struct fleet_entry *e = ent;
        struct virtbus_agent *a;

        if (qmf_dict_get(c->presence, e->name) != NULL ||
            (c->fleet_retention_s && now_ms - e->last_seen_ms > c->fleet_retention_s * 1000LL))
            continue;
        /* Not virtbus_agent_list_add: it gives an agent without attrs an
         * empty map. */
        out->items = qmf_xrealloc(out->items, (out->n + 1) * sizeof(*out->items));
        a = &out->items[out->n++];
        /* Without attrs only where the node says all a target needs
         * (virtbus_select); NULL values are none known. */
        *a = (struct virtbus_agent){
            .name = qmf_xstrdup(e->name), .node = qmf_xstrdup(e->node ? e->node : e->name),
            .attrs = !with_attrs && e->node != NULL ? NULL
                     : entry_values(e) != NULL ? qmf_dup(entry_values(e)) : qmf_map(),
            .last_seen_ns = e->last_seen_ms * 1000000, .interval_s = e->interval_s,
            .remembered = true,
        };
    }
}

int
virtbus_fleet_forget(struct virtbus_console *c, const char *node, qmf_error *err)
{
    char *agent = virtbus_agent_name(node);
    struct console_wait *w = &c->forget_wait;
    struct bus_message *m;
    qmf_value *body;
    int64_t now = console_now_ms();
    int rc;

    if (!c->has_fleet) {
        free(agent);
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the console was opened without the fleet");
        return -1;
    }
    if (console_check_writable(c, "forgetting a node", err) != 0) {
        free(agent);
        return -1;
    }
    body = qmf_map();
    qmf_map_set(body, "agent", qmf_string(agent));
    qmf_map_set(body, "node", qmf_string(node));
    qmf_map_set(body, "_timestamp", qmf_i64(now * 1000000));
    m = fleet_message(FLEET_FORGET_OPCODE, body, console_new_id());
    console_stamp(c, m, 0);
    m->durable = true;
    *w = (struct console_wait){ 0 };
    rc = bus_publish(c->bus, QMF_NAME_FLEET_ADDRESS, m, console_wait_confirmed, w, err);
    bus_message_free(m);
    if (rc == 0 && console_wait_for(c, w, FLEET_TIMEOUT_MS, "the forget record", err) != 0) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "the broker did not take the forget record of %s",
                      node);
        rc = -1;
    }
    if (rc == 0) {
        forget(c, agent, now);
        cache_save(c);
    }
    free(agent);
    return rc;
}
