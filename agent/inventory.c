/*
 * The inventory: the agent's objects by name, and their QMF data maps.
 * libxml2's hash table holds them: it removes entries for real, so lookups
 * stay O(1) however many guests come and go over an agent's life.
 */
#include "agent/inventory.h"

#include <stdlib.h>

static void
object_free(struct inv_object *o)
{
    if (o == NULL)
        return;
    qmf_free(o->values);
    free(o->name);
    free(o);
}

static void
entry_free(void *payload, const xmlChar *name)
{
    object_free(payload);
}

static void
removal_free(void *payload, const xmlChar *name)
{
    free(payload);
}

#define KEY(s) ((const xmlChar *)(s))

void
inv_init(struct inventory *inv, const struct schema *schema,
         const char *agent_name)
{
    inv->objects = xmlHashCreate(64);
    inv->removed = xmlHashCreate(16);
    if (inv->objects == NULL || inv->removed == NULL)
        abort();
    inv->seq = 0;
    inv->schema = schema;
    inv->agent_name = agent_name;
}

void
inv_free(struct inventory *inv)
{
    if (inv->objects)
        xmlHashFree(inv->objects, entry_free);
    if (inv->removed)
        xmlHashFree(inv->removed, removal_free);
    inv->objects = inv->removed = NULL;
}

uint64_t
inv_seq(const struct inventory *inv)
{
    return inv->seq;
}

struct inv_object *
inv_get(const struct inventory *inv, const char *name)
{
    return xmlHashLookup(inv->objects, KEY(name));
}

/* inv_put, the change stamped seq. */
static bool
put_at(struct inventory *inv, const struct schema_class *cls, const char *name,
       qmf_value *values, int64_t now, uint64_t seq)
{
    struct inv_object *o = inv_get(inv, name);

    if (o != NULL) {
        if (o->cls == cls && qmf_equal(o->values, values)) {
            qmf_free(values);
            return false;
        }
        qmf_free(o->values);
        o->values = values;
        o->cls = cls;
        o->update_ts = now;
        o->seq = seq;
        return true;
    }
    o = qmf_xcalloc(1, sizeof(*o));
    o->name = qmf_xstrdup(name);
    o->cls = cls;
    o->values = values;
    o->create_ts = o->update_ts = now;
    o->seq = seq;
    if (xmlHashAddEntry(inv->objects, KEY(o->name), o) != 0)
        abort();
    return true;
}

bool
inv_put(struct inventory *inv, const struct schema_class *cls,
        const char *name, qmf_value *values, int64_t now)
{
    if (!put_at(inv, cls, name, values, now, inv->seq + 1))
        return false;
    inv->seq++;
    return true;
}

qmf_value *
inv_object_id(const struct inventory *inv, const char *name)
{
    qmf_value *id = qmf_map();

    qmf_map_set(id, "_agent_name", qmf_string(inv->agent_name));
    qmf_map_set(id, "_object_name", qmf_string(name));
    return id;
}

qmf_value *
inv_object_data(const struct inventory *inv, const struct inv_object *o,
                bool stale)
{
    return inv_object_data_with(inv, o, stale, qmf_dup(o->values));
}

qmf_value *
inv_object_data_with(const struct inventory *inv, const struct inv_object *o,
                     bool stale, qmf_value *values)
{
    qmf_value *data = qmf_map();

    qmf_map_set(data, "_object_id", inv_object_id(inv, o->name));
    qmf_map_set(data, "_schema_id", schema_id_value(o->cls));
    qmf_map_set(data, "_values", values);
    qmf_map_set(data, "_create_ts", qmf_i64(o->create_ts));
    qmf_map_set(data, "_update_ts", qmf_i64(o->update_ts));
    if (stale)
        qmf_map_set(data, "_stale", qmf_bool(true));
    return data;
}

/* inv_remove, the removal stamped seq. */
static qmf_value *
remove_at(struct inventory *inv, const char *name, int64_t now, uint64_t seq)
{
    struct inv_object *o = inv_get(inv, name);
    uint64_t *removal;
    qmf_value *data;

    if (o == NULL)
        return NULL;
    data = inv_object_data(inv, o, false);
    qmf_map_set(data, "_delete_ts", qmf_i64(now));
    removal = qmf_xcalloc(1, sizeof(*removal));
    *removal = seq;
    if (xmlHashUpdateEntry(inv->removed, KEY(name), removal, removal_free) != 0)
        abort();
    xmlHashRemoveEntry(inv->objects, KEY(name), entry_free);
    return data;
}

qmf_value *
inv_remove(struct inventory *inv, const char *name, int64_t now)
{
    qmf_value *data = remove_at(inv, name, now, inv->seq + 1);

    if (data != NULL)
        inv->seq++;
    return data;
}

