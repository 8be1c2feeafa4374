/*
 * bench/commands: how many fire-and-forget commands per second one agent
 * executes through the whole path: console -> broker (the agent's durable
 * command queue) -> agent -> journal (BEGIN and END on disk) -> libvirt
 * test driver -> its outcome published with confirms.  The agent runs in
 * this process on tests/fixtures/fleet.xml (60 domains), its journal in a
 * fresh directory under STATE_BASE (default /var/tmp: a disk, as agents
 * ship).  Each command is Domain.setAutostart on one of OBJECTS domains
 * in turn, with its own message-id and no reply-to; a command counts once
 * its outcome is on disk and the broker confirmed its record.  Prints
 * figures, asserts nothing.
 *
 *   bench_commands [-n COMMANDS] [-o OBJECTS] [-w WORKERS] [-p PREFETCH]
 *                  [-q classic|quorum] [-s STATE_BASE] BROKER_URL
 *
 * WORKERS and PREFETCH default to the agent's (workers, prefetch).
 * Requests are unsigned (require_signatures = no): a signature's check
 * costs the agent about 70 us more per command (docs/SECURITY.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "agent/agent_impl.h"
#include "agent/journal.h"
#include "bench/measure.h"
#include "bench/request.h"
#include "controller/lib/virtbus_bus.h"
#include "drivers/driver.h"

#define FLEET_DOMAINS 60
#define READY_WAIT_S 60
#define DONE_WAIT_S 600

struct wait_state {
    struct agent *a;
    uint64_t finished_before;
    size_t commands;
    bool expired;
};

static void __attribute__((noreturn))
fail(const char *what, const qmf_error *err)
{
    fprintf(stderr, "bench_commands: %s: %s\n", what, err ? err->text : "failed");
    exit(1);
}

static void
flag_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

/* Commands with an outcome, of any kind: each is counted once its outcome
 * is on disk (command_finish).  Not the journal's entries, which fall
 * when the journal compacts. */
static uint64_t
finished(const struct agent *a)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < sizeof(a->commands) / sizeof(a->commands[0]); i++)
        n += a->commands[i];
    return n;
}

/* Every command's outcome on disk, and every record confirmed. */
static bool
all_done(const struct wait_state *w)
{
    struct journal_stats st;

    if (w->a->journal == NULL)
        return false;
    journal_get_stats(w->a->journal, &st);
    return finished(w->a) >= w->finished_before + w->commands && st.undelivered == 0;
}

static void
run_until(struct event_base *base, bool (*cond)(const struct wait_state *),
          struct wait_state *w, unsigned seconds)
{
    struct timeval limit = { seconds, 0 };
    struct event *timer = evtimer_new(base, flag_cb, &w->expired);

