/*
 * The libvirt backend's connection: open and close, libvirt errors as QMF
 * errors, and libvirt's domain, pool, network and close events forwarded
 * to the connection's owner on the event loop thread.
 *
 * Errors: libvirt keeps its last error per thread, so it is read right
 * after the failing call and turned into QMF_ERR_LIBVIRT | virErrorNumber
 * with libvirt's own text.
 */
#include "drivers/libvirt/libvirt_impl.h"
#include "drivers/libvirt/eventloop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ---- */

/* Names: libvirt's enum suffixes in lower case, indexed by the enum. */
static const char *const drv_lv_event_names[] = {
    [VIR_DOMAIN_EVENT_DEFINED] = "defined",
    [VIR_DOMAIN_EVENT_UNDEFINED] = "undefined",
    [VIR_DOMAIN_EVENT_STARTED] = "started",
    [VIR_DOMAIN_EVENT_SUSPENDED] = "suspended",
    [VIR_DOMAIN_EVENT_RESUMED] = "resumed",
    [VIR_DOMAIN_EVENT_STOPPED] = "stopped",
    [VIR_DOMAIN_EVENT_SHUTDOWN] = "shutdown",
    [VIR_DOMAIN_EVENT_PMSUSPENDED] = "pmsuspended",
    [VIR_DOMAIN_EVENT_CRASHED] = "crashed",
};

static const char *const drv_lv_defined_details[] = {
    [VIR_DOMAIN_EVENT_DEFINED_ADDED] = "added",
    [VIR_DOMAIN_EVENT_DEFINED_UPDATED] = "updated",
    [VIR_DOMAIN_EVENT_DEFINED_RENAMED] = "renamed",
    [VIR_DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT] = "from_snapshot",
};

static const char *const drv_lv_undefined_details[] = {
    [VIR_DOMAIN_EVENT_UNDEFINED_REMOVED] = "removed",
    [VIR_DOMAIN_EVENT_UNDEFINED_RENAMED] = "renamed",
};

static const char *const drv_lv_started_details[] = {
    [VIR_DOMAIN_EVENT_STARTED_BOOTED] = "booted",
    [VIR_DOMAIN_EVENT_STARTED_MIGRATED] = "migrated",
    [VIR_DOMAIN_EVENT_STARTED_RESTORED] = "restored",
    [VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT] = "from_snapshot",
    [VIR_DOMAIN_EVENT_STARTED_WAKEUP] = "wakeup",
};

static const char *const drv_lv_suspended_details[] = {
    [VIR_DOMAIN_EVENT_SUSPENDED_PAUSED] = "paused",
    [VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED] = "migrated",
    [VIR_DOMAIN_EVENT_SUSPENDED_IOERROR] = "ioerror",
    [VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG] = "watchdog",
    [VIR_DOMAIN_EVENT_SUSPENDED_RESTORED] = "restored",
    [VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT] = "from_snapshot",
    [VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR] = "api_error",
    [VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY] = "postcopy",
    [VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED] = "postcopy_failed",
};

static const char *const drv_lv_resumed_details[] = {
    [VIR_DOMAIN_EVENT_RESUMED_UNPAUSED] = "unpaused",
    [VIR_DOMAIN_EVENT_RESUMED_MIGRATED] = "migrated",
    [VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT] = "from_snapshot",
    [VIR_DOMAIN_EVENT_RESUMED_POSTCOPY] = "postcopy",
    [VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED] = "postcopy_failed",
};

static const char *const drv_lv_stopped_details[] = {
    [VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN] = "shutdown",
    [VIR_DOMAIN_EVENT_STOPPED_DESTROYED] = "destroyed",
    [VIR_DOMAIN_EVENT_STOPPED_CRASHED] = "crashed",
    [VIR_DOMAIN_EVENT_STOPPED_MIGRATED] = "migrated",
    [VIR_DOMAIN_EVENT_STOPPED_SAVED] = "saved",
    [VIR_DOMAIN_EVENT_STOPPED_FAILED] = "failed",
    [VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT] = "from_snapshot",
};

