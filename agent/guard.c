/*
 * The agent's gate (see guard.h): loading trust material, identifying
 * senders, deciding, and signing what the agent publishes.
 */
#include "agent/guard.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/value.h"
#include "trust/message.h"
#include "trust/policy.h"
#include "trust/seal.h"

/*
 * Checked credentials kept (trust_checked): a console sends the same one
 * with every request, and its issuer's signature need not be checked
 * again.  A node hears from a handful of callers at a time.
 */
#define CREDENTIAL_CACHE 64
/* Consoles' sealing keys kept (trust_sealer): as many. */
#define SEALING_CACHE 64

struct agent_guard {
    bool require_signatures;
    struct trust_store *store;
    struct trust_policy *policy;
    struct trust_key *key;          /* NULL: the agent signs nothing */
    char *credential;               /* its text, or NULL: the raw key is sent */
    int64_t skew_ms, max_ttl_ms;
    struct trust_verified *verified;    /* borrowed; NULL: none */
    struct trust_checked *checked;  /* credentials that passed store */
    struct trust_sealer *sealer;
};

static bool
named(const char *path)
{
    return path != NULL && path[0] != '\0';
}

static void __attribute__((format(printf, 2, 3)))
note(char **notes, const char *fmt, ...)
{
    char *line, *joined;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();

    joined = *notes != NULL ? qmf_xasprintf("%s; %s", *notes, line) : qmf_xstrdup(line);
    free(*notes);
    free(line);
    *notes = joined;
}

/* The agent's own key and credential; both optional, but a credential
 * must belong to the key. */
static int
load_own(struct agent_guard *g, const struct agent_guard_options *o, char **notes,
         qmf_error *err)
{
    struct trust_credential *c;
    char *text;

    if (!named(o->key) || access(o->key, F_OK) != 0) {
        note(notes, "no key of its own (%s): answers, events and heartbeats go unsigned",
             named(o->key) ? o->key : "key not set");
        return 0;
    }
    if ((g->key = trust_key_load(o->key, err)) == NULL)
        return -1;
    if (!trust_key_is_private(g->key)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: not a private key", o->key);
        return -1;
    }
    if (!named(o->credential) || access(o->credential, F_OK) != 0) {
        note(notes, "no credential (%s): answers are signed with the bare key, which "
             "consoles must trust directly", named(o->credential) ? o->credential : "not set");
        return 0;
    }
    if ((text = trust_credential_read(o->credential, err)) == NULL)
        return -1;
    if ((c = trust_credential_parse(text, strlen(text), err)) == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: not a credential", o->credential);
        free(text);
        return -1;
    }
    if (memcmp(c->key, trust_key_raw(g->key), TRUST_KEY_LEN) != 0 ||
        !(c->roles & TRUST_ROLE_AGENT)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: not an agent credential for the key "
                      "in %s", o->credential, o->key);
        trust_credential_free(c);
        free(text);
        return -1;
    }
    trust_credential_free(c);
    g->credential = text;
    return 0;
}

int
agent_guard_load(const struct agent_guard_options *o, struct agent_guard **out, char **notes,
                 qmf_error *err)
{
    struct agent_guard *g = qmf_xcalloc(1, sizeof(*g));
    struct trust_store_config sc = {
        .issuer_keys = o->issuer_keys,
        .trust_dir = named(o->trust_dir) ? o->trust_dir : NULL,
        .revoked = named(o->revoked) ? o->revoked : NULL,
    };

    *out = NULL;
    *notes = NULL;
    g->require_signatures = o->require_signatures;
    g->skew_ms = (int64_t)o->clock_skew * 1000;
    g->max_ttl_ms = (int64_t)o->max_request_ttl * 1000;
    g->verified = o->verified;
    if (trust_store_load(&sc, &g->store, err) != 0 ||
        trust_policy_load(named(o->policy) ? o->policy : NULL, &g->policy, err) != 0 ||
        load_own(g, o, notes, err) != 0) {
        agent_guard_free(g);
        free(*notes);
        *notes = NULL;
        return -1;
    }
    g->checked = trust_checked_new(g->store, CREDENTIAL_CACHE);
    if ((g->sealer = trust_sealer_new(g->key, SEALING_CACHE, err)) == NULL) {
        agent_guard_free(g);
        free(*notes);
        *notes = NULL;
        return -1;
    }
    if (trust_store_issuers(g->store) == 0 && trust_store_direct_keys(g->store) == 0)
        note(notes, "%s", g->require_signatures ?
             "no issuer key and no trusted key: every request will be refused" :
             "no issuer key and no trusted key: only unsigned requests will be accepted");
    else if (!g->require_signatures)
        note(notes, "%s", "require_signatures = no: unsigned requests are accepted, as "
             "caller 'unsigned' with role admin");
    *out = g;
    return 0;
}

void
agent_guard_free(struct agent_guard *g)
{
    if (g == NULL)
        return;
    trust_store_free(g->store);
    trust_policy_free(g->policy);
    trust_checked_free(g->checked);
    trust_sealer_free(g->sealer);
    trust_key_free(g->key);
    free(g->credential);
    free(g);
}

