/*
 * virtbus watch: live events (and object changes) from the fleet, one
 * line each or one JSON document per line, until interrupted or --count
 * items were printed; and, from presence, a line when a node goes silent
 * and one when it is back.  The broker filters by event, class and a
 * single node through routing keys; other targeting is applied here,
 * against the nodes presence knew when the watch began.
 */
#include "controller/ctl.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "core/names.h"
#include "core/where.h"

struct watch_state {
    struct ctl_ctx *ctx;
    int64_t lost_ns;                            /* the connection is down since; 0: up */
    unsigned long count, max;
    const struct virtbus_agent_list *allowed;   /* NULL: every node */
    const char *single;                         /* the one node, or NULL */
    qmf_where *where;                           /* objects only */
};

static void
print_text(const char *node, const char *kind, const char *class_name, int64_t ts,
           const qmf_value *item, const qmf_value *values)
{
    const char *oname = qmf_map_get_string(qmf_map_get(item, "_object_id"), "_object_name");
    char when[40];
    size_t i;

    ctl_format_time(ts, when, sizeof(when));
    printf("%s %s %s", when, node, class_name ? class_name : "?");
    if (strcmp(kind, "object") == 0)
        printf(" %s%s", oname ? oname : "?", qmf_map_get(item, "_delete_ts") ? " deleted" : "");
    for (i = 0; i < qmf_map_len(values); i++) {
        char *cell;

        if (strcmp(qmf_map_at(values, i)->key, "node") == 0)
            continue;
        cell = ctl_format_value(qmf_map_at(values, i)->value);
        printf(" %s=%s", qmf_map_at(values, i)->key, cell);
        free(cell);
    }
    printf("\n");
}

/* An event's severity as a word: _severity_name; _severity itself from
 * agents before it (a word) or QMFv2 agents (an int8, 0 emerg .. 7 debug). */
static const char *
event_severity(const qmf_value *item)
{
    const char *name = qmf_map_get_string(item, "_severity_name");
    int64_t n;

    if (name != NULL)
        return name;
    if ((name = qmf_map_get_string(item, "_severity")) != NULL)
        return name;
    if (qmf_get_int64(qmf_map_get(item, "_severity"), &n) && n >= SCHEMA_SEV_EMERG &&
        n <= SCHEMA_SEV_DEBUG)
        return schema_severity_name((enum schema_severity)n);
    return NULL;
}

static void
print_json(const char *node, const char *kind, const char *class_name, int64_t ts,
           const qmf_value *item, const qmf_value *values)
{
    qmf_value *line = qmf_map();

    qmf_map_set(line, "node", qmf_string(node));
    qmf_map_set(line, "kind", qmf_string(kind));
    qmf_map_set(line, "class", qmf_string(class_name ? class_name : ""));
    qmf_map_set(line, "timestamp", qmf_i64(ts));
    if (event_severity(item) != NULL)
        qmf_map_set(line, "severity", qmf_string(event_severity(item)));
    if (strcmp(kind, "object") == 0) {
        qmf_map_set(line, "object", qmf_dup(qmf_map_get(qmf_map_get(item, "_object_id"),
                                                        "_object_name")));
        qmf_map_set(line, "deleted", qmf_bool(qmf_map_get(item, "_delete_ts") != NULL));
    }
    qmf_map_set(line, "values", values ? qmf_dup(values) : qmf_map());
    ctl_print_json(line);
    qmf_free(line);
}

/* Prints one item; false if a filter left it out. */
static bool
print_item(struct watch_state *ws, const char *node, const char *content,
           const qmf_value *item)
{
    const char *class_name = qmf_map_get_string(qmf_map_get(item, "_schema_id"), "_class_name");
    const char *kind = strcmp(content, "_event") == 0 ? "event" : "object";
    const qmf_value *values = qmf_map_get(item, "_values");
    int64_t ts = 0;

    if (ws->where && (strcmp(kind, "object") != 0 || !qmf_where_eval(ws->where, values)))
        return false;
    if (!qmf_get_int64(qmf_map_get(item, "_timestamp"), &ts))
        qmf_get_int64(qmf_map_get(item, "_update_ts"), &ts);
    if (ws->ctx->json)
        print_json(node, kind, class_name, ts, item, values);
    else
        print_text(node, kind, class_name, ts, item, values);
    return true;
}

static void
on_message(const struct virtbus_message *watched, void *opaque)
{
    const struct bus_message *m = virtbus_message_bus(watched);
    struct watch_state *ws = opaque;
    const char *agent = bus_message_header(m, "qmf.agent");
    const char *content = bus_message_header(m, "qmf.content");
    const char *node;
    size_t i;

    if (m->body == NULL || m->body->kind != QMF_LIST || agent == NULL || content == NULL)
        return;
    node = qmf_name_agent_label(agent);
    if (ws->allowed && !ctl_nodes_find(ws->allowed, node))
        return;
    for (i = 0; i < qmf_list_len(m->body); i++) {
        if (!print_item(ws, node, content, qmf_list_at(m->body, i)))
            continue;
        if (ws->max && ++ws->count >= ws->max) {
            virtbus_watch_stop(ws->ctx->console);
            return;
        }
    }
}

