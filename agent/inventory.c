/*
 * The inventory: the agent's objects by name, and their QMF data maps.
 * The core's dictionary holds them: it clears what removals leave, so
 * lookups stay O(1) however many guests come and go over an agent's life.
 */
#include "agent/inventory.h"

#include <stdlib.h>

static void
object_free(void *payload)
{
    struct inv_object *o = payload;

    qmf_free(o->values);
    free(o->name);
    free(o);
}

void
inv_init(struct inventory *inv, const struct schema *schema,
         const char *agent_name)
{
    inv->objects = qmf_dict_new(object_free);
    inv->removed = qmf_dict_new(free);      /* uint64_t seq of the removal */
    inv->seq = 0;
    inv->schema = schema;
    inv->agent_name = agent_name;
}

void
inv_free(struct inventory *inv)
{
    qmf_dict_free(inv->objects);
    qmf_dict_free(inv->removed);
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
    return qmf_dict_get(inv->objects, name);
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
    qmf_dict_add(inv->objects, o->name, o);
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
    qmf_dict_set(inv->removed, name, removal);
    qmf_dict_remove(inv->objects, name);
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

size_t
inv_count(const struct inventory *inv, const struct schema_class *cls)
{
    const struct inv_object *o;
    size_t cursor = 0, count = 0;

    if (cls == NULL)
        return qmf_dict_len(inv->objects);
    while ((o = qmf_dict_next(inv->objects, &cursor, NULL)) != NULL)
        count += o->cls == cls;
    return count;
}

int
inv_select(const struct inventory *inv, const struct schema_class *cls,
           const qmf_where *where,
           void (*fn)(const struct inv_object *o, void *opaque), void *opaque,
           qmf_error *err)
{
    const struct inv_object *o;
    size_t cursor = 0;
    int match;

    while ((o = qmf_dict_next(inv->objects, &cursor, NULL)) != NULL) {
        if (cls != NULL && o->cls != cls)
            continue;
        if (where != NULL && (match = qmf_where_test(where, o->values, err)) != 1) {
            if (match < 0)
                return -1;      /* the predicate failed on an object: stop */
            continue;
        }
        if (fn)
            fn(o, opaque);
    }
    return 0;
}

/* Whether the object changed, or was removed, after since. */
static bool
changed_after(const struct inventory *inv, const char *name, uint64_t since)
{
    const struct inv_object *o = inv_get(inv, name);
    const uint64_t *removal;

    if (o != NULL)
        return o->seq > since;
    removal = qmf_dict_get(inv->removed, name);
    return removal != NULL && *removal > since;
}

void
inv_replace_class(struct inventory *inv, const struct schema_class *cls,
                  qmf_value *objects_by_name, uint64_t since, int64_t now,
                  qmf_value *changed)
{
    const struct inv_object *o;
    const uint64_t *removal;
    const char *name;
    size_t cursor = 0, i;

    /* Deletions first, so that a push never shows an object twice: the
     * class's objects that the snapshot lacks, but for those changed after
     * it was asked for.  What the snapshot says is stamped since, not as a
     * change of the loop's: a snapshot asked for later knows better. */
    while ((o = qmf_dict_next(inv->objects, &cursor, NULL)) != NULL) {
        qmf_value *gone;

        if (o->cls != cls || o->seq > since || qmf_map_get(objects_by_name, o->name) != NULL)
            continue;
        gone = remove_at(inv, o->name, now, since);
        if (changed)
            qmf_list_append(changed, gone);
        else
            qmf_free(gone);
    }
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
    cursor = 0;
    while ((removal = qmf_dict_next(inv->removed, &cursor, &name)) != NULL)
        if (*removal <= since)
            qmf_dict_remove(inv->removed, name);
}
