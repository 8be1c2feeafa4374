/*
 * Sealed and authenticated answers (see seal.h): X25519, HKDF-SHA256,
 * AES-256-GCM and HMAC-SHA256 through OpenSSL's EVP interface.
 */
#include "trust/seal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>

#include "core/ways.h"

#define SEAL_KEY_LEN   32
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN   16
#define SEAL_INFO      "virtbus seal 1"
#define MAC_INFO       "virtbus answer mac 1"
/* The content type names an encoding: a few dozen bytes. */
#define SEAL_TYPE_MAX  128

/* Who a kept key is shared with, and what names it. */
enum peer_kind {
    PEER_CONSOLE,       /* on an agent: a console, by its X25519 reply-key */
    PEER_AGENT,         /* on a console: an agent, by its X25519 key (a sealed body's) */
    PEER_SIGNER,        /* on a console: an agent, by its Ed25519 key (its credential's) */
};

struct seal_slot {
    uint64_t last_use;      /* the sealer's clock when last found; 0: empty */
    enum peer_kind kind;
    uint8_t peer[SEAL_KEY_LEN];
    uint8_t aes[SEAL_KEY_LEN];
    uint8_t mac[SEAL_KEY_LEN];
    /* HMAC keyed with mac, copied for each answer: OpenSSL's one-shot
     * HMAC() fetches and keys anew every time, three times the cost. */
    EVP_MAC_CTX *hmac;
};

struct trust_sealer {
    EVP_PKEY *pkey;
    EVP_MAC *hmac;
    uint8_t pub[SEAL_KEY_LEN];
    char *pub_text;
    struct seal_slot *slots;
    size_t nslots;
    uint64_t clock;
};

struct trust_sealer *
trust_sealer_new(const struct trust_key *key, size_t slots, qmf_error *err)
{
    struct trust_sealer *s;
    uint8_t seed[SEAL_KEY_LEN];
    size_t len = sizeof(s->pub);

    if (key != NULL) {
        /* The X25519 twin of the Ed25519 key (seal.h): its secret scalar. */
        if (trust_key_x25519_secret(key, seed, err) != 0)
            return NULL;
    } else if (RAND_bytes(seed, sizeof(seed)) != 1) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "making a sealing key");
        return NULL;
    }
    s = qmf_xcalloc(1, sizeof(*s));
    /* X25519 clamps any 32 bytes into a private key. */
    s->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, seed, sizeof(seed));
    OPENSSL_cleanse(seed, sizeof(seed));
    if (s->pkey == NULL || EVP_PKEY_get_raw_public_key(s->pkey, s->pub, &len) != 1 ||
        len != sizeof(s->pub)) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "making a sealing key");
        trust_sealer_free(s);
        return NULL;
    }
    s->pub_text = trust_b64_encode(s->pub, sizeof(s->pub));
    s->nslots = slots > 0 ? slots : 1;
    s->slots = qmf_xcalloc(s->nslots, sizeof(*s->slots));
    if ((s->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "fetching HMAC");
        trust_sealer_free(s);
        return NULL;
    }
    return s;
}

void
trust_sealer_free(struct trust_sealer *s)
{
    size_t i;

    if (s == NULL)
        return;
    EVP_PKEY_free(s->pkey);
    EVP_MAC_free(s->hmac);
    for (i = 0; s->slots != NULL && i < s->nslots; i++)
        EVP_MAC_CTX_free(s->slots[i].hmac);
    if (s->slots != NULL)
        OPENSSL_cleanse(s->slots, s->nslots * sizeof(*s->slots));
    free(s->slots);
    free(s->pub_text);
    free(s);
}

const char *
trust_sealer_public(const struct trust_sealer *s)
{
    return s->pub_text;
}

/* A base64url field of exactly want bytes (want 0: any length up to max). */
static int
field_bytes(const qmf_value *sealed, const char *name, size_t want, size_t max,
            uint8_t **out, size_t *len, qmf_error *err)
{
    const char *text = qmf_map_get_string(sealed, name);

    if (text == NULL ||
        trust_b64_decode(text, strlen(text), out, len, want ? want : max) != 0 ||
        (want != 0 && *len != want)) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "sealed body: '%s' is missing or not %s",
                      name, want ? "the right length of base64url" : "base64url");
        return -1;
    }
    return 0;
}

/*
 * The two keys of an agent and a console from their X25519 secret: AES
 * for sealing, HMAC for authenticating, each HKDF-SHA256 with its own
 * label + the agent's public key + the console's, whichever side this is.
 */
