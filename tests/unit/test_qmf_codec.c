/* Unit tests for the QMF codecs: AMQP 1.0 (exact) and JSON (+ qmf_coerce). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <proton/codec.h>

#include "core/codec_amqp.h"
#include "core/types.h"

static const uint8_t sample_uuid[16] = {
    0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
};

static qmf_value *
amqp_round_trip(const qmf_value *v)
{
    char *buf = NULL;
    size_t len = 0;
    qmf_error err;
    qmf_value *back;

    cr_assert_eq(qmf_to_amqp(v, &buf, &len), 0);
    back = qmf_from_amqp(buf, len, &err);
    cr_assert_not_null(back, "decode failed: %s", err.text);
    free(buf);
    return back;
}

static qmf_value *
json_decode_ok(const char *text, size_t len)
{
    qmf_error err;
    qmf_value *v = qmf_from_json(text, len, &err);

    cr_assert_not_null(v, "'%s' did not parse: %s", text, err.text);
    return v;
}

static qmf_value *
every_kind(void)
{
    qmf_value *m = qmf_map(), *l;

    qmf_map_set(m, "void", qmf_void());
    qmf_map_set(m, "bool", qmf_bool(true));
    qmf_map_set(m, "uint8", qmf_uint(QMF_UINT8, UINT8_MAX));
    qmf_map_set(m, "uint16", qmf_uint(QMF_UINT16, UINT16_MAX));
    qmf_map_set(m, "uint32", qmf_u32(UINT32_MAX));
    qmf_map_set(m, "uint64", qmf_u64(UINT64_MAX));
    qmf_map_set(m, "int8", qmf_int(QMF_INT8, INT8_MIN));
    qmf_map_set(m, "int16", qmf_int(QMF_INT16, INT16_MIN));
    qmf_map_set(m, "int32", qmf_i32(INT32_MIN));
    qmf_map_set(m, "int64", qmf_i64(INT64_MIN));
    qmf_map_set(m, "float", qmf_float(0.1f));
    qmf_map_set(m, "double", qmf_double(-1e-300));
    qmf_map_set(m, "uuid", qmf_uuid(sample_uuid));
    qmf_map_set(m, "string", qmf_string("h\xc3\xa9llo \xf0\x9f\x8c\x8d world"));
    qmf_map_set(m, "empty", qmf_string(""));
    qmf_map_set(m, "binary", qmf_binary("\x00\xff\x80", 3));
    qmf_map_set(qmf_map_set(m, "map", qmf_map()), "inner", qmf_i64(1));
    qmf_map_set(m, "emptymap", qmf_map());
    l = qmf_map_set(m, "list", qmf_list());
    qmf_list_append(l, qmf_string("a"));
    qmf_list_append(l, qmf_list());
    qmf_list_append(l, qmf_double(2.5));
    return m;
}

Test(qmf_codec, amqp_round_trip_of_every_kind_is_exact)
{
    qmf_value *v = every_kind(), *back = amqp_round_trip(v);
    size_t i;

    cr_assert(qmf_equal(v, back));
    /* Each kind also on its own, as the top-level value. */
    for (i = 0; i < qmf_map_len(v); i++) {
        qmf_value *one = amqp_round_trip(qmf_map_at(v, i)->value);

        cr_assert(qmf_equal(one, qmf_map_at(v, i)->value), "%s",
                  qmf_map_at(v, i)->key);
        qmf_free(one);
    }
    qmf_free(v);
    qmf_free(back);
}

Test(qmf_codec, amqp_keeps_nan_and_infinity)
{
    qmf_value *nan = qmf_double(NAN), *inf = qmf_float(-INFINITY);
    qmf_value *nan2 = amqp_round_trip(nan), *inf2 = amqp_round_trip(inf);

    cr_assert_eq(nan2->kind, QMF_DOUBLE);
    cr_assert(isnan(qmf_as_double(nan2)));
    cr_assert(qmf_equal(inf, inf2));
    qmf_free(nan);
    qmf_free(inf);
    qmf_free(nan2);
    qmf_free(inf2);
}

Test(qmf_codec, amqp_large_body_grows_the_buffer)
{
    qmf_value *l = qmf_list(), *back;
    int i;

    for (i = 0; i < 2000; i++)
        qmf_list_append(l, qmf_stringf("domain-%04d-with-a-longer-name", i));
    back = amqp_round_trip(l);
    cr_assert(qmf_equal(l, back));
    qmf_free(l);
    qmf_free(back);
}

Test(qmf_codec, amqp_over_proton_node_limit_is_an_error)
{
    qmf_value *l = qmf_list();
    char *buf = NULL;
    size_t len = 0;
    int i;

    for (i = 0; i < 70000; i++)
        qmf_list_append(l, qmf_bool(true));
    cr_assert_lt(qmf_to_amqp(l, &buf, &len), 0);
    cr_assert_null(buf);
    qmf_free(l);
}

