/*
 * The JSON codec: qmf_from_json on anything; whatever it accepts must be
 * written by qmf_to_json as JSON that reads back equal (JSON's own kinds
 * only come out of the decoder, so the round trip is exact for them).
 * The same input as a line of a console's cache (cache_file_split): its
 * scalars and values must lie inside it.
 */
#include <stdlib.h>
#include <string.h>

#include "controller/lib/cache_file.h"
#include "core/codec.h"
#include "core/text.h"
#include "tests/fuzz/fuzz.h"

static void
cache_line(const char *line, size_t size)
{
    static const char *const keys[] = { "agent", "node", "seen" };
    struct cache_scalar s[3];
    const char *values;
    size_t n, len, i;
    int64_t v;
    uint32_t u;

    for (n = 0; n <= 3; n++) {
        if (!cache_file_split(line, size, keys, n, s, &values, &len))
            continue;
        FUZZ_ASSERT(values >= line && values + len <= line + size && len >= 2);
        for (i = 0; i < n; i++) {
            FUZZ_ASSERT(s[i].text >= line && s[i].text + s[i].len <= line + size);
            (void)cache_scalar_i64(&s[i], &v);
            (void)cache_scalar_u32(&s[i], &u);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qmf_error err;
    qmf_value *v = qmf_from_json((const char *)data, size, &err), *back;
    char *text;
    size_t len;

    cache_line((const char *)data, size);
    if (v == NULL) {
        FUZZ_ASSERT(err.code == QMF_ERR_MALFORMED || err.code == QMF_ERR_TOO_LARGE);
        FUZZ_ASSERT(qmf_utf8_valid(err.text, strlen(err.text)));
        return 0;
    }
    fuzz_check_decoded(v);
    text = qmf_to_json(v, &len);
    back = qmf_from_json(text, len, &err);
    FUZZ_ASSERT(back != NULL);
    if (fuzz_comparable(v))
        FUZZ_ASSERT(qmf_equal(v, back));
    qmf_free(back);
    free(text);
    qmf_free(v);
    return 0;
}
