/*
 * Set-associative tables of fixed size, for the trust caches (an agent's
 * consoles, a console's agents): a key's hash picks a set of a few slots
 * rather than one, so that two keys that meet do not push each other out
 * on every use, as they would in a direct-mapped table at a load near
 * one, and a miss replaces the set's least recently used slot.  Each
 * table keeps its own clock and stamps its slots with it (0: empty).
 */
#ifndef CORE_WAYS_H
#define CORE_WAYS_H

#include <stddef.h>
#include <stdint.h>

#define WAYS_PER_SET 4

/* The slots of hash's set in a table of nslots (at least 1):
 * [*first, *first + return value). */
static inline size_t
ways_set(uint64_t hash, size_t nslots, size_t *first)
{
    size_t ways = nslots < WAYS_PER_SET ? nslots : WAYS_PER_SET;

    *first = (size_t)(hash % (nslots / ways)) * ways;
    return ways;
}

#endif
