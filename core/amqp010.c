/*
 * The AMQP 0-10 typed encoding of maps and lists, decoding only: what a
 * Qpid C++ peer speaking 0-10 sends as an amqp/map or amqp/list body
 * (docs/PROTOCOL.md §4.1).  Written from the 0-10 specification's type
 * table; virtbus answers such a peer in AMQP 1.0's encoding.
 *
 * A map is size (uint32, the bytes after it), count (uint32), then count
 * entries of key (str8) and value; a list the same with values only; a
 * value is a type code (one octet) and its data.  The code's high nibble
 * gives the data's width (0x0-0x7: 1 to 128 octets, 0xc: 5, 0xd: 9, 0xf:
 * none) or its size prefix (0x8: one octet, 0x9: two, 0xa: four), so
 * every value's extent is known even for types QMF has no kind for.
 *
 * Kinds: the integers, float, double, boolean, uuid and void as
 * themselves; str8/str16 (UTF-8) as STRING; Latin-1 strings converted to
 * UTF-8; vbin8/16/32 as STRING when they hold UTF-8 text without NUL
 * (Qpid writes strings without an encoding as vbin), else BINARY; the
 * fixed-width binN as BINARY; char as a one-character STRING, char-utf32
 * as UINT32 (as AMQP 1.0's char); datetime (seconds) as INT64 ns (our
 * absTime); map, list and array as MAP and LIST.  UTF-16 strings,
 * decimals, struct32, bit and unknown codes are QMF_ERR_MALFORMED, as are
 * text that is not valid UTF-8 or holds a NUL, a key twice, a count the
 * bytes cannot hold, and nesting deeper than 64 (the other codecs'
 * bound).  Costs: O(N log N) in the number of values, like amqp.c.
 */
#include "core/codec.h"

#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define A010_MAX_DEPTH 64

enum {
    A010_INT8 = 0x01, A010_UINT8 = 0x02, A010_CHAR = 0x04, A010_BOOLEAN = 0x08,
    A010_INT16 = 0x11, A010_UINT16 = 0x12,
    A010_INT32 = 0x21, A010_UINT32 = 0x22, A010_FLOAT = 0x23, A010_CHAR_UTF32 = 0x27,
    A010_INT64 = 0x31, A010_UINT64 = 0x32, A010_DOUBLE = 0x33, A010_DATETIME = 0x38,
    A010_UUID = 0x48,
    A010_VBIN8 = 0x80, A010_STR8_LATIN = 0x84, A010_STR8 = 0x85,
    A010_VBIN16 = 0x90, A010_STR16_LATIN = 0x94, A010_STR16 = 0x95,
    A010_VBIN32 = 0xa0, A010_MAP = 0xa8, A010_LIST = 0xa9, A010_ARRAY = 0xaa,
    A010_VOID = 0xf0,
};

struct reader {
    const unsigned char *p, *end;
    qmf_error *err;
};

static qmf_value *
fail(struct reader *r, qmf_value *partial, const char *what)
{
    qmf_free(partial);
    qmf_error_set(r->err, QMF_ERR_MALFORMED, "malformed AMQP 0-10 body: %s", what);
    return NULL;
}

static bool
take(struct reader *r, size_t n, const unsigned char **out)
{
    if ((size_t)(r->end - r->p) < n)
        return false;
    *out = r->p;
    r->p += n;
    return true;
}

static uint64_t
be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static bool
take_uint(struct reader *r, size_t n, uint64_t *out)
{
    const unsigned char *p;

    if (!take(r, n, &p))
        return false;
    *out = be(p, n);
    return true;
}

/* The data width of a fixed-width code, or -1 for a size-prefixed one. */
static int
fixed_width(uint8_t code)
{
    static const int widths[16] = { 1, 2, 4, 8, 16, 32, 64, 128, -1, -1, -1, -1, 5, 9, -1, 0 };

    return widths[code >> 4];
}

/* Octets of the size prefix of a variable-width code; 0 if not one. */
static size_t
size_width(uint8_t code)
{
    switch (code >> 4) {
    case 0x8: return 1;
    case 0x9: return 2;
    case 0xa: return 4;
    default: return 0;
    }
}

