/*
 * The org.libvirt schema tables: lookups, the _hash of each class, the
 * QMFv2 schema maps and the argument/property checks.  The tables come
 * from schema/org.libvirt.xml, read by schema_xml.c, or compiled into the
 * program at build time (gen.c), so that a program that needs only the
 * built-in schema neither parses XML nor links libxml2.
 */
#include "schema/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "schema/schema_int.h"

/*
 * _hash: SHA-256 over a canonical serialization of the class table, first
 * 16 bytes.  Descriptions are left out so that documentation edits do not
 * make consoles think the class changed; everything a peer could depend on
 * (names, types, access, flags, units, references, roles, directions,
 * defaults, host paths) is in.  Fields are NUL-terminated (XML text cannot
 * hold NUL) and every record starts with a tag and counts, so the encoding
 * is unambiguous.
 */
struct hashbuf {
    char *data;
    size_t len, cap;
};

static void
hash_field(struct hashbuf *b, const char *s)
{
    size_t n = strlen(s) + 1;

    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = qmf_xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void
hash_flag(struct hashbuf *b, bool flag)
{
    hash_field(b, flag ? "y" : "n");
}

static void
hash_count(struct hashbuf *b, size_t count)
{
    char num[32];

    snprintf(num, sizeof(num), "%zu", count);
    hash_field(b, num);
}

/* The value, not its spelling: default="0" and default="00" hash alike. */
static void
hash_value(struct hashbuf *b, const qmf_value *v)
{
    char text[64];

    if (v == NULL) {
        hash_field(b, "-");
        return;
    }
    hash_field(b, qmf_kind_name(v->kind));
    switch (v->kind) {
    case QMF_BOOL:
        hash_field(b, qmf_as_bool(v) ? "true" : "false");
        return;
    case QMF_UINT8: case QMF_UINT16: case QMF_UINT32: case QMF_UINT64:
        snprintf(text, sizeof(text), "%llu", (unsigned long long)qmf_as_uint(v));
        break;
    case QMF_INT8: case QMF_INT16: case QMF_INT32: case QMF_INT64:
        snprintf(text, sizeof(text), "%lld", (long long)qmf_as_int(v));
        break;
    case QMF_FLOAT:
        snprintf(text, sizeof(text), "%.9g", (double)qmf_as_float(v));
        break;
    case QMF_DOUBLE:
        snprintf(text, sizeof(text), "%.17g", qmf_as_double(v));
        break;
    case QMF_UUID:
        qmf_uuid_format(qmf_as_uuid(v), text);
        break;
    case QMF_STRING:
        hash_field(b, qmf_as_string(v));
        return;
    default:
        /* parse_default makes no other kinds. */
        text[0] = '\0';
        break;
    }
    hash_field(b, text);
}

static bool
hash_class(struct schema_class *c)
{
    struct hashbuf b = { NULL, 0, 0 };
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t i, j;
    int ok;

    hash_field(&b, "class");
    hash_field(&b, c->package);
    hash_field(&b, c->name);
    hash_field(&b, schema_kind_name(c->kind));
    hash_field(&b, c->kind == SCHEMA_EVENT ? schema_severity_name(c->severity) : "-");
    hash_count(&b, c->nprops);
    for (i = 0; i < c->nprops; i++) {
        const struct schema_property *pr = &c->props[i];

        hash_field(&b, "property");
        hash_field(&b, pr->name);
        hash_field(&b, qmf_type_name(pr->type));
        hash_field(&b, schema_access_name(pr->access));
        hash_flag(&b, pr->optional);
        hash_flag(&b, pr->statistic);
        hash_flag(&b, pr->index);
        hash_field(&b, pr->unit != NULL ? pr->unit : "");
        hash_field(&b, pr->references != NULL ? pr->references : "");
    }
    hash_count(&b, c->nmethods);
    for (i = 0; i < c->nmethods; i++) {
        const struct schema_method *m = &c->methods[i];

        hash_field(&b, "method");
        hash_field(&b, m->name);
        hash_field(&b, schema_role_name(m->role));
        /* Tagged, and only when set, as paths are: a peer must know which
         * methods it may send by the fast path. */
        if (m->readonly)
            hash_field(&b, "readonly");
        hash_count(&b, m->nargs);
        for (j = 0; j < m->nargs; j++) {
            const struct schema_arg *a = &m->args[j];

            hash_field(&b, "arg");
            hash_field(&b, a->name);
            hash_field(&b, qmf_type_name(a->type));
            hash_field(&b, schema_dir_name(a->dir));
            hash_flag(&b, a->optional);
            hash_value(&b, a->default_value);
            hash_field(&b, a->references != NULL ? a->references : "");
            /* Tagged, and only when set: classes without host paths keep
             * the hashes they had before paths were marked. */
            if (a->path != SCHEMA_PATH_NONE) {
                hash_field(&b, "path");
                hash_field(&b, schema_path_name(a->path));
            }
        }
    }
    ok = EVP_Digest(b.data, b.len, md, &mdlen, EVP_sha256(), NULL);
    free(b.data);
    if (!ok || mdlen < sizeof(c->hash))
        return false;
    memcpy(c->hash, md, sizeof(c->hash));
    return true;
}

const uint8_t *
schema_class_hash(const struct schema_class *c)
{
    struct schema *s = c->schema;
    size_t i;

    if (!atomic_load_explicit(&s->hashed, memory_order_acquire)) {
        pthread_mutex_lock(&s->hash_lock);
        if (!atomic_load_explicit(&s->hashed, memory_order_relaxed)) {
            for (i = 0; i < s->nclasses; i++)
                if (!hash_class(&s->classes[i]))
                    abort();    /* SHA-256 unavailable: OpenSSL is broken */
            atomic_store_explicit(&s->hashed, true, memory_order_release);
        }
        pthread_mutex_unlock(&s->hash_lock);
    }
    return c->hash;
}

static void
free_class(struct schema_class *c)
{
    size_t i, j;

    for (i = 0; i < c->nprops; i++) {
        free(c->props[i].name);
        free(c->props[i].unit);
        free(c->props[i].references);
        free(c->props[i].desc);
    }
    /* A failed parse leaves one partly filled entry past the count. */
    if (c->props != NULL) {
        free(c->props[c->nprops].name);
        free(c->props[c->nprops].unit);
        free(c->props[c->nprops].references);
        free(c->props[c->nprops].desc);
    }
    free(c->props);
    for (i = 0; c->methods != NULL && i <= c->nmethods; i++) {
        struct schema_method *m = &c->methods[i];

        for (j = 0; m->args != NULL && j <= m->nargs; j++) {
            free(m->args[j].name);
            qmf_free(m->args[j].default_value);
            free(m->args[j].references);
            free(m->args[j].desc);
        }
        free(m->args);
        free(m->name);
        free(m->desc);
    }
    free(c->methods);
    free(c->package);
    free(c->name);
    free(c->desc);
}

void
schema_free(struct schema *s)
{
    size_t i;

    if (s == NULL || s->is_static)
        return;
    for (i = 0; i < s->nclasses; i++)
        free_class(&s->classes[i]);
    free(s->classes);
    free(s->package);
    pthread_mutex_destroy(&s->hash_lock);
    free(s);
}

const struct schema_class *
schema_find_class(const struct schema *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->nclasses; i++)
        if (strcmp(s->classes[i].name, name) == 0)
            return &s->classes[i];
    return NULL;
}

