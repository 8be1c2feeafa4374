/*
 * The libvirt-style configuration reader: a hand-written scanner for
 * `key = value` statements, with the key names and value types checked
 * here so that every program reports them in the same words.
 */
#include "core/conf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conf_parser {
    const char *name;           /* file name for messages */
    const char *p, *end;
    unsigned line;
    qmf_error *err;
};

/* Cuts a length for a "%.*s" in a message. */
static int
conf_show(size_t len)
{
    return (int)(len < QMF_CONF_SHOW_MAX ? len : QMF_CONF_SHOW_MAX);
}

static int __attribute__((format(printf, 5, 0)))
conf_verror(qmf_error *err, const char *file, unsigned line, const char *key,
            const char *fmt, va_list ap)
{
    char msg[QMF_ERROR_TEXT_MAX];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (key != NULL)
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s:%u: %s: %s", file, line, key, msg);
    else
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s:%u: %s", file, line, msg);
    return -1;
}

int
qmf_conf_error(qmf_error *err, const struct qmf_conf_statement *st,
               const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_verror(err, st->file, st->line, st->key, fmt, ap);
    va_end(ap);
    return -1;
}

/* "name:line: key: message"; key may be NULL when no key is known yet. */
static int __attribute__((format(printf, 4, 5)))
conf_error(struct conf_parser *ps, unsigned line, const char *key,
           const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_verror(ps->err, ps->name, line, key, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *
conf_type_expected(enum qmf_conf_type type)
{
    switch (type) {
    case QMF_CONF_INT:
        return "an integer";
    case QMF_CONF_STRING_LIST:
        return "a list of strings";
    case QMF_CONF_BOOL:
        return "yes or no";
    case QMF_CONF_STRINGS:
        return "a string or a list of strings";
    case QMF_CONF_STRING:
    default:
        return "a string";
    }
}

static bool
conf_at_end(const struct conf_parser *ps)
{
    return ps->p >= ps->end;
}

/* Spaces within a line. */
static void
conf_skip_blanks(struct conf_parser *ps)
{
    while (!conf_at_end(ps) && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
        ps->p++;
}

static void
conf_skip_comment(struct conf_parser *ps)
{
    while (!conf_at_end(ps) && *ps->p != '\n')
        ps->p++;
}

/* Spaces, comments and line breaks, as allowed between statements and
 * inside a list. */
static void
conf_skip_space(struct conf_parser *ps)
{
    for (;;) {
        conf_skip_blanks(ps);
        if (conf_at_end(ps))
            return;
        if (*ps->p == '#')
            conf_skip_comment(ps);
        else if (*ps->p == '\n') {
            ps->line++;
            ps->p++;
        } else
            return;
    }
}

static bool
conf_is_delimiter(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '#' ||
           c == ',' || c == '[' || c == ']' || c == '=';
}

/* A run of characters up to the next delimiter: a key, an integer or a
 * mistake. */
static size_t
conf_token_len(const struct conf_parser *ps)
{
    const char *q = ps->p;

    while (q < ps->end && !conf_is_delimiter(*q))
        q++;
    return (size_t)(q - ps->p);
}

/* How much of the text at the parser to quote in a message: a whole
 * quoted string, a token, or at least one character; capped. */
static int
conf_show_here(const struct conf_parser *ps)
{
    const char *q = ps->p + 1;
    size_t len;

    if (*ps->p == '"' || *ps->p == '\'') {
        while (q < ps->end && *q != '\n' && *q != *ps->p)
            q++;
        len = (size_t)(q - ps->p) + (q < ps->end && *q == *ps->p);
    } else {
        len = conf_token_len(ps);
        if (len == 0)
            len = 1;
    }
    return conf_show(len);
}

static qmf_value *
conf_parse_string(struct conf_parser *ps, const char *key)
{
    char quote = *ps->p++;
    const char *eol = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
    char *buf, c;
    size_t len = 0;
    qmf_value *v;

    /* Escapes only shrink the text, so the rest of the line bounds it. */
    buf = qmf_xmalloc((size_t)((eol != NULL ? eol : ps->end) - ps->p) + 1);
    for (;;) {
        if (conf_at_end(ps) || *ps->p == '\n') {
            free(buf);
            conf_error(ps, ps->line, key, "unterminated string");
            return NULL;
        }
        c = *ps->p++;
        if (c == quote)
            break;
        if (c == '\\' && !conf_at_end(ps) && *ps->p != '\n') {
            c = *ps->p++;
            switch (c) {
            case '"':
            case '\'':
            case '\\':
                break;
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            default:
                free(buf);
                conf_error(ps, ps->line, key, "unknown escape \"\\%c\" in a string", c);
                return NULL;
            }
        }
        buf[len++] = c;
    }
    v = qmf_stringn(buf, len);
    free(buf);
    return v;
}

/* A boolean word, or -1. */
static int
conf_bool_word(const char *word, size_t len)
{
    static const struct {
        const char *word;
        bool value;
    } words[] = {
        { "yes", true }, { "no", false }, { "true", true }, { "false", false },
        { "on", true }, { "off", false }, { "1", true }, { "0", false },
    };
    size_t i;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].word) == len && strncmp(words[i].word, word, len) == 0)
            return words[i].value;
    return -1;
}

