/*
 * AMQP 1.0 connection set-up and goodbye: the options copy every attempt
 * works from, the blocking steps of an attempt (the topology over AMQP
 * 0-9-1, name lookup, TCP and the TLS handshake) that run on a connect
 * thread, the byte stream (TLS or not) the loop reads and writes, and the
 * polite close a goodbye thread or bus_close_wait() performs.
 *
 * TLS is OpenSSL driven here, not proton's pn_ssl: proton 0.37 matches no
 * IP address a certificate names (a broker reached by its address fails),
 * it keeps its SSL_CTX to itself (no X509_VERIFY_PARAM, no first chain
 * error for the message), and the handshake would then run on the loop.
 * With OpenSSL here both transports verify the broker alike
 * (bus/bus_tls.c; docs/TRANSPORTS.md, "AMQP 1.0", "TLS").
 */
#include "bus/amqp10_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <amqp.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <proton/connection.h>

#include "bus/amqp091_int.h"
#include "bus/backend.h"
#include "bus/bus_tls.h"

#define SCHEME_PLAIN "amqp10://"
#define SCHEME_TLS "amqps10://"

/*
 * The 0-9-1 form of a 1.0 URL ("amqp10://" -> "amqp://"): RabbitMQ serves
 * both protocols on one port, and rabbitmq-c's parser reads the rest (user,
 * password and vhost percent-decoded, default ports 5672 and 5671).  NULL
 * for another scheme.
 */
static char *
url_as_091(const char *url)
{
    if (strncmp(url, SCHEME_PLAIN, strlen(SCHEME_PLAIN)) == 0)
        return qmf_xasprintf("amqp://%s", url + strlen(SCHEME_PLAIN));
    if (strncmp(url, SCHEME_TLS, strlen(SCHEME_TLS)) == 0)
        return qmf_xasprintf("amqps://%s", url + strlen(SCHEME_TLS));
    return NULL;
}

static int
parse_url(const char *url, char **url091, char **buf, struct amqp_connection_info *info,
          qmf_error *err)
{
    *url091 = url_as_091(url);
    *buf = NULL;
    if (*url091 != NULL) {
        *buf = qmf_xstrdup(*url091);
        if (amqp_parse_url(*buf, info) == AMQP_STATUS_OK)
            return 0;
    }
    qmf_error_set(err, QMF_ERR_INVALID_ARGS, "bad broker URL (expected "
                  "amqp[s]10://[user[:password]@]host[:port][/vhost])");
    free(*url091);
    free(*buf);
    *url091 = *buf = NULL;
    return -1;
}

int
a10_check_url(const char *url, qmf_error *err)
{
    struct amqp_connection_info info;
    char *url091, *buf;

    if (parse_url(url, &url091, &buf, &info, err) != 0)
        return -1;
    free(url091);
    free(buf);
    return 0;
}

static void
config_free(struct a10_config *cfg)
{
    size_t i;

    for (i = 0; i < cfg->nsubs; i++)
        a10_sub_clear(&cfg->subs[i]);
    free(cfg->subs);
    free(cfg->url091);
    bus_strings_free(cfg->names, cfg->nall);
    free(cfg->named_here);
    a091_config_unref(cfg->declare);
    free(cfg->url);
    free(cfg->shown);
    free(cfg->host);
    free(cfg->user);
    if (cfg->password != NULL)
        OPENSSL_cleanse(cfg->password, strlen(cfg->password));
    free(cfg->password);
    free(cfg->vhost);
    bus_tls_conf_clear(&cfg->tlsconf);
    free(cfg->name);
    free(cfg);
}

/* The consumer arguments a 1.0 receiver can carry: x-stream-offset only
 * (RabbitMQ's source filter "rabbitmq:stream-offset-spec"). */
static int
sub_arguments(struct a10_sub *dst, const struct bus_subscription *src, qmf_error *err)
{
    size_t i;

    for (i = 0; i < qmf_map_len(src->arguments); i++) {
        const struct qmf_pair *pair = qmf_map_at(src->arguments, i);

        if (strcmp(pair->key, "x-stream-offset") != 0) {
            qmf_error_set(err, QMF_ERR_NOT_IMPLEMENTED, "consumer argument '%s' of "
                          "subscription '%s' has no AMQP 1.0 form (only x-stream-offset)",
                          pair->key, src->source);
            return -1;
        }
        if (pair->value->kind != QMF_STRING && !qmf_is_integer(pair->value)) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "x-stream-offset of subscription '%s' is a %s", src->source,
                          qmf_kind_name(pair->value->kind));
            return -1;
        }
        qmf_free(dst->stream_offset);
        dst->stream_offset = qmf_dup(pair->value);
    }
    return 0;
}

