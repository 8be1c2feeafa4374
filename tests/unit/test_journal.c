/*
 * Tests of the command journal: the begin/end/delivered life of a command,
 * attempts, the undelivered spool's order, compaction and limits, group
 * commit from several threads, reopening, and what survives damage: a tail
 * truncated at every offset, a byte flipped at every offset, and a child
 * process SIGKILLed at random points while it writes.  Every wait is
 * bounded; nothing depends on how long anything took.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "agent/journal.h"
#include "core/codec.h"
#include "core/value.h"

#define HEADER_LEN 16

/*
 * A digest for each id, as an agent would compute from a command's sender
 * and content: every test runs its commands with digests, so that what is
 * tested is the format the agent writes.  D(id) lives as long as the
 * full expression it is in.
 */
#define D(id) digest_for((id), (uint8_t[JOURNAL_DIGEST_LEN]){ 0 })

static const uint8_t *
digest_for(const char *id, uint8_t *out)
{
    uint32_t h = 2166136261u;
    size_t i;

    if (id == NULL)
        return NULL;
    for (i = 0; id[i] != '\0'; i++)
        h = (h ^ (unsigned char)id[i]) * 16777619u;
    for (i = 0; i < JOURNAL_DIGEST_LEN; i++, h = h * 16777619u + 1)
        out[i] = (uint8_t)(h >> 24);
    return out;
}

struct tmpdir {
    char dir[64];
    char path[128];
};

static void
tmpdir_init(struct tmpdir *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/vbjournal-XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir), "mkdtemp: %s", strerror(errno));
    snprintf(t->path, sizeof(t->path), "%s/journal", t->dir);
}

static void
tmpdir_fini(struct tmpdir *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *de;
    char p[512];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", t->dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(t->dir);
}

static struct journal *
open_ok(const char *path, const struct journal_limits *lim, size_t *dropped)
{
    struct journal *j = NULL;
    qmf_error err = { 0 };
    size_t cut = 12345;

    cr_assert_eq(journal_open(&j, path, lim, &cut, &err), 0, "open %s: %s", path, err.text);
    cr_assert_not_null(j);
    if (dropped != NULL)
        *dropped = cut;
    else
        cr_assert_eq(cut, 0, "unexpected repair of %zu bytes", cut);
    return j;
}

/* A recognisable outcome with exact types and some padding. */
static qmf_value *
outcome(const char *id, unsigned n, size_t pad)
{
    qmf_value *m = qmf_map();
    char *s = qmf_xmalloc(pad + 1);

    memset(s, 'x', pad);
    s[pad] = '\0';
    qmf_map_set(m, "id", qmf_string(id));
    qmf_map_set(m, "n", qmf_u32(n));
    qmf_map_set(m, "ok", qmf_bool(n % 2 == 0));
    qmf_map_set(m, "pad", qmf_string(s));
    free(s);
    return m;
}

static void
begin_ok(struct journal *j, const char *id, const char *object)
{
    qmf_error err = { 0 };

    cr_assert_eq(journal_begin(j, id, object, D(id), NULL, &err), 0, "begin %s: %s", id, err.text);
}

static void
end_ok(struct journal *j, const char *id, const char *object, unsigned n, size_t pad)
{
    qmf_error err = { 0 };
    qmf_value *v = outcome(id, n, pad);

    cr_assert_eq(journal_end(j, id, object, D(id), v, &err), 0, "end %s: %s", id, err.text);
    qmf_free(v);
}

static void
flush_ok(struct journal *j)
{
    qmf_error err = { 0 };

    cr_assert_eq(journal_flush(j, &err), 0, "flush: %s", err.text);
}

static void
expect(struct journal *j, const char *id, const char *object, enum journal_state state,
       unsigned attempts, bool delivered, unsigned n, size_t pad)
{
    qmf_value *result = NULL;
    unsigned got_attempts = 99;
    bool got_delivered = !delivered;
    enum journal_state got;

    got = journal_lookup(j, id, object, D(id), &result, &got_attempts, &got_delivered);
    cr_assert_eq(got, state, "%s/%s: state %d, expected %d", id, object ? object : "",
                 got, state);
    cr_assert_eq(got_attempts, attempts, "%s: %u attempts, expected %u", id,
                 got_attempts, attempts);
    if (state == JOURNAL_DONE) {
        qmf_value *want = outcome(id, n, pad);

        cr_assert_eq(got_delivered, delivered, "%s: delivered %d", id, got_delivered);
        cr_assert_not_null(result, "%s: no result", id);
        cr_assert(qmf_equal(result, want), "%s: result differs", id);
        qmf_free(want);
    } else {
        cr_assert_null(result);
        cr_assert_eq(got_delivered, false);
    }
    qmf_free(result);
}

static off_t
file_size(const char *path)
{
    struct stat st;

    cr_assert_eq(stat(path, &st), 0, "stat %s: %s", path, strerror(errno));
    return st.st_size;
}

Test(journal, lifecycle_begin_end_delivered_and_reopen)
{
    struct tmpdir t;
    struct journal *j;
    struct journal_stats st;

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);
    expect(j, "cmd-1", "", JOURNAL_UNKNOWN, 0, false, 0, 0);

    begin_ok(j, "cmd-1", "");
    expect(j, "cmd-1", NULL, JOURNAL_BEGUN, 1, false, 0, 0);
    end_ok(j, "cmd-1", NULL, 7, 10);
    expect(j, "cmd-1", "", JOURNAL_DONE, 1, false, 7, 10);
    cr_assert_eq(journal_undelivered(j, NULL, NULL), 1);

    journal_delivered(j, "cmd-1", "", D("cmd-1"));
    expect(j, "cmd-1", "", JOURNAL_DONE, 1, true, 7, 10);
    cr_assert_eq(journal_undelivered(j, NULL, NULL), 0);

    journal_get_stats(j, &st);
    cr_assert_eq(st.records, 3);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.undelivered, 0);
    cr_assert_eq(st.fsyncs >= 2, true, "%lu fsyncs", st.fsyncs);
    journal_close(j);

    j = open_ok(t.path, NULL, NULL);
    expect(j, "cmd-1", "", JOURNAL_DONE, 1, true, 7, 10);
    journal_get_stats(j, &st);
    cr_assert_eq(st.records, 3);
    cr_assert_eq((off_t)st.bytes, file_size(t.path));
    journal_close(j);
    tmpdir_fini(&t);
}

struct begun_list {
    char ids[4][16];
    unsigned attempts[4];
    size_t n;
};

static void
collect_begun(const char *id, const char *object, const uint8_t *digest, unsigned attempts,
              qmf_value *if_interrupted, void *opaque)
{
    struct begun_list *l = opaque;

    qmf_free(if_interrupted);
    cr_assert(digest != NULL && memcmp(digest, D(id), JOURNAL_DIGEST_LEN) == 0,
              "%s: its digest is not the one it began with", id);
    if (l->n < 4) {
        snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", id);
        l->attempts[l->n++] = attempts;
    }
}

