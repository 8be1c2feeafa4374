/*
 * bench/transports: the same exchanges over AMQP 0-9-1 and AMQP 1.0 in one
 * run, against one broker (issue 12 §6), and beside the 1.0 figures a bare
 * proton client (bare10.h) doing the same exchange through the same broker:
 *   - a broadcast Node query to N simulated agents (virtbus-fleetsim, a
 *     child process on the transport measured), every answer in;
 *   - a method round trip to one agent (Domain.getXMLDesc);
 *   - event latency: Domain.suspend/resume requests to that agent, and a
 *     watcher bound to the lifecycle events' key, from the request to the
 *     event's arrival (and from the agent's _timestamp for virtbus).
 * virtbus and the bare client take turns, one exchange each, so that the
 * machine's drift falls on both alike; the bare watcher listens beside
 * the virtbus one to the same events.  Prints p50 and p99 and the ratios;
 * asserts nothing about time.  Agents take unsigned requests (what a
 * signature costs is bench_signatures'), since the bare client signs none.
 *
 *   bench_transports [-N 10,100,1000] [-k BROADCASTS] [-m CALLS] [-e EVENTS]
 *                    AMQP091_URL
 *
 * The 1.0 URL is the 0-9-1 one with the scheme amqp10 (RabbitMQ serves
 * both on one port).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "bench/bare10.h"
#include "bench/measure.h"
#include "bench/request.h"
#include "controller/lib/virtbus_bus.h"

#define MAX_SIZES 8
#define TIMEOUT_MS 30000
#define STOP_WAIT_S 60
#define CONNECT_WAIT_MS 30000
#define EVENT_WAIT_MS 30000
/* Between event samples: the agent is done with a command (journal,
 * outcome) before the next one comes. */
#define EVENT_GAP_MS 20
/* fleet.xml: domain 1 runs (suspended and resumed), domain 2 is read. */
#define EVENT_DOMAIN "domain:f0000000-0000-4000-8000-000000000001"
#define READ_DOMAIN "domain:f0000000-0000-4000-8000-000000000002"
#define LIFECYCLE_KEY "agent.ind.event.org_libvirt.domainLifecycle.#"
#define GOAL_RATIO 1.20
/* How long a fleet may take to serve: a 1000-agent start took 6 s on a
 * quiet host, over 160 s at a load average of 13, and more than 360 s
 * at 20 on this 2-CPU machine. */
#define READY_BASE_S 60.0
#define READY_PER_AGENT_S 0.6

enum transport { T091, T10, NTRANSPORTS };
static const char *const transport_names[NTRANSPORTS] = { "0-9-1", "1.0" };

struct options {
    size_t sizes[MAX_SIZES];
    size_t nsizes;
    size_t broadcasts, calls, events;
    const char *url[NTRANSPORTS];
    char *workdir;
    char *config;               /* the agents': unsigned requests */
    char reply_queue[64];       /* the bare client's */
};

/* p50 and p99 of one series, in ms; n 0 when not measured. */
struct figure {
    double p50, p99;
    size_t n, failed;
};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "bench_transports: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void
figure_of(struct figure *f, double *ms, size_t n, size_t failed)
{
    f->p50 = bench_quantile(ms, n, 0.50);
    f->p99 = bench_quantile(ms, n, 0.99);
    f->n = n;
    f->failed = failed;
}

static void
print_loadavg(const char *when)
{
    char line[128];

    bench_loadavg(line, sizeof(line));
    printf("load average %s: %s\n", when, line);
}

/* The fleet: virtbus-fleetsim as a child, stopped by pid ------------------- */

struct fleet {
    pid_t pid;
    double start_s;
    struct virtbus_agent_list agents;
};

/* Starts n agents over transport t; false (the child killed) when they
 * were not ready within READY_BASE_S + READY_PER_AGENT_S each. */