void
a10_sub_clear(struct a10_sub *s)
{
    free(s->queue);
    qmf_free(s->stream_offset);
    s->queue = NULL;
    s->stream_offset = NULL;
}

int
a10_sub_copy(struct a10_sub *dst, const struct bus_subscription *src, size_t nqueues,
         qmf_error *err)
{
    const char *source = src->source ? src->source : "";

    memset(dst, 0, sizeof(*dst));
    if (src->receive == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "subscription '%s' has no receive callback", source);
        return -1;
    }
    if (strcmp(source, BUS_DIRECT_REPLY_TO) == 0) {
        if (!src->no_ack) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "subscription '%s' must be no_ack (RabbitMQ's rule)", source);
            return -1;
        }
        /* Our reply queue, appended after the caller's. */
        dst->by_index = true;
        dst->queue_index = nqueues;
        dst->direct_reply = true;
    } else {
        if (bus_source_parse(source, nqueues, &dst->queue, &dst->queue_index, err) != 0)
            return -1;
        dst->by_index = dst->queue == NULL;
    }
    if (sub_arguments(dst, src, err) != 0) {
        free(dst->queue);
        dst->queue = NULL;
        return -1;
    }
    dst->credit = src->credit == 0 ? A10_DEFAULT_CREDIT : src->credit;
    dst->no_ack = src->no_ack;
    dst->receive = src->receive;
    dst->opaque = src->opaque;
    return 0;
}

/* The broker as errors name it: the URL without its password (an EXTERNAL
 * login has its user in the certificate, not the URL). */
static char *
broker_text(const struct a10_config *cfg)
{
    const char *vhost = strcmp(cfg->vhost, "/") == 0 ? "" : cfg->vhost;
    const char *scheme = cfg->tls ? "amqps10" : "amqp10";

    if (cfg->tlsconf.sasl_external)
        return qmf_xasprintf("%s://%s:%d/%s", scheme, cfg->host, cfg->port, vhost);
    return qmf_xasprintf("%s://%s@%s:%d/%s", scheme, cfg->user, cfg->host, cfg->port, vhost);
}

/* A named exclusive queue: a lock, held by the 0-9-1 connection. */
static bool
queue_is_lock(const struct bus_queue *q)
{
    return q->name != NULL && q->exclusive && !q->passive;
}

/*
 * The queues as the 0-9-1 declaration makes them.  A server-named queue
 * (and the stand-in for direct reply-to) is named here at each attempt and
 * declared auto-delete rather than exclusive: an exclusive queue belongs to
 * the connection that declares it, and RabbitMQ's 1.0 plugin declares none,
 * so no 1.0 receiver could ever consume one.  For the same reason a named
 * exclusive queue (a lock) gets such a stand-in, with its bindings, and
 * itself is declared bare, by the connection that holds it.
 */
static void
declare_queues(struct a10_config *cfg, const struct bus_options *opts,
               struct bus_queue *out, qmf_value **args)
{
    size_t i;

    for (i = 0; i < cfg->nall; i++) {
        const struct bus_queue *q = i < opts->nqueues ? &opts->queues[i] : NULL;

        if (q != NULL)
            out[i] = *q;
        else
            memset(&out[i], 0, sizeof(out[i]));
        cfg->named_here[i] = out[i].name == NULL || (q != NULL && queue_is_lock(q));
        if (!cfg->named_here[i]) {
            cfg->names[i] = qmf_xstrdup(out[i].name);
            continue;
        }
        out[i].name = NULL;
        out[i].exclusive = false;
        out[i].auto_delete = true;
        out[i].durable = false;
        out[i].passive = false;
        args[i] = q != NULL && q->arguments != NULL ? qmf_dup(q->arguments) : qmf_map();
        qmf_map_set(args[i], "x-expires", qmf_i64(A10_TEMP_QUEUE_EXPIRES_MS));
        out[i].arguments = args[i];
    }
}

