/*
 * The libvirt backend: hypervisor, storage and network entry points on a
 * virConnectPtr, inventory as org.libvirt property maps, and libvirt's
 * lifecycle and close events forwarded to the connection's owner.
 *
 * Versions (Node): libvirtVersion is the library on the hypervisor side
 * (virConnectGetLibVersion; the daemon's for remote URIs), apiVersion the
 * library virtbus runs on (virGetVersion), hypervisorVersion the
 * hypervisor's own (virConnectGetVersion).
 *
 * Errors: libvirt keeps its last error per thread, so it is read right
 * after the failing call and turned into QMF_ERR_LIBVIRT | virErrorNumber
 * with libvirt's own text.
 */
#include "drivers/driver.h"
#include "drivers/libvirt/eventloop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#define DRV_LV_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * What libvirt's callbacks see of a connection.  It outlives struct
 * drv_conn when libvirt releases the lifecycle callback late (its freecb
 * drops a reference), and `closed` — set by close under the lock that every
 * owner callback runs under — keeps the owner's callbacks from running once
 * close has returned.  `lost` is atomic rather than under that lock, so
 * that worker threads checking it never wait for an owner callback.
 */
struct drv_lv_notify {
    atomic_int refs;
    pthread_mutex_t lock;
    bool closed;
    atomic_bool lost;          /* all later calls fail with DRIVER_DOWN */
    const char *lost_reason;   /* static; written by whoever set lost */
    struct drv_events events;
    void *opaque;
};

struct drv_conn {
    virConnectPtr conn;
    char *uri;
    int lifecycle_id;
    struct drv_lv_notify *notify;
};

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

struct drv_lv_names {
    const char *const *names;
    size_t len;
};

#define DRV_LV_NAMES(a) { (a), DRV_LV_NELEMS(a) }

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

static const char *const drv_lv_state_names[] = {
    [VIR_DOMAIN_NOSTATE] = "nostate",
    [VIR_DOMAIN_RUNNING] = "running",
    [VIR_DOMAIN_BLOCKED] = "blocked",
    [VIR_DOMAIN_PAUSED] = "paused",
    [VIR_DOMAIN_SHUTDOWN] = "shutdown",
    [VIR_DOMAIN_SHUTOFF] = "shutoff",
    [VIR_DOMAIN_CRASHED] = "crashed",
    [VIR_DOMAIN_PMSUSPENDED] = "pmsuspended",
};

static const char *const drv_lv_unknown_reasons[] = { "unknown" };

static const char *const drv_lv_running_reasons[] = {
    [VIR_DOMAIN_RUNNING_UNKNOWN] = "unknown",
    [VIR_DOMAIN_RUNNING_BOOTED] = "booted",
    [VIR_DOMAIN_RUNNING_MIGRATED] = "migrated",
    [VIR_DOMAIN_RUNNING_RESTORED] = "restored",
    [VIR_DOMAIN_RUNNING_FROM_SNAPSHOT] = "from_snapshot",
    [VIR_DOMAIN_RUNNING_UNPAUSED] = "unpaused",
    [VIR_DOMAIN_RUNNING_MIGRATION_CANCELED] = "migration_canceled",
    [VIR_DOMAIN_RUNNING_SAVE_CANCELED] = "save_canceled",
    [VIR_DOMAIN_RUNNING_WAKEUP] = "wakeup",
    [VIR_DOMAIN_RUNNING_CRASHED] = "crashed",
    [VIR_DOMAIN_RUNNING_POSTCOPY] = "postcopy",
    [VIR_DOMAIN_RUNNING_POSTCOPY_FAILED] = "postcopy_failed",
};

static const char *const drv_lv_paused_reasons[] = {
    [VIR_DOMAIN_PAUSED_UNKNOWN] = "unknown",
    [VIR_DOMAIN_PAUSED_USER] = "user",
    [VIR_DOMAIN_PAUSED_MIGRATION] = "migration",
    [VIR_DOMAIN_PAUSED_SAVE] = "save",
    [VIR_DOMAIN_PAUSED_DUMP] = "dump",
    [VIR_DOMAIN_PAUSED_IOERROR] = "ioerror",
    [VIR_DOMAIN_PAUSED_WATCHDOG] = "watchdog",
    [VIR_DOMAIN_PAUSED_FROM_SNAPSHOT] = "from_snapshot",
    [VIR_DOMAIN_PAUSED_SHUTTING_DOWN] = "shutting_down",
    [VIR_DOMAIN_PAUSED_SNAPSHOT] = "snapshot",
    [VIR_DOMAIN_PAUSED_CRASHED] = "crashed",
    [VIR_DOMAIN_PAUSED_STARTING_UP] = "starting_up",
    [VIR_DOMAIN_PAUSED_POSTCOPY] = "postcopy",
    [VIR_DOMAIN_PAUSED_POSTCOPY_FAILED] = "postcopy_failed",
};

