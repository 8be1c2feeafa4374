/*
 * The configuration readers: the shared syntax (core/conf.c) through
 * the agent's reader (agent_config_parse), the controller's
 * (ctl_config_parse), a reader that takes any key with a type chosen from
 * its name, and the trust policy file (trust_policy_parse).  The first
 * byte chooses.  A failed read must say why, in valid UTF-8.
 */
#include <string.h>

#include "agent/config.h"
#include "controller/config.h"
#include "core/conf.h"
#include "core/text.h"
#include "trust/policy.h"
#include "tests/fuzz/fuzz.h"

static bool
any_key(void *opaque, const char *key, enum qmf_conf_type *type)
{
    *type = (enum qmf_conf_type)(strlen(key) % 3);
    return key[0] != 'x';
}

static int
take(void *opaque, const struct qmf_conf_statement *st, qmf_error *err)
{
    qmf_value *pairs;

    /* "name=value" lists are their own little syntax. */
    if (st->value->kind == QMF_LIST && st->key[0] == 'p') {
        if ((pairs = qmf_conf_pairs(st, "pair", err)) == NULL)
            return -1;
        qmf_free(pairs);
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct qmf_conf_reader reader = { any_key, take };
    const char *text;
    qmf_error err;
    int rc = 0;

    if (size == 0)
        return 0;
    text = (const char *)data + 1;
    qmf_error_clear(&err);
    switch (data[0] % 4) {
    case 0: {
        struct agent_config cfg;

        agent_config_defaults(&cfg);
        rc = agent_config_parse(&cfg, text, size - 1, "fuzz.conf", &err);
        agent_config_free(&cfg);
        break;
    }
    case 1: {
        struct ctl_config cfg;

        ctl_config_defaults(&cfg);
        rc = ctl_config_parse(&cfg, text, size - 1, "fuzz.conf", &err);
        ctl_config_free(&cfg);
        break;
    }
    case 2:
        rc = qmf_conf_parse(size > 1 ? text : NULL, size - 1, "fuzz.conf", &reader, NULL, &err);
        break;
    default: {
        struct trust_policy *p = NULL;

        rc = trust_policy_parse(text, size - 1, "fuzz.policy", &p, &err);
        trust_policy_free(p);
        break;
    }
    }
    if (rc != 0) {
        FUZZ_ASSERT(err.code != QMF_OK);
        FUZZ_ASSERT(qmf_utf8_valid(err.text, strlen(err.text)));
    }
    return 0;
}
