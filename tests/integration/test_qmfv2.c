/*
 * QMFv2's own encodings and forms against a real agent on the real broker
 * (issue 12, findings 1-10), seen on the wire by a raw 0-9-1 client, the
 * way a Qpid console or RabbitMQ's AMQP 1.0 plugin sends and reads them:
 * amqp/map and amqp/list bodies (AMQP 1.0's and 0-10's encodings) and the
 * answers in kind, locate with a list or no body, Qpid's exchange/subject
 * reply-to, a string _object_id, the AMQP 1.0 envelope, and indications
 * in the configured encoding.  Stock QMFv2 consoles cannot sign, so the
 * agents here run with require_signatures = no (docs/SECURITY.md); a
 * virtbus console beside them still signs and checks.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <proton/codec.h>

#include "bus/bus.h"
#include "core/codec.h"
#include "tests/integration/harness.h"
#include "tests/testutil.h"

#define WEB1_UUID "10000000-0000-4000-8000-000000000001"
#define AMQP10_APP_PROPERTIES "x-amqp-1.0-app-properties"

/* A message as the raw client received it. */
struct raw_msg {
    char *routing_key;
    char *content_type;     /* NULL: none */
    char *type;             /* the 0-9-1 type property; NULL: none */
    char *correlation_id;
    qmf_value *headers;     /* the 0-9-1 headers table (scalars) */
    char *amqp10_props;     /* the application-properties section, if any */
    size_t amqp10_props_len;
    char *body;
    size_t body_len;
};

struct raw {
    amqp_connection_state_t amqp;
    char *reply_queue;      /* its address, "/queue/<name>" */
    struct raw_msg msgs[64];
    size_t n;
};

static void
raw_msg_clear(struct raw_msg *m)
{
    free(m->routing_key);
    free(m->content_type);
    free(m->type);
    free(m->correlation_id);
    qmf_free(m->headers);
    free(m->amqp10_props);
    free(m->body);
    memset(m, 0, sizeof(*m));
}

static char *
bytes_or_null(bool present, amqp_bytes_t b)
{
    return present ? qmf_xstrndup(b.bytes, b.len) : NULL;
}

/* A server-named exclusive queue, bound when exchange is given, consumed
 * without acks. */
static char *
raw_queue(struct raw *r, const char *exchange, const char *key)
{
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(r->amqp, 1, amqp_empty_bytes, 0, 0, 1, 1,
                                                     amqp_empty_table);
    char *name;

    cr_assert_not_null(ok);
    name = qmf_xstrndup(ok->queue.bytes, ok->queue.len);
    if (exchange != NULL)
        cr_assert_not_null(amqp_queue_bind(r->amqp, 1, amqp_cstring_bytes(name),
                                           amqp_cstring_bytes(exchange),
                                           amqp_cstring_bytes(key), amqp_empty_table));
    cr_assert_not_null(amqp_basic_consume(r->amqp, 1, amqp_cstring_bytes(name), amqp_empty_bytes,
                                          0, 1, 0, amqp_empty_table));
    return name;
}

static void
raw_open(struct raw *r, const char *url)
{
    char *name;

    memset(r, 0, sizeof(*r));
    r->amqp = test_raw_connect(url);
    name = raw_queue(r, NULL, NULL);
    r->reply_queue = qmf_name_queue_address(name);
    free(name);
}

static void
raw_close(struct raw *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        raw_msg_clear(&r->msgs[i]);
    test_raw_close(r->amqp);
    free(r->reply_queue);
}

static qmf_value *
field_scalar(const amqp_field_value_t *f)
{
    switch (f->kind) {
    case AMQP_FIELD_KIND_BOOLEAN: return qmf_bool(f->value.boolean != 0);
    case AMQP_FIELD_KIND_I64: return qmf_i64(f->value.i64);
    case AMQP_FIELD_KIND_UTF8: return qmf_stringn(f->value.bytes.bytes, f->value.bytes.len);
    case AMQP_FIELD_KIND_BYTES: return qmf_binary(f->value.bytes.bytes, f->value.bytes.len);
    default: return qmf_void();
    }
}

