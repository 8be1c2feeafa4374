/*
 * Answers only the console that asked can read, and that only that
 * console can check cheaply (docs/SECURITY.md §3).  Signatures say who
 * wrote a message; the broker, and anyone it lets bind, can still read
 * it.  Sealing closes that for answers, which carry inventories, XML and
 * job outcomes.
 *
 * Keys.  Every key here is the X25519 twin of an Ed25519 signing key:
 * its secret is the Ed25519 key's secret scalar (trust_key_x25519_secret)
 * and its public key the Ed25519 public key mapped onto Curve25519
 * (trust_x25519_of_ed25519).  So a credential that names an agent's
 * signing key names its X25519 key too, and every process of one caller
 * holds the same X25519 key: a fire-and-forget job's answers can be
 * fetched and opened later.  (A key without a signing key behind it, an
 * agent that does not sign, gets a random one.)
 *
 * A console that signs puts its X25519 public key in the signed request
 * header virtbus.reply-key.  An agent answering such a request:
 *  - authenticates each answer with virtbus.mac, HMAC-SHA256 of the
 *    canonical digest a signature would cover (message.h), instead of an
 *    Ed25519 signature: about 1 µs instead of 30 to make, and 1 µs
 *    instead of 80 to check.  Only the two ends hold the MAC key, so it
 *    proves the agent to that console and to nobody else, which is all an
 *    answer needs;
 *  - seals each answer unless the request also carries virtbus.seal "no":
 *    the body becomes
 *
 *   {"_sealed": {"alg":   "x25519-hkdf-sha256-aes-256-gcm",
 *                "key":   the agent's X25519 public key,
 *                "nonce": 12 random bytes,
 *                "type":  the content type of the plain body,
 *                "data":  AES-256-GCM ciphertext, then its 16-byte tag}}
 *
 *    (strings, base64url), written in the answer's usual encoding.
 *
 * Both keys come from the X25519 shared secret by HKDF-SHA256, info
 * "virtbus seal 1" (AES) or "virtbus answer mac 1" (HMAC) + the agent's
 * public key + the console's.  Both sides keep them per peer, so only the
 * first answer between two keys pays for the X25519 (about 30 µs).
 */
#ifndef TRUST_SEAL_H
#define TRUST_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/value.h"
#include "trust/key.h"
#include "trust/message.h"

#define TRUST_HDR_REPLY_KEY "virtbus.reply-key"
#define TRUST_HDR_SEAL      "virtbus.seal"
#define TRUST_HDR_MAC       "virtbus.mac"
/* "no" in a request: its asker checks no agent's credential (it has no
 * answer_issuer_keys) and reads the answers itself, so the agent names its
 * key (virtbus.key, 43 bytes) instead of sending its credential (about 500)
 * with every answer.  Signed, as the reply-key is. */
#define TRUST_HDR_ANSWER_CREDENTIAL "virtbus.answer-credential"
#define TRUST_MAC_LEN       32
#define TRUST_SEAL_ALG      "x25519-hkdf-sha256-aes-256-gcm"

struct trust_sealer;

/*
 * An X25519 key: the twin of the private signing key key (the same for
 * every process that holds it), or, key NULL, a new random one.  slots: how
 * many peers' AES keys it keeps (a set-associative table, core/ways.h; a
 * newer peer replaces the least recently used of its set).  Not locked:
 * one thread uses it.
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

/*
 * The MAC of an answer whose canonical digest (trust_message_digest,
 * TRUST_ANSWER) is digest, for the console whose reply-key is peer.
 * QMF_ERR_INVALID_ARGS for a peer key that is not one.
 */
int trust_answer_mac(struct trust_sealer *s, const char *peer,
                     const uint8_t digest[TRUST_DIGEST_LEN], uint8_t mac[TRUST_MAC_LEN],
                     qmf_error *err);
/*
 * Checks, on the console, the MAC of an answer from the agent whose
 * Ed25519 public key is signer (as its credential names it).
 * QMF_ERR_BAD_SIGNATURE if it does not match.
 */
int trust_answer_mac_check(struct trust_sealer *s, const uint8_t signer[TRUST_KEY_LEN],
                           const uint8_t digest[TRUST_DIGEST_LEN],
                           const uint8_t mac[TRUST_MAC_LEN], qmf_error *err);
/* The X25519 public key of Ed25519 public key ed; -1 for a point with
 * none (the neutral element) or an encoding out of range. */
int trust_x25519_of_ed25519(const uint8_t ed[TRUST_KEY_LEN], uint8_t out[32]);

#endif
