/*
 * Tests of the agent's gate (agent/guard.c): loading trust material, the
 * validity window, unsigned requests with and without require_signatures,
 * the checked-credential cache, and decisions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/testutil.h"
#include "agent/guard.h"
#include "trust/message.h"
#include "trust/seal.h"

#define NOW_MS 1767225600000LL

static char dir[64];

static void
make_dir(void)
{
    test_tmpdir_make(dir, sizeof(dir), "vbguard");
}

static void
remove_dir(void)
{
    test_tmpdir_remove(dir);
}

TestSuite(guard, .init = make_dir, .fini = remove_dir);

struct keys {
    struct trust_key *issuer, *alice, *agent;
    char *alice_cred, *issuer_pub, *agent_key, *agent_cred;
};

static char *
issue(struct trust_key *issuer, const char *name, struct trust_key *key, unsigned roles)
{
    struct trust_credential f = { 0 };
    qmf_error err;
    char *text;

    f.name = (char *)name;
    memcpy(f.key, trust_key_raw(key), TRUST_KEY_LEN);
    f.roles = roles;
    f.not_before = NOW_MS / 1000 - 3600;
    f.not_after = NOW_MS / 1000 + 86400;
    text = trust_credential_issue(issuer, &f, &err);
    cr_assert_not_null(text, "%s", err.text);
    free(f.serial);
    return text;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void
keys_init(struct keys *k)
{
    qmf_error err;
    char *agent_cred;

    k->issuer = trust_key_generate(&err);
    k->alice = trust_key_generate(&err);
    k->agent = trust_key_generate(&err);
    k->alice_cred = issue(k->issuer, "alice", k->alice, TRUST_ROLE_OPERATOR);
    k->issuer_pub = qmf_xasprintf("%s/issuer.pub", dir);
    k->agent_key = qmf_xasprintf("%s/agent.key", dir);
    k->agent_cred = qmf_xasprintf("%s/agent.cred", dir);
    cr_assert_eq(trust_key_save_public(k->issuer, k->issuer_pub, &err), 0);
    cr_assert_eq(trust_key_save_private(k->agent, k->agent_key, &err), 0);
    agent_cred = issue(k->issuer, "hv1", k->agent, TRUST_ROLE_AGENT);
    write_file(k->agent_cred, agent_cred);
    free(agent_cred);
}

static void
keys_fini(struct keys *k)
{
    trust_key_free(k->issuer);
    trust_key_free(k->alice);
    trust_key_free(k->agent);
    free(k->alice_cred);
    free(k->issuer_pub);
    free(k->agent_key);
    free(k->agent_cred);
}

static struct agent_guard *
load(struct keys *k, bool require, const char *policy_text, char **notes)
{
    const char *issuers[] = { k->issuer_pub, NULL };
    char *policy = qmf_xasprintf("%s/policy", dir);
    struct agent_guard_options o = {
        .require_signatures = require, .issuer_keys = issuers,
        .policy = policy_text ? policy : NULL, .key = k->agent_key,
        .credential = k->agent_cred, .clock_skew = 60, .max_request_ttl = 86400,
    };
    struct agent_guard *g;
    char *n = NULL;
    qmf_error err;

    if (policy_text)
        write_file(policy, policy_text);
    cr_assert_eq(agent_guard_load(&o, &g, &n, &err), 0, "%s", err.text);
    free(policy);
    if (notes)
        *notes = n;
    else
        free(n);
    return g;
}

static struct bus_message *
request(struct keys *k, int64_t created_ms, uint64_t ttl_ms)
{
    struct bus_message *m = bus_message_new();
    qmf_error err;

    bus_message_set_header_string(m, "qmf.opcode", "_method_request");
    m->message_id = qmf_xstrdup("id-1");
    m->created_ms = created_ms;
    m->ttl_ms = ttl_ms;
    m->body = qmf_map();
    qmf_map_set(m->body, "_method_name", qmf_string("reboot"));
    if (k != NULL)
        cr_assert_eq(trust_message_sign(m, TRUST_REQUEST, "virtbus:agent:hv1", k->alice,
                                        k->alice_cred, &err), 0);
    return m;
}

Test(guard, a_signed_request_in_its_window_is_identified)
{
    struct keys k;
    struct agent_guard *g;
    struct agent_caller c;
    struct bus_message *m;
    qmf_error err;
    int round;

    keys_init(&k);
    g = load(&k, true, NULL, NULL);
    cr_assert(agent_guard_signs(g));
    m = request(&k, NOW_MS - 1000, 30000);
    /* Twice: the second time the credential comes from the cache. */
    for (round = 0; round < 2; round++) {
        cr_assert_eq(agent_guard_identify(g, m, "virtbus:agent:hv1", NOW_MS, &c, &err), 0,
                     "%s", err.text);
        cr_assert(c.is_signed);
        cr_assert_str_eq(c.name, "alice");
        cr_assert_str_eq(c.key_id, trust_key_id(k.alice));
        cr_assert_eq(c.roles, TRUST_ROLE_OPERATOR);
        cr_assert_not_null(c.credential);
    }
    cr_assert_eq(agent_guard_identify(g, m, "virtbus:agent:hv2", NOW_MS, &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    bus_message_free(m);
    agent_guard_free(g);
    keys_fini(&k);
}

Test(guard, the_validity_window)
{
    static const struct {
        int64_t created_offset_ms;
        uint64_t ttl_ms;
        bool ok;
    } cases[] = {
        { -1000, 30000, true },
        { 50000, 30000, true },             /* within the 60 s skew */
        { 61000, 30000, false },            /* from the future */
        { -29000, 30000, true },            /* within ttl */
        { -31000, 30000, false },           /* past it: no skew at the deadline */
        { -1000, 0, false },                /* no ttl */
        { -1000, 86400001, false },         /* over max_request_ttl */
    };
    struct keys k;
    struct agent_guard *g;
    struct agent_caller c;
    qmf_error err;
    size_t i;

    keys_init(&k);
    g = load(&k, true, NULL, NULL);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bus_message *m = request(&k, NOW_MS + cases[i].created_offset_ms,
                                        cases[i].ttl_ms);
        int rc = agent_guard_identify(g, m, "virtbus:agent:hv1", NOW_MS, &c, &err);

        cr_assert_eq(rc == 0, cases[i].ok, "case %zu: %s", i, err.text);
        if (!cases[i].ok)
            cr_assert_eq(err.code, QMF_ERR_EXPIRED, "case %zu: %s", i, err.text);
        bus_message_free(m);
    }
    /* No created at all. */
    {
        struct bus_message *m = request(&k, 0, 30000);

        cr_assert_eq(agent_guard_identify(g, m, "virtbus:agent:hv1", NOW_MS, &c, &err), -1);
        cr_assert_eq(err.code, QMF_ERR_EXPIRED);
        bus_message_free(m);
    }
    agent_guard_free(g);
    keys_fini(&k);
}

