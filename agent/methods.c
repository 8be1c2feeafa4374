/*
 * The method table: for each schema method the agent implements, the
 * function that runs it on a worker thread through the driver tables.
 * Arguments arrive checked and coerced against the schema (dispatch.c);
 * a schema method missing here answers "not implemented".
 */
#include "agent/agent_impl.h"

#include <string.h>

static int
domain_create(struct method_call *call, qmf_error *err)
{
    return drv_domain_create(call->a->drv, call->a->dconn, call->object_key, err);
}

static int
domain_shutdown(struct method_call *call, qmf_error *err)
{
    return drv_domain_shutdown(call->a->drv, call->a->dconn, call->object_key, err);
}

static int
domain_destroy(struct method_call *call, qmf_error *err)
{
    return drv_domain_destroy(call->a->drv, call->a->dconn, call->object_key, err);
}

static const struct method_entry {
    const char *class_name;
    const char *method_name;
    method_fn fn;
} method_table[] = {
    { "Domain", "create", domain_create },
    { "Domain", "shutdown", domain_shutdown },
    { "Domain", "destroy", domain_destroy },
};

method_fn
agent_find_method(const char *class_name, const char *method_name)
{
    size_t i;

    for (i = 0; i < sizeof(method_table) / sizeof(method_table[0]); i++)
        if (strcmp(method_table[i].class_name, class_name) == 0 &&
            strcmp(method_table[i].method_name, method_name) == 0)
            return method_table[i].fn;
    return NULL;
}
