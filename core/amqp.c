/*
 * The AMQP 1.0 codec (qpid-proton's pn_data_t) for AMQP 1.0 bodies.  AMQP is
 * typed, so every kind has its own AMQP type and the round trip is exact:
 *
 *   VOID null, BOOL boolean, UINT8/16/32/64 ubyte/ushort/uint/ulong,
 *   INT8/16/32/64 byte/short/int/long, FLOAT float, DOUBLE double, UUID uuid,
 *   STRING string, BINARY binary, MAP map (string keys), LIST list.
 *
 * Decoding also takes what other QMF peers send: symbol as STRING (also as a
 * map key), array as LIST, char as UINT32, timestamp (ms) as INT64 ns (our
 * absTime unit) and a described value as its value, descriptor dropped.
 * Decimals and non-string map keys have no QMF meaning and are refused, and
 * so are (QMF_ERR_MALFORMED) strings and keys that are not valid UTF-8 or
 * hold a NUL, and maps with a key twice (AMQP keys are distinct; two
 * readers could pick different values).  Binary values may hold anything.
 *
 * Costs: O(N log N) in the number of nodes (each map's keys are sorted
 * once to find repeats).  proton's pn_data_t holds at most 65535 nodes, so
 * larger bodies cannot be built (the caller batches).
 */
#include "core/codec_amqp.h"

#include <stdlib.h>
#include <string.h>

#include <proton/error.h>

#include "core/text.h"

/* Deeper nesting is refused: proton decodes it, but we recurse on it. */
#define AMQP_MAX_DEPTH 64

static int
put_value(pn_data_t *data, const qmf_value *v)
{
    pn_uuid_t uuid;
    size_t i;
    int rc;

    switch (v->kind) {
    case QMF_VOID:   return pn_data_put_null(data);
    case QMF_BOOL:   return pn_data_put_bool(data, v->u.b);
    case QMF_UINT8:  return pn_data_put_ubyte(data, (uint8_t)v->u.u);
    case QMF_UINT16: return pn_data_put_ushort(data, (uint16_t)v->u.u);
    case QMF_UINT32: return pn_data_put_uint(data, (uint32_t)v->u.u);
    case QMF_UINT64: return pn_data_put_ulong(data, v->u.u);
    case QMF_INT8:   return pn_data_put_byte(data, (int8_t)v->u.i);
    case QMF_INT16:  return pn_data_put_short(data, (int16_t)v->u.i);
    case QMF_INT32:  return pn_data_put_int(data, (int32_t)v->u.i);
    case QMF_INT64:  return pn_data_put_long(data, v->u.i);
    case QMF_FLOAT:  return pn_data_put_float(data, v->u.f);
    case QMF_DOUBLE: return pn_data_put_double(data, v->u.d);
    case QMF_UUID:
        memcpy(uuid.bytes, v->u.uuid, sizeof(uuid.bytes));
        return pn_data_put_uuid(data, uuid);
    case QMF_STRING:
        return pn_data_put_string(data, pn_bytes(v->u.str.len, v->u.str.ptr));
    case QMF_BINARY:
        return pn_data_put_binary(data, pn_bytes(v->u.str.len, v->u.str.ptr));
    case QMF_MAP:
        if ((rc = pn_data_put_map(data)) != 0)
            return rc;
        pn_data_enter(data);
        for (i = 0; i < v->u.map.len; i++) {
            const char *key = v->u.map.items[i].key;

            if ((rc = pn_data_put_string(data, pn_bytes(strlen(key), key))) != 0 ||
                (rc = put_value(data, v->u.map.items[i].value)) != 0)
                return rc;
        }
        pn_data_exit(data);
        return 0;
    case QMF_LIST:
        if ((rc = pn_data_put_list(data)) != 0)
            return rc;
        pn_data_enter(data);
        for (i = 0; i < v->u.list.len; i++)
            if ((rc = put_value(data, v->u.list.items[i])) != 0)
                return rc;
        pn_data_exit(data);
        return 0;
    }
    return PN_ARG_ERR;
}

int
qmf_put_pn_data(pn_data_t *data, const qmf_value *v)
{
    return put_value(data, v);
}

static qmf_value *get_value(pn_data_t *data, int depth, qmf_error *err);

static qmf_value *
malformed(qmf_value *partial, qmf_error *err, const char *what)
{
    qmf_free(partial);
    qmf_error_set(err, QMF_ERR_MALFORMED, "malformed AMQP body: %s", what);
    return NULL;
}