/* Takes whatever has arrived, without waiting. */
static void
raw_poll(struct raw *r)
{
    for (;;) {
        struct timeval zero = { 0, 0 };
        const amqp_basic_properties_t *p;
        struct raw_msg *m;
        amqp_envelope_t env;
        amqp_rpc_reply_t rr;
        int i;

        amqp_maybe_release_buffers(r->amqp);
        rr = amqp_consume_message(r->amqp, &env, &zero, 0);
        if (rr.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            rr.library_error == AMQP_STATUS_TIMEOUT)
            return;
        cr_assert_eq(rr.reply_type, AMQP_RESPONSE_NORMAL, "the raw client lost the broker");
        cr_assert_lt(r->n, sizeof(r->msgs) / sizeof(r->msgs[0]));
        m = &r->msgs[r->n++];
        p = &env.message.properties;
        m->routing_key = qmf_xstrndup(env.routing_key.bytes, env.routing_key.len);
        m->content_type = bytes_or_null(p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG, p->content_type);
        m->type = bytes_or_null(p->_flags & AMQP_BASIC_TYPE_FLAG, p->type);
        m->correlation_id = bytes_or_null(p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG,
                                          p->correlation_id);
        m->headers = qmf_map();
        for (i = 0; (p->_flags & AMQP_BASIC_HEADERS_FLAG) && i < p->headers.num_entries; i++) {
            const amqp_table_entry_t *e = &p->headers.entries[i];
            char *key = qmf_xstrndup(e->key.bytes, e->key.len);

            if (strcmp(key, AMQP10_APP_PROPERTIES) == 0) {
                m->amqp10_props = qmf_xmalloc(e->value.value.bytes.len + 1);
                memcpy(m->amqp10_props, e->value.value.bytes.bytes, e->value.value.bytes.len);
                m->amqp10_props_len = e->value.value.bytes.len;
            } else {
                qmf_map_set(m->headers, key, field_scalar(&e->value));
            }
            free(key);
        }
        m->body = qmf_xmalloc(env.message.body.len + 1);
        memcpy(m->body, env.message.body.bytes, env.message.body.len);
        m->body_len = env.message.body.len;
        amqp_destroy_envelope(&env);
    }
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
}

struct wait {
    struct raw *r;
    const char *corr;
    size_t n;
};

static size_t
count_corr(struct raw *r, const char *corr)
{
    size_t i, n = 0;

    for (i = 0; i < r->n; i++)
        if (r->msgs[i].correlation_id != NULL && strcmp(r->msgs[i].correlation_id, corr) == 0)
            n++;
    return n;
}

static bool
arrived(void *arg)
{
    struct wait *w = arg;

    raw_poll(w->r);
    return count_corr(w->r, w->corr) >= w->n;
}

/* Runs the agents' loop until n messages with correlation id corr came
 * (bounded); the raw socket is not on the loop, a timer wakes it to look.
 * Returns the first. */
static struct raw_msg *
wait_for(struct test_fleet *f, struct raw *r, const char *corr, size_t n)
{
    struct event *ev = event_new(f->base, -1, EV_PERSIST, tick, NULL);
    struct timeval period = { 0, 2000 };
    struct wait w = { r, corr, n };
    size_t i;

    event_add(ev, &period);
    cr_assert(fleet_run_until(f, arrived, &w, FLEET_WAIT_MS),
              "%zu answers to %s did not come within %d ms", n, corr, FLEET_WAIT_MS);
    event_free(ev);
    for (i = 0; i < r->n; i++)
        if (r->msgs[i].correlation_id != NULL && strcmp(r->msgs[i].correlation_id, corr) == 0)
            return &r->msgs[i];
    return NULL;
}

/* A request as a QMFv2 console sends it over 0-9-1 (or as RabbitMQ's
 * plugin hands on an AMQP 1.0 one: with type, and headers holding only
 * the application-properties section). */
struct request {
    const char *exchange, *key;
    const char *opcode;
    const char *content_type;     /* NULL: none */
    const char *type;             /* NULL: none */
    const char *reply_to;
    const char *corr;
    const char *body;
    size_t body_len;
    const char *amqp10_props;     /* the section, or NULL: 0-9-1 headers */
    size_t amqp10_props_len;
};