static const char *const drv_lv_shutdown_details[] = {
    [VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED] = "finished",
    [VIR_DOMAIN_EVENT_SHUTDOWN_GUEST] = "guest",
    [VIR_DOMAIN_EVENT_SHUTDOWN_HOST] = "host",
};

static const char *const drv_lv_pmsuspended_details[] = {
    [VIR_DOMAIN_EVENT_PMSUSPENDED_MEMORY] = "memory",
    [VIR_DOMAIN_EVENT_PMSUSPENDED_DISK] = "disk",
};

static const char *const drv_lv_crashed_details[] = {
    [VIR_DOMAIN_EVENT_CRASHED_PANICKED] = "panicked",
    [VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED] = "crashloaded",
};

static const struct drv_lv_names drv_lv_event_details[] = {
    [VIR_DOMAIN_EVENT_DEFINED] = DRV_LV_NAMES(drv_lv_defined_details),
    [VIR_DOMAIN_EVENT_UNDEFINED] = DRV_LV_NAMES(drv_lv_undefined_details),
    [VIR_DOMAIN_EVENT_STARTED] = DRV_LV_NAMES(drv_lv_started_details),
    [VIR_DOMAIN_EVENT_SUSPENDED] = DRV_LV_NAMES(drv_lv_suspended_details),
    [VIR_DOMAIN_EVENT_RESUMED] = DRV_LV_NAMES(drv_lv_resumed_details),
    [VIR_DOMAIN_EVENT_STOPPED] = DRV_LV_NAMES(drv_lv_stopped_details),
    [VIR_DOMAIN_EVENT_SHUTDOWN] = DRV_LV_NAMES(drv_lv_shutdown_details),
    [VIR_DOMAIN_EVENT_PMSUSPENDED] = DRV_LV_NAMES(drv_lv_pmsuspended_details),
    [VIR_DOMAIN_EVENT_CRASHED] = DRV_LV_NAMES(drv_lv_crashed_details),
};

/* libvirt gives pools and networks no details (detail is always 0). */
static const char *const drv_lv_pool_event_names[] = {
    [VIR_STORAGE_POOL_EVENT_DEFINED] = "defined",
    [VIR_STORAGE_POOL_EVENT_UNDEFINED] = "undefined",
    [VIR_STORAGE_POOL_EVENT_STARTED] = "started",
    [VIR_STORAGE_POOL_EVENT_STOPPED] = "stopped",
    [VIR_STORAGE_POOL_EVENT_CREATED] = "created",
    [VIR_STORAGE_POOL_EVENT_DELETED] = "deleted",
};

static const char *const drv_lv_network_event_names[] = {
    [VIR_NETWORK_EVENT_DEFINED] = "defined",
    [VIR_NETWORK_EVENT_UNDEFINED] = "undefined",
    [VIR_NETWORK_EVENT_STARTED] = "started",
    [VIR_NETWORK_EVENT_STOPPED] = "stopped",
};

static const char *const drv_lv_close_reasons[] = {
    [VIR_CONNECT_CLOSE_REASON_ERROR] = "connection error",
    [VIR_CONNECT_CLOSE_REASON_EOF] = "end of file from the hypervisor",
    [VIR_CONNECT_CLOSE_REASON_KEEPALIVE] = "keepalive timeout",
    [VIR_CONNECT_CLOSE_REASON_CLIENT] = "closed by the client",
};

const char *
drv_lv_name(const char *const *names, size_t len, int i, const char *fallback)
{
    if (i < 0 || (size_t)i >= len || names[i] == NULL)
        return fallback;
    return names[i];
}

const char *
drv_lv_sub_name(const struct drv_lv_names *tables, size_t ntables, int i, int sub)
{
    if (i < 0 || (size_t)i >= ntables)
        return "unknown";
    return drv_lv_name(tables[i].names, tables[i].len, sub, "unknown");
}

void
drv_lv_set_optional(qmf_value *map, const char *key, const char *s)
{
    if (s != NULL && *s != '\0')
        qmf_map_set(map, key, qmf_string(s));
}

