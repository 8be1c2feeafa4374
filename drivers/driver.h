/*
 * Drivers: how the agent reaches libvirt to execute commands and build its
 * inventory.
 *
 * libvirt is the only backend and has driver tables of its own, so there
 * is no table of ours in front of it: each libvirt object family (domains,
 * pools, volumes, networks, host interfaces) is described once, as a row
 * of libvirt functions (drivers/libvirt/libvirt_impl.h), and the calls
 * below take the family and run the one generic list, get, XML, define or
 * action on it.  What fits no family shape (the Node, migration, volume
 * cloning, ...) is a plain function of its own.  Inventory calls return
 * property maps keyed by the names of the org.libvirt schema
 * (schema/org.libvirt.xml), so the schema stays the one place where
 * properties are defined.
 *
 * Threading: every call below may block (libvirt talks to daemons and
 * disks) and must be made off the event loop, from worker threads.  The
 * event callbacks in struct drv_events arrive on the event loop thread.
 */
#ifndef DRV_DRIVER_H
#define DRV_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "core/error.h"
#include "core/value.h"

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

/* Opens the hypervisor connection for uri (passed to libvirt unchanged, so
 * its aliases work) and registers for events. */
int drv_open(struct drv_conn **out, const char *uri, const struct drv_events *events,
             void *opaque, qmf_error *err);
/* Unregisters events and closes.  After it returns no event callback for
 * this connection runs.  NULL is a no-op. */
void drv_close(struct drv_conn *c);

/*
 * Hooks libvirt's event machinery into a libevent loop.  libvirt holds one
 * event implementation per process, so main() calls this once, before any
 * connection is opened; every agent of the process then shares the loop.
 */
int drv_event_loop_install(struct event_base *base, qmf_error *err);

/*
 * Conventions for every call below: return 0, or -1 with err set; a
 * vanished object is QMF_ERR_UNKNOWN_OBJECT; a libvirt failure is
 * QMF_ERR_LIBVIRT | virErrorNumber with libvirt's text; a family that
 * lacks what is asked (a pool has no suspend) is QMF_ERR_NOT_IMPLEMENTED.
 * Objects are named by their stable key: a domain, pool or network by UUID
 * string, a volume by its key, an interface by its name.  Strings returned
 * through char ** are malloc'd and owned by the caller.  Property maps
 * carry objId properties (Volume.storagePool) with only "_object_name"
 * set; the owner fills in "_agent_name".
 */
struct drv_family;
extern const struct drv_family drv_domains;
extern const struct drv_family drv_pools;
extern const struct drv_family drv_volumes;      /* of every active pool */
extern const struct drv_family drv_networks;
extern const struct drv_family drv_interfaces;

/* The libvirt actions that take an object (and maybe flags) and nothing
 * else; each family says which of them it has. */
enum drv_action {
    DRV_CREATE,
    DRV_DESTROY,
    DRV_UNDEFINE,
    DRV_SUSPEND,
    DRV_RESUME,
    DRV_SHUTDOWN,
    DRV_REBOOT,
    DRV_RESET,
    DRV_MANAGED_SAVE,
    DRV_BUILD,
    DRV_DELETE,
    DRV_REFRESH,
    DRV_WIPE,
    DRV_NACTIONS
};

/* A list of property maps, one per object of the family. */
int drv_list(struct drv_conn *c, const struct drv_family *f, qmf_value **list,
             qmf_error *err);
/* One object's property map. */
int drv_get(struct drv_conn *c, const struct drv_family *f, const char *key,
            qmf_value **values, qmf_error *err);
int drv_get_xml(struct drv_conn *c, const struct drv_family *f, const char *key,
                uint32_t flags, char **xml, qmf_error *err);
/* A persistent object from XML, left stopped; *key names it. */
int drv_define_xml(struct drv_conn *c, const struct drv_family *f, const char *xml,
                   char **key, qmf_error *err);
/* A started (transient) object from XML; flags reach libvirt where its
 * call takes them (domains). */
int drv_create_xml(struct drv_conn *c, const struct drv_family *f, const char *xml,
                   uint32_t flags, char **key, qmf_error *err);
/* flags reach libvirt where its call takes them, and are ignored elsewhere. */
int drv_act(struct drv_conn *c, const struct drv_family *f, enum drv_action action,
            const char *key, uint32_t flags, qmf_error *err);
int drv_set_autostart(struct drv_conn *c, const struct drv_family *f, const char *key,
                      bool autostart, qmf_error *err);

/* ---- what fits no family shape ---- */

/* Node properties: hostname, uri, libvirtVersion, ..., freeMemory, arch. */
int drv_node_info(struct drv_conn *c, qmf_value **values, qmf_error *err);
int drv_node_capabilities(struct drv_conn *c, char **xml, qmf_error *err);
/* Restores a domain saved with drv_domain_save. */
int drv_node_restore(struct drv_conn *c, const char *path, qmf_error *err);

int drv_domain_save(struct drv_conn *c, const char *uuid, const char *path,
                    qmf_error *err);
int drv_domain_attach_device(struct drv_conn *c, const char *uuid, const char *xml,
                             bool live, bool config, qmf_error *err);
int drv_domain_detach_device(struct drv_conn *c, const char *uuid, const char *xml,
                             bool live, bool config, qmf_error *err);
int drv_domain_set_vcpus(struct drv_conn *c, const char *uuid, uint32_t count,
                         qmf_error *err);
int drv_domain_set_memory(struct drv_conn *c, const char *uuid, uint64_t kib,
                          qmf_error *err);
/* Live migration to dest_uri through libvirt's migration API; dname may be
 * NULL, bandwidth 0 means no limit (MiB/s). */
int drv_domain_migrate(struct drv_conn *c, const char *uuid, const char *dest_uri,
                       uint32_t flags, const char *dname, uint64_t bandwidth,
                       qmf_error *err);

int drv_pool_create_volume_xml(struct drv_conn *c, const char *pool_uuid,
                               const char *xml, char **key, qmf_error *err);
/* A volume without writing XML; format NULL means raw. */
int drv_pool_create_volume(struct drv_conn *c, const char *pool_uuid, const char *name,
                           uint64_t capacity, const char *format, char **key,
                           qmf_error *err);
int drv_find_pool_sources(struct drv_conn *c, const char *type, const char *spec,
                          char **xml, qmf_error *err);

int drv_volume_resize(struct drv_conn *c, const char *key, uint64_t capacity,
                      qmf_error *err);
/* A copy of the volume in the same pool. */
int drv_volume_clone(struct drv_conn *c, const char *key, const char *name,
                     char **new_key, qmf_error *err);

/* A list of lease maps {iface, expiryTime, type, mac, iaid, ipaddr, prefix,
 * hostname, clientid}; mac NULL: all leases. */
int drv_network_dhcp_leases(struct drv_conn *c, const char *uuid, const char *mac,
                            qmf_value **leases, qmf_error *err);

#endif
