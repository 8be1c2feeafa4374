/*
 * bench/signatures: what request and answer signatures cost each party
 * (docs/SECURITY.md), one operation at a time, with the library calls the
 * console and the agent make: signing a request, an agent identifying its
 * sender (credential cache warm, and cold), signing an answer, a console
 * checking one, and the pieces they are made of.  Prints the median and
 * p99 per operation and operations per second; asserts nothing.
 *
 *     bench_signatures [-n ITERATIONS]        (default 2000)
 *
 * Every timed operation gets a message of its own (its own message-id, so
 * its own digest and signature), built and JSON-encoded before the clock
 * starts: encoding the body is what sending costs without signatures too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "agent/guard.h"
#include "bench/measure.h"
#include "bus/bus.h"
#include "trust/credential.h"
#include "trust/key.h"
#include "trust/message.h"
#include "trust/seal.h"
#include "trust/store.h"

/* Far more callers than the agent's credential cache has slots (64,
 * direct-mapped): cycling through them, a request all but never finds its
 * caller's credential there. */
#define COLD_CALLERS 1024
#define BROADCAST_QUERY_KEY "console.request.query"
#define AGENT_NAME "virtbus:agent:rack1-hv042"
#define NODE_NAME "rack1-hv042"
#define REQUEST_TTL_MS 30000

struct material {
    char *dir;
    struct trust_key *issuer;
    struct trust_key *caller[COLD_CALLERS];
    char *caller_cred[COLD_CALLERS];
    struct trust_key *agent;
    char *agent_cred;
    char *issuer_pub, *agent_key_path, *agent_cred_path;
};

static void __attribute__((noreturn))
die(const char *what, const qmf_error *err)
{
    fprintf(stderr, "bench_signatures: %s: %s\n", what, err ? err->text : strerror(errno));
    exit(1);
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prints one operation's figures from its samples (µs), sorted in place. */
static void
report(const char *what, double *us, size_t n)
{
    double p50 = bench_quantile(us, n, 0.50), p99 = bench_quantile(us, n, 0.99);

    printf("  %-50s %8.1f %8.1f %10.0f\n", what, p50, p99, p50 > 0 ? 1e6 / p50 : 0);
}

static char *
issue(const struct trust_key *issuer, const struct trust_key *k, const char *name,
      unsigned roles)
{
    struct trust_credential fields = { 0 };
    qmf_error err;
    char *text;

    fields.name = (char *)name;
    memcpy(fields.key, trust_key_raw(k), TRUST_KEY_LEN);
    fields.roles = roles;
    fields.not_before = (int64_t)time(NULL) - 3600;
    fields.not_after = (int64_t)time(NULL) + 86400;
    if ((text = trust_credential_issue(issuer, &fields, &err)) == NULL)
        die("credential", &err);
    free(fields.serial);
    return text;
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0)
        die(path, NULL);
}

/* An issuer, callers with operator credentials, and an agent's key and
 * credential, in a scratch directory the agent's guard loads them from. */
static void
material_make(struct material *m)
{
    const char *tmp = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    qmf_error err;
    char name[32];
    size_t i;

    m->dir = qmf_xasprintf("%s/bench_signatures-XXXXXX", tmp);
    if (mkdtemp(m->dir) == NULL)
        die(m->dir, NULL);
    if ((m->issuer = trust_key_generate(&err)) == NULL)
        die("issuer key", &err);
    for (i = 0; i < COLD_CALLERS; i++) {
        snprintf(name, sizeof(name), "operator%04zu", i);
        if ((m->caller[i] = trust_key_generate(&err)) == NULL)
            die("caller key", &err);
        m->caller_cred[i] = issue(m->issuer, m->caller[i], name, TRUST_ROLE_OPERATOR);
    }
    if ((m->agent = trust_key_generate(&err)) == NULL)
        die("agent key", &err);
    m->agent_cred = issue(m->issuer, m->agent, NODE_NAME, TRUST_ROLE_AGENT);
    m->issuer_pub = qmf_xasprintf("%s/issuer.pub", m->dir);
    m->agent_key_path = qmf_xasprintf("%s/agent.key", m->dir);
    m->agent_cred_path = qmf_xasprintf("%s/agent.cred", m->dir);
    if (trust_key_save_public(m->issuer, m->issuer_pub, &err) != 0 ||
        trust_key_save_private(m->agent, m->agent_key_path, &err) != 0)
        die("saving keys", &err);
    write_text(m->agent_cred_path, m->agent_cred);
}

