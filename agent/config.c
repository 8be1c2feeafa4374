/*
 * The agent's configuration file: a small parser for libvirt's `key = value`
 * syntax, driven by one table of keys that says where each value goes and
 * what it must look like.
 */
#include "agent/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Config files are a few kilobytes; anything near this is a mistake. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* Values shown in error messages are cut here to keep them readable. */
#define CONFIG_SHOW_MAX 64

enum config_kind {
    CONFIG_STRING,              /* char *; optional check */
    CONFIG_UNSIGNED,            /* unsigned, min..max */
    CONFIG_SIZE,                /* size_t, min..max */
    CONFIG_LABELS,              /* qmf_value * map, from [ "name=value", ... ] */
    CONFIG_LOG_LEVEL,           /* enum log_level, from a string */
};

/* Returns NULL if s is acceptable, else why not (shown in parentheses). */
typedef const char *config_check_fn(const char *s);

struct config_key {
    const char *name;
    enum config_kind kind;
    size_t offset;              /* into struct agent_config */
    unsigned long long min, max;
    config_check_fn *check;
};

struct config_parser {
    const char *name;           /* file name for messages */
    const char *p, *end;
    unsigned line;
    qmf_error *err;
};

static config_check_fn config_check_node;
static config_check_fn config_check_nonempty;
static config_check_fn config_check_absolute;
static config_check_fn config_check_queue_type;

#define CONFIG_AT(member) offsetof(struct agent_config, member)

static const struct config_key config_keys[] = {
    { "node", CONFIG_STRING, CONFIG_AT(node), 0, 0, config_check_node },
    { "broker", CONFIG_STRING, CONFIG_AT(broker), 0, 0, config_check_nonempty },
    { "uri", CONFIG_STRING, CONFIG_AT(uri), 0, 0, config_check_nonempty },
    { "labels", CONFIG_LABELS, CONFIG_AT(labels), 0, 0, NULL },
    { "heartbeat_interval", CONFIG_UNSIGNED, CONFIG_AT(heartbeat_interval), 1, 3600, NULL },
    { "stats_interval", CONFIG_UNSIGNED, CONFIG_AT(stats_interval), 1, 86400, NULL },
    { "workers", CONFIG_UNSIGNED, CONFIG_AT(workers), 1, 256, NULL },
    { "prefetch", CONFIG_UNSIGNED, CONFIG_AT(prefetch), 1, 65535, NULL },
    { "broker_heartbeat", CONFIG_UNSIGNED, CONFIG_AT(broker_heartbeat), 0, 3600, NULL },
    { "queue_type", CONFIG_STRING, CONFIG_AT(queue_type), 0, 0, config_check_queue_type },
    { "max_body", CONFIG_SIZE, CONFIG_AT(max_body), 1024, 268435456, NULL },
    { "state_dir", CONFIG_STRING, CONFIG_AT(state_dir), 0, 0, config_check_absolute },
    { "log_level", CONFIG_LOG_LEVEL, CONFIG_AT(log_level), 0, 0, NULL },
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const char *
config_check_nonempty(const char *s)
{
    return *s == '\0' ? "must not be empty" : NULL;
}

static bool
config_node_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* The node name ends up in the agent name, queue names and routing keys. */
static const char *
config_check_node(const char *s)
{
    if (*s == '\0')
        return "must not be empty";
    for (; *s != '\0'; s++)
        if (!config_node_char_ok(*s))
            return "only letters, digits, '.', '_' and '-' are allowed";
    return NULL;
}

/* The daemon may chdir("/"); a relative state directory would move. */
static const char *
config_check_absolute(const char *s)
{
    return *s != '/' ? "expected an absolute path" : NULL;
}

static const char *
config_check_queue_type(const char *s)
{
    if (strcmp(s, "quorum") == 0 || strcmp(s, "classic") == 0)
        return NULL;
    return "expected \"quorum\" or \"classic\"";
}

static void *
config_field(struct agent_config *cfg, const struct config_key *key)
{
    return (char *)cfg + key->offset;
}

static const struct config_key *
config_find_key(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < CONFIG_NKEYS; i++)
        if (strlen(config_keys[i].name) == len &&
            memcmp(config_keys[i].name, name, len) == 0)
            return &config_keys[i];
    return NULL;
}

static const char *
config_kind_expected(enum config_kind kind)
{
    switch (kind) {
    case CONFIG_UNSIGNED:
    case CONFIG_SIZE:
        return "an integer";
    case CONFIG_LABELS:
        return "a list of strings";
    case CONFIG_STRING:
    case CONFIG_LOG_LEVEL:
    default:
        return "a string";
    }
}

