/*
 * Ed25519 keys over OpenSSL's EVP interface (see key.h).  OpenSSL's error
 * queue is thread-local; every failure here drains it into the qmf_error,
 * so that nothing stale is left for the next caller to misread.
 */
#include "trust/key.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>

#include "core/value.h"

/* PEM files are small; anything larger is not a key. */
#define KEY_FILE_MAX 16384

struct trust_key {
    EVP_PKEY *pkey;
    bool is_private;
    uint8_t raw[TRUST_KEY_LEN];
    char id[TRUST_KEY_ID_LEN + 1];
};

void
trust_ssl_error(qmf_error *err, uint32_t code, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";

    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    qmf_error_set(err, code, "%s: %s", what, buf);
}

void
trust_key_id_of(const uint8_t raw[TRUST_KEY_LEN], char out[TRUST_KEY_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t i;

    if (EVP_Digest(raw, TRUST_KEY_LEN, md, &mdlen, EVP_sha256(), NULL) != 1)
        abort();    /* only out of memory: SHA-256 is always there */
    for (i = 0; i < TRUST_KEY_ID_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[TRUST_KEY_ID_LEN] = '\0';
}

/* Takes pkey; NULL (pkey freed) unless it is an Ed25519 key. */
static struct trust_key *
key_wrap(EVP_PKEY *pkey, const char *name, qmf_error *err)
{
    struct trust_key *k;
    size_t len = TRUST_KEY_LEN;

    if (!EVP_PKEY_is_a(pkey, "ED25519")) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: not an Ed25519 key", name);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    k = qmf_xcalloc(1, sizeof(*k));
    k->pkey = pkey;
    if (EVP_PKEY_get_raw_public_key(pkey, k->raw, &len) != 1 || len != TRUST_KEY_LEN) {
        trust_ssl_error(err, QMF_ERR_INVALID_ARGS, name);
        trust_key_free(k);
        return NULL;
    }
    len = 0;
    k->is_private = EVP_PKEY_get_raw_private_key(pkey, NULL, &len) == 1 && len > 0;
    ERR_clear_error();
    trust_key_id_of(k->raw, k->id);
    return k;
}

struct trust_key *
trust_key_generate(qmf_error *err)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    if (pkey == NULL) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "cannot make an Ed25519 key");
        return NULL;
    }
    return key_wrap(pkey, "new key", err);
}

struct trust_key *
trust_key_parse_pem(const char *pem, size_t len, const char *name, qmf_error *err)
{
    BIO *bio;
    EVP_PKEY *pkey;

    if (len > KEY_FILE_MAX || len > INT_MAX) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: too large for a key", name);
        return NULL;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        abort();
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (pkey == NULL) {
        ERR_clear_error();
        (void)BIO_reset(bio);
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    if (pkey == NULL) {
        trust_ssl_error(err, QMF_ERR_INVALID_ARGS, name);
        return NULL;
    }
    return key_wrap(pkey, name, err);
}

struct trust_key *
trust_key_load(const char *path, qmf_error *err)
{
    char buf[KEY_FILE_MAX + 1];
    struct trust_key *k;
    size_t len = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path, strerror(errno));
        return NULL;
    }
    while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
        len += (size_t)n;
    }
    close(fd);
    k = trust_key_parse_pem(buf, len, path, err);
    OPENSSL_cleanse(buf, sizeof(buf));
    return k;
}

struct trust_key *
trust_key_from_raw(const uint8_t raw[TRUST_KEY_LEN], qmf_error *err)
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw,
                                                    TRUST_KEY_LEN);

    if (pkey == NULL) {
        trust_ssl_error(err, QMF_ERR_INVALID_ARGS, "not an Ed25519 public key");
        return NULL;
    }
    return key_wrap(pkey, "public key", err);
}

struct trust_key *
trust_key_public(const struct trust_key *k, qmf_error *err)
{
    return trust_key_from_raw(k->raw, err);
}

void
trust_key_free(struct trust_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

/* PEM text of the key, malloc'd. */
static char *
key_pem(const struct trust_key *k, bool private_part, size_t *len, qmf_error *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *copy;
    long n;
    int ok;

    if (bio == NULL)
        abort();
    ok = private_part ? PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL)
                      : PEM_write_bio_PUBKEY(bio, k->pkey);
    if (!ok) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "cannot write the key");
        BIO_free(bio);
        return NULL;
    }
    n = BIO_get_mem_data(bio, &data);
    copy = qmf_xmalloc((size_t)n + 1);
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    *len = (size_t)n;
    /* The BIO's buffer held the private key too. */
    OPENSSL_cleanse(data, (size_t)n);
    BIO_free(bio);
    return copy;
}

static int
write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Aside, then link(2), which refuses an existing path, or rename(2), which
 * replaces it: a reader never sees half a file. */
int
trust_file_write(const char *path, const char *data, size_t len, mode_t mode, bool replace,
           qmf_error *err)
{
    char *tmp = qmf_xasprintf("%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    int rc = -1;

    if (fd < 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "%s: %s", tmp, strerror(errno));
    } else if (replace ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path,
                      errno == EEXIST ? "exists already; not overwritten" : strerror(errno));
    } else {
        rc = 0;
    }
    close(fd);
    if (rc != 0 || !replace)
        unlink(tmp);
    free(tmp);
    return rc;
}

