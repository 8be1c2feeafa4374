/*
 * The CLI's --where / --if compiler: any text, with or without a class to
 * check fields against (the first byte chooses).  Whatever it accepts must
 * be a predicate every agent accepts: the console must never send what the
 * agents would refuse.
 */
#include <stdlib.h>
#include <string.h>

#include "controller/lib/expr.h"
#include "core/text.h"
#include "core/where.h"
#include "schema/schema.h"
#include "tests/fuzz/fuzz.h"

static struct schema *schema;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    qmf_error err;

    schema = schema_load_builtin(&err);
    if (schema == NULL)
        abort();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct schema_class *cls = NULL;
    qmf_value *pred;
    qmf_where *w;
    qmf_error err;
    char *text;

    if (size > 0) {
        /* 0: no class; else one of the schema's classes. */
        if (data[0] % 8 != 0)
            cls = &schema->classes[(data[0] % 8 - 1) % schema->nclasses];
        data++;
        size--;
    }
    text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    pred = virtbus_expr_compile(text, cls, &err);
    if (pred == NULL) {
        FUZZ_ASSERT(err.code == QMF_ERR_INVALID_ARGS);
        FUZZ_ASSERT(qmf_utf8_valid(err.text, strlen(err.text)));
    } else {
        w = qmf_where_compile(pred, &err);
        FUZZ_ASSERT(w != NULL);
        qmf_where_free(w);
        qmf_free(pred);
    }
    free(text);
    return 0;
}
