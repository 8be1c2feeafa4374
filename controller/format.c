/* Output helpers of the CLI: aligned tables, value formatting and JSON. */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

#include "schema/qmf/codec.h"

struct ctl_table {
    size_t ncols;
    char **headers;
    char ***rows;
    size_t nrows, cap;
    const size_t *sort_cols;     /* only valid during ctl_table_sort */
    size_t nsort;
};

struct ctl_table *
ctl_table_new(size_t ncols, const char *const *headers)
{
    struct ctl_table *t = qmf_xcalloc(1, sizeof(*t));
    size_t i;

    t->ncols = ncols;
    t->headers = qmf_xcalloc(ncols, sizeof(char *));
    for (i = 0; i < ncols; i++)
        t->headers[i] = qmf_xstrdup(headers[i]);
    return t;
}

void
ctl_table_add(struct ctl_table *t, const char *const *cells)
{
    char **row = qmf_xcalloc(t->ncols, sizeof(char *));
    size_t i;

    for (i = 0; i < t->ncols; i++)
        row[i] = qmf_xstrdup(cells[i] ? cells[i] : "");
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->rows = qmf_xrealloc(t->rows, t->cap * sizeof(*t->rows));
    }
    t->rows[t->nrows++] = row;
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

/* The last column is not padded, so lines carry no trailing blanks. */
static void
print_row(FILE *f, char *const *cells, const size_t *width, size_t ncols)
{
    size_t i;

    for (i = 0; i + 1 < ncols; i++)
        fprintf(f, "%-*s  ", (int)width[i], cells[i]);
    fprintf(f, "%s\n", cells[ncols - 1]);
}

void
ctl_table_print(const struct ctl_table *t, FILE *f)
{
    size_t *width = qmf_xcalloc(t->ncols, sizeof(size_t));
    size_t r, i;

    for (i = 0; i < t->ncols; i++)
        width[i] = strlen(t->headers[i]);
    for (r = 0; r < t->nrows; r++)
        for (i = 0; i < t->ncols; i++)
            if (strlen(t->rows[r][i]) > width[i])
                width[i] = strlen(t->rows[r][i]);
    print_row(f, t->headers, width, t->ncols);
    for (r = 0; r < t->nrows; r++)
        print_row(f, t->rows[r], width, t->ncols);
    free(width);
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
        return qmf_xstrdup(v->u.b ? "yes" : "no");
    case QMF_STRING:
        return qmf_xstrdup(v->u.str.ptr);
    case QMF_UUID:
        qmf_uuid_format(v->u.uuid, buf);
        return qmf_xstrdup(buf);
    case QMF_FLOAT:
    case QMF_DOUBLE: {
        double d = 0;

        qmf_get_double(v, &d);
        return qmf_xasprintf("%g", d);
    }
    case QMF_MAP: {
        char *out = qmf_xstrdup("");

        /* labels and the like: k=v,k=v */
        for (i = 0; i < v->u.map.len; i++) {
            char *cell = ctl_format_value(v->u.map.items[i].value);
            char *next = qmf_xasprintf("%s%s%s=%s", out, i ? "," : "",
                                       v->u.map.items[i].key, cell);

            free(cell);
            free(out);
            out = next;
        }
        return out;
    }
    case QMF_LIST: {
        char *out = qmf_xstrdup("");

        for (i = 0; i < v->u.list.len; i++) {
            char *cell = ctl_format_value(v->u.list.items[i]);
            char *next = qmf_xasprintf("%s%s%s", out, i ? "," : "", cell);

            free(cell);
            free(out);
            out = next;
        }
        return out;
    }
    case QMF_BINARY:
        return qmf_xasprintf("(%zu bytes)", v->u.str.len);
    default:
        if (qmf_is_unsigned(v))
            return qmf_xasprintf("%llu", (unsigned long long)v->u.u);
        return qmf_xasprintf("%lld", (long long)v->u.i);
    }
}

char *
ctl_format_kib(uint64_t kib)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
    double n = (double)kib;
    size_t u = 0;

    while (n >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        n /= 1024;
        u++;
    }
    if (n == (double)(uint64_t)n)
        return qmf_xasprintf("%llu %s", (unsigned long long)n, units[u]);
    return qmf_xasprintf("%.1f %s", n, units[u]);
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
