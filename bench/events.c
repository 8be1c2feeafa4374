/*
 * bench/events: how long a libvirt event takes to reach a monitoring
 * consumer (issue 13 §6), at idle and under a load of fire-and-forget
 * commands to the same agent.  The agent is virtbus-fleetsim -n 1 on
 * tests/fixtures/fleet.xml, a child process (stopped by pid), so that the
 * consumer never shares its loop; the consumer is a console with a watch
 * queue bound to the domainLifecycle events, as a third party binds one.
 * Events are caused by Domain.suspend and Domain.resume on one domain, in
 * turn; the load is Domain.setAutostart on the other domains.  Two figures
 * per event:
 *   - from the agent's _timestamp (CLOCK_REALTIME when it built the event,
 *     as libvirt's callback ran) to its arrival here (the same clock);
 *   - from sending the method request to the event's arrival (monotonic,
 *     this process only: no clock shared with the agent).
 * Prints p50, p99 and max; asserts nothing.
 *
 *   bench_events [-n SAMPLES] [-l LOAD] [-s LOAD_SAMPLES] [-k STATE_BASE] [-e]
 *                BROKER_URL
 *
 * The consumer also reads the commands' commandResult events, to report
 * how many commands were done as the events came (that the load was in
 * flight); -e: the lifecycle events only, as a consumer of those alone
 * (the load's progress is not seen, and the phase ends with its events).
 *
 * The agent's journal is in a fresh directory under STATE_BASE (default
 * /var/tmp: a disk, as agents ship), removed at exit; requests are
 * unsigned (require_signatures = no).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench/measure.h"
#include "bench/request.h"
#include "controller/lib/virtbus_bus.h"

#define PREFIX_MAX 64
#define READY_WAIT_S 120
#define STOP_WAIT_S 30
#define EVENTS_WAIT_S 300
#define FLEET_DOMAINS 60
/* Domain 1 of fleet.xml runs: it is the one suspended and resumed. */
#define EVENT_DOMAIN_UUID "f0000000-0000-4000-8000-000000000001"
/* Between idle samples: the agent finishes its command (journal END,
 * outcome) before the next one, so that each event meets an idle agent. */
#define IDLE_GAP_MS 20
/* Load requests sent per turn of the loop, so that events arriving in the
 * meantime are read as they come. */
#define SEND_CHUNK 32
#define GOAL_P99_MS 5.0

struct run {
    struct virtbus_console *console;
    struct event_base *base;
    const char *agent;          /* virtbus:agent:<node> */
    char *address;
    size_t samples;             /* events to see */
    size_t triggered, seen;
    size_t load, load_sent;     /* commands of the load, and sent */
    size_t load_done, load_failed;  /* their commandResult events seen */
    size_t done_at_first, done_at_last; /* load_done as samples arrived */
    double last_event_ms;
    bool idle;
    bool events_only;           /* commandResult not bound: no load progress */
    bool expired;
    bool paused;                /* the event domain, once its last trigger ran */
    double *sent_ms;            /* per trigger, monotonic */
    double *agent_ms;           /* _timestamp to arrival */
    double *console_ms;         /* request sent to arrival */
    struct event *next_ev;      /* the next trigger (idle) or chunk (load) */
    unsigned long serial;
};

static void __attribute__((noreturn))
fail(const char *what, const qmf_error *err)
{
    fprintf(stderr, "bench_events: %s: %s\n", what, err ? err->text : strerror(errno));
    exit(1);
}

static void
send_request(struct run *r, const char *object_name, const char *method, qmf_value *args)
{
    qmf_error err;

    if (virtbus_send(r->console, r->address,
                     bench_method_request(r->agent, object_name, method, args,
                                          qmf_xasprintf("evb-%ld-%lu", (long)getpid(),
                                                        r->serial++),
                                          EVENTS_WAIT_S * 1000), &err) != 0)
        fail("send", &err);
}

