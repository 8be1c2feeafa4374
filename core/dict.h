/*
 * The dictionary: the project's one general-purpose map, from strings to
 * pointers (a job's strand, an inventory object, a journal entry, a fleet
 * member).  QMF maps (value.h) stay what message bodies are made of: small,
 * and looked up by scanning.
 *
 * Costs: lookups, insertions and removals are O(1) expected; the table
 * grows by doubling, so N insertions cost O(N).  A removal leaves a mark
 * that the next growth or rebuild clears, so a long-lived table that sees
 * many short-lived keys keeps its speed and a size proportional to the keys
 * it holds.  Keys are hashed with SipHash-2-4 under a key of each table's
 * own, drawn at random when it is made, so that names chosen by a remote
 * peer cannot be picked to collide.
 *
 * Iteration is in insertion order.  Removing entries while iterating is
 * allowed (a removal never moves the others); inserting is not.
 * Not thread-safe: the owner locks.  Values are never NULL (a lookup
 * returns NULL for a key that is missing).
 */
#ifndef QMF_DICT_H
#define QMF_DICT_H

#include <stdbool.h>
#include <stddef.h>

struct qmf_dict;

/* free_value, if not NULL, frees a value that the table drops: on
 * qmf_dict_remove, on qmf_dict_set replacing it, and on qmf_dict_free. */
struct qmf_dict *qmf_dict_new(void (*free_value)(void *value));
void qmf_dict_free(struct qmf_dict *d);

void *qmf_dict_get(const struct qmf_dict *d, const char *key);
/* Adds key (copied) -> value unless key is there already: then returns
 * false and the caller keeps value. */
bool qmf_dict_add(struct qmf_dict *d, const char *key, void *value);
/* Adds, or replaces the value of key (freeing the one it had). */
void qmf_dict_set(struct qmf_dict *d, const char *key, void *value);
/* Removes key, freeing its value; false if it was not there. */
bool qmf_dict_remove(struct qmf_dict *d, const char *key);
/* Removes key and returns its value, now the caller's (NULL if missing). */
void *qmf_dict_take(struct qmf_dict *d, const char *key);
size_t qmf_dict_len(const struct qmf_dict *d);

/* The value after *cursor (start at 0) in insertion order, its key in *key
 * if key is not NULL, or NULL at the end. */
void *qmf_dict_next(const struct qmf_dict *d, size_t *cursor, const char **key);

#endif
