/*
 * Bad input, one row per case, against a real agent on the real broker:
 * each row's message is sent raw (rabbitmq-c, so that properties, headers
 * and bodies can be what no console would send), its answer is checked
 * (an error code with a text, a normal answer, or nothing), then a good
 * query must be answered: the agent kept serving.  Rows that are commands
 * also expect their commandResult.  At the end nothing is left in the
 * agent's queue.  A row is data; adding a case is adding a row.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <proton/codec.h>

#include "schema/qmf/codec.h"
#include "schema/qmf/text.h"
#include "tests/integration/harness.h"

#define DOMAIN_WEB1 "domain:10000000-0000-4000-8000-000000000001"

/* What a row expects besides an error code. */
#define ANSWERED 0            /* a normal answer, not an _exception */
#define NO_REPLY UINT32_MAX   /* nothing at all to the reply-to */

/* The message of a row, as it goes on the wire. */
struct raw_request {
    amqp_basic_properties_t props;
    amqp_table_entry_t headers[8];
    char *texts[8];               /* header and property strings we made */
    int ntexts;
    char *body;
    size_t body_len;
};

struct bad_row {
    const char *name;
    const char *opcode;           /* the qmf.opcode header; NULL: none */
    const char *body;             /* JSON; "@A" stands for the agent's name */
    void (*tweak)(struct raw_request *r, const char *agent);
    uint32_t expect;              /* error code, ANSWERED or NO_REPLY */
    const char *text;             /* part of error_text */
    const char *record;           /* commandResult outcome, or NULL: none checked */
};

/* The raw console: a reply queue and a queue of every commandResult and of
 * whatever is published under the key of a made-up agent "victim". */