/* An unquoted value: an integer, or a boolean word where one is expected. */
static qmf_value *
conf_parse_word(struct conf_parser *ps, const char *key, enum qmf_conf_type type,
                bool in_list)
{
    size_t len = conf_token_len(ps);
    const char *word = ps->p;
    bool numeric = len > 0, overflow;
    long long n;
    char *copy;
    size_t i;

    if (len == 0) {
        if (conf_at_end(ps) || *ps->p == '\n' || *ps->p == '#')
            conf_error(ps, ps->line, key, "missing value");
        else
            conf_error(ps, ps->line, key, "unexpected '%c'", *ps->p);
        return NULL;
    }
    if (type == QMF_CONF_BOOL && !in_list) {
        int b = conf_bool_word(word, len);

        if (b < 0) {
            conf_error(ps, ps->line, key, "expected yes or no, got \"%.*s\"",
                       conf_show(len), word);
            return NULL;
        }
        ps->p += len;
        return qmf_bool(b == 1);
    }
    for (i = word[0] == '-' ? 1 : 0; i < len; i++)
        if (word[i] < '0' || word[i] > '9')
            numeric = false;
    if (word[0] == '-' && len == 1)
        numeric = false;
    if (!numeric) {
        conf_error(ps, ps->line, key, "expected %s, got \"%.*s\"",
                   in_list ? "a quoted string" : conf_type_expected(type),
                   conf_show(len), word);
        return NULL;
    }
    /* The text need not be NUL-terminated: convert a copy. */
    copy = qmf_xstrndup(word, len);
    errno = 0;
    n = strtoll(copy, NULL, 10);
    overflow = errno == ERANGE;
    free(copy);
    if (overflow) {
        conf_error(ps, ps->line, key, "%.*s is out of range", conf_show(len), word);
        return NULL;
    }
    ps->p += len;
    return qmf_i64(n);
}

static qmf_value *conf_parse_value(struct conf_parser *ps, const char *key,
                                   enum qmf_conf_type type, bool in_list);

static qmf_value *
conf_parse_list(struct conf_parser *ps, const char *key, enum qmf_conf_type type)
{
    unsigned opened = ps->line;
    qmf_value *list = qmf_list(), *item;

    ps->p++;    /* '[' */
    for (;;) {
        conf_skip_space(ps);
        if (conf_at_end(ps))
            goto unterminated;
        if (*ps->p == ']')
            break;
        item = conf_parse_value(ps, key, type, true);
        if (item == NULL)
            goto fail;
        qmf_list_append(list, item);
        conf_skip_space(ps);
        if (conf_at_end(ps))
            goto unterminated;
        if (*ps->p == ']')
            break;
        if (*ps->p != ',') {
            conf_error(ps, ps->line, key, "expected ',' or ']' in the list, got \"%.*s\"",
                       conf_show_here(ps), ps->p);
            goto fail;
        }
        ps->p++;
    }
    ps->p++;    /* ']' */
    return list;

unterminated:
    conf_error(ps, opened, key, "unterminated list");
fail:
    qmf_free(list);
    return NULL;
}

