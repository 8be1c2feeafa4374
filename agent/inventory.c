/* The inventory: the agent's objects by name, and their QMF data maps. */
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
entry_free(struct lh_entry *e)
{
    /* The key is the object's own name: freeing the object frees both. */
    object_free(lh_entry_v(e));
}

void
inv_init(struct inventory *inv, const struct schema *schema,
         const char *agent_name)
{
    inv->objects = lh_kchar_table_new(64, entry_free);
    if (inv->objects == NULL)
        abort();
    inv->schema = schema;
    inv->agent_name = agent_name;
}

void
inv_free(struct inventory *inv)
{
    if (inv->objects)
        lh_table_free(inv->objects);
    inv->objects = NULL;
}

struct inv_object *
inv_get(const struct inventory *inv, const char *name)
{
    struct lh_entry *e = lh_table_lookup_entry(inv->objects, name);

    return e ? lh_entry_v(e) : NULL;
}

bool
inv_put(struct inventory *inv, const struct schema_class *cls,
        const char *name, qmf_value *values, int64_t now)
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
        return true;
    }
    o = qmf_xcalloc(1, sizeof(*o));
    o->name = qmf_xstrdup(name);
    o->cls = cls;
    o->values = values;
    o->create_ts = o->update_ts = now;
    if (lh_table_insert(inv->objects, o->name, o) != 0)
        abort();
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
    qmf_value *data = qmf_map();

    qmf_map_set(data, "_object_id", inv_object_id(inv, o->name));
    qmf_map_set(data, "_schema_id", schema_id_value(o->cls));
    qmf_map_set(data, "_values", qmf_dup(o->values));
    qmf_map_set(data, "_create_ts", qmf_i64(o->create_ts));
    qmf_map_set(data, "_update_ts", qmf_i64(o->update_ts));
    if (stale)
        qmf_map_set(data, "_stale", qmf_bool(true));
    return data;
}

qmf_value *
inv_remove(struct inventory *inv, const char *name, int64_t now)
{
    struct inv_object *o = inv_get(inv, name);
    qmf_value *data;

    if (o == NULL)
        return NULL;
    data = inv_object_data(inv, o, false);
    qmf_map_set(data, "_delete_ts", qmf_i64(now));
    lh_table_delete(inv->objects, name);
    return data;
}

size_t
inv_count(const struct inventory *inv, const struct schema_class *cls)
{
    struct lh_entry *e;
    size_t n = 0;

    lh_foreach(inv->objects, e) {
        const struct inv_object *o = lh_entry_v(e);

        if (cls == NULL || o->cls == cls)
            n++;
    }
    return n;
}

void
inv_select(const struct inventory *inv, const struct schema_class *cls,
           const qmf_where *where,
           void (*fn)(const struct inv_object *o, void *opaque), void *opaque)
{
    struct lh_entry *e;

    lh_foreach(inv->objects, e) {
        const struct inv_object *o = lh_entry_v(e);

        if (cls != NULL && o->cls != cls)
            continue;
        if (where != NULL && !qmf_where_eval(where, o->values))
            continue;
        fn(o, opaque);
    }
}

void
inv_replace_class(struct inventory *inv, const struct schema_class *cls,
                  qmf_value *objects_by_name, int64_t now, qmf_value *changed)
{
    struct lh_entry *e, *tmp;
    size_t i;

    /* Deletions first, so that a push never shows an object twice. */
    lh_foreach_safe(inv->objects, e, tmp) {
        struct inv_object *o = lh_entry_v(e);
        qmf_value *gone;

        if (o->cls != cls || qmf_map_get(objects_by_name, o->name) != NULL)
            continue;
        gone = inv_remove(inv, o->name, now);
        if (changed)
            qmf_list_append(changed, gone);
        else
            qmf_free(gone);
    }
    for (i = 0; i < qmf_map_len(objects_by_name); i++) {
        struct qmf_pair *p = &objects_by_name->u.map.items[i];
        qmf_value *values = p->value;

        p->value = qmf_void();      /* ownership moves to the inventory */
        if (inv_put(inv, cls, p->key, values, now) && changed)
            qmf_list_append(changed, inv_object_data(inv, inv_get(inv, p->key), false));
    }
}
