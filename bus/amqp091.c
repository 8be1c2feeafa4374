/*
 * The AMQP 0-9-1 backend: rabbitmq-c driven from the caller's libevent
 * loop.  A short-lived connect thread does the blocking set-up
 * (amqp091_connect.c) and hands the ready connection to the loop; from then
 * on only the loop thread touches it: frames are read without blocking as
 * the socket becomes readable, heartbeats are sent and checked by a timer,
 * and publisher confirms, deliveries and broker closes are handled here,
 * as is late topology (bus_declare, bus_subscribe: a channel each).
 * The connect thread wakes the loop through a descriptor of the attempt's
 * (bus_job_start), never through libevent.
 */
#include "bus/amqp091_int.h"
#include "bus/backend.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Frames handled per readiness before yielding to the rest of the loop. */
#define A091_FRAME_BUDGET 512

enum a091_state {
    A091_CONNECTING,   /* a connect thread is running */
    A091_UP,
    A091_WAITING,      /* lost; the backoff timer will retry */
    A091_DOWN,         /* lost for good (no reconnect, or closed) */
};

struct a091_confirm {
    uint64_t tag;
    bus_confirm_cb cb;
    void *opaque;
    struct a091_confirm *next;
};

/* What a connect attempt is given: its broker and its patience. */
struct a091_try {
    struct a091_config *cfg;
    unsigned timeout_s;
};

/* What a connect attempt hands over. */
struct a091_attempt {
    amqp_connection_state_t amqp;
    char **names;
};

struct a091_conn;

struct a091_late;

struct a091_delivery {
    struct bus_held held;      /* its generation: the connection the tag is of */
    uint64_t tag;
    bool no_ack;
    amqp_channel_t channel;    /* where it is settled */
    struct a091_late *late;    /* its late subscription, or NULL */
};

/* A message being assembled: basic.deliver, content header, body frames. */
struct a091_incoming {
    enum { IN_IDLE, IN_HEADER, IN_BODY } stage;
    bool discard;              /* content nobody consumes (basic.return) */
    bool too_large;
    size_t sub;
    uint64_t tag;
    struct bus_message *msg;
    char *content_type;
    bool sections;             /* type amqp-1.0: the body is 1.0 sections */
    uint64_t body_size, received;
    char *body;
    struct a091_late *late;    /* the late subscription it is for, or NULL */
};

/* Late topology has channels of its own, so that a refusal (a missing
 * queue, a permission) costs that channel and never the connection. */
#define A091_LATE_CHANNEL_FIRST 16
#define A091_LATE_CHANNEL_LAST 2000

/* A late declaration (bus_declare) or subscription (bus_subscribe). */
struct a091_late {
    struct bus_sub_base base;
    struct a091_conn *conn;    /* NULL once the connection is closed */
    bool subscription;         /* else a one-off declaration */
    struct bus_queue *queues;  /* declared at each start */
    size_t nqueues;
    struct a091_sub sub;       /* a subscription's consumer */
    char *tag;                 /* its consumer tag */
    bus_done_cb done;          /* a declaration's done, a subscription's started */
    void *opaque;
    amqp_channel_t channel;    /* 0: none open */
    bool cancelled;
    unsigned held;             /* its deliveries not yet settled */
    struct a091_incoming in;
    struct a091_late *next;
};

struct a091_conn {
    struct bus_conn_base base;
    struct event_base *evbase;
    struct a091_config *cfg;   /* of the broker in use or tried: cfgs[backoff.url] */
    void **cfgs;               /* one per broker of the list, alike but the URL */
    size_t ncfgs;
    struct bus_handlers handlers;
    void *opaque;

    enum a091_state state;
    bool closed;
    int busy;                  /* our callbacks on the stack; free waits for 0 */
    bool down_reported;        /* down was said since the last up */
    uint64_t generation;       /* bumped on every new broker connection */
    struct bus_backoff backoff;
    struct bus_patience patience;
    unsigned attempt_timeout_s;  /* of the attempt running */
    uint64_t attempt_start_ns;

    struct bus_job *job;
    struct event *ev_handover, *ev_retry, *ev_fail, *ev_read, *ev_tick;
    struct event *ev_uncork;   /* ends a corked batch of sends (conn_sent) */
    bool corked;

    amqp_connection_state_t amqp;
    char **queue_names;        /* of the current or last connection */
    int heartbeat_s;           /* negotiated; 0: off */
    uint64_t last_in_ns, last_out_ns;

    bool failing;              /* a loss found inside an API call, handled soon */
    qmf_error fail_err;

    bool paused;               /* a091_pause ran on this broker connection */
    bool pub_reopening;        /* the broker closed the publish channel */
    bool unconfirmed_open;     /* channel 3 is open (its open-ok came) */
    uint64_t pub_seq;          /* delivery tag of the last publish */
    struct a091_confirm *confirms, *confirms_tail;

    /* One per channel (index: channel - 1): the broker may interleave
     * channels' frames, never one channel's content frames. */
    struct a091_incoming in[2];
    struct bus_held *deliveries;

    struct a091_late *lates;
    amqp_channel_t last_late_channel;
    uint64_t late_serial;      /* names late consumers, never twice */
};

static void conn_lost(struct a091_conn *c, const qmf_error *why);
static void conn_abandon(struct a091_conn *c, const qmf_error *why);
static void incoming_clear(struct a091_incoming *in);
static void late_free(struct a091_late *l);

static void *
config_make(const struct bus_options *opts, qmf_error *err)
{
    return a091_config_new(opts, err);
}

static void
config_unref(void *cfg)
{
    a091_config_unref(cfg);
}

static char *
bytes_dup(amqp_bytes_t b)
{
    return qmf_xstrndup(b.bytes ? (const char *)b.bytes : "", b.len);
}

/*
 * Re-entrancy: every libevent callback of ours holds a busy reference, and
 * user callbacks run inside one, so bus_close() from a user callback only
 * marks the connection closed; the last callback to leave frees it.
 */
static void
conn_free(struct a091_conn *c)
{
    if (c->ev_handover)
        event_free(c->ev_handover);
    if (c->ev_retry)
        event_free(c->ev_retry);
    if (c->ev_fail)
        event_free(c->ev_fail);
    bus_strings_free(c->queue_names, c->cfg->nqueues);
    bus_configs_free(c->cfgs, c->ncfgs, config_unref);
    free(c);
}

static void
conn_enter(struct a091_conn *c)
{
    c->busy++;
}

static void
conn_leave(struct a091_conn *c)
{
    if (--c->busy == 0 && c->closed)
        conn_free(c);
}

static bool
conn_usable(const struct a091_conn *c)
{
    return !c->closed && c->state == A091_UP && !c->failing;
}

