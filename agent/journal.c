/*
 * The command journal (see journal.h for the format and the guarantees):
 * an append-only file replayed into a hash table at open, written by
 * whichever blocking caller leads the next group commit.
 *
 * Writers never touch the file directly: under the mutex they apply their
 * record to memory and append it to `pending`; then one of them becomes
 * the leader, takes all that is pending, writes and fsyncs it without the
 * mutex, and wakes the others.  Callers whose records arrived meanwhile
 * share the leader's next fsync.  Only the leader does file I/O, so the
 * file descriptor needs no lock of its own.  Positions (appended, written,
 * synced) are logical byte counts over the journal's life, unaffected by
 * compaction, so "is my record on disk" is one comparison.
 *
 * Each entry keeps the raw bytes of its latest BEGIN, END and DELIVERED
 * records: compaction copies them instead of encoding and hashing again,
 * and a lookup decodes the outcome from the END record.
 */
#include "agent/journal.h"
#include "agent/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/codec.h"
#include "core/dict.h"

#define JOURNAL_MAGIC       "VBJOURNL"
#define JOURNAL_VERSION     2
#define JOURNAL_VERSION_1   1   /* no digests: read, then rewritten */
#define HEADER_LEN          16
#define REC_LEN_BYTES       4
#define REC_SUM_BYTES       8
#define REC_OVERHEAD        (REC_LEN_BYTES + REC_SUM_BYTES)
/* type, id_len, object_len, ts: the smallest len field */
#define REC_MIN_LEN         (1 + 4 + 4 + 8)
/* Compaction backs off this many leader turns at most after failures. */
#define COMPACT_BACKOFF_MAX 1024

enum rec_type { REC_BEGIN = 1, REC_END = 2, REC_DELIVERED = 3 };
/* Or'ed into the type byte: a digest follows the object. */
#define REC_HAS_DIGEST      0x80
#define DIGEST_HEX_LEN      (2 * JOURNAL_DIGEST_LEN + 1)

struct buf {
    char *data;
    size_t len, cap;
};

struct entry {
    char *id, *object;
    uint8_t digest[JOURNAL_DIGEST_LEN];
    bool has_digest;
    enum journal_state state;
    unsigned attempts;
    bool delivered;
    /* A later command under the same (id, object) began or ended: once
     * delivered, this one no longer answers a repeat. */
    bool superseded;
    bool dropping;              /* chosen to go by the running compaction */
    char *begin_rec, *end_rec, *delivered_rec;  /* raw records, or NULL */
    size_t begin_len, end_len, delivered_len;
    size_t result_off, result_len;  /* the encoded outcome inside end_rec */
    size_t prepared_off, prepared_len;  /* inside begin_rec; 0: none */
    uint64_t end_pos;           /* logical position just past the END record */
    struct entry *prev, *next;  /* oldest first: creation, or END */
};

struct journal {
    pthread_mutex_t lock;
    /*
     * A leader finished: turn[batch_gen & 1] wakes those whose records
     * were in its batch, and one of those waiting on the other is woken to
     * lead the next batch, which holds all of theirs.  Waking only them,
     * not every waiter at every fsync, saves dozens of futile wakeups per
     * fsync when many workers wait.
     */
    pthread_cond_t turn[2];
    unsigned batch_gen;         /* counts batches taken */
    uint64_t batch_end;         /* the position the leader's batch ends at */
    char *path, *tmp_path, *dir_path;
    int fd, lock_fd;
    EVP_MD *sha256;
    struct journal_limits lim;

    struct qmf_dict *index;     /* tuple_key(id, object, digest in hex) -> struct entry */
    struct qmf_dict *latest;    /* tuple_key(id, object, NULL) -> the entry that came last */
    struct entry *head, *tail;
    size_t entries, entry_bytes;
    size_t pinned_entries, pinned_bytes;    /* BEGUN, or DONE undelivered */
    size_t undelivered;

    size_t file_bytes, file_records;        /* written to the current file */
    struct buf pending;
    size_t pending_records;
    uint64_t appended_pos, sync_pos, written_pos, synced_pos;
    bool leader;
    bool failed;
    bool upgrade;               /* opened as version 1 */
    qmf_error failure;

    unsigned compact_skip, compact_backoff;
    unsigned long fsyncs, compactions, compaction_failures;
};

/* A record as parsed from the file; pointers into the read buffer. */
struct record {
    enum rec_type type;
    const char *id, *object;
    size_t id_len, object_len;
    const uint8_t *digest;          /* NULL: none */
    int64_t ts;
    uint32_t attempt;
    size_t result_off, result_len;  /* from the record's start */
    size_t len;                     /* the whole record */
};

static void
buf_append(struct buf *b, const void *data, size_t len)
{
    if (len == 0)
        return;
    if (b->cap - b->len < len) {
        size_t cap = b->cap != 0 ? b->cap : 4096;

        while (cap - b->len < len)
            cap *= 2;
        b->data = qmf_xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void
put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t
get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put_u64(unsigned char *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint64_t
get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static int
checksum(const struct journal *j, const void *data, size_t len,
         unsigned char out[REC_SUM_BYTES])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, md, &mdlen, j->sha256, NULL) != 1 ||
        mdlen < REC_SUM_BYTES)
        return -1;
    memcpy(out, md, REC_SUM_BYTES);
    return 0;
}

/* Where a record of rec_len bytes keeps its tail: just before the checksum. */
static size_t
record_tail_off(size_t rec_len, size_t tail_len)
{
    return rec_len - REC_SUM_BYTES - tail_len;
}

/* An outcome as records keep it; -1 with err set if it cannot be. */
static int
outcome_encode(const qmf_value *outcome, char **buf, size_t *len, qmf_error *err)
{
    int rc = qmf_to_amqp(outcome, buf, len);

    if (rc != 0)
        qmf_error_set(err, QMF_ERR_TOO_LARGE, "journal: cannot encode the outcome (%d)", rc);
    return rc != 0 ? -1 : 0;
}

/*
 * One record, malloc'd (len in *lenp).  For END, tail is the encoded
 * outcome; for BEGIN, attempt is stored, then the tail (an outcome
 * prepared for an interruption) if any.  NULL with err set if too large.
 */