static int
check_window(const struct agent_guard *g, const struct bus_message *m, int64_t now_ms,
             qmf_error *err)
{
    int64_t created = m->created_ms, ttl;

    if (created <= 0 || m->ttl_ms == 0) {
        qmf_error_set(err, QMF_ERR_EXPIRED, "a signed request needs created and ttl, to bound "
                      "its validity");
        return -1;
    }
    if (m->ttl_ms > (uint64_t)g->max_ttl_ms) {
        qmf_error_set(err, QMF_ERR_EXPIRED, "ttl %llu ms is over max_request_ttl (%lld s)",
                      (unsigned long long)m->ttl_ms, (long long)(g->max_ttl_ms / 1000));
        return -1;
    }
    ttl = (int64_t)m->ttl_ms;
    /* Both sides are bounded: created is positive, ttl and skew are at
     * most days, so nothing here overflows. */
    if (created > INT64_MAX - ttl - g->skew_ms || now_ms < created - g->skew_ms) {
        qmf_error_set(err, QMF_ERR_EXPIRED, "created %lld ms in the future (allowed clock "
                      "skew %lld s)", (long long)(created > now_ms ? created - now_ms : 0),
                      (long long)(g->skew_ms / 1000));
        return -1;
    }
    /* No skew past the deadline: a console that gave up on an answer
     * after ttl must not see its command run a minute later. */
    if (now_ms > created + ttl) {
        qmf_error_set(err, QMF_ERR_EXPIRED, "the request expired %lld ms ago (ttl %lld ms)",
                      (long long)(now_ms - created - ttl), (long long)ttl);
        return -1;
    }
    return 0;
}

int
agent_guard_identify(struct agent_guard *g, const struct bus_message *m, const char *target,
                     int64_t now_ms, struct agent_caller *out, qmf_error *err)
{
    const char *cred_text = bus_message_header(m, TRUST_HDR_CREDENTIAL);
    const char *cred_id = bus_message_header(m, TRUST_HDR_CREDENTIAL_ID);
    const struct trust_credential *cred = NULL;
    struct trust_signer signer;

    memset(out, 0, sizeof(*out));
    if (!trust_message_is_signed(m)) {
        if (g->require_signatures) {
            qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "the request is not signed, and this "
                          "agent requires signed requests (require_signatures)");
            return -1;
        }
        snprintf(out->name, sizeof(out->name), "unsigned");
        out->roles = TRUST_ROLE_ADMIN;
        return 0;
    }
    memset(&signer, 0, sizeof(signer));
    if (cred_text != NULL &&
        (cred = trust_checked_credential(g->checked, cred_text, now_ms / 1000,
                                         g->skew_ms / 1000, err)) == NULL)
        return -1;
    /* Named by id: only a credential this guard checked whole before. */
    if (cred_text == NULL && cred_id != NULL &&
        (cred = trust_checked_credential_by_id(g->checked, cred_id, now_ms / 1000,
                                               g->skew_ms / 1000, err)) == NULL)
        return -1;
    if (trust_store_check_signature(g->store, m, TRUST_REQUEST, target, cred, g->verified,
                                    NULL, &signer, err) != 0)
        return -1;
    out->is_signed = true;
    memcpy(out->name, signer.name, sizeof(out->name));
    memcpy(out->key_id, signer.key_id, sizeof(out->key_id));
    out->roles = signer.roles;
    out->credential = cred;
    return check_window(g, m, now_ms, err);
}

int
agent_guard_authorize(const struct agent_guard *g, const struct agent_caller *c,
                      const struct agent_action *act, qmf_error *err)
{
    const struct trust_credential *cred = c->credential;
    struct trust_ask ask = {
        .caller = c->name,
        .roles = c->roles,
        .classes = cred != NULL ? (const char *const *)cred->classes : NULL,
        .methods = cred != NULL ? (const char *const *)cred->methods : NULL,
        .nodes = cred != NULL ? cred->nodes : NULL,
        .action = act->action,
        .class_name = act->class_name,
        .needs = act->needs,
        .node = act->node,
        .labels = act->labels,
    };
    char why[QMF_ERROR_TEXT_MAX - 32];

    if (trust_policy_decide(g->policy, &ask, why, sizeof(why)))
        return 0;
    qmf_error_set(err, QMF_ERR_UNAUTHORIZED, "%s", why);
    return -1;
}

bool
agent_guard_signs(const struct agent_guard *g)
{
    return g->key != NULL;
}

int
agent_guard_sign(const struct agent_guard *g, struct bus_message *m, const char *reply_key,
                 bool key_only, qmf_error *err)
{
    const char *credential = key_only ? NULL : g->credential;

    if (g->key == NULL)
        return 0;
    if (reply_key != NULL)
        return trust_message_mac(m, g->sealer, reply_key, g->key, credential, err);
    return trust_message_sign(m, TRUST_ANSWER, "", g->key, credential, err);
}

int
agent_guard_seal(struct agent_guard *g, struct bus_message *m, const char *peer,
                 qmf_error *err)
{
    const char *type;
    qmf_value *sealed;
    char *plain;
    size_t len;

    if (bus_body_encode(m->body, m->encoding, &plain, &len, &type, err) != 0)
        return -1;
    sealed = trust_seal(g->sealer, peer, type, plain, len, err);
    free(plain);
    if (sealed == NULL)
        return -1;
    qmf_free(m->body);
    m->body = sealed;
    return 0;
}
