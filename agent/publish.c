/*
 * Publishing: every message an agent sends goes through here, with the
 * QMF application properties set the same way: replies, exceptions,
 * events and object pushes.
 */
#include "agent/agent_impl.h"
#include "agent/clock.h"

#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "trust/credential.h"
#include "trust/seal.h"

static const char *
opcode_method(const char *opcode)
{
    size_t n = strlen(opcode);

#define ENDS_WITH(s) (n >= sizeof(s) - 1 && strcmp(opcode + n - (sizeof(s) - 1), s) == 0)
    if (ENDS_WITH("_request"))
        return "request";
    if (ENDS_WITH("_indication"))
        return "indication";
#undef ENDS_WITH
    return "response";     /* *_response and _exception */
}

/* An _exception's body: {"_values": {"error_code", "error_text"}}. */
static qmf_value *
exception_body(const qmf_error *err)
{
    qmf_value *body = qmf_map();
    qmf_value *values = qmf_map_set(body, "_values", qmf_map());

    qmf_map_set(values, "error_code", qmf_u32(err->code));
    qmf_map_set(values, "error_text", qmf_string(err->text));
    return body;
}

/*
 * An answer that cannot go as its asker said (sealed or authenticated to
 * a reply-key that is no key) goes as an _exception saying why, in the
 * clear: never the plain body instead, as the asker said who may read it.
 */
static void
answer_refused(struct agent *a, struct bus_message *m, const struct agent_publish *p,
               const qmf_error *why)
{
    log_info(&a->log, "answer to %s not sent as asked: %s",
             p->correlation_id ? p->correlation_id : "(no correlation id)", why->text);
    qmf_free(m->body);
    m->body = exception_body(why);
    /* Encoded already if its MAC failed: those bytes are the answer's. */
    free(m->raw_body);
    m->raw_body = NULL;
    m->raw_len = 0;
    bus_message_set_header_string(m, "qmf.opcode", "_exception");
    qmf_free(qmf_map_take(m->headers, "qmf.content"));
    qmf_free(qmf_map_take(m->headers, "partial"));
}

int
agent_publish(struct agent *a, const struct agent_publish *p, qmf_value *body)
{
    struct bus_message *m = bus_message_new();
    const char *reply_key = p->reply_key;
    qmf_error err;
    int rc;

    bus_message_set_header_string(m, "qmf.opcode", p->opcode);
    bus_message_set_header_string(m, "method", opcode_method(p->opcode));
    bus_message_set_header_string(m, "qmf.agent", a->name);
    bus_message_set_header_string(m, "app-id", "qmf2");
    if (p->content)
        bus_message_set_header_string(m, "qmf.content", p->content);
    if (p->partial)
        bus_message_set_header(m, "partial", qmf_bool(true));
    if (p->credential_held)
        bus_message_set_header_string(m, TRUST_HDR_CREDENTIAL_HELD, p->credential_held);
    if (p->correlation_id)
        m->correlation_id = qmf_xstrdup(p->correlation_id);
    m->created_ms = clock_wall_ns() / 1000000;
    m->durable = p->durable;
    m->unconfirmed = p->unconfirmed;
    m->body = body;
    /* Answers are written as their request was (agent_reply); indications
     * as configured (docs/PROTOCOL.md §4.1).  Before signing: the
     * signature covers the bytes as encoded. */
    if (strcmp(opcode_method(p->opcode), "indication") == 0) {
        if (bus_encoding_from_name(a->cfg.indication_encoding, &m->encoding) != 0)
            m->encoding = BUS_ENCODING_JSON;
        m->amqp10 = a->cfg.indication_amqp10;
    } else {
        m->encoding = p->encoding;
        m->amqp10 = p->amqp10;
    }
    /* 1.0 has no app-id property: Qpid's consoles read 0-10's as this
     * application property, and drop a message without it. */
    if (m->amqp10)
        bus_message_set_header_string(m, "x-amqp-0-10.app-id", "qmf2");
    if (reply_key != NULL && p->seal && agent_guard_seal(a->guard, m, reply_key, &err) != 0) {
        answer_refused(a, m, p, &err);
        reply_key = NULL;
    }
    /* Last: the signature or MAC covers all of the above. */
    rc = agent_guard_sign(a->guard, m, reply_key, p->key_only, &err);
    if (rc != 0 && reply_key != NULL) {
        answer_refused(a, m, p, &err);
        rc = agent_guard_sign(a->guard, m, NULL, p->key_only, &err);
    }
    if (rc != 0)
        log_warnx(&a->log, "cannot sign %s: %s", p->opcode, err.text);
    rc = bus_publish(a->bus, p->address, m, p->confirm, p->opaque, &err);
    bus_message_free(m);
    if (rc != 0) {
        log_debug(&a->log, "cannot publish %s to %s: %s", p->opcode, p->address, err.text);
        /* The contract is "confirm called exactly once", also on failure. */
        if (p->confirm)
            p->confirm(false, p->opaque);
    }
    return rc;
}

