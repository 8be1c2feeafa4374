/* Unit tests for QMF schema types: names, wire kinds and qmf_coerce(). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/types.h"

/* Coerces a copy of v (consumed) to t; returns it, or NULL with err set. */
static qmf_value *
coerced(qmf_value *v, enum qmf_type t, qmf_error *err)
{
    qmf_error_clear(err);
    if (qmf_coerce(&v, t, "x", err) != 0) {
        cr_assert_eq(err->code, QMF_ERR_INVALID_ARGS, "code %u: %s",
                     err->code, err->text);
        qmf_free(v);
        return NULL;
    }
    cr_assert_eq(v->kind, qmf_type_kind(t), "coerced to %s, kind is %s",
                 qmf_type_name(t), qmf_kind_name(v->kind));
    return v;
}

static void
assert_fails(qmf_value *v, enum qmf_type t, const char *text)
{
    qmf_error err;
    qmf_value *r = coerced(v, t, &err);

    cr_assert_null(r, "coercion to %s succeeded", qmf_type_name(t));
    cr_assert_str_eq(err.text, text);
}

Test(qmf_types, names_round_trip)
{
    static const char *const names[] = {
        "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
        "int64", "bool", "float", "double", "sstr", "lstr", "absTime",
        "deltaTime", "objId", "uuid", "map", "list", "binary",
    };
    size_t i;

    cr_assert_eq(sizeof(names) / sizeof(names[0]), QMF_TYPE_COUNT);
    for (i = 0; i < QMF_TYPE_COUNT; i++) {
        cr_assert_eq(qmf_type_from_name(names[i]), (int)i, "%s", names[i]);
        cr_assert_str_eq(qmf_type_name((enum qmf_type)i), names[i]);
    }
    cr_assert_eq(qmf_type_from_name("string"), -1);
    cr_assert_eq(qmf_type_from_name("abstime"), -1, "names are case-sensitive");
    cr_assert_eq(qmf_type_from_name(NULL), -1);
}

Test(qmf_types, wire_kinds)
{
    cr_assert_eq(qmf_type_kind(QMF_T_UINT16), QMF_UINT16);
    cr_assert_eq(qmf_type_kind(QMF_T_SSTR), QMF_STRING);
    cr_assert_eq(qmf_type_kind(QMF_T_LSTR), QMF_STRING);
    cr_assert_eq(qmf_type_kind(QMF_T_ABSTIME), QMF_INT64);
    cr_assert_eq(qmf_type_kind(QMF_T_DELTATIME), QMF_INT64);
    cr_assert_eq(qmf_type_kind(QMF_T_OBJID), QMF_MAP);
    cr_assert_eq(qmf_type_kind(QMF_T_UUID), QMF_UUID);
    cr_assert_eq(qmf_type_kind(QMF_T_BINARY), QMF_BINARY);
}

Test(qmf_types, integers_within_range)
{
    qmf_error err;
    qmf_value *v;

    v = coerced(qmf_i64(255), QMF_T_UINT8, &err);
    cr_assert_eq(qmf_as_uint(v), 255);
    qmf_free(v);
    v = coerced(qmf_i64(-128), QMF_T_INT8, &err);
    cr_assert_eq(qmf_as_int(v), -128);
    qmf_free(v);
    v = coerced(qmf_u64(UINT64_MAX), QMF_T_UINT64, &err);
    cr_assert_eq(qmf_as_uint(v), UINT64_MAX);
    qmf_free(v);
    v = coerced(qmf_i64(INT64_MIN), QMF_T_INT64, &err);
    cr_assert_eq(qmf_as_int(v), INT64_MIN);
    qmf_free(v);
    v = coerced(qmf_u64(INT64_MAX), QMF_T_INT64, &err);
    cr_assert_eq(qmf_as_int(v), INT64_MAX);
    qmf_free(v);
    v = coerced(qmf_uint(QMF_UINT8, 7), QMF_T_INT16, &err);
    cr_assert_eq(qmf_as_int(v), 7);
    qmf_free(v);
    v = coerced(qmf_int(QMF_INT8, 7), QMF_T_UINT32, &err);
    cr_assert_eq(qmf_as_uint(v), 7);
    qmf_free(v);
}

Test(qmf_types, integers_out_of_range)
{
    assert_fails(qmf_i64(300), QMF_T_UINT8,
                 "argument 'x': value 300 out of range for uint8");
    assert_fails(qmf_i64(-1), QMF_T_UINT64,
                 "argument 'x': value -1 out of range for uint64");
    assert_fails(qmf_i64(-129), QMF_T_INT8,
                 "argument 'x': value -129 out of range for int8");
    assert_fails(qmf_i64(65536), QMF_T_UINT16,
                 "argument 'x': value 65536 out of range for uint16");
    assert_fails(qmf_i64(4294967296), QMF_T_UINT32,
                 "argument 'x': value 4294967296 out of range for uint32");
    assert_fails(qmf_i64(2147483648), QMF_T_INT32,
                 "argument 'x': value 2147483648 out of range for int32");
    assert_fails(qmf_u64(UINT64_MAX), QMF_T_INT64,
                 "argument 'x': value 18446744073709551615 out of range for int64");
    assert_fails(qmf_u64((uint64_t)INT64_MAX + 1), QMF_T_ABSTIME,
                 "argument 'x': value 9223372036854775808 out of range for absTime");
}

