/*
 * Signatures and credentials (trust/): the first byte chooses what reads
 * the rest:
 *   0  trust_credential_parse, then the issuer's check and the store's
 *   1  trust_b64_decode
 *   2  trust_key_parse_pem
 *   3  a signed request's check (trust_store_check): signature, credential
 *      and key headers and a JSON body, separated by newlines; then the
 *      credential kept by a receiver (trust_checked) and the key line
 *      taken for a credential id, and that credential's own id
 *   4  node selectors (trust_selector_check and _match)
 *   5  the store's own files: a trust directory key file, then (after a
 *      NUL byte) a revocation list
 * The issuer's and alice's keys are fixed test keys, so that seeds made
 * with them (tests/fuzz/corpus/trust) verify and reach the deeper checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/text.h"
#include "trust/credential.h"
#include "trust/key.h"
#include "trust/policy.h"
#include "trust/store.h"
#include "tests/fuzz/fuzz.h"

/* Test keys, for fuzzing only. */
static const char issuer_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIIl6lvH++JuFe+okCb4o2Cw/k+bYVlHucasvD5NdRb28\n"
    "-----END PRIVATE KEY-----\n";
static const char alice_pub[] =
    "roles: operator\n"
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAllNcZTfmW/03EwU/AqFIxlQepU3keI7o2aH7DGpbwhI=\n"
    "-----END PUBLIC KEY-----\n";

/* Credentials seeded with these times stay valid for the check. */
#define FUZZ_NOW INT64_C(1767225600)

static struct trust_key *issuer;
static struct trust_store *store;
static struct trust_checked *checked;
static char dir[64];

static void
write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fwrite(data, 1, len, f) != len)
        abort();
    fclose(f);
}