static const char *const drv_lv_shutdown_reasons[] = {
    [VIR_DOMAIN_SHUTDOWN_UNKNOWN] = "unknown",
    [VIR_DOMAIN_SHUTDOWN_USER] = "user",
};

static const char *const drv_lv_shutoff_reasons[] = {
    [VIR_DOMAIN_SHUTOFF_UNKNOWN] = "unknown",
    [VIR_DOMAIN_SHUTOFF_SHUTDOWN] = "shutdown",
    [VIR_DOMAIN_SHUTOFF_DESTROYED] = "destroyed",
    [VIR_DOMAIN_SHUTOFF_CRASHED] = "crashed",
    [VIR_DOMAIN_SHUTOFF_MIGRATED] = "migrated",
    [VIR_DOMAIN_SHUTOFF_SAVED] = "saved",
    [VIR_DOMAIN_SHUTOFF_FAILED] = "failed",
    [VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT] = "from_snapshot",
    [VIR_DOMAIN_SHUTOFF_DAEMON] = "daemon",
};

static const char *const drv_lv_crashed_reasons[] = {
    [VIR_DOMAIN_CRASHED_UNKNOWN] = "unknown",
    [VIR_DOMAIN_CRASHED_PANICKED] = "panicked",
};

static const struct drv_lv_names drv_lv_state_reasons[] = {
    [VIR_DOMAIN_NOSTATE] = DRV_LV_NAMES(drv_lv_unknown_reasons),
    [VIR_DOMAIN_RUNNING] = DRV_LV_NAMES(drv_lv_running_reasons),
    [VIR_DOMAIN_BLOCKED] = DRV_LV_NAMES(drv_lv_unknown_reasons),
    [VIR_DOMAIN_PAUSED] = DRV_LV_NAMES(drv_lv_paused_reasons),
    [VIR_DOMAIN_SHUTDOWN] = DRV_LV_NAMES(drv_lv_shutdown_reasons),
    [VIR_DOMAIN_SHUTOFF] = DRV_LV_NAMES(drv_lv_shutoff_reasons),
    [VIR_DOMAIN_CRASHED] = DRV_LV_NAMES(drv_lv_crashed_reasons),
    [VIR_DOMAIN_PMSUSPENDED] = DRV_LV_NAMES(drv_lv_unknown_reasons),
};

static const char *const drv_lv_pool_states[] = {
    [VIR_STORAGE_POOL_INACTIVE] = "inactive",
    [VIR_STORAGE_POOL_BUILDING] = "building",
    [VIR_STORAGE_POOL_RUNNING] = "running",
    [VIR_STORAGE_POOL_DEGRADED] = "degraded",
    [VIR_STORAGE_POOL_INACCESSIBLE] = "inaccessible",
};

static const char *const drv_lv_close_reasons[] = {
    [VIR_CONNECT_CLOSE_REASON_ERROR] = "connection error",
    [VIR_CONNECT_CLOSE_REASON_EOF] = "end of file from the hypervisor",
    [VIR_CONNECT_CLOSE_REASON_KEEPALIVE] = "keepalive timeout",
    [VIR_CONNECT_CLOSE_REASON_CLIENT] = "closed by the client",
};

static const char *
drv_lv_name(const char *const *names, size_t len, int i, const char *fallback)
{
    if (i < 0 || (size_t)i >= len || names[i] == NULL)
        return fallback;
    return names[i];
}

static const char *
drv_lv_sub_name(const struct drv_lv_names *tables, size_t ntables, int i,
                int sub)
{
    if (i < 0 || (size_t)i >= ntables)
        return "unknown";
    return drv_lv_name(tables[i].names, tables[i].len, sub, "unknown");
}