struct select_ctx {
    const struct schema_class *cls;
    const qmf_where *where;
    void (*fn)(const struct inv_object *o, void *opaque);
    void *opaque;
    size_t count;
    qmf_error *err;
    bool failed;                /* the predicate failed on an object: stop */
};

static void
select_scan(void *payload, void *data, const xmlChar *name)
{
    const struct inv_object *o = payload;
    struct select_ctx *ctx = data;
    int match;

    if (ctx->failed || (ctx->cls != NULL && o->cls != ctx->cls))
        return;
    if (ctx->where != NULL && (match = qmf_where_test(ctx->where, o->values, ctx->err)) != 1) {
        ctx->failed = match < 0;
        return;
    }
    ctx->count++;
    if (ctx->fn)
        ctx->fn(o, ctx->opaque);
}

size_t
inv_count(const struct inventory *inv, const struct schema_class *cls)
{
    struct select_ctx ctx = { .cls = cls };

    if (cls == NULL)
        return (size_t)xmlHashSize(inv->objects);
    xmlHashScan(inv->objects, select_scan, &ctx);
    return ctx.count;
}

int
inv_select(const struct inventory *inv, const struct schema_class *cls,
           const qmf_where *where,
           void (*fn)(const struct inv_object *o, void *opaque), void *opaque,
           qmf_error *err)
{
    struct select_ctx ctx = { .cls = cls, .where = where, .fn = fn, .opaque = opaque,
                              .err = err };

    xmlHashScan(inv->objects, select_scan, &ctx);
    return ctx.failed ? -1 : 0;
}

/* Collects the names of a class's objects that the snapshot lacks, but
 * for those changed after it was asked for. */
struct stale_ctx {
    const struct schema_class *cls;
    const qmf_value *snapshot;
    uint64_t since;
    qmf_value *names;
};

static void
stale_scan(void *payload, void *data, const xmlChar *name)
{
    const struct inv_object *o = payload;
    struct stale_ctx *ctx = data;

    if (o->cls == ctx->cls && o->seq <= ctx->since &&
        qmf_map_get(ctx->snapshot, o->name) == NULL)
        qmf_list_append(ctx->names, qmf_string(o->name));
}

/* Collects the removals made at or before since. */
static void
old_removal_scan(void *payload, void *data, const xmlChar *name)
{
    struct stale_ctx *ctx = data;

    if (*(const uint64_t *)payload <= ctx->since)
        qmf_list_append(ctx->names, qmf_string((const char *)name));
}

/* Whether the object changed, or was removed, after since. */
static bool
changed_after(const struct inventory *inv, const char *name, uint64_t since)
{
    const struct inv_object *o = inv_get(inv, name);
    const uint64_t *removal;

    if (o != NULL)
        return o->seq > since;
    removal = xmlHashLookup(inv->removed, KEY(name));
    return removal != NULL && *removal > since;
}

void
inv_replace_class(struct inventory *inv, const struct schema_class *cls,
                  qmf_value *objects_by_name, uint64_t since, int64_t now,
                  qmf_value *changed)
{
    struct stale_ctx ctx = { cls, objects_by_name, since, qmf_list() };
    size_t i;

    /* Deletions first, so that a push never shows an object twice; the
     * table is not changed while it is scanned. */
    xmlHashScan(inv->objects, stale_scan, &ctx);
    /* What the snapshot says is stamped since, not as a change of the
     * loop's: a snapshot asked for later knows better. */
    for (i = 0; i < qmf_list_len(ctx.names); i++) {
        qmf_value *gone = remove_at(inv, qmf_as_string(qmf_list_at(ctx.names, i)), now, since);

        if (changed)
            qmf_list_append(changed, gone);
        else
            qmf_free(gone);
    }
    qmf_free(ctx.names);
    for (i = 0; i < qmf_map_len(objects_by_name); i++) {
        struct qmf_pair *p = qmf_map_at(objects_by_name, i);
        qmf_value *values = p->value;

        if (changed_after(inv, p->key, since))
            continue;
        p->value = qmf_void();      /* ownership moves to the inventory */
        if (put_at(inv, cls, p->key, values, now, since) && changed)
            qmf_list_append(changed, inv_object_data(inv, inv_get(inv, p->key), false));
    }
    /* Snapshots are applied in the order they were asked for: none to come
     * predates since, so older removals matter no more. */
    ctx.names = qmf_list();
    xmlHashScan(inv->removed, old_removal_scan, &ctx);
    for (i = 0; i < qmf_list_len(ctx.names); i++)
        xmlHashRemoveEntry(inv->removed, KEY(qmf_as_string(qmf_list_at(ctx.names, i))),
                           removal_free);
    qmf_free(ctx.names);
}
