/*
 * Private to the AMQP 0-9-1 backend: what its loop side (amqp091.c), its
 * connect thread (amqp091_connect.c) and its message mapping
 * (amqp091_msg.c) share.
 */
#ifndef BUS_AMQP091_INT_H
#define BUS_AMQP091_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <amqp.h>

#include "bus/bus.h"
#include "bus/bus_tls.h"

/* Consumers and their acks live on one channel, publishes on another: the
 * broker closes a channel that publishes to a missing exchange (a bad
 * reply-to), and that must cost the publish channel, not the consumers. */
#define A091_CONSUME_CHANNEL 1
#define A091_PUBLISH_CHANNEL 2
/* Publishes nobody waits a confirm for (bus_message.unconfirmed): confirms
 * cost the broker about a tenth of an answer's work. */
#define A091_UNCONFIRMED_CHANNEL 3
/* A lenient queue's declaration (bus_queue.lenient): refused, it costs
 * this channel only, and only for the set-up. */
#define A091_LENIENT_CHANNEL 4

/*
 * RabbitMQ's direct reply-to: a reply address that needs no queue, so a
 * short-lived console skips a queue declare (the broker's costliest step
 * of its set-up).  The broker insists that its consumer sits on the
 * channel that publishes the requests naming it, so that subscription
 * lives on the publish channel.  Requests carry the bare name, which the
 * broker rewrites into a per-channel routing key on the default exchange.
 */
#define A091_DIRECT_REPLY_TO "amq.rabbitmq.reply-to"

#define A091_DEFAULT_HEARTBEAT_S 10
#define A091_DEFAULT_MAX_BODY (4u * 1024 * 1024)
#define A091_DEFAULT_CREDIT 100
#define A091_DEFAULT_BACKOFF_MIN_MS 100
#define A091_DEFAULT_BACKOFF_MAX_MS 30000
/* Bounds every blocking step of the connect thread (TCP, handshake, RPCs)
 * at first.  The handshake's and RPCs' bound doubles after each attempt
 * that failed slowly, up to the MAX: a broker that is merely behind (a
 * thousands-strong fleet reconnecting at once) is waited for, since an
 * attempt given up costs it the same work and serves nobody. */
#define A091_CONNECT_TIMEOUT_S 15
#define A091_CONNECT_TIMEOUT_MAX_S 120
/* The set-up's RPCs, once logged in, wait this many times longer (up to
 * the MAX): heartbeats are on by then, and rabbitmq-c's waits fail on a
 * silent broker after two of them anyway, so the longer bound only spares
 * a broker that is alive but behind.  Thousands of agents reconnecting
 * at once each got a share of such a broker too small to finish within
 * 15 s, gave up, and cost it the work: for minutes none finished. */
#define A091_SETUP_RPC_FACTOR 4
/* How long a polite close waits for the broker's connection.close-ok. */
#define A091_CLOSE_TIMEOUT_MS 2000
/*
 * The frame size we offer (the broker may lower it): RabbitMQ's own default
 * and largest usual frame_max.  A content header (properties and headers)
 * must fit in one frame, and rabbitmq-c drops the whole connection on a
 * frame larger than what was negotiated.  The broker checks what its
 * publishers send against their frame_max, never what it delivers against
 * ours: with a smaller frame_max than the broker's, one message with a big
 * header (33 KB against the 32 KiB this once was) took the agent's
 * connection down at every redelivery.  Offering the broker's value means
 * no 0-9-1 publisher can send a header we cannot read (a broker configured
 * with a larger frame_max must be lowered to this; docs/TRANSPORTS.md).
 * rabbitmq-c sizes its outbound buffer and its per-channel frame pools by
 * it; pool pages are only touched as far as frames fill them.
 */
#define A091_FRAME_MAX (128 * 1024)

struct a091_sub {
    char *queue;            /* the queue name, or NULL with by_index */
    bool by_index;          /* source "#<i>": options.queues[queue_index] */
    size_t queue_index;
    uint16_t credit;
    bool no_ack;
    amqp_channel_t channel; /* A091_CONSUME_CHANNEL, or publish for direct reply-to */
    qmf_value *arguments;   /* consumer arguments, or NULL */
    bus_receive_cb receive;
    void *opaque;
};

/*
 * A deep copy of bus_options, immutable once built, shared by the
 * connection and its connect threads (hence the reference count).
 */
struct a091_config {
    atomic_int refs;
    char *url;
    char *shown;                        /* url without its password */
    char *url_buf;                      /* parsed in place; info points into it */
    struct amqp_connection_info info;
    char *name;
    struct bus_tls_conf tls;            /* amqps only, and the SASL mechanism */
    uint16_t heartbeat_s;
    size_t max_body;
    bool reconnect;
    bool passive_exchanges;
    uint32_t backoff_min_ms, backoff_max_ms;
    struct bus_threads *threads;        /* the caller's; NULL: none */
    struct bus_queue *queues;
    size_t nqueues;
    struct a091_sub *subs;
    size_t nsubs;
    bool publish_channel_consumes;      /* a subscription (direct reply-to) is on 2 */
};

/* Deep copies, and what frees them (the structures themselves aside). */
void a091_queue_copy(struct bus_queue *dst, const struct bus_queue *src);
void a091_queue_clear(struct bus_queue *q);
/* nqueues: how many queues "#<i>" may name (0: none). */
int a091_sub_copy(struct a091_sub *dst, const struct bus_subscription *src, size_t nqueues,
                  qmf_error *err);
