/*
 * Regular expressions on untrusted patterns and subjects: the one engine
 * behind re_match in _where and _target (where.c) and the CLI's =~ and !~
 * (controller/lib/expr.c), so that a console refuses exactly what agents
 * refuse.
 *
 * The dialect is PCRE2's (Perl-compatible), in UTF-8 mode, with these
 * restrictions, each refused at compile time with QMF_ERR_INVALID_ARGS:
 *   - no backreferences (\1, \k<name>, (?P=name), ...): with them,
 *     matching is NP-hard, and nothing a console selects by needs them;
 *   - no \C (one byte in UTF-8 mode), which could split a character;
 *   - a pattern of at most QMF_REGEX_MAX_PATTERN bytes, valid UTF-8, no NUL,
 *     and PCRE2's own compiled-size and nesting limits.
 * Matching is bounded in time and memory by PCRE2's match, depth and heap
 * limits (the values below).  A match that reaches one is neither true nor
 * false but an error, so that a negated match never selects what it
 * could not look at.
 *
 * Costs: compiling is O(pattern) and allocates the compiled form
 * (a few KiB at most); a match does at most QMF_REGEX_MATCH_LIMIT steps
 * and uses at most QMF_REGEX_HEAP_LIMIT_KIB of heap, with no allocation
 * below PCRE2's initial 20 KiB frame vector.  A compiled regex is
 * immutable and may be matched from several threads at once.
 */
#ifndef QMF_REGEX_H
#define QMF_REGEX_H

#include <stddef.h>

#include "core/error.h"

#define QMF_REGEX_MAX_PATTERN   1024     /* bytes */
#define QMF_REGEX_MATCH_LIMIT   100000   /* PCRE2 match() calls per match */
#define QMF_REGEX_DEPTH_LIMIT   10000    /* nested backtracking points */
#define QMF_REGEX_HEAP_LIMIT_KIB 1024    /* backtracking memory per match */
#define QMF_REGEX_NEST_LIMIT    64       /* nested parentheses */

typedef struct qmf_regex qmf_regex;

/* NULL and QMF_ERR_INVALID_ARGS with PCRE2's reason and the byte offset,
 * or the restriction the pattern breaks. */
qmf_regex *qmf_regex_compile(const char *pattern, size_t len, qmf_error *err);

/* 1 if subject[0..len) contains a match, 0 if not, -1 (with
 * QMF_ERR_INVALID_ARGS naming the limit) if matching hit a limit.  A
 * subject that is not valid UTF-8 is matched as far as it is. */
int qmf_regex_match(const qmf_regex *re, const char *subject, size_t len,
                    qmf_error *err);

void qmf_regex_free(qmf_regex *re);

#endif
