/*
 * Canonical digests of QMF values: the same value hashes to the same bytes
 * whichever codec decoded it (JSON or AMQP), in whatever order its map's
 * keys came, and whatever integer width carried a number.  What the agent
 * tells commands apart by (docs/PROTOCOL.md §9.3).
 */
#ifndef QMF_DIGEST_H
#define QMF_DIGEST_H

#include <openssl/evp.h>

#include "core/value.h"

/*
 * Feeds v's canonical form to an initialised digest: a tag per kind, then
 * integers as sign and 64-bit magnitude, floats as the bits of the double,
 * strings and binaries length-prefixed, lists in order, maps sorted by key
 * (bytewise).  NULL feeds a tag of its own, unlike any value's.
 * O(size of v), plus O(k log k) per map of k keys; recursion as deep as
 * v's nesting, which the codecs bound.
 */
void qmf_digest_update(EVP_MD_CTX *ctx, const qmf_value *v);

/* A length-prefixed string, as qmf_digest_update feeds a string (NULL: the
 * tag for NULL). */
void qmf_digest_update_string(EVP_MD_CTX *ctx, const char *s);

/* An integer, as qmf_digest_update feeds qmf_i64(v), without making one. */
void qmf_digest_update_i64(EVP_MD_CTX *ctx, int64_t v);

#endif