static int
peer_keys_derive(const uint8_t shared[SEAL_KEY_LEN], const uint8_t agent[SEAL_KEY_LEN],
                 const uint8_t console[SEAL_KEY_LEN], struct seal_slot *slot, qmf_error *err)
{
    uint8_t info[sizeof(MAC_INFO) - 1 + 2 * SEAL_KEY_LEN];
    size_t label;

    label = sizeof(SEAL_INFO) - 1;
    memcpy(info, SEAL_INFO, label);
    memcpy(info + label, agent, SEAL_KEY_LEN);
    memcpy(info + label + SEAL_KEY_LEN, console, SEAL_KEY_LEN);
    if (trust_hkdf_sha256(shared, SEAL_KEY_LEN, info, label + 2 * SEAL_KEY_LEN, slot->aes,
                          SEAL_KEY_LEN, err) != 0)
        return -1;
    label = sizeof(MAC_INFO) - 1;
    memcpy(info, MAC_INFO, label);
    memcpy(info + label, agent, SEAL_KEY_LEN);
    memcpy(info + label + SEAL_KEY_LEN, console, SEAL_KEY_LEN);
    return trust_hkdf_sha256(shared, SEAL_KEY_LEN, info, label + 2 * SEAL_KEY_LEN, slot->mac,
                             SEAL_KEY_LEN, err);
}

/* slot's HMAC context, keyed with its MAC key. */
static int
slot_hmac_key(const struct trust_sealer *s, struct seal_slot *slot, qmf_error *err)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };

    EVP_MAC_CTX_free(slot->hmac);
    slot->hmac = EVP_MAC_CTX_new(s->hmac);
    if (slot->hmac == NULL || EVP_MAC_init(slot->hmac, slot->mac, SEAL_KEY_LEN, params) != 1) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "keying HMAC");
        return -1;
    }
    return 0;
}

/* The keys between this sealer and peer, from the cache or made now. */
static const struct seal_slot *
peer_keys(struct trust_sealer *s, const uint8_t peer[SEAL_KEY_LEN], enum peer_kind kind,
          qmf_error *err)
{
    static const char *const what[] = {
        [PEER_CONSOLE] = TRUST_HDR_REPLY_KEY " is not a usable X25519 key",
        [PEER_AGENT] = "the sealed body's key is not a usable X25519 key",
        [PEER_SIGNER] = "the signer's key has no usable X25519 twin",
    };
    uint64_t h;
    struct seal_slot *slot;
    size_t first, ways, i;
    uint8_t x25519[SEAL_KEY_LEN], shared[SEAL_KEY_LEN];
    size_t len = sizeof(shared);
    EVP_PKEY *other = NULL;
    EVP_PKEY_CTX *ctx;
    int ok;

    memcpy(&h, peer, sizeof(h));
    ways = ways_set(h ^ kind, s->nslots, &first);
    slot = &s->slots[first];
    for (i = first; i < first + ways; i++) {
        struct seal_slot *way = &s->slots[i];

        if (way->last_use != 0 && way->kind == kind &&
            memcmp(way->peer, peer, SEAL_KEY_LEN) == 0) {
            way->last_use = ++s->clock;
            return way;
        }
        if (way->last_use < slot->last_use)
            slot = way;
    }
    /* The map costs a modular inverse: done once per agent, kept here. */
    if (kind == PEER_SIGNER)
        ok = trust_x25519_of_ed25519(peer, x25519) == 0;
    else
        ok = memcpy(x25519, peer, SEAL_KEY_LEN) != NULL;
    if (ok)
        other = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, x25519, SEAL_KEY_LEN);
    ctx = EVP_PKEY_CTX_new(s->pkey, NULL);
    /* OpenSSL refuses an all-zero secret: a small-order peer key. */
    ok = other != NULL && ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 &&
         EVP_PKEY_derive_set_peer(ctx, other) == 1 &&
         EVP_PKEY_derive(ctx, shared, &len) == 1 && len == sizeof(shared);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(other);
    if (!ok) {
        ERR_clear_error();
        qmf_error_set(err, kind == PEER_CONSOLE ? QMF_ERR_INVALID_ARGS : QMF_ERR_BAD_SIGNATURE,
                      "%s", what[kind]);
        return NULL;
    }
    ok = peer_keys_derive(shared, kind == PEER_CONSOLE ? s->pub : x25519,
                          kind == PEER_CONSOLE ? x25519 : s->pub, slot, err) == 0 &&
         slot_hmac_key(s, slot, err) == 0;
    OPENSSL_cleanse(shared, sizeof(shared));
    if (!ok) {
        slot->last_use = 0;
        return NULL;
    }
    slot->last_use = ++s->clock;
    slot->kind = kind;
    memcpy(slot->peer, peer, SEAL_KEY_LEN);
    return slot;
}

