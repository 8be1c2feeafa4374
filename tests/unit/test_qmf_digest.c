/*
 * Tests of canonical value digests: what must hash alike (the same value
 * however it travelled) and what must not (anything that changes it).
 */
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "core/codec.h"
#include "core/digest.h"
#include "core/value.h"
#include "tests/testutil.h"

static void
digest_of(const qmf_value *v, unsigned char out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned len = 0;

    cr_assert_not_null(ctx);
    cr_assert_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    qmf_digest_update(ctx, v);
    cr_assert_eq(EVP_DigestFinal_ex(ctx, out, &len), 1);
    cr_assert_eq(len, 32);
    EVP_MD_CTX_free(ctx);
}

static bool
same_digest(const qmf_value *a, const qmf_value *b)
{
    unsigned char da[32], db[32];

    digest_of(a, da);
    digest_of(b, db);
    return memcmp(da, db, sizeof(da)) == 0;
}

static qmf_value *
json(const char *text)
{
    qmf_error err;
    qmf_value *v = qmf_from_json(text, strlen(text), &err);

    cr_assert_not_null(v, "%s: %s", text, err.text);
    return v;
}

Test(qmf_digest, the_same_value_in_any_key_order_or_codec_hashes_alike)
{
    qmf_value *a = json("{\"_method_name\": \"destroy\", \"_arguments\": {\"flags\": 1, "
                        "\"path\": \"/x\"}, \"_object_id\": {\"_object_name\": \"domain:1\"}}");
    qmf_value *b = json("{\"_object_id\": {\"_object_name\": \"domain:1\"}, \"_arguments\": "
                        "{\"path\": \"/x\", \"flags\": 1}, \"_method_name\": \"destroy\"}");
    qmf_value *typed = qmf_map(), *args, *via_amqp;
    char *buf;
    size_t len;

    cr_assert(same_digest(a, b), "key order changes nothing");
    /* As an AMQP console would send it: flags a uint32, not JSON's int64. */
    qmf_map_set(typed, "_method_name", qmf_string("destroy"));
    args = qmf_map_set(typed, "_arguments", qmf_map());
    qmf_map_set(args, "flags", qmf_u32(1));
    qmf_map_set(args, "path", qmf_string("/x"));
    qmf_map_set(qmf_map_set(typed, "_object_id", qmf_map()), "_object_name",
                qmf_string("domain:1"));
    cr_assert_eq(qmf_to_amqp(typed, &buf, &len), 0);
    via_amqp = qmf_from_amqp(buf, len, NULL);
    cr_assert_not_null(via_amqp);
    cr_assert(same_digest(a, via_amqp), "neither the codec nor the integer width counts");
    free(buf);
    qmf_free(a);
    qmf_free(b);
    qmf_free(typed);
    qmf_free(via_amqp);
}

Test(qmf_digest, any_change_of_the_value_changes_the_digest)
{
    static const char *const values[] = {
        "{\"m\": \"destroy\"}",
        "{\"m\": \"create\"}",
        "{\"m\": \"destroy\", \"a\": {}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": 5}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": -5}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": \"5\"}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": 5.0}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": null}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": true}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": [1, 2]}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": [2, 1]}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": [[1], 2]}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": {\"1\": 2}}}",
        "{\"m\": \"destroy\", \"a\": {\"n1\": 2}}",
        "{\"md\": \"estroy\"}",
        "[\"m\", \"destroy\"]",
        "\"mdestroy\"",
        "{\"m\": \"destroy\", \"a\": {\"n\": 18446744073709551615}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": -9223372036854775808}}",
        "{\"m\": \"destroy\", \"a\": {\"n\": 9223372036854775807}}",
    };
    size_t n = sizeof(values) / sizeof(values[0]), i, k;
    unsigned char (*d)[32] = qmf_xcalloc(n, sizeof(*d));

    for (i = 0; i < n; i++) {
        qmf_value *v = json(values[i]);

        digest_of(v, d[i]);
        qmf_free(v);
    }
    for (i = 0; i < n; i++)
        for (k = i + 1; k < n; k++)
            cr_assert_neq(memcmp(d[i], d[k], 32), 0, "%s and %s hash alike", values[i],
                          values[k]);
    free(d);
}

