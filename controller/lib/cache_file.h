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
void cache_file_close(struct cache_file_reader *r);

#endif
