/*
 * virtbus watch: live events from the fleet, one line each (or JSON
 * lines), until interrupted or --count events were printed.
 */
#include "controller/ctl.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus/bus.h"

struct watch_state {
    struct ctl_ctx *ctx;
    unsigned long count, max;
};

/* ISO 8601 in UTC with milliseconds: 2026-11-25T21:40:39.123Z */
static void
format_time(int64_t ns, char *buf, size_t len)
{
    time_t secs = (time_t)(ns / 1000000000);
    unsigned ms = (unsigned)((ns % 1000000000 + 1000000000) % 1000000000 / 1000000);
    struct tm tm;
    size_t n;

    gmtime_r(&secs, &tm);
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", ms % 1000);
}

static void
print_item(struct watch_state *ws, const char *node, const char *content,
           const qmf_value *item)
{
    const qmf_value *sid = qmf_map_get(item, "_schema_id");
    const qmf_value *values = qmf_map_get(item, "_values");
    const char *class_name = qmf_map_get_string(sid, "_class_name");
    int64_t ts = 0;
    char when[64];
    size_t i;

    if (!qmf_get_int64(qmf_map_get(item, "_timestamp"), &ts))
        qmf_get_int64(qmf_map_get(item, "_update_ts"), &ts);
    if (ws->ctx->json) {
        qmf_value *line = qmf_map();

        qmf_map_set(line, "node", qmf_string(node));
        qmf_map_set(line, "kind", qmf_string(strcmp(content, "_event") == 0 ? "event" : "object"));
        qmf_map_set(line, "class", qmf_string(class_name ? class_name : ""));
        qmf_map_set(line, "timestamp", qmf_i64(ts));
        if (qmf_map_get(item, "_severity"))
            qmf_map_set(line, "severity", qmf_dup(qmf_map_get(item, "_severity")));
        qmf_map_set(line, "values", values ? qmf_dup(values) : qmf_map());
        ctl_print_json(line);
        qmf_free(line);
    } else {
        format_time(ts, when, sizeof(when));
        printf("%s %s %s", when, node, class_name ? class_name : "?");
        for (i = 0; i < qmf_map_len(values); i++) {
            char *cell;

            if (strcmp(values->u.map.items[i].key, "node") == 0)
                continue;
            cell = ctl_format_value(values->u.map.items[i].value);
            printf(" %s=%s", values->u.map.items[i].key, cell);
            free(cell);
        }
        printf("\n");
    }
}

static void
on_message(const struct bus_message *m, void *opaque)
{
    struct watch_state *ws = opaque;
    const char *agent = bus_message_header(m, "qmf.agent");
    const char *content = bus_message_header(m, "qmf.content");
    const char *node;
    size_t i;

    if (m->body == NULL || m->body->kind != QMF_LIST || agent == NULL || content == NULL)
        return;
    node = strrchr(agent, ':') ? strrchr(agent, ':') + 1 : agent;
    for (i = 0; i < m->body->u.list.len; i++) {
        print_item(ws, node, content, m->body->u.list.items[i]);
        if (ws->max && ++ws->count >= ws->max) {
            virtbus_watch_stop(ws->ctx->console);
            return;
        }
    }
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct ctl_ctx *ctx = arg;

    virtbus_watch_stop(ctx->console);
    event_base_loopbreak(ctx->base);
}

static int
cmd_watch_exec(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option options[] = {
        { "event", required_argument, NULL, 'e' },
        { "node", required_argument, NULL, 'n' },
        { "data", no_argument, NULL, 'd' },
        { "count", required_argument, NULL, 'N' },
        { NULL, 0, NULL, 0 },
    };
    struct watch_state ws = { .ctx = ctx };
    const char *event = "*", *node = "*";
    char *keys[3] = { NULL, NULL, NULL }, *node_key;
    struct event *sigint_ev, *sigterm_ev;
    bool data = false;
    qmf_error err;
    int ch, rc;

    while ((ch = getopt_long(argc, argv, "e:n:dN:", options, NULL)) != -1) {
        switch (ch) {
        case 'e': event = optarg; break;
        case 'n': node = optarg; break;
        case 'd': data = true; break;
        case 'N': ws.max = strtoul(optarg, NULL, 10); break;
        default:  return ctl_usage(&ctl_cmd_watch_entry);
        }
    }
    if (optind != argc)
        return ctl_usage(&ctl_cmd_watch_entry);
    /* agent.ind.event.org_libvirt.<event>.<severity>.virtbus.agent.<node> */
    node_key = strcmp(node, "*") == 0 ? qmf_xstrdup("*") : bus_key_escape(node);
    keys[0] = qmf_xasprintf("agent.ind.event.org_libvirt.%s.*.virtbus.agent.%s", event, node_key);
    if (data)
        keys[1] = qmf_xasprintf("agent.ind.data.org_libvirt.*.virtbus.agent.%s", node_key);
    free(node_key);
    rc = ctl_connect(ctx, (const char *const *)keys);
    free(keys[0]);
    free(keys[1]);
    if (rc != 0)
        return rc;
    sigint_ev = evsignal_new(ctx->base, SIGINT, on_signal, ctx);
    sigterm_ev = evsignal_new(ctx->base, SIGTERM, on_signal, ctx);
    event_add(sigint_ev, NULL);
    event_add(sigterm_ev, NULL);
    if (!ctx->quiet)
        fprintf(stderr, "virtbus: watching %s events on %s\n",
                strcmp(event, "*") ? event : "all", strcmp(node, "*") ? node : "all nodes");
    rc = virtbus_watch(ctx->console, on_message, &ws, &err);
    event_free(sigint_ev);
    event_free(sigterm_ev);
    if (rc != 0) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

const struct ctl_cmd_entry ctl_cmd_watch_entry = {
    .name = "watch",
    .usage = "[--event NAME] [--node NAME] [--data] [--count N]",
    .summary = "print live events (and object changes with --data)",
    .exec = cmd_watch_exec,
};
