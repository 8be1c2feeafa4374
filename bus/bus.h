/*
 * The bus: one interface in front of the AMQP transports.
 *
 * A transport is a table of named entry points (struct bus_driver), in the
 * style of libvirt's driver tables.  The callers (agent, console) only see
 * this header.  Everything runs on the caller's libevent loop; callbacks
 * arrive on the loop thread.  Nothing here blocks the loop: a backend that
 * needs a blocking connect does it on a thread of its own and hands the
 * connection over, waking the loop through a descriptor the loop watches
 * (bus/backend.c): the thread calls nothing of libevent's, so the caller
 * need not make its loop thread-safe (evthread_use_pthreads()).
 *
 * The model is shaped to fit both AMQP 0-9-1 and AMQP 1.0 (see
 * docs/TRANSPORTS.md):
 *  - addresses use RabbitMQ's AMQP 1.0 form, "/exchange/X/key" and
 *    "/queue/Q", for both publishing and consuming;
 *  - topology (exchanges, queues, bindings) and subscriptions are declared
 *    up front in bus_options and re-established by the backend on every
 *    (re)connect: 0-9-1 declares them, 1.0 attaches one receiver link per
 *    subscription;
 *  - more can come once the connection is open ("late" topology, for what
 *    the caller did not know at open: a job's queue, a stream read once):
 *    bus_declare() and bus_subscribe(), each reported by a callback.  A
 *    late subscription is re-established on every reconnect, with the
 *    queue it declares, until bus_unsubscribe(); a bare late declaration
 *    is made once (see bus_driver.declare);
 *  - each subscription has a credit window: at most `credit` unsettled
 *    deliveries (0-9-1 basic.qos prefetch; 1.0 link credit, replenished as
 *    deliveries are settled);
 *  - a delivery is settled exactly once with bus_ack() or bus_reject();
 *  - a publish may ask for a confirm (0-9-1 publisher confirms; 1.0 unsettled
 *    send and its disposition).
 */
#ifndef BUS_H
#define BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "core/error.h"
#include "core/names.h"
#include "core/value.h"

/* The QMF exchanges. */
#define BUS_EXCHANGE_DIRECT QMF_NAME_EXCHANGE_DIRECT
#define BUS_EXCHANGE_TOPIC  QMF_NAME_EXCHANGE_TOPIC
/* The broadcast key of methods that change nothing (docs/PROTOCOL.md
 * §7.8): bound to agents' query queues, never to their command queues. */
#define BUS_READ_METHOD_KEY QMF_NAME_READ_METHOD_KEY

/*
 * A reply address private to one connection that needs no queue (RabbitMQ's
 * direct reply-to).  Subscribe to it (no_ack) and put it in requests' reply_to
 * on the same connection; replies come straight to that subscription, and
 * are lost with the connection, like an exclusive queue's.  Receivers see a
 * per-connection "/queue/amq.rabbitmq.reply-to.<...>" and just publish there.
 */
#define BUS_DIRECT_REPLY_TO QMF_NAME_DIRECT_REPLY_TO

/* The headers of signatures, MACs and signers (trust/message.h) begin so:
 * a received message with none has no body_sha256 (nothing will check it). */
#define BUS_TRUST_HEADER_PREFIX "virtbus."

/* A received message with more headers (0-9-1 headers and AMQP 1.0
 * application-properties together) is refused as malformed before they are
 * read: virtbus sends about twenty, and a 128 KiB header frame holds
 * 20,000, each of which costs the loop a scan of those before it as the
 * header map is built (docs/PROTOCOL.md §4.1, "Headers"). */
#define BUS_MAX_HEADERS 256

/*
 * Queues the AMQP 1.0 backend names itself where 0-9-1 would have the
 * broker name them, or where 1.0 cannot consume the queue asked for: a
 * server-named queue, the stand-in for direct reply-to (so a 1.0
 * console's reply address), the stand-in for a lock's bindings.
 */
#define BUS_TEMP_QUEUE_PREFIX "virtbus.tmp."
/*
 * Those names are their broker user's: BUS_TEMP_QUEUE_PREFIX "<user>.<24 hex
 * digits>", so that an account may be granted its own stand-ins and no
 * other's (docs/TRANSPORTS.md, "Least-privilege broker accounts").  The
 * hex part has a fixed length, so ^virtbus\.tmp\.a\.[0-9a-f]{24}$ matches
 * none of user "a.b"'s.
 */