/* The lifecycle event's name, or "unknown" for one newer than 9.0. */
static const char *
drv_lv_event_name(int event)
{
    return drv_lv_name(drv_lv_event_names, DRV_LV_NELEMS(drv_lv_event_names),
                       event, "unknown");
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

/* Also libvirt's freecb for the lifecycle callback. */
static void
drv_lv_notify_unref(void *opaque)
{
    struct drv_lv_notify *n = opaque;

    if (atomic_fetch_sub(&n->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&n->lock);
    free(n);
}

/* On the loop thread: tell the owner, unless it has closed meanwhile. */
static void
drv_lv_report_lost(evutil_socket_t fd, short what, void *arg)
{
    struct drv_lv_notify *n = arg;

    pthread_mutex_lock(&n->lock);
    if (!n->closed && n->events.disconnected != NULL)
        n->events.disconnected(n->opaque, n->lost_reason);
    pthread_mutex_unlock(&n->lock);
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

static int
drv_lv_domain_event(virConnectPtr conn, virDomainPtr dom, int event,
                    int detail, void *opaque)
{
    struct drv_lv_notify *n = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];
    const char *name = virDomainGetName(dom);

    if (virDomainGetUUIDString(dom, uuid) < 0 || name == NULL)
        return 0;
    pthread_mutex_lock(&n->lock);
    if (!n->closed && n->events.domain_lifecycle != NULL)
        n->events.domain_lifecycle(n->opaque, uuid, name,
                                   drv_lv_event_name(event),
                                   drv_lv_sub_name(drv_lv_event_details,
                                                   DRV_LV_NELEMS(drv_lv_event_details),
                                                   event, detail));
    pthread_mutex_unlock(&n->lock);
    return 0;
}

static void
drv_lv_connection_closed(virConnectPtr conn, int reason, void *opaque)
{
    drv_lv_mark_lost(opaque, drv_lv_name(drv_lv_close_reasons,
                                         DRV_LV_NELEMS(drv_lv_close_reasons),
                                         reason, "connection closed"));
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

/*
 * Reports the calling thread's last libvirt error; call it right after the
 * failing call.  c may be NULL (virConnectOpen failed).  Returns -1.
 */
static int
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

static int
drv_lv_check_alive(struct drv_conn *c, qmf_error *err)
{
    if (atomic_load(&c->notify->lost)) {
        qmf_error_set(err, QMF_ERR_DRIVER_DOWN,
                      "connection to %s is lost; it must be reopened", c->uri);
        return -1;
    }
    return 0;
}

/* ---- XML ---- */

/*
 * Evaluates string-valued XPath expressions against a libvirt XML
 * description; out[i] is malloc'd ("" when absent).  Some facts (a pool's
 * type and path, a network's forward mode) exist only in the XML.
 */
static int
drv_lv_xpath_strings(const char *xml, const char *const *exprs, char **out,
                     size_t n, qmf_error *err)
{
    xmlDocPtr doc;
    xmlXPathContextPtr ctx;
    xmlXPathObjectPtr obj;
    size_t i;

    doc = xmlReadMemory(xml, (int)strlen(xml), "libvirt.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL || (ctx = xmlXPathNewContext(doc)) == NULL) {
        xmlFreeDoc(doc);
        qmf_error_set(err, QMF_ERR_INTERNAL, "cannot parse the XML libvirt returned");
        return -1;
    }
    for (i = 0; i < n; i++) {
        obj = xmlXPathEvalExpression((const xmlChar *)exprs[i], ctx);
        out[i] = qmf_xstrdup(obj != NULL && obj->type == XPATH_STRING &&
                             obj->stringval != NULL ?
                             (const char *)obj->stringval : "");
        xmlXPathFreeObject(obj);
    }
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    return 0;
}

static void
drv_lv_free_strings(char **s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(s[i]);
}

/* ---- connection ---- */

static int
drv_lv_open(struct drv_conn **out, const char *uri,
            const struct drv_events *events, void *opaque, qmf_error *err)
{
    struct drv_conn *c;

    *out = NULL;
    if (uri == NULL || *uri == '\0') {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "no hypervisor URI given");
        return -1;
    }
    c = qmf_xcalloc(1, sizeof(*c));
    c->uri = qmf_xstrdup(uri);
    c->lifecycle_id = -1;
    c->notify = drv_lv_notify_new(events, opaque);

    if ((c->conn = virConnectOpen(uri)) == NULL) {
        drv_lv_fail(NULL, err);
        goto fail;
    }
    drv_lv_notify_ref(c->notify);    /* released by libvirt's freecb */
    c->lifecycle_id = virConnectDomainEventRegisterAny(c->conn, NULL,
        VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(drv_lv_domain_event),
        c->notify, drv_lv_notify_unref);
    if (c->lifecycle_id < 0) {
        drv_lv_fail(c, err);
        drv_lv_notify_unref(c->notify);
        goto fail;
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
        if (c->lifecycle_id >= 0)
            virConnectDomainEventDeregisterAny(c->conn, c->lifecycle_id);
        virConnectClose(c->conn);
    }
    drv_lv_notify_unref(c->notify);
    free(c->uri);
    free(c);
    return -1;
}

static void
drv_lv_close(struct drv_conn *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->notify->lock);
    c->notify->closed = true;
    pthread_mutex_unlock(&c->notify->lock);

    /* On a lost connection these fail; there is nothing left to undo. */
    virConnectUnregisterCloseCallback(c->conn, drv_lv_connection_closed);
    virConnectDomainEventDeregisterAny(c->conn, c->lifecycle_id);
    virConnectClose(c->conn);
    virResetLastError();

    drv_lv_notify_unref(c->notify);
    free(c->uri);
    free(c);
}

/* ---- node ---- */

static int
drv_lv_node_info(struct drv_conn *c, qmf_value **values, qmf_error *err)
{
    static const char *const exprs[] = { "string(/capabilities/host/cpu/arch)" };
    unsigned long lib_ver, api_ver, hv_ver;
    unsigned long long free_bytes;
    virNodeInfo ni;
    const char *type;
    char *hostname = NULL, *uri = NULL, *caps = NULL, *arch[1] = { NULL };
    qmf_error e = { .code = QMF_OK };
    qmf_value *m;
    int rc = -1;

    *values = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((hostname = virConnectGetHostname(c->conn)) == NULL ||
        (uri = virConnectGetURI(c->conn)) == NULL ||
        virConnectGetLibVersion(c->conn, &lib_ver) < 0 ||
        virGetVersion(&api_ver, NULL, NULL) < 0 ||
        virConnectGetVersion(c->conn, &hv_ver) < 0 ||
        (type = virConnectGetType(c->conn)) == NULL ||
        virNodeGetInfo(c->conn, &ni) < 0 ||
        (caps = virConnectGetCapabilities(c->conn)) == NULL) {
        drv_lv_fail(c, err);
        goto out;
    }
    /*
     * 0 is libvirt's error return, and drivers without per-cell figures
     * (the test driver's node files) take that path with no cause.  A
     * statistic is not worth failing the Node for, so only a lost
     * connection fails; anything else reads as 0 free.
     */
    free_bytes = virNodeGetFreeMemory(c->conn);
    if (free_bytes == 0 && virGetLastError() != NULL) {
        drv_lv_fail(c, &e);
        if (e.code == QMF_ERR_DRIVER_DOWN) {
            if (err != NULL)
                *err = e;
            goto out;
        }
    }
    if (drv_lv_xpath_strings(caps, exprs, arch, 1, err) < 0)
        goto out;

    m = qmf_map();
    qmf_map_set(m, "hostname", qmf_string(hostname));
    qmf_map_set(m, "uri", qmf_string(uri));
    qmf_map_set(m, "libvirtVersion", qmf_u32((uint32_t)lib_ver));
    qmf_map_set(m, "apiVersion", qmf_u32((uint32_t)api_ver));
    qmf_map_set(m, "hypervisorVersion", qmf_u32((uint32_t)hv_ver));
    qmf_map_set(m, "hypervisorType", qmf_string(type));
    qmf_map_set(m, "model", qmf_string(ni.model));
    qmf_map_set(m, "memory", qmf_u64(ni.memory));
    qmf_map_set(m, "cpus", qmf_u32(ni.cpus));
    qmf_map_set(m, "mhz", qmf_u32(ni.mhz));
    qmf_map_set(m, "nodes", qmf_u32(ni.nodes));
    qmf_map_set(m, "sockets", qmf_u32(ni.sockets));
    qmf_map_set(m, "cores", qmf_u32(ni.cores));
    qmf_map_set(m, "threads", qmf_u32(ni.threads));
    qmf_map_set(m, "freeMemory", qmf_u64(free_bytes / 1024));
    /* The capabilities name the host's architecture; NodeInfo's model is
     * what older drivers put there instead. */
    qmf_map_set(m, "arch", qmf_string(arch[0][0] != '\0' ? arch[0] : ni.model));
    *values = m;
    rc = 0;

out:
    free(hostname);
    free(uri);
    free(caps);
    free(arch[0]);
    return rc;
}

/* ---- domains ---- */

static int
drv_lv_domain_values(struct drv_conn *c, virDomainPtr dom, qmf_value **values,
                     qmf_error *err)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainInfo info;
    int state, reason, active, persistent, autostart;
    unsigned int id;
    const char *name;
    char *os_type;
    qmf_value *m;

    if (virDomainGetUUIDString(dom, uuid) < 0 ||
        (name = virDomainGetName(dom)) == NULL ||
        virDomainGetInfo(dom, &info) < 0 ||
        virDomainGetState(dom, &state, &reason, 0) < 0 ||
        (active = virDomainIsActive(dom)) < 0 ||
        (persistent = virDomainIsPersistent(dom)) < 0 ||
        virDomainGetAutostart(dom, &autostart) < 0 ||
        (os_type = virDomainGetOSType(dom)) == NULL)
        return drv_lv_fail(c, err);
    id = virDomainGetID(dom);

    m = qmf_map();
    qmf_map_set(m, "uuid", qmf_string(uuid));
    qmf_map_set(m, "name", qmf_string(name));
    qmf_map_set(m, "id", qmf_i32(id == (unsigned int)-1 ? -1 : (int32_t)id));
    qmf_map_set(m, "state", qmf_string(drv_lv_name(drv_lv_state_names,
        DRV_LV_NELEMS(drv_lv_state_names), state, "nostate")));
    qmf_map_set(m, "numVcpus", qmf_u32(info.nrVirtCpu));
    qmf_map_set(m, "active", qmf_bool(active == 1));
    qmf_map_set(m, "maximumMemory", qmf_u64(info.maxMem));
    qmf_map_set(m, "memory", qmf_u64(info.memory));
    qmf_map_set(m, "cpuTime", qmf_u64(info.cpuTime));
    qmf_map_set(m, "persistent", qmf_bool(persistent == 1));
    qmf_map_set(m, "autostart", qmf_bool(autostart != 0));
    qmf_map_set(m, "osType", qmf_string(os_type));
    qmf_map_set(m, "reason", qmf_string(drv_lv_sub_name(drv_lv_state_reasons,
        DRV_LV_NELEMS(drv_lv_state_reasons), state, reason)));
    free(os_type);
    *values = m;
    return 0;
}