/* ---- the connection's notifications ---- */

static struct drv_lv_notify *
drv_lv_notify_new(const struct drv_events *events, void *opaque)
{
    struct drv_lv_notify *n = qmf_xcalloc(1, sizeof(*n));

    atomic_init(&n->refs, 1);
    atomic_init(&n->lost, false);
    pthread_mutex_init(&n->lock, NULL);
    if (events != NULL)
        n->events = *events;
    n->opaque = opaque;
    return n;
}

static void
drv_lv_notify_ref(struct drv_lv_notify *n)
{
    atomic_fetch_add(&n->refs, 1);
}

/* Also libvirt's freecb for the event callbacks. */
static void
drv_lv_notify_unref(void *opaque)
{
    struct drv_lv_notify *n = opaque;

    if (atomic_fetch_sub(&n->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&n->lock);
    free(n);
}

/*
 * Takes the lock every owner callback runs under; false (and unlocked) if
 * the owner closed meanwhile.  Callers then call n->events.<entry> if it is
 * set, and drv_lv_notify_end().
 */
static bool
drv_lv_notify_begin(struct drv_lv_notify *n)
{
    pthread_mutex_lock(&n->lock);
    if (!n->closed)
        return true;
    pthread_mutex_unlock(&n->lock);
    return false;
}

static void
drv_lv_notify_end(struct drv_lv_notify *n)
{
    pthread_mutex_unlock(&n->lock);
}

/* On the loop thread: tell the owner, unless it has closed meanwhile. */
static void
drv_lv_report_lost(evutil_socket_t fd, short what, void *arg)
{
    struct drv_lv_notify *n = arg;

    if (drv_lv_notify_begin(n)) {
        if (n->events.disconnected != NULL)
            n->events.disconnected(n->opaque, n->lost_reason);
        drv_lv_notify_end(n);
    }
    drv_lv_notify_unref(n);
}

/*
 * Marks the connection lost and tells the owner once.  The loss is found
 * on whatever thread noticed it (libvirt's RPC client can detect EOF in the
 * thread waiting for a reply), so the report always goes through the loop.
 */
static void
drv_lv_mark_lost(struct drv_lv_notify *n, const char *reason)
{
    if (atomic_exchange(&n->lost, true))
        return;
    /* Read on the loop after event_base_once, which orders the two. */
    n->lost_reason = reason;
    drv_lv_notify_ref(n);
    if (drv_event_loop_once(drv_lv_report_lost, n) < 0)
        drv_lv_notify_unref(n);
}

/* ---- libvirt's callbacks (on the loop thread) ---- */

static int
drv_lv_domain_lifecycle(virConnectPtr conn, virDomainPtr dom, int event,
                        int detail, void *opaque)
{
    struct drv_lv_notify *n = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    const char *name = virDomainGetName(dom);

    if (virDomainGetUUIDString(dom, uuid) < 0 || name == NULL)
        return 0;
    if (!drv_lv_notify_begin(n))
        return 0;
    if (n->events.domain_lifecycle != NULL)
        n->events.domain_lifecycle(n->opaque, uuid, name,
            drv_lv_name(drv_lv_event_names, DRV_LV_NELEMS(drv_lv_event_names),
                        event, "unknown"),
            drv_lv_sub_name(drv_lv_event_details, DRV_LV_NELEMS(drv_lv_event_details),
                            event, detail));
    drv_lv_notify_end(n);
    return 0;
}

static void
drv_lv_domain_reboot(virConnectPtr conn, virDomainPtr dom, void *opaque)
{
    struct drv_lv_notify *n = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    const char *name = virDomainGetName(dom);

    if (virDomainGetUUIDString(dom, uuid) < 0 || name == NULL)
        return;
    if (!drv_lv_notify_begin(n))
        return;
    if (n->events.domain_reboot != NULL)
        n->events.domain_reboot(n->opaque, uuid, name);
    drv_lv_notify_end(n);
}

static void
drv_lv_domain_device(virDomainPtr dom, const char *alias, bool added,
                     struct drv_lv_notify *n)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    const char *name = virDomainGetName(dom);

    if (virDomainGetUUIDString(dom, uuid) < 0 || name == NULL)
        return;
    if (!drv_lv_notify_begin(n))
        return;
    if (n->events.domain_device != NULL)
        n->events.domain_device(n->opaque, uuid, name, alias ? alias : "", added);
    drv_lv_notify_end(n);
}

