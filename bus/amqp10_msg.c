/*
 * AMQP 1.0 message mapping: bus_message to the sections of a 1.0 message
 * (header, properties, application-properties, body) and back.  The
 * sections are written and walked here (with the core's section codec,
 * as the 0-9-1 backend reads what RabbitMQ's plugin hands it) rather than
 * with pn_message_t, so that a body is sent as the very bytes given
 * (signed messages) and read as the very bytes received (what a signature
 * covers).  See docs/TRANSPORTS.md, "AMQP 1.0", "Mapping".
 */
#include "bus/amqp10_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <proton/codec.h>

#include "bus/amqp091_int.h"
#include "core/codec_amqp.h"

/* The descriptors of the message-annotations and properties sections
 * (AMQP 1.0 part 3.2); the others are core/codec.h's. */
#define SECTION_MESSAGE_ANNOTATIONS 0x72
#define SECTION_PROPERTIES 0x73

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
        qmf_uuid_format(qmf_as_uuid(v), text);
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
    begin_section(data, QMF_AMQP_SECTION_HEADER, true);
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
    begin_section(data, SECTION_PROPERTIES, true);
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
    begin_section(data, QMF_AMQP_SECTION_APP_PROPERTIES, false);
    for (i = 0; i < qmf_map_len(m->headers); i++) {
        const struct qmf_pair *pair = qmf_map_at(m->headers, i);

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
 * The body section.  AMQP typed data goes as amqp-value, except a list,
 * which goes as amqp-sequence: RabbitMQ 3.10's 1.0 plugin closes the
 * connection on an amqp-value list of two items or more.  Other bytes
 * (JSON) go as one data section.
 */
static void
put_body_section(struct bytes *out, const char *body, size_t len, bool typed)
{
    unsigned char head[3] = { 0x00, 0x53, 0 };
    char *section;
    size_t n;

    if (!typed) {
        qmf_amqp_data_section(body, len, &section, &n);
        bytes_append(out, section, n);
        free(section);
        return;
    }
    head[2] = encoded_is_list(body, len) ? QMF_AMQP_SECTION_SEQUENCE : QMF_AMQP_SECTION_VALUE;
    bytes_append(out, head, sizeof(head));
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
        body = m->raw_body;
        body_len = m->raw_len;
    } else if (bus_body_encode(m->body, m->encoding, &encoded, &body_len, &content_type,
                               err) == 0) {
        body = encoded;
    } else {
        goto out;
    }
    typed = bus_content_type_is_amqp(content_type);
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

/* A section's bytes, descriptor and all. */
static amqp_bytes_t
section_bytes(const char *buf, size_t start, size_t end)
{
    amqp_bytes_t b = { end - start, (void *)(buf + start) };

    return b;
}

/* An id or text property as a string, malloc'd (an id may be a string,
 * symbol, ulong, UUID or binary); NULL for null.  A NUL byte in a binary
 * one makes the message malformed, as a string's did already. */
static char *
text_of(const qmf_value *v, struct bus_message *m, const char *field)
{
    char buf[40];

    switch (v->kind) {
    case QMF_STRING:
        return qmf_xstrdup(qmf_as_string(v));
    case QMF_BINARY:
        if (qmf_bytes_len(v) > 0 && memchr(qmf_as_bytes(v), '\0', qmf_bytes_len(v)) != NULL &&
            m->body_error.code == 0)
            qmf_error_set(&m->body_error, QMF_ERR_MALFORMED, "property '%s' holds a NUL byte",
                          field);
        return qmf_xstrndup(qmf_as_bytes(v), qmf_bytes_len(v));
    case QMF_UINT64:
    case QMF_UINT32:
        snprintf(buf, sizeof(buf), "%" PRIu64, qmf_as_uint(v));
        return qmf_xstrdup(buf);
    case QMF_UUID:
        qmf_uuid_format(qmf_as_uuid(v), buf);
        return qmf_xstrdup(buf);
    default:
        return NULL;
    }
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

/* The fields of a header or properties section, a list; NULL (and m
 * malformed) if it cannot be read. */
static qmf_value *
section_list(struct bus_message *m, const struct qmf_amqp_section *s, const char *what)
{
    qmf_error err;
    qmf_value *v = qmf_from_amqp(s->value, s->value_len, &err);

    if (v != NULL && v->kind == QMF_LIST)
        return v;
    if (m->body_error.code == 0)
        qmf_error_set(&m->body_error, QMF_ERR_MALFORMED, "the %s: %s", what,
                      v == NULL ? err.text : "not a list");
    qmf_free(v);
    return NULL;
}

static void
read_header(struct bus_message *m, const struct qmf_amqp_section *s, bool have_ttl)
{
    qmf_value *f = section_list(m, s, "header"), *v;

    if (f == NULL)
        return;
    if ((v = qmf_list_at(f, 0)) != NULL && v->kind == QMF_BOOL)
        m->durable = qmf_as_bool(v);
    if ((v = qmf_list_at(f, 2)) != NULL && v->kind == QMF_UINT32 && !have_ttl)
        m->ttl_ms = qmf_as_uint(v);
    qmf_free(f);
}

static char *
read_properties(struct bus_message *m, const struct qmf_amqp_section *s, bool have_created)
{
    static const char *const names[] = {
        "message-id", "user-id", "to", "subject", "reply-to", "correlation-id", "content-type",
    };
    char **fields[] = { &m->message_id, &m->user_id, NULL, &m->subject, &m->reply_to,
                        &m->correlation_id, NULL };
    qmf_value *f = section_list(m, s, "properties"), *v;
    char *content_type = NULL;
    size_t i;

    if (f == NULL)
        return NULL;
    for (i = 0; i < sizeof(names) / sizeof(names[0]) && i < qmf_list_len(f); i++) {
        v = qmf_list_at(f, i);
        if (fields[i] != NULL) {
            free(*fields[i]);
            *fields[i] = text_of(v, m, names[i]);
        } else if (i == 6) {
            content_type = text_of(v, m, names[i]);
        }
    }
    m->reply_to = reply_address(m->reply_to);
    /* creation-time: the codec reads AMQP timestamps (ms) as ns. */
    if ((v = qmf_list_at(f, 9)) != NULL && v->kind == QMF_INT64 && !have_created)
        m->created_ms = qmf_as_int(v) / 1000000;
    qmf_free(f);
    return content_type;
}

/* The message annotation x-stream-offset, which RabbitMQ gives a 1.0
 * receiver of a stream: the header it is on 0-9-1. */
static void
read_annotations(struct bus_message *m, const struct qmf_amqp_section *s)
{
    qmf_error err;
    qmf_value *map = qmf_from_amqp(s->value, s->value_len, &err);
    int64_t offset;

    if (map != NULL && map->kind == QMF_MAP &&
        qmf_get_int64(qmf_map_get(map, "x-stream-offset"), &offset))
        qmf_map_set(m->headers, "x-stream-offset", qmf_i64(offset));
    qmf_free(map);
}

void
a10_message_decode(struct bus_message *m, const char *bytes, size_t len, size_t total,
                   size_t max_body)
{
    struct qmf_amqp_section s, header = { 0 }, properties = { 0 };
    bool have_ttl = false, have_created = false, broken = false;
    size_t off = 0, start = 0, body_len = 0;
    char *content_type = NULL;
    qmf_error err;
    int rc;

    if (m->headers == NULL)
        m->headers = qmf_map();
    m->amqp10 = true;
    /* The application-properties' ttl and created come before the header's
     * TTL and the creation-time (RabbitMQ gives a 1.0 receiver the seconds
     * of a 0-9-1 timestamp as milliseconds): read them first. */
    while ((rc = qmf_amqp_section_next(bytes ? bytes : "", len, &off, &s, &err)) == 1) {
        if (s.descriptor == QMF_AMQP_SECTION_APP_PROPERTIES)
            a091_amqp10_properties(m, section_bytes(bytes, start, off), &have_ttl,
                                   &have_created);
        else if (s.descriptor == QMF_AMQP_SECTION_HEADER)
            header = s;
        else if (s.descriptor == SECTION_PROPERTIES)
            properties = s;
        else if (s.descriptor == SECTION_MESSAGE_ANNOTATIONS)
            read_annotations(m, &s);
        else if (s.descriptor >= QMF_AMQP_SECTION_DATA && s.descriptor <= QMF_AMQP_SECTION_VALUE)
            body_len += s.value_len;
        start = off;
    }
    broken = rc < 0;
    if (header.value != NULL)
        read_header(m, &header, have_ttl);
    if (properties.value != NULL)
        content_type = read_properties(m, &properties, have_created);
    if (total > len || body_len > max_body) {
        /* Kept only in part, or too large to keep: the properties count. */
        qmf_error_set(&m->body_error, QMF_ERR_TOO_LARGE,
                      "body of %zu bytes is over the limit of %zu",
                      total > len ? total : body_len, max_body);
    } else if (broken && m->body_error.code == 0) {
        m->body_error = err;
    } else {
        /* The body sections, decoded as a 1.0 peer's through the plugin. */
        a091_message_decode_body(m, content_type, true, bytes ? bytes : "", len);
    }
    m->raw_content_type = content_type;
}