const struct schema_property *
schema_find_property(const struct schema_class *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->nprops; i++)
        if (strcmp(c->props[i].name, name) == 0)
            return &c->props[i];
    return NULL;
}

const struct schema_method *
schema_find_method(const struct schema_class *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->nmethods; i++)
        if (strcmp(c->methods[i].name, name) == 0)
            return &c->methods[i];
    return NULL;
}

const struct schema_arg *
schema_find_arg(const struct schema_method *m, const char *name)
{
    size_t i;

    for (i = 0; i < m->nargs; i++)
        if (strcmp(m->args[i].name, name) == 0)
            return &m->args[i];
    return NULL;
}

const char *
schema_kind_name(enum schema_kind k)
{
    return (size_t)k < NELEM(kind_names) ? kind_names[k] : "?";
}

const char *
schema_access_name(enum schema_access a)
{
    return (size_t)a < NELEM(access_names) ? access_names[a] : "?";
}

const char *
schema_dir_name(enum schema_dir d)
{
    return (size_t)d < NELEM(dir_names) && dir_names[d] != NULL ? dir_names[d] : "?";
}

const char *
schema_role_name(enum schema_role r)
{
    return (size_t)r < NELEM(role_names) ? role_names[r] : "?";
}

const char *
schema_path_name(enum schema_path p)
{
    return (size_t)p < NELEM(path_names) ? path_names[p] : "?";
}

