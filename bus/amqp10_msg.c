/*
 * AMQP 1.0 message mapping: bus_message to the sections of a 1.0 message
 * (header, properties, application-properties, body) and back.  The
 * sections are written and walked here rather than with pn_message_t, so
 * that a body is sent as the very bytes given (signed messages) and read
 * as the very bytes received (what a signature covers), and so that a body
 * is never squeezed through pn_data_t's 65535 nodes on the way.  See
 * docs/TRANSPORTS.md, "AMQP 1.0: mapping".
 */
#include "bus/amqp10_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <proton/codec.h>

#include "bus/amqp091_int.h"
#include "schema/qmf/codec.h"

/* The section descriptors (AMQP 1.0 part 3.2). */
#define SEC_HEADER 0x70
#define SEC_DELIVERY_ANNOTATIONS 0x71
#define SEC_MESSAGE_ANNOTATIONS 0x72
#define SEC_PROPERTIES 0x73
#define SEC_APPLICATION_PROPERTIES 0x74
#define SEC_DATA 0x75
#define SEC_SEQUENCE 0x76
#define SEC_VALUE 0x77
#define SEC_FOOTER 0x78

/* A growing byte buffer. */
struct bytes {
    char *ptr;
    size_t len, cap;
};

static void
bytes_reserve(struct bytes *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    b->cap = b->cap * 2 > b->len + more ? b->cap * 2 : b->len + more + 256;
    b->ptr = qmf_xrealloc(b->ptr, b->cap);
}

static void
bytes_append(struct bytes *b, const void *p, size_t n)
{
    bytes_reserve(b, n);
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
}

/* The media type without parameters ("application/json; charset=utf-8"). */
static bool
content_type_is(const char *content_type, const char *want)
{
    size_t len = strcspn(content_type, "; \t");

    return len == strlen(want) && strncasecmp(content_type, want, len) == 0;
}

static bool
content_type_is_amqp(const char *content_type)
{
    return content_type != NULL && (content_type_is(content_type, BUS_CONTENT_AMQP_MAP) ||
                                     content_type_is(content_type, BUS_CONTENT_AMQP_LIST));
}

/* Sending ----------------------------------------------------------------- */

/* Appends what data holds, encoded, and empties it. */
static int
flush_data(pn_data_t *data, struct bytes *out)
{
    ssize_t size = pn_data_encoded_size(data);

    if (size < 0)
        return -1;
    bytes_reserve(out, (size_t)size);
    if (pn_data_encode(data, out->ptr + out->len, (size_t)size) != size)
        return -1;
    out->len += (size_t)size;
    pn_data_clear(data);
    return 0;
}

static void
begin_section(pn_data_t *data, uint64_t code, bool list)
{
    pn_data_put_described(data);
    pn_data_enter(data);
    pn_data_put_ulong(data, code);
    if (list)
        pn_data_put_list(data);
    else
        pn_data_put_map(data);
    pn_data_enter(data);
}

static void
end_section(pn_data_t *data)
{
    pn_data_exit(data);
    pn_data_exit(data);
}

static void
put_string(pn_data_t *data, const char *s)
{
    if (s != NULL)
        pn_data_put_string(data, pn_bytes(strlen(s), s));
    else
        pn_data_put_null(data);
}

static bool
is_reserved_header(const char *key)
{
    return strcmp(key, "ttl") == 0 || strcmp(key, "created") == 0;
}

/* A header value: typed as it is, but a UUID goes as its text, as on 0-9-1,
 * so that a header reads the same whichever transport carried it. */
static int
put_header(pn_data_t *data, const char *key, const qmf_value *v, qmf_error *err)
{
    char text[37];

    switch (v->kind) {
    case QMF_MAP:
    case QMF_LIST:
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "header '%s' is a %s; headers must be scalars", key,
                      qmf_kind_name(v->kind));
        return -1;
    case QMF_UUID:
        qmf_uuid_format(v->u.uuid, text);
        put_string(data, text);
        return 0;
    default:
        if (qmf_put_pn_data(data, v) != 0) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "header '%s' cannot be encoded", key);
            return -1;
        }
        return 0;
    }
}

