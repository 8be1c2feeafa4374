/*
 * The consoles' cache files: JSON lines, written whole to a temporary file
 * and renamed, read a line at a time (cache_file.h).
 */
#include "controller/lib/cache_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/error.h"
#include "core/text.h"

bool
cache_file_begin(struct cache_file_writer *w, const char *path, qmf_value *head)
{
    int fd;

    memset(w, 0, sizeof(*w));
    w->tmp = qmf_xasprintf("%s.%ld.tmp", path, (long)getpid());
    /* Private: the cache says which nodes exist. */
    if ((fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 ||
        (w->f = fdopen(fd, "w")) == NULL) {
        if (fd >= 0) {
            close(fd);
            unlink(w->tmp);
        }
        free(w->tmp);
        w->tmp = NULL;
        return false;
    }
    w->path = qmf_xstrdup(path);
    qmf_map_set(head, "format", qmf_u32(CACHE_FILE_FORMAT));
    cache_file_put(w, head);
    return true;
}

void
cache_file_put(struct cache_file_writer *w, const qmf_value *doc)
{
    size_t len;
    char *text = qmf_to_json(doc, &len);

    /* A failed write shows in ferror() at the commit. */
    fwrite(text, 1, len, w->f);
    fputc('\n', w->f);
    free(text);
}

void
cache_file_commit(struct cache_file_writer *w)
{
    bool ok = !ferror(w->f);

    if (fclose(w->f) != 0 || !ok || rename(w->tmp, w->path) != 0)
        unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    memset(w, 0, sizeof(*w));
}

qmf_value *
cache_file_open(struct cache_file_reader *r, const char *path)
{
    qmf_value *head = NULL;
    uint64_t format;
    struct stat st;

    memset(r, 0, sizeof(*r));
    if ((r->f = fopen(path, "r")) == NULL)
        return NULL;
    /* The bound makes each line's read bounded too. */
    if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size < (off_t)CACHE_FILE_MAX &&
        cache_file_next(r, &head) &&
        qmf_get_uint64(qmf_map_get(head, "format"), &format) && format == CACHE_FILE_FORMAT)
        return head;
    qmf_free(head);
    cache_file_close(r);
    return NULL;
}

bool
cache_file_next_text(struct cache_file_reader *r, const char **line, size_t *len)
{
    ssize_t n;

    if ((n = getline(&r->line, &r->size, r->f)) <= 0)
        return false;
    if (r->line[n - 1] == '\n')
        r->line[--n] = '\0';
    *line = r->line;
    *len = (size_t)n;
    return true;
}

bool
cache_file_next(struct cache_file_reader *r, qmf_value **doc)
{
    const char *line;
    size_t len;
    qmf_error err;

    *doc = NULL;
    if (!cache_file_next_text(r, &line, &len))
        return false;
    *doc = qmf_from_json(line, len, &err);
    return true;
}

bool
cache_file_plain(const char *s)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f)
            return false;
    return qmf_utf8_valid(s, (size_t)(p - (const unsigned char *)s));
}

void
cache_file_put_scalars(struct cache_file_writer *w, const char *const *keys, char **texts,
                       size_t n, const char *values_json, const qmf_value *values)
{
    char *encoded = NULL;
    size_t i, len;

    for (i = 0; i < n; i++) {
        fprintf(w->f, "%s\"%s\": %s", i ? ", " : "{", keys[i], texts[i]);
        free(texts[i]);
    }
    if (values_json == NULL)
        values_json = encoded = qmf_to_json(values, &len);
    else
        len = strlen(values_json);
    fprintf(w->f, "%s\"values\": ", n ? ", " : "{");
    fwrite(values_json, 1, len, w->f);
    fputs("}\n", w->f);
    free(encoded);
}

qmf_value *
cache_file_take_values(char **json)
{
    qmf_value *v;
    qmf_error err;

    v = qmf_from_json(*json, strlen(*json), &err);
    if (v == NULL || v->kind != QMF_MAP) {
        qmf_free(v);
        v = qmf_map();
    }
    free(*json);
    *json = NULL;
    return v;
}

/* Past s's text if it starts the line at *p, else false. */
static bool
expect(const char **p, const char *end, const char *s)
{
    size_t n = strlen(s);

    if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
        return false;
    *p += n;
    return true;
}

bool
cache_file_split(const char *line, size_t len, const char *const *keys, size_t n,
                 struct cache_scalar *out, const char **values, size_t *values_len)
{
    const char *p = line, *end = line + len, *q;
    size_t i;

    if (!expect(&p, end, "{"))
        return false;
    for (i = 0; i < n; i++) {
        struct cache_scalar *f = &out[i];

        if ((i > 0 && !expect(&p, end, ", ")) || !expect(&p, end, "\"") ||
            !expect(&p, end, keys[i]) || !expect(&p, end, "\": "))
            return false;
        /* Strings hold nothing escaped: the first quote ends them. */
        f->string = p < end && *p == '"';
        if (f->string) {
            p++;
            if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
                return false;
            f->text = p;
            f->len = (size_t)(q - p);
            /* An escape is JSON's to read (the writer writes none). */
            for (; p < q; p++)
                if ((unsigned char)*p < 0x20 || *p == '\\')
                    return false;
            p = q + 1;
        } else {
            f->text = p;
            while (p < end && *p != ',' && *p != '}')
                p++;
            f->len = (size_t)(p - f->text);
            if (f->len == 0)
                return false;
        }
    }
    /* The values are the rest, an object, but for the line's own brace. */
    if (!expect(&p, end, n > 0 ? ", \"values\": " : "\"values\": ") ||
        end - p < 3 || *p != '{' || end[-1] != '}' || end[-2] != '}')
        return false;
    *values = p;
    *values_len = (size_t)(end - 1 - p);
    return true;
}

void
cache_file_close(struct cache_file_reader *r)
{
    if (r->f != NULL)
        fclose(r->f);
    free(r->line);
    memset(r, 0, sizeof(*r));
}

bool
cache_scalar_i64(const struct cache_scalar *s, int64_t *v)
{
    char buf[24], *end;
    long long n;

    /* JSON's numbers only: no sign but '-', no space. */
    if (s == NULL || s->string || s->len == 0 || s->len >= sizeof(buf) ||
        (s->text[0] != '-' && (s->text[0] < '0' || s->text[0] > '9')))
        return false;
    memcpy(buf, s->text, s->len);
    buf[s->len] = '\0';
    errno = 0;
    n = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *v = n;
    return true;
}

bool
cache_scalar_u32(const struct cache_scalar *s, uint32_t *v)
{
    int64_t n;

    if (!cache_scalar_i64(s, &n) || n < 0 || n > UINT32_MAX)
        return false;
    *v = (uint32_t)n;
    return true;
}

char *
cache_scalar_dup(const struct cache_scalar *s)
{
    return qmf_xstrndup(s->text, s->len);
}
