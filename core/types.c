/* QMF schema types: their names, their wire kinds, and coercion onto them. */
#include "core/types.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define SSTR_MAX 255

static const char *const type_names[QMF_TYPE_COUNT] = {
    [QMF_T_UINT8] = "uint8",       [QMF_T_UINT16] = "uint16",
    [QMF_T_UINT32] = "uint32",     [QMF_T_UINT64] = "uint64",
    [QMF_T_INT8] = "int8",         [QMF_T_INT16] = "int16",
    [QMF_T_INT32] = "int32",       [QMF_T_INT64] = "int64",
    [QMF_T_BOOL] = "bool",         [QMF_T_FLOAT] = "float",
    [QMF_T_DOUBLE] = "double",     [QMF_T_SSTR] = "sstr",
    [QMF_T_LSTR] = "lstr",         [QMF_T_ABSTIME] = "absTime",
    [QMF_T_DELTATIME] = "deltaTime", [QMF_T_OBJID] = "objId",
    [QMF_T_UUID] = "uuid",         [QMF_T_MAP] = "map",
    [QMF_T_LIST] = "list",         [QMF_T_BINARY] = "binary",
};

static const enum qmf_kind type_kinds[QMF_TYPE_COUNT] = {
    [QMF_T_UINT8] = QMF_UINT8,     [QMF_T_UINT16] = QMF_UINT16,
    [QMF_T_UINT32] = QMF_UINT32,   [QMF_T_UINT64] = QMF_UINT64,
    [QMF_T_INT8] = QMF_INT8,       [QMF_T_INT16] = QMF_INT16,
    [QMF_T_INT32] = QMF_INT32,     [QMF_T_INT64] = QMF_INT64,
    [QMF_T_BOOL] = QMF_BOOL,       [QMF_T_FLOAT] = QMF_FLOAT,
    [QMF_T_DOUBLE] = QMF_DOUBLE,   [QMF_T_SSTR] = QMF_STRING,
    [QMF_T_LSTR] = QMF_STRING,     [QMF_T_ABSTIME] = QMF_INT64,
    [QMF_T_DELTATIME] = QMF_INT64, [QMF_T_OBJID] = QMF_MAP,
    [QMF_T_UUID] = QMF_UUID,       [QMF_T_MAP] = QMF_MAP,
    [QMF_T_LIST] = QMF_LIST,       [QMF_T_BINARY] = QMF_BINARY,
};

/* Apache Qpid's QMFv2 data types, which its C++ console accepts and no
 * other: coarser than ours, so the schema carries ours beside them. */
static const char *const qmfv2_codes[QMF_TYPE_COUNT] = {
    [QMF_T_UINT8] = "TYPE_INT",    [QMF_T_UINT16] = "TYPE_INT",
    [QMF_T_UINT32] = "TYPE_INT",   [QMF_T_UINT64] = "TYPE_INT",
    [QMF_T_INT8] = "TYPE_INT",     [QMF_T_INT16] = "TYPE_INT",
    [QMF_T_INT32] = "TYPE_INT",    [QMF_T_INT64] = "TYPE_INT",
    [QMF_T_BOOL] = "TYPE_BOOL",    [QMF_T_FLOAT] = "TYPE_FLOAT",
    [QMF_T_DOUBLE] = "TYPE_FLOAT", [QMF_T_SSTR] = "TYPE_STRING",
    [QMF_T_LSTR] = "TYPE_STRING",    [QMF_T_ABSTIME] = "TYPE_INT",
    [QMF_T_DELTATIME] = "TYPE_INT", [QMF_T_OBJID] = "TYPE_MAP",
    [QMF_T_UUID] = "TYPE_UUID",    [QMF_T_MAP] = "TYPE_MAP",
    [QMF_T_LIST] = "TYPE_LIST",    [QMF_T_BINARY] = "TYPE_STRING",
};

const char *
qmf_type_qmfv2_code(enum qmf_type t)
{
    if ((unsigned)t >= QMF_TYPE_COUNT)
        return "TYPE_VOID";
    return qmfv2_codes[t];
}

int
qmf_type_from_name(const char *name)
{
    int t;

    if (name == NULL)
        return -1;
    for (t = 0; t < QMF_TYPE_COUNT; t++)
        if (strcmp(type_names[t], name) == 0)
            return t;
    return -1;
}

const char *
qmf_type_name(enum qmf_type t)
{
    if ((unsigned)t >= QMF_TYPE_COUNT)
        return "invalid";
    return type_names[t];
}

enum qmf_kind
qmf_type_kind(enum qmf_type t)
{
    if ((unsigned)t >= QMF_TYPE_COUNT)
        return QMF_VOID;
    return type_kinds[t];
}

