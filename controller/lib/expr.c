/*
 * The expression compiler behind --where and --if: a hand-written
 * tokenizer and a recursive-descent parser that build QMF _where lists
 * directly, checking fields against a schema class when one is given.
 * docs/EXPRESSIONS.md is the reference; the grammar, loosest first:
 *
 *     or_expr  = and_expr { ("or" | "||") and_expr }
 *     and_expr = unary { ("and" | "&&") unary }
 *     unary    = ("not" | "!") unary | primary
 *     primary  = "(" or_expr ")" | "exists" field | "true" | "false"
 *              | operand cmp_op operand
 *
 * Decisions worth knowing when reading the code:
 * - The parser normalises a comparison to field-first (`5 < numVcpus`
 *   becomes ["gt", "numVcpus", 5]); and/or chains are flattened into one
 *   n-ary list.
 * - Size literals are kept as bytes until the field is known, then scaled
 *   into the field's unit.
 * - Errors stop at the first one and carry the column (in characters) of
 *   the token at fault, or of the end of the text.
 *
 * Costs: O(length of the text) to tokenize and parse (one token of
 * lookahead, no backtracking), plus O(properties of the class) per field
 * lookup and one regex compile per =~ (the agents' engine, core/regex.h).
 */
#include "controller/lib/expr.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/regex.h"
#include "core/text.h"
#include "core/where.h"

/* Nesting of parentheses and nots; with the lists around them this stays
 * under the 64 levels qmf_where_compile() accepts. */
#define EXPR_MAX_DEPTH 60

/* Found tokens are quoted in messages up to this many bytes. */
#define EXPR_QUOTE_MAX 40

enum tok {
    TOK_END, TOK_LPAREN, TOK_RPAREN,
    TOK_OR, TOK_AND, TOK_NOT, TOK_EXISTS, TOK_TRUE, TOK_FALSE,
    TOK_EQ, TOK_NE, TOK_LT, TOK_LE, TOK_GT, TOK_GE, TOK_MATCH, TOK_NOMATCH,
    TOK_FIELD, TOK_STRING, TOK_NUMBER,
};

/* The words of the language; a field cannot have one of these names. */
static const struct {
    const char *word;
    enum tok kind;
} keywords[] = {
    { "or", TOK_OR }, { "and", TOK_AND }, { "not", TOK_NOT },
    { "exists", TOK_EXISTS }, { "true", TOK_TRUE }, { "false", TOK_FALSE },
};

/* Size suffixes as libvirt's virsh reads them: K and KiB are 1024, KB is
 * 1000; case does not matter. */
static const struct {
    const char *suffix;
    uint64_t bytes;
} size_suffixes[] = {
    { "b", 1 },
    { "k", UINT64_C(1) << 10 }, { "kib", UINT64_C(1) << 10 }, { "kb", UINT64_C(1000) },
    { "m", UINT64_C(1) << 20 }, { "mib", UINT64_C(1) << 20 }, { "mb", UINT64_C(1000) * 1000 },
    { "g", UINT64_C(1) << 30 }, { "gib", UINT64_C(1) << 30 },
    { "gb", UINT64_C(1000) * 1000 * 1000 },
    { "t", UINT64_C(1) << 40 }, { "tib", UINT64_C(1) << 40 },
    { "tb", UINT64_C(1000) * 1000 * 1000 * 1000 },
    { "p", UINT64_C(1) << 50 }, { "pib", UINT64_C(1) << 50 },
    { "pb", UINT64_C(1000) * 1000 * 1000 * 1000 * 1000 },
};

/* Schema units a size literal can be converted into. */
static const struct {
    const char *unit;
    uint64_t bytes;
} size_units[] = {
    { "bytes", 1 }, { "B", 1 },
    { "KiB", UINT64_C(1) << 10 }, { "MiB", UINT64_C(1) << 20 },
    { "GiB", UINT64_C(1) << 30 },
};

/* Exact powers of ten: a decimal with at most 2^53 as its digits, divided
 * by one of these, is correctly rounded. */
