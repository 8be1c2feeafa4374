/* The inventory: change detection, deletion pushes, snapshots, selection. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "agent/inventory.h"

static struct schema *schema;
static struct inventory inv;
static const struct schema_class *domain_cls, *node_cls;

static void
setup(void)
{
    qmf_error err;

    schema = schema_load_builtin(&err);
    cr_assert(schema != NULL, "%s", err.text);
    domain_cls = schema_find_class(schema, "Domain");
    node_cls = schema_find_class(schema, "Node");
    inv_init(&inv, schema, "virtbus:agent:hv1");
}

static void
teardown(void)
{
    inv_free(&inv);
    schema_free(schema);
}

static qmf_value *
domain(const char *name, const char *state)
{
    qmf_value *v = qmf_map();

    qmf_map_set(v, "name", qmf_string(name));
    qmf_map_set(v, "state", qmf_string(state));
    return v;
}

TestSuite(inventory, .init = setup, .fini = teardown);

Test(inventory, put_reports_only_changes)
{
    struct inv_object *o;

    cr_assert(inv_put(&inv, domain_cls, "domain:a", domain("a", "running"), 100));
    cr_assert_not(inv_put(&inv, domain_cls, "domain:a", domain("a", "running"), 200),
                  "identical values are not a change");
    o = inv_get(&inv, "domain:a");
    cr_assert_eq(o->create_ts, 100);
    cr_assert_eq(o->update_ts, 100);
    cr_assert(inv_put(&inv, domain_cls, "domain:a", domain("a", "shutoff"), 300));
    cr_assert_eq(o->update_ts, 300);
    cr_assert_eq(o->create_ts, 100);
    cr_assert_str_eq(qmf_map_get_string(o->values, "state"), "shutoff");
}

Test(inventory, remove_returns_the_deletion)
{
    qmf_value *gone;
    int64_t ts = 0;

    inv_put(&inv, domain_cls, "domain:a", domain("a", "running"), 100);
    gone = inv_remove(&inv, "domain:a", 500);
    cr_assert(gone != NULL);
    cr_assert(qmf_get_int64(qmf_map_get(gone, "_delete_ts"), &ts));
    cr_assert_eq(ts, 500);
    cr_assert_str_eq(qmf_map_get_string(qmf_map_get(gone, "_object_id"), "_object_name"),
                     "domain:a");
    cr_assert_str_eq(qmf_map_get_string(qmf_map_get(gone, "_object_id"), "_agent_name"),
                     "virtbus:agent:hv1");
    cr_assert_null(inv_get(&inv, "domain:a"));
    cr_assert_null(inv_remove(&inv, "domain:a", 600));
    qmf_free(gone);
}

Test(inventory, snapshot_replaces_one_class)
{
    qmf_value *snapshot = qmf_map(), *changed = qmf_list();
    size_t i, deleted = 0;

    inv_put(&inv, node_cls, "node", qmf_map(), 1);
    inv_put(&inv, domain_cls, "domain:a", domain("a", "running"), 1);
    inv_put(&inv, domain_cls, "domain:b", domain("b", "running"), 1);
    inv_put(&inv, domain_cls, "domain:c", domain("c", "running"), 1);
    /* b is gone, c changed, a is the same, d is new. */
    qmf_map_set(snapshot, "domain:a", domain("a", "running"));
    qmf_map_set(snapshot, "domain:c", domain("c", "paused"));
    qmf_map_set(snapshot, "domain:d", domain("d", "running"));
    inv_replace_class(&inv, domain_cls, snapshot, inv_seq(&inv), 2, changed);
    qmf_free(snapshot);

    cr_assert_eq(qmf_list_len(changed), 3, "b deleted, c changed, d added");
    for (i = 0; i < qmf_list_len(changed); i++)
        deleted += qmf_map_get(qmf_list_at(changed, i), "_delete_ts") != NULL;
    cr_assert_eq(deleted, 1);
    cr_assert_null(inv_get(&inv, "domain:b"));
    cr_assert_not_null(inv_get(&inv, "domain:d"));
    cr_assert_not_null(inv_get(&inv, "node"), "other classes are left alone");
    cr_assert_eq(inv_count(&inv, domain_cls), 3);
    cr_assert_eq(inv_count(&inv, NULL), 4);
    qmf_free(changed);
}

/*
 * A snapshot is read off the loop while commands change objects on it:
 * what they did after the snapshot was asked for is newer than the
 * snapshot, which must neither remove what they created nor bring back
 * what they removed (a domain defined during the periodic reload vanished
 * from queries until the next one).
 */