static char *
record_encode(const struct journal *j, enum rec_type type, const char *id,
              const char *object, const uint8_t *digest, uint32_t attempt,
              const char *tail, size_t tail_len, size_t *lenp, qmf_error *err)
{
    size_t id_len = strlen(id), object_len = strlen(object);
    size_t extra = (type == REC_BEGIN ? 4 + tail_len : type == REC_END ? tail_len : 0) +
        (digest != NULL ? JOURNAL_DIGEST_LEN : 0);
    size_t len, total;
    unsigned char *rec, *p;

    if (id_len > JOURNAL_RECORD_MAX || object_len > JOURNAL_RECORD_MAX ||
        extra > JOURNAL_RECORD_MAX ||
        REC_MIN_LEN + id_len + object_len + extra + REC_OVERHEAD > JOURNAL_RECORD_MAX) {
        qmf_error_set(err, QMF_ERR_TOO_LARGE,
                      "journal record over %u bytes", JOURNAL_RECORD_MAX);
        return NULL;
    }
    len = REC_MIN_LEN + id_len + object_len + extra;
    total = len + REC_OVERHEAD;
    p = rec = qmf_xmalloc(total);
    put_u32(p, (uint32_t)len);
    p += 4;
    *p++ = (unsigned char)(type | (digest != NULL ? REC_HAS_DIGEST : 0));
    put_u32(p, (uint32_t)id_len);
    memcpy(p + 4, id, id_len);
    p += 4 + id_len;
    put_u32(p, (uint32_t)object_len);
    memcpy(p + 4, object, object_len);
    p += 4 + object_len;
    if (digest != NULL) {
        memcpy(p, digest, JOURNAL_DIGEST_LEN);
        p += JOURNAL_DIGEST_LEN;
    }
    put_u64(p, (uint64_t)clock_wall_ns());
    p += 8;
    if (type == REC_BEGIN) {
        put_u32(p, attempt);
        p += 4;
        if (tail_len > 0)
            memcpy(p, tail, tail_len);
        p += tail_len;
    } else if (type == REC_END) {
        memcpy(p, tail, tail_len);
        p += tail_len;
    }
    if (checksum(j, rec + REC_LEN_BYTES, len, p) != 0) {
        free(rec);
        qmf_error_set(err, QMF_ERR_INTERNAL, "journal: SHA-256 failed");
        return NULL;
    }
    *lenp = total;
    return (char *)rec;
}

/* A string field: length-prefixed, non-empty if required, without NUL. */
static int
parse_string(const unsigned char **p, const unsigned char *end,
             const char **s, size_t *len, bool nonempty)
{
    uint32_t n;

    if (end - *p < 4)
        return -1;
    n = get_u32(*p);
    *p += 4;
    if ((size_t)(end - *p) < n || (nonempty && n == 0) ||
        memchr(*p, '\0', n) != NULL)
        return -1;
    *s = (const char *)*p;
    *len = n;
    *p += n;
    return 0;
}

/* The outcome from p to end: located in r once it decodes (a checksum can
 * match a record we wrote from a buggy encoder). */
static int
parse_outcome(const unsigned char *base, const unsigned char *p, const unsigned char *end,
              struct record *r)
{
    qmf_value *v = qmf_from_amqp((const char *)p, (size_t)(end - p), NULL);

    if (v == NULL)
        return -1;
    qmf_free(v);
    r->result_off = (size_t)(p - base);
    r->result_len = (size_t)(end - p);
    return 0;
}

/* 0 if data starts with a whole, intact, well-formed record. */
static int
record_parse(const struct journal *j, const char *data, size_t avail,
             struct record *r)
{
    const unsigned char *base = (const unsigned char *)data, *p, *end;
    unsigned char sum[REC_SUM_BYTES];
    bool has_digest;
    uint32_t len;

    if (avail < REC_LEN_BYTES)
        return -1;
    len = get_u32(base);
    if (len < REC_MIN_LEN || len > JOURNAL_RECORD_MAX - REC_OVERHEAD ||
        avail < REC_OVERHEAD || avail - REC_OVERHEAD < len)
        return -1;
    if (checksum(j, base + REC_LEN_BYTES, len, sum) != 0 ||
        memcmp(sum, base + REC_LEN_BYTES + len, REC_SUM_BYTES) != 0)
        return -1;
    p = base + REC_LEN_BYTES;
    end = p + len;
    has_digest = (*p & REC_HAS_DIGEST) != 0;
    r->type = *p++ & ~REC_HAS_DIGEST;
    if (parse_string(&p, end, &r->id, &r->id_len, true) != 0 ||
        parse_string(&p, end, &r->object, &r->object_len, false) != 0)
        return -1;
    r->digest = NULL;
    if (has_digest) {
        if (end - p < JOURNAL_DIGEST_LEN)
            return -1;
        r->digest = p;
        p += JOURNAL_DIGEST_LEN;
    }
    if (end - p < 8)
        return -1;
    r->ts = (int64_t)get_u64(p);
    p += 8;
    r->attempt = 0;
    r->result_off = r->result_len = 0;
    switch (r->type) {
    case REC_BEGIN:
        if (end - p < 4 || (r->attempt = get_u32(p)) == 0)
            return -1;
        p += 4;
        /* Optional: the outcome prepared for an interruption. */
        if (p < end && parse_outcome(base, p, end, r) != 0)
            return -1;
        break;
    case REC_END:
        if (parse_outcome(base, p, end, r) != 0)
            return -1;
        break;
    case REC_DELIVERED:
        if (p != end)
            return -1;
        break;
    default:
        return -1;
    }
    r->len = len + REC_OVERHEAD;
    return 0;
}

static bool
entry_pinned(const struct entry *e)
{
    return e->state == JOURNAL_BEGUN || (e->state == JOURNAL_DONE && !e->delivered);
}

static size_t
entry_bytes(const struct entry *e)
{
    return e->begin_len + e->end_len + e->delivered_len;
}

/* The counters, around every change of an entry: subtract, change, add. */
static void
account(struct journal *j, const struct entry *e, int sign)
{
    size_t bytes = entry_bytes(e);

#define ADJ(field, n) (j->field = sign > 0 ? j->field + (n) : j->field - (n))
    ADJ(entry_bytes, bytes);
    if (entry_pinned(e)) {
        ADJ(pinned_entries, 1);
        ADJ(pinned_bytes, bytes);
    }
    if (e->state == JOURNAL_DONE && !e->delivered)
        ADJ(undelivered, 1);
#undef ADJ
}