Test(journal, attempts_objects_and_refusals)
{
    struct tmpdir t;
    struct journal *j;
    qmf_error err = { 0 };
    qmf_value *v = outcome("x", 1, 0);

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);

    /* Two BEGINs without an END: it may have run twice. */
    begin_ok(j, "a", "");
    begin_ok(j, "a", "");
    expect(j, "a", "", JOURNAL_BEGUN, 2, false, 0, 0);

    /* The object is part of the key. */
    begin_ok(j, "a", "domain:1");
    expect(j, "a", "domain:1", JOURNAL_BEGUN, 1, false, 0, 0);
    end_ok(j, "a", "domain:1", 3, 0);
    expect(j, "a", "domain:1", JOURNAL_DONE, 1, false, 3, 0);
    expect(j, "a", "", JOURNAL_BEGUN, 2, false, 0, 0);
    expect(j, "a", "domain:2", JOURNAL_UNKNOWN, 0, false, 0, 0);

    /* A DONE command is neither begun nor ended again. */
    cr_assert_eq(journal_begin(j, "a", "domain:1", D("a"), NULL, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INTERNAL);
    cr_assert(strstr(err.text, "already") != NULL, "%s", err.text);
    cr_assert_eq(journal_end(j, "a", "domain:1", D("a"), v, &err), -1);
    expect(j, "a", "domain:1", JOURNAL_DONE, 1, false, 3, 0);

    /* An outcome without execution (e.g. expired). */
    end_ok(j, "never-ran", "", 4, 0);
    expect(j, "never-ran", "", JOURNAL_DONE, 0, false, 4, 0);

    /* Arbitrary strings are kept as they are. */
    begin_ok(j, "id with \"quotes\", \n newline and \xc3\xa9", "obj\t\x01\x7f");
    expect(j, "id with \"quotes\", \n newline and \xc3\xa9", "obj\t\x01\x7f",
           JOURNAL_BEGUN, 1, false, 0, 0);

    cr_assert_eq(journal_begin(j, "", "", D(""), NULL, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_eq(journal_begin(j, NULL, "", D(NULL), NULL, &err), -1);
    cr_assert_eq(journal_end(j, "b", "", D("b"), NULL, &err), -1);
    journal_delivered(j, "a", "", D("a"));          /* not DONE: ignored */
    journal_delivered(j, "nobody", "", D("nobody"));
    expect(j, "a", "", JOURNAL_BEGUN, 2, false, 0, 0);
    journal_close(j);

    j = open_ok(t.path, NULL, NULL);
    expect(j, "a", "", JOURNAL_BEGUN, 2, false, 0, 0);
    expect(j, "a", "domain:1", JOURNAL_DONE, 1, false, 3, 0);
    expect(j, "never-ran", "", JOURNAL_DONE, 0, false, 4, 0);
    expect(j, "id with \"quotes\", \n newline and \xc3\xa9", "obj\t\x01\x7f",
           JOURNAL_BEGUN, 1, false, 0, 0);
    /* The interrupted ones, oldest first. */
    {
        struct begun_list l = { 0 };

        cr_assert_eq(journal_begun(j, collect_begun, &l), 2);
        cr_assert_eq(l.n, 2);
        cr_assert_str_eq(l.ids[0], "a");
        cr_assert_eq(l.attempts[0], 2);
        cr_assert_eq(l.attempts[1], 1);
        cr_assert_eq(journal_begun(j, NULL, NULL), 2);
    }
    /* And a third attempt after the restart. */
    begin_ok(j, "a", "");
    expect(j, "a", "", JOURNAL_BEGUN, 3, false, 0, 0);
    journal_close(j);
    qmf_free(v);
    tmpdir_fini(&t);
}

Test(journal, second_open_of_the_same_file_is_refused)
{
    struct tmpdir t;
    struct journal *j, *k = NULL;
    qmf_error err = { 0 };

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);
    cr_assert_eq(journal_open(&k, t.path, NULL, NULL, &err), -1);
    cr_assert_null(k);
    cr_assert(strstr(err.text, "in use") != NULL, "%s", err.text);
    journal_close(j);
    k = open_ok(t.path, NULL, NULL);
    journal_close(k);
    tmpdir_fini(&t);
}

Test(journal, refuses_a_file_that_is_not_a_journal_and_leaves_it_alone)
{
    struct tmpdir t;
    struct journal *j = NULL;
    struct journal_limits tiny = { 2, 100 };
    qmf_error err = { 0 };
    const char text[] = "this is somebody's precious file, not a journal\n";
    int fd;

    tmpdir_init(&t);
    fd = open(t.path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    cr_assert_eq(journal_open(&j, t.path, NULL, NULL, &err), -1);
    cr_assert(strstr(err.text, "not a virtbus journal") != NULL, "%s", err.text);
    cr_assert_eq(file_size(t.path), (off_t)sizeof(text) - 1);
    cr_assert_eq(journal_open(&j, t.path, &tiny, NULL, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    tmpdir_fini(&t);
}

struct listing {
    char ids[16][16];
    size_t n;
    bool results_ok;
};

static void
collect(const char *id, const char *object, const uint8_t *digest, qmf_value *result,
        void *opaque)
{
    struct listing *l = opaque;
    const char *rid = qmf_map_get_string(result, "id");

    if (rid == NULL || strcmp(rid, id) != 0 || strcmp(object, "") != 0 ||
        digest == NULL || memcmp(digest, D(id), JOURNAL_DIGEST_LEN) != 0)
        l->results_ok = false;
    if (l->n < 16)
        snprintf(l->ids[l->n++], sizeof(l->ids[0]), "%s", id);
    qmf_free(result);
}

static void
expect_listing(struct journal *j, const char *const *want, size_t n)
{
    struct listing l = { .results_ok = true };
    size_t i;

    cr_assert_eq(journal_undelivered(j, collect, &l), n);
    cr_assert_eq(l.n, n);
    cr_assert(l.results_ok);
    for (i = 0; i < n; i++)
        cr_assert_str_eq(l.ids[i], want[i], "position %zu", i);
}

Test(journal, undelivered_are_listed_oldest_outcome_first)
{
    struct tmpdir t;
    struct journal *j;
    const char *const order1[] = { "c", "a", "e", "b" };
    const char *const order2[] = { "c", "e", "b" };

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);
    begin_ok(j, "a", "");
    begin_ok(j, "b", "");
    begin_ok(j, "c", "");
    begin_ok(j, "d", "");
    end_ok(j, "c", "", 1, 0);
    end_ok(j, "a", "", 2, 0);
    end_ok(j, "e", "", 3, 0);       /* never begun */
    end_ok(j, "b", "", 4, 0);
    expect_listing(j, order1, 4);
    journal_delivered(j, "a", "", D("a"));
    expect_listing(j, order2, 3);
    journal_close(j);

    j = open_ok(t.path, NULL, NULL);
    expect_listing(j, order2, 3);
    expect(j, "d", "", JOURNAL_BEGUN, 1, false, 0, 0);
    journal_close(j);
    tmpdir_fini(&t);
}

Test(journal, delivered_marks_wait_in_memory_until_a_blocking_call)
{
    struct tmpdir t;
    struct journal *j;
    struct journal_stats st;
    off_t before;
    unsigned long fsyncs;

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);
    begin_ok(j, "a", "");
    end_ok(j, "a", "", 1, 0);
    before = file_size(t.path);
    journal_get_stats(j, &st);
    fsyncs = st.fsyncs;
    cr_assert_eq((off_t)st.bytes, before);

    journal_delivered(j, "a", "", D("a"));
    journal_get_stats(j, &st);
    cr_assert_gt((off_t)st.bytes, before);
    cr_assert_eq(file_size(t.path), before, "journal_delivered wrote to the file");

    flush_ok(j);
    journal_get_stats(j, &st);
    cr_assert_eq(file_size(t.path), (off_t)st.bytes);
    cr_assert_eq(st.fsyncs, fsyncs, "DELIVERED marks are not fsync'd");
    journal_close(j);
    tmpdir_fini(&t);
}

static void
make_delivered(struct journal *j, const char *id, unsigned n, size_t pad)
{
    begin_ok(j, id, "");
    end_ok(j, id, "", n, pad);
    journal_delivered(j, id, "", D(id));
}

Test(journal, compaction_keeps_pinned_and_newest_delivered)
{
    struct tmpdir t;
    struct journal *j;
    struct journal_stats st;
    struct journal_limits lim = { 8, 1 << 20 };
    char id[16];
    unsigned i;

    tmpdir_init(&t);
    j = open_ok(t.path, &lim, NULL);
    /* An old undelivered outcome, then seven delivered ones. */
    begin_ok(j, "u0", "");
    end_ok(j, "u0", "", 100, 0);
    for (i = 1; i <= 7; i++) {
        snprintf(id, sizeof(id), "d%u", i);
        make_delivered(j, id, i, 0);
    }
    journal_get_stats(j, &st);
    cr_assert_eq(st.entries, 8);
    cr_assert_eq(st.compactions, 0);

    /* The ninth entry is over the limit: its BEGIN compacts. */
    begin_ok(j, "b", "");
    journal_get_stats(j, &st);
    cr_assert_eq(st.compactions, 1);
    /* Half of 8 is 4: u0 and b must stay, leaving room for d6 and d7. */
    cr_assert_eq(st.entries, 4);
    cr_assert_eq(st.records, 2 + 2 * 3 + 1);
    cr_assert_eq((off_t)st.bytes, file_size(t.path));
    for (i = 1; i <= 5; i++) {
        snprintf(id, sizeof(id), "d%u", i);
        expect(j, id, "", JOURNAL_UNKNOWN, 0, false, 0, 0);
    }
    expect(j, "d6", "", JOURNAL_DONE, 1, true, 6, 0);
    expect(j, "d7", "", JOURNAL_DONE, 1, true, 7, 0);
    expect(j, "u0", "", JOURNAL_DONE, 1, false, 100, 0);
    expect(j, "b", "", JOURNAL_BEGUN, 1, false, 0, 0);
    journal_close(j);

    j = open_ok(t.path, &lim, NULL);
    journal_get_stats(j, &st);
    cr_assert_eq(st.entries, 4);
    cr_assert_eq(st.undelivered, 1);
    expect(j, "d5", "", JOURNAL_UNKNOWN, 0, false, 0, 0);
    expect(j, "d6", "", JOURNAL_DONE, 1, true, 6, 0);
    expect(j, "d7", "", JOURNAL_DONE, 1, true, 7, 0);
    expect(j, "u0", "", JOURNAL_DONE, 1, false, 100, 0);
    expect(j, "b", "", JOURNAL_BEGUN, 1, false, 0, 0);
    journal_close(j);
    tmpdir_fini(&t);
}

/* The outcome prepared at BEGIN: what it records if found interrupted. */
struct prepared_list {
    qmf_value *outcomes[4];
    size_t n;
};

static void
collect_prepared(const char *id, const char *object, const uint8_t *digest,
                 unsigned attempts, qmf_value *if_interrupted, void *opaque)
{
    struct prepared_list *l = opaque;

    if (l->n < 4)
        l->outcomes[l->n++] = if_interrupted;
    else
        qmf_free(if_interrupted);
}

Test(journal, the_outcome_prepared_at_begin_survives_reopen_and_compaction)
{
    struct tmpdir t;
    struct journal *j;
    struct journal_stats st;
    struct journal_limits lim = { 8, 1 << 20 };
    struct prepared_list l = { { NULL }, 0 };
    qmf_value *prepared = outcome("p", 15, 40);
    qmf_error err = { 0 };
    char id[16];
    unsigned i;

    tmpdir_init(&t);
    j = open_ok(t.path, &lim, NULL);
    cr_assert_eq(journal_begin(j, "p", "domain:1", D("p"), prepared, &err), 0, "%s", err.text);
    begin_ok(j, "plain", "");
    journal_close(j);

    j = open_ok(t.path, &lim, NULL);
    /* Enough delivered commands behind them to compact twice. */
    for (i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "d%u", i);
        make_delivered(j, id, i, 0);
    }
    journal_get_stats(j, &st);
    cr_assert_geq(st.compactions, 1);
    cr_assert_eq(journal_begun(j, collect_prepared, &l), 2);
    cr_assert_eq(l.n, 2);
    cr_assert_not_null(l.outcomes[0], "the prepared outcome was lost");
    cr_assert(qmf_equal(l.outcomes[0], prepared));
    cr_assert_null(l.outcomes[1], "a BEGIN without one grew one");
    qmf_free(l.outcomes[0]);
    journal_close(j);

    /* And after a reopen of the compacted file. */
    l.n = 0;
    j = open_ok(t.path, &lim, NULL);
    cr_assert_eq(journal_begun(j, collect_prepared, &l), 2);
    cr_assert(l.outcomes[0] != NULL && qmf_equal(l.outcomes[0], prepared));
    qmf_free(l.outcomes[0]);
    journal_close(j);
    qmf_free(prepared);
    tmpdir_fini(&t);
}

Test(journal, compaction_on_size_keeps_the_file_bounded)
{
    struct tmpdir t;
    struct journal *j;
    struct journal_stats st;
    struct journal_limits lim = { 100000, 8192 };
    char id[16];
    unsigned i, present = 0;

    tmpdir_init(&t);
    j = open_ok(t.path, &lim, NULL);
    for (i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "s%u", i);
        make_delivered(j, id, i, 200);
        flush_ok(j);
        journal_get_stats(j, &st);
        /* Compaction frees at least a quarter: never much past the limit. */
        cr_assert_leq(st.bytes, lim.max_bytes + lim.max_bytes / 4 + 1024,
                      "%zu bytes after %u", st.bytes, i);
        cr_assert_eq((off_t)st.bytes, file_size(t.path));
    }
    cr_assert_gt(st.compactions, 1);
    cr_assert_lt(st.compactions, 200 / 4, "compacting too often: %lu", st.compactions);
    expect(j, "s0", "", JOURNAL_UNKNOWN, 0, false, 0, 0);
    expect(j, "s199", "", JOURNAL_DONE, 1, true, 199, 200);
    /* What is kept is the newest run. */
    for (i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "s%u", i);
        if (journal_lookup(j, id, "", D(id), NULL, NULL, NULL) == JOURNAL_DONE)
            present++;
        else
            cr_assert_eq(present, 0, "%s missing after newer ones", id);
    }
    cr_assert_eq(present, st.entries);
    journal_close(j);
    tmpdir_fini(&t);
}

