/*
 * AMQP 0-9-1 message mapping: bus_message to basic properties, headers
 * table and JSON body, and back.  RabbitMQ's table parser has no unsigned
 * 64-bit type, so UINT64 headers travel as signed longs (and come back as
 * INT64); see docs/TRANSPORTS.md.
 */
#include "bus/amqp091_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schema/qmf/codec.h"

static bool
is_reserved_header(const char *key)
{
    return strcmp(key, "ttl") == 0 || strcmp(key, "created") == 0;
}

static int
header_to_field(struct a091_outgoing *o, const char *key, const qmf_value *v,
                amqp_field_value_t *f, qmf_error *err)
{
    switch (v->kind) {
    case QMF_VOID:
        f->kind = AMQP_FIELD_KIND_VOID;
        break;
    case QMF_BOOL:
        f->kind = AMQP_FIELD_KIND_BOOLEAN;
        f->value.boolean = v->u.b;
        break;
    case QMF_UINT8:
        f->kind = AMQP_FIELD_KIND_U8;
        f->value.u8 = (uint8_t)v->u.u;
        break;
    case QMF_UINT16:
        f->kind = AMQP_FIELD_KIND_U16;
        f->value.u16 = (uint16_t)v->u.u;
        break;
    case QMF_UINT32:
        f->kind = AMQP_FIELD_KIND_U32;
        f->value.u32 = (uint32_t)v->u.u;
        break;
    case QMF_UINT64:
        if (v->u.u > INT64_MAX) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "header '%s' is above the signed 64-bit range of "
                          "AMQP 0-9-1 tables", key);
            return -1;
        }
        f->kind = AMQP_FIELD_KIND_I64;
        f->value.i64 = (int64_t)v->u.u;
        break;
    case QMF_INT8:
        f->kind = AMQP_FIELD_KIND_I8;
        f->value.i8 = (int8_t)v->u.i;
        break;
    case QMF_INT16:
        f->kind = AMQP_FIELD_KIND_I16;
        f->value.i16 = (int16_t)v->u.i;
        break;
    case QMF_INT32:
        f->kind = AMQP_FIELD_KIND_I32;
        f->value.i32 = (int32_t)v->u.i;
        break;
    case QMF_INT64:
        f->kind = AMQP_FIELD_KIND_I64;
        f->value.i64 = v->u.i;
        break;
    case QMF_FLOAT:
        f->kind = AMQP_FIELD_KIND_F32;
        f->value.f32 = v->u.f;
        break;
    case QMF_DOUBLE:
        f->kind = AMQP_FIELD_KIND_F64;
        f->value.f64 = v->u.d;
        break;
    case QMF_UUID: {
        char *text = qmf_xmalloc(37);

        qmf_uuid_format(v->u.uuid, text);
        o->texts[o->ntexts++] = text;
        f->kind = AMQP_FIELD_KIND_UTF8;
        f->value.bytes = a091_bytes_of(text);
        break;
    }
    case QMF_STRING:
        f->kind = AMQP_FIELD_KIND_UTF8;
        f->value.bytes.bytes = v->u.str.ptr;
        f->value.bytes.len = v->u.str.len;
        break;
    case QMF_BINARY:
        f->kind = AMQP_FIELD_KIND_BYTES;
        f->value.bytes.bytes = v->u.str.ptr;
        f->value.bytes.len = v->u.str.len;
        break;
    case QMF_MAP:
    case QMF_LIST:
    default:
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "header '%s' is a %s; headers must be scalars", key,
                      qmf_kind_name(v->kind));
        return -1;
    }
    return 0;
}

