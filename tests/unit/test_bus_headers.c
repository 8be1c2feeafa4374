/*
 * Unit tests of how the 0-9-1 backend reads a received message's headers:
 * the bound on their number (bus.h, BUS_MAX_HEADERS), for a headers table
 * and for the AMQP 1.0 application-properties a 1.0 peer's message
 * carries, which both end in one header map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bus/amqp091_int.h"
#include "core/codec.h"
#include "tests/testutil.h"

/* A table of n boolean headers "h0", "h1", ... */
struct table {
    amqp_basic_properties_t props;
    amqp_table_entry_t *entries;
    char (*keys)[24];
};

static void
table_make(struct table *t, size_t n)
{
    size_t i;

    memset(t, 0, sizeof(*t));
    t->entries = qmf_xcalloc(n + 1, sizeof(*t->entries));
    t->keys = qmf_xcalloc(n + 1, sizeof(*t->keys));
    for (i = 0; i < n; i++) {
        snprintf(t->keys[i], sizeof(t->keys[i]), "h%zu", i);
        t->entries[i].key = amqp_cstring_bytes(t->keys[i]);
        t->entries[i].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        t->entries[i].value.value.boolean = 1;
    }
    t->props._flags = AMQP_BASIC_HEADERS_FLAG;
    t->props.headers.entries = t->entries;
    t->props.headers.num_entries = (int)n;
}

static void
table_free(struct table *t)
{
    free(t->entries);
    free(t->keys);
}

Test(bus_headers, a_table_up_to_the_limit_is_read)
{
    struct bus_message *m = bus_message_new();
    struct table t;

    table_make(&t, BUS_MAX_HEADERS);
    a091_message_set_properties(m, &t.props);
    cr_assert_eq(m->body_error.code, 0, "%s", m->body_error.text);
    cr_assert_eq(qmf_map_len(m->headers), BUS_MAX_HEADERS);
    cr_assert_not_null(qmf_map_get(m->headers, "h0"));
    table_free(&t);
    bus_message_free(m);
}

/* Past it, nothing of the table is read: the message is refused, whatever
 * its size (a 128 KiB frame holds about 20,000 such headers, which cost a
 * scan each before the bound: 0.7 s of the loop). */
Test(bus_headers, a_table_over_the_limit_is_refused_unread)
{
    size_t sizes[] = { BUS_MAX_HEADERS + 1, 20000 }, i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct bus_message *m = bus_message_new();
        struct table t;

        table_make(&t, sizes[i]);
        a091_message_set_properties(m, &t.props);
        cr_assert_eq(m->body_error.code, QMF_ERR_MALFORMED, "%zu headers", sizes[i]);
        cr_assert(strstr(m->body_error.text, "over the limit") != NULL, "%s",
                  m->body_error.text);
        cr_assert_eq(qmf_map_len(m->headers), 0);
        table_free(&t);
        bus_message_free(m);
    }
}

/* n application-properties "p0", "p1", ... as RabbitMQ's plugin hands a
 * 1.0 peer's to a 0-9-1 consumer: the section's bytes in a header. */
static void
app_properties(struct table *t, size_t n, amqp_bytes_t *section)
{
    qmf_value *props = qmf_map();
    char key[24], *buf;
    size_t i, len;

    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "p%zu", i);
        qmf_map_append(props, key, qmf_bool(true));
    }
    cr_assert_eq(qmf_amqp_section_encode(QMF_AMQP_SECTION_APP_PROPERTIES, props, &buf, &len), 0);
    qmf_free(props);
    section->bytes = buf;
    section->len = len;
    table_make(t, 1);
    t->entries[0].key = amqp_cstring_bytes(A091_AMQP10_APP_PROPERTIES);
    t->entries[0].value.kind = AMQP_FIELD_KIND_BYTES;
    t->entries[0].value.value.bytes = *section;
}

Test(bus_headers, application_properties_count_against_the_limit)
{
    size_t sizes[] = { BUS_MAX_HEADERS, BUS_MAX_HEADERS + 1, 20000 }, i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct bus_message *m = bus_message_new();
        amqp_bytes_t section;
        struct table t;

        app_properties(&t, sizes[i], &section);
        a091_message_set_properties(m, &t.props);
        if (sizes[i] <= BUS_MAX_HEADERS) {
            cr_assert_eq(m->body_error.code, 0, "%s", m->body_error.text);
            cr_assert_eq(qmf_map_len(m->headers), sizes[i]);
        } else {
            cr_assert_eq(m->body_error.code, QMF_ERR_MALFORMED, "%zu properties", sizes[i]);
            cr_assert(strstr(m->body_error.text, "over the limit") != NULL, "%s",
                      m->body_error.text);
        }
        free(section.bytes);
        table_free(&t);
        bus_message_free(m);
    }
}