Test(journal, failed_compaction_keeps_the_old_file_and_is_retried)
{
    struct tmpdir t;
    struct journal *j;
    struct journal_stats st;
    struct journal_limits lim = { 8, 1 << 20 };
    char id[16], tmp[160];
    unsigned i;

    tmpdir_init(&t);
    snprintf(tmp, sizeof(tmp), "%s.tmp", t.path);
    j = open_ok(t.path, &lim, NULL);
    for (i = 1; i <= 8; i++) {
        snprintf(id, sizeof(id), "d%u", i);
        make_delivered(j, id, i, 0);
    }
    /* The new file cannot be created where a directory is in the way. */
    cr_assert_eq(mkdir(tmp, 0700), 0);
    begin_ok(j, "b", "");
    journal_get_stats(j, &st);
    cr_assert_eq(st.compaction_failures, 1);
    cr_assert_eq(st.compactions, 0);
    cr_assert_eq(st.entries, 9);
    cr_assert_eq((off_t)st.bytes, file_size(t.path));
    expect(j, "d1", "", JOURNAL_DONE, 1, true, 1, 0);
    expect(j, "b", "", JOURNAL_BEGUN, 1, false, 0, 0);

    /* It backs off, then succeeds once the way is clear. */
    cr_assert_eq(rmdir(tmp), 0);
    for (i = 0; i < 4 && st.compactions == 0; i++) {
        snprintf(id, sizeof(id), "c%u", i);
        begin_ok(j, id, "");
        journal_get_stats(j, &st);
    }
    cr_assert_eq(st.compactions, 1);
    cr_assert_gt(i, 1, "no backoff after the failure");
    expect(j, "d1", "", JOURNAL_UNKNOWN, 0, false, 0, 0);
    expect(j, "b", "", JOURNAL_BEGUN, 1, false, 0, 0);
    journal_close(j);
    j = open_ok(t.path, &lim, NULL);
    expect(j, "b", "", JOURNAL_BEGUN, 1, false, 0, 0);
    journal_close(j);
    tmpdir_fini(&t);
}

