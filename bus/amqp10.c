/*
 * The AMQP 1.0 backend: a qpid-proton pn_connection_driver run on the
 * caller's libevent loop, reading and writing a non-blocking socket that a
 * short-lived connect thread hands over (after the 0-9-1 topology step,
 * name lookup, TCP and TLS: amqp10_connect.c).  No proactor: its threads
 * would hand every event back to the loop anyway, and the driver is a plain
 * state machine that one read event, one write event and one timer serve.
 *
 * One connection, three sessions: subscriptions' receiver links on one,
 * senders that want outcomes (publisher confirms) on another, pre-settled
 * senders on a third.  RabbitMQ ends a whole session when it refuses one
 * link (a missing exchange, say), so a refused publish costs its session
 * only, as a refused publish costs its channel on 0-9-1.  Late
 * subscriptions (bus_subscribe) get a session each for the same reason.
 *
 * The connect thread wakes the loop through a descriptor of the attempt's
 * (bus_job_start), never through libevent.
 */
#include "bus/amqp10_int.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include "bus/amqp091_int.h"
#include "bus/backend.h"

/* Reads per readiness before yielding to the rest of the loop. */
#define A10_READ_BUDGET 16
/* Senders kept per session (one per exchange published to). */
#define A10_MAX_SENDERS 32

enum a10_state {
    A10_CONNECTING,    /* a connect thread is running */
    A10_OPENING,       /* SASL, open and attaches on the loop */
    A10_UP,
    A10_WAITING,       /* lost; the backoff timer will retry */
    A10_DOWN,          /* lost for good (no reconnect, or closed) */
};

struct a10_conn;

/* A publish waiting for its outcome; the pn_delivery's context. */
struct a10_confirm {
    pn_delivery_t *pn;
    bus_confirm_cb cb;
    void *opaque;
    struct a10_confirm *prev, *next;
};

struct a10_sender {
    char *exchange;            /* "": the default exchange */
    pn_link_t *link;
};

/* A session that publishes: confirmed (unsettled sends) or not. */
struct a10_lane {
    pn_session_t *session;
    bool presettled;
    char letter;               /* in link names */
    struct a10_sender senders[A10_MAX_SENDERS];
    size_t nsenders;
    unsigned serial;
};

/* A message arriving in transfers. */
struct a10_incoming {
    char *buf;
    size_t len, cap;
    size_t total;              /* bytes of the message so far, kept or not */
};

struct a10_late;

struct a10_delivery {
    struct bus_held held;
    pn_delivery_t *pn;         /* NULL once settled or its connection gone */
    size_t sub;
    struct a10_late *late;     /* its late subscription (then not sub), or NULL */
    bool no_ack;
};

/*
 * A late declaration (bus_declare) or subscription (bus_subscribe).  Its
 * queues are declared over 0-9-1 on a thread; a subscription's receiver
 * has a session of its own, since RabbitMQ ends the session of a refused
 * attach: the refusal costs that session, never the connection.  The
 * session's context is the late topology, so that events find it.
 */
struct a10_late {
    struct bus_sub_base base;
    struct a10_conn *conn;     /* NULL once the connection is closed */
    bool subscription;         /* else a one-off declaration */
    struct bus_queue *queues;  /* declared at each start */
    size_t nqueues;
    struct a10_sub sub;
    bus_done_cb done;          /* a declaration's done, a subscription's started */
    void *opaque;
    bool cancelled;
    unsigned held;             /* its deliveries not yet settled */
    struct bus_job *job;       /* declaring */
    struct event *ev_declared;
    pn_session_t *session;     /* NULL: not attached */
    pn_link_t *link;
    struct a10_incoming in;
    uint32_t owed;             /* credit settled, not yet given back */
    struct a10_late *next;
};

/* What a connect attempt works from: the options, and the lock connection
 * of the attempt before, which it closes first. */
struct a10_job_arg {
    struct a10_config *cfg;
    struct amqp_connection_state_t_ *stale_lock;
};

/* What a connect attempt hands over. */
struct a10_attempt {
    struct a10_wire wire;
    char **names;
    struct amqp_connection_state_t_ *lock;     /* holds cfg->nlocks locks, or NULL */
};

struct a10_conn {
    struct bus_conn_base base;
    struct event_base *evbase;
    struct a10_config *cfg;    /* of the broker in use or tried: cfgs[backoff.url] */
    void **cfgs;               /* one per broker of the list, alike but the URL */
    size_t ncfgs;
    struct bus_handlers handlers;
    void *opaque;

    enum a10_state state;
    bool closed;
    int busy;                  /* our callbacks on the stack; free waits for 0 */
    bool down_reported;        /* down was said since the last up */
    uint64_t generation;       /* bumped on every new broker connection */
    uint64_t epoch;            /* bumped whenever the driver goes away */
    struct bus_backoff backoff;

    struct bus_job *job;
    struct event *ev_handover, *ev_retry, *ev_pump, *ev_tick, *ev_deadline;
    struct event *ev_read, *ev_write;

    bool have_driver;
    pn_connection_driver_t driver;
    struct a10_wire wire;
    char **queue_names;        /* of the current or last attempt */
    /* The 0-9-1 connection that holds the locks while the 1.0 one is up
     * (watched), and after it, until the next attempt or the close lets
     * it go (stale). */
    struct a10_lock *lock;
    struct amqp_connection_state_t_ *stale_lock;

    pn_session_t *rsession;
    pn_link_t **receivers;     /* [nsubs] */
    uint32_t *owed;            /* [nsubs] credit settled, not yet given back */
    struct a10_incoming *incoming;
    size_t attached;
    bool remote_open;
    bool paused;
    struct a10_lane confirmed, presettled;
    uint64_t tag_seq;

    struct a10_confirm *confirms;
    struct bus_held *deliveries;
    struct a10_late *lates;
    uint64_t late_serial;      /* names late receivers */
};

static void conn_end(struct a10_conn *c, const qmf_error *why, bool polite);
static void late_free(struct a10_late *l);
static void late_credit(struct a10_late *l);

static void *
config_make(const struct bus_options *opts, qmf_error *err)
{
    return a10_config_new(opts, err);
}

static void
config_unref(void *cfg)
{
    a10_config_unref(cfg);
}
static void pump(struct a10_conn *c);

static uint64_t
now_ms(void)
{
    return bus_now_ns() / 1000000u;
}

/*
 * Re-entrancy: every libevent callback of ours holds a busy reference, and
 * user callbacks run inside one, so bus_close() from a user callback only
 * marks the connection closed; the last callback to leave frees it.
 */
static void
conn_free(struct a10_conn *c)
{
    event_free(c->ev_handover);
    event_free(c->ev_retry);
    event_free(c->ev_pump);
    event_free(c->ev_tick);
    event_free(c->ev_deadline);
    bus_strings_free(c->queue_names, c->cfg->nall);
    free(c->receivers);
    free(c->owed);
    free(c->incoming);
    bus_configs_free(c->cfgs, c->ncfgs, config_unref);
    free(c);
}

static void
conn_enter(struct a10_conn *c)
{
    c->busy++;
}

static void
conn_leave(struct a10_conn *c)
{
    if (--c->busy == 0 && c->closed)
        conn_free(c);
}

static bool
conn_usable(const struct a10_conn *c)
{
    return !c->closed && c->state == A10_UP && c->have_driver;
}

/* Work for the loop: what an API call started is written soon. */
static void
schedule_pump(struct a10_conn *c)
{
    if (c->have_driver)
        event_active(c->ev_pump, 0, 0);
}

/* The condition of a refusal as words: "name: description". */
static void
condition_error(pn_condition_t *cond, const char *what, qmf_error *err)
{
    const char *name = cond && pn_condition_is_set(cond) ? pn_condition_get_name(cond) : NULL;
    const char *text = cond ? pn_condition_get_description(cond) : NULL;

    qmf_error_set(err, a10_condition_code(name), "%s%s%s%s%s", what, name ? ": " : "",
                  name ? name : "", text && *text ? " " : "", text && *text ? text : "");
}

