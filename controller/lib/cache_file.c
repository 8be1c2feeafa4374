/*
 * The consoles' cache files: JSON lines, written whole to a temporary file
 * and renamed, read a line at a time (cache_file.h).
 */
#include "controller/lib/cache_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/error.h"

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
    if (fstat(fileno(r->f), &st) == 0 && st.st_size < (off_t)CACHE_FILE_MAX &&
        cache_file_next(r, &head) &&
        qmf_get_uint64(qmf_map_get(head, "format"), &format) && format == CACHE_FILE_FORMAT)
        return head;
    qmf_free(head);
    cache_file_close(r);
    return NULL;
}

bool
cache_file_next(struct cache_file_reader *r, qmf_value **doc)
{
    ssize_t n;
    qmf_error err;

    *doc = NULL;
    if ((n = getline(&r->line, &r->size, r->f)) <= 0)
        return false;
    if (r->line[n - 1] == '\n')
        n--;
    *doc = qmf_from_json(r->line, (size_t)n, &err);
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