Test(journal, write_error_fails_the_journal_and_reopen_repairs_it)
{
    struct tmpdir t;
    struct journal *j;
    struct rlimit fsize, small;
    qmf_error err = { 0 };
    qmf_value *v;
    size_t dropped;

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);
    begin_ok(j, "a", "");
    end_ok(j, "a", "", 1, 0);
    begin_ok(j, "b", "");

    /* The file may not grow by more than 100 bytes: b's END gets cut. */
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &fsize), 0);
    small = fsize;
    small.rlim_cur = (rlim_t)file_size(t.path) + 100;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    v = outcome("b", 2, 5000);
    cr_assert_eq(journal_end(j, "b", "", D("b"), v, &err), -1);
    cr_assert(strstr(err.text, "write") != NULL, "%s", err.text);
    qmf_free(v);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &fsize), 0);

    /* Not on disk, so not DONE; and nothing more is accepted. */
    expect(j, "b", "", JOURNAL_BEGUN, 1, false, 0, 0);
    cr_assert_eq(journal_begin(j, "c", "", D("c"), NULL, &err), -1);
    cr_assert(strstr(err.text, "write") != NULL, "%s", err.text);
    cr_assert_eq(journal_flush(j, &err), -1);
    expect(j, "a", "", JOURNAL_DONE, 1, false, 1, 0);
    journal_close(j);

    j = open_ok(t.path, NULL, &dropped);
    cr_assert_eq(dropped, 100, "the torn END is dropped (%zu bytes)", dropped);
    expect(j, "a", "", JOURNAL_DONE, 1, false, 1, 0);
    expect(j, "b", "", JOURNAL_BEGUN, 1, false, 0, 0);
    end_ok(j, "b", "", 2, 5000);
    journal_close(j);
    tmpdir_fini(&t);
}

Test(journal, full_journal_refuses_begin_and_oversized_end)
{
    struct tmpdir t;
    struct journal *j;
    struct journal_limits lim = { 4, 1 << 20 };
    struct journal_limits small = { 1000, 4096 };
    qmf_error err = { 0 };
    qmf_value *v;

    tmpdir_init(&t);
    j = open_ok(t.path, &lim, NULL);
    begin_ok(j, "a", "");
    begin_ok(j, "b", "");
    /* a and b take half of 4 entries: no new command. */
    cr_assert_eq(journal_begin(j, "c", "", D("c"), NULL, &err), -1);
    cr_assert(strstr(err.text, "journal full") != NULL, "%s", err.text);
    expect(j, "c", "", JOURNAL_UNKNOWN, 0, false, 0, 0);
    begin_ok(j, "b", "");                   /* a retry is no new command */
    end_ok(j, "a", "", 1, 0);
    cr_assert_eq(journal_begin(j, "c", "", D("c"), NULL, &err), -1, "undelivered still pinned");
    journal_delivered(j, "a", "", D("a"));
    begin_ok(j, "c", "");
    journal_close(j);
    tmpdir_fini(&t);

    tmpdir_init(&t);
    j = open_ok(t.path, &small, NULL);
    begin_ok(j, "p", "");
    begin_ok(j, "q", "");
    end_ok(j, "p", "", 1, 2500);
    /* q's outcome would take the undelivered over 4096 bytes. */
    v = outcome("q", 2, 2500);
    cr_assert_eq(journal_end(j, "q", "", D("q"), v, &err), -1);
    cr_assert(strstr(err.text, "journal full") != NULL, "%s", err.text);
    qmf_free(v);
    expect(j, "q", "", JOURNAL_BEGUN, 1, false, 0, 0);
    cr_assert_eq(journal_begin(j, "r", "", D("r"), NULL, &err), -1, "over half of max_bytes");
    journal_delivered(j, "p", "", D("p"));
    end_ok(j, "q", "", 2, 2500);
    journal_close(j);
    /* q's END took the file over max_bytes: the delivered p had to go. */
    j = open_ok(t.path, &small, NULL);
    expect(j, "p", "", JOURNAL_UNKNOWN, 0, false, 0, 0);
    expect(j, "q", "", JOURNAL_DONE, 1, false, 2, 2500);
    journal_close(j);
    tmpdir_fini(&t);

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);
    v = qmf_map();
    {
        size_t big = JOURNAL_RECORD_MAX + 1;
        char *data = qmf_xcalloc(1, big);

        qmf_map_set(v, "blob", qmf_binary(data, big));
        free(data);
    }
    cr_assert_eq(journal_end(j, "huge", "", D("huge"), v, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_TOO_LARGE, "%s", err.text);
    qmf_free(v);
    expect(j, "huge", "", JOURNAL_UNKNOWN, 0, false, 0, 0);
    journal_close(j);
    tmpdir_fini(&t);
}

#define NTHREADS 4
#define PER_THREAD 150

struct worker {
    struct journal *j;
    unsigned index;
    unsigned failures;
};

static void *
worker_run(void *arg)
{
    struct worker *w = arg;
    qmf_error err;
    char id[32];
    unsigned i;

    for (i = 0; i < PER_THREAD; i++) {
        qmf_value *v;

        snprintf(id, sizeof(id), "t%u-%u", w->index, i);
        if (journal_begin(w->j, id, "obj", D(id), NULL, &err) != 0) {
            w->failures++;
            continue;
        }
        v = outcome(id, w->index * 1000 + i, i % 50);
        if (journal_end(w->j, id, "obj", D(id), v, &err) != 0)
            w->failures++;
        qmf_free(v);
        if (i % 2 == 0)
            journal_delivered(w->j, id, "obj", D(id));
    }
    return NULL;
}

/* A loop-like reader: only ever sees states a command can be in. */
struct reader {
    struct journal *j;
    atomic_bool stop;
    unsigned bad, lookups;
};

static void *
reader_run(void *arg)
{
    struct reader *r = arg;
    char id[32];
    unsigned n = 0;

    while (!atomic_load(&r->stop) && n < 1000000) {
        qmf_value *res = NULL;
        enum journal_state s;

        snprintf(id, sizeof(id), "t%u-%u", n % NTHREADS, (n / NTHREADS) % PER_THREAD);
        s = journal_lookup(r->j, id, "obj", D(id), &res, NULL, NULL);
        if ((s == JOURNAL_DONE) != (res != NULL))
            r->bad++;
        if (res != NULL && strcmp(qmf_map_get_string(res, "id"), id) != 0)
            r->bad++;
        qmf_free(res);
        journal_undelivered(r->j, NULL, NULL);
        r->lookups++;
        n++;
    }
    return NULL;
}

static void
expect_all_threads(struct journal *j)
{
    char id[32];
    unsigned w, i;

    for (w = 0; w < NTHREADS; w++) {
        for (i = 0; i < PER_THREAD; i++) {
            snprintf(id, sizeof(id), "t%u-%u", w, i);
            expect(j, id, "obj", JOURNAL_DONE, 1, i % 2 == 0, w * 1000 + i, i % 50);
        }
    }
}

/* Many waiters at once, as an agent's 64 workers are: each group commit
 * wakes its own batch and hands the next one to one of the rest.  Each
 * round starts its threads together and gives each one command, so that
 * when the first batch is done its threads have nothing more to do: the
 * waiters behind it get through only if one of them is woken to lead. */
#define CROWD 32
#define CROWD_ROUNDS 20

struct crowd_member {
    struct journal *j;
    pthread_barrier_t *start;
    unsigned round, index;
    bool failed;
};

static void *
crowd_run(void *arg)
{
    struct crowd_member *m = arg;
    qmf_error err;
    qmf_value *v;
    char id[32];

    snprintf(id, sizeof(id), "c%u-%u", m->round, m->index);
    pthread_barrier_wait(m->start);
    if (journal_begin(m->j, id, "obj", D(id), NULL, &err) != 0) {
        m->failed = true;
        return NULL;
    }
    v = outcome(id, m->round * 1000 + m->index, 0);
    m->failed = journal_end(m->j, id, "obj", D(id), v, &err) != 0;
    qmf_free(v);
    return NULL;
}

