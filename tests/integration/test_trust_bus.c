/*
 * Trust over the real broker and libvirt (docs/SECURITY.md): roles and the
 * policy file decide, refusals are audited and recorded, a captured request
 * replayed is answered and never run twice, re-targeted or tampered with it
 * is refused, an expired one is refused, unsigned requests are refused by
 * default, an answer not signed by its node is the node's failure,
 * answers are sealed so that only the asker can read them, and job records
 * are believed only as far as their signatures go.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "agent/agent_impl.h"
#include "tests/integration/harness.h"
#include "core/codec.h"
#include "trust/credential.h"
#include "trust/seal.h"

#define WEB1 "domain:10000000-0000-4000-8000-000000000001"
#define WEB2 "domain:10000000-0000-4000-8000-000000000002"
#define DBTEST "domain:10000000-0000-4000-8000-000000000003"

static const char *const watch[] = {
    "agent.ind.event.org_libvirt.commandResult.*.virtbus.agent.*", NULL,
};

/* A console of the fleet's broker: signing as key/cred (NULL: unsigned),
 * checking answers and job records against the issuer or not. */
static struct virtbus_console *
console_checking(struct test_fleet *f, const char *key, const char *cred, bool checks)
{
    struct virtbus_console_options o;
    struct virtbus_console *c;
    qmf_error err;

    fleet_console_options(f, &o);
    o.key_file = key;
    o.credential_file = cred;
    if (!checks)
        o.answer_issuer_keys = NULL;
    c = virtbus_console_open(f->base, &o, &err);
    cr_assert_not_null(c, "%s", err.text);
    return c;
}

/* A console of the fleet's broker signing as another caller. */
static struct virtbus_console *
console_as(struct test_fleet *f, const char *key, const char *cred)
{
    return console_checking(f, key, cred, true);
}

/* Calls a method on agent i's object through c; returns the result. */
static struct virtbus_result
call(struct test_fleet *f, struct virtbus_console *c, size_t i, const char *object,
     const char *method)
{
    qmf_value *id = fleet_object_id(f, i, object);
    struct virtbus_result r;
    qmf_error err;

    cr_assert(virtbus_call(c, agent_name(f->agents[i]), id, method, NULL, FLEET_REPLY_MS, &r,
                           &err) == 0, "%s", err.text);
    qmf_free(id);
    return r;
}

static void
expect_refused(struct virtbus_result r, uint32_t code, const char *text)
{
    cr_assert_eq(r.status, VIRTBUS_FAILED, "not refused");
    cr_assert_eq(r.error.code, code, "%#x %s", r.error.code, r.error.text);
    cr_assert(strstr(r.error.text, text) != NULL, "'%s' not in '%s'", text, r.error.text);
    virtbus_result_clear(&r);
}

static void
expect_ok(struct virtbus_result r)
{
    cr_assert_eq(r.status, VIRTBUS_OK, "%#x %s", r.error.code, r.error.text);
    virtbus_result_clear(&r);
}

/* The agent's audit trail, as one string ("" before the first line). */
static char *
audit_of(struct test_fleet *f, size_t i)
{
    char *path = qmf_xasprintf("%s/%s.audit", f->state_dir, f->nodes[i]);
    char *text = qmf_xstrdup(""), buf[4096];
    size_t len = 0, n;
    FILE *in = fopen(path, "r");

    while (in != NULL && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
        text = qmf_xrealloc(text, len + n + 1);
        memcpy(text + len, buf, n);
        len += n;
        text[len] = '\0';
    }
    if (in != NULL)
        fclose(in);
    free(path);
    return text;
}

struct audit_want {
    struct test_fleet *f;
    size_t agent;
    const char *a, *b, *c;
};

static bool
audit_line_found(void *arg)
{
    struct audit_want *w = arg;
    char *text = audit_of(w->f, w->agent), *line, *save = NULL;
    bool found = false;

    for (line = strtok_r(text, "\n", &save); line && !found; line = strtok_r(NULL, "\n", &save))
        found = strstr(line, w->a) && strstr(line, w->b) && (w->c == NULL || strstr(line, w->c));
    free(text);
    return found;
}

/* Waits (bounded, the loop running: agents write their audit lines from
 * worker jobs) for a line of agent i's trail holding a, b and c. */
static bool
audit_has(struct test_fleet *f, size_t i, const char *a, const char *b, const char *c)
{
    struct audit_want w = { f, i, a, b, c };

    return fleet_run_until(f, audit_line_found, &w, FLEET_WAIT_MS);
}