static void
raw_send(struct raw *r, const struct request *q)
{
    amqp_basic_properties_t p;
    amqp_table_entry_t e[2];
    int n = 0;

    memset(&p, 0, sizeof(p));
    if (q->amqp10_props != NULL) {
        e[n].key = amqp_cstring_bytes(AMQP10_APP_PROPERTIES);
        e[n].value.kind = AMQP_FIELD_KIND_BYTES;
        e[n].value.value.bytes = (amqp_bytes_t){ q->amqp10_props_len, (void *)q->amqp10_props };
        n++;
    } else {
        e[n].key = amqp_cstring_bytes("qmf.opcode");
        e[n].value.kind = AMQP_FIELD_KIND_UTF8;
        e[n].value.value.bytes = amqp_cstring_bytes(q->opcode);
        n++;
        e[n].key = amqp_cstring_bytes("method");
        e[n].value.kind = AMQP_FIELD_KIND_UTF8;
        e[n].value.value.bytes = amqp_cstring_bytes("request");
        n++;
    }
    p._flags = AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
               AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
    p.headers = (amqp_table_t){ n, e };
    p.correlation_id = amqp_cstring_bytes(q->corr);
    /* Python's qmf2 sends this one message-id with every request. */
    p.message_id = amqp_cstring_bytes("qmf2");
    p.reply_to = amqp_cstring_bytes(q->reply_to);
    if (q->content_type != NULL) {
        p._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
        p.content_type = amqp_cstring_bytes(q->content_type);
    }
    if (q->type != NULL) {
        p._flags |= AMQP_BASIC_TYPE_FLAG;
        p.type = amqp_cstring_bytes(q->type);
    }
    cr_assert_eq(amqp_basic_publish(r->amqp, 1, amqp_cstring_bytes(q->exchange),
                                    amqp_cstring_bytes(q->key), 0, 0, &p,
                                    (amqp_bytes_t){ q->body_len, (void *)q->body }),
                 AMQP_STATUS_OK);
}

static qmf_value *
parse(const char *json)
{
    qmf_error err;
    qmf_value *v = qmf_from_json(json, strlen(json), &err);

    cr_assert(v != NULL, "%s: %s", json, err.text);
    return v;
}

/* v in AMQP 1.0's encoding (malloc'd). */
static char *
amqp_of(const char *json, size_t *len)
{
    qmf_value *v = parse(json);
    char *buf;

    cr_assert_eq(qmf_to_amqp(v, &buf, len), 0);
    qmf_free(v);
    return buf;
}

static qmf_value *
amqp_body(const struct raw_msg *m)
{
    qmf_error err;
    qmf_value *v = qmf_from_amqp(m->body, m->body_len, &err);

    cr_assert_not_null(v, "the answer (%s, %zu bytes, %.40s) is not AMQP 1.0 typed data: %s",
                       m->content_type ? m->content_type : "no content type", m->body_len,
                       m->body, err.text);
    return v;
}

static void
unsigned_ok(struct agent_config *cfg, size_t index)
{
    /* Stock QMFv2 consoles cannot sign. */
    cfg->require_signatures = false;
}

static char *
agent_key(const struct test_fleet *f, size_t i)
{
    return qmf_xasprintf("virtbus:agent:%s", f->nodes[i]);
}

/* A fleet of one agent that takes unsigned requests, and a raw client. */
static void
setup(struct test_fleet *f, struct raw *r,
      void (*cfg_edit)(struct agent_config *cfg, size_t index))
{
    fleet_init(f);
    fleet_add_agent(f, "node1.xml", cfg_edit != NULL ? cfg_edit : unsigned_ok);
    fleet_wait_ready(f);
    raw_open(r, f->url);
}

static void
teardown(struct test_fleet *f, struct raw *r)
{
    raw_close(r);
    fleet_fini(f);
}

static void
assert_header(const struct raw_msg *m, const char *key, const char *want)
{
    const char *got = qmf_map_get_string(m->headers, key);

    cr_assert(got != NULL && strcmp(got, want) == 0, "header %s: '%s', not '%s'", key,
              got ? got : "(none)", want);
}

/* Finding 3: an amqp/map request is answered in AMQP typed data, the list
 * of a query as amqp/list; a JSON one still in JSON. */