int
a10_condition_code(const char *name)
{
    if (name == NULL)
        return QMF_ERR_TRANSPORT;
    if (strcmp(name, "amqp:unauthorized-access") == 0)
        return QMF_ERR_UNAUTHORIZED;
    if (strcmp(name, "amqp:resource-locked") == 0)
        return QMF_ERR_LOCKED;
    return QMF_ERR_TRANSPORT;
}

/* Confirms ----------------------------------------------------------------- */

static void
confirm_unlink(struct a10_conn *c, struct a10_confirm *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        c->confirms = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (p->pn != NULL)
        pn_delivery_set_context(p->pn, NULL);
}

/* Calls back and frees; false if the callback closed the connection. */
static bool
confirm_done(struct a10_conn *c, struct a10_confirm *p, bool ok)
{
    confirm_unlink(c, p);
    p->cb(ok, p->opaque);
    free(p);
    return !c->closed;
}

/* Fails the pending confirms of one session (NULL: all); false if a
 * callback closed the connection. */
static bool
confirms_fail(struct a10_conn *c, pn_session_t *session, pn_link_t *link)
{
    struct a10_confirm *p = c->confirms, *next;
    uint64_t epoch = c->epoch;

    for (; p != NULL; p = next) {
        next = p->next;
        if (session != NULL && (p->pn == NULL ||
                                pn_link_session(pn_delivery_link(p->pn)) != session))
            continue;
        if (link != NULL && (p->pn == NULL || pn_delivery_link(p->pn) != link))
            continue;
        if (!confirm_done(c, p, false) || c->epoch != epoch)
            return !c->closed;
        /* The callback may have published: start over from the head. */
        next = c->confirms;
    }
    return true;
}

static bool
confirms_fail_all(struct a10_conn *c)
{
    struct a10_confirm *p;

    /* The deliveries are gone with their connection. */
    for (p = c->confirms; p != NULL; p = p->next)
        p->pn = NULL;
    while ((p = c->confirms) != NULL) {
        if (!confirm_done(c, p, false))
            return false;
    }
    return true;
}

/* Deliveries ----------------------------------------------------------------- */

static struct a10_delivery *
delivery_new(struct a10_conn *c, pn_delivery_t *pn, size_t sub, bool no_ack,
             struct bus_message *m)
{
    struct a10_delivery *d = qmf_xcalloc(1, sizeof(*d));

    bus_held_add(&d->held, &bus_amqp10_driver, c, &c->deliveries, c->generation, m);
    d->pn = pn;
    d->sub = sub;
    d->no_ack = no_ack;
    return d;
}

/* The last delivery of a cancelled late subscription ends it. */
static void
delivery_free(struct a10_delivery *d)
{
    struct a10_late *late = d->late;

    bus_held_drop(&d->held);
    free(d);
    if (late != NULL && --late->held == 0 && late->cancelled)
        late_free(late);
}

/*
 * One more credit for subscription i, given back to the broker once a
 * quarter of the subscription's credit is owed (every one for a credit
 * under 8): RabbitMQ's plugin makes a synchronous call of each flow, and a
 * flow per message halved the throughput.  The broker never holds more
 * than `credit` minus what is unsettled.
 */
static void
credit_back(pn_link_t *link, uint32_t *owed, uint32_t credit)
{
    uint32_t batch = credit / 4;

    if (++*owed >= (batch > 0 ? batch : 1)) {
        pn_link_flow(link, (int)*owed);
        *owed = 0;
    }
}

static void
give_credit(struct a10_conn *c, size_t i)
{
    credit_back(c->receivers[i], &c->owed[i], c->cfg->subs[i].credit);
}

/* The outcome, and the credit back (unless paused): at most `credit`
 * deliveries stay unsettled. */
static int
delivery_settle(struct a10_delivery *d, uint64_t outcome)
{
    struct a10_conn *c = d->held.conn;

    if (d->no_ack)
        return 0;
    if (c == NULL || !conn_usable(c) || d->held.generation != c->generation || d->pn == NULL)
        return -1;
    pn_delivery_update(d->pn, outcome);
    pn_delivery_settle(d->pn);
    d->pn = NULL;
    if (d->late != NULL)
        late_credit(d->late);
    else if (!c->paused)
        give_credit(c, d->sub);
    schedule_pump(c);
    return 0;
}

static int
a10_ack(struct bus_delivery *bd)
{
    struct a10_delivery *d = (struct a10_delivery *)bd;
    int rc = delivery_settle(d, PN_ACCEPTED);

    delivery_free(d);
    return rc;
}

/* RabbitMQ's plugin takes released (requeue) and rejected; "modified"
 * would end the session. */
static int
a10_reject(struct bus_delivery *bd, bool requeue)
{
    struct a10_delivery *d = (struct a10_delivery *)bd;
    int rc = delivery_settle(d, requeue ? PN_RELEASED : PN_REJECTED);

    delivery_free(d);
    return rc;
}

/* Receiving ------------------------------------------------------------------ */

static size_t
link_index(pn_link_t *link)
{
    return (size_t)(uintptr_t)pn_link_get_context(link) - 1;
}

/* Keeps the delivery's bytes, as far as a message may go. */
static void
incoming_take(struct a10_conn *c, struct a10_incoming *in, pn_link_t *link)
{
    size_t limit = c->cfg->max_body + A10_MAX_PROPERTIES;
    char scrap[4096];
    ssize_t n;

    for (;;) {
        size_t room;
        char *to;

        if (in->len < limit) {
            if (in->cap - in->len < 16384) {
                in->cap = in->cap ? in->cap * 2 : 65536;
                if (in->cap > limit)
                    in->cap = limit;
                in->buf = qmf_xrealloc(in->buf, in->cap);
            }
            to = in->buf + in->len;
            room = in->cap - in->len;
        } else {
            to = scrap;
            room = sizeof(scrap);
        }
        n = pn_link_recv(link, to, room);
        if (n <= 0)
            return;
        in->total += (size_t)n;
        if (to != scrap)
            in->len += (size_t)n;
    }
}

static void
incoming_reset(struct a10_incoming *in)
{
    free(in->buf);
    memset(in, 0, sizeof(*in));
}

/* A complete message on receiver i: to the subscription's callback. */
/* The message in, complete: decoded, and the link moved on. */
static struct bus_message *
message_take(struct a10_conn *c, struct a10_incoming *in, pn_link_t *link)
{
    struct bus_message *m = bus_message_new();

    a10_message_decode(m, in->buf, in->len, in->total, c->cfg->max_body);
    incoming_reset(in);
    pn_link_advance(link);
    return m;
}

static void
on_message(struct a10_conn *c, size_t i, pn_link_t *link, pn_delivery_t *pn)
{
    const struct a10_sub *sub = &c->cfg->subs[i];
    struct bus_message *m = message_take(c, &c->incoming[i], link);
    bool no_ack = sub->no_ack || pn_delivery_settled(pn);
    struct a10_delivery *d;

    if (c->paused) {
        /* Sent before the broker saw the detach: nothing more is
         * delivered, and the broker requeues it with the connection
         * (releasing it would count a delivery of it). */
        bus_message_free(m);
        return;
    }
    if (no_ack) {
        pn_delivery_settle(pn);
        pn = NULL;
        give_credit(c, i);
    }
    d = delivery_new(c, pn, i, no_ack, m);
    sub->receive((struct bus_delivery *)d, m, sub->opaque);
}

static struct a10_late *
late_of_link(pn_link_t *link)
{
    return pn_session_get_context(pn_link_session(link));
}

