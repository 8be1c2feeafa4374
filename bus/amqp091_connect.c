/*
 * AMQP 0-9-1 connection set-up: the options copy every attempt works from,
 * and the blocking sequence (socket, login, channels, confirm mode,
 * topology, consumers) that runs on a connect thread, never on the loop.
 * After login the methods are pipelined: a short-lived CLI pays this
 * set-up on every command, and a round trip per method was most of it.
 */
#include "bus/amqp091_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <openssl/ssl.h>

#include "bus/backend.h"
#include "bus/bus_tls.h"

static char *
xstrdup_or_null(const char *s)
{
    return s ? qmf_xstrdup(s) : NULL;
}

static const struct bus_binding *
bindings_copy(const struct bus_binding *src, size_t n)
{
    struct bus_binding *b = n ? qmf_xcalloc(n, sizeof(*b)) : NULL;
    size_t i;

    for (i = 0; i < n; i++) {
        b[i].exchange = qmf_xstrdup(src[i].exchange ? src[i].exchange : "");
        b[i].key = qmf_xstrdup(src[i].key ? src[i].key : "");
    }
    return b;
}

static void
bindings_free(const struct bus_binding *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free((char *)b[i].exchange);
        free((char *)b[i].key);
    }
    free((struct bus_binding *)b);
}

void
a091_queue_copy(struct bus_queue *dst, const struct bus_queue *src)
{
    *dst = *src;
    dst->name = xstrdup_or_null(src->name);
    dst->queue_type = xstrdup_or_null(src->queue_type);
    dst->dead_letter_exchange = xstrdup_or_null(src->dead_letter_exchange);
    dst->bindings = bindings_copy(src->bindings, src->nbindings);
    dst->unbindings = bindings_copy(src->unbindings, src->nunbindings);
    dst->arguments = src->arguments ? qmf_dup(src->arguments) : NULL;
    /* A server-named queue is only ever ours. */
    if (dst->name == NULL)
        dst->exclusive = true;
}

void
a091_queue_clear(struct bus_queue *q)
{
    free((char *)q->name);
    free((char *)q->queue_type);
    free((char *)q->dead_letter_exchange);
    bindings_free(q->bindings, q->nbindings);
    bindings_free(q->unbindings, q->nunbindings);
    qmf_free((qmf_value *)q->arguments);
}

int
a091_sub_copy(struct a091_sub *dst, const struct bus_subscription *src, size_t nqueues,
         qmf_error *err)
{
    const char *source = src->source ? src->source : "";

    memset(dst, 0, sizeof(*dst));
    if (src->receive == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "subscription '%s' has no receive callback", source);
        return -1;
    }
    if (bus_source_parse(source, nqueues, &dst->queue, &dst->queue_index, err) != 0)
        return -1;
    dst->by_index = dst->queue == NULL;
    dst->channel = A091_CONSUME_CHANNEL;
    if (dst->queue != NULL && strcmp(dst->queue, A091_DIRECT_REPLY_TO) == 0) {
        if (!src->no_ack) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "subscription '%s' must be no_ack (RabbitMQ's rule)", source);
            free(dst->queue);
            dst->queue = NULL;
            return -1;
        }
        dst->channel = A091_PUBLISH_CHANNEL;
    }
    dst->credit = src->credit == 0 ? A091_DEFAULT_CREDIT
                  : src->credit > UINT16_MAX ? UINT16_MAX : (uint16_t)src->credit;
    dst->no_ack = src->no_ack;
    dst->arguments = src->arguments ? qmf_dup(src->arguments) : NULL;
    dst->receive = src->receive;
    dst->opaque = src->opaque;
    return 0;
}

void
a091_sub_clear(struct a091_sub *s)
{
    free(s->queue);
    qmf_free(s->arguments);
    s->queue = NULL;
    s->arguments = NULL;
}

static void
config_free(struct a091_config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->nqueues; i++)
        a091_queue_clear(&cfg->queues[i]);
    free(cfg->queues);
    for (i = 0; i < cfg->nsubs; i++)
        a091_sub_clear(&cfg->subs[i]);
    free(cfg->subs);
    free(cfg->url);
    free(cfg->shown);
    free(cfg->url_buf);
    free(cfg->name);
    bus_tls_conf_clear(&cfg->tls);
    free(cfg);
}