/* The locks, declared first (a connection refused one declares nothing
 * else), bare: what is bound goes to their stand-ins. */
static void
declare_locks(struct a10_config *cfg, const struct bus_options *opts, struct bus_queue *out)
{
    size_t i, n = 0;

    for (i = 0; i < opts->nqueues; i++) {
        if (!queue_is_lock(&opts->queues[i]))
            continue;
        memset(&out[n], 0, sizeof(out[n]));
        out[n].name = opts->queues[i].name;
        out[n].exclusive = true;
        out[n].auto_delete = true;
        n++;
    }
    cfg->nlocks = n;
}

/* A subscription to a lock by its name consumes its stand-in. */
static void
subs_to_stand_ins(struct a10_config *cfg, const struct bus_options *opts)
{
    size_t i, j;

    for (i = 0; i < cfg->nsubs; i++) {
        struct a10_sub *s = &cfg->subs[i];

        for (j = 0; s->queue != NULL && j < opts->nqueues; j++) {
            if (queue_is_lock(&opts->queues[j]) && strcmp(s->queue, opts->queues[j].name) == 0) {
                free(s->queue);
                s->queue = NULL;
                s->by_index = true;
                s->queue_index = j;
            }
        }
    }
}

/* The 0-9-1 connection that declares the topology: the caller's options
 * but for the URL's scheme, the queues, and nothing consumed. */
static struct a091_config *
declare_config(const struct bus_options *opts, const char *url091, struct bus_queue *queues,
               size_t nqueues, qmf_error *err)
{
    struct bus_options o = *opts;
    char *name = opts->name ? qmf_xasprintf("%s (topology)", opts->name) : NULL;
    struct a091_config *d;

    o.url = url091;
    o.name = name;
    o.reconnect = false;
    o.threads = NULL;
    o.subs = NULL;
    o.nsubs = 0;
    o.queues = queues;
    o.nqueues = nqueues;
    d = a091_config_new(&o, err);
    free(name);
    return d;
}

static int
topology_config(struct a10_config *cfg, const struct bus_options *opts, const char *url091,
                qmf_error *err)
{
    struct bus_queue *queues;
    qmf_value **args;
    size_t i, nlocks = 0;

    cfg->nqueues = opts->nqueues;
    cfg->nall = opts->nqueues + (cfg->direct_reply ? 1 : 0);
    cfg->named_here = qmf_xcalloc(cfg->nall + 1, sizeof(*cfg->named_here));
    cfg->names = qmf_xcalloc(cfg->nall + 1, sizeof(*cfg->names));
    /* Nothing to declare, nothing to check: no 0-9-1 at all. */
    if (cfg->nall == 0 && opts->passive_exchanges)
        return 0;
    for (i = 0; i < opts->nqueues; i++)
        nlocks += queue_is_lock(&opts->queues[i]);
    queues = qmf_xcalloc(nlocks + cfg->nall + 1, sizeof(*queues));
    args = qmf_xcalloc(cfg->nall + 1, sizeof(*args));
    declare_locks(cfg, opts, queues);
    declare_queues(cfg, opts, queues + nlocks, args);
    subs_to_stand_ins(cfg, opts);
    cfg->declare = declare_config(opts, url091, queues, nlocks + cfg->nall, err);
    for (i = 0; i < cfg->nall; i++)
        qmf_free(args[i]);
    free(args);
    free(queues);
    return cfg->declare != NULL ? 0 : -1;
}