static void
material_free(struct material *m)
{
    size_t i;

    unlink(m->issuer_pub);
    unlink(m->agent_key_path);
    unlink(m->agent_cred_path);
    rmdir(m->dir);
    for (i = 0; i < COLD_CALLERS; i++) {
        trust_key_free(m->caller[i]);
        free(m->caller_cred[i]);
    }
    trust_key_free(m->issuer);
    trust_key_free(m->agent);
    free(m->agent_cred);
    free(m->issuer_pub);
    free(m->agent_key_path);
    free(m->agent_cred_path);
    free(m->dir);
}

/* Messages, as the console and the agent build them ------------------------ */

static qmf_value *
schema_id(const char *class_name)
{
    qmf_value *sid = qmf_map();

    qmf_map_set(sid, "_package_name", qmf_string("org.libvirt"));
    qmf_map_set(sid, "_class_name", qmf_string(class_name));
    return sid;
}

/* What the console stamps on every request (console_stamp). */
static struct bus_message *
request(const char *opcode, qmf_value *body, size_t i)
{
    struct bus_message *m = bus_message_new();

    bus_message_set_header_string(m, "qmf.opcode", opcode);
    bus_message_set_header_string(m, "method", "request");
    bus_message_set_header_string(m, "app-id", "qmf2");
    m->message_id = qmf_xasprintf("6f1c2a4e-0b7d-4c3a-9e21-%012zx", i);
    m->correlation_id = qmf_xasprintf("%zu", i);
    m->reply_to = qmf_xstrdup(BUS_DIRECT_REPLY_TO);
    m->user_id = qmf_xstrdup("guest");
    m->created_ms = now_ms();
    m->ttl_ms = REQUEST_TTL_MS;
    m->body = body;
    return m;
}

/* The library's broadcast query for every Node (virtbus_query). */
static struct bus_message *
query_node(size_t i)
{
    qmf_value *body = qmf_map();

    qmf_map_set(body, "_what", qmf_string("OBJECT"));
    qmf_map_set(body, "_schema_id", schema_id("Node"));
    return request("_query_request", body, i);
}

/* A targeted command: Domain.shutdown of one domain (virtbus_call). */
static struct bus_message *
method_shutdown(size_t i)
{
    qmf_value *body = qmf_map(), *oid = qmf_map_set(body, "_object_id", qmf_map());
    struct bus_message *m;

    qmf_map_set(oid, "_agent_name", qmf_string(AGENT_NAME));
    qmf_map_set(oid, "_object_name",
                qmf_string("domain:10000000-0000-4000-8000-000000000042"));
    qmf_map_set(body, "_method_name", qmf_string("shutdown"));
    qmf_map_set(body, "_arguments", qmf_map());
    m = request("_method_request", body, i);
    m->durable = true;
    return m;
}

/* An agent's answer to the Node query: one object, about 0.6 KB. */
static struct bus_message *
node_answer(size_t i)
{
    struct bus_message *m = bus_message_new();
    qmf_value *list = qmf_list(), *obj = qmf_list_append(list, qmf_map());
    qmf_value *oid = qmf_map_set(obj, "_object_id", qmf_map());
    qmf_value *v = qmf_map_set(obj, "_values", qmf_map());
    qmf_value *labels;

    bus_message_set_header_string(m, "qmf.opcode", "_query_response");
    bus_message_set_header_string(m, "method", "response");
    bus_message_set_header_string(m, "qmf.agent", AGENT_NAME);
    bus_message_set_header_string(m, "qmf.content", "_data");
    bus_message_set_header_string(m, "app-id", "qmf2");
    m->correlation_id = qmf_xasprintf("%zu", i);
    m->created_ms = now_ms();
    m->unconfirmed = true;
    qmf_map_set(oid, "_agent_name", qmf_string(AGENT_NAME));
    qmf_map_set(oid, "_object_name", qmf_string("node"));
    qmf_map_set(obj, "_schema_id", schema_id("Node"));
    qmf_map_set(v, "hostname", qmf_string(NODE_NAME ".example.net"));
    qmf_map_set(v, "uri", qmf_string("qemu:///system"));
    qmf_map_set(v, "libvirtVersion", qmf_u32(9000000));
    qmf_map_set(v, "apiVersion", qmf_u32(9000000));
    qmf_map_set(v, "hypervisorVersion", qmf_u32(7002000));
    qmf_map_set(v, "hypervisorType", qmf_string("QEMU"));
    qmf_map_set(v, "model", qmf_string("x86_64"));
    qmf_map_set(v, "memory", qmf_u64(263921412));
    qmf_map_set(v, "cpus", qmf_u32(64));
    qmf_map_set(v, "mhz", qmf_u32(2400));
    qmf_map_set(v, "nodes", qmf_u32(2));
    qmf_map_set(v, "sockets", qmf_u32(1));
    qmf_map_set(v, "cores", qmf_u32(16));
    qmf_map_set(v, "threads", qmf_u32(2));
    qmf_map_set(v, "freeMemory", qmf_u64(102400000 + i));
    qmf_map_set(v, "arch", qmf_string("x86_64"));
    labels = qmf_map_set(v, "labels", qmf_map());
    qmf_map_set(labels, "rack", qmf_string("rack1"));
    qmf_map_set(labels, "tier", qmf_string("web"));
    qmf_map_set(obj, "_create_ts", qmf_i64(1764106839000000000LL));
    qmf_map_set(obj, "_update_ts", qmf_i64(1764106839000000000LL + (int64_t)i));
    m->body = list;
    return m;
}

