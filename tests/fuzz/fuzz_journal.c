/*
 * The journal's reader: the input is a journal file, opened (replayed,
 * repaired) as an agent does at start, in a directory of its own under
 * /dev/shm (or TMPDIR).  A file that opens must then answer lookups and
 * listings, and take a new command; one that does not must be refused with
 * a reason.  Inputs that start without the magic get a header in front, so
 * that the records themselves are what is explored.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/journal.h"
#include "tests/fuzz/fuzz.h"

static char dir[64], path[96];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(dir, sizeof(dir), "%s/virtbus-fuzz-journal-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(path, sizeof(path), "%s/fuzz.journal", dir);
    return 0;
}

static void
count(const char *id, const char *object, const uint8_t *digest, qmf_value *result,
      void *opaque)
{
    (*(size_t *)opaque)++;
    qmf_free(result);
}

static void
count_begun(const char *id, const char *object, const uint8_t *digest, unsigned attempts,
            qmf_value *prepared, void *opaque)
{
    (*(size_t *)opaque)++;
    qmf_free(prepared);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char header[16] = { 'V', 'B', 'J', 'O', 'U', 'R', 'N', 'L', 0, 0, 0, 2 };
    struct journal_limits lim = { JOURNAL_MIN_ENTRIES * 4, 64 * 1024 };
    struct journal *j;
    qmf_error err;
    size_t dropped = 0, n = 0, m = 0;
    qmf_value *result = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0)
        abort();
    if (size < 8 || memcmp(data, "VBJOURNL", 8) != 0)
        FUZZ_ASSERT(write(fd, header, sizeof(header)) == (ssize_t)sizeof(header));
    FUZZ_ASSERT(write(fd, data, size) == (ssize_t)size);
    close(fd);
    if (journal_open(&j, path, &lim, &dropped, &err) != 0) {
        FUZZ_ASSERT(err.code != QMF_OK);
        return 0;
    }
    FUZZ_ASSERT(journal_undelivered(j, count, &n) == n);
    FUZZ_ASSERT(journal_begun(j, count_begun, &m) == m);
    journal_lookup(j, "id", "", NULL, &result, NULL, NULL);
    qmf_free(result);
    if (journal_begin(j, "fuzz", "object", NULL, NULL, &err) == 0)
        FUZZ_ASSERT(journal_lookup(j, "fuzz", "object", NULL, NULL, NULL, NULL) ==
                    JOURNAL_BEGUN);
    journal_close(j);
    return 0;
}
