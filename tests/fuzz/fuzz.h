/*
 * What the libFuzzer harnesses share: the entry point's prototype (libFuzzer
 * calls it; -Wmissing-prototypes wants one), and a way to cut one input
 * into parts, so that one harness can feed several arguments.
 */
#ifndef VIRTBUS_FUZZ_H
#define VIRTBUS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A finding: abort, so that libFuzzer records the input as a crash. */
#define FUZZ_ASSERT(cond)                                                      \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

/*
 * The next part of [*data, *data + *size) up to the separator byte sep (not
 * included; the whole rest if there is none); advances past the separator.
 */
static inline const uint8_t *
fuzz_next_part(const uint8_t **data, size_t *size, uint8_t sep, size_t *len)
{
    const uint8_t *start = *data;
    size_t i;

    for (i = 0; i < *size && start[i] != sep; i++)
        ;
    *len = i;
    if (i < *size)
        i++;
    *data += i;
    *size -= i;
    return start;
}

/* fuzz_common.c: no NaN or infinity anywhere in v (JSON has no form for
 * them, and NaN is unequal to itself), so a round trip must give v back. */
bool fuzz_comparable(const qmf_value *v);
/* Aborts unless every string and key of v is UTF-8 text without NUL and no
 * map repeats a key: what both decoders promise. */
void fuzz_check_decoded(const qmf_value *v);

#endif
