/*
 * AMQP 0-9-1 message mapping: bus_message to basic properties, headers
 * table and body (JSON or AMQP typed data), and back.  RabbitMQ's table
 * parser has no unsigned 64-bit type, so UINT64 headers travel as signed
 * longs (and come back as INT64); see docs/TRANSPORTS.md.  Messages of
 * AMQP 1.0 peers cross RabbitMQ's 1.0 plugin in an envelope of their own
 * (type amqp-1.0, sections as the body, application-properties in a
 * header), unpacked on receipt and written for answers to such peers
 * (docs/TRANSPORTS.md, "AMQP 1.0 peers on 0-9-1").
 */
#include "bus/amqp091_int.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/codec.h"
#include "core/names.h"

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
        f->value.boolean = qmf_as_bool(v);
        break;
    case QMF_UINT8:
        f->kind = AMQP_FIELD_KIND_U8;
        f->value.u8 = (uint8_t)qmf_as_uint(v);
        break;
    case QMF_UINT16:
        f->kind = AMQP_FIELD_KIND_U16;
        f->value.u16 = (uint16_t)qmf_as_uint(v);
        break;
    case QMF_UINT32:
        f->kind = AMQP_FIELD_KIND_U32;
        f->value.u32 = (uint32_t)qmf_as_uint(v);
        break;
    case QMF_UINT64:
        if (qmf_as_uint(v) > INT64_MAX) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "header '%s' is above the signed 64-bit range of "
                          "AMQP 0-9-1 tables", key);
            return -1;
        }
        f->kind = AMQP_FIELD_KIND_I64;
        f->value.i64 = (int64_t)qmf_as_uint(v);
        break;
    case QMF_INT8:
        f->kind = AMQP_FIELD_KIND_I8;
        f->value.i8 = (int8_t)qmf_as_int(v);
        break;
    case QMF_INT16:
        f->kind = AMQP_FIELD_KIND_I16;
        f->value.i16 = (int16_t)qmf_as_int(v);
        break;
    case QMF_INT32:
        f->kind = AMQP_FIELD_KIND_I32;
        f->value.i32 = (int32_t)qmf_as_int(v);
        break;
    case QMF_INT64:
        f->kind = AMQP_FIELD_KIND_I64;
        f->value.i64 = qmf_as_int(v);
        break;
    case QMF_FLOAT:
        f->kind = AMQP_FIELD_KIND_F32;
        f->value.f32 = qmf_as_float(v);
        break;
    case QMF_DOUBLE:
        f->kind = AMQP_FIELD_KIND_F64;
        f->value.f64 = qmf_as_double(v);
        break;
    case QMF_UUID: {
        char *text = qmf_xmalloc(37);

        qmf_uuid_format(qmf_as_uuid(v), text);
        o->texts[o->ntexts++] = text;
        f->kind = AMQP_FIELD_KIND_UTF8;
        f->value.bytes = a091_bytes_of(text);
        break;
    }
    case QMF_STRING:
        f->kind = AMQP_FIELD_KIND_UTF8;
        f->value.bytes.bytes = (void *)qmf_as_bytes(v);  /* rabbitmq-c copies on send */
        f->value.bytes.len = qmf_bytes_len(v);
        break;
    case QMF_BINARY:
        f->kind = AMQP_FIELD_KIND_BYTES;
        f->value.bytes.bytes = (void *)qmf_as_bytes(v);  /* rabbitmq-c copies on send */
        f->value.bytes.len = qmf_bytes_len(v);
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
        const struct qmf_pair *pair = qmf_map_at(map, i);

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

/*
 * The headers (and ttl and created, as the table has them) again, as an
 * AMQP 1.0 application-properties section in a header of its own: RabbitMQ
 * 3.10's 1.0 plugin hands a 1.0 consumer that section and no other header
 * (the table is lost on the way), whatever the message's type and body.
 * Every message carries it, so that 1.0 consumers read 0-9-1 publishers'
 * properties (docs/PROTOCOL.md §1.7); 0-9-1 consumers skip it.  But for
 * answers by direct reply-to, which only a 0-9-1 channel can read.
 */
