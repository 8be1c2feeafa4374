/* Checks the codec harnesses share: what a decoder promises of its output. */
#include "tests/fuzz/fuzz.h"

#include <math.h>
#include <string.h>

#include "schema/qmf/text.h"

bool
fuzz_comparable(const qmf_value *v)
{
    size_t i;

    switch (v->kind) {
    case QMF_FLOAT:
        return isfinite(v->u.f);
    case QMF_DOUBLE:
        return isfinite(v->u.d);
    case QMF_MAP:
        for (i = 0; i < v->u.map.len; i++)
            if (!fuzz_comparable(v->u.map.items[i].value))
                return false;
        return true;
    case QMF_LIST:
        for (i = 0; i < v->u.list.len; i++)
            if (!fuzz_comparable(v->u.list.items[i]))
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
        FUZZ_ASSERT(!qmf_text_has_nul(v->u.str.ptr, v->u.str.len));
        FUZZ_ASSERT(qmf_utf8_valid(v->u.str.ptr, v->u.str.len));
        break;
    case QMF_MAP:
        FUZZ_ASSERT(!qmf_map_has_duplicates(v));
        for (i = 0; i < v->u.map.len; i++) {
            FUZZ_ASSERT(qmf_utf8_valid(v->u.map.items[i].key, strlen(v->u.map.items[i].key)));
            fuzz_check_decoded(v->u.map.items[i].value);
        }
        break;
    case QMF_LIST:
        for (i = 0; i < v->u.list.len; i++)
            fuzz_check_decoded(v->u.list.items[i]);
        break;
    default:
        break;
    }
}