struct a10_config *
a10_config_new(const struct bus_options *opts, qmf_error *err)
{
    struct a10_config *cfg = qmf_xcalloc(1, sizeof(*cfg));
    struct amqp_connection_info info;
    char *url091 = NULL, *buf = NULL;
    size_t i;

    atomic_init(&cfg->refs, 1);
    cfg->url = qmf_xstrdup(opts->url);
    if (parse_url(opts->url, &url091, &buf, &info, err) != 0) {
        char *shown = bus_url_redact(opts->url);
        qmf_error why = *err;

        qmf_error_set(err, why.code, "broker %s: %s", shown, why.text);
        free(shown);
        goto fail;
    }
    cfg->host = qmf_xstrdup(info.host);
    cfg->port = info.port;
    cfg->user = qmf_xstrdup(info.user);
    cfg->password = qmf_xstrdup(info.password);
    /* "amqp10://host/" means the default vhost, as for 0-9-1. */
    cfg->vhost = qmf_xstrdup(info.vhost[0] != '\0' ? info.vhost : "/");
    cfg->tls = info.ssl;
    cfg->name = opts->name ? qmf_xstrdup(opts->name) : NULL;
    if (bus_tls_conf_init(&cfg->tlsconf, opts, cfg->tls, "amqps10", err) != 0)
        goto fail;
    cfg->shown = broker_text(cfg);
    cfg->heartbeat_s = opts->heartbeat_s ? opts->heartbeat_s : A10_DEFAULT_HEARTBEAT_S;
    cfg->max_body = opts->max_body ? opts->max_body : A10_DEFAULT_MAX_BODY;
    cfg->reconnect = opts->reconnect;
    cfg->backoff_min_ms = opts->reconnect_min_ms ? opts->reconnect_min_ms
                                                 : A10_DEFAULT_BACKOFF_MIN_MS;
    cfg->backoff_max_ms = opts->reconnect_max_ms ? opts->reconnect_max_ms
                                                 : A10_DEFAULT_BACKOFF_MAX_MS;
    cfg->threads = opts->threads;
    if (opts->nsubs > 0) {
        cfg->subs = qmf_xcalloc(opts->nsubs, sizeof(*cfg->subs));
        for (i = 0; i < opts->nsubs; i++) {
            if (a10_sub_copy(&cfg->subs[i], &opts->subs[i], opts->nqueues, err) != 0)
                goto fail;
            cfg->nsubs++;
            if (cfg->subs[i].direct_reply) {
                if (cfg->direct_reply) {
                    qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                                  "direct reply-to is subscribed twice");
                    goto fail;
                }
                cfg->direct_reply = true;
            }
        }
    }
    if (topology_config(cfg, opts, url091, err) != 0)
        goto fail;
    cfg->url091 = url091;
    cfg->passive_exchanges = opts->passive_exchanges;
    free(buf);
    return cfg;

fail:
    free(url091);
    free(buf);
    config_free(cfg);
    return NULL;
}

struct a10_config *
a10_config_ref(struct a10_config *cfg)
{
    atomic_fetch_add(&cfg->refs, 1);
    return cfg;
}

void
a10_config_unref(struct a10_config *cfg)
{
    if (cfg != NULL && atomic_fetch_sub(&cfg->refs, 1) == 1)
        config_free(cfg);
}

/* Connect thread --------------------------------------------------------- */

/*
 * The broker user this attempt logs in as, as RabbitMQ will name it: the
 * URL's for PLAIN; for EXTERNAL the common name of the client certificate
 * (RabbitMQ's ssl_cert_login_from = common_name, which the accounts of
 * `virtbus broker-setup` assume).  Reads the certificate: connect thread.
 */
static char *
login_user(const struct a10_config *cfg, qmf_error *err)
{
    X509 *cert = NULL;
    X509_NAME *subject;
    unsigned char *utf8 = NULL;
    char *user = NULL;
    FILE *fp;
    int at, len;

    if (!cfg->tlsconf.sasl_external)
        return qmf_xstrdup(cfg->user);
    if ((fp = fopen(cfg->tlsconf.cert, "r")) != NULL) {
        cert = PEM_read_X509(fp, NULL, NULL, NULL);
        fclose(fp);
    }
    subject = cert ? X509_get_subject_name(cert) : NULL;
    at = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
    if (at >= 0 && (len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
                        X509_NAME_get_entry(subject, at)))) >= 0)
        user = qmf_xstrndup((const char *)utf8, (size_t)len);
    if (user == NULL)
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", cfg->tlsconf.cert,
                      cert ? "the certificate has no common name to log in as"
                           : "cannot read the client certificate");
    OPENSSL_free(utf8);
    X509_free(cert);
    ERR_clear_error();
    return user;
}