static int
drv_lv_domain_list(struct drv_conn *c, qmf_value **list, qmf_error *err)
{
    virDomainPtr *doms = NULL;
    qmf_value *l, *values = NULL;
    qmf_error e = { .code = QMF_OK };
    int i, n, rc = 0;

    *list = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((n = virConnectListAllDomains(c->conn, &doms, 0)) < 0)
        return drv_lv_fail(c, err);
    l = qmf_list();
    for (i = 0; i < n; i++) {
        /* One undefined since it was listed is skipped, not an error. */
        if (rc == 0 && drv_lv_domain_values(c, doms[i], &values, &e) == 0)
            qmf_list_append(l, values);
        else if (rc == 0 && e.code != (QMF_ERR_LIBVIRT | VIR_ERR_NO_DOMAIN))
            rc = -1;
        virDomainFree(doms[i]);
    }
    free(doms);
    if (rc < 0) {
        qmf_free(l);
        if (err != NULL)
            *err = e;
        return -1;
    }
    *list = l;
    return 0;
}

static virDomainPtr
drv_lv_lookup_domain(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    uint8_t raw[16];
    virDomainPtr dom;
    qmf_error e = { .code = QMF_OK };

    if (uuid == NULL || !qmf_uuid_parse(uuid, raw)) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no domain with uuid '%s'",
                      uuid != NULL ? uuid : "");
        return NULL;
    }
    if ((dom = virDomainLookupByUUIDString(c->conn, uuid)) != NULL)
        return dom;
    drv_lv_fail(c, &e);
    if (e.code == (QMF_ERR_LIBVIRT | VIR_ERR_NO_DOMAIN))
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no domain with uuid %s", uuid);
    else if (err != NULL)
        *err = e;
    return NULL;
}

