/*
 * The dictionary (dict.h): entries kept in an array in insertion order, and
 * an open-addressing index of slots (linear probing) that points into it.
 * A removal turns the entry into a hole and its slot into a mark that
 * probing goes past; both are cleared when the index is rebuilt, which
 * happens once entries and marks fill two thirds of the slots, so a rebuild
 * always frees at least a third of the index for new keys: O(1) amortised.
 */
#include "core/dict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/value.h"

#define SLOT_EMPTY 0
#define SLOT_REMOVED SIZE_MAX   /* probing goes on past it */
#define MIN_SLOTS 16

struct dict_entry {
    char *key;                  /* NULL once removed: a hole */
    size_t len;
    uint64_t hash;
    void *value;
};

struct qmf_dict {
    struct dict_entry *entries; /* in insertion order, holes included */
    size_t nentries;            /* appended since the last rebuild */
    size_t *slots;              /* entry index + 1, SLOT_EMPTY or SLOT_REMOVED */
    size_t nslots;              /* a power of two */
    size_t live;
    uint64_t seed[2];
    void (*free_value)(void *value);
};

static uint64_t
rotl(uint64_t x, int bits)
{
    return (x << bits) | (x >> (64 - bits));
}

static void
sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13) ^ v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17) ^ v[2];
    v[2] = rotl(v[2], 32);
}

static void
sip_absorb(uint64_t v[4], uint64_t m)
{
    v[3] ^= m;
    sip_round(v);
    sip_round(v);
    v[0] ^= m;
}

/* SipHash-2-4 (Aumasson and Bernstein), words read little-endian. */
static uint64_t
siphash(const uint64_t k[2], const char *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    uint64_t v[4] = { k[0] ^ UINT64_C(0x736f6d6570736575), k[1] ^ UINT64_C(0x646f72616e646f6d),
                      k[0] ^ UINT64_C(0x6c7967656e657261), k[1] ^ UINT64_C(0x7465646279746573) };
    uint64_t word, last = (uint64_t)len << 56;
    size_t i, j, whole = len - len % 8;

    for (i = 0; i < whole; i += 8) {
        for (word = 0, j = 8; j-- > 0;)
            word = word << 8 | p[i + j];
        sip_absorb(v, word);
    }
    for (j = 0; j < len % 8; j++)
        last |= (uint64_t)p[whole + j] << (8 * j);
    sip_absorb(v, last);
    v[2] ^= 0xff;
    for (j = 0; j < 4; j++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The hash key: from the kernel, or where it has none to give yet (early
 * boot) from the clock and the table's address, which a peer cannot see. */
static void
seed_table(struct qmf_dict *d)
{
    struct timespec now;

    if (getrandom(d->seed, sizeof(d->seed), GRND_NONBLOCK) == (ssize_t)sizeof(d->seed))
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    d->seed[0] = (uint64_t)now.tv_nsec * UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)now.tv_sec;
    d->seed[1] = (uint64_t)(uintptr_t)d * UINT64_C(0xc2b2ae3d27d4eb4f) ^ d->seed[0];
}

/* Most entries the index takes before it is rebuilt: two thirds. */
static size_t
capacity(size_t nslots)
{
    return nslots / 3 * 2;
}

static void
index_entry(struct qmf_dict *d, size_t i)
{
    size_t mask = d->nslots - 1, at = d->entries[i].hash & mask;

    while (d->slots[at] != SLOT_EMPTY)
        at = (at + 1) & mask;
    d->slots[at] = i + 1;
}

/* Drops the holes and marks, and sizes the index for the live entries plus
 * at least as many again, or MIN_SLOTS. */
static void
rebuild(struct qmf_dict *d)
{
    size_t nslots = MIN_SLOTS, i, kept = 0;

    while (capacity(nslots) < 2 * (d->live + 1))
        nslots *= 2;
    for (i = 0; i < d->nentries; i++)
        if (d->entries[i].key != NULL)
            d->entries[kept++] = d->entries[i];
    d->nentries = kept;
    d->entries = qmf_xrealloc(d->entries, capacity(nslots) * sizeof(*d->entries));
    free(d->slots);
    d->slots = qmf_xcalloc(nslots, sizeof(*d->slots));
    d->nslots = nslots;
    for (i = 0; i < d->nentries; i++)
        index_entry(d, i);
}

struct qmf_dict *
qmf_dict_new(void (*free_value)(void *value))
{
    struct qmf_dict *d = qmf_xcalloc(1, sizeof(*d));

    d->free_value = free_value;
    seed_table(d);
    rebuild(d);
    return d;
}

void
qmf_dict_free(struct qmf_dict *d)
{
    size_t i;

    if (d == NULL)
        return;
    for (i = 0; i < d->nentries; i++) {
        if (d->entries[i].key == NULL)
            continue;
        free(d->entries[i].key);
        if (d->free_value != NULL)
            d->free_value(d->entries[i].value);
    }
    free(d->entries);
    free(d->slots);
    free(d);
}

/* The slot that holds key, or NULL. */
static size_t *
find(const struct qmf_dict *d, const char *key, size_t len, uint64_t hash)
{
    size_t mask = d->nslots - 1, at = hash & mask;
    const struct dict_entry *e;

    for (; d->slots[at] != SLOT_EMPTY; at = (at + 1) & mask) {
        if (d->slots[at] == SLOT_REMOVED)
            continue;
        e = &d->entries[d->slots[at] - 1];
        if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0)
            return &d->slots[at];
    }
    return NULL;
}