Test(qmf_codec, pn_data_put_and_get_leave_the_cursor_usable)
{
    pn_data_t *data = pn_data(0);
    qmf_value *v = every_kind(), *first, *second;
    qmf_error err;

    cr_assert_eq(qmf_put_pn_data(data, v), 0);
    cr_assert_eq(pn_data_put_int(data, 42), 0);
    pn_data_rewind(data);
    cr_assert(pn_data_next(data));
    first = qmf_get_pn_data(data, &err);
    cr_assert_not_null(first, "%s", err.text);
    cr_assert(pn_data_next(data), "cursor stays on the value just read");
    second = qmf_get_pn_data(data, &err);
    cr_assert(qmf_equal(first, v));
    cr_assert_eq(second->kind, QMF_INT32);
    cr_assert_eq(qmf_as_int(second), 42);
    cr_assert_not(pn_data_next(data));
    qmf_free(v);
    qmf_free(first);
    qmf_free(second);
    pn_data_free(data);
}

/* Encodes what `fill` put into a fresh pn_data_t, then decodes it with us. */
static qmf_value *
decode_foreign(void (*fill)(pn_data_t *), qmf_error *err)
{
    pn_data_t *data = pn_data(0);
    char buf[512];
    ssize_t n;
    qmf_value *v;

    fill(data);
    n = pn_data_encode(data, buf, sizeof(buf));
    cr_assert_gt(n, 0);
    pn_data_free(data);
    v = qmf_from_amqp(buf, (size_t)n, err);
    return v;
}

static void
fill_foreign_types(pn_data_t *d)
{
    pn_data_put_map(d);
    pn_data_enter(d);
    pn_data_put_symbol(d, pn_bytes(4, "name"));
    pn_data_put_symbol(d, pn_bytes(5, "web-1"));
    pn_data_put_string(d, pn_bytes(4, "when"));
    pn_data_put_timestamp(d, 1700000000123);
    pn_data_put_string(d, pn_bytes(4, "char"));
    pn_data_put_char(d, 0x1F600);
    pn_data_put_string(d, pn_bytes(5, "array"));
    pn_data_put_array(d, false, PN_INT);
    pn_data_enter(d);
    pn_data_put_int(d, 1);
    pn_data_put_int(d, 2);
    pn_data_exit(d);
    pn_data_put_string(d, pn_bytes(9, "described"));
    pn_data_put_described(d);
    pn_data_enter(d);
    pn_data_put_symbol(d, pn_bytes(10, "qmf:object"));
    pn_data_put_ulong(d, 7);
    pn_data_exit(d);
    pn_data_put_string(d, pn_bytes(6, "darray"));
    pn_data_put_array(d, true, PN_STRING);
    pn_data_enter(d);
    pn_data_put_symbol(d, pn_bytes(4, "desc"));
    pn_data_put_string(d, pn_bytes(1, "x"));
    pn_data_exit(d);
    pn_data_exit(d);
}

Test(qmf_codec, amqp_decodes_what_other_peers_send)
{
    qmf_error err;
    qmf_value *v = decode_foreign(fill_foreign_types, &err), *arr;

    cr_assert_not_null(v, "%s", err.text);
    cr_assert_str_eq(qmf_map_get_string(v, "name"), "web-1", "symbol key and value");
    cr_assert_eq(qmf_map_get(v, "when")->kind, QMF_INT64);
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "when")), INT64_C(1700000000123000000),
                 "timestamp ms become absTime ns");
    cr_assert_eq(qmf_map_get(v, "char")->kind, QMF_UINT32);
    cr_assert_eq(qmf_as_uint(qmf_map_get(v, "char")), 0x1F600);
    arr = qmf_map_get(v, "array");
    cr_assert_eq(arr->kind, QMF_LIST);
    cr_assert_eq(qmf_list_len(arr), 2);
    cr_assert_eq(qmf_list_at(arr, 1)->kind, QMF_INT32);
    cr_assert_eq(qmf_as_int(qmf_list_at(arr, 1)), 2);
    cr_assert_eq(qmf_map_get(v, "described")->kind, QMF_UINT64);
    cr_assert_eq(qmf_as_uint(qmf_map_get(v, "described")), 7);
    arr = qmf_map_get(v, "darray");
    cr_assert_eq(qmf_list_len(arr), 1);
    cr_assert_str_eq(qmf_as_string(qmf_list_at(arr, 0)), "x");
    qmf_free(v);
}

static void
fill_int_key(pn_data_t *d)
{
    pn_data_put_map(d);
    pn_data_enter(d);
    pn_data_put_int(d, 1);
    pn_data_put_string(d, pn_bytes(1, "x"));
    pn_data_exit(d);
}

static void
fill_decimal(pn_data_t *d)
{
    pn_data_put_list(d);
    pn_data_enter(d);
    pn_data_put_decimal32(d, 0);
    pn_data_exit(d);
}

static void
fill_nul_key(pn_data_t *d)
{
    pn_data_put_map(d);
    pn_data_enter(d);
    pn_data_put_string(d, pn_bytes(3, "a\0b"));
    pn_data_put_null(d);
    pn_data_exit(d);
}