struct a091_config *
a091_config_new(const struct bus_options *opts, qmf_error *err)
{
    struct a091_config *cfg = qmf_xcalloc(1, sizeof(*cfg));
    size_t i;

    atomic_init(&cfg->refs, 1);
    cfg->threads = opts->threads;
    cfg->url = qmf_xstrdup(opts->url);
    cfg->shown = bus_url_redact(opts->url);
    cfg->url_buf = qmf_xstrdup(opts->url);
    if (amqp_parse_url(cfg->url_buf, &cfg->info) != AMQP_STATUS_OK) {
        char *shown = bus_url_redact(opts->url);

        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "bad broker URL '%s'", shown);
        free(shown);
        goto fail;
    }
    /* "amqp://host/" parses to the empty vhost, which RabbitMQ never has;
     * take it as the default vhost, as most clients do. */
    if (cfg->info.vhost[0] == '\0')
        cfg->info.vhost = "/";
    cfg->name = xstrdup_or_null(opts->name);
    /* The files only matter to amqps://: a configuration names one set
     * for all its brokers, and the URL's scheme decides. */
    if (bus_tls_conf_init(&cfg->tls, opts, cfg->info.ssl, "amqps", err) != 0)
        goto fail;
    cfg->heartbeat_s = opts->heartbeat_s ? opts->heartbeat_s : A091_DEFAULT_HEARTBEAT_S;
    cfg->max_body = opts->max_body ? opts->max_body : A091_DEFAULT_MAX_BODY;
    cfg->reconnect = opts->reconnect;
    cfg->passive_exchanges = opts->passive_exchanges;
    cfg->backoff_min_ms = opts->reconnect_min_ms ? opts->reconnect_min_ms
                                                 : A091_DEFAULT_BACKOFF_MIN_MS;
    cfg->backoff_max_ms = opts->reconnect_max_ms ? opts->reconnect_max_ms
                                                 : A091_DEFAULT_BACKOFF_MAX_MS;
    if (cfg->backoff_max_ms < cfg->backoff_min_ms)
        cfg->backoff_max_ms = cfg->backoff_min_ms;

    if (opts->nqueues > 0) {
        cfg->queues = qmf_xcalloc(opts->nqueues, sizeof(*cfg->queues));
        for (i = 0; i < opts->nqueues; i++) {
            a091_queue_copy(&cfg->queues[i], &opts->queues[i]);
            cfg->nqueues++;
        }
    }
    if (opts->nsubs > 0) {
        cfg->subs = qmf_xcalloc(opts->nsubs, sizeof(*cfg->subs));
        for (i = 0; i < opts->nsubs; i++) {
            if (a091_sub_copy(&cfg->subs[i], &opts->subs[i], cfg->nqueues, err) != 0)
                goto fail;
            cfg->nsubs++;
            if (cfg->subs[i].channel == A091_PUBLISH_CHANNEL)
                cfg->publish_channel_consumes = true;
        }
    }
    return cfg;

fail:
    config_free(cfg);
    return NULL;
}

struct a091_config *
a091_config_ref(struct a091_config *cfg)
{
    atomic_fetch_add(&cfg->refs, 1);
    return cfg;
}

void
a091_config_unref(struct a091_config *cfg)
{
    if (cfg != NULL && atomic_fetch_sub(&cfg->refs, 1) == 1)
        config_free(cfg);
}

char *
a091_consumer_tag(size_t i)
{
    return qmf_xasprintf("virtbus-%zu", i);
}

bool
a091_consumer_index(amqp_bytes_t tag, size_t nsubs, size_t *i)
{
    char buf[32];
    char *end;
    unsigned long n;

    if (tag.len <= 8 || tag.len >= sizeof(buf) || memcmp(tag.bytes, "virtbus-", 8) != 0)
        return false;
    memcpy(buf, (const char *)tag.bytes + 8, tag.len - 8);
    buf[tag.len - 8] = '\0';
    n = strtoul(buf, &end, 10);
    if (end == buf || *end != '\0' || n >= nsubs)
        return false;
    *i = n;
    return true;
}