/* The socket's TCP_CORK, where there is one: see conn_sent. */
static void
conn_cork(struct a091_conn *c, bool on)
{
#ifdef TCP_CORK
    int v = on;

    if (c->amqp != NULL)
        (void)setsockopt(amqp_get_sockfd(c->amqp), IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
#endif
    c->corked = on;
}

/* The sends of one pass of the loop leave in as few segments as they fit:
 * the first goes at once, later ones wait, corked, until the callbacks
 * already queued have run.  Each segment costs the kernel a loopback or
 * wire transmit and the broker a read; an agent answering a batch of
 * commands sends three frames' worth for each.  A caller publishing
 * between runs of the loop has its first message sent at once and the
 * others when the loop next runs (every call that waits for an answer or
 * a confirm runs it), or after the kernel's 200 ms at the latest. */
static void
on_uncork(evutil_socket_t fd, short what, void *arg)
{
    struct a091_conn *c = arg;

    (void)fd;
    (void)what;
    conn_enter(c);
    if (c->corked)
        conn_cork(c, false);
    conn_leave(c);
}

/* After a send: rabbitmq-c may have read frames while writing. */
static void
conn_sent(struct a091_conn *c)
{
    c->last_out_ns = bus_now_ns();
    if (!c->corked && c->ev_uncork != NULL) {
        conn_cork(c, true);
        event_active(c->ev_uncork, 0, 0);
    }
    if (amqp_frames_enqueued(c->amqp) || amqp_data_in_buffer(c->amqp))
        event_active(c->ev_read, 0, 0);
}

/* A loss found inside an API call: handled from the loop, where user
 * callbacks may run. */
static void
conn_fail_soon(struct a091_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_fail_soon(struct a091_conn *c, const char *fmt, ...)
{
    va_list ap;

    if (c->failing || c->state != A091_UP)
        return;
    c->failing = true;
    c->fail_err.code = QMF_ERR_TRANSPORT;
    va_start(ap, fmt);
    vsnprintf(c->fail_err.text, sizeof(c->fail_err.text), fmt, ap);
    va_end(ap);
    event_active(c->ev_fail, 0, 0);
}

/* Confirms ----------------------------------------------------------------- */

static void
confirm_add(struct a091_conn *c, uint64_t tag, bus_confirm_cb cb, void *opaque)
{
    struct a091_confirm *p = qmf_xcalloc(1, sizeof(*p));

    p->tag = tag;
    p->cb = cb;
    p->opaque = opaque;
    if (c->confirms_tail)
        c->confirms_tail->next = p;
    else
        c->confirms = p;
    c->confirms_tail = p;
}

static void
confirm_unlink(struct a091_conn *c, struct a091_confirm *prev, struct a091_confirm *p)
{
    if (prev)
        prev->next = p->next;
    else
        c->confirms = p->next;
    if (c->confirms_tail == p)
        c->confirms_tail = prev;
}

/*
 * basic.ack / basic.nack: the tag alone, or every tag up to it (multiple).
 * The list is in publish order, so "multiple" resolves a prefix.
 */
static void
confirms_resolve(struct a091_conn *c, uint64_t tag, bool multiple, bool ok)
{
    struct a091_confirm *prev = NULL, *p;

    if (multiple) {
        while ((p = c->confirms) != NULL && p->tag <= tag && !c->closed) {
            confirm_unlink(c, NULL, p);
            p->cb(ok, p->opaque);
            free(p);
        }
        return;
    }
    for (p = c->confirms; p != NULL && p->tag < tag; p = p->next)
        prev = p;
    if (p != NULL && p->tag == tag) {
        confirm_unlink(c, prev, p);
        p->cb(ok, p->opaque);
        free(p);
    }
}

/* Every pending confirm fails; returns false if a callback closed us. */
static bool
confirms_fail_all(struct a091_conn *c)
{
    struct a091_confirm *list = c->confirms;

    c->confirms = c->confirms_tail = NULL;
    while (list != NULL) {
        struct a091_confirm *p = list;

        list = p->next;
        p->cb(false, p->opaque);
        free(p);
    }
    return !c->closed;
}

/* Late topology ----------------------------------------------------------- */

static struct a091_late *
late_by_channel(struct a091_conn *c, amqp_channel_t channel)
{
    struct a091_late *l;

    if (channel < A091_LATE_CHANNEL_FIRST)
        return NULL;
    for (l = c->lates; l != NULL; l = l->next) {
        if (l->channel == channel)
            return l;
    }
    return NULL;
}

/* A channel no late topology uses, 0 if none is left.  Numbers come round
 * again only after the whole range: an answer still on its way for a
 * channel closed just now is not taken for the new one's. */
static amqp_channel_t
late_channel_new(struct a091_conn *c)
{
    unsigned tries;

    for (tries = 0; tries <= A091_LATE_CHANNEL_LAST - A091_LATE_CHANNEL_FIRST; tries++) {
        amqp_channel_t next = c->last_late_channel + 1;

        if (next < A091_LATE_CHANNEL_FIRST || next > A091_LATE_CHANNEL_LAST)
            next = A091_LATE_CHANNEL_FIRST;
        c->last_late_channel = next;
        if (late_by_channel(c, next) == NULL)
            return next;
    }
    return 0;
}

static struct a091_late *
late_new(struct a091_conn *c, const struct bus_queue *queues, size_t nqueues, bus_done_cb done,
         void *opaque)
{
    struct a091_late *l = qmf_xcalloc(1, sizeof(*l));
    size_t i;

    l->base.driver = &bus_amqp091_driver;
    l->conn = c;
    l->queues = qmf_xcalloc(nqueues + 1, sizeof(*l->queues));
    for (i = 0; i < nqueues; i++)
        a091_queue_copy(&l->queues[i], &queues[i]);
    l->nqueues = nqueues;
    l->tag = qmf_xasprintf("virtbus-late-%llu", (unsigned long long)++c->late_serial);
    l->done = done;
    l->opaque = opaque;
    l->next = c->lates;
    c->lates = l;
    return l;
}

/* Closing its channel also gives back to the queue whatever is still
 * unacknowledged there. */
static void
late_free(struct a091_late *l)
{
    struct a091_conn *c = l->conn;
    struct a091_late **p;
    size_t i;

    if (c != NULL) {
        if (l->channel != 0 && conn_usable(c)) {
            amqp_channel_close_t cl;
            int rc;

            memset(&cl, 0, sizeof(cl));
            cl.reply_code = AMQP_REPLY_SUCCESS;
            rc = amqp_send_method(c->amqp, l->channel, AMQP_CHANNEL_CLOSE_METHOD, &cl);
            if (rc != AMQP_STATUS_OK)
                conn_fail_soon(c, "closing a channel: %s", amqp_error_string2(rc));
            else
                conn_sent(c);
        }
        for (p = &c->lates; *p != NULL; p = &(*p)->next) {
            if (*p == l) {
                *p = l->next;
                break;
            }
        }
    }
    for (i = 0; i < l->nqueues; i++)
        a091_queue_clear(&l->queues[i]);
    free(l->queues);
    a091_sub_clear(&l->sub);
    free(l->tag);
    incoming_clear(&l->in);
    free(l);
}

/*
 * Opens a channel for l and sends, without waiting, its declarations and
 * then its consume (consume-ok answers), or for a declaration a passive
 * declare of an exchange that exists (its declare-ok means that all before
 * it went through).  A refusal closes the channel instead; the loop takes
 * either (late_on_method).
 */
static int
late_start(struct a091_conn *c, struct a091_late *l, qmf_error *err)
{
    amqp_channel_open_t open;
    amqp_exchange_declare_t check;
    size_t i;
    int rc;

    incoming_clear(&l->in);
    l->channel = late_channel_new(c);
    if (l->channel == 0) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "no channel left for late topology");
        return -1;
    }
    memset(&open, 0, sizeof(open));
    rc = amqp_send_method(c->amqp, l->channel, AMQP_CHANNEL_OPEN_METHOD, &open);
    if (rc != AMQP_STATUS_OK) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "opening a channel: %s", amqp_error_string2(rc));
        goto failed;
    }
    for (i = 0; i < l->nqueues; i++) {
        char *name = NULL;

        rc = a091_declare_queue(c->amqp, l->channel, &l->queues[i], &name, err);
        free(name);
        if (rc != 0)
            goto failed;
    }
    if (l->subscription) {
        if (a091_send_consume(c->amqp, &l->sub, l->channel, l->tag, l->sub.queue, false,
                              err) != 0)
            goto failed;
    } else {
        memset(&check, 0, sizeof(check));
        check.exchange = a091_bytes_of(BUS_EXCHANGE_DIRECT);
        check.type = a091_bytes_of("direct");
        check.passive = 1;
        check.arguments = amqp_empty_table;
        rc = amqp_send_method(c->amqp, l->channel, AMQP_EXCHANGE_DECLARE_METHOD, &check);
        if (rc != AMQP_STATUS_OK) {
            qmf_error_set(err, QMF_ERR_TRANSPORT, "declaring: %s", amqp_error_string2(rc));
            goto failed;
        }
    }
    conn_sent(c);
    return 0;

