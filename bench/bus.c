/*
 * bench_bus: what the bus itself costs on each transport, side by side in
 * one run against one broker: a connection's set-up (bus_open to up, with
 * one queue and one subscription, and with nothing at all), a request's
 * round trip (a queue to a
 * server that answers at once, the answer by direct reply-to), and
 * confirmed messages through a queue per second.
 *
 *   bench_bus [-n RUNS] [-m MESSAGES] URL...
 *
 * e.g. bench_bus amqp://guest:guest@127.0.0.1:5672/ amqp10://guest:guest@127.0.0.1:5672/
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "bench/measure.h"
#include "bus/bus.h"
#include "tests/harness/support.h"

struct side {
    struct bus_conn *conn;
    bool up, down;
    qmf_error why;
    size_t received, confirmed;
    double arrived_ms;
};

static void
on_up(struct bus_conn *c, void *opaque)
{
    ((struct side *)opaque)->up = true;
}

static void
on_down(struct bus_conn *c, const qmf_error *why, void *opaque)
{
    struct side *s = opaque;

    s->down = true;
    s->why = *why;
}

static const struct bus_handlers handlers = { on_up, on_down };

/* Runs the loop until *flag or a 30 s bound; false on the bound. */
static bool
run_until(struct event_base *base, const bool *flag, const size_t *count, size_t want)
{
    double deadline = bench_now_ms() + 30000;

    while (!(flag ? *flag : *count >= want) && bench_now_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    return flag ? *flag : *count >= want;
}

static void
take(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct side *s = opaque;

    s->received++;
    s->arrived_ms = bench_now_ms();
    bus_ack(d);
}

/* The server of the round trip: answers every request at once. */
static void
answer(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct side *s = opaque;
    struct bus_message *reply = bus_message_new();
    qmf_error err;

    reply->correlation_id = m->correlation_id ? strdup(m->correlation_id) : NULL;
    reply->unconfirmed = true;
    if (m->reply_to != NULL && bus_publish(s->conn, m->reply_to, reply, NULL, NULL, &err) != 0)
        fprintf(stderr, "bench_bus: answer: %s\n", err.text);
    bus_message_free(reply);
    bus_ack(d);
}

static void
confirmed(bool ok, void *opaque)
{
    ((struct side *)opaque)->confirmed += ok;
}

static int
open_side(struct side *s, struct event_base *base, struct bus_options *o)
{
    qmf_error err;

    memset(s, 0, sizeof(*s));
    if (bus_open(&s->conn, base, o, &handlers, s, &err) != 0) {
        fprintf(stderr, "bench_bus: %s\n", err.text);
        return -1;
    }
    if (!run_until(base, &s->up, NULL, 0)) {
        fprintf(stderr, "bench_bus: not up: %s\n", s->why.text);
        bus_close(s->conn);
        return -1;
    }
    return 0;
}

static void
report(const char *what, const char *scheme, double *v, size_t n)
{
    printf("%-10s %-24s p50 %8.2f ms  p99 %8.2f ms  (%zu runs)\n", scheme, what,
           bench_quantile(v, n, 0.5), bench_quantile(v, n, 0.99), n);
}

static int
bench_url(const char *url, size_t runs, size_t messages)
{
    struct event_base *base = event_base_new();
    char queue[64], *address, scheme[16];
    qmf_value *args = qmf_map();
    /* Not auto-delete: a consumer's cancellation still on its way would
     * delete it under the next run's; gone a minute after the bench. */
    struct bus_queue q = { .name = queue, .arguments = args };
    struct bus_subscription sub = { .source = NULL, .credit = 200, .receive = take };
    struct bus_subscription drt = { .source = BUS_DIRECT_REPLY_TO, .no_ack = true,
                                    .receive = take };
    struct bus_options o = { .url = url, .name = "bench_bus", .queues = &q, .nqueues = 1,
                             .subs = &sub, .nsubs = 1 };
    struct side server, asker, pub, cons;
    double *samples = calloc(runs, sizeof(*samples)), t0;
    struct bus_message *m;
    qmf_error err;
    size_t i;
    int rc = -1;

    qmf_map_set(args, "x-expires", qmf_i64(60000));
    snprintf(scheme, sizeof(scheme), "%.*s", (int)strcspn(url, ":"), url);
    snprintf(queue, sizeof(queue), "bench-bus-%ld-%s", (long)getpid(), scheme);
    address = qmf_name_queue_address(queue);
    sub.source = address;

    /* Set-up: open to up, closed again. */
    for (i = 0; i < runs; i++) {
        sub.opaque = &cons;
        t0 = bench_now_ms();
        if (open_side(&cons, base, &o) != 0)
            goto out;
        samples[i] = bench_now_ms() - t0;
        bus_close_wait(cons.conn, 0);
    }
    report("open to up", scheme, samples, runs);

    /* The connection alone: nothing declared nor checked (on 1.0 no 0-9-1
     * connection for the topology either). */
    for (i = 0; i < runs; i++) {
        struct bus_options bare = { .url = url, .name = "bench_bus", .passive_exchanges = true };

        t0 = bench_now_ms();
        if (open_side(&cons, base, &bare) != 0)
            goto out;
        samples[i] = bench_now_ms() - t0;
        bus_close_wait(cons.conn, 0);
    }
    report("open to up, bare", scheme, samples, runs);

    /* Round trip: request to the server's queue, answer by direct reply-to. */
    sub.receive = answer;
    sub.opaque = &server;
    if (open_side(&server, base, &o) != 0)
        goto out;
    drt.opaque = &asker;
    o.queues = NULL;
    o.nqueues = 0;
    o.subs = &drt;
    if (open_side(&asker, base, &o) != 0)
        goto out_server;
    m = bus_message_new();
    m->reply_to = strdup(BUS_DIRECT_REPLY_TO);
    m->correlation_id = strdup("rt");
    for (i = 0; i < runs; i++) {
        size_t before = asker.received;

        t0 = bench_now_ms();
        if (bus_publish(asker.conn, address, m, NULL, NULL, &err) != 0 ||
            !run_until(base, NULL, &asker.received, before + 1)) {
            fprintf(stderr, "bench_bus: round trip %zu failed\n", i);
            break;
        }
        samples[i] = asker.arrived_ms - t0;
    }
    bus_message_free(m);
    if (i == runs)
        report("round trip", scheme, samples, runs);
    bus_close(asker.conn);

    /* Throughput: confirmed publishes through the server's queue, which now
     * only takes them. */
    bus_close(server.conn);
    o.queues = &q;
    o.nqueues = 1;
    o.subs = &sub;
    sub.receive = take;
    sub.opaque = &cons;
    if (open_side(&cons, base, &o) != 0 || open_side(&pub, base, &(struct bus_options){
                                                         .url = url, .name = "bench_bus" }) != 0)
        goto out;
    m = bus_message_new();
    m->raw_body = malloc(200);
    memset(m->raw_body, 'x', 200);
    m->raw_body[0] = '"';
    m->raw_body[199] = '"';
    m->raw_len = 200;
    t0 = bench_now_ms();
    for (i = 0; i < messages; i++) {
        while (bus_publish(pub.conn, address, m, confirmed, &pub, &err) != 0) {
            if (!bus_is_up(pub.conn)) {
                fprintf(stderr, "bench_bus: publish: %s\n", err.text);
                goto out_pub;
            }
            event_base_loop(base, EVLOOP_ONCE);
        }
        if (i % 64 == 63)
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    if (run_until(base, NULL, &pub.confirmed, messages) &&
        run_until(base, NULL, &cons.received, messages))
        printf("%-10s %-24s %8.0f messages/s  (%zu of 200 bytes, confirmed and acked)\n",
               scheme, "throughput", messages / ((bench_now_ms() - t0) / 1000), messages);
    rc = 0;
out_pub:
    bus_message_free(m);
    bus_close_wait(pub.conn, 0);
    bus_close_wait(cons.conn, 0);
    goto out;
out_server:
    bus_close(server.conn);
out:
    event_base_free(base);
    qmf_free(args);
    free(samples);
    free(address);
    return rc;
}

int
main(int argc, char **argv)
{
    size_t runs = 200, messages = 20000;
    int opt, rc = 0;

    while ((opt = getopt(argc, argv, "n:m:")) != -1) {
        if (opt == 'n')
            runs = strtoul(optarg, NULL, 10);
        else if (opt == 'm')
            messages = strtoul(optarg, NULL, 10);
        else
            break;
    }
    if (optind >= argc || runs == 0 || messages == 0) {
        fprintf(stderr, "usage: bench_bus [-n RUNS] [-m MESSAGES] URL...\n");
        return 2;
    }
    evthread_use_pthreads();
    for (; optind < argc; optind++)
        rc |= bench_url(argv[optind], runs, messages) != 0;
    return rc;
}
