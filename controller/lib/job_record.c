/*
 * Job records, signed by the console that made the job and checked by
 * whoever reads them later (docs/SECURITY.md, "Job records").  Anyone who
 * may publish to the jobs stream or a job's queue could otherwise make
 * `virtbus job` show a job nobody sent, or claim other nodes were asked.
 */
#include "controller/lib/console_impl.h"

#include <stdlib.h>
#include <string.h>

#include "trust/message.h"

struct bus_message *
console_job_record(struct virtbus_console *c, const qmf_value *record, const char *job_id,
                   qmf_error *err)
{
    struct bus_message *m = bus_message_new();

    bus_message_set_header_string(m, "qmf.opcode", CONSOLE_JOB_RECORD_OPCODE);
    bus_message_set_header_string(m, "method", "indication");
    m->durable = true;
    /* Credentials are checked as they were when the record was made. */
    m->created_ms = console_now_ms();
    m->body = qmf_dup(record);
    if (c->sign_key != NULL &&
        trust_message_sign(m, TRUST_JOB_RECORD, job_id, c->sign_key, c->sign_credential,
                           err) != 0) {
        bus_message_free(m);
        return NULL;
    }
    return m;
}

/* Whether m names this console's own key as its signer: its credential,
 * or the bare key when it has none. */
static bool
signed_as_me(const struct virtbus_console *c, const struct bus_message *m)
{
    const char *cred = bus_message_header(m, TRUST_HDR_CREDENTIAL);
    const char *key = bus_message_header(m, TRUST_HDR_KEY);
    char *mine;
    bool same;

    if (c->sign_key == NULL)
        return false;
    if (cred != NULL)
        return c->sign_credential != NULL && strcmp(cred, c->sign_credential) == 0;
    if (key == NULL || c->sign_credential != NULL)
        return false;
    mine = trust_b64_encode(trust_key_raw(c->sign_key), TRUST_KEY_LEN);
    same = strcmp(key, mine) == 0;
    free(mine);
    return same;
}

/* A record with this console's own credential or key: its signature is
 * checked with that key, which needs no issuer. */
static int
check_own(const struct virtbus_console *c, const struct bus_message *m, const char *job_id,
          qmf_error *err)
{
    const char *sig64 = bus_message_header(m, TRUST_HDR_SIGNATURE);
    uint8_t digest[TRUST_DIGEST_LEN], *sig = NULL;
    size_t len = 0;
    bool ok;

    if (trust_b64_decode(sig64, strlen(sig64), &sig, &len, TRUST_SIG_LEN) != 0 ||
        len != TRUST_SIG_LEN) {
        free(sig);
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "%s is not an Ed25519 signature",
                      TRUST_HDR_SIGNATURE);
        return -1;
    }
    trust_message_digest(m, TRUST_JOB_RECORD, job_id, digest);
    ok = trust_verify(c->sign_key, digest, sizeof(digest), sig);
    free(sig);
    if (!ok) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "its signature, made with this caller's "
                      "own key, does not match the record");
        return -1;
    }
    return 0;
}

int
console_job_record_check(struct virtbus_console *c, const struct bus_message *m,
                         const char *job_id, enum virtbus_record_auth *auth,
                         char **signer, qmf_error *err)
{
    struct trust_signer who;

    *signer = NULL;
    if (!trust_message_is_signed(m)) {
        *auth = VIRTBUS_RECORD_UNSIGNED;
        /* A console that checks what agents say expects as much of its
         * fellow callers. */
        if (c->answer_store != NULL) {
            qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "the record is not signed");
            return -1;
        }
        return 0;
    }
    if (signed_as_me(c, m)) {
        if (check_own(c, m, job_id, err) != 0)
            return -1;
        *auth = VIRTBUS_RECORD_OWN;
        return 0;
    }
    if (c->answer_store == NULL) {
        *auth = VIRTBUS_RECORD_UNCHECKED;
        return 0;
    }
    /* Valid when it was made: a job outlives the credentials of the day. */
    if (trust_store_check(c->answer_store, m, TRUST_JOB_RECORD, job_id, m->created_ms / 1000,
                          CONSOLE_ANSWER_SKEW_S, &who, err) != 0)
        return -1;
    *auth = VIRTBUS_RECORD_VERIFIED;
    *signer = qmf_xstrdup(who.name);
    trust_signer_clear(&who);
    return 0;
}

const char *
virtbus_record_auth_name(enum virtbus_record_auth a)
{
    switch (a) {
    case VIRTBUS_RECORD_UNSIGNED:
        return "unsigned";
    case VIRTBUS_RECORD_UNCHECKED:
        return "unchecked";
    case VIRTBUS_RECORD_OWN:
        return "own";
    case VIRTBUS_RECORD_VERIFIED:
        return "verified";
    case VIRTBUS_RECORD_REFUSED:
        return "refused";
    }
    return "?";
}
