/*
 * The JSON codec: qmf_from_json on anything; whatever it accepts must be
 * written by qmf_to_json as JSON that reads back equal (JSON's own kinds
 * only come out of the decoder, so the round trip is exact for them).
 */
#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/text.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qmf_error err;
    qmf_value *v = qmf_from_json((const char *)data, size, &err), *back;
    char *text;
    size_t len;

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