/* The methods the set-up pipelines, by the ids a channel.close names. */
static const char *
method_name(uint16_t class_id, uint16_t method_id)
{
    switch (((uint32_t)class_id << 16) | method_id) {
    case AMQP_CHANNEL_OPEN_METHOD:
        return "channel.open";
    case AMQP_EXCHANGE_DECLARE_METHOD:
        return "exchange.declare";
    case AMQP_QUEUE_DECLARE_METHOD:
        return "queue.declare";
    case AMQP_QUEUE_BIND_METHOD:
        return "queue.bind";
    case AMQP_BASIC_QOS_METHOD:
        return "basic.qos";
    case AMQP_BASIC_CONSUME_METHOD:
        return "basic.consume";
    case AMQP_CONFIRM_SELECT_METHOD:
        return "confirm.select";
    default:
        return NULL;
    }
}

int
a091_close_code(uint16_t reply_code)
{
    switch (reply_code) {
    case AMQP_ACCESS_REFUSED:
        return QMF_ERR_UNAUTHORIZED;
    case AMQP_RESOURCE_LOCKED:
        return QMF_ERR_LOCKED;
    default:
        return QMF_ERR_TRANSPORT;
    }
}

void
a091_reply_error(amqp_rpc_reply_t r, const char *what, qmf_error *err)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        qmf_error_clear(err);
        break;
    case AMQP_RESPONSE_NONE:
        qmf_error_set(err, QMF_ERR_TRANSPORT, "%s: no reply from the broker", what);
        break;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        qmf_error_set(err, QMF_ERR_TRANSPORT, "%s: %s", what,
                      amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            const amqp_connection_close_t *c = r.reply.decoded;

            qmf_error_set(err, a091_close_code(c->reply_code),
                          "%s: broker closed the connection: %u %.*s",
                          what, c->reply_code, (int)c->reply_text.len,
                          (const char *)c->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            const amqp_channel_close_t *c = r.reply.decoded;
            const char *method = method_name(c->class_id, c->method_id);

            /* With pipelining the refused method may be an earlier one
             * than the call that got the close: name it. */
            qmf_error_set(err, a091_close_code(c->reply_code),
                          "%s: broker closed the channel: %u %.*s%s%s%s",
                          what, c->reply_code, (int)c->reply_text.len,
                          (const char *)c->reply_text.bytes, method ? " (in " : "",
                          method ? method : "", method ? ")" : "");
        } else {
            qmf_error_set(err, QMF_ERR_TRANSPORT, "%s: unexpected broker method 0x%08x",
                          what, (unsigned)r.reply.id);
        }
        break;
    default:
        qmf_error_set(err, QMF_ERR_TRANSPORT, "%s: failed", what);
        break;
    }
}

/* rabbitmq-c's sends have no deadline: a goodbye into a full send buffer
 * (a broker that stopped reading) would block for good. */
static bool
socket_writable(amqp_connection_state_t amqp)
{
    return bus_fd_ready(amqp_get_sockfd(amqp), POLLOUT);
}

