/* QMF values: construction, ownership, comparison and container access. */
#include "core/value.h"

#include <sys/types.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void __attribute__((noreturn))
out_of_memory(size_t n)
{
    fprintf(stderr, "virtbus: out of memory allocating %zu bytes\n", n);
    abort();
}

void *
qmf_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        out_of_memory(n);
    return p;
}

void *
qmf_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL)
        out_of_memory(n * size);
    return p;
}

void *
qmf_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        out_of_memory(n);
    return q;
}

char *
qmf_xstrdup(const char *s)
{
    return qmf_xstrndup(s, strlen(s));
}

char *
qmf_xstrndup(const char *s, size_t n)
{
    char *p = qmf_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char * __attribute__((format(printf, 1, 0)))
xvasprintf(const char *fmt, va_list ap)
{
    va_list aq;
    int n;
    char *p;

    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (n < 0)
        out_of_memory(0);
    p = qmf_xmalloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *
qmf_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;

    va_start(ap, fmt);
    p = xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}

static qmf_value *
value_new(enum qmf_kind kind)
{
    qmf_value *v = qmf_xcalloc(1, sizeof(*v));

    v->kind = kind;
    return v;
}

qmf_value *qmf_void(void) { return value_new(QMF_VOID); }

qmf_value *
qmf_bool(bool b)
{
    qmf_value *v = value_new(QMF_BOOL);

    v->u.b = b;
    return v;
}

qmf_value *
qmf_uint(enum qmf_kind kind, uint64_t u)
{
    qmf_value *v = value_new(kind);

    switch (kind) {
    case QMF_UINT8:  v->u.u = (uint8_t)u; break;
    case QMF_UINT16: v->u.u = (uint16_t)u; break;
    case QMF_UINT32: v->u.u = (uint32_t)u; break;
    case QMF_UINT64: v->u.u = u; break;
    default:         abort();    /* a programming error, not input */
    }
    return v;
}

qmf_value *
qmf_int(enum qmf_kind kind, int64_t i)
{
    qmf_value *v = value_new(kind);

    switch (kind) {
    case QMF_INT8:  v->u.i = (int8_t)i; break;
    case QMF_INT16: v->u.i = (int16_t)i; break;
    case QMF_INT32: v->u.i = (int32_t)i; break;
    case QMF_INT64: v->u.i = i; break;
    default:        abort();
    }
    return v;
}

qmf_value *qmf_u32(uint32_t u) { return qmf_uint(QMF_UINT32, u); }
qmf_value *qmf_u64(uint64_t u) { return qmf_uint(QMF_UINT64, u); }
qmf_value *qmf_i32(int32_t i) { return qmf_int(QMF_INT32, i); }
qmf_value *qmf_i64(int64_t i) { return qmf_int(QMF_INT64, i); }

qmf_value *
qmf_float(float f)
{
    qmf_value *v = value_new(QMF_FLOAT);

    v->u.f = f;
    return v;
}

qmf_value *
qmf_double(double d)
{
    qmf_value *v = value_new(QMF_DOUBLE);

    v->u.d = d;
    return v;
}

qmf_value *
qmf_uuid(const uint8_t uuid[16])
{
    qmf_value *v = value_new(QMF_UUID);

    memcpy(v->u.uuid, uuid, 16);
    return v;
}

qmf_value *
qmf_stringn(const char *s, size_t len)
{
    qmf_value *v = value_new(QMF_STRING);

    v->u.str.ptr = qmf_xstrndup(s, len);
    v->u.str.len = len;
    return v;
}

qmf_value *
qmf_string(const char *s)
{
    return qmf_stringn(s, strlen(s));
}

qmf_value *
qmf_stringf(const char *fmt, ...)
{
    qmf_value *v = value_new(QMF_STRING);
    va_list ap;

    va_start(ap, fmt);
    v->u.str.ptr = xvasprintf(fmt, ap);
    va_end(ap);
    v->u.str.len = strlen(v->u.str.ptr);
    return v;
}

qmf_value *
qmf_binary(const void *data, size_t len)
{
    qmf_value *v = value_new(QMF_BINARY);

    v->u.str.ptr = qmf_xmalloc(len + 1);
    if (len)
        memcpy(v->u.str.ptr, data, len);
    v->u.str.ptr[len] = '\0';
    v->u.str.len = len;
    return v;
}

qmf_value *qmf_map(void) { return value_new(QMF_MAP); }
qmf_value *qmf_list(void) { return value_new(QMF_LIST); }

void
qmf_free(qmf_value *v)
{
    size_t i;

    if (v == NULL)
        return;
    switch (v->kind) {
    case QMF_STRING:
    case QMF_BINARY:
        free(v->u.str.ptr);
        break;
    case QMF_MAP:
        for (i = 0; i < v->u.map.len; i++) {
            free(v->u.map.items[i].key);
            qmf_free(v->u.map.items[i].value);
        }
        free(v->u.map.items);
        break;
    case QMF_LIST:
        for (i = 0; i < v->u.list.len; i++)
            qmf_free(v->u.list.items[i]);
        free(v->u.list.items);
        break;
    default:
        break;
    }
    free(v);
}

qmf_value *
qmf_dup(const qmf_value *v)
{
    qmf_value *c;
    size_t i;

    if (v == NULL)
        return NULL;
    switch (v->kind) {
    case QMF_STRING:
        return qmf_stringn(v->u.str.ptr, v->u.str.len);
    case QMF_BINARY:
        return qmf_binary(v->u.str.ptr, v->u.str.len);
    case QMF_MAP:
        c = qmf_map();
        c->u.map.cap = v->u.map.len;
        c->u.map.items = qmf_xcalloc(c->u.map.cap, sizeof(struct qmf_pair));
        for (i = 0; i < v->u.map.len; i++) {
            c->u.map.items[i].key = qmf_xstrdup(v->u.map.items[i].key);
            c->u.map.items[i].value = qmf_dup(v->u.map.items[i].value);
        }
        c->u.map.len = v->u.map.len;
        return c;
    case QMF_LIST:
        c = qmf_list();
        c->u.list.cap = v->u.list.len;
        c->u.list.items = qmf_xcalloc(c->u.list.cap, sizeof(qmf_value *));
        for (i = 0; i < v->u.list.len; i++)
            c->u.list.items[i] = qmf_dup(v->u.list.items[i]);
        c->u.list.len = v->u.list.len;
        return c;
    default:
        c = value_new(v->kind);
        c->u = v->u;
        return c;
    }
}

/* Maps of this many keys or more are compared by sorting, not by lookups:
 * lookups make a comparison of n keys O(n^2). */
#define MAP_EQUAL_SORT_MIN 32
static bool maps_equal_sorted(const qmf_value *a, const qmf_value *b);

bool
qmf_equal(const qmf_value *a, const qmf_value *b)
{
    size_t i;

    if (a == NULL || b == NULL)
        return a == b;
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case QMF_VOID:
        return true;
    case QMF_BOOL:
        return a->u.b == b->u.b;
    case QMF_UINT8: case QMF_UINT16: case QMF_UINT32: case QMF_UINT64:
        return a->u.u == b->u.u;
    case QMF_INT8: case QMF_INT16: case QMF_INT32: case QMF_INT64:
        return a->u.i == b->u.i;
    case QMF_FLOAT:
        return a->u.f == b->u.f;
    case QMF_DOUBLE:
        return a->u.d == b->u.d;
    case QMF_UUID:
        return memcmp(a->u.uuid, b->u.uuid, 16) == 0;
    case QMF_STRING:
    case QMF_BINARY:
        return a->u.str.len == b->u.str.len &&
               memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0;
    case QMF_MAP:
        /* Maps are unordered on the wire: compare by key, not by position. */
        if (a->u.map.len != b->u.map.len)
            return false;
        if (a->u.map.len >= MAP_EQUAL_SORT_MIN)
            return maps_equal_sorted(a, b);
        for (i = 0; i < a->u.map.len; i++) {
            const qmf_value *other = qmf_map_get(b, a->u.map.items[i].key);

            if (!qmf_equal(a->u.map.items[i].value, other))
                return false;
        }
        return true;
    case QMF_LIST:
        if (a->u.list.len != b->u.list.len)
            return false;
        for (i = 0; i < a->u.list.len; i++)
            if (!qmf_equal(a->u.list.items[i], b->u.list.items[i]))
                return false;
        return true;
    }
    return false;
}