static void
drv_lv_device_added(virConnectPtr conn, virDomainPtr dom, const char *alias,
                    void *opaque)
{
    drv_lv_domain_device(dom, alias, true, opaque);
}

static void
drv_lv_device_removed(virConnectPtr conn, virDomainPtr dom, const char *alias,
                      void *opaque)
{
    drv_lv_domain_device(dom, alias, false, opaque);
}

static void
drv_lv_report_pool(virStoragePoolPtr pool, const char *event, void *opaque)
{
    struct drv_lv_notify *n = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    const char *name = virStoragePoolGetName(pool);

    if (virStoragePoolGetUUIDString(pool, uuid) < 0 || name == NULL)
        return;
    if (!drv_lv_notify_begin(n))
        return;
    if (n->events.pool_lifecycle != NULL)
        n->events.pool_lifecycle(n->opaque, uuid, name, event, "");
    drv_lv_notify_end(n);
}

static void
drv_lv_pool_lifecycle(virConnectPtr conn, virStoragePoolPtr pool, int event,
                      int detail, void *opaque)
{
    drv_lv_report_pool(pool, drv_lv_name(drv_lv_pool_event_names,
                       DRV_LV_NELEMS(drv_lv_pool_event_names),
                       event, "unknown"), opaque);
}

/* A refresh changes the pool's volumes and sizes: to the owner it is one
 * more lifecycle step of the pool, "refreshed". */
static void
drv_lv_pool_refresh(virConnectPtr conn, virStoragePoolPtr pool, void *opaque)
{
    drv_lv_report_pool(pool, "refreshed", opaque);
}

static void
drv_lv_network_lifecycle(virConnectPtr conn, virNetworkPtr net, int event,
                         int detail, void *opaque)
{
    struct drv_lv_notify *n = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    const char *name = virNetworkGetName(net);

    if (virNetworkGetUUIDString(net, uuid) < 0 || name == NULL)
        return;
    if (!drv_lv_notify_begin(n))
        return;
    if (n->events.network_lifecycle != NULL)
        n->events.network_lifecycle(n->opaque, uuid, name,
            drv_lv_name(drv_lv_network_event_names,
                        DRV_LV_NELEMS(drv_lv_network_event_names), event, "unknown"),
            "");
    drv_lv_notify_end(n);
}

static void
drv_lv_connection_closed(virConnectPtr conn, int reason, void *opaque)
{
    drv_lv_mark_lost(opaque, drv_lv_name(drv_lv_close_reasons,
                     DRV_LV_NELEMS(drv_lv_close_reasons),
                     reason, "connection closed"));
}

/*
 * Every event registration of a connection.  Only the domain lifecycle is
 * required: the others are refused (VIR_ERR_NO_SUPPORT) by hypervisor
 * drivers without storage or network drivers behind them, and then simply
 * never arrive.
 */
enum drv_lv_family { DRV_LV_DOMAIN, DRV_LV_POOL, DRV_LV_NETWORK };

