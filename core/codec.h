/*
 * QMF value codecs: JSON (json-c) for AMQP 0-9-1 bodies and AMQP 1.0 typed
 * data (qpid-proton's codec) for AMQP 1.0 bodies.  docs/PROTOCOL.md has the
 * mapping table.
 *
 * Nothing here needs proton's headers, so that a JSON user does not see
 * them: the functions on a pn_data_t are codec_amqp.h's.
 *
 * AMQP 1.0 is typed, so its round trip is exact.  JSON is not: decoding
 * yields INT64 (UINT64 above INT64_MAX), DOUBLE, STRING, BOOL, VOID, MAP and
 * LIST, and the schema's declared types are restored with qmf_coerce().
 */
#ifndef QMF_CODEC_H
#define QMF_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

/*
 * A decoded body holds at most this many values, map keys counted: the
 * most nodes qpid-proton's pn_data_t holds, so that whatever one encoding
 * carries the other can.  It bounds what decoding one body costs, in time
 * and in memory, whatever its shape.
 */
#define QMF_MAX_VALUES 65535

/* JSON text of v, NUL-terminated, malloc'd; *len (if non-NULL) gets its length. */
char *qmf_to_json(const qmf_value *v, size_t *len);
/*
 * Parses exactly one JSON document (json-c strict mode, UTF-8, no value
 * inside more than 64 containers); NULL and QMF_ERR_MALFORMED on failure,
 * with json-c's reason and the byte offset (QMF_ERR_TOO_LARGE at 2 GiB,
 * json-c's limit, and past QMF_MAX_VALUES values, counted before json-c
 * runs).
 */
qmf_value *qmf_from_json(const char *buf, size_t len, qmf_error *err);

/* v encoded as one AMQP 1.0 value (map, list, ...), malloc'd into *buf:
 * 0, or a negative proton error code (PN_OUT_OF_MEMORY past proton's 65535
 * nodes). */
int qmf_to_amqp(const qmf_value *v, char **buf, size_t *len);
/* Decodes exactly one value: trailing bytes are QMF_ERR_MALFORMED. */
qmf_value *qmf_from_amqp(const char *buf, size_t len, qmf_error *err);

/*
 * AMQP 1.0 message sections, as RabbitMQ's 1.0 plugin hands them to a
 * 0-9-1 peer (and takes them from one): each is a described value, the
 * descriptor one of these codes (or its symbolic name).
 */
#define QMF_AMQP_SECTION_HEADER         0x70
#define QMF_AMQP_SECTION_APP_PROPERTIES 0x74
#define QMF_AMQP_SECTION_DATA           0x75
#define QMF_AMQP_SECTION_SEQUENCE       0x76
#define QMF_AMQP_SECTION_VALUE          0x77
#define QMF_AMQP_SECTION_FOOTER         0x78

/* v as one section with the given descriptor, malloc'd into *buf: 0, or a
 * negative proton error code as for qmf_to_amqp(). */
int qmf_amqp_section_encode(uint64_t descriptor, const qmf_value *v, char **buf, size_t *len);
/* A data section holding n bytes, malloc'd into *buf. */
void qmf_amqp_data_section(const void *bytes, size_t n, char **buf, size_t *len);

/* One section of a buffer: its descriptor code, and where its value's
 * encoding lies in the buffer. */
struct qmf_amqp_section {
    uint64_t descriptor;
    const char *value;
    size_t value_len;
};
/*
 * Reads the section at *offset of buf and moves *offset past it: 1, 0 at
 * the end of buf, or -1 with QMF_ERR_MALFORMED (not a described value, a
 * descriptor that is not a section's, truncated) or QMF_ERR_TOO_LARGE
 * (more values than proton holds).
 */
int qmf_amqp_section_next(const char *buf, size_t len, size_t *offset,
                          struct qmf_amqp_section *out, qmf_error *err);

/*
 * AMQP 0-10's typed encoding of a map or list (a Qpid C++ peer's amqp/map
 * and amqp/list over 0-10), decoding only; core/amqp010.c has the
 * mapping.  Shaped: the buffer starts with a 32-bit size that counts the
 * rest of it exactly, which no AMQP 1.0 map or list of a body under
 * 5 MB does (their first octet is 0xc1, 0xd1, 0xc0, 0xd0 or 0x45).
 */
bool qmf_amqp010_shaped(const char *buf, size_t len);
qmf_value *qmf_from_amqp010(const char *buf, size_t len, bool is_list, qmf_error *err);

#endif
