/*
 * The console's connection: one broker connection with direct reply-to
 * and, on request, a watch queue and the presence stream; plus
 * watching, fire-and-forget sends and the helpers the other files share.
 */
#include "controller/lib/console_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/random.h>

#include "core/names.h"
#include "trust/message.h"

#define CONNECT_TIMEOUT_MS 5000
/* Bounds the backlog of a console that watches but rarely looks. */
#define WATCH_BACKLOG_MAX 10000
/* Fire-and-forget requests wait in queues this long unless told. */
#define SEND_TTL_MS (24u * 3600 * 1000)

static void on_watch(struct bus_delivery *d, const struct bus_message *m, void *opaque);

char *
virtbus_agent_name(const char *node)
{
    return qmf_name_agent(node);
}

char *
virtbus_agent_address(const char *agent_name)
{
    return qmf_name_exchange_address(BUS_EXCHANGE_DIRECT, agent_name);
}

char *
virtbus_broadcast_address(const char *kind)
{
    char *key = qmf_name_broadcast_key(kind);
    char *address = qmf_name_exchange_address(BUS_EXCHANGE_TOPIC, key);

    free(key);
    return address;
}

const char *
virtbus_console_reply_to(const struct virtbus_console *c)
{
    return c->reply_to;
}

/* Loaded on first use: most short-lived consoles never need it, and
 * parsing it is a good part of a CLI command's start-up. */
const struct schema *
virtbus_console_schema(struct virtbus_console *c)
{
    qmf_error err;

    if (c->schema == NULL)
        c->schema = schema_load_builtin(&err);
    return c->schema;
}

int64_t
console_now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

char *
console_new_id(void)
{
    uint8_t uuid[16];
    char text[37];
    ssize_t got;

    /* The kernel's generator: OpenSSL's would cost a short-lived console
     * milliseconds of start-up for sixteen bytes.  EINTR comes only while
     * the kernel's pool is not ready yet: wait for it. */
    while ((got = getrandom(uuid, sizeof(uuid), 0)) < 0 && errno == EINTR)
        ;
    if (got != (ssize_t)sizeof(uuid))
        abort();        /* no randomness: nothing is safe to do */
    uuid[6] = (uuid[6] & 0x0f) | 0x40;     /* a version 4 UUID */
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    qmf_uuid_format(uuid, text);
    return qmf_xstrdup(text);
}

/*
 * The user of a broker URL ("amqp://user:pass@host/" -> "user"; "guest",
 * the AMQP default, without one).  Requests carry it as user_id, which the
 * broker checks against the authenticated user: agents can then record
 * who asked for a command.  An EXTERNAL login's user comes from the
 * certificate, which the broker may read as it is configured to: only a
 * user the URL names is sent, none otherwise (the broker would refuse
 * every request whose user_id is not its idea of the user).
 */
static char *
url_user(const char *url, enum bus_sasl sasl)
{
    const char *start = strstr(url, "://"), *at, *end;
    const char *none = sasl == BUS_SASL_EXTERNAL ? NULL : "guest";

    if (start == NULL)
        return none ? qmf_xstrdup(none) : NULL;
    start += 3;
    at = strchr(start, '@');
    if (at == NULL || (strchr(start, '/') && strchr(start, '/') < at))
        return none ? qmf_xstrdup(none) : NULL;
    end = memchr(start, ':', (size_t)(at - start));
    return qmf_xstrndup(start, (size_t)((end ? end : at) - start));
}

void
console_bus_options(const struct virtbus_console *c, struct bus_options *bo)
{
    bo->url = c->url;
    bo->tls = c->tls;
    bo->sasl = c->sasl;
    bo->passive_exchanges = c->provisioned;
    bo->threads = c->bus_threads;
}

int
console_check_writable(const struct virtbus_console *c, const char *what,
                       qmf_error *err)
{
    if (!c->read_only)
        return 0;
    qmf_error_set(err, QMF_ERR_UNAUTHORIZED, "%s: this console is read-only (read_only = yes): "
                  "its broker account may only broadcast queries", what);
    return -1;
}

static char *
strdup_or_null(const char *s)
{
    return s != NULL ? qmf_xstrdup(s) : NULL;
}

