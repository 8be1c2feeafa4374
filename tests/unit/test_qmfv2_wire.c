/*
 * Unit tests of the pure logic behind QMFv2's own forms (issue 12): the
 * AMQP 0-10 map and list decoder, AMQP 1.0 sections, the bus's body
 * codec by content type and encoding, Qpid's addresses, an agent's start
 * time from its attributes, and QMFv2's schema type codes.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bus/bus.h"
#include "core/codec.h"
#include "core/types.h"
#include "tests/testutil.h"

static void
put_key(struct test_bytes *b, const char *k)
{
    test_bytes_put_u8(b, (unsigned)strlen(k));
    test_bytes_put(b, k, strlen(k));
}

static void
put_str16(struct test_bytes *b, const char *s)
{
    test_bytes_put_u8(b, 0x95);
    test_bytes_put_be(b, strlen(s), 2);
    test_bytes_put(b, s, strlen(s));
}

/* Wraps entries (count of them) as a map or list: size, count, entries. */
static void
wrap(struct test_bytes *out, const struct test_bytes *entries, uint32_t count)
{
    test_bytes_put_be(out, entries->n + 4, 4);
    test_bytes_put_be(out, count, 4);
    test_bytes_put(out, entries->b, entries->n);
}

static qmf_value *
decode010(const struct test_bytes *b, bool list, qmf_error *err)
{
    return qmf_from_amqp010((const char *)b->b, b->n, list, err);
}

Test(amqp010, every_kind_maps_onto_its_qmf_kind)
{
    static const uint8_t uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
    struct test_bytes e = { .n = 0 }, inner = { .n = 0 }, list = { .n = 0 }, m = { .n = 0 };
    qmf_error err;
    qmf_value *v;
    union { float f; uint32_t u; } f = { .f = 1.5f };
    union { double d; uint64_t u; } d = { .d = -2.25 };

    put_key(&e, "i8");    test_bytes_put_u8(&e, 0x01); test_bytes_put_u8(&e, 0xff);
    put_key(&e, "u8");    test_bytes_put_u8(&e, 0x02); test_bytes_put_u8(&e, 200);
    put_key(&e, "b");     test_bytes_put_u8(&e, 0x08); test_bytes_put_u8(&e, 1);
    put_key(&e, "i16");   test_bytes_put_u8(&e, 0x11); test_bytes_put_be(&e, 0xfffe, 2);
    put_key(&e, "u16");   test_bytes_put_u8(&e, 0x12); test_bytes_put_be(&e, 60000, 2);
    put_key(&e, "i32");   test_bytes_put_u8(&e, 0x21); test_bytes_put_be(&e, 0xfffffffd, 4);
    put_key(&e, "u32");   test_bytes_put_u8(&e, 0x22); test_bytes_put_be(&e, 4000000000u, 4);
    put_key(&e, "f");     test_bytes_put_u8(&e, 0x23); test_bytes_put_be(&e, f.u, 4);
    put_key(&e, "i64");   test_bytes_put_u8(&e, 0x31); test_bytes_put_be(&e, (uint64_t)INT64_C(-7), 8);
    put_key(&e, "u64");   test_bytes_put_u8(&e, 0x32); test_bytes_put_be(&e, UINT64_MAX, 8);
    put_key(&e, "d");     test_bytes_put_u8(&e, 0x33); test_bytes_put_be(&e, d.u, 8);
    put_key(&e, "dt");    test_bytes_put_u8(&e, 0x38); test_bytes_put_be(&e, 1700000000, 8);
    put_key(&e, "uuid");  test_bytes_put_u8(&e, 0x48); test_bytes_put(&e, uuid, 16);
    put_key(&e, "str");   put_str16(&e, "h\xc3\xa9llo");
    put_key(&e, "lat");   test_bytes_put_u8(&e, 0x84); test_bytes_put_u8(&e, 2); test_bytes_put(&e, "\xe9x", 2);
    put_key(&e, "text");  test_bytes_put_u8(&e, 0x90); test_bytes_put_be(&e, 2, 2); test_bytes_put(&e, "ok", 2);
    put_key(&e, "bin");   test_bytes_put_u8(&e, 0xa0); test_bytes_put_be(&e, 3, 4); test_bytes_put(&e, "a\0b", 3);
    put_key(&e, "void");  test_bytes_put_u8(&e, 0xf0);
    put_key(&e, "list");  test_bytes_put_u8(&e, 0xa9);
    test_bytes_put_u8(&inner, 0x02); test_bytes_put_u8(&inner, 1);
    put_str16(&inner, "two");
    wrap(&list, &inner, 2);
    test_bytes_put(&e, list.b, list.n);
    wrap(&m, &e, 19);

    v = decode010(&m, false, &err);
    cr_assert_not_null(v, "%s", err.text);
    cr_assert_eq(qmf_map_get(v, "i8")->kind, QMF_INT8);
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "i8")), -1);
    cr_assert_eq(qmf_as_uint(qmf_map_get(v, "u8")), 200);
    cr_assert(qmf_as_bool(qmf_map_get(v, "b")));
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "i16")), -2);
    cr_assert_eq(qmf_as_uint(qmf_map_get(v, "u16")), 60000);
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "i32")), -3);
    cr_assert_eq(qmf_map_get(v, "u32")->kind, QMF_UINT32);
    cr_assert_eq(qmf_as_uint(qmf_map_get(v, "u32")), 4000000000u);
    cr_assert_float_eq(qmf_as_float(qmf_map_get(v, "f")), 1.5f, 0);
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "i64")), -7);
    cr_assert_eq(qmf_as_uint(qmf_map_get(v, "u64")), UINT64_MAX);
    cr_assert_float_eq(qmf_as_double(qmf_map_get(v, "d")), -2.25, 0);
    cr_assert_eq(qmf_as_int(qmf_map_get(v, "dt")), INT64_C(1700000000) * 1000000000, "seconds as ns");
    cr_assert_eq(memcmp(qmf_as_uuid(qmf_map_get(v, "uuid")), uuid, 16), 0);
    cr_assert_str_eq(qmf_map_get_string(v, "str"), "h\xc3\xa9llo");
    cr_assert_str_eq(qmf_map_get_string(v, "lat"), "\xc3\xa9x", "Latin-1 made UTF-8");
    cr_assert_str_eq(qmf_map_get_string(v, "text"), "ok", "vbin holding text: a string");
    cr_assert_eq(qmf_map_get(v, "bin")->kind, QMF_BINARY, "vbin holding a NUL: binary");
    cr_assert_eq(qmf_map_get(v, "void")->kind, QMF_VOID);
    cr_assert_eq(qmf_list_len(qmf_map_get(v, "list")), 2);
    cr_assert_str_eq(qmf_as_string(qmf_list_at(qmf_map_get(v, "list"), 1)), "two");
    qmf_free(v);
}