/* AES-256-GCM one way or the other; the content type is the AAD.  For
 * opening, in ends with the tag; for sealing, out gets it appended. */
static int
gcm(bool seal, const uint8_t key[SEAL_KEY_LEN], const uint8_t nonce[SEAL_NONCE_LEN],
    const char *type, const uint8_t *in, size_t in_len, uint8_t *out, qmf_error *err)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    size_t body = seal ? in_len : in_len - SEAL_TAG_LEN;
    int n = 0, fin = 0, ok;

    if (ctx == NULL)
        abort();
    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, seal ? 1 : 0) == 1 &&
         EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *)type, (int)strlen(type)) == 1;
    /* int lengths: bodies are bounded far below INT_MAX (max_body). */
    ok = ok && EVP_CipherUpdate(ctx, out, &n, in, (int)body) == 1;
    if (ok && !seal)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG_LEN,
                                 (void *)(in + body)) == 1;
    ok = ok && EVP_CipherFinal_ex(ctx, out + n, &fin) == 1;
    if (ok && seal)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG_LEN, out + body) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        if (seal)
            qmf_error_set(err, QMF_ERR_INTERNAL, "sealing failed");
        else
            qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "the sealed body was not sealed for "
                          "this console's key, or was altered");
        return -1;
    }
    return 0;
}

/* An agent's keys for the console whose reply-key is peer (base64url). */
static const struct seal_slot *
console_keys(struct trust_sealer *s, const char *peer, qmf_error *err)
{
    uint8_t *peer_raw = NULL;
    size_t peer_len = 0;
    const struct seal_slot *keys;

    if (peer == NULL ||
        trust_b64_decode(peer, strlen(peer), &peer_raw, &peer_len, SEAL_KEY_LEN) != 0 ||
        peer_len != SEAL_KEY_LEN) {
        free(peer_raw);
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s is not a base64url X25519 key",
                      TRUST_HDR_REPLY_KEY);
        return NULL;
    }
    keys = peer_keys(s, peer_raw, PEER_CONSOLE, err);
    free(peer_raw);
    return keys;
}

qmf_value *
trust_seal(struct trust_sealer *s, const char *peer, const char *content_type,
           const void *plain, size_t len, qmf_error *err)
{
    uint8_t nonce[SEAL_NONCE_LEN], *out;
    const struct seal_slot *keys;
    qmf_value *body, *sealed;
    char *text;

    if ((keys = console_keys(s, peer, err)) == NULL)
        return NULL;
    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "sealing");
        return NULL;
    }
    out = qmf_xmalloc(len + SEAL_TAG_LEN);
    if (gcm(true, keys->aes, nonce, content_type, plain, len, out, err) != 0) {
        free(out);
        return NULL;
    }
    body = qmf_map();
    sealed = qmf_map_set(body, "_sealed", qmf_map());
    qmf_map_set(sealed, "alg", qmf_string(TRUST_SEAL_ALG));
    qmf_map_set(sealed, "key", qmf_string(s->pub_text));
    text = trust_b64_encode(nonce, sizeof(nonce));
    qmf_map_set(sealed, "nonce", qmf_string(text));
    free(text);
    qmf_map_set(sealed, "type", qmf_string(content_type));
    text = trust_b64_encode(out, len + SEAL_TAG_LEN);
    qmf_map_set(sealed, "data", qmf_string(text));
    free(text);
    free(out);
    return body;
}

bool
trust_body_is_sealed(const qmf_value *body)
{
    return body != NULL && body->kind == QMF_MAP && qmf_map_get(body, "_sealed") != NULL;
}

