/*
 * The bus's generic layer: picks the transport by URL scheme, turns a
 * missing entry point into one "not supported" error, and holds what every
 * backend shares (messages, addresses, routing-key escaping).
 */
#include "bus/bus.h"
#include "bus/backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include <proton/error.h>

#include "core/codec.h"

/* Every transport this build knows, in lookup order. */
static const struct bus_driver *const bus_drivers[] = {
    &bus_amqp091_driver,
    &bus_amqp10_driver,
};

static const struct bus_driver *
conn_driver(struct bus_conn *c)
{
    return ((const struct bus_conn_base *)c)->driver;
}

static const struct bus_driver *
delivery_driver(struct bus_delivery *d)
{
    return ((const struct bus_delivery_base *)d)->driver;
}

const struct bus_driver *
bus_driver_for_url(const char *url)
{
    const char *sep;
    size_t len, i;

    if (url == NULL || (sep = strstr(url, "://")) == NULL)
        return NULL;
    len = (size_t)(sep - url);
    for (i = 0; i < sizeof(bus_drivers) / sizeof(bus_drivers[0]); i++) {
        const char *const *scheme;

        for (scheme = bus_drivers[i]->schemes; *scheme != NULL; scheme++) {
            if (strlen(*scheme) == len && strncmp(*scheme, url, len) == 0)
                return bus_drivers[i];
        }
    }
    return NULL;
}

/* "user:pa" of "amqp://user:pa/ss@host/": an authority without '@' whose
 * ':' is followed by something other than a port. */
static bool
cut_short_userinfo(const char *start, const char *end)
{
    const char *colon = memchr(start, ':', (size_t)(end - start));

    if (colon == NULL || *start == '[')
        return false;       /* a host, or an IPv6 literal */
    return colon + 1 == end || strspn(colon + 1, "0123456789") < (size_t)(end - colon - 1);
}

/*
 * RFC 3986: the authority follows "://" and ends at the first '/', '?' or
 * '#'; its userinfo ends at the last '@' and the password starts at the
 * first ':' of it.  A password with a raw '/', '?' or '#' (not
 * percent-encoded) ends the authority early: when what is left of it
 * cannot be host:port, an '@' further on marks the end of the userinfo,
 * so that none of the password shows.
 */
static char *
redact_one(const char *url)
{
    const char *start, *end, *at = NULL, *colon, *p;
    char *out;

    start = strstr(url, "://");
    start = start ? start + 3 : url;
    end = start + strcspn(start, "/?#");
    for (p = start; p < end; p++)
        if (*p == '@')
            at = p;
    if (at == NULL && cut_short_userinfo(start, end))
        at = strrchr(end, '@');
    if (at == NULL)
        return qmf_xstrdup(url);
    colon = memchr(start, ':', (size_t)(at - start));
    if (colon == NULL)
        return qmf_xstrdup(url);
    out = qmf_xmalloc(strlen(url) + 1);
    memcpy(out, url, (size_t)(colon - url));
    strcpy(out + (colon - url), at);
    return out;
}

char **
bus_url_split(const char *urls, size_t *n)
{
    char **v = NULL;
    const char *p = urls;
    size_t len;

    *n = 0;
    for (;;) {
        p += strspn(p, BUS_URL_SEPARATORS);
        if (*p == '\0')
            break;
        len = strcspn(p, BUS_URL_SEPARATORS);
        v = qmf_xrealloc(v, (*n + 1) * sizeof(*v));
        v[*n] = qmf_xstrndup(p, len);
        (*n)++;
        p += len;
    }
    return v;
}

void
bus_url_list_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char *
bus_url_list_join(const qmf_value *v, const char **why)
{
    size_t n = v->kind == QMF_LIST ? qmf_list_len(v) : 1, i, len = 0;
    const char *one;
    char *out = NULL;

    if (n == 0) {
        *why = "must name at least one broker";
        return NULL;
    }
    for (i = 0; i < n; i++) {
        one = qmf_as_string(v->kind == QMF_LIST ? qmf_list_at(v, i) : v);
        if (*one == '\0' || one[strcspn(one, BUS_URL_SEPARATORS)] != '\0') {
            *why = *one == '\0' ? "must not be empty"
                                 : "a URL holds no white space (encode it as %20)";
            free(out);
            return NULL;
        }
        out = qmf_xrealloc(out, len + strlen(one) + 2);
        len += (size_t)sprintf(out + len, "%s%s", i ? " " : "", one);
    }
    return out;
}