Test(amqp010, lists_and_arrays)
{
    struct test_bytes e = { .n = 0 }, l = { .n = 0 }, arr = { .n = 0 };
    qmf_error err;
    qmf_value *v;

    put_str16(&e, "eq");
    test_bytes_put_u8(&e, 0xaa);                      /* an array of two uint32 */
    test_bytes_put_be(&arr, 1 + 4 + 8, 4);
    test_bytes_put_u8(&arr, 0x22);
    test_bytes_put_be(&arr, 2, 4);
    test_bytes_put_be(&arr, 7, 4);
    test_bytes_put_be(&arr, 9, 4);
    test_bytes_put(&e, arr.b, arr.n);
    wrap(&l, &e, 2);
    v = decode010(&l, true, &err);
    cr_assert_not_null(v, "%s", err.text);
    cr_assert_eq(v->kind, QMF_LIST);
    cr_assert_eq(qmf_list_len(qmf_list_at(v, 1)), 2);
    cr_assert_eq(qmf_as_uint(qmf_list_at(qmf_list_at(v, 1), 1)), 9);
    qmf_free(v);
}

/* Each refusal is error 5, never a partial value. */
static void
assert_refused(const struct test_bytes *b, bool list, const char *text)
{
    qmf_error err;
    qmf_value *v = decode010(b, list, &err);

    cr_assert_null(v);
    cr_assert_eq(err.code, QMF_ERR_MALFORMED);
    cr_assert(strstr(err.text, text) != NULL, "'%s' not in '%s'", text, err.text);
}