Test(trust_bus, roles_decide_and_refusals_are_audited, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_console *reader, *operator;
    char *rk, *rc, *ok, *oc;
    qmf_value *list;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, watch);
    test_trust_issue(&f.trust, "rita", TRUST_ROLE_READER, &rk, &rc);
    test_trust_issue(&f.trust, "otto", TRUST_ROLE_OPERATOR, &ok, &oc);
    reader = console_as(&f, rk, rc);
    operator = console_as(&f, ok, oc);

    /* A reader reads, and runs reader methods; nothing more. */
    {
        struct test_fleet g = f;

        g.console = reader;
        list = fleet_query(&g, 0, "Domain", NULL);
        cr_assert_eq(qmf_list_len(list), 3);
        qmf_free(list);
    }
    expect_ok(call(&f, reader, 0, WEB1, "getXMLDesc"));
    expect_refused(call(&f, reader, 0, WEB1, "shutdown"), QMF_ERR_UNAUTHORIZED,
                   "Domain.shutdown needs role operator; rita has reader");
    /* An operator runs the lifecycle, not the definitions. */
    expect_ok(call(&f, operator, 0, WEB2, "suspend"));
    expect_refused(call(&f, operator, 0, DBTEST, "undefine"), QMF_ERR_UNAUTHORIZED,
                   "Domain.undefine needs role admin; otto has operator");
    /* The admin (the fleet's console) may. */
    expect_ok(call(&f, f.console, 0, DBTEST, "undefine"));

    /* Refusals are recorded with who asked, and audited. */
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "shutdown",
                                "outcome", "rejected", "requester", "rita", NULL));
    cr_assert(audit_has(&f, 0, "\"caller\":\"rita\"", "\"outcome\":\"rejected\"",
                        "Domain.shutdown needs role operator"), "no audit line of the refusal");
    cr_assert(audit_has(&f, 0, "\"caller\":\"otto\"", "\"action\":\"Domain.suspend\"",
                        "\"outcome\":\"ok\""), "no audit line of the suspend");
    cr_assert(audit_has(&f, 0, "\"caller\":\"tests\"", "\"action\":\"Domain.undefine\"",
                        "\"outcome\":\"ok\""), "no audit line of the undefine");
    virtbus_console_close(reader);
    virtbus_console_close(operator);
    free(rk);
    free(rc);
    free(ok);
    free(oc);
    fleet_fini(&f);
}

static char *policy_path;

static void
with_policy(struct agent_config *cfg, size_t index)
{
    free(cfg->policy);
    cfg->policy = qmf_xstrdup(policy_path);
    qmf_map_set(cfg->labels, "tier", qmf_string("db"));
}

Test(trust_bus, the_policy_file_narrows_and_widens, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_console *operator, *bob;
    char *ok, *oc, *bk, *bc;
    FILE *out;

    fleet_init(&f);
    policy_path = qmf_xasprintf("%s/policy", f.trust.dir);
    out = fopen(policy_path, "w");
    cr_assert_not_null(out);
    fprintf(out, "# databases are not destroyed by operators\n"
                 "deny role:operator Domain.destroy tier=db\n"
                 "allow bob Domain.reboot node=%s*\n", "node-");
    fclose(out);
    fleet_add_agent(&f, "node1.xml", with_policy);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    test_trust_issue(&f.trust, "otto", TRUST_ROLE_OPERATOR, &ok, &oc);
    test_trust_issue(&f.trust, "bob", TRUST_ROLE_READER, &bk, &bc);
    operator = console_as(&f, ok, oc);
    bob = console_as(&f, bk, bc);

    expect_refused(call(&f, operator, 0, WEB1, "destroy"), QMF_ERR_UNAUTHORIZED,
                   "(deny role:operator Domain.destroy tier=db)");
    expect_ok(call(&f, operator, 0, WEB1, "suspend"));
    /* Widened: bob, a reader, may reboot; still nothing else. */
    expect_ok(call(&f, bob, 0, WEB2, "reboot"));
    expect_refused(call(&f, bob, 0, WEB2, "shutdown"), QMF_ERR_UNAUTHORIZED,
                   "needs role operator");
    virtbus_console_close(operator);
    virtbus_console_close(bob);
    free(ok);
    free(oc);
    free(bk);
    free(bc);
    fleet_fini(&f);
    free(policy_path);
}

Test(trust_bus, credential_constraints_narrow_a_caller, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_console *c;
    struct virtbus_agent_list one;
    struct virtbus_results res;
    struct trust_credential fields = { 0 };
    struct trust_key *k;
    char *key_path, *cred_path, *text;
    const char *classes[] = { "Domain", NULL };
    qmf_error err;
    FILE *out;
    size_t i;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    /* An admin, but only for Domain objects, and only on web nodes. */
    key_path = qmf_xasprintf("%s/carla.key", f.trust.dir);
    cred_path = qmf_xasprintf("%s/carla.cred", f.trust.dir);
    k = trust_key_generate(&err);
    cr_assert(trust_key_save_private(k, key_path, &err) == 0, "%s", err.text);
    fields.name = "carla";
    memcpy(fields.key, trust_key_raw(k), TRUST_KEY_LEN);
    fields.roles = TRUST_ROLE_ADMIN;
    fields.classes = (char **)classes;
    fields.not_before = (int64_t)time(NULL) - 60;
    fields.not_after = (int64_t)time(NULL) + 3600;
    text = trust_credential_issue(f.trust.issuer, &fields, &err);
    cr_assert_not_null(text, "%s", err.text);
    out = fopen(cred_path, "w");
    fprintf(out, "%s\n", text);
    fclose(out);
    c = console_as(&f, key_path, cred_path);

    /* A query of every class answers the Domain objects only. */
    fleet_agent_list(&f, 0, 1, &one);
    cr_assert(virtbus_query(c, &one, "OBJECT", NULL, NULL, FLEET_REPLY_MS, &res, &err) == 0,
              "%s", err.text);
    cr_assert_eq(res.items[0].status, VIRTBUS_OK, "%s", res.items[0].error.text);
    cr_assert_eq(qmf_list_len(res.items[0].value), 3, "the three domains, nothing else");
    for (i = 0; i < qmf_list_len(res.items[0].value); i++)
        cr_assert_str_eq(qmf_map_get_string(qmf_map_get(qmf_list_at(res.items[0].value, i),
                                                        "_schema_id"), "_class_name"),
                         "Domain");
    virtbus_results_free(&res);
    /* The Node's methods are out of its reach, admin or not. */
    expect_refused(call(&f, c, 0, "node", "getCapabilities"), QMF_ERR_UNAUTHORIZED,
                   "does not cover class Node");
    expect_ok(call(&f, c, 0, WEB1, "suspend"));
    virtbus_agent_list_free(&one);
    virtbus_console_close(c);
    trust_key_free(k);
    free(fields.serial);
    free(text);
    free(key_path);
    free(cred_path);
    fleet_fini(&f);
}