/* Suspends the event domain, or resumes it, in turn. */
static void
trigger(struct run *r)
{
    r->sent_ms[r->triggered] = bench_now_ms();
    send_request(r, "domain:" EVENT_DOMAIN_UUID, r->paused ? "resume" : "suspend", NULL);
    r->paused = !r->paused;
    r->triggered++;
}

static void
set_autostart(struct run *r, size_t i)
{
    char *name = qmf_xasprintf("domain:f0000000-0000-4000-8000-%012zu",
                               2 + i % (FLEET_DOMAINS - 1));
    qmf_value *args = qmf_map();

    qmf_map_set(args, "autostart", qmf_bool(i % 2 == 0));
    send_request(r, name, "setAutostart", args);
    free(name);
}

/* Idle: one trigger.  Load: the next chunk of commands, with a trigger
 * wherever one falls among them, evenly spread over the load. */
static void
next_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    size_t k;

    (void)fd;
    (void)what;
    if (r->idle) {
        trigger(r);
        return;
    }
    for (k = 0; k < SEND_CHUNK && r->load_sent < r->load; k++, r->load_sent++) {
        if (r->triggered < r->samples &&
            r->load_sent >= (2 * r->triggered + 1) * r->load / (2 * r->samples))
            trigger(r);
        set_autostart(r, r->load_sent);
    }
    if (r->load_sent < r->load) {
        event_active(r->next_ev, EV_TIMEOUT, 0);
        return;
    }
    while (r->triggered < r->samples)
        trigger(r);
}

/* Whether this is the audit record of a load command; counts it. */
static bool
count_load(struct run *r, const qmf_value *values)
{
    const char *method = qmf_map_get_string(values, "methodName");
    int64_t code = 0;

    if (method == NULL)
        return false;
    if (strcmp(method, "setAutostart") == 0) {
        r->load_done++;
        if (qmf_get_int64(qmf_map_get(values, "errorCode"), &code) && code != 0)
            r->load_failed++;
    }
    return true;
}

static bool
finished(const struct run *r)
{
    return r->seen >= r->samples && (r->events_only || r->load_done >= r->load);
}

static void
on_event(const struct virtbus_message *watched, void *opaque)
{
    const struct bus_message *m = virtbus_message_bus(watched);
    struct run *r = opaque;
    double now_real = bench_realtime_ms(), now = bench_now_ms();
    bool sampled = false;
    size_t i;

    for (i = 0; m->body && i < qmf_list_len(m->body); i++) {
        const qmf_value *ev = qmf_list_at(m->body, i);
        const qmf_value *values = qmf_map_get(ev, "_values");
        const char *uuid = qmf_map_get_string(values, "uuid");
        const char *what = qmf_map_get_string(values, "event");
        int64_t stamp;

        if (count_load(r, values))
            continue;
        if (uuid == NULL || strcmp(uuid, EVENT_DOMAIN_UUID) != 0 || what == NULL ||
            (strcmp(what, "suspended") != 0 && strcmp(what, "resumed") != 0) ||
            !qmf_get_int64(qmf_map_get(ev, "_timestamp"), &stamp) ||
            r->seen >= r->triggered)
            continue;
        r->agent_ms[r->seen] = now_real - (double)stamp / 1e6;
        r->console_ms[r->seen] = now - r->sent_ms[r->seen];
        if (r->seen == 0)
            r->done_at_first = r->load_done;
        r->done_at_last = r->load_done;
        r->last_event_ms = now;
        r->seen++;
        sampled = true;
    }
    if (finished(r)) {
        virtbus_watch_stop(r->console);
    } else if (r->idle && sampled && r->seen == r->triggered) {
        struct timeval gap = { 0, IDLE_GAP_MS * 1000 };

        evtimer_add(r->next_ev, &gap);
    }
}

static void
expire_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;

    (void)fd;
    (void)what;
    r->expired = true;
    virtbus_watch_stop(r->console);
}

static void
print_figure(const char *label, double *ms, size_t n)
{
    printf("    %-34s p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms\n", label,
           bench_quantile(ms, n, 0.50), bench_quantile(ms, n, 0.99),
           bench_quantile(ms, n, 1.0));
}