Test(journal, a_crowd_of_waiters_all_get_through, .timeout = 120)
{
    struct crowd_member members[CROWD];
    pthread_t threads[CROWD];
    pthread_barrier_t start;
    struct journal_stats st;
    struct tmpdir t;
    struct journal *j;
    char id[32];
    unsigned r, w;

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);
    for (r = 0; r < CROWD_ROUNDS; r++) {
        cr_assert_eq(pthread_barrier_init(&start, NULL, CROWD), 0);
        for (w = 0; w < CROWD; w++) {
            members[w] = (struct crowd_member){ .j = j, .start = &start, .round = r, .index = w };
            cr_assert_eq(pthread_create(&threads[w], NULL, crowd_run, &members[w]), 0);
        }
        for (w = 0; w < CROWD; w++) {
            pthread_join(threads[w], NULL);
            cr_assert(!members[w].failed, "round %u, thread %u", r, w);
        }
        pthread_barrier_destroy(&start);
    }
    for (r = 0; r < CROWD_ROUNDS; r++)
        for (w = 0; w < CROWD; w++) {
            qmf_value *res = NULL;

            snprintf(id, sizeof(id), "c%u-%u", r, w);
            cr_assert_eq(journal_lookup(j, id, "obj", D(id), &res, NULL, NULL), JOURNAL_DONE,
                         "%s", id);
            qmf_free(res);
        }
    journal_get_stats(j, &st);
    /* Shared fsyncs: fewer than two per command. */
    cr_assert_lt(st.fsyncs, 2u * CROWD * CROWD_ROUNDS);
    journal_close(j);
    tmpdir_fini(&t);
}

Test(journal, concurrent_begins_and_ends_from_four_threads)
{
    struct tmpdir t;
    struct journal *j;
    struct journal_stats st;
    struct worker workers[NTHREADS];
    pthread_t threads[NTHREADS], reader_thread;
    struct reader reader = { 0 };
    unsigned w;

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);
    reader.j = j;
    atomic_init(&reader.stop, false);
    cr_assert_eq(pthread_create(&reader_thread, NULL, reader_run, &reader), 0);
    for (w = 0; w < NTHREADS; w++) {
        workers[w] = (struct worker){ .j = j, .index = w };
        cr_assert_eq(pthread_create(&threads[w], NULL, worker_run, &workers[w]), 0);
    }
    for (w = 0; w < NTHREADS; w++) {
        pthread_join(threads[w], NULL);
        cr_assert_eq(workers[w].failures, 0);
    }
    atomic_store(&reader.stop, true);
    pthread_join(reader_thread, NULL);
    cr_assert_eq(reader.bad, 0);

    flush_ok(j);
    journal_get_stats(j, &st);
    cr_assert_eq(st.entries, NTHREADS * PER_THREAD);
    cr_assert_eq(st.undelivered, NTHREADS * PER_THREAD / 2);
    cr_assert_eq(st.records, NTHREADS * PER_THREAD * 2 + NTHREADS * PER_THREAD / 2);
    cr_assert_leq(st.fsyncs, NTHREADS * PER_THREAD * 2);
    cr_log_info("%u begin+end from %u threads: %lu fsyncs for %u durable records",
                NTHREADS * PER_THREAD, NTHREADS, st.fsyncs, NTHREADS * PER_THREAD * 2);
    expect_all_threads(j);
    journal_close(j);

    j = open_ok(t.path, NULL, NULL);
    expect_all_threads(j);
    journal_close(j);
    tmpdir_fini(&t);
}

/*
 * A small journal with one record per step, and a model of what the first
 * k steps mean, for the damage tests.
 */
enum step_kind { STEP_BEGIN, STEP_END, STEP_DELIVERED };
struct step {
    enum step_kind kind;
    const char *id;
};
static const struct step steps[] = {
    { STEP_BEGIN, "a" }, { STEP_END, "a" }, { STEP_DELIVERED, "a" },
    { STEP_BEGIN, "b" }, { STEP_BEGIN, "b" }, { STEP_END, "c" },
    { STEP_BEGIN, "d" }, { STEP_END, "d" }, { STEP_DELIVERED, "d" },
    { STEP_BEGIN, "e" },
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))
static const char *const step_ids[] = { "a", "b", "c", "d", "e" };

struct model {
    enum journal_state state;
    unsigned attempts;
    bool delivered;
};

static unsigned
id_index(const char *id)
{
    return (unsigned)(id[0] - 'a');
}

static void
expect_steps(struct journal *j, size_t k)
{
    struct model m[5] = { { 0 } };
    size_t i;

    for (i = 0; i < k; i++) {
        struct model *e = &m[id_index(steps[i].id)];

        if (steps[i].kind == STEP_BEGIN) {
            e->state = JOURNAL_BEGUN;
            e->attempts++;
        } else if (steps[i].kind == STEP_END) {
            e->state = JOURNAL_DONE;
        } else {
            e->delivered = true;
        }
    }
    for (i = 0; i < 5; i++)
        expect(j, step_ids[i], "", m[i].state, m[i].attempts, m[i].delivered,
               (unsigned)i, 30 + i);
}