int
a091_table_append(const qmf_value *map, amqp_table_entry_t *entries, int *n,
                  qmf_error *err)
{
    size_t i;

    for (i = 0; i < qmf_map_len(map); i++) {
        const struct qmf_pair *pair = &map->u.map.items[i];

        if (pair->value->kind == QMF_UUID) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "argument '%s' is a uuid", pair->key);
            return -1;
        }
        entries[*n].key = a091_bytes_of(pair->key);
        if (header_to_field(NULL, pair->key, pair->value, &entries[*n].value, err) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

int
a091_outgoing_build(struct a091_outgoing *o, const struct bus_message *m,
                    qmf_error *err)
{
    amqp_basic_properties_t *p = &o->props;
    size_t nheaders = m->headers ? qmf_map_len(m->headers) : 0;
    size_t i, n = 0;

    memset(o, 0, sizeof(*o));
    /* Two more for ttl and created. */
    o->entries = qmf_xcalloc(nheaders + 2, sizeof(*o->entries));
    o->texts = qmf_xcalloc(nheaders + 1, sizeof(*o->texts));
    for (i = 0; i < nheaders; i++) {
        const struct qmf_pair *pair = &m->headers->u.map.items[i];

        if (is_reserved_header(pair->key))
            continue;
        if (strlen(pair->key) > 255) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "header name '%.40s...' is longer than 255 bytes",
                          pair->key);
            goto fail;
        }
        o->entries[n].key = a091_bytes_of(pair->key);
        if (header_to_field(o, pair->key, pair->value, &o->entries[n].value, err) != 0)
            goto fail;
        n++;
    }
    if (m->ttl_ms > 0) {
        o->entries[n].key = a091_bytes_of("ttl");
        o->entries[n].value.kind = AMQP_FIELD_KIND_I64;
        o->entries[n].value.value.i64 =
            m->ttl_ms > INT64_MAX ? INT64_MAX : (int64_t)m->ttl_ms;
        n++;
        if (!m->receiver_expires) {
            snprintf(o->expiration, sizeof(o->expiration), "%" PRIu64, m->ttl_ms);
            p->_flags |= AMQP_BASIC_EXPIRATION_FLAG;
            p->expiration = a091_bytes_of(o->expiration);
        }
    }
    if (m->created_ms != 0) {
        o->entries[n].key = a091_bytes_of("created");
        o->entries[n].value.kind = AMQP_FIELD_KIND_I64;
        o->entries[n].value.value.i64 = m->created_ms;
        n++;
        if (m->created_ms > 0) {
            p->_flags |= AMQP_BASIC_TIMESTAMP_FLAG;
            p->timestamp = (uint64_t)m->created_ms / 1000;
        }
    }
    p->_flags |= AMQP_BASIC_HEADERS_FLAG;
    p->headers.num_entries = (int)n;
    p->headers.entries = o->entries;

    p->_flags |= AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                 AMQP_BASIC_APP_ID_FLAG;
    p->content_type = a091_bytes_of(m->raw_body && m->raw_content_type ?
                               m->raw_content_type : BUS_CONTENT_JSON);
    p->delivery_mode = m->durable ? 2 : 1;
    p->app_id = a091_bytes_of("qmf2");
    if (m->correlation_id != NULL) {
        p->_flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        p->correlation_id = a091_bytes_of(m->correlation_id);
    }
    if (m->reply_to != NULL) {
        p->_flags |= AMQP_BASIC_REPLY_TO_FLAG;
        /* The broker recognises direct reply-to by its bare name only. */
        p->reply_to = a091_bytes_of(strcmp(m->reply_to, BUS_DIRECT_REPLY_TO) == 0 ?
                                    A091_DIRECT_REPLY_TO : m->reply_to);
    }
    if (m->message_id != NULL) {
        p->_flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        p->message_id = a091_bytes_of(m->message_id);
    }
    if (m->user_id != NULL) {
        p->_flags |= AMQP_BASIC_USER_ID_FLAG;
        p->user_id = a091_bytes_of(m->user_id);
    }

    if (m->raw_body != NULL) {
        o->body = qmf_xmalloc(m->raw_len + 1);
        memcpy(o->body, m->raw_body, m->raw_len);
        o->body_len = m->raw_len;
    } else if (m->body != NULL) {
        o->body = qmf_to_json(m->body, &o->body_len);
        if (o->body == NULL) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the body cannot be written as JSON");
            goto fail;
        }
    } else {
        o->body = qmf_xstrdup("{}");
        o->body_len = 2;
    }
    return 0;

fail:
    a091_outgoing_clear(o);
    return -1;
}

void
a091_outgoing_clear(struct a091_outgoing *o)
{
    size_t i;

    for (i = 0; i < o->ntexts; i++)
        free(o->texts[i]);
    free(o->texts);
    free(o->entries);
    free(o->body);
    memset(o, 0, sizeof(*o));
}

/* Receiving -------------------------------------------------------------- */

static char *
bytes_dup(amqp_bytes_t b)
{
    return qmf_xstrndup(b.bytes ? (const char *)b.bytes : "", b.len);
}

/*
 * A received reply-to as an address.  The broker rewrote a direct reply-to
 * into "amq.rabbitmq.reply-to.<key>", a routing key on the default
 * exchange; any other value is passed on as sent (an address, or a bare
 * QMFv2 key).
 */
