/*
 * QMF _where predicates: a predicate list is compiled once into a tree of
 * nodes (regular expressions compiled with it) and then evaluated against
 * each object's _values without allocating.
 *
 * Details where.h leaves open:
 * - ["and"] is true and ["or"] is false (empty conjunction/disjunction).
 * - re_match takes its pattern as ["quote", "re"] or, for re_match only, as
 *   a bare string, since QMF consoles write ["re_match", "name", "^web"].
 *   Patterns are PCRE2's dialect with the limits of regex.h; a match that
 *   reaches a limit makes the whole evaluation an error (qmf_where_test),
 *   never a silent false that a "not" would turn into a selection.
 * - in (a virtbus extension) is ["in", a, ["quote", [v, ...]]]: true if a
 *   is eq to one of the values.  A list of node names is one operator, not
 *   fifty: every agent of a broadcast parses and compiles what it gets.
 * - Comparing kinds that have no common order (a string with a number, a
 *   bool with anything but a bool) is false for every operator, ne too; so
 *   is a comparison with a missing field.  NaN is unequal to everything.
 * - A UUID equals a string that parses as the same UUID (any hex case);
 *   maps and lists are only eq/ne, with qmf_equal()'s exact kinds.
 * - A dotted field name is looked up as a key first; otherwise the part up
 *   to the first dot must name a map, and the rest is looked up in it the
 *   same way.
 */
#include "core/where.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/regex.h"

/* Deeper predicates are refused; compile and eval recurse on the tree. */
#define WHERE_MAX_DEPTH 64
/* Each regex may cost up to its match limit per object: a predicate may
 * hold this many. */
#define WHERE_MAX_REGEXES 16

enum where_op {
    OP_TRUE, OP_FALSE, OP_AND, OP_OR, OP_NOT,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_RE_MATCH, OP_EXISTS, OP_IN,
};

#define ANY_ARITY (-1)

static const struct {
    const char *name;
    enum where_op op;
    int arity;          /* operands after the operator, or ANY_ARITY */
} operators[] = {
    { "and", OP_AND, ANY_ARITY }, { "or", OP_OR, ANY_ARITY },
    { "not", OP_NOT, 1 },
    { "eq", OP_EQ, 2 }, { "ne", OP_NE, 2 }, { "lt", OP_LT, 2 },
    { "le", OP_LE, 2 }, { "gt", OP_GT, 2 }, { "ge", OP_GE, 2 },
    { "re_match", OP_RE_MATCH, 2 }, { "exists", OP_EXISTS, 1 }, { "in", OP_IN, 2 },
    { "true", OP_TRUE, 0 }, { "false", OP_FALSE, 0 },
};

/* A field of the object (field != NULL) or a literal value. */
struct operand {
    char *field;
    qmf_value *literal;
};

struct qmf_where {
    enum where_op op;
    qmf_where **kids;           /* and, or, not */
    size_t nkids;
    struct operand lhs, rhs;    /* comparisons; exists uses lhs */
    qmf_regex *re;              /* re_match */
};

/* Where in the expression compiling is, as $[i][j]... for error texts. */
struct compile_ctx {
    qmf_error *err;
    size_t path[WHERE_MAX_DEPTH + 2];
    int depth;
    unsigned regexes;           /* compiled so far */
};

static qmf_where * __attribute__((format(printf, 2, 3)))
compile_error(const struct compile_ctx *ctx, const char *fmt, ...)
{
    char path[WHERE_MAX_DEPTH * 8 + 2] = "$", msg[QMF_ERROR_TEXT_MAX];
    size_t used = 1;
    va_list ap;
    int i;

    for (i = 0; i < ctx->depth && used < sizeof(path); i++)
        used += (size_t)snprintf(path + used, sizeof(path) - used, "[%zu]",
                                 ctx->path[i]);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    qmf_error_set(ctx->err, QMF_ERR_INVALID_ARGS, "invalid _where at %s: %s",
                  path, msg);
    return NULL;
}