static const double pow10_exact[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

struct token {
    enum tok kind;
    size_t start, end;        /* byte offsets of its text */
    char *str;                /* TOK_FIELD's name or TOK_STRING's value */
    qmf_value *number;        /* TOK_NUMBER without a size suffix */
    bool is_size;
    uint64_t bytes;           /* TOK_NUMBER with a size suffix */
};

/* A side of a comparison.  FIELD with a class: prop is its property, or
 * NULL for a key inside a map property (whose type nobody knows). */
enum operand_kind { OPD_FIELD, OPD_STRING, OPD_NUMBER, OPD_SIZE, OPD_BOOL };

struct operand {
    enum operand_kind kind;
    size_t start;
    char *str;
    qmf_value *number;
    uint64_t bytes;
    bool b;
    const struct schema_property *prop;
};

struct parser {
    const char *text;
    size_t pos;                 /* where scanning resumes */
    struct token tok;           /* the current token, not yet consumed */
    size_t prev_start, prev_end;  /* the token before it, for "after '=='" */
    bool has_prev;
    const struct schema_class *cls;
    qmf_error *err;
    int depth;
};

/* What a value or a field's type is, in words for messages. */
enum family { FAM_NUMBER, FAM_STRING, FAM_BOOL, FAM_MAP, FAM_LIST, FAM_BINARY };

static const char *const family_names[] = {
    [FAM_NUMBER] = "a number", [FAM_STRING] = "a string", [FAM_BOOL] = "a bool",
    [FAM_MAP] = "a map", [FAM_LIST] = "a list", [FAM_BINARY] = "binary data",
};

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_field_start(char c)
{
    return is_letter(c) || c == '_';
}

static bool
is_field_char(char c)
{
    return is_field_start(c) || is_digit(c) || c == '.' || c == '-';
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Characters (not bytes) before off, plus one: UTF-8 continuation bytes
 * do not start a character. */
static unsigned
column_at(const char *text, size_t off)
{
    unsigned col = 1;
    size_t i;

    for (i = 0; i < off; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            col++;
    return col;
}

static void __attribute__((format(printf, 3, 0)))
vfail(struct parser *p, size_t off, const char *fmt, va_list ap)
{
    char msg[QMF_ERROR_TEXT_MAX];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    qmf_error_set(p->err, QMF_ERR_INVALID_ARGS, "column %u: %s",
                  column_at(p->text, off), msg);
}

/* The parser's error: NULL, so that `return fail(...)` ends a step. */
static qmf_value * __attribute__((format(printf, 3, 4)))
fail(struct parser *p, size_t off, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(p, off, fmt, ap);
    va_end(ap);
    return NULL;
}

/* The same for steps that return an int: -1. */
static int __attribute__((format(printf, 3, 4)))
fail_rc(struct parser *p, size_t off, const char *fmt, ...)
        {
        va_list ap;

    va_start(ap, fmt);
    vfail(p, off, fmt, ap);
    va_end(ap);
    return -1;
}

/* n bytes of s, cut to EXPR_QUOTE_MAX on a character boundary, for "%.*s". */
static int
quote_len(const char *s, size_t n)
{
    if (n <= EXPR_QUOTE_MAX)
        return (int)n;
    n = EXPR_QUOTE_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

/* "'<text of the current token>'" or "end of input", into buf. */
static const char *
found(const struct parser *p, char *buf, size_t len)
{
    const struct token *t = &p->tok;

    if (t->kind == TOK_END)
        return "end of input";
    snprintf(buf, len, "'%.*s'", quote_len(p->text + t->start, t->end - t->start),
             p->text + t->start);
    return buf;
}

/* " after '<previous token>'", or "" at the start of the text. */
static const char *
after(const struct parser *p, char *buf, size_t len)
{
    if (!p->has_prev)
        return "";
    snprintf(buf, len, " after '%.*s'",
             quote_len(p->text + p->prev_start, p->prev_end - p->prev_start),
             p->text + p->prev_start);
    return buf;
}

static void
token_clear(struct token *t)
{
    free(t->str);
    qmf_free(t->number);
    memset(t, 0, sizeof(*t));
}

/* ---- Tokenizer ---------------------------------------------------------- */

static int
scan_unexpected(struct parser *p, size_t at)
{
    const unsigned char *s = (const unsigned char *)p->text + at;
    size_t n = 1;

    if (*s >= 0x80) {
        while (n < 4 && (s[n] & 0xC0) == 0x80)
            n++;
        return fail_rc(p, at, "unexpected character '%.*s'", (int)n,
                       (const char *)s);
    }
    if (*s < 0x20 || *s == 0x7F)
        return fail_rc(p, at, "unexpected control character \\x%02x", *s);
    return fail_rc(p, at, "unexpected character '%c'", *s);
}

/*
 * A string in double or single quotes.  \\ \" \' \n \t \r are escapes; any
 * other backslash is kept with the character after it, so that regular
 * expressions read naturally ("^web\.1" is the pattern ^web\.1).
 */
static int
scan_string(struct parser *p, struct token *t)
{
    const char *s = p->text;
    char quote = s[t->start], *out;
    size_t i = t->start + 1, n = 0;

    for (;; i++) {
        if (s[i] == '\0')
            return fail_rc(p, t->start, "unterminated string");
        if (s[i] == quote)
            break;
        if (s[i] == '\\' && s[i + 1] != '\0')
            i++;
    }
    t->end = i + 1;
    out = t->str = qmf_xmalloc(i - t->start);
    for (i = t->start + 1; i < t->end - 1; i++) {
        if (s[i] != '\\') {
            out[n++] = s[i];
            continue;
        }
        switch (s[++i]) {
        case '\\': case '"': case '\'':
            out[n++] = s[i];
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        default:
            out[n++] = '\\';
            out[n++] = s[i];
            break;
        }
    }
    out[n] = '\0';
    t->kind = TOK_STRING;
    return 0;
}

/* a * b + c into *out, false if it overflows uint64. */
static bool
mul_add(uint64_t a, uint64_t b, uint64_t c, uint64_t *out)
{
    if (b != 0 && a > UINT64_MAX / b)
        return false;
    if (a * b > UINT64_MAX - c)
        return false;
    *out = a * b + c;
    return true;
}

static uint64_t
pow10_u64(size_t n)
{
    uint64_t r = 1;

    while (n-- > 0)
        r *= 10;
    return r;
}

/*
 * bytes = (digits / 10^frac) * scale, exactly: the integral and the
 * fractional part are scaled separately, and the fraction must come out
 * as whole bytes.
 */
static int
scale_size(struct parser *p, struct token *t, uint64_t digits, size_t frac,
           uint64_t scale, int len)
{
    const char *num = p->text + t->start;
    uint64_t div, whole, part;

    if (frac > 19)
        return fail_rc(p, t->start, "size '%.*s' has too many decimals", len, num);
    div = pow10_u64(frac);
    if (!mul_add(digits / div, scale, 0, &whole) ||
        !mul_add(digits % div, scale, 0, &part) ||
        whole > UINT64_MAX - part / div)
        return fail_rc(p, t->start, "size '%.*s' is out of range", len, num);
    if (part % div != 0)
        return fail_rc(p, t->start, "size '%.*s' is not a whole number of bytes",
                       len, num);
    t->bytes = whole + part / div;
    t->is_size = true;
    return 0;
}

/*
 * An integer or a decimal, optionally negative, optionally with a size
 * suffix: -5, 0.75, 64G, 1.5GiB, 500MB.  No exponent, no hex.
 */
static int
scan_number(struct parser *p, struct token *t)
{
    const char *s = p->text, *num = s + t->start;
    size_t i = t->start, int_start, int_end, frac_start = 0, frac_end = 0;
    size_t suffix_start, k, frac;
    bool negative = false, decimal = false;
    uint64_t digits = 0;
    int len;

    if (s[i] == '-') {
        negative = true;
        i++;
    }
    int_start = i;
    while (is_digit(s[i]))
        i++;
    int_end = i;
    if (s[i] == '.' && is_digit(s[i + 1])) {
        decimal = true;
        frac_start = ++i;
        while (is_digit(s[i]))
            i++;
        frac_end = i;
    }
    suffix_start = i;
    while (is_letter(s[i]))
        i++;
    t->end = i;
    if (is_field_char(s[i]) && s[i] != '-') {
        while (is_field_char(s[i]))
            i++;
        return fail_rc(p, t->start, "malformed number '%.*s'",
                       quote_len(num, i - t->start), num);
    }
    len = quote_len(num, t->end - t->start);

    /* Trailing zeros of the fraction change nothing but the precision. */
    while (frac_end > frac_start && s[frac_end - 1] == '0')
        frac_end--;
    frac = frac_end - frac_start;
    for (k = int_start; k < int_end; k++)
        if (!mul_add(digits, 10, (uint64_t)(s[k] - '0'), &digits))
            goto too_big;
    for (k = frac_start; k < frac_end; k++)
        if (!mul_add(digits, 10, (uint64_t)(s[k] - '0'), &digits))
            goto too_big;
    t->kind = TOK_NUMBER;

    if (suffix_start < t->end) {
        for (k = 0; k < sizeof(size_suffixes) / sizeof(size_suffixes[0]); k++)
            if (strlen(size_suffixes[k].suffix) == t->end - suffix_start &&
                strncasecmp(s + suffix_start, size_suffixes[k].suffix,
                            t->end - suffix_start) == 0)
                break;
        if (k == sizeof(size_suffixes) / sizeof(size_suffixes[0]))
            return fail_rc(p, suffix_start, "unknown size suffix '%.*s' (K, M, G, T, P "
                           "or KiB ... PiB for 1024s, KB ... PB for 1000s)",
                           quote_len(s + suffix_start, t->end - suffix_start),
                           s + suffix_start);
        if (negative)
            return fail_rc(p, t->start, "a size cannot be negative");
        return scale_size(p, t, digits, frac, size_suffixes[k].bytes, len);
    }
    if (decimal) {
        if (digits > (UINT64_C(1) << 53) || frac > 22)
            goto too_big;
        t->number = qmf_double((negative ? -1.0 : 1.0) *
                               ((double)digits / pow10_exact[frac]));
    } else if (!negative) {
        t->number = digits <= INT64_MAX ? qmf_i64((int64_t)digits) : qmf_u64(digits);
    } else if (digits <= INT64_MAX) {
        t->number = qmf_i64(-(int64_t)digits);
    } else if (digits == (uint64_t)INT64_MAX + 1) {
        t->number = qmf_i64(INT64_MIN);
    } else {
        goto too_big;
    }
    return 0;

too_big:
    if (decimal)
        return fail_rc(p, t->start, "number '%.*s' has more digits than a double "
                       "holds exactly", len, num);
    return fail_rc(p, t->start, "number '%.*s' is out of range", len, num);
}

static int
scan_field(struct parser *p, struct token *t)
{
    const char *s = p->text;
    size_t i = t->start, k, len;

    while (is_field_char(s[i]))
        i++;
    t->end = i;
    len = i - t->start;
    for (k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
        if (strlen(keywords[k].word) == len &&
            strncasecmp(s + t->start, keywords[k].word, len) == 0) {
            t->kind = keywords[k].kind;
            return 0;
        }
    for (k = t->start; k < i; k++)
        if (s[k] == '.' && (k + 1 == i || s[k + 1] == '.'))
            return fail_rc(p, t->start, "field name '%.*s' has an empty part after a dot",
                           quote_len(s + t->start, len), s + t->start);
    t->kind = TOK_FIELD;
    t->str = qmf_xstrndup(s + t->start, len);
    return 0;
}

/* Two-character operators first, then the one-character ones. */
static int
scan_operator(struct parser *p, struct token *t)
{
    static const struct {
        const char *text;
        enum tok kind;
    } ops[] = {
        { "==", TOK_EQ }, { "=~", TOK_MATCH }, { "!=", TOK_NE }, { "!~", TOK_NOMATCH },
        { "<=", TOK_LE }, { ">=", TOK_GE }, { "&&", TOK_AND }, { "||", TOK_OR },
        { "=", TOK_EQ }, { "!", TOK_NOT }, { "<", TOK_LT }, { ">", TOK_GT },
        { "(", TOK_LPAREN }, { ")", TOK_RPAREN },
    };
    const char *s = p->text + t->start;
    size_t k, n;

    for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        n = strlen(ops[k].text);
        if (strncmp(s, ops[k].text, n) == 0) {
            t->kind = ops[k].kind;
            t->end = t->start + n;
            return 0;
        }
    }
    if (*s == '&' || *s == '|')
        return fail_rc(p, t->start, "unexpected '%c'; did you mean '%c%c'?",
                       *s, *s, *s);
    return scan_unexpected(p, t->start);
}

/* Moves to the next token; the current one is consumed (or dropped). */
static int
next(struct parser *p)
{
    struct token *t = &p->tok;
    const char *s = p->text;
    size_t i = p->pos;
    int rc = 0;

    if (t->end > t->start) {
        p->prev_start = t->start;
        p->prev_end = t->end;
        p->has_prev = true;
    }
    token_clear(t);
    while (is_space(s[i]))
        i++;
    t->start = t->end = i;
    if (s[i] == '\0')
        t->kind = TOK_END;
    else if (s[i] == '"' || s[i] == '\'')
        rc = scan_string(p, t);
    else if (is_digit(s[i]) || (s[i] == '-' && is_digit(s[i + 1])))
        rc = scan_number(p, t);
    else if (is_field_start(s[i]))
        rc = scan_field(p, t);
    else
        rc = scan_operator(p, t);
    p->pos = t->end;
    return rc;
}

/* ---- Building QMF lists ------------------------------------------------- */

/* [op, a, b] with the operands that are not NULL; takes a and b. */
static qmf_value *
pred_new(const char *op, qmf_value *a, qmf_value *b)
{
    qmf_value *l = qmf_list();

    qmf_list_append(l, qmf_string(op));
    if (a != NULL)
        qmf_list_append(l, a);
    if (b != NULL)
        qmf_list_append(l, b);
    return l;
}

static bool
pred_is(const qmf_value *v, const char *op)
{
    const qmf_value *head = qmf_list_at(v, 0);

    return head != NULL && head->kind == QMF_STRING && strcmp(qmf_as_string(head), op) == 0;
}

/* Appends x to the n-ary list `all`; an x of the same operator gives its
 * operands instead, so `(a and b) and c` is one ["and", a, b, c]. */
static void
absorb(qmf_value *all, qmf_value *x, const char *op)
{
    size_t i;

    if (!pred_is(x, op)) {
        qmf_list_append(all, x);
        return;
    }
    for (i = 1; i < qmf_list_len(x); i++)
        qmf_list_append(all, qmf_list_steal(x, i));
    qmf_free(x);            /* the operands moved; only the head is left */
}

static void
operand_clear(struct operand *o)
{
    free(o->str);
    qmf_free(o->number);
    memset(o, 0, sizeof(*o));
}

/* The QMF form of a literal, in the unit of the field it meets. */
static qmf_value *
literal_value(struct operand *o, uint64_t unit_bytes)
{
    qmf_value *v;
    uint64_t n;

    switch (o->kind) {
    case OPD_STRING:
        return pred_new("quote", qmf_string(o->str), NULL);
    case OPD_BOOL:
        return qmf_bool(o->b);
    case OPD_SIZE:
        n = o->bytes / unit_bytes;
        return n <= INT64_MAX ? qmf_i64((int64_t)n) : qmf_u64(n);
    default:
        v = o->number;
        o->number = NULL;
        return v;
    }
}

/* ---- Checks against the schema class ------------------------------------ */

static enum family
type_family(enum qmf_type t)
{
    switch (t) {
    case QMF_T_BOOL:
        return FAM_BOOL;
    case QMF_T_SSTR: case QMF_T_LSTR: case QMF_T_UUID:
        return FAM_STRING;
    case QMF_T_MAP: case QMF_T_OBJID:
        return FAM_MAP;
    case QMF_T_LIST:
        return FAM_LIST;
    case QMF_T_BINARY:
        return FAM_BINARY;
    default:
        return FAM_NUMBER;
    }
}

static enum family
literal_family(const struct operand *o)
{
    switch (o->kind) {
    case OPD_STRING: return FAM_STRING;
    case OPD_BOOL:   return FAM_BOOL;
    default:         return FAM_NUMBER;
    }
}

static bool
is_integer_type(enum qmf_type t)
{
    return t <= QMF_T_INT64 || t == QMF_T_ABSTIME || t == QMF_T_DELTATIME;
}

/*
 * With a class: the field must be a property, or a key inside a map
 * property ("labels.tier").  An exact property name wins over the dotted
 * reading, as in qmf_where_eval().  `hint` is appended to an unknown name.
 */
static int
resolve_field(struct parser *p, struct operand *o, const char *hint)
{
    const struct schema_property *prop;
    const char *dot;

    if (p->cls == NULL)
        return 0;
    if ((o->prop = schema_find_property(p->cls, o->str)) != NULL)
        return 0;
    if ((dot = strchr(o->str, '.')) != NULL) {
        char *head = qmf_xstrndup(o->str, (size_t)(dot - o->str));

        prop = schema_find_property(p->cls, head);
        free(head);
        if (prop != NULL && type_family(prop->type) == FAM_MAP)
            return 0;
        if (prop != NULL)
            return fail_rc(p, o->start, "%s is %s, not a map, so '%.*s' names nothing",
                           prop->name, family_names[type_family(prop->type)],
                           quote_len(o->str, strlen(o->str)), o->str);
        return fail_rc(p, o->start, "unknown property '%.*s' of %s%s",
                       quote_len(o->str, (size_t)(dot - o->str)), o->str,
                       p->cls->name, hint);
    }
    return fail_rc(p, o->start, "unknown property '%.*s' of %s%s",
                   quote_len(o->str, strlen(o->str)), o->str, p->cls->name, hint);
}

/* How many bytes one unit of the field is, into *unit, or -1 if a size
 * cannot be compared with it. */
static int
size_unit(struct parser *p, const struct operand *field, const struct operand *size,
          uint64_t *unit)
{
    const struct schema_property *prop = field->prop;
    size_t k;

    *unit = 1;
    if (prop == NULL)
        return 0;
    if (!is_integer_type(prop->type))
        return fail_rc(p, size->start, "a size needs an integer field; %s is a %s",
                       prop->name, qmf_type_name(prop->type));
    if (prop->unit == NULL)
        return 0;
    for (k = 0; k < sizeof(size_units) / sizeof(size_units[0]); k++)
        if (strcmp(prop->unit, size_units[k].unit) == 0)
            break;
    if (k == sizeof(size_units) / sizeof(size_units[0]))
        return fail_rc(p, size->start, "%s is in %s, not a size", prop->name,
                       prop->unit);
    if (size->bytes % size_units[k].bytes != 0)
        return fail_rc(p, size->start, "%" PRIu64 " bytes is not a whole number "
                       "of %s (the unit of %s)", size->bytes, prop->unit, prop->name);
    *unit = size_units[k].bytes;
    return 0;
}

static bool
is_ordering(enum tok op)
{
    return op == TOK_LT || op == TOK_LE || op == TOK_GT || op == TOK_GE;
}

static const char *
op_name(enum tok op)
{
    switch (op) {
    case TOK_EQ: return "eq";
    case TOK_NE: return "ne";
    case TOK_LT: return "lt";
    case TOK_LE: return "le";
    case TOK_GT: return "gt";
    default:     return "ge";
    }
}

/* The operator with its sides swapped: 5 < x is x > 5. */
static enum tok
op_swapped(enum tok op)
{
    switch (op) {
    case TOK_LT: return TOK_GT;
    case TOK_LE: return TOK_GE;
    case TOK_GT: return TOK_LT;
    case TOK_GE: return TOK_LE;
    default:     return op;
    }
}

/* field =~ "pattern" and field !~ "pattern". */
static qmf_value *
compile_match(struct parser *p, enum tok op, size_t op_start,
              struct operand *l, struct operand *r)
{
    qmf_regex *re;
    qmf_error why;
    qmf_value *m;

    if (l->kind != OPD_FIELD)
        return fail(p, l->start, "%s needs a field on its left",
                    op == TOK_MATCH ? "=~" : "!~");
    if (resolve_field(p, l, "") != 0)
        return NULL;
    if (r->kind != OPD_STRING)
        return fail(p, r->start, "%s needs a pattern in quotes on its right",
                    op == TOK_MATCH ? "=~" : "!~");
    if (l->prop != NULL && l->prop->type != QMF_T_SSTR && l->prop->type != QMF_T_LSTR)
        return fail(p, op_start, "%s matches strings only; %s is %s",
                    op == TOK_MATCH ? "=~" : "!~", l->prop->name,
                    family_names[type_family(l->prop->type)]);
    /* The agent compiles it the same way; a bad pattern is better caught
     * here, where the column is known. */
    if ((re = qmf_regex_compile(r->str, strlen(r->str), &why)) == NULL)
        return fail(p, r->start, "%s", why.text);
    qmf_regex_free(re);
    m = pred_new("re_match", qmf_string(l->str), literal_value(r, 1));
    return op == TOK_MATCH ? m : pred_new("not", m, NULL);
}

/* Two fields: both must be known and of the same family. */
static qmf_value *
compile_fields(struct parser *p, enum tok op, size_t op_start,
               struct operand *l, struct operand *r)
{
    enum family fl, fr;

    if (resolve_field(p, l, "") != 0 ||
        resolve_field(p, r, " (a string value is written in quotes)") != 0)
        return NULL;
    if (l->prop != NULL && r->prop != NULL) {
        fl = type_family(l->prop->type);
        fr = type_family(r->prop->type);
        if (fl != fr)
            return fail(p, r->start, "%s is %s, but %s is %s", l->prop->name,
                        family_names[fl], r->prop->name, family_names[fr]);
        if (is_ordering(op) && fl != FAM_NUMBER && fl != FAM_STRING)
            return fail(p, op_start, "only == and != compare %s",
                        fl == FAM_BOOL ? "bools" : "maps, lists or binary data");
    }
    return pred_new(op_name(op), qmf_string(l->str), qmf_string(r->str));
}

static qmf_value *
compile_comparison(struct parser *p, enum tok op, size_t op_start,
                   struct operand *l, struct operand *r)
{
    struct operand *field = l, *lit = r;
    uint64_t unit = 1;
    enum family ff;

    if (op == TOK_MATCH || op == TOK_NOMATCH)
        return compile_match(p, op, op_start, l, r);
    if (l->kind == OPD_FIELD && r->kind == OPD_FIELD)
        return compile_fields(p, op, op_start, l, r);
    if (l->kind != OPD_FIELD && r->kind != OPD_FIELD)
        return fail(p, l->start, "both sides are values; a field name is "
                    "written without quotes");
    if (l->kind != OPD_FIELD) {
        field = r;
        lit = l;
        op = op_swapped(op);
    }
    if (resolve_field(p, field, "") != 0)
        return NULL;
    if (lit->kind == OPD_BOOL && is_ordering(op))
        return fail(p, op_start, "only == and != compare bools");
    if (field->prop != NULL) {
        ff = type_family(field->prop->type);
        if (ff == FAM_MAP)
            return fail(p, lit->start, "%s is a map; compare one of its keys, "
                        "as in %s.KEY", field->prop->name, field->prop->name);
        if (ff != literal_family(lit))
            return fail(p, lit->start, "%s is %s, not %s", field->prop->name,
                        family_names[ff], family_names[literal_family(lit)]);
        if (ff == FAM_BOOL && is_ordering(op))
            return fail(p, op_start, "only == and != compare bools");
    }
    if (lit->kind == OPD_SIZE && size_unit(p, field, lit, &unit) != 0)
        return NULL;
    return pred_new(op_name(op), qmf_string(field->str), literal_value(lit, unit));
}

/* ---- Parser ------------------------------------------------------------- */

static qmf_value *parse_or(struct parser *p);

static bool
is_comparison(enum tok t)
{
    return t >= TOK_EQ && t <= TOK_NOMATCH;
}

/* Takes the current token as a comparison operand, or fails. */
static int
take_operand(struct parser *p, struct operand *o, const char *what)
{
    struct token *t = &p->tok;
    char b1[64], b2[64];

    memset(o, 0, sizeof(*o));
    o->start = t->start;
    switch (t->kind) {
    case TOK_FIELD:
        o->kind = OPD_FIELD;
        o->str = t->str;
        t->str = NULL;
        break;
    case TOK_STRING:
        o->kind = OPD_STRING;
        o->str = t->str;
        t->str = NULL;
        break;
    case TOK_NUMBER:
        o->kind = t->is_size ? OPD_SIZE : OPD_NUMBER;
        o->bytes = t->bytes;
        o->number = t->number;
        t->number = NULL;
        break;
    case TOK_TRUE:
    case TOK_FALSE:
        o->kind = OPD_BOOL;
        o->b = t->kind == TOK_TRUE;
        break;
    default:
        fail(p, t->start, "expected %s%s, found %s", what,
             after(p, b1, sizeof(b1)), found(p, b2, sizeof(b2)));
        return -1;
    }
    return next(p);
}

/* operand cmp_op operand, or a lone true/false. */
static qmf_value *
parse_comparison(struct parser *p)
{
    struct operand l, r;
    qmf_value *result = NULL;
    char b1[64], b2[64];
    size_t op_start;
    enum tok op;

    memset(&r, 0, sizeof(r));
    if (take_operand(p, &l, "a predicate") != 0)
        goto out;
    if (!is_comparison(p->tok.kind)) {
        if (l.kind == OPD_BOOL)
            result = pred_new(l.b ? "true" : "false", NULL, NULL);
        else
            fail(p, p->tok.start, "expected a comparison operator%s, found %s",
                 after(p, b1, sizeof(b1)), found(p, b2, sizeof(b2)));
        goto out;
    }
    op = p->tok.kind;
    op_start = p->tok.start;
    if (next(p) != 0 || take_operand(p, &r, "a value") != 0)
        goto out;
    result = compile_comparison(p, op, op_start, &l, &r);
out:
    operand_clear(&l);
    operand_clear(&r);
    return result;
}

static qmf_value *
parse_exists(struct parser *p)
{
    bool paren;
    size_t open;
    struct operand o;
    qmf_value *result = NULL;
    char b1[64], b2[64];

    if (next(p) != 0)
        return NULL;
    open = p->tok.start;
    if ((paren = p->tok.kind == TOK_LPAREN) && next(p) != 0)
        return NULL;
    if (p->tok.kind != TOK_FIELD)
        return fail(p, p->tok.start, "expected a field name%s, found %s",
                    after(p, b1, sizeof(b1)), found(p, b2, sizeof(b2)));
    if (take_operand(p, &o, "a field name") != 0)
        goto out;
    if (resolve_field(p, &o, "") != 0)
        goto out;
    if (paren && p->tok.kind != TOK_RPAREN) {
        fail(p, p->tok.start, "expected ')' to close the '(' at column %u, found %s",
             column_at(p->text, open), found(p, b2, sizeof(b2)));
        goto out;
    }
    if (paren && next(p) != 0)
        goto out;
    result = pred_new("exists", qmf_string(o.str), NULL);
out:
    operand_clear(&o);
    return result;
}

static qmf_value *
parse_group(struct parser *p)
{
    size_t open = p->tok.start;
    qmf_value *e;
    char b[64];

    if (next(p) != 0 || (e = parse_or(p)) == NULL)
        return NULL;
    if (p->tok.kind != TOK_RPAREN) {
        qmf_free(e);
        return fail(p, p->tok.start, "expected ')' to close the '(' at column %u, "
                    "found %s", column_at(p->text, open), found(p, b, sizeof(b)));
    }
    if (next(p) != 0) {
        qmf_free(e);
        return NULL;
    }
    return e;
}

/* Parentheses and nots are the only recursion, so they carry the limit. */
static bool
enter(struct parser *p)
{
    if (p->depth >= EXPR_MAX_DEPTH) {
        fail(p, p->tok.start, "nested deeper than %d levels", EXPR_MAX_DEPTH);
        return false;
    }
    p->depth++;
    return true;
}

static qmf_value *
parse_unary(struct parser *p)
{
    qmf_value *e = NULL;

    switch (p->tok.kind) {
    case TOK_NOT:
        if (!enter(p))
            return NULL;
        if (next(p) == 0 && (e = parse_unary(p)) != NULL)
            e = pred_new("not", e, NULL);
        p->depth--;
        return e;
    case TOK_LPAREN:
        if (!enter(p))
            return NULL;
        e = parse_group(p);
        p->depth--;
        return e;
    case TOK_EXISTS:
        return parse_exists(p);
    default:
        return parse_comparison(p);
    }
}

/* and_expr and or_expr: one n-ary list for a chain of the same operator. */
static qmf_value *
parse_chain(struct parser *p, enum tok joiner, const char *op,
            qmf_value *(*operand)(struct parser *))
{
    qmf_value *first, *all, *x;

    if ((first = operand(p)) == NULL || p->tok.kind != joiner)
        return first;
    all = pred_new(op, NULL, NULL);
    absorb(all, first, op);
    while (p->tok.kind == joiner) {
        if (next(p) != 0 || (x = operand(p)) == NULL) {
            qmf_free(all);
            return NULL;
        }
        absorb(all, x, op);
    }
    return all;
}

static qmf_value *
parse_and(struct parser *p)
{
    return parse_chain(p, TOK_AND, "and", parse_unary);
}

static qmf_value *
parse_or(struct parser *p)
{
    return parse_chain(p, TOK_OR, "or", parse_and);
}

/*
 * The agents' own check of the predicate (qmf_where_compile): the limits
 * the grammar does not see (how many regexes, how deep) are theirs, and
 * the console must agree with them.  true (and the error set) if refused.
 */
static bool
agents_refuse(struct parser *p, const qmf_value *pred)
{
    qmf_where *w;
    qmf_error why;

    if ((w = qmf_where_compile(pred, &why)) != NULL) {
        qmf_where_free(w);
        return false;
    }
    fail(p, 0, "%s", why.text);
    return true;
}

/* The text goes to agents inside a JSON or AMQP string: valid UTF-8 only. */
static int
check_utf8(struct parser *p)
{
    size_t len = strlen(p->text), i = 0, n;

    while (i < len) {
        if ((n = qmf_utf8_char_len(p->text + i, len - i)) == 0)
            return fail_rc(p, i, "invalid UTF-8 (byte \\x%02x)", (unsigned char)p->text[i]);
        i += n;
    }
    return 0;
}

qmf_value *
virtbus_expr_compile(const char *text, const struct schema_class *cls, qmf_error *err)
{
    struct parser p = { .text = text != NULL ? text : "", .cls = cls, .err = err };
    qmf_value *e = NULL;
    char b1[64], b2[64];

    qmf_error_clear(err);
    if (check_utf8(&p) != 0 || next(&p) != 0)
        goto out;
    if (p.tok.kind == TOK_END) {
        fail(&p, p.tok.start, "empty expression");
        goto out;
    }
    if ((e = parse_or(&p)) == NULL)
        goto out;
    if (p.tok.kind == TOK_RPAREN) {
        fail(&p, p.tok.start, "unexpected ')' with no '(' to close");
    } else if (p.tok.kind != TOK_END) {
        fail(&p, p.tok.start, "expected 'and', 'or' or the end%s, found %s",
             after(&p, b1, sizeof(b1)), found(&p, b2, sizeof(b2)));
    } else if (agents_refuse(&p, e)) {
        /* Nothing is sent that every agent would refuse. */
    } else {
        goto out;
    }
    qmf_free(e);
    e = NULL;
out:
    token_clear(&p.tok);
    return e;
}

unsigned
virtbus_expr_error_column(const qmf_error *err)
{
    unsigned long col;
    char *end;

    if (err == NULL || strncmp(err->text, "column ", 7) != 0)
        return 0;
    col = strtoul(err->text + 7, &end, 10);
    if (end == err->text + 7 || *end != ':' || col > UINT32_MAX)
        return 0;
    return (unsigned)col;
}

/* Appends c to buf if it fits; counts it either way. */
static void
put(char *buf, size_t len, size_t *used, char c)
{
    if (*used + 1 < len)
        buf[*used] = c;
    (*used)++;
}

size_t
virtbus_expr_caret(const char *text, unsigned column, char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)(text != NULL ? text : "");
    unsigned chars = 0, i;
    size_t used = 0;

    put(buf, len, &used, ' ');
    put(buf, len, &used, ' ');
    for (; *s != '\0'; s++) {
        put(buf, len, &used, *s < 0x20 || *s == 0x7F ? ' ' : (char)*s);
        if ((*s & 0xC0) != 0x80)
            chars++;
    }
    put(buf, len, &used, '\n');
    if (column == 0)
        column = 1;
    if (column > chars + 1)
        column = chars + 1;
    put(buf, len, &used, ' ');
    put(buf, len, &used, ' ');
    for (i = 1; i < column; i++)
        put(buf, len, &used, ' ');
    put(buf, len, &used, '^');
    put(buf, len, &used, '\n');
    if (len > 0)
        buf[used < len ? used : len - 1] = '\0';
    return used;
}