char *
bus_url_redact(const char *url)
{
    char **v, *out, *one;
    size_t n, i, len = 0;

    if (url == NULL)
        return NULL;
    if (url[strcspn(url, BUS_URL_SEPARATORS)] == '\0')
        return redact_one(url);
    v = bus_url_split(url, &n);
    out = qmf_xstrdup("");
    for (i = 0; i < n; i++) {
        one = redact_one(v[i]);
        out = qmf_xrealloc(out, len + strlen(one) + 2);
        len += (size_t)sprintf(out + len, "%s%s", i ? " " : "", one);
        free(one);
    }
    bus_url_list_free(v, n);
    return out;
}

/* One URL of a list. */
static int
url_check_one(const char *url, qmf_error *err)
{
    const struct bus_driver *drv = bus_driver_for_url(url);

    char *shown;
    int rc;

    if (drv == NULL) {
        shown = bus_url_redact(url);
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "no transport serves the scheme of broker %s "
                      "(amqp://, amqps://, amqp10:// or amqps10://)",
                      shown);
        free(shown);
        return -1;
    }
    if (drv->check_url == NULL || (rc = drv->check_url(url, err)) == 0)
        return 0;
    /* The driver says what is wrong; which URL it was, without its password. */
    if (err != NULL) {
        qmf_error why = *err;

        shown = bus_url_redact(url);
        qmf_error_set(err, why.code, "broker %s: %s", shown, why.text);
        free(shown);
    }
    return rc;
}

int
bus_url_check(const char *url, qmf_error *err)
{
    char **v;
    size_t n, i;
    int rc = 0;

    v = bus_url_split(url != NULL ? url : "", &n);
    if (n == 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "no broker URL");
        rc = -1;
    }
    for (i = 0; i < n && rc == 0; i++) {
        rc = url_check_one(v[i], err);
        /* One connection goes through the list: one transport for all. */
        if (rc == 0 && bus_driver_for_url(v[i]) != bus_driver_for_url(v[0])) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "the brokers of a list must share one transport "
                          "(URL %zu of %zu has another scheme)", i + 1, n);
            rc = -1;
        }
    }
    bus_url_list_free(v, n);
    return rc;
}

int
bus_open(struct bus_conn **out, struct event_base *base,
         const struct bus_options *opts, const struct bus_handlers *h,
         void *opaque, qmf_error *err)
{
    const struct bus_driver *drv;

    *out = NULL;
    if (base == NULL || opts == NULL || opts->url == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "bus_open needs a loop and a URL");
        return -1;
    }
    drv = bus_driver_for_url(opts->url + strspn(opts->url, BUS_URL_SEPARATORS));
    if (drv == NULL) {
        char *shown = bus_url_redact(opts->url);

        qmf_error_set(err, QMF_ERR_NOT_IMPLEMENTED,
                      "no transport serves the URL scheme of '%s'", shown);
        free(shown);
        return -1;
    }
    if (drv->open == NULL) {
        qmf_error_set(err, QMF_ERR_NOT_IMPLEMENTED, "open not supported by %s",
                      drv->name);
        return -1;
    }
    return drv->open(out, base, opts, h, opaque, err);
}

const char *
bus_broker(struct bus_conn *c)
{
    if (c == NULL || conn_driver(c)->broker == NULL)
        return "";
    return conn_driver(c)->broker(c);
}

int
bus_publish(struct bus_conn *c, const char *address,
            const struct bus_message *m, bus_confirm_cb confirm,
            void *opaque, qmf_error *err)
{
    const struct bus_driver *drv;

    if (c == NULL) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "no broker connection");
        return -1;
    }
    drv = conn_driver(c);
    if (drv->publish == NULL) {
        qmf_error_set(err, QMF_ERR_NOT_IMPLEMENTED, "publish not supported by %s",
                      drv->name);
        return -1;
    }
    return drv->publish(c, address, m, confirm, opaque, err);
}

int
bus_ack(struct bus_delivery *d)
{
    if (d == NULL || delivery_driver(d)->ack == NULL)
        return -1;
    return delivery_driver(d)->ack(d);
}

