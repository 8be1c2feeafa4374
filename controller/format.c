/*
 * Output helpers of the CLI: aligned tables that fit the terminal, value
 * formatting and JSON.
 */
#include "controller/ctl.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/codec.h"

struct ctl_table {
    size_t ncols;
    char **headers;
    bool *optional;
    char ***rows;
    size_t nrows, cap;
    const size_t *sort_cols;     /* only valid during ctl_table_sort */
    size_t nsort;
    size_t *chosen;             /* -o: the columns printed, in order; NULL: all */
    size_t nchosen;
    bool *state;                /* columns whose words are coloured on a terminal */
};

struct ctl_table *
ctl_table_new(size_t ncols, const char *const *headers)
{
    struct ctl_table *t = qmf_xcalloc(1, sizeof(*t));
    size_t i;

    t->ncols = ncols;
    t->headers = qmf_xcalloc(ncols, sizeof(char *));
    t->optional = qmf_xcalloc(ncols, sizeof(bool));
    t->state = qmf_xcalloc(ncols, sizeof(bool));
    for (i = 0; i < ncols; i++)
        t->headers[i] = qmf_xstrdup(headers[i]);
    return t;
}

void
ctl_table_optional(struct ctl_table *t, size_t col)
{
    t->optional[col] = true;
}

void
ctl_table_state_column(struct ctl_table *t, size_t col)
{
    t->state[col] = true;
}

const char *
ctl_colour_of(const char *word)
{
    static const char *const good[] = { "running", "up", "active", "ok", NULL };
    static const char *const between[] = { "paused", "pmsuspended", "blocked", "clash",
                                           "no reply", NULL };
    static const char *const bad[] = { "shutoff", "shutdown", "crashed", "down", "inactive",
                                       "failed", NULL };
    size_t i;

    for (i = 0; good[i]; i++)
        if (strcmp(word, good[i]) == 0)
            return CTL_SGR_GREEN;
    for (i = 0; between[i]; i++)
        if (strcmp(word, between[i]) == 0)
            return CTL_SGR_YELLOW;
    for (i = 0; bad[i]; i++)
        if (strcmp(word, bad[i]) == 0)
            return CTL_SGR_RED;
    return NULL;
}

void
ctl_table_add_owned(struct ctl_table *t, char **cells)
{
    size_t i;

    for (i = 0; i < t->ncols; i++)
        if (cells[i] == NULL)
            cells[i] = qmf_xstrdup("");
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->rows = qmf_xrealloc(t->rows, t->cap * sizeof(*t->rows));
    }
    t->rows[t->nrows++] = cells;
}

/* Numbers by value, everything else by bytes: "web10" after "web9" would
 * need natural sort; names are compared as the operator wrote them. */
static int
compare_cells(const char *a, const char *b)
{
    char *ea, *eb;
    double da = strtod(a, &ea), db = strtod(b, &eb);

    if (*a && *b && *ea == '\0' && *eb == '\0')
        return (da > db) - (da < db);
    return strcmp(a, b);
}

/* qsort has no context argument: sort (row, table) pairs instead. */
struct row_ref {
    char **row;
    const struct ctl_table *t;
};

static int
compare_rows(const void *pa, const void *pb)
{
    const struct row_ref *a = pa, *b = pb;
    size_t i;

    for (i = 0; i < a->t->nsort; i++) {
        size_t col = a->t->sort_cols[i];
        int c = compare_cells(a->row[col], b->row[col]);

        if (c)
            return c;
    }
    return 0;
}

void
ctl_table_sort(struct ctl_table *t, const size_t *cols, size_t ncols)
{
    struct row_ref *refs = qmf_xcalloc(t->nrows, sizeof(*refs));
    size_t r;

    t->sort_cols = cols;
    t->nsort = ncols;
    for (r = 0; r < t->nrows; r++)
        refs[r] = (struct row_ref){ t->rows[r], t };
    qsort(refs, t->nrows, sizeof(*refs), compare_rows);
    for (r = 0; r < t->nrows; r++)
        t->rows[r] = refs[r].row;
    free(refs);
    t->sort_cols = NULL;
    t->nsort = 0;
}

