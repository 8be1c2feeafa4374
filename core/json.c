/*
 * The JSON codec (json-c) for AMQP 0-9-1 bodies.  JSON has no widths, so
 * the mapping is lossy by design and qmf_coerce() restores declared types:
 *
 *   VOID -> null          BOOL -> true/false     integers -> integer
 *   FLOAT/DOUBLE -> number (NaN and +-Inf have no JSON form: null)
 *   UUID -> "xxxxxxxx-xxxx-..."   STRING -> string   BINARY -> base64 string
 *   MAP -> object         LIST -> array
 *
 * and back: null -> VOID, true/false -> BOOL, integer -> INT64 (UINT64 above
 * INT64_MAX), other numbers -> DOUBLE, string -> STRING, array -> LIST,
 * object -> MAP.
 *
 * What json-c lets through and we refuse (QMF_ERR_MALFORMED), found by one
 * lexical pass before parsing or checked on the tree after it:
 *   - integers outside [INT64_MIN, UINT64_MAX] (json-c clamps them);
 *   - NUL in a string or key, escaped or not (json-c cuts keys there, and
 *     every string is used as a C string somewhere), and any other
 *     unescaped control character (RFC 8259);
 *   - lone or reversed UTF-16 surrogate escapes, and overlong or
 *     surrogate UTF-8 bytes (json-c's UTF-8 check takes them);
 *   - NaN, Infinity and -Infinity, which are not JSON (json-c reads them
 *     even when strict), and numbers beyond a double's range (json-c
 *     reads them as infinite).
 * A repeated key keeps its last value (json-c's behaviour).
 *
 * Costs: both directions go through a json-c tree, O(N) time and memory in
 * the size of the document; maps are built without per-key lookups
 * (json-c's keys are already unique).  json-c's cost is per value (a hash
 * table for every object, even an empty one), so the prescan refuses a
 * body of more than QMF_MAX_VALUES values before json-c sees it.
 */
#include "core/codec.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "core/text.h"

/* Containers nested deeper than this are rejected rather than recursed on. */
#define JSON_MAX_DEPTH 64

/* json-c returns NULL only when malloc fails, which is fatal here. */
static json_object *
jcheck(json_object *o)
{
    if (o == NULL) {
        fprintf(stderr, "virtbus: out of memory in json-c\n");
        abort();
    }
    return o;
}

/*
 * The shortest text that reads back as the same number: %.17g always does,
 * but prints 0.1 as 0.10000000000000001.  Up to four snprintf/strtod
 * rounds per number, paid only by floating values.  A ".0" keeps the value
 * a JSON double, and a locale's decimal comma becomes a point.
 */