/* A stand-in's name, new at each attempt: the account's (bus.h). */
static char *
temp_queue_name(const char *user)
{
    unsigned char r[BUS_TEMP_QUEUE_HEX / 2];
    char hex[sizeof(r) * 2 + 1];
    size_t i;

    if (RAND_bytes(r, sizeof(r)) != 1)
        abort();    /* only out of entropy, which Linux never is */
    for (i = 0; i < sizeof(r); i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    return qmf_xasprintf(A10_TEMP_QUEUE_PREFIX "%s.%s", user, hex);
}

/* The names of this attempt's queues, the stand-ins new. */
static int
attempt_names(const struct a10_config *cfg, char **names, qmf_error *err)
{
    char *login = NULL, *user = NULL;
    size_t i;

    for (i = 0; i < cfg->nall; i++) {
        if (!cfg->named_here[i]) {
            names[i] = qmf_xstrdup(cfg->names[i]);
            continue;
        }
        if (user == NULL) {
            if ((login = login_user(cfg, err)) == NULL)
                return -1;
            if ((user = bus_temp_queue_user(login)) == NULL) {
                qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the broker user name is too long "
                              "to name a queue of its own (%d bytes at most)",
                              BUS_TEMP_QUEUE_USER_MAX);
                free(login);
                return -1;
            }
            free(login);
        }
        names[i] = temp_queue_name(user);
    }
    free(user);
    return 0;
}

/* The 0-9-1 options of this attempt: the queues named here get their
 * names (and stay not exclusive, which a server-named queue would be). */
static struct a091_config *
attempt_declare_config(const struct a10_config *cfg, char **names, qmf_error *err)
{
    const struct a091_config *d = cfg->declare;
    struct bus_queue *queues;
    struct bus_options o;
    struct a091_config *out;
    size_t i;
    bool renamed = false;

    for (i = 0; i < cfg->nall; i++)
        renamed |= cfg->named_here[i];
    if (!renamed)
        return a091_config_ref(cfg->declare);
    queues = qmf_xcalloc(d->nqueues + 1, sizeof(*queues));
    for (i = 0; i < d->nqueues; i++) {
        queues[i] = d->queues[i];
        if (i >= cfg->nlocks && cfg->named_here[i - cfg->nlocks]) {
            queues[i].name = names[i - cfg->nlocks];
            queues[i].exclusive = false;
        }
    }
    memset(&o, 0, sizeof(o));
    o.url = d->url;
    o.tls.ca = d->tls.ca;
    o.tls.cert = d->tls.cert;
    o.tls.key = d->tls.key;
    o.tls.no_verify_hostname = !d->tls.verify_hostname;
    o.sasl = d->tls.sasl_external ? BUS_SASL_EXTERNAL : BUS_SASL_PLAIN;
    o.name = d->name;
    /* A lock connection lives as long as the 1.0 one, with heartbeats. */
    o.heartbeat_s = d->heartbeat_s;
    o.passive_exchanges = d->passive_exchanges;
    o.queues = queues;
    o.nqueues = d->nqueues;
    out = a091_config_new(&o, err);
    free(queues);
    return out;
}

/* Declares (or checks) the exchanges and queues over AMQP 0-9-1, with a
 * connection that ends before the 1.0 one starts, unless it holds locks:
 * then it is *lock. */
static int
declare_topology(const struct a10_config *cfg, char **names, amqp_connection_state_t *lock,
                 qmf_error *err)
{
    struct a091_config *d = attempt_declare_config(cfg, names, err);
    amqp_connection_state_t amqp;
    char **declared = NULL;

    if (d == NULL)
        return -1;
    amqp = a091_connect(d, A091_CONNECT_TIMEOUT_S, &declared, err);
    if (amqp != NULL) {
        bus_strings_free(declared, d->nqueues);
        if (cfg->nlocks > 0)
            *lock = amqp;
        else
            a091_close_politely(amqp, A091_CLOSE_TIMEOUT_MS);
    } else if (err != NULL) {
        qmf_error why = *err;

        qmf_error_set(err, why.code, "declaring the topology over AMQP 0-9-1: %s", why.text);
    }
    a091_config_unref(d);
    return amqp != NULL ? 0 : -1;
}