static int
drv_lv_domain_get(struct drv_conn *c, const char *uuid, qmf_value **values,
                  qmf_error *err)
{
    virDomainPtr dom;
    qmf_error e = { .code = QMF_OK };
    int rc;

    *values = NULL;
    if (drv_lv_check_alive(c, err) < 0 ||
        (dom = drv_lv_lookup_domain(c, uuid, err)) == NULL)
        return -1;
    rc = drv_lv_domain_values(c, dom, values, &e);
    if (rc < 0 && e.code == (QMF_ERR_LIBVIRT | VIR_ERR_NO_DOMAIN))
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no domain with uuid %s", uuid);
    else if (rc < 0 && err != NULL)
        *err = e;
    virDomainFree(dom);
    return rc;
}

/* Runs one of libvirt's plain domain actions on the domain with uuid. */
static int
drv_lv_domain_act(struct drv_conn *c, const char *uuid,
                  int (*act)(virDomainPtr), qmf_error *err)
{
    virDomainPtr dom;
    int rc = 0;

    if (drv_lv_check_alive(c, err) < 0 ||
        (dom = drv_lv_lookup_domain(c, uuid, err)) == NULL)
        return -1;
    if (act(dom) < 0)
        rc = drv_lv_fail(c, err);
    virDomainFree(dom);
    return rc;
}