qmf_value *
bus_take_body(struct bus_delivery *d)
{
    /* Every backend's delivery starts with its bus_held. */
    struct bus_message *m = d ? ((struct bus_held *)d)->msg : NULL;
    qmf_value *body = m ? m->body : NULL;

    if (m != NULL)
        m->body = NULL;
    return body;
}

int
bus_reject(struct bus_delivery *d, bool requeue)
{
    if (d == NULL || delivery_driver(d)->reject == NULL)
        return -1;
    return delivery_driver(d)->reject(d, requeue);
}

int
bus_pause(struct bus_conn *c)
{
    if (c == NULL || conn_driver(c)->pause == NULL)
        return -1;
    return conn_driver(c)->pause(c);
}

/* Whether the entry point `what` of c's driver exists: false, with err
 * saying so, for no connection or no such entry. */
static bool
entry_exists(struct bus_conn *c, bool has_entry, const char *what, qmf_error *err)
{
    if (c == NULL) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "no broker connection");
        return false;
    }
    if (!has_entry)
        qmf_error_set(err, QMF_ERR_NOT_IMPLEMENTED, "%s not supported by %s", what,
                      conn_driver(c)->name);
    return has_entry;
}

/* What no transport can declare late: nothing, or a queue the broker is
 * to name (the name would come back only to the declaring channel). */
static int
late_queues_named(const struct bus_queue *queues, size_t nqueues, qmf_error *err)
{
    size_t i;

    for (i = 0; i < nqueues; i++) {
        if (queues[i].name == NULL) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "a late declaration needs named queues");
            return -1;
        }
    }
    return 0;
}

int
bus_declare(struct bus_conn *c, const struct bus_queue *queues, size_t nqueues,
            bus_done_cb done, void *opaque, qmf_error *err)
{
    if (!entry_exists(c, c != NULL && conn_driver(c)->declare != NULL, "declare", err))
        return -1;
    if (nqueues == 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "a declaration of no queue");
        return -1;
    }
    if (late_queues_named(queues, nqueues, err) != 0)
        return -1;
    return conn_driver(c)->declare(c, queues, nqueues, done, opaque, err);
}

int
bus_subscribe(struct bus_conn *c, const struct bus_queue *queue,
              const struct bus_subscription *sub, bus_done_cb started, struct bus_sub **out,
              qmf_error *err)
{
    *out = NULL;
    if (!entry_exists(c, c != NULL && conn_driver(c)->subscribe != NULL, "subscribe", err) ||
        late_queues_named(queue, queue != NULL ? 1 : 0, err) != 0)
        return -1;
    return conn_driver(c)->subscribe(c, queue, sub, started, out, err);
}

void
bus_unsubscribe(struct bus_sub *s)
{
    const struct bus_driver *drv = s != NULL ? ((struct bus_sub_base *)s)->driver : NULL;

    if (drv != NULL && drv->unsubscribe != NULL)
        drv->unsubscribe(s);
}

void
bus_close(struct bus_conn *c)
{
    if (c != NULL && conn_driver(c)->close != NULL)
        conn_driver(c)->close(c);
}

void
bus_close_wait(struct bus_conn *c, unsigned timeout_ms)
{
    if (c != NULL && conn_driver(c)->close_wait != NULL)
        conn_driver(c)->close_wait(c, timeout_ms);
    else
        bus_close(c);
}

/* Messages ----------------------------------------------------------------- */

struct bus_message *
bus_message_new(void)
{
    struct bus_message *m = qmf_xcalloc(1, sizeof(*m));

    m->headers = qmf_map();
    return m;
}

static char *
strdup_or_null(const char *s)
{
    return s ? qmf_xstrdup(s) : NULL;
}

struct bus_message *
bus_message_dup(const struct bus_message *m)
{
    struct bus_message *c = qmf_xcalloc(1, sizeof(*c));

    c->subject = strdup_or_null(m->subject);
    c->message_id = strdup_or_null(m->message_id);
    c->correlation_id = strdup_or_null(m->correlation_id);
    c->reply_to = strdup_or_null(m->reply_to);
    c->user_id = strdup_or_null(m->user_id);
    c->ttl_ms = m->ttl_ms;
    c->created_ms = m->created_ms;
    c->durable = m->durable;
    c->receiver_expires = m->receiver_expires;
    c->unconfirmed = m->unconfirmed;
    c->encoding = m->encoding;
    c->amqp10 = m->amqp10;
    c->body_absent = m->body_absent;
    c->headers = m->headers ? qmf_dup(m->headers) : qmf_map();
    c->body = qmf_dup(m->body);
    c->body_error = m->body_error;
    if (m->raw_body) {
        c->raw_body = qmf_xmalloc(m->raw_len + 1);
        memcpy(c->raw_body, m->raw_body, m->raw_len);
        c->raw_len = m->raw_len;
    }
    c->raw_content_type = strdup_or_null(m->raw_content_type);
    memcpy(c->body_sha256, m->body_sha256, sizeof(c->body_sha256));
    c->has_body_sha256 = m->has_body_sha256;
    return c;
}