/* Reads `count` children of the compound node data is on into list. */
static qmf_value *
get_children(pn_data_t *data, qmf_value *list, size_t count, bool described,
             int depth, qmf_error *err)
{
    size_t i;

    pn_data_enter(data);
    if (described && !pn_data_next(data))     /* an array's descriptor */
        return malformed(list, err, "array descriptor missing");
    for (i = 0; i < count; i++) {
        qmf_value *child;

        if (!pn_data_next(data))
            return malformed(list, err, "list shorter than its count");
        if ((child = get_value(data, depth + 1, err)) == NULL) {
            qmf_free(list);
            return NULL;
        }
        qmf_list_append(list, child);
    }
    pn_data_exit(data);
    return list;
}

static qmf_value *
get_map(pn_data_t *data, int depth, qmf_error *err)
{
    size_t i, count = pn_data_get_map(data);
    qmf_value *map = qmf_map();

    if (count % 2 != 0)
        return malformed(map, err, "map with an odd number of elements");
    pn_data_enter(data);
    for (i = 0; i < count / 2; i++) {
        pn_bytes_t key;
        char *ckey;
        qmf_value *child;

        if (!pn_data_next(data))
            return malformed(map, err, "map shorter than its count");
        if (pn_data_type(data) != PN_STRING && pn_data_type(data) != PN_SYMBOL) {
            qmf_free(map);
            qmf_error_set(err, QMF_ERR_MALFORMED,
                          "malformed AMQP body: map key of type %s (only "
                          "string keys are allowed)",
                          pn_type_name(pn_data_type(data)));
            return NULL;
        }
        key = pn_data_get_bytes(data);
        if (qmf_text_has_nul(key.start, key.size))
            return malformed(map, err, "map key contains a NUL byte");
        if (!qmf_utf8_valid(key.start, key.size))
            return malformed(map, err, "map key is not valid UTF-8");
        if (!pn_data_next(data))
            return malformed(map, err, "map key without a value");
        if ((child = get_value(data, depth + 1, err)) == NULL) {
            qmf_free(map);
            return NULL;
        }
        ckey = qmf_xstrndup(key.start, key.size);
        qmf_map_append(map, ckey, child);
        free(ckey);
    }
    pn_data_exit(data);
    if (qmf_map_has_duplicates(map))
        return malformed(map, err, "map with a key twice");
    return map;
}

/* AMQP timestamps are ms since the epoch; absTime is ns. */
static qmf_value *
get_timestamp(pn_data_t *data, qmf_error *err)
{
    pn_timestamp_t ms = pn_data_get_timestamp(data);

    if (ms > INT64_MAX / 1000000 || ms < INT64_MIN / 1000000)
        return malformed(NULL, err, "timestamp out of the ns range");
    return qmf_i64(ms * 1000000);
}

static qmf_value *
get_value(pn_data_t *data, int depth, qmf_error *err)
{
    pn_type_t type = pn_data_type(data);
    pn_bytes_t bytes;
    pn_uuid_t uuid;
    qmf_value *v;

    if (depth > AMQP_MAX_DEPTH)
        return malformed(NULL, err,
                         "a value nested inside more than 64 containers");
    switch (type) {
    case PN_NULL:   return qmf_void();
    case PN_BOOL:   return qmf_bool(pn_data_get_bool(data));
    case PN_UBYTE:  return qmf_uint(QMF_UINT8, pn_data_get_ubyte(data));
    case PN_USHORT: return qmf_uint(QMF_UINT16, pn_data_get_ushort(data));
    case PN_UINT:   return qmf_uint(QMF_UINT32, pn_data_get_uint(data));
    case PN_ULONG:  return qmf_uint(QMF_UINT64, pn_data_get_ulong(data));
    case PN_BYTE:   return qmf_int(QMF_INT8, pn_data_get_byte(data));
    case PN_SHORT:  return qmf_int(QMF_INT16, pn_data_get_short(data));
    case PN_INT:    return qmf_int(QMF_INT32, pn_data_get_int(data));
    case PN_LONG:   return qmf_int(QMF_INT64, pn_data_get_long(data));
    case PN_CHAR:   return qmf_uint(QMF_UINT32, pn_data_get_char(data));
    case PN_TIMESTAMP:
        return get_timestamp(data, err);
    case PN_FLOAT:  return qmf_float(pn_data_get_float(data));
    case PN_DOUBLE: return qmf_double(pn_data_get_double(data));
    case PN_UUID:
        uuid = pn_data_get_uuid(data);
        return qmf_uuid((const uint8_t *)uuid.bytes);
    case PN_STRING:
    case PN_SYMBOL:
        bytes = pn_data_get_bytes(data);
        if (qmf_text_has_nul(bytes.start, bytes.size))
            return malformed(NULL, err, "string contains a NUL byte");
        if (!qmf_utf8_valid(bytes.start, bytes.size))
            return malformed(NULL, err, "string is not valid UTF-8");
        return qmf_stringn(bytes.start, bytes.size);
    case PN_BINARY:
        bytes = pn_data_get_binary(data);
        return qmf_binary(bytes.start, bytes.size);
    case PN_MAP:
        return get_map(data, depth, err);
    case PN_LIST:
        return get_children(data, qmf_list(), pn_data_get_list(data), false,
                            depth, err);
    case PN_ARRAY:
        return get_children(data, qmf_list(), pn_data_get_array(data),
                            pn_data_is_array_described(data), depth, err);
    case PN_DESCRIBED:
        pn_data_enter(data);
        if (!pn_data_next(data) || !pn_data_next(data))
            return malformed(NULL, err, "described value incomplete");
        v = get_value(data, depth + 1, err);
        pn_data_exit(data);
        return v;
    default:
        qmf_error_set(err, QMF_ERR_MALFORMED,
                      "malformed AMQP body: unsupported type %s",
                      pn_type_name(type));
        return NULL;
    }
}

