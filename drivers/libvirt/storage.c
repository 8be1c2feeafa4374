/*
 * The libvirt backend's storage: the family rows of pools and volumes,
 * their org.libvirt property maps, and the Pool and Volume actions that fit
 * no family shape.  A volume is named by its key, libvirt's host-wide identifier;
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

/* ---- actions that fit no family shape ---- */

int
drv_pool_create_volume_xml(struct drv_conn *c, const char *pool_uuid,
                           const char *xml, char **key, qmf_error *err)
{
    virStoragePoolPtr pool;
    virStorageVolPtr vol;
    int rc;

    *key = NULL;
    if ((pool = drv_lv_lookup(c, &drv_pools, pool_uuid, err)) == NULL)
        return -1;
    if ((vol = virStorageVolCreateXML(pool, xml, 0)) == NULL)
        rc = drv_lv_fail(c, err);
    else
        rc = drv_lv_key_of(c, &drv_volumes, vol, key, err);
    virStoragePoolFree(pool);
    return rc;
}

int
drv_pool_create_volume(struct drv_conn *c, const char *pool_uuid,
                       const char *name, uint64_t capacity, const char *format,
                       char **key, qmf_error *err)
{
    char *xml;
    int rc;

    *key = NULL;
    if (drv_lv_volume_xml(name, capacity, format, &xml, err) < 0)
        return -1;
    rc = drv_pool_create_volume_xml(c, pool_uuid, xml, key, err);
    free(xml);
    return rc;
}

int
drv_find_pool_sources(struct drv_conn *c, const char *type, const char *spec,
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

DRV_LV_LIST_ALL_THUNK(virStoragePoolListAllVolumes, virStoragePoolPtr, virStorageVolPtr)

/* The volumes of one active pool, appended to *list. */
static int
drv_lv_pool_volumes(struct drv_conn *c, virStoragePoolPtr pool, qmf_value **list,
                    qmf_error *err)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    void **vols = NULL;
    qmf_error e = { .code = QMF_OK };
    int n;

    if (virStoragePoolGetUUIDString(pool, uuid) < 0 ||
        (n = drv_lv_call_virStoragePoolListAllVolumes(pool, &vols, 0)) < 0) {
        drv_lv_fail(c, &e);
        /* Gone or stopped since the pools were listed: no volumes. */
        if (e.code == (QMF_ERR_LIBVIRT | VIR_ERR_NO_STORAGE_POOL) ||
            e.code == (QMF_ERR_LIBVIRT | VIR_ERR_OPERATION_INVALID))
            return 0;
        if (err != NULL)
            *err = e;
        return -1;
    }
    return drv_lv_collect(c, &drv_volumes, vols, n, uuid, list, err);
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

int
drv_volume_resize(struct drv_conn *c, const char *key, uint64_t capacity,
                  qmf_error *err)
{
    virStorageVolPtr vol;
    int rc = 0;

    if ((vol = drv_lv_lookup(c, &drv_volumes, key, err)) == NULL)
        return -1;
    if (virStorageVolResize(vol, capacity, 0) < 0)
        rc = drv_lv_fail(c, err);
    virStorageVolFree(vol);
    return rc;
}

/* The copy's XML is the source's with the new name. */
int
drv_volume_clone(struct drv_conn *c, const char *key, const char *name,
                 char **new_key, qmf_error *err)
{
    virStorageVolPtr vol, copy;
    virStoragePoolPtr pool = NULL;
    char *xml = NULL, *copy_xml = NULL;
    int rc = -1;

    *new_key = NULL;
    if ((vol = drv_lv_lookup(c, &drv_volumes, key, err)) == NULL)
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
    rc = drv_lv_key_of(c, &drv_volumes, copy, new_key, err);

out:
    free(xml);
    free(copy_xml);
    if (pool != NULL)
        virStoragePoolFree(pool);
    virStorageVolFree(vol);
    return rc;
}

DRV_LV_LOOKUP_THUNK(virStoragePoolLookupByUUIDString)
DRV_LV_OBJ_THUNK(virStoragePoolFree)
DRV_LV_UUID_THUNK(virStoragePoolGetUUIDString)
DRV_LV_LIST_ALL_THUNK(virConnectListAllStoragePools, virConnectPtr, virStoragePoolPtr)
DRV_LV_XML_DESC_THUNK(virStoragePoolGetXMLDesc)
DRV_LV_FROM_XML_FLAGS_THUNK(virStoragePoolDefineXML)
DRV_LV_FROM_XML_FLAGS_THUNK(virStoragePoolCreateXML)
DRV_LV_OBJ_THUNK(virStoragePoolDestroy)
DRV_LV_OBJ_THUNK(virStoragePoolUndefine)
DRV_LV_OBJ_FLAGS_THUNK(virStoragePoolCreate)
DRV_LV_OBJ_FLAGS_THUNK(virStoragePoolBuild)
DRV_LV_OBJ_FLAGS_THUNK(virStoragePoolDelete)
DRV_LV_OBJ_FLAGS_THUNK(virStoragePoolRefresh)

const struct drv_family drv_pools = {
    .name = "pool",
    .key_name = "uuid",
    .label = "pool with uuid",
    .not_found = VIR_ERR_NO_STORAGE_POOL,
    .lookup = drv_lv_call_virStoragePoolLookupByUUIDString,
    .free = drv_lv_call_virStoragePoolFree,
    .uuid = drv_lv_call_virStoragePoolGetUUIDString,
    .list_all = drv_lv_call_virConnectListAllStoragePools,
    .values = drv_lv_pool_values,
    .xml_desc = drv_lv_call_virStoragePoolGetXMLDesc,
    .define_xml_flags = drv_lv_call_virStoragePoolDefineXML,
    .create_xml_flags = drv_lv_call_virStoragePoolCreateXML,
    .act = {
        [DRV_DESTROY] = drv_lv_call_virStoragePoolDestroy,
        [DRV_UNDEFINE] = drv_lv_call_virStoragePoolUndefine,
    },
    .act_flags = {
        [DRV_CREATE] = drv_lv_call_virStoragePoolCreate,
        [DRV_BUILD] = drv_lv_call_virStoragePoolBuild,
        [DRV_DELETE] = drv_lv_call_virStoragePoolDelete,
        [DRV_REFRESH] = drv_lv_call_virStoragePoolRefresh,
    },
};

DRV_LV_LOOKUP_THUNK(virStorageVolLookupByKey)
DRV_LV_OBJ_THUNK(virStorageVolFree)
DRV_LV_KEY_THUNK(virStorageVolGetKey)
DRV_LV_XML_DESC_THUNK(virStorageVolGetXMLDesc)
DRV_LV_OBJ_FLAGS_THUNK(virStorageVolDelete)
DRV_LV_OBJ_FLAGS_THUNK(virStorageVolWipe)

const struct drv_family drv_volumes = {
    .name = "volume",
    .key_name = "key",
    .label = "volume with key",
    .not_found = VIR_ERR_NO_STORAGE_VOL,
    .lookup = drv_lv_call_virStorageVolLookupByKey,
    .free = drv_lv_call_virStorageVolFree,
    .key = drv_lv_call_virStorageVolGetKey,
    .list = drv_lv_volume_list,
    .values = drv_lv_volume_values,
    .xml_desc = drv_lv_call_virStorageVolGetXMLDesc,
    .act_flags = {
        [DRV_DELETE] = drv_lv_call_virStorageVolDelete,
        [DRV_WIPE] = drv_lv_call_virStorageVolWipe,
    },
};
