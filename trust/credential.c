/*
 * Caller credentials (see credential.h): issuing, strict parsing and
 * checking.  Parsing reads untrusted text from any request, so it bounds
 * every size before decoding and accepts exactly the documented fields.
 */
#include "trust/credential.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/codec.h"
#include "core/value.h"
#include "trust/policy.h"

#define SIGNED_PREFIX "virtbus credential 1\n"
#define PAYLOAD_MAX 3000

static const struct {
    const char *name;
    unsigned bit;
} roles[] = {
    { "reader", TRUST_ROLE_READER },
    { "operator", TRUST_ROLE_OPERATOR },
    { "admin", TRUST_ROLE_ADMIN },
    { "agent", TRUST_ROLE_AGENT },
};
#define NROLES (sizeof(roles) / sizeof(roles[0]))

unsigned
trust_role_parse(const char *name)
{
    size_t i;

    for (i = 0; i < NROLES; i++)
        if (strcmp(name, roles[i].name) == 0)
            return roles[i].bit;
    return 0;
}

char *
trust_roles_format(unsigned bits)
{
    char buf[64] = "";
    size_t i;

    for (i = 0; i < NROLES; i++)
        if (bits & roles[i].bit) {
            if (buf[0] != '\0')
                strcat(buf, ",");
            strcat(buf, roles[i].name);
        }
    return qmf_xstrdup(buf);
}

unsigned
trust_roles_implied(unsigned bits)
{
    if (bits & TRUST_ROLE_ADMIN)
        bits |= TRUST_ROLE_OPERATOR;
    if (bits & TRUST_ROLE_OPERATOR)
        bits |= TRUST_ROLE_READER;
    return bits;
}

bool
trust_name_ok(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char c = s[n];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@'))
            return false;
    }
    return n > 0 && n <= TRUST_NAME_MAX;
}

/* The bytes the issuer signs. */
static uint8_t *
signed_bytes(const uint8_t *payload, size_t len, size_t *out_len)
{
    size_t plen = sizeof(SIGNED_PREFIX) - 1;
    uint8_t *buf = qmf_xmalloc(plen + len);

    memcpy(buf, SIGNED_PREFIX, plen);
    memcpy(buf + plen, payload, len);
    *out_len = plen + len;
    return buf;
}

static qmf_value *
string_list(char *const *items)
{
    qmf_value *l = qmf_list();

    for (; items != NULL && *items != NULL; items++)
        qmf_list_append(l, qmf_string(*items));
    return l;
}