/* Compile steps that look at element i of the current list use these. */
static void
enter(struct compile_ctx *ctx, size_t i)
{
    ctx->path[ctx->depth++] = i;
}

static void
leave(struct compile_ctx *ctx)
{
    ctx->depth--;
}

void
qmf_where_free(qmf_where *w)
{
    size_t i;

    if (w == NULL)
        return;
    for (i = 0; i < w->nkids; i++)
        qmf_where_free(w->kids[i]);
    free(w->kids);
    free(w->lhs.field);
    qmf_free(w->lhs.literal);
    free(w->rhs.field);
    qmf_free(w->rhs.literal);
    qmf_regex_free(w->re);
    free(w);
}

static bool
has_nul(const qmf_value *s)
{
    return memchr(qmf_as_bytes(s), '\0', qmf_bytes_len(s)) != NULL;
}

/* ["quote", x] -> x, or NULL (with an error set if it looked like one). */
static const qmf_value *
quoted(struct compile_ctx *ctx, const qmf_value *v, bool *bad)
{
    const qmf_value *head = qmf_list_at(v, 0);

    *bad = false;
    if (head == NULL || head->kind != QMF_STRING ||
        strcmp(qmf_as_string(head), "quote") != 0)
        return NULL;
    if (qmf_list_len(v) != 2) {
        *bad = true;
        compile_error(ctx, "'quote' takes 1 operand, got %zu",
                      qmf_list_len(v) - 1);
        return NULL;
    }
    return qmf_list_at(v, 1);
}

static int
compile_operand(struct compile_ctx *ctx, const qmf_value *v,
                struct operand *out)
{
    const qmf_value *lit;
    bool bad;

    switch (v->kind) {
    case QMF_STRING:
        if (has_nul(v)) {
            compile_error(ctx, "field name contains a NUL byte");
            return -1;
        }
        out->field = qmf_xstrdup(qmf_as_string(v));
        return 0;
    case QMF_LIST:
        if ((lit = quoted(ctx, v, &bad)) != NULL) {
            out->literal = qmf_dup(lit);
            return 0;
        }
        if (!bad)
            compile_error(ctx, "an operand is a field name, a number, a bool "
                          "or [\"quote\", value], not a list");
        return -1;
    case QMF_MAP:
        compile_error(ctx, "an operand is a field name, a number, a bool or "
                      "[\"quote\", value], not a map");
        return -1;
    default:
        out->literal = qmf_dup(v);
        return 0;
    }
}

static int
compile_regex(struct compile_ctx *ctx, qmf_where *w, const qmf_value *v)
{
    const qmf_value *pattern = v;
    qmf_error why;
    bool bad = false;

    if (v->kind == QMF_LIST && (pattern = quoted(ctx, v, &bad)) == NULL) {
        if (!bad)
            compile_error(ctx, "re_match needs a pattern string, not a list");
        return -1;
    }
    if (pattern->kind != QMF_STRING) {
        compile_error(ctx, "re_match needs a pattern string, not %s",
                      qmf_kind_name(pattern->kind));
        return -1;
    }
    if (++ctx->regexes > WHERE_MAX_REGEXES) {
        compile_error(ctx, "more than %d re_match operators", WHERE_MAX_REGEXES);
        return -1;
    }
    w->re = qmf_regex_compile(qmf_as_bytes(pattern), qmf_bytes_len(pattern), &why);
    if (w->re == NULL) {
        compile_error(ctx, "re_match '%.100s': %s", qmf_as_string(pattern), why.text);
        return -1;
    }
    return 0;
}

static qmf_where *compile_pred(struct compile_ctx *ctx, const qmf_value *expr);