Test(amqp010, refusals)
{
    struct test_bytes e = { .n = 0 }, m = { .n = 0 };

    put_key(&e, "a"); test_bytes_put_u8(&e, 0x02); test_bytes_put_u8(&e, 1);
    put_key(&e, "a"); test_bytes_put_u8(&e, 0x02); test_bytes_put_u8(&e, 2);
    wrap(&m, &e, 2);
    assert_refused(&m, false, "a key twice");

    e.n = m.n = 0;
    put_key(&e, "s"); test_bytes_put_u8(&e, 0x96); test_bytes_put_be(&e, 2, 2); test_bytes_put(&e, "\0A", 2);
    wrap(&m, &e, 1);
    assert_refused(&m, false, "unsupported type code 0x96");

    e.n = m.n = 0;
    put_key(&e, "s"); put_str16(&e, "a"); e.b[e.n - 1] = '\0';
    wrap(&m, &e, 1);
    assert_refused(&m, false, "NUL");

    e.n = m.n = 0;
    put_key(&e, "s"); put_str16(&e, "\xff\xfe");
    wrap(&m, &e, 1);
    assert_refused(&m, false, "UTF-8");

    /* A count of four billion entries in twelve bytes sizes nothing. */
    e.n = m.n = 0;
    put_key(&e, "a"); test_bytes_put_u8(&e, 0xf0);
    wrap(&m, &e, UINT32_MAX);
    assert_refused(&m, false, "a count larger than its data");

    /* A value cut short, and a size that does not count the rest. */
    e.n = m.n = 0;
    put_key(&e, "n"); test_bytes_put_u8(&e, 0x32); test_bytes_put_be(&e, 1, 4);
    wrap(&m, &e, 1);
    assert_refused(&m, false, "truncated");
    m.b[3]++;
    assert_refused(&m, false, "size does not match");

    e.n = m.n = 0;
    put_key(&e, "d"); test_bytes_put_u8(&e, 0xc8); test_bytes_put_be(&e, 0, 5);
    wrap(&m, &e, 1);
    assert_refused(&m, false, "unsupported type code 0xc8");
}

/* 65 lists deep is one too many, as for the other codecs; 10^5 costs no
 * more (the decoder stops at the bound, never recursing further). */
Test(amqp010, nesting_is_bounded)
{
    static unsigned char deep[100000 * 9 + 16];
    size_t depth = 100000, i, n;
    qmf_error err;

    /* Each level: size, count (1, the innermost 0), the next list's code;
     * from level i on, 8 + 9 * (depth - 1 - i) bytes. */
    for (i = 0, n = 0; i < depth; i++) {
        uint32_t size = (uint32_t)(8 + 9 * (depth - 1 - i) - 4);

        deep[n++] = (unsigned char)(size >> 24);
        deep[n++] = (unsigned char)(size >> 16);
        deep[n++] = (unsigned char)(size >> 8);
        deep[n++] = (unsigned char)size;
        deep[n++] = 0; deep[n++] = 0; deep[n++] = 0; deep[n++] = i + 1 < depth;
        deep[n++] = 0xa9;
    }
    cr_assert_null(qmf_from_amqp010((const char *)deep, n - 1, true, &err));
    cr_assert_eq(err.code, QMF_ERR_MALFORMED);
}

Test(amqp010, shape_tells_it_from_amqp10)
{
    qmf_value *v = qmf_map();
    char *buf;
    size_t len;

    qmf_map_set(v, "_what", qmf_string("OBJECT"));
    cr_assert_eq(qmf_to_amqp(v, &buf, &len), 0);
    cr_assert_not(qmf_amqp010_shaped(buf, len), "an AMQP 1.0 map is not 0-10's");
    free(buf);
    qmf_free(v);
    cr_assert(qmf_amqp010_shaped("\0\0\0\4\0\0\0\0", 8));
    cr_assert_not(qmf_amqp010_shaped("\0\0\0\4\0\0\0", 7));
}

/* Sections --------------------------------------------------------------- */