Test(qmf_codec, amqp_refuses_what_qmf_cannot_carry)
{
    qmf_error err;

    cr_assert_null(decode_foreign(fill_int_key, &err));
    cr_assert_eq(err.code, QMF_ERR_MALFORMED);
    cr_assert_str_eq(err.text, "malformed AMQP body: map key of type PN_INT "
                     "(only string keys are allowed)");
    cr_assert_null(decode_foreign(fill_decimal, &err));
    cr_assert_eq(err.code, QMF_ERR_MALFORMED);
    cr_assert_str_eq(err.text, "malformed AMQP body: unsupported type PN_DECIMAL32");
    cr_assert_null(decode_foreign(fill_nul_key, &err));
    cr_assert_str_eq(err.text, "malformed AMQP body: map key contains a NUL byte");
}

Test(qmf_codec, amqp_garbage_is_malformed)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        { "\xff\xff\xff", 3 },                  /* no such constructor */
        { "\xa1\x10hello", 7 },                 /* string shorter than said */
        { "\xc1\x05\x02\xa1\x01", 5 },          /* map cut short */
        { "\x40\x40", 2 },                      /* two values, not one */
        { "", 0 },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        qmf_error err;
        qmf_value *v = qmf_from_amqp(cases[i].bytes, cases[i].len, &err);

        cr_assert_null(v, "case %zu decoded", i);
        cr_assert_eq(err.code, QMF_ERR_MALFORMED, "case %zu: %s", i, err.text);
        cr_assert(strncmp(err.text, "malformed AMQP body: ", 21) == 0 &&
                  strlen(err.text) > 21, "case %zu: '%s'", i, err.text);
    }
}

static qmf_value *
nested_lists(int depth)
{
    qmf_value *v = qmf_list(), *inner = v;
    int i;

    for (i = 1; i < depth; i++)
        inner = qmf_list_append(inner, qmf_list());
    return v;
}

Test(qmf_codec, amqp_nesting_is_bounded)
{
    qmf_value *ok = nested_lists(65), *deep = nested_lists(66), *back;
    char *buf;
    size_t len;
    qmf_error err;

    /* The top level is depth 0, so 65 lists are 64 levels of nesting. */
    back = amqp_round_trip(ok);
    cr_assert(qmf_equal(ok, back));
    cr_assert_eq(qmf_to_amqp(deep, &buf, &len), 0);
    cr_assert_null(qmf_from_amqp(buf, len, &err));
    cr_assert_str_eq(err.text, "malformed AMQP body: a value nested inside more than 64 containers");
    free(buf);
    qmf_free(ok);
    qmf_free(deep);
    qmf_free(back);
}

/* One row per schema type: a value of that type's wire kind. */
struct typed_case {
    enum qmf_type type;
    qmf_value *value;
};

static qmf_value *
objid_value(void)
{
    qmf_value *m = qmf_map();

    qmf_map_set(m, "_agent_name", qmf_string("virtbus:agent:node1"));
    qmf_map_set(m, "_object_name", qmf_string("domain:6ba7b810"));
    return m;
}

static size_t
typed_cases(struct typed_case *c)
{
    char bytes[256];
    qmf_value *m, *l;
    size_t n = 0;
    int i;

    for (i = 0; i < 256; i++)
        bytes[i] = (char)i;
#define ROW(t, v) (c[n].type = (t), c[n].value = (v), n++)
    ROW(QMF_T_UINT8, qmf_uint(QMF_UINT8, 0));
    ROW(QMF_T_UINT8, qmf_uint(QMF_UINT8, UINT8_MAX));
    ROW(QMF_T_UINT16, qmf_uint(QMF_UINT16, UINT16_MAX));
    ROW(QMF_T_UINT32, qmf_u32(UINT32_MAX));
    ROW(QMF_T_UINT64, qmf_u64(0));
    ROW(QMF_T_UINT64, qmf_u64((uint64_t)INT64_MAX + 1));
    ROW(QMF_T_UINT64, qmf_u64(UINT64_MAX));
    ROW(QMF_T_INT8, qmf_int(QMF_INT8, INT8_MIN));
    ROW(QMF_T_INT8, qmf_int(QMF_INT8, INT8_MAX));
    ROW(QMF_T_INT16, qmf_int(QMF_INT16, INT16_MIN));
    ROW(QMF_T_INT32, qmf_i32(INT32_MIN));
    ROW(QMF_T_INT32, qmf_i32(-1));
    ROW(QMF_T_INT64, qmf_i64(INT64_MIN));
    ROW(QMF_T_INT64, qmf_i64(INT64_MAX));
    ROW(QMF_T_FLOAT, qmf_float(0.1f));
    ROW(QMF_T_FLOAT, qmf_float(3.4028235e38f));
    ROW(QMF_T_FLOAT, qmf_float(-1.0f));
    ROW(QMF_T_FLOAT, qmf_float(1.4e-45f));
    ROW(QMF_T_DOUBLE, qmf_double(0.1));
    ROW(QMF_T_DOUBLE, qmf_double(-2.0));
    ROW(QMF_T_DOUBLE, qmf_double(1.7976931348623157e308));
    ROW(QMF_T_DOUBLE, qmf_double(4.9406564584124654e-324));
    ROW(QMF_T_DOUBLE, qmf_double(1.0 / 3.0));
    ROW(QMF_T_BOOL, qmf_bool(true));
    ROW(QMF_T_BOOL, qmf_bool(false));
    ROW(QMF_T_SSTR, qmf_string("web-1 \"quoted\" / back\\slash \n\t h\xc3\xa9"));
    ROW(QMF_T_SSTR, qmf_string(""));
    ROW(QMF_T_LSTR, qmf_string("<domain>\xe2\x82\xac</domain>"));
    ROW(QMF_T_ABSTIME, qmf_i64(INT64_C(1700000000123456789)));
    ROW(QMF_T_DELTATIME, qmf_i64(-5));
    ROW(QMF_T_OBJID, objid_value());
    ROW(QMF_T_UUID, qmf_uuid(sample_uuid));
    m = qmf_map();
    qmf_map_set(m, "tier", qmf_string("gold"));
    qmf_map_set(m, "n", qmf_i64(-3));
    qmf_map_set(m, "x", qmf_double(0.5));
    qmf_map_set(m, "on", qmf_bool(true));
    qmf_map_set(m, "none", qmf_void());
    qmf_map_set(qmf_map_set(m, "nested", qmf_map()), "deep", qmf_list());
    ROW(QMF_T_MAP, m);
    l = qmf_list();
    qmf_list_append(l, qmf_i64(1));
    qmf_list_append(l, qmf_string("two"));
    qmf_list_append(l, qmf_u64(UINT64_MAX));
    ROW(QMF_T_LIST, l);
    ROW(QMF_T_BINARY, qmf_binary(bytes, sizeof(bytes)));
    ROW(QMF_T_BINARY, qmf_binary("", 0));
    ROW(QMF_T_BINARY, qmf_binary("a", 1));
    ROW(QMF_T_BINARY, qmf_binary("ab", 2));
#undef ROW
    return n;
}