const char *
qmf_kind_name(enum qmf_kind kind)
{
    static const char *const names[QMF_KIND_COUNT] = {
        [QMF_VOID] = "void",     [QMF_BOOL] = "bool",
        [QMF_UINT8] = "uint8",   [QMF_UINT16] = "uint16",
        [QMF_UINT32] = "uint32", [QMF_UINT64] = "uint64",
        [QMF_INT8] = "int8",     [QMF_INT16] = "int16",
        [QMF_INT32] = "int32",   [QMF_INT64] = "int64",
        [QMF_FLOAT] = "float",   [QMF_DOUBLE] = "double",
        [QMF_UUID] = "uuid",     [QMF_STRING] = "string",
        [QMF_BINARY] = "binary", [QMF_MAP] = "map",
        [QMF_LIST] = "list",
    };

    if ((unsigned)kind >= QMF_KIND_COUNT)
        return "invalid";
    return names[kind];
}

bool
qmf_is_unsigned(const qmf_value *v)
{
    return v && v->kind >= QMF_UINT8 && v->kind <= QMF_UINT64;
}

bool
qmf_is_signed(const qmf_value *v)
{
    return v && v->kind >= QMF_INT8 && v->kind <= QMF_INT64;
}

bool
qmf_is_integer(const qmf_value *v)
{
    return qmf_is_unsigned(v) || qmf_is_signed(v);
}