static int
drv_lv_domain_create(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    return drv_lv_domain_act(c, uuid, virDomainCreate, err);
}

static int
drv_lv_domain_shutdown(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    return drv_lv_domain_act(c, uuid, virDomainShutdown, err);
}

static int
drv_lv_domain_destroy(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    return drv_lv_domain_act(c, uuid, virDomainDestroy, err);
}

/* ---- storage ---- */

static int
drv_lv_pool_values(struct drv_conn *c, virStoragePoolPtr pool,
                   qmf_value **values, qmf_error *err)
{
    static const char *const exprs[] = {
        "string(/pool/@type)",
        "string(/pool/target/path)",
    };
    char uuid[VIR_UUID_STRING_BUFLEN], *xml, *facts[2];
    virStoragePoolInfo info;
    int autostart, persistent;
    const char *name;
    qmf_value *m;

    if (virStoragePoolGetUUIDString(pool, uuid) < 0 ||
        (name = virStoragePoolGetName(pool)) == NULL ||
        virStoragePoolGetInfo(pool, &info) < 0 ||
        virStoragePoolGetAutostart(pool, &autostart) < 0 ||
        (persistent = virStoragePoolIsPersistent(pool)) < 0 ||
        (xml = virStoragePoolGetXMLDesc(pool, 0)) == NULL)
        return drv_lv_fail(c, err);
    if (drv_lv_xpath_strings(xml, exprs, facts, 2, err) < 0) {
        free(xml);
        return -1;
    }
    free(xml);

    m = qmf_map();
    qmf_map_set(m, "uuid", qmf_string(uuid));
    qmf_map_set(m, "name", qmf_string(name));
    qmf_map_set(m, "state", qmf_string(drv_lv_name(drv_lv_pool_states,
        DRV_LV_NELEMS(drv_lv_pool_states), info.state, "inactive")));
    qmf_map_set(m, "capacity", qmf_u64(info.capacity));
    qmf_map_set(m, "allocation", qmf_u64(info.allocation));
    qmf_map_set(m, "available", qmf_u64(info.available));
    qmf_map_set(m, "type", qmf_string(facts[0]));
    qmf_map_set(m, "path", qmf_string(facts[1]));
    qmf_map_set(m, "autostart", qmf_bool(autostart != 0));
    qmf_map_set(m, "persistent", qmf_bool(persistent == 1));
    drv_lv_free_strings(facts, 2);
    *values = m;
    return 0;
}

static int
drv_lv_pool_list(struct drv_conn *c, qmf_value **list, qmf_error *err)
{
    virStoragePoolPtr *pools = NULL;
    qmf_value *l, *values = NULL;
    qmf_error e = { .code = QMF_OK };
    int i, n, rc = 0;

    *list = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((n = virConnectListAllStoragePools(c->conn, &pools, 0)) < 0)
        return drv_lv_fail(c, err);
    l = qmf_list();
    for (i = 0; i < n; i++) {
        /* One undefined since it was listed is skipped, not an error. */
        if (rc == 0 && drv_lv_pool_values(c, pools[i], &values, &e) == 0)
            qmf_list_append(l, values);
        else if (rc == 0 && e.code != (QMF_ERR_LIBVIRT | VIR_ERR_NO_STORAGE_POOL))
            rc = -1;
        virStoragePoolFree(pools[i]);
    }
    free(pools);
    if (rc < 0) {
        qmf_free(l);
        if (err != NULL)
            *err = e;
        return -1;
    }
    *list = l;
    return 0;
}

