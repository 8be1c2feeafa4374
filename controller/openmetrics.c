/* OpenMetrics text exposition: headers, samples, escaping (openmetrics.h). */
#include "controller/openmetrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

void
om_escape(struct evbuffer *b, const char *value)
{
    const char *p;

    for (p = value; *p; p++) {
        switch (*p) {
        case '\\': evbuffer_add(b, "\\\\", 2); break;
        case '"':  evbuffer_add(b, "\\\"", 2); break;
        case '\n': evbuffer_add(b, "\\n", 2); break;
        default:   evbuffer_add(b, p, 1); break;
        }
    }
}

void
om_family(struct evbuffer *b, const char *name, enum om_type type, const char *unit,
          const char *help)
{
    evbuffer_add_printf(b, "# HELP %s ", name);
    om_escape(b, help);
    evbuffer_add_printf(b, "\n# TYPE %s %s\n", name, type == OM_COUNTER ? "counter" : "gauge");
    if (unit != NULL)
        evbuffer_add_printf(b, "# UNIT %s %s\n", name, unit);
}

static void
sample_start(struct evbuffer *b, const char *name, enum om_type type,
             const char *const *labels)
{
    bool first = true;
    size_t i;

    evbuffer_add_printf(b, "%s%s", name, type == OM_COUNTER ? "_total" : "");
    for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
        if (labels[i + 1] == NULL)
            continue;
        evbuffer_add_printf(b, "%s%s=\"", first ? "{" : ",", labels[i]);
        om_escape(b, labels[i + 1]);
        evbuffer_add(b, "\"", 1);
        first = false;
    }
    evbuffer_add(b, first ? " " : "} ", first ? 1 : 2);
}

void
om_sample_u64(struct evbuffer *b, const char *name, enum om_type type,
              const char *const *labels, uint64_t value)
{
    sample_start(b, name, type, labels);
    evbuffer_add_printf(b, "%" PRIu64 "\n", value);
}

void
om_sample_double(struct evbuffer *b, const char *name, enum om_type type,
                 const char *const *labels, double value)
{
    sample_start(b, name, type, labels);
    if (isnan(value))
        evbuffer_add_printf(b, "NaN\n");
    else if (isinf(value))
        evbuffer_add_printf(b, "%sInf\n", value > 0 ? "+" : "-");
    else
        evbuffer_add_printf(b, "%.15g\n", value);
}

void
om_eof(struct evbuffer *b)
{
    evbuffer_add(b, "# EOF\n", 6);
}