failed:
    /* Only the socket fails a send: the connection is lost. */
    conn_fail_soon(c, "%s", err->text);
    l->channel = 0;
    return -1;
}

static int
late_cancel_consumer(struct a091_conn *c, struct a091_late *l)
{
    amqp_basic_cancel_t cancel = {
        .consumer_tag = a091_bytes_of(l->tag),
        .nowait = 1,
    };
    int rc = amqp_send_method(c->amqp, l->channel, AMQP_BASIC_CANCEL_METHOD, &cancel);

    if (rc != AMQP_STATUS_OK) {
        conn_fail_soon(c, "cancelling a consumer: %s", amqp_error_string2(rc));
        return -1;
    }
    return 0;
}

/* A broker connection is up: every late subscription starts again. */
static void
late_restart(struct a091_conn *c)
{
    struct a091_late *l;
    qmf_error err;

    for (l = c->lates; l != NULL && conn_usable(c); l = l->next) {
        if (l->subscription && !l->cancelled)
            late_start(c, l, &err);
    }
}

/* The broker connection went: its channels with it.  Declarations still
 * waiting are over (done says why); returns false if a callback closed c. */
static bool
late_connection_lost(struct a091_conn *c, const qmf_error *why)
{
    struct a091_late *l;

    for (l = c->lates; l != NULL; l = l->next) {
        incoming_clear(&l->in);
        l->channel = 0;
    }
    for (;;) {
        bus_done_cb done;
        void *opaque;

        for (l = c->lates; l != NULL && l->subscription; l = l->next)
            ;
        if (l == NULL)
            return true;
        done = l->done;
        opaque = l->opaque;
        late_free(l);
        if (done != NULL)
            done((struct bus_conn *)c, why, opaque);
        if (c->closed)
            return false;
    }
}

/* Deliveries ----------------------------------------------------------------- */

static struct a091_delivery *
delivery_new(struct a091_conn *c, uint64_t tag, bool no_ack, amqp_channel_t channel,
             struct a091_late *late, struct bus_message *m)
{
    struct a091_delivery *d = qmf_xcalloc(1, sizeof(*d));

    bus_held_add(&d->held, &bus_amqp091_driver, c, &c->deliveries, c->generation, m);
    d->tag = tag;
    d->no_ack = no_ack;
    d->channel = channel;
    d->late = late;
    if (late != NULL)
        late->held++;
    return d;
}

/* The last delivery of a cancelled late subscription ends it. */
static void
delivery_free(struct a091_delivery *d)
{
    struct a091_late *late = d->late;

    bus_held_drop(&d->held);
    free(d);
    if (late != NULL && --late->held == 0 && late->cancelled)
        late_free(late);
}

/* basic.ack or basic.reject, if the delivery's connection is the live one. */
static int
delivery_settle(struct a091_delivery *d, bool ack, bool requeue)
{
    struct a091_conn *c = d->held.conn;
    int rc;

    if (d->no_ack)
        return 0;
    if (c == NULL || !conn_usable(c) || d->held.generation != c->generation ||
        (d->late != NULL && d->late->channel != d->channel))
        return -1;
    if (ack)
        rc = amqp_basic_ack(c->amqp, d->channel, d->tag, 0);
    else
        rc = amqp_basic_reject(c->amqp, d->channel, d->tag, requeue);
    if (rc != AMQP_STATUS_OK) {
        conn_fail_soon(c, "settling a delivery: %s", amqp_error_string2(rc));
        return -1;
    }
    conn_sent(c);
    return 0;
}

/* basic.cancel for every consumer, without waiting for cancel-ok (the
 * loop drops it).  Deliveries already in flight until the broker reads
 * the cancel are held back unsettled (on_deliver): the broker requeues
 * them when the connection closes.  A reconnect would consume again, so
 * pausing is for a connection about to be closed. */
static int
a091_pause(struct bus_conn *bc)
{
    struct a091_conn *c = (struct a091_conn *)bc;
    struct a091_late *l;
    size_t i;

    if (!conn_usable(c))
        return -1;
    c->paused = true;
    for (i = 0; i < c->cfg->nsubs; i++) {
        char *tag = a091_consumer_tag(i);
        amqp_basic_cancel_t cancel = {
            .consumer_tag = a091_bytes_of(tag),
            .nowait = 1,
        };
        int rc = amqp_send_method(c->amqp, c->cfg->subs[i].channel,
                                  AMQP_BASIC_CANCEL_METHOD, &cancel);

        free(tag);
        if (rc != AMQP_STATUS_OK) {
            conn_fail_soon(c, "cancelling a consumer: %s", amqp_error_string2(rc));
            return -1;
        }
    }
    for (l = c->lates; l != NULL; l = l->next) {
        if (l->subscription && l->channel != 0 && late_cancel_consumer(c, l) != 0)
            return -1;
    }
    conn_sent(c);
    return 0;
}

static int
a091_ack(struct bus_delivery *bd)
{
    struct a091_delivery *d = (struct a091_delivery *)bd;
    int rc = delivery_settle(d, true, false);

    delivery_free(d);
    return rc;
}

static int
a091_reject(struct bus_delivery *bd, bool requeue)
{
    struct a091_delivery *d = (struct a091_delivery *)bd;
    int rc = delivery_settle(d, false, requeue);

    delivery_free(d);
    return rc;
}

/* Incoming frames ----------------------------------------------------------- */

static void
incoming_clear(struct a091_incoming *in)
{
    bus_message_free(in->msg);
    free(in->content_type);
    free(in->body);
    memset(in, 0, sizeof(*in));
}

/* The assembly state of a channel, or NULL for a channel we never open. */
static struct a091_incoming *
incoming_of(struct a091_conn *c, amqp_channel_t channel)
{
    struct a091_late *l;

    if (channel == A091_CONSUME_CHANNEL || channel == A091_PUBLISH_CHANNEL)
        return &c->in[channel - 1];
    l = late_by_channel(c, channel);
    return l != NULL ? &l->in : NULL;
}