Test(guard, unsigned_requests_are_refused_unless_configured_otherwise)
{
    struct keys k;
    struct agent_guard *g;
    struct agent_caller c;
    struct bus_message *m;
    qmf_error err;
    char *notes;

    keys_init(&k);
    m = request(NULL, NOW_MS, 30000);
    g = load(&k, true, NULL, NULL);
    cr_assert_eq(agent_guard_identify(g, m, "virtbus:agent:hv1", NOW_MS, &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    cr_assert(strstr(err.text, "require_signatures") != NULL, "%s", err.text);
    agent_guard_free(g);

    g = load(&k, false, NULL, &notes);
    cr_assert_not_null(notes);
    cr_assert(strstr(notes, "require_signatures = no") != NULL, "%s", notes);
    free(notes);
    cr_assert_eq(agent_guard_identify(g, m, "virtbus:agent:hv1", NOW_MS, &c, &err), 0);
    cr_assert_not(c.is_signed);
    cr_assert_str_eq(c.name, "unsigned");
    agent_guard_free(g);
    bus_message_free(m);
    keys_fini(&k);
}

Test(guard, nothing_trusted_is_said_at_load)
{
    struct agent_guard_options o = { .require_signatures = true, .clock_skew = 60,
                                     .max_request_ttl = 60 };
    struct agent_guard *g;
    char *notes;
    qmf_error err;

    cr_assert_eq(agent_guard_load(&o, &g, &notes, &err), 0, "%s", err.text);
    cr_assert_not_null(notes);
    cr_assert(strstr(notes, "every request will be refused") != NULL, "%s", notes);
    cr_assert(strstr(notes, "unsigned") != NULL, "no key of its own: %s", notes);
    cr_assert_not(agent_guard_signs(g));
    free(notes);
    agent_guard_free(g);
}

Test(guard, a_named_file_that_is_missing_is_an_error)
{
    const char *issuers[] = { "/nonexistent/issuer.pub", NULL };
    struct agent_guard_options o = { .require_signatures = true, .clock_skew = 60,
                                     .max_request_ttl = 60 };
    struct agent_guard *g;
    char *notes;
    qmf_error err;

    o.issuer_keys = issuers;
    cr_assert_eq(agent_guard_load(&o, &g, &notes, &err), -1);
    cr_assert(strstr(err.text, "/nonexistent/issuer.pub") != NULL, "%s", err.text);
    o.issuer_keys = NULL;
    o.revoked = "/nonexistent/revoked";
    cr_assert_eq(agent_guard_load(&o, &g, &notes, &err), -1);
    cr_assert(strstr(err.text, "/nonexistent/revoked") != NULL, "%s", err.text);
    o.revoked = NULL;
    o.policy = "/nonexistent/policy";
    cr_assert_eq(agent_guard_load(&o, &g, &notes, &err), -1);
}

Test(guard, decisions_and_their_reasons)
{
    struct keys k;
    struct agent_guard *g;
    struct agent_caller c;
    struct bus_message *m;
    qmf_value *labels = qmf_map();
    struct agent_action act = { .node = "hv1", .labels = labels };
    qmf_error err;

    keys_init(&k);
    qmf_map_set(labels, "tier", qmf_string("db"));
    g = load(&k, true, "deny * Domain.destroy tier=db\n", NULL);
    m = request(&k, NOW_MS, 30000);
    cr_assert_eq(agent_guard_identify(g, m, "virtbus:agent:hv1", NOW_MS, &c, &err), 0);
    act.action = "Domain.reboot";
    act.class_name = "Domain";
    act.needs = TRUST_ROLE_OPERATOR;
    cr_assert_eq(agent_guard_authorize(g, &c, &act, &err), 0, "%s", err.text);
    act.action = "Domain.destroy";
    cr_assert_eq(agent_guard_authorize(g, &c, &act, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_UNAUTHORIZED);
    cr_assert(strstr(err.text, "policy:1") != NULL, "%s", err.text);
    act.action = "Domain.undefine";
    act.needs = TRUST_ROLE_ADMIN;
    cr_assert_eq(agent_guard_authorize(g, &c, &act, &err), -1);
    cr_assert_str_eq(err.text, "Domain.undefine needs role admin; alice has operator");
    bus_message_free(m);
    agent_guard_free(g);
    qmf_free(labels);
    keys_fini(&k);
}

Test(guard, the_agent_signs_what_it_publishes)
{
    struct keys k;
    struct agent_guard *g;
    struct bus_message *m = bus_message_new();
    struct trust_store *store;
    struct trust_checked *checked;
    struct trust_signer who;
    const char *issuers[2];
    int round;
    struct trust_store_config sc = { issuers, NULL, NULL };
    qmf_error err;

    keys_init(&k);
    issuers[0] = k.issuer_pub;
    issuers[1] = NULL;
    g = load(&k, true, NULL, NULL);
    bus_message_set_header_string(m, "qmf.opcode", "_data_indication");
    bus_message_set_header_string(m, "qmf.agent", "virtbus:agent:hv1");
    m->body = qmf_list();
    cr_assert_eq(agent_guard_sign(g, m, NULL, false, &err), 0, "%s", err.text);
    cr_assert_eq(trust_store_load(&sc, &store, &err), 0);
    cr_assert_eq(trust_store_check(store, m, TRUST_ANSWER, "", NOW_MS / 1000, 60, &who, &err),
                 0, "%s", err.text);
    cr_assert_str_eq(who.name, "hv1");
    cr_assert_eq(who.roles, TRUST_ROLE_AGENT);
    trust_signer_clear(&who);
    /* As a console checks answers: signed for the node the answer names;
     * with the credentials it checked before (the second time round, the
     * agent's comes from there) and without. */
    checked = trust_checked_new(store, 4);
    for (round = 0; round < 3; round++) {
        struct trust_checked *cc = round == 0 ? NULL : checked;

        bus_message_set_header_string(m, "qmf.agent", "virtbus:agent:hv1");
        cr_assert_eq(agent_guard_sign(g, m, NULL, false, &err), 0, "%s", err.text);
        cr_assert_eq(trust_store_check_answer(store, cc, NULL, m, NOW_MS / 1000, 60, &err), 0,
                     "round %d: %s", round, err.text);
        bus_message_set_header_string(m, "qmf.agent", "virtbus:agent:hv2");
        cr_assert_eq(agent_guard_sign(g, m, NULL, false, &err), 0, "%s", err.text);
        cr_assert_eq(trust_store_check_answer(store, cc, NULL, m, NOW_MS / 1000, 60, &err), -1);
        cr_assert(strstr(err.text, "another node") != NULL, "round %d: %s", round, err.text);
    }
    /* A credential checked before expires all the same: two days later. */
    bus_message_set_header_string(m, "qmf.agent", "virtbus:agent:hv1");
    cr_assert_eq(agent_guard_sign(g, m, NULL, false, &err), 0, "%s", err.text);
    cr_assert_eq(trust_store_check_answer(store, checked, NULL, m, NOW_MS / 1000 + 2 * 86400, 60,
                                          &err), -1);
    cr_assert(strstr(err.text, "expired") != NULL, "%s", err.text);
    /* And the body still counts, whatever was checked before. */
    m->raw_body[0] = m->raw_body[0] == '[' ? ' ' : '[';
    cr_assert_eq(trust_store_check_answer(store, checked, NULL, m, NOW_MS / 1000, 60, &err), -1);
    cr_assert(strstr(err.text, "does not match") != NULL, "%s", err.text);
    trust_checked_free(checked);
    trust_store_free(store);
    bus_message_free(m);
    agent_guard_free(g);
    keys_fini(&k);
}

Test(guard, an_answer_to_a_reply_key_is_authenticated_to_that_console_alone)
{
    struct keys k;
    struct agent_guard *g;
    struct bus_message *m = bus_message_new();
    struct trust_store *store;
    struct trust_checked *checked;
    struct trust_sealer *console, *stranger;
    const char *issuers[2];
    struct trust_store_config sc = { issuers, NULL, NULL };
    qmf_error err;

    keys_init(&k);
    issuers[0] = k.issuer_pub;
    issuers[1] = NULL;
    g = load(&k, true, NULL, NULL);
    console = trust_sealer_new(k.alice, 4, &err);
    stranger = trust_sealer_new(NULL, 4, &err);
    cr_assert(console && stranger, "%s", err.text);
    cr_assert_eq(trust_store_load(&sc, &store, &err), 0);
    checked = trust_checked_new(store, 4);
    bus_message_set_header_string(m, "qmf.opcode", "_query_response");
    bus_message_set_header_string(m, "qmf.agent", "virtbus:agent:hv1");
    m->correlation_id = qmf_xstrdup("7");
    m->body = qmf_list();

    cr_assert_eq(agent_guard_sign(g, m, trust_sealer_public(console), false, &err), 0, "%s",
                 err.text);
    cr_assert_not_null(bus_message_header(m, TRUST_HDR_MAC));
    cr_assert_null(bus_message_header(m, TRUST_HDR_SIGNATURE));
    cr_assert_eq(trust_store_check_answer(store, checked, console, m, NOW_MS / 1000, 60, &err),
                 0, "%s", err.text);
    /* Without the credentials kept, the same. */
    cr_assert_eq(trust_store_check_answer(store, NULL, console, m, NOW_MS / 1000, 60, &err),
                 0, "%s", err.text);
    /* Only the console it was made for can check it... */
    cr_assert_eq(trust_store_check_answer(store, checked, stranger, m, NOW_MS / 1000, 60,
                                          &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    /* ...and a receiver that takes signatures only does not take it. */
    cr_assert_eq(trust_store_check_answer(store, checked, NULL, m, NOW_MS / 1000, 60, &err),
                 -1);
    cr_assert(strstr(err.text, "not signed") != NULL, "%s", err.text);
    /* Still for the node the credential names, and for these bytes. */
    bus_message_set_header_string(m, "qmf.agent", "virtbus:agent:hv2");
    cr_assert_eq(agent_guard_sign(g, m, trust_sealer_public(console), false, &err), 0, "%s",
                 err.text);
    cr_assert_eq(trust_store_check_answer(store, checked, console, m, NOW_MS / 1000, 60, &err),
                 -1);
    cr_assert(strstr(err.text, "another node") != NULL, "%s", err.text);
    bus_message_set_header_string(m, "qmf.agent", "virtbus:agent:hv1");
    cr_assert_eq(agent_guard_sign(g, m, trust_sealer_public(console), false, &err), 0, "%s",
                 err.text);
    free(m->correlation_id);
    m->correlation_id = qmf_xstrdup("8");
    cr_assert_eq(trust_store_check_answer(store, checked, console, m, NOW_MS / 1000, 60, &err),
                 -1);
    cr_assert(strstr(err.text, TRUST_HDR_MAC) != NULL, "%s", err.text);
    /* An asker that checks no credential gets the agent's key named
     * instead: still authenticated to it, but nothing a console holding
     * only issuer keys can take. */
    cr_assert_eq(agent_guard_sign(g, m, trust_sealer_public(console), true, &err), 0, "%s",
                 err.text);
    cr_assert_not_null(bus_message_header(m, TRUST_HDR_MAC));
    cr_assert_not_null(bus_message_header(m, TRUST_HDR_KEY));
    cr_assert_null(bus_message_header(m, TRUST_HDR_CREDENTIAL));
    cr_assert_eq(trust_store_check_answer(store, NULL, console, m, NOW_MS / 1000, 60, &err),
                 -1);
    cr_assert_eq(agent_guard_sign(g, m, trust_sealer_public(console), false, &err), 0, "%s",
                 err.text);
    cr_assert_null(bus_message_header(m, TRUST_HDR_KEY), "a stale key header stayed");
    cr_assert_not_null(bus_message_header(m, TRUST_HDR_CREDENTIAL));
    /* A reply-key that is no key: no MAC, and the caller hears why. */
    cr_assert_eq(agent_guard_sign(g, m, "bm90LWEta2V5", false, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);

    trust_checked_free(checked);
    trust_store_free(store);
    trust_sealer_free(console);
    trust_sealer_free(stranger);
    bus_message_free(m);
    agent_guard_free(g);
    keys_fini(&k);
}

Test(guard, a_cached_credential_is_still_checked_for_expiry_and_tampering)
{
    struct keys k;
    struct agent_guard *g;
    struct agent_caller c;
    struct bus_message *m, *late, *forged;
    int64_t later_ms = NOW_MS + 2 * 86400 * 1000LL;
    char *tampered;
    qmf_error err;

    keys_init(&k);
    g = load(&k, true, NULL, NULL);
    m = request(&k, NOW_MS - 1000, 30000);
    cr_assert_eq(agent_guard_identify(g, m, "virtbus:agent:hv1", NOW_MS, &c, &err), 0, "%s",
                 err.text);
    /* Two days later alice's credential (a day long) has expired, though
     * its issuer's signature, checked before, is not checked again. */
    late = request(&k, later_ms - 1000, 30000);
    cr_assert_eq(agent_guard_identify(g, late, "virtbus:agent:hv1", later_ms, &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    cr_assert(strstr(err.text, "expired") != NULL, "%s", err.text);
    /* A credential that differs from the cached one by one character of
     * its issuer's signature is a credential of its own, checked in full. */
    tampered = qmf_xstrdup(k.alice_cred);
    tampered[strlen(tampered) - 10] = tampered[strlen(tampered) - 10] == 'A' ? 'B' : 'A';
    forged = bus_message_new();
    bus_message_set_header_string(forged, "qmf.opcode", "_method_request");
    forged->message_id = qmf_xstrdup("id-2");
    forged->created_ms = NOW_MS - 1000;
    forged->ttl_ms = 30000;
    forged->body = qmf_map();
    cr_assert_eq(trust_message_sign(forged, TRUST_REQUEST, "virtbus:agent:hv1", k.alice,
                                    tampered, &err), 0);
    cr_assert_eq(agent_guard_identify(g, forged, "virtbus:agent:hv1", NOW_MS, &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    /* The genuine one still passes. */
    cr_assert_eq(agent_guard_identify(g, m, "virtbus:agent:hv1", NOW_MS, &c, &err), 0, "%s",
                 err.text);
    free(tampered);
    bus_message_free(m);
    bus_message_free(late);
    bus_message_free(forged);
    agent_guard_free(g);
    keys_fini(&k);
}

/* Guards that share the signatures they verified, as the agents of one
 * simulator do. */
static struct agent_guard *
load_sharing(struct keys *k, const char *issuer_pub, struct trust_verified *v)
{
    const char *issuers[] = { issuer_pub, NULL };
    struct agent_guard_options o = {
        .require_signatures = true, .issuer_keys = issuers, .key = k->agent_key,
        .credential = k->agent_cred, .clock_skew = 60, .max_request_ttl = 86400,
        .verified = v,
    };
    struct agent_guard *g;
    char *notes = NULL;
    qmf_error err;

    cr_assert_eq(agent_guard_load(&o, &g, &notes, &err), 0, "%s", err.text);
    free(notes);
    return g;
}

Test(guard, agents_that_share_verified_signatures_still_check_everything_else)
{
    struct trust_verified *v = trust_verified_new(16);
    struct trust_key *stranger = trust_key_generate(&(qmf_error){ 0 });
    char *stranger_pub = qmf_xasprintf("%s/stranger.pub", dir);
    struct agent_guard *first, *second, *elsewhere;
    struct keys k;
    struct agent_caller c;
    struct bus_message *m;
    uint64_t hits, misses;
    qmf_error err;

    keys_init(&k);
    cr_assert_eq(trust_key_save_public(stranger, stranger_pub, &err), 0);
    first = load_sharing(&k, k.issuer_pub, v);
    second = load_sharing(&k, k.issuer_pub, v);
    elsewhere = load_sharing(&k, stranger_pub, v);     /* trusts another issuer */
    m = request(&k, NOW_MS - 1000, 30000);

    cr_assert_eq(agent_guard_identify(first, m, "virtbus:agent:hv1", NOW_MS, &c, &err), 0,
                 "%s", err.text);
    cr_assert_eq(agent_guard_identify(second, m, "virtbus:agent:hv1", NOW_MS, &c, &err), 0,
                 "%s", err.text);
    cr_assert_str_eq(c.name, "alice");
    trust_verified_counts(v, &hits, &misses);
    cr_assert_eq(misses, 1, "verified once");
    cr_assert_eq(hits, 1, "then remembered");
    /* A guard that does not trust alice's issuer refuses her request, its
     * signature remembered or not. */
    cr_assert_eq(agent_guard_identify(elsewhere, m, "virtbus:agent:hv1", NOW_MS, &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    cr_assert(strstr(err.text, "not trusted") != NULL, "%s", err.text);
    /* The same bytes taken for a request to another node: another digest. */
    cr_assert_eq(agent_guard_identify(second, m, "virtbus:agent:hv2", NOW_MS, &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    /* And out of its window, it is expired for every one of them. */
    cr_assert_eq(agent_guard_identify(second, m, "virtbus:agent:hv1", NOW_MS + 60000, &c,
                                      &err), -1);
    cr_assert_eq(err.code, QMF_ERR_EXPIRED);

    bus_message_free(m);
    agent_guard_free(first);
    agent_guard_free(second);
    agent_guard_free(elsewhere);
    trust_verified_free(v);
    trust_key_free(stranger);
    free(stranger_pub);
    keys_fini(&k);
}

Test(guard, a_reload_forgets_the_credentials_checked_before)
{
    struct keys k;
    struct agent_guard *g, *reloaded;
    struct agent_caller c;
    struct bus_message *m;
    struct trust_credential *cred;
    char *rev_path = qmf_xasprintf("%s/revoked", dir), *rev, *notes = NULL;
    const char *issuers[2];
    struct agent_guard_options o = {
        .require_signatures = true, .issuer_keys = issuers, .clock_skew = 60,
        .max_request_ttl = 86400, .revoked = rev_path,
    };
    qmf_error err;

    keys_init(&k);
    issuers[0] = k.issuer_pub;
    issuers[1] = NULL;
    write_file(rev_path, "");
    cr_assert_eq(agent_guard_load(&o, &g, &notes, &err), 0, "%s", err.text);
    free(notes);
    m = request(&k, NOW_MS - 1000, 30000);
    cr_assert_eq(agent_guard_identify(g, m, "virtbus:agent:hv1", NOW_MS, &c, &err), 0, "%s",
                 err.text);
    cr_assert_eq(agent_guard_identify(g, m, "virtbus:agent:hv1", NOW_MS, &c, &err), 0, "%s",
                 err.text);
    /* alice's credential is revoked, and the agent reloads (SIGHUP builds
     * a new guard from the files): the one it kept counts no more. */
    cred = trust_credential_parse(k.alice_cred, strlen(k.alice_cred), &err);
    cr_assert_not_null(cred, "%s", err.text);
    rev = qmf_xasprintf("%s\n", cred->serial);
    write_file(rev_path, rev);
    cr_assert_eq(agent_guard_load(&o, &reloaded, &notes, &err), 0, "%s", err.text);
    free(notes);
    cr_assert_eq(agent_guard_identify(reloaded, m, "virtbus:agent:hv1", NOW_MS, &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE);
    cr_assert(strstr(err.text, "revoked") != NULL, "%s", err.text);

    free(rev);
    free(rev_path);
    trust_credential_free(cred);
    bus_message_free(m);
    agent_guard_free(g);
    agent_guard_free(reloaded);
    keys_fini(&k);
}

/* A request signed as request() signs it, naming the credential by id. */
static struct bus_message *
request_by_id(struct keys *k, int64_t created_ms)
{
    struct bus_message *m = bus_message_new();
    qmf_error err;

    bus_message_set_header_string(m, "qmf.opcode", "_query_request");
    m->message_id = qmf_xstrdup("id-2");
    m->created_ms = created_ms;
    m->ttl_ms = 30000;
    m->body = qmf_map();
    cr_assert_eq(trust_request_sign(m, "virtbus:agent:hv1", k->alice, k->alice_cred, true,
                                    &err), 0, "%s", err.text);
    return m;
}

Test(guard, a_credential_named_by_id_is_one_checked_whole_before)
{
    struct keys k;
    struct agent_guard *g, *reloaded;
    struct agent_caller c;
    struct bus_message *whole, *by_id;
    char id[TRUST_CREDENTIAL_ID_LEN + 1];
    const char *issuers[2];
    struct agent_guard_options o = {
        .require_signatures = true, .issuer_keys = issuers, .clock_skew = 60,
        .max_request_ttl = 86400,
    };
    char *notes = NULL;
    qmf_error err;

    keys_init(&k);
    issuers[0] = k.issuer_pub;
    issuers[1] = NULL;
    g = load(&k, true, NULL, NULL);
    by_id = request_by_id(&k, NOW_MS - 1000);
    trust_credential_id(k.alice_cred, id);
    cr_assert_str_eq(bus_message_header(by_id, TRUST_HDR_CREDENTIAL_ID), id);
    cr_assert_null(bus_message_header(by_id, TRUST_HDR_CREDENTIAL));
    cr_assert_eq(strlen(id), TRUST_CREDENTIAL_ID_LEN);

    /* Never seen whole: not held, and nothing is taken on the id's word. */
    cr_assert_eq(agent_guard_identify(g, by_id, "virtbus:agent:hv1", NOW_MS, &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_CREDENTIAL_UNKNOWN, "%s", err.text);
    cr_assert_not(c.is_signed);
    /* Once checked whole, the id names it: the same caller, the same roles. */
    whole = request(&k, NOW_MS - 1000, 30000);
    cr_assert_eq(agent_guard_identify(g, whole, "virtbus:agent:hv1", NOW_MS, &c, &err), 0,
                 "%s", err.text);
    cr_assert_eq(agent_guard_identify(g, by_id, "virtbus:agent:hv1", NOW_MS, &c, &err), 0,
                 "%s", err.text);
    cr_assert(c.is_signed);
    cr_assert_str_eq(c.name, "alice");
    cr_assert_eq(c.roles, TRUST_ROLE_OPERATOR);
    cr_assert_not_null(c.credential);
    /* The signature is still checked, against the held credential's key. */
    cr_assert_eq(agent_guard_identify(g, by_id, "virtbus:agent:hv2", NOW_MS, &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE, "%s", err.text);
    /* And its validity, with the clock. */
    cr_assert_eq(agent_guard_identify(g, by_id, "virtbus:agent:hv1", NOW_MS + 2 * 86400000LL,
                                      &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE, "%s", err.text);
    /* An id that is not one. */
    bus_message_set_header_string(by_id, TRUST_HDR_CREDENTIAL_ID, "not an id");
    cr_assert_eq(agent_guard_identify(g, by_id, "virtbus:agent:hv1", NOW_MS, &c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_BAD_SIGNATURE, "%s", err.text);
    bus_message_set_header_string(by_id, TRUST_HDR_CREDENTIAL_ID, id);
    /* A reload holds nothing of before. */
    cr_assert_eq(agent_guard_load(&o, &reloaded, &notes, &err), 0, "%s", err.text);
    free(notes);
    cr_assert_eq(agent_guard_identify(reloaded, by_id, "virtbus:agent:hv1", NOW_MS, &c, &err),
                 -1);
    cr_assert_eq(err.code, QMF_ERR_CREDENTIAL_UNKNOWN, "%s", err.text);

    bus_message_free(whole);
    bus_message_free(by_id);
    agent_guard_free(g);
    agent_guard_free(reloaded);
    keys_fini(&k);
}