static bool
fleet_start(const struct options *o, enum transport t, size_t n, const char *fixture,
            const char *prefix, struct fleet *f)
{
    char *ready = qmf_xasprintf("%s/fleet.ready", o->workdir), count[32], line[256];
    double deadline = bench_now_s() + READY_BASE_S + READY_PER_AGENT_S * (double)n;
    int status;
    size_t i;
    FILE *rf;

    memset(f, 0, sizeof(*f));
    unlink(ready);
    snprintf(count, sizeof(count), "%zu", n);
    fflush(stdout);
    if ((f->pid = fork()) < 0)
        die("fork: %s", strerror(errno));
    if (f->pid == 0) {
        const char *argv[] = {
            VIRTBUS_FLEETSIM_PATH, "-n", count, "-b", o->url[t], "--prefix", prefix,
            "--config", o->config, "--ready-file", ready, "--quiet",
            fixture ? "--fixture" : NULL, fixture, NULL,
        };

        /* Never outlive the benchmark, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "bench_transports: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    while (access(ready, R_OK) != 0) {
        if (waitpid(f->pid, &status, WNOHANG) == f->pid)
            die("virtbus-fleetsim (%zu agents over %s) exited (status %#x) before it was "
                "ready", n, transport_names[t], status);
        if (bench_now_s() > deadline) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, NULL, 0);
            fprintf(stderr, "bench_transports: %zu agents over %s were not ready within "
                    "%.0f s\n", n, transport_names[t],
                    READY_BASE_S + READY_PER_AGENT_S * (double)n);
            free(ready);
            return false;
        }
        usleep(20000);
    }
    if ((rf = fopen(ready, "r")) != NULL) {
        while (fgets(line, sizeof(line), rf))
            sscanf(line, "seconds=%lf", &f->start_s);
        fclose(rf);
    }
    free(ready);
    f->agents.items = qmf_xcalloc(n, sizeof(*f->agents.items));
    f->agents.n = n;
    for (i = 0; i < n; i++) {
        f->agents.items[i].node = qmf_xasprintf("%s-%04zu", prefix, i + 1);
        f->agents.items[i].name = virtbus_agent_name(f->agents.items[i].node);
        f->agents.items[i].attrs = qmf_map();
    }
    return true;
}

static void
fleet_stop(struct fleet *f)
{
    double deadline = bench_now_s() + STOP_WAIT_S;
    int status = 0;

    kill(f->pid, SIGTERM);
    while (waitpid(f->pid, &status, WNOHANG) == 0) {
        if (bench_now_s() > deadline) {
            fprintf(stderr, "bench_transports: virtbus-fleetsim did not stop; killing it\n");
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &status, 0);
            break;
        }
        usleep(20000);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "bench_transports: virtbus-fleetsim ended with status %#x\n", status);
    virtbus_agent_list_free(&f->agents);
}

static struct virtbus_console *
console_open(const struct options *o, enum transport t, struct event_base *base,
             const char *const *watch_keys)
{
    struct virtbus_console_options co = { .url = o->url[t], .watch_keys = watch_keys };
    struct virtbus_console *c;
    qmf_error err;

    if ((c = virtbus_console_open(base, &co, &err)) == NULL)
        die("console over %s: %s", transport_names[t], err.text);
    return c;
}

static struct bench_bare *
bare_open(const struct options *o, const char *source)
{
    struct bench_bare *b;
    char err[256];

    if ((b = bench_bare_open(o->url[T10], source, CONNECT_WAIT_MS, err, sizeof(err))) == NULL)
        die("bare proton client: %s", err);
    return b;
}

/* Broadcasts ----------------------------------------------------------------- */

#define NODE_QUERY "{\"_what\":\"OBJECT\",\"_schema_id\":{\"_package_name\":\"org.libvirt\"," \
                   "\"_class_name\":\"Node\"}}"

/* K Node queries to every agent through the library, taking turns with
 * the bare client on 1.0. */
static bool
bench_broadcast(const struct options *o, enum transport t, size_t n, struct event_base *base,
                struct figure *lib, struct figure *bare, double *start_s)
{
    double *lib_ms = qmf_xcalloc(o->broadcasts, sizeof(double));
    double *bare_ms = qmf_xcalloc(o->broadcasts, sizeof(double));
    size_t i, j, lib_failed = 0, bare_failed = 0, exceptions;
    struct virtbus_console *c;
    struct bench_bare *b = NULL;
    struct virtbus_results res;
    struct fleet f;
    char *source, *address = virtbus_broadcast_address("query");
    qmf_error err;
    double t0;

    memset(lib, 0, sizeof(*lib));
    memset(bare, 0, sizeof(*bare));
    if (!fleet_start(o, t, n, NULL, t == T091 ? "tr091" : "tr10", &f)) {
        free(address);
        free(lib_ms);
        free(bare_ms);
        return false;
    }
    *start_s = f.start_s;
    c = console_open(o, t, base, NULL);
    if (t == T10) {
        source = qmf_xasprintf("/queue/%s", o->reply_queue);
        b = bare_open(o, source);
        free(source);
    }
    for (i = 0; i < o->broadcasts; i++) {
        t0 = bench_now_ms();
        if (virtbus_query(c, &f.agents, "OBJECT", "Node", NULL, TIMEOUT_MS, &res, &err) != 0)
            die("query over %s: %s", transport_names[t], err.text);
        lib_ms[i] = bench_now_ms() - t0;
        for (j = 0; j < res.n; j++)
            lib_failed += res.items[j].status != VIRTBUS_OK;
        virtbus_results_free(&res);
        if (b == NULL)
            continue;
        t0 = bench_now_ms();
        j = bench_bare_request(b, address, "_query_request", NODE_QUERY, false,
                               o->reply_queue, n, TIMEOUT_MS, &exceptions);
        bare_ms[i] = bench_now_ms() - t0;
        bare_failed += n - j + exceptions;
    }
    figure_of(lib, lib_ms, o->broadcasts, lib_failed);
    if (b != NULL)
        figure_of(bare, bare_ms, o->broadcasts, bare_failed);
    bench_bare_close(b);
    virtbus_console_close_wait(c, 2000);
    fleet_stop(&f);
    free(address);
    free(lib_ms);
    free(bare_ms);
    return true;
}

/* One agent: method round trips, then events --------------------------------- */

struct event_run {
    struct virtbus_console *console;
    struct bench_bare *bare;    /* the bare watcher, or NULL */
    char *agent, *address;
    size_t samples, triggered, seen;
    bool paused, expired, gap_under_way;
    unsigned long serial;
    double *sent_ms, *stamp_ms, *lib_ms;
    struct event *next_ev, *expire_ev;
};

static void
trigger(struct event_run *r)
{
    qmf_error err;

    r->sent_ms[r->triggered++] = bench_now_ms();
    if (virtbus_send(r->console, r->address,
                     bench_method_request(r->agent, EVENT_DOMAIN,
                                          r->paused ? "resume" : "suspend", NULL,
                                          qmf_xasprintf("trb-%ld-%lu", (long)getpid(),
                                                        r->serial++),
                                          TIMEOUT_MS), &err) != 0)
        die("send: %s", err.text);
    r->paused = !r->paused;
}

/* The next trigger once both watchers have the last event, after a gap;
 * the bare watcher's thread is looked at every millisecond meanwhile. */
static void
next_cb(evutil_socket_t fd, short what, void *arg)
{
    struct event_run *r = arg;
    struct timeval soon = { 0, 1000 }, gap = { 0, EVENT_GAP_MS * 1000 };

    (void)fd;
    (void)what;
    if (r->gap_under_way || r->triggered == 0) {
        r->gap_under_way = false;
        trigger(r);
        return;
    }
    if (r->seen < r->triggered)
        return;                 /* on_event comes back here */
    if (r->bare != NULL && bench_bare_watch_count(r->bare) < r->triggered) {
        evtimer_add(r->next_ev, &soon);
        return;
    }
    if (r->triggered == r->samples) {
        virtbus_watch_stop(r->console);
        return;
    }
    r->gap_under_way = true;
    evtimer_add(r->next_ev, &gap);
}

static void
on_event(const struct virtbus_message *watched, void *opaque)
{
    const struct bus_message *m = virtbus_message_bus(watched);
    struct event_run *r = opaque;
    double now = bench_now_ms(), now_real = bench_realtime_ms();
    size_t i;

    for (i = 0; m->body && i < qmf_list_len(m->body); i++) {
        const qmf_value *ev = qmf_list_at(m->body, i);
        int64_t stamp = 0;

        if (r->seen >= r->triggered || r->gap_under_way)
            break;
        qmf_get_int64(qmf_map_get(ev, "_timestamp"), &stamp);
        r->stamp_ms[r->seen] = now_real - (double)stamp / 1e6;
        r->lib_ms[r->seen] = now - r->sent_ms[r->seen];
        r->seen++;
    }
    event_active(r->next_ev, EV_TIMEOUT, 0);
}

static void
expire_cb(evutil_socket_t fd, short what, void *arg)
{
    struct event_run *r = arg;

    (void)fd;
    (void)what;
    r->expired = true;
    virtbus_watch_stop(r->console);
}

struct one_agent {
    struct figure call_lib, call_bare;
    struct figure event_lib, event_stamp, event_bare;
};

static void
bench_calls(const struct options *o, struct virtbus_console *c, struct bench_bare *b,
            const char *agent, struct one_agent *out)
{
    double *lib_ms = qmf_xcalloc(o->calls, sizeof(double));
    double *bare_ms = qmf_xcalloc(o->calls, sizeof(double));
    char *address = virtbus_agent_address(agent);
    char *body = qmf_xasprintf("{\"_object_id\":{\"_agent_name\":\"%s\",\"_object_name\":\""
                               READ_DOMAIN "\"},\"_method_name\":\"getXMLDesc\","
                               "\"_arguments\":{}}", agent);
    qmf_value *oid = qmf_map();
    size_t i, lib_failed = 0, bare_failed = 0, exceptions;
    struct virtbus_result res;
    qmf_error err;
    double t0;

    qmf_map_set(oid, "_agent_name", qmf_string(agent));
    qmf_map_set(oid, "_object_name", qmf_string(READ_DOMAIN));
    for (i = 0; i < o->calls; i++) {
        t0 = bench_now_ms();
        if (virtbus_call(c, agent, oid, "getXMLDesc", NULL, TIMEOUT_MS, &res, &err) != 0)
            die("call: %s", err.text);
        lib_ms[i] = bench_now_ms() - t0;
        lib_failed += res.status != VIRTBUS_OK;
        virtbus_result_clear(&res);
        if (b == NULL)
            continue;
        t0 = bench_now_ms();
        /* getXMLDesc changes nothing: it travels as a query does
         * (PROTOCOL.md §7.8), from virtbus and from the bare client. */
        bare_failed += bench_bare_request(b, address, "_method_request", body, false,
                                          o->reply_queue, 1, TIMEOUT_MS, &exceptions) != 1;
        bare_ms[i] = bench_now_ms() - t0;
        bare_failed += exceptions;
    }
    figure_of(&out->call_lib, lib_ms, o->calls, lib_failed);
    if (b != NULL)
        figure_of(&out->call_bare, bare_ms, o->calls, bare_failed);
    qmf_free(oid);
    free(body);
    free(address);
    free(lib_ms);
    free(bare_ms);
}

static void
bench_events(const struct options *o, struct event_base *base, struct virtbus_console *c,
             struct bench_bare *watcher, const char *agent, struct one_agent *out)
{
    struct event_run r = { 0 };
    struct timeval limit = { (time_t)(o->events * EVENT_WAIT_MS / 1000 / 10 + 60), 0 };
    double *bare_ms = NULL;
    const double *stamps;
    size_t i, nbare = 0;
    qmf_error err;

    r.console = c;
    r.bare = watcher;
    r.agent = qmf_xstrdup(agent);
    r.address = virtbus_agent_address(agent);
    r.samples = o->events;
    r.sent_ms = qmf_xcalloc(o->events + 1, sizeof(double));
    r.stamp_ms = qmf_xcalloc(o->events, sizeof(double));
    r.lib_ms = qmf_xcalloc(o->events, sizeof(double));
    r.next_ev = evtimer_new(base, next_cb, &r);
    r.expire_ev = evtimer_new(base, expire_cb, &r);
    if (watcher != NULL && bench_bare_watch_start(watcher, o->events) != 0)
        die("the bare watcher's thread: %s", strerror(errno));
    evtimer_add(r.expire_ev, &limit);
    event_active(r.next_ev, EV_TIMEOUT, 0);
    if (virtbus_watch(c, on_event, &r, &err) != 0)
        die("watch: %s", err.text);
    if (watcher != NULL) {
        stamps = bench_bare_watch_stop(watcher, &nbare);
        nbare = nbare < r.triggered ? nbare : r.triggered;
        bare_ms = qmf_xcalloc(nbare + 1, sizeof(double));
        for (i = 0; i < nbare; i++)
            bare_ms[i] = stamps[i] - r.sent_ms[i];
        figure_of(&out->event_bare, bare_ms, nbare, r.triggered - nbare);
    }
    if (r.expired)
        fprintf(stderr, "bench_transports: events: %zu of %zu seen in time\n", r.seen,
                r.samples);
    figure_of(&out->event_lib, r.lib_ms, r.seen, r.triggered - r.seen);
    figure_of(&out->event_stamp, r.stamp_ms, r.seen, r.triggered - r.seen);
    /* The domain runs again for the next transport's turn. */
    if (r.paused)
        trigger(&r);
    event_free(r.next_ev);
    event_free(r.expire_ev);
    free(bare_ms);
    free(r.sent_ms);
    free(r.stamp_ms);
    free(r.lib_ms);
    free(r.address);
    free(r.agent);
}

static void
bench_one_agent(const struct options *o, enum transport t, struct event_base *base,
                struct one_agent *out)
{
    const char *const keys[] = { LIFECYCLE_KEY, NULL };
    const char *prefix = t == T091 ? "tr1091" : "tr110";
    struct bench_bare *caller = NULL, *watcher = NULL;
    struct virtbus_console *c;
    struct fleet f;
    char *source;

    memset(out, 0, sizeof(*out));
    if (!fleet_start(o, t, 1, VIRTBUS_SOURCE_DIR "/tests/fixtures/fleet.xml", prefix, &f))
        die("one agent over %s did not serve", transport_names[t]);
    c = console_open(o, t, base, keys);
    if (t == T10) {
        source = qmf_xasprintf("/queue/%s", o->reply_queue);
        caller = bare_open(o, source);
        free(source);
        watcher = bare_open(o, "/exchange/qmf.default.topic/" LIFECYCLE_KEY);
    }
    bench_calls(o, c, caller, f.agents.items[0].name, out);
    bench_events(o, base, c, watcher, f.agents.items[0].name, out);
    bench_bare_close(caller);
    bench_bare_close(watcher);
    virtbus_console_close_wait(c, 2000);
    fleet_stop(&f);
}

/* Output --------------------------------------------------------------------- */

static void
print_cell(const struct figure *f)
{
    if (f->n == 0)
        printf(" %8s %8s |", "-", "-");
    else
        printf(" %8.2f %8.2f |", f->p50, f->p99);
}

static void
print_ratio(const struct figure *a, const struct figure *b)
{
    if (a->n == 0 || b->n == 0 || b->p50 <= 0)
        printf(" %9s", "-");
    else
        printf(" %9.2f", a->p50 / b->p50);
}

static void
print_header(void)
{
    printf("%-22s | %-17s | %-17s | %-17s | %9s %9s | failed\n", "", "0-9-1 virtbus",
           "1.0 virtbus", "1.0 bare proton", "1.0/bare", "1.0/0-9-1");
    printf("%-22s | %8s %8s | %8s %8s | %8s %8s | %9s %9s |\n", "", "p50", "p99", "p50", "p99",
           "p50", "p99", "p50", "p50");
}

static void
print_row(const char *label, const struct figure *f091, const struct figure *f10,
          const struct figure *bare)
{
    printf("%-22s |", label);
    print_cell(f091);
    print_cell(f10);
    print_cell(bare);
    print_ratio(f10, bare);
    print_ratio(f10, f091);
    printf(" | %zu %zu %zu\n", f091->failed, f10->failed, bare->failed);
}

static int
parse_sizes(const char *s, struct options *o)
{
    char *copy = qmf_xstrdup(s), *tok, *save = NULL;

    o->nsizes = 0;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->nsizes == MAX_SIZES || (o->sizes[o->nsizes++] = strtoul(tok, NULL, 10)) == 0) {
            free(copy);
            return -1;
        }
    }
    free(copy);
    return o->nsizes ? 0 : -1;
}

