/*
 * core/codec.h is for every codec user, JSON's included: it must
 * not bring qpid-proton's headers with it (codec_amqp.h has the pn_data_t
 * functions).  The check is that this file compiles.
 */
#include <stdlib.h>

#include <criterion/criterion.h>

#include "core/codec.h"

#ifdef PROTON_CODEC_H
#error "core/codec.h includes <proton/codec.h>"
#endif

Test(qmf_codec_header, json_without_proton)
{
    qmf_error err;
    qmf_value *v = qmf_from_json("{\"a\":[1]}", 9, &err);
    char *text;

    cr_assert_not_null(v, "%s", err.text);
    text = qmf_to_json(v, NULL);
    cr_assert_str_eq(text, "{\"a\":[1]}");
    free(text);
    qmf_free(v);
}
