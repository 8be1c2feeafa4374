/*
 * The command journal: makes the effect of a command delivered at least
 * once happen at most once, keeps its outcome so that a redelivered or
 * re-sent command gets the recorded answer again, and holds the outcomes
 * the broker has not confirmed yet (the spool flushed after a reconnect).
 * One journal file per agent, in its state directory.
 *
 * A command is known by its id (the request's message-id), the object it
 * acts on, and a digest of its sender and of everything that decides its
 * effect (computed by the caller; docs/PROTOCOL.md §9.3).  The digest is
 * what keeps a reused message-id harmless: the same id with other content,
 * or from another sender, is another command.  Per (id, object) the journal
 * also knows which command came last; a delivered outcome that a later
 * command under the same (id, object) has superseded no longer answers a
 * repeat, so a console that reuses one id (Qpid's sends "qmf2" every time)
 * can run start, destroy, start.  An undelivered or begun one still does:
 * it may be a redelivery that has to be answered, never run twice.
 *
 * Life of a command (id, object, digest):
 *     UNKNOWN --begin--> BEGUN --end--> DONE --delivered--> DONE, delivered
 *     DONE, delivered, superseded: taken for UNKNOWN; begin or end starts it
 *     afresh
 * begin is written and fsync'd BEFORE the effect, end (the outcome) AFTER
 * the effect and before the request is acked, so that after a SIGKILL the
 * journal says the truth: UNKNOWN means it never started, BEGUN that it may
 * have run (attempts says how often it was started), DONE that it ran and
 * what came of it.  A DONE command is never begun again, unless superseded.
 *
 * File format (all integers big-endian):
 *     header  "VBJOURNL" | u32 version (2) | u32 0
 *     record  u32 len | u8 type | payload[len - 1] | checksum[8]
 * len counts type and payload; checksum is the first 8 bytes of SHA-256
 * over type and payload.  The payload is
 *     u32 id_len | id | u32 object_len | object | [digest[32]] | i64 ts
 * with ts in ns since the epoch, and the digest present when the type has
 * bit 0x80 set (version 1 wrote none; its records are still read, as
 * commands without a digest).  Then, for BEGIN (1): u32 attempt (1 for the
 * first), then optionally the outcome to record should the command be found
 * interrupted, as one AMQP 1.0 encoded value; for END (2): the result as one
 * AMQP 1.0 encoded value (an exact, typed round trip); DELIVERED (3) has
 * nothing more.  Strings are length-prefixed bytes, so any string (but NUL,
 * which C strings cannot hold) is stored as is.  A version 1 file is
 * rewritten as version 2 when it is opened.
 *
 * Crash safety: records are only appended, and a new file (creation,
 * compaction) is written aside, fsync'd, renamed over the old one and the
 * directory fsync'd.  A crash can therefore only leave a torn last record,
 * which journal_open drops.  Replay stops at the first record whose length,
 * checksum or payload is wrong and truncates the file there, even if valid
 * records seemed to follow: past a damaged length there is no trustworthy
 * record boundary, and a later record (an END, a DELIVERED) means nothing
 * without the ones it follows.  A crash never does this in mid-file; media
 * damage can, and the caller logs the byte count journal_open reports.
 *
 * Bounds and compaction: when the file holds more than max_entries
 * commands or max_bytes bytes, the next blocking call rewrites it with
 * every BEGUN and every undelivered DONE command, plus the newest delivered
 * ones while the whole stays under half of each limit; older delivered
 * commands are forgotten (a very late duplicate of one would run again).
 * Outcomes not yet delivered are never dropped; instead
 *   - journal_begin refuses a new command ("journal full") while the
 *     BEGUN and undelivered commands take half of either limit, so that the
 *     agent stops taking commands before it has run them, and
 *   - journal_end fails if recording the outcome would make the BEGUN and
 *     undelivered commands exceed either whole limit (only possible when
 *     many begun commands end with big results): the command then stays
 *     BEGUN, as if the agent had crashed before recording it.
 *
 * I/O errors: a failed write, fsync or truncate makes the journal refuse
 * every later begin, end and flush (what reached the disk is unknown, as
 * with PostgreSQL after a failed fsync); reopening it recovers.
 *
 * Threading: every call takes the journal's one mutex and may come from any
 * thread.  journal_open, journal_close, journal_begin, journal_end and
 * journal_flush do disk I/O and may block: call them from worker threads
 * (or at start-up and shutdown), never from the event loop.
 * journal_lookup, journal_delivered, journal_undelivered, journal_begun
 * and journal_get_stats never touch the disk; they may wait for the mutex
 * while a compaction copies the retained records into one buffer (a
 * memcpy of at most max_bytes, usually half of it, once per max_bytes / 4
 * of growth at least).  Concurrent begins and ends share fsyncs (group
 * commit); journal_end_queued lets an END share the fsync of whatever is
 * written next, without a thread waiting for it meanwhile.
 *
 * Files: besides path, "<path>.lock" (held with flock(2) while open; left
 * in place) and "<path>.tmp" (a compaction in progress; removed at open).
 *
 * Costs: lookups are O(1) (the core's dictionaries on id, object and
 * digest, and on id and object for the latest command) plus
 * decoding the outcome; begin and end are O(record) plus an fsync;
 * compaction is O(retained bytes), amortised O(1) per record; listings are
 * O(entries).  journal_open reads, checksums and decodes every record
 * (about 0.4 to 0.8 s for a full default journal of 100000 outcomes).
 * Memory holds each retained record once.
 */