Test(qmf_codec, json_round_trip_then_coerce_restores_every_type)
{
    struct typed_case cases[64];
    bool seen[QMF_TYPE_COUNT] = { false };
    size_t n = typed_cases(cases), i;
    int t;

    for (i = 0; i < n; i++) {
        size_t len;
        char *text = qmf_to_json(cases[i].value, &len);
        qmf_value *back = json_decode_ok(text, len);
        qmf_error err;

        cr_assert_eq(strlen(text), len);
        cr_assert_eq(qmf_coerce(&back, cases[i].type, "v", &err), 0,
                     "%s from %s: %s", qmf_type_name(cases[i].type), text,
                     err.text);
        cr_assert(qmf_equal(back, cases[i].value), "%s did not survive %s",
                  qmf_type_name(cases[i].type), text);
        seen[cases[i].type] = true;
        free(text);
        qmf_free(back);
        qmf_free(cases[i].value);
    }
    for (t = 0; t < QMF_TYPE_COUNT; t++)
        cr_assert(seen[t], "no case for %s", qmf_type_name((enum qmf_type)t));
}

static void
assert_json_text(qmf_value *v, const char *want)
{
    size_t len;
    char *text = qmf_to_json(v, &len);

    cr_assert_str_eq(text, want);
    cr_assert_eq(len, strlen(want));
    free(text);
    qmf_free(v);
}

Test(qmf_codec, json_text_is_plain_and_short)
{
    qmf_value *m = qmf_map();

    assert_json_text(qmf_u64(UINT64_MAX), "18446744073709551615");
    assert_json_text(qmf_i64(INT64_MIN), "-9223372036854775808");
    assert_json_text(qmf_double(0.1), "0.1");
    assert_json_text(qmf_float(0.1f), "0.1");
    assert_json_text(qmf_double(2.0), "2.0");
    assert_json_text(qmf_double(1e300), "1e+300");
    assert_json_text(qmf_double(NAN), "null");
    assert_json_text(qmf_float(INFINITY), "null");
    assert_json_text(qmf_void(), "null");
    assert_json_text(qmf_uuid(sample_uuid), "\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\"");
    assert_json_text(qmf_binary("\x00\x01\x02\xff", 4), "\"AAEC/w==\"");
    assert_json_text(qmf_stringn("a/b\0c", 5), "\"a/b\\u0000c\"");
    qmf_map_set(m, "k", qmf_list());
    qmf_list_append(qmf_map_get(m, "k"), qmf_bool(false));
    assert_json_text(m, "{\"k\":[false]}");
}

