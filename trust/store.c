/*
 * The trust store (see store.h): issuer keys, directly trusted keys and
 * revocations, loaded once, then consulted for every signed message.
 * Lookups scan short arrays: an organisation has a few issuers, and a
 * trust directory is for small setups (use credentials past a few dozen).
 */
#include "trust/store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "core/value.h"
#include "core/ways.h"
#include "trust/seal.h"

#define REVOKED_FILE_MAX (4 * 1024 * 1024)
#define KEY_TEXT_MAX 16384

struct direct_key {
    char *name;
    unsigned roles;
    struct trust_key *key;
};

struct trust_store {
    struct trust_key **issuers;
    size_t nissuers;
    struct direct_key *direct;
    size_t ndirect;
    char **revoked;             /* serials and key ids */
    size_t nrevoked;
};

void
trust_store_free(struct trust_store *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->nissuers; i++)
        trust_key_free(s->issuers[i]);
    free(s->issuers);
    for (i = 0; i < s->ndirect; i++) {
        free(s->direct[i].name);
        trust_key_free(s->direct[i].key);
    }
    free(s->direct);
    for (i = 0; i < s->nrevoked; i++)
        free(s->revoked[i]);
    free(s->revoked);
    free(s);
}

size_t
trust_store_issuers(const struct trust_store *s)
{
    return s->nissuers;
}

size_t
trust_store_direct_keys(const struct trust_store *s)
{
    return s->ndirect;
}

static bool
revoked(const struct trust_store *s, const char *what)
{
    size_t i;

    for (i = 0; what != NULL && i < s->nrevoked; i++)
        if (strcmp(s->revoked[i], what) == 0)
            return true;
    return false;
}

static int
read_text(const char *path, size_t max, char **out, size_t *len, qmf_error *err)
{
    FILE *f = fopen(path, "re");
    char *buf;

    if (f == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path, strerror(errno));
        return -1;
    }
    buf = qmf_xmalloc(max + 1);
    *len = fread(buf, 1, max + 1, f);
    if (ferror(f) || *len > max) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path,
                      ferror(f) ? strerror(errno) : "too large");
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    buf[*len] = '\0';
    *out = buf;
    return 0;
}

static int
load_revoked(struct trust_store *s, const char *path, qmf_error *err)
{
    char *text, *line, *save = NULL;
    size_t len;

    if (read_text(path, REVOKED_FILE_MAX, &text, &len, err) != 0)
        return -1;
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *hash = strchr(line, '#'), *word, *end;

        if (hash != NULL)
            *hash = '\0';
        word = line + strspn(line, " \t\r");
        end = word + strcspn(word, " \t\r");
        *end = '\0';
        if (*word == '\0')
            continue;
        s->revoked = qmf_xrealloc(s->revoked, (s->nrevoked + 1) * sizeof(*s->revoked));
        s->revoked[s->nrevoked++] = qmf_xstrdup(word);
    }
    free(text);
    return 0;
}

/* "roles: a,b" lines before the PEM block of a trust directory file. */
static int
direct_roles(const char *text, const char *path, unsigned *roles, qmf_error *err)
{
    const char *line = text;

    *roles = 0;
    while (*line != '\0' && strncmp(line, "-----BEGIN", 10) != 0) {
        size_t n = strcspn(line, "\n");

        if (strncmp(line, "roles:", 6) == 0) {
            char *list = qmf_xstrndup(line + 6, n - 6), *tok, *save = NULL;

            for (tok = strtok_r(list, ", \t\r", &save); tok != NULL;
                 tok = strtok_r(NULL, ", \t\r", &save)) {
                unsigned bit = trust_role_parse(tok);

                if (bit == 0) {
                    qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: unknown role '%s'", path, tok);
                    free(list);
                    return -1;
                }
                *roles |= bit;
            }
            free(list);
        }
        line += n + (line[n] == '\n');
    }
    return 0;
}

static int
load_direct(struct trust_store *s, const char *dir, qmf_error *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (d == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", dir, strerror(errno));
        return -1;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), len;
        char *path, *text, *name;
        struct direct_key dk = { 0 };

        if (n <= 4 || strcmp(de->d_name + n - 4, ".pub") != 0 || de->d_name[0] == '.')
            continue;
        name = qmf_xstrndup(de->d_name, n - 4);
        path = qmf_xasprintf("%s/%s", dir, de->d_name);
        if (!trust_name_ok(name)) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: '%s' is not a caller name", path,
                          name);
            rc = -1;
        } else if (read_text(path, KEY_TEXT_MAX, &text, &len, err) != 0) {
            rc = -1;
        } else {
            if (direct_roles(text, path, &dk.roles, err) != 0 ||
                (dk.key = trust_key_parse_pem(text, len, path, err)) == NULL) {
                rc = -1;
            } else {
                dk.name = name;
                name = NULL;
                s->direct = qmf_xrealloc(s->direct, (s->ndirect + 1) * sizeof(*s->direct));
                s->direct[s->ndirect++] = dk;
            }
            free(text);
        }
        free(name);
        free(path);
    }
    closedir(d);
    return rc;
}

