/*
 * The libvirt backend's storage table: pools and their volumes as
 * org.libvirt property maps, and every action of the Pool and Volume
 * classes.  A volume is named by its key, libvirt's host-wide identifier;
 * its Pool reference carries only the pool's object name, the agent adds
 * its own name.
 */
#include "drivers/libvirt/libvirt_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const drv_lv_pool_states[] = {
    [VIR_STORAGE_POOL_INACTIVE] = "inactive",
    [VIR_STORAGE_POOL_BUILDING] = "building",
    [VIR_STORAGE_POOL_RUNNING] = "running",
    [VIR_STORAGE_POOL_DEGRADED] = "degraded",
    [VIR_STORAGE_POOL_INACCESSIBLE] = "inaccessible",
};

/* ---- lookups ---- */

static virStoragePoolPtr
drv_lv_pool_open(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    uint8_t raw[16];
    virStoragePoolPtr pool;

    if (drv_lv_check_alive(c, err) < 0)
        return NULL;
    if (uuid == NULL || !qmf_uuid_parse(uuid, raw)) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no pool with uuid '%s'",
                      uuid != NULL ? uuid : "");
        return NULL;
    }
    if ((pool = virStoragePoolLookupByUUIDString(c->conn, uuid)) == NULL)
        drv_lv_fail_lookup(c, VIR_ERR_NO_STORAGE_POOL, "pool with uuid", uuid, err);
    return pool;
}

static virStorageVolPtr
drv_lv_volume_open(struct drv_conn *c, const char *key, qmf_error *err)
{
    virStorageVolPtr vol;

    if (drv_lv_check_alive(c, err) < 0)
        return NULL;
    if (key == NULL || *key == '\0') {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no volume with an empty key");
        return NULL;
    }
    if ((vol = virStorageVolLookupByKey(c->conn, key)) == NULL)
        drv_lv_fail_lookup(c, VIR_ERR_NO_STORAGE_VOL, "volume with key", key, err);
    return vol;
}

static void
drv_lv_pool_free(void *obj)
{
    virStoragePoolFree(obj);
}

static void
drv_lv_volume_free(void *obj)
{
    virStorageVolFree(obj);
}

/* ---- pool inventory ---- */

static int
drv_lv_pool_values(struct drv_conn *c, void *obj, const void *ctx,
                   qmf_value **values, qmf_error *err)
{
    static const char *const exprs[] = {
        "string(/pool/@type)",
        "string(/pool/target/path)",
    };
    virStoragePoolPtr pool = obj;
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
    drv_lv_set_optional(m, "path", facts[1]);
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
    int n;

    *list = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((n = virConnectListAllStoragePools(c->conn, &pools, 0)) < 0)
        return drv_lv_fail(c, err);
    if (drv_lv_collect(c, (void **)pools, n, drv_lv_pool_values, NULL,
                       drv_lv_pool_free, VIR_ERR_NO_STORAGE_POOL, list, err) < 0) {
        qmf_free(*list);
        *list = NULL;
        return -1;
    }
    return 0;
}

static int
drv_lv_pool_get(struct drv_conn *c, const char *uuid, qmf_value **values,
                qmf_error *err)
{
    virStoragePoolPtr pool;
    qmf_error e = { .code = QMF_OK };
    int rc;

    *values = NULL;
    if ((pool = drv_lv_pool_open(c, uuid, err)) == NULL)
        return -1;
    rc = drv_lv_pool_values(c, pool, NULL, values, &e);
    if (rc < 0 && e.code == (QMF_ERR_LIBVIRT | VIR_ERR_NO_STORAGE_POOL))
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no pool with uuid '%s'", uuid);
    else if (rc < 0 && err != NULL)
        *err = e;
    virStoragePoolFree(pool);
    return rc;
}

/* ---- pool actions ---- */

/* The UUID of a pool libvirt just returned (malloc'd), and frees it. */
static int
drv_lv_pool_uuid(struct drv_conn *c, virStoragePoolPtr pool, char **uuid,
                 qmf_error *err)
{
    char buf[VIR_UUID_STRING_BUFLEN];
    int rc = 0;

    if (virStoragePoolGetUUIDString(pool, buf) < 0)
        rc = drv_lv_fail(c, err);
    else
        *uuid = qmf_xstrdup(buf);
    virStoragePoolFree(pool);
    return rc;
}

static int
drv_lv_pool_define_xml(struct drv_conn *c, const char *xml, char **uuid,
                       qmf_error *err)
{
    virStoragePoolPtr pool;

    *uuid = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((pool = virStoragePoolDefineXML(c->conn, xml, 0)) == NULL)
        return drv_lv_fail(c, err);
    return drv_lv_pool_uuid(c, pool, uuid, err);
}