static void
incoming_complete(struct a091_conn *c, struct a091_incoming *slot)
{
    struct a091_incoming in = *slot;
    const struct a091_sub *sub = in.late != NULL ? &in.late->sub : &c->cfg->subs[in.sub];
    amqp_channel_t channel = in.late != NULL ? in.late->channel : sub->channel;
    struct a091_delivery *d;
    struct bus_message *m = in.msg;

    memset(slot, 0, sizeof(*slot));
    if (in.discard) {
        incoming_clear(&in);
        return;
    }
    if (in.too_large) {
        qmf_error_set(&m->body_error, QMF_ERR_TOO_LARGE,
                      "body of %llu bytes is over the limit of %zu",
                      (unsigned long long)in.body_size, c->cfg->max_body);
    } else {
        a091_message_decode_body(m, in.content_type, in.sections, in.body,
                                 (size_t)in.body_size);
        m->raw_content_type = in.content_type;
        in.content_type = NULL;
    }
    free(in.content_type);
    free(in.body);
    d = delivery_new(c, in.tag, sub->no_ack, channel, in.late, m);
    sub->receive((struct bus_delivery *)d, m, sub->opaque);
}

static void
on_deliver(struct a091_conn *c, amqp_channel_t channel, const amqp_basic_deliver_t *dl)
{
    struct a091_incoming *in = incoming_of(c, channel);
    struct a091_late *late = late_by_channel(c, channel);
    size_t i = 0;
    bool ours;

    if (in == NULL)
        return;
    incoming_clear(in);
    in->stage = IN_HEADER;
    /* A late subscription's, sent before the broker saw its cancel, is
     * held back unsettled: the channel's close requeues it. */
    if (late != NULL)
        ours = !late->cancelled && late->subscription &&
               dl->consumer_tag.len == strlen(late->tag) &&
               memcmp(dl->consumer_tag.bytes, late->tag, dl->consumer_tag.len) == 0;
    else
        ours = a091_consumer_index(dl->consumer_tag, c->cfg->nsubs, &i) &&
               c->cfg->subs[i].channel == channel;
    if (c->paused || !ours) {
        in->discard = true;
        return;
    }
    in->late = late;
    in->sub = i;
    in->tag = dl->delivery_tag;
    in->msg = bus_message_new();
    in->msg->subject = bytes_dup(dl->routing_key);
}