char *
trust_credential_issue(const struct trust_key *issuer, struct trust_credential *f,
                       qmf_error *err)
{
    uint8_t serial[8], sig[TRUST_SIG_LEN], *tosign;
    qmf_value *payload;
    char *json, *text, *p64, *s64, *key64, *rolestr;
    size_t len, tosign_len, i;
    qmf_error check;

    if (!trust_name_ok(f->name)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "name '%.80s': 1 to %d letters, digits, '.', '_', '-' or '@'",
                      f->name, TRUST_NAME_MAX);
        return NULL;
    }
    if (f->roles == 0 || f->not_after <= f->not_before) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "a credential needs roles and a validity "
                      "period that ends after it begins");
        return NULL;
    }
    if (f->nodes != NULL && trust_selector_check(f->nodes, &check) != 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "nodes: %s", check.text);
        return NULL;
    }
    if (RAND_bytes(serial, sizeof(serial)) != 1) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "no randomness for a serial");
        return NULL;
    }
    free(f->serial);
    f->serial = qmf_xmalloc(2 * sizeof(serial) + 1);
    for (i = 0; i < sizeof(serial); i++)
        snprintf(f->serial + 2 * i, 3, "%02x", serial[i]);
    memcpy(f->issuer, trust_key_id(issuer), sizeof(f->issuer));
    trust_key_id_of(f->key, f->key_id);

    payload = qmf_map();
    key64 = trust_b64_encode(f->key, TRUST_KEY_LEN);
    qmf_map_set(payload, "name", qmf_string(f->name));
    qmf_map_set(payload, "key", qmf_string(key64));
    free(key64);
    rolestr = trust_roles_format(f->roles);
    {
        qmf_value *rl = qmf_map_set(payload, "roles", qmf_list());
        char *save = NULL, *tok;

        for (tok = strtok_r(rolestr, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            qmf_list_append(rl, qmf_string(tok));
    }
    free(rolestr);
    if (f->nodes != NULL)
        qmf_map_set(payload, "nodes", qmf_string(f->nodes));
    if (f->classes != NULL)
        qmf_map_set(payload, "classes", string_list(f->classes));
    if (f->methods != NULL)
        qmf_map_set(payload, "methods", string_list(f->methods));
    qmf_map_set(payload, "not_before", qmf_i64(f->not_before));
    qmf_map_set(payload, "not_after", qmf_i64(f->not_after));
    qmf_map_set(payload, "serial", qmf_string(f->serial));
    qmf_map_set(payload, "issuer", qmf_string(f->issuer));
    json = qmf_to_json(payload, &len);
    qmf_free(payload);
    if (len > PAYLOAD_MAX) {
        qmf_error_set(err, QMF_ERR_TOO_LARGE, "the credential is over %d bytes", PAYLOAD_MAX);
        free(json);
        return NULL;
    }
    tosign = signed_bytes((const uint8_t *)json, len, &tosign_len);
    if (trust_sign(issuer, tosign, tosign_len, sig, err) != 0) {
        free(tosign);
        free(json);
        return NULL;
    }
    free(tosign);
    p64 = trust_b64_encode(json, len);
    s64 = trust_b64_encode(sig, sizeof(sig));
    text = qmf_xasprintf("%s%s.%s", TRUST_CREDENTIAL_PREFIX, p64, s64);
    free(p64);
    free(s64);
    free(json);
    return text;
}

int
trust_credential_save(const char *text, const char *path, bool replace, qmf_error *err)
{
    char *line = qmf_xasprintf("%s\n", text);
    int rc = trust_file_write(path, line, strlen(line), 0644, replace, err);

    free(line);
    return rc;
}

char *
trust_credential_issue_new_key(const struct trust_key *issuer, struct trust_credential *fields,
                               const char *key_path, const char *cred_path, qmf_error *err)
{
    struct trust_key *k;
    char *text = NULL;

    if ((k = trust_key_generate(err)) == NULL)
        return NULL;
    memcpy(fields->key, trust_key_raw(k), TRUST_KEY_LEN);
    if (trust_key_save_private(k, key_path, err) == 0 &&
        (text = trust_credential_issue(issuer, fields, err)) != NULL &&
        trust_credential_save(text, cred_path, true, err) != 0) {
        free(text);
        text = NULL;
    }
    trust_key_free(k);
    return text;
}

char *
trust_credential_read(const char *path, qmf_error *err)
{
    char buf[TRUST_CREDENTIAL_MAX + 2];
    FILE *f = fopen(path, "re");
    size_t n;

    if (f == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path, strerror(errno));
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return qmf_xstrdup(buf);
}

void
trust_credential_free(struct trust_credential *c)
{
    char **p;

    if (c == NULL)
        return;
    free(c->name);
    trust_key_free(c->public_key);
    free(c->nodes);
    for (p = c->classes; p != NULL && *p != NULL; p++)
        free(*p);
    free(c->classes);
    for (p = c->methods; p != NULL && *p != NULL; p++)
        free(*p);
    free(c->methods);
    free(c->serial);
    free(c->text);
    free(c->payload);
    free(c);
}

static int
bad(qmf_error *err, const char *why)
{
    qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "credential: %s", why);
    return -1;
}

/* A list of short strings; *out NULL-terminated. */
static int
take_strings(const qmf_value *v, char ***out, qmf_error *err)
{
    size_t n, i;

    if (v->kind != QMF_LIST || (n = qmf_list_len(v)) == 0 || n > TRUST_LIST_MAX)
        return bad(err, "classes and methods must be lists of 1 to 64 names");
    *out = qmf_xcalloc(n + 1, sizeof(**out));
    for (i = 0; i < n; i++) {
        const qmf_value *s = qmf_list_at(v, i);

        if (s->kind != QMF_STRING || qmf_bytes_len(s) == 0 || qmf_bytes_len(s) > 2 * TRUST_NAME_MAX)
            return bad(err, "classes and methods must be lists of names");
        (*out)[i] = qmf_xstrdup(qmf_as_string(s));
    }
    return 0;
}

