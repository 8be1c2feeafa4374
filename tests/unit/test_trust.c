/*
 * Tests of the trust module: keys and their files, credentials (issued,
 * tampered with, expired, revoked), node selectors and the policy,
 * signed messages checked against a trust store, and sealed answers.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/codec.h"
#include "tests/testutil.h"
#include "trust/credential.h"
#include "trust/key.h"
#include "trust/message.h"
#include "trust/policy.h"
#include "trust/seal.h"
#include "trust/store.h"
#include "trust/verified.h"

#define NOW 1767225600      /* 2026-01-01 */
#define DAY 86400

static char dir[64];

static void
make_dir(void)
{
    test_tmpdir_make(dir, sizeof(dir), "vbtrust");
}

static void
remove_dir(void)
{
    test_tmpdir_remove(dir);
}

TestSuite(trust, .init = make_dir, .fini = remove_dir);

static struct trust_key *
new_key(void)
{
    qmf_error err;
    struct trust_key *k = trust_key_generate(&err);

    cr_assert_not_null(k, "%s", err.text);
    return k;
}

static char *
path_of(const char *name)
{
    return qmf_xasprintf("%s/%s", dir, name);
}

static void
write_text(const char *name, const char *text)
{
    char *p = path_of(name);
    FILE *f = fopen(p, "w");

    cr_assert_not_null(f, "%s: %s", p, strerror(errno));
    fputs(text, f);
    fclose(f);
    free(p);
}