#define BUS_TEMP_QUEUE_HEX 24
#define BUS_TEMP_QUEUE_USER_MAX 200     /* bytes, escaped: queue names end at 255 */
/*
 * The <user> part for a broker user: letters, digits, '.', '_' and '-' as
 * they are, any other byte as %XX (so two users never share a form).
 * NULL if that is longer than BUS_TEMP_QUEUE_USER_MAX.  The caller frees.
 */
char *bus_temp_queue_user(const char *user);

#define BUS_CONTENT_JSON     "application/json"
#define BUS_CONTENT_AMQP_MAP "amqp/map"
#define BUS_CONTENT_AMQP_LIST "amqp/list"
/* amqp/map or amqp/list, parameters aside: QMFv2's typed encoding. */
bool bus_content_type_is_amqp(const char *content_type);

/*
 * How a body is written: JSON (virtbus's default on 0-9-1) or AMQP 1.0
 * typed data, content type amqp/map or amqp/list by the body's kind
 * (QMFv2's encoding, which Qpid's consoles read; native on 1.0).
 */
enum bus_encoding {
    BUS_ENCODING_JSON,
    BUS_ENCODING_AMQP,
};

/* "json" or "amqp" (the configuration files' indication_encoding): 0, or
 * -1 for another word. */
int bus_encoding_from_name(const char *name, enum bus_encoding *out);

/*
 * One message, as sent or as received.  The QMF application properties
 * (qmf.opcode, method, qmf.agent, qmf.content, partial, app-id, ...) are the
 * `headers` map: 0-9-1 carries them in the headers table, 1.0 in
 * application-properties, so header values must be scalars.
 */
struct bus_message {
    char *subject;          /* routing key it was published with (received) */
    char *message_id;
    char *correlation_id;
    char *reply_to;         /* an address, "/exchange/X/key" or "/queue/Q" */
    char *user_id;          /* broker-validated user, when the broker sets it */
    uint64_t ttl_ms;        /* 0: never expires */
    int64_t created_ms;     /* ms since the epoch; 0: unknown */
    bool durable;           /* persistent delivery mode */
    /* Sending, without a confirm callback: the message may go by a channel
     * without publisher confirms (a tenth less broker work for an answer).
     * Ordered with the other unconfirmed messages of the connection, not
     * with the rest; for answers, which each go to the one that asked. */
    bool unconfirmed;
    /* Sending: the TTL travels for the receiver only, so that the broker
     * never drops the message unseen and the receiver can answer and
     * record its expiry (commands). */
    bool receiver_expires;
    qmf_value *headers;     /* map of scalars, never NULL once built */
    qmf_value *body;        /* decoded body, NULL if decoding failed */
    /* Sending: how bus_message_encode writes body.  Received: how it came
     * (AMQP for amqp/map and amqp/list, both AMQP 1.0's and 0-10's
     * encodings), so that an answer can be written the same way. */
    enum bus_encoding encoding;
    /*
     * AMQP 1.0's envelope on 0-9-1 (docs/TRANSPORTS.md, "AMQP 1.0 peers
     * on 0-9-1").  Received: the message came from an AMQP 1.0 client
     * through RabbitMQ's plugin (type "amqp-1.0", or its properties in
     * x-amqp-1.0-* headers), which the receive path unpacked: headers
     * hold its application-properties, body its amqp-value or data
     * sections.  Sending: 0-9-1 publishes it the same way, so that a 1.0
     * consumer gets real application-properties and an amqp-value body
     * (the 0-9-1 headers go too, for 0-9-1 consumers).
     */
    bool amqp10;
    /* Received: the message had no body at all (0 bytes, or no body
     * section): body is NULL and body_error says so, and a request that
     * needs no body (a locate) may go on without one. */
    bool body_absent;
    /* Sending only: bytes sent as the body instead of encoding `body`, with
     * their content type (default application/json).  For signed messages
     * (bus_message_encode), relays, and tests that must send what no
     * encoder would produce.  Received: raw_content_type is the content
     * type as it came, or NULL. */
    char *raw_body;
    size_t raw_len;
    char *raw_content_type;
    /* Received: SHA-256 of the body bytes exactly as they came, what a
     * signature covers (trust/message.h); only for a message with headers
     * BUS_TRUST_HEADER_PREFIX "*". */
    uint8_t body_sha256[32];
    bool has_body_sha256;
    /* Set on receive when the body could not be decoded: code is
     * QMF_ERR_MALFORMED or QMF_ERR_TOO_LARGE.  Headers and properties are
     * still valid so that the receiver can reply with an _exception. */
    qmf_error body_error;
};

