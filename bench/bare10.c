/*
 * The bare AMQP 1.0 client of bench_transports (bare10.h): proton's
 * proactor and message codec, nothing of virtbus, so that what it costs
 * is proton's and the broker's alone.  It reads each answer's JSON body
 * with json-c, as any client that uses an answer must: what virtbus then
 * adds is its own (the backend, and the console's turning JSON into
 * values), not the cost of reading JSON at all.
 */
#include "bench/bare10.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json_tokener.h>
#include <json-c/json_object.h>
#include <proton/codec.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/proactor.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include "bench/measure.h"

/* Every answer of a broadcast to a thousand agents may be in flight at
 * once: credit enough that the broker never waits for more. */
#define RECEIVER_CREDIT 4096
#define MAX_SENDERS 8
#define CLOSE_WAIT_MS 2000

struct bare_sender {
    char *address;
    pn_link_t *link;
};

struct bench_bare {
    pn_proactor_t *proactor;
    pn_connection_t *conn;
    pn_session_t *session;
    pn_link_t *receiver;
    struct bare_sender senders[MAX_SENDERS];
    size_t nsenders;
    pn_message_t *in, *out;
    struct json_tokener *json;
    char *rbuf;
    size_t rcap;
    pn_rwbytes_t wbuf;
    ssize_t wlen;               /* encoded request waiting for the loop */
    const char *send_to;        /* its address, while it waits */
    bool send_pending, close_pending, closed;
    bool receiver_up, failed, timed_out;
    char error[256];
    /* The request in flight. */
    char correlation[64];
    unsigned long serial;
    size_t done, exceptions;
    /* Watching. */
    pthread_t thread;
    bool watching;
    atomic_bool stop;
    double *stamps;
    size_t max;
    atomic_size_t count;
};

static void
set_failed(struct bench_bare *b, const char *what, pn_condition_t *cond)
{
    if (b->failed)
        return;
    b->failed = true;
    snprintf(b->error, sizeof(b->error), "%s%s%s%s%s", what,
             cond && pn_condition_is_set(cond) ? ": " : "",
             cond && pn_condition_is_set(cond) ? pn_condition_get_name(cond) : "",
             cond && pn_condition_is_set(cond) ? " " : "",
             cond && pn_condition_is_set(cond) && pn_condition_get_description(cond)
                 ? pn_condition_get_description(cond) : "");
}

static pn_link_t *
sender_for(struct bench_bare *b, const char *address)
{
    struct bare_sender *s;
    char name[32];
    size_t i;

    for (i = 0; i < b->nsenders; i++)
        if (strcmp(b->senders[i].address, address) == 0)
            return b->senders[i].link;
    if (b->nsenders == MAX_SENDERS) {
        set_failed(b, "too many addresses", NULL);
        return NULL;
    }
    s = &b->senders[b->nsenders];
    snprintf(name, sizeof(name), "sender-%zu", b->nsenders++);
    s->address = strdup(address);
    s->link = pn_sender(b->session, name);
    pn_terminus_set_address(pn_link_target(s->link), address);
    pn_link_set_snd_settle_mode(s->link, PN_SND_SETTLED);
    pn_link_open(s->link);
    return s->link;
}

/* Sends the waiting request once its sender has credit. */
static void
send_waiting(struct bench_bare *b)
{
    pn_link_t *link;
    pn_delivery_t *d;
    char tag[32];

    if (!b->send_pending || (link = sender_for(b, b->send_to)) == NULL ||
        pn_link_credit(link) <= 0)
        return;
    snprintf(tag, sizeof(tag), "%lu", b->serial);
    d = pn_delivery(link, pn_dtag(tag, strlen(tag)));
    pn_link_send(link, b->wbuf.start, (size_t)b->wlen);
    pn_link_advance(link);
    pn_delivery_settle(d);
    b->send_pending = false;
}

