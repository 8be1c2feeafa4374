/*
 * Drivers: the hypervisor, storage and network entry points the agent
 * executes commands and builds its inventory through.
 *
 * Like libvirt's own driver tables, a backend fills static const tables with
 * designated initializers, and an entry left NULL means "this backend cannot
 * do that": DRV_CALL turns it into QMF_ERR_NOT_IMPLEMENTED naming the
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
 * those of the schema's events: for domains, event is "defined",
 * "undefined", "started", "suspended", "resumed", "stopped", "shutdown",
 * "pmsuspended", "crashed" and detail libvirt's detail in lower case
 * ("booted", "destroyed", ...); pools and networks likewise (see
 * schema/org.libvirt.xml for the values).  Entries may be NULL.
 */
struct drv_events {
    void (*domain_lifecycle)(void *opaque, const char *uuid, const char *name,
                             const char *event, const char *detail);
    void (*domain_reboot)(void *opaque, const char *uuid, const char *name);
    /* A device was added to or removed from a domain; device is its alias. */
    void (*domain_device)(void *opaque, const char *uuid, const char *name,
                          const char *device, bool added);
    void (*pool_lifecycle)(void *opaque, const char *uuid, const char *name,
                           const char *event, const char *detail);
    void (*network_lifecycle)(void *opaque, const char *uuid, const char *name,
                              const char *event, const char *detail);
    /* The connection to the hypervisor was lost; all later calls fail with
     * QMF_ERR_DRIVER_DOWN until the owner closes and reopens. */
    void (*disconnected)(void *opaque, const char *reason);
};

/*
 * Conventions for every entry below: return 0, or -1 with err set; a
 * vanished object is QMF_ERR_UNKNOWN_OBJECT; a libvirt failure is
 * QMF_ERR_LIBVIRT | virErrorNumber with libvirt's text.  Objects are named
 * by their stable key: a domain, pool or network by UUID string, a volume
 * by its key, an interface by its name.  Strings returned through char **
 * are malloc'd and owned by the caller.  Property maps carry objId
 * properties (Volume.storagePool) with only "_object_name" set; the owner
 * fills in "_agent_name".
 */
struct drv_hypervisor {
    const char *name;
    /* Node properties: hostname, uri, libvirtVersion, ..., freeMemory, arch. */
    int (*node_info)(struct drv_conn *c, qmf_value **values, qmf_error *err);
    int (*node_capabilities)(struct drv_conn *c, char **xml, qmf_error *err);
    /* Restores a domain saved with domain_save. */
    int (*node_restore)(struct drv_conn *c, const char *path, qmf_error *err);

    /* A list of Domain property maps, one per defined or running domain. */
    int (*domain_list)(struct drv_conn *c, qmf_value **list, qmf_error *err);
    /* One Domain property map. */
    int (*domain_get)(struct drv_conn *c, const char *uuid, qmf_value **values,
                      qmf_error *err);
    int (*domain_define_xml)(struct drv_conn *c, const char *xml, char **uuid,
                             qmf_error *err);
    int (*domain_create_xml)(struct drv_conn *c, const char *xml, uint32_t flags,
                             char **uuid, qmf_error *err);
    int (*domain_create)(struct drv_conn *c, const char *uuid, uint32_t flags,
                         qmf_error *err);
    int (*domain_shutdown)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*domain_destroy)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*domain_reboot)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*domain_reset)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*domain_suspend)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*domain_resume)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*domain_undefine)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*domain_save)(struct drv_conn *c, const char *uuid, const char *path,
                       qmf_error *err);
    int (*domain_managed_save)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*domain_set_autostart)(struct drv_conn *c, const char *uuid, bool autostart,
                                qmf_error *err);
    int (*domain_get_xml)(struct drv_conn *c, const char *uuid, uint32_t flags,
                          char **xml, qmf_error *err);
    int (*domain_attach_device)(struct drv_conn *c, const char *uuid, const char *xml,
                                bool live, bool config, qmf_error *err);
    int (*domain_detach_device)(struct drv_conn *c, const char *uuid, const char *xml,
                                bool live, bool config, qmf_error *err);
    int (*domain_set_vcpus)(struct drv_conn *c, const char *uuid, uint32_t count,
                            qmf_error *err);
    int (*domain_set_memory)(struct drv_conn *c, const char *uuid, uint64_t kib,
                             qmf_error *err);
    /* Live migration to dest_uri through libvirt's migration API; dname
     * may be NULL, bandwidth 0 means no limit (MiB/s). */
    int (*domain_migrate)(struct drv_conn *c, const char *uuid, const char *dest_uri,
                          uint32_t flags, const char *dname, uint64_t bandwidth,
                          qmf_error *err);
};