struct bus_message *bus_message_new(void);
/* Sending: encodes body into raw_body (by m->encoding, as the bus would)
 * unless raw_body is set already, so that the bytes signed are the bytes
 * sent; sets raw_content_type. */
int bus_message_encode(struct bus_message *m, qmf_error *err);
/* The same for a transport: body (NULL: an empty map) encoded as encoding
 * says into *buf (malloc'd), and its content type (static). */
int bus_body_encode(const qmf_value *body, enum bus_encoding encoding, char **buf,
                    size_t *len, const char **content_type, qmf_error *err);
/* Decodes a received body by its content type (NULL: JSON): AMQP 1.0 or
 * 0-10 typed data for amqp/map and amqp/list, JSON for application/json;
 * sets m->body and m->encoding, or m->body_error.  An empty body is
 * body_absent. */
void bus_body_decode(struct bus_message *m, const char *content_type, const char *body,
                     size_t len);
/* SHA-256 of the body bytes: as received, else of raw_body (call
 * bus_message_encode first when sending). */
void bus_message_body_sha256(const struct bus_message *m, uint8_t out[32]);
void bus_message_free(struct bus_message *m);
/* A deep copy, for keeping a received message past its delivery. */
struct bus_message *bus_message_dup(const struct bus_message *m);
/* Header accessors: NULL/false when absent or of another kind. */
const char *bus_message_header(const struct bus_message *m, const char *name);
void bus_message_set_header(struct bus_message *m, const char *name, qmf_value *v);
void bus_message_set_header_string(struct bus_message *m, const char *name,
                                   const char *s);

/* Topology, declared on every (re)connect. */
struct bus_binding {
    const char *exchange;
    const char *key;
};

/*
 * A named exclusive queue is also a lock: while one connection has it, the
 * broker refuses it to every other (RESOURCE_LOCKED), and frees it when
 * that connection dies.  A connect attempt that meets such a refusal
 * fails with QMF_ERR_LOCKED, and `down` says so on every attempt, not
 * only the first: the caller decides whether to keep trying.  Except
 * soon after one of this connection's own attempts timed out against a
 * slow broker (over AMQP 0-9-1): the broker may still hold the queue for
 * that abandoned attempt, and the refusal is retried like any failure
 * (bus/backend.h, struct bus_patience).
 */
struct bus_queue {
    const char *name;          /* NULL: a server-named exclusive queue */
    bool passive;              /* only check that it exists (with name) */
    bool durable;
    bool exclusive;
    bool auto_delete;
    const char *queue_type;    /* "classic", "quorum", "stream" or NULL */
    uint32_t message_ttl_ms;   /* 0: none */
    uint32_t delivery_limit;   /* quorum queues; 0: broker default */
    const char *dead_letter_exchange;
    const struct bus_binding *bindings;
    size_t nbindings;
    /* Bindings to remove if they exist (what an earlier version bound). */
    const struct bus_binding *unbindings;
    size_t nunbindings;
    /* More x-arguments (e.g. x-max-age for a stream): a map of strings
     * and integers, or NULL. */
    const qmf_value *arguments;
    /* Nice to have, not needed to serve: declared (with its bindings)
     * after the rest of the set-up is confirmed, on a channel of its own
     * and waiting for each answer (a round trip each), so that a refusal
     * leaves the queue as it is and the connection goes on: a queue an
     * earlier version declared with other arguments (PRECONDITION_FAILED),
     * or a classic queue whose cluster node is down (NOT_FOUND).  0-9-1
     * topology (which the 1.0 bus declares by 0-9-1 too).  Not for a
     * queue the connection consumes: its consumers start before. */
    bool lenient;
};

/* The x-arguments a declaration of q carries (x-queue-type, x-message-ttl,
 * x-delivery-limit, x-dead-letter-exchange, then q->arguments): a map the
 * caller frees.  What `virtbus broker-setup` writes for the broker to make. */
qmf_value *bus_queue_arguments(const struct bus_queue *q);

struct bus_delivery;
struct bus_conn;