static void
on_content_header(struct a091_conn *c, const amqp_frame_t *f)
{
    struct a091_incoming *in = incoming_of(c, f->channel);
    uint64_t size = f->payload.properties.body_size;

    if (in == NULL || in->stage != IN_HEADER)
        return;
    in->body_size = size;
    in->received = 0;
    in->stage = IN_BODY;
    if (!in->discard) {
        const amqp_basic_properties_t *p = f->payload.properties.decoded;

        a091_message_set_properties(in->msg, p);
        if (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
            in->content_type = bytes_dup(p->content_type);
        in->sections = (p->_flags & AMQP_BASIC_TYPE_FLAG) &&
                       p->type.len == strlen(A091_AMQP10_TYPE) &&
                       memcmp(p->type.bytes, A091_AMQP10_TYPE, p->type.len) == 0;
        /* Too large: the body frames are counted and dropped, never kept. */
        if (size > c->cfg->max_body)
            in->too_large = true;
        else
            in->body = qmf_xmalloc((size_t)size + 1);
    }
    if (size == 0)
        incoming_complete(c, in);
}

static void
on_content_body(struct a091_conn *c, const amqp_frame_t *f)
{
    struct a091_incoming *in = incoming_of(c, f->channel);
    amqp_bytes_t frag = f->payload.body_fragment;
    qmf_error err;

    if (in == NULL || in->stage != IN_BODY)
        return;
    if (frag.len > in->body_size - in->received) {
        qmf_error_set(&err, QMF_ERR_TRANSPORT,
                      "the broker sent more body than announced");
        conn_lost(c, &err);
        return;
    }
    if (in->body != NULL)
        memcpy(in->body + in->received, frag.bytes, frag.len);
    in->received += frag.len;
    if (in->received == in->body_size)
        incoming_complete(c, in);
}

static void
reopen_publish_channel(struct a091_conn *c)
{
    amqp_channel_open_t open;
    amqp_confirm_select_t select;
    int rc;

    memset(&open, 0, sizeof(open));
    memset(&select, 0, sizeof(select));
    c->pub_reopening = true;
    c->pub_seq = 0;
    incoming_clear(&c->in[A091_PUBLISH_CHANNEL - 1]);
    rc = amqp_send_method(c->amqp, A091_PUBLISH_CHANNEL, AMQP_CHANNEL_OPEN_METHOD, &open);
    if (rc == AMQP_STATUS_OK)
        rc = amqp_send_method(c->amqp, A091_PUBLISH_CHANNEL,
                              AMQP_CONFIRM_SELECT_METHOD, &select);
    if (rc != AMQP_STATUS_OK)
        conn_fail_soon(c, "reopening the publish channel: %s", amqp_error_string2(rc));
    else
        conn_sent(c);
}


static void
on_channel_close(struct a091_conn *c, amqp_channel_t channel,
                 const amqp_channel_close_t *cl)
{
    amqp_channel_close_ok_t ok;
    qmf_error why;

    memset(&ok, 0, sizeof(ok));
    qmf_error_set(&why, a091_close_code(cl->reply_code), "the broker closed channel %u: %u %.*s",
                  (unsigned)channel, cl->reply_code, (int)cl->reply_text.len,
                  (const char *)cl->reply_text.bytes);
    if (amqp_send_method(c->amqp, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
        != AMQP_STATUS_OK) {
        conn_lost(c, &why);
        return;
    }
    /* A publish to a missing exchange (say, a bogus reply-to) costs only
     * the publishes in flight, not the consumers.  Unless the channel held
     * the direct reply-to consumer: the answers to what was asked are lost
     * with it, and a lost connection is what makes a console ask again. */
    if (channel == A091_PUBLISH_CHANNEL && !c->pub_reopening &&
        !c->cfg->publish_channel_consumes) {
        reopen_publish_channel(c);
        confirms_fail_all(c);
        return;
    }
    if (channel == A091_UNCONFIRMED_CHANNEL && c->unconfirmed_open) {
        amqp_channel_open_t open;

        /* Unconfirmed messages go by channel 2 until it is open again. */
        c->unconfirmed_open = false;
        memset(&open, 0, sizeof(open));
        if (amqp_send_method(c->amqp, channel, AMQP_CHANNEL_OPEN_METHOD, &open)
            != AMQP_STATUS_OK)
            conn_fail_soon(c, "reopening the unconfirmed publish channel");
        else
            conn_sent(c);
        return;
    }
    conn_abandon(c, &why);
}

/*
 * What the broker says on a late channel.  A declaration ends with its
 * check's declare-ok, or with the channel's close (a refusal); a
 * subscription starts with consume-ok, or is refused so, or is cancelled
 * by the broker (its queue deleted), and then waits for the next
 * reconnect.  The done callback comes last: it may end l, or c.
 */
static void
late_on_method(struct a091_conn *c, struct a091_late *l, const amqp_method_t *m)
{
    bus_done_cb done = l->cancelled ? NULL : l->done;
    void *opaque = l->opaque;
    qmf_error why;

    switch (m->id) {
    case AMQP_BASIC_DELIVER_METHOD:
        on_deliver(c, l->channel, m->decoded);
        return;
    case AMQP_EXCHANGE_DECLARE_OK_METHOD:
        if (l->subscription)
            return;
        late_free(l);
        break;
    case AMQP_BASIC_CONSUME_OK_METHOD:
        break;
    case AMQP_BASIC_CANCEL_METHOD:
        /* Its channel stays open: what it holds may still be settled. */
        qmf_error_set(&why, QMF_ERR_TRANSPORT, "the broker cancelled the subscription to '%s'",
                      l->sub.queue);
        if (done != NULL)
            done((struct bus_conn *)c, &why, opaque);
        return;
    case AMQP_CHANNEL_CLOSE_METHOD: {
        const amqp_channel_close_t *cl = m->decoded;
        amqp_channel_close_ok_t ok;

        qmf_error_set(&why, a091_close_code(cl->reply_code), "%s refused: %u %.*s",
                      l->subscription ? "subscribing" : "declaring", cl->reply_code,
                      (int)cl->reply_text.len, (const char *)cl->reply_text.bytes);
        memset(&ok, 0, sizeof(ok));
        if (amqp_send_method(c->amqp, l->channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok)
            != AMQP_STATUS_OK)
            conn_fail_soon(c, "answering a channel's close");
        incoming_clear(&l->in);
        l->channel = 0;
        if (!l->subscription || (l->cancelled && l->held == 0))
            late_free(l);
        if (done != NULL)
            done((struct bus_conn *)c, &why, opaque);
        return;
    }
    default:
        /* channel.open-ok, basic.qos-ok, basic.cancel-ok. */
        return;
    }
    if (done != NULL)
        done((struct bus_conn *)c, NULL, opaque);
}

static void
on_method(struct a091_conn *c, amqp_channel_t channel, const amqp_method_t *m)
{
    qmf_error why;

    if (channel >= A091_LATE_CHANNEL_FIRST) {
        struct a091_late *l = late_by_channel(c, channel);

        /* Else the answers to a channel we closed: they need nothing. */
        if (l != NULL)
            late_on_method(c, l, m);
        return;
    }

    switch (m->id) {
    case AMQP_BASIC_DELIVER_METHOD:
        on_deliver(c, channel, m->decoded);
        break;
    case AMQP_BASIC_RETURN_METHOD: {
        struct a091_incoming *in = incoming_of(c, channel);

        if (in != NULL) {
            incoming_clear(in);
            in->stage = IN_HEADER;
            in->discard = true;
        }
        break;
    }
    case AMQP_BASIC_ACK_METHOD:
        if (channel == A091_PUBLISH_CHANNEL) {
            const amqp_basic_ack_t *a = m->decoded;

            confirms_resolve(c, a->delivery_tag, a->multiple, true);
        }
        break;
    case AMQP_BASIC_NACK_METHOD:
        if (channel == A091_PUBLISH_CHANNEL) {
            const amqp_basic_nack_t *n = m->decoded;

            confirms_resolve(c, n->delivery_tag, n->multiple, false);
        }
        break;
    case AMQP_CONFIRM_SELECT_OK_METHOD:
        if (channel == A091_PUBLISH_CHANNEL)
            c->pub_reopening = false;
        break;
    case AMQP_CHANNEL_OPEN_OK_METHOD:
        if (channel == A091_UNCONFIRMED_CHANNEL)
            c->unconfirmed_open = true;
        break;
    case AMQP_BASIC_CANCEL_METHOD: {
        const amqp_basic_cancel_t *cn = m->decoded;

        /* The queue went away under a consumer: start over, which
         * re-declares the topology. */
        qmf_error_set(&why, QMF_ERR_TRANSPORT, "the broker cancelled consumer %.*s",
                      (int)cn->consumer_tag.len, (const char *)cn->consumer_tag.bytes);
        conn_abandon(c, &why);
        break;
    }
    case AMQP_CHANNEL_CLOSE_METHOD:
        on_channel_close(c, channel, m->decoded);
        break;
    case AMQP_CONNECTION_CLOSE_METHOD: {
        const amqp_connection_close_t *cl = m->decoded;
        amqp_connection_close_ok_t ok;

        memset(&ok, 0, sizeof(ok));
        qmf_error_set(&why, a091_close_code(cl->reply_code),
                      "the broker closed the connection: %u %.*s",
                      cl->reply_code, (int)cl->reply_text.len,
                      (const char *)cl->reply_text.bytes);
        amqp_send_method(c->amqp, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        conn_lost(c, &why);
        break;
    }
    default:
        /* channel.open-ok, connection.blocked and the like need nothing. */
        break;
    }
}

static void
on_frame(struct a091_conn *c, const amqp_frame_t *f)
{
    switch (f->frame_type) {
    case AMQP_FRAME_METHOD:
        on_method(c, f->channel, &f->payload.method);
        break;
    case AMQP_FRAME_HEADER:
        on_content_header(c, f);
        break;
    case AMQP_FRAME_BODY:
        on_content_body(c, f);
        break;
    default:
        /* rabbitmq-c consumes heartbeat frames itself. */
        break;
    }
}

/* Reads every complete frame rabbitmq-c has or can get without blocking. */
static void
conn_drain(struct a091_conn *c)
{
    uint64_t generation = c->generation;
    int budget = A091_FRAME_BUDGET;

    while (conn_usable(c) && c->generation == generation) {
        struct timeval zero = { 0, 0 };
        amqp_frame_t frame;
        int rc;

        if (budget-- == 0) {
            event_active(c->ev_read, 0, 0);
            return;
        }
        rc = amqp_simple_wait_frame_noblock(c->amqp, &frame, &zero);
        if (rc == AMQP_STATUS_TIMEOUT)
            return;
        if (rc != AMQP_STATUS_OK) {
            qmf_error why;

            qmf_error_set(&why, QMF_ERR_TRANSPORT, "connection to the broker lost: %s",
                          amqp_error_string2(rc));
            conn_lost(c, &why);
            return;
        }
        on_frame(c, &frame);
        /* Everything of the frame was copied out; recycle rabbitmq-c's
         * pools (it keeps them while frames are still queued). */
        if (conn_usable(c) && c->generation == generation)
            amqp_maybe_release_buffers(c->amqp);
    }
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct a091_conn *c = arg;

    conn_enter(c);
    if (what & EV_READ)
        c->last_in_ns = bus_now_ns();
    conn_drain(c);
    conn_leave(c);
}

static bool
input_waiting(struct a091_conn *c)
{
    return amqp_data_in_buffer(c->amqp) || bus_fd_ready(amqp_get_sockfd(c->amqp), POLLIN);
}

/*
 * Heartbeats.  rabbitmq-c sends a due heartbeat only from inside its frame
 * wait, i.e. when we read; and it detects a silent peer only in a wait with
 * a deadline, which we never make (ours are zero timeouts, where it reports
 * a plain timeout).  So this timer, at half the interval, sends one
 * whenever nothing went out for half the interval, and declares the broker
 * dead after two intervals without a byte in (RabbitMQ itself sends one
 * every half interval).
 */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct a091_conn *c = arg;
    uint64_t now = bus_now_ns(), interval = (uint64_t)c->heartbeat_s * 1000000000u;

    conn_enter(c);
    if (conn_usable(c)) {
        /* A loop that was kept busy longer than that (a host under load,
         * a simulator's thousand agents) may run this timer before the
         * read that would have said the broker spoke: bytes waiting are
         * word from it. */
        if (now - c->last_in_ns > 2 * interval && input_waiting(c)) {
            c->last_in_ns = now;
            event_active(c->ev_read, EV_READ, 0);
        }
        if (now - c->last_in_ns > 2 * interval) {
            qmf_error why;

            qmf_error_set(&why, QMF_ERR_TRANSPORT,
                          "no heartbeat from the broker for %d s", 2 * c->heartbeat_s);
            conn_lost(c, &why);
        } else if (now - c->last_out_ns >= interval / 2) {
            amqp_frame_t hb;
            int rc;

            memset(&hb, 0, sizeof(hb));
            hb.frame_type = AMQP_FRAME_HEARTBEAT;
            hb.channel = 0;
            rc = amqp_send_frame(c->amqp, &hb);
            if (rc != AMQP_STATUS_OK) {
                qmf_error why;

                qmf_error_set(&why, QMF_ERR_TRANSPORT, "sending a heartbeat: %s",
                              amqp_error_string2(rc));
                conn_lost(c, &why);
            } else {
                conn_sent(c);
            }
        }
    }
    conn_leave(c);
}

/* Connection life ------------------------------------------------------------ */

struct goodbye {
    amqp_connection_state_t amqp;
    struct bus_threads *threads;
};

static void *
close_main(void *arg)
{
    struct goodbye *g = arg;

    a091_close_politely(g->amqp, A091_CLOSE_TIMEOUT_MS);
    /* TLS's goodbye made this thread OpenSSL state again (as connect_main
     * says), which the owner of the threads may be waiting to see gone. */
    OPENSSL_thread_stop();
    bus_threads_leave(g->threads);
    free(g);
    return NULL;
}

/*
 * Lets go of a broker connection that still works.  A polite close waits
 * for the broker's close-ok (a socket closed before it is logged as
 * "client unexpectedly closed TCP connection"), and the loop must not
 * wait: with wait_ms 0 the connection goes to a short thread of its own,
 * which owns it from then on.  A process that exits at once cuts that
 * thread short, hence bus_close_wait(), which passes wait_ms and waits
 * here.
 */
static void
say_goodbye(amqp_connection_state_t amqp, unsigned wait_ms, struct bus_threads *threads)
{
    amqp_connection_close_t cl;
    struct goodbye *g;

    if (wait_ms > 0) {
        a091_close_politely(amqp, wait_ms);
        return;
    }
    g = qmf_xmalloc(sizeof(*g));
    *g = (struct goodbye){ amqp, threads };
    bus_threads_enter(threads);
    if (bus_thread_start(close_main, g) == 0)
        return;
    bus_threads_leave(threads);
    free(g);
    /* No thread: say goodbye at least, without waiting for the answer. */
    memset(&cl, 0, sizeof(cl));
    cl.reply_code = AMQP_REPLY_SUCCESS;
    cl.reply_text = a091_bytes_of("closed by the application");
    amqp_send_method(amqp, 0, AMQP_CONNECTION_CLOSE_METHOD, &cl);
    amqp_destroy_connection(amqp);
}

/* Takes the broker connection (returned, NULL if none) away from c. */
static amqp_connection_state_t
teardown_amqp(struct a091_conn *c)
{
    amqp_connection_state_t amqp = c->amqp;

    if (c->ev_read) {
        event_free(c->ev_read);
        c->ev_read = NULL;
    }
    if (c->ev_tick) {
        event_free(c->ev_tick);
        c->ev_tick = NULL;
    }
    if (c->ev_uncork) {
        if (c->corked)
            conn_cork(c, false);
        event_free(c->ev_uncork);
        c->ev_uncork = NULL;
    }
    c->amqp = NULL;
    incoming_clear(&c->in[0]);
    incoming_clear(&c->in[1]);
    c->failing = false;
    c->pub_reopening = false;
    c->unconfirmed_open = false;
    return amqp;
}

/* Returns false if a callback closed the connection. */
static bool
report_down(struct a091_conn *c, const qmf_error *why)
{
    c->down_reported = true;
    if (c->handlers.down != NULL)
        c->handlers.down((struct bus_conn *)c, why, c->opaque);
    return !c->closed;
}

/* The next attempt goes to the next broker of the list; far: after a
 * delay near the backoff's cap, a broker being too busy. */
static void
schedule_retry(struct a091_conn *c, bool far)
{
    c->state = A091_WAITING;
    if (far)
        bus_backoff_arm_far(&c->backoff, c->ev_retry);
    else
        bus_backoff_arm(&c->backoff, c->ev_retry);
    c->cfg = c->cfgs[bus_backoff_next_url(&c->backoff)];
}

/* polite: the link still works, only the connection is of no more use. */
static void
conn_end(struct a091_conn *c, const qmf_error *why, bool polite)
{
    amqp_connection_state_t amqp;

    if (c->state != A091_UP || c->closed)
        return;
    amqp = teardown_amqp(c);
    if (polite)
        say_goodbye(amqp, 0, c->cfg->threads);
    else
        amqp_destroy_connection(amqp);
    c->state = A091_DOWN;
    if (!confirms_fail_all(c) || !late_connection_lost(c, why) || !report_down(c, why))
        return;
    if (c->cfg->reconnect && c->state == A091_DOWN)
        schedule_retry(c, false);
}

static void
conn_lost(struct a091_conn *c, const qmf_error *why)
{
    conn_end(c, why, false);
}

/* A consumer cancelled or channel 1 closed: start over, closing politely. */
static void
conn_abandon(struct a091_conn *c, const qmf_error *why)
{
    conn_end(c, why, true);
}

static void
attempt_failed(struct a091_conn *c, const qmf_error *why)
{
    qmf_error own;
    /* A broker that far behind is helped by fewer attempts, not more:
     * the next one waits near the cap (unless other brokers of the list
     * may be less busy). */
    bool far = c->ncfgs == 1 && bus_patience_last_slow(&c->patience);

    c->state = A091_DOWN;
    /* Our own abandoned attempt, still alive on a broker that is behind,
     * is the likelier holder: retried like any failure, not reported as
     * a lock held elsewhere, which would have an agent look for another
     * of itself (and add to a broker already struggling).  Not soon: the
     * broker frees the lock only once it has caught up with our goodbye. */
    if (why->code == QMF_ERR_LOCKED && bus_patience_own_lock(&c->patience, bus_now_ns())) {
        qmf_error_set(&own, QMF_ERR_TRANSPORT, "%s (taken for this connection's own "
                      "earlier attempt, which the broker has not closed yet)", why->text);
        why = &own;
        far = true;
    }
    /* Only the first failure after an up (or the very first attempt) is
     * news; the retries that follow stay quiet.  A lock held elsewhere is
     * news every time: the caller decides whether to go on. */
    if ((!c->down_reported || why->code == QMF_ERR_LOCKED) && !report_down(c, why))
        return;
    if (c->cfg->reconnect)
        schedule_retry(c, far);
}

static void
connection_up(struct a091_conn *c, amqp_connection_state_t amqp, char **names)
{
    bus_strings_free(c->queue_names, c->cfg->nqueues);
    c->queue_names = names;
    c->amqp = amqp;
    c->generation++;
    c->paused = false;
    c->state = A091_UP;
    c->backoff.attempt = 0;
    bus_patience_reset(&c->patience);
    c->pub_seq = 0;
    c->pub_reopening = false;
    c->unconfirmed_open = false;
    c->failing = false;
    c->down_reported = false;
    c->heartbeat_s = amqp_get_heartbeat(amqp);
    c->last_in_ns = c->last_out_ns = bus_now_ns();
    c->ev_read = event_new(c->evbase, amqp_get_sockfd(amqp), EV_READ | EV_PERSIST,
                           on_readable, c);
    event_add(c->ev_read, NULL);
    c->corked = false;
    c->ev_uncork = event_new(c->evbase, -1, 0, on_uncork, c);
    if (c->heartbeat_s > 0) {
        struct timeval tv;
        uint64_t half_ms = (uint64_t)c->heartbeat_s * 500;

        tv.tv_sec = (time_t)(half_ms / 1000);
        tv.tv_usec = (suseconds_t)(half_ms % 1000) * 1000;
        c->ev_tick = event_new(c->evbase, -1, EV_PERSIST, on_tick, c);
        event_add(c->ev_tick, &tv);
    }
    late_restart(c);
    if (c->handlers.up != NULL)
        c->handlers.up((struct bus_conn *)c, c->opaque);
    /* Deliveries that arrived with the last replies of the set-up are
     * already in rabbitmq-c's buffers: the socket will not signal them. */
    conn_drain(c);
}

/* Connect thread ---------------------------------------------------------- */

static void *
attempt_run(void *arg, qmf_error *err)
{
    struct a091_try *t = arg;
    struct a091_attempt *a = qmf_xcalloc(1, sizeof(*a));

    a->amqp = a091_connect(t->cfg, t->timeout_s, &a->names, err);
    if (a->amqp == NULL) {
        free(a);
        return NULL;
    }
    return a;
}

/* A connection nobody wants any more: closed politely, off the loop. */
static void
attempt_discard(void *arg, void *result)
{
    struct a091_try *t = arg;
    struct a091_attempt *a = result;

    a091_close_politely(a->amqp, A091_CLOSE_TIMEOUT_MS);
    bus_strings_free(a->names, t->cfg->nqueues);
    free(a);
}

static void
attempt_release(void *arg)
{
    struct a091_try *t = arg;

    a091_config_unref(t->cfg);
    free(t);
}

static const struct bus_job_ops attempt_ops = {
    attempt_run, attempt_discard, attempt_release,
};

/* Takes the job away from the connection, with its result if any. */
static void
job_detach(struct a091_conn *c, amqp_connection_state_t *amqp, char ***names,
           qmf_error *err)
{
    struct a091_attempt *a = bus_job_detach(c->job, err);

    c->job = NULL;
    *amqp = a ? a->amqp : NULL;
    *names = a ? a->names : NULL;
    free(a);
}

static int
start_attempt(struct a091_conn *c, qmf_error *err)
{
    struct a091_try *t = qmf_xcalloc(1, sizeof(*t));

    t->cfg = a091_config_ref(c->cfg);
    t->timeout_s = bus_patience_timeout_s(&c->patience, A091_CONNECT_TIMEOUT_S,
                                          A091_CONNECT_TIMEOUT_MAX_S);
    c->attempt_timeout_s = t->timeout_s;
    c->attempt_start_ns = bus_now_ns();
    c->job = bus_job_start(&attempt_ops, t, c->ev_handover, c->cfg->threads, err);
    if (c->job == NULL)
        return -1;
    c->state = A091_CONNECTING;
    return 0;
}

static void
on_handover(evutil_socket_t fd, short what, void *arg)
{
    struct a091_conn *c = arg;
    amqp_connection_state_t amqp;
    char **names;
    qmf_error err;

    if (c->job == NULL || c->closed)
        return;
    conn_enter(c);
    job_detach(c, &amqp, &names, &err);
    if (amqp != NULL) {
        connection_up(c, amqp, names);
    } else {
        uint64_t now = bus_now_ns();

        bus_patience_failed(&c->patience, c->attempt_timeout_s, now - c->attempt_start_ns,
                            now);
        attempt_failed(c, &err);
    }
    conn_leave(c);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct a091_conn *c = arg;
    qmf_error err;

    if (c->closed || c->state != A091_WAITING)
        return;
    conn_enter(c);
    if (start_attempt(c, &err) != 0)
        attempt_failed(c, &err);
    conn_leave(c);
}

static void
on_fail(evutil_socket_t fd, short what, void *arg)
{
    struct a091_conn *c = arg;
    qmf_error why;

    if (!c->failing || c->closed)
        return;
    conn_enter(c);
    why = c->fail_err;
    c->failing = false;
    conn_lost(c, &why);
    conn_leave(c);
}

/* Entry points ----------------------------------------------------------------- */

static int
a091_open(struct bus_conn **out, struct event_base *base,
          const struct bus_options *opts, const struct bus_handlers *h,
          void *opaque, qmf_error *err)
{
    struct a091_config *cfg;
    struct a091_conn *c;
    void **cfgs;
    size_t n;

    *out = NULL;
    cfgs = bus_configs_new(opts, config_make, config_unref, &n, err);
    if (cfgs == NULL)
        return -1;
    cfg = cfgs[0];
    c = qmf_xcalloc(1, sizeof(*c));
    c->base.driver = &bus_amqp091_driver;
    c->evbase = base;
    c->cfgs = cfgs;
    c->ncfgs = n;
    if (h != NULL)
        c->handlers = *h;
    c->opaque = opaque;
    bus_backoff_init(&c->backoff, opts->url, c, cfg->backoff_min_ms, cfg->backoff_max_ms, n);
    c->cfg = cfgs[c->backoff.url];
    c->state = A091_DOWN;
    c->ev_handover = event_new(base, -1, 0, on_handover, c);
    c->ev_retry = evtimer_new(base, on_retry, c);
    c->ev_fail = event_new(base, -1, 0, on_fail, c);
    if (start_attempt(c, err) != 0) {
        conn_free(c);
        return -1;
    }
    *out = (struct bus_conn *)c;
    return 0;
}

static int
a091_publish(struct bus_conn *bc, const char *address, const struct bus_message *m,
             bus_confirm_cb confirm, void *opaque, qmf_error *err)
{
    struct a091_conn *c = (struct a091_conn *)bc;
    struct a091_outgoing o;
    char *exchange, *key;
    bool unconfirmed;
    int rc;

    if (!conn_usable(c)) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "not connected to the broker");
        return -1;
    }
    /* A request naming direct reply-to goes by the channel consuming it. */
    unconfirmed = m != NULL && m->unconfirmed && confirm == NULL && c->unconfirmed_open &&
                  !(m->reply_to != NULL && strcmp(m->reply_to, BUS_DIRECT_REPLY_TO) == 0);
    if (c->pub_reopening && !unconfirmed) {
        qmf_error_set(err, QMF_ERR_TRANSPORT,
                      "the broker closed the publish channel; it is being reopened");
        return -1;
    }
    if (m == NULL || bus_address_parse(address, &exchange, &key) != 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "cannot publish to address '%s'",
                      address ? address : "(null)");
        return -1;
    }
    /* Direct reply-to reaches the 0-9-1 channel that asked, and nobody
     * else; a 1.0 client's replies go to a queue of its own. */
    if (a091_outgoing_build(&o, m, exchange[0] == '\0' &&
                            strncmp(key, A091_DIRECT_REPLY_TO ".",
                                    strlen(A091_DIRECT_REPLY_TO) + 1) == 0, err) != 0) {
        free(exchange);
        free(key);
        return -1;
    }
    rc = amqp_basic_publish(c->amqp,
                            unconfirmed ? A091_UNCONFIRMED_CHANNEL : A091_PUBLISH_CHANNEL,
                            a091_bytes_of(exchange), a091_bytes_of(key), 0, 0, &o.props,
                            (amqp_bytes_t){ .len = o.body_len, .bytes = o.body });
    a091_outgoing_clear(&o);
    free(exchange);
    free(key);
    if (rc != AMQP_STATUS_OK) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "publish failed: %s", amqp_error_string2(rc));
        conn_fail_soon(c, "publish failed: %s", amqp_error_string2(rc));
        return -1;
    }
    /* In confirm mode every publish takes the next tag, confirmed or not. */
    if (!unconfirmed) {
        c->pub_seq++;
        if (confirm != NULL)
            confirm_add(c, c->pub_seq, confirm, opaque);
    }
    conn_sent(c);
    return 0;
}