/* Writes the step journal; boundary[k] is the file size after k steps. */
static char *
build_steps(const char *path, size_t boundary[NSTEPS + 1], size_t *size)
{
    struct journal *j = open_ok(path, NULL, NULL);
    struct journal_stats st;
    char *data;
    size_t i;
    int fd;

    journal_get_stats(j, &st);
    boundary[0] = st.bytes;
    cr_assert_eq(boundary[0], HEADER_LEN);
    for (i = 0; i < NSTEPS; i++) {
        unsigned n = id_index(steps[i].id);

        if (steps[i].kind == STEP_BEGIN)
            begin_ok(j, steps[i].id, "");
        else if (steps[i].kind == STEP_END)
            end_ok(j, steps[i].id, "", n, 30 + n);
        else {
            journal_delivered(j, steps[i].id, "", D(steps[i].id));
            flush_ok(j);
        }
        journal_get_stats(j, &st);
        cr_assert_gt(st.bytes, boundary[i]);
        boundary[i + 1] = st.bytes;
    }
    journal_close(j);
    *size = boundary[NSTEPS];
    cr_assert_eq(file_size(path), (off_t)*size);
    data = qmf_xmalloc(*size);
    fd = open(path, O_RDONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(read(fd, data, *size), (ssize_t)*size);
    close(fd);
    return data;
}

static void
write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* Steps wholly inside the first off bytes. */
static size_t
steps_before(const size_t boundary[NSTEPS + 1], size_t off)
{
    size_t k = 0;

    while (k < NSTEPS && boundary[k + 1] <= off)
        k++;
    return k;
}

Test(journal, torn_tail_at_every_offset_is_repaired)
{
    struct tmpdir t;
    size_t boundary[NSTEPS + 1], size, off, dropped;
    struct journal_stats st;
    struct journal *j;
    char *data;

    tmpdir_init(&t);
    data = build_steps(t.path, boundary, &size);
    for (off = 0; off <= size; off++) {
        size_t k = steps_before(boundary, off);

        write_file(t.path, data, off);
        j = open_ok(t.path, NULL, &dropped);
        if (off < HEADER_LEN) {
            cr_assert_eq(dropped, off);
            k = 0;
        } else {
            cr_assert_eq(dropped, off - boundary[k], "offset %zu: dropped %zu", off, dropped);
        }
        expect_steps(j, k);
        journal_get_stats(j, &st);
        cr_assert_eq(st.bytes, boundary[k]);
        cr_assert_eq(st.records, k);
        journal_close(j);
        /* Repaired for good: a second open finds nothing to drop. */
        cr_assert_eq(file_size(t.path), (off_t)boundary[k]);
        j = open_ok(t.path, NULL, NULL);
        expect_steps(j, k);
        journal_close(j);
    }
    free(data);
    tmpdir_fini(&t);
}

Test(journal, damage_in_the_middle_drops_from_the_damaged_record_on)
{
    struct tmpdir t;
    size_t boundary[NSTEPS + 1], size, off, dropped;
    struct journal *j;
    qmf_error err = { 0 };
    char *data;

    tmpdir_init(&t);
    data = build_steps(t.path, boundary, &size);
    for (off = HEADER_LEN; off < size; off++) {
        size_t k = steps_before(boundary, off);

        data[off] ^= 0x5a;
        write_file(t.path, data, size);
        data[off] ^= 0x5a;
        j = open_ok(t.path, NULL, &dropped);
        cr_assert_eq(dropped, size - boundary[k], "offset %zu: dropped %zu", off, dropped);
        expect_steps(j, k);
        journal_close(j);
    }

    /* Zeros after the last record (a file extended but not written). */
    {
        char *padded = qmf_xcalloc(1, size + 100);

        memcpy(padded, data, size);
        write_file(t.path, padded, size + 100);
        free(padded);
        j = open_ok(t.path, NULL, &dropped);
        cr_assert_eq(dropped, 100);
        expect_steps(j, NSTEPS);
        journal_close(j);
    }

    /* A damaged header is not ours to repair. */
    data[3] ^= 1;
    write_file(t.path, data, size);
    cr_assert_eq(journal_open(&j, t.path, NULL, NULL, &err), -1);
    cr_assert(strstr(err.text, "not a virtbus journal") != NULL, "%s", err.text);
    cr_assert_eq(file_size(t.path), (off_t)size);
    data[3] ^= 1;
    data[11] ^= 1;
    write_file(t.path, data, size);
    cr_assert_eq(journal_open(&j, t.path, NULL, NULL, &err), -1);
    cr_assert(strstr(err.text, "version") != NULL, "%s", err.text);
    free(data);
    tmpdir_fini(&t);
}

/*
 * The crash test: a child writes commands in a loop and reports on a pipe
 * each one whose journal_end returned; the parent SIGKILLs it at a random
 * point, reopens, and checks that every reported outcome is there.  Small
 * limits make compactions (and kills during them) happen too.
 */
#ifndef KILLS
#define KILLS 20                /* -DKILLS=N for a longer soak */
#endif
#define CHILD_MAX_RECORDS 1000
#define REPORT_READY 0xffffffffu
#define PIPE_WAIT_MS 30000

static const struct journal_limits crash_limits = { 64, 64 * 1024 * 1024 };

/* Every third outcome spans pages: a kill can then cut its write(2) short
 * (the kernel stops a write between pages for a fatal signal). */
static size_t
crash_pad(unsigned round, unsigned n)
{
    return (round * 31 + n * 17) % 120 + (n % 3 == 0 ? 1000000 + n * 97 % 3000 : 0);
}

static void
crash_id(char *buf, size_t size, unsigned round, unsigned n)
{
    snprintf(buf, size, "r%u-%u", round, n);
}

static void
write_report(int fd, uint32_t v)
{
    if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
        _exit(5);
}

static void
mark_delivered(const char *id, const char *object, const uint8_t *digest, qmf_value *result,
               void *opaque)
{
    journal_delivered(opaque, id, object, digest);
    qmf_free(result);
}

/* What an agent does with commands a crash interrupted and nobody resent. */
static void
end_interrupted(const char *id, const char *object, const uint8_t *digest, unsigned attempts,
                qmf_value *if_interrupted, void *opaque)
{
    qmf_value *v = qmf_map();
    qmf_error err;

    qmf_free(if_interrupted);

    qmf_map_set(v, "outcome", qmf_string("interrupted"));
    qmf_map_set(v, "attempts", qmf_u32(attempts));
    if (journal_end(opaque, id, object, digest, v, &err) != 0)
        _exit(4);
    qmf_free(v);
}

static void __attribute__((noreturn))
crash_child(const char *path, unsigned round, int fd)
{
    struct journal *j;
    qmf_error err;
    char id[32];
    unsigned n;

    if (journal_open(&j, path, &crash_limits, NULL, &err) != 0)
        _exit(4);
    write_report(fd, REPORT_READY);
    /* Earlier rounds: record what was interrupted, and all went out. */
    journal_begun(j, end_interrupted, j);
    journal_undelivered(j, mark_delivered, j);
    if (journal_flush(j, &err) != 0)
        _exit(4);
    for (n = 0; n < CHILD_MAX_RECORDS; n++) {
        qmf_value *v;
        int rc;

        crash_id(id, sizeof(id), round, n);
        if (journal_begin(j, id, "", D(id), NULL, &err) != 0)
            _exit(strstr(err.text, "journal full") != NULL ? 3 : 4);
        v = outcome(id, round * 10000 + n, crash_pad(round, n));
        rc = journal_end(j, id, "", D(id), v, &err);
        qmf_free(v);
        if (rc != 0)
            _exit(4);
        write_report(fd, n);
    }
    _exit(0);
}

/* One report from the child, or -1 at EOF; fails the test on a hang. */
static int
read_report(int fd, uint32_t *v)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    size_t got = 0;

    while (got < sizeof(*v)) {
        ssize_t n;

        cr_assert_eq(poll(&p, 1, PIPE_WAIT_MS), 1, "the child stopped reporting");
        n = read(fd, (char *)v + got, sizeof(*v) - got);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert(n >= 0, "read: %s", strerror(errno));
        if (n == 0) {
            cr_assert_eq(got, 0, "torn report");
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

Test(journal, sigkill_at_random_points_loses_no_acknowledged_outcome, .timeout = 300)
{
    struct tmpdir t;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    unsigned reported[KILLS] = { 0 };
    size_t total_dropped = 0, repaired = 0;
    unsigned long compacted_away = 0;
    unsigned round, exits_full = 0, killed = 0, mid_compaction = 0;
    char tmp_path[160];

    tmpdir_init(&t);
    snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", t.path);
    cr_log_info("crash test seed %u", seed);
    srand(seed);
    for (round = 0; round < KILLS; round++) {
        unsigned kill_after = (unsigned)rand() % 25, n, prev, i, missing;
        int fds[2], status;
        pid_t pid;
        uint32_t v;
        struct journal *j;
        struct journal_stats st;
        size_t dropped;
        char id[32];

        cr_assert_eq(pipe(fds), 0);
        pid = fork();
        cr_assert(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            close(fds[0]);
            crash_child(t.path, round, fds[1]);
        }
        close(fds[1]);
        cr_assert_eq(read_report(fds[0], &v), 0, "child %d never opened", pid);
        cr_assert_eq(v, REPORT_READY);
        for (n = 0; n < kill_after && read_report(fds[0], &v) == 0; n++)
            cr_assert_eq(v, n);
        {
            /* Jitter, so that the kill lands anywhere in a write or fsync. */
            struct timespec pause = { 0, (long)(rand() % 3000) * 1000 };

            nanosleep(&pause, NULL);
        }
        kill(pid, SIGKILL);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        if (access(tmp_path, F_OK) == 0)
            mid_compaction++;
        /* Whatever it reported before dying was acknowledged too. */
        while (read_report(fds[0], &v) == 0) {
            cr_assert_eq(v, n);
            n++;
        }
        close(fds[0]);
        if (WIFEXITED(status)) {
            cr_assert_eq(WEXITSTATUS(status), 3, "child exited %d", WEXITSTATUS(status));
            exits_full++;
        } else {
            cr_assert_eq(WTERMSIG(status), SIGKILL);
            killed++;
        }
        reported[round] = n;

        j = open_ok(t.path, &crash_limits, &dropped);
        if (dropped > 0)
            repaired++;
        total_dropped += dropped;
        for (i = 0; i < n; i++) {
            crash_id(id, sizeof(id), round, i);
            expect(j, id, "", JOURNAL_DONE, 1, false, round * 10000 + i,
                   crash_pad(round, i));
        }
        /* The child died before reporting n: n may be anywhere, n + 1
         * cannot have started. */
        crash_id(id, sizeof(id), round, n + 1);
        expect(j, id, "", JOURNAL_UNKNOWN, 0, false, 0, 0);
        /* Earlier rounds: delivered ones may be compacted away, but what
         * is there is intact. */
        missing = 0;
        for (prev = 0; prev < round; prev++) {
            for (i = 0; i < reported[prev]; i++) {
                qmf_value *res = NULL, *want;
                unsigned attempts;

                crash_id(id, sizeof(id), prev, i);
                if (journal_lookup(j, id, "", D(id), &res, &attempts, NULL) == JOURNAL_UNKNOWN) {
                    missing++;
                    continue;
                }
                want = outcome(id, prev * 10000 + i, crash_pad(prev, i));
                cr_assert(res != NULL && qmf_equal(res, want), "%s damaged", id);
                cr_assert_eq(attempts, 1);
                qmf_free(want);
                qmf_free(res);
            }
        }
        compacted_away = missing;
        journal_get_stats(j, &st);
        cr_assert_leq(st.entries, crash_limits.max_entries + 1);
        journal_close(j);

        /* Consistent: nothing more to repair, the same answers. */
        j = open_ok(t.path, &crash_limits, NULL);
        for (i = 0; i < n; i++) {
            crash_id(id, sizeof(id), round, i);
            expect(j, id, "", JOURNAL_DONE, 1, false, round * 10000 + i,
                   crash_pad(round, i));
        }
        journal_close(j);
    }
    cr_log_info("crash test: %u kills (%u during a compaction), %u exits on a full "
                "journal, %zu torn tails repaired (%zu bytes), %lu outcomes "
                "compacted away", killed, mid_compaction, exits_full, repaired,
                total_dropped, compacted_away);
    cr_assert_gt(killed, KILLS / 2);
    /* The children compacted (and so could be killed while compacting). */
    cr_assert_gt(compacted_away, 0);
    tmpdir_fini(&t);
}

/* Command identity: the same id under another digest ----------------------- */

/* The state of (id, object) under the digest of `as`: another command's. */
static enum journal_state
state_as(struct journal *j, const char *id, const char *as, bool *delivered)
{
    return journal_lookup(j, id, "domain:1", D(as), NULL, NULL, delivered);
}

static void
run_as(struct journal *j, const char *id, const char *as, unsigned n)
{
    qmf_error err = { 0 };
    qmf_value *v = outcome(as, n, 0);

    cr_assert_eq(journal_begin(j, id, "domain:1", D(as), NULL, &err), 0, "begin %s as %s: %s",
                 id, as, err.text);
    cr_assert_eq(journal_end(j, id, "domain:1", D(as), v, &err), 0, "end %s as %s: %s", id, as,
                 err.text);
    qmf_free(v);
}

/* What a console reusing one message-id for everything (Qpid's "qmf2")
 * meets: destroy, then start, then destroy again, all as "qmf2". */
static void
expect_reuse_story(struct journal *j)
{
    bool delivered;

    /* The second destroy is answered: its outcome is the latest. */
    cr_assert_eq(state_as(j, "qmf2", "destroy", &delivered), JOURNAL_DONE);
    cr_assert(delivered);
    /* The start is superseded: it would run again if it came again. */
    cr_assert_eq(state_as(j, "qmf2", "start", &delivered), JOURNAL_UNKNOWN);
}

Test(journal, the_same_id_with_another_digest_is_another_command)
{
    struct tmpdir t;
    struct journal *j;
    struct journal_limits lim = { 8, 1 << 20 };
    struct journal_stats st;
    qmf_value *result = NULL;
    bool delivered;
    char id[16];
    unsigned i;

    tmpdir_init(&t);
    j = open_ok(t.path, &lim, NULL);
    /* Older commands, for a compaction to drop later. */
    for (i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "other-%u", i);
        make_delivered(j, id, i, 0);
    }
    run_as(j, "qmf2", "destroy", 1);
    /* Another command under the same id: unknown, so it runs. */
    cr_assert_eq(state_as(j, "qmf2", "start", NULL), JOURNAL_UNKNOWN);
    run_as(j, "qmf2", "start", 2);
    cr_assert_eq(journal_lookup(j, "qmf2", "domain:1", D("start"), &result, NULL, NULL),
                 JOURNAL_DONE);
    cr_assert_eq(qmf_as_uint(qmf_map_get(result, "n")), 2, "the start's own outcome");
    qmf_free(result);
    /* Not delivered yet: the destroy still answers a redelivery of itself. */
    cr_assert_eq(state_as(j, "qmf2", "destroy", &delivered), JOURNAL_DONE);
    cr_assert(!delivered);

    journal_delivered(j, "qmf2", "domain:1", D("destroy"));
    journal_delivered(j, "qmf2", "domain:1", D("start"));
    /* Delivered and superseded: the same destroy again is a new command. */
    cr_assert_eq(state_as(j, "qmf2", "destroy", NULL), JOURNAL_UNKNOWN);
    cr_assert_eq(state_as(j, "qmf2", "start", &delivered), JOURNAL_DONE);
    cr_assert(delivered, "the latest answers a re-send, delivered or not");
    run_as(j, "qmf2", "destroy", 3);
    journal_delivered(j, "qmf2", "domain:1", D("destroy"));
    expect_reuse_story(j);
    journal_close(j);

    /* Replay tells the same story... */
    j = open_ok(t.path, &lim, NULL);
    expect_reuse_story(j);
    /* ... and so does a compacted file, which keeps the newest four. */
    make_delivered(j, "newer-1", 1, 0);
    make_delivered(j, "newer-2", 2, 0);
    journal_get_stats(j, &st);
    cr_assert_eq(st.compactions, 1);
    cr_assert_eq(st.entries, 4);
    expect(j, "other-4", "", JOURNAL_UNKNOWN, 0, false, 0, 0);
    expect_reuse_story(j);
    journal_close(j);
    j = open_ok(t.path, &lim, NULL);
    expect_reuse_story(j);
    journal_close(j);
    tmpdir_fini(&t);
}

Test(journal, a_superseded_command_still_begun_is_not_run_again)
{
    struct tmpdir t;
    struct journal *j;
    qmf_error err = { 0 };
    qmf_value *v = outcome("x", 1, 0);

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);
    cr_assert_eq(journal_begin(j, "qmf2", "domain:1", D("migrate"), NULL, &err), 0);
    run_as(j, "qmf2", "start", 1);
    journal_delivered(j, "qmf2", "domain:1", D("start"));
    /* The migrate may have run: it stays begun, never taken for new. */
    cr_assert_eq(state_as(j, "qmf2", "migrate", NULL), JOURNAL_BEGUN);
    cr_assert_eq(journal_end(j, "qmf2", "domain:1", D("migrate"), v, &err), 0, "%s", err.text);
    cr_assert_eq(state_as(j, "qmf2", "migrate", NULL), JOURNAL_DONE);
    journal_close(j);
    qmf_free(v);
    tmpdir_fini(&t);
}

/* A record as journal version 1 wrote it: no digest. */
static void
append_v1_record(int fd, unsigned type, const char *id, const qmf_value *tail_value,
                 uint32_t attempt)
{
    unsigned char buf[4096], md[EVP_MAX_MD_SIZE], *p = buf + 4;
    char *tail = NULL;
    size_t tail_len = 0, id_len = strlen(id), len;
    unsigned mdlen = 0;

    if (tail_value != NULL)
        cr_assert_eq(qmf_to_amqp(tail_value, &tail, &tail_len), 0);
    *p++ = (unsigned char)type;
    p[0] = p[1] = p[2] = 0;
    p[3] = (unsigned char)id_len;
    memcpy(p + 4, id, id_len);
    p += 4 + id_len;
    memset(p, 0, 4 + 8);            /* empty object, ts 0 */
    p += 12;
    if (type == 1) {
        p[0] = p[1] = p[2] = 0;
        p[3] = (unsigned char)attempt;
        p += 4;
    }
    if (tail_len > 0)       /* memcpy from NULL is undefined, even of 0 bytes */
        memcpy(p, tail, tail_len);
    p += tail_len;
    len = (size_t)(p - (buf + 4));
    buf[0] = buf[1] = 0;
    buf[2] = (unsigned char)(len >> 8);
    buf[3] = (unsigned char)len;
    cr_assert_eq(EVP_Digest(buf + 4, len, md, &mdlen, EVP_sha256(), NULL), 1);
    memcpy(p, md, 8);
    cr_assert_eq(write(fd, buf, len + 12), (ssize_t)(len + 12));
    free(tail);
}

static void
collect_v1(const char *id, const char *object, const uint8_t *digest, qmf_value *result,
           void *opaque)
{
    cr_assert_str_eq(id, "old");
    cr_assert_null(digest, "a version 1 outcome has no digest");
    *(qmf_value **)opaque = result;
}

Test(journal, a_version_1_journal_is_read_and_rewritten_as_version_2)
{
    static const unsigned char v1_header[HEADER_LEN] = "VBJOURNL\0\0\0\1\0\0\0\0";
    struct tmpdir t;
    struct journal *j;
    qmf_value *want = outcome("old", 5, 3), *got = NULL;
    unsigned char head[HEADER_LEN];
    int fd;

    tmpdir_init(&t);
    fd = open(t.path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, v1_header, HEADER_LEN), HEADER_LEN);
    append_v1_record(fd, 1, "old", NULL, 1);
    append_v1_record(fd, 2, "old", want, 0);
    close(fd);

    j = open_ok(t.path, NULL, NULL);
    /* Its outcome is still to be published, without a digest. */
    cr_assert_eq(journal_undelivered(j, collect_v1, &got), 1);
    cr_assert(qmf_equal(got, want));
    qmf_free(got);
    cr_assert_eq(journal_lookup(j, "old", "", NULL, NULL, NULL, NULL), JOURNAL_DONE);
    cr_assert_eq(journal_lookup(j, "old", "", D("old"), NULL, NULL, NULL), JOURNAL_UNKNOWN,
                 "a digest that was never recorded matches nothing");
    journal_delivered(j, "old", "", NULL);
    cr_assert_eq(journal_undelivered(j, NULL, NULL), 0);
    journal_close(j);

    fd = open(t.path, O_RDONLY);
    cr_assert_eq(read(fd, head, HEADER_LEN), HEADER_LEN);
    close(fd);
    cr_assert_eq(memcmp(head, "VBJOURNL", 8), 0);
    cr_assert_eq(head[11], 2, "rewritten as version 2 at open");
    j = open_ok(t.path, NULL, NULL);
    cr_assert_eq(journal_undelivered(j, NULL, NULL), 0);
    cr_assert_eq(journal_lookup(j, "old", "", NULL, NULL, NULL, NULL), JOURNAL_DONE);
    journal_close(j);
    qmf_free(want);
    tmpdir_fini(&t);
}