/*
 * A received message.  The message belongs to the delivery and stays valid
 * until the delivery is settled.  The callee must settle every delivery,
 * now or later, with bus_ack() or bus_reject().
 */
typedef void (*bus_receive_cb)(struct bus_delivery *d,
                               const struct bus_message *m, void *opaque);

struct bus_subscription {
    /* "/queue/Q": a queue of options.queues or one that exists; or "#<i>",
     * options.queues[i] whatever its name (the way to reach a server-named
     * queue, whose name changes on every reconnect). */
    const char *source;
    uint32_t credit;           /* max unsettled deliveries; 0 means 100 */
    bool no_ack;               /* settle on delivery (at-most-once) */
    /* Consumer arguments (e.g. x-stream-offset), a map of strings and
     * integers, or NULL. */
    const qmf_value *arguments;
    bus_receive_cb receive;
    void *opaque;
};

/* Connection state changes, on the loop thread.  `down` is said once per
 * loss: when an up connection is lost, or when the first attempt fails;
 * the retries that follow (with reconnect) are quiet until the next `up`.
 * Its `why` is QMF_ERR_UNAUTHORIZED when the broker refused something for
 * want of a permission (a publish, a consumer, a login), which asking
 * again will not mend. */
struct bus_handlers {
    void (*up)(struct bus_conn *c, void *opaque);
    void (*down)(struct bus_conn *c, const qmf_error *why, void *opaque);
};

/* How a connection authenticates to the broker. */
enum bus_sasl {
    BUS_SASL_PLAIN,            /* the URL's user and password */
    BUS_SASL_EXTERNAL,         /* the client certificate (amqps and tls_cert
                                * needed); the broker takes the user from it */
};

/*
 * Transport security for amqps:// (docs/TRANSPORTS.md, "TLS and SASL
 * EXTERNAL").  The broker's certificate is always verified, against
 * tls_ca, and so is its host name unless told otherwise.  Files are read
 * at every connect attempt, on the connect thread: a renewed certificate
 * is taken up by the next reconnect.
 */
struct bus_tls {
    const char *ca;            /* PEM CA certificates; NULL: the system's */
    const char *cert;          /* PEM client certificate; NULL: none */
    const char *key;           /* its PEM private key (unencrypted); NULL:
                                * in the certificate's file */
    /* Unsafe: any certificate tls_ca signed then passes, whichever host it
     * names.  Only for a broker reached by a name its certificate lacks. */
    bool no_verify_hostname;
};

/*
 * The background threads of a caller's connections (connect attempts,
 * goodbyes), for a process that must not exit while one still uses
 * OpenSSL: a thread cut short by exit, or running on after OpenSSL's
 * cleanup at exit, leaves its state behind.  The caller makes one, names
 * it in the options of every connection it opens, and frees it last,
 * waiting up to wait_ms for the threads to end (0: no wait, as a loop
 * that goes on must).  Each thread holds it while it runs: it may be
 * freed with threads still running.
 */
struct bus_threads;
struct bus_threads *bus_threads_new(void);
/* Whether all had ended (waited for at most wait_ms). */
bool bus_threads_free(struct bus_threads *t, unsigned wait_ms);
/* For transports: a thread starts (before it is created) and ends. */
void bus_threads_enter(struct bus_threads *t);
void bus_threads_leave(struct bus_threads *t);

struct bus_options {
    /* amqp://user:pass@host:port/vhost (an empty vhost, "...:5672/",
     * means "/"); or several, separated by white space, of one transport:
     * the nodes of a cluster.  The first attempt goes to one picked at
     * random (so that a fleet spreads over the nodes), each retry to the
     * next in the list; the backoff grows only once a whole round failed. */
    const char *url;
    struct bus_tls tls;        /* amqps only */
    enum bus_sasl sasl;
    uint16_t heartbeat_s;      /* AMQP heartbeat; 0: transport default */
    size_t max_body;           /* larger bodies are refused; 0: 4 MiB */
    const char *name;          /* connection name shown by the broker */
    bool reconnect;            /* retry with jittered backoff when lost */
    /* The broker's administrator made the QMF exchanges (virtbus
     * broker-setup): only check that they exist.  Declaring them needs the
     * configure permission, which also allows deleting them. */
    bool passive_exchanges;
    uint32_t reconnect_min_ms; /* first backoff; 0: 100 ms */
    uint32_t reconnect_max_ms; /* backoff cap; 0: 30 s */
    struct bus_threads *threads; /* joined by the connection's threads; NULL */
    const struct bus_queue *queues;
    size_t nqueues;
    const struct bus_subscription *subs;
    size_t nsubs;
};