/* A delivery on a late subscription's receiver, once complete. */
static void
late_incoming(struct a10_conn *c, struct a10_late *l, pn_delivery_t *pn)
{
    pn_link_t *link = pn_delivery_link(pn);
    struct a10_delivery *d;
    struct bus_message *m;
    bool no_ack;

    if (link != l->link || pn != pn_link_current(link))
        return;
    if (pn_delivery_aborted(pn)) {
        incoming_reset(&l->in);
        pn_delivery_settle(pn);
        pn_link_advance(link);
        late_credit(l);
        return;
    }
    if (!pn_delivery_readable(pn))
        return;
    incoming_take(c, &l->in, link);
    if (pn_delivery_partial(pn))
        return;
    m = message_take(c, &l->in, link);
    if (l->cancelled || c->paused) {
        /* Sent before the broker saw the detach: the end of the session
         * requeues it. */
        bus_message_free(m);
        return;
    }
    no_ack = l->sub.no_ack || pn_delivery_settled(pn);
    if (no_ack) {
        pn_delivery_settle(pn);
        pn = NULL;
        late_credit(l);
    }
    d = delivery_new(c, pn, 0, no_ack, m);
    d->late = l;
    l->held++;
    l->sub.receive((struct bus_delivery *)d, m, l->sub.opaque);
}

static void
on_incoming(struct a10_conn *c, pn_delivery_t *pn)
{
    pn_link_t *link = pn_delivery_link(pn);
    size_t i = link_index(link);

    if (late_of_link(link) != NULL) {
        late_incoming(c, late_of_link(link), pn);
        return;
    }
    if (i >= c->cfg->nsubs || link != c->receivers[i] || pn != pn_link_current(link))
        return;
    if (pn_delivery_aborted(pn)) {
        incoming_reset(&c->incoming[i]);
        pn_delivery_settle(pn);
        pn_link_advance(link);
        give_credit(c, i);
        return;
    }
    if (!pn_delivery_readable(pn))
        return;
    incoming_take(c, &c->incoming[i], link);
    /* Before up, a message waits in proton: up comes first (as on 0-9-1). */
    if (!pn_delivery_partial(pn) && c->state == A10_UP)
        on_message(c, i, link, pn);
}

/* Messages that came before up, once it is said. */
static void
take_waiting(struct a10_conn *c)
{
    uint64_t epoch = c->epoch;
    size_t i;

    for (i = 0; i < c->cfg->nsubs && c->epoch == epoch && !c->closed; i++) {
        pn_delivery_t *pn;

        while (c->epoch == epoch && !c->closed &&
               (pn = pn_link_current(c->receivers[i])) != NULL &&
               pn_delivery_readable(pn) && !pn_delivery_partial(pn)) {
            incoming_take(c, &c->incoming[i], c->receivers[i]);
            on_message(c, i, c->receivers[i], pn);
        }
    }
}

/* Publishing ------------------------------------------------------------------ */

static void
lane_open(struct a10_conn *c, struct a10_lane *lane)
{
    lane->session = pn_session(c->driver.connection);
    pn_session_open(lane->session);
}

static void
lane_forget(struct a10_lane *lane)
{
    size_t i;

    for (i = 0; i < lane->nsenders; i++)
        free(lane->senders[i].exchange);
    lane->nsenders = 0;
    lane->session = NULL;
}

/* The sender to an exchange: "/exchange/X", or "/queue" for the default
 * exchange, the routing key being each message's subject.  One link per
 * exchange serves every key (RabbitMQ's "/amq/queue/Q" form would also
 * want queue names without '/', which direct reply-to names have).  NULL
 * when every one of A10_MAX_SENDERS links still waits for outcomes. */
static pn_link_t *
lane_sender(struct a10_lane *lane, const char *exchange)
{
    struct a10_sender *s;
    char name[48];
    char *address;
    size_t i;

    for (i = 0; i < lane->nsenders; i++) {
        if (strcmp(lane->senders[i].exchange, exchange) == 0)
            return lane->senders[i].link;
    }
    if (lane->nsenders == A10_MAX_SENDERS) {
        /* The oldest idle one goes. */
        for (i = 0; i < lane->nsenders && pn_link_unsettled(lane->senders[i].link) > 0; i++)
            ;
        if (i == lane->nsenders)
            return NULL;
        pn_link_close(lane->senders[i].link);
        pn_link_free(lane->senders[i].link);
        free(lane->senders[i].exchange);
        memmove(lane->senders + i, lane->senders + i + 1,
                (--lane->nsenders - i) * sizeof(*lane->senders));
    }
    s = &lane->senders[lane->nsenders++];
    snprintf(name, sizeof(name), "virtbus-send-%c%u", lane->letter, lane->serial++);
    s->exchange = qmf_xstrdup(exchange);
    s->link = pn_sender(lane->session, name);
    address = exchange[0] ? qmf_xasprintf("/exchange/%s", exchange) : qmf_xstrdup("/queue");
    pn_terminus_set_address(pn_link_target(s->link), address);
    free(address);
    pn_link_set_snd_settle_mode(s->link, lane->presettled ? PN_SND_SETTLED : PN_SND_UNSETTLED);
    pn_link_open(s->link);
    return s->link;
}

/* The broker ended a publishing session: a new one takes its place at
 * once, and what was in flight on the old one failed. */
static void
lane_reset(struct a10_conn *c, struct a10_lane *lane)
{
    pn_session_t *old = lane->session;
    uint64_t epoch = c->epoch;

    lane_forget(lane);
    lane_open(c, lane);
    if (!confirms_fail(c, old, NULL) || c->epoch != epoch)
        return;
    pn_session_close(old);
    pn_session_free(old);
}

/* A sender link detached by the broker: later publishes attach anew. */
static void
sender_lost(struct a10_conn *c, pn_link_t *link)
{
    struct a10_lane *lanes[] = { &c->confirmed, &c->presettled };
    uint64_t epoch = c->epoch;
    size_t i, j;

    for (i = 0; i < 2; i++) {
        for (j = 0; j < lanes[i]->nsenders; j++) {
            if (lanes[i]->senders[j].link != link)
                continue;
            free(lanes[i]->senders[j].exchange);
            memmove(lanes[i]->senders + j, lanes[i]->senders + j + 1,
                    (--lanes[i]->nsenders - j) * sizeof(*lanes[i]->senders));
            pn_link_close(link);
            if (confirms_fail(c, NULL, link) && c->epoch == epoch)
                pn_link_free(link);
            return;
        }
    }
}

/* The outcome of a send. */
static void
on_outcome(struct a10_conn *c, pn_delivery_t *pn)
{
    uint64_t state = pn_delivery_remote_state(pn);
    struct a10_confirm *p;

    if (state == 0 && !pn_delivery_settled(pn))
        return;
    /* Forgotten before the settle: proton can still hand this delivery
     * over again (an update queued before it), and p is freed below. */
    p = pn_delivery_get_context(pn);
    pn_delivery_set_context(pn, NULL);
    pn_delivery_settle(pn);
    if (p != NULL) {
        p->pn = NULL;
        confirm_done(c, p, state == PN_ACCEPTED);
    }
}

/* Bytes accepted for sending and not yet taken by the socket. */
static size_t
outgoing_bytes(struct a10_conn *c)
{
    ssize_t pending = pn_transport_pending(c->driver.transport);
    size_t n = pending > 0 ? (size_t)pending : 0;

    if (c->confirmed.session != NULL)
        n += pn_session_outgoing_bytes(c->confirmed.session);
    if (c->presettled.session != NULL)
        n += pn_session_outgoing_bytes(c->presettled.session);
    return n;
}