static bool
property_is(pn_data_t *props, const char *name, const char *value, bool *flag)
{
    bool found = false;

    pn_data_rewind(props);
    if (!pn_data_next(props) || pn_data_type(props) != PN_MAP)
        return false;
    pn_data_enter(props);
    while (pn_data_next(props)) {
        pn_bytes_t key = pn_data_get_string(props);
        bool match = pn_data_type(props) == PN_STRING && key.size == strlen(name) &&
                     memcmp(key.start, name, key.size) == 0;

        if (!pn_data_next(props))
            break;
        if (!match)
            continue;
        if (flag != NULL && pn_data_type(props) == PN_BOOL) {
            *flag = pn_data_get_bool(props);
            found = true;
        } else if (value != NULL && pn_data_type(props) == PN_STRING) {
            pn_bytes_t v = pn_data_get_string(props);

            found = v.size == strlen(value) && memcmp(v.start, value, v.size) == 0;
        }
        break;
    }
    pn_data_exit(props);
    return found;
}

/* The answer's JSON (one data section, as virtbus answers a JSON
 * request), parsed and dropped; a body that is no JSON counts as an
 * exception. */
static void
read_body(struct bench_bare *b)
{
    pn_data_t *body = pn_message_body(b->in);
    json_object *parsed = NULL;
    pn_bytes_t bytes;

    pn_data_rewind(body);
    if (pn_data_next(body) && pn_data_type(body) == PN_BINARY &&
        (bytes = pn_data_get_binary(body)).size <= INT_MAX) {
        json_tokener_reset(b->json);
        parsed = json_tokener_parse_ex(b->json, bytes.start, (int)bytes.size);
    }
    if (parsed == NULL)
        b->exceptions++;
    json_object_put(parsed);
}

/* An answer to the request in flight: the agent is done with its last
 * message, the one without `partial`. */
static void
take_answer(struct bench_bare *b, size_t len)
{
    pn_atom_t corr;
    bool partial = false;

    if (pn_message_decode(b->in, b->rbuf, len) != 0)
        return;
    corr = pn_message_get_correlation_id(b->in);
    if (corr.type != PN_STRING || corr.u.as_bytes.size != strlen(b->correlation) ||
        memcmp(corr.u.as_bytes.start, b->correlation, corr.u.as_bytes.size) != 0)
        return;
    read_body(b);
    property_is(pn_message_properties(b->in), "partial", NULL, &partial);
    if (partial)
        return;
    b->done++;
    if (property_is(pn_message_properties(b->in), "qmf.opcode", "_exception", NULL))
        b->exceptions++;
}

static void
receive(struct bench_bare *b, pn_delivery_t *d)
{
    pn_link_t *link = pn_delivery_link(d);
    size_t size = pn_delivery_pending(d);
    ssize_t n;

    if (!pn_delivery_readable(d) || pn_delivery_partial(d))
        return;
    if (size > b->rcap) {
        b->rcap = size;
        b->rbuf = realloc(b->rbuf, b->rcap);
        if (b->rbuf == NULL)
            abort();
    }
    n = pn_link_recv(link, b->rbuf, size);
    pn_link_advance(link);
    if (b->watching) {
        size_t i = atomic_load(&b->count);

        if (i < b->max) {
            b->stamps[i] = bench_now_ms();
            atomic_store(&b->count, i + 1);
        }
    } else if (n > 0) {
        take_answer(b, (size_t)n);
    }
    pn_delivery_settle(d);
    pn_link_flow(link, 1);
}

static void
handle(struct bench_bare *b, pn_event_t *e)
{
    pn_link_t *link;

    switch (pn_event_type(e)) {
    case PN_CONNECTION_WAKE:
        if (b->close_pending) {
            b->close_pending = false;
            pn_connection_close(b->conn);
        }
        send_waiting(b);
        break;
    case PN_LINK_REMOTE_OPEN:
        if (pn_event_link(e) == b->receiver)
            b->receiver_up = true;
        break;
    case PN_LINK_FLOW:
        link = pn_event_link(e);
        if (pn_link_is_sender(link))
            send_waiting(b);
        break;
    case PN_DELIVERY:
        link = pn_event_link(e);
        if (pn_link_is_receiver(link))
            receive(b, pn_event_delivery(e));
        break;
    case PN_LINK_REMOTE_CLOSE:
        set_failed(b, "the broker detached a link",
                   pn_link_remote_condition(pn_event_link(e)));
        break;
    case PN_SESSION_REMOTE_CLOSE:
        set_failed(b, "the broker ended the session",
                   pn_session_remote_condition(pn_event_session(e)));
        break;
    case PN_CONNECTION_REMOTE_CLOSE:
        if (!b->closed)
            set_failed(b, "the broker closed the connection",
                       pn_connection_remote_condition(b->conn));
        break;
    case PN_TRANSPORT_CLOSED:
        if (!b->closed)
            set_failed(b, "transport closed", pn_transport_condition(pn_event_transport(e)));
        b->closed = true;
        break;
    case PN_PROACTOR_TIMEOUT:
        b->timed_out = true;
        break;
    default:
        break;
    }
}