int
trust_store_load(const struct trust_store_config *cfg, struct trust_store **out,
                 qmf_error *err)
{
    struct trust_store *s = qmf_xcalloc(1, sizeof(*s));
    const char *const *p;

    *out = NULL;
    for (p = cfg->issuer_keys; p != NULL && *p != NULL; p++) {
        struct trust_key *k = trust_key_load(*p, err);

        if (k == NULL) {
            trust_store_free(s);
            return -1;
        }
        s->issuers = qmf_xrealloc(s->issuers, (s->nissuers + 1) * sizeof(*s->issuers));
        s->issuers[s->nissuers++] = k;
    }
    if ((cfg->trust_dir != NULL && load_direct(s, cfg->trust_dir, err) != 0) ||
        (cfg->revoked != NULL && load_revoked(s, cfg->revoked, err) != 0)) {
        trust_store_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void
trust_signer_clear(struct trust_signer *s)
{
    trust_credential_free(s->owned);
    memset(s, 0, sizeof(*s));
}

bool
trust_message_is_signed(const struct bus_message *m)
{
    return bus_message_header(m, TRUST_HDR_SIGNATURE) != NULL;
}

static int
check_revocation(const struct trust_store *s, const struct trust_credential *c, qmf_error *err)
{
    if (revoked(s, c->serial) || revoked(s, c->key_id)) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "credential of %s (serial %s, key %s) is "
                      "revoked", c->name, c->serial, c->key_id);
        return -1;
    }
    return 0;
}

int
trust_store_check_credential(const struct trust_store *s, const struct trust_credential *c,
                             int64_t now, int64_t skew, qmf_error *err)
{
    size_t i;

    for (i = 0; i < s->nissuers; i++)
        if (strcmp(trust_key_id(s->issuers[i]), c->issuer) == 0)
            break;
    if (i == s->nissuers) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "credential of %s: issuer %s is not trusted "
                      "here", c->name, c->issuer);
        return -1;
    }
    if (trust_credential_verify(c, s->issuers[i], now, skew, err) != 0)
        return -1;
    return check_revocation(s, c, err);
}

int
trust_store_recheck_credential(const struct trust_store *s, const struct trust_credential *c,
                               int64_t now, int64_t skew, qmf_error *err)
{
    if (trust_credential_check_validity(c, now, skew, err) != 0)
        return -1;
    return check_revocation(s, c, err);
}

/* The signature header (or, for an answer, the MAC header: want is then
 * TRUST_MAC_LEN), decoded. */
static int
authenticator_of(const struct bus_message *m, const char *header, size_t want,
                 uint8_t *out, qmf_error *err)
{
    const char *text = bus_message_header(m, header);
    uint8_t *raw;
    size_t len;

    if (text == NULL) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "the message is not signed");
        return -1;
    }
    if (trust_b64_decode(text, strlen(text), &raw, &len, want) != 0 || len != want) {
        if (raw != NULL)
            free(raw);
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "%s is not %s", header,
                      want == TRUST_SIG_LEN ? "an Ed25519 signature" : "an HMAC-SHA256");
        return -1;
    }
    memcpy(out, raw, want);
    free(raw);
    return 0;
}

/* The directly trusted key m names (the store's), and who it is. */
static const struct trust_key *
direct_signer(const struct trust_store *s, const struct bus_message *m,
              struct trust_signer *out, qmf_error *err)
{
    const char *key64 = bus_message_header(m, TRUST_HDR_KEY);
    uint8_t *raw;
    size_t len, i;

