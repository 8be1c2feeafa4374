/* QMF error values: setting them and naming their codes. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/text.h"

void
qmf_error_set(qmf_error *err, uint32_t code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    /* Texts quote what was sent, and travel in _exception bodies and
     * events: whatever was quoted (or cut mid-character), valid UTF-8. */
    qmf_utf8_repair(err->text);
}

void
qmf_error_clear(qmf_error *err)
{
    if (err == NULL)
        return;
    err->code = QMF_OK;
    err->text[0] = '\0';
}

const char *
qmf_error_name(uint32_t code)
{
    if (code & QMF_ERR_LIBVIRT)
        return "libvirt";
    switch (code) {
    case QMF_OK:                  return "ok";
    case QMF_ERR_UNKNOWN_OBJECT:  return "unknown-object";
    case QMF_ERR_UNKNOWN_METHOD:  return "unknown-method";
    case QMF_ERR_NOT_IMPLEMENTED: return "not-implemented";
    case QMF_ERR_INVALID_ARGS:    return "invalid-arguments";
    case QMF_ERR_MALFORMED:       return "malformed";
    case QMF_ERR_UNAUTHORIZED:    return "unauthorized";
    case QMF_ERR_EXPIRED:         return "expired";
    case QMF_ERR_TOO_LARGE:       return "too-large";
    case QMF_ERR_BAD_SIGNATURE:   return "bad-signature";
    case QMF_ERR_DRIVER_DOWN:     return "driver-down";
    case QMF_ERR_INTERNAL:        return "internal";
    case QMF_ERR_TRANSPORT:       return "transport";
    case QMF_ERR_TIMEOUT:         return "timeout";
    case QMF_ERR_AMBIGUOUS:       return "ambiguous";
    case QMF_ERR_INTERRUPTED:     return "interrupted";
    case QMF_ERR_LOCKED:          return "locked";
    case QMF_ERR_CREDENTIAL_UNKNOWN: return "credential-unknown";
    default:                      return "unknown";
    }
}