void
a091_close_politely(amqp_connection_state_t amqp, unsigned timeout_ms)
{
    amqp_rpc_reply_t last = amqp_get_rpc_reply(amqp);

    if (last.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION || !socket_writable(amqp)) {
        /* The link failed or is stuck: there is nobody to say goodbye to. */
    } else if (last.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               last.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_ok_t ok;

        /* The broker closed it already and only waits for our close-ok. */
        memset(&ok, 0, sizeof(ok));
        amqp_send_method(amqp, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    } else {
        struct timeval tv = { (time_t)(timeout_ms / 1000),
                              (suseconds_t)(timeout_ms % 1000) * 1000 };

        /* Until its close-ok the broker is still shutting the channels
         * down, and a socket closed meanwhile is logged as "client
         * unexpectedly closed TCP connection".  Whatever else arrives
         * (deliveries) is dropped with the connection. */
        amqp_set_rpc_timeout(amqp, &tv);
        amqp_connection_close(amqp, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(amqp);
}

static bool
rpc_ok(amqp_connection_state_t amqp, const void *reply, const char *what, qmf_error *err)
{
    if (reply != NULL)
        return true;
    a091_reply_error(amqp_get_rpc_reply(amqp), what, err);
    if (err != NULL && err->code == QMF_OK)
        qmf_error_set(err, QMF_ERR_TRANSPORT, "%s: failed", what);
    return false;
}

/*
 * Sends a method without waiting for its answer, so that the set-up costs
 * one round trip rather than one per method.  Methods that have a nowait
 * field go with it set; the others (channel.open, basic.qos, queue.unbind)
 * get answers that carry nothing we need: rabbitmq-c sets them aside while
 * a later call waits, and the loop drops them.  A method the broker refuses closes
 * its channel (or the connection), and the next synchronous call on that
 * channel receives the close, with the broker's reason, instead of its
 * answer: see confirm_setup().
 */
static bool
send_nowait(amqp_connection_state_t amqp, amqp_channel_t channel,
            amqp_method_number_t method, void *args, const char *what, qmf_error *err)
{
    int rc = amqp_send_method(amqp, channel, method, args);

    if (rc == AMQP_STATUS_OK)
        return true;
    qmf_error_set(err, QMF_ERR_TRANSPORT, "%s: %s", what, amqp_error_string2(rc));
    return false;
}

/* The broker as errors name it: the URL without its password (an EXTERNAL
 * login has its user in the certificate, not the URL). */
static void
broker_text(const struct a091_config *cfg, char *buf, size_t size)
{
    const struct amqp_connection_info *i = &cfg->info;
    const char *vhost = strcmp(i->vhost, "/") == 0 ? "" : i->vhost;

    if (cfg->tls.sasl_external)
        snprintf(buf, size, "%s://%s:%d/%s", i->ssl ? "amqps" : "amqp", i->host, i->port,
                 vhost);
    else
        snprintf(buf, size, "%s://%s@%s:%d/%s", i->ssl ? "amqps" : "amqp", i->user,
                 i->host, i->port, vhost);
}

/*
 * An SSL socket set up to verify the broker (and to show our certificate).
 * The host name is checked by OpenSSL as part of the chain (RFC 6125, IP
 * addresses too), not by rabbitmq-c 0.11, whose own check never matches
 * an IP address of the certificate; rabbitmq-c checks the verdict after
 * the handshake.
 */
static amqp_socket_t *
tls_socket(amqp_connection_state_t amqp, const struct a091_config *cfg,
           struct bus_tls_check *check, qmf_error *err)
{
    amqp_socket_t *sock = amqp_ssl_socket_new(amqp);
    SSL_CTX *ctx;

    if (sock == NULL || (ctx = amqp_ssl_socket_get_context(sock)) == NULL) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "TLS: cannot create a socket: %s",
                      bus_tls_reason());
        return NULL;
    }
    amqp_ssl_socket_set_verify_peer(sock, 1);
    amqp_ssl_socket_set_verify_hostname(sock, 0);
    if (bus_tls_setup(ctx, cfg->info.host, &cfg->tls, check, err) != 0)
        return NULL;
    return sock;
}

/* Why a connect failed, in words that point at the fix. */
static void
open_error(const struct a091_config *cfg, const struct bus_tls_check *check, int rc,
           qmf_error *err)
{
    char broker[300];

    broker_text(cfg, broker, sizeof(broker));
    switch (rc) {
    case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
    case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
        bus_tls_verify_error(check, cfg->info.host, broker, err);
        break;
    case AMQP_STATUS_SSL_ERROR:
    case AMQP_STATUS_SSL_CONNECTION_FAILED:
        bus_tls_handshake_error(broker, err);
        break;
    default:
        qmf_error_set(err, QMF_ERR_TRANSPORT, "cannot connect to %s: %s", broker,
                      amqp_error_string2(rc));
        break;
    }
}

/* The TCP connect keeps the short bound: a host that does not answer
 * is not busy, and a cluster's other nodes are waiting to be tried. */
static int
open_socket(amqp_connection_state_t amqp, const struct a091_config *cfg, unsigned timeout_s,
            qmf_error *err)
{
    unsigned rpc_s = timeout_s * A091_SETUP_RPC_FACTOR;
    struct timeval tv = { A091_CONNECT_TIMEOUT_S, 0 };
    struct timeval broker_tv = { (time_t)timeout_s, 0 };
    struct timeval rpc_tv = { (time_t)(rpc_s < A091_CONNECT_TIMEOUT_MAX_S ? rpc_s
                                       : A091_CONNECT_TIMEOUT_MAX_S), 0 };
    struct bus_tls_check check = { 0 };
    amqp_socket_t *sock;
    int rc;

    if (cfg->info.ssl) {
        if ((sock = tls_socket(amqp, cfg, &check, err)) == NULL)
            return -1;
    } else if ((sock = amqp_tcp_socket_new(amqp)) == NULL) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "cannot create a socket for %s:%d",
                      cfg->info.host, cfg->info.port);
        return -1;
    }
    amqp_set_handshake_timeout(amqp, &broker_tv);
    amqp_set_rpc_timeout(amqp, &rpc_tv);
    rc = amqp_socket_open_noblock(sock, cfg->info.host, cfg->info.port, &tv);
    /* The check lives on this stack; OpenSSL calls back only in the
     * handshake, which is over. */
    if (cfg->info.ssl)
        bus_tls_forget(amqp_ssl_socket_get_context(sock));
    if (rc != AMQP_STATUS_OK) {
        open_error(cfg, &check, rc, err);
        return -1;
    }
    return 0;
}