static void
print_loadavg(const char *when)
{
    char line[128];

    bench_loadavg(line, sizeof(line));
    printf("  load average %s: %s\n", when, line);
}

/*
 * One phase: samples events, at idle (one at a time) or amid load
 * commands.  Returns the agent-stamped p99 in ms.
 */
static double
measure(struct run *r, size_t samples, size_t load)
{
    struct timeval limit = { EVENTS_WAIT_S, 0 };
    struct event *expire = evtimer_new(r->base, expire_cb, r);
    double t0 = bench_now_ms(), p99;
    qmf_error err;

    r->samples = samples;
    r->load = load;
    r->triggered = r->seen = r->load_sent = r->load_done = r->load_failed = 0;
    r->idle = load == 0;
    r->expired = false;
    r->sent_ms = qmf_xcalloc(samples, sizeof(double));
    r->agent_ms = qmf_xcalloc(samples, sizeof(double));
    r->console_ms = qmf_xcalloc(samples, sizeof(double));
    r->next_ev = evtimer_new(r->base, next_cb, r);
    evtimer_add(expire, &limit);
    event_active(r->next_ev, EV_TIMEOUT, 0);
    if (virtbus_watch(r->console, on_event, r, &err) != 0)
        fail("watch", &err);
    if (r->idle)
        printf("  at idle: %zu events, one at a time, %d ms apart\n", samples, IDLE_GAP_MS);
    else
        printf("  under load: %zu events amid %zu fire-and-forget commands "
               "(Domain.setAutostart), %zu sent; the last event came %.0f ms after the "
               "first send, the phase ended %.0f ms after it\n",
               samples, load, r->load_sent, r->last_event_ms - t0, bench_now_ms() - t0);
    if (!r->idle && !r->events_only)
        printf("    commands done (commandResult seen) as the first event arrived: %zu, "
               "as the last: %zu; in all %zu, %zu failed\n", r->done_at_first,
               r->done_at_last, r->load_done, r->load_failed);
    if (r->expired)
        printf("    not finished within %d s: %zu of %zu events, %zu of %zu commands\n",
               EVENTS_WAIT_S, r->seen, samples, r->load_done, load);
    print_figure("libvirt event (agent stamp) -> here", r->agent_ms, r->seen);
    p99 = bench_quantile(r->agent_ms, r->seen, 0.99);
    print_figure("request sent -> event here", r->console_ms, r->seen);
    event_free(expire);
    event_free(r->next_ev);
    free(r->sent_ms);
    free(r->agent_ms);
    free(r->console_ms);
    return r->expired ? -1 : p99;
}

/* The simulated agent -------------------------------------------------------- */

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0)
        fail(path, NULL);
}

