/*
 * libvirt's event implementation on a libevent loop: the file descriptors
 * and timers libvirt asks for (RPC sockets, keepalives, the test driver's
 * event queue flush) become libevent events, so that libvirt's callbacks run
 * on the same loop thread as the rest of the process.
 */
#include "drivers/driver.h"
#include "drivers/libvirt/eventloop.h"

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>

/* One libvirt handle (an fd) or timeout, as libvirt registered it. */
struct drv_watch {
    int id;
    bool is_timer;
    bool removed;              /* removal pending: never call cb again */
    int fd;
    int events;                /* handles: VIR_EVENT_HANDLE_* wanted */
    int interval_ms;           /* timers: -1 disabled, 0 asap, else period */
    virEventHandleCallback handle_cb;
    virEventTimeoutCallback timeout_cb;
    void *opaque;
    virFreeCallback ff;
    /*
     * libevent cannot change the events of an added event without
     * event_assign(), which is unsafe while its callback may run on the
     * loop thread; a handle therefore keeps one event per direction and
     * enabling a direction is just event_add()/event_del_noblock().
     */
    struct event *ev_read;
    struct event *ev_write;
    struct event *ev_timer;
    struct drv_watch *next;
};

/*
 * The one piece of process-wide mutable state in virtbus, by necessity:
 * libvirt keeps a single event implementation per process
 * (virEventRegisterImpl) and its add/update/remove functions carry no
 * opaque pointer, so the loop they target and the table of watches can
 * only live here.  drv_event_loop_install() writes `base` once; the table
 * changes from whichever thread libvirt calls us on (worker threads during
 * virConnectOpen or event registration, the loop thread from callbacks),
 * hence the mutex.  It is never held while a libvirt callback runs, and
 * libevent is only asked for non-blocking operations under it, so a
 * callback that re-enters these functions cannot deadlock.
 *
 * Lookups scan the list: O(N) in the number of watches, a handful per
 * connection.
 */
static struct {
    pthread_mutex_t lock;
    struct event_base *base;
    struct drv_watch *watches;
    int next_id;
} drv_loop = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .base = NULL,
    .watches = NULL,
    .next_id = 1,
};

static const struct timeval drv_loop_now = { 0, 0 };

static struct drv_watch *
drv_loop_find(int id, bool is_timer)
{
    struct drv_watch *w;

    for (w = drv_loop.watches; w != NULL; w = w->next)
        if (w->id == id && w->is_timer == is_timer)
            return w;
    return NULL;
}

static void
drv_loop_unlink(struct drv_watch *dead)
{
    struct drv_watch **p;

    for (p = &drv_loop.watches; *p != NULL; p = &(*p)->next) {
        if (*p == dead) {
            *p = dead->next;
            return;
        }
    }
}

static void
drv_loop_arm_handle(struct drv_watch *w)
{
    if (w->events & VIR_EVENT_HANDLE_READABLE)
        event_add(w->ev_read, NULL);
    else
        event_del_noblock(w->ev_read);
    if (w->events & VIR_EVENT_HANDLE_WRITABLE)
        event_add(w->ev_write, NULL);
    else
        event_del_noblock(w->ev_write);
}

static void
drv_loop_arm_timer(struct drv_watch *w)
{
    struct timeval tv;

    if (w->interval_ms < 0) {
        event_del_noblock(w->ev_timer);
        return;
    }
    tv.tv_sec = w->interval_ms / 1000;
    tv.tv_usec = (w->interval_ms % 1000) * 1000;
    event_add(w->ev_timer, &tv);
}

/*
 * libevent has no hang-up or error conditions of its own: epoll reports
 * them as readiness.  A zero-timeout poll() recovers them so libvirt sees
 * HANGUP/ERROR as its own poll loop would report them.
 */
static int
drv_loop_fd_conditions(int fd, int wanted)
{
    struct pollfd p = { .fd = fd, .events = 0, .revents = 0 };
    int events = 0;

    if (wanted & VIR_EVENT_HANDLE_READABLE)
        p.events |= POLLIN;
    if (wanted & VIR_EVENT_HANDLE_WRITABLE)
        p.events |= POLLOUT;
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & POLLHUP)
        events |= VIR_EVENT_HANDLE_HANGUP;
    if (p.revents & (POLLERR | POLLNVAL))
        events |= VIR_EVENT_HANDLE_ERROR;
    return events;
}

