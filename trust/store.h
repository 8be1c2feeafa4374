/*
 * What a receiver trusts, and the check of a signed message against it.
 * An agent holds one store, built from its configuration at start and
 * again on SIGHUP (so keys rotate without a restart); a console holds one
 * to check agents' answers.  A store is immutable once loaded and may be
 * read from any thread.
 *
 *  - issuer keys: PEM public keys; a credential signed by one is believed;
 *  - a trust directory: files "<name>.pub", each a PEM public key that
 *    speaks for caller <name> directly (small setups, no issuer), with its
 *    roles on a line "roles: operator" before the PEM block;
 *  - a revocation file: credential serials and key ids, one per line
 *    ('#' comments); a credential whose serial, or whose key's id, is
 *    listed is refused, as is a directly trusted key listed there.
 */
#ifndef TRUST_STORE_H
#define TRUST_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "trust/credential.h"
#include "trust/key.h"
#include "trust/message.h"
#include "trust/verified.h"

struct trust_store_config {
    const char *const *issuer_keys;     /* NULL-terminated paths, or NULL */
    const char *trust_dir;              /* or NULL */
    const char *revoked;                /* or NULL */
};

struct trust_store;

int trust_store_load(const struct trust_store_config *cfg, struct trust_store **out,
                     qmf_error *err);
void trust_store_free(struct trust_store *s);
/* How many issuers and directly trusted keys it holds. */
size_t trust_store_issuers(const struct trust_store *s);
size_t trust_store_direct_keys(const struct trust_store *s);

/* A verified signer. */
struct trust_signer {
    char name[TRUST_NAME_MAX + 1];
    char key_id[TRUST_KEY_ID_LEN + 1];
    unsigned roles;
    const struct trust_credential *credential;  /* NULL for a direct key */
    struct trust_credential *owned;             /* freed by trust_signer_clear */
};
void trust_signer_clear(struct trust_signer *s);

/*
 * Whether m carries a signature at all (the signature header).
 */
bool trust_message_is_signed(const struct bus_message *m);

/*
 * Checks m's signature and its signer: a credential from a trusted issuer,
 * valid at now (s, give or take skew s) and not revoked; or a directly
 * trusted key.  On success fills *out (clear it with trust_signer_clear).
 * QMF_ERR_BAD_SIGNATURE, saying what failed, otherwise.  About 60-80 µs
 * per signature checked: two for a credential, one for a direct key.
 */
int trust_store_check(const struct trust_store *s, const struct bus_message *m,
                      enum trust_domain domain, const char *target, int64_t now, int64_t skew,
                      struct trust_signer *out, qmf_error *err);

/*
 * Credentials checked against one store, by their id (SHA-256 of their
 * exact text, trust_credential_id): one that comes again (a console sends
 * the same with every request; a console hears every agent's with each
 * broadcast), whole or named by its id, then costs its validity and
 * revocation check (trust_store_recheck_credential), not its issuer's
 * signature.  A set-associative table of slots (core/ways.h), a newer
 * credential replacing the least recently used of its set; about 2 KB per
 * credential held.  Bound to the store
 * s, which must outlive it: trust material reloaded is a new store and
 * needs a new trust_checked (a reloaded agent builds a new guard).  Not
 * locked: one thread uses it.
 */
struct trust_checked;
struct trust_sealer;

struct trust_checked *trust_checked_new(const struct trust_store *s, size_t slots);
void trust_checked_free(struct trust_checked *cc);

/*
 * The credential whose text is text, checked with cc's store at now
 * (give or take skew s): parsed and checked in full the first time, its
 * validity and revocation only after that.  Borrowed from cc until the
 * next call; NULL (err says why) if it does not pass.
 */
const struct trust_credential *trust_checked_credential(struct trust_checked *cc,
                                                        const char *text, int64_t now,
                                                        int64_t skew, qmf_error *err);

/*
 * The credential held with id id_text (base64url, as virtbus.credential-id
 * carries it), checked again at now as above; NULL with
 * QMF_ERR_CREDENTIAL_UNKNOWN if cc does not hold it (the sender must send
 * it whole), QMF_ERR_BAD_SIGNATURE if id_text is not an id, or why it no
 * longer passes.
 */
const struct trust_credential *trust_checked_credential_by_id(struct trust_checked *cc,
                                                              const char *id_text,
                                                              int64_t now, int64_t skew,
                                                              qmf_error *err);

/*
 * Checks an agent's answer (or event, or heartbeat) as trust_store_check
 * does (TRUST_ANSWER), and that its signer speaks for the agent the answer
 * names in qmf.agent ("virtbus:agent:<node>"): a credential with the role
 * agent whose name is that node.  An agent's key signs for its node only.
 * checked: the credentials checked before with s (trust_checked_new(s),
 * no other store), or NULL.  sealer: the console's X25519 key, which
 * answers to its reply-key are authenticated to (virtbus.mac, seal.h), or
 * NULL to accept signatures only.  About 75 µs for a signature and a
 * credential checked before, twice that otherwise; a MAC about 2 µs.
 */
int trust_store_check_answer(const struct trust_store *s, struct trust_checked *checked,
                             struct trust_sealer *sealer, const struct bus_message *m,
                             int64_t now, int64_t skew, qmf_error *err);

/* Checks a credential (its issuer, validity, revocation), as above. */
int trust_store_check_credential(const struct trust_store *s, const struct trust_credential *c,
                                 int64_t now, int64_t skew, qmf_error *err);
/*
 * The same for a credential this store has accepted before: its validity
 * period and revocation only, which change with the clock and never with
 * the credential.  The issuer's signature is not checked again (it is
 * the costly part, an Ed25519 verification, and a store never changes),
 * so c must be the very credential that trust_store_check_credential
 * accepted with s; a receiver that keeps checked credentials (the agent's
 * guard) calls this one for those.
 */
int trust_store_recheck_credential(const struct trust_store *s,
                                   const struct trust_credential *c, int64_t now,
                                   int64_t skew, qmf_error *err);

/*
 * The second half of trust_store_check, for a receiver that keeps checked
 * credentials: checks m's signature against credential (already checked
 * with trust_store_check_credential; it must be the one m carries), or,
 * credential NULL, against the directly trusted key m names; or, sealer
 * non-NULL and m an answer with virtbus.mac, checks that MAC (seal.h).
 * out borrows credential.  verified: signatures verified before (verified.h), shared
 * by the receivers of one loop, or NULL.
 */
int trust_store_check_signature(const struct trust_store *s, const struct bus_message *m,
                                enum trust_domain domain, const char *target,
                                const struct trust_credential *credential,
                                struct trust_verified *verified,
                                struct trust_sealer *sealer, struct trust_signer *out,
                                qmf_error *err);

#endif