static json_object *
json_floating(double d, bool is_float)
{
    char buf[40], *comma;
    int prec;

    for (prec = is_float ? 6 : 15; prec < 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (is_float ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
            break;
    }
    if (prec == 17)
        snprintf(buf, sizeof(buf), "%.17g", d);
    if ((comma = strchr(buf, ',')) != NULL)
        *comma = '.';
    if (strpbrk(buf, ".e") == NULL)
        strcat(buf, ".0");
    return jcheck(json_object_new_double_s(d, buf));
}

static json_object *
json_base64(const char *data, size_t len)
{
    unsigned char *out = qmf_xmalloc(len / 3 * 4 + 5);
    int n = EVP_EncodeBlock(out, (const unsigned char *)data, (int)len);
    json_object *o = jcheck(json_object_new_string_len((char *)out, n));

    free(out);
    return o;
}

/* NULL stands for JSON null, as in json-c itself. */
static json_object *
to_json(const qmf_value *v)
{
    json_object *o;
    char uuid[37];
    size_t i;

    switch (v->kind) {
    case QMF_VOID:
        return NULL;
    case QMF_BOOL:
        return jcheck(json_object_new_boolean(v->u.b));
    case QMF_UINT8: case QMF_UINT16: case QMF_UINT32: case QMF_UINT64:
        if (v->u.u > INT64_MAX)
            return jcheck(json_object_new_uint64(v->u.u));
        return jcheck(json_object_new_int64((int64_t)v->u.u));
    case QMF_INT8: case QMF_INT16: case QMF_INT32: case QMF_INT64:
        return jcheck(json_object_new_int64(v->u.i));
    case QMF_FLOAT:
        return isfinite(v->u.f) ? json_floating(v->u.f, true) : NULL;
    case QMF_DOUBLE:
        return isfinite(v->u.d) ? json_floating(v->u.d, false) : NULL;
    case QMF_UUID:
        qmf_uuid_format(v->u.uuid, uuid);
        return jcheck(json_object_new_string(uuid));
    case QMF_STRING:
        return jcheck(json_object_new_string_len(v->u.str.ptr,
                                                 (int)v->u.str.len));
    case QMF_BINARY:
        return json_base64(v->u.str.ptr, v->u.str.len);
    case QMF_MAP:
        o = jcheck(json_object_new_object());
        for (i = 0; i < v->u.map.len; i++)
            json_object_object_add(o, v->u.map.items[i].key,
                                   to_json(v->u.map.items[i].value));
        return o;
    case QMF_LIST:
        o = jcheck(json_object_new_array_ext((int)v->u.list.len));
        for (i = 0; i < v->u.list.len; i++)
            json_object_array_add(o, to_json(v->u.list.items[i]));
        return o;
    }
    return NULL;
}

char *
qmf_to_json(const qmf_value *v, size_t *len)
{
    json_object *o = to_json(v);
    const char *text = "null";
    size_t n = 4;
    char *out;

    if (o != NULL) {
        text = json_object_to_json_string_length(o,
            JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
        if (text == NULL)
            jcheck(NULL);
    }
    out = qmf_xstrndup(text, n);
    json_object_put(o);
    if (len != NULL)
        *len = n;
    return out;
}

/*
 * json-c reports integers above INT64_MAX by clamping the int64 reader, so
 * only a clamped value needs the uint64 reader.  (Integers beyond 64 bits
 * never get here: json_prescan refuses them.)
 */
static qmf_value *
from_json_int(json_object *o)
{
    int64_t i = json_object_get_int64(o);
    uint64_t u;

    if (i == INT64_MAX && (u = json_object_get_uint64(o)) > INT64_MAX)
        return qmf_u64(u);
    return qmf_i64(i);
}

static qmf_value *
bad_text(qmf_value *partial, qmf_error *err, const char *what)
{
    qmf_free(partial);
    qmf_error_set(err, QMF_ERR_MALFORMED, "malformed JSON: %s is not valid UTF-8", what);
    return NULL;
}

/* Recursion is bounded by the tokener's depth limit.  NULL with err set if
 * a string or key is not valid UTF-8 text. */
static qmf_value *
from_json(json_object *o, qmf_error *err)
{
    qmf_value *v, *child;
    const char *str;
    size_t i, n;

    switch (json_object_get_type(o)) {
    case json_type_null:
        return qmf_void();
    case json_type_boolean:
        return qmf_bool(json_object_get_boolean(o));
    case json_type_int:
        return from_json_int(o);
    case json_type_double:
        return qmf_double(json_object_get_double(o));
    case json_type_string:
        str = json_object_get_string(o);
        n = (size_t)json_object_get_string_len(o);
        if (qmf_text_has_nul(str, n) || !qmf_utf8_valid(str, n))
            return bad_text(NULL, err, "a string");
        return qmf_stringn(str, n);
    case json_type_array:
        v = qmf_list();
        n = json_object_array_length(o);
        for (i = 0; i < n; i++) {
            if ((child = from_json(json_object_array_get_idx(o, i), err)) == NULL) {
                qmf_free(v);
                return NULL;
            }
            qmf_list_append(v, child);
        }
        return v;
    case json_type_object:
        v = qmf_map();
        json_object_object_foreach(o, key, value) {
            if (!qmf_utf8_valid(key, strlen(key)))
                return bad_text(v, err, "a key");
            if ((child = from_json(value, err)) == NULL) {
                qmf_free(v);
                return NULL;
            }
            /* json-c keeps one value per key: no lookup needed. */
            qmf_map_append(v, key, child);
        }
        return v;
    }
    return qmf_void();
}

static int
hex4(const char *p, const char *end, unsigned *out)
{
    unsigned v = 0;
    int i;

    if (end - p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        char c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* An integer's digits (no sign, no leading zeros but for "0") within the
 * magnitude limit, given as a string of as many digits. */
static bool
digits_within(const char *p, size_t n, const char *limit)
{
    size_t lim = strlen(limit);

    return n < lim || (n == lim && memcmp(p, limit, n) <= 0);
}

/* Whether the number of n bytes at p overflows a double. */
static bool
double_overflows(const char *p, size_t n)
{
    char *copy = qmf_xstrndup(p, n);
    bool inf = isinf(strtod(copy, NULL));

    free(copy);
    return inf;
}

/*
 * The lexical checks json-c does not make (see the top of this file), in
 * one pass that only needs to know where strings and numbers are; what is
 * not JSON at all is left to json-c to report.  It also counts the values
 * (each starts with a quote, a digit or '-', a bracket, or the t, f or n
 * of a word) and stops past QMF_MAX_VALUES, before json-c builds a hash
 * table for every object: json-c's cost per value is what makes a body of
 * many small values slow, not its size.  *deepest: the most brackets open
 * around one value.  0, or -1 with err set.
 */
static int
json_prescan(const char *buf, size_t len, size_t *deepest, qmf_error *err)
{
    const char *p = buf, *end = buf + len, *why;
    unsigned cp, low;
    size_t values = 0, open = 0;

    *deepest = 0;

    while (p < end) {
        if (*p == '"' || *p == '-' || (*p >= '0' && *p <= '9') || *p == '{' ||
            *p == '[' || *p == 't' || *p == 'f' || *p == 'n') {
            /* Depth first, as json-c would say it (a key counts as its
             * value would: json-c refuses that value anyway). */
            if (open > JSON_MAX_DEPTH) {
                why = "nesting too deep";
                goto bad;
            }
            if (open > *deepest)
                *deepest = open;
            if (++values > QMF_MAX_VALUES) {
                qmf_error_set(err, QMF_ERR_TOO_LARGE, "JSON body at offset %zu: more than "
                              "%d values", (size_t)(p - buf), QMF_MAX_VALUES);
                return -1;
            }
            if (*p == '{' || *p == '[')
                open++;
        } else if ((*p == '}' || *p == ']') && open > 0) {
            open--;
        }
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            const char *start = p, *digits;
            bool neg = *p == '-', integral = true;

            if (neg)
                p++;
            digits = p;
            while (p < end && *p >= '0' && *p <= '9')
                p++;
            if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
                integral = false;
            while (p < end && ((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' ||
                               *p == 'E' || *p == '+' || *p == '-'))
                p++;
            if (integral && !digits_within(digits, (size_t)(p - start) - neg,
                                           neg ? "9223372036854775808" :
                                                 "18446744073709551615")) {
                why = "an integer outside the 64-bit range";
                p = start;
                goto bad;
            }
            if (!integral && double_overflows(start, (size_t)(p - start))) {
                why = "a number outside the range of a double";
                p = start;
                goto bad;
            }
            continue;
        }
        /* Outside strings only true, false and null are words. */
        if (*p == 'N' || *p == 'I') {
            why = "NaN and Infinity are not JSON";
            goto bad;
        }
        if (*p != '"') {
            p++;
            continue;
        }
        for (p++; p < end && *p != '"'; p++) {
            if ((unsigned char)*p < 0x20) {
                why = *p == '\0' ? "a NUL byte in a string" :
                      "an unescaped control character in a string";
                goto bad;
            }
            if (*p != '\\')
                continue;
            if (++p >= end)
                break;
            if (*p != 'u')
                continue;
            if (hex4(p + 1, end, &cp) != 0)
                continue;       /* json-c reports the bad escape */
            if (cp == 0) {
                why = "\\u0000 (NUL) in a string";
                goto bad;
            }
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                why = "a lone low surrogate escape in a string";
                goto bad;
            }
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 3 || p[1] != '\\' || p[2] != 'u' ||
                    hex4(p + 3, end, &low) != 0 || low < 0xdc00 || low > 0xdfff) {
                    why = "a lone high surrogate escape in a string";
                    goto bad;
                }
                p += 6;
            }
        }
        p++;
    }
    return 0;
bad:
    qmf_error_set(err, QMF_ERR_MALFORMED, "malformed JSON at offset %zu: %s",
                  (size_t)(p - buf), why);
    return -1;
}

qmf_value *
qmf_from_json(const char *buf, size_t len, qmf_error *err)
{
    json_tokener *tok;
    json_object *o;
    enum json_tokener_error jerr;
    size_t end, deepest;
    qmf_value *v;

    if (len >= INT_MAX) {
        qmf_error_set(err, QMF_ERR_TOO_LARGE,
                      "JSON body of %zu bytes is too large", len);
        return NULL;
    }
    if (json_prescan(buf, len, &deepest, err) != 0)
        return NULL;
    /* json-c counts the values on its stack, the outermost one included;
     * one more for slack.  A stack for the document's own depth, not the
     * most allowed: at 32 bytes a level, the most is a request of over a
     * kilobyte, which makes glibc consolidate every small chunk freed
     * since the last such request, on every decode (a tenth of an
     * agent's time). */
    tok = json_tokener_new_ex((int)(deepest + 2 < JSON_MAX_DEPTH + 1 ? deepest + 2
                                                                    : JSON_MAX_DEPTH + 1));
    if (tok == NULL)
        jcheck(NULL);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    o = json_tokener_parse_ex(tok, buf, (int)len);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue) {
        /* Only the end of input ends a bare number: say so with a NUL. */
        o = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        end = len;
    }
    json_tokener_free(tok);
    if (jerr != json_tokener_success) {
        json_object_put(o);
        qmf_error_set(err, QMF_ERR_MALFORMED,
                      "malformed JSON at offset %zu: %s", end,
                      json_tokener_error_desc(jerr));
        return NULL;
    }
    if (end < len) {
        json_object_put(o);
        qmf_error_set(err, QMF_ERR_MALFORMED,
                      "malformed JSON at offset %zu: trailing data after "
                      "the document", end);
        return NULL;
    }
    v = from_json(o, err);
    json_object_put(o);
    return v;
}
