/*
 * QMF value codecs: JSON (json-c) for AMQP 0-9-1 bodies and AMQP 1.0 typed
 * data (qpid-proton's codec) for AMQP 1.0 bodies.  docs/PROTOCOL.md has the
 * mapping table.
 *
 * AMQP 1.0 is typed, so its round trip is exact.  JSON is not: decoding
 * yields INT64 (UINT64 above INT64_MAX), DOUBLE, STRING, BOOL, VOID, MAP and
 * LIST, and the schema's declared types are restored with qmf_coerce().
 */
#ifndef QMF_CODEC_H
#define QMF_CODEC_H

#include <stddef.h>

#include <proton/codec.h>

#include "schema/qmf/error.h"
#include "schema/qmf/value.h"

/* JSON text of v, NUL-terminated, malloc'd; *len (if non-NULL) gets its length. */
char *qmf_to_json(const qmf_value *v, size_t *len);
/*
 * Parses exactly one JSON document (json-c strict mode, UTF-8, no value
 * inside more than 64 containers); NULL and QMF_ERR_MALFORMED on failure,
 * with json-c's reason and the byte offset (QMF_ERR_TOO_LARGE at 2 GiB,
 * json-c's limit).
 */
qmf_value *qmf_from_json(const char *buf, size_t len, qmf_error *err);

/*
 * Appends v at the current position of data: 0, or a negative proton error
 * code (PN_OUT_OF_MEMORY past proton's 65535 nodes), after which data holds
 * a partial value and should be discarded.
 */
int qmf_put_pn_data(pn_data_t *data, const qmf_value *v);
/*
 * Reads the value at the current node of data (after pn_data_next()) and
 * leaves data on that node.  NULL and QMF_ERR_MALFORMED for types QMF has
 * no kind for, non-string map keys, or a value inside more than 64
 * containers (the same bound as JSON).
 */
qmf_value *qmf_get_pn_data(pn_data_t *data, qmf_error *err);

/* v encoded as one AMQP 1.0 value (map, list, ...), malloc'd into *buf:
 * 0, or a negative proton error code as for qmf_put_pn_data(). */
int qmf_to_amqp(const qmf_value *v, char **buf, size_t *len);
/* Decodes exactly one value: trailing bytes are QMF_ERR_MALFORMED. */
qmf_value *qmf_from_amqp(const char *buf, size_t len, qmf_error *err);

#endif