int
trust_key_save_private(const struct trust_key *k, const char *path, qmf_error *err)
{
    size_t len;
    char *pem;
    int rc;

    if (!k->is_private) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: the key has no private part", path);
        return -1;
    }
    if ((pem = key_pem(k, true, &len, err)) == NULL)
        return -1;
    rc = trust_file_write(path, pem, len, 0600, false, err);
    OPENSSL_cleanse(pem, len);
    free(pem);
    return rc;
}

int
trust_key_save_public(const struct trust_key *k, const char *path, qmf_error *err)
{
    size_t len;
    char *pem = key_pem(k, false, &len, err);
    int rc;

    if (pem == NULL)
        return -1;
    rc = trust_file_write(path, pem, len, 0644, true, err);
    free(pem);
    return rc;
}

bool
trust_key_is_private(const struct trust_key *k)
{
    return k->is_private;
}

const uint8_t *
trust_key_raw(const struct trust_key *k)
{
    return k->raw;
}

const char *
trust_key_id(const struct trust_key *k)
{
    return k->id;
}

int
trust_key_x25519_secret(const struct trust_key *k, uint8_t out[32], qmf_error *err)
{
    uint8_t seed[TRUST_KEY_LEN], h[64];
    size_t len = sizeof(seed);
    int ok;

    if (!k->is_private) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "an X25519 key needs a private key");
        return -1;
    }
    if (EVP_PKEY_get_raw_private_key(k->pkey, seed, &len) != 1 || len != sizeof(seed)) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "reading the private key");
        return -1;
    }
    /* RFC 8032 §5.1.5: the scalar is the first half of SHA-512(seed);
     * X25519 clamps it as Ed25519 does. */
    ok = EVP_Digest(seed, sizeof(seed), h, NULL, EVP_sha512(), NULL) == 1;
    memcpy(out, h, 32);
    OPENSSL_cleanse(seed, sizeof(seed));
    OPENSSL_cleanse(h, sizeof(h));
    if (!ok) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "SHA-512");
        return -1;
    }
    return 0;
}

int
trust_hkdf_sha256(const void *ikm, size_t ikm_len, const void *info, size_t info_len,
                  uint8_t *out, size_t out_len, qmf_error *err)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len),
        OSSL_PARAM_construct_end(),
    };
    int ok = ctx != NULL && EVP_KDF_derive(ctx, out, out_len, params) == 1;

    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    if (!ok) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "HKDF");
        return -1;
    }
    return 0;
}

int
trust_sign(const struct trust_key *k, const void *msg, size_t len,
           uint8_t sig[TRUST_SIG_LEN], qmf_error *err)
{
    EVP_MD_CTX *ctx;
    size_t siglen = TRUST_SIG_LEN;
    int ok;

    if (!k->is_private) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "signing needs a private key");
        return -1;
    }
    if ((ctx = EVP_MD_CTX_new()) == NULL)
        abort();
    ok = EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, k->pkey, NULL) == 1 &&
         EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == TRUST_SIG_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        trust_ssl_error(err, QMF_ERR_INTERNAL, "signing failed");
        return -1;
    }
    return 0;
}

bool
trust_verify(const struct trust_key *k, const void *msg, size_t len,
             const uint8_t sig[TRUST_SIG_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok;

    if (ctx == NULL)
        abort();
    ok = EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, k->pkey, NULL) == 1 &&
         EVP_DigestVerify(ctx, sig, TRUST_SIG_LEN, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
}

char *
trust_b64_encode(const void *data, size_t len)
{
    char *out = qmf_xmalloc(4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    int i;

    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return out;
}

/* The value of a base64url digit the caller has checked. */
static int
b64url_digit(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '-' ? 62 : 63;
}

int
trust_b64_decode(const char *text, size_t text_len, uint8_t **out, size_t *out_len,
                 size_t max)
{
    size_t padded = (text_len + 3) / 4 * 4, i, pad = padded - text_len;
    char *std;
    uint8_t *buf;
    int n;

    *out = NULL;
    *out_len = 0;
    /* A lone character over a multiple of four encodes nothing. */
    if (pad == 3 || text_len / 4 * 3 > max + 3 || padded > INT_MAX)
        return -1;
    std = qmf_xmalloc(padded + 1);
    for (i = 0; i < text_len; i++) {
        char c = text[i];

        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            free(std);
            return -1;
        }
        std[i] = c;
    }
    /* The canonical form only (RFC 4648 §3.5): the bits past the last
     * whole byte are zero, so that one byte string has one text. */
    if (pad > 0 && (b64url_digit(text[text_len - 1]) & ((1 << (2 * pad)) - 1)) != 0) {
        free(std);
        return -1;
    }
    memset(std + text_len, '=', pad);
    std[padded] = '\0';
    buf = qmf_xmalloc(padded / 4 * 3 + 1);
    n = EVP_DecodeBlock(buf, (unsigned char *)std, (int)padded);
    free(std);
    if (n < 0 || (size_t)n < pad || (size_t)n - pad > max) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = (size_t)n - pad;
    return 0;
}