/* Starts virtbus-fleetsim with one agent and waits, bounded, until it serves. */
static pid_t
agent_start(const char *url, const char *prefix, const char *dir)
{
    char *config = qmf_xasprintf("%s/agent.conf", dir);
    char *ready = qmf_xasprintf("%s/ready", dir);
    char *state = qmf_xasprintf("%s/state", dir);
    double deadline = bench_now_s() + READY_WAIT_S;
    int status;
    pid_t pid;

    /* Unsigned requests: what a signature costs is bench_signatures'. */
    write_file(config, "require_signatures = no\nkey = \"\"\ncredential = \"\"\n");
    if (mkdir(state, 0700) != 0)
        fail(state, NULL);
    fflush(stdout);
    if ((pid = fork()) < 0)
        fail("fork", NULL);
    if (pid == 0) {
        const char *argv[] = {
            VIRTBUS_FLEETSIM_PATH, "-n", "1", "-b", url, "--prefix", prefix,
            "--fixture", VIRTBUS_SOURCE_DIR "/tests/fixtures/fleet.xml",
            "--config", config, "--state-dir", state, "--ready-file", ready,
            "--quiet", NULL,
        };

        /* Never outlive the benchmark, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "bench_events: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    while (access(ready, R_OK) != 0) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "bench_events: virtbus-fleetsim exited (status %#x)\n", status);
            exit(1);
        }
        if (bench_now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fprintf(stderr, "bench_events: the agent did not serve within %d s\n",
                    READY_WAIT_S);
            exit(1);
        }
        usleep(20000);
    }
    free(config);
    free(ready);
    free(state);
    return pid;
}

static void
agent_stop(pid_t pid)
{
    double deadline = bench_now_s() + STOP_WAIT_S;
    int status = 0;

    kill(pid, SIGTERM);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (bench_now_s() > deadline) {
            fprintf(stderr, "bench_events: virtbus-fleetsim did not stop; killing it\n");
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        usleep(20000);
    }
}

int
main(int argc, char **argv)
{
    size_t samples = 200, load = 1000, load_samples = 50;
    const char *state_base = "/var/tmp";
    /* The audit records too, to know which commands of the load were done
     * when each event came. */
    const char *keys[] = { "agent.ind.event.org_libvirt.domainLifecycle.#",
                           "agent.ind.event.org_libvirt.commandResult.#", NULL };
    struct virtbus_console_options co = { 0 };
    struct run r = { 0 };
    char dir[4096], prefix[PREFIX_MAX], *node, *agent, *shown;
    double idle_p99;
    qmf_error err;
    pid_t pid;
    int ch;

    while ((ch = getopt(argc, argv, "n:l:s:k:e")) != -1) {
        switch (ch) {
        case 'n': samples = strtoul(optarg, NULL, 10); break;
        case 'l': load = strtoul(optarg, NULL, 10); break;
        case 's': load_samples = strtoul(optarg, NULL, 10); break;
        case 'k': state_base = optarg; break;
        case 'e': r.events_only = true; break;
        default:
            goto usage;
        }
    }
    if (optind + 1 != argc || samples == 0 || load == 0 || load_samples == 0 ||
        load_samples > load)
        goto usage;

    snprintf(dir, sizeof(dir), "%s/vbevents-bench-XXXXXX", state_base);
    if (mkdtemp(dir) == NULL)
        fail("mkdtemp", NULL);
    snprintf(prefix, sizeof(prefix), "evb%ld", (long)getpid());
    node = qmf_xasprintf("%s-0001", prefix);
    agent = virtbus_agent_name(node);
    shown = bus_url_redact(argv[optind]);
    printf("bench/events: domainLifecycle events (Domain.suspend/resume) from one agent "
           "(virtbus-fleetsim, a child process) to a watch queue here; broker %s; "
           "%ld CPUs\n", shown, sysconf(_SC_NPROCESSORS_ONLN));
    free(shown);
    print_loadavg("before");
    pid = agent_start(argv[optind], prefix, dir);

    r.base = event_base_new();
    co.url = argv[optind];
    if (r.events_only)
        keys[1] = NULL;
    co.watch_keys = keys;
    if ((r.console = virtbus_console_open(r.base, &co, &err)) == NULL) {
        agent_stop(pid);
        fail("console", &err);
    }
    r.agent = agent;
    r.address = virtbus_agent_address(agent);

    idle_p99 = measure(&r, samples, 0);
    measure(&r, load_samples, load);
    if (idle_p99 < 0)
        printf("  goal p99 <= %.0f ms at idle: not measured (events missing)\n", GOAL_P99_MS);
    else
        printf("  goal p99 <= %.0f ms at idle: %s (%.2f ms)\n", GOAL_P99_MS,
               idle_p99 <= GOAL_P99_MS ? "met" : "NOT met", idle_p99);
    print_loadavg("after");

    virtbus_console_close_wait(r.console, 2000);
    agent_stop(pid);
    event_base_free(r.base);
    free(r.address);
    free(agent);
    free(node);
    {
        char *cmd = qmf_xasprintf("rm -rf -- '%s'", dir);

        if (system(cmd) != 0)
            fprintf(stderr, "bench_events: could not remove %s\n", dir);
        free(cmd);
    }
    return 0;
usage:
    fprintf(stderr, "usage: bench_events [-n SAMPLES] [-l LOAD] [-s LOAD_SAMPLES] "
            "[-k STATE_BASE] [-e] BROKER_URL\n");
    return 2;
}