static int
app_properties_entry(struct a091_outgoing *o, const struct bus_message *m,
                     amqp_table_entry_t *entry, qmf_error *err)
{
    qmf_value *props = qmf_map();
    size_t i;
    int rc;

    for (i = 0; i < qmf_map_len(m->headers); i++) {
        const struct qmf_pair *pair = qmf_map_at(m->headers, i);

        if (!is_reserved_header(pair->key))
            qmf_map_set(props, pair->key, qmf_dup(pair->value));
    }

    if (m->ttl_ms > 0)
        qmf_map_set(props, "ttl", qmf_i64(m->ttl_ms > INT64_MAX ? INT64_MAX
                                                                 : (int64_t)m->ttl_ms));
    if (m->created_ms != 0)
        qmf_map_set(props, "created", qmf_i64(m->created_ms));
    rc = qmf_amqp_section_encode(QMF_AMQP_SECTION_APP_PROPERTIES, props,
                                 &o->amqp10_properties, &o->amqp10_properties_len);
    qmf_free(props);
    if (rc != 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "the headers cannot be written as AMQP 1.0 application-properties");
        return -1;
    }
    entry->key = a091_bytes_of(A091_AMQP10_APP_PROPERTIES);
    entry->value.kind = AMQP_FIELD_KIND_BYTES;
    entry->value.value.bytes.bytes = o->amqp10_properties;
    entry->value.value.bytes.len = o->amqp10_properties_len;
    return 0;
}

/*
 * The AMQP 1.0 envelope of an answer to a 1.0 peer: type amqp-1.0, and
 * the body as one section: amqp-value for AMQP typed data, data for
 * anything else (JSON).  The body bytes inside are those signed.
 */
static void
envelope(struct a091_outgoing *o, const char *content_type)
{
    char *section;
    size_t len;

    o->props._flags |= AMQP_BASIC_TYPE_FLAG;
    o->props.type = a091_bytes_of(A091_AMQP10_TYPE);
    if (strncmp(content_type, "amqp/", 5) == 0) {
        /* An amqp-value section: its header, then the value as it is. */
        section = qmf_xmalloc(o->body_len + 3);
        section[0] = 0x00;
        section[1] = 0x53;
        section[2] = QMF_AMQP_SECTION_VALUE;
        memcpy(section + 3, o->body, o->body_len);
        len = o->body_len + 3;
    } else {
        qmf_amqp_data_section(o->body, o->body_len, &section, &len);
    }
    free(o->body);
    o->body = section;
    o->body_len = len;
}