static uint64_t
end_queued_ok(struct journal *j, const char *id, const char *object, unsigned n)
{
    qmf_error err = { 0 };
    qmf_value *v = outcome(id, n, 10);
    uint64_t pos = 0;

    cr_assert_eq(journal_end_queued(j, id, object, D(id), v, &pos, &err), 0, "end %s: %s", id,
                 err.text);
    cr_assert_gt(pos, 0);
    qmf_free(v);
    return pos;
}

static unsigned long
fsyncs_of(struct journal *j)
{
    struct journal_stats st;

    journal_get_stats(j, &st);
    return st.fsyncs;
}

/*
 * A queued END is no outcome until it is on disk: looked up it is still
 * begun, the spool does not list it; the next BEGIN's one fsync writes
 * both (group commit along an object's commands), and journal_sync of a
 * position already on disk costs no fsync.
 */
Test(journal, a_queued_end_counts_once_on_disk_and_shares_the_next_fsync)
{
    struct tmpdir t;
    struct journal *j;
    qmf_error err = { 0 };
    unsigned long fsyncs;
    uint64_t pos;

    tmpdir_init(&t);
    j = open_ok(t.path, NULL, NULL);
    begin_ok(j, "q-1", "obj");
    fsyncs = fsyncs_of(j);
    pos = end_queued_ok(j, "q-1", "obj", 2);
    cr_assert_eq(fsyncs_of(j), fsyncs, "a queued END was fsync'd at once");
    cr_assert_not(journal_synced(j, pos));
    expect(j, "q-1", "obj", JOURNAL_BEGUN, 1, false, 0, 0);
    cr_assert_eq(journal_undelivered(j, NULL, NULL), 0, "the spool lists an END not on disk");

    begin_ok(j, "q-2", "obj");
    cr_assert_eq(fsyncs_of(j), fsyncs + 1, "%lu fsyncs for one END and one BEGIN",
                 fsyncs_of(j) - fsyncs);
    cr_assert(journal_synced(j, pos), "the BEGIN's fsync did not write the END before it");
    expect(j, "q-1", "obj", JOURNAL_DONE, 1, false, 2, 10);
    cr_assert_eq(journal_sync(j, pos, &err), 0, "%s", err.text);
    cr_assert_eq(fsyncs_of(j), fsyncs + 1);

    /* Many queued ENDs, one fsync. */
    pos = end_queued_ok(j, "q-2", "obj", 4);
    begin_ok(j, "q-3", "other");
    pos = end_queued_ok(j, "q-3", "other", 6);
    fsyncs = fsyncs_of(j);
    cr_assert_eq(journal_sync(j, pos, &err), 0, "%s", err.text);
    cr_assert_eq(fsyncs_of(j), fsyncs + 1);
    expect(j, "q-2", "obj", JOURNAL_DONE, 1, false, 4, 10);
    expect(j, "q-3", "other", JOURNAL_DONE, 1, false, 6, 10);
    cr_assert_eq(journal_undelivered(j, NULL, NULL), 3);

    /* journal_settle waits for a queued END: then the lookup is true. */
    pos = end_queued_ok(j, "q-4", "obj", 8);
    journal_settle(j, "q-4", "obj", D("q-4"));
    cr_assert(journal_synced(j, pos));
    expect(j, "q-4", "obj", JOURNAL_DONE, 0, false, 8, 10);
    journal_close(j);
    tmpdir_fini(&t);
}