    if (key64 == NULL) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "the message names no signer (%s or %s)",
                      TRUST_HDR_CREDENTIAL, TRUST_HDR_KEY);
        return NULL;
    }
    if (trust_b64_decode(key64, strlen(key64), &raw, &len, TRUST_KEY_LEN) != 0 ||
        len != TRUST_KEY_LEN) {
        free(raw);
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "%s is not an Ed25519 public key",
                      TRUST_HDR_KEY);
        return NULL;
    }
    for (i = 0; i < s->ndirect; i++)
        if (memcmp(trust_key_raw(s->direct[i].key), raw, TRUST_KEY_LEN) == 0)
            break;
    free(raw);
    if (i == s->ndirect) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "the signer's key is not trusted here "
                      "(no credential, and not in the trust directory)");
        return NULL;
    }
    if (revoked(s, trust_key_id(s->direct[i].key))) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "the key of %s is revoked",
                      s->direct[i].name);
        return NULL;
    }
    snprintf(out->name, sizeof(out->name), "%s", s->direct[i].name);
    memcpy(out->key_id, trust_key_id(s->direct[i].key), sizeof(out->key_id));
    out->roles = s->direct[i].roles;
    return s->direct[i].key;
}

int
trust_store_check_signature(const struct trust_store *s, const struct bus_message *m,
                            enum trust_domain domain, const char *target,
                            const struct trust_credential *credential,
                            struct trust_verified *verified, struct trust_sealer *sealer,
                            struct trust_signer *out, qmf_error *err)
{
    uint8_t sig[TRUST_SIG_LEN], digest[TRUST_DIGEST_LEN];
    bool mac = sealer != NULL && domain == TRUST_ANSWER &&
               bus_message_header(m, TRUST_HDR_MAC) != NULL;
    const struct trust_key *key;
    bool ok;

    if (mac ? authenticator_of(m, TRUST_HDR_MAC, TRUST_MAC_LEN, sig, err) != 0
            : authenticator_of(m, TRUST_HDR_SIGNATURE, TRUST_SIG_LEN, sig, err) != 0)
        return -1;
    if (credential != NULL) {
        snprintf(out->name, sizeof(out->name), "%s", credential->name);
        memcpy(out->key_id, credential->key_id, sizeof(out->key_id));
        out->roles = credential->roles;
        out->credential = credential;
        key = credential->public_key;
    } else if ((key = direct_signer(s, m, out, err)) == NULL) {
        return -1;
    }
    trust_message_digest(m, domain, target, digest);
    if (mac)
        return trust_answer_mac_check(sealer, trust_key_raw(key), digest, sig, err);
    ok = trust_verify_remembered(verified, key, digest, sig);
    if (!ok) {
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "the signature of %s does not match the "
                      "message", out->name);
        return -1;
    }
    return 0;
}

struct checked_entry {
    uint8_t id[32];                     /* trust_credential_id_raw of c's text */
    struct trust_credential *c;         /* NULL: empty */
    uint64_t last_use;                  /* the table's clock when last found */
};

struct trust_checked {
    const struct trust_store *store;    /* what every credential held passed */
    struct checked_entry *slots;
    size_t nslots;
    uint64_t clock;
};

struct trust_checked *
trust_checked_new(const struct trust_store *s, size_t slots)
{
    struct trust_checked *cc = qmf_xcalloc(1, sizeof(*cc));

    cc->store = s;
    cc->nslots = slots > 0 ? slots : 1;
    cc->slots = qmf_xcalloc(cc->nslots, sizeof(*cc->slots));
    return cc;
}

void
trust_checked_free(struct trust_checked *cc)
{
    size_t i;

    if (cc == NULL)
        return;
    for (i = 0; i < cc->nslots; i++)
        trust_credential_free(cc->slots[i].c);
    free(cc->slots);
    free(cc);
}

/* The credential held with id, or NULL and, in *victim, the slot a new
 * one would take.  The id is SHA-256 output: any of its bytes pick a set
 * evenly.  Ids ground into one set only cost their senders a credential
 * sent whole. */
static struct checked_entry *
checked_slot(struct trust_checked *cc, const uint8_t id[32], struct checked_entry **victim)
{
    size_t first, ways, i;
    uint64_t h;

    memcpy(&h, id, sizeof(h));
    ways = ways_set(h, cc->nslots, &first);
    *victim = &cc->slots[first];
    for (i = first; i < first + ways; i++) {
        struct checked_entry *e = &cc->slots[i];

        if (e->c != NULL && memcmp(e->id, id, sizeof(e->id)) == 0) {
            e->last_use = ++cc->clock;
            return e;
        }
        if (e->c == NULL || ((*victim)->c != NULL && e->last_use < (*victim)->last_use))
            *victim = e;
    }
    return NULL;
}

/* A credential held: its validity and revocation, which change with the
 * clock and the store, never with the credential. */
static const struct trust_credential *
checked_again(struct trust_checked *cc, const struct trust_credential *c, int64_t now,
              int64_t skew, qmf_error *err)
{
    return trust_store_recheck_credential(cc->store, c, now, skew, err) == 0 ? c : NULL;
}