static void
encode(struct bus_message *m)
{
    qmf_error err;

    if (bus_message_encode(m, &err) != 0)
        die("encode", &err);
}

/* As the bus hands a message to its receiver: the routing key it came
 * with, a direct reply-to as the broker rewrote it, and the SHA-256 of the
 * body bytes taken as they came. */
static void
as_received(struct bus_message *m, const char *routing_key)
{
    free(m->subject);
    m->subject = qmf_xstrdup(routing_key);
    if (m->reply_to != NULL && strcmp(m->reply_to, BUS_DIRECT_REPLY_TO) == 0) {
        free(m->reply_to);
        m->reply_to = qmf_xstrdup(BUS_DIRECT_REPLY_TO ".g1h2AA5yZXBseUAxMjM0NTY3OA==");
    }
    bus_message_body_sha256(m, m->body_sha256);
    m->has_body_sha256 = true;
}

typedef struct bus_message *(*make_fn)(size_t i);

/* n messages from make, encoded, signed by caller[i % callers] for key. */
static struct bus_message **
signed_requests(const struct material *mat, make_fn make, const char *key, size_t n,
                size_t callers)
{
    struct bus_message **ms = qmf_xcalloc(n, sizeof(*ms));
    qmf_error err;
    size_t i;

    for (i = 0; i < n; i++) {
        ms[i] = make(i);
        if (trust_message_sign(ms[i], TRUST_REQUEST, key, mat->caller[i % callers],
                               mat->caller_cred[i % callers], &err) != 0)
            die("sign", &err);
        as_received(ms[i], key);
    }
    return ms;
}

static void
free_messages(struct bus_message **ms, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        bus_message_free(ms[i]);
    free(ms);
}

/* The operations ----------------------------------------------------------- */

static void
bench_primitives(const struct material *mat, size_t n, double *us)
{
    uint8_t digest[TRUST_DIGEST_LEN], sig[TRUST_SIG_LEN];
    struct trust_key *pub;
    struct trust_credential *c;
    struct bus_message *m;
    qmf_error err;
    double t;
    size_t i;

    memset(digest, 0x5a, sizeof(digest));
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        if (trust_sign(mat->caller[0], digest, sizeof(digest), sig, &err) != 0)
            die("trust_sign", &err);
        us[i] = (bench_now_s() - t) * 1e6;
    }
    report("Ed25519 sign (a 32-byte digest)", us, n);
    if ((pub = trust_key_public(mat->caller[0], &err)) == NULL)
        die("public key", &err);
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        if (!trust_verify(pub, digest, sizeof(digest), sig))
            die("trust_verify: no match", NULL);
        us[i] = (bench_now_s() - t) * 1e6;
    }
    report("Ed25519 verify (a 32-byte digest)", us, n);
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        trust_key_free(trust_key_from_raw(trust_key_raw(mat->caller[0]), &err));
        us[i] = (bench_now_s() - t) * 1e6;
    }
    report("public key from its 32 raw bytes", us, n);
    trust_key_free(pub);

    m = query_node(0);
    encode(m);
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        bus_message_body_sha256(m, digest);
        us[i] = (bench_now_s() - t) * 1e6;
    }
    report("body SHA-256 on receipt, query (paid signed or not)", us, n);
    as_received(m, BROADCAST_QUERY_KEY);
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        trust_message_digest(m, TRUST_REQUEST, BROADCAST_QUERY_KEY, digest);
        us[i] = (bench_now_s() - t) * 1e6;
    }
    report("canonical digest of a query (headers, properties)", us, n);
    bus_message_free(m);

    for (i = 0; i < n; i++) {
        t = bench_now_s();
        c = trust_credential_parse(mat->caller_cred[0], strlen(mat->caller_cred[0]), &err);
        us[i] = (bench_now_s() - t) * 1e6;
        if (c == NULL)
            die("credential parse", &err);
        trust_credential_free(c);
    }
    report("credential parse", us, n);
}

