/* Checks the codec harnesses share: what a decoder promises of its output. */
#include "tests/fuzz/fuzz.h"

#include <math.h>
#include <string.h>

#include "core/text.h"

bool
fuzz_comparable(const qmf_value *v)
{
    size_t i;

    switch (v->kind) {
    case QMF_FLOAT:
        return isfinite(qmf_as_float(v));
    case QMF_DOUBLE:
        return isfinite(qmf_as_double(v));
    case QMF_MAP:
        for (i = 0; i < qmf_map_len(v); i++)
            if (!fuzz_comparable(qmf_map_at(v, i)->value))
                return false;
        return true;
    case QMF_LIST:
        for (i = 0; i < qmf_list_len(v); i++)
            if (!fuzz_comparable(qmf_list_at(v, i)))
                return false;
        return true;
    default:
        return true;
    }
}

void
fuzz_check_decoded(const qmf_value *v)
{
    size_t i;

    switch (v->kind) {
    case QMF_STRING:
        FUZZ_ASSERT(!qmf_text_has_nul(qmf_as_bytes(v), qmf_bytes_len(v)));
        FUZZ_ASSERT(qmf_utf8_valid(qmf_as_bytes(v), qmf_bytes_len(v)));
        break;
    case QMF_MAP:
        FUZZ_ASSERT(!qmf_map_has_duplicates(v));
        for (i = 0; i < qmf_map_len(v); i++) {
            FUZZ_ASSERT(qmf_utf8_valid(qmf_map_at(v, i)->key, strlen(qmf_map_at(v, i)->key)));
            fuzz_check_decoded(qmf_map_at(v, i)->value);
        }
        break;
    case QMF_LIST:
        for (i = 0; i < qmf_list_len(v); i++)
            fuzz_check_decoded(qmf_list_at(v, i));
        break;
    default:
        break;
    }
}