/* The probe's integral doubles for a uint32: refused, not converted. */
Test(qmf_types, floating_values_are_never_integers)
{
    assert_fails(qmf_double(3.0), QMF_T_UINT32, "argument 'x': expected uint32, got double");
    assert_fails(qmf_double(-2.0), QMF_T_INT16, "argument 'x': expected int16, got double");
    assert_fails(qmf_double(1e9), QMF_T_DELTATIME,
                 "argument 'x': expected deltaTime, got double");
    assert_fails(qmf_float(1.0f), QMF_T_UINT64, "argument 'x': expected uint64, got float");
    assert_fails(qmf_double(1.5), QMF_T_UINT32, "argument 'x': expected uint32, got double");
    assert_fails(qmf_double(NAN), QMF_T_INT64, "argument 'x': expected int64, got double");
}

Test(qmf_types, wrong_kinds_name_both_sides)
{
    qmf_value *v = qmf_string("1024");
    qmf_error err;

    cr_assert_neq(qmf_coerce(&v, QMF_T_UINT64, "memory", &err), 0);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_str_eq(err.text, "argument 'memory': expected uint64, got string");
    cr_assert_eq(v->kind, QMF_STRING, "a failed coercion leaves the value");
    cr_assert_str_eq(qmf_as_string(v), "1024");
    qmf_free(v);

    assert_fails(qmf_i64(1), QMF_T_BOOL, "argument 'x': expected bool, got int64");
    assert_fails(qmf_string("true"), QMF_T_BOOL,
                 "argument 'x': expected bool, got string");
    assert_fails(qmf_bool(true), QMF_T_INT32,
                 "argument 'x': expected int32, got bool");
    assert_fails(qmf_i64(5), QMF_T_SSTR, "argument 'x': expected sstr, got int64");
    assert_fails(qmf_string("1.5"), QMF_T_DOUBLE,
                 "argument 'x': expected double, got string");
    assert_fails(qmf_list(), QMF_T_MAP, "argument 'x': expected map, got list");
    assert_fails(qmf_map(), QMF_T_LIST, "argument 'x': expected list, got map");
    assert_fails(qmf_void(), QMF_T_LSTR, "argument 'x': expected lstr, got void");
}

Test(qmf_types, missing_value_and_name)
{
    qmf_value *v = NULL, *s = qmf_string("a");
    qmf_error err;

    cr_assert_neq(qmf_coerce(&v, QMF_T_UINT8, "count", &err), 0);
    cr_assert_str_eq(err.text, "argument 'count': expected uint8, got nothing");
    cr_assert_neq(qmf_coerce(&s, QMF_T_UINT8, NULL, &err), 0);
    cr_assert_str_eq(err.text, "argument '?': expected uint8, got string");
    qmf_free(s);
}

Test(qmf_types, booleans_stay_booleans)
{
    qmf_error err;
    qmf_value *v = coerced(qmf_bool(false), QMF_T_BOOL, &err);

    cr_assert_not(qmf_as_bool(v));
    qmf_free(v);
}

Test(qmf_types, floating_types)
{
    qmf_error err;
    qmf_value *v;

    v = coerced(qmf_i64(3), QMF_T_FLOAT, &err);
    cr_assert_eq(qmf_as_float(v), 3.0f);
    qmf_free(v);
    v = coerced(qmf_double(0.1), QMF_T_FLOAT, &err);
    cr_assert_eq(qmf_as_float(v), 0.1f, "rounded to the nearest float");
    qmf_free(v);
    v = coerced(qmf_u64(UINT64_MAX), QMF_T_DOUBLE, &err);
    cr_assert_eq(qmf_as_double(v), 18446744073709551616.0);
    qmf_free(v);
    v = coerced(qmf_float(0.5f), QMF_T_DOUBLE, &err);
    cr_assert_eq(qmf_as_double(v), 0.5);
    qmf_free(v);
    v = coerced(qmf_double(INFINITY), QMF_T_FLOAT, &err);
    cr_assert(isinf(qmf_as_float(v)));
    qmf_free(v);
    assert_fails(qmf_double(1e300), QMF_T_FLOAT,
                 "argument 'x': value 1.0000000000000001e+300 out of range for float");
}

Test(qmf_types, sstr_and_lstr_lengths)
{
    char *s = malloc(100001);
    qmf_error err;
    qmf_value *v;

    memset(s, 'a', 100000);
    s[100000] = '\0';
    v = coerced(qmf_stringn(s, 255), QMF_T_SSTR, &err);
    cr_assert_eq(qmf_bytes_len(v), 255);
    qmf_free(v);
    assert_fails(qmf_stringn(s, 256), QMF_T_SSTR,
                 "argument 'x': string of 256 bytes is too long for sstr (at most 255)");
    v = coerced(qmf_string(s), QMF_T_LSTR, &err);
    cr_assert_eq(qmf_bytes_len(v), 100000, "lstr has no 64 KiB cap");
    qmf_free(v);
    free(s);
}