bool
agent_reply_address_allowed(const char *address, qmf_error *why)
{
    char *exchange, *key;
    bool ok;

    if (qmf_name_address_parse(address, &exchange, &key) != 0) {
        qmf_error_set(why, QMF_ERR_INVALID_ARGS, "reply-to '%.200s' is not an address",
                      address);
        return false;
    }
    /* Of virtbus's own queues, a job's, and the 1.0 backend's stand-ins
     * (a 1.0 console's for direct reply-to; bus.h). */
    if (exchange[0] == '\0')
        ok = strncmp(key, QMF_NAME_QUEUE_PREFIX, strlen(QMF_NAME_QUEUE_PREFIX)) != 0 ||
             strncmp(key, QMF_NAME_JOB_PREFIX, strlen(QMF_NAME_JOB_PREFIX)) == 0 ||
             strncmp(key, BUS_TEMP_QUEUE_PREFIX, strlen(BUS_TEMP_QUEUE_PREFIX)) == 0;
    else if (strcmp(exchange, BUS_EXCHANGE_TOPIC) == 0)
        /* Qpid's consoles listen on direct-console.<id> of the topic
         * exchange; no other key there is a reply's (the agents'
         * indications, the broadcasts agents read, the markers). */
        ok = strncmp(key, AGENT_TOPIC_REPLY_PREFIX, strlen(AGENT_TOPIC_REPLY_PREFIX)) == 0 &&
             key[strlen(AGENT_TOPIC_REPLY_PREFIX)] != '\0';
    else
        ok = strcmp(exchange, BUS_EXCHANGE_DIRECT) == 0 &&
             strncmp(key, QMF_NAME_AGENT_PREFIX, strlen(QMF_NAME_AGENT_PREFIX)) != 0 &&
             strcmp(key, AGENT_DEAD_LETTERS) != 0;
    if (!ok)
        qmf_error_set(why, QMF_ERR_INVALID_ARGS,
                      "reply-to '%.200s' is not a reply address: replies go to a queue, "
                      "to a key of %s that is not an agent's, or to a " AGENT_TOPIC_REPLY_PREFIX
                      "* key of %s (PROTOCOL.md 3.3)",
                      address, BUS_EXCHANGE_DIRECT, BUS_EXCHANGE_TOPIC);
    free(exchange);
    free(key);
    return ok;
}

/* Whether the asker said "no" to sealing (virtbus.seal; anything else, or
 * nothing, seals). */
static bool
answers_plain(const struct bus_message *req)
{
    const char *seal = bus_message_header(req, TRUST_HDR_SEAL);

    return seal != NULL && strcmp(seal, "no") == 0;
}

/* Whether the asker said it checks no credential: then a credential on
 * every answer is only bytes for the broker to move. */
static bool
answers_key_only(const struct bus_message *req)
{
    const char *want = bus_message_header(req, TRUST_HDR_ANSWER_CREDENTIAL);

    return want != NULL && strcmp(want, "no") == 0;
}