/* Runs the proactor until *flag (or the request's count) says so, the
 * connection fails, or timeout_ms. */
static void
run_until(struct bench_bare *b, const bool *flag, size_t want, unsigned timeout_ms)
{
    b->timed_out = false;
    pn_proactor_set_timeout(b->proactor, timeout_ms);
    while (!b->timed_out && !b->failed && !(flag ? *flag : b->done >= want)) {
        pn_event_batch_t *batch = pn_proactor_wait(b->proactor);
        pn_event_t *e;

        while ((e = pn_event_batch_next(batch)) != NULL)
            handle(b, e);
        pn_proactor_done(b->proactor, batch);
    }
    pn_proactor_cancel_timeout(b->proactor);
}

struct bench_bare *
bench_bare_open(const char *url, const char *source, unsigned timeout_ms, char *err,
                size_t errlen)
{
    struct bench_bare *b = calloc(1, sizeof(*b));
    char user[128] = "guest", password[128] = "guest", host[128] = "127.0.0.1";
    char hostport[160];
    unsigned port = 5672;
    const char *p = strstr(url, "://"), *at, *colon;
    pn_transport_t *t;
    pn_sasl_t *sasl;

    if (b == NULL)
        abort();
    /* amqp10://user:password@host:port/ -- the vhost is "/". */
    p = p ? p + 3 : url;
    if ((at = strchr(p, '@')) != NULL) {
        colon = memchr(p, ':', (size_t)(at - p));
        snprintf(user, sizeof(user), "%.*s", (int)((colon ? colon : at) - p), p);
        if (colon)
            snprintf(password, sizeof(password), "%.*s", (int)(at - colon - 1), colon + 1);
        p = at + 1;
    }
    if (sscanf(p, "%127[^:/]:%u", host, &port) < 1) {
        snprintf(err, errlen, "cannot read the host of the URL");
        free(b);
        return NULL;
    }
    snprintf(hostport, sizeof(hostport), "%s:%u", host, port);

    b->in = pn_message();
    b->out = pn_message();
    if ((b->json = json_tokener_new()) == NULL)
        abort();
    b->proactor = pn_proactor();
    b->conn = pn_connection();
    pn_connection_set_container(b->conn, "bench-bare10");
    pn_connection_set_hostname(b->conn, "vhost:/");
    pn_connection_set_user(b->conn, user);
    pn_connection_set_password(b->conn, password);
    t = pn_transport();
    sasl = pn_sasl(t);
    pn_sasl_allowed_mechs(sasl, "PLAIN");
    pn_sasl_set_allow_insecure_mechs(sasl, true);
    pn_connection_open(b->conn);
    b->session = pn_session(b->conn);
    pn_session_open(b->session);
    b->receiver = pn_receiver(b->session, "answers");
    pn_terminus_set_address(pn_link_source(b->receiver), source);
    pn_link_set_snd_settle_mode(b->receiver, PN_SND_SETTLED);
    pn_link_open(b->receiver);
    pn_link_flow(b->receiver, RECEIVER_CREDIT);
    pn_proactor_connect2(b->proactor, b->conn, t, hostport);
    run_until(b, &b->receiver_up, 0, timeout_ms);
    if (!b->receiver_up) {
        snprintf(err, errlen, "%s", b->failed ? b->error : "no link to the broker in time");
        bench_bare_close(b);
        return NULL;
    }
    return b;
}

void
bench_bare_close(struct bench_bare *b)
{
    size_t i;

    if (b == NULL)
        return;
    if (b->watching)
        bench_bare_watch_stop(b, NULL);
    if (!b->closed && !b->failed) {
        b->close_pending = true;
        pn_connection_wake(b->conn);
        b->closed = false;
        run_until(b, &b->closed, 0, CLOSE_WAIT_MS);
    }
    /* The proactor frees the connection it was given. */
    pn_proactor_free(b->proactor);
    pn_message_free(b->in);
    pn_message_free(b->out);
    json_tokener_free(b->json);
    for (i = 0; i < b->nsenders; i++)
        free(b->senders[i].address);
    free(b->rbuf);
    free(b->wbuf.start);
    free(b->stamps);
    free(b);
}