static const uint8_t sample_uuid[16] = {
    0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
};
#define SAMPLE_UUID_TEXT "deadbeef-0001-0203-0405-060708090a0b"

Test(qmf_types, uuids_from_text_and_to_text)
{
    qmf_error err;
    qmf_value *v;

    v = coerced(qmf_string(SAMPLE_UUID_TEXT), QMF_T_UUID, &err);
    cr_assert_eq(memcmp(qmf_as_uuid(v), sample_uuid, 16), 0);
    qmf_free(v);
    v = coerced(qmf_uuid(sample_uuid), QMF_T_UUID, &err);
    cr_assert_eq(memcmp(qmf_as_uuid(v), sample_uuid, 16), 0);
    qmf_free(v);
    v = coerced(qmf_uuid(sample_uuid), QMF_T_SSTR, &err);
    cr_assert_str_eq(qmf_as_string(v), SAMPLE_UUID_TEXT);
    qmf_free(v);
    assert_fails(qmf_string("deadbeef"), QMF_T_UUID,
                 "argument 'x': 'deadbeef' is not a UUID "
                 "(expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
    assert_fails(qmf_stringn(SAMPLE_UUID_TEXT "\0", 37), QMF_T_UUID,
                 "argument 'x': '" SAMPLE_UUID_TEXT "' is not a UUID "
                 "(expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
    assert_fails(qmf_i64(1), QMF_T_UUID, "argument 'x': expected uuid, got int64");
}

Test(qmf_types, binary_from_base64)
{
    qmf_error err;
    qmf_value *v;

    v = coerced(qmf_string("AAEC/w=="), QMF_T_BINARY, &err);
    cr_assert_eq(qmf_bytes_len(v), 4);
    cr_assert_eq(memcmp(qmf_as_bytes(v), "\x00\x01\x02\xff", 4), 0);
    qmf_free(v);
    v = coerced(qmf_string("AAE="), QMF_T_BINARY, &err);
    cr_assert_eq(qmf_bytes_len(v), 2);
    qmf_free(v);
    v = coerced(qmf_string("AAEC"), QMF_T_BINARY, &err);
    cr_assert_eq(qmf_bytes_len(v), 3);
    qmf_free(v);
    v = coerced(qmf_string(""), QMF_T_BINARY, &err);
    cr_assert_eq(qmf_bytes_len(v), 0);
    qmf_free(v);
    v = coerced(qmf_binary("\x01", 1), QMF_T_BINARY, &err);
    cr_assert_eq(qmf_bytes_len(v), 1);
    qmf_free(v);
    assert_fails(qmf_string("abc"), QMF_T_BINARY,
                 "argument 'x': expected binary, got a string that is not base64");
    assert_fails(qmf_string("ab!?"), QMF_T_BINARY,
                 "argument 'x': expected binary, got a string that is not base64");
    assert_fails(qmf_bool(true), QMF_T_BINARY,
                 "argument 'x': expected binary, got bool");
}

static qmf_value *
objid(const char *agent, const char *object)
{
    qmf_value *m = qmf_map();

    if (agent != NULL)
        qmf_map_set(m, "_agent_name", qmf_string(agent));
    if (object != NULL)
        qmf_map_set(m, "_object_name", qmf_string(object));
    return m;
}

Test(qmf_types, object_ids)
{
    qmf_error err;
    qmf_value *v, *bad;

    v = coerced(objid("virtbus:agent:n1", "node"), QMF_T_OBJID, &err);
    cr_assert_str_eq(qmf_map_get_string(v, "_object_name"), "node");
    qmf_free(v);
    assert_fails(objid("virtbus:agent:n1", NULL), QMF_T_OBJID,
                 "argument 'x': objId needs string keys '_agent_name' and "
                 "'_object_name'");
    bad = objid(NULL, "node");
    qmf_map_set(bad, "_agent_name", qmf_i64(1));
    assert_fails(bad, QMF_T_OBJID,
                 "argument 'x': objId needs string keys '_agent_name' and "
                 "'_object_name'");
    bad = objid("a", "b");
    qmf_map_set(bad, "_agent_epoch", qmf_i64(1));
    assert_fails(bad, QMF_T_OBJID,
                 "argument 'x': unexpected key '_agent_epoch' in objId");
    assert_fails(qmf_string("node"), QMF_T_OBJID,
                 "argument 'x': expected objId, got string");
}

Test(qmf_types, containers_keep_their_contents)
{
    qmf_error err;
    qmf_value *m = qmf_map(), *v;

    qmf_map_set(m, "a", qmf_i64(1));
    v = coerced(m, QMF_T_MAP, &err);
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "a")), 1);
    qmf_free(v);
    v = coerced(qmf_list(), QMF_T_LIST, &err);
    cr_assert_eq(qmf_list_len(v), 0);
    qmf_free(v);
}