/* Compiles the operands of `expr` (a list whose [0] is its operator) into w. */
static int
compile_operands(struct compile_ctx *ctx, qmf_where *w, const qmf_value *expr)
{
    size_t i, n = qmf_list_len(expr) - 1;
    const qmf_value *arg;
    int rc = 0;

    switch (w->op) {
    case OP_TRUE:
    case OP_FALSE:
        return 0;
    case OP_AND:
    case OP_OR:
    case OP_NOT:
        w->kids = qmf_xcalloc(n, sizeof(*w->kids));
        for (i = 0; i < n; i++) {
            enter(ctx, i + 1);
            w->kids[i] = compile_pred(ctx, qmf_list_at(expr, i + 1));
            leave(ctx);
            if (w->kids[i] == NULL)
                return -1;
            w->nkids++;
        }
        return 0;
    case OP_EXISTS:
        arg = qmf_list_at(expr, 1);
        enter(ctx, 1);
        if (arg->kind != QMF_STRING) {
            compile_error(ctx, "exists needs a field name, not %s",
                          qmf_kind_name(arg->kind));
            rc = -1;
        } else {
            rc = compile_operand(ctx, arg, &w->lhs);
        }
        leave(ctx);
        return rc;
    default:
        enter(ctx, 1);
        rc = compile_operand(ctx, qmf_list_at(expr, 1), &w->lhs);
        leave(ctx);
        if (rc != 0)
            return rc;
        enter(ctx, 2);
        if (w->op == OP_RE_MATCH)
            rc = compile_regex(ctx, w, qmf_list_at(expr, 2));
        else
            rc = compile_operand(ctx, qmf_list_at(expr, 2), &w->rhs);
        if (rc == 0 && w->op == OP_IN &&
            (w->rhs.literal == NULL || w->rhs.literal->kind != QMF_LIST)) {
            compile_error(ctx, "in needs a quoted list of values, [\"quote\", [...]]");
            rc = -1;
        }
        leave(ctx);
        return rc;
    }
}

static qmf_where *
compile_pred(struct compile_ctx *ctx, const qmf_value *expr)
{
    const qmf_value *head;
    qmf_where *w;
    size_t i, nargs;

    if (expr == NULL || expr->kind != QMF_LIST)
        return compile_error(ctx, "expected a predicate list, got %s",
                             expr ? qmf_kind_name(expr->kind) : "nothing");
    if (ctx->depth >= WHERE_MAX_DEPTH)
        return compile_error(ctx, "nested deeper than %d levels",
                             WHERE_MAX_DEPTH);
    if (qmf_list_len(expr) == 0)
        return compile_error(ctx, "empty predicate list");
    head = qmf_list_at(expr, 0);
    nargs = qmf_list_len(expr) - 1;
    enter(ctx, 0);
    if (head->kind != QMF_STRING) {
        compile_error(ctx, "operator must be a string, got %s",
                      qmf_kind_name(head->kind));
        leave(ctx);
        return NULL;
    }
    for (i = 0; i < sizeof(operators) / sizeof(operators[0]); i++)
        if (strcmp(qmf_as_string(head), operators[i].name) == 0)
            break;
    if (i == sizeof(operators) / sizeof(operators[0]) || has_nul(head)) {
        compile_error(ctx, "unknown operator '%.64s'", qmf_as_string(head));
        leave(ctx);
        return NULL;
    }
    leave(ctx);
    if (operators[i].arity != ANY_ARITY && nargs != (size_t)operators[i].arity)
        return compile_error(ctx, "'%s' takes %d operand%s, got %zu",
                             operators[i].name, operators[i].arity,
                             operators[i].arity == 1 ? "" : "s", nargs);

    w = qmf_xcalloc(1, sizeof(*w));
    w->op = operators[i].op;
    if (compile_operands(ctx, w, expr) != 0) {
        qmf_where_free(w);
        return NULL;
    }
    return w;
}

qmf_where *
qmf_where_compile(const qmf_value *expr, qmf_error *err)
{
    struct compile_ctx ctx = { .err = err, .depth = 0 };

    return compile_pred(&ctx, expr);
}

/* The value of map's key name[0..len), which need not be NUL-terminated. */
static const qmf_value *
map_find(const qmf_value *map, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < qmf_map_len(map); i++) {
        const char *key = qmf_map_at(map, i)->key;

        if (strncmp(key, name, len) == 0 && key[len] == '\0')
            return qmf_map_at(map, i)->value;
    }
    return NULL;
}