int
a10_declare_late(const struct a10_config *cfg, const struct bus_queue *queues, size_t nqueues,
                 qmf_error *err)
{
    char *name = qmf_xasprintf("%s (topology)", cfg->name ? cfg->name : "virtbus");
    struct bus_options o;
    struct a091_config *d;
    amqp_connection_state_t amqp = NULL;
    char **declared = NULL;

    memset(&o, 0, sizeof(o));
    o.url = cfg->url091;
    o.tls.ca = cfg->tlsconf.ca;
    o.tls.cert = cfg->tlsconf.cert;
    o.tls.key = cfg->tlsconf.key;
    o.tls.no_verify_hostname = !cfg->tlsconf.verify_hostname;
    o.sasl = cfg->tlsconf.sasl_external ? BUS_SASL_EXTERNAL : BUS_SASL_PLAIN;
    o.name = name;
    o.heartbeat_s = cfg->heartbeat_s;
    o.passive_exchanges = cfg->passive_exchanges;
    o.queues = queues;
    o.nqueues = nqueues;
    d = a091_config_new(&o, err);
    free(name);
    if (d != NULL)
        amqp = a091_connect(d, A091_CONNECT_TIMEOUT_S, &declared, err);
    if (amqp != NULL) {
        bus_strings_free(declared, d->nqueues);
        a091_close_politely(amqp, A091_CLOSE_TIMEOUT_MS);
    } else if (err != NULL) {
        qmf_error why = *err;

        qmf_error_set(err, why.code, "declaring over AMQP 0-9-1: %s", why.text);
    }
    a091_config_unref(d);
    return amqp != NULL ? 0 : -1;
}

struct lock_goodbye {
    amqp_connection_state_t amqp;
    struct bus_threads *threads;
};

static void *
lock_goodbye_main(void *arg)
{
    struct lock_goodbye *g = arg;

    a091_close_politely(g->amqp, A091_CLOSE_TIMEOUT_MS);
    OPENSSL_thread_stop();
    bus_threads_leave(g->threads);
    free(g);
    return NULL;
}

void
a10_lock_release(amqp_connection_state_t lock, struct bus_threads *threads, unsigned wait_ms)
{
    struct lock_goodbye *g;

    if (lock == NULL)
        return;
    if (wait_ms > 0) {
        a091_close_politely(lock, wait_ms);
        return;
    }
    g = qmf_xmalloc(sizeof(*g));
    g->amqp = lock;
    g->threads = threads;
    bus_threads_enter(threads);
    if (bus_thread_start(lock_goodbye_main, g) != 0) {
        /* No thread: the socket closes, and the broker frees the locks. */
        bus_threads_leave(threads);
        amqp_destroy_connection(lock);
        free(g);
    }
}

static uint64_t
ms_left(uint64_t deadline_ns)
{
    uint64_t now = bus_now_ns();

    return now >= deadline_ns ? 0 : (deadline_ns - now) / 1000000 + 1;
}

/* Waits (bounded) until fd is ready for events; false on timeout. */
static bool
wait_fd(int fd, short events, uint64_t deadline_ns)
{
    struct pollfd p = { .fd = fd, .events = events };
    uint64_t left;
    int rc;

    while ((left = ms_left(deadline_ns)) > 0) {
        rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return true;    /* the next call on fd says what is wrong */
    }
    return false;
}

static int
tcp_connect(const struct a10_config *cfg, uint64_t deadline_ns, qmf_error *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    char port[16];
    int fd = -1, rc, saved = ETIMEDOUT, one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", cfg->port);
    rc = getaddrinfo(cfg->host, port, &hints, &res);
    if (rc != 0) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "cannot connect to %s: %s", cfg->shown,
                      gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        socklen_t len = sizeof(saved);

        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline_ns) &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &saved, &len) == 0 && saved == 0)
            break;
        if (errno != EINPROGRESS)
            saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "cannot connect to %s: %s", cfg->shown,
                      strerror(saved));
        return -1;
    }
    /* Requests and answers are small: no Nagle delay. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static bool
is_address(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* The TLS handshake on fd, verified as bus/bus_tls.c says. */
static SSL *
tls_handshake(const struct a10_config *cfg, int fd, uint64_t deadline_ns, qmf_error *err)
{
    struct bus_tls_check check = { 0 };
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    int rc;

    if (ctx == NULL) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "TLS: cannot create a context: %s",
                      bus_tls_reason());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* The loop writes from proton's buffer, which moves between calls. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (bus_tls_setup(ctx, cfg->host, &cfg->tlsconf, &check, err) != 0)
        goto fail;
    if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
        (!is_address(cfg->host) && SSL_set_tlsext_host_name(ssl, cfg->host) != 1)) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "TLS: cannot create a session: %s",
                      bus_tls_reason());
        goto fail;
    }
    ERR_clear_error();
    while ((rc = SSL_connect(ssl)) != 1) {
        int e = SSL_get_error(ssl, rc);

        if ((e == SSL_ERROR_WANT_READ && wait_fd(fd, POLLIN, deadline_ns)) ||
            (e == SSL_ERROR_WANT_WRITE && wait_fd(fd, POLLOUT, deadline_ns)))
            continue;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            qmf_error_set(err, QMF_ERR_TRANSPORT, "TLS: no handshake within %d s "
                          "connecting to %s", A10_CONNECT_TIMEOUT_S, cfg->shown);
        else if (check.error != X509_V_OK)
            bus_tls_verify_error(&check, cfg->host, cfg->shown, err);
        else
            bus_tls_handshake_error(cfg->shown, err);
        goto fail;
    }
    /* The mode is SSL_VERIFY_NONE (bus_tls_setup): the verdict is ours. */
    if (SSL_get_verify_result(ssl) != X509_V_OK || SSL_get0_peer_certificate(ssl) == NULL) {
        if (check.error == X509_V_OK)
            check.error = (int)SSL_get_verify_result(ssl);
        bus_tls_verify_error(&check, cfg->host, cfg->shown, err);
        goto fail;
    }
    bus_tls_forget(ctx);
    SSL_CTX_free(ctx);      /* the session holds its own reference */
    return ssl;

