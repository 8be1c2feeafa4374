/*
 * The agent's method table against the builtin schema: every method of
 * every class has an adapter, and the table names no method the schema
 * lacks (nor one twice).
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "agent/agent_impl.h"
#include "schema/schema.h"

static struct schema *
load_schema(void)
{
    qmf_error err;
    struct schema *s = schema_load_builtin(&err);

    cr_assert_not_null(s, "%s", err.text);
    return s;
}

Test(methods, every_schema_method_has_an_adapter)
{
    struct schema *s = load_schema();
    size_t i, j, n = 0;

    for (i = 0; i < s->nclasses; i++) {
        const struct schema_class *c = &s->classes[i];

        for (j = 0; j < c->nmethods; j++, n++)
            cr_expect_not_null(agent_find_method(c->name, c->methods[j].name),
                               "%s.%s has no adapter", c->name, c->methods[j].name);
    }
    cr_expect_geq(n, 40, "the schema has only %zu methods", n);
    schema_free(s);
}

Test(methods, table_names_only_schema_methods_once)
{
    struct schema *s = load_schema();
    const char *cls, *method, *cls2, *method2;
    size_t i, j, total = 0, n = 0;

    for (i = 0; i < s->nclasses; i++)
        total += s->classes[i].nmethods;
    for (i = 0; agent_method_entry(i, &cls, &method); i++, n++) {
        const struct schema_class *c = schema_find_class(s, cls);

        cr_expect_not_null(c, "table entry %zu names class %s", i, cls);
        if (c != NULL)
            cr_expect_not_null(schema_find_method(c, method),
                               "table entry %s.%s is not in the schema", cls, method);
        for (j = 0; j < i; j++) {
            cr_assert(agent_method_entry(j, &cls2, &method2));
            cr_expect(strcmp(cls, cls2) != 0 || strcmp(method, method2) != 0,
                      "%s.%s is in the table twice", cls, method);
        }
    }
    cr_expect_eq(n, total, "the table has %zu entries, the schema %zu methods", n, total);
    schema_free(s);
}

Test(methods, unknown_names_have_no_adapter)
{
    cr_expect_null(agent_find_method("Domain", "fly"));
    cr_expect_null(agent_find_method("Toaster", "create"));
    /* Names are exact: a method of one class is not another's. */
    cr_expect_null(agent_find_method("Node", "create"));
    cr_expect_null(agent_find_method("Domain", "Create"));
}