Test(qmfv2, answers_take_the_encoding_of_the_request, .timeout = 120)
{
    struct test_fleet f;
    struct raw r;
    struct raw_msg *m;
    char *key, *body;
    size_t len;
    qmf_value *list;
    const char *json = "{\"_what\": \"OBJECT\", \"_schema_id\": {\"_class_name\": \"Domain\"}}";

    setup(&f, &r, NULL);
    key = agent_key(&f, 0);
    body = amqp_of(json, &len);
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_query_request", "amqp/map",
                                    NULL, r.reply_queue, "q-amqp", body, len , NULL, 0 });
    m = wait_for(&f, &r, "q-amqp", 1);
    cr_assert_str_eq(m->content_type, "amqp/list");
    assert_header(m, "qmf.opcode", "_query_response");
    assert_header(m, "qmf.content", "_data");
    cr_assert_null(m->type, "no AMQP 1.0 envelope for a 0-9-1 peer");
    list = amqp_body(m);
    cr_assert_eq(list->kind, QMF_LIST);
    cr_assert_eq(qmf_list_len(list), 3);
    /* Typed exactly: the schema's uint64 memory is an AMQP ulong. */
    cr_assert_eq(qmf_map_get(qmf_map_get(qmf_list_at(list, 0), "_values"), "memory")->kind,
                 QMF_UINT64);
    qmf_free(list);
    free(body);

    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_query_request",
                                    "application/json", NULL, r.reply_queue, "q-json", json,
                                    strlen(json) , NULL, 0 });
    m = wait_for(&f, &r, "q-json", 1);
    cr_assert_str_eq(m->content_type, "application/json");
    cr_assert_eq(m->body[0], '[');
    free(key);
    teardown(&f, &r);
}

/* Finding 4 and 6: locate with QMFv2's list body ([] for every agent, or
 * a predicate), or no body at all; the answer's _epoch is a uint32. */
Test(qmfv2, locate_with_a_list_or_no_body, .timeout = 120)
{
    struct test_fleet f;
    struct raw r;
    struct raw_msg *m;
    char *key, *empty, *match, *miss, *pred;
    size_t elen, mlen, nlen;
    qmf_value *v, *values;
    int64_t start_ns = 0;

    setup(&f, &r, NULL);
    key = agent_key(&f, 0);
    empty = amqp_of("[]", &elen);
    pred = qmf_xasprintf("[\"eq\", \"node\", [\"quote\", \"%s\"]]", f.nodes[0]);
    match = amqp_of(pred, &mlen);
    free(pred);
    miss = amqp_of("[\"eq\", \"node\", [\"quote\", \"no-such-node\"]]", &nlen);

    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_agent_locate_request",
                                    "amqp/list", NULL, r.reply_queue, "l-empty", empty, elen , NULL, 0 });
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_agent_locate_request", NULL,
                                    NULL, r.reply_queue, "l-none", "", 0 , NULL, 0 });
    /* Ordered by the agent's queue: the miss is settled before the match. */
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_agent_locate_request",
                                    "amqp/list", NULL, r.reply_queue, "l-miss", miss, nlen , NULL, 0 });
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_agent_locate_request",
                                    "amqp/list", NULL, r.reply_queue, "l-match", match, mlen , NULL, 0 });

    m = wait_for(&f, &r, "l-empty", 1);
    assert_header(m, "qmf.opcode", "_agent_locate_response");
    cr_assert_str_eq(m->content_type, "amqp/map");
    v = amqp_body(m);
    values = qmf_map_get(v, "_values");
    cr_assert_str_eq(qmf_map_get_string(values, "node"), f.nodes[0]);
    cr_assert_eq(qmf_map_get(values, "_epoch")->kind, QMF_UINT32,
                 "_epoch must be the uint32 Qpid reads, not a %s",
                 qmf_kind_name(qmf_map_get(values, "_epoch")->kind));
    cr_assert(qmf_get_int64(qmf_map_get(values, "_start_time"), &start_ns));
    cr_assert_eq(qmf_as_uint(qmf_map_get(values, "_epoch")), (uint64_t)(start_ns / 1000000000));
    cr_assert_eq(bus_agent_started_ns(values), start_ns);
    qmf_free(v);

    /* No body: answered in virtbus's default, JSON. */
    m = wait_for(&f, &r, "l-none", 1);
    assert_header(m, "qmf.opcode", "_agent_locate_response");
    cr_assert_str_eq(m->content_type, "application/json");

    m = wait_for(&f, &r, "l-match", 1);
    assert_header(m, "qmf.opcode", "_agent_locate_response");
    cr_assert_eq(count_corr(&r, "l-miss"), 0, "an agent the predicate leaves out answered");
    free(empty);
    free(match);
    free(miss);
    free(key);
    teardown(&f, &r);
}

/* Finding 5: Qpid's reply-to forms, exchange/subject, reach the console;
 * a reply-to under another key of the topic exchange is refused, and
 * nothing is published there (issue 11's rule). */
