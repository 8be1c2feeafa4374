/*
 * amqp_probe: tries broker operations one by one with a broker account and
 * says, for each, whether the broker allowed it; for the tests of the
 * least-privilege accounts (tests/integration/least_privilege.sh), which
 * must try what virtbus itself never does (purging another agent's queue,
 * publishing under another agent's key).  Synchronous rabbitmq-c, plain
 * TCP and a password: permissions do not depend on how one logs in.
 *
 *   amqp_probe URL OP...
 *
 * Each OP is a comma-separated word list; a queue "@" is the last queue
 * made by "private" or "exclusive":
 *   private                      declare a server-named exclusive queue
 *   exclusive,QUEUE              declare a named exclusive queue (a lock)
 *   declare,QUEUE                declare a durable queue (not passive)
 *   delete,QUEUE                 delete a queue
 *   purge,QUEUE                  purge a queue
 *   consume,QUEUE                start a consumer
 *   bind,QUEUE,EXCHANGE,KEY      bind
 *   xdeclare,EXCHANGE,TYPE       declare an exchange (not passive)
 *   xdelete,EXCHANGE             delete an exchange
 *   publish,EXCHANGE,KEY[,OPCODE[,AGENT]]
 *                                publish ("-": the default exchange) a
 *                                message with those QMF headers; for
 *                                _agent_heartbeat_indication, a heartbeat
 *                                body for AGENT stamped now
 * Prints "OP: ok" or "OP: refused <code> <text>" per OP (a refusal costs
 * the channel, which is opened again for the next OP).  Exit 0, or 2 when
 * it cannot connect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#define PROBE_CHANNEL 1
#define PROBE_MAX_WORDS 5

struct probe {
    amqp_connection_state_t amqp;
    char last_queue[256];
};

static amqp_bytes_t
queue_of(const struct probe *p, const char *name)
{
    return amqp_cstring_bytes(strcmp(name, "@") == 0 ? p->last_queue : name);
}

/* Prints the outcome of the last RPC; a channel closed by a refusal is
 * opened again.  Returns 0 if it was allowed. */
static int
outcome(struct probe *p, const char *op)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(p->amqp);

    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        printf("%s: ok\n", op);
        return 0;
    }
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *c = r.reply.decoded;
        amqp_channel_close_ok_t ok;

        printf("%s: refused %u %.*s\n", op, c->reply_code, (int)c->reply_text.len,
               (const char *)c->reply_text.bytes);
        memset(&ok, 0, sizeof(ok));
        amqp_send_method(p->amqp, PROBE_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        amqp_channel_open(p->amqp, PROBE_CHANNEL);
        return -1;
    }
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *c = r.reply.decoded;

        printf("%s: refused %u %.*s (connection closed)\n", op, c->reply_code,
               (int)c->reply_text.len, (const char *)c->reply_text.bytes);
        exit(0);
    }
    printf("%s: failed %s\n", op, amqp_error_string2(r.library_error));
    exit(0);
}

/* A publish is refused asynchronously, by closing the channel: a passive
 * declare of a built-in exchange after it gets that close, or its answer. */
static void
publish(struct probe *p, const char *op, char **w, int n)
{
    amqp_basic_properties_t props;
    amqp_table_entry_t headers[3];
    char body[512];
    int nh = 0;

    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    snprintf(body, sizeof(body), "{}");
    if (n > 3) {
        headers[nh].key = amqp_cstring_bytes("qmf.opcode");
        headers[nh].value.kind = AMQP_FIELD_KIND_UTF8;
        headers[nh++].value.value.bytes = amqp_cstring_bytes(w[3]);
        headers[nh].key = amqp_cstring_bytes("method");
        headers[nh].value.kind = AMQP_FIELD_KIND_UTF8;
        headers[nh++].value.value.bytes = amqp_cstring_bytes(
            strstr(w[3], "_indication") ? "indication" : "request");
    }
    if (n > 4) {
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now);
        headers[nh].key = amqp_cstring_bytes("qmf.agent");
        headers[nh].value.kind = AMQP_FIELD_KIND_UTF8;
        headers[nh++].value.value.bytes = amqp_cstring_bytes(w[4]);
        snprintf(body, sizeof(body),
                 "{\"_values\":{\"_timestamp\":%lld,\"_heartbeat_interval\":5,"
                 "\"_epoch\":%lld,\"_name\":\"%s\",\"node\":\"%s\"}}",
                 (long long)now.tv_sec * 1000000000LL + now.tv_nsec,
                 (long long)now.tv_sec * 1000000000LL, w[4],
                 strrchr(w[4], ':') ? strrchr(w[4], ':') + 1 : w[4]);
    }
    props.headers.num_entries = nh;
    props.headers.entries = headers;
    amqp_basic_publish(p->amqp, PROBE_CHANNEL,
                       amqp_cstring_bytes(strcmp(w[1], "-") == 0 ? "" : w[1]),
                       amqp_cstring_bytes(w[2]), 0, 0, &props, amqp_cstring_bytes(body));
    amqp_exchange_declare(p->amqp, PROBE_CHANNEL, amqp_cstring_bytes("amq.direct"),
                          amqp_cstring_bytes("direct"), 1, 0, 0, 0, amqp_empty_table);
    outcome(p, op);
}