/* "name:line: key: message"; key may be NULL when no key is known yet. */
static int __attribute__((format(printf, 4, 5)))
config_error(struct config_parser *ps, unsigned line, const char *key,
             const char *fmt, ...)
{
    char msg[QMF_ERROR_TEXT_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (key != NULL)
        qmf_error_set(ps->err, QMF_ERR_INVALID_ARGS, "%s:%u: %s: %s",
                      ps->name, line, key, msg);
    else
        qmf_error_set(ps->err, QMF_ERR_INVALID_ARGS, "%s:%u: %s",
                      ps->name, line, msg);
    return -1;
}

static bool
config_at_end(const struct config_parser *ps)
{
    return ps->p >= ps->end;
}

/* Spaces within a line. */
static void
config_skip_blanks(struct config_parser *ps)
{
    while (!config_at_end(ps) &&
           (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
        ps->p++;
}

static void
config_skip_comment(struct config_parser *ps)
{
    while (!config_at_end(ps) && *ps->p != '\n')
        ps->p++;
}

/* Spaces, comments and line breaks, as allowed inside a list. */
static void
config_skip_space(struct config_parser *ps)
{
    for (;;) {
        config_skip_blanks(ps);
        if (config_at_end(ps))
            return;
        if (*ps->p == '#')
            config_skip_comment(ps);
        else if (*ps->p == '\n') {
            ps->line++;
            ps->p++;
        } else
            return;
    }
}

static bool
config_is_delimiter(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '#' ||
           c == ',' || c == '[' || c == ']' || c == '=';
}

/* A run of characters up to the next delimiter: an integer or a mistake. */
static size_t
config_token_len(const struct config_parser *ps)
{
    const char *q = ps->p;

    while (q < ps->end && !config_is_delimiter(*q))
        q++;
    return (size_t)(q - ps->p);
}

/* How much of the text at the parser to quote in a message: a whole
 * quoted string, a token, or at least one character; capped. */
static int
config_show_len(const struct config_parser *ps)
{
    const char *q = ps->p + 1;
    size_t len;

    if (*ps->p == '"' || *ps->p == '\'') {
        while (q < ps->end && *q != '\n' && *q != *ps->p)
            q++;
        len = (size_t)(q - ps->p) + (q < ps->end && *q == *ps->p);
    } else {
        len = config_token_len(ps);
        if (len == 0)
            len = 1;
    }
    return (int)(len < CONFIG_SHOW_MAX ? len : CONFIG_SHOW_MAX);
}

static qmf_value *
config_parse_string(struct config_parser *ps, const struct config_key *key)
{
    char quote = *ps->p++;
    const char *eol = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
    char *buf, c;
    size_t len = 0;
    qmf_value *v;

    /* Escapes only shrink the text, so the rest of the line bounds it. */
    buf = qmf_xmalloc((size_t)((eol != NULL ? eol : ps->end) - ps->p) + 1);
    for (;;) {
        if (config_at_end(ps) || *ps->p == '\n') {
            free(buf);
            config_error(ps, ps->line, key->name, "unterminated string");
            return NULL;
        }
        c = *ps->p++;
        if (c == quote)
            break;
        if (c == '\\' && !config_at_end(ps) && *ps->p != '\n') {
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
                config_error(ps, ps->line, key->name,
                             "unknown escape \"\\%c\" in a string", c);
                return NULL;
            }
        }
        buf[len++] = c;
    }
    v = qmf_stringn(buf, len);
    free(buf);
    return v;
}

static qmf_value *
config_parse_word(struct config_parser *ps, const struct config_key *key,
                  bool in_list)
{
    size_t len = config_token_len(ps);
    const char *word = ps->p;
    bool numeric = len > 0;
    long long n;
    size_t i;
    char *end;

    if (len == 0) {
        if (config_at_end(ps) || *ps->p == '\n' || *ps->p == '#')
            config_error(ps, ps->line, key->name, "missing value");
        else
            config_error(ps, ps->line, key->name, "unexpected '%c'", *ps->p);
        return NULL;
    }
    for (i = word[0] == '-' ? 1 : 0; i < len; i++)
        if (word[i] < '0' || word[i] > '9')
            numeric = false;
    if (word[0] == '-' && len == 1)
        numeric = false;
    if (!numeric) {
        config_error(ps, ps->line, key->name, "expected %s, got \"%.*s\"",
                     in_list ? "a quoted string" : config_kind_expected(key->kind),
                     (int)(len < CONFIG_SHOW_MAX ? len : CONFIG_SHOW_MAX), word);
        return NULL;
    }
    errno = 0;
    n = strtoll(word, &end, 10);
    if (errno == ERANGE) {
        config_error(ps, ps->line, key->name, "%.*s is out of range",
                     (int)(len < CONFIG_SHOW_MAX ? len : CONFIG_SHOW_MAX), word);
        return NULL;
    }
    ps->p += len;
    return qmf_i64(n);
}

static qmf_value *config_parse_value(struct config_parser *ps,
                                     const struct config_key *key, bool in_list);

static qmf_value *
config_parse_list(struct config_parser *ps, const struct config_key *key)
{
    unsigned opened = ps->line;
    qmf_value *list = qmf_list(), *item;

    ps->p++;    /* '[' */
    for (;;) {
        config_skip_space(ps);
        if (config_at_end(ps))
            goto unterminated;
        if (*ps->p == ']')
            break;
        item = config_parse_value(ps, key, true);
        if (item == NULL)
            goto fail;
        qmf_list_append(list, item);
        config_skip_space(ps);
        if (config_at_end(ps))
            goto unterminated;
        if (*ps->p == ']')
            break;
        if (*ps->p != ',') {
            config_error(ps, ps->line, key->name,
                         "expected ',' or ']' in the list, got \"%.*s\"",
                         config_show_len(ps), ps->p);
            goto fail;
        }
        ps->p++;
    }
    ps->p++;    /* ']' */
    return list;

unterminated:
    config_error(ps, opened, key->name, "unterminated list");
fail:
    qmf_free(list);
    return NULL;
}

static qmf_value *
config_parse_value(struct config_parser *ps, const struct config_key *key,
                   bool in_list)
{
    if (!config_at_end(ps) && (*ps->p == '"' || *ps->p == '\''))
        return config_parse_string(ps, key);
    if (!config_at_end(ps) && *ps->p == '[') {
        if (in_list) {
            config_error(ps, ps->line, key->name, "nested lists are not supported");
            return NULL;
        }
        return config_parse_list(ps, key);
    }
    return config_parse_word(ps, key, in_list);
}

/* How a value of the wrong type is shown: `got 5`, `got "abc"`, `got a list`. */
static void
config_describe(const qmf_value *v, char *buf, size_t size)
{
    int64_t n;

    if (v->kind == QMF_STRING)
        snprintf(buf, size, "\"%.*s\"", CONFIG_SHOW_MAX, v->u.str.ptr);
    else if (v->kind == QMF_LIST)
        snprintf(buf, size, "a list");
    else if (qmf_get_int64(v, &n))
        snprintf(buf, size, "%lld", (long long)n);
    else
        snprintf(buf, size, "a %s", qmf_kind_name(v->kind));
}

static int
config_wrong_type(struct config_parser *ps, unsigned line,
                  const struct config_key *key, const qmf_value *v)
{
    char got[CONFIG_SHOW_MAX + 8];

    config_describe(v, got, sizeof(got));
    return config_error(ps, line, key->name, "expected %s, got %s",
                        config_kind_expected(key->kind), got);
}

static int
config_apply_labels(struct config_parser *ps, unsigned line,
                    const struct config_key *key, struct agent_config *cfg,
                    const qmf_value *list)
{
    qmf_value *labels, **field;
    const qmf_value *item;
    const char *text, *eq;
    char *name;
    size_t i;

    if (list->kind != QMF_LIST)
        return config_wrong_type(ps, line, key, list);
    labels = qmf_map();
    for (i = 0; i < qmf_list_len(list); i++) {
        item = qmf_list_at(list, i);
        if (item->kind != QMF_STRING) {
            config_wrong_type(ps, line, key, item);
            goto fail;
        }
        text = item->u.str.ptr;
        eq = strchr(text, '=');
        if (eq == NULL) {
            config_error(ps, line, key->name, "label \"%.*s\" has no '='",
                         CONFIG_SHOW_MAX, text);
            goto fail;
        }
        if (eq == text) {
            config_error(ps, line, key->name, "label \"%.*s\" has an empty name",
                         CONFIG_SHOW_MAX, text);
            goto fail;
        }
        name = qmf_xstrndup(text, (size_t)(eq - text));
        if (qmf_map_get(labels, name) != NULL) {
            config_error(ps, line, key->name, "duplicate label \"%.*s\"",
                         CONFIG_SHOW_MAX, name);
            free(name);
            goto fail;
        }
        qmf_map_set(labels, name, qmf_string(eq + 1));
        free(name);
    }
    field = config_field(cfg, key);
    qmf_free(*field);
    *field = labels;
    return 0;

fail:
    qmf_free(labels);
    return -1;
}

/* Stores a parsed value into cfg after checking it against the key. */
static int
config_apply(struct config_parser *ps, unsigned line,
             const struct config_key *key, struct agent_config *cfg,
             const qmf_value *v)
{
    const char *why;
    int64_t n;
    char **str;

    switch (key->kind) {
    case CONFIG_STRING:
        if (v->kind != QMF_STRING)
            return config_wrong_type(ps, line, key, v);
        if (key->check != NULL && (why = key->check(v->u.str.ptr)) != NULL)
            return config_error(ps, line, key->name, "invalid value \"%.*s\" (%s)",
                                CONFIG_SHOW_MAX, v->u.str.ptr, why);
        str = config_field(cfg, key);
        free(*str);
        *str = qmf_xstrdup(v->u.str.ptr);
        return 0;
    case CONFIG_UNSIGNED:
    case CONFIG_SIZE:
        if (!qmf_get_int64(v, &n))
            return config_wrong_type(ps, line, key, v);
        if (n < 0 || (unsigned long long)n < key->min ||
            (unsigned long long)n > key->max)
            return config_error(ps, line, key->name, "%lld is out of range %llu..%llu",
                                (long long)n, key->min, key->max);
        if (key->kind == CONFIG_SIZE)
            *(size_t *)config_field(cfg, key) = (size_t)n;
        else
            *(unsigned *)config_field(cfg, key) = (unsigned)n;
        return 0;
    case CONFIG_LOG_LEVEL:
        if (v->kind != QMF_STRING)
            return config_wrong_type(ps, line, key, v);
        if (log_level_parse(v->u.str.ptr, config_field(cfg, key)) < 0)
            return config_error(ps, line, key->name,
                                "unknown level \"%.*s\" (expected error, warn, info or debug)",
                                CONFIG_SHOW_MAX, v->u.str.ptr);
        return 0;
    case CONFIG_LABELS:
        return config_apply_labels(ps, line, key, cfg, v);
    }
    return config_error(ps, line, key->name, "internal error: unknown kind");
}

/* One `key = value` statement, the parser standing on the key. */
static int
config_parse_statement(struct config_parser *ps, struct agent_config *cfg,
                       unsigned seen[CONFIG_NKEYS])
{
    const char *name = ps->p;
    size_t len = config_token_len(ps);
    unsigned line = ps->line;
    const struct config_key *key;
    qmf_value *v;
    size_t index;
    int rc;

    if (len == 0)
        return config_error(ps, line, NULL, "expected a key name, got '%c'", *ps->p);
    key = config_find_key(name, len);
    if (key == NULL)
        return config_error(ps, line, NULL, "%.*s: unknown key",
                            (int)(len < CONFIG_SHOW_MAX ? len : CONFIG_SHOW_MAX), name);
    index = (size_t)(key - config_keys);
    if (seen[index] != 0)
        return config_error(ps, line, key->name,
                            "duplicate key (first set on line %u)", seen[index]);
    seen[index] = line;
    ps->p += len;

    config_skip_blanks(ps);
    if (config_at_end(ps) || *ps->p != '=')
        return config_error(ps, line, key->name, "missing '='");
    ps->p++;
    config_skip_blanks(ps);

    v = config_parse_value(ps, key, false);
    if (v == NULL)
        return -1;
    config_skip_blanks(ps);
    if (!config_at_end(ps) && *ps->p != '\n' && *ps->p != '#') {
        qmf_free(v);
        return config_error(ps, ps->line, key->name,
                            "unexpected \"%.*s\" after the value",
                            config_show_len(ps), ps->p);
    }
    rc = config_apply(ps, line, key, cfg, v);
    qmf_free(v);
    return rc;
}

/* Applies text to cfg in place; cfg may be half-updated on failure. */
static int
config_parse_into(struct agent_config *cfg, const char *text, size_t len,
                  const char *name, qmf_error *err)
{
    struct config_parser ps = {
        .name = name != NULL ? name : "<config>",
        .p = text,
        .end = text + len,
        .line = 1,
        .err = err,
    };
    unsigned seen[CONFIG_NKEYS] = { 0 };
    const char *nul = memchr(text, '\0', len);
    const char *q;

    if (nul != NULL) {
        for (q = text; q < nul; q++)
            if (*q == '\n')
                ps.line++;
        return config_error(&ps, ps.line, NULL, "NUL byte in the file");
    }
    for (;;) {
        config_skip_space(&ps);
        if (config_at_end(&ps))
            return 0;
        if (config_parse_statement(&ps, cfg, seen) < 0)
            return -1;
    }
}

int
agent_config_parse(struct agent_config *cfg, const char *text, size_t len,
                   const char *name, qmf_error *err)
{
    struct agent_config tmp;

    agent_config_copy(&tmp, cfg);
    if (config_parse_into(&tmp, text != NULL ? text : "", text != NULL ? len : 0,
                          name, err) < 0) {
        agent_config_free(&tmp);
        return -1;
    }
    agent_config_free(cfg);
    *cfg = tmp;
    return 0;
}

/* The whole file in a NUL-terminated buffer; *len excludes the NUL. */
static char *
config_read_file(const char *path, size_t *len, qmf_error *err)
{
    FILE *f = fopen(path, "re");
    char *buf;
    size_t n = 0, cap = 4096, got;
    int saved_errno;

    if (f == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: cannot open: %s",
                      path, strerror(errno));
        return NULL;
    }
    buf = qmf_xmalloc(cap + 1);
    for (;;) {
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        if (cap >= CONFIG_FILE_MAX) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: file too large (over %d bytes)",
                          path, CONFIG_FILE_MAX);
            goto fail;
        }
        cap *= 2;
        buf = qmf_xrealloc(buf, cap + 1);
    }
    if (ferror(f)) {
        saved_errno = errno;
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: cannot read: %s",
                      path, strerror(saved_errno));
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