fail:
    bus_tls_forget(ctx);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return NULL;
}

int
a10_connect(const struct a10_config *cfg, amqp_connection_state_t stale_lock,
            struct a10_wire *w, char ***names_out, amqp_connection_state_t *lock,
            qmf_error *err)
{
    uint64_t deadline = bus_now_ns() + (uint64_t)A10_CONNECT_TIMEOUT_S * 1000000000u;
    char **names = qmf_xcalloc(cfg->nall + 1, sizeof(*names));

    *names_out = NULL;
    *lock = NULL;
    w->fd = -1;
    w->ssl = NULL;
    /* Our own locks, from the connection before, must be free first. */
    a10_lock_release(stale_lock, NULL, A091_CLOSE_TIMEOUT_MS);
    if (attempt_names(cfg, names, err) != 0 ||
        (cfg->declare != NULL && declare_topology(cfg, names, lock, err) != 0) ||
        (w->fd = tcp_connect(cfg, deadline, err)) < 0)
        goto fail;
    if (cfg->tls && (w->ssl = tls_handshake(cfg, w->fd, deadline, err)) == NULL)
        goto fail;
    *names_out = names;
    return 0;

fail:
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    a10_lock_release(*lock, NULL, A091_CLOSE_TIMEOUT_MS);
    *lock = NULL;
    bus_strings_free(names, cfg->nall);
    return -1;
}

/* The byte stream ---------------------------------------------------------- */

static ssize_t
socket_result(ssize_t n, short dir, short *want, char *why, size_t whysize)
{
    if (n > 0)
        return n;
    if (n == 0 && dir == EV_READ)
        return A10_IO_EOF;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        *want = dir;
        return A10_IO_AGAIN;
    }
    snprintf(why, whysize, "%s", n < 0 ? strerror(errno) : "no progress");
    return A10_IO_ERROR;
}

static ssize_t
tls_result(struct a10_wire *w, int n, short *want, char *why, size_t whysize)
{
    int e;
    unsigned long reason;

    if (n > 0)
        return n;
    e = SSL_get_error(w->ssl, n);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want = EV_READ;
        return A10_IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        *want = EV_WRITE;
        return A10_IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return A10_IO_EOF;
    case SSL_ERROR_SYSCALL:
        if (errno == 0) {
            ERR_clear_error();
            return A10_IO_EOF;
        }
        snprintf(why, whysize, "TLS: %s", strerror(errno));
        ERR_clear_error();
        return A10_IO_ERROR;
    default:
        reason = ERR_peek_last_error();
        /* A peer that hangs up without close_notify (OpenSSL 3). */
        if (ERR_GET_REASON(reason) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            return A10_IO_EOF;
        }
        snprintf(why, whysize, "TLS: %s", bus_tls_reason());
        return A10_IO_ERROR;
    }
}

ssize_t
a10_wire_read(struct a10_wire *w, void *buf, size_t n, short *want, char *why,
              size_t whysize)
{
    if (w->ssl == NULL)
        return socket_result(recv(w->fd, buf, n, 0), EV_READ, want, why, whysize);
    ERR_clear_error();
    return tls_result(w, SSL_read(w->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n), want,
                      why, whysize);
}