Test(qmf_codec, json_decodes_to_its_own_kinds)
{
    static const char text[] =
        "{\"i\": -7, \"big\": 9223372036854775808, \"d\": 1.5, \"e\": 1e3,"
        " \"s\": \"a\\u00e9\\ud83c\\udf0db\", \"t\": true, \"n\": null, \"l\": [], \"m\": {}}";
    qmf_value *v = json_decode_ok(text, sizeof(text) - 1), *s;

    cr_assert_eq(qmf_map_get(v, "i")->kind, QMF_INT64);
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "i")), -7);
    cr_assert_eq(qmf_map_get(v, "big")->kind, QMF_UINT64);
    cr_assert_eq(qmf_as_uint(qmf_map_get(v, "big")), UINT64_C(9223372036854775808));
    cr_assert_eq(qmf_map_get(v, "d")->kind, QMF_DOUBLE);
    cr_assert_eq(qmf_map_get(v, "e")->kind, QMF_DOUBLE);
    cr_assert_eq(qmf_as_double(qmf_map_get(v, "e")), 1000.0);
    s = qmf_map_get(v, "s");
    cr_assert_eq(s->kind, QMF_STRING);
    cr_assert_eq(qmf_bytes_len(s), 8, "escapes become UTF-8, a surrogate pair one character");
    cr_assert_eq(memcmp(qmf_as_string(s), "a\xc3\xa9\xf0\x9f\x8c\x8d" "b", 8), 0);
    cr_assert_eq(qmf_map_get(v, "t")->kind, QMF_BOOL);
    cr_assert_eq(qmf_map_get(v, "n")->kind, QMF_VOID);
    cr_assert_eq(qmf_map_get(v, "l")->kind, QMF_LIST);
    cr_assert_eq(qmf_map_get(v, "m")->kind, QMF_MAP);
    qmf_free(v);
}

Test(qmf_codec, json_bare_scalars_parse_without_a_terminator)
{
    qmf_value *v = json_decode_ok("42", 2);

    cr_assert_eq(v->kind, QMF_INT64);
    cr_assert_eq(qmf_as_int(v), 42);
    qmf_free(v);
    /* Only the first two bytes count: "42" is not "423". */
    v = json_decode_ok("423", 2);
    cr_assert_eq(qmf_as_int(v), 42);
    qmf_free(v);
    v = json_decode_ok(" null \n", 7);
    cr_assert_eq(v->kind, QMF_VOID);
    qmf_free(v);
}

static void
assert_json_malformed(const char *text, size_t len, const char *want)
{
    qmf_error err;
    qmf_value *v = qmf_from_json(text, len, &err);

    cr_assert_null(v, "'%s' parsed", text);
    cr_assert_eq(err.code, QMF_ERR_MALFORMED);
    cr_assert_str_eq(err.text, want, "'%s'", text);
}

Test(qmf_codec, json_malformed_input_is_reported_with_offset)
{
    assert_json_malformed("{\"a\": [1, 2", 11,
                          "malformed JSON at offset 11: unexpected end of data");
    assert_json_malformed("{\"a\": 1} x", 10,
                          "malformed JSON at offset 9: unexpected character");
    assert_json_malformed("{}\0{}", 5,
                          "malformed JSON at offset 2: trailing data after the document");
    assert_json_malformed("", 0, "malformed JSON at offset 0: unexpected end of data");
    assert_json_malformed("['a']", 5,
                          "malformed JSON at offset 1: unexpected character");
    assert_json_malformed("[1,]", 4,
                          "malformed JSON at offset 3: unexpected character");
    assert_json_malformed("\"\xff\"", 3,
                          "malformed JSON at offset 1: invalid utf-8 string");
}

/* json-c reads these even when strict; they are not JSON (found by the
 * bad-input catalogue, tests/integration/test_bad_input.c). */
Test(qmf_codec, json_nan_infinity_and_overflowing_numbers_are_malformed)
{
    qmf_error err;
    qmf_value *v;

    assert_json_malformed("{\"a\": NaN}", 11,
                          "malformed JSON at offset 6: NaN and Infinity are not JSON");
    assert_json_malformed("[Infinity]", 10,
                          "malformed JSON at offset 1: NaN and Infinity are not JSON");
    assert_json_malformed("[-Infinity]", 11,
                          "malformed JSON at offset 2: NaN and Infinity are not JSON");
    assert_json_malformed("[1e999]", 7,
                          "malformed JSON at offset 1: a number outside the range of a double");
    assert_json_malformed("[-1.5e400]", 10, "malformed JSON at offset 1: a number outside "
                          "the range of a double");
    /* In strings they are text; small and large doubles are numbers. */
    v = qmf_from_json("[\"NaN\", \"Infinity\", 1e308, 1e-999]", 34, &err);
    cr_assert_not_null(v, "%s", err.text);
    cr_assert_eq(qmf_list_len(v), 4);
    qmf_free(v);
}

/* depth brackets around `inner`, as a malloc'd string. */
static char *
nested_json(int depth, const char *inner)
{
    size_t n = strlen(inner);
    char *s = malloc((size_t)depth * 2 + n + 1);
    int i;

    for (i = 0; i < depth; i++) {
        s[i] = '[';
        s[(size_t)depth + n + (size_t)i] = ']';
    }
    memcpy(s + depth, inner, n);
    s[(size_t)depth * 2 + n] = '\0';
    return s;
}