static int64_t
now_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/*
 * A node going silent or coming back, from presence:
 *   2026-11-25T22:02:54.674Z node1 silent last_heartbeat=2026-11-25T22:02:39.601Z
 *   2026-11-25T22:03:10.002Z node1 back
 * They are not items: --count does not count them.
 */
static void
on_presence(const struct virtbus_agent *a, enum virtbus_presence_change what, void *opaque)
{
    static const char *const words[] = {
        [VIRTBUS_NODE_SILENT] = "silent", [VIRTBUS_NODE_STOPPED] = "stopped",
        [VIRTBUS_NODE_BACK] = "back", [VIRTBUS_NODE_NEW] = "new",
    };
    struct watch_state *ws = opaque;
    int64_t now = now_ns();
    char when[40], last[40];

    if ((ws->allowed && !ctl_nodes_find(ws->allowed, a->node)) ||
        (ws->single && strcmp(ws->single, a->node) != 0) || ws->ctx->quiet)
        return;
    if (ws->ctx->json) {
        qmf_value *line = qmf_map(), *values;

        qmf_map_set(line, "node", qmf_string(a->node));
        qmf_map_set(line, "kind", qmf_string("presence"));
        qmf_map_set(line, "class", qmf_string(words[what]));
        qmf_map_set(line, "timestamp", qmf_i64(now));
        values = qmf_map_set(line, "values", qmf_map());
        qmf_map_set(values, "last_heartbeat", qmf_i64(a->last_seen_ns));
        ctl_print_json(line);
        qmf_free(line);
        return;
    }
    ctl_format_time(now, when, sizeof(when));
    ctl_format_time(a->last_seen_ns, last, sizeof(last));
    if (what == VIRTBUS_NODE_SILENT || what == VIRTBUS_NODE_STOPPED)
        printf("%s %s %s last_heartbeat=%s\n", when, a->node, words[what], last);
    else
        printf("%s %s %s\n", when, a->node, words[what]);
}

/*
 * The broker connection lost, and back, with the gap:
 *   2026-11-25T22:02:54.674Z connection lost: broker closed the connection: ...
 *   2026-11-25T22:03:10.002Z connection back after 15.3s (what was published meanwhile is not shown)
 * Each failed attempt to reconnect is not a line of its own.
 */
static void
on_connection(bool up, const qmf_error *why, void *opaque)
{
    struct watch_state *ws = opaque;
    int64_t now = now_ns(), gap = up ? now - ws->lost_ns : 0;
    char when[40];

    if (up == (ws->lost_ns == 0))
        return;
    ws->lost_ns = up ? 0 : now;
    if (ws->ctx->json) {
        qmf_value *line = qmf_map(), *values;

        qmf_map_set(line, "kind", qmf_string("connection"));
        qmf_map_set(line, "class", qmf_string(up ? "back" : "lost"));
        qmf_map_set(line, "timestamp", qmf_i64(now));
        values = qmf_map_set(line, "values", qmf_map());
        if (up)
            qmf_map_set(values, "gap_ns", qmf_i64(gap));
        else
            qmf_map_set(values, "error", qmf_string(why ? why->text : ""));
        ctl_print_json(line);
        qmf_free(line);
        return;
    }
    ctl_format_time(now, when, sizeof(when));
    if (up)
        printf("%s connection back after %.1fs (what was published meanwhile is not shown)\n",
               when, (double)gap / 1e9);
    else
        printf("%s connection lost%s%s\n", when, why ? ": " : "", why ? why->text : "");
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct ctl_ctx *ctx = arg;

    virtbus_watch_stop(ctx->console);
    event_base_loopbreak(ctx->base);
}

/* One literal node and nothing else: the broker can filter by it. */
static const char *
single_node(const struct ctl_args *a)
{
    if (a->names == NULL || a->names[1] || a->labels || a->if_expr ||
        strpbrk(a->names[0], "*?[,@"))
        return NULL;
    return a->names[0];
}

/* The routing keys for the wanted events and object pushes. */
static void
watch_keys(const char *event, const char *class_name, bool data, const char *node,
           char **keys)
{
    size_t n = 0;

    if (event || class_name == NULL)
        keys[n++] = qmf_name_event_key(event, NULL, node);
    if (data || class_name)
        keys[n++] = qmf_name_data_key(class_name, node);
}

static int
check_flags(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, const struct ctl_args *a,
            struct watch_state *ws, const struct schema_class **cls)
{
    const char *event = ctl_args_get(a, e, "event"), *count = ctl_args_get(a, e, "count");
    const struct schema_class *ev;
    qmf_value *pred;
    qmf_error err;
    char *end;