/* header: durable, and the TTL the broker enforces. */
static void
put_header_section(pn_data_t *data, const struct bus_message *m)
{
    bool ttl = m->ttl_ms > 0 && !m->receiver_expires;

    if (!m->durable && !ttl)
        return;
    begin_section(data, SEC_HEADER, true);
    pn_data_put_bool(data, m->durable);
    if (ttl) {
        pn_data_put_null(data);     /* priority */
        pn_data_put_uint(data, m->ttl_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)m->ttl_ms);
    }
    end_section(data);
}

static void
put_properties_section(pn_data_t *data, const struct bus_message *m, const char *subject,
                       const char *reply_to, const char *content_type)
{
    begin_section(data, SEC_PROPERTIES, true);
    put_string(data, m->message_id);
    if (m->user_id != NULL)
        pn_data_put_binary(data, pn_bytes(strlen(m->user_id), m->user_id));
    else
        pn_data_put_null(data);
    pn_data_put_null(data);                         /* to */
    put_string(data, subject);
    put_string(data, reply_to);
    put_string(data, m->correlation_id);
    if (content_type != NULL)
        pn_data_put_symbol(data, pn_bytes(strlen(content_type), content_type));
    else
        pn_data_put_null(data);
    pn_data_put_null(data);                         /* content-encoding */
    pn_data_put_null(data);                         /* absolute-expiry-time */
    if (m->created_ms != 0)
        pn_data_put_timestamp(data, m->created_ms);
    else
        pn_data_put_null(data);
    end_section(data);
}

/* application-properties: the headers, and ttl and created as on 0-9-1
 * (the TTL that only the receiver applies, and the creation time that a
 * 0-9-1 peer of the broker's conversion would read in seconds). */
static int
put_application_properties(pn_data_t *data, const struct bus_message *m, qmf_error *err)
{
    size_t i;

    if (qmf_map_len(m->headers) == 0 && m->ttl_ms == 0 && m->created_ms == 0)
        return 0;
    begin_section(data, SEC_APPLICATION_PROPERTIES, false);
    for (i = 0; i < qmf_map_len(m->headers); i++) {
        const struct qmf_pair *pair = &m->headers->u.map.items[i];

        if (is_reserved_header(pair->key))
            continue;
        put_string(data, pair->key);
        if (put_header(data, pair->key, pair->value, err) != 0)
            return -1;
    }
    if (m->ttl_ms > 0) {
        put_string(data, "ttl");
        pn_data_put_long(data, m->ttl_ms > INT64_MAX ? INT64_MAX : (int64_t)m->ttl_ms);
    }
    if (m->created_ms != 0) {
        put_string(data, "created");
        pn_data_put_long(data, m->created_ms);
    }
    end_section(data);
    return 0;
}

/* Whether an encoded AMQP value is a list (list0, list8, list32). */
static bool
encoded_is_list(const char *bytes, size_t len)
{
    unsigned char c = len > 0 ? (unsigned char)bytes[0] : 0;

    return c == 0x45 || c == 0xc0 || c == 0xd0;
}

/*
 * The body section.  An AMQP-typed body goes as amqp-value, except a list,
 * which goes as amqp-sequence: RabbitMQ 3.10's 1.0 plugin closes the
 * connection on an amqp-value list of two items or more.
 */
static void
put_body_section(struct bytes *out, const char *body, size_t len, bool typed)
{
    unsigned char head[8] = { 0x00, 0x53, 0 };
    size_t n = 3;

    if (typed) {
        head[2] = encoded_is_list(body, len) ? SEC_SEQUENCE : SEC_VALUE;
    } else {
        head[2] = SEC_DATA;
        if (len < 256) {
            head[n++] = 0xa0;
            head[n++] = (unsigned char)len;
        } else {
            head[n++] = 0xb0;
            head[n++] = (unsigned char)(len >> 24);
            head[n++] = (unsigned char)(len >> 16);
            head[n++] = (unsigned char)(len >> 8);
            head[n++] = (unsigned char)len;
        }
    }
    bytes_append(out, head, n);
    bytes_append(out, body, len);
}