    w->expired = false;
    evtimer_add(timer, &limit);
    while (!cond(w) && !w->expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(timer);
}

static bool
agent_ready(const struct wait_state *w)
{
    return agent_is_ready(w->a) && w->a->journal != NULL;
}

static struct bus_message *
set_autostart(const char *agent, size_t object, size_t i, const char *run)
{
    char *name = qmf_xasprintf("domain:f0000000-0000-4000-8000-%012zu", object + 1);
    qmf_value *args = qmf_map();
    struct bus_message *m;

    qmf_map_set(args, "autostart", qmf_bool(i % 2 == 0));
    m = bench_method_request(agent, name, "setAutostart", args,
                             qmf_xasprintf("%s-%zu", run, i), DONE_WAIT_S * 1000);
    free(name);
    return m;
}

/*
 * Whether every domain's autostart is what the last command sent to it
 * set: the commands ran, succeeded, and in order on each object.  Returns
 * how many domains are wrong.
 */
static size_t
check_effects(struct virtbus_console *c, struct agent *a, size_t commands, size_t objects)
{
    struct virtbus_agent one = { .name = (char *)agent_name(a) };
    struct virtbus_agent_list list = { .items = &one, .n = 1 };
    struct virtbus_results res;
    size_t k, wrong = 0;
    qmf_error err;

    if (virtbus_query(c, &list, "OBJECT", "Domain", NULL, 30000, &res, &err) != 0 ||
        res.n != 1 || res.items[0].status != VIRTBUS_OK)
        fail("the final query", res.n == 1 ? &res.items[0].error : &err);
    for (k = 0; k < objects && k < commands; k++) {
        size_t last = k + objects * ((commands - 1 - k) / objects), j;
        char uuid[64];
        bool found = false;

        snprintf(uuid, sizeof(uuid), "f0000000-0000-4000-8000-%012zu", k + 1);
        for (j = 0; j < qmf_list_len(res.items[0].value); j++) {
            const qmf_value *values = qmf_map_get(qmf_list_at(res.items[0].value, j),
                                                  "_values");
            const qmf_value *autostart = qmf_map_get(values, "autostart");
            const char *u = qmf_map_get_string(values, "uuid");

            if (u == NULL || strcmp(u, uuid) != 0)
                continue;
            found = autostart != NULL && autostart->kind == QMF_BOOL &&
                    qmf_as_bool(autostart) == (last % 2 == 0);
        }
        wrong += !found;
    }
    virtbus_results_free(&res);
    return wrong;
}

int
main(int argc, char **argv)
{
    size_t commands = 20000, objects = FLEET_DOMAINS, i;
    unsigned workers = 0, prefetch = 0;
    const char *queue_type = "quorum", *state_base = "/var/tmp";
    const char *fixture = VIRTBUS_SOURCE_DIR "/tests/fixtures/fleet.xml";
    struct virtbus_console_options co = { 0 };
    struct virtbus_console *console;
    struct agent_env env = { 0 };
    struct agent_config cfg;
    struct journal_stats st0, st1;
    struct wait_state w = { 0 };
    struct event_base *base;
    char state_dir[4096], run[64], *address, *shown;
    double t0, elapsed;
    uint64_t done;
    qmf_error err;
    int ch;

    while ((ch = getopt(argc, argv, "n:o:w:p:q:s:")) != -1) {
        switch (ch) {
        case 'n': commands = strtoul(optarg, NULL, 10); break;
        case 'o': objects = strtoul(optarg, NULL, 10); break;
        case 'w': workers = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'p': prefetch = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'q': queue_type = optarg; break;
        case 's': state_base = optarg; break;
        default:
            goto usage;
        }
    }
    if (optind + 1 != argc || commands == 0 || objects == 0 || objects > FLEET_DOMAINS)
        goto usage;

    snprintf(state_dir, sizeof(state_dir), "%s/vbcommands-bench-XXXXXX", state_base);
    if (mkdtemp(state_dir) == NULL)
        fail("mkdtemp", NULL);
    evthread_use_pthreads();
    base = event_base_new();
    if (drv_event_loop_install(base, &err) != 0)
        fail("libvirt event loop", &err);
    env.base = base;
    env.use_syslog = false;
    env.bus_threads = bus_threads_new();
    if ((env.schema = schema_load_builtin(&err)) == NULL)
        fail("schema", &err);
    agent_config_defaults(&cfg);
    if (workers == 0)
        workers = cfg.workers;       /* the agent's default */
    if ((env.wq = workq_new(base, workers, &err)) == NULL)
        fail("workers", &err);

    free(cfg.node);
    cfg.node = qmf_xasprintf("benchcmd-%d", (int)getpid());
    free(cfg.broker);
    cfg.broker = qmf_xstrdup(argv[optind]);
    free(cfg.uri);
    cfg.uri = qmf_xasprintf("test://%s", fixture);
    free(cfg.queue_type);
    cfg.queue_type = qmf_xstrdup(queue_type);
    free(cfg.state_dir);
    cfg.state_dir = qmf_xstrdup(state_dir);
    cfg.require_signatures = false;
    cfg.workers = workers;
    if (prefetch > 0)
        cfg.prefetch = prefetch;
    cfg.log_level = LOG_LEVEL_WARN;
    if ((w.a = agent_new(&env, &cfg, &err)) == NULL)
        fail("agent", &err);
    agent_start(w.a);
    run_until(base, agent_ready, &w, READY_WAIT_S);
    if (w.expired)
        fail("the agent did not start", NULL);

    co.url = argv[optind];
    if ((console = virtbus_console_open(base, &co, &err)) == NULL)
        fail("console", &err);
    shown = bus_url_redact(argv[optind]);
    printf("bench/commands: %zu commands (Domain.setAutostart) over %zu domains, one agent, "
           "%u workers, prefetch %u, %s queue, journal in %s, broker %s\n", commands, objects,
           workers, cfg.prefetch, queue_type, state_base, shown);
    free(shown);

    snprintf(run, sizeof(run), "cmd-%d", (int)getpid());
    address = virtbus_agent_address(agent_name(w.a));
    journal_get_stats(w.a->journal, &st0);
    w.finished_before = finished(w.a);
    w.commands = commands;
    t0 = bench_now_ms();
    for (i = 0; i < commands; i++) {
        if (virtbus_send(console, address, set_autostart(agent_name(w.a), i % objects, i, run),
                         &err) != 0)
            fail("send", &err);
        /* Let the loop carry what is queued. */
        if (i % 256 == 255)
            event_base_loop(base, EVLOOP_NONBLOCK);
    }
    run_until(base, all_done, &w, DONE_WAIT_S);
    elapsed = (bench_now_ms() - t0) / 1000.0;
    journal_get_stats(w.a->journal, &st1);
    done = finished(w.a) - w.finished_before;
    if (w.expired)
        printf("  not all done after %d s: %llu of %zu\n", DONE_WAIT_S,
               (unsigned long long)done, commands);
    printf("  %8.0f commands/s  (%llu in %.2f s)  %lu fsyncs  %.2f commands/fsync\n",
           (double)done / elapsed, (unsigned long long)done, elapsed, st1.fsyncs - st0.fsyncs,
           st1.fsyncs > st0.fsyncs ? (double)done / (double)(st1.fsyncs - st0.fsyncs) : 0.0);
    printf("  domains whose autostart is not what their last command set: %zu\n",
           check_effects(console, w.a, commands, objects));
    free(address);
    virtbus_console_close(console);
    agent_stop(w.a, NULL, NULL);
    workq_drain(env.wq, 10000);
    {
        bool expired = false;
        struct timeval limit = { 2, 0 };
        struct event *timer = evtimer_new(base, flag_cb, &expired);

        evtimer_add(timer, &limit);
        while (!expired)
            event_base_loop(base, EVLOOP_ONCE);
        event_free(timer);
    }
    workq_free(env.wq);
    agent_free(w.a);
    agent_config_free(&cfg);
    bus_threads_free(env.bus_threads, 3000);
    schema_free((struct schema *)env.schema);
    event_base_free(base);
    {
        char *cmd = qmf_xasprintf("rm -rf -- '%s'", state_dir);

        if (system(cmd) != 0)
            fprintf(stderr, "bench_commands: could not remove %s\n", state_dir);
        free(cmd);
    }
    return 0;
usage:
    fprintf(stderr, "usage: bench_commands [-n COMMANDS] [-o OBJECTS] [-w WORKERS] "
            "[-p PREFETCH] [-q classic|quorum] [-s STATE_BASE] BROKER_URL\n");
    return 2;
}
