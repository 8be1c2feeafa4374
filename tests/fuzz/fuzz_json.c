/*
 * The JSON codec: qmf_from_json on anything; whatever it accepts must be
 * written by qmf_to_json as JSON that reads back equal (JSON's own kinds
 * only come out of the decoder, so the round trip is exact for them).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schema/qmf/codec.h"
#include "schema/qmf/text.h"
#include "tests/fuzz/fuzz.h"

/* NaN and infinities have no JSON form (they are written as null). */
static int
all_finite(const qmf_value *v)
{
    size_t i;

    switch (v->kind) {
    case QMF_DOUBLE:
        return isfinite(v->u.d);
    case QMF_MAP:
        for (i = 0; i < v->u.map.len; i++)
            if (!all_finite(v->u.map.items[i].value))
                return 0;
        return 1;
    case QMF_LIST:
        for (i = 0; i < v->u.list.len; i++)
            if (!all_finite(v->u.list.items[i]))
                return 0;
        return 1;
    default:
        return 1;
    }
}

/* What the decoder promises of every string: UTF-8 text without NUL. */
static void
check_strings(const qmf_value *v)
{
    size_t i;

    switch (v->kind) {
    case QMF_STRING:
        FUZZ_ASSERT(!qmf_text_has_nul(v->u.str.ptr, v->u.str.len));
        FUZZ_ASSERT(qmf_utf8_valid(v->u.str.ptr, v->u.str.len));
        break;
    case QMF_MAP:
        FUZZ_ASSERT(!qmf_map_has_duplicates(v));
        for (i = 0; i < v->u.map.len; i++)
            check_strings(v->u.map.items[i].value);
        break;
    case QMF_LIST:
        for (i = 0; i < v->u.list.len; i++)
            check_strings(v->u.list.items[i]);
        break;
    default:
        break;
    }
}

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
    check_strings(v);
    text = qmf_to_json(v, &len);
    back = qmf_from_json(text, len, &err);
    FUZZ_ASSERT(back != NULL);
    if (all_finite(v))
        FUZZ_ASSERT(qmf_equal(v, back));
    qmf_free(back);
    free(text);
    qmf_free(v);
    return 0;
}