/* Display width of UTF-8 text: one column per character. */
static size_t
text_width(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* A cell cut to width columns, ending in "…" when cut. */
static void
print_cell(FILE *f, const char *cell, size_t width, bool pad, const char *sgr)
{
    size_t w = text_width(cell), shown = 0;
    const char *p = cell;

    if (sgr)
        fputs(sgr, f);
    if (w <= width) {
        fputs(cell, f);
        shown = w;
    } else if (width > 0) {
        while (*p && shown < width - 1) {
            p++;
            while (((unsigned char)*p & 0xc0) == 0x80)
                p++;
            shown++;
        }
        fwrite(cell, 1, (size_t)(p - cell), f);
        fputs("\xe2\x80\xa6", f);    /* … */
        shown++;
    }
    if (sgr)
        fputs(CTL_SGR_RESET, f);
    while (pad && shown++ < width)
        fputc(' ', f);
}

/* The last cell with text is not padded, nor followed by the blanks of
 * empty ones, so lines carry no trailing blanks.  Raw, an empty cell is
 * "-", so that every row has as many fields as the header for awk. */
static void
print_row(FILE *f, char *const *cells, const size_t *order, const size_t *width,
          const bool *shown, size_t ncols, bool raw, const bool *colour)
{
    size_t i, last = 0;
    bool first = true;

    for (i = 0; i < ncols; i++)
        if (shown[i] && (raw || *cells[order[i]]))
            last = i;
    for (i = 0; i <= last && i < ncols; i++) {
        const char *cell = cells[order[i]];

        if (!shown[i])
            continue;
        if (!first)
            fputs("  ", f);
        print_cell(f, raw && *cell == '\0' ? "-" : cell, width[i], i != last,
                   colour && colour[order[i]] ? ctl_colour_of(cell) : NULL);
        first = false;
    }
    fputc('\n', f);
}

/* Columns of the terminal f is, or 0 if it is none (a pipe is not cut). */
static size_t
terminal_width(FILE *f)
{
    struct winsize ws;
    const char *env;

    if (!isatty(fileno(f)))
        return 0;
    if ((env = getenv("COLUMNS")) && atoi(env) > 0)
        return (size_t)atoi(env);
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static size_t
total_width(const size_t *width, const bool *shown, size_t ncols)
{
    size_t i, total = 0, n = 0;

    for (i = 0; i < ncols; i++)
        if (shown[i]) {
            total += width[i];
            n++;
        }
    return total + (n ? 2 * (n - 1) : 0);
}

/* Optional columns go first, from the right; then the widest column
 * loses a column at a time, down to its header's width (at least 4).
 * Columns chosen with -o are none of them optional: they were asked for. */
static void
fit(const struct ctl_table *t, const size_t *order, size_t n, size_t *width, bool *shown,
    size_t columns)
{
    size_t i;

    for (i = n; i > 0 && total_width(width, shown, n) > columns; i--)
        if (!t->chosen && t->optional[order[i - 1]])
            shown[i - 1] = false;
    while (total_width(width, shown, n) > columns) {
        size_t widest = n, floor;

        for (i = 0; i < n; i++) {
            floor = text_width(t->headers[order[i]]) > 4 ? text_width(t->headers[order[i]]) : 4;
            if (shown[i] && width[i] > floor && (widest == n || width[i] > width[widest]))
                widest = i;
        }
        if (widest == n)
            break;
        width[widest]--;
    }
}

/* A header as it is written in -o: lower case, "-" for a space. */
static char *
column_word(const char *header)
{
    char *w = qmf_xstrdup(header), *p;

    for (p = w; *p; p++)
        *p = *p == ' ' ? '-' : (char)tolower((unsigned char)*p);
    return w;
}

/* Whether word (len bytes, as the user wrote it: any case, "_" or "-"
 * for a space) names a column. */
static bool
column_matches(const char *header, const char *word, size_t len)
{
    char *w = column_word(header);
    bool same = strlen(w) == len;
    size_t i;

    for (i = 0; same && i < len; i++)
        same = w[i] == (word[i] == '_' ? '-' : tolower((unsigned char)word[i]));
    free(w);
    return same;
}

int
ctl_table_choose(struct ctl_table *t, const char *list, qmf_error *err)
{
    const char *p = list;
    size_t i;

    free(t->chosen);
    t->chosen = qmf_xcalloc(strlen(list) / 2 + 2, sizeof(size_t));
    t->nchosen = 0;
    while (*p) {
        size_t len = strcspn(p, ",");

        for (i = 0; i < t->ncols && !column_matches(t->headers[i], p, len); i++)
            ;
        if (i == t->ncols) {
            char *valid = qmf_xstrdup(""), *next, *w;
            size_t j;

            for (j = 0; j < t->ncols; j++) {
                w = column_word(t->headers[j]);
                next = qmf_xasprintf("%s%s%s", valid, j ? ", " : "", w);
                free(w);
                free(valid);
                valid = next;
            }
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "unknown column '%.*s': choose from %s",
                          (int)len, p, valid);
            free(valid);
            free(t->chosen);
            t->chosen = NULL;
            return -1;
        }
        t->chosen[t->nchosen++] = i;
        p += len;
        if (*p == ',')
            p++;
    }
    if (t->nchosen == 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "no column chosen");
        free(t->chosen);
        t->chosen = NULL;
        return -1;
    }
    return 0;
}