/*
 * What a crash leaves: a queued END that no fsync covered may be gone
 * (the command is found begun, never acked, answered "interrupted"); one
 * that journal_sync returned for is there.  The child dies by SIGKILL
 * right after, with nothing closed.
 */
Test(journal, a_queued_end_survives_a_crash_once_synced)
{
    struct tmpdir t;
    struct journal *j;
    int status;
    pid_t pid;

    tmpdir_init(&t);
    pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        qmf_error err = { 0 };
        qmf_value *v = outcome("c-synced", 2, 10);
        uint64_t pos;

        if (journal_open(&j, t.path, NULL, NULL, &err) != 0 ||
            journal_begin(j, "c-synced", "obj", D("c-synced"), NULL, &err) != 0 ||
            journal_end_queued(j, "c-synced", "obj", D("c-synced"), v, &pos, &err) != 0 ||
            journal_sync(j, pos, &err) != 0 ||
            journal_begin(j, "c-queued", "obj", D("c-queued"), NULL, &err) != 0 ||
            journal_end_queued(j, "c-queued", "obj", D("c-queued"), v, &pos, &err) != 0)
            _exit(1);
        kill(getpid(), SIGKILL);
        _exit(2);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %#x", status);
    j = open_ok(t.path, NULL, NULL);
    expect(j, "c-synced", "obj", JOURNAL_DONE, 1, false, 2, 10);
    expect(j, "c-queued", "obj", JOURNAL_BEGUN, 1, false, 0, 0);
    journal_close(j);
    tmpdir_fini(&t);
}