/* ---- networks ---- */

static int
drv_lv_network_values(struct drv_conn *c, virNetworkPtr net,
                      qmf_value **values, qmf_error *err)
{
    static const char *const exprs[] = {
        "string(/network/bridge/@name)",
        "string(/network/forward/@mode)",
        "string(count(/network/forward))",
    };
    char uuid[VIR_UUID_STRING_BUFLEN], *xml, *facts[3];
    int active, persistent, autostart;
    const char *name, *mode;
    qmf_value *m;

    if (virNetworkGetUUIDString(net, uuid) < 0 ||
        (name = virNetworkGetName(net)) == NULL ||
        (active = virNetworkIsActive(net)) < 0 ||
        (persistent = virNetworkIsPersistent(net)) < 0 ||
        virNetworkGetAutostart(net, &autostart) < 0 ||
        (xml = virNetworkGetXMLDesc(net, 0)) == NULL)
        return drv_lv_fail(c, err);
    if (drv_lv_xpath_strings(xml, exprs, facts, 3, err) < 0) {
        free(xml);
        return -1;
    }
    free(xml);

    /* libvirt's defaults: <forward/> without a mode is NAT, no <forward>
     * at all an isolated network. */
    if (facts[1][0] != '\0')
        mode = facts[1];
    else if (strcmp(facts[2], "0") != 0)
        mode = "nat";
    else
        mode = "none";

    m = qmf_map();
    qmf_map_set(m, "uuid", qmf_string(uuid));
    qmf_map_set(m, "name", qmf_string(name));
    qmf_map_set(m, "active", qmf_bool(active == 1));
    qmf_map_set(m, "persistent", qmf_bool(persistent == 1));
    qmf_map_set(m, "autostart", qmf_bool(autostart != 0));
    qmf_map_set(m, "bridge", qmf_string(facts[0]));
    qmf_map_set(m, "forwardMode", qmf_string(mode));
    drv_lv_free_strings(facts, 3);
    *values = m;
    return 0;
}

static int
drv_lv_network_list(struct drv_conn *c, qmf_value **list, qmf_error *err)
{
    virNetworkPtr *nets = NULL;
    qmf_value *l, *values = NULL;
    qmf_error e = { .code = QMF_OK };
    int i, n, rc = 0;

    *list = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((n = virConnectListAllNetworks(c->conn, &nets, 0)) < 0)
        return drv_lv_fail(c, err);
    l = qmf_list();
    for (i = 0; i < n; i++) {
        /* One undefined since it was listed is skipped, not an error. */
        if (rc == 0 && drv_lv_network_values(c, nets[i], &values, &e) == 0)
            qmf_list_append(l, values);
        else if (rc == 0 && e.code != (QMF_ERR_LIBVIRT | VIR_ERR_NO_NETWORK))
            rc = -1;
        virNetworkFree(nets[i]);
    }
    free(nets);
    if (rc < 0) {
        qmf_free(l);
        if (err != NULL)
            *err = e;
        return -1;
    }
    *list = l;
    return 0;
}

/* ---- the tables ---- */

static const struct drv_hypervisor drv_lv_hypervisor = {
    .name = "libvirt",
    .node_info = drv_lv_node_info,
    .domain_list = drv_lv_domain_list,
    .domain_get = drv_lv_domain_get,
    .domain_create = drv_lv_domain_create,
    .domain_shutdown = drv_lv_domain_shutdown,
    .domain_destroy = drv_lv_domain_destroy,
};

static const struct drv_storage drv_lv_storage = {
    .name = "libvirt",
    .pool_list = drv_lv_pool_list,
};

static const struct drv_network drv_lv_network = {
    .name = "libvirt",
    .network_list = drv_lv_network_list,
};

const struct drv_backend drv_libvirt_backend = {
    .name = "libvirt",
    .open = drv_lv_open,
    .close = drv_lv_close,
    .hypervisor = &drv_lv_hypervisor,
    .storage = &drv_lv_storage,
    .network = &drv_lv_network,
};