int
bus_encoding_from_name(const char *name, enum bus_encoding *out)
{
    if (strcmp(name, "json") == 0)
        *out = BUS_ENCODING_JSON;
    else if (strcmp(name, "amqp") == 0)
        *out = BUS_ENCODING_AMQP;
    else
        return -1;
    return 0;
}

int
bus_body_encode(const qmf_value *body, enum bus_encoding encoding, char **buf, size_t *len,
                const char **content_type, qmf_error *err)
{
    static const qmf_value empty_map = { .kind = QMF_MAP };
    int rc;

    if (body == NULL)
        body = &empty_map;
    if (encoding == BUS_ENCODING_AMQP) {
        if ((rc = qmf_to_amqp(body, buf, len)) != 0) {
            qmf_error_set(err, rc == PN_OUT_OF_MEMORY ? QMF_ERR_TOO_LARGE : QMF_ERR_INVALID_ARGS,
                          "the body cannot be written as AMQP (%s)", pn_code(rc));
            return -1;
        }
        *content_type = body->kind == QMF_LIST ? BUS_CONTENT_AMQP_LIST : BUS_CONTENT_AMQP_MAP;
        return 0;
    }
    if ((*buf = qmf_to_json(body, len)) == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the body cannot be written as JSON");
        return -1;
    }
    *content_type = BUS_CONTENT_JSON;
    return 0;
}

int
bus_message_encode(struct bus_message *m, qmf_error *err)
{
    const char *content_type;

    if (m->raw_body != NULL)
        return 0;
    if (bus_body_encode(m->body, m->encoding, &m->raw_body, &m->raw_len, &content_type, err) != 0)
        return -1;
    free(m->raw_content_type);
    m->raw_content_type = qmf_xstrdup(content_type);
    return 0;
}

/* The media type without parameters ("application/json; charset=utf-8"). */
static bool
content_type_is(const char *content_type, const char *want)
{
    size_t len = strcspn(content_type, "; \t");

    return len == strlen(want) && strncasecmp(content_type, want, len) == 0;
}

bool
bus_content_type_is_amqp(const char *content_type)
{
    return content_type != NULL && (content_type_is(content_type, BUS_CONTENT_AMQP_LIST) ||
                                    content_type_is(content_type, BUS_CONTENT_AMQP_MAP));
}

void
bus_body_decode(struct bus_message *m, const char *content_type, const char *body, size_t len)
{
    bool is_list;
    qmf_error err;

    qmf_error_clear(&err);
    if (len == 0) {
        /* A request without a body is still answered in its encoding
         * (Qpid's locate by name has none, and says amqp/list). */
        if (bus_content_type_is_amqp(content_type))
            m->encoding = BUS_ENCODING_AMQP;
        m->body_absent = true;
        qmf_error_set(&m->body_error, QMF_ERR_MALFORMED, "the message has no body");
        return;
    }
    if (content_type == NULL || content_type_is(content_type, BUS_CONTENT_JSON)) {
        m->encoding = BUS_ENCODING_JSON;
        m->body = qmf_from_json(body, len, &err);
    } else if ((is_list = content_type_is(content_type, BUS_CONTENT_AMQP_LIST)) ||
               content_type_is(content_type, BUS_CONTENT_AMQP_MAP)) {
        m->encoding = BUS_ENCODING_AMQP;
        /* Qpid's 0-10 peers send the same content types in 0-10's encoding. */
        m->body = qmf_amqp010_shaped(body, len) ? qmf_from_amqp010(body, len, is_list, &err)
                                                : qmf_from_amqp(body, len, &err);
    } else {
        qmf_error_set(&m->body_error, QMF_ERR_MALFORMED, "unsupported content-type '%.100s'",
                      content_type);
        return;
    }
    if (m->body == NULL) {
        /* Error 5 even for proton's node limit: a body too deep or too
         * wide to read is malformed (PROTOCOL.md §4.1); 8 is for size. */
        m->body_error.code = QMF_ERR_MALFORMED;
        snprintf(m->body_error.text, sizeof(m->body_error.text), "%s",
                 err.text[0] != '\0' ? err.text : "the body cannot be decoded");
    }
}