Test(trust, keys_round_trip_through_files_and_private_ones_are_0600)
{
    struct trust_key *k = new_key(), *priv, *pub;
    char *kp = path_of("alice.key"), *pp = path_of("alice.pub");
    struct stat st;
    qmf_error err;
    uint8_t sig[TRUST_SIG_LEN];

    cr_assert(trust_key_is_private(k));
    cr_assert_eq(trust_key_save_private(k, kp, &err), 0, "%s", err.text);
    cr_assert_eq(stat(kp, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(trust_key_save_private(k, kp, &err), -1, "an existing key is overwritten");
    cr_assert(strstr(err.text, "exists") != NULL, "%s", err.text);
    cr_assert_eq(trust_key_save_public(k, pp, &err), 0, "%s", err.text);

    priv = trust_key_load(kp, &err);
    pub = trust_key_load(pp, &err);
    cr_assert_not_null(priv);
    cr_assert_not_null(pub);
    cr_assert(trust_key_is_private(priv));
    cr_assert_not(trust_key_is_private(pub));
    cr_assert_str_eq(trust_key_id(priv), trust_key_id(k));
    cr_assert_str_eq(trust_key_id(pub), trust_key_id(k));
    cr_assert_eq(strlen(trust_key_id(k)), TRUST_KEY_ID_LEN);

    cr_assert_eq(trust_sign(priv, "hello", 5, sig, &err), 0, "%s", err.text);
    cr_assert(trust_verify(pub, "hello", 5, sig));
    cr_assert_not(trust_verify(pub, "hellO", 5, sig));
    sig[10] ^= 1;
    cr_assert_not(trust_verify(pub, "hello", 5, sig));
    cr_assert_eq(trust_sign(pub, "x", 1, sig, &err), -1, "a public key cannot sign");

    write_text("rsa.pem", "-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n");
    free(kp);
    kp = path_of("rsa.pem");
    cr_assert_null(trust_key_load(kp, &err));
    trust_key_free(k);
    trust_key_free(priv);
    trust_key_free(pub);
    free(kp);
    free(pp);
}

Test(trust, a_new_key_and_its_credential_are_issued_to_files)
{
    struct trust_key *issuer = new_key(), *k;
    struct trust_credential fields = { .name = "web-1", .roles = TRUST_ROLE_AGENT };
    struct trust_credential *c;
    char *kp = path_of("web-1.key"), *cp = path_of("web-1.cred"), *text, *read;
    struct stat st;
    qmf_error err;

    fields.not_before = 1000;
    fields.not_after = 2000;
    text = trust_credential_issue_new_key(issuer, &fields, kp, cp, &err);
    cr_assert_not_null(text, "%s", err.text);
    cr_assert_eq(stat(kp, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(stat(cp, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
    read = trust_credential_read(cp, &err);
    cr_assert_str_eq(read, text, "the file holds the credential returned");
    c = trust_credential_parse(read, strlen(read), &err);
    cr_assert_not_null(c, "%s", err.text);
    k = trust_key_load(kp, &err);
    cr_assert_not_null(k, "%s", err.text);
    cr_assert_str_eq(c->key_id, trust_key_id(k), "the credential is for the key saved");
    cr_assert_eq(trust_credential_verify(c, issuer, 1500, 0, &err), 0, "%s", err.text);

    /* An existing key is never replaced, and nothing is issued then. */
    cr_assert_null(trust_credential_issue_new_key(issuer, &fields, kp, cp, &err));
    cr_assert(strstr(err.text, "exists") != NULL, "%s", err.text);
    cr_assert_eq(trust_credential_save(text, cp, false, &err), -1);
    cr_assert_eq(trust_credential_save(text, cp, true, &err), 0, "%s", err.text);

    trust_credential_free(c);
    trust_key_free(k);
    trust_key_free(issuer);
    free(fields.serial);
    free(text);
    free(read);
    free(kp);
    free(cp);
}

Test(trust, base64url_is_strict)
{
    static const uint8_t data[] = { 0xfb, 0xff, 0x00, 0x10, 0x83 };
    uint8_t *out;
    size_t len, n;
    char *text;

    for (n = 0; n <= sizeof(data); n++) {
        text = trust_b64_encode(data, n);
        cr_assert_null(strchr(text, '='));
        cr_assert_null(strchr(text, '+'));
        cr_assert_null(strchr(text, '/'));
        cr_assert_eq(trust_b64_decode(text, strlen(text), &out, &len, 16), 0, "%s", text);
        cr_assert_eq(len, n);
        cr_assert_eq(memcmp(out, data, n), 0);
        free(out);
        free(text);
    }
    cr_assert_eq(trust_b64_decode("AAAA=", 5, &out, &len, 16), -1, "padding");
    cr_assert_eq(trust_b64_decode("AA+A", 4, &out, &len, 16), -1, "the other alphabet");
    cr_assert_eq(trust_b64_decode("AA A", 4, &out, &len, 16), -1, "whitespace");
    cr_assert_eq(trust_b64_decode("AAAAA", 5, &out, &len, 16), -1, "a dangling character");
    cr_assert_eq(trust_b64_decode("AAAAAAAA", 8, &out, &len, 5), -1, "over the maximum");
    /* One text per byte string: the bits past the last byte must be zero
     * (the fuzz harness found "tor" decoding, and re-encoding as "toQ"). */
    cr_assert_eq(trust_b64_decode("tor", 3, &out, &len, 16), -1, "non-zero trailing bits");
    cr_assert_eq(trust_b64_decode("AAB", 3, &out, &len, 16), -1, "two trailing bits");
    cr_assert_eq(trust_b64_decode("AB", 2, &out, &len, 16), -1, "four trailing bits");
    cr_assert_eq(trust_b64_decode("AQ", 2, &out, &len, 16), 0, "canonical");
    cr_assert_eq(len, 1);
    cr_assert_eq(out[0], 0x01);
    free(out);
    cr_assert_eq(trust_b64_decode("toQ", 3, &out, &len, 16), 0, "canonical");
    free(out);
}

/* A credential for key, issued by issuer, valid for a year from NOW. */
static char *
issue(struct trust_key *issuer, const char *name, struct trust_key *key, unsigned roles,
      const char *nodes)
{
    struct trust_credential f = { 0 };
    qmf_error err;
    char *text;

    f.name = (char *)name;
    memcpy(f.key, trust_key_raw(key), TRUST_KEY_LEN);
    f.roles = roles;
    f.nodes = (char *)nodes;
    f.not_before = NOW;
    f.not_after = NOW + 365 * DAY;
    text = trust_credential_issue(issuer, &f, &err);
    cr_assert_not_null(text, "%s", err.text);
    free(f.serial);
    return text;
}

Test(trust, a_credential_is_believed_only_as_its_issuer_signed_it)
{
    struct trust_key *issuer = new_key(), *other = new_key(), *alice = new_key();
    char *text = issue(issuer, "alice", alice, TRUST_ROLE_OPERATOR, "tier=web");
    struct trust_credential *c;
    qmf_error err;
    char *tampered, *dot;

    c = trust_credential_parse(text, strlen(text), &err);
    cr_assert_not_null(c, "%s", err.text);
    cr_assert_str_eq(c->name, "alice");
    cr_assert_eq(c->roles, TRUST_ROLE_OPERATOR);
    cr_assert_str_eq(c->nodes, "tier=web");
    cr_assert_str_eq(c->key_id, trust_key_id(alice));
    cr_assert_str_eq(c->issuer, trust_key_id(issuer));
    cr_assert_eq(trust_credential_verify(c, issuer, NOW + DAY, 60, &err), 0, "%s", err.text);
    cr_assert_eq(trust_credential_verify(c, other, NOW + DAY, 60, &err), -1);
    cr_assert_eq(trust_credential_verify(c, issuer, NOW - 3600, 60, &err), -1, "not yet valid");
    cr_assert(strstr(err.text, "not valid before") != NULL, "%s", err.text);
    cr_assert_eq(trust_credential_verify(c, issuer, NOW + 366 * DAY, 60, &err), -1, "expired");
    cr_assert(strstr(err.text, "expired") != NULL, "%s", err.text);
    trust_credential_free(c);

    /* One changed character of the payload: the issuer's signature fails
     * (or the payload no longer parses). */
    tampered = qmf_xstrdup(text);
    tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
    c = trust_credential_parse(tampered, strlen(tampered), &err);
    if (c != NULL)
        cr_assert_eq(trust_credential_verify(c, issuer, NOW + DAY, 60, &err), -1);
    trust_credential_free(c);
    free(tampered);

    /* A credential signed by another issuer but claiming ours. */
    tampered = issue(other, "alice", alice, TRUST_ROLE_ADMIN, NULL);
    c = trust_credential_parse(tampered, strlen(tampered), &err);
    cr_assert_not_null(c);
    memcpy(c->issuer, trust_key_id(issuer), sizeof(c->issuer));
    cr_assert_eq(trust_credential_verify(c, issuer, NOW + DAY, 60, &err), -1);
    trust_credential_free(c);
    free(tampered);

    /* Not credentials at all. */
    cr_assert_null(trust_credential_parse("vbc1.", 5, &err));
    cr_assert_null(trust_credential_parse("vbc2.AAAA.AAAA", 14, &err));
    dot = strrchr(text, '.');
    cr_assert_null(trust_credential_parse(text, (size_t)(dot - text), &err), "no signature");
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    free(text);
    trust_key_free(issuer);
    trust_key_free(other);
    trust_key_free(alice);
}

Test(trust, roles_imply_the_ones_below_them)
{
    char *s;

    cr_assert_eq(trust_roles_implied(TRUST_ROLE_ADMIN),
                 TRUST_ROLE_ADMIN | TRUST_ROLE_OPERATOR | TRUST_ROLE_READER);
    cr_assert_eq(trust_roles_implied(TRUST_ROLE_AGENT), TRUST_ROLE_AGENT);
    cr_assert_eq(trust_role_parse("operator"), TRUST_ROLE_OPERATOR);
    cr_assert_eq(trust_role_parse("root"), 0);
    s = trust_roles_format(TRUST_ROLE_READER | TRUST_ROLE_ADMIN);
    cr_assert_str_eq(s, "reader,admin");
    free(s);
}

Test(trust, node_selectors)
{
    qmf_value *labels = qmf_map();
    qmf_error err;

    qmf_map_set(labels, "tier", qmf_string("web"));
    qmf_map_set(labels, "env", qmf_string("prod"));
    cr_assert(trust_selector_match("*", "hv1", labels));
    cr_assert(trust_selector_match("tier=web", "hv1", labels));
    cr_assert(trust_selector_match("tier=w*,env=prod", "hv1", labels));
    cr_assert_not(trust_selector_match("tier=web,env!=prod", "hv1", labels));
    cr_assert(trust_selector_match("rack!=r1", "hv1", labels), "a missing label passes !=");
    cr_assert_not(trust_selector_match("rack=*", "hv1", labels), "and fails =");
    cr_assert(trust_selector_match("node=hv*", "hv1", labels));
    cr_assert_not(trust_selector_match("node=db*", "hv1", labels));
    cr_assert_eq(trust_selector_check("tier", &err), -1);
    cr_assert_eq(trust_selector_check("=web", &err), -1);
    cr_assert_eq(trust_selector_check("tier=web,", &err), -1);
    cr_assert_eq(trust_selector_check("ti er=web", &err), -1);
    cr_assert_eq(trust_selector_check("", &err), -1);
    cr_assert_not(trust_selector_match("tier", "hv1", labels), "malformed selects nothing");
    qmf_free(labels);
}

static bool
decide(const struct trust_policy *p, const char *caller, unsigned roles, const char *action,
       unsigned needs, char *why)
{
    qmf_value *labels = qmf_map();
    const char *cls_end = strchr(action, '.');
    char cls[32] = "";
    struct trust_ask ask = {
        .caller = caller, .roles = roles, .action = action, .needs = needs,
        .node = "hv1", .labels = labels,
    };
    bool ok;

    if (cls_end != NULL)
        snprintf(cls, sizeof(cls), "%.*s", (int)(cls_end - action), action);
    ask.class_name = cls_end != NULL ? cls : NULL;
    qmf_map_set(labels, "tier", qmf_string("db"));
    ok = trust_policy_decide(p, &ask, why, 256);
    qmf_free(labels);
    return ok;
}

Test(trust, policy_first_match_wins_then_roles_then_deny)
{
    static const char text[] =
        "# who may do what\n"
        "deny role:operator Domain.* tier=db   # not on databases\n"
        "allow bob Domain.reboot *\n"
        "\n"
        "allow role:reader Node.getCapabilities node=hv*\n";
    struct trust_policy *p;
    qmf_error err;
    char why[256];

    cr_assert_eq(trust_policy_parse(text, sizeof(text) - 1, "policy", &p, &err), 0, "%s",
                 err.text);
    cr_assert_eq(trust_policy_rules(p), 3);
    /* Narrowed: operators get nothing on Domain here. */
    cr_assert_not(decide(p, "alice", TRUST_ROLE_OPERATOR, "Domain.shutdown", TRUST_ROLE_OPERATOR,
                         why));
    cr_assert(strstr(why, "policy:2") != NULL, "%s", why);
    /* Admins are operators too. */
    cr_assert_not(decide(p, "root", TRUST_ROLE_ADMIN, "Domain.undefine", TRUST_ROLE_ADMIN, why));
    /* Widened: bob, a reader, may reboot. */
    cr_assert(decide(p, "bob", TRUST_ROLE_READER, "Domain.reboot", TRUST_ROLE_OPERATOR, why),
              "%s", why);
    /* Built-in: a reader reads, an admin defines; a reader may not define. */
    cr_assert(decide(p, "carol", TRUST_ROLE_READER, "Pool.query", TRUST_ROLE_READER, why));
    cr_assert(decide(p, "root", TRUST_ROLE_ADMIN, "Node.domainDefineXML", TRUST_ROLE_ADMIN,
                     why));
    cr_assert_not(decide(p, "carol", TRUST_ROLE_READER, "Node.domainDefineXML",
                         TRUST_ROLE_ADMIN, why));
    cr_assert_str_eq(why, "Node.domainDefineXML needs role admin; carol has reader");
    /* An agent's credential speaks for a node, never for a caller. */
    cr_assert_not(decide(p, "hv2", TRUST_ROLE_AGENT, "Domain.query", TRUST_ROLE_READER, why));
    trust_policy_free(p);
}

Test(trust, policy_errors_name_the_file_and_line)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        { "allow alice Domain.*\n", "p:1: expected" },
        { "\npermit alice Domain.* *\n", "p:2: 'permit'" },
        { "allow role:god * *\n", "p:1: unknown role 'god'" },
        { "allow al/ce * *\n", "p:1: 'al/ce'" },
        { "allow alice * tier\n", "p:1: 'tier'" },
        { "allow alice * * extra\n", "p:1: more than 4 words" },
    };
    struct trust_policy *p;
    qmf_error err;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(trust_policy_parse(cases[i].text, strlen(cases[i].text), "p", &p, &err),
                     -1, "%s", cases[i].text);
        cr_assert(strstr(err.text, cases[i].want) != NULL, "%s: %s", cases[i].want, err.text);
    }
}

Test(trust, credential_constraints_only_narrow)
{
    struct trust_policy *p;
    qmf_value *labels = qmf_map();
    static const char *const classes[] = { "Domain", NULL };
    static const char *const methods[] = { "Domain.reboot", "*.query", NULL };
    struct trust_ask ask = {
        .caller = "ci", .roles = TRUST_ROLE_ADMIN, .classes = classes, .methods = methods,
        .nodes = "tier=web", .node = "hv1", .labels = labels,
    };
    char why[256];
    qmf_error err;

    cr_assert_eq(trust_policy_parse("allow * * *\n", 12, "p", &p, &err), 0);
    qmf_map_set(labels, "tier", qmf_string("web"));
    ask.action = "Domain.reboot";
    ask.class_name = "Domain";
    ask.needs = TRUST_ROLE_OPERATOR;
    cr_assert(trust_policy_decide(p, &ask, why, sizeof(why)), "%s", why);
    ask.action = "Domain.undefine";
    cr_assert_not(trust_policy_decide(p, &ask, why, sizeof(why)), "methods");
    ask.action = "Pool.query";
    ask.class_name = "Pool";
    cr_assert_not(trust_policy_decide(p, &ask, why, sizeof(why)), "classes");
    ask.action = "Domain.reboot";
    ask.class_name = "Domain";
    qmf_map_set(labels, "tier", qmf_string("db"));
    cr_assert_not(trust_policy_decide(p, &ask, why, sizeof(why)), "nodes");
    cr_assert(strstr(why, "limited to nodes tier=web") != NULL, "%s", why);
    trust_policy_free(p);
    qmf_free(labels);
}

static struct bus_message *
request(void)
{
    struct bus_message *m = bus_message_new();

    bus_message_set_header_string(m, "qmf.opcode", "_method_request");
    m->message_id = qmf_xstrdup("id-1");
    m->correlation_id = qmf_xstrdup("c-1");
    m->reply_to = qmf_xstrdup(BUS_DIRECT_REPLY_TO);
    m->user_id = qmf_xstrdup("guest");
    m->created_ms = (int64_t)NOW * 1000;
    m->ttl_ms = 30000;
    m->body = qmf_map();
    qmf_map_set(m->body, "_method_name", qmf_string("destroy"));
    return m;
}

struct fixture {
    struct trust_key *issuer, *alice, *bob;
    struct trust_store *store;
    char *alice_cred;
};

static void
fixture_init(struct fixture *f, const char *revoked)
{
    char *issuer_path = path_of("issuer.pub"), *tdir = path_of("trusted"), *bob_path;
    char *rev_path = path_of("revoked");
    const char *issuers[] = { issuer_path, NULL };
    struct trust_store_config cfg = { issuers, tdir, revoked ? rev_path : NULL };
    qmf_error err;

    f->issuer = new_key();
    f->alice = new_key();
    f->bob = new_key();
    cr_assert_eq(trust_key_save_public(f->issuer, issuer_path, &err), 0);
    cr_assert_eq(mkdir(tdir, 0700), 0);
    bob_path = qmf_xasprintf("%s/bob.pub", tdir);
    cr_assert_eq(trust_key_save_public(f->bob, bob_path, &err), 0);
    {
        /* roles before the PEM block */
        FILE *in = fopen(bob_path, "r");
        char pem[1024];
        size_t n = fread(pem, 1, sizeof(pem) - 1, in);
        FILE *out;

        fclose(in);
        pem[n] = '\0';
        out = fopen(bob_path, "w");
        fprintf(out, "roles: reader\n%s", pem);
        fclose(out);
    }
    f->alice_cred = issue(f->issuer, "alice", f->alice, TRUST_ROLE_OPERATOR, NULL);
    if (revoked != NULL)
        write_text("revoked", revoked);
    cr_assert_eq(trust_store_load(&cfg, &f->store, &err), 0, "%s", err.text);
    cr_assert_eq(trust_store_issuers(f->store), 1);
    cr_assert_eq(trust_store_direct_keys(f->store), 1);
    free(issuer_path);
    free(tdir);
    free(bob_path);
    free(rev_path);
}

static void
fixture_fini(struct fixture *f)
{
    trust_key_free(f->issuer);
    trust_key_free(f->alice);
    trust_key_free(f->bob);
    trust_store_free(f->store);
    free(f->alice_cred);
}

static int
check(struct fixture *f, const struct bus_message *m, const char *target,
      struct trust_signer *who, qmf_error *err)
{
    return trust_store_check(f->store, m, TRUST_REQUEST, target, NOW, 60, who, err);
}

Test(trust, signed_requests_are_checked_against_the_store)
{
    struct fixture f;
    struct bus_message *m = request();
    struct trust_signer who;
    qmf_error err;

    fixture_init(&f, NULL);
    cr_assert_not(trust_message_is_signed(m));
    cr_assert_eq(check(&f, m, "virtbus:agent:hv1", &who, &err), -1);
    cr_assert(strstr(err.text, "not signed") != NULL, "%s", err.text);

    cr_assert_eq(trust_message_sign(m, TRUST_REQUEST, "virtbus:agent:hv1", f.alice,
                                    f.alice_cred, &err), 0, "%s", err.text);
    cr_assert(trust_message_is_signed(m));
    cr_assert_eq(check(&f, m, "virtbus:agent:hv1", &who, &err), 0, "%s", err.text);
    cr_assert_str_eq(who.name, "alice");
    cr_assert_str_eq(who.key_id, trust_key_id(f.alice));
    cr_assert_eq(who.roles, TRUST_ROLE_OPERATOR);
    cr_assert_not_null(who.credential);
    trust_signer_clear(&who);

    /* The broker's rewrite of a direct reply-to is not a change. */
    free(m->reply_to);
    m->reply_to = qmf_xstrdup(BUS_DIRECT_REPLY_TO ".g2dkaW4tY29uc29sZQ");
    cr_assert_eq(check(&f, m, "virtbus:agent:hv1", &who, &err), 0, "%s", err.text);
    trust_signer_clear(&who);

    /* Re-targeted at another node, or taken for an answer: refused. */
    cr_assert_eq(check(&f, m, "virtbus:agent:hv2", &who, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    cr_assert_eq(trust_store_check(f.store, m, TRUST_ANSWER, "virtbus:agent:hv1", NOW, 60, &who,
                                   &err), -1);
    fixture_fini(&f);
    bus_message_free(m);
}

/* Each change of a signed field breaks the signature: here, of the bytes
 * that travel. */
static void change_body(struct bus_message *m)
{
    m->raw_body[m->raw_len - 2] ^= 1;
}
static void change_content_type(struct bus_message *m)
{
    free(m->raw_content_type);
    m->raw_content_type = qmf_xstrdup("amqp/map");
}
static void change_id(struct bus_message *m) { m->message_id[0] = 'X'; }
static void change_created(struct bus_message *m) { m->created_ms += 1; }
static void change_ttl(struct bus_message *m) { m->ttl_ms = 86400000; }
static void change_reply_to(struct bus_message *m)
{
    free(m->reply_to);
    m->reply_to = qmf_xstrdup("/exchange/qmf.default.topic/agent.ind.x");
}
static void change_opcode(struct bus_message *m)
{
    bus_message_set_header_string(m, "qmf.opcode", "_query_request");
}
static void change_user(struct bus_message *m) { m->user_id[0] = 'X'; }
static void change_correlation(struct bus_message *m) { m->correlation_id[0] = 'X'; }
/* Sealing key swapped in on the way (or added): the answer would go sealed
 * to whoever swapped it. */
static void change_reply_key(struct bus_message *m)
{
    bus_message_set_header_string(m, TRUST_HDR_REPLY_KEY, "c3dhcHBlZA");
}
/* Added on the way: the asker's answers would come without the
 * credential it checks, and be refused. */
static void change_answer_credential(struct bus_message *m)
{
    bus_message_set_header_string(m, TRUST_HDR_ANSWER_CREDENTIAL, "no");
}

Test(trust, every_signed_field_counts)
{
    void (*changes[])(struct bus_message *) = {
        change_body, change_id, change_created, change_ttl, change_reply_to, change_opcode,
        change_user, change_correlation, change_content_type, change_reply_key,
        change_answer_credential,
    };
    struct fixture f;
    struct trust_signer who;
    qmf_error err;
    size_t i;

    fixture_init(&f, NULL);
    for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        struct bus_message *m = request();

        cr_assert_eq(trust_message_sign(m, TRUST_REQUEST, "k", f.alice, f.alice_cred, &err), 0);
        changes[i](m);
        cr_assert_eq(check(&f, m, "k", &who, &err), -1, "change %zu went unnoticed", i);
        cr_assert(strstr(err.text, "does not match") != NULL, "%s", err.text);
        bus_message_free(m);
    }
    fixture_fini(&f);
}

Test(trust, direct_keys_revocation_and_untrusted_signers)
{
    struct fixture f;
    struct bus_message *m = request();
    struct trust_key *eve = new_key();
    char *eve_cred;
    struct trust_signer who;
    qmf_error err;

    fixture_init(&f, NULL);
    /* bob's key is in the trust directory: no credential needed. */
    cr_assert_eq(trust_message_sign(m, TRUST_REQUEST, "k", f.bob, NULL, &err), 0);
    cr_assert_eq(check(&f, m, "k", &who, &err), 0, "%s", err.text);
    cr_assert_str_eq(who.name, "bob");
    cr_assert_eq(who.roles, TRUST_ROLE_READER);
    cr_assert_null(who.credential);
    trust_signer_clear(&who);
    /* eve's is not, and her self-issued credential is from an unknown issuer. */
    cr_assert_eq(trust_message_sign(m, TRUST_REQUEST, "k", eve, NULL, &err), 0);
    cr_assert_eq(check(&f, m, "k", &who, &err), -1);
    cr_assert(strstr(err.text, "not trusted") != NULL, "%s", err.text);
    eve_cred = issue(eve, "eve", eve, TRUST_ROLE_ADMIN, NULL);
    cr_assert_eq(trust_message_sign(m, TRUST_REQUEST, "k", eve, eve_cred, &err), 0);
    cr_assert_eq(check(&f, m, "k", &who, &err), -1);
    cr_assert(strstr(err.text, "not trusted here") != NULL, "%s", err.text);
    /* alice's credential with eve's key signing. */
    cr_assert_eq(trust_message_sign(m, TRUST_REQUEST, "k", eve, f.alice_cred, &err), 0);
    cr_assert_eq(check(&f, m, "k", &who, &err), -1);
    fixture_fini(&f);
    free(eve_cred);
    trust_key_free(eve);
    bus_message_free(m);
}

Test(trust, revoked_credentials_and_keys_are_refused)
{
    struct fixture f;
    struct bus_message *m;
    struct trust_credential *c;
    struct trust_signer who;
    qmf_error err;
    char *rev;

    /* Learn the serial alice's credential will not have: revoke by key id. */
    fixture_init(&f, NULL);
    c = trust_credential_parse(f.alice_cred, strlen(f.alice_cred), &err);
    rev = qmf_xasprintf("# revoked\n%s\n%s   # bob\n", c->serial, trust_key_id(f.bob));
    trust_credential_free(c);
    {
        /* The same keys, a store that reads the revocation file. */
        char *issuer_path = path_of("issuer.pub"), *tdir = path_of("trusted");
        char *rev_path = path_of("revoked");
        const char *issuers[] = { issuer_path, NULL };
        struct trust_store_config cfg = { issuers, tdir, rev_path };

        write_text("revoked", rev);
        trust_store_free(f.store);
        cr_assert_eq(trust_store_load(&cfg, &f.store, &err), 0, "%s", err.text);
        free(issuer_path);
        free(tdir);
        free(rev_path);
    }
    m = request();
    cr_assert_eq(trust_message_sign(m, TRUST_REQUEST, "k", f.alice, f.alice_cred, &err), 0);
    cr_assert_eq(check(&f, m, "k", &who, &err), -1);
    cr_assert(strstr(err.text, "revoked") != NULL, "%s", err.text);
    cr_assert_eq(trust_message_sign(m, TRUST_REQUEST, "k", f.bob, NULL, &err), 0);
    cr_assert_eq(check(&f, m, "k", &who, &err), -1);
    cr_assert(strstr(err.text, "revoked") != NULL, "%s", err.text);
    bus_message_free(m);
    free(rev);
    fixture_fini(&f);
}

Test(trust, a_recheck_is_of_the_validity_period_and_revocation_only)
{
    struct fixture f;
    struct trust_credential *c;
    struct trust_store *revoking;
    char *rev_path, *issuer_path, *rev;
    const char *issuers[2];
    struct trust_store_config cfg = { issuers, NULL, NULL };
    qmf_error err;

    fixture_init(&f, NULL);
    c = trust_credential_parse(f.alice_cred, strlen(f.alice_cred), &err);
    cr_assert_not_null(c, "%s", err.text);
    cr_assert_eq(trust_store_check_credential(f.store, c, NOW + DAY, 60, &err), 0, "%s",
                 err.text);
    cr_assert_eq(trust_store_recheck_credential(f.store, c, NOW + DAY, 60, &err), 0, "%s",
                 err.text);
    /* The clock moves on: a credential checked before expires all the same. */
    cr_assert_eq(trust_store_recheck_credential(f.store, c, NOW + 366 * DAY, 60, &err), -1);
    cr_assert(strstr(err.text, "expired") != NULL, "%s", err.text);
    cr_assert_eq(trust_store_recheck_credential(f.store, c, NOW - 3600, 60, &err), -1);
    cr_assert(strstr(err.text, "not valid before") != NULL, "%s", err.text);
    /* Revoked by its serial, in a store that reads the revocation file. */
    rev = qmf_xasprintf("%s\n", c->serial);
    write_text("revoked", rev);
    rev_path = path_of("revoked");
    issuer_path = path_of("issuer.pub");
    issuers[0] = issuer_path;
    issuers[1] = NULL;
    cfg.revoked = rev_path;
    cr_assert_eq(trust_store_load(&cfg, &revoking, &err), 0, "%s", err.text);
    cr_assert_eq(trust_store_recheck_credential(revoking, c, NOW + DAY, 60, &err), -1);
    cr_assert(strstr(err.text, "revoked") != NULL, "%s", err.text);
    trust_store_free(revoking);
    trust_credential_free(c);
    free(rev);
    free(rev_path);
    free(issuer_path);
    fixture_fini(&f);
}

Test(trust, a_remembered_signature_answers_only_for_its_key_digest_and_signature)
{
    struct trust_key *alice = new_key(), *eve = new_key();
    struct trust_verified *v = trust_verified_new(4);
    uint8_t digest[TRUST_DIGEST_LEN], other[TRUST_DIGEST_LEN], sig[TRUST_SIG_LEN];
    uint8_t forged[TRUST_SIG_LEN];
    uint64_t hits, misses;
    qmf_error err;

    memset(digest, 0x11, sizeof(digest));
    memcpy(other, digest, sizeof(other));
    other[TRUST_DIGEST_LEN - 1] ^= 1;       /* the same slot: only its tail differs */
    cr_assert_eq(trust_sign(alice, digest, sizeof(digest), sig, &err), 0, "%s", err.text);

    cr_assert(trust_verify_remembered(v, alice, digest, sig));
    cr_assert(trust_verify_remembered(v, alice, digest, sig));
    trust_verified_counts(v, &hits, &misses);
    cr_assert_eq(hits, 1);
    cr_assert_eq(misses, 1);

    /* The same digest and signature under another key, the same signature
     * of another digest, another signature of the same digest: none is
     * what was verified, each is verified, and each fails. */
    cr_assert_not(trust_verify_remembered(v, eve, digest, sig));
    cr_assert_not(trust_verify_remembered(v, alice, other, sig));
    memcpy(forged, sig, sizeof(forged));
    forged[7] ^= 0x40;
    cr_assert_not(trust_verify_remembered(v, alice, digest, forged));
    /* Failures are not remembered. */
    cr_assert_not(trust_verify_remembered(v, alice, digest, forged));
    trust_verified_counts(v, &hits, &misses);
    cr_assert_eq(hits, 1);
    cr_assert_eq(misses, 5);
    /* Nor did they displace the success. */
    cr_assert(trust_verify_remembered(v, alice, digest, sig));
    trust_verified_counts(v, &hits, &misses);
    cr_assert_eq(hits, 2);

    /* Without a memory: plain verification. */
    cr_assert(trust_verify_remembered(NULL, alice, digest, sig));
    cr_assert_not(trust_verify_remembered(NULL, alice, digest, forged));
    trust_verified_free(v);
    trust_key_free(alice);
    trust_key_free(eve);
}

Test(trust, checked_credentials_share_a_set_and_the_least_recently_used_goes)
{
    struct fixture f;
    struct trust_checked *cc;
    char *creds[5], name[16], id[TRUST_CREDENTIAL_ID_LEN + 1];
    qmf_error err;
    size_t i;

    fixture_init(&f, NULL);
    for (i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "caller%zu", i);
        creds[i] = issue(f.issuer, name, f.alice, TRUST_ROLE_READER, NULL);
    }
    /* Four slots are one set of four: four credentials all stay, whatever
     * their ids (a direct-mapped table of four keeps all four one time in
     * eleven). */
    cc = trust_checked_new(f.store, 4);
    for (i = 0; i < 4; i++)
        cr_assert_not_null(trust_checked_credential(cc, creds[i], NOW + DAY, 60, &err), "%s",
                           err.text);
    for (i = 0; i < 4; i++) {
        trust_credential_id(creds[i], id);
        cr_assert_not_null(trust_checked_credential_by_id(cc, id, NOW + DAY, 60, &err),
                           "credential %zu was pushed out: %s", i, err.text);
    }
    /* Found in that order, 0 is the least recently used: a fifth takes
     * its place, and the others stay. */
    cr_assert_not_null(trust_checked_credential(cc, creds[4], NOW + DAY, 60, &err), "%s",
                       err.text);
    trust_credential_id(creds[0], id);
    cr_assert_null(trust_checked_credential_by_id(cc, id, NOW + DAY, 60, &err));
    cr_assert_eq(err.code, QMF_ERR_CREDENTIAL_UNKNOWN, "%s", err.text);
    for (i = 1; i < 5; i++) {
        trust_credential_id(creds[i], id);
        cr_assert_not_null(trust_checked_credential_by_id(cc, id, NOW + DAY, 60, &err),
                           "credential %zu was pushed out: %s", i, err.text);
    }
    /* An id that is not base64url of 32 bytes is not an id. */
    cr_assert_null(trust_checked_credential_by_id(cc, "AAAA", NOW + DAY, 60, &err));
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE, "%s", err.text);
    for (i = 0; i < 5; i++)
        free(creds[i]);
    trust_checked_free(cc);
    fixture_fini(&f);
}

Test(trust, checked_credentials_are_kept_by_their_exact_text_for_their_store_only)
{
    struct fixture f;
    struct trust_checked *cc, *reloaded;
    struct trust_store *revoking;
    const struct trust_credential *c, *again;
    struct trust_credential *parsed;
    char *tampered, *rev, *rev_path, *issuer_path;
    const char *issuers[2];
    struct trust_store_config cfg = { issuers, NULL, NULL };
    size_t len;
    qmf_error err;

    fixture_init(&f, NULL);
    /* One slot: whatever comes next lands where alice's credential is. */
    cc = trust_checked_new(f.store, 1);
    c = trust_checked_credential(cc, f.alice_cred, NOW + DAY, 60, &err);
    cr_assert_not_null(c, "%s", err.text);
    cr_assert_str_eq(c->name, "alice");
    again = trust_checked_credential(cc, f.alice_cred, NOW + DAY, 60, &err);
    cr_assert_eq(again, c, "kept, not parsed again");

    /* One character of the issuer's signature changed: not the credential
     * kept, so checked in full, and refused. */
    tampered = qmf_xstrdup(f.alice_cred);
    len = strlen(tampered);
    tampered[len - 5] = tampered[len - 5] == 'A' ? 'B' : 'A';
    cr_assert_null(trust_checked_credential(cc, tampered, NOW + DAY, 60, &err));
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    /* A prefix of it is not it either. */
    tampered[len - 5] = f.alice_cred[len - 5];
    tampered[len - 1] = '\0';
    cr_assert_null(trust_checked_credential(cc, tampered, NOW + DAY, 60, &err));
    /* The genuine one, kept, still expires with the clock. */
    cr_assert_not_null(trust_checked_credential(cc, f.alice_cred, NOW + DAY, 60, &err));
    cr_assert_null(trust_checked_credential(cc, f.alice_cred, NOW + 366 * DAY, 60, &err));
    cr_assert(strstr(err.text, "expired") != NULL, "%s", err.text);

    /* Trust material reloaded with alice revoked is a new store, and the
     * credentials kept for the old one are not the new one's. */
    parsed = trust_credential_parse(f.alice_cred, strlen(f.alice_cred), &err);
    cr_assert_not_null(parsed, "%s", err.text);
    rev = qmf_xasprintf("%s\n", parsed->serial);
    write_text("revoked", rev);
    rev_path = path_of("revoked");
    issuer_path = path_of("issuer.pub");
    issuers[0] = issuer_path;
    issuers[1] = NULL;
    cfg.revoked = rev_path;
    cr_assert_eq(trust_store_load(&cfg, &revoking, &err), 0, "%s", err.text);
    reloaded = trust_checked_new(revoking, 1);
    cr_assert_null(trust_checked_credential(reloaded, f.alice_cred, NOW + DAY, 60, &err));
    cr_assert(strstr(err.text, "revoked") != NULL, "%s", err.text);

    trust_checked_free(reloaded);
    trust_checked_free(cc);
    trust_store_free(revoking);
    trust_credential_free(parsed);
    free(tampered);
    free(rev);
    free(rev_path);
    free(issuer_path);
    fixture_fini(&f);
}

/* Sealed answers ----------------------------------------------------------------- */

Test(trust, a_sealed_body_opens_only_for_the_key_it_was_sealed_to)
{
    struct trust_key *console_key = new_key(), *again = NULL, *agent_key = new_key();
    struct trust_sealer *console, *same, *agent, *stranger;
    const char secret[] = "{\"_values\":{\"name\":\"web1\"}}";
    qmf_value *body;
    char *plain, *type, *text, *path = path_of("console.key");
    size_t len;
    qmf_error err;

    console = trust_sealer_new(console_key, 8, &err);
    agent = trust_sealer_new(agent_key, 8, &err);
    stranger = trust_sealer_new(NULL, 8, &err);
    cr_assert(console && agent && stranger, "%s", err.text);
    /* Derived from the signing key: every process of the caller has it. */
    cr_assert_eq(trust_key_save_private(console_key, path, &err), 0);
    again = trust_key_load(path, &err);
    free(path);
    same = trust_sealer_new(again, 8, &err);
    cr_assert_str_eq(trust_sealer_public(same), trust_sealer_public(console));
    cr_assert_str_neq(trust_sealer_public(stranger), trust_sealer_public(console));

    body = trust_seal(agent, trust_sealer_public(console), "application/json", secret,
                      strlen(secret), &err);
    cr_assert_not_null(body, "%s", err.text);
    cr_assert(trust_body_is_sealed(body));
    text = qmf_to_json(body, NULL);
    cr_assert_null(strstr(text, "web1"), "%s", text);
    free(text);
    cr_assert_eq(trust_unseal(same, body, &plain, &len, &type, &err), 0, "%s", err.text);
    cr_assert_eq(len, strlen(secret));
    cr_assert_str_eq(plain, secret);
    cr_assert_str_eq(type, "application/json");
    free(plain);
    free(type);
    /* The cached key opens the next one too (a second answer). */
    qmf_free(body);
    body = trust_seal(agent, trust_sealer_public(console), "amqp/map", "", 0, &err);
    cr_assert_eq(trust_unseal(console, body, &plain, &len, &type, &err), 0, "%s", err.text);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(type, "amqp/map");
    free(plain);
    free(type);

    cr_assert_eq(trust_unseal(stranger, body, &plain, &len, &type, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE, "%s", err.text);
    cr_assert_null(plain);
    qmf_free(body);

    trust_sealer_free(console);
    trust_sealer_free(same);
    trust_sealer_free(agent);
    trust_sealer_free(stranger);
    trust_key_free(console_key);
    trust_key_free(again);
    trust_key_free(agent_key);
}

Test(trust, a_signing_key_s_x25519_twin_is_known_from_its_public_key)
{
    uint8_t twin[32], identity[TRUST_KEY_LEN] = { 1 };
    qmf_error err;
    int i;

    /* What makes a credential name an agent's X25519 key: the public half
     * mapped onto Curve25519 is the key the private half derives. */
    for (i = 0; i < 16; i++) {
        struct trust_key *k = new_key();
        struct trust_sealer *s = trust_sealer_new(k, 1, &err);
        char *text;

        cr_assert_not_null(s, "%s", err.text);
        cr_assert_eq(trust_x25519_of_ed25519(trust_key_raw(k), twin), 0);
        text = trust_b64_encode(twin, sizeof(twin));
        cr_assert_str_eq(text, trust_sealer_public(s), "key %d", i);
        free(text);
        trust_sealer_free(s);
        trust_key_free(k);
    }
    /* y = 1, the neutral element, has no twin (1 - y has no inverse). */
    cr_assert_eq(trust_x25519_of_ed25519(identity, twin), -1);
}

Test(trust, an_answer_mac_is_good_only_between_its_agent_and_console)
{
    struct trust_key *agent_key = new_key(), *console_key = new_key(), *other_key = new_key();
    struct trust_sealer *agent = trust_sealer_new(agent_key, 4, NULL);
    struct trust_sealer *console = trust_sealer_new(console_key, 4, NULL);
    struct trust_sealer *other = trust_sealer_new(other_key, 4, NULL);
    uint8_t digest[TRUST_DIGEST_LEN], mac[TRUST_MAC_LEN];
    qmf_error err;

    memset(digest, 0x5a, sizeof(digest));
    cr_assert_eq(trust_answer_mac(agent, trust_sealer_public(console), digest, mac, &err), 0,
                 "%s", err.text);
    /* The console knows the agent by its Ed25519 key (its credential's). */
    cr_assert_eq(trust_answer_mac_check(console, trust_key_raw(agent_key), digest, mac, &err),
                 0, "%s", err.text);
    /* Kept per peer: the second check is of the cached key. */
    cr_assert_eq(trust_answer_mac_check(console, trust_key_raw(agent_key), digest, mac, &err),
                 0, "%s", err.text);
    /* Another agent's key, another console, another digest: no. */
    cr_assert_eq(trust_answer_mac_check(console, trust_key_raw(other_key), digest, mac, &err),
                 -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    cr_assert_eq(trust_answer_mac_check(other, trust_key_raw(agent_key), digest, mac, &err),
                 -1);
    digest[31] ^= 1;
    cr_assert_eq(trust_answer_mac_check(console, trust_key_raw(agent_key), digest, mac, &err),
                 -1);
    /* A reply-key that is no key gets no MAC. */
    cr_assert_eq(trust_answer_mac(agent, "bm90LWEta2V5", digest, mac, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    trust_sealer_free(agent);
    trust_sealer_free(console);
    trust_sealer_free(other);
    trust_key_free(agent_key);
    trust_key_free(console_key);
    trust_key_free(other_key);
}

/* One field of a sealed body replaced by text. */
static qmf_value *
altered(const qmf_value *body, const char *field, const char *text)
{
    qmf_value *copy = qmf_dup(body);

    qmf_map_set(qmf_map_get(copy, "_sealed"), field, qmf_string(text));
    return copy;
}

Test(trust, a_sealed_body_altered_or_malformed_is_refused)
{
    qmf_error err;
    struct trust_sealer *console = trust_sealer_new(NULL, 2, &err);
    struct trust_sealer *agent = trust_sealer_new(NULL, 2, &err);
    const struct { const char *field, *text; uint32_t code; } cases[] = {
        { "alg", "x25519-hkdf-sha256-aes-128-cbc", QMF_ERR_MALFORMED },
        { "nonce", "AAAA", QMF_ERR_MALFORMED },
        { "key", "not base64!", QMF_ERR_MALFORMED },
        { "data", "AAAA", QMF_ERR_MALFORMED },                   /* shorter than a tag */
        { "type", "amqp/map", QMF_ERR_BAD_SIGNATURE },          /* the AAD */
        { "nonce", "AAAAAAAAAAAAAAAA", QMF_ERR_BAD_SIGNATURE },
        /* A small-order point: no shared secret at all, an answer that
         * cannot be from anyone. */
        { "key", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", QMF_ERR_BAD_SIGNATURE },
    };
    qmf_value *body, *bad;
    const char *data;
    char *plain, *type, *flipped;
    size_t len, i;

    body = trust_seal(agent, trust_sealer_public(console), "application/json", "{}", 2, &err);
    cr_assert_not_null(body, "%s", err.text);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bad = altered(body, cases[i].field, cases[i].text);
        cr_assert_eq(trust_unseal(console, bad, &plain, &len, &type, &err), -1, "case %zu", i);
        cr_assert_eq(err.code, cases[i].code, "case %zu: %#x %s", i, err.code, err.text);
        qmf_free(bad);
    }
    /* One bit of the ciphertext. */
    data = qmf_map_get_string(qmf_map_get(body, "_sealed"), "data");
    flipped = qmf_xstrdup(data);
    flipped[0] = flipped[0] == 'A' ? 'B' : 'A';
    bad = altered(body, "data", flipped);
    cr_assert_eq(trust_unseal(console, bad, &plain, &len, &type, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE, "%s", err.text);
    qmf_free(bad);
    free(flipped);
    /* Sealing to a key that is none. */
    cr_assert_null(trust_seal(agent, "AAAA", "application/json", "{}", 2, &err));
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_null(trust_seal(agent, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                              "application/json", "{}", 2, &err));
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    qmf_free(body);
    trust_sealer_free(console);
    trust_sealer_free(agent);
}
