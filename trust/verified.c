/*
 * Signatures verified before (see verified.h).
 */
#include "trust/verified.h"

#include <stdlib.h>
#include <string.h>

#include "core/value.h"

struct verified_entry {
    bool used;
    uint8_t key[TRUST_KEY_LEN];
    uint8_t digest[TRUST_DIGEST_LEN];
    uint8_t sig[TRUST_SIG_LEN];
};

struct trust_verified {
    struct verified_entry *slots;
    size_t nslots;
    uint64_t hits, misses;
};

struct trust_verified *
trust_verified_new(size_t slots)
{
    struct trust_verified *v = qmf_xcalloc(1, sizeof(*v));

    v->nslots = slots > 0 ? slots : 1;
    v->slots = qmf_xcalloc(v->nslots, sizeof(*v->slots));
    return v;
}

void
trust_verified_free(struct trust_verified *v)
{
    if (v == NULL)
        return;
    free(v->slots);
    free(v);
}

/* The digest is SHA-256 output: any of its bytes pick a slot evenly.  One
 * who grinds digests into one slot only costs the agents verifications. */
static struct verified_entry *
slot_of(const struct trust_verified *v, const uint8_t digest[TRUST_DIGEST_LEN])
{
    uint64_t h;

    memcpy(&h, digest, sizeof(h));
    return &v->slots[h % v->nslots];
}

static bool
same(const struct verified_entry *e, const uint8_t raw[TRUST_KEY_LEN],
     const uint8_t digest[TRUST_DIGEST_LEN], const uint8_t sig[TRUST_SIG_LEN])
{
    return e->used && memcmp(e->digest, digest, TRUST_DIGEST_LEN) == 0 &&
           memcmp(e->sig, sig, TRUST_SIG_LEN) == 0 &&
           memcmp(e->key, raw, TRUST_KEY_LEN) == 0;
}

bool
trust_verify_remembered(struct trust_verified *v, const struct trust_key *key,
                        const uint8_t digest[TRUST_DIGEST_LEN],
                        const uint8_t sig[TRUST_SIG_LEN])
{
    struct verified_entry *e = v != NULL ? slot_of(v, digest) : NULL;
    const uint8_t *raw = trust_key_raw(key);
    bool ok;

    if (e != NULL && same(e, raw, digest, sig)) {
        v->hits++;
        return true;
    }
    ok = trust_verify(key, digest, TRUST_DIGEST_LEN, sig);
    if (e != NULL) {
        v->misses++;
        if (ok) {
            e->used = true;
            memcpy(e->key, raw, TRUST_KEY_LEN);
            memcpy(e->digest, digest, TRUST_DIGEST_LEN);
            memcpy(e->sig, sig, TRUST_SIG_LEN);
        }
    }
    return ok;
}

void
trust_verified_counts(const struct trust_verified *v, uint64_t *hits, uint64_t *misses)
{
    *hits = v != NULL ? v->hits : 0;
    *misses = v != NULL ? v->misses : 0;
}
