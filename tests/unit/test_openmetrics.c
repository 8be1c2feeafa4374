/* Tests of the OpenMetrics text the exporter writes: headers, samples,
 * label escaping, numbers, the closing # EOF. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "controller/openmetrics.h"

/* The buffer's text, NUL-terminated (the caller frees), and empties b. */
static char *
text_of(struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);
    char *s = malloc(len + 1);

    cr_assert_not_null(s);
    evbuffer_remove(b, s, len);
    s[len] = '\0';
    return s;
}

Test(openmetrics, escape_label_values)
{
    struct evbuffer *b = evbuffer_new();
    char *s;

    om_escape(b, "a\\b\"c\nd\te");
    s = text_of(b);
    /* Backslash, double quote and newline escaped; the rest as is. */
    cr_assert_str_eq(s, "a\\\\b\\\"c\\nd\te");
    free(s);
    evbuffer_free(b);
}

Test(openmetrics, gauge_family_and_samples)
{
    struct evbuffer *b = evbuffer_new();
    const char *labels[] = { "node", "hv\"1", "domain", "web\\1", NULL };
    const char *skipped[] = { "node", "hv1", "uuid", NULL, "state", "running", NULL };
    char *s;

    om_family(b, "virtbus_domain_memory_bytes", OM_GAUGE, "bytes", "Memory\nof a \\ domain");
    om_sample_u64(b, "virtbus_domain_memory_bytes", OM_GAUGE, labels, UINT64_MAX);
    om_sample_u64(b, "virtbus_domain_memory_bytes", OM_GAUGE, skipped, 0);
    om_sample_u64(b, "virtbus_domain_memory_bytes", OM_GAUGE, NULL, 7);
    om_eof(b);
    s = text_of(b);
    cr_assert_str_eq(s,
        "# HELP virtbus_domain_memory_bytes Memory\\nof a \\\\ domain\n"
        "# TYPE virtbus_domain_memory_bytes gauge\n"
        "# UNIT virtbus_domain_memory_bytes bytes\n"
        "virtbus_domain_memory_bytes{node=\"hv\\\"1\",domain=\"web\\\\1\"} 18446744073709551615\n"
        "virtbus_domain_memory_bytes{node=\"hv1\",state=\"running\"} 0\n"
        "virtbus_domain_memory_bytes 7\n"
        "# EOF\n");
    free(s);
    evbuffer_free(b);
}

Test(openmetrics, counter_samples_end_in_total)
{
    struct evbuffer *b = evbuffer_new();
    const char *labels[] = { "node", "hv1", NULL };
    char *s;

    om_family(b, "virtbus_agent_commands", OM_COUNTER, NULL, "Commands");
    om_sample_u64(b, "virtbus_agent_commands", OM_COUNTER, labels, 3);
    s = text_of(b);
    /* The family has no _total; its samples do (OpenMetrics' counters). */
    cr_assert_str_eq(s,
        "# HELP virtbus_agent_commands Commands\n"
        "# TYPE virtbus_agent_commands counter\n"
        "virtbus_agent_commands_total{node=\"hv1\"} 3\n");
    free(s);
    evbuffer_free(b);
}

Test(openmetrics, doubles)
{
    struct evbuffer *b = evbuffer_new();
    char *s;

    om_sample_double(b, "m", OM_GAUGE, NULL, 1764100005.125);
    om_sample_double(b, "m", OM_GAUGE, NULL, 0.5);
    om_sample_double(b, "m", OM_GAUGE, NULL, INFINITY);
    om_sample_double(b, "m", OM_GAUGE, NULL, -INFINITY);
    om_sample_double(b, "m", OM_GAUGE, NULL, NAN);
    s = text_of(b);
    cr_assert_str_eq(s, "m 1764100005.125\nm 0.5\nm +Inf\nm -Inf\nm NaN\n");
    free(s);
    evbuffer_free(b);
}
