/*
 * Private to the AMQP 1.0 backend: what its loop side (amqp10.c), its
 * connect and goodbye threads (amqp10_connect.c) and its message mapping
 * (amqp10_msg.c) share.
 */
#ifndef BUS_AMQP10_INT_H
#define BUS_AMQP10_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>
#include <event2/event.h>
#include <proton/connection_driver.h>

#include "bus/bus.h"
#include "bus/bus_tls.h"

struct a091_config;
struct amqp_connection_state_t_;

#define A10_DEFAULT_HEARTBEAT_S 10
#define A10_DEFAULT_MAX_BODY (4u * 1024 * 1024)
#define A10_DEFAULT_CREDIT 100
#define A10_DEFAULT_BACKOFF_MIN_MS 100
#define A10_DEFAULT_BACKOFF_MAX_MS 30000
/* Bounds every blocking step of a connect attempt, and the loop's part of
 * it (SASL, open, attaching the receivers). */
#define A10_CONNECT_TIMEOUT_S 15
/* How long a polite close waits for the broker's close. */
#define A10_CLOSE_TIMEOUT_MS 2000
/* The largest frame we take; RabbitMQ's own default.  Messages of any size
 * still travel, split into transfers. */
#define A10_MAX_FRAME (128u * 1024)
/* What a received message may carry besides its body (header, properties,
 * application-properties) before it counts as too large. */
#define A10_MAX_PROPERTIES (256u * 1024)
/* Bytes accepted for sending that the socket has not taken yet: past this,
 * publishing fails at once instead of buffering without bound. */
#define A10_MAX_OUTGOING (16u * 1024 * 1024)
/*
 * Queues this backend names itself, where 0-9-1 would have the broker name
 * them (server-named queues, the stand-in for direct reply-to): a fresh
 * name per connect attempt, auto-delete (gone when our receiver detaches),
 * and expiring after a minute unused should the receiver never come.
 */
#define A10_TEMP_QUEUE_PREFIX BUS_TEMP_QUEUE_PREFIX
#define A10_TEMP_QUEUE_EXPIRES_MS 60000

/* One subscription: a receiver link on "/amq/queue/<queue>". */
struct a10_sub {
    char *queue;            /* the queue name, or NULL with by_index */
    bool by_index;          /* options.queues[queue_index], or our reply queue */
    size_t queue_index;
    uint32_t credit;
    bool no_ack;            /* the broker sends it settled */
    bool direct_reply;      /* stands in for direct reply-to */
    qmf_value *stream_offset; /* the x-stream-offset consumer argument, or NULL */
    bus_receive_cb receive;
    void *opaque;
};

/*
 * A deep copy of bus_options, immutable once built, shared by the
 * connection and its connect threads (hence the reference count).
 */
struct a10_config {
    atomic_int refs;
    char *url;                  /* as given (the backoff's seed) */
    char *shown;                /* as errors name the broker: no password */
    char *host;
    int port;
    char *user, *password;      /* password NULL with EXTERNAL */
    char *vhost;
    bool tls;
    struct bus_tls_conf tlsconf;    /* amqps10 only, and the SASL mechanism */
    char *name;
    uint16_t heartbeat_s;
    size_t max_body;
    bool reconnect;
    uint32_t backoff_min_ms, backoff_max_ms;
    struct bus_threads *threads;
    /*
     * The topology, made over AMQP 0-9-1 before each attempt (the 1.0 link
     * model of RabbitMQ 3.10 declares nothing we need): the caller's
     * queues, then our reply queue if any.  NULL when there is nothing to
     * declare nor to check.
     */
    struct a091_config *declare;
    size_t nqueues;             /* the caller's */
    size_t nall;                /* and ours */
    bool *named_here;           /* [nall]: we name it at each attempt */
    char **names;               /* [nall]: the fixed names, NULL where named_here */
    struct a10_sub *subs;
    size_t nsubs;
    bool direct_reply;          /* queue nqueues stands in for direct reply-to */
    /*
     * Named exclusive queues of the caller: locks (an agent's node lock).
     * A 1.0 receiver cannot consume an exclusive queue, so the 0-9-1
     * connection that declares the topology declares these first, as
     * exclusive and without bindings, and stays open as long as the 1.0
     * connection does, holding them; the caller's queue (its bindings,
     * its subscriptions) gets a stand-in named here, as a server-named
     * queue does.  declare->queues holds the locks first, then the nall.
     */
    size_t nlocks;
    /* The broker's 0-9-1 URL and whether the exchanges are only checked:
     * for late declarations (a10_declare_late). */
    char *url091;
    bool passive_exchanges;
};

/* A subscription's copy (nqueues: how many queues "#<i>" may name), and
 * what frees it (the structure itself aside). */
int a10_sub_copy(struct a10_sub *dst, const struct bus_subscription *src, size_t nqueues,
                 qmf_error *err);
void a10_sub_clear(struct a10_sub *s);
/* Declares queues (named, not exclusive) over a 0-9-1 connection of its
 * own, closed before it returns: blocks, for a thread. */