Test(qmfv2, qpid_reply_to_forms, .timeout = 120)
{
    struct test_fleet f;
    struct raw r;
    struct raw_msg *m;
    char *key, *topic_key, *direct_key, *bad_key, *topic_to, *direct_to, *bad_to;
    char *topic_q, *direct_q, *bad_q;
    const char *body = "{\"_what\": \"SCHEMA_ID\"}";

    setup(&f, &r, NULL);
    key = agent_key(&f, 0);
    topic_key = qmf_xasprintf("direct-console.%s", f.nodes[0]);
    direct_key = qmf_xasprintf("qpid-console.%s", f.nodes[0]);
    bad_key = qmf_xasprintf("agent.ind.heartbeat.%s", f.nodes[0]);
    topic_q = raw_queue(&r, BUS_EXCHANGE_TOPIC, topic_key);
    direct_q = raw_queue(&r, BUS_EXCHANGE_DIRECT, direct_key);
    bad_q = raw_queue(&r, BUS_EXCHANGE_TOPIC, bad_key);
    topic_to = qmf_xasprintf("%s/%s; {node: {type: topic}}", BUS_EXCHANGE_TOPIC, topic_key);
    direct_to = qmf_xasprintf("%s/%s", BUS_EXCHANGE_DIRECT, direct_key);
    bad_to = qmf_xasprintf("%s/%s", BUS_EXCHANGE_TOPIC, bad_key);

    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_query_request",
                                    "application/json", NULL, bad_to, "r-bad", body,
                                    strlen(body) , NULL, 0 });
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_query_request",
                                    "application/json", NULL, topic_to, "r-topic", body,
                                    strlen(body) , NULL, 0 });
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_query_request",
                                    "application/json", NULL, direct_to, "r-direct", body,
                                    strlen(body) , NULL, 0 });
    m = wait_for(&f, &r, "r-topic", 1);
    cr_assert_str_eq(m->routing_key, topic_key);
    assert_header(m, "qmf.opcode", "_query_response");
    m = wait_for(&f, &r, "r-direct", 1);
    cr_assert_str_eq(m->routing_key, direct_key);
    /* The refused one came first on the agent's queue: had it been
     * answered, that answer would be here by now. */
    cr_assert_eq(count_corr(&r, "r-bad"), 0, "a reply went to another agent's key");
    free(topic_q);
    free(direct_q);
    free(bad_q);
    free(topic_to);
    free(direct_to);
    free(bad_to);
    free(topic_key);
    free(direct_key);
    free(bad_key);
    free(key);
    teardown(&f, &r);
}

/* Finding 9: a string _object_id, as Python's qmf2 sends it, names the
 * object of the agent asked, in queries and method calls. */
Test(qmfv2, string_object_id, .timeout = 120)
{
    struct test_fleet f;
    struct raw r;
    struct raw_msg *m;
    char *key, *query, *call;
    size_t qlen, clen;
    qmf_value *v;

    setup(&f, &r, NULL);
    key = agent_key(&f, 0);
    query = amqp_of("{\"_what\": \"OBJECT\", \"_object_id\": \"domain:" WEB1_UUID "\"}", &qlen);
    call = amqp_of("{\"_object_id\": \"domain:" WEB1_UUID "\", \"_method_name\": \"getXMLDesc\","
                   " \"_arguments\": {}}", &clen);
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_query_request", "amqp/map",
                                    NULL, r.reply_queue, "o-query", query, qlen , NULL, 0 });
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_method_request", "amqp/map",
                                    NULL, r.reply_queue, "o-call", call, clen , NULL, 0 });
    m = wait_for(&f, &r, "o-query", 1);
    assert_header(m, "qmf.opcode", "_query_response");
    v = amqp_body(m);
    cr_assert_eq(qmf_list_len(v), 1);
    cr_assert_str_eq(qmf_map_get_string(qmf_map_get(qmf_list_at(v, 0), "_values"), "uuid"),
                     WEB1_UUID);
    qmf_free(v);
    m = wait_for(&f, &r, "o-call", 1);
    assert_header(m, "qmf.opcode", "_method_response");
    v = amqp_body(m);
    cr_assert(strstr(qmf_map_get_string(qmf_map_get(v, "_arguments"), "description"),
                     "<domain") != NULL);
    qmf_free(v);
    free(query);
    free(call);
    free(key);
    teardown(&f, &r);
}