/* The hash key of a digest: hex, or "" for none. */
static void
digest_hex(const uint8_t *digest, char out[DIGEST_HEX_LEN])
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    out[0] = '\0';
    for (i = 0; digest != NULL && i < JOURNAL_DIGEST_LEN; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
        out[2 * i + 2] = '\0';
    }
}

/* The tables' key for (id, object, digest): id and object prefixed with
 * their lengths, so that no two tuples share a key whatever they hold.
 * `latest` uses it without a digest. */
static char *
tuple_key(const char *id, const char *object, const uint8_t *digest)
{
    char hex[DIGEST_HEX_LEN];

    digest_hex(digest, hex);
    return qmf_xasprintf("%zu:%s%zu:%s%s", strlen(id), id, strlen(object), object, hex);
}

static struct entry *
entry_find(struct journal *j, const char *id, const char *object, const uint8_t *digest)
{
    char *key = tuple_key(id, object, digest);
    struct entry *e = qmf_dict_get(j->index, key);

    free(key);
    return e;
}

/* A delivered outcome of a command since superseded: it answers nothing,
 * and the same command coming again is a new one. */
static bool
entry_stale(const struct entry *e)
{
    return e->state == JOURNAL_DONE && e->delivered && e->superseded;
}

static void
list_unlink(struct journal *j, struct entry *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        j->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        j->tail = e->prev;
    e->prev = e->next = NULL;
}

static void
list_append(struct journal *j, struct entry *e)
{
    e->prev = j->tail;
    e->next = NULL;
    if (j->tail != NULL)
        j->tail->next = e;
    else
        j->head = e;
    j->tail = e;
}

static struct entry *
entry_create(struct journal *j, const char *id, size_t id_len,
             const char *object, size_t object_len, const uint8_t *digest)
{
    struct entry *e = qmf_xcalloc(1, sizeof(*e));
    char *key;

    e->id = qmf_xstrndup(id, id_len);
    e->object = qmf_xstrndup(object, object_len);
    if (digest != NULL) {
        memcpy(e->digest, digest, JOURNAL_DIGEST_LEN);
        e->has_digest = true;
    }
    e->state = JOURNAL_UNKNOWN;
    key = tuple_key(e->id, e->object, digest);
    qmf_dict_add(j->index, key, e);     /* the caller looked it up first */
    free(key);
    list_append(j, e);
    j->entries++;
    return e;
}

static const uint8_t *
entry_digest(const struct entry *e)
{
    return e->has_digest ? e->digest : NULL;
}

/*
 * e is the command that came last under its (id, object): the one before
 * it is superseded.  It also moves to the end of the list, so that a
 * compacted file, replayed in list order, tells the same story.
 */
static void
entry_make_latest(struct journal *j, struct entry *e)
{
    char *key = tuple_key(e->id, e->object, NULL);
    struct entry *before = qmf_dict_get(j->latest, key);

    if (before != e) {
        if (before != NULL)
            before->superseded = true;
        qmf_dict_set(j->latest, key, e);
    }
    free(key);
    e->superseded = false;
    list_unlink(j, e);
    list_append(j, e);
}

static void
entry_free(struct entry *e)
{
    free(e->id);
    free(e->object);
    free(e->begin_rec);
    free(e->end_rec);
    free(e->delivered_rec);
    free(e);
}

static void
entry_remove(struct journal *j, struct entry *e)
{
    char *key = tuple_key(e->id, e->object, entry_digest(e));

    account(j, e, -1);
    qmf_dict_take(j->index, key);
    free(key);
    key = tuple_key(e->id, e->object, NULL);
    if (qmf_dict_get(j->latest, key) == e)
        qmf_dict_take(j->latest, key);
    free(key);
    list_unlink(j, e);
    j->entries--;
    entry_free(e);
}

/*
 * The state changes, shared by replay and the API (which checks first that
 * they are allowed).  Each takes ownership of the raw record rec.
 */
static void
apply_begin(struct journal *j, struct entry *e, char *rec, size_t len,
            uint32_t attempt, size_t prepared_off, size_t prepared_len)
{
    account(j, e, -1);
    free(e->begin_rec);
    e->begin_rec = rec;
    e->begin_len = len;
    e->prepared_off = prepared_off;
    e->prepared_len = prepared_len;
    /* A compacted file keeps only the last BEGIN, which carries the count. */
    e->attempts = attempt > e->attempts + 1 ? attempt : e->attempts + 1;
    e->state = JOURNAL_BEGUN;
    account(j, e, 1);
    entry_make_latest(j, e);
}

static void
apply_end(struct journal *j, struct entry *e, char *rec, size_t len,
          size_t result_off, size_t result_len, uint64_t end_pos)
{
    account(j, e, -1);
    e->end_rec = rec;
    e->end_len = len;
    e->result_off = result_off;
    e->result_len = result_len;
    e->end_pos = end_pos;
    e->state = JOURNAL_DONE;
    account(j, e, 1);
    /* The undelivered outcomes are listed in the order they were recorded
     * (entry_make_latest moves e to the end). */
    entry_make_latest(j, e);
}

static void
apply_delivered(struct journal *j, struct entry *e, char *rec, size_t len)
{
    account(j, e, -1);
    e->delivered_rec = rec;
    e->delivered_len = len;
    e->delivered = true;
    account(j, e, 1);
}

/* Appends a record the caller has applied; returns its end position. */
static uint64_t
pending_append(struct journal *j, const char *rec, size_t len, bool needs_sync)
{
    buf_append(&j->pending, rec, len);
    j->pending_records++;
    j->appended_pos += len;
    if (needs_sync)
        j->sync_pos = j->appended_pos;
    return j->appended_pos;
}

static int
write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int
sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/*
 * Writes data as the new journal file: aside, fsync'd, renamed over the
 * old one, directory fsync'd.  *newfd gets the new file open for appending.
 * Returns 0; -1 if the old file is untouched; -2 if the rename happened but
 * may not be durable (*newfd is still set).  Blocking, without the mutex.
 */
static int
file_replace(const struct journal *j, const char *data, size_t len,
             int *newfd, unsigned *syncs, qmf_error *err)
{
    int fd;

    fd = open(j->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: %s", j->tmp_path,
                      strerror(errno));
        return -1;
    }
    (*syncs)++;
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0 ||
        rename(j->tmp_path, j->path) != 0) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: writing a new file: %s",
                      j->path, strerror(errno));
        close(fd);
        unlink(j->tmp_path);
        return -1;
    }
    *newfd = fd;
    (*syncs)++;
    if (sync_dir(j->dir_path) != 0) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: fsync: %s",
                      j->dir_path, strerror(errno));
        return -2;
    }
    return 0;
}

