/*
 * Sealed answers: an answer body that only the console that asked can
 * read (docs/SECURITY.md §6).  Signatures say who wrote a message; the
 * broker, and anyone it lets bind, can still read it.  Sealing closes
 * that for answers, which carry inventories, XML and job outcomes.
 *
 * A console that signs puts its sealing key, an X25519 public key, in the
 * signed request header virtbus.reply-key.  The key is derived from the
 * console's signing key, so every process of that caller holds the same
 * one: the answers of a fire-and-forget job can be fetched and opened
 * later.  An agent seals each answer to such a request: the body becomes
 *
 *   {"_sealed": {"alg":   "x25519-hkdf-sha256-aes-256-gcm",
 *                "key":   the agent's X25519 public key,
 *                "nonce": 12 random bytes,
 *                "type":  the content type of the plain body,
 *                "data":  AES-256-GCM ciphertext, then its 16-byte tag}}
 *
 * (strings, base64url), written in the answer's usual encoding and
 * signed as any body is.  The AES key is HKDF-SHA256 of the X25519
 * shared secret, with info "virtbus seal 1" + the agent's public key +
 * the console's.  Both sides keep it per peer, so only the first answer
 * between two keys pays for the X25519 (about 30 µs); the others cost
 * AES-GCM over the body.
 */
#ifndef TRUST_SEAL_H
#define TRUST_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#include "schema/qmf/error.h"
#include "schema/qmf/value.h"
#include "trust/key.h"

#define TRUST_HDR_REPLY_KEY "virtbus.reply-key"
#define TRUST_SEAL_ALG      "x25519-hkdf-sha256-aes-256-gcm"

struct trust_sealer;

/*
 * A sealing key: derived from private signing key (the same for every
 * process that holds it), or, key NULL, a new random one.  slots: how
 * many peers' AES keys it keeps (a direct-mapped table; a newer peer
 * replaces the one in its slot).  Not locked: one thread uses it.
 */
struct trust_sealer *trust_sealer_new(const struct trust_key *key, size_t slots,
                                      qmf_error *err);
void trust_sealer_free(struct trust_sealer *s);
/* Its public key, base64url: what virtbus.reply-key carries. */
const char *trust_sealer_public(const struct trust_sealer *s);

/*
 * The sealed body for peer (a base64url X25519 public key, as the header
 * carries it) of plain, len bytes of content type.  NULL, with
 * QMF_ERR_INVALID_ARGS, for a peer key that is not one.
 */
qmf_value *trust_seal(struct trust_sealer *s, const char *peer, const char *content_type,
                      const void *plain, size_t len, qmf_error *err);
/* Whether body is sealed (whatever its algorithm). */
bool trust_body_is_sealed(const qmf_value *body);
/*
 * Opens a sealed body: its plain bytes (*plain, malloc'd, len bytes, NUL
 * after them) and content type (*content_type, malloc'd).
 * QMF_ERR_MALFORMED for a sealed body badly formed or of another
 * algorithm; QMF_ERR_BAD_SIGNATURE for one not sealed for this key, or
 * altered.
 */
int trust_unseal(struct trust_sealer *s, const qmf_value *body, char **plain, size_t *len,
                 char **content_type, qmf_error *err);

#endif
