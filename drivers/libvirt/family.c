/*
 * What every libvirt object family does alike: look an object up by its
 * key, list, get, describe in XML, define or create from XML, set
 * autostart and run a plain action, each written once over the family row
 * (struct drv_family) that hypervisor.c, storage.c and network.c fill in.
 */
#include "drivers/libvirt/libvirt_impl.h"

#include <stdlib.h>

static const char *const drv_lv_action_names[DRV_NACTIONS] = {
    [DRV_CREATE] = "create",
    [DRV_DESTROY] = "destroy",
    [DRV_UNDEFINE] = "undefine",
    [DRV_SUSPEND] = "suspend",
    [DRV_RESUME] = "resume",
    [DRV_SHUTDOWN] = "shutdown",
    [DRV_REBOOT] = "reboot",
    [DRV_RESET] = "reset",
    [DRV_MANAGED_SAVE] = "managed save",
    [DRV_BUILD] = "build",
    [DRV_DELETE] = "delete",
    [DRV_REFRESH] = "refresh",
    [DRV_WIPE] = "wipe",
};

/* A NULL row entry: the family cannot do what was asked. */
static int
drv_lv_not_implemented(const struct drv_family *f, const char *what, qmf_error *err)
{
    qmf_error_set(err, QMF_ERR_NOT_IMPLEMENTED,
                  "%s of a %s is not implemented by the libvirt driver", what, f->name);
    return -1;
}

void *
drv_lv_lookup(struct drv_conn *c, const struct drv_family *f, const char *key,
              qmf_error *err)
{
    uint8_t raw[16];
    void *obj;

    if (drv_lv_check_alive(c, err) < 0)
        return NULL;
    /* A key libvirt could not take is refused before it is asked. */
    if (f->uuid != NULL && (key == NULL || !qmf_uuid_parse(key, raw))) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no %s '%s'", f->label,
                      key != NULL ? key : "");
        return NULL;
    }
    if (f->uuid == NULL && (key == NULL || *key == '\0')) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no %s with an empty %s", f->name,
                      f->key_name);
        return NULL;
    }
    if ((obj = f->lookup(c->conn, key)) == NULL)
        drv_lv_fail_lookup(c, f->not_found, f->label, key, err);
    return obj;
}

int
drv_lv_key_of(struct drv_conn *c, const struct drv_family *f, void *obj, char **key,
              qmf_error *err)
{
    char buf[VIR_UUID_STRING_BUFLEN];
    const char *k = buf;
    int rc = 0;

    if (f->uuid != NULL ? f->uuid(obj, buf) < 0 : (k = f->key(obj)) == NULL)
        rc = drv_lv_fail(c, err);
    else
        *key = qmf_xstrdup(k);
    f->free(obj);
    return rc;
}

int
drv_lv_collect(struct drv_conn *c, const struct drv_family *f, void **objs, int n,
               const void *ctx, qmf_value **list, qmf_error *err)
{
    qmf_value *v = NULL;
    qmf_error e = { .code = QMF_OK };
    int i, rc = 0;

    if (*list == NULL)
        *list = qmf_list();
    for (i = 0; i < n; i++) {
        /* One undefined since it was listed is skipped, not an error. */
        if (rc == 0 && f->values(c, objs[i], ctx, &v, &e) == 0)
            qmf_list_append(*list, v);
        else if (rc == 0 && e.code != (QMF_ERR_LIBVIRT | (uint32_t)f->not_found))
            rc = -1;
        f->free(objs[i]);
    }
    free(objs);
    if (rc < 0 && err != NULL)
        *err = e;
    return rc;
}

int
drv_list(struct drv_conn *c, const struct drv_family *f, qmf_value **list,
         qmf_error *err)
{
    void **objs = NULL;
    int n;

    *list = NULL;
    if (f->list != NULL)
        return f->list(c, list, err);
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((n = f->list_all(c->conn, &objs, 0)) < 0)
        return drv_lv_fail(c, err);
    if (drv_lv_collect(c, f, objs, n, NULL, list, err) < 0) {
        qmf_free(*list);
        *list = NULL;
        return -1;
    }
    return 0;
}