void
console_stamp(struct virtbus_console *c, struct bus_message *m, unsigned ttl_ms)
{
    const char *opcode = bus_message_header(m, "qmf.opcode");

    if (m->ttl_ms == 0)
        m->ttl_ms = ttl_ms;
    if (m->created_ms == 0)
        m->created_ms = console_now_ms();
    if (m->user_id == NULL && c->user != NULL)
        m->user_id = qmf_xstrdup(c->user);
    /* The command's identity: agents answer a repeated one (a re-send
     * after a broker outage, a redelivery) from their journal. */
    if (m->message_id == NULL)
        m->message_id = console_new_id();
    /* Commands must survive a broker restart while they wait for their
     * agent; queries and locates are worthless by then, and persisting a
     * broadcast costs a disk write per queue. */
    m->durable = opcode && strcmp(opcode, "_method_request") == 0;
    /* An expired command must still reach its agent, to be answered and
     * recorded "expired"; the broker would drop it unseen. */
    m->receiver_expires = m->durable;
}

static int console_trust_load(struct virtbus_console *c,
                              const struct virtbus_console_options *o, qmf_error *err);

void
console_flag_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

bool
console_run_until(struct virtbus_console *c, const bool *flag, unsigned timeout_ms)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    bool expired = false;
    struct event *timer = evtimer_new(c->base, console_flag_cb, &expired);

    evtimer_add(timer, &tv);
    while (!*flag && !expired && !c->lost && !c->interrupted)
        event_base_loop(c->base, EVLOOP_ONCE);
    event_free(timer);
    return *flag;
}

void
console_shared_queue(const struct virtbus_console *c, struct bus_queue *q)
{
    /* Made by the administrator, with its bindings: only checked. */
    if (c->provisioned) {
        q->passive = true;
        q->nbindings = 0;
    }
}

bool
console_run_while_coming(struct virtbus_console *c, const bool *flag, const uint64_t *counter,
                         unsigned idle_ms)
{
    uint64_t before;

    do {
        before = *counter;
        if (console_run_until(c, flag, idle_ms))
            return true;
    } while (*counter != before && !c->lost && !c->interrupted);
    return false;
}

void
console_wait_done(struct bus_conn *conn, const qmf_error *err, void *opaque)
{
    struct console_wait *w = opaque;

    w->done = true;
    w->ok = err == NULL;
    if (err != NULL)
        w->err = *err;
}

void
console_wait_confirmed(bool ok, void *opaque)
{
    struct console_wait *w = opaque;

    w->done = true;
    w->ok = ok;
    if (!ok)
        qmf_error_set(&w->err, QMF_ERR_TRANSPORT, "the broker did not take it");
}

int
console_wait_for(struct virtbus_console *c, struct console_wait *w, unsigned timeout_ms,
                 const char *what, qmf_error *err)
{
    if (console_run_until(c, &w->done, timeout_ms) && w->ok)
        return 0;
    /* A refusal too is a transport error (docs/TRANSPORTS.md), as a
     * refused login is. */
    qmf_error_set(err, QMF_ERR_TRANSPORT, "%s: %s", what,
                  w->done ? w->err.text : "the broker did not answer");
    return -1;
}

/* Connection ------------------------------------------------------------------ */

static void
bus_up_cb(struct bus_conn *conn, void *opaque)
{
    struct virtbus_console *c = opaque;
    bool was_lost = c->lost;

    c->up = true;
    c->lost = false;
    if (was_lost && c->connection_fn)
        c->connection_fn(true, NULL, c->connection_opaque);
}

static void
bus_down_cb(struct bus_conn *conn, const qmf_error *why, void *opaque)
{
    struct virtbus_console *c = opaque;

    c->up = false;
    c->lost = true;
    if (why)
        c->last_error = *why;
    if (why && why->code == QMF_ERR_UNAUTHORIZED)
        c->refused = *why;
    if (c->connection_fn)
        c->connection_fn(false, why, c->connection_opaque);
}

void
virtbus_console_interrupt(struct virtbus_console *c, bool on)
{
    c->interrupted = on;
}

bool
virtbus_console_interrupted(const struct virtbus_console *c)
{
    return c->interrupted;
}

const char *
virtbus_console_interrupted_job(const struct virtbus_console *c, qmf_error *err)
{
    if (err != NULL)
        *err = c->interrupt_job_err;
    return c->interrupt_job;
}

void
virtbus_console_describe(struct virtbus_console *c, const char *description)
{
    free(c->description);
    c->description = description ? qmf_xstrdup(description) : NULL;
}