static const struct drv_lv_registration {
    enum drv_lv_family family;
    int event_id;
    bool required;
    virConnectDomainEventGenericCallback domain_cb;
    virConnectStoragePoolEventGenericCallback pool_cb;
    virConnectNetworkEventGenericCallback network_cb;
} drv_lv_registrations[DRV_LV_NCALLBACKS] = {
    [DRV_LV_CB_DOMAIN_LIFECYCLE] = { DRV_LV_DOMAIN, VIR_DOMAIN_EVENT_ID_LIFECYCLE, true,
        .domain_cb = VIR_DOMAIN_EVENT_CALLBACK(drv_lv_domain_lifecycle) },
    [DRV_LV_CB_DOMAIN_REBOOT] = { DRV_LV_DOMAIN, VIR_DOMAIN_EVENT_ID_REBOOT, false,
        .domain_cb = VIR_DOMAIN_EVENT_CALLBACK(drv_lv_domain_reboot) },
    [DRV_LV_CB_DEVICE_ADDED] = { DRV_LV_DOMAIN, VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, false,
        .domain_cb = VIR_DOMAIN_EVENT_CALLBACK(drv_lv_device_added) },
    [DRV_LV_CB_DEVICE_REMOVED] = { DRV_LV_DOMAIN, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, false,
        .domain_cb = VIR_DOMAIN_EVENT_CALLBACK(drv_lv_device_removed) },
    [DRV_LV_CB_POOL_LIFECYCLE] = { DRV_LV_POOL, VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, false,
        .pool_cb = VIR_STORAGE_POOL_EVENT_CALLBACK(drv_lv_pool_lifecycle) },
    [DRV_LV_CB_POOL_REFRESH] = { DRV_LV_POOL, VIR_STORAGE_POOL_EVENT_ID_REFRESH, false,
        .pool_cb = VIR_STORAGE_POOL_EVENT_CALLBACK(drv_lv_pool_refresh) },
    [DRV_LV_CB_NETWORK_LIFECYCLE] = { DRV_LV_NETWORK, VIR_NETWORK_EVENT_ID_LIFECYCLE, false,
        .network_cb = VIR_NETWORK_EVENT_CALLBACK(drv_lv_network_lifecycle) },
};

/* Registers one callback; its reference on notify is dropped by libvirt's
 * freecb once libvirt no longer holds the callback. */
static int
drv_lv_register(struct drv_conn *c, const struct drv_lv_registration *r)
{
    int id = -1;

    drv_lv_notify_ref(c->notify);
    switch (r->family) {
    case DRV_LV_DOMAIN:
        id = virConnectDomainEventRegisterAny(c->conn, NULL, r->event_id, r->domain_cb,
                                              c->notify, drv_lv_notify_unref);
        break;
    case DRV_LV_POOL:
        id = virConnectStoragePoolEventRegisterAny(c->conn, NULL, r->event_id, r->pool_cb,
                                                   c->notify, drv_lv_notify_unref);
        break;
    case DRV_LV_NETWORK:
        id = virConnectNetworkEventRegisterAny(c->conn, NULL, r->event_id, r->network_cb,
                                               c->notify, drv_lv_notify_unref);
        break;
    }
    if (id < 0)
        drv_lv_notify_unref(c->notify);    /* libvirt did not keep it */
    return id;
}

static void
drv_lv_deregister(struct drv_conn *c, enum drv_lv_callback which)
{
    int id = c->callback_ids[which];

    if (id < 0)
        return;
    switch (drv_lv_registrations[which].family) {
    case DRV_LV_DOMAIN:
        virConnectDomainEventDeregisterAny(c->conn, id);
        break;
    case DRV_LV_POOL:
        virConnectStoragePoolEventDeregisterAny(c->conn, id);
        break;
    case DRV_LV_NETWORK:
        virConnectNetworkEventDeregisterAny(c->conn, id);
        break;
    }
    c->callback_ids[which] = -1;
}

static void
drv_lv_deregister_all(struct drv_conn *c)
{
    int i;

    for (i = 0; i < DRV_LV_NCALLBACKS; i++)
        drv_lv_deregister(c, (enum drv_lv_callback)i);
}

/* ---- errors ---- */

/* Failures that may mean the transport is gone rather than the request. */
static bool
drv_lv_may_be_transport(int code)
{
    switch (code) {
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_RPC:
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_INVALID_CONN:
    case VIR_ERR_INTERNAL_ERROR:    /* "client socket is closed" */
        return true;
    default:
        return false;
    }
}