static int
login(amqp_connection_state_t amqp, const struct a091_config *cfg, qmf_error *err)
{
    amqp_table_entry_t caps[1], props[2];
    amqp_table_t table;
    amqp_rpc_reply_t r;
    int n = 0;

    /* Without this capability the broker cancels a consumer (queue deleted)
     * silently, and the subscription would just stop. */
    caps[0].key = a091_bytes_of("consumer_cancel_notify");
    caps[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    caps[0].value.value.boolean = 1;
    props[n].key = a091_bytes_of("capabilities");
    props[n].value.kind = AMQP_FIELD_KIND_TABLE;
    props[n].value.value.table.num_entries = 1;
    props[n].value.value.table.entries = caps;
    n++;
    if (cfg->name != NULL) {
        props[n].key = a091_bytes_of("connection_name");
        props[n].value.kind = AMQP_FIELD_KIND_UTF8;
        props[n].value.value.bytes = a091_bytes_of(cfg->name);
        n++;
    }
    table.num_entries = n;
    table.entries = props;
    /* EXTERNAL: the broker takes the user from our certificate and
     * ignores the identity we send (RabbitMQ's rabbitmq_auth_mechanism_ssl);
     * rabbitmq-c fails on an empty one. */
    if (cfg->tls.sasl_external)
        r = amqp_login_with_properties(amqp, cfg->info.vhost, 0, A091_FRAME_MAX,
                                       cfg->heartbeat_s, &table, AMQP_SASL_METHOD_EXTERNAL,
                                       cfg->info.user);
    else
        r = amqp_login_with_properties(amqp, cfg->info.vhost, 0, A091_FRAME_MAX,
                                       cfg->heartbeat_s, &table, AMQP_SASL_METHOD_PLAIN,
                                       cfg->info.user, cfg->info.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        char what[200];

        if (cfg->tls.sasl_external)
            snprintf(what, sizeof(what), "login to %s:%d vhost '%s' by certificate "
                     "(SASL EXTERNAL, %s)", cfg->info.host, cfg->info.port, cfg->info.vhost,
                     cfg->tls.cert);
        else
            snprintf(what, sizeof(what), "login to %s:%d vhost '%s' as '%s'",
                     cfg->info.host, cfg->info.port, cfg->info.vhost, cfg->info.user);
        a091_reply_error(r, what, err);
        return -1;
    }
    return 0;
}

/* Channel 1 for consumers, channel 2 for publishes in confirm mode, 3 for
 * unconfirmed ones (open once the loop sees its open-ok). */
static bool
open_channels(amqp_connection_state_t amqp, qmf_error *err)
{
    amqp_channel_open_t open;
    amqp_confirm_select_t select;

    memset(&open, 0, sizeof(open));
    memset(&select, 0, sizeof(select));
    /* Refused, it would close channel 2 only, and the loop reopens a
     * closed publish channel anyway. */
    select.nowait = 1;
    return send_nowait(amqp, A091_CONSUME_CHANNEL, AMQP_CHANNEL_OPEN_METHOD, &open,
                       "opening the consume channel", err) &&
           send_nowait(amqp, A091_PUBLISH_CHANNEL, AMQP_CHANNEL_OPEN_METHOD, &open,
                       "opening the publish channel", err) &&
           send_nowait(amqp, A091_PUBLISH_CHANNEL, AMQP_CONFIRM_SELECT_METHOD, &select,
                       "selecting publisher confirms", err) &&
           send_nowait(amqp, A091_UNCONFIRMED_CHANNEL, AMQP_CHANNEL_OPEN_METHOD, &open,
                       "opening the unconfirmed publish channel", err);
}

/* Passive: only check that it exists, which needs no permission (declaring
 * needs the configure permission, which also allows deleting it). */
static bool
declare_exchange(amqp_connection_state_t amqp, const char *name, const char *type,
                 bool passive, qmf_error *err)
{
    amqp_exchange_declare_t declare;
    char what[200];

    memset(&declare, 0, sizeof(declare));
    declare.exchange = a091_bytes_of(name);
    declare.type = a091_bytes_of(type);
    declare.passive = passive;
    declare.durable = 1;
    declare.nowait = 1;
    declare.arguments = amqp_empty_table;
    snprintf(what, sizeof(what), "declaring exchange %s", name);
    return send_nowait(amqp, A091_CONSUME_CHANNEL, AMQP_EXCHANGE_DECLARE_METHOD, &declare,
                       what, err);
}

int
a091_declare_queue(amqp_connection_state_t amqp, amqp_channel_t channel,
                   const struct bus_queue *q, char **name, qmf_error *err)
{
    qmf_value *arguments = bus_queue_arguments(q);
    amqp_table_entry_t *args = qmf_xcalloc(qmf_map_len(arguments) + 1, sizeof(*args));
    amqp_queue_declare_t declare;
    char what[300];
    int n = 0;
    size_t i;
    bool ok;

    if (a091_table_append(arguments, args, &n, err) != 0) {
        free(args);
        qmf_free(arguments);
        return -1;
    }
    memset(&declare, 0, sizeof(declare));
    declare.queue = q->name ? a091_bytes_of(q->name) : amqp_empty_bytes;
    declare.passive = q->passive && q->name != NULL;
    declare.durable = q->durable;
    declare.exclusive = q->exclusive;
    declare.auto_delete = q->auto_delete;
    declare.arguments.num_entries = n;
    declare.arguments.entries = args;
    snprintf(what, sizeof(what), "declaring queue '%s'", q->name ? q->name : "(server-named)");
    if (q->name != NULL) {
        /* Its answer would only repeat the name; a passive declare of a
         * missing queue still fails, at confirm_setup(). */
        declare.nowait = 1;
        ok = send_nowait(amqp, channel, AMQP_QUEUE_DECLARE_METHOD, &declare,
                         what, err);
        *name = qmf_xstrdup(q->name);
    } else {
        /* The broker picks the name and the bindings need it: this one
         * waits, which also confirms everything sent before it. */
        const amqp_queue_declare_ok_t *r =
            amqp_simple_rpc_decoded(amqp, channel, AMQP_QUEUE_DECLARE_METHOD,
                                    AMQP_QUEUE_DECLARE_OK_METHOD, &declare);

        ok = rpc_ok(amqp, r, what, err);
        if (ok)
            *name = qmf_xstrndup(r->queue.bytes, r->queue.len);
    }
    free(args);
    qmf_free(arguments);
    if (!ok)
        return -1;
    for (i = 0; i < q->nbindings; i++) {
        const struct bus_binding *b = &q->bindings[i];
        amqp_queue_bind_t bind;

        memset(&bind, 0, sizeof(bind));
        bind.queue = a091_bytes_of(*name);
        bind.exchange = a091_bytes_of(b->exchange);
        bind.routing_key = a091_bytes_of(b->key);
        bind.nowait = 1;
        bind.arguments = amqp_empty_table;
        snprintf(what, sizeof(what), "binding queue '%s' to '%s' with '%s'", *name,
                 b->exchange, b->key);
        if (!send_nowait(amqp, channel, AMQP_QUEUE_BIND_METHOD, &bind, what, err))
            return -1;
    }
    /* Unbinding what is not bound is fine with RabbitMQ. */
    for (i = 0; i < q->nunbindings; i++) {
        const struct bus_binding *b = &q->unbindings[i];
        amqp_queue_unbind_t unbind;

        memset(&unbind, 0, sizeof(unbind));
        unbind.queue = a091_bytes_of(*name);
        unbind.exchange = a091_bytes_of(b->exchange);
        unbind.routing_key = a091_bytes_of(b->key);
        unbind.arguments = amqp_empty_table;
        snprintf(what, sizeof(what), "unbinding queue '%s' from '%s' with '%s'", *name,
                 b->exchange, b->key);
        if (!send_nowait(amqp, channel, AMQP_QUEUE_UNBIND_METHOD, &unbind, what,
                         err))
            return -1;
    }
    return 0;
}

/*
 * Whether a failed call on the lenient channel was only the broker's
 * refusal, which closed that channel (answered here), not the connection.
 */
static bool
lenient_refused(amqp_connection_state_t amqp)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(amqp);
    amqp_channel_close_ok_t ok;

    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION ||
        r.reply.id != AMQP_CHANNEL_CLOSE_METHOD)
        return false;
    memset(&ok, 0, sizeof(ok));
    return amqp_send_method(amqp, A091_LENIENT_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) ==
           AMQP_STATUS_OK;
}