Test(qmf_digest, null_differs_from_every_value_and_strings_are_length_prefixed)
{
    qmf_value *empty = qmf_string(""), *v = qmf_void();
    unsigned char dn[32], de[32], dv[32];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char split[2][32];
    unsigned len;
    int i;

    digest_of(NULL, dn);
    digest_of(empty, de);
    digest_of(v, dv);
    cr_assert_neq(memcmp(dn, de, 32), 0);
    cr_assert_neq(memcmp(dn, dv, 32), 0);
    /* "ab" + "c" and "a" + "bc" are different sequences. */
    for (i = 0; i < 2; i++) {
        cr_assert_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        qmf_digest_update_string(ctx, i == 0 ? "ab" : "a");
        qmf_digest_update_string(ctx, i == 0 ? "c" : "bc");
        cr_assert_eq(EVP_DigestFinal_ex(ctx, split[i], &len), 1);
    }
    cr_assert_neq(memcmp(split[0], split[1], 32), 0);
    EVP_MD_CTX_free(ctx);
    qmf_free(empty);
    qmf_free(v);
}

/* The canonical bytes, written out by hand from digest.h's description. */
static void
put_string(struct test_bytes *s, const char *str, size_t n)
{
    test_bytes_put_u8(s, 's');
    test_bytes_put_be(s, n, 8);
    test_bytes_put(s, str, n);
}

static void
assert_digest_is(const qmf_value *v, const struct test_bytes *s)
{
    unsigned char got[32], want[32];
    unsigned len = 0;

    digest_of(v, got);
    cr_assert_eq(EVP_Digest(s->b, s->n, want, &len, EVP_sha256(), NULL), 1);
    cr_assert_arr_eq(got, want, sizeof(got), "the digest is of the bytes digest.h describes");
}

Test(qmf_digest, the_bytes_are_those_the_header_describes)
{
    static char long_text[1000];
    qmf_value *v = json("{\"t\": true, \"s\": \"ab\", \"n\": 7, \"m\": {}, \"l\": [1.5, \"c\"], "
                        "\"i\": -5}");
    struct test_bytes s = { .n = 0 };
    double d = 1.5;
    uint64_t bits;

    /* Keys sorted bytewise: i, l, m, n, s, t. */
    test_bytes_put_u8(&s, 'm');
    test_bytes_put_be(&s, 6, 8);
    put_string(&s, "i", 1);
    test_bytes_put_u8(&s, 'i');
    test_bytes_put_u8(&s, '-');
    test_bytes_put_be(&s, 5, 8);
    put_string(&s, "l", 1);
    test_bytes_put_u8(&s, 'l');
    test_bytes_put_be(&s, 2, 8);
    memcpy(&bits, &d, sizeof(bits));
    test_bytes_put_u8(&s, 'd');
    test_bytes_put_be(&s, bits, 8);
    put_string(&s, "c", 1);
    put_string(&s, "m", 1);
    test_bytes_put_u8(&s, 'm');
    test_bytes_put_be(&s, 0, 8);
    put_string(&s, "n", 1);
    test_bytes_put_u8(&s, 'i');
    test_bytes_put_u8(&s, '+');
    test_bytes_put_be(&s, 7, 8);
    put_string(&s, "s", 1);
    put_string(&s, "ab", 2);
    put_string(&s, "t", 1);
    test_bytes_put_u8(&s, 'b');
    test_bytes_put_u8(&s, 1);
    assert_digest_is(v, &s);
    qmf_free(v);

    /* A string longer than any buffer on the way. */
    memset(long_text, 'a', sizeof(long_text));
    v = qmf_stringn(long_text, sizeof(long_text));
    s.n = 0;
    put_string(&s, long_text, sizeof(long_text));
    assert_digest_is(v, &s);
    qmf_free(v);
}

Test(qmf_digest, an_integer_fed_alone_hashes_as_its_value)
{
    static const int64_t values[] = { 0, 1, -1, 1234567890123LL, INT64_MAX, INT64_MIN };
    size_t i;

    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        qmf_value *v = qmf_i64(values[i]);
        unsigned char a[32], b[32];
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned len = 0;

        cr_assert_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        qmf_digest_update_i64(ctx, values[i]);
        cr_assert_eq(EVP_DigestFinal_ex(ctx, a, &len), 1);
        EVP_MD_CTX_free(ctx);
        digest_of(v, b);
        cr_assert_arr_eq(a, b, sizeof(a), "%lld", (long long)values[i]);
        qmf_free(v);
    }
}
