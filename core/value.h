/*
 * QMF values: the typed variant every message body, object and argument is
 * made of.  The kinds are the wire types QMFv2 carries (those of qpid's
 * Variant plus binary); schema-level types such as absTime or objId are
 * mapped onto them by core/types.h.
 *
 * Ownership is a plain tree: a container owns its children, setters take
 * ownership of the value they are given, getters return borrowed pointers.
 * Allocation failure is fatal (the process cannot do anything useful).
 *
 * Costs: maps keep insertion order and look keys up linearly, O(N) in the
 * number of keys.  QMF maps are small (a handful to a few dozen keys), where
 * a scan beats hashing; large collections travel as lists.  What builds a
 * map from outside input (the decoders) must not pay that per key: it
 * appends with qmf_map_append() and checks once with
 * qmf_map_has_duplicates(), O(N log N).  qmf_equal() sorts large maps.
 */
#ifndef QMF_VALUE_H
#define QMF_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum qmf_kind {
    QMF_VOID,
    QMF_BOOL,
    QMF_UINT8,
    QMF_UINT16,
    QMF_UINT32,
    QMF_UINT64,
    QMF_INT8,
    QMF_INT16,
    QMF_INT32,
    QMF_INT64,
    QMF_FLOAT,
    QMF_DOUBLE,
    QMF_UUID,
    QMF_STRING,
    QMF_BINARY,
    QMF_MAP,
    QMF_LIST,
};
#define QMF_KIND_COUNT (QMF_LIST + 1)

typedef struct qmf_value qmf_value;

struct qmf_pair {
    char *key;
    qmf_value *value;
};

/* The union is private to the value module (value.c, the codecs amqp.c,
 * json.c and digest.c, and the static tables that schema/gen.c emits):
 * everything else reads a value through the accessors below, so that the
 * layout can change without touching callers.  `kind` is public. */
struct qmf_value {
    enum qmf_kind kind;
    union {
        bool b;
        uint64_t u;   /* UINT8..UINT64 */
        int64_t i;    /* INT8..INT64 */
        float f;
        double d;
        uint8_t uuid[16];
        struct {      /* STRING (always NUL-terminated) and BINARY */
            char *ptr;
            size_t len;
        } str;
        struct {
            struct qmf_pair *items;
            size_t len, cap;
        } map;
        struct {
            qmf_value **items;
            size_t len, cap;
        } list;
    } u;
};

/* Constructors.  qmf_uint/qmf_int take the exact kind; values out of that
 * kind's range are truncated, so range-check first (qmf_coerce does). */
qmf_value *qmf_void(void);
qmf_value *qmf_bool(bool b);
qmf_value *qmf_uint(enum qmf_kind kind, uint64_t u);
qmf_value *qmf_int(enum qmf_kind kind, int64_t i);
qmf_value *qmf_u32(uint32_t u);
qmf_value *qmf_u64(uint64_t u);
qmf_value *qmf_i32(int32_t i);
qmf_value *qmf_i64(int64_t i);
qmf_value *qmf_float(float f);
qmf_value *qmf_double(double d);
qmf_value *qmf_uuid(const uint8_t uuid[16]);
qmf_value *qmf_string(const char *s);
qmf_value *qmf_stringn(const char *s, size_t len);
qmf_value *qmf_stringf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
qmf_value *qmf_binary(const void *data, size_t len);
qmf_value *qmf_map(void);
qmf_value *qmf_list(void);

void qmf_free(qmf_value *v);
qmf_value *qmf_dup(const qmf_value *v);

/* Deep, type-exact equality (UINT32 5 != UINT64 5; NaN != NaN). */
bool qmf_equal(const qmf_value *a, const qmf_value *b);

const char *qmf_kind_name(enum qmf_kind kind);
bool qmf_is_unsigned(const qmf_value *v);
bool qmf_is_signed(const qmf_value *v);
bool qmf_is_integer(const qmf_value *v);
bool qmf_is_number(const qmf_value *v);

/* Numeric readers that succeed only when the value fits exactly. */
bool qmf_get_int64(const qmf_value *v, int64_t *out);
bool qmf_get_uint64(const qmf_value *v, uint64_t *out);
bool qmf_get_double(const qmf_value *v, double *out);