static int
a091_check_url(const char *url, qmf_error *err)
{
    char *buf = qmf_xstrdup(url);
    struct amqp_connection_info info;
    int rc = amqp_parse_url(buf, &info);

    free(buf);
    if (rc != AMQP_STATUS_OK) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "bad broker URL (expected "
                      "amqp[s]://[user[:password]@]host[:port][/vhost])");
        return -1;
    }
    return 0;
}

static const char *
a091_queue_name(struct bus_conn *bc, size_t i)
{
    struct a091_conn *c = (struct a091_conn *)bc;

    if (i >= c->cfg->nqueues)
        return NULL;
    if (c->queue_names != NULL)
        return c->queue_names[i];
    return c->cfg->queues[i].name;
}

static bool
a091_is_up(struct bus_conn *bc)
{
    return conn_usable((struct a091_conn *)bc);
}

/* The connection closes: late topology ends with it, but for the
 * subscriptions whose deliveries are still held, which their last
 * settlement frees. */
static void
late_orphan(struct a091_conn *c)
{
    struct a091_late *l = c->lates, *next;

    c->lates = NULL;
    for (; l != NULL; l = next) {
        next = l->next;
        l->conn = NULL;
        l->channel = 0;
        l->cancelled = true;
        if (l->held == 0)
            late_free(l);
    }
}

