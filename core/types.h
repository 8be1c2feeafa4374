/*
 * QMF schema types (uint32, sstr, absTime, objId, ...) and their mapping onto
 * wire kinds.  JSON carries no widths, so a decoded JSON number or string is
 * coerced back to its declared type here; the same step validates arguments.
 */
#ifndef QMF_TYPES_H
#define QMF_TYPES_H

#include <stdbool.h>

#include "core/error.h"
#include "core/value.h"

enum qmf_type {
    QMF_T_UINT8, QMF_T_UINT16, QMF_T_UINT32, QMF_T_UINT64,
    QMF_T_INT8, QMF_T_INT16, QMF_T_INT32, QMF_T_INT64,
    QMF_T_BOOL, QMF_T_FLOAT, QMF_T_DOUBLE,
    QMF_T_SSTR,       /* string of at most 255 bytes */
    QMF_T_LSTR,       /* string of any length: XML documents outgrow QMF's
                         65535, so only the body size limit bounds it */
    QMF_T_ABSTIME,    /* int64, ns since the epoch */
    QMF_T_DELTATIME,  /* int64, ns */
    QMF_T_OBJID,      /* map {_agent_name, _object_name} */
    QMF_T_UUID,
    QMF_T_MAP,
    QMF_T_LIST,
    QMF_T_BINARY,
};
#define QMF_TYPE_COUNT (QMF_T_BINARY + 1)

/* "uint32", "sstr", "absTime", ... as written in schema XML; -1 if unknown. */
int qmf_type_from_name(const char *name);
const char *qmf_type_name(enum qmf_type t);
/*
 * QMFv2's code for type t, as Apache Qpid's C++ console reads a schema's
 * _type: TYPE_INT, TYPE_FLOAT, TYPE_BOOL, TYPE_STRING (strings and binary),
 * TYPE_UUID, TYPE_MAP (maps and object ids) or TYPE_LIST.  Schema answers
 * carry it as _type and qmf_type_name() as _subtype (docs/PROTOCOL.md §5.5).
 */
const char *qmf_type_qmfv2_code(enum qmf_type t);

/* The wire kind values of type t are carried as. */
enum qmf_kind qmf_type_kind(enum qmf_type t);

/*
 * Converts *v in place to the wire kind of type t, or fails with
 * QMF_ERR_INVALID_ARGS and a text naming `what` (an argument or property
 * name).  Lossless conversions only: any integer kind to any integer type
 * within range, integers and doubles to float/double (a double is rounded to
 * the nearest float), canonical UUID text to UUID and a UUID to its text for
 * sstr/lstr, base64 text to binary, integers to absTime/deltaTime.  Strings
 * are never parsed as numbers, and floating values never become integers
 * (not even 3.0).  Texts read "argument '<what>': expected uint64, got string",
 * "argument '<what>': value 300 out of range for uint8", ...  On failure *v
 * is left as it was (still owned by the caller).
 */
int qmf_coerce(qmf_value **v, enum qmf_type t, const char *what, qmf_error *err);

#endif