static void
drv_loop_handle_ready(evutil_socket_t fd, short what, void *arg)
{
    struct drv_watch *w = arg;
    virEventHandleCallback cb;
    void *opaque;
    int id, wanted, events = 0;

    pthread_mutex_lock(&drv_loop.lock);
    if (w->removed) {
        pthread_mutex_unlock(&drv_loop.lock);
        return;
    }
    cb = w->handle_cb;
    opaque = w->opaque;
    id = w->id;
    wanted = w->events;
    pthread_mutex_unlock(&drv_loop.lock);

    if (what & EV_READ)
        events |= VIR_EVENT_HANDLE_READABLE;
    if (what & EV_WRITE)
        events |= VIR_EVENT_HANDLE_WRITABLE;
    events |= drv_loop_fd_conditions(fd, wanted);
    cb(id, fd, events, opaque);
}

/*
 * Timers are one-shot libevent events re-armed after each callback: a
 * persistent zero timeout would make libevent spin, while libvirt's "0"
 * only asks for "on the next iteration" until it sets -1 again (as its
 * event queue does once flushed).
 */
static void
drv_loop_timer_fired(evutil_socket_t fd, short what, void *arg)
{
    struct drv_watch *w = arg;
    virEventTimeoutCallback cb;
    void *opaque;
    int id;

    pthread_mutex_lock(&drv_loop.lock);
    if (w->removed || w->interval_ms < 0) {
        pthread_mutex_unlock(&drv_loop.lock);
        return;
    }
    cb = w->timeout_cb;
    opaque = w->opaque;
    id = w->id;
    pthread_mutex_unlock(&drv_loop.lock);

    cb(id, opaque);

    /* The callback may have updated or removed the timer itself. */
    pthread_mutex_lock(&drv_loop.lock);
    if (!w->removed && w->interval_ms >= 0 &&
        !event_pending(w->ev_timer, EV_TIMEOUT, NULL))
        drv_loop_arm_timer(w);
    pthread_mutex_unlock(&drv_loop.lock);
}

/* On the loop thread, after removal: libvirt forbids calling ff from
 * within remove, since its callers hold locks ff may take. */
static void
drv_loop_release(evutil_socket_t fd, short what, void *arg)
{
    struct drv_watch *w = arg;

    if (w->ff != NULL)
        w->ff(w->opaque);
    if (w->ev_read != NULL)
        event_free(w->ev_read);
    if (w->ev_write != NULL)
        event_free(w->ev_write);
    if (w->ev_timer != NULL)
        event_free(w->ev_timer);
    free(w);
}

static int
drv_loop_add_handle(int fd, int events, virEventHandleCallback cb,
                    void *opaque, virFreeCallback ff)
{
    struct drv_watch *w = qmf_xcalloc(1, sizeof(*w));
    int id;

    w->fd = fd;
    w->events = events;
    w->handle_cb = cb;
    w->opaque = opaque;
    w->ff = ff;

    pthread_mutex_lock(&drv_loop.lock);
    if (drv_loop.base == NULL)
        goto fail;
    w->ev_read = event_new(drv_loop.base, fd, EV_READ | EV_PERSIST,
                           drv_loop_handle_ready, w);
    w->ev_write = event_new(drv_loop.base, fd, EV_WRITE | EV_PERSIST,
                            drv_loop_handle_ready, w);
    if (w->ev_read == NULL || w->ev_write == NULL)
        goto fail;
    id = w->id = drv_loop.next_id++;
    w->next = drv_loop.watches;
    drv_loop.watches = w;
    drv_loop_arm_handle(w);
    pthread_mutex_unlock(&drv_loop.lock);
    return id;

fail:
    pthread_mutex_unlock(&drv_loop.lock);
    if (w->ev_read != NULL)
        event_free(w->ev_read);
    if (w->ev_write != NULL)
        event_free(w->ev_write);
    free(w);
    return -1;
}

static void
drv_loop_update_handle(int id, int events)
{
    struct drv_watch *w;

    pthread_mutex_lock(&drv_loop.lock);
    w = drv_loop_find(id, false);
    if (w != NULL) {
        w->events = events;
        drv_loop_arm_handle(w);
    }
    pthread_mutex_unlock(&drv_loop.lock);
}

