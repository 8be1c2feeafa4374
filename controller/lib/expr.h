/*
 * The human predicate syntax of `--where` and `--if`, compiled into QMF
 * _where lists (core/where.h), so that agents only ever evaluate
 * QMF.  docs/EXPRESSIONS.md has the grammar, the examples and the errors.
 *
 *     state == "running" and name =~ "^batch-"
 *         -> ["and", ["eq", "state", ["quote", "running"]],
 *                    ["re_match", "name", ["quote", "^batch-"]]]
 *
 * Costs: one pass over the text, O(length); each =~ pattern is also
 * compiled once, by the agents' engine (core/regex.h), to report a
 * bad pattern with its column.
 */
#ifndef VIRTBUS_EXPR_H
#define VIRTBUS_EXPR_H

#include <stddef.h>

#include "core/error.h"
#include "core/value.h"
#include "schema/schema.h"

/*
 * Compiles text such as
 *     state == "running" and name =~ "^batch-"
 *     hypervisorType == "QEMU" and memory > 64G
 *     not (labels.tier == "db" or exists labels.legacy)
 * into a QMF _where predicate.  cls, if given, is the class the fields
 * belong to: unknown fields and type mismatches are errors, and size
 * literals are converted into the field's unit (memory is in KiB, so 64G
 * is 67108864; capacity is in bytes).  NULL with QMF_ERR_INVALID_ARGS and
 * a text "column N: message" on error; N counts characters from 1.
 */
qmf_value *virtbus_expr_compile(const char *text, const struct schema_class *cls,
                                qmf_error *err);

/* The N of an error text "column N: ...", or 0 if it has none. */
unsigned virtbus_expr_error_column(const qmf_error *err);

/*
 * Formats "  <text>\n  <spaces>^\n" into buf (always NUL-terminated when
 * len > 0), the caret under character `column` (1-based) of text, for
 * printing under an error.  Control characters of text are shown as
 * spaces so that the caret stays aligned.  Returns the length the whole
 * output needs, as snprintf does.
 */
size_t virtbus_expr_caret(const char *text, unsigned column, char *buf, size_t len);

#endif
