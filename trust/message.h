/*
 * Signed messages.  A console signs each request, an agent each message it
 * sends, in headers (application properties) beside the QMF ones:
 *
 *   virtbus.signature   base64url of the Ed25519 signature
 *   virtbus.credential  the signer's credential (credential.h), or
 *   virtbus.credential-id  on a request, instead of the credential: its
 *                       id (trust_credential_id), for agents that hold it
 *                       already (the answer of one that does not is
 *                       QMF_ERR_CREDENTIAL_UNKNOWN, and the console sends
 *                       the request again with the credential), or
 *   virtbus.key         base64url of its raw public key, for a key the
 *                       receiver trusts directly (a trust directory)
 *   virtbus.mac         instead of the signature, on an answer to a
 *                       request with a reply-key (below)
 *
 * The signature covers SHA-256 of a canonical byte string (each field
 * tagged and length-prefixed, as core/digest.h feeds values):
 *
 *   "virtbus request 1", "virtbus answer 1" or "virtbus job record 1"
 *                     (a signed answer or job record can never pass for a
 *                     request, nor the other way round)
 *   the routing key it was published with (requests: the target, so that
 *   a captured request cannot be re-targeted; answers: ""; job records:
 *   the job's id, so that a record cannot pass for another job's)
 *   qmf.opcode, qmf.agent, qmf.content, partial (headers)
 *   message-id, correlation-id, reply-to, user-id
 *   created, ttl (integers, ms)
 *   the content type, and SHA-256 of the body bytes exactly as sent
 *   (bus_message_encode; a receiver hashes them as they came), so that
 *   nothing is decoded before its signature is checked against it
 *   only if the message has them, each tagged with its name: the headers
 *   virtbus.reply-key (the key answers are sealed and authenticated to,
 *   trust/seal.h; signed so that nobody on the way can swap in a key of
 *   their own), virtbus.seal and virtbus.answer-credential
 *
 * An answer to a request with a reply-key carries virtbus.mac instead of
 * virtbus.signature: HMAC-SHA256 of the same digest (trust/seal.h).
 *
 * A direct reply-to, which the broker rewrites on its way, is signed as the
 * console wrote it ("/queue/amq.rabbitmq.reply-to").
 */
#ifndef TRUST_MESSAGE_H
#define TRUST_MESSAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "trust/key.h"

#define TRUST_HDR_SIGNATURE  "virtbus.signature"
#define TRUST_HDR_CREDENTIAL "virtbus.credential"
#define TRUST_HDR_KEY        "virtbus.key"
#define TRUST_HDR_CREDENTIAL_ID "virtbus.credential-id"
/* On an answer to a request that carried its credential whole: that
 * credential's id, which the agent now holds (not covered by the MAC or
 * signature: believing a false one costs a request sent again). */
#define TRUST_HDR_CREDENTIAL_HELD "virtbus.credential-held"

enum trust_domain { TRUST_REQUEST, TRUST_ANSWER, TRUST_JOB_RECORD };

#define TRUST_DIGEST_LEN 32

/* What the signature of m covers: a received message, or one to send that
 * bus_message_encode has encoded. */
void trust_message_digest(const struct bus_message *m, enum trust_domain domain,
                          const char *target, uint8_t out[TRUST_DIGEST_LEN]);

/*
 * Signs m (for target: see above) with a private key, setting the
 * signature header and either the credential (credential non-NULL) or the
 * raw key header; encodes the body first (bus_message_encode).  Call it
 * last: any later change to what is covered breaks the signature.
 */
int trust_message_sign(struct bus_message *m, enum trust_domain domain, const char *target,
                       const struct trust_key *key, const char *credential, qmf_error *err);

/*
 * As trust_message_sign for a request (TRUST_REQUEST) signed by a
 * credential, which by_id names by its id (virtbus.credential-id) rather
 * than carrying it: about 600 bytes less in each copy a broadcast makes.
 */
int trust_request_sign(struct bus_message *m, const char *target, const struct trust_key *key,
                       const char *credential, bool by_id, qmf_error *err);

/*
 * As trust_message_sign for an answer (TRUST_ANSWER), but authenticated
 * with virtbus.mac to the console whose reply-key is peer, with sealer,
 * the X25519 twin of key (trust/seal.h).
 */
struct trust_sealer;
int trust_message_mac(struct bus_message *m, struct trust_sealer *sealer, const char *peer,
                      const struct trust_key *key, const char *credential, qmf_error *err);

#endif
