/*
 * bench/journal: how many durable journal records (BEGIN and END, each
 * fsync'd) per second 1, 4, 16 and 64 threads get (an agent runs as many
 * commands at once as it has workers), on a disk directory and on
 * /dev/shm, and how much group commit saves; then the cost of lookups and
 * of compaction.  Prints figures, asserts nothing.
 *
 *     bench_journal [-n COMMANDS] [DIR ...]     (default: /var/tmp /dev/shm)
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/journal.h"
#include "bench/measure.h"

struct run {
    struct journal *j;
    unsigned thread, count;
    unsigned failures;
};

/* About what the agent records: the reply and the commandResult. */
static qmf_value *
sample_outcome(const char *id)
{
    qmf_value *m = qmf_map();
    qmf_value *reply = qmf_map_set(m, "reply", qmf_map());
    qmf_value *event = qmf_map_set(m, "commandResult", qmf_map());

    qmf_map_set(reply, "_method_name", qmf_string("shutdown"));
    qmf_map_set(reply, "_arguments", qmf_map());
    qmf_map_set(event, "id", qmf_string(id));
    qmf_map_set(event, "object", qmf_string("domain:10000000-0000-4000-8000-000000000042"));
    qmf_map_set(event, "outcome", qmf_string("ok"));
    qmf_map_set(event, "node", qmf_string("rack1-hv042"));
    qmf_map_set(event, "started", qmf_i64(1764106839000000000LL));
    qmf_map_set(event, "finished", qmf_i64(1764106839120000000LL));
    return m;
}

static void *
run_commands(void *arg)
{
    struct run *r = arg;
    qmf_error err;
    char id[64];
    unsigned i;

    for (i = 0; i < r->count; i++) {
        qmf_value *v;

        snprintf(id, sizeof(id), "cmd-%u-%u-%08x", r->thread, i, i * 2654435761u);
        if (journal_begin(r->j, id, "", NULL, NULL, &err) != 0) {
            r->failures++;
            continue;
        }
        v = sample_outcome(id);
        if (journal_end(r->j, id, "", NULL, v, &err) != 0)
            r->failures++;
        qmf_free(v);
        journal_delivered(r->j, id, "", NULL);
    }
    return NULL;
}

static void
remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[4096];

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static struct journal *
open_in(const char *dir, const struct journal_limits *lim)
{
    struct journal *j;
    qmf_error err;
    char path[4096];

    snprintf(path, sizeof(path), "%s/journal", dir);
    if (journal_open(&j, path, lim, NULL, &err) != 0) {
        fprintf(stderr, "bench_journal: %s\n", err.text);
        exit(1);
    }
    return j;
}

#define MAX_THREADS 64

/* commands begin+end pairs spread over nthreads; prints one line. */
static void
bench_commits(const char *base, unsigned nthreads, unsigned commands)
{
    char dir[2048];
    struct journal *j;
    struct journal_stats st;
    struct run runs[MAX_THREADS];
    pthread_t threads[MAX_THREADS];
    unsigned t, failures = 0;
    double t0, elapsed;

    snprintf(dir, sizeof(dir), "%s/vbjournal-bench-XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        perror(dir);
        return;
    }
    j = open_in(dir, NULL);
    journal_get_stats(j, &st);
    {
        unsigned long fsyncs0 = st.fsyncs;

        t0 = bench_now_s();
        for (t = 0; t < nthreads; t++) {
            runs[t] = (struct run){ .j = j, .thread = t, .count = commands / nthreads };
            pthread_create(&threads[t], NULL, run_commands, &runs[t]);
        }
        for (t = 0; t < nthreads; t++) {
            pthread_join(threads[t], NULL);
            failures += runs[t].failures;
        }
        elapsed = bench_now_s() - t0;
        journal_get_stats(j, &st);
        st.fsyncs -= fsyncs0;
    }
    printf("  %-10s %2u thread%s  %6u commands  %7.0f records/s  %7.0f commands/s  "
           "%6lu fsyncs  %.2f records/fsync%s\n",
           base, nthreads, nthreads == 1 ? " " : "s", commands / nthreads * nthreads,
           2.0 * commands / elapsed, commands / elapsed, st.fsyncs,
           st.fsyncs > 0 ? 2.0 * commands / st.fsyncs : 0.0,
           failures > 0 ? "  (FAILURES)" : "");
    journal_close(j);
    remove_dir(dir);
}

/* Writes entries delivered outcomes into a journal at path (on /dev/shm:
 * filling one on disk would take an fsync per outcome). */