/* c may be NULL (virConnectOpen failed). */
int
drv_lv_fail(struct drv_conn *c, qmf_error *err)
{
    virErrorPtr e = virGetLastError();
    int code = e != NULL ? e->code : VIR_ERR_INTERNAL_ERROR;
    char text[QMF_ERROR_TEXT_MAX];

    snprintf(text, sizeof(text), "%s", e != NULL && e->message != NULL ?
             e->message : "libvirt failed without saying why");
    /* virConnectIsAlive resets the thread's error: text is copied above. */
    if (c != NULL && drv_lv_may_be_transport(code) &&
        virConnectIsAlive(c->conn) != 1) {
        drv_lv_mark_lost(c->notify, "the hypervisor connection is no longer alive");
        qmf_error_set(err, QMF_ERR_DRIVER_DOWN, "connection to %s lost: %s",
                      c->uri, text);
        return -1;
    }
    qmf_error_set(err, QMF_ERR_LIBVIRT | (uint32_t)code, "%s", text);
    return -1;
}

int
drv_lv_fail_lookup(struct drv_conn *c, int not_found, const char *what,
                   const char *key, qmf_error *err)
{
    qmf_error e = { .code = QMF_OK };

    drv_lv_fail(c, &e);
    if (e.code == (QMF_ERR_LIBVIRT | (uint32_t)not_found))
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no %s '%s'", what, key);
    else if (err != NULL)
        *err = e;
    return -1;
}

int
drv_lv_check_alive(struct drv_conn *c, qmf_error *err)
{
    if (c == NULL) {
        qmf_error_set(err, QMF_ERR_DRIVER_DOWN, "not connected to a hypervisor");
        return -1;
    }
    if (atomic_load(&c->notify->lost)) {
        qmf_error_set(err, QMF_ERR_DRIVER_DOWN,
                      "connection to %s is lost; it must be reopened", c->uri);
        return -1;
    }
    return 0;
}

/* ---- open and close ---- */

int
drv_open(struct drv_conn **out, const char *uri, const struct drv_events *events,
         void *opaque, qmf_error *err)
{
    struct drv_conn *c;
    qmf_error e = { .code = QMF_OK };
    int i;

    *out = NULL;
    if (uri == NULL || *uri == '\0') {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "no hypervisor URI given");
        return -1;
    }
    c = qmf_xcalloc(1, sizeof(*c));
    c->uri = qmf_xstrdup(uri);
    for (i = 0; i < DRV_LV_NCALLBACKS; i++)
        c->callback_ids[i] = -1;
    c->notify = drv_lv_notify_new(events, opaque);

    if ((c->conn = virConnectOpen(uri)) == NULL) {
        drv_lv_fail(NULL, err);
        goto fail;
    }
    for (i = 0; i < DRV_LV_NCALLBACKS; i++) {
        const struct drv_lv_registration *r = &drv_lv_registrations[i];

        if ((c->callback_ids[i] = drv_lv_register(c, r)) >= 0)
            continue;
        drv_lv_fail(c, &e);
        if (r->required || e.code != (QMF_ERR_LIBVIRT | VIR_ERR_NO_SUPPORT)) {
            if (err != NULL)
                *err = e;
            goto fail;
        }
    }
    /* No freecb: close unregisters it before dropping its reference, and
     * libvirt does not run it after unregistering returns. */
    if (virConnectRegisterCloseCallback(c->conn, drv_lv_connection_closed,
                                        c->notify, NULL) < 0) {
        drv_lv_fail(c, err);
        goto fail;
    }
    *out = c;
    return 0;

fail:
    c->notify->closed = true;    /* no callback yet, nor any after this */
    if (c->conn != NULL) {
        drv_lv_deregister_all(c);
        virConnectClose(c->conn);
    }
    drv_lv_notify_unref(c->notify);
    free(c->uri);
    free(c);
    return -1;
}

void
drv_close(struct drv_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->notify->lock);
    c->notify->closed = true;
    pthread_mutex_unlock(&c->notify->lock);

    /* On a lost connection these fail; there is nothing left to undo. */
    virConnectUnregisterCloseCallback(c->conn, drv_lv_connection_closed);
    drv_lv_deregister_all(c);
    virConnectClose(c->conn);
    virResetLastError();

    drv_lv_notify_unref(c->notify);
    free(c->uri);
    free(c);
}