Test(amqp_sections, written_and_read_back)
{
    qmf_value *props = qmf_map(), *v;
    char *a, *d, *all;
    size_t alen, dlen, off = 0;
    struct qmf_amqp_section s;
    qmf_error err;

    qmf_map_set(props, "qmf.opcode", qmf_string("_query_request"));
    cr_assert_eq(qmf_amqp_section_encode(QMF_AMQP_SECTION_APP_PROPERTIES, props, &a, &alen), 0);
    qmf_amqp_data_section("{}", 2, &d, &dlen);
    all = malloc(alen + dlen);
    memcpy(all, a, alen);
    memcpy(all + alen, d, dlen);
    cr_assert_eq(qmf_amqp_section_next(all, alen + dlen, &off, &s, &err), 1, "%s", err.text);
    cr_assert_eq(s.descriptor, QMF_AMQP_SECTION_APP_PROPERTIES);
    v = qmf_from_amqp(s.value, s.value_len, &err);
    cr_assert(qmf_equal(v, props));
    qmf_free(v);
    cr_assert_eq(qmf_amqp_section_next(all, alen + dlen, &off, &s, &err), 1, "%s", err.text);
    cr_assert_eq(s.descriptor, QMF_AMQP_SECTION_DATA);
    v = qmf_from_amqp(s.value, s.value_len, &err);
    cr_assert_eq(v->kind, QMF_BINARY);
    cr_assert_eq(qmf_bytes_len(v), 2);
    qmf_free(v);
    cr_assert_eq(qmf_amqp_section_next(all, alen + dlen, &off, &s, &err), 0, "the end");
    free(all);
    free(a);
    free(d);
    qmf_free(props);
}