static void
run(struct probe *p, const char *op)
{
    char *copy = strdup(op), *w[PROBE_MAX_WORDS] = { NULL }, *save = NULL, *tok;
    int n = 0;

    for (tok = strtok_r(copy, ",", &save); tok != NULL && n < PROBE_MAX_WORDS;
         tok = strtok_r(NULL, ",", &save))
        w[n++] = tok;
    if (n == 1 && strcmp(w[0], "private") == 0) {
        amqp_queue_declare_ok_t *ok = amqp_queue_declare(p->amqp, PROBE_CHANNEL,
                                                         amqp_empty_bytes, 0, 0, 1, 1,
                                                         amqp_empty_table);

        if (outcome(p, op) == 0)
            snprintf(p->last_queue, sizeof(p->last_queue), "%.*s", (int)ok->queue.len,
                     (const char *)ok->queue.bytes);
    } else if (n == 2 && strcmp(w[0], "exclusive") == 0) {
        amqp_queue_declare(p->amqp, PROBE_CHANNEL, amqp_cstring_bytes(w[1]), 0, 0, 1, 1,
                           amqp_empty_table);
        if (outcome(p, op) == 0)
            snprintf(p->last_queue, sizeof(p->last_queue), "%s", w[1]);
    } else if (n == 2 && strcmp(w[0], "declare") == 0) {
        amqp_queue_declare(p->amqp, PROBE_CHANNEL, queue_of(p, w[1]), 0, 1, 0, 0,
                           amqp_empty_table);
        outcome(p, op);
    } else if (n == 2 && strcmp(w[0], "delete") == 0) {
        amqp_queue_delete(p->amqp, PROBE_CHANNEL, queue_of(p, w[1]), 0, 0);
        outcome(p, op);
    } else if (n == 2 && strcmp(w[0], "purge") == 0) {
        amqp_queue_purge(p->amqp, PROBE_CHANNEL, queue_of(p, w[1]));
        outcome(p, op);
    } else if (n == 2 && strcmp(w[0], "consume") == 0) {
        amqp_basic_consume(p->amqp, PROBE_CHANNEL, queue_of(p, w[1]), amqp_empty_bytes,
                           0, 0, 0, amqp_empty_table);
        outcome(p, op);
    } else if (n == 4 && strcmp(w[0], "bind") == 0) {
        amqp_queue_bind(p->amqp, PROBE_CHANNEL, queue_of(p, w[1]), amqp_cstring_bytes(w[2]),
                        amqp_cstring_bytes(w[3]), amqp_empty_table);
        outcome(p, op);
    } else if (n == 3 && strcmp(w[0], "xdeclare") == 0) {
        amqp_exchange_declare(p->amqp, PROBE_CHANNEL, amqp_cstring_bytes(w[1]),
                              amqp_cstring_bytes(w[2]), 0, 1, 0, 0, amqp_empty_table);
        outcome(p, op);
    } else if (n == 2 && strcmp(w[0], "xdelete") == 0) {
        amqp_exchange_delete(p->amqp, PROBE_CHANNEL, amqp_cstring_bytes(w[1]), 0);
        outcome(p, op);
    } else if (n >= 3 && strcmp(w[0], "publish") == 0) {
        publish(p, op, w, n);
    } else {
        printf("%s: bad operation\n", op);
    }
    free(copy);
}

int
main(int argc, char **argv)
{
    struct amqp_connection_info info;
    struct probe p = { 0 };
    amqp_socket_t *sock;
    char *url;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: amqp_probe URL OP...\n");
        return 2;
    }
    url = strdup(argv[1]);
    if (amqp_parse_url(url, &info) != AMQP_STATUS_OK) {
        fprintf(stderr, "amqp_probe: bad URL\n");
        return 2;
    }
    p.amqp = amqp_new_connection();
    sock = amqp_tcp_socket_new(p.amqp);
    if (sock == NULL || amqp_socket_open(sock, info.host, info.port) != AMQP_STATUS_OK) {
        fprintf(stderr, "amqp_probe: cannot connect to %s:%d\n", info.host, info.port);
        return 2;
    }
    if (amqp_login(p.amqp, info.vhost[0] ? info.vhost : "/", 0, 131072, 0,
                   AMQP_SASL_METHOD_PLAIN, info.user, info.password).reply_type !=
        AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "amqp_probe: login as %s refused\n", info.user);
        return 2;
    }
    amqp_channel_open(p.amqp, PROBE_CHANNEL);
    for (i = 2; i < argc; i++)
        run(&p, argv[i]);
    fflush(stdout);
    amqp_connection_close(p.amqp, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(p.amqp);
    free(url);
    return 0;
}