int
a10_message_encode(const struct bus_message *m, const char *subject, const char *reply_to,
                   char **out, size_t *len, qmf_error *err)
{
    pn_data_t *data = pn_data(16);
    struct bytes b = { 0 };
    char *encoded = NULL;
    const char *body, *content_type;
    size_t body_len;
    bool typed;
    int rc = -1;

    if (m->raw_body != NULL) {
        content_type = m->raw_content_type ? m->raw_content_type : BUS_CONTENT_JSON;
        typed = content_type_is_amqp(content_type);
        body = m->raw_body;
        body_len = m->raw_len;
    } else {
        qmf_value *empty = m->body == NULL ? qmf_map() : NULL;
        const qmf_value *v = m->body ? m->body : empty;
        int erc = qmf_to_amqp(v, &encoded, &body_len);

        content_type = v->kind == QMF_MAP ? BUS_CONTENT_AMQP_MAP
                     : v->kind == QMF_LIST ? BUS_CONTENT_AMQP_LIST : NULL;
        qmf_free(empty);
        if (erc != 0) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the body cannot be written as AMQP");
            goto out;
        }
        typed = true;
        body = encoded;
    }
    put_header_section(data, m);
    put_properties_section(data, m, subject, reply_to ? reply_to : m->reply_to, content_type);
    if (put_application_properties(data, m, err) != 0)
        goto out;
    if (flush_data(data, &b) != 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the message's properties cannot be encoded");
        goto out;
    }
    put_body_section(&b, body, body_len, typed);
    *out = b.ptr;
    *len = b.len;
    b.ptr = NULL;
    rc = 0;

out:
    free(b.ptr);
    free(encoded);
    pn_data_free(data);
    return rc;
}

/* Receiving -------------------------------------------------------------- */

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Descriptors nest: a described descriptor is legal, and bounded here. */
#define MAX_DESCRIBED_DEPTH 4

/*
 * The size of the encoded value at p (constructor and all), from its
 * constructor alone (AMQP 1.0 part 1.2: the high nibble gives the width);
 * 0 if it is not whole within n bytes or not a value.
 */
static size_t
value_size(const unsigned char *p, size_t n, int depth)
{
    size_t size, d, v;

    if (n == 0)
        return 0;
    if (p[0] == 0x00) {
        if (depth >= MAX_DESCRIBED_DEPTH || (d = value_size(p + 1, n - 1, depth + 1)) == 0 ||
            (v = value_size(p + 1 + d, n - 1 - d, depth + 1)) == 0)
            return 0;
        return 1 + d + v;
    }
    switch (p[0] >> 4) {
    case 0x4: size = 1; break;
    case 0x5: size = 2; break;
    case 0x6: size = 3; break;
    case 0x7: size = 5; break;
    case 0x8: size = 9; break;
    case 0x9: size = 17; break;
    case 0xa:
    case 0xc:
    case 0xe:
        size = n >= 2 ? 2 + (size_t)p[1] : 0;
        break;
    case 0xb:
    case 0xd:
    case 0xf:
        size = n >= 5 ? 5 + (size_t)be32(p + 1) : 0;
        break;
    default:
        return 0;
    }
    return size <= n ? size : 0;
}

/* The section code of a descriptor: a ulong, or the symbolic name. */
static bool
descriptor_code(const unsigned char *p, size_t n, uint64_t *code)
{
    static const struct {
        const char *name;
        uint64_t code;
    } names[] = {
        { "amqp:header:list", SEC_HEADER },
        { "amqp:delivery-annotations:map", SEC_DELIVERY_ANNOTATIONS },
        { "amqp:message-annotations:map", SEC_MESSAGE_ANNOTATIONS },
        { "amqp:properties:list", SEC_PROPERTIES },
        { "amqp:application-properties:map", SEC_APPLICATION_PROPERTIES },
        { "amqp:data:binary", SEC_DATA },
        { "amqp:amqp-sequence:list", SEC_SEQUENCE },
        { "amqp:amqp-value:*", SEC_VALUE },
        { "amqp:footer:map", SEC_FOOTER },
    };
    size_t i, len, off;

    if (n >= 2 && p[0] == 0x53) {
        *code = p[1];
        return true;
    }
    if (n >= 9 && p[0] == 0x80) {
        *code = (uint64_t)be32(p + 1) << 32 | be32(p + 5);
        return true;
    }
    if (n >= 1 && p[0] == 0x44) {
        *code = 0;
        return true;
    }
    if (n >= 2 && (p[0] == 0xa3 || p[0] == 0xb3)) {
        off = p[0] == 0xa3 ? 2 : 5;
        if (n < off)
            return false;
        len = p[0] == 0xa3 ? p[1] : be32(p + 1);
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (len == strlen(names[i].name) && off + len <= n &&
                memcmp(p + off, names[i].name, len) == 0) {
                *code = names[i].code;
                return true;
            }
        }
    }
    return false;
}

