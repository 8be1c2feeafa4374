/*
 * The consoles' cache files (presence, the fleet's memory): JSON lines, a
 * header first, then one small document per agent.  One document for the
 * whole fleet would pass the decoder's bound on values (QMF_MAX_VALUES)
 * past about a thousand agents, and could not be read in part.
 */
#ifndef VIRTBUS_CACHE_FILE_H
#define VIRTBUS_CACHE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/value.h"

/* Cache files are a few hundred bytes an agent: anything past this is not
 * one of ours. */
#define CACHE_FILE_MAX (64u * 1024 * 1024)

/* The header's "format": a cache of another (format 1 was one JSON
 * document, with no such key) is no cache. */
#define CACHE_FILE_FORMAT 2

/* A cache being written: to a temporary file, renamed over the cache by
 * cache_file_commit, so that a reader never sees half of one. */
struct cache_file_writer {
    FILE *f;
    char *tmp;
    char *path;
};

/* Starts a cache with head as its first line, "format" added to it.  false
 * if the temporary file cannot be made (a cache is an optimisation: the
 * caller then writes none). */
bool cache_file_begin(struct cache_file_writer *w, const char *path, qmf_value *head);
/* Writes doc as one line. */
void cache_file_put(struct cache_file_writer *w, const qmf_value *doc);
/* Renames the file over the cache, or removes it if a write failed. */
void cache_file_commit(struct cache_file_writer *w);

/*
 * Lines that can be read without decoding an agent's values: its scalars
 * first, under keys the writer and the reader share, in their order, then
 * "values" last, {"k1": s1, ..., "values": {...}}, written with nothing to
 * escape.  A reader takes the scalars and keeps the values' text (decoded
 * when they are needed: for 10,000 agents, decoding them all was most of
 * a warm start).  Any other line is read as JSON.
 */
struct cache_scalar {
    /* A string's bytes without its quotes, or a number's or a word's. */
    const char *text;
    size_t len;
    bool string;
};

/* Whether s goes in a line as it is: no quote, backslash or control
 * character, and valid UTF-8. */
bool cache_file_plain(const char *s);
/* Writes {"keys[0]": texts[0], ..., "values": ...}: texts are JSON
 * already (a string quoted, and plain), and freed; the values are
 * values_json as kept, else values encoded. */
void cache_file_put_scalars(struct cache_file_writer *w, const char *const *keys,
                            char **texts, size_t n, const char *values_json,
                            const qmf_value *values);
/* Values kept as their text (*json, freed and set NULL), decoded: a map,
 * an empty one if the file was damaged since it was written. */
qmf_value *cache_file_take_values(char **json);
/* Splits such a line of the n keys, in their order: out[i] is keys[i]'s
 * scalar, then the values' text.  false if the line is not of that shape. */
bool cache_file_split(const char *line, size_t len, const char *const *keys, size_t n,
                      struct cache_scalar *out, const char **values, size_t *values_len);
/* A scalar as a whole number: false if it is not one (or, for u32, out of
 * its range). */
bool cache_scalar_i64(const struct cache_scalar *s, int64_t *v);
bool cache_scalar_u32(const struct cache_scalar *s, uint32_t *v);
/* A scalar's text, NUL-terminated (a string's without its quotes). */
char *cache_scalar_dup(const struct cache_scalar *s);

/* A cache being read, a line at a time: a reader that needs the header
 * alone reads no more of the file. */
struct cache_file_reader {
    FILE *f;
    char *line;
    size_t size;
};

/* The header of the cache at path, or NULL (and nothing to close) if the
 * file is missing, CACHE_FILE_MAX bytes or more, or of another format. */
qmf_value *cache_file_open(struct cache_file_reader *r, const char *path);
/* The next line as *doc (NULL if it is not JSON).  false at the end. */
bool cache_file_next(struct cache_file_reader *r, qmf_value **doc);
/* The next line's text (without its newline, NUL-terminated, valid until
 * the next read).  false at the end. */
bool cache_file_next_text(struct cache_file_reader *r, const char **line, size_t *len);
void cache_file_close(struct cache_file_reader *r);

#endif