int
agent_reply(struct agent *a, const struct bus_message *req, const char *opcode,
            const char *content, bool partial, qmf_value *body,
            bus_confirm_cb confirm, void *opaque)
{
    const char *credential = bus_message_header(req, TRUST_HDR_CREDENTIAL);
    char held[TRUST_CREDENTIAL_ID_LEN + 1];
    struct agent_publish p = {
        .address = req->reply_to,
        .opcode = opcode,
        .content = content,
        .correlation_id = req->correlation_id,
        .partial = partial,
        /* A command's outcome is worth as much as the command: results of
         * fire-and-forget jobs wait in durable queues. */
        .durable = req->durable,
        /* An answer to a query or a refusal matters only to the one waiting
         * for it now: no confirm is worth the broker's work. */
        .unconfirmed = confirm == NULL && !req->durable,
        .confirm = confirm,
        .opaque = opaque,
        /* In the form the request came in: a Qpid console reads only
         * amqp/map and amqp/list, a 1.0 peer application-properties. */
        .encoding = req->encoding,
        .amqp10 = req->amqp10,
        .reply_key = bus_message_header(req, TRUST_HDR_REPLY_KEY),
        .seal = !answers_plain(req),
        .key_only = answers_key_only(req),
    };

    /* Anything but an exception passed the guard, which now holds the
     * credential: the asker may name it by id from now on (PROTOCOL.md
     * §11).  Only to an asker that sent it whole: the others know. */
    if (credential != NULL && bus_message_header(req, TRUST_HDR_SIGNATURE) != NULL &&
        strcmp(opcode, "_exception") != 0) {
        trust_credential_id(credential, held);
        p.credential_held = held;
    }
    if (req->reply_to == NULL || req->reply_to[0] == '\0' ||
        !agent_reply_address_allowed(req->reply_to, NULL)) {
        /* Fire-and-forget, or nowhere safe to answer (dispatch refused
         * the request and said so once): nothing to send. */
        qmf_free(body);
        if (confirm)
            confirm(true, opaque);
        return 0;
    }
    return agent_publish(a, &p, body);
}

int
agent_reply_exception(struct agent *a, const struct bus_message *req,
                      const qmf_error *err, bus_confirm_cb confirm, void *opaque)
{
    log_debug(&a->log, "exception %u to %s: %s", err->code,
              req->reply_to ? req->reply_to : "(no reply-to)", err->text);
    return agent_reply(a, req, "_exception", NULL, false, exception_body(err), confirm,
                       opaque);
}

int
agent_publish_event(struct agent *a, const char *event, qmf_value *values,
                    bus_confirm_cb confirm, void *opaque)
{
    const struct schema_class *cls = schema_find_class(a->env.schema, event);
    struct agent_publish p = {
        .opcode = "_data_indication",
        .content = "_event",
        .confirm = confirm,
        .opaque = opaque,
    };
    qmf_value *body, *ev;
    qmf_error err;
    char *key, *address;
    int rc;

    if (cls == NULL || cls->kind != SCHEMA_EVENT) {
        /* A programming error, but not worth dying for on a hypervisor. */
        log_warnx(&a->log, "no event class %s in the schema", event);
        qmf_free(values);
        if (confirm)
            confirm(false, opaque);
        return -1;
    }
    if (schema_check_values(cls, values, &err) != 0)
        log_warnx(&a->log, "event %s does not match the schema: %s", event, err.text);
    body = qmf_list();
    ev = qmf_list_append(body, qmf_map());
    qmf_map_set(ev, "_schema_id", schema_id_value(cls));
    qmf_map_set(ev, "_values", values);
    qmf_map_set(ev, "_timestamp", qmf_i64(clock_wall_ns()));
    /* QMFv2's int8 (0 emerg .. 7 debug), which Qpid's consoles read;
     * the word, which the routing key carries, beside it. */
    qmf_map_set(ev, "_severity", qmf_int(QMF_INT8, (int64_t)cls->severity));
    qmf_map_set(ev, "_severity_name", qmf_string(schema_severity_name(cls->severity)));
    key = qmf_name_event_key(event, schema_severity_name(cls->severity), a->cfg.node);
    address = qmf_name_exchange_address(QMF_NAME_EXCHANGE_TOPIC, key);
    free(key);
    p.address = address;
    rc = agent_publish(a, &p, body);
    free(address);
    return rc;
}