static void
unsigned_ok(struct agent_config *cfg, size_t index)
{
    cfg->require_signatures = false;
}

Test(trust_bus, unsigned_requests_are_refused_unless_configured_otherwise, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_console *anon;
    struct virtbus_console_options o;
    qmf_error err;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_add_agent(&f, "node1.xml", unsigned_ok);
    fleet_wait_ready(&f);
    fleet_console_options(&f, &o);
    o.key_file = o.credential_file = NULL;
    anon = virtbus_console_open(f.base, &o, &err);
    cr_assert_not_null(anon, "%s", err.text);
    expect_refused(call(&f, anon, 0, WEB1, "suspend"), QMF_ERR_BAD_SIGNATURE,
                   "requires signed requests");
    /* require_signatures = no: taken, as the caller "unsigned". */
    expect_ok(call(&f, anon, 1, WEB1, "suspend"));
    cr_assert(audit_has(&f, 1, "\"caller\":\"unsigned\"", "\"action\":\"Domain.suspend\"",
                        "\"outcome\":\"ok\""));
    cr_assert(audit_has(&f, 0, "\"caller\":\"unknown\"", "\"outcome\":\"rejected\"",
                        "requires signed requests"));
    virtbus_console_close(anon);
    fleet_fini(&f);
}

Test(trust_bus, an_expired_signed_request_is_refused, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_result r;
    struct bus_message *m;
    qmf_value *body = qmf_map();

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, WEB1));
    qmf_map_set(body, "_method_name", qmf_string("destroy"));
    m = fleet_request("_method_request", body);
    /* Signed with these: two minutes old, valid for thirty seconds. */
    m->created_ms = (int64_t)time(NULL) * 1000 - 120000;
    m->ttl_ms = 30000;
    r = fleet_ask(&f, 0, m);
    expect_refused(r, QMF_ERR_EXPIRED, "expired");
    m = fleet_request("_method_request", qmf_map());
    /* And one that asks for more life than max_request_ttl allows. */
    qmf_map_set(m->body, "_object_id", fleet_object_id(&f, 0, WEB1));
    qmf_map_set(m->body, "_method_name", qmf_string("destroy"));
    m->ttl_ms = 86400001;
    expect_refused(fleet_ask(&f, 0, m), QMF_ERR_EXPIRED, "max_request_ttl");
    fleet_fini(&f);
}

/* Captured off the wire ------------------------------------------------------- */

/* A queue of raw's own (exclusive, auto-delete, named by the broker). */
static char *
private_queue(amqp_connection_state_t raw)
{
    amqp_queue_declare_ok_t *q = amqp_queue_declare(raw, 1, amqp_empty_bytes, 0, 0, 1, 1,
                                                    amqp_empty_table);

    cr_assert_not_null(q);
    return qmf_xstrndup(q->queue.bytes, q->queue.len);
}

/* A queue bound to exchange with key: what anyone who may bind sees. */
static char *
tap_key(amqp_connection_state_t raw, const char *exchange, const char *key)
{
    char *name = private_queue(raw);

    cr_assert_not_null(amqp_queue_bind(raw, 1, amqp_cstring_bytes(name),
                                       amqp_cstring_bytes(exchange), amqp_cstring_bytes(key),
                                       amqp_empty_table));
    return name;
}

/* A queue bound where agent i's requests go. */
static char *
tap(amqp_connection_state_t raw, const char *agent)
{
    return tap_key(raw, BUS_EXCHANGE_DIRECT, agent);
}

/* The next message of queue (bounded wait), as it travelled. */
static amqp_message_t
capture(amqp_connection_state_t raw, const char *queue)
{
    amqp_message_t msg;
    int tries;

    memset(&msg, 0, sizeof(msg));
    for (tries = 0; tries < 250; tries++) {
        amqp_rpc_reply_t r = amqp_basic_get(raw, 1, amqp_cstring_bytes(queue), 1);

        cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
        if (r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
            r = amqp_read_message(raw, 1, &msg, 0);
            cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
            return msg;
        }
        usleep(20000);
    }
    cr_assert_fail("nothing captured on %s", queue);
    return msg;
}

static void
replay(amqp_connection_state_t raw, const char *key, const amqp_message_t *msg)
{
    cr_assert_eq(amqp_basic_publish(raw, 1, amqp_cstring_bytes(BUS_EXCHANGE_DIRECT),
                                    amqp_cstring_bytes(key), 0, 0, &msg->properties,
                                    msg->body), AMQP_STATUS_OK);
}