static void
journal_fail(struct journal *j, const qmf_error *why)
{
    if (!j->failed) {
        j->failed = true;
        j->failure = *why;
    }
}

/* Called with the mutex held; ends (a side effect) a backoff turn. */
static bool
compaction_wanted(struct journal *j)
{
    size_t bytes = j->file_bytes + j->pending.len;
    size_t half_entries = j->lim.max_entries / 2, half_bytes = j->lim.max_bytes / 2;
    size_t keep_entries, keep_bytes;

    if (j->entries <= j->lim.max_entries && bytes <= j->lim.max_bytes)
        return false;
    if (j->compact_skip > 0) {
        j->compact_skip--;
        return false;
    }
    /* Only worth it if it frees a quarter of a limit: amortised O(1). */
    keep_entries = j->pinned_entries > half_entries ? j->pinned_entries : half_entries;
    if (keep_entries > j->entries)
        keep_entries = j->entries;
    keep_bytes = j->pinned_bytes > half_bytes ? j->pinned_bytes : half_bytes;
    if (keep_bytes > j->entry_bytes)
        keep_bytes = j->entry_bytes;
    keep_bytes += HEADER_LEN;
    return j->entries - keep_entries >= j->lim.max_entries / 4 ||
        (bytes > keep_bytes && bytes - keep_bytes >= j->lim.max_bytes / 4);
}

/*
 * The leader's compaction, entered and left with the mutex held.  0 if
 * the new file is in place (everything pending is in it); -1 if it was not
 * written, in which case pending is as before and the caller appends it.
 */
static int
journal_compact(struct journal *j)
{
    size_t room_entries, room_bytes, records = 0, half_bytes = j->lim.max_bytes / 2;
    struct buf snap = { 0 }, taken;
    size_t taken_records;
    struct entry *e, *next;
    bool keep_delivered = true;
    uint64_t end_pos;
    unsigned syncs = 0;
    qmf_error err;
    int newfd = -1, oldfd, rc;

    /* Every BEGUN and undelivered entry, then the newest delivered ones. */
    room_entries = j->lim.max_entries / 2 > j->pinned_entries ?
        j->lim.max_entries / 2 - j->pinned_entries : 0;
    room_bytes = half_bytes > j->pinned_bytes + HEADER_LEN ?
        half_bytes - j->pinned_bytes - HEADER_LEN : 0;
    for (e = j->tail; e != NULL; e = e->prev) {
        if (entry_pinned(e))
            continue;
        if (keep_delivered && room_entries > 0 && entry_bytes(e) <= room_bytes) {
            room_entries--;
            room_bytes -= entry_bytes(e);
        } else {
            keep_delivered = false;
            e->dropping = true;
        }
    }
    buf_append(&snap, JOURNAL_MAGIC, 8);
    {
        unsigned char v[8];

        put_u32(v, JOURNAL_VERSION);
        put_u32(v + 4, 0);
        buf_append(&snap, v, sizeof(v));
    }
    for (e = j->head; e != NULL; e = e->next) {
        if (e->dropping)
            continue;
        if (e->begin_rec != NULL) {
            buf_append(&snap, e->begin_rec, e->begin_len);
            records++;
        }
        if (e->end_rec != NULL) {
            buf_append(&snap, e->end_rec, e->end_len);
            records++;
        }
        if (e->delivered_rec != NULL) {
            buf_append(&snap, e->delivered_rec, e->delivered_len);
            records++;
        }
    }
    /* What is pending is in the snapshot; keep it in case this fails. */
    taken = j->pending;
    taken_records = j->pending_records;
    memset(&j->pending, 0, sizeof(j->pending));
    j->pending_records = 0;
    end_pos = j->appended_pos;

    pthread_mutex_unlock(&j->lock);
    rc = file_replace(j, snap.data, snap.len, &newfd, &syncs, &err);
    free(snap.data);
    oldfd = j->fd;
    if (rc != -1)
        close(oldfd);
    pthread_mutex_lock(&j->lock);

    j->fsyncs += syncs;
    if (rc == -1) {
        struct buf merged = taken;

        /* Records that came meanwhile go after the ones taken. */
        buf_append(&merged, j->pending.data, j->pending.len);
        free(j->pending.data);
        j->pending = merged;
        j->pending_records += taken_records;
        for (e = j->head; e != NULL; e = e->next)
            e->dropping = false;
        j->compaction_failures++;
        j->compact_backoff = j->compact_backoff == 0 ? 1 :
            j->compact_backoff >= COMPACT_BACKOFF_MAX ? COMPACT_BACKOFF_MAX :
            j->compact_backoff * 2;
        j->compact_skip = j->compact_backoff;
        return -1;
    }
    free(taken.data);
    j->fd = newfd;
    j->file_bytes = snap.len;
    j->file_records = records;
    /* If the rename may not last, neither may the records taken into it. */
    if (rc == 0 && j->written_pos < end_pos)
        j->written_pos = end_pos;
    if (rc == 0 && j->synced_pos < end_pos)
        j->synced_pos = end_pos;
    for (e = j->head; e != NULL; e = next) {
        next = e->next;
        if (e->dropping)
            entry_remove(j, e);
    }
    j->compactions++;
    j->compact_backoff = 0;
    if (rc == -2)
        journal_fail(j, &err);
    return 0;
}

/* Mutex held: after a compaction or a failure, which answer everyone. */
static void
wake_all(struct journal *j)
{
    pthread_cond_broadcast(&j->turn[0]);
    pthread_cond_broadcast(&j->turn[1]);
}

/*
 * One group commit, entered and left with the mutex held and no other
 * leader: compacts if due, else writes everything pending and fsyncs it if
 * a BEGIN or END is among it.  Wakes the waiters.
 */