/* Called with ok=false if the broker refused it or the connection was lost
 * before the broker took responsibility for the message. */
typedef void (*bus_confirm_cb)(bool ok, void *opaque);

/* How a late declaration or subscription went: err NULL when the broker
 * took it, else why not (QMF_ERR_UNAUTHORIZED for a permission refused;
 * the broker's reason otherwise, e.g. a passive declare of a missing
 * queue). */
typedef void (*bus_done_cb)(struct bus_conn *c, const qmf_error *err, void *opaque);

/* A subscription added to an open connection (bus_subscribe). */
struct bus_sub;

struct bus_driver {
    const char *name;            /* "amqp091", "amqp10" */
    const char *const *schemes;  /* URL schemes served, NULL-terminated */
    /* Whether the backend can read the URL at all (syntax only; nothing
     * is connected).  NULL: any URL of its schemes. */
    int (*check_url)(const char *url, qmf_error *err);
    /* Starts connecting; `up` is called once connected and declared.
     * opts is copied: nothing it points to has to outlive the call. */
    int (*open)(struct bus_conn **out, struct event_base *base,
                const struct bus_options *opts, const struct bus_handlers *h,
                void *opaque, qmf_error *err);
    /* Queues m for sending to address.  Fails at once if not connected.
     * With a confirm callback the message is sent for confirmation. */
    int (*publish)(struct bus_conn *c, const char *address,
                   const struct bus_message *m, bus_confirm_cb confirm,
                   void *opaque, qmf_error *err);
    int (*ack)(struct bus_delivery *d);
    int (*reject)(struct bus_delivery *d, bool requeue);
    /* The server-assigned name of options.queues[i] (for unnamed queues),
     * and whether the connection is up: what the tests ask a backend
     * (tests/harness/support.h); nothing shipped calls them. */
    const char *(*queue_name)(struct bus_conn *c, size_t i);
    bool (*is_up)(struct bus_conn *c);
    /* Stops every subscription (0-9-1 basic.cancel; 1.0 detach or zero
     * credit): nothing more is delivered, deliveries held stay valid and
     * must still be settled; publishing goes on.  For stopping. */
    int (*pause)(struct bus_conn *c);
    /* Closes and frees; unsettled deliveries are requeued by the broker
     * (settling one later only frees it, and returns -1), pending confirms
     * are reported failed.  Safe from any callback.  Never blocks: a
     * polite goodbye that needs the broker's answer happens in the
     * background. */
    void (*close)(struct bus_conn *c);
    /* close, but the goodbye happens on the calling thread, waiting up to
     * timeout_ms (0: the backend's default) for the broker's answer.
     * NULL: close. */
    void (*close_wait)(struct bus_conn *c, unsigned timeout_ms);
    /* The broker of the list that the connection uses or tries now, as
     * bus_url_redact shows it (no password); owned by the connection,
     * valid until it closes. */
    const char *(*broker)(struct bus_conn *c);

    /*
     * Late topology, on an up connection (else it fails at once, as
     * publish does).  Nothing blocks the loop: 0-9-1 sends it on a
     * channel of its own (a refusal costs that channel, never the
     * connection); 1.0 declares over a short 0-9-1 connection on a thread
     * (RabbitMQ 3.10's 1.0 plugin declares nothing) and attaches a
     * receiver on a session of its own (RabbitMQ ends the session of a
     * refused attach).
     *
     * declare: the named queues (and their bindings), then done once, on
     * the loop.  Made once: a queue that dies with the connection is not
     * made again after a reconnect (subscribe with it for that).  Queues
     * need a name; 1.0 takes no exclusive one (its declaring connection
     * ends at once).
     */
    int (*declare)(struct bus_conn *c, const struct bus_queue *queues, size_t nqueues,
                   bus_done_cb done, void *opaque, qmf_error *err);
    /*
     * subscribe: sub->source must be "/queue/Q"; queue, if not NULL, is
     * declared first (its name must be Q's), at every start.  started
     * (with sub->opaque) is called on the loop each time the consumer
     * starts or is refused: for this start, then for each reconnect,
     * which starts it again until it is cancelled, as the subscriptions
     * of bus_options are.  A subscription refused or cancelled by the
     * broker (its queue deleted) stays stopped until the next reconnect;
     * the connection goes on.  *out is the caller's until
     * bus_unsubscribe().
     */
    int (*subscribe)(struct bus_conn *c, const struct bus_queue *queue,
                     const struct bus_subscription *sub, bus_done_cb started,
                     struct bus_sub **out, qmf_error *err);
    /*
     * Cancels s (0-9-1 basic.cancel; 1.0 detach): nothing more is
     * delivered, started is never called again, and s is freed.
     * Deliveries held stay valid and must still be settled: bus_reject()
     * with requeue gives them back to the queue (its channel or session
     * stays open for that, and ends with the last one).  Call it before
     * bus_close(), which frees what is left.
     */
    void (*unsubscribe)(struct bus_sub *s);
};