Test(trust_bus, a_captured_request_replayed_or_retargeted_does_nothing, .timeout = 120)
{
    struct test_fleet f;
    amqp_connection_state_t raw;
    amqp_message_t msg;
    char *queue;
    qmf_value *list, *ev;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, watch);
    raw = test_raw_connect(f.url);
    queue = tap(raw, agent_name(f.agents[0]));

    expect_ok(call(&f, f.console, 0, WEB1, "destroy"));
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "destroy",
                                "outcome", "ok", NULL));
    msg = capture(raw, queue);
    /* Started again by its admin, then the captured destroy replayed: it
     * is the same command, answered from the journal, not run again. */
    expect_ok(call(&f, f.console, 0, WEB1, "create"));
    replay(raw, agent_name(f.agents[0]), &msg);
    /* Re-targeted at the other node: the routing key is signed. */
    replay(raw, agent_name(f.agents[1]), &msg);
    ev = fleet_expect_watch(&f, 1, "commandResult", "methodName", "destroy", "outcome",
                            "rejected", NULL);
    qmf_free(ev);
    cr_assert(audit_has(&f, 1, "\"outcome\":\"rejected\"", "does not match", NULL),
              "the re-targeted copy was not refused for its signature");
    /* Tampered with (another object in the same body): refused too. */
    {
        char *body = qmf_xstrndup(msg.body.bytes, msg.body.len);
        char *at = strstr(body, "10000000-0000-4000-8000-000000000001");
        amqp_bytes_t original = msg.body;

        cr_assert_not_null(at);
        at[strlen("10000000-0000-4000-8000-00000000000")] = '2';
        msg.body = amqp_cstring_bytes(body);
        replay(raw, agent_name(f.agents[0]), &msg);
        cr_assert(audit_has(&f, 0, "\"outcome\":\"rejected\"", "does not match", NULL),
                  "the tampered copy was not refused");
        msg.body = original;
        free(body);
    }
    list = fleet_query(&f, 0, "Domain", NULL);
    cr_assert_str_eq(fleet_state(fleet_find(list, "web1")), "running",
                     "the replayed destroy ran again");
    cr_assert_str_eq(fleet_state(fleet_find(list, "web2")), "running",
                     "the tampered destroy ran");
    qmf_free(list);
    list = fleet_query(&f, 1, "Domain", NULL);
    cr_assert_str_eq(fleet_state(fleet_find(list, "web1")), "running",
                     "the re-targeted destroy ran");
    qmf_free(list);
    amqp_destroy_message(&msg);
    test_raw_close(raw);
    free(queue);
    fleet_fini(&f);
}

static void
no_agent_key(struct agent_config *cfg, size_t index)
{
    cfg->key = qmf_xstrdup("");
    cfg->credential = qmf_xstrdup("");
}

Test(trust_bus, an_answer_not_signed_by_its_node_is_that_node_s_failure, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_result r;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", no_agent_key);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    r = call(&f, f.console, 0, WEB1, "getXMLDesc");
    cr_assert_eq(r.status, VIRTBUS_FAILED, "an unsigned answer was taken");
    cr_assert_eq(r.error.code, QMF_ERR_BAD_SIGNATURE, "%#x %s", r.error.code, r.error.text);
    virtbus_result_clear(&r);
    fleet_fini(&f);
}

/* Sealed answers --------------------------------------------------------------- */

struct next_message {
    amqp_connection_state_t raw;
    const char *queue;
    amqp_message_t msg;
    bool got;
};

/* Asked again after it said yes (fleet_run_until): it says yes again. */
static bool
got_message(void *arg)
{
    struct next_message *n = arg;
    amqp_rpc_reply_t r;

    if (n->got)
        return true;
    r = amqp_basic_get(n->raw, 1, amqp_cstring_bytes(n->queue), 1);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    if (r.reply.id != AMQP_BASIC_GET_OK_METHOD)
        return false;
    r = amqp_read_message(n->raw, 1, &n->msg, 0);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    n->got = true;
    return true;
}

/* The body of the next message on queue, decoded from its JSON (the loop
 * runs meanwhile: the agents live on it). */
/* mac, if not NULL: whether it came with virtbus.mac and no signature. */
/* The next message on queue, as it travelled (the loop runs meanwhile). */
static amqp_message_t
next_raw(struct test_fleet *f, amqp_connection_state_t raw, const char *queue)
{
    struct next_message n = { .raw = raw, .queue = queue };

    cr_assert(fleet_run_until(f, got_message, &n, FLEET_WAIT_MS), "nothing came to %s", queue);
    return n.msg;
}

/* A header's string value as it travelled, or NULL. */
static char *
raw_header(const amqp_message_t *msg, const char *name)
{
    const amqp_table_t *h = &msg->properties.headers;
    int i;

    for (i = 0; i < h->num_entries; i++)
        if (h->entries[i].key.len == strlen(name) &&
            memcmp(h->entries[i].key.bytes, name, h->entries[i].key.len) == 0 &&
            h->entries[i].value.kind == AMQP_FIELD_KIND_UTF8)
            return qmf_xstrndup(h->entries[i].value.value.bytes.bytes,
                                h->entries[i].value.value.bytes.len);
    return NULL;
}

static qmf_value *
captured_body(struct test_fleet *f, amqp_connection_state_t raw, const char *queue,
              char **opcode, bool *mac)
{
    amqp_message_t msg = next_raw(f, raw, queue);
    qmf_value *body;
    qmf_error err;

    *opcode = raw_header(&msg, "qmf.opcode");
    if (mac != NULL) {
        char *tag = raw_header(&msg, TRUST_HDR_MAC);
        char *signature = raw_header(&msg, TRUST_HDR_SIGNATURE);

        *mac = tag != NULL && signature == NULL;
        free(tag);
        free(signature);
    }
    body = qmf_from_json(msg.body.bytes, msg.body.len, &err);
    cr_assert_not_null(body, "%s", err.text);
    amqp_destroy_message(&msg);
    return body;
}

/* A signed query for Domain objects, answered into queue; reply_key, if
 * given, is the sealing key asked for (a console without one). */
