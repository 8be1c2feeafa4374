/* Unit tests for the QMF value model: construction, ownership, equality. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/value.h"

Test(qmf_value, scalar_constructors_keep_kind_and_value)
{
    qmf_value *b = qmf_bool(true), *u = qmf_u64(UINT64_MAX);
    qmf_value *i = qmf_i32(-5), *d = qmf_double(2.5), *f = qmf_float(1.5f);
    qmf_value *vd = qmf_void();

    cr_assert_eq(b->kind, QMF_BOOL);
    cr_assert(qmf_as_bool(b));
    cr_assert_eq(u->kind, QMF_UINT64);
    cr_assert_eq(qmf_as_uint(u), UINT64_MAX);
    cr_assert_eq(i->kind, QMF_INT32);
    cr_assert_eq(qmf_as_int(i), -5);
    cr_assert_eq(qmf_as_double(d), 2.5);
    cr_assert_eq(qmf_as_float(f), 1.5f);
    cr_assert_eq(vd->kind, QMF_VOID);
    qmf_free(b);
    qmf_free(u);
    qmf_free(i);
    qmf_free(d);
    qmf_free(f);
    qmf_free(vd);
}

Test(qmf_value, exact_kind_constructors_truncate_to_their_width)
{
    qmf_value *u8 = qmf_uint(QMF_UINT8, 300), *i8 = qmf_int(QMF_INT8, 200);

    cr_assert_eq(qmf_as_uint(u8), 44);
    cr_assert_eq(qmf_as_int(i8), -56);
    qmf_free(u8);
    qmf_free(i8);
}

Test(qmf_value, strings_and_binary_keep_length_and_nul)
{
    qmf_value *s = qmf_stringn("a\0b", 3), *f = qmf_stringf("%s-%d", "x", 7);
    qmf_value *bin = qmf_binary("\x00\xff", 2), *empty = qmf_binary(NULL, 0);

    cr_assert_eq(qmf_bytes_len(s), 3);
    cr_assert_eq(memcmp(qmf_as_string(s), "a\0b", 4), 0);
    cr_assert_str_eq(qmf_as_string(f), "x-7");
    cr_assert_eq(qmf_bytes_len(f), 3);
    cr_assert_eq(bin->kind, QMF_BINARY);
    cr_assert_eq(qmf_bytes_len(bin), 2);
    cr_assert_eq((unsigned char)qmf_as_bytes(bin)[1], 0xff);
    cr_assert_eq(qmf_bytes_len(empty), 0);
    qmf_free(s);
    qmf_free(f);
    qmf_free(bin);
    qmf_free(empty);
}

static qmf_value *
sample_tree(void)
{
    qmf_value *m = qmf_map(), *l;

    qmf_map_set(m, "name", qmf_string("web1"));
    qmf_map_set(m, "memory", qmf_u64(1 << 20));
    l = qmf_map_set(m, "disks", qmf_list());
    qmf_list_append(l, qmf_string("vda"));
    qmf_list_append(l, qmf_binary("\x01\x02", 2));
    qmf_map_set(qmf_map_set(m, "labels", qmf_map()), "tier", qmf_string("gold"));
    return m;
}

Test(qmf_value, dup_is_deep_and_equal)
{
    qmf_value *a = sample_tree(), *b = qmf_dup(a);

    cr_assert(qmf_equal(a, b));
    cr_assert_neq(qmf_map_get(a, "disks"), qmf_map_get(b, "disks"));
    qmf_map_set(qmf_map_get(b, "labels"), "tier", qmf_string("silver"));
    cr_assert_not(qmf_equal(a, b));
    cr_assert_str_eq(qmf_map_get_string(qmf_map_get(a, "labels"), "tier"), "gold");
    qmf_free(a);
    qmf_free(b);
}

Test(qmf_value, map_equality_ignores_order)
{
    qmf_value *a = qmf_map(), *b = qmf_map();

    qmf_map_set(a, "x", qmf_i64(1));
    qmf_map_set(a, "y", qmf_string("two"));
    qmf_map_set(b, "y", qmf_string("two"));
    qmf_map_set(b, "x", qmf_i64(1));
    cr_assert(qmf_equal(a, b));
    qmf_map_set(b, "z", qmf_void());
    cr_assert_not(qmf_equal(a, b));
    qmf_free(a);
    qmf_free(b);
}

Test(qmf_value, equality_is_kind_exact)
{
    qmf_value *u32 = qmf_u32(5), *u64 = qmf_u64(5), *nan = qmf_double(NAN);
    qmf_value *l1 = qmf_list(), *l2 = qmf_list();

    cr_assert_not(qmf_equal(u32, u64));
    cr_assert_not(qmf_equal(nan, nan));
    qmf_list_append(l1, qmf_i64(1));
    qmf_list_append(l1, qmf_i64(2));
    qmf_list_append(l2, qmf_i64(2));
    qmf_list_append(l2, qmf_i64(1));
    cr_assert_not(qmf_equal(l1, l2), "lists are ordered");
    cr_assert(qmf_equal(NULL, NULL));
    cr_assert_not(qmf_equal(u32, NULL));
    qmf_free(u32);
    qmf_free(u64);
    qmf_free(nan);
    qmf_free(l1);
    qmf_free(l2);
}

Test(qmf_value, map_set_replaces_and_take_removes)
{
    qmf_value *m = qmf_map(), *taken;
    char key[16];
    int i;

    /* Enough keys to make the map grow more than once. */
    for (i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        qmf_map_set(m, key, qmf_i64(i));
    }
    cr_assert_eq(qmf_map_len(m), 20);
    qmf_map_set(m, "k3", qmf_string("three"));
    cr_assert_eq(qmf_map_len(m), 20);
    cr_assert_str_eq(qmf_map_get_string(m, "k3"), "three");
    cr_assert_null(qmf_map_get_string(m, "k4"), "k4 is not a string");

    taken = qmf_map_take(m, "k0");
    cr_assert_not_null(taken);
    cr_assert_eq(qmf_as_int(taken), 0);
    qmf_free(taken);
    cr_assert_eq(qmf_map_len(m), 19);
    cr_assert_null(qmf_map_get(m, "k0"));
    cr_assert_eq(qmf_as_int(qmf_map_get(m, "k19")), 19, "later keys survive the move");
    cr_assert_null(qmf_map_take(m, "k0"));
    cr_assert_null(qmf_map_get(m, "missing"));
    cr_assert_null(qmf_map_get(NULL, "x"));
    qmf_free(m);
}

