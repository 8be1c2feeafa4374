/*
 * The inventory: the agent's current view of its node's objects (Node,
 * Domains, Pools, ...), as QMF data objects keyed by stable object name.
 * Queries are answered from it on the loop thread, so they never wait for
 * the hypervisor; workers refresh it through snapshots and single-object
 * updates applied on the loop thread.
 *
 * Costs: lookups by name are O(1) (hash table); a query is O(N) in the
 * number of objects, times the cost of its predicate; a removal is
 * remembered (its name) until the next snapshot is applied.
 */
#ifndef AGENT_INVENTORY_H
#define AGENT_INVENTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/dict.h"
#include "core/value.h"
#include "core/where.h"
#include "schema/schema.h"

struct inv_object {
    char *name;                       /* "domain:<uuid>", "node", ... */
    const struct schema_class *cls;
    qmf_value *values;                /* owned, typed per the schema */
    int64_t create_ts, update_ts;     /* ns since the epoch */
    uint64_t seq;                     /* the inventory's seq at its last change */
};

struct inventory {
    struct qmf_dict *objects;         /* name -> struct inv_object */
    /* name -> uint64_t seq of its removal: removals a snapshot asked for
     * earlier cannot know of (inv_replace_class prunes them). */
    struct qmf_dict *removed;
    uint64_t seq;                     /* counts changes: see inv_seq */
    const struct schema *schema;
    const char *agent_name;           /* borrowed from the agent */
};

void inv_init(struct inventory *inv, const struct schema *schema,
              const char *agent_name);
void inv_free(struct inventory *inv);

/*
 * Inserts or updates an object, taking ownership of values.  Returns true if
 * anything changed (a new object, or different values), so that callers
 * publish only what changed.
 */
bool inv_put(struct inventory *inv, const struct schema_class *cls,
             const char *name, qmf_value *values, int64_t now);

/* Removes an object; returns its final data map (with _delete_ts) for the
 * deletion push, or NULL if there was no such object. */
qmf_value *inv_remove(struct inventory *inv, const char *name, int64_t now);

struct inv_object *inv_get(const struct inventory *inv, const char *name);
size_t inv_count(const struct inventory *inv, const struct schema_class *cls);

/* The QMF data map of an object: {_object_id, _schema_id, _values, ...}. */
qmf_value *inv_object_data(const struct inventory *inv,
                           const struct inv_object *o, bool stale);
/* The same with other _values (taken): a query's chosen properties. */
qmf_value *inv_object_data_with(const struct inventory *inv,
                                const struct inv_object *o, bool stale, qmf_value *values);
qmf_value *inv_object_id(const struct inventory *inv, const char *name);

/* Calls fn for each object of cls (NULL: every class) matching where
 * (NULL: all), in no particular order.  fn must not add or remove.
 * 0, or -1 with err set if where could not be evaluated on an object (a
 * regex limit, qmf_where_test): the selection stops there, and fn may have
 * been called for some objects already, so collect before acting. */
int inv_select(const struct inventory *inv, const struct schema_class *cls,
               const qmf_where *where,
               void (*fn)(const struct inv_object *o, void *opaque),
               void *opaque, qmf_error *err);

/*
 * A count of the changes made so far (puts that changed something, and
 * removals).  A snapshot read off the loop is asked for at some inv_seq:
 * what changed after that is newer than the snapshot may know.
 */
uint64_t inv_seq(const struct inventory *inv);

/*
 * Replaces every object of the class from a snapshot (object name ->
 * values) asked for at inv_seq() == since.  Objects no longer present are
 * removed.  Objects put or removed after since (a command's result, an
 * event's refresh) are newer than the snapshot and stay as they are: a
 * snapshot taken while a command created an object would otherwise remove
 * it again.  changed (a list, may be NULL) receives the data maps of
 * objects that were added, changed or deleted.
 */
void inv_replace_class(struct inventory *inv, const struct schema_class *cls,
                       qmf_value *objects_by_name, uint64_t since, int64_t now,
                       qmf_value *changed);

#endif