static char *
reply_address(amqp_bytes_t reply_to)
{
    size_t n = strlen(A091_DIRECT_REPLY_TO);

    if (reply_to.len > n && memcmp(reply_to.bytes, A091_DIRECT_REPLY_TO ".", n + 1) == 0)
        return qmf_xasprintf("/queue/%.*s", (int)reply_to.len, (const char *)reply_to.bytes);
    return bytes_dup(reply_to);
}

static bool
field_integer(const amqp_field_value_t *f, int64_t *out)
{
    switch (f->kind) {
    case AMQP_FIELD_KIND_I8: *out = f->value.i8; return true;
    case AMQP_FIELD_KIND_U8: *out = f->value.u8; return true;
    case AMQP_FIELD_KIND_I16: *out = f->value.i16; return true;
    case AMQP_FIELD_KIND_U16: *out = f->value.u16; return true;
    case AMQP_FIELD_KIND_I32: *out = f->value.i32; return true;
    case AMQP_FIELD_KIND_U32: *out = f->value.u32; return true;
    case AMQP_FIELD_KIND_I64: *out = f->value.i64; return true;
    case AMQP_FIELD_KIND_U64:
        if (f->value.u64 > INT64_MAX)
            return false;
        *out = (int64_t)f->value.u64;
        return true;
    default:
        return false;
    }
}

/* The `created` header in ms: an integer is ms already; an AMQP 0-9-1
 * timestamp ('T') counts seconds, like the timestamp property. */
static bool
field_created_ms(const amqp_field_value_t *f, int64_t *out)
{
    if (f->kind == AMQP_FIELD_KIND_TIMESTAMP) {
        if (f->value.u64 > (uint64_t)(INT64_MAX / 1000))
            return false;
        *out = (int64_t)f->value.u64 * 1000;
        return true;
    }
    return field_integer(f, out);
}

/* Whether AMQP bytes hold a NUL: as C strings they would be cut there. */
static bool
bytes_have_nul(amqp_bytes_t b)
{
    return b.len > 0 && memchr(b.bytes, '\0', b.len) != NULL;
}

/*
 * A received header or property that holds a NUL byte: the message is
 * refused as malformed (body_error), never read cut short.  The first one
 * found is named.
 */
static void
refuse_nul(struct bus_message *m, const char *what, amqp_bytes_t name)
{
    if (m->body_error.code != 0)
        return;
    qmf_error_set(&m->body_error, QMF_ERR_MALFORMED, "%s '%.*s' holds a NUL byte", what,
                  (int)(name.len < 64 ? name.len : 64), (const char *)name.bytes);
}

/* NULL for what a QMF header cannot hold (nested tables and arrays). */
static qmf_value *
field_to_value(const amqp_field_value_t *f)
{
    switch (f->kind) {
    case AMQP_FIELD_KIND_BOOLEAN: return qmf_bool(f->value.boolean != 0);
    case AMQP_FIELD_KIND_I8: return qmf_int(QMF_INT8, f->value.i8);
    case AMQP_FIELD_KIND_U8: return qmf_uint(QMF_UINT8, f->value.u8);
    case AMQP_FIELD_KIND_I16: return qmf_int(QMF_INT16, f->value.i16);
    case AMQP_FIELD_KIND_U16: return qmf_uint(QMF_UINT16, f->value.u16);
    case AMQP_FIELD_KIND_I32: return qmf_int(QMF_INT32, f->value.i32);
    case AMQP_FIELD_KIND_U32: return qmf_uint(QMF_UINT32, f->value.u32);
    case AMQP_FIELD_KIND_I64: return qmf_int(QMF_INT64, f->value.i64);
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP: return qmf_uint(QMF_UINT64, f->value.u64);
    case AMQP_FIELD_KIND_F32: return qmf_float(f->value.f32);
    case AMQP_FIELD_KIND_F64: return qmf_double(f->value.f64);
    case AMQP_FIELD_KIND_UTF8:
        return qmf_stringn(f->value.bytes.bytes ? f->value.bytes.bytes : "",
                           f->value.bytes.len);
    case AMQP_FIELD_KIND_BYTES:
        return qmf_binary(f->value.bytes.bytes, f->value.bytes.len);
    case AMQP_FIELD_KIND_VOID: return qmf_void();
    case AMQP_FIELD_KIND_DECIMAL: {
        double d = f->value.decimal.value;
        uint8_t i;

        for (i = 0; i < f->value.decimal.decimals; i++)
            d /= 10;
        return qmf_double(d);
    }
    default:
        return NULL;
    }
}