/* What the console does to a request before it publishes it (console_sign). */
static void
bench_sign_requests(const struct material *mat, make_fn make, const char *key,
                    const char *what, size_t n, double *us)
{
    struct bus_message **ms = qmf_xcalloc(n, sizeof(*ms));
    qmf_error err;
    double t;
    size_t i;

    for (i = 0; i < n; i++) {
        ms[i] = make(i);
        encode(ms[i]);
    }
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        if (trust_message_sign(ms[i], TRUST_REQUEST, key, mat->caller[0],
                               mat->caller_cred[0], &err) != 0)
            die("sign", &err);
        us[i] = (bench_now_s() - t) * 1e6;
    }
    report(what, us, n);
    free_messages(ms, n);
}

static struct agent_guard *
guard_new_sharing(const struct material *mat, bool require_signatures,
                  struct trust_verified *verified)
{
    const char *issuers[] = { mat->issuer_pub, NULL };
    struct agent_guard_options o = {
        .require_signatures = require_signatures,
        .verified = verified,
        .issuer_keys = issuers,
        .key = mat->agent_key_path,
        .credential = mat->agent_cred_path,
        .clock_skew = 60,
        .max_request_ttl = 86400,
    };
    struct agent_guard *g;
    char *notes;
    qmf_error err;

    if (agent_guard_load(&o, &g, &notes, &err) != 0)
        die("agent guard", &err);
    free(notes);
    return g;
}

static struct agent_guard *
guard_new(const struct material *mat, bool require_signatures)
{
    return guard_new_sharing(mat, require_signatures, NULL);
}

/*
 * Times agent_guard_identify over ms[i % nms], i < n, after a first call
 * on ms[0] that fills the guard's caches.
 */
static void
time_identify(struct agent_guard *g, struct bus_message **ms, size_t nms, const char *key,
              const char *what, size_t n, double *us)
{
    struct agent_caller caller;
    qmf_error err;
    double t;
    size_t i;

    if (agent_guard_identify(g, ms[0], key, now_ms(), &caller, &err) != 0)
        die("identify", &err);
    for (i = 0; i < n; i++) {
        int64_t now = now_ms();

        t = bench_now_s();
        if (agent_guard_identify(g, ms[i % nms], key, now, &caller, &err) != 0)
            die("identify", &err);
        us[i] = (bench_now_s() - t) * 1e6;
    }
    report(what, us, n);
}

/*
 * What an agent does first with a request (agent_guard_identify): warm, one
 * caller whose credential the guard has checked before; cold, callers that
 * cycle through more credentials than its cache holds.
 */
static void
bench_identify(const struct material *mat, make_fn make, const char *key, size_t callers,
               const char *what, size_t n, double *us)
{
    struct bus_message **ms = signed_requests(mat, make, key, n, callers);
    struct agent_guard *g = guard_new(mat, true);

    time_identify(g, ms, n, key, what, n, us);
    agent_guard_free(g);
    free_messages(ms, n);
}

/*
 * What each simulated agent but the first pays for one broadcast in
 * virtbus-fleetsim, whose agents share the signatures verified
 * (trust/verified.h): everything but the Ed25519 verification.  A fleet's
 * hosts pay the verification instead, all at once.
 */
static void
bench_identify_shared(const struct material *mat, size_t n, double *us)
{
    struct bus_message **ms = signed_requests(mat, query_node, BROADCAST_QUERY_KEY, 1, 1);
    struct trust_verified *verified = trust_verified_new(64);
    struct agent_guard *g = guard_new_sharing(mat, true, verified);

    time_identify(g, ms, 1, BROADCAST_QUERY_KEY,
                  "agent: identify a query verified before (fleetsim)", n, us);
    agent_guard_free(g);
    trust_verified_free(verified);
    free_messages(ms, 1);
}

