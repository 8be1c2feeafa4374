/*
 * bench_rawfanout: the raw-broker baseline, with rabbitmq-c alone and no
 * virtbus code: one publish to N queues, each consumer answering at once,
 * timed until all N answers are in.  It is what ENVIRONMENT-NOTES.md calls
 * "raw fan-out over 2 connections", measured in the same run as the
 * figures it is set beside (bench/run-all.sh).
 *
 *   bench_rawfanout [-N N,...] [-k ROUNDS] URL
 *
 * The fleet's connection holds N auto-delete queues bound to one key of
 * amq.topic and consumes them without acks; a thread of its own answers
 * every delivery to its reply-to on the default exchange.  The console's
 * connection publishes and reads the answers from its exclusive queue.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "bench/measure.h"

#define KEY "bench.rawfanout"
#define MAX_SIZES 8
#define WARMUP 5

struct fleet {
    amqp_connection_state_t conn;
    volatile bool stop;
};

static void
die_reply(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    fprintf(stderr, "bench_rawfanout: %s failed (reply type %d, library error %s)\n", what,
            r.reply_type, amqp_error_string2(r.library_error));
    exit(1);
}

static amqp_connection_state_t
connect_to(const char *url_text)
{
    struct amqp_connection_info info;
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    char *url = strdup(url_text);

    if (url == NULL || sock == NULL || amqp_parse_url(url, &info) != AMQP_STATUS_OK) {
        fprintf(stderr, "bench_rawfanout: bad URL\n");
        exit(2);
    }
    /* rabbitmq-c reads "amqp://host:port/" as the empty vhost. */
    if (info.vhost[0] == '\0')
        info.vhost = "/";
    if (amqp_socket_open(sock, info.host, info.port) != AMQP_STATUS_OK) {
        fprintf(stderr, "bench_rawfanout: cannot connect to %s:%d\n", info.host, info.port);
        exit(1);
    }
    die_reply(amqp_login(conn, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user,
                         info.password), "login");
    amqp_channel_open(conn, 1);
    die_reply(amqp_get_rpc_reply(conn), "channel.open");
    free(url);
    return conn;
}

/* A server-named queue, exclusive and auto-delete; bound to KEY if bind. */
static amqp_bytes_t
private_queue(amqp_connection_state_t conn, bool bind)
{
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(conn, 1, amqp_empty_bytes, 0, 0, 1, 1,
                                                     amqp_empty_table);
    amqp_bytes_t name;

    die_reply(amqp_get_rpc_reply(conn), "queue.declare");
    name = amqp_bytes_malloc_dup(ok->queue);
    if (bind) {
        amqp_queue_bind(conn, 1, name, amqp_cstring_bytes("amq.topic"),
                        amqp_cstring_bytes(KEY), amqp_empty_table);
        die_reply(amqp_get_rpc_reply(conn), "queue.bind");
    }
    amqp_basic_consume(conn, 1, name, amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
    die_reply(amqp_get_rpc_reply(conn), "basic.consume");
    return name;
}

/* The fleet: every delivery answered at once, with its body. */
static void *
fleet_main(void *arg)
{
    struct fleet *f = arg;
    struct timeval tick = { 0, 100000 };

    while (!f->stop) {
        amqp_envelope_t env;
        amqp_rpc_reply_t r;

        amqp_maybe_release_buffers(f->conn);
        r = amqp_consume_message(f->conn, &env, &tick, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        die_reply(r, "fleet consume");
        if (env.message.properties._flags & AMQP_BASIC_REPLY_TO_FLAG)
            amqp_basic_publish(f->conn, 1, amqp_empty_bytes, env.message.properties.reply_to,
                               0, 0, NULL, env.message.body);
        amqp_destroy_envelope(&env);
    }
    return NULL;
}

static double
round_trip(amqp_connection_state_t conn, amqp_bytes_t reply_to, size_t n)
{
    static const char body[] = "{\"_what\":\"OBJECT\",\"_class_name\":\"node\"}";
    amqp_basic_properties_t props = { 0 };
    double t0 = bench_now_ms();
    size_t got = 0;

    props._flags = AMQP_BASIC_REPLY_TO_FLAG;
    props.reply_to = reply_to;
    if (amqp_basic_publish(conn, 1, amqp_cstring_bytes("amq.topic"), amqp_cstring_bytes(KEY), 0,
                           0, &props, amqp_cstring_bytes(body)) != AMQP_STATUS_OK) {
        fprintf(stderr, "bench_rawfanout: publish failed\n");
        exit(1);
    }
    while (got < n) {
        amqp_envelope_t env;
        struct timeval bound = { 10, 0 };
        amqp_rpc_reply_t r;

        amqp_maybe_release_buffers(conn);
        r = amqp_consume_message(conn, &env, &bound, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT) {
            fprintf(stderr, "bench_rawfanout: %zu of %zu answers after 10 s\n", got, n);
            exit(1);
        }
        die_reply(r, "console consume");
        amqp_destroy_envelope(&env);
        got++;
    }
    return bench_now_ms() - t0;
}

static void
measure(const char *url, size_t n, size_t rounds)
{
    struct fleet fleet = { .conn = connect_to(url) };
    amqp_connection_state_t console = connect_to(url);
    amqp_bytes_t reply_to = private_queue(console, false);
    double *ms = calloc(rounds, sizeof(*ms));
    pthread_t thread;
    size_t i;

    for (i = 0; i < n; i++)
        amqp_bytes_free(private_queue(fleet.conn, true));
    if (ms == NULL || pthread_create(&thread, NULL, fleet_main, &fleet) != 0) {
        fprintf(stderr, "bench_rawfanout: out of resources\n");
        exit(1);
    }
    for (i = 0; i < WARMUP; i++)
        round_trip(console, reply_to, n);
    for (i = 0; i < rounds; i++)
        ms[i] = round_trip(console, reply_to, n);
    fleet.stop = true;
    pthread_join(thread, NULL);
    printf("  raw fan-out, N = %-5zu p50 %8.2f ms  p99 %8.2f ms  (%zu rounds)\n", n,
           bench_quantile(ms, rounds, 0.50), bench_quantile(ms, rounds, 0.99), rounds);
    fflush(stdout);
    free(ms);
    amqp_bytes_free(reply_to);
    amqp_connection_close(console, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(console);
    amqp_connection_close(fleet.conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(fleet.conn);
}

int
main(int argc, char **argv)
{
    size_t sizes[MAX_SIZES] = { 10, 100, 1000 }, nsizes = 3, rounds = 50, i;
    int ch;

    while ((ch = getopt(argc, argv, "N:k:h")) != -1) {
        switch (ch) {
        case 'N': {
            char *list = optarg, *tok;

            nsizes = 0;
            while ((tok = strsep(&list, ",")) != NULL && nsizes < MAX_SIZES)
                if ((sizes[nsizes] = strtoul(tok, NULL, 10)) > 0)
                    nsizes++;
            break;
        }
        case 'k': rounds = strtoul(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: bench_rawfanout [-N N,...] [-k ROUNDS] URL\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    if (optind + 1 != argc || nsizes == 0 || rounds == 0) {
        fprintf(stderr, "usage: bench_rawfanout [-N N,...] [-k ROUNDS] URL\n");
        return 2;
    }
    for (i = 0; i < nsizes; i++)
        measure(argv[optind], sizes[i], rounds);
    return 0;
}
