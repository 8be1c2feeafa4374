/*
 * bench/roundtrip: request/reply round trips through a real broker to
 * agents hosted in this process on libvirt test drivers.  Prints p50 and
 * p99 of a targeted query, a broadcast query to every agent and a method
 * call (destroy and create of one domain, alternately).
 *
 *   bench_roundtrip [-n AGENTS] [-i ITERATIONS] [-f FIXTURE.xml] BROKER_URL
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "agent/agent.h"
#include "bench/measure.h"
#include "controller/lib/virtbus_bus.h"
#include "drivers/driver.h"

#define WEB1 "domain:10000000-0000-4000-8000-000000000001"

static void
report(const char *what, double *samples, size_t n)
{
    bench_sort(samples, n);
    printf("%-34s p50 %7.2f ms   p99 %7.2f ms   (%zu samples)\n", what,
           samples[n / 2], samples[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], n);
}

static void
flag_cb(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

static void
fail(const char *what, const qmf_error *err)
{
    fprintf(stderr, "bench_roundtrip: %s: %s\n", what, err ? err->text : "failed");
    exit(1);
}

int
main(int argc, char **argv)
{
    size_t nagents = 10, iters = 200, i, ready;
    const char *fixture = VIRTBUS_SOURCE_DIR "/tests/fixtures/node1.xml";
    struct virtbus_console_options co = { 0 };
    struct virtbus_agent_list all, one;
    struct virtbus_console *console;
    struct agent_env env = { 0 };
    struct agent **agents;
    struct event_base *base;
    struct event *timer;
    struct timeval limit = { 30, 0 };
    bool expired = false;
    double *samples;
    qmf_value *oid;
    qmf_error err;
    char *shown;
    int ch;

    while ((ch = getopt(argc, argv, "n:i:f:")) != -1) {
        switch (ch) {
        case 'n': nagents = strtoul(optarg, NULL, 10); break;
        case 'i': iters = strtoul(optarg, NULL, 10); break;
        case 'f': fixture = optarg; break;
        default:
            fprintf(stderr, "usage: bench_roundtrip [-n AGENTS] [-i ITERATIONS] "
                    "[-f FIXTURE.xml] BROKER_URL\n");
            return 2;
        }
    }
    if (optind + 1 != argc || nagents == 0 || iters == 0) {
        fprintf(stderr, "usage: bench_roundtrip [-n AGENTS] [-i ITERATIONS] "
                "[-f FIXTURE.xml] BROKER_URL\n");
        return 2;
    }
    evthread_use_pthreads();
    base = event_base_new();
    if (drv_event_loop_install(base, &err) != 0)
        fail("libvirt event loop", &err);
    env.base = base;
    env.use_syslog = false;
    env.bus_threads = bus_threads_new();
    if ((env.schema = schema_load_builtin(&err)) == NULL)
        fail("schema", &err);
    if ((env.wq = workq_new(base, 4, &err)) == NULL)
        fail("workers", &err);

    agents = calloc(nagents, sizeof(*agents));
    all.items = calloc(nagents, sizeof(*all.items));
    all.n = nagents;
    for (i = 0; i < nagents; i++) {
        struct agent_config cfg;

        agent_config_defaults(&cfg);
        free(cfg.node);
        /* Fixed names: reruns reuse the same durable queues. */
        cfg.node = qmf_xasprintf("bench-%zu", i);
        free(cfg.broker);
        cfg.broker = qmf_xstrdup(argv[optind]);
        free(cfg.uri);
        cfg.uri = qmf_xasprintf("test://%s", fixture);
        free(cfg.queue_type);
        cfg.queue_type = qmf_xstrdup("classic");
        cfg.log_level = LOG_LEVEL_WARN;
        if ((agents[i] = agent_new(&env, &cfg, &err)) == NULL)
            fail("agent", &err);
        all.items[i].name = qmf_xstrdup(agent_name(agents[i]));
        all.items[i].node = qmf_xstrdup(cfg.node);
        all.items[i].attrs = qmf_map();
        agent_config_free(&cfg);
        agent_start(agents[i]);
    }
    timer = evtimer_new(base, flag_cb, &expired);
    evtimer_add(timer, &limit);
    do {
        event_base_loop(base, EVLOOP_ONCE);
        for (ready = 0, i = 0; i < nagents; i++)
            ready += agent_is_ready(agents[i]);
    } while (ready < nagents && !expired);
    event_free(timer);
    if (ready < nagents)
        fail("agents", NULL);

    co.url = argv[optind];
    if ((console = virtbus_console_open(base, &co, &err)) == NULL)
        fail("console", &err);
    shown = bus_url_redact(argv[optind]);
    printf("bench/roundtrip: %zu agents in one process, %zu iterations, broker %s\n",
           nagents, iters, shown);
    free(shown);
    samples = calloc(iters, sizeof(double));
    one = (struct virtbus_agent_list){ .items = all.items, .n = 1 };

    for (i = 0; i < iters; i++) {
        struct virtbus_results res;
        double t = bench_now_ms();

        if (virtbus_query(console, &one, "OBJECT", "Domain", NULL, 10000, &res, &err) != 0 ||
            res.items[0].status != VIRTBUS_OK)
            fail("query", &err);
        samples[i] = bench_now_ms() - t;
        virtbus_results_free(&res);
    }
    report("targeted query (3 domains)", samples, iters);

    for (i = 0; i < iters; i++) {
        struct virtbus_results res;
        double t = bench_now_ms();
        size_t j;

        if (virtbus_query(console, &all, "OBJECT", "Domain", NULL, 10000, &res, &err) != 0)
            fail("broadcast query", &err);
        for (j = 0; j < res.n; j++)
            if (res.items[j].status != VIRTBUS_OK)
                fail("broadcast query", &res.items[j].error);
        samples[i] = bench_now_ms() - t;
        virtbus_results_free(&res);
    }
    {
        char what[64];

        snprintf(what, sizeof(what), "broadcast query to %zu agents", nagents);
        report(what, samples, iters);
    }

    oid = qmf_map();
    qmf_map_set(oid, "_agent_name", qmf_string(all.items[0].name));
    qmf_map_set(oid, "_object_name", qmf_string(WEB1));
    for (i = 0; i < iters; i++) {
        struct virtbus_result r;
        double t = bench_now_ms();

        if (virtbus_call(console, all.items[0].name, oid, i % 2 ? "create" : "destroy",
                         NULL, 10000, &r, &err) != 0 || r.status != VIRTBUS_OK)
            fail("method", r.status != VIRTBUS_OK ? &r.error : &err);
        samples[i] = bench_now_ms() - t;
        virtbus_result_clear(&r);
    }
    report("method call (destroy/create)", samples, iters);

    qmf_free(oid);
    free(samples);
    virtbus_console_close(console);
    for (i = 0; i < nagents; i++)
        agent_stop(agents[i], NULL, NULL);
    /* Give the agents a moment to say goodbye; then tear down. */
    expired = false;
    limit = (struct timeval){ 2, 0 };
    timer = evtimer_new(base, flag_cb, &expired);
    evtimer_add(timer, &limit);
    while (!expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(timer);
    workq_free(env.wq);
    for (i = 0; i < nagents; i++)
        agent_free(agents[i]);
    /* The agents' goodbyes, on threads that use OpenSSL, before exit. */
    bus_threads_free(env.bus_threads, 3000);
    virtbus_agent_list_free(&all);
    free(agents);
    schema_free((struct schema *)env.schema);
    event_base_free(base);
    return 0;
}
