/*
 * Domain verbs (start, shutdown, destroy, ...): find each named domain in
 * the fleet with one broadcast query, then call the method on the one node
 * that has it.  A name found on several nodes is refused, not guessed.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

/* ["or", ["eq","name",["quote",X]], ["eq","uuid",["quote",X]], ...] */
static qmf_value *
names_predicate(int argc, char **argv)
{
    static const char *const fields[] = { "name", "uuid" };
    qmf_value *w = qmf_list();
    int i;
    size_t f;

    qmf_list_append(w, qmf_string("or"));
    for (i = 1; i < argc; i++) {
        for (f = 0; f < 2; f++) {
            qmf_value *eq = qmf_list_append(w, qmf_list());
            qmf_value *quote;

            qmf_list_append(eq, qmf_string("eq"));
            qmf_list_append(eq, qmf_string(fields[f]));
            quote = qmf_list_append(eq, qmf_list());
            qmf_list_append(quote, qmf_string("quote"));
            qmf_list_append(quote, qmf_string(argv[i]));
        }
    }
    return w;
}

struct match {
    const struct virtbus_result *owner;
    const qmf_value *data;
};

static size_t
find_matches(const struct virtbus_results *res, const char *name,
             struct match *out, size_t max)
{
    size_t i, j, n = 0;

    for (i = 0; i < res->n; i++) {
        const struct virtbus_result *r = &res->items[i];

        for (j = 0; r->status == VIRTBUS_OK && j < qmf_list_len(r->value); j++) {
            const qmf_value *data = qmf_list_at(r->value, j);
            const qmf_value *values = qmf_map_get(data, "_values");
            const char *dn = qmf_map_get_string(values, "name");
            const char *du = qmf_map_get_string(values, "uuid");

            if ((dn && strcmp(dn, name) == 0) || (du && strcmp(du, name) == 0)) {
                if (n < max)
                    out[n] = (struct match){ r, data };
                n++;
            }
        }
    }
    return n;
}

static qmf_value *
json_result(qmf_value *list, const char *node, const char *domain,
            const char *method, const qmf_error *err)
{
    qmf_value *r = qmf_list_append(list, qmf_map());

    qmf_map_set(r, "node", qmf_string(node ? node : ""));
    qmf_map_set(r, "domain", qmf_string(domain));
    qmf_map_set(r, "method", qmf_string(method));
    qmf_map_set(r, "ok", qmf_bool(err == NULL));
    if (err) {
        qmf_map_set(r, "error_code", qmf_u32(err->code));
        qmf_map_set(r, "error_text", qmf_string(err->text));
    }
    return r;
}

static int
call_one(struct ctl_ctx *ctx, const struct match *m, const char *name,
         const char *method, qmf_value *json_results)
{
    struct virtbus_result out;
    qmf_error err;
    int rc = CTL_EXIT_OK;

    if (virtbus_call(ctx->console, m->owner->agent, qmf_map_get(m->data, "_object_id"),
                     method, NULL, ctx->timeout_ms, &out, &err) != 0) {
        ctl_warnx("%s: %s: %s", m->owner->node, name, err.text);
        if (json_results)
            json_result(json_results, m->owner->node, name, method, &err);
        return CTL_EXIT_FAILED;
    }
    if (out.status == VIRTBUS_OK) {
        if (json_results)
            json_result(json_results, out.node, name, method, NULL);
        else if (!ctx->quiet)
            printf("%s: %s: %s ok\n", out.node, name, method);
    } else {
        if (json_results)
            json_result(json_results, out.node, name, method, &out.error);
        if (out.status == VIRTBUS_NO_REPLY) {
            ctl_warnx("%s: %s: no reply", out.node, name);
            rc = CTL_EXIT_NO_REPLY;
        } else {
            ctl_warnx("%s: %s: error %#x (%s): %s", out.node, name, out.error.code,
                      qmf_error_name(out.error.code), out.error.text);
            rc = CTL_EXIT_FAILED;
        }
    }
    virtbus_result_clear(&out);
    return rc;
}

/* The worse of two exit statuses: no reply, then failed, then ok. */
static int
worse(int a, int b)
{
    if (a == CTL_EXIT_NO_REPLY || b == CTL_EXIT_NO_REPLY)
        return CTL_EXIT_NO_REPLY;
    return a ? a : b;
}

int
ctl_domain_verb(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                const char *method, int argc, char **argv)
{
    struct virtbus_results res;
    qmf_value *where, *json = NULL, *json_results = NULL, *json_errors = NULL;
    struct match found[8];
    qmf_error err;
    int i, rc;

    if (argc < 2)
        return ctl_usage(e);
    where = names_predicate(argc, argv);
    rc = ctl_query_fleet(ctx, "Domain", where, &res);
    qmf_free(where);
    if (rc != 0)
        return rc;
    if (ctx->json) {
        json = qmf_map();
        json_results = qmf_map_set(json, "results", qmf_list());
        json_errors = qmf_map_set(json, "errors", qmf_list());
    }
    rc = ctl_report_results(ctx, &res, json_errors);
    for (i = 1; i < argc; i++) {
        size_t n = find_matches(&res, argv[i], found, 8);

        if (n == 1) {
            rc = worse(rc, call_one(ctx, &found[0], argv[i], method, json_results));
            continue;
        }
        if (n == 0) {
            qmf_error_set(&err, QMF_ERR_UNKNOWN_OBJECT, "no domain '%s' on any node", argv[i]);
        } else {
            char nodes[256] = "";
            size_t k;

            for (k = 0; k < n && k < 8; k++) {
                strncat(nodes, k ? ", " : "", sizeof(nodes) - strlen(nodes) - 1);
                strncat(nodes, found[k].owner->node, sizeof(nodes) - strlen(nodes) - 1);
            }
            qmf_error_set(&err, QMF_ERR_AMBIGUOUS,
                          "domain '%s' exists on several nodes (%s): name it by UUID",
                          argv[i], nodes);
        }
        if (json_results)
            json_result(json_results, NULL, argv[i], method, &err);
        else
            ctl_warnx("%s", err.text);
        rc = worse(rc, CTL_EXIT_FAILED);
    }
    if (json) {
        ctl_print_json(json);
        qmf_free(json);
    }
    virtbus_results_free(&res);
    return rc;
}