static int
drv_loop_remove(int id, bool is_timer)
{
    struct drv_watch *w;
    struct event_base *base;

    pthread_mutex_lock(&drv_loop.lock);
    w = drv_loop_find(id, is_timer);
    if (w == NULL) {
        pthread_mutex_unlock(&drv_loop.lock);
        return -1;
    }
    w->removed = true;
    drv_loop_unlink(w);
    if (is_timer) {
        event_del_noblock(w->ev_timer);
    } else {
        event_del_noblock(w->ev_read);
        event_del_noblock(w->ev_write);
    }
    base = drv_loop.base;
    pthread_mutex_unlock(&drv_loop.lock);

    /* Should libevent fail to schedule the release (out of memory), the
     * watch leaks rather than breaking libvirt's locking rule. */
    event_base_once(base, -1, EV_TIMEOUT, drv_loop_release, w, &drv_loop_now);
    return 0;
}

static int
drv_loop_remove_handle(int id)
{
    return drv_loop_remove(id, false);
}

static int
drv_loop_add_timeout(int interval_ms, virEventTimeoutCallback cb,
                     void *opaque, virFreeCallback ff)
{
    struct drv_watch *w = qmf_xcalloc(1, sizeof(*w));
    int id;

    w->is_timer = true;
    w->fd = -1;
    w->interval_ms = interval_ms;
    w->timeout_cb = cb;
    w->opaque = opaque;
    w->ff = ff;

    pthread_mutex_lock(&drv_loop.lock);
    if (drv_loop.base == NULL ||
        (w->ev_timer = evtimer_new(drv_loop.base, drv_loop_timer_fired, w)) == NULL) {
        pthread_mutex_unlock(&drv_loop.lock);
        free(w);
        return -1;
    }
    id = w->id = drv_loop.next_id++;
    w->next = drv_loop.watches;
    drv_loop.watches = w;
    drv_loop_arm_timer(w);
    pthread_mutex_unlock(&drv_loop.lock);
    return id;
}

static void
drv_loop_update_timeout(int id, int interval_ms)
{
    struct drv_watch *w;

    pthread_mutex_lock(&drv_loop.lock);
    w = drv_loop_find(id, true);
    if (w != NULL) {
        w->interval_ms = interval_ms;
        drv_loop_arm_timer(w);
    }
    pthread_mutex_unlock(&drv_loop.lock);
}

static int
drv_loop_remove_timeout(int id)
{
    return drv_loop_remove(id, true);
}

/* libvirt prints every error to stderr unless a handler is set; ours are
 * reported as values from virGetLastError() instead. */
static void
drv_loop_quiet_error(void *opaque, virErrorPtr error)
{
}

int
drv_event_loop_install(struct event_base *base, qmf_error *err)
{
    virErrorPtr e;

    if (base == NULL) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "no event base to run libvirt's events on");
        return -1;
    }
    /* libxml2 must be initialised once, before threads use it (the
     * backend parses libvirt's XML on worker threads). */
    xmlInitParser();
    if (virInitialize() < 0) {
        e = virGetLastError();
        qmf_error_set(err, QMF_ERR_LIBVIRT | (e != NULL ? (uint32_t)e->code : 0),
                      "cannot initialise libvirt: %s",
                      e != NULL && e->message != NULL ? e->message : "unknown error");
        return -1;
    }

    pthread_mutex_lock(&drv_loop.lock);
    if (drv_loop.base != NULL && drv_loop.base != base) {
        pthread_mutex_unlock(&drv_loop.lock);
        qmf_error_set(err, QMF_ERR_INTERNAL,
                      "libvirt's event loop is already installed on another event base");
        return -1;
    }
    if (drv_loop.base == NULL) {
        drv_loop.base = base;
        /* Both are process-wide and only store pointers, so they are safe
         * under the lock. */
        virSetErrorFunc(NULL, drv_loop_quiet_error);
        virEventRegisterImpl(drv_loop_add_handle, drv_loop_update_handle,
                             drv_loop_remove_handle, drv_loop_add_timeout,
                             drv_loop_update_timeout, drv_loop_remove_timeout);
    }
    pthread_mutex_unlock(&drv_loop.lock);
    return 0;
}

int
drv_event_loop_once(event_callback_fn fn, void *arg)
{
    struct event_base *base;

    pthread_mutex_lock(&drv_loop.lock);
    base = drv_loop.base;
    pthread_mutex_unlock(&drv_loop.lock);
    if (base == NULL)
        return -1;
    return event_base_once(base, -1, EV_TIMEOUT, fn, arg, &drv_loop_now);
}