int
agent_config_load(struct agent_config *cfg, const char *path, qmf_error *err)
{
    struct agent_config tmp;
    size_t len;
    char *text;

    if (path == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "no configuration file given");
        return -1;
    }
    text = config_read_file(path, &len, err);
    if (text == NULL)
        return -1;
    agent_config_copy(&tmp, cfg);
    if (config_parse_into(&tmp, text, len, path, err) < 0) {
        agent_config_free(&tmp);
        free(text);
        return -1;
    }
    free(text);
    free(tmp.path);
    tmp.path = qmf_xstrdup(path);
    agent_config_free(cfg);
    *cfg = tmp;
    return 0;
}

/* The host name, made acceptable as a node name. */
static char *
config_default_node(void)
{
    char host[256];
    size_t i;

    if (gethostname(host, sizeof(host)) < 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    if (host[0] == '\0')
        return qmf_xstrdup("localhost");
    for (i = 0; host[i] != '\0'; i++)
        if (!config_node_char_ok(host[i]))
            host[i] = '-';
    return qmf_xstrdup(host);
}

void
agent_config_defaults(struct agent_config *cfg)
{
    *cfg = (struct agent_config){
        .path = NULL,
        .node = config_default_node(),
        .broker = qmf_xstrdup("amqp://guest:guest@127.0.0.1:5672/"),
        .uri = qmf_xstrdup("test:///default"),
        .labels = qmf_map(),
        .heartbeat_interval = 5,
        .stats_interval = 30,
        .workers = 4,
        .prefetch = 64,
        .broker_heartbeat = 10,
        .queue_type = qmf_xstrdup("quorum"),
        .max_body = 4194304,
        .state_dir = qmf_xstrdup("/var/lib/virtbus"),
        .log_level = LOG_LEVEL_INFO,
    };
}

void
agent_config_free(struct agent_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->node);
    free(cfg->broker);
    free(cfg->uri);
    qmf_free(cfg->labels);
    free(cfg->queue_type);
    free(cfg->state_dir);
    cfg->path = cfg->node = cfg->broker = cfg->uri = NULL;
    cfg->queue_type = cfg->state_dir = NULL;
    cfg->labels = NULL;
}

static char *
config_strdup_or_null(const char *s)
{
    return s != NULL ? qmf_xstrdup(s) : NULL;
}

void
agent_config_copy(struct agent_config *dst, const struct agent_config *src)
{
    *dst = *src;
    dst->path = config_strdup_or_null(src->path);
    dst->node = config_strdup_or_null(src->node);
    dst->broker = config_strdup_or_null(src->broker);
    dst->uri = config_strdup_or_null(src->uri);
    dst->labels = src->labels != NULL ? qmf_dup(src->labels) : qmf_map();
    dst->queue_type = config_strdup_or_null(src->queue_type);
    dst->state_dir = config_strdup_or_null(src->state_dir);
}
