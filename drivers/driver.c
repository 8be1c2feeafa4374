/*
 * The driver entry points as callers use them: picking a backend for a URI,
 * and the one error for an entry a backend left NULL (DRV_CALL), so that it
 * is a clear QMF_ERR_NOT_IMPLEMENTED instead of a crash.
 */
#include "drivers/driver.h"

#include <stddef.h>

const struct drv_backend *
drv_backend_for_uri(const char *uri)
{
    return &drv_libvirt_backend;
}

int
drv_not_supported(const struct drv_backend *b, const char *entry, qmf_error *err)
{
    qmf_error_set(err, QMF_ERR_NOT_IMPLEMENTED,
                  "%s is not implemented by the %s driver", entry,
                  b != NULL && b->name != NULL ? b->name : "(none)");
    return -1;
}