/* Every message names the argument the same way, so a caller can grep. */
#define ARG(what) ((what) != NULL ? (what) : "?")

static int
wrong_kind(const qmf_value *v, enum qmf_type t, const char *what,
           qmf_error *err)
{
    qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                  "argument '%s': expected %s, got %s", ARG(what),
                  qmf_type_name(t),
                  v != NULL ? qmf_kind_name(v->kind) : "nothing");
    return -1;
}

static int
out_of_range(const qmf_value *v, enum qmf_type t, const char *what,
             qmf_error *err)
{
    char num[64];

    if (qmf_is_unsigned(v))
        snprintf(num, sizeof(num), "%" PRIu64, qmf_as_uint(v));
    else if (qmf_is_signed(v))
        snprintf(num, sizeof(num), "%" PRId64, qmf_as_int(v));
    else
        snprintf(num, sizeof(num), "%.17g",
                 v->kind == QMF_FLOAT ? (double)qmf_as_float(v) : qmf_as_double(v));
    qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                  "argument '%s': value %s out of range for %s", ARG(what),
                  num, qmf_type_name(t));
    return -1;
}

/* The range of an integer kind. */
static void
int_range(enum qmf_kind kind, int64_t *min, uint64_t *max)
{
    switch (kind) {
    case QMF_UINT8:  *min = 0;         *max = UINT8_MAX;  break;
    case QMF_UINT16: *min = 0;         *max = UINT16_MAX; break;
    case QMF_UINT32: *min = 0;         *max = UINT32_MAX; break;
    case QMF_UINT64: *min = 0;         *max = UINT64_MAX; break;
    case QMF_INT8:   *min = INT8_MIN;  *max = INT8_MAX;   break;
    case QMF_INT16:  *min = INT16_MIN; *max = INT16_MAX;  break;
    case QMF_INT32:  *min = INT32_MIN; *max = INT32_MAX;  break;
    default:         *min = INT64_MIN; *max = INT64_MAX;  break;
    }
}

/*
 * Integers to an integer type, within its range.  A floating value is
 * refused even when integral: 1e3 or 3.0 for a uint32 is a sender that
 * does not know the type, and a double cannot say every uint64 anyway.
 * A negative value is held in `i` and any other in `u`, so that int64 and
 * uint64 never have to meet in one C type.
 */
static int
coerce_integer(qmf_value **slot, enum qmf_type t, const char *what,
               qmf_error *err)
{
    qmf_value *v = *slot;
    enum qmf_kind kind = qmf_type_kind(t);
    bool neg;
    int64_t i = 0, min;
    uint64_t u = 0, max;

    if (qmf_is_unsigned(v)) {
        neg = false;
        u = qmf_as_uint(v);
    } else if (qmf_is_signed(v)) {
        neg = qmf_as_int(v) < 0;
        if (neg)
            i = qmf_as_int(v);
        else
            u = (uint64_t)qmf_as_int(v);
    } else {
        return wrong_kind(v, t, what, err);
    }

    int_range(kind, &min, &max);
    if (neg ? i < min : u > max)
        return out_of_range(v, t, what, err);
    if (v->kind == kind)
        return 0;
    *slot = kind >= QMF_UINT8 && kind <= QMF_UINT64 ? qmf_uint(kind, u)
                                                    : qmf_int(kind, neg ? i : (int64_t)u);
    qmf_free(v);
    return 0;
}

static int
coerce_floating(qmf_value **slot, enum qmf_type t, const char *what,
                qmf_error *err)
{
    qmf_value *v = *slot;
    double d;

    if (!qmf_get_double(v, &d))
        return wrong_kind(v, t, what, err);
    if (t == QMF_T_DOUBLE) {
        if (v->kind != QMF_DOUBLE) {
            *slot = qmf_double(d);
            qmf_free(v);
        }
        return 0;
    }
    /* Rounding to the nearest float is accepted, also down to FLT_MAX from
     * below the midpoint to 2^128 (JSON's shortest "3.4028235e+38" is above
     * FLT_MAX); overflowing to infinity is not. */
    if (isfinite(d) && (d >= 0x1.ffffffp127 || d <= -0x1.ffffffp127))
        return out_of_range(v, t, what, err);
    if (v->kind != QMF_FLOAT) {
        *slot = qmf_float((float)d);
        qmf_free(v);
    }
    return 0;
}

