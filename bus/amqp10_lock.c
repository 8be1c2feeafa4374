/*
 * The lock connection of an AMQP 1.0 connection, watched from the loop.
 *
 * RabbitMQ 3.10's 1.0 plugin can neither declare an exclusive queue nor
 * consume one that another connection declared, so a lock (an agent's node
 * lock, virtbus.lock.<node>) is held by the 0-9-1 connection that declared
 * the topology, kept open beside the 1.0 connection (docs/TRANSPORTS.md,
 * "Locks").  The lock is only as good as that connection: the broker must
 * keep hearing from it (heartbeats), and its loss must end the 1.0
 * connection too, or another process could take the lock while this one
 * still serves.  Nothing is consumed on it; what arrives is heartbeats, a
 * late answer of the set-up, or the broker's close.
 */
#include "bus/amqp10_int.h"

#include <stdlib.h>
#include <string.h>

#include <amqp.h>
#include <event2/event.h>

#include "bus/amqp091_int.h"
#include "bus/backend.h"

/* Frames read per readiness before yielding to the rest of the loop. */
#define LOCK_FRAME_BUDGET 64

struct a10_lock {
    amqp_connection_state_t amqp;  /* NULL once the broker closed it */
    struct event *ev_read, *ev_tick;
    uint64_t last_in_ns;
    int heartbeat_s;
    a10_lock_lost_cb lost;
    void *opaque;
};

/* The lock is gone: stop watching, and tell the owner (last, since it
 * frees l). */
static void
lock_lost(struct a10_lock *l, const qmf_error *why)
{
    event_del(l->ev_read);
    event_del(l->ev_tick);
    l->lost(l->opaque, why);
}

static void
on_lock_frame(struct a10_lock *l, const amqp_frame_t *f, qmf_error *why)
{
    const amqp_connection_close_t *cl;
    amqp_connection_close_ok_t ok;

    if (f->frame_type != AMQP_FRAME_METHOD || f->payload.method.id != AMQP_CONNECTION_CLOSE_METHOD)
        return;     /* a late set-up answer; heartbeats rabbitmq-c takes itself */
    cl = f->payload.method.decoded;
    qmf_error_set(why, QMF_ERR_TRANSPORT, "the broker closed the connection that holds "
                  "the locks: %u %.*s", cl->reply_code, (int)cl->reply_text.len,
                  (const char *)cl->reply_text.bytes);
    memset(&ok, 0, sizeof(ok));
    amqp_send_method(l->amqp, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    amqp_destroy_connection(l->amqp);
    l->amqp = NULL;
}

static void
on_lock_readable(evutil_socket_t fd, short what, void *arg)
{
    struct a10_lock *l = arg;
    int budget = LOCK_FRAME_BUDGET;
    qmf_error why;

    qmf_error_clear(&why);
    l->last_in_ns = bus_now_ns();
    while (budget-- > 0) {
        struct timeval zero = { 0, 0 };
        amqp_frame_t frame;
        int rc = amqp_simple_wait_frame_noblock(l->amqp, &frame, &zero);

        if (rc == AMQP_STATUS_TIMEOUT)
            break;
        if (rc != AMQP_STATUS_OK) {
            qmf_error_set(&why, QMF_ERR_TRANSPORT, "the connection that holds the locks "
                          "failed: %s", amqp_error_string2(rc));
            break;
        }
        on_lock_frame(l, &frame, &why);
        if (why.code != QMF_OK)
            break;
        amqp_maybe_release_buffers(l->amqp);
    }
    if (why.code != QMF_OK)
        lock_lost(l, &why);
    else if (budget < 0)
        event_active(l->ev_read, EV_READ, 0);
}

/* Every half interval a heartbeat (nothing else is sent on it); two
 * intervals without a byte from the broker mean it is gone. */
static void
on_lock_tick(evutil_socket_t fd, short what, void *arg)
{
    struct a10_lock *l = arg;
    uint64_t interval = (uint64_t)l->heartbeat_s * 1000000000u;
    amqp_frame_t hb;
    qmf_error why;
    int rc;

    if (bus_now_ns() - l->last_in_ns > 2 * interval) {
        qmf_error_set(&why, QMF_ERR_TRANSPORT, "no heartbeat from the broker for %d s on "
                      "the connection that holds the locks", 2 * l->heartbeat_s);
        lock_lost(l, &why);
        return;
    }
    memset(&hb, 0, sizeof(hb));
    hb.frame_type = AMQP_FRAME_HEARTBEAT;
    rc = amqp_send_frame(l->amqp, &hb);
    if (rc != AMQP_STATUS_OK) {
        qmf_error_set(&why, QMF_ERR_TRANSPORT, "sending a heartbeat on the connection that "
                      "holds the locks: %s", amqp_error_string2(rc));
        lock_lost(l, &why);
    }
}

struct a10_lock *
a10_lock_watch(struct event_base *base, amqp_connection_state_t amqp, a10_lock_lost_cb lost,
               void *opaque)
{
    struct a10_lock *l = qmf_xcalloc(1, sizeof(*l));

    l->amqp = amqp;
    l->lost = lost;
    l->opaque = opaque;
    l->heartbeat_s = amqp_get_heartbeat(amqp);
    l->last_in_ns = bus_now_ns();
    l->ev_read = event_new(base, amqp_get_sockfd(amqp), EV_READ | EV_PERSIST,
                           on_lock_readable, l);
    l->ev_tick = event_new(base, -1, EV_PERSIST, on_lock_tick, l);
    event_add(l->ev_read, NULL);
    if (l->heartbeat_s > 0) {
        uint64_t half_ms = (uint64_t)l->heartbeat_s * 500;
        struct timeval tv = { (time_t)(half_ms / 1000), (suseconds_t)(half_ms % 1000) * 1000 };

        event_add(l->ev_tick, &tv);
    }
    /* What came with the set-up's last answer is in rabbitmq-c already. */
    if (amqp_frames_enqueued(amqp) || amqp_data_in_buffer(amqp))
        event_active(l->ev_read, EV_READ, 0);
    return l;
}

amqp_connection_state_t
a10_lock_unwatch(struct a10_lock *l)
{
    amqp_connection_state_t amqp;

    if (l == NULL)
        return NULL;
    amqp = l->amqp;
    event_free(l->ev_read);
    event_free(l->ev_tick);
    free(l);
    return amqp;
}