extern const struct bus_driver bus_amqp091_driver;
extern const struct bus_driver bus_amqp10_driver;

/*
 * Presence: a stream that keeps the agents' heartbeats for a while, so that
 * a console learns at once who is alive instead of waiting for answers.
 * Agents and consoles both declare it, identically (a declaration with
 * other arguments would fail).  Fills q and returns its arguments map,
 * which the caller frees after bus_open().
 */
#define BUS_PRESENCE_QUEUE QMF_NAME_PRESENCE_QUEUE
#define BUS_PRESENCE_KEY QMF_NAME_PRESENCE_KEY
/* Consoles' markers reach the stream by the topic exchange with this key, so
 * that a console needs no write access to the default exchange (which
 * reaches every queue by name) to read presence. */
#define BUS_PRESENCE_MARKER_KEY QMF_NAME_PRESENCE_MARKER_KEY
qmf_value *bus_presence_queue(struct bus_queue *q);

/*
 * A presence keeper's summaries of presence (docs/PROTOCOL.md §7.3.1):
 * a stream bound to the summaries' key and to the presence markers' (one
 * marker then serves both streams).  Declared identically by keepers and
 * consoles; the caller frees the returned arguments.
 */
#define BUS_SUMMARY_QUEUE QMF_NAME_SUMMARY_QUEUE
#define BUS_SUMMARY_KEY QMF_NAME_SUMMARY_KEY
qmf_value *bus_summary_queue(struct bus_queue *q);

/*
 * The fleet's memory: a stream of records of the nodes seen (agents write
 * one at start, every fleet_interval and as they stop) and of the nodes
 * an operator retired, so that a node that went silent is still known
 * long after it fell out of presence (docs/PROTOCOL.md §7.6).  Declared
 * identically by agents and consoles, as presence is; the caller frees
 * the returned arguments after bus_open().
 */
#define BUS_FLEET_QUEUE QMF_NAME_FLEET_QUEUE
/* Consoles' markers reach it by the topic exchange, as presence's do. */
#define BUS_FLEET_MARKER_KEY QMF_NAME_FLEET_MARKER_KEY
qmf_value *bus_fleet_queue(struct bus_queue *q);

/*
 * When an agent started, in ns, from its attributes (a heartbeat's or a
 * locate answer's _values): _start_time; else _epoch, which agents before
 * it sent in ns and QMFv2 agents send as a uint32 count (read as seconds);
 * 0 when neither is there.
 */
int64_t bus_agent_started_ns(const qmf_value *attrs);

/* Where quorum queues put a command that kept killing its agent (agents'
 * command queues dead-letter to the direct exchange with this key). */
#define BUS_DEAD_LETTERS QMF_NAME_DEAD_LETTERS

/* The stream of job records (docs/PROTOCOL.md §7.5), declared identically
 * by every console; the caller frees the returned arguments. */
#define BUS_JOBS_QUEUE QMF_NAME_JOBS_QUEUE
qmf_value *bus_jobs_queue(struct bus_queue *q);

/* "plain" or "external" (the configuration files' sasl_mechanism): 0, or
 * -1 for another word. */
int bus_sasl_from_name(const char *name, enum bus_sasl *out);

/* "declare" (false) or "provisioned" (true: the administrator made the
 * exchanges and shared queues), the configuration files' broker_topology:
 * 0, or -1 for another word. */
int bus_topology_from_name(const char *name, bool *provisioned);