static qmf_value *
text_value(struct reader *r, const unsigned char *s, size_t n, bool latin1, bool vbin)
{
    char *utf8;
    size_t i, o = 0;
    qmf_value *v;

    if (qmf_text_has_nul((const char *)s, n)) {
        if (vbin)
            return qmf_binary(s, n);
        return fail(r, NULL, "string contains a NUL byte");
    }
    if (!latin1) {
        if (qmf_utf8_valid((const char *)s, n))
            return qmf_stringn((const char *)s, n);
        if (vbin)
            return qmf_binary(s, n);
        return fail(r, NULL, "string is not valid UTF-8");
    }
    utf8 = qmf_xmalloc(2 * n + 1);
    for (i = 0; i < n; i++) {
        if (s[i] < 0x80) {
            utf8[o++] = (char)s[i];
        } else {
            utf8[o++] = (char)(0xc0 | s[i] >> 6);
            utf8[o++] = (char)(0x80 | (s[i] & 0x3f));
        }
    }
    v = qmf_stringn(utf8, o);
    free(utf8);
    return v;
}

static qmf_value *read_typed(struct reader *r, uint8_t code, int depth);

/* count entries (map: keyed) of a compound whose data is [start, end). */
static qmf_value *
read_entries(struct reader *r, bool keyed, uint64_t count, int depth)
{
    qmf_value *c = keyed ? qmf_map() : qmf_list();
    uint64_t i;

    /* Each entry takes at least one octet: a count beyond the bytes left
     * is a lie, and must not size anything. */
    if (count > (uint64_t)(r->end - r->p))
        return fail(r, c, "a count larger than its data");
    for (i = 0; i < count; i++) {
        const unsigned char *key = NULL, *codep;
        uint64_t klen = 0;
        qmf_value *v;

        if (keyed) {
            if (!take_uint(r, 1, &klen) || !take(r, (size_t)klen, &key))
                return fail(r, c, "truncated map key");
            if (qmf_text_has_nul((const char *)key, klen) ||
                !qmf_utf8_valid((const char *)key, klen))
                return fail(r, c, "map key is not UTF-8 text");
        }
        if (!take(r, 1, &codep))
            return fail(r, c, "truncated value");
        if ((v = read_typed(r, *codep, depth + 1)) == NULL) {
            qmf_free(c);
            return NULL;
        }
        if (keyed) {
            char *ckey = qmf_xstrndup((const char *)key, klen);

            qmf_map_append(c, ckey, v);
            free(ckey);
        } else {
            qmf_list_append(c, v);
        }
    }
    if (keyed && qmf_map_has_duplicates(c))
        return fail(r, c, "map with a key twice");
    return c;
}

/* A compound's data as a reader of its own: its size must fit. */
static bool
sub_reader(struct reader *r, size_t size_octets, struct reader *sub)
{
    uint64_t size;
    const unsigned char *data;

    if (!take_uint(r, size_octets, &size) || !take(r, (size_t)size, &data))
        return false;
    *sub = (struct reader){ data, data + size, r->err };
    return true;
}

static qmf_value *
read_compound(struct reader *r, uint8_t code, int depth)
{
    struct reader sub;
    uint64_t count, type, i;
    qmf_value *v;

    if (!sub_reader(r, 4, &sub))
        return fail(r, NULL, "truncated map, list or array");
    if (code == A010_ARRAY) {
        if (!take_uint(&sub, 1, &type) || !take_uint(&sub, 4, &count))
            return fail(r, NULL, "truncated array");
        if (count > (uint64_t)(sub.end - sub.p) && fixed_width((uint8_t)type) != 0)
            return fail(r, NULL, "a count larger than its data");
        if (count > 65536 && fixed_width((uint8_t)type) == 0)
            return fail(r, NULL, "an array of more than 65536 empty values");
        v = qmf_list();
        for (i = 0; i < count; i++) {
            qmf_value *item = read_typed(&sub, (uint8_t)type, depth + 1);

            if (item == NULL) {
                qmf_free(v);
                return NULL;
            }
            qmf_list_append(v, item);
        }
    } else {
        if (!take_uint(&sub, 4, &count))
            return fail(r, NULL, "truncated map or list");
        if ((v = read_entries(&sub, code == A010_MAP, count, depth)) == NULL)
            return NULL;
    }
    if (sub.p != sub.end)
        return fail(r, v, "a map, list or array larger than its entries");
    return v;
}