static int
a091_declare(struct bus_conn *bc, const struct bus_queue *queues, size_t nqueues,
             bus_done_cb done, void *opaque, qmf_error *err)
{
    struct a091_conn *c = (struct a091_conn *)bc;
    struct a091_late *l;

    /* bus_declare checked the queues. */
    if (!conn_usable(c)) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "not connected to the broker");
        return -1;
    }
    l = late_new(c, queues, nqueues, done, opaque);
    if (late_start(c, l, err) != 0) {
        late_free(l);
        return -1;
    }
    return 0;
}

static int
a091_subscribe(struct bus_conn *bc, const struct bus_queue *queue,
               const struct bus_subscription *sub, bus_done_cb started, struct bus_sub **out,
               qmf_error *err)
{
    struct a091_conn *c = (struct a091_conn *)bc;
    struct a091_late *l;

    *out = NULL;
    if (!conn_usable(c)) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "not connected to the broker");
        return -1;
    }
    l = late_new(c, queue, queue != NULL ? 1 : 0, started, sub->opaque);
    l->subscription = true;
    if (a091_sub_copy(&l->sub, sub, 0, err) != 0) {
        late_free(l);
        return -1;
    }
    /* Direct reply-to lives on the publish channel: for bus_options. */
    if (l->sub.channel != A091_CONSUME_CHANNEL ||
        (queue != NULL && (queue->name == NULL || strcmp(queue->name, l->sub.queue) != 0))) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "a late subscription consumes a named queue, "
                      "the one it declares");
        late_free(l);
        return -1;
    }
    if (late_start(c, l, err) != 0) {
        late_free(l);
        return -1;
    }
    *out = (struct bus_sub *)l;
    return 0;
}