void
virtbus_console_on_connection(struct virtbus_console *c, virtbus_connection_fn fn,
                              void *opaque)
{
    c->connection_fn = fn;
    c->connection_opaque = opaque;
}

static const struct bus_handlers console_handlers = {
    .up = bus_up_cb,
    .down = bus_down_cb,
};

struct virtbus_console *
virtbus_console_open(struct event_base *base, const struct virtbus_console_options *o,
                     qmf_error *err)
{
    struct virtbus_console *c = qmf_xcalloc(1, sizeof(*c));
    unsigned timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : CONNECT_TIMEOUT_MS;
    struct bus_queue queues[3];
    struct bus_subscription subs[4];
    struct bus_binding *watch_bindings = NULL;
    struct bus_options bo = { 0 };
    qmf_value *presence_args = NULL, *presence_offset = NULL;
    qmf_value *fleet_args = NULL, *fleet_offset = NULL;
    char *id;
    size_t nwatch = 0, nq = 0, ns = 0, i;
    int rc;

    c->base = base;
    c->bus_threads = bus_threads_new();
    c->url = qmf_xstrdup(o->url);
    c->tls = (struct bus_tls){
        .ca = strdup_or_null(o->tls.ca), .cert = strdup_or_null(o->tls.cert),
        .key = strdup_or_null(o->tls.key), .no_verify_hostname = o->tls.no_verify_hostname,
    };
    c->sasl = o->sasl == VIRTBUS_SASL_EXTERNAL ? BUS_SASL_EXTERNAL : BUS_SASL_PLAIN;
    c->provisioned = o->provisioned;
    c->read_only = o->read_only;
    c->user = url_user(o->url, c->sasl);
    /* Before connecting: a key that cannot be read is the caller's mistake,
     * and nothing should have been sent unsigned meanwhile. */
    if (console_trust_load(c, o, err) != 0) {
        virtbus_console_close(c);
        return NULL;
    }
    id = console_new_id();
    memcpy(c->id, id, sizeof(c->id));
    free(id);

    /* Replies come by direct reply-to: no queue to declare (the costliest
     * step of a short-lived console's set-up) and none left behind.  Like
     * an exclusive queue, it dies with the connection; requests whose
     * replies were lost that way are sent again (request.c). */
    c->reply_to = qmf_xstrdup(BUS_DIRECT_REPLY_TO);
    subs[ns++] = (struct bus_subscription){
        .source = BUS_DIRECT_REPLY_TO, .no_ack = true,
        .receive = console_on_reply, .opaque = c,
    };
    while (o->watch_keys && o->watch_keys[nwatch])
        nwatch++;
    if (nwatch > 0) {
        watch_bindings = qmf_xcalloc(nwatch, sizeof(*watch_bindings));
        for (i = 0; i < nwatch; i++)
            watch_bindings[i] = (struct bus_binding){ BUS_EXCHANGE_TOPIC, o->watch_keys[i] };
        queues[nq] = (struct bus_queue){
            .exclusive = true, .auto_delete = true,
            .bindings = watch_bindings, .nbindings = nwatch,
        };
        subs[ns++] = (struct bus_subscription){
            .source = "#0", .credit = 1000, .no_ack = true,
            .receive = on_watch, .opaque = c,
        };
        nq++;
        c->has_watch = true;
    }
    if (o->presence) {
        int64_t age_ms;
        bool resume, fleet_fresh = true;

        c->has_presence = true;
        c->presence_window_s = o->presence_window_s ? o->presence_window_s : PRESENCE_WINDOW_S;
        console_presence_init(c);
        c->presence_marker = console_new_id();
        c->presence_offset = -1;
        c->presence_reuse_ms = o->presence_reuse_ms;
        resume = o->presence_cache && console_presence_load(c, o->presence_cache);
        for (i = 0; o->presence_nodes && o->presence_nodes[i]; i++) {
            c->presence_named = qmf_xrealloc(c->presence_named,
                                             (i + 2) * sizeof(*c->presence_named));
            c->presence_named[i] = qmf_xstrdup(o->presence_nodes[i]);
            c->presence_named[i + 1] = NULL;
        }
        age_ms = console_now_ms() - c->presence_saved_ms;
        if (o->fleet) {
            fleet_offset = console_fleet_init(c, o->fleet_cache, o->fleet_retention_s,
                                              &fleet_fresh, o->fleet_reuse_ms);
            c->fleet_reused = fleet_fresh;
        }
        /* A cache "from the future" (the clock went back) is not fresh. */
        c->presence_reused = resume && c->presence_cache_whole && c->presence_reuse_ms > 0 &&
                             age_ms >= 0 && age_ms < (int64_t)c->presence_reuse_ms &&
                             console_presence_has_up(c, o->presence_nodes);
        /* A keeper's summary first, unless a recent cache says there was
         * none: then the heartbeats from the start, as without keepers. */
        c->summaries = !o->presence_no_summaries &&
                       !(resume && !c->presence_keeper_seen &&
                         console_now_ms() - c->keeper_checked_ms >= 0 &&
                         console_now_ms() - c->keeper_checked_ms < PRESENCE_KEEPER_RECHECK_MS);
        if (!c->presence_reused && !c->summaries) {
            c->heartbeats_subscribed = true;
            presence_args = bus_presence_queue(&queues[nq]);
            console_shared_queue(c, &queues[nq]);
            nq++;
            presence_offset = qmf_map();
            qmf_map_set(presence_offset, "x-stream-offset", console_presence_start(c));
            subs[ns++] = (struct bus_subscription){
                .source = QMF_NAME_PRESENCE_ADDRESS, .credit = 2000,
                .arguments = presence_offset, .receive = console_on_presence, .opaque = c,
            };
        }
        if (!c->presence_reused && o->fleet && !c->fleet_reused) {
            fleet_args = bus_fleet_queue(&queues[nq]);
            console_shared_queue(c, &queues[nq]);
            nq++;
            subs[ns++] = (struct bus_subscription){
                .source = QMF_NAME_FLEET_ADDRESS, .credit = 2000,
                .arguments = fleet_offset, .receive = console_on_fleet, .opaque = c,
            };
        }
    }
    console_bus_options(c, &bo);
    bo.name = "virtbus console";
    bo.reconnect = true;
    bo.queues = queues;
    bo.nqueues = nq;
    bo.subs = subs;
    bo.nsubs = ns;
    rc = bus_open(&c->bus, base, &bo, &console_handlers, c, err);
    /* bus_open copied what it keeps. */
    free(watch_bindings);
    qmf_free(presence_args);
    qmf_free(presence_offset);
    qmf_free(fleet_args);
    qmf_free(fleet_offset);
    if (rc != 0) {
        virtbus_console_close(c);
        return NULL;
    }
    console_run_until(c, &c->up, timeout_ms);
    if (!c->up) {
        char *shown = bus_url_redact(o->url);

        if (c->last_error.code)
            qmf_error_set(err, QMF_ERR_TRANSPORT, "cannot connect to %s: %s",
                          shown, c->last_error.text);
        else
            qmf_error_set(err, QMF_ERR_TRANSPORT, "cannot connect to %s within %u ms",
                          shown, timeout_ms);
        free(shown);
        virtbus_console_close(c);
        return NULL;
    }
    return c;
}