#ifndef AGENT_JOURNAL_H
#define AGENT_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/value.h"

#define JOURNAL_DEFAULT_MAX_ENTRIES 100000
#define JOURNAL_DEFAULT_MAX_BYTES   (64u * 1024 * 1024)
/* journal_open refuses limits below these. */
#define JOURNAL_MIN_ENTRIES 4
#define JOURNAL_MIN_BYTES   4096
/* The largest record (an encoded outcome with its id and object). */
#define JOURNAL_RECORD_MAX  (16u * 1024 * 1024)
/* A command's digest: SHA-256 of its sender and content. */
#define JOURNAL_DIGEST_LEN  32

struct journal;

struct journal_limits {
    size_t max_entries;     /* commands (id, object) kept */
    size_t max_bytes;       /* file size */
};

enum journal_state { JOURNAL_UNKNOWN, JOURNAL_BEGUN, JOURNAL_DONE };

/*
 * Opens path, creating it (and a lock file "<path>.lock", held so that a
 * second agent on the same state directory is refused), replays it and
 * repairs a torn or damaged tail by truncating it; *dropped (if non-NULL)
 * gets the number of bytes cut off, for the caller to log.  lim NULL means
 * the defaults.  A file that is not a journal is refused, never truncated.
 * Blocking.
 */
int journal_open(struct journal **out, const char *path,
                 const struct journal_limits *lim, size_t *dropped,
                 qmf_error *err);
/* Writes the queued DELIVERED marks, then frees.  No other call may be
 * running or follow.  Blocking. */
void journal_close(struct journal *j);

/*
 * In every call below, object NULL or "" means the whole request, and
 * digest (JOURNAL_DIGEST_LEN bytes) NULL means a command without one.
 *
 * What is known of (id, object, digest): UNKNOWN also for a delivered
 * outcome that a later command under (id, object) superseded.
 * For DONE, *result (if result is non-NULL) gets a copy the caller frees and
 * *delivered whether the broker confirmed it; otherwise *result is NULL and
 * *delivered false.  *attempts counts BEGIN records.  An outcome is reported
 * DONE only once its END record is on disk.  Never blocks on disk.
 */
enum journal_state journal_lookup(struct journal *j, const char *id,
                                  const char *object, const uint8_t *digest,
                                  qmf_value **result,
                                  unsigned *attempts, bool *delivered);

/*
 * Records that execution starts, before the effect; returns once that is on
 * disk (fsync'd).  if_interrupted (or NULL) is kept with it: the outcome to
 * record if the command is found BEGUN after a crash, which must reach the
 * asker even when its request is gone (acked early, or expired).  Refused
 * for a DONE command, when the journal is full (see above) and after an I/O
 * error.  Blocking.
 */