bool
qmf_is_number(const qmf_value *v)
{
    return qmf_is_integer(v) ||
           (v && (v->kind == QMF_FLOAT || v->kind == QMF_DOUBLE));
}

bool
qmf_get_int64(const qmf_value *v, int64_t *out)
{
    if (qmf_is_signed(v)) {
        *out = v->u.i;
        return true;
    }
    if (qmf_is_unsigned(v) && v->u.u <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->u.u;
        return true;
    }
    return false;
}

bool
qmf_get_uint64(const qmf_value *v, uint64_t *out)
{
    if (qmf_is_unsigned(v)) {
        *out = v->u.u;
        return true;
    }
    if (qmf_is_signed(v) && v->u.i >= 0) {
        *out = (uint64_t)v->u.i;
        return true;
    }
    return false;
}

bool
qmf_get_double(const qmf_value *v, double *out)
{
    if (v == NULL)
        return false;
    if (v->kind == QMF_DOUBLE)
        *out = v->u.d;
    else if (v->kind == QMF_FLOAT)
        *out = v->u.f;
    else if (qmf_is_unsigned(v))
        *out = (double)v->u.u;
    else if (qmf_is_signed(v))
        *out = (double)v->u.i;
    else
        return false;
    return true;
}

static ssize_t
map_index(const qmf_value *map, const char *key)
{
    size_t i;

    for (i = 0; i < map->u.map.len; i++)
        if (strcmp(map->u.map.items[i].key, key) == 0)
            return (ssize_t)i;
    return -1;
}

qmf_value *
qmf_map_set(qmf_value *map, const char *key, qmf_value *v)
{
    ssize_t idx;

    if (map == NULL || map->kind != QMF_MAP)
        abort();
    idx = map_index(map, key);
    if (idx >= 0) {
        qmf_free(map->u.map.items[idx].value);
        map->u.map.items[idx].value = v;
        return v;
    }
    return qmf_map_append(map, key, v);
}

