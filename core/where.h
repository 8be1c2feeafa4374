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
 * PCRE2 without backreferences (core/regex.h), and its pattern may also be a bare
 * string (["re_match", "name", "^web"], as QMF consoles write it).  A
 * comparison with a missing field, or between kinds with no common order
 * (string and number), is false.  where.c lists the finer points.
 *
 * Costs: compiling is O(size of the predicate) and compiles each regex once
 * (at most 16 per predicate); evaluating is O(size of the predicate x keys
 * of the object), plus at most QMF_REGEX_MATCH_LIMIT steps per regex.
 */
#ifndef QMF_WHERE_H
#define QMF_WHERE_H

#include <stdbool.h>

#include "core/error.h"
#include "core/value.h"

typedef struct qmf_where qmf_where;

/* NULL and QMF_ERR_INVALID_ARGS (text says what and where) if expr is bad. */
qmf_where *qmf_where_compile(const qmf_value *expr, qmf_error *err);
/*
 * 1 if values match, 0 if not, -1 with QMF_ERR_INVALID_ARGS if a regex
 * reached a limit of regex.h on them (the predicate can then neither be
 * true nor false; "not" of it is the same error).  and/or stop at the
 * first operand that decides, so an error there is only met if reached.
 */
int qmf_where_test(const qmf_where *w, const qmf_value *values, qmf_error *err);
/* qmf_where_test() == 1: an error counts as no match.  For filters whose
 * caller would do nothing else with the error (a console's own view). */
bool qmf_where_eval(const qmf_where *w, const qmf_value *values);
void qmf_where_free(qmf_where *w);

#endif