/* Typed readers.  Each reads exactly the kind (or kinds) it names, with no
 * conversion; for any other kind, or NULL, it returns the zero of its type
 * (false, 0, NULL).  Where zero is a valid value, test v->kind first.
 * qmf_as_uint covers UINT8..UINT64, qmf_as_int INT8..INT64. */
bool qmf_as_bool(const qmf_value *v);
uint64_t qmf_as_uint(const qmf_value *v);
int64_t qmf_as_int(const qmf_value *v);
float qmf_as_float(const qmf_value *v);
double qmf_as_double(const qmf_value *v);
const uint8_t *qmf_as_uuid(const qmf_value *v);
/* A STRING's text, NUL-terminated (a string may hold NULs before the end:
 * qmf_bytes_len tells its true length). */
const char *qmf_as_string(const qmf_value *v);
/* The bytes of a STRING or a BINARY (NUL-terminated either way) and their
 * count. */
const char *qmf_as_bytes(const qmf_value *v);
size_t qmf_bytes_len(const qmf_value *v);

/* Maps.  qmf_map_set takes ownership of v, replaces an existing key, and
 * returns v so that nested maps can be built in one expression. */
qmf_value *qmf_map_set(qmf_value *map, const char *key, qmf_value *v);
qmf_value *qmf_map_get(const qmf_value *map, const char *key);
/* Appends key (copied) and v (taken) without looking for key: O(1)
 * amortised.  The caller guarantees key is not in the map yet, or checks
 * with qmf_map_has_duplicates() before anyone looks a key up. */
qmf_value *qmf_map_append(qmf_value *map, const char *key, qmf_value *v);
/* Whether two keys of map are equal: O(N log N). */
bool qmf_map_has_duplicates(const qmf_value *map);
/* The string value at key, or NULL if missing or not a string. */
const char *qmf_map_get_string(const qmf_value *map, const char *key);
/* Removes key and returns its value, now owned by the caller (or NULL). */
qmf_value *qmf_map_take(qmf_value *map, const char *key);
size_t qmf_map_len(const qmf_value *map);
/* The i-th pair in insertion order, or NULL past the end or if map is not
 * a map.  Its value may be replaced in place (the pair owns it); its key
 * must not be changed. */
struct qmf_pair *qmf_map_at(const qmf_value *map, size_t i);

/* Lists.  qmf_list_append takes ownership and returns v. */
qmf_value *qmf_list_append(qmf_value *list, qmf_value *v);
size_t qmf_list_len(const qmf_value *list);
qmf_value *qmf_list_at(const qmf_value *list, size_t i);
/* Removes the i-th item, closing the gap (O(N - i)); returns it, now owned
 * by the caller, or NULL past the end. */
qmf_value *qmf_list_remove(qmf_value *list, size_t i);
/* Returns the i-th item, now owned by the caller, and leaves NULL in its
 * slot: for taking a list apart item by item in O(1) each just before
 * qmf_free()ing it (which skips the NULLs).  NULL past the end. */
qmf_value *qmf_list_steal(qmf_value *list, size_t i);
/* Puts v (taken) in the i-th slot and returns what was there, now owned by
 * the caller; past the end, returns NULL and frees v. */
qmf_value *qmf_list_replace(qmf_value *list, size_t i, qmf_value *v);
/* Sorts the items in place with qsort(); cmp receives two qmf_value **. */
void qmf_list_sort(qmf_value *list, int (*cmp)(const void *, const void *));

/* UUIDs in canonical 8-4-4-4-12 text form; buf needs 37 bytes. */
void qmf_uuid_format(const uint8_t uuid[16], char buf[37]);
bool qmf_uuid_parse(const char *text, uint8_t uuid[16]);

/* Allocation helpers shared by the whole code base: they never return NULL. */
void *qmf_xmalloc(size_t n);
void *qmf_xcalloc(size_t n, size_t size);
void *qmf_xrealloc(void *p, size_t n);
char *qmf_xstrdup(const char *s);
char *qmf_xstrndup(const char *s, size_t n);
char *qmf_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