/* wait_ms 0: goodbyes go on in the background, after the console. */
static void
console_close(struct virtbus_console *c, unsigned wait_ms)
{
    if (c == NULL)
        return;
    if (c->bus != NULL && wait_ms > 0)
        bus_close_wait(c->bus, wait_ms);
    else if (c->bus != NULL)
        bus_close(c->bus);
    /* The goodbyes of side connections (the fleet's read), and any
     * connect attempt still at work: a process that exits under them
     * leaves their TLS state behind. */
    bus_threads_free(c->bus_threads, wait_ms);
    while (c->backlog_len > 0)
        bus_message_free(c->backlog[--c->backlog_len]);
    free(c->backlog);
    console_presence_free(c);
    console_fleet_free(c);
    console_jobs_free(c);
    schema_free(c->schema);
    free(c->reply_to);
    free(c->interrupt_job);
    free(c->description);
    free(c->user);
    trust_key_free(c->sign_key);
    free(c->sign_credential);
    trust_store_free(c->answer_store);
    trust_checked_free(c->answer_credentials);
    qmf_dict_free(c->credential_held);
    trust_sealer_free(c->sealer);
    free(c->url);
    free((char *)c->tls.ca);
    free((char *)c->tls.cert);
    free((char *)c->tls.key);
    free(c);
}

void
virtbus_console_close_wait(struct virtbus_console *c, unsigned timeout_ms)
{
    /* bus_close_wait's default */
    console_close(c, timeout_ms > 0 ? timeout_ms : 2000);
}