static int
drv_lv_pool_create_xml(struct drv_conn *c, const char *xml, char **uuid,
                       qmf_error *err)
{
    virStoragePoolPtr pool;

    *uuid = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((pool = virStoragePoolCreateXML(c->conn, xml, 0)) == NULL)
        return drv_lv_fail(c, err);
    return drv_lv_pool_uuid(c, pool, uuid, err);
}

/* Runs one of libvirt's pool actions taking flags on the pool with uuid. */
static int
drv_lv_pool_act(struct drv_conn *c, const char *uuid,
                int (*act)(virStoragePoolPtr, unsigned int), unsigned int flags,
                qmf_error *err)
{
    virStoragePoolPtr pool;
    int rc = 0;

    if ((pool = drv_lv_pool_open(c, uuid, err)) == NULL)
        return -1;
    if (act(pool, flags) < 0)
        rc = drv_lv_fail(c, err);
    virStoragePoolFree(pool);
    return rc;
}

/* The few pool actions without flags. */
static int
drv_lv_pool_act_plain(struct drv_conn *c, const char *uuid,
                      int (*act)(virStoragePoolPtr), qmf_error *err)
{
    virStoragePoolPtr pool;
    int rc = 0;

    if ((pool = drv_lv_pool_open(c, uuid, err)) == NULL)
        return -1;
    if (act(pool) < 0)
        rc = drv_lv_fail(c, err);
    virStoragePoolFree(pool);
    return rc;
}

static int
drv_lv_pool_create(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    return drv_lv_pool_act(c, uuid, virStoragePoolCreate, 0, err);
}

static int
drv_lv_pool_build(struct drv_conn *c, const char *uuid, uint32_t flags,
                  qmf_error *err)
{
    return drv_lv_pool_act(c, uuid, virStoragePoolBuild, flags, err);
}

static int
drv_lv_pool_destroy(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    return drv_lv_pool_act_plain(c, uuid, virStoragePoolDestroy, err);
}

static int
drv_lv_pool_delete(struct drv_conn *c, const char *uuid, uint32_t flags,
                   qmf_error *err)
{
    return drv_lv_pool_act(c, uuid, virStoragePoolDelete, flags, err);
}

static int
drv_lv_pool_undefine(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    return drv_lv_pool_act_plain(c, uuid, virStoragePoolUndefine, err);
}

static int
drv_lv_pool_refresh(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    return drv_lv_pool_act(c, uuid, virStoragePoolRefresh, 0, err);
}

static int
drv_lv_pool_get_xml(struct drv_conn *c, const char *uuid, uint32_t flags,
                    char **xml, qmf_error *err)
{
    virStoragePoolPtr pool;
    int rc = 0;

    *xml = NULL;
    if ((pool = drv_lv_pool_open(c, uuid, err)) == NULL)
        return -1;
    if ((*xml = virStoragePoolGetXMLDesc(pool, flags)) == NULL)
        rc = drv_lv_fail(c, err);
    virStoragePoolFree(pool);
    return rc;
}

/* The key of a volume libvirt just created (malloc'd), and frees it. */
static int
drv_lv_volume_key(struct drv_conn *c, virStorageVolPtr vol, char **key,
                  qmf_error *err)
{
    const char *k = virStorageVolGetKey(vol);
    int rc = 0;

    if (k == NULL)
        rc = drv_lv_fail(c, err);
    else
        *key = qmf_xstrdup(k);
    virStorageVolFree(vol);
    return rc;
}

static int
drv_lv_pool_create_volume_xml(struct drv_conn *c, const char *pool_uuid,
                              const char *xml, char **key, qmf_error *err)
{
    virStoragePoolPtr pool;
    virStorageVolPtr vol;
    int rc;

    *key = NULL;
    if ((pool = drv_lv_pool_open(c, pool_uuid, err)) == NULL)
        return -1;
    if ((vol = virStorageVolCreateXML(pool, xml, 0)) == NULL)
        rc = drv_lv_fail(c, err);
    else
        rc = drv_lv_volume_key(c, vol, key, err);
    virStoragePoolFree(pool);
    return rc;
}

static int
drv_lv_pool_create_volume(struct drv_conn *c, const char *pool_uuid,
                          const char *name, uint64_t capacity, const char *format,
                          char **key, qmf_error *err)
{
    char *xml;
    int rc;

    *key = NULL;
    if (drv_lv_volume_xml(name, capacity, format, &xml, err) < 0)
        return -1;
    rc = drv_lv_pool_create_volume_xml(c, pool_uuid, xml, key, err);
    free(xml);
    return rc;
}

static int
drv_lv_find_pool_sources(struct drv_conn *c, const char *type, const char *spec,
                         char **xml, qmf_error *err)
{
    *xml = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((*xml = virConnectFindStoragePoolSources(c->conn, type, spec, 0)) == NULL)
        return drv_lv_fail(c, err);
    return 0;
}