int a10_declare_late(const struct a10_config *cfg, const struct bus_queue *queues,
                     size_t nqueues, qmf_error *err);

struct a10_config *a10_config_new(const struct bus_options *opts, qmf_error *err);
struct a10_config *a10_config_ref(struct a10_config *cfg);
void a10_config_unref(struct a10_config *cfg);
/* Whether the driver can read the URL (bus_driver.check_url). */
int a10_check_url(const char *url, qmf_error *err);

/* The byte stream under AMQP: a non-blocking socket, with TLS or not. */
struct a10_wire {
    int fd;
    SSL *ssl;                   /* NULL: plain TCP */
};

/* What a wire operation found when it moved no byte. */
#define A10_IO_EOF 0
#define A10_IO_AGAIN (-1)       /* would block: wait for *want */
#define A10_IO_ERROR (-2)       /* failed: *why says how */

/* want gets EV_READ or EV_WRITE for A10_IO_AGAIN. */
ssize_t a10_wire_read(struct a10_wire *w, void *buf, size_t n, short *want,
                      char *why, size_t whysize);
ssize_t a10_wire_write(struct a10_wire *w, const void *buf, size_t n, short *want,
                       char *why, size_t whysize);
/*
 * Moves bytes between a driver and its wire without blocking.  Writing:
 * until all is written (0) or the wire would block (A10_IO_AGAIN, *want
 * saying for what).  Reading: at most budget reads, until the driver has
 * no room or the wire would block (A10_IO_AGAIN).  A failure is told to
 * the driver (its transport error) and closes it: A10_IO_ERROR; the end of
 * the stream closes its reading side: A10_IO_EOF.
 */
int a10_drive_write(pn_connection_driver_t *d, struct a10_wire *w, short *want);
int a10_drive_read(pn_connection_driver_t *d, struct a10_wire *w, int budget, short *want);
/* Closes the socket (with a TLS close_notify if it can) and frees. */
void a10_wire_close(struct a10_wire *w);

/*
 * The blocking part of an attempt, run on a connect thread: the topology
 * over 0-9-1, then TCP (and TLS).  On success *w is connected and names
 * (cfg->nall of them) are the queues' actual names.  With locks
 * (cfg->nlocks), *lock is the 0-9-1 connection that holds them, for the
 * caller to keep open, else NULL.  stale_lock, if not NULL, is the lock
 * connection of an earlier attempt, which is closed first (so that this
 * attempt does not find its own locks taken); it is consumed either way.
 */
int a10_connect(const struct a10_config *cfg, struct amqp_connection_state_t_ *stale_lock,
                struct a10_wire *w, char ***names, struct amqp_connection_state_t_ **lock,
                qmf_error *err);
/*
 * Watches a lock connection from the loop (bus/amqp10_lock.c): sends its
 * heartbeats, and calls lost once, on the loop, when the broker closes
 * it, it fails, or it goes silent.  lost may unwatch it.
 */
struct a10_lock;
typedef void (*a10_lock_lost_cb)(void *opaque, const qmf_error *why);
struct a10_lock *a10_lock_watch(struct event_base *base, struct amqp_connection_state_t_ *amqp,
                                a10_lock_lost_cb lost, void *opaque);
/* Stops watching and frees l: the connection, for a10_lock_release, or
 * NULL when the broker closed it already. */
struct amqp_connection_state_t_ *a10_lock_unwatch(struct a10_lock *l);
/* Says goodbye to a lock connection and frees it, here (wait_ms > 0: may
 * block that long) or on a thread of its own (0, for the loop). */
void a10_lock_release(struct amqp_connection_state_t_ *lock, struct bus_threads *threads,
                      unsigned wait_ms);

/*
 * Ends a connection the way the broker expects: close (if not closed yet),
 * its answer awaited for up to timeout_ms, then the socket closed, and the
 * driver destroyed.  Blocks: for goodbye threads and bus_close_wait.
 */
void a10_goodbye(pn_connection_driver_t *driver, struct a10_wire *w, unsigned timeout_ms);

/*
 * A message as AMQP 1.0 sections (header, properties,
 * application-properties, body), malloc'd into *out.  subject is the
 * routing key; reply_to replaces m->reply_to if non-NULL.
 */
int a10_message_encode(const struct bus_message *m, const char *subject,
                       const char *reply_to, char **out, size_t *len, qmf_error *err);
/*
 * Fills m from the sections of a received message of total bytes, of which
 * the first len were kept (the body of one cut short is QMF_ERR_TOO_LARGE,
 * and so is a body over max_body; the properties still count).
 */
void a10_message_decode(struct bus_message *m, const char *bytes, size_t len, size_t total,
                        size_t max_body);

/* The condition of a refusal as a qmf_error code: amqp:unauthorized-access
 * is QMF_ERR_UNAUTHORIZED, amqp:resource-locked QMF_ERR_LOCKED, others
 * QMF_ERR_TRANSPORT. */
int a10_condition_code(const char *name);

#endif
