/*
 * The driver entry points as callers use them: picking a backend for a URI,
 * and wrappers that turn an entry a backend left NULL into one clear
 * QMF_ERR_NOT_IMPLEMENTED instead of a crash.
 */
#include "drivers/driver.h"

#include <stddef.h>

const struct drv_backend *
drv_backend_for_uri(const char *uri)
{
    return &drv_libvirt_backend;
}

static int
drv_not_implemented(const struct drv_backend *b, const char *op, qmf_error *err)
{
    qmf_error_set(err, QMF_ERR_NOT_IMPLEMENTED,
                  "%s is not implemented by the %s driver", op,
                  b != NULL && b->name != NULL ? b->name : "(none)");
    return -1;
}

/* A NULL connection is a caller that has none (yet or any more). */
static int
drv_not_connected(const char *op, qmf_error *err)
{
    qmf_error_set(err, QMF_ERR_DRIVER_DOWN,
                  "%s: not connected to the hypervisor", op);
    return -1;
}

#define DRV_HYPERVISOR_ENTRY(b, entry) \
    ((b) != NULL && (b)->hypervisor != NULL ? (b)->hypervisor->entry : NULL)

int
drv_node_info(const struct drv_backend *b, struct drv_conn *c,
              qmf_value **values, qmf_error *err)
{
    *values = NULL;
    if (DRV_HYPERVISOR_ENTRY(b, node_info) == NULL)
        return drv_not_implemented(b, "node_info", err);
    if (c == NULL)
        return drv_not_connected("node_info", err);
    return b->hypervisor->node_info(c, values, err);
}

int
drv_domain_list(const struct drv_backend *b, struct drv_conn *c,
                qmf_value **list, qmf_error *err)
{
    *list = NULL;
    if (DRV_HYPERVISOR_ENTRY(b, domain_list) == NULL)
        return drv_not_implemented(b, "domain_list", err);
    if (c == NULL)
        return drv_not_connected("domain_list", err);
    return b->hypervisor->domain_list(c, list, err);
}

int
drv_domain_get(const struct drv_backend *b, struct drv_conn *c,
               const char *uuid, qmf_value **values, qmf_error *err)
{
    *values = NULL;
    if (DRV_HYPERVISOR_ENTRY(b, domain_get) == NULL)
        return drv_not_implemented(b, "domain_get", err);
    if (c == NULL)
        return drv_not_connected("domain_get", err);
    return b->hypervisor->domain_get(c, uuid, values, err);
}

int
drv_domain_create(const struct drv_backend *b, struct drv_conn *c,
                  const char *uuid, qmf_error *err)
{
    if (DRV_HYPERVISOR_ENTRY(b, domain_create) == NULL)
        return drv_not_implemented(b, "domain_create", err);
    if (c == NULL)
        return drv_not_connected("domain_create", err);
    return b->hypervisor->domain_create(c, uuid, err);
}

int
drv_domain_shutdown(const struct drv_backend *b, struct drv_conn *c,
                    const char *uuid, qmf_error *err)
{
    if (DRV_HYPERVISOR_ENTRY(b, domain_shutdown) == NULL)
        return drv_not_implemented(b, "domain_shutdown", err);
    if (c == NULL)
        return drv_not_connected("domain_shutdown", err);
    return b->hypervisor->domain_shutdown(c, uuid, err);
}

int
drv_domain_destroy(const struct drv_backend *b, struct drv_conn *c,
                   const char *uuid, qmf_error *err)
{
    if (DRV_HYPERVISOR_ENTRY(b, domain_destroy) == NULL)
        return drv_not_implemented(b, "domain_destroy", err);
    if (c == NULL)
        return drv_not_connected("domain_destroy", err);
    return b->hypervisor->domain_destroy(c, uuid, err);
}

int
drv_pool_list(const struct drv_backend *b, struct drv_conn *c,
              qmf_value **list, qmf_error *err)
{
    *list = NULL;
    if (b == NULL || b->storage == NULL || b->storage->pool_list == NULL)
        return drv_not_implemented(b, "pool_list", err);
    if (c == NULL)
        return drv_not_connected("pool_list", err);
    return b->storage->pool_list(c, list, err);
}

int
drv_network_list(const struct drv_backend *b, struct drv_conn *c,
                 qmf_value **list, qmf_error *err)
{
    *list = NULL;
    if (b == NULL || b->network == NULL || b->network->network_list == NULL)
        return drv_not_implemented(b, "network_list", err);
    if (c == NULL)
        return drv_not_connected("network_list", err);
    return b->network->network_list(c, list, err);
}
