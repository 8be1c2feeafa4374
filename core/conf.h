/*
 * The reader of libvirt-style configuration files (the libvirt.conf and
 * virtqemud.conf syntax), shared by virtbusd and virtbus so that both read
 * the same language and word their errors alike:
 *
 *   key = value            one statement per line; each key at most once
 *   # ...                  a comment, on its own line or after a value
 *   "text" or 'text'       strings, with the escapes \" \' \\ \n \t
 *   42, -1                 integers, decimal
 *   yes, no                booleans (also true/false, on/off, 1/0), unquoted
 *   [ "a", "b", ]          lists; they may span lines, hold comments and
 *                          end with a comma; lists do not nest
 *
 * The reader owns the syntax, the key names (unknown and duplicate keys) and
 * the value types; each program owns what the values mean.  Every error is
 * QMF_ERR_INVALID_ARGS with a text "name:line: key: what", e.g.
 *   "/etc/virtbus/virtbus.conf:3: timeout: expected an integer, got \"ten\""
 */
#ifndef QMF_CONF_H
#define QMF_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/value.h"

/* Config files are a few kilobytes; anything near this is a mistake. */
#define QMF_CONF_FILE_MAX (1024 * 1024)

/* Values quoted in error messages are cut to this many bytes. */
#define QMF_CONF_SHOW_MAX 64

/* What a key's value must be; the reader checks it before the program sees it. */
enum qmf_conf_type {
    QMF_CONF_STRING,            /* "text": a QMF_STRING */
    QMF_CONF_INT,               /* 42: a QMF_INT64 */
    QMF_CONF_STRING_LIST,       /* [ "a", "b" ]: a QMF_LIST of QMF_STRING */
    QMF_CONF_BOOL,              /* yes or no: a QMF_BOOL */
    QMF_CONF_STRINGS,           /* "a" or [ "a", "b" ]: a QMF_STRING or a
                                 * QMF_LIST of QMF_STRING, as written */
};

struct qmf_conf_statement {
    const char *file;           /* the name the reader was given */
    unsigned line;              /* the line of the key */
    const char *key;
    const qmf_value *value;     /* of the key's type; borrowed for the call */
};

struct qmf_conf_reader {
    /* The type key takes; false if there is no such key. */
    bool (*key_type)(void *opaque, const char *key, enum qmf_conf_type *type);
    /* One statement, in file order; returns -1 with err set (see
     * qmf_conf_error) to stop the reading. */
    int (*statement)(void *opaque, const struct qmf_conf_statement *st,
                     qmf_error *err);
};

/*
 * Reads text (len bytes, no NUL needed; NULL when len is 0) and hands each
 * statement to reader->statement.  name stands for the file in messages
 * ("<config>" if NULL).  Returns 0, or -1 with err set at the first error;
 * the statements before it have been handed over already, so a caller that
 * must stay unchanged on failure reads into a copy.
 */
int qmf_conf_parse(const char *text, size_t len, const char *name,
                   const struct qmf_conf_reader *reader, void *opaque,
                   qmf_error *err);

/* Sets err to "file:line: key: <fmt>" for st (QMF_ERR_INVALID_ARGS); returns -1. */
int qmf_conf_error(qmf_error *err, const struct qmf_conf_statement *st,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * The "name=value" convention of libvirt.conf's uri_aliases: turns st's list
 * of strings into a map of name -> value (a QMF_STRING, maybe empty), in file
 * order.  what names an entry in messages ("label", "alias"):
 *   label "rack" has no '='   label "=web" has an empty name   duplicate label "a"
 * Returns NULL with err set on those.
 */
qmf_value *qmf_conf_pairs(const struct qmf_conf_statement *st, const char *what,
                          qmf_error *err);

/*
 * The whole of path in a NUL-terminated buffer (*len excludes the NUL), at
 * most max bytes.  Errors (QMF_ERR_INVALID_ARGS) start with the path:
 *   "/etc/virtbus/virtbus.conf: cannot open: Permission denied"
 */
char *qmf_conf_read_file(const char *path, size_t max, size_t *len, qmf_error *err);

#endif
