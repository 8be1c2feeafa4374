/*
 * The AMQP 1.0 codec: qmf_from_amqp on anything; whatever it accepts must
 * encode with qmf_to_amqp and decode back equal (the round trip is exact).
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
    qmf_value *v = qmf_from_amqp((const char *)data, size, &err), *back;
    char *buf = NULL;
    size_t len;

    if (v == NULL) {
        FUZZ_ASSERT(err.code == QMF_ERR_MALFORMED || err.code == QMF_ERR_TOO_LARGE ||
                    err.code == QMF_ERR_INTERNAL);
        FUZZ_ASSERT(qmf_utf8_valid(err.text, strlen(err.text)));
        return 0;
    }
    fuzz_check_decoded(v);
    /* More nodes than proton holds cannot be encoded (the caller batches). */
    if (qmf_to_amqp(v, &buf, &len) == 0) {
        back = qmf_from_amqp(buf, len, &err);
        FUZZ_ASSERT(back != NULL);
        if (fuzz_comparable(v))
            FUZZ_ASSERT(qmf_equal(v, back));
        qmf_free(back);
        free(buf);
    }
    qmf_free(v);
    return 0;
}