ssize_t
a10_wire_write(struct a10_wire *w, const void *buf, size_t n, short *want, char *why,
               size_t whysize)
{
    if (w->ssl == NULL)
        return socket_result(send(w->fd, buf, n, MSG_NOSIGNAL), EV_WRITE, want, why, whysize);
    ERR_clear_error();
    return tls_result(w, SSL_write(w->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n), want,
                      why, whysize);
}

void
a10_wire_close(struct a10_wire *w)
{
    if (w->ssl != NULL) {
        /* One try at close_notify: the socket may be gone already. */
        SSL_shutdown(w->ssl);
        ERR_clear_error();
        SSL_free(w->ssl);
        w->ssl = NULL;
    }
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

/* Goodbye ---------------------------------------------------------------- */

int
a10_drive_write(pn_connection_driver_t *d, struct a10_wire *w, short *want)
{
    char why[200];
    pn_bytes_t out;
    ssize_t n;

    while ((out = pn_connection_driver_write_buffer(d)).size > 0) {
        n = a10_wire_write(w, out.start, out.size, want, why, sizeof(why));
        if (n > 0) {
            pn_connection_driver_write_done(d, (size_t)n);
            continue;
        }
        if (n == A10_IO_AGAIN)
            return A10_IO_AGAIN;
        pn_connection_driver_errorf(d, "virtbus:io", "writing to the broker: %s", why);
        pn_connection_driver_close(d);
        return A10_IO_ERROR;
    }
    return 0;
}

int
a10_drive_read(pn_connection_driver_t *d, struct a10_wire *w, int budget, short *want)
{
    char why[200];
    pn_rwbytes_t in;
    ssize_t n;

    while (budget-- > 0 && !pn_connection_driver_read_closed(d) &&
           (in = pn_connection_driver_read_buffer(d)).size > 0) {
        n = a10_wire_read(w, in.start, in.size, want, why, sizeof(why));
        if (n > 0) {
            pn_connection_driver_read_done(d, (size_t)n);
            continue;
        }
        if (n == A10_IO_AGAIN)
            return A10_IO_AGAIN;
        if (n == A10_IO_ERROR)
            pn_connection_driver_errorf(d, "virtbus:io", "reading from the broker: %s", why);
        pn_connection_driver_read_close(d);
        return (int)n;
    }
    return 0;
}

void
a10_goodbye(pn_connection_driver_t *d, struct a10_wire *w, unsigned timeout_ms)
{
    uint64_t deadline = bus_now_ns() + (uint64_t)timeout_ms * 1000000u;
    pn_connection_t *conn = d->connection;

    /* Until the broker's close comes back it is still ending the sessions;
     * a socket closed before that is logged as an abrupt disconnect. */
    if (conn != NULL && !(pn_connection_state(conn) & PN_LOCAL_CLOSED))
        pn_connection_close(conn);
    while (!pn_connection_driver_finished(d)) {
        struct pollfd p = { .fd = w->fd };
        short want_write = 0, want_read = 0;
        uint64_t left;

        while (pn_connection_driver_next_event(d) != NULL)
            ;
        if (conn != NULL && (pn_connection_state(conn) & PN_REMOTE_CLOSED) &&
            pn_connection_driver_write_buffer(d).size == 0)
            break;      /* both closes went: the rest is the broker's hang-up */
        if (a10_drive_write(d, w, &want_write) == A10_IO_ERROR)
            break;
        a10_drive_read(d, w, INT32_MAX, &want_read);
        if (pn_connection_driver_has_event(d))
            continue;
        if ((left = ms_left(deadline)) == 0 || w->fd < 0)
            break;
        if (!pn_connection_driver_read_closed(d) || want_read == EV_READ)
            p.events |= POLLIN;
        if (pn_connection_driver_write_buffer(d).size > 0 || want_write == EV_WRITE ||
            want_read == EV_WRITE)
            p.events |= POLLOUT;
        if (p.events == 0 || poll(&p, 1, left > 60000 ? 60000 : (int)left) < 0) {
            if (errno != EINTR)
                break;
        }
    }
    a10_wire_close(w);
    pn_connection_driver_destroy(d);
}
