/*
 * Signing messages (see message.h): the canonical bytes, and the headers.
 */
#include "trust/message.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/digest.h"
#include "core/names.h"
#include "trust/credential.h"
#include "trust/seal.h"

/* The reply-to as the sender wrote it: the broker rewrites direct reply-to,
 * and the AMQP 1.0 backend sends its stand-in queue instead (bus.h). */
static const char *
signed_reply_to(const char *reply_to)
{
    static const char stand_in[] = QMF_NAME_QUEUE_ADDRESS_PREFIX BUS_TEMP_QUEUE_PREFIX;
    size_t n = strlen(BUS_DIRECT_REPLY_TO);

    if (reply_to != NULL && strncmp(reply_to, BUS_DIRECT_REPLY_TO, n) == 0 &&
        reply_to[n] == '.')
        return BUS_DIRECT_REPLY_TO;
    if (reply_to != NULL && strncmp(reply_to, stand_in, sizeof(stand_in) - 1) == 0)
        return BUS_DIRECT_REPLY_TO;
    return reply_to;
}

void
trust_message_digest(const struct bus_message *m, enum trust_domain domain,
                     const char *target, uint8_t out[TRUST_DIGEST_LEN])
{
    static const char *const headers[] = { "qmf.opcode", "qmf.agent", "qmf.content", "partial" };
    static const char *const optional[] = { TRUST_HDR_REPLY_KEY, TRUST_HDR_SEAL,
                                            TRUST_HDR_ANSWER_CREDENTIAL };
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t body[32];
    unsigned int len = 0;
    size_t i;

    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        abort();    /* only out of memory */
    qmf_digest_update_string(ctx, domain == TRUST_REQUEST ? "virtbus request 1"
                                  : domain == TRUST_ANSWER ? "virtbus answer 1"
                                                           : "virtbus job record 1");
    qmf_digest_update_string(ctx, target != NULL ? target : "");
    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
        qmf_digest_update(ctx, qmf_map_get(m->headers, headers[i]));
    qmf_digest_update_string(ctx, m->message_id);
    qmf_digest_update_string(ctx, m->correlation_id);
    qmf_digest_update_string(ctx, signed_reply_to(m->reply_to));
    qmf_digest_update_string(ctx, m->user_id);
    qmf_digest_update_i64(ctx, m->created_ms);
    qmf_digest_update_i64(ctx, (int64_t)(m->ttl_ms > INT64_MAX ? INT64_MAX : m->ttl_ms));
    qmf_digest_update_string(ctx, m->raw_content_type != NULL ? m->raw_content_type
                                                              : BUS_CONTENT_JSON);
    bus_message_body_sha256(m, body);
    EVP_DigestUpdate(ctx, body, sizeof(body));
    /* Only when present, so that the bytes of every other message stay as
     * they were; the fixed-length body hash before it keeps this
     * unambiguous. */
    for (i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
        if (qmf_map_get(m->headers, optional[i]) != NULL) {
            qmf_digest_update_string(ctx, optional[i]);
            qmf_digest_update(ctx, qmf_map_get(m->headers, optional[i]));
        }
    if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != TRUST_DIGEST_LEN)
        abort();
    EVP_MD_CTX_free(ctx);
}

/* Signs m, or, sealer non-NULL, authenticates it to the console whose
 * reply-key is peer; then names the signer. */
static int
authenticate(struct bus_message *m, enum trust_domain domain, const char *target,
             const struct trust_key *key, const char *credential, bool by_id,
             struct trust_sealer *sealer, const char *peer, qmf_error *err)
{
    uint8_t digest[TRUST_DIGEST_LEN], sig[TRUST_SIG_LEN];
    char *text, id[TRUST_CREDENTIAL_ID_LEN + 1];

    if (m->headers == NULL)
        m->headers = qmf_map();
    /* The bytes signed are the bytes sent. */
    if (bus_message_encode(m, err) != 0)
        return -1;
    /* The signature headers are not covered; stale ones must not stay. */
    qmf_free(qmf_map_take(m->headers, TRUST_HDR_CREDENTIAL));
    qmf_free(qmf_map_take(m->headers, TRUST_HDR_CREDENTIAL_ID));
    qmf_free(qmf_map_take(m->headers, TRUST_HDR_KEY));
    qmf_free(qmf_map_take(m->headers, TRUST_HDR_SIGNATURE));
    qmf_free(qmf_map_take(m->headers, TRUST_HDR_MAC));
    trust_message_digest(m, domain, target, digest);
    if (sealer != NULL) {
        if (trust_answer_mac(sealer, peer, digest, sig, err) != 0)
            return -1;
        text = trust_b64_encode(sig, TRUST_MAC_LEN);
        bus_message_set_header_string(m, TRUST_HDR_MAC, text);
    } else {
        if (trust_sign(key, digest, sizeof(digest), sig, err) != 0)
            return -1;
        text = trust_b64_encode(sig, sizeof(sig));
        bus_message_set_header_string(m, TRUST_HDR_SIGNATURE, text);
    }
    free(text);
    if (credential != NULL && by_id) {
        trust_credential_id(credential, id);
        bus_message_set_header_string(m, TRUST_HDR_CREDENTIAL_ID, id);
    } else if (credential != NULL) {
        bus_message_set_header_string(m, TRUST_HDR_CREDENTIAL, credential);
    } else {
        text = trust_b64_encode(trust_key_raw(key), TRUST_KEY_LEN);
        bus_message_set_header_string(m, TRUST_HDR_KEY, text);
        free(text);
    }
    return 0;
}

int
trust_message_sign(struct bus_message *m, enum trust_domain domain, const char *target,
                   const struct trust_key *key, const char *credential, qmf_error *err)
{
    return authenticate(m, domain, target, key, credential, false, NULL, NULL, err);
}

int
trust_request_sign(struct bus_message *m, const char *target, const struct trust_key *key,
                   const char *credential, bool by_id, qmf_error *err)
{
    return authenticate(m, TRUST_REQUEST, target, key, credential, by_id, NULL, NULL, err);
}

int
trust_message_mac(struct bus_message *m, struct trust_sealer *sealer, const char *peer,
                  const struct trust_key *key, const char *credential, qmf_error *err)
{
    return authenticate(m, TRUST_ANSWER, "", key, credential, false, sealer, peer, err);
}