static void
bench_identify_unsigned(const struct material *mat, size_t n, double *us)
{
    struct agent_guard *g = guard_new(mat, false);
    struct bus_message *m = query_node(0);
    struct agent_caller caller;
    qmf_error err;
    double t;
    size_t i;

    encode(m);
    as_received(m, BROADCAST_QUERY_KEY);
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        if (agent_guard_identify(g, m, BROADCAST_QUERY_KEY, now_ms(), &caller, &err) != 0)
            die("identify", &err);
        us[i] = (bench_now_s() - t) * 1e6;
    }
    report("agent: identify, unsigned (require_signatures = no)", us, n);
    bus_message_free(m);
    agent_guard_free(g);
}

/* What an agent does to each message it publishes (agent_publish): a
 * signature, or, for a console that sent its reply-key, a MAC. */
static void
bench_sign_answers(const struct material *mat, bool mac, const char *what, size_t n,
                   double *us)
{
    struct bus_message **ms = qmf_xcalloc(n, sizeof(*ms));
    struct agent_guard *g = guard_new(mat, true);
    struct trust_sealer *console;
    qmf_error err;
    double t;
    size_t i;

    if ((console = trust_sealer_new(mat->caller[0], 4, &err)) == NULL)
        die("sealer", &err);
    for (i = 0; i < n; i++) {
        ms[i] = node_answer(i);
        encode(ms[i]);
    }
    if (!mac)
        printf("  (a Node answer body: %zu bytes of JSON)\n", ms[0]->raw_len);
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        if (agent_guard_sign(g, ms[i], mac ? trust_sealer_public(console) : NULL, false,
                             &err) != 0)
            die("sign answer", &err);
        us[i] = (bench_now_s() - t) * 1e6;
    }
    report(what, us, n);
    free_messages(ms, n);
    trust_sealer_free(console);
    agent_guard_free(g);
}

/*
 * Sealed answers (trust/seal.h): the agent seals a Node answer to a
 * console's key, the console opens it; the first answer between two keys
 * pays for the X25519 and the HKDF, the next ones find the AES key kept.
 */
static void
bench_seal_answers(const struct material *mat, size_t n, double *us)
{
    struct trust_sealer *agent, *console, *fresh;
    struct bus_message *m = node_answer(0);
    qmf_value **sealed = qmf_xcalloc(n, sizeof(*sealed));
    char *plain;
    char *type;
    size_t len, i;
    qmf_error err;
    double t;

    encode(m);
    if ((agent = trust_sealer_new(mat->agent, 64, &err)) == NULL ||
        (console = trust_sealer_new(mat->caller[0], 64, &err)) == NULL)
        die("sealer", &err);
    for (i = 0; i < n; i++) {
        /* A new console key each time: no AES key kept. */
        if ((fresh = trust_sealer_new(NULL, 1, &err)) == NULL)
            die("sealer", &err);
        t = bench_now_s();
        qmf_free(trust_seal(agent, trust_sealer_public(fresh), BUS_CONTENT_JSON, m->raw_body,
                            m->raw_len, &err));
        us[i] = (bench_now_s() - t) * 1e6;
        trust_sealer_free(fresh);
    }
    report("agent: seal a Node answer, a console's first", us, n);
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        sealed[i] = trust_seal(agent, trust_sealer_public(console), BUS_CONTENT_JSON,
                               m->raw_body, m->raw_len, &err);
        us[i] = (bench_now_s() - t) * 1e6;
        if (sealed[i] == NULL)
            die("seal", &err);
    }
    report("agent: seal a Node answer, key kept", us, n);
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        if (trust_unseal(console, sealed[i], &plain, &len, &type, &err) != 0)
            die("unseal", &err);
        us[i] = (bench_now_s() - t) * 1e6;
        free(plain);
        free(type);
        qmf_free(sealed[i]);
    }
    report("console: open a sealed Node answer, key kept", us, n);
    free(sealed);
    trust_sealer_free(agent);
    trust_sealer_free(console);
    bus_message_free(m);
}

/* What a console with answer_issuer_keys does to each answer
 * (console_answer_ok): check the signer, then that it speaks for the
 * agent the answer names. */
static bool
answer_ok(const struct trust_store *s, struct trust_checked *checked,
          struct trust_sealer *console, const struct bus_message *m)
{
    qmf_error err;

    return trust_store_check_answer(s, checked, console, m, now_ms() / 1000, 300, &err) == 0;
}

/* cached: the console has checked the agent's credential before, as it
 * has after an agent's first answer; else each answer is checked whole.
 * mac: answers to the console's reply-key, with a MAC, not a signature. */