static void
journal_lead(struct journal *j)
{
    struct buf out;
    size_t records;
    uint64_t end_pos;
    bool need_sync;
    int rc = 0, fd;
    unsigned syncs = 0;
    bool took_batch = false;
    qmf_error err;

    j->leader = true;
    if (compaction_wanted(j) && journal_compact(j) == 0)
        goto done;
    if (j->pending.len == 0)
        goto done;
    out = j->pending;
    records = j->pending_records;
    memset(&j->pending, 0, sizeof(j->pending));
    j->pending_records = 0;
    end_pos = j->appended_pos;
    j->batch_gen++;
    j->batch_end = end_pos;
    took_batch = true;
    need_sync = j->sync_pos > j->synced_pos;
    fd = j->fd;

    pthread_mutex_unlock(&j->lock);
    if (write_all(fd, out.data, out.len) != 0) {
        rc = -1;
        qmf_error_set(&err, QMF_ERR_INTERNAL, "journal %s: write: %s",
                      j->path, strerror(errno));
    } else if (need_sync) {
        syncs++;
        if (fdatasync(fd) != 0) {
            rc = -1;
            qmf_error_set(&err, QMF_ERR_INTERNAL, "journal %s: fdatasync: %s",
                          j->path, strerror(errno));
        }
    }
    free(out.data);
    pthread_mutex_lock(&j->lock);

    j->fsyncs += syncs;
    if (rc != 0) {
        journal_fail(j, &err);
        goto done;
    }
    j->file_bytes += out.len;
    j->file_records += records;
    j->written_pos = end_pos;
    if (need_sync)
        j->synced_pos = end_pos;
done:
    j->leader = false;
    if (!took_batch || j->failed) {
        wake_all(j);
        return;
    }
    pthread_cond_broadcast(&j->turn[j->batch_gen & 1]);
    if (j->pending.len > 0)
        pthread_cond_signal(&j->turn[(j->batch_gen + 1) & 1]);
}

/* With the mutex held: until pos is written (and synced if sync). */
static int
journal_wait(struct journal *j, uint64_t pos, bool sync, qmf_error *err)
{
    for (;;) {
        if (sync ? j->synced_pos >= pos : j->written_pos >= pos)
            return 0;
        if (j->failed) {
            if (err != NULL)
                *err = j->failure;
            return -1;
        }
        if (!j->leader)
            journal_lead(j);
        else    /* the leader's batch holds pos, or the next one will */
            pthread_cond_wait(&j->turn[(j->batch_gen + (pos <= j->batch_end ? 0 : 1)) & 1],
                              &j->lock);
    }
}

static int
refuse_if_failed(struct journal *j, qmf_error *err)
{
    if (!j->failed)
        return 0;
    if (err != NULL)
        *err = j->failure;
    return -1;
}

/* Replays the file into memory, truncating a bad tail.  Mutex not needed. */
static int
journal_replay(struct journal *j, size_t *dropped, qmf_error *err)
{
    struct stat st;
    char *data;
    size_t size, off, got = 0;
    uint32_t version = 0;
    struct record r;
    struct entry *e;

    if (fstat(j->fd, &st) != 0) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: %s", j->path, strerror(errno));
        return -1;
    }
    size = (size_t)st.st_size;
    data = qmf_xmalloc(size + 1);
    while (got < size) {
        ssize_t n = pread(j->fd, data + got, size - got, (off_t)got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: read: %s", j->path,
                          n < 0 ? strerror(errno) : "file shrank");
            free(data);
            return -1;
        }
        got += (size_t)n;
    }
    if (size >= HEADER_LEN)
        version = get_u32((unsigned char *)data + 8);
    if (size < HEADER_LEN || memcmp(data, JOURNAL_MAGIC, 8) != 0 ||
        (version != JOURNAL_VERSION && version != JOURNAL_VERSION_1)) {
        if (size >= 8 && memcmp(data, JOURNAL_MAGIC, 8) == 0)
            qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: unsupported version",
                          j->path);
        else
            qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: not a virtbus journal",
                          j->path);
        free(data);
        return -1;
    }
    for (off = HEADER_LEN; off < size; off += r.len) {
        char *rec;

        if (record_parse(j, data + off, size - off, &r) != 0)
            break;
        rec = qmf_xmalloc(r.len);
        memcpy(rec, data + off, r.len);
        {
            char *id = qmf_xstrndup(r.id, r.id_len);
            char *object = qmf_xstrndup(r.object, r.object_len);

            e = entry_find(j, id, object, r.digest);
            /* As journal_begin and journal_end do: a stale outcome goes
             * and the command starts afresh. */
            if (e != NULL && r.type != REC_DELIVERED && entry_stale(e)) {
                entry_remove(j, e);
                e = NULL;
            }
            if (e == NULL && r.type != REC_DELIVERED)
                e = entry_create(j, r.id, r.id_len, r.object, r.object_len, r.digest);
            free(id);
            free(object);
        }
        /* Records the API would have refused change nothing. */
        if (r.type == REC_BEGIN && e->state != JOURNAL_DONE)
            apply_begin(j, e, rec, r.len, r.attempt, r.result_off, r.result_len);
        else if (r.type == REC_END && e->state != JOURNAL_DONE)
            apply_end(j, e, rec, r.len, r.result_off, r.result_len,
                      j->appended_pos + off + r.len);
        else if (r.type == REC_DELIVERED && e != NULL &&
                 e->state == JOURNAL_DONE && !e->delivered)
            apply_delivered(j, e, rec, r.len);
        else
            free(rec);
        j->file_records++;
    }
    free(data);
    if (off < size) {
        if (ftruncate(j->fd, (off_t)off) != 0 || fsync(j->fd) != 0) {
            qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: truncating a bad tail: %s",
                          j->path, strerror(errno));
            return -1;
        }
        j->fsyncs++;
    }
    *dropped = size - off;
    j->upgrade = version == JOURNAL_VERSION_1;
    j->file_bytes = off;
    j->appended_pos += off;
    j->sync_pos = j->written_pos = j->synced_pos = j->appended_pos;
    return 0;
}

/* Creates the file, or replaces one whose header a crash tore. */
static int
journal_create(struct journal *j, qmf_error *err)
{
    unsigned char hdr[HEADER_LEN];
    unsigned syncs = 0;
    int rc;

    memcpy(hdr, JOURNAL_MAGIC, 8);
    put_u32(hdr + 8, JOURNAL_VERSION);
    put_u32(hdr + 12, 0);
    rc = file_replace(j, (const char *)hdr, sizeof(hdr), &j->fd, &syncs, err);
    j->fsyncs += syncs;
    if (rc == -2) {
        close(j->fd);
        j->fd = -1;
    }
    return rc == 0 ? 0 : -1;
}

