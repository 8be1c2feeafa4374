/*
 * The consoles' cache files: JSON lines, written whole to a temporary file
 * and renamed (cache_file.h).
 */
#include "controller/lib/cache_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/error.h"

bool
cache_file_begin(struct cache_file_writer *w, const char *path)
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
    return true;
}

bool
cache_file_format_ok(const qmf_value *head)
{
    uint64_t format;

    return qmf_get_uint64(qmf_map_get(head, "format"), &format) && format == CACHE_FILE_FORMAT;
}

void
cache_file_put(struct cache_file_writer *w, const qmf_value *doc)
{
    size_t len;
    char *text;

    if (!w->has_header) {
        qmf_value *head = qmf_dup(doc);

        w->has_header = true;
        qmf_map_set(head, "format", qmf_u32(CACHE_FILE_FORMAT));
        cache_file_put(w, head);
        qmf_free(head);
        return;
    }
    text = qmf_to_json(doc, &len);

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

char *
cache_file_read(const char *path, size_t max, size_t *len)
{
    char *text = NULL;
    FILE *f;
    long n;

    *len = 0;
    if ((f = fopen(path, "r")) == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && (size_t)n < max &&
        fseek(f, 0, SEEK_SET) == 0) {
        text = qmf_xmalloc((size_t)n + 1);
        if (fread(text, 1, (size_t)n, f) == (size_t)n) {
            text[n] = '\0';
            *len = (size_t)n;
        } else {
            free(text);
            text = NULL;
        }
    }
    fclose(f);
    return text;
}

bool
cache_file_next(const char **cursor, const char *end, qmf_value **doc)
{
    const char *line = *cursor, *nl;
    qmf_error err;

    *doc = NULL;
    if (line >= end)
        return false;
    nl = memchr(line, '\n', (size_t)(end - line));
    *cursor = nl ? nl + 1 : end;
    *doc = qmf_from_json(line, (size_t)((nl ? nl : end) - line), &err);
    return true;
}