void *
qmf_dict_get(const struct qmf_dict *d, const char *key)
{
    size_t len = strlen(key);
    size_t *slot = find(d, key, len, siphash(d->seed, key, len));

    return slot != NULL ? d->entries[*slot - 1].value : NULL;
}

static void
append(struct qmf_dict *d, const char *key, size_t len, uint64_t hash, void *value)
{
    if (d->nentries + 1 > capacity(d->nslots))
        rebuild(d);
    d->entries[d->nentries] = (struct dict_entry){
        .key = qmf_xstrndup(key, len), .len = len, .hash = hash, .value = value,
    };
    index_entry(d, d->nentries);
    d->nentries++;
    d->live++;
}

bool
qmf_dict_add(struct qmf_dict *d, const char *key, void *value)
{
    size_t len = strlen(key);
    uint64_t hash = siphash(d->seed, key, len);

    if (find(d, key, len, hash) != NULL)
        return false;
    append(d, key, len, hash, value);
    return true;
}

void
qmf_dict_set(struct qmf_dict *d, const char *key, void *value)
{
    size_t len = strlen(key);
    uint64_t hash = siphash(d->seed, key, len);
    size_t *slot = find(d, key, len, hash);
    struct dict_entry *e;

    if (slot == NULL) {
        append(d, key, len, hash, value);
        return;
    }
    e = &d->entries[*slot - 1];
    if (e->value != value && d->free_value != NULL)
        d->free_value(e->value);
    e->value = value;
}

void *
qmf_dict_take(struct qmf_dict *d, const char *key)
{
    size_t len = strlen(key);
    size_t *slot = find(d, key, len, siphash(d->seed, key, len));
    struct dict_entry *e;
    void *value;

    if (slot == NULL)
        return NULL;
    e = &d->entries[*slot - 1];
    value = e->value;
    free(e->key);
    *e = (struct dict_entry){ 0 };
    *slot = SLOT_REMOVED;
    d->live--;
    return value;
}

bool
qmf_dict_remove(struct qmf_dict *d, const char *key)
{
    void *value = qmf_dict_take(d, key);

    if (value == NULL)
        return false;
    if (d->free_value != NULL)
        d->free_value(value);
    return true;
}

size_t
qmf_dict_len(const struct qmf_dict *d)
{
    return d->live;
}

void *
qmf_dict_next(const struct qmf_dict *d, size_t *cursor, const char **key)
{
    const struct dict_entry *e;

    while (*cursor < d->nentries) {
        e = &d->entries[(*cursor)++];
        if (e->key == NULL)
            continue;
        if (key != NULL)
            *key = e->key;
        return e->value;
    }
    return NULL;
}