/* Object pushes go out in messages of at most this many objects. */
#define PUSH_BATCH 100

static void
push_class(struct agent *a, const char *class_name, qmf_value *objects)
{
    char *key = qmf_name_data_key(class_name, a->cfg.node);
    char *address = qmf_name_exchange_address(QMF_NAME_EXCHANGE_TOPIC, key);
    struct agent_publish p = {
        .address = address,
        .opcode = "_data_indication",
        .content = "_data",
    };
    size_t n = qmf_list_len(objects), i = 0;

    while (i < n) {
        qmf_value *batch = qmf_list();
        size_t end = i + PUSH_BATCH < n ? i + PUSH_BATCH : n;

        for (; i < end; i++)
            qmf_list_append(batch, qmf_list_steal(objects, i));
        agent_publish(a, &p, batch);
    }
    free(address);
    free(key);
}

static void push_now(struct agent *a, qmf_value *data_list);

/* The pushes that waited for the end of the pass. */
static void
push_pending_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    qmf_value *pending = a->push_pending;

    (void)fd;
    (void)what;
    a->push_pending = NULL;
    if (pending != NULL && a->bus_up)
        push_now(a, pending);
    else
        qmf_free(pending);
}

void
agent_push_soon(struct agent *a, qmf_value *data_list)
{
    size_t i;

    if (a->push_ev == NULL)
        a->push_ev = event_new(a->env.base, -1, 0, push_pending_cb, a);
    if (a->push_ev == NULL) {
        agent_push_objects(a, data_list);
        return;
    }
    if (a->push_pending == NULL) {
        a->push_pending = qmf_list();
        event_active(a->push_ev, 0, 0);
    }
    for (i = 0; i < qmf_list_len(data_list); i++)
        qmf_list_append(a->push_pending, qmf_list_steal(data_list, i));
    qmf_free(data_list);
}

void
agent_push_objects(struct agent *a, qmf_value *data_list)
{
    /* What waits for the end of the pass happened first. */
    if (a->push_pending != NULL) {
        qmf_value *pending = a->push_pending;

        a->push_pending = NULL;
        event_del(a->push_ev);
        push_now(a, pending);
    }
    push_now(a, data_list);
}

static void
push_now(struct agent *a, qmf_value *data_list)
{
    qmf_value *by_class = qmf_map();
    size_t i;

    /* One routing key per class, so that consumers bind per class:
     * bucket first (O(objects x classes)), then send each bucket. */
    for (i = 0; i < qmf_list_len(data_list); i++) {
        qmf_value *d = qmf_list_at(data_list, i);
        const char *cls = qmf_map_get_string(qmf_map_get(d, "_schema_id"), "_class_name");
        qmf_value *bucket;

        if (cls == NULL)
            continue;
        bucket = qmf_map_get(by_class, cls);
        if (bucket == NULL)
            bucket = qmf_map_set(by_class, cls, qmf_list());
        qmf_list_append(bucket, qmf_list_steal(data_list, i));
    }
    for (i = 0; i < qmf_map_len(by_class); i++)
        push_class(a, qmf_map_at(by_class, i)->key, qmf_map_at(by_class, i)->value);
    qmf_free(by_class);
    qmf_free(data_list);
}

struct collect_ctx {
    struct agent *a;
    qmf_value *list;
};

static void
collect_data(const struct inv_object *o, void *opaque)
{
    struct collect_ctx *ctx = opaque;

    qmf_list_append(ctx->list, inv_object_data(&ctx->a->inv, o, !ctx->a->driver_up));
}

void
agent_push_all(struct agent *a)
{
    struct collect_ctx ctx = { a, qmf_list() };

    inv_select(&a->inv, NULL, NULL, collect_data, &ctx, NULL);
    agent_push_objects(a, ctx.list);
}