/* ---- volume inventory ---- */

/* ctx: the UUID string of the volume's pool, or NULL to look it up. */
static int
drv_lv_volume_values(struct drv_conn *c, void *obj, const void *ctx,
                     qmf_value **values, qmf_error *err)
{
    static const char *const exprs[] = { "string(/volume/target/format/@type)" };
    virStorageVolPtr vol = obj;
    char pool_uuid[VIR_UUID_STRING_BUFLEN], *path, *xml, *format[1];
    virStorageVolInfo info;
    virStoragePoolPtr pool;
    const char *key, *name;
    qmf_value *m, *ref;

    if (ctx != NULL) {
        snprintf(pool_uuid, sizeof(pool_uuid), "%s", (const char *)ctx);
    } else {
        if ((pool = virStoragePoolLookupByVolume(vol)) == NULL)
            return drv_lv_fail(c, err);
        if (virStoragePoolGetUUIDString(pool, pool_uuid) < 0) {
            drv_lv_fail(c, err);
            virStoragePoolFree(pool);
            return -1;
        }
        virStoragePoolFree(pool);
    }
    if ((key = virStorageVolGetKey(vol)) == NULL ||
        (name = virStorageVolGetName(vol)) == NULL ||
        virStorageVolGetInfo(vol, &info) < 0)
        return drv_lv_fail(c, err);
    if ((path = virStorageVolGetPath(vol)) == NULL)
        return drv_lv_fail(c, err);
    if ((xml = virStorageVolGetXMLDesc(vol, 0)) == NULL) {
        drv_lv_fail(c, err);
        free(path);
        return -1;
    }
    if (drv_lv_xpath_strings(xml, exprs, format, 1, err) < 0) {
        free(xml);
        free(path);
        return -1;
    }
    free(xml);

    m = qmf_map();
    qmf_map_set(m, "key", qmf_string(key));
    qmf_map_set(m, "path", qmf_string(path));
    qmf_map_set(m, "name", qmf_string(name));
    qmf_map_set(m, "capacity", qmf_u64(info.capacity));
    qmf_map_set(m, "allocation", qmf_u64(info.allocation));
    ref = qmf_map_set(m, "storagePool", qmf_map());
    qmf_map_set(ref, "_object_name", qmf_stringf("pool:%s", pool_uuid));
    drv_lv_set_optional(m, "format", format[0]);
    free(format[0]);
    free(path);
    *values = m;
    return 0;
}

/* The volumes of one active pool, appended to *list. */
static int
drv_lv_pool_volumes(struct drv_conn *c, virStoragePoolPtr pool, qmf_value **list,
                    qmf_error *err)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    virStorageVolPtr *vols = NULL;
    qmf_error e = { .code = QMF_OK };
    int n;

    if (virStoragePoolGetUUIDString(pool, uuid) < 0 ||
        (n = virStoragePoolListAllVolumes(pool, &vols, 0)) < 0) {
        drv_lv_fail(c, &e);
        /* Gone or stopped since the pools were listed: no volumes. */
        if (e.code == (QMF_ERR_LIBVIRT | VIR_ERR_NO_STORAGE_POOL) ||
            e.code == (QMF_ERR_LIBVIRT | VIR_ERR_OPERATION_INVALID))
            return 0;
        if (err != NULL)
            *err = e;
        return -1;
    }
    return drv_lv_collect(c, (void **)vols, n, drv_lv_volume_values, uuid,
                          drv_lv_volume_free, VIR_ERR_NO_STORAGE_VOL, list, err);
}

static int
drv_lv_volume_list(struct drv_conn *c, qmf_value **list, qmf_error *err)
{
    virStoragePoolPtr *pools = NULL;
    int i, n, rc = 0;

    *list = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((n = virConnectListAllStoragePools(c->conn, &pools,
                                           VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE)) < 0)
        return drv_lv_fail(c, err);
    *list = qmf_list();
    for (i = 0; i < n; i++) {
        if (rc == 0 && drv_lv_pool_volumes(c, pools[i], list, err) < 0)
            rc = -1;
        virStoragePoolFree(pools[i]);
    }
    free(pools);
    if (rc < 0) {
        qmf_free(*list);
        *list = NULL;
    }
    return rc;
}

static int
drv_lv_volume_get(struct drv_conn *c, const char *key, qmf_value **values,
                  qmf_error *err)
{
    virStorageVolPtr vol;
    qmf_error e = { .code = QMF_OK };
    int rc;

    *values = NULL;
    if ((vol = drv_lv_volume_open(c, key, err)) == NULL)
        return -1;
    rc = drv_lv_volume_values(c, vol, NULL, values, &e);
    if (rc < 0 && e.code == (QMF_ERR_LIBVIRT | VIR_ERR_NO_STORAGE_VOL))
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no volume with key '%s'", key);
    else if (rc < 0 && err != NULL)
        *err = e;
    virStorageVolFree(vol);
    return rc;
}