Test(qmf_codec, json_nesting_is_bounded)
{
    /* As for AMQP: a value may sit inside at most 64 containers. */
    char *empty_ok = nested_json(65, ""), *empty_deep = nested_json(66, "");
    char *scalar_ok = nested_json(64, "1"), *scalar_deep = nested_json(65, "1");
    qmf_value *v;

    v = json_decode_ok(empty_ok, strlen(empty_ok));
    cr_assert_eq(v->kind, QMF_LIST);
    qmf_free(v);
    v = json_decode_ok(scalar_ok, strlen(scalar_ok));
    qmf_free(v);
    assert_json_malformed(empty_deep, strlen(empty_deep),
                          "malformed JSON at offset 65: nesting too deep");
    assert_json_malformed(scalar_deep, strlen(scalar_deep),
                          "malformed JSON at offset 65: nesting too deep");
    free(empty_ok);
    free(empty_deep);
    free(scalar_ok);
    free(scalar_deep);
}

/* A _query_response body as an agent sends it: a list of data objects. */
static const struct {
    const char *name;
    enum qmf_type type;
} domain_props[] = {
    { "uuid", QMF_T_SSTR }, { "name", QMF_T_SSTR }, { "id", QMF_T_INT32 },
    { "node", QMF_T_OBJID }, { "state", QMF_T_SSTR },
    { "numVcpus", QMF_T_UINT32 }, { "active", QMF_T_BOOL },
    { "maximumMemory", QMF_T_UINT64 }, { "memory", QMF_T_UINT64 },
    { "cpuTime", QMF_T_UINT64 }, { "persistent", QMF_T_BOOL },
};

static qmf_value *
domain_object(int i)
{
    qmf_value *o = qmf_map(), *id, *schema, *values;

    id = qmf_map_set(o, "_object_id", qmf_map());
    qmf_map_set(id, "_agent_name", qmf_string("virtbus:agent:node1"));
    qmf_map_set(id, "_object_name", qmf_stringf("domain:0000000%d-0000-0000-0000-000000000000", i));
    schema = qmf_map_set(o, "_schema_id", qmf_map());
    qmf_map_set(schema, "_package_name", qmf_string("org.libvirt"));
    qmf_map_set(schema, "_class_name", qmf_string("Domain"));
    qmf_map_set(schema, "_type", qmf_string("_data"));
    qmf_map_set(schema, "_hash", qmf_uuid(sample_uuid));
    values = qmf_map_set(o, "_values", qmf_map());
    qmf_map_set(values, "uuid", qmf_stringf("0000000%d-0000-0000-0000-000000000000", i));
    qmf_map_set(values, "name", qmf_stringf("web-%d", i));
    qmf_map_set(values, "id", qmf_i32(i == 0 ? -1 : i));
    qmf_map_set(values, "node", objid_value());
    qmf_map_set(values, "state", qmf_string(i == 0 ? "shutoff" : "running"));
    qmf_map_set(values, "numVcpus", qmf_u32(4));
    qmf_map_set(values, "active", qmf_bool(i != 0));
    qmf_map_set(values, "maximumMemory", qmf_u64(UINT64_C(8388608)));
    qmf_map_set(values, "memory", qmf_u64(UINT64_C(4194304)));
    qmf_map_set(values, "cpuTime", qmf_u64(UINT64_C(18446744073709551000)));
    qmf_map_set(values, "persistent", qmf_bool(true));
    qmf_map_set(o, "_create_ts", qmf_i64(INT64_C(1700000000000000000)));
    qmf_map_set(o, "_update_ts", qmf_i64(INT64_C(1700000000500000000)));
    qmf_map_set(o, "_delete_ts", qmf_i64(0));
    return o;
}

/* What a JSON reader does with a data object: restore the declared types. */
static void
restore_object_types(qmf_value *o)
{
    qmf_value *values = qmf_map_get(o, "_values");
    qmf_value *schema = qmf_map_get(o, "_schema_id");
    static const char *const stamps[] = { "_create_ts", "_update_ts", "_delete_ts" };
    qmf_error err;
    size_t i;

    cr_assert_not_null(values);
    for (i = 0; i < sizeof(domain_props) / sizeof(domain_props[0]); i++) {
        qmf_value **slot = NULL;
        size_t k;

        for (k = 0; k < qmf_map_len(values); k++)
            if (strcmp(qmf_map_at(values, k)->key, domain_props[i].name) == 0)
                slot = &qmf_map_at(values, k)->value;
        cr_assert_not_null(slot, "%s missing", domain_props[i].name);
        cr_assert_eq(qmf_coerce(slot, domain_props[i].type, domain_props[i].name,
                                &err), 0, "%s", err.text);
    }
    for (i = 0; i < 3; i++) {
        qmf_value *ts = qmf_map_take(o, stamps[i]);

        cr_assert_eq(qmf_coerce(&ts, QMF_T_ABSTIME, stamps[i], &err), 0);
        qmf_map_set(o, stamps[i], ts);
    }
    {
        qmf_value *hash = qmf_map_take(schema, "_hash");

        cr_assert_eq(qmf_coerce(&hash, QMF_T_UUID, "_hash", &err), 0, "%s", err.text);
        qmf_map_set(schema, "_hash", hash);
    }
}