static int
a10_publish(struct bus_conn *bc, const char *address, const struct bus_message *m,
            bus_confirm_cb confirm, void *opaque, qmf_error *err)
{
    struct a10_conn *c = (struct a10_conn *)bc;
    struct a10_lane *lane;
    char *exchange, *key, *reply_to = NULL, *bytes;
    size_t len;
    pn_link_t *link;
    pn_delivery_t *pn;
    uint64_t tag;

    if (!conn_usable(c)) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "not connected to the broker");
        return -1;
    }
    if (m == NULL || bus_address_parse(address, &exchange, &key) != 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "cannot publish to address '%s'",
                      address ? address : "(null)");
        return -1;
    }
    if (outgoing_bytes(c) > A10_MAX_OUTGOING) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "%zu bytes wait to be sent to the broker: "
                      "publishing is refused until they are", outgoing_bytes(c));
        goto fail;
    }
    /* Direct reply-to: our stand-in queue, by the sender's name for it. */
    if (m->reply_to != NULL && strcmp(m->reply_to, BUS_DIRECT_REPLY_TO) == 0) {
        if (!c->cfg->direct_reply) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "a request naming direct reply-to "
                          "needs its subscription (%s) on the same connection",
                          BUS_DIRECT_REPLY_TO);
            goto fail;
        }
        reply_to = bus_address_queue(c->queue_names[c->cfg->nqueues]);
    }
    if (a10_message_encode(m, key, reply_to, &bytes, &len, err) != 0)
        goto fail;
    lane = m->unconfirmed && confirm == NULL ? &c->presettled : &c->confirmed;
    if ((link = lane_sender(lane, exchange)) == NULL) {
        free(bytes);
        qmf_error_set(err, QMF_ERR_TRANSPORT, "%d exchanges wait for outcomes: publishing "
                      "to another is refused until one is done", A10_MAX_SENDERS);
        goto fail;
    }
    tag = ++c->tag_seq;
    pn = pn_delivery(link, pn_dtag((const char *)&tag, sizeof(tag)));
    pn_link_send(link, bytes, len);
    pn_link_advance(link);
    free(bytes);
    if (lane->presettled) {
        pn_delivery_settle(pn);
    } else if (confirm != NULL) {
        struct a10_confirm *p = qmf_xcalloc(1, sizeof(*p));

        p->pn = pn;
        p->cb = confirm;
        p->opaque = opaque;
        p->next = c->confirms;
        if (c->confirms)
            c->confirms->prev = p;
        c->confirms = p;
        pn_delivery_set_context(pn, p);
    }
    free(reply_to);
    free(exchange);
    free(key);
    schedule_pump(c);
    return 0;

fail:
    free(reply_to);
    free(exchange);
    free(key);
    return -1;
}

/* Late topology ------------------------------------------------------------ */

static pn_link_t *receiver_open(pn_session_t *session, const char *name,
                                const struct a10_sub *s, const char *queue);

/* What a late declaration's thread works from. */
struct a10_late_job {
    struct a10_config *cfg;
    struct bus_queue *queues;
    size_t nqueues;
};

static void *
late_job_run(void *arg, qmf_error *err)
{
    const struct a10_late_job *j = arg;

    if (a10_declare_late(j->cfg, j->queues, j->nqueues, err) != 0)
        return NULL;
    return qmf_xcalloc(1, 1);      /* "done": nothing to hand over */
}

static void
late_job_discard(void *arg, void *result)
{
    free(result);
}

static void
late_job_release(void *arg)
{
    struct a10_late_job *j = arg;
    size_t i;

    for (i = 0; i < j->nqueues; i++)
        a091_queue_clear(&j->queues[i]);
    free(j->queues);
    a10_config_unref(j->cfg);
    free(j);
}

static const struct bus_job_ops late_job_ops = {
    late_job_run, late_job_discard, late_job_release,
};

static struct bus_queue *
queues_copy(const struct bus_queue *queues, size_t n)
{
    struct bus_queue *out = qmf_xcalloc(n + 1, sizeof(*out));
    size_t i;

    for (i = 0; i < n; i++)
        a091_queue_copy(&out[i], &queues[i]);
    return out;
}

static void
late_credit(struct a10_late *l)
{
    if (!l->cancelled && l->link != NULL)
        credit_back(l->link, &l->owed, l->sub.credit);
}

/* Its declaration's thread, if one runs, goes on without it. */
static void
late_job_drop(struct a10_late *l)
{
    qmf_error ignored;

    if (l->job != NULL)
        free(bus_job_detach(l->job, &ignored));
    l->job = NULL;
}

/* Forgets its receiver (the driver is gone, or the broker ended the
 * session): what it holds can no longer be settled. */
static void
late_detach(struct a10_late *l)
{
    struct bus_held *h;

    if (l->conn != NULL) {
        for (h = l->conn->deliveries; h != NULL; h = h->next) {
            if (((struct a10_delivery *)h)->late == l)
                ((struct a10_delivery *)h)->pn = NULL;
        }
    }
    incoming_reset(&l->in);
    l->session = NULL;
    l->link = NULL;
}

/* Ends l; the end of its session gives back to the queue whatever is
 * still unsettled there. */
