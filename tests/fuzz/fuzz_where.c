/*
 * _where: the input is a predicate and an object's values, both JSON,
 * separated by a newline.  Compiling anything must fail cleanly or give a
 * predicate that evaluates without crashing, within the regex limits; an
 * evaluation error must be the limit error, not anything else.
 */
#include <string.h>

#include "core/codec.h"
#include "core/text.h"
#include "core/where.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t plen, vlen;
    const uint8_t *ptext = fuzz_next_part(&data, &size, '\n', &plen);
    const uint8_t *vtext = fuzz_next_part(&data, &size, '\n', &vlen);
    qmf_value *pred, *values;
    qmf_where *w;
    qmf_error err;
    int rc;

    if ((pred = qmf_from_json((const char *)ptext, plen, &err)) == NULL)
        return 0;
    values = qmf_from_json((const char *)vtext, vlen, &err);
    w = qmf_where_compile(pred, &err);
    if (w == NULL) {
        FUZZ_ASSERT(err.code == QMF_ERR_INVALID_ARGS);
        FUZZ_ASSERT(qmf_utf8_valid(err.text, strlen(err.text)));
    } else {
        rc = qmf_where_test(w, values, &err);
        FUZZ_ASSERT(rc == 0 || rc == 1 || (rc == -1 && err.code == QMF_ERR_INVALID_ARGS));
        FUZZ_ASSERT(qmf_where_eval(w, values) == (rc == 1));
        qmf_where_free(w);
    }
    qmf_free(values);
    qmf_free(pred);
    return 0;
}