const struct trust_credential *
trust_checked_credential(struct trust_checked *cc, const char *text, int64_t now,
                         int64_t skew, qmf_error *err)
{
    struct checked_entry *held, *slot;
    struct trust_credential *c;
    uint8_t id[32];

    trust_credential_id_raw(text, id);
    if ((held = checked_slot(cc, id, &slot)) != NULL)
        return checked_again(cc, held->c, now, skew, err);
    if ((c = trust_credential_parse(text, strlen(text), err)) == NULL)
        return NULL;
    if (trust_store_check_credential(cc->store, c, now, skew, err) != 0) {
        trust_credential_free(c);
        return NULL;
    }
    trust_credential_free(slot->c);
    slot->c = c;
    memcpy(slot->id, id, sizeof(id));
    slot->last_use = ++cc->clock;
    return c;
}

const struct trust_credential *
trust_checked_credential_by_id(struct trust_checked *cc, const char *id_text, int64_t now,
                               int64_t skew, qmf_error *err)
{
    struct checked_entry *held, *slot;
    uint8_t *id = NULL;
    size_t len = 0;

    if (trust_b64_decode(id_text, strlen(id_text), &id, &len, 32) != 0 || len != 32) {
        free(id);
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "%s is not a credential id",
                      TRUST_HDR_CREDENTIAL_ID);
        return NULL;
    }
    held = checked_slot(cc, id, &slot);
    free(id);
    if (held == NULL) {
        qmf_error_set(err, QMF_ERR_CREDENTIAL_UNKNOWN, "the request names its credential by "
                      "id (%s), and this agent does not hold it: send it whole",
                      TRUST_HDR_CREDENTIAL_ID);
        return NULL;
    }
    return checked_again(cc, held->c, now, skew, err);
}

static int check_message(const struct trust_store *s, const struct bus_message *m,
                         enum trust_domain domain, const char *target, int64_t now,
                         int64_t skew, struct trust_sealer *sealer, struct trust_signer *out,
                         qmf_error *err);

int
trust_store_check_answer(const struct trust_store *s, struct trust_checked *checked,
                         struct trust_sealer *sealer, const struct bus_message *m,
                         int64_t now, int64_t skew, qmf_error *err)
{
    const char *agent = bus_message_header(m, "qmf.agent");
    const char *node;
    const char *text = bus_message_header(m, TRUST_HDR_CREDENTIAL);
    const struct trust_credential *cred;
    struct trust_signer who;
    bool ok;

    if (checked != NULL && checked->store != s)
        abort();    /* its credentials passed another store's checks */
    if (checked != NULL && text != NULL) {
        memset(&who, 0, sizeof(who));
        if ((cred = trust_checked_credential(checked, text, now, skew, err)) == NULL ||
            trust_store_check_signature(s, m, TRUST_ANSWER, "", cred, NULL, sealer, &who,
                                        err) != 0)
            return -1;
    } else if (check_message(s, m, TRUST_ANSWER, "", now, skew, sealer, &who, err) != 0) {
        return -1;
    }
    ok = (who.roles & TRUST_ROLE_AGENT) && qmf_name_agent_node(agent, &node) == 0 &&
         strcmp(node, who.name) == 0;
    if (!ok)
        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "an answer from %.200s is signed by %s, "
                      "%s", agent ? agent : "an unnamed agent", who.name,
                      (who.roles & TRUST_ROLE_AGENT) ? "another node" : "not an agent");
    trust_signer_clear(&who);
    return ok ? 0 : -1;
}

static int
check_message(const struct trust_store *s, const struct bus_message *m,
              enum trust_domain domain, const char *target, int64_t now, int64_t skew,
              struct trust_sealer *sealer, struct trust_signer *out, qmf_error *err)
{
    const char *text = bus_message_header(m, TRUST_HDR_CREDENTIAL);

    memset(out, 0, sizeof(*out));
    if (text != NULL) {
        out->owned = trust_credential_parse(text, strlen(text), err);
        if (out->owned == NULL ||
            trust_store_check_credential(s, out->owned, now, skew, err) != 0) {
            trust_signer_clear(out);
            return -1;
        }
    }
    if (trust_store_check_signature(s, m, domain, target, out->owned, NULL, sealer, out,
                                    err) != 0) {
        trust_signer_clear(out);
        return -1;
    }
    return 0;
}

int
trust_store_check(const struct trust_store *s, const struct bus_message *m,
                  enum trust_domain domain, const char *target, int64_t now, int64_t skew,
                  struct trust_signer *out, qmf_error *err)
{
    return check_message(s, m, domain, target, now, skew, NULL, out, err);
}