static bool
hex_ok(const char *s, size_t min, size_t max)
{
    size_t n = strspn(s, "0123456789abcdef");

    return s[n] == '\0' && n >= min && n <= max;
}

static int
fill(struct trust_credential *c, const qmf_value *p, qmf_error *err)
{
    size_t i, n;
    uint8_t *raw;
    size_t raw_len;

    if (p->kind != QMF_MAP)
        return bad(err, "the payload is not an object");
    for (i = 0; i < qmf_map_len(p); i++) {
        const char *k = qmf_map_at(p, i)->key;
        const qmf_value *v = qmf_map_at(p, i)->value;

        if (strcmp(k, "name") == 0) {
            if (v->kind != QMF_STRING || !trust_name_ok(qmf_as_string(v)))
                return bad(err, "bad name");
            c->name = qmf_xstrdup(qmf_as_string(v));
        } else if (strcmp(k, "key") == 0) {
            if (v->kind != QMF_STRING ||
                trust_b64_decode(qmf_as_bytes(v), qmf_bytes_len(v), &raw, &raw_len, TRUST_KEY_LEN) != 0)
                return bad(err, "bad key");
            if (raw_len != TRUST_KEY_LEN) {
                free(raw);
                return bad(err, "bad key");
            }
            memcpy(c->key, raw, TRUST_KEY_LEN);
            free(raw);
            trust_key_free(c->public_key);
            if ((c->public_key = trust_key_from_raw(c->key, err)) == NULL)
                return bad(err, "bad key");
            /* Made with the key: its id, the same hash of the same bytes. */
            memcpy(c->key_id, trust_key_id(c->public_key), sizeof(c->key_id));
        } else if (strcmp(k, "roles") == 0) {
            if (v->kind != QMF_LIST || (n = qmf_list_len(v)) == 0 || n > 8)
                return bad(err, "roles must be a list of role names");
            while (n-- > 0) {
                const qmf_value *r = qmf_list_at(v, n);
                unsigned bit = r->kind == QMF_STRING ? trust_role_parse(qmf_as_string(r)) : 0;

                if (bit == 0)
                    return bad(err, "unknown role");
                c->roles |= bit;
            }
        } else if (strcmp(k, "nodes") == 0) {
            qmf_error why;

            if (v->kind != QMF_STRING || trust_selector_check(qmf_as_string(v), &why) != 0)
                return bad(err, "bad nodes selector");
            c->nodes = qmf_xstrdup(qmf_as_string(v));
        } else if (strcmp(k, "classes") == 0) {
            if (c->classes != NULL || take_strings(v, &c->classes, err) != 0)
                return -1;
        } else if (strcmp(k, "methods") == 0) {
            if (c->methods != NULL || take_strings(v, &c->methods, err) != 0)
                return -1;
        } else if (strcmp(k, "not_before") == 0) {
            if (!qmf_is_integer(v) || !qmf_get_int64(v, &c->not_before))
                return bad(err, "not_before must be an integer");
        } else if (strcmp(k, "not_after") == 0) {
            if (!qmf_is_integer(v) || !qmf_get_int64(v, &c->not_after))
                return bad(err, "not_after must be an integer");
        } else if (strcmp(k, "serial") == 0) {
            if (v->kind != QMF_STRING || !hex_ok(qmf_as_string(v), 8, 64))
                return bad(err, "bad serial");
            c->serial = qmf_xstrdup(qmf_as_string(v));
        } else if (strcmp(k, "issuer") == 0) {
            if (v->kind != QMF_STRING || !hex_ok(qmf_as_string(v), TRUST_KEY_ID_LEN,
                                                 TRUST_KEY_ID_LEN))
                return bad(err, "bad issuer");
            memcpy(c->issuer, qmf_as_string(v), TRUST_KEY_ID_LEN + 1);
        } else {
            return bad(err, "unknown field");
        }
    }
    if (c->name == NULL || c->key_id[0] == '\0' || c->roles == 0 || c->serial == NULL ||
        c->issuer[0] == '\0' || c->not_after <= c->not_before)
        return bad(err, "a field is missing");
    return 0;
}