const char *
schema_severity_name(enum schema_severity s)
{
    return (size_t)s < NELEM(severity_names) ? severity_names[s] : "?";
}

qmf_value *
schema_id_value(const struct schema_class *c)
{
    qmf_value *id = qmf_map();

    qmf_map_set(id, "_package_name", qmf_string(c->package));
    qmf_map_set(id, "_class_name", qmf_string(c->name));
    qmf_map_set(id, "_type", qmf_string(schema_kind_name(c->kind)));
    qmf_map_set(id, "_hash", qmf_uuid(schema_class_hash(c)));
    return id;
}

static qmf_value *
property_value(const struct schema_property *pr)
{
    qmf_value *v = qmf_map();

    qmf_map_set(v, "_name", qmf_string(pr->name));
    qmf_map_set(v, "_type", qmf_string(qmf_type_qmfv2_code(pr->type)));
    qmf_map_set(v, "_subtype", qmf_string(qmf_type_name(pr->type)));
    qmf_map_set(v, "_access", qmf_string(schema_access_name(pr->access)));
    qmf_map_set(v, "_optional", qmf_bool(pr->optional));
    qmf_map_set(v, "_statistic", qmf_bool(pr->statistic));
    qmf_map_set(v, "_index", qmf_bool(pr->index));
    if (pr->unit != NULL)
        qmf_map_set(v, "_unit", qmf_string(pr->unit));
    if (pr->references != NULL)
        qmf_map_set(v, "_references", qmf_string(pr->references));
    qmf_map_set(v, "_desc", qmf_string(pr->desc));
    return v;
}

static qmf_value *
method_value(const struct schema_method *m)
{
    qmf_value *v = qmf_map(), *args;
    size_t i;

    qmf_map_set(v, "_name", qmf_string(m->name));
    qmf_map_set(v, "_desc", qmf_string(m->desc));
    qmf_map_set(v, "_role", qmf_string(schema_role_name(m->role)));
    if (m->readonly)
        qmf_map_set(v, "_readonly", qmf_bool(true));
    args = qmf_map_set(v, "_arguments", qmf_list());
    for (i = 0; i < m->nargs; i++) {
        const struct schema_arg *a = &m->args[i];
        qmf_value *arg = qmf_list_append(args, qmf_map());

        qmf_map_set(arg, "_name", qmf_string(a->name));
        qmf_map_set(arg, "_type", qmf_string(qmf_type_qmfv2_code(a->type)));
        qmf_map_set(arg, "_subtype", qmf_string(qmf_type_name(a->type)));
        qmf_map_set(arg, "_dir", qmf_string(schema_dir_name(a->dir)));
        qmf_map_set(arg, "_optional", qmf_bool(a->optional));
        if (a->default_value != NULL)
            qmf_map_set(arg, "_default", qmf_dup(a->default_value));
        if (a->references != NULL)
            qmf_map_set(arg, "_references", qmf_string(a->references));
        if (a->path != SCHEMA_PATH_NONE)
            qmf_map_set(arg, "_path", qmf_string(schema_path_name(a->path)));
        qmf_map_set(arg, "_desc", qmf_string(a->desc));
    }
    return v;
}

/*
 * The SCHEMA answer for one class:
 *
 *   {_schema_id: {_package_name, _class_name, _type, _hash},
 *    _desc: str,
 *    _default_severity: "info" | "warn" | ...      (events only)
 *    _properties: [{_name, _type: QMFv2's "TYPE_INT" | "TYPE_STRING" | ...,
 *                   _subtype: ours, "uint64" | "sstr" | ..., _access: "RO" |
 *                   "RC" | "RW", _optional, _statistic, _index: bool,
 *                   _unit?: str, _references?: class name, _desc}, ...],
 *    _methods: [{_name, _desc, _role: "reader" | "operator" | "admin",
 *                _readonly?: true (it changes nothing: PROTOCOL.md §7.8),
 *                _arguments: [{_name, _type, _subtype, _dir: "I" | "O" | "IO",
 *                              _optional: bool, _default?: typed value,
 *                              _references?, _path?: "file" | "domain-xml" |
 *                              ..., _desc}, ...]}, ...]}
 *
 * An event's arguments are its _properties; its _methods list is empty.
 * Lists keep the order of the schema file; keys marked ? are present only
 * when set.
 */