static void
bench_check_answers(const struct material *mat, bool cached, bool mac, const char *what,
                    size_t n, double *us)
{
    struct trust_sealer *agent = NULL, *console = NULL;
    const char *issuers[] = { mat->issuer_pub, NULL };
    struct trust_store_config sc = { .issuer_keys = issuers };
    struct bus_message **ms = qmf_xcalloc(n, sizeof(*ms));
    struct trust_checked *checked = NULL;
    struct trust_store *s;
    qmf_error err;
    double t;
    size_t i;

    if (trust_store_load(&sc, &s, &err) != 0)
        die("trust store", &err);
    if (cached)
        checked = trust_checked_new(s, 64);
    if (mac && ((agent = trust_sealer_new(mat->agent, 4, &err)) == NULL ||
                (console = trust_sealer_new(mat->caller[0], 4, &err)) == NULL))
        die("sealer", &err);
    for (i = 0; i < n; i++) {
        ms[i] = node_answer(i);
        if ((mac ? trust_message_mac(ms[i], agent, trust_sealer_public(console), mat->agent,
                                     mat->agent_cred, &err)
                 : trust_message_sign(ms[i], TRUST_ANSWER, "", mat->agent, mat->agent_cred,
                                      &err)) != 0)
            die("sign answer", &err);
        as_received(ms[i], "");
    }
    /* Kept after the first: the credential, and the console's MAC key. */
    if (cached && !answer_ok(s, checked, console, ms[0]))
        die("an answer did not check", NULL);
    for (i = 0; i < n; i++) {
        t = bench_now_s();
        if (!answer_ok(s, checked, console, ms[i]))
            die("an answer did not check", NULL);
        us[i] = (bench_now_s() - t) * 1e6;
    }
    report(what, us, n);
    free_messages(ms, n);
    trust_checked_free(checked);
    trust_store_free(s);
    trust_sealer_free(agent);
    trust_sealer_free(console);
}

int
main(int argc, char **argv)
{
    struct material mat = { 0 };
    size_t n = 2000;
    double *us;
    int ch;

    while ((ch = getopt(argc, argv, "n:h")) != -1) {
        switch (ch) {
        case 'n':
            n = strtoul(optarg, NULL, 10);
            if (n == 0 || n > 10000000) {
                fprintf(stderr, "bench_signatures: -n: 1..10000000\n");
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: bench_signatures [-n ITERATIONS]\n");
            return ch == 'h' ? 0 : 2;
        }
    }
    us = qmf_xcalloc(n, sizeof(*us));
    material_make(&mat);
    printf("bench/signatures: Ed25519, %s, %zu iterations per operation\n",
           OpenSSL_version(OPENSSL_VERSION), n);
    printf("  %-50s %8s %8s %10s\n", "operation", "p50 µs", "p99 µs", "ops/s p50");
    printf("Pieces:\n");
    bench_primitives(&mat, n, us);
    printf("Console, per request:\n");
    bench_sign_requests(&mat, query_node, BROADCAST_QUERY_KEY,
                        "console: sign a broadcast query (Node)", n, us);
    bench_sign_requests(&mat, method_shutdown, AGENT_NAME,
                        "console: sign a method request (Domain.shutdown)", n, us);
    printf("Agent, per request:\n");
    bench_identify_unsigned(&mat, n, us);
    bench_identify(&mat, query_node, BROADCAST_QUERY_KEY, 1,
                   "agent: identify a query, credential cached", n, us);
    bench_identify_shared(&mat, n, us);
    bench_identify(&mat, method_shutdown, AGENT_NAME, 1,
                   "agent: identify a method request, cached", n, us);
    bench_identify(&mat, query_node, BROADCAST_QUERY_KEY, COLD_CALLERS,
                   "agent: identify a query, cold (parse + issuer)", n, us);
    printf("Agent, per answer; console, per answer checked:\n");
    bench_sign_answers(&mat, false, "agent: sign a Node answer (no reply-key)", n, us);
    bench_sign_answers(&mat, true, "agent: MAC a Node answer (to a reply-key)", n, us);
    bench_seal_answers(&mat, n, us);
    bench_check_answers(&mat, true, false, "console: check a signed answer, cred. cached", n,
                        us);
    bench_check_answers(&mat, false, false, "console: check a signed answer, cold", n, us);
    bench_check_answers(&mat, true, true, "console: check a MACed answer, cred. cached", n,
                        us);
    bench_check_answers(&mat, false, true, "console: check a MACed answer, cold", n, us);
    material_free(&mat);
    free(us);
    return 0;
}