/* A UUID in a string property is carried as its canonical text. */
static int
coerce_string(qmf_value **v, enum qmf_type t, const char *what,
              qmf_error *err)
{
    if ((*v)->kind == QMF_UUID) {
        char text[37];

        qmf_uuid_format(qmf_as_uuid(*v), text);
        qmf_free(*v);
        *v = qmf_string(text);
    }
    if ((*v)->kind != QMF_STRING)
        return wrong_kind(*v, t, what, err);
    if (t == QMF_T_SSTR && qmf_bytes_len(*v) > SSTR_MAX) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "argument '%s': string of %zu bytes is too long for "
                      "sstr (at most %d)", ARG(what), qmf_bytes_len(*v),
                      SSTR_MAX);
        return -1;
    }
    return 0;
}

static int
coerce_uuid(qmf_value **v, const char *what, qmf_error *err)
{
    uint8_t uuid[16];

    if ((*v)->kind == QMF_UUID)
        return 0;
    if ((*v)->kind != QMF_STRING)
        return wrong_kind(*v, QMF_T_UUID, what, err);
    if (strlen(qmf_as_bytes(*v)) != qmf_bytes_len(*v) ||
        !qmf_uuid_parse(qmf_as_string(*v), uuid)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "argument '%s': '%.64s' is not a UUID "
                      "(expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
                      ARG(what), qmf_as_string(*v));
        return -1;
    }
    qmf_free(*v);
    *v = qmf_uuid(uuid);
    return 0;
}

/* Base64 as EVP_DecodeBlock reads it: no line breaks, padded to 4. */
static int
coerce_binary(qmf_value **v, const char *what, qmf_error *err)
{
    const char *text;
    size_t len, pad = 0;
    unsigned char *out;
    int n;

    if ((*v)->kind == QMF_BINARY)
        return 0;
    if ((*v)->kind != QMF_STRING)
        return wrong_kind(*v, QMF_T_BINARY, what, err);
    text = qmf_as_string(*v);
    len = qmf_bytes_len(*v);
    if (len % 4 != 0 || len > INT32_MAX || strlen(text) != len)
        goto bad;
    out = qmf_xmalloc(len / 4 * 3 + 1);
    n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (n < 0) {
        free(out);
        goto bad;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes: take them off. */
    if (len >= 1 && text[len - 1] == '=')
        pad++;
    if (len >= 2 && text[len - 2] == '=')
        pad++;
    qmf_free(*v);
    *v = qmf_binary(out, (size_t)n - pad);
    free(out);
    return 0;
bad:
    qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                  "argument '%s': expected binary, got a string that is not "
                  "base64", ARG(what));
    return -1;
}

static int
coerce_objid(const qmf_value *v, const char *what, qmf_error *err)
{
    size_t i;

    if (v->kind != QMF_MAP)
        return wrong_kind(v, QMF_T_OBJID, what, err);
    if (qmf_map_get_string(v, "_agent_name") == NULL ||
        qmf_map_get_string(v, "_object_name") == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "argument '%s': objId needs string keys "
                      "'_agent_name' and '_object_name'", ARG(what));
        return -1;
    }
    for (i = 0; i < qmf_map_len(v); i++) {
        const char *key = qmf_map_at(v, i)->key;

        if (strcmp(key, "_agent_name") != 0 &&
            strcmp(key, "_object_name") != 0) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "argument '%s': unexpected key '%.64s' in objId",
                          ARG(what), key);
            return -1;
        }
    }
    return 0;
}

int
qmf_coerce(qmf_value **v, enum qmf_type t, const char *what, qmf_error *err)
{
    if (v == NULL || *v == NULL)
        return wrong_kind(NULL, t, what, err);

    switch (t) {
    case QMF_T_UINT8: case QMF_T_UINT16: case QMF_T_UINT32: case QMF_T_UINT64:
    case QMF_T_INT8: case QMF_T_INT16: case QMF_T_INT32: case QMF_T_INT64:
    case QMF_T_ABSTIME: case QMF_T_DELTATIME:
        return coerce_integer(v, t, what, err);
    case QMF_T_FLOAT:
    case QMF_T_DOUBLE:
        return coerce_floating(v, t, what, err);
    case QMF_T_BOOL:
        return (*v)->kind == QMF_BOOL ? 0 : wrong_kind(*v, t, what, err);
    case QMF_T_SSTR:
    case QMF_T_LSTR:
        return coerce_string(v, t, what, err);
    case QMF_T_UUID:
        return coerce_uuid(v, what, err);
    case QMF_T_BINARY:
        return coerce_binary(v, what, err);
    case QMF_T_OBJID:
        return coerce_objid(*v, what, err);
    case QMF_T_MAP:
    case QMF_T_LIST:
        return (*v)->kind == qmf_type_kind(t) ? 0
                                              : wrong_kind(*v, t, what, err);
    }
    qmf_error_set(err, QMF_ERR_INTERNAL, "argument '%s': unknown type %d",
                  ARG(what), (int)t);
    return -1;
}