void
bus_message_body_sha256(const struct bus_message *m, uint8_t out[32])
{
    unsigned int len = 0;

    if (m->has_body_sha256) {
        memcpy(out, m->body_sha256, 32);
        return;
    }
    if (EVP_Digest(m->raw_body != NULL ? m->raw_body : "", m->raw_body != NULL ? m->raw_len : 0,
                   out, &len, EVP_sha256(), NULL) != 1)
        abort();    /* only out of memory */
}

void
bus_message_free(struct bus_message *m)
{
    if (m == NULL)
        return;
    free(m->subject);
    free(m->message_id);
    free(m->correlation_id);
    free(m->reply_to);
    free(m->user_id);
    qmf_free(m->headers);
    qmf_free(m->body);
    free(m->raw_body);
    free(m->raw_content_type);
    free(m);
}

const char *
bus_message_header(const struct bus_message *m, const char *name)
{
    if (m == NULL || m->headers == NULL)
        return NULL;
    return qmf_map_get_string(m->headers, name);
}

void
bus_message_set_header(struct bus_message *m, const char *name, qmf_value *v)
{
    if (m->headers == NULL)
        m->headers = qmf_map();
    qmf_map_set(m->headers, name, v);
}

void
bus_message_set_header_string(struct bus_message *m, const char *name,
                              const char *s)
{
    bus_message_set_header(m, name, qmf_string(s));
}

/* Addresses: core/names.c's, by the names the transports use. */

int
bus_address_parse(const char *address, char **exchange, char **key)
{
    return qmf_name_address_parse(address, exchange, key);
}

char *
bus_address_exchange(const char *exchange, const char *key)
{
    return qmf_name_exchange_address(exchange, key);
}

char *
bus_temp_queue_user(const char *user)
{
    size_t len = strlen(user), i;
    char *out = qmf_xmalloc(3 * len + 1), *o = out;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)user[i];

        if (qmf_name_char_ok((char)c))
            *o++ = (char)c;
        else
            o += snprintf(o, 4, "%%%02X", c);
    }
    *o = '\0';
    if ((size_t)(o - out) > BUS_TEMP_QUEUE_USER_MAX) {
        free(out);
        return NULL;
    }
    return out;
}

char *
bus_address_queue(const char *queue)
{
    return qmf_name_queue_address(queue);
}

char *
bus_key_escape(const char *name)
{
    return qmf_name_key_escape(name);
}

int
bus_sasl_from_name(const char *name, enum bus_sasl *out)
{
    if (strcmp(name, "plain") == 0)
        *out = BUS_SASL_PLAIN;
    else if (strcmp(name, "external") == 0)
        *out = BUS_SASL_EXTERNAL;
    else
        return -1;
    return 0;
}

int
bus_topology_from_name(const char *name, bool *provisioned)
{
    if (strcmp(name, "declare") == 0)
        *provisioned = false;
    else if (strcmp(name, "provisioned") == 0)
        *provisioned = true;
    else
        return -1;
    return 0;
}

qmf_value *
bus_queue_arguments(const struct bus_queue *q)
{
    qmf_value *args = qmf_map();
    size_t i;

    if (q->queue_type != NULL)
        qmf_map_set(args, "x-queue-type", qmf_string(q->queue_type));
    if (q->message_ttl_ms > 0)
        qmf_map_set(args, "x-message-ttl", qmf_i64(q->message_ttl_ms));
    if (q->delivery_limit > 0)
        qmf_map_set(args, "x-delivery-limit", qmf_i64(q->delivery_limit));
    if (q->dead_letter_exchange != NULL)
        qmf_map_set(args, "x-dead-letter-exchange", qmf_string(q->dead_letter_exchange));
    for (i = 0; i < qmf_map_len(q->arguments); i++)
        qmf_map_set(args, qmf_map_at(q->arguments, i)->key,
                    qmf_dup(qmf_map_at(q->arguments, i)->value));
    return args;
}