qmf_value *
qmf_map_append(qmf_value *map, const char *key, qmf_value *v)
{
    if (map == NULL || map->kind != QMF_MAP)
        abort();
    if (map->u.map.len == map->u.map.cap) {
        map->u.map.cap = map->u.map.cap ? map->u.map.cap * 2 : 8;
        map->u.map.items = qmf_xrealloc(map->u.map.items,
                                        map->u.map.cap * sizeof(struct qmf_pair));
    }
    map->u.map.items[map->u.map.len].key = qmf_xstrdup(key);
    map->u.map.items[map->u.map.len].value = v;
    map->u.map.len++;
    return v;
}

static int
pair_cmp(const void *a, const void *b)
{
    const struct qmf_pair *x = *(const struct qmf_pair *const *)a;
    const struct qmf_pair *y = *(const struct qmf_pair *const *)b;

    return strcmp(x->key, y->key);
}

/* The map's pairs sorted by key: an array the caller frees. */
static const struct qmf_pair **
sorted_pairs(const qmf_value *map)
{
    const struct qmf_pair **pairs = qmf_xcalloc(map->u.map.len, sizeof(*pairs));
    size_t i;

    for (i = 0; i < map->u.map.len; i++)
        pairs[i] = &map->u.map.items[i];
    qsort(pairs, map->u.map.len, sizeof(*pairs), pair_cmp);
    return pairs;
}

bool
qmf_map_has_duplicates(const qmf_value *map)
{
    const struct qmf_pair **pairs;
    bool dup = false;
    size_t i;

    if (map == NULL || map->kind != QMF_MAP || map->u.map.len < 2)
        return false;
    pairs = sorted_pairs(map);
    for (i = 1; i < map->u.map.len && !dup; i++)
        dup = strcmp(pairs[i - 1]->key, pairs[i]->key) == 0;
    free(pairs);
    return dup;
}

/* Equal maps of n >= MAP_EQUAL_SORT_MIN keys each, in O(n log n). */
static bool
maps_equal_sorted(const qmf_value *a, const qmf_value *b)
{
    const struct qmf_pair **pa = sorted_pairs(a), **pb = sorted_pairs(b);
    bool equal = true;
    size_t i;

    for (i = 0; i < a->u.map.len && equal; i++)
        equal = strcmp(pa[i]->key, pb[i]->key) == 0 &&
            qmf_equal(pa[i]->value, pb[i]->value);
    free(pa);
    free(pb);
    return equal;
}

qmf_value *
qmf_map_get(const qmf_value *map, const char *key)
{
    ssize_t idx;

    if (map == NULL || map->kind != QMF_MAP)
        return NULL;
    idx = map_index(map, key);
    return idx >= 0 ? map->u.map.items[idx].value : NULL;
}

const char *
qmf_map_get_string(const qmf_value *map, const char *key)
{
    const qmf_value *v = qmf_map_get(map, key);

    return v && v->kind == QMF_STRING ? v->u.str.ptr : NULL;
}

qmf_value *
qmf_map_take(qmf_value *map, const char *key)
{
    ssize_t idx;
    qmf_value *v;

    if (map == NULL || map->kind != QMF_MAP)
        return NULL;
    idx = map_index(map, key);
    if (idx < 0)
        return NULL;
    v = map->u.map.items[idx].value;
    free(map->u.map.items[idx].key);
    memmove(&map->u.map.items[idx], &map->u.map.items[idx + 1],
            (map->u.map.len - (size_t)idx - 1) * sizeof(struct qmf_pair));
    map->u.map.len--;
    return v;
}

size_t
qmf_map_len(const qmf_value *map)
{
    return map && map->kind == QMF_MAP ? map->u.map.len : 0;
}

qmf_value *
qmf_list_append(qmf_value *list, qmf_value *v)
{
    if (list == NULL || list->kind != QMF_LIST)
        abort();
    if (list->u.list.len == list->u.list.cap) {
        list->u.list.cap = list->u.list.cap ? list->u.list.cap * 2 : 8;
        list->u.list.items = qmf_xrealloc(list->u.list.items,
                                          list->u.list.cap * sizeof(qmf_value *));
    }
    list->u.list.items[list->u.list.len++] = v;
    return v;
}