void
a091_message_set_properties(struct bus_message *m, const amqp_basic_properties_t *p)
{
    bool have_ttl = false, have_created = false;
    int i;

    if (m->headers == NULL)
        m->headers = qmf_map();
    if (p->_flags & AMQP_BASIC_HEADERS_FLAG) {
        for (i = 0; i < p->headers.num_entries; i++) {
            const amqp_table_entry_t *e = &p->headers.entries[i];
            char *key = bytes_dup(e->key);
            int64_t n;
            qmf_value *v;

            if (bytes_have_nul(e->key) ||
                (e->value.kind == AMQP_FIELD_KIND_UTF8 && bytes_have_nul(e->value.value.bytes)))
                refuse_nul(m, "header", e->key);
            if (strcmp(key, "ttl") == 0 && field_integer(&e->value, &n) && n >= 0) {
                m->ttl_ms = (uint64_t)n;
                have_ttl = true;
            } else if (strcmp(key, "created") == 0 && field_created_ms(&e->value, &n)) {
                m->created_ms = n;
                have_created = true;
            } else if ((v = field_to_value(&e->value)) != NULL) {
                qmf_map_set(m->headers, key, v);
            }
            free(key);
        }
    }
    if (!have_ttl && (p->_flags & AMQP_BASIC_EXPIRATION_FLAG)) {
        char *text = bytes_dup(p->expiration);
        char *end;
        unsigned long long ms = strtoull(text, &end, 10);

        if (end != text && *end == '\0')
            m->ttl_ms = ms;
        free(text);
    }
    if (!have_created && (p->_flags & AMQP_BASIC_TIMESTAMP_FLAG) &&
        p->timestamp <= INT64_MAX / 1000)
        m->created_ms = (int64_t)p->timestamp * 1000;
    if (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) {
        m->correlation_id = bytes_dup(p->correlation_id);
        if (bytes_have_nul(p->correlation_id))
            refuse_nul(m, "property", amqp_cstring_bytes("correlation_id"));
    }
    /* A reply-to cut at a NUL would name another address: none then. */
    if ((p->_flags & AMQP_BASIC_REPLY_TO_FLAG) && bytes_have_nul(p->reply_to))
        refuse_nul(m, "property", amqp_cstring_bytes("reply_to"));
    else if (p->_flags & AMQP_BASIC_REPLY_TO_FLAG)
        m->reply_to = reply_address(p->reply_to);
    if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
        m->message_id = bytes_dup(p->message_id);
        if (bytes_have_nul(p->message_id))
            refuse_nul(m, "property", amqp_cstring_bytes("message_id"));
    }
    if (p->_flags & AMQP_BASIC_USER_ID_FLAG)
        m->user_id = bytes_dup(p->user_id);
    m->durable = (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG) && p->delivery_mode == 2;
}

/* The media type without parameters ("application/json; charset=utf-8"). */
static bool
content_type_is(const char *content_type, const char *want)
{
    size_t len = strcspn(content_type, "; \t");

    return len == strlen(want) && strncasecmp(content_type, want, len) == 0;
}

void
a091_message_decode_body(struct bus_message *m, const char *content_type,
                         const char *body, size_t len)
{
    qmf_error err;

    /* The headers were refused already: the body is not worth reading. */
    if (m->body_error.code != 0)
        return;
    qmf_error_clear(&err);
    if (content_type == NULL || content_type_is(content_type, BUS_CONTENT_JSON)) {
        m->body = qmf_from_json(body ? body : "", len, &err);
    } else if (content_type_is(content_type, BUS_CONTENT_AMQP_MAP) ||
               content_type_is(content_type, BUS_CONTENT_AMQP_LIST)) {
        m->body = qmf_from_amqp(body ? body : "", len, &err);
    } else {
        qmf_error_set(&m->body_error, QMF_ERR_MALFORMED,
                      "unsupported content-type '%.100s'", content_type);
        return;
    }
    if (m->body == NULL) {
        m->body_error.code = QMF_ERR_MALFORMED;
        snprintf(m->body_error.text, sizeof(m->body_error.text), "%s",
                 err.text[0] != '\0' ? err.text : "the body cannot be decoded");
    }
}