/* A lenient queue (bus_queue.lenient): synchronous, on its own channel;
 * -1 only when the connection itself failed. */
static int
declare_lenient_queue(amqp_connection_state_t amqp, const struct bus_queue *q, char **name,
                      qmf_error *err)
{
    qmf_value *arguments = bus_queue_arguments(q);
    amqp_table_entry_t *args = qmf_xcalloc(qmf_map_len(arguments) + 1, sizeof(*args));
    amqp_table_t table = { 0, args };
    char what[300];
    bool ok = true;
    size_t i;

    *name = qmf_xstrdup(q->name);
    snprintf(what, sizeof(what), "declaring queue '%s'", q->name);
    if (a091_table_append(arguments, args, &table.num_entries, err) != 0 ||
        !rpc_ok(amqp, amqp_channel_open(amqp, A091_LENIENT_CHANNEL), what, err)) {
        ok = false;
        goto out;
    }
    if (amqp_queue_declare(amqp, A091_LENIENT_CHANNEL, a091_bytes_of(q->name), 0, q->durable,
                           q->exclusive, q->auto_delete, table) == NULL) {
        ok = lenient_refused(amqp);
        goto out;
    }
    for (i = 0; i < q->nbindings; i++) {
        if (amqp_queue_bind(amqp, A091_LENIENT_CHANNEL, a091_bytes_of(q->name),
                            a091_bytes_of(q->bindings[i].exchange),
                            a091_bytes_of(q->bindings[i].key), amqp_empty_table) == NULL) {
            ok = lenient_refused(amqp);
            goto out;
        }
    }
    ok = amqp_channel_close(amqp, A091_LENIENT_CHANNEL, AMQP_REPLY_SUCCESS).reply_type ==
         AMQP_RESPONSE_NORMAL;
out:
    if (!ok && err != NULL && err->code == QMF_OK)
        rpc_ok(amqp, NULL, what, err);
    free(args);
    qmf_free(arguments);
    return ok ? 0 : -1;
}