static char *
path_in(const char *name)
{
    return qmf_xasprintf("%s/%s", dir, name);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char *issuer_path, *trust_dir, *alice, *revoked;
    const char *issuers[2];
    struct trust_store_config cfg;
    qmf_error err;

    snprintf(dir, sizeof(dir), "%s/virtbus-fuzz-trust-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        abort();
    issuer = trust_key_parse_pem(issuer_pem, strlen(issuer_pem), "issuer", &err);
    if (issuer == NULL)
        abort();
    issuer_path = path_in("issuer.pub");
    if (trust_key_save_public(issuer, issuer_path, &err) != 0)
        abort();
    trust_dir = path_in("trusted");
    if (mkdir(trust_dir, 0700) != 0)
        abort();
    alice = qmf_xasprintf("%s/alice.pub", trust_dir);
    write_file(alice, alice_pub, strlen(alice_pub));
    revoked = path_in("revoked");
    write_file(revoked, "# none but this one\ndeadbeef\n", 29);
    issuers[0] = issuer_path;
    issuers[1] = NULL;
    cfg.issuer_keys = issuers;
    cfg.trust_dir = trust_dir;
    cfg.revoked = revoked;
    if (trust_store_load(&cfg, &store, &err) != 0)
        abort();
    checked = trust_checked_new(store, 4);
    free(issuer_path);
    free(trust_dir);
    free(alice);
    free(revoked);
    return 0;
}

static void
check_error(const qmf_error *err)
{
    FUZZ_ASSERT(err->code != QMF_OK);
    FUZZ_ASSERT(qmf_utf8_valid(err->text, strlen(err->text)));
}

static void
credential(const char *text, size_t len)
{
    struct trust_credential *c;
    qmf_error err;

    if ((c = trust_credential_parse(text, len, &err)) == NULL) {
        FUZZ_ASSERT(err.code == QMF_ERR_BAD_SIGNATURE);
        return;
    }
    FUZZ_ASSERT(trust_name_ok(c->name));
    if (trust_credential_verify(c, issuer, FUZZ_NOW, 300, &err) != 0)
        check_error(&err);
    if (trust_store_check_credential(store, c, FUZZ_NOW, 300, &err) != 0)
        check_error(&err);
    trust_credential_free(c);
}

static void
b64(const char *text, size_t len)
{
    uint8_t *out = NULL;
    size_t n = 0;
    char *again;

    if (trust_b64_decode(text, len, &out, &n, 4096) != 0)
        return;
    /* What decodes encodes back to the same text: one form only. */
    again = trust_b64_encode(out, n);
    FUZZ_ASSERT(strlen(again) == len && memcmp(again, text, len) == 0);
    free(again);
    free(out);
}

static void
pem(const char *text, size_t len)
{
    struct trust_key *k;
    qmf_error err;

    if ((k = trust_key_parse_pem(text, len, "fuzz", &err)) == NULL) {
        check_error(&err);
        return;
    }
    FUZZ_ASSERT(strlen(trust_key_id(k)) == TRUST_KEY_ID_LEN);
    trust_key_free(k);
}

static void
header(struct bus_message *m, const char *name, const uint8_t *s, size_t len)
{
    if (len > 0)
        bus_message_set_header(m, name, qmf_stringn((const char *)s, len));
}

/* A receiver keeps a credential that passed; its id then names it, and
 * anything else names nothing it holds, or is no id. */
static void
by_id(const uint8_t *cred, size_t cred_len, const uint8_t *id, size_t id_len)
{
    char *text = qmf_xstrndup((const char *)cred, cred_len);
    char *named = qmf_xstrndup((const char *)id, id_len);
    char own[TRUST_CREDENTIAL_ID_LEN + 1];
    const struct trust_credential *c;
    qmf_error err;

    c = trust_checked_credential(checked, text, FUZZ_NOW, 300, &err);
    if (c == NULL)
        check_error(&err);
    if (trust_checked_credential_by_id(checked, named, FUZZ_NOW, 300, &err) == NULL)
        FUZZ_ASSERT(err.code == QMF_ERR_CREDENTIAL_UNKNOWN ||
                    err.code == QMF_ERR_BAD_SIGNATURE);
    if (c != NULL) {
        trust_credential_id(text, own);
        FUZZ_ASSERT(trust_checked_credential_by_id(checked, own, FUZZ_NOW, 300, &err) == c);
    }
    free(text);
    free(named);
}

static void
signed_request(const uint8_t *data, size_t size)
{
    struct bus_message *m = bus_message_new();
    const uint8_t *sig, *cred, *key, *body;
    size_t sig_len, cred_len, key_len, body_len;
    struct trust_signer signer;
    qmf_error err;

    sig = fuzz_next_part(&data, &size, '\n', &sig_len);
    cred = fuzz_next_part(&data, &size, '\n', &cred_len);
    key = fuzz_next_part(&data, &size, '\n', &key_len);
    body = fuzz_next_part(&data, &size, '\n', &body_len);
    bus_message_set_header_string(m, "qmf.opcode", "_query_request");
    header(m, TRUST_HDR_SIGNATURE, sig, sig_len);
    header(m, TRUST_HDR_CREDENTIAL, cred, cred_len);
    header(m, TRUST_HDR_KEY, key, key_len);
    m->body = qmf_from_json((const char *)body, body_len, &err);
    if (m->body == NULL)
        m->body = qmf_map();
    m->message_id = qmf_xstrdup("fuzz");
    memset(&signer, 0, sizeof(signer));
    if (trust_store_check(store, m, TRUST_REQUEST, "target", FUZZ_NOW, 300, &signer,
                          &err) == 0)
        trust_signer_clear(&signer);
    else
        FUZZ_ASSERT(err.code == QMF_ERR_BAD_SIGNATURE);
    by_id(cred, cred_len, key, key_len);
    bus_message_free(m);
}

static void
selector(const char *text, size_t len)
{
    char *s = qmf_xstrndup(text, len);
    qmf_value *labels = qmf_map();
    qmf_error err;

    qmf_map_set(labels, "tier", qmf_string("web"));
    qmf_map_set(labels, "rack", qmf_string("r1"));
    if (trust_selector_check(s, &err) != 0) {
        check_error(&err);
        FUZZ_ASSERT(!trust_selector_match(s, "hv1", labels));
    } else {
        (void)trust_selector_match(s, "hv1", labels);
    }
    qmf_free(labels);
    free(s);
}

static void
store_files(const uint8_t *data, size_t size)
{
    char *sub = path_in("load"), *key, *revoked;
    const char *issuers[1] = { NULL };
    struct trust_store_config cfg = { issuers, sub, NULL };
    const uint8_t *keytext, *revtext;
    size_t keylen, revlen;
    struct trust_store *s = NULL;
    qmf_error err;

    keytext = fuzz_next_part(&data, &size, '\0', &keylen);
    revtext = fuzz_next_part(&data, &size, '\0', &revlen);
    mkdir(sub, 0700);
    key = qmf_xasprintf("%s/bob.pub", sub);
    revoked = path_in("load.revoked");
    write_file(key, keytext, keylen);
    write_file(revoked, revtext, revlen);
    cfg.revoked = revoked;
    if (trust_store_load(&cfg, &s, &err) == 0)
        trust_store_free(s);
    else
        check_error(&err);
    free(key);
    free(revoked);
    free(sub);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data + 1;

    if (size == 0)
        return 0;
    switch (data[0] % 6) {
    case 0: credential(text, size - 1); break;
    case 1: b64(text, size - 1); break;
    case 2: pem(text, size - 1); break;
    case 3: signed_request(data + 1, size - 1); break;
    case 4: selector(text, size - 1); break;
    default: store_files(data + 1, size - 1); break;
    }
    return 0;
}