/* Finding 8: the schema's _type is QMFv2's TYPE_* code, ours in _subtype. */
Test(qmfv2, schema_types_are_qmfv2_codes, .timeout = 120)
{
    struct test_fleet f;
    struct raw r;
    struct raw_msg *m;
    char *key, *body;
    size_t len, i;
    qmf_value *v;
    const qmf_value *props;

    setup(&f, &r, NULL);
    key = agent_key(&f, 0);
    body = amqp_of("{\"_what\": \"SCHEMA\", \"_schema_id\": {\"_class_name\": \"Domain\"}}",
                   &len);
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_query_request", "amqp/map",
                                    NULL, r.reply_queue, "s", body, len , NULL, 0 });
    m = wait_for(&f, &r, "s", 1);
    assert_header(m, "qmf.content", "_schema");
    v = amqp_body(m);
    props = qmf_map_get(qmf_list_at(v, 0), "_properties");
    cr_assert_gt(qmf_list_len(props), 5);
    for (i = 0; i < qmf_list_len(props); i++) {
        const qmf_value *p = qmf_list_at(props, i);
        const char *name = qmf_map_get_string(p, "_name");

        cr_assert_eq(strncmp(qmf_map_get_string(p, "_type"), "TYPE_", 5), 0, "%s: %s", name,
                     qmf_map_get_string(p, "_type"));
        if (strcmp(name, "memory") == 0) {
            cr_assert_str_eq(qmf_map_get_string(p, "_type"), "TYPE_INT");
            cr_assert_str_eq(qmf_map_get_string(p, "_subtype"), "uint64");
        }
    }
    qmf_free(v);
    free(body);
    free(key);
    teardown(&f, &r);
}

/* One AMQP 0-10 value of the Qpid C++ framing: str16 of s. */
static size_t
put_str16(unsigned char *out, const char *s)
{
    size_t n = strlen(s);

    out[0] = 0x95;
    out[1] = (unsigned char)(n >> 8);
    out[2] = (unsigned char)n;
    memcpy(out + 3, s, n);
    return n + 3;
}

static size_t
put_key(unsigned char *out, const char *k)
{
    out[0] = (unsigned char)strlen(k);
    memcpy(out + 1, k, strlen(k));
    return strlen(k) + 1;
}

static void
put_u32(unsigned char *out, uint32_t v)
{
    out[0] = (unsigned char)(v >> 24);
    out[1] = (unsigned char)(v >> 16);
    out[2] = (unsigned char)(v >> 8);
    out[3] = (unsigned char)v;
}

/* Finding 10: a query in AMQP 0-10's map encoding, as a Qpid C++ peer on
 * 0-10 writes amqp/map, is read and answered. */
Test(qmfv2, amqp010_map_request, .timeout = 120)
{
    struct test_fleet f;
    struct raw r;
    struct raw_msg *m;
    unsigned char buf[256], *inner;
    size_t o = 8, io;
    char *key;
    qmf_value *v;

    setup(&f, &r, NULL);
    key = agent_key(&f, 0);
    /* {"_what": "OBJECT", "_schema_id": {"_class_name": "Network"}} */
    o += put_key(buf + o, "_what");
    o += put_str16(buf + o, "OBJECT");
    o += put_key(buf + o, "_schema_id");
    buf[o++] = 0xa8;
    inner = buf + o;
    io = 8;
    io += put_key(inner + io, "_class_name");
    io += put_str16(inner + io, "Network");
    put_u32(inner, (uint32_t)io - 4);
    put_u32(inner + 4, 1);
    o += io;
    put_u32(buf, (uint32_t)o - 4);
    put_u32(buf + 4, 2);
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_query_request", "amqp/map",
                                    NULL, r.reply_queue, "a010", (char *)buf, o , NULL, 0 });
    m = wait_for(&f, &r, "a010", 1);
    assert_header(m, "qmf.opcode", "_query_response");
    assert_header(m, "qmf.content", "_data");
    v = amqp_body(m);
    cr_assert_gt(qmf_list_len(v), 0);
    cr_assert_str_eq(qmf_map_get_string(qmf_map_get(qmf_list_at(v, 0), "_schema_id"),
                                        "_class_name"), "Network");
    qmf_free(v);
    free(key);
    teardown(&f, &r);
}

/* The section RabbitMQ's plugin puts in x-amqp-1.0-app-properties. */
static char *
app_properties(const char *opcode, size_t *len)
{
    qmf_value *props = qmf_map();
    char *buf;

    qmf_map_set(props, "qmf.opcode", qmf_string(opcode));
    qmf_map_set(props, "method", qmf_string("request"));
    qmf_map_set(props, "x-extra", qmf_int(QMF_INT8, 7));
    cr_assert_eq(qmf_amqp_section_encode(QMF_AMQP_SECTION_APP_PROPERTIES, props, &buf, len), 0);
    qmf_free(props);
    return buf;
}