qmf_value *
qmf_get_pn_data(pn_data_t *data, qmf_error *err)
{
    return get_value(data, 0, err);
}

/* A typical QMF body encodes in a few hundred bytes; bigger ones double. */
#define AMQP_INITIAL_BUFFER 512

/* What data holds, encoded into *buf (malloc'd); frees data. */
static int
encode_data(pn_data_t *data, char **buf, size_t *len)
{
    size_t size = AMQP_INITIAL_BUFFER;
    char *out = NULL;
    ssize_t n;

    for (;;) {
        out = qmf_xrealloc(out, size);
        n = pn_data_encode(data, out, size);
        if (n != PN_OVERFLOW)
            break;
        size *= 2;
    }
    pn_data_free(data);
    if (n < 0) {
        free(out);
        return (int)n;
    }
    *buf = out;
    *len = (size_t)n;
    return 0;
}

int
qmf_to_amqp(const qmf_value *v, char **buf, size_t *len)
{
    pn_data_t *data = pn_data(0);
    int rc;

    if (data == NULL)
        return PN_OUT_OF_MEMORY;
    if ((rc = put_value(data, v)) != 0) {
        pn_data_free(data);
        return rc;
    }
    return encode_data(data, buf, len);
}

qmf_value *
qmf_from_amqp(const char *buf, size_t len, qmf_error *err)
{
    pn_data_t *data;
    ssize_t n;
    qmf_value *v = NULL;

    if (len == 0) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "malformed AMQP body: empty");
        return NULL;
    }
    if ((data = pn_data(0)) == NULL) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "out of memory in proton");
        return NULL;
    }
    n = pn_data_decode(data, buf, len);
    if (n == PN_OUT_OF_MEMORY) {
        qmf_error_set(err, QMF_ERR_TOO_LARGE,
                      "AMQP body has more values than proton holds (65535)");
    } else if (n < 0) {
        const char *why = pn_error_text(pn_data_error(data));

        qmf_error_set(err, QMF_ERR_MALFORMED, "malformed AMQP body: %s (%s)",
                      n == PN_UNDERFLOW ? "truncated" : "undecodable",
                      why != NULL && *why != '\0' ? why : pn_code((int)n));
    } else if ((size_t)n < len) {
        qmf_error_set(err, QMF_ERR_MALFORMED,
                      "malformed AMQP body: trailing data at offset %zd", n);
    } else {
        pn_data_rewind(data);
        if (pn_data_next(data))
            v = qmf_get_pn_data(data, err);
        else
            qmf_error_set(err, QMF_ERR_MALFORMED, "malformed AMQP body: empty");
    }
    pn_data_free(data);
    return v;
}

/* Sections ------------------------------------------------------------------ */

int
qmf_amqp_section_encode(uint64_t descriptor, const qmf_value *v, char **buf, size_t *len)
{
    pn_data_t *data = pn_data(0);
    int rc;

    if (data == NULL)
        return PN_OUT_OF_MEMORY;
    if ((rc = pn_data_put_described(data)) == 0) {
        pn_data_enter(data);
        if ((rc = pn_data_put_ulong(data, descriptor)) == 0)
            rc = put_value(data, v);
        pn_data_exit(data);
    }
    if (rc != 0) {
        pn_data_free(data);
        return rc;
    }
    return encode_data(data, buf, len);
}