/* The driver for a URL's scheme, or NULL. */
const struct bus_driver *bus_driver_for_url(const char *url);
/* 0 if a transport serves the URL's scheme and can read the URL (each
 * URL of a list, all of one transport); else -1
 * with QMF_ERR_INVALID_ARGS.  The text never repeats the URL, which may
 * hold a password.  For checking a command line before connecting. */
int bus_url_check(const char *url, qmf_error *err);

/*
 * A broker URL as people may see it, in logs, errors and output:
 * "amqp://user:secret@host:5672/vh" -> "amqp://user@host:5672/vh".  Only
 * the password goes; the rest stays as written (percent-encoding
 * included).  Text that is not a well-formed URL loses everything that
 * could be a password.  Each URL of a list so.  Malloc'd; NULL for NULL.
 */
char *bus_url_redact(const char *url);

/* White space separates the URLs of a list (options.url, the
 * configuration's broker = [ ... ] and repeated -b join them so): no URL
 * holds it unencoded. */
#define BUS_URL_SEPARATORS " \t\n"
/* The URLs of a list, malloc'd (n of them; none for an empty text); free
 * with bus_url_list_free. */
char **bus_url_split(const char *urls, size_t *n);
void bus_url_list_free(char **v, size_t n);
/* The text of a list from the configuration files' broker = "url" or
 * broker = [ "url", ... ] (a string or a list of strings), malloc'd; NULL
 * and *why (static text) when it is empty or a URL holds white space. */
char *bus_url_list_join(const qmf_value *v, const char **why);
/* The broker c uses or tries now (redacted; see bus_driver.broker). */
const char *bus_broker(struct bus_conn *c);

/*
 * The generic entry points: they find the driver and turn a NULL entry into
 * QMF_ERR_NOT_IMPLEMENTED naming the driver.
 */
int bus_open(struct bus_conn **out, struct event_base *base,
             const struct bus_options *opts, const struct bus_handlers *h,
             void *opaque, qmf_error *err);
int bus_publish(struct bus_conn *c, const char *address,
                const struct bus_message *m, bus_confirm_cb confirm,
                void *opaque, qmf_error *err);
/* Settle d and free it: 0, or -1 if its connection was lost or closed
 * meanwhile (the broker then redelivers the message). */
int bus_ack(struct bus_delivery *d);
int bus_reject(struct bus_delivery *d, bool requeue);
/* The body of d's message, now owned by the caller (the message's is NULL
 * from then on): a receiver that keeps a large body takes it rather than
 * copy it.  Before settling d, which frees the message. */
qmf_value *bus_take_body(struct bus_delivery *d);
int bus_pause(struct bus_conn *c);
/* Late topology: see bus_driver.declare, subscribe and unsubscribe. */
int bus_declare(struct bus_conn *c, const struct bus_queue *queues, size_t nqueues,
                bus_done_cb done, void *opaque, qmf_error *err);
int bus_subscribe(struct bus_conn *c, const struct bus_queue *queue,
                  const struct bus_subscription *sub, bus_done_cb started,
                  struct bus_sub **out, qmf_error *err);
void bus_unsubscribe(struct bus_sub *s);
void bus_close(struct bus_conn *c);
/*
 * bus_close for a process that is done with its loop, such as a command
 * about to exit: bus_close's background goodbye would die with the
 * process, and the broker would log an abrupt disconnect.  This one blocks
 * for up to timeout_ms (about a round trip normally; 0: the backend's
 * default, 2 s for 0-9-1), so never call it while the loop still has
 * other work to serve.
 */
void bus_close_wait(struct bus_conn *c, unsigned timeout_ms);

/*
 * Every backend's connection starts with this, so that the generic layer
 * can find the driver of a connection.
 */
struct bus_conn_base {
    const struct bus_driver *driver;
};
struct bus_delivery_base {
    const struct bus_driver *driver;
};
struct bus_sub_base {
    const struct bus_driver *driver;
};

/* The transports' names for core/names.h's address helpers and key
 * escaping (qmf_name_address_parse, qmf_name_exchange_address,
 * qmf_name_queue_address, qmf_name_key_escape), which everything else
 * calls by those names. */
int bus_address_parse(const char *address, char **exchange, char **key);
char *bus_address_exchange(const char *exchange, const char *key);
char *bus_address_queue(const char *queue);
char *bus_key_escape(const char *name);

#endif