static void
late_free(struct a10_late *l)
{
    struct a10_conn *c = l->conn;
    struct a10_late **p;
    size_t i;

    late_job_drop(l);
    if (l->ev_declared != NULL)
        event_free(l->ev_declared);
    if (c != NULL) {
        if (l->session != NULL && c->have_driver) {
            if (!(pn_link_state(l->link) & PN_LOCAL_CLOSED))
                pn_link_close(l->link);
            pn_session_set_context(l->session, NULL);
            pn_session_close(l->session);
            schedule_pump(c);
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
    a10_sub_clear(&l->sub);
    incoming_reset(&l->in);
    free(l);
}

static void
late_attach(struct a10_conn *c, struct a10_late *l)
{
    char name[48];

    snprintf(name, sizeof(name), "virtbus-late-%llu", (unsigned long long)++c->late_serial);
    l->session = pn_session(c->driver.connection);
    pn_session_set_context(l->session, l);
    pn_session_open(l->session);
    l->link = receiver_open(l->session, name, &l->sub, l->sub.queue);
    l->owed = 0;
    schedule_pump(c);
}

static void on_late_declared(evutil_socket_t fd, short what, void *arg);

/* Declares l's queues (a thread) and then attaches, or attaches at once. */
static int
late_begin(struct a10_conn *c, struct a10_late *l, qmf_error *err)
{
    struct a10_late_job *j;

    if (l->nqueues == 0) {
        late_attach(c, l);
        return 0;
    }
    j = qmf_xcalloc(1, sizeof(*j));
    j->cfg = a10_config_ref(c->cfg);
    j->queues = queues_copy(l->queues, l->nqueues);
    j->nqueues = l->nqueues;
    l->job = bus_job_start(&late_job_ops, j, l->ev_declared, c->cfg->threads, err);
    return l->job != NULL ? 0 : -1;
}

/* A declaration's thread is over.  done, or started, comes last: it may
 * end l or c. */
static void
on_late_declared(evutil_socket_t fd, short what, void *arg)
{
    struct a10_late *l = arg;
    struct a10_conn *c = l->conn;
    bus_done_cb done = l->done;
    void *opaque = l->opaque;
    qmf_error err;
    void *result;

    if (l->job == NULL || c == NULL)
        return;
    result = bus_job_detach(l->job, &err);
    l->job = NULL;
    free(result);
    conn_enter(c);
    if (result != NULL && l->subscription) {
        /* Else it attaches once the connection is back. */
        if (conn_usable(c))
            late_attach(c, l);
        done = NULL;
    } else if (!l->subscription) {
        late_free(l);
    }
    if (done != NULL)
        done((struct bus_conn *)c, result != NULL ? NULL : &err, opaque);
    conn_leave(c);
}

static struct a10_late *
late_new(struct a10_conn *c, const struct bus_queue *queues, size_t nqueues, bus_done_cb done,
         void *opaque)
{
    struct a10_late *l = qmf_xcalloc(1, sizeof(*l));

    l->base.driver = &bus_amqp10_driver;
    l->conn = c;
    l->queues = queues_copy(queues, nqueues);
    l->nqueues = nqueues;
    l->done = done;
    l->opaque = opaque;
    l->ev_declared = event_new(c->evbase, -1, 0, on_late_declared, l);
    l->next = c->lates;
    c->lates = l;
    return l;
}

/* The broker ended a late subscription (refused its attach, or detached
 * it): it waits for the next reconnect. */
static void
late_refused(struct a10_conn *c, struct a10_late *l, pn_condition_t *cond)
{
    bus_done_cb done = l->cancelled ? NULL : l->done;
    qmf_error why;

    condition_error(cond, "the broker ended a late subscription", &why);
    if (l->session != NULL) {
        pn_session_set_context(l->session, NULL);
        pn_session_close(l->session);
        schedule_pump(c);
    }
    late_detach(l);
    if (l->cancelled && l->held == 0)
        late_free(l);
    else if (done != NULL)
        done((struct bus_conn *)c, &why, l->opaque);
}

/* The connection is up again: every late subscription starts again. */
static void
late_restart(struct a10_conn *c)
{
    struct a10_late *l;
    qmf_error err;

    for (l = c->lates; l != NULL; l = l->next) {
        if (l->subscription && !l->cancelled && l->job == NULL && l->session == NULL &&
            late_begin(c, l, &err) != 0 && l->done != NULL) {
            l->done((struct bus_conn *)c, &err, l->opaque);
            return;     /* the callback may have changed the list */
        }
    }
}

/* The connection closes: late topology ends with it, but for the
 * subscriptions whose deliveries are still held, which their last
 * settlement frees. */
static void
late_orphan(struct a10_conn *c)
{
    struct a10_late *l = c->lates, *next;

    c->lates = NULL;
    for (; l != NULL; l = next) {
        next = l->next;
        late_job_drop(l);
        late_detach(l);
        l->conn = NULL;
        l->cancelled = true;
        if (l->held == 0)
            late_free(l);
    }
}

/* Events -------------------------------------------------------------------- */

/* Says up once the broker attached every receiver. */
static void
check_up(struct a10_conn *c)
{
    if (c->state != A10_OPENING || !c->remote_open || c->attached < c->cfg->nsubs)
        return;
    c->state = A10_UP;
    c->backoff.attempt = 0;
    c->down_reported = false;
    event_del(c->ev_deadline);
    if (c->handlers.up != NULL)
        c->handlers.up((struct bus_conn *)c, c->opaque);
    take_waiting(c);
    if (conn_usable(c))
        late_restart(c);
}

/* The receiver a refusal during the set-up was about: the first one the
 * broker has not attached (it handles attaches in order). */
static const char *
refused_source(struct a10_conn *c)
{
    size_t i;

    for (i = 0; i < c->cfg->nsubs; i++) {
        if (!(pn_link_state(c->receivers[i]) & PN_REMOTE_ACTIVE))
            return pn_terminus_get_address(pn_link_source(c->receivers[i]));
    }
    return NULL;
}

static void
on_session_closed(struct a10_conn *c, pn_session_t *s)
{
    qmf_error why;
    char what[300];
    const char *source;

    if (pn_session_get_context(s) != NULL) {
        struct a10_late *l = pn_session_get_context(s);

        late_refused(c, l, pn_session_remote_condition(s));
        return;
    }
    if (s == c->confirmed.session) {
        lane_reset(c, &c->confirmed);
    } else if (s == c->presettled.session) {
        lane_reset(c, &c->presettled);
    } else if (s == c->rsession) {
        source = c->state == A10_OPENING ? refused_source(c) : NULL;
        snprintf(what, sizeof(what), "%s%s%sthe broker ended the session of the "
                 "subscriptions", source ? "attaching to " : "", source ? source : "",
                 source ? ": " : "");
        condition_error(pn_session_remote_condition(s), what, &why);
        conn_end(c, &why, true);
    }
}

static void
on_link_closed(struct a10_conn *c, pn_link_t *link)
{
    qmf_error why;

    if (pn_link_is_sender(link)) {
        sender_lost(c, link);
        return;
    }
    if (pn_link_state(link) & PN_LOCAL_CLOSED)
        return;     /* the answer to our detach (bus_pause, bus_unsubscribe) */
    if (late_of_link(link) != NULL) {
        late_refused(c, late_of_link(link), pn_link_remote_condition(link));
        return;
    }
    if (pn_link_session(link) != c->rsession)
        return;     /* a late subscription's that has ended */
    /* A subscription ended: start over, which attaches it again. */
    condition_error(pn_link_remote_condition(link), "the broker detached a subscription",
                    &why);
    conn_end(c, &why, true);
}

static void
on_transport_error(struct a10_conn *c)
{
    pn_condition_t *cond = pn_transport_condition(c->driver.transport);
    const char *name = pn_condition_is_set(cond) ? pn_condition_get_name(cond) : NULL;
    const char *text = pn_condition_get_description(cond);
    bool refused = name != NULL && strcmp(name, "amqp:unauthorized-access") == 0;
    qmf_error why;
    char what[300];

    if (refused && c->cfg->tlsconf.sasl_external)
        snprintf(what, sizeof(what), "login to %s by certificate (SASL EXTERNAL, %s) refused",
                 c->cfg->shown, c->cfg->tlsconf.cert);
    else if (refused)
        snprintf(what, sizeof(what), "login to %s refused", c->cfg->shown);
    else
        snprintf(what, sizeof(what), "connection to the broker %s lost", c->cfg->shown);
    condition_error(cond, what, &why);
    /* proton's words for a silent broker. */
    if (text != NULL && strstr(text, "idle-timeout") != NULL)
        qmf_error_set(&why, QMF_ERR_TRANSPORT, "no heartbeat from the broker %s for %d s",
                      c->cfg->shown, 2 * c->cfg->heartbeat_s);
    conn_end(c, &why, false);
}

static void
handle(struct a10_conn *c, pn_event_t *e)
{
    qmf_error why;

    switch (pn_event_type(e)) {
    case PN_CONNECTION_REMOTE_OPEN:
        c->remote_open = true;
        check_up(c);
        break;
    case PN_CONNECTION_REMOTE_CLOSE:
        condition_error(pn_connection_remote_condition(c->driver.connection),
                        "the broker closed the connection", &why);
        conn_end(c, &why, true);
        break;
    case PN_SESSION_REMOTE_CLOSE:
        on_session_closed(c, pn_event_session(e));
        break;
    case PN_LINK_REMOTE_OPEN:
        if (pn_link_is_receiver(pn_event_link(e)) &&
            pn_terminus_get_address(pn_link_remote_source(pn_event_link(e))) != NULL) {
            struct a10_late *l = late_of_link(pn_event_link(e));

            if (l != NULL && !l->cancelled && l->done != NULL)
                l->done((struct bus_conn *)c, NULL, l->opaque);
            else if (l == NULL && pn_link_session(pn_event_link(e)) == c->rsession)
                c->attached++;
            check_up(c);
        }
        break;
    case PN_LINK_REMOTE_CLOSE:
    case PN_LINK_REMOTE_DETACH:
        /* A refused attach ends the session, which says why. */
        if (!(pn_session_state(pn_link_session(pn_event_link(e))) & PN_REMOTE_CLOSED))
            on_link_closed(c, pn_event_link(e));
        break;
    case PN_DELIVERY:
        if (pn_link_is_receiver(pn_delivery_link(pn_event_delivery(e))))
            on_incoming(c, pn_event_delivery(e));
        else
            on_outcome(c, pn_event_delivery(e));
        break;
    case PN_TRANSPORT_ERROR:
        on_transport_error(c);
        break;
    case PN_TRANSPORT_CLOSED:
        qmf_error_set(&why, QMF_ERR_TRANSPORT, "connection to the broker %s lost",
                      c->cfg->shown);
        conn_end(c, &why, false);
        break;
    default:
        break;
    }
}

/* I/O ------------------------------------------------------------------------ */

/* Writes what the driver has, without blocking. */
static void
flush_output(struct a10_conn *c)
{
    short want = 0;

    if (a10_drive_write(&c->driver, &c->wire, &want) == A10_IO_AGAIN && want == EV_WRITE)
        event_add(c->ev_write, NULL);
}

static void
rearm_tick(struct a10_conn *c)
{
    uint64_t now = now_ms();
    int64_t next = pn_transport_tick(c->driver.transport, (int64_t)now);
    struct timeval tv;

    if (next <= 0) {
        event_del(c->ev_tick);
        return;
    }
    next = next > (int64_t)now ? next - (int64_t)now : 1;
    tv.tv_sec = (time_t)(next / 1000);
    tv.tv_usec = (suseconds_t)(next % 1000) * 1000;
    evtimer_add(c->ev_tick, &tv);
}

/*
 * Handles every event the driver has, writes what it produced, and sets
 * the timer for the next heartbeat or idle check.  Stops at once when a
 * callback closed the connection or the driver went away.
 */
static void
pump(struct a10_conn *c)
{
    uint64_t epoch = c->epoch;
    pn_event_t *e;

    while (c->have_driver && c->epoch == epoch && !c->closed) {
        while ((e = pn_connection_driver_next_event(&c->driver)) != NULL) {
            handle(c, e);
            if (c->epoch != epoch || c->closed)
                return;
        }
        flush_output(c);
        rearm_tick(c);
        if (!pn_connection_driver_has_event(&c->driver))
            break;
    }
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct a10_conn *c = arg;
    short want = 0;

    if (!c->have_driver)
        return;
    conn_enter(c);
    if (a10_drive_read(&c->driver, &c->wire, A10_READ_BUDGET, &want) == A10_IO_AGAIN &&
        want == EV_WRITE)
        event_add(c->ev_write, NULL);
    pump(c);
    /* TLS may hold decrypted bytes the socket will not signal again. */
    if (c->have_driver && !c->closed && c->wire.ssl != NULL && SSL_pending(c->wire.ssl) > 0)
        event_active(c->ev_read, EV_READ, 0);
    conn_leave(c);
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct a10_conn *c = arg;

    if (!c->have_driver)
        return;
    conn_enter(c);
    pump(c);
    /* A TLS read that wanted to write may go on now. */
    if (c->have_driver && !c->closed && c->wire.ssl != NULL)
        event_active(c->ev_read, EV_READ, 0);
    conn_leave(c);
}

static void
on_pump(evutil_socket_t fd, short what, void *arg)
{
    struct a10_conn *c = arg;

    conn_enter(c);
    pump(c);
    conn_leave(c);
}

static bool
input_waiting(const struct a10_conn *c)
{
    return (c->wire.ssl != NULL && SSL_pending(c->wire.ssl) > 0) ||
           bus_fd_ready(c->wire.fd, POLLIN);
}

/* The heartbeat and idle check.  A loop kept busy past the idle timeout
 * (a loaded host, a simulator's thousand agents) may run this timer
 * before the read that would tell proton the broker spoke: read first. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct a10_conn *c = arg;

    if (c->have_driver && !c->closed && input_waiting(c))
        on_readable(c->wire.fd, EV_READ, arg);
    else
        on_pump(fd, what, arg);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct a10_conn *c = arg;
    qmf_error why;

    if (c->state != A10_OPENING || c->closed)
        return;
    conn_enter(c);
    qmf_error_set(&why, QMF_ERR_TRANSPORT, "the broker %s did not open the connection "
                  "within %d s", c->cfg->shown, A10_CONNECT_TIMEOUT_S);
    conn_end(c, &why, false);
    conn_leave(c);
}

/* Connection life ------------------------------------------------------------ */

struct goodbye {
    pn_connection_driver_t driver;
    struct a10_wire wire;
    struct bus_threads *threads;
};

static void *
goodbye_main(void *arg)
{
    struct goodbye *g = arg;

    a10_goodbye(&g->driver, &g->wire, A10_CLOSE_TIMEOUT_MS);
    /* The TLS goodbye made OpenSSL state on this thread, which the owner
     * of the threads may be waiting to see gone. */
    OPENSSL_thread_stop();
    bus_threads_leave(g->threads);
    free(g);
    return NULL;
}

/* Lets go of the driver and its socket: politely (close, and the broker's
 * answer awaited off the loop, or here with wait_ms), or at once. */
static void
release_driver(struct a10_conn *c, bool polite, unsigned wait_ms)
{
    struct goodbye *g;

    if (!polite) {
        a10_wire_close(&c->wire);
        pn_connection_driver_destroy(&c->driver);
        return;
    }
    if (wait_ms > 0) {
        a10_goodbye(&c->driver, &c->wire, wait_ms);
        return;
    }
    g = qmf_xmalloc(sizeof(*g));
    g->driver = c->driver;
    g->wire = c->wire;
    g->threads = c->cfg->threads;
    bus_threads_enter(g->threads);
    if (bus_thread_start(goodbye_main, g) != 0) {
        /* No thread: say close at least, without waiting for the answer. */
        bus_threads_leave(g->threads);
        a10_goodbye(&g->driver, &g->wire, 0);
        free(g);
    }
}

/* The lock connection stops being watched; it still holds the locks,
 * until the next attempt or the close lets it go. */
static void
lock_unwatch(struct a10_conn *c)
{
    struct amqp_connection_state_t_ *amqp = a10_lock_unwatch(c->lock);

    c->lock = NULL;
    if (amqp == NULL)
        return;
    a10_lock_release(c->stale_lock, c->cfg->threads, 0);
    c->stale_lock = amqp;
}

/* Lets the locks go, now (wait_ms) or on a thread (0). */
static void
lock_release(struct a10_conn *c, unsigned wait_ms)
{
    lock_unwatch(c);
    a10_lock_release(c->stale_lock, c->cfg->threads, wait_ms);
    c->stale_lock = NULL;
}

/* Takes the broker connection away from c. */
static void
teardown(struct a10_conn *c, bool polite, unsigned wait_ms)
{
    struct bus_held *h;
    struct a10_confirm *p;
    struct a10_late *l;
    size_t i;

    if (!c->have_driver)
        return;
    c->epoch++;
    event_free(c->ev_read);
    event_free(c->ev_write);
    c->ev_read = c->ev_write = NULL;
    event_del(c->ev_tick);
    event_del(c->ev_pump);
    event_del(c->ev_deadline);
    /* Nothing of proton is touched again from here on. */
    for (h = c->deliveries; h != NULL; h = h->next)
        ((struct a10_delivery *)h)->pn = NULL;
    for (p = c->confirms; p != NULL; p = p->next)
        p->pn = NULL;
    for (i = 0; i < c->cfg->nsubs; i++)
        incoming_reset(&c->incoming[i]);
    lane_forget(&c->confirmed);
    lane_forget(&c->presettled);
    for (l = c->lates; l != NULL; l = l->next)
        late_detach(l);
    c->rsession = NULL;
    c->have_driver = false;
    lock_unwatch(c);
    release_driver(c, polite, wait_ms);
    memset(&c->driver, 0, sizeof(c->driver));
    c->wire.fd = -1;
    c->wire.ssl = NULL;
}

/* Returns false if a callback closed the connection. */
static bool
report_down(struct a10_conn *c, const qmf_error *why)
{
    c->down_reported = true;
    if (c->handlers.down != NULL)
        c->handlers.down((struct bus_conn *)c, why, c->opaque);
    return !c->closed;
}

/* The next attempt goes to the next broker of the list. */
static void
schedule_retry(struct a10_conn *c)
{
    c->state = A10_WAITING;
    bus_backoff_arm(&c->backoff, c->ev_retry);
    c->cfg = c->cfgs[bus_backoff_next_url(&c->backoff)];
}

/*
 * The connection (up, or still opening) is over: polite when the link
 * still works and only the connection is of no more use.  down is said
 * once per loss: when an up connection is lost, or for the first failed
 * attempt after one (a lock held elsewhere every time: the caller decides
 * whether to go on).
 */
static void
conn_end(struct a10_conn *c, const qmf_error *why, bool polite)
{
    bool was_up = c->state == A10_UP;

    if (c->closed || (c->state != A10_UP && c->state != A10_OPENING &&
                      c->state != A10_CONNECTING))
        return;
    teardown(c, polite, 0);
    c->state = A10_DOWN;
    /* No attempt will come to let the locks go. */
    if (!c->cfg->reconnect)
        lock_release(c, 0);
    if (!confirms_fail_all(c))
        return;
    if ((was_up || !c->down_reported || why->code == QMF_ERR_LOCKED) && !report_down(c, why))
        return;
    if (c->cfg->reconnect && c->state == A10_DOWN)
        schedule_retry(c);
}

/* A receiver of s on queue, attached and given its credit. */
static pn_link_t *
receiver_open(pn_session_t *session, const char *name, const struct a10_sub *s,
              const char *queue)
{
    char *source = qmf_xasprintf("/amq/queue/%s", queue);
    pn_link_t *l = pn_receiver(session, name);

    pn_terminus_set_address(pn_link_source(l), source);
    free(source);
    if (s->stream_offset != NULL) {
        pn_data_t *filter = pn_terminus_filter(pn_link_source(l));
        int64_t offset = 0;

        pn_data_put_map(filter);
        pn_data_enter(filter);
        pn_data_put_symbol(filter, pn_bytes(27, "rabbitmq:stream-offset-spec"));
        if (s->stream_offset->kind == QMF_STRING)
            pn_data_put_string(filter, pn_bytes(qmf_bytes_len(s->stream_offset),
                                                qmf_as_bytes(s->stream_offset)));
        else if (qmf_get_int64(s->stream_offset, &offset))
            pn_data_put_long(filter, offset);
        pn_data_exit(filter);
    }
    pn_link_set_snd_settle_mode(l, s->no_ack ? PN_SND_SETTLED : PN_SND_UNSETTLED);
    pn_link_set_rcv_settle_mode(l, PN_RCV_FIRST);
    pn_link_open(l);
    pn_link_flow(l, (int)(s->credit > INT32_MAX ? INT32_MAX : s->credit));
    return l;
}

/* The AMQP side of a connection, on the socket the connect thread made. */
static int
start_amqp(struct a10_conn *c, struct a10_wire *wire, char **names, qmf_error *err)
{
    const struct a10_config *cfg = c->cfg;
    pn_connection_t *pc = pn_connection();
    pn_transport_t *t = pn_transport();
    char *hostname, name[32];
    pn_sasl_t *sasl;
    struct timeval deadline = { A10_CONNECT_TIMEOUT_S, 0 };
    size_t i;

    if (pc == NULL || t == NULL || pn_connection_driver_init(&c->driver, pc, t) != 0) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "cannot create an AMQP 1.0 connection");
        a10_wire_close(wire);
        bus_strings_free(names, cfg->nall);
        return -1;
    }
    c->wire = *wire;
    c->have_driver = true;
    c->generation++;
    bus_strings_free(c->queue_names, cfg->nall);
    c->queue_names = names;
    c->remote_open = false;
    c->attached = 0;
    c->paused = false;
    /* The broker hears from us within half our idle timeout, and we call
     * it dead after two heartbeat intervals of silence, as on 0-9-1. */
    pn_transport_set_idle_timeout(t, (pn_millis_t)cfg->heartbeat_s * 2000);
    pn_transport_set_max_frame(t, A10_MAX_FRAME);
    sasl = pn_sasl(t);
    pn_sasl_allowed_mechs(sasl, cfg->tlsconf.sasl_external ? "EXTERNAL" : "PLAIN");
    /* PLAIN over TLS: proton does not know of our TLS (bus_tls.c). */
    pn_sasl_set_allow_insecure_mechs(sasl, true);
    pn_connection_set_container(pc, cfg->name ? cfg->name : "virtbus");
    hostname = qmf_xasprintf("vhost:%s", cfg->vhost);   /* RabbitMQ's form */
    pn_connection_set_hostname(pc, hostname);
    free(hostname);
    if (!cfg->tlsconf.sasl_external) {
        pn_connection_set_user(pc, cfg->user);
        pn_connection_set_password(pc, cfg->password);
    }
    pn_connection_open(pc);
    c->rsession = pn_session(pc);
    pn_session_open(c->rsession);
    for (i = 0; i < cfg->nsubs; i++) {
        const struct a10_sub *s = &cfg->subs[i];

        snprintf(name, sizeof(name), "virtbus-%zu", i);
        c->receivers[i] = receiver_open(c->rsession, name, s,
                                        s->by_index ? names[s->queue_index] : s->queue);
        pn_link_set_context(c->receivers[i], (void *)(uintptr_t)(i + 1));
        c->owed[i] = 0;
    }
    lane_open(c, &c->confirmed);
    lane_open(c, &c->presettled);
    c->ev_read = event_new(c->evbase, c->wire.fd, EV_READ | EV_PERSIST, on_readable, c);
    c->ev_write = event_new(c->evbase, c->wire.fd, EV_WRITE, on_writable, c);
    event_add(c->ev_read, NULL);
    evtimer_add(c->ev_deadline, &deadline);
    c->state = A10_OPENING;
    return 0;
}

