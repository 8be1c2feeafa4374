/*
 * Drivers: the hypervisor, storage and network entry points the agent
 * executes commands and builds its inventory through.
 *
 * Like libvirt's own driver tables, a backend fills static const tables with
 * designated initializers, and an entry left NULL means "this backend cannot
 * do that": drv_*() wrappers turn it into QMF_ERR_NOT_IMPLEMENTED naming the
 * backend.  Inventory entries return property maps keyed by the names of the
 * org.libvirt schema (schema/org.libvirt.xml), so the schema stays the one
 * place where properties are defined.
 *
 * Threading: every entry point may block (libvirt talks to daemons and
 * disks) and must be called off the event loop, from worker threads.  The
 * event callbacks in struct drv_events arrive on the event loop thread.
 */
#ifndef DRV_DRIVER_H
#define DRV_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "schema/qmf/error.h"
#include "schema/qmf/value.h"

struct drv_conn;

/*
 * What the driver tells its owner, on the event loop thread.  Names are
 * those of the schema's events: event is "defined", "undefined", "started",
 * "suspended", "resumed", "stopped", "shutdown", "pmsuspended", "crashed";
 * detail is libvirt's detail in lower case ("booted", "destroyed", ...).
 */
struct drv_events {
    void (*domain_lifecycle)(void *opaque, const char *uuid, const char *name,
                             const char *event, const char *detail);
    /* The connection to the hypervisor was lost; all later calls fail with
     * QMF_ERR_DRIVER_DOWN until the owner closes and reopens. */
    void (*disconnected)(void *opaque, const char *reason);
};

struct drv_hypervisor {
    const char *name;
    /* Node properties: hostname, uri, libvirtVersion, ..., freeMemory, arch. */
    int (*node_info)(struct drv_conn *c, qmf_value **values, qmf_error *err);
    /* A list of Domain property maps, one per defined or running domain. */
    int (*domain_list)(struct drv_conn *c, qmf_value **list, qmf_error *err);
    /* One Domain property map; QMF_ERR_UNKNOWN_OBJECT if it is gone. */
    int (*domain_get)(struct drv_conn *c, const char *uuid, qmf_value **values,
                      qmf_error *err);
    int (*domain_create)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*domain_shutdown)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*domain_destroy)(struct drv_conn *c, const char *uuid, qmf_error *err);
};

struct drv_storage {
    const char *name;
    int (*pool_list)(struct drv_conn *c, qmf_value **list, qmf_error *err);
};

struct drv_network {
    const char *name;
    int (*network_list)(struct drv_conn *c, qmf_value **list, qmf_error *err);
};

struct drv_backend {
    const char *name;
    /* Blocking: opens the hypervisor connection for uri (passed to the
     * hypervisor unchanged, so its aliases work) and registers for events. */
    int (*open)(struct drv_conn **out, const char *uri,
                const struct drv_events *events, void *opaque, qmf_error *err);
    /* Blocking: unregisters events and closes.  After it returns no event
     * callback for this connection runs. */
    void (*close)(struct drv_conn *c);
    const struct drv_hypervisor *hypervisor;
    const struct drv_storage *storage;
    const struct drv_network *network;
};

extern const struct drv_backend drv_libvirt_backend;

/* The backend for a URI: libvirt serves them all today. */
const struct drv_backend *drv_backend_for_uri(const char *uri);

/*
 * Hooks libvirt's event machinery into a libevent loop.  libvirt holds one
 * event implementation per process, so main() calls this once, before any
 * connection is opened; every agent of the process then shares the loop.
 */
int drv_event_loop_install(struct event_base *base, qmf_error *err);

/* Wrappers that report a NULL entry as QMF_ERR_NOT_IMPLEMENTED. */
int drv_node_info(const struct drv_backend *b, struct drv_conn *c,
                  qmf_value **values, qmf_error *err);
int drv_domain_list(const struct drv_backend *b, struct drv_conn *c,
                    qmf_value **list, qmf_error *err);
int drv_domain_get(const struct drv_backend *b, struct drv_conn *c,
                   const char *uuid, qmf_value **values, qmf_error *err);
int drv_domain_create(const struct drv_backend *b, struct drv_conn *c,
                      const char *uuid, qmf_error *err);
int drv_domain_shutdown(const struct drv_backend *b, struct drv_conn *c,
                        const char *uuid, qmf_error *err);
int drv_domain_destroy(const struct drv_backend *b, struct drv_conn *c,
                       const char *uuid, qmf_error *err);
int drv_pool_list(const struct drv_backend *b, struct drv_conn *c,
                  qmf_value **list, qmf_error *err);
int drv_network_list(const struct drv_backend *b, struct drv_conn *c,
                     qmf_value **list, qmf_error *err);

#endif
