/*
 * What Qpid's peers send that the AMQP 1.0 codec does not see: the first
 * byte picks the surface, the rest is the input.
 *
 *   0, 1  qmf_from_amqp010 as amqp/map, amqp/list (0-10's encoding)
 *   2     a 0-9-1 delivery of RabbitMQ's 1.0 plugin: AMQP 1.0 sections as
 *         the body (a091_message_decode_body), amqp/map content type
 *   3     the same with application/json
 *
 * Whatever is accepted must hold only what the decoders promise (UTF-8
 * text without NUL, no key twice); a refusal is error 5 or 8, with UTF-8
 * text; a body is never both decoded and in error.
 */
#include <string.h>

#include "bus/amqp091_int.h"
#include "core/codec.h"
#include "core/text.h"
#include "tests/fuzz/fuzz.h"

static void
check_error(const qmf_error *err)
{
    FUZZ_ASSERT(err->code == QMF_ERR_MALFORMED || err->code == QMF_ERR_TOO_LARGE ||
                err->code == QMF_ERR_INTERNAL);
    FUZZ_ASSERT(qmf_utf8_valid(err->text, strlen(err->text)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data + 1;
    struct bus_message *m;
    qmf_value *v;
    qmf_error err;

    if (size < 1)
        return 0;
    switch (data[0] % 4) {
    case 0:
    case 1:
        v = qmf_from_amqp010(in, size - 1, data[0] % 4 == 1, &err);
        if (v == NULL) {
            check_error(&err);
            return 0;
        }
        FUZZ_ASSERT(v->kind == (data[0] % 4 == 1 ? QMF_LIST : QMF_MAP));
        fuzz_check_decoded(v);
        qmf_free(v);
        return 0;
    default:
        m = bus_message_new();
        /* As a signed message: its body's digest is taken too. */
        qmf_map_set(m->headers, BUS_TRUST_HEADER_PREFIX "signature", qmf_string("x"));
        a091_message_decode_body(m, data[0] % 4 == 2 ? "amqp/map" : "application/json", true,
                                 in, size - 1);
        FUZZ_ASSERT(m->has_body_sha256);
        if (m->body != NULL) {
            FUZZ_ASSERT(m->body_error.code == 0);
            fuzz_check_decoded(m->body);
        } else {
            check_error(&m->body_error);
        }
        bus_message_free(m);
        return 0;
    }
}