/* Connect thread ---------------------------------------------------------- */

static void *
attempt_run(void *arg, qmf_error *err)
{
    struct a10_job_arg *j = arg;
    struct a10_attempt *a = qmf_xcalloc(1, sizeof(*a));
    struct amqp_connection_state_t_ *stale = j->stale_lock;

    j->stale_lock = NULL;
    if (a10_connect(j->cfg, stale, &a->wire, &a->names, &a->lock, err) != 0) {
        free(a);
        return NULL;
    }
    return a;
}

/* A socket nobody wants any more: no AMQP was said on it yet; and the
 * locks. */
static void
attempt_discard(void *arg, void *result)
{
    const struct a10_job_arg *j = arg;
    struct a10_attempt *a = result;

    a10_wire_close(&a->wire);
    bus_strings_free(a->names, j->cfg->nall);
    a10_lock_release(a->lock, NULL, A10_CLOSE_TIMEOUT_MS);
    free(a);
}

static void
attempt_release(void *arg)
{
    struct a10_job_arg *j = arg;

    /* Only when the thread never ran: this may be the loop. */
    a10_lock_release(j->stale_lock, j->cfg->threads, 0);
    a10_config_unref(j->cfg);
    free(j);
}

static const struct bus_job_ops attempt_ops = {
    attempt_run, attempt_discard, attempt_release,
};