static void
journal_free(struct journal *j)
{
    struct entry *e, *next;

    for (e = j->head; e != NULL; e = next) {
        next = e->next;
        entry_free(e);
    }
    qmf_dict_free(j->index);
    qmf_dict_free(j->latest);
    if (j->fd >= 0)
        close(j->fd);
    if (j->lock_fd >= 0)
        close(j->lock_fd);
    EVP_MD_free(j->sha256);
    free(j->pending.data);
    free(j->path);
    free(j->tmp_path);
    free(j->dir_path);
    pthread_cond_destroy(&j->turn[0]);
    pthread_cond_destroy(&j->turn[1]);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

int
journal_open(struct journal **out, const char *path,
             const struct journal_limits *lim, size_t *dropped, qmf_error *err)
{
    struct journal *j;
    const char *slash;
    char *lock_path;
    size_t cut = 0;

    *out = NULL;
    if (dropped != NULL)
        *dropped = 0;
    if (path == NULL || *path == '\0') {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "journal: no path");
        return -1;
    }
    if (lim != NULL && (lim->max_entries < JOURNAL_MIN_ENTRIES ||
                        lim->max_bytes < JOURNAL_MIN_BYTES)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "journal %s: limits below %u entries or %u bytes", path,
                      JOURNAL_MIN_ENTRIES, JOURNAL_MIN_BYTES);
        return -1;
    }
    j = qmf_xcalloc(1, sizeof(*j));
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->turn[0], NULL);
    pthread_cond_init(&j->turn[1], NULL);
    j->fd = j->lock_fd = -1;
    j->path = qmf_xstrdup(path);
    j->tmp_path = qmf_xasprintf("%s.tmp", path);
    slash = strrchr(path, '/');
    j->dir_path = slash == NULL ? qmf_xstrdup(".") :
        slash == path ? qmf_xstrdup("/") : qmf_xstrndup(path, (size_t)(slash - path));
    j->lim.max_entries = lim != NULL ? lim->max_entries : JOURNAL_DEFAULT_MAX_ENTRIES;
    j->lim.max_bytes = lim != NULL ? lim->max_bytes : JOURNAL_DEFAULT_MAX_BYTES;
    j->index = qmf_dict_new(NULL);
    j->latest = qmf_dict_new(NULL);
    if ((j->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "journal: OpenSSL has no SHA-256");
        goto fail;
    }

    lock_path = qmf_xasprintf("%s.lock", path);
    j->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lock_path);
    if (j->lock_fd < 0) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s.lock: %s", path,
                      strerror(errno));
        goto fail;
    }
    if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: %s", path,
                      errno == EWOULDBLOCK ? "in use by another agent" : strerror(errno));
        goto fail;
    }

    /* A compaction a crash interrupted; the journal itself is whole. */
    if (unlink(j->tmp_path) != 0 && errno != ENOENT) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: %s", j->tmp_path,
                      strerror(errno));
        goto fail;
    }
    j->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (j->fd < 0 && errno != ENOENT) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: %s", path, strerror(errno));
        goto fail;
    }
    if (j->fd >= 0) {
        struct stat st;
        char head[HEADER_LEN];
        ssize_t n;

        if (fstat(j->fd, &st) != 0) {
            qmf_error_set(err, QMF_ERR_INTERNAL, "journal %s: %s", path, strerror(errno));
            goto fail;
        }
        /* Shorter than a header and starting like ours: a torn creation. */
        if (st.st_size < HEADER_LEN) {
            n = pread(j->fd, head, (size_t)st.st_size, 0);
            if (n == st.st_size &&
                memcmp(head, JOURNAL_MAGIC, n < 8 ? (size_t)n : 8) == 0) {
                cut = (size_t)st.st_size;
                close(j->fd);
                j->fd = -1;
            }
        }
    }
    if (j->fd < 0) {
        if (journal_create(j, err) != 0)
            goto fail;
        j->appended_pos = HEADER_LEN;
        j->sync_pos = j->written_pos = j->synced_pos = HEADER_LEN;
        j->file_bytes = HEADER_LEN;
    } else if (journal_replay(j, &cut, err) != 0) {
        goto fail;
    }
    if (j->upgrade) {
        /* Rewritten as version 2 (every record copied as it is); should
         * that fail, the file stays version 1 with version 2 records
         * appended, which the next open reads alike and tries again. */
        pthread_mutex_lock(&j->lock);
        j->leader = true;
        (void)journal_compact(j);
        j->leader = false;
        pthread_mutex_unlock(&j->lock);
    }
    if (dropped != NULL)
        *dropped = cut;
    *out = j;
    return 0;
fail:
    journal_free(j);
    return -1;
}

void
journal_close(struct journal *j)
{
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->lock);
    if (!j->failed)
        journal_wait(j, j->appended_pos, false, NULL);
    pthread_mutex_unlock(&j->lock);
    journal_free(j);
}

static const char *
object_or_empty(const char *object)
{
    return object != NULL ? object : "";
}

static int
check_id(const char *id, qmf_error *err)
{
    if (id == NULL || *id == '\0') {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "journal: a command needs an id");
        return -1;
    }
    return 0;
}

enum journal_state
journal_lookup(struct journal *j, const char *id, const char *object,
               const uint8_t *digest, qmf_value **result, unsigned *attempts,
               bool *delivered)
{
    enum journal_state state = JOURNAL_UNKNOWN;
    unsigned tries = 0;
    bool confirmed = false;
    char *encoded = NULL;
    size_t encoded_len = 0;
    struct entry *e;

    if (result != NULL)
        *result = NULL;
    if (id != NULL) {
        pthread_mutex_lock(&j->lock);
        e = entry_find(j, id, object_or_empty(object), digest);
        if (e != NULL && !entry_stale(e)) {
            tries = e->attempts;
            state = e->state;
            /* An outcome counts once its END is on disk. */
            if (state == JOURNAL_DONE && e->end_pos > j->synced_pos)
                state = tries > 0 ? JOURNAL_BEGUN : JOURNAL_UNKNOWN;
            if (state == JOURNAL_DONE) {
                confirmed = e->delivered;
                if (result != NULL) {
                    encoded_len = e->result_len;
                    encoded = qmf_xmalloc(encoded_len);
                    memcpy(encoded, e->end_rec + e->result_off, encoded_len);
                }
            }
        }
        pthread_mutex_unlock(&j->lock);
    }
    if (encoded != NULL) {
        *result = qmf_from_amqp(encoded, encoded_len, NULL);
        free(encoded);
    }
    if (attempts != NULL)
        *attempts = tries;
    if (delivered != NULL)
        *delivered = confirmed;
    return state;
}