/* O(keys x dots in name). */
static const qmf_value *
lookup(const qmf_value *map, const char *name)
{
    size_t len = strlen(name);

    while (map != NULL && map->kind == QMF_MAP) {
        const qmf_value *v = map_find(map, name, len);
        const char *dot;

        if (v != NULL)
            return v;
        if ((dot = memchr(name, '.', len)) == NULL)
            return NULL;
        map = map_find(map, name, (size_t)(dot - name));
        len -= (size_t)(dot - name) + 1;
        name = dot + 1;
    }
    return NULL;
}

static const qmf_value *
operand_value(const struct operand *o, const qmf_value *values)
{
    return o->field != NULL ? lookup(values, o->field) : o->literal;
}

/* How two values relate; ORD_NE is "unequal but unordered". */
enum order { ORD_LT, ORD_EQ, ORD_GT, ORD_NE, ORD_NONE };

#define SIGN(a, b) ((a) < (b) ? ORD_LT : (a) > (b) ? ORD_GT : ORD_EQ)

static enum order
flip(enum order o)
{
    return o == ORD_LT ? ORD_GT : o == ORD_GT ? ORD_LT : o;
}

static bool
is_negative(const qmf_value *v)
{
    return qmf_is_signed(v) && qmf_as_int(v) < 0;
}

/* Exact integer order: negatives only meet negatives as int64, the rest
 * meet as uint64, so no value is ever converted out of its range. */
static enum order
compare_integers(const qmf_value *a, const qmf_value *b)
{
    uint64_t ua, ub;

    if (is_negative(a) || is_negative(b)) {
        if (!is_negative(b))
            return ORD_LT;
        if (!is_negative(a))
            return ORD_GT;
        return SIGN(qmf_as_int(a), qmf_as_int(b));
    }
    qmf_get_uint64(a, &ua);
    qmf_get_uint64(b, &ub);
    return SIGN(ua, ub);
}

/*
 * Exact order of an integer and a double: compare the double's integral
 * part as an integer, then its fraction, instead of rounding the integer
 * to a double.  The casts truncate in range, and a truncated double
 * converts back exactly.
 */
static enum order
compare_integer_double(const qmf_value *a, double d)
{
    double frac;

    if (isnan(d))
        return ORD_NE;
    if (is_negative(a)) {
        int64_t t;

        if (d < -9223372036854775808.0)
            return ORD_GT;
        if (d >= 0)
            return ORD_LT;
        t = (int64_t)d;
        if (qmf_as_int(a) != t)
            return SIGN(qmf_as_int(a), t);
        frac = d - (double)t;
    } else {
        uint64_t u, t;

        qmf_get_uint64(a, &u);
        if (d < 0)
            return ORD_GT;
        if (d >= 18446744073709551616.0)
            return ORD_LT;
        t = (uint64_t)d;
        if (u != t)
            return SIGN(u, t);
        frac = d - (double)t;
    }
    return frac > 0 ? ORD_LT : frac < 0 ? ORD_GT : ORD_EQ;
}

static enum order
compare_numbers(const qmf_value *a, const qmf_value *b)
{
    double da, db;

    if (qmf_is_integer(a) && qmf_is_integer(b))
        return compare_integers(a, b);
    qmf_get_double(a, &da);
    qmf_get_double(b, &db);
    if (qmf_is_integer(a))
        return compare_integer_double(a, db);
    if (qmf_is_integer(b))
        return flip(compare_integer_double(b, da));
    if (isnan(da) || isnan(db))
        return ORD_NE;
    return SIGN(da, db);
}

static enum order
compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0)
        return c < 0 ? ORD_LT : ORD_GT;
    return SIGN(alen, blen);
}

/* Byte order of UUIDs is the order of their canonical (lower-case) text. */
static enum order
compare_uuid_string(const qmf_value *u, const qmf_value *s)
{
    uint8_t parsed[16];
    char text[37];

    if (!has_nul(s) && qmf_uuid_parse(qmf_as_string(s), parsed))
        return compare_bytes((const char *)qmf_as_uuid(u), 16,
                             (const char *)parsed, 16);
    qmf_uuid_format(qmf_as_uuid(u), text);
    return compare_bytes(text, 36, qmf_as_bytes(s), qmf_bytes_len(s));
}