Test(amqp_sections, symbolic_descriptors_and_refusals)
{
    /* described(symbol "amqp:amqp-value:*", null) */
    static const char sym[] = "\x00\xa3\x11" "amqp:amqp-value:*" "\x40";
    static const char big_data[] = "\x00\x53\x75\xb0\x00\x00\x01\x00" "abc";
    struct qmf_amqp_section s;
    size_t off = 0;
    qmf_error err;

    cr_assert_eq(qmf_amqp_section_next(sym, sizeof(sym) - 1, &off, &s, &err), 1, "%s",
                 err.text);
    cr_assert_eq(s.descriptor, QMF_AMQP_SECTION_VALUE);
    off = 0;
    cr_assert_eq(qmf_amqp_section_next("\x40", 1, &off, &s, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_MALFORMED);
    off = 0;
    cr_assert_eq(qmf_amqp_section_next("\x00\x53\x10\x40", 4, &off, &s, &err), -1,
                 "0x10 is no section");
    off = 0;
    cr_assert_eq(qmf_amqp_section_next(big_data, sizeof(big_data) - 1, &off, &s, &err), -1,
                 "a data section longer than the buffer");
    cr_assert(strstr(err.text, "truncated") != NULL, "%s", err.text);
}

/* The bus's body codec ---------------------------------------------------- */

Test(bus_body, encoded_by_encoding_and_kind)
{
    qmf_value *map = qmf_map(), *list = qmf_list(), *back;
    const char *ct;
    char *buf;
    size_t len;
    qmf_error err;

    qmf_map_set(map, "n", qmf_u32(7));
    qmf_list_append(list, qmf_u32(7));
    cr_assert_eq(bus_body_encode(map, BUS_ENCODING_AMQP, &buf, &len, &ct, &err), 0);
    cr_assert_str_eq(ct, BUS_CONTENT_AMQP_MAP);
    back = qmf_from_amqp(buf, len, &err);
    cr_assert(qmf_equal(back, map), "exact: a uint32 stays one");
    qmf_free(back);
    free(buf);
    cr_assert_eq(bus_body_encode(list, BUS_ENCODING_AMQP, &buf, &len, &ct, &err), 0);
    cr_assert_str_eq(ct, BUS_CONTENT_AMQP_LIST);
    free(buf);
    cr_assert_eq(bus_body_encode(list, BUS_ENCODING_JSON, &buf, &len, &ct, &err), 0);
    cr_assert_str_eq(ct, BUS_CONTENT_JSON);
    cr_assert_str_eq(buf, "[7]");
    free(buf);
    cr_assert_eq(bus_body_encode(NULL, BUS_ENCODING_JSON, &buf, &len, &ct, &err), 0);
    cr_assert_str_eq(buf, "{}");
    free(buf);
    qmf_free(map);
    qmf_free(list);
}

static struct bus_message *
decoded(const char *content_type, const char *body, size_t len)
{
    struct bus_message *m = bus_message_new();

    bus_body_decode(m, content_type, body, len);
    return m;
}

Test(bus_body, decoded_by_content_type)
{
    static const char a010[] = "\0\0\0\x0c\0\0\0\1\1n\x95\0\3abc";
    struct bus_message *m;
    char *buf;
    size_t len;
    qmf_value *v = qmf_list();

    qmf_list_append(v, qmf_string("x"));
    cr_assert_eq(qmf_to_amqp(v, &buf, &len), 0);
    m = decoded("amqp/list", buf, len);
    cr_assert(qmf_equal(m->body, v));
    cr_assert_eq(m->encoding, BUS_ENCODING_AMQP);
    bus_message_free(m);
    free(buf);
    qmf_free(v);

    m = decoded("amqp/map", a010, sizeof(a010) - 1);
    cr_assert_not_null(m->body, "%s", m->body_error.text);
    cr_assert_str_eq(qmf_map_get_string(m->body, "n"), "abc");
    cr_assert_eq(m->encoding, BUS_ENCODING_AMQP);
    bus_message_free(m);

    /* No body: absent, but its answer still goes in the encoding named. */
    m = decoded("amqp/list", "", 0);
    cr_assert(m->body_absent);
    cr_assert_eq(m->encoding, BUS_ENCODING_AMQP);
    bus_message_free(m);
    m = decoded("application/json", "", 0);
    cr_assert(m->body_absent);
    cr_assert_eq(m->encoding, BUS_ENCODING_JSON);
    bus_message_free(m);

    m = decoded("application/json; charset=utf-8", "[]", 2);
    cr_assert_eq(m->encoding, BUS_ENCODING_JSON);
    cr_assert_eq(qmf_list_len(m->body), 0);
    bus_message_free(m);

    /* No body at all: absent, and error 5 for whoever needs one. */
    m = decoded(NULL, "", 0);
    cr_assert_null(m->body);
    cr_assert(m->body_absent);
    cr_assert_eq(m->body_error.code, QMF_ERR_MALFORMED);
    bus_message_free(m);

    m = decoded("text/plain", "x", 1);
    cr_assert_null(m->body);
    cr_assert_not(m->body_absent);
    bus_message_free(m);
}

Test(bus_body, encoding_names)
{
    enum bus_encoding e;

    cr_assert_eq(bus_encoding_from_name("json", &e), 0);
    cr_assert_eq(e, BUS_ENCODING_JSON);
    cr_assert_eq(bus_encoding_from_name("amqp", &e), 0);
    cr_assert_eq(e, BUS_ENCODING_AMQP);
    cr_assert_eq(bus_encoding_from_name("amqp/map", &e), -1);
}

/* Agent attributes and schema codes ------------------------------------------ */

Test(qmfv2_forms, agent_start_time_from_either_epoch)
{
    qmf_value *now = qmf_map(), *old = qmf_map(), *qpid = qmf_map(), *none = qmf_map();

    qmf_map_set(now, "_epoch", qmf_u32(1764099000));
    qmf_map_set(now, "_start_time", qmf_i64(INT64_C(1764099000123456789)));
    qmf_map_set(old, "_epoch", qmf_i64(INT64_C(1764099000123456789)));
    qmf_map_set(qpid, "_epoch", qmf_u32(3));
    cr_assert_eq(bus_agent_started_ns(now), INT64_C(1764099000123456789));
    cr_assert_eq(bus_agent_started_ns(old), INT64_C(1764099000123456789), "ns, as agents sent");
    cr_assert_eq(bus_agent_started_ns(qpid), INT64_C(3000000000), "a QMFv2 count, as seconds");
    cr_assert_eq(bus_agent_started_ns(none), 0);
    qmf_free(now);
    qmf_free(old);
    qmf_free(qpid);
    qmf_free(none);
}

Test(qmfv2_forms, every_type_has_a_qmfv2_code)
{
    int t;

    for (t = 0; t < QMF_TYPE_COUNT; t++)
        cr_assert_eq(strncmp(qmf_type_qmfv2_code((enum qmf_type)t), "TYPE_", 5), 0, "%s",
                     qmf_type_name((enum qmf_type)t));
    cr_assert_str_eq(qmf_type_qmfv2_code(QMF_T_UINT64), "TYPE_INT");
    cr_assert_str_eq(qmf_type_qmfv2_code(QMF_T_SSTR), "TYPE_STRING");
    cr_assert_str_eq(qmf_type_qmfv2_code(QMF_T_OBJID), "TYPE_MAP");
    cr_assert_str_eq(qmf_type_qmfv2_code(QMF_T_UUID), "TYPE_UUID");
}