/* The body as it came, section by section. */
struct body {
    enum { BODY_NONE, BODY_DATA, BODY_VALUE, BODY_SEQUENCE } kind;
    struct bytes bytes;         /* data: the payload; value, sequence: encoded */
    qmf_value *sequence;        /* the items of every amqp-sequence */
    bool complete;              /* every section was read */
    size_t received;            /* bytes of the message kept */
    size_t sections;
};

/* The message is malformed: the first reason found is kept. */
static void
refuse(struct bus_message *m, const char *what, const char *why)
{
    if (m->body_error.code != 0)
        return;
    qmf_error_set(&m->body_error, QMF_ERR_MALFORMED, "%s %.200s", what, why);
}

/* A text property (an id may be a string, symbol, ulong, uuid or binary),
 * malloc'd; NULL for null, and a NUL byte refuses the message. */
static char *
text_of(pn_data_t *data, struct bus_message *m, const char *field)
{
    pn_bytes_t b;
    char buf[40];

    switch (pn_data_type(data)) {
    case PN_STRING:
        b = pn_data_get_string(data);
        break;
    case PN_SYMBOL:
        b = pn_data_get_symbol(data);
        break;
    case PN_BINARY:
        b = pn_data_get_binary(data);
        break;
    case PN_ULONG:
        snprintf(buf, sizeof(buf), "%" PRIu64, pn_data_get_ulong(data));
        return qmf_xstrdup(buf);
    case PN_UUID:
        qmf_uuid_format((const uint8_t *)pn_data_get_uuid(data).bytes, buf);
        return qmf_xstrdup(buf);
    default:
        return NULL;
    }
    if (b.size > 0 && memchr(b.start, '\0', b.size) != NULL) {
        char what[64];

        snprintf(what, sizeof(what), "property '%s'", field);
        refuse(m, what, "holds a NUL byte");
    }
    return qmf_xstrndup(b.start ? b.start : "", b.size);
}

/*
 * A received reply-to as an address.  RabbitMQ gives a 1.0 receiver the
 * reply-to of a 0-9-1 message as "/queue/" and the value, so that an
 * address a 0-9-1 peer wrote ("/exchange/X/key") comes as
 * "/queue//exchange/X/key": that is taken back.
 */
static char *
reply_address(char *reply_to)
{
    if (reply_to != NULL && strncmp(reply_to, "/queue//", 8) == 0)
        memmove(reply_to, reply_to + 7, strlen(reply_to + 7) + 1);
    return reply_to;
}

/* Enters the list or map of a decoded section: false if it is not one. */
static bool
enter_section(pn_data_t *data)
{
    pn_data_rewind(data);
    if (!pn_data_next(data) || pn_data_type(data) != PN_DESCRIBED)
        return false;
    pn_data_enter(data);
    if (!pn_data_next(data) || !pn_data_next(data) ||
        (pn_data_type(data) != PN_LIST && pn_data_type(data) != PN_MAP))
        return false;
    return pn_data_enter(data);
}

static void
read_header(pn_data_t *data, struct bus_message *m, bool *have_ttl)
{
    size_t i;

    if (!enter_section(data))
        return;
    for (i = 0; pn_data_next(data); i++) {
        if (i == 0 && pn_data_type(data) == PN_BOOL)
            m->durable = pn_data_get_bool(data);
        else if (i == 2 && pn_data_type(data) == PN_UINT && !*have_ttl) {
            m->ttl_ms = pn_data_get_uint(data);
            *have_ttl = true;
        }
    }
}

static void
read_properties(pn_data_t *data, struct bus_message *m, char **content_type,
                bool *have_created)
{
    size_t i;

    if (!enter_section(data))
        return;
    for (i = 0; pn_data_next(data); i++) {
        switch (i) {
        case 0:
            m->message_id = text_of(data, m, "message-id");
            break;
        case 1:
            m->user_id = text_of(data, m, "user-id");
            break;
        case 3:
            m->subject = text_of(data, m, "subject");
            break;
        case 4:
            m->reply_to = reply_address(text_of(data, m, "reply-to"));
            break;
        case 5:
            m->correlation_id = text_of(data, m, "correlation-id");
            break;
        case 6:
            *content_type = text_of(data, m, "content-type");
            break;
        case 9:
            if (pn_data_type(data) == PN_TIMESTAMP && !*have_created) {
                m->created_ms = pn_data_get_timestamp(data);
                *have_created = true;
            }
            break;
        default:
            break;
        }
    }
}

