/*
 * virtbus keeper: keeps presence for the fleet's other consoles until
 * interrupted (docs/PROTOCOL.md §7.3.1).  It reads every heartbeat, as
 * one console, and writes a summary every second, so that the others
 * read one summary instead of the heartbeats: for fleets of thousands of
 * nodes, where the heartbeats would cost each command seconds.
 */
#include "controller/ctl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct ctl_ctx *ctx = arg;

    event_base_loopbreak(ctx->base);
}

/* A number option in [min, max], or 0 if absent; -1 (said) if bad. */
static long
number_option(const struct ctl_cmd_entry *e, const struct ctl_args *a, const char *name,
              unsigned long min, unsigned long max)
{
    const char *text = ctl_args_get(a, e, name);
    unsigned long n;
    char *end;

    if (text == NULL)
        return 0;
    n = strtoul(text, &end, 10);
    if (end == text || *end || text[0] == '-' || n < min || n > max) {
        ctl_usage(e, "--%s: expected a number from %lu to %lu, got '%s'", name, min, max,
                  text);
        return -1;
    }
    return (long)n;
}

static int
keeper_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    long interval = number_option(e, a, "interval", 100, 1000);
    long full_every = number_option(e, a, "full-every", 5, 3600);
    struct virtbus_keeper_options ko;
    struct virtbus_keeper_stats st;
    struct event *sigint_ev, *sigterm_ev;
    qmf_error err;
    int rc;

    if (interval < 0 || full_every < 0)
        return CTL_EXIT_USAGE;
    ko = (struct virtbus_keeper_options){
        .interval_ms = (unsigned)interval, .full_every_s = (unsigned)full_every,
    };
    /* Every heartbeat, from the whole window: no summary (its own), no
     * cache, and none of the fleet's memory (which a summary leaves out). */
    ctx->presence_no_summaries = true;
    ctx->no_fleet_memory = true;
    ctx->presence_reuse_ms = 0;
    ctx->fleet_reuse_ms = 0;
    if ((rc = ctl_connect(ctx, true, NULL, NULL)) != 0)
        return rc;
    if (virtbus_presence_keep(ctx->console, &ko, &err) != 0) {
        ctl_warnx("%s", err.text);
        return ctl_exit_of(&err);
    }
    virtbus_keeper_stats(ctx->console, &st);
    if (!ctx->quiet)
        fprintf(stderr, "virtbus: keeping presence of %zu nodes, a summary every %ld ms\n",
                st.agents, interval ? interval : 1000);
    sigint_ev = evsignal_new(ctx->base, SIGINT, on_signal, ctx);
    sigterm_ev = evsignal_new(ctx->base, SIGTERM, on_signal, ctx);
    event_add(sigint_ev, NULL);
    event_add(sigterm_ev, NULL);
    event_base_dispatch(ctx->base);
    event_free(sigint_ev);
    event_free(sigterm_ev);
    /* Readers go back to the heartbeats now, not when this one is stale. */
    if (virtbus_presence_keep_stop(ctx->console, &err) != 0) {
        ctl_warnx("%s", err.text);
        return ctl_exit_of(&err);
    }
    return CTL_EXIT_OK;
}

static const struct ctl_option keeper_options[] = {
    { "interval", 0, "MS", "a summary every MS ms (100..1000, default 1000)", NULL },
    { "full-every", 0, "S", "a full summary every S seconds, deltas between (default 60)",
      NULL },
    { 0 },
};

const struct ctl_cmd_entry ctl_cmds_keeper[] = {
    { .name = "keeper", .usage = "[--interval MS] [--full-every S]",
      .summary = "keep presence summaries for the other consoles (large fleets)",
      .options = keeper_options, .exec = keeper_exec },
    { 0 },
};