int
drv_get(struct drv_conn *c, const struct drv_family *f, const char *key,
        qmf_value **values, qmf_error *err)
{
    qmf_error e = { .code = QMF_OK };
    void *obj;
    int rc;

    *values = NULL;
    if ((obj = drv_lv_lookup(c, f, key, err)) == NULL)
        return -1;
    rc = f->values(c, obj, NULL, values, &e);
    /* Found, then gone before its properties were read. */
    if (rc < 0 && e.code == (QMF_ERR_LIBVIRT | (uint32_t)f->not_found))
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no %s '%s'", f->label, key);
    else if (rc < 0 && err != NULL)
        *err = e;
    f->free(obj);
    return rc;
}

int
drv_get_xml(struct drv_conn *c, const struct drv_family *f, const char *key,
            uint32_t flags, char **xml, qmf_error *err)
{
    void *obj;
    int rc = 0;

    *xml = NULL;
    if ((obj = drv_lv_lookup(c, f, key, err)) == NULL)
        return -1;
    if ((*xml = f->xml_desc(obj, flags)) == NULL)
        rc = drv_lv_fail(c, err);
    f->free(obj);
    return rc;
}

/* Defines or creates an object with whichever of libvirt's two calls (with
 * flags or without) the family has; what names it in "not implemented". */
static int
drv_lv_from_xml(struct drv_conn *c, const struct drv_family *f, drv_lv_from_xml_fn call,
                drv_lv_from_xml_flags_fn call_flags, const char *what, const char *xml,
                uint32_t flags, char **key, qmf_error *err)
{
    void *obj;

    *key = NULL;
    if (call == NULL && call_flags == NULL)
        return drv_lv_not_implemented(f, what, err);
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    obj = call != NULL ? call(c->conn, xml) : call_flags(c->conn, xml, flags);
    if (obj == NULL)
        return drv_lv_fail(c, err);
    return drv_lv_key_of(c, f, obj, key, err);
}

/* libvirt's define calls that take flags define none yet: 0. */
int
drv_define_xml(struct drv_conn *c, const struct drv_family *f, const char *xml,
               char **key, qmf_error *err)
{
    return drv_lv_from_xml(c, f, f->define_xml, f->define_xml_flags, "define", xml, 0,
                           key, err);
}

int
drv_create_xml(struct drv_conn *c, const struct drv_family *f, const char *xml,
               uint32_t flags, char **key, qmf_error *err)
{
    return drv_lv_from_xml(c, f, f->create_xml, f->create_xml_flags, "create from XML",
                           xml, flags, key, err);
}

int
drv_act(struct drv_conn *c, const struct drv_family *f, enum drv_action action,
        const char *key, uint32_t flags, qmf_error *err)
{
    void *obj;
    int rc = 0;

    if ((unsigned)action >= DRV_NACTIONS)
        return drv_lv_not_implemented(f, "an unknown action", err);
    if (f->act[action] == NULL && f->act_flags[action] == NULL)
        return drv_lv_not_implemented(f, drv_lv_action_names[action], err);
    if ((obj = drv_lv_lookup(c, f, key, err)) == NULL)
        return -1;
    if ((f->act[action] != NULL ? f->act[action](obj)
                                : f->act_flags[action](obj, flags)) < 0)
        rc = drv_lv_fail(c, err);
    f->free(obj);
    return rc;
}

int
drv_set_autostart(struct drv_conn *c, const struct drv_family *f, const char *key,
                  bool autostart, qmf_error *err)
{
    void *obj;
    int rc = 0;

    if (f->set_autostart == NULL)
        return drv_lv_not_implemented(f, "autostart", err);
    if ((obj = drv_lv_lookup(c, f, key, err)) == NULL)
        return -1;
    if (f->set_autostart(obj, autostart ? 1 : 0) < 0)
        rc = drv_lv_fail(c, err);
    f->free(obj);
    return rc;
}