static bool
is_lenient(const struct bus_queue *q)
{
    return q->lenient && q->name != NULL && !q->passive;
}

/*
 * The lenient queues, once everything else is confirmed: a refusal on
 * channel 1 (a lock held elsewhere) has been read by then, and is not
 * taken for one of theirs.
 */
static int
declare_lenient_queues(amqp_connection_state_t amqp, const struct a091_config *cfg,
                       qmf_error *err)
{
    char *name;
    size_t i;
    int rc = 0;

    for (i = 0; i < cfg->nqueues && rc == 0; i++) {
        if (!is_lenient(&cfg->queues[i]))
            continue;
        rc = declare_lenient_queue(amqp, &cfg->queues[i], &name, err);
        free(name);
    }
    return rc;
}

static int
declare_topology(amqp_connection_state_t amqp, const struct a091_config *cfg,
                 char **names, qmf_error *err)
{
    size_t i;

    if (!declare_exchange(amqp, BUS_EXCHANGE_DIRECT, "direct", cfg->passive_exchanges, err) ||
        !declare_exchange(amqp, BUS_EXCHANGE_TOPIC, "topic", cfg->passive_exchanges, err))
        return -1;
    for (i = 0; i < cfg->nqueues; i++) {
        if (is_lenient(&cfg->queues[i]))
            names[i] = qmf_xstrdup(cfg->queues[i].name);
        else if (a091_declare_queue(amqp, A091_CONSUME_CHANNEL, &cfg->queues[i], &names[i],
                                    err) != 0)
            return -1;
    }
    return 0;
}

