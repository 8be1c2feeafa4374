/*
 * OpenMetrics text (https://openmetrics.io, the Prometheus exposition
 * format's successor) written into an evbuffer: family headers, samples
 * with escaped label values, and the closing # EOF.  Pure: no state
 * beyond the buffer, for `virtbus exporter` and its unit test.
 */
#ifndef CTL_OPENMETRICS_H
#define CTL_OPENMETRICS_H

#include <stdint.h>

#include <event2/buffer.h>

/* The content type of what these functions write. */
#define OM_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

enum om_type { OM_GAUGE, OM_COUNTER };

/*
 * One metric family's header: # HELP, # TYPE and, when unit is not NULL,
 * # UNIT (name must then end in _<unit>).  name is the family's name: a
 * counter's samples add _total to it (om_sample does).  help is escaped.
 */
void om_family(struct evbuffer *b, const char *name, enum om_type type, const char *unit,
               const char *help);

/*
 * One sample of the family written last: name (with _total for a
 * counter), labels as NULL-terminated name, value pairs (NULL: none; a
 * pair with a NULL value is left out), and the value.  om_sample_u64
 * keeps integers exact (a double is not above 2^53).
 */
void om_sample_u64(struct evbuffer *b, const char *name, enum om_type type,
                   const char *const *labels, uint64_t value);
void om_sample_double(struct evbuffer *b, const char *name, enum om_type type,
                      const char *const *labels, double value);

/* A label value as OpenMetrics quotes it: \ " and newline escaped. */
void om_escape(struct evbuffer *b, const char *value);

/* The end of the exposition. */
void om_eof(struct evbuffer *b);

#endif