static void
send_query(struct test_fleet *f, struct virtbus_console *c, const char *queue,
           const char *reply_key, const char *answer_credential)
{
    struct bus_message *m = fleet_request("_query_request", qmf_map());
    char *address = virtbus_agent_address(agent_name(f->agents[0]));
    qmf_error err;

    qmf_map_set(m->body, "_what", qmf_string("OBJECT"));
    qmf_map_set(qmf_map_set(m->body, "_schema_id", qmf_map()), "_class_name",
                qmf_string("Domain"));
    m->reply_to = qmf_xasprintf("/queue/%s", queue);
    if (reply_key != NULL)
        bus_message_set_header_string(m, TRUST_HDR_REPLY_KEY, reply_key);
    if (answer_credential != NULL)
        bus_message_set_header_string(m, TRUST_HDR_ANSWER_CREDENTIAL, answer_credential);
    cr_assert(virtbus_send(c, address, m, &err) == 0, "%s", err.text);
    free(address);
}

Test(trust_bus, answers_are_sealed_so_only_the_asker_reads_them, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_console *plain;
    struct virtbus_console_options o;
    struct trust_key *key, *other;
    struct trust_sealer *mine, *theirs;
    amqp_connection_state_t raw;
    qmf_value *body;
    char *queue, *opcode, *text, *plain_body, *type;
    size_t len;
    uint64_t code = 0;
    qmf_error err;
    bool mac;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    raw = test_raw_connect(f.url);
    queue = private_queue(raw);

    /* What the broker, or a queue bound on the way, sees: no inventory. */
    send_query(&f, f.console, queue, NULL, NULL);
    body = captured_body(&f, raw, queue, &opcode, &mac);
    cr_assert_str_eq(opcode, "_query_response");
    cr_assert(trust_body_is_sealed(body), "the answer is not sealed");
    cr_assert(mac, "a sealed answer is not authenticated with %s alone", TRUST_HDR_MAC);
    text = qmf_to_json(body, NULL);
    cr_assert_null(strstr(text, "web1"), "a sealed answer shows a domain's name: %s", text);
    free(text);
    /* The asker's key opens it; every process of that caller has it. */
    key = trust_key_load(f.trust.console_key, &err);
    cr_assert_not_null(key, "%s", err.text);
    mine = trust_sealer_new(key, 4, &err);
    cr_assert_not_null(mine, "%s", err.text);
    cr_assert(trust_unseal(mine, body, &plain_body, &len, &type, &err) == 0, "%s", err.text);
    cr_assert_str_eq(type, BUS_CONTENT_JSON);
    cr_assert_not_null(strstr(plain_body, "web1"), "%s", plain_body);
    free(plain_body);
    free(type);
    /* Another caller's key does not. */
    other = trust_key_generate(&err);
    theirs = trust_sealer_new(other, 4, &err);
    cr_assert(trust_unseal(theirs, body, &plain_body, &len, &type, &err) != 0);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE, "%#x %s", err.code, err.text);
    qmf_free(body);
    free(opcode);

    /* A console told not to ask gets its answers in the clear. */
    fleet_console_options(&f, &o);
    o.plain_answers = true;
    plain = virtbus_console_open(f.base, &o, &err);
    cr_assert_not_null(plain, "%s", err.text);
    send_query(&f, plain, queue, NULL, NULL);
    body = captured_body(&f, raw, queue, &opcode, &mac);
    cr_assert_str_eq(opcode, "_query_response");
    cr_assert(!trust_body_is_sealed(body));
    cr_assert(mac, "an answer in the clear is not authenticated with %s", TRUST_HDR_MAC);
    text = qmf_to_json(body, NULL);
    cr_assert_not_null(strstr(text, "web1"), "%s", text);
    free(text);
    qmf_free(body);
    free(opcode);
    /* A key that is none (signed, so the caller's own mistake): refused,
     * and the inventory is not sent instead. */
    send_query(&f, plain, queue, "bm90LWEta2V5", NULL);
    body = captured_body(&f, raw, queue, &opcode, &mac);
    cr_assert(!mac, "an answer to a key that is none has a MAC");
    cr_assert_str_eq(opcode, "_exception");
    /* The wire may widen the code's kind: compare its number. */
    cr_assert(qmf_get_uint64(qmf_map_get(qmf_map_get(body, "_values"), "error_code"), &code) &&
              code == QMF_ERR_INVALID_ARGS, "error_code %" PRIu64, code);
    text = qmf_to_json(body, NULL);
    cr_assert(strstr(text, TRUST_HDR_REPLY_KEY) != NULL && strstr(text, "web1") == NULL, "%s",
              text);
    free(text);
    qmf_free(body);
    free(opcode);
    virtbus_console_close(plain);

    trust_sealer_free(mine);
    trust_sealer_free(theirs);
    trust_key_free(key);
    trust_key_free(other);
    test_raw_close(raw);
    free(queue);
    fleet_fini(&f);
}

/* Whether msg carries the credential whole, else the header other, which
 * it must carry instead (not both); other's value in *value if asked. */
static bool
credential_or(const amqp_message_t *msg, const char *other, char **value)
{
    char *credential = raw_header(msg, TRUST_HDR_CREDENTIAL);
    char *instead = raw_header(msg, other);
    bool whole = credential != NULL;

    cr_assert((credential != NULL) != (instead != NULL), "credential %s, %s %s", credential,
              other, instead);
    free(credential);
    if (value != NULL)
        *value = instead;
    else
        free(instead);
    return whole;
}

/* Whether the answer next on queue names its agent by credential (else by
 * key), and is authenticated with a MAC. */