const struct ctl_option ctl_table_options[] = {
    { "name", 0, NULL, "names only, one per line", NULL },
    { "columns", 'o', "LIST", "only these columns, in this order (e.g. node,name,state)",
      NULL },
    { 0 },
};

int
ctl_table_apply_options(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                        const struct ctl_args *a, struct ctl_table *t,
                        const char *name_column)
{
    const char *columns = ctl_args_get(a, e, "columns");
    bool names = ctl_args_get(a, e, "name") != NULL;
    qmf_error err;

    if (names && columns)
        return ctl_usage(e, "--name and --columns: choose one");
    if (names) {
        columns = name_column;
        ctx->no_header = true;
    }
    if (columns && ctl_table_choose(t, columns, &err) != 0)
        return ctl_usage(e, "--columns: %s", err.text);
    return CTL_EXIT_OK;
}

void
ctl_print_table(const struct ctl_ctx *ctx, const struct ctl_table *t)
{
    /* -q is virsh's: the data, without what a person reads around it. */
    ctl_table_print_raw(t, stdout, !ctx->quiet && !ctx->no_header, ctx->raw, ctx->colour_out);
}

void
ctl_table_print(const struct ctl_table *t, FILE *f, bool header)
{
    ctl_table_print_raw(t, f, header, false, false);
}

void
ctl_table_print_raw(const struct ctl_table *t, FILE *f, bool header, bool raw, bool colour)
{
    size_t n = t->chosen ? t->nchosen : t->ncols;
    size_t *order = qmf_xcalloc(n, sizeof(size_t));
    size_t *width = qmf_xcalloc(n, sizeof(size_t));
    bool *shown = qmf_xcalloc(n, sizeof(bool));
    char **headers = qmf_xcalloc(t->ncols, sizeof(char *));
    size_t r, i, columns = raw ? 0 : terminal_width(f);

    for (i = 0; i < t->ncols; i++) {
        char *p;

        /* Raw, "LAST SEEN" is one field as its cells are. */
        headers[i] = qmf_xstrdup(t->headers[i]);
        for (p = headers[i]; raw && *p; p++)
            if (*p == ' ')
                *p = '_';
    }
    for (i = 0; i < n; i++) {
        order[i] = t->chosen ? t->chosen[i] : i;
        width[i] = text_width(headers[order[i]]);
        shown[i] = true;
    }
    for (r = 0; r < t->nrows; r++)
        for (i = 0; i < n; i++) {
            const char *cell = t->rows[r][order[i]];
            size_t w = raw && *cell == '\0' ? 1 : text_width(cell);

            if (w > width[i])
                width[i] = w;
        }
    if (columns)
        fit(t, order, n, width, shown, columns);
    if (header)
        print_row(f, headers, order, width, shown, n, raw, NULL);
    for (r = 0; r < t->nrows; r++)
        print_row(f, t->rows[r], order, width, shown, n, raw, colour ? t->state : NULL);
    for (i = 0; i < t->ncols; i++)
        free(headers[i]);
    free(headers);
    free(order);
    free(width);
    free(shown);
}

void
ctl_table_free(struct ctl_table *t)
{
    size_t r, i;

    if (t == NULL)
        return;
    for (r = 0; r < t->nrows; r++) {
        for (i = 0; i < t->ncols; i++)
            free(t->rows[r][i]);
        free(t->rows[r]);
    }
    for (i = 0; i < t->ncols; i++)
        free(t->headers[i]);
    free(t->headers);
    free(t->optional);
    free(t->state);
    free(t->chosen);
    free(t->rows);
    free(t);
}

char *
ctl_format_value(const qmf_value *v)
{
    char buf[64];
    size_t i;

    if (v == NULL)
        return qmf_xstrdup("");
    switch (v->kind) {
    case QMF_VOID:
        return qmf_xstrdup("");
    case QMF_BOOL:
        return qmf_xstrdup(qmf_as_bool(v) ? "yes" : "no");
    case QMF_STRING:
        return qmf_xstrdup(qmf_as_string(v));
    case QMF_UUID:
        qmf_uuid_format(qmf_as_uuid(v), buf);
        return qmf_xstrdup(buf);
    case QMF_FLOAT:
    case QMF_DOUBLE: {
        double d = 0;

        qmf_get_double(v, &d);
        return qmf_xasprintf("%g", d);
    }
    case QMF_MAP: {
        char *out;

        /* An object id reads as its object name. */
        if (qmf_map_get_string(v, "_object_name") && qmf_map_get(v, "_agent_name"))
            return qmf_xstrdup(qmf_map_get_string(v, "_object_name"));
        out = qmf_xstrdup("");

        /* labels and the like: k=v,k=v */
        for (i = 0; i < qmf_map_len(v); i++) {
            char *cell = ctl_format_value(qmf_map_at(v, i)->value);
            char *next = qmf_xasprintf("%s%s%s=%s", out, i ? "," : "",
                                       qmf_map_at(v, i)->key, cell);

            free(cell);
            free(out);
            out = next;
        }
        return out;
    }
    case QMF_LIST: {
        char *out = qmf_xstrdup("");

        for (i = 0; i < qmf_list_len(v); i++) {
            char *cell = ctl_format_value(qmf_list_at(v, i));
            char *next = qmf_xasprintf("%s%s%s", out, i ? "," : "", cell);

            free(cell);
            free(out);
            out = next;
        }
        return out;
    }
    case QMF_BINARY:
        return qmf_xasprintf("(%zu bytes)", qmf_bytes_len(v));
    default:
        if (qmf_is_unsigned(v))
            return qmf_xasprintf("%llu", (unsigned long long)qmf_as_uint(v));
        return qmf_xasprintf("%lld", (long long)qmf_as_int(v));
    }
}