Test(qmf_value, list_append_and_index)
{
    qmf_value *l = qmf_list();
    int i;

    for (i = 0; i < 17; i++)
        qmf_list_append(l, qmf_i32(i * 10));
    cr_assert_eq(qmf_list_len(l), 17);
    cr_assert_eq(qmf_as_int(qmf_list_at(l, 16)), 160);
    cr_assert_null(qmf_list_at(l, 17));
    cr_assert_eq(qmf_list_len(NULL), 0);
    qmf_free(l);
}

Test(qmf_value, uuid_parse_and_format)
{
    static const uint8_t want[16] = {
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    };
    uint8_t got[16];
    char text[37];

    cr_assert(qmf_uuid_parse("12345678-9abc-def0-0123-456789abcdef", got));
    cr_assert_eq(memcmp(got, want, 16), 0);
    cr_assert(qmf_uuid_parse("12345678-9ABC-DEF0-0123-456789ABCDEF", got));
    cr_assert_eq(memcmp(got, want, 16), 0);
    qmf_uuid_format(want, text);
    cr_assert_str_eq(text, "12345678-9abc-def0-0123-456789abcdef");
}

Test(qmf_value, uuid_parse_rejects_malformed)
{
    static const char *const bad[] = {
        "",
        "12345678-9abc-def0-0123-456789abcde",     /* short */
        "12345678-9abc-def0-0123-456789abcdef0",   /* long */
        "123456789abc-def0-0123-456789abcdef-",    /* dashes moved */
        "12345678-9abc-def0-0123-456789abcdeg",    /* not hex */
        "12345678 9abc-def0-0123-456789abcdef",
        "{2345678-9abc-def0-0123-456789abcdef}",
        "123456789abcdef00123456789abcdef",        /* no dashes */
    };
    uint8_t out[16];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(qmf_uuid_parse(bad[i], out), "accepted '%s'", bad[i]);
}

Test(qmf_value, numeric_getters_succeed_only_when_exact)
{
    qmf_value *big = qmf_u64(UINT64_MAX), *neg = qmf_i64(-1);
    qmf_value *u8 = qmf_uint(QMF_UINT8, 200), *d = qmf_double(1.5);
    qmf_value *s = qmf_string("5");
    int64_t i;
    uint64_t u;
    double x;

    cr_assert_not(qmf_get_int64(big, &i));
    cr_assert(qmf_get_uint64(big, &u));
    cr_assert_eq(u, UINT64_MAX);
    cr_assert(qmf_get_int64(neg, &i));
    cr_assert_eq(i, -1);
    cr_assert_not(qmf_get_uint64(neg, &u));
    cr_assert(qmf_get_int64(u8, &i));
    cr_assert_eq(i, 200);
    cr_assert(qmf_get_double(u8, &x));
    cr_assert_eq(x, 200.0);
    cr_assert(qmf_get_double(d, &x));
    cr_assert_eq(x, 1.5);
    cr_assert_not(qmf_get_int64(d, &i), "doubles are not integers");
    cr_assert_not(qmf_get_double(s, &x), "strings are not numbers");
    cr_assert(qmf_is_number(d));
    cr_assert(qmf_is_unsigned(u8));
    cr_assert(qmf_is_signed(neg));
    cr_assert_not(qmf_is_integer(s));
    qmf_free(big);
    qmf_free(neg);
    qmf_free(u8);
    qmf_free(d);
    qmf_free(s);
}

Test(qmf_value, kind_names)
{
    cr_assert_str_eq(qmf_kind_name(QMF_UINT64), "uint64");
    cr_assert_str_eq(qmf_kind_name(QMF_STRING), "string");
    cr_assert_str_eq(qmf_kind_name((enum qmf_kind)99), "invalid");
}