struct drv_storage {
    const char *name;
    int (*pool_list)(struct drv_conn *c, qmf_value **list, qmf_error *err);
    int (*pool_get)(struct drv_conn *c, const char *uuid, qmf_value **values,
                    qmf_error *err);
    int (*pool_define_xml)(struct drv_conn *c, const char *xml, char **uuid,
                           qmf_error *err);
    int (*pool_create_xml)(struct drv_conn *c, const char *xml, char **uuid,
                           qmf_error *err);
    int (*pool_create)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*pool_build)(struct drv_conn *c, const char *uuid, uint32_t flags,
                      qmf_error *err);
    int (*pool_destroy)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*pool_delete)(struct drv_conn *c, const char *uuid, uint32_t flags,
                       qmf_error *err);
    int (*pool_undefine)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*pool_refresh)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*pool_get_xml)(struct drv_conn *c, const char *uuid, uint32_t flags,
                        char **xml, qmf_error *err);
    int (*pool_create_volume_xml)(struct drv_conn *c, const char *pool_uuid,
                                  const char *xml, char **key, qmf_error *err);
    /* A volume without writing XML; format NULL means raw. */
    int (*pool_create_volume)(struct drv_conn *c, const char *pool_uuid,
                              const char *name, uint64_t capacity, const char *format,
                              char **key, qmf_error *err);
    int (*find_pool_sources)(struct drv_conn *c, const char *type, const char *spec,
                             char **xml, qmf_error *err);

    /* Every volume of every active pool. */
    int (*volume_list)(struct drv_conn *c, qmf_value **list, qmf_error *err);
    int (*volume_get)(struct drv_conn *c, const char *key, qmf_value **values,
                      qmf_error *err);
    int (*volume_get_xml)(struct drv_conn *c, const char *key, uint32_t flags,
                          char **xml, qmf_error *err);
    int (*volume_delete)(struct drv_conn *c, const char *key, qmf_error *err);
    int (*volume_wipe)(struct drv_conn *c, const char *key, qmf_error *err);
    int (*volume_resize)(struct drv_conn *c, const char *key, uint64_t capacity,
                         qmf_error *err);
    /* A copy of the volume in the same pool. */
    int (*volume_clone)(struct drv_conn *c, const char *key, const char *name,
                        char **new_key, qmf_error *err);
};

struct drv_network {
    const char *name;
    int (*network_list)(struct drv_conn *c, qmf_value **list, qmf_error *err);
    int (*network_get)(struct drv_conn *c, const char *uuid, qmf_value **values,
                       qmf_error *err);
    int (*network_define_xml)(struct drv_conn *c, const char *xml, char **uuid,
                              qmf_error *err);
    int (*network_create_xml)(struct drv_conn *c, const char *xml, char **uuid,
                              qmf_error *err);
    int (*network_create)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*network_destroy)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*network_undefine)(struct drv_conn *c, const char *uuid, qmf_error *err);
    int (*network_set_autostart)(struct drv_conn *c, const char *uuid, bool autostart,
                                 qmf_error *err);
    int (*network_get_xml)(struct drv_conn *c, const char *uuid, uint32_t flags,
                           char **xml, qmf_error *err);
    /* A list of lease maps {iface, expiryTime, type, mac, iaid, ipaddr,
     * prefix, hostname, clientid}; mac NULL: all leases. */
    int (*network_dhcp_leases)(struct drv_conn *c, const char *uuid, const char *mac,
                               qmf_value **leases, qmf_error *err);

    int (*interface_list)(struct drv_conn *c, qmf_value **list, qmf_error *err);
    int (*interface_get)(struct drv_conn *c, const char *name, qmf_value **values,
                         qmf_error *err);
    int (*interface_get_xml)(struct drv_conn *c, const char *name, uint32_t flags,
                             char **xml, qmf_error *err);
    int (*interface_create)(struct drv_conn *c, const char *name, qmf_error *err);
    int (*interface_destroy)(struct drv_conn *c, const char *name, qmf_error *err);
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

/*
 * Calls one entry point of a backend's table, or reports a NULL entry (or
 * table) as QMF_ERR_NOT_IMPLEMENTED naming the backend and the entry:
 *
 *   DRV_CALL(backend, hypervisor, domain_suspend, err, conn, uuid, err)
 */
#define DRV_CALL(backend, table, entry, err, ...)                          \
    ((backend)->table != NULL && (backend)->table->entry != NULL           \
         ? (backend)->table->entry(__VA_ARGS__)                            \
         : drv_not_supported((backend), #entry, (err)))

int drv_not_supported(const struct drv_backend *b, const char *entry,
                      qmf_error *err);

#endif