void
virtbus_console_close(struct virtbus_console *c)
{
    console_close(c, 0);
}

/* Signing and checking ------------------------------------------------------------ */

/* Agents' credentials kept checked: room for each agent of a fleet of
 * 10,000 (issue 13) with few pushed out of their set (4 ways, at a load
 * of 0.3), a few MB at most; 4,096 slots direct-mapped had a console
 * derive again most of its keys on each broadcast to 10,000. */
#define ANSWER_CREDENTIALS 32768
/* Agents' sealing keys kept (trust_sealer), for as many. */
#define ANSWER_SEALING_KEYS 32768

/* The key, credential and answer check the options name. */
static int
console_trust_load(struct virtbus_console *c, const struct virtbus_console_options *o,
                   qmf_error *err)
{
    if (o->key_file != NULL) {
        if ((c->sign_key = trust_key_load(o->key_file, err)) == NULL)
            return -1;
        if (!trust_key_is_private(c->sign_key)) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: not a private key", o->key_file);
            return -1;
        }
        if (o->credential_file != NULL &&
            (c->sign_credential = trust_credential_read(o->credential_file, err)) == NULL)
            return -1;
        c->credential_held = qmf_dict_new(NULL);
        trust_credential_id(c->sign_credential, c->credential_id);
        /* Answers are authenticated to it even when they come in the clear. */
        if ((c->sealer = trust_sealer_new(c->sign_key, ANSWER_SEALING_KEYS, err)) == NULL)
            return -1;
        c->plain_answers = o->plain_answers;
    }
    if (o->answer_issuer_keys != NULL) {
        struct trust_store_config sc = { .issuer_keys = o->answer_issuer_keys };

        if (trust_store_load(&sc, &c->answer_store, err) != 0)
            return -1;
        c->answer_credentials = trust_checked_new(c->answer_store, ANSWER_CREDENTIALS);
    }
    return 0;
}

int
console_sign(struct virtbus_console *c, const char *address, struct bus_message *m,
             bool by_id, qmf_error *err)
{
    char *exchange, *key;
    int rc;

    if (c->sign_key == NULL)
        return 0;
    /* Signed with the rest: nobody on the way can swap in a key of theirs,
     * or strip the seal.  A caller's own key stays: its answers are then
     * for that key's holder. */
    if (bus_message_header(m, TRUST_HDR_REPLY_KEY) == NULL)
        bus_message_set_header_string(m, TRUST_HDR_REPLY_KEY, trust_sealer_public(c->sealer));
    if (c->plain_answers)
        bus_message_set_header_string(m, TRUST_HDR_SEAL, "no");
    /* Answers this console reads itself and checks no credential of: the
     * agents' key names them well enough.  Answers to a job's queue keep
     * the credential, for whoever fetches them with issuer keys later. */
    if (c->answer_store == NULL && m->reply_to != NULL && c->reply_to != NULL &&
        strcmp(m->reply_to, c->reply_to) == 0)
        bus_message_set_header_string(m, TRUST_HDR_ANSWER_CREDENTIAL, "no");
    /* The routing key is signed: the request cannot be sent elsewhere. */
    if (qmf_name_address_parse(address, &exchange, &key) != 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "bad address %s", address);
        return -1;
    }
    rc = trust_request_sign(m, key, c->sign_key, c->sign_credential, by_id, err);
    free(exchange);
    free(key);
    return rc;
}

bool
console_credential_by_id(struct virtbus_console *c, const struct bus_message *m,
                         const char *agent)
{
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const struct pending *p = c->current;
    size_t i;

    /* Not commands: one refused for its credential is on the agent's
     * record as refused, and a job's agents answer after its sender left. */
    if (c->sign_credential == NULL || p == NULL || opcode == NULL ||
        strcmp(opcode, "_query_request") != 0)
        return false;
    if (agent != NULL)
        return qmf_dict_get(c->credential_held, agent) != NULL;
    /* A broadcast: to a known set, each of which holds it. */
    if (!p->expect_known || p->results.n == 0)
        return false;
    for (i = 0; i < p->results.n; i++)
        if (qmf_dict_get(c->credential_held, p->results.items[i].agent) == NULL)
            return false;
    return true;
}

int
console_publish_request(struct virtbus_console *c, const char *address, const char *agent,
                        struct bus_message *m, qmf_error *err)
{
    bool by_id = console_credential_by_id(c, m, agent);