int
journal_begin(struct journal *j, const char *id, const char *object,
              const uint8_t *digest, const qmf_value *if_interrupted, qmf_error *err)
{
    struct entry *e;
    char *rec, *prepared = NULL;
    size_t len, prepared_len = 0;
    uint64_t pos;
    int rc;

    if (check_id(id, err) != 0)
        return -1;
    if (if_interrupted != NULL && outcome_encode(if_interrupted, &prepared, &prepared_len,
                                                 err) != 0)
        return -1;
    object = object_or_empty(object);
    /* Made before the lock, as a first attempt (nearly every BEGIN is):
     * the loop and every worker share that lock. */
    rec = record_encode(j, REC_BEGIN, id, object, digest, 1, prepared, prepared_len, &len,
                        err);
    if (rec == NULL) {
        free(prepared);
        return -1;
    }
    pthread_mutex_lock(&j->lock);
    if (refuse_if_failed(j, err) != 0)
        goto fail;
    e = entry_find(j, id, object, digest);
    if (e != NULL && entry_stale(e)) {
        entry_remove(j, e);
        e = NULL;
    }
    if (e != NULL && e->state == JOURNAL_DONE) {
        qmf_error_set(err, QMF_ERR_INTERNAL,
                      "journal: command %s%s%s has already run", id,
                      *object != '\0' ? " on " : "", object);
        goto fail;
    }
    if (e != NULL && e->attempts > 0) {
        free(rec);
        rec = record_encode(j, REC_BEGIN, id, object, digest, e->attempts + 1, prepared,
                            prepared_len, &len, err);
        if (rec == NULL)
            goto fail;
    }
    if ((e == NULL || e->state != JOURNAL_BEGUN) &&
        (j->pinned_entries >= j->lim.max_entries / 2 ||
         j->pinned_bytes + len > j->lim.max_bytes / 2)) {
        qmf_error_set(err, QMF_ERR_INTERNAL,
                      "journal full: %zu commands running or not confirmed by the "
                      "broker (%zu bytes), limit %zu or %zu bytes",
                      j->pinned_entries, j->pinned_bytes, j->lim.max_entries / 2,
                      j->lim.max_bytes / 2);
        goto fail;
    }
    if (e == NULL)
        e = entry_create(j, id, strlen(id), object, strlen(object), digest);
    pos = pending_append(j, rec, len, true);
    apply_begin(j, e, rec, len, e->attempts + 1,
                prepared_len ? record_tail_off(len, prepared_len) : 0, prepared_len);
    rc = journal_wait(j, pos, true, err);
    pthread_mutex_unlock(&j->lock);
    free(prepared);
    return rc;
fail:
    pthread_mutex_unlock(&j->lock);
    free(rec);
    free(prepared);
    return -1;
}

/* journal_end and journal_end_queued: queued, then waited for unless
 * *queued_pos is given, which gets the position to wait for instead. */
static int
end_record(struct journal *j, const char *id, const char *object, const uint8_t *digest,
           const qmf_value *result, uint64_t *queued_pos, qmf_error *err)
{
    struct entry *e;
    char *encoded = NULL, *rec;
    size_t encoded_len, len, bytes, pinned_entries, pinned_bytes, result_off;
    uint64_t pos;
    int rc;

    if (check_id(id, err) != 0)
        return -1;
    if (result == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "journal: an outcome is needed");
        return -1;
    }
    object = object_or_empty(object);
    if (outcome_encode(result, &encoded, &encoded_len, err) != 0)
        return -1;
    rec = record_encode(j, REC_END, id, object, digest, 0, encoded, encoded_len, &len, err);
    free(encoded);
    if (rec == NULL)
        return -1;
    result_off = record_tail_off(len, encoded_len);

    pthread_mutex_lock(&j->lock);
    if (refuse_if_failed(j, err) != 0)
        goto fail;
    e = entry_find(j, id, object, digest);
    if (e != NULL && entry_stale(e)) {
        entry_remove(j, e);
        e = NULL;
    }
    if (e != NULL && e->state == JOURNAL_DONE) {
        qmf_error_set(err, QMF_ERR_INTERNAL,
                      "journal: command %s%s%s already has an outcome", id,
                      *object != '\0' ? " on " : "", object);
        goto fail;
    }
    bytes = (e != NULL ? e->begin_len : 0) + len;
    pinned_entries = j->pinned_entries + (e != NULL && entry_pinned(e) ? 0 : 1);
    pinned_bytes = j->pinned_bytes - (e != NULL && entry_pinned(e) ? entry_bytes(e) : 0) +
        bytes;
    if (pinned_entries > j->lim.max_entries || pinned_bytes > j->lim.max_bytes) {
        qmf_error_set(err, QMF_ERR_INTERNAL,
                      "journal full: %zu outcomes not confirmed by the broker "
                      "(%zu bytes with this one), limit %zu or %zu bytes",
                      j->undelivered, pinned_bytes, j->lim.max_entries,
                      j->lim.max_bytes);
        goto fail;
    }
    if (e == NULL)
        e = entry_create(j, id, strlen(id), object, strlen(object), digest);
    pos = pending_append(j, rec, len, true);
    apply_end(j, e, rec, len, result_off, encoded_len, pos);
    if (queued_pos != NULL) {
        *queued_pos = pos;
        rc = 0;
    } else {
        rc = journal_wait(j, pos, true, err);
    }
    pthread_mutex_unlock(&j->lock);
    return rc;
fail:
    pthread_mutex_unlock(&j->lock);
    free(rec);
    return -1;
}

int
journal_end(struct journal *j, const char *id, const char *object,
            const uint8_t *digest, const qmf_value *result, qmf_error *err)
{
    return end_record(j, id, object, digest, result, NULL, err);
}

int
journal_end_queued(struct journal *j, const char *id, const char *object,
                   const uint8_t *digest, const qmf_value *result, uint64_t *pos,
                   qmf_error *err)
{
    return end_record(j, id, object, digest, result, pos, err);
}