/* ---- volume actions ---- */

static int
drv_lv_volume_get_xml(struct drv_conn *c, const char *key, uint32_t flags,
                      char **xml, qmf_error *err)
{
    virStorageVolPtr vol;
    int rc = 0;

    *xml = NULL;
    if ((vol = drv_lv_volume_open(c, key, err)) == NULL)
        return -1;
    if ((*xml = virStorageVolGetXMLDesc(vol, flags)) == NULL)
        rc = drv_lv_fail(c, err);
    virStorageVolFree(vol);
    return rc;
}

/* Runs one of libvirt's volume actions taking flags on the volume with key. */
static int
drv_lv_volume_act(struct drv_conn *c, const char *key,
                  int (*act)(virStorageVolPtr, unsigned int), qmf_error *err)
{
    virStorageVolPtr vol;
    int rc = 0;

    if ((vol = drv_lv_volume_open(c, key, err)) == NULL)
        return -1;
    if (act(vol, 0) < 0)
        rc = drv_lv_fail(c, err);
    virStorageVolFree(vol);
    return rc;
}

static int
drv_lv_volume_delete(struct drv_conn *c, const char *key, qmf_error *err)
{
    return drv_lv_volume_act(c, key, virStorageVolDelete, err);
}

static int
drv_lv_volume_wipe(struct drv_conn *c, const char *key, qmf_error *err)
{
    return drv_lv_volume_act(c, key, virStorageVolWipe, err);
}

static int
drv_lv_volume_resize(struct drv_conn *c, const char *key, uint64_t capacity,
                     qmf_error *err)
{
    virStorageVolPtr vol;
    int rc = 0;

    if ((vol = drv_lv_volume_open(c, key, err)) == NULL)
        return -1;
    if (virStorageVolResize(vol, capacity, 0) < 0)
        rc = drv_lv_fail(c, err);
    virStorageVolFree(vol);
    return rc;
}

/* The copy's XML is the source's with the new name. */
static int
drv_lv_volume_clone(struct drv_conn *c, const char *key, const char *name,
                    char **new_key, qmf_error *err)
{
    virStorageVolPtr vol, copy;
    virStoragePoolPtr pool = NULL;
    char *xml = NULL, *copy_xml = NULL;
    int rc = -1;

    *new_key = NULL;
    if ((vol = drv_lv_volume_open(c, key, err)) == NULL)
        return -1;
    if ((pool = virStoragePoolLookupByVolume(vol)) == NULL ||
        (xml = virStorageVolGetXMLDesc(vol, 0)) == NULL) {
        drv_lv_fail(c, err);
        goto out;
    }
    if (drv_lv_volume_xml_renamed(xml, name, &copy_xml, err) < 0)
        goto out;
    if ((copy = virStorageVolCreateXMLFrom(pool, copy_xml, vol, 0)) == NULL) {
        drv_lv_fail(c, err);
        goto out;
    }
    rc = drv_lv_volume_key(c, copy, new_key, err);

out:
    free(xml);
    free(copy_xml);
    if (pool != NULL)
        virStoragePoolFree(pool);
    virStorageVolFree(vol);
    return rc;
}

const struct drv_storage drv_lv_storage = {
    .name = "libvirt",
    .pool_list = drv_lv_pool_list,
    .pool_get = drv_lv_pool_get,
    .pool_define_xml = drv_lv_pool_define_xml,
    .pool_create_xml = drv_lv_pool_create_xml,
    .pool_create = drv_lv_pool_create,
    .pool_build = drv_lv_pool_build,
    .pool_destroy = drv_lv_pool_destroy,
    .pool_delete = drv_lv_pool_delete,
    .pool_undefine = drv_lv_pool_undefine,
    .pool_refresh = drv_lv_pool_refresh,
    .pool_get_xml = drv_lv_pool_get_xml,
    .pool_create_volume_xml = drv_lv_pool_create_volume_xml,
    .pool_create_volume = drv_lv_pool_create_volume,
    .find_pool_sources = drv_lv_find_pool_sources,
    .volume_list = drv_lv_volume_list,
    .volume_get = drv_lv_volume_get,
    .volume_get_xml = drv_lv_volume_get_xml,
    .volume_delete = drv_lv_volume_delete,
    .volume_wipe = drv_lv_volume_wipe,
    .volume_resize = drv_lv_volume_resize,
    .volume_clone = drv_lv_volume_clone,
};
