/*
 * Private to the libvirt backend: the connection, its notifications, error
 * mapping and XML helpers shared by conn.c (open, close, errors, events),
 * xml.c, hypervisor.c (node and domains), storage.c (pools and volumes) and
 * network.c (networks and host interfaces).
 */
#ifndef DRV_LIBVIRT_IMPL_H
#define DRV_LIBVIRT_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "drivers/driver.h"

#define DRV_LV_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * What libvirt's callbacks see of a connection.  It outlives struct
 * drv_conn when libvirt releases a callback late (each registration's
 * freecb drops a reference), and `closed` — set by close under the lock
 * that every owner callback runs under — keeps the owner's callbacks from
 * running once close has returned.  `lost` is atomic rather than under
 * that lock, so that worker threads checking it never wait for an owner
 * callback.
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

/* libvirt event registrations of a connection (see conn.c). */
enum drv_lv_callback {
    DRV_LV_CB_DOMAIN_LIFECYCLE,
    DRV_LV_CB_DOMAIN_REBOOT,
    DRV_LV_CB_DEVICE_ADDED,
    DRV_LV_CB_DEVICE_REMOVED,
    DRV_LV_CB_POOL_LIFECYCLE,
    DRV_LV_CB_POOL_REFRESH,
    DRV_LV_CB_NETWORK_LIFECYCLE,
    DRV_LV_NCALLBACKS
};

struct drv_conn {
    virConnectPtr conn;
    char *uri;
    int callback_ids[DRV_LV_NCALLBACKS];     /* -1: not registered */
    struct drv_lv_notify *notify;
};

/* Names of libvirt enum values, indexed by the value. */
struct drv_lv_names {
    const char *const *names;
    size_t len;
};

#define DRV_LV_NAMES(a) { (a), DRV_LV_NELEMS(a) }

/* names[i], or fallback when i is out of range or unnamed. */
const char *drv_lv_name(const char *const *names, size_t len, int i,
                        const char *fallback);
/* tables[i].names[sub], or "unknown". */
const char *drv_lv_sub_name(const struct drv_lv_names *tables, size_t ntables,
                            int i, int sub);

/*
 * Errors.  drv_lv_fail reports the calling thread's last libvirt error as
 * QMF_ERR_LIBVIRT | code with libvirt's text (or DRIVER_DOWN if the
 * connection turns out to be gone); call it right after the failing call,
 * before any other libvirt call resets the error.  Returns -1.
 */
int drv_lv_fail(struct drv_conn *c, qmf_error *err);
/* The same, but libvirt's "no such object" (not_found, e.g. VIR_ERR_NO_DOMAIN)
 * becomes QMF_ERR_UNKNOWN_OBJECT naming what and key.  For lookups. */
int drv_lv_fail_lookup(struct drv_conn *c, int not_found, const char *what,
                       const char *key, qmf_error *err);
/* -1 with DRIVER_DOWN when c is NULL or its connection was lost. */
int drv_lv_check_alive(struct drv_conn *c, qmf_error *err);

/*
 * Inventory lists: turns n libvirt objects into a list of property maps
 * with values(c, objs[i], ctx, ...) and frees every object with free_obj.
 * An object for which values fails with QMF_ERR_LIBVIRT | vanished (it
 * went away since it was listed) is skipped; any other failure fails the
 * list.  objs itself is freed too.  Appends to *list (created if NULL).
 */
typedef int (*drv_lv_values_fn)(struct drv_conn *c, void *obj, const void *ctx,
                                qmf_value **values, qmf_error *err);
int drv_lv_collect(struct drv_conn *c, void **objs, int n, drv_lv_values_fn values,
                   const void *ctx, void (*free_obj)(void *obj), int vanished,
                   qmf_value **list, qmf_error *err);

/*
 * XML (xml.c).  XPath string expressions over a libvirt XML description;
 * out[i] is malloc'd ("" when absent).
 */
int drv_lv_xpath_strings(const char *xml, const char *const *exprs, char **out,
                         size_t n, qmf_error *err);
void drv_lv_free_strings(char **s, size_t n);
/* <volume> XML for a name, a capacity in bytes and a format (NULL: raw). */
int drv_lv_volume_xml(const char *name, uint64_t capacity, const char *format,
                      char **xml, qmf_error *err);
/* The volume XML with its <name> replaced (for clones). */
int drv_lv_volume_xml_renamed(const char *xml, const char *name, char **out,
                              qmf_error *err);

/* Sets map[key] to a string, unless s is empty (optional properties). */
void drv_lv_set_optional(qmf_value *map, const char *key, const char *s);

/* The entry tables. */
extern const struct drv_hypervisor drv_lv_hypervisor;
extern const struct drv_storage drv_lv_storage;
extern const struct drv_network drv_lv_network;

#endif