static qmf_value *
conf_parse_value(struct conf_parser *ps, const char *key, enum qmf_conf_type type,
                 bool in_list)
{
    if (!conf_at_end(ps) && (*ps->p == '"' || *ps->p == '\''))
        return conf_parse_string(ps, key);
    if (!conf_at_end(ps) && *ps->p == '[') {
        if (in_list) {
            conf_error(ps, ps->line, key, "nested lists are not supported");
            return NULL;
        }
        return conf_parse_list(ps, key, type);
    }
    return conf_parse_word(ps, key, type, in_list);
}

/* How a value of the wrong type is shown: `got 5`, `got "abc"`, `got a list`. */
static void
conf_describe(const qmf_value *v, char *buf, size_t size)
{
    if (v->kind == QMF_STRING)
        snprintf(buf, size, "\"%.*s\"", QMF_CONF_SHOW_MAX, qmf_as_string(v));
    else if (v->kind == QMF_LIST)
        snprintf(buf, size, "a list");
    else if (v->kind == QMF_INT64)
        snprintf(buf, size, "%lld", (long long)qmf_as_int(v));
    else
        snprintf(buf, size, "a %s", qmf_kind_name(v->kind));
}

/* Returns the value that breaks type (v or one of its items), or NULL. */
static const qmf_value *
conf_mistyped(const qmf_value *v, enum qmf_conf_type type)
{
    size_t i;

    switch (type) {
    case QMF_CONF_STRING:
        return v->kind == QMF_STRING ? NULL : v;
    case QMF_CONF_INT:
        return v->kind == QMF_INT64 ? NULL : v;
    case QMF_CONF_BOOL:
        return v->kind == QMF_BOOL ? NULL : v;
    case QMF_CONF_STRINGS:
        if (v->kind == QMF_STRING)
            return NULL;
        /* FALLTHROUGH */
    case QMF_CONF_STRING_LIST:
        if (v->kind != QMF_LIST)
            return v;
        for (i = 0; i < qmf_list_len(v); i++)
            if (qmf_list_at(v, i)->kind != QMF_STRING)
                return qmf_list_at(v, i);
        return NULL;
    }
    return v;
}

/* One `key = value` statement, the parser standing on the key; seen maps
 * each key read so far to its line. */
static int
conf_parse_statement(struct conf_parser *ps, const struct qmf_conf_reader *reader,
                     void *opaque, qmf_value *seen)
{
    size_t len = conf_token_len(ps);
    struct qmf_conf_statement st = { .file = ps->name, .line = ps->line };
    enum qmf_conf_type type;
    const qmf_value *bad, *first;
    qmf_value *v = NULL;
    char *key, got[QMF_CONF_SHOW_MAX + 8];
    int rc = -1;

    if (len == 0)
        return conf_error(ps, st.line, NULL, "expected a key name, got '%c'", *ps->p);
    key = qmf_xstrndup(ps->p, len);
    st.key = key;
    if (!reader->key_type(opaque, key, &type)) {
        conf_error(ps, st.line, NULL, "%.*s: unknown key", conf_show(len), key);
        goto out;
    }
    if ((first = qmf_map_get(seen, key)) != NULL) {
        conf_error(ps, st.line, key, "duplicate key (first set on line %u)",
                   (unsigned)qmf_as_int(first));
        goto out;
    }
    qmf_map_set(seen, key, qmf_i64(st.line));
    ps->p += len;

    conf_skip_blanks(ps);
    if (conf_at_end(ps) || *ps->p != '=') {
        conf_error(ps, st.line, key, "missing '='");
        goto out;
    }
    ps->p++;
    conf_skip_blanks(ps);

    v = conf_parse_value(ps, key, type, false);
    if (v == NULL)
        goto out;
    conf_skip_blanks(ps);
    if (!conf_at_end(ps) && *ps->p != '\n' && *ps->p != '#') {
        conf_error(ps, ps->line, key, "unexpected \"%.*s\" after the value",
                   conf_show_here(ps), ps->p);
        goto out;
    }
    if ((bad = conf_mistyped(v, type)) != NULL) {
        conf_describe(bad, got, sizeof(got));
        conf_error(ps, st.line, key, "expected %s, got %s", conf_type_expected(type), got);
        goto out;
    }
    st.value = v;
    rc = reader->statement(opaque, &st, ps->err);
out:
    qmf_free(v);
    free(key);
    return rc;
}