static void
a091_unsubscribe(struct bus_sub *bs)
{
    struct a091_late *l = (struct a091_late *)bs;
    struct a091_conn *c = l->conn;

    l->cancelled = true;
    if (c != NULL && l->channel != 0 && conn_usable(c) && late_cancel_consumer(c, l) == 0)
        conn_sent(c);
    if (l->held == 0)
        late_free(l);
}

/* wait_ms: 0 closes in the background, otherwise here (bus_close_wait). */
static void
close_conn(struct a091_conn *c, unsigned wait_ms)
{
    amqp_connection_state_t amqp;

    if (c == NULL || c->closed)
        return;
    c->closed = true;
    if (c->job != NULL) {
        char **names;
        qmf_error err;

        /* A connect thread still at work closes its result itself. */
        job_detach(c, &amqp, &names, &err);
        if (amqp != NULL)
            say_goodbye(amqp, wait_ms, c->cfg->threads);
        bus_strings_free(names, c->cfg->nqueues);
    }
    amqp = teardown_amqp(c);
    if (amqp != NULL)
        say_goodbye(amqp, wait_ms, c->cfg->threads);
    c->state = A091_DOWN;
    event_del(c->ev_handover);
    event_del(c->ev_retry);
    event_del(c->ev_fail);
    /* Unsettled deliveries go back to their queues with the connection;
     * the application may still settle (and so free) what it holds. */
    bus_held_orphan(&c->deliveries);
    late_orphan(c);
    conn_enter(c);
    confirms_fail_all(c);
    conn_leave(c);
}

static void
a091_close(struct bus_conn *bc)
{
    close_conn((struct a091_conn *)bc, 0);
}

static void
a091_close_wait(struct bus_conn *bc, unsigned timeout_ms)
{
    close_conn((struct a091_conn *)bc, timeout_ms > 0 ? timeout_ms : A091_CLOSE_TIMEOUT_MS);
}

static const char *
a091_broker(struct bus_conn *bc)
{
    return ((struct a091_conn *)bc)->cfg->shown;
}

static const char *const a091_schemes[] = { "amqp", "amqps", NULL };

const struct bus_driver bus_amqp091_driver = {
    .name = "amqp091",
    .schemes = a091_schemes,
    .open = a091_open,
    .check_url = a091_check_url,
    .publish = a091_publish,
    .ack = a091_ack,
    .reject = a091_reject,
    .queue_name = a091_queue_name,
    .is_up = a091_is_up,
    .pause = a091_pause,
    .close = a091_close,
    .close_wait = a091_close_wait,
    .broker = a091_broker,
    .declare = a091_declare,
    .subscribe = a091_subscribe,
    .unsubscribe = a091_unsubscribe,
};
