/*
 * What the libFuzzer harnesses share: the entry point's prototype (libFuzzer
 * calls it; -Wmissing-prototypes wants one), and a way to cut one input
 * into parts, so that one harness can feed several arguments.
 */
#ifndef VIRTBUS_FUZZ_H
#define VIRTBUS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

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

#endif
