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
bool cache_file_format_ok(const qmf_value *head);

/* A cache being written: to a temporary file, renamed over the cache by
 * cache_file_commit, so that a reader never sees half of one. */
struct cache_file_writer {
    FILE *f;
    bool has_header;
    char *tmp;
    char *path;
};

/* false if the temporary file cannot be made (a cache is an optimisation:
 * the caller then writes none). */
bool cache_file_begin(struct cache_file_writer *w, const char *path);
/* Writes doc as one line; the first is the header, which gets "format". */
void cache_file_put(struct cache_file_writer *w, const qmf_value *doc);
/* Renames the file over the cache, or removes it if a write failed. */
void cache_file_commit(struct cache_file_writer *w);

/* The whole file, NUL-terminated (NULL if missing, empty or max bytes or
 * more); *len its length. */
char *cache_file_read(const char *path, size_t max, size_t *len);
/* The line at *cursor (before end) as *doc, NULL if it is not JSON; moves
 * *cursor past it.  false at the end. */
bool cache_file_next(const char **cursor, const char *end, qmf_value **doc);

#endif