int
main(int argc, char **argv)
{
    struct options o = { .broadcasts = 30, .calls = 100, .events = 100 };
    struct figure none = { 0 };
    struct one_agent one[NTRANSPORTS];
    struct event_base *base;
    char tmpl[] = "/tmp/vbtransports-XXXXXX", *url10, *shown, label[64];
    const char *scheme;
    size_t i;
    int ch, t;
    FILE *f;

    parse_sizes("10,100,1000", &o);
    while ((ch = getopt(argc, argv, "N:k:m:e:")) != -1) {
        switch (ch) {
        case 'N':
            if (parse_sizes(optarg, &o) != 0)
                goto usage;
            break;
        case 'k': o.broadcasts = strtoul(optarg, NULL, 10); break;
        case 'm': o.calls = strtoul(optarg, NULL, 10); break;
        case 'e': o.events = strtoul(optarg, NULL, 10); break;
        default: goto usage;
        }
    }
    if (optind + 1 != argc || o.broadcasts == 0 || o.calls == 0 || o.events == 0 ||
        strncmp(argv[optind], "amqp://", 7) != 0)
        goto usage;
    scheme = argv[optind] + strlen("amqp");
    url10 = qmf_xasprintf("amqp10%s", scheme);
    o.url[T091] = argv[optind];
    o.url[T10] = url10;
    snprintf(o.reply_queue, sizeof(o.reply_queue), "bench.bare.%ld", (long)getpid());
    if ((o.workdir = mkdtemp(tmpl)) == NULL)
        die("mkdtemp: %s", strerror(errno));
    o.config = qmf_xasprintf("%s/agents.conf", o.workdir);
    if ((f = fopen(o.config, "w")) == NULL ||
        fputs("require_signatures = no\nkey = \"\"\ncredential = \"\"\n", f) == EOF ||
        fclose(f) != 0)
        die("%s: %s", o.config, strerror(errno));

    evthread_use_pthreads();
    base = event_base_new();
    shown = bus_url_redact(o.url[T091]);
    printf("bench/transports: the same exchanges over AMQP 0-9-1 and 1.0 (%s, scheme "
           "amqp10), virtbus and a bare proton client taking turns; %ld CPUs\n", shown,
           sysconf(_SC_NPROCESSORS_ONLN));
    free(shown);
    print_loadavg("at start");

    /* The one-agent rows first: they take a minute, the fleets of 1000
     * may not fit in the time a loaded machine gives them. */
    for (t = 0; t < NTRANSPORTS; t++) {
        bench_one_agent(&o, (enum transport)t, base, &one[t]);
        printf("  one agent over %s done; ", transport_names[t]);
        print_loadavg("after");
    }
    printf("\nround trips, ms (virtbus and the bare client in turns: %zu broadcasts, "
           "%zu calls, %zu events each)\n", o.broadcasts, o.calls, o.events);
    print_header();
    print_row("getXMLDesc, 1 agent", &one[T091].call_lib, &one[T10].call_lib,
              &one[T10].call_bare);
    print_row("event: request->w.", &one[T091].event_lib, &one[T10].event_lib,
              &one[T10].event_bare);
    print_row("event: stamp->w.", &one[T091].event_stamp, &one[T10].event_stamp, &none);
    fflush(stdout);
    for (i = 0; i < o.nsizes; i++) {
        struct figure bc[NTRANSPORTS], bare;
        double start_s[NTRANSPORTS] = { 0 };
        bool ok[NTRANSPORTS];

        for (t = 0; t < NTRANSPORTS; t++)
            ok[t] = bench_broadcast(&o, (enum transport)t, o.sizes[i], base, &bc[t],
                                    t == T10 ? &bare : &none, &start_s[t]);
        snprintf(label, sizeof(label), "Node query, N = %zu", o.sizes[i]);
        print_row(label, &bc[T091], &bc[T10], &bare);
        printf("%-19s (agents ready in %.1f s over 0-9-1, %.1f s over 1.0%s) ", "",
               start_s[T091], start_s[T10], ok[T091] && ok[T10] ? "" : "; not all served");
        print_loadavg("after");
        fflush(stdout);
    }
    printf("goal: 1.0/bare < %.2f at p50 (the bare client parses each answer's JSON with "
           "json-c, as a client that uses answers must)\n", GOAL_RATIO);
    print_loadavg("at end");

    event_base_free(base);
    {
        char *cmd = qmf_xasprintf("rm -rf -- '%s'", o.workdir);

        if (system(cmd) != 0)
            fprintf(stderr, "bench_transports: could not remove %s\n", o.workdir);
        free(cmd);
    }
    free(o.config);
    free(url10);
    return 0;
usage:
    fprintf(stderr, "usage: bench_transports [-N 10,100,1000] [-k BROADCASTS] [-m CALLS] "
            "[-e EVENTS] amqp://USER:PASSWORD@HOST:PORT/\n");
    return 2;
}