/* Findings 1 and 2: a request of an AMQP 1.0 client as RabbitMQ 3.10's
 * plugin delivers it over 0-9-1 (type amqp-1.0, its application-properties
 * only in a header, an amqp-value section as the body), answered in the
 * same envelope: a 1.0 consumer then gets application-properties.  (The
 * real plugin is exercised by tests/integration/qmfv2_amqp10.sh.) */
Test(qmfv2, amqp10_envelope_both_ways, .timeout = 120)
{
    struct test_fleet f;
    struct raw r;
    struct raw_msg *m;
    struct qmf_amqp_section s;
    char *key, *props, *value, *body;
    size_t plen, vlen, off = 0;
    qmf_value *v;
    qmf_error err;

    setup(&f, &r, NULL);
    key = agent_key(&f, 0);
    props = app_properties("_query_request", &plen);
    v = parse("{\"_what\": \"OBJECT\", \"_schema_id\": {\"_class_name\": \"Domain\"}}");
    cr_assert_eq(qmf_amqp_section_encode(QMF_AMQP_SECTION_VALUE, v, &value, &vlen), 0);
    qmf_free(v);
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_query_request", "amqp/map",
                                    "amqp-1.0", r.reply_queue, "e-1", value, vlen, props,
                                    plen });
    m = wait_for(&f, &r, "e-1", 1);
    cr_assert_str_eq(m->type, "amqp-1.0");
    cr_assert_str_eq(m->content_type, "amqp/list");
    cr_assert_not_null(m->amqp10_props, "no application-properties for the 1.0 peer");
    cr_assert_eq(qmf_amqp_section_next(m->amqp10_props, m->amqp10_props_len, &off, &s, &err), 1,
                 "%s", err.text);
    cr_assert_eq(s.descriptor, QMF_AMQP_SECTION_APP_PROPERTIES);
    v = qmf_from_amqp(s.value, s.value_len, &err);
    cr_assert_not_null(v, "%s", err.text);
    cr_assert_str_eq(qmf_map_get_string(v, "qmf.opcode"), "_query_response");
    cr_assert_str_eq(qmf_map_get_string(v, "qmf.content"), "_data");
    cr_assert_not_null(qmf_map_get_string(v, "qmf.agent"));
    qmf_free(v);
    off = 0;
    cr_assert_eq(qmf_amqp_section_next(m->body, m->body_len, &off, &s, &err), 1, "%s",
                 err.text);
    cr_assert_eq(s.descriptor, QMF_AMQP_SECTION_VALUE);
    cr_assert_eq(off, m->body_len, "one section only");
    v = qmf_from_amqp(s.value, s.value_len, &err);
    cr_assert_eq(qmf_list_len(v), 3);
    qmf_free(v);

    /* JSON bytes in a data section: answered in JSON, in a data section. */
    free(value);
    body = "{\"_what\": \"SCHEMA_ID\"}";
    qmf_amqp_data_section(body, strlen(body), &value, &vlen);
    raw_send(&r, &(struct request){ BUS_EXCHANGE_DIRECT, key, "_query_request",
                                    "application/json", "amqp-1.0", r.reply_queue, "e-2", value,
                                    vlen, props, plen });
    m = wait_for(&f, &r, "e-2", 1);
    cr_assert_str_eq(m->type, "amqp-1.0");
    cr_assert_str_eq(m->content_type, "application/json");
    off = 0;
    cr_assert_eq(qmf_amqp_section_next(m->body, m->body_len, &off, &s, &err), 1, "%s",
                 err.text);
    cr_assert_eq(s.descriptor, QMF_AMQP_SECTION_DATA);
    free(value);
    free(props);
    free(key);
    teardown(&f, &r);
}

static void
amqp_indications(struct agent_config *cfg, size_t index)
{
    unsigned_ok(cfg, index);
    free(cfg->indication_encoding);
    cfg->indication_encoding = qmf_xstrdup("amqp");
    cfg->indication_amqp10 = true;
    cfg->heartbeat_interval = 1;
}

struct seen {
    struct raw *r;
    const char *routing_prefix;
};