int
qmf_conf_parse(const char *text, size_t len, const char *name,
               const struct qmf_conf_reader *reader, void *opaque, qmf_error *err)
{
    struct conf_parser ps = {
        .name = name != NULL ? name : "<config>",
        .p = text != NULL ? text : "",
        .line = 1,
        .err = err,
    };
    const char *nul, *q;
    qmf_value *seen;
    int rc = 0;

    ps.end = ps.p + (text != NULL ? len : 0);
    nul = memchr(ps.p, '\0', (size_t)(ps.end - ps.p));
    if (nul != NULL) {
        for (q = ps.p; q < nul; q++)
            if (*q == '\n')
                ps.line++;
        return conf_error(&ps, ps.line, NULL, "NUL byte in the file");
    }
    seen = qmf_map();
    for (;;) {
        conf_skip_space(&ps);
        if (conf_at_end(&ps))
            break;
        if (conf_parse_statement(&ps, reader, opaque, seen) < 0) {
            rc = -1;
            break;
        }
    }
    qmf_free(seen);
    return rc;
}

qmf_value *
qmf_conf_pairs(const struct qmf_conf_statement *st, const char *what, qmf_error *err)
{
    qmf_value *pairs = qmf_map();
    const qmf_value *item;
    const char *text, *eq;
    char *name;
    size_t i;

    for (i = 0; i < qmf_list_len(st->value); i++) {
        item = qmf_list_at(st->value, i);
        text = qmf_as_string(item);
        eq = strchr(text, '=');
        if (eq == NULL) {
            qmf_conf_error(err, st, "%s \"%.*s\" has no '='", what,
                           QMF_CONF_SHOW_MAX, text);
            goto fail;
        }
        if (eq == text) {
            qmf_conf_error(err, st, "%s \"%.*s\" has an empty name", what,
                           QMF_CONF_SHOW_MAX, text);
            goto fail;
        }
        name = qmf_xstrndup(text, (size_t)(eq - text));
        if (qmf_map_get(pairs, name) != NULL) {
            qmf_conf_error(err, st, "duplicate %s \"%.*s\"", what,
                           QMF_CONF_SHOW_MAX, name);
            free(name);
            goto fail;
        }
        qmf_map_set(pairs, name, qmf_string(eq + 1));
        free(name);
    }
    return pairs;

fail:
    qmf_free(pairs);
    return NULL;
}

char *
qmf_conf_read_file(const char *path, size_t max, size_t *len, qmf_error *err)
{
    FILE *f = fopen(path, "re");
    size_t n = 0, cap = 4096, got;
    char *buf;

    if (f == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: cannot open: %s",
                      path, strerror(errno));
        return NULL;
    }
    /* One byte past max is read to tell "exactly max" from "too large". */
    buf = qmf_xmalloc(cap + 1);
    for (;;) {
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n > max) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: file too large (over %zu bytes)",
                          path, max);
            goto fail;
        }
        if (n < cap)
            break;
        cap = cap * 2 <= max + 1 ? cap * 2 : max + 1;
        buf = qmf_xrealloc(buf, cap + 1);
    }
    if (ferror(f)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: cannot read: %s",
                      path, strerror(errno));
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;

fail:
    fclose(f);
    free(buf);
    return NULL;
}