    if (console_sign(c, address, m, by_id, err) != 0)
        return -1;
    if (by_id)
        c->current->named_by_id = true;
    return bus_publish(c->bus, address, m, NULL, NULL, err);
}

bool
console_answer_ok(struct virtbus_console *c, const struct bus_message *m, qmf_error *err)
{
    if (c->answer_store == NULL)
        return true;
    /* An agent's credential speaks for its node, and only for it. */
    return trust_store_check_answer(c->answer_store, c->answer_credentials, c->sealer, m,
                                    console_now_ms() / 1000, CONSOLE_ANSWER_SKEW_S, err) == 0;
}

bool
console_answer_open(struct virtbus_console *c, const struct bus_message *m,
                     qmf_value **opened, qmf_error *err)
{
    struct bus_message *plain;
    char *bytes, *type;
    size_t len;

    *opened = NULL;
    if (!trust_body_is_sealed(m->body))
        return true;
    if (c->sealer == NULL) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "a sealed answer, and this console has no "
                      "key to open it");
        return false;
    }
    if (trust_unseal(c->sealer, m->body, &bytes, &len, &type, err) != 0)
        return false;
    plain = bus_message_new();
    bus_body_decode(plain, type, bytes, len);
    free(bytes);
    free(type);
    if (plain->body == NULL) {
        qmf_error_set(err, plain->body_error.code, "a sealed answer: %s", plain->body_error.text);
        bus_message_free(plain);
        return false;
    }
    *opened = plain->body;
    plain->body = NULL;
    bus_message_free(plain);
    return true;
}

/* Sending without waiting ------------------------------------------------------ */

int
virtbus_send(struct virtbus_console *c, const char *address, struct bus_message *m,
             qmf_error *err)
{
    int rc;

    if (!c->up) {
        bus_message_free(m);
        qmf_error_set(err, QMF_ERR_TRANSPORT, "not connected to the broker");
        return -1;
    }
    console_stamp(c, m, SEND_TTL_MS);
    /* Whole: nobody waits to send it again to an agent that does not
     * hold the credential, and it is no part of the current request. */
    rc = console_sign(c, address, m, false, err);
    if (rc == 0)
        rc = bus_publish(c->bus, address, m, NULL, NULL, err);
    bus_message_free(m);
    return rc;
}

/* Watch ------------------------------------------------------------------------- */

static void
on_watch(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct virtbus_console *c = opaque;

    if (c->watching && c->watch_fn) {
        c->watch_fn(virtbus_message_of_bus(m), c->watch_opaque);
    } else if (c->backlog_len < WATCH_BACKLOG_MAX) {
        c->backlog = qmf_xrealloc(c->backlog, (c->backlog_len + 1) * sizeof(*c->backlog));
        c->backlog[c->backlog_len++] = bus_message_dup(m);
    } else {
        c->backlog_dropped++;
    }
    bus_ack(d);
}

const char *
virtbus_message_header(const struct virtbus_message *m, const char *name)
{
    return bus_message_header(virtbus_message_bus(m), name);
}

const char *
virtbus_message_subject(const struct virtbus_message *m)
{
    return virtbus_message_bus(m)->subject;
}

const qmf_value *
virtbus_message_body(const struct virtbus_message *m)
{
    return virtbus_message_bus(m)->body;
}

/* Hands the backlog to the watcher, oldest first; stops early if the
 * watcher stops. */
static void
drain_backlog(struct virtbus_console *c)
{
    size_t i = 0, j;

    while (i < c->backlog_len && c->watching) {
        c->watch_fn(virtbus_message_of_bus(c->backlog[i]), c->watch_opaque);
        bus_message_free(c->backlog[i]);
        i++;
    }
    for (j = i; j < c->backlog_len; j++)
        c->backlog[j - i] = c->backlog[j];
    c->backlog_len -= i;
}

int
virtbus_watch(struct virtbus_console *c, virtbus_watch_fn fn, void *opaque,
              qmf_error *err)
{
    if (!c->has_watch) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the console was opened without watch keys");
        return -1;
    }
    c->watch_fn = fn;
    c->watch_opaque = opaque;
    c->watching = true;
    drain_backlog(c);
    while (c->watching && event_base_loop(c->base, EVLOOP_ONCE) == 0 &&
           !event_base_got_break(c->base))
        ;
    c->watching = false;
    return 0;
}

void
virtbus_watch_stop(struct virtbus_console *c)
{
    c->watching = false;
}