Test(qmf_codec, query_response_body_round_trips_both_ways)
{
    qmf_value *body = qmf_list(), *amqp, *json;
    size_t len, i;
    char *text;
    int k;

    for (k = 0; k < 3; k++)
        qmf_list_append(body, domain_object(k));

    amqp = amqp_round_trip(body);
    cr_assert(qmf_equal(body, amqp));

    text = qmf_to_json(body, &len);
    json = json_decode_ok(text, len);
    cr_assert_not(qmf_equal(body, json), "JSON alone loses the widths");
    for (i = 0; i < qmf_list_len(json); i++)
        restore_object_types(qmf_list_at(json, i));
    cr_assert(qmf_equal(body, json));

    free(text);
    qmf_free(body);
    qmf_free(amqp);
    qmf_free(json);
}

/* Hardening: what json-c or proton would let through -------------------- */

static void
assert_json_refused(const char *text, size_t len, const char *want_part)
{
    qmf_error err;
    qmf_value *v = qmf_from_json(text, len, &err);

    cr_assert_null(v, "'%.*s' parsed", (int)len, text);
    cr_assert_eq(err.code, QMF_ERR_MALFORMED);
    cr_assert(strstr(err.text, want_part) != NULL, "'%s' not in '%s'", want_part, err.text);
}

#define REFUSED(lit, part) assert_json_refused(lit, sizeof(lit) - 1, part)

/* An embedded NUL used to cut "getXMLDesc\u0000rm" to getXMLDesc, and a
 * key to its first part: refused, wherever it is. */
Test(qmf_codec, json_refuses_nul_in_strings_and_keys)
{
    REFUSED("\"getXMLDesc\\u0000rm\"", "NUL");
    REFUSED("{\"_method_name\": \"a\\u0000b\"}", "NUL");
    REFUSED("{\"_method\\u0000name\": 1}", "NUL");
    REFUSED("[\"a\0b\"]", "NUL byte");
    REFUSED("[\"a\tb\"]", "control character");
    /* A NUL byte outside strings is json-c's to report; still refused. */
    REFUSED("{}\0", "trailing data");
}

/* json-c clamps what does not fit 64 bits; the clamped value reached
 * libvirt. */
Test(qmf_codec, json_refuses_integers_beyond_64_bits)
{
    qmf_value *v;

    REFUSED("18446744073709551616", "64-bit range");
    REFUSED("[1, 99999999999999999999999]", "64-bit range");
    REFUSED("{\"a\": -9223372036854775809}", "64-bit range");
    REFUSED("-100000000000000000000", "64-bit range");
    v = json_decode_ok("[18446744073709551615, -9223372036854775808, 1e30, \"99999999999999999999\"]",
                       strlen("[18446744073709551615, -9223372036854775808, 1e30, \"99999999999999999999\"]"));
    cr_assert_eq(qmf_as_uint(qmf_list_at(v, 0)), UINT64_MAX);
    cr_assert_eq(qmf_as_int(qmf_list_at(v, 1)), INT64_MIN);
    cr_assert_eq(qmf_list_at(v, 2)->kind, QMF_DOUBLE, "a non-integer literal is a double");
    cr_assert_eq(qmf_list_at(v, 3)->kind, QMF_STRING, "digits in a string are a string");
    qmf_free(v);
}

/* json-c's UTF-8 check takes overlong forms and encoded surrogates, and
 * its \u escapes let lone surrogates through. */
Test(qmf_codec, json_refuses_surrogates_and_overlong_utf8)
{
    REFUSED("\"\\ud800\"", "high surrogate");
    REFUSED("\"\\ud800\\u0041\"", "high surrogate");
    REFUSED("\"\\udc00\\ud800\"", "low surrogate");
    REFUSED("\"x\\udfff\"", "low surrogate");
    REFUSED("\"\xc0\xaf\"", "UTF-8");
    REFUSED("\"\xe0\x80\xaf\"", "UTF-8");
    REFUSED("\"\xed\xa0\x80\"", "UTF-8");
    REFUSED("\"\xf4\x90\x80\x80\"", "UTF-8");
    REFUSED("{\"\xc0\xaf\": 1}", "UTF-8");
}

static void
fill_nul_string(pn_data_t *d)
{
    pn_data_put_list(d);
    pn_data_enter(d);
    pn_data_put_string(d, pn_bytes(5, "ab\0cd"));
    pn_data_exit(d);
}

static void
fill_bad_utf8_symbol(pn_data_t *d)
{
    pn_data_put_symbol(d, pn_bytes(2, "\xc0\x80"));
}

static void
fill_bad_utf8_key(pn_data_t *d)
{
    pn_data_put_map(d);
    pn_data_enter(d);
    pn_data_put_string(d, pn_bytes(3, "\xed\xa0\x80"));
    pn_data_put_null(d);
    pn_data_exit(d);
}

static void
fill_repeated_key(pn_data_t *d)
{
    pn_data_put_map(d);
    pn_data_enter(d);
    pn_data_put_string(d, pn_bytes(11, "_agent_name"));
    pn_data_put_string(d, pn_bytes(1, "a"));
    pn_data_put_symbol(d, pn_bytes(5, "other"));
    pn_data_put_null(d);
    pn_data_put_symbol(d, pn_bytes(11, "_agent_name"));
    pn_data_put_string(d, pn_bytes(1, "b"));
    pn_data_exit(d);
}