/* Takes the job away from the connection, with its result if any. */
static bool
job_detach(struct a10_conn *c, struct a10_wire *wire, char ***names,
           struct amqp_connection_state_t_ **lock, qmf_error *err)
{
    struct a10_attempt *a = bus_job_detach(c->job, err);

    c->job = NULL;
    if (a == NULL)
        return false;
    *wire = a->wire;
    *names = a->names;
    *lock = a->lock;
    free(a);
    return true;
}

static int
start_attempt(struct a10_conn *c, qmf_error *err)
{
    struct a10_job_arg *j = qmf_xcalloc(1, sizeof(*j));

    j->cfg = a10_config_ref(c->cfg);
    j->stale_lock = c->stale_lock;
    c->stale_lock = NULL;
    c->job = bus_job_start(&attempt_ops, j, c->ev_handover, c->cfg->threads, err);
    if (c->job == NULL)
        return -1;
    c->state = A10_CONNECTING;
    return 0;
}

/* The locks are lost: so is the connection, whose work they guard. */
static void
on_lock_lost(void *opaque, const qmf_error *why)
{
    struct a10_conn *c = opaque;

    conn_enter(c);
    conn_end(c, why, true);
    conn_leave(c);
}

static void
on_handover(evutil_socket_t fd, short what, void *arg)
{
    struct a10_conn *c = arg;
    struct amqp_connection_state_t_ *lock = NULL;
    struct a10_wire wire;
    char **names;
    qmf_error err;

    if (c->job == NULL || c->closed)
        return;
    conn_enter(c);
    if (!job_detach(c, &wire, &names, &lock, &err)) {
        conn_end(c, &err, false);
    } else if (start_amqp(c, &wire, names, &err) != 0) {
        c->stale_lock = lock;
        conn_end(c, &err, false);
    } else {
        if (lock != NULL)
            c->lock = a10_lock_watch(c->evbase, lock, on_lock_lost, c);
        pump(c);
    }
    conn_leave(c);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct a10_conn *c = arg;
    qmf_error err;

    if (c->closed || c->state != A10_WAITING)
        return;
    conn_enter(c);
    if (start_attempt(c, &err) != 0) {
        c->state = A10_CONNECTING;
        conn_end(c, &err, false);
    }
    conn_leave(c);
}

/* Entry points ----------------------------------------------------------------- */