int journal_begin(struct journal *j, const char *id, const char *object,
                  const uint8_t *digest, const qmf_value *if_interrupted,
                  qmf_error *err);

/*
 * Records the outcome (any value; the agent stores its reply and the
 * commandResult it publishes), after the effect and before the request is
 * acked; returns once that is on disk (fsync'd).  A command may end without
 * having begun (one that was never executed, e.g. expired).  Refused for a
 * DONE command, a record over JOURNAL_RECORD_MAX (QMF_ERR_TOO_LARGE), when
 * undelivered outcomes would exceed the limits, and after an I/O error.
 * Blocking.
 */
int journal_end(struct journal *j, const char *id, const char *object,
                const uint8_t *digest, const qmf_value *result, qmf_error *err);

/*
 * journal_end without the wait, so that the END shares an fsync with what
 * comes after it (the next BEGIN on the object, other commands' records):
 * the record is queued and *pos says how far the file must be on disk for
 * it to count.  Until journal_sync(j, *pos) has returned 0 the outcome is
 * not durable, and lookups report the command as BEGUN (journal_settle
 * waits for it).  Refused as journal_end is.  Never blocks on disk.
 */
int journal_end_queued(struct journal *j, const char *id, const char *object,
                       const uint8_t *digest, const qmf_value *result, uint64_t *pos,
                       qmf_error *err);
/* Returns once everything queued up to pos is on disk (fsync'd), leading a
 * group commit if no one else does; -1 after an I/O error.  Blocking. */
int journal_sync(struct journal *j, uint64_t pos, qmf_error *err);
/* Whether everything up to pos is on disk.  Never blocks on disk. */
bool journal_synced(struct journal *j, uint64_t pos);
/* If the command has an END queued and not yet on disk, waits until it is
 * (or the journal failed), so that a lookup then tells its true state.
 * Blocking. */
void journal_settle(struct journal *j, const char *id, const char *object,
                    const uint8_t *digest);

/*
 * The broker confirmed the outcome's messages.  Only queued in memory: the
 * next begin, end, flush or compaction writes it, without an fsync (losing
 * it only means one duplicate reply later).  Ignored unless DONE.  Never
 * blocks on disk: the loop thread may call it.
 */
void journal_delivered(struct journal *j, const char *id, const char *object,
                       const uint8_t *digest);

/* Writes the queued DELIVERED marks (no fsync); may compact.  Blocking. */
int journal_flush(struct journal *j, qmf_error *err);

/*
 * The outcomes on disk but not delivered, oldest outcome first: calls fn
 * (if non-NULL) with copies the callee owns (it must free result; the
 * strings and digest are valid during the call), outside the mutex, so fn
 * may call the journal.  Returns how many there are.
 * Never blocks on disk.
 */
size_t journal_undelivered(struct journal *j,
                           void (*fn)(const char *id, const char *object,
                                      const uint8_t *digest, qmf_value *result,
                                      void *opaque),
                           void *opaque);

/*
 * The commands BEGUN and never ended, oldest first: calls fn (if non-NULL)
 * with each one's id, object, attempts and the outcome prepared at begin
 * (a copy the callee owns and frees, or NULL), outside the mutex.  Returns how
 * many there are.  They were interrupted by a crash; a redelivery usually
 * resolves them, but one whose request is gone for good (expired,
 * dead-lettered) stays BEGUN and counts against the limits until the agent
 * records an outcome for it (e.g. "interrupted, may have run").
 * Never blocks on disk.
 */
size_t journal_begun(struct journal *j,
                     void (*fn)(const char *id, const char *object,
                                const uint8_t *digest, unsigned attempts,
                                qmf_value *if_interrupted, void *opaque),
                     void *opaque);

struct journal_stats {
    size_t records;                 /* records in the file, queued ones included */
    size_t entries;                 /* commands known */
    size_t undelivered;             /* DONE and not delivered */
    size_t bytes;                   /* file size, queued records included */
    unsigned long fsyncs;           /* every fsync(2)/fdatasync(2) issued */
    unsigned long compactions;
    unsigned long compaction_failures;  /* the file was kept; retried later */
};
void journal_get_stats(struct journal *j, struct journal_stats *st);

#endif