static void
fill_binary_with_nul(pn_data_t *d)
{
    pn_data_put_binary(d, pn_bytes(3, "\0\xff\0"));
}

Test(qmf_codec, amqp_refuses_strings_that_are_not_text)
{
    qmf_error err;
    qmf_value *v;

    cr_assert_null(decode_foreign(fill_nul_string, &err));
    cr_assert_str_eq(err.text, "malformed AMQP body: string contains a NUL byte");
    cr_assert_null(decode_foreign(fill_bad_utf8_symbol, &err));
    cr_assert_str_eq(err.text, "malformed AMQP body: string is not valid UTF-8");
    cr_assert_null(decode_foreign(fill_bad_utf8_key, &err));
    cr_assert_str_eq(err.text, "malformed AMQP body: map key is not valid UTF-8");
    cr_assert_null(decode_foreign(fill_repeated_key, &err));
    cr_assert_str_eq(err.text, "malformed AMQP body: map with a key twice");
    v = decode_foreign(fill_binary_with_nul, &err);
    cr_assert_not_null(v, "binary values may hold anything: %s", err.text);
    cr_assert_eq(qmf_bytes_len(v), 3);
    qmf_free(v);
}

/*
 * A map of 400 000 keys (about 7 MB of JSON): decoding used to look every
 * key up in the keys before it, 20 s for 100 000 keys on the loop thread.
 * Linear now, so this takes well under a second; the timeout is only the
 * backstop that makes a return to quadratic cost (minutes) fail.  Under
 * ThreadSanitizer, ten times slower and run beside the threaded tests,
 * a tenth of the keys: that run checks the result, the others the cost.
 */
/* The most keys a body can hold: the map and each key and value count. */
#define LARGE_MAP_KEYS ((QMF_MAX_VALUES - 1) / 2)
Test(qmf_codec, json_large_map_decodes_without_per_key_lookups, .timeout = 60)
{
    size_t n = LARGE_MAP_KEYS, i, len = 0;
    char *text = malloc(n * 20 + 16);
    qmf_value *v, *w;
    qmf_error err;

    text[len++] = '{';
    for (i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    text[len++] = '}';
    v = qmf_from_json(text, len, &err);
    cr_assert_not_null(v, "%s", err.text);
    cr_assert_eq(qmf_map_len(v), n);
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "k32766")), 32766);
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "k0")), 0);
    /* Comparing two such maps is not quadratic either. */
    w = qmf_from_json(text, len, &err);
    cr_assert(qmf_equal(v, w));
    qmf_map_set(w, "k7", qmf_i64(8));
    cr_assert_not(qmf_equal(v, w));
    qmf_free(v);
    qmf_free(w);
    free(text);
}

/* QMF_MAX_VALUES values pass, map keys counted; one more is refused as too
 * large, before json-c builds anything, whatever the shape. */
Test(qmf_codec, json_bodies_hold_at_most_qmf_max_values)
{
    size_t n = QMF_MAX_VALUES, i, len = 0;
    char *text = malloc(n * 12 + 16);     /* room for 32768 keys of "NNNNN":0, */
    qmf_value *v;
    qmf_error err;

    /* A list and n - 1 empty objects: n values. */
    text[len++] = '[';
    for (i = 0; i + 1 < n; i++)
        len += (size_t)sprintf(text + len, "%s{}", i ? "," : "");
    text[len++] = ']';
    v = qmf_from_json(text, len, &err);
    cr_assert_not_null(v, "%s", err.text);
    cr_assert_eq(qmf_list_len(v), n - 1);
    qmf_free(v);
    len--;
    len += (size_t)sprintf(text + len, ",null]");
    cr_assert_null(qmf_from_json(text, len, &err));
    cr_assert_eq(err.code, QMF_ERR_TOO_LARGE);
    cr_assert(strstr(err.text, "more than 65535 values") != NULL, "%s", err.text);
    /* Keys count: {"k0":0,...} with 32768 keys is 65537 values. */
    len = 0;
    text[len++] = '{';
    for (i = 0; i < 32768; i++)
        len += (size_t)sprintf(text + len, "%s\"%zu\":0", i ? "," : "", i);
    text[len++] = '}';
    cr_assert_null(qmf_from_json(text, len, &err));
    cr_assert_eq(err.code, QMF_ERR_TOO_LARGE);
    /* Words count as values: true, false and null. */
    cr_assert_not_null(v = qmf_from_json("[true,false,null]", 17, &err), "%s", err.text);
    qmf_free(v);
    free(text);
}

/* A repeated JSON key keeps its last value, once. */
Test(qmf_codec, json_repeated_key_keeps_the_last_value)
{
    qmf_value *v = json_decode_ok("{\"a\": 1, \"b\": 2, \"a\": 3}", 24);

    cr_assert_eq(qmf_map_len(v), 2);
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "a")), 3);
    cr_assert_not(qmf_map_has_duplicates(v));
    qmf_free(v);
}
