/*
 * Configuration keys read through a table (conf_table.h): the checks and
 * the storing that every kind of key shares.
 */
#include "core/conf_table.h"

#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "core/value.h"

struct conf_table_read {
    const struct qmf_conf_table *table;
    void *cfg;
};

static const struct qmf_conf_key *
conf_table_find(const struct qmf_conf_table *table, const char *name)
{
    size_t i;

    for (i = 0; i < table->nkeys; i++)
        if (strcmp(table->keys[i].name, name) == 0)
            return &table->keys[i];
    return NULL;
}

static enum qmf_conf_type
conf_table_type(const struct qmf_conf_key *key)
{
    switch (key->kind) {
    case QMF_CONF_KIND_UNSIGNED:
    case QMF_CONF_KIND_SIZE:
        return QMF_CONF_INT;
    case QMF_CONF_KIND_BOOL:
        return QMF_CONF_BOOL;
    case QMF_CONF_KIND_LIST:
        return QMF_CONF_STRING_LIST;
    case QMF_CONF_KIND_CUSTOM:
        return key->type;
    case QMF_CONF_KIND_STRING:
    default:
        return QMF_CONF_STRING;
    }
}

static bool
conf_table_key_type(void *opaque, const char *name, enum qmf_conf_type *type)
{
    const struct conf_table_read *read = opaque;
    const struct qmf_conf_key *key = conf_table_find(read->table, name);

    if (key == NULL)
        return false;
    *type = conf_table_type(key);
    return true;
}

static int
conf_table_store(void *opaque, const struct qmf_conf_statement *st, qmf_error *err)
{
    const struct conf_table_read *read = opaque;
    const struct qmf_conf_key *key = conf_table_find(read->table, st->key);
    void *field = (char *)read->cfg + key->offset;
    const qmf_value *v = st->value;
    const char *why;
    int64_t n;
    size_t i;

    switch (key->kind) {
    case QMF_CONF_KIND_STRING:
        if (key->check != NULL && (why = key->check(qmf_as_string(v))) != NULL)
            return qmf_conf_error(err, st, "invalid value \"%.*s\" (%s)",
                                  QMF_CONF_SHOW_MAX, qmf_as_string(v), why);
        free(*(char **)field);
        *(char **)field = qmf_xstrdup(qmf_as_string(v));
        return 0;
    case QMF_CONF_KIND_UNSIGNED:
    case QMF_CONF_KIND_SIZE:
        n = qmf_as_int(v);
        if (n < 0 || (unsigned long long)n < key->min || (unsigned long long)n > key->max)
            return qmf_conf_error(err, st, "%lld is out of range %llu..%llu",
                                  (long long)n, key->min, key->max);
        if (key->kind == QMF_CONF_KIND_SIZE)
            *(size_t *)field = (size_t)n;
        else
            *(unsigned *)field = (unsigned)n;
        return 0;
    case QMF_CONF_KIND_BOOL:
        *(bool *)field = qmf_as_bool(v);
        return 0;
    case QMF_CONF_KIND_LIST:
        for (i = 0; key->check != NULL && i < qmf_list_len(v); i++) {
            const char *entry = qmf_as_string(qmf_list_at(v, i));

            if ((why = key->check(entry)) != NULL)
                return qmf_conf_error(err, st, "invalid entry \"%.*s\" (%s)",
                                      QMF_CONF_SHOW_MAX, entry, why);
        }
        qmf_free(*(qmf_value **)field);
        *(qmf_value **)field = qmf_dup(v);
        return 0;
    case QMF_CONF_KIND_CUSTOM:
        return key->apply(field, st, err);
    }
    return qmf_conf_error(err, st, "internal error: unknown kind");
}

static const struct qmf_conf_reader conf_table_reader = {
    .key_type = conf_table_key_type,
    .statement = conf_table_store,
};

int
qmf_conf_table_parse(const struct qmf_conf_table *table, const char *text, size_t len,
                     const char *name, void *cfg, qmf_error *err)
{
    struct conf_table_read read = { table, cfg };

    return qmf_conf_parse(text, text != NULL ? len : 0, name, &conf_table_reader, &read, err);
}

static enum qmf_conf_owns
conf_table_owns(const struct qmf_conf_key *key)
{
    switch (key->kind) {
    case QMF_CONF_KIND_STRING:
        return QMF_CONF_OWNS_STRING;
    case QMF_CONF_KIND_LIST:
        return QMF_CONF_OWNS_VALUE;
    case QMF_CONF_KIND_CUSTOM:
        return key->owns;
    default:
        return QMF_CONF_OWNS_NOTHING;
    }
}

void
qmf_conf_table_free(const struct qmf_conf_table *table, void *cfg)
{
    size_t i;

    for (i = 0; i < table->nkeys; i++) {
        void *field = (char *)cfg + table->keys[i].offset;

        switch (conf_table_owns(&table->keys[i])) {
        case QMF_CONF_OWNS_STRING:
            free(*(char **)field);
            *(char **)field = NULL;
            break;
        case QMF_CONF_OWNS_VALUE:
            qmf_free(*(qmf_value **)field);
            *(qmf_value **)field = NULL;
            break;
        case QMF_CONF_OWNS_NOTHING:
            break;
        }
    }
}

void
qmf_conf_table_copy(const struct qmf_conf_table *table, void *dst, const void *src)
{
    size_t i;

    for (i = 0; i < table->nkeys; i++) {
        size_t offset = table->keys[i].offset;
        void *to = (char *)dst + offset;
        const void *from = (const char *)src + offset;

        switch (conf_table_owns(&table->keys[i])) {
        case QMF_CONF_OWNS_STRING:
            *(char **)to = *(char *const *)from != NULL ? qmf_xstrdup(*(char *const *)from)
                                                         : NULL;
            break;
        case QMF_CONF_OWNS_VALUE:
            *(qmf_value **)to = *(qmf_value *const *)from != NULL
                                ? qmf_dup(*(qmf_value *const *)from) : NULL;
            break;
        case QMF_CONF_OWNS_NOTHING:
            break;
        }
    }
}

const char *
qmf_conf_check_nonempty(const char *s)
{
    return *s == '\0' ? "must not be empty" : NULL;
}

const char *
qmf_conf_check_name(const char *s)
{
    if (*s == '\0')
        return "must not be empty";
    for (; *s != '\0'; s++)
        if (!qmf_name_char_ok(*s))
            return "only letters, digits, '.', '_' and '-' are allowed";
    return NULL;
}

const char *
qmf_conf_check_absolute(const char *s)
{
    return *s != '/' ? "expected an absolute path" : NULL;
}

const char *
qmf_conf_check_optional_path(const char *s)
{
    return *s != '\0' ? qmf_conf_check_absolute(s) : NULL;
}
