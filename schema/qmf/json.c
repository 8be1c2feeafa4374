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
 * object -> MAP.  json-c clamps integers beyond 64 bits to INT64_MIN or
 * UINT64_MAX; the schema's range check is the only guard there.
 *
 * Costs: both directions go through a json-c tree, O(N) time and memory in
 * the size of the document.
 */
#include "schema/qmf/codec.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

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
 * only a clamped value needs the uint64 reader.
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

/* Recursion is bounded by the tokener's depth limit. */
static qmf_value *
from_json(json_object *o)
{
    qmf_value *v;
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
        return qmf_stringn(json_object_get_string(o),
                           (size_t)json_object_get_string_len(o));
    case json_type_array:
        v = qmf_list();
        n = json_object_array_length(o);
        for (i = 0; i < n; i++)
            qmf_list_append(v, from_json(json_object_array_get_idx(o, i)));
        return v;
    case json_type_object:
        v = qmf_map();
        json_object_object_foreach(o, key, child)
            qmf_map_set(v, key, from_json(child));
        return v;
    }
    return qmf_void();
}

qmf_value *
qmf_from_json(const char *buf, size_t len, qmf_error *err)
{
    json_tokener *tok;
    json_object *o;
    enum json_tokener_error jerr;
    size_t end;
    qmf_value *v;

    if (len >= INT_MAX) {
        qmf_error_set(err, QMF_ERR_TOO_LARGE,
                      "JSON body of %zu bytes is too large", len);
        return NULL;
    }
    /* json-c counts the values on its stack, the outermost one included. */
    tok = json_tokener_new_ex(JSON_MAX_DEPTH + 1);
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
    v = from_json(o);
    json_object_put(o);
    return v;
}