static bool
answer_has_credential(struct test_fleet *f, amqp_connection_state_t raw, const char *queue)
{
    amqp_message_t msg = next_raw(f, raw, queue);
    char *mac = raw_header(&msg, TRUST_HDR_MAC);
    bool has = credential_or(&msg, TRUST_HDR_KEY, NULL);

    cr_assert_not_null(mac, "the answer is not authenticated with %s", TRUST_HDR_MAC);
    free(mac);
    amqp_destroy_message(&msg);
    return has;
}

Test(trust_bus, answers_carry_the_credential_only_to_askers_that_check_it, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_console *unchecking;
    struct virtbus_console_options o;
    amqp_connection_state_t raw;
    amqp_message_t msg;
    char *requests, *answers, *said;
    qmf_error err;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    raw = test_raw_connect(f.url);
    requests = tap(raw, agent_name(f.agents[0]));
    answers = private_queue(raw);

    /* A console without issuer keys for answers says so, and is answered. */
    fleet_console_options(&f, &o);
    o.answer_issuer_keys = NULL;
    unchecking = virtbus_console_open(f.base, &o, &err);
    cr_assert_not_null(unchecking, "%s", err.text);
    expect_ok(call(&f, unchecking, 0, WEB1, "getXMLDesc"));
    msg = capture(raw, requests);
    said = raw_header(&msg, TRUST_HDR_ANSWER_CREDENTIAL);
    cr_assert(said != NULL && strcmp(said, "no") == 0, "%s: %s", TRUST_HDR_ANSWER_CREDENTIAL,
              said);
    free(said);
    amqp_destroy_message(&msg);
    /* One that checks does not, and its check passes: the credential came. */
    expect_ok(call(&f, f.console, 0, WEB1, "getXMLDesc"));
    msg = capture(raw, requests);
    cr_assert_null(raw_header(&msg, TRUST_HDR_ANSWER_CREDENTIAL));
    amqp_destroy_message(&msg);

    /* The agent's side, seen on the wire: the key only where asked. */
    send_query(&f, f.console, answers, NULL, "no");
    cr_assert(!answer_has_credential(&f, raw, answers), "the credential came all the same");
    send_query(&f, f.console, answers, NULL, NULL);
    cr_assert(answer_has_credential(&f, raw, answers), "the credential did not come");
    /* Answers to anyone else's queue (a job's, an integration's) keep it:
     * their readers may check. */
    send_query(&f, unchecking, answers, NULL, NULL);
    cr_assert(answer_has_credential(&f, raw, answers), "an answer to a queue lost its credential");

    virtbus_console_close(unchecking);
    test_raw_close(raw);
    free(requests);
    free(answers);
    fleet_fini(&f);
}

/* Queries both agents with one broadcast; both must answer. */
static void
query_both(struct test_fleet *f)
{
    struct virtbus_agent_list both;
    struct virtbus_results res;
    qmf_error err;
    size_t i;

    fleet_agent_list(f, 0, 2, &both);
    cr_assert(virtbus_query(f->console, &both, "OBJECT", "Node", NULL, FLEET_REPLY_MS, &res,
                            &err) == 0, "%s", err.text);
    cr_assert_eq(res.n, 2);
    for (i = 0; i < res.n; i++)
        cr_assert_eq(res.items[i].status, VIRTBUS_OK, "%s: %#x %s", res.items[i].agent,
                     res.items[i].error.code, res.items[i].error.text);
    virtbus_results_free(&res);
    virtbus_agent_list_free(&both);
}

/* Whether the next request on queue carries the credential whole (else
 * by id, which must then be id). */
static bool
sent_whole(struct test_fleet *f, amqp_connection_state_t raw, const char *queue, const char *id)
{
    amqp_message_t msg = next_raw(f, raw, queue);
    char *named = NULL;
    bool whole = credential_or(&msg, TRUST_HDR_CREDENTIAL_ID, &named);

    if (named != NULL)
        cr_assert_str_eq(named, id);
    free(named);
    amqp_destroy_message(&msg);
    return whole;
}

Test(trust_bus, queries_name_the_credential_by_id_to_agents_that_hold_it, .timeout = 120)
{
    struct test_fleet f;
    struct agent_config cfg;
    amqp_connection_state_t raw;
    char *queries, *direct, *credential, id[TRUST_CREDENTIAL_ID_LEN + 1];
    qmf_error err;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    credential = trust_credential_read(f.trust.console_cred, &err);
    cr_assert_not_null(credential, "%s", err.text);
    trust_credential_id(credential, id);
    raw = test_raw_connect(f.url);
    queries = tap_key(raw, BUS_EXCHANGE_TOPIC, QMF_NAME_BROADCAST_PREFIX "query");
    direct = tap(raw, agent_name(f.agents[0]));

    /* The first broadcast carries it: nobody was heard holding it. */
    query_both(&f);
    cr_assert(sent_whole(&f, raw, queries, id), "the first query named its credential by id");
    /* Both answered, so both hold it: the next one names it. */
    query_both(&f);
    cr_assert_not(sent_whole(&f, raw, queries, id), "the credential came whole again");

    /* Agent 0 reloads its trust material, and with it forgets what it
     * checked.  The broadcast still names the credential; agent 0 answers
     * that it does not hold it, nothing run, and is asked again, by name,
     * with the credential: both answers come all the same. */
    agent_config_copy(&cfg, &f.agents[0]->cfg);
    cr_assert_eq(agent_reconfigure(f.agents[0], &cfg, &err), 0, "%s", err.text);
    agent_config_free(&cfg);
    query_both(&f);
    cr_assert_not(sent_whole(&f, raw, queries, id), "the broadcast after the reload");
    cr_assert(sent_whole(&f, raw, direct, id), "agent 0 was not sent the credential whole");
    cr_assert(audit_has(&f, 0, "\"outcome\":\"rejected\"", "does not hold it", NULL),
              "agent 0 did not refuse the id it does not hold");
    /* It holds it again. */
    query_both(&f);
    cr_assert_not(sent_whole(&f, raw, queries, id), "the broadcast after agent 0 was asked again");

    /* Commands always carry it: one refused for it would stay refused. */
    expect_ok(call(&f, f.console, 0, WEB1, "getXMLDesc"));
    cr_assert(sent_whole(&f, raw, direct, id), "a method request named its credential by id");

    /* What the console goes by: an answer to a request that carried the
     * credential whole says the agent holds it, by its id. */
    {
        char *answers = private_queue(raw), *held;
        amqp_message_t msg;

        send_query(&f, f.console, answers, NULL, NULL);
        cr_assert(sent_whole(&f, raw, direct, id), "a request outside a wait named it by id");
        msg = next_raw(&f, raw, answers);
        held = raw_header(&msg, TRUST_HDR_CREDENTIAL_HELD);
        cr_assert(held != NULL && strcmp(held, id) == 0, "%s: %s, not %s",
                  TRUST_HDR_CREDENTIAL_HELD, held, id);
        free(held);
        amqp_destroy_message(&msg);
        free(answers);
    }

    free(credential);
    free(queries);
    free(direct);
    test_raw_close(raw);
    fleet_fini(&f);
}