size_t
qmf_list_len(const qmf_value *list)
{
    return list && list->kind == QMF_LIST ? list->u.list.len : 0;
}

qmf_value *
qmf_list_at(const qmf_value *list, size_t i)
{
    if (list == NULL || list->kind != QMF_LIST || i >= list->u.list.len)
        return NULL;
    return list->u.list.items[i];
}

qmf_value *
qmf_list_remove(qmf_value *list, size_t i)
{
    qmf_value *item = qmf_list_at(list, i);

    if (item == NULL)
        return NULL;
    memmove(&list->u.list.items[i], &list->u.list.items[i + 1],
            (list->u.list.len - i - 1) * sizeof(*list->u.list.items));
    list->u.list.len--;
    return item;
}

qmf_value *
qmf_list_steal(qmf_value *list, size_t i)
{
    qmf_value *item = qmf_list_at(list, i);

    if (item != NULL)
        list->u.list.items[i] = NULL;
    return item;
}

qmf_value *
qmf_list_replace(qmf_value *list, size_t i, qmf_value *v)
{
    qmf_value *old = qmf_list_at(list, i);

    if (old == NULL) {
        qmf_free(v);
        return NULL;
    }
    list->u.list.items[i] = v;
    return old;
}

void
qmf_list_sort(qmf_value *list, int (*cmp)(const void *, const void *))
{
    if (qmf_list_len(list) > 1)
        qsort(list->u.list.items, list->u.list.len, sizeof(*list->u.list.items), cmp);
}

struct qmf_pair *
qmf_map_at(const qmf_value *map, size_t i)
{
    if (map == NULL || map->kind != QMF_MAP || i >= map->u.map.len)
        return NULL;
    return &map->u.map.items[i];
}

bool
qmf_as_bool(const qmf_value *v)
{
    return v != NULL && v->kind == QMF_BOOL && v->u.b;
}

uint64_t
qmf_as_uint(const qmf_value *v)
{
    return qmf_is_unsigned(v) ? v->u.u : 0;
}

int64_t
qmf_as_int(const qmf_value *v)
{
    return qmf_is_signed(v) ? v->u.i : 0;
}

float
qmf_as_float(const qmf_value *v)
{
    return v != NULL && v->kind == QMF_FLOAT ? v->u.f : 0.0f;
}

double
qmf_as_double(const qmf_value *v)
{
    return v != NULL && v->kind == QMF_DOUBLE ? v->u.d : 0.0;
}

const uint8_t *
qmf_as_uuid(const qmf_value *v)
{
    return v != NULL && v->kind == QMF_UUID ? v->u.uuid : NULL;
}

const char *
qmf_as_string(const qmf_value *v)
{
    return v != NULL && v->kind == QMF_STRING ? v->u.str.ptr : NULL;
}

static bool
holds_bytes(const qmf_value *v)
{
    return v != NULL && (v->kind == QMF_STRING || v->kind == QMF_BINARY);
}

const char *
qmf_as_bytes(const qmf_value *v)
{
    return holds_bytes(v) ? v->u.str.ptr : NULL;
}

size_t
qmf_bytes_len(const qmf_value *v)
{
    return holds_bytes(v) ? v->u.str.len : 0;
}

void
qmf_uuid_format(const uint8_t u[16], char buf[37])
{
    snprintf(buf, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
             u[10], u[11], u[12], u[13], u[14], u[15]);
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool
qmf_uuid_parse(const char *text, uint8_t uuid[16])
{
    size_t pos = 0, n = 0;

    /* Exactly the canonical form: 32 hex digits with dashes at 8,13,18,23. */
    if (strlen(text) != 36)
        return false;
    while (n < 16) {
        int hi, lo;

        if (pos == 8 || pos == 13 || pos == 18 || pos == 23) {
            if (text[pos++] != '-')
                return false;
            continue;
        }
        hi = hexval(text[pos]);
        lo = hexval(text[pos + 1]);
        if (hi < 0 || lo < 0)
            return false;
        uuid[n++] = (uint8_t)(hi << 4 | lo);
        pos += 2;
    }
    return true;
}
