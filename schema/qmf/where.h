/*
 * QMF _where predicates: compile once, evaluate against many objects.
 *
 * A predicate is a nested list: ["and"|"or"|"not", p...],
 * ["eq"|"ne"|"lt"|"le"|"gt"|"ge"|"re_match", a, b], ["exists", field],
 * ["in", a, ["quote", [v, ...]]] (virtbus: a eq to one of the v),
 * ["true"], ["false"].  A bare string operand names a field of the object's
 * _values; ["quote", x] is the literal x; any other scalar is a literal.
 * A field name with dots that is not itself a key descends into nested maps
 * ("labels.tier").  Numbers compare as numbers across kinds; re_match uses
 * POSIX extended regular expressions, and its pattern may also be a bare
 * string (["re_match", "name", "^web"], as QMF consoles write it).  A
 * comparison with a missing field, or between kinds with no common order
 * (string and number), is false.  where.c lists the finer points.
 *
 * Costs: compiling is O(size of the predicate) and compiles each regex once;
 * evaluating is O(size of the predicate x keys of the object).
 */
#ifndef QMF_WHERE_H
#define QMF_WHERE_H

#include <stdbool.h>

#include "schema/qmf/error.h"
#include "schema/qmf/value.h"

typedef struct qmf_where qmf_where;

/* NULL and QMF_ERR_INVALID_ARGS (text says what and where) if expr is bad. */
qmf_where *qmf_where_compile(const qmf_value *expr, qmf_error *err);
bool qmf_where_eval(const qmf_where *w, const qmf_value *values);
void qmf_where_free(qmf_where *w);

#endif