int
a091_send_consume(amqp_connection_state_t amqp, const struct a091_sub *s,
                  amqp_channel_t channel, const char *tag, const char *queue, bool nowait,
                  qmf_error *err)
{
    amqp_table_entry_t *entries = qmf_xcalloc(qmf_map_len(s->arguments) + 1,
                                              sizeof(*entries));
    amqp_basic_qos_t qos;
    amqp_basic_consume_t consume;
    char what[300];
    bool ok;

    /* global=false: the prefetch applies to each consumer started after
     * it, so every subscription gets its own window. */
    memset(&qos, 0, sizeof(qos));
    qos.prefetch_count = s->credit;
    memset(&consume, 0, sizeof(consume));
    consume.queue = a091_bytes_of(queue);
    consume.consumer_tag = a091_bytes_of(tag);
    consume.no_ack = s->no_ack;
    consume.nowait = nowait;
    consume.arguments.entries = entries;
    snprintf(what, sizeof(what), "setting prefetch %u for queue '%s'",
             (unsigned)s->credit, queue);
    ok = send_nowait(amqp, channel, AMQP_BASIC_QOS_METHOD, &qos, what, err);
    snprintf(what, sizeof(what), "consuming from queue '%s'", queue);
    ok = ok && a091_table_append(s->arguments, entries, &consume.arguments.num_entries,
                                 err) == 0 &&
         send_nowait(amqp, channel, AMQP_BASIC_CONSUME_METHOD, &consume, what, err);
    free(entries);
    return ok ? 0 : -1;
}

static int
start_consumers(amqp_connection_state_t amqp, const struct a091_config *cfg,
                char **names, qmf_error *err)
{
    size_t i;

    for (i = 0; i < cfg->nsubs; i++) {
        const struct a091_sub *s = &cfg->subs[i];
        char *tag = a091_consumer_tag(i);
        int rc = a091_send_consume(amqp, s, s->channel, tag,
                                   s->by_index ? names[s->queue_index] : s->queue, true, err);

        free(tag);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/*
 * The one answer the pipelined set-up waits for at its end.  The broker
 * handles a channel's methods in order, so the answer to this harmless
 * passive declare means that everything sent before it on channel 1
 * succeeded.  A refused method closed the channel (or the connection)
 * instead, and that close, with the broker's reason, is what this call
 * gets.  Channel 2 is checked the same way only when a consumer lives
 * there; a publish refused later is the loop's business.
 */
static bool
confirm_channel(amqp_connection_state_t amqp, amqp_channel_t channel, qmf_error *err)
{
    return rpc_ok(amqp, amqp_exchange_declare(amqp, channel,
                                              a091_bytes_of(BUS_EXCHANGE_DIRECT),
                                              a091_bytes_of("direct"), 1, 0, 0, 0,
                                              amqp_empty_table),
                  "setting up queues and consumers", err);
}

/* Channel 2 is checked too when a consumer (direct reply-to) lives there. */
static bool
confirm_setup(amqp_connection_state_t amqp, const struct a091_config *cfg, qmf_error *err)
{
    return confirm_channel(amqp, A091_CONSUME_CHANNEL, err) &&
           (!cfg->publish_channel_consumes ||
            confirm_channel(amqp, A091_PUBLISH_CHANNEL, err));
}

amqp_connection_state_t
a091_connect(const struct a091_config *cfg, unsigned timeout_s, char ***names_out,
             qmf_error *err)
{
    amqp_connection_state_t amqp = amqp_new_connection();
    char **names = qmf_xcalloc(cfg->nqueues + 1, sizeof(*names));

    *names_out = NULL;
    if (amqp == NULL) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "cannot allocate an AMQP connection");
        free(names);
        return NULL;
    }
    if (open_socket(amqp, cfg, timeout_s, err) != 0 || login(amqp, cfg, err) != 0) {
        bus_strings_free(names, cfg->nqueues);
        amqp_destroy_connection(amqp);
        return NULL;
    }
    /* Declare before bind before consume: pipelined, they still run in
     * the order sent. */
    if (!open_channels(amqp, err) ||
        declare_topology(amqp, cfg, names, err) != 0 ||
        start_consumers(amqp, cfg, names, err) != 0 ||
        !confirm_setup(amqp, cfg, err) ||
        declare_lenient_queues(amqp, cfg, err) != 0) {
        bus_strings_free(names, cfg->nqueues);
        a091_close_politely(amqp, A091_CLOSE_TIMEOUT_MS);
        return NULL;
    }
    *names_out = names;
    return amqp;
}
