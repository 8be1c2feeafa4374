/*
 * Configuration keys described by a table: where each value goes in the
 * program's configuration struct and what it must look like.  The agent's
 * and the controller's files are both read this way, over the shared
 * syntax (core/conf.h), so that the same kind of key is checked, and
 * its errors worded, the same in both.
 */
#ifndef QMF_CONF_TABLE_H
#define QMF_CONF_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/conf.h"
#include "core/error.h"

/* NULL if s is acceptable, else why not (shown in parentheses). */
typedef const char *qmf_conf_check_fn(const char *s);

/* Checks and stores a value of the key's type into field; -1 with err set
 * (qmf_conf_error) if it is refused. */
typedef int qmf_conf_apply_fn(void *field, const struct qmf_conf_statement *st,
                              qmf_error *err);

enum qmf_conf_kind {
    QMF_CONF_KIND_STRING,       /* char *, replaced; check optional */
    QMF_CONF_KIND_UNSIGNED,     /* unsigned, min..max */
    QMF_CONF_KIND_SIZE,         /* size_t, min..max */
    QMF_CONF_KIND_BOOL,         /* bool, from yes or no */
    QMF_CONF_KIND_LIST,         /* qmf_value * list of strings, replaced; check
                                 * applies to each entry */
    QMF_CONF_KIND_CUSTOM,       /* apply, for a value of type */
};

/* What a custom key's field holds, for qmf_conf_table_free and _copy
 * (string keys hold a char *, list keys a qmf_value *). */
enum qmf_conf_owns {
    QMF_CONF_OWNS_NOTHING,      /* a plain value */
    QMF_CONF_OWNS_STRING,       /* a malloc'd char *, or NULL */
    QMF_CONF_OWNS_VALUE,        /* a qmf_value *, or NULL */
};

struct qmf_conf_key {
    const char *name;
    enum qmf_conf_kind kind;
    size_t offset;              /* of the field in the program's struct */
    unsigned long long min, max;        /* QMF_CONF_KIND_UNSIGNED and _SIZE */
    qmf_conf_check_fn *check;           /* QMF_CONF_KIND_STRING and _LIST */
    enum qmf_conf_type type;            /* QMF_CONF_KIND_CUSTOM */
    qmf_conf_apply_fn *apply;           /* QMF_CONF_KIND_CUSTOM */
    enum qmf_conf_owns owns;            /* QMF_CONF_KIND_CUSTOM */
};

/* Table entries; the program defines QMF_CONF_STRUCT as its struct type first. */
#define QMF_CONF_STRING_KEY(name, member, check) \
    { name, QMF_CONF_KIND_STRING, offsetof(QMF_CONF_STRUCT, member), 0, 0, check, 0, NULL, 0 }
#define QMF_CONF_UNSIGNED_KEY(name, member, min, max) \
    { name, QMF_CONF_KIND_UNSIGNED, offsetof(QMF_CONF_STRUCT, member), min, max, NULL, 0, NULL, 0 }
#define QMF_CONF_SIZE_KEY(name, member, min, max) \
    { name, QMF_CONF_KIND_SIZE, offsetof(QMF_CONF_STRUCT, member), min, max, NULL, 0, NULL, 0 }
#define QMF_CONF_BOOL_KEY(name, member) \
    { name, QMF_CONF_KIND_BOOL, offsetof(QMF_CONF_STRUCT, member), 0, 0, NULL, 0, NULL, 0 }
#define QMF_CONF_LIST_KEY(name, member, check) \
    { name, QMF_CONF_KIND_LIST, offsetof(QMF_CONF_STRUCT, member), 0, 0, check, 0, NULL, 0 }
#define QMF_CONF_CUSTOM_KEY(name, member, type, apply, owns) \
    { name, QMF_CONF_KIND_CUSTOM, offsetof(QMF_CONF_STRUCT, member), 0, 0, NULL, type, apply, \
      owns }

struct qmf_conf_table {
    const struct qmf_conf_key *keys;
    size_t nkeys;
};

/*
 * Reads text (as qmf_conf_parse) into cfg, a struct the table describes.
 * The statements before an error have been stored already: a caller that
 * must stay unchanged on failure reads into a copy.
 */
int qmf_conf_table_parse(const struct qmf_conf_table *table, const char *text, size_t len,
                         const char *name, void *cfg, qmf_error *err);

/* Frees what the table's fields of cfg hold, and NULLs them; the fields
 * no key describes are the caller's. */
void qmf_conf_table_free(const struct qmf_conf_table *table, void *cfg);

/* Makes the table's fields of dst, a shallow copy of src (*dst = *src),
 * copies of their own; NULL stays NULL. */
void qmf_conf_table_copy(const struct qmf_conf_table *table, void *dst, const void *src);

/* The checks both programs use. */
qmf_conf_check_fn qmf_conf_check_nonempty;
/* A name that ends up in protocol names (qmf_name_char_ok). */
qmf_conf_check_fn qmf_conf_check_name;
/* The daemon may chdir("/"), and the CLI runs anywhere: a relative path
 * would move. */
qmf_conf_check_fn qmf_conf_check_absolute;
/* Absolute, or "" for none. */
qmf_conf_check_fn qmf_conf_check_optional_path;

#endif