/* application-properties: the headers, less ttl and created, which fill
 * ttl_ms and created_ms (as on 0-9-1).  Nested values are dropped. */
static void
read_application_properties(pn_data_t *data, struct bus_message *m, bool *have_ttl,
                            bool *have_created)
{
    qmf_value *map;
    qmf_error err;
    size_t i;

    pn_data_rewind(data);
    if (!pn_data_next(data) || pn_data_type(data) != PN_DESCRIBED)
        return;
    pn_data_enter(data);
    if (!pn_data_next(data) || !pn_data_next(data))
        return;
    qmf_error_clear(&err);
    if ((map = qmf_get_pn_data(data, &err)) == NULL || map->kind != QMF_MAP) {
        refuse(m, "application-properties:", map == NULL ? err.text : "not a map");
        qmf_free(map);
        return;
    }
    for (i = 0; i < qmf_map_len(map); i++) {
        struct qmf_pair *pair = &map->u.map.items[i];
        int64_t n;

        if (strcmp(pair->key, "ttl") == 0 && qmf_get_int64(pair->value, &n) && n >= 0) {
            m->ttl_ms = (uint64_t)n;
            *have_ttl = true;
        } else if (strcmp(pair->key, "created") == 0 && qmf_get_int64(pair->value, &n)) {
            m->created_ms = n;
            *have_created = true;
        } else if (pair->value->kind != QMF_MAP && pair->value->kind != QMF_LIST) {
            qmf_map_set(m->headers, pair->key, pair->value);
            pair->value = NULL;
        }
    }
    qmf_free(map);
}

/* One body section; false when the message's body is not one kind. */
static bool
add_body(struct body *body, uint64_t code, const unsigned char *value, size_t len)
{
    size_t off;

    body->sections++;
    switch (code) {
    case SEC_DATA:
        if (body->kind != BODY_NONE && body->kind != BODY_DATA)
            return false;
        body->kind = BODY_DATA;
        if (value[0] != 0xa0 && value[0] != 0xb0)
            return false;
        off = value[0] == 0xa0 ? 2 : 5;
        bytes_append(&body->bytes, value + off, len - off);
        return true;
    case SEC_SEQUENCE:
        if (body->kind != BODY_NONE && body->kind != BODY_SEQUENCE)
            return false;
        body->kind = BODY_SEQUENCE;
        bytes_append(&body->bytes, value, len);
        return true;
    default:
        if (body->kind != BODY_NONE)
            return false;
        body->kind = BODY_VALUE;
        bytes_append(&body->bytes, value, len);
        return true;
    }
}

/* The items of the amqp-sequence sections, one list, as the body. */
static qmf_value *
decode_sequences(const struct bytes *bytes, qmf_error *err)
{
    const unsigned char *p = (const unsigned char *)bytes->ptr;
    size_t pos = 0, n, i;
    qmf_value *all = qmf_list(), *part;

    while (pos < bytes->len) {
        n = value_size(p + pos, bytes->len - pos, 0);
        if (n == 0 || (part = qmf_from_amqp(bytes->ptr + pos, n, err)) == NULL) {
            qmf_free(all);
            return NULL;
        }
        if (part->kind != QMF_LIST) {
            qmf_free(part);
            qmf_free(all);
            qmf_error_set(err, QMF_ERR_MALFORMED, "an amqp-sequence holds no list");
            return NULL;
        }
        for (i = 0; i < qmf_list_len(part); i++)
            qmf_list_append(all, part->u.list.items[i]);
        part->u.list.len = 0;      /* the items are all's now */
        qmf_free(part);
        pos += n;
    }
    return all;
}

