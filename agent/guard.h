/*
 * The agent's gate (docs/SECURITY.md): who sent a request, whether it was
 * sent in its validity window, whether its sender may do what it asks on
 * this node, and the agent's own signature on what it sends.
 *
 * A guard is the trust material loaded from the configuration (issuer
 * keys, trust directory, revocation file, policy, the agent's own key and
 * credential), immutable once loaded; SIGHUP loads a new one and swaps it
 * in, so that keys rotate without a restart.  Everything here runs on the
 * loop thread.  Costs: identifying a request checks one Ed25519 signature
 * (about 60-80 µs) and its credential's issuer signature once per
 * credential (cached); a decision is O(policy rules).
 */
#ifndef AGENT_GUARD_H
#define AGENT_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "core/error.h"
#include "trust/credential.h"
#include "trust/store.h"
#include "trust/verified.h"

struct agent_guard_options {
    bool require_signatures;
    const char *const *issuer_keys;     /* NULL-terminated, or NULL */
    const char *trust_dir;              /* NULL or "": none */
    const char *revoked;                /* NULL or "": none */
    const char *policy;                 /* NULL or "": the built-in role rules */
    const char *key;                    /* the agent's private key: NULL, "" or a
                                         * missing file: answers go unsigned */
    const char *credential;             /* its credential, beside the key */
    unsigned clock_skew;                /* s */
    unsigned max_request_ttl;           /* s */
    /* Request signatures verified by any agent of this loop, or NULL
     * (trust/verified.h); borrowed, it must outlive the guard. */
    struct trust_verified *verified;
};

struct agent_guard;

/*
 * Loads the trust material.  A file named but unreadable or malformed is
 * an error (QMF_ERR_INVALID_ARGS naming it): a typo in the revocation
 * file's name must not revoke nothing in silence.  *notes (malloc'd, or
 * NULL) gets what an operator should know, e.g. that nothing is trusted
 * so every request will be refused.
 */
int agent_guard_load(const struct agent_guard_options *o, struct agent_guard **out,
                     char **notes, qmf_error *err);
void agent_guard_free(struct agent_guard *g);

/* Who sent a request, once checked. */
struct agent_caller {
    bool is_signed;
    char name[TRUST_NAME_MAX + 1];      /* "unsigned" if not signed */
    char key_id[TRUST_KEY_ID_LEN + 1];  /* "" if not signed */
    unsigned roles;
    const struct trust_credential *credential;  /* borrowed from the guard's
                                                   cache; NULL if none */
};

/*
 * Identifies the sender of m, published with routing key target:
 * QMF_ERR_BAD_SIGNATURE if it is unsigned (and signatures are required),
 * its signer is not trusted or its signature does not match;
 * QMF_ERR_EXPIRED if it is signed but outside its validity window
 * (created - skew <= now <= created + ttl, ttl at most max_request_ttl:
 * a created ahead of the agent's clock is allowed the skew, a deadline
 * is not), in which case *out still says who signed it (a repeat
 * of a command on record is answered, not refused).  now_ms is the wall
 * clock.
 */
int agent_guard_identify(struct agent_guard *g, const struct bus_message *m,
                         const char *target, int64_t now_ms, struct agent_caller *out,
                         qmf_error *err);

/* What the caller asks, where. */
struct agent_action {
    const char *action;             /* "Domain.undefine", "Domain.query", "locate", "schema" */
    const char *class_name;         /* or NULL */
    unsigned needs;                 /* the role bit the schema asks for */
    const char *node;
    const qmf_value *labels;
};

/* QMF_ERR_UNAUTHORIZED, saying what was missing, if the caller may not. */
int agent_guard_authorize(const struct agent_guard *g, const struct agent_caller *c,
                          const struct agent_action *act, qmf_error *err);

/*
 * Signs a message the agent is about to publish, if it has a key; an
 * answer to a request with a reply-key (virtbus.reply-key) gets a MAC for
 * that console instead (trust/seal.h), QMF_ERR_INVALID_ARGS if it is no
 * key.  key_only: the asker checks no credential
 * (virtbus.answer-credential: no), so the answer names the agent's key
 * rather than carrying its credential.
 */
int agent_guard_sign(const struct agent_guard *g, struct bus_message *m,
                     const char *reply_key, bool key_only, qmf_error *err);
bool agent_guard_signs(const struct agent_guard *g);
/*
 * Seals m's body for peer, the asker's sealing key (its request's
 * virtbus.reply-key; trust/seal.h): the body is encoded as m->encoding
 * says and replaced by its sealed form.  Before agent_guard_sign.  The
 * sealing key is the twin of the agent's key, or random without one.
 * QMF_ERR_INVALID_ARGS for a peer key that is none.
 */
int agent_guard_seal(struct agent_guard *g, struct bus_message *m, const char *peer,
                     qmf_error *err);

#endif
