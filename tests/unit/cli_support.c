/* The CLI's unit tests' shared setup: contexts, parsed command lines,
 * JSON values. */
#include "tests/unit/cli_support.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/codec.h"
#include "tests/testutil.h"

struct ctl_ctx *
cli_ctx_new(void)
{
    struct ctl_ctx *ctx = qmf_xcalloc(1, sizeof(*ctx));
    qmf_error err;

    ctx->schema = schema_load_builtin(&err);
    cr_assert_not_null(ctx->schema, "%s", err.text);
    ctl_config_defaults(&ctx->config);
    ctx->timeout_ms = ctx->config.timeout * 1000;
    return ctx;
}

void
cli_ctx_free(struct ctl_ctx *ctx)
{
    schema_free(ctx->schema);
    ctl_config_free(&ctx->config);
    free(ctx);
}

int
cli_parse(struct ctl_ctx *ctx, struct cli_line *l, const char *const *words)
{
    struct test_capture capture;
    int n = 0, i;

    memset(l, 0, sizeof(*l));
    while (words[n])
        n++;
    l->argv = qmf_xcalloc((size_t)n + 2, sizeof(char *));
    l->argv[0] = qmf_xstrdup("virtbus");
    for (i = 0; i < n; i++)
        l->argv[i + 1] = qmf_xstrdup(words[i]);
    l->words = ctl_args_hoist(n + 1, l->argv, &l->nwords);
    cr_assert_not_null(l->words[0], "no command in the line");
    l->entry = ctl_find_command(l->words[0]);
    cr_assert_not_null(l->entry, "no command '%s'", l->words[0]);
    test_capture_begin(&capture, STDERR_FILENO);
    l->rc = ctl_args_parse(ctx, l->entry, l->nwords, l->words, &l->args);
    l->err = test_capture_end(&capture);
    return l->rc;
}

void
cli_line_free(struct cli_line *l)
{
    int i;

    if (l->rc == 0)
        ctl_args_free(&l->args);
    for (i = 0; l->argv && l->argv[i]; i++)
        free(l->argv[i]);
    free(l->argv);
    free(l->words);
    free(l->err);
    memset(l, 0, sizeof(*l));
}

void
cli_result_add(struct virtbus_results *r, const char *node, enum virtbus_status status,
               const char *value_json, uint32_t code, const char *text)
{
    struct virtbus_result *res;

    r->items = qmf_xrealloc(r->items, (r->n + 1) * sizeof(*r->items));
    res = memset(&r->items[r->n++], 0, sizeof(*res));
    res->node = qmf_xstrdup(node);
    res->agent = qmf_xasprintf("virtbus:agent:%s", node);
    res->status = status;
    res->value = value_json ? cli_json(value_json) : NULL;
    if (text != NULL)
        qmf_error_set(&res->error, code, "%s", text);
}

void
cli_agent_add(struct virtbus_agent_list *l, const char *node, bool up, const char *attrs_json,
              int64_t last_seen_ns)
{
    struct virtbus_agent a = { .node = (char *)node, .up = up, .last_seen_ns = last_seen_ns };

    a.name = qmf_xasprintf("virtbus:agent:%s", node);
    a.attrs = cli_json(attrs_json ? attrs_json : "{}");
    qmf_map_set(a.attrs, "node", qmf_string(node));
    virtbus_agent_list_add(l, &a);
    free(a.name);
    qmf_free(a.attrs);
}

qmf_value *
cli_json(const char *text)
{
    qmf_error err;
    qmf_value *v = qmf_from_json(text, strlen(text), &err);

    cr_assert_not_null(v, "%s: %s", text, err.text);
    return v;
}

char *
cli_to_json(const qmf_value *v)
{
    return qmf_to_json(v, NULL);
}

void
cli_assert_json(const qmf_value *v, const char *want)
{
    char *got = cli_to_json(v);

    cr_assert_str_eq(got, want);
    free(got);
}