static void
decode_body(struct bus_message *m, struct body *body, char *content_type, size_t total,
            size_t max_body)
{
    qmf_error err;

    if (!body->complete && total == body->received) {
        refuse(m, "the message's sections", "cannot be read");
        free(content_type);
        return;
    }
    if (!body->complete || body->bytes.len > max_body) {
        qmf_error_set(&m->body_error, QMF_ERR_TOO_LARGE,
                      "body of %zu bytes is over the limit of %zu",
                      body->complete ? body->bytes.len : total, max_body);
        free(content_type);
        return;
    }
    /* What a signature covers: the body's bytes as they came. */
    if (EVP_Digest(body->bytes.ptr != NULL ? body->bytes.ptr : "", body->bytes.len,
                   m->body_sha256, NULL, EVP_sha256(), NULL) == 1)
        m->has_body_sha256 = true;
    if (m->body_error.code != 0) {
        free(content_type);
        return;
    }
    qmf_error_clear(&err);
    switch (body->kind) {
    case BODY_NONE:
        qmf_error_set(&m->body_error, QMF_ERR_MALFORMED, "the message has no body");
        break;
    case BODY_DATA:
        a091_message_decode_body(m, content_type, false, body->bytes.ptr, body->bytes.len);
        break;
    case BODY_VALUE:
    case BODY_SEQUENCE:
        m->body = body->kind == BODY_VALUE
                      ? qmf_from_amqp(body->bytes.ptr ? body->bytes.ptr : "",
                                      body->bytes.len, &err)
                      : decode_sequences(&body->bytes, &err);
        if (m->body == NULL)
            qmf_error_set(&m->body_error, QMF_ERR_MALFORMED, "%s",
                          err.text[0] != '\0' ? err.text : "the body cannot be decoded");
        /* The encoding it came in, for an answer in kind. */
        if (content_type == NULL && m->body != NULL && m->body->kind == QMF_MAP)
            content_type = qmf_xstrdup(BUS_CONTENT_AMQP_MAP);
        else if (content_type == NULL && m->body != NULL && m->body->kind == QMF_LIST)
            content_type = qmf_xstrdup(BUS_CONTENT_AMQP_LIST);
        break;
    }
    m->raw_content_type = content_type;
}

void
a10_message_decode(struct bus_message *m, const char *bytes, size_t len, size_t total,
                   size_t max_body)
{
    const unsigned char *p = (const unsigned char *)bytes;
    pn_data_t *data = pn_data(16);
    struct body body = { .kind = BODY_NONE };
    bool have_ttl = false, have_created = false, bad = false;
    char *content_type = NULL;
    size_t pos = 0;

    if (m->headers == NULL)
        m->headers = qmf_map();
    /* The application-properties and the header set ttl, created before
     * the header's TTL and creation-time: read them first. */
    while (pos < len && !bad) {
        size_t d, v;
        uint64_t code;

        if (p[pos] != 0x00 || (d = value_size(p + pos + 1, len - pos - 1, 1)) == 0 ||
            !descriptor_code(p + pos + 1, d, &code)) {
            bad = true;
            break;
        }
        v = value_size(p + pos + 1 + d, len - pos - 1 - d, 1);
        if (v == 0)
            break;      /* cut short (too large), or broken */
        if (code == SEC_APPLICATION_PROPERTIES) {
            pn_data_clear(data);
            if (pn_data_decode(data, bytes + pos, 1 + d + v) < 0)
                refuse(m, "application-properties", "cannot be decoded");
            else
                read_application_properties(data, m, &have_ttl, &have_created);
        } else if (code >= SEC_DATA && code <= SEC_VALUE) {
            if (!add_body(&body, code, p + pos + 1 + d, v))
                bad = true;
        }
        pos += 1 + d + v;
    }
    body.complete = pos == len && total == len && !bad;
    body.received = len;
    for (pos = 0; pos < len;) {
        size_t d = value_size(p + pos + 1, len - pos - 1, 1), v;
        uint64_t code;

        if (p[pos] != 0x00 || d == 0 || !descriptor_code(p + pos + 1, d, &code) ||
            (v = value_size(p + pos + 1 + d, len - pos - 1 - d, 1)) == 0 || code >= SEC_DATA)
            break;
        if (code == SEC_HEADER || code == SEC_PROPERTIES) {
            pn_data_clear(data);
            if (pn_data_decode(data, bytes + pos, 1 + d + v) < 0)
                refuse(m, code == SEC_HEADER ? "header" : "properties", "cannot be decoded");
            else if (code == SEC_HEADER)
                read_header(data, m, &have_ttl);
            else
                read_properties(data, m, &content_type, &have_created);
        }
        pos += 1 + d + v;
    }
    decode_body(m, &body, content_type, total, max_body);
    free(body.bytes.ptr);
    pn_data_free(data);
}