static qmf_value *
json(const char *text)
{
    qmf_error err;
    qmf_value *v = qmf_from_json(text, strlen(text), &err);

    cr_assert_not_null(v, "%s", err.text);
    return v;
}

static char *
submit_job(struct test_fleet *f, struct virtbus_console *c)
{
    struct virtbus_agent_list agents = { 0 };
    qmf_value *where = json("[\"eq\", \"name\", [\"quote\", \"web1\"]]");
    qmf_value *args = json("{\"autostart\": true}");
    char *id;
    qmf_error err;

    fleet_agent_list(f, 0, 1, &agents);
    cr_assert(virtbus_job_submit(c, &agents, "Domain", where, "setAutostart", args, NULL, 600,
                                 "a job", &id, &err) == 0, "%s", err.text);
    virtbus_agent_list_free(&agents);
    qmf_free(where);
    qmf_free(args);
    return id;
}

/* What reader c makes of job id's record: its auth, or REFUSED with the
 * error's text in *why (the caller frees it). */
static enum virtbus_record_auth
read_job(struct virtbus_console *c, const char *id, char **signer, char **why)
{
    struct virtbus_job job;
    enum virtbus_record_auth auth;
    qmf_error err;

    *signer = *why = NULL;
    if (virtbus_job_fetch(c, id, false, 0, &job, &err) != 0) {
        cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE, "%#x %s", err.code, err.text);
        *why = qmf_xstrdup(err.text);
        return VIRTBUS_RECORD_REFUSED;
    }
    cr_assert_str_eq(job.id, id);
    auth = job.record_auth;
    *signer = job.record_signer ? qmf_xstrdup(job.record_signer) : NULL;
    virtbus_job_clear(&job);
    return auth;
}

/* A copy of job id's record (from replaced by to, if given) into the new
 * job queue of id2, as anyone who may publish to job queues could make. */
static void
copy_record(amqp_connection_state_t raw, const char *id, const char *id2,
            const char *from, const char *to)
{
    char *queue = qmf_xasprintf("virtbus.job.%s", id), *queue2 = qmf_xasprintf("virtbus.job.%s", id2);
    amqp_message_t msg;
    amqp_bytes_t original;
    amqp_rpc_reply_t r;
    char *body = NULL;

    r = amqp_basic_get(raw, 1, amqp_cstring_bytes(queue), 0);
    cr_assert(r.reply_type == AMQP_RESPONSE_NORMAL && r.reply.id == AMQP_BASIC_GET_OK_METHOD,
              "the record of %s is not in its queue", id);
    cr_assert_eq(amqp_read_message(raw, 1, &msg, 0).reply_type, AMQP_RESPONSE_NORMAL);
    original = msg.body;
    /* Put back at once: the job keeps its record. */
    cr_assert_eq(amqp_basic_reject(raw, 1,
                                   ((amqp_basic_get_ok_t *)r.reply.decoded)->delivery_tag, 1), 0);
    cr_assert_not_null(amqp_queue_declare(raw, 1, amqp_cstring_bytes(queue2), 0, 1, 0, 0,
                                          amqp_empty_table));
    if (from != NULL) {
        char *at;

        body = qmf_xstrndup(msg.body.bytes, msg.body.len);
        cr_assert_not_null(at = strstr(body, from), "'%s' not in %s", from, body);
        cr_assert_eq(strlen(from), strlen(to));
        memcpy(at, to, strlen(to));
        msg.body = amqp_cstring_bytes(body);
    }
    cr_assert_eq(amqp_basic_publish(raw, 1, amqp_empty_bytes, amqp_cstring_bytes(queue2), 0, 0,
                                    &msg.properties, msg.body), AMQP_STATUS_OK);
    /* rabbitmq-c frees what it read, not the copy. */
    msg.body = original;
    free(body);
    amqp_destroy_message(&msg);
    free(queue);
    free(queue2);
}