struct trust_credential *
trust_credential_parse(const char *text, size_t len, qmf_error *err)
{
    size_t plen = sizeof(TRUST_CREDENTIAL_PREFIX) - 1;
    struct trust_credential *c;
    const char *dot, *body;
    uint8_t *sig;
    size_t sig_len;
    qmf_value *payload;
    qmf_error jerr;

    if (len > TRUST_CREDENTIAL_MAX || len < plen ||
        memcmp(text, TRUST_CREDENTIAL_PREFIX, plen) != 0 || memchr(text, '\0', len) != NULL) {
        bad(err, "not a virtbus credential");
        return NULL;
    }
    body = text + plen;
    dot = memchr(body, '.', len - plen);
    if (dot == NULL) {
        bad(err, "not a virtbus credential");
        return NULL;
    }
    c = qmf_xcalloc(1, sizeof(*c));
    if (trust_b64_decode(body, (size_t)(dot - body), &c->payload, &c->payload_len,
                         PAYLOAD_MAX) != 0 ||
        trust_b64_decode(dot + 1, len - (size_t)(dot + 1 - text), &sig, &sig_len,
                         TRUST_SIG_LEN) != 0) {
        bad(err, "bad base64url");
        trust_credential_free(c);
        return NULL;
    }
    if (sig_len != TRUST_SIG_LEN) {
        free(sig);
        bad(err, "bad signature length");
        trust_credential_free(c);
        return NULL;
    }
    memcpy(c->signature, sig, TRUST_SIG_LEN);
    free(sig);
    payload = qmf_from_json((const char *)c->payload, c->payload_len, &jerr);
    if (payload == NULL || fill(c, payload, err) != 0) {
        if (payload == NULL)
            bad(err, "the payload is not JSON");
        qmf_free(payload);
        trust_credential_free(c);
        return NULL;
    }
    qmf_free(payload);
    c->text = qmf_xstrndup(text, len);
    return c;
}

int
trust_credential_verify(const struct trust_credential *c, const struct trust_key *issuer,
                        int64_t now, int64_t skew, qmf_error *err)
{
    size_t len;
    uint8_t *tosign;
    bool ok;

    if (strcmp(c->issuer, trust_key_id(issuer)) != 0) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "credential of %s: issued by %s, not by "
                      "the trusted issuer %s", c->name, c->issuer, trust_key_id(issuer));
        return -1;
    }
    tosign = signed_bytes(c->payload, c->payload_len, &len);
    ok = trust_verify(issuer, tosign, len, c->signature);
    free(tosign);
    if (!ok) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "credential of %s: the issuer's signature "
                      "does not match", c->name);
        return -1;
    }
    return trust_credential_check_validity(c, now, skew, err);
}

int
trust_credential_check_validity(const struct trust_credential *c, int64_t now, int64_t skew,
                                qmf_error *err)
{
    if (now + skew < c->not_before) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "credential of %s: not valid before %lld",
                      c->name, (long long)c->not_before);
        return -1;
    }
    if (now - skew > c->not_after) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "credential of %s: expired at %lld",
                      c->name, (long long)c->not_after);
        return -1;
    }
    return 0;
}

void
trust_credential_id_raw(const char *text, uint8_t out[32])
{
    if (EVP_Digest(text, strlen(text), out, NULL, EVP_sha256(), NULL) != 1)
        abort();    /* only out of memory */
}

void
trust_credential_id(const char *text, char out[TRUST_CREDENTIAL_ID_LEN + 1])
{
    uint8_t raw[32];
    char *b64;

    trust_credential_id_raw(text, raw);
    b64 = trust_b64_encode(raw, sizeof(raw));
    snprintf(out, TRUST_CREDENTIAL_ID_LEN + 1, "%s", b64);
    free(b64);
}