static bool
heard(void *arg)
{
    struct seen *s = arg;
    size_t i;

    raw_poll(s->r);
    for (i = 0; i < s->r->n; i++)
        if (strncmp(s->r->msgs[i].routing_key, s->routing_prefix, strlen(s->routing_prefix)) == 0)
            return true;
    return false;
}

/* Findings 2, 3, 6, 7: with indication_encoding = "amqp" and
 * indication_amqp10 = yes, heartbeats and events go as amqp/map and
 * amqp/list in the 1.0 envelope (_epoch uint32, _severity int8), and a
 * virtbus console, which signs and checks, still reads them. */
Test(qmfv2, indications_in_the_configured_encoding, .timeout = 120)
{
    static const char *const watch[] = { "agent.ind.event.#", NULL };
    struct test_fleet f;
    struct raw r;
    struct seen s = { &r, "agent.ind.heartbeat." };
    struct event *ev;
    struct timeval period = { 0, 2000 };
    struct qmf_amqp_section sec;
    struct raw_msg *m = NULL;
    char *hb_q, *ev_q;
    qmf_value *v, *item;
    qmf_error err;
    size_t i, off = 0;

    setup(&f, &r, amqp_indications);
    hb_q = raw_queue(&r, BUS_EXCHANGE_TOPIC, "agent.ind.heartbeat.#");
    ev_q = raw_queue(&r, BUS_EXCHANGE_TOPIC, "agent.ind.event.#");
    fleet_open_console(&f, watch);
    ev = event_new(f.base, -1, EV_PERSIST, tick, NULL);
    event_add(ev, &period);
    cr_assert(fleet_run_until(&f, heard, &s, FLEET_WAIT_MS), "no heartbeat");
    for (i = 0; i < r.n && m == NULL; i++)
        if (strncmp(r.msgs[i].routing_key, s.routing_prefix, strlen(s.routing_prefix)) == 0)
            m = &r.msgs[i];
    cr_assert_str_eq(m->type, "amqp-1.0");
    cr_assert_str_eq(m->content_type, "amqp/map");
    cr_assert_eq(qmf_amqp_section_next(m->body, m->body_len, &off, &sec, &err), 1, "%s",
                 err.text);
    cr_assert_eq(sec.descriptor, QMF_AMQP_SECTION_VALUE);
    v = qmf_from_amqp(sec.value, sec.value_len, &err);
    cr_assert_eq(qmf_map_get(qmf_map_get(v, "_values"), "_epoch")->kind, QMF_UINT32);
    qmf_free(v);
    off = 0;
    cr_assert_eq(qmf_amqp_section_next(m->amqp10_props, m->amqp10_props_len, &off, &sec, &err),
                 1);
    v = qmf_from_amqp(sec.value, sec.value_len, &err);
    cr_assert_str_eq(qmf_map_get_string(v, "qmf.opcode"), "_agent_heartbeat_indication");
    qmf_free(v);

    /* An event: the virtbus console reads (and checks) it from the
     * envelope; the raw one sees an int8 severity. */
    qmf_free(fleet_call_ok(&f, 0, "domain:" WEB1_UUID, "suspend", NULL));
    item = fleet_expect_watch(&f, 0, "domainLifecycle", "event", "suspended", NULL);
    cr_assert_eq(qmf_map_get(item, "_severity")->kind, QMF_INT8);
    qmf_free(item);
    s.routing_prefix = "agent.ind.event.org_libvirt.domainLifecycle.";
    cr_assert(fleet_run_until(&f, heard, &s, FLEET_WAIT_MS), "no event on the raw client");
    event_free(ev);
    for (m = NULL, i = 0; i < r.n && m == NULL; i++)
        if (strncmp(r.msgs[i].routing_key, s.routing_prefix, strlen(s.routing_prefix)) == 0)
            m = &r.msgs[i];
    cr_assert_str_eq(m->content_type, "amqp/list");
    off = 0;
    cr_assert_eq(qmf_amqp_section_next(m->body, m->body_len, &off, &sec, &err), 1);
    v = qmf_from_amqp(sec.value, sec.value_len, &err);
    cr_assert_eq(qmf_map_get(qmf_list_at(v, 0), "_severity")->kind, QMF_INT8);
    cr_assert_eq(qmf_as_int(qmf_map_get(qmf_list_at(v, 0), "_severity")), 6, "info");
    qmf_free(v);
    free(hb_q);
    free(ev_q);
    teardown(&f, &r);
}
