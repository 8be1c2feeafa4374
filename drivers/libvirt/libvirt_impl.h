/*
 * Private to the libvirt backend: the connection, its notifications, error
 * mapping, XML helpers and the object family row shared by conn.c (open,
 * close, errors, events), xml.c, family.c (what every family does alike),
 * hypervisor.c (node and domains), storage.c (pools and volumes) and
 * network.c (networks and host interfaces).
 */
#ifndef DRV_LIBVIRT_IMPL_H
#define DRV_LIBVIRT_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

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

/* One object's property map, for the family's lists and gets; ctx is what
 * the list passes along (a volume's pool UUID), NULL for a get. */
typedef int (*drv_lv_values_fn)(struct drv_conn *c, void *obj, const void *ctx,
                                qmf_value **values, qmf_error *err);

/*
 * A libvirt object family, described once: the libvirt call behind each
 * thing it does.  family.c handles every object as void * (each libvirt
 * object handle is a pointer to an opaque struct), but a libvirt function
 * taking a virDomainPtr is not of a type taking void *, and calling it
 * through such a pointer is undefined, whatever the ABI.  So a row names
 * thunks of exactly the row's types, each calling its libvirt function
 * with the void * converted to the handle (and the handle back to void *),
 * as ISO C allows; the macros below write them.  An entry left NULL is
 * something the family cannot do.
 */
typedef void *(*drv_lv_lookup_fn)(virConnectPtr conn, const char *key);
typedef int (*drv_lv_obj_fn)(void *obj);
typedef int (*drv_lv_obj_flags_fn)(void *obj, unsigned int flags);
typedef int (*drv_lv_uuid_fn)(void *obj, char *buf);
typedef const char *(*drv_lv_key_fn)(void *obj);
typedef int (*drv_lv_list_all_fn)(virConnectPtr conn, void ***objs, unsigned int flags);
typedef char *(*drv_lv_xml_desc_fn)(void *obj, unsigned int flags);
typedef void *(*drv_lv_from_xml_fn)(virConnectPtr conn, const char *xml);
typedef void *(*drv_lv_from_xml_flags_fn)(virConnectPtr conn, const char *xml,
                                          unsigned int flags);
typedef int (*drv_lv_set_autostart_fn)(void *obj, int autostart);

/*
 * DRV_LV_<SHAPE>_THUNK(fn) defines drv_lv_call_<fn>, of the row type
 * drv_lv_<shape>_fn, calling the libvirt function fn; a row entry then
 * names drv_lv_call_<fn>.  A libvirt function of another shape does not
 * compile (-Werror) where a cast would have hidden it.
 */
#define DRV_LV_THUNK(fn, ret, params, args) \
    static ret drv_lv_call_##fn params { return fn args; }
#define DRV_LV_LOOKUP_THUNK(fn) \
    DRV_LV_THUNK(fn, void *, (virConnectPtr conn, const char *key), (conn, key))
#define DRV_LV_OBJ_THUNK(fn) DRV_LV_THUNK(fn, int, (void *obj), (obj))
#define DRV_LV_OBJ_FLAGS_THUNK(fn) \
    DRV_LV_THUNK(fn, int, (void *obj, unsigned int flags), (obj, flags))
#define DRV_LV_UUID_THUNK(fn) DRV_LV_THUNK(fn, int, (void *obj, char *buf), (obj, buf))
#define DRV_LV_KEY_THUNK(fn) DRV_LV_THUNK(fn, const char *, (void *obj), (obj))
#define DRV_LV_XML_DESC_THUNK(fn) \
    DRV_LV_THUNK(fn, char *, (void *obj, unsigned int flags), (obj, flags))
#define DRV_LV_FROM_XML_THUNK(fn) \
    DRV_LV_THUNK(fn, void *, (virConnectPtr conn, const char *xml), (conn, xml))
#define DRV_LV_FROM_XML_FLAGS_THUNK(fn) \
    DRV_LV_THUNK(fn, void *, (virConnectPtr conn, const char *xml, unsigned int flags), \
                 (conn, xml, flags))
#define DRV_LV_SET_AUTOSTART_THUNK(fn) \
    DRV_LV_THUNK(fn, int, (void *obj, int autostart), (obj, autostart))

/*
 * The same for a libvirt call listing every obj_type under parent_type (a
 * connection; for volumes, a pool) into an array it allocates.  An array
 * of obj_type may not be read as one of void *, so the thunk hands back a
 * void * array of its own, each object converted, and frees libvirt's.
 * With parent_type virConnectPtr it is a drv_lv_list_all_fn.
 */
#define DRV_LV_LIST_ALL_THUNK(fn, parent_type, obj_type)                       \
    static int drv_lv_call_##fn(parent_type parent, void ***objs,              \
                                unsigned int flags)                            \
    {                                                                          \
        obj_type *typed = NULL;                                                \
        int i, n = fn(parent, &typed, flags);                                  \
                                                                               \
        if (n >= 0)                                                            \
            *objs = qmf_xcalloc((size_t)n, sizeof(**objs));                    \
        for (i = 0; i < n; i++)                                                \
            (*objs)[i] = typed[i];                                             \
        free(typed);                                                           \
        return n;                                                              \
    }

struct drv_family {
    const char *name;               /* "domain", in error texts */
    const char *key_name;           /* "uuid", "key" or "name" */
    const char *label;              /* "domain with uuid": "no <label> '<key>'" */
    int not_found;                  /* libvirt's VIR_ERR_NO_* for the family */
    drv_lv_lookup_fn lookup;
    drv_lv_obj_fn free;
    /* The key of an object: UUID-keyed families have uuid, the others key. */
    drv_lv_uuid_fn uuid;
    drv_lv_key_fn key;
    drv_lv_list_all_fn list_all;
    /* Instead of list_all, for a family not listed in one call (volumes). */
    int (*list)(struct drv_conn *c, qmf_value **list, qmf_error *err);
    drv_lv_values_fn values;
    drv_lv_xml_desc_fn xml_desc;
    /* libvirt's define and create calls come with flags or without. */
    drv_lv_from_xml_fn define_xml;
    drv_lv_from_xml_flags_fn define_xml_flags;
    drv_lv_from_xml_fn create_xml;
    drv_lv_from_xml_flags_fn create_xml_flags;
    drv_lv_set_autostart_fn set_autostart;
    /* Each action with flags or without (at most one of the two). */
    drv_lv_obj_fn act[DRV_NACTIONS];
    drv_lv_obj_flags_fn act_flags[DRV_NACTIONS];
};

/* The object of family f with key on a live connection, or NULL with err
 * set; release it with f->free. */
void *drv_lv_lookup(struct drv_conn *c, const struct drv_family *f, const char *key,
                    qmf_error *err);
/* The key of an object libvirt just returned (malloc'd), and frees it. */
int drv_lv_key_of(struct drv_conn *c, const struct drv_family *f, void *obj,
                  char **key, qmf_error *err);

/*
 * Inventory lists: turns n objects of family f into a list of property maps
 * with f->values(c, objs[i], ctx, ...) and frees every object.  An object
 * for which values fails with f->not_found (it went away since it was
 * listed) is skipped; any other failure fails the list.  objs itself is
 * freed too.  Appends to *list (created if NULL).
 */
int drv_lv_collect(struct drv_conn *c, const struct drv_family *f, void **objs, int n,
                   const void *ctx, qmf_value **list, qmf_error *err);

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

#endif