static int
a10_open(struct bus_conn **out, struct event_base *base, const struct bus_options *opts,
         const struct bus_handlers *h, void *opaque, qmf_error *err)
{
    struct a10_config *cfg;
    struct a10_conn *c;
    void **cfgs;
    size_t n;

    *out = NULL;
    cfgs = bus_configs_new(opts, config_make, config_unref, &n, err);
    if (cfgs == NULL)
        return -1;
    cfg = cfgs[0];
    c = qmf_xcalloc(1, sizeof(*c));
    c->base.driver = &bus_amqp10_driver;
    c->evbase = base;
    c->cfgs = cfgs;
    c->ncfgs = n;
    if (h != NULL)
        c->handlers = *h;
    c->opaque = opaque;
    bus_backoff_init(&c->backoff, opts->url, c, cfg->backoff_min_ms, cfg->backoff_max_ms, n);
    c->cfg = cfgs[c->backoff.url];
    c->state = A10_DOWN;
    c->wire.fd = -1;
    c->receivers = qmf_xcalloc(cfg->nsubs + 1, sizeof(*c->receivers));
    c->owed = qmf_xcalloc(cfg->nsubs + 1, sizeof(*c->owed));
    c->incoming = qmf_xcalloc(cfg->nsubs + 1, sizeof(*c->incoming));
    c->confirmed.letter = 'c';
    c->presettled.letter = 'p';
    c->presettled.presettled = true;
    c->ev_handover = event_new(base, -1, 0, on_handover, c);
    c->ev_retry = evtimer_new(base, on_retry, c);
    c->ev_pump = event_new(base, -1, 0, on_pump, c);
    c->ev_tick = evtimer_new(base, on_tick, c);
    c->ev_deadline = evtimer_new(base, on_deadline, c);
    if (start_attempt(c, err) != 0) {
        conn_free(c);
        return -1;
    }
    *out = (struct bus_conn *)c;
    return 0;
}

static const char *
a10_queue_name(struct bus_conn *bc, size_t i)
{
    struct a10_conn *c = (struct a10_conn *)bc;

    if (i >= c->cfg->nqueues)
        return NULL;
    if (c->queue_names != NULL)
        return c->queue_names[i];
    return c->cfg->names[i];
}

static bool
a10_is_up(struct bus_conn *bc)
{
    return conn_usable((struct a10_conn *)bc);
}

/*
 * Detaches every receiver (RabbitMQ cancels its consumer): nothing more
 * comes; deliveries held stay valid and are settled on the session.  Not
 * a drain of the credit: RabbitMQ 3.10.8 fails on one (function_clause in
 * rabbit_classic_queue:handle_event, ending the session).  A reconnect
 * attaches again, so pausing is for a connection about to be closed.
 */
static int
a10_pause(struct bus_conn *bc)
{
    struct a10_conn *c = (struct a10_conn *)bc;
    struct a10_late *l;
    size_t i;

    if (!conn_usable(c))
        return -1;
    c->paused = true;
    for (i = 0; i < c->cfg->nsubs; i++)
        pn_link_close(c->receivers[i]);
    for (l = c->lates; l != NULL; l = l->next) {
        if (l->link != NULL)
            pn_link_close(l->link);
    }
    schedule_pump(c);
    return 0;
}

/* What 1.0 alone cannot declare late (bus.c refused the unnamed): an
 * exclusive queue, whose declaring 0-9-1 connection ends at once. */
static int
late_queues_check(const struct bus_queue *queues, size_t n, qmf_error *err)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (queues[i].exclusive) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "a late declaration on AMQP 1.0 needs "
                          "queues that are not exclusive");
            return -1;
        }
    }
    return 0;
}

static int
a10_declare(struct bus_conn *bc, const struct bus_queue *queues, size_t nqueues,
            bus_done_cb done, void *opaque, qmf_error *err)
{
    struct a10_conn *c = (struct a10_conn *)bc;
    struct a10_late *l;

    if (!conn_usable(c)) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "not connected to the broker");
        return -1;
    }
    if (late_queues_check(queues, nqueues, err) != 0)
        return -1;
    l = late_new(c, queues, nqueues, done, opaque);
    if (late_begin(c, l, err) != 0) {
        late_free(l);
        return -1;
    }
    return 0;
}

static int
a10_subscribe(struct bus_conn *bc, const struct bus_queue *queue,
              const struct bus_subscription *sub, bus_done_cb started, struct bus_sub **out,
              qmf_error *err)
{
    struct a10_conn *c = (struct a10_conn *)bc;
    struct a10_late *l;

    *out = NULL;
    if (!conn_usable(c)) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "not connected to the broker");
        return -1;
    }
    if (late_queues_check(queue, queue != NULL ? 1 : 0, err) != 0)
        return -1;
    l = late_new(c, queue, queue != NULL ? 1 : 0, started, sub->opaque);
    l->subscription = true;
    if (a10_sub_copy(&l->sub, sub, 0, err) != 0) {
        late_free(l);
        return -1;
    }
    if (l->sub.direct_reply || l->sub.queue == NULL ||
        (queue != NULL && strcmp(queue->name, l->sub.queue) != 0)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "a late subscription consumes a named queue, "
                      "the one it declares");
        late_free(l);
        return -1;
    }
    if (late_begin(c, l, err) != 0) {
        late_free(l);
        return -1;
    }
    *out = (struct bus_sub *)l;
    return 0;
}

static void
a10_unsubscribe(struct bus_sub *bs)
{
    struct a10_late *l = (struct a10_late *)bs;

    l->cancelled = true;
    late_job_drop(l);
    if (l->conn != NULL && l->link != NULL && l->conn->have_driver) {
        pn_link_close(l->link);
        schedule_pump(l->conn);
    }
    if (l->held == 0)
        late_free(l);
}

/* wait_ms: 0 closes in the background, otherwise here (bus_close_wait). */
static void
close_conn(struct a10_conn *c, unsigned wait_ms)
{

    if (c == NULL || c->closed)
        return;
    c->closed = true;
    if (c->job != NULL) {
        struct amqp_connection_state_t_ *lock = NULL;
        struct a10_wire wire;
        char **names;
        qmf_error err;

        /* A connect thread still at work closes its result itself. */
        if (job_detach(c, &wire, &names, &lock, &err)) {
            a10_wire_close(&wire);
            bus_strings_free(names, c->cfg->nall);
            c->stale_lock = lock;
        }
    }
    teardown(c, true, wait_ms);
    lock_release(c, wait_ms);
    c->state = A10_DOWN;
    event_del(c->ev_handover);
    event_del(c->ev_retry);
    /* Unsettled deliveries go back to their queues with the connection;
     * the application may still settle (and so free) what it holds. */
    bus_held_orphan(&c->deliveries);
    late_orphan(c);
    /* Every one of them: confirms_fail_all() stops at the first callback
     * once the connection is closed, which it already is here (an agent
     * stopping with several outcomes unconfirmed leaked all but one). */
    conn_enter(c);
    while (c->confirms != NULL) {
        c->confirms->pn = NULL;
        confirm_done(c, c->confirms, false);
    }
    conn_leave(c);
}

static void
a10_close(struct bus_conn *bc)
{
    close_conn((struct a10_conn *)bc, 0);
}

static void
a10_close_wait(struct bus_conn *bc, unsigned timeout_ms)
{
    close_conn((struct a10_conn *)bc, timeout_ms > 0 ? timeout_ms : A10_CLOSE_TIMEOUT_MS);
}

static const char *
a10_broker(struct bus_conn *bc)
{
    return ((struct a10_conn *)bc)->cfg->shown;
}

static const char *const a10_schemes[] = { "amqp10", "amqps10", NULL };

const struct bus_driver bus_amqp10_driver = {
    .name = "amqp10",
    .schemes = a10_schemes,
    .open = a10_open,
    .check_url = a10_check_url,
    .publish = a10_publish,
    .ack = a10_ack,
    .reject = a10_reject,
    .queue_name = a10_queue_name,
    .is_up = a10_is_up,
    .pause = a10_pause,
    .close = a10_close,
    .close_wait = a10_close_wait,
    .broker = a10_broker,
    .declare = a10_declare,
    .subscribe = a10_subscribe,
    .unsubscribe = a10_unsubscribe,
};