static enum order
compare(const qmf_value *a, const qmf_value *b)
{
    if (qmf_is_number(a) && qmf_is_number(b))
        return compare_numbers(a, b);
    if (a->kind == QMF_UUID && b->kind == QMF_STRING)
        return compare_uuid_string(a, b);
    if (a->kind == QMF_STRING && b->kind == QMF_UUID)
        return flip(compare_uuid_string(b, a));
    if (a->kind != b->kind)
        return ORD_NONE;
    switch (a->kind) {
    case QMF_VOID:
        return ORD_EQ;
    case QMF_BOOL:
        return qmf_as_bool(a) == qmf_as_bool(b) ? ORD_EQ : ORD_NE;
    case QMF_UUID:
        return compare_bytes((const char *)qmf_as_uuid(a), 16,
                             (const char *)qmf_as_uuid(b), 16);
    case QMF_STRING:
    case QMF_BINARY:
        return compare_bytes(qmf_as_bytes(a), qmf_bytes_len(a),
                             qmf_as_bytes(b), qmf_bytes_len(b));
    case QMF_MAP:
    case QMF_LIST:
        return qmf_equal(a, b) ? ORD_EQ : ORD_NE;
    default:
        return ORD_NONE;
    }
}

/* 1, 0, or -1 with err set (a regex limit was reached). */
static int
re_match(const qmf_regex *re, const qmf_value *v, qmf_error *err)
{
    if (v == NULL || v->kind != QMF_STRING)
        return 0;
    /* The whole string, even past an embedded NUL. */
    return qmf_regex_match(re, qmf_as_bytes(v), qmf_bytes_len(v), err);
}

static int
test(const qmf_where *w, const qmf_value *values, qmf_error *err)
{
    const qmf_value *a, *b;
    enum order ord;
    size_t i;
    int rc;

    switch (w->op) {
    case OP_TRUE:
        return 1;
    case OP_FALSE:
        return 0;
    case OP_AND:
        for (i = 0; i < w->nkids; i++)
            if ((rc = test(w->kids[i], values, err)) != 1)
                return rc;
        return 1;
    case OP_OR:
        for (i = 0; i < w->nkids; i++)
            if ((rc = test(w->kids[i], values, err)) != 0)
                return rc;
        return 0;
    case OP_NOT:
        rc = test(w->kids[0], values, err);
        return rc < 0 ? rc : !rc;
    case OP_EXISTS:
        return operand_value(&w->lhs, values) != NULL;
    case OP_RE_MATCH:
        return re_match(w->re, operand_value(&w->lhs, values), err);
    default:
        break;
    }

    a = operand_value(&w->lhs, values);
    b = operand_value(&w->rhs, values);
    if (a == NULL || b == NULL)
        return 0;
    if (w->op == OP_IN) {
        for (i = 0; i < qmf_list_len(b); i++)
            if (compare(a, qmf_list_at(b, i)) == ORD_EQ)
                return 1;
        return 0;
    }
    ord = compare(a, b);
    switch (w->op) {
    case OP_EQ: return ord == ORD_EQ;
    case OP_NE: return ord == ORD_LT || ord == ORD_GT || ord == ORD_NE;
    case OP_LT: return ord == ORD_LT;
    case OP_LE: return ord == ORD_LT || ord == ORD_EQ;
    case OP_GT: return ord == ORD_GT;
    case OP_GE: return ord == ORD_GT || ord == ORD_EQ;
    default:    return 0;
    }
}

int
qmf_where_test(const qmf_where *w, const qmf_value *values, qmf_error *err)
{
    if (w == NULL)
        return 0;
    return test(w, values, err);
}

bool
qmf_where_eval(const qmf_where *w, const qmf_value *values)
{
    return qmf_where_test(w, values, NULL) == 1;
}