    if (a->argc != 0)
        return ctl_usage(e, NULL);
    if (count) {
        ws->max = strtoul(count, &end, 10);
        if (end == count || *end || count[0] == '-')
            return ctl_usage(e, "--count: expected a number, got '%s'", count);
    }
    if (event && strcmp(event, "*") != 0 &&
        ((ev = schema_find_class(ctx->schema, event)) == NULL || ev->kind != SCHEMA_EVENT))
        return ctl_usage(e, "no event '%s' (virtbus schema lists them)", event);
    *cls = NULL;
    if (ctl_args_get(a, e, "class") && (*cls = ctl_find_class(ctx, ctl_args_get(a, e, "class"))) == NULL)
        return CTL_EXIT_USAGE;
    if (a->where == NULL)
        return CTL_EXIT_OK;
    if (*cls == NULL)
        return ctl_usage(e, "--where filters objects: name their --class");
    if ((pred = ctl_compile_expr("--where", a->where, *cls)) == NULL)
        return CTL_EXIT_USAGE;
    ws->where = qmf_where_compile(pred, &err);
    qmf_free(pred);
    if (ws->where == NULL)
        return ctl_usage(e, "--where: %s", err.text);
    return CTL_EXIT_OK;
}

static int
watch_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    struct watch_state ws = { .ctx = ctx };
    const struct schema_class *cls = NULL;
    const char *event = ctl_args_get(a, e, "event");
    bool filter = ctl_args_targeted(a) && !single_node(a);
    char *keys[3] = { NULL, NULL, NULL };
    struct event *sigint_ev, *sigterm_ev;
    struct ctl_nodes nodes = { 0 };
    struct virtbus_agent_list known = { 0 };
    qmf_error err;
    int rc;

    /* Events are printed as they come, even into a pipe (main() already
     * set this for a terminal; setvbuf only once). */
    if (!isatty(STDOUT_FILENO))
        setvbuf(stdout, NULL, _IOLBF, 0);
    if ((rc = check_flags(ctx, e, a, &ws, &cls)) != 0) {
        qmf_where_free(ws.where);
        return rc;
    }
    watch_keys(event, cls ? cls->name : NULL, ctl_args_get(a, e, "data") != NULL, single_node(a), keys);
    /* Presence always, for the silent and back lines; never a cache taken
     * as is, which would not be followed. */
    ctx->presence_reuse_ms = 0;
    ctx->fleet_reuse_ms = 0;
    rc = ctl_connect(ctx, true, (const char *const *)keys, NULL);
    free(keys[0]);
    free(keys[1]);
    if (rc == 0 && filter && (rc = ctl_discover(ctx, e, a, false, &nodes)) == 0) {
        /* up and down alike: a down node may come back */
        for (size_t i = 0; i < nodes.down.n; i++)
            virtbus_agent_list_add(&nodes.up, &nodes.down.items[i]);
        ws.allowed = &nodes.up;
    } else if (rc == 0 && virtbus_presence(ctx->console, &known, &err) != 0) {
        ctl_warnx("%s", err.text);
        rc = CTL_EXIT_FAILED;
    }
    ws.single = single_node(a);
    if (rc == 0 && virtbus_presence_follow(ctx->console, on_presence, &ws, &err) != 0) {
        ctl_warnx("%s", err.text);
        rc = CTL_EXIT_FAILED;
    }
    virtbus_agent_list_free(&known);
    if (rc != 0) {
        ctl_nodes_clear(&nodes);
        qmf_where_free(ws.where);
        return rc;
    }
    sigint_ev = evsignal_new(ctx->base, SIGINT, on_signal, ctx);
    sigterm_ev = evsignal_new(ctx->base, SIGTERM, on_signal, ctx);
    event_add(sigint_ev, NULL);
    event_add(sigterm_ev, NULL);
    if (!ctx->quiet) {
        bool events = event || !cls, objects = cls || ctl_args_get(a, e, "data");

        fprintf(stderr, "virtbus: watching %s%s%s%s%s on %s\n",
                events ? (event ? event : "all") : "", events ? " events" : "",
                events && objects ? " and " : "",
                objects ? (cls ? cls->name : "all") : "", objects ? " objects" : "",
                ctl_args_targeted(a) ? "the targeted nodes" : "all nodes");
    }
    virtbus_console_on_connection(ctx->console, on_connection, &ws);
    rc = virtbus_watch(ctx->console, on_message, &ws, &err);
    virtbus_console_on_connection(ctx->console, NULL, NULL);
    event_free(sigint_ev);
    event_free(sigterm_ev);
    ctl_nodes_clear(&nodes);
    qmf_where_free(ws.where);
    if (rc != 0) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

static const struct ctl_option watch_options[] = {
    { "event", 'e', "NAME", "only this event (virtbus schema lists them)", NULL },
    { "class", 0, "CLASS", "object changes of this class (implies --data)", NULL },
    { "data", 'd', NULL, "object changes too", NULL },
    { "count", 0, "N", "stop after N items", NULL },
    { 0 },
};

const struct ctl_cmd_entry ctl_cmds_watch[] = {
    { .name = "watch", .usage = "[--event NAME] [--class CLASS [--where EXPR]] [--data] [--count N]",
      .summary = "print live events (and object changes) as they happen",
      .accepts = CTL_TARGETS | CTL_WHERE, .options = watch_options, .exec = watch_exec },
    { 0 },
};