void a091_sub_clear(struct a091_sub *s);

/*
 * Sends queue q's declaration and bindings on channel without waiting,
 * *name its name (malloc'd).  A server-named queue (no name) waits for
 * the broker's answer: for the connect thread only.
 */
int a091_declare_queue(amqp_connection_state_t amqp, amqp_channel_t channel,
                       const struct bus_queue *q, char **name, qmf_error *err);
/* Sends basic.qos (s's credit) and basic.consume of queue under tag on
 * channel; nowait false: the broker answers consume-ok. */
int a091_send_consume(amqp_connection_state_t amqp, const struct a091_sub *s,
                      amqp_channel_t channel, const char *tag, const char *queue, bool nowait,
                      qmf_error *err);

struct a091_config *a091_config_new(const struct bus_options *opts, qmf_error *err);
struct a091_config *a091_config_ref(struct a091_config *cfg);
void a091_config_unref(struct a091_config *cfg);

/* The consumer tag of subscription i, and back. */
char *a091_consumer_tag(size_t i);
bool a091_consumer_index(amqp_bytes_t tag, size_t nsubs, size_t *i);

/*
 * The blocking part, run on the connect thread: TCP (or TLS), login, both
 * channels, confirm mode, the topology and the consumers.  On success the
 * connection is returned with names[i] the actual name of queues[i].
 */
amqp_connection_state_t a091_connect(const struct a091_config *cfg, unsigned timeout_s,
                                     char ***names, qmf_error *err);
/* The qmf_error code of a broker's close: QMF_ERR_UNAUTHORIZED for a
 * permission refused (403), which asking again cannot mend;
 * QMF_ERR_LOCKED for an exclusive queue another connection holds (405);
 * else QMF_ERR_TRANSPORT. */
int a091_close_code(uint16_t reply_code);
/* Text of a failed RPC reply (a server close or a library status). */
void a091_reply_error(amqp_rpc_reply_t r, const char *what, qmf_error *err);
/*
 * Ends a connection the way the broker expects: connection.close, then
 * close-ok awaited for up to timeout_ms, then the socket closed and amqp
 * destroyed.  Blocks: for the connect and close threads, never the loop.
 */
void a091_close_politely(amqp_connection_state_t amqp, unsigned timeout_ms);

/* An outgoing message as rabbitmq-c wants it; pointers borrow from the
 * bus_message except what a091_outgoing_clear frees. */
struct a091_outgoing {
    amqp_basic_properties_t props;
    amqp_table_entry_t *entries;
    char **texts;              /* strings made for the wire (UUIDs) */
    size_t ntexts;
    char expiration[24];
    char *amqp10_properties;   /* the application-properties section */
    size_t amqp10_properties_len;
    char *body;
    size_t body_len;
};

/* for_091_asker: m goes to the direct reply-to of a 0-9-1 channel, which
 * reads the headers table: the AMQP 1.0 copy of the properties is left out
 * (a few hundred bytes per answer, a credential's twice over). */
int a091_outgoing_build(struct a091_outgoing *o, const struct bus_message *m,
                        bool for_091_asker, qmf_error *err);
void a091_outgoing_clear(struct a091_outgoing *o);

/* The application-properties section of an AMQP 1.0 message (as the 1.0
 * plugin hands it to 0-9-1, or as it came on 1.0): m's headers, and its
 * ttl and created (*have_ttl, *have_created say so); a section that cannot
 * be read makes m malformed. */
void a091_amqp10_properties(struct bus_message *m, amqp_bytes_t section, bool *have_ttl,
                            bool *have_created);
/* The properties of a received content header, mapped onto m. */
void a091_message_set_properties(struct bus_message *m,
                                 const amqp_basic_properties_t *p);
/* The entries of an AMQP table for a map of scalars (declare and consume
 * arguments), appended to entries[*n]; entries borrow from the map, which
 * must not hold UUIDs. */
int a091_table_append(const qmf_value *map, amqp_table_entry_t *entries, int *n,
                      qmf_error *err);

/* RabbitMQ's AMQP 1.0 plugin: the 0-9-1 type of a message whose body is
 * AMQP 1.0 sections, and the header holding its application-properties
 * section (the other x-amqp-1.0-* headers hold sections we do not read). */
#define A091_AMQP10_TYPE "amqp-1.0"
#define A091_AMQP10_HEADER_PREFIX "x-amqp-1.0-"
#define A091_AMQP10_APP_PROPERTIES "x-amqp-1.0-app-properties"
/* The header holding its properties section (descriptor 0x73). */
#define A091_AMQP10_PROPERTIES "x-amqp-1.0-properties"
#define A091_AMQP10_PROPERTIES_CODE 0x73

/* Decodes the body by content type (sections: AMQP 1.0 sections, as the
 * type amqp-1.0 says), or sets m->body_error; either way sets
 * m->body_sha256 over the body bytes a signature covers. */
void a091_message_decode_body(struct bus_message *m, const char *content_type, bool sections,
                              const char *body, size_t len);

/* A C string as AMQP bytes, borrowed (rabbitmq-c copies on send). */
static inline amqp_bytes_t
a091_bytes_of(const char *s)
{
    amqp_bytes_t b;

    b.len = strlen(s);
    b.bytes = (void *)s;
    return b;
}

#endif