Test(inventory, snapshot_leaves_what_changed_since)
{
    qmf_value *snapshot = qmf_map(), *changed = qmf_list(), *later = qmf_map();
    const struct inv_object *o;
    uint64_t since;

    inv_put(&inv, domain_cls, "domain:a", domain("a", "running"), 1);
    inv_put(&inv, domain_cls, "domain:b", domain("b", "running"), 1);
    inv_put(&inv, domain_cls, "domain:old", domain("old", "running"), 1);
    since = inv_seq(&inv);
    /* Meanwhile: c defined, a paused, b undefined by commands. */
    inv_put(&inv, domain_cls, "domain:c", domain("c", "running"), 2);
    inv_put(&inv, domain_cls, "domain:a", domain("a", "paused"), 2);
    qmf_free(inv_remove(&inv, "domain:b", 2));
    /* The snapshot saw none of it, and old gone. */
    qmf_map_set(snapshot, "domain:a", domain("a", "running"));
    qmf_map_set(snapshot, "domain:b", domain("b", "running"));
    inv_replace_class(&inv, domain_cls, snapshot, since, 3, changed);
    qmf_free(snapshot);

    cr_assert_not_null(inv_get(&inv, "domain:c"), "created since: kept");
    o = inv_get(&inv, "domain:a");
    cr_assert_not_null(o);
    cr_assert_str_eq(qmf_map_get_string(o->values, "state"), "paused",
                     "changed since: the newer values kept");
    cr_assert_null(inv_get(&inv, "domain:b"), "removed since: not brought back");
    cr_assert_null(inv_get(&inv, "domain:old"), "gone before: removed");
    cr_assert_eq(qmf_list_len(changed), 1, "only old's deletion is news");
    qmf_free(changed);

    /* A snapshot asked for after all that is believed again, b too. */
    since = inv_seq(&inv);
    qmf_map_set(later, "domain:a", domain("a", "running"));
    qmf_map_set(later, "domain:b", domain("b", "running"));
    inv_replace_class(&inv, domain_cls, later, since, 4, NULL);
    qmf_free(later);
    cr_assert_null(inv_get(&inv, "domain:c"));
    cr_assert_not_null(inv_get(&inv, "domain:b"));
    cr_assert_str_eq(qmf_map_get_string(inv_get(&inv, "domain:a")->values, "state"),
                     "running");
}

static void
collect(const struct inv_object *o, void *opaque)
{
    qmf_list_append(opaque, qmf_string(o->name));
}

Test(inventory, select_by_class_and_where)
{
    qmf_value *expr = qmf_list(), *quote, *names = qmf_list();
    qmf_where *w;
    qmf_error err;

    inv_put(&inv, node_cls, "node", qmf_map(), 1);
    inv_put(&inv, domain_cls, "domain:a", domain("a", "running"), 1);
    inv_put(&inv, domain_cls, "domain:b", domain("b", "shutoff"), 1);
    qmf_list_append(expr, qmf_string("eq"));
    qmf_list_append(expr, qmf_string("state"));
    quote = qmf_list_append(expr, qmf_list());
    qmf_list_append(quote, qmf_string("quote"));
    qmf_list_append(quote, qmf_string("shutoff"));
    w = qmf_where_compile(expr, &err);
    cr_assert(w != NULL, "%s", err.text);
    cr_assert_eq(inv_select(&inv, domain_cls, w, collect, names, &err), 0);
    cr_assert_eq(qmf_list_len(names), 1);
    cr_assert_str_eq(qmf_as_string(qmf_list_at(names, 0)), "domain:b");
    qmf_where_free(w);
    qmf_free(expr);
    qmf_free(names);
}

Test(inventory, many_objects_come_and_go)
{
    char name[32];
    int round, i;

    /* Churn: lookups must keep working as names are removed and re-added. */
    for (round = 0; round < 20; round++) {
        for (i = 0; i < 200; i++) {
            snprintf(name, sizeof(name), "domain:%d-%d", round, i);
            inv_put(&inv, domain_cls, name, domain(name, "running"), round);
        }
        for (i = 0; i < 200; i++) {
            snprintf(name, sizeof(name), "domain:%d-%d", round, i);
            qmf_free(inv_remove(&inv, name, round));
        }
    }
    cr_assert_eq(inv_count(&inv, NULL), 0);
}