struct raw_client {
    amqp_connection_state_t amqp;
    char *reply_queue;
    qmf_value *replies;           /* [{corr, opcode, body}] received */
    qmf_value *records;           /* commandResult _values received */
    size_t victim_messages;
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A string kept until the request is sent. */
static amqp_bytes_t
keep(struct raw_request *r, char *s, size_t len)
{
    amqp_bytes_t b = { .len = len, .bytes = s };

    cr_assert_lt(r->ntexts, 8);
    r->texts[r->ntexts++] = s;
    return b;
}

static void
add_header(struct raw_request *r, const char *key, amqp_field_value_t v)
{
    amqp_table_t *t = &r->props.headers;

    cr_assert_lt(t->num_entries, 8);
    r->props._flags |= AMQP_BASIC_HEADERS_FLAG;
    t->entries = r->headers;
    r->headers[t->num_entries].key = amqp_cstring_bytes(key);
    r->headers[t->num_entries].value = v;
    t->num_entries++;
}

static void
add_string_header(struct raw_request *r, const char *key, const char *s, size_t len)
{
    amqp_field_value_t v = { .kind = AMQP_FIELD_KIND_UTF8 };

    v.value.bytes = keep(r, qmf_xstrndup(s, len), len);
    add_header(r, key, v);
}

static void
add_i64_header(struct raw_request *r, const char *key, int64_t n)
{
    amqp_field_value_t v = { .kind = AMQP_FIELD_KIND_I64 };

    v.value.i64 = n;
    add_header(r, key, v);
}

static void
set_body(struct raw_request *r, char *body, size_t len)
{
    free(r->body);
    r->body = body;
    r->body_len = len;
}

/* The JSON of a row with "@A" replaced by the agent name. */
static char *
expand(const char *text, const char *agent)
{
    size_t n = 0, i;
    char *out = qmf_xmalloc(strlen(text) + 16 * strlen(agent) + 1);

    for (i = 0; text[i] != '\0'; i++) {
        if (text[i] == '@' && text[i + 1] == 'A') {
            strcpy(out + n, agent);
            n += strlen(agent);
            i++;
        } else {
            out[n++] = text[i];
        }
    }
    out[n] = '\0';
    return out;
}

/* Tweaks: what each row changes on the wire ------------------------------- */

static void
created_max(struct raw_request *r, const char *agent)
{
    add_i64_header(r, "created", INT64_MAX);
    add_i64_header(r, "ttl", 1);
}

static void
created_min(struct raw_request *r, const char *agent)
{
    add_i64_header(r, "created", INT64_MIN);
    add_i64_header(r, "ttl", 1);
}

static void
ttl_max(struct raw_request *r, const char *agent)
{
    add_i64_header(r, "created", now_ms());
    add_i64_header(r, "ttl", INT64_MAX);
}

/* An AMQP timestamp counts seconds: now, with a minute to live. */
static void
created_as_timestamp(struct raw_request *r, const char *agent)
{
    amqp_field_value_t v = { .kind = AMQP_FIELD_KIND_TIMESTAMP };

    v.value.u64 = (uint64_t)(now_ms() / 1000);
    add_header(r, "created", v);
    add_i64_header(r, "ttl", 60000);
}

/* 100 000 bytes of header: over the 32 KiB frame the agent once had. */
static void
big_header(struct raw_request *r, const char *agent)
{
    size_t len = 100000;
    char *pad = qmf_xmalloc(len);

    memset(pad, 'x', len);
    add_string_header(r, "x-pad", pad, len);
    free(pad);
}

/* A body of one map with 200 000 keys (about 2.6 MB). */
static void
many_keys(struct raw_request *r, const char *agent)
{
    size_t n = 200000, i, len = 0;
    char *body = qmf_xmalloc(n * 20 + 64);

    len += (size_t)sprintf(body, "{\"_what\": \"OBJECT\", \"_pad\": {");
    for (i = 0; i < n; i++)
        len += (size_t)sprintf(body + len, "%s\"k%zu\":1", i ? "," : "", i);
    len += (size_t)sprintf(body + len, "}}");
    set_body(r, body, len);
}

static void
opcode_with_nul(struct raw_request *r, const char *agent)
{
    add_string_header(r, "qmf.opcode", "_query_request\0_method_request", 30);
}

static void
opcode_not_utf8(struct raw_request *r, const char *agent)
{
    add_string_header(r, "qmf.opcode", "_qu\xff\xfe_request", 13);
}

static void
message_id_with_nul(struct raw_request *r, const char *agent)
{
    r->props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    r->props.message_id = keep(r, qmf_xstrndup("id\0other", 8), 8);
}

static void
reply_to_victim_key(struct raw_request *r, const char *agent)
{
    static const char to[] = "/exchange/qmf.default.topic/agent.ind.event.org_libvirt."
                             "commandResult.info.virtbus.agent.victim";

    r->props.reply_to = keep(r, qmf_xstrdup(to), strlen(to));
}

static void
reply_to_missing_exchange(struct raw_request *r, const char *agent)
{
    static const char to[] = "/exchange/virtbus.no.such.exchange/x";

    r->props.reply_to = keep(r, qmf_xstrdup(to), strlen(to));
}

static void
reply_to_agent_key(struct raw_request *r, const char *agent)
{
    char *to = qmf_xasprintf("/exchange/qmf.default.direct/virtbus:agent:victim");

    r->props.reply_to = keep(r, to, strlen(to));
}

static void
huge_object_name(struct raw_request *r, const char *agent)
{
    size_t n = 1024 * 1024, len;
    char *name = qmf_xmalloc(n + 1);
    char *body;

    memset(name, 'n', n);
    name[n] = '\0';
    body = qmf_xasprintf("{\"_object_id\": {\"_agent_name\": \"%s\", \"_object_name\": \"%s\"},"
                         " \"_method_name\": \"getXMLDesc\"}", agent, name);
    len = strlen(body);
    set_body(r, body, len);
    free(name);
}

/* An AMQP 1.0 map body that proton encodes but QMF must refuse. */
static void
amqp_body(struct raw_request *r, void (*fill)(pn_data_t *))
{
    pn_data_t *d = pn_data(0);
    char *buf = qmf_xmalloc(4096);
    ssize_t n;

    fill(d);
    n = pn_data_encode(d, buf, 4096);
    cr_assert_gt(n, 0);
    pn_data_free(d);
    set_body(r, buf, (size_t)n);
    r->props.content_type = amqp_cstring_bytes(BUS_CONTENT_AMQP_MAP);
}

static void
fill_repeated_what(pn_data_t *d)
{
    pn_data_put_map(d);
    pn_data_enter(d);
    pn_data_put_string(d, pn_bytes(5, "_what"));
    pn_data_put_string(d, pn_bytes(6, "OBJECT"));
    pn_data_put_string(d, pn_bytes(5, "_what"));
    pn_data_put_string(d, pn_bytes(6, "SCHEMA"));
    pn_data_exit(d);
}

static void
fill_bad_utf8(pn_data_t *d)
{
    pn_data_put_map(d);
    pn_data_enter(d);
    pn_data_put_string(d, pn_bytes(5, "_what"));
    pn_data_put_string(d, pn_bytes(7, "OBJ\xc0\x80" "CT"));
    pn_data_exit(d);
}

static void
amqp_repeated_key(struct raw_request *r, const char *agent)
{
    amqp_body(r, fill_repeated_what);
}

static void
amqp_string_not_utf8(struct raw_request *r, const char *agent)
{
    amqp_body(r, fill_bad_utf8);
}

/* The table ------------------------------------------------------------------ */

#define QUERY "_query_request"
#define METHOD "_method_request"
#define WEB1 "{\"_agent_name\": \"@A\", \"_object_name\": \"" DOMAIN_WEB1 "\"}"

static const struct bad_row rows[] = {
    /* Crashes from one message. */
    { "backreference regex in _where", QUERY,
      "{\"_what\": \"OBJECT\", \"_where\": [\"re_match\", \"name\", \"(|)(\\\\1\\\\1)*\"]}",
      NULL, QMF_ERR_INVALID_ARGS, "backreferences are not supported", NULL },
    { "backreference regex in _target", QUERY,
      "{\"_what\": \"OBJECT\", \"_target\": [\"re_match\", \"node\", \"(|)(\\\\1\\\\1)*\"]}",
      NULL, QMF_ERR_INVALID_ARGS, "backreferences are not supported", NULL },
    { "created INT64_MAX, ttl 1", QUERY, "{\"_what\": \"OBJECT\"}", created_max,
      ANSWERED, NULL, NULL },
    { "created INT64_MIN, ttl 1", QUERY, "{\"_what\": \"OBJECT\"}", created_min,
      QMF_ERR_EXPIRED, "expired", NULL },
    { "ttl INT64_MAX", QUERY, "{\"_what\": \"OBJECT\"}", ttl_max, ANSWERED, NULL, NULL },
    /* Stalls and resource exhaustion. */
    { "a header of 100 000 bytes", QUERY, "{\"_what\": \"OBJECT\"}", big_header,
      ANSWERED, NULL, NULL },
    { "a map of 200 000 keys", QUERY, NULL, many_keys, ANSWERED, NULL, NULL },
    { "backreferences over long text", QUERY,
      "{\"_what\": \"OBJECT\", \"_where\": [\"re_match\", \"name\", \"^(a*)*\\\\1$\"]}",
      NULL, QMF_ERR_INVALID_ARGS, "backreferences", NULL },
    { "a{1,32767}", QUERY,
      "{\"_what\": \"OBJECT\", \"_where\": [\"re_match\", \"name\", \"a{1,32767}\"]}",
      NULL, ANSWERED, NULL, NULL },
    { "catastrophic backtracking under a not", QUERY,
      "{\"_what\": \"OBJECT\", \"_where\": [\"not\", [\"re_match\", \"name\", "
      "\"^((.*)*)*[^\\\\s\\\\S]\"]]}", NULL, QMF_ERR_INVALID_ARGS, "match limit", NULL },
    { "catastrophic backtracking in _target", QUERY,
      "{\"_what\": \"OBJECT\", \"_target\": [\"re_match\", \"node\", "
      "\"^((.*)*)*[^\\\\s\\\\S]\"]}", NULL, QMF_ERR_INVALID_ARGS, "match limit", NULL },
    /* Wrong answers to bad input: NUL. */
    { "NUL in _method_name", METHOD,
      "{\"_object_id\": " WEB1 ", \"_method_name\": \"getXMLDesc\\u0000rm\"}",
      NULL, QMF_ERR_MALFORMED, "NUL", "rejected" },
    { "NUL in a save filename", METHOD,
      "{\"_object_id\": " WEB1 ", \"_method_name\": \"save\", \"_arguments\": "
      "{\"filename\": \"/tmp/x\\u0000/etc/shadow\"}}",
      NULL, QMF_ERR_MALFORMED, "NUL", "rejected" },
    { "NUL in a key", QUERY, "{\"_what\\u0000x\": \"OBJECT\"}", NULL, QMF_ERR_MALFORMED,
      "NUL", NULL },
    { "NUL in the qmf.opcode header", NULL, "{\"_what\": \"OBJECT\"}", opcode_with_nul,
      QMF_ERR_MALFORMED, "holds a NUL byte", NULL },
    { "NUL in message-id", QUERY, "{\"_what\": \"OBJECT\"}", message_id_with_nul,
      QMF_ERR_MALFORMED, "message_id", NULL },
    /* Numbers. */
    { "an integer beyond 64 bits", METHOD,
      "{\"_object_id\": " WEB1 ", \"_method_name\": \"getXMLDesc\", \"_arguments\": "
      "{\"flags\": 18446744073709551616}}",
      NULL, QMF_ERR_MALFORMED, "64-bit range", "rejected" },
    { "an integral double for a uint32", METHOD,
      "{\"_object_id\": " WEB1 ", \"_method_name\": \"getXMLDesc\", \"_arguments\": "
      "{\"flags\": 1.0}}",
      NULL, QMF_ERR_INVALID_ARGS, "expected uint32, got double", "rejected" },
    { "created typed as an AMQP timestamp (seconds)", QUERY, "{\"_what\": \"OBJECT\"}",
      created_as_timestamp, ANSWERED, NULL, NULL },
    /* Text. */
    { "invalid UTF-8 in the opcode, quoted back", NULL, "{\"_what\": \"OBJECT\"}",
      opcode_not_utf8, QMF_ERR_MALFORMED, "unknown opcode '_qu??_request'", NULL },
    { "overlong UTF-8 in JSON", QUERY, "{\"_what\": \"OBJ\xc0\xaf" "CT\"}", NULL,
      QMF_ERR_MALFORMED, "", NULL },
    { "a lone surrogate in JSON", QUERY, "{\"_what\": \"\\ud800\"}", NULL,
      QMF_ERR_MALFORMED, "surrogate", NULL },
    { "a 1 MB objectName", METHOD, NULL, huge_object_name, QMF_ERR_UNKNOWN_OBJECT,
      "no object", "rejected" },
    /* Wrong kinds are not absent. */
    { "a numeric _agent_name", METHOD,
      "{\"_object_id\": {\"_agent_name\": 7, \"_object_name\": \"" DOMAIN_WEB1 "\"},"
      " \"_method_name\": \"getXMLDesc\"}",
      NULL, QMF_ERR_MALFORMED, "_agent_name must be a string", "rejected" },
    { "a numeric _agent_name in a query", QUERY,
      "{\"_what\": \"OBJECT\", \"_object_id\": {\"_agent_name\": [], \"_object_name\": \"x\"}}",
      NULL, QMF_ERR_MALFORMED, "_agent_name must be a string", NULL },
    { "a numeric _package_name", QUERY,
      "{\"_what\": \"OBJECT\", \"_schema_id\": {\"_package_name\": 1, "
      "\"_class_name\": \"Domain\"}}",
      NULL, QMF_ERR_MALFORMED, "_package_name must be a string", NULL },
    { "_object_id not a map", METHOD, "{\"_object_id\": \"web1\", \"_method_name\": \"x\"}",
      NULL, QMF_ERR_MALFORMED, "_object_id must be a map", "rejected" },
    { "_what not a string", QUERY, "{\"_what\": 1}", NULL, QMF_ERR_MALFORMED,
      "_what must be a string", NULL },
    /* Reply-to: only reply addresses; nothing goes elsewhere. */
    { "reply-to another agent's event key", METHOD,
      "{\"_object_id\": " WEB1 ", \"_method_name\": \"getXMLDesc\"}",
      reply_to_victim_key, NO_REPLY, NULL, "rejected" },
    { "reply-to a missing exchange", METHOD,
      "{\"_object_id\": " WEB1 ", \"_method_name\": \"getXMLDesc\"}",
      reply_to_missing_exchange, NO_REPLY, NULL, "rejected" },
    { "reply-to an agent's command key", QUERY, "{\"_what\": \"OBJECT\"}",
      reply_to_agent_key, NO_REPLY, NULL, NULL },
    /* Files. */
    { "restore of /etc/shadow", METHOD,
      "{\"_object_id\": {\"_agent_name\": \"@A\", \"_object_name\": \"node\"},"
      " \"_method_name\": \"restore\", \"_arguments\": {\"filename\": \"/etc/shadow\"}}",
      NULL, QMF_ERR_LIBVIRT | 9, "Node.restore failed on the file '/etc/shadow' (the reason "
      "is in the agent's log", NULL },
    /* AMQP 1.0 bodies. */
    { "an AMQP map with a key twice", QUERY, NULL, amqp_repeated_key, QMF_ERR_MALFORMED,
      "a key twice", NULL },
    { "an AMQP string that is not UTF-8", QUERY, NULL, amqp_string_not_utf8,
      QMF_ERR_MALFORMED, "not valid UTF-8", NULL },
};

/* The raw client ------------------------------------------------------------- */

static char *
declare_queue(struct raw_client *rc, const char *exchange, const char *key)
{
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(rc->amqp, 1, amqp_empty_bytes, 0, 0, 1,
                                                     1, amqp_empty_table);
    char *name;

    cr_assert_not_null(ok);
    name = qmf_xstrndup(ok->queue.bytes, ok->queue.len);
    if (exchange != NULL)
        cr_assert_not_null(amqp_queue_bind(rc->amqp, 1, amqp_cstring_bytes(name),
                                           amqp_cstring_bytes(exchange),
                                           amqp_cstring_bytes(key), amqp_empty_table));
    cr_assert_not_null(amqp_basic_consume(rc->amqp, 1, amqp_cstring_bytes(name),
                                          amqp_empty_bytes, 0, 1, 0, amqp_empty_table));
    return name;
}

static void
raw_client_open(struct raw_client *rc, const char *url)
{
    char *events, *victim;

    memset(rc, 0, sizeof(*rc));
    rc->amqp = test_raw_connect(url);
    rc->reply_queue = declare_queue(rc, NULL, NULL);
    events = declare_queue(rc, BUS_EXCHANGE_TOPIC,
                           "agent.ind.event.org_libvirt.commandResult.#");
    victim = declare_queue(rc, BUS_EXCHANGE_TOPIC, "#.virtbus.agent.victim");
    free(events);
    free(victim);
    rc->replies = qmf_list();
    rc->records = qmf_list();
}

static void
raw_client_close(struct raw_client *rc)
{
    test_raw_close(rc->amqp);
    free(rc->reply_queue);
    qmf_free(rc->replies);
    qmf_free(rc->records);
}

static char *
header_string(const amqp_basic_properties_t *p, const char *key)
{
    int i;

    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
        return NULL;
    for (i = 0; i < p->headers.num_entries; i++) {
        const amqp_table_entry_t *e = &p->headers.entries[i];

        if (e->key.len == strlen(key) && memcmp(e->key.bytes, key, e->key.len) == 0 &&
            e->value.kind == AMQP_FIELD_KIND_UTF8)
            return qmf_xstrndup(e->value.value.bytes.bytes, e->value.value.bytes.len);
    }
    return NULL;
}

/* Takes whatever has arrived, without waiting. */
static void
raw_client_poll(struct raw_client *rc)
{
    for (;;) {
        struct timeval zero = { 0, 0 };
        amqp_envelope_t env;
        amqp_rpc_reply_t r;
        qmf_value *body;
        qmf_error err;

        amqp_maybe_release_buffers(rc->amqp);
        r = amqp_consume_message(rc->amqp, &env, &zero, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            return;
        cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL, "the raw client lost the broker");
        body = qmf_from_json(env.message.body.bytes, env.message.body.len, &err);
        if (env.routing_key.len >= 6 && memcmp((char *)env.routing_key.bytes +
                                               env.routing_key.len - 6, "victim", 6) == 0) {
            rc->victim_messages++;
            qmf_free(body);
        } else if (env.exchange.len > 0) {
            /* A commandResult: a list of one event. */
            qmf_list_append(rc->records,
                            qmf_dup(qmf_map_get(qmf_list_at(body, 0), "_values")));
            qmf_free(body);
        } else {
            qmf_value *reply = qmf_list_append(rc->replies, qmf_map());
            char *opcode = header_string(&env.message.properties, "qmf.opcode");

            cr_assert_not_null(body, "a reply that is not JSON: %s", err.text);
            qmf_map_set(reply, "corr", qmf_stringn(env.message.properties.correlation_id.bytes,
                                                   env.message.properties.correlation_id.len));
            qmf_map_set(reply, "opcode", qmf_string(opcode ? opcode : ""));
            qmf_map_set(reply, "body", body);
            free(opcode);
        }
        amqp_destroy_envelope(&env);
    }
}

static const qmf_value *
find_by(const qmf_value *list, const char *key, const char *value)
{
    size_t i;

    for (i = 0; i < qmf_list_len(list); i++) {
        const char *s = qmf_map_get_string(qmf_list_at(list, i), key);

        if (s != NULL && strcmp(s, value) == 0)
            return qmf_list_at(list, i);
    }
    return NULL;
}

/* Waiting on the agent's loop while the raw client's socket is polled. */
struct wait {
    struct raw_client *rc;
    const qmf_value **list;
    const char *key, *value;
    const qmf_value *found;
};

static bool
arrived(void *arg)
{
    struct wait *w = arg;

    raw_client_poll(w->rc);
    w->found = find_by(*w->list, w->key, w->value);
    return w->found != NULL;
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
}

/* The item of list whose key is value, waited for (bounded). */
static const qmf_value *
wait_for(struct test_fleet *f, struct raw_client *rc, qmf_value **list, const char *key,
         const char *value, const char *what)
{
    struct wait w = { rc, (const qmf_value **)list, key, value, NULL };
    struct event *ev = event_new(f->base, -1, EV_PERSIST, tick, NULL);
    struct timeval period = { 0, 5000 };

    /* The raw socket is not on the loop: wake it to look. */
    event_add(ev, &period);
    fleet_run_until(f, arrived, &w, FLEET_WAIT_MS);
    event_free(ev);
    cr_assert_not_null(w.found, "%s: no %s arrived within %d ms", value, what, FLEET_WAIT_MS);
    return w.found;
}

static void
raw_send(struct raw_client *rc, const char *agent_queue, struct raw_request *r)
{
    amqp_bytes_t body = { .len = r->body_len, .bytes = r->body };

    cr_assert_eq(amqp_basic_publish(rc->amqp, 1, amqp_empty_bytes,
                                    amqp_cstring_bytes(agent_queue), 0, 0, &r->props, body),
                 AMQP_STATUS_OK);
}

static void
raw_request_clear(struct raw_request *r)
{
    int i;

    for (i = 0; i < r->ntexts; i++)
        free(r->texts[i]);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* The row's message, with its correlation id and our reply queue. */
static void
build(struct raw_request *r, const struct bad_row *row, const char *agent, char *corr,
      const char *reply_queue)
{
    memset(r, 0, sizeof(*r));
    r->props._flags = AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_REPLY_TO_FLAG |
                      AMQP_BASIC_CONTENT_TYPE_FLAG;
    r->props.correlation_id = keep(r, corr, strlen(corr));
    r->props.reply_to = keep(r, qmf_xasprintf("/queue/%s", reply_queue),
                             strlen(reply_queue) + 7);
    r->props.content_type = amqp_cstring_bytes(BUS_CONTENT_JSON);
    if (row->opcode != NULL)
        add_string_header(r, "qmf.opcode", row->opcode, strlen(row->opcode));
    if (row->body != NULL) {
        char *body = expand(row->body, agent);

        set_body(r, body, strlen(body));
    }
    if (row->tweak != NULL)
        row->tweak(r, agent);
}

static void
check_row(const struct bad_row *row, const qmf_value *reply)
{
    const qmf_value *values = qmf_map_get(qmf_map_get(reply, "body"), "_values");
    const char *opcode = qmf_map_get_string(reply, "opcode");
    const char *text = qmf_map_get_string(values, "error_text");
    uint64_t code = 0;

    if (row->expect == ANSWERED) {
        cr_assert_str_neq(opcode, "_exception", "%s: answered with an exception: %s",
                          row->name, text ? text : "");
        return;
    }
    cr_assert_str_eq(opcode, "_exception", "%s: expected error %u, got %s", row->name,
                     row->expect, opcode);
    cr_assert(qmf_get_uint64(qmf_map_get(values, "error_code"), &code));
    cr_assert_eq(code, row->expect, "%s: expected error %#x, got %#llx: %s", row->name,
                 row->expect, (unsigned long long)code, text);
    cr_assert_not_null(text);
    cr_assert(strstr(text, row->text) != NULL, "%s: '%s' not in '%s'", row->name, row->text,
              text);
    cr_assert(qmf_utf8_valid(text, strlen(text)), "%s: error text not UTF-8", row->name);
}

/* The record of a command row: its outcome, bounded valid texts. */
static void
check_record(const struct bad_row *row, const qmf_value *record)
{
    static const char *const texts[] = { "requester", "correlationId", "className",
                                         "objectName", "methodName" };
    size_t i;

    cr_assert_str_eq(qmf_map_get_string(record, "outcome"), row->record, "%s", row->name);
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        const char *s = qmf_map_get_string(record, texts[i]);

        cr_assert_not_null(s, "%s: commandResult has no %s", row->name, texts[i]);
        cr_assert_leq(strlen(s), 255, "%s: commandResult %s of %zu bytes", row->name,
                      texts[i], strlen(s));
        cr_assert(qmf_utf8_valid(s, strlen(s)), "%s: %s not UTF-8", row->name, texts[i]);
    }
}

Test(bad_input, every_row_is_refused_and_the_agent_keeps_serving, .timeout = 300)
{
    static const struct bad_row good = { "good query", QUERY,
                                         "{\"_what\": \"OBJECT\", \"_schema_id\": "
                                         "{\"_class_name\": \"Domain\"}}",
                                         NULL, ANSWERED, NULL, NULL };
    struct test_fleet f;
    struct raw_client rc;
    const char *agent;
    char *queue;
    size_t i;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    agent = agent_name(f.agents[0]);
    queue = qmf_xasprintf("virtbus.agent.%s", f.nodes[0]);
    raw_client_open(&rc, f.url);

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct bad_row *row = &rows[i];
        char *corr = qmf_xasprintf("row-%zu", i), *good_corr = qmf_xasprintf("good-%zu", i);
        struct raw_request r;
        const qmf_value *reply;

        build(&r, row, agent, qmf_xstrdup(corr), rc.reply_queue);
        raw_send(&rc, queue, &r);
        raw_request_clear(&r);
        if (row->expect != NO_REPLY)
            check_row(row, wait_for(&f, &rc, &rc.replies, "corr", corr, "answer"));
        if (row->record != NULL)
            check_record(row, wait_for(&f, &rc, &rc.records, "correlationId", corr,
                                       "commandResult"));
        /* The agent still serves, and answers requests in order: a reply
         * to the row would have come before this one. */
        build(&r, &good, agent, qmf_xstrdup(good_corr), rc.reply_queue);
        raw_send(&rc, queue, &r);
        raw_request_clear(&r);
        reply = wait_for(&f, &rc, &rc.replies, "corr", good_corr, "answer to a good query");
        check_row(&good, reply);
        cr_assert_eq(qmf_list_len(qmf_map_get(reply, "body")), 3, "%s: then a wrong answer",
                     row->name);
        if (row->expect == NO_REPLY)
            cr_assert_null(find_by(rc.replies, "corr", corr), "%s: answered", row->name);
        cr_assert_eq(rc.victim_messages, 0, "%s: a message went out under another agent's key",
                     row->name);
        free(corr);
        free(good_corr);
    }
    /* Nothing was left behind or went back to the queue. */
    cr_assert_eq(test_raw_queue_depth(rc.amqp, queue), 0);
    raw_client_close(&rc);
    free(queue);
    fleet_fini(&f);
}