static void
put_property(pn_data_t *d, const char *name, const char *value)
{
    pn_data_put_string(d, pn_bytes(strlen(name), name));
    pn_data_put_string(d, pn_bytes(strlen(value), value));
}

static int64_t
realtime_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t
bench_bare_request(struct bench_bare *b, const char *address, const char *opcode,
                   const char *json_body, bool command, const char *reply_queue,
                   size_t expect, unsigned timeout_ms, size_t *exceptions)
{
    pn_message_t *m = b->out;
    pn_data_t *props;
    char reply_to[256];
    uint64_t ttl = timeout_ms;
    int64_t now = realtime_ms();

    if (b->failed)
        return 0;
    snprintf(b->correlation, sizeof(b->correlation), "bare-%ld-%lu", (long)getpid(),
             ++b->serial);
    snprintf(reply_to, sizeof(reply_to), "/queue/%s", reply_queue);
    pn_message_clear(m);
    pn_data_put_string(pn_message_id(m), pn_bytes(strlen(b->correlation), b->correlation));
    pn_data_put_string(pn_message_correlation_id(m),
                       pn_bytes(strlen(b->correlation), b->correlation));
    pn_message_set_reply_to(m, reply_to);
    pn_message_set_content_type(m, "application/json");
    pn_message_set_creation_time(m, now);
    pn_message_set_durable(m, command);
    /* Commands carry no broker-visible TTL (PROTOCOL.md §3.1). */
    if (!command)
        pn_message_set_ttl(m, (pn_millis_t)ttl);
    props = pn_message_properties(m);
    pn_data_put_map(props);
    pn_data_enter(props);
    put_property(props, "qmf.opcode", opcode);
    put_property(props, "method", "request");
    put_property(props, "app-id", "qmf2");
    pn_data_put_string(props, pn_bytes(3, "ttl"));
    pn_data_put_long(props, (int64_t)ttl);
    pn_data_put_string(props, pn_bytes(7, "created"));
    pn_data_put_long(props, now);
    pn_data_exit(props);
    /* A binary body with inferred set: one data section. */
    pn_message_set_inferred(m, true);
    pn_data_put_binary(pn_message_body(m), pn_bytes(strlen(json_body), json_body));
    if ((b->wlen = pn_message_encode2(m, &b->wbuf)) < 0) {
        set_failed(b, "encoding the request", NULL);
        return 0;
    }
    b->send_to = address;
    b->send_pending = true;
    b->done = b->exceptions = 0;
    pn_connection_wake(b->conn);
    run_until(b, NULL, expect, timeout_ms);
    if (exceptions != NULL)
        *exceptions = b->exceptions;
    return b->done;
}

static void *
watch_thread(void *arg)
{
    struct bench_bare *b = arg;

    while (!atomic_load(&b->stop) && !b->failed) {
        pn_event_batch_t *batch = pn_proactor_wait(b->proactor);
        pn_event_t *e;

        while ((e = pn_event_batch_next(batch)) != NULL)
            handle(b, e);
        pn_proactor_done(b->proactor, batch);
    }
    return NULL;
}

int
bench_bare_watch_start(struct bench_bare *b, size_t max)
{
    free(b->stamps);
    if ((b->stamps = calloc(max ? max : 1, sizeof(double))) == NULL)
        abort();
    b->max = max;
    atomic_store(&b->count, 0);
    atomic_store(&b->stop, false);
    b->watching = true;
    if (pthread_create(&b->thread, NULL, watch_thread, b) != 0) {
        b->watching = false;
        return -1;
    }
    return 0;
}

size_t
bench_bare_watch_count(struct bench_bare *b)
{
    return atomic_load(&b->count);
}

const double *
bench_bare_watch_stop(struct bench_bare *b, size_t *n)
{
    if (b->watching) {
        atomic_store(&b->stop, true);
        pn_proactor_interrupt(b->proactor);
        pthread_join(b->thread, NULL);
        b->watching = false;
    }
    if (n != NULL)
        *n = atomic_load(&b->count);
    return b->stamps;
}