/* n of units[u] scaled to the largest unit it fills: "1.5 GiB". */
static char *
format_scaled(uint64_t n, size_t u)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    double d = (double)n;

    /* 1023.96 rounds to 1024.0 below: that is the next unit's 1.0. */
    while (d >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
        d /= 1024;
        u++;
    }
    if (d == (double)(uint64_t)d)
        return qmf_xasprintf("%llu %s", (unsigned long long)d, units[u]);
    return qmf_xasprintf("%.1f %s", d, units[u]);
}

char *
ctl_format_kib(uint64_t kib, bool raw)
{
    if (raw)
        return qmf_xasprintf("%llu", (unsigned long long)kib * 1024);
    return format_scaled(kib, 1);
}

char *
ctl_format_bytes(uint64_t bytes, bool raw)
{
    if (raw)
        return qmf_xasprintf("%llu", (unsigned long long)bytes);
    return format_scaled(bytes, 0);
}

char *
ctl_format_ago(int64_t ns, bool raw)
{
    struct timespec now;
    char when[40];
    int64_t secs;

    if (ns <= 0)
        return qmf_xstrdup("never");
    if (raw) {
        ctl_format_time(ns, when, sizeof(when));
        return qmf_xstrdup(when);
    }
    clock_gettime(CLOCK_REALTIME, &now);
    secs = (now.tv_sec * 1000000000LL + now.tv_nsec - ns) / 1000000000LL;
    if (secs < 0)
        secs = 0;
    if (secs < 120)
        return qmf_xasprintf("%llds ago", (long long)secs);
    if (secs < 7200)
        return qmf_xasprintf("%lldm ago", (long long)(secs / 60));
    if (secs < 2 * 86400)
        return qmf_xasprintf("%lldh ago", (long long)(secs / 3600));
    return qmf_xasprintf("%lldd ago", (long long)(secs / 86400));
}

/* ISO 8601 in UTC with milliseconds: 2026-11-25T21:40:39.123Z */
void
ctl_format_time(int64_t ns, char *buf, size_t len)
{
    time_t secs = (time_t)(ns / 1000000000);
    unsigned ms = (unsigned)((ns % 1000000000 + 1000000000) % 1000000000 / 1000000);
    struct tm tm;
    size_t n;

    gmtime_r(&secs, &tm);
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", ms % 1000);
}

void
ctl_print_fields(FILE *f, const char *indent, const qmf_value *map,
                 const struct schema_class *cls)
{
    size_t i;

    for (i = 0; i < qmf_map_len(map); i++) {
        const char *key = qmf_map_at(map, i)->key;
        const struct schema_property *p = cls ? schema_find_property(cls, key) : NULL;
        char *value = ctl_format_value(qmf_map_at(map, i)->value);

        fprintf(f, "%s%s: %s%s%s\n", indent, key, value, p && p->unit ? " " : "",
                p && p->unit ? p->unit : "");
        free(value);
    }
}

char *
ctl_format_version(uint64_t v)
{
    return qmf_xasprintf("%llu.%llu.%llu", (unsigned long long)(v / 1000000),
                         (unsigned long long)(v / 1000 % 1000),
                         (unsigned long long)(v % 1000));
}

void
ctl_print_json(const qmf_value *v)
{
    char *text = qmf_to_json(v, NULL);

    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
}

void
ctl_print_doc(const struct ctl_ctx *ctx, qmf_value *doc)
{
    if (ctx->default_broker)
        qmf_map_set(doc, "default_broker", qmf_string(ctx->url_shown));
    /* Whether each answer was checked to be signed by the agent it names
     * (agent_issuer_keys): with the check on, one that fails is a failure. */
    if (ctx->console != NULL) {
        qmf_map_set(doc, "answers_verified", qmf_bool(ctx->answers_checked));
        /* Whether agents were asked to seal them: only we could read them. */
        qmf_map_set(doc, "answers_sealed", qmf_bool(ctx->answers_sealed));
    }
    ctl_print_json(doc);
}
