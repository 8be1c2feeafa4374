/* Tests of what the bus makes of its options before any connection: the
 * TLS and SASL checks at bus_open(), the configuration words, and the
 * x-arguments a queue is declared (or provisioned) with. */
#include <string.h>

#include <criterion/criterion.h>
#include <event2/event.h>

#include "bus/bus.h"

/* bus_open with these options, which must fail at once with message. */
static void
assert_refused(const struct bus_options *o, const char *message)
{
    struct event_base *base = event_base_new();
    struct bus_handlers h = { 0 };
    struct bus_conn *c = NULL;
    qmf_error err;

    qmf_error_clear(&err);
    cr_assert_eq(bus_open(&c, base, o, &h, NULL, &err), -1, "accepted: %s", o->url);
    cr_assert_null(c);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_str_eq(err.text, message);
    event_base_free(base);
}

Test(bus_options, external_needs_amqps_and_a_certificate)
{
    struct bus_options o = {
        .url = "amqp://127.0.0.1:1/", .sasl = BUS_SASL_EXTERNAL,
        .tls = { .cert = "/c.pem" },
    };
    const char *why = "SASL EXTERNAL needs an amqps:// broker URL and a client certificate "
                      "(tls_cert)";

    assert_refused(&o, why);
    o.url = "amqps://127.0.0.1:1/";
    o.tls.cert = NULL;
    assert_refused(&o, why);
}

Test(bus_options, a_key_needs_its_certificate)
{
    struct bus_options o = {
        .url = "amqps://u:secret@127.0.0.1:1/", .tls = { .ca = "/ca.pem", .key = "/k.pem" },
    };

    assert_refused(&o, "a TLS key (/k.pem) is given without its certificate");
}

Test(bus_options, words)
{
    enum bus_sasl sasl = BUS_SASL_EXTERNAL;
    bool provisioned = true;

    cr_assert_eq(bus_sasl_from_name("plain", &sasl), 0);
    cr_assert_eq(sasl, BUS_SASL_PLAIN);
    cr_assert_eq(bus_sasl_from_name("external", &sasl), 0);
    cr_assert_eq(sasl, BUS_SASL_EXTERNAL);
    cr_assert_eq(bus_sasl_from_name("EXTERNAL", &sasl), -1);
    cr_assert_eq(bus_sasl_from_name("", &sasl), -1);
    cr_assert_eq(bus_topology_from_name("declare", &provisioned), 0);
    cr_assert(!provisioned);
    cr_assert_eq(bus_topology_from_name("provisioned", &provisioned), 0);
    cr_assert(provisioned);
    cr_assert_eq(bus_topology_from_name("passive", &provisioned), -1);
}

Test(bus_options, queue_arguments)
{
    qmf_value *extra = qmf_map(), *args;
    struct bus_queue q = {
        .name = "q", .queue_type = "quorum", .message_ttl_ms = 1000, .delivery_limit = 5,
        .dead_letter_exchange = BUS_EXCHANGE_DIRECT, .arguments = extra,
    };
    int64_t n;

    qmf_map_set(extra, "x-dead-letter-routing-key", qmf_string(BUS_DEAD_LETTERS));
    args = bus_queue_arguments(&q);
    cr_assert_eq(qmf_map_len(args), 5);
    cr_assert_str_eq(qmf_map_get_string(args, "x-queue-type"), "quorum");
    cr_assert(qmf_get_int64(qmf_map_get(args, "x-message-ttl"), &n) && n == 1000);
    cr_assert(qmf_get_int64(qmf_map_get(args, "x-delivery-limit"), &n) && n == 5);
    cr_assert_str_eq(qmf_map_get_string(args, "x-dead-letter-exchange"), BUS_EXCHANGE_DIRECT);
    cr_assert_str_eq(qmf_map_get_string(args, "x-dead-letter-routing-key"), BUS_DEAD_LETTERS);
    qmf_free(args);
    qmf_free(extra);

    /* Nothing set, nothing sent. */
    q = (struct bus_queue){ .name = "q" };
    args = bus_queue_arguments(&q);
    cr_assert_eq(qmf_map_len(args), 0);
    qmf_free(args);
}

/* Consoles' markers reach the stream by the topic exchange: an account
 * without write access to the default exchange still reads presence. */
Test(bus_options, presence_takes_markers_by_the_topic_exchange)
{
    struct bus_queue q;
    qmf_value *args = bus_presence_queue(&q);

    cr_assert_eq(q.nbindings, 2);
    cr_assert_str_eq(q.bindings[0].exchange, BUS_EXCHANGE_TOPIC);
    cr_assert_str_eq(q.bindings[0].key, BUS_PRESENCE_KEY);
    cr_assert_str_eq(q.bindings[1].exchange, BUS_EXCHANGE_TOPIC);
    cr_assert_str_eq(q.bindings[1].key, BUS_PRESENCE_MARKER_KEY);
    qmf_free(args);
}