int
a091_outgoing_build(struct a091_outgoing *o, const struct bus_message *m,
                    bool for_091_asker, qmf_error *err)
{
    amqp_basic_properties_t *p = &o->props;
    size_t nheaders = m->headers ? qmf_map_len(m->headers) : 0;
    const char *content_type;
    size_t i, n = 0;

    memset(o, 0, sizeof(*o));
    /* Three more for ttl, created and the AMQP 1.0 application-properties. */
    o->entries = qmf_xcalloc(nheaders + 3, sizeof(*o->entries));
    o->texts = qmf_xcalloc(nheaders + 1, sizeof(*o->texts));
    for (i = 0; i < nheaders; i++) {
        const struct qmf_pair *pair = qmf_map_at(m->headers, i);

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
    if (m->raw_body != NULL) {
        o->body = qmf_xmalloc(m->raw_len + 1);
        memcpy(o->body, m->raw_body, m->raw_len);
        o->body_len = m->raw_len;
        content_type = m->raw_content_type != NULL ? m->raw_content_type : BUS_CONTENT_JSON;
    } else if (bus_body_encode(m->body, m->encoding, &o->body, &o->body_len, &content_type,
                               err) != 0) {
        goto fail;
    }
    if (!for_091_asker || m->amqp10) {
        if (app_properties_entry(o, m, &o->entries[n], err) != 0)
            goto fail;
        n++;
    }
    if (m->amqp10)
        envelope(o, content_type);
    p->_flags |= AMQP_BASIC_HEADERS_FLAG;
    p->headers.num_entries = (int)n;
    p->headers.entries = o->entries;

    p->_flags |= AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                 AMQP_BASIC_APP_ID_FLAG;
    p->content_type = a091_bytes_of(content_type);
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
    free(o->amqp10_properties);
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
        return qmf_xasprintf(QMF_NAME_QUEUE_ADDRESS_PREFIX "%.*s", (int)reply_to.len,
                             (const char *)reply_to.bytes);
    return bytes_dup(reply_to);
}

/*
 * A 1.0 peer's reply-to as it wrote it, from its properties section: the
 * plugin gives 0-9-1 "Q" for "/queue/Q", which reads as a key of the
 * direct exchange, and a signature covers what the peer wrote.
 */
static void
sent_reply_to(struct bus_message *m, amqp_bytes_t section)
{
    struct qmf_amqp_section s;
    size_t off = 0;
    qmf_value *fields = NULL, *v;
    qmf_error err;

    if (qmf_amqp_section_next(section.bytes, section.len, &off, &s, &err) == 1 &&
        s.descriptor == A091_AMQP10_PROPERTIES_CODE)
        fields = qmf_from_amqp(s.value, s.value_len, &err);
    v = fields != NULL && fields->kind == QMF_LIST ? qmf_list_at(fields, 4) : NULL;
    if (v != NULL && v->kind == QMF_STRING && memchr(qmf_as_bytes(v), '\0', qmf_bytes_len(v)) == NULL) {
        free(m->reply_to);
        m->reply_to = qmf_xstrndup(qmf_as_bytes(v), qmf_bytes_len(v));
    }
    qmf_free(fields);
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

static void
refuse_headers(struct bus_message *m, size_t n)
{
    if (m->body_error.code != 0)
        return;
    qmf_error_set(&m->body_error, QMF_ERR_MALFORMED,
                  "%zu headers, over the limit of %d", n, BUS_MAX_HEADERS);
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

/*
 * The application-properties of an AMQP 1.0 peer's message, from the
 * section RabbitMQ's plugin put in a header: they become the headers (a
 * value that is not a scalar, which AMQP forbids there, is left out), and
 * ttl and created the message's, as their 0-9-1 headers would.
 */
void
a091_amqp10_properties(struct bus_message *m, amqp_bytes_t section, bool *have_ttl,
                       bool *have_created)
{
    struct qmf_amqp_section s;
    size_t off = 0, i;
    qmf_value *props;
    qmf_error err;
    int64_t n;

    if (qmf_amqp_section_next(section.bytes, section.len, &off, &s, &err) != 1 ||
        s.descriptor != QMF_AMQP_SECTION_APP_PROPERTIES || off != section.len) {
        if (m->body_error.code == 0)
            qmf_error_set(&m->body_error, QMF_ERR_MALFORMED,
                          "the AMQP 1.0 application-properties cannot be read");
        return;
    }
    if ((props = qmf_from_amqp(s.value, s.value_len, &err)) == NULL || props->kind != QMF_MAP) {
        if (m->body_error.code == 0)
            qmf_error_set(&m->body_error, QMF_ERR_MALFORMED,
                          "AMQP 1.0 application-properties: %s",
                          props == NULL ? err.text : "not a map");
        qmf_free(props);
        return;
    }
    if (qmf_map_len(props) + qmf_map_len(m->headers) > BUS_MAX_HEADERS) {
        refuse_headers(m, qmf_map_len(props) + qmf_map_len(m->headers));
        qmf_free(props);
        return;
    }
    for (i = 0; i < qmf_map_len(props); i++) {
        const char *key = qmf_map_at(props, i)->key;
        qmf_value *v = qmf_map_at(props, i)->value;

        if (strcmp(key, "ttl") == 0 && qmf_get_int64(v, &n) && n >= 0) {
            m->ttl_ms = (uint64_t)n;
            *have_ttl = true;
        } else if (strcmp(key, "created") == 0 && qmf_get_int64(v, &n)) {
            m->created_ms = n;
            *have_created = true;
        } else if (v->kind != QMF_MAP && v->kind != QMF_LIST) {
            qmf_map_set(m->headers, key, qmf_dup(v));
        }
    }
    qmf_free(props);
}

static bool
bytes_are(amqp_bytes_t b, const char *s)
{
    return b.len == strlen(s) && memcmp(b.bytes, s, b.len) == 0;
}

void
a091_message_set_properties(struct bus_message *m, const amqp_basic_properties_t *p)
{
    bool have_ttl = false, have_created = false;
    amqp_bytes_t amqp10_props = { 0, NULL }, amqp10_properties = { 0, NULL };
    bool own_headers = false;
    int i;

    if (m->headers == NULL)
        m->headers = qmf_map();
    if ((p->_flags & AMQP_BASIC_TYPE_FLAG) && bytes_are(p->type, A091_AMQP10_TYPE))
        m->amqp10 = true;
    if ((p->_flags & AMQP_BASIC_HEADERS_FLAG) && p->headers.num_entries > BUS_MAX_HEADERS)
        refuse_headers(m, (size_t)p->headers.num_entries);
    else if (p->_flags & AMQP_BASIC_HEADERS_FLAG) {
        for (i = 0; i < p->headers.num_entries; i++) {
            const amqp_table_entry_t *e = &p->headers.entries[i];
            char *key;
            int64_t n;
            qmf_value *v;

            /* The plugin's sections (binary, NULs and all): the 1.0 peer's
             * application-properties are read below, the rest was mapped
             * onto the 0-9-1 properties already.  The application-
             * properties alone do not make a 1.0 peer's message: every
             * 0-9-1 publisher of ours repeats its table so (for 1.0
             * consumers); the other sections, or the type, do. */
            if (e->key.len > strlen(A091_AMQP10_HEADER_PREFIX) &&
                memcmp(e->key.bytes, A091_AMQP10_HEADER_PREFIX,
                       strlen(A091_AMQP10_HEADER_PREFIX)) == 0) {
                if (!bytes_are(e->key, A091_AMQP10_APP_PROPERTIES))
                    m->amqp10 = true;
                if (e->value.kind != AMQP_FIELD_KIND_BYTES &&
                    e->value.kind != AMQP_FIELD_KIND_UTF8)
                    continue;
                if (bytes_are(e->key, A091_AMQP10_PROPERTIES))
                    amqp10_properties = e->value.value.bytes;
                else if (bytes_are(e->key, A091_AMQP10_APP_PROPERTIES))
                    amqp10_props = e->value.value.bytes;
                continue;
            }
            key = bytes_dup(e->key);
            own_headers |= strncmp(key, "x-", 2) != 0;
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
    /* A 0-9-1 publisher's section only repeats its table (whose values
     * are read already); a 1.0 client's table holds nothing but the
     * plugin's and the broker's x- headers. */
    if (amqp10_props.bytes != NULL && (m->amqp10 || !own_headers))
        a091_amqp10_properties(m, amqp10_props, &have_ttl, &have_created);
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
    if (m->amqp10 && amqp10_properties.bytes != NULL)
        sent_reply_to(m, amqp10_properties);
    if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
        m->message_id = bytes_dup(p->message_id);
        if (bytes_have_nul(p->message_id))
            refuse_nul(m, "property", amqp_cstring_bytes("message_id"));
    }
    if (p->_flags & AMQP_BASIC_USER_ID_FLAG)
        m->user_id = bytes_dup(p->user_id);
    m->durable = (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG) && p->delivery_mode == 2;
}

/* What a signature covers (trust/message.h): the body bytes as they came.
 * Only for a message that names a signature, a MAC or a signer (headers
 * "virtbus.*"): nothing else is ever checked, and the hash of every
 * answer was a fortieth of a console's time. */
static void
body_digest(struct bus_message *m, const void *bytes, size_t len)
{
    const struct qmf_pair *p;
    bool trust_headers = false;
    size_t i;

    for (i = 0; !trust_headers && i < qmf_map_len(m->headers); i++)
        trust_headers = (p = qmf_map_at(m->headers, i)) != NULL &&
                        strncmp(p->key, BUS_TRUST_HEADER_PREFIX,
                                sizeof(BUS_TRUST_HEADER_PREFIX) - 1) == 0;
    if (trust_headers && EVP_Digest(bytes != NULL ? bytes : "", len, m->body_sha256, NULL, EVP_sha256(),
                   NULL) == 1)
        m->has_body_sha256 = true;
}

/*
 * The body of an AMQP 1.0 peer's message: its sections.  One amqp-value
 * is the body (a binary one holds bytes of the content type, as a data
 * section does); data sections are the bytes of the content type, and
 * amqp-sequence sections one list.  A signature covers the value's
 * encoding, or the bytes (docs/TRANSPORTS.md).  Other sections (a
 * footer) are skipped.
 */
static void
decode_sections(struct bus_message *m, const char *content_type, const char *body, size_t len)
{
    struct qmf_amqp_section s;
    char *bytes = NULL;
    size_t off = 0, nbytes = 0, nvalues = 0, ndata = 0, nsequences = 0, i, skip;
    qmf_value *list = NULL, *v;
    qmf_error err;
    int rc;

    while ((rc = qmf_amqp_section_next(body, len, &off, &s, &err)) == 1) {
        if (s.descriptor == QMF_AMQP_SECTION_VALUE) {
            nvalues++;
        } else if (s.descriptor == QMF_AMQP_SECTION_DATA) {
            ndata++;
            /* A data section's bytes: its binary without vbin8's or
             * vbin32's constructor and size. */
            if (s.value_len < 2 || ((unsigned char)s.value[0] != 0xa0 &&
                                    ((unsigned char)s.value[0] != 0xb0 || s.value_len < 5))) {
                qmf_error_set(&err, QMF_ERR_MALFORMED, "a data section that is not binary");
                rc = -1;
                break;
            }
            skip = (unsigned char)s.value[0] == 0xa0 ? 2 : 5;
            s.value += skip;
            s.value_len -= skip;
        } else if (s.descriptor == QMF_AMQP_SECTION_SEQUENCE) {
            nsequences++;
        } else {
            continue;
        }
        /* The bytes covered: all of the body sections' values. */
        bytes = qmf_xrealloc(bytes, nbytes + s.value_len + 1);
        memcpy(bytes + nbytes, s.value, s.value_len);
        nbytes += s.value_len;
        if (s.descriptor == QMF_AMQP_SECTION_VALUE || s.descriptor == QMF_AMQP_SECTION_SEQUENCE) {
            if ((v = qmf_from_amqp(s.value, s.value_len, &err)) == NULL) {
                rc = -1;
                break;
            }
            if (s.descriptor == QMF_AMQP_SECTION_VALUE) {
                qmf_free(m->body);
                m->body = v;
                continue;
            }
            if (v->kind != QMF_LIST) {
                qmf_free(v);
                qmf_error_set(&err, QMF_ERR_MALFORMED, "an amqp-sequence that is not a list");
                rc = -1;
                break;
            }
            if (list == NULL)
                list = qmf_list();
            for (i = 0; i < qmf_list_len(v); i++)
                qmf_list_append(list, qmf_list_steal(v, i));
            qmf_free(v);
        }
    }
    if (rc == 0 && nvalues + (ndata > 0) + (nsequences > 0) > 1) {
        qmf_error_set(&err, QMF_ERR_MALFORMED,
                      "malformed AMQP 1.0 message: more than one kind of body section");
        rc = -1;
    }
    if (rc != 0) {
        qmf_free(m->body);
        m->body = NULL;
        qmf_free(list);
        if (m->body_error.code == 0)
            m->body_error = err;
        body_digest(m, body, len);
        free(bytes);
        return;
    }
    m->encoding = BUS_ENCODING_AMQP;
    if (nsequences > 0) {
        m->body = list;
        body_digest(m, bytes, nbytes);
    } else if (m->body != NULL && m->body->kind == QMF_BINARY) {
        /* Bytes in an amqp-value: read as a data section's. */
        v = m->body;
        m->body = NULL;
        bus_body_decode(m, content_type, qmf_as_bytes(v), qmf_bytes_len(v));
        body_digest(m, qmf_as_bytes(v), qmf_bytes_len(v));
        qmf_free(v);
    } else if (m->body != NULL) {
        body_digest(m, bytes, nbytes);
    } else {
        /* Data sections, or none at all (body_absent). */
        bus_body_decode(m, content_type, bytes, nbytes);
        body_digest(m, bytes, nbytes);
    }
    free(bytes);
}

void
a091_message_decode_body(struct bus_message *m, const char *content_type, bool sections,
                         const char *body, size_t len)
{
    /* The headers were refused already: the body is not worth reading. */
    if (m->body_error.code != 0) {
        body_digest(m, body, len);
        return;
    }
    if (sections) {
        decode_sections(m, content_type, body != NULL ? body : "", len);
        return;
    }
    bus_body_decode(m, content_type, body != NULL ? body : "", len);
    body_digest(m, body, len);
}