/* A stream kept max_age ("10m", "7D"), in small segments so that
 * retention (applied per segment) actually drops old messages. */
static qmf_value *
stream_queue(struct bus_queue *q, const char *name, const char *max_age,
             const struct bus_binding *bindings, size_t nbindings)
{
    qmf_value *args = qmf_map();

    qmf_map_set(args, "x-max-age", qmf_string(max_age));
    qmf_map_set(args, "x-stream-max-segment-size-bytes", qmf_i64(4 * 1024 * 1024));
    *q = (struct bus_queue){
        .name = name,
        .durable = true,
        .queue_type = "stream",
        .bindings = bindings,
        .nbindings = nbindings,
        .arguments = args,
    };
    return args;
}

int64_t
bus_agent_started_ns(const qmf_value *attrs)
{
    int64_t ns = 0;

    if (qmf_get_int64(qmf_map_get(attrs, "_start_time"), &ns))
        return ns;
    if (!qmf_get_int64(qmf_map_get(attrs, "_epoch"), &ns))
        return 0;
    return ns > (int64_t)UINT32_MAX ? ns : ns * 1000000000;
}

qmf_value *
bus_presence_queue(struct bus_queue *q)
{
    static const struct bus_binding bindings[] = {
        { BUS_EXCHANGE_TOPIC, BUS_PRESENCE_KEY },
        { BUS_EXCHANGE_TOPIC, BUS_PRESENCE_MARKER_KEY },
    };

    /* Ten minutes of heartbeats. */
    return stream_queue(q, BUS_PRESENCE_QUEUE, "10m", bindings, 2);
}

qmf_value *
bus_summary_queue(struct bus_queue *q)
{
    static const struct bus_binding bindings[] = {
        { BUS_EXCHANGE_TOPIC, BUS_SUMMARY_KEY },
        { BUS_EXCHANGE_TOPIC, BUS_PRESENCE_MARKER_KEY },
    };

    /* A reader needs the newest whole summary, at most a keeper's
     * full_every old (a minute by default): five minutes is plenty. */
    return stream_queue(q, BUS_SUMMARY_QUEUE, "5m", bindings, 2);
}

qmf_value *
bus_jobs_queue(struct bus_queue *q)
{
    return stream_queue(q, BUS_JOBS_QUEUE, "7D", NULL, 0);
}

qmf_value *
bus_fleet_queue(struct bus_queue *q)
{
    static const struct bus_binding marker = { BUS_EXCHANGE_TOPIC, BUS_FLEET_MARKER_KEY };

    /* A week: consoles carry what is older forward (controller/lib/fleet.c),
     * so the stream only has to outlast the gaps between consoles. */
    return stream_queue(q, BUS_FLEET_QUEUE, "7D", &marker, 1);
}

struct bus_threads {
    pthread_mutex_t lock;
    pthread_cond_t ended;       /* signalled as running drops */
    unsigned running;
    bool owner_gone;            /* the last thread to end frees it */
};

struct bus_threads *
bus_threads_new(void)
{
    struct bus_threads *t = qmf_xcalloc(1, sizeof(*t));
    pthread_condattr_t attr;

    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->ended, &attr);
    pthread_condattr_destroy(&attr);
    return t;
}

static void
threads_destroy(struct bus_threads *t)
{
    pthread_cond_destroy(&t->ended);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void
bus_threads_enter(struct bus_threads *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->running++;
    pthread_mutex_unlock(&t->lock);
}

void
bus_threads_leave(struct bus_threads *t)
{
    bool last;

    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->running--;
    last = t->running == 0 && t->owner_gone;
    pthread_cond_broadcast(&t->ended);
    pthread_mutex_unlock(&t->lock);
    if (last)
        threads_destroy(t);
}

bool
bus_threads_free(struct bus_threads *t, unsigned wait_ms)
{
    struct timespec deadline;
    bool ended;

    if (t == NULL)
        return true;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += wait_ms / 1000;
    deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&t->lock);
    while (wait_ms > 0 && t->running > 0 &&
           pthread_cond_timedwait(&t->ended, &t->lock, &deadline) != ETIMEDOUT)
        ;
    ended = t->running == 0;
    t->owner_gone = true;
    pthread_mutex_unlock(&t->lock);
    if (ended)
        threads_destroy(t);
    return ended;
}
