/*
 * Caller credentials: an issuer's signed statement that a public key
 * belongs to a caller (an operator, a program, or an agent naming its node),
 * with the roles it holds, optional constraints, and a validity period.
 * Agents need only the issuer's public key to check any caller, so no
 * operator's key has to be copied to hundreds of hosts (docs/SECURITY.md).
 *
 * Text form, one line, as files hold it and as requests carry it:
 *     "vbc1." base64url(payload) "." base64url(signature)
 * payload is a JSON object (below); the signature is the issuer's Ed25519
 * signature over "virtbus credential 1\n" followed by the payload bytes
 * exactly as encoded, so nothing is ever re-encoded to be checked.
 *     {"name": "alice", "key": "<base64url of the 32 raw bytes>",
 *      "roles": ["operator"], "nodes": "tier=web", "classes": ["Domain"],
 *      "methods": ["Domain.*"], "not_before": 1767225600,
 *      "not_after": 1774915200, "serial": "<hex>", "issuer": "<key id>"}
 * nodes, classes and methods are optional constraints (absent: no limit);
 * times are seconds since the epoch.
 */
#ifndef TRUST_CREDENTIAL_H
#define TRUST_CREDENTIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "trust/key.h"

#define TRUST_CREDENTIAL_PREFIX "vbc1."
#define TRUST_CREDENTIAL_MAX    4096    /* bytes of text */
#define TRUST_NAME_MAX          64
#define TRUST_LIST_MAX          64      /* classes, methods */

/* Roles, as bits.  Each of reader, operator, admin includes the ones
 * before it; agent is apart: it may only sign a node's answers. */
enum trust_role {
    TRUST_ROLE_READER = 1u << 0,
    TRUST_ROLE_OPERATOR = 1u << 1,
    TRUST_ROLE_ADMIN = 1u << 2,
    TRUST_ROLE_AGENT = 1u << 3,
};

struct trust_credential {
    char *name;
    uint8_t key[TRUST_KEY_LEN];
    /* key, made once for OpenSSL by trust_credential_parse (3.7 µs here,
     * against about 105 for a verification): credentials are kept and
     * verified against request after request.  NULL in the fields given to
     * trust_credential_issue, which reads key. */
    struct trust_key *public_key;
    char key_id[TRUST_KEY_ID_LEN + 1];
    unsigned roles;                 /* enum trust_role bits */
    char *nodes;                    /* a node selector (policy.h), or NULL */
    char **classes;                 /* NULL-terminated, or NULL: any */
    char **methods;                 /* "Class.method" globs, NULL-terminated, or NULL */
    int64_t not_before, not_after;  /* s since the epoch */
    char *serial;                   /* hex, for revocation */
    char issuer[TRUST_KEY_ID_LEN + 1];
    char *text;                     /* the signed text form */
    /* What the signature covers, as parsed from text. */
    uint8_t *payload;
    size_t payload_len;
    uint8_t signature[TRUST_SIG_LEN];
};

/* A caller or node name: 1 to TRUST_NAME_MAX letters, digits, '.', '_',
 * '-' or '@'. */
bool trust_name_ok(const char *s);

/* "reader" ... "agent" -> bit; 0 if unknown. */
unsigned trust_role_parse(const char *name);
/* A comma-separated list of role names, as `whoami` prints them (malloc'd). */
char *trust_roles_format(unsigned roles);
/* The roles a role grants: admin gives operator and reader too. */
unsigned trust_roles_implied(unsigned roles);

/*
 * Signs a credential for fields (name, key, roles, constraints, times; the
 * issuer id and a random serial are filled in).  Returns the text form,
 * malloc'd, and sets fields->serial and ->issuer.
 */
char *trust_credential_issue(const struct trust_key *issuer, struct trust_credential *fields,
                             qmf_error *err);

/*
 * Parses the text form, strictly (sizes, names, roles, known fields only),
 * without checking the signature.  QMF_ERR_BAD_SIGNATURE for anything
 * malformed: a credential is part of a request's signature.
 */
struct trust_credential *trust_credential_parse(const char *text, size_t len, qmf_error *err);

/* Checks the issuer's signature (issuer must be the key c->issuer names)
 * and that now (s) is within the validity period, give or take skew (s). */
int trust_credential_verify(const struct trust_credential *c, const struct trust_key *issuer,
                            int64_t now, int64_t skew, qmf_error *err);
/* Only the validity period part of that: for a credential whose issuer's
 * signature was checked before (it never changes; the clock does). */
int trust_credential_check_validity(const struct trust_credential *c, int64_t now,
                                    int64_t skew, qmf_error *err);

/* A credential file's text: its first line, at most TRUST_CREDENTIAL_MAX
 * bytes read (a longer one fails to parse), malloc'd; NULL (err) if the
 * file cannot be opened. */
char *trust_credential_read(const char *path, qmf_error *err);

/* Writes a credential's text as one line to a new file (mode 0644: it is
 * public); an existing file is replaced only if replace. */
int trust_credential_save(const char *text, const char *path, bool replace, qmf_error *err);

/*
 * What is done once for each caller or host, in one call: a new key pair,
 * its private key saved to key_path (mode 0600, never over an existing
 * file), and the issuer's credential for it (fields as for
 * trust_credential_issue; the key is filled in) saved to cred_path.
 * Returns the credential's text, malloc'd, or NULL.
 */
char *trust_credential_issue_new_key(const struct trust_key *issuer,
                                     struct trust_credential *fields, const char *key_path,
                                     const char *cred_path, qmf_error *err);

/* A credential's id: base64url of SHA-256 of its text, 43 characters.
 * It names the credential in requests to receivers that hold it already
 * (trust/message.h); any change to the text, its signature included,
 * changes it. */
#define TRUST_CREDENTIAL_ID_LEN 43
void trust_credential_id(const char *text, char out[TRUST_CREDENTIAL_ID_LEN + 1]);
/* The same 32 bytes, before base64url. */
void trust_credential_id_raw(const char *text, uint8_t out[32]);

void trust_credential_free(struct trust_credential *c);

#endif