int
journal_sync(struct journal *j, uint64_t pos, qmf_error *err)
{
    int rc;

    pthread_mutex_lock(&j->lock);
    rc = journal_wait(j, pos, true, err);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

bool
journal_synced(struct journal *j, uint64_t pos)
{
    bool synced;

    pthread_mutex_lock(&j->lock);
    synced = j->synced_pos >= pos;
    pthread_mutex_unlock(&j->lock);
    return synced;
}

void
journal_settle(struct journal *j, const char *id, const char *object, const uint8_t *digest)
{
    struct entry *e;

    if (id == NULL)
        return;
    pthread_mutex_lock(&j->lock);
    e = entry_find(j, id, object_or_empty(object), digest);
    /* A failed journal answers nothing more: the lookup says so. */
    if (e != NULL && e->state == JOURNAL_DONE && e->end_pos > j->synced_pos)
        (void)journal_wait(j, e->end_pos, true, NULL);
    pthread_mutex_unlock(&j->lock);
}

void
journal_delivered(struct journal *j, const char *id, const char *object,
                  const uint8_t *digest)
{
    struct entry *e;
    char *rec;
    size_t len;

    if (id == NULL)
        return;
    object = object_or_empty(object);
    /* Made before the lock, which the loop (our caller) shares with every
     * worker: the record does not depend on the entry. */
    if ((rec = record_encode(j, REC_DELIVERED, id, object, digest, 0, NULL, 0, &len,
                             NULL)) == NULL)
        return;
    pthread_mutex_lock(&j->lock);
    e = entry_find(j, id, object, digest);
    if (e != NULL && e->state == JOURNAL_DONE && !e->delivered) {
        pending_append(j, rec, len, false);
        apply_delivered(j, e, rec, len);
        rec = NULL;
    }
    pthread_mutex_unlock(&j->lock);
    free(rec);
}

int
journal_flush(struct journal *j, qmf_error *err)
{
    int rc;

    pthread_mutex_lock(&j->lock);
    if (refuse_if_failed(j, err) != 0) {
        pthread_mutex_unlock(&j->lock);
        return -1;
    }
    /* Nothing may be pending, and compaction still due (e.g. after open). */
    if (!j->leader && j->pending.len == 0 && compaction_wanted(j)) {
        j->leader = true;
        (void)journal_compact(j);   /* on failure the old file simply stays */
        j->leader = false;
        wake_all(j);
    }
    rc = journal_wait(j, j->appended_pos, false, err);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

/* What a listing hands out, copied under the mutex. */
struct entry_copy {
    char *id, *object, *encoded;
    size_t encoded_len;
    uint8_t digest[JOURNAL_DIGEST_LEN];
    bool has_digest;
    unsigned attempts;
};

static void
entry_copy_names(struct entry_copy *c, const struct entry *e)
{
    c->id = qmf_xstrdup(e->id);
    c->object = qmf_xstrdup(e->object);
    memcpy(c->digest, e->digest, JOURNAL_DIGEST_LEN);
    c->has_digest = e->has_digest;
    c->attempts = e->attempts;
}

static void
entry_copy_free(struct entry_copy *c)
{
    free(c->id);
    free(c->object);
    free(c->encoded);
}

size_t
journal_undelivered(struct journal *j,
                    void (*fn)(const char *id, const char *object,
                               const uint8_t *digest, qmf_value *result, void *opaque),
                    void *opaque)
{
    struct entry_copy *copies = NULL;
    size_t n = 0, i;
    struct entry *e;

    pthread_mutex_lock(&j->lock);
    if (fn != NULL)
        copies = qmf_xcalloc(j->undelivered + 1, sizeof(*copies));
    for (e = j->head; e != NULL; e = e->next) {
        if (e->state != JOURNAL_DONE || e->delivered || e->end_pos > j->synced_pos)
            continue;
        if (copies != NULL) {
            entry_copy_names(&copies[n], e);
            copies[n].encoded_len = e->result_len;
            copies[n].encoded = qmf_xmalloc(e->result_len);
            memcpy(copies[n].encoded, e->end_rec + e->result_off, e->result_len);
        }
        n++;
    }
    pthread_mutex_unlock(&j->lock);
    for (i = 0; copies != NULL && i < n; i++) {
        qmf_value *v = qmf_from_amqp(copies[i].encoded, copies[i].encoded_len, NULL);

        fn(copies[i].id, copies[i].object, copies[i].has_digest ? copies[i].digest : NULL, v,
           opaque);
        entry_copy_free(&copies[i]);
    }
    free(copies);
    return n;
}

size_t
journal_begun(struct journal *j,
              void (*fn)(const char *id, const char *object, const uint8_t *digest,
                         unsigned attempts, qmf_value *if_interrupted, void *opaque),
              void *opaque)
{
    struct entry_copy *copies = NULL;
    size_t n = 0, cap = 0, i;
    struct entry *e;

    pthread_mutex_lock(&j->lock);
    for (e = j->head; e != NULL; e = e->next) {
        if (e->state != JOURNAL_BEGUN)
            continue;
        if (fn != NULL) {
            if (n == cap) {
                cap = cap != 0 ? cap * 2 : 16;
                copies = qmf_xrealloc(copies, cap * sizeof(*copies));
            }
            entry_copy_names(&copies[n], e);
            copies[n].encoded = NULL;
            copies[n].encoded_len = e->prepared_len;
            if (e->prepared_len > 0) {
                copies[n].encoded = qmf_xmalloc(e->prepared_len);
                memcpy(copies[n].encoded, e->begin_rec + e->prepared_off, e->prepared_len);
            }
        }
        n++;
    }
    pthread_mutex_unlock(&j->lock);
    for (i = 0; fn != NULL && i < n; i++) {
        qmf_value *prepared = copies[i].encoded != NULL ?
            qmf_from_amqp(copies[i].encoded, copies[i].encoded_len, NULL) : NULL;

        fn(copies[i].id, copies[i].object, copies[i].has_digest ? copies[i].digest : NULL,
           copies[i].attempts, prepared, opaque);
        entry_copy_free(&copies[i]);
    }
    free(copies);
    return n;
}

void
journal_get_stats(struct journal *j, struct journal_stats *st)
{
    pthread_mutex_lock(&j->lock);
    st->records = j->file_records + j->pending_records;
    st->entries = j->entries;
    st->undelivered = j->undelivered;
    st->bytes = j->file_bytes + j->pending.len;
    st->fsyncs = j->fsyncs;
    st->compactions = j->compactions;
    st->compaction_failures = j->compaction_failures;
    pthread_mutex_unlock(&j->lock);
}