int
trust_unseal(struct trust_sealer *s, const qmf_value *body, char **plain, size_t *len,
             char **content_type, qmf_error *err)
{
    const qmf_value *sealed = qmf_map_get(body, "_sealed");
    const char *alg = qmf_map_get_string(sealed, "alg");
    const char *type = qmf_map_get_string(sealed, "type");
    uint8_t *peer = NULL, *nonce = NULL, *data = NULL;
    size_t peer_len, nonce_len, data_len;
    const struct seal_slot *keys;
    int rc = -1;

    *plain = *content_type = NULL;
    *len = 0;
    if (alg == NULL || strcmp(alg, TRUST_SEAL_ALG) != 0) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "sealed body: algorithm '%.64s' is not %s",
                      alg ? alg : "(none)", TRUST_SEAL_ALG);
        return -1;
    }
    if (type == NULL || strlen(type) > SEAL_TYPE_MAX) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "sealed body: no content type");
        return -1;
    }
    /* data: bounded by the body it came in (max_body). */
    if (field_bytes(sealed, "key", SEAL_KEY_LEN, 0, &peer, &peer_len, err) != 0 ||
        field_bytes(sealed, "nonce", SEAL_NONCE_LEN, 0, &nonce, &nonce_len, err) != 0 ||
        field_bytes(sealed, "data", 0, SIZE_MAX / 2, &data, &data_len, err) != 0)
        goto out;
    if (data_len < SEAL_TAG_LEN) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "sealed body: data shorter than its tag");
        goto out;
    }
    if ((keys = peer_keys(s, peer, PEER_AGENT, err)) == NULL)
        goto out;
    *plain = qmf_xmalloc(data_len - SEAL_TAG_LEN + 1);
    if (gcm(false, keys->aes, nonce, type, data, data_len, (uint8_t *)*plain, err) != 0) {
        free(*plain);
        *plain = NULL;
        goto out;
    }
    *len = data_len - SEAL_TAG_LEN;
    (*plain)[*len] = '\0';
    *content_type = qmf_xstrdup(type);
    rc = 0;
out:
    free(peer);
    free(nonce);
    free(data);
    return rc;
}

/* Authenticated answers ----------------------------------------------------- */

/* u = (1 + y) / (1 - y) mod 2^255 - 19 (RFC 7748 §4.1).  Not constant
 * time: public keys only. */
int
trust_x25519_of_ed25519(const uint8_t ed[TRUST_KEY_LEN], uint8_t out[32])
{
    uint8_t le[TRUST_KEY_LEN];
    BN_CTX *ctx = BN_CTX_new();
    BIGNUM *p, *y, *num, *den;
    int ok;

    if (ctx == NULL)
        abort();
    BN_CTX_start(ctx);
    p = BN_CTX_get(ctx);
    y = BN_CTX_get(ctx);
    num = BN_CTX_get(ctx);
    den = BN_CTX_get(ctx);
    memcpy(le, ed, sizeof(le));
    le[TRUST_KEY_LEN - 1] &= 0x7f;      /* the top bit is x's sign */
    ok = den != NULL && BN_set_word(p, 1) && BN_lshift(p, p, 255) && BN_sub_word(p, 19) &&
         BN_lebin2bn(le, sizeof(le), y) != NULL && BN_cmp(y, p) < 0 &&
         BN_copy(num, y) != NULL && BN_add_word(num, 1) && BN_one(den) &&
         BN_mod_sub(den, den, y, p, ctx) && !BN_is_zero(den) &&
         BN_mod_inverse(den, den, p, ctx) != NULL && BN_mod_mul(num, num, den, p, ctx) &&
         BN_bn2lebinpad(num, out, SEAL_KEY_LEN) == SEAL_KEY_LEN;
    BN_CTX_end(ctx);
    BN_CTX_free(ctx);
    ERR_clear_error();
    return ok ? 0 : -1;
}

static void
answer_mac(const struct seal_slot *keys, const uint8_t digest[TRUST_DIGEST_LEN],
           uint8_t mac[TRUST_MAC_LEN])
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(keys->hmac);
    size_t len = 0;

    if (ctx == NULL || EVP_MAC_update(ctx, digest, TRUST_DIGEST_LEN) != 1 ||
        EVP_MAC_final(ctx, mac, &len, TRUST_MAC_LEN) != 1 || len != TRUST_MAC_LEN)
        abort();    /* only out of memory */
    EVP_MAC_CTX_free(ctx);
}

int
trust_answer_mac(struct trust_sealer *s, const char *peer,
                 const uint8_t digest[TRUST_DIGEST_LEN], uint8_t mac[TRUST_MAC_LEN],
                 qmf_error *err)
{
    const struct seal_slot *keys = console_keys(s, peer, err);

    if (keys == NULL)
        return -1;
    answer_mac(keys, digest, mac);
    return 0;
}

int
trust_answer_mac_check(struct trust_sealer *s, const uint8_t signer[TRUST_KEY_LEN],
                       const uint8_t digest[TRUST_DIGEST_LEN],
                       const uint8_t mac[TRUST_MAC_LEN], qmf_error *err)
{
    uint8_t want[TRUST_MAC_LEN];
    const struct seal_slot *keys;
    bool ok;

    if ((keys = peer_keys(s, signer, PEER_SIGNER, err)) == NULL)
        return -1;
    answer_mac(keys, digest, want);
    ok = CRYPTO_memcmp(want, mac, TRUST_MAC_LEN) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    if (!ok) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "the answer's %s does not match it",
                      TRUST_HDR_MAC);
        return -1;
    }
    return 0;
}