static void
fill_journal(const char *dir, unsigned entries)
{
    struct journal_limits lim = { entries, 1024u * 1024 * 1024 };
    struct journal *j = open_in(dir, &lim);
    qmf_error err;
    char id[64];
    unsigned i;

    for (i = 0; i < entries; i++) {
        qmf_value *v;

        snprintf(id, sizeof(id), "cmd-%u", i);
        v = sample_outcome(id);
        if (journal_end(j, id, "", NULL, v, &err) != 0) {
            fprintf(stderr, "bench_journal: %s\n", err.text);
            exit(1);
        }
        qmf_free(v);
        journal_delivered(j, id, "", NULL);
    }
    journal_close(j);
}

static int
copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int rc = 0;

    if (in == NULL || out == NULL)
        rc = -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            rc = -1;
    if (in != NULL)
        fclose(in);
    if (out != NULL && fclose(out) != 0)
        rc = -1;
    return rc;
}

/* Reopen (replay), lookups (the loop's path) and one compaction of a full
 * journal of `entries` delivered outcomes, copied into base. */
static void
bench_replay_lookup_compact(const char *src, const char *base, unsigned entries)
{
    struct journal_limits lim = { entries, 1024u * 1024 * 1024 };
    char dir[2048], path[4096], id[64];
    struct journal *j;
    struct journal_stats before, after;
    qmf_error err;
    qmf_value *v;
    double t0, t_open, t_lookup, t_compact;
    unsigned i, found = 0;
    size_t dropped;

    snprintf(dir, sizeof(dir), "%s/vbjournal-bench-XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        perror(dir);
        return;
    }
    snprintf(path, sizeof(path), "%s/journal", dir);
    if (copy_file(src, path) != 0) {
        perror(path);
        remove_dir(dir);
        return;
    }
    t0 = bench_now_s();
    if (journal_open(&j, path, &lim, &dropped, &err) != 0) {
        fprintf(stderr, "bench_journal: %s\n", err.text);
        remove_dir(dir);
        return;
    }
    t_open = bench_now_s() - t0;
    journal_get_stats(j, &before);

    t0 = bench_now_s();
    for (i = 0; i < entries; i++) {
        qmf_value *res = NULL;

        snprintf(id, sizeof(id), "cmd-%u", (i * 7919u) % entries);
        if (journal_lookup(j, id, "", NULL, &res, NULL, NULL) == JOURNAL_DONE && res != NULL)
            found++;
        qmf_free(res);
    }
    t_lookup = bench_now_s() - t0;

    /* One more entry crosses max_entries: its END compacts to half. */
    v = sample_outcome("one-more");
    t0 = bench_now_s();
    journal_end(j, "one-more", "", NULL, v, &err);
    t_compact = bench_now_s() - t0;
    qmf_free(v);
    journal_get_stats(j, &after);
    journal_close(j);
    printf("  %-10s reopen %u entries (%.1f MiB) %.0f ms; lookup with result %.2f us "
           "(%u found); compaction to %zu entries (%lu) %.0f ms\n",
           base, entries, before.bytes / 1048576.0, t_open * 1e3,
           t_lookup / entries * 1e6, found, after.entries, after.compactions,
           t_compact * 1e3);
    remove_dir(dir);
}

int
main(int argc, char **argv)
{
    static const char *const default_dirs[] = { "/var/tmp", "/dev/shm" };
    const char *const *dirs = default_dirs;
    unsigned commands = 4000, ndirs = 2, i;
    int opt;

    while ((opt = getopt(argc, argv, "n:")) != -1) {
        if (opt == 'n') {
            commands = (unsigned)strtoul(optarg, NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_journal [-n COMMANDS] [DIR ...]\n");
            return 2;
        }
    }
    if (optind < argc) {
        dirs = (const char *const *)(argv + optind);
        ndirs = (unsigned)(argc - optind);
    }
    if (commands < 4)
        commands = 4;
    printf("journal: %u commands = %u durable records (BEGIN + END, each fsync'd before "
           "returning), DELIVERED marks unsynced\n", commands, 2 * commands);
    for (i = 0; i < ndirs; i++) {
        bench_commits(dirs[i], 1, commands);
        bench_commits(dirs[i], 4, commands);
        bench_commits(dirs[i], 16, commands);
        bench_commits(dirs[i], MAX_THREADS, commands);
    }
    {
        char src[4096];
        const unsigned entries = 100000;

        snprintf(src, sizeof(src), "/dev/shm/vbjournal-bench-XXXXXX");
        if (mkdtemp(src) == NULL) {
            perror(src);
            return 1;
        }
        fill_journal(src, entries);
        strncat(src, "/journal", sizeof(src) - strlen(src) - 1);
        for (i = 0; i < ndirs; i++)
            bench_replay_lookup_compact(src, dirs[i], entries);
        *strrchr(src, '/') = '\0';
        remove_dir(src);
    }
    return 0;
}