qmf_value *
schema_class_value(const struct schema_class *c)
{
    qmf_value *v = qmf_map(), *props, *methods;
    size_t i;

    qmf_map_set(v, "_schema_id", schema_id_value(c));
    qmf_map_set(v, "_desc", qmf_string(c->desc));
    if (c->kind == SCHEMA_EVENT)
        qmf_map_set(v, "_default_severity", qmf_string(schema_severity_name(c->severity)));
    props = qmf_map_set(v, "_properties", qmf_list());
    for (i = 0; i < c->nprops; i++)
        qmf_list_append(props, property_value(&c->props[i]));
    methods = qmf_map_set(v, "_methods", qmf_list());
    for (i = 0; i < c->nmethods; i++)
        qmf_list_append(methods, method_value(&c->methods[i]));
    return v;
}

/* Prefixes qmf_coerce's text with the member's owner ("Domain.save: ..."). */
static void
prefix_error(qmf_error *err, const char *owner)
{
    char text[QMF_ERROR_TEXT_MAX];

    if (err == NULL)
        return;
    snprintf(text, sizeof(text), "%s", err->text);
    qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", owner, text);
}

/*
 * A void argument (JSON null) counts as omitted, so that a console may send
 * every argument and leave some unset.  On failure *args may be partly
 * coerced; the request is rejected anyway.
 */
int
schema_check_args(const struct schema_method *m, qmf_value **args, qmf_error *err)
{
    char owner[2 * 256 + 2];
    qmf_value *map;
    size_t i;

    snprintf(owner, sizeof(owner), "%s.%s",
             m->class_name != NULL ? m->class_name : "?", m->name);
    if (*args == NULL)
        *args = qmf_map();
    map = *args;
    if (map->kind != QMF_MAP) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "the arguments of %s must be a map, not %s", owner,
                      qmf_kind_name(map->kind));
        return -1;
    }
    for (i = 0; i < qmf_map_len(map);) {
        struct qmf_pair *pair = qmf_map_at(map, i);
        const struct schema_arg *a = schema_find_arg(m, pair->key);

        if (a == NULL) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "unknown argument '%s' for %s",
                          pair->key, owner);
            return -1;
        }
        if (!(a->dir & SCHEMA_DIR_IN)) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "argument '%s' is an output of %s",
                          pair->key, owner);
            return -1;
        }
        if (pair->value->kind == QMF_VOID) {
            /* The next pair moves into slot i. */
            qmf_free(qmf_map_take(map, a->name));
            continue;
        }
        if (qmf_coerce(&pair->value, a->type, a->name, err) == -1) {
            prefix_error(err, owner);
            return -1;
        }
        i++;
    }
    for (i = 0; i < m->nargs; i++) {
        const struct schema_arg *a = &m->args[i];

        if (!(a->dir & SCHEMA_DIR_IN) || qmf_map_get(map, a->name) != NULL)
            continue;
        if (!a->optional) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "missing argument '%s' for %s",
                          a->name, owner);
            return -1;
        }
        if (a->default_value != NULL)
            qmf_map_set(map, a->name, qmf_dup(a->default_value));
    }
    return 0;
}

int
schema_check_values(const struct schema_class *c, qmf_value *values, qmf_error *err)
{
    const struct schema_property *pr;
    size_t i;

    if (values == NULL || values->kind != QMF_MAP) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "the values of %s must be a map",
                      c->name);
        return -1;
    }
    for (i = 0; i < qmf_map_len(values); i++) {
        struct qmf_pair *pair = qmf_map_at(values, i);

        if ((pr = schema_find_property(c, pair->key)) == NULL) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "unknown property '%s' of %s",
                          pair->key, c->name);
            return -1;
        }
        /* An optional property may be explicitly unset. */
        if (pr->optional && pair->value->kind == QMF_VOID)
            continue;
        if (qmf_coerce(&pair->value, pr->type, pr->name, err) == -1) {
            prefix_error(err, c->name);
            return -1;
        }
    }
    return 0;
}