void
qmf_amqp_data_section(const void *bytes, size_t n, char **buf, size_t *len)
{
    /* 0x00 0x53 0x75 (described, smallulong 0x75), then vbin8 or vbin32. */
    unsigned char *out = qmf_xmalloc(n + 8);
    size_t o = 0;

    out[o++] = 0x00;
    out[o++] = 0x53;
    out[o++] = QMF_AMQP_SECTION_DATA;
    if (n <= 0xff) {
        out[o++] = 0xa0;
        out[o++] = (unsigned char)n;
    } else {
        out[o++] = 0xb0;
        out[o++] = (unsigned char)(n >> 24);
        out[o++] = (unsigned char)(n >> 16);
        out[o++] = (unsigned char)(n >> 8);
        out[o++] = (unsigned char)n;
    }
    if (n > 0)
        memcpy(out + o, bytes, n);
    *buf = (char *)out;
    *len = o + n;
}

/* The section codes by their symbolic descriptors (amqp:<name>:list and
 * the like), for peers that write those. */
static bool
section_code_of_symbol(pn_bytes_t sym, uint64_t *code)
{
    static const struct {
        const char *name;
        uint64_t code;
    } names[] = {
        { "amqp:header:list", 0x70 },
        { "amqp:delivery-annotations:map", 0x71 },
        { "amqp:message-annotations:map", 0x72 },
        { "amqp:properties:list", 0x73 },
        { "amqp:application-properties:map", 0x74 },
        { "amqp:data:binary", 0x75 },
        { "amqp:amqp-sequence:list", 0x76 },
        { "amqp:amqp-value:*", 0x77 },
        { "amqp:footer:map", 0x78 },
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == sym.size && memcmp(names[i].name, sym.start, sym.size) == 0) {
            *code = names[i].code;
            return true;
        }
    }
    return false;
}

/* The length of the one value that starts buf, decoded into data. */
static ssize_t
value_extent(pn_data_t *data, const char *buf, size_t len, qmf_error *err)
{
    ssize_t n;

    pn_data_clear(data);
    n = pn_data_decode(data, buf, len);
    if (n == PN_OUT_OF_MEMORY) {
        qmf_error_set(err, QMF_ERR_TOO_LARGE,
                      "AMQP section has more values than proton holds (65535)");
        return -1;
    }
    if (n <= 0) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "malformed AMQP 1.0 section: %s",
                      n == PN_UNDERFLOW || n == 0 ? "truncated" : "undecodable");
        return -1;
    }
    pn_data_rewind(data);
    pn_data_next(data);
    return n;
}

int
qmf_amqp_section_next(const char *buf, size_t len, size_t *offset,
                      struct qmf_amqp_section *out, qmf_error *err)
{
    size_t off = *offset;
    pn_data_t *data;
    ssize_t n;
    int rc = -1;

    if (off >= len)
        return 0;
    if (buf[off] != 0x00) {
        qmf_error_set(err, QMF_ERR_MALFORMED,
                      "malformed AMQP 1.0 message: a section at offset %zu is not described",
                      off);
        return -1;
    }
    off++;
    if ((data = pn_data(0)) == NULL) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "out of memory in proton");
        return -1;
    }
    if ((n = value_extent(data, buf + off, len - off, err)) < 0)
        goto done;
    if (pn_data_type(data) == PN_ULONG) {
        out->descriptor = pn_data_get_ulong(data);
    } else if (pn_data_type(data) != PN_SYMBOL ||
               !section_code_of_symbol(pn_data_get_symbol(data), &out->descriptor)) {
        qmf_error_set(err, QMF_ERR_MALFORMED,
                      "malformed AMQP 1.0 message: a section's descriptor is not a section's");
        goto done;
    }
    if (out->descriptor < QMF_AMQP_SECTION_HEADER || out->descriptor > QMF_AMQP_SECTION_FOOTER) {
        qmf_error_set(err, QMF_ERR_MALFORMED,
                      "malformed AMQP 1.0 message: descriptor 0x%llx is not a section's",
                      (unsigned long long)out->descriptor);
        goto done;
    }
    off += (size_t)n;
    if ((n = value_extent(data, buf + off, len - off, err)) < 0)
        goto done;
    out->value = buf + off;
    out->value_len = (size_t)n;
    *offset = off + (size_t)n;
    rc = 1;
done:
    pn_data_free(data);
    return rc;
}