static qmf_value *
read_typed(struct reader *r, uint8_t code, int depth)
{
    const unsigned char *d;
    int width = fixed_width(code);
    uint64_t n, u;
    union { uint32_t u; float f; } f32;
    union { uint64_t u; double d; } f64;

    if (depth > A010_MAX_DEPTH)
        return fail(r, NULL, "a value nested inside more than 64 containers");
    if (code == A010_MAP || code == A010_LIST || code == A010_ARRAY)
        return read_compound(r, code, depth);
    if (width < 0) {
        size_t sw = size_width(code);

        if (sw == 0 || !take_uint(r, sw, &n) || !take(r, (size_t)n, &d))
            return fail(r, NULL, "truncated value");
    } else if (!take(r, (size_t)width, &d)) {
        return fail(r, NULL, "truncated value");
    } else {
        n = (uint64_t)width;
    }
    u = width > 0 && width <= 8 ? be(d, (size_t)width) : 0;
    switch (code) {
    case A010_INT8:    return qmf_int(QMF_INT8, (int8_t)u);
    case A010_UINT8:   return qmf_uint(QMF_UINT8, u);
    case A010_CHAR:    return text_value(r, d, 1, true, false);
    case A010_BOOLEAN: return qmf_bool(u != 0);
    case A010_INT16:   return qmf_int(QMF_INT16, (int16_t)u);
    case A010_UINT16:  return qmf_uint(QMF_UINT16, u);
    case A010_INT32:   return qmf_int(QMF_INT32, (int32_t)u);
    case A010_UINT32:  return qmf_uint(QMF_UINT32, u);
    case A010_CHAR_UTF32: return qmf_uint(QMF_UINT32, u);
    case A010_FLOAT:
        f32.u = (uint32_t)u;
        return qmf_float(f32.f);
    case A010_INT64:   return qmf_int(QMF_INT64, (int64_t)u);
    case A010_UINT64:  return qmf_uint(QMF_UINT64, u);
    case A010_DOUBLE:
        f64.u = u;
        return qmf_double(f64.d);
    case A010_DATETIME:
        if (u > (uint64_t)(INT64_MAX / 1000000000))
            return fail(r, NULL, "datetime out of the ns range");
        return qmf_i64((int64_t)u * 1000000000);
    case A010_UUID:    return qmf_uuid(d);
    case A010_STR8:
    case A010_STR16:   return text_value(r, d, (size_t)n, false, false);
    case A010_STR8_LATIN:
    case A010_STR16_LATIN: return text_value(r, d, (size_t)n, true, false);
    case A010_VBIN8:
    case A010_VBIN16:
    case A010_VBIN32:  return text_value(r, d, (size_t)n, false, true);
    case A010_VOID:    return qmf_void();
    default:
        break;
    }
    /* The fixed-width binN: opaque octets. */
    if ((code & 0x0f) == 0 && width > 0)
        return qmf_binary(d, (size_t)n);
    qmf_error_set(r->err, QMF_ERR_MALFORMED,
                  "malformed AMQP 0-10 body: unsupported type code 0x%02x", code);
    return NULL;
}

bool
qmf_amqp010_shaped(const char *buf, size_t len)
{
    return len >= 8 && be((const unsigned char *)buf, 4) == len - 4;
}

qmf_value *
qmf_from_amqp010(const char *buf, size_t len, bool is_list, qmf_error *err)
{
    struct reader r = { (const unsigned char *)buf, (const unsigned char *)buf + len, err };
    qmf_value *v;

    if (!qmf_amqp010_shaped(buf, len))
        return fail(&r, NULL, "size does not match the body");
    v = read_compound(&r, is_list ? A010_LIST : A010_MAP, 0);
    if (v != NULL && r.p != r.end)
        return fail(&r, v, "trailing data");
    return v;
}
