/*
 * The AMQP 1.0 codec: qmf_from_amqp on anything; whatever it accepts must
 * encode with qmf_to_amqp and decode back equal (the round trip is exact).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schema/qmf/codec.h"
#include "schema/qmf/text.h"
#include "tests/fuzz/fuzz.h"

/* NaN is unequal to itself: such values are left out of the comparison. */
static int
has_nan(const qmf_value *v)
{
    size_t i;

    switch (v->kind) {
    case QMF_FLOAT:
        return isnan(v->u.f);
    case QMF_DOUBLE:
        return isnan(v->u.d);
    case QMF_MAP:
        for (i = 0; i < v->u.map.len; i++)
            if (has_nan(v->u.map.items[i].value))
                return 1;
        return 0;
    case QMF_LIST:
        for (i = 0; i < v->u.list.len; i++)
            if (has_nan(v->u.list.items[i]))
                return 1;
        return 0;
    default:
        return 0;
    }
}

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
        for (i = 0; i < v->u.map.len; i++) {
            FUZZ_ASSERT(qmf_utf8_valid(v->u.map.items[i].key, strlen(v->u.map.items[i].key)));
            check_strings(v->u.map.items[i].value);
        }
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
    qmf_value *v = qmf_from_amqp((const char *)data, size, &err), *back;
    char *buf = NULL;
    size_t len;

    if (v == NULL) {
        FUZZ_ASSERT(err.code == QMF_ERR_MALFORMED || err.code == QMF_ERR_TOO_LARGE ||
                    err.code == QMF_ERR_INTERNAL);
        FUZZ_ASSERT(qmf_utf8_valid(err.text, strlen(err.text)));
        return 0;
    }
    check_strings(v);
    /* More nodes than proton holds cannot be encoded (the caller batches). */
    if (qmf_to_amqp(v, &buf, &len) == 0) {
        back = qmf_from_amqp(buf, len, &err);
        FUZZ_ASSERT(back != NULL);
        if (!has_nan(v))
            FUZZ_ASSERT(qmf_equal(v, back));
        qmf_free(back);
        free(buf);
    }
    qmf_free(v);
    return 0;
}