Test(trust_bus, job_records_are_signed_and_checked_by_their_readers, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_console *bob, *blind, *anon;
    amqp_connection_state_t raw;
    char *bob_key, *bob_cred, *job, *anon_job, *signer, *why, *fake;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    test_trust_issue(&f.trust, "bob", TRUST_ROLE_OPERATOR, &bob_key, &bob_cred);
    bob = console_checking(&f, bob_key, bob_cred, true);
    blind = console_checking(&f, NULL, NULL, false);
    anon = console_checking(&f, NULL, NULL, false);
    raw = test_raw_connect(f.url);

    /* The job's maker knows its own key; another caller checks the maker's
     * credential with the issuer's key; a console that checks nothing can
     * only say it was signed. */
    job = submit_job(&f, f.console);
    cr_assert_eq(read_job(f.console, job, &signer, &why), VIRTBUS_RECORD_OWN, "%s", why);
    cr_assert_null(signer);
    cr_assert_eq(read_job(bob, job, &signer, &why), VIRTBUS_RECORD_VERIFIED, "%s", why);
    cr_assert_str_eq(signer, "tests");
    free(signer);
    cr_assert_eq(read_job(blind, job, &signer, &why), VIRTBUS_RECORD_UNCHECKED, "%s", why);

    /* Unsigned: refused by a console that checks, shown as such otherwise. */
    anon_job = submit_job(&f, anon);
    cr_assert_eq(read_job(bob, anon_job, &signer, &why), VIRTBUS_RECORD_REFUSED);
    cr_assert(strstr(why, "not signed") != NULL, "%s", why);
    free(why);
    cr_assert_eq(read_job(blind, anon_job, &signer, &why), VIRTBUS_RECORD_UNSIGNED, "%s", why);

    /* Copied into another job's queue: signed for its own job only. */
    fake = qmf_xasprintf("%s-copy", job);
    copy_record(raw, job, fake, NULL, NULL);
    cr_assert_eq(read_job(f.console, fake, &signer, &why), VIRTBUS_RECORD_REFUSED);
    cr_assert(strstr(why, "another job's") != NULL, "%s", why);
    free(why);
    free(fake);
    /* Changed on the way: the signature no longer matches. */
    fake = qmf_xasprintf("%s-more", job);
    copy_record(raw, job, fake, "\"a job\"", "\"a jab\"");
    cr_assert_eq(read_job(f.console, fake, &signer, &why), VIRTBUS_RECORD_REFUSED);
    cr_assert(strstr(why, "does not match") != NULL, "%s", why);
    free(why);
    cr_assert_eq(read_job(bob, fake, &signer, &why), VIRTBUS_RECORD_REFUSED);
    cr_assert(strstr(why, "does not match") != NULL, "%s", why);
    free(why);
    free(fake);

    test_raw_close(raw);
    virtbus_console_close(bob);
    virtbus_console_close(blind);
    virtbus_console_close(anon);
    free(bob_key);
    free(bob_cred);
    free(job);
    free(anon_job);
    fleet_fini(&f);
}

/* Counts the lines of text holding what, and whether every line is JSON. */
static size_t
lines_holding(char *text, const char *what, bool *all_json)
{
    char *line, *save = NULL;
    size_t n = 0;

    *all_json = true;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        qmf_error err;
        qmf_value *v = qmf_from_json(line, strlen(line), &err);

        *all_json = *all_json && v != NULL;
        qmf_free(v);
        n += strstr(line, what) != NULL;
    }
    return n;
}

struct audit_count {
    struct test_fleet *f;
    const char *what;
    size_t want;
};

static bool
audit_count_reached(void *arg)
{
    struct audit_count *c = arg;
    char *text = audit_of(c->f, 0);
    bool all_json;
    size_t n = lines_holding(text, c->what, &all_json);

    free(text);
    return n >= c->want;
}

/*
 * Commands on several objects at once finish close together, and their
 * audit lines are written in batches (agent/audit.c): every one still
 * lands, whole, one per line.
 */
Test(trust_bus, a_burst_of_commands_is_audited_line_by_line, .timeout = 120)
{
    struct virtbus_send_opts o = { .timeout_ms = FLEET_REPLY_MS };
    struct audit_count want;
    struct virtbus_agent_list one;
    struct virtbus_results res;
    struct test_fleet f;
    qmf_value *domains;
    char *text;
    bool all_json;
    size_t ndomains, round;
    qmf_error err;

    fleet_init(&f);
    fleet_add_agent(&f, "fleet.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    domains = fleet_query(&f, 0, "Domain", NULL);
    ndomains = qmf_list_len(domains);
    qmf_free(domains);
    cr_assert_geq(ndomains, 60, "fleet.xml has %zu domains", ndomains);

    fleet_agent_list(&f, 0, 1, &one);
    for (round = 0; round < 5; round++) {
        cr_assert_eq(virtbus_call_where(f.console, &one, "Domain", NULL, "getXMLDesc", NULL, &o,
                                        &res, &err), 0, "%s", err.text);
        cr_assert_eq(res.items[0].status, VIRTBUS_OK, "%s", res.items[0].error.text);
        virtbus_results_free(&res);
    }
    virtbus_agent_list_free(&one);

    want = (struct audit_count){ &f, "\"action\":\"Domain.getXMLDesc\"", 5 * ndomains };
    cr_assert(fleet_run_until(&f, audit_count_reached, &want, FLEET_WAIT_MS),
              "fewer audit lines than the %zu commands", want.want);
    text = audit_of(&f, 0);
    cr_assert_eq(lines_holding(text, want.what, &all_json), want.want);
    cr_assert(all_json, "a line of the trail is no JSON");
    free(text);
    fleet_fini(&f);
}
