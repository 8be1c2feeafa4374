/*
 * Canonical digests of QMF values (see digest.h): one byte stream per value,
 * independent of how the value travelled.
 */
#include "core/digest.h"

#include <stdlib.h>
#include <string.h>

enum {
    TAG_NULL = 'n',
    TAG_VOID = 'z',
    TAG_BOOL = 'b',
    TAG_INT = 'i',
    TAG_DOUBLE = 'd',
    TAG_UUID = 'u',
    TAG_STRING = 's',
    TAG_BINARY = 'x',
    TAG_MAP = 'm',
    TAG_LIST = 'l',
};

/* OpenSSL charges every update call (a dispatch through its provider),
 * and a canonical form is mostly short pieces: a tag, its length and
 * short data go to the hash in one call. */
#define SHORT_DATA 256

static void
put_tag(EVP_MD_CTX *ctx, unsigned char tag)
{
    EVP_DigestUpdate(ctx, &tag, 1);
}

static void
encode_u64(unsigned char b[8], uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)v;
}

/* A tag and a 64-bit number. */
static void
put_tagged_u64(EVP_MD_CTX *ctx, unsigned char tag, uint64_t v)
{
    unsigned char b[9];

    b[0] = tag;
    encode_u64(b + 1, v);
    EVP_DigestUpdate(ctx, b, sizeof(b));
}

/* An integer: its tag, its sign, its magnitude. */
static void
put_int(EVP_MD_CTX *ctx, bool negative, uint64_t magnitude)
{
    unsigned char b[10];

    b[0] = TAG_INT;
    b[1] = negative ? '-' : '+';
    encode_u64(b + 2, magnitude);
    EVP_DigestUpdate(ctx, b, sizeof(b));
}

static void
put_bytes(EVP_MD_CTX *ctx, unsigned char tag, const void *data, size_t len)
{
    unsigned char b[9 + SHORT_DATA];

    b[0] = tag;
    encode_u64(b + 1, len);
    if (len <= SHORT_DATA) {
        memcpy(b + 9, data, len);
        EVP_DigestUpdate(ctx, b, 9 + len);
    } else {
        EVP_DigestUpdate(ctx, b, 9);
        EVP_DigestUpdate(ctx, data, len);
    }
}

static int
pair_cmp(const void *a, const void *b)
{
    const struct qmf_pair *x = *(const struct qmf_pair *const *)a;
    const struct qmf_pair *y = *(const struct qmf_pair *const *)b;

    return strcmp(x->key, y->key);
}

void
qmf_digest_update_string(EVP_MD_CTX *ctx, const char *s)
{
    if (s == NULL)
        put_tag(ctx, TAG_NULL);
    else
        put_bytes(ctx, TAG_STRING, s, strlen(s));
}

void
qmf_digest_update_i64(EVP_MD_CTX *ctx, int64_t v)
{
    /* The magnitude of INT64_MIN does not fit an int64_t. */
    put_int(ctx, v < 0, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

void
qmf_digest_update(EVP_MD_CTX *ctx, const qmf_value *v)
{
    const struct qmf_pair **pairs;
    double d;
    size_t i;

    if (v == NULL) {
        put_tag(ctx, TAG_NULL);
        return;
    }
    switch (v->kind) {
    case QMF_VOID:
        put_tag(ctx, TAG_VOID);
        break;
    case QMF_BOOL: {
        unsigned char b[2] = { TAG_BOOL, v->u.b ? 1 : 0 };

        EVP_DigestUpdate(ctx, b, sizeof(b));
        break;
    }
    case QMF_UINT8: case QMF_UINT16: case QMF_UINT32: case QMF_UINT64:
        put_int(ctx, false, v->u.u);
        break;
    case QMF_INT8: case QMF_INT16: case QMF_INT32: case QMF_INT64:
        qmf_digest_update_i64(ctx, v->u.i);
        break;
    case QMF_FLOAT:
    case QMF_DOUBLE: {
        uint64_t bits;

        d = v->kind == QMF_FLOAT ? (double)v->u.f : v->u.d;
        memcpy(&bits, &d, sizeof(bits));
        put_tagged_u64(ctx, TAG_DOUBLE, bits);
        break;
    }
    case QMF_UUID: {
        unsigned char b[1 + sizeof(v->u.uuid)];

        b[0] = TAG_UUID;
        memcpy(b + 1, v->u.uuid, sizeof(v->u.uuid));
        EVP_DigestUpdate(ctx, b, sizeof(b));
        break;
    }
    case QMF_STRING:
        put_bytes(ctx, TAG_STRING, v->u.str.ptr, v->u.str.len);
        break;
    case QMF_BINARY:
        put_bytes(ctx, TAG_BINARY, v->u.str.ptr, v->u.str.len);
        break;
    case QMF_MAP:
        put_tagged_u64(ctx, TAG_MAP, v->u.map.len);
        pairs = qmf_xcalloc(v->u.map.len + 1, sizeof(*pairs));
        for (i = 0; i < v->u.map.len; i++)
            pairs[i] = &v->u.map.items[i];
        qsort(pairs, v->u.map.len, sizeof(*pairs), pair_cmp);
        for (i = 0; i < v->u.map.len; i++) {
            qmf_digest_update_string(ctx, pairs[i]->key);
            qmf_digest_update(ctx, pairs[i]->value);
        }
        free(pairs);
        break;
    case QMF_LIST:
        put_tagged_u64(ctx, TAG_LIST, v->u.list.len);
        for (i = 0; i < v->u.list.len; i++)
            qmf_digest_update(ctx, v->u.list.items[i]);
        break;
    }
}
